/* hypersweep rebuild: recreate a lost or ruined store from the grid and the run directories. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "grid.h"
#include "master.h"

enum { OPT_SHARD = 256, OPT_FORCE, OPT_MAXRUNS };

static const hs_cli_opt rebuild_opts[] = {
    { "store", 's', required_argument, "PATH", "the store to create (default: DIR/sweep.h5)" },
    { "dir", 'd', required_argument, "DIR",
      "sweep directory whose runs/ABCD... are read (default: sweeps/NAME)" },
    { "shard", OPT_SHARD, required_argument, "I/N",
      "rebuild the shard store of array task I of N (default path as `run --shard`)" },
    { "max-runs", OPT_MAXRUNS, required_argument, "N",
      "refuse grids of more runs (default 1000000)" },
    { "force", OPT_FORCE, no_argument, NULL,
      "the store exists but is beyond repair: rename it to STORE.damaged-TIME first" },
    { NULL, 0, 0, NULL, NULL },
};

static int rebuild_main(int argc, char **argv);

const hs_cli_cmd hs_cmd_rebuild = {
    .name = "rebuild",
    .usage = "GRID [--dir DIR] [--store PATH] [--shard I/N] [--force]",
    .summary = "Recreate a sweep's store from the grid and the run directories alone, for a "
               "store that was\ndeleted or is damaged beyond repair. Every run directory holds "
               "the record of its last\nfinished attempt (attempt.json, written before the "
               "master hears of it); each is recorded\nas the master would have recorded it. "
               "Runs with no finished record stay pending.",
    .details = "It says how many runs it recovered and how many it could not, and refuses a "
               "sweep directory\nthat belongs to another sweep. Then `hypersweep run GRID` "
               "resumes as usual.\n\n"
               "Examples:\n"
               "  hypersweep rebuild grids/taylor_pruning.cfg\n"
               "  hypersweep rebuild grids/x.cfg --dir /scratch/sweeps/x --force\n"
               "\nExit status: 0 rebuilt, 2 bad usage, grid or directory, 3 store error.\n",
    .opts = rebuild_opts,
    .main = rebuild_main,
};

static int rebuild_main(int argc, char **argv)
{
    const char *dir_opt = NULL, *store_opt = NULL;
    int shard_index = 0, shard_count = 0, c;
    bool force = false;
    size_t max_runs = 0;
    hs_cli_parser p;
    hs_cli_parser_init(&p, &hs_cmd_rebuild);
    while ((c = hs_cli_next(&p, argc, argv)) != -1) {
        char *end;
        switch (c) {
        case 's':
            store_opt = optarg;
            break;
        case 'd':
            dir_opt = optarg;
            break;
        case OPT_FORCE:
            force = true;
            break;
        case OPT_SHARD:
            if (sscanf(optarg, "%d/%d", &shard_index, &shard_count) != 2 || shard_count < 1 ||
                shard_index < 0 || shard_index >= shard_count)
                return hs_cli_bad_usage(&hs_cmd_rebuild,
                                        "--shard needs I/N with 0 <= I < N, not '%s'", optarg);
            break;
        case OPT_MAXRUNS:
            max_runs = (size_t)strtoull(optarg, &end, 10);
            if (*end || max_runs == 0)
                return hs_cli_bad_usage(&hs_cmd_rebuild, "--max-runs needs a positive integer");
            break;
        case 'h':
            hs_cli_usage(&hs_cmd_rebuild, stdout);
            return HS_EXIT_OK;
        default:
            return HS_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc)
        return hs_cli_bad_usage(&hs_cmd_rebuild, "expects exactly one GRID file");
    hs_error err;
    hs_grid_opts gopts = { .max_runs = max_runs };
    hs_grid *g = hs_grid_load(argv[optind], &gopts, &err);
    if (!g) {
        fprintf(stderr, "%s\n", err.text);
        return HS_EXIT_USAGE;
    }
    char *dir, *store;
    if (hs_cli_sweep_paths(hs_grid_name(g), dir_opt, store_opt, shard_index, shard_count, &dir,
                           &store) < 0) {
        fprintf(stderr, "hypersweep rebuild: out of memory\n");
        hs_grid_destroy(g);
        return HS_EXIT_STORE;
    }
    static volatile sig_atomic_t never;
    hs_master_opts mo = {
        .store_path = store,
        .sweep_dir = dir,
        .shard_index = shard_index,
        .shard_count = shard_count,
        .out = stdout,
        .stop = &never,
    };
    hs_master_summary sum;
    if (hs_master_rebuild(g, &mo, force, &sum, &err) < 0)
        fprintf(stderr, "hypersweep rebuild: %s\n", err.text);
    free(dir);
    free(store);
    hs_grid_destroy(g);
    return sum.exit_code;
}
