/* The analysis statistics against textbook values: hand-computed means and standard
 * deviations, closed forms of Student's t for 1, 2 and 3 degrees of freedom, Fisher-z
 * intervals, Spearman with ties, constant columns, and too few pairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analysis.h"

#define Z975 1.959963984540054 /* the 97.5% normal quantile */

static void near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol * (1.0 + fabs(want))))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

/* Two-sided p-values of Student's t in closed form. */
static double p_df1(double t) /* Cauchy */
{
    return 1.0 - 2.0 / M_PI * atan(fabs(t));
}
static double p_df2(double t)
{
    return 1.0 - fabs(t) / sqrt(2.0 + t * t);
}
static double p_df3(double t)
{
    double a = fabs(t), s3 = sqrt(3.0);
    double cdf = 0.5 + (a / (s3 * (1.0 + a * a / 3.0)) + atan(a / s3)) / M_PI;
    return 2.0 * (1.0 - cdf);
}

static void test_mean_std(void **state)
{
    (void)state;
    /* the classic example: mean 5, population std 2, sample std sqrt(32/7) */
    const double x[] = { 2, 4, 4, 4, 5, 5, 7, 9 };
    near(hs_stats_mean(x, 8), 5.0, 1e-15, "mean");
    near(hs_stats_std(x, 8, 0), 2.0, 1e-15, "population std");
    near(hs_stats_std(x, 8, 1), sqrt(32.0 / 7.0), 1e-15, "sample std");
    assert_true(isnan(hs_stats_mean(x, 0)));
    assert_true(isnan(hs_stats_std(x, 1, 1)));
    assert_true(isnan(hs_stats_std(x, 0, 0)));
    near(hs_stats_std(x, 1, 0), 0.0, 0, "one value, ddof 0");
    /* large offset: a naive sum of squares would lose every digit */
    double y[4];
    for (int i = 0; i < 4; i++)
        y[i] = 1e9 + (double)i;
    near(hs_stats_mean(y, 4), 1e9 + 1.5, 1e-15, "offset mean");
    near(hs_stats_std(y, 4, 1), sqrt(5.0 / 3.0), 1e-9, "offset std");
    /* a constant column has std 0 exactly, even where the mean is not representable */
    const double c[] = { 0.1, 0.1, 0.1 };
    assert_true(hs_stats_std(c, 3, 1) == 0.0);
}

static void naive_ranks(const double *x, size_t n, double *r)
{
    for (size_t i = 0; i < n; i++) {
        size_t less = 0, equal = 0;
        for (size_t j = 0; j < n; j++) {
            less += x[j] < x[i];
            equal += x[j] == x[i];
        }
        r[i] = (double)less + (double)(equal + 1) / 2.0;
    }
}

static void test_ranks(void **state)
{
    (void)state;
    const double a[] = { 10, 20, 20, 30 };
    double r[4];
    assert_int_equal(hs_stats_rank(a, 4, r), 0);
    near(r[0], 1, 0, "rank");
    near(r[1], 2.5, 0, "tied rank");
    near(r[2], 2.5, 0, "tied rank");
    near(r[3], 4, 0, "rank");
    const double b[] = { 5, 5, 5 };
    assert_int_equal(hs_stats_rank(b, 3, r), 0);
    for (int i = 0; i < 3; i++)
        near(r[i], 2, 0, "all tied");
    /* the radix path (n >= 512): negatives, -0.0 beside 0.0, ties, infinities */
    size_t n = 5000;
    double *x = malloc(n * sizeof *x), *got = malloc(n * sizeof *got),
           *want = malloc(n * sizeof *want);
    assert_non_null(x);
    assert_non_null(got);
    assert_non_null(want);
    uint64_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double v = (double)(int64_t)(s >> 40) / 1024.0 - 4096.0;
        x[i] = (i % 7 == 0) ? floor(v / 64) : v; /* many ties */
    }
    x[10] = -0.0;
    x[11] = 0.0;
    x[12] = INFINITY;
    x[13] = -INFINITY;
    x[14] = 1e-300;
    x[15] = -1e300;
    assert_int_equal(hs_stats_rank(x, n, got), 0);
    naive_ranks(x, n, want);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("rank of x[%zu] = %g: got %g, want %g", i, x[i], got[i], want[i]);
    free(x);
    free(got);
    free(want);
}

