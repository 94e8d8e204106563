/* A task is one attempt of one run, fully rendered: everything a worker needs to execute it
 * and turn its output into a result, with no knowledge of grids. The master renders tasks
 * (hs_task_render), the protocol carries them, the runner executes them. */
#ifndef HS_TASK_H
#define HS_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "grid.h"

typedef struct hs_task {
    char run_id[HS_RUN_ID_LEN + 1];
    uint64_t index;
    int32_t attempt; /* 1-based */
    int32_t runner;  /* hs_runner_kind */
    char *probe;     /* probe runs */
    char *device;
    /* every array below is NULL-terminated besides its count (argv must be) */
    char **argv; /* exec runs: the command (a shell run is /bin/sh -c TEXT) */
    uint32_t argc;
    char **env; /* "NAME=value": hypersweep's variables, parameters, run.env */
    uint32_t nenv;
    char *workdir;
    char *run_dir;
    char **results; /* glob patterns, absolute */
    uint32_t nresults;
    char **cleanup; /* glob patterns inside run_dir */
    uint32_t ncleanup;
    char **file_paths; /* files written before the run starts */
    char **file_texts;
    uint32_t nfiles;
    double timeout;
    double grace;
    int64_t log_limit;
    int64_t max_result_size; /* bytes; a larger result file is not read (0: the default) */
    int32_t gpus;
    /* how result files become metrics */
    char **rename_to;
    char **rename_from;
    uint32_t nrenames;
    char **required;
    uint32_t nrequired;
    int32_t keep_all;
    int32_t on_warnings; /* hs_on_warnings */
    char *params_json;
} hs_task;

/* Render attempt `attempt` of `run`. sweep_dir is absolute; the run directory is
 * SWEEP_DIR/runs/RUN_ID. gpu is the text of {gpu} ("" for none). Returns 0 or -1; on error
 * the task is left cleared. */
int hs_task_render(const hs_grid *g, const hs_run *run, const char *sweep_dir, const char *gpu,
                   int attempt, hs_task *task, hs_error *err);
void hs_task_clear(hs_task *task);

/* "SWEEP_DIR/runs/RUN_ID" into out. */
int hs_run_dir(const char *sweep_dir, const char *run_id, hs_buf *out);

/* The command line as a person would paste it into a shell (POSIX quoting). */
int hs_task_command_line(const hs_task *task, hs_buf *out);

#endif
