// The prune probe on a GPU: the same forward, backward and statistics as prune_cpu.c, with
// cuBLAS for the GEMMs and own kernels for the rest. Row-major like the CPU code: a
// row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T (see rm_gemm).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_util.h"
#include "prune.h"
#include "prune_math.h"

namespace
{

struct cuda_backend {
    prune_model m; // dimensions only: the weights live on the device
    int max_tokens, max_seqs;
    unsigned want;
    cublasHandle_t blas;
    cudaStream_t stream;
    char name[128];
    float *w[PRUNE_MAX_LAYERS], *head;
    float *xin, *x, *u[PRUNE_MAX_BLOCKS], *r[PRUNE_MAX_BLOCKS], *h[PRUNE_MAX_BLOCKS],
        *a[PRUNE_MAX_BLOCKS], *ry, *n, *z;
    float *dx, *dn, *dh, *du, *sq_out, *sq_in, *seqg;
    float *g[PRUNE_MAX_LAYERS], *gs[PRUNE_MAX_LAYERS], *fi[PRUNE_MAX_LAYERS];
    double *in_sq[PRUNE_MAX_LAYERS], *loss;
};

const int THREADS = 256;
const int WARPS = THREADS / 32;

int blocks_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return (int)(b < 4096 ? (b ? b : 1) : 4096);
}

cublasStatus_t rm_gemm(cublasHandle_t h, bool ta, bool tb, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C,
                       int ldc)
{
    return cublasSgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                       &alpha, B, ldb, A, lda, &beta, C, ldc);
}

__device__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// u = x / r, r = sqrt(mean(x^2) + eps): one warp per row
__global__ void k_rmsnorm(const float *x, int T, int d, float *u, float *r)
{
    int t = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (t >= T)
        return;
    const float *xt = x + (size_t)t * d;
    float ss = 0;
    for (int j = lane; j < d; j += 32)
        ss += xt[j] * xt[j];
    ss = warp_sum(ss);
    float rt = sqrtf(ss / (float)d + PRUNE_NORM_EPS), inv = 1.0f / rt;
    if (lane == 0)
        r[t] = rt;
    for (int j = lane; j < d; j += 32)
        u[(size_t)t * d + j] = xt[j] * inv;
}

// dx (+)= (du - u (u . du) / d) / r
__global__ void k_rmsnorm_back(const float *u, const float *r, const float *du, int T, int d,
                               float *dx, bool accumulate)
{
    int t = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (t >= T)
        return;
    const float *ut = u + (size_t)t * d, *gt = du + (size_t)t * d;
    float dot = 0;
    for (int j = lane; j < d; j += 32)
        dot += ut[j] * gt[j];
    dot = warp_sum(dot);
    float c = dot / (float)d, inv = 1.0f / r[t];
    float *xt = dx + (size_t)t * d;
    for (int j = lane; j < d; j += 32) {
        float v = (gt[j] - ut[j] * c) * inv;
        xt[j] = accumulate ? xt[j] + v : v;
    }
}

__global__ void k_act(const float *h, size_t n, int act, float *a)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        a[i] = prune_act(h[i], act);
}

__global__ void k_act_back(const float *h, size_t n, int act, float *dh)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dh[i] *= prune_act_grad(h[i], act);
}

__global__ void k_square(const float *v, size_t n, float *out)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = v[i] * v[i];
}

// acc[j] += w sum_t v[t][j]^2; each thread sums a stretch of rows of one column
__global__ void k_col_sumsq(const float *v, int T, int cols, double w, double *acc)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols)
        return;
    int per = (T + gridDim.y - 1) / gridDim.y, t0 = blockIdx.y * per;
    int t1 = t0 + per < T ? t0 + per : T;
    float s = 0;
    for (int t = t0; t < t1; t++) {
        float e = v[(size_t)t * cols + j];
        s += e * e;
    }
    atomicAdd(&acc[j], w * (double)s);
}