static void test_distributions(void **state)
{
    (void)state;
    near(hs_stats_z_two_sided(0.95), Z975, 1e-12, "z 97.5%");
    for (double t = 0.0; t < 20; t += 0.37) {
        near(hs_stats_t_pvalue(t, 1), p_df1(t), 1e-10, "t df=1");
        near(hs_stats_t_pvalue(-t, 2), p_df2(t), 1e-10, "t df=2");
        near(hs_stats_t_pvalue(t, 3), p_df3(t), 1e-10, "t df=3");
    }
    /* many degrees of freedom: the normal's 5% */
    near(hs_stats_t_pvalue(Z975, 1e7), 0.05, 1e-5, "t -> normal");
    assert_true(hs_stats_t_pvalue(INFINITY, 5) == 0.0);
    assert_true(isnan(hs_stats_t_pvalue(1.0, 0)));
    /* quantiles in closed form: df 1 is Cauchy, tan(pi (p - 1/2)); df 2 is
     * (2p - 1) / sqrt(2 p (1 - p)) */
    for (double p = 0.05; p < 1; p += 0.1) {
        near(hs_stats_t_quantile(p, 1), tan(M_PI * (p - 0.5)), 1e-9, "t quantile df=1");
        near(hs_stats_t_quantile(p, 2), (2 * p - 1) / sqrt(2 * p * (1 - p)), 1e-9,
             "t quantile df=2");
    }
    near(hs_stats_t_quantile(0.975, 2), 4.302652729911275, 1e-9, "t 97.5% df=2");
    near(hs_stats_t_quantile(0.975, 9), 2.262157162740991, 1e-9, "t 97.5% df=9 (tables)");
    assert_true(isnan(hs_stats_t_quantile(0.975, 0)));
    assert_true(isnan(hs_stats_t_quantile(1.0, 3)));
}

static void test_welch(void **state)
{
    (void)state;
    /* x = 1 2 3 (mean 2, s^2 1), y = 4..8 (mean 6, s^2 2.5): se^2 = 1/3 + 1/2 = 5/6,
     * t = -4 / sqrt(5/6), df = (5/6)^2 / ((1/3)^2 / 2 + (1/2)^2 / 4) = 100/17; p is
     * scipy.stats.ttest_ind(x, y, equal_var=False).pvalue */
    const double x[] = { 1, 2, 3 }, y[] = { 4, 5, 6, 7, 8 };
    hs_welch w;
    hs_stats_welch(x, 3, y, 5, &w);
    near(w.t, -4.0 / sqrt(5.0 / 6.0), 1e-12, "welch t");
    near(w.df, 100.0 / 17.0, 1e-12, "welch df");
    near(w.p, 0.004882634939494178, 1e-9, "welch p");
    hs_stats_welch(y, 5, x, 3, &w);
    near(w.t, 4.0 / sqrt(5.0 / 6.0), 1e-12, "welch t, sides swapped");
    const double a[] = { 0.61, 0.64, 0.59, 0.66 }, b[] = { 0.70, 0.69, 0.72 };
    hs_stats_welch(a, 4, b, 3, &w);
    near(w.t, -4.382772598729467, 1e-9, "welch t (scipy)");
    near(w.p, 0.008922316202911892, 1e-9, "welch p (scipy)");
    /* one observation, or no spread on either side: nothing to test */
    hs_stats_welch(x, 1, y, 5, &w);
    assert_true(isnan(w.t) && isnan(w.df) && isnan(w.p));
    const double c1[] = { 1, 1, 1 }, c2[] = { 2, 2 };
    hs_stats_welch(c1, 3, c2, 2, &w);
    assert_true(isnan(w.t) && isnan(w.p));
    /* spread on one side only: df = n - 1 of that side */
    hs_stats_welch(c1, 3, y, 5, &w);
    near(w.df, 4.0, 1e-12, "welch df, one side constant");
}

