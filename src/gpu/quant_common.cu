// Helpers shared by kvcache.cu, weightquant.cu and quant_bench.cu.
#include <cstdio>
#include <vector>

#include "quant_cuda.cuh"

namespace {

constexpr unsigned kThreads = 256;

__global__ void k_err2(const float *a, const float *b, size_t n, double *partial)
{
    __shared__ double se[kThreads], sr[kThreads];
    double e = 0.0, r = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        double d = (double)a[i] - (double)b[i];
        e += d * d;
        r += (double)b[i] * (double)b[i];
    }
    se[threadIdx.x] = e;
    sr[threadIdx.x] = r;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            se[threadIdx.x] += se[threadIdx.x + s];
            sr[threadIdx.x] += sr[threadIdx.x + s];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partial[2 * blockIdx.x] = se[0];
        partial[2 * blockIdx.x + 1] = sr[0];
    }
}

} // namespace

int hs_cuda_err2(const float *a, const float *b, size_t n, double *e2, double *r2, hs_error *err)
{
    unsigned blocks = hs_blocks(n, kThreads);
    blocks = blocks > 1024 ? 1024 : blocks;
    hs_dbuf<double> partial;
    HS_CUDA(partial.alloc(2 * (size_t)blocks));
    k_err2<<<blocks, kThreads>>>(a, b, n, partial.p);
    HS_LAUNCH();
    std::vector<double> h(2 * (size_t)blocks);
    HS_CUDA(cudaMemcpy(h.data(), partial.p, h.size() * sizeof(double), cudaMemcpyDeviceToHost));
    double e = 0.0, r = 0.0;
    for (unsigned i = 0; i < blocks; i++) {
        e += h[2 * i];
        r += h[2 * i + 1];
    }
    *e2 = e;
    *r2 = r;
    return 0;
}

int hs_cuda_device_name(char *buf, size_t len, hs_error *err)
{
    int dev = 0;
    cudaDeviceProp prop;
    HS_CUDA(cudaGetDevice(&dev));
    HS_CUDA(cudaGetDeviceProperties(&prop, dev));
    snprintf(buf, len, "%s", prop.name);
    return 0;
}
