#include "result.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "strmap.h"
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
        "missing_program",  "missing_workdir",  "permission", "bad_params",
        "import",           "warnings",         "bad_task",   "cleanup",
        "result_too_large", "too_many_metrics", NULL,
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

/* Appends without looking for the name: the caller knows it is new. */
static int append_metric(hs_result *r, const char *name, double value)
{
    if (r->nmetrics == r->capmetrics) {
        if (r->capmetrics > UINT32_MAX / 2)
            return -1;
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

int hs_result_set_metric(hs_result *r, const char *name, double value)
{
    int k = hs_result_find_metric(r, name);
    if (k >= 0) {
        r->metric_values[k] = value;
        return 0;
    }
    return append_metric(r, name, value);
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

/* One flattening: the path being built, and r's metric names indexed so that a document of
 * many keys costs one hash lookup per leaf, not a scan of every metric. */
typedef struct flat {
    hs_buf path;
    hs_result *r;
    hs_strmap *index; /* name -> position in r */
    int added;
    bool full; /* a new name was refused: r has HS_MAX_METRICS metrics */
    bool oom;
} flat;

/* Appends key bytes to the path as valid UTF-8 on one line: '/' (it separates levels) and
 * control characters become '_', a byte that starts no valid sequence becomes U+FFFD. Stops
 * past the longest metric name: such a path names nothing. */
static void put_key_bytes(hs_buf *path, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && path->len <= HS_METRIC_NAME_MAX) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/' || c < 0x20 || c == 0x7f) {
            hs_buf_putc(path, '_');
            i++;
        } else if (c < 0x80) {
            hs_buf_putc(path, (char)c);
            i++;
        } else {
            size_t k = hs_utf8_seq(s + i, n - i);
            if (k) {
                hs_buf_append(path, s + i, k);
                i += k;
            } else {
                hs_buf_puts(path, "\xef\xbf\xbd");
                i++;
            }
        }
    }
}

/* Appends a key to the path; lm-eval's "metric,filter" becomes metric or metric@filter. */
static void push_key(hs_buf *path, const char *key)
{
    if (path->len)
        hs_buf_putc(path, '/');
    const char *comma = strchr(key, ',');
    put_key_bytes(path, key, comma ? (size_t)(comma - key) : strlen(key));
    if (comma && strcmp(comma + 1, "none") != 0 && comma[1]) {
        hs_buf_putc(path, '@');
        put_key_bytes(path, comma + 1, strlen(comma + 1));
    }
}

static void add_leaf(flat *f, double value)
{
    if (f->path.len == 0 || f->path.len > HS_METRIC_NAME_MAX)
        return;
    const char *name = hs_buf_str(&f->path);
    size_t k;
    if (hs_strmap_get(f->index, name, &k)) {
        f->r->metric_values[k] = value;
    } else if (f->r->nmetrics >= HS_MAX_METRICS) {
        f->full = true;
        return;
    } else if (append_metric(f->r, name, value) < 0 ||
               hs_strmap_put(f->index, name, f->r->nmetrics - 1) < 0) {
        f->oom = true;
        return;
    }
    if (f->added < INT_MAX)
        f->added++;
}

/* Python pipelines write some numbers as strings ("784.8"); "N/A" is not one. */
static bool string_number(json_object *o, double *v)
{
    const char *s = json_object_get_string(o);
    size_t len = (size_t)json_object_get_string_len(o);
    char *end;
    if (!len || strlen(s) != len) /* empty, or a NUL inside */
        return false;
    errno = 0;
    *v = strtod(s, &end);
    return end == s + len && errno == 0 && isfinite(*v);
}

static void flatten(flat *f, json_object *o, int depth);

static void flatten_child(flat *f, json_object *o, const char *key, int depth)
{
    size_t mark = f->path.len;
    push_key(&f->path, key);
    /* a path only grows: past the longest name, nothing below can become a metric */
    if (f->path.len <= HS_METRIC_NAME_MAX)
        flatten(f, o, depth + 1);
    f->path.len = mark;
    if (f->path.data)
        f->path.data[mark] = '\0';
}

