#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "strmap.h"
#include "util.h"

#define ROW_CHUNK        1024
#define TAIL_CHUNK       64
#define STR_CHUNK        256 /* compressed strings: a batch recompresses one small chunk */
#define METRIC_NAME_LEN  256
#define METRIC_COL_CHUNK 16
#define INT_ABSENT       INT64_MIN

/* ---- HDF5 errors --------------------------------------------------------------------- */

struct h5msg {
    char text[512];
    int n;
};

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *arg)
{
    struct h5msg *m = arg;
    (void)n;
    if (m->n < 3 && e->desc && e->desc[0]) {
        size_t l = strlen(m->text);
        snprintf(m->text + l, sizeof m->text - l, "%s%s", m->n ? "; " : "", e->desc);
        for (char *p = m->text + l; *p; p++)
            if (*p == '\n')
                *p = ' '; /* HDF5 puts ctime()'s newline in its write errors */
        m->n++;
    }
    return 0;
}

/* The message of the last failed call, captured before cleanup calls clear the stack. */
static char captured[512];

static void capture(void)
{
    struct h5msg m = { "", 0 };
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &m);
    snprintf(captured, sizeof captured, "%s", m.text);
}

/* Fill err with "what: <innermost HDF5 messages>". Returns -1. */
static int h5err(hs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int h5err(hs_error *err, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    struct h5msg m = { "", 0 };
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &m);
    H5Eclear2(H5E_DEFAULT);
    if (!m.text[0] && captured[0])
        snprintf(m.text, sizeof m.text, "%s", captured);
    captured[0] = '\0';
    const char *hint = "";
    if (strstr(m.text, "unable to lock file") || strstr(m.text, "lock"))
        hint = " (another process has the file open: close hypersweep status, "
               "hypersweep-analyze or h5py, or wait for the sweep that writes it)";
    else if (strstr(m.text, "file write failed") || strstr(m.text, "No space") || errno == ENOSPC ||
             errno == EFBIG)
        hint = errno == EFBIG ? " (file size limit reached)" : " (is the disk full?)";
    if (m.text[0])
        return hs_err(err, "%s: %s%s", what, m.text, hint);
    return hs_err(err, "%s%s", what, hint);
}

static void quiet_hdf5(void)
{
    static int done;
    if (!done) {
        /* HDF5's own exit handler closes what is still open; on a file whose close failed
         * (disk full) HDF5 1.10 crashes there. Every file is closed explicitly here. */
        H5dont_atexit();
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

/* Copy a C string into a fixed-length, NUL-padded field. */
static void copy_fixed(void *dst, const char *src, size_t size)
{
    size_t l = strnlen(src, size);
    memset(dst, 0, size);
    memcpy(dst, src, l);
}

/* ---- column table -------------------------------------------------------------------- */

enum ckind { C_STR, C_I64, C_I32, C_I8, C_F64 };

struct colspec {
    const char *name;
    enum ckind kind;
    size_t size;   /* string length */
    size_t offset; /* in hs_result; (size_t)-1: not from the result */
    double fill;
};

#define R(f)       offsetof(hs_result, f)
#define NOT_RESULT ((size_t)-1)

/* The data columns of /runs, written by hs_store_put (status, run_id, index and params are
 * written separately). */
static const struct colspec data_cols[] = {
    { "attempts", C_I32, 0, R(attempt), 0 },
    { "exit_code", C_I32, 0, R(exit_code), -1 },
    { "signal", C_I32, 0, R(term_signal), 0 },
    { "failure_class", C_STR, 32, R(failure_class), 0 },
    { "message", C_STR, 256, R(message), 0 },
    { "started", C_F64, 0, R(started), NAN },
    { "finished", C_F64, 0, R(finished), NAN },
    { "wall_s", C_F64, 0, R(wall_s), NAN },
    { "host", C_STR, 64, R(host), 0 },
    { "rank", C_I32, 0, R(rank), -1 },
    { "gpu", C_I32, 0, R(gpu), -1 },
    { "gpu_name", C_STR, 96, R(gpu_name), 0 },
    { "gpu_uuid", C_STR, 80, R(gpu_uuid), 0 },
    { "git_commit", C_STR, 40, R(git_commit), 0 },
    { "git_dirty", C_I8, 0, R(git_dirty), -1 },
    { "max_rss_mb", C_F64, 0, R(max_rss_mb), NAN },
    { "cpu_s", C_F64, 0, R(cpu_s), NAN },
    { "warnings", C_I32, 0, R(nwarnings), 0 },
    { "stderr_tail", C_STR, HS_TAIL_BYTES, R(stderr_tail), 0 },
};
#define NDATA (sizeof data_cols / sizeof data_cols[0])

static hid_t str_type(size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, size);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static hid_t mem_type(enum ckind k, size_t size)
{
    switch (k) {
    case C_STR:
        return str_type(size);
    case C_I64:
        return H5Tcopy(H5T_NATIVE_INT64);
    case C_I32:
        return H5Tcopy(H5T_NATIVE_INT32);
    case C_I8:
        return H5Tcopy(H5T_NATIVE_INT8);
    case C_F64:
        return H5Tcopy(H5T_NATIVE_DOUBLE);
    }
    return -1;
}

static size_t kind_bytes(enum ckind k, size_t size)
{
    switch (k) {
    case C_STR:
        return size;
    case C_I64:
        return 8;
    case C_I32:
        return 4;
    case C_I8:
        return 1;
    case C_F64:
        return 8;
    }
    return 0;
}

static void put_fill(void *dst, enum ckind k, size_t size, double fill)
{
    switch (k) {
    case C_STR:
        memset(dst, 0, size);
        break;
    case C_I64:
        *(int64_t *)dst = (int64_t)fill;
        break;
    case C_I32:
        *(int32_t *)dst = (int32_t)fill;
        break;
    case C_I8:
        *(int8_t *)dst = (int8_t)fill;
        break;
    case C_F64:
        *(double *)dst = fill;
        break;
    }
}

static hid_t status_type(void)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_UINT8);
    for (int i = 0; i < HS_NSTATUS; i++) {
        uint8_t v = (uint8_t)i;
        H5Tenum_insert(t, hs_status_name(i), &v);
    }
    return t;
}

/* A chunked, extendible 1-D dataset with a fill value. */
static hid_t create_1d(hid_t loc, const char *name, hid_t type, const void *fill, hsize_t chunk,
                       bool compress, hsize_t rows)
{
    hsize_t dims = rows, maxd = H5S_UNLIMITED;
    hid_t sp = H5Screate_simple(1, &dims, &maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    if (fill)
        H5Pset_fill_value(dcpl, type, fill);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC);
    if (compress)
        H5Pset_deflate(dcpl, 1);
    hid_t d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return d;
}

static hsize_t extent_1d(hid_t d)
{
    hsize_t n = 0;
    hid_t sp = H5Dget_space(d);
    if (sp >= 0) {
        H5Sget_simple_extent_dims(sp, &n, NULL);
        H5Sclose(sp);
    }
    return n;
}

/* The name of member i of a group, of any length. Caller frees; NULL on failure. */
static char *member_name(hid_t grp, hsize_t i)
{
    ssize_t len = H5Gget_objname_by_idx(grp, i, NULL, 0);
    char *name = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (name && H5Gget_objname_by_idx(grp, i, name, (size_t)len + 1) < 0) {
        free(name);
        name = NULL;
    }
    return name;
}

static int write_attr_str(hid_t loc, const char *name, const char *value)
{
    if (H5Aexists(loc, name) > 0)
        H5Adelete(loc, name);
    size_t len = strlen(value);
    hid_t t = str_type(len ? len : 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, t, len ? value : "") >= 0 ? 0 : -1;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

static int write_attr_int(hid_t loc, const char *name, int64_t value)
{
    if (H5Aexists(loc, name) > 0)
        H5Adelete(loc, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &value) >= 0 ? 0 : -1;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

/* Reads a string (or integer) attribute as text; "" if absent. Caller frees. */
static char *read_attr_text(hid_t loc, const char *name)
{
    if (H5Aexists(loc, name) <= 0)
        return strdup("");
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return strdup("");
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            char *vs = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Aread(a, mt, &vs) >= 0 && vs) {
                out = strdup(vs);
                H5free_memory(vs);
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(ft);
            out = calloc(n + 1, 1);
            hid_t mt = str_type(n);
            if (out && H5Aread(a, mt, out) < 0)
                out[0] = '\0';
            H5Tclose(mt);
        }
    } else if (H5Tget_class(ft) == H5T_INTEGER) {
        int64_t v = 0;
        H5Aread(a, H5T_NATIVE_INT64, &v);
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)v);
        out = strdup(buf);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out ? out : strdup("");
}

/* Reads n fixed-length strings of a dataset into an array of n (size+1)-byte strings. */
static char *read_strings(hid_t d, size_t n, size_t *size_out)
{
    hid_t ft = H5Dget_type(d);
    size_t size = H5Tget_size(ft);
    H5Tclose(ft);
    *size_out = size;
    char *raw = malloc(n * size + 1);
    char *out = calloc(n ? n : 1, size + 1);
    if (!raw || !out) {
        free(raw);
        free(out);
        return NULL;
    }
    if (n) {
        hid_t mt = str_type(size);
        hsize_t start = 0, count = n;
        hid_t fs = H5Dget_space(d);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
        hid_t ms = H5Screate_simple(1, &count, NULL);
        herr_t rc = H5Dread(d, mt, ms, fs, H5P_DEFAULT, raw);
        if (rc < 0)
            capture();
        H5Sclose(ms);
        H5Sclose(fs);
        H5Tclose(mt);
        if (rc < 0) {
            free(raw);
            free(out);
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * (size + 1), raw + i * size, size);
    free(raw);
    return out;
}

static int read_rows(hid_t d, hid_t mt, size_t n, void *buf)
{
    if (n == 0)
        return 0;
    hsize_t start = 0, count = n;
    hid_t fs = H5Dget_space(d);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    hid_t ms = H5Screate_simple(1, &count, NULL);
    herr_t rc = H5Dread(d, mt, ms, fs, H5P_DEFAULT, buf);
    if (rc < 0)
        capture();
    H5Sclose(ms);
    H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

/* Writes buf (n elements of esz bytes) at rows[], which are sorted: each run of consecutive
 * rows is one hyperslab write (rows mostly come in order; element selections are slow). */
static int write_sorted_rows(hid_t d, hid_t mt, size_t esz, const hsize_t *rows, size_t n,
                             const void *buf)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && rows[j] == rows[j - 1] + 1)
            j++;
        hid_t fs = H5Dget_space(d);
        hsize_t start = rows[i], cnt = j - i;
        hid_t ms = H5Screate_simple(1, &cnt, NULL);
        herr_t rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &cnt, NULL);
        if (rc >= 0)
            rc = H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, (const char *)buf + i * esz);
        if (rc < 0)
            capture();
        H5Sclose(ms);
        H5Sclose(fs);
        if (rc < 0)
            return -1;
        i = j;
    }
    return 0;
}

