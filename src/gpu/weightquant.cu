// CUDA version of the weightquant probe (weightquant.c is the CPU reference; docs/probes.md
// has the formulas). fp16 and RTN reproduce the reference bit for bit; AWQ's search and GPTQ
// (cuSOLVER Cholesky, cuBLAS lazy updates) agree within the tolerances of
// tests/gpu/test_quant_gpu.c.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "quant_cuda.cuh"

extern "C" {
#include "util.h"
}

namespace {

constexpr unsigned kThreads = 256;

__global__ void k_f16(const float *w, float *out, size_t n)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = hs_d_f16_round(w[i]);
}

// hs_quant_rtn_rows: one warp per (row, group); colscale (AWQ) multiplies before and divides
// after, or is NULL.
__global__ void k_rtn(const float *w, float *out, int rows, int cols, int g, int ngroups,
                      int bits, int sym, const float *colscale)
{
    size_t warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (warp >= (size_t)rows * ngroups)
        return;
    int r = (int)(warp / ngroups), c0 = (int)(warp % ngroups) * g, cnt = min(g, cols - c0);
    const float *wr = w + (size_t)r * cols + c0;
    const float *sc = colscale ? colscale + c0 : nullptr;
    float *o = out + (size_t)r * cols + c0;
    float lo = INFINITY, hi = -INFINITY, amax = 0.0f;
    for (int i = lane; i < cnt; i += 32) {
        float v = sc ? __fmul_rn(wr[i], sc[i]) : wr[i];
        lo = fminf(lo, v);
        hi = fmaxf(hi, v);
        amax = fmaxf(amax, fabsf(v));
    }
    lo = hs_warp_min(lo);
    hi = hs_warp_max(hi);
    amax = hs_warp_max(amax);
    hs_d_grid gr = hs_d_grid_make(lo, hi, amax, bits, sym);
    for (int i = lane; i < cnt; i += 32) {
        float v = sc ? __fmul_rn(wr[i], sc[i]) : wr[i];
        float q = hs_d_grid_apply(gr, v);
        o[i] = sc ? __fdiv_rn(q, sc[i]) : q;
    }
}

// GPTQ's working layout: Wt[j][r] = W[r][perm[j]] (0 for dead inputs), so that a column of W
// is contiguous.
__global__ void k_gather_t(const float *w, float *wt, int rows, int cols, const int *perm,
                           const unsigned char *dead)
{
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)rows * cols)
        return;
    int j = (int)(idx / rows), r = (int)(idx % rows), src = perm[j];
    wt[idx] = dead[src] ? 0.0f : w[(size_t)r * cols + src];
}

__global__ void k_scatter_t(const float *qt, float *out, int rows, int cols, const int *perm)
{
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)rows * cols)
        return;
    int j = (int)(idx / rows), r = (int)(idx % rows);
    out[(size_t)r * cols + perm[j]] = qt[idx];
}

__global__ void k_diag(const float *h, int n, float *diag)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        diag[i] = h[(size_t)i * n + i];
}

// Hp = H[perm][:, perm] + damp I, with dead diagonals set to 1 first.
__global__ void k_permute_h(const float *h, float *hp, int n, const int *perm,
                            const unsigned char *dead, float damp)
{
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)n * n)
        return;
    int i = (int)(idx % n), j = (int)(idx / n), pi = perm[i], pj = perm[j];
    float v = h[(size_t)pi * n + pj];
    if (i == j) {
        if (dead[pi])
            v = 1.0f;
        v = __fadd_rn(v, damp);
    }
    hp[idx] = v;
}

// Copy the lower triangle of a column-major n x n matrix onto its upper triangle.
__global__ void k_symmetrize_lower(float *a, int n)
{
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)n * n)
        return;
    int i = (int)(idx % n), j = (int)(idx / n);
    if (i < j)
        a[idx] = a[(size_t)i * n + j];
}

