// CUDA version of the kvcache probe (kvcache.c is the CPU reference; docs/probes.md has the
// formulas). The quantizers reproduce the reference bit for bit; FORGE's SVD (cuSOLVER
// gesvda) and the attention GEMMs (cuBLAS) agree within the tolerances of
// tests/gpu/test_quant_gpu.c.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "quant_cuda.cuh"

extern "C" {
#include "util.h"
}

namespace {

constexpr unsigned kThreads = 256;

// Per-channel min-max groups (keys): one thread per (head, token group, channel); neighbouring
// threads read neighbouring channels.
__global__ void k_per_channel(float *x, const unsigned char *keep, int n, int T, int d, int t0,
                              int t1, int g, int ngroups, float qmax)
{
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)n * ngroups * d)
        return;
    int c = (int)(idx % d);
    size_t rest = idx / d;
    int gi = (int)(rest % ngroups), h = (int)(rest / ngroups);
    int tg = t0 + gi * g, cnt = min(g, t1 - tg);
    size_t off = ((size_t)h * T + tg) * d + c;
    float lo = INFINITY, hi = -INFINITY;
    int m = 0;
    for (int i = 0; i < cnt; i++) {
        size_t o = off + (size_t)i * d;
        if (keep && keep[o])
            continue;
        lo = fminf(lo, x[o]);
        hi = fmaxf(hi, x[o]);
        m++;
    }
    if (!m)
        return;
    float s = __fdiv_rn(__fsub_rn(hi, lo), qmax);
    for (int i = 0; i < cnt; i++) {
        size_t o = off + (size_t)i * d;
        if (!(keep && keep[o]))
            x[o] = hs_d_minmax_apply(x[o], lo, s, qmax);
    }
}

// Per-token min-max groups (values): one warp per (head, token, channel group).
__global__ void k_per_token(float *x, const unsigned char *keep, int n, int T, int d, int t0,
                            int t1, int g, int ngc, float qmax)
{
    size_t warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31, span = t1 - t0;
    if (warp >= (size_t)n * span * ngc)
        return;
    int gc = (int)(warp % ngc);
    size_t rest = warp / ngc;
    int t = t0 + (int)(rest % span), h = (int)(rest / span);
    int c0 = gc * g, cnt = min(g, d - c0);
    size_t off = ((size_t)h * T + t) * d + c0;
    float lo = INFINITY, hi = -INFINITY;
    int m = 0;
    for (int i = lane; i < cnt; i += 32) {
        if (keep && keep[off + i])
            continue;
        lo = fminf(lo, x[off + i]);
        hi = fmaxf(hi, x[off + i]);
        m++;
    }
    lo = hs_warp_min(lo);
    hi = hs_warp_max(hi);
    m = hs_warp_sum(m);
    if (!m)
        return;
    float s = __fdiv_rn(__fsub_rn(hi, lo), qmax);
    for (int i = lane; i < cnt; i += 32)
        if (!(keep && keep[off + i]))
            x[off + i] = hs_d_minmax_apply(x[off + i], lo, s, qmax);
}

// The k largest |x| of each token vector in [t0, t1) (ties: the lower channel), one warp per
// vector; keep must be zeroed before.
__global__ void k_outliers(const float *x, unsigned char *keep, int n, int T, int d, int t0,
                           int t1, int k)
{
    size_t warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31, span = t1 - t0;
    if (warp >= (size_t)n * span)
        return;
    int t = t0 + (int)(warp % span), h = (int)(warp / span);
    size_t off = ((size_t)h * T + t) * d;
    for (int j = 0; j < k; j++) {
        float bv = -1.0f;
        int bi = d;
        for (int c = lane; c < d; c += 32)
            if (!keep[off + c] && fabsf(x[off + c]) > bv) {
                bv = fabsf(x[off + c]);
                bi = c;
            }
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (ov > bv || (ov == bv && oi < bi)) {
                bv = ov;
                bi = oi;
            }
        }
        if (lane == 0 && bi < d)
            keep[off + bi] = 1;
        __syncwarp();
    }
}

