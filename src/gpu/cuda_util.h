/* Private to src/gpu: what the .cu files give the C side, and the check macros they use.
 * Everything declared here exists only in a build with HS_GPU_HAVE_CUDA. */
#ifndef HS_GPU_CUDA_UTIL_H
#define HS_GPU_CUDA_UTIL_H

#include <stddef.h>

/* error.h and gpu.h are C headers without linkage guards. */
#ifdef __cplusplus
extern "C" {
#endif

#include "error.h"
#include "gpu.h"

/* hs_gpu_list through the CUDA runtime: creates no context. */
int hs_cuda_list(hs_gpu_device **out, hs_error *err);

/* C = A B (row-major n x n, fp32) on `ordinal`, `iters` timed repetitions after a warm-up;
 * copies the rows listed in rows[0..nrows) of C to c_rows. Releases the device's primary
 * context before returning. */
int hs_cuda_gemm(int ordinal, int n, const float *a, const float *b, const int *rows, int nrows,
                 float *c_rows, int iters, double *seconds_per_gemm, hs_error *err);

#ifdef HS_GPU_HAVE_NCCL
int hs_cuda_nccl_unique_id(unsigned char id[HS_GPU_NCCL_ID_BYTES], hs_error *err);
/* Out-of-place fp32 sum all-reduce of `bytes`; rank r contributes r + 1 everywhere, so the
 * result is known exactly. Returns -1 if it could not run; a wrong sum is out->ok = false. */
int hs_cuda_allreduce(const unsigned char id[HS_GPU_NCCL_ID_BYTES], int nranks, int rank,
                      int ordinal, size_t bytes, int iters, hs_gpu_allreduce_check *out,
                      hs_error *err);
#endif

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
/* Each sets err from the library's own message with file:line, then jumps to `cleanup`
 * (the function's single exit, which returns rc). They never exit. */
#define HS_CUDA_TRY(err, call)                                                                     \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            hs_err((err), "%s:%d: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(e_));     \
            goto cleanup;                                                                          \
        }                                                                                          \
    } while (0)

#define HS_CUBLAS_TRY(err, call)                                                                   \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                         \
            hs_err((err), "%s:%d: %s: %s", __FILE__, __LINE__, #call, cublasGetStatusString(s_));  \
            goto cleanup;                                                                          \
        }                                                                                          \
    } while (0)

#define HS_NCCL_TRY(err, call)                                                                     \
    do {                                                                                           \
        ncclResult_t n_ = (call);                                                                  \
        if (n_ != ncclSuccess) {                                                                   \
            hs_err((err), "%s:%d: %s: %s", __FILE__, __LINE__, #call, ncclGetErrorString(n_));     \
            goto cleanup;                                                                          \
        }                                                                                          \
    } while (0)
#endif

#endif