// Softmax cross-entropy against the row's own argmax (the first maximum, as on the CPU);
// z becomes p - onehot(label). One warp per row.
__global__ void k_softmax_ce(float *z, int T, int V, double w, double *loss)
{
    int t = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (t >= T)
        return;
    float *zt = z + (size_t)t * V;
    float best = -INFINITY;
    int arg = V;
    for (int v = lane; v < V; v += 32)
        if (zt[v] > best) {
            best = zt[v];
            arg = v;
        }
    for (int o = 16; o > 0; o >>= 1) {
        float ob = __shfl_xor_sync(0xffffffffu, best, o);
        int oa = __shfl_xor_sync(0xffffffffu, arg, o);
        if (ob > best || (ob == best && oa < arg)) {
            best = ob;
            arg = oa;
        }
    }
    float sum = 0;
    for (int v = lane; v < V; v += 32) {
        float e = prune_exp(zt[v] - best);
        zt[v] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    float inv = 1.0f / sum;
    for (int v = lane; v < V; v += 32)
        zt[v] = zt[v] * inv - (v == arg ? 1.0f : 0.0f);
    if (lane == 0)
        atomicAdd(loss, w * log((double)sum));
}

// g += ws sum_s q_s, gs += ws sum_s q_s^2 over the batch of per-sequence gradients q_s
__global__ void k_seq_reduce(const float *q, int nseq, size_t n, float ws, float *g, float *gs)
{
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n;
         k += (size_t)gridDim.x * blockDim.x) {
        float s1 = 0, s2 = 0;
        for (int s = 0; s < nseq; s++) {
            float v = q[(size_t)s * n + k];
            s1 += v;
            s2 += v * v;
        }
        g[k] += ws * s1;
        gs[k] += ws * s2;
    }
}

void cuda_free_all(cuda_backend *b)
{
    float **fl[] = { &b->head, &b->xin, &b->x,  &b->ry,     &b->n,     &b->z,   &b->dx,
                     &b->dn,   &b->dh,  &b->du, &b->sq_out, &b->sq_in, &b->seqg };
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        cudaFree(*fl[i]);
        *fl[i] = NULL;
    }
    for (int i = 0; i < PRUNE_MAX_BLOCKS; i++) {
        cudaFree(b->u[i]);
        cudaFree(b->r[i]);
        cudaFree(b->h[i]);
        cudaFree(b->a[i]);
    }
    for (int l = 0; l < PRUNE_MAX_LAYERS; l++) {
        cudaFree(b->w[l]);
        cudaFree(b->g[l]);
        cudaFree(b->gs[l]);
        cudaFree(b->fi[l]);
        cudaFree(b->in_sq[l]);
    }
    cudaFree(b->loss);
}

void cuda_destroy(prune_backend *pb)
{
    cuda_backend *b = (cuda_backend *)pb;
    if (!b)
        return;
    cuda_free_all(b);
    if (b->blas)
        cublasDestroy(b->blas);
    if (b->stream)
        cudaStreamDestroy(b->stream);
    free(b);
}

int cuda_set_weights(prune_backend *pb, float *const *w, hs_error *err)
{
    cuda_backend *b = (cuda_backend *)pb;
    int rc = -1;
    for (int l = 0; l < prune_nlayers(&b->m); l++)
        HS_CUDA_TRY(err, cudaMemcpyAsync(b->w[l], w[l], sizeof(float) * prune_size(&b->m, l),
                                         cudaMemcpyHostToDevice, b->stream));
    HS_CUDA_TRY(err, cudaStreamSynchronize(b->stream));
    rc = 0;
cleanup:
    return rc;
}

#define DALLOC(ptr, count)                                                                         \
    HS_CUDA_TRY(err, cudaMalloc((void **)&(ptr), sizeof(*(ptr)) * (size_t)(count)))

