/* Loading a sweep: one store, several shard stores, or directories of them, merged by run id
 * into one view. With a single store nothing is copied: the view points into it. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "result.h"
#include "strmap.h"
#include "util.h"

/* ---- finding the files ------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push(char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        char **t = realloc(*v, c * sizeof *t);
        if (!t)
            return -1;
        *v = t;
        *cap = c;
    }
    if (!((*v)[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

/* The *.h5 files directly inside dir, sorted; appended to v. Returns how many, or -1. */
static long list_h5(const char *dir, char ***v, size_t *n, size_t *cap, hs_error *err)
{
    DIR *dp = opendir(dir);
    if (!dp) {
        if (errno == ENOENT)
            return 0;
        return hs_err_errno(err, "cannot read directory %s", dir);
    }
    size_t start = *n;
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 3, ".h5") != 0 || e->d_name[0] == '.')
            continue;
        char *p = hs_path_join(dir, e->d_name);
        struct stat st;
        int rc = p && stat(p, &st) == 0 && S_ISREG(st.st_mode) ? push(v, n, cap, p) : 0;
        free(p);
        if (rc < 0) {
            closedir(dp);
            return hs_err(err, "out of memory");
        }
    }
    closedir(dp);
    if (*n > start)
        qsort(*v + start, *n - start, sizeof **v, cmp_str);
    return (long)(*n - start);
}

static int collect(const char *const *paths, size_t npaths, char ***out, size_t *nout,
                   hs_error *err)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) < 0) {
            hs_err_errno(err, "cannot open store %s", paths[i]);
            goto fail;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (push(&v, &n, &cap, paths[i]) < 0) {
                hs_err(err, "out of memory");
                goto fail;
            }
            continue;
        }
        long k = list_h5(paths[i], &v, &n, &cap, err);
        if (k < 0)
            goto fail;
        char *sh = hs_path_join(paths[i], "shards");
        long k2 = sh ? list_h5(sh, &v, &n, &cap, err) : -1;
        free(sh);
        if (k2 < 0)
            goto fail;
        if (k + k2 == 0) {
            hs_err(err, "%s holds no store (no *.h5 file in it or in its shards/)", paths[i]);
            goto fail;
        }
    }
    /* the same file named twice is read once */
    for (size_t i = 0; i < n; i++) {
        char *a = realpath(v[i], NULL);
        for (size_t j = i + 1; a && j < n; j++) {
            char *b = realpath(v[j], NULL);
            if (b && strcmp(a, b) == 0) {
                free(v[j]);
                memmove(v + j, v + j + 1, (n - j - 1) * sizeof *v);
                n--;
                j--;
            }
            free(b);
        }
        free(a);
    }
    *out = v;
    *nout = n;
    return 0;
fail:
    hs_strv_free(v, n);
    return -1;
}

/* ---- merging ------------------------------------------------------------------------------ */

/* How final a copy of a run is: ok, suspect, a failure, not finished, pending. */
static int status_rank(int st)
{
    switch (st) {
    case HS_OK:
        return 4;
    case HS_SUSPECT:
        return 3;
    case HS_FAILED:
    case HS_TIMEOUT:
    case HS_CRASHED:
    case HS_INVALID_RESULT:
        return 2;
    case HS_RUNNING:
    case HS_INTERRUPTED:
        return 1;
    default:
        return 0;
    }
}

/* True if copy b (store sb, row rb) should replace copy a. */
static bool better(const hs_store_data *sa, size_t ra, const hs_store_data *sb, size_t rb)
{
    int ka = status_rank(hs_sd_status(sa, ra)), kb = status_rank(hs_sd_status(sb, rb));
    if (ka != kb)
        return kb > ka;
    double fa = hs_sd_finished(sa, ra), fb = hs_sd_finished(sb, rb);
    if (isnan(fb))
        return false;
    return isnan(fa) || fb > fa;
}

