/* hypersweep-analyze: reports from a sweep's store(s). Parses the command line, opens the
 * stores and hands over to the library (analysis.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "error.h"

enum {
    OPT_BY = 256,
    OPT_TARGET,
    OPT_SECONDARY,
    OPT_LOWER,
    OPT_HIGHER,
    OPT_METHOD,
    OPT_PARAMS,
    OPT_DIAG,
    OPT_TASKS,
    OPT_AVG,
    OPT_DDOF,
    OPT_BASELINE,
    OPT_OVER,
};

/* Which commands take an option: R report, L leaderboard, U run. */
typedef struct opt {
    const char *name;
    int key;
    const char *arg;
    const char *cmds;
    const char *help;
} opt;

static const opt opts[] = {
    { "format", 'f', "FMT", "RLU",
      "text, markdown, json or csv (default: text on a terminal, else markdown)" },
    { "output", 'o', "FILE", "RLU", "write to FILE instead of standard output" },
    { "target", OPT_TARGET, "METRIC", "RL",
      "the metric compared (a full name, a unique '/'-suffix, or 'avg'); default: the grid's "
      "analysis.target" },
    { "lower-is-better", OPT_LOWER, NULL, "RL",
      "lower target values are better (e.g. a perplexity)" },
    { "higher-is-better", OPT_HIGHER, NULL, "RL", "higher target values are better" },
    { "by", OPT_BY, "AXES", "RL",
      "one section per value of these axes (comma-separated); default: the axis 'model' if "
      "there is one; 'none': one group" },
    { "method-axis", OPT_METHOD, "AXIS", "RL", "the axis compared as methods (default: 'method')" },
    { "secondary", OPT_SECONDARY, "METRIC", "RL",
      "a second metric shown beside the target (e.g. ppl)" },
    { "params", OPT_PARAMS, "AXES", "R",
      "axes of the parameter impact tables (default: every axis that varies and does not follow "
      "another)" },
    { "diagnostics", OPT_DIAG, "METRICS", "R",
      "metrics correlated with the target (default: every other metric except GPU telemetry)" },
    { "tasks", OPT_TASKS, "PATTERN", "RL",
      "glob over metric names for the per-task scores, e.g. 'metrics/zeroshot/*/accuracy'" },
    { "avg", OPT_AVG, "TASKS", "RLU",
      "average only these top-level tasks or groups (TASK or TASK/METRIC, comma-separated), "
      "never their subtasks" },
    { "ddof", OPT_DDOF, "N", "RL",
      "standard deviation divisor n-N: 1 sample (default), 0 population (numpy, the seed report)" },
    { "baseline", OPT_BASELINE, "AXIS=VALUE", "L",
      "the configuration deltas are taken against, e.g. method=fp16" },
    { "over", OPT_OVER, "AXES", "L",
      "axes of repeated measurements: configurations are also ranked by their mean over these, "
      "with std, 95% CI and a Welch t-test against the baseline (default: the axis 'seed' if "
      "there is one; 'none': off)" },
    { NULL, 0, NULL, NULL, NULL },
};

typedef struct cmd {
    const char *name;
    char letter;
    const char *usage;
    const char *summary;
} cmd;

