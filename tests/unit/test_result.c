/* Result ingestion: flattening of the pipelines' JSON (ptq-bench, lm-eval, llama-pruning)
 * into the metric names a user looks for; NaN / Infinity; malformed files; the ok rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "result.h"
#include "task.h"
#include "util.h"

static char fixtures[1024];

static void fixture(const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", fixtures, name);
}

static void load(const char *name, hs_result *r)
{
    char path[1200];
    fixture(name, path, sizeof path);
    json_object *doc;
    hs_error err;
    if (hs_json_read_file(path, 1 << 20, &doc, &err) < 0)
        fail_msg("%s", err.text);
    hs_result_init(r);
    if (hs_flatten_json(doc, r, NULL, 0, &err) < 0)
        fail_msg("%s", err.text);
    json_object_put(doc);
}

static double metric(const hs_result *r, const char *name)
{
    int k = hs_result_find_metric(r, name);
    if (k < 0)
        fail_msg("no metric '%s'", name);
    return r->metric_values[k];
}

static void absent(const hs_result *r, const char *name)
{
    if (hs_result_find_metric(r, name) >= 0)
        fail_msg("metric '%s' should not exist", name);
}

static void test_ptq_bench(void **state)
{
    (void)state;
    hs_result r;
    load("ptq_trackC.json", &r);
    assert_true(metric(&r, "results/ppl/wikitext2/ppl") == 5.8123);
    assert_true(metric(&r, "results/lm_eval/hellaswag/acc") == 0.6115);
    assert_true(metric(&r, "results/lm_eval/hellaswag/acc_norm") == 0.8063);
    assert_true(metric(&r, "results/lm_eval/mmlu_anatomy/acc") == 0.61);
    assert_true(metric(&r, "results/lm_eval/gsm8k/exact_match@strict-match") == 0.41);
    assert_true(metric(&r, "results/lm_eval/gsm8k/exact_match@flexible-extract") == 0.44);
    assert_true(metric(&r, "results/kv_stress_test/passkey_retrieval/depth_accuracy/0.25") == 0.3);
    assert_true(metric(&r, "results/system_metrics/vram_peak_mb") == 20111.5);
    /* a number written as a string counts; "N/A" does not */
    assert_true(metric(&r, "results/eval_time_seconds") == 1800.5);
    absent(&r, "results/lm_eval/gsm8k/exact_match_stderr@flexible-extract");
    absent(&r, "results/lm_eval/hellaswag/alias");
    absent(&r, "results/lm_eval/hellaswag/acc,none");
    assert_int_equal(r.nwarnings, 0);
    hs_result_clear(&r);
}

static void test_lm_eval(void **state)
{
    (void)state;
    hs_result r;
    load("lm_eval.json", &r);
    /* an lm-eval output file: task/metric from "results" only */
    assert_true(metric(&r, "hellaswag/acc_norm") == 0.7893);
    assert_true(metric(&r, "mmlu_humanities/acc") == 0.6278);
    assert_true(metric(&r, "gsm8k/exact_match@strict-match") == 0.832);
    absent(&r, "groups/mmlu/acc");
    absent(&r, "date");
    absent(&r, "versions/mmlu");
    absent(&r, "results/hellaswag/acc");
    hs_result_clear(&r);
}

static void test_llama_pruning(void **state)
{
    (void)state;
    hs_result r;
    load("pruning_eval.json", &r);
    assert_true(metric(&r, "metrics/ppl/wikitext2 (wikitext-2-raw-v1)") == 13.17);
    assert_true(metric(&r, "metrics/zeroshot/piqa/full_results/acc_norm") == 0.7301);
    assert_true(metric(&r, "metrics/avg_zeroshot_acc") == 0.7312);
    hs_result_clear(&r);
    load("pruning_diag.json", &r);
    assert_true(metric(&r, "num_extreme_layers") == 5);
    assert_true(isinf(metric(&r, "gradient_statistics/norm_ratio")) &&
                metric(&r, "gradient_statistics/norm_ratio") > 0);
    assert_true(isinf(metric(&r, "floor")) && metric(&r, "floor") < 0);
    assert_true(isnan(metric(&r, "importance_spread")));
    assert_true(metric(&r, "gradient_statistics/mean_range/1") == 1.34e-05);
    assert_true(metric(&r, "extreme_pruning_layers/0/pruning_rate") == 0.61);
    hs_result_clear(&r);
}

