/* The HDF5 store, on real files: schema, two-phase commits, reading back, resume with a
 * grown grid, refusal of another sweep, repair after a writer killed with SIGKILL, long
 * values and many parameters kept whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "grid.h"
#include "result.h"
#include "store.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hs-test-store-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static hs_grid *grid(const char *axes)
{
    char text[2048];
    snprintf(text, sizeof text, "name = \"st\";\nrun = { argv = [\"true\"]; };\naxes = { %s };\n",
             axes);
    hs_error err;
    hs_grid *g = hs_grid_load_text(text, "st.cfg", NULL, &err);
    if (!g)
        fail_msg("%s", err.text);
    return g;
}

static void result_for(hs_result *r, const hs_run *run, double acc)
{
    hs_result_init(r);
    snprintf(r->run_id, sizeof r->run_id, "%s", run->id);
    r->index = run->index;
    r->attempt = 1;
    r->exit_code = 0;
    r->started = 1000.0 + (double)run->index;
    r->finished = r->started + 2.5;
    r->wall_s = 2.5;
    snprintf(r->host, sizeof r->host, "node%zu", run->index % 2);
    r->rank = 1 + (int)(run->index % 3);
    snprintf(r->stderr_tail, sizeof r->stderr_tail, "tail of %s", run->id);
    hs_result_set_metric(r, "acc", acc);
    hs_result_set_metric(r, "ppl", 10.0 + acc);
}

static void test_write_and_read_back(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/a/sweep.h5", tmpdir);
    hs_grid *g = grid("model = [\"m1\", \"m2\"]; lr = [0.1, 0.01]; flag = [true, false];");
    hs_error err;
    hs_store_opts o = { .swmr = true };
    hs_store_open_info info;
    hs_store *s = hs_store_open(path, g, &o, &info, &err);
    if (!s)
        fail_msg("%s", err.text);
    assert_true(info.created);
    assert_int_equal(info.new_rows, 8);
    assert_int_equal(hs_store_nrows(s), 8);
    for (size_t i = 0; i < 8; i++) {
        const hs_run *run = hs_grid_run(g, i);
        long row = hs_store_find(s, run->id);
        assert_true(row >= 0);
        assert_int_equal(hs_store_status(s, (size_t)row), HS_PENDING);
        if (i == 5)
            continue; /* stays pending */
        hs_result r;
        result_for(&r, run, 0.5 + 0.01 * (double)i);
        if (i == 3) { /* a run with an extra metric: the matrix grows sideways */
            hs_result_set_metric(&r, "extra/metric", 42.0);
        }
        assert_int_equal(hs_store_put(s, (size_t)row, &r, i == 7 ? HS_FAILED : HS_OK, &err), 0);
        hs_result_clear(&r);
    }
    if (hs_store_close(s, &err) != 0)
        fail_msg("%s", err.text);

    hs_store_data *d = hs_store_read(path, &err);
    if (!d)
        fail_msg("%s", err.text);
    assert_int_equal(hs_sd_nrows(d), 8);
    assert_string_equal(hs_sd_attr(d, "sweep"), "st");
    assert_non_null(strstr(hs_sd_attr(d, "grid_text"), "flag = [true, false]"));
    long acc = hs_sd_metric_find(d, "acc"), extra = hs_sd_metric_find(d, "extra/metric");
    assert_true(acc >= 0 && extra >= 0);
    long lr = hs_sd_param_find(d, "lr"), flag = hs_sd_param_find(d, "flag"),
         model = hs_sd_param_find(d, "model");
    assert_true(lr >= 0 && flag >= 0 && model >= 0);
    assert_int_equal(hs_sd_param_type(d, (size_t)lr), HS_PTYPE_FLOAT);
    assert_int_equal(hs_sd_param_type(d, (size_t)flag), HS_PTYPE_BOOL);
    for (size_t row = 0; row < 8; row++) {
        long i = hs_grid_find(g, hs_sd_run_id(d, row));
        assert_true(i >= 0);
        assert_int_equal(hs_sd_index(d, row), i);
        const hs_run *run = hs_grid_run(g, (size_t)i);
        hs_value v;
        assert_true(hs_sd_param(d, (size_t)lr, row, &v));
        assert_true(v.u.f == hs_run_get(run, "lr")->u.f);
        assert_true(hs_sd_param(d, (size_t)flag, row, &v));
        assert_int_equal(v.u.b, hs_run_get(run, "flag")->u.b);
        assert_true(hs_sd_param(d, (size_t)model, row, &v));
        assert_string_equal(v.u.s, hs_run_get(run, "model")->u.s);
        double a = hs_sd_metric_column(d, (size_t)acc)[row];
        double e = hs_sd_metric_column(d, (size_t)extra)[row];
        if (i == 5) {
            assert_int_equal(hs_sd_status(d, row), HS_PENDING);
            assert_true(isnan(a));
            continue;
        }
        assert_int_equal(hs_sd_status(d, row), i == 7 ? HS_FAILED : HS_OK);
        assert_true(a == 0.5 + 0.01 * (double)i);
        assert_true(i == 3 ? e == 42.0 : isnan(e));
        assert_int_equal(hs_sd_rank(d, row), 1 + (int)(i % 3));
        char host[16];
        snprintf(host, sizeof host, "node%ld", i % 2);
        assert_string_equal(hs_sd_host(d, row), host);
        char tail[HS_TAIL_BYTES + 1], want[64];
        assert_int_equal(hs_sd_stderr_tail(d, row, tail, sizeof tail, &err), 0);
        snprintf(want, sizeof want, "tail of %s", run->id);
        assert_string_equal(tail, want);
    }
    /* light mode reads the text columns row by row, with the same result */
    hs_store_data *light = hs_store_read_ex(path, HS_STORE_READ_LIGHT, &err);
    assert_non_null(light);
    for (size_t row = 0; row < 8; row++) {
        assert_string_equal(hs_sd_host(light, row), hs_sd_host(d, row));
        assert_string_equal(hs_sd_params_json(light, row), hs_sd_params_json(d, row));
        assert_string_equal(hs_sd_message(light, row), hs_sd_message(d, row));
    }
    hs_store_data_destroy(light);
    hs_store_data_destroy(d);
    hs_grid_destroy(g);
}

