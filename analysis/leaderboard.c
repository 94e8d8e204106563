/* hypersweep-analyze leaderboard: per group, every configuration ranked against a baseline
 * (--baseline method=fp16), with absolute deltas, resources, per-task and group tables, passkey
 * retrieval by depth, the failed methods, and integrity checks. */
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "result.h"
#include "strmap.h"

typedef struct lb {
    hs_ctx c;
    const hs_sweep *s;
    long base_axis;
    const char *base_value;
    bool *valid;
    long *label_axes; /* axes that tell configurations apart in labels */
    size_t nlabel_axes;
    char **labels; /* per sweep row, for the rows of the current group */
    long mem_metric;
    long time_metrics[3];
    size_t ntime;
} lb;

/* ---- helpers ----------------------------------------------------------------------------- */

static bool is_baseline(const lb *L, size_t row)
{
    hs_buf b = { 0 };
    hs_param_text(L->s, L->base_axis, row, &b);
    bool yes = strcmp(hs_buf_str(&b), L->base_value) == 0;
    hs_buf_free(&b);
    return yes;
}

/* Deltas of a metric: percentage points when it is an accuracy in [0, 1] (also [0, 100] as
 * percent: then the plain difference is already in points). */
typedef enum dkind { D_ABS = 0, D_PP_FRACTION, D_PP_PERCENT } dkind;

static dkind delta_kind(const lb *L, const double *col, const char *name, const size_t *rows,
                        size_t n)
{
    (void)L;
    if (!hs_metric_is_accuracy(name))
        return D_ABS;
    bool frac = true, pct = true;
    for (size_t i = 0; i < n; i++) {
        double v = col[rows[i]];
        if (!isfinite(v))
            continue;
        if (v < 0 || v > 1)
            frac = false;
        if (v < 0 || v > 100)
            pct = false;
    }
    return frac ? D_PP_FRACTION : pct ? D_PP_PERCENT : D_ABS;
}

static hs_dv delta_value(dkind k, double v, double base, const char *why_base)
{
    if (why_base)
        return dv_null(why_base);
    if (isnan(v))
        return dv_null("no value");
    double d = v - base;
    if (k == D_PP_FRACTION)
        return dv_num(d * 100.0, NF_PP);
    if (k == D_PP_PERCENT)
        return dv_num(d, NF_PP);
    return dv_num(d, NF_DELTA);
}

static void delta_title(dkind k, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "\xCE\x94 %s (%s)", name, k == D_ABS ? "absolute" : "percentage points");
}

/* The configuration's label: its method (or baseline axis) value, then the axes that vary,
 * leaving out the skip axes. */
static void make_label_skip(const lb *L, size_t row, const long *skip, size_t nskip, hs_buf *b)
{
    const hs_sweep *s = L->s;
    long head = L->c.method >= 0 ? L->c.method : L->base_axis;
    hs_param_text(s, head, row, b);
    bool first = true;
    for (size_t i = 0; i < L->nlabel_axes; i++) {
        hs_value v;
        if (hs_axis_in(skip, nskip, L->label_axes[i]) || L->label_axes[i] == head ||
            !sw_param(s, (size_t)L->label_axes[i], row, &v))
            continue;
        hs_buf_printf(b, "%s%s=", first ? " " : ", ", s->pnames[L->label_axes[i]]);
        hs_value_put_text(b, &v);
        first = false;
    }
    if (is_baseline(L, row))
        hs_buf_puts(b, " (baseline)");
}

static void make_label(const lb *L, size_t row, hs_buf *b)
{
    make_label_skip(L, row, NULL, 0, b);
}

/* A key of a row's parameters, numbers compared by value, leaving out the skip axes. */
static void param_key(const hs_sweep *s, size_t r, const long *skip, size_t nskip, hs_buf *key)
{
    for (size_t k = 0; k < s->nparams; k++) {
        hs_value v;
        if (hs_axis_in(skip, nskip, (long)k) || !sw_param(s, k, r, &v))
            continue;
        hs_buf_printf(key, "%s=", s->pnames[k]);
        if (v.type == HS_INT)
            hs_buf_printf(key, "%.17g", (double)v.u.i);
        else if (v.type == HS_FLOAT)
            hs_buf_printf(key, "%.17g", v.u.f);
        else
            hs_value_put_text(key, &v);
        hs_buf_putc(key, '\x1f');
    }
}

static int choose_label_axes(lb *L, const size_t *rows, size_t n, hs_error *err)
{
    const hs_sweep *s = L->s;
    L->nlabel_axes = 0;
    long head = L->c.method >= 0 ? L->c.method : L->base_axis;
    for (size_t k = 0; k < s->nparams; k++) {
        long kk = (long)k;
        bool by = false;
        for (size_t i = 0; i < L->c.nby; i++)
            by |= L->c.by[i] == kk;
        if (by || kk == head)
            continue;
        hs_levels lv;
        if (hs_levels_build(s, &kk, 1, rows, n, &lv, err) < 0)
            return -1;
        size_t absent = 0;
        for (size_t i = 0; i < n; i++)
            absent += lv.lev[rows[i]] < 0;
        bool varies = lv.nlev > 1 || (lv.nlev == 1 && absent && absent < n);
        hs_levels_free(&lv);
        if (!varies)
            continue;
        bool failed = false;
        bool det = head >= 0 && hs_axis_determined_by(s, kk, head, rows, n, err, &failed);
        if (failed)
            return -1;
        /* a method's own bundled flags say nothing the method name does not */
        if (det)
            continue;
        L->label_axes[L->nlabel_axes++] = kk;
    }
    return 0;
}

/* Rows of the group in ranking order: valid by target, then the others in grid order. */
static const lb *sort_lb;
static int cmp_rank(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    const lb *L = sort_lb;
    bool vx = L->valid[x], vy = L->valid[y];
    if (vx != vy)
        return vx ? -1 : 1;
    if (vx) {
        double tx = L->c.tcol[x], ty = L->c.tcol[y];
        if (tx != ty)
            return hs_ctx_better(&L->c, tx, ty) ? -1 : 1;
    }
    int64_t ix = sw_index(L->s, x), iy = sw_index(L->s, y);
    return (ix > iy) - (ix < iy);
}

/* ---- metrics the tables use ---------------------------------------------------------------- */

static bool any_finite(const double *col, const size_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isfinite(col[rows[i]]))
            return true;
    return false;
}

static void choose_resources(lb *L, const size_t *rows, size_t n)
{
    const hs_sweep *s = L->s;
    L->mem_metric = -1;
    L->ntime = 0;
    long g = sw_metric_find(s, "gpu_mem_peak_mb");
    if (g >= 0 && any_finite(s->mcols[g], rows, n))
        L->mem_metric = g;
    for (size_t m = 0; m < s->nmetrics && L->mem_metric < 0; m++) {
        const char *nm = s->mnames[m];
        const char *leaf = strrchr(nm, '/');
        leaf = leaf ? leaf + 1 : nm;
        if ((strstr(leaf, "vram") || (strstr(leaf, "peak") && strstr(leaf, "mb"))) &&
            any_finite(s->mcols[m], rows, n))
            L->mem_metric = (long)m;
    }
    for (size_t m = 0; m < s->nmetrics && L->ntime < 3; m++) {
        const char *nm = s->mnames[m];
        const char *leaf = strrchr(nm, '/');
        leaf = leaf ? leaf + 1 : nm;
        if (strstr(leaf, "time") && !strstr(leaf, "stderr") && any_finite(s->mcols[m], rows, n))
            L->time_metrics[L->ntime++] = (long)m;
    }
}

/* Headline metric names of lm-eval tasks. */
static bool headline(const char *metric)
{
    static const char *const h[] = { "acc", "acc_norm", "exact_match", "em",
                                     "f1",  "accuracy", "mc1",         "mc2" };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        if (strcmp(metric, h[i]) == 0)
            return true;
    return strncmp(metric, "exact_match@", 12) == 0;
}

/* Is the task component of metric m a subtask, i.e. is there a task U with task = U_...
 * under the same prefix? */
