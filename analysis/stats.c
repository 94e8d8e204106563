/* Statistics of the reports. The sums are plain two-pass loops; the distributions come from
 * GSL (Student's t for p-values, the normal quantile for Fisher-z intervals). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>

#include "analysis.h"

/* GSL's default error handler aborts; its callers here check the results themselves. */
static void gsl_quiet(void)
{
    gsl_set_error_handler_off();
}

double hs_stats_mean(const double *x, size_t n)
{
    if (n == 0)
        return NAN;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    double m = s / (double)n;
    if (!isfinite(m))
        return m;
    /* second pass: the rounding error of the first */
    double c = 0;
    for (size_t i = 0; i < n; i++)
        c += x[i] - m;
    return m + c / (double)n;
}

double hs_stats_std(const double *x, size_t n, int ddof)
{
    if (ddof < 0 || n <= (size_t)ddof)
        return NAN;
    double m = hs_stats_mean(x, n);
    if (!isfinite(m))
        return NAN;
    double ss = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - m;
        ss += d * d;
        c += d;
    }
    /* corrected two-pass formula (Chan, Golub & LeVeque) */
    ss -= c * c / (double)n;
    if (ss < 0)
        ss = 0;
    return sqrt(ss / (double)(n - (size_t)ddof));
}

/* ---- ranks: LSD radix sort of the doubles' order-preserving bit patterns ---------------- */

typedef struct kv {
    uint64_t key;
    uint32_t idx;
} kv;

static uint64_t order_key(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return (b & UINT64_C(0x8000000000000000)) ? ~b : b | UINT64_C(0x8000000000000000);
}

static int kv_cmp(const void *a, const void *b)
{
    const kv *p = a, *q = b;
    return (p->key > q->key) - (p->key < q->key);
}

#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)

#define RADIX_PASSES ((64 + RADIX_BITS - 1) / RADIX_BITS)

static int sort_kv(kv *a, size_t n)
{
    if (n < 512) {
        qsort(a, n, sizeof *a, kv_cmp);
        return 0;
    }
    kv *tmp = malloc(n * sizeof *tmp);
    size_t *count = calloc((size_t)RADIX_PASSES * RADIX_SIZE, sizeof *count);
    if (!tmp || !count) {
        free(tmp);
        free(count);
        return -1;
    }
    /* every pass's histogram in one read of the keys */
    for (size_t i = 0; i < n; i++)
        for (unsigned p = 0; p < RADIX_PASSES; p++)
            count[p * RADIX_SIZE + ((a[i].key >> (p * RADIX_BITS)) & (RADIX_SIZE - 1))]++;
    kv *src = a, *dst = tmp;
    for (unsigned p = 0; p < RADIX_PASSES; p++) {
        size_t *c = count + p * RADIX_SIZE;
        unsigned shift = p * RADIX_BITS;
        /* a digit that every key shares changes nothing: skip the pass */
        if (c[(src[0].key >> shift) & (RADIX_SIZE - 1)] == n)
            continue;
        size_t sum = 0;
        for (size_t d = 0; d < RADIX_SIZE; d++) {
            size_t k = c[d];
            c[d] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(src[i].key >> shift) & (RADIX_SIZE - 1)]++] = src[i];
        kv *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    free(tmp);
    free(count);
    return 0;
}

int hs_stats_rank(const double *x, size_t n, double *ranks)
{
    if (n == 0)
        return 0;
    kv *a = malloc(n * sizeof *a);
    if (!a)
        return -1;
    for (size_t i = 0; i < n; i++) {
        a[i].key = order_key(x[i] == 0 ? 0.0 : x[i]); /* -0.0 ties with 0.0 */
        a[i].idx = (uint32_t)i;
    }
    if (sort_kv(a, n) < 0) {
        free(a);
        return -1;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].key == a[i].key)
            j++;
        /* positions i..j-1 hold ranks i+1..j: their average */
        double r = 0.5 * (double)(i + 1 + j);
        for (size_t k = i; k < j; k++)
            ranks[a[k].idx] = r;
        i = j;
    }
    free(a);
    return 0;
}

/* ---- distributions --------------------------------------------------------------------- */

double hs_stats_t_pvalue(double t, double df)
{
    gsl_quiet();
    if (isnan(t) || !(df > 0))
        return NAN;
    if (isinf(t))
        return 0.0;
    double p = 2.0 * gsl_cdf_tdist_Q(fabs(t), df);
    return p > 1.0 ? 1.0 : p;
}