static void test_resume_grown_grid_and_new_param(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/b.h5", tmpdir);
    hs_error err;
    hs_grid *g1 = grid("seq = [16, 32];");
    hs_store *s = hs_store_open(path, g1, NULL, NULL, &err);
    assert_non_null(s);
    hs_result r;
    result_for(&r, hs_grid_run(g1, 0), 0.7);
    assert_int_equal(hs_store_put(s, 0, &r, HS_OK, &err), 0);
    hs_result_clear(&r);
    if (hs_store_close(s, &err) != 0)
        fail_msg("%s", err.text);

    /* a value added to the axis and a new axis with a default: old rows keep their ids */
    hs_grid *g2 = grid("seq = [8, 16, 32]; seed = [0, 1]; tag = [\"x\"];};\n"
                       "defaults = { seed = 0; tag = \"x\"; ");
    hs_store_open_info info;
    s = hs_store_open(path, g2, NULL, &info, &err);
    if (!s)
        fail_msg("%s", err.text);
    assert_false(info.created);
    assert_int_equal(info.new_rows, 4); /* 6 cells, 2 of them the old rows */
    assert_int_equal(info.new_params, 2);
    long row = hs_store_find(s, hs_grid_run(g1, 0)->id);
    assert_int_equal(row, 0);
    assert_int_equal(hs_store_status(s, 0), HS_OK);
    if (hs_store_close(s, &err) != 0)
        fail_msg("%s", err.text);

    hs_store_data *d = hs_store_read(path, &err);
    assert_non_null(d);
    assert_int_equal(hs_sd_nrows(d), 6);
    long seed = hs_sd_param_find(d, "seed");
    assert_true(seed >= 0);
    hs_value v;
    assert_true(hs_sd_param(d, (size_t)seed, 0, &v));
    assert_int_equal(v.u.i, 0); /* the old row is the seed = 0 cell */
    assert_true(hs_sd_metric_column(d, (size_t)hs_sd_metric_find(d, "acc"))[0] == 0.7);
    hs_store_data_destroy(d);

    /* another sweep's store is refused */
    char text[] = "name = \"other\";\nrun = { argv = [\"true\"]; };\naxes = { seq = [16]; };\n";
    hs_grid *g3 = hs_grid_load_text(text, "o.cfg", NULL, &err);
    assert_null(hs_store_open(path, g3, NULL, NULL, &err));
    assert_non_null(strstr(err.text, "belongs to sweep 'st', not 'other'"));
    hs_grid_destroy(g1);
    hs_grid_destroy(g2);
    hs_grid_destroy(g3);
}