static int merge_rows(hs_sweep *s, hs_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < s->nstores; i++)
        total += hs_sd_nrows(s->stores[i]);
    if (s->nstores == 1) {
        s->nrows = total;
        return 0;
    }
    s->src = malloc((total ? total : 1) * sizeof *s->src);
    s->srow = malloc((total ? total : 1) * sizeof *s->srow);
    hs_strmap *map = hs_strmap_create(total);
    if (!s->src || !s->srow || !map) {
        hs_strmap_destroy(map);
        return hs_err(err, "out of memory");
    }
    size_t dups = 0, replaced = 0;
    for (size_t i = 0; i < s->nstores; i++) {
        const hs_store_data *d = s->stores[i];
        for (size_t r = 0; r < hs_sd_nrows(d); r++) {
            size_t at;
            if (hs_strmap_get(map, hs_sd_run_id(d, r), &at)) {
                dups++;
                if (better(s->stores[s->src[at]], s->srow[at], d, r)) {
                    s->src[at] = (uint32_t)i;
                    s->srow[at] = r;
                    replaced++;
                }
                continue;
            }
            if (hs_strmap_put(map, hs_sd_run_id(d, r), s->nrows) < 0) {
                hs_strmap_destroy(map);
                return hs_err(err, "out of memory");
            }
            s->src[s->nrows] = (uint32_t)i;
            s->srow[s->nrows] = r;
            s->nrows++;
        }
    }
    hs_strmap_destroy(map);
    if (dups)
        hs_buf_printf(&s->warnings,
                      "%zu run%s appeared in more than one store; for each the best copy was "
                      "kept (ok, then suspect, then a failure, then unfinished; among equals the "
                      "later finish)%s\n",
                      dups, dups == 1 ? "" : "s",
                      replaced ? "" : ", which was always the first store's");
    return 0;
}

static int merge_params(hs_sweep *s, hs_error *err)
{
    hs_strmap *seen = hs_strmap_create(16);
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (!seen)
        return hs_err(err, "out of memory");
    /* the grid's declaration order first */
    size_t ng = s->grid ? hs_grid_nparams(s->grid) : 0;
    for (size_t k = 0; k < ng; k++) {
        const char *nm = hs_grid_param(s->grid, k)->name;
        size_t dummy;
        if (hs_strmap_get(seen, nm, &dummy))
            continue;
        bool stored = false;
        for (size_t i = 0; i < s->nstores && !stored; i++)
            stored = hs_sd_param_find(s->stores[i], nm) >= 0;
        if (!stored)
            continue;
        if (push(&names, &n, &cap, nm) < 0 || hs_strmap_put(seen, nm, n - 1) < 0)
            goto nomem;
    }
    size_t first_extra = n;
    for (size_t i = 0; i < s->nstores; i++)
        for (size_t k = 0; k < hs_sd_nparams(s->stores[i]); k++) {
            const char *nm = hs_sd_param_name(s->stores[i], k);
            size_t dummy;
            if (hs_strmap_get(seen, nm, &dummy))
                continue;
            if (push(&names, &n, &cap, nm) < 0 || hs_strmap_put(seen, nm, n - 1) < 0)
                goto nomem;
        }
    qsort(names + first_extra, n - first_extra, sizeof *names, cmp_str);
    hs_strmap_destroy(seen);
    s->pnames = names;
    s->nparams = n;
    s->pmap = malloc((n ? n * s->nstores : 1) * sizeof *s->pmap);
    if (!s->pmap)
        return hs_err(err, "out of memory");
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < s->nstores; i++)
            s->pmap[k * s->nstores + i] = hs_sd_param_find(s->stores[i], names[k]);
    return 0;
nomem:
    hs_strmap_destroy(seen);
    hs_strv_free(names, n);
    return hs_err(err, "out of memory");
}

