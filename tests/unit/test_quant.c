/* Shared numerics of the quantization probes, on hand-computed cases: fp16 rounding, RTN of
 * known vectors (symmetric and asymmetric, ties to even), and the SVD energy rank of a matrix
 * built with known singular values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvcache.h"
#include "quant.h"

static void assert_floats(const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("[%zu]: got %.9g, want %.9g", i, (double)got[i], (double)want[i]);
}

static void test_f16(void **state)
{
    (void)state;
    assert_int_equal(hs_quant_f16_from_f32(1.0f), 0x3c00);
    assert_int_equal(hs_quant_f16_from_f32(-2.0f), 0xc000);
    assert_int_equal(hs_quant_f16_from_f32(65504.0f), 0x7bff);
    assert_int_equal(hs_quant_f16_from_f32(65519.0f), 0x7bff);
    assert_int_equal(hs_quant_f16_from_f32(65520.0f), 0x7c00); /* tie to even: infinity */
    assert_int_equal(hs_quant_f16_from_f32(ldexpf(1.0f, -24)), 0x0001);
    assert_int_equal(hs_quant_f16_from_f32(ldexpf(1.0f, -25)), 0x0000);        /* tie: 0 */
    assert_int_equal(hs_quant_f16_from_f32(ldexpf(3.0f, -25)), 0x0002);        /* tie: 2 */
    assert_int_equal(hs_quant_f16_from_f32(1.0f + ldexpf(1.0f, -11)), 0x3c00); /* tie: even */
    assert_int_equal(hs_quant_f16_from_f32(1.0f + ldexpf(3.0f, -11)), 0x3c02);
    assert_int_equal(hs_quant_f16_from_f32(ldexpf(1023.5f, -24)), 0x0400); /* to 2^-14 */
    assert_int_equal(hs_quant_f16_from_f32(-0.0f), 0x8000);
    assert_int_equal(hs_quant_f16_from_f32(INFINITY), 0x7c00);
    assert_true((hs_quant_f16_from_f32(NAN) & 0x7fff) > 0x7c00);
    /* the fast path of hs_quant_f16_round agrees with the conversion both ways */
    hs_quant_rng r;
    hs_quant_rng_seed(&r, 7, 0);
    for (int i = 0; i < 100000; i++) {
        float x = (float)(hs_quant_rng_normal(&r) * ldexp(1.0, (int)(i % 40) - 26));
        float a = hs_quant_f16_round(x), b = hs_quant_f16_to_f32(hs_quant_f16_from_f32(x));
        if (memcmp(&a, &b, 4) != 0)
            fail_msg("f16_round(%a) = %a, conversion gives %a", (double)x, (double)a, (double)b);
    }
    assert_true(hs_quant_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(hs_quant_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(hs_quant_bf16_to_f32(0x3f80) == 1.0f);
}

/* asym 2-bit, group [-1, 0.5, 1.5, 2]: s = 3/3 = 1, z = -rint(-1) = 1,
 * q = rint(x) + 1 = [0, 1 (0.5 -> 0), 3 (1.5 -> 2), 3], x^ = q - 1 = [-1, 0, 2, 2]. */
static void test_rtn_asym(void **state)
{
    (void)state;
    const float x[4] = { -1.0f, 0.5f, 1.5f, 2.0f }, want[4] = { -1.0f, 0.0f, 2.0f, 2.0f };
    float out[4];
    hs_quant_rtn_rows(x, out, 1, 4, 4, 2, HS_QUANT_ASYM, NULL);
    assert_floats(out, want, 4);
    hs_quant_grid g = hs_quant_grid_fit(x, 4, 1, 2, HS_QUANT_ASYM);
    assert_true(g.scale == 1.0f && g.zero == 1.0f && g.qmin == 0.0f && g.qmax == 3.0f);
    /* all positive: the zero point clamps to 0 and the top is clipped, as in AWQ's
     * pseudo_quantize_tensor: s = 1, z = clamp(-2, 0, 3) = 0, q = min(rint(x), 3) */
    const float y[4] = { 2.0f, 3.0f, 4.0f, 5.0f }, wy[4] = { 2.0f, 3.0f, 3.0f, 3.0f };
    hs_quant_rtn_rows(y, out, 1, 4, 4, 2, HS_QUANT_ASYM, NULL);
    assert_floats(out, wy, 4);
}

/* sym 3-bit: s = max|x| / 3 = 1, q = clamp(rint(x), -4, 3):
 * [-3, -1.5 -> -2, 0.5 -> 0, 2.5 -> 2, 1, 3]. */
static void test_rtn_sym(void **state)
{
    (void)state;
    const float x[6] = { -3.0f, -1.5f, 0.5f, 2.5f, 1.0f, 3.0f };
    const float want[6] = { -3.0f, -2.0f, 0.0f, 2.0f, 1.0f, 3.0f };
    float out[6];
    hs_quant_rtn_rows(x, out, 1, 6, 6, 3, HS_QUANT_SYM, NULL);
    assert_floats(out, want, 6);
    /* 4-bit: s = 3 / 7, and 2.5 / s = 5.8333 -> 6 -> 6 s */
    hs_quant_rtn_rows(x, out, 1, 6, 6, 4, HS_QUANT_SYM, NULL);
    float s = 3.0f / 7.0f;
    assert_true(out[3] == 6.0f * s);
    assert_true(out[0] == -7.0f * s);
}

/* Groups along a row: group 4 over 6 columns leaves a partial group of 2; each group has its
 * own grid. Row 0: [0, 1, 2, 3 | 10, 20]; row 1: [-3, 4, 0, 1 | 7, 7]. 2-bit asym:
 * [0..3]: s = 1 -> exact; [10, 20]: s = 10/3, z = -rint(3) = -3 -> clamp 0, so
 * q = [rint(3) = 3, rint(6) -> 3], x^ = [10, 10]; [-3, 4, 0, 1]: s = 7/3,
 * z = -rint(-1.29) = 1, q = [-1 + 1, 2 + 1, 0 + 1, rint(0.43) + 1] = [0, 3, 1, 1],
 * x^ = (q - 1) s = [-s, 2s, 0, 0]; [7, 7]: range 0 -> s = 1e-5 / 3, z = -rint(7 / s) -> 0,
 * q = 3. */
static void test_rtn_groups(void **state)
{
    (void)state;
    const float w[12] = { 0, 1, 2, 3, 10, 20, -3, 4, 0, 1, 7, 7 };
    float out[12];
    hs_quant_rtn_rows(w, out, 2, 6, 4, 2, HS_QUANT_ASYM, NULL);
    float s = 7.0f / 3.0f, tiny = 1e-5f / 3.0f;
    const float want[12] = { 0, 1, 2, 3, 10, 10, -s, 2 * s, 0, 0, 3 * tiny, 3 * tiny };
    assert_floats(out, want, 12);
    /* a column scale of 1 changes nothing; a scale of 2 on an exact grid changes nothing
     * either (x 2, quantize, / 2) */
    const float one[6] = { 1, 1, 1, 1, 1, 1 };
    float out1[12];
    hs_quant_rtn_rows(w, out1, 2, 6, 4, 2, HS_QUANT_ASYM, one);
    assert_memory_equal(out, out1, sizeof out);
}

/* KV min-max with a float zero: [1, 2, 4, 7] 2-bit: lo 1, s 2, q = [0, 0 (0.5), 2 (1.5), 3]. */
static void test_minmax(void **state)
{
    (void)state;
    float x[4] = { 1.0f, 2.0f, 4.0f, 7.0f };
    const float want[4] = { 1.0f, 1.0f, 5.0f, 7.0f };
    assert_int_equal(hs_quant_minmax_group(x, NULL, 4, 1, 2), 4);
    assert_floats(x, want, 4);
    /* kept values are neither in the range nor changed: keep 100 and -50 */
    float y[6] = { 100.0f, 1.0f, 2.0f, -50.0f, 4.0f, 7.0f };
    const unsigned char keep[6] = { 1, 0, 0, 1, 0, 0 };
    const float wy[6] = { 100.0f, 1.0f, 1.0f, -50.0f, 5.0f, 7.0f };
    assert_int_equal(hs_quant_minmax_group(y, keep, 6, 1, 2), 4);
    assert_floats(y, wy, 6);
    /* strided, constant group */
    float z[6] = { 3.0f, 9.0f, 3.0f, 9.0f, 3.0f, 9.0f };
    hs_quant_minmax_group(z, NULL, 3, 2, 1);
    assert_true(z[0] == 3.0f && z[2] == 3.0f && z[4] == 3.0f && z[1] == 9.0f);
}

/* ---- SVD energy rank -------------------------------------------------------------------- */

/* n orthonormal columns of length m (column-major, m x n) by Gram-Schmidt on normals. */
static void random_orthonormal(double *q, int m, int n, hs_quant_rng *r)
{
    for (int j = 0; j < n; j++) {
        double *v = q + (size_t)j * m;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0)
                for (int i = 0; i < m; i++)
                    v[i] = hs_quant_rng_normal(r);
            for (int k = 0; k < j; k++) {
                double dot = 0;
                for (int i = 0; i < m; i++)
                    dot += v[i] * q[(size_t)k * m + i];
                for (int i = 0; i < m; i++)
                    v[i] -= dot * q[(size_t)k * m + i];
            }
        }
        double nrm = 0;
        for (int i = 0; i < m; i++)
            nrm += v[i] * v[i];
        nrm = sqrt(nrm);
        for (int i = 0; i < m; i++)
            v[i] /= nrm;
    }
}

