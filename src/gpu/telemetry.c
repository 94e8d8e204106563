/* Per-run GPU telemetry: a thread samples NVML while the run lives. Memory is the whole
 * device's used memory (NVML's view, so it includes other processes on a shared GPU). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu.h"
#include "nvml.h"

struct hs_gpu_telemetry {
    const hs_nvml *nv;
    hs_nvml_device dev;
    double interval_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    /* written by the sampler under mu */
    double mem_peak_mb;
    double util_sum;
    int util_n;
    int samples;
    bool energy_ok;
    unsigned long long energy0_mj;
};

static void sample(hs_gpu_telemetry *t)
{
    hs_nvml_memory mem;
    hs_nvml_utilization u;
    bool have_mem = t->nv->memory(t->dev, &mem) == HS_NVML_SUCCESS;
    bool have_util = t->nv->utilization(t->dev, &u) == HS_NVML_SUCCESS;
    pthread_mutex_lock(&t->mu);
    if (have_mem) {
        double mb = (double)mem.used / (1024.0 * 1024.0);
        if (t->samples == 0 || mb > t->mem_peak_mb)
            t->mem_peak_mb = mb;
        t->samples++;
    }
    if (have_util) {
        t->util_sum += u.gpu;
        t->util_n++;
    }
    pthread_mutex_unlock(&t->mu);
}

static void *sampler(void *arg)
{
    hs_gpu_telemetry *t = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        double s = floor(t->interval_s);
        next.tv_sec += (time_t)s;
        next.tv_nsec += (long)((t->interval_s - s) * 1e9);
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        while (!t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &next) != ETIMEDOUT)
            ;
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->mu);
        sample(t);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

hs_gpu_telemetry *hs_gpu_telemetry_start(const char *id, double interval_s, hs_error *err)
{
    if (!id || !*id) {
        hs_err(err, "GPU telemetry needs a GPU id (UUID or index)");
        return NULL;
    }
    if (!(interval_s >= 0.01 && interval_s <= 3600)) {
        hs_err(err, "GPU telemetry interval %g s is out of range [0.01, 3600]", interval_s);
        return NULL;
    }
    const hs_nvml *nv = hs_nvml_load(err);
    if (!nv)
        return NULL;
    hs_nvml_ret r = nv->init();
    if (r != HS_NVML_SUCCESS) {
        hs_err(err, "NVML cannot start: %s", nv->error_string(r));
        return NULL;
    }
    hs_gpu_telemetry *t = calloc(1, sizeof *t);
    pthread_condattr_t ca;
    bool attr = false, sync = false;
    if (!t) {
        hs_err(err, "out of memory");
        goto error;
    }
    t->nv = nv;
    t->interval_s = interval_s;
    if (hs_nvml_find(nv, id, &t->dev, err) < 0)
        goto error;
    if (pthread_condattr_init(&ca) != 0) {
        hs_err(err, "cannot create the telemetry thread's clock");
        goto error;
    }
    attr = true;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&t->mu, NULL) != 0 || pthread_cond_init(&t->cv, &ca) != 0) {
        hs_err(err, "cannot create the telemetry thread's lock");
        goto error;
    }
    sync = true;
    t->energy_ok = nv->energy(t->dev, &t->energy0_mj) == HS_NVML_SUCCESS;
    sample(t);
    int e = pthread_create(&t->thread, NULL, sampler, t);
    if (e != 0) {
        errno = e;
        hs_err_errno(err, "cannot start the GPU telemetry thread");
        goto error;
    }
    pthread_condattr_destroy(&ca);
    return t;
error:
    if (attr)
        pthread_condattr_destroy(&ca);
    if (sync) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
    }
    free(t);
    nv->shutdown();
    return NULL;
}

void hs_gpu_telemetry_stop(hs_gpu_telemetry *t, hs_gpu_usage *out)
{
    memset(out, 0, sizeof *out);
    out->valid = false;
    out->energy_j = NAN;
    out->util_mean = NAN;
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    sample(t); /* the last moment counts too, however short the run */
    unsigned long long e1;
    if (t->energy_ok && t->nv->energy(t->dev, &e1) == HS_NVML_SUCCESS && e1 >= t->energy0_mj)
        out->energy_j = (double)(e1 - t->energy0_mj) / 1000.0;
    out->valid = t->samples > 0;
    out->samples = t->samples;
    out->mem_peak_mb = t->mem_peak_mb;
    if (t->util_n > 0)
        out->util_mean = t->util_sum / t->util_n;
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    t->nv->shutdown();
    free(t);
}
