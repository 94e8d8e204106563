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
    if (hs_json_read_file(path, &doc, &err) < 0)
        fail_msg("%s", err.text);
    hs_result_init(r);
    hs_flatten_json(doc, r, NULL, 0);
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
    assert_int_equal(hs_json_read_file(path, &doc, &err), -1);
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
        cmocka_unit_test(test_ptq_bench),     cmocka_unit_test(test_lm_eval),
        cmocka_unit_test(test_llama_pruning), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_ingest_rules),  cmocka_unit_test(test_failure_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
