/* Grid engine: expansion counts and order, pinned ids, id stability, every validation
 * error with its message and line, typed formatting. Pinned ids were computed outside this
 * program with Python: xxhash.xxh3_64_hexdigest(json.dumps(p, sort_keys=True,
 * separators=(",", ":"), ensure_ascii=False).encode()). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grid.h"
#include "task.h"
#include "template.h"
#include "value.h"

#define RUN_SECTION "run = { argv = [\"true\"]; };\n"

static hs_grid *load_ok(const char *text)
{
    hs_error err = { { 0 } };
    hs_grid *g = hs_grid_load_text(text, "t.cfg", NULL, &err);
    if (!g)
        fail_msg("grid did not load: %s\n--- grid ---\n%s", err.text, text);
    return g;
}

/* The grid must fail with "t.cfg:LINE: ..." containing `needle`. */
static void expect_error(const char *text, int line, const char *needle)
{
    hs_error err = { { 0 } };
    hs_grid *g = hs_grid_load_text(text, "t.cfg", NULL, &err);
    if (g) {
        hs_grid_destroy(g);
        fail_msg("grid loaded but should fail with '%s':\n%s", needle, text);
    }
    char prefix[64];
    if (line > 0)
        snprintf(prefix, sizeof prefix, "t.cfg:%d: ", line);
    else
        snprintf(prefix, sizeof prefix, "t.cfg: ");
    if (strncmp(err.text, prefix, strlen(prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", err.text, prefix);
    if (!strstr(err.text, needle))
        fail_msg("error '%s' does not mention '%s'", err.text, needle);
}

static const char *param_text(const hs_run *r, const char *name, char *buf, size_t cap)
{
    const hs_value *v = hs_run_get(r, name);
    if (!v)
        return "-";
    hs_buf b = { 0 };
    hs_value_put_text(&b, v);
    snprintf(buf, cap, "%s", hs_buf_str(&b));
    hs_buf_free(&b);
    return buf;
}

static void test_product_order(void **state)
{
    (void)state;
    hs_grid *g = load_ok("name = \"t\";\n" RUN_SECTION
                         "axes = { a = [1, 2]; b = [\"x\", \"y\", \"z\"]; };\n");
    assert_int_equal(hs_grid_nruns(g), 6);
    const char *expect[6][2] = { { "1", "x" }, { "1", "y" }, { "1", "z" },
                                 { "2", "x" }, { "2", "y" }, { "2", "z" } };
    char a[32], b[32];
    for (size_t i = 0; i < 6; i++) {
        const hs_run *r = hs_grid_run(g, i);
        assert_int_equal(r->index, i);
        assert_string_equal(param_text(r, "a", a, sizeof a), expect[i][0]);
        assert_string_equal(param_text(r, "b", b, sizeof b), expect[i][1]);
        assert_int_equal(hs_grid_find(g, r->id), (long)i);
    }
    hs_grid_destroy(g);
}

static void test_variants_and_conditionals(void **state)
{
    (void)state;
    hs_grid *g = load_ok(
        "name = \"t\";\n" RUN_SECTION "axes = {\n"
        "  model = [\"m1\", \"m2\"];\n"
        "  method = {\n"
        "    fp16 = {};\n"
        "    kivi = { group = 32; axes = { k_bits = [2, 4]; residual_length = [32, 128]; }; };\n"
        "    forge = { axes = { energy = [0.9, 0.99]; }; };\n"
        "  };\n"
        "};\n"
        "constants = { seed = 7; };\n");
    /* per model: 1 + 4 + 2 = 7 */
    assert_int_equal(hs_grid_nruns(g), 14);
    char buf[32];
    const hs_run *r0 = hs_grid_run(g, 0);
    assert_string_equal(param_text(r0, "method", buf, sizeof buf), "fp16");
    assert_null(hs_run_get(r0, "k_bits"));
    assert_string_equal(param_text(r0, "seed", buf, sizeof buf), "7");
    const hs_run *r1 = hs_grid_run(g, 1);
    assert_string_equal(param_text(r1, "method", buf, sizeof buf), "kivi");
    assert_string_equal(param_text(r1, "k_bits", buf, sizeof buf), "2");
    assert_string_equal(param_text(r1, "residual_length", buf, sizeof buf), "32");
    assert_string_equal(param_text(r1, "group", buf, sizeof buf), "32");
    const hs_run *r2 = hs_grid_run(g, 2);
    assert_string_equal(param_text(r2, "residual_length", buf, sizeof buf), "128");
    const hs_run *r6 = hs_grid_run(g, 6);
    assert_string_equal(param_text(r6, "method", buf, sizeof buf), "forge");
    assert_string_equal(param_text(r6, "energy", buf, sizeof buf), "0.99");
    const hs_run *r7 = hs_grid_run(g, 7);
    assert_string_equal(param_text(r7, "model", buf, sizeof buf), "m2");
    /* parameter facts for the store */
    int seen = 0;
    for (size_t k = 0; k < hs_grid_nparams(g); k++) {
        const hs_param_info *p = hs_grid_param(g, k);
        if (strcmp(p->name, "k_bits") == 0) {
            assert_true(p->conditional);
            assert_int_equal(p->type, HS_PTYPE_INT);
            seen++;
        }
        if (strcmp(p->name, "model") == 0) {
            assert_false(p->conditional);
            assert_int_equal(p->type, HS_PTYPE_STR);
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    hs_grid_destroy(g);
}

static void test_zip_exclude_include(void **state)
{
    (void)state;
    hs_grid *g = load_ok("name = \"t\";\n" RUN_SECTION
                         "axes = { m = [\"a\", \"b\"]; n = [128, 256, 512]; k = [25, 51, 102]; "
                         "s = [16, 32]; };\n"
                         "zip = [\"n\", \"k\"];\n"
                         "exclude = ( { m = \"b\"; s = [16]; } );\n"
                         "include = ( { m = \"c\"; n = 1; k = 2; s = 3; } );\n");
    /* 2 * 3 * 2 = 12, minus 3 excluded (m=b, s=16), plus 1 included */
    assert_int_equal(hs_grid_nruns(g), 10);
    char a[32], b[32];
    const hs_run *r1 = hs_grid_run(g, 1);
    assert_string_equal(param_text(r1, "n", a, sizeof a), "128");
    assert_string_equal(param_text(r1, "k", b, sizeof b), "25");
    assert_string_equal(param_text(r1, "s", b, sizeof b), "32");
    const hs_run *r2 = hs_grid_run(g, 2);
    assert_string_equal(param_text(r2, "n", a, sizeof a), "256");
    assert_string_equal(param_text(r2, "k", b, sizeof b), "51");
    for (size_t i = 0; i < hs_grid_nruns(g); i++) {
        const hs_run *r = hs_grid_run(g, i);
        const hs_value *m = hs_run_get(r, "m"), *s = hs_run_get(r, "s");
        assert_false(strcmp(m->u.s, "b") == 0 && s->u.i == 16);
    }
    const hs_run *last = hs_grid_run(g, 9);
    assert_string_equal(param_text(last, "m", a, sizeof a), "c");
    assert_int_equal(last->line, 6);
    hs_grid_destroy(g);
}

struct pinned {
    const char *grid;
    const char *canonical;
    const char *id;
};

static void test_pinned_ids(void **state)
{
    (void)state;
    const struct pinned cases[] = {
        { "axes = { a = [1]; b = [\"x\"]; };", "{\"a\":1,\"b\":\"x\"}", "21ffef47075ce757" },
        { "axes = { seed = [42]; };\nconstants = { lr = 0.001; model = "
          "\"meta-llama/Meta-Llama-3-8B\"; use_bias = true; };",
          "{\"lr\":0.001,\"model\":\"meta-llama/Meta-Llama-3-8B\",\"seed\":42,\"use_bias\":true}",
          "3ebc67c9be1e4c59" },
        { "axes = { eps = [1e-05]; big = [1e16]; neg = [-3]; name = [\"量化 ✓ \\\"q\\\"\\n\"]; };",
          "{\"big\":1e+16,\"eps\":1e-05,\"name\":\"量化 ✓ \\\"q\\\"\\n\",\"neg\":-3}",
          "dda88219b18891f0" },
        { "axes = { x = [0.30000000000000004]; };", "{\"x\":0.30000000000000004}",
          "afd16f2e59aeab77" },
        { "axes = { method = { taylor = { temperature = 0.0; }; }; taylor_seq_len = [16]; "
          "taylor_num_samples = [128]; };",
          "{\"method\":\"taylor\",\"taylor_num_samples\":128,\"taylor_seq_len\":16,"
          "\"temperature\":0.0}",
          "bfe2d2624ddba5b2" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "name = \"t\";\n%s%s\n", RUN_SECTION, cases[i].grid);
        hs_grid *g = load_ok(text);
        assert_int_equal(hs_grid_nruns(g), 1);
        const hs_run *r = hs_grid_run(g, 0);
        hs_buf c = { 0 };
        hs_run_canonical_json(g, r, &c);
        assert_string_equal(hs_buf_str(&c), cases[i].canonical);
        assert_string_equal(r->id, cases[i].id);
        hs_buf_free(&c);
        hs_grid_destroy(g);
    }
}

static void test_id_stable_when_axis_grows(void **state)
{
    (void)state;
    hs_grid *small = load_ok("name = \"t\";\n" RUN_SECTION
                             "axes = { model = [\"a\", \"b\"]; seq = [16, 32]; };\n");
    hs_grid *big = load_ok("name = \"t\";\n" RUN_SECTION
                           "axes = { model = [\"a\", \"b\", \"c\"]; seq = [8, 16, 32, 64]; };\n");
    assert_int_equal(hs_grid_nruns(small), 4);
    assert_int_equal(hs_grid_nruns(big), 12);
    for (size_t i = 0; i < hs_grid_nruns(small); i++) {
        const hs_run *r = hs_grid_run(small, i);
        long j = hs_grid_find(big, r->id);
        assert_true(j >= 0);
        hs_buf a = { 0 }, b = { 0 };
        hs_run_params_json(r, &a);
        hs_run_params_json(hs_grid_run(big, (size_t)j), &b);
        assert_string_equal(hs_buf_str(&a), hs_buf_str(&b));
        hs_buf_free(&a);
        hs_buf_free(&b);
    }
    /* a new axis with a default that the old runs implicitly used keeps their ids */
    hs_grid *newaxis =
        load_ok("name = \"t\";\n" RUN_SECTION
                "axes = { model = [\"a\", \"b\"]; seq = [16, 32]; seed = [0, 1]; };\n"
                "defaults = { seed = 0; };\n");
    assert_int_equal(hs_grid_nruns(newaxis), 8);
    size_t kept = 0;
    for (size_t i = 0; i < hs_grid_nruns(small); i++)
        kept += hs_grid_find(newaxis, hs_grid_run(small, i)->id) >= 0;
    assert_int_equal(kept, 4);
    hs_grid_destroy(small);
    hs_grid_destroy(big);
    hs_grid_destroy(newaxis);
}

static void test_validation_errors(void **state)
{
    (void)state;
    /* syntax */
    expect_error("name = \"t\";\nrun = { argv = [\"true\"]; };\naxes = { a = [1; };\n", 3,
                 "syntax error");
    /* unknown keys at each level, with a suggestion */
    expect_error("name = \"t\";\n" RUN_SECTION "axes = { a = [1]; };\ncosntants = { b = 1; };\n", 4,
                 "unknown key 'cosntants' in the grid file (did you mean 'constants'?)");
    expect_error(
        "name = \"t\";\nrun = { argv = [\"true\"];\n  timout = 5; };\naxes = { a = [1]; };\n", 3,
        "unknown key 'timout' in run (did you mean 'timeout'?)");
    expect_error("name = \"t\";\n" RUN_SECTION
                 "axes = { a = [1]; };\nmetrics = { renmae = {}; };\n",
                 4, "unknown key 'renmae' in metrics");
    /* wrong types */
    expect_error(
        "name = \"t\";\nrun = { argv = [\"true\"];\n timeout = \"5\"; };\naxes = { a = [1]; };\n",
        3, "run.timeout must be a number, not a string");
    expect_error("name = 5;\n" RUN_SECTION "axes = { a = [1]; };\n", 1,
                 "grid.name must be a string");
    expect_error("name = \"t\";\n" RUN_SECTION "axes = { a = 3; };\n", 3,
                 "axis 'a' must be a list");
    /* empty axes */
    expect_error("name = \"t\";\n" RUN_SECTION "axes = {\n b = [1];\n a = [];\n};\n", 5,
                 "axis 'a' is empty");
    expect_error("name = \"t\";\n" RUN_SECTION "axes = {\n m = {};\n};\n", 4,
                 "variant axis 'm' is empty");
    /* duplicate parameter names */
    expect_error("name = \"t\";\n" RUN_SECTION "axes = { a = [1]; };\nconstants = {\n a = 2; };\n",
                 5, "parameter 'a' is defined twice (also at line 3)");
    expect_error("name = \"t\";\n" RUN_SECTION
                 "axes = {\n temperature = [0.5];\n m = { x = {\n temperature = 1.0; }; };\n};\n",
                 6, "parameter 'temperature' is defined twice (also at line 4)");
    expect_error("name = \"t\";\n" RUN_SECTION
                 "axes = {\n m = { x = { bits = 2;\n axes = {\n bits = [4]; }; }; };\n};\n",
                 6, "parameter 'bits' is defined twice");
    /* the same name in two variants of one axis is fine */
    hs_grid *ok = load_ok("name = \"t\";\n" RUN_SECTION
                          "axes = { m = { x = { bits = 2; }; y = { bits = 4; }; }; };\n");
    hs_grid_destroy(ok);
    /* placeholders */
    expect_error("name = \"t\";\nrun = {\n argv = [\"run.py\", \"--lr\", \"{lr}\"]; };\naxes = { "
                 "a = [1]; };\n",
                 3, "{lr} names no parameter and no built-in");
    expect_error("name = \"t\";\nrun = { argv = [\"x\"];\n results = [\"{run_dir}/{nope}.json\"]; "
                 "};\naxes = { a = [1]; };\n",
                 3, "{nope} names no parameter");
    expect_error("name = \"t\";\nrun = { argv = [\"x\"];\n env = { V = \"{zz}\"; }; };\naxes = { a "
                 "= [1]; };\n",
                 3, "{zz} names no parameter");
    expect_error("name = \"t\";\nrun = {\n argv = [\"x\", \"--k={k}\"]; };\naxes = { m = { a = {}; "
                 "b = { k = 1; }; }; };\n",
                 3, "{k} is not set for run 0 (m=a); write {k?}");
    expect_error("name = \"t\";\nrun = {\n argv = [\"x\", \"{a\"]; };\naxes = { a = [1]; };\n", 3,
                 "unclosed '{'");
    /* variant names */
    expect_error("name = \"t\";\n" RUN_SECTION "axes = { m = {\n w4-g128 = {}; }; };\n", 4,
                 "variant name 'w4-g128' is not an identifier");
    /* zip */
    expect_error("name = \"t\";\n" RUN_SECTION
                 "axes = { a = [1, 2]; b = [1, 2, 3]; };\nzip = [\"a\", \"b\"];\n",
                 4, "zip group of unequal lengths: 'a' has 2 values, 'b' has 3");
    expect_error("name = \"t\";\n" RUN_SECTION "axes = { a = [1, 2]; };\nzip = [\"a\", \"q\"];\n",
                 4, "zip names 'q', which is not a top-level list axis");
    /* exclude/include naming unknown parameters */
    expect_error("name = \"t\";\n" RUN_SECTION
                 "axes = { a = [1, 2]; };\nexclude = (\n { q = 1; } );\n",
                 5, "exclude names 'q', which is not a parameter");
    expect_error("name = \"t\";\n" RUN_SECTION
                 "axes = { a = [1, 2]; };\ninclude = (\n { a = 3; q = 1; } );\n",
                 5, "include names 'q', which is not a parameter");
    /* two cells with the same tuple, both named */
    expect_error("name = \"t\";\n" RUN_SECTION "axes = { a = [1, 2, 1]; };\n", 0,
                 "runs 0 and 2 have the same parameters (a=1)");
    expect_error("name = \"t\";\n" RUN_SECTION
                 "axes = { a = [1, 2]; };\ninclude = (\n { a = 2; } );\n",
                 5, "runs 1 and 2 have the same parameters (a=2)");
    /* run limit, before any memory is spent: 10^12 cells */
    expect_error("name = \"t\";\n" RUN_SECTION
                 "axes = { a = [0,1,2,3,4,5,6,7,8,9]; b = [0,1,2,3,4,5,6,7,8,9]; c = "
                 "[0,1,2,3,4,5,6,7,8,9]; d = [0,1,2,3,4,5,6,7,8,9]; e = [0,1,2,3,4,5,6,7,8,9]; f "
                 "= [0,1,2,3,4,5,6,7,8,9]; g = [0,1,2,3,4,5,6,7,8,9]; h = [0,1,2,3,4,5,6,7,8,9]; "
                 "i = [0,1,2,3,4,5,6,7,8,9]; j = [0,1,2,3,4,5,6,7,8,9]; k = [0,1,2,3,4,5,6,7,8,9]; "
                 "l = [0,1,2,3,4,5,6,7,8,9]; };\n",
                 0, "expands to 1000000000000 runs before excludes, over the limit of 1000000");
    expect_error("name = \"t\";\n" RUN_SECTION "axes = { a = [1, 2, 3]; };\nlimits = { max_runs "
                 "= 2; };\n",
                 0, "over the limit of 2");
    /* other rules */
    expect_error("name = \"t\";\nrun = {\n gpus = 2;\n argv = [\"x\"]; };\naxes = { a = [1]; };\n",
                 3, "runs of more than one GPU are not supported yet");
    expect_error("name = \"t\";\n" RUN_SECTION "axes = {\n run_id = [1]; };\n", 4,
                 "reserved for the built-in placeholder {run_id}");
    expect_error("name = \"t\";\nrun = { argv = [\"x\"];\n cleanup = [\"{a}/x\"]; };\naxes = { a = "
                 "[1]; };\n",
                 3, "may only use the built-ins");
    expect_error("name = \"t\";\n" RUN_SECTION
                 "axes = { a = [1]; };\nanalysis = {\n by = \"q\"; };\n",
                 5, "analysis.by names 'q'");
    expect_error("name = \"t\";\n" RUN_SECTION
                 "axes = { a = [1]; };\nanalysis = { by = \"a\";\n over = \"seeds\"; };\n",
                 5, "analysis.over names 'seeds'");
    expect_error("name = \"a/b\";\n" RUN_SECTION "axes = { a = [1]; };\n", 1,
                 "may only use letters");
    expect_error("name = \"t\";\nrun = { runner = \"probe\"; };\naxes = { a = [1]; };\n", 2,
                 "needs run.probe");
}

/* Byte counts: an integer or a string with a binary unit, carried into every task. */
static void test_byte_sizes(void **state)
{
    (void)state;
    hs_grid *g = load_ok("name = \"t\";\n" RUN_SECTION "axes = { a = [1]; };\n");
    assert_true(hs_grid_spec(g)->max_result_size == 256LL << 20);
    assert_true(hs_grid_spec(g)->log_limit == 64LL << 20);
    hs_grid_destroy(g);
    g = load_ok("name = \"t\";\nrun = { argv = [\"x\"]; max_result_size = \"1.5G\"; log_limit = "
                "65536; };\naxes = { a = [1]; };\n");
    assert_true(hs_grid_spec(g)->max_result_size == 3LL << 29);
    assert_true(hs_grid_spec(g)->log_limit == 65536);
    hs_task t;
    hs_error err;
    assert_int_equal(hs_task_render(g, hs_grid_run(g, 0), "/s", "", 1, &t, &err), 0);
    assert_true(t.max_result_size == 3LL << 29);
    hs_task_clear(&t);
    hs_grid_destroy(g);
    g = load_ok("name = \"t\";\nrun = { argv = [\"x\"]; max_result_size = 5000000000L; };\n"
                "axes = { a = [1]; };\n");
    assert_true(hs_grid_spec(g)->max_result_size == 5000000000LL);
    hs_grid_destroy(g);

    const char *bad[] = {
        "\"lots\"", "\"512Q\"", "100", "-1", "0", "\"\"", "true", "1.5e9", "[1]"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "name = \"t\";\nrun = { argv = [\"x\"];\n max_result_size = %s; };\naxes = { a "
                 "= [1]; };\n",
                 bad[i]);
        expect_error(text, 3,
                     "run.max_result_size must be a byte count of at least 1024 (e.g. 268435456 "
                     "or \"512M\")");
    }
    expect_error("name = \"t\";\nrun = { argv = [\"x\"];\n log_limit = \"1k\"; };\naxes = { a = "
                 "[1]; };\n",
                 3, "run.log_limit must be a byte count of at least 4096");
    expect_error("name = \"t\";\nrun = { argv = [\"x\"];\n max_result_sise = \"1G\"; };\naxes = "
                 "{ a = [1]; };\n",
                 3, "did you mean 'max_result_size'");
}

static void test_hostile_values_stay_literal(void **state)
{
    (void)state;
    hs_grid *g =
        load_ok("name = \"t\";\nrun = { argv = [\"echo\", \"{v}\", \"--x={v}\"];\n"
                " results = [\"{run_dir}/{v}.json\"]; };\n"
                "axes = { v = [\"x; touch /tmp/hs-pwned\", \"../../escape\", \"*\"]; };\n");
    hs_error err;
    hs_task t;
    assert_int_equal(hs_task_render(g, hs_grid_run(g, 0), "/s", "", 1, &t, &err), 0);
    assert_int_equal(t.argc, 3);
    assert_string_equal(t.argv[1], "x; touch /tmp/hs-pwned");
    assert_string_equal(t.argv[2], "--x=x; touch /tmp/hs-pwned");
    hs_task_clear(&t);
    assert_int_equal(hs_task_render(g, hs_grid_run(g, 1), "/s", "", 1, &t, &err), 0);
    assert_string_equal(t.argv[1], "../../escape");
    /* the run directory is named by id, never by a value */
    char expect[64];
    snprintf(expect, sizeof expect, "/s/runs/%s", hs_grid_run(g, 1)->id);
    assert_string_equal(t.run_dir, expect);
    hs_task_clear(&t);
    /* glob metacharacters in values are escaped in result patterns */
    assert_int_equal(hs_task_render(g, hs_grid_run(g, 2), "/s", "", 1, &t, &err), 0);
    assert_non_null(strstr(t.results[0], "/\\*.json"));
    hs_task_clear(&t);
    hs_grid_destroy(g);
}

static void test_optional_and_json_placeholders(void **state)
{
    (void)state;
    hs_grid *g =
        load_ok("name = \"t\";\nrun = { argv = [\"x\", \"--tau={tau?}\", \"{json:key_bits=k,r}\", "
                "\"{{literal}}\"]; };\n"
                "axes = { m = { a = {}; b = { tau = \"inf\"; k = 2; r = 0.5; }; }; };\n");
    hs_error err;
    hs_task t;
    assert_int_equal(hs_task_render(g, hs_grid_run(g, 0), "/s", "", 1, &t, &err), 0);
    assert_int_equal(t.argc, 3);
    assert_string_equal(t.argv[1], "{}");
    assert_string_equal(t.argv[2], "{literal}");
    hs_task_clear(&t);
    assert_int_equal(hs_task_render(g, hs_grid_run(g, 1), "/s", "", 1, &t, &err), 0);
    assert_int_equal(t.argc, 4);
    assert_string_equal(t.argv[1], "--tau=inf");
    assert_string_equal(t.argv[2], "{\"key_bits\":2,\"r\":0.5}");
    hs_task_clear(&t);
    hs_grid_destroy(g);
}

static void test_double_repr(void **state)
{
    (void)state;
    /* strings from Python's repr() */
    const struct {
        double x;
        const char *s;
    } cases[] = {
        { 0.1 + 0.2, "0.30000000000000004" },
        { 1e-05, "1e-05" },
        { 1e16, "1e+16" },
        { 1e15, "1000000000000000.0" },
        { 0.0001, "0.0001" },
        { 123456789.125, "123456789.125" },
        { -0.0, "-0.0" },
        { 5e-324, "5e-324" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" },
        { 2.5, "2.5" },
        { 100.0, "100.0" },
        { 1e22, "1e+22" },
        { 0.3, "0.3" },
    };
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(hs_double_repr(cases[i].x, buf), cases[i].s);
    /* round trip on pseudo-random doubles of every magnitude */
    uint64_t s = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double x;
        memcpy(&x, &s, sizeof x);
        if (x != x || x - x != 0)
            continue;
        hs_double_repr(x, buf);
        double y = strtod(buf, NULL);
        if (memcmp(&x, &y, sizeof x) != 0)
            fail_msg("%.17g printed as %s reads back as %.17g", x, buf, y);
    }
}

static void test_typed_values_in_grid(void **state)
{
    (void)state;
    hs_grid *g =
        load_ok("name = \"t\";\n" RUN_SECTION
                "axes = { i = [9007199254740993L]; f = [2.0]; b = [false]; s = [\"2\"]; };\n");
    const hs_run *r = hs_grid_run(g, 0);
    assert_int_equal(hs_run_get(r, "i")->type, HS_INT);
    assert_true(hs_run_get(r, "i")->u.i == 9007199254740993LL);
    assert_int_equal(hs_run_get(r, "f")->type, HS_FLOAT);
    assert_int_equal(hs_run_get(r, "b")->type, HS_BOOL);
    assert_int_equal(hs_run_get(r, "s")->type, HS_STR);
    hs_buf c = { 0 };
    hs_run_canonical_json(g, r, &c);
    assert_string_equal(hs_buf_str(&c),
                        "{\"b\":false,\"f\":2.0,\"i\":9007199254740993,\"s\":\"2\"}");
    hs_buf_free(&c);
    hs_grid_destroy(g);
}

static void test_analysis_section(void **state)
{
    (void)state;
    hs_grid *g = load_ok("name = \"t\";\n" RUN_SECTION
                         "axes = { method = [\"fp16\", \"rtn\"]; seed = [0, 1]; };\n"
                         "analysis = { target = \"acc\"; baseline = \"method=fp16\"; "
                         "over = \"seed\"; lower_is_better = false; avg = [\"mmlu\"]; };\n");
    const hs_analysis_spec *an = hs_grid_analysis(g);
    assert_string_equal(an->target, "acc");
    assert_string_equal(an->baseline, "method=fp16");
    assert_string_equal(an->over, "seed");
    assert_null(an->by);
    assert_int_equal(an->lower_is_better, 0);
    assert_int_equal(an->navg, 1);
    assert_string_equal(an->avg[0], "mmlu");
    hs_grid_destroy(g);
}

static void test_shipped_grids(void **state)
{
    (void)state;
    const struct {
        const char *file;
        size_t runs;
    } grids[] = { { "taylor_pruning.cfg", 135 },
                  { "ptq_track_a.cfg", 51 },
                  { "kv_track_c.cfg", 54 } };
    for (size_t i = 0; i < sizeof grids / sizeof grids[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/grids/%s", HS_SOURCE_DIR, grids[i].file);
        hs_error err;
        hs_grid *g = hs_grid_load(path, NULL, &err);
        if (!g)
            fail_msg("%s", err.text);
        assert_int_equal(hs_grid_nruns(g), grids[i].runs);
        hs_grid_destroy(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_product_order),
        cmocka_unit_test(test_variants_and_conditionals),
        cmocka_unit_test(test_zip_exclude_include),
        cmocka_unit_test(test_pinned_ids),
        cmocka_unit_test(test_id_stable_when_axis_grows),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_byte_sizes),
        cmocka_unit_test(test_hostile_values_stay_literal),
        cmocka_unit_test(test_optional_and_json_placeholders),
        cmocka_unit_test(test_double_repr),
        cmocka_unit_test(test_typed_values_in_grid),
        cmocka_unit_test(test_analysis_section),
        cmocka_unit_test(test_shipped_grids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
