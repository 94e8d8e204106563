#include "grid.h"

#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "result.h"
#include "template.h"
#include "util.h"

enum dim_kind { DIM_LIST, DIM_ZIP, DIM_VARIANT };

struct axis {
    const char *name;
    int line;
    hs_value *values;
    size_t n;
};

struct dim;

struct variant {
    const char *name;
    int line;
    hs_param *bundle;
    int *bundle_lines;
    size_t nbundle;
    struct dim *sub;
    size_t nsub;
    uint64_t size; /* product of the sub-dimension counts */
};

struct dim {
    enum dim_kind kind;
    int line;
    struct axis *axes; /* LIST: one; ZIP: several of equal length */
    size_t naxes;
    const char *name; /* VARIANT: the axis name */
    struct variant *variants;
    size_t nvariants;
    uint64_t count;
};

struct rule {
    int line;
    const char **names;
    hs_value **values; /* per name: the accepted values */
    size_t *nvalues;
    size_t n;
    size_t matched;
};

struct hs_grid {
    char *path;
    char *text;
    const char *name;
    const char *description;
    config_t cfg;
    int cfg_live;
    /* every allocation that lives as long as the grid */
    void **allocs;
    size_t nallocs, capallocs;

    struct dim *dims;
    size_t ndims;
    hs_param *constants;
    int *constant_lines;
    size_t nconstants;
    hs_param *defaults;
    size_t ndefaults;
    struct rule *excludes;
    size_t nexcludes;

    hs_run_spec spec;
    hs_analysis_spec analysis;
    size_t max_runs;

    /* declared parameters in declaration order */
    hs_param_info *pinfo;
    size_t npinfo, cappinfo;

    hs_run *runs;
    size_t nruns;
    hs_param *param_store;
    size_t nparam_store;

    hs_buf warnings;

    /* id -> index, open addressing */
    uint64_t *id_keys;
    size_t *id_vals;
    size_t id_cap;
};

/* ---- allocation ---------------------------------------------------------------------- */

static void *g_track(hs_grid *g, void *p)
{
    if (!p)
        return NULL;
    if (g->nallocs == g->capallocs) {
        size_t cap = g->capallocs ? g->capallocs * 2 : 64;
        void **a = realloc(g->allocs, cap * sizeof *a);
        if (!a) {
            free(p);
            return NULL;
        }
        g->allocs = a;
        g->capallocs = cap;
    }
    g->allocs[g->nallocs++] = p;
    return p;
}

static void *g_calloc(hs_grid *g, size_t n, size_t size)
{
    return g_track(g, calloc(n ? n : 1, size));
}

static char *g_strdup(hs_grid *g, const char *s)
{
    return g_track(g, strdup(s));
}

/* ---- errors -------------------------------------------------------------------------- */

static int gerr(hs_grid *g, int line, hs_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int gerr(hs_grid *g, int line, hs_error *err, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        return hs_err(err, "%s:%d: %s", g->path, line, msg);
    return hs_err(err, "%s: %s", g->path, msg);
}

static int sline(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

static const char *type_word(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a float";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "nothing";
    }
}

static bool is_identifier(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static const char *const builtins[] = { "run_id", "run_dir", "run_index", "sweep", "gpu" };

bool hs_grid_is_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(name, builtins[i]) == 0)
            return true;
    return false;
}

/* Rejects members of a group that are not in `allowed` (NULL-terminated), with a hint. */
static int check_keys(hs_grid *g, const config_setting_t *group, const char *where,
                      const char *const *allowed, hs_error *err)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(m);
        const char *best = NULL;
        size_t bestd = 3;
        int ok = 0;
        for (const char *const *a = allowed; *a; a++) {
            if (strcmp(name, *a) == 0) {
                ok = 1;
                break;
            }
            size_t d = hs_edit_distance(name, *a);
            if (d < bestd) {
                bestd = d;
                best = *a;
            }
        }
        if (ok)
            continue;
        hs_buf list = { 0 };
        for (const char *const *a = allowed; *a; a++)
            hs_buf_printf(&list, "%s%s", a == allowed ? "" : ", ", *a);
        if (best)
            gerr(g, sline(m), err, "unknown key '%s' in %s (did you mean '%s'?)", name, where,
                 best);
        else
            gerr(g, sline(m), err, "unknown key '%s' in %s (expected one of: %s)", name, where,
                 hs_buf_str(&list));
        hs_buf_free(&list);
        return -1;
    }
    return 0;
}

/* ---- scalar readers ------------------------------------------------------------------ */

static int read_scalar(hs_grid *g, const config_setting_t *s, const char *what, hs_value *out,
                       hs_error *err)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        *out = hs_value_int(config_setting_get_int64(s));
        return 0;
    case CONFIG_TYPE_FLOAT:
        *out = hs_value_float(config_setting_get_float(s));
        return 0;
    case CONFIG_TYPE_BOOL:
        *out = hs_value_bool(config_setting_get_bool(s) != 0);
        return 0;
    case CONFIG_TYPE_STRING: {
        const char *str = config_setting_get_string(s);
        if (!hs_utf8_valid(str, strlen(str)))
            return gerr(g, sline(s), err, "%s is not valid UTF-8", what);
        char *dup = g_strdup(g, str);
        if (!dup)
            return gerr(g, sline(s), err, "out of memory");
        *out = hs_value_str(dup);
        return 0;
    }
    default:
        return gerr(g, sline(s), err, "%s must be a scalar value, not %s", what, type_word(s));
    }
}

static int get_string(hs_grid *g, const config_setting_t *parent, const char *key,
                      const char *where, const char **out, hs_error *err)
{
    const config_setting_t *s = config_setting_get_member(parent, key);
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return gerr(g, sline(s), err, "%s.%s must be a string, not %s", where, key, type_word(s));
    const char *v = config_setting_get_string(s);
    if (!hs_utf8_valid(v, strlen(v)))
        return gerr(g, sline(s), err, "%s.%s is not valid UTF-8", where, key);
    if (!(*out = g_strdup(g, v)))
        return gerr(g, sline(s), err, "out of memory");
    return 0;
}

static int get_number(hs_grid *g, const config_setting_t *parent, const char *key,
                      const char *where, double lo, double hi, double *out, hs_error *err)
{
    const config_setting_t *s = config_setting_get_member(parent, key);
    if (!s)
        return 0;
    double v;
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        v = (double)config_setting_get_int64(s);
        break;
    case CONFIG_TYPE_FLOAT:
        v = config_setting_get_float(s);
        break;
    default:
        return gerr(g, sline(s), err, "%s.%s must be a number, not %s", where, key, type_word(s));
    }
    if (!(v >= lo && v <= hi))
        return gerr(g, sline(s), err, "%s.%s = %g is out of range [%g, %g]", where, key, v, lo, hi);
    *out = v;
    return 0;
}

static int get_int(hs_grid *g, const config_setting_t *parent, const char *key, const char *where,
                   long long lo, long long hi, long long *out, hs_error *err)
{
    const config_setting_t *s = config_setting_get_member(parent, key);
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
        return gerr(g, sline(s), err, "%s.%s must be an integer, not %s", where, key, type_word(s));
    long long v = config_setting_get_int64(s);
    if (v < lo || v > hi)
        return gerr(g, sline(s), err, "%s.%s = %lld is out of range [%lld, %lld]", where, key, v,
                    lo, hi);
    *out = v;
    return 0;
}

/* A byte count: an integer, or a string with a binary unit ("64M", "1.5G"). */
static int get_bytes(hs_grid *g, const config_setting_t *parent, const char *key, const char *where,
                     long long lo, const char *example, int64_t *out, hs_error *err)
{
    const config_setting_t *s = config_setting_get_member(parent, key);
    if (!s)
        return 0;
    long long bytes = -1;
    if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64)
        bytes = config_setting_get_int64(s);
    else if (config_setting_type(s) == CONFIG_TYPE_STRING)
        bytes = hs_parse_bytes(config_setting_get_string(s));
    if (bytes < lo)
        return gerr(g, sline(s), err, "%s.%s must be a byte count of at least %lld (e.g. %s)",
                    where, key, lo, example);
    *out = bytes;
    return 0;
}

static int get_bool(hs_grid *g, const config_setting_t *parent, const char *key, const char *where,
                    int *out, hs_error *err)
{
    const config_setting_t *s = config_setting_get_member(parent, key);
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return gerr(g, sline(s), err, "%s.%s must be true or false, not %s", where, key,
                    type_word(s));
    *out = config_setting_get_bool(s);
    return 0;
}