static bool is_subtask(const hs_sweep *s, size_t m)
{
    const char *task, *metric;
    size_t tl;
    hs_metric_task(s->mnames[m], &task, &tl, &metric);
    size_t plen = (size_t)(task - s->mnames[m]);
    for (size_t k = 0; k < s->nmetrics; k++) {
        const char *t2, *m2;
        size_t l2;
        hs_metric_task(s->mnames[k], &t2, &l2, &m2);
        if (l2 == 0 || l2 >= tl || (size_t)(t2 - s->mnames[k]) != plen ||
            strncmp(s->mnames[k], s->mnames[m], plen) != 0)
            continue;
        if (strncmp(t2, task, l2) == 0 && task[l2] == '_')
            return true;
    }
    return false;
}

static bool is_depth_metric(const char *name, double *depth);

static long *choose_tasks(const lb *L, size_t *n, const char **how)
{
    const hs_sweep *s = L->s;
    long *v = malloc((s->nmetrics ? s->nmetrics : 1) * sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    if (L->c.tasks) {
        bool want_stderr = strstr(L->c.tasks, "stderr") != NULL;
        for (size_t m = 0; m < s->nmetrics; m++)
            if (fnmatch(L->c.tasks, s->mnames[m], 0) == 0 &&
                (want_stderr || !strstr(s->mnames[m], "stderr")))
                v[(*n)++] = (long)m;
        *how = "the metrics matching --tasks";
        return v;
    }
    for (size_t m = 0; m < s->nmetrics; m++) {
        const char *task, *metric;
        size_t tl;
        double d;
        hs_metric_task(s->mnames[m], &task, &tl, &metric);
        if (tl == 0 || !headline(metric) || is_depth_metric(s->mnames[m], &d) || is_subtask(s, m))
            continue;
        v[(*n)++] = (long)m;
    }
    *how = "every top-level task's headline metrics (acc, acc_norm, exact_match...), subtasks "
           "left to the group tables; --tasks PATTERN to choose";
    return v;
}

/* .../depth_accuracy/0.25 or passkey_acc_d25: the depth as a fraction. */
static bool is_depth_metric(const char *name, double *depth)
{
    const char *leaf = strrchr(name, '/');
    if (leaf) {
        size_t plen = (size_t)(leaf - name);
        const char *key = "depth_accuracy";
        size_t kl = strlen(key);
        if (plen >= kl && strncmp(leaf - kl, key, kl) == 0) {
            char *end;
            double d = strtod(leaf + 1, &end);
            if (end != leaf + 1 && *end == '\0') {
                *depth = d > 1 ? d / 100.0 : d;
                return true;
            }
        }
    }
    const char *p = strstr(name, "passkey_acc_d");
    if (p) {
        char *end;
        double d = strtod(p + 13, &end);
        if (end != p + 13 && *end == '\0') {
            *depth = d / 100.0;
            return true;
        }
    }
    return false;
}

/* ---- the sections of one group -------------------------------------------------------------- */

typedef struct gctx {
    const size_t *rows; /* ranking order */
    size_t n;
    long base_row; /* the baseline's valid row, -1 if none */
    const char *why_base;
} gctx;

static double metric_at(const lb *L, long m, size_t row)
{
    return m == -2 ? L->c.avg.values[row] : L->s->mcols[m][row];
}

static void section_ranking(lb *L, hs_dnode *g, const gctx *G)
{
    const hs_sweep *s = L->s;
    const hs_ctx *c = &L->c;
    hs_dnode *sec = hs_doc_section(g, "ranking", "Ranking");
    long cols_m[3];
    const char *cols_name[3];
    size_t nm = 0;
    cols_m[nm] = c->target;
    cols_name[nm++] = c->tname;
    if (c->secondary >= 0 && c->secondary != c->target) {
        cols_m[nm] = c->secondary;
        cols_name[nm++] = c->sname;
    }
    if (c->has_avg && c->target != -2) {
        cols_m[nm] = -2;
        cols_name[nm++] = "avg";
    }
    size_t ncols = 3 + 2 * nm + (L->mem_metric >= 0) + 1 + L->ntime + 2;
    hs_dnode *t = hs_doc_table(sec, "table", NULL, ncols);
    size_t col = 0;
    hs_doc_col(t, col++, "rank", "rank", true, DC_BOTH);
    hs_doc_col(t, col++, "config", c->method >= 0 ? s->pnames[c->method] : "configuration", false,
               DC_BOTH);
    hs_doc_col(t, col++, "run_id", "run", false, DC_DATA_ONLY);
    dkind dk[3];
    for (size_t i = 0; i < nm; i++) {
        const double *colv = cols_m[i] == -2 ? c->avg.values : s->mcols[cols_m[i]];
        dk[i] = delta_kind(L, colv, cols_name[i], G->rows, G->n);
        char title[300], key[64];
        snprintf(key, sizeof key, i == 0 ? "target" : cols_m[i] == -2 ? "avg" : "secondary");
        snprintf(title, sizeof title, "%s%s", cols_name[i],
                 i == 0 ? (c->lower ? " \xE2\x86\x93" : " \xE2\x86\x91") : "");
        hs_doc_col(t, col++, key, title, true, DC_BOTH);
        delta_title(dk[i], cols_name[i], title, sizeof title);
        snprintf(key, sizeof key, "delta_%s",
                 i == 0            ? "target"
                 : cols_m[i] == -2 ? "avg"
                                   : "secondary");
        hs_doc_col(t, col++, key, title, true, DC_BOTH);
    }
    if (L->mem_metric >= 0) {
        char title[300];
        snprintf(title, sizeof title, "%s (MB)", s->mnames[L->mem_metric]);
        hs_doc_col(t, col++, "peak_memory_mb", title, true, DC_BOTH);
    }
    hs_doc_col(t, col++, "wall_s", "wall (s)", true, DC_BOTH);
    for (size_t i = 0; i < L->ntime; i++) {
        char key[300];
        snprintf(key, sizeof key, "%s", s->mnames[L->time_metrics[i]]);
        hs_doc_col(t, col++, key, key, true, DC_BOTH);
    }
    hs_doc_col(t, col++, "status", "status", false, DC_BOTH);
    hs_doc_col(t, col++, "warnings", "warnings", true, DC_DATA_ONLY);
    size_t rank = 0;
    double prev = NAN;
    size_t shown_rank = 0;
    for (size_t i = 0; i < G->n; i++) {
        size_t r = G->rows[i];
        const hs_store_data *d;
        size_t sr = sw_store_row(s, r, &d);
        bool base = G->base_row == (long)r;
        hs_doc_row(t);
        col = 0;
        if (L->valid[r]) {
            rank++;
            if (!(c->tcol[r] == prev))
                shown_rank = rank;
            prev = c->tcol[r];
            hs_doc_cell(t, col++, dv_int((long long)shown_rank));
        } else {
            hs_doc_cell(t, col++, dv_null("not ranked: the run is not valid"));
        }
        hs_doc_cell(t, col++, dv_text(L->labels[r]));
        hs_doc_cell(t, col++, dv_text(sw_run_id(s, r)));
        for (size_t k = 0; k < nm; k++) {
            double v = metric_at(L, cols_m[k], r);
            const char *why = NULL;
            if (!L->valid[r])
                why = hs_status_name(sw_status(s, r));
            hs_doc_cell(t, col++, dv_num_why(v, NF_METRIC, why ? why : "not recorded"));
            const char *wb = base ? "this is the baseline" : G->why_base;
            double bv = G->base_row >= 0 ? metric_at(L, cols_m[k], (size_t)G->base_row) : NAN;
            if (!wb && isnan(bv))
                wb = "the baseline did not record it";
            hs_doc_cell(t, col++,
                        L->valid[r] ? delta_value(dk[k], v, bv, wb)
                                    : dv_null("the run is not valid"));
        }
        if (L->mem_metric >= 0)
            hs_doc_cell(t, col++, dv_num_why(s->mcols[L->mem_metric][r], NF_MB, "not recorded"));
        hs_doc_cell(t, col++, dv_num_why(hs_sd_wall_s(d, sr), NF_SEC, "not recorded"));
        for (size_t k = 0; k < L->ntime; k++)
            hs_doc_cell(t, col++,
                        dv_num_why(s->mcols[L->time_metrics[k]][r], NF_SEC, "not recorded"));
        int st = sw_status(s, r);
        const char *fc = hs_sd_failure_class(d, sr);
        char sts[96];
        snprintf(sts, sizeof sts, "%s%s%s%s", hs_status_name(st), fc[0] ? " (" : "", fc,
                 fc[0] ? ")" : "");
        hs_doc_cell(t, col++, dv_text(sts));
        hs_doc_cell(t, col++, dv_int(hs_sd_warnings(d, sr)));
    }
    if (G->why_base)
        hs_doc_note(sec, "%s", G->why_base);
    hs_doc_note(sec,
                "Deltas are absolute differences from the baseline (%s=%s): percentage points "
                "(pp) for accuracies, the plain difference otherwise; never ratios.",
                s->pnames[L->base_axis], L->base_value);
}

/* ---- configurations over repeated runs (seeds) ----------------------------------------------- */

/* The runs of a group that differ only in the --over axes. */
typedef struct acfg {
    size_t first; /* its first row in grid order: label and tie-break */
    int64_t first_index;
    size_t nruns;
    size_t nvalid;
    size_t *rows; /* nruns rows, the valid ones first */
    double mean;  /* of the target over the valid rows */
    hs_buf ids;   /* its run ids, comma-separated */
    hs_buf label; /* its label, without the --over axes */
} acfg;

typedef struct acfgs {
    acfg *cf; /* ranked: by mean target, those without a valid run last, ties in grid order */
    size_t n;
    long base;        /* the configuration of the baseline run, -1 if none */
    long best_single; /* the configuration of the best single run, -1 if none is valid */
    size_t *rows;     /* storage of the configurations' rows */
    hs_buf over;      /* the --over axes, for titles and notes */
} acfgs;

static void acfgs_free(acfgs *A)
{
    for (size_t k = 0; k < A->n; k++) {
        hs_buf_free(&A->cf[k].ids);
        hs_buf_free(&A->cf[k].label);
    }
    hs_buf_free(&A->over);
    free(A->cf);
    free(A->rows);
    memset(A, 0, sizeof *A);
}

static const lb *sort_across_lb;
static int cmp_across(const void *a, const void *b)
{
    const acfg *x = a, *y = b;
    if ((x->nvalid > 0) != (y->nvalid > 0))
        return x->nvalid ? -1 : 1;
    if (x->nvalid && x->mean != y->mean)
        return hs_ctx_better(&sort_across_lb->c, x->mean, y->mean) ? -1 : 1;
    return (x->first_index > y->first_index) - (x->first_index < y->first_index);
}

static long acfg_of(const acfgs *A, size_t row)
{
    for (size_t k = 0; k < A->n; k++)
        for (size_t i = 0; i < A->cf[k].nruns; i++)
            if (A->cf[k].rows[i] == row)
                return (long)k;
    return -1;
}

/* Values of a metric column over a configuration's valid runs; the count of finite ones. */
static size_t acfg_values(const acfg *a, const double *col, double *out)
{
    size_t k = 0;
    for (size_t i = 0; i < a->nvalid; i++)
        if (isfinite(col[a->rows[i]]))
            out[k++] = col[a->rows[i]];
    return k;
}

/* Groups the rows of G by their parameters but the --over axes. Leaves A empty when there
 * are no --over axes or every configuration ran once; -1 when out of memory. */
static int acfgs_build(const lb *L, const size_t *grows, size_t n, long base_row, acfgs *A)
{
    const hs_sweep *s = L->s;
    const hs_ctx *c = &L->c;
    memset(A, 0, sizeof *A);
    A->base = A->best_single = -1;
    if (!c->nover || !n)
        return 0;
    int rc = -1;
    size_t nskip = c->nby + c->nover, ncfg = 0;
    long *skip = calloc(nskip, sizeof *skip);
    size_t *cfg_of = calloc(n, sizeof *cfg_of), *fill = NULL;
    double *v = NULL;
    hs_strmap *map = hs_strmap_create(n);
    A->cf = calloc(n, sizeof *A->cf);
    A->rows = calloc(n, sizeof *A->rows);
    if (!skip || !cfg_of || !map || !A->cf || !A->rows)
        goto done;
    for (size_t i = 0; i < c->nby; i++)
        skip[i] = c->by[i];
    for (size_t i = 0; i < c->nover; i++)
        skip[c->nby + i] = c->over[i];
    for (size_t i = 0; i < n; i++) {
        size_t r = grows[i];
        hs_buf key = { 0 };
        param_key(s, r, skip, nskip, &key);
        size_t at;
        if (!hs_strmap_get(map, hs_buf_str(&key), &at)) {
            at = ncfg++;
            A->cf[at].first = r;
            A->cf[at].first_index = sw_index(s, r);
            if (hs_strmap_put(map, hs_buf_str(&key), at) < 0) {
                hs_buf_free(&key);
                goto done;
            }
        }
        hs_buf_free(&key);
        cfg_of[i] = at;
        acfg *a = &A->cf[at];
        a->nruns++;
        a->nvalid += L->valid[r];
        if (sw_index(s, r) < a->first_index) {
            a->first = r;
            a->first_index = sw_index(s, r);
        }
    }
    A->n = ncfg;
    if (ncfg == n) { /* every configuration ran once: nothing to average */
        rc = 0;
        acfgs_free(A);
        A->base = A->best_single = -1;
        goto done;
    }
    fill = calloc(ncfg, sizeof *fill);
    if (!fill)
        goto done;
    size_t off = 0;
    for (size_t k = 0; k < ncfg; k++) {
        A->cf[k].rows = A->rows + off;
        off += A->cf[k].nruns;
    }
    /* valid rows first, each part in ranking order */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            size_t r = grows[i];
            if (L->valid[r] == (pass == 0))
                A->cf[cfg_of[i]].rows[fill[cfg_of[i]]++] = r;
        }
    v = calloc(n, sizeof *v);
    if (!v)
        goto done;
    for (size_t k = 0; k < ncfg; k++) {
        acfg *a = &A->cf[k];
        a->mean = hs_stats_mean(v, acfg_values(a, c->tcol, v));
        for (size_t i = 0; i < a->nruns; i++)
            hs_buf_printf(&a->ids, "%s%s", i ? "," : "", sw_run_id(s, a->rows[i]));
        make_label_skip(L, a->first, c->over, c->nover, &a->label);
    }
    for (size_t i = 0; i < c->nover; i++)
        hs_buf_printf(&A->over, "%s%s", i ? ", " : "", s->pnames[c->over[i]]);
    sort_across_lb = L;
    qsort(A->cf, ncfg, sizeof *A->cf, cmp_across);
    A->base = base_row >= 0 ? acfg_of(A, (size_t)base_row) : -1;
    A->best_single = L->valid[grows[0]] ? acfg_of(A, grows[0]) : -1;
    rc = 0;
done:
    if (rc < 0)
        acfgs_free(A);
    if (map)
        hs_strmap_destroy(map);
    free(skip);
    free(cfg_of);
    free(fill);
    free(v);
    return rc;
}

