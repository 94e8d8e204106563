#include "attempt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "util.h"
#include "value.h"

/* ---- attempt.json ------------------------------------------------------------------- */

static void put_num(hs_buf *b, const char *key, double x)
{
    hs_value v = hs_value_float(x);
    hs_buf_printf(b, ",\n  \"%s\": ", key);
    hs_value_put_json(b, &v);
}

static void put_str(hs_buf *b, const char *key, const char *s)
{
    hs_buf_printf(b, ",\n  \"%s\": ", key);
    hs_buf_put_json_string(b, s);
}

int hs_attempt_write(const char *run_dir, const hs_result *res, const char *params_json,
                     hs_error *err)
{
    hs_buf b = { 0 };
    hs_buf_puts(&b, "{\n  \"run_id\": ");
    hs_buf_put_json_string(&b, res->run_id);
    hs_buf_printf(&b, ",\n  \"index\": %llu,\n  \"attempt\": %d", (unsigned long long)res->index,
                  res->attempt);
    put_str(&b, "status", hs_status_name(res->status));
    put_str(&b, "failure_class", res->failure_class);
    put_str(&b, "message", res->message);
    hs_buf_printf(&b, ",\n  \"exit_code\": %d,\n  \"signal\": %d", res->exit_code,
                  res->term_signal);
    put_num(&b, "started", res->started);
    put_num(&b, "finished", res->finished);
    put_num(&b, "wall_s", res->wall_s);
    put_str(&b, "host", res->host);
    hs_buf_printf(&b, ",\n  \"rank\": %d,\n  \"gpu\": %d", res->rank, res->gpu);
    put_str(&b, "gpu_name", res->gpu_name);
    put_str(&b, "gpu_uuid", res->gpu_uuid);
    put_str(&b, "git_commit", res->git_commit);
    hs_buf_printf(&b, ",\n  \"git_dirty\": %d", res->git_dirty);
    put_num(&b, "max_rss_mb", res->max_rss_mb);
    put_num(&b, "cpu_s", res->cpu_s);
    hs_buf_printf(&b, ",\n  \"warnings\": %d", res->nwarnings);
    put_str(&b, "stderr_tail", res->stderr_tail);
    hs_buf_printf(&b, ",\n  \"params\": %s,\n  \"metrics\": {",
                  params_json && params_json[0] ? params_json : "{}");
    for (uint32_t i = 0; i < res->nmetrics; i++) {
        hs_buf_puts(&b, i ? ",\n    " : "\n    ");
        hs_buf_put_json_string(&b, res->metric_names[i]);
        hs_value v = hs_value_float(res->metric_values[i]);
        hs_buf_puts(&b, ": ");
        hs_value_put_json(&b, &v);
    }
    /* the last key: a record cut short by a full disk has no "complete" */
    int rc = hs_buf_puts(&b, "\n  },\n  \"complete\": true\n}\n");
    if (rc < 0) {
        hs_buf_free(&b);
        return hs_err(err, "out of memory");
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/attempt.json", run_dir);
    rc = hs_write_file_atomic(path, b.data, b.len, err);
    hs_buf_free(&b);
    return rc;
}

static json_object *member(json_object *o, const char *key, json_type want)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    if (want == json_type_double)
        return json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)
                   ? v
                   : NULL;
    return json_object_is_type(v, want) ? v : NULL;
}

static int get_str(json_object *o, const char *key, char *dst, size_t cap, const char **missing)
{
    json_object *v = member(o, key, json_type_string);
    if (!v) {
        *missing = key;
        return -1;
    }
    snprintf(dst, cap, "%s", json_object_get_string(v));
    return 0;
}

static int get_int(json_object *o, const char *key, int32_t *dst, const char **missing)
{
    json_object *v = member(o, key, json_type_int);
    if (!v) {
        *missing = key;
        return -1;
    }
    *dst = (int32_t)json_object_get_int64(v);
    return 0;
}

static int get_num(json_object *o, const char *key, double *dst, const char **missing)
{
    json_object *v = member(o, key, json_type_double);
    if (!v) {
        *missing = key;
        return -1;
    }
    *dst = json_object_get_double(v);
    return 0;
}

