/* The kvcache probe: KIVI on a tiny tensor worked out by hand, KVQuant's outliers, the bit
 * accounting, fp16 passkey retrieval, 2-bit versus 4-bit, and parameter errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu.h"
#include "kvcache.h"
#include "quant.h"

static void assert_floats(const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("[%zu]: got %.9g, want %.9g", i, (double)got[i], (double)want[i]);
}

/* Run the probe on the CPU with parameters given as JSON; NULL with *err filled on error. */
static json_object *run(const char *params_json, hs_error *err)
{
    json_object *params = json_tokener_parse(params_json);
    assert_non_null(params);
    json_object *result = json_object_new_object();
    int rc = hs_probe_run("kvcache", params, "cpu", result, err);
    json_object_put(params);
    if (rc < 0) {
        json_object_put(result);
        return NULL;
    }
    return result;
}

static json_object *run_ok(const char *params_json)
{
    hs_error err = { "" };
    json_object *r = run(params_json, &err);
    if (!r)
        fail_msg("%s: %s", params_json, err.text);
    return r;
}

static double num(json_object *r, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(r, key, &v))
        fail_msg("no metric %s", key);
    return json_object_get_double(v);
}

static void expect_error(const char *params_json, const char *needle)
{
    hs_error err = { "" };
    json_object *r = run(params_json, &err);
    if (r) {
        json_object_put(r);
        fail_msg("%s: ran; expected an error containing \"%s\"", params_json, needle);
    }
    if (!strstr(err.text, needle))
        fail_msg("%s: error \"%s\" does not contain \"%s\"", params_json, err.text, needle);
}

/* One head, 6 tokens, 4 channels, groups of 4, 2 bits, the last 2 tokens in fp16.
 * Keys, per channel over tokens 0..3:
 *   c0 [0, .5, 2.5, 3]: lo 0, s 1, q [0, 0, 2, 3] (both ties to even)  -> [0, 0, 2, 3]
 *   c1 [-1, 0, 2, .5]:  lo -1, s 1, (x+1) [0, 1, 3, 1.5] -> q [0, 1, 3, 2] -> [-1, 0, 2, 1]
 *   c2 [5, 5, 5, 5]:    constant -> 5
 *   c3 [1, 2, 4, 7]:    lo 1, s 2, (x-1)/2 [0, .5, 1.5, 3] -> q [0, 0, 2, 3] -> [1, 1, 5, 7]
 * Values, per token over the 4 channels:
 *   t0 [0, 1, 1.5, 3]:    lo 0, s 1 -> [0, 1, 2, 3]
 *   t1 [-2, -1.5, -.5, 4]: lo -2, s 2, (x+2)/2 [0, .25, .75, 3] -> [-2, -2, 0, 4]
 *   t2 [1, 1, 1, 1]:      constant
 *   t3 [10, 11, 12.5, 13]: lo 10, s 1, [0, 1, 2.5, 3] -> [10, 11, 12, 13] */