/* Per configuration, the mean of the target over its valid runs, ranked, with std, a 95% t
 * interval and Welch's t-test against the baseline's configuration. */
static void section_across(lb *L, hs_dnode *g, const gctx *G, const acfgs *A)
{
    const hs_sweep *s = L->s;
    const hs_ctx *c = &L->c;
    if (!A->n)
        return;
    double *v = calloc(G->n, sizeof *v), *bv = calloc(G->n, sizeof *bv);
    if (!v || !bv) {
        free(v);
        free(bv);
        return;
    }
    const char *over = hs_buf_str(&A->over);
    const acfg *base = A->base >= 0 ? &A->cf[A->base] : NULL;
    size_t nb = base ? acfg_values(base, c->tcol, bv) : 0;
    bool sec2 = c->secondary >= 0 && c->secondary != c->target;

    hs_buf title = { 0 };
    hs_buf_printf(&title, "Ranking by the mean over %s", over);
    hs_dnode *sec = hs_doc_section(g, "across", hs_buf_str(&title));
    hs_buf_free(&title);
    hs_doc_field(sec, "over", NULL, dv_text(over));
    dkind dk = delta_kind(L, c->tcol, c->tname, G->rows, G->n);
    dkind dk2 = sec2 ? delta_kind(L, c->scol, c->sname, G->rows, G->n) : D_ABS;
    hs_dnode *t = hs_doc_table(sec, "table", NULL, 13 + (sec2 ? 2 : 0));
    size_t col = 0;
    char ttl[300];
    hs_doc_col(t, col++, "rank", "rank", true, DC_BOTH);
    hs_doc_col(t, col++, "config", c->method >= 0 ? s->pnames[c->method] : "configuration", false,
               DC_BOTH);
    hs_doc_col(t, col++, "run_ids", "runs", false, DC_DATA_ONLY);
    hs_doc_col(t, col++, "n", "n", true, DC_BOTH);
    hs_doc_col(t, col++, "runs", "of", true, DC_BOTH);
    snprintf(ttl, sizeof ttl, "mean %s%s", c->tname, c->lower ? " \xE2\x86\x93" : " \xE2\x86\x91");
    hs_doc_col(t, col++, "target_mean", ttl, true, DC_BOTH);
    hs_doc_col(t, col++, "target_std", "std", true, DC_BOTH);
    hs_doc_col(t, col++, "target_ci95", "95% CI \xC2\xB1", true, DC_BOTH);
    hs_doc_col(t, col++, "target_min", "min", true, DC_DATA_ONLY);
    hs_doc_col(t, col++, "target_max", "max", true, DC_DATA_ONLY);
    delta_title(dk, "mean", ttl, sizeof ttl);
    hs_doc_col(t, col++, "delta_target", ttl, true, DC_BOTH);
    hs_doc_col(t, col++, "welch_t", "t", true, DC_DATA_ONLY);
    hs_doc_col(t, col++, "p_welch", "p (Welch)", true, DC_BOTH);
    if (sec2) {
        snprintf(ttl, sizeof ttl, "mean %s", c->sname);
        hs_doc_col(t, col++, "secondary_mean", ttl, true, DC_BOTH);
        delta_title(dk2, "mean", ttl, sizeof ttl);
        hs_doc_col(t, col++, "delta_secondary", ttl, true, DC_BOTH);
    }
    size_t rank = 0, shown = 0, partial = 0;
    double prev = NAN;
    const char *why_base = G->why_base ? G->why_base : !base ? "no baseline configuration" : NULL;
    for (size_t k = 0; k < A->n; k++) {
        const acfg *a = &A->cf[k];
        size_t n = acfg_values(a, c->tcol, v);
        hs_summary sm;
        hs_summarize(v, n, c->ddof, &sm);
        partial += a->nvalid && a->nvalid < a->nruns;
        hs_doc_row(t);
        col = 0;
        if (a->nvalid) {
            rank++;
            if (!(a->mean == prev))
                shown = rank;
            prev = a->mean;
            hs_doc_cell(t, col++, dv_int((long long)shown));
        } else {
            hs_doc_cell(t, col++, dv_null("not ranked: no valid run"));
        }
        hs_doc_cell(t, col++, dv_text(hs_buf_str(&a->label)));
        hs_doc_cell(t, col++, dv_text(hs_buf_str(&a->ids)));
        hs_doc_cell(t, col++, dv_int((long long)a->nvalid));
        hs_doc_cell(t, col++, dv_int((long long)a->nruns));
        const char *none = "no valid run";
        hs_doc_cell(t, col++, dv_num_why(sm.mean, NF_METRIC, none));
        hs_doc_cell(t, col++, dv_num_why(sm.std, NF_METRIC, hs_std_why(n, c->ddof)));
        double half = NAN;
        if (n >= 2)
            half =
                hs_stats_t_quantile(0.975, (double)n - 1) * hs_stats_std(v, n, 1) / sqrt((double)n);
        hs_doc_cell(t, col++, dv_num_why(half, NF_METRIC, "needs 2 valid runs"));
        hs_doc_cell(t, col++, dv_num_why(sm.min, NF_METRIC, none));
        hs_doc_cell(t, col++, dv_num_why(sm.max, NF_METRIC, none));
        const char *wb = a == base ? "this is the baseline" : why_base;
        if (!wb && !n)
            wb = none;
        hs_doc_cell(t, col++, delta_value(dk, a->mean, base ? base->mean : NAN, wb));
        hs_welch w = { NAN, NAN, NAN };
        const char *why_p = wb;
        if (!why_p) {
            hs_stats_welch(v, n, bv, nb, &w);
            if (isnan(w.p))
                why_p = n < 2 || nb < 2 ? "needs 2 valid runs here and in the baseline"
                                        : "no spread over the runs here or in the baseline";
        }
        hs_doc_cell(t, col++, dv_num_why(w.t, NF_DELTA, why_p));
        hs_doc_cell(t, col++, dv_num_why(w.p, NF_P, why_p));
        if (sec2) {
            size_t n2 = acfg_values(a, c->scol, v);
            double m2 = hs_stats_mean(v, n2);
            double b2 = NAN;
            if (base) {
                size_t nb2 = acfg_values(base, c->scol, v);
                b2 = hs_stats_mean(v, nb2);
            }
            hs_doc_cell(t, col++, dv_num_why(m2, NF_METRIC, "not recorded"));
            const char *wb2 = wb ? wb : isnan(b2) ? "the baseline did not record it" : NULL;
            hs_doc_cell(t, col++, delta_value(dk2, m2, b2, wb2));
        }
    }
    hs_doc_note(sec,
                "Each configuration is the runs that differ only in %s; its numbers are over its "
                "valid runs (n of them). std with ddof %d; 95%% CI: t(0.975, n-1) s / sqrt(n) "
                "with the sample std s. p: Welch's two-sided t-test of the runs against the "
                "baseline's (as scipy.stats.ttest_ind(equal_var=False)). With few runs a "
                "difference with a large p is within the noise of %s.",
                over, c->ddof, over);
    if (partial)
        hs_doc_note(sec,
                    "%zu configuration%s had runs that were not valid: %s numbers are over the "
                    "n valid runs only, not all of them.",
                    partial, partial == 1 ? "" : "s", partial == 1 ? "its" : "their");
    if (A->best_single > 0 && A->cf[0].nvalid)
        hs_doc_note(sec,
                    "The best single run (%s) belongs to %s, but the best mean over %s is %s's.",
                    sw_run_id(s, G->rows[0]), hs_buf_str(&A->cf[A->best_single].label), over,
                    hs_buf_str(&A->cf[0].label));
    free(v);
    free(bv);
}