// The grid of each row over columns [j, j + cnt) of Wt (hs_quant_grid_fit).
__global__ void k_fit(const float *wt, int rows, int j, int cnt, int bits, int sym, hs_d_grid *g)
{
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows)
        return;
    float lo = wt[(size_t)j * rows + r], hi = lo, amax = 0.0f;
    for (int i = 0; i < cnt; i++) {
        float v = wt[(size_t)(j + i) * rows + r];
        lo = fminf(lo, v);
        hi = fmaxf(hi, v);
        amax = fmaxf(amax, fabsf(v));
    }
    g[r] = hs_d_grid_make(lo, hi, amax, bits, sym);
}

// One GPTQ column: quantize column i of the block, record its scaled error, and push the error
// onto the block's later columns. U is the column-major upper Cholesky factor of H^-1.
__global__ void k_gptq_col(float *w1, float *qt, float *e, const hs_d_grid *g, const float *U,
                           int n, int rows, int i1, int i, int cnt)
{
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows)
        return;
    int j = i1 + i;
    float dj = U[(size_t)j * n + j];
    float w = w1[(size_t)i * rows + r];
    float q = hs_d_grid_apply(g[r], w);
    qt[(size_t)j * rows + r] = q;
    float er = __fdiv_rn(__fsub_rn(w, q), dj);
    e[(size_t)i * rows + r] = er;
    for (int k = i + 1; k < cnt; k++) {
        float u = U[(size_t)(i1 + k) * n + j];
        float *p = w1 + (size_t)k * rows + r;
        *p = __fsub_rn(*p, __fmul_rn(er, u));
    }
}

struct stable_desc {
    const float *diag;
};

