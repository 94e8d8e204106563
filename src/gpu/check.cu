// Preflight on the GPU: a timed cuBLAS SGEMM and an NCCL all-reduce. The verdicts are in
// check.c. Each function releases the device's primary context before it returns, so a
// worker that ran the preflight holds no GPU memory during the sweep.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>
#ifdef HS_GPU_HAVE_NCCL
#include <nccl.h>
#endif

#include "cuda_util.h"

extern "C" int hs_cuda_gemm(int ordinal, int n, const float *a, const float *b, const int *rows,
                            int nrows, float *c_rows, int iters, double *seconds_per_gemm,
                            hs_error *err)
{
    int rc = -1;
    bool have_device = false;
    cublasHandle_t h = NULL;
    float *da = NULL, *db = NULL, *dc = NULL;
    cudaEvent_t t0 = NULL, t1 = NULL;
    size_t bytes = sizeof(float) * (size_t)n * n;
    const float one = 1.0f, zero = 0.0f;
    float ms = 0;
    HS_CUDA_TRY(err, cudaSetDevice(ordinal));
    have_device = true;
    HS_CUDA_TRY(err, cudaMalloc(&da, bytes));
    HS_CUDA_TRY(err, cudaMalloc(&db, bytes));
    HS_CUDA_TRY(err, cudaMalloc(&dc, bytes));
    HS_CUDA_TRY(err, cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice));
    HS_CUDA_TRY(err, cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice));
    HS_CUBLAS_TRY(err, cublasCreate(&h));
    // Plain fp32: the check is against an fp32 reference (NVIDIA_TF32_OVERRIDE still wins).
    HS_CUBLAS_TRY(err, cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    HS_CUDA_TRY(err, cudaEventCreate(&t0));
    HS_CUDA_TRY(err, cudaEventCreate(&t1));
    // Row-major C = A B is column-major C^T = B^T A^T: pass B first.
    HS_CUBLAS_TRY(
        err, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, db, n, da, n, &zero, dc, n));
    HS_CUDA_TRY(err, cudaEventRecord(t0));
    for (int i = 0; i < iters; i++)
        HS_CUBLAS_TRY(err, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, db, n, da, n,
                                       &zero, dc, n));
    HS_CUDA_TRY(err, cudaEventRecord(t1));
    HS_CUDA_TRY(err, cudaEventSynchronize(t1));
    HS_CUDA_TRY(err, cudaEventElapsedTime(&ms, t0, t1));
    *seconds_per_gemm = ms / 1000.0 / iters;
    for (int r = 0; r < nrows; r++)
        HS_CUDA_TRY(err, cudaMemcpy(c_rows + (size_t)r * n, dc + (size_t)rows[r] * n,
                                    sizeof(float) * n, cudaMemcpyDeviceToHost));
    rc = 0;
cleanup:
    if (t0)
        cudaEventDestroy(t0);
    if (t1)
        cudaEventDestroy(t1);
    if (h)
        cublasDestroy(h);
    cudaFree(da);
    cudaFree(db);
    cudaFree(dc);
    if (have_device)
        cudaDeviceReset();
    return rc;
}

#ifdef HS_GPU_HAVE_NCCL
static_assert(sizeof(ncclUniqueId) == HS_GPU_NCCL_ID_BYTES, "NCCL unique id size");

extern "C" int hs_cuda_nccl_unique_id(unsigned char id[HS_GPU_NCCL_ID_BYTES], hs_error *err)
{
    int rc = -1;
    ncclUniqueId u;
    HS_NCCL_TRY(err, ncclGetUniqueId(&u));
    memcpy(id, &u, sizeof u);
    rc = 0;
cleanup:
    return rc;
}

__global__ void fill_kernel(float *x, size_t n, float v)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] = v;
}

__global__ void count_mismatch_kernel(const float *x, size_t n, float want, unsigned long long *bad)
{
    unsigned long long mine = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        mine += x[i] != want;
    if (mine)
        atomicAdd(bad, mine);
}

