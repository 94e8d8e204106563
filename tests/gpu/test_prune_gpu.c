/* The prune probe's CUDA backend against its CPU reference, on the same model and data.
 * Skips (77) in a build without CUDA or where no GPU is visible.
 *
 * Tolerances (both sides fp32; they differ in summation order, FMA contraction and the
 * chunked reductions, nothing else):
 *   - forward: hidden state and logits, relative error (Frobenius) <= 1e-5;
 *   - statistics per layer: in_sq, grad_sq, fisher <= 1e-4; the mean gradient, a sum with
 *     cancellation, <= 1e-3; the calibration loss <= 1e-5;
 *   - importance per layer <= 1e-3; masks identical except for weights whose CPU score lies
 *     within 1e-3 (relative) of the CPU cut-off, and at most 0.1% of the weights;
 *   - the whole probe: top1_agreement within 0.01, proxy_ppl and rel_err within 1%. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "prune.h"

static const char *const profiles[] = { "llama", "qwen", "mistral" };

static double rel_f(const float *a, const float *b, long n)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static double rel_d(const double *a, const double *b, long n)
{
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

#define CHECK_REL(what, err_, tol)                                                                 \
    do {                                                                                           \
        double e_ = (err_);                                                                        \
        if (!(e_ <= (tol)))                                                                        \
            fail_msg("%s: %s relative error %.3e > %.0e", profile, what, e_, (double)(tol));       \
    } while (0)

static void compare_profile(const char *profile)
{
    const prune_backend_ops *cpu = prune_backend_find("cpu"), *gpu = prune_backend_find("cuda");
    prune_model m;
    prune_data g;
    prune_stats sc, sg;
    hs_error err;
    const int seq_len = 32, nseq = 128;
    unsigned want = PRUNE_WANT_GRAD | PRUNE_WANT_FISHER;
    assert_non_null(gpu);
    assert_int_equal(prune_profile_build(profile, &m, &g, &err), 0);
    int T = prune_chunk_seqs(seq_len) * seq_len, d = m.d, V = m.vocab, nl = prune_nlayers(&m);
    prune_backend *bc = cpu->create(&m, T, want, &err);
    prune_backend *bg = gpu->create(&m, T, want, &err);
    if (!bg)
        fail_msg("%s: CUDA backend: %s", profile, err.text);
    assert_non_null(bc);
    float *x = malloc(sizeof(float) * T * d);
    float *yc = malloc(sizeof(float) * T * d), *yg = malloc(sizeof(float) * T * d);
    float *zc = malloc(sizeof(float) * T * V), *zg = malloc(sizeof(float) * T * V);
    for (int s = 0; s < T / seq_len; s++)
        prune_data_sequence(&g, PRUNE_HELD_OUT, (uint64_t)s, seq_len, x + (size_t)s * seq_len * d);
    assert_int_equal(cpu->forward(bc, x, T, yc, zc, &err), 0);
    assert_int_equal(gpu->forward(bg, x, T, yg, zg, &err), 0);
    CHECK_REL("hidden state", rel_f(yg, yc, (long)T * d), 1e-5);
    CHECK_REL("logits", rel_f(zg, zc, (long)T * V), 1e-5);

    assert_int_equal(prune_stats_alloc(&sc, &m, want, &err), 0);
    assert_int_equal(prune_stats_alloc(&sg, &m, want, &err), 0);
    assert_int_equal(prune_calibrate_all(cpu, bc, &g, seq_len, nseq, 7, x, &err), 0);
    assert_int_equal(prune_calibrate_all(gpu, bg, &g, seq_len, nseq, 7, x, &err), 0);
    assert_int_equal(cpu->stats(bc, &sc, &err), 0);
    assert_int_equal(gpu->stats(bg, &sg, &err), 0);
    CHECK_REL("calibration loss", fabs(sg.loss - sc.loss) / sc.loss, 1e-5);
    for (int l = 0; l < nl; l++) {
        long n = prune_size(&m, l);
        CHECK_REL("in_sq", rel_d(sg.in_sq[l], sc.in_sq[l], prune_cols(&m, l)), 1e-4);
        CHECK_REL("grad_sq", rel_f(sg.grad_sq[l], sc.grad_sq[l], n), 1e-4);
        CHECK_REL("fisher", rel_f(sg.fisher[l], sc.fisher[l], n), 1e-4);
        CHECK_REL("mean gradient", rel_f(sg.grad[l], sc.grad[l], n), 1e-3);
    }

    float *score_c[PRUNE_MAX_LAYERS], *score_g[PRUNE_MAX_LAYERS];
    unsigned char *keep_c[PRUNE_MAX_LAYERS], *keep_g[PRUNE_MAX_LAYERS];
    long total = 0, differ = 0;
    for (int l = 0; l < nl; l++) {
        long n = prune_size(&m, l);
        score_c[l] = malloc(sizeof(float) * n);
        score_g[l] = malloc(sizeof(float) * n);
        keep_c[l] = malloc(n);
        keep_g[l] = malloc(n);
        total += n;
    }
    for (int imp = PRUNE_WANDA; imp <= PRUNE_TAYLOR2; imp++) {
        prune_importance_compute(&m, &sc, (prune_importance)imp, score_c);
        prune_importance_compute(&m, &sg, (prune_importance)imp, score_g);
        for (int l = 0; l < nl; l++)
            CHECK_REL("importance", rel_f(score_g[l], score_c[l], prune_size(&m, l)), 1e-3);
        assert_int_equal(prune_allocate(&m, score_c, PRUNE_GLOBAL, 0.5, keep_c, &err), 0);
        assert_int_equal(prune_allocate(&m, score_g, PRUNE_GLOBAL, 0.5, keep_g, &err), 0);
        float cut = 0; /* the CPU cut-off: the largest pruned score */
        for (int l = 0; l < nl; l++)
            for (long i = 0; i < prune_size(&m, l); i++)
                if (!keep_c[l][i] && score_c[l][i] > cut)
                    cut = score_c[l][i];
        for (int l = 0; l < nl; l++)
            for (long i = 0; i < prune_size(&m, l); i++)
                if (keep_c[l][i] != keep_g[l][i]) {
                    differ++;
                    if (!(fabsf(score_c[l][i] - cut) <= 1e-3f * cut))
                        fail_msg("%s: weight %ld of layer %d is %s on the GPU only, with score "
                                 "%g far from the cut-off %g",
                                 profile, i, l, keep_g[l][i] ? "kept" : "pruned",
                                 (double)score_c[l][i], (double)cut);
                }
    }
    if (differ * 1000 > 3 * total)
        fail_msg("%s: %ld mask differences over three importances of %ld weights", profile, differ,
                 total);
    for (int l = 0; l < nl; l++) {
        free(score_c[l]);
        free(score_g[l]);
        free(keep_c[l]);
        free(keep_g[l]);
    }
    free(x);
    free(yc);
    free(yg);
    free(zc);
    free(zg);
    prune_stats_free(&sc);
    prune_stats_free(&sg);
    cpu->destroy(bc);
    gpu->destroy(bg);
    prune_data_free(&g);
    prune_model_free(&m);
}