static int read_fields(json_object *o, hs_result *res, const char **bad)
{
    char status[32];
    int32_t index = 0;
    json_object *complete = member(o, "complete", json_type_boolean);
    if (!complete || !json_object_get_boolean(complete)) {
        *bad = "complete";
        return -1;
    }
    if (get_str(o, "run_id", res->run_id, sizeof res->run_id, bad) < 0 ||
        get_int(o, "index", &index, bad) < 0 || get_int(o, "attempt", &res->attempt, bad) < 0 ||
        get_str(o, "status", status, sizeof status, bad) < 0 ||
        get_str(o, "failure_class", res->failure_class, sizeof res->failure_class, bad) < 0 ||
        get_str(o, "message", res->message, sizeof res->message, bad) < 0 ||
        get_int(o, "exit_code", &res->exit_code, bad) < 0 ||
        get_int(o, "signal", &res->term_signal, bad) < 0 ||
        get_num(o, "started", &res->started, bad) < 0 ||
        get_num(o, "finished", &res->finished, bad) < 0 ||
        get_num(o, "wall_s", &res->wall_s, bad) < 0 ||
        get_str(o, "host", res->host, sizeof res->host, bad) < 0 ||
        get_int(o, "rank", &res->rank, bad) < 0 || get_int(o, "gpu", &res->gpu, bad) < 0 ||
        get_str(o, "gpu_name", res->gpu_name, sizeof res->gpu_name, bad) < 0 ||
        get_str(o, "gpu_uuid", res->gpu_uuid, sizeof res->gpu_uuid, bad) < 0 ||
        get_str(o, "git_commit", res->git_commit, sizeof res->git_commit, bad) < 0 ||
        get_int(o, "git_dirty", &res->git_dirty, bad) < 0 ||
        get_num(o, "max_rss_mb", &res->max_rss_mb, bad) < 0 ||
        get_num(o, "cpu_s", &res->cpu_s, bad) < 0 ||
        get_int(o, "warnings", &res->nwarnings, bad) < 0 ||
        get_str(o, "stderr_tail", res->stderr_tail, sizeof res->stderr_tail, bad) < 0)
        return -1;
    res->index = (uint64_t)index;
    res->status = hs_status_parse(status);
    if (res->status < 0) {
        *bad = "status";
        return -1;
    }
    json_object *metrics = member(o, "metrics", json_type_object);
    if (!metrics) {
        *bad = "metrics";
        return -1;
    }
    json_object_object_foreach(metrics, name, value)
    {
        if (!json_object_is_type(value, json_type_double) &&
            !json_object_is_type(value, json_type_int)) {
            *bad = "metrics";
            return -1;
        }
        if (hs_result_set_metric(res, name, json_object_get_double(value)) < 0) {
            *bad = NULL; /* out of memory */
            return -1;
        }
    }
    return 0;
}

int hs_attempt_read(const char *run_dir, hs_result *res, hs_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/attempt.json", run_dir);
    hs_result_clear(res);
    if (access(path, F_OK) != 0)
        return errno == ENOENT ? 0 : hs_err_errno(err, "cannot read %s", path);
    json_object *doc;
    if (hs_json_read_file(path, (size_t)64 << 20, &doc, err) < 0)
        return -1;
    const char *bad = "the top level";
    int rc = json_object_is_type(doc, json_type_object) ? read_fields(doc, res, &bad) : -1;
    json_object_put(doc);
    if (rc < 0) {
        hs_result_clear(res);
        if (!bad)
            return hs_err(err, "out of memory");
        return hs_err(err, "%s: incomplete record (\"%s\" missing or of the wrong type)", path,
                      bad);
    }
    return 1;
}

void hs_attempt_rotate(const char *run_dir, int previous_attempt)
{
    char from[PATH_MAX], to[PATH_MAX];
    snprintf(from, sizeof from, "%s/attempt.json", run_dir);
    snprintf(to, sizeof to, "%s/attempt.%d.json", run_dir, previous_attempt);
    rename(from, to);
}

/* ---- the marker in attempt.lock ---------------------------------------------------- */

int hs_attempt_mark_running(int lock_fd, const hs_attempt_marker *m, hs_error *err)
{
    hs_buf b = { 0 };
    char num[32];
    hs_buf_puts(&b, "{\"run_id\": ");
    hs_buf_put_json_string(&b, m->run_id);
    hs_buf_printf(&b, ", \"attempt\": %d, \"host\": ", m->attempt);
    hs_buf_put_json_string(&b, m->host);
    int rc = hs_buf_printf(&b, ", \"pid\": %ld, \"pgid\": %ld, \"started\": %s}\n", m->pid, m->pgid,
                           hs_double_repr(m->started, num));
    if (rc < 0) {
        hs_buf_free(&b);
        return hs_err(err, "out of memory");
    }
    rc = 0;
    if (ftruncate(lock_fd, 0) < 0 || pwrite(lock_fd, b.data, b.len, 0) != (ssize_t)b.len)
        rc = hs_err_errno(err, "cannot write the attempt's marker");
    hs_buf_free(&b);
    return rc;
}

