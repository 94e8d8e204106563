/* hypersweep-analyze report: per group (by default per model) the totals, method comparison,
 * parameter impact, correlations of the diagnostics with the target, integer-valued
 * diagnostics, the secondary metric, and the best configuration; then across groups. */
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "result.h"

/* The report's state for one invocation. */
typedef struct rep {
    hs_ctx c;
    const hs_sweep *s;
    bool *valid; /* per sweep row */
    long *diags; /* metric indexes */
    size_t ndiags;
    long *params; /* axes for the impact tables */
    size_t nparams;
    double *x, *y, *rx, *ry; /* scratch, nrows each */
    size_t *grows;           /* rows of the current group */
} rep;

/* ---- resolving the lists ------------------------------------------------------------------ */

static bool in_list(const long *v, size_t n, long k)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == k)
            return true;
    return false;
}

static int resolve_params(rep *R, hs_dnode *settings, hs_error *err)
{
    const hs_sweep *s = R->s;
    const hs_ctx *c = &R->c;
    R->params = calloc(s->nparams ? s->nparams : 1, sizeof *R->params);
    if (!R->params)
        return hs_err(err, "out of memory");
    const char *spec = c->o->params;
    hs_buf joined = { 0 };
    if (!spec && c->an && c->an->nparams) {
        for (size_t i = 0; i < c->an->nparams; i++)
            hs_buf_printf(&joined, "%s%s", i ? "," : "", c->an->params[i]);
        spec = hs_buf_str(&joined);
    }
    if (spec) {
        size_t n;
        char **v = hs_strv_split(spec, &n);
        if (!v) {
            hs_buf_free(&joined);
            return hs_err(err, "out of memory");
        }
        for (size_t i = 0; i < n && R->nparams < s->nparams; i++) {
            long k = hs_axis_resolve(s, v[i], c->o->params ? "--params" : "analysis.params", err);
            if (k < 0) {
                hs_strv_free(v, n);
                hs_buf_free(&joined);
                return -1;
            }
            if (!in_list(R->params, R->nparams, k))
                R->params[R->nparams++] = k;
        }
        hs_strv_free(v, n);
        hs_buf_free(&joined);
        return 0;
    }
    /* default: every axis that varies, except the groups, the method, and axes that follow
     * another one (a method's bundled flags, zipped axes) */
    hs_buf skipped = { 0 };
    for (size_t k = 0; k < s->nparams; k++) {
        long kk = (long)k;
        if (in_list(c->by, c->nby, kk) || kk == c->method)
            continue;
        hs_levels l;
        if (hs_levels_build(s, &kk, 1, c->rows, c->nrows, &l, err) < 0)
            return -1;
        size_t nlev = l.nlev;
        hs_levels_free(&l);
        if (nlev < 2)
            continue;
        bool failed = false, det = false;
        const char *by_what = NULL;
        if (c->method >= 0 &&
            hs_axis_determined_by(s, kk, c->method, c->rows, c->nrows, err, &failed)) {
            det = true;
            by_what = s->pnames[c->method];
        }
        for (size_t i = 0; !det && !failed && i < R->nparams; i++)
            if (hs_axis_determined_by(s, kk, R->params[i], c->rows, c->nrows, err, &failed)) {
                det = true;
                by_what = s->pnames[R->params[i]];
            }
        if (failed) {
            hs_buf_free(&skipped);
            return -1;
        }
        if (det)
            hs_buf_printf(&skipped, "%s%s (follows %s)", skipped.len ? ", " : "", s->pnames[k],
                          by_what);
        else
            R->params[R->nparams++] = kk;
    }
    if (skipped.len)
        hs_doc_note(settings,
                    "Parameter impact covers every axis that varies; left out as determined "
                    "by another axis: %s. --params to choose.",
                    hs_buf_str(&skipped));
    hs_buf_free(&skipped);
    return 0;
}

static int resolve_diags(rep *R, hs_dnode *settings, hs_error *err)
{
    const hs_sweep *s = R->s;
    const hs_ctx *c = &R->c;
    R->diags = calloc(s->nmetrics ? s->nmetrics : 1, sizeof *R->diags);
    if (!R->diags)
        return hs_err(err, "out of memory");
    const char *spec = c->o->diagnostics;
    hs_buf joined = { 0 };
    if (!spec && c->an && c->an->ndiagnostics) {
        for (size_t i = 0; i < c->an->ndiagnostics; i++)
            hs_buf_printf(&joined, "%s%s", i ? "," : "", c->an->diagnostics[i]);
        spec = hs_buf_str(&joined);
    }
    if (spec) {
        size_t n;
        char **v = hs_strv_split(spec, &n);
        if (!v) {
            hs_buf_free(&joined);
            return hs_err(err, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            long m = hs_metric_resolve(
                s, v[i], c->o->diagnostics ? "--diagnostics" : "analysis.diagnostics", err);
            if (m < 0) {
                hs_strv_free(v, n);
                hs_buf_free(&joined);
                return -1;
            }
            if (m != c->target && !in_list(R->diags, R->ndiags, m))
                R->diags[R->ndiags++] = m;
        }
        hs_strv_free(v, n);
        hs_buf_free(&joined);
        return 0;
    }
    size_t nsys = 0, nstderr = 0;
    for (size_t m = 0; m < s->nmetrics; m++) {
        if ((long)m == c->target || (long)m == c->secondary)
            continue;
        if (hs_metric_is_system(s->mnames[m])) {
            nsys++;
            continue;
        }
        if (strstr(s->mnames[m], "stderr")) {
            nstderr++;
            continue;
        }
        R->diags[R->ndiags++] = (long)m;
    }
    hs_doc_note(settings,
                "Diagnostics: every metric other than the target and the secondary (%zu), "
                "without the GPU telemetry%s%s; --diagnostics to choose.",
                R->ndiags, nsys ? " (gpu_mem_peak_mb, gpu_util_mean, gpu_energy_j)" : "",
                nstderr ? " and the standard errors (*stderr*)" : "");
    return 0;
}

/* ---- sections ----------------------------------------------------------------------------- */

static size_t count_reason(char (*names)[96], size_t *counts, size_t *n, size_t cap,
                           const char *reason)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(names[i], reason) == 0)
            return ++counts[i];
    if (*n == cap)
        return 0;
    snprintf(names[*n], 96, "%s", reason);
    counts[*n] = 1;
    return counts[(*n)++];
}

