/* Placeholder until devices, telemetry and preflight land: no GPU anywhere. */
#include <stdlib.h>

#include "gpu.h"

bool hs_gpu_built_with_cuda(void)
{
    return false;
}

bool hs_gpu_built_with_nccl(void)
{
    return false;
}

int hs_gpu_list(hs_gpu_device **out, hs_error *err)
{
    (void)err;
    *out = NULL;
    return 0;
}

hs_gpu_telemetry *hs_gpu_telemetry_start(const char *id, double interval_s, hs_error *err)
{
    (void)id;
    (void)interval_s;
    hs_err(err, "no GPU telemetry in this build");
    return NULL;
}

void hs_gpu_telemetry_stop(hs_gpu_telemetry *t, hs_gpu_usage *out)
{
    (void)t;
    out->valid = false;
}

int hs_gpu_gemm_check_run(int ordinal, int n, hs_gpu_gemm_check *out, hs_error *err)
{
    (void)ordinal;
    (void)n;
    (void)out;
    return hs_err(err, "not built with CUDA");
}

int hs_gpu_nccl_unique_id(unsigned char id[HS_GPU_NCCL_ID_BYTES], hs_error *err)
{
    (void)id;
    return hs_err(err, "not built with NCCL");
}

int hs_gpu_allreduce_check_run(const unsigned char id[HS_GPU_NCCL_ID_BYTES], int nranks, int rank,
                               int ordinal, size_t bytes, hs_gpu_allreduce_check *out,
                               hs_error *err)
{
    (void)id;
    (void)nranks;
    (void)rank;
    (void)ordinal;
    (void)bytes;
    (void)out;
    return hs_err(err, "not built with NCCL");
}