/* Writes n consecutive rows from `first`. */
static int write_range(hid_t d, hid_t mt, hsize_t first, size_t n, const void *buf)
{
    if (n == 0)
        return 0;
    hid_t fs = H5Dget_space(d);
    hsize_t cnt = n;
    hid_t ms = H5Screate_simple(1, &cnt, NULL);
    herr_t rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &first, NULL, &cnt, NULL);
    if (rc >= 0)
        rc = H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, buf);
    if (rc < 0)
        capture();
    H5Sclose(ms);
    H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

/* ---- writer lock --------------------------------------------------------------------- */

/* PATH.lock, held with fcntl (works on NFS) for the writer's lifetime; two masters on one
 * store would corrupt it. */
static int take_lock(const char *path, int *fd_out, hs_error *err)
{
    char lock[PATH_MAX];
    snprintf(lock, sizeof lock, "%s.lock", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return hs_err_errno(err, "cannot create the lock file %s", lock);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        char holder[256] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        return hs_err(err,
                      "store %s is in use by another hypersweep run (%s); only one master "
                      "may write a store",
                      path, holder[0] ? holder : "unknown process");
    }
    char host[128] = "?", me[256];
    gethostname(host, sizeof host);
    int n = snprintf(me, sizeof me, "pid %ld on %s\n", (long)getpid(), host);
    if (ftruncate(fd, 0) == 0 && pwrite(fd, me, (size_t)n, 0) < 0) {
        /* the lock itself is what matters; the text is only for the message above */
    }
    *fd_out = fd;
    return 0;
}

/* ---- writer -------------------------------------------------------------------------- */

struct pending {
    size_t row;
    int status;
    hs_result res;
};

struct hs_store {
    char *path;
    hs_store_opts opts;
    int lock_fd;
    hid_t file;
    hid_t runs, params_grp, metrics_grp;
    hid_t d_status, d_data[NDATA];
    hid_t d_mnames, d_mvalues;
    hid_t t_status;
    size_t nrows;
    char (*ids)[HS_RUN_ID_LEN + 1];
    uint8_t *status;
    int32_t *attempts;
    double *wall;
    char (*fclass)[32];
    hs_strmap *idmap;
    size_t nmetrics;
    hs_strmap *metric_map;
    struct pending *batch;
    size_t nbatch, capbatch;
    double batch_started;
    bool failed; /* a commit failed: the file may be inconsistent until reopened */
};

static void close_handles(hs_store *s)
{
    for (size_t i = 0; i < NDATA; i++)
        if (s->d_data[i] > 0)
            H5Dclose(s->d_data[i]);
    hid_t *h[] = { &s->d_status, &s->d_mnames,   &s->d_mvalues,
                   &s->runs,     &s->params_grp, &s->metrics_grp };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        if (*h[i] > 0) {
            if (H5Iget_type(*h[i]) == H5I_GROUP)
                H5Gclose(*h[i]);
            else
                H5Dclose(*h[i]);
            *h[i] = -1;
        }
    memset(s->d_data, 0, sizeof s->d_data);
    if (s->t_status > 0)
        H5Tclose(s->t_status);
    s->t_status = -1;
    if (s->file > 0)
        H5Fclose(s->file);
    s->file = -1;
}

static hid_t fapl_latest(bool clear_flags)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    if (clear_flags) {
        /* what h5clear -s --increment does: clear the superblock's "open for writing" flags
         * and skip the EOF check (a write that failed can leave the file shorter than its
         * recorded end of allocation); the caller then moves that end past the file's end */
        hbool_t on = 1;
        H5Pset(fapl, "clear_status_flags", &on);
        H5Pset(fapl, "skip_eof_check", &on);
    }
    return fapl;
}