static void section_totals(rep *R, hs_dnode *g, const size_t *rows, size_t n, size_t *nvalid)
{
    const hs_sweep *s = R->s;
    hs_dnode *sec = hs_doc_section(g, "totals", "1. Runs");
    char names[32][96];
    size_t counts[32], nr = 0, valid = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows[i];
        if (R->valid[r]) {
            valid++;
            continue;
        }
        int st = sw_status(s, r);
        char reason[96];
        const hs_store_data *d;
        size_t sr = sw_store_row(s, r, &d);
        if (st == HS_OK) {
            double v = R->c.tcol[r];
            if (isnan(v))
                snprintf(reason, sizeof reason, "ok, but without the target");
            else
                snprintf(reason, sizeof reason, "ok, but the target is %sInfinity",
                         v < 0 ? "-" : "");
        } else if (st == HS_PENDING) {
            snprintf(reason, sizeof reason, "pending (not run yet)");
        } else if (st == HS_RUNNING) {
            snprintf(reason, sizeof reason, "running");
        } else if (st == HS_INTERRUPTED) {
            snprintf(reason, sizeof reason, "interrupted (runs again on resume)");
        } else {
            const char *fc = hs_sd_failure_class(d, sr);
            snprintf(reason, sizeof reason, "%s%s%s%s", hs_status_name(st), fc[0] ? " (" : "", fc,
                     fc[0] ? ")" : "");
        }
        count_reason(names, counts, &nr, 31, reason);
    }
    size_t other = n - valid;
    for (size_t i = 0; i < nr; i++)
        other -= counts[i];
    hs_doc_field(sec, "runs", "runs", dv_int((long long)n));
    hs_doc_field(sec, "valid", "valid (ok, with a finite target)", dv_int((long long)valid));
    hs_doc_field(sec, "invalid", "invalid", dv_int((long long)(n - valid)));
    if (n > valid) {
        hs_dnode *t = hs_doc_table(sec, "invalid_reasons", "Why runs are invalid", 2);
        hs_doc_col(t, 0, "reason", "reason", false, DC_BOTH);
        hs_doc_col(t, 1, "runs", "runs", true, DC_BOTH);
        for (size_t i = 0; i < nr; i++) {
            hs_doc_row(t);
            hs_doc_cell(t, 0, dv_text(names[i]));
            hs_doc_cell(t, 1, dv_int((long long)counts[i]));
        }
        if (other) {
            hs_doc_row(t);
            hs_doc_cell(t, 0, dv_text("other reasons"));
            hs_doc_cell(t, 1, dv_int((long long)other));
        }
    }
    *nvalid = valid;
}

/* The valid rows of a group bucketed by their level on lv, each bucket in grid order:
 * rows order[off[l] .. off[l+1]) have level l. */
typedef struct buckets {
    size_t *order;
    size_t *off;
} buckets;

