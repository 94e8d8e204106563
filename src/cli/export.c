/* hypersweep export: the store as CSV or strict JSON (NaN and Infinity become null). */
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
#include "value.h"

enum { OPT_STATUS = 256 };

static const hs_cli_opt export_opts[] = {
    { "format", 'f', required_argument, "FMT", "csv (default) or json" },
    { "output", 'o', required_argument, "FILE", "write to FILE instead of standard output" },
    { "status", OPT_STATUS, required_argument, "S", "only runs with this status (e.g. ok)" },
    { NULL, 0, 0, NULL, NULL },
};

static int export_main(int argc, char **argv);

const hs_cli_cmd hs_cmd_export = {
    .name = "export",
    .usage = "STORE [--format csv|json] [-o FILE] [--status S]",
    .summary = "Write every run of a store (its columns, parameters and metrics) as CSV or as "
               "strict JSON.\nIn JSON, NaN and Infinity are written as null; in CSV as empty "
               "cells.",
    .details = NULL,
    .opts = export_opts,
    .main = export_main,
};

static void num_text(hs_buf *b, double v, bool json)
{
    char tmp[32];
    if (!isfinite(v))
        hs_buf_puts(b, json ? "null" : "");
    else
        hs_buf_puts(b, hs_double_repr(v, tmp));
}

static const char *const run_cols[] = {
    "run_id",   "index",    "status",     "attempts",  "exit_code",  "signal", "failure_class",
    "message",  "started",  "finished",   "wall_s",    "host",       "rank",   "gpu",
    "gpu_name", "gpu_uuid", "git_commit", "git_dirty", "max_rss_mb", "cpu_s",  "warnings"
};
#define NRUNCOLS (sizeof run_cols / sizeof run_cols[0])

/* The text of run column c for row r; numbers go through num_text. */
static void run_col(const hs_store_data *d, size_t r, size_t c, hs_buf *b, bool json)
{
    switch (c) {
    case 0:
        hs_buf_puts(b, hs_sd_run_id(d, r));
        break;
    case 1:
        hs_buf_printf(b, "%lld", (long long)hs_sd_index(d, r));
        break;
    case 2:
        hs_buf_puts(b, hs_status_name(hs_sd_status(d, r)));
        break;
    case 3:
        hs_buf_printf(b, "%d", hs_sd_attempts(d, r));
        break;
    case 4:
        hs_buf_printf(b, "%d", hs_sd_exit_code(d, r));
        break;
    case 5:
        hs_buf_printf(b, "%d", hs_sd_signal(d, r));
        break;
    case 6:
        hs_buf_puts(b, hs_sd_failure_class(d, r));
        break;
    case 7:
        hs_buf_puts(b, hs_sd_message(d, r));
        break;
    case 8:
        num_text(b, hs_sd_started(d, r), json);
        break;
    case 9:
        num_text(b, hs_sd_finished(d, r), json);
        break;
    case 10:
        num_text(b, hs_sd_wall_s(d, r), json);
        break;
    case 11:
        hs_buf_puts(b, hs_sd_host(d, r));
        break;
    case 12:
        hs_buf_printf(b, "%d", hs_sd_rank(d, r));
        break;
    case 13:
        hs_buf_printf(b, "%d", hs_sd_gpu(d, r));
        break;
    case 14:
        hs_buf_puts(b, hs_sd_gpu_name(d, r));
        break;
    case 15:
        hs_buf_puts(b, hs_sd_gpu_uuid(d, r));
        break;
    case 16:
        hs_buf_puts(b, hs_sd_git_commit(d, r));
        break;
    case 17:
        hs_buf_printf(b, "%d", hs_sd_git_dirty(d, r));
        break;
    case 18:
        num_text(b, hs_sd_max_rss_mb(d, r), json);
        break;
    case 19:
        num_text(b, hs_sd_cpu_s(d, r), json);
        break;
    case 20:
        hs_buf_printf(b, "%d", hs_sd_warnings(d, r));
        break;
    }
}

static bool run_col_is_text(size_t c)
{
    return c == 0 || c == 2 || c == 6 || c == 7 || c == 11 || c == 14 || c == 15 || c == 16;
}