/* Configurations shown as columns in text: the baseline, then the valid ones in rank order. */
static size_t table_configs(const lb *L, const gctx *G, size_t *cfg)
{
    size_t k = 0;
    if (G->base_row >= 0)
        cfg[k++] = (size_t)G->base_row;
    for (size_t i = 0; i < G->n; i++)
        if (L->valid[G->rows[i]] && (long)G->rows[i] != G->base_row)
            cfg[k++] = G->rows[i];
    return k;
}

/* A table of metrics (rows) by configuration: wide for people when it fits, long for data. */
static void metric_table(const lb *L, hs_dnode *sec, const char *key, const char *title,
                         const long *ms, const char *const *labels, size_t nms, const gctx *G)
{
    const hs_sweep *s = L->s;
    size_t *cfg = malloc((G->n ? G->n : 1) * sizeof *cfg);
    if (!cfg)
        return;
    size_t nc = table_configs(L, G, cfg);
    /* long form: every format's data */
    hs_dnode *lt = hs_doc_table(sec, key, title, 7);
    hs_doc_col(lt, 0, "task", "task", false, DC_BOTH);
    hs_doc_col(lt, 1, "metric", "metric", false, DC_BOTH);
    hs_doc_col(lt, 2, "config", "configuration", false, DC_BOTH);
    hs_doc_col(lt, 3, "run_id", "run", false, DC_DATA_ONLY);
    hs_doc_col(lt, 4, "value", "value", true, DC_BOTH);
    hs_doc_col(lt, 5, "baseline", "baseline", true, DC_BOTH);
    hs_doc_col(lt, 6, "delta", "\xCE\x94", true, DC_BOTH);
    /* for people: tasks as rows and configurations as columns when there are few of them
     * (as the users' leaderboards are laid out), else the transpose; the long form when both
     * are many */
    bool tasks_rows = nc <= 6, configs_rows = !tasks_rows && nms <= 8;
    if (tasks_rows || configs_rows)
        hs_doc_table_role(lt, DC_DATA_ONLY);
    for (size_t i = 0; i < nms; i++) {
        dkind dk = delta_kind(L, s->mcols[ms[i]], s->mnames[ms[i]], G->rows, G->n);
        double bv = G->base_row >= 0 ? s->mcols[ms[i]][G->base_row] : NAN;
        for (size_t k = 0; k < nc; k++) {
            size_t r = cfg[k];
            double v = s->mcols[ms[i]][r];
            hs_doc_row(lt);
            hs_doc_cell(lt, 0, dv_text(labels[i]));
            hs_doc_cell(lt, 1, dv_text(s->mnames[ms[i]]));
            hs_doc_cell(lt, 2, dv_text(L->labels[r]));
            hs_doc_cell(lt, 3, dv_text(sw_run_id(s, r)));
            hs_doc_cell(lt, 4, dv_num_why(v, NF_METRIC, "not recorded"));
            hs_doc_cell(lt, 5,
                        dv_num_why(bv, NF_METRIC, G->why_base ? G->why_base : "not recorded"));
            const char *wb = (long)r == G->base_row ? "this is the baseline" : G->why_base;
            if (!wb && isnan(bv))
                wb = "the baseline did not record it";
            hs_doc_cell(lt, 6, delta_value(dk, v, bv, wb));
        }
    }
    if (tasks_rows) {
        hs_dnode *wt = hs_doc_table(sec, key, title, 2 + 2 * nc);
        hs_doc_table_role(wt, DC_TEXT_ONLY);
        hs_doc_col(wt, 0, "task", "task", false, DC_BOTH);
        hs_doc_col(wt, 1, "metric", "metric", false, DC_BOTH);
        size_t col = 2;
        for (size_t k = 0; k < nc; k++) {
            hs_doc_col(wt, col++, "v", L->labels[cfg[k]], true, DC_BOTH);
            hs_doc_col(wt, col++, "d", (long)cfg[k] != G->base_row ? "\xCE\x94" : "", true,
                       (long)cfg[k] != G->base_row ? DC_BOTH : DC_DATA_ONLY);
        }
        for (size_t i = 0; i < nms; i++) {
            const char *task, *metric;
            size_t tl;
            hs_metric_task(s->mnames[ms[i]], &task, &tl, &metric);
            dkind dk = delta_kind(L, s->mcols[ms[i]], s->mnames[ms[i]], G->rows, G->n);
            double bv = G->base_row >= 0 ? s->mcols[ms[i]][G->base_row] : NAN;
            hs_doc_row(wt);
            hs_doc_cell(wt, 0, dv_text(labels[i]));
            hs_doc_cell(wt, 1, dv_text(metric));
            col = 2;
            for (size_t k = 0; k < nc; k++) {
                double v = s->mcols[ms[i]][cfg[k]];
                hs_doc_cell(wt, col++, dv_num(v, NF_METRIC));
                const char *wb = G->why_base;
                if (!wb && isnan(bv))
                    wb = "no baseline value";
                hs_doc_cell(wt, col++,
                            (long)cfg[k] == G->base_row ? dv_text("") : delta_value(dk, v, bv, wb));
            }
        }
    } else if (configs_rows) {
        hs_dnode *wt = hs_doc_table(sec, key, title, 1 + nms);
        hs_doc_table_role(wt, DC_TEXT_ONLY);
        hs_doc_col(wt, 0, "config", "configuration", false, DC_BOTH);
        for (size_t i = 0; i < nms; i++) {
            const char *task, *metric;
            size_t tl;
            hs_metric_task(s->mnames[ms[i]], &task, &tl, &metric);
            char head[300];
            if (strcmp(labels[i], metric) == 0)
                snprintf(head, sizeof head, "%s", metric);
            else
                snprintf(head, sizeof head, "%s %s", labels[i], metric);
            hs_doc_col(wt, 1 + i, "v", head, true, DC_BOTH);
        }
        for (size_t k = 0; k < nc; k++) {
            size_t r = cfg[k];
            hs_doc_row(wt);
            hs_doc_cell(wt, 0, dv_text(L->labels[r]));
            for (size_t i = 0; i < nms; i++) {
                dkind dk = delta_kind(L, s->mcols[ms[i]], s->mnames[ms[i]], G->rows, G->n);
                double v = s->mcols[ms[i]][r];
                double bv = G->base_row >= 0 ? s->mcols[ms[i]][G->base_row] : NAN;
                char vb[64], db[64], cellb[140];
                hs_fmt_num(v, NF_METRIC, vb, sizeof vb);
                if ((long)r == G->base_row || isnan(v) || isnan(bv)) {
                    snprintf(cellb, sizeof cellb, "%s", vb);
                } else {
                    double d = v - bv;
                    if (dk == D_PP_FRACTION)
                        hs_fmt_num(d * 100, NF_PP, db, sizeof db);
                    else if (dk == D_PP_PERCENT)
                        hs_fmt_num(d, NF_PP, db, sizeof db);
                    else
                        hs_fmt_num(d, NF_DELTA, db, sizeof db);
                    snprintf(cellb, sizeof cellb, "%s (%s)", vb, db);
                }
                hs_doc_cell(wt, 1 + i, dv_text(cellb));
            }
        }
        hs_doc_note(sec, "Each cell: the score, then its difference from the baseline.");
    }
    free(cfg);
}

