#include "merge.h"

#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "grid.h"
#include "result.h"
#include "store.h"
#include "strmap.h"
#include "util.h"

/* Rank of a row's status for choosing between shards: done beats not done, ok beats all. */
static int status_rank(int st)
{
    if (st == HS_OK)
        return 3;
    if (hs_status_failure(st))
        return 2;
    if (st == HS_INTERRUPTED || st == HS_RUNNING)
        return 1;
    return 0;
}

struct winner {
    int shard; /* -1: none */
    size_t row;
};

static void row_to_result(const hs_store_data *d, size_t row, hs_result *r)
{
    hs_result_clear(r);
    snprintf(r->run_id, sizeof r->run_id, "%s", hs_sd_run_id(d, row));
    r->index = (uint64_t)(hs_sd_index(d, row) < 0 ? 0 : hs_sd_index(d, row));
    r->attempt = hs_sd_attempts(d, row);
    r->status = hs_sd_status(d, row);
    snprintf(r->failure_class, sizeof r->failure_class, "%s", hs_sd_failure_class(d, row));
    snprintf(r->message, sizeof r->message, "%s", hs_sd_message(d, row));
    r->exit_code = hs_sd_exit_code(d, row);
    r->term_signal = hs_sd_signal(d, row);
    r->started = hs_sd_started(d, row);
    r->finished = hs_sd_finished(d, row);
    r->wall_s = hs_sd_wall_s(d, row);
    snprintf(r->host, sizeof r->host, "%s", hs_sd_host(d, row));
    r->rank = hs_sd_rank(d, row);
    r->gpu = hs_sd_gpu(d, row);
    snprintf(r->gpu_name, sizeof r->gpu_name, "%s", hs_sd_gpu_name(d, row));
    snprintf(r->gpu_uuid, sizeof r->gpu_uuid, "%s", hs_sd_gpu_uuid(d, row));
    snprintf(r->git_commit, sizeof r->git_commit, "%s", hs_sd_git_commit(d, row));
    r->git_dirty = hs_sd_git_dirty(d, row);
    r->max_rss_mb = hs_sd_max_rss_mb(d, row);
    r->cpu_s = hs_sd_cpu_s(d, row);
    r->nwarnings = hs_sd_warnings(d, row);
    hs_error e;
    hs_sd_stderr_tail(d, row, r->stderr_tail, sizeof r->stderr_tail, &e);
    for (size_t m = 0; m < hs_sd_nmetrics(d); m++) {
        double v = hs_sd_metric_column(d, m)[row];
        if (!isnan(v))
            hs_result_set_metric(r, hs_sd_metric_name(d, m), v);
    }
}

static double file_mtime(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9 : 0;
}

/* ---- virtual datasets ---------------------------------------------------------------- */

/* The path of a shard as the virtual file should name it: relative to the output's
 * directory when it lies below it, so that the directory can move. */
static char *vds_source_name(const char *shard, const char *out)
{
    char *as = hs_path_absolute(shard), *ao = hs_path_absolute(out);
    char *name = NULL;
    if (as && ao) {
        char *slash = strrchr(ao, '/');
        if (slash)
            slash[1] = '\0';
        size_t l = strlen(ao);
        name = strdup(strncmp(as, ao, l) == 0 ? as + l : as);
    }
    free(as);
    free(ao);
    return name;
}

