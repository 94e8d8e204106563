/* hypersweep-analyze (DESIGN §9): statistics, loading one or several stores of a sweep, and
 * the three reports (report, leaderboard, run) in text, Markdown, JSON and CSV.
 *
 * Every function that can fail returns 0 / -1 (or NULL) and fills an hs_error whose text
 * names the file, run or metric concerned. Nothing here exits. */
#ifndef HS_ANALYSIS_H
#define HS_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

/* ---- statistics ---------------------------------------------------------------------- */

/* Arithmetic mean of n values (NaN if n == 0). Two-pass, so no catastrophic cancellation. */
double hs_stats_mean(const double *x, size_t n);
/* Standard deviation with the divisor n - ddof: ddof 1 is the sample std (pandas' default),
 * ddof 0 the population std (numpy's default). NaN if n <= ddof. */
double hs_stats_std(const double *x, size_t n, int ddof);
/* Ranks 1..n of x, ties given the average of the ranks they span (scipy's rankdata
 * "average"). x must be free of NaN. Returns 0, or -1 when out of memory. */
int hs_stats_rank(const double *x, size_t n, double *ranks);

/* Two-sided p-value of Student's t with df degrees of freedom (GSL). */
double hs_stats_t_pvalue(double t, double df);
/* The quantile of Student's t with df degrees of freedom: P(T <= q) = p (GSL). NaN when df is
 * not positive. hs_stats_t_quantile(0.975, n - 1) is the factor of a 95% interval of a mean. */
double hs_stats_t_quantile(double p, double df);

/* Welch's unequal-variances t test of mean(x) - mean(y), as scipy.stats.ttest_ind(x, y,
 * equal_var=False): t with sample variances, Welch-Satterthwaite df, two-sided p. All NaN
 * when nx or ny < 2, or when both variances are 0 (no spread to test against). */
typedef struct hs_welch {
    double t;
    double df;
    double p;
} hs_welch;
void hs_stats_welch(const double *x, size_t nx, const double *y, size_t ny, hs_welch *out);

/* The normal quantile for a two-sided interval of confidence level `level` (0.95: 1.95996). */
double hs_stats_z_two_sided(double level);

typedef enum hs_corr_status {
    HS_CORR_OK = 0,
    HS_CORR_TOO_SHORT,  /* n < 3: no p-value (t has n - 2 degrees of freedom) */
    HS_CORR_CONSTANT_X, /* every x is the same: r is undefined */
    HS_CORR_CONSTANT_Y,
    HS_CORR_NOMEM,
} hs_corr_status;

/* A correlation with its inference. With status HS_CORR_OK, r, p and n are set; the 95%
 * confidence interval (Fisher z, z = atanh r, z +- 1.96 se, back with tanh) needs n >= 4,
 * else lo and hi are NaN. */
typedef struct hs_corr {
    hs_corr_status status;
    size_t n;
    double r;
    double p;  /* two-sided, t = r sqrt((n-2) / (1-r^2)) with n-2 df */
    double lo; /* 95% CI */
    double hi;
    double se_z; /* standard error used on the z scale */
} hs_corr;

/* Pearson's r of n pairs (both finite); se_z = 1 / sqrt(n - 3). */
void hs_stats_pearson(const double *x, const double *y, size_t n, hs_corr *out);
/* Spearman's rho: Pearson's r of the average ranks; p-value as scipy.stats.spearmanr (t with
 * n-2 df); CI with the Fieller-Hartley-Pearson standard error se_z = 1.06 / sqrt(n - 3). */
void hs_stats_spearman(const double *x, const double *y, size_t n, hs_corr *out);
/* The same on ranks already computed (rx, ry from hs_stats_rank). */
void hs_stats_spearman_ranked(const double *rx, const double *ry, size_t n, hs_corr *out);

/* "strong" (|r| > 0.7), "moderate" (|r| > 0.5) or "weak"; NaN gives "undefined". */
const char *hs_stats_strength(double r);