double hs_stats_t_quantile(double p, double df)
{
    gsl_quiet();
    if (isnan(p) || !(df > 0) || p <= 0 || p >= 1)
        return NAN;
    return gsl_cdf_tdist_Pinv(p, df);
}

void hs_stats_welch(const double *x, size_t nx, const double *y, size_t ny, hs_welch *out)
{
    out->t = out->df = out->p = NAN;
    if (nx < 2 || ny < 2)
        return;
    double sx = hs_stats_std(x, nx, 1), sy = hs_stats_std(y, ny, 1);
    double vx = sx * sx / (double)nx, vy = sy * sy / (double)ny;
    if (!isfinite(vx) || !isfinite(vy) || vx + vy == 0)
        return;
    out->t = (hs_stats_mean(x, nx) - hs_stats_mean(y, ny)) / sqrt(vx + vy);
    out->df = (vx + vy) * (vx + vy) / (vx * vx / (double)(nx - 1) + vy * vy / (double)(ny - 1));
    out->p = hs_stats_t_pvalue(out->t, out->df);
}

double hs_stats_z_two_sided(double level)
{
    gsl_quiet();
    return gsl_cdf_ugaussian_Pinv(0.5 + level / 2.0);
}

/* ---- correlation ----------------------------------------------------------------------- */

static bool constant(const double *x, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (x[i] != x[0])
            return false;
    return true;
}

/* p-value and interval of r for n pairs, with the z-scale standard error factor. */
static void infer(hs_corr *c, double se_factor)
{
    double r = c->r, df = (double)c->n - 2.0;
    if (fabs(r) >= 1.0) {
        c->p = 0.0;
    } else {
        double t = r * sqrt(df / ((1.0 - r) * (1.0 + r)));
        c->p = hs_stats_t_pvalue(t, df);
    }
    c->lo = c->hi = c->se_z = NAN;
    if (c->n >= 4) {
        c->se_z = se_factor / sqrt((double)c->n - 3.0);
        double z = atanh(r), q = hs_stats_z_two_sided(0.95);
        c->lo = tanh(z - q * c->se_z);
        c->hi = tanh(z + q * c->se_z);
    }
}

static void pearson_raw(const double *x, const double *y, size_t n, hs_corr *out)
{
    double mx = hs_stats_mean(x, n), my = hs_stats_mean(y, n);
    double sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    double r = sxy / (sqrt(sxx) * sqrt(syy));
    if (r > 1.0)
        r = 1.0;
    if (r < -1.0)
        r = -1.0;
    out->r = r;
}

static bool precheck(const double *x, const double *y, size_t n, hs_corr *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->r = out->p = out->lo = out->hi = out->se_z = NAN;
    if (n < 3) {
        out->status = HS_CORR_TOO_SHORT;
        return false;
    }
    if (constant(x, n)) {
        out->status = HS_CORR_CONSTANT_X;
        return false;
    }
    if (constant(y, n)) {
        out->status = HS_CORR_CONSTANT_Y;
        return false;
    }
    return true;
}

void hs_stats_pearson(const double *x, const double *y, size_t n, hs_corr *out)
{
    if (!precheck(x, y, n, out))
        return;
    pearson_raw(x, y, n, out);
    infer(out, 1.0);
}

void hs_stats_spearman_ranked(const double *rx, const double *ry, size_t n, hs_corr *out)
{
    if (!precheck(rx, ry, n, out))
        return;
    pearson_raw(rx, ry, n, out);
    infer(out, 1.06);
}

void hs_stats_spearman(const double *x, const double *y, size_t n, hs_corr *out)
{
    if (!precheck(x, y, n, out))
        return;
    double *rx = malloc(n * sizeof *rx), *ry = malloc(n * sizeof *ry);
    if (!rx || !ry || hs_stats_rank(x, n, rx) < 0 || hs_stats_rank(y, n, ry) < 0) {
        out->status = HS_CORR_NOMEM;
    } else {
        pearson_raw(rx, ry, n, out);
        infer(out, 1.06);
    }
    free(rx);
    free(ry);
}

const char *hs_stats_strength(double r)
{
    if (isnan(r))
        return "undefined";
    double a = fabs(r);
    return a > 0.7 ? "strong" : a > 0.5 ? "moderate" : "weak";
}