static int bucket(const rep *R, const size_t *rows, size_t n, const hs_levels *lv, buckets *b)
{
    b->order = malloc((n ? n : 1) * sizeof *b->order);
    b->off = calloc(lv->nlev + 2, sizeof *b->off);
    if (!b->order || !b->off) {
        free(b->order);
        free(b->off);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (R->valid[rows[i]] && lv->lev[rows[i]] >= 0)
            b->off[lv->lev[rows[i]] + 2]++;
    for (size_t l = 0; l < lv->nlev; l++)
        b->off[l + 2] += b->off[l + 1];
    for (size_t i = 0; i < n; i++)
        if (R->valid[rows[i]] && lv->lev[rows[i]] >= 0)
            b->order[b->off[lv->lev[rows[i]] + 1]++] = rows[i];
    return 0;
}

static void buckets_free(buckets *b)
{
    free(b->order);
    free(b->off);
}

/* The target values of bucket l into R->x; its best row (the first in grid order on ties). */
static size_t gather_level(rep *R, const buckets *b, size_t l, size_t *best_row)
{
    size_t k = 0;
    *best_row = SIZE_MAX;
    for (size_t i = b->off[l]; i < b->off[l + 1]; i++) {
        size_t r = b->order[i];
        R->x[k++] = R->c.tcol[r];
        if (*best_row == SIZE_MAX || hs_ctx_better(&R->c, R->c.tcol[r], R->c.tcol[*best_row]))
            *best_row = r;
    }
    return k;
}

static void stats_cells(hs_dnode *t, size_t col, const hs_summary *sm, int ddof)
{
    const char *none = sm->n ? NULL : "no valid run";
    hs_doc_cell(t, col, dv_int((long long)sm->n));
    hs_doc_cell(t, col + 1, dv_num_why(sm->mean, NF_METRIC, none));
    hs_doc_cell(t, col + 2, dv_num_why(sm->std, NF_METRIC, hs_std_why(sm->n, ddof)));
    hs_doc_cell(t, col + 3, dv_num_why(sm->min, NF_METRIC, none));
    hs_doc_cell(t, col + 4, dv_num_why(sm->max, NF_METRIC, none));
}

static void stats_cols(hs_dnode *t, size_t col, int ddof)
{
    char title[64];
    hs_doc_col(t, col, "n", "n valid", true, DC_BOTH);
    hs_doc_col(t, col + 1, "mean", "mean", true, DC_BOTH);
    snprintf(title, sizeof title, "std (ddof=%d)", ddof);
    hs_doc_col(t, col + 2, "std", title, true, DC_BOTH);
    hs_doc_col(t, col + 3, "min", "min", true, DC_BOTH);
    hs_doc_col(t, col + 4, "max", "max", true, DC_BOTH);
}

static const char *ddof_words(int ddof)
{
    return ddof == 1   ? "sample std, divisor n-1"
           : ddof == 0 ? "population std, divisor n"
                       : "divisor n-ddof";
}

static int section_methods(rep *R, hs_dnode *g, const size_t *rows, size_t n, hs_error *err)
{
    const hs_sweep *s = R->s;
    const hs_ctx *c = &R->c;
    char title[512];
    if (c->method < 0) {
        hs_dnode *sec = hs_doc_section(g, "methods", "2. Method comparison");
        hs_doc_note(sec, "No method axis (the sweep has no axis 'method'; --method-axis AXIS).");
        return 0;
    }
    snprintf(title, sizeof title, "2. Method comparison: %s by %s", c->tname, s->pnames[c->method]);
    hs_dnode *sec = hs_doc_section(g, "methods", title);
    hs_levels lv;
    buckets bk;
    if (hs_levels_build(s, &c->method, 1, rows, n, &lv, err) < 0)
        return -1;
    if (bucket(R, rows, n, &lv, &bk) < 0) {
        hs_levels_free(&lv);
        return hs_err(err, "out of memory");
    }
    char sub[160];
    snprintf(sub, sizeof sub, "%s (%s); %s is better", ddof_words(c->ddof),
             c->ddof == 1   ? "pandas' default"
             : c->ddof == 0 ? "numpy's default, as in the seed report"
                            : "as asked",
             c->lower ? "lower" : "higher");
    hs_dnode *t = hs_doc_table(sec, "table", sub, 7);
    hs_doc_col(t, 0, "method", s->pnames[c->method], false, DC_BOTH);
    hs_doc_col(t, 1, "runs", "runs", true, DC_BOTH);
    stats_cols(t, 2, c->ddof);
    long best_mean = -1, best_run_level = -1;
    double best_mean_v = NAN, best_run_v = NAN;
    size_t best_run_row = SIZE_MAX;
    for (size_t l = 0; l < lv.nlev; l++) {
        size_t brow;
        size_t k = gather_level(R, &bk, l, &brow);
        hs_summary sm;
        hs_summarize(R->x, k, c->ddof, &sm);
        hs_doc_row(t);
        hs_doc_cell(t, 0, dv_text(lv.labels[l]));
        hs_doc_cell(t, 1, dv_int((long long)lv.count[l]));
        stats_cells(t, 2, &sm, c->ddof);
        if (k && hs_ctx_better(c, sm.mean, best_mean_v)) {
            best_mean_v = sm.mean;
            best_mean = (long)l;
        }
        if (brow != SIZE_MAX &&
            (best_run_row == SIZE_MAX || hs_ctx_better(c, c->tcol[brow], best_run_v) ||
             (c->tcol[brow] == best_run_v && brow != best_run_row &&
              sw_index(s, brow) < sw_index(s, best_run_row)))) {
            best_run_v = c->tcol[brow];
            best_run_row = brow;
            best_run_level = (long)l;
        }
    }
    size_t absent = 0;
    for (size_t i = 0; i < n; i++)
        absent += lv.lev[rows[i]] < 0;
    if (absent)
        hs_doc_note(sec, "%zu run%s without a value of %s %s not in the table.", absent,
                    absent == 1 ? "" : "s", s->pnames[c->method], absent == 1 ? "is" : "are");
    hs_dnode *best = hs_doc_section(sec, "best", NULL);
    if (best_mean >= 0) {
        hs_doc_field(best, "by_mean", "best method by mean", dv_text(lv.labels[best_mean]));
        hs_doc_field(best, "mean", "its mean", dv_num(best_mean_v, NF_METRIC));
        hs_doc_field(best, "by_best_run", "method of the best single run",
                     dv_text(lv.labels[best_run_level]));
        hs_doc_field(best, "best_run", "best single run", dv_num(best_run_v, NF_METRIC));
        if (best_mean != best_run_level) {
            hs_buf l1 = { 0 }, l2 = { 0 };
            hs_doc_note(sec,
                        "The best method by mean (%s) is not the method of the best single run "
                        "(%s): the mean says which method is reliably good, the maximum which "
                        "one reached the best score once.",
                        hs_short_label(&l1, lv.labels[best_mean]),
                        hs_short_label(&l2, lv.labels[best_run_level]));
            hs_buf_free(&l1);
            hs_buf_free(&l2);
        }
    } else {
        hs_doc_note(sec, "No valid run in this group: no best method.");
    }
    buckets_free(&bk);
    hs_levels_free(&lv);
    return 0;
}

static int section_params(rep *R, hs_dnode *g, const size_t *rows, size_t n, hs_error *err)
{
    const hs_sweep *s = R->s;
    const hs_ctx *c = &R->c;
    hs_dnode *lst = hs_doc_list(g, "params", "3. Parameter impact");
    if (R->nparams == 0) {
        hs_dnode *it = hs_doc_item(lst, "none");
        hs_doc_note(it, "No parameter varies besides the groups and the method (--params AXES).");
        return 0;
    }
    for (size_t p = 0; p < R->nparams; p++) {
        long k = R->params[p];
        char title[300];
        snprintf(title, sizeof title, "%s by %s", c->tname, s->pnames[k]);
        hs_dnode *it = hs_doc_item(lst, title);
        hs_doc_field(it, "param", "parameter", dv_text(s->pnames[k]));
        hs_levels lv;
        buckets bk;
        if (hs_levels_build(s, &k, 1, rows, n, &lv, err) < 0)
            return -1;
        if (bucket(R, rows, n, &lv, &bk) < 0) {
            hs_levels_free(&lv);
            return hs_err(err, "out of memory");
        }
        hs_dnode *t = hs_doc_table(it, "table", NULL, 6);
        hs_doc_col(t, 0, "value", s->pnames[k], false, DC_BOTH);
        stats_cols(t, 1, c->ddof);
        long best = -1;
        double bestv = NAN;
        for (size_t l = 0; l < lv.nlev; l++) {
            size_t brow;
            size_t cnt = gather_level(R, &bk, l, &brow);
            hs_summary sm;
            hs_summarize(R->x, cnt, c->ddof, &sm);
            hs_doc_row(t);
            hs_value v;
            if (sw_param(s, (size_t)k, lv.first[l], &v))
                hs_doc_cell(t, 0, dv_value(&v));
            else
                hs_doc_cell(t, 0, dv_text(lv.labels[l]));
            stats_cells(t, 1, &sm, c->ddof);
            if (cnt && hs_ctx_better(c, sm.mean, bestv)) {
                bestv = sm.mean;
                best = (long)l;
            }
        }
        size_t absent = 0;
        for (size_t i = 0; i < n; i++)
            absent += lv.lev[rows[i]] < 0;
        if (best >= 0) {
            hs_value v;
            if (sw_param(s, (size_t)k, lv.first[best], &v))
                hs_doc_field(it, "best", "best value by mean", dv_value(&v));
            hs_doc_field(it, "best_mean", "its mean", dv_num(bestv, NF_METRIC));
        }
        if (lv.nlev == 1)
            hs_doc_note(it, "Only one value of %s in this group: nothing to compare.",
                        s->pnames[k]);
        if (absent)
            hs_doc_note(it, "%zu run%s of this group %s no %s (a conditional axis).", absent,
                        absent == 1 ? "" : "s", absent == 1 ? "has" : "have", s->pnames[k]);
        buckets_free(&bk);
        hs_levels_free(&lv);
    }
    return 0;
}

/* A correlation of metric column `col` with the target over the group's valid rows. */
typedef struct corr_row {
    long metric;
    const char *name;
    size_t n, n_inf, n_missing, nvalid;
    hs_corr p, sp;
    double const_value;
    bool integer_valued;
} corr_row;

static const char *label_of(const hs_corr *c, char *buf, size_t cap)
{
    if (c->status != HS_CORR_OK) {
        snprintf(buf, cap, "undefined");
        return buf;
    }
    const char *st = hs_stats_strength(c->r);
    snprintf(buf, cap, "%s%s", st, c->r > 0 ? " positive" : c->r < 0 ? " negative" : "");
    return buf;
}

static int compute_corr(rep *R, const double *col, const size_t *rows, size_t n, double *ry_all,
                        bool *ry_ready, size_t nvalid, corr_row *cr)
{
    size_t k = 0;
    cr->n_inf = cr->n_missing = 0;
    cr->nvalid = nvalid;
    cr->integer_valued = true;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows[i];
        if (!R->valid[r])
            continue;
        double v = col[r];
        if (isnan(v)) {
            cr->n_missing++;
            continue;
        }
        if (isinf(v)) {
            cr->n_inf++;
            continue;
        }
        if (v != nearbyint(v) || fabs(v) > 1e9)
            cr->integer_valued = false;
        R->x[k] = v;
        R->y[k] = R->c.tcol[r];
        k++;
    }
    cr->n = k;
    cr->const_value = k ? R->x[0] : NAN;
    hs_stats_pearson(R->x, R->y, k, &cr->p);
    if (cr->p.status == HS_CORR_TOO_SHORT || cr->p.status == HS_CORR_CONSTANT_X ||
        cr->p.status == HS_CORR_CONSTANT_Y) {
        cr->sp = cr->p;
        return 0;
    }
    /* Spearman: the target's ranks over all valid rows are reused when no pair is missing */
    if (hs_stats_rank(R->x, k, R->rx) < 0)
        return -1;
    const double *ry = R->ry;
    if (k == nvalid) {
        if (!*ry_ready) {
            if (hs_stats_rank(R->y, k, ry_all) < 0)
                return -1;
            *ry_ready = true;
        }
        ry = ry_all;
    } else if (hs_stats_rank(R->y, k, R->ry) < 0) {
        return -1;
    }
    hs_stats_spearman_ranked(R->rx, ry, k, &cr->sp);
    return cr->sp.status == HS_CORR_NOMEM ? -1 : 0;
}

