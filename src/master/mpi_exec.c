/* The MPI executor: rank 0 hands tasks to worker ranks (dynamic pull) over a dedicated
 * communicator, with one tag per message type. Receives are polled with back-off. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "master.h"
#include "proto.h"
#include "util.h"

struct worker {
    int rank;
    hs_hello hello;
    bool busy;
    bool cancelled;
    bool excluded; /* left out of the sweep (failed its preflight) */
    bool gone;     /* its process died */
};

struct hs_mpi_executor {
    char host[64]; /* the master's */
    MPI_Comm comm;
    struct worker *w;
    int nw;
    hs_buf buf;
};

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    nanosleep(&ts, NULL);
}

/* Receive one message from any worker, waiting at most `timeout` seconds with back-off.
 * Returns its type (0: none), *src the sender. */
static int recv_any(hs_mpi_executor *e, double timeout, int *src, hs_error *err)
{
    double end = hs_monotonic() + timeout, delay = 0.0001;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, e->comm, &flag, &st) != MPI_SUCCESS)
            return hs_err(err, "MPI_Iprobe failed");
        if (flag) {
            int count = 0;
            MPI_Get_count(&st, MPI_BYTE, &count);
            char *data = malloc(count > 0 ? (size_t)count : 1);
            if (!data)
                return hs_err(err, "out of memory");
            if (MPI_Recv(data, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, e->comm,
                         MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                free(data);
                return hs_err(err, "MPI_Recv from rank %d failed", st.MPI_SOURCE);
            }
            hs_buf_reset(&e->buf);
            int rc = hs_buf_append(&e->buf, data, (size_t)count);
            free(data);
            if (rc < 0)
                return hs_err(err, "out of memory");
            int type = hs_proto_type(e->buf.data, e->buf.len, err);
            if (type < 0)
                return hs_err_prefix(err, "message from rank %d", st.MPI_SOURCE);
            *src = st.MPI_SOURCE;
            return type;
        }
        double left = end - hs_monotonic();
        if (left <= 0)
            return 0;
        sleep_s(delay < left ? delay : left);
        /* 1 ms at most: a result waits no longer, and a thousand probes a second cost
         * about a millisecond of CPU */
        delay *= 2;
        if (delay > 0.001)
            delay = 0.001;
    }
}

static void send_text(MPI_Comm comm, int rank, int type, const char *text)
{
    hs_buf b = { 0 };
    if (hs_proto_pack_text(type, text, &b) == 0)
        MPI_Send(b.data, (int)b.len, MPI_BYTE, rank, type, comm);
    hs_buf_free(&b);
}

/* STOP to every worker, without ever blocking on one that died: a send to a dead rank can
 * hang (Open MPI keeps trying to connect). Returns how many could not be told within
 * `timeout` seconds; their sends are left to complete, or not, in the background. */
static int stop_all(MPI_Comm comm, const char *why, double timeout, const bool *skip)
{
    int size;
    MPI_Comm_size(comm, &size);
    if (size <= 1)
        return 0;
    hs_buf *msgs = calloc((size_t)size, sizeof *msgs);
    MPI_Request *req = calloc((size_t)size, sizeof *req);
    if (!msgs || !req) {
        free(msgs);
        free(req);
        for (int r = 1; r < size; r++)
            send_text(comm, r, HS_MSG_STOP, why);
        return 0;
    }
    for (int r = 0; r < size; r++)
        req[r] = MPI_REQUEST_NULL;
    for (int r = 1; r < size; r++)
        if (!(skip && skip[r]) && hs_proto_pack_text(HS_MSG_STOP, why, &msgs[r]) == 0)
            MPI_Isend(msgs[r].data, (int)msgs[r].len, MPI_BYTE, r, HS_MSG_STOP, comm, &req[r]);
    double end = hs_monotonic() + timeout;
    int pending;
    for (;;) {
        pending = 0;
        for (int r = 1; r < size; r++) {
            int done = 1;
            if (req[r] != MPI_REQUEST_NULL)
                MPI_Test(&req[r], &done, MPI_STATUS_IGNORE);
            pending += !done;
        }
        if (!pending || hs_monotonic() >= end)
            break;
        sleep_s(0.001);
    }
    for (int r = 1; r < size; r++) {
        if (req[r] != MPI_REQUEST_NULL) {
            hs_log_warn("rank %d did not take the STOP message in %.0f s: it is gone", r, timeout);
            MPI_Request_free(&req[r]); /* its buffer stays allocated: the send may go on */
        } else {
            hs_buf_free(&msgs[r]);
        }
    }
    free(msgs);
    free(req);
    return pending;
}

