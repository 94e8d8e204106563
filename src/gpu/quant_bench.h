/* Private to src/gpu: timing of the quantization kernels for bench/gpu/bench_quant.c. The
 * bench stays free of CUDA: it asks for a kernel on the CPU or the GPU and gets rates back. */
#ifndef HS_GPU_QUANT_BENCH_H
#define HS_GPU_QUANT_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "kvcache.h"
#include "weightquant.h"

typedef struct hs_quant_bench_result {
    char kernel[32];
    char shape[64];  /* the problem, in words */
    double seconds;  /* per call, mean over the timed calls */
    double bytes;    /* bytes a call must move to or from memory (0: not counted) */
    double flops;    /* nominal floating-point operations per call (0: not counted) */
    double peak_gbs; /* device memory peak in GB/s (0: unknown, as on the CPU) */
    char device[96];
} hs_quant_bench_result;

/* The kernels, NULL-terminated: fp16_cast, rtn_w4g128, kivi_keys, kivi_values, kvquant,
 * attn_gemm, forge_svd, gptq. */
const char *const *hs_quant_bench_kernels(void);

/* What one kernel computes at a given size (shared by the CPU and CUDA timers). size is a
 * number of values (fp16_cast, rtn, kivi, kvquant, attn_gemm: the keys, forge_svd) or of
 * weights (gptq, rounded to a square of side a multiple of 128). */
typedef enum hs_quant_bench_kind {
    HS_QB_CAST,
    HS_QB_KV,
    HS_QB_WEIGHT,
    HS_QB_ATTN
} hs_quant_bench_kind;

typedef struct hs_quant_bench_spec {
    hs_quant_bench_kind kind;
    size_t n; /* values in the tensor the kernel works on */
    hs_kv_config kv;
    size_t heads;    /* HS_QB_KV, HS_QB_ATTN: [heads x kv.tokens x kv.head_dim] */
    bool is_key;     /* HS_QB_KV */
    size_t queries;  /* HS_QB_ATTN */
    hs_wq_config wq; /* HS_QB_WEIGHT */
    size_t rows, cols, ncal;
    double bytes, flops;
    char shape[64];
} hs_quant_bench_spec;

int hs_quant_bench_spec_make(const char *kernel, size_t size, hs_quant_bench_spec *s,
                             hs_error *err);

/* Time `kernel` at `size` for iters calls after one warm-up, on the GPU (use_cuda: needs a
 * CUDA build and a GPU) or the CPU reference. Returns 0 or -1 with err set. */
int hs_quant_bench_run(const char *kernel, bool use_cuda, size_t size, int iters,
                       hs_quant_bench_result *out, hs_error *err);

#endif
