/* hypersweep expand: show exactly which runs a grid means. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "error.h"
#include "grid.h"
#include "table.h"
#include "task.h"
#include "util.h"
#include "value.h"

enum { OPT_MAX_RUNS = 256 };

static const hs_cli_opt expand_opts[] = {
    { "format", 'f', required_argument, "FMT", "table (default), json or csv" },
    { "count", 'c', no_argument, NULL, "print only the number of runs" },
    { "dir", 'd', required_argument, "DIR", "sweep directory (default: sweeps/NAME)" },
    { "max-runs", OPT_MAX_RUNS, required_argument, "N",
      "refuse grids of more runs (default 1000000)" },
    { NULL, 0, 0, NULL, NULL },
};

static int expand_main(int argc, char **argv);

const hs_cli_cmd hs_cmd_expand = {
    .name = "expand",
    .usage = "GRID [--format table|json|csv] [--count] [--dir DIR]",
    .summary = "Validate GRID and print every run it defines: index, id, parameters, and the "
               "command each run\nwould execute with its placeholders filled in. Nothing is run "
               "or written.",
    .details = "Exit status: 0 if the grid is valid, 2 if it is not (the message names the file "
               "and line).\n",
    .opts = expand_opts,
    .main = expand_main,
};

static int json_value(hs_buf *b, const hs_value *v)
{
    /* strict JSON: non-finite floats become null */
    if (v->type == HS_FLOAT && !(v->u.f - v->u.f == 0))
        return hs_buf_puts(b, "null");
    return hs_value_put_json(b, v);
}

static int print_json(const hs_grid *g, const char *dir)
{
    hs_buf b = { 0 };
    hs_error err;
    hs_buf_puts(&b, "{\"sweep\":");
    hs_buf_put_json_string(&b, hs_grid_name(g));
    hs_buf_printf(&b, ",\"count\":%zu,\"runs\":[", hs_grid_nruns(g));
    fputs(hs_buf_str(&b), stdout);
    for (size_t i = 0; i < hs_grid_nruns(g); i++) {
        const hs_run *r = hs_grid_run(g, i);
        hs_task t;
        if (hs_task_render(g, r, dir, "{gpu}", 1, &t, &err) < 0) {
            fprintf(stderr, "hypersweep expand: %s\n", err.text);
            hs_buf_free(&b);
            return HS_EXIT_USAGE;
        }
        hs_buf_reset(&b);
        hs_buf_printf(&b, "%s\n{\"index\":%zu,\"id\":\"%s\",\"params\":{", i ? "," : "", i, r->id);
        for (size_t k = 0, first = 1; k < hs_grid_nparams(g); k++) {
            const hs_param_info *pi = hs_grid_param(g, k);
            const hs_value *v = hs_run_get(r, pi->name);
            if (!v)
                continue;
            hs_buf_printf(&b, "%s", first ? "" : ",");
            hs_buf_put_json_string(&b, pi->name);
            hs_buf_putc(&b, ':');
            json_value(&b, v);
            first = 0;
        }
        hs_buf_puts(&b, "},\"run_dir\":");
        hs_buf_put_json_string(&b, t.run_dir);
        hs_buf_puts(&b, ",\"argv\":[");
        for (uint32_t a = 0; a < t.argc; a++) {
            if (a)
                hs_buf_putc(&b, ',');
            hs_buf_put_json_string(&b, t.argv[a]);
        }
        hs_buf_puts(&b, "]}");
        fputs(hs_buf_str(&b), stdout);
        hs_task_clear(&t);
    }
    fputs("\n]}\n", stdout);
    hs_buf_free(&b);
    return HS_EXIT_OK;
}