static int create_schema(hs_store *s, const hs_grid *g, hs_error *err)
{
    hid_t fapl = fapl_latest(false);
    s->file = H5Fcreate(s->path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (s->file < 0)
        return h5err(err, "cannot create store %s", s->path);
    hid_t runs = H5Gcreate2(s->file, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t params = H5Gcreate2(s->file, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t metrics = H5Gcreate2(s->file, "metrics", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (runs < 0 || params < 0 || metrics < 0)
        return h5err(err, "cannot create the groups of %s", s->path);
    int rc = 0;
    hid_t t = str_type(HS_RUN_ID_LEN);
    hid_t d = create_1d(runs, "run_id", t, NULL, ROW_CHUNK, false, 0);
    rc |= d < 0;
    H5Dclose(d);
    H5Tclose(t);
    int64_t idx_fill = -1;
    d = create_1d(runs, "index", H5T_NATIVE_INT64, &idx_fill, ROW_CHUNK, false, 0);
    rc |= d < 0;
    H5Dclose(d);
    hid_t st = status_type();
    rc |= H5Tcommit2(s->file, "status_t", st, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) < 0;
    uint8_t pending = HS_PENDING;
    d = create_1d(runs, "status", st, &pending, ROW_CHUNK, false, 0);
    rc |= d < 0;
    H5Dclose(d);
    H5Tclose(st);
    for (size_t i = 0; i < NDATA; i++) {
        const struct colspec *c = &data_cols[i];
        hid_t mt = mem_type(c->kind, c->size);
        unsigned char fill[16] = { 0 };
        if (c->kind != C_STR)
            put_fill(fill, c->kind, c->size, c->fill);
        bool tail = strcmp(c->name, "stderr_tail") == 0;
        /* fixed-length strings are mostly padding: compressed, they cost little */
        d = create_1d(runs, c->name, mt, c->kind == C_STR ? NULL : fill,
                      tail               ? TAIL_CHUNK
                      : c->kind == C_STR ? STR_CHUNK
                                         : ROW_CHUNK,
                      c->kind == C_STR, 0);
        rc |= d < 0;
        H5Dclose(d);
        H5Tclose(mt);
    }
    t = str_type(METRIC_NAME_LEN);
    d = create_1d(metrics, "names", t, NULL, 256, false, 0);
    rc |= d < 0;
    H5Dclose(d);
    H5Tclose(t);
    hsize_t dims[2] = { 0, 0 }, maxd[2] = { H5S_UNLIMITED, H5S_UNLIMITED },
            chunk[2] = { ROW_CHUNK, METRIC_COL_CHUNK };
    hid_t sp = H5Screate_simple(2, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    double nanv = NAN;
    H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nanv);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC);
    d = H5Dcreate2(metrics, "values", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    rc |= d < 0;
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    char now[32];
    hs_iso_time(hs_now(), now);
    rc |= write_attr_str(s->file, "sweep", hs_grid_name(g));
    rc |= write_attr_str(s->file, "created", now);
    rc |= write_attr_int(s->file, "schema_version", HS_STORE_SCHEMA_VERSION);
    H5Gclose(runs);
    H5Gclose(params);
    H5Gclose(metrics);
    if (rc)
        return h5err(err, "cannot create the schema of %s", s->path);
    return 0;
}

static int open_existing(hs_store *s, hs_store_open_info *info, hs_error *err)
{
    hid_t fapl = fapl_latest(false);
    s->file = H5Fopen(s->path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (s->file >= 0)
        return 0;
    struct h5msg m = { "", 0 };
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &m);
    H5Eclear2(H5E_DEFAULT);
    if (strstr(m.text, "lock"))
        return hs_err(err,
                      "cannot open store %s: another process has it open (close "
                      "hypersweep status, hypersweep-analyze or h5py first)",
                      s->path);
    /* A writer killed while the file was open leaves the superblock marked as open. We hold
     * the writer lock, so no live writer exists: clear the flags and move the end of the
     * allocated space past the end of the file (h5clear -s --increment). */
    fapl = fapl_latest(true);
    s->file = H5Fopen(s->path, H5F_ACC_RDWR, fapl);
    if (s->file < 0)
        capture();
    H5Pclose(fapl);
    if (s->file < 0)
        return h5err(err, "cannot open store %s (first attempt: %s)", s->path,
                     m.text[0] ? m.text : "unknown");
    if (H5Fincrement_filesize(s->file, 1 << 20) < 0)
        return h5err(err, "cannot repair store %s", s->path);
    if (info)
        info->repaired = true;
    return 0;
}

static int open_handles(hs_store *s, hs_error *err)
{
    s->runs = H5Gopen2(s->file, "runs", H5P_DEFAULT);
    s->params_grp = H5Gopen2(s->file, "params", H5P_DEFAULT);
    s->metrics_grp = H5Gopen2(s->file, "metrics", H5P_DEFAULT);
    if (s->runs < 0 || s->params_grp < 0 || s->metrics_grp < 0)
        return h5err(err, "%s is not a hypersweep store (no /runs, /params or /metrics)", s->path);
    s->d_status = H5Dopen2(s->runs, "status", H5P_DEFAULT);
    if (s->d_status < 0)
        return h5err(err, "%s: no /runs/status", s->path);
    s->t_status = H5Dget_type(s->d_status);
    for (size_t i = 0; i < NDATA; i++) {
        s->d_data[i] = H5Dopen2(s->runs, data_cols[i].name, H5P_DEFAULT);
        if (s->d_data[i] < 0)
            return h5err(err, "%s: no /runs/%s", s->path, data_cols[i].name);
    }
    s->d_mnames = H5Dopen2(s->metrics_grp, "names", H5P_DEFAULT);
    s->d_mvalues = H5Dopen2(s->metrics_grp, "values", H5P_DEFAULT);
    if (s->d_mnames < 0 || s->d_mvalues < 0)
        return h5err(err, "%s: no /metrics/names or /metrics/values", s->path);
    return 0;
}

/* Load run ids, status, attempts and failure classes, and metric names. */
static int load_index(hs_store *s, hs_error *err)
{
    hid_t d = H5Dopen2(s->runs, "run_id", H5P_DEFAULT);
    if (d < 0)
        return h5err(err, "%s: no /runs/run_id", s->path);
    size_t n = (size_t)extent_1d(d), size;
    char *ids = read_strings(d, n, &size);
    H5Dclose(d);
    if (!ids)
        return h5err(err, "cannot read the run ids of %s", s->path);
    free(s->ids);
    free(s->status);
    free(s->attempts);
    free(s->wall);
    free(s->fclass);
    s->wall = calloc(n ? n : 1, sizeof *s->wall);
    s->ids = calloc(n ? n : 1, sizeof *s->ids);
    s->status = calloc(n ? n : 1, sizeof *s->status);
    s->attempts = calloc(n ? n : 1, sizeof *s->attempts);
    s->fclass = calloc(n ? n : 1, sizeof *s->fclass);
    hs_strmap_destroy(s->idmap);
    s->idmap = hs_strmap_create(n + 16);
    if (!s->ids || !s->status || !s->attempts || !s->fclass || !s->idmap || !s->wall) {
        free(ids);
        return hs_err(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(s->ids[i], sizeof s->ids[i], "%s", ids + i * (size + 1));
        if (hs_strmap_put(s->idmap, s->ids[i], i) < 0) {
            free(ids);
            return hs_err(err, "out of memory");
        }
    }
    free(ids);
    s->nrows = n;
    if (read_rows(s->d_status, s->t_status, n, s->status) < 0 ||
        read_rows(s->d_data[0], H5T_NATIVE_INT32, n, s->attempts) < 0 ||
        read_rows(s->d_data[7], H5T_NATIVE_DOUBLE, n, s->wall) < 0)
        return h5err(err, "cannot read the status of %s", s->path);
    size_t fsz;
    char *fc = read_strings(s->d_data[3], n, &fsz);
    if (!fc)
        return h5err(err, "cannot read the failure classes of %s", s->path);
    for (size_t i = 0; i < n; i++)
        snprintf(s->fclass[i], sizeof s->fclass[i], "%s", fc + i * (fsz + 1));
    free(fc);
    size_t nm = (size_t)extent_1d(s->d_mnames), msz;
    char *names = read_strings(s->d_mnames, nm, &msz);
    if (!names)
        return h5err(err, "cannot read the metric names of %s", s->path);
    hs_strmap_destroy(s->metric_map);
    s->metric_map = hs_strmap_create(nm + 64);
    for (size_t i = 0; i < nm; i++)
        hs_strmap_put(s->metric_map, names + i * (msz + 1), i);
    free(names);
    s->nmetrics = nm;
    return 0;
}

/* A shard store holds only its own cells (index % count == shard); others hold all. */
static bool holds(const hs_store *s, size_t index)
{
    return s->opts.shard_count <= 0 ||
           (int)(index % (size_t)s->opts.shard_count) == s->opts.shard_index;
}

static int set_rows(hid_t d, hsize_t rows)
{
    return H5Dset_extent(d, &rows) < 0 ? -1 : 0;
}

/* Resize every row dataset (pre-SWMR only) and append the ids of new runs. */
static int add_rows(hs_store *s, const hs_grid *g, hs_store_open_info *info, hs_error *err)
{
    size_t nnew = 0;
    for (size_t i = 0; i < hs_grid_nruns(g); i++)
        if (holds(s, i) && !hs_strmap_get(s->idmap, hs_grid_run(g, i)->id, NULL))
            nnew++;
    if (info)
        info->new_rows = nnew;
    if (nnew == 0)
        return 0;
    size_t total = s->nrows + nnew;
    char *idbuf = malloc(nnew * HS_RUN_ID_LEN);
    if (!idbuf)
        return hs_err(err, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < hs_grid_nruns(g); i++) {
        const hs_run *r = hs_grid_run(g, i);
        if (holds(s, i) && !hs_strmap_get(s->idmap, r->id, NULL))
            memcpy(idbuf + HS_RUN_ID_LEN * k++, r->id, HS_RUN_ID_LEN);
    }
    int rc = 0;
    hid_t d = H5Dopen2(s->runs, "run_id", H5P_DEFAULT);
    rc |= set_rows(d, total);
    hid_t t = str_type(HS_RUN_ID_LEN);
    rc |= write_range(d, t, s->nrows, nnew, idbuf);
    H5Tclose(t);
    H5Dclose(d);
    free(idbuf);
    d = H5Dopen2(s->runs, "index", H5P_DEFAULT);
    rc |= set_rows(d, total);
    H5Dclose(d);
    rc |= set_rows(s->d_status, total);
    for (size_t i = 0; i < NDATA; i++)
        rc |= set_rows(s->d_data[i], total);
    hsize_t dims[2], maxd[2];
    hid_t sp = H5Dget_space(s->d_mvalues);
    H5Sget_simple_extent_dims(sp, dims, maxd);
    H5Sclose(sp);
    dims[0] = total;
    rc |= H5Dset_extent(s->d_mvalues, dims) < 0;
    /* parameter columns */
    hsize_t np = 0;
    H5Gget_num_objs(s->params_grp, &np);
    for (hsize_t i = 0; i < np; i++) {
        char *name = member_name(s->params_grp, i);
        hid_t pd = name ? H5Dopen2(s->params_grp, name, H5P_DEFAULT) : -1;
        rc |= pd < 0 || set_rows(pd, total) < 0;
        if (pd >= 0)
            H5Dclose(pd);
        free(name);
    }
    if (H5Lexists(s->runs, "params", H5P_DEFAULT) > 0) {
        hid_t pd = H5Dopen2(s->runs, "params", H5P_DEFAULT);
        rc |= pd < 0 || set_rows(pd, total) < 0;
        if (pd >= 0)
            H5Dclose(pd);
    }
    if (rc)
        return h5err(err, "cannot add %zu rows to %s", nnew, s->path);
    return load_index(s, err);
}

/* Per-row grid index (-1 for rows the grid no longer has). */
static int write_index(hs_store *s, const hs_grid *g, int64_t **row_of_run, hs_error *err)
{
    int64_t *idx = malloc((s->nrows ? s->nrows : 1) * sizeof *idx);
    int64_t *rowmap = malloc((hs_grid_nruns(g) ? hs_grid_nruns(g) : 1) * sizeof *rowmap);
    if (!idx || !rowmap) {
        free(idx);
        free(rowmap);
        return hs_err(err, "out of memory");
    }
    for (size_t i = 0; i < s->nrows; i++)
        idx[i] = -1;
    for (size_t i = 0; i < hs_grid_nruns(g); i++) {
        size_t row = 0;
        rowmap[i] = -1;
        if (!hs_strmap_get(s->idmap, hs_grid_run(g, i)->id, &row))
            continue; /* a cell of another shard */
        idx[row] = (int64_t)i;
        rowmap[i] = (int64_t)row;
    }
    hid_t d = H5Dopen2(s->runs, "index", H5P_DEFAULT);
    int rc = write_range(d, H5T_NATIVE_INT64, 0, s->nrows, idx);
    H5Dclose(d);
    free(idx);
    if (rc < 0) {
        free(rowmap);
        return h5err(err, "cannot write /runs/index of %s", s->path);
    }
    *row_of_run = rowmap;
    return 0;
}

/* ---- parameter columns --------------------------------------------------------------- */

enum pkind { PK_INT, PK_FLOAT, PK_BOOL, PK_STR };

static enum pkind pkind_of(hs_ptype t)
{
    switch (t) {
    case HS_PTYPE_INT:
        return PK_INT;
    case HS_PTYPE_FLOAT:
        return PK_FLOAT;
    case HS_PTYPE_BOOL:
        return PK_BOOL;
    default:
        return PK_STR;
    }
}

static const char *pkind_name(enum pkind k, bool mixed)
{
    if (mixed)
        return "mixed";
    return k == PK_INT ? "int" : k == PK_FLOAT ? "float" : k == PK_BOOL ? "bool" : "string";
}

static size_t round_up(size_t n, size_t m)
{
    return n == 0 ? m : (n + m - 1) / m * m;
}

static size_t pkind_bytes(enum pkind k, size_t str_size)
{
    return k == PK_STR ? str_size : k == PK_BOOL ? 1 : 8;
}

static hid_t pkind_type(enum pkind k, size_t str_size)
{
    return k == PK_STR     ? str_type(str_size)
           : k == PK_INT   ? H5Tcopy(H5T_NATIVE_INT64)
           : k == PK_FLOAT ? H5Tcopy(H5T_NATIVE_DOUBLE)
                           : H5Tcopy(H5T_NATIVE_INT8);
}

static void pkind_fill(enum pkind k, void *dst, size_t esz)
{
    switch (k) {
    case PK_INT:
        *(int64_t *)dst = INT_ABSENT;
        break;
    case PK_FLOAT:
        *(double *)dst = NAN;
        break;
    case PK_BOOL:
        *(int8_t *)dst = -1;
        break;
    case PK_STR:
        memset(dst, 0, esz);
        break;
    }
}

/* Rows per chunk of a text column of `size` bytes: chunks of at most about 1 MiB, so that
 * HDF5's default chunk cache holds one and a row read does not inflate more than that. */
static hsize_t text_chunk_rows(size_t size)
{
    size_t rows = (1u << 20) / (size ? size : 1);
    return rows < 1 ? 1 : rows > ROW_CHUNK ? ROW_CHUNK : (hsize_t)rows;
}

/* Rows per block when a column is rebuilt or read: about 4 MiB of data at a time, so long
 * values in many rows never need the whole column in memory. */
static size_t block_rows(size_t esz)
{
    size_t rows = (4u << 20) / (esz ? esz : 1);
    return rows < 1 ? 1 : rows;
}

/* Reads rows [first, first + n) of d as mt into buf. */
static int read_range(hid_t d, hid_t mt, hsize_t first, size_t n, void *buf)
{
    if (n == 0)
        return 0;
    hsize_t cnt = n;
    hid_t fs = H5Dget_space(d);
    hid_t ms = H5Screate_simple(1, &cnt, NULL);
    herr_t rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &first, NULL, &cnt, NULL);
    if (rc >= 0)
        rc = H5Dread(d, mt, ms, fs, H5P_DEFAULT, buf);
    if (rc < 0)
        capture();
    H5Sclose(ms);
    H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

/* The kind of an existing column and its string size. */
static int column_kind(hid_t d, enum pkind *k, size_t *size)
{
    hid_t t = H5Dget_type(d);
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    H5Tclose(t);
    *size = sz;
    if (c == H5T_STRING)
        *k = PK_STR;
    else if (c == H5T_FLOAT)
        *k = PK_FLOAT;
    else if (c == H5T_INTEGER && sz == 1)
        *k = PK_BOOL;
    else if (c == H5T_INTEGER)
        *k = PK_INT;
    else
        return -1;
    return 0;
}

/* A column being rebuilt with another type: the old dataset, kept open (under a temporary
 * link) until its values have been converted block by block. */
struct old_col {
    hid_t d;
    enum pkind kind;
    size_t size; /* string size */
    char *link;
    unsigned char *buf; /* one block in the old kind */
};

/* Converts row i of the old block into dst, a value of the new kind (float or text). */
static void convert_old(const struct old_col *o, size_t i, enum pkind want, unsigned char *dst,
                        size_t esz)
{
    char tmp[32] = "";
    const unsigned char *src = o->buf + i * pkind_bytes(o->kind, o->size);
    switch (o->kind) {
    case PK_STR:
        /* wider text: the old bytes as they are */
        memset(dst, 0, esz);
        memcpy(dst, src, o->size < esz ? o->size : esz);
        return;
    case PK_INT:
        if (want == PK_FLOAT) {
            int64_t v = *(const int64_t *)src;
            *(double *)dst = v == INT_ABSENT ? NAN : (double)v;
            return;
        }
        if (*(const int64_t *)src != INT_ABSENT)
            snprintf(tmp, sizeof tmp, "%lld", (long long)*(const int64_t *)src);
        break;
    case PK_FLOAT:
        if (!isnan(*(const double *)src))
            hs_double_repr(*(const double *)src, tmp);
        break;
    case PK_BOOL:
        if (*(const int8_t *)src >= 0)
            snprintf(tmp, sizeof tmp, "%s", *(const int8_t *)src ? "true" : "false");
        break;
    }
    copy_fixed(dst, tmp, esz);
}

/* Write one parameter column (creating, widening or converting it first; all pre-SWMR).
 * Rows of other grids keep their values, converted if the column's type had to change.
 * Done in blocks of rows, text of any length kept whole. */
static int write_param(hs_store *s, const hs_grid *g, const hs_param_info *pi,
                       const int64_t *run_of_row, size_t *created, hs_error *err)
{
    enum pkind want = pkind_of(pi->type);
    bool mixed = pi->type == HS_PTYPE_MIXED;
    size_t want_size = round_up(pi->max_text_len, 16);
    size_t n = s->nrows;
    hid_t d = -1;
    enum pkind have = want;
    size_t have_size = want_size;
    bool exists = H5Lexists(s->params_grp, pi->name, H5P_DEFAULT) > 0;
    struct old_col old = { .d = -1 };
    if (exists) {
        d = H5Dopen2(s->params_grp, pi->name, H5P_DEFAULT);
        if (d < 0 || column_kind(d, &have, &have_size) < 0) {
            if (d >= 0)
                H5Dclose(d);
            return h5err(err, "%s: cannot read /params/%s", s->path, pi->name);
        }
        bool ok = have == want || (have == PK_FLOAT && want == PK_INT) || have == PK_STR;
        if (have == PK_STR && want_size > have_size)
            ok = false;
        if (have == PK_STR)
            want = PK_STR;
        if (have == PK_FLOAT && want == PK_INT)
            want = PK_FLOAT;
        if (ok) {
            want_size = have_size;
        } else {
            /* keep the old column open under another name, and rebuild it wider */
            if (want != PK_STR && want != PK_FLOAT) {
                want = PK_STR;
                mixed = true;
            } else if (want == PK_FLOAT && (have == PK_STR || have == PK_BOOL)) {
                want = PK_STR;
                mixed = true;
            }
            if (want == PK_STR) {
                size_t need = have == PK_STR ? have_size : 24;
                if (need > want_size)
                    want_size = round_up(need, 16);
            }
            old.d = d;
            old.kind = have;
            old.size = have_size;
            d = -1;
            hs_buf link = { 0 };
            if (hs_buf_printf(&link, "%s.old", pi->name) < 0 || !(old.link = hs_buf_steal(&link))) {
                H5Dclose(old.d);
                return hs_err(err, "out of memory");
            }
            if (H5Lmove(s->params_grp, pi->name, s->params_grp, old.link, H5P_DEFAULT,
                        H5P_DEFAULT) < 0) {
                H5Dclose(old.d);
                free(old.link);
                return h5err(err, "%s: cannot rebuild /params/%s", s->path, pi->name);
            }
            exists = false;
        }
    }
    size_t esz = pkind_bytes(want, want_size);
    hid_t mt = pkind_type(want, want_size);
    if (!exists) {
        unsigned char fill[16] = { 0 };
        pkind_fill(want, fill, sizeof fill);
        /* text is mostly padding: compressed, in chunks of about 1 MiB */
        d = create_1d(s->params_grp, pi->name, mt, want == PK_STR ? NULL : fill,
                      want == PK_STR ? text_chunk_rows(want_size) : ROW_CHUNK, want == PK_STR, n);
        if (d >= 0) {
            write_attr_str(d, "type", pkind_name(want, mixed));
            (*created)++;
        }
    }
    size_t brows = block_rows(esz + (old.d >= 0 ? pkind_bytes(old.kind, old.size) : 0));
    if (brows > n)
        brows = n ? n : 1;
    unsigned char *col = malloc(brows * esz);
    if (old.d >= 0)
        old.buf = malloc(brows * pkind_bytes(old.kind, old.size));
    hid_t old_mt = old.d >= 0 ? pkind_type(old.kind, old.size) : -1;
    int rc = d < 0 ? -1 : !col || (old.d >= 0 && !old.buf) ? -2 : 0;
    hs_buf tb = { 0 };
    for (size_t first = 0; first < n && rc == 0; first += brows) {
        size_t cnt = n - first < brows ? n - first : brows;
        if (exists) {
            rc = read_range(d, mt, first, cnt, col);
        } else if (old.d >= 0) {
            rc = read_range(old.d, old_mt, first, cnt, old.buf);
            for (size_t i = 0; i < cnt && rc == 0; i++)
                convert_old(&old, i, want, col + i * esz, esz);
        } else {
            for (size_t i = 0; i < cnt; i++)
                pkind_fill(want, col + i * esz, esz);
        }
        for (size_t i = 0; i < cnt && rc == 0; i++) {
            int64_t run = run_of_row[first + i];
            if (run < 0)
                continue; /* a row of an older grid keeps its value */
            unsigned char *dst = col + i * esz;
            const hs_value *v = hs_run_get(hs_grid_run(g, (size_t)run), pi->name);
            if (!v) {
                pkind_fill(want, dst, esz);
                continue;
            }
            switch (want) {
            case PK_INT:
                *(int64_t *)dst = v->u.i;
                break;
            case PK_FLOAT:
                *(double *)dst = v->type == HS_INT ? (double)v->u.i : v->u.f;
                break;
            case PK_BOOL:
                *(int8_t *)dst = v->u.b ? 1 : 0;
                break;
            case PK_STR:
                hs_buf_reset(&tb);
                if (hs_value_put_text(&tb, v) < 0) {
                    rc = -2;
                    break;
                }
                if (tb.len > esz) {
                    rc = -3; /* the grid's max_text_len is the longest value: never */
                    break;
                }
                memset(dst, 0, esz);
                memcpy(dst, hs_buf_str(&tb), tb.len);
                break;
            }
        }
        if (rc == 0)
            rc = write_range(d, mt, first, cnt, col);
    }
    hs_buf_free(&tb);
    free(col);
    free(old.buf);
    H5Tclose(mt);
    if (old_mt >= 0)
        H5Tclose(old_mt);
    if (d >= 0)
        H5Dclose(d);
    if (old.d >= 0) {
        H5Dclose(old.d);
        if (rc == 0 && H5Ldelete(s->params_grp, old.link, H5P_DEFAULT) < 0) {
            rc = -1;
        } else if (rc != 0) {
            /* put the old column back rather than leave "NAME.old" */
            hid_t grp = s->params_grp;
            if (H5Lexists(grp, pi->name, H5P_DEFAULT) <= 0 ||
                H5Ldelete(grp, pi->name, H5P_DEFAULT) >= 0)
                H5Lmove(grp, old.link, grp, pi->name, H5P_DEFAULT, H5P_DEFAULT);
        }
    }
    free(old.link);
    if (rc == -2)
        return hs_err(err, "out of memory writing /params/%s", pi->name);
    if (rc == -3)
        return hs_err(err, "%s: a value of parameter '%s' is longer than its column", s->path,
                      pi->name);
    if (rc < 0)
        return h5err(err, "%s: cannot write /params/%s", s->path, pi->name);
    return 0;
}

/* /runs/params: every run's parameters as JSON text (the exact, typed record), of any
 * length; written in blocks of rows, like the parameter columns. */
static int write_params_json(hs_store *s, const hs_grid *g, const int64_t *run_of_row,
                             hs_error *err)
{
    hs_buf b = { 0 };
    size_t need = 0;
    for (size_t i = 0; i < hs_grid_nruns(g); i++) {
        hs_buf_reset(&b);
        if (hs_run_params_json(hs_grid_run(g, i), &b) < 0) {
            hs_buf_free(&b);
            return hs_err(err, "out of memory");
        }
        if (b.len > need)
            need = b.len;
    }
    size_t size = round_up(need, 64), n = s->nrows, old_size = 0;
    hid_t d = -1, old = -1;
    bool keep = false; /* the existing column is wide enough */
    if (H5Lexists(s->runs, "params", H5P_DEFAULT) > 0) {
        d = H5Dopen2(s->runs, "params", H5P_DEFAULT);
        enum pkind k;
        if (d < 0 || column_kind(d, &k, &old_size) < 0 || k != PK_STR) {
            if (d >= 0)
                H5Dclose(d);
            hs_buf_free(&b);
            return h5err(err, "%s: cannot read /runs/params", s->path);
        }
        if (old_size >= size) {
            size = old_size;
            keep = true;
        } else {
            old = d;
            d = -1;
            if (H5Lmove(s->runs, "params", s->runs, "params.old", H5P_DEFAULT, H5P_DEFAULT) < 0) {
                H5Dclose(old);
                hs_buf_free(&b);
                return h5err(err, "%s: cannot rebuild /runs/params", s->path);
            }
        }
    }
    hid_t t = str_type(size), old_t = old >= 0 ? str_type(old_size) : -1;
    if (d < 0)
        d = create_1d(s->runs, "params", t, NULL, text_chunk_rows(size), true, n);
    size_t brows = block_rows(size + old_size);
    if (brows > n)
        brows = n ? n : 1;
    char *col = malloc(brows * size);
    char *oldbuf = old >= 0 ? malloc(brows * old_size) : NULL;
    int rc = d < 0 ? -1 : !col || (old >= 0 && !oldbuf) ? -2 : 0;
    for (size_t first = 0; first < n && rc == 0; first += brows) {
        size_t cnt = n - first < brows ? n - first : brows;
        if (keep) {
            rc = read_range(d, t, first, cnt, col);
        } else if (old >= 0) {
            rc = read_range(old, old_t, first, cnt, oldbuf);
            for (size_t i = 0; i < cnt; i++) {
                memset(col + i * size, 0, size);
                memcpy(col + i * size, oldbuf + i * old_size, old_size);
            }
        } else {
            memset(col, 0, cnt * size);
        }
        for (size_t i = 0; i < cnt && rc == 0; i++) {
            if (run_of_row[first + i] < 0)
                continue;
            hs_buf_reset(&b);
            if (hs_run_params_json(hs_grid_run(g, (size_t)run_of_row[first + i]), &b) < 0) {
                rc = -2;
                break;
            }
            char *dst = col + i * size;
            memset(dst, 0, size);
            memcpy(dst, hs_buf_str(&b), b.len);
        }
        if (rc == 0)
            rc = write_range(d, t, first, cnt, col);
    }
    H5Tclose(t);
    if (old_t >= 0)
        H5Tclose(old_t);
    if (d >= 0)
        H5Dclose(d);
    if (old >= 0) {
        H5Dclose(old);
        if (rc == 0 && H5Ldelete(s->runs, "params.old", H5P_DEFAULT) < 0) {
            rc = -1;
        } else if (rc != 0) {
            /* put the old column back */
            if (H5Lexists(s->runs, "params", H5P_DEFAULT) <= 0 ||
                H5Ldelete(s->runs, "params", H5P_DEFAULT) >= 0)
                H5Lmove(s->runs, "params.old", s->runs, "params", H5P_DEFAULT, H5P_DEFAULT);
        }
    }
    free(col);
    free(oldbuf);
    hs_buf_free(&b);
    if (rc == -2)
        return hs_err(err, "out of memory writing /runs/params");
    return rc < 0 ? h5err(err, "%s: cannot write /runs/params", s->path) : 0;
}

static int reopen_swmr(hs_store *s, hs_error *err)
{
    close_handles(s);
    hid_t fapl = fapl_latest(false);
    s->file = H5Fopen(s->path, H5F_ACC_RDWR | H5F_ACC_SWMR_WRITE, fapl);
    H5Pclose(fapl);
    if (s->file < 0)
        return h5err(err, "cannot reopen store %s for SWMR writing", s->path);
    return open_handles(s, err);
}

static void store_free(hs_store *s)
{
    if (!s)
        return;
    /* after a failed commit, closing would flush into the same failure and leave HDF5's
     * state broken; the file is repaired when it is opened next */
    if (!s->failed)
        close_handles(s);
    for (size_t i = 0; i < s->nbatch; i++)
        hs_result_clear(&s->batch[i].res);
    free(s->batch);
    free(s->ids);
    free(s->status);
    free(s->attempts);
    free(s->wall);
    free(s->fclass);
    hs_strmap_destroy(s->idmap);
    hs_strmap_destroy(s->metric_map);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->path);
    free(s);
}

hs_store *hs_store_open(const char *path, const hs_grid *g, const hs_store_opts *opts,
                        hs_store_open_info *info, hs_error *err)
{
    quiet_hdf5();
    hs_store *s = calloc(1, sizeof *s);
    if (!s) {
        hs_err(err, "out of memory");
        return NULL;
    }
    s->lock_fd = -1;
    s->file = s->runs = s->params_grp = s->metrics_grp = -1;
    s->d_status = s->d_mnames = s->d_mvalues = s->t_status = -1;
    s->path = strdup(path);
    if (opts)
        s->opts = *opts;
    if (s->opts.batch_rows <= 0)
        s->opts.batch_rows = 64;
    if (!(s->opts.batch_seconds > 0))
        s->opts.batch_seconds = 1.0;
    if (info)
        memset(info, 0, sizeof *info);
    int64_t *row_of_run = NULL, *run_of_row = NULL;
    char *dir = strdup(path);
    if (!s->path || !dir) {
        free(dir);
        hs_err(err, "out of memory");
        goto fail;
    }
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (hs_mkdir_p(dir, 0755, err) < 0) {
            free(dir);
            goto fail;
        }
    }
    free(dir);
    if (take_lock(path, &s->lock_fd, err) < 0)
        goto fail;
    struct stat st;
    bool exists = stat(path, &st) == 0 && st.st_size > 0;
    if (exists) {
        if (open_existing(s, info, err) < 0)
            goto fail;
        if (H5Aexists(s->file, "schema_version") <= 0 ||
            H5Lexists(s->file, "runs", H5P_DEFAULT) <= 0) {
            hs_err(err, "%s exists but is not a complete hypersweep store; move it away", path);
            goto fail;
        }
        char *sweep = read_attr_text(s->file, "sweep");
        if (strcmp(sweep, hs_grid_name(g)) != 0) {
            hs_err(err,
                   "store %s belongs to sweep '%s', not '%s': refusing to mix sweeps (use "
                   "another --store, or the grid's own name)",
                   path, sweep, hs_grid_name(g));
            free(sweep);
            goto fail;
        }
        free(sweep);
        char *view = read_attr_text(s->file, "virtual_of");
        if (view[0]) {
            hs_err(err,
                   "%s is a virtual view of shard stores (hypersweep merge --virtual): it "
                   "cannot be written; merge without --virtual to get a store to resume",
                   path);
            free(view);
            goto fail;
        }
        free(view);
        char *shard = read_attr_text(s->file, "shard");
        const char *want = s->opts.shard ? s->opts.shard : "";
        if (strcmp(shard, want) != 0) {
            hs_err(err, "store %s is %s%s, but this run is %s%s", path,
                   shard[0] ? "shard " : "the whole sweep", shard,
                   want[0] ? "shard " : "the whole sweep", want);
            free(shard);
            goto fail;
        }
        free(shard);
    } else {
        if (create_schema(s, g, err) < 0)
            goto fail;
        if (info)
            info->created = true;
    }
    if (open_handles(s, err) < 0 || load_index(s, err) < 0 || add_rows(s, g, info, err) < 0 ||
        write_index(s, g, &row_of_run, err) < 0)
        goto fail;
    /* the other way round: the grid run of each row, -1 for rows of older grids */
    run_of_row = malloc((s->nrows ? s->nrows : 1) * sizeof *run_of_row);
    if (!run_of_row) {
        hs_err(err, "out of memory");
        goto fail;
    }
    for (size_t r = 0; r < s->nrows; r++)
        run_of_row[r] = -1;
    for (size_t i = 0; i < hs_grid_nruns(g); i++)
        if (row_of_run[i] >= 0)
            run_of_row[row_of_run[i]] = (int64_t)i;
    size_t created = 0;
    for (size_t k = 0; k < hs_grid_nparams(g); k++)
        if (write_param(s, g, hs_grid_param(g, k), run_of_row, &created, err) < 0)
            goto fail;
    if (info)
        info->new_params = exists ? created : 0;
    if (write_params_json(s, g, run_of_row, err) < 0)
        goto fail;
    char now[32];
    hs_iso_time(hs_now(), now);
    char *opens = read_attr_text(s->file, "opens");
    if (write_attr_str(s->file, "grid_text", hs_grid_text(g)) < 0 ||
        write_attr_str(s->file, "grid_path", hs_grid_path(g)) < 0 ||
        write_attr_str(s->file, "sweep_dir", s->opts.sweep_dir ? s->opts.sweep_dir : "") < 0 ||
        write_attr_str(s->file, "modified", now) < 0 ||
        write_attr_str(s->file, "hypersweep_version", HYPERSWEEP_VERSION) < 0 ||
        write_attr_str(s->file, "shard", s->opts.shard ? s->opts.shard : "") < 0 ||
        write_attr_int(s->file, "opens", atoll(opens) + 1) < 0) {
        free(opens);
        h5err(err, "cannot write the attributes of %s", path);
        goto fail;
    }
    free(opens);
    free(row_of_run);
    free(run_of_row);
    row_of_run = run_of_row = NULL;
    if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) {
        h5err(err, "cannot write store %s", path);
        goto fail;
    }
    if (s->opts.swmr && reopen_swmr(s, err) < 0)
        goto fail;
    if (info)
        info->rows = s->nrows;
    return s;
fail:
    free(row_of_run);
    free(run_of_row);
    store_free(s);
    return NULL;
}

size_t hs_store_nrows(const hs_store *s)
{
    return s->nrows;
}

long hs_store_find(const hs_store *s, const char *run_id)
{
    size_t row;
    return hs_strmap_get(s->idmap, run_id, &row) ? (long)row : -1;
}

int hs_store_status(const hs_store *s, size_t row)
{
    return row < s->nrows ? s->status[row] : -1;
}

int hs_store_attempts(const hs_store *s, size_t row)
{
    return row < s->nrows ? s->attempts[row] : 0;
}

double hs_store_wall_s(const hs_store *s, size_t row)
{
    return row < s->nrows ? s->wall[row] : NAN;
}

const char *hs_store_failure_class(const hs_store *s, size_t row)
{
    return row < s->nrows ? s->fclass[row] : "";
}

int hs_store_put(hs_store *s, size_t row, const hs_result *r, int status, hs_error *err)
{
    if (row >= s->nrows)
        return hs_err(err, "store %s has no row %zu", s->path, row);
    struct pending *p = NULL;
    for (size_t i = 0; i < s->nbatch; i++)
        if (s->batch[i].row == row)
            p = &s->batch[i];
    if (p) {
        hs_result_clear(&p->res);
    } else {
        if (s->nbatch == s->capbatch) {
            size_t cap = s->capbatch ? s->capbatch * 2 : 64;
            struct pending *b = realloc(s->batch, cap * sizeof *b);
            if (!b)
                return hs_err(err, "out of memory");
            s->batch = b;
            s->capbatch = cap;
        }
        if (s->nbatch == 0)
            s->batch_started = hs_monotonic();
        p = &s->batch[s->nbatch++];
        p->row = row;
    }
    p->status = status;
    hs_result_init(&p->res);
    if (hs_result_copy(&p->res, r) < 0)
        return hs_err(err, "out of memory");
    s->status[row] = (uint8_t)status;
    s->attempts[row] = r->attempt;
    s->wall[row] = r->wall_s;
    snprintf(s->fclass[row], sizeof s->fclass[row], "%s", r->failure_class);
    return 0;
}

int hs_store_commit_idle(hs_store *s, hs_error *err)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < s->nbatch; i++)
        if (s->batch[i].status != HS_RUNNING)
            return hs_store_flush(s, err);
    return hs_store_tick(s, err);
}

