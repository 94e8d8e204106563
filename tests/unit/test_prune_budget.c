/* More calibration data never makes the importance estimate worse on average: with fixed
 * seeds, the rank correlation between the importance from a budget and the importance from
 * a much larger calibration set grows with taylor_num_samples and with taylor_seq_len. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"

enum { SEEDS = 3 };

typedef struct scored {
    float v;
    int i;
} scored;

static int by_value(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    return (a->v > b->v) - (a->v < b->v);
}

/* ranks (average rank for ties) */
static void ranks(const float *v, int n, double *r)
{
    scored *s = malloc(sizeof *s * (size_t)n);
    for (int i = 0; i < n; i++)
        s[i] = (scored){ v[i], i };
    qsort(s, (size_t)n, sizeof *s, by_value);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && s[j + 1].v == s[i].v)
            j++;
        for (int k = i; k <= j; k++)
            r[s[k].i] = 0.5 * (i + j);
        i = j + 1;
    }
    free(s);
}

static double spearman(const float *a, const float *b, int n)
{
    double *ra = malloc(sizeof(double) * (size_t)n), *rb = malloc(sizeof(double) * (size_t)n);
    ranks(a, n, ra);
    ranks(b, n, rb);
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        ma += ra[i] / n;
        mb += rb[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    free(ra);
    free(rb);
    return sab / sqrt(saa * sbb);
}

typedef struct fixture {
    prune_model m;
    prune_data g;
    int total;
    float *x;
} fixture;

static void setup(fixture *fx)
{
    hs_error err;
    assert_int_equal(prune_profile_build("qwen", &fx->m, &fx->g, &err), 0);
    fx->total = 0;
    for (int l = 0; l < prune_nlayers(&fx->m); l++)
        fx->total += (int)prune_size(&fx->m, l);
    fx->x = malloc(sizeof(float) * 4096 * (size_t)fx->m.d);
    assert_non_null(fx->x);
}

static void teardown(fixture *fx)
{
    free(fx->x);
    prune_data_free(&fx->g);
    prune_model_free(&fx->m);
}

/* all layers' scores, concatenated (the global ranking's view) */
static float *importance(fixture *fx, prune_importance imp, int seq_len, long nsamples,
                         uint64_t seed)
{
    hs_error err;
    prune_stats st;
    unsigned want = prune_importance_wants(imp);
    int max_tokens = prune_chunk_seqs(seq_len) * seq_len;
    prune_backend *be = prune_cpu_ops.create(&fx->m, max_tokens, want, &err);
    assert_non_null(be);
    assert_int_equal(prune_stats_alloc(&st, &fx->m, want, &err), 0);
    assert_int_equal(
        prune_calibrate_all(&prune_cpu_ops, be, &fx->g, seq_len, nsamples, seed, fx->x, &err), 0);
    assert_int_equal(prune_cpu_ops.stats(be, &st, &err), 0);
    float *all = malloc(sizeof(float) * (size_t)fx->total), *score[PRUNE_MAX_LAYERS];
    for (int l = 0, off = 0; l < prune_nlayers(&fx->m); off += (int)prune_size(&fx->m, l), l++)
        score[l] = all + off;
    prune_importance_compute(&fx->m, &st, imp, score);
    prune_stats_free(&st);
    prune_cpu_ops.destroy(be);
    return all;
}

/* mean over seeds of the correlation with the reference, for each budget in turn */
static void check_increasing(prune_importance imp, const int *seq_len, const long *nsamples,
                             int nbudgets, int ref_len, long ref_n, const char *what)
{
    fixture fx;
    setup(&fx);
    float *ref = importance(&fx, imp, ref_len, ref_n, 1000);
    double prev = -2;
    for (int b = 0; b < nbudgets; b++) {
        double mean = 0;
        for (int s = 0; s < SEEDS; s++) {
            float *est = importance(&fx, imp, seq_len[b], nsamples[b], (uint64_t)s + 1);
            mean += spearman(est, ref, fx.total) / SEEDS;
            free(est);
        }
        print_message("%s: %ld sequences of %d tokens: mean rank correlation %.4f\n", what,
                      nsamples[b], seq_len[b], mean);
        if (!(mean > prev))
            fail_msg("%s: %ld sequences of %d tokens give %.4f, no better than the smaller "
                     "budget's %.4f",
                     what, nsamples[b], seq_len[b], mean, prev);
        prev = mean;
    }
    free(ref);
    teardown(&fx);
}

static void test_taylor_more_samples(void **state)
{
    (void)state;
    const int len[] = { 32, 32, 32, 32 };
    const long n[] = { 8, 32, 128, 512 };
    check_increasing(PRUNE_TAYLOR, len, n, 4, 32, 8192, "taylor, num_samples");
}

static void test_taylor_longer_sequences(void **state)
{
    (void)state;
    const int len[] = { 8, 32, 128 };
    const long n[] = { 64, 64, 64 };
    check_increasing(PRUNE_TAYLOR, len, n, 3, 256, 512, "taylor, seq_len");
}

static void test_wanda_more_samples(void **state)
{
    (void)state;
    const int len[] = { 16, 16, 16 };
    const long n[] = { 4, 32, 256 };
    check_increasing(PRUNE_WANDA, len, n, 3, 16, 8192, "wanda, num_samples");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taylor_more_samples),
        cmocka_unit_test(test_taylor_longer_sequences),
        cmocka_unit_test(test_wanda_more_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
