/* Preflight (DESIGN §8): before a day-long sweep, find a bad GPU or fabric. Every worker
 * binds its GPU exactly as the sweep will (hs_gpu_bind over node-local worker ranks), runs a
 * cuBLAS GEMM checked against a CPU reference, then all worker GPUs run one NCCL all-reduce
 * together. Rank 0 gathers one row per worker and prints one table. */
#ifndef HS_PREFLIGHT_H
#define HS_PREFLIGHT_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

typedef struct hs_preflight_opts {
    int gpus_per_node;      /* -1: discover (or CUDA_VISIBLE_DEVICES) */
    bool share_gpus;        /* allow several workers per GPU */
    int gemm_n;             /* square GEMM size; 0 for the default (4096) */
    size_t allreduce_bytes; /* all-reduce message; 0 for the default (64 MiB) */
} hs_preflight_opts;

typedef struct hs_preflight_row {
    int rank;     /* rank in the communicator given to hs_preflight_run */
    bool has_gpu; /* false: no GPU was bound, nothing was tested */
    bool ok;      /* passed (a rank without a GPU passes, unless binding failed) */
    char host[64];
    char gpu[96]; /* device name, "" when unknown */
    char uuid[80];
    char visible[96]; /* the CUDA_VISIBLE_DEVICES token this worker's runs get */
    bool gemm_ran, gemm_ok;
    double gemm_tflops, gemm_err; /* err: worst |C - ref| / sum |a||b| on the sampled rows */
    bool allreduce_ran, allreduce_ok;
    int allreduce_gpus; /* GPUs in the all-reduce; 0 when it did not run */
    double busbw_gbs;
    char message[320]; /* why it failed, or a note ("shares its GPU with ...") */
} hs_preflight_row;

/* Collective over comm. Rank 0 is the master and tests no GPU unless comm has a single rank
 * (local mode: then it tests its own). On rank 0, *rows is a malloc'ed array (free() it) of
 * one row per tested rank, in rank order, and *nrows its length; elsewhere NULL and 0.
 * GPU failures are rows with ok = false, not errors: returns -1 (err set, on every rank
 * where it happened) only when MPI itself fails or memory runs out. */
int hs_preflight_run(MPI_Comm comm, const hs_preflight_opts *o, hs_preflight_row **rows, int *nrows,
                     hs_error *err);

/* One aligned table of the GPUs, then a one-line verdict; without any GPU, one line saying
 * so. */
void hs_preflight_print(const hs_preflight_row *rows, int n, FILE *out);

/* Number of rows that failed. */
int hs_preflight_failures(const hs_preflight_row *rows, int n);

#endif