/* An array or list of strings (a single string is accepted as a one-element list). */
static int get_string_list(hs_grid *g, const config_setting_t *parent, const char *key,
                           const char *where, const char *const **out, size_t *n, hs_error *err)
{
    const config_setting_t *s = config_setting_get_member(parent, key);
    if (!s)
        return 0;
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        const char **v = g_calloc(g, 1, sizeof *v);
        if (!v || !(v[0] = g_strdup(g, config_setting_get_string(s))))
            return gerr(g, sline(s), err, "out of memory");
        *out = v;
        *n = 1;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
        return gerr(g, sline(s), err, "%s.%s must be a list of strings, not %s", where, key,
                    type_word(s));
    int len = config_setting_length(s);
    const char **v = g_calloc(g, (size_t)len, sizeof *v);
    if (!v)
        return gerr(g, sline(s), err, "out of memory");
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return gerr(g, sline(e) ? sline(e) : sline(s), err,
                        "%s.%s[%d] must be a string, not %s", where, key, i, type_word(e));
        const char *str = config_setting_get_string(e);
        if (!hs_utf8_valid(str, strlen(str)))
            return gerr(g, sline(s), err, "%s.%s[%d] is not valid UTF-8", where, key, i);
        if (!(v[i] = g_strdup(g, str)))
            return gerr(g, sline(s), err, "out of memory");
    }
    *out = v;
    *n = (size_t)len;
    return 0;
}

/* ---- parameter registry (declaration order) ------------------------------------------ */

static hs_param_info *pinfo_find(hs_grid *g, const char *name)
{
    for (size_t i = 0; i < g->npinfo; i++)
        if (strcmp(g->pinfo[i].name, name) == 0)
            return &g->pinfo[i];
    return NULL;
}

static int pinfo_declare(hs_grid *g, const char *name, int line, hs_error *err)
{
    if (pinfo_find(g, name))
        return 0;
    if (g->npinfo == g->cappinfo) {
        size_t cap = g->cappinfo ? g->cappinfo * 2 : 16;
        hs_param_info *p = realloc(g->pinfo, cap * sizeof *p);
        if (!p)
            return gerr(g, line, err, "out of memory");
        g->pinfo = p;
        g->cappinfo = cap;
    }
    g->pinfo[g->npinfo++] = (hs_param_info){ .name = name, .line = line };
    return 0;
}

static int check_param_name(hs_grid *g, const char *name, int line, const char *what, hs_error *err)
{
    if (!is_identifier(name))
        return gerr(g, line, err, "%s '%s' is not an identifier (letters, digits and _)", what,
                    name);
    if (hs_grid_is_builtin(name))
        return gerr(g, line, err, "%s '%s' is reserved for the built-in placeholder {%s}", what,
                    name, name);
    return 0;
}

/* ---- axes ---------------------------------------------------------------------------- */

static int parse_dims(hs_grid *g, const config_setting_t *group, struct dim **out, size_t *nout,
                      int depth, hs_error *err);

static int parse_list_axis(hs_grid *g, const config_setting_t *s, struct axis *a, hs_error *err)
{
    a->name = config_setting_name(s);
    a->line = sline(s);
    int len = config_setting_length(s);
    if (len == 0)
        return gerr(g, a->line, err, "axis '%s' is empty", a->name);
    a->values = g_calloc(g, (size_t)len, sizeof *a->values);
    if (!a->values)
        return gerr(g, a->line, err, "out of memory");
    char what[256];
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        snprintf(what, sizeof what, "value %d of axis '%s'", i + 1, a->name);
        if (read_scalar(g, e, what, &a->values[i], err) < 0)
            return -1;
    }
    a->n = (size_t)len;
    return 0;
}

static int parse_variant(hs_grid *g, const config_setting_t *s, struct variant *v, int depth,
                         hs_error *err)
{
    v->name = config_setting_name(s);
    v->line = sline(s);
    if (!is_identifier(v->name))
        return gerr(g, v->line, err, "variant name '%s' is not an identifier", v->name);
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return gerr(g, v->line, err, "variant '%s' must be a group of parameters ({ ... }), not %s",
                    v->name, type_word(s));
    int len = config_setting_length(s);
    v->bundle = g_calloc(g, (size_t)len, sizeof *v->bundle);
    v->bundle_lines = g_calloc(g, (size_t)len, sizeof *v->bundle_lines);
    if (!v->bundle || !v->bundle_lines)
        return gerr(g, v->line, err, "out of memory");
    v->size = 1;
    for (int i = 0; i < len; i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
        const char *mname = config_setting_name(m);
        if (strcmp(mname, "axes") == 0) {
            if (config_setting_type(m) != CONFIG_TYPE_GROUP)
                return gerr(g, sline(m), err, "'axes' of variant '%s' must be a group, not %s",
                            v->name, type_word(m));
            if (parse_dims(g, m, &v->sub, &v->nsub, depth + 1, err) < 0)
                return -1;
            continue;
        }
        if (check_param_name(g, mname, sline(m), "parameter", err) < 0)
            return -1;
        int t = config_setting_type(m);
        if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_GROUP)
            return gerr(g, sline(m), err,
                        "parameter '%s' of variant '%s' must be a single value, not %s (to "
                        "sweep it, put it under 'axes' inside the variant)",
                        mname, v->name, type_word(m));
        char what[256];
        snprintf(what, sizeof what, "parameter '%s' of variant '%s'", mname, v->name);
        hs_param *p = &v->bundle[v->nbundle];
        p->name = mname;
        if (read_scalar(g, m, what, &p->value, err) < 0)
            return -1;
        v->bundle_lines[v->nbundle++] = sline(m);
        if (pinfo_declare(g, mname, sline(m), err) < 0)
            return -1;
    }
    for (size_t d = 0; d < v->nsub; d++) {
        if (v->sub[d].count && v->size > UINT64_MAX / v->sub[d].count)
            return gerr(g, v->line, err, "variant '%s' has too many combinations", v->name);
        v->size *= v->sub[d].count;
    }
    return 0;
}

static int parse_dims(hs_grid *g, const config_setting_t *group, struct dim **out, size_t *nout,
                      int depth, hs_error *err)
{
    if (depth > 8)
        return gerr(g, sline(group), err, "variants nested more than 8 deep");
    int len = config_setting_length(group);
    struct dim *dims = g_calloc(g, (size_t)len, sizeof *dims);
    if (!dims)
        return gerr(g, sline(group), err, "out of memory");
    for (int i = 0; i < len; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        struct dim *d = &dims[i];
        d->line = sline(s);
        if (check_param_name(g, name, d->line, "axis", err) < 0)
            return -1;
        if (pinfo_declare(g, name, d->line, err) < 0)
            return -1;
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_ARRAY:
        case CONFIG_TYPE_LIST:
            d->kind = DIM_LIST;
            d->axes = g_calloc(g, 1, sizeof *d->axes);
            if (!d->axes)
                return gerr(g, d->line, err, "out of memory");
            d->naxes = 1;
            if (parse_list_axis(g, s, d->axes, err) < 0)
                return -1;
            d->count = d->axes[0].n;
            break;
        case CONFIG_TYPE_GROUP: {
            d->kind = DIM_VARIANT;
            d->name = name;
            int nv = config_setting_length(s);
            if (nv == 0)
                return gerr(g, d->line, err, "variant axis '%s' is empty", name);
            d->variants = g_calloc(g, (size_t)nv, sizeof *d->variants);
            if (!d->variants)
                return gerr(g, d->line, err, "out of memory");
            d->nvariants = (size_t)nv;
            d->count = 0;
            for (int k = 0; k < nv; k++) {
                if (parse_variant(g, config_setting_get_elem(s, (unsigned)k), &d->variants[k],
                                  depth, err) < 0)
                    return -1;
                if (d->count > UINT64_MAX - d->variants[k].size)
                    return gerr(g, d->line, err, "variant axis '%s' has too many combinations",
                                name);
                d->count += d->variants[k].size;
            }
            break;
        }
        default:
            return gerr(g, d->line, err,
                        "axis '%s' must be a list of values [...] or a group of variants { ... }, "
                        "not %s (fixed values belong in 'constants')",
                        name, type_word(s));
        }
    }
    *out = dims;
    *nout = (size_t)len;
    return 0;
}

/* ---- name scopes: a parameter is defined at most once per run ------------------------ */

struct name_entry {
    const char *name;
    int line;
};

struct name_set {
    struct name_entry *e;
    size_t n, cap;
};

static int nset_find(const struct name_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int nset_add(struct name_set *s, const char *name, int line)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct name_entry *e = realloc(s->e, cap * sizeof *e);
        if (!e)
            return -1;
        s->e = e;
        s->cap = cap;
    }
    s->e[s->n++] = (struct name_entry){ name, line };
    return 0;
}

static int dim_names(hs_grid *g, const struct dim *d, struct name_set *out, hs_error *err);

/* The names a scope defines (bundle + dims), each at most once; merged into out. */
static int scope_names(hs_grid *g, const hs_param *bundle, const int *blines, size_t nbundle,
                       const struct dim *dims, size_t ndims, struct name_set *out, hs_error *err)
{
    struct name_set local = { 0 };
    int rc = -1;
    for (size_t i = 0; i < nbundle; i++) {
        int k = nset_find(&local, bundle[i].name);
        if (k >= 0) {
            gerr(g, blines[i], err, "parameter '%s' is defined twice (also at line %d)",
                 bundle[i].name, local.e[k].line);
            goto out;
        }
        if (nset_add(&local, bundle[i].name, blines[i]) < 0)
            goto oom;
    }
    for (size_t d = 0; d < ndims; d++) {
        struct name_set dn = { 0 };
        if (dim_names(g, &dims[d], &dn, err) < 0) {
            free(dn.e);
            goto out;
        }
        for (size_t i = 0; i < dn.n; i++) {
            int k = nset_find(&local, dn.e[i].name);
            if (k >= 0) {
                int a = local.e[k].line, b = dn.e[i].line;
                gerr(g, a > b ? a : b, err, "parameter '%s' is defined twice (also at line %d)",
                     dn.e[i].name, a > b ? b : a);
                free(dn.e);
                goto out;
            }
            if (nset_add(&local, dn.e[i].name, dn.e[i].line) < 0) {
                free(dn.e);
                goto oom;
            }
        }
        free(dn.e);
    }
    for (size_t i = 0; i < local.n; i++)
        if (nset_find(out, local.e[i].name) < 0 &&
            nset_add(out, local.e[i].name, local.e[i].line) < 0)
            goto oom;
    rc = 0;
    goto out;
oom:
    gerr(g, 0, err, "out of memory");
out:
    free(local.e);
    return rc;
}

