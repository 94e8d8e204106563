/* libFuzzer entry point for the grid parser: load, validate, expand, render every run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grid.h"
#include "task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* @include reads other files; the harness tests the parser, not the file system */
    if (strstr(text, "@include")) {
        free(text);
        return 0;
    }
    hs_grid_opts opts = { .max_runs = 5000 };
    hs_error err;
    hs_grid *g = hs_grid_load_text(text, "fuzz.cfg", &opts, &err);
    if (g) {
        for (size_t i = 0; i < hs_grid_nruns(g) && i < 64; i++) {
            const hs_run *r = hs_grid_run(g, i);
            hs_task t;
            if (hs_task_render(g, r, "/sweep", "0", 1, &t, &err) == 0)
                hs_task_clear(&t);
            hs_buf b = { 0 };
            hs_run_canonical_json(g, r, &b);
            hs_run_describe(g, r, &b);
            hs_buf_free(&b);
            if (hs_grid_find(g, r->id) != (long)i)
                abort(); /* ids must be unique and findable */
        }
        hs_grid_destroy(g);
    } else if (strncmp(err.text, "fuzz.cfg", 8) != 0) {
        abort(); /* every error names the file */
    }
    free(text);
    return 0;
}
