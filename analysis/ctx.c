/* The settings of a report: each from its option, else the grid's analysis section, else a
 * default that the report states. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void hs_ctx_free(hs_ctx *c)
{
    if (!c)
        return;
    free(c->rows);
    free(c->by);
    free(c->over);
    hs_avg_free(&c->avg);
    hs_buf_free(&c->notes);
    memset(c, 0, sizeof *c);
}

bool hs_ctx_better(const hs_ctx *c, double a, double b)
{
    if (isnan(a))
        return false;
    if (isnan(b))
        return true;
    return c->lower ? a < b : a > b;
}

/* A list of axes from its option, else the grid's analysis section, else an axis of a default
 * name when the sweep has one (and that default is said). "none" or "" gives no axis. */
static int resolve_axes(hs_ctx *c, const char *opt, const char *optname, const char *grid_value,
                        const char *grid_name, const char *dflt, const char *dflt_note, long **out,
                        size_t *nout, hs_error *err)
{
    const hs_sweep *s = c->s;
    const char *spec = opt;
    const char *from = optname;
    if (!spec && grid_value) {
        spec = grid_value;
        from = grid_name;
    }
    if (!spec) {
        if (sw_param_find(s, dflt) < 0)
            return 0;
        spec = dflt;
        hs_buf_puts(&c->notes, dflt_note);
    }
    if (strcmp(spec, "none") == 0 || !spec[0])
        return 0;
    size_t n;
    char **v = hs_strv_split(spec, &n);
    if (!v)
        return hs_err(err, "out of memory");
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out) {
        hs_strv_free(v, n);
        return hs_err(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        long k = hs_axis_resolve(s, v[i], from, err);
        if (k < 0) {
            hs_strv_free(v, n);
            return -1;
        }
        (*out)[(*nout)++] = k;
    }
    hs_strv_free(v, n);
    return 0;
}

static int resolve_by(hs_ctx *c, hs_error *err)
{
    return resolve_axes(c, c->o->by, "--by", c->an ? c->an->by : NULL, "analysis.by of the grid",
                        "model",
                        "Grouped by the axis 'model' (the default when a sweep has one; --by to "
                        "change, --by none for one group).\n",
                        &c->by, &c->nby, err);
}

int hs_ctx_over(hs_ctx *c, hs_error *err)
{
    const hs_sweep *s = c->s;
    long *over = NULL;
    size_t n = 0;
    bool asked = c->o->over || (c->an && c->an->over);
    long seed = sw_param_find(s, "seed");
    /* the default never clashes: a seed axis that groups or names methods is left alone */
    if (!asked && seed >= 0 && (seed == c->method || hs_axis_in(c->by, c->nby, seed)))
        return 0;
    if (resolve_axes(c, c->o->over, "--over", c->an ? c->an->over : NULL,
                     "analysis.over of the grid", "seed",
                     "Repeated over the axis 'seed' (the default when a sweep has one; --over to "
                     "change, --over none to rank single runs only).\n",
                     &over, &n, err) < 0) {
        free(over);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *clash = over[i] == c->method                 ? "the method axis"
                            : hs_axis_in(c->by, c->nby, over[i]) ? "a --by axis"
                                                                 : NULL;
        if (clash) {
            hs_err(err,
                   "--over %s: '%s' is %s; an axis averaged over cannot also tell "
                   "configurations or groups apart",
                   s->pnames[over[i]], s->pnames[over[i]], clash);
            free(over);
            return -1;
        }
    }
    c->over = over;
    c->nover = n;
    return 0;
}

static int resolve_metric(hs_ctx *c, const char *opt, const char *grid_value, const char *what,
                          long *out, hs_error *err)
{
    *out = -1;
    const char *name = opt ? opt : grid_value;
    if (!name || !name[0] || strcmp(name, "none") == 0)
        return 0;
    char label[128];
    snprintf(label, sizeof label, "%s%s", what, opt ? "" : " (from the grid's analysis section)");
    long m = hs_metric_resolve(c->s, name, label, err);
    if (m < 0)
        return -1;
    *out = m;
    return 0;
}

