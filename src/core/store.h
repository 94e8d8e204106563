/* The HDF5 store (DESIGN §7). One file, written only by the master; read by status, export,
 * merge, hypersweep-analyze and h5py, also while a sweep writes it (SWMR).
 *
 * Layout (every dataset 1-D over rows unless noted; rows are keyed by run id):
 *   attributes of /: sweep, grid_text, grid_path, sweep_dir, created, modified,
 *                    hypersweep_version, schema_version, shard, opens
 *   /runs/run_id (S16)  index (i64, -1: not in the current grid)  status (enum u8, fill
 *   pending)  attempts (i32)  exit_code (i32, -1)  signal (i32)  failure_class (S32)
 *   message (S256)  started finished wall_s (f64 epoch/seconds, NaN)  host (S64)  rank (i32)
 *   gpu (i32 slot, -1)  gpu_name (S96)  gpu_uuid (S80)  git_commit (S40)  git_dirty (i8: -1
 *   unknown, 0, 1)  max_rss_mb cpu_s (f64)  warnings (i32)  stderr_tail (S4096)
 *   params (S*: the run's parameters as JSON)
 *   /params/<name>: i64 (absent: INT64_MIN), f64 (absent: NaN), i8 bool (absent: -1) or
 *                   S* text (absent: ""); attribute "type" says which
 *   /metrics/names (S256, unlimited)   /metrics/values (f64 [rows x metrics], NaN fill)
 *
 * Writes are batched while results keep arriving (at most 64 results or 1 s; see
 * hs_store_commit_idle) and committed in two phases: the data, a
 * flush, then the status column, a flush; a row marked ok therefore always has its data. */
#ifndef HS_STORE_H
#define HS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "grid.h"
#include "result.h"
#include "value.h"

#define HS_STORE_SCHEMA_VERSION 1

/* ---- writer -------------------------------------------------------------------------- */

typedef struct hs_store hs_store;

typedef struct hs_store_opts {
    bool swmr;             /* SWMR writing (readers can follow live); off for shard stores */
    bool fsync;            /* fsync after each commit (node-crash durability) */
    int batch_rows;        /* commit after this many updates (default 64) */
    double batch_seconds;  /* or after this long (default 1.0) */
    const char *sweep_dir; /* recorded as an attribute */
    const char *shard;     /* "i/n" for a shard store, else NULL */
    int shard_index, shard_count; /* a shard store holds only the cells index % count == i */
} hs_store_opts;

typedef struct hs_store_open_info {
    bool created;
    bool repaired;   /* the file had been left open by a killed writer and was repaired */
    size_t new_rows; /* cells of the grid the store did not have */
    size_t new_params;
    size_t rows; /* rows after opening */
} hs_store_open_info;

/* Create the store, or open it to resume: take the writer lock, repair a file left by a
 * killed writer, refuse a store of another sweep, add rows for new cells and columns for
 * new parameters, then (if opts->swmr) reopen for SWMR writing. Errors name the file. */
hs_store *hs_store_open(const char *path, const hs_grid *g, const hs_store_opts *opts,
                        hs_store_open_info *info, hs_error *err);

size_t hs_store_nrows(const hs_store *s);
/* Row of a run id, or -1. */
long hs_store_find(const hs_store *s, const char *run_id);
int hs_store_status(const hs_store *s, size_t row);
int hs_store_attempts(const hs_store *s, size_t row);
const char *hs_store_failure_class(const hs_store *s, size_t row);
/* Wall time of the row's last attempt (NaN if none). */
double hs_store_wall_s(const hs_store *s, size_t row);

/* Record an attempt's state for `row`: every column from r (its metrics replace the row's
 * metrics, NaN where absent) and the status. Used for "running" (r holds the start), for
 * the outcome, and for a retry ("pending" with the last attempt's failure). Buffered. */
int hs_store_put(hs_store *s, size_t row, const hs_result *r, int status, hs_error *err);
/* Commit the buffered updates if a batch is due. */
int hs_store_tick(hs_store *s, hs_error *err);
/* Group commit, for a writer with nothing else to do: commit now when the buffer holds an
 * outcome (any state but "running"), else as hs_store_tick. A writer calls it whenever no
 * further result is waiting, so a batch grows only while results keep arriving. */
