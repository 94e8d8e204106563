/* Allocation: the exact total, equal rates per layer or block, lowest scores first, ties,
 * and rounding half to even. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"

/* 3 blocks, d 8, f 16: 6 layers of 128 weights, 768 in all */
enum { NBLOCKS = 3, D = 8, F = 16, N = 2 * NBLOCKS * D * F };

typedef struct fixture {
    prune_model m;
    float *score[2 * NBLOCKS];
    unsigned char *keep[2 * NBLOCKS];
} fixture;

static void setup(fixture *fx, uint64_t seed)
{
    hs_error err;
    assert_int_equal(prune_model_alloc(&fx->m, NBLOCKS, D, F, 4, PRUNE_RELU, &err), 0);
    for (int l = 0; l < 2 * NBLOCKS; l++) {
        fx->score[l] = malloc(sizeof(float) * D * F);
        fx->keep[l] = malloc(D * F);
        /* layers on different scales, as global ranking meets them */
        for (int k = 0; k < D * F; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            fx->score[l][k] = (float)((double)(seed >> 11) / 9007199254740992.0) * (float)(l + 1);
        }
    }
}

static void teardown(fixture *fx)
{
    for (int l = 0; l < 2 * NBLOCKS; l++) {
        free(fx->score[l]);
        free(fx->keep[l]);
    }
    prune_model_free(&fx->m);
}

static long pruned_in(const fixture *fx, int l)
{
    long n = 0;
    for (int k = 0; k < D * F; k++)
        n += !fx->keep[l][k];
    return n;
}

static long pruned_total(const fixture *fx)
{
    long n = 0;
    for (int l = 0; l < 2 * NBLOCKS; l++)
        n += pruned_in(fx, l);
    return n;
}

static void test_layerwise_same_rate(void **state)
{
    (void)state;
    fixture fx;
    hs_error err;
    setup(&fx, 1);
    const double s = 0.3; /* 0.3 * 128 = 38.4 per layer, 0.3 * 768 = 230.4 in all */
    assert_int_equal(prune_allocate(&fx.m, fx.score, PRUNE_LAYERWISE, s, fx.keep, &err), 0);
    assert_int_equal(pruned_total(&fx), 230);
    for (int l = 0; l < 2 * NBLOCKS; l++) {
        long n = pruned_in(&fx, l);
        assert_true(n == 38 || n == 39);
        /* within the layer, the lowest scores go */
        float max_cut = -1, min_kept = INFINITY;
        for (int k = 0; k < D * F; k++)
            if (fx.keep[l][k])
                min_kept = fminf(min_kept, fx.score[l][k]);
            else
                max_cut = fmaxf(max_cut, fx.score[l][k]);
        assert_true(max_cut <= min_kept);
    }
    teardown(&fx);
}

static void test_global_lowest_first(void **state)
{
    (void)state;
    fixture fx;
    hs_error err;
    setup(&fx, 2);
    const double s = 0.55;
    assert_int_equal(prune_allocate(&fx.m, fx.score, PRUNE_GLOBAL, s, fx.keep, &err), 0);
    assert_int_equal(pruned_total(&fx), (long)floor(s * N + 0.5)); /* 422.4 -> 422 */
    float max_cut = -1, min_kept = INFINITY;
    for (int l = 0; l < 2 * NBLOCKS; l++)
        for (int k = 0; k < D * F; k++)
            if (fx.keep[l][k])
                min_kept = fminf(min_kept, fx.score[l][k]);
            else
                max_cut = fmaxf(max_cut, fx.score[l][k]);
    assert_true(max_cut <= min_kept);
    /* layer 0's scores are the smallest in scale: it loses more than the last layer */
    assert_true(pruned_in(&fx, 0) > pruned_in(&fx, 2 * NBLOCKS - 1));
    teardown(&fx);
}

static void test_blockwise_same_rate_per_block(void **state)
{
    (void)state;
    fixture fx;
    hs_error err;
    setup(&fx, 3);
    const double s = 0.41; /* 0.41 * 256 = 104.96 per block, 314.88 in all */
    assert_int_equal(prune_allocate(&fx.m, fx.score, PRUNE_BLOCKWISE, s, fx.keep, &err), 0);
    assert_int_equal(pruned_total(&fx), 315);
    for (int b = 0; b < NBLOCKS; b++) {
        long n = pruned_in(&fx, 2 * b) + pruned_in(&fx, 2 * b + 1);
        assert_true(n == 104 || n == 105);
    }
    /* inside a block the two layers compete: the up-projection (smaller scale) loses more */
    assert_true(pruned_in(&fx, 0) > pruned_in(&fx, 1));
    teardown(&fx);
}

/* s * N = k + 1/2 exactly: round half to even, as rint does */
static void test_round_half_even(void **state)
{
    (void)state;
    fixture fx;
    hs_error err;
    setup(&fx, 4);
    /* the premise: s * N comes out as exactly k + 1/2, so only the tie rule decides */
    const double s25 = 2.5 / N, s35 = 3.5 / N;
    assert_true(s25 * N == 2.5 && s35 * N == 3.5);
    assert_int_equal(prune_allocate(&fx.m, fx.score, PRUNE_GLOBAL, s25, fx.keep, &err), 0);
    assert_int_equal(pruned_total(&fx), 2);
    assert_int_equal(prune_allocate(&fx.m, fx.score, PRUNE_GLOBAL, s35, fx.keep, &err), 0);
    assert_int_equal(pruned_total(&fx), 4);
    teardown(&fx);
}

static void test_ties_by_position(void **state)
{
    (void)state;
    fixture fx;
    hs_error err;
    setup(&fx, 5);
    for (int l = 0; l < 2 * NBLOCKS; l++)
        for (int k = 0; k < D * F; k++)
            fx.score[l][k] = 1.0f;
    assert_int_equal(prune_allocate(&fx.m, fx.score, PRUNE_GLOBAL, 0.25, fx.keep, &err), 0);
    /* 192 ties: the first layer, then the first half of the second */
    for (int k = 0; k < D * F; k++) {
        assert_int_equal(fx.keep[0][k], 0);
        assert_int_equal(fx.keep[1][k], k >= 64);
        assert_int_equal(fx.keep[2][k], 1);
    }
    teardown(&fx);
}

static void test_nonfinite_score_rejected(void **state)
{
    (void)state;
    fixture fx;
    hs_error err;
    setup(&fx, 6);
    fx.score[3][17] = NAN;
    assert_int_equal(prune_allocate(&fx.m, fx.score, PRUNE_LAYERWISE, 0.5, fx.keep, &err), -1);
    assert_non_null(strstr(err.text, "layer 3"));
    teardown(&fx);
}

static void test_zero_and_full_sparsity(void **state)
{
    (void)state;
    fixture fx;
    hs_error err;
    setup(&fx, 7);
    assert_int_equal(prune_allocate(&fx.m, fx.score, PRUNE_BLOCKWISE, 0.0, fx.keep, &err), 0);
    assert_int_equal(pruned_total(&fx), 0);
    assert_int_equal(prune_allocate(&fx.m, fx.score, PRUNE_LAYERWISE, 0.99, fx.keep, &err), 0);
    assert_int_equal(pruned_total(&fx), (long)floor(0.99 * N + 0.5));
    teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layerwise_same_rate),
        cmocka_unit_test(test_global_lowest_first),
        cmocka_unit_test(test_blockwise_same_rate_per_block),
        cmocka_unit_test(test_round_half_even),
        cmocka_unit_test(test_ties_by_position),
        cmocka_unit_test(test_nonfinite_score_rejected),
        cmocka_unit_test(test_zero_and_full_sparsity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