prune_backend *cuda_create(const prune_model *m, int max_tokens, unsigned want, hs_error *err)
{
    cuda_backend *b = (cuda_backend *)calloc(1, sizeof *b);
    int rc = -1;
    size_t T = (size_t)max_tokens, d = (size_t)m->d, f = (size_t)m->f, V = (size_t)m->vocab;
    size_t big = f > d ? f : d;
    cudaDeviceProp prop;
    if (!b) {
        hs_err(err, "out of memory");
        return NULL;
    }
    b->m.nblocks = m->nblocks;
    b->m.d = m->d;
    b->m.f = m->f;
    b->m.vocab = m->vocab;
    b->m.act = m->act;
    b->max_tokens = max_tokens;
    // prune_calibrate_all never passes more sequences than this in one call
    b->max_seqs = max_tokens < PRUNE_CHUNK_TOKENS ? max_tokens : PRUNE_CHUNK_TOKENS;
    b->want = want;
    // The run's GPU: the worker gives each run exactly one in CUDA_VISIBLE_DEVICES.
    HS_CUDA_TRY(err, cudaSetDevice(0));
    HS_CUDA_TRY(err, cudaGetDeviceProperties(&prop, 0));
    snprintf(b->name, sizeof b->name, "%.*s", (int)sizeof b->name - 1, prop.name);
    HS_CUDA_TRY(err, cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking));
    HS_CUBLAS_TRY(err, cublasCreate(&b->blas));
    HS_CUBLAS_TRY(err, cublasSetStream(b->blas, b->stream));
    // fp32 throughout, like the CPU reference (no TF32: the agreement test depends on it)
    HS_CUBLAS_TRY(err, cublasSetMathMode(b->blas, CUBLAS_PEDANTIC_MATH));
    for (int l = 0; l < prune_nlayers(m); l++) {
        size_t size = (size_t)prune_size(m, l);
        DALLOC(b->w[l], size);
        DALLOC(b->in_sq[l], prune_cols(m, l));
        if (want & PRUNE_WANT_GRAD) {
            DALLOC(b->g[l], size);
            DALLOC(b->gs[l], size);
            HS_CUDA_TRY(err, cudaMemsetAsync(b->g[l], 0, sizeof(float) * size, b->stream));
            HS_CUDA_TRY(err, cudaMemsetAsync(b->gs[l], 0, sizeof(float) * size, b->stream));
        }
        if (want & PRUNE_WANT_FISHER) {
            DALLOC(b->fi[l], size);
            HS_CUDA_TRY(err, cudaMemsetAsync(b->fi[l], 0, sizeof(float) * size, b->stream));
        }
        HS_CUDA_TRY(err,
                    cudaMemsetAsync(b->in_sq[l], 0, sizeof(double) * prune_cols(m, l), b->stream));
    }
    DALLOC(b->head, V * d);
    DALLOC(b->xin, T * d);
    DALLOC(b->x, T * d);
    DALLOC(b->ry, T);
    DALLOC(b->n, T * d);
    DALLOC(b->z, T * V);
    DALLOC(b->dx, T * d);
    DALLOC(b->dn, T * d);
    DALLOC(b->dh, T * f);
    DALLOC(b->du, T * d);
    DALLOC(b->loss, 1);
    HS_CUDA_TRY(err, cudaMemsetAsync(b->loss, 0, sizeof(double), b->stream));
    for (int k = 0; k < m->nblocks; k++) {
        DALLOC(b->u[k], T * d);
        DALLOC(b->r[k], T);
        DALLOC(b->h[k], T * f);
        DALLOC(b->a[k], T * f);
    }
    if (want & PRUNE_WANT_GRAD)
        DALLOC(b->seqg, f * d * (size_t)b->max_seqs);
    if (want & PRUNE_WANT_FISHER) {
        DALLOC(b->sq_out, T * big);
        DALLOC(b->sq_in, T * big);
    }
    // Everything goes through the backend's stream, which does not wait for the legacy
    // default stream: no plain cudaMemset / cudaMemcpy here.
    HS_CUDA_TRY(err, cudaMemcpyAsync(b->head, m->head, sizeof(float) * V * d,
                                     cudaMemcpyHostToDevice, b->stream));
    if (cuda_set_weights((prune_backend *)b, m->w, err) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (rc < 0) {
        cuda_destroy((prune_backend *)b);
        return NULL;
    }
    return (prune_backend *)b;
}

