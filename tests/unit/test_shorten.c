/* Long values on a screen: hs_put_short cuts at a character boundary, keeps within the width
 * it is given, says the full size, shows control characters; text tables and the analysis
 * document shorten for the screen while CSV and JSON keep every byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "internal.h"
#include "table.h"
#include "util.h"

/* A long value: multibyte UTF-8 (2, 3 and 4 bytes, wide characters), quotes, a backslash, a
 * newline and a tab, repeated to `bytes` bytes (cut on a character boundary). */
static char *long_value(size_t bytes)
{
    static const char unit[] = "Prompt \xC2\xAB\xC3\xA9\xE4\xB8\xAD\xE6\x96\x87\xF0\x9F\x8E\x89"
                               "\xC2\xBB \"q\" back\\slash\ttab\nline; ";
    char *s = malloc(bytes + 1);
    assert_non_null(s);
    size_t n = 0;
    while (n + sizeof unit - 1 <= bytes) {
        memcpy(s + n, unit, sizeof unit - 1);
        n += sizeof unit - 1;
    }
    while (n < bytes)
        s[n++] = 'x';
    s[n] = '\0';
    return s;
}

static void test_short_values_stay(void **state)
{
    (void)state;
    hs_buf b = { 0 };
    assert_int_equal(hs_put_short(&b, "taylor", 10, NULL), 0);
    assert_string_equal(hs_buf_str(&b), "taylor");
    hs_buf_reset(&b);
    /* exactly the width: kept; 0: no limit */
    assert_int_equal(hs_put_short(&b, "0123456789", 10, NULL), 0);
    assert_string_equal(hs_buf_str(&b), "0123456789");
    hs_buf_reset(&b);
    assert_int_equal(hs_put_short(&b, "0123456789", 0, NULL), 0);
    assert_string_equal(hs_buf_str(&b), "0123456789");
    hs_buf_reset(&b);
    /* control characters become visible, also when nothing is cut */
    assert_int_equal(hs_put_short(&b, "a\nb\tc\x1b", 40, NULL), 0);
    assert_string_equal(hs_buf_str(&b), "a\xE2\x8F\x8E"
                                        "b\xE2\x90\x89"
                                        "c\xE2\x90\x9B");
    hs_buf_reset(&b);
    /* invalid UTF-8 is never passed to a terminal */
    assert_int_equal(hs_put_short(&b, "x\xC3(y", 40, NULL), 0);
    assert_string_equal(hs_buf_str(&b), "x\xEF\xBF\xBD(y");
    hs_buf_free(&b);
}

static void test_long_values_are_cut_with_their_size(void **state)
{
    (void)state;
    char *v = long_value(10240);
    for (size_t cols = 20; cols <= 200; cols += 7) {
        hs_buf b = { 0 };
        assert_int_equal(hs_put_short(&b, v, cols, NULL), 1);
        const char *s = hs_buf_str(&b);
        assert_true(hs_utf8_width(s) <= cols);
        assert_true(hs_utf8_valid(s, strlen(s)));
        assert_null(strchr(s, '\n'));
        assert_null(strchr(s, '\t'));
        assert_non_null(strstr(s, "\xE2\x80\xA6 (10,240 bytes)"));
        /* what is kept is the value's beginning */
        size_t kept = (size_t)(strstr(s, "\xE2\x80\xA6 (10,240") - s);
        assert_true(kept > 0 || cols < 18);
        assert_memory_equal(s, v, kept < 30 ? kept : 30); /* the first tab is further */
        hs_buf_free(&b);
    }
    /* a hint goes into the marker; the marker alone when the width is too small */
    hs_buf b = { 0 };
    assert_int_equal(hs_put_short(&b, v, 80, "full value in `hypersweep export`"), 1);
    assert_non_null(strstr(hs_buf_str(&b), "(10,240 bytes; full value in `hypersweep export`)"));
    assert_true(hs_utf8_width(hs_buf_str(&b)) <= 80);
    hs_buf_reset(&b);
    assert_int_equal(hs_put_short(&b, v, 5, NULL), 1);
    assert_string_equal(hs_buf_str(&b), "\xE2\x80\xA6 (10,240 bytes)");
    /* in place, as after hs_run_describe */
    hs_buf_reset(&b);
    hs_buf_puts(&b, "prompt=");
    hs_buf_puts(&b, v);
    assert_int_equal(hs_shorten(&b, HS_SHORT_LINE_COLS, NULL), 1);
    assert_true(hs_utf8_width(hs_buf_str(&b)) <= HS_SHORT_LINE_COLS);
    assert_memory_equal(hs_buf_str(&b), "prompt=Prompt ", 14);
    assert_non_null(strstr(hs_buf_str(&b), "(10,247 bytes)"));
    hs_buf_free(&b);
    free(v);
}

static void test_cut_on_a_character_boundary(void **state)
{
    (void)state;
    /* wide characters (2 columns each): never half of one, never over the width */
    const char *cjk = "\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87"
                      "\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87";
    for (size_t cols = 14; cols < 40; cols++) {
        hs_buf b = { 0 };
        int rc = hs_put_short(&b, cjk, cols, NULL);
        assert_int_equal(rc, cols >= 24 ? 0 : 1);
        assert_true(hs_utf8_valid(hs_buf_str(&b), b.len));
        assert_true(hs_utf8_width(hs_buf_str(&b)) <= cols);
        hs_buf_free(&b);
    }
    assert_int_equal(hs_utf8_width_n(cjk, 6), 4);
    assert_int_equal(hs_utf8_width_n(cjk, 4), 3); /* a cut sequence counts per byte */
    assert_int_equal(hs_utf8_width_n("ab", 10), 2);
}