// Rotary embedding of ntok token vectors (token i at position i mod T), as hs_kv_rope_apply.
__global__ void k_rope(float *x, size_t ntok, int T, int d, const float *cs, int npos)
{
    int hh = d / 2;
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= ntok * hh)
        return;
    size_t tok = idx / hh;
    int i = (int)(idx % hh), pos = (int)(tok % T);
    float *v = x + tok * d;
    float a = v[i], b = v[i + hh];
    float c = cs[(size_t)pos * hh + i], s = cs[(size_t)npos * hh + (size_t)pos * hh + i];
    v[i] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    v[i + hh] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
}

// FORGE: copy the full chunks into a batch of column-major matrices, m >= n: the chunk's
// d x ch view (tall) when d >= ch, else its transpose ch x d.
__global__ void k_forge_gather(const float *x, float *A, int n, int T, int d, int ch, int nch,
                               bool tall)
{
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    size_t per = (size_t)ch * d;
    if (idx >= (size_t)n * nch * per)
        return;
    size_t b = idx / per;
    int e = (int)(idx % per), t = e / d, c = e % d;
    int h = (int)(b / nch), k = (int)(b % nch);
    float v = x[((size_t)h * T + (size_t)k * ch + t) * d + c];
    A[b * per + (tall ? (size_t)c + (size_t)t * d : (size_t)t + (size_t)c * ch)] = v;
}

// hs_quant_energy_rank for each chunk.
__global__ void k_forge_rank(const float *S, size_t batch, int mn, double thr, int min_rank,
                             int max_rank, int *rank)
{
    size_t b = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (b >= batch)
        return;
    const float *s = S + b * mn;
    double total = 0.0;
    for (int i = 0; i < mn; i++)
        total += (double)s[i] * s[i];
    int r = min_rank;
    if (total > 0.0) {
        double cum = 0.0;
        r = mn;
        for (int i = 0; i < mn; i++) {
            cum += (double)s[i] * s[i];
            if (cum >= thr * total) {
                r = i + 1;
                break;
            }
        }
    }
    r = r < min_rank ? min_rank : r;
    r = r > max_rank ? max_rank : r;
    rank[b] = r > mn ? mn : r;
}

// x[t][c] = sum_{j < r} u_c(j) s_j v_t(j) for every element of every chunk, in the
// reference's order of operations.
__global__ void k_forge_recon(float *x, const float *U, const float *S, const float *V,
                              const int *rank, int n, int T, int d, int ch, int nch, bool tall,
                              int m, int nn, int mn)
{
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    size_t per = (size_t)ch * d;
    if (idx >= (size_t)n * nch * per)
        return;
    size_t b = idx / per;
    int e = (int)(idx % per), t = e / d, c = e % d;
    int h = (int)(b / nch), k = (int)(b % nch), r = rank[b];
    const float *u = U + b * (size_t)m * mn, *v = V + b * (size_t)nn * mn, *s = S + b * mn;
    float acc = 0.0f;
    for (int j = 0; j < r; j++) {
        float uc = tall ? u[c + (size_t)j * m] : v[c + (size_t)j * nn];
        float vt = tall ? v[t + (size_t)j * nn] : u[t + (size_t)j * m];
        acc = __fadd_rn(acc, __fmul_rn(__fmul_rn(uc, s[j]), vt));
    }
    x[((size_t)h * T + (size_t)k * ch + t) * d + c] = acc;
}

