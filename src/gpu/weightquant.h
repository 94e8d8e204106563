/* Private to src/gpu: the weightquant probe (weight quantization proxy: fp16, RTN, AWQ scale
 * search, GPTQ). CPU reference in weightquant.c, CUDA version in weightquant.cu; formulas in
 * docs/probes.md. The quantizers are exposed for the tests. */
#ifndef HS_GPU_WEIGHTQUANT_H
#define HS_GPU_WEIGHTQUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"
#include "quant.h"

typedef enum hs_wq_method { HS_WQ_FP16, HS_WQ_RTN, HS_WQ_AWQ, HS_WQ_GPTQ } hs_wq_method;

typedef struct hs_wq_config {
    hs_wq_method method;
    int bits;
    int group_size; /* columns per group; -1: one group per output row */
    hs_quant_scheme scheme;
    int awq_grid;   /* AWQ: alpha in {0, 1/n, ..., (n-1)/n} */
    double alpha;   /* AWQ: fixed alpha in [0, 1], or -1 to search the grid */
    double damp;    /* GPTQ: fraction of the mean Hessian diagonal added to it */
    int block_size; /* GPTQ: columns per lazy-update block */
    bool act_order; /* GPTQ: columns in order of decreasing Hessian diagonal */
    int in_features, out_features, calib_tokens, eval_tokens;
    uint64_t seed;
    int outlier_channels;
    double outlier_scale;
    const char *safetensors, *tensor; /* real weights, or NULL for synthetic ones */
    int max_rows;                     /* first rows of the real tensor (0: all) */
} hs_wq_config;

/* W is rows x cols (out_features x in_features, PyTorch's Linear layout, y = x W^T); the
 * activations are tokens x cols. */
typedef struct hs_wq_data {
    size_t rows, cols, ncal, neval;
    float *w, *xcal, *xeval;
} hs_wq_data;

typedef struct hs_wq_raw {
    double w_err2, w_ref2, o_err2, o_ref2;
    double alpha;   /* AWQ's chosen alpha */
    double quant_s; /* seconds spent quantizing (including AWQ's search) */
    char device_name[96];
} hs_wq_raw;

/* Effective group size: cols for per-row quantization, else min(group_size, cols). */
size_t hs_wq_group(const hs_wq_config *cfg, size_t cols);

/* Quantize D->w with cfg's method into out (rows x cols, dequantized). alpha receives AWQ's
 * chosen alpha (may be NULL). Returns 0 or -1 with err set. */
int hs_wq_quantize_cpu(const hs_wq_config *cfg, const hs_wq_data *D, float *out, double *alpha,
                       hs_error *err);

/* hs_wq_quantize_cpu, or with use_cuda its GPU version (an error without CUDA). */
int hs_wq_quantize_on(const hs_wq_config *cfg, const hs_wq_data *D, float *out, double *alpha,
                      bool use_cuda, hs_error *err);

int hs_wq_data_build(const hs_wq_config *cfg, hs_wq_data *D, hs_error *err);
void hs_wq_data_free(hs_wq_data *D);
int hs_wq_run_cpu(const hs_wq_config *cfg, const hs_wq_data *D, hs_wq_raw *raw, hs_error *err);

/* The probe entry point (probes.h's hs_probe_fn). */
int hs_probe_weightquant(json_object *params, bool use_cuda, json_object *result, hs_error *err);

#endif
