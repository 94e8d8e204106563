/* hypersweep: run hyperparameter sweeps of GPU experiments on clusters. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "log.h"

static const hs_cli_cmd *const commands[] = {
    &hs_cmd_run,
    &hs_cmd_expand,
    &hs_cmd_status,
    &hs_cmd_export,
    &hs_cmd_merge,
    &hs_cmd_preflight,
    &hs_cmd_probe,
    &hs_cmd_rebuild,
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: hypersweep COMMAND [options]\n\n"
            "Run hyperparameter sweeps of GPU experiments: rank 0 expands a grid file and "
            "hands its runs to\nworker ranks (one per GPU); results land in one HDF5 store.\n\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->usage);
    fprintf(out, "\n  mpirun -n 9 hypersweep run grids/x.cfg    one master and eight GPU workers\n"
                 "  hypersweep expand grids/x.cfg --count     how many runs a grid means\n"
                 "\n'hypersweep COMMAND --help' describes each command. The report comes from "
                 "hypersweep-analyze.\nExit status: 0 all runs ok, 1 some runs failed, 2 bad "
                 "usage or grid, 3 store error,\n4 interrupted (resumable).\n");
}

int main(int argc, char **argv)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    hs_log_init(-1);
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
        printf("hypersweep %s\n", HYPERSWEEP_VERSION);
        return HS_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i]->name) == 0)
            return commands[i]->main(argc - 1, argv + 1);
    fprintf(stderr, "hypersweep: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return HS_EXIT_USAGE;
}
