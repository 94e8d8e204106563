// Device discovery through the CUDA runtime. Only context-free queries are used
// (cudaGetDeviceCount, cudaGetDeviceProperties, the version calls), so the caller holds no
// GPU memory afterwards and may fork/exec runs.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_util.h"

static void format_uuid(const cudaUUID_t *u, char *out, size_t len)
{
    const unsigned char *b = (const unsigned char *)u->bytes;
    snprintf(out, len, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

extern "C" int hs_cuda_list(hs_gpu_device **out, hs_error *err)
{
    *out = NULL;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
        (void)cudaGetLastError();
        return 0; // no GPU, or no driver: a CPU machine
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return hs_err(err, "CUDA cannot count the GPUs: %s", cudaGetErrorString(e));
    }
    if (count == 0)
        return 0;
    hs_gpu_device *devs = (hs_gpu_device *)calloc((size_t)count, sizeof *devs);
    if (!devs)
        return hs_err(err, "out of memory");
    int runtime = 0, driver = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaDriverGetVersion(&driver);
    for (int i = 0; i < count; i++) {
        cudaDeviceProp p;
        e = cudaGetDeviceProperties(&p, i);
        if (e != cudaSuccess) {
            free(devs);
            return hs_err(err, "CUDA device %d: %s", i, cudaGetErrorString(e));
        }
        hs_gpu_device *g = &devs[i];
        g->ordinal = i;
        snprintf(g->name, sizeof g->name, "%.*s", (int)sizeof g->name - 1, p.name);
        format_uuid(&p.uuid, g->uuid, sizeof g->uuid);
        snprintf(g->pci_bus_id, sizeof g->pci_bus_id, "%08x:%02x:%02x.0", p.pciDomainID, p.pciBusID,
                 p.pciDeviceID);
        g->mem_total_mb = (double)p.totalGlobalMem / (1024.0 * 1024.0);
        // Overwritten by NVML's "550.54.15" when NVML is there.
        snprintf(g->driver, sizeof g->driver, "CUDA %d.%d driver", driver / 1000,
                 (driver % 1000) / 10);
        snprintf(g->cuda, sizeof g->cuda, "%d.%d", runtime / 1000, (runtime % 1000) / 10);
        g->cc_major = p.major;
        g->cc_minor = p.minor;
    }
    *out = devs;
    return count;
}