void hs_mpi_stop_workers(MPI_Comm comm, const char *why)
{
    stop_all(comm, why, 10, NULL);
}

hs_mpi_executor *hs_mpi_executor_create(MPI_Comm comm, hs_error *err)
{
    hs_mpi_executor *e = calloc(1, sizeof *e);
    int size;
    MPI_Comm_size(comm, &size);
    if (!e || !(e->w = calloc((size_t)size, sizeof *e->w))) {
        free(e);
        hs_err(err, "out of memory");
        return NULL;
    }
    e->comm = comm;
    e->nw = size - 1;
    gethostname(e->host, sizeof e->host);
    int ready = 0;
    char first_error[600] = "";
    while (ready < e->nw) {
        int src = -1;
        int type = recv_any(e, 3600, &src, err);
        if (type < 0)
            goto fail;
        if (type == 0)
            continue;
        if (type != HS_MSG_READY) {
            hs_err(err, "rank %d sent message type %d before saying hello", src, type);
            goto fail;
        }
        struct worker *w = &e->w[src - 1];
        if (hs_proto_unpack_hello(e->buf.data, e->buf.len, &w->hello, err) < 0)
            goto fail;
        w->rank = src;
        if (strcmp(w->hello.version, HYPERSWEEP_VERSION) != 0 && !first_error[0])
            snprintf(first_error, sizeof first_error,
                     "rank %d runs hypersweep %s, the master %s: use one binary everywhere", src,
                     w->hello.version, HYPERSWEEP_VERSION);
        if (w->hello.error[0] && !first_error[0])
            snprintf(first_error, sizeof first_error, "%s", w->hello.error);
        ready++;
    }
    if (first_error[0]) {
        hs_err(err, "%s", first_error);
        goto fail;
    }
    for (int i = 0; i < e->nw; i++)
        hs_log_info("worker rank %d on %s: %s%s%s", e->w[i].rank, e->w[i].hello.host,
                    e->w[i].hello.has_gpu ? "GPU " : "no GPU", e->w[i].hello.visible,
                    e->w[i].hello.shared ? " (shared)" : "");
    return e;
fail:
    hs_mpi_stop_workers(comm, "the master could not start");
    hs_buf_free(&e->buf);
    free(e->w);
    free(e);
    return NULL;
}

int hs_mpi_executor_destroy(hs_mpi_executor *e)
{
    if (!e)
        return 0;
    bool *skip = calloc((size_t)e->nw + 1, sizeof *skip);
    for (int i = 0; skip && i < e->nw; i++)
        skip[e->w[i].rank] = e->w[i].gone;
    int gone = stop_all(e->comm, "the sweep is over", 10, skip);
    for (int i = 0; skip && i < e->nw; i++)
        gone += e->w[i].gone;
    free(skip);
    /* results of tasks still running when the master gives up are drained and dropped, so
     * no worker blocks in MPI_Send before it sees STOP */
    hs_error err;
    double end = hs_monotonic() + 5;
    bool busy = false;
    for (int i = 0; i < e->nw; i++)
        busy |= e->w[i].busy;
    while (busy && hs_monotonic() < end) {
        int src;
        int type = recv_any(e, 0.5, &src, &err);
        if (type == HS_MSG_RESULT && src >= 1 && src <= e->nw)
            e->w[src - 1].busy = false;
        busy = false;
        for (int i = 0; i < e->nw; i++)
            busy |= e->w[i].busy;
    }
    hs_buf_free(&e->buf);
    free(e->w);
    free(e);
    return gone;
}

static int m_nslots(void *ctx)
{
    return ((hs_mpi_executor *)ctx)->nw;
}

static int m_idle(void *ctx)
{
    hs_mpi_executor *e = ctx;
    for (int i = 0; i < e->nw; i++)
        if (!e->w[i].busy && !e->w[i].excluded)
            return i;
    return -1;
}