// The forward of T tokens already in b->xin.
int forward(cuda_backend *b, int T, hs_error *err)
{
    const prune_model *m = &b->m;
    int d = m->d, f = m->f, rc = -1, rows = (T + WARPS - 1) / WARPS;
    size_t nf = (size_t)T * f;
    HS_CUDA_TRY(err, cudaMemcpyAsync(b->x, b->xin, sizeof(float) * (size_t)T * d,
                                     cudaMemcpyDeviceToDevice, b->stream));
    for (int k = 0; k < m->nblocks; k++) {
        k_rmsnorm<<<rows, THREADS, 0, b->stream>>>(b->x, T, d, b->u[k], b->r[k]);
        HS_CUDA_TRY(err, cudaGetLastError());
        HS_CUBLAS_TRY(err, rm_gemm(b->blas, false, true, T, f, d, 1.0f, b->u[k], d, b->w[2 * k], d,
                                   0.0f, b->h[k], f));
        k_act<<<blocks_for(nf), THREADS, 0, b->stream>>>(b->h[k], nf, m->act, b->a[k]);
        HS_CUDA_TRY(err, cudaGetLastError());
        HS_CUBLAS_TRY(err, rm_gemm(b->blas, false, true, T, d, f, 1.0f, b->a[k], f, b->w[2 * k + 1],
                                   f, 1.0f, b->x, d));
    }
    k_rmsnorm<<<rows, THREADS, 0, b->stream>>>(b->x, T, d, b->n, b->ry);
    HS_CUDA_TRY(err, cudaGetLastError());
    HS_CUBLAS_TRY(err, rm_gemm(b->blas, false, true, T, m->vocab, d, 1.0f, b->n, d, b->head, d,
                               0.0f, b->z, m->vocab));
    rc = 0;
cleanup:
    return rc;
}

// Per-sequence gradients of one layer (one batched GEMM), their mean and mean square, and
// the per-token Fisher term. delta: T x rows, in: T x cols.
int layer_grads(cuda_backend *b, int l, const float *delta, const float *in, int nseq, int L,
                int rows, int cols, long total_seqs, hs_error *err)
{
    int rc = -1;
    size_t n = (size_t)rows * cols;
    float ws = (float)(1.0 / (double)total_seqs), inv_l = 1.0f / (float)L, zero = 0.0f;
    // row-major C_s (rows x cols) = delta_s^T in_s, as column-major C_s^T = in_s^T delta_s
    HS_CUBLAS_TRY(err, cublasSgemmStridedBatched(b->blas, CUBLAS_OP_N, CUBLAS_OP_T, cols, rows, L,
                                                 &inv_l, in, cols, (long long)L * cols, delta, rows,
                                                 (long long)L * rows, &zero, b->seqg, cols,
                                                 (long long)n, nseq));
    k_seq_reduce<<<blocks_for(n), THREADS, 0, b->stream>>>(b->seqg, nseq, n, ws, b->g[l], b->gs[l]);
    HS_CUDA_TRY(err, cudaGetLastError());
    if (b->want & PRUNE_WANT_FISHER) {
        size_t T = (size_t)nseq * L;
        k_square<<<blocks_for(T * rows), THREADS, 0, b->stream>>>(delta, T * rows, b->sq_out);
        k_square<<<blocks_for(T * cols), THREADS, 0, b->stream>>>(in, T * cols, b->sq_in);
        HS_CUDA_TRY(err, cudaGetLastError());
        HS_CUBLAS_TRY(err, rm_gemm(b->blas, true, false, rows, cols, (int)T, ws * inv_l, b->sq_out,
                                   rows, b->sq_in, cols, 1.0f, b->fi[l], cols));
    }
    rc = 0;
cleanup:
    return rc;
}