int hs_ctx_init(hs_ctx *c, const hs_sweep *s, const hs_analyze_opts *o, bool need_target,
                hs_error *err)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    c->o = o;
    c->an = s->grid ? hs_grid_analysis(s->grid) : NULL;
    c->ddof = o->ddof;
    c->target = c->secondary = c->method = -1;
    c->rows = hs_rows_in_grid(s, &c->nrows, &c->left_out);
    if (!c->rows)
        return hs_err(err, "out of memory");
    if (c->left_out)
        hs_buf_printf(&c->notes,
                      "%zu row%s of the store belong to runs the current grid no longer has; "
                      "they are left out.\n",
                      c->left_out, c->left_out == 1 ? "" : "s");
    if (resolve_by(c, err) < 0)
        goto fail;
    /* method axis */
    const char *m = o->method_axis;
    if (!m && c->an && c->an->method_axis)
        m = c->an->method_axis;
    if (!m && sw_param_find(s, "method") >= 0)
        m = "method";
    if (m && strcmp(m, "none") != 0) {
        c->method =
            hs_axis_resolve(s, m, o->method_axis ? "--method-axis" : "the method axis", err);
        if (c->method < 0)
            goto fail;
    }
    /* average */
    hs_buf avgspec = { 0 };
    if (o->avg) {
        hs_buf_puts(&avgspec, o->avg);
    } else if (c->an && c->an->navg) {
        for (size_t i = 0; i < c->an->navg; i++)
            hs_buf_printf(&avgspec, "%s%s", i ? "," : "", c->an->avg[i]);
    }
    if (avgspec.len) {
        int rc = hs_avg_build(s, hs_buf_str(&avgspec), &c->avg, err);
        hs_buf_free(&avgspec);
        if (rc < 0)
            goto fail;
        c->has_avg = true;
    }
    /* target */
    const char *t = o->target ? o->target : c->an ? c->an->target : NULL;
    if (!t && c->has_avg)
        t = "avg";
    if (t && strcmp(t, "avg") == 0) {
        if (!c->has_avg) {
            hs_err(err, "--target avg needs --avg TASKS (or analysis.avg in the grid)");
            goto fail;
        }
        c->target = -2;
        c->tcol = c->avg.values;
        c->tname = "avg";
    } else if (t) {
        if (resolve_metric(c, o->target, c->an ? c->an->target : NULL, "--target", &c->target,
                           err) < 0)
            goto fail;
        c->tcol = s->mcols[c->target];
        c->tname = s->mnames[c->target];
    } else if (need_target) {
        hs_buf b = { 0 };
        for (size_t i = 0; i < s->nmetrics && i < 8; i++)
            hs_buf_printf(&b, "%s%s", i ? ", " : "", s->mnames[i]);
        hs_err(err,
               "no target metric: give --target METRIC (or analysis.target in the grid); "
               "metrics of sweep %s: %s%s",
               s->name, s->nmetrics ? hs_buf_str(&b) : "none yet", s->nmetrics > 8 ? ", ..." : "");
        hs_buf_free(&b);
        goto fail;
    }
    if (resolve_metric(c, o->secondary, c->an ? c->an->secondary : NULL, "--secondary",
                       &c->secondary, err) < 0)
        goto fail;
    if (c->secondary >= 0) {
        c->scol = s->mcols[c->secondary];
        c->sname = s->mnames[c->secondary];
    }
    /* direction */
    if (o->lower_is_better >= 0) {
        c->lower = o->lower_is_better == 1;
        c->lower_why = o->lower_is_better ? "--lower-is-better" : "--higher-is-better";
    } else if (c->an && c->an->lower_is_better >= 0) {
        c->lower = c->an->lower_is_better == 1;
        c->lower_why = "analysis.lower_is_better of the grid";
    } else if (c->tname && hs_metric_lower_guess(c->tname)) {
        c->lower = true;
        c->lower_why = "guessed from the name (a perplexity, loss or error); "
                       "--higher-is-better to override";
    } else {
        c->lower = false;
        c->lower_why = "the default; --lower-is-better to flip";
    }
    c->tasks = o->tasks ? o->tasks : c->an ? c->an->tasks : NULL;
    return 0;
