/* Preflight checks: a cuBLAS SGEMM against a CBLAS reference, and an NCCL all-reduce.
 * The GPU halves live in check.cu; this file has the inputs, the reference and the verdict. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#ifdef HS_GPU_HAVE_CUDA
#include "cuda_util.h"
#endif

enum { GEMM_SAMPLE_ROWS = 16, GEMM_ITERS = 10, ALLREDUCE_ITERS = 20 };

/* Worst accepted |C - ref| / sum_k |a_ik b_kj|. fp32 accumulation stays orders of magnitude
 * below it, and so does TF32 (2^-11 per product, averaging out over k); a faulty GPU does
 * not. */
#define GEMM_TOLERANCE 1e-3

#ifdef HS_GPU_HAVE_CUDA
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Uniform in [-1, 1), a pure function of (seed, index). */
static void fill_uniform(float *m, size_t count, uint64_t seed)
{
    for (size_t i = 0; i < count; i++)
        m[i] = (float)((double)(splitmix64(seed ^ (i * 0x2545f4914f6cdd1dULL)) >> 11) *
                           (2.0 / 9007199254740992.0) -
                       1.0);
}

/* ref = A[rows,:] B and bound = |A[rows,:]| |B| in double, panel by panel with dgemm. */
static int reference_rows(int n, const float *a, const float *b, const int *rows, int nrows,
                          double *ref, double *bound)
{
    const int panel = 128;
    double *ap = malloc(sizeof(double) * (size_t)nrows * panel);
    double *bp = malloc(sizeof(double) * (size_t)panel * n);
    if (!ap || !bp) {
        free(ap);
        free(bp);
        return -1;
    }
    memset(ref, 0, sizeof(double) * (size_t)nrows * n);
    memset(bound, 0, sizeof(double) * (size_t)nrows * n);
    for (int k0 = 0; k0 < n; k0 += panel) {
        int kb = n - k0 < panel ? n - k0 : panel;
        for (int absval = 0; absval < 2; absval++) {
            for (int r = 0; r < nrows; r++)
                for (int k = 0; k < kb; k++) {
                    double v = a[(size_t)rows[r] * n + k0 + k];
                    ap[(size_t)r * kb + k] = absval ? fabs(v) : v;
                }
            for (size_t i = 0; i < (size_t)kb * n; i++) {
                double v = b[(size_t)k0 * n + i];
                bp[i] = absval ? fabs(v) : v;
            }
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nrows, n, kb, 1.0, ap, kb, bp, n,
                        1.0, absval ? bound : ref, n);
        }
    }
    free(ap);
    free(bp);
    return 0;
}
#endif

int hs_gpu_gemm_check_run(int ordinal, int n, hs_gpu_gemm_check *out, hs_error *err)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n < 64 || n > 32768)
        return hs_err(err, "GEMM size %d is out of range [64, 32768]", n);
#ifndef HS_GPU_HAVE_CUDA
    (void)ordinal;
    return hs_err(err, "cannot run the GEMM check: this hypersweep was built without CUDA");
#else
    int rc = -1;
    size_t nn = (size_t)n * n;
    int rows[GEMM_SAMPLE_ROWS];
    float *a = malloc(sizeof(float) * nn), *b = malloc(sizeof(float) * nn);
    float *c = malloc(sizeof(float) * GEMM_SAMPLE_ROWS * (size_t)n);
    double *ref = malloc(sizeof(double) * GEMM_SAMPLE_ROWS * (size_t)n);
    double *bound = malloc(sizeof(double) * GEMM_SAMPLE_ROWS * (size_t)n);
    if (!a || !b || !c || !ref || !bound) {
        hs_err(err, "out of memory for a %d x %d GEMM check", n, n);
        goto cleanup;
    }
    fill_uniform(a, nn, 1);
    fill_uniform(b, nn, 2);
    /* rows spread over the matrix, first and last included: tiles at both edges are checked */
    for (int r = 0; r < GEMM_SAMPLE_ROWS; r++)
        rows[r] = (int)((long long)r * (n - 1) / (GEMM_SAMPLE_ROWS - 1));
    double sec = 0;
    if (hs_cuda_gemm(ordinal, n, a, b, rows, GEMM_SAMPLE_ROWS, c, GEMM_ITERS, &sec, err) < 0)
        goto cleanup;
    if (reference_rows(n, a, b, rows, GEMM_SAMPLE_ROWS, ref, bound) < 0) {
        hs_err(err, "out of memory for the GEMM reference");
        goto cleanup;
    }
    double worst = 0;
    int bad_r = -1, bad_c = -1;
    for (int r = 0; r < GEMM_SAMPLE_ROWS; r++)
        for (int j = 0; j < n; j++) {
            size_t i = (size_t)r * n + j;
            double e = fabs((double)c[i] - ref[i]) / (bound[i] > 0 ? bound[i] : 1.0);
            if (!(e <= worst)) { /* catches NaN too */
                worst = isnan(e) ? INFINITY : e;
                bad_r = rows[r];
                bad_c = j;
            }
        }
    out->seconds = sec;
    out->tflops = sec > 0 ? 2.0 * n * (double)n * n / sec / 1e12 : 0;
    out->max_rel_err = worst;
    out->ok = worst <= GEMM_TOLERANCE;
    if (out->ok)
        snprintf(out->message, sizeof out->message, "fp32 %dx%d, %d rows checked", n, n,
                 GEMM_SAMPLE_ROWS);
    else
        snprintf(out->message, sizeof out->message,
                 "wrong result: C[%d][%d] is off by %.3g of its scale (tolerance %.0e)", bad_r,
                 bad_c, worst, GEMM_TOLERANCE);
    rc = 0;
cleanup:
    free(a);
    free(b);
    free(c);
    free(ref);
    free(bound);
    return rc;
#endif
}

int hs_gpu_nccl_unique_id(unsigned char id[HS_GPU_NCCL_ID_BYTES], hs_error *err)
{
#ifdef HS_GPU_HAVE_NCCL
    return hs_cuda_nccl_unique_id(id, err);
#else
    (void)id;
    return hs_err(err, "cannot run the all-reduce check: this hypersweep was built without %s",
                  hs_gpu_built_with_cuda() ? "NCCL" : "CUDA");
#endif
}

int hs_gpu_allreduce_check_run(const unsigned char id[HS_GPU_NCCL_ID_BYTES], int nranks, int rank,
                               int ordinal, size_t bytes, hs_gpu_allreduce_check *out,
                               hs_error *err)
{
    memset(out, 0, sizeof *out);
    out->bytes = bytes;
    if (nranks < 1 || rank < 0 || rank >= nranks)
        return hs_err(err, "all-reduce rank %d of %d is out of range", rank, nranks);
    if (bytes < 4 || bytes > ((size_t)16 << 30))
        return hs_err(err, "all-reduce size %zu bytes is out of range [4 B, 16 GiB]", bytes);
#ifdef HS_GPU_HAVE_NCCL
    if (hs_cuda_allreduce(id, nranks, rank, ordinal, bytes, ALLREDUCE_ITERS, out, err) < 0)
        return -1;
    if (out->seconds > 0) {
        out->algbw_gbs = (double)out->bytes / out->seconds / 1e9;
        out->busbw_gbs = out->algbw_gbs * 2.0 * (nranks - 1) / nranks;
    }
    return 0;
#else
    (void)id;
    (void)ordinal;
    return hs_err(err, "cannot run the all-reduce check: this hypersweep was built without %s",
                  hs_gpu_built_with_cuda() ? "NCCL" : "CUDA");
#endif
}
