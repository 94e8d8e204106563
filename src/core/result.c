#include "result.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "util.h"

static const char *const status_names[HS_NSTATUS] = {
    "pending", "running",        "ok",      "failed",      "timeout",
    "crashed", "invalid_result", "suspect", "interrupted",
};

const char *hs_status_name(int status)
{
    return status >= 0 && status < HS_NSTATUS ? status_names[status] : "unknown";
}

int hs_status_parse(const char *name)
{
    for (int i = 0; i < HS_NSTATUS; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

bool hs_status_done(int status)
{
    return status == HS_OK || hs_status_failure(status);
}

bool hs_status_failure(int status)
{
    return status == HS_FAILED || status == HS_TIMEOUT || status == HS_CRASHED ||
           status == HS_INVALID_RESULT || status == HS_SUSPECT;
}

bool hs_failure_retryable(const char *fc)
{
    static const char *const final_classes[] = {
        "missing_program", "missing_workdir", "permission", "bad_params", "import",
        "warnings",        "bad_task",        "cleanup",    NULL,
    };
    for (const char *const *c = final_classes; *c; c++)
        if (strcmp(fc, *c) == 0)
            return false;
    return true;
}

void hs_result_init(hs_result *r)
{
    memset(r, 0, sizeof *r);
    r->exit_code = -1;
    r->rank = -1;
    r->gpu = -1;
    r->git_dirty = -1;
    r->started = r->finished = r->wall_s = NAN;
    r->max_rss_mb = r->cpu_s = NAN;
}

void hs_result_clear(hs_result *r)
{
    for (uint32_t i = 0; i < r->nmetrics; i++)
        free(r->metric_names[i]);
    free(r->metric_names);
    free(r->metric_values);
    hs_result_init(r);
}

int hs_result_find_metric(const hs_result *r, const char *name)
{
    for (uint32_t i = 0; i < r->nmetrics; i++)
        if (strcmp(r->metric_names[i], name) == 0)
            return (int)i;
    return -1;
}

int hs_result_set_metric(hs_result *r, const char *name, double value)
{
    int k = hs_result_find_metric(r, name);
    if (k >= 0) {
        r->metric_values[k] = value;
        return 0;
    }
    if (r->nmetrics == r->capmetrics) {
        uint32_t cap = r->capmetrics ? r->capmetrics * 2 : 16;
        char **n = realloc(r->metric_names, cap * sizeof *n);
        if (!n)
            return -1;
        r->metric_names = n;
        double *v = realloc(r->metric_values, cap * sizeof *v);
        if (!v)
            return -1;
        r->metric_values = v;
        r->capmetrics = cap;
    }
    if (!(r->metric_names[r->nmetrics] = strdup(name)))
        return -1;
    r->metric_values[r->nmetrics++] = value;
    return 0;
}

void hs_result_remove_metric(hs_result *r, int k)
{
    if (k < 0 || (uint32_t)k >= r->nmetrics)
        return;
    free(r->metric_names[k]);
    memmove(&r->metric_names[k], &r->metric_names[k + 1],
            (r->nmetrics - (uint32_t)k - 1) * sizeof *r->metric_names);
    memmove(&r->metric_values[k], &r->metric_values[k + 1],
            (r->nmetrics - (uint32_t)k - 1) * sizeof *r->metric_values);
    r->nmetrics--;
}

int hs_result_copy(hs_result *dst, const hs_result *src)
{
    *dst = *src;
    dst->metric_names = NULL;
    dst->metric_values = NULL;
    dst->nmetrics = dst->capmetrics = 0;
    if (src->nmetrics == 0)
        return 0;
    /* the names are unique already: copy the arrays, no lookups */
    dst->metric_names = malloc(src->nmetrics * sizeof *dst->metric_names);
    dst->metric_values = malloc(src->nmetrics * sizeof *dst->metric_values);
    if (!dst->metric_names || !dst->metric_values)
        return -1;
    dst->capmetrics = src->nmetrics;
    for (uint32_t i = 0; i < src->nmetrics; i++) {
        if (!(dst->metric_names[i] = strdup(src->metric_names[i])))
            return -1;
        dst->metric_values[i] = src->metric_values[i];
        dst->nmetrics++;
    }
    return 0;
}

/* ---- flattening ---------------------------------------------------------------------- */

#define MAX_ARRAY_ITEMS 64
#define MAX_DEPTH       32

/* Appends a key to the path: '/' inside a key becomes '_' (it separates levels), and
 * lm-eval's "metric,filter" becomes metric or metric@filter. */
static void push_key(hs_buf *path, const char *key)
{
    if (path->len)
        hs_buf_putc(path, '/');
    const char *comma = strchr(key, ',');
    size_t n = comma ? (size_t)(comma - key) : strlen(key);
    for (size_t i = 0; i < n; i++)
        hs_buf_putc(path, key[i] == '/' ? '_' : key[i]);
    if (comma && strcmp(comma + 1, "none") != 0 && comma[1]) {
        hs_buf_putc(path, '@');
        for (const char *p = comma + 1; *p; p++)
            hs_buf_putc(path, *p == '/' ? '_' : *p);
    }
}

static int flatten(json_object *o, hs_buf *path, hs_result *r, int depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    int added = 0;
    switch (json_object_get_type(o)) {
    case json_type_object: {
        json_object_object_foreach(o, key, val)
        {
            if (strcmp(key, "alias") == 0)
                continue;
            size_t mark = path->len;
            push_key(path, key);
            added += flatten(val, path, r, depth + 1);
            path->len = mark;
            path->data[mark] = '\0';
        }
        break;
    }
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n && i < MAX_ARRAY_ITEMS; i++) {
            size_t mark = path->len;
            char idx[24];
            snprintf(idx, sizeof idx, "%zu", i);
            push_key(path, idx);
            added += flatten(json_object_array_get_idx(o, i), path, r, depth + 1);
            path->len = mark;
            path->data[mark] = '\0';
        }
        break;
    }
    case json_type_int:
    case json_type_double:
        if (path->len && path->len < 256 &&
            hs_result_set_metric(r, hs_buf_str(path), json_object_get_double(o)) == 0)
            added++;
        break;
    case json_type_boolean:
        if (path->len && path->len < 256 &&
            hs_result_set_metric(r, hs_buf_str(path), json_object_get_boolean(o) ? 1 : 0) == 0)
            added++;
        break;
    case json_type_string: {
        /* Python pipelines write some numbers as strings ("784.8"); "N/A" is not one */
        const char *s = json_object_get_string(o);
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (*s && !*end && errno == 0 && isfinite(v) && path->len && path->len < 256 &&
            hs_result_set_metric(r, hs_buf_str(path), v) == 0)
            added++;
        break;
    }
    default:
        break;
    }
    return added;
}