static char *table_text(const hs_table *t, hs_table_format fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(hs_table_write(t, f, fmt, 2), 0);
    fclose(f);
    return buf;
}

static void test_table_shortens_only_for_the_screen(void **state)
{
    (void)state;
    char *v = long_value(10240);
    hs_table *t = hs_table_create(2);
    hs_table_column(t, 0, "x", HS_RIGHT);
    hs_table_column(t, 1, "prompt", HS_LEFT);
    hs_table_row(t);
    hs_table_set(t, 0, "1");
    assert_int_equal(hs_table_setf(t, 1, "%s", v), 0); /* setf keeps any length */
    char *tx = table_text(t, HS_TABLE_TEXT);
    for (char *line = strtok(tx, "\n"); line; line = strtok(NULL, "\n"))
        assert_true(hs_utf8_width(line) <= 2 + 1 + 2 + HS_SHORT_CELL_COLS);
    free(tx);
    tx = table_text(t, HS_TABLE_TEXT);
    assert_non_null(strstr(tx, "\xE2\x80\xA6 (10,240 bytes)"));
    assert_non_null(strstr(tx, "(1 value shortened to fit the screen"));
    free(tx);
    char *md = table_text(t, HS_TABLE_MARKDOWN);
    assert_non_null(strstr(md, "(10,240 bytes)"));
    free(md);
    hs_table_limit(t, 40, "`hypersweep export` has them in full");
    tx = table_text(t, HS_TABLE_TEXT);
    assert_non_null(strstr(tx, "`hypersweep export` has them in full"));
    free(tx);
    /* CSV: every byte, quoted per RFC 4180 */
    char *csv = table_text(t, HS_TABLE_CSV);
    hs_buf want = { 0 };
    hs_buf_puts(&want, "x,prompt\n1,\"");
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            hs_buf_putc(&want, '"');
        hs_buf_putc(&want, *p);
    }
    hs_buf_puts(&want, "\"\n");
    assert_string_equal(csv, hs_buf_str(&want));
    hs_buf_free(&want);
    free(csv);
    /* TSV: escaped, never replaced */
    hs_table *u = hs_table_create(1);
    hs_table_column(u, 0, "v", HS_LEFT);
    hs_table_row(u);
    hs_table_set(u, 0, "a\tb\nc\\d");
    char *tsv = table_text(u, HS_TABLE_TSV);
    assert_string_equal(tsv, "v\na\\tb\\nc\\\\d\n");
    free(tsv);
    hs_table_destroy(u);
    hs_table_destroy(t);
    free(v);
}

static char *render(const hs_doc *d, hs_format fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    hs_error err;
    if (hs_doc_write(d, f, fmt, &err) < 0)
        fail_msg("%s", err.text);
    fclose(f);
    return buf;
}

static void test_report_shortens_only_for_the_screen(void **state)
{
    (void)state;
    char *v = long_value(10240);
    hs_doc *d = hs_doc_create("Run");
    hs_dnode *root = hs_doc_root(d);
    hs_dnode *ps = hs_doc_section(root, "params", "Parameters");
    hs_doc_field(ps, "prompt", "prompt", dv_text(v));
    hs_dnode *t = hs_doc_table(root, "table", NULL, 2);
    hs_doc_col(t, 0, "config", "configuration", false, DC_BOTH);
    hs_doc_col(t, 1, "v", v, true, DC_BOTH); /* a long label as a column title */
    hs_doc_row(t);
    hs_doc_cell(t, 0, dv_text(v));
    hs_doc_cell(t, 1, dv_int(3));
    hs_buf lab = { 0 };
    hs_doc_note(root, "The value (%s) is long.", hs_short_label(&lab, v));
    hs_buf_free(&lab);
    for (int f = HS_FORMAT_TEXT; f <= HS_FORMAT_MARKDOWN; f++) {
        char *tx = render(d, (hs_format)f);
        assert_non_null(strstr(tx, "(10,240 bytes)"));
        assert_non_null(strstr(tx, "--format json or csv has them in full"));
        for (char *line = strtok(tx, "\n"); line; line = strtok(NULL, "\n"))
            assert_true(hs_utf8_width(line) <= 2 * HS_SHORT_CELL_COLS + 20);
        free(tx);
    }
    char *js = render(d, HS_FORMAT_JSON);
    json_object *o = json_tokener_parse(js);
    assert_non_null(o);
    json_object *p, *x, *rows;
    assert_true(json_object_object_get_ex(o, "params", &p));
    assert_true(json_object_object_get_ex(p, "prompt", &x));
    assert_string_equal(json_object_get_string(x), v);
    assert_true(json_object_object_get_ex(o, "table", &rows));
    assert_true(json_object_object_get_ex(json_object_array_get_idx(rows, 0), "config", &x));
    assert_string_equal(json_object_get_string(x), v);
    json_object_put(o);
    free(js);
    char *csv = render(d, HS_FORMAT_CSV);
    assert_int_equal(strstr(csv, "(10,240 bytes)") == NULL, 1);
    free(csv);
    hs_doc_destroy(d);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_values_stay),
        cmocka_unit_test(test_long_values_are_cut_with_their_size),
        cmocka_unit_test(test_cut_on_a_character_boundary),
        cmocka_unit_test(test_table_shortens_only_for_the_screen),
        cmocka_unit_test(test_report_shortens_only_for_the_screen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
