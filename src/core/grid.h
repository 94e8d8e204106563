/* Grid files (libconfig): parsing, strict validation, deterministic expansion into runs, and
 * run identity. The format is documented in README.md ("Grid files"); DESIGN §4.
 *
 * Every error is "FILE:LINE: message" in the hs_error. A grid that loads is fully valid:
 * every placeholder resolves for every run, no two runs share a parameter tuple, and the
 * run count is within the limit. */
#ifndef HS_GRID_H
#define HS_GRID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "value.h"

typedef struct hs_grid hs_grid;

#define HS_RUN_ID_LEN       16 /* hex digits of a run id */
#define HS_DEFAULT_MAX_RUNS 1000000

typedef struct hs_param {
    const char *name;
    hs_value value;
} hs_param;

/* One run of the expansion. Parameters are sorted by name (byte order). */
typedef struct hs_run {
    size_t index;               /* position in the expansion order */
    char id[HS_RUN_ID_LEN + 1]; /* hex of XXH3-64 of the canonical tuple */
    size_t nparams;
    const hs_param *params;
    int line; /* line of the include entry, 0 for product cells */
} hs_run;

typedef enum hs_runner_kind { HS_RUNNER_EXEC = 0, HS_RUNNER_PROBE } hs_runner_kind;
typedef enum hs_on_warnings {
    HS_WARN_SUSPECT = 0, /* a non-empty "warnings" list marks the run suspect */
    HS_WARN_IGNORE,
    HS_WARN_FAIL,
} hs_on_warnings;

typedef struct hs_env_spec {
    const char *name;
    const char *value; /* template */
} hs_env_spec;

typedef struct hs_file_spec {
    const char *path; /* template: relative paths are relative to the workdir */
    const char *text; /* template */
} hs_file_spec;

typedef struct hs_rename_spec {
    const char *name; /* new metric name */
    const char *from; /* flattened metric path; '.' and '/' both separate */
} hs_rename_spec;

/* The run section, plus the metrics section that says how results become metrics. */
typedef struct hs_run_spec {
    hs_runner_kind runner;
    const char *const *argv; /* templates; NULL for shell or probe runs */
    size_t argc;
    const char *shell;          /* opt-in /bin/sh -c text; NULL if unused */
    const char *probe;          /* probe name for runner = "probe" */
    const char *device;         /* probe device: auto, cpu, cuda */
    const char *workdir;        /* template; NULL = the run directory */
    const char *const *results; /* glob templates */
    size_t nresults;
    const char *const *cleanup; /* glob templates, inside the run directory */
    size_t ncleanup;
    const hs_file_spec *files;
    size_t nfiles;
    const hs_env_spec *env;
    size_t nenv;
    double timeout;          /* seconds, > 0 */
    bool timeout_set;        /* the grid gave run.timeout (else the 24 h default) */
    double grace;            /* seconds between SIGTERM and SIGKILL */
    int retries;             /* extra attempts after the first */
    int gpus;                /* GPUs per run: 0 or 1 */
    int64_t log_limit;       /* bytes kept per log (head + tail) */
    int64_t max_result_size; /* bytes; a larger result file makes the run invalid_result */
    /* metrics section */
    const hs_rename_spec *renames;
    size_t nrenames;
    const char *const *required; /* metric names that must be present for ok */
    size_t nrequired;
    bool keep_all; /* keep metrics that no rename selected */
    hs_on_warnings on_warnings;
} hs_run_spec;

/* The analysis section: defaults for hypersweep-analyze. Unset strings are NULL. */
typedef struct hs_analysis_spec {
    const char *target;
    const char *secondary;
    const char *by;
    const char *method_axis;
    const char *tasks;
    const char *baseline; /* "axis=value" */
    const char *over;     /* axis of repeated measurements (seeds) */
    const char *const *params;
    size_t nparams;
    const char *const *diagnostics;
    size_t ndiagnostics;
    const char *const *avg;
    size_t navg;
    int lower_is_better; /* -1 unset, 0, 1 */
} hs_analysis_spec;

/* What the store needs to know of a parameter to give it a column. */
typedef enum hs_ptype {
    HS_PTYPE_INT = 0,
    HS_PTYPE_FLOAT,
    HS_PTYPE_BOOL,
    HS_PTYPE_STR,
    HS_PTYPE_MIXED, /* values of several types: stored as text */
} hs_ptype;

typedef struct hs_param_info {
    const char *name;
    hs_ptype type;
    bool conditional; /* absent from some runs */
    bool has_default;
    hs_value def;
    size_t max_text_len; /* longest value as text (for fixed-length string columns) */
    int line;
} hs_param_info;

typedef struct hs_grid_opts {
    size_t max_runs; /* 0: the grid's limits.max_runs, else HS_DEFAULT_MAX_RUNS */
} hs_grid_opts;

/* Load and fully validate a grid file. opts may be NULL. */
hs_grid *hs_grid_load(const char *path, const hs_grid_opts *opts, hs_error *err);
/* The same from text in memory; `path` names it in messages and anchors @include. */
hs_grid *hs_grid_load_text(const char *text, const char *path, const hs_grid_opts *opts,
                           hs_error *err);
void hs_grid_destroy(hs_grid *g);

const char *hs_grid_name(const hs_grid *g);
const char *hs_grid_path(const hs_grid *g);
const char *hs_grid_text(const hs_grid *g);
const char *hs_grid_description(const hs_grid *g); /* "" if none */
/* Warnings found while loading (e.g. an exclude rule that matched nothing), one per line,
 * "" if none. They do not stop the grid from loading. */
const char *hs_grid_warnings(const hs_grid *g);
size_t hs_grid_nruns(const hs_grid *g);
const hs_run *hs_grid_run(const hs_grid *g, size_t index);
/* Index of the run with this id, or -1. */
long hs_grid_find(const hs_grid *g, const char *id);
const hs_run_spec *hs_grid_spec(const hs_grid *g);
const hs_analysis_spec *hs_grid_analysis(const hs_grid *g);
/* Every parameter, in declaration order. */
size_t hs_grid_nparams(const hs_grid *g);
const hs_param_info *hs_grid_param(const hs_grid *g, size_t k);

/* The value of a run's parameter, or NULL if the run does not have it. */
const hs_value *hs_run_get(const hs_run *run, const char *name);

/* The canonical tuple that the id hashes: compact JSON, keys sorted, parameters equal to
 * their declared default left out. Python: json.dumps(p, sort_keys=True,
 * separators=(",", ":"), ensure_ascii=False). */
int hs_run_canonical_json(const hs_grid *g, const hs_run *run, hs_buf *out);
/* All of the run's parameters as a JSON object (defaults included), keys sorted. */
int hs_run_params_json(const hs_run *run, hs_buf *out);
/* "name=value, name=value" in the declaration order of the grid, for messages. */
int hs_run_describe(const hs_grid *g, const hs_run *run, hs_buf *out);

/* hex(XXH3_64(canonical)) into id. */
void hs_run_id_hash(const char *canonical, size_t len, char id[HS_RUN_ID_LEN + 1]);

/* True for the placeholder names every run has: run_id, run_dir, run_index, sweep, gpu. */
bool hs_grid_is_builtin(const char *name);

#endif