static void section_tasks(lb *L, hs_dnode *g, const gctx *G)
{
    const hs_sweep *s = L->s;
    hs_dnode *sec = hs_doc_section(g, "tasks", "Per-task scores");
    size_t nt;
    const char *how = "";
    long *tm = choose_tasks(L, &nt, &how);
    if (!tm)
        return;
    /* only metrics this group has */
    size_t k = 0;
    for (size_t i = 0; i < nt; i++)
        if (any_finite(s->mcols[tm[i]], G->rows, G->n))
            tm[k++] = tm[i];
    nt = k;
    if (nt == 0) {
        hs_doc_note(sec, "No per-task metric in this group (%s).", how);
        free(tm);
        return;
    }
    hs_doc_note(sec,
                "Tasks: %s. Each row names the exact metric (acc and acc_norm are different "
                "numbers).",
                how);
    char **labels = calloc(nt, sizeof *labels);
    if (!labels) {
        free(tm);
        return;
    }
    for (size_t i = 0; i < nt; i++) {
        const char *task, *metric;
        size_t tl;
        hs_metric_task(s->mnames[tm[i]], &task, &tl, &metric);
        labels[i] = tl ? strndup(task, tl) : strdup(s->mnames[tm[i]]);
    }
    metric_table(L, sec, "table", NULL, tm, (const char *const *)labels, nt, G);
    /* MMLU-style group breakdown: TASK_stem, TASK_humanities, ... beside TASK */
    static const char *const cats[] = { "stem", "humanities", "social_sciences", "other" };
    for (size_t i = 0; i < nt; i++) {
        const char *task, *metric;
        size_t tl;
        hs_metric_task(s->mnames[tm[i]], &task, &tl, &metric);
        if (!tl)
            continue;
        size_t plen = (size_t)(task - s->mnames[tm[i]]);
        long sub[4];
        const char *sublabels[4];
        size_t ns = 0;
        for (size_t c = 0; c < 4; c++) {
            hs_buf b = { 0 };
            hs_buf_printf(&b, "%.*s%.*s_%s/%s", (int)plen, s->mnames[tm[i]], (int)tl, task, cats[c],
                          metric);
            long m = sw_metric_find(s, hs_buf_str(&b));
            hs_buf_free(&b);
            if (m >= 0 && any_finite(s->mcols[m], G->rows, G->n)) {
                sub[ns] = m;
                sublabels[ns++] = cats[c];
            }
        }
        if (ns == 0)
            continue;
        char key[300], title[300];
        snprintf(key, sizeof key, "groups_%.*s_%s", (int)tl, task, metric);
        snprintf(title, sizeof title, "%.*s by category (%s)", (int)tl, task, metric);
        metric_table(L, sec, key, title, sub, sublabels, ns, G);
    }
    for (size_t i = 0; i < nt; i++)
        free(labels[i]);
    free(labels);
    free(tm);
}

typedef struct depth {
    double d;
    long m;
} depth;

static int cmp_depth(const void *a, const void *b)
{
    const depth *x = a, *y = b;
    return (x->d > y->d) - (x->d < y->d);
}

/* Passkey retrieval by depth, the mean of each configuration over its valid runs: in percent
 * for people, as shares (like the metrics) in JSON and CSV. */