static int print_table(const hs_grid *g, const char *dir, hs_table_format fmt)
{
    size_t np = hs_grid_nparams(g);
    hs_table *t = hs_table_create(np + 3);
    hs_error err;
    int rc = HS_EXIT_OK;
    if (!t)
        return HS_EXIT_USAGE;
    hs_table_column(t, 0, "index", HS_RIGHT);
    hs_table_column(t, 1, "id", HS_LEFT);
    for (size_t k = 0; k < np; k++) {
        const hs_param_info *pi = hs_grid_param(g, k);
        hs_table_column(t, 2 + k, pi->name,
                        pi->type == HS_PTYPE_INT || pi->type == HS_PTYPE_FLOAT ? HS_RIGHT
                                                                               : HS_LEFT);
    }
    hs_table_column(t, np + 2, "command", HS_LEFT);
    hs_table_limit(t, HS_SHORT_CELL_COLS, "--format json or csv shows them in full");
    hs_table_column_limit(t, np + 2, 2 * HS_SHORT_CELL_COLS); /* commands run long */
    hs_buf b = { 0 };
    for (size_t i = 0; i < hs_grid_nruns(g); i++) {
        const hs_run *r = hs_grid_run(g, i);
        hs_task task;
        if (hs_task_render(g, r, dir, "{gpu}", 1, &task, &err) < 0) {
            fprintf(stderr, "hypersweep expand: %s\n", err.text);
            rc = HS_EXIT_USAGE;
            break;
        }
        hs_table_row(t);
        hs_table_setf(t, 0, "%zu", i);
        hs_table_set(t, 1, r->id);
        for (size_t k = 0; k < np; k++) {
            const hs_value *v = hs_run_get(r, hs_grid_param(g, k)->name);
            hs_buf_reset(&b);
            if (v)
                hs_value_put_text(&b, v);
            else if (fmt == HS_TABLE_TEXT)
                hs_buf_puts(&b, "-");
            hs_table_set(t, 2 + k, hs_buf_str(&b));
        }
        hs_buf_reset(&b);
        hs_task_command_line(&task, &b);
        hs_table_set(t, np + 2, hs_buf_str(&b));
        hs_task_clear(&task);
    }
    if (rc == HS_EXIT_OK) {
        hs_table_write(t, stdout, fmt, 0);
        if (fmt == HS_TABLE_TEXT)
            printf("\n%zu runs in sweep '%s'; run directories under %s/runs/\n", hs_grid_nruns(g),
                   hs_grid_name(g), dir);
    }
    hs_buf_free(&b);
    hs_table_destroy(t);
    return rc;
}

static int expand_main(int argc, char **argv)
{
    const char *format = "table", *dir_opt = NULL;
    int count_only = 0;
    hs_grid_opts gopts = { 0 };
    hs_cli_parser p;
    hs_cli_parser_init(&p, &hs_cmd_expand);
    int c;
    while ((c = hs_cli_next(&p, argc, argv)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'c':
            count_only = 1;
            break;
        case 'd':
            dir_opt = optarg;
            break;
        case OPT_MAX_RUNS: {
            char *end;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (*end || n == 0)
                return hs_cli_bad_usage(&hs_cmd_expand, "--max-runs needs a positive integer");
            gopts.max_runs = (size_t)n;
            break;
        }
        case 'h':
            hs_cli_usage(&hs_cmd_expand, stdout);
            return HS_EXIT_OK;
        default:
            return HS_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc)
        return hs_cli_bad_usage(&hs_cmd_expand, "expects exactly one GRID file");
    if (strcmp(format, "table") && strcmp(format, "json") && strcmp(format, "csv"))
        return hs_cli_bad_usage(&hs_cmd_expand, "unknown format '%s' (table, json or csv)", format);
    hs_error err;
    hs_grid *g = hs_grid_load(argv[optind], &gopts, &err);
    if (!g) {
        fprintf(stderr, "%s\n", err.text);
        return HS_EXIT_USAGE;
    }
    fputs(hs_grid_warnings(g), stderr);
    int rc = HS_EXIT_OK;
    if (count_only) {
        printf("%zu\n", hs_grid_nruns(g));
    } else {
        hs_buf d = { 0 };
        if (dir_opt)
            hs_buf_puts(&d, dir_opt);
        else
            hs_buf_printf(&d, "sweeps/%s", hs_grid_name(g));
        char *dir = hs_path_absolute(hs_buf_str(&d));
        hs_buf_free(&d);
        if (!dir) {
            hs_grid_destroy(g);
            return HS_EXIT_USAGE;
        }
        if (strcmp(format, "json") == 0)
            rc = print_json(g, dir);
        else
            rc = print_table(g, dir, strcmp(format, "csv") == 0 ? HS_TABLE_CSV : HS_TABLE_TEXT);
        free(dir);
    }
    hs_grid_destroy(g);
    return rc;
}