// Softmax of both score rows in place and KL(p || p^) per row, as softmax_kl in kvcache.c.
__global__ void k_softmax_kl(float *S, float *Sh, int T, double *kl)
{
    __shared__ double ra[kThreads], rb[kThreads];
    float *s = S + (size_t)blockIdx.x * T, *sh = Sh + (size_t)blockIdx.x * T;
    unsigned tid = threadIdx.x;
    double m = -INFINITY, mh = -INFINITY;
    for (int t = tid; t < T; t += blockDim.x) {
        m = fmax(m, (double)s[t]);
        mh = fmax(mh, (double)sh[t]);
    }
    ra[tid] = m;
    rb[tid] = mh;
    __syncthreads();
    for (unsigned o = blockDim.x / 2; o > 0; o >>= 1) {
        if (tid < o) {
            ra[tid] = fmax(ra[tid], ra[tid + o]);
            rb[tid] = fmax(rb[tid], rb[tid + o]);
        }
        __syncthreads();
    }
    m = ra[0];
    mh = rb[0];
    __syncthreads();
    double z = 0.0, zh = 0.0;
    for (int t = tid; t < T; t += blockDim.x) {
        z += exp((double)s[t] - m);
        zh += exp((double)sh[t] - mh);
    }
    ra[tid] = z;
    rb[tid] = zh;
    __syncthreads();
    for (unsigned o = blockDim.x / 2; o > 0; o >>= 1) {
        if (tid < o) {
            ra[tid] += ra[tid + o];
            rb[tid] += rb[tid + o];
        }
        __syncthreads();
    }
    double lse = m + log(ra[0]), lseh = mh + log(rb[0]);
    __syncthreads();
    double acc = 0.0;
    for (int t = tid; t < T; t += blockDim.x) {
        double lp = (double)s[t] - lse, lph = (double)sh[t] - lseh, p = exp(lp);
        acc += p * (lp - lph);
        s[t] = (float)p;
        sh[t] = (float)exp(lph);
    }
    ra[tid] = acc;
    __syncthreads();
    for (unsigned o = blockDim.x / 2; o > 0; o >>= 1) {
        if (tid < o)
            ra[tid] += ra[tid + o];
        __syncthreads();
    }
    if (tid == 0)
        kl[blockIdx.x] = ra[0];
}

// Index of the largest score of each row (ties: the lowest index), one block per row.
__global__ void k_argmax(const float *sc, int T, int *out)
{
    __shared__ float bv[kThreads];
    __shared__ int bi[kThreads];
    const float *s = sc + (size_t)blockIdx.x * T;
    unsigned tid = threadIdx.x;
    float v = -INFINITY;
    int i = T;
    for (int t = tid; t < T; t += blockDim.x)
        if (i == T || s[t] > v) {
            v = s[t];
            i = t;
        }
    bv[tid] = v;
    bi[tid] = i;
    __syncthreads();
    for (unsigned o = blockDim.x / 2; o > 0; o >>= 1) {
        if (tid < o && (bv[tid + o] > bv[tid] || (bv[tid + o] == bv[tid] && bi[tid + o] < bi[tid]))) {
            bv[tid] = bv[tid + o];
            bi[tid] = bi[tid + o];
        }
        __syncthreads();
    }
    if (tid == 0)
        out[blockIdx.x] = bi[0];
}