int cmp_desc(const void *a, const void *b, void *arg)
{
    const float *diag = static_cast<const stable_desc *>(arg)->diag;
    int i = *static_cast<const int *>(a), j = *static_cast<const int *>(b);
    if (diag[i] != diag[j])
        return diag[i] > diag[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

// Y (n x rows, row-major) = X (n x cols) W^T: the column-major rows x n matrix W X^T.
int gemm_xwt(cublasHandle_t blas, const float *X, size_t n, const float *W, size_t rows,
             size_t cols, float *Y, hs_error *err)
{
    const float one = 1.0f, zero = 0.0f;
    HS_CUBLAS(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, (int)n, (int)cols, &one, W,
                          (int)cols, X, (int)cols, &zero, Y, (int)rows));
    return 0;
}

int rtn_dev(const hs_wq_config *c, const float *w, float *out, size_t R, size_t C,
            const float *colscale, hs_error *err)
{
    int g = (int)hs_wq_group(c, C), ng = (int)((C + g - 1) / g);
    size_t warps = R * (size_t)ng;
    k_rtn<<<hs_blocks(warps * 32, kThreads), kThreads>>>(w, out, (int)R, (int)C, g, ng, c->bits,
                                                         c->scheme == HS_QUANT_SYM, colscale);
    HS_LAUNCH();
    return 0;
}

int awq_dev(const hs_wq_config *c, const hs_wq_data *D, hs_handles &hd, const float *w,
            float *out, double *alpha, hs_error *err)
{
    size_t R = D->rows, C = D->cols, N = D->ncal;
    std::vector<float> xmean(C), s(C);
    for (size_t j = 0; j < C; j++) {
        double a = 0.0;
        for (size_t t = 0; t < N; t++)
            a += fabs(D->xcal[t * C + j]);
        xmean[j] = (float)(a / (double)N);
    }
    hs_dbuf<float> x, y, yq, wq, ds;
    HS_CUDA(x.upload(D->xcal, N * C));
    HS_CUDA(y.alloc(N * R));
    HS_CUDA(yq.alloc(N * R));
    HS_CUDA(wq.alloc(R * C));
    HS_CUDA(ds.alloc(C));
    if (gemm_xwt(hd.blas, x.p, N, w, R, C, y.p, err) < 0)
        return -1;
    int steps = c->alpha >= 0.0 ? 1 : c->awq_grid;
    double best = INFINITY;
    for (int i = 0; i < steps; i++) {
        // the scales are computed exactly as in weightquant.c, on the host
        float a = c->alpha >= 0.0 ? (float)c->alpha : (float)i / (float)c->awq_grid;
        float smax = 0.0f, smin = INFINITY;
        for (size_t j = 0; j < C; j++) {
            float v = powf(xmean[j], a);
            s[j] = v > 1e-4f ? v : 1e-4f;
            smax = s[j] > smax ? s[j] : smax;
            smin = s[j] < smin ? s[j] : smin;
        }
        float norm = sqrtf(smax * smin);
        for (size_t j = 0; j < C; j++)
            s[j] /= norm;
        HS_CUDA(cudaMemcpy(ds.p, s.data(), C * sizeof(float), cudaMemcpyHostToDevice));
        if (rtn_dev(c, w, wq.p, R, C, ds.p, err) < 0)
            return -1;
        double mse = 0.0;
        if (steps > 1) {
            double e2, r2;
            if (gemm_xwt(hd.blas, x.p, N, wq.p, R, C, yq.p, err) < 0 ||
                hs_cuda_err2(yq.p, y.p, N * R, &e2, &r2, err) < 0)
                return -1;
            mse = e2 / (double)(N * R);
        }
        if (mse < best) {
            best = mse;
            HS_CUDA(cudaMemcpy(out, wq.p, R * C * sizeof(float), cudaMemcpyDeviceToDevice));
            if (alpha)
                *alpha = a;
        }
    }
    return 0;
}

int gptq_dev(const hs_wq_config *c, const hs_wq_data *D, hs_handles &hd, const float *w,
             float *out, hs_error *err)
{
    size_t R = D->rows, C = D->cols, N = D->ncal, G = hs_wq_group(c, C);
    size_t B = (size_t)c->block_size < C ? (size_t)c->block_size : C;
    int n = (int)C, rows = (int)R, sym = c->scheme == HS_QUANT_SYM;
    hs_dbuf<float> x, h, hp, wt, qt, w1, e, dg, work;
    hs_dbuf<int> perm, info;
    hs_dbuf<unsigned char> dead;
    hs_dbuf<hs_d_grid> grids;
    HS_CUDA(x.upload(D->xcal, N * C));
    HS_CUDA(h.alloc(C * C));
    HS_CUDA(hp.alloc(C * C));
    HS_CUDA(wt.alloc(C * R));
    HS_CUDA(qt.alloc(C * R));
    HS_CUDA(w1.alloc(B * R));
    HS_CUDA(e.alloc(B * R));
    HS_CUDA(dg.alloc(C));
    HS_CUDA(info.alloc(1));
    HS_CUDA(grids.alloc(R));
    // H = 2/N X^T X: the column-major C x C matrix X^cm X^cm^T (symmetric).
    const float hscale = 2.0f / (float)N, zero = 0.0f, minus = -1.0f, one = 1.0f;
    HS_CUBLAS(cublasSgemm(hd.blas, CUBLAS_OP_N, CUBLAS_OP_T, n, n, (int)N, &hscale, x.p, n, x.p,
                          n, &zero, h.p, n));
    k_diag<<<hs_blocks(C, kThreads), kThreads>>>(h.p, n, dg.p);
    HS_LAUNCH();
    std::vector<float> diag(C);
    HS_CUDA(cudaMemcpy(diag.data(), dg.p, C * sizeof(float), cudaMemcpyDeviceToHost));
    std::vector<int> hperm(C);
    std::vector<unsigned char> hdead(C);
    double mean = 0.0;
    for (size_t i = 0; i < C; i++) {
        hperm[i] = (int)i;
        hdead[i] = diag[i] == 0.0f;
        mean += hdead[i] ? 1.0 : diag[i];
    }
    if (c->act_order) {
        stable_desc sd = { diag.data() };
        qsort_r(hperm.data(), C, sizeof(int), cmp_desc, &sd);
    }
    float dampv = (float)(c->damp * mean / (double)C);
    HS_CUDA(perm.upload(hperm.data(), C));
    HS_CUDA(dead.upload(hdead.data(), C));
    k_permute_h<<<hs_blocks(C * C, kThreads), kThreads>>>(h.p, hp.p, n, perm.p, dead.p, dampv);
    HS_LAUNCH();
    k_gather_t<<<hs_blocks(C * R, kThreads), kThreads>>>(w, wt.p, rows, n, perm.p, dead.p);
    HS_LAUNCH();
    // U: upper Cholesky factor of H^-1, column-major (U(i, j) = hp[i + j n], i <= j).
    int lw1 = 0, lw2 = 0, lw3 = 0, hinfo = 0;
    HS_CUSOLVER(cusolverDnSpotrf_bufferSize(hd.solver, CUBLAS_FILL_MODE_LOWER, n, hp.p, n, &lw1));
    HS_CUSOLVER(cusolverDnSpotri_bufferSize(hd.solver, CUBLAS_FILL_MODE_LOWER, n, hp.p, n, &lw2));
    HS_CUSOLVER(cusolverDnSpotrf_bufferSize(hd.solver, CUBLAS_FILL_MODE_UPPER, n, hp.p, n, &lw3));
    int lwork = lw1 > lw2 ? lw1 : lw2;
    lwork = lwork > lw3 ? lwork : lw3;
    HS_CUDA(work.alloc((size_t)lwork));
    const char *step = "potrf";
    HS_CUSOLVER(cusolverDnSpotrf(hd.solver, CUBLAS_FILL_MODE_LOWER, n, hp.p, n, work.p, lwork,
                                 info.p));
    HS_CUDA(cudaMemcpy(&hinfo, info.p, sizeof(int), cudaMemcpyDeviceToHost));
    if (hinfo == 0) {
        step = "potri";
        HS_CUSOLVER(cusolverDnSpotri(hd.solver, CUBLAS_FILL_MODE_LOWER, n, hp.p, n, work.p,
                                     lwork, info.p));
        HS_CUDA(cudaMemcpy(&hinfo, info.p, sizeof(int), cudaMemcpyDeviceToHost));
    }
    if (hinfo == 0) {
        k_symmetrize_lower<<<hs_blocks(C * C, kThreads), kThreads>>>(hp.p, n);
        HS_LAUNCH();
        step = "potrf of the inverse";
        HS_CUSOLVER(cusolverDnSpotrf(hd.solver, CUBLAS_FILL_MODE_UPPER, n, hp.p, n, work.p,
                                     lwork, info.p));
        HS_CUDA(cudaMemcpy(&hinfo, info.p, sizeof(int), cudaMemcpyDeviceToHost));
    }
    if (hinfo != 0)
        return hs_err(err,
                      "gptq: the damped Hessian (%zu x %zu) is not positive definite (cuSOLVER "
                      "%s info %d); raise damp",
                      C, C, step, hinfo);
    unsigned rb = hs_blocks(R, kThreads);
    if (G == C) {
        k_fit<<<rb, kThreads>>>(wt.p, rows, 0, n, c->bits, sym, grids.p);
        HS_LAUNCH();
    }
    for (size_t i1 = 0; i1 < C; i1 += B) {
        size_t i2 = i1 + B < C ? i1 + B : C, cnt = i2 - i1;
        HS_CUDA(cudaMemcpy(w1.p, wt.p + i1 * R, cnt * R * sizeof(float),
                           cudaMemcpyDeviceToDevice));
        for (size_t i = 0; i < cnt; i++) {
            size_t j = i1 + i;
            if (G < C && j % G == 0) {
                k_fit<<<rb, kThreads>>>(wt.p, rows, (int)j, (int)(C - j < G ? C - j : G),
                                        c->bits, sym, grids.p);
                HS_LAUNCH();
            }
            k_gptq_col<<<rb, kThreads>>>(w1.p, qt.p, e.p, grids.p, hp.p, n, rows, (int)i1,
                                         (int)i, (int)cnt);
            HS_LAUNCH();
        }
        // W[:, i2:] -= E U[i1:i2, i2:], in the transposed layout Wt(r, j) = wt[r + j R].
        if (i2 < C)
            HS_CUBLAS(cublasSgemm(hd.blas, CUBLAS_OP_N, CUBLAS_OP_N, rows, (int)(C - i2),
                                  (int)cnt, &minus, e.p, rows, hp.p + i1 + i2 * C, n, &one,
                                  wt.p + i2 * R, rows));
    }
    k_scatter_t<<<hs_blocks(C * R, kThreads), kThreads>>>(qt.p, out, rows, n, perm.p);
    HS_LAUNCH();
    return 0;
}

} // namespace