static void flatten(flat *f, json_object *o, int depth)
{
    double v;
    if (depth > HS_JSON_MAX_DEPTH || f->full || f->oom)
        return;
    switch (json_object_get_type(o)) {
    case json_type_object: {
        json_object_object_foreach(o, key, val)
        {
            if (f->full || f->oom)
                break;
            if (strcmp(key, "alias") != 0)
                flatten_child(f, val, key, depth);
        }
        break;
    }
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n && i < HS_MAX_ARRAY_ITEMS; i++) {
            char idx[24];
            snprintf(idx, sizeof idx, "%zu", i);
            flatten_child(f, json_object_array_get_idx(o, i), idx, depth);
        }
        break;
    }
    case json_type_int:
    case json_type_double:
        add_leaf(f, json_object_get_double(o));
        break;
    case json_type_boolean:
        add_leaf(f, json_object_get_boolean(o) ? 1 : 0);
        break;
    case json_type_string:
        if (string_number(o, &v))
            add_leaf(f, v);
        break;
    default:
        break;
    }
}

/* An lm-evaluation-harness output file: "results" plus its bookkeeping keys. */
static bool is_lm_eval(json_object *root)
{
    return json_object_object_get_ex(root, "results", NULL) &&
           (json_object_object_get_ex(root, "versions", NULL) ||
            json_object_object_get_ex(root, "configs", NULL) ||
            json_object_object_get_ex(root, "n-shot", NULL));
}

/* Copies src into dst (cap bytes) as one line of valid UTF-8: control characters become
 * spaces, invalid bytes U+FFFD, and a cut falls between characters. */
static void copy_line(char *dst, size_t cap, const char *src)
{
    size_t n = 0, len = strlen(src);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)src[i];
        const char *seq = src + i;
        size_t k = 1, adv = 1;
        if (c < 0x20 || c == 0x7f) {
            seq = " ";
        } else if (c >= 0x80) {
            k = adv = hs_utf8_seq(src + i, len - i);
            if (!k) {
                seq = "\xef\xbf\xbd";
                k = 3;
                adv = 1;
            }
        }
        if (n + k >= cap)
            break;
        memcpy(dst + n, seq, k);
        n += k;
        i += adv;
    }
    if (cap)
        dst[n] = '\0';
}

static void count_warnings(json_object *list, hs_result *r, char *first_warning, size_t cap)
{
    size_t n = json_object_array_length(list);
    r->nwarnings = n > (size_t)(INT32_MAX - r->nwarnings) ? INT32_MAX : r->nwarnings + (int32_t)n;
    if (n && first_warning && cap && !first_warning[0]) {
        json_object *w = json_object_array_get_idx(list, 0);
        copy_line(first_warning, cap,
                  json_object_is_type(w, json_type_string) ? json_object_get_string(w)
                                                           : json_object_to_json_string(w));
    }
}

int hs_flatten_json(json_object *root, hs_result *r, char *first_warning, size_t cap, hs_error *err)
{
    flat f = { .r = r, .index = hs_strmap_create(r->nmetrics + 64) };
    if (first_warning && cap)
        first_warning[0] = '\0';
    if (!f.index)
        return hs_err(err, "out of memory");
    for (uint32_t i = 0; i < r->nmetrics && !f.oom; i++)
        f.oom = hs_strmap_put(f.index, r->metric_names[i], i) < 0;
    if (json_object_get_type(root) != json_type_object) {
        flatten(&f, root, 0);
    } else if (is_lm_eval(root)) {
        json_object *res;
        json_object_object_get_ex(root, "results", &res);
        flatten(&f, res, 0);
    } else {
        json_object_object_foreach(root, key, val)
        {
            if (f.full || f.oom)
                break;
            if (strcmp(key, "warnings") == 0 && json_object_is_type(val, json_type_array))
                count_warnings(val, r, first_warning, cap);
            else
                flatten_child(&f, val, key, 0);
        }
    }
    hs_buf_free(&f.path);
    hs_strmap_destroy(f.index);
    if (f.oom)
        return hs_err(err, "out of memory");
    if (f.full)
        return hs_err(err, "more than %d metrics (the limit of a run)", HS_MAX_METRICS);
    return f.added;
}