static int export_main(int argc, char **argv)
{
    const char *format = "csv", *output = NULL, *only_status = NULL;
    hs_cli_parser p;
    hs_cli_parser_init(&p, &hs_cmd_export);
    int c;
    while ((c = hs_cli_next(&p, argc, argv)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case OPT_STATUS:
            only_status = optarg;
            break;
        case 'h':
            hs_cli_usage(&hs_cmd_export, stdout);
            return HS_EXIT_OK;
        default:
            return HS_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc)
        return hs_cli_bad_usage(&hs_cmd_export, "expects exactly one STORE");
    bool json = strcmp(format, "json") == 0;
    if (!json && strcmp(format, "csv") != 0)
        return hs_cli_bad_usage(&hs_cmd_export, "unknown format '%s' (csv or json)", format);
    int want = -1;
    if (only_status && (want = hs_status_parse(only_status)) < 0)
        return hs_cli_bad_usage(&hs_cmd_export, "unknown status '%s'", only_status);
    hs_error err;
    hs_store_data *d = hs_store_read(argv[optind], &err);
    if (!d) {
        fprintf(stderr, "hypersweep export: %s\n", err.text);
        return HS_EXIT_STORE;
    }
    FILE *out = output ? fopen(output, "w") : stdout;
    if (!out) {
        fprintf(stderr, "hypersweep export: cannot write %s\n", output);
        hs_store_data_destroy(d);
        return HS_EXIT_USAGE;
    }
    size_t np = hs_sd_nparams(d), nm = hs_sd_nmetrics(d);
    hs_buf b = { 0 };
    if (json) {
        fputs("{\"sweep\":", out);
        hs_buf_put_json_string(&b, hs_sd_attr(d, "sweep"));
        fputs(hs_buf_str(&b), out);
        fputs(",\"runs\":[", out);
        bool first = true;
        for (size_t r = 0; r < hs_sd_nrows(d); r++) {
            if (want >= 0 && hs_sd_status(d, r) != want)
                continue;
            hs_buf_reset(&b);
            hs_buf_puts(&b, first ? "\n{" : ",\n{");
            first = false;
            for (size_t k = 0; k < NRUNCOLS; k++) {
                hs_buf_printf(&b, "%s\"%s\":", k ? "," : "", run_cols[k]);
                if (run_col_is_text(k)) {
                    hs_buf t = { 0 };
                    run_col(d, r, k, &t, true);
                    hs_buf_put_json_string(&b, hs_buf_str(&t));
                    hs_buf_free(&t);
                } else {
                    run_col(d, r, k, &b, true);
                }
            }
            hs_buf_puts(&b, ",\"params\":{");
            bool pf = true;
            for (size_t k = 0; k < np; k++) {
                hs_value v;
                if (!hs_sd_param(d, k, r, &v))
                    continue;
                hs_buf_puts(&b, pf ? "" : ",");
                pf = false;
                hs_buf_put_json_string(&b, hs_sd_param_name(d, k));
                hs_buf_putc(&b, ':');
                if (v.type == HS_FLOAT && !isfinite(v.u.f))
                    hs_buf_puts(&b, "null");
                else
                    hs_value_put_json(&b, &v);
            }
            hs_buf_puts(&b, "},\"metrics\":{");
            bool mf = true;
            for (size_t m = 0; m < nm; m++) {
                double v = hs_sd_metric_column(d, m)[r];
                if (isnan(v))
                    continue; /* absent */
                hs_buf_puts(&b, mf ? "" : ",");
                mf = false;
                hs_buf_put_json_string(&b, hs_sd_metric_name(d, m));
                hs_buf_putc(&b, ':');
                num_text(&b, v, true);
            }
            hs_buf_puts(&b, "}}");
            fputs(hs_buf_str(&b), out);
        }
        fputs("\n]}\n", out);
    } else {
        hs_table *t = hs_table_create(NRUNCOLS + np + nm);
        for (size_t k = 0; k < NRUNCOLS; k++)
            hs_table_column(t, k, run_cols[k], HS_LEFT);
        for (size_t k = 0; k < np; k++) {
            hs_buf_reset(&b);
            hs_buf_printf(&b, "param:%s", hs_sd_param_name(d, k));
            hs_table_column(t, NRUNCOLS + k, hs_buf_str(&b), HS_LEFT);
        }
        for (size_t m = 0; m < nm; m++)
            hs_table_column(t, NRUNCOLS + np + m, hs_sd_metric_name(d, m), HS_LEFT);
        for (size_t r = 0; r < hs_sd_nrows(d); r++) {
            if (want >= 0 && hs_sd_status(d, r) != want)
                continue;
            hs_table_row(t);
            for (size_t k = 0; k < NRUNCOLS; k++) {
                hs_buf_reset(&b);
                run_col(d, r, k, &b, false);
                hs_table_set(t, k, hs_buf_str(&b));
            }
            for (size_t k = 0; k < np; k++) {
                hs_value v;
                hs_buf_reset(&b);
                if (hs_sd_param(d, k, r, &v))
                    hs_value_put_text(&b, &v);
                hs_table_set(t, NRUNCOLS + k, hs_buf_str(&b));
            }
            for (size_t m = 0; m < nm; m++) {
                hs_buf_reset(&b);
                double v = hs_sd_metric_column(d, m)[r];
                if (isinf(v))
                    hs_buf_puts(&b, v > 0 ? "inf" : "-inf");
                else
                    num_text(&b, v, false);
                hs_table_set(t, NRUNCOLS + np + m, hs_buf_str(&b));
            }
        }
        hs_table_write(t, out, HS_TABLE_CSV, 0);
        hs_table_destroy(t);
    }
    hs_buf_free(&b);
    int rc = HS_EXIT_OK;
    if (output && fclose(out) != 0) {
        fprintf(stderr, "hypersweep export: cannot write %s\n", output);
        rc = HS_EXIT_USAGE;
    }
    hs_store_data_destroy(d);
    return rc;
}