enum { C = 8, D = 16 };
/* sigma^2 = 16, 4, 1, 0.25, 0.0625 (sum 21.3125): cumulative shares 0.7507, 0.9385, 0.9853,
 * 0.9971, 1. */
static const double sigma[C] = { 4, 2, 1, 0.5, 0.25, 0, 0, 0 };

/* A (C x D, row-major) = U diag(sigma) V^T with random orthonormal U (C x C), V (D x C). */
static void build(float *a, uint64_t seed)
{
    double u[C * C], v[D * C];
    hs_quant_rng r;
    hs_quant_rng_seed(&r, seed, 99);
    random_orthonormal(u, C, C, &r);
    random_orthonormal(v, D, C, &r);
    for (int t = 0; t < C; t++)
        for (int c = 0; c < D; c++) {
            double acc = 0;
            for (int k = 0; k < C; k++)
                acc += u[k * C + t] * sigma[k] * v[k * D + c];
            a[t * D + c] = (float)acc;
        }
}

static void check_rank(double thr, int min_rank, int max_rank, int want)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        float a[C * D], orig[C * D];
        build(a, seed);
        memcpy(orig, a, sizeof a);
        hs_kv_config cfg = { 0 };
        cfg.method = HS_KV_FORGE;
        cfg.tokens = C;
        cfg.head_dim = D;
        cfg.chunk_size = C;
        cfg.energy_threshold = thr;
        cfg.min_rank = min_rank;
        cfg.max_rank = max_rank;
        hs_kv_stats st = { 0 };
        hs_error err = { "" };
        if (hs_kv_forge(a, 1, C, D, &cfg, &st, &err) < 0)
            fail_msg("%s", err.text);
        assert_int_equal(st.chunks, 1);
        if (st.rank_sum != want)
            fail_msg("threshold %g, clamp [%d, %d]: rank %lld, want %d", thr, min_rank, max_rank,
                     st.rank_sum, want);
        /* Eckart-Young: the rank-r truncation misses exactly the dropped sigma^2 */
        double miss = 0, e2 = 0;
        for (int k = want; k < C; k++)
            miss += sigma[k] * sigma[k];
        for (int i = 0; i < C * D; i++)
            e2 += ((double)a[i] - orig[i]) * ((double)a[i] - orig[i]);
        if (fabs(sqrt(e2) - sqrt(miss)) > 1e-4)
            fail_msg("rank %d: reconstruction error %g, want %g", want, sqrt(e2), sqrt(miss));
    }
}