/* One virtual dataset at `path`, the concatenation along rows of the shards' datasets. */
static int vds_concat(hid_t out, const char *path, const char *const *shards, char **names,
                      const hsize_t *rows, size_t n, hs_error *err)
{
    hid_t f0 = H5Fopen(shards[0], H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d0 = f0 >= 0 ? H5Dopen2(f0, path, H5P_DEFAULT) : -1;
    if (d0 < 0) {
        if (f0 >= 0)
            H5Fclose(f0);
        return hs_err(err, "%s: no %s", shards[0], path);
    }
    hid_t type = H5Dget_type(d0);
    hid_t sp0 = H5Dget_space(d0);
    int rank = H5Sget_simple_extent_ndims(sp0);
    hsize_t dims0[2] = { 0, 0 };
    H5Sget_simple_extent_dims(sp0, dims0, NULL);
    H5Sclose(sp0);
    hid_t dcpl0 = H5Dget_create_plist(d0);
    hsize_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += rows[i];
    hsize_t vdims[2] = { total, dims0[1] };
    hid_t vspace = H5Screate_simple(rank, vdims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    /* the fill value of the sources, so absent stays absent */
    H5D_fill_value_t fv;
    if (H5Pfill_value_defined(dcpl0, &fv) >= 0 && fv == H5D_FILL_VALUE_USER_DEFINED) {
        size_t sz = H5Tget_size(type);
        void *fill = calloc(1, sz);
        if (fill && H5Pget_fill_value(dcpl0, type, fill) >= 0)
            H5Pset_fill_value(dcpl, type, fill);
        free(fill);
    }
    hsize_t off = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        hsize_t start[2] = { off, 0 }, cnt[2] = { rows[i], dims0[1] };
        H5Sselect_hyperslab(vspace, H5S_SELECT_SET, start, NULL, cnt, NULL);
        hid_t src = H5Screate_simple(rank, cnt, NULL);
        if (H5Pset_virtual(dcpl, vspace, names[i], path, src) < 0)
            rc = hs_err(err, "cannot map %s of %s", path, shards[i]);
        H5Sclose(src);
        off += rows[i];
    }
    H5Sselect_all(vspace);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = rc == 0 ? H5Dcreate2(out, path, type, vspace, lcpl, dcpl, H5P_DEFAULT) : -1;
    if (rc == 0 && d < 0)
        rc = hs_err(err, "cannot create the virtual dataset %s", path);
    if (d >= 0) {
        /* keep the column's attributes (e.g. the "type" of a parameter column) */
        H5O_info_t oi;
        H5Oget_info2(d0, &oi, H5O_INFO_NUM_ATTRS);
        int na = (int)oi.num_attrs;
        for (int a = 0; a < na; a++) {
            hid_t at = H5Aopen_by_idx(d0, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)a, H5P_DEFAULT,
                                      H5P_DEFAULT);
            char an[256];
            H5Aget_name(at, sizeof an, an);
            hid_t att = H5Aget_type(at), asp = H5Aget_space(at);
            size_t sz = H5Tget_size(att);
            void *buf = calloc(1, sz + 1);
            if (buf && H5Aread(at, att, buf) >= 0) {
                hid_t na2 = H5Acreate2(d, an, att, asp, H5P_DEFAULT, H5P_DEFAULT);
                if (na2 >= 0) {
                    H5Awrite(na2, att, buf);
                    H5Aclose(na2);
                }
            }
            free(buf);
            H5Tclose(att);
            H5Sclose(asp);
            H5Aclose(at);
        }
        H5Dclose(d);
    }
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Pclose(dcpl0);
    H5Sclose(vspace);
    H5Tclose(type);
    H5Dclose(d0);
    H5Fclose(f0);
    return rc;
}

static int copy_object(hid_t src_file, const char *path, hid_t out, hs_error *err)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    herr_t rc = H5Ocopy(src_file, path, out, path, H5P_DEFAULT, lcpl);
    H5Pclose(lcpl);
    return rc < 0 ? hs_err(err, "cannot copy %s", path) : 0;
}

static int write_str_attr(hid_t loc, const char *name, const char *value)
{
    if (H5Aexists(loc, name) > 0)
        H5Adelete(loc, name);
    size_t len = strlen(value);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len ? len : 1);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, t, len ? value : "") >= 0 ? 0 : -1;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

