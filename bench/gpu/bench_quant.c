/* bench_quant: throughput of the kvcache and weightquant kernels. On a GPU, the memory-bound
 * quantizers are reported as achieved bandwidth and its fraction of the device's HBM peak
 * (memory clock x bus width), the GEMM and SVD work as GFLOP/s; on the CPU, the same problems
 * through the CPU references, in the same table. Asserts nothing.
 *
 *   bench_quant [--size N] [--cpu-size N] [--iters N] [--kernel NAME] [--cpu-only]
 *
 * Run it with OPENBLAS_NUM_THREADS=1 to measure the references as probe runs use them. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "quant_bench.h"
#include "table.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_quant [--size N] [--cpu-size N] [--iters N] [--kernel NAME] "
               "[--cpu-only]\n  kernels:");
    for (const char *const *k = hs_quant_bench_kernels(); *k; k++)
        fprintf(f, " %s", *k);
    fprintf(f, "\n");
}

static void add_row(hs_table *t, const hs_quant_bench_result *r)
{
    hs_table_row(t);
    hs_table_set(t, 0, r->kernel);
    hs_table_set(t, 1, r->device);
    hs_table_set(t, 2, r->shape);
    hs_table_setf(t, 3, "%.3f", r->seconds * 1e3);
    if (r->bytes > 0)
        hs_table_setf(t, 4, "%.1f", r->bytes / r->seconds / 1e9);
    if (r->bytes > 0 && r->peak_gbs > 0)
        hs_table_setf(t, 5, "%.1f%%", 100.0 * r->bytes / r->seconds / 1e9 / r->peak_gbs);
    if (r->flops > 0)
        hs_table_setf(t, 6, "%.1f", r->flops / r->seconds / 1e9);
}

int main(int argc, char **argv)
{
    size_t gpu_size = (size_t)1 << 26, cpu_size = (size_t)1 << 22;
    int iters = 0;
    bool cpu_only = false;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (strcmp(argv[i], "--size") == 0 && more)
            gpu_size = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--cpu-size") == 0 && more)
            cpu_size = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--iters") == 0 && more)
            iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--kernel") == 0 && more)
            only = argv[++i];
        else if (strcmp(argv[i], "--cpu-only") == 0)
            cpu_only = true;
        else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    bool gpu = false;
    if (!cpu_only && hs_gpu_built_with_cuda()) {
        hs_gpu_device *devs = NULL;
        gpu = hs_gpu_list(&devs, NULL) > 0;
        free(devs);
    }
    printf("bench_quant: %s; CPU problems at %zu values%s\n",
           gpu ? "GPU and CPU" : "CPU only (no CUDA build or no GPU)", cpu_size,
           gpu ? "" : "; rates are of the CPU references");
    hs_table *t = hs_table_create(7);
    if (!t)
        return 1;
    hs_table_column(t, 0, "kernel", HS_LEFT);
    hs_table_column(t, 1, "device", HS_LEFT);
    hs_table_column(t, 2, "problem", HS_LEFT);
    hs_table_column(t, 3, "ms/call", HS_RIGHT);
    hs_table_column(t, 4, "GB/s", HS_RIGHT);
    hs_table_column(t, 5, "of HBM peak", HS_RIGHT);
    hs_table_column(t, 6, "GFLOP/s", HS_RIGHT);
    int failures = 0;
    double peak = 0;
    for (const char *const *k = hs_quant_bench_kernels(); *k; k++) {
        if (only && strcmp(only, *k) != 0)
            continue;
        for (int dev = gpu ? 1 : 0; dev >= 0; dev--) {
            hs_quant_bench_result r;
            hs_error err = { "" };
            int n = iters > 0 ? iters : dev ? 20 : 3;
            if (hs_quant_bench_run(*k, dev == 1, dev ? gpu_size : cpu_size, n, &r, &err) < 0) {
                fprintf(stderr, "bench_quant: %s on %s: %s\n", *k, dev ? "cuda" : "cpu", err.text);
                failures++;
                continue;
            }
            peak = r.peak_gbs > 0 ? r.peak_gbs : peak;
            add_row(t, &r);
        }
    }
    hs_table_write(t, stdout, HS_TABLE_TEXT, 0);
    if (peak > 0)
        printf("HBM peak %.0f GB/s (2 x memory clock x bus width). GB/s counts the bytes each "
               "kernel must move (read + write; kvquant also its outlier mask).\n",
               peak);
    else
        printf("GB/s counts the bytes each kernel must move (read + write; kvquant also its "
               "outlier mask).\n");
    printf("GFLOP/s: attention QK^T 2 H Q T d; forge nominal SVD 4 m n^2 + 8 n^3 per chunk; "
           "gptq 2 N C^2 + 4/3 C^3 + 2 R C^2.\n");
    hs_table_destroy(t);
    return failures ? 1 : 0;
}