fail:
    hs_ctx_free(c);
    return -1;
}

hs_dnode *hs_ctx_describe(const hs_ctx *c, hs_dnode *root)
{
    const hs_sweep *s = c->s;
    hs_dnode *sec = hs_doc_section(root, "settings", "Settings");
    hs_doc_field(sec, "sweep", "sweep", dv_text(s->name));
    hs_buf b = { 0 };
    for (size_t i = 0; i < s->nstores; i++)
        hs_buf_printf(&b, "%s%s", i ? ", " : "", hs_sd_path(s->stores[i]));
    hs_doc_field(sec, "stores", s->nstores == 1 ? "store" : "stores", dv_text(hs_buf_str(&b)));
    hs_doc_field(sec, "runs", "runs in the grid", dv_int((long long)c->nrows));
    if (c->tname) {
        hs_doc_field(sec, "target", "target", dv_text(c->tname));
        hs_doc_field(sec, "lower_is_better", "lower is better", dv_bool(c->lower));
        hs_doc_field(sec, "direction_from", "direction from", dv_text(c->lower_why));
    }
    if (c->sname)
        hs_doc_field(sec, "secondary", "secondary", dv_text(c->sname));
    hs_buf_reset(&b);
    for (size_t i = 0; i < c->nby; i++)
        hs_buf_printf(&b, "%s%s", i ? "," : "", s->pnames[c->by[i]]);
    hs_doc_field(sec, "by", "grouped by", c->nby ? dv_text(hs_buf_str(&b)) : dv_text("(none)"));
    hs_doc_field(sec, "method_axis", "method axis",
                 c->method >= 0 ? dv_text(s->pnames[c->method]) : dv_text("(none)"));
    if (c->nover) {
        hs_buf_reset(&b);
        for (size_t i = 0; i < c->nover; i++)
            hs_buf_printf(&b, "%s%s", i ? "," : "", s->pnames[c->over[i]]);
        hs_doc_field(sec, "over", "repeated over", dv_text(hs_buf_str(&b)));
    }
    hs_doc_field(sec, "ddof", "std ddof", dv_int(c->ddof));
    if (c->tasks)
        hs_doc_field(sec, "tasks", "tasks", dv_text(c->tasks));
    hs_buf_free(&b);
    const char *w = hs_sweep_warnings(s);
    while (*w) {
        size_t l = strcspn(w, "\n");
        char *line = strndup(w, l);
        if (line)
            hs_doc_note(sec, "%s", line);
        free(line);
        w += l + (w[l] == '\n');
    }
    const char *n = hs_buf_str(&c->notes);
    while (*n) {
        size_t l = strcspn(n, "\n");
        char *line = strndup(n, l);
        if (line)
            hs_doc_note(sec, "%s", line);
        free(line);
        n += l + (n[l] == '\n');
    }
    if (c->has_avg)
        hs_avg_describe(s, &c->avg, sec);
    return sec;
}

void hs_row_params(const hs_sweep *s, size_t row, const long *skip, size_t nskip, hs_buf *b)
{
    bool first = true;
    for (size_t k = 0; k < s->nparams; k++) {
        hs_value v;
        if (hs_axis_in(skip, nskip, (long)k) || !sw_param(s, k, row, &v))
            continue;
        hs_buf_printf(b, "%s%s=", first ? "" : ", ", s->pnames[k]);
        hs_value_put_text(b, &v);
        first = false;
    }
}

void hs_analyze_opts_init(hs_analyze_opts *o)
{
    memset(o, 0, sizeof *o);
    o->lower_is_better = -1;
    o->ddof = 1;
    o->format = HS_FORMAT_TEXT;
}
