/* Private to src/gpu: NVML loaded with dlopen, so that no binary needs the driver to start.
 * nvml.h is not installed; these are the few prototypes used, with NVML's own names and
 * layouts (stable across drivers since the versioned entry points they name). */
#ifndef HS_GPU_NVML_H
#define HS_GPU_NVML_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int hs_nvml_ret; /* nvmlReturn_t */
typedef struct hs_nvml_device_st *hs_nvml_device;

enum { HS_NVML_SUCCESS = 0, HS_NVML_ERROR_NOT_SUPPORTED = 3 };

typedef struct hs_nvml_memory { /* nvmlMemory_t (v1) */
    unsigned long long total, free, used;
} hs_nvml_memory;

typedef struct hs_nvml_utilization { /* nvmlUtilization_t */
    unsigned int gpu, memory;
} hs_nvml_utilization;

typedef struct hs_nvml_pci { /* nvmlPciInfo_t, as filled by nvmlDeviceGetPciInfo_v3 */
    char bus_id_legacy[16];
    unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
    char bus_id[32];
} hs_nvml_pci;

typedef struct hs_nvml {
    hs_nvml_ret (*init)(void);
    hs_nvml_ret (*shutdown)(void);
    const char *(*error_string)(hs_nvml_ret);
    hs_nvml_ret (*count)(unsigned int *);
    hs_nvml_ret (*by_index)(unsigned int, hs_nvml_device *);
    hs_nvml_ret (*by_uuid)(const char *, hs_nvml_device *);
    hs_nvml_ret (*name)(hs_nvml_device, char *, unsigned int);
    hs_nvml_ret (*uuid)(hs_nvml_device, char *, unsigned int);
    hs_nvml_ret (*pci)(hs_nvml_device, hs_nvml_pci *);
    hs_nvml_ret (*memory)(hs_nvml_device, hs_nvml_memory *);
    hs_nvml_ret (*utilization)(hs_nvml_device, hs_nvml_utilization *);
    hs_nvml_ret (*energy)(hs_nvml_device, unsigned long long *); /* millijoules */
    hs_nvml_ret (*driver_version)(char *, unsigned int);
    hs_nvml_ret (*cuda_cc)(hs_nvml_device, int *, int *);
} hs_nvml;

/* The NVML entry points, loaded once per process from libnvidia-ml.so.1 (or the file named
 * by HYPERSWEEP_NVML_LIBRARY). NULL with err set when the library or a symbol is missing.
 * The caller still calls init()/shutdown() around its use (NVML counts them). */
const hs_nvml *hs_nvml_load(hs_error *err);

/* Resolve a CUDA_VISIBLE_DEVICES-style token (physical index, "GPU-..." or "MIG-..." UUID,
 * or a unique UUID prefix) to a device handle. NVML must be initialised. */
int hs_nvml_find(const hs_nvml *nv, const char *token, hs_nvml_device *dev, hs_error *err);

#ifdef __cplusplus
}
#endif

#endif
