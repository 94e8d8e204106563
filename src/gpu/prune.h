/* Private to src/gpu: the prune probe, a calibration-budget pruning proxy (docs/probes.md).
 *
 * A stack of pre-norm residual MLP blocks with a readout head; calibration sequences whose
 * tokens are correlated in time; importance from the calibration statistics; a pruning mask
 * by global, per-layer or per-block allocation; fidelity of the pruned model on held-out
 * sequences. The heavy parts (forward, backward, statistics) sit behind prune_backend_ops,
 * with a CBLAS implementation (prune_cpu.c) and a cuBLAS one (prune.cu); the rest is shared
 * host code, so both devices rank and allocate identically. */
#ifndef HS_GPU_PRUNE_H
#define HS_GPU_PRUNE_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

/* error.h is a C header without linkage guards; prune.cu includes this file too. */
#ifdef __cplusplus
extern "C" {
#endif

#include "error.h"

enum { PRUNE_RELU = 0, PRUNE_GELU = 1 };

/* The probe's entry point (an hs_probe_fn, see probes.h). */
int prune_probe_run(json_object *params, bool use_cuda, json_object *result, hs_error *err);

#define PRUNE_MAX_BLOCKS 16
#define PRUNE_MAX_D      256 /* hidden size */
#define PRUNE_MAX_VOCAB  1024
#define PRUNE_MAX_LAYERS (2 * PRUNE_MAX_BLOCKS)

/* Layer 2b is block b's up-projection W1 (f x d), layer 2b+1 its down-projection W2
 * (d x f); row-major, rows are outputs. The head R (vocab x d) is never pruned. */
typedef struct prune_model {
    int nblocks, d, f, vocab;
    int act; /* PRUNE_RELU or PRUNE_GELU */
    float *w[PRUNE_MAX_LAYERS];
    float *head;
} prune_model;

static inline int prune_nlayers(const prune_model *m)
{
    return 2 * m->nblocks;
}
static inline int prune_rows(const prune_model *m, int l)
{
    return l % 2 ? m->d : m->f;
}
static inline int prune_cols(const prune_model *m, int l)
{
    return l % 2 ? m->f : m->d;
}
static inline long prune_size(const prune_model *m, int l)
{
    return (long)prune_rows(m, l) * prune_cols(m, l);
}

/* Allocate a model's arrays (zeroed). */
int prune_model_alloc(prune_model *m, int nblocks, int d, int f, int vocab, int act, hs_error *err);
void prune_model_free(prune_model *m);

/* The token generator. Sequence s starts with the fixed token bos; then, for t >= 1,
 *   e_0 = 0,  e_t = rho e_{t-1} + sqrt(1 - rho^2) eps_t,  eps_t ~ N(0, I)
 *   x_t[j] = scale_j (mean_j + o_s[j] + e_t[j]),  o_s ~ N(0, offset_sd^2 I) once per sequence,
 * except on the position channels pos[k], which carry x_t = pos_amp min(1, t / (8 4^k)):
 * features that only long sequences show in full. */
#define PRUNE_MAX_POS 4
typedef struct prune_data {
    int d;
    float rho, offset_sd, pos_amp;
    int npos, pos[PRUNE_MAX_POS];
    float *scale, *mean, *bos; /* d each */
    uint64_t key;
} prune_data;

int prune_data_alloc(prune_data *g, int d, hs_error *err);
void prune_data_free(prune_data *g);
/* Sequence `index` of `stream` (calibration streams are seeds, held-out data has its own),
 * `len` tokens into x (len x d). The same (stream, index) always gives the same tokens, and
 * a shorter sequence is a prefix of a longer one. */
void prune_data_sequence(const prune_data *g, uint64_t stream, uint64_t index, int len, float *x);

/* The held-out stream; calibration streams are seeds (< 2^53). */
#define PRUNE_HELD_OUT UINT64_MAX

/* A named model and data generator: "llama", "qwen", "mistral". */
int prune_profile_build(const char *name, prune_model *m, prune_data *g, hs_error *err);

enum { PRUNE_WANT_GRAD = 1, PRUNE_WANT_FISHER = 2 };

/* Calibration statistics, per layer l (grad, grad_sq, fisher shaped like its weights).
 * g_t is the gradient of token t's loss, g_s = mean of g_t over sequence s. */
typedef struct prune_stats {
    float *grad[PRUNE_MAX_LAYERS];    /* mean over tokens of g_t (PRUNE_WANT_GRAD) */
    float *grad_sq[PRUNE_MAX_LAYERS]; /* mean over sequences of g_s^2 (PRUNE_WANT_GRAD) */
    float *fisher[PRUNE_MAX_LAYERS];  /* mean over tokens of g_t^2 (PRUNE_WANT_FISHER) */
    double *in_sq[PRUNE_MAX_LAYERS];  /* mean squared input of each column (always) */
    double loss;                      /* mean cross-entropy against the dense argmax labels */
} prune_stats;

/* Zeroed statistics for the PRUNE_WANT_* bits in want. */
int prune_stats_alloc(prune_stats *s, const prune_model *m, unsigned want, hs_error *err);
void prune_stats_free(prune_stats *s);
/* Copy what both have (arrays that are NULL in either are skipped), and the loss. */
void prune_stats_copy(prune_stats *dst, const prune_stats *src, const prune_model *m);

/* The heavy computation on one device. Usage: create (dense weights loaded), then any
 * number of calibrate calls, stats, then set_weights / forward as needed. Each
 * implementation has its own struct behind the opaque pointer. */
typedef struct prune_backend prune_backend;
typedef struct prune_backend_ops {
    const char *device; /* "cpu" or "cuda" */
    /* max_tokens: the most tokens of any later calibrate or forward call */
    prune_backend *(*create)(const prune_model *m, int max_tokens, unsigned want, hs_error *err);
    /* Replace the weights of every layer (the head stays). */
    int (*set_weights)(prune_backend *b, float *const *w, hs_error *err);
    /* Add nseq calibration sequences of seq_len tokens (x: nseq * seq_len x d) to the
     * statistics, each sequence weighing 1 / total_seqs. */
    int (*calibrate)(prune_backend *b, const float *x, int nseq, int seq_len, long total_seqs,
                     hs_error *err);
    /* Copy the accumulated statistics to s (allocated by prune_stats_alloc, same want). */
    int (*stats)(prune_backend *b, prune_stats *s, hs_error *err);
    /* y (ntok x d): the final hidden state; logits (ntok x vocab). */
    int (*forward)(prune_backend *b, const float *x, int ntok, float *y, float *logits,
                   hs_error *err);
    /* "" when there is nothing better to say than the device kind */
    const char *(*device_name)(prune_backend *b);
    void (*destroy)(prune_backend *b);
} prune_backend_ops;

extern const prune_backend_ops prune_cpu_ops;
#ifdef HS_GPU_HAVE_CUDA
extern const prune_backend_ops prune_cuda_ops;
#endif
/* "cpu", or "cuda" in a build with CUDA; NULL otherwise. */
const prune_backend_ops *prune_backend_find(const char *device);

/* Backends see at most this many tokens per call (whole sequences; one longer sequence
 * alone). prune_chunk_seqs: how many sequences of seq_len make one call. */
#define PRUNE_CHUNK_TOKENS 2048
int prune_chunk_seqs(int seq_len);

/* Calibrate on sequences 0 .. nsamples-1 of stream seed, chunk by chunk; x has room for
 * prune_chunk_seqs(seq_len) * seq_len tokens. */
int prune_calibrate_all(const prune_backend_ops *ops, prune_backend *be, const prune_data *g,
                        int seq_len, long nsamples, uint64_t seed, float *x, hs_error *err);

/* ---- benchmark (bench/gpu/bench_prune) ---------------------------------------------- */

typedef struct prune_bench_row {
    char what[64];
    double seconds; /* per call */
    double bytes;   /* memory traffic per call, for the bandwidth-bound kernels (else 0) */
    double flops;   /* per call, for the GEMMs (else 0) */
} prune_bench_row;

/* Time the CUDA backend's kernels on GPU 0 (streaming sizes, so that the figures are about
 * memory, not caches), its GEMMs at the probe's shapes, and one calibration chunk of
 * `profile`. Fills at most max rows; returns their number and the device's peak memory
 * bandwidth (GB/s, from its clock and bus width), or -1 (a build without CUDA, no GPU). */
int prune_cuda_bench(const char *profile, prune_bench_row *rows, int max, double *peak_gbs,
                     hs_error *err);

/* Gradient diagnostics over layers, from s->grad: max / min of the mean |g| and of the norm
 * |g|_F. A layer whose gradient is exactly zero makes a ratio Infinity (0/0 is NaN): these
 * say something, so they are reported, not hidden. */
void prune_grad_diagnostics(const prune_model *m, const prune_stats *s, double *mean_ratio,
                            double *norm_ratio);

/* ---- importance and allocation (host code, shared) ---------------------------------- */

typedef enum prune_importance {
    PRUNE_MAGNITUDE = 0, /* |w| */
    PRUNE_WANDA,         /* |w_ij| sqrt(in_sq_j) */
    PRUNE_TAYLOR,        /* |w g| */
    PRUNE_TAYLOR2,       /* |w g - w^2 F / 2| */
} prune_importance;

typedef enum prune_alloc {
    PRUNE_GLOBAL = 0, /* one ranking over every layer: rates differ by layer */
    PRUNE_LAYERWISE,  /* the same rate in every layer */
    PRUNE_BLOCKWISE,  /* the same rate in every MLP block (its two layers ranked together) */
} prune_alloc;

/* What each importance needs from calibration (PRUNE_WANT_* bits); magnitude needs none and
 * wanda only the inputs (in_sq is always there). */
unsigned prune_importance_wants(prune_importance imp);

/* score[l] (prune_size each) from the weights and the statistics. */
void prune_importance_compute(const prune_model *m, const prune_stats *s, prune_importance imp,
                              float *const *score);

/* Prune round(sparsity * total) weights (round half to even), lowest scores first (ties:
 * lower layer, then lower index). Per group (all layers, each layer, each block) the count
 * is sparsity * size rounded down or up by largest remainder, so the total is exact and
 * groups of equal size differ by at most one weight. keep[l][i] = 0 for pruned weights.
 * Returns 0, or -1 if a score is not finite. */
int prune_allocate(const prune_model *m, float *const *score, prune_alloc alloc, double sparsity,
                   unsigned char *const *keep, hs_error *err);

#ifdef __cplusplus
}
#endif

#endif
