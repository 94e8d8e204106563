/* hypersweep status: where a sweep stands, during it (SWMR reader) or after it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "error.h"
#include "result.h"
#include "store.h"
#include "table.h"
#include "util.h"

enum { OPT_FAILED = 256, OPT_JSON };

static const hs_cli_opt status_opts[] = {
    { "failed", OPT_FAILED, no_argument, NULL,
      "list every failed run with its class, message and stderr tail" },
    { "json", OPT_JSON, no_argument, NULL, "print the counts as strict JSON" },
    { NULL, 0, 0, NULL, NULL },
};

static int status_main(int argc, char **argv);

const hs_cli_cmd hs_cmd_status = {
    .name = "status",
    .usage = "STORE [--failed] [--json]",
    .summary = "Show where a sweep stands: runs by status, what is running where, failures by "
               "class.\nWorks while the sweep runs (the store is read in SWMR mode) and after it.",
    .details =
        "Exit status: 0 when every run is ok, 1 otherwise, 3 when the store cannot be read.\n",
    .opts = status_opts,
    .main = status_main,
};

/* A failed run's parameters on one line: each value shortened to a share of the line, the
 * whole to a screen line. Returns 1 if something was shortened. */
static int describe_params(const hs_store_data *d, size_t row, hs_buf *out)
{
    hs_buf line = { 0 }, v = { 0 };
    int cut = 0;
    for (size_t k = 0; k < hs_sd_nparams(d); k++) {
        hs_value val;
        if (!hs_sd_param(d, k, row, &val))
            continue;
        hs_buf_reset(&v);
        hs_value_put_text(&v, &val);
        hs_buf_printf(&line, "%s%s=", line.len ? ", " : "", hs_sd_param_name(d, k));
        cut |= hs_put_short(&line, hs_buf_str(&v), HS_SHORT_LINE_COLS / 3, NULL) == 1;
    }
    cut |= hs_put_short(out, hs_buf_str(&line), HS_SHORT_LINE_COLS, NULL) == 1;
    hs_buf_free(&line);
    hs_buf_free(&v);
    return cut;
}

static void print_tail(const hs_store_data *d, size_t row, int lines)
{
    char tail[HS_TAIL_BYTES + 1];
    hs_error err;
    if (hs_sd_stderr_tail(d, row, tail, sizeof tail, &err) < 0 || !tail[0])
        return;
    const char *p = tail + strlen(tail);
    int seen = 0;
    while (p > tail) {
        if (p[-1] == '\n' && p[0] && ++seen == lines + 1)
            break;
        p--;
    }
    printf("    stderr (tail):\n");
    hs_buf b = { 0 };
    while (*p) {
        size_t l = strcspn(p, "\n");
        char *one = strndup(p, l);
        hs_buf_reset(&b);
        if (one)
            hs_put_short(&b, one, HS_SHORT_LINE_COLS, NULL);
        printf("      | %s\n", hs_buf_str(&b));
        free(one);
        p += l + (p[l] == '\n');
    }
    hs_buf_free(&b);
}

