/* Private to the prune probe: scalar math shared by the CPU reference and the CUDA kernels,
 * so that both compute the same function. Formulas in docs/probes.md. */
#ifndef HS_GPU_PRUNE_MATH_H
#define HS_GPU_PRUNE_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "prune.h"

#ifdef __CUDACC__
#define PRUNE_HD __host__ __device__ __forceinline__
#else
#define PRUNE_HD static inline
#endif

#define PRUNE_NORM_EPS 1e-6f

/* e^x, x clamped to [-87, 88]: 2^(x log2 e) split as 2^n 2^f with n = round(x log2 e) and
 * |f| <= 1/2, 2^f by its degree-6 Taylor polynomial (relative error < 6e-7). Written
 * without calls or branches so that the loops calling it vectorise (with -fno-trapping-math,
 * which lets GCC turn the clamps into min/max). */
PRUNE_HD float prune_exp(float x)
{
    x = x > -87.0f ? x : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    float t = x * 1.44269504088896341f;
    float r = (t + 12582912.0f) - 12582912.0f; /* round to nearest: 1.5 * 2^23 */
    float f = t - r;
    float p = 1.5403530393381609e-4f;
    p = p * f + 1.3333558146428443e-3f;
    p = p * f + 9.6181291076284772e-3f;
    p = p * f + 5.5504108664821580e-2f;
    p = p * f + 2.4022650695910071e-1f;
    p = p * f + 6.9314718055994531e-1f;
    p = p * f + 1.0f;
    int32_t bits;
    memcpy(&bits, &p, sizeof bits);
    bits += (int32_t)r * (1 << 23);
    memcpy(&p, &bits, sizeof p);
    return p;
}

/* GELU, tanh form (GPT-2, BERT): 0.5 h (1 + tanh(k (h + c h^3))) = h sigmoid(2k (h + c h^3)) */
#define PRUNE_GELU_K2 1.5957691216057308f /* 2 sqrt(2/pi) */
#define PRUNE_GELU_C  0.044715f

/* sigmoid(2k (h + c h^3)): GELU(h) = h s and GELU'(h) = s + h s (1 - s) 2k (1 + 3c h^2) */
PRUNE_HD float prune_gelu_sigmoid(float h)
{
    float v = PRUNE_GELU_K2 * (h + PRUNE_GELU_C * h * h * h);
    return 1.0f / (1.0f + prune_exp(-v));
}

PRUNE_HD float prune_gelu(float h)
{
    return h * prune_gelu_sigmoid(h);
}

/* GELU'(h) from h and its sigmoid s = prune_gelu_sigmoid(h) */
PRUNE_HD float prune_gelu_grad_s(float h, float s)
{
    return s + h * s * (1.0f - s) * PRUNE_GELU_K2 * (1.0f + 3.0f * PRUNE_GELU_C * h * h);
}

PRUNE_HD float prune_gelu_grad(float h)
{
    return prune_gelu_grad_s(h, prune_gelu_sigmoid(h));
}

PRUNE_HD float prune_act(float h, int act)
{
    return act == PRUNE_RELU ? (h > 0.0f ? h : 0.0f) : prune_gelu(h);
}

/* d act / d h; ReLU'(0) = 0 */
PRUNE_HD float prune_act_grad(float h, int act)
{
    return act == PRUNE_RELU ? (h > 0.0f ? 1.0f : 0.0f) : prune_gelu_grad(h);
}

#endif
