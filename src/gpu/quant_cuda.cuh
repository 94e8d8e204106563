// Private to the quantization .cu files of src/gpu: error macros and device helpers that
// reproduce the CPU reference's float arithmetic (explicit _rn intrinsics, so nvcc cannot
// contract a*b+c into an FMA the CPU does not use).
#ifndef HS_GPU_QUANT_CUDA_CUH
#define HS_GPU_QUANT_CUDA_CUH

#include <cstddef>
#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <json-c/json.h>
#include <stdbool.h>

extern "C" {
#include "quant_cuda.h"
}

// These return -1 from the enclosing function with `err` naming the call and file:line;
// the caller's context struct frees what was allocated.
#define HS_CUDA(call)                                                                          \
    do {                                                                                       \
        cudaError_t e_ = (call);                                                               \
        if (e_ != cudaSuccess)                                                                 \
            return hs_err(err, "%s:%d: %s: %s", __FILE__, __LINE__, #call,                     \
                          cudaGetErrorString(e_));                                             \
    } while (0)
#define HS_CUBLAS(call)                                                                        \
    do {                                                                                       \
        cublasStatus_t s_ = (call);                                                            \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                       \
            return hs_err(err, "%s:%d: %s: %s", __FILE__, __LINE__, #call,                     \
                          cublasGetStatusString(s_));                                          \
    } while (0)
#define HS_CUSOLVER(call)                                                                      \
    do {                                                                                       \
        cusolverStatus_t s_ = (call);                                                          \
        if (s_ != CUSOLVER_STATUS_SUCCESS)                                                     \
            return hs_err(err, "%s:%d: %s: cuSOLVER status %d", __FILE__, __LINE__, #call,     \
                          (int)s_);                                                            \
    } while (0)
#define HS_LAUNCH() HS_CUDA(cudaGetLastError())

static inline unsigned hs_blocks(size_t n, unsigned threads)
{
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > 1048576 ? 1048576 : b);
}

// A device array freed when it goes out of scope.
template <typename T> struct hs_dbuf {
    T *p = nullptr;
    hs_dbuf() = default;
    hs_dbuf(const hs_dbuf &) = delete;
    hs_dbuf &operator=(const hs_dbuf &) = delete;
    ~hs_dbuf()
    {
        if (p)
            cudaFree(p);
    }
    cudaError_t alloc(size_t count)
    {
        if (p)
            cudaFree(p);
        p = nullptr;
        return cudaMalloc((void **)&p, (count ? count : 1) * sizeof(T));
    }
    cudaError_t upload(const T *host, size_t count)
    {
        cudaError_t e = alloc(count);
        return e != cudaSuccess || !count ? e
                                          : cudaMemcpy(p, host, count * sizeof(T),
                                                       cudaMemcpyHostToDevice);
    }
};

// cuBLAS and cuSOLVER handles destroyed when they go out of scope.
struct hs_handles {
    cublasHandle_t blas = nullptr;
    cusolverDnHandle_t solver = nullptr;
    hs_handles() = default;
    hs_handles(const hs_handles &) = delete;
    hs_handles &operator=(const hs_handles &) = delete;
    ~hs_handles()
    {
        if (blas)
            cublasDestroy(blas);
        if (solver)
            cusolverDnDestroy(solver);
    }
};

// Round to the nearest fp16 value and back, as hs_quant_f16_round.
static __device__ __forceinline__ float hs_d_f16_round(float x)
{
    return __half2float(__float2half_rn(x));
}

// One value of hs_quant_minmax_group: q = clamp(rint((x - lo) / s), 0, qmax), x^ = q s + lo.
static __device__ __forceinline__ float hs_d_minmax_apply(float x, float lo, float s, float qmax)
{
    if (s == 0.0f)
        return lo;
    float q = rintf(__fdiv_rn(__fsub_rn(x, lo), s));
    q = q < 0.0f ? 0.0f : q > qmax ? qmax : q;
    return __fadd_rn(__fmul_rn(q, s), lo);
}

// hs_quant_grid: the integer grid of hs_quant_grid_fit / hs_quant_grid_apply.
struct hs_d_grid {
    float scale, zero, qmin, qmax;
};

static __device__ __forceinline__ hs_d_grid hs_d_grid_make(float lo, float hi, float amax,
                                                            int bits, int sym)
{
    hs_d_grid g;
    if (!sym) {
        g.qmin = 0.0f;
        g.qmax = (float)((1 << bits) - 1);
        float range = __fsub_rn(hi, lo);
        g.scale = __fdiv_rn(range > 1e-5f ? range : 1e-5f, g.qmax);
        float z = -rintf(__fdiv_rn(lo, g.scale));
        g.zero = z < 0.0f ? 0.0f : z > g.qmax ? g.qmax : z;
    } else {
        g.qmax = (float)((1 << (bits - 1)) - 1);
        g.qmin = -(float)(1 << (bits - 1));
        g.scale = __fdiv_rn(amax > 1e-5f ? amax : 1e-5f, g.qmax);
        g.zero = 0.0f;
    }
    return g;
}

static __device__ __forceinline__ float hs_d_grid_apply(const hs_d_grid &g, float x)
{
    float q = __fadd_rn(rintf(__fdiv_rn(x, g.scale)), g.zero);
    q = q < g.qmin ? g.qmin : q > g.qmax ? g.qmax : q;
    return __fmul_rn(__fsub_rn(q, g.zero), g.scale);
}

// Warp reductions (all 32 lanes take part).
static __device__ __forceinline__ float hs_warp_min(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

static __device__ __forceinline__ float hs_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

static __device__ __forceinline__ int hs_warp_sum(int v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Defined in quant_common.cu. Device arrays a, b of n floats: *e2 = sum (a - b)^2 and
// *r2 = sum b^2, accumulated in double.
int hs_cuda_err2(const float *a, const float *b, size_t n, double *e2, double *r2,
                 hs_error *err);

// hs_kv_compress on a device array x = [n x tokens x head_dim] (kvcache.cu).
int hs_kv_compress_dev(const hs_kv_config *c, bool is_key, float *x, size_t n, hs_kv_stats *st,
                       cusolverDnHandle_t solver, hs_error *err);

// hs_wq_quantize_cpu on the device weight w into out, both rows x cols (weightquant.cu). The
// activations are read from D (host) when the method needs them.
int hs_wq_quantize_dev(const hs_wq_config *c, const hs_wq_data *D, hs_handles &hd,
                       const float *w, float *out, double *alpha, hs_error *err);

// Name of the current device into buf.
int hs_cuda_device_name(char *buf, size_t len, hs_error *err);

#endif