int forge_dev(const hs_kv_config *c, float *x, size_t n, hs_kv_stats *st,
              cusolverDnHandle_t solver, hs_error *err)
{
    int T = c->tokens, d = c->head_dim, ch = c->chunk_size, nch = T / ch;
    int mn = ch < d ? ch : d;
    bool tall = d >= ch;
    int m = tall ? d : ch, nn = tall ? ch : d;
    size_t batch = n * (size_t)nch, elems = batch * ch * d;
    if (!batch)
        return 0;
    if (batch > 0x7fffffff)
        return hs_err(err, "forge: %zu chunks exceed cuSOLVER's batch limit", batch);
    hs_dbuf<float> A, S, U, V, work;
    hs_dbuf<int> info, rank;
    HS_CUDA(A.alloc(elems));
    HS_CUDA(S.alloc(batch * mn));
    HS_CUDA(U.alloc(batch * m * mn));
    HS_CUDA(V.alloc(batch * nn * mn));
    HS_CUDA(info.alloc(batch));
    HS_CUDA(rank.alloc(batch));
    k_forge_gather<<<hs_blocks(elems, kThreads), kThreads>>>(x, A.p, (int)n, T, d, ch, nch, tall);
    HS_LAUNCH();
    int lwork = 0;
    HS_CUSOLVER(cusolverDnSgesvdaStridedBatched_bufferSize(
        solver, CUSOLVER_EIG_MODE_VECTOR, mn, m, nn, A.p, m, (long long)m * nn, S.p, mn, U.p, m,
        (long long)m * mn, V.p, nn, (long long)nn * mn, &lwork, (int)batch));
    HS_CUDA(work.alloc((size_t)lwork));
    std::vector<double> resid(batch);
    HS_CUSOLVER(cusolverDnSgesvdaStridedBatched(
        solver, CUSOLVER_EIG_MODE_VECTOR, mn, m, nn, A.p, m, (long long)m * nn, S.p, mn, U.p, m,
        (long long)m * mn, V.p, nn, (long long)nn * mn, work.p, lwork, info.p, resid.data(),
        (int)batch));
    std::vector<int> hinfo(batch);
    HS_CUDA(cudaMemcpy(hinfo.data(), info.p, batch * sizeof(int), cudaMemcpyDeviceToHost));
    for (size_t b = 0; b < batch; b++)
        if (hinfo[b] != 0)
            return hs_err(err, "forge: cusolverDnSgesvdaStridedBatched info %d on chunk %zu",
                          hinfo[b], b);
    k_forge_rank<<<hs_blocks(batch, kThreads), kThreads>>>(S.p, batch, mn, c->energy_threshold,
                                                           c->min_rank, c->max_rank, rank.p);
    HS_LAUNCH();
    k_forge_recon<<<hs_blocks(elems, kThreads), kThreads>>>(x, U.p, S.p, V.p, rank.p, (int)n, T,
                                                            d, ch, nch, tall, m, nn, mn);
    HS_LAUNCH();
    std::vector<int> hr(batch);
    HS_CUDA(cudaMemcpy(hr.data(), rank.p, batch * sizeof(int), cudaMemcpyDeviceToHost));
    for (size_t b = 0; b < batch; b++)
        st->rank_sum += hr[b];
    st->chunks += (long long)batch;
    return 0;
}

} // namespace

int hs_kv_compress_dev(const hs_kv_config *c, bool is_key, float *x, size_t n, hs_kv_stats *st,
                 cusolverDnHandle_t solver, hs_error *err)
{
    int T = c->tokens, d = c->head_dim, bits = is_key ? c->k_bits : c->v_bits;
    size_t t0, t1;
    switch (c->method) {
    case HS_KV_FP16:
        return 0;
    case HS_KV_FORGE:
        return forge_dev(c, x, n, st, solver, err);
    case HS_KV_KIVI:
    case HS_KV_KVQUANT:
        break;
    }
    hs_kv_quant_span(c, &t0, &t1);
    if (t1 <= t0)
        return 0;
    int span = (int)(t1 - t0);
    float qmax = (float)((1u << bits) - 1u);
    hs_dbuf<unsigned char> keep;
    const unsigned char *kp = nullptr;
    if (c->method == HS_KV_KVQUANT && c->num_outliers > 0) {
        size_t total = n * (size_t)T * d, warps = n * (size_t)span;
        HS_CUDA(keep.alloc(total));
        HS_CUDA(cudaMemset(keep.p, 0, total));
        k_outliers<<<hs_blocks(warps * 32, kThreads), kThreads>>>(x, keep.p, (int)n, T, d,
                                                                  (int)t0, (int)t1,
                                                                  c->num_outliers);
        HS_LAUNCH();
        kp = keep.p;
    }
    if (is_key) {
        int g = c->group_size ? c->group_size : span;
        int ngroups = (span + g - 1) / g;
        size_t threads = n * (size_t)ngroups * d;
        k_per_channel<<<hs_blocks(threads, kThreads), kThreads>>>(x, kp, (int)n, T, d, (int)t0,
                                                                 (int)t1, g, ngroups, qmax);
    } else {
        int g = c->group_size && c->group_size < d ? c->group_size : d;
        int ngc = (d + g - 1) / g;
        size_t warps = n * (size_t)span * ngc;
        k_per_token<<<hs_blocks(warps * 32, kThreads), kThreads>>>(x, kp, (int)n, T, d, (int)t0,
                                                                   (int)t1, g, ngc, qmax);
    }
    HS_LAUNCH();
    return 0;
}