static int merge_metrics(hs_sweep *s, hs_error *err)
{
    hs_strmap *map = hs_strmap_create(64);
    size_t cap = 0;
    if (!map)
        return hs_err(err, "out of memory");
    long **gidx = calloc(s->nstores, sizeof *gidx);
    if (!gidx)
        goto nomem;
    for (size_t i = 0; i < s->nstores; i++) {
        const hs_store_data *d = s->stores[i];
        size_t nm = hs_sd_nmetrics(d);
        gidx[i] = malloc((nm ? nm : 1) * sizeof **gidx);
        if (!gidx[i])
            goto nomem;
        for (size_t m = 0; m < nm; m++) {
            const char *nmn = hs_sd_metric_name(d, m);
            size_t at;
            if (!hs_strmap_get(map, nmn, &at)) {
                at = s->nmetrics;
                if (push(&s->mnames, &s->nmetrics, &cap, nmn) < 0 ||
                    hs_strmap_put(map, nmn, at) < 0)
                    goto nomem;
            }
            gidx[i][m] = (long)at;
        }
    }
    s->mcols = calloc(s->nmetrics ? s->nmetrics : 1, sizeof *s->mcols);
    if (!s->mcols)
        goto nomem;
    if (s->nstores == 1) {
        for (size_t m = 0; m < s->nmetrics; m++)
            s->mcols[m] = hs_sd_metric_column(s->stores[0], m);
    } else {
        size_t cells = s->nmetrics * s->nrows;
        s->mowned = malloc((cells ? cells : 1) * sizeof *s->mowned);
        if (!s->mowned)
            goto nomem;
        for (size_t c = 0; c < cells; c++)
            s->mowned[c] = NAN;
        for (size_t r = 0; r < s->nrows; r++) {
            const hs_store_data *d = s->stores[s->src[r]];
            for (size_t m = 0; m < hs_sd_nmetrics(d); m++)
                s->mowned[(size_t)gidx[s->src[r]][m] * s->nrows + r] =
                    hs_sd_metric_column(d, m)[s->srow[r]];
        }
        for (size_t m = 0; m < s->nmetrics; m++)
            s->mcols[m] = s->mowned + m * s->nrows;
    }
    for (size_t i = 0; i < s->nstores; i++)
        free(gidx[i]);
    free(gidx);
    hs_strmap_destroy(map);
    return 0;
nomem:
    for (size_t i = 0; gidx && i < s->nstores; i++)
        free(gidx[i]);
    free(gidx);
    hs_strmap_destroy(map);
    return hs_err(err, "out of memory");
}

hs_sweep *hs_sweep_open(const char *const *paths, size_t npaths, hs_error *err)
{
    char **files = NULL;
    size_t nfiles = 0;
    if (npaths == 0) {
        hs_err(err, "no store given");
        return NULL;
    }
    if (collect(paths, npaths, &files, &nfiles, err) < 0)
        return NULL;
    hs_sweep *s = calloc(1, sizeof *s);
    if (!s) {
        hs_err(err, "out of memory");
        goto fail;
    }
    s->stores = calloc(nfiles, sizeof *s->stores);
    if (!s->stores) {
        hs_err(err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nfiles; i++) {
        s->stores[i] = hs_store_read_ex(files[i], HS_STORE_READ_LIGHT, err);
        if (!s->stores[i])
            goto fail;
        s->nstores++;
        const char *sweep = hs_sd_attr(s->stores[i], "sweep");
        if (i == 0) {
            s->name = strdup(sweep);
            if (!s->name) {
                hs_err(err, "out of memory");
                goto fail;
            }
        } else if (strcmp(sweep, s->name) != 0) {
            hs_err(err,
                   "%s belongs to sweep '%s' but %s to sweep '%s': give the stores of one "
                   "sweep at a time",
                   files[i], sweep, files[0], s->name);
            goto fail;
        }
    }
    /* the grid: the first store's text; a note when the stores disagree */
    const char *text = hs_sd_attr(s->stores[0], "grid_text");
    for (size_t i = 1; i < s->nstores; i++)
        if (strcmp(hs_sd_attr(s->stores[i], "grid_text"), text) != 0) {
            hs_buf_printf(&s->warnings,
                          "the stores hold different grid texts (the grid changed between "
                          "them); the analysis defaults and axis order come from %s\n",
                          files[0]);
            break;
        }
    if (text[0]) {
        s->grid_text = strdup(text);
        const char *gp = hs_sd_attr(s->stores[0], "grid_path");
        hs_error gerr;
        s->grid =
            s->grid_text ? hs_grid_load_text(s->grid_text, gp[0] ? gp : "grid", NULL, &gerr) : NULL;
        if (!s->grid)
            hs_buf_printf(&s->warnings,
                          "the grid stored in %s could not be parsed (%s): no analysis "
                          "defaults from it\n",
                          files[0], gerr.text);
    }
    if (merge_rows(s, err) < 0 || merge_params(s, err) < 0 || merge_metrics(s, err) < 0)
        goto fail;
    hs_strv_free(files, nfiles);
    return s;
fail:
    hs_strv_free(files, nfiles);
    hs_sweep_destroy(s);
    return NULL;
}

void hs_sweep_destroy(hs_sweep *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nstores; i++)
        hs_store_data_destroy(s->stores[i]);
    free(s->stores);
    hs_grid_destroy(s->grid);
    free(s->grid_text);
    free(s->name);
    hs_buf_free(&s->warnings);
    free(s->src);
    free(s->srow);
    hs_strv_free(s->pnames, s->nparams);
    free(s->pmap);
    hs_strv_free(s->mnames, s->nmetrics);
    free(s->mcols);
    free(s->mowned);
    free(s);
}

