#include "preflight.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bind.h"
#include "gpu.h"
#include "table.h"

enum {
    ROW_VERSION = 1,
    ROW_BYTES = 1024, /* a packed row; fixed size so one MPI_Gather collects them */
    DEFAULT_GEMM_N = 4096,
};
#define DEFAULT_ALLREDUCE_BYTES ((size_t)64 << 20)

/* ---- packing: big-endian integers, IEEE doubles by bit pattern, fixed-width strings ---- */

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static const unsigned char *get_u32(const unsigned char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++)
        *v = (*v << 8) | *p++;
    return p;
}

static unsigned char *put_f64(unsigned char *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    p = put_u32(p, (uint32_t)(u >> 32));
    return put_u32(p, (uint32_t)u);
}

static const unsigned char *get_f64(const unsigned char *p, double *d)
{
    uint32_t hi, lo;
    p = get_u32(p, &hi);
    p = get_u32(p, &lo);
    uint64_t u = ((uint64_t)hi << 32) | lo;
    memcpy(d, &u, sizeof *d);
    return p;
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t field)
{
    size_t len = strnlen(s, field - 1);
    memcpy(p, s, len);
    memset(p + len, 0, field - len);
    return p + field;
}

static const unsigned char *get_str(const unsigned char *p, char *s, size_t field)
{
    memcpy(s, p, field);
    s[field - 1] = '\0';
    return p + field;
}

enum {
    ROW_HAS_GPU = 1,
    ROW_OK = 2,
    ROW_GEMM_RAN = 4,
    ROW_GEMM_OK = 8,
    ROW_AR_RAN = 16,
    ROW_AR_OK = 32
};

static void pack_row(const hs_preflight_row *r, unsigned char buf[ROW_BYTES])
{
    uint32_t flags = (r->has_gpu ? ROW_HAS_GPU : 0) | (r->ok ? ROW_OK : 0) |
                     (r->gemm_ran ? ROW_GEMM_RAN : 0) | (r->gemm_ok ? ROW_GEMM_OK : 0) |
                     (r->allreduce_ran ? ROW_AR_RAN : 0) | (r->allreduce_ok ? ROW_AR_OK : 0);
    unsigned char *p = buf;
    memset(buf, 0, ROW_BYTES);
    p = put_u32(p, ROW_VERSION);
    p = put_u32(p, (uint32_t)r->rank);
    p = put_u32(p, flags);
    p = put_u32(p, (uint32_t)r->allreduce_gpus);
    p = put_f64(p, r->gemm_tflops);
    p = put_f64(p, r->gemm_err);
    p = put_f64(p, r->busbw_gbs);
    p = put_str(p, r->host, sizeof r->host);
    p = put_str(p, r->gpu, sizeof r->gpu);
    p = put_str(p, r->uuid, sizeof r->uuid);
    p = put_str(p, r->visible, sizeof r->visible);
    put_str(p, r->message, sizeof r->message);
}

static int unpack_row(const unsigned char buf[ROW_BYTES], hs_preflight_row *r)
{
    uint32_t version, rank, flags, gpus;
    const unsigned char *p = get_u32(buf, &version);
    if (version != ROW_VERSION)
        return -1;
    memset(r, 0, sizeof *r);
    p = get_u32(p, &rank);
    p = get_u32(p, &flags);
    p = get_u32(p, &gpus);
    p = get_f64(p, &r->gemm_tflops);
    p = get_f64(p, &r->gemm_err);
    p = get_f64(p, &r->busbw_gbs);
    p = get_str(p, r->host, sizeof r->host);
    p = get_str(p, r->gpu, sizeof r->gpu);
    p = get_str(p, r->uuid, sizeof r->uuid);
    p = get_str(p, r->visible, sizeof r->visible);
    get_str(p, r->message, sizeof r->message);
    r->rank = (int)rank;
    r->allreduce_gpus = (int)gpus;
    r->has_gpu = flags & ROW_HAS_GPU;
    r->ok = flags & ROW_OK;
    r->gemm_ran = flags & ROW_GEMM_RAN;
    r->gemm_ok = flags & ROW_GEMM_OK;
    r->allreduce_ran = flags & ROW_AR_RAN;
    r->allreduce_ok = flags & ROW_AR_OK;
    return 0;
}

