/* hypersweep preflight: under mpirun, like run. Each worker's GPU runs a checked cuBLAS
 * GEMM, all worker GPUs one NCCL all-reduce; rank 0 prints one table. */
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "log.h"
#include "preflight.h"

enum { OPT_GPUS = 256, OPT_SHARE, OPT_GEMM, OPT_ALLREDUCE };

static const hs_cli_opt preflight_opts[] = {
    { "gpus-per-node", OPT_GPUS, required_argument, "N",
      "GPUs each node offers (default: CUDA_VISIBLE_DEVICES, else discovery)" },
    { "share-gpus", OPT_SHARE, no_argument, NULL, "allow more worker ranks than GPUs on a node" },
    { "gemm-size", OPT_GEMM, required_argument, "N", "square fp32 GEMM size (default 4096)" },
    { "allreduce-mb", OPT_ALLREDUCE, required_argument, "M",
      "all-reduce message size in MiB (default 64)" },
    { NULL, 0, 0, NULL, NULL },
};

static int preflight_main(int argc, char **argv);

const hs_cli_cmd hs_cmd_preflight = {
    .name = "preflight",
    .usage = "[--gpus-per-node N] [--share-gpus] [--gemm-size N] [--allreduce-mb M]",
    .summary = "Check the GPUs and the fabric before a sweep. Run it under mpirun like 'run': "
               "rank 0 is the master,\nevery other rank binds the GPU it would use in the sweep "
               "and runs a cuBLAS GEMM checked\nagainst a CPU reference (TFLOP/s); then all "
               "worker GPUs run one NCCL all-reduce (bus\nbandwidth). Started without mpirun, "
               "it checks this process's own GPU.",
    .details = "Example:\n  mpirun -n 9 hypersweep preflight     one master, eight GPU "
               "workers\n\nExit status: 0 every GPU passed (or there is no GPU: it says so); "
               "1 a GPU or the\nall-reduce failed; 2 bad usage.\n",
    .opts = preflight_opts,
    .main = preflight_main,
};

/* This process's rank as the launcher tells it, before MPI_Init; 0 when not launched. */
static int launcher_rank(void)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                        "SLURM_PROCID" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v);
    }
    return 0;
}

static int parse_count(const char *text, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Parse the options; every rank does, only the first one prints help and usage errors.
 * Returns -1 to go on, or an exit code. */
static int parse(int argc, char **argv, hs_preflight_opts *o)
{
    hs_cli_parser p;
    hs_cli_parser_init(&p, &hs_cmd_preflight);
    int c;
    long v;
    while ((c = hs_cli_next(&p, argc, argv)) != -1) {
        switch (c) {
        case OPT_GPUS:
            if (parse_count(optarg, 0, 1024, &v) < 0)
                return hs_cli_bad_usage(&hs_cmd_preflight,
                                        "--gpus-per-node needs an integer in [0, 1024], not '%s'",
                                        optarg);
            o->gpus_per_node = (int)v;
            break;
        case OPT_SHARE:
            o->share_gpus = true;
            break;
        case OPT_GEMM:
            if (parse_count(optarg, 64, 32768, &v) < 0)
                return hs_cli_bad_usage(&hs_cmd_preflight,
                                        "--gemm-size needs an integer in [64, 32768], not '%s'",
                                        optarg);
            o->gemm_n = (int)v;
            break;
        case OPT_ALLREDUCE:
            if (parse_count(optarg, 1, 16384, &v) < 0)
                return hs_cli_bad_usage(&hs_cmd_preflight,
                                        "--allreduce-mb needs an integer in [1, 16384], not '%s'",
                                        optarg);
            o->allreduce_bytes = (size_t)v << 20;
            break;
        case 'h':
            hs_cli_usage(&hs_cmd_preflight, stdout);
            return HS_EXIT_OK;
        default:
            return HS_EXIT_USAGE;
        }
    }
    if (optind != argc)
        return hs_cli_bad_usage(&hs_cmd_preflight, "takes no arguments, only options");
    return -1;
}

static int preflight_main(int argc, char **argv)
{
    hs_preflight_opts o = { .gpus_per_node = -1 };
    int code;
    if (launcher_rank() != 0) {
        /* the same argv on every rank: one copy of any message is enough */
        int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            close(null);
        }
        code = parse(argc, argv, &o);
        fflush(stdout);
        fflush(stderr);
        if (so >= 0) {
            dup2(so, STDOUT_FILENO);
            close(so);
        }
        if (se >= 0) {
            dup2(se, STDERR_FILENO);
            close(se);
        }
    } else {
        code = parse(argc, argv, &o);
    }
    if (code >= 0)
        return code;

    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "hypersweep preflight: MPI_Init failed\n");
        return HS_EXIT_RUNS_FAILED;
    }
    int rank, nrows = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    hs_log_init(rank);
    hs_preflight_row *rows = NULL;
    hs_error err;
    int rc = hs_preflight_run(MPI_COMM_WORLD, &o, &rows, &nrows, &err);
    if (rc < 0)
        fprintf(stderr, "hypersweep preflight (rank %d): %s\n", rank, err.text);
    /* one verdict for every rank, so that mpirun's own exit status says the same */
    int any_error = rc < 0, worst = 0;
    MPI_Allreduce(&any_error, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) {
        hs_preflight_print(rows, nrows, stdout);
        if (worst)
            printf("preflight: FAILED: some ranks could not take part (their errors are above)\n");
        fflush(stdout);
        code = worst || hs_preflight_failures(rows, nrows) > 0 ? HS_EXIT_RUNS_FAILED : HS_EXIT_OK;
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(rows);
    MPI_Finalize();
    return code;
}
