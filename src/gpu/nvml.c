#include "nvml.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hs_nvml nvml;
static char load_error[512];
static int loaded;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void)
{
    const char *path = getenv("HYPERSWEEP_NVML_LIBRARY");
    if (!path || !*path)
        path = "libnvidia-ml.so.1";
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(load_error, sizeof load_error, "NVML is not available (%s): no GPU driver here",
                 e ? e : path);
        return;
    }
    static const struct {
        const char *name;
        size_t offset;
    } syms[] = {
        { "nvmlInit_v2", offsetof(hs_nvml, init) },
        { "nvmlShutdown", offsetof(hs_nvml, shutdown) },
        { "nvmlErrorString", offsetof(hs_nvml, error_string) },
        { "nvmlDeviceGetCount_v2", offsetof(hs_nvml, count) },
        { "nvmlDeviceGetHandleByIndex_v2", offsetof(hs_nvml, by_index) },
        { "nvmlDeviceGetHandleByUUID", offsetof(hs_nvml, by_uuid) },
        { "nvmlDeviceGetName", offsetof(hs_nvml, name) },
        { "nvmlDeviceGetUUID", offsetof(hs_nvml, uuid) },
        { "nvmlDeviceGetPciInfo_v3", offsetof(hs_nvml, pci) },
        { "nvmlDeviceGetMemoryInfo", offsetof(hs_nvml, memory) },
        { "nvmlDeviceGetUtilizationRates", offsetof(hs_nvml, utilization) },
        { "nvmlDeviceGetTotalEnergyConsumption", offsetof(hs_nvml, energy) },
        { "nvmlSystemGetDriverVersion", offsetof(hs_nvml, driver_version) },
        { "nvmlDeviceGetCudaComputeCapability", offsetof(hs_nvml, cuda_cc) },
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        void *f = dlsym(h, syms[i].name);
        if (!f) {
            snprintf(load_error, sizeof load_error, "%s lacks %s: driver too old", path,
                     syms[i].name);
            dlclose(h);
            memset(&nvml, 0, sizeof nvml);
            return;
        }
        /* POSIX guarantees that function pointers round-trip through void *. */
        memcpy((char *)&nvml + syms[i].offset, &f, sizeof f);
    }
    loaded = 1; /* the library stays loaded for the life of the process */
}

const hs_nvml *hs_nvml_load(hs_error *err)
{
    pthread_once(&load_once, load);
    if (!loaded) {
        hs_err(err, "%s", load_error);
        return NULL;
    }
    return &nvml;
}

int hs_nvml_find(const hs_nvml *nv, const char *token, hs_nvml_device *dev, hs_error *err)
{
    char *end;
    long idx = strtol(token, &end, 10);
    if (*token && *end == '\0') {
        hs_nvml_ret r = idx >= 0 ? nv->by_index((unsigned)idx, dev) : 1;
        if (r != HS_NVML_SUCCESS)
            return hs_err(err, "GPU %s: no such device (%s)", token,
                          idx >= 0 ? nv->error_string(r) : "negative index");
        return 0;
    }
    if (nv->by_uuid(token, dev) == HS_NVML_SUCCESS)
        return 0;
    /* CUDA_VISIBLE_DEVICES accepts a unique UUID prefix; so do we. */
    unsigned n = 0;
    if (nv->count(&n) != HS_NVML_SUCCESS)
        n = 0;
    int found = 0;
    for (unsigned i = 0; i < n; i++) {
        hs_nvml_device d;
        char uuid[96];
        if (nv->by_index(i, &d) != HS_NVML_SUCCESS ||
            nv->uuid(d, uuid, sizeof uuid) != HS_NVML_SUCCESS)
            continue;
        if (strncmp(uuid, token, strlen(token)) == 0) {
            *dev = d;
            found++;
        }
    }
    if (found == 1)
        return 0;
    return hs_err(err, "GPU %s: %s", token,
                  found ? "the UUID prefix matches several devices" : "no device has this UUID");
}