int hs_wq_quantize_dev(const hs_wq_config *c, const hs_wq_data *D, hs_handles &hd,
                       const float *w, float *out, double *alpha, hs_error *err)
{
    size_t R = D->rows, C = D->cols;
    switch (c->method) {
    case HS_WQ_FP16:
        k_f16<<<hs_blocks(R * C, kThreads), kThreads>>>(w, out, R * C);
        HS_LAUNCH();
        return 0;
    case HS_WQ_RTN:
        return rtn_dev(c, w, out, R, C, nullptr, err);
    case HS_WQ_AWQ:
        return awq_dev(c, D, hd, w, out, alpha, err);
    case HS_WQ_GPTQ:
        return gptq_dev(c, D, hd, w, out, err);
    }
    return hs_err(err, "unknown weight method %d", (int)c->method);
}

namespace {

// Quantize on the GPU; copy the result to wq_host if not NULL, and fill raw (weight and
// held-out output errors, timing) if not NULL.
int run(const hs_wq_config *c, const hs_wq_data *D, float *wq_host, hs_wq_raw *raw,
        double *alpha, hs_error *err)
{
    size_t R = D->rows, C = D->cols, N = D->neval;
    hs_handles hd;
    HS_CUBLAS(cublasCreate(&hd.blas));
    HS_CUBLAS(cublasSetMathMode(hd.blas, CUBLAS_DEFAULT_MATH));
    HS_CUSOLVER(cusolverDnCreate(&hd.solver));
    hs_dbuf<float> w, wq;
    HS_CUDA(w.upload(D->w, R * C));
    HS_CUDA(wq.alloc(R * C));
    HS_CUDA(cudaDeviceSynchronize());
    double t0 = hs_monotonic();
    if (hs_wq_quantize_dev(c, D, hd, w.p, wq.p, alpha, err) < 0)
        return -1;
    HS_CUDA(cudaDeviceSynchronize());
    double t1 = hs_monotonic();
    if (wq_host)
        HS_CUDA(cudaMemcpy(wq_host, wq.p, R * C * sizeof(float), cudaMemcpyDeviceToHost));
    if (!raw)
        return 0;
    raw->quant_s = t1 - t0;
    if (hs_cuda_device_name(raw->device_name, sizeof raw->device_name, err) < 0 ||
        hs_cuda_err2(wq.p, w.p, R * C, &raw->w_err2, &raw->w_ref2, err) < 0)
        return -1;
    hs_dbuf<float> x, y, yq;
    HS_CUDA(x.upload(D->xeval, N * C));
    HS_CUDA(y.alloc(N * R));
    HS_CUDA(yq.alloc(N * R));
    if (gemm_xwt(hd.blas, x.p, N, w.p, R, C, y.p, err) < 0 ||
        gemm_xwt(hd.blas, x.p, N, wq.p, R, C, yq.p, err) < 0 ||
        hs_cuda_err2(yq.p, y.p, N * R, &raw->o_err2, &raw->o_ref2, err) < 0)
        return -1;
    HS_CUDA(cudaDeviceSynchronize());
    return 0;
}

} // namespace

extern "C" int hs_wq_run_cuda(const hs_wq_config *cfg, const hs_wq_data *data, hs_wq_raw *raw,
                              hs_error *err)
{
    return run(cfg, data, nullptr, raw, &raw->alpha, err);
}

extern "C" int hs_wq_quantize_cuda(const hs_wq_config *cfg, const hs_wq_data *data,
                                   float *wq_out, double *alpha, hs_error *err)
{
    return run(cfg, data, wq_out, nullptr, alpha, err);
}