static const cmd cmds[] = {
    { "report", 'R', "STORE... [options]",
      "Per group (by default per model): runs and why some are invalid, method comparison\n"
      "(mean, std, min, max, n), parameter impact, Pearson and Spearman correlations of every\n"
      "diagnostic with the target (n, p-value, 95% CI), integer-valued diagnostics, the\n"
      "secondary metric against the target, the best configuration with per-task scores; then\n"
      "the groups compared and the overall best." },
    { "leaderboard", 'L', "STORE... --baseline AXIS=VALUE [options]",
      "Per group, every configuration ranked by the target against a baseline: absolute\n"
      "deltas (percentage points for accuracies), peak memory and time, per-task scores naming\n"
      "the exact metric, MMLU-style group breakdowns, passkey retrieval by depth, failed and\n"
      "blocked methods, and integrity checks (runs equal to the baseline, warnings, duplicated\n"
      "parameters, missing metrics). With repeated runs (a 'seed' axis, or --over), each\n"
      "configuration is also ranked by its mean over them, with std, 95% CI and a Welch\n"
      "t-test against the baseline." },
    { "run", 'U', "STORE... RUN_ID [options]",
      "One run in full: status, parameters, metrics by dataset and task, system metrics,\n"
      "environment, and the tail of stderr when it did not succeed. RUN_ID may be a unique\n"
      "prefix." },
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: hypersweep-analyze COMMAND STORE... [options]\n\n"
                 "Reports from a hypersweep store: one store, the shard stores of one sweep, or a\n"
                 "directory of them (its *.h5 files and those in its shards/). A store being\n"
                 "written can be read (SWMR).\n\nCommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(out, "  %-12s %s\n", cmds[i].name, cmds[i].usage);
    fprintf(out, "\n  hypersweep-analyze report sweeps/taylor_pruning/sweep.h5\n"
                 "  hypersweep-analyze leaderboard sweeps/ptq_track_a/ --baseline method=fp16\n"
                 "  hypersweep-analyze run sweeps/ptq_track_a/sweep.h5 727d\n"
                 "\n'hypersweep-analyze COMMAND --help' lists each command's options.\n"
                 "Exit status: 0 done, 2 bad usage or a question the sweep cannot answer (unknown\n"
                 "metric, axis or run), 3 a store cannot be read.\n");
}

static void cmd_usage(const cmd *c, FILE *out)
{
    fprintf(out, "Usage: hypersweep-analyze %s %s\n\n%s\n\nOptions:\n", c->name, c->usage,
            c->summary);
    for (const opt *o = opts; o->name; o++) {
        if (!strchr(o->cmds, c->letter))
            continue;
        char left[64];
        if (o->key < 256)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->key, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        fprintf(out, "  %-28s %s\n", left, o->help);
    }
    fprintf(out, "  %-28s %s\n", "-h, --help", "show this help");
    fprintf(out, "\nDefaults come from the grid's analysis section when the option is not "
                 "given.\nExit status: 0 done, 2 bad usage or a question the sweep cannot "
                 "answer, 3 a store\ncannot be read.\n");
}

