/* GPU binding of a worker (DESIGN §6): the node-local worker rank picks a GPU round-robin
 * over the GPUs the node offers. An inherited CUDA_VISIBLE_DEVICES is the list offered;
 * --gpus-per-node N overrides discovery. Two workers never share a GPU unless asked. */
#ifndef HS_BIND_H
#define HS_BIND_H

#include <stdbool.h>

#include "error.h"

typedef struct hs_binding {
    bool has_gpu;
    char visible[96];      /* the run's CUDA_VISIBLE_DEVICES: one token, or "" for no GPU */
    char telemetry_id[96]; /* what NVML is given: the UUID when known, else the token */
    int slot;              /* index in the node's GPU list; -1 without a GPU */
    int ngpus;             /* how many GPUs the node offers */
    bool shared;           /* another worker of this node has the same GPU */
    char name[96];         /* "" when unknown */
    char uuid[80];
} hs_binding;

/* local_rank: position of this worker among the workers of its node (0-based);
 * local_workers: number of workers on the node; gpus_per_node: -1 to discover, else the
 * number to assume; share: allow several workers per GPU. Returns 0 or -1 (err names the
 * conflict). */
int hs_gpu_bind(int local_rank, int local_workers, int gpus_per_node, bool share, hs_binding *out,
                hs_error *err);

#endif
