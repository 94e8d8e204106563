/* The report document and its formats: strict JSON (no NaN or Infinity, a note beside each
 * null), UTF-8 kept exact or repaired, never double-encoded; aligned text with wide
 * characters; CSV per RFC 4180; control characters kept away from terminals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "internal.h"
#include "util.h"

/* Render d in fmt into a malloc'ed string. */
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

static hs_doc *sample(void)
{
    hs_doc *d = hs_doc_create("Bericht \xE6\xA8\xA1\xE5\x9E\x8B"); /* 模型 */
    hs_dnode *root = hs_doc_root(d);
    hs_doc_field(root, "finite", "finite", dv_num(0.25, NF_METRIC));
    hs_doc_field(root, "nan", "missing", dv_num_why(NAN, NF_METRIC, "one run: no std"));
    hs_doc_field(root, "inf", "inf", dv_num(INFINITY, NF_METRIC));
    hs_doc_field(root, "hidden", NULL, dv_int(7));
    hs_doc_note(root, "a note with \"quotes\" and a tab\tinside");
    hs_dnode *t = hs_doc_table(root, "table", NULL, 3);
    hs_doc_col(t, 0, "label", "label", false, DC_BOTH);
    hs_doc_col(t, 1, "value", "value", true, DC_BOTH);
    hs_doc_col(t, 2, "raw", "raw", true, DC_DATA_ONLY);
    hs_doc_row(t);
    hs_doc_cell(
        t, 0,
        dv_text(
            "\xE9\x80\x9A\xE4\xB9\x89\xE5\x8D\x83\xE9\x97\xAE \xF0\x9F\x9A\x80")); /* 通义千问 🚀 */
    hs_doc_cell(t, 1, dv_num(1.5, NF_METRIC));
    hs_doc_cell(t, 2, dv_num(-INFINITY, NF_METRIC));
    hs_doc_row(t);
    hs_doc_cell(t, 0, dv_text("bad \xC3\x28 byte, comma, \"quote\""));
    hs_doc_cell(t, 1, dv_null("no valid run"));
    hs_doc_cell(t, 2, dv_num(2.0, NF_METRIC));
    return d;
}

static void test_json_strict(void **state)
{
    (void)state;
    hs_doc *d = sample();
    char *js = render(d, HS_FORMAT_JSON);
    assert_true(hs_utf8_valid(js, strlen(js)));
    assert_null(strstr(js, "NaN"));
    assert_null(strstr(js, ":Infinity"));
    assert_null(strstr(js, ":-Infinity"));
    /* json-c in strict mode accepts it */
    json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, js, (int)strlen(js));
    assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
    json_tokener_free(tok);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "finite", &v));
    assert_true(json_object_get_double(v) == 0.25);
    assert_true(json_object_object_get_ex(o, "nan", &v));
    assert_true(json_object_is_type(v, json_type_null));
    assert_true(json_object_object_get_ex(o, "nan_note", &v));
    assert_string_equal(json_object_get_string(v), "one run: no std");
    assert_true(json_object_object_get_ex(o, "inf_note", &v));
    assert_string_equal(json_object_get_string(v), "Infinity");
    assert_true(json_object_object_get_ex(o, "hidden", &v));
    assert_int_equal(json_object_get_int(v), 7);
    json_object *tab, *row;
    assert_true(json_object_object_get_ex(o, "table", &tab));
    assert_int_equal(json_object_array_length(tab), 2);
    row = json_object_array_get_idx(tab, 0);
    assert_true(json_object_object_get_ex(row, "label", &v));
    /* the exact bytes of the CJK label and the emoji, not escaped, not re-encoded */
    assert_string_equal(json_object_get_string(v),
                        "\xE9\x80\x9A\xE4\xB9\x89\xE5\x8D\x83\xE9\x97\xAE \xF0\x9F\x9A\x80");
    assert_true(json_object_object_get_ex(row, "raw_note", &v));
    assert_string_equal(json_object_get_string(v), "-Infinity");
    row = json_object_array_get_idx(tab, 1);
    assert_true(json_object_object_get_ex(row, "label", &v));
    /* an invalid byte becomes U+FFFD, the rest stays */
    assert_string_equal(json_object_get_string(v), "bad \xEF\xBF\xBD( byte, comma, \"quote\"");
    assert_true(json_object_object_get_ex(row, "value_note", &v));
    assert_string_equal(json_object_get_string(v), "no valid run");
    json_object *notes;
    assert_true(json_object_object_get_ex(o, "notes", &notes));
    assert_string_equal(json_object_get_string(json_object_array_get_idx(notes, 0)),
                        "a note with \"quotes\" and a tab\tinside");
    json_object_put(o);
    free(js);
    hs_doc_destroy(d);
}