static int dim_names(hs_grid *g, const struct dim *d, struct name_set *out, hs_error *err)
{
    if (d->kind != DIM_VARIANT) {
        for (size_t a = 0; a < d->naxes; a++)
            if (nset_add(out, d->axes[a].name, d->axes[a].line) < 0)
                return gerr(g, 0, err, "out of memory");
        return 0;
    }
    if (nset_add(out, d->name, d->line) < 0)
        return gerr(g, 0, err, "out of memory");
    /* Variants of one axis are exclusive: their names may repeat across variants, but
     * none may be the axis name itself. */
    for (size_t v = 0; v < d->nvariants; v++) {
        const struct variant *var = &d->variants[v];
        struct name_set vn = { 0 };
        if (scope_names(g, var->bundle, var->bundle_lines, var->nbundle, var->sub, var->nsub, &vn,
                        err) < 0) {
            free(vn.e);
            return -1;
        }
        int k = nset_find(&vn, d->name);
        if (k >= 0) {
            int line = vn.e[k].line;
            free(vn.e);
            return gerr(g, line, err,
                        "parameter '%s' is defined twice (it is also the axis at "
                        "line %d)",
                        d->name, d->line);
        }
        for (size_t i = 0; i < vn.n; i++)
            if (nset_find(out, vn.e[i].name) < 0 && nset_add(out, vn.e[i].name, vn.e[i].line) < 0) {
                free(vn.e);
                return gerr(g, 0, err, "out of memory");
            }
        free(vn.e);
    }
    return 0;
}

/* ---- zip ----------------------------------------------------------------------------- */

static int apply_zip(hs_grid *g, const config_setting_t *zs, hs_error *err)
{
    if (!zs)
        return 0;
    int t = config_setting_type(zs);
    const config_setting_t *groups[256];
    int ngroups = 0;
    if (t == CONFIG_TYPE_ARRAY) {
        groups[ngroups++] = zs;
    } else if (t == CONFIG_TYPE_LIST) {
        int n = config_setting_length(zs);
        if (n > 256)
            return gerr(g, sline(zs), err, "too many zip groups");
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(zs, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_ARRAY &&
                config_setting_type(e) != CONFIG_TYPE_LIST)
                return gerr(g, sline(e) ? sline(e) : sline(zs), err,
                            "zip group %d must be a list of axis names, not %s", i + 1,
                            type_word(e));
            groups[ngroups++] = e;
        }
    } else {
        return gerr(g, sline(zs), err,
                    "zip must be a list of axis names, or a list of such lists, not %s",
                    type_word(zs));
    }
    for (int gi = 0; gi < ngroups; gi++) {
        const config_setting_t *grp = groups[gi];
        int line = sline(grp) ? sline(grp) : sline(zs);
        int n = config_setting_length(grp);
        if (n < 2)
            return gerr(g, line, err, "a zip group needs at least two axes");
        size_t first = (size_t)-1, len = 0;
        struct axis *axes = g_calloc(g, (size_t)n, sizeof *axes);
        if (!axes)
            return gerr(g, line, err, "out of memory");
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(grp, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_STRING)
                return gerr(g, line, err, "zip entries must be axis names (strings), not %s",
                            type_word(e));
            const char *name = config_setting_get_string(e);
            size_t d;
            for (d = 0; d < g->ndims; d++) {
                struct dim *dm = &g->dims[d];
                if (dm->kind == DIM_VARIANT && strcmp(dm->name, name) == 0)
                    return gerr(g, line, err,
                                "zip: '%s' is a variant axis; only list axes can "
                                "be zipped",
                                name);
                if (dm->kind == DIM_LIST && strcmp(dm->axes[0].name, name) == 0)
                    break;
                if (dm->kind == DIM_ZIP) {
                    for (size_t a = 0; a < dm->naxes; a++)
                        if (strcmp(dm->axes[a].name, name) == 0)
                            return gerr(g, line, err,
                                        "zip: axis '%s' is already in another zip "
                                        "group",
                                        name);
                }
            }
            if (d == g->ndims)
                return gerr(g, line, err, "zip names '%s', which is not a top-level list axis",
                            name);
            struct axis *ax = &g->dims[d].axes[0];
            for (int j = 0; j < i; j++)
                if (strcmp(axes[j].name, name) == 0)
                    return gerr(g, line, err, "zip names axis '%s' twice", name);
            if (i == 0) {
                len = ax->n;
                first = d;
            } else if (ax->n != len) {
                return gerr(g, line, err,
                            "zip group of unequal lengths: '%s' has %zu values, '%s' has %zu",
                            axes[0].name, len, name, ax->n);
            }
            axes[i] = *ax;
            if (i > 0) {
                /* remove the absorbed dimension; the group sits where its first axis was */
                memmove(&g->dims[d], &g->dims[d + 1], (g->ndims - d - 1) * sizeof *g->dims);
                g->ndims--;
                if (d < first)
                    first--;
            }
        }
        g->dims[first].kind = DIM_ZIP;
        g->dims[first].axes = axes;
        g->dims[first].naxes = (size_t)n;
        g->dims[first].count = len;
        g->dims[first].line = line;
    }
    return 0;
}

/* ---- emitting one cell --------------------------------------------------------------- */

struct plist {
    hs_param *p;
    size_t n, cap;
};

static int plist_push(struct plist *l, const char *name, hs_value v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        hs_param *p = realloc(l->p, cap * sizeof *p);
        if (!p)
            return -1;
        l->p = p;
        l->cap = cap;
    }
    l->p[l->n].name = name;
    l->p[l->n].value = v;
    l->n++;
    return 0;
}

static int emit_dims(const struct dim *dims, size_t ndims, uint64_t k, struct plist *out);

static int emit_dim(const struct dim *d, uint64_t k, struct plist *out)
{
    if (d->kind != DIM_VARIANT) {
        for (size_t a = 0; a < d->naxes; a++)
            if (plist_push(out, d->axes[a].name, d->axes[a].values[k]) < 0)
                return -1;
        return 0;
    }
    size_t v = 0;
    while (k >= d->variants[v].size) {
        k -= d->variants[v].size;
        v++;
    }
    const struct variant *var = &d->variants[v];
    if (plist_push(out, d->name, hs_value_str(var->name)) < 0)
        return -1;
    for (size_t i = 0; i < var->nbundle; i++)
        if (plist_push(out, var->bundle[i].name, var->bundle[i].value) < 0)
            return -1;
    return emit_dims(var->sub, var->nsub, k, out);
}

/* Mixed radix, the last dimension varying fastest. */
static int emit_dims(const struct dim *dims, size_t ndims, uint64_t k, struct plist *out)
{
    uint64_t idx[64];
    for (size_t d = ndims; d-- > 0;) {
        idx[d] = k % dims[d].count;
        k /= dims[d].count;
    }
    for (size_t d = 0; d < ndims; d++)
        if (emit_dim(&dims[d], idx[d], out) < 0)
            return -1;
    return 0;
}

static int cmp_param(const void *a, const void *b)
{
    return strcmp(((const hs_param *)a)->name, ((const hs_param *)b)->name);
}

/* ---- run identity -------------------------------------------------------------------- */

void hs_run_id_hash(const char *canonical, size_t len, char id[HS_RUN_ID_LEN + 1])
{
    XXH64_hash_t h = XXH3_64bits(canonical, len);
    snprintf(id, HS_RUN_ID_LEN + 1, "%016llx", (unsigned long long)h);
}

static const hs_value *default_of(const hs_grid *g, const char *name)
{
    for (size_t i = 0; i < g->ndefaults; i++)
        if (strcmp(g->defaults[i].name, name) == 0)
            return &g->defaults[i].value;
    return NULL;
}

static int canonical_json(const hs_grid *g, const hs_param *p, size_t n, hs_buf *out)
{
    int first = 1;
    if (hs_buf_putc(out, '{') < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const hs_value *def = default_of(g, p[i].name);
        if (def && hs_value_equal(def, &p[i].value))
            continue;
        if ((!first && hs_buf_putc(out, ',') < 0) || hs_buf_put_json_string(out, p[i].name) < 0 ||
            hs_buf_putc(out, ':') < 0 || hs_value_put_json(out, &p[i].value) < 0)
            return -1;
        first = 0;
    }
    return hs_buf_putc(out, '}');
}