namespace {

int run(const hs_kv_config *c, const hs_kv_data *D, hs_kv_raw *raw, hs_error *err)
{
    size_t H = D->H, T = D->T, d = D->d, Q = D->Q, P = D->P, npos = T + 1;
    size_t nkv = H * T * d;
    hs_handles hd;
    HS_CUBLAS(cublasCreate(&hd.blas));
    HS_CUBLAS(cublasSetMathMode(hd.blas, CUBLAS_DEFAULT_MATH));
    HS_CUSOLVER(cusolverDnCreate(&hd.solver));
    if (hs_cuda_device_name(raw->device_name, sizeof raw->device_name, err) < 0)
        return -1;
    hs_dbuf<float> k, kref, v, vref, q, rope, pk, pkq, S, Sh, O, Oh, sc;
    hs_dbuf<double> kl;
    hs_dbuf<int> amax;
    HS_CUDA(k.upload(D->k_in, nkv));
    HS_CUDA(kref.upload(D->k_ref, nkv));
    HS_CUDA(v.upload(D->v_in, nkv));
    HS_CUDA(vref.upload(D->v_ref, nkv));
    HS_CUDA(q.upload(D->q, H * Q * d));
    HS_CUDA(rope.upload(D->rope, 2 * npos * (d / 2)));
    HS_CUDA(pk.upload(D->pk_in, P * T * d));
    HS_CUDA(pkq.upload(D->pk_q, P * d));
    HS_CUDA(S.alloc(H * Q * T));
    HS_CUDA(Sh.alloc(H * Q * T));
    HS_CUDA(O.alloc(H * Q * d));
    HS_CUDA(Oh.alloc(H * Q * d));
    HS_CUDA(sc.alloc(P * T));
    HS_CUDA(kl.alloc(H * Q));
    HS_CUDA(amax.alloc(P));

    HS_CUDA(cudaDeviceSynchronize());
    double t0 = hs_monotonic();
    if (hs_kv_compress_dev(c, true, k.p, H, &raw->k_stats, hd.solver, err) < 0 ||
        hs_kv_compress_dev(c, false, v.p, H, &raw->v_stats, hd.solver, err) < 0 ||
        (P && hs_kv_compress_dev(c, true, pk.p, P, &raw->pk_stats, hd.solver, err) < 0))
        return -1;
    if (c->keys_pre_rope) {
        k_rope<<<hs_blocks(H * T * (d / 2), kThreads), kThreads>>>(k.p, H * T, (int)T, (int)d,
                                                                    rope.p, (int)npos);
        HS_LAUNCH();
        if (P) {
            k_rope<<<hs_blocks(P * T * (d / 2), kThreads), kThreads>>>(pk.p, P * T, (int)T,
                                                                        (int)d, rope.p, (int)npos);
            HS_LAUNCH();
        }
    }
    HS_CUDA(cudaDeviceSynchronize());
    raw->compress_s = hs_monotonic() - t0;

    if (hs_cuda_err2(k.p, kref.p, nkv, &raw->k_err2, &raw->k_ref2, err) < 0 ||
        hs_cuda_err2(v.p, vref.p, nkv, &raw->v_err2, &raw->v_ref2, err) < 0)
        return -1;
    // Row-major S_h = Q_h K_h^T / sqrt(d) is the column-major T x Q matrix K_h^T Q_h.
    const float scale = (float)(1.0 / sqrt((double)d)), one = 1.0f, zero = 0.0f;
    int iT = (int)T, iQ = (int)Q, id = (int)d;
    HS_CUBLAS(cublasSgemmStridedBatched(hd.blas, CUBLAS_OP_T, CUBLAS_OP_N, iT, iQ, id, &scale,
                                        kref.p, id, (long long)(T * d), q.p, id,
                                        (long long)(Q * d), &zero, S.p, iT, (long long)(Q * T),
                                        (int)H));
    HS_CUBLAS(cublasSgemmStridedBatched(hd.blas, CUBLAS_OP_T, CUBLAS_OP_N, iT, iQ, id, &scale,
                                        k.p, id, (long long)(T * d), q.p, id, (long long)(Q * d),
                                        &zero, Sh.p, iT, (long long)(Q * T), (int)H));
    k_softmax_kl<<<(unsigned)(H * Q), kThreads>>>(S.p, Sh.p, iT, kl.p);
    HS_LAUNCH();
    // Row-major O_h = P_h V_h is the column-major d x Q matrix V_h P_h.
    HS_CUBLAS(cublasSgemmStridedBatched(hd.blas, CUBLAS_OP_N, CUBLAS_OP_N, id, iQ, iT, &one,
                                        vref.p, id, (long long)(T * d), S.p, iT,
                                        (long long)(Q * T), &zero, O.p, id, (long long)(Q * d),
                                        (int)H));
    HS_CUBLAS(cublasSgemmStridedBatched(hd.blas, CUBLAS_OP_N, CUBLAS_OP_N, id, iQ, iT, &one, v.p,
                                        id, (long long)(T * d), Sh.p, iT, (long long)(Q * T),
                                        &zero, Oh.p, id, (long long)(Q * d), (int)H));
    if (hs_cuda_err2(Oh.p, O.p, H * Q * d, &raw->o_err2, &raw->o_ref2, err) < 0)
        return -1;
    std::vector<double> hkl(H * Q);
    HS_CUDA(cudaMemcpy(hkl.data(), kl.p, hkl.size() * sizeof(double), cudaMemcpyDeviceToHost));
    for (double x : hkl)
        raw->kl_sum += x;
    raw->rows = (long long)(H * Q);
    if (P) {
        HS_CUBLAS(cublasSgemmStridedBatched(hd.blas, CUBLAS_OP_T, CUBLAS_OP_N, iT, 1, id, &one,
                                            pk.p, id, (long long)(T * d), pkq.p, id,
                                            (long long)d, &zero, sc.p, iT, (long long)T,
                                            (int)P));
        k_argmax<<<(unsigned)P, kThreads>>>(sc.p, iT, amax.p);
        HS_LAUNCH();
        std::vector<int> best(P);
        HS_CUDA(cudaMemcpy(best.data(), amax.p, P * sizeof(int), cudaMemcpyDeviceToHost));
        for (size_t p = 0; p < P; p++) {
            raw->pk_total[D->pk_depth[p]]++;
            raw->pk_correct[D->pk_depth[p]] += best[p] == D->pk_pos[p];
        }
    }
    HS_CUDA(cudaDeviceSynchronize());
    return 0;
}

} // namespace

extern "C" int hs_kv_compress_cuda(const hs_kv_config *cfg, bool is_key, float *x, size_t n,
                                   hs_kv_stats *st, hs_error *err)
{
    size_t count = n * (size_t)cfg->tokens * (size_t)cfg->head_dim;
    hs_handles hd;
    HS_CUSOLVER(cusolverDnCreate(&hd.solver));
    hs_dbuf<float> dx;
    HS_CUDA(dx.upload(x, count));
    if (hs_kv_compress_dev(cfg, is_key, dx.p, n, st, hd.solver, err) < 0)
        return -1;
    HS_CUDA(cudaMemcpy(x, dx.p, count * sizeof(float), cudaMemcpyDeviceToHost));
    return 0;
}

extern "C" int hs_kv_run_cuda(const hs_kv_config *cfg, const hs_kv_data *data, hs_kv_raw *raw,
                              hs_error *err)
{
    if ((double)data->H * data->Q * data->T > 2147483647.0)
        return hs_err(err, "kvcache: heads x queries x tokens exceeds 2^31 on the GPU");
    return run(cfg, data, raw, err);
}
