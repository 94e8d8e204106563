/* The CUDA versions of the kvcache and weightquant probes against their CPU references.
 * Skips (77) when the build has no CUDA or no GPU is visible.
 *
 * Tolerances, and why:
 * - fp16, KIVI, KVQuant and RTN (and AWQ at a fixed alpha) use the same float operations in
 *   the same order on both sides (the kernels use _rn intrinsics, so no FMA contraction):
 *   every value within 1e-6 relative; they are expected to be bit-identical.
 * - FORGE: cuSOLVER's gesvda and LAPACK's gesdd differ in the last bits of the singular
 *   values and vectors: the sum of chunk ranks within 1%, the two reconstructions within
 *   1e-3 of the input's norm.
 * - Attention metrics go through cuBLAS and OpenBLAS GEMMs summed in different orders:
 *   attn_out_rel_err within 1e-3 relative, attn_kl within 1e-2 relative + 1e-6, passkey
 *   retrieval within one needle of 40.
 * - GPTQ and AWQ's search: Cholesky factors and GEMMs differ in the last bits, which can flip
 *   a weight to the neighbouring level and, for AWQ, a near-tie between two alphas: weight
 *   and output errors within 2% relative, alpha within one grid step. */
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
#include "weightquant.h"

static void assert_close(const float *gpu, const float *cpu, size_t n, double rel, const char *what)
{
    size_t bad = 0, differ = 0, worst = 0;
    double worst_d = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)gpu[i] - cpu[i]);
        differ += gpu[i] != cpu[i];
        if (d > rel * (1.0 + fabs(cpu[i]))) {
            bad++;
            if (d > worst_d) {
                worst_d = d;
                worst = i;
            }
        }
    }
    printf("  %s: %zu of %zu values differ at all\n", what, differ, n);
    if (bad)
        fail_msg("%s: %zu of %zu values beyond %g relative; worst [%zu] gpu %.9g cpu %.9g", what,
                 bad, n, rel, worst, (double)gpu[worst], (double)cpu[worst]);
}

static void assert_rel(double gpu, double cpu, double rel, double abs_tol, const char *what)
{
    if (fabs(gpu - cpu) > rel * fabs(cpu) + abs_tol)
        fail_msg("%s: gpu %.9g, cpu %.9g (tolerance %g relative + %g)", what, gpu, cpu, rel,
                 abs_tol);
}

static hs_kv_config kv_base(hs_kv_method m)
{
    hs_kv_config c = { 0 };
    c.method = m;
    c.heads = 4;
    c.tokens = 512;
    c.head_dim = 128;
    c.queries = 16;
    c.passkeys = 10;
    c.seed = 3;
    c.rope_base = 10000;
    c.outlier_channels = 4;
    c.outlier_scale = 8;
    c.logit_std = 2;
    c.passkey_margin = 0.5;
    c.k_bits = 2;
    c.v_bits = 3;
    c.group_size = 32;
    c.residual_length = 64;
    c.num_outliers = 2;
    c.sink_tokens = 4;
    c.chunk_size = 32;
    c.energy_threshold = 0.95;
    c.min_rank = 2;
    c.max_rank = 32;
    return c;
}

static void compare_compress(const hs_kv_config *c, bool is_key, double rel, const char *what)
{
    hs_kv_data D;
    hs_error err = { "" };
    if (hs_kv_data_build(c, &D, &err) < 0)
        fail_msg("%s", err.text);
    size_t n = D.H * D.T * D.d;
    float *cpu = malloc(n * sizeof *cpu), *gpu = malloc(n * sizeof *gpu);
    assert_non_null(cpu);
    assert_non_null(gpu);
    memcpy(cpu, is_key ? D.k_in : D.v_in, n * sizeof *cpu);
    memcpy(gpu, cpu, n * sizeof *gpu);
    hs_kv_stats sc = { 0 }, sg = { 0 };
    if (hs_kv_compress_on(c, is_key, cpu, D.H, false, &sc, &err) < 0 ||
        hs_kv_compress_on(c, is_key, gpu, D.H, true, &sg, &err) < 0)
        fail_msg("%s: %s", what, err.text);
    if (c->method == HS_KV_FORGE) {
        assert_int_equal(sc.chunks, sg.chunks);
        assert_rel((double)sg.rank_sum, (double)sc.rank_sum, 0.01, 0, "forge rank sum");
        double e2 = 0, r2 = 0;
        const float *in = is_key ? D.k_in : D.v_in;
        for (size_t i = 0; i < n; i++) {
            e2 += ((double)gpu[i] - cpu[i]) * ((double)gpu[i] - cpu[i]);
            r2 += (double)in[i] * in[i];
        }
        printf("  %s: ranks %lld vs %lld, reconstructions differ by %.3g of the input\n", what,
               sg.rank_sum, sc.rank_sum, sqrt(e2 / r2));
        if (sqrt(e2 / r2) > 1e-3)
            fail_msg("%s: reconstructions differ by %g of the input's norm", what, sqrt(e2 / r2));
    } else {
        assert_close(gpu, cpu, n, rel, what);
    }
    free(cpu);
    free(gpu);
    hs_kv_data_free(&D);
}