static void expect_parse_error(const char *name, const char *needle)
{
    char path[1200];
    fixture(name, path, sizeof path);
    json_object *doc = NULL;
    hs_error err;
    assert_int_equal(hs_json_read_file(path, 1 << 20, &doc, &err), -1);
    if (!strstr(err.text, needle))
        fail_msg("'%s' does not mention '%s'", err.text, needle);
    if (!strstr(err.text, path))
        fail_msg("'%s' does not name the file", err.text);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_parse_error("truncated.json", "truncated");
    expect_parse_error("trailing.json", ":2:1: unexpected data after the JSON value");
    expect_parse_error("empty.json", "is empty");
    expect_parse_error("bad_comma.json", "bad_comma.json:3:");
    expect_parse_error("no_such_file.json", "No such file");
}

/* ---- the whole ingestion of an attempt ---- */

static char rundir[256];

static void make_task(hs_task *t, const char *const *results, size_t n)
{
    memset(t, 0, sizeof *t);
    snprintf(t->run_id, sizeof t->run_id, "0123456789abcdef");
    t->run_dir = strdup(rundir);
    t->results = calloc(n + 1, sizeof *t->results);
    for (size_t i = 0; i < n; i++)
        t->results[t->nresults++] = strdup(results[i]);
    t->keep_all = 1;
    t->on_warnings = HS_WARN_SUSPECT;
}

static void put(const char *name, const char *fixture_name)
{
    char src[1200], dst[600], *data;
    size_t len;
    hs_error err;
    fixture(fixture_name, src, sizeof src);
    snprintf(dst, sizeof dst, "%s/%s", rundir, name);
    assert_int_equal(hs_read_file(src, 1 << 20, &data, &len, &err), 0);
    assert_int_equal(hs_write_file_atomic(dst, data, len, &err), 0);
    free(data);
}