static void corr_cols(hs_dnode *t, const char *first_key, const char *first_title)
{
    hs_doc_col(t, 0, first_key, first_title, false, DC_BOTH);
    hs_doc_col(t, 1, "n", "n", true, DC_BOTH);
    hs_doc_col(t, 2, "pearson_r", "Pearson r", true, DC_BOTH);
    hs_doc_col(t, 3, "pearson_p", "p", true, DC_BOTH);
    hs_doc_col(t, 4, "pearson_ci", "95% CI", true, DC_TEXT_ONLY);
    hs_doc_col(t, 5, "pearson_ci_low", "", true, DC_DATA_ONLY);
    hs_doc_col(t, 6, "pearson_ci_high", "", true, DC_DATA_ONLY);
    hs_doc_col(t, 7, "pearson_label", "strength", false, DC_BOTH);
    hs_doc_col(t, 8, "spearman_rho", "Spearman \xCF\x81", true, DC_BOTH);
    hs_doc_col(t, 9, "spearman_p", "p", true, DC_BOTH);
    hs_doc_col(t, 10, "spearman_ci", "95% CI", true, DC_TEXT_ONLY);
    hs_doc_col(t, 11, "spearman_ci_low", "", true, DC_DATA_ONLY);
    hs_doc_col(t, 12, "spearman_ci_high", "", true, DC_DATA_ONLY);
    hs_doc_col(t, 13, "spearman_label", "strength", false, DC_BOTH);
    hs_doc_col(t, 14, "excluded_infinite", "", true, DC_DATA_ONLY);
    hs_doc_col(t, 15, "excluded_missing", "", true, DC_DATA_ONLY);
}

/* Why a correlation is undefined, as a sentence about metric `name`. */
static void corr_why(const corr_row *cr, const char *name, const char *tname, char *buf, size_t cap)
{
    char v[64];
    switch (cr->p.status) {
    case HS_CORR_TOO_SHORT:
        snprintf(buf, cap,
                 "%s: only %zu run%s with a finite value beside the target; a correlation needs "
                 "at least 3",
                 name, cr->n, cr->n == 1 ? "" : "s");
        break;
    case HS_CORR_CONSTANT_X:
        hs_fmt_num(cr->const_value, NF_METRIC, v, sizeof v);
        snprintf(buf, cap,
                 "%s is constant (%s in all %zu runs): a correlation is undefined for a "
                 "column without variance",
                 name, v, cr->n);
        break;
    case HS_CORR_CONSTANT_Y:
        snprintf(buf, cap,
                 "%s: the target %s is constant over these %zu runs, so no correlation is "
                 "defined",
                 name, tname, cr->n);
        break;
    default:
        snprintf(buf, cap, "%s: correlation undefined", name);
    }
}

static void corr_cells(hs_dnode *t, const corr_row *cr, const char *name, const char *tname)
{
    char why[1024], buf[96], lo[32], hi[32];
    bool ok = cr->p.status == HS_CORR_OK;
    if (!ok)
        corr_why(cr, name, tname, why, sizeof why);
    hs_doc_cell(t, 0, dv_text(name));
    hs_doc_cell(t, 1, dv_int((long long)cr->n));
    const hs_corr *cs[2] = { &cr->p, &cr->sp };
    for (int j = 0; j < 2; j++) {
        const hs_corr *cc = cs[j];
        size_t b = 2 + (size_t)j * 6;
        const char *w = ok ? NULL : why;
        hs_doc_cell(t, b, dv_num_why(cc->r, NF_R, w));
        hs_doc_cell(t, b + 1, dv_num_why(cc->p, NF_P, w));
        const char *ciw = w ? w : cr->n < 4 ? "a 95% CI by Fisher's z needs n >= 4" : NULL;
        if (ok && cr->n >= 4) {
            hs_fmt_num(cc->lo, NF_R, lo, sizeof lo);
            hs_fmt_num(cc->hi, NF_R, hi, sizeof hi);
            snprintf(buf, sizeof buf, "[%s, %s]", lo, hi);
            hs_doc_cell(t, b + 2, dv_text(buf));
        } else {
            hs_doc_cell(t, b + 2, dv_null(ciw));
        }
        hs_doc_cell(t, b + 3, dv_num_why(cc->lo, NF_R, ciw));
        hs_doc_cell(t, b + 4, dv_num_why(cc->hi, NF_R, ciw));
        hs_doc_cell(t, b + 5, dv_text(label_of(cc, buf, sizeof buf)));
    }
    hs_doc_cell(t, 14, dv_int((long long)cr->n_inf));
    hs_doc_cell(t, 15, dv_int((long long)cr->n_missing));
}

/* Sentences for what a correlation row excluded or could not do. */
static void corr_notes(hs_dnode *sec, const corr_row *cr, const char *name, const char *tname)
{
    if (cr->n_inf)
        hs_doc_note(sec, "%s: %zu of %zu valid run%s had Infinity and %s excluded; n = %zu.", name,
                    cr->n_inf, cr->nvalid, cr->nvalid == 1 ? "" : "s",
                    cr->n_inf == 1 ? "was" : "were", cr->n);
    if (cr->n_missing && cr->n)
        hs_doc_note(sec, "%s: %zu valid run%s did not record it; n = %zu.", name, cr->n_missing,
                    cr->n_missing == 1 ? "" : "s", cr->n);
    if (cr->p.status != HS_CORR_OK) {
        char why[1024];
        corr_why(cr, name, tname, why, sizeof why);
        hs_doc_note(sec, "%s.", why);
    } else if (cr->n < 4) {
        hs_doc_note(sec,
                    "%s: n = %zu, too few for a 95%% confidence interval (Fisher's z needs "
                    "n >= 4).",
                    name, cr->n);
    }
}

