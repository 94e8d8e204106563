/* hypersweep run: rank 0 is the master, every other rank a worker; one rank alone runs the
 * runs itself (local mode). MPI is initialised only when an MPI launcher started us. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "bind.h"
#include "buf.h"
#include "cli.h"
#include "error.h"
#include "grid.h"
#include "log.h"
#include "master.h"
#include "preflight.h"
#include "util.h"
#include "worker.h"

enum {
    OPT_RETRY = 256,
    OPT_ONLY,
    OPT_DRY,
    OPT_GPN,
    OPT_SHARE,
    OPT_SHARD,
    OPT_MAXRUNS,
    OPT_PROGRESS,
    OPT_FSYNC,
    OPT_END,
    OPT_MARGIN,
    OPT_ESTIMATE,
    OPT_PREFLIGHT,
};

static const hs_cli_opt run_opts[] = {
    { "store", 's', required_argument, "PATH", "the HDF5 store (default: DIR/sweep.h5)" },
    { "dir", 'd', required_argument, "DIR",
      "sweep directory, runs in DIR/runs/ID (default: sweeps/NAME)" },
    { "retry-failed", OPT_RETRY, no_argument, NULL,
      "run failed runs again (they are skipped otherwise)" },
    { "only", OPT_ONLY, required_argument, "IDS",
      "run only these run ids (comma-separated, prefixes allowed)" },
    { "dry-run", OPT_DRY, no_argument, NULL, "show what would run, given the store; run nothing" },
    { "gpus-per-node", OPT_GPN, required_argument, "N",
      "assume N GPUs per node instead of discovering them" },
    { "share-gpus", OPT_SHARE, no_argument, NULL,
      "allow more workers than GPUs on a node (round-robin)" },
    { "shard", OPT_SHARD, required_argument, "I/N",
      "run the runs whose index %% N == I, into a shard store" },
    { "max-runs", OPT_MAXRUNS, required_argument, "N",
      "refuse grids of more runs (default 1000000)" },
    { "progress", OPT_PROGRESS, required_argument, "MODE", "auto (default), tty, log or none" },
    { "fsync", OPT_FSYNC, no_argument, NULL, "fsync the store after each commit" },
    { "end-time", OPT_END, required_argument, "T",
      "the allocation ends at T (epoch seconds, or +SECONDS); default: from Slurm" },
    { "margin", OPT_MARGIN, required_argument, "S",
      "stop this many seconds before the end (default 120)" },
    { "estimate-by", OPT_ESTIMATE, required_argument, "AXES",
      "axes whose finished runs estimate durations (default: model,method)" },
    { "preflight", OPT_PREFLIGHT, no_argument, NULL,
      "check every GPU first and leave failing ones out" },
    { NULL, 0, 0, NULL, NULL },
};

static int run_main(int argc, char **argv);

const hs_cli_cmd hs_cmd_run = {
    .name = "run",
    .usage = "GRID [--store PATH] [--dir DIR] [--retry-failed] [--only ID,...] [--dry-run]",
    .summary = "Run the sweep a grid defines. Under mpirun rank 0 is the master and every other "
               "rank a worker\nwith its own GPU; started alone it runs the runs itself. Running "
               "it again on the same\nstore resumes: ok runs are skipped, interrupted ones run "
               "again, new cells of a grown grid run.",
    .details = "Examples:\n"
               "  mpirun -n 9 hypersweep run grids/taylor_pruning.cfg    1 master + 8 GPU workers\n"
               "  hypersweep run grids/demo.cfg --dry-run\n"
               "  hypersweep run grids/x.cfg --shard 3/16                one Slurm array task\n"
               "\nSIGINT, SIGTERM and SIGUSR1 stop it cleanly (exit 4); run again to resume.\n"
               "Exit status: 0 all runs ok, 1 some failed, 2 bad usage or grid, 3 store error,\n"
               "4 interrupted or held back by the time limit.\n",
    .opts = run_opts,
    .main = run_main,
};

static volatile sig_atomic_t stop_flag;
/* workers died or cannot be reached: MPI_Finalize would wait for them forever */
static bool peers_gone;
/* a SIGUSR1 that came before the rank knew whether it is the master */
static volatile sig_atomic_t early_usr1;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_early_signal(int sig)
{
    if (sig == SIGUSR1)
        early_usr1 = 1;
    else
        stop_flag = 1;
}