static void test_repair_after_sigkill(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/c.h5", tmpdir);
    hs_grid *g = grid("i = [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19];");
    pid_t pid = fork();
    if (pid == 0) {
        hs_error e;
        hs_store_opts o = { .swmr = true, .batch_rows = 4 };
        hs_store *s = hs_store_open(path, g, &o, NULL, &e);
        if (!s)
            _exit(3);
        for (size_t i = 0; i < 20; i++) {
            hs_result r;
            result_for(&r, hs_grid_run(g, i), (double)i);
            hs_store_put(s, i, &r, HS_OK, &e);
            hs_result_clear(&r);
            hs_store_tick(s, &e);
            if (i == 13)
                raise(SIGKILL); /* rows 12 and 13 are not committed */
        }
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st));
    hs_error err;
    /* a reader opens the killed file too */
    hs_store_data *d = hs_store_read(path, &err);
    if (d)
        hs_store_data_destroy(d);
    hs_store_open_info info;
    hs_store *s = hs_store_open(path, g, &(hs_store_opts){ .swmr = true }, &info, &err);
    if (!s)
        fail_msg("%s", err.text);
    assert_true(info.repaired);
    size_t ok = 0;
    for (size_t row = 0; row < hs_store_nrows(s); row++)
        ok += hs_store_status(s, row) == HS_OK;
    assert_int_equal(ok, 12);
    if (hs_store_close(s, &err) != 0)
        fail_msg("%s", err.text);
    d = hs_store_read(path, &err);
    assert_non_null(d);
    long acc = hs_sd_metric_find(d, "acc");
    for (size_t row = 0; row < hs_sd_nrows(d); row++)
        if (hs_sd_status(d, row) == HS_OK)
            assert_false(isnan(hs_sd_metric_column(d, (size_t)acc)[row]));
    hs_store_data_destroy(d);
    hs_grid_destroy(g);
}