/* An lm-evaluation-harness output file: "results" plus its bookkeeping keys. */
static bool is_lm_eval(json_object *root)
{
    return json_object_object_get_ex(root, "results", NULL) &&
           (json_object_object_get_ex(root, "versions", NULL) ||
            json_object_object_get_ex(root, "configs", NULL) ||
            json_object_object_get_ex(root, "n-shot", NULL));
}

int hs_flatten_json(json_object *root, hs_result *r, char *first_warning, size_t cap)
{
    hs_buf path = { 0 };
    int added = 0;
    if (first_warning && cap)
        first_warning[0] = '\0';
    if (json_object_get_type(root) != json_type_object) {
        added = flatten(root, &path, r, 0);
        hs_buf_free(&path);
        return added;
    }
    if (is_lm_eval(root)) {
        json_object *res;
        json_object_object_get_ex(root, "results", &res);
        added = flatten(res, &path, r, 0);
        hs_buf_free(&path);
        return added;
    }
    json_object_object_foreach(root, key, val)
    {
        if (strcmp(key, "warnings") == 0 && json_object_is_type(val, json_type_array)) {
            size_t n = json_object_array_length(val);
            r->nwarnings += (int32_t)n;
            if (n && first_warning && cap && !first_warning[0]) {
                json_object *w = json_object_array_get_idx(val, 0);
                snprintf(first_warning, cap, "%s",
                         json_object_is_type(w, json_type_string) ? json_object_get_string(w)
                                                                  : json_object_to_json_string(w));
            }
            continue;
        }
        hs_buf_reset(&path);
        push_key(&path, key);
        added += flatten(val, &path, r, 1);
    }
    hs_buf_free(&path);
    return added;
}

