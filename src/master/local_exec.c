/* Local mode: the master runs each task itself, one at a time (one rank, a laptop, a single
 * Slurm array task). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master.h"
#include "runner.h"

struct hs_local_executor {
    hs_binding binding;
    char host[64];
    char *self_exe;
    hs_runner *runner;
};

hs_local_executor *hs_local_executor_create(const hs_binding *binding, const char *self_exe,
                                            hs_error *err)
{
    hs_local_executor *e = calloc(1, sizeof *e);
    if (!e) {
        hs_err(err, "out of memory");
        return NULL;
    }
    if (binding)
        e->binding = *binding;
    gethostname(e->host, sizeof e->host);
    e->self_exe = self_exe ? strdup(self_exe) : NULL;
    return e;
}

void hs_local_executor_destroy(hs_local_executor *e)
{
    if (!e)
        return;
    if (e->runner) {
        hs_result r;
        hs_result_init(&r);
        hs_runner_cancel(e->runner, "shutting down");
        hs_runner_finish(e->runner, &r, NULL);
        hs_result_clear(&r);
    }
    free(e->self_exe);
    free(e);
}

static int l_nslots(void *ctx)
{
    (void)ctx;
    return 1;
}

static int l_idle(void *ctx)
{
    hs_local_executor *e = ctx;
    return e->runner ? -1 : 0;
}

static const char *l_gpu(void *ctx, int slot)
{
    hs_local_executor *e = ctx;
    (void)slot;
    return e->binding.has_gpu ? e->binding.visible : "";
}

static void l_describe(void *ctx, int slot, hs_result *r)
{
    hs_local_executor *e = ctx;
    (void)slot;
    snprintf(r->host, sizeof r->host, "%s", e->host);
    r->rank = 0;
    if (e->binding.has_gpu) {
        r->gpu = e->binding.slot;
        snprintf(r->gpu_name, sizeof r->gpu_name, "%s", e->binding.name);
        snprintf(r->gpu_uuid, sizeof r->gpu_uuid, "%s", e->binding.uuid);
    }
}

static int l_start(void *ctx, int slot, const hs_task *task, hs_error *err)
{
    hs_local_executor *e = ctx;
    (void)slot;
    hs_runner_ctx rc = {
        .binding = &e->binding, .rank = 0, .host = e->host, .self_exe = e->self_exe
    };
    e->runner = hs_runner_start(task, &rc, err);
    return e->runner ? 0 : -1;
}

static int l_poll(void *ctx, double timeout, int *slot, hs_result *res, hs_error *err)
{
    hs_local_executor *e = ctx;
    if (!e->runner) {
        if (timeout > 0)
            usleep((useconds_t)(timeout * 1e6));
        return 0;
    }
    if (!hs_runner_poll(e->runner, timeout))
        return 0;
    *slot = 0;
    int rc = hs_runner_finish(e->runner, res, err);
    e->runner = NULL;
    return rc < 0 ? -1 : 1;
}

static void l_cancel(void *ctx, int slot, const char *why)
{
    hs_local_executor *e = ctx;
    (void)slot;
    if (e->runner)
        hs_runner_cancel(e->runner, why);
}

const hs_executor_ops hs_local_executor_ops = {
    .nslots = l_nslots,
    .idle_slot = l_idle,
    .gpu_label = l_gpu,
    .describe = l_describe,
    .start = l_start,
    .poll = l_poll,
    .cancel = l_cancel,
};