static void test_kivi_by_hand(void **state)
{
    (void)state;
    float k[24] = { 0, -1,   5, 1, 0.5f, 0, 5, 2, 2.5f, 2,      5, 4,
                    3, 0.5f, 5, 7, 7,    7, 7, 7, -3,   0.125f, 9, 1 };
    const float kw[24] = { 0, -1, 5, 1, 0, 0, 5, 1, 2,  2,      5, 5,
                           3, 1,  5, 7, 7, 7, 7, 7, -3, 0.125f, 9, 1 };
    float v[24] = { 0,  1,  1.5f,  3,  -2, -1.5f, -0.5f, 4, 1,     1,    1,     1,
                    10, 11, 12.5f, 13, 9,  9.5f,  -9,    0, 0.25f, 0.5f, 0.75f, 1 };
    const float vw[24] = { 0,  1,  2,  3,  -2, -2,   0,  4, 1,     1,    1,     1,
                           10, 11, 12, 13, 9,  9.5f, -9, 0, 0.25f, 0.5f, 0.75f, 1 };
    hs_kv_config cfg = { 0 };
    cfg.method = HS_KV_KIVI;
    cfg.tokens = 6;
    cfg.head_dim = 4;
    cfg.group_size = 4;
    cfg.residual_length = 2;
    cfg.k_bits = 2;
    cfg.v_bits = 2;
    hs_kv_stats st = { 0 };
    hs_error err = { "" };
    assert_int_equal(hs_kv_compress(&cfg, true, k, 1, &st, &err), 0);
    assert_int_equal(hs_kv_compress(&cfg, false, v, 1, &st, &err), 0);
    assert_floats(k, kw, 24);
    assert_floats(v, vw, 24);
    /* bits: 4 tokens x 4 channels x 2 bits + 4 groups x (16-bit scale + 16-bit zero)
     * + 2 fp16 tokens x 4 x 16 = 32 + 128 + 128 = 288, for keys and for values */
    assert_true(hs_kv_storage_bits(&cfg, true, 1, &st) == 288.0);
    assert_true(hs_kv_storage_bits(&cfg, false, 1, &st) == 288.0);
    /* 1 bit: every value becomes its group's min or max */
    float v1[24];
    memcpy(v1, vw, sizeof v1);
    v1[2] = 1.4f; /* t0 [0, 1, 1.4, 3]: s 3, (x-0)/3 -> [0, 0.33, 0.47, 1] -> [0, 0, 0, 3] */
    cfg.v_bits = 1;
    assert_int_equal(hs_kv_compress(&cfg, false, v1, 1, &st, &err), 0);
    assert_true(v1[0] == 0 && v1[1] == 0 && v1[2] == 0 && v1[3] == 3);
}

/* KVQuant keeps the num_outliers largest |x| of every token vector exact and quantizes the
 * rest per channel; sink tokens and the residual window stay as they are. */
static void test_kvquant_outliers(void **state)
{
    (void)state;
    enum { T = 64, D = 16 };
    float x[T * D], orig[T * D];
    hs_quant_rng r;
    hs_quant_rng_seed(&r, 3, 0);
    for (int i = 0; i < T * D; i++)
        orig[i] = x[i] = (float)hs_quant_rng_normal(&r);
    hs_kv_config cfg = { 0 };
    cfg.method = HS_KV_KVQUANT;
    cfg.tokens = T;
    cfg.head_dim = D;
    cfg.k_bits = 2;
    cfg.num_outliers = 2;
    cfg.sink_tokens = 3;
    cfg.residual_length = 5;
    hs_kv_stats st = { 0 };
    hs_error err = { "" };
    assert_int_equal(hs_kv_compress(&cfg, true, x, 1, &st, &err), 0);
    int changed = 0;
    for (int t = 0; t < T; t++) {
        /* the two largest |x| of this token, found here by sorting */
        int a = 0, b = -1;
        for (int c = 1; c < D; c++)
            if (fabsf(orig[t * D + c]) > fabsf(orig[t * D + a]))
                a = c;
        for (int c = 0; c < D; c++)
            if (c != a && (b < 0 || fabsf(orig[t * D + c]) > fabsf(orig[t * D + b])))
                b = c;
        for (int c = 0; c < D; c++) {
            bool same = x[t * D + c] == orig[t * D + c];
            if (t < 3 || t >= T - 5 || c == a || c == b)
                assert_true(same);
            else
                changed += !same;
        }
    }
    assert_true(changed > (T - 8) * (D - 2) / 2);
    /* bits: 56 quantized tokens x 16 x 2 + 16 channel groups x 32 + 56 x 2 outliers x
     * (16 + log2 16) + 8 fp16 tokens x 16 x 16 */
    double want = 56.0 * 16 * 2 + 16 * 32 + 56.0 * 2 * 20 + 8.0 * 16 * 16;
    assert_true(hs_kv_storage_bits(&cfg, true, 1, &st) == want);
}