/* ---- the test a worker runs ---------------------------------------------------------- */

static void note(hs_preflight_row *r, const char *fmt, const char *text)
{
    size_t len = strlen(r->message);
    snprintf(r->message + len, sizeof r->message - len, "%s", len ? "; " : "");
    len = strlen(r->message);
    snprintf(r->message + len, sizeof r->message - len, fmt, text);
}

static int mpi_fail(hs_error *err, int code, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, text, &len);
    return hs_err(err, "preflight: %s failed: %s", what, text);
}

/* Among the testers: each binds a GPU and checks it with a GEMM; then the GPUs that ran it
 * (one per physical GPU when workers share) join one all-reduce. */
static int test_gpu(MPI_Comm testers, const hs_preflight_opts *o, hs_preflight_row *row,
                    hs_error *err)
{
    MPI_Comm node = MPI_COMM_NULL, ar = MPI_COMM_NULL;
    int rc = -1, local_rank = 0, local_size = 1, code;
    hs_binding b;
    hs_error e;
    code = MPI_Comm_split_type(testers, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    if (code != MPI_SUCCESS) {
        mpi_fail(err, code, "splitting the workers by node");
        goto cleanup;
    }
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_size(node, &local_size);
    if (hs_gpu_bind(local_rank, local_size, o->gpus_per_node, o->share_gpus, &b, &e) < 0) {
        row->ok = false;
        note(row, "GPU binding: %s", e.text);
        memset(&b, 0, sizeof b);
        b.slot = -1;
    } else if (b.has_gpu) {
        row->has_gpu = true;
        snprintf(row->gpu, sizeof row->gpu, "%s", b.name);
        snprintf(row->uuid, sizeof row->uuid, "%s", b.uuid);
        snprintf(row->visible, sizeof row->visible, "%s", b.visible);
        if (b.shared)
            note(row, "%s", "shares its GPU with another worker of this node");
    }
    /* Slot k is ordinal k in this process (see hs_gpu_bind). */
    int ordinal = b.slot;
    if (row->has_gpu) {
        hs_gpu_gemm_check gc;
        int n = o->gemm_n > 0 ? o->gemm_n : DEFAULT_GEMM_N;
        if (hs_gpu_gemm_check_run(ordinal, n, &gc, &e) < 0) {
            row->ok = false;
            note(row, "GEMM: %s", e.text);
        } else {
            row->gemm_ran = true;
            row->gemm_ok = gc.ok;
            row->gemm_tflops = gc.tflops;
            row->gemm_err = gc.max_rel_err;
            if (!gc.ok) {
                row->ok = false;
                note(row, "GEMM %s", gc.message);
            }
        }
    }
    bool join = row->gemm_ran && (!b.shared || local_rank < b.ngpus);
    code = MPI_Comm_split(testers, join ? 0 : MPI_UNDEFINED, 0, &ar);
    if (code != MPI_SUCCESS) {
        mpi_fail(err, code, "forming the all-reduce group");
        goto cleanup;
    }
    if (join) {
        int n, r;
        MPI_Comm_size(ar, &n);
        MPI_Comm_rank(ar, &r);
        if (n < 2) {
            note(row, "%s", "all-reduce needs 2 GPUs: not run");
        } else if (!hs_gpu_built_with_nccl()) {
            note(row, "%s", "all-reduce not run: this hypersweep was built without NCCL");
        } else {
            /* byte 0: did rank 0 get an id; then the id */
            unsigned char id[1 + HS_GPU_NCCL_ID_BYTES] = { 0 };
            if (r == 0)
                id[0] = hs_gpu_nccl_unique_id(id + 1, &e) == 0;
            code = MPI_Bcast(id, sizeof id, MPI_BYTE, 0, ar);
            if (code != MPI_SUCCESS) {
                mpi_fail(err, code, "broadcasting the NCCL id");
                goto cleanup;
            }
            hs_gpu_allreduce_check ac;
            size_t bytes = o->allreduce_bytes ? o->allreduce_bytes : DEFAULT_ALLREDUCE_BYTES;
            if (!id[0]) {
                row->ok = false;
                note(row, "all-reduce: %s", r == 0 ? e.text : "no NCCL id from its first GPU");
            } else if (hs_gpu_allreduce_check_run(id + 1, n, r, ordinal, bytes, &ac, &e) < 0) {
                row->ok = false;
                note(row, "all-reduce: %s", e.text);
            } else {
                row->allreduce_ran = true;
                row->allreduce_ok = ac.ok;
                row->allreduce_gpus = n;
                row->busbw_gbs = ac.busbw_gbs;
                if (!ac.ok) {
                    row->ok = false;
                    note(row, "all-reduce %s", ac.message);
                }
            }
        }
    } else if (row->gemm_ran) {
        note(row, "%s", "all-reduce tested through the worker that binds the same GPU");
    }
    rc = 0;
cleanup:
    if (ar != MPI_COMM_NULL)
        MPI_Comm_free(&ar);
    if (node != MPI_COMM_NULL)
        MPI_Comm_free(&node);
    return rc;
}

int hs_preflight_run(MPI_Comm comm, const hs_preflight_opts *o, hs_preflight_row **rows, int *nrows,
                     hs_error *err)
{
    int rank, size, rc = -1, code;
    MPI_Comm testers = MPI_COMM_NULL;
    unsigned char *all = NULL, mine[ROW_BYTES];
    hs_preflight_row row = { 0 }, *out = NULL;
    *rows = NULL;
    *nrows = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    bool tester = size == 1 || rank != 0;
    code = MPI_Comm_split(comm, tester ? 0 : MPI_UNDEFINED, rank, &testers);
    if (code != MPI_SUCCESS) {
        mpi_fail(err, code, "forming the group of workers");
        goto cleanup;
    }
    row.rank = rank;
    row.ok = true;
    gethostname(row.host, sizeof row.host - 1);
    int local_rc = tester ? test_gpu(testers, o, &row, err) : 0;
    pack_row(&row, mine);
    if (rank == 0 && !(all = malloc((size_t)size * ROW_BYTES))) {
        hs_err(err, "out of memory for %d preflight rows", size);
        local_rc = -1;
    }
    /* Every rank gathers, even after a local failure: the collective must complete. */
    code = MPI_Gather(mine, ROW_BYTES, MPI_BYTE, all, ROW_BYTES, MPI_BYTE, 0, comm);
    if (code != MPI_SUCCESS) {
        mpi_fail(err, code, "gathering the results");
        goto cleanup;
    }
    if (local_rc < 0)
        goto cleanup;
    if (rank == 0) {
        int first = size == 1 ? 0 : 1;
        out = calloc((size_t)(size - first), sizeof *out);
        if (!out) {
            hs_err(err, "out of memory for %d preflight rows", size);
            goto cleanup;
        }
        for (int i = first; i < size; i++)
            if (unpack_row(all + (size_t)i * ROW_BYTES, &out[i - first]) < 0) {
                hs_err(err, "preflight: rank %d sent a row of another version", i);
                goto cleanup;
            }
        *rows = out;
        *nrows = size - first;
        out = NULL;
    }
    rc = 0;
cleanup:
    free(out);
    free(all);
    if (testers != MPI_COMM_NULL)
        MPI_Comm_free(&testers);
    return rc;
}

int hs_preflight_failures(const hs_preflight_row *rows, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += !rows[i].ok;
    return bad;
}

static const char *verdict(bool ran, bool ok)
{
    return !ran ? "-" : ok ? "ok" : "FAIL";
}

void hs_preflight_print(const hs_preflight_row *rows, int n, FILE *out)
{
    int gpus = 0, bad = hs_preflight_failures(rows, n);
    for (int i = 0; i < n; i++)
        gpus += rows[i].has_gpu;
    if (gpus == 0 && bad == 0) {
        char hosts[256] = "";
        int shown = 0;
        for (int i = 0; i < n; i++) {
            bool seen = false;
            for (int j = 0; j < i && !seen; j++)
                seen = strcmp(rows[i].host, rows[j].host) == 0;
            if (seen)
                continue;
            size_t len = strlen(hosts);
            snprintf(hosts + len, sizeof hosts - len, "%s%s", shown ? ", " : "",
                     shown < 4 ? rows[i].host : "...");
            if (++shown > 4)
                break;
        }
        fprintf(out, "preflight: no GPU on %s%d worker rank%s (on %s): nothing to test, passing\n",
                n > 1 ? "any of the " : "", n, n == 1 ? "" : "s", shown ? hosts : "no host");
        return;
    }
    hs_table *t = hs_table_create(12);
    if (!t)
        return;
    static const struct {
        const char *title;
        hs_align align;
    } cols[] = {
        { "rank", HS_RIGHT },
        { "host", HS_LEFT },
        { "GPU", HS_LEFT },
        { "UUID", HS_LEFT },
        { "CUDA_VISIBLE_DEVICES", HS_LEFT },
        { "GEMM", HS_LEFT },
        { "TFLOP/s", HS_RIGHT },
        { "max rel err", HS_RIGHT },
        { "all-reduce", HS_LEFT },
        { "busbw GB/s", HS_RIGHT },
        { "result", HS_LEFT },
        { "message", HS_LEFT },
    };
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
        hs_table_column(t, c, cols[c].title, cols[c].align);
    int without = 0;
    for (int i = 0; i < n; i++) {
        const hs_preflight_row *r = &rows[i];
        if (!r->has_gpu && r->ok) {
            without++;
            continue;
        }
        hs_table_row(t);
        hs_table_setf(t, 0, "%d", r->rank);
        hs_table_set(t, 1, r->host);
        hs_table_set(t, 2, r->gpu[0] ? r->gpu : "-");
        hs_table_set(t, 3, r->uuid[0] ? r->uuid : "-");
        hs_table_set(t, 4, r->visible[0] ? r->visible : "-");
        hs_table_set(t, 5, verdict(r->gemm_ran, r->gemm_ok));
        if (r->gemm_ran) {
            hs_table_setf(t, 6, "%.1f", r->gemm_tflops);
            hs_table_setf(t, 7, "%.1e", r->gemm_err);
        }
        if (r->allreduce_ran) {
            hs_table_setf(t, 8, "%s (%d GPUs)", verdict(true, r->allreduce_ok), r->allreduce_gpus);
            hs_table_setf(t, 9, "%.1f", r->busbw_gbs);
        } else {
            hs_table_set(t, 8, "-");
        }
        hs_table_set(t, 10, r->ok ? "pass" : "FAIL");
        hs_table_set(t, 11, r->message);
    }
    hs_table_write(t, out, HS_TABLE_TEXT, 0);
    hs_table_destroy(t);
    if (without)
        fprintf(out, "%d worker rank%s without a GPU (nothing to test there).\n", without,
                without == 1 ? "" : "s");
    if (bad == 0)
        fprintf(out, "preflight: all %d GPU%s passed\n", gpus, gpus == 1 ? "" : "s");
    else
        fprintf(out, "preflight: %d of %d worker%s FAILED; leave them out of the sweep\n", bad, n,
                n == 1 ? "" : "s");
}
