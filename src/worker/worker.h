/* A worker rank (DESIGN §6): binds its GPU, says hello to the master, then runs one task at
 * a time until told to stop, polling MPI and its child together with back-off so that an
 * idle rank does not burn a core. */
#ifndef HS_WORKER_H
#define HS_WORKER_H

#include <signal.h>
#include <stdbool.h>

#include <mpi.h>

#include "error.h"

typedef struct hs_worker_opts {
    int gpus_per_node; /* -1: discover */
    bool share_gpus;
    const char *self_exe;          /* the hypersweep binary, for probe runs */
    int local_rank, local_workers; /* from hs_worker_locality */
} hs_worker_opts;

/* Collective over every rank of comm: this rank's position among the worker ranks (all
 * ranks but 0) of its node. Rank 0 gets -1 / 0. */
int hs_worker_locality(MPI_Comm comm, int *local_rank, int *local_workers, hs_error *err);

/* The worker loop. `stop` is set by a signal handler: the running task is cancelled and
 * reported as interrupted. Returns 0, or -1 (err) on an MPI or protocol failure. */
int hs_worker_main(MPI_Comm comm, const hs_worker_opts *opts, volatile sig_atomic_t *stop,
                   hs_error *err);

#endif