int add_col_sumsq(cuda_backend *b, const float *v, int T, int cols, double w, double *acc,
                  hs_error *err)
{
    int rc = -1;
    dim3 grid((cols + 127) / 128, T < 64 ? 1 : 64);
    k_col_sumsq<<<grid, 128, 0, b->stream>>>(v, T, cols, w, acc);
    HS_CUDA_TRY(err, cudaGetLastError());
    rc = 0;
cleanup:
    return rc;
}

int cuda_calibrate(prune_backend *pb, const float *x, int nseq, int L, long total_seqs,
                   hs_error *err)
{
    cuda_backend *b = (cuda_backend *)pb;
    const prune_model *m = &b->m;
    int T = nseq * L, d = m->d, f = m->f, V = m->vocab, rc = -1;
    int rows = (T + WARPS - 1) / WARPS;
    double w = 1.0 / ((double)total_seqs * L);
    if (T > b->max_tokens || nseq > b->max_seqs)
        return hs_err(err, "calibration chunk of %d sequences of %d tokens exceeds %d tokens", nseq,
                      L, b->max_tokens);
    HS_CUDA_TRY(err, cudaMemcpyAsync(b->xin, x, sizeof(float) * (size_t)T * d,
                                     cudaMemcpyHostToDevice, b->stream));
    if (forward(b, T, err) < 0)
        goto cleanup;
    for (int k = 0; k < m->nblocks; k++)
        if (add_col_sumsq(b, b->u[k], T, d, w, b->in_sq[2 * k], err) < 0 ||
            add_col_sumsq(b, b->a[k], T, f, w, b->in_sq[2 * k + 1], err) < 0)
            goto cleanup;
    if (b->want & PRUNE_WANT_GRAD) {
        k_softmax_ce<<<rows, THREADS, 0, b->stream>>>(b->z, T, V, w, b->loss);
        HS_CUDA_TRY(err, cudaGetLastError());
        HS_CUBLAS_TRY(err, rm_gemm(b->blas, false, false, T, d, V, 1.0f, b->z, V, b->head, d, 0.0f,
                                   b->dn, d));
        k_rmsnorm_back<<<rows, THREADS, 0, b->stream>>>(b->n, b->ry, b->dn, T, d, b->dx, false);
        HS_CUDA_TRY(err, cudaGetLastError());
        for (int k = m->nblocks - 1; k >= 0; k--) {
            size_t nf = (size_t)T * f;
            if (layer_grads(b, 2 * k + 1, b->dx, b->a[k], nseq, L, d, f, total_seqs, err) < 0)
                goto cleanup;
            HS_CUBLAS_TRY(err, rm_gemm(b->blas, false, false, T, f, d, 1.0f, b->dx, d,
                                       b->w[2 * k + 1], f, 0.0f, b->dh, f));
            k_act_back<<<blocks_for(nf), THREADS, 0, b->stream>>>(b->h[k], nf, m->act, b->dh);
            HS_CUDA_TRY(err, cudaGetLastError());
            if (layer_grads(b, 2 * k, b->dh, b->u[k], nseq, L, f, d, total_seqs, err) < 0)
                goto cleanup;
            HS_CUBLAS_TRY(err, rm_gemm(b->blas, false, false, T, d, f, 1.0f, b->dh, f, b->w[2 * k],
                                       d, 0.0f, b->du, d));
            k_rmsnorm_back<<<rows, THREADS, 0, b->stream>>>(b->u[k], b->r[k], b->du, T, d, b->dx,
                                                            true);
            HS_CUDA_TRY(err, cudaGetLastError());
        }
    }
    // x is the caller's buffer: it must not change before the copy has happened
    HS_CUDA_TRY(err, cudaStreamSynchronize(b->stream));
    rc = 0;
cleanup:
    return rc;
}