static void test_energy_rank_svd(void **state)
{
    (void)state;
    check_rank(0.70, 1, 64, 1);
    check_rank(0.75, 1, 64, 1);
    check_rank(0.76, 1, 64, 2);
    check_rank(0.90, 1, 64, 2);
    check_rank(0.95, 1, 64, 3);
    check_rank(0.99, 1, 64, 4);
    check_rank(0.999, 1, 64, 5);
    check_rank(0.50, 3, 64, 3); /* clamped up to min_rank */
    check_rank(0.99, 1, 2, 2);  /* clamped down to max_rank */
    check_rank(0.99, 1, 64, 4);
}

static void test_energy_rank_direct(void **state)
{
    (void)state;
    const float s[5] = { 4, 2, 1, 0.5f, 0.25f };
    assert_int_equal(hs_quant_energy_rank(s, 5, 0.9, 1, 32), 2);
    assert_int_equal(hs_quant_energy_rank(s, 5, 1.0, 1, 32), 5);
    assert_int_equal(hs_quant_energy_rank(s, 5, 0.9, 1, 1), 1);
    assert_int_equal(hs_quant_energy_rank(s, 3, 0.99, 1, 32), 3); /* 20/21 < 0.99 */
    assert_int_equal(hs_quant_energy_rank(s, 2, 0.99, 3, 32), 2); /* min_rank > n: n */
    const float z[3] = { 0, 0, 0 };
    assert_int_equal(hs_quant_energy_rank(z, 3, 0.9, 2, 32), 2); /* zero chunk: min_rank */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_rtn_asym),
        cmocka_unit_test(test_rtn_sym),
        cmocka_unit_test(test_rtn_groups),
        cmocka_unit_test(test_minmax),
        cmocka_unit_test(test_energy_rank_svd),
        cmocka_unit_test(test_energy_rank_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