static void passkey_means(const lb *L, hs_dnode *sec, const acfgs *A, const depth *ds, size_t nd,
                          long overall)
{
    const hs_sweep *s = L->s;
    size_t most = 1;
    for (size_t k = 0; k < A->n; k++)
        most = A->cf[k].nruns > most ? A->cf[k].nruns : most;
    double *v = calloc(most, sizeof *v);
    if (!v)
        return;
    hs_dnode *tabs[2];
    for (int w = 0; w < 2; w++) {
        hs_dnode *t = tabs[w] = hs_doc_table(sec, "by_config", NULL, 4 + nd);
        hs_doc_table_role(t, w == 0 ? DC_TEXT_ONLY : DC_DATA_ONLY);
        hs_doc_col(t, 0, "config", "configuration", false, DC_BOTH);
        hs_doc_col(t, 1, "run_ids", "runs", false, DC_DATA_ONLY);
        hs_doc_col(t, 2, "n", "n", true, DC_BOTH);
        for (size_t i = 0; i < nd; i++) {
            char title[64];
            snprintf(title, sizeof title, "depth %g%%", ds[i].d * 100);
            hs_doc_col(t, 3 + i, s->mnames[ds[i].m], title, true, DC_BOTH);
        }
        hs_doc_col(t, 3 + nd, "overall", "overall", true, DC_BOTH);
    }
    for (size_t k = 0; k < A->n; k++) {
        const acfg *a = &A->cf[k];
        double mean[33];
        for (size_t i = 0; i <= nd; i++) {
            long m = i < nd ? ds[i].m : overall;
            mean[i] = m >= 0 ? hs_stats_mean(v, acfg_values(a, s->mcols[m], v)) : NAN;
        }
        const char *why = a->nvalid ? "not recorded" : "no valid run";
        for (int w = 0; w < 2; w++) {
            hs_dnode *t = tabs[w];
            hs_doc_row(t);
            hs_doc_cell(t, 0, dv_text(hs_buf_str(&a->label)));
            hs_doc_cell(t, 1, dv_text(hs_buf_str(&a->ids)));
            hs_doc_cell(t, 2, dv_int((long long)a->nvalid));
            for (size_t i = 0; i <= nd; i++)
                hs_doc_cell(t, 3 + i,
                            w == 0 ? dv_num_why(mean[i] * 100, NF_PCT, why)
                                   : dv_num_why(mean[i], NF_METRIC, why));
        }
    }
    hs_doc_note(sec,
                "Each row is the mean over %s of a configuration's valid runs (n), in the order of "
                "the ranking by the mean; JSON and CSV also list every run.",
                hs_buf_str(&A->over));
    free(v);
}

static void section_passkey(lb *L, hs_dnode *g, const gctx *G, const acfgs *A)
{
    const hs_sweep *s = L->s;
    depth ds[32];
    size_t nd = 0;
    for (size_t m = 0; m < s->nmetrics && nd < 32; m++) {
        double d;
        if (is_depth_metric(s->mnames[m], &d) && any_finite(s->mcols[m], G->rows, G->n))
            ds[nd++] = (depth){ d, (long)m };
    }
    if (nd == 0)
        return;
    qsort(ds, nd, sizeof *ds, cmp_depth);
    /* overall accuracy and the number of keys, beside the depths */
    long overall = -1, keys = -1;
    const char *first = s->mnames[ds[0].m];
    const char *da = strstr(first, "depth_accuracy/");
    if (da) {
        hs_buf b = { 0 };
        hs_buf_printf(&b, "%.*saccuracy", (int)(da - first), first);
        overall = sw_metric_find(s, hs_buf_str(&b));
        hs_buf_reset(&b);
        hs_buf_printf(&b, "%.*snum_keys", (int)(da - first), first);
        keys = sw_metric_find(s, hs_buf_str(&b));
        hs_buf_free(&b);
    }
    if (overall < 0)
        overall = sw_metric_find(s, "passkey_acc");
    hs_dnode *sec = hs_doc_section(g, "passkey", "Passkey retrieval by depth");
    size_t *cfg = malloc((G->n ? G->n : 1) * sizeof *cfg);
    if (!cfg)
        return;
    size_t nc = table_configs(L, G, cfg);
    if (A->n)
        passkey_means(L, sec, A, ds, nd, overall);
    hs_dnode *tabs[2];
    int w0 = A->n ? 1 : 0; /* with means over seeds, text shows those, not every run */
    for (int w = w0; w < 2; w++) {
        hs_dnode *t = tabs[w] = hs_doc_table(sec, "table", NULL, 3 + nd);
        hs_doc_table_role(t, w == 0 ? DC_TEXT_ONLY : DC_DATA_ONLY);
        hs_doc_col(t, 0, "config", "configuration", false, DC_BOTH);
        hs_doc_col(t, 1, "run_id", "run", false, DC_DATA_ONLY);
        for (size_t i = 0; i < nd; i++) {
            char key[300], title[64];
            snprintf(key, sizeof key, "%s", s->mnames[ds[i].m]);
            snprintf(title, sizeof title, "depth %g%%", ds[i].d * 100);
            hs_doc_col(t, 2 + i, key, title, true, DC_BOTH);
        }
        hs_doc_col(t, 2 + nd, "overall", "overall", true, DC_BOTH);
    }
    for (size_t k = 0; k < nc; k++) {
        size_t r = cfg[k];
        double nk = keys >= 0 ? s->mcols[keys][r] : NAN;
        double ov = overall >= 0 ? s->mcols[overall][r] : NAN;
        for (int w = w0; w < 2; w++) {
            hs_dnode *t = tabs[w];
            hs_doc_row(t);
            hs_doc_cell(t, 0, dv_text(L->labels[r]));
            hs_doc_cell(t, 1, dv_text(sw_run_id(s, r)));
            for (size_t i = 0; i < nd; i++) {
                double v = s->mcols[ds[i].m][r];
                if (w == 1) {
                    hs_doc_cell(t, 2 + i, dv_num_why(v, NF_METRIC, "not recorded"));
                } else if (isfinite(v) && isfinite(nk) && nk > 0 && nk == nearbyint(nk) &&
                           fabs(v * nk - nearbyint(v * nk)) < 1e-6) {
                    /* k/N with a mark at both ends, as the users' tables show it */
                    char buf[64];
                    long hit = lrint(v * nk);
                    snprintf(buf, sizeof buf, "%ld/%ld%s", hit, lrint(nk),
                             hit == lrint(nk) ? " \xE2\x9C\x85"
                             : hit == 0       ? " \xE2\x9D\x8C"
                                              : "");
                    hs_doc_cell(t, 2 + i, dv_text(buf));
                } else {
                    hs_doc_cell(t, 2 + i, dv_num_why(v * 100, NF_PCT, "not recorded"));
                }
            }
            hs_doc_cell(t, 2 + nd,
                        w == 1 ? dv_num_why(ov, NF_METRIC, "not recorded")
                               : dv_num_why(ov * 100, NF_PCT, "not recorded"));
        }
    }
    if (keys >= 0 && !A->n)
        hs_doc_note(sec, "k/N: keys retrieved of N (%s); \xE2\x9C\x85 all, \xE2\x9D\x8C none.",
                    s->mnames[keys]);
    free(cfg);
}

