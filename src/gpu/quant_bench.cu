// The CUDA timer of bench_quant (quant_bench.c has the problem definitions and the CPU timer).
#include <cstdio>
#include <vector>

#include "quant_cuda.cuh"

namespace {

constexpr unsigned kThreads = 256;

__global__ void k_cast(float *x, size_t n)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n)
        x[i] = hs_d_f16_round(x[i]);
}

struct events {
    cudaEvent_t a = nullptr, b = nullptr;
    events() = default;
    events(const events &) = delete;
    events &operator=(const events &) = delete;
    ~events()
    {
        if (a)
            cudaEventDestroy(a);
        if (b)
            cudaEventDestroy(b);
    }
};

std::vector<float> random_vector(size_t n, uint64_t stream)
{
    std::vector<float> v(n);
    hs_quant_rng r;
    hs_quant_rng_seed(&r, 12345, stream);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)hs_quant_rng_normal(&r);
    return v;
}

int run(const hs_quant_bench_spec *s, int iters, hs_quant_bench_result *out, hs_error *err)
{
    int dev = 0, clk = 0, bus = 0;
    HS_CUDA(cudaGetDevice(&dev));
    if (hs_cuda_device_name(out->device, sizeof out->device, err) < 0)
        return -1;
    // HBM peak: two transfers per memory clock across the bus.
    if (cudaDeviceGetAttribute(&clk, cudaDevAttrMemoryClockRate, dev) == cudaSuccess &&
        cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, dev) == cudaSuccess)
        out->peak_gbs = 2.0 * clk * 1e3 * (bus / 8.0) / 1e9;
    hs_handles hd;
    HS_CUBLAS(cublasCreate(&hd.blas));
    HS_CUBLAS(cublasSetMathMode(hd.blas, CUBLAS_DEFAULT_MATH));
    HS_CUSOLVER(cusolverDnCreate(&hd.solver));
    std::vector<float> hx = random_vector(s->n, 1), hcal, hq;
    hs_dbuf<float> x, y, q, sc;
    HS_CUDA(x.upload(hx.data(), s->n));
    HS_CUDA(y.upload(hx.data(), s->n));
    hs_wq_data D = {};
    if (s->kind == HS_QB_WEIGHT) {
        hcal = random_vector(s->ncal * s->cols, 3);
        D.rows = s->rows;
        D.cols = s->cols;
        D.ncal = s->ncal;
        D.w = hx.data();
        D.xcal = hcal.data();
    }
    size_t T = (size_t)s->kv.tokens, d = (size_t)s->kv.head_dim;
    if (s->kind == HS_QB_ATTN) {
        hq = random_vector(s->heads * s->queries * d, 2);
        HS_CUDA(q.upload(hq.data(), hq.size()));
        HS_CUDA(sc.alloc(s->heads * s->queries * T));
    }
    events ev;
    HS_CUDA(cudaEventCreate(&ev.a));
    HS_CUDA(cudaEventCreate(&ev.b));
    const float one = 1.0f, zero = 0.0f;
    for (int it = -1; it < iters; it++) {
        if (it == 0)
            HS_CUDA(cudaEventRecord(ev.a));
        hs_kv_stats st = {};
        switch (s->kind) {
        case HS_QB_CAST:
            k_cast<<<hs_blocks(s->n, kThreads), kThreads>>>(y.p, s->n);
            HS_LAUNCH();
            break;
        case HS_QB_KV:
            if (hs_kv_compress_dev(&s->kv, s->is_key, y.p, s->heads, &st, hd.solver, err) < 0)
                return -1;
            break;
        case HS_QB_WEIGHT:
            if (hs_wq_quantize_dev(&s->wq, &D, hd, x.p, y.p, nullptr, err) < 0)
                return -1;
            break;
        case HS_QB_ATTN:
            HS_CUBLAS(cublasSgemmStridedBatched(
                hd.blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)T, (int)s->queries, (int)d, &one, x.p,
                (int)d, (long long)(T * d), q.p, (int)d, (long long)(s->queries * d), &zero,
                sc.p, (int)T, (long long)(s->queries * T), (int)s->heads));
            break;
        }
    }
    HS_CUDA(cudaEventRecord(ev.b));
    HS_CUDA(cudaEventSynchronize(ev.b));
    float ms = 0.0f;
    HS_CUDA(cudaEventElapsedTime(&ms, ev.a, ev.b));
    out->seconds = ms / 1e3 / iters;
    return 0;
}

} // namespace

extern "C" int hs_quant_bench_cuda(const hs_quant_bench_spec *spec, int iters,
                                   hs_quant_bench_result *out, hs_error *err)
{
    return run(spec, iters, out, err);
}