int cuda_stats(prune_backend *pb, prune_stats *s, hs_error *err)
{
    cuda_backend *b = (cuda_backend *)pb;
    const prune_model *m = &b->m;
    int rc = -1;
    for (int l = 0; l < prune_nlayers(m); l++) {
        size_t size = sizeof(float) * (size_t)prune_size(m, l);
        HS_CUDA_TRY(err, cudaMemcpyAsync(s->in_sq[l], b->in_sq[l],
                                         sizeof(double) * (size_t)prune_cols(m, l),
                                         cudaMemcpyDeviceToHost, b->stream));
        if (s->grad[l] && b->g[l])
            HS_CUDA_TRY(
                err, cudaMemcpyAsync(s->grad[l], b->g[l], size, cudaMemcpyDeviceToHost, b->stream));
        if (s->grad_sq[l] && b->gs[l])
            HS_CUDA_TRY(err, cudaMemcpyAsync(s->grad_sq[l], b->gs[l], size, cudaMemcpyDeviceToHost,
                                             b->stream));
        if (s->fisher[l] && b->fi[l])
            HS_CUDA_TRY(err, cudaMemcpyAsync(s->fisher[l], b->fi[l], size, cudaMemcpyDeviceToHost,
                                             b->stream));
    }
    HS_CUDA_TRY(
        err, cudaMemcpyAsync(&s->loss, b->loss, sizeof(double), cudaMemcpyDeviceToHost, b->stream));
    HS_CUDA_TRY(err, cudaStreamSynchronize(b->stream));
    if (!(b->want & PRUNE_WANT_GRAD))
        s->loss = NAN;
    rc = 0;
cleanup:
    return rc;
}

int cuda_forward(prune_backend *pb, const float *x, int T, float *y, float *logits, hs_error *err)
{
    cuda_backend *b = (cuda_backend *)pb;
    int rc = -1;
    if (T > b->max_tokens)
        return hs_err(err, "forward of %d tokens exceeds %d", T, b->max_tokens);
    HS_CUDA_TRY(err, cudaMemcpyAsync(b->xin, x, sizeof(float) * (size_t)T * b->m.d,
                                     cudaMemcpyHostToDevice, b->stream));
    if (forward(b, T, err) < 0)
        goto cleanup;
    HS_CUDA_TRY(err, cudaMemcpyAsync(y, b->x, sizeof(float) * (size_t)T * b->m.d,
                                     cudaMemcpyDeviceToHost, b->stream));
    HS_CUDA_TRY(err, cudaMemcpyAsync(logits, b->z, sizeof(float) * (size_t)T * b->m.vocab,
                                     cudaMemcpyDeviceToHost, b->stream));
    HS_CUDA_TRY(err, cudaStreamSynchronize(b->stream));
    rc = 0;
cleanup:
    return rc;
}

const char *cuda_device_name(prune_backend *pb)
{
    return ((cuda_backend *)pb)->name;
}

} // namespace

extern "C" const prune_backend_ops prune_cuda_ops = {
    "cuda",     cuda_create,  cuda_set_weights, cuda_calibrate,
    cuda_stats, cuda_forward, cuda_device_name, cuda_destroy,
};

namespace
{

int add_row(prune_bench_row *rows, int *n, int max, const char *what, double seconds, double bytes,
            double flops)
{
    if (*n >= max)
        return 0;
    prune_bench_row *r = &rows[(*n)++];
    snprintf(r->what, sizeof r->what, "%s", what);
    r->seconds = seconds;
    r->bytes = bytes;
    r->flops = flops;
    return 0;
}

} // namespace

