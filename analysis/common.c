/* Helpers the reports share: resolving metric and axis names, classifying metrics, the
 * --avg averages, summaries of values. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util.h"

char **hs_strv_split(const char *s, size_t *n)
{
    *n = 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof *v);
    if (!v)
        return NULL;
    const char *p = s;
    while (*p) {
        size_t l = strcspn(p, ",");
        const char *a = p, *b = p + l;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            v[*n] = strndup(a, (size_t)(b - a));
            if (!v[*n]) {
                hs_strv_free(v, *n);
                return NULL;
            }
            (*n)++;
        }
        p += l + (p[l] == ',');
    }
    return v;
}

void hs_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static const char *last_component(const char *name)
{
    const char *s = strrchr(name, '/');
    return s ? s + 1 : name;
}

void hs_metric_task(const char *name, const char **task, size_t *tlen, const char **metric)
{
    const char *m = last_component(name);
    *metric = m;
    if (m == name) {
        *task = name;
        *tlen = 0;
        return;
    }
    const char *end = m - 1, *t = end;
    while (t > name && t[-1] != '/')
        t--;
    *task = t;
    *tlen = (size_t)(end - t);
}

/* A list of up to 8 metric names close to `name`, for messages. */
static void suggest(const hs_sweep *s, const char *name, hs_buf *b)
{
    const char *leaf = last_component(name);
    size_t shown = 0;
    for (size_t pass = 0; pass < 2 && shown < 8; pass++)
        for (size_t m = 0; m < s->nmetrics && shown < 8; m++) {
            const char *mn = s->mnames[m];
            size_t d = hs_edit_distance(leaf, last_component(mn));
            bool close = pass == 0 ? strstr(mn, leaf) != NULL : d <= 2;
            bool dup = pass == 1 && strstr(mn, leaf) != NULL;
            if (close && !dup) {
                hs_buf_printf(b, "%s%s", shown ? ", " : "", mn);
                shown++;
            }
        }
}

long hs_metric_resolve(const hs_sweep *s, const char *name, const char *what, hs_error *err)
{
    long m = sw_metric_find(s, name);
    if (m >= 0)
        return m;
    /* a unique suffix at a '/' boundary: hellaswag/acc_norm for results/lm_eval/... */
    size_t l = strlen(name);
    long found = -1;
    size_t nfound = 0;
    hs_buf cands = { 0 };
    for (size_t k = 0; k < s->nmetrics; k++) {
        const char *mn = s->mnames[k];
        size_t ml = strlen(mn);
        if (ml > l && mn[ml - l - 1] == '/' && strcmp(mn + ml - l, name) == 0) {
            if (nfound < 6)
                hs_buf_printf(&cands, "%s%s", nfound ? ", " : "", mn);
            found = (long)k;
            nfound++;
        }
    }
    if (nfound == 1) {
        hs_buf_free(&cands);
        return found;
    }
    if (nfound > 1) {
        hs_err(err, "%s '%s' is ambiguous: %zu metrics end with it (%s%s); give the full name",
               what, name, nfound, hs_buf_str(&cands), nfound > 6 ? ", ..." : "");
        hs_buf_free(&cands);
        return -1;
    }
    hs_buf_free(&cands);
    hs_buf sug = { 0 };
    suggest(s, name, &sug);
    if (sug.len)
        hs_err(err, "%s '%s' is not a metric of sweep %s; close names: %s", what, name, s->name,
               hs_buf_str(&sug));
    else if (s->nmetrics == 0)
        hs_err(err, "%s '%s': sweep %s has no metrics yet (no run has finished?)", what, name,
               s->name);
    else
        hs_err(err, "%s '%s' is not a metric of sweep %s (%zu metrics, e.g. %s)", what, name,
               s->name, s->nmetrics, s->mnames[0]);
    hs_buf_free(&sug);
    return -1;
}