static void section_failed(lb *L, hs_dnode *g, const gctx *G)
{
    const hs_sweep *s = L->s;
    const hs_ctx *c = &L->c;
    hs_dnode *sec = hs_doc_section(g, "failed", "Failed or blocked");
    hs_dnode *t = hs_doc_table(sec, "table", NULL, 6);
    hs_doc_col(t, 0, "config", "configuration", false, DC_BOTH);
    hs_doc_col(t, 1, "run_id", "run", false, DC_BOTH);
    hs_doc_col(t, 2, "status", "status", false, DC_BOTH);
    hs_doc_col(t, 3, "failure_class", "class", false, DC_BOTH);
    hs_doc_col(t, 4, "attempts", "attempts", true, DC_BOTH);
    hs_doc_col(t, 5, "message", "message", false, DC_BOTH);
    size_t nfail = 0;
    for (size_t i = 0; i < G->n; i++) {
        size_t r = G->rows[i];
        int st = sw_status(s, r);
        if (st == HS_OK || st == HS_PENDING || st == HS_RUNNING)
            continue;
        const hs_store_data *d;
        size_t sr = sw_store_row(s, r, &d);
        hs_doc_row(t);
        hs_doc_cell(t, 0, dv_text(L->labels[r]));
        hs_doc_cell(t, 1, dv_text(sw_run_id(s, r)));
        hs_doc_cell(t, 2, dv_text(hs_status_name(st)));
        hs_doc_cell(t, 3, dv_text(hs_sd_failure_class(d, sr)));
        hs_doc_cell(t, 4, dv_int(hs_sd_attempts(d, sr)));
        hs_doc_cell(t, 5, dv_text(hs_sd_message(d, sr)));
        nfail++;
    }
    size_t pending = 0;
    for (size_t i = 0; i < G->n; i++) {
        int st = sw_status(s, G->rows[i]);
        pending += st == HS_PENDING || st == HS_RUNNING;
    }
    if (pending)
        hs_doc_note(sec, "%zu run%s not finished yet (pending or running).", pending,
                    pending == 1 ? " is" : "s are");
    if (!nfail) {
        hs_doc_note(sec, "No run of this group failed.");
        return;
    }
    /* methods with no ok run at all: blocked */
    if (c->method < 0)
        return;
    hs_levels lv;
    hs_error err;
    if (hs_levels_build(s, &c->method, 1, G->rows, G->n, &lv, &err) < 0)
        return;
    for (size_t l = 0; l < lv.nlev; l++) {
        size_t total = 0, ok = 0, first_fail = SIZE_MAX;
        for (size_t i = 0; i < G->n; i++) {
            size_t r = G->rows[i];
            if (lv.lev[r] != (int32_t)l)
                continue;
            total++;
            int st = sw_status(s, r);
            if (st == HS_OK)
                ok++;
            else if (hs_status_failure(st) && first_fail == SIZE_MAX)
                first_fail = r;
        }
        if (ok == 0 && first_fail != SIZE_MAX) {
            const hs_store_data *d;
            size_t sr = sw_store_row(s, first_fail, &d);
            hs_buf lab = { 0 };
            hs_doc_note(sec,
                        "%s %s is blocked: none of its %zu run%s succeeded (first: %s, %s: %s).",
                        s->pnames[c->method], hs_short_label(&lab, lv.labels[l]), total,
                        total == 1 ? "" : "s", hs_status_name(sw_status(s, first_fail)),
                        hs_sd_failure_class(d, sr), hs_sd_message(d, sr));
            hs_buf_free(&lab);
        }
    }
    hs_levels_free(&lv);
}

/* Two values are "the same result" when both are equal numbers or the same infinity. */
static bool same(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

static void section_integrity(lb *L, hs_dnode *g, const gctx *G, const char *const *dup_note,
                              const size_t *dup_rows, size_t ndup)
{
    const hs_sweep *s = L->s;
    const hs_ctx *c = &L->c;
    hs_dnode *sec = hs_doc_section(g, "integrity", "Integrity checks");
    hs_dnode *t = hs_doc_table(sec, "table", NULL, 4);
    hs_doc_col(t, 0, "check", "check", false, DC_BOTH);
    hs_doc_col(t, 1, "config", "configuration", false, DC_BOTH);
    hs_doc_col(t, 2, "run_id", "run", false, DC_BOTH);
    hs_doc_col(t, 3, "detail", "detail", false, DC_BOTH);
    size_t flagged = 0;
    /* 1. metrics exactly equal to the baseline's */
    if (G->base_row >= 0) {
        size_t b = (size_t)G->base_row;
        for (size_t i = 0; i < G->n; i++) {
            size_t r = G->rows[i];
            if (r == b || sw_status(s, r) != HS_OK)
                continue;
            size_t compared = 0, equal = 0;
            for (size_t m = 0; m < s->nmetrics; m++) {
                if (hs_metric_is_resource(s->mnames[m]))
                    continue;
                double x = s->mcols[m][r], y = s->mcols[m][b];
                if (isnan(x) && isnan(y))
                    continue;
                compared++;
                equal += same(x, y);
            }
            if (compared && equal == compared) {
                char detail[256];
                snprintf(detail, sizeof detail,
                         "all %zu quality metrics equal the baseline's exactly: the method "
                         "likely did nothing",
                         compared);
                hs_doc_row(t);
                hs_doc_cell(t, 0, dv_text("equal_to_baseline"));
                hs_doc_cell(t, 1, dv_text(L->labels[r]));
                hs_doc_cell(t, 2, dv_text(sw_run_id(s, r)));
                hs_doc_cell(t, 3, dv_text(detail));
                flagged++;
            }
        }
    }
    /* 2. warnings, suspect runs */
    for (size_t i = 0; i < G->n; i++) {
        size_t r = G->rows[i];
        const hs_store_data *d;
        size_t sr = sw_store_row(s, r, &d);
        int w = hs_sd_warnings(d, sr), st = sw_status(s, r);
        if (w <= 0 && st != HS_SUSPECT)
            continue;
        char detail[512];
        snprintf(detail, sizeof detail, "%d warning%s, status %s: %s", w, w == 1 ? "" : "s",
                 hs_status_name(st), hs_sd_message(d, sr));
        hs_doc_row(t);
        hs_doc_cell(t, 0, dv_text("warnings"));
        hs_doc_cell(t, 1, dv_text(L->labels[r]));
        hs_doc_cell(t, 2, dv_text(sw_run_id(s, r)));
        hs_doc_cell(t, 3, dv_text(detail));
        flagged++;
    }
    /* 3. duplicated parameter tuples (found over the whole sweep) */
    for (size_t i = 0; i < ndup; i++) {
        bool here = false;
        for (size_t j = 0; j < G->n && !here; j++)
            here = G->rows[j] == dup_rows[i];
        if (!here)
            continue;
        hs_doc_row(t);
        hs_doc_cell(t, 0, dv_text("duplicate_params"));
        hs_doc_cell(t, 1, dv_text(""));
        hs_doc_cell(t, 2, dv_text(""));
        hs_doc_cell(t, 3, dv_text(dup_note[i]));
        flagged++;
    }
    /* 4. ok runs without metrics that the other runs of their method have */
    if (c->method >= 0) {
        hs_levels lv;
        hs_error err;
        if (hs_levels_build(s, &c->method, 1, G->rows, G->n, &lv, &err) == 0) {
            for (size_t i = 0; i < G->n; i++) {
                size_t r = G->rows[i];
                if (sw_status(s, r) != HS_OK || lv.lev[r] < 0)
                    continue;
                hs_buf miss = { 0 };
                size_t nmiss = 0;
                for (size_t m = 0; m < s->nmetrics; m++) {
                    if (!isnan(s->mcols[m][r]) || hs_metric_is_system(s->mnames[m]))
                        continue;
                    bool others = false;
                    for (size_t j = 0; j < G->n && !others; j++) {
                        size_t q = G->rows[j];
                        others = q != r && lv.lev[q] == lv.lev[r] && sw_status(s, q) == HS_OK &&
                                 !isnan(s->mcols[m][q]);
                    }
                    if (others && nmiss++ < 5)
                        hs_buf_printf(&miss, "%s%s", miss.len ? ", " : "", s->mnames[m]);
                }
                if (nmiss) {
                    hs_buf detail = { 0 };
                    hs_buf_printf(
                        &detail, "lacks %zu metric%s that other runs of its method have: %s%s",
                        nmiss, nmiss == 1 ? "" : "s", hs_buf_str(&miss), nmiss > 5 ? ", ..." : "");
                    hs_doc_row(t);
                    hs_doc_cell(t, 0, dv_text("missing_metrics"));
                    hs_doc_cell(t, 1, dv_text(L->labels[r]));
                    hs_doc_cell(t, 2, dv_text(sw_run_id(s, r)));
                    hs_doc_cell(t, 3, dv_text(hs_buf_str(&detail)));
                    hs_buf_free(&detail);
                    flagged++;
                }
                hs_buf_free(&miss);
            }
            hs_levels_free(&lv);
        }
    }
    hs_doc_field(sec, "flagged", "problems found", dv_int((long long)flagged));
    if (!flagged)
        hs_doc_note(sec, "No run equals the baseline exactly, none has warnings, no parameter "
                         "tuple is duplicated, no ok run lacks a metric its method records.");
    if (G->base_row < 0)
        hs_doc_note(sec, "Without a valid baseline run the equal-to-baseline check could not run.");
}

/* Rows whose parameter tuples are equal (numbers compared by value) under different ids;
 * dup_rows[i] is the later row of pair i. */
static int find_duplicates(const lb *L, char ***notes, size_t **dup_rows, size_t *n)
{
    const hs_sweep *s = L->s;
    *notes = NULL;
    *dup_rows = NULL;
    *n = 0;
    hs_strmap *map = hs_strmap_create(L->c.nrows);
    if (!map)
        return -1;
    size_t cap = 0;
    for (size_t i = 0; i < L->c.nrows; i++) {
        size_t r = L->c.rows[i];
        hs_buf key = { 0 };
        param_key(s, r, NULL, 0, &key);
        size_t at;
        if (hs_strmap_get(map, hs_buf_str(&key), &at)) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 8;
                char **nn = realloc(*notes, cap * sizeof *nn);
                if (nn)
                    *notes = nn;
                size_t *nr = realloc(*dup_rows, cap * sizeof *nr);
                if (nr)
                    *dup_rows = nr;
                if (!nn || !nr) {
                    hs_buf_free(&key);
                    break;
                }
            }
            hs_buf b = { 0 };
            hs_buf_printf(&b, "runs %s and %s have the same parameters (", sw_run_id(s, at),
                          sw_run_id(s, r));
            hs_row_params(s, r, NULL, 0, &b);
            hs_buf_puts(&b, ")");
            (*dup_rows)[*n] = r;
            (*notes)[(*n)++] = hs_buf_steal(&b);
        } else {
            hs_strmap_put(map, hs_buf_str(&key), r);
        }
        hs_buf_free(&key);
    }
    hs_strmap_destroy(map);
    return 0;
}

