/* Results: the record of one attempt of one run (what a worker reports and the store keeps),
 * and the ingestion of result files into metrics (DESIGN §5).
 *
 * Metric names are paths of numeric leaves joined by '/': {"ppl": {"wikitext2": 6.2}} gives
 * ppl/wikitext2. lm-eval's "metric,filter" keys become metric (filter "none") or
 * metric@filter; an lm-eval results file contributes task/metric from its "results" only.
 * Python's NaN and Infinity are read as such. */
#ifndef HS_RESULT_H
#define HS_RESULT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"
#include "grid.h"
#include "task.h"

typedef enum hs_status {
    HS_PENDING = 0,
    HS_RUNNING,
    HS_OK,
    HS_FAILED, /* non-zero exit or similar */
    HS_TIMEOUT,
    HS_CRASHED,        /* killed by a signal it did not ask for */
    HS_INVALID_RESULT, /* exited 0, but the results are missing, malformed or incomplete */
    HS_SUSPECT,        /* ok by the rules, but it reported warnings */
    HS_INTERRUPTED,    /* stopped by hypersweep (signal, time limit); runs again on resume */
    HS_NSTATUS
} hs_status;

const char *hs_status_name(int status);
/* -1 for an unknown name */
int hs_status_parse(const char *name);
/* ok, or a failure that is final unless --retry-failed: failed, timeout, crashed,
 * invalid_result, suspect. */
bool hs_status_done(int status);
bool hs_status_failure(int status);

/* Failure classes that no retry can fix (missing_program, bad_params, ...). */
bool hs_failure_retryable(const char *failure_class);

#define HS_TAIL_BYTES 4096

typedef struct hs_result {
    char run_id[HS_RUN_ID_LEN + 1];
    uint64_t index;
    int32_t attempt;
    int32_t status;           /* hs_status */
    char failure_class[32];   /* "" when ok */
    char message[256];        /* one line: why it failed, or notes */
    int32_t exit_code;        /* -1 if it did not exit normally */
    int32_t term_signal;      /* 0 if none */
    double started, finished; /* epoch seconds */
    double wall_s;
    char host[64];
    int32_t rank;
    int32_t gpu; /* slot on its node, -1 without a GPU */
    char gpu_name[96];
    char gpu_uuid[80];
    char git_commit[41];
    int32_t git_dirty; /* -1 unknown, 0 clean, 1 dirty */
    double max_rss_mb;
    double cpu_s; /* user + system of the run's process tree */
    int32_t nwarnings;
    char stderr_tail[HS_TAIL_BYTES + 1];
    uint32_t nmetrics, capmetrics;
    char **metric_names;
    double *metric_values;
} hs_result;

void hs_result_init(hs_result *r);
void hs_result_clear(hs_result *r); /* frees metrics, keeps nothing */
/* Adds or replaces a metric. */
int hs_result_set_metric(hs_result *r, const char *name, double value);
/* Index of a metric, or -1. */
int hs_result_find_metric(const hs_result *r, const char *name);
void hs_result_remove_metric(hs_result *r, int index);
/* Deep copy: dst is overwritten (not cleared first). */
int hs_result_copy(hs_result *dst, const hs_result *src);

/* Limits of ingestion. A result file larger than the task's max_result_size (default
 * HS_MAX_RESULT_SIZE_DEFAULT, grid key run.max_result_size) is not read: the run is
 * invalid_result (result_too_large). JSON nests at most HS_JSON_MAX_DEPTH levels; arrays
 * give their first HS_MAX_ARRAY_ITEMS items; a metric name is at most HS_METRIC_NAME_MAX
 * bytes (longer paths are skipped); a run has at most HS_MAX_METRICS metrics (more is
 * invalid_result, too_many_metrics: each metric is a column of the store). */
#define HS_MAX_RESULT_SIZE_DEFAULT (256LL << 20)
#define HS_JSON_MAX_DEPTH          32
#define HS_MAX_ARRAY_ITEMS         64
#define HS_METRIC_NAME_MAX         255
#define HS_MAX_METRICS             10000

/* Flatten one parsed JSON document into r's metrics; counts a top-level non-empty
 * "warnings" array into r->nwarnings and keeps its first entry, one line of valid UTF-8, in
 * first_warning (may be NULL). Names are valid UTF-8: an invalid byte in a key becomes
 * U+FFFD, a control character '_'. Integers beyond 64 bits arrive clamped by json-c.
 * Returns the number of numeric leaves recorded, or -1 with err when r would get more than
 * HS_MAX_METRICS metrics (r keeps the first ones) or memory ran out. */
int hs_flatten_json(json_object *root, hs_result *r, char *first_warning, size_t cap,
                    hs_error *err);

/* Parse len bytes of JSON (no NUL terminator needed) the way Python writes it: NaN,
 * Infinity and -Infinity allowed. name is the file the text came from; on error the message
 * is "NAME:LINE:COL: what". *out is owned by the caller (json_object_put). */
int hs_json_parse(const char *text, size_t len, const char *name, json_object **out, hs_error *err);

/* Read a file of at most max bytes (checked with fstat before anything is read) and parse it
 * with hs_json_parse. */
int hs_json_read_file(const char *path, size_t max, json_object **out, hs_error *err);

/* The whole ingestion of a finished attempt that exited 0: find the declared result files
 * (globs), parse them, flatten, apply the task's renames / keep / required rules and its
 * warnings policy. Sets r->status (HS_OK, HS_INVALID_RESULT, HS_SUSPECT or HS_FAILED) and
 * failure_class / message. The file HYPERSWEEP_RESULT (RUN_DIR/result.json) is read too when
 * it exists. Returns 0; -1 only on out-of-memory. */
int hs_ingest_results(const hs_task *task, hs_result *r, hs_error *err);

#endif