int hs_store_tick(hs_store *s, hs_error *err)
{
    if (s->nbatch == 0)
        return 0;
    if ((int)s->nbatch >= s->opts.batch_rows ||
        hs_monotonic() - s->batch_started >= s->opts.batch_seconds)
        return hs_store_flush(s, err);
    return 0;
}

static int ensure_metric(hs_store *s, const char *name, size_t *col, hs_error *err)
{
    if (hs_strmap_get(s->metric_map, name, col))
        return 0;
    hsize_t n = s->nmetrics + 1;
    if (H5Dset_extent(s->d_mnames, &n) < 0)
        return h5err(err, "cannot add metric '%s' to %s", name, s->path);
    char buf[METRIC_NAME_LEN];
    copy_fixed(buf, name, sizeof buf);
    hid_t t = str_type(METRIC_NAME_LEN);
    int rc = write_range(s->d_mnames, t, s->nmetrics, 1, buf);
    H5Tclose(t);
    hsize_t dims[2];
    hid_t sp = H5Dget_space(s->d_mvalues);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    dims[1] = n;
    if (rc < 0 || H5Dset_extent(s->d_mvalues, dims) < 0)
        return h5err(err, "cannot add metric '%s' to %s", name, s->path);
    *col = s->nmetrics++;
    return hs_strmap_put(s->metric_map, name, *col) < 0 ? hs_err(err, "out of memory") : 0;
}