static void test_ingest_rules(void **state)
{
    (void)state;
    snprintf(rundir, sizeof rundir, "/tmp/hs-test-result-XXXXXX");
    assert_non_null(mkdtemp(rundir));
    char pat_eval[600], pat_diag[600], pat_glob[600];
    snprintf(pat_eval, sizeof pat_eval, "%s/evaluation/evaluation_results.json", rundir);
    snprintf(pat_diag, sizeof pat_diag, "%s/diag.json", rundir);
    snprintf(pat_glob, sizeof pat_glob, "%s/*__trackC.json", rundir);
    hs_error err;
    hs_result r;
    hs_task t;

    /* exit 0, no result file: missing_result (what the users' pipelines do when they fail) */
    const char *two[] = { pat_eval, pat_diag };
    make_task(&t, two, 2);
    hs_result_init(&r);
    assert_int_equal(hs_ingest_results(&t, &r, &err), 0);
    assert_int_equal(r.status, HS_INVALID_RESULT);
    assert_string_equal(r.failure_class, "missing_result");
    assert_non_null(strstr(r.message, "evaluation_results.json"));
    hs_result_clear(&r);

    /* both files, renamed, required present: ok */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/evaluation", rundir);
    assert_int_equal(hs_mkdir_p(dir, 0755, &err), 0);
    put("evaluation/evaluation_results.json", "pruning_eval.json");
    put("diag.json", "pruning_diag.json");
    t.rename_to = calloc(3, sizeof(char *));
    t.rename_from = calloc(3, sizeof(char *));
    t.rename_to[0] = strdup("acc_mean");
    t.rename_from[0] = strdup("metrics.avg_zeroshot_acc"); /* '.' selects like '/' */
    t.rename_to[1] = strdup("ppl");
    t.rename_from[1] = strdup("metrics/ppl/wikitext2 (wikitext-2-raw-v1)");
    t.nrenames = 2;
    t.required = calloc(3, sizeof(char *));
    t.required[0] = strdup("acc_mean");
    t.required[1] = strdup("ppl");
    t.nrequired = 2;
    hs_result_init(&r);
    assert_int_equal(hs_ingest_results(&t, &r, &err), 0);
    assert_int_equal(r.status, HS_OK);
    assert_true(metric(&r, "acc_mean") == 0.7312);
    assert_true(metric(&r, "ppl") == 13.17);
    absent(&r, "metrics/avg_zeroshot_acc"); /* moved, not copied */
    assert_true(metric(&r, "num_extreme_layers") == 5);
    hs_result_clear(&r);

    /* keep = "renamed": only the renamed metrics stay */
    t.keep_all = 0;
    hs_result_init(&r);
    hs_ingest_results(&t, &r, &err);
    assert_int_equal(r.status, HS_OK);
    assert_int_equal(r.nmetrics, 2);
    hs_result_clear(&r);
    t.keep_all = 1;

    /* a required metric that is missing, or NaN */
    free(t.required[1]);
    t.required[1] = strdup("importance_spread");
    hs_result_init(&r);
    hs_ingest_results(&t, &r, &err);
    assert_int_equal(r.status, HS_INVALID_RESULT);
    assert_string_equal(r.failure_class, "missing_metric");
    assert_non_null(strstr(r.message, "'importance_spread' is NaN"));
    hs_result_clear(&r);
    free(t.required[1]);
    t.required[1] = strdup("nope");
    hs_result_init(&r);
    hs_ingest_results(&t, &r, &err);
    assert_string_equal(r.failure_class, "missing_metric");
    hs_result_clear(&r);
    hs_task_clear(&t);

    /* a malformed result file: bad_json, naming file, line and column */
    put("diag.json", "bad_comma.json");
    const char *one[] = { pat_diag };
    make_task(&t, one, 1);
    hs_result_init(&r);
    hs_ingest_results(&t, &r, &err);
    assert_int_equal(r.status, HS_INVALID_RESULT);
    assert_string_equal(r.failure_class, "bad_json");
    assert_non_null(strstr(r.message, "diag.json:3:"));
    hs_result_clear(&r);
    hs_task_clear(&t);

    /* a glob, and warnings: suspect, or ignored, or a failure, as configured */
    put("20260301_101500__m__kivi__trackC.json", "warned.json");
    const char *g[] = { pat_glob };
    make_task(&t, g, 1);
    hs_result_init(&r);
    hs_ingest_results(&t, &r, &err);
    assert_int_equal(r.status, HS_SUSPECT);
    assert_string_equal(r.failure_class, "warnings");
    assert_int_equal(r.nwarnings, 2);
    assert_non_null(strstr(r.message, "results equal fp16"));
    assert_true(metric(&r, "results/ppl/wikitext2/ppl") == 6.16);
    hs_result_clear(&r);
    t.on_warnings = HS_WARN_IGNORE;
    hs_result_init(&r);
    hs_ingest_results(&t, &r, &err);
    assert_int_equal(r.status, HS_OK);
    hs_result_clear(&r);
    t.on_warnings = HS_WARN_FAIL;
    hs_result_init(&r);
    hs_ingest_results(&t, &r, &err);
    assert_int_equal(r.status, HS_FAILED);
    hs_result_clear(&r);
    hs_task_clear(&t);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", rundir);
    assert_int_equal(system(cmd), 0);
}

/* ---- bad input: what the fuzz corpus holds, with the values it must give ---- */

static json_object *parse_ok(const char *text)
{
    json_object *doc = NULL;
    hs_error err;
    if (hs_json_parse(text, strlen(text), "t.json", &doc, &err) < 0)
        fail_msg("%s", err.text);
    return doc;
}

static void flatten_text(const char *text, hs_result *r)
{
    json_object *doc = parse_ok(text);
    hs_error err;
    hs_result_init(r);
    if (hs_flatten_json(doc, r, NULL, 0, &err) < 0)
        fail_msg("%s", err.text);
    json_object_put(doc);
}

static void expect_text_error(const char *text, size_t len, const char *needle)
{
    json_object *doc = NULL;
    hs_error err;
    assert_int_equal(hs_json_parse(text, len, "t.json", &doc, &err), -1);
    if (strncmp(err.text, "t.json", 6) != 0 || !strstr(err.text, needle))
        fail_msg("'%s' does not name t.json or mention '%s'", err.text, needle);
}