int hs_run_canonical_json(const hs_grid *g, const hs_run *run, hs_buf *out)
{
    return canonical_json(g, run->params, run->nparams, out);
}

int hs_run_params_json(const hs_run *run, hs_buf *out)
{
    if (hs_buf_putc(out, '{') < 0)
        return -1;
    for (size_t i = 0; i < run->nparams; i++)
        if ((i && hs_buf_putc(out, ',') < 0) ||
            hs_buf_put_json_string(out, run->params[i].name) < 0 || hs_buf_putc(out, ':') < 0 ||
            hs_value_put_json(out, &run->params[i].value) < 0)
            return -1;
    return hs_buf_putc(out, '}');
}

int hs_run_describe(const hs_grid *g, const hs_run *run, hs_buf *out)
{
    int first = 1;
    for (size_t k = 0; k < g->npinfo; k++) {
        const hs_value *v = hs_run_get(run, g->pinfo[k].name);
        if (!v)
            continue;
        if (hs_buf_printf(out, "%s%s=", first ? "" : ", ", g->pinfo[k].name) < 0 ||
            hs_value_put_text(out, v) < 0)
            return -1;
        first = 0;
    }
    return 0;
}

const hs_value *hs_run_get(const hs_run *run, const char *name)
{
    size_t lo = 0, hi = run->nparams;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(run->params[mid].name, name);
        if (c == 0)
            return &run->params[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- exclude / include rules --------------------------------------------------------- */

static int parse_rules(hs_grid *g, const config_setting_t *s, const char *what, struct rule **out,
                       size_t *nout, hs_error *err)
{
    if (!s)
        return 0;
    if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
        /* a single rule written without the list parentheses */
        struct rule *r = g_calloc(g, 1, sizeof *r);
        if (!r)
            return gerr(g, sline(s), err, "out of memory");
        *out = r;
        *nout = 1;
    } else if (config_setting_type(s) == CONFIG_TYPE_LIST) {
        *nout = (size_t)config_setting_length(s);
        *out = g_calloc(g, *nout, sizeof **out);
        if (!*out)
            return gerr(g, sline(s), err, "out of memory");
    } else {
        return gerr(g, sline(s), err, "%s must be a list of groups ( { ... }, ... ), not %s", what,
                    type_word(s));
    }
    for (size_t i = 0; i < *nout; i++) {
        const config_setting_t *e = config_setting_type(s) == CONFIG_TYPE_GROUP
                                        ? s
                                        : config_setting_get_elem(s, (unsigned)i);
        struct rule *r = &(*out)[i];
        r->line = sline(e) ? sline(e) : sline(s);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP)
            return gerr(g, r->line, err,
                        "%s entry %zu must be a group { name = value; ... }, not %s", what, i + 1,
                        type_word(e));
        int n = config_setting_length(e);
        if (n == 0)
            return gerr(g, r->line, err, "%s entry %zu is empty", what, i + 1);
        r->n = (size_t)n;
        r->names = g_calloc(g, r->n, sizeof *r->names);
        r->values = g_calloc(g, r->n, sizeof *r->values);
        r->nvalues = g_calloc(g, r->n, sizeof *r->nvalues);
        if (!r->names || !r->values || !r->nvalues)
            return gerr(g, r->line, err, "out of memory");
        for (int k = 0; k < n; k++) {
            const config_setting_t *m = config_setting_get_elem(e, (unsigned)k);
            const char *name = config_setting_name(m);
            int mline = sline(m) ? sline(m) : r->line;
            if (!pinfo_find(g, name))
                return gerr(g, mline, err, "%s names '%s', which is not a parameter of this grid",
                            what, name);
            r->names[k] = name;
            int t = config_setting_type(m);
            char vwhat[256];
            snprintf(vwhat, sizeof vwhat, "%s value for '%s'", what, name);
            if (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) {
                int nv = config_setting_length(m);
                if (nv == 0)
                    return gerr(g, mline, err, "%s: empty list of values for '%s'", what, name);
                r->values[k] = g_calloc(g, (size_t)nv, sizeof **r->values);
                if (!r->values[k])
                    return gerr(g, mline, err, "out of memory");
                for (int j = 0; j < nv; j++)
                    if (read_scalar(g, config_setting_get_elem(m, (unsigned)j), vwhat,
                                    &r->values[k][j], err) < 0)
                        return -1;
                r->nvalues[k] = (size_t)nv;
            } else {
                r->values[k] = g_calloc(g, 1, sizeof **r->values);
                if (!r->values[k])
                    return gerr(g, mline, err, "out of memory");
                if (read_scalar(g, m, vwhat, &r->values[k][0], err) < 0)
                    return -1;
                r->nvalues[k] = 1;
            }
        }
    }
    return 0;
}

/* plist must be sorted by name. */
static const hs_value *plist_get(const hs_param *p, size_t n, const char *name)
{
    hs_run tmp = { .nparams = n, .params = p };
    return hs_run_get(&tmp, name);
}

static bool rule_matches(const struct rule *r, const hs_param *p, size_t n)
{
    for (size_t k = 0; k < r->n; k++) {
        const hs_value *v = plist_get(p, n, r->names[k]);
        if (!v)
            return false;
        bool any = false;
        for (size_t j = 0; j < r->nvalues[k] && !any; j++)
            any = hs_value_matches(&r->values[k][j], v);
        if (!any)
            return false;
    }
    return true;
}

/* The value an include entry gives for name, or the declared default. */
static const hs_value *include_value(const hs_grid *g, const struct rule *r, const char *name,
                                     bool *used)
{
    for (size_t k = 0; k < r->n; k++)
        if (strcmp(r->names[k], name) == 0) {
            used[k] = true;
            return &r->values[k][0];
        }
    return default_of(g, name);
}