const char *hs_sweep_name(const hs_sweep *s)
{
    return s->name;
}

size_t hs_sweep_nstores(const hs_sweep *s)
{
    return s->nstores;
}

const char *hs_sweep_store_path(const hs_sweep *s, size_t i)
{
    return hs_sd_path(s->stores[i]);
}

size_t hs_sweep_nruns(const hs_sweep *s)
{
    return s->nrows;
}

const char *hs_sweep_warnings(const hs_sweep *s)
{
    return hs_buf_str(&s->warnings);
}

/* ---- row access ----------------------------------------------------------------------------- */

size_t sw_store_row(const hs_sweep *s, size_t row, const hs_store_data **d)
{
    if (!s->src) {
        *d = s->stores[0];
        return row;
    }
    *d = s->stores[s->src[row]];
    return s->srow[row];
}

const char *sw_run_id(const hs_sweep *s, size_t row)
{
    const hs_store_data *d;
    size_t r = sw_store_row(s, row, &d);
    return hs_sd_run_id(d, r);
}

int64_t sw_index(const hs_sweep *s, size_t row)
{
    const hs_store_data *d;
    size_t r = sw_store_row(s, row, &d);
    return hs_sd_index(d, r);
}

int sw_status(const hs_sweep *s, size_t row)
{
    const hs_store_data *d;
    size_t r = sw_store_row(s, row, &d);
    return hs_sd_status(d, r);
}

long sw_param_find(const hs_sweep *s, const char *name)
{
    for (size_t k = 0; k < s->nparams; k++)
        if (strcmp(s->pnames[k], name) == 0)
            return (long)k;
    return -1;
}

bool sw_param(const hs_sweep *s, size_t k, size_t row, hs_value *v)
{
    size_t st = s->src ? s->src[row] : 0;
    long kk = s->pmap[k * s->nstores + st];
    if (kk < 0)
        return false;
    const hs_store_data *d;
    size_t r = sw_store_row(s, row, &d);
    return hs_sd_param(d, (size_t)kk, r, v);
}

long sw_metric_find(const hs_sweep *s, const char *name)
{
    for (size_t m = 0; m < s->nmetrics; m++)
        if (strcmp(s->mnames[m], name) == 0)
            return (long)m;
    return -1;
}

void hs_param_text(const hs_sweep *s, long k, size_t row, hs_buf *b)
{
    hs_value v;
    if (k >= 0 && sw_param(s, (size_t)k, row, &v))
        hs_value_put_text(b, &v);
}

typedef struct irow {
    int64_t index;
    size_t row;
} irow;

static int cmp_irow(const void *a, const void *b)
{
    const irow *p = a, *q = b;
    if (p->index != q->index)
        return (p->index > q->index) - (p->index < q->index);
    return (p->row > q->row) - (p->row < q->row);
}