/* From the start of `run`, before MPI_Init (seconds on a loaded node): without a handler, a
 * SIGINT or SIGTERM, or the SIGUSR1 that mpirun forwards to every rank, killed a rank that
 * was still starting (and mpirun the job) instead of stopping the sweep cleanly. A signal
 * is kept until the rank knows its role; install_signals then acts on it. */
static void install_early_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_early_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

static void install_signals(bool master)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (master) {
        sigaction(SIGUSR1, &sa, NULL);
        /* a file size limit must be an error to report, not a silent death */
        signal(SIGXFSZ, SIG_IGN);
    } else {
        /* the master coordinates a time-limit warning */
        signal(SIGUSR1, SIG_IGN);
    }
    signal(SIGPIPE, SIG_IGN);
    if (master && early_usr1)
        stop_flag = 1;
}

/* Under an MPI launcher, a rank dies with the process that started it (mpirun, orted or
 * slurmstepd): Open MPI gives each rank its own process group, so killing mpirun's group
 * leaves the ranks, and the runs under them, going until they notice, a second or more
 * later. With the rank gone at once, the supervisor of each of its runs kills the run's
 * group at once too (see hypersweep-supervise). Nothing is lost: a run's record is in its
 * run directory before the master hears of it, and resume recovers it. */
static void die_with_launcher(void)
{
    pid_t launcher = getppid();
    if (launcher <= 1)
        return;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != launcher) /* it died before the line above */
        raise(SIGKILL);
}