static int include_dims(hs_grid *g, const struct rule *r, const struct dim *dims, size_t ndims,
                        bool *used, struct plist *out, hs_error *err)
{
    for (size_t d = 0; d < ndims; d++) {
        const struct dim *dm = &dims[d];
        if (dm->kind != DIM_VARIANT) {
            for (size_t a = 0; a < dm->naxes; a++) {
                const hs_value *v = include_value(g, r, dm->axes[a].name, used);
                if (!v)
                    return gerr(g, r->line, err, "include entry gives no value for axis '%s'",
                                dm->axes[a].name);
                if (plist_push(out, dm->axes[a].name, *v) < 0)
                    return gerr(g, r->line, err, "out of memory");
            }
            continue;
        }
        const hs_value *v = include_value(g, r, dm->name, used);
        if (!v)
            return gerr(g, r->line, err, "include entry gives no value for variant axis '%s'",
                        dm->name);
        if (v->type != HS_STR)
            return gerr(g, r->line, err, "include entry: '%s' must name a variant (a string)",
                        dm->name);
        const struct variant *var = NULL;
        for (size_t k = 0; k < dm->nvariants; k++)
            if (strcmp(dm->variants[k].name, v->u.s) == 0)
                var = &dm->variants[k];
        if (!var)
            return gerr(g, r->line, err, "include entry: '%s' is not a variant of axis '%s'",
                        v->u.s, dm->name);
        if (plist_push(out, dm->name, hs_value_str(var->name)) < 0)
            return gerr(g, r->line, err, "out of memory");
        for (size_t i = 0; i < var->nbundle; i++) {
            const hs_value *ov = include_value(g, r, var->bundle[i].name, used);
            /* a default never overrides a bundle value; only the entry itself does */
            bool given = false;
            for (size_t k = 0; k < r->n; k++)
                if (strcmp(r->names[k], var->bundle[i].name) == 0)
                    given = true;
            if (plist_push(out, var->bundle[i].name, given && ov ? *ov : var->bundle[i].value) < 0)
                return gerr(g, r->line, err, "out of memory");
        }
        if (include_dims(g, r, var->sub, var->nsub, used, out, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- id table ------------------------------------------------------------------------ */

static int idtab_init(hs_grid *g, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 + 16)
        cap *= 2;
    g->id_keys = calloc(cap, sizeof *g->id_keys);
    g->id_vals = calloc(cap, sizeof *g->id_vals);
    g->id_cap = cap;
    return g->id_keys && g->id_vals ? 0 : -1;
}

/* Inserts; returns the index of a run already holding this id, or -1 if inserted. */
static long idtab_put(hs_grid *g, uint64_t key, size_t val)
{
    size_t mask = g->id_cap - 1;
    for (size_t i = (size_t)(key * 0x9E3779B97F4A7C15ULL) & mask;; i = (i + 1) & mask) {
        if (g->id_vals[i] == 0) {
            g->id_keys[i] = key;
            g->id_vals[i] = val + 1;
            return -1;
        }
        if (g->id_keys[i] == key)
            return (long)(g->id_vals[i] - 1);
    }
}

long hs_grid_find(const hs_grid *g, const char *id)
{
    if (!g->id_cap || strlen(id) != HS_RUN_ID_LEN)
        return -1;
    char *end;
    uint64_t key = strtoull(id, &end, 16);
    if (*end)
        return -1;
    size_t mask = g->id_cap - 1;
    for (size_t i = (size_t)(key * 0x9E3779B97F4A7C15ULL) & mask;; i = (i + 1) & mask) {
        if (g->id_vals[i] == 0)
            return -1;
        if (g->id_keys[i] == key)
            return (long)(g->id_vals[i] - 1);
    }
}

/* ---- expansion ----------------------------------------------------------------------- */

struct pending_run {
    size_t off, n;
    int line;
    uint64_t key;
};

static int add_run(hs_grid *g, struct plist *cell, struct plist *store, struct pending_run **pr,
                   size_t *npr, size_t *cappr, int line, hs_buf *canon, hs_error *err)
{
    qsort(cell->p, cell->n, sizeof *cell->p, cmp_param);
    for (size_t i = 1; i < cell->n; i++)
        if (strcmp(cell->p[i].name, cell->p[i - 1].name) == 0)
            return gerr(g, line, err, "parameter '%s' is set twice in one run", cell->p[i].name);
    for (size_t e = 0; e < g->nexcludes; e++)
        if (rule_matches(&g->excludes[e], cell->p, cell->n)) {
            g->excludes[e].matched++;
            return 0;
        }
    if (*npr == *cappr) {
        size_t cap = *cappr ? *cappr * 2 : 256;
        struct pending_run *p = realloc(*pr, cap * sizeof *p);
        if (!p)
            return gerr(g, line, err, "out of memory");
        *pr = p;
        *cappr = cap;
    }
    struct pending_run *r = &(*pr)[*npr];
    r->off = store->n;
    r->n = cell->n;
    r->line = line;
    for (size_t i = 0; i < cell->n; i++)
        if (plist_push(store, cell->p[i].name, cell->p[i].value) < 0)
            return gerr(g, line, err, "out of memory");
    hs_buf_reset(canon);
    if (canonical_json(g, cell->p, cell->n, canon) < 0)
        return gerr(g, line, err, "out of memory");
    r->key = XXH3_64bits(canon->data, canon->len);
    (*npr)++;
    return 0;
}

static int expand(hs_grid *g, const struct rule *includes, size_t nincludes, hs_error *err)
{
    uint64_t total = 1;
    for (size_t d = 0; d < g->ndims; d++) {
        if (g->dims[d].count && total > UINT64_MAX / g->dims[d].count)
            return gerr(g, g->dims[d].line, err, "the grid has more than 2^64 cells");
        total *= g->dims[d].count;
    }
    if (g->ndims == 0 && nincludes > 0)
        total = 0; /* a grid of includes only */
    if (g->ndims > 64)
        return gerr(g, 0, err, "more than 64 top-level axes");
    if (total + nincludes > g->max_runs || total > g->max_runs)
        return gerr(g, 0, err,
                    "the grid expands to %llu runs before excludes, over the limit of %zu "
                    "(raise limits.max_runs or --max-runs if this is intended)",
                    (unsigned long long)(total + nincludes), g->max_runs);

    struct plist cell = { 0 }, store = { 0 };
    struct pending_run *pr = NULL;
    size_t npr = 0, cappr = 0;
    hs_buf canon = { 0 };
    int rc = -1;
    for (uint64_t k = 0; k < total; k++) {
        cell.n = 0;
        if (emit_dims(g->dims, g->ndims, k, &cell) < 0)
            goto oom;
        for (size_t c = 0; c < g->nconstants; c++)
            if (plist_push(&cell, g->constants[c].name, g->constants[c].value) < 0)
                goto oom;
        if (add_run(g, &cell, &store, &pr, &npr, &cappr, 0, &canon, err) < 0)
            goto out;
    }
    for (size_t i = 0; i < nincludes; i++) {
        const struct rule *r = &includes[i];
        bool used[256] = { false };
        if (r->n > 256) {
            gerr(g, r->line, err, "include entry has too many parameters");
            goto out;
        }
        cell.n = 0;
        if (include_dims(g, r, g->dims, g->ndims, used, &cell, err) < 0)
            goto out;
        for (size_t c = 0; c < g->nconstants; c++) {
            const hs_value *v = include_value(g, r, g->constants[c].name, used);
            bool given = false;
            for (size_t k = 0; k < r->n; k++)
                if (strcmp(r->names[k], g->constants[c].name) == 0)
                    given = true;
            if (plist_push(&cell, g->constants[c].name, given && v ? *v : g->constants[c].value) <
                0)
                goto oom;
        }
        for (size_t k = 0; k < r->n; k++)
            if (!used[k]) {
                gerr(g, r->line, err,
                     "include entry sets '%s', which the run it describes does not have (a "
                     "parameter of another variant?)",
                     r->names[k]);
                goto out;
            }
        for (size_t k = 0; k < r->n; k++)
            if (r->nvalues[k] != 1) {
                gerr(g, r->line, err, "include entry gives a list for '%s'; an include is one run",
                     r->names[k]);
                goto out;
            }
        if (add_run(g, &cell, &store, &pr, &npr, &cappr, r->line, &canon, err) < 0)
            goto out;
    }

    g->param_store = store.p;
    g->nparam_store = store.n;
    store.p = NULL;
    g->runs = calloc(npr ? npr : 1, sizeof *g->runs);
    if (!g->runs || idtab_init(g, npr) < 0)
        goto oom;
    g->nruns = npr;
    for (size_t i = 0; i < npr; i++) {
        hs_run *run = &g->runs[i];
        run->index = i;
        run->params = g->param_store + pr[i].off;
        run->nparams = pr[i].n;
        run->line = pr[i].line;
        snprintf(run->id, sizeof run->id, "%016llx", (unsigned long long)pr[i].key);
        long other = idtab_put(g, pr[i].key, i);
        if (other >= 0) {
            hs_buf a = { 0 }, b = { 0 };
            hs_run_describe(g, &g->runs[other], &a);
            hs_run_describe(g, run, &b);
            hs_buf ca = { 0 }, cb = { 0 };
            hs_run_canonical_json(g, &g->runs[other], &ca);
            hs_run_canonical_json(g, run, &cb);
            int same = strcmp(hs_buf_str(&ca), hs_buf_str(&cb)) == 0;
            int differ = strcmp(hs_buf_str(&a), hs_buf_str(&b)) != 0;
            hs_shorten(&a, HS_SHORT_CELL_COLS, NULL);
            hs_shorten(&b, HS_SHORT_CELL_COLS, NULL);
            int line = run->line ? run->line : g->runs[other].line;
            if (same)
                gerr(g, line, err,
                     "runs %ld and %zu have the same parameters (%s)%s; every cell must be "
                     "distinct",
                     other, i, hs_buf_str(&b),
                     differ ? " once defaults are left out" : "");
            else
                gerr(g, line, err, "runs %ld (%s) and %zu (%s) hash to the same id %s", other,
                     hs_buf_str(&a), i, hs_buf_str(&b), run->id);
            hs_buf_free(&a);
            hs_buf_free(&b);
            hs_buf_free(&ca);
            hs_buf_free(&cb);
            goto out;
        }
    }
    rc = 0;
    goto out;
oom:
    gerr(g, 0, err, "out of memory expanding the grid");
out:
    free(cell.p);
    free(store.p);
    free(pr);
    hs_buf_free(&canon);
    return rc;
}

/* ---- parameter facts after expansion -------------------------------------------------- */

static int compute_param_info(hs_grid *g, hs_error *err)
{
    size_t *count = calloc(g->npinfo ? g->npinfo : 1, sizeof *count);
    int *types = calloc(g->npinfo ? g->npinfo : 1, sizeof *types);
    if (!count || !types) {
        free(count);
        free(types);
        return gerr(g, 0, err, "out of memory");
    }
    hs_buf t = { 0 };
    for (size_t r = 0; r < g->nruns; r++) {
        const hs_run *run = &g->runs[r];
        for (size_t i = 0; i < run->nparams; i++) {
            size_t k;
            for (k = 0; k < g->npinfo; k++)
                if (g->pinfo[k].name == run->params[i].name ||
                    strcmp(g->pinfo[k].name, run->params[i].name) == 0)
                    break;
            if (k == g->npinfo)
                continue;
            count[k]++;
            types[k] |= 1 << run->params[i].value.type;
            hs_buf_reset(&t);
            hs_value_put_text(&t, &run->params[i].value);
            if (t.len > g->pinfo[k].max_text_len)
                g->pinfo[k].max_text_len = t.len;
        }
    }
    hs_buf_free(&t);
    for (size_t k = 0; k < g->npinfo; k++) {
        hs_param_info *p = &g->pinfo[k];
        p->conditional = count[k] < g->nruns;
        int m = types[k];
        if (m == (1 << HS_INT))
            p->type = HS_PTYPE_INT;
        else if (m == (1 << HS_FLOAT) || m == ((1 << HS_FLOAT) | (1 << HS_INT)))
            p->type = HS_PTYPE_FLOAT;
        else if (m == (1 << HS_BOOL))
            p->type = HS_PTYPE_BOOL;
        else if (m == (1 << HS_STR) || m == 0)
            p->type = HS_PTYPE_STR;
        else
            p->type = HS_PTYPE_MIXED;
        const hs_value *def = default_of(g, p->name);
        if (def) {
            p->has_default = true;
            p->def = *def;
        }
    }
    free(count);
    free(types);
    return 0;
}

/* ---- placeholders -------------------------------------------------------------------- */

struct tmpl_check {
    hs_grid *g;
    bool builtins_only;
    const char *what;
};

static int check_placeholder(const char *name, enum hs_tmpl_kind kind, void *arg, hs_error *err)
{
    struct tmpl_check *c = arg;
    hs_grid *g = c->g;
    if (hs_grid_is_builtin(name)) {
        if (kind == HS_TMPL_JSON)
            return hs_err(err, "{json:...} lists parameters, and '%s' is a built-in", name);
        return 0;
    }
    if (c->builtins_only)
        return hs_err(err,
                      "%s may only use the built-ins {run_id}, {run_dir}, {run_index}, "
                      "{sweep} and {gpu}, not parameter '%s' (a parameter value must never "
                      "choose a path)",
                      c->what, name);
    if (!pinfo_find(g, name)) {
        const char *best = NULL;
        size_t bestd = 3;
        for (size_t k = 0; k < g->npinfo; k++) {
            size_t d = hs_edit_distance(name, g->pinfo[k].name);
            if (d < bestd) {
                bestd = d;
                best = g->pinfo[k].name;
            }
        }
        if (best)
            return hs_err(err, "{%s} names no parameter and no built-in (did you mean {%s}?)", name,
                          best);
        return hs_err(err,
                      "{%s} names no parameter and no built-in (run_id, run_dir, run_index, "
                      "sweep, gpu)",
                      name);
    }
    if (kind != HS_TMPL_PLAIN)
        return 0;
    for (size_t r = 0; r < g->nruns; r++)
        if (!hs_run_get(&g->runs[r], name)) {
            hs_buf d = { 0 };
            hs_run_describe(g, &g->runs[r], &d);
            hs_shorten(&d, HS_SHORT_CELL_COLS, NULL);
            hs_err(err,
                   "{%s} is not set for run %zu (%s); write {%s?} to leave the element out "
                   "for runs without it",
                   name, r, hs_buf_str(&d), name);
            hs_buf_free(&d);
            return -1;
        }
    return 0;
}

static int check_template(hs_grid *g, const char *tmpl, int line, const char *what,
                          bool builtins_only, hs_error *err)
{
    struct tmpl_check c = { g, builtins_only, what };
    hs_error e;
    if (hs_tmpl_scan(tmpl, check_placeholder, &c, &e) < 0)
        return gerr(g, line, err, "%s '%s': %s", what, tmpl, e.text);
    return 0;
}

/* ---- sections ------------------------------------------------------------------------ */

static const char *const top_keys[] = { "name",      "description", "run",      "axes",
                                        "constants", "defaults",    "zip",      "exclude",
                                        "include",   "metrics",     "analysis", "limits",
                                        NULL };
static const char *const run_keys[] = { "runner",  "argv",    "shell",     "probe",
                                        "device",  "workdir", "results",   "cleanup",
                                        "files",   "env",     "timeout",   "grace",
                                        "retries", "gpus",    "log_limit", "max_result_size",
                                        NULL };
static const char *const metrics_keys[] = { "rename", "required", "keep", "on_warnings", NULL };
static const char *const analysis_keys[] = { "target", "secondary",       "by",     "method_axis",
                                             "tasks",  "baseline",        "params", "diagnostics",
                                             "avg",    "lower_is_better", "over",   NULL };
static const char *const limits_keys[] = { "max_runs", NULL };
static const char *const file_keys[] = { "path", "text", NULL };

struct tmpl_ref {
    const char *text;
    int line;
    const char *what;
    bool builtins_only;
};

struct tmpl_refs {
    struct tmpl_ref r[512];
    size_t n;
};

static void add_ref(struct tmpl_refs *t, const char *text, int line, const char *what, bool bo)
{
    if (t->n < sizeof t->r / sizeof t->r[0])
        t->r[t->n++] = (struct tmpl_ref){ text, line, what, bo };
}

static int line_of(const config_setting_t *parent, const char *key)
{
    const config_setting_t *s = config_setting_get_member(parent, key);
    return s ? sline(s) : sline(parent);
}

static int parse_run(hs_grid *g, const config_setting_t *run, struct tmpl_refs *refs, hs_error *err)
{
    hs_run_spec *sp = &g->spec;
    if (!run)
        return gerr(g, 0, err, "missing the 'run' section (what each run executes)");
    if (config_setting_type(run) != CONFIG_TYPE_GROUP)
        return gerr(g, sline(run), err, "'run' must be a group, not %s", type_word(run));
    if (check_keys(g, run, "run", run_keys, err) < 0)
        return -1;
    const char *runner = "exec";
    if (get_string(g, run, "runner", "run", &runner, err) < 0)
        return -1;
    if (strcmp(runner, "exec") == 0)
        sp->runner = HS_RUNNER_EXEC;
    else if (strcmp(runner, "probe") == 0)
        sp->runner = HS_RUNNER_PROBE;
    else
        return gerr(g, line_of(run, "runner"), err,
                    "run.runner must be \"exec\" or \"probe\", not \"%s\"", runner);
    if (get_string_list(g, run, "argv", "run", &sp->argv, &sp->argc, err) < 0 ||
        get_string(g, run, "shell", "run", &sp->shell, err) < 0 ||
        get_string(g, run, "probe", "run", &sp->probe, err) < 0 ||
        get_string(g, run, "workdir", "run", &sp->workdir, err) < 0 ||
        get_string_list(g, run, "results", "run", &sp->results, &sp->nresults, err) < 0 ||
        get_string_list(g, run, "cleanup", "run", &sp->cleanup, &sp->ncleanup, err) < 0)
        return -1;
    sp->device = "auto";
    if (get_string(g, run, "device", "run", &sp->device, err) < 0)
        return -1;
    if (strcmp(sp->device, "auto") && strcmp(sp->device, "cpu") && strcmp(sp->device, "cuda"))
        return gerr(g, line_of(run, "device"), err,
                    "run.device must be \"auto\", \"cpu\" or \"cuda\", not \"%s\"", sp->device);
    if (sp->runner == HS_RUNNER_EXEC) {
        if (sp->probe)
            return gerr(g, line_of(run, "probe"), err, "run.probe is only for runner = \"probe\"");
        if (!sp->argv && !sp->shell)
            return gerr(g, sline(run), err,
                        "run needs 'argv' (the command) or, as an explicit "
                        "opt-in, 'shell'");
        if (sp->argv && sp->shell)
            return gerr(g, line_of(run, "shell"), err,
                        "run has both 'argv' and 'shell'; choose "
                        "one");
        if (sp->argv && sp->argc == 0)
            return gerr(g, line_of(run, "argv"), err, "run.argv is empty");
        if (config_setting_get_member(run, "device"))
            return gerr(g, line_of(run, "device"), err,
                        "run.device is only for runner = \"probe\"");
    } else {
        if (!sp->probe)
            return gerr(g, sline(run), err,
                        "runner = \"probe\" needs run.probe (the probe "
                        "name: prune, kvcache, weightquant)");
        if (sp->argv || sp->shell)
            return gerr(g, line_of(run, sp->argv ? "argv" : "shell"), err,
                        "a probe run has no argv or shell; its parameters are the run's "
                        "parameters");
    }
    double v = 86400;
    if (get_number(g, run, "timeout", "run", 0.001, 365.0 * 86400, &v, err) < 0)
        return -1;
    sp->timeout = v;
    sp->timeout_set = config_setting_get_member(run, "timeout") != NULL;
    v = 10;
    if (get_number(g, run, "grace", "run", 0, 3600, &v, err) < 0)
        return -1;
    sp->grace = v;
    long long iv = 0;
    if (get_int(g, run, "retries", "run", 0, 100, &iv, err) < 0)
        return -1;
    sp->retries = (int)iv;
    iv = 1;
    if (get_int(g, run, "gpus", "run", 0, 1024, &iv, err) < 0)
        return -1;
    if (iv > 1)
        return gerr(g, line_of(run, "gpus"), err,
                    "run.gpus = %lld: runs of more than one GPU are not supported yet; each "
                    "run gets one GPU (or 0 for none)",
                    iv);
    sp->gpus = (int)iv;
    sp->log_limit = 64LL << 20;
    sp->max_result_size = HS_MAX_RESULT_SIZE_DEFAULT;
    if (get_bytes(g, run, "log_limit", "run", 4096, "65536 or \"64M\"", &sp->log_limit, err) < 0 ||
        get_bytes(g, run, "max_result_size", "run", 1024, "268435456 or \"512M\"",
                  &sp->max_result_size, err) < 0)
        return -1;
    for (size_t i = 0; i < sp->argc; i++)
        add_ref(refs, sp->argv[i], line_of(run, "argv"), "argv element", false);
    for (size_t i = 0; i < sp->nresults; i++)
        add_ref(refs, sp->results[i], line_of(run, "results"), "results entry", false);
    for (size_t i = 0; i < sp->ncleanup; i++)
        add_ref(refs, sp->cleanup[i], line_of(run, "cleanup"), "cleanup entry", true);
    if (sp->workdir)
        add_ref(refs, sp->workdir, line_of(run, "workdir"), "workdir", false);

    const config_setting_t *env = config_setting_get_member(run, "env");
    if (env) {
        if (config_setting_type(env) != CONFIG_TYPE_GROUP)
            return gerr(g, sline(env), err, "run.env must be a group { NAME = \"value\"; }, not %s",
                        type_word(env));
        sp->nenv = (size_t)config_setting_length(env);
        hs_env_spec *e = g_calloc(g, sp->nenv, sizeof *e);
        if (!e)
            return gerr(g, sline(env), err, "out of memory");
        for (size_t i = 0; i < sp->nenv; i++) {
            const config_setting_t *m = config_setting_get_elem(env, (unsigned)i);
            e[i].name = config_setting_name(m);
            if (!is_identifier(e[i].name))
                return gerr(g, sline(m), err, "run.env: '%s' is not a valid variable name",
                            e[i].name);
            if (strncmp(e[i].name, "HYPERSWEEP_", 11) == 0 ||
                strcmp(e[i].name, "CUDA_VISIBLE_DEVICES") == 0)
                return gerr(g, sline(m), err, "run.env: %s is set by hypersweep itself", e[i].name);
            hs_value val;
            char what[128];
            snprintf(what, sizeof what, "run.env.%s", e[i].name);
            if (read_scalar(g, m, what, &val, err) < 0)
                return -1;
            hs_buf t = { 0 };
            if (val.type == HS_STR) {
                e[i].value = val.u.s;
            } else {
                hs_value_put_text(&t, &val);
                e[i].value = g_strdup(g, hs_buf_str(&t));
                hs_buf_free(&t);
            }
            add_ref(refs, e[i].value, sline(m), "env value", false);
        }
        sp->env = e;
    }

    const config_setting_t *files = config_setting_get_member(run, "files");
    if (files) {
        if (config_setting_type(files) != CONFIG_TYPE_LIST)
            return gerr(g, sline(files), err,
                        "run.files must be a list ( { path = ...; text = ...; }, ... ), not %s",
                        type_word(files));
        sp->nfiles = (size_t)config_setting_length(files);
        hs_file_spec *f = g_calloc(g, sp->nfiles, sizeof *f);
        if (!f)
            return gerr(g, sline(files), err, "out of memory");
        for (size_t i = 0; i < sp->nfiles; i++) {
            const config_setting_t *m = config_setting_get_elem(files, (unsigned)i);
            int line = sline(m) ? sline(m) : sline(files);
            if (config_setting_type(m) != CONFIG_TYPE_GROUP)
                return gerr(g, line, err, "run.files entry %zu must be a group, not %s", i + 1,
                            type_word(m));
            if (check_keys(g, m, "run.files entry", file_keys, err) < 0 ||
                get_string(g, m, "path", "run.files", &f[i].path, err) < 0 ||
                get_string(g, m, "text", "run.files", &f[i].text, err) < 0)
                return -1;
            if (!f[i].path || !f[i].text)
                return gerr(g, line, err, "run.files entry %zu needs both path and text", i + 1);
            add_ref(refs, f[i].path, line, "files path", true);
            add_ref(refs, f[i].text, line, "files text", false);
        }
        sp->files = f;
    }
    return 0;
}

static int parse_metrics(hs_grid *g, const config_setting_t *m, hs_error *err)
{
    hs_run_spec *sp = &g->spec;
    sp->keep_all = true;
    sp->on_warnings = HS_WARN_SUSPECT;
    if (!m)
        return 0;
    if (config_setting_type(m) != CONFIG_TYPE_GROUP)
        return gerr(g, sline(m), err, "'metrics' must be a group, not %s", type_word(m));
    if (check_keys(g, m, "metrics", metrics_keys, err) < 0)
        return -1;
    const config_setting_t *rn = config_setting_get_member(m, "rename");
    if (rn) {
        if (config_setting_type(rn) != CONFIG_TYPE_GROUP)
            return gerr(g, sline(rn), err,
                        "metrics.rename must be a group { new_name = \"path.to.metric\"; }");
        sp->nrenames = (size_t)config_setting_length(rn);
        hs_rename_spec *r = g_calloc(g, sp->nrenames, sizeof *r);
        if (!r)
            return gerr(g, sline(rn), err, "out of memory");
        for (size_t i = 0; i < sp->nrenames; i++) {
            const config_setting_t *e = config_setting_get_elem(rn, (unsigned)i);
            r[i].name = config_setting_name(e);
            if (config_setting_type(e) != CONFIG_TYPE_STRING)
                return gerr(g, sline(e), err, "metrics.rename.%s must be a string (a metric path)",
                            r[i].name);
            r[i].from = g_strdup(g, config_setting_get_string(e));
        }
        sp->renames = r;
    }
    if (get_string_list(g, m, "required", "metrics", &sp->required, &sp->nrequired, err) < 0)
        return -1;
    const char *keep = NULL, *onw = NULL;
    if (get_string(g, m, "keep", "metrics", &keep, err) < 0 ||
        get_string(g, m, "on_warnings", "metrics", &onw, err) < 0)
        return -1;
    if (keep) {
        if (strcmp(keep, "all") == 0)
            sp->keep_all = true;
        else if (strcmp(keep, "renamed") == 0)
            sp->keep_all = false;
        else
            return gerr(g, line_of(m, "keep"), err,
                        "metrics.keep must be \"all\" or \"renamed\", not \"%s\"", keep);
    }
    if (onw) {
        if (strcmp(onw, "suspect") == 0)
            sp->on_warnings = HS_WARN_SUSPECT;
        else if (strcmp(onw, "ignore") == 0)
            sp->on_warnings = HS_WARN_IGNORE;
        else if (strcmp(onw, "fail") == 0)
            sp->on_warnings = HS_WARN_FAIL;
        else
            return gerr(g, line_of(m, "on_warnings"), err,
                        "metrics.on_warnings must be \"suspect\", \"ignore\" or \"fail\", not "
                        "\"%s\"",
                        onw);
    }
    return 0;
}

static int check_axis_ref(hs_grid *g, const config_setting_t *parent, const char *key,
                          const char *name, hs_error *err)
{
    if (name && !pinfo_find(g, name))
        return gerr(g, line_of(parent, key), err,
                    "analysis.%s names '%s', which is not a "
                    "parameter of this grid",
                    key, name);
    return 0;
}

static int parse_analysis(hs_grid *g, const config_setting_t *a, hs_error *err)
{
    hs_analysis_spec *an = &g->analysis;
    an->lower_is_better = -1;
    if (!a)
        return 0;
    if (config_setting_type(a) != CONFIG_TYPE_GROUP)
        return gerr(g, sline(a), err, "'analysis' must be a group, not %s", type_word(a));
    if (check_keys(g, a, "analysis", analysis_keys, err) < 0)
        return -1;
    if (get_string(g, a, "target", "analysis", &an->target, err) < 0 ||
        get_string(g, a, "secondary", "analysis", &an->secondary, err) < 0 ||
        get_string(g, a, "by", "analysis", &an->by, err) < 0 ||
        get_string(g, a, "method_axis", "analysis", &an->method_axis, err) < 0 ||
        get_string(g, a, "tasks", "analysis", &an->tasks, err) < 0 ||
        get_string(g, a, "baseline", "analysis", &an->baseline, err) < 0 ||
        get_string(g, a, "over", "analysis", &an->over, err) < 0 ||
        get_string_list(g, a, "params", "analysis", &an->params, &an->nparams, err) < 0 ||
        get_string_list(g, a, "diagnostics", "analysis", &an->diagnostics, &an->ndiagnostics, err) <
            0 ||
        get_string_list(g, a, "avg", "analysis", &an->avg, &an->navg, err) < 0 ||
        get_bool(g, a, "lower_is_better", "analysis", &an->lower_is_better, err) < 0)
        return -1;
    if (check_axis_ref(g, a, "by", an->by, err) < 0 ||
        check_axis_ref(g, a, "method_axis", an->method_axis, err) < 0 ||
        check_axis_ref(g, a, "over", an->over, err) < 0)
        return -1;
    for (size_t i = 0; i < an->nparams; i++)
        if (check_axis_ref(g, a, "params", an->params[i], err) < 0)
            return -1;
    if (an->baseline) {
        const char *eq = strchr(an->baseline, '=');
        if (!eq || eq == an->baseline)
            return gerr(g, line_of(a, "baseline"), err,
                        "analysis.baseline must be \"axis=value\", e.g. \"method=fp16\"");
        char axis[256];
        size_t l = (size_t)(eq - an->baseline);
        if (l >= sizeof axis)
            l = sizeof axis - 1;
        memcpy(axis, an->baseline, l);
        axis[l] = '\0';
        if (check_axis_ref(g, a, "baseline", axis, err) < 0)
            return -1;
    }
    return 0;
}

static int parse_constants(hs_grid *g, const config_setting_t *c, hs_error *err)
{
    if (!c)
        return 0;
    if (config_setting_type(c) != CONFIG_TYPE_GROUP)
        return gerr(g, sline(c), err, "'constants' must be a group { name = value; }, not %s",
                    type_word(c));
    size_t n = (size_t)config_setting_length(c);
    g->constants = g_calloc(g, n, sizeof *g->constants);
    g->constant_lines = g_calloc(g, n, sizeof *g->constant_lines);
    if (!g->constants || !g->constant_lines)
        return gerr(g, sline(c), err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(c, (unsigned)i);
        const char *name = config_setting_name(m);
        if (check_param_name(g, name, sline(m), "constant", err) < 0)
            return -1;
        char what[256];
        snprintf(what, sizeof what, "constant '%s'", name);
        if (read_scalar(g, m, what, &g->constants[i].value, err) < 0)
            return -1;
        g->constants[i].name = name;
        g->constant_lines[i] = sline(m);
        if (pinfo_declare(g, name, sline(m), err) < 0)
            return -1;
    }
    g->nconstants = n;
    return 0;
}

static int parse_defaults(hs_grid *g, const config_setting_t *d, hs_error *err)
{
    if (!d)
        return 0;
    if (config_setting_type(d) != CONFIG_TYPE_GROUP)
        return gerr(g, sline(d), err, "'defaults' must be a group { name = value; }, not %s",
                    type_word(d));
    size_t n = (size_t)config_setting_length(d);
    g->defaults = g_calloc(g, n, sizeof *g->defaults);
    if (!g->defaults)
        return gerr(g, sline(d), err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(d, (unsigned)i);
        const char *name = config_setting_name(m);
        if (!pinfo_find(g, name))
            return gerr(g, sline(m), err,
                        "defaults names '%s', which is not a parameter of "
                        "this grid",
                        name);
        char what[256];
        snprintf(what, sizeof what, "default of '%s'", name);
        if (read_scalar(g, m, what, &g->defaults[i].value, err) < 0)
            return -1;
        g->defaults[i].name = name;
    }
    g->ndefaults = n;
    return 0;
}

static int load(hs_grid *g, const hs_grid_opts *opts, hs_error *err)
{
    config_init(&g->cfg);
    g->cfg_live = 1;
    char *dir = strdup(g->path);
    if (!dir)
        return gerr(g, 0, err, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        config_set_include_dir(&g->cfg, dir[0] ? dir : "/");
    }
    free(dir);
    if (!config_read_string(&g->cfg, g->text)) {
        const char *f = config_error_file(&g->cfg);
        return hs_err(err, "%s:%d: syntax error: %s", f ? f : g->path, config_error_line(&g->cfg),
                      config_error_text(&g->cfg));
    }
    const config_setting_t *root = config_root_setting(&g->cfg);
    if (check_keys(g, root, "the grid file", top_keys, err) < 0)
        return -1;

    const char *name = NULL;
    if (get_string(g, root, "name", "grid", &name, err) < 0)
        return -1;
    if (!name)
        return gerr(g, 0, err, "missing 'name' (the sweep's name, e.g. name = \"llama-pruning\";)");
    if (!name[0] || strlen(name) > 128 || name[0] == '.')
        return gerr(g, line_of(root, "name"), err,
                    "name must be 1 to 128 characters and not "
                    "start with '.'");
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return gerr(g, line_of(root, "name"), err,
                        "name \"%s\" may only use letters, digits, '_', '-' and '.' (it names "
                        "directories)",
                        name);
    g->name = name;
    g->description = "";
    if (get_string(g, root, "description", "grid", &g->description, err) < 0)
        return -1;

    const config_setting_t *lim = config_setting_get_member(root, "limits");
    long long max_runs = HS_DEFAULT_MAX_RUNS;
    if (lim) {
        if (config_setting_type(lim) != CONFIG_TYPE_GROUP)
            return gerr(g, sline(lim), err, "'limits' must be a group, not %s", type_word(lim));
        if (check_keys(g, lim, "limits", limits_keys, err) < 0 ||
            get_int(g, lim, "max_runs", "limits", 1, 1000000000000LL, &max_runs, err) < 0)
            return -1;
    }
    g->max_runs = opts && opts->max_runs ? opts->max_runs : (size_t)max_runs;

    const config_setting_t *axes = config_setting_get_member(root, "axes");
    if (axes) {
        if (config_setting_type(axes) != CONFIG_TYPE_GROUP)
            return gerr(g, sline(axes), err, "'axes' must be a group { name = [...]; }, not %s",
                        type_word(axes));
        if (parse_dims(g, axes, &g->dims, &g->ndims, 0, err) < 0)
            return -1;
    }
    if (parse_constants(g, config_setting_get_member(root, "constants"), err) < 0)
        return -1;

    /* one definition per name per run */
    struct name_set all = { 0 };
    int rc = scope_names(g, g->constants, g->constant_lines, g->nconstants, g->dims, g->ndims, &all,
                         err);
    free(all.e);
    if (rc < 0)
        return -1;

    if (apply_zip(g, config_setting_get_member(root, "zip"), err) < 0 ||
        parse_defaults(g, config_setting_get_member(root, "defaults"), err) < 0)
        return -1;

    struct rule *includes = NULL;
    size_t nincludes = 0;
    if (parse_rules(g, config_setting_get_member(root, "exclude"), "exclude", &g->excludes,
                    &g->nexcludes, err) < 0 ||
        parse_rules(g, config_setting_get_member(root, "include"), "include", &includes, &nincludes,
                    err) < 0)
        return -1;
    if (g->ndims == 0 && nincludes == 0)
        return gerr(g, axes ? sline(axes) : 0, err,
                    "the grid has no axes and no include entries: it defines no runs");

    struct tmpl_refs *refs = calloc(1, sizeof *refs);
    if (!refs)
        return gerr(g, 0, err, "out of memory");
    if (parse_run(g, config_setting_get_member(root, "run"), refs, err) < 0 ||
        parse_metrics(g, config_setting_get_member(root, "metrics"), err) < 0 ||
        parse_analysis(g, config_setting_get_member(root, "analysis"), err) < 0 ||
        expand(g, includes, nincludes, err) < 0 || compute_param_info(g, err) < 0) {
        free(refs);
        return -1;
    }
    for (size_t i = 0; i < refs->n; i++)
        if (check_template(g, refs->r[i].text, refs->r[i].line, refs->r[i].what,
                           refs->r[i].builtins_only, err) < 0) {
            free(refs);
            return -1;
        }
    free(refs);
    if (g->nruns == 0)
        return gerr(g, 0, err, "every cell of the grid is excluded: it defines no runs");
    for (size_t e = 0; e < g->nexcludes; e++)
        if (g->excludes[e].matched == 0)
            hs_buf_printf(&g->warnings, "%s:%d: warning: this exclude rule matched no run\n",
                          g->path, g->excludes[e].line);
    return 0;
}

hs_grid *hs_grid_load_text(const char *text, const char *path, const hs_grid_opts *opts,
                           hs_error *err)
{
    hs_grid *g = calloc(1, sizeof *g);
    if (!g) {
        hs_err(err, "out of memory");
        return NULL;
    }
    g->path = strdup(path ? path : "<grid>");
    g->text = strdup(text);
    if (!g->path || !g->text) {
        hs_err(err, "out of memory");
        hs_grid_destroy(g);
        return NULL;
    }
    if (load(g, opts, err) < 0) {
        hs_grid_destroy(g);
        return NULL;
    }
    return g;
}

hs_grid *hs_grid_load(const char *path, const hs_grid_opts *opts, hs_error *err)
{
    char *text;
    size_t len;
    if (hs_read_file(path, 64u << 20, &text, &len, err) < 0)
        return NULL;
    if (strlen(text) != len) {
        free(text);
        hs_err(err, "%s: the file contains a NUL byte; is it a grid file?", path);
        return NULL;
    }
    hs_grid *g = hs_grid_load_text(text, path, opts, err);
    free(text);
    return g;
}

void hs_grid_destroy(hs_grid *g)
{
    if (!g)
        return;
    if (g->cfg_live)
        config_destroy(&g->cfg);
    for (size_t i = 0; i < g->nallocs; i++)
        free(g->allocs[i]);
    free(g->allocs);
    free(g->pinfo);
    free(g->runs);
    free(g->param_store);
    free(g->id_keys);
    free(g->id_vals);
    free(g->path);
    free(g->text);
    hs_buf_free(&g->warnings);
    free(g);
}

const char *hs_grid_name(const hs_grid *g)
{
    return g->name;
}
const char *hs_grid_path(const hs_grid *g)
{
    return g->path;
}
const char *hs_grid_text(const hs_grid *g)
{
    return g->text;
}
const char *hs_grid_warnings(const hs_grid *g)
{
    return hs_buf_str(&g->warnings);
}
const char *hs_grid_description(const hs_grid *g)
{
    return g->description;
}
size_t hs_grid_nruns(const hs_grid *g)
{
    return g->nruns;
}
const hs_run *hs_grid_run(const hs_grid *g, size_t index)
{
    return index < g->nruns ? &g->runs[index] : NULL;
}
const hs_run_spec *hs_grid_spec(const hs_grid *g)
{
    return &g->spec;
}
const hs_analysis_spec *hs_grid_analysis(const hs_grid *g)
{
    return &g->analysis;
}
size_t hs_grid_nparams(const hs_grid *g)
{
    return g->npinfo;
}
const hs_param_info *hs_grid_param(const hs_grid *g, size_t k)
{
    return k < g->npinfo ? &g->pinfo[k] : NULL;
}