static void test_text_alignment(void **state)
{
    (void)state;
    hs_doc *d = sample();
    char *tx = render(d, HS_FORMAT_TEXT);
    assert_true(hs_utf8_valid(tx, strlen(tx)));
    /* the CJK label and "value" header line up: both lines of the table have the same
     * display width up to the end of the value column */
    const char *hdr = strstr(tx, "label");
    const char *cjk = strstr(tx, "\xE9\x80\x9A");
    assert_non_null(hdr);
    assert_non_null(cjk);
    char a[256], b[256];
    snprintf(a, sizeof a, "%.*s", (int)strcspn(hdr, "\n"), hdr);
    snprintf(b, sizeof b, "%.*s", (int)strcspn(cjk, "\n"), cjk);
    assert_int_equal(hs_utf8_width(a), hs_utf8_width(b));
    /* data-only columns and untitled fields stay out of the text */
    assert_null(strstr(tx, "raw"));
    assert_null(strstr(tx, "hidden"));
    assert_non_null(strstr(tx, "Infinity"));
    assert_null(strstr(tx, "nan"));
    assert_non_null(strstr(tx, "missing: \xE2\x80\x94"));
    /* the Latin-1 reading of UTF-8 (seed 004's mojibake) never appears */
    assert_null(strstr(tx, "\xC3\xA9\xC2\x80"));
    free(tx);
    char *md = render(d, HS_FORMAT_MARKDOWN);
    assert_non_null(strstr(md, "# Bericht \xE6\xA8\xA1\xE5\x9E\x8B"));
    assert_non_null(strstr(md, "| label | value |"));
    free(md);
    hs_doc_destroy(d);
}

static void test_csv(void **state)
{
    (void)state;
    hs_doc *d = sample();
    char *csv = render(d, HS_FORMAT_CSV);
    assert_non_null(strstr(csv, "# table\nlabel,value,raw\n"));
    assert_non_null(strstr(csv, ",1.5,-inf\n"));
    assert_non_null(strstr(csv, "\"bad \xEF\xBF\xBD( byte, comma, \"\"quote\"\"\",,2.0\n"));
    free(csv);
    hs_doc_destroy(d);
}

static void test_controls_never_reach_a_terminal(void **state)
{
    (void)state;
    hs_doc *d = hs_doc_create("t");
    hs_dnode *root = hs_doc_root(d);
    hs_doc_field(root, "v", "value", dv_text("\x1b[2Jcleared\x07"));
    hs_doc_pre(root, "log", "log", "line one\n\x1b[31mred\x1b[0m\n");
    char *tx = render(d, HS_FORMAT_TEXT);
    assert_null(strchr(tx, '\x1b'));
    assert_null(strchr(tx, '\x07'));
    assert_non_null(strstr(tx, "    | line one\n"));
    free(tx);
    char *js = render(d, HS_FORMAT_JSON);
    assert_non_null(strstr(js, "\\u001b[2Jcleared\\u0007"));
    free(js);
    hs_doc_destroy(d);
}

static void test_number_formats(void **state)
{
    (void)state;
    char b[64];
    hs_fmt_num(0.59801, NF_METRIC, b, sizeof b);
    assert_string_equal(b, "0.5980");
    hs_fmt_num(1.2e-6, NF_METRIC, b, sizeof b);
    assert_string_equal(b, "1.2e-06");
    hs_fmt_num(-0.0118, NF_PP, b, sizeof b);
    assert_string_equal(b, "-0.01 pp");
    hs_fmt_num(3.1e-8, NF_P, b, sizeof b);
    assert_string_equal(b, "3.1e-08");
    hs_fmt_num(0.0, NF_P, b, sizeof b);
    assert_string_equal(b, "<1e-300");
    hs_fmt_num(0.75, NF_DELTA, b, sizeof b);
    assert_string_equal(b, "+0.7500");
    hs_fmt_num(NAN, NF_METRIC, b, sizeof b);
    assert_string_equal(b, "\xE2\x80\x94");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_strict),
        cmocka_unit_test(test_text_alignment),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_controls_never_reach_a_terminal),
        cmocka_unit_test(test_number_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