/* Where byte `end` of text lies, as 1-based line and column. */
static void line_col(const char *text, size_t end, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < end; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static size_t skip_ws(const char *text, size_t p, size_t len)
{
    while (p < len && (text[p] == ' ' || text[p] == '\n' || text[p] == '\t' || text[p] == '\r'))
        p++;
    return p;
}

/* json-c takes an int length, so the text goes in chunks; json-c's tokener resumes at any
 * cut, and 1 MiB puts every large result file through the same loop. */
#define PARSE_CHUNK ((size_t)1 << 20)

int hs_json_parse(const char *text, size_t len, const char *name, json_object **out, hs_error *err)
{
    size_t start = skip_ws(text, 0, len);
    if (start == len)
        return hs_err(err, "%s is empty", name);
    json_tokener *tok = json_tokener_new_ex(HS_JSON_MAX_DEPTH);
    if (!tok)
        return hs_err(err, "out of memory");
    json_object *obj = NULL;
    enum json_tokener_error jerr = json_tokener_continue;
    size_t off = start, end = len;
    while (off < len && jerr == json_tokener_continue) {
        size_t n = len - off < PARSE_CHUNK ? len - off : PARSE_CHUNK;
        obj = json_tokener_parse_ex(tok, text + off, (int)n);
        jerr = json_tokener_get_error(tok);
        end = off + json_tokener_get_parse_end(tok);
        off += n;
    }
    if (jerr == json_tokener_continue) {
        /* the end of the text ends a value that could go on (a number at the top level) */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);
    /* a document "null" parses to NULL with success */
    const char *what = NULL, *nul;
    char deep[64];
    if (jerr == json_tokener_success) {
        if ((end = skip_ws(text, end, len)) < len)
            what = "unexpected data after the JSON value";
    } else if (jerr == json_tokener_error_depth) {
        snprintf(deep, sizeof deep, "nested deeper than %d levels", HS_JSON_MAX_DEPTH);
        what = deep;
    } else if ((nul = memchr(text, '\0', end < len ? end + 1 : len))) {
        end = (size_t)(nul - text); /* json-c stops at a NUL, or just after it */
        what = "a NUL byte: this is not a text file";
    } else if (jerr == json_tokener_error_parse_eof || end >= len) {
        what = "unexpected end of the file (truncated?)";
    } else {
        what = json_tokener_error_desc(jerr);
    }
    if (what) {
        int line, col;
        line_col(text, end < len ? end : len, &line, &col);
        json_object_put(obj);
        return hs_err(err, "%s:%d:%d: %s", name, line, col, what);
    }
    *out = obj;
    return 0;
}

int hs_json_read_file(const char *path, size_t max, json_object **out, hs_error *err)
{
    char *text;
    size_t len;
    if (hs_read_file(path, max, &text, &len, err) < 0)
        return -1;
    int rc = hs_json_parse(text, len, path, out, err);
    free(text);
    return rc;
}

/* ---- ingestion ----------------------------------------------------------------------- */

/* A message cut to its buffer may end inside a UTF-8 sequence: drop that piece. */
static void trim_partial_utf8(char *s)
{
    size_t len = strlen(s), i = len;
    while (i > 0 && len - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i > 0 && (unsigned char)s[i - 1] >= 0x80 && !hs_utf8_seq(s + i - 1, len - i + 1))
        s[i - 1] = '\0';
}

static void set_outcome(hs_result *r, int status, const char *fc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_outcome(hs_result *r, int status, const char *fc, const char *fmt, ...)
{
    r->status = status;
    snprintf(r->failure_class, sizeof r->failure_class, "%s", fc);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof r->message)
        trim_partial_utf8(r->message);
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

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "256 MiB", "1.5 GiB", "900 bytes". */
static const char *human_bytes(long long n, char buf[32])
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    if (n < 1024) {
        snprintf(buf, 32, "%lld bytes", n);
        return buf;
    }
    double v = (double)n;
    int u = -1;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, 32, v == (double)(long long)v ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

/* Reads one result file into r. Returns 0, 1 when it made the run invalid (r's outcome is
 * set), or -1 out of memory. */
static int ingest_file(const hs_task *t, const char *path, hs_result *r, char *first_warning,
                       size_t cap, hs_error *err)
{
    long long limit = t->max_result_size > 0 ? t->max_result_size : HS_MAX_RESULT_SIZE_DEFAULT;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > limit) {
        char size[32], max[32];
        set_outcome(r, HS_INVALID_RESULT, "result_too_large",
                    "%s is %s (%lld bytes), over the limit of %s for a result file; not read "
                    "(raise run.max_result_size in the grid)",
                    path, human_bytes((long long)st.st_size, size), (long long)st.st_size,
                    human_bytes(limit, max));
        return 1;
    }
    json_object *doc;
    hs_error perr;
    if (hs_json_read_file(path, (size_t)limit, &doc, &perr) < 0) {
        set_outcome(r, HS_INVALID_RESULT, "bad_json", "%s", perr.text);
        return 1;
    }
    char w[200];
    int rc = hs_flatten_json(doc, r, w, sizeof w, &perr);
    json_object_put(doc);
    if (rc < 0 && r->nmetrics < HS_MAX_METRICS)
        return hs_err(err, "%s: %s", path, perr.text);
    if (rc < 0) {
        set_outcome(r, HS_INVALID_RESULT, "too_many_metrics",
                    "%s: more than %d numeric values; a run keeps at most %d metrics (each is "
                    "a column of the store)",
                    path, HS_MAX_METRICS, HS_MAX_METRICS);
        return 1;
    }
    if (w[0] && !first_warning[0])
        snprintf(first_warning, cap, "%s", w);
    return 0;
}

/* Every file a declared pattern matches, in name order (a later file's metric of the same
 * name wins). Returns as ingest_file. */
static int ingest_pattern(const hs_task *t, const char *pattern, const char *default_path,
                          bool *default_declared, hs_result *r, char *first_warning, size_t cap,
                          hs_error *err)
{
    glob_t gl;
    int rc = glob(pattern, GLOB_NOSORT | GLOB_ERR, glob_error, &gl);
    if (rc == GLOB_NOMATCH || (rc == 0 && gl.gl_pathc == 0)) {
        if (rc == 0)
            globfree(&gl);
        set_outcome(r, HS_INVALID_RESULT, "missing_result", "exited 0 but wrote no result file %s",
                    pattern);
        return 1;
    }
    if (rc != 0) {
        set_outcome(r, HS_INVALID_RESULT, "missing_result", "cannot list %s", pattern);
        return 1;
    }
    qsort(gl.gl_pathv, gl.gl_pathc, sizeof *gl.gl_pathv, compare_paths);
    rc = 0;
    for (size_t k = 0; k < gl.gl_pathc && rc == 0; k++) {
        if (strcmp(gl.gl_pathv[k], default_path) == 0)
            *default_declared = true;
        rc = ingest_file(t, gl.gl_pathv[k], r, first_warning, cap, err);
    }
    globfree(&gl);
    return rc;
}

static int check_required(const hs_task *t, hs_result *r)
{
    for (uint32_t i = 0; i < t->nrequired; i++) {
        int k = hs_result_find_metric(r, t->required[i]);
        if (k < 0) {
            set_outcome(r, HS_INVALID_RESULT, "missing_metric",
                        "required metric '%s' is not in the results", t->required[i]);
            return 1;
        }
        if (isnan(r->metric_values[k])) {
            set_outcome(r, HS_INVALID_RESULT, "missing_metric", "required metric '%s' is NaN",
                        t->required[i]);
            return 1;
        }
    }
    return 0;
}

int hs_ingest_results(const hs_task *t, hs_result *r, hs_error *err)
{
    char default_path[4096];
    snprintf(default_path, sizeof default_path, "%s/result.json", t->run_dir);
    char first_warning[200] = "";
    bool default_declared = false;
    int rc = 0;
    for (uint32_t i = 0; i < t->nresults && rc == 0; i++)
        rc = ingest_pattern(t, t->results[i], default_path, &default_declared, r, first_warning,
                            sizeof first_warning, err);
    /* RUN_DIR/result.json: the default place a run writes its metrics */
    struct stat st;
    bool default_read = false;
    if (rc == 0 && !default_declared && stat(default_path, &st) == 0) {
        rc = ingest_file(t, default_path, r, first_warning, sizeof first_warning, err);
        default_read = true;
    }
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (apply_renames(t, r) < 0)
        return hs_err(err, "out of memory");
    if (t->nresults > 0 && r->nmetrics == 0) {
        set_outcome(r, HS_INVALID_RESULT, "no_metrics", "the result files hold no numeric value");
        return 0;
    }
    if (check_required(t, r))
        return 0;
    if (r->nwarnings > 0 && t->on_warnings != HS_WARN_IGNORE) {
        set_outcome(r, t->on_warnings == HS_WARN_FAIL ? HS_FAILED : HS_SUSPECT, "warnings",
                    "%d warning%s: %s", r->nwarnings, r->nwarnings == 1 ? "" : "s", first_warning);
        return 0;
    }
    r->status = HS_OK;
    r->failure_class[0] = '\0';
    if (t->nresults == 0 && !default_read)
        snprintf(r->message, sizeof r->message, "no result files declared");
    return 0;
}