static void test_rope_inverse(void **state)
{
    (void)state;
    enum { D = 8 };
    float *cs = hs_kv_rope_table(10, D, 10000.0);
    assert_non_null(cs);
    float x[D] = { 1, 2, 3, 4, 5, 6, 7, 8 }, y[D];
    memcpy(y, x, sizeof x);
    hs_kv_rope_apply(y, D, cs, 10, 7, false);
    /* rotation: the norm of each pair (i, i + D/2) is kept, the vector is changed */
    for (int i = 0; i < D / 2; i++)
        assert_true(fabs(hypot(x[i], x[i + D / 2]) - hypot(y[i], y[i + D / 2])) < 1e-5);
    assert_true(y[0] != x[0]);
    hs_kv_rope_apply(y, D, cs, 10, 7, true);
    for (int i = 0; i < D; i++)
        assert_true(fabsf(y[i] - x[i]) < 1e-5f);
    /* position 0 is the identity */
    memcpy(y, x, sizeof x);
    hs_kv_rope_apply(y, D, cs, 10, 0, false);
    assert_memory_equal(x, y, sizeof x);
    free(cs);
}

static void test_fp16_passkey_all_retrieved(void **state)
{
    (void)state;
    json_object *r = run_ok("{\"method\": \"fp16\"}");
    assert_true(num(r, "passkey_acc") == 1.0);
    assert_true(num(r, "passkey_acc_d10") == 1.0);
    assert_true(num(r, "passkey_acc_d25") == 1.0);
    assert_true(num(r, "passkey_acc_d50") == 1.0);
    assert_true(num(r, "passkey_acc_d75") == 1.0);
    assert_true(num(r, "passkey_total") == 40.0);
    assert_true(num(r, "passkey_correct") == 40.0);
    assert_true(num(r, "bits_per_value") == 16.0);
    assert_true(num(r, "compression_ratio") == 1.0);
    /* the fp16 cast is not free: the error is that of fp16 rounding (2^-11 relative) */
    assert_true(num(r, "k_rel_err") > 0 && num(r, "k_rel_err") < 1e-3);
    json_object_put(r);
    /* a harder margin and another seed: still every needle */
    r = run_ok("{\"method\": \"fp16\", \"passkey_margin\": 0.1, \"seed\": 5, \"passkeys\": 25, "
               "\"tokens\": 512}");
    assert_true(num(r, "passkey_acc") == 1.0);
    assert_true(num(r, "passkey_total") == 100.0);
    json_object_put(r);
}

static void test_kivi_2bit_worse_than_4bit(void **state)
{
    (void)state;
    json_object *r2 = run_ok("{\"method\": \"kivi\", \"k_bits\": 2, \"v_bits\": 2}");
    json_object *r4 = run_ok("{\"method\": \"kivi\", \"k_bits\": 4, \"v_bits\": 4}");
    json_object *r16 = run_ok("{\"method\": \"fp16\"}");
    const char *m[] = { "k_rel_err", "v_rel_err", "attn_out_rel_err", "attn_kl" };
    for (int i = 0; i < 4; i++) {
        if (!(num(r2, m[i]) > num(r4, m[i])))
            fail_msg("%s: 2-bit %g is not above 4-bit %g", m[i], num(r2, m[i]), num(r4, m[i]));
        if (!(num(r4, m[i]) > num(r16, m[i])))
            fail_msg("%s: 4-bit %g is not above fp16 %g", m[i], num(r4, m[i]), num(r16, m[i]));
    }
    assert_true(num(r2, "passkey_acc") <= num(r4, "passkey_acc"));
    assert_true(num(r2, "bits_per_value") < num(r4, "bits_per_value"));
    /* 4-bit KIVI, g32, residual 128 of 1024: (896 (4 + 32/32) + 128 x 16) / 1024 = 6.375 */
    assert_true(fabs(num(r4, "bits_per_value") - 6.375) < 1e-12);
    json_object_put(r2);
    json_object_put(r4);
    json_object_put(r16);
}

/* Every method changes the cache (none silently equals fp16), the aliases are the same
 * parameter, and the fp16 residual window shows in the error. */