static int status_main(int argc, char **argv)
{
    bool failed = false, json = false;
    hs_cli_parser p;
    hs_cli_parser_init(&p, &hs_cmd_status);
    int c;
    while ((c = hs_cli_next(&p, argc, argv)) != -1) {
        switch (c) {
        case OPT_FAILED:
            failed = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        case 'h':
            hs_cli_usage(&hs_cmd_status, stdout);
            return HS_EXIT_OK;
        default:
            return HS_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc)
        return hs_cli_bad_usage(&hs_cmd_status, "expects exactly one STORE");
    hs_error err;
    hs_store_data *d = hs_store_read_ex(argv[optind], HS_STORE_READ_LIGHT, &err);
    if (!d) {
        fprintf(stderr, "hypersweep status: %s\n", err.text);
        return HS_EXIT_STORE;
    }
    size_t n = hs_sd_nrows(d), counts[HS_NSTATUS] = { 0 }, in_grid = 0;
    for (size_t r = 0; r < n; r++) {
        if (hs_sd_index(d, r) < 0)
            continue;
        in_grid++;
        int st = hs_sd_status(d, r);
        if (st >= 0 && st < HS_NSTATUS)
            counts[st]++;
    }
    if (json) {
        hs_buf b = { 0 };
        hs_buf_puts(&b, "{\"sweep\":");
        hs_buf_put_json_string(&b, hs_sd_attr(d, "sweep"));
        hs_buf_printf(&b, ",\"runs\":%zu,\"status\":{", in_grid);
        for (int st = 0; st < HS_NSTATUS; st++)
            hs_buf_printf(&b, "%s\"%s\":%zu", st ? "," : "", hs_status_name(st), counts[st]);
        hs_buf_puts(&b, "}}\n");
        fputs(hs_buf_str(&b), stdout);
        hs_buf_free(&b);
    } else {
        printf("Sweep %s: %zu runs   (store %s, modified %s)\n", hs_sd_attr(d, "sweep"), in_grid,
               argv[optind], hs_sd_attr(d, "modified"));
        if (hs_sd_attr(d, "shard")[0])
            printf("Shard %s\n", hs_sd_attr(d, "shard"));
        hs_table *t = hs_table_create(3);
        hs_table_column(t, 0, "status", HS_LEFT);
        hs_table_column(t, 1, "runs", HS_RIGHT);
        hs_table_column(t, 2, "share", HS_RIGHT);
        for (int st = 0; st < HS_NSTATUS; st++) {
            if (!counts[st])
                continue;
            hs_table_row(t);
            hs_table_set(t, 0, hs_status_name(st));
            hs_table_setf(t, 1, "%zu", counts[st]);
            hs_table_setf(t, 2, "%.1f%%",
                          100.0 * (double)counts[st] / (double)(in_grid ? in_grid : 1));
        }
        hs_table_write(t, stdout, HS_TABLE_TEXT, 2);
        hs_table_destroy(t);
        /* what runs now, and where */
        if (counts[HS_RUNNING]) {
            printf("\nRunning:\n");
            t = hs_table_create(5);
            hs_table_column(t, 0, "run", HS_LEFT);
            hs_table_column(t, 1, "host", HS_LEFT);
            hs_table_column(t, 2, "rank", HS_RIGHT);
            hs_table_column(t, 3, "gpu", HS_LEFT);
            hs_table_column(t, 4, "for", HS_RIGHT);
            for (size_t r = 0; r < n; r++) {
                if (hs_sd_status(d, r) != HS_RUNNING || hs_sd_index(d, r) < 0)
                    continue;
                hs_table_row(t);
                hs_table_set(t, 0, hs_sd_run_id(d, r));
                hs_table_set(t, 1, hs_sd_host(d, r));
                hs_table_setf(t, 2, "%d", hs_sd_rank(d, r));
                if (hs_sd_gpu(d, r) >= 0)
                    hs_table_setf(t, 3, "%d %s", hs_sd_gpu(d, r), hs_sd_gpu_name(d, r));
                else
                    hs_table_set(t, 3, "-");
                double started = hs_sd_started(d, r);
                if (isfinite(started))
                    hs_table_setf(t, 4, "%.0f s", hs_now() - started);
            }
            hs_table_write(t, stdout, HS_TABLE_TEXT, 2);
            hs_table_destroy(t);
        }
        /* failures by class */
        size_t nfail = 0;
        for (int st = 0; st < HS_NSTATUS; st++)
            if (hs_status_failure(st))
                nfail += counts[st];
        if (nfail) {
            char names[64][32];
            size_t cnt[64] = { 0 }, nc = 0;
            for (size_t r = 0; r < n; r++) {
                if (hs_sd_index(d, r) < 0 || !hs_status_failure(hs_sd_status(d, r)))
                    continue;
                const char *fc = hs_sd_failure_class(d, r);
                size_t k;
                for (k = 0; k < nc; k++)
                    if (strcmp(names[k], fc) == 0)
                        break;
                if (k == nc && nc < 64)
                    snprintf(names[nc++], sizeof names[0], "%s", fc[0] ? fc : "unknown");
                if (k < 64)
                    cnt[k]++;
            }
            printf("\nFailures by class:\n");
            t = hs_table_create(2);
            hs_table_column(t, 0, "class", HS_LEFT);
            hs_table_column(t, 1, "runs", HS_RIGHT);
            for (size_t k = 0; k < nc; k++) {
                hs_table_row(t);
                hs_table_set(t, 0, names[k]);
                hs_table_setf(t, 1, "%zu", cnt[k]);
            }
            hs_table_write(t, stdout, HS_TABLE_TEXT, 2);
            hs_table_destroy(t);
            size_t shown = 0, limit = failed ? (size_t)-1 : 5;
            int cut = 0;
            hs_buf host = { 0 }, params = { 0 }, msg = { 0 };
            printf("\n%s:\n", failed ? "Failed runs" : "First failed runs (--failed lists all)");
            for (size_t r = 0; r < n && shown < limit; r++) {
                if (hs_sd_index(d, r) < 0 || !hs_status_failure(hs_sd_status(d, r)))
                    continue;
                shown++;
                hs_buf_reset(&host);
                hs_buf_reset(&params);
                hs_buf_reset(&msg);
                hs_put_short(&host, hs_sd_host(d, r), HS_SHORT_LINE_COLS / 3, NULL);
                cut |= describe_params(d, r, &params);
                cut |= hs_put_short(&msg, hs_sd_message(d, r), HS_SHORT_LINE_COLS, NULL) == 1;
                printf("  %s  %s (%s), attempt %d on %s\n    %s\n    %s\n", hs_sd_run_id(d, r),
                       hs_status_name(hs_sd_status(d, r)), hs_sd_failure_class(d, r),
                       hs_sd_attempts(d, r), hs_buf_str(&host), hs_buf_str(&params),
                       hs_buf_str(&msg));
                if (failed)
                    print_tail(d, r, 5);
            }
            if (cut)
                printf("\n(long values are shortened for the screen, marked \xE2\x80\xA6; "
                       "hypersweep export %s --format json or csv has them in full)\n",
                       argv[optind]);
            hs_buf_free(&host);
            hs_buf_free(&params);
            hs_buf_free(&msg);
        }
    }
    int code = counts[HS_OK] == in_grid ? HS_EXIT_OK : HS_EXIT_RUNS_FAILED;
    hs_store_data_destroy(d);
    return code;
}