// Each measurement: one warm-up call, then REPS calls between two events.
#define TIME(label, bytes, flops, ...)                                                             \
    do {                                                                                           \
        __VA_ARGS__;                                                                               \
        HS_CUDA_TRY(err, cudaGetLastError());                                                      \
        HS_CUDA_TRY(err, cudaEventRecord(t0, stream));                                             \
        for (int rep_ = 0; rep_ < REPS; rep_++) {                                                  \
            __VA_ARGS__;                                                                           \
        }                                                                                          \
        HS_CUDA_TRY(err, cudaEventRecord(t1, stream));                                             \
        HS_CUDA_TRY(err, cudaEventSynchronize(t1));                                                \
        HS_CUDA_TRY(err, cudaGetLastError());                                                      \
        HS_CUDA_TRY(err, cudaEventElapsedTime(&ms, t0, t1));                                       \
        add_row(rows, &n, max, label, ms / 1000.0 / REPS, bytes, flops);                           \
    } while (0)

extern "C" int prune_cuda_bench(const char *profile, prune_bench_row *rows, int max,
                                double *peak_gbs, hs_error *err)
{
    const int REPS = 20, SEQ = 32;
    int rc = -1, n = 0, clock_khz = 0, bus_bits = 0;
    float ms = 0;
    prune_model m = {};
    prune_data g = {};
    prune_backend *be = NULL;
    cuda_backend *b = NULL;
    cudaStream_t stream = NULL;
    cudaEvent_t t0 = NULL, t1 = NULL;
    float *big_in = NULL, *big_out = NULL, *rbuf = NULL, *x = NULL;
    double *acc = NULL;
    size_t big = (size_t)1 << 26; // 256 MiB per buffer: far beyond any cache
    int rows_big = 0, tok = PRUNE_CHUNK_TOKENS, T_large = 1 << 16;
    int d = 0, f = 0;
    *peak_gbs = 0;
    if (prune_profile_build(profile, &m, &g, err) < 0)
        return -1;
    d = m.d;
    f = m.f;
    rows_big = (int)(big / (size_t)d);
    HS_CUDA_TRY(err, cudaSetDevice(0));
    HS_CUDA_TRY(err, cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, 0));
    HS_CUDA_TRY(err, cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0));
    *peak_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9; // double data rate
    be = cuda_create(&m, T_large, PRUNE_WANT_GRAD | PRUNE_WANT_FISHER, err);
    if (!be)
        goto cleanup;
    b = (cuda_backend *)be;
    stream = b->stream;
    HS_CUDA_TRY(err, cudaEventCreate(&t0));
    HS_CUDA_TRY(err, cudaEventCreate(&t1));
    HS_CUDA_TRY(err, cudaMalloc(&big_in, sizeof(float) * big));
    HS_CUDA_TRY(err, cudaMalloc(&big_out, sizeof(float) * big));
    HS_CUDA_TRY(err, cudaMalloc(&acc, sizeof(double) * (size_t)f));
    HS_CUDA_TRY(err, cudaMalloc(&rbuf, sizeof(float) * (size_t)rows_big));
    HS_CUDA_TRY(err, cudaMemsetAsync(rbuf, 0, sizeof(float) * (size_t)rows_big, stream));
    HS_CUDA_TRY(err, cudaMemsetAsync(big_in, 0, sizeof(float) * big, stream));
    HS_CUDA_TRY(err, cudaMemsetAsync(big_out, 0, sizeof(float) * big, stream));

    // bandwidth-bound kernels on streaming sizes
    TIME(m.act == PRUNE_GELU ? "GELU forward" : "ReLU forward", 8.0 * big, 0,
         k_act<<<blocks_for(big), THREADS, 0, stream>>>(big_in, big, m.act, big_out));
    TIME(m.act == PRUNE_GELU ? "GELU backward" : "ReLU backward", 12.0 * big, 0,
         k_act_back<<<blocks_for(big), THREADS, 0, stream>>>(big_in, big, m.act, big_out));
    TIME("RMSNorm forward", 4.0 * (2.0 * big + rows_big), 0,
         k_rmsnorm<<<(rows_big + WARPS - 1) / WARPS, THREADS, 0, stream>>>(big_in, rows_big, d,
                                                                           big_out, rbuf));
    TIME("RMSNorm backward", 4.0 * (4.0 * big + rows_big), 0,
         k_rmsnorm_back<<<(rows_big + WARPS - 1) / WARPS, THREADS, 0, stream>>>(
             big_in, rbuf, big_in, rows_big, d, big_out, true));
    TIME("square", 8.0 * big, 0,
         k_square<<<blocks_for(big), THREADS, 0, stream>>>(big_in, big, big_out));
    TIME("column sums of squares", 4.0 * big, 0,
         k_col_sumsq<<<dim3((f + 127) / 128, 1024), 128, 0, stream>>>(big_in, (int)(big / f), f,
                                                                      1.0, acc));
    {
        int nseq = (int)(big / ((size_t)f * d)) - 4;
        size_t nn = (size_t)f * d;
        TIME("per-sequence reduction", 4.0 * ((double)nseq * nn + 4.0 * nn), 0,
             k_seq_reduce<<<blocks_for(nn), THREADS, 0, stream>>>(big_in, nseq, nn, 1.0f, big_out,
                                                                  big_out + nn));
    }

    // the GEMMs at the probe's shapes: one chunk, and a large batch for comparison
    for (int T = tok; T <= T_large; T *= 32) {
        char label[64];
        snprintf(label, sizeof label, "GEMM up-projection, %d tokens", T);
        TIME(label, 0, 2.0 * T * f * d,
             HS_CUBLAS_TRY(err, rm_gemm(b->blas, false, true, T, f, d, 1.0f, b->u[0], d, b->w[0], d,
                                        0.0f, b->h[0], f)));
        snprintf(label, sizeof label, "GEMM weight gradient, %d tokens", T);
        TIME(label, 0, 2.0 * T * f * d,
             HS_CUBLAS_TRY(err, rm_gemm(b->blas, true, false, f, d, T, 1.0f, b->dh, f, b->u[0], d,
                                        1.0f, b->g[0], d)));
    }
    {
        float one = 1.0f, zero = 0.0f;
        int nseq = tok / SEQ;
        TIME("GEMM per-sequence gradients (batched)", 0, 2.0 * tok * f * d,
             HS_CUBLAS_TRY(err, cublasSgemmStridedBatched(b->blas, CUBLAS_OP_N, CUBLAS_OP_T, d, f,
                                                          SEQ, &one, b->u[0], d, (long long)SEQ * d,
                                                          b->dh, f, (long long)SEQ * f, &zero,
                                                          b->seqg, d, (long long)f * d, nseq)));
    }

    // one whole calibration chunk, as the probe runs it
    x = (float *)malloc(sizeof(float) * (size_t)tok * d);
    if (!x) {
        hs_err(err, "out of memory");
        goto cleanup;
    }
    for (int s = 0; s < tok / SEQ; s++)
        prune_data_sequence(&g, 1, (uint64_t)s, SEQ, x + (size_t)s * SEQ * d);
    {
        double flops = 12.0 * tok * (double)d * f * m.nblocks;
        char label[64];
        snprintf(label, sizeof label, "calibration chunk (%d tokens)", tok);
        TIME(label, 0, flops,
             if (cuda_calibrate(be, x, tok / SEQ, SEQ, 1 << 20, err) < 0) goto cleanup);
    }
    rc = n;
cleanup:
    free(x);
    cudaFree(big_in);
    cudaFree(big_out);
    cudaFree(acc);
    cudaFree(rbuf);
    if (t0)
        cudaEventDestroy(t0);
    if (t1)
        cudaEventDestroy(t1);
    cuda_destroy(be);
    prune_data_free(&g);
    prune_model_free(&m);
    return rc;
}