int hs_analyze_leaderboard(const hs_sweep *s, const hs_analyze_opts *o, FILE *out, hs_error *err)
{
    lb L = { 0 };
    L.s = s;
    hs_doc *doc = NULL;
    hs_levels groups = { 0 };
    char *axis_name = NULL;
    char **dups = NULL;
    size_t ndup = 0, *order = NULL, *dup_rows = NULL;
    int rc = -1;
    if (hs_ctx_init(&L.c, s, o, true, err) < 0)
        return -1;
    if (hs_ctx_over(&L.c, err) < 0)
        goto done;
    const char *spec = o->baseline ? o->baseline : L.c.an ? L.c.an->baseline : NULL;
    if (!spec) {
        hs_err(err, "leaderboard needs --baseline AXIS=VALUE (e.g. method=fp16), or "
                    "analysis.baseline in the grid");
        goto done;
    }
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1]) {
        hs_err(err, "--baseline must be AXIS=VALUE (e.g. method=fp16), not '%s'", spec);
        goto done;
    }
    axis_name = strndup(spec, (size_t)(eq - spec));
    if (!axis_name) {
        hs_err(err, "out of memory");
        goto done;
    }
    L.base_axis = hs_axis_resolve(s, axis_name, "--baseline", err);
    if (L.base_axis < 0)
        goto done;
    L.base_value = eq + 1;
    size_t nbase = 0;
    for (size_t i = 0; i < L.c.nrows; i++)
        nbase += is_baseline(&L, L.c.rows[i]);
    if (!nbase) {
        hs_levels lv;
        hs_buf vals = { 0 };
        if (hs_levels_build(s, &L.base_axis, 1, L.c.rows, L.c.nrows, &lv, err) == 0) {
            hs_buf lab = { 0 };
            for (size_t l = 0; l < lv.nlev && l < 12; l++) {
                hs_buf_reset(&lab);
                hs_buf_printf(&vals, "%s%s", l ? ", " : "", hs_short_label(&lab, lv.labels[l]));
            }
            hs_buf_free(&lab);
            hs_levels_free(&lv);
        }
        hs_buf bv = { 0 };
        hs_err(err, "--baseline %s: no run has %s = '%s' (its values: %s)", spec, axis_name,
               hs_short_label(&bv, L.base_value), hs_buf_str(&vals));
        hs_buf_free(&bv);
        hs_buf_free(&vals);
        goto done;
    }
    size_t nr = s->nrows ? s->nrows : 1;
    L.valid = calloc(nr, sizeof *L.valid);
    L.labels = calloc(nr, sizeof *L.labels);
    L.label_axes = calloc(s->nparams ? s->nparams : 1, sizeof *L.label_axes);
    order = malloc(nr * sizeof *order);
    if (!L.valid || !L.labels || !L.label_axes || !order) {
        hs_err(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < L.c.nrows; i++) {
        size_t r = L.c.rows[i];
        L.valid[r] = sw_status(s, r) == HS_OK && isfinite(L.c.tcol[r]);
    }
    if (find_duplicates(&L, &dups, &dup_rows, &ndup) < 0) {
        hs_err(err, "out of memory");
        goto done;
    }
    hs_buf title = { 0 };
    hs_buf_printf(&title, "Leaderboard: sweep %s, %s against %s", s->name, L.c.tname, spec);
    doc = hs_doc_create(hs_buf_str(&title));
    hs_buf_free(&title);
    if (!doc) {
        hs_err(err, "out of memory");
        goto done;
    }
    hs_dnode *root = hs_doc_root(doc);
    hs_doc_field(root, "command", NULL, dv_text("leaderboard"));
    hs_dnode *bs = hs_ctx_describe(&L.c, root);
    hs_doc_field(bs, "baseline_axis", "baseline axis", dv_text(axis_name));
    hs_doc_field(bs, "baseline_value", "baseline value", dv_text(L.base_value));
    if (hs_levels_build(s, L.c.by, L.c.nby, L.c.rows, L.c.nrows, &groups, err) < 0)
        goto done;
    hs_dnode *lst = hs_doc_list(root, "groups", NULL);
    for (size_t gi = 0; gi < groups.nlev; gi++) {
        size_t n = 0;
        for (size_t i = 0; i < L.c.nrows; i++)
            if (groups.lev[L.c.rows[i]] == (int32_t)gi)
                order[n++] = L.c.rows[i];
        sort_lb = &L;
        qsort(order, n, sizeof *order, cmp_rank);
        if (choose_label_axes(&L, order, n, err) < 0)
            goto done;
        for (size_t i = 0; i < n; i++) {
            hs_buf b = { 0 };
            make_label(&L, order[i], &b);
            free(L.labels[order[i]]);
            L.labels[order[i]] = hs_buf_steal(&b);
            if (!L.labels[order[i]])
                L.labels[order[i]] = strdup("");
        }
        choose_resources(&L, order, n);
        gctx G = { .rows = order, .n = n, .base_row = -1 };
        size_t nb_valid = 0, nb = 0;
        for (size_t i = 0; i < n; i++)
            if (is_baseline(&L, order[i])) {
                nb++;
                if (L.valid[order[i]] && nb_valid++ == 0)
                    G.base_row = (long)order[i];
            }
        hs_buf gtitle = { 0 };
        if (L.c.nby == 1)
            hs_buf_printf(&gtitle, "%s = %s", s->pnames[L.c.by[0]], groups.labels[gi]);
        else
            hs_buf_puts(&gtitle, L.c.nby ? groups.labels[gi] : "all runs");
        hs_dnode *g = hs_doc_item(lst, hs_buf_str(&gtitle));
        hs_buf_free(&gtitle);
        hs_doc_field(g, "group", NULL, dv_text(groups.labels[gi]));
        if (G.base_row >= 0)
            hs_doc_field(g, "baseline_run", "baseline run",
                         dv_text(sw_run_id(s, (size_t)G.base_row)));
        else
            hs_doc_field(g, "baseline_run", "baseline run",
                         dv_null(nb ? "the baseline's runs in this group are not valid"
                                    : "this group has no baseline run"));
        if (G.base_row < 0)
            G.why_base = nb ? "The baseline has no valid run in this group: no deltas."
                            : "This group has no baseline run: no deltas.";
        if (nb_valid > 1)
            hs_doc_note(g,
                        "%zu valid baseline runs in this group; deltas are against the best of "
                        "them (%s).",
                        nb_valid, sw_run_id(s, (size_t)G.base_row));
        acfgs A;
        if (acfgs_build(&L, order, n, G.base_row, &A) < 0) {
            hs_err(err, "out of memory");
            goto done;
        }
        section_ranking(&L, g, &G);
        section_across(&L, g, &G, &A);
        section_tasks(&L, g, &G);
        section_passkey(&L, g, &G, &A);
        section_failed(&L, g, &G);
        section_integrity(&L, g, &G, (const char *const *)dups, dup_rows, ndup);
        acfgs_free(&A);
    }
    rc = hs_doc_write(doc, out, o->format, err);
done:
    if (L.labels)
        for (size_t i = 0; i < s->nrows; i++)
            free(L.labels[i]);
    free(L.labels);
    free(L.valid);
    free(L.label_axes);
    free(order);
    hs_strv_free(dups, ndup);
    free(dup_rows);
    free(axis_name);
    hs_levels_free(&groups);
    hs_doc_destroy(doc);
    hs_ctx_free(&L.c);
    return rc;
}