int hs_store_commit_idle(hs_store *s, hs_error *err);
/* Commit now. */
int hs_store_flush(hs_store *s, hs_error *err);
/* Commit and close; frees s (also on error). s may be NULL. */
int hs_store_close(hs_store *s, hs_error *err);

/* ---- reader -------------------------------------------------------------------------- */

typedef struct hs_store_data hs_store_data;

/* Read a store (SWMR, so a live sweep can be followed) into memory. The stderr tails and the
 * /runs/params JSON stay on disk until asked for (hs_sd_params_json's pointer stays valid
 * until its next call). Text of any length is read whole; a text parameter's distinct values
 * are held once each. Errors say when another process holds the file. */
hs_store_data *hs_store_read(const char *path, hs_error *err);
/* HS_STORE_READ_LIGHT leaves the text columns (message, host, gpu_name, gpu_uuid,
 * git_commit, params) on disk and reads a row of them when asked: for large stores. The
 * pointers those accessors return then stay valid until the next call of the same one. */
enum { HS_STORE_READ_LIGHT = 1 };
hs_store_data *hs_store_read_ex(const char *path, unsigned flags, hs_error *err);
void hs_store_data_destroy(hs_store_data *d);

const char *hs_sd_path(const hs_store_data *d);
const char *hs_sd_attr(const hs_store_data *d, const char *name); /* "" if absent */
size_t hs_sd_nrows(const hs_store_data *d);

const char *hs_sd_run_id(const hs_store_data *d, size_t row);
int64_t hs_sd_index(const hs_store_data *d, size_t row);
int hs_sd_status(const hs_store_data *d, size_t row);
int hs_sd_attempts(const hs_store_data *d, size_t row);
int hs_sd_exit_code(const hs_store_data *d, size_t row);
int hs_sd_signal(const hs_store_data *d, size_t row);
const char *hs_sd_failure_class(const hs_store_data *d, size_t row);
const char *hs_sd_message(const hs_store_data *d, size_t row);
double hs_sd_started(const hs_store_data *d, size_t row);
double hs_sd_finished(const hs_store_data *d, size_t row);
double hs_sd_wall_s(const hs_store_data *d, size_t row);
const char *hs_sd_host(const hs_store_data *d, size_t row);
int hs_sd_rank(const hs_store_data *d, size_t row);
int hs_sd_gpu(const hs_store_data *d, size_t row);
const char *hs_sd_gpu_name(const hs_store_data *d, size_t row);
const char *hs_sd_gpu_uuid(const hs_store_data *d, size_t row);
const char *hs_sd_git_commit(const hs_store_data *d, size_t row);
int hs_sd_git_dirty(const hs_store_data *d, size_t row);
double hs_sd_max_rss_mb(const hs_store_data *d, size_t row);
double hs_sd_cpu_s(const hs_store_data *d, size_t row);
int hs_sd_warnings(const hs_store_data *d, size_t row);
const char *hs_sd_params_json(const hs_store_data *d, size_t row);
/* Reads the row's stderr tail from the file into buf. */
int hs_sd_stderr_tail(const hs_store_data *d, size_t row, char *buf, size_t cap, hs_error *err);

size_t hs_sd_nparams(const hs_store_data *d);
const char *hs_sd_param_name(const hs_store_data *d, size_t k);
hs_ptype hs_sd_param_type(const hs_store_data *d, size_t k);
/* The value of parameter k for row (strings point into d); false if the row lacks it. */
bool hs_sd_param(const hs_store_data *d, size_t k, size_t row, hs_value *out);
/* Index of a parameter by name, or -1. */
long hs_sd_param_find(const hs_store_data *d, const char *name);

size_t hs_sd_nmetrics(const hs_store_data *d);
const char *hs_sd_metric_name(const hs_store_data *d, size_t m);
long hs_sd_metric_find(const hs_store_data *d, const char *name);
/* Column m, nrows values (NaN where the run has no such metric). */
const double *hs_sd_metric_column(const hs_store_data *d, size_t m);

#endif
