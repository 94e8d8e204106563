/* Private to src/gpu: numerics shared by the kvcache and weightquant probes (CPU side).
 * Formulas are in docs/probes.md; rounding is round-half-to-even (rintf) everywhere. */
#ifndef HS_GPU_QUANT_H
#define HS_GPU_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* IEEE binary16 and bfloat16 <-> binary32, round to nearest even (what __float2half_rn
 * does), subnormals, infinities and NaN included. */
uint16_t hs_quant_f16_from_f32(float x);
float hs_quant_f16_to_f32(uint16_t h);
/* x rounded to the nearest fp16 value, returned as float. */
float hs_quant_f16_round(float x);
void hs_quant_f16_round_array(float *x, size_t n);
float hs_quant_bf16_to_f32(uint16_t b);

/* xoshiro256** seeded through splitmix64 from (seed, stream): the same numbers on every
 * platform, and independent streams for heads, trials and tensors. */
typedef struct hs_quant_rng {
    uint64_t s[4];
    double spare;
    bool has_spare;
} hs_quant_rng;

void hs_quant_rng_seed(hs_quant_rng *r, uint64_t seed, uint64_t stream);
uint64_t hs_quant_rng_next(hs_quant_rng *r);
/* Uniform in [0, 1), 53 bits. */
double hs_quant_rng_uniform(hs_quant_rng *r);
/* Standard normal (Marsaglia polar method, both values used). */
double hs_quant_rng_normal(hs_quant_rng *r);
/* Uniform integer in [0, n). */
size_t hs_quant_rng_below(hs_quant_rng *r, size_t n);

/* Integer-grid round-to-nearest (AWQ's pseudo_quantize_tensor), used for weights:
 *   asym: s = max(max - min, 1e-5) / (2^b - 1), z = clamp(-rint(min / s), 0, 2^b - 1),
 *         q = clamp(rint(x / s) + z, 0, 2^b - 1)
 *   sym:  s = max(max|x|, 1e-5) / (2^(b-1) - 1), z = 0,
 *         q = clamp(rint(x / s), -2^(b-1), 2^(b-1) - 1)
 *   x^ = (q - z) * s */
typedef enum hs_quant_scheme { HS_QUANT_ASYM = 0, HS_QUANT_SYM = 1 } hs_quant_scheme;

typedef struct hs_quant_grid {
    float scale;
    float zero;
    float qmin, qmax;
} hs_quant_grid;

/* Fit the grid to n values x[0], x[stride], ... (n >= 1). bits in [2, 8] (sym) or [1, 8]. */
hs_quant_grid hs_quant_grid_fit(const float *x, size_t n, size_t stride, int bits,
                                hs_quant_scheme scheme);
float hs_quant_grid_apply(const hs_quant_grid *g, float x);

/* RTN of a rows x cols row-major matrix, groups of `group` consecutive columns per row
 * (group >= cols: one group per row; a last partial group is allowed). out may equal w.
 * col_scale, if not NULL, multiplies column j before quantization and divides it after
 * (AWQ); NULL means 1. */
void hs_quant_rtn_rows(const float *w, float *out, size_t rows, size_t cols, size_t group, int bits,
                       hs_quant_scheme scheme, const float *col_scale);

/* KV-cache min-max quantization with a float zero (KIVI): lo = min, s = (max - lo) /
 * (2^b - 1), q = clamp(rint((x - lo) / s), 0, 2^b - 1), x^ = q * s + lo; s = 0 (a constant
 * group) gives x^ = lo. Quantizes n values x[0], x[stride], ... in place, skipping those
 * whose keep[] entry (same indexing; keep may be NULL) is nonzero: they are neither part of
 * the range nor changed. Returns the number of values quantized. */
size_t hs_quant_minmax_group(float *x, const unsigned char *keep, size_t n, size_t stride,
                             int bits);

/* Smallest k such that sigma[0..k) holds at least `threshold` of sum(sigma^2), clamped to
 * [min_rank, max_rank] and to n. sigma is sorted descending, n >= 1. An all-zero sigma
 * gives min_rank (clamped to n). */
int hs_quant_energy_rank(const float *sigma, int n, double threshold, int min_rank, int max_rank);

/* Sum of squares of (a - b) and of b, in double. */
void hs_quant_err2(const float *a, const float *b, size_t n, double *err2, double *ref2);

#endif