static int merge_virtual(hs_store_data **d, const char *const *shards, size_t n, const char *out,
                         size_t newest, hs_error *err)
{
    /* a virtual file is a plain concatenation: the shards must line up column for column */
    for (size_t i = 1; i < n; i++) {
        if (hs_sd_nmetrics(d[i]) != hs_sd_nmetrics(d[0]))
            return hs_err(err,
                          "%s has %zu metrics and %s %zu: a virtual file needs the same "
                          "metric columns in every shard (merge without --virtual)",
                          shards[0], hs_sd_nmetrics(d[0]), shards[i], hs_sd_nmetrics(d[i]));
        for (size_t m = 0; m < hs_sd_nmetrics(d[0]); m++)
            if (strcmp(hs_sd_metric_name(d[0], m), hs_sd_metric_name(d[i], m)) != 0)
                return hs_err(err,
                              "metric column %zu is '%s' in %s but '%s' in %s: a virtual "
                              "file needs the same metric columns in every shard (merge "
                              "without --virtual)",
                              m, hs_sd_metric_name(d[0], m), shards[0], hs_sd_metric_name(d[i], m),
                              shards[i]);
        if (hs_sd_nparams(d[i]) != hs_sd_nparams(d[0]))
            return hs_err(err,
                          "%s and %s have different parameter columns (merge without "
                          "--virtual)",
                          shards[0], shards[i]);
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(out, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0)
        return hs_err(err, "cannot create %s", out);
    hsize_t *rows = calloc(n, sizeof *rows);
    char **names = calloc(n, sizeof *names);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rows[i] = hs_sd_nrows(d[i]);
        if (!(names[i] = vds_source_name(shards[i], out)))
            rc = hs_err(err, "out of memory");
    }
    hid_t src = H5Fopen(shards[newest], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (rc == 0 && (src < 0 || copy_object(src, "status_t", f, err) < 0 ||
                    copy_object(src, "metrics/names", f, err) < 0))
        rc = rc ? rc : hs_err(err, "cannot copy from %s", shards[newest]);
    static const char *const run_cols[] = {
        "run_id",        "index",   "status",   "attempts",    "exit_code",  "signal",
        "failure_class", "message", "started",  "finished",    "wall_s",     "host",
        "rank",          "gpu",     "gpu_name", "gpu_uuid",    "git_commit", "git_dirty",
        "max_rss_mb",    "cpu_s",   "warnings", "stderr_tail", "params",
    };
    char path[600];
    for (size_t c = 0; c < sizeof run_cols / sizeof run_cols[0] && rc == 0; c++) {
        snprintf(path, sizeof path, "runs/%s", run_cols[c]);
        rc = vds_concat(f, path, shards, names, rows, n, err);
    }
    for (size_t k = 0; k < hs_sd_nparams(d[0]) && rc == 0; k++) {
        snprintf(path, sizeof path, "params/%s", hs_sd_param_name(d[0], k));
        rc = vds_concat(f, path, shards, names, rows, n, err);
    }
    if (rc == 0)
        rc = vds_concat(f, "metrics/values", shards, names, rows, n, err);
    if (rc == 0 && src >= 0) {
        /* the attributes of the newest shard, marked as a view */
        hid_t root = H5Gopen2(src, "/", H5P_DEFAULT), oroot = H5Gopen2(f, "/", H5P_DEFAULT);
        H5O_info_t oi;
        H5Oget_info2(root, &oi, H5O_INFO_NUM_ATTRS);
        int na = (int)oi.num_attrs;
        for (int a = 0; a < na; a++) {
            hid_t at = H5Aopen_by_idx(root, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)a,
                                      H5P_DEFAULT, H5P_DEFAULT);
            char an[256];
            H5Aget_name(at, sizeof an, an);
            hid_t att = H5Aget_type(at), asp = H5Aget_space(at);
            void *buf = calloc(1, H5Tget_size(att) + 1);
            if (buf && H5Aread(at, att, buf) >= 0) {
                hid_t a2 = H5Acreate2(oroot, an, att, asp, H5P_DEFAULT, H5P_DEFAULT);
                if (a2 >= 0) {
                    H5Awrite(a2, att, buf);
                    H5Aclose(a2);
                }
            }
            free(buf);
            H5Tclose(att);
            H5Sclose(asp);
            H5Aclose(at);
        }
        hs_buf list = { 0 };
        for (size_t i = 0; i < n; i++)
            hs_buf_printf(&list, "%s%s", i ? "\n" : "", names[i]);
        write_str_attr(oroot, "shard", "");
        write_str_attr(oroot, "virtual_of", hs_buf_str(&list));
        hs_buf_free(&list);
        H5Gclose(root);
        H5Gclose(oroot);
    }
    if (src >= 0)
        H5Fclose(src);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(rows);
    if (H5Fclose(f) < 0 && rc == 0)
        rc = hs_err(err, "cannot write %s", out);
    if (rc != 0)
        unlink(out);
    return rc;
}