long hs_axis_resolve(const hs_sweep *s, const char *name, const char *what, hs_error *err)
{
    long k = sw_param_find(s, name);
    if (k >= 0)
        return k;
    /* a message has room for some names only: say how many there are */
    hs_buf b = { 0 };
    for (size_t i = 0; i < s->nparams && i < 30; i++)
        hs_buf_printf(&b, "%s%s", i ? ", " : "", s->pnames[i]);
    if (s->nparams > 30)
        hs_buf_printf(&b, ", ... (%zu in all)", s->nparams);
    hs_err(err, "%s '%s' is not a parameter of sweep %s (its parameters: %s)", what, name, s->name,
           s->nparams ? hs_buf_str(&b) : "none");
    hs_buf_free(&b);
    return -1;
}

bool hs_metric_is_system(const char *name)
{
    static const char *const sys[] = { "gpu_mem_peak_mb", "gpu_util_mean", "gpu_energy_j" };
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
        if (strcmp(name, sys[i]) == 0)
            return true;
    return false;
}

static bool has_word(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(s, words[i]))
            return true;
    return false;
}

bool hs_metric_is_resource(const char *name)
{
    static const char *const w[] = { "time",  "seconds", "mem",        "vram",
                                     "peak",  "latency", "throughput", "tokens_per_sec",
                                     "speed", "energy",  "util",       "_mb",
                                     "_gb",   "rss",     "duration",   "elapsed" };
    if (hs_metric_is_system(name))
        return true;
    const char *leaf = last_component(name);
    size_t l = strlen(leaf);
    if (l > 2 && strcmp(leaf + l - 2, "_s") == 0)
        return true;
    return has_word(leaf, w, sizeof w / sizeof w[0]) || strstr(name, "system_metrics/") ||
           strstr(name, "efficiency/");
}

/* The last component that is not a number (depth_accuracy/0.25 -> depth_accuracy). */
static void label_component(const char *name, char *out, size_t cap)
{
    const char *end = name + strlen(name);
    while (end > name) {
        const char *start = end;
        while (start > name && start[-1] != '/')
            start--;
        char *num_end;
        size_t len = (size_t)(end - start);
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(len < 63 ? len : 63), start);
        strtod(tmp, &num_end);
        if (len == 0 || *num_end != '\0') {
            snprintf(out, cap, "%.*s", (int)len, start);
            return;
        }
        end = start > name ? start - 1 : name;
    }
    snprintf(out, cap, "%s", name);
}

bool hs_metric_is_accuracy(const char *name)
{
    char leaf[256];
    label_component(name, leaf, sizeof leaf);
    if (strstr(leaf, "stderr"))
        return false;
    static const char *const w[] = {
        "acc", "exact_match", "accuracy", "top1", "top5", "agreement"
    };
    return has_word(leaf, w, sizeof w / sizeof w[0]) || strcmp(leaf, "em") == 0 ||
           strcmp(leaf, "f1") == 0 || strcmp(leaf, "mc1") == 0 || strcmp(leaf, "mc2") == 0;
}

bool hs_metric_lower_guess(const char *name)
{
    char leaf[256];
    label_component(name, leaf, sizeof leaf);
    static const char *const w[] = { "ppl", "perplexity", "loss",    "nll", "error",
                                     "wer", "cer",        "latency", "mse", "rmse" };
    return has_word(leaf, w, sizeof w / sizeof w[0]);
}

/* True if axis p takes one value for each value of axis q over these rows. */
bool hs_axis_determined_by(const hs_sweep *s, long p, long q, const size_t *rows, size_t n,
                           hs_error *err, bool *failed)
{
    hs_levels lp, lq;
    if (hs_levels_build(s, &p, 1, rows, n, &lp, err) < 0) {
        *failed = true;
        return false;
    }
    if (hs_levels_build(s, &q, 1, rows, n, &lq, err) < 0) {
        hs_levels_free(&lp);
        *failed = true;
        return false;
    }
    int32_t *map = malloc((lq.nlev ? lq.nlev : 1) * sizeof *map);
    bool det = map != NULL;
    for (size_t i = 0; det && i < lq.nlev; i++)
        map[i] = -1;
    for (size_t i = 0; det && i < n; i++) {
        int32_t a = lq.lev[rows[i]], b = lp.lev[rows[i]];
        if (a < 0 || b < 0)
            continue;
        if (map[a] < 0)
            map[a] = b;
        else if (map[a] != b)
            det = false;
    }
    if (!map)
        *failed = true;
    free(map);
    hs_levels_free(&lp);
    hs_levels_free(&lq);
    return det;
}