static char *repeat(const char *open, const char *mid, const char *close, size_t n)
{
    size_t lo = strlen(open), lc = strlen(close), lm = strlen(mid);
    char *s = malloc(n * (lo + lc) + lm + 1), *p = s;
    for (size_t i = 0; i < n; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, mid, lm);
    p += lm;
    for (size_t i = 0; i < n; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return s;
}

static void test_python_numbers(void **state)
{
    (void)state;
    hs_result r;
    flatten_text("{\"a\": NaN, \"b\": Infinity, \"c\": -Infinity, \"big\": 1e400, \"z\": -0, "
                 "\"tiny\": 1e-400, \"huge\": 99999999999999999999999, \"s\": \"1e400\"}",
                 &r);
    assert_true(isnan(metric(&r, "a")));
    assert_true(isinf(metric(&r, "b")) && metric(&r, "b") > 0);
    assert_true(isinf(metric(&r, "c")) && metric(&r, "c") < 0);
    assert_true(isinf(metric(&r, "big")) && metric(&r, "big") > 0); /* as Python reads it */
    assert_true(metric(&r, "z") == 0 && metric(&r, "tiny") == 0);
    /* json-c clamps integers beyond 64 bits */
    assert_true(metric(&r, "huge") == 18446744073709551615.0);
    absent(&r, "s"); /* a string is a number only when finite */
    hs_result_clear(&r);
    /* a number at the top level ends with the text; "null" is a document without metrics */
    json_object *doc = parse_ok("42");
    assert_int_equal(json_object_get_int(doc), 42);
    json_object_put(doc);
    assert_null(parse_ok(" null "));
}

static void test_bad_text(void **state)
{
    (void)state;
    char *deep = repeat("[", "", "]", 10000);
    expect_text_error(deep, strlen(deep), "t.json:1:33: nested deeper than 32 levels");
    free(deep);
    deep = repeat("{\"a\":", "1", "}", 10000);
    expect_text_error(deep, strlen(deep), "nested deeper than 32 levels");
    free(deep);
    /* 32 levels, the leaf's included, are fine, and the leaf flattens */
    deep = repeat("{\"a\":", "1", "}", 31);
    hs_result r;
    flatten_text(deep, &r);
    assert_int_equal(r.nmetrics, 1);
    assert_int_equal(strlen(r.metric_names[0]), 31 * 2 - 1);
    hs_result_clear(&r);
    free(deep);
    expect_text_error("{\"a\": \"x\0y\"}", 12, "t.json:1:9: a NUL byte");
    expect_text_error("{\"a\": 1}\0junk", 13, "t.json:1:9: unexpected data after the JSON value");
    expect_text_error("{\"a\": [1, 2", 11, "t.json:1:12: unexpected end of the file (truncated?)");
    expect_text_error("{\"a\": 1.", 8, "truncated?");
    expect_text_error("{\"a\": -NaN}", 11, "t.json:1:8:");
    expect_text_error(" \n\t", 3, "t.json is empty");
    expect_text_error("", 0, "t.json is empty");
    /* the length is respected: nothing is read past it */
    char *exact = malloc(8);
    memcpy(exact, "{\"a\": 1}", 8);
    json_object *doc = NULL;
    hs_error err;
    assert_int_equal(hs_json_parse(exact, 8, "t.json", &doc, &err), 0);
    json_object_put(doc);
    free(exact);
}

static void test_names_are_utf8(void **state)
{
    (void)state;
    hs_result r;
    flatten_text(
        "{\"\xff\": 1, \"ok\xc3\": 2, \"a\xe2\x82\": {\"b\x80\": 3}, \"\xc3\xa9t\xc3\xa9\": 4, "
        "\"new\\nline\": 5, \"s/lash\": 6, \"x\\ud800\": 7, \"w\": \"9\xff\"}",
        &r);
    assert_true(metric(&r, "\xef\xbf\xbd") == 1);
    assert_true(metric(&r, "ok\xef\xbf\xbd") == 2);
    assert_true(metric(&r, "a\xef\xbf\xbd\xef\xbf\xbd/b\xef\xbf\xbd") == 3);
    assert_true(metric(&r, "\xc3\xa9t\xc3\xa9") == 4);
    assert_true(metric(&r, "new_line") == 5);
    assert_true(metric(&r, "s_lash") == 6);
    assert_true(metric(&r, "x\xef\xbf\xbd") == 7); /* json-c's own U+FFFD for a lone surrogate */
    absent(&r, "w");
    for (uint32_t i = 0; i < r.nmetrics; i++)
        assert_true(hs_utf8_valid(r.metric_names[i], strlen(r.metric_names[i])));
    hs_result_clear(&r);

    /* the first warning is one line of valid UTF-8, cut between characters */
    char w[13];
    json_object *doc =
        parse_ok("{\"warnings\": [\"a\\nb \xff \xc3\xa9\xc3\xa9\xc3\xa9\"], \"m\": 1}");
    hs_error err;
    hs_result_init(&r);
    assert_int_equal(hs_flatten_json(doc, &r, w, sizeof w, &err), 1);
    assert_string_equal(w, "a b \xef\xbf\xbd \xc3\xa9\xc3\xa9");
    assert_int_equal(r.nwarnings, 1);
    hs_result_clear(&r);
    json_object_put(doc);
}

/* A document of 1,000,000 keys parses and flattens in bounded time and memory: the run keeps
 * the first HS_MAX_METRICS and says so. */
static void test_million_keys(void **state)
{
    (void)state;
    const size_t n = 1000000;
    hs_buf b = { 0 };
    hs_buf_putc(&b, '{');
    for (size_t i = 0; i < n; i++)
        hs_buf_printf(&b, "%s\"metric_%zu\": %zu.5", i ? "," : "", i, i);
    hs_buf_putc(&b, '}');
    assert_non_null(b.data);
    double t0 = hs_monotonic();
    json_object *doc = NULL;
    hs_error err;
    assert_int_equal(hs_json_parse(b.data, b.len, "big.json", &doc, &err), 0);
    hs_buf_free(&b);
    assert_int_equal(json_object_object_length(doc), (int)n);
    /* the text went to json-c in chunks: keys and numbers cut by them came through whole */
    size_t i = 0;
    json_object_object_foreach(doc, key, val)
    {
        char want[32];
        snprintf(want, sizeof want, "metric_%zu", i);
        if (strcmp(key, want) != 0 || json_object_get_double(val) != (double)i + 0.5)
            fail_msg("key %zu: %s = %g", i, key, json_object_get_double(val));
        i++;
    }
    hs_result r;
    hs_result_init(&r);
    assert_int_equal(hs_flatten_json(doc, &r, NULL, 0, &err), -1);
    assert_non_null(strstr(err.text, "more than 10000 metrics"));
    assert_int_equal(r.nmetrics, HS_MAX_METRICS);
    hs_result_clear(&r);
    json_object_put(doc);
    double dt = hs_monotonic() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    print_message("1,000,000 keys: %.2f s, max RSS %ld MiB\n", dt, ru.ru_maxrss / 1024);
    assert_true(dt < 120); /* json-c parses about 5 us a key; ASan makes it 20 */
    assert_true(ru.ru_maxrss < 2L * 1024 * 1024); /* KiB: under 2 GiB, sanitizers included */
}

static char *write_in_rundir(const char *name, const char *text)
{
    char path[600];
    hs_error err;
    snprintf(path, sizeof path, "%s/%s", rundir, name);
    assert_int_equal(hs_write_file_atomic(path, text, strlen(text), &err), 0);
    return strdup(path);
}

static void test_ingest_limits(void **state)
{
    (void)state;
    snprintf(rundir, sizeof rundir, "/tmp/hs-test-result-XXXXXX");
    assert_non_null(mkdtemp(rundir));
    hs_error err;
    hs_result r;
    hs_task t;

    /* a result file over run.max_result_size: invalid_result, never read (a sparse file) */
    char big[600];
    snprintf(big, sizeof big, "%s/big.json", rundir);
    int fd = open(big, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 5000), 0);
    close(fd);
    const char *one[] = { big };
    make_task(&t, one, 1);
    t.max_result_size = 4096;
    hs_result_init(&r);
    assert_int_equal(hs_ingest_results(&t, &r, &err), 0);
    assert_int_equal(r.status, HS_INVALID_RESULT);
    assert_string_equal(r.failure_class, "result_too_large");
    if (!strstr(r.message, big) ||
        !strstr(r.message, "is 4.9 KiB (5000 bytes), over the limit of 4 KiB") ||
        !strstr(r.message, "run.max_result_size"))
        fail_msg("message: %s", r.message);
    assert_false(hs_failure_retryable(r.failure_class));
    hs_result_clear(&r);
    /* the default limit, 256 MiB: a sparse file one byte over it is refused at once */
    fd = open(big, O_WRONLY);
    assert_int_equal(ftruncate(fd, (256LL << 20) + 1), 0);
    close(fd);
    t.max_result_size = 0;
    hs_result_init(&r);
    double t0 = hs_monotonic();
    hs_ingest_results(&t, &r, &err);
    assert_true(hs_monotonic() - t0 < 1);
    assert_string_equal(r.failure_class, "result_too_large");
    assert_non_null(strstr(r.message, "(268435457 bytes), over the limit of 256 MiB"));
    hs_result_clear(&r);
    /* RUN_DIR/result.json, read without being declared, obeys the limit too */
    hs_task_clear(&t);
    make_task(&t, NULL, 0);
    t.max_result_size = 1024;
    char *dflt = write_in_rundir("result.json", "{\"a\": 1}");
    hs_result_init(&r);
    hs_ingest_results(&t, &r, &err);
    assert_int_equal(r.status, HS_OK);
    hs_result_clear(&r);
    fd = open(dflt, O_WRONLY);
    assert_int_equal(ftruncate(fd, 2048), 0);
    close(fd);
    hs_result_init(&r);
    hs_ingest_results(&t, &r, &err);
    assert_string_equal(r.failure_class, "result_too_large");
    hs_result_clear(&r);
    unlink(dflt);
    free(dflt);
    hs_task_clear(&t);

    /* more metrics than a run may have: too_many_metrics, naming the file */
    hs_buf b = { 0 };
    hs_buf_putc(&b, '{');
    for (int i = 0; i <= HS_MAX_METRICS; i++)
        hs_buf_printf(&b, "%s\"m%d\": %d", i ? "," : "", i, i);
    hs_buf_putc(&b, '}');
    char *many = write_in_rundir("many.json", hs_buf_str(&b));
    hs_buf_free(&b);
    const char *m[] = { many };
    make_task(&t, m, 1);
    hs_result_init(&r);
    assert_int_equal(hs_ingest_results(&t, &r, &err), 0);
    assert_int_equal(r.status, HS_INVALID_RESULT);
    assert_string_equal(r.failure_class, "too_many_metrics");
    assert_non_null(strstr(r.message, "many.json: more than 10000"));
    hs_result_clear(&r);
    hs_task_clear(&t);
    free(many);

    /* files matched by one pattern are read in name order: the last one's value wins */
    const char *names[] = { "p_3.json", "p_1.json", "p_9.json", "p_2.json", "p_7.json",
                            "p_5.json", "p_8.json", "p_4.json", "p_6.json" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"x\": %c}", names[i][2]);
        free(write_in_rundir(names[i], text));
    }
    char pat[600];
    snprintf(pat, sizeof pat, "%s/p_*.json", rundir);
    const char *g[] = { pat };
    make_task(&t, g, 1);
    hs_result_init(&r);
    hs_ingest_results(&t, &r, &err);
    assert_int_equal(r.status, HS_OK);
    assert_true(metric(&r, "x") == 9);
    hs_result_clear(&r);
    hs_task_clear(&t);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", rundir);
    assert_int_equal(system(cmd), 0);
}

static void test_failure_classes(void **state)
{
    (void)state;
    assert_false(hs_failure_retryable("missing_program"));
    assert_false(hs_failure_retryable("bad_params"));
    assert_false(hs_failure_retryable("import"));
    assert_true(hs_failure_retryable("nonzero_exit"));
    assert_true(hs_failure_retryable("oom"));
    assert_true(hs_failure_retryable("timeout"));
    assert_int_equal(hs_status_parse("invalid_result"), HS_INVALID_RESULT);
    assert_int_equal(hs_status_parse("bogus"), -1);
}

int main(void)
{
    snprintf(fixtures, sizeof fixtures, "%s/tests/fixtures/results", HS_SOURCE_DIR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ptq_bench),       cmocka_unit_test(test_lm_eval),
        cmocka_unit_test(test_llama_pruning),   cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_ingest_rules),    cmocka_unit_test(test_python_numbers),
        cmocka_unit_test(test_bad_text),        cmocka_unit_test(test_names_are_utf8),
        cmocka_unit_test(test_million_keys),    cmocka_unit_test(test_ingest_limits),
        cmocka_unit_test(test_failure_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