static void test_kv_compressors(void **state)
{
    (void)state;
    hs_kv_config c = kv_base(HS_KV_FP16);
    compare_compress(&c, true, 0, "fp16 keys");
    c = kv_base(HS_KV_KIVI);
    compare_compress(&c, true, 1e-6, "kivi keys (per channel)");
    compare_compress(&c, false, 1e-6, "kivi values (per token)");
    c.group_size = 0;
    c.k_bits = 4;
    compare_compress(&c, true, 1e-6, "kivi keys, one group, 4 bits");
    c = kv_base(HS_KV_KVQUANT);
    c.keys_pre_rope = true;
    compare_compress(&c, true, 1e-6, "kvquant keys (outliers, sinks)");
    compare_compress(&c, false, 1e-6, "kvquant values");
    c = kv_base(HS_KV_FORGE);
    compare_compress(&c, true, 0, "forge keys, chunks 32 x 128");
    c.chunk_size = 256; /* chunks taller than wide: the transposed path */
    c.max_rank = 64;
    compare_compress(&c, false, 0, "forge values, chunks 256 x 128");
}

static json_object *probe(const char *name, const char *params, const char *device)
{
    json_object *p = json_tokener_parse(params), *r = json_object_new_object();
    assert_non_null(p);
    hs_error err = { "" };
    if (hs_probe_run(name, p, device, r, &err) < 0)
        fail_msg("%s %s on %s: %s", name, params, device, err.text);
    json_object_put(p);
    return r;
}

static double num(json_object *r, const char *k)
{
    json_object *v;
    if (!json_object_object_get_ex(r, k, &v))
        fail_msg("no metric %s", k);
    return json_object_get_double(v);
}

static void test_kv_probe(void **state)
{
    (void)state;
    const char *runs[] = {
        "{\"method\": \"fp16\"}",
        "{\"method\": \"kivi\", \"k_bits\": 2, \"residual_length\": 32}",
        "{\"method\": \"kvquant\", \"num_outliers\": 2, \"sink_tokens\": 4}",
        "{\"method\": \"kivi\", \"rope\": \"pre\"}",
        "{\"method\": \"forge\", \"chunk_size\": 64, \"energy_threshold\": 0.9}",
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        json_object *c = probe("kvcache", runs[i], "cpu"), *g = probe("kvcache", runs[i], "cuda");
        bool forge = strstr(runs[i], "forge") != NULL;
        printf("  %s: attn_out_rel_err cpu %.6g gpu %.6g, passkey %g / %g, time %.3f / %.3f s\n",
               runs[i], num(c, "attn_out_rel_err"), num(g, "attn_out_rel_err"),
               num(c, "passkey_correct"), num(g, "passkey_correct"), num(c, "time_s"),
               num(g, "time_s"));
        assert_rel(num(g, "k_rel_err"), num(c, "k_rel_err"), forge ? 1e-2 : 1e-6, 0, "k_rel_err");
        assert_rel(num(g, "v_rel_err"), num(c, "v_rel_err"), forge ? 1e-2 : 1e-6, 0, "v_rel_err");
        assert_rel(num(g, "attn_out_rel_err"), num(c, "attn_out_rel_err"), forge ? 2e-2 : 1e-3, 0,
                   "attn_out_rel_err");
        assert_rel(num(g, "attn_kl"), num(c, "attn_kl"), forge ? 5e-2 : 1e-2, 1e-6, "attn_kl");
        assert_rel(num(g, "passkey_correct"), num(c, "passkey_correct"), 0, forge ? 2 : 1,
                   "passkey_correct");
        if (!forge)
            assert_true(num(g, "bits_per_value") == num(c, "bits_per_value"));
        json_object *dev;
        assert_true(json_object_object_get_ex(g, "device", &dev));
        assert_string_equal(json_object_get_string(dev), "cuda");
        json_object_put(c);
        json_object_put(g);
    }
}