/* ---- averages ----------------------------------------------------------------------------- */

void hs_avg_free(hs_avg *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->ntasks; i++) {
        free(a->tasks[i]);
        free(a->other ? a->other[i] : NULL);
    }
    free(a->tasks);
    free(a->other);
    free(a->metric);
    free(a->values);
    memset(a, 0, sizeof *a);
}

/* lm-eval's usual headline metrics, in order of preference for a bare task name. */
static const char *const preferred[] = {
    "acc",      "acc_norm", "exact_match", "exact_match@strict-match", "em", "f1",
    "accuracy", "mc2",      "score"
};

static int pref_rank(const char *metric)
{
    for (size_t i = 0; i < sizeof preferred / sizeof preferred[0]; i++)
        if (strcmp(metric, preferred[i]) == 0)
            return (int)i;
    return strstr(metric, "stderr") ? -1 : 100;
}

static int avg_task(const hs_sweep *s, hs_avg *a, size_t t, const char *spec, hs_error *err)
{
    /* a full metric name is taken as it is */
    long exact = sw_metric_find(s, spec);
    char task[256], want[256] = "";
    snprintf(task, sizeof task, "%s", spec);
    char *slash = strchr(task, '/');
    if (exact < 0 && slash) {
        *slash = '\0';
        snprintf(want, sizeof want, "%s", slash + 1);
    }
    long best = exact;
    int best_rank = 1000;
    hs_buf prefixes = { 0 }, others = { 0 };
    size_t nprefix = 0;
    const char *best_prefix = NULL;
    size_t best_plen = 0;
    for (size_t m = 0; exact < 0 && m < s->nmetrics; m++) {
        const char *tk, *metric;
        size_t tl;
        hs_metric_task(s->mnames[m], &tk, &tl, &metric);
        if (tl != strlen(task) || strncmp(tk, task, tl) != 0)
            continue;
        size_t plen = (size_t)(tk - s->mnames[m]);
        if (best_prefix && (plen != best_plen || strncmp(best_prefix, s->mnames[m], plen) != 0)) {
            if (nprefix++ == 1)
                hs_buf_printf(&prefixes, "%.*s", (int)best_plen, best_prefix);
            hs_buf_printf(&prefixes, ", %.*s", (int)plen, s->mnames[m]);
            continue;
        }
        if (!best_prefix) {
            best_prefix = s->mnames[m];
            best_plen = plen;
            nprefix = 1;
        }
        int rank = want[0] ? (strcmp(metric, want) == 0 ? 0 : -1) : pref_rank(metric);
        if (rank >= 0 && rank < best_rank) {
            best_rank = rank;
            best = (long)m;
        }
    }
    if (nprefix > 1) {
        hs_err(err, "--avg: task '%s' appears under several prefixes (%s); name its metric in full",
               task, hs_buf_str(&prefixes));
        hs_buf_free(&prefixes);
        return -1;
    }
    hs_buf_free(&prefixes);
    if (best < 0) {
        if (want[0])
            hs_err(err, "--avg: task '%s' has no metric '%s'", task, want);
        else
            hs_err(err,
                   "--avg: no metric of a task named '%s' (expected names like "
                   "'results/lm_eval/%s/acc'; subtasks such as %s_x are never matched)",
                   task, task, task);
        return -1;
    }
    a->metric[t] = best;
    /* the task's other headline metrics, to say which one was not used */
    const char *btk, *bmetric;
    size_t btl;
    hs_metric_task(s->mnames[best], &btk, &btl, &bmetric);
    size_t bplen = (size_t)(bmetric - s->mnames[best]);
    for (size_t m = 0; m < s->nmetrics; m++) {
        if ((long)m == best || strncmp(s->mnames[m], s->mnames[best], bplen) != 0 ||
            strchr(s->mnames[m] + bplen, '/'))
            continue;
        const char *metric = s->mnames[m] + bplen;
        if (pref_rank(metric) < 0 || pref_rank(metric) == 100)
            continue;
        hs_buf_printf(&others, "%s%s", others.len ? ", " : "", metric);
    }
    a->other[t] = others.len ? hs_buf_steal(&others) : NULL;
    hs_buf_free(&others);
    return 0;
}