static void test_second_writer_refused(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/d.h5", tmpdir);
    hs_grid *g = grid("i = [1, 2];");
    hs_error err;
    hs_store *s = hs_store_open(path, g, &(hs_store_opts){ .swmr = true }, NULL, &err);
    assert_non_null(s);
    pid_t pid = fork();
    if (pid == 0) {
        hs_error e;
        hs_store *t = hs_store_open(path, g, NULL, NULL, &e);
        _exit(t == NULL && strstr(e.text, "in use by another hypersweep run") ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (hs_store_close(s, &err) != 0)
        fail_msg("%s", err.text);
    hs_grid_destroy(g);
}

/* A grid of any size (grid() has a fixed buffer). */
static hs_grid *grid_of(const char *body)
{
    hs_buf t = { 0 };
    hs_buf_printf(&t, "name = \"st\";\nrun = { argv = [\"true\"]; };\n%s\n", body);
    hs_error err;
    hs_grid *g = hs_grid_load_text(hs_buf_str(&t), "st.cfg", NULL, &err);
    hs_buf_free(&t);
    if (!g)
        fail_msg("%s", err.text);
    return g;
}

/* `bytes` bytes of text with multibyte UTF-8, quotes, backslashes, newlines and tabs, and
 * the same as a libconfig string literal. */
static void long_text(size_t bytes, char **value, hs_buf *literal)
{
    static const char unit[] = "Prompt \xC2\xAB\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x8E\x89\xC2\xBB "
                               "\"quoted\" back\\slash\ttab\nline; ";
    char *v = malloc(bytes + 1);
    assert_non_null(v);
    size_t n = 0;
    while (n + sizeof unit - 1 <= bytes) {
        memcpy(v + n, unit, sizeof unit - 1);
        n += sizeof unit - 1;
    }
    while (n < bytes)
        v[n++] = 'z';
    v[n] = '\0';
    hs_buf_putc(literal, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            hs_buf_printf(literal, "\\%c", *p);
        else if (*p == '\n')
            hs_buf_puts(literal, "\\n");
        else if (*p == '\t')
            hs_buf_puts(literal, "\\t");
        else
            hs_buf_putc(literal, *p);
    }
    hs_buf_putc(literal, '"');
    *value = v;
}

/* Every parameter of every row, and /runs/params, exactly as the grid has them, read whole
 * and in light mode. */
static void check_params(const char *path, const hs_grid *g)
{
    hs_error err;
    for (int light = 0; light < 2; light++) {
        hs_store_data *d = hs_store_read_ex(path, light ? HS_STORE_READ_LIGHT : 0, &err);
        if (!d)
            fail_msg("%s", err.text);
        size_t checked = 0;
        for (size_t row = 0; row < hs_sd_nrows(d); row++) {
            long i = hs_grid_find(g, hs_sd_run_id(d, row));
            if (i < 0)
                continue;
            const hs_run *run = hs_grid_run(g, (size_t)i);
            hs_buf want = { 0 };
            hs_run_params_json(run, &want);
            assert_string_equal(hs_sd_params_json(d, row), hs_buf_str(&want));
            hs_buf_free(&want);
            for (size_t k = 0; k < run->nparams; k++) {
                long c = hs_sd_param_find(d, run->params[k].name);
                assert_true(c >= 0);
                hs_value v;
                assert_true(hs_sd_param(d, (size_t)c, row, &v));
                const hs_value *w = &run->params[k].value;
                if (v.type == HS_STR && w->type != HS_STR) {
                    hs_buf t = { 0 };
                    hs_value_put_text(&t, w);
                    assert_string_equal(v.u.s, hs_buf_str(&t)); /* a mixed column */
                    hs_buf_free(&t);
                } else {
                    assert_true(hs_value_matches(w, &v));
                }
                checked++;
            }
        }
        assert_true(checked > 0);
        hs_store_data_destroy(d);
    }
}

static void test_long_values_and_many_params(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/long.h5", tmpdir);
    char *v10k, *v20k;
    hs_buf lit10k = { 0 }, lit20k = { 0 }, body = { 0 }, name = { 0 };
    long_text(10240, &v10k, &lit10k);
    long_text(20480, &v20k, &lit20k);
    /* 200 constants of every type, and a parameter with a 600-character name */
    for (size_t i = 0; i < 600; i++)
        hs_buf_putc(&name, (char)('a' + i % 26));
    hs_buf_printf(&body, "axes = { prompt = [%s, \"short\"]; i = [1, 2]; };\nconstants = { ",
                  hs_buf_str(&lit10k));
    for (int k = 0; k < 200; k++) {
        if (k % 4 == 0)
            hs_buf_printf(&body, "c%03d = %d; ", k, k);
        else if (k % 4 == 1)
            hs_buf_printf(&body, "c%03d = %d.25; ", k, k);
        else if (k % 4 == 2)
            hs_buf_printf(&body, "c%03d = \"value \\\"%d\\\" \xC3\xA9\"; ", k, k);
        else
            hs_buf_printf(&body, "c%03d = %s; ", k, k % 8 == 3 ? "true" : "false");
    }
    hs_buf_printf(&body, "%s = \"long name\"; };", hs_buf_str(&name));
    hs_grid *g1 = grid_of(hs_buf_str(&body));
    assert_int_equal(hs_grid_nparams(g1), 203);
    hs_error err;
    hs_store *s = hs_store_open(path, g1, &(hs_store_opts){ .swmr = true }, NULL, &err);
    if (!s)
        fail_msg("%s", err.text);
    if (hs_store_close(s, &err) != 0)
        fail_msg("%s", err.text);
    check_params(path, g1);
    hs_store_data *d = hs_store_read(path, &err);
    assert_non_null(d);
    assert_int_equal(hs_sd_nparams(d), 203);
    assert_non_null(strstr(hs_sd_attr(d, "grid_text"), hs_buf_str(&lit10k)));
    hs_store_data_destroy(d);

    /* the grid grows a longer value and `i` a text value: the columns are rebuilt wider,
     * and the rows of the old grid keep theirs */
    hs_buf_reset(&body);
    hs_buf_printf(&body, "axes = { prompt = [%s, \"short\", %s]; i = (1, 2, \"three\"); };",
                  hs_buf_str(&lit10k), hs_buf_str(&lit20k));
    hs_grid *g2 = grid_of(hs_buf_str(&body));
    s = hs_store_open(path, g2, &(hs_store_opts){ .swmr = true }, NULL, &err);
    if (!s)
        fail_msg("%s", err.text);
    if (hs_store_close(s, &err) != 0)
        fail_msg("%s", err.text);
    check_params(path, g2);
    d = hs_store_read(path, &err);
    assert_non_null(d);
    long prompt = hs_sd_param_find(d, "prompt"), c002 = hs_sd_param_find(d, "c002");
    assert_true(prompt >= 0 && c002 >= 0);
    size_t old_rows = 0;
    for (size_t row = 0; row < hs_sd_nrows(d); row++) {
        long i = hs_grid_find(g1, hs_sd_run_id(d, row));
        if (i < 0)
            continue;
        old_rows++;
        hs_value v;
        assert_true(hs_sd_param(d, (size_t)prompt, row, &v));
        assert_string_equal(v.u.s, hs_run_get(hs_grid_run(g1, (size_t)i), "prompt")->u.s);
        assert_true(hs_sd_param(d, (size_t)c002, row, &v));
        assert_string_equal(v.u.s, "value \"2\" \xC3\xA9");
    }
    assert_int_equal(old_rows, 4);
    hs_store_data_destroy(d);
    hs_grid_destroy(g1);
    hs_grid_destroy(g2);
    free(v10k);
    free(v20k);
    hs_buf_free(&lit10k);
    hs_buf_free(&lit20k);
    hs_buf_free(&body);
    hs_buf_free(&name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_and_read_back),
        cmocka_unit_test(test_resume_grown_grid_and_new_param),
        cmocka_unit_test(test_repair_after_sigkill),
        cmocka_unit_test(test_second_writer_refused),
        cmocka_unit_test(test_long_values_and_many_params),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
