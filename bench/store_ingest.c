/* Store ingest rate: N synthetic results of M metrics each through hs_store_put and the
 * batched two-phase commit (SWMR on), as the master writes them. Prints rows/s.
 *   bench_store_ingest STORE.h5 [N] [M] */
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "grid.h"
#include "result.h"
#include "store.h"
#include "util.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_store_ingest STORE.h5 [N=100000] [M=50]\n");
        return 2;
    }
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
    size_t m = argc > 3 ? strtoul(argv[3], NULL, 10) : 50;
    size_t side = 1;
    while (side * side < n)
        side++;
    hs_buf text = { 0 };
    hs_buf_printf(&text, "name = \"ingest\";\nrun = { argv = [\"true\"]; };\naxes = { i = [");
    for (size_t i = 0; i < side; i++)
        hs_buf_printf(&text, "%s%zu", i ? "," : "", i);
    hs_buf_printf(&text, "]; j = [");
    for (size_t i = 0; i < (n + side - 1) / side; i++)
        hs_buf_printf(&text, "%s%zu", i ? "," : "", i);
    hs_buf_printf(&text, "]; };\n");
    hs_error err;
    hs_grid *g = hs_grid_load_text(hs_buf_str(&text), "ingest.cfg", NULL, &err);
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
        snprintf(names[k], 32, "metric_%02zu", k);
    }
    double t0 = hs_monotonic();
    hs_store_opts o = { .swmr = true };
    hs_store *s = hs_store_open(argv[1], g, &o, NULL, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    double t1 = hs_monotonic();
    /* one result, built once: the loop measures the store, not the building of results */
    hs_result r;
    hs_result_init(&r);
    r.attempt = 1;
    r.exit_code = 0;
    r.wall_s = 1.0;
    for (size_t k = 0; k < m; k++)
        hs_result_set_metric(&r, names[k], 0.0);
    for (size_t i = 0; i < n; i++) {
        const hs_run *run = hs_grid_run(g, i);
        snprintf(r.run_id, sizeof r.run_id, "%s", run->id);
        r.index = i;
        for (size_t k = 0; k < m; k++)
            r.metric_values[k] = (double)(i * m + k);
        if (hs_store_put(s, i, &r, HS_OK, &err) < 0 || hs_store_tick(s, &err) < 0) {
            fprintf(stderr, "%s\n", err.text);
            return 1;
        }
    }
    if (hs_store_close(s, &err) < 0) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    double t2 = hs_monotonic();
    printf("%zu %zu %.3f %.3f\n", n, m, t1 - t0, t2 - t1);
    hs_result_clear(&r);
    for (size_t k = 0; k < m; k++)
        free(names[k]);
    free(names);
    hs_grid_destroy(g);
    return 0;
}