static void test_backends_agree(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        compare_profile(profiles[i]);
}

static double metric(json_object *r, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(r, key, &v))
        fail_msg("no %s in the result", key);
    return json_object_get_double(v);
}

static void test_probe_devices_agree(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
        const char *profile = profiles[i];
        json_object *p = json_object_new_object(), *rc = json_object_new_object(),
                    *rg = json_object_new_object(), *dev;
        hs_error err;
        json_object_object_add(p, "profile", json_object_new_string(profile));
        json_object_object_add(p, "taylor_seq_len", json_object_new_int(64));
        json_object_object_add(p, "taylor_num_samples", json_object_new_int(128));
        assert_int_equal(hs_probe_run("prune", p, "cpu", rc, &err), 0);
        if (hs_probe_run("prune", p, "cuda", rg, &err) < 0)
            fail_msg("%s on cuda: %s", profile, err.text);
        assert_true(json_object_object_get_ex(rg, "device", &dev));
        assert_string_equal(json_object_get_string(dev), "cuda");
        double t1 = fabs(metric(rg, "top1_agreement") - metric(rc, "top1_agreement"));
        double pp = fabs(metric(rg, "proxy_ppl") / metric(rc, "proxy_ppl") - 1);
        double re = fabs(metric(rg, "rel_err") / metric(rc, "rel_err") - 1);
        print_message("%s: top1 %.4f (cpu) vs %.4f (cuda), time %.3f s vs %.3f s\n", profile,
                      metric(rc, "top1_agreement"), metric(rg, "top1_agreement"),
                      metric(rc, "time_s"), metric(rg, "time_s"));
        if (!(t1 <= 0.01 && pp <= 0.01 && re <= 0.01))
            fail_msg("%s: cpu and cuda differ: top1 by %.4f, proxy_ppl by %.2f%%, rel_err by "
                     "%.2f%%",
                     profile, t1, 100 * pp, 100 * re);
        assert_true(metric(rg, "achieved_sparsity") == metric(rc, "achieved_sparsity"));
        json_object_put(p);
        json_object_put(rc);
        json_object_put(rg);
    }
}

int main(void)
{
    hs_gpu_device *devs = NULL;
    hs_error err;
    int n = hs_gpu_list(&devs, &err);
    free(devs);
    if (!hs_gpu_built_with_cuda() || n <= 0) {
        printf("skipped: %s\n", !hs_gpu_built_with_cuda() ? "built without CUDA"
                                : n < 0                   ? err.text
                                                          : "no GPU visible");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backends_agree),
        cmocka_unit_test(test_probe_devices_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
