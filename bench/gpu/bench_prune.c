/* bench_prune: how fast the prune probe runs, against peers measured in the same run.
 *
 * CPU: GFLOP/s of the CBLAS GEMMs at the probe's shapes, as a fraction of a square GEMM's
 * rate on the same core(s), and seconds per probe run (with calibration tokens per second).
 * GPU (a CUDA build with a visible GPU): achieved bandwidth of the probe's kernels as a
 * fraction of the device's peak, TFLOP/s of its GEMMs, and the CPU/GPU time ratio of whole
 * runs. Prints tables; asserts nothing.
 *
 *   OPENBLAS_NUM_THREADS=1 ./build/bench/bench_prune [profile ...] */
#include <cblas.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "prune.h"
#include "table.h"
#include "util.h"

enum { T = PRUNE_CHUNK_TOKENS, SEQ = 32 };

/* seconds per call of C = op(A) op(B), best of a few timed batches */
static double time_sgemm(bool ta, bool tb, int m, int n, int k, int batch, const float *a,
                         const float *b, float *c)
{
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        int reps = 0;
        double t0 = hs_monotonic(), t;
        do {
            for (int s = 0; s < batch; s++)
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                            tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                            a + (size_t)s * (ta ? k * m : m * k), ta ? m : k,
                            b + (size_t)s * (tb ? n * k : k * n), tb ? k : n, 1.0f, c, n);
            reps++;
            t = hs_monotonic() - t0;
        } while (t < 0.05);
        if (t / reps < best)
            best = t / reps;
    }
    return best;
}

static void cpu_gemms(const char *const *profiles, int nprof)
{
    size_t big = (size_t)T * 256;
    float *a = calloc(big, sizeof(float)), *b = calloc(big, sizeof(float));
    float *c = calloc(big, sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "bench_prune: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < big; i++)
        a[i] = b[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    const int sq = 512;
    double peer = 2.0 * sq * sq * sq / time_sgemm(false, false, sq, sq, sq, 1, a, b, c) / 1e9;
    printf("CPU: CBLAS (OpenBLAS %s, %d thread%s); peer: a square %dx%d GEMM at %.1f GFLOP/s\n\n",
           openblas_get_corename(), openblas_get_num_threads(),
           openblas_get_num_threads() == 1 ? "" : "s", sq, sq, peer);
    hs_table *t = hs_table_create(5);
    hs_table_column(t, 0, "profile", HS_LEFT);
    hs_table_column(t, 1, "GEMM (row-major M x N x K)", HS_LEFT);
    hs_table_column(t, 2, "us/call", HS_RIGHT);
    hs_table_column(t, 3, "GFLOP/s", HS_RIGHT);
    hs_table_column(t, 4, "of peer", HS_RIGHT);
    for (int p = 0; p < nprof; p++) {
        prune_model m;
        prune_data g;
        hs_error err;
        if (prune_profile_build(profiles[p], &m, &g, &err) < 0) {
            fprintf(stderr, "bench_prune: %s\n", err.text);
            continue;
        }
        int d = m.d, f = m.f;
        struct {
            const char *what;
            bool ta, tb;
            int m, n, k, batch;
        } shapes[] = {
            { "up-projection H = U W1^T", false, true, T, f, d, 1 },
            { "down-projection X += A W2^T", false, true, T, d, f, 1 },
            { "backward dA = dX W2", false, false, T, f, d, 1 },
            { "per-sequence gradient (x64)", true, false, f, d, SEQ, T / SEQ },
        };
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            double sec = time_sgemm(shapes[s].ta, shapes[s].tb, shapes[s].m, shapes[s].n,
                                    shapes[s].k, shapes[s].batch, a, b, c);
            double gf = 2.0 * shapes[s].m * shapes[s].n * shapes[s].k * shapes[s].batch / sec / 1e9;
            hs_table_row(t);
            hs_table_set(t, 0, profiles[p]);
            hs_table_setf(t, 1, "%s: %d x %d x %d", shapes[s].what, shapes[s].m, shapes[s].n,
                          shapes[s].k);
            hs_table_setf(t, 2, "%.1f", sec * 1e6);
            hs_table_setf(t, 3, "%.1f", gf);
            hs_table_setf(t, 4, "%.2f", gf / peer);
        }
        prune_data_free(&g);
        prune_model_free(&m);
    }
    hs_table_write(t, stdout, HS_TABLE_TEXT, 0);
    hs_table_destroy(t);
    printf("\n");
done:
    free(a);
    free(b);
    free(c);
}

/* seconds of one probe run, or -1 */
static double probe_seconds(const char *profile, const char *device, int seq_len, int samples)
{
    json_object *p = json_object_new_object(), *r = json_object_new_object(), *v;
    hs_error err;
    double sec = -1;
    json_object_object_add(p, "profile", json_object_new_string(profile));
    json_object_object_add(p, "taylor_seq_len", json_object_new_int(seq_len));
    json_object_object_add(p, "taylor_num_samples", json_object_new_int(samples));
    if (hs_probe_run("prune", p, device, r, &err) < 0)
        fprintf(stderr, "bench_prune: %s on %s: %s\n", profile, device, err.text);
    else if (json_object_object_get_ex(r, "time_s", &v))
        sec = json_object_get_double(v);
    json_object_put(p);
    json_object_put(r);
    return sec;
}

static void probe_runs(const char *const *profiles, int nprof, bool gpu)
{
    /* the demo's middle budget, and its largest */
    const int budgets[][2] = { { 64, 256 }, { 256, 512 } };
    hs_table *t = hs_table_create(gpu ? 7 : 5);
    hs_table_column(t, 0, "profile", HS_LEFT);
    hs_table_column(t, 1, "calibration", HS_LEFT);
    hs_table_column(t, 2, "CPU s/run", HS_RIGHT);
    hs_table_column(t, 3, "CPU tokens/s", HS_RIGHT);
    hs_table_column(t, 4, "CPU GFLOP/s", HS_RIGHT);
    if (gpu) {
        hs_table_column(t, 5, "GPU s/run", HS_RIGHT);
        hs_table_column(t, 6, "CPU/GPU", HS_RIGHT);
    }
    for (int p = 0; p < nprof; p++) {
        prune_model m;
        prune_data g;
        hs_error err;
        if (prune_profile_build(profiles[p], &m, &g, &err) < 0)
            continue;
        /* calibration work: 12 B d f per token (2 GEMMs forward, 4 backward) */
        double flops_per_token = 12.0 * m.nblocks * m.d * m.f;
        prune_data_free(&g);
        prune_model_free(&m);
        double base = probe_seconds(profiles[p], "cpu", 1, 1); /* model, held-out passes */
        for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++) {
            int len = budgets[b][0], n = budgets[b][1];
            double cpu = probe_seconds(profiles[p], "cpu", len, n);
            double tokens = (double)len * n;
            hs_table_row(t);
            hs_table_set(t, 0, profiles[p]);
            hs_table_setf(t, 1, "%d x %d tokens", n, len);
            hs_table_setf(t, 2, "%.3f", cpu);
            if (cpu > base && base > 0) {
                hs_table_setf(t, 3, "%.0f", tokens / (cpu - base));
                hs_table_setf(t, 4, "%.1f", tokens * flops_per_token / (cpu - base) / 1e9);
            }
            if (gpu) {
                double g_s = probe_seconds(profiles[p], "cuda", len, n);
                hs_table_setf(t, 5, "%.3f", g_s);
                if (g_s > 0)
                    hs_table_setf(t, 6, "%.1f", cpu / g_s);
            }
        }
    }
    printf("Whole probe runs (tokens/s and GFLOP/s count calibration only: the time of a run "
           "with one token is taken off)\n\n");
    hs_table_write(t, stdout, HS_TABLE_TEXT, 0);
    hs_table_destroy(t);
    printf("\n");
}