size_t *hs_rows_in_grid(const hs_sweep *s, size_t *n, size_t *left_out)
{
    size_t cnt = 0, out = 0;
    int64_t maxi = -1;
    for (size_t r = 0; r < s->nrows; r++) {
        int64_t i = sw_index(s, r);
        if (i < 0) {
            out++;
            continue;
        }
        cnt++;
        if (i > maxi)
            maxi = i;
    }
    *left_out = out;
    *n = cnt;
    size_t *rows = malloc((cnt ? cnt : 1) * sizeof *rows);
    if (!rows)
        return NULL;
    /* grid indexes are unique and dense in the usual case: place each row at its index */
    bool placed = false;
    if (maxi >= 0 && (uint64_t)maxi < 4 * (uint64_t)cnt + 16) {
        size_t span = (size_t)maxi + 1;
        size_t *at = malloc(span * sizeof *at);
        if (at) {
            for (size_t i = 0; i < span; i++)
                at[i] = SIZE_MAX;
            bool clash = false;
            for (size_t r = 0; r < s->nrows && !clash; r++) {
                int64_t i = sw_index(s, r);
                if (i < 0)
                    continue;
                if (at[i] != SIZE_MAX)
                    clash = true;
                at[i] = r;
            }
            if (!clash) {
                size_t k = 0;
                for (size_t i = 0; i < span; i++)
                    if (at[i] != SIZE_MAX)
                        rows[k++] = at[i];
                placed = true;
            }
            free(at);
        }
    }
    if (!placed) {
        irow *tmp = malloc((cnt ? cnt : 1) * sizeof *tmp);
        if (!tmp) {
            free(rows);
            return NULL;
        }
        size_t k = 0;
        for (size_t r = 0; r < s->nrows; r++)
            if (sw_index(s, r) >= 0)
                tmp[k++] = (irow){ sw_index(s, r), r };
        qsort(tmp, cnt, sizeof *tmp, cmp_irow);
        for (size_t i = 0; i < cnt; i++)
            rows[i] = tmp[i].row;
        free(tmp);
    }
    return rows;
}

/* ---- levels ------------------------------------------------------------------------------- */

typedef struct lvset {
    hs_value *vals;
    size_t n, cap;
    size_t *first, *count;
    /* numeric values: open addressing on (type, bits) */
    int32_t *slots;
    size_t nslots;
    hs_strmap *strs;
} lvset;

