/* Importance rankings on layers built so that the answer is known: an input channel scaled
 * up must win for wanda; a weight whose input is always zero must lose for Taylor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"

enum { NBLOCKS = 2, D = 8, F = 16, V = 6, SEQ_LEN = 16, NSEQ = 32 };

/* Every weight has the same magnitude, so magnitude alone cannot decide; signs vary. */
static void build(prune_model *m, prune_data *g, int channel, float channel_scale)
{
    hs_error err;
    assert_int_equal(prune_model_alloc(m, NBLOCKS, D, F, V, PRUNE_GELU, &err), 0);
    assert_int_equal(prune_data_alloc(g, D, &err), 0);
    uint64_t s = 99;
    for (int l = 0; l < 2 * NBLOCKS; l++)
        for (long k = 0; k < prune_size(m, l); k++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            m->w[l][k] = (s >> 63) ? 0.3f : -0.3f;
        }
    for (int k = 0; k < V * D; k++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        m->head[k] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
    }
    g->key = 5;
    g->rho = 0.5f;
    g->offset_sd = 0.5f;
    for (int j = 0; j < D; j++) {
        g->scale[j] = j == channel ? channel_scale : 1.0f;
        g->mean[j] = 0.0f;
        g->bos[j] = j == channel ? 0.0f : 1.0f;
    }
    if (channel_scale > 0)
        g->bos[channel] = channel_scale;
}

/* Scores of every layer after calibrating on NSEQ sequences. */
static void scores(const prune_model *m, const prune_data *g, prune_importance imp, float **score)
{
    hs_error err;
    prune_stats st;
    unsigned want = prune_importance_wants(imp);
    prune_backend *be = prune_cpu_ops.create(m, PRUNE_CHUNK_TOKENS, want, &err);
    assert_non_null(be);
    assert_int_equal(prune_stats_alloc(&st, m, want, &err), 0);
    float *x = malloc(sizeof(float) * PRUNE_CHUNK_TOKENS * D);
    assert_non_null(x);
    assert_int_equal(prune_calibrate_all(&prune_cpu_ops, be, g, SEQ_LEN, NSEQ, 1, x, &err), 0);
    assert_int_equal(prune_cpu_ops.stats(be, &st, &err), 0);
    for (int l = 0; l < 2 * NBLOCKS; l++)
        score[l] = malloc(sizeof(float) * (size_t)prune_size(m, l));
    prune_importance_compute(m, &st, imp, score);
    free(x);
    prune_stats_free(&st);
    prune_cpu_ops.destroy(be);
}

static void free_all(prune_model *m, prune_data *g, float **score)
{
    for (int l = 0; l < 2 * NBLOCKS; l++)
        free(score[l]);
    prune_model_free(m);
    prune_data_free(g);
}

/* In layer 0 (W1, F x D), column `channel` holds the F largest (or smallest) scores. */
static void assert_column_extreme(const float *s, int channel, bool largest)
{
    float in_min = INFINITY, in_max = -INFINITY, out_min = INFINITY, out_max = -INFINITY;
    for (int i = 0; i < F; i++)
        for (int j = 0; j < D; j++) {
            float v = s[i * D + j];
            if (j == channel) {
                in_min = fminf(in_min, v);
                in_max = fmaxf(in_max, v);
            } else {
                out_min = fminf(out_min, v);
                out_max = fmaxf(out_max, v);
            }
        }
    if (largest && !(in_min > out_max))
        fail_msg("column %d: lowest score %g, but another column reaches %g", channel,
                 (double)in_min, (double)out_max);
    if (!largest && !(in_max < out_min))
        fail_msg("column %d: highest score %g, but another column has only %g", channel,
                 (double)in_max, (double)out_min);
}

static void test_wanda_scaled_channel_first(void **state)
{
    (void)state;
    prune_model m;
    prune_data g;
    float *score[2 * NBLOCKS];
    build(&m, &g, 3, 10.0f);
    scores(&m, &g, PRUNE_WANDA, score);
    assert_column_extreme(score[0], 3, true);
    free_all(&m, &g, score);
}

static void test_magnitude_cannot_tell(void **state)
{
    (void)state;
    prune_model m;
    prune_data g;
    float *score[2 * NBLOCKS];
    build(&m, &g, 3, 10.0f);
    scores(&m, &g, PRUNE_MAGNITUDE, score);
    for (int l = 0; l < 2 * NBLOCKS; l++)
        for (long k = 0; k < prune_size(&m, l); k++)
            assert_true(score[l][k] == 0.3f);
    free_all(&m, &g, score);
}

/* An input that is always zero: its weights get no gradient, so Taylor scores them 0,
 * below every other weight, and a layerwise cut of exactly F weights takes that column. */
static void check_dead_input_last(prune_importance imp)
{
    prune_model m;
    prune_data g;
    float *score[2 * NBLOCKS];
    hs_error err;
    build(&m, &g, 5, 0.0f);
    scores(&m, &g, imp, score);
    for (int i = 0; i < F; i++)
        assert_true(score[0][i * D + 5] == 0.0f);
    assert_column_extreme(score[0], 5, false);
    unsigned char *keep[2 * NBLOCKS];
    for (int l = 0; l < 2 * NBLOCKS; l++)
        keep[l] = malloc((size_t)prune_size(&m, l));
    assert_int_equal(prune_allocate(&m, score, PRUNE_LAYERWISE, 1.0 / D, keep, &err), 0);
    for (int i = 0; i < F; i++)
        for (int j = 0; j < D; j++)
            assert_int_equal(keep[0][i * D + j], j != 5);
    for (int l = 0; l < 2 * NBLOCKS; l++)
        free(keep[l]);
    free_all(&m, &g, score);
}

static void test_taylor_dead_input_last(void **state)
{
    (void)state;
    check_dead_input_last(PRUNE_TAYLOR);
}

static void test_taylor2_dead_input_last(void **state)
{
    (void)state;
    check_dead_input_last(PRUNE_TAYLOR2);
}

static void test_wanda_dead_input_last(void **state)
{
    (void)state;
    check_dead_input_last(PRUNE_WANDA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wanda_scaled_channel_first),
        cmocka_unit_test(test_magnitude_cannot_tell),
        cmocka_unit_test(test_taylor_dead_input_last),
        cmocka_unit_test(test_taylor2_dead_input_last),
        cmocka_unit_test(test_wanda_dead_input_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