static void gpu_kernels(const char *profile)
{
    prune_bench_row rows[32];
    double peak;
    hs_error err;
    int n = prune_cuda_bench(profile, rows, 32, &peak, &err);
    if (n < 0) {
        printf("GPU kernels (%s): %s\n\n", profile, err.text);
        return;
    }
    printf("GPU kernels, profile %s; peak memory bandwidth %.0f GB/s (clock x bus width)\n\n",
           profile, peak);
    hs_table *t = hs_table_create(5);
    hs_table_column(t, 0, "kernel", HS_LEFT);
    hs_table_column(t, 1, "us/call", HS_RIGHT);
    hs_table_column(t, 2, "GB/s", HS_RIGHT);
    hs_table_column(t, 3, "of peak", HS_RIGHT);
    hs_table_column(t, 4, "TFLOP/s", HS_RIGHT);
    for (int i = 0; i < n; i++) {
        hs_table_row(t);
        hs_table_set(t, 0, rows[i].what);
        hs_table_setf(t, 1, "%.1f", rows[i].seconds * 1e6);
        if (rows[i].bytes > 0) {
            double gbs = rows[i].bytes / rows[i].seconds / 1e9;
            hs_table_setf(t, 2, "%.0f", gbs);
            if (peak > 0)
                hs_table_setf(t, 3, "%.2f", gbs / peak);
        }
        if (rows[i].flops > 0)
            hs_table_setf(t, 4, "%.2f", rows[i].flops / rows[i].seconds / 1e12);
    }
    hs_table_write(t, stdout, HS_TABLE_TEXT, 0);
    hs_table_destroy(t);
    printf("\n");
}

int main(int argc, char **argv)
{
    static const char *const all[] = { "llama", "qwen", "mistral" };
    const char *const *profiles = argc > 1 ? (const char *const *)argv + 1 : all;
    int nprof = argc > 1 ? argc - 1 : 3;
    hs_gpu_device *devs = NULL;
    hs_error err;
    int ndev = hs_gpu_list(&devs, &err);
    bool gpu = hs_gpu_built_with_cuda() && ndev > 0;
    if (gpu)
        printf("GPU: %s (%s), CUDA %s, driver %s\n", devs[0].name, devs[0].uuid, devs[0].cuda,
               devs[0].driver);
    else
        printf("GPU: none (%s): the CPU path only\n", !hs_gpu_built_with_cuda()
                                                          ? "built without CUDA"
                                                      : ndev < 0 ? err.text
                                                                 : "no GPU visible");
    free(devs);
    cpu_gemms(profiles, nprof);
    probe_runs(profiles, nprof, gpu);
    if (gpu)
        for (int p = 0; p < nprof; p++)
            gpu_kernels(profiles[p]);
    return 0;
}
