/* src/gpu: devices, telemetry, preflight and probes behind one C header (DESIGN §8).
 *
 * Everything here builds without CUDA: then device discovery finds nothing (or what NVML
 * reports, if a driver is present), preflight reports "no GPU", and every probe runs its CPU
 * reference. Nothing outside src/gpu may test for CUDA; it asks hs_gpu_built_with_cuda().
 * No function here calls exit(); all return 0 / -1 (or NULL) with an hs_error. */
#ifndef HS_GPU_H
#define HS_GPU_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "error.h"

/* ---- devices ------------------------------------------------------------------------- */

typedef struct hs_gpu_device {
    int ordinal;   /* CUDA ordinal as this process sees it (after CUDA_VISIBLE_DEVICES) */
    char name[96]; /* "NVIDIA H200" */
    char uuid[80]; /* "GPU-8d0c..." (what CUDA_VISIBLE_DEVICES and NVML accept) */
    char pci_bus_id[32];
    double mem_total_mb;
    char driver[32]; /* driver version, "" if unknown */
    char cuda[16];   /* CUDA runtime version, "" if not built with CUDA */
    int cc_major, cc_minor;
} hs_gpu_device;

bool hs_gpu_built_with_cuda(void);
bool hs_gpu_built_with_nccl(void);

/* The GPUs visible to this process, in ordinal order. Returns the count (0 when there is no
 * GPU, no driver, or no CUDA) and a malloc'ed array in *out (free() it; NULL when 0), or -1
 * on a real error. Never leaves a CUDA context behind: the caller may fork/exec runs
 * afterwards without holding GPU memory. */
int hs_gpu_list(hs_gpu_device **out, hs_error *err);

/* ---- telemetry (NVML, loaded with dlopen) -------------------------------------------- */

typedef struct hs_gpu_telemetry hs_gpu_telemetry;

typedef struct hs_gpu_usage {
    bool valid;         /* false: no samples (no NVML, no such GPU): report nothing, not 0 */
    double mem_peak_mb; /* peak device memory used while the run lived */
    double util_mean;   /* mean GPU utilisation, percent (NaN if unsupported) */
    double energy_j;    /* energy counter difference, joules (NaN if unsupported) */
    int samples;
} hs_gpu_usage;

/* Start sampling the GPU named by `id` (a UUID, or a decimal ordinal of the node's physical
 * GPUs, as in CUDA_VISIBLE_DEVICES) every interval_s seconds on a background thread.
 * Returns NULL with err set when NVML or the GPU is unavailable: the run then simply has no
 * GPU telemetry. */
hs_gpu_telemetry *hs_gpu_telemetry_start(const char *id, double interval_s, hs_error *err);
/* Stop, join, fill *out, free t. t may be NULL (then out->valid = false). */
void hs_gpu_telemetry_stop(hs_gpu_telemetry *t, hs_gpu_usage *out);

/* ---- preflight ----------------------------------------------------------------------- */

typedef struct hs_gpu_gemm_check {
    bool ok;
    int n;              /* square matrix size */
    double tflops;      /* achieved, fp32 (or the precision named in message) */
    double max_rel_err; /* against the CPU reference on a sampled block */
    double seconds;
    char message[256];
} hs_gpu_gemm_check;

/* A cuBLAS GEMM on `ordinal`, checked against the CPU reference. Returns -1 only when the
 * check could not run at all (no CUDA build, no device): a wrong answer is ok = false.
 * It releases the device's primary context when done (cudaDeviceReset), as does the
 * all-reduce check: run them where no other CUDA work of the process is live. */
int hs_gpu_gemm_check_run(int ordinal, int n, hs_gpu_gemm_check *out, hs_error *err);

#define HS_GPU_NCCL_ID_BYTES 128

typedef struct hs_gpu_allreduce_check {
    bool ok;
    size_t bytes;
    double seconds; /* per all-reduce, averaged */
    double algbw_gbs;
    double busbw_gbs; /* algbw * 2 (n-1)/n, as nccl-tests reports it */
    char message[256];
} hs_gpu_allreduce_check;

/* One rank creates the id, the caller distributes it (over MPI), every rank then calls
 * hs_gpu_allreduce_check_run collectively. Without NCCL both return -1 with err set. */
int hs_gpu_nccl_unique_id(unsigned char id[HS_GPU_NCCL_ID_BYTES], hs_error *err);
int hs_gpu_allreduce_check_run(const unsigned char id[HS_GPU_NCCL_ID_BYTES], int nranks, int rank,
                               int ordinal, size_t bytes, hs_gpu_allreduce_check *out,
                               hs_error *err);

/* ---- probes -------------------------------------------------------------------------- */

/* Names of the built-in probes, NULL-terminated: "prune", "kvcache", "weightquant". */
const char *const *hs_probe_names(void);
/* One line describing a probe, or NULL for an unknown name. */
const char *hs_probe_summary(const char *name);

/* Run probe `name` on device "auto" (CUDA when built with it and a GPU is visible, else
 * CPU), "cpu" or "cuda" (an error without a GPU). params is a JSON object of the run's
 * parameters (ints, doubles, bools, strings); a parameter the probe does not know is an
 * error, except names starting with '_' (labels, ignored). On success the probe adds its
 * metrics to `result` (a JSON object): numbers at the top level, plus "device" ("cpu" or
 * "cuda"), "device_name", and "warnings" (an array of strings, normally empty).
 * Returns 0, or -1 with err naming the bad parameter or the failure, and errno EINVAL when
 * the run's configuration is wrong (unknown probe or device name; unknown, mistyped or
 * out-of-range parameter: retrying cannot help) or EIO when the computation or the device
 * failed. */
int hs_probe_run(const char *name, json_object *params, const char *device, json_object *result,
                 hs_error *err);

#endif
