/* Merging shard stores (Slurm job arrays: each task writes its own store) into one store,
 * or into a file of HDF5 virtual datasets over them (DESIGN §7). */
#ifndef HS_MERGE_H
#define HS_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

typedef struct hs_merge_opts {
    bool virtual_ds; /* a file of virtual datasets instead of a copy */
    bool force;      /* replace an existing output */
    FILE *report;    /* what the merge found (duplicates, missing cells); may be NULL */
} hs_merge_opts;

typedef struct hs_merge_summary {
    size_t shards;
    size_t cells;     /* cells of the grid */
    size_t committed; /* cells whose run is done (ok or a final failure) */
    size_t ok;
    size_t duplicates; /* cells held by more than one shard */
    size_t missing;    /* cells no shard committed */
    size_t dropped;    /* rows of runs the grid no longer has */
} hs_merge_summary;

/* Merge `n` shard stores into `out`. Refuses shards of different sweeps, and (without
 * force) an existing output. When several shards hold a cell, an ok row beats any other,
 * and among rows of the same kind the later finished wins; each case is reported. Returns
 * 0 or -1 (err names the file). */
int hs_store_merge(const char *const *shards, size_t n, const char *out, const hs_merge_opts *o,
                   hs_merge_summary *sum, hs_error *err);

#endif
