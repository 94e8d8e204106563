#include "proto.h"

#include <stdlib.h>
#include <string.h>

#define MAGIC 0x50575348u /* "HSWP" read as little-endian u32 */

/* ---- writer -------------------------------------------------------------------------- */

static int put_u16(hs_buf *b, uint16_t v)
{
    unsigned char c[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
    return hs_buf_append(b, c, 2);
}

static int put_u32(hs_buf *b, uint32_t v)
{
    unsigned char c[4];
    for (int i = 0; i < 4; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    return hs_buf_append(b, c, 4);
}

static int put_u64(hs_buf *b, uint64_t v)
{
    unsigned char c[8];
    for (int i = 0; i < 8; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    return hs_buf_append(b, c, 8);
}

static int put_i32(hs_buf *b, int32_t v)
{
    return put_u32(b, (uint32_t)v);
}

static int put_f64(hs_buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return put_u64(b, u);
}

static int put_str(hs_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > UINT32_MAX - 1)
        return -1;
    if (put_u32(b, (uint32_t)n) < 0)
        return -1;
    return hs_buf_append(b, s ? s : "", n);
}

static int put_strs(hs_buf *b, char **v, uint32_t n)
{
    if (put_u32(b, n) < 0)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        if (put_str(b, v[i]) < 0)
            return -1;
    return 0;
}

static int begin(hs_buf *b, int type)
{
    hs_buf_reset(b);
    return put_u32(b, MAGIC) < 0 || put_u16(b, HS_PROTO_VERSION) < 0 ||
                   put_u16(b, (uint16_t)type) < 0 || put_u32(b, 0) < 0
               ? -1
               : 0;
}

static int finish(hs_buf *b)
{
    uint32_t len = (uint32_t)(b->len - HS_PROTO_HEADER);
    for (int i = 0; i < 4; i++)
        b->data[8 + i] = (char)(unsigned char)(len >> (8 * i));
    return 0;
}

int hs_proto_pack_hello(const hs_hello *h, hs_buf *b)
{
    if (begin(b, HS_MSG_READY) < 0 || put_i32(b, h->rank) < 0 || put_i32(b, h->pid) < 0 ||
        put_str(b, h->host) < 0 ||
        put_str(b, h->version) < 0 || put_i32(b, h->has_gpu) < 0 || put_i32(b, h->gpu_slot) < 0 ||
        put_i32(b, h->shared) < 0 || put_str(b, h->visible) < 0 || put_str(b, h->gpu_name) < 0 ||
        put_str(b, h->gpu_uuid) < 0 || put_str(b, h->error) < 0)
        return -1;
    return finish(b);
}

int hs_proto_pack_task(const hs_task *t, hs_buf *b)
{
    if (begin(b, HS_MSG_RUN) < 0 || put_str(b, t->run_id) < 0 || put_u64(b, t->index) < 0 ||
        put_i32(b, t->attempt) < 0 || put_i32(b, t->runner) < 0 || put_str(b, t->probe) < 0 ||
        put_str(b, t->device) < 0 || put_strs(b, t->argv, t->argc) < 0 ||
        put_strs(b, t->env, t->nenv) < 0 || put_str(b, t->workdir) < 0 ||
        put_str(b, t->run_dir) < 0 || put_strs(b, t->results, t->nresults) < 0 ||
        put_strs(b, t->cleanup, t->ncleanup) < 0 || put_strs(b, t->file_paths, t->nfiles) < 0 ||
        put_strs(b, t->file_texts, t->nfiles) < 0 || put_f64(b, t->timeout) < 0 ||
        put_f64(b, t->grace) < 0 || put_u64(b, (uint64_t)t->log_limit) < 0 ||
        put_u64(b, (uint64_t)t->max_result_size) < 0 || put_i32(b, t->gpus) < 0 ||
        put_strs(b, t->rename_to, t->nrenames) < 0 ||
        put_strs(b, t->rename_from, t->nrenames) < 0 ||
        put_strs(b, t->required, t->nrequired) < 0 || put_i32(b, t->keep_all) < 0 ||
        put_i32(b, t->on_warnings) < 0 || put_str(b, t->params_json) < 0)
        return -1;
    return finish(b);
}

int hs_proto_pack_result(const hs_result *r, hs_buf *b)
{
    if (begin(b, HS_MSG_RESULT) < 0 || put_str(b, r->run_id) < 0 || put_u64(b, r->index) < 0 ||
        put_i32(b, r->attempt) < 0 || put_i32(b, r->status) < 0 ||
        put_str(b, r->failure_class) < 0 || put_str(b, r->message) < 0 ||
        put_i32(b, r->exit_code) < 0 || put_i32(b, r->term_signal) < 0 ||
        put_f64(b, r->started) < 0 || put_f64(b, r->finished) < 0 || put_f64(b, r->wall_s) < 0 ||
        put_str(b, r->host) < 0 || put_i32(b, r->rank) < 0 || put_i32(b, r->gpu) < 0 ||
        put_str(b, r->gpu_name) < 0 || put_str(b, r->gpu_uuid) < 0 ||
        put_str(b, r->git_commit) < 0 || put_i32(b, r->git_dirty) < 0 ||
        put_f64(b, r->max_rss_mb) < 0 || put_f64(b, r->cpu_s) < 0 || put_i32(b, r->nwarnings) < 0 ||
        put_str(b, r->stderr_tail) < 0 || put_u32(b, r->nmetrics) < 0)
        return -1;
    for (uint32_t i = 0; i < r->nmetrics; i++)
        if (put_str(b, r->metric_names[i]) < 0 || put_f64(b, r->metric_values[i]) < 0)
            return -1;
    return finish(b);
}

int hs_proto_pack_text(int type, const char *text, hs_buf *b)
{
    if (begin(b, type) < 0 || put_str(b, text) < 0)
        return -1;
    return finish(b);
}

/* ---- reader -------------------------------------------------------------------------- */

typedef struct reader {
    const unsigned char *p;
    size_t left;
    int bad;
} reader;

static uint64_t get_n(reader *r, int bytes)
{
    if (r->bad || r->left < (size_t)bytes) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    r->left -= (size_t)bytes;
    return v;
}

static int32_t get_i32(reader *r)
{
    return (int32_t)(uint32_t)get_n(r, 4);
}

static double get_f64(reader *r)
{
    uint64_t u = get_n(r, 8);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Copies into a fixed buffer (truncating). */
static void get_fixed(reader *r, char *dst, size_t cap)
{
    uint32_t n = (uint32_t)get_n(r, 4);
    if (r->bad || r->left < n) {
        r->bad = 1;
        dst[0] = '\0';
        return;
    }
    size_t c = n < cap - 1 ? n : cap - 1;
    memcpy(dst, r->p, c);
    dst[c] = '\0';
    r->p += n;
    r->left -= n;
}

static char *get_dup(reader *r)
{
    uint32_t n = (uint32_t)get_n(r, 4);
    if (r->bad || r->left < n) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, r->p, n);
    s[n] = '\0';
    r->p += n;
    r->left -= n;
    return s;
}

static char **get_strs(reader *r, uint32_t *n)
{
    uint32_t count = (uint32_t)get_n(r, 4);
    *n = 0;
    if (r->bad || count > r->left / 4) {
        r->bad = 1;
        return NULL;
    }
    char **v = calloc((size_t)count + 1, sizeof *v); /* NULL-terminated, like argv */
    if (!v) {
        r->bad = 1;
        return NULL;
    }
    for (uint32_t i = 0; i < count; i++) {
        v[i] = get_dup(r);
        if (r->bad) {
            for (uint32_t k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return NULL;
        }
    }
    *n = count;
    return v;
}

int hs_proto_type(const void *msg, size_t len, hs_error *err)
{
    reader r = { msg, len, 0 };
    uint32_t magic = (uint32_t)get_n(&r, 4);
    uint16_t version = (uint16_t)get_n(&r, 2);
    uint16_t type = (uint16_t)get_n(&r, 2);
    uint32_t plen = (uint32_t)get_n(&r, 4);
    if (r.bad || magic != MAGIC)
        return hs_err(err, "not a hypersweep message (%zu bytes)", len);
    if (version != HS_PROTO_VERSION)
        return hs_err(err,
                      "protocol version %u, expected %u: are all ranks running the same "
                      "hypersweep binary?",
                      version, HS_PROTO_VERSION);
    if (plen != len - HS_PROTO_HEADER)
        return hs_err(err, "message length %u does not match the %zu bytes received", plen,
                      len - HS_PROTO_HEADER);
    if (type < HS_MSG_READY || type > HS_MSG_STOP)
        return hs_err(err, "unknown message type %u", type);
    return type;
}

static int open_reader(const void *msg, size_t len, int want, reader *r, hs_error *err)
{
    int type = hs_proto_type(msg, len, err);
    if (type < 0)
        return -1;
    if (type != want)
        return hs_err(err, "expected message type %d, got %d", want, type);
    r->p = (const unsigned char *)msg + HS_PROTO_HEADER;
    r->left = len - HS_PROTO_HEADER;
    r->bad = 0;
    return 0;
}

int hs_proto_unpack_hello(const void *msg, size_t len, hs_hello *h, hs_error *err)
{
    reader r = { NULL, 0, 1 };
    if (open_reader(msg, len, HS_MSG_READY, &r, err) < 0)
        return -1;
    memset(h, 0, sizeof *h);
    h->rank = get_i32(&r);
    h->pid = get_i32(&r);
    get_fixed(&r, h->host, sizeof h->host);
    get_fixed(&r, h->version, sizeof h->version);
    h->has_gpu = get_i32(&r);
    h->gpu_slot = get_i32(&r);
    h->shared = get_i32(&r);
    get_fixed(&r, h->visible, sizeof h->visible);
    get_fixed(&r, h->gpu_name, sizeof h->gpu_name);
    get_fixed(&r, h->gpu_uuid, sizeof h->gpu_uuid);
    get_fixed(&r, h->error, sizeof h->error);
    return r.bad || r.left ? hs_err(err, "malformed READY message") : 0;
}

int hs_proto_unpack_task(const void *msg, size_t len, hs_task *t, hs_error *err)
{
    reader r = { NULL, 0, 1 };
    if (open_reader(msg, len, HS_MSG_RUN, &r, err) < 0)
        return -1;
    memset(t, 0, sizeof *t);
    get_fixed(&r, t->run_id, sizeof t->run_id);
    t->index = get_n(&r, 8);
    t->attempt = get_i32(&r);
    t->runner = get_i32(&r);
    t->probe = get_dup(&r);
    t->device = get_dup(&r);
    t->argv = get_strs(&r, &t->argc);
    t->env = get_strs(&r, &t->nenv);
    t->workdir = get_dup(&r);
    t->run_dir = get_dup(&r);
    t->results = get_strs(&r, &t->nresults);
    t->cleanup = get_strs(&r, &t->ncleanup);
    uint32_t np = 0, nt = 0;
    t->file_paths = get_strs(&r, &np);
    t->file_texts = get_strs(&r, &nt);
    t->nfiles = np < nt ? np : nt;
    t->timeout = get_f64(&r);
    t->grace = get_f64(&r);
    t->log_limit = (int64_t)get_n(&r, 8);
    t->max_result_size = (int64_t)get_n(&r, 8);
    t->gpus = get_i32(&r);
    uint32_t nto = 0, nfrom = 0;
    t->rename_to = get_strs(&r, &nto);
    t->rename_from = get_strs(&r, &nfrom);
    t->nrenames = nto < nfrom ? nto : nfrom;
    t->required = get_strs(&r, &t->nrequired);
    t->keep_all = get_i32(&r);
    t->on_warnings = get_i32(&r);
    t->params_json = get_dup(&r);
    if (r.bad || r.left || np != nt || nto != nfrom) {
        /* free whatever was read: counts may be partial, so clear field by field */
        hs_task_clear(t);
        return hs_err(err, "malformed RUN message");
    }
    return 0;
}

int hs_proto_unpack_result(const void *msg, size_t len, hs_result *res, hs_error *err)
{
    reader r = { NULL, 0, 1 };
    if (open_reader(msg, len, HS_MSG_RESULT, &r, err) < 0)
        return -1;
    hs_result_clear(res);
    get_fixed(&r, res->run_id, sizeof res->run_id);
    res->index = get_n(&r, 8);
    res->attempt = get_i32(&r);
    res->status = get_i32(&r);
    get_fixed(&r, res->failure_class, sizeof res->failure_class);
    get_fixed(&r, res->message, sizeof res->message);
    res->exit_code = get_i32(&r);
    res->term_signal = get_i32(&r);
    res->started = get_f64(&r);
    res->finished = get_f64(&r);
    res->wall_s = get_f64(&r);
    get_fixed(&r, res->host, sizeof res->host);
    res->rank = get_i32(&r);
    res->gpu = get_i32(&r);
    get_fixed(&r, res->gpu_name, sizeof res->gpu_name);
    get_fixed(&r, res->gpu_uuid, sizeof res->gpu_uuid);
    get_fixed(&r, res->git_commit, sizeof res->git_commit);
    res->git_dirty = get_i32(&r);
    res->max_rss_mb = get_f64(&r);
    res->cpu_s = get_f64(&r);
    res->nwarnings = get_i32(&r);
    get_fixed(&r, res->stderr_tail, sizeof res->stderr_tail);
    uint32_t n = (uint32_t)get_n(&r, 4);
    if (!r.bad && n > r.left / 12)
        r.bad = 1;
    char name[1024];
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        get_fixed(&r, name, sizeof name);
        double v = get_f64(&r);
        if (!r.bad && hs_result_set_metric(res, name, v) < 0)
            return hs_err(err, "out of memory");
    }
    if (r.bad || r.left || res->status < 0 || res->status >= HS_NSTATUS)
        return hs_err(err, "malformed RESULT message");
    return 0;
}

int hs_proto_unpack_text(const void *msg, size_t len, char *text, size_t cap, hs_error *err)
{
    int type = hs_proto_type(msg, len, err);
    if (type < 0)
        return -1;
    if (type != HS_MSG_CANCEL && type != HS_MSG_STOP)
        return hs_err(err, "expected CANCEL or STOP, got message type %d", type);
    reader r = { (const unsigned char *)msg + HS_PROTO_HEADER, len - HS_PROTO_HEADER, 0 };
    get_fixed(&r, text, cap);
    return r.bad || r.left ? hs_err(err, "malformed message") : type;
}
