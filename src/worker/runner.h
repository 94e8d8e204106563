/* The runner: one attempt of one task, in a child process (DESIGN §5). No shell: argv is
 * executed as given (posix_spawn, its own process group). stdout and stderr go through pipes
 * into RUN_DIR/stdout.log and stderr.log, each capped (head and tail kept). A timeout, or a
 * cancel, sends SIGTERM to the whole process group and SIGKILL after the grace period.
 * Probe tasks run `hypersweep probe NAME` the same way, so a crash never takes the caller
 * down. The caller polls; nothing here blocks for long, so an MPI rank stays responsive. */
#ifndef HS_RUNNER_H
#define HS_RUNNER_H

#include "bind.h"
#include "error.h"
#include "result.h"
#include "task.h"

typedef struct hs_runner hs_runner;

typedef struct hs_runner_ctx {
    const hs_binding *binding; /* this worker's GPU; NULL or has_gpu = false: none */
    int rank;
    const char *host;
    const char *self_exe;      /* the hypersweep binary, for probe runs */
    double telemetry_interval; /* seconds between GPU samples (default 0.5) */
} hs_runner_ctx;

/* Prepare the run directory, write the task's files and start the child. A task that cannot
 * start (missing program, missing workdir) gives a runner that is already finished with that
 * failure, so callers have one path. NULL (err set) only when the run directory itself
 * cannot be made. */
hs_runner *hs_runner_start(const hs_task *task, const hs_runner_ctx *ctx, hs_error *err);

/* Wait at most `timeout` seconds for progress: copy output to the logs, enforce the time
 * limit. Returns 1 once the attempt is over, else 0. */
int hs_runner_poll(hs_runner *r, double timeout);

/* Interrupt: the attempt ends as `interrupted` (it will run again on resume). Returns at
 * once; keep polling until hs_runner_poll returns 1. */
void hs_runner_cancel(hs_runner *r, const char *why);

/* Process id of the child (for tests), or -1. */
long hs_runner_pid(const hs_runner *r);

/* Fill res with the outcome (status, failure class, metrics from the result files, rusage,
 * GPU telemetry, git state, stderr tail), run the cleanup, write RUN_DIR/attempt.json, and
 * free r. res must be initialised. */
int hs_runner_finish(hs_runner *r, hs_result *res, hs_error *err);

/* Run a task to completion (poll loop); for local mode and tests. */
int hs_runner_run(const hs_task *task, const hs_runner_ctx *ctx, hs_result *res, hs_error *err);

/* Failure class of a non-zero exit, from the stderr tail (oom, nccl, import, cuda,
 * bad_args, exception, nonzero_exit). */
const char *hs_classify_failure(int exit_code, const char *stderr_tail, int is_probe);

#endif