static int cmp_corr(const void *a, const void *b)
{
    const corr_row *x = a, *y = b;
    bool dx = x->p.status == HS_CORR_OK, dy = y->p.status == HS_CORR_OK;
    if (dx != dy)
        return dx ? -1 : 1;
    if (dx) {
        double ax = fabs(x->p.r), ay = fabs(y->p.r);
        if (ax != ay)
            return ax > ay ? -1 : 1;
    }
    return (x->metric > y->metric) - (x->metric < y->metric);
}

static int section_corr(rep *R, hs_dnode *g, const size_t *rows, size_t n, size_t nvalid,
                        corr_row **out_rows, size_t *out_n)
{
    const hs_sweep *s = R->s;
    const hs_ctx *c = &R->c;
    char title[300];
    snprintf(title, sizeof title, "4. Correlation of the diagnostics with %s", c->tname);
    hs_dnode *sec = hs_doc_section(g, "correlations", title);
    hs_doc_note(sec,
                "Pearson r and Spearman \xCF\x81 over the valid runs that recorded the "
                "diagnostic, each with a two-sided p-value (Student's t, n-2 df) and a 95%% CI "
                "by Fisher's z with standard error 1/\xE2\x88\x9A(n-3) for Pearson and "
                "1.06/\xE2\x88\x9A(n-3) for Spearman (Fieller, Hartley & Pearson 1957). Sorted by "
                "|r|; |r| > 0.7 strong, > 0.5 moderate, else weak. Infinity is excluded and "
                "counted, never turned into NaN.");
    corr_row *cr = calloc(R->ndiags ? R->ndiags : 1, sizeof *cr);
    if (!cr)
        return -1;
    double *ry_all = malloc((nvalid ? nvalid : 1) * sizeof *ry_all);
    bool ry_ready = false;
    if (!ry_all) {
        free(cr);
        return -1;
    }
    size_t ncr = 0;
    hs_buf absent = { 0 };
    size_t nabsent = 0;
    for (size_t i = 0; i < R->ndiags; i++) {
        corr_row row = { .metric = R->diags[i], .name = s->mnames[R->diags[i]] };
        if (compute_corr(R, s->mcols[R->diags[i]], rows, n, ry_all, &ry_ready, nvalid, &row) < 0) {
            free(cr);
            free(ry_all);
            hs_buf_free(&absent);
            return -1;
        }
        if (row.n == 0 && row.n_inf == 0) {
            if (nabsent++ < 12)
                hs_buf_printf(&absent, "%s%s", absent.len ? ", " : "", row.name);
            continue;
        }
        cr[ncr++] = row;
    }
    free(ry_all);
    qsort(cr, ncr, sizeof *cr, cmp_corr);
    hs_dnode *t = hs_doc_table(sec, "table", NULL, 16);
    corr_cols(t, "metric", "diagnostic");
    for (size_t i = 0; i < ncr; i++) {
        hs_doc_row(t);
        corr_cells(t, &cr[i], cr[i].name, c->tname);
    }
    for (size_t i = 0; i < ncr; i++)
        corr_notes(sec, &cr[i], cr[i].name, c->tname);
    if (nabsent)
        hs_doc_note(sec, "Not recorded by any valid run of this group (%zu): %s%s.", nabsent,
                    hs_buf_str(&absent), nabsent > 12 ? ", ..." : "");
    if (R->ndiags == 0)
        hs_doc_note(sec, "No diagnostic metrics (--diagnostics METRICS).");
    hs_buf_free(&absent);
    *out_rows = cr;
    *out_n = ncr;
    return 0;
}

typedef struct ivalue {
    double v;
    size_t n;
    double sum;
} ivalue;

static int cmp_ivalue(const void *a, const void *b)
{
    const ivalue *x = a, *y = b;
    return (x->v > y->v) - (x->v < y->v);
}

static int section_integer(rep *R, hs_dnode *g, const size_t *rows, size_t n, const corr_row *cr,
                           size_t ncr)
{
    const hs_sweep *s = R->s;
    const hs_ctx *c = &R->c;
    hs_dnode *lst = hs_doc_list(g, "integer_diagnostics", "5. Integer-valued diagnostics");
    size_t shown = 0;
    for (size_t i = 0; i < ncr; i++) {
        const corr_row *row = &cr[i];
        if (!row->integer_valued || row->n < 2 || row->p.status == HS_CORR_CONSTANT_X)
            continue;
        ivalue vals[51];
        size_t nv = 0;
        bool many = false;
        const double *col = s->mcols[row->metric];
        for (size_t j = 0; j < n && !many; j++) {
            size_t r = rows[j];
            if (!R->valid[r] || !isfinite(col[r]))
                continue;
            size_t k;
            for (k = 0; k < nv; k++)
                if (vals[k].v == col[r])
                    break;
            if (k == nv) {
                if (nv == 50) {
                    many = true;
                    break;
                }
                vals[nv++] = (ivalue){ col[r], 0, 0 };
            }
            vals[k].n++;
        }
        if (many || nv < 2)
            continue;
        qsort(vals, nv, sizeof *vals, cmp_ivalue);
        char title[300];
        snprintf(title, sizeof title, "%s by %s", c->tname, row->name);
        hs_dnode *it = hs_doc_item(lst, title);
        hs_doc_field(it, "metric", "diagnostic", dv_text(row->name));
        char r[32];
        hs_fmt_num(row->p.r, NF_R, r, sizeof r);
        hs_doc_field(it, "pearson_r", "Pearson r with the target",
                     dv_num_why(row->p.r, NF_R, row->p.status == HS_CORR_OK ? NULL : "undefined"));
        hs_dnode *t = hs_doc_table(it, "table", NULL, 6);
        hs_doc_col(t, 0, "value", row->name, true, DC_BOTH);
        stats_cols(t, 1, c->ddof);
        for (size_t k = 0; k < nv; k++) {
            size_t m = 0;
            for (size_t j = 0; j < n; j++) {
                size_t rr = rows[j];
                if (R->valid[rr] && col[rr] == vals[k].v)
                    R->x[m++] = c->tcol[rr];
            }
            hs_summary sm;
            hs_summarize(R->x, m, c->ddof, &sm);
            hs_doc_row(t);
            hs_doc_cell(t, 0, dv_int((long long)vals[k].v));
            stats_cells(t, 1, &sm, c->ddof);
        }
        shown++;
    }
    if (!shown) {
        hs_dnode *it = hs_doc_item(lst, "none");
        hs_doc_note(it, "No diagnostic takes only integer values (with 2 to 50 distinct values) "
                        "in this group.");
    }
    return 0;
}