static void test_weight_quantizers(void **state)
{
    (void)state;
    hs_wq_config c = { 0 };
    c.in_features = 512;
    c.out_features = 256;
    c.calib_tokens = 1024;
    c.eval_tokens = 64;
    c.outlier_channels = 8;
    c.outlier_scale = 20;
    c.bits = 4;
    c.group_size = 128;
    c.awq_grid = 20;
    c.damp = 0.01;
    c.block_size = 128;
    hs_wq_data D;
    hs_error err = { "" };
    assert_int_equal(hs_wq_data_build(&c, &D, &err), 0);
    size_t n = D.rows * D.cols;
    float *cpu = malloc(n * sizeof *cpu), *gpu = malloc(n * sizeof *gpu);
    assert_non_null(cpu);
    assert_non_null(gpu);
    struct {
        hs_wq_method m;
        hs_quant_scheme s;
        int bits, group;
        double alpha;
        const char *what;
    } cases[] = {
        { HS_WQ_FP16, HS_QUANT_ASYM, 4, 128, -1, "fp16" },
        { HS_WQ_RTN, HS_QUANT_ASYM, 4, 128, -1, "rtn asym w4 g128" },
        { HS_WQ_RTN, HS_QUANT_SYM, 3, -1, -1, "rtn sym w3 per-row" },
        { HS_WQ_RTN, HS_QUANT_ASYM, 2, 48, -1, "rtn asym w2 g48 (partial group)" },
        { HS_WQ_AWQ, HS_QUANT_ASYM, 4, 128, 0.5, "awq alpha 0.5" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c.method = cases[i].m;
        c.scheme = cases[i].s;
        c.bits = cases[i].bits;
        c.group_size = cases[i].group;
        c.alpha = cases[i].alpha;
        double ac = -1, ag = -1;
        if (hs_wq_quantize_on(&c, &D, cpu, &ac, false, &err) < 0 ||
            hs_wq_quantize_on(&c, &D, gpu, &ag, true, &err) < 0)
            fail_msg("%s: %s", cases[i].what, err.text);
        assert_close(gpu, cpu, n, 1e-6, cases[i].what);
    }
    free(cpu);
    free(gpu);
    hs_wq_data_free(&D);
}

static void test_weight_probe(void **state)
{
    (void)state;
    const char *runs[] = {
        "{\"method\": \"gptq\", \"bits\": 4}",
        "{\"method\": \"gptq\", \"bits\": 3, \"act_order\": true, \"group_size\": 64}",
        "{\"method\": \"gptq\", \"bits\": 3, \"group_size\": -1, \"scheme\": \"sym\"}",
        "{\"method\": \"awq\", \"bits\": 3}",
        "{\"method\": \"rtn\", \"bits\": 4}",
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        json_object *c = probe("weightquant", runs[i], "cpu");
        json_object *g = probe("weightquant", runs[i], "cuda");
        printf("  %s: out_rel_err cpu %.6g gpu %.6g, time %.3f / %.3f s\n", runs[i],
               num(c, "out_rel_err"), num(g, "out_rel_err"), num(c, "time_s"), num(g, "time_s"));
        assert_rel(num(g, "w_rel_err"), num(c, "w_rel_err"), 0.02, 0, "w_rel_err");
        assert_rel(num(g, "out_rel_err"), num(c, "out_rel_err"), 0.02, 0, "out_rel_err");
        if (strstr(runs[i], "awq"))
            assert_rel(num(g, "awq_alpha"), num(c, "awq_alpha"), 0, 0.05 + 1e-9, "awq_alpha");
        json_object_put(c);
        json_object_put(g);
    }
}

int main(void)
{
    if (!hs_gpu_built_with_cuda()) {
        printf("skipped: this build has no CUDA\n");
        return 77;
    }
    hs_gpu_device *devs = NULL;
    int n = hs_gpu_list(&devs, NULL);
    free(devs);
    if (n <= 0) {
        printf("skipped: no GPU is visible\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_compressors),
        cmocka_unit_test(test_kv_probe),
        cmocka_unit_test(test_weight_quantizers),
        cmocka_unit_test(test_weight_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
