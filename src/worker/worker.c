#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bind.h"
#include "buf.h"
#include "log.h"
#include "proto.h"
#include "runner.h"
#include "util.h"

int hs_worker_locality(MPI_Comm comm, int *local_rank, int *local_workers, hs_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm workers = MPI_COMM_NULL, node = MPI_COMM_NULL;
    if (MPI_Comm_split(comm, rank == 0 ? MPI_UNDEFINED : 0, rank, &workers) != MPI_SUCCESS)
        return hs_err(err, "MPI_Comm_split failed");
    *local_rank = -1;
    *local_workers = 0;
    if (workers == MPI_COMM_NULL)
        return 0;
    if (MPI_Comm_split_type(workers, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) !=
        MPI_SUCCESS) {
        MPI_Comm_free(&workers);
        return hs_err(err, "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) failed");
    }
    MPI_Comm_rank(node, local_rank);
    MPI_Comm_size(node, local_workers);
    MPI_Comm_free(&node);
    MPI_Comm_free(&workers);
    return 0;
}

/* Sleep with back-off: idle ranks must not spin (Open MPI's blocking receive busy-waits).
 * Right after a result the next task is due within milliseconds, so the wait stays short
 * for a second; after that it grows to 50 ms. */
static void backoff(double *delay, double last_active)
{
    struct timespec ts = { 0, (long)(*delay * 1e9) };
    nanosleep(&ts, NULL);
    double cap = hs_monotonic() - last_active < 1.0 ? 0.002 : 0.05;
    *delay *= 2;
    if (*delay > cap)
        *delay = cap;
}

/* Receive one message from the master if there is one. Returns its type, 0 if none. */
static int try_recv(MPI_Comm comm, hs_buf *buf, hs_error *err)
{
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(0, MPI_ANY_TAG, comm, &flag, &st) != MPI_SUCCESS)
        return hs_err(err, "MPI_Iprobe failed");
    if (!flag)
        return 0;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    char *data = malloc(count > 0 ? (size_t)count : 1);
    if (!data)
        return hs_err(err, "out of memory");
    if (MPI_Recv(data, count, MPI_BYTE, 0, st.MPI_TAG, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        free(data);
        return hs_err(err, "MPI_Recv failed");
    }
    hs_buf_reset(buf);
    int rc = hs_buf_append(buf, data, (size_t)count);
    free(data);
    if (rc < 0)
        return hs_err(err, "out of memory");
    int type = hs_proto_type(buf->data, buf->len, err);
    if (type < 0)
        return -1;
    if (type != st.MPI_TAG)
        return hs_err(err, "message type %d arrived with tag %d", type, st.MPI_TAG);
    return type;
}

static int send_msg(MPI_Comm comm, const hs_buf *b, int type, hs_error *err)
{
    if (MPI_Send(b->data, (int)b->len, MPI_BYTE, 0, type, comm) != MPI_SUCCESS)
        return hs_err(err, "MPI_Send to the master failed");
    return 0;
}

int hs_worker_main(MPI_Comm comm, const hs_worker_opts *o, volatile sig_atomic_t *stop,
                   hs_error *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    hs_hello hello;
    memset(&hello, 0, sizeof hello);
    hello.rank = rank;
    hello.pid = (int32_t)getpid();
    gethostname(hello.host, sizeof hello.host);
    snprintf(hello.version, sizeof hello.version, "%s", HYPERSWEEP_VERSION);
    hs_binding binding;
    hs_error berr;
    if (hs_gpu_bind(o->local_rank, o->local_workers, o->gpus_per_node, o->share_gpus, &binding,
                    &berr) < 0) {
        snprintf(hello.error, sizeof hello.error, "rank %d: %s", rank, berr.text);
        memset(&binding, 0, sizeof binding);
    }
    hello.has_gpu = binding.has_gpu;
    hello.gpu_slot = binding.slot;
    hello.shared = binding.shared;
    snprintf(hello.visible, sizeof hello.visible, "%s", binding.visible);
    snprintf(hello.gpu_name, sizeof hello.gpu_name, "%s", binding.name);
    snprintf(hello.gpu_uuid, sizeof hello.gpu_uuid, "%s", binding.uuid);
    hs_buf out = { 0 }, in = { 0 };
    int rc = -1;
    if (hs_proto_pack_hello(&hello, &out) < 0 || send_msg(comm, &out, HS_MSG_READY, err) < 0)
        goto done;
    hs_runner_ctx ctx = {
        .binding = &binding, .rank = rank, .host = hello.host, .self_exe = o->self_exe
    };
    hs_runner *runner = NULL;
    bool stop_requested = false;
    double delay = 0.0002, last_active = hs_monotonic();
    for (;;) {
        int type = try_recv(comm, &in, err);
        if (type < 0)
            goto done;
        if (type == HS_MSG_STOP) {
            stop_requested = true;
            if (runner)
                hs_runner_cancel(runner, "the master stopped the sweep");
        }
        if (stop_requested && !runner) {
            rc = 0;
            goto done;
        }
        if (type == HS_MSG_CANCEL && runner) {
            char why[256];
            hs_proto_unpack_text(in.data, in.len, why, sizeof why, err);
            hs_runner_cancel(runner, why);
        }
        if (type == HS_MSG_RUN) {
            if (runner) {
                hs_err(err, "rank %d: got a task while one is running", rank);
                goto done;
            }
            hs_task task;
            if (hs_proto_unpack_task(in.data, in.len, &task, err) < 0)
                goto done;
            runner = hs_runner_start(&task, &ctx, err);
            if (!runner) {
                /* not even the run directory: report the failure as the run's */
                hs_result res;
                hs_result_init(&res);
                snprintf(res.run_id, sizeof res.run_id, "%s", task.run_id);
                res.index = task.index;
                res.attempt = task.attempt;
                res.status = HS_FAILED;
                res.rank = rank;
                snprintf(res.host, sizeof res.host, "%s", hello.host);
                snprintf(res.failure_class, sizeof res.failure_class, "run_dir");
                snprintf(res.message, sizeof res.message, "%s", err->text);
                hs_task_clear(&task);
                int bad = hs_proto_pack_result(&res, &out) < 0 ||
                          send_msg(comm, &out, HS_MSG_RESULT, err) < 0;
                hs_result_clear(&res);
                if (bad)
                    goto done;
                continue;
            }
            hs_task_clear(&task);
        }
        if (runner) {
            if (*stop)
                hs_runner_cancel(runner, "the worker received a termination signal");
            if (hs_runner_poll(runner, 0.05)) {
                hs_result res;
                hs_result_init(&res);
                hs_error ferr;
                hs_runner_finish(runner, &res, &ferr);
                runner = NULL;
                last_active = hs_monotonic();
                delay = 0.0002;
                int bad = hs_proto_pack_result(&res, &out) < 0 ||
                          send_msg(comm, &out, HS_MSG_RESULT, err) < 0;
                hs_result_clear(&res);
                if (bad)
                    goto done;
                if (stop_requested) {
                    rc = 0;
                    goto done;
                }
            }
            continue;
        }
        if (type == 0)
            backoff(&delay, last_active);
        else
            delay = 0.0002;
    }
done:
    hs_buf_free(&out);
    hs_buf_free(&in);
    return rc;
}