static int section_secondary(rep *R, hs_dnode *g, const size_t *rows, size_t n, size_t nvalid,
                             corr_row *out)
{
    const hs_ctx *c = &R->c;
    char title[400];
    memset(out, 0, sizeof *out);
    out->p.status = HS_CORR_TOO_SHORT;
    if (c->secondary < 0 || c->secondary == c->target) {
        hs_dnode *sec = hs_doc_section(g, "secondary", "6. Secondary metric and target");
        hs_doc_note(sec, "No secondary metric (--secondary METRIC, e.g. a perplexity).");
        return 0;
    }
    snprintf(title, sizeof title, "6. %s and %s", c->sname, c->tname);
    hs_dnode *sec = hs_doc_section(g, "secondary", title);
    bool ready = false;
    double *ry_all = malloc((nvalid ? nvalid : 1) * sizeof *ry_all);
    if (!ry_all)
        return -1;
    corr_row row = { .metric = c->secondary, .name = c->sname };
    int rc = compute_corr(R, c->scol, rows, n, ry_all, &ready, nvalid, &row);
    free(ry_all);
    if (rc < 0)
        return -1;
    hs_dnode *t = hs_doc_table(sec, "table", NULL, 16);
    corr_cols(t, "metric", "metric");
    hs_doc_row(t);
    corr_cells(t, &row, row.name, c->tname);
    corr_notes(sec, &row, row.name, c->tname);
    *out = row;
    return 0;
}

/* The label of a matched task metric: what the pattern's wildcards matched. */
static void task_label(const char *name, size_t pre, size_t suf, char *buf, size_t cap)
{
    size_t l = strlen(name);
    if (pre + suf >= l) {
        snprintf(buf, cap, "%s", name);
        return;
    }
    snprintf(buf, cap, "%.*s", (int)(l - pre - suf), name + pre);
}

/* Metrics matching the tasks pattern (stderr entries only if the pattern names them). */
static long *task_metrics(const hs_sweep *s, const char *pattern, size_t *n, size_t *pre,
                          size_t *suf)
{
    long *v = malloc((s->nmetrics ? s->nmetrics : 1) * sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    bool want_stderr = strstr(pattern, "stderr") != NULL;
    for (size_t m = 0; m < s->nmetrics; m++) {
        if (fnmatch(pattern, s->mnames[m], 0) != 0)
            continue;
        if (!want_stderr && strstr(s->mnames[m], "stderr"))
            continue;
        v[(*n)++] = (long)m;
    }
    /* the common prefix and suffix, cut at '/' (or kept whole when they end there) */
    *pre = *suf = 0;
    if (*n > 1) {
        const char *a = s->mnames[v[0]];
        size_t p = strlen(a), q = strlen(a);
        for (size_t i = 1; i < *n; i++) {
            const char *b = s->mnames[v[i]];
            size_t j = 0;
            while (j < p && a[j] == b[j])
                j++;
            p = j;
            size_t la = strlen(a), lb = strlen(b), k = 0;
            while (k < q && k < la && k < lb && a[la - 1 - k] == b[lb - 1 - k])
                k++;
            q = k;
        }
        while (p > 0 && a[p - 1] != '/')
            p--;
        size_t la = strlen(a);
        while (q > 0 && a[la - q] != '/')
            q--;
        *pre = p;
        *suf = q;
    }
    return v;
}

static size_t best_row_of(rep *R, const size_t *rows, size_t n, size_t *ties)
{
    size_t best = SIZE_MAX;
    *ties = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows[i];
        if (!R->valid[r])
            continue;
        if (best == SIZE_MAX || hs_ctx_better(&R->c, R->c.tcol[r], R->c.tcol[best])) {
            best = r;
            *ties = 1;
        } else if (R->c.tcol[r] == R->c.tcol[best]) {
            (*ties)++;
        }
    }
    return best;
}

static void section_best(rep *R, hs_dnode *g, const size_t *rows, size_t n)
{
    const hs_sweep *s = R->s;
    const hs_ctx *c = &R->c;
    hs_dnode *sec = hs_doc_section(g, "best", "7. Best configuration");
    size_t ties;
    size_t b = best_row_of(R, rows, n, &ties);
    if (b == SIZE_MAX) {
        hs_doc_note(sec, "No valid run in this group.");
        return;
    }
    hs_doc_field(sec, "run_id", "run", dv_text(sw_run_id(s, b)));
    hs_dnode *ps = hs_doc_section(sec, "params", NULL);
    for (size_t k = 0; k < s->nparams; k++) {
        hs_value v;
        if (sw_param(s, k, b, &v))
            hs_doc_field(ps, s->pnames[k], s->pnames[k], dv_value(&v));
    }
    hs_doc_field(sec, "target", c->tname, dv_num(c->tcol[b], NF_METRIC));
    if (c->secondary >= 0)
        hs_doc_field(sec, "secondary", c->sname,
                     dv_num_why(c->scol[b], NF_METRIC, "this run did not record it"));
    if (c->has_avg && c->target != -2)
        hs_doc_field(sec, "avg", "avg (--avg)",
                     dv_num_why(c->avg.values[b], NF_METRIC, "some averaged task is missing"));
    hs_doc_field(sec, "ties", "runs with this score", dv_int((long long)ties));
    if (ties > 1)
        hs_doc_note(sec,
                    "%zu runs tie at this score; the first in grid order is shown (grid index "
                    "%lld).",
                    ties, (long long)sw_index(s, b));
    /* the diagnostics of this run */
    hs_dnode *dt = hs_doc_table(sec, "diagnostics", "Its diagnostics", 2);
    hs_doc_col(dt, 0, "metric", "metric", false, DC_BOTH);
    hs_doc_col(dt, 1, "value", "value", true, DC_BOTH);
    for (size_t i = 0; i < R->ndiags; i++) {
        double v = s->mcols[R->diags[i]][b];
        if (isnan(v))
            continue;
        hs_doc_row(dt);
        hs_doc_cell(dt, 0, dv_text(s->mnames[R->diags[i]]));
        hs_doc_cell(dt, 1, dv_num(v, NF_METRIC));
    }
    if (!c->tasks) {
        hs_doc_note(sec, "Per-task scores: give --tasks PATTERN (a glob over metric names, e.g. "
                         "'metrics/zeroshot/*/accuracy').");
        return;
    }
    size_t nt, pre, suf;
    long *tm = task_metrics(s, c->tasks, &nt, &pre, &suf);
    if (!tm)
        return;
    hs_dnode *tt = hs_doc_table(sec, "tasks", "Per-task scores", 4);
    hs_doc_col(tt, 0, "task", "task", false, DC_BOTH);
    hs_doc_col(tt, 1, "metric", "metric", false, DC_BOTH);
    hs_doc_col(tt, 2, "name", "full name", false, DC_DATA_ONLY);
    hs_doc_col(tt, 3, "value", "value", true, DC_BOTH);
    for (size_t i = 0; i < nt; i++) {
        char label[256];
        const char *nm = s->mnames[tm[i]], *task, *leaf;
        size_t tl;
        hs_metric_task(nm, &task, &tl, &leaf);
        if (tl)
            snprintf(label, sizeof label, "%.*s", (int)tl, task);
        else
            task_label(nm, pre, suf, label, sizeof label);
        hs_doc_row(tt);
        hs_doc_cell(tt, 0, dv_text(label));
        hs_doc_cell(tt, 1, dv_text(tl ? leaf : nm));
        hs_doc_cell(tt, 2, dv_text(nm));
        hs_doc_cell(tt, 3, dv_num_why(s->mcols[tm[i]][b], NF_METRIC, "this run did not record it"));
    }
    if (nt == 0)
        hs_doc_note(sec, "No metric matches --tasks '%s'.", c->tasks);
    free(tm);
}