int hs_attempt_read_marker(const char *run_dir, hs_attempt_marker *m, hs_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/attempt.lock", run_dir);
    memset(m, 0, sizeof *m);
    char *text;
    size_t len;
    if (access(path, F_OK) != 0)
        return errno == ENOENT ? 0 : hs_err_errno(err, "cannot read %s", path);
    if (hs_read_file(path, 1 << 16, &text, &len, err) < 0)
        return -1;
    if (len == 0) {
        free(text);
        return 0;
    }
    json_object *doc = NULL;
    int rc = hs_json_parse(text, len, path, &doc, err);
    free(text);
    if (rc < 0)
        return -1;
    const char *bad = NULL;
    int32_t attempt = 0;
    double pid = 0, pgid = 0;
    rc = get_str(doc, "run_id", m->run_id, sizeof m->run_id, &bad) < 0 ||
                 get_int(doc, "attempt", &attempt, &bad) < 0 ||
                 get_str(doc, "host", m->host, sizeof m->host, &bad) < 0 ||
                 get_num(doc, "pid", &pid, &bad) < 0 || get_num(doc, "pgid", &pgid, &bad) < 0 ||
                 get_num(doc, "started", &m->started, &bad) < 0
             ? -1
             : 1;
    json_object_put(doc);
    if (rc < 0)
        return hs_err(err, "%s: \"%s\" missing or of the wrong type", path, bad);
    m->attempt = attempt;
    m->pid = (long)pid;
    m->pgid = (long)pgid;
    return 1;
}

void hs_attempt_clear_marker(int lock_fd)
{
    if (lock_fd >= 0 && ftruncate(lock_fd, 0) < 0) {
        /* a stale marker names a dead process: it is read only when the lock is held */
    }
}

/* ---- attempt.lock -------------------------------------------------------------------- */

int hs_attempt_lock(const char *run_dir, bool *busy, hs_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/attempt.lock", run_dir);
    *busy = false;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return hs_err_errno(err, "cannot open %s", path);
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            *busy = true;
            return hs_err(err, "%s is held by another attempt", path);
        }
        errno = e;
        return hs_err_errno(err, "cannot lock %s", path);
    }
    return fd;
}

int hs_attempt_lock_wait(const char *run_dir, double timeout, hs_error *err)
{
    double end = hs_monotonic() + timeout;
    for (;;) {
        bool busy;
        int fd = hs_attempt_lock(run_dir, &busy, err);
        if (fd >= 0 || !busy || hs_monotonic() >= end)
            return fd;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* ---- sweep.json --------------------------------------------------------------------- */

int hs_sweep_dir_owner(const char *sweep_dir, char *out, size_t cap, hs_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/sweep.json", sweep_dir);
    out[0] = '\0';
    if (access(path, F_OK) != 0)
        return errno == ENOENT ? 0 : hs_err_errno(err, "cannot read %s", path);
    json_object *doc;
    if (hs_json_read_file(path, (size_t)64 << 20, &doc, err) < 0)
        return -1;
    const char *bad = NULL;
    int rc = get_str(doc, "sweep", out, cap, &bad);
    json_object_put(doc);
    if (rc < 0)
        return hs_err(err, "%s: no \"sweep\" name in it", path);
    return 1;
}

int hs_sweep_dir_claim(const char *sweep_dir, const char *sweep, hs_error *err)
{
    char owner[256];
    int rc = hs_sweep_dir_owner(sweep_dir, owner, sizeof owner, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        if (strcmp(owner, sweep) == 0)
            return 0;
        return hs_err(err,
                      "%s belongs to sweep '%s', not '%s' (its sweep.json says so): give this "
                      "sweep its own directory with --dir",
                      sweep_dir, owner, sweep);
    }
    if (hs_mkdir_p(sweep_dir, 0755, err) < 0)
        return -1;
    hs_buf b = { 0 };
    char stamp[32];
    hs_buf_puts(&b, "{\"sweep\": ");
    hs_buf_put_json_string(&b, sweep);
    rc = hs_buf_printf(&b, ", \"created\": \"%s\", \"hypersweep_version\": \"%s\"}\n",
                       hs_iso_time(hs_now(), stamp), HYPERSWEEP_VERSION);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/sweep.json", sweep_dir);
    rc = rc < 0 ? hs_err(err, "out of memory") : hs_write_file_atomic(path, b.data, b.len, err);
    hs_buf_free(&b);
    return rc;
}
