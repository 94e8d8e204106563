/* Timing of the quantization kernels (bench/gpu/bench_quant.c): the problem definitions and
 * the CPU reference timer; the CUDA timer is quant_bench.cu. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "quant.h"
#include "quant_bench.h"
#include "quant_cuda.h"
#include "util.h"

static const char *const kernels[] = { "fp16_cast",   "rtn_w4g128", "kivi_keys",
                                       "kivi_values", "kvquant",    "attn_gemm",
                                       "forge_svd",   "gptq",       NULL };

const char *const *hs_quant_bench_kernels(void)
{
    return kernels;
}

static size_t at_least(size_t x, size_t lo)
{
    return x < lo ? lo : x;
}

int hs_quant_bench_spec_make(const char *kernel, size_t size, hs_quant_bench_spec *s, hs_error *err)
{
    memset(s, 0, sizeof *s);
    hs_kv_config *kv = &s->kv;
    kv->tokens = 4096;
    kv->head_dim = 128;
    kv->k_bits = kv->v_bits = 2;
    size_t T = 4096, d = 128;
    if (strcmp(kernel, "fp16_cast") == 0) {
        s->kind = HS_QB_CAST;
        s->n = at_least(size, 1024);
        s->bytes = 8.0 * (double)s->n;
        snprintf(s->shape, sizeof s->shape, "%zu values", s->n);
    } else if (strcmp(kernel, "rtn_w4g128") == 0) {
        s->kind = HS_QB_WEIGHT;
        s->cols = 4096;
        s->rows = at_least(size / s->cols, 1);
        s->n = s->rows * s->cols;
        s->wq.method = HS_WQ_RTN;
        s->wq.bits = 4;
        s->wq.group_size = 128;
        s->wq.scheme = HS_QUANT_ASYM;
        s->bytes = 8.0 * (double)s->n;
        snprintf(s->shape, sizeof s->shape, "W %zu x %zu, asym, g128", s->rows, s->cols);
    } else if (strcmp(kernel, "kivi_keys") == 0 || strcmp(kernel, "kivi_values") == 0) {
        s->kind = HS_QB_KV;
        s->is_key = kernel[5] == 'k';
        kv->method = HS_KV_KIVI;
        kv->group_size = 32;
        s->heads = at_least(size / (T * d), 1);
        s->n = s->heads * T * d;
        s->bytes = 8.0 * (double)s->n;
        snprintf(s->shape, sizeof s->shape, "%zu x %zu x %zu, 2-bit, g32, per-%s", s->heads, T, d,
                 s->is_key ? "channel" : "token");
    } else if (strcmp(kernel, "kvquant") == 0) {
        s->kind = HS_QB_KV;
        s->is_key = true;
        kv->method = HS_KV_KVQUANT;
        kv->num_outliers = 1;
        s->heads = at_least(size / (T * d), 1);
        s->n = s->heads * T * d;
        /* outlier pass: read x, write the mask; quantization: read x and mask, write x */
        s->bytes = 14.0 * (double)s->n;
        snprintf(s->shape, sizeof s->shape, "%zu x %zu x %zu, 2-bit, 1 outlier/token", s->heads, T,
                 d);
    } else if (strcmp(kernel, "attn_gemm") == 0) {
        s->kind = HS_QB_ATTN;
        s->heads = 8;
        s->queries = 64;
        kv->tokens = (int)at_least(size / (s->heads * d), 128);
        T = (size_t)kv->tokens;
        s->n = s->heads * T * d;
        s->flops = 2.0 * (double)s->heads * (double)s->queries * (double)T * (double)d;
        s->bytes = 4.0 * (double)s->heads * ((double)T * d + (double)s->queries * (d + T));
        snprintf(s->shape, sizeof s->shape, "QK^T: %zu heads, %zu queries x %zu keys x %zu",
                 s->heads, s->queries, T, d);
    } else if (strcmp(kernel, "forge_svd") == 0) {
        s->kind = HS_QB_KV;
        s->is_key = true;
        kv->method = HS_KV_FORGE;
        kv->chunk_size = 64;
        kv->energy_threshold = 0.95;
        kv->min_rank = 2;
        kv->max_rank = 32;
        s->heads = at_least(size / (T * d), 1);
        s->n = s->heads * T * d;
        /* nominal SVD cost of an m x n matrix (m >= n): 4 m n^2 + 8 n^3 */
        double m = 128, nn = 64, chunks = (double)s->heads * (double)(T / 64);
        s->flops = chunks * (4.0 * m * nn * nn + 8.0 * nn * nn * nn);
        snprintf(s->shape, sizeof s->shape, "%.0f chunks of 64 x 128", chunks);
    } else if (strcmp(kernel, "gptq") == 0) {
        s->kind = HS_QB_WEIGHT;
        size_t side = (size_t)sqrt((double)size) / 128 * 128;
        s->rows = s->cols = at_least(side, 128);
        s->ncal = 2 * s->cols;
        s->n = s->rows * s->cols;
        s->wq.method = HS_WQ_GPTQ;
        s->wq.bits = 4;
        s->wq.group_size = 128;
        s->wq.scheme = HS_QUANT_ASYM;
        s->wq.damp = 0.01;
        s->wq.block_size = 128;
        double C = (double)s->cols, R = (double)s->rows, N = (double)s->ncal;
        /* Hessian, Cholesky + inverse + Cholesky, error propagation */
        s->flops = 2.0 * N * C * C + 4.0 / 3.0 * C * C * C + 2.0 * R * C * C;
        snprintf(s->shape, sizeof s->shape, "W %zu x %zu, %zu calib tokens, g128", s->rows, s->cols,
                 s->ncal);
    } else {
        return hs_err(err, "unknown bench kernel '%s'", kernel);
    }
    return 0;
}

