/* The master (rank 0): schedules the runs of a grid onto executor slots, records every
 * attempt in the store, retries by policy, shows progress, stops cleanly on a signal or
 * before the job's time limit (DESIGN §6, §7).
 *
 * The master does not know how tasks run: an executor (a function table) does. Three exist:
 * MPI workers (hs_mpi_executor_*), the master itself in local mode (hs_local_executor_*),
 * and fakes in the unit tests. */
#ifndef HS_MASTER_H
#define HS_MASTER_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include <mpi.h>

#include "bind.h"
#include "error.h"
#include "grid.h"
#include "result.h"
#include "task.h"

typedef struct hs_executor_ops {
    int (*nslots)(void *ctx);
    /* A slot that can take a task now, or -1. */
    int (*idle_slot)(void *ctx);
    /* The {gpu} text of a slot ("" without a GPU). */
    const char *(*gpu_label)(void *ctx, int slot);
    /* Where a slot runs: host, rank and GPU, recorded with the "running" state. */
    void (*describe)(void *ctx, int slot, hs_result *r);
    int (*start)(void *ctx, int slot, const hs_task *task, hs_error *err);
    /* Wait at most `timeout` seconds. Returns 1 with *slot and *res filled when a task
     * ended, 0 when none did, -1 on a fatal error. */
    int (*poll)(void *ctx, double timeout, int *slot, hs_result *res, hs_error *err);
    /* Ask a slot to stop its task; its result (interrupted) comes through poll. */
    void (*cancel)(void *ctx, int slot, const char *why);
    /* Optional: 1 when the slot's worker is known to be dead (why says which rank, pid and
     * host), so no result will ever come from it; else 0. */
    int (*lost)(void *ctx, int slot, char *why, size_t cap);
} hs_executor_ops;

enum hs_progress_mode { HS_PROGRESS_AUTO = 0, HS_PROGRESS_TTY, HS_PROGRESS_LOG, HS_PROGRESS_NONE };

typedef struct hs_master_opts {
    const char *store_path;
    const char *sweep_dir;
    bool retry_failed;
    const char *const *only; /* run ids or unique prefixes; NULL = all */
    size_t nonly;
    int shard_index, shard_count; /* shard_count 0: the whole sweep */
    bool swmr;
    bool fsync;
    int progress;
    double progress_interval; /* seconds between log lines when not on a TTY (30) */
    FILE *out;                /* the summary; progress goes to stderr */
    /* walltime: end of the allocation (epoch seconds, 0: none), safety margin in seconds,
     * and the axes whose finished runs estimate a run's duration */
    double end_time;
    double margin;
    const char *const *estimate_by;
    size_t nestimate_by;
    volatile sig_atomic_t *stop; /* set by a signal handler: stop cleanly */
    const char *resume_command;  /* printed when the sweep stops before its end (or NULL) */
} hs_master_opts;

typedef struct hs_master_summary {
    size_t total;              /* runs in scope (grid or shard) */
    size_t already_ok;         /* ok before this invocation */
    size_t executed;           /* attempts started now */
    size_t recovered;          /* finished before, never committed: recovered from run dirs */
    size_t counts[HS_NSTATUS]; /* final state of the runs in scope */
    size_t held_back;          /* not started: they could not finish before the time limit */
    bool interrupted;          /* stopped by a signal or the time limit */
    bool store_failed;
    int exit_code; /* HS_EXIT_* */
} hs_master_summary;

/* Run the sweep. Returns 0 when the master did its job (the outcome, including failed
 * runs, is in sum->exit_code), -1 on an error that stopped it (err; sum->exit_code says
 * which: bad usage 2, store 3). */
int hs_master_run(const hs_grid *g, const hs_master_opts *opts, const hs_executor_ops *ops,
                  void *ctx, hs_master_summary *sum, hs_error *err);

/* Recreate the store (opts->store_path, which must not exist unless force: then it is set
 * aside, renamed, never deleted) from the grid and the run directories alone: every run whose
 * directory holds a finished record (attempt.json) is recorded as the master would have
 * recorded it; the others stay pending. Refuses a sweep directory of another sweep. Prints
 * what it recovered and what it could not to opts->out. */
int hs_master_rebuild(const hs_grid *g, const hs_master_opts *opts, bool force,
                      hs_master_summary *sum, hs_error *err);

/* Print what `run` would do with the store as it is, without running or writing. */
int hs_master_dry_run(const hs_grid *g, const hs_master_opts *opts, hs_error *err);

/* ---- executors ----------------------------------------------------------------------- */

/* Local mode: the calling process runs the tasks itself, one at a time. */
typedef struct hs_local_executor hs_local_executor;
hs_local_executor *hs_local_executor_create(const hs_binding *binding, const char *self_exe,
                                            hs_error *err);
void hs_local_executor_destroy(hs_local_executor *e);
extern const hs_executor_ops hs_local_executor_ops;

/* MPI: rank 0 of comm is the master, every other rank a worker running hs_worker_main.
 * create waits for every worker's hello; a worker that cannot work (GPU binding conflict)
 * makes it fail with that worker's message, after telling all workers to stop. */
typedef struct hs_mpi_executor hs_mpi_executor;
hs_mpi_executor *hs_mpi_executor_create(MPI_Comm comm, hs_error *err);
/* Tells every worker to stop, then frees. Returns how many workers are gone (died, or
 * could not be told within 10 s): MPI_Finalize would wait for them forever. */
int hs_mpi_executor_destroy(hs_mpi_executor *e);
/* Leave a worker out of the sweep (its GPU failed the preflight). Returns the number of
 * workers still in. */
int hs_mpi_executor_exclude(hs_mpi_executor *e, int rank, const char *why);
extern const hs_executor_ops hs_mpi_executor_ops;
/* Without an executor (e.g. the grid failed to load): tell every worker of comm to stop. */
void hs_mpi_stop_workers(MPI_Comm comm, const char *why);

#endif
