/* The analysis benchmark's store: N runs (default 1,000,000, the grid limit) of a
 * model x method x seq x samples grid with M metrics (default 20) written through the store
 * API, as a sweep would leave it. The metrics have structure, so the report has work to do:
 *   acc            the target: depends on model, method, seq and samples, plus noise
 *   ppl            falls with acc (the secondary)
 *   diag_00..      diagnostics: each a different mix of acc and noise; diag_03 is Infinity in
 *                  1% of runs, diag_05 is integer-valued, diag_07 is constant
 * 1% of runs failed. Usage: bench_analysis_store STORE.h5 [N] [M] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "grid.h"
#include "result.h"
#include "store.h"
#include "util.h"

static double unit(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_analysis_store STORE.h5 [N=1000000] [M=20]\n");
        return 2;
    }
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
    size_t m = argc > 3 ? strtoul(argv[3], NULL, 10) : 20;
    if (m < 3)
        m = 3;
    /* 4 models x 5 methods x 50 seq x samples: as many samples values as n needs */
    size_t nsamples = (n + 999) / 1000;
    hs_buf text = { 0 };
    hs_buf_printf(&text, "name = \"bench_analysis\";\nrun = { argv = [\"true\"]; };\n"
                         "axes = {\n  model = [\"llama-3-8b\", \"qwen2.5-7b\", \"mistral-7b\", "
                         "\"\xE9\x80\x9A\xE4\xB9\x89\xE5\x8D\x83\xE9\x97\xAE\"];\n"
                         "  method = [\"taylor\", \"layerwise\", \"blockwise\", \"magnitude\", "
                         "\"wanda\"];\n  seq = [");
    for (size_t i = 0; i < 50; i++)
        hs_buf_printf(&text, "%s%zu", i ? ", " : "", 16 + 16 * i);
    hs_buf_puts(&text, "];\n  samples = [");
    for (size_t i = 0; i < nsamples; i++)
        hs_buf_printf(&text, "%s%zu", i ? ", " : "", 64 + i);
    hs_buf_puts(&text,
                "];\n};\nanalysis = { target = \"acc\"; secondary = \"ppl\"; by = "
                "\"model\"; method_axis = \"method\"; params = [\"seq\", \"samples\"]; };\n");
    hs_error err;
    hs_grid *g = hs_grid_load_text(hs_buf_str(&text), "bench_analysis.cfg", NULL, &err);
    hs_buf_free(&text);
    if (!g) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    if (hs_grid_nruns(g) < n)
        n = hs_grid_nruns(g);
    char **names = calloc(m, sizeof *names);
    for (size_t k = 0; k < m; k++) {
        names[k] = malloc(32);
        if (k == 0)
            snprintf(names[k], 32, "acc");
        else if (k == 1)
            snprintf(names[k], 32, "ppl");
        else
            snprintf(names[k], 32, "diag_%02zu", k - 2);
    }
    double t0 = hs_monotonic();
    hs_store_opts o = { .swmr = false };
    hs_store *s = hs_store_open(argv[1], g, &o, NULL, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    hs_result r;
    hs_result_init(&r);
    r.attempt = 1;
    r.exit_code = 0;
    r.wall_s = 1.0;
    for (size_t k = 0; k < m; k++)
        hs_result_set_metric(&r, names[k], 0.0);
    uint64_t seed = 42;
    const double model_base[4] = { 0.58, 0.61, 0.55, 0.57 };
    const double method_off[5] = { -0.01, -0.02, 0.0, -0.05, -0.03 };
    for (size_t i = 0; i < n; i++) {
        const hs_run *run = hs_grid_run(g, i);
        snprintf(r.run_id, sizeof r.run_id, "%s", run->id);
        r.index = i;
        r.started = 1.7e9 + (double)i;
        r.finished = r.started + 1.0;
        static const char *const models[4] = { "llama-3-8b", "qwen2.5-7b", "mistral-7b", "" };
        static const char *const meth[5] = { "taylor", "layerwise", "blockwise", "magnitude",
                                             "wanda" };
        const hs_value *mo = hs_run_get(run, "model"), *mv = hs_run_get(run, "method");
        size_t model = 3, method = 0;
        for (size_t k = 0; k < 3; k++)
            if (strcmp(mo->u.s, models[k]) == 0)
                model = k;
        for (size_t k = 0; k < 5; k++)
            if (strcmp(mv->u.s, meth[k]) == 0)
                method = k;
        double seq = (double)hs_run_get(run, "seq")->u.i;
        double acc = model_base[model] + method_off[method] - 0.2 / log2(seq) + 0.03 * unit(&seed);
        r.metric_values[0] = acc;
        r.metric_values[1] = 30 - 25 * acc + unit(&seed);
        for (size_t k = 2; k < m; k++) {
            double w = (double)(k % 7) / 7.0;
            double v = w * acc + (1 - w) * 0.1 * unit(&seed);
            if (k == 5 && unit(&seed) < 0.01)
                v = INFINITY;
            if (k == 7)
                v = floor(unit(&seed) * 8);
            if (k == 9)
                v = 0.5;
            r.metric_values[k] = v;
        }
        int status = unit(&seed) < 0.01 ? HS_FAILED : HS_OK;
        if (status == HS_FAILED)
            snprintf(r.failure_class, sizeof r.failure_class, "oom");
        else
            r.failure_class[0] = '\0';
        if (hs_store_put(s, i, &r, status, &err) < 0 || hs_store_tick(s, &err) < 0) {
            fprintf(stderr, "%s\n", err.text);
            return 1;
        }
    }
    if (hs_store_close(s, &err) < 0) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    printf("%zu runs x %zu metrics written in %.1f s\n", n, m, hs_monotonic() - t0);
    hs_result_clear(&r);
    for (size_t k = 0; k < m; k++)
        free(names[k]);
    free(names);
    hs_grid_destroy(g);
    return 0;
}