/* What the cross-group table needs of a group. */
typedef struct gsum {
    const char *label;
    size_t nvalid;
    size_t best_row;
    long best_method_level;
    char *best_method; /* NULL: none */
    double best_method_mean;
    char *best_run_method;
} gsum;

static int group_summary(rep *R, const size_t *rows, size_t n, gsum *gs, hs_error *err)
{
    const hs_ctx *c = &R->c;
    size_t ties;
    gs->best_row = best_row_of(R, rows, n, &ties);
    gs->best_method = gs->best_run_method = NULL;
    gs->best_method_mean = NAN;
    if (c->method < 0)
        return 0;
    hs_levels lv;
    buckets bk;
    if (hs_levels_build(R->s, &c->method, 1, rows, n, &lv, err) < 0)
        return -1;
    if (bucket(R, rows, n, &lv, &bk) < 0) {
        hs_levels_free(&lv);
        return hs_err(err, "out of memory");
    }
    for (size_t l = 0; l < lv.nlev; l++) {
        size_t brow;
        size_t k = gather_level(R, &bk, l, &brow);
        double m = hs_stats_mean(R->x, k);
        if (k && hs_ctx_better(c, m, gs->best_method_mean)) {
            gs->best_method_mean = m;
            gs->best_method_level = (long)l;
        }
    }
    bool nomem = false;
    if (!isnan(gs->best_method_mean))
        nomem = !(gs->best_method = strdup(lv.labels[gs->best_method_level]));
    buckets_free(&bk);
    hs_levels_free(&lv);
    if (gs->best_row != SIZE_MAX) {
        hs_buf b = { 0 };
        hs_param_text(R->s, c->method, gs->best_row, &b);
        gs->best_run_method = hs_buf_steal(&b);
    }
    if (nomem || (gs->best_row != SIZE_MAX && !gs->best_run_method))
        return hs_err(err, "out of memory");
    return 0;
}

static const gsum *sort_gs;
static const rep *sort_rep;
static int cmp_gsum(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const gsum *x = &sort_gs[i], *y = &sort_gs[j];
    if ((x->best_row == SIZE_MAX) != (y->best_row == SIZE_MAX))
        return x->best_row == SIZE_MAX ? 1 : -1;
    if (x->best_row != SIZE_MAX) {
        double vx = sort_rep->c.tcol[x->best_row], vy = sort_rep->c.tcol[y->best_row];
        if (vx != vy)
            return hs_ctx_better(&sort_rep->c, vx, vy) ? -1 : 1;
    }
    return (i > j) - (i < j);
}

static void section_cross(rep *R, hs_dnode *root, gsum *gs, size_t ng, const char *axis)
{
    const hs_sweep *s = R->s;
    const hs_ctx *c = &R->c;
    hs_dnode *sec = hs_doc_section(root, "cross_group", "Comparison across groups");
    size_t *order = malloc((ng ? ng : 1) * sizeof *order);
    if (!order)
        return;
    for (size_t i = 0; i < ng; i++)
        order[i] = i;
    sort_gs = gs;
    sort_rep = R;
    qsort(order, ng, sizeof *order, cmp_gsum);
    hs_dnode *t = hs_doc_table(sec, "table", "Groups by their best run", 8);
    hs_doc_col(t, 0, "group", axis, false, DC_BOTH);
    hs_doc_col(t, 1, "valid", "valid runs", true, DC_BOTH);
    hs_doc_col(t, 2, "best_run_method", "best run's method", false, DC_BOTH);
    hs_doc_col(t, 3, "best_target", c->tname, true, DC_BOTH);
    hs_doc_col(t, 4, "best_secondary", c->sname ? c->sname : "secondary", true,
               c->sname ? DC_BOTH : DC_DATA_ONLY);
    hs_doc_col(t, 5, "best_run_id", "run", false, DC_BOTH);
    hs_doc_col(t, 6, "best_method_by_mean", "best method by mean", false, DC_BOTH);
    hs_doc_col(t, 7, "best_method_mean", "its mean", true, DC_BOTH);
    for (size_t i = 0; i < ng; i++) {
        const gsum *g = &gs[order[i]];
        hs_doc_row(t);
        hs_doc_cell(t, 0, dv_text(g->label));
        hs_doc_cell(t, 1, dv_int((long long)g->nvalid));
        if (g->best_row == SIZE_MAX) {
            for (size_t k = 2; k < 8; k++)
                hs_doc_cell(t, k, dv_null("no valid run in this group"));
            continue;
        }
        hs_doc_cell(t, 2,
                    c->method >= 0 && g->best_run_method ? dv_text(g->best_run_method)
                                                         : dv_null("no method axis"));
        hs_doc_cell(t, 3, dv_num(c->tcol[g->best_row], NF_METRIC));
        hs_doc_cell(t, 4,
                    c->secondary >= 0 ? dv_num_why(c->scol[g->best_row], NF_METRIC,
                                                   "the best run did not record it")
                                      : dv_null("no secondary metric"));
        hs_doc_cell(t, 5, dv_text(sw_run_id(s, g->best_row)));
        hs_doc_cell(t, 6, g->best_method ? dv_text(g->best_method) : dv_null("no method axis"));
        hs_doc_cell(t, 7, dv_num_why(g->best_method_mean, NF_METRIC, "no method axis"));
    }
    const gsum *top = ng ? &gs[order[0]] : NULL;
    if (top && top->best_row != SIZE_MAX) {
        hs_dnode *ob = hs_doc_section(sec, "overall_best", "Overall best");
        hs_doc_field(ob, "group", axis, dv_text(top->label));
        hs_doc_field(ob, "run_id", "run", dv_text(sw_run_id(s, top->best_row)));
        if (c->method >= 0 && top->best_run_method)
            hs_doc_field(ob, "method", s->pnames[c->method], dv_text(top->best_run_method));
        hs_doc_field(ob, "target", c->tname, dv_num(c->tcol[top->best_row], NF_METRIC));
        if (c->secondary >= 0)
            hs_doc_field(ob, "secondary", c->sname,
                         dv_num_why(c->scol[top->best_row], NF_METRIC, "not recorded"));
        size_t same = 0;
        for (size_t i = 1; i < ng; i++)
            if (gs[order[i]].best_row != SIZE_MAX &&
                c->tcol[gs[order[i]].best_row] == c->tcol[top->best_row])
                same++;
        if (same)
            hs_doc_note(ob,
                        "%zu other group%s reach the same best score; the first in grid order "
                        "is named.",
                        same, same == 1 ? "" : "s");
    } else {
        hs_doc_note(sec, "No group has a valid run.");
    }
    free(order);
}