extern "C" int hs_cuda_allreduce(const unsigned char id[HS_GPU_NCCL_ID_BYTES], int nranks, int rank,
                                 int ordinal, size_t bytes, int iters, hs_gpu_allreduce_check *out,
                                 hs_error *err)
{
    int rc = -1;
    bool have_device = false;
    ncclComm_t comm = NULL;
    ncclUniqueId u;
    float *send = NULL, *recv = NULL;
    unsigned long long *dbad = NULL, bad = 0;
    cudaStream_t s = NULL;
    cudaEvent_t t0 = NULL, t1 = NULL;
    size_t count = bytes / sizeof(float);
    // Integers up to n(n+1)/2 are exact in fp32 for any realistic n: the sum is known.
    float want = (float)nranks * (nranks + 1) / 2.0f;
    float ms = 0;
    memcpy(&u, id, sizeof u);
    out->bytes = count * sizeof(float);
    HS_CUDA_TRY(err, cudaSetDevice(ordinal));
    have_device = true;
    HS_CUDA_TRY(err, cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    HS_CUDA_TRY(err, cudaMalloc(&send, out->bytes));
    HS_CUDA_TRY(err, cudaMalloc(&recv, out->bytes));
    HS_CUDA_TRY(err, cudaMalloc(&dbad, sizeof *dbad));
    HS_CUDA_TRY(err, cudaMemsetAsync(dbad, 0, sizeof *dbad, s));
    fill_kernel<<<1024, 256, 0, s>>>(send, count, (float)(rank + 1));
    HS_CUDA_TRY(err, cudaGetLastError());
    HS_NCCL_TRY(err, ncclCommInitRank(&comm, nranks, u, rank));
    HS_CUDA_TRY(err, cudaEventCreate(&t0));
    HS_CUDA_TRY(err, cudaEventCreate(&t1));
    for (int i = 0; i < 3; i++) // warm-up: connections are set up lazily
        HS_NCCL_TRY(err, ncclAllReduce(send, recv, count, ncclFloat, ncclSum, comm, s));
    HS_CUDA_TRY(err, cudaEventRecord(t0, s));
    for (int i = 0; i < iters; i++)
        HS_NCCL_TRY(err, ncclAllReduce(send, recv, count, ncclFloat, ncclSum, comm, s));
    HS_CUDA_TRY(err, cudaEventRecord(t1, s));
    HS_CUDA_TRY(err, cudaEventSynchronize(t1));
    HS_CUDA_TRY(err, cudaEventElapsedTime(&ms, t0, t1));
    count_mismatch_kernel<<<1024, 256, 0, s>>>(recv, count, want, dbad);
    HS_CUDA_TRY(err, cudaGetLastError());
    HS_CUDA_TRY(err, cudaMemcpyAsync(&bad, dbad, sizeof bad, cudaMemcpyDeviceToHost, s));
    HS_CUDA_TRY(err, cudaStreamSynchronize(s));
    out->seconds = ms / 1000.0 / iters;
    out->ok = bad == 0;
    if (out->ok)
        snprintf(out->message, sizeof out->message, "%d GPUs, %zu MiB, sum exact", nranks,
                 out->bytes >> 20);
    else
        snprintf(out->message, sizeof out->message,
                 "wrong sum in %llu of %zu elements (expected %g everywhere)", bad, count,
                 (double)want);
    rc = 0;
cleanup:
    if (comm) {
        if (rc < 0)
            ncclCommAbort(comm);
        else
            ncclCommDestroy(comm);
    }
    if (t0)
        cudaEventDestroy(t0);
    if (t1)
        cudaEventDestroy(t1);
    if (s)
        cudaStreamDestroy(s);
    cudaFree(send);
    cudaFree(recv);
    cudaFree(dbad);
    if (have_device)
        cudaDeviceReset();
    return rc;
}
#endif
