/* Private to src/gpu: the CUDA entry points of the kvcache and weightquant probes and of
 * bench_quant. Implemented in kvcache.cu, weightquant.cu and quant_bench.cu, which exist only
 * in a CUDA build (HS_GPU_HAVE_CUDA); the .c files call them under that macro. Each uses the
 * current CUDA device, synchronises before it returns, frees everything it allocated, and
 * returns 0 or -1 with err naming the failing call and its file:line. */
#ifndef HS_GPU_QUANT_CUDA_H
#define HS_GPU_QUANT_CUDA_H

#include "error.h"
#include "kvcache.h"
#include "quant_bench.h"
#include "weightquant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The same computation as hs_kv_run_cpu, on the GPU (cuSOLVER SVD, cuBLAS GEMMs). */
int hs_kv_run_cuda(const hs_kv_config *cfg, const hs_kv_data *data, hs_kv_raw *raw, hs_error *err);

/* hs_kv_compress of a host array on the GPU (upload, compress, download). */
int hs_kv_compress_cuda(const hs_kv_config *cfg, bool is_key, float *x, size_t n, hs_kv_stats *st,
                        hs_error *err);

/* The same computation as hs_wq_run_cpu, on the GPU (cuSOLVER Cholesky, cuBLAS GEMMs), and
 * its quantization step alone (wq_out: rows x cols, dequantized; as hs_wq_quantize_cpu). */
int hs_wq_run_cuda(const hs_wq_config *cfg, const hs_wq_data *data, hs_wq_raw *raw, hs_error *err);
int hs_wq_quantize_cuda(const hs_wq_config *cfg, const hs_wq_data *data, float *wq_out,
                        double *alpha, hs_error *err);

/* Time one bench kernel on the GPU (quant_bench.h): out->seconds, out->device and
 * out->peak_gbs (from the memory clock and bus width). */
int hs_quant_bench_cuda(const hs_quant_bench_spec *spec, int iters, hs_quant_bench_result *out,
                        hs_error *err);

#ifdef __cplusplus
}
#endif

#endif