/* ---- the report -------------------------------------------------------------------------- */

int hs_analyze_report(const hs_sweep *s, const hs_analyze_opts *o, FILE *out, hs_error *err)
{
    rep R = { 0 };
    R.s = s;
    hs_doc *doc = NULL;
    hs_levels groups = { 0 };
    gsum *gs = NULL;
    int rc = -1;
    if (hs_ctx_init(&R.c, s, o, true, err) < 0)
        return -1;
    char title[512];
    snprintf(title, sizeof title, "Report: sweep %s, target %s", s->name, R.c.tname);
    doc = hs_doc_create(title);
    if (!doc) {
        hs_err(err, "out of memory");
        goto done;
    }
    hs_dnode *root = hs_doc_root(doc);
    hs_doc_field(root, "command", NULL, dv_text("report"));
    hs_dnode *st = hs_ctx_describe(&R.c, root);
    if (resolve_params(&R, st, err) < 0 || resolve_diags(&R, st, err) < 0)
        goto done;
    hs_buf pl = { 0 };
    for (size_t i = 0; i < R.nparams; i++)
        hs_buf_printf(&pl, "%s%s", i ? "," : "", s->pnames[R.params[i]]);
    hs_doc_field(st, "params", "parameter impact", dv_text(R.nparams ? hs_buf_str(&pl) : "(none)"));
    hs_buf_reset(&pl);
    for (size_t i = 0; i < R.ndiags; i++)
        hs_buf_printf(&pl, "%s%s", i ? "," : "", s->mnames[R.diags[i]]);
    hs_doc_field(st, "diagnostics", "diagnostics", dv_text(R.ndiags ? hs_buf_str(&pl) : "(none)"));
    hs_buf_free(&pl);

    size_t nr = s->nrows ? s->nrows : 1;
    R.valid = calloc(nr, sizeof *R.valid);
    R.x = malloc(nr * sizeof *R.x);
    R.y = malloc(nr * sizeof *R.y);
    R.rx = malloc(nr * sizeof *R.rx);
    R.ry = malloc(nr * sizeof *R.ry);
    R.grows = malloc(nr * sizeof *R.grows);
    if (!R.valid || !R.x || !R.y || !R.rx || !R.ry || !R.grows) {
        hs_err(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < R.c.nrows; i++) {
        size_t r = R.c.rows[i];
        R.valid[r] = sw_status(s, r) == HS_OK && isfinite(R.c.tcol[r]);
    }
    if (hs_levels_build(s, R.c.by, R.c.nby, R.c.rows, R.c.nrows, &groups, err) < 0)
        goto done;
    hs_buf axis = { 0 };
    for (size_t i = 0; i < R.c.nby; i++)
        hs_buf_printf(&axis, "%s%s", i ? "," : "", s->pnames[R.c.by[i]]);
    if (!R.c.nby)
        hs_buf_puts(&axis, "group");
    gs = calloc(groups.nlev ? groups.nlev : 1, sizeof *gs);
    if (!gs) {
        hs_buf_free(&axis);
        hs_err(err, "out of memory");
        goto done;
    }
    hs_dnode *lst = hs_doc_list(root, "groups", NULL);
    size_t ungrouped = 0;
    for (size_t i = 0; i < R.c.nrows; i++)
        ungrouped += groups.lev[R.c.rows[i]] < 0;
    if (ungrouped)
        hs_doc_note(st, "%zu run%s lack the grouping axis and belong to no group.", ungrouped,
                    ungrouped == 1 ? "" : "s");
    for (size_t gi = 0; gi < groups.nlev; gi++) {
        size_t n = 0;
        for (size_t i = 0; i < R.c.nrows; i++)
            if (groups.lev[R.c.rows[i]] == (int32_t)gi)
                R.grows[n++] = R.c.rows[i];
        hs_buf gtitle = { 0 };
        if (R.c.nby == 1)
            hs_buf_printf(&gtitle, "%s = %s", hs_buf_str(&axis), groups.labels[gi]);
        else
            hs_buf_puts(&gtitle, groups.labels[gi]);
        hs_dnode *g = hs_doc_item(lst, hs_buf_str(&gtitle));
        hs_buf_free(&gtitle);
        if (R.c.nby == 1) {
            hs_value v;
            if (sw_param(s, (size_t)R.c.by[0], groups.first[gi], &v))
                hs_doc_field(g, "group", NULL, dv_value(&v));
        } else {
            hs_doc_field(g, "group", NULL, dv_text(groups.labels[gi]));
        }
        size_t nvalid;
        section_totals(&R, g, R.grows, n, &nvalid);
        corr_row *cr = NULL, sec_row;
        size_t ncr = 0;
        if (section_methods(&R, g, R.grows, n, err) < 0 ||
            section_params(&R, g, R.grows, n, err) < 0) {
            hs_buf_free(&axis);
            goto done;
        }
        if (section_corr(&R, g, R.grows, n, nvalid, &cr, &ncr) < 0 ||
            section_integer(&R, g, R.grows, n, cr, ncr) < 0 ||
            section_secondary(&R, g, R.grows, n, nvalid, &sec_row) < 0) {
            free(cr);
            hs_buf_free(&axis);
            hs_err(err, "out of memory");
            goto done;
        }
        free(cr);
        section_best(&R, g, R.grows, n);
        gs[gi].label = groups.labels[gi];
        gs[gi].nvalid = nvalid;
        if (group_summary(&R, R.grows, n, &gs[gi], err) < 0) {
            hs_buf_free(&axis);
            goto done;
        }
    }
    section_cross(&R, root, gs, groups.nlev, hs_buf_str(&axis));
    hs_buf_free(&axis);
    rc = hs_doc_write(doc, out, o->format, err);
done:
    for (size_t gi = 0; gs && gi < groups.nlev; gi++) {
        free(gs[gi].best_method);
        free(gs[gi].best_run_method);
    }
    free(gs);
    hs_levels_free(&groups);
    hs_doc_destroy(doc);
    free(R.valid);
    free(R.x);
    free(R.y);
    free(R.rx);
    free(R.ry);
    free(R.grows);
    free(R.diags);
    free(R.params);
    hs_ctx_free(&R.c);
    return rc;
}
