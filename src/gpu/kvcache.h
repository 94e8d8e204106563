/* Private to src/gpu: the kvcache probe (KV-cache compression proxy). Its CPU reference is
 * kvcache.c, its CUDA version kvcache.cu; docs/probes.md gives every formula. The
 * compressors are exposed for the tests. */
#ifndef HS_GPU_KVCACHE_H
#define HS_GPU_KVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"

typedef enum hs_kv_method { HS_KV_FP16, HS_KV_KIVI, HS_KV_KVQUANT, HS_KV_FORGE } hs_kv_method;

/* Passkey depths, as in the ptq-bench passkey test: needle at floor(depth * tokens). */
#define HS_KV_NDEPTHS 4
extern const double hs_kv_depths[HS_KV_NDEPTHS];

typedef struct hs_kv_config {
    hs_kv_method method;
    int heads, tokens, head_dim, queries, passkeys;
    uint64_t seed;
    double rope_base;
    int outlier_channels;
    double outlier_scale;
    double logit_std;      /* std of the sampled queries' attention logits */
    double passkey_margin; /* needle logit = best other + margin * std of the others */
    bool keys_pre_rope;    /* keys compressed before the rotary embedding */
    /* kivi, kvquant */
    int k_bits, v_bits, group_size, residual_length;
    /* kvquant */
    int num_outliers, sink_tokens;
    /* forge */
    int chunk_size, min_rank, max_rank;
    double energy_threshold;
} hs_kv_config;

/* What the compressor of one tensor set reports, for the bit accounting. */
typedef struct hs_kv_stats {
    long long rank_sum; /* forge: sum of the chunk ranks */
    long long chunks;   /* forge: number of compressed chunks */
} hs_kv_stats;

/* Compress x = [n x tokens x head_dim] (already rounded to fp16) in place with cfg's method,
 * as keys (is_key) or values, replacing every value by its reconstruction. Returns 0, or -1
 * with err set (allocation or LAPACK failure). */
int hs_kv_compress(const hs_kv_config *cfg, bool is_key, float *x, size_t n, hs_kv_stats *st,
                   hs_error *err);

/* kivi, kvquant: tokens [t0, t1) of each head are quantized (after kvquant's sink tokens,
 * before the fp16 residual window); the others stay fp16. t1 <= t0: nothing is quantized. */
void hs_kv_quant_span(const hs_kv_config *cfg, size_t *t0, size_t *t1);

/* hs_kv_compress on the CPU or, with use_cuda, on the GPU (x stays a host array; an error
 * without CUDA). For the GPU-versus-CPU tests. */
int hs_kv_compress_on(const hs_kv_config *cfg, bool is_key, float *x, size_t n, bool use_cuda,
                      hs_kv_stats *st, hs_error *err);

/* The pieces, for the tests. x is [n x T x d]; tokens [t0, t1) of each head are quantized,
 * the others left as they are. keep (may be NULL) marks values kept exact. */
void hs_kv_quant_per_channel(float *x, const unsigned char *keep, size_t n, size_t T, size_t d,
                             size_t t0, size_t t1, size_t group, int bits);
void hs_kv_quant_per_token(float *x, const unsigned char *keep, size_t n, size_t T, size_t d,
                           size_t t0, size_t t1, size_t group, int bits);
/* keep[t * d + c] = 1 for the k largest |x| of each token vector in [t0, t1) (ties: the
 * lower channel), 0 elsewhere. keep has n * T * d bytes. */
void hs_kv_outlier_mask(const float *x, unsigned char *keep, size_t n, size_t T, size_t d,
                        size_t t0, size_t t1, int k);
/* forge on [n x T x d]: chunks of `chunk` tokens, the tail left as is. */
int hs_kv_forge(float *x, size_t n, size_t T, size_t d, const hs_kv_config *cfg, hs_kv_stats *st,
                hs_error *err);

/* Storage of one compressed tensor set [n x T x d], in bits, counting scales, zeros,
 * outliers (value and index), fp16 tokens, and forge's factors and ranks. */
double hs_kv_storage_bits(const hs_kv_config *cfg, bool is_key, size_t n, const hs_kv_stats *st);

/* Rotary embedding (HF rotate_half): cs holds cos then sin, each [npos x d/2], for
 * theta_i = base^(-2i/d). */
float *hs_kv_rope_table(size_t npos, size_t d, double base);
void hs_kv_rope_apply(float *x, size_t d, const float *cs, size_t npos, size_t pos, bool inverse);

/* The probe's inputs, built on the CPU by hs_kv_data_build, and what a backend (the CPU
 * reference or CUDA) returns. */
typedef struct hs_kv_data {
    size_t H, T, d, Q, P;
    float *k_in;   /* [H x T x d] fp16-rounded keys in the method's space (pre or post RoPE) */
    float *k_ref;  /* [H x T x d] post-RoPE fp32 keys */
    float *v_in;   /* [H x T x d] fp16-rounded values */
    float *v_ref;  /* [H x T x d] */
    float *q;      /* [H x Q x d] post-RoPE queries, scaled */
    float *rope;   /* [T x d] cos/sin table for positions 0..T-1 (see hs_kv_rope_table) */
    float *pk_in;  /* [P x T x d] passkey haystacks with their needle, method's space */
    float *pk_q;   /* [P x d] one query per trial */
    int *pk_pos;   /* [P] needle position */
    int *pk_depth; /* [P] index into hs_kv_depths */
} hs_kv_data;

typedef struct hs_kv_raw {
    double k_err2, k_ref2, v_err2, v_ref2, o_err2, o_ref2, kl_sum;
    long long rows;
    int pk_correct[HS_KV_NDEPTHS], pk_total[HS_KV_NDEPTHS];
    hs_kv_stats k_stats, v_stats, pk_stats;
    double compress_s;
    char device_name[96];
} hs_kv_raw;

int hs_kv_data_build(const hs_kv_config *cfg, hs_kv_data *data, hs_error *err);
void hs_kv_data_free(hs_kv_data *data);
int hs_kv_run_cpu(const hs_kv_config *cfg, const hs_kv_data *data, hs_kv_raw *raw, hs_error *err);

/* The probe entry point (probes.h's hs_probe_fn). */
int hs_probe_kvcache(json_object *params, bool use_cuda, json_object *result, hs_error *err);

#endif