static int do_fsync(hs_store *s)
{
    if (!s->opts.fsync)
        return 0;
    void *h = NULL;
    if (H5Fget_vfd_handle(s->file, H5P_DEFAULT, &h) < 0 || !h)
        return 0;
    return fsync(*(int *)h);
}

static int cmp_pending(const void *a, const void *b)
{
    size_t x = ((const struct pending *)a)->row, y = ((const struct pending *)b)->row;
    return (x > y) - (x < y);
}

static int commit_data(hs_store *s, hs_error *err)
{
    size_t n = s->nbatch;
    qsort(s->batch, n, sizeof *s->batch, cmp_pending);
    hsize_t *rows = malloc(n * sizeof *rows);
    unsigned char *buf = malloc(n * (HS_TAIL_BYTES + 16));
    if (!rows || !buf) {
        free(rows);
        free(buf);
        return hs_err(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        rows[i] = s->batch[i].row;
    for (size_t c = 0; c < NDATA; c++) {
        const struct colspec *cs = &data_cols[c];
        size_t esz = kind_bytes(cs->kind, cs->size);
        for (size_t i = 0; i < n; i++) {
            const unsigned char *src = (const unsigned char *)&s->batch[i].res + cs->offset;
            unsigned char *dst = buf + i * esz;
            if (cs->kind == C_STR) {
                memset(dst, 0, esz);
                size_t l = strnlen((const char *)src, cs->size);
                memcpy(dst, src, l);
            } else {
                memcpy(dst, src, esz);
            }
        }
        hid_t mt = mem_type(cs->kind, cs->size);
        int rc = write_sorted_rows(s->d_data[c], mt, esz, rows, n, buf);
        H5Tclose(mt);
        if (rc < 0) {
            free(rows);
            free(buf);
            return h5err(err, "cannot write /runs/%s of %s", cs->name, s->path);
        }
    }
    free(buf);
    free(rows);
    /* metrics: each row's full line (NaN where absent), so a retry never keeps stale values */
    for (size_t i = 0; i < n; i++)
        for (uint32_t m = 0; m < s->batch[i].res.nmetrics; m++) {
            size_t col;
            if (ensure_metric(s, s->batch[i].res.metric_names[m], &col, err) < 0)
                return -1;
        }
    if (s->nmetrics == 0)
        return 0;
    size_t nm = s->nmetrics;
    double *vals = malloc(n * nm * sizeof *vals);
    if (!vals)
        return hs_err(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        double *line = vals + i * nm;
        for (size_t m = 0; m < nm; m++)
            line[m] = NAN;
        for (uint32_t m = 0; m < s->batch[i].res.nmetrics; m++) {
            size_t col = 0;
            hs_strmap_get(s->metric_map, s->batch[i].res.metric_names[m], &col);
            line[col] = s->batch[i].res.metric_values[m];
        }
    }
    herr_t rc = 0;
    for (size_t i = 0; i < n && rc >= 0;) {
        size_t j = i + 1;
        while (j < n && s->batch[j].row == s->batch[j - 1].row + 1)
            j++;
        hsize_t start[2] = { s->batch[i].row, 0 }, cnt[2] = { j - i, nm };
        hid_t fs = H5Dget_space(s->d_mvalues);
        hid_t ms = H5Screate_simple(2, cnt, NULL);
        rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
        if (rc >= 0)
            rc = H5Dwrite(s->d_mvalues, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, vals + i * nm);
        if (rc < 0)
            capture();
        H5Sclose(ms);
        H5Sclose(fs);
        i = j;
    }
    free(vals);
    return rc < 0 ? h5err(err, "cannot write /metrics/values of %s", s->path) : 0;
}

int hs_store_flush(hs_store *s, hs_error *err)
{
    if (!s || s->nbatch == 0)
        return 0;
    if (s->failed)
        return hs_err(err, "store %s: an earlier write failed; not writing more", s->path);
    errno = 0;
    /* phase 1: the data, then a flush */
    if (commit_data(s, err) < 0)
        goto fail;
    if (H5Fflush(s->file, H5F_SCOPE_LOCAL) < 0 || do_fsync(s) < 0) {
        h5err(err, "cannot flush store %s", s->path);
        goto fail;
    }
    /* phase 2: the status column, then a flush */
    size_t n = s->nbatch;
    hsize_t *rows = malloc(n * sizeof *rows);
    uint8_t *st = malloc(n);
    if (!rows || !st) {
        free(rows);
        free(st);
        hs_err(err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        rows[i] = s->batch[i].row;
        st[i] = (uint8_t)s->batch[i].status;
    }
    int rc = write_sorted_rows(s->d_status, s->t_status, 1, rows, n, st);
    free(rows);
    free(st);
    if (rc < 0) {
        h5err(err, "cannot write /runs/status of %s", s->path);
        goto fail;
    }
    if (H5Fflush(s->file, H5F_SCOPE_LOCAL) < 0 || do_fsync(s) < 0) {
        h5err(err, "cannot flush store %s", s->path);
        goto fail;
    }
    for (size_t i = 0; i < s->nbatch; i++)
        hs_result_clear(&s->batch[i].res);
    s->nbatch = 0;
    return 0;
fail:
    s->failed = true;
    return -1;
}

int hs_store_close(hs_store *s, hs_error *err)
{
    if (!s)
        return 0;
    int rc = 0;
    if (!s->failed)
        rc = hs_store_flush(s, err);
    store_free(s);
    return rc;
}

/* ---- reader -------------------------------------------------------------------------- */

struct sd_param {
    char *name;
    hs_ptype type;
    enum pkind kind;
    size_t size;
    int64_t *i;
    double *f;
    int8_t *b;
    /* text: each distinct value once (vals[0] is "", absent), and each row's value's index */
    char **vals;
    size_t nvals;
    uint32_t *code;
};

/* The text columns read one row at a time (light mode; /runs/params always). */
enum { LZ_MESSAGE, LZ_HOST, LZ_GPU_NAME, LZ_GPU_UUID, LZ_GIT_COMMIT, LZ_PARAMS, LZ_N };
static const char *const lazy_cols[LZ_N] = { "message",  "host",       "gpu_name",
                                             "gpu_uuid", "git_commit", "params" };

struct hs_store_data {
    char *path;
    hid_t file, d_tail;
    char **attr_names, **attr_values;
    size_t nattrs;
    size_t nrows;
    char *run_id;
    size_t run_id_size;
    int64_t *index;
    uint8_t *status;
    int32_t *attempts, *exit_code, *signal, *rank, *gpu, *warnings;
    int8_t *git_dirty;
    double *started, *finished, *wall_s, *max_rss, *cpu_s;
    char *fclass, *message, *host, *gpu_name, *gpu_uuid, *git_commit;
    size_t fclass_sz, message_sz, host_sz, gpu_name_sz, gpu_uuid_sz, git_commit_sz;
    bool light; /* HS_STORE_READ_LIGHT: the text columns are read per row */
    /* one row of each lazily read column, whatever its width; the dataset stays open (0:
     * not opened yet, -1: absent), so HDF5's chunk cache serves the next rows */
    hid_t lazy_ds[LZ_N];
    size_t lazy_size[LZ_N];
    char *lazy[LZ_N];
    struct sd_param *p;
    size_t np;
    char **mnames;
    size_t nm;
    double *mvalues; /* column-major: nm columns of nrows */
};

void hs_store_data_destroy(hs_store_data *d)
{
    if (!d)
        return;
    if (d->d_tail > 0)
        H5Dclose(d->d_tail);
    for (int i = 0; i < LZ_N; i++) {
        if (d->lazy_ds[i] > 0)
            H5Dclose(d->lazy_ds[i]);
        free(d->lazy[i]);
    }
    if (d->file > 0)
        H5Fclose(d->file);
    for (size_t i = 0; i < d->nattrs; i++) {
        free(d->attr_names[i]);
        free(d->attr_values[i]);
    }
    free(d->attr_names);
    free(d->attr_values);
    void *arrays[] = { d->run_id,     d->index,    d->status, d->attempts, d->exit_code,
                       d->signal,     d->rank,     d->gpu,    d->warnings, d->git_dirty,
                       d->started,    d->finished, d->wall_s, d->max_rss,  d->cpu_s,
                       d->fclass,     d->message,  d->host,   d->gpu_name, d->gpu_uuid,
                       d->git_commit, d->mvalues };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        free(arrays[i]);
    for (size_t k = 0; k < d->np; k++) {
        free(d->p[k].name);
        free(d->p[k].i);
        free(d->p[k].f);
        free(d->p[k].b);
        for (size_t v = 0; v < d->p[k].nvals; v++)
            free(d->p[k].vals[v]);
        free(d->p[k].vals);
        free(d->p[k].code);
    }
    free(d->p);
    for (size_t m = 0; m < d->nm; m++)
        free(d->mnames[m]);
    free(d->mnames);
    free(d->path);
    free(d);
}

static int sd_read_num(hs_store_data *d, hid_t runs, const char *name, hid_t mt, size_t esz,
                       void **out, double fill, enum ckind kind)
{
    *out = malloc((d->nrows ? d->nrows : 1) * esz);
    if (!*out)
        return -1;
    for (size_t i = 0; i < d->nrows; i++)
        put_fill((char *)*out + i * esz, kind, esz, fill);
    if (H5Lexists(runs, name, H5P_DEFAULT) <= 0)
        return 0;
    hid_t ds = H5Dopen2(runs, name, H5P_DEFAULT);
    size_t n = (size_t)extent_1d(ds);
    int rc = read_rows(ds, mt, n < d->nrows ? n : d->nrows, *out);
    H5Dclose(ds);
    return rc;
}

static int sd_read_str(hs_store_data *d, hid_t runs, const char *name, char **out, size_t *sz)
{
    if (H5Lexists(runs, name, H5P_DEFAULT) <= 0) {
        *sz = 1;
        *out = calloc(d->nrows ? d->nrows : 1, 2);
        return *out ? 0 : -1;
    }
    hid_t ds = H5Dopen2(runs, name, H5P_DEFAULT);
    size_t n = (size_t)extent_1d(ds);
    size_t size;
    char *s = read_strings(ds, n < d->nrows ? n : d->nrows, &size);
    H5Dclose(ds);
    if (!s)
        return -1;
    if (n < d->nrows) {
        char *t = realloc(s, d->nrows * (size + 1));
        if (!t) {
            free(s);
            return -1;
        }
        memset(t + n * (size + 1), 0, (d->nrows - n) * (size + 1));
        s = t;
    }
    *out = s;
    *sz = size;
    return 0;
}

/* A text parameter column, n rows of it, read in blocks: each distinct value is kept once,
 * whatever its length, so a long value repeated over many runs costs its size once. */
static int sd_read_text_param(hid_t pd, size_t n, size_t rows, struct sd_param *p)
{
    size_t size = p->size, cap = 16, brows = block_rows(size);
    p->code = calloc(rows, sizeof *p->code);
    p->vals = malloc(cap * sizeof *p->vals);
    hs_strmap *map = hs_strmap_create(64);
    char *raw = malloc((brows < n ? brows : n ? n : 1) * size), *one = malloc(size + 1);
    hid_t mt = str_type(size);
    int rc = p->code && p->vals && map && raw && one ? 0 : -1;
    if (rc == 0 && (p->vals[0] = strdup("")))
        p->nvals = 1;
    else
        rc = -1;
    for (size_t first = 0; first < n && rc == 0; first += brows) {
        size_t cnt = n - first < brows ? n - first : brows;
        rc = read_range(pd, mt, first, cnt, raw);
        for (size_t i = 0; i < cnt && rc == 0; i++) {
            memcpy(one, raw + i * size, size);
            one[size] = '\0';
            size_t at = 0;
            if (one[0] && !hs_strmap_get(map, one, &at)) {
                if (p->nvals == cap) {
                    char **t = realloc(p->vals, 2 * cap * sizeof *t);
                    if (!t) {
                        rc = -1;
                        break;
                    }
                    p->vals = t;
                    cap *= 2;
                }
                at = p->nvals;
                if (!(p->vals[at] = strdup(one)) || hs_strmap_put(map, one, at) < 0) {
                    free(p->vals[at]);
                    rc = -1;
                    break;
                }
                p->nvals++;
            }
            p->code[first + i] = (uint32_t)at;
        }
    }
    H5Tclose(mt);
    hs_strmap_destroy(map);
    free(raw);
    free(one);
    return rc < 0 ? 1 : 0;
}

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *arg)
{
    hs_store_data *d = arg;
    (void)info;
    char **n = realloc(d->attr_names, (d->nattrs + 1) * sizeof *n);
    if (!n)
        return -1;
    d->attr_names = n;
    char **v = realloc(d->attr_values, (d->nattrs + 1) * sizeof *v);
    if (!v)
        return -1;
    d->attr_values = v;
    d->attr_names[d->nattrs] = strdup(name);
    d->attr_values[d->nattrs] = read_attr_text(loc, name);
    d->nattrs++;
    return 0;
}

hs_store_data *hs_store_read(const char *path, hs_error *err)
{
    return hs_store_read_ex(path, 0, err);
}

hs_store_data *hs_store_read_ex(const char *path, unsigned flags, hs_error *err)
{
    quiet_hdf5();
    hs_store_data *d = calloc(1, sizeof *d);
    if (!d) {
        hs_err(err, "out of memory");
        return NULL;
    }
    d->file = d->d_tail = -1;
    d->path = strdup(path);
    d->light = (flags & HS_STORE_READ_LIGHT) != 0;
    struct stat st;
    if (stat(path, &st) < 0) {
        hs_err_errno(err, "cannot open store %s", path);
        goto fail;
    }
    hid_t fapl = fapl_latest(false);
    d->file = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
    if (d->file < 0) {
        H5Eclear2(H5E_DEFAULT);
        d->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    H5Pclose(fapl);
    if (d->file < 0) {
        h5err(err, "cannot open store %s", path);
        goto fail;
    }
    if (H5Lexists(d->file, "runs", H5P_DEFAULT) <= 0 ||
        H5Lexists(d->file, "metrics", H5P_DEFAULT) <= 0) {
        hs_err(err, "%s is not a hypersweep store (no /runs or /metrics)", path);
        goto fail;
    }
    hsize_t idx = 0;
    H5Aiterate2(d->file, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, d);
    hid_t runs = H5Gopen2(d->file, "runs", H5P_DEFAULT);
    hid_t ds = H5Dopen2(runs, "run_id", H5P_DEFAULT);
    d->nrows = (size_t)extent_1d(ds);
    hid_t dst = H5Dopen2(runs, "status", H5P_DEFAULT);
    size_t ns = (size_t)extent_1d(dst);
    H5Dclose(dst);
    if (ns < d->nrows)
        d->nrows = ns;
    d->run_id = read_strings(ds, d->nrows, &d->run_id_size);
    H5Dclose(ds);
    int rc = d->run_id ? 0 : -1;
    rc |= sd_read_num(d, runs, "index", H5T_NATIVE_INT64, 8, (void **)&d->index, -1, C_I64);
    hid_t stt = status_type();
    rc |= sd_read_num(d, runs, "status", stt, 1, (void **)&d->status, 0, C_I8);
    H5Tclose(stt);
    rc |= sd_read_num(d, runs, "attempts", H5T_NATIVE_INT32, 4, (void **)&d->attempts, 0, C_I32);
    rc |= sd_read_num(d, runs, "exit_code", H5T_NATIVE_INT32, 4, (void **)&d->exit_code, -1, C_I32);
    rc |= sd_read_num(d, runs, "signal", H5T_NATIVE_INT32, 4, (void **)&d->signal, 0, C_I32);
    rc |= sd_read_num(d, runs, "rank", H5T_NATIVE_INT32, 4, (void **)&d->rank, -1, C_I32);
    rc |= sd_read_num(d, runs, "gpu", H5T_NATIVE_INT32, 4, (void **)&d->gpu, -1, C_I32);
    rc |= sd_read_num(d, runs, "warnings", H5T_NATIVE_INT32, 4, (void **)&d->warnings, 0, C_I32);
    rc |= sd_read_num(d, runs, "git_dirty", H5T_NATIVE_INT8, 1, (void **)&d->git_dirty, -1, C_I8);
    rc |= sd_read_num(d, runs, "started", H5T_NATIVE_DOUBLE, 8, (void **)&d->started, NAN, C_F64);
    rc |= sd_read_num(d, runs, "finished", H5T_NATIVE_DOUBLE, 8, (void **)&d->finished, NAN, C_F64);
    rc |= sd_read_num(d, runs, "wall_s", H5T_NATIVE_DOUBLE, 8, (void **)&d->wall_s, NAN, C_F64);
    rc |=
        sd_read_num(d, runs, "max_rss_mb", H5T_NATIVE_DOUBLE, 8, (void **)&d->max_rss, NAN, C_F64);
    rc |= sd_read_num(d, runs, "cpu_s", H5T_NATIVE_DOUBLE, 8, (void **)&d->cpu_s, NAN, C_F64);
    rc |= sd_read_str(d, runs, "failure_class", &d->fclass, &d->fclass_sz);
    if (!d->light) {
        rc |= sd_read_str(d, runs, "message", &d->message, &d->message_sz);
        rc |= sd_read_str(d, runs, "host", &d->host, &d->host_sz);
        rc |= sd_read_str(d, runs, "gpu_name", &d->gpu_name, &d->gpu_name_sz);
        rc |= sd_read_str(d, runs, "gpu_uuid", &d->gpu_uuid, &d->gpu_uuid_sz);
        rc |= sd_read_str(d, runs, "git_commit", &d->git_commit, &d->git_commit_sz);
    }
    if (H5Lexists(runs, "stderr_tail", H5P_DEFAULT) > 0)
        d->d_tail = H5Dopen2(runs, "stderr_tail", H5P_DEFAULT);
    H5Gclose(runs);
    if (rc) {
        h5err(err, "cannot read /runs of %s", path);
        goto fail;
    }
    /* parameters */
    hid_t pg = H5Gopen2(d->file, "params", H5P_DEFAULT);
    if (pg >= 0) {
        hsize_t np = 0;
        H5Gget_num_objs(pg, &np);
        d->p = calloc(np ? np : 1, sizeof *d->p);
        for (hsize_t k = 0; k < np && d->p && rc == 0; k++) {
            char *name = member_name(pg, k);
            hid_t pd = name ? H5Dopen2(pg, name, H5P_DEFAULT) : -1;
            if (pd < 0) {
                free(name);
                rc = -1;
                break;
            }
            struct sd_param *p = &d->p[d->np];
            p->name = name;
            size_t n = (size_t)extent_1d(pd);
            if (n > d->nrows)
                n = d->nrows;
            char *type = read_attr_text(pd, "type");
            if (column_kind(pd, &p->kind, &p->size) < 0) {
                free(type);
                free(p->name);
                p->name = NULL;
                H5Dclose(pd);
                continue;
            }
            p->type = p->kind == PK_INT            ? HS_PTYPE_INT
                      : p->kind == PK_FLOAT        ? HS_PTYPE_FLOAT
                      : p->kind == PK_BOOL         ? HS_PTYPE_BOOL
                      : strcmp(type, "mixed") == 0 ? HS_PTYPE_MIXED
                                                   : HS_PTYPE_STR;
            free(type);
            size_t rows = d->nrows ? d->nrows : 1;
            switch (p->kind) {
            case PK_INT:
                p->i = malloc(rows * 8);
                for (size_t r = 0; p->i && r < d->nrows; r++)
                    p->i[r] = INT_ABSENT;
                rc |= !p->i || read_rows(pd, H5T_NATIVE_INT64, n, p->i) < 0;
                break;
            case PK_FLOAT:
                p->f = malloc(rows * 8);
                for (size_t r = 0; p->f && r < d->nrows; r++)
                    p->f[r] = NAN;
                rc |= !p->f || read_rows(pd, H5T_NATIVE_DOUBLE, n, p->f) < 0;
                break;
            case PK_BOOL:
                p->b = malloc(rows);
                if (p->b)
                    memset(p->b, -1, rows);
                rc |= !p->b || read_rows(pd, H5T_NATIVE_INT8, n, p->b) < 0;
                break;
            case PK_STR:
                rc |= sd_read_text_param(pd, n, rows, p);
                break;
            }
            H5Dclose(pd);
            d->np++;
        }
        H5Gclose(pg);
    }
    /* metrics */
    hid_t mg = H5Gopen2(d->file, "metrics", H5P_DEFAULT);
    hid_t dn = H5Dopen2(mg, "names", H5P_DEFAULT);
    hid_t dv = H5Dopen2(mg, "values", H5P_DEFAULT);
    hsize_t dims[2] = { 0, 0 };
    hid_t vsp = H5Dget_space(dv);
    H5Sget_simple_extent_dims(vsp, dims, NULL);
    H5Sclose(vsp);
    size_t nm = (size_t)extent_1d(dn), nsz;
    if (nm > dims[1])
        nm = (size_t)dims[1];
    char *names = read_strings(dn, nm, &nsz);
    size_t vrows = (size_t)dims[0] < d->nrows ? (size_t)dims[0] : d->nrows;
    d->mnames = calloc(nm ? nm : 1, sizeof *d->mnames);
    d->mvalues = malloc((nm && d->nrows ? nm * d->nrows : 1) * sizeof *d->mvalues);
    double *tmp = malloc((vrows && nm ? vrows * nm : 1) * sizeof *tmp);
    if (!names || !d->mnames || !d->mvalues || !tmp)
        rc = -1;
    if (!rc && vrows && nm) {
        hsize_t start[2] = { 0, 0 }, cnt[2] = { vrows, nm };
        hid_t fs = H5Dget_space(dv);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
        hid_t ms = H5Screate_simple(2, cnt, NULL);
        rc |= H5Dread(dv, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, tmp) < 0;
        H5Sclose(ms);
        H5Sclose(fs);
    }
    if (!rc) {
        for (size_t m = 0; m < nm; m++) {
            d->mnames[m] = strdup(names + m * (nsz + 1));
            double *col = d->mvalues + m * d->nrows;
            for (size_t r = 0; r < d->nrows; r++)
                col[r] = r < vrows ? tmp[r * nm + m] : NAN;
        }
        d->nm = nm;
    }
    free(tmp);
    free(names);
    H5Dclose(dn);
    H5Dclose(dv);
    H5Gclose(mg);
    if (rc) {
        h5err(err, "cannot read %s", path);
        goto fail;
    }
    return d;
fail:
    hs_store_data_destroy(d);
    return NULL;
}

const char *hs_sd_path(const hs_store_data *d)
{
    return d->path;
}

const char *hs_sd_attr(const hs_store_data *d, const char *name)
{
    for (size_t i = 0; i < d->nattrs; i++)
        if (strcmp(d->attr_names[i], name) == 0)
            return d->attr_values[i] ? d->attr_values[i] : "";
    return "";
}

size_t hs_sd_nrows(const hs_store_data *d)
{
    return d->nrows;
}

#define STR_AT(base, sz, row) ((base) + (row) * ((sz) + 1))

/* One row of a text column, read from the file (light mode, and /runs/params); valid until
 * the next call for the same column. Text of any length. */
static const char *lazy_text(const hs_store_data *d, int slot, size_t row)
{
    hs_store_data *m = (hs_store_data *)d;
    if (row >= d->nrows)
        return "";
    if (m->lazy_ds[slot] == 0) {
        hs_buf path = { 0 };
        hs_buf_printf(&path, "runs/%s", lazy_cols[slot]);
        m->lazy_ds[slot] = -1;
        if (H5Lexists(d->file, "runs", H5P_DEFAULT) > 0 &&
            H5Lexists(d->file, hs_buf_str(&path), H5P_DEFAULT) > 0)
            m->lazy_ds[slot] = H5Dopen2(d->file, hs_buf_str(&path), H5P_DEFAULT);
        hs_buf_free(&path);
        if (m->lazy_ds[slot] < 0) {
            m->lazy_ds[slot] = -1;
        } else {
            hid_t ft = H5Dget_type(m->lazy_ds[slot]);
            m->lazy_size[slot] = H5Tget_size(ft);
            H5Tclose(ft);
            free(m->lazy[slot]);
            m->lazy[slot] = malloc(m->lazy_size[slot] + 1);
            if (!m->lazy[slot]) {
                H5Dclose(m->lazy_ds[slot]);
                m->lazy_ds[slot] = -1;
            }
        }
        H5Eclear2(H5E_DEFAULT);
    }
    if (m->lazy_ds[slot] < 0)
        return "";
    size_t size = m->lazy_size[slot];
    char *out = m->lazy[slot];
    hid_t mt = str_type(size);
    if (read_range(m->lazy_ds[slot], mt, row, 1, out) < 0)
        out[0] = '\0';
    out[size] = '\0';
    H5Tclose(mt);
    H5Eclear2(H5E_DEFAULT);
    return out;
}

const char *hs_sd_run_id(const hs_store_data *d, size_t row)
{
    return STR_AT(d->run_id, d->run_id_size, row);
}
int64_t hs_sd_index(const hs_store_data *d, size_t row)
{
    return d->index[row];
}
int hs_sd_status(const hs_store_data *d, size_t row)
{
    return d->status[row];
}
int hs_sd_attempts(const hs_store_data *d, size_t row)
{
    return d->attempts[row];
}
int hs_sd_exit_code(const hs_store_data *d, size_t row)
{
    return d->exit_code[row];
}
int hs_sd_signal(const hs_store_data *d, size_t row)
{
    return d->signal[row];
}
const char *hs_sd_failure_class(const hs_store_data *d, size_t row)
{
    return STR_AT(d->fclass, d->fclass_sz, row);
}
const char *hs_sd_message(const hs_store_data *d, size_t row)
{
    return d->light ? lazy_text(d, LZ_MESSAGE, row) : STR_AT(d->message, d->message_sz, row);
}
double hs_sd_started(const hs_store_data *d, size_t row)
{
    return d->started[row];
}
double hs_sd_finished(const hs_store_data *d, size_t row)
{
    return d->finished[row];
}
double hs_sd_wall_s(const hs_store_data *d, size_t row)
{
    return d->wall_s[row];
}
const char *hs_sd_host(const hs_store_data *d, size_t row)
{
    return d->light ? lazy_text(d, LZ_HOST, row) : STR_AT(d->host, d->host_sz, row);
}
int hs_sd_rank(const hs_store_data *d, size_t row)
{
    return d->rank[row];
}
int hs_sd_gpu(const hs_store_data *d, size_t row)
{
    return d->gpu[row];
}
const char *hs_sd_gpu_name(const hs_store_data *d, size_t row)
{
    return d->light ? lazy_text(d, LZ_GPU_NAME, row) : STR_AT(d->gpu_name, d->gpu_name_sz, row);
}
const char *hs_sd_gpu_uuid(const hs_store_data *d, size_t row)
{
    return d->light ? lazy_text(d, LZ_GPU_UUID, row) : STR_AT(d->gpu_uuid, d->gpu_uuid_sz, row);
}
const char *hs_sd_git_commit(const hs_store_data *d, size_t row)
{
    return d->light ? lazy_text(d, LZ_GIT_COMMIT, row)
                    : STR_AT(d->git_commit, d->git_commit_sz, row);
}
int hs_sd_git_dirty(const hs_store_data *d, size_t row)
{
    return d->git_dirty[row];
}
double hs_sd_max_rss_mb(const hs_store_data *d, size_t row)
{
    return d->max_rss[row];
}
double hs_sd_cpu_s(const hs_store_data *d, size_t row)
{
    return d->cpu_s[row];
}
int hs_sd_warnings(const hs_store_data *d, size_t row)
{
    return d->warnings[row];
}
const char *hs_sd_params_json(const hs_store_data *d, size_t row)
{
    return lazy_text(d, LZ_PARAMS, row);
}

int hs_sd_stderr_tail(const hs_store_data *d, size_t row, char *buf, size_t cap, hs_error *err)
{
    buf[0] = '\0';
    if (d->d_tail < 0 || row >= d->nrows)
        return 0;
    char raw[HS_TAIL_BYTES + 1];
    hid_t mt = str_type(HS_TAIL_BYTES);
    hid_t fs = H5Dget_space(d->d_tail);
    hsize_t start = row, cnt = 1;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &cnt, NULL);
    hid_t ms = H5Screate_simple(1, &cnt, NULL);
    herr_t rc = H5Dread(d->d_tail, mt, ms, fs, H5P_DEFAULT, raw);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Tclose(mt);
    if (rc < 0)
        return h5err(err, "cannot read the stderr tail of row %zu of %s", row, d->path);
    raw[HS_TAIL_BYTES] = '\0';
    snprintf(buf, cap, "%s", raw);
    return 0;
}

size_t hs_sd_nparams(const hs_store_data *d)
{
    return d->np;
}
const char *hs_sd_param_name(const hs_store_data *d, size_t k)
{
    return d->p[k].name;
}
hs_ptype hs_sd_param_type(const hs_store_data *d, size_t k)
{
    return d->p[k].type;
}

long hs_sd_param_find(const hs_store_data *d, const char *name)
{
    for (size_t k = 0; k < d->np; k++)
        if (strcmp(d->p[k].name, name) == 0)
            return (long)k;
    return -1;
}

bool hs_sd_param(const hs_store_data *d, size_t k, size_t row, hs_value *out)
{
    const struct sd_param *p = &d->p[k];
    switch (p->kind) {
    case PK_INT:
        if (p->i[row] == INT_ABSENT)
            return false;
        *out = hs_value_int(p->i[row]);
        return true;
    case PK_FLOAT:
        if (isnan(p->f[row]))
            return false;
        *out = hs_value_float(p->f[row]);
        return true;
    case PK_BOOL:
        if (p->b[row] < 0)
            return false;
        *out = hs_value_bool(p->b[row] != 0);
        return true;
    case PK_STR: {
        const char *s = p->vals[p->code[row]];
        if (!s[0])
            return false;
        *out = hs_value_str(s);
        return true;
    }
    }
    return false;
}

size_t hs_sd_nmetrics(const hs_store_data *d)
{
    return d->nm;
}
const char *hs_sd_metric_name(const hs_store_data *d, size_t m)
{
    return d->mnames[m];
}
long hs_sd_metric_find(const hs_store_data *d, const char *name)
{
    for (size_t m = 0; m < d->nm; m++)
        if (strcmp(d->mnames[m], name) == 0)
            return (long)m;
    return -1;
}
const double *hs_sd_metric_column(const hs_store_data *d, size_t m)
{
    return d->mvalues + m * d->nrows;
}