static int bad_usage(const cmd *c, const char *fmt, const char *a)
{
    fprintf(stderr, "hypersweep-analyze%s%s: ", c ? " " : "", c ? c->name : "");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\nTry 'hypersweep-analyze%s%s --help'.\n", c ? " " : "", c ? c->name : "");
    return HS_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    if (argc < 2) {
        usage(stderr);
        return HS_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return HS_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("hypersweep-analyze %s\n", HYPERSWEEP_VERSION);
        return HS_EXIT_OK;
    }
    const cmd *c = NULL;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            c = &cmds[i];
    if (!c)
        return bad_usage(NULL, "unknown command '%s' (report, leaderboard or run)", argv[1]);
    argc--;
    argv++;

    struct option longs[32];
    char shorts[32] = ":h";
    size_t nl = 0, ns = 2;
    for (const opt *o = opts; o->name; o++) {
        if (!strchr(o->cmds, c->letter))
            continue;
        longs[nl++] =
            (struct option){ o->name, o->arg ? required_argument : no_argument, NULL, o->key };
        if (o->key < 256) {
            shorts[ns++] = (char)o->key;
            if (o->arg)
                shorts[ns++] = ':';
        }
    }
    longs[nl++] = (struct option){ "help", no_argument, NULL, 'h' };
    longs[nl] = (struct option){ 0, 0, 0, 0 };
    shorts[ns] = '\0';

    hs_analyze_opts ao;
    hs_analyze_opts_init(&ao);
    const char *format = NULL, *output = NULL;
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        switch (ch) {
        case 'h':
            cmd_usage(c, stdout);
            return HS_EXIT_OK;
        case 'f':
            format = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case OPT_TARGET:
            ao.target = optarg;
            break;
        case OPT_LOWER:
            ao.lower_is_better = 1;
            break;
        case OPT_HIGHER:
            ao.lower_is_better = 0;
            break;
        case OPT_BY:
            ao.by = optarg;
            break;
        case OPT_METHOD:
            ao.method_axis = optarg;
            break;
        case OPT_SECONDARY:
            ao.secondary = optarg;
            break;
        case OPT_PARAMS:
            ao.params = optarg;
            break;
        case OPT_DIAG:
            ao.diagnostics = optarg;
            break;
        case OPT_TASKS:
            ao.tasks = optarg;
            break;
        case OPT_AVG:
            ao.avg = optarg;
            break;
        case OPT_DDOF: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 0 || v > 1000)
                return bad_usage(c, "--ddof needs a whole number from 0, not '%s'", optarg);
            ao.ddof = (int)v;
            break;
        }
        case OPT_BASELINE:
            ao.baseline = optarg;
            break;
        case OPT_OVER:
            ao.over = optarg;
            break;
        case ':':
            return bad_usage(c, "option %s needs a value", argv[optind - 1]);
        default:
            return bad_usage(c, "unknown option %s", argv[optind - 1]);
        }
    }
    const char *run_id = NULL;
    const char **stores = calloc((size_t)argc + 1, sizeof *stores);
    size_t nstores = 0;
    if (!stores)
        return HS_EXIT_USAGE;
    for (int i = optind; i < argc; i++) {
        struct stat st;
        /* run: the one argument that names no file is the run id */
        if (c->letter == 'U' && stat(argv[i], &st) < 0 && errno == ENOENT && !run_id &&
            !strchr(argv[i], '/') && !strstr(argv[i], ".h5")) {
            run_id = argv[i];
            continue;
        }
        stores[nstores++] = argv[i];
    }
    int rc = HS_EXIT_OK;
    if (nstores == 0) {
        free(stores);
        return bad_usage(c, "%s", "needs at least one STORE (a file, or a directory of stores)");
    }
    if (c->letter == 'U' && !run_id) {
        free(stores);
        return bad_usage(c, "%s", "needs a RUN_ID (a unique prefix is enough) after the store");
    }
    if (format) {
        int f = hs_format_parse(format);
        if (f < 0) {
            free(stores);
            return bad_usage(c, "unknown format '%s' (text, markdown, json or csv)", format);
        }
        ao.format = (hs_format)f;
    }
    hs_error err;
    hs_sweep *s = hs_sweep_open(stores, nstores, &err);
    free(stores);
    if (!s) {
        fprintf(stderr, "hypersweep-analyze %s: %s\n", c->name, err.text);
        return HS_EXIT_STORE;
    }
    FILE *out = stdout;
    if (output && !(out = fopen(output, "w"))) {
        fprintf(stderr, "hypersweep-analyze %s: cannot write %s: %s\n", c->name, output,
                strerror(errno));
        hs_sweep_destroy(s);
        return HS_EXIT_USAGE;
    }
    if (!format)
        ao.format = isatty(fileno(out)) ? HS_FORMAT_TEXT : HS_FORMAT_MARKDOWN;
    int r = c->letter == 'R'   ? hs_analyze_report(s, &ao, out, &err)
            : c->letter == 'L' ? hs_analyze_leaderboard(s, &ao, out, &err)
                               : hs_analyze_run(s, run_id, &ao, out, &err);
    if (r < 0) {
        fprintf(stderr, "hypersweep-analyze %s: %s\n", c->name, err.text);
        rc = HS_EXIT_USAGE;
    }
    if (output && fclose(out) != 0 && rc == HS_EXIT_OK) {
        fprintf(stderr, "hypersweep-analyze %s: cannot write %s: %s\n", c->name, output,
                strerror(errno));
        rc = HS_EXIT_USAGE;
    }
    hs_sweep_destroy(s);
    return rc;
}