static bool launched_by_mpi(void)
{
    const char *vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                           "MPI_LOCALNRANKS" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

/* The end of the Slurm allocation: SLURM_JOB_END_TIME, else squeue. 0 if unknown. */
static double slurm_end_time(void)
{
    const char *e = getenv("SLURM_JOB_END_TIME");
    if (e && atof(e) > 0)
        return atof(e);
    const char *job = getenv("SLURM_JOB_ID");
    if (!job)
        return 0;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "squeue -h -j '%s' -o %%e 2>/dev/null", job);
    for (const char *p = job; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    FILE *f = popen(cmd, "r");
    if (!f)
        return 0;
    char line[128] = "";
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    pclose(f);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!strptime(line, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    tm.tm_isdst = -1;
    return (double)mktime(&tm);
}

static int split_list(char *s, const char ***out, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    const char **v = calloc(cap, sizeof *v);
    if (!v)
        return -1;
    size_t k = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (*t)
            v[k++] = t;
    *out = v;
    *n = k;
    return 0;
}

struct run_args {
    const char *grid, *store, *dir;
    bool retry_failed, dry_run, share_gpus, fsync, preflight;
    char *only_text, *estimate_text;
    int gpus_per_node, shard_index, shard_count, progress;
    size_t max_runs;
    double end_time, margin;
    char *resume; /* the command that resumes, for the summary */
};

static int parse_args(int argc, char **argv, struct run_args *a, bool quiet)
{
    memset(a, 0, sizeof *a);
    a->gpus_per_node = -1;
    a->margin = 120;
    a->end_time = -1;
    hs_cli_parser p;
    hs_cli_parser_init(&p, &hs_cmd_run);
    if (quiet)
        opterr = 0;
    FILE *devnull = quiet ? fopen("/dev/null", "w") : NULL;
    FILE *saved = stderr;
    if (devnull)
        stderr = devnull;
    int c, rc = 0;
    while (rc == 0 && (c = hs_cli_next(&p, argc, argv)) != -1) {
        char *end;
        switch (c) {
        case 's':
            a->store = optarg;
            break;
        case 'd':
            a->dir = optarg;
            break;
        case OPT_RETRY:
            a->retry_failed = true;
            break;
        case OPT_ONLY:
            a->only_text = optarg;
            break;
        case OPT_DRY:
            a->dry_run = true;
            break;
        case OPT_SHARE:
            a->share_gpus = true;
            break;
        case OPT_FSYNC:
            a->fsync = true;
            break;
        case OPT_PREFLIGHT:
            a->preflight = true;
            break;
        case OPT_ESTIMATE:
            a->estimate_text = optarg;
            break;
        case OPT_GPN:
            a->gpus_per_node = (int)strtol(optarg, &end, 10);
            if (*end || a->gpus_per_node < 0)
                rc = hs_cli_bad_usage(&hs_cmd_run, "--gpus-per-node needs a number >= 0");
            break;
        case OPT_SHARD:
            if (sscanf(optarg, "%d/%d", &a->shard_index, &a->shard_count) != 2 ||
                a->shard_count < 1 || a->shard_index < 0 || a->shard_index >= a->shard_count)
                rc = hs_cli_bad_usage(&hs_cmd_run, "--shard needs I/N with 0 <= I < N, not '%s'",
                                      optarg);
            break;
        case OPT_MAXRUNS:
            a->max_runs = (size_t)strtoull(optarg, &end, 10);
            if (*end || a->max_runs == 0)
                rc = hs_cli_bad_usage(&hs_cmd_run, "--max-runs needs a positive integer");
            break;
        case OPT_PROGRESS:
            if (strcmp(optarg, "auto") == 0)
                a->progress = HS_PROGRESS_AUTO;
            else if (strcmp(optarg, "tty") == 0)
                a->progress = HS_PROGRESS_TTY;
            else if (strcmp(optarg, "log") == 0)
                a->progress = HS_PROGRESS_LOG;
            else if (strcmp(optarg, "none") == 0)
                a->progress = HS_PROGRESS_NONE;
            else
                rc = hs_cli_bad_usage(&hs_cmd_run, "--progress is auto, tty, log or none");
            break;
        case OPT_END:
            if (optarg[0] == '+')
                a->end_time = hs_now() + strtod(optarg + 1, &end);
            else
                a->end_time = strtod(optarg, &end);
            if (*end || !(a->end_time > 0))
                rc = hs_cli_bad_usage(&hs_cmd_run, "--end-time needs epoch seconds or +SECONDS");
            break;
        case OPT_MARGIN:
            a->margin = strtod(optarg, &end);
            if (*end || a->margin < 0)
                rc = hs_cli_bad_usage(&hs_cmd_run, "--margin needs seconds >= 0");
            break;
        case 'h':
            if (!quiet)
                hs_cli_usage(&hs_cmd_run, stdout);
            rc = -1;
            break;
        default:
            rc = HS_EXIT_USAGE;
            break;
        }
    }
    if (rc == 0 && optind + 1 != argc)
        rc = hs_cli_bad_usage(&hs_cmd_run, "expects exactly one GRID file");
    if (rc == 0)
        a->grid = argv[optind];
    stderr = saved;
    if (devnull)
        fclose(devnull);
    return rc;
}

struct preflight_outcome {
    const hs_preflight_row *rows;
    int nrows;
};

/* The command that resumes this sweep: the same hypersweep arguments, under mpirun with as
 * many ranks when there were several. */
static char *resume_command(int size, const char *self_exe, int argc, char **argv)
{
    hs_buf b = { 0 };
    if (size > 1)
        hs_buf_printf(&b, "mpirun -n %d ", size);
    hs_buf_put_shell_word(&b, self_exe);
    for (int i = 0; i < argc; i++) {
        hs_buf_putc(&b, ' ');
        hs_buf_put_shell_word(&b, argv[i]);
    }
    if (size > 1)
        hs_buf_puts(&b, "    (with your other mpirun options)");
    char *s = b.data ? strdup(hs_buf_str(&b)) : NULL;
    hs_buf_free(&b);
    return s;
}

static int master_main(MPI_Comm comm, int size, struct run_args *a, const char *self_exe,
                       int local_rank, const struct preflight_outcome *pf)
{
    hs_error err;
    hs_grid_opts gopts = { .max_runs = a->max_runs };
    hs_grid *g = hs_grid_load(a->grid, &gopts, &err);
    if (!g) {
        fprintf(stderr, "%s\n", err.text);
        if (size > 1)
            hs_mpi_stop_workers(comm, "bad grid");
        return HS_EXIT_USAGE;
    }
    fputs(hs_grid_warnings(g), stderr);
    char *dir, *store;
    hs_cli_sweep_paths(hs_grid_name(g), a->dir, a->store, a->shard_index, a->shard_count, &dir,
                       &store);

    const char **only = NULL, **estimate = NULL;
    size_t nonly = 0, nestimate = 0;
    if (a->only_text)
        split_list(a->only_text, &only, &nonly);
    if (a->estimate_text) {
        split_list(a->estimate_text, &estimate, &nestimate);
    } else {
        static const char *def[2];
        for (size_t k = 0; k < hs_grid_nparams(g); k++) {
            const char *n = hs_grid_param(g, k)->name;
            if (strcmp(n, "model") == 0 || strcmp(n, "method") == 0)
                def[nestimate++] = n;
        }
        estimate = def;
    }
    for (size_t i = 0; i < nestimate; i++) {
        bool known = false;
        for (size_t k = 0; k < hs_grid_nparams(g); k++)
            known |= strcmp(hs_grid_param(g, k)->name, estimate[i]) == 0;
        if (!known) {
            fprintf(stderr, "hypersweep run: --estimate-by names '%s', which is not a parameter\n",
                    estimate[i]);
            if (size > 1)
                hs_mpi_stop_workers(comm, "bad arguments");
            hs_grid_destroy(g);
            return HS_EXIT_USAGE;
        }
    }
    double end_time = a->end_time > 0 ? a->end_time : slurm_end_time();
    hs_master_opts mo = {
        .store_path = store,
        .sweep_dir = dir,
        .retry_failed = a->retry_failed,
        .only = only,
        .nonly = nonly,
        .shard_index = a->shard_index,
        .shard_count = a->shard_count,
        .swmr = a->shard_count == 0,
        .fsync = a->fsync,
        .progress = a->progress,
        .out = stdout,
        .end_time = end_time,
        .margin = a->margin,
        .estimate_by = estimate,
        .nestimate_by = nestimate,
        .stop = &stop_flag,
        .resume_command = a->resume,
    };
    int code;
    if (a->dry_run) {
        code = hs_master_dry_run(g, &mo, &err) < 0 ? HS_EXIT_USAGE : HS_EXIT_OK;
        if (code)
            fprintf(stderr, "hypersweep run: %s\n", err.text);
        if (size > 1)
            hs_mpi_stop_workers(comm, "dry run");
        goto out;
    }
    if (end_time > 0)
        fprintf(stderr,
                "hypersweep: the allocation ends in %.0f s; runs that cannot finish "
                "%.0f s before it are held back\n",
                end_time - hs_now(), a->margin);
    hs_master_summary sum;
    if (size > 1) {
        hs_mpi_executor *ex = hs_mpi_executor_create(comm, &err);
        if (!ex) {
            fprintf(stderr, "hypersweep run: %s\n", err.text);
            code = HS_EXIT_USAGE;
            goto out;
        }
        int in = size - 1;
        for (int i = 0; pf && i < pf->nrows; i++)
            if (!pf->rows[i].ok)
                in = hs_mpi_executor_exclude(ex, pf->rows[i].rank, pf->rows[i].message);
        if (in == 0) {
            fprintf(stderr, "hypersweep run: every worker failed its preflight: nothing to run "
                            "on\n");
            hs_mpi_executor_destroy(ex);
            code = HS_EXIT_USAGE;
            goto out;
        }
        if (in < size - 1)
            fprintf(stderr, "hypersweep: %d of %d workers failed the preflight and are left "
                            "out of the sweep\n",
                    size - 1 - in, size - 1);
        if (hs_master_run(g, &mo, &hs_mpi_executor_ops, ex, &sum, &err) < 0)
            fprintf(stderr, "hypersweep run: %s\n", err.text);
        peers_gone = hs_mpi_executor_destroy(ex) > 0;
    } else {
        if (pf && pf->nrows > 0 && !pf->rows[0].ok) {
            fprintf(stderr, "hypersweep run: the GPU failed its preflight (%s): nothing to run "
                            "on\n",
                    pf->rows[0].message);
            code = HS_EXIT_USAGE;
            goto out;
        }
        hs_binding b;
        if (hs_gpu_bind(local_rank < 0 ? 0 : local_rank, 1, a->gpus_per_node, a->share_gpus, &b,
                        &err) < 0) {
            fprintf(stderr, "hypersweep run: %s\n", err.text);
            code = HS_EXIT_USAGE;
            goto out;
        }
        hs_local_executor *ex = hs_local_executor_create(&b, self_exe, &err);
        if (!ex || hs_master_run(g, &mo, &hs_local_executor_ops, ex, &sum, &err) < 0)
            fprintf(stderr, "hypersweep run: %s\n", err.text);
        hs_local_executor_destroy(ex);
    }
    code = sum.exit_code;
out:
    free(only);
    if (a->estimate_text)
        free(estimate);
    free(dir);
    free(store);
    hs_grid_destroy(g);
    return code;
}

static int run_main(int argc, char **argv)
{
    install_early_signals();
    char self_exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    self_exe[n > 0 ? n : 0] = '\0';
    /* --preflight is collective, so it needs MPI even for one process */
    bool want_preflight = false;
    for (int i = 1; i < argc; i++)
        want_preflight |= strcmp(argv[i], "--preflight") == 0;
    bool mpi = launched_by_mpi() || want_preflight;
    int rank = 0, size = 1;
    MPI_Comm comm = MPI_COMM_NULL;
    if (mpi) {
        if (launched_by_mpi())
            die_with_launcher();
        int provided;
        MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        MPI_Comm_dup(MPI_COMM_WORLD, &comm);
        MPI_Comm_set_name(comm, "hypersweep");
    }
    hs_log_init(mpi ? rank : -1);
    struct run_args a;
    int rc = parse_args(argc, argv, &a, rank != 0);
    if (rc != 0) {
        if (mpi) {
            MPI_Comm_free(&comm);
            MPI_Finalize();
        }
        return rc < 0 ? HS_EXIT_OK : rc;
    }
    install_signals(rank == 0);
    int local_rank = 0, local_workers = 1;
    hs_error err;
    if (mpi && size > 1 && hs_worker_locality(comm, &local_rank, &local_workers, &err) < 0) {
        fprintf(stderr, "hypersweep run: %s\n", err.text);
        MPI_Abort(MPI_COMM_WORLD, HS_EXIT_USAGE);
    }
    hs_preflight_row *rows = NULL;
    struct preflight_outcome pf = { NULL, 0 };
    if (a.preflight) {
        hs_preflight_opts po = { .gpus_per_node = a.gpus_per_node, .share_gpus = a.share_gpus };
        if (hs_preflight_run(comm, &po, &rows, &pf.nrows, &err) < 0) {
            fprintf(stderr, "hypersweep run: preflight: %s\n", err.text);
            MPI_Abort(MPI_COMM_WORLD, HS_EXIT_USAGE);
        }
        pf.rows = rows;
        if (rank == 0)
            hs_preflight_print(rows, pf.nrows, stderr);
    }
    int code;
    if (rank == 0) {
        a.resume = getenv("SLURM_JOB_ID") ? NULL : resume_command(size, self_exe, argc, argv);
        code = master_main(comm, size, &a, self_exe, 0, a.preflight ? &pf : NULL);
    } else {
        hs_worker_opts wo = { .gpus_per_node = a.gpus_per_node,
                              .share_gpus = a.share_gpus,
                              .self_exe = self_exe,
                              .local_rank = local_rank,
                              .local_workers = local_workers };
        code = HS_EXIT_OK;
        if (hs_worker_main(comm, &wo, &stop_flag, &err) < 0) {
            fprintf(stderr, "hypersweep worker %d: %s\n", rank, err.text);
            code = HS_EXIT_USAGE;
        }
    }
    free(rows);
    free(a.resume);
    if (mpi && peers_gone) {
        /* the store is closed and the summary written: leave without waiting for the dead */
        fprintf(stderr, "hypersweep: leaving without MPI_Finalize: some workers are gone\n");
        fflush(NULL);
        return code;
    }
    if (mpi) {
        MPI_Comm_free(&comm);
        MPI_Finalize();
    }
    return code;
}
