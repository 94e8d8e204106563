/* hypersweep merge: shard stores (one per Slurm array task) into one store. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "merge.h"

enum { OPT_VIRTUAL = 256, OPT_FORCE };

static const hs_cli_opt merge_opts[] = {
    { "output", 'o', required_argument, "STORE", "the merged store (required)" },
    { "virtual", OPT_VIRTUAL, no_argument, NULL,
      "write a file of HDF5 virtual datasets over the shards instead of a copy" },
    { "force", OPT_FORCE, no_argument, NULL, "replace an existing output" },
    { NULL, 0, 0, NULL, NULL },
};

static int merge_main(int argc, char **argv);

const hs_cli_cmd hs_cmd_merge = {
    .name = "merge",
    .usage = "SHARD.h5... -o STORE [--virtual] [--force]",
    .summary = "Merge the shard stores of one sweep (written by `run --shard I/N`, e.g. one per "
               "Slurm array task)\ninto one store. Shards of different sweeps are refused. When "
               "two shards hold the same cell,\nan ok row beats any other and the later one wins; "
               "each case is reported. Cells that no shard\ncommitted are listed. The result is a "
               "normal store: resume it with `run --store STORE`.\n--virtual instead writes a "
               "small file of HDF5 virtual datasets that reads through to the\nshards (they must "
               "then stay in place; it is read-only).",
    .details = "Exit status: 0 when every cell is committed, 1 when some are not, 2 bad usage, "
               "3 store error.\n",
    .opts = merge_opts,
    .main = merge_main,
};

static int merge_main(int argc, char **argv)
{
    const char *out = NULL;
    hs_merge_opts mo = { .report = stdout };
    hs_cli_parser p;
    hs_cli_parser_init(&p, &hs_cmd_merge);
    int c;
    while ((c = hs_cli_next(&p, argc, argv)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case OPT_VIRTUAL:
            mo.virtual_ds = true;
            break;
        case OPT_FORCE:
            mo.force = true;
            break;
        case 'h':
            hs_cli_usage(&hs_cmd_merge, stdout);
            return HS_EXIT_OK;
        default:
            return HS_EXIT_USAGE;
        }
    }
    if (!out)
        return hs_cli_bad_usage(&hs_cmd_merge, "needs -o STORE");
    if (optind >= argc)
        return hs_cli_bad_usage(&hs_cmd_merge, "needs at least one shard store");
    hs_merge_summary sum;
    hs_error err;
    if (hs_store_merge((const char *const *)argv + optind, (size_t)(argc - optind), out, &mo, &sum,
                       &err) < 0) {
        fprintf(stderr, "hypersweep merge: %s\n", err.text);
        return strstr(err.text, "refusing to mix") || strstr(err.text, "exists:") ||
                       strstr(err.text, "is also one of")
                   ? HS_EXIT_USAGE
                   : HS_EXIT_STORE;
    }
    if (mo.virtual_ds) {
        printf("merged %zu shards into %s (virtual)\n", sum.shards, out);
        return HS_EXIT_OK;
    }
    printf("merged %zu shards into %s: %zu cells, %zu committed (%zu ok), %zu held by more than "
           "one shard, %zu not committed%s\n",
           sum.shards, out, sum.cells, sum.committed, sum.ok, sum.duplicates, sum.missing,
           sum.dropped ? "" : "");
    if (sum.dropped)
        printf("%zu rows of runs that the grid no longer has were left out\n", sum.dropped);
    return sum.missing ? HS_EXIT_RUNS_FAILED : HS_EXIT_OK;
}