static void test_pearson_textbook(void **state)
{
    (void)state;
    /* x = 1..5, y = 2 4 5 4 5: sxy = 6, sxx = 10, syy = 6, r = sqrt(0.6) */
    const double x[] = { 1, 2, 3, 4, 5 }, y[] = { 2, 4, 5, 4, 5 };
    hs_corr c;
    hs_stats_pearson(x, y, 5, &c);
    assert_int_equal(c.status, HS_CORR_OK);
    assert_int_equal(c.n, 5);
    double r = sqrt(0.6);
    near(c.r, r, 1e-14, "r");
    double t = r * sqrt(3.0 / (1.0 - 0.6));
    near(c.p, p_df3(t), 1e-10, "p (t with 3 df)");
    double z = atanh(r), se = 1.0 / sqrt(2.0);
    near(c.se_z, se, 1e-15, "se");
    near(c.lo, tanh(z - Z975 * se), 1e-10, "ci low");
    near(c.hi, tanh(z + Z975 * se), 1e-10, "ci high");
    assert_true(c.lo < c.r && c.r < c.hi);
    /* symmetric, and sign flips with y */
    hs_corr d;
    hs_stats_pearson(y, x, 5, &d);
    near(d.r, c.r, 1e-15, "symmetric");
    double ny[5];
    for (int i = 0; i < 5; i++)
        ny[i] = -y[i];
    hs_stats_pearson(x, ny, 5, &d);
    near(d.r, -r, 1e-14, "negated");
    near(d.p, c.p, 1e-12, "same p");
    near(d.lo, -c.hi, 1e-12, "mirrored ci");
}

static void test_pearson_edges(void **state)
{
    (void)state;
    hs_corr c;
    /* a perfect line: r = 1, p = 0, the interval collapses */
    const double x[] = { 1, 2, 3, 4, 5, 6 }, y[] = { 3, 5, 7, 9, 11, 13 };
    hs_stats_pearson(x, y, 6, &c);
    assert_int_equal(c.status, HS_CORR_OK);
    near(c.r, 1.0, 1e-15, "perfect");
    assert_true(c.p == 0.0);
    near(c.lo, 1.0, 1e-12, "ci low");
    /* constant columns: undefined, and which one says */
    const double k[] = { 0.1, 0.1, 0.1, 0.1, 0.1, 0.1 };
    hs_stats_pearson(k, y, 6, &c);
    assert_int_equal(c.status, HS_CORR_CONSTANT_X);
    assert_true(isnan(c.r) && isnan(c.p));
    hs_stats_pearson(x, k, 6, &c);
    assert_int_equal(c.status, HS_CORR_CONSTANT_Y);
    hs_stats_spearman(k, y, 6, &c);
    assert_int_equal(c.status, HS_CORR_CONSTANT_X);
    /* too short */
    hs_stats_pearson(x, y, 2, &c);
    assert_int_equal(c.status, HS_CORR_TOO_SHORT);
    assert_int_equal(c.n, 2);
    assert_true(isnan(c.r));
    hs_stats_pearson(x, y, 0, &c);
    assert_int_equal(c.status, HS_CORR_TOO_SHORT);
    /* n = 3: a p-value (1 df, Cauchy) but no interval (n - 3 = 0) */
    const double a[] = { 1, 2, 3 }, b[] = { 1, 3, 2 };
    hs_stats_pearson(a, b, 3, &c);
    assert_int_equal(c.status, HS_CORR_OK);
    near(c.r, 0.5, 1e-15, "r n=3");
    near(c.p, p_df1(0.5 * sqrt(1.0 / 0.75)), 1e-10, "p n=3");
    assert_true(isnan(c.lo) && isnan(c.hi));
    /* n = 4: 2 df */
    const double e[] = { 1, 2, 3, 4 }, f[] = { 1, 3, 2, 4 };
    hs_stats_pearson(e, f, 4, &c);
    near(c.r, 0.8, 1e-15, "r n=4");
    near(c.p, p_df2(0.8 * sqrt(2.0 / 0.36)), 1e-10, "p n=4");
    assert_false(isnan(c.lo));
}