static uint64_t num_bits(const hs_value *v)
{
    uint64_t b = 0;
    if (v->type == HS_FLOAT) {
        double f = v->u.f == 0 ? 0.0 : v->u.f;
        memcpy(&b, &f, sizeof b);
    } else if (v->type == HS_INT) {
        b = (uint64_t)v->u.i;
    } else {
        b = v->u.b;
    }
    return b;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

static bool same_value(const hs_value *a, const hs_value *b)
{
    if (a->type != b->type)
        return false;
    return a->type == HS_STR ? strcmp(a->u.s, b->u.s) == 0 : num_bits(a) == num_bits(b);
}

static int lv_grow_slots(lvset *l)
{
    size_t ns = l->nslots ? l->nslots * 2 : 64;
    int32_t *t = malloc(ns * sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < ns; i++)
        t[i] = -1;
    for (size_t i = 0; i < l->n; i++) {
        if (l->vals[i].type == HS_STR)
            continue;
        size_t h = (size_t)(mix(num_bits(&l->vals[i]) ^ (uint64_t)l->vals[i].type) & (ns - 1));
        while (t[h] >= 0)
            h = (h + 1) & (ns - 1);
        t[h] = (int32_t)i;
    }
    free(l->slots);
    l->slots = t;
    l->nslots = ns;
    return 0;
}

/* Level of v, added if new; -1 when out of memory. */
static long lv_get(lvset *l, const hs_value *v, size_t row)
{
    long found = -1;
    size_t h = 0;
    if (v->type == HS_STR) {
        size_t at;
        if (hs_strmap_get(l->strs, v->u.s, &at))
            found = (long)at;
    } else {
        if (l->nslots == 0 || (l->n + 1) * 2 > l->nslots)
            if (lv_grow_slots(l) < 0)
                return -1;
        h = (size_t)(mix(num_bits(v) ^ (uint64_t)v->type) & (l->nslots - 1));
        while (l->slots[h] >= 0) {
            if (same_value(&l->vals[l->slots[h]], v)) {
                found = l->slots[h];
                break;
            }
            h = (h + 1) & (l->nslots - 1);
        }
    }
    if (found >= 0) {
        l->count[found]++;
        return found;
    }
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 16;
        hs_value *nv = realloc(l->vals, c * sizeof *nv);
        if (!nv)
            return -1;
        l->vals = nv;
        size_t *f = realloc(l->first, c * sizeof *f);
        if (!f)
            return -1;
        l->first = f;
        size_t *cn = realloc(l->count, c * sizeof *cn);
        if (!cn)
            return -1;
        l->count = cn;
        l->cap = c;
    }
    size_t id = l->n++;
    l->vals[id] = *v;
    l->first[id] = row;
    l->count[id] = 1;
    if (v->type == HS_STR) {
        if (hs_strmap_put(l->strs, v->u.s, id) < 0)
            return -1;
    } else {
        l->slots[h] = (int32_t)id;
    }
    return (long)id;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static const lvset *sort_ctx;
static int cmp_level(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const hs_value *x = &sort_ctx->vals[i], *y = &sort_ctx->vals[j];
    bool nx = x->type == HS_INT || x->type == HS_FLOAT,
         ny = y->type == HS_INT || y->type == HS_FLOAT;
    if (nx && ny) {
        double dx = x->type == HS_INT ? (double)x->u.i : x->u.f;
        double dy = y->type == HS_INT ? (double)y->u.i : y->u.f;
        if (dx != dy)
            return (dx > dy) - (dx < dy);
    } else if (x->type == HS_BOOL && y->type == HS_BOOL) {
        return (int)x->u.b - (int)y->u.b;
    }
    /* otherwise: first appearance in grid order (ids are given in that order) */
    return (i > j) - (i < j);
}

void hs_levels_free(hs_levels *l)
{
    if (!l)
        return;
    free(l->axes);
    free(l->lev);
    free(l->first);
    free(l->count);
    hs_strv_free(l->labels, l->nlev);
    memset(l, 0, sizeof *l);
}

/* One axis. */
static int levels_one(const hs_sweep *s, long k, const size_t *rows, size_t nrows, hs_levels *out)
{
    lvset l = { 0 };
    int rc = -1;
    size_t *order = NULL, *rank = NULL;
    l.strs = hs_strmap_create(16);
    if (!l.strs)
        goto done;
    for (size_t i = 0; i < s->nrows; i++)
        out->lev[i] = -1;
    for (size_t i = 0; i < nrows; i++) {
        hs_value v;
        if (!sw_param(s, (size_t)k, rows[i], &v))
            continue;
        long id = lv_get(&l, &v, rows[i]);
        if (id < 0)
            goto done;
        out->lev[rows[i]] = (int32_t)id;
    }
    order = malloc((l.n ? l.n : 1) * sizeof *order);
    rank = malloc((l.n ? l.n : 1) * sizeof *rank);
    out->first = malloc((l.n ? l.n : 1) * sizeof *out->first);
    out->count = malloc((l.n ? l.n : 1) * sizeof *out->count);
    out->labels = calloc(l.n ? l.n : 1, sizeof *out->labels);
    if (!order || !rank || !out->first || !out->count || !out->labels)
        goto done;
    for (size_t i = 0; i < l.n; i++)
        order[i] = i;
    sort_ctx = &l;
    qsort(order, l.n, sizeof *order, cmp_level);
    out->nlev = l.n;
    for (size_t i = 0; i < l.n; i++) {
        rank[order[i]] = i;
        out->first[i] = l.first[order[i]];
        out->count[i] = l.count[order[i]];
        hs_buf b = { 0 };
        hs_value_put_text(&b, &l.vals[order[i]]);
        out->labels[i] = hs_buf_steal(&b);
        if (!out->labels[i] && !(out->labels[i] = strdup("")))
            goto done;
    }
    for (size_t i = 0; i < nrows; i++)
        if (out->lev[rows[i]] >= 0)
            out->lev[rows[i]] = (int32_t)rank[out->lev[rows[i]]];
    rc = 0;
done:
    free(order);
    free(rank);
    free(l.vals);
    free(l.first);
    free(l.count);
    free(l.slots);
    hs_strmap_destroy(l.strs);
    return rc;
}

int hs_levels_build(const hs_sweep *s, const long *axes, size_t naxes, const size_t *rows,
                    size_t nrows, hs_levels *out, hs_error *err)
{
    memset(out, 0, sizeof *out);
    out->naxes = naxes;
    out->axes = malloc((naxes ? naxes : 1) * sizeof *out->axes);
    out->lev = malloc((s->nrows ? s->nrows : 1) * sizeof *out->lev);
    if (!out->axes || !out->lev)
        goto nomem;
    if (naxes)
        memcpy(out->axes, axes, naxes * sizeof *axes);
    if (naxes == 0) {
        /* one level: every row */
        for (size_t i = 0; i < s->nrows; i++)
            out->lev[i] = -1;
        for (size_t i = 0; i < nrows; i++)
            out->lev[rows[i]] = 0;
        out->nlev = 1;
        out->first = malloc(sizeof *out->first);
        out->count = malloc(sizeof *out->count);
        out->labels = calloc(1, sizeof *out->labels);
        if (!out->first || !out->count || !out->labels || !(out->labels[0] = strdup("all runs")))
            goto nomem;
        out->first[0] = nrows ? rows[0] : 0;
        out->count[0] = nrows;
        return 0;
    }
    if (naxes == 1) {
        if (levels_one(s, axes[0], rows, nrows, out) < 0)
            goto nomem;
        return 0;
    }
    /* several axes: each alone, then their combinations in lexicographic level order */
    hs_levels *parts = calloc(naxes, sizeof *parts);
    uint64_t *code = malloc((s->nrows ? s->nrows : 1) * sizeof *code);
    uint64_t *uniq = malloc((nrows ? nrows : 1) * sizeof *uniq);
    int rc = parts && code && uniq ? 0 : -1;
    for (size_t a = 0; a < naxes && rc == 0; a++) {
        parts[a].lev = malloc((s->nrows ? s->nrows : 1) * sizeof *parts[a].lev);
        rc = parts[a].lev ? levels_one(s, axes[a], rows, nrows, &parts[a]) : -1;
    }
    size_t nu = 0;
    for (size_t i = 0; rc == 0 && i < nrows; i++) {
        uint64_t c = 0;
        for (size_t a = 0; a < naxes && c != UINT64_MAX; a++) {
            int32_t lv = parts[a].lev[rows[i]];
            c = lv < 0 ? UINT64_MAX : c * (uint64_t)(parts[a].nlev + 1) + (uint64_t)lv;
        }
        code[rows[i]] = c;
        if (c != UINT64_MAX)
            uniq[nu++] = c;
    }
    /* distinct codes, ascending: that is the lexicographic order of the axes' levels */
    if (rc == 0) {
        qsort(uniq, nu, sizeof *uniq, cmp_u64);
        size_t k = 0;
        for (size_t i = 0; i < nu; i++)
            if (k == 0 || uniq[k - 1] != uniq[i])
                uniq[k++] = uniq[i];
        nu = k;
        out->nlev = nu;
        out->first = malloc((nu ? nu : 1) * sizeof *out->first);
        out->count = calloc(nu ? nu : 1, sizeof *out->count);
        out->labels = calloc(nu ? nu : 1, sizeof *out->labels);
        rc = out->first && out->count && out->labels ? 0 : -1;
    }
    for (size_t i = 0; i < s->nrows && rc == 0; i++)
        out->lev[i] = -1;
    for (size_t i = 0; rc == 0 && i < nrows; i++) {
        uint64_t c = code[rows[i]];
        if (c == UINT64_MAX)
            continue;
        /* binary search of the code among the distinct ones */
        size_t lo = 0, hi = nu;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (uniq[mid] < c)
                lo = mid + 1;
            else
                hi = mid;
        }
        int32_t lv = (int32_t)lo;
        out->lev[rows[i]] = lv;
        if (out->count[lv]++ == 0) {
            out->first[lv] = rows[i];
            hs_buf b = { 0 };
            for (size_t a = 0; a < naxes; a++)
                hs_buf_printf(&b, "%s%s=%s", a ? ", " : "", s->pnames[axes[a]],
                              parts[a].labels[parts[a].lev[rows[i]]]);
            out->labels[lv] = hs_buf_steal(&b);
            if (!out->labels[lv])
                rc = -1;
        }
    }
    for (size_t a = 0; parts && a < naxes; a++)
        hs_levels_free(&parts[a]);
    free(parts);
    free(code);
    free(uniq);
    if (rc < 0)
        goto nomem;
    return 0;
nomem:
    hs_levels_free(out);
    return hs_err(err, "out of memory while grouping runs");
}