static void test_methods_do_something(void **state)
{
    (void)state;
    json_object *f = run_ok("{\"method\": \"fp16\", \"tokens\": 256, \"heads\": 2}");
    const char *runs[] = {
        "{\"method\": \"kivi\", \"tokens\": 256, \"heads\": 2}",
        "{\"method\": \"kvquant\", \"tokens\": 256, \"heads\": 2}",
        "{\"method\": \"forge\", \"tokens\": 256, \"heads\": 2}",
        "{\"method\": \"kivi\", \"tokens\": 256, \"heads\": 2, \"rope\": \"pre\"}",
        "{\"method\": \"kvquant\", \"tokens\": 256, \"heads\": 2, \"rope\": \"post\"}",
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        json_object *r = run_ok(runs[i]);
        if (!(num(r, "k_rel_err") > 10 * num(f, "k_rel_err")))
            fail_msg("%s: k_rel_err %g vs fp16 %g", runs[i], num(r, "k_rel_err"),
                     num(f, "k_rel_err"));
        assert_true(num(r, "bits_per_value") < 16.0 || strstr(runs[i], "forge"));
        json_object_put(r);
    }
    json_object *a = run_ok("{\"method\": \"kvquant\", \"tokens\": 256, \"heads\": 2, "
                            "\"key_bits\": 3, \"value_bits\": 4}");
    json_object *b = run_ok("{\"method\": \"kvquant\", \"tokens\": 256, \"heads\": 2, "
                            "\"k_bits\": 3, \"v_bits\": 4}");
    assert_true(num(a, "k_rel_err") == num(b, "k_rel_err"));
    assert_true(num(a, "v_rel_err") == num(b, "v_rel_err"));
    json_object_put(a);
    json_object_put(b);
    /* bits sets both */
    a = run_ok("{\"method\": \"kivi\", \"tokens\": 256, \"heads\": 2, \"bits\": 3}");
    b = run_ok("{\"method\": \"kivi\", \"tokens\": 256, \"heads\": 2, \"k_bits\": 3, "
               "\"v_bits\": 3}");
    assert_true(num(a, "k_rel_err") == num(b, "k_rel_err"));
    assert_true(num(a, "v_rel_err") == num(b, "v_rel_err"));
    json_object_put(a);
    json_object_put(b);
    /* the whole cache in the residual window: nothing quantized, and a warning says so */
    json_object *w = run_ok("{\"method\": \"kivi\", \"tokens\": 64, \"residual_length\": 64}");
    assert_true(num(w, "k_rel_err") < 1e-3 && num(w, "bits_per_value") == 16.0);
    json_object *warnings;
    assert_true(json_object_object_get_ex(w, "warnings", &warnings));
    assert_int_equal(json_object_array_length(warnings), 1);
    json_object_put(w);
    json_object_put(f);
}

/* KVQuant quantizes keys before RoPE, KIVI after, unless rope says otherwise; with outlier
 * channels, quantizing before the rotation is the better choice (KVQuant's point). */
static void test_rope_modes(void **state)
{
    (void)state;
    const char *base = "\"tokens\": 256, \"heads\": 2";
    char p[256];
    double e[2][3];
    const char *methods[2] = { "kvquant", "kivi" }, *modes[3] = { "auto", "pre", "post" };
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "{\"method\": \"%s\", \"rope\": \"%s\", %s}", methods[m],
                     modes[i], base);
            json_object *r = run_ok(p);
            e[m][i] = num(r, "k_rel_err");
            json_object_put(r);
        }
    assert_true(e[0][0] == e[0][1]); /* kvquant: auto is pre */
    assert_true(e[1][0] == e[1][2]); /* kivi: auto is post */
    assert_true(e[0][1] < e[0][2]);
    assert_true(e[1][1] < e[1][2]);
}