static float *random_array(size_t n, uint64_t stream)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x)
        return NULL;
    hs_quant_rng r;
    hs_quant_rng_seed(&r, 12345, stream);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)hs_quant_rng_normal(&r);
    return x;
}

static int bench_cpu(const hs_quant_bench_spec *s, int iters, hs_quant_bench_result *out,
                     hs_error *err)
{
    int rc = -1;
    float *x = random_array(s->n, 1), *y = malloc((s->n ? s->n : 1) * sizeof *y);
    float *q = NULL, *scores = NULL;
    hs_wq_data D = { 0 };
    if (!x || !y) {
        hs_err(err, "bench: out of memory for %zu values", s->n);
        goto done;
    }
    if (s->kind == HS_QB_ATTN) {
        q = random_array(s->heads * s->queries * 128, 2);
        scores = malloc(s->heads * s->queries * (size_t)s->kv.tokens * sizeof *scores);
        if (!q || !scores) {
            hs_err(err, "bench: out of memory");
            goto done;
        }
    }
    if (s->kind == HS_QB_WEIGHT) {
        D.rows = s->rows;
        D.cols = s->cols;
        D.ncal = s->ncal;
        D.w = x;
        if (s->ncal && !(D.xcal = random_array(s->ncal * s->cols, 3))) {
            hs_err(err, "bench: out of memory");
            goto done;
        }
    }
    /* the memory-bound kernels run in place on y: every call moves the same bytes */
    memcpy(y, x, s->n * sizeof *y);
    snprintf(out->device, sizeof out->device, "cpu");
    double t0 = 0.0;
    for (int it = -1; it < iters; it++) {
        if (it == 0)
            t0 = hs_monotonic();
        hs_kv_stats st = { 0 };
        size_t T = (size_t)s->kv.tokens, d = (size_t)s->kv.head_dim;
        switch (s->kind) {
        case HS_QB_CAST:
            hs_quant_f16_round_array(y, s->n);
            break;
        case HS_QB_KV:
            if (hs_kv_compress(&s->kv, s->is_key, y, s->heads, &st, err) < 0)
                goto done;
            break;
        case HS_QB_WEIGHT:
            if (hs_wq_quantize_cpu(&s->wq, &D, y, NULL, err) < 0)
                goto done;
            break;
        case HS_QB_ATTN:
            for (size_t h = 0; h < s->heads; h++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->queries, (int)T,
                            (int)d, 1.0f, q + h * s->queries * d, (int)d, x + h * T * d, (int)d,
                            0.0f, scores + h * s->queries * T, (int)T);
            break;
        }
    }
    out->seconds = (hs_monotonic() - t0) / iters;
    rc = 0;
done:
    free(x);
    free(y);
    free(q);
    free(scores);
    free(D.xcal);
    return rc;
}

int hs_quant_bench_run(const char *kernel, bool use_cuda, size_t size, int iters,
                       hs_quant_bench_result *out, hs_error *err)
{
    memset(out, 0, sizeof *out);
    hs_quant_bench_spec s;
    if (hs_quant_bench_spec_make(kernel, size, &s, err) < 0)
        return -1;
    if (iters < 1)
        iters = 1;
    snprintf(out->kernel, sizeof out->kernel, "%s", kernel);
    snprintf(out->shape, sizeof out->shape, "%s", s.shape);
    out->bytes = s.bytes;
    out->flops = s.flops;
    if (use_cuda) {
#ifdef HS_GPU_HAVE_CUDA
        return hs_quant_bench_cuda(&s, iters, out, err);
#else
        return hs_err(err, "bench: this build has no CUDA");
#endif
    }
    return bench_cpu(&s, iters, out, err);
}