int hs_avg_build(const hs_sweep *s, const char *spec, hs_avg *a, hs_error *err)
{
    memset(a, 0, sizeof *a);
    a->tasks = hs_strv_split(spec, &a->ntasks);
    if (!a->tasks)
        return hs_err(err, "out of memory");
    if (a->ntasks == 0)
        return hs_err(err, "--avg needs at least one task");
    a->metric = calloc(a->ntasks, sizeof *a->metric);
    a->other = calloc(a->ntasks, sizeof *a->other);
    a->values = malloc((s->nrows ? s->nrows : 1) * sizeof *a->values);
    if (!a->metric || !a->other || !a->values) {
        hs_avg_free(a);
        return hs_err(err, "out of memory");
    }
    for (size_t t = 0; t < a->ntasks; t++)
        if (avg_task(s, a, t, a->tasks[t], err) < 0) {
            hs_avg_free(a);
            return -1;
        }
    for (size_t r = 0; r < s->nrows; r++) {
        double sum = 0;
        size_t have = 0;
        for (size_t t = 0; t < a->ntasks; t++) {
            double v = s->mcols[a->metric[t]][r];
            if (!isnan(v)) {
                sum += v;
                have++;
            }
        }
        a->values[r] = have == a->ntasks ? sum / (double)a->ntasks : NAN;
        if (have && have < a->ntasks)
            a->missing++;
    }
    return 0;
}

void hs_avg_describe(const hs_sweep *s, const hs_avg *a, hs_dnode *parent)
{
    hs_dnode *sec = hs_doc_section(parent, "average", "What the average is made of (--avg)");
    hs_doc_note(sec,
                "avg = the plain mean of these %zu tasks' scores; only the named top-level "
                "tasks or groups count, never their subtasks (an MMLU group's 57 subjects are "
                "not averaged in beside it).",
                a->ntasks);
    hs_dnode *t = hs_doc_table(sec, "components", NULL, 4);
    hs_doc_col(t, 0, "task", "task", false, DC_BOTH);
    hs_doc_col(t, 1, "metric", "metric used", false, DC_BOTH);
    hs_doc_col(t, 2, "runs", "runs with it", true, DC_BOTH);
    hs_doc_col(t, 3, "not_used", "also recorded, not used", false, DC_BOTH);
    for (size_t i = 0; i < a->ntasks; i++) {
        size_t have = 0;
        const double *col = s->mcols[a->metric[i]];
        for (size_t r = 0; r < s->nrows; r++)
            have += !isnan(col[r]);
        hs_doc_row(t);
        hs_doc_cell(t, 0, dv_text(a->tasks[i]));
        hs_doc_cell(t, 1, dv_text(s->mnames[a->metric[i]]));
        hs_doc_cell(t, 2, dv_int((long long)have));
        hs_doc_cell(t, 3, a->other[i] ? dv_text(a->other[i]) : dv_text(""));
    }
    if (a->missing)
        hs_doc_note(sec,
                    "%zu run%s recorded some of these tasks but not all: %s no average rather "
                    "than an average of fewer tasks.",
                    a->missing, a->missing == 1 ? "" : "s",
                    a->missing == 1 ? "it has" : "they have");
}

void hs_summarize(const double *v, size_t n, int ddof, hs_summary *out)
{
    out->n = n;
    out->mean = hs_stats_mean(v, n);
    out->std = hs_stats_std(v, n, ddof);
    out->min = out->max = NAN;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || v[i] < out->min)
            out->min = v[i];
        if (i == 0 || v[i] > out->max)
            out->max = v[i];
    }
}

const char *hs_std_why(size_t n, int ddof)
{
    if (n == 0)
        return "no valid run";
    if ((size_t)ddof >= n)
        return ddof == 1 ? "one run: a sample std (ddof=1) needs two"
                         : "too few runs for this ddof";
    return NULL;
}