int hs_mpi_executor_exclude(hs_mpi_executor *e, int rank, const char *why)
{
    int in = 0;
    for (int i = 0; i < e->nw; i++) {
        if (e->w[i].rank == rank && !e->w[i].excluded) {
            e->w[i].excluded = true;
            hs_log_warn("worker rank %d on %s left out of the sweep: %s", rank,
                        e->w[i].hello.host, why);
        }
        in += !e->w[i].excluded;
    }
    return in;
}

static const char *m_gpu(void *ctx, int slot)
{
    hs_mpi_executor *e = ctx;
    return e->w[slot].hello.has_gpu ? e->w[slot].hello.visible : "";
}

static void m_describe(void *ctx, int slot, hs_result *r)
{
    hs_mpi_executor *e = ctx;
    const hs_hello *h = &e->w[slot].hello;
    snprintf(r->host, sizeof r->host, "%s", h->host);
    r->rank = h->rank;
    if (h->has_gpu) {
        r->gpu = h->gpu_slot;
        snprintf(r->gpu_name, sizeof r->gpu_name, "%s", h->gpu_name);
        snprintf(r->gpu_uuid, sizeof r->gpu_uuid, "%s", h->gpu_uuid);
    }
}

static int m_start(void *ctx, int slot, const hs_task *task, hs_error *err)
{
    hs_mpi_executor *e = ctx;
    hs_buf b = { 0 };
    if (hs_proto_pack_task(task, &b) < 0) {
        hs_buf_free(&b);
        return hs_err(err, "out of memory");
    }
    int rc = MPI_Send(b.data, (int)b.len, MPI_BYTE, e->w[slot].rank, HS_MSG_RUN, e->comm);
    hs_buf_free(&b);
    if (rc != MPI_SUCCESS)
        return hs_err(err, "MPI_Send to rank %d failed", e->w[slot].rank);
    e->w[slot].busy = true;
    e->w[slot].cancelled = false;
    return 0;
}

static int m_poll(void *ctx, double timeout, int *slot, hs_result *res, hs_error *err)
{
    hs_mpi_executor *e = ctx;
    double end = hs_monotonic() + timeout;
    for (;;) {
        int src = -1;
        double left = end - hs_monotonic();
        int type = recv_any(e, left > 0 ? left : 0, &src, err);
        if (type <= 0)
            return type;
        if (type != HS_MSG_RESULT) {
            hs_log_warn("ignoring message type %d from rank %d", type, src);
            continue;
        }
        if (src < 1 || src > e->nw || !e->w[src - 1].busy)
            return hs_err(err, "rank %d sent a result it was not asked for", src);
        if (hs_proto_unpack_result(e->buf.data, e->buf.len, res, err) < 0)
            return hs_err_prefix(err, "result from rank %d", src);
        e->w[src - 1].busy = false;
        *slot = src - 1;
        return 1;
    }
}

static void m_cancel(void *ctx, int slot, const char *why)
{
    hs_mpi_executor *e = ctx;
    if (!e->w[slot].busy || e->w[slot].cancelled)
        return;
    e->w[slot].cancelled = true;
    send_text(e->comm, e->w[slot].rank, HS_MSG_CANCEL, why);
}

/* A worker on the master's host whose process is gone (or a zombie) is dead. On another
 * host nothing can tell from here; Open MPI ends the whole job then anyway. */
static int m_lost(void *ctx, int slot, char *why, size_t cap)
{
    hs_mpi_executor *e = ctx;
    const hs_hello *h = &e->w[slot].hello;
    if (h->pid <= 0 || strcmp(h->host, e->host) != 0)
        return 0;
    char path[64], stat[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)h->pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(stat, sizeof stat, f))
            stat[0] = '\0';
        fclose(f);
    }
    const char *paren = strrchr(stat, ')');
    char state = paren && paren[1] == ' ' ? paren[2] : '?';
    if (f && state != 'Z' && state != 'X')
        return 0;
    snprintf(why, cap, "worker rank %d (pid %d) on host %s died", h->rank, (int)h->pid, h->host);
    e->w[slot].busy = false;
    e->w[slot].excluded = true;
    e->w[slot].gone = true;
    return 1;
}

const hs_executor_ops hs_mpi_executor_ops = {
    .nslots = m_nslots,
    .idle_slot = m_idle,
    .gpu_label = m_gpu,
    .describe = m_describe,
    .start = m_start,
    .poll = m_poll,
    .cancel = m_cancel,
    .lost = m_lost,
};