/* ---- a sweep: one store, shard stores of one sweep, or a directory of them --------------- */

typedef struct hs_sweep hs_sweep;

/* Open the stores named by paths (files, or directories whose *.h5 files, and those of their
 * shards/ subdirectory, are read). Every store must belong to the same sweep. A run present in
 * several stores is taken from the best of them: ok beats suspect, suspect beats a failure,
 * a failure beats a run not finished; among equals the later `finished` wins. Stores being
 * written are read as they are (SWMR). Errors name the file. */
hs_sweep *hs_sweep_open(const char *const *paths, size_t npaths, hs_error *err);
void hs_sweep_destroy(hs_sweep *s);

const char *hs_sweep_name(const hs_sweep *s);
size_t hs_sweep_nstores(const hs_sweep *s);
const char *hs_sweep_store_path(const hs_sweep *s, size_t i);
/* Runs after merging (every row, also those no longer in the grid). */
size_t hs_sweep_nruns(const hs_sweep *s);
/* Warnings found while loading (e.g. the stored grid could not be parsed, runs found in
 * several stores), one per line; "" if none. */
const char *hs_sweep_warnings(const hs_sweep *s);

/* ---- reports ------------------------------------------------------------------------- */

typedef enum hs_format {
    HS_FORMAT_TEXT = 0, /* aligned UTF-8 text */
    HS_FORMAT_MARKDOWN,
    HS_FORMAT_JSON, /* strict: no NaN or Infinity, null with a "<key>_note" explanation */
    HS_FORMAT_CSV,  /* every table, each after a "# path" line, separated by blank lines */
} hs_format;

/* Parses "text", "markdown" (or "md"), "json", "csv"; -1 if unknown. */
int hs_format_parse(const char *name);

/* What a report is asked for; NULL / -1 means "from the grid's analysis section, else the
 * default". Lists are comma-separated. */
typedef struct hs_analyze_opts {
    const char *target;      /* metric (exact name, or a unique '/'-suffix), or "avg" */
    const char *secondary;   /* metric correlated with the target (e.g. ppl) */
    const char *by;          /* AXIS[,AXIS]; "none": the whole sweep as one group */
    const char *method_axis; /* AXIS; "none": no method comparison */
    const char *params;      /* AXES for the parameter impact tables */
    const char *diagnostics; /* METRICS; default: every other metric except system ones */
    const char *tasks;       /* glob over metric names: per-task scores */
    const char *avg;         /* TASK[/METRIC],...: average only these top-level tasks */
    const char *baseline;    /* AXIS=VALUE (leaderboard) */
    const char *over;        /* AXES of repeated measurements (seeds) averaged in the
                                leaderboard; "none": none; default: an axis named seed */
    int lower_is_better;     /* -1: from the grid, else guessed from the name and said */
    int ddof;                /* standard deviation divisor n - ddof (default 1) */
    hs_format format;
} hs_analyze_opts;

/* Fills o with the defaults (everything unset, ddof 1, text). */
void hs_analyze_opts_init(hs_analyze_opts *o);

/* The per-group report: totals, method comparison, parameter impact, correlations of the
 * diagnostics with the target, integer-valued diagnostics, secondary vs target, best
 * configuration with per-task scores, then the comparison across groups. Returns -1 with err
 * for a request the sweep cannot answer (unknown metric or axis, ...) or a write error. */
int hs_analyze_report(const hs_sweep *s, const hs_analyze_opts *o, FILE *out, hs_error *err);

/* The ranking against a baseline (o->baseline, or the grid's) per group, deltas, per-task and
 * group tables, passkey retrieval by depth, failed methods and integrity checks. */
int hs_analyze_leaderboard(const hs_sweep *s, const hs_analyze_opts *o, FILE *out, hs_error *err);

/* One run in full; id may be a unique prefix of a run id. */
int hs_analyze_run(const hs_sweep *s, const char *id, const hs_analyze_opts *o, FILE *out,
                   hs_error *err);

#endif