int hs_json_read_file(const char *path, json_object **out, hs_error *err)
{
    char *text;
    size_t len;
    if (hs_read_file(path, 256u << 20, &text, &len, err) < 0)
        return -1;
    size_t start = 0;
    while (start < len && (text[start] == ' ' || text[start] == '\n' || text[start] == '\t' ||
                           text[start] == '\r'))
        start++;
    if (start == len) {
        free(text);
        return hs_err(err, "%s is empty", path);
    }
    json_tokener *tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
    if (!tok) {
        free(text);
        return hs_err(err, "out of memory");
    }
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    const char *what = NULL;
    if (!obj && jerr == json_tokener_continue)
        what = "unexpected end of the file (truncated?)";
    else if (!obj)
        what = json_tokener_error_desc(jerr);
    else {
        size_t p = end;
        while (p < len && (text[p] == ' ' || text[p] == '\n' || text[p] == '\t' || text[p] == '\r'))
            p++;
        if (p < len) {
            what = "unexpected data after the JSON value";
            end = p;
        }
    }
    if (what) {
        int line = 1, col = 1;
        for (size_t i = 0; i < end && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        hs_err(err, "%s:%d:%d: %s", path, line, col, what);
        json_object_put(obj);
        json_tokener_free(tok);
        free(text);
        return -1;
    }
    json_tokener_free(tok);
    free(text);
    *out = obj;
    return 0;
}

/* ---- ingestion ----------------------------------------------------------------------- */

static void set_outcome(hs_result *r, int status, const char *fc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_outcome(hs_result *r, int status, const char *fc, const char *fmt, ...)
{
    r->status = status;
    snprintf(r->failure_class, sizeof r->failure_class, "%s", fc);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

/* Does metric name n match selector s? Exactly, or with every '/' and '.' taken as one. */
static bool selector_matches(const char *n, const char *s)
{
    for (; *n && *s; n++, s++) {
        char a = *n == '/' ? '.' : *n, b = *s == '/' ? '.' : *s;
        if (a != b)
            return false;
    }
    return !*n && !*s;
}

static int apply_renames(const hs_task *t, hs_result *r)
{
    if (t->nrenames == 0)
        return 0;
    double *vals = calloc(t->nrenames, sizeof *vals);
    bool *found = calloc(t->nrenames, sizeof *found);
    if (!vals || !found) {
        free(vals);
        free(found);
        return -1;
    }
    for (uint32_t i = 0; i < t->nrenames; i++) {
        int k = hs_result_find_metric(r, t->rename_from[i]);
        if (k < 0)
            for (uint32_t m = 0; m < r->nmetrics && k < 0; m++)
                if (selector_matches(r->metric_names[m], t->rename_from[i]))
                    k = (int)m;
        if (k >= 0) {
            vals[i] = r->metric_values[k];
            found[i] = true;
        }
    }
    /* the renamed sources go; with keep = "renamed" everything else goes too */
    for (uint32_t m = r->nmetrics; m-- > 0;) {
        bool source = false;
        for (uint32_t i = 0; i < t->nrenames && !source; i++)
            source = found[i] && (strcmp(r->metric_names[m], t->rename_from[i]) == 0 ||
                                  selector_matches(r->metric_names[m], t->rename_from[i]));
        if (source || !t->keep_all)
            hs_result_remove_metric(r, (int)m);
    }
    int rc = 0;
    for (uint32_t i = 0; i < t->nrenames && rc == 0; i++)
        if (found[i])
            rc = hs_result_set_metric(r, t->rename_to[i], vals[i]);
    free(vals);
    free(found);
    return rc;
}

static int glob_error(const char *epath, int eerrno)
{
    (void)epath;
    (void)eerrno;
    return 0;
}

int hs_ingest_results(const hs_task *t, hs_result *r, hs_error *err)
{
    char default_path[4096];
    snprintf(default_path, sizeof default_path, "%s/result.json", t->run_dir);
    char first_warning[200] = "";
    int nfiles = 0;
    bool default_declared = false;
    (void)err;

    for (uint32_t i = 0; i < t->nresults; i++) {
        glob_t gl;
        int rc = glob(t->results[i], GLOB_NOSORT | GLOB_ERR, glob_error, &gl);
        if (rc == GLOB_NOMATCH || (rc == 0 && gl.gl_pathc == 0)) {
            if (rc == 0)
                globfree(&gl);
            set_outcome(r, HS_INVALID_RESULT, "missing_result",
                        "exited 0 but wrote no result file %s", t->results[i]);
            return 0;
        }
        if (rc != 0) {
            set_outcome(r, HS_INVALID_RESULT, "missing_result", "cannot list %s", t->results[i]);
            return 0;
        }
        /* a pattern may match several files (e.g. timestamped names): take them in name
         * order, so a later file's metric of the same name wins */
        qsort(gl.gl_pathv, gl.gl_pathc, sizeof *gl.gl_pathv,
              (int (*)(const void *, const void *))strcmp);
        for (size_t k = 0; k < gl.gl_pathc; k++) {
            json_object *doc;
            hs_error perr;
            if (strcmp(gl.gl_pathv[k], default_path) == 0)
                default_declared = true;
            if (hs_json_read_file(gl.gl_pathv[k], &doc, &perr) < 0) {
                set_outcome(r, HS_INVALID_RESULT, "bad_json", "%s", perr.text);
                globfree(&gl);
                return 0;
            }
            char w[200];
            hs_flatten_json(doc, r, w, sizeof w);
            if (w[0] && !first_warning[0])
                snprintf(first_warning, sizeof first_warning, "%s", w);
            json_object_put(doc);
            nfiles++;
        }
        globfree(&gl);
    }
    /* RUN_DIR/result.json: the default place a run writes its metrics */
    struct stat st;
    if (!default_declared && stat(default_path, &st) == 0) {
        json_object *doc;
        hs_error perr;
        if (hs_json_read_file(default_path, &doc, &perr) < 0) {
            set_outcome(r, HS_INVALID_RESULT, "bad_json", "%s", perr.text);
            return 0;
        }
        char w[200];
        hs_flatten_json(doc, r, w, sizeof w);
        if (w[0] && !first_warning[0])
            snprintf(first_warning, sizeof first_warning, "%s", w);
        json_object_put(doc);
        nfiles++;
    }
    if (apply_renames(t, r) < 0)
        return hs_err(err, "out of memory");
    if (t->nresults > 0 && r->nmetrics == 0) {
        set_outcome(r, HS_INVALID_RESULT, "no_metrics", "the result files hold no numeric value");
        return 0;
    }
    for (uint32_t i = 0; i < t->nrequired; i++) {
        int k = hs_result_find_metric(r, t->required[i]);
        if (k < 0) {
            set_outcome(r, HS_INVALID_RESULT, "missing_metric",
                        "required metric '%s' is not in the results", t->required[i]);
            return 0;
        }
        if (isnan(r->metric_values[k])) {
            set_outcome(r, HS_INVALID_RESULT, "missing_metric", "required metric '%s' is NaN",
                        t->required[i]);
            return 0;
        }
    }
    if (r->nwarnings > 0 && t->on_warnings != HS_WARN_IGNORE) {
        set_outcome(r, t->on_warnings == HS_WARN_FAIL ? HS_FAILED : HS_SUSPECT, "warnings",
                    "%d warning%s: %s", r->nwarnings, r->nwarnings == 1 ? "" : "s", first_warning);
        return 0;
    }
    r->status = HS_OK;
    r->failure_class[0] = '\0';
    if (nfiles == 0 && t->nresults == 0)
        snprintf(r->message, sizeof r->message, "no result files declared");
    return 0;
}
