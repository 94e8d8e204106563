/* The prune probe through hs_probe_run: strict parameters with clear messages and errno
 * EINVAL, and a result with the documented metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu.h"

/* Run with params given as JSON text; returns hs_probe_run's value, errno in *e. */
static int run(const char *json, const char *device, json_object **result, hs_error *err, int *e)
{
    json_object *params = json_tokener_parse(json);
    assert_non_null(params);
    *result = json_object_new_object();
    errno = 0;
    int rc = hs_probe_run("prune", params, device, *result, err);
    *e = errno;
    json_object_put(params);
    return rc;
}

static void expect_invalid(const char *json, const char *const *words)
{
    json_object *result;
    hs_error err;
    int e;
    assert_int_equal(run(json, "cpu", &result, &err, &e), -1);
    if (e != EINVAL)
        fail_msg("%s: errno %d, not EINVAL (%s)", json, e, err.text);
    for (const char *const *w = words; *w; w++)
        if (!strstr(err.text, *w))
            fail_msg("%s: message \"%s\" does not mention \"%s\"", json, err.text, *w);
    json_object_put(result);
}

static void test_unknown_parameter(void **state)
{
    (void)state;
    const char *words[] = { "probe prune", "spasity", "sparsity", NULL };
    expect_invalid("{\"spasity\": 0.5}", words);
}

static void test_out_of_range(void **state)
{
    (void)state;
    const char *w1[] = { "sparsity", "1.5", "out of range", NULL };
    expect_invalid("{\"sparsity\": 1.5}", w1);
    const char *w2[] = { "taylor_seq_len", "0", "out of range", NULL };
    expect_invalid("{\"taylor_seq_len\": 0}", w2);
    const char *w3[] = { "taylor_num_samples", "integer", NULL };
    expect_invalid("{\"taylor_num_samples\": 12.5}", w3);
    const char *w4[] = { "taylor_seq_len", "taylor_num_samples", "limit", NULL };
    expect_invalid("{\"taylor_seq_len\": 8192, \"taylor_num_samples\": 8192}", w4);
}

static void test_wrong_choice(void **state)
{
    (void)state;
    const char *w1[] = { "profile", "gemma", "llama", "qwen", "mistral", NULL };
    expect_invalid("{\"profile\": \"gemma\"}", w1);
    const char *w2[] = { "method", "global", "taylor", "layerwise", "blockwise", NULL };
    expect_invalid("{\"method\": \"random\"}", w2);
    const char *w3[] = { "importance", "must be a string", NULL };
    expect_invalid("{\"importance\": 3}", w3);
}

static void test_unknown_probe_and_device(void **state)
{
    (void)state;
    json_object *params = json_object_new_object(), *result = json_object_new_object();
    hs_error err;
    errno = 0;
    assert_int_equal(hs_probe_run("prunee", params, "cpu", result, &err), -1);
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(err.text, "prunee"));
    assert_non_null(strstr(err.text, "prune"));
    errno = 0;
    assert_int_equal(hs_probe_run("prune", params, "tpu", result, &err), -1);
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(err.text, "tpu"));
    json_object_put(params);
    json_object_put(result);
}

static double number(json_object *result, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(result, key, &v))
        fail_msg("result has no \"%s\"", key);
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        fail_msg("result \"%s\" is not a number", key);
    return json_object_get_double(v);
}

static void test_result_metrics(void **state)
{
    (void)state;
    json_object *result;
    hs_error err;
    int e;
    /* labels ('_' names) are accepted and ignored */
    assert_int_equal(run("{\"profile\": \"qwen\", \"method\": \"layerwise\", \"sparsity\": 0.3,"
                         "\"taylor_seq_len\": 16, \"taylor_num_samples\": 32, \"_label\": \"x\","
                         "\"eval_num_samples\": 4}",
                         "cpu", &result, &err, &e),
                     0);
    double s = number(result, "achieved_sparsity");
    double weights = number(result, "weights");
    assert_true(fabs(s - 0.3) * weights <= 0.5); /* within one weight */
    double top1 = number(result, "top1_agreement");
    assert_true(top1 > 0 && top1 <= 1);
    double cosine = number(result, "cosine"), rel = number(result, "rel_err");
    assert_true(cosine > 0 && cosine <= 1 + 1e-12 && rel > 0);
    /* pruning can only move away from the dense model's distribution */
    assert_true(number(result, "proxy_ppl") >= number(result, "proxy_ppl_dense"));
    assert_true(number(result, "kl_div") >= 0);
    assert_true(number(result, "grad_mean_ratio") >= 1);
    assert_true(number(result, "grad_norm_ratio") >= 1);
    assert_true(number(result, "time_s") > 0);
    assert_int_equal((int)number(result, "calib_tokens"), 16 * 32);
    /* layerwise: every layer at the same rate, so none above 0.5 */
    assert_int_equal((int)number(result, "extreme_pruning_layers"), 0);
    for (int l = 0; l < 12; l++) {
        char key[32];
        snprintf(key, sizeof key, "layer_rate/%d", l);
        assert_true(fabs(number(result, key) - 0.3) <= 1.0 / 4096);
    }
    json_object *dev;
    assert_true(json_object_object_get_ex(result, "device", &dev));
    assert_string_equal(json_object_get_string(dev), "cpu");
    assert_true(json_object_object_get_ex(result, "warnings", &dev));
    assert_int_equal(json_object_array_length(dev), 0);
    json_object_put(result);
}

/* magnitude uses no calibration: no gradient metrics, rather than made-up ones */
static void test_magnitude_has_no_gradients(void **state)
{
    (void)state;
    json_object *result, *v;
    hs_error err;
    int e;
    assert_int_equal(
        run("{\"importance\": \"magnitude\", \"eval_num_samples\": 2}", "cpu", &result, &err, &e),
        0);
    assert_false(json_object_object_get_ex(result, "grad_norm_ratio", &v));
    assert_false(json_object_object_get_ex(result, "calib_loss", &v));
    assert_int_equal((int)number(result, "calib_tokens"), 0);
    json_object_put(result);
}

/* same parameters, same numbers; another seed, another calibration set */
static void test_deterministic(void **state)
{
    (void)state;
    json_object *a, *b, *c;
    hs_error err;
    int e;
    const char *p =
        "{\"profile\": \"mistral\", \"taylor_num_samples\": 16, \"eval_num_samples\": 2,"
        "\"seed\": 3}";
    assert_int_equal(run(p, "cpu", &a, &err, &e), 0);
    assert_int_equal(run(p, "cpu", &b, &err, &e), 0);
    assert_int_equal(run("{\"profile\": \"mistral\", \"taylor_num_samples\": 16,"
                         "\"eval_num_samples\": 2, \"seed\": 4}",
                         "cpu", &c, &err, &e),
                     0);
    assert_true(number(a, "calib_loss") == number(b, "calib_loss"));
    assert_true(number(a, "rel_err") == number(b, "rel_err"));
    assert_true(number(a, "calib_loss") != number(c, "calib_loss"));
    json_object_put(a);
    json_object_put(b);
    json_object_put(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_parameter), cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_wrong_choice),      cmocka_unit_test(test_unknown_probe_and_device),
        cmocka_unit_test(test_result_metrics),    cmocka_unit_test(test_magnitude_has_no_gradients),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
