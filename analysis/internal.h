/* Private to the analysis library: the document model that every report builds and every
 * format renders, the merged view of the stores, and the helpers the reports share. */
#ifndef HS_ANALYSIS_INTERNAL_H
#define HS_ANALYSIS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis.h"
#include "buf.h"
#include "error.h"
#include "grid.h"
#include "store.h"
#include "value.h"

/* ---- document: sections, fields, notes and tables, rendered in each format --------------- */

typedef struct hs_doc hs_doc;
typedef struct hs_dnode hs_dnode;

/* How a number reads in text and Markdown (JSON always gets the shortest exact form). */
typedef enum hs_nfmt {
    NF_METRIC = 0, /* 0.5980, 13.1700, 1.2e-06 */
    NF_R,          /* correlation: 0.697 */
    NF_P,          /* p-value: 0.0123, 3.1e-08 */
    NF_DELTA,      /* +0.7500 */
    NF_PP,         /* percentage points: +1.46 pp */
    NF_PCT,        /* 95% (the value is in percent) */
    NF_MB,         /* 18367 */
    NF_SEC,        /* 5.6 */
    NF_REPR,       /* Python's repr of a float parameter */
    NF_EPOCH,      /* a time stamp, ISO 8601 */
} hs_nfmt;

typedef enum hs_dkind { DV_EMPTY = 0, DV_NUM, DV_INT, DV_TEXT, DV_BOOL, DV_NULL } hs_dkind;

/* A value for a field or a cell. text and why are copied by the document. A DV_NUM that is
 * not finite is written as null in JSON, with `why` (or "Infinity"/"not available"). */
typedef struct hs_dv {
    hs_dkind kind;
    hs_nfmt fmt;
    double num;
    long long i;
    const char *text;
    const char *why;
} hs_dv;

static inline hs_dv dv_num(double v, hs_nfmt f)
{
    hs_dv d = { .kind = DV_NUM, .fmt = f, .num = v };
    return d;
}
static inline hs_dv dv_num_why(double v, hs_nfmt f, const char *why)
{
    hs_dv d = { .kind = DV_NUM, .fmt = f, .num = v, .why = why };
    return d;
}
static inline hs_dv dv_int(long long i)
{
    hs_dv d = { .kind = DV_INT, .i = i };
    return d;
}
static inline hs_dv dv_text(const char *s)
{
    hs_dv d = { .kind = DV_TEXT, .text = s };
    return d;
}
static inline hs_dv dv_bool(bool b)
{
    hs_dv d = { .kind = DV_BOOL, .i = b };
    return d;
}
static inline hs_dv dv_null(const char *why)
{
    hs_dv d = { .kind = DV_NULL, .why = why };
    return d;
}
/* A parameter value, typed. */
hs_dv dv_value(const hs_value *v);

/* Column roles: shown everywhere, only in text/Markdown, or only in JSON/CSV. */
typedef enum hs_dcol { DC_BOTH = 0, DC_TEXT_ONLY, DC_DATA_ONLY } hs_dcol;

/* Out of memory is sticky: the builders keep going and hs_doc_write reports it. */
hs_doc *hs_doc_create(const char *title);
void hs_doc_destroy(hs_doc *d);
hs_dnode *hs_doc_root(hs_doc *d);