static void test_forge_ranks(void **state)
{
    (void)state;
    json_object *lo = run_ok("{\"method\": \"forge\", \"energy_threshold\": 0.5, \"tokens\": "
                             "256, \"heads\": 2, \"chunk_size\": 32}");
    json_object *hi = run_ok("{\"method\": \"forge\", \"energy_threshold\": 0.99, \"tokens\": "
                             "256, \"heads\": 2, \"chunk_size\": 32}");
    json_object *cl = run_ok("{\"method\": \"forge\", \"energy_threshold\": 0.99, \"tokens\": "
                             "256, \"heads\": 2, \"chunk_size\": 32, \"max_rank\": 3}");
    assert_true(num(lo, "k_rank_mean") < num(hi, "k_rank_mean"));
    assert_true(num(lo, "k_rel_err") > num(hi, "k_rel_err"));
    assert_true(num(cl, "k_rank_mean") == 3.0 && num(cl, "v_rank_mean") == 3.0);
    /* rank 3 chunks of 32 x 128: 3 (32 + 128) x 16 bits + 8 bits per 32 x 128 values */
    assert_true(fabs(num(cl, "bits_per_value") - (3.0 * 160 * 16 + 8) / (32.0 * 128)) < 1e-12);
    json_object_put(lo);
    json_object_put(hi);
    json_object_put(cl);
}

static void test_parameter_errors(void **state)
{
    (void)state;
    expect_error("{}", "parameter method is required");
    expect_error("{\"method\": \"kiwi\"}", "is not one of: fp16, kivi, kvquant, forge");
    expect_error("{\"method\": \"kivi\", \"k_bitz\": 2}", "no parameter 'k_bitz'");
    expect_error("{\"method\": \"kivi\", \"k_bits\": 9}", "k_bits = 9 is out of range [1, 8]");
    expect_error("{\"method\": \"kivi\", \"k_bits\": 2.5}", "k_bits = 2.5 must be an integer");
    expect_error("{\"method\": \"kivi\", \"chunk_size\": 16}",
                 "chunk_size applies to method forge");
    expect_error("{\"method\": \"fp16\", \"group_size\": 16}",
                 "group_size applies to method kivi, kvquant, not fp16");
    expect_error("{\"method\": \"kivi\", \"k_bits\": 2, \"key_bits\": 2}", "give one");
    expect_error("{\"method\": \"kivi\", \"bits\": 4, \"v_bits\": 2}",
                 "parameters bits and v_bits are both given");
    expect_error("{\"method\": \"forge\", \"bits\": 4}", "bits applies to method kivi, kvquant");
    expect_error("{\"method\": \"kivi\", \"head_dim\": 63}", "head_dim = 63 must be even");
    expect_error("{\"method\": \"kivi\", \"residual_length\": 5000}",
                 "residual_length = 5000 is out of range [0, 1024]");
    expect_error("{\"method\": \"forge\", \"min_rank\": 8, \"max_rank\": 4}",
                 "max_rank = 4 is below min_rank = 8");
    expect_error("{\"method\": \"forge\", \"chunk_size\": 4, \"min_rank\": 5}",
                 "min_rank = 5 exceeds the full rank");
    expect_error("{\"method\": \"forge\", \"energy_threshold\": 1.5}", "energy_threshold = 1.5");
    expect_error("{\"method\": \"kvquant\", \"num_outliers\": 128}", "num_outliers = 128");
    expect_error("{\"method\": \"fp16\", \"rope\": \"sideways\"}", "rope = \"sideways\"");
    expect_error("{\"method\": \"fp16\", \"heads\": 4096, \"tokens\": 1048576}", "2^30");
    /* labels are ignored */
    json_object *r = run_ok("{\"method\": \"fp16\", \"_note\": \"baseline\", \"tokens\": 64, "
                            "\"passkeys\": 0}");
    assert_false(json_object_object_get_ex(r, "passkey_acc", NULL));
    json_object_put(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kivi_by_hand),
        cmocka_unit_test(test_kvquant_outliers),
        cmocka_unit_test(test_rope_inverse),
        cmocka_unit_test(test_fp16_passkey_all_retrieved),
        cmocka_unit_test(test_kivi_2bit_worse_than_4bit),
        cmocka_unit_test(test_methods_do_something),
        cmocka_unit_test(test_rope_modes),
        cmocka_unit_test(test_forge_ranks),
        cmocka_unit_test(test_parameter_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