/* ---- the merge ----------------------------------------------------------------------- */

int hs_store_merge(const char *const *shards, size_t n, const char *out, const hs_merge_opts *o,
                   hs_merge_summary *sum, hs_error *err)
{
    memset(sum, 0, sizeof *sum);
    sum->shards = n;
    FILE *rep = o && o->report ? o->report : NULL;
    if (n == 0)
        return hs_err(err, "no shard stores to merge");
    if (access(out, F_OK) == 0 && !(o && o->force))
        return hs_err(err, "%s exists: choose another output, or pass --force to replace it", out);
    for (size_t i = 0; i < n; i++) {
        char *a = hs_path_absolute(shards[i]), *b = hs_path_absolute(out);
        int same = a && b && strcmp(a, b) == 0;
        free(a);
        free(b);
        if (same)
            return hs_err(err, "the output %s is also one of the shards", out);
    }
    hs_store_data **d = calloc(n, sizeof *d);
    hs_grid *g = NULL;
    hs_store *s = NULL;
    struct winner *win = NULL;
    int rc = -1;
    if (!d)
        return hs_err(err, "out of memory");
    size_t newest = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(d[i] = hs_store_read(shards[i], err)))
            goto out;
        if (strcmp(hs_sd_attr(d[i], "sweep"), hs_sd_attr(d[0], "sweep")) != 0) {
            hs_err(err, "%s belongs to sweep '%s' and %s to sweep '%s': refusing to mix sweeps",
                   shards[0], hs_sd_attr(d[0], "sweep"), shards[i], hs_sd_attr(d[i], "sweep"));
            goto out;
        }
        if (hs_sd_attr(d[i], "virtual_of")[0]) {
            hs_err(err, "%s is itself a virtual view; merge the shard stores it names", shards[i]);
            goto out;
        }
        if (file_mtime(shards[i]) > file_mtime(shards[newest]))
            newest = i;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(hs_sd_attr(d[i], "grid_text"), hs_sd_attr(d[newest], "grid_text")) != 0 && rep)
            fprintf(rep,
                    "note: %s was written with another version of the grid than %s; the "
                    "merge uses the newer (%s)\n",
                    shards[i], shards[newest], shards[newest]);
    g = hs_grid_load_text(hs_sd_attr(d[newest], "grid_text"), hs_sd_attr(d[newest], "grid_path"),
                          NULL, err);
    if (!g) {
        hs_err_prefix(err, "the grid stored in %s", shards[newest]);
        goto out;
    }
    if (o && o->virtual_ds) {
        if (access(out, F_OK) == 0)
            unlink(out);
        rc = merge_virtual(d, shards, n, out, newest, err);
        if (rc == 0) {
            sum->cells = hs_grid_nruns(g);
            for (size_t i = 0; i < n; i++)
                for (size_t r = 0; r < hs_sd_nrows(d[i]); r++) {
                    sum->committed += hs_status_done(hs_sd_status(d[i], r));
                    sum->ok += hs_sd_status(d[i], r) == HS_OK;
                }
            if (rep)
                fprintf(rep,
                        "%s: a virtual view of %zu shard stores (%zu rows); it reads "
                        "through to the shards, which must stay where they are\n",
                        out, n, sum->committed);
        }
        goto out;
    }
    /* choose, for every cell, the row to keep */
    size_t cells = hs_grid_nruns(g);
    win = calloc(cells ? cells : 1, sizeof *win);
    if (!win) {
        hs_err(err, "out of memory");
        goto out;
    }
    for (size_t c = 0; c < cells; c++)
        win[c].shard = -1;
    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < hs_sd_nrows(d[i]); r++) {
            long c = hs_grid_find(g, hs_sd_run_id(d[i], r));
            if (c < 0) {
                if (hs_sd_status(d[i], r) != HS_PENDING)
                    sum->dropped++;
                continue;
            }
            int st = hs_sd_status(d[i], r);
            struct winner *w = &win[c];
            if (w->shard < 0) {
                w->shard = (int)i;
                w->row = r;
                continue;
            }
            int wst = hs_sd_status(d[w->shard], w->row);
            if (st == HS_PENDING)
                continue;
            if (wst != HS_PENDING)
                sum->duplicates++;
            int better = status_rank(st) > status_rank(wst) ||
                         (status_rank(st) == status_rank(wst) &&
                          hs_sd_finished(d[i], r) > hs_sd_finished(d[w->shard], w->row));
            if (wst != HS_PENDING && rep)
                fprintf(rep, "run %s is in %s (%s) and %s (%s): kept %s's%s\n",
                        hs_sd_run_id(d[i], r), shards[w->shard], hs_status_name(wst), shards[i],
                        hs_status_name(st), better ? shards[i] : shards[w->shard],
                        status_rank(st) == status_rank(wst) ? ", the later" : "");
            if (better) {
                w->shard = (int)i;
                w->row = r;
            }
        }
    }
    if (access(out, F_OK) == 0)
        unlink(out);
    hs_store_opts so = { .swmr = false };
    s = hs_store_open(out, g, &so, NULL, err);
    if (!s)
        goto out;
    hs_result res;
    hs_result_init(&res);
    sum->cells = cells;
    size_t listed = 0;
    for (size_t c = 0; c < cells; c++) {
        struct winner *w = &win[c];
        int st = w->shard >= 0 ? hs_sd_status(d[w->shard], w->row) : HS_PENDING;
        if (!hs_status_done(st)) {
            sum->missing++;
            if (rep && listed < 20) {
                hs_buf desc = { 0 };
                hs_run_describe(g, hs_grid_run(g, c), &desc);
                hs_shorten(&desc, HS_SHORT_CELL_COLS, NULL);
                fprintf(rep, "not committed by any shard: run %s (index %zu; %s)%s\n",
                        hs_grid_run(g, c)->id, c, hs_buf_str(&desc),
                        st == HS_PENDING ? "" : " -- last seen interrupted or running");
                hs_buf_free(&desc);
                listed++;
            }
            if (st == HS_PENDING)
                continue;
        } else {
            sum->committed++;
            sum->ok += st == HS_OK;
        }
        row_to_result(d[w->shard], w->row, &res);
        long row = hs_store_find(s, hs_grid_run(g, c)->id);
        if (row < 0 || hs_store_put(s, (size_t)row, &res, st, err) < 0 ||
            hs_store_tick(s, err) < 0) {
            hs_result_clear(&res);
            if (row < 0)
                hs_err(err, "the merged store lost run %s", hs_grid_run(g, c)->id);
            goto out;
        }
    }
    hs_result_clear(&res);
    if (rep && sum->missing > listed)
        fprintf(rep, "... and %zu more cells not committed\n", sum->missing - listed);
    rc = 0;
out:
    if (s && hs_store_close(s, rc == 0 ? err : NULL) < 0)
        rc = -1;
    for (size_t i = 0; i < n; i++)
        hs_store_data_destroy(d[i]);
    free(d);
    free(win);
    hs_grid_destroy(g);
    return rc;
}
