#include <math.h>
#include <string.h>

#include "quant.h"

uint16_t hs_quant_f16_from_f32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf, or NaN kept quiet with the top payload bits */
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0));
    if (a >= 0x477ff000u) /* >= 65520 rounds to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below 2^-14: an fp16 subnormal (or zero, or the smallest normal) */
        float f;
        memcpy(&f, &a, sizeof f);
        /* Scaling by 2^24 is exact here; rintf rounds half to even. 1024 encodes 2^-14. */
        return (uint16_t)(sign | (uint32_t)rintf(f * 16777216.0f));
    }
    uint32_t h = ((a >> 23) - 112u) << 10 | ((a >> 13) & 0x3ffu);
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* a carry into the exponent is the right result */
    return (uint16_t)(sign | h);
}

float hs_quant_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        float f = ldexpf((float)m, -24);
        return sign ? -f : f;
    }
    uint32_t u = e == 31 ? sign | 0x7f800000u | m << 13 : sign | (e + 112u) << 23 | m << 13;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float hs_quant_f16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x38800000u && a < 0x477ff000u) {
        /* fp16 normal range: round the 13 dropped mantissa bits to even in place */
        u += 0x0fffu + ((u >> 13) & 1u);
        u &= ~0x1fffu;
        memcpy(&x, &u, sizeof x);
        return x;
    }
    return hs_quant_f16_to_f32(hs_quant_f16_from_f32(x));
}

void hs_quant_f16_round_array(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = hs_quant_f16_round(x[i]);
}

float hs_quant_bf16_to_f32(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void hs_quant_rng_seed(hs_quant_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull + 0x2545f4914f6cdd1dull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->has_spare = false;
    r->spare = 0;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t hs_quant_rng_next(hs_quant_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double hs_quant_rng_uniform(hs_quant_rng *r)
{
    return (double)(hs_quant_rng_next(r) >> 11) * 0x1.0p-53;
}

double hs_quant_rng_normal(hs_quant_rng *r)
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    /* Marsaglia's polar method: no trigonometry, both values used */
    double u, v, s;
    do {
        u = 2.0 * hs_quant_rng_uniform(r) - 1.0;
        v = 2.0 * hs_quant_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = true;
    return u * f;
}

size_t hs_quant_rng_below(hs_quant_rng *r, size_t n)
{
    return (size_t)(hs_quant_rng_uniform(r) * (double)n);
}

hs_quant_grid hs_quant_grid_fit(const float *x, size_t n, size_t stride, int bits,
                                hs_quant_scheme scheme)
{
    hs_quant_grid g;
    if (scheme == HS_QUANT_ASYM) {
        float lo = x[0], hi = x[0];
        for (size_t i = 1; i < n; i++) {
            float v = x[i * stride];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        g.qmin = 0.0f;
        g.qmax = (float)((1 << bits) - 1);
        float range = hi - lo;
        g.scale = (range > 1e-5f ? range : 1e-5f) / g.qmax;
        float z = -rintf(lo / g.scale);
        g.zero = z < 0.0f ? 0.0f : z > g.qmax ? g.qmax : z;
    } else {
        float amax = 0.0f;
        for (size_t i = 0; i < n; i++) {
            float v = fabsf(x[i * stride]);
            amax = v > amax ? v : amax;
        }
        g.qmax = (float)((1 << (bits - 1)) - 1);
        g.qmin = -(float)(1 << (bits - 1));
        g.scale = (amax > 1e-5f ? amax : 1e-5f) / g.qmax;
        g.zero = 0.0f;
    }
    return g;
}

float hs_quant_grid_apply(const hs_quant_grid *g, float x)
{
    float q = rintf(x / g->scale) + g->zero;
    q = q < g->qmin ? g->qmin : q > g->qmax ? g->qmax : q;
    return (q - g->zero) * g->scale;
}

void hs_quant_rtn_rows(const float *w, float *out, size_t rows, size_t cols, size_t group, int bits,
                       hs_quant_scheme scheme, const float *col_scale)
{
    if (group == 0 || group > cols)
        group = cols;
    for (size_t r = 0; r < rows; r++) {
        const float *wr = w + r * cols;
        float *o = out + r * cols;
        for (size_t j = 0; j < cols; j++)
            o[j] = col_scale ? wr[j] * col_scale[j] : wr[j];
        for (size_t g0 = 0; g0 < cols; g0 += group) {
            size_t n = cols - g0 < group ? cols - g0 : group;
            hs_quant_grid g = hs_quant_grid_fit(o + g0, n, 1, bits, scheme);
            for (size_t j = g0; j < g0 + n; j++) {
                float q = hs_quant_grid_apply(&g, o[j]);
                o[j] = col_scale ? q / col_scale[j] : q;
            }
        }
    }
}

size_t hs_quant_minmax_group(float *x, const unsigned char *keep, size_t n, size_t stride, int bits)
{
    float lo = INFINITY, hi = -INFINITY;
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep && keep[i * stride])
            continue;
        float v = x[i * stride];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        cnt++;
    }
    if (cnt == 0)
        return 0;
    float qmax = (float)((1u << bits) - 1u);
    float s = (hi - lo) / qmax;
    for (size_t i = 0; i < n; i++) {
        if (keep && keep[i * stride])
            continue;
        float *p = x + i * stride;
        if (s == 0.0f) {
            *p = lo;
            continue;
        }
        float q = rintf((*p - lo) / s);
        q = q < 0.0f ? 0.0f : q > qmax ? qmax : q;
        *p = q * s + lo;
    }
    return cnt;
}

int hs_quant_energy_rank(const float *sigma, int n, double threshold, int min_rank, int max_rank)
{
    double total = 0.0;
    for (int i = 0; i < n; i++)
        total += (double)sigma[i] * sigma[i];
    int k = min_rank;
    if (total > 0.0) {
        double cum = 0.0;
        k = n;
        for (int i = 0; i < n; i++) {
            cum += (double)sigma[i] * sigma[i];
            if (cum >= threshold * total) {
                k = i + 1;
                break;
            }
        }
    }
    if (k < min_rank)
        k = min_rank;
    if (k > max_rank)
        k = max_rank;
    if (k > n)
        k = n;
    return k;
}

void hs_quant_err2(const float *a, const float *b, size_t n, double *err2, double *ref2)
{
    double e = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        e += d * d;
        r += (double)b[i] * b[i];
    }
    *err2 = e;
    *ref2 = r;
}