/* A titled section: a JSON object under `key` of its parent. */
hs_dnode *hs_doc_section(hs_dnode *parent, const char *key, const char *title);
/* A list of sections: a JSON array under `key`; its items are sections (key ignored). */
hs_dnode *hs_doc_list(hs_dnode *parent, const char *key, const char *title);
hs_dnode *hs_doc_item(hs_dnode *list, const char *title);
/* A titled value; with title NULL it appears in JSON only. */
void hs_doc_field(hs_dnode *sec, const char *key, const char *title, hs_dv v);
/* A sentence; in JSON the section's "notes" array. */
void hs_doc_note(hs_dnode *sec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Preformatted text (a log's tail): indented in text, fenced in Markdown, a string in JSON. */
void hs_doc_pre(hs_dnode *sec, const char *key, const char *title, const char *text);
/* A table under `key`: rows are JSON objects keyed by the columns' keys. */
hs_dnode *hs_doc_table(hs_dnode *sec, const char *key, const char *title, size_t ncols);
/* A table shown only in text/Markdown, or only in JSON/CSV. */
void hs_doc_table_role(hs_dnode *t, hs_dcol role);
void hs_doc_col(hs_dnode *t, size_t col, const char *key, const char *title, bool right,
                hs_dcol role);
void hs_doc_row(hs_dnode *t);
void hs_doc_cell(hs_dnode *t, size_t col, hs_dv v);
size_t hs_doc_nrows(const hs_dnode *t);

int hs_doc_write(const hs_doc *d, FILE *out, hs_format fmt, hs_error *err);

/* A value for a sentence (a note, an error message): s itself when short, else shortened to
 * about 60 columns with its size, "… (10,240 bytes)" (hs_put_short). The fields and cells that
 * carry the value keep it whole. The result lives in b. */
const char *hs_short_label(hs_buf *b, const char *s);

/* Text of a number as the text formats show it. */
void hs_fmt_num(double v, hs_nfmt f, char *buf, size_t cap);
/* s with invalid UTF-8 replaced by U+FFFD (caller frees). */
char *hs_utf8_sanitize(const char *s);

/* ---- the merged sweep -------------------------------------------------------------------- */

struct hs_sweep {
    char *name;
    hs_store_data **stores;
    size_t nstores;
    hs_grid *grid; /* parsed from the stored grid text; NULL if it failed */
    char *grid_text;
    hs_buf warnings;
    size_t nrows;
    uint32_t *src; /* store of each row; NULL with one store (then row = store row) */
    size_t *srow;  /* row in that store */
    /* parameters: union over the stores, in the grid's declaration order, then by name */
    size_t nparams;
    char **pnames;
    long *pmap; /* nparams x nstores: index in each store, -1 if absent */
    /* metrics: union over the stores */
    size_t nmetrics;
    char **mnames;
    const double **mcols; /* nmetrics columns of nrows */
    double *mowned;       /* the merged values, when there are several stores */
};

size_t sw_store_row(const hs_sweep *s, size_t row, const hs_store_data **d);
const char *sw_run_id(const hs_sweep *s, size_t row);
int64_t sw_index(const hs_sweep *s, size_t row);
int sw_status(const hs_sweep *s, size_t row);
long sw_param_find(const hs_sweep *s, const char *name);
bool sw_param(const hs_sweep *s, size_t k, size_t row, hs_value *v);
long sw_metric_find(const hs_sweep *s, const char *name);

/* ---- shared by the reports --------------------------------------------------------------- */

/* Distinct values of a set of axes over some rows: lev[row] is a level, or -1 when the row
 * lacks one of the axes (or is not among the rows). Levels are ordered numerically for
 * numeric axes, else by first appearance in grid order. */
typedef struct hs_levels {
    size_t naxes;
    long *axes; /* parameter indexes */
    size_t nlev;
    int32_t *lev;  /* nrows */
    size_t *first; /* nlev: first row (grid order) of each level */
    char **labels; /* nlev: "value" for one axis, "a=x, b=y" for several */
    size_t *count; /* rows per level */
} hs_levels;

int hs_levels_build(const hs_sweep *s, const long *axes, size_t naxes, const size_t *rows,
                    size_t nrows, hs_levels *out, hs_error *err);
void hs_levels_free(hs_levels *l);

/* True if axis p takes one value for each value of axis q over these rows (*failed on
 * out of memory, with err set). */
bool hs_axis_determined_by(const hs_sweep *s, long p, long q, const size_t *rows, size_t n,
                           hs_error *err, bool *failed);

/* Resolve a metric: an exact name, a unique suffix at a '/' boundary, or an error that lists
 * close names. Returns its index. */
long hs_metric_resolve(const hs_sweep *s, const char *name, const char *what, hs_error *err);
/* Resolve an axis name; error with the axes it could be. */
long hs_axis_resolve(const hs_sweep *s, const char *name, const char *what, hs_error *err);

/* System metrics (GPU telemetry) that are never diagnostics. */
bool hs_metric_is_system(const char *name);
/* Time, memory and throughput metrics: not "quality" metrics for the equal-to-baseline check. */
bool hs_metric_is_resource(const char *name);
/* The name looks like an accuracy (acc, acc_norm, accuracy, exact_match, f1, passkey...):
 * its deltas are shown in percentage points. */
bool hs_metric_is_accuracy(const char *name);
/* Guess of the direction from a name (ppl, perplexity, loss, error, nll: lower). */
bool hs_metric_lower_guess(const char *name);

/* Averages over named top-level tasks (--avg). */
typedef struct hs_avg {
    size_t ntasks;
    char **tasks;   /* as named */
    long *metric;   /* metric index used for each task */
    char **other;   /* other metrics the task has (e.g. acc_norm when acc is used), or NULL */
    double *values; /* per row: mean of the tasks, NaN when one is missing */
    size_t missing; /* rows with some but not all tasks */
} hs_avg;

int hs_avg_build(const hs_sweep *s, const char *spec, hs_avg *out, hs_error *err);
void hs_avg_free(hs_avg *a);
/* Adds the "Averages" section listing what went into the average. */
void hs_avg_describe(const hs_sweep *s, const hs_avg *a, hs_dnode *parent);

/* n, mean, std (with ddof), min and max of n values; NaN where undefined. */
typedef struct hs_summary {
    size_t n;
    double mean, std, min, max;
} hs_summary;
void hs_summarize(const double *v, size_t n, int ddof, hs_summary *out);
/* Why a std of n values with this ddof is undefined, or NULL when it is defined. */
const char *hs_std_why(size_t n, int ddof);

/* True if axis k is among the n axes. */
static inline bool hs_axis_in(const long *axes, size_t n, long k)
{
    for (size_t i = 0; i < n; i++)
        if (axes[i] == k)
            return true;
    return false;
}

/* Split a comma-separated list (spaces trimmed, empties dropped). Caller frees with
 * hs_strv_free. */
char **hs_strv_split(const char *s, size_t *n);
void hs_strv_free(char **v, size_t n);

/* Metric label relative to the lm-eval-style task: "results/lm_eval/hellaswag/acc_norm"
 * -> task "hellaswag", metric "acc_norm". Pointers into name; tlen is the task's length. */
void hs_metric_task(const char *name, const char **task, size_t *tlen, const char **metric);

/* Rows of the sweep in the current grid (index >= 0), sorted by grid index. */
size_t *hs_rows_in_grid(const hs_sweep *s, size_t *n, size_t *left_out);

/* The value of a parameter as display text ("" when absent). */
void hs_param_text(const hs_sweep *s, long k, size_t row, hs_buf *b);

/* ---- the settings of a report, resolved from the options, the grid and the defaults ------ */

typedef struct hs_ctx {
    const hs_sweep *s;
    const hs_analyze_opts *o;
    const hs_analysis_spec *an; /* the grid's analysis section, or NULL */
    size_t *rows;               /* rows in the current grid, in grid order */
    size_t nrows;
    size_t left_out; /* rows of runs no longer in the grid */
    long target;     /* metric index, or -2 for the --avg average */
    const double *tcol;
    const char *tname;
    long secondary; /* -1 if none */
    const double *scol;
    const char *sname;
    bool lower;
    const char *lower_why;
    long *by;
    size_t nby;
    long *over; /* axes of repeated measurements (hs_ctx_over) */
    size_t nover;
    long method; /* -1 if none */
    bool has_avg;
    hs_avg avg;
    const char *tasks; /* glob, or NULL */
    int ddof;
    hs_buf notes; /* settings worth saying, one per line */
} hs_ctx;

/* need_target: fail when no target can be found. */
int hs_ctx_init(hs_ctx *c, const hs_sweep *s, const hs_analyze_opts *o, bool need_target,
                hs_error *err);
void hs_ctx_free(hs_ctx *c);
/* Resolves the axes of repeated measurements (--over, analysis.over, else an axis named
 * 'seed'), which may be neither a --by axis nor the method axis. */
int hs_ctx_over(hs_ctx *c, hs_error *err);
/* a better than b in the target's direction (NaN never better) */
bool hs_ctx_better(const hs_ctx *c, double a, double b);
/* The settings section shared by the reports (returned, for more fields and notes). */
hs_dnode *hs_ctx_describe(const hs_ctx *c, hs_dnode *root);
/* Every row's label on an axis as a string in the doc's language: "method=taylor". */
void hs_row_params(const hs_sweep *s, size_t row, const long *skip, size_t nskip, hs_buf *b);

#endif
