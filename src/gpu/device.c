/* Device discovery: the CUDA runtime when built with it, else NVML (if a driver is there).
 * Both honour CUDA_VISIBLE_DEVICES and create no CUDA context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "nvml.h"
#ifdef HS_GPU_HAVE_CUDA
#include "cuda_util.h"
#endif

bool hs_gpu_built_with_cuda(void)
{
#ifdef HS_GPU_HAVE_CUDA
    return true;
#else
    return false;
#endif
}

bool hs_gpu_built_with_nccl(void)
{
#ifdef HS_GPU_HAVE_NCCL
    return true;
#else
    return false;
#endif
}

/* NVML's driver version ("550.54.15") into each device; nothing when NVML is absent. */
static void fill_driver(hs_gpu_device *devs, int n)
{
    const hs_nvml *nv = hs_nvml_load(NULL);
    if (!nv || nv->init() != HS_NVML_SUCCESS)
        return;
    char ver[80];
    if (nv->driver_version(ver, sizeof ver) == HS_NVML_SUCCESS)
        for (int i = 0; i < n; i++)
            snprintf(devs[i].driver, sizeof devs[i].driver, "%s", ver);
    nv->shutdown();
}

#ifndef HS_GPU_HAVE_CUDA
static void nvml_fill(const hs_nvml *nv, hs_nvml_device d, int ordinal, hs_gpu_device *g)
{
    g->ordinal = ordinal;
    nv->name(d, g->name, sizeof g->name);
    nv->uuid(d, g->uuid, sizeof g->uuid);
    hs_nvml_pci pci;
    if (nv->pci(d, &pci) == HS_NVML_SUCCESS)
        snprintf(g->pci_bus_id, sizeof g->pci_bus_id, "%s", pci.bus_id);
    hs_nvml_memory mem;
    if (nv->memory(d, &mem) == HS_NVML_SUCCESS)
        g->mem_total_mb = (double)mem.total / (1024.0 * 1024.0);
    nv->cuda_cc(d, &g->cc_major, &g->cc_minor);
}

/* Without CUDA, NVML lists the GPUs. CUDA_VISIBLE_DEVICES is applied as CUDA would: its
 * tokens in order, stopping at the first one that names no device; set but empty hides
 * every GPU. */
static int nvml_list(hs_gpu_device **out, hs_error *err)
{
    const hs_nvml *nv = hs_nvml_load(NULL);
    if (!nv || nv->init() != HS_NVML_SUCCESS)
        return 0; /* no driver: no GPU */
    int n = -1;
    unsigned count = 0;
    hs_gpu_device *devs = NULL;
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    char *list = cvd ? strdup(cvd) : NULL;
    hs_nvml_ret r = nv->count(&count);
    if (r != HS_NVML_SUCCESS) {
        hs_err(err, "NVML cannot count the GPUs: %s", nv->error_string(r));
        goto cleanup;
    }
    devs = calloc(count ? count : 1, sizeof *devs);
    if (!devs || (cvd && !list)) {
        hs_err(err, "out of memory");
        goto cleanup;
    }
    n = 0;
    char *save = NULL;
    const char *tok = list ? strtok_r(list, ",", &save) : NULL;
    for (unsigned i = 0; n < (int)count && (list ? tok != NULL : i < count); i++) {
        char idx[16];
        snprintf(idx, sizeof idx, "%u", i);
        hs_nvml_device d;
        if (hs_nvml_find(nv, list ? tok : idx, &d, NULL) < 0)
            break;
        nvml_fill(nv, d, n, &devs[n]);
        n++;
        if (list)
            tok = strtok_r(NULL, ",", &save);
    }
cleanup:
    nv->shutdown();
    free(list);
    if (n <= 0) {
        free(devs);
        devs = NULL;
    }
    *out = devs;
    return n;
}
#endif

int hs_gpu_list(hs_gpu_device **out, hs_error *err)
{
    *out = NULL;
#ifdef HS_GPU_HAVE_CUDA
    int n = hs_cuda_list(out, err);
#else
    int n = nvml_list(out, err);
#endif
    if (n > 0)
        fill_driver(*out, n);
    return n;
}