static void test_spearman(void **state)
{
    (void)state;
    hs_corr c;
    /* with ties: ranks of y are 1 2 3.5 5 3.5, rho = 8 / sqrt(10 * 9.5) */
    const double x[] = { 1, 2, 3, 4, 5 }, y[] = { 5, 6, 7, 8, 7 };
    hs_stats_spearman(x, y, 5, &c);
    assert_int_equal(c.status, HS_CORR_OK);
    double rho = 8.0 / sqrt(95.0);
    near(c.r, rho, 1e-14, "rho with ties");
    near(c.p, p_df3(rho * sqrt(3.0 / ((1 - rho) * (1 + rho)))), 1e-10, "rho p");
    double se = 1.06 / sqrt(2.0);
    near(c.se_z, se, 1e-15, "Fieller se");
    near(c.lo, tanh(atanh(rho) - Z975 * se), 1e-10, "ci low");
    near(c.hi, tanh(atanh(rho) + Z975 * se), 1e-10, "ci high");
    /* the same from ranks computed beforehand (what the report does) */
    double rx[5], ry[5];
    assert_int_equal(hs_stats_rank(x, 5, rx), 0);
    assert_int_equal(hs_stats_rank(y, 5, ry), 0);
    hs_corr cr;
    hs_stats_spearman_ranked(rx, ry, 5, &cr);
    near(cr.r, rho, 1e-14, "ranked rho");
    near(cr.se_z, se, 1e-15, "ranked Fieller se");
    near(cr.lo, c.lo, 1e-14, "ranked ci");
    near(cr.p, c.p, 1e-14, "ranked p");
    /* monotone but not linear: rho 1, Pearson below 1 */
    const double m[] = { 1, 2, 3, 4, 5, 6 }, cube[] = { 1, 8, 27, 64, 125, 216 };
    hs_stats_spearman(m, cube, 6, &c);
    near(c.r, 1.0, 1e-15, "monotone");
    hs_corr p;
    hs_stats_pearson(m, cube, 6, &p);
    assert_true(p.r < 0.99);
    /* the classic textbook table (d^2 formula without ties): 6 sum d^2 = 6 * 4 = 24,
     * rho = 1 - 24 / (5 * 24) = 0.8 */
    const double u[] = { 1, 2, 3, 4, 5 }, v[] = { 2, 1, 4, 3, 5 };
    hs_stats_spearman(u, v, 5, &c);
    near(c.r, 0.8, 1e-14, "d^2 formula");
}

static void test_strength(void **state)
{
    (void)state;
    assert_string_equal(hs_stats_strength(0.71), "strong");
    assert_string_equal(hs_stats_strength(-0.8), "strong");
    assert_string_equal(hs_stats_strength(0.7), "moderate");
    assert_string_equal(hs_stats_strength(0.51), "moderate");
    assert_string_equal(hs_stats_strength(-0.5), "weak");
    assert_string_equal(hs_stats_strength(0.0), "weak");
    assert_string_equal(hs_stats_strength(NAN), "undefined");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_std),      cmocka_unit_test(test_ranks),
        cmocka_unit_test(test_distributions), cmocka_unit_test(test_pearson_textbook),
        cmocka_unit_test(test_pearson_edges), cmocka_unit_test(test_spearman),
        cmocka_unit_test(test_strength),      cmocka_unit_test(test_welch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
