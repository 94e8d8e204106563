/* The prune probe: a calibration-budget pruning proxy shaped like a Taylor-pruning study
 * (taylor_seq_len x taylor_num_samples). Every formula is in docs/probes.md ("prune"). */
#include "prune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "probes.h"
#include "util.h"

/* ---- model, data and statistics storage --------------------------------------------- */

int prune_model_alloc(prune_model *m, int nblocks, int d, int f, int vocab, int act, hs_error *err)
{
    memset(m, 0, sizeof *m);
    if (nblocks < 1 || nblocks > PRUNE_MAX_BLOCKS || d < 1 || d > PRUNE_MAX_D || f < 1 ||
        vocab < 2 || vocab > PRUNE_MAX_VOCAB)
        return hs_err(err, "prune model shape %d blocks, d %d, f %d, vocab %d is invalid", nblocks,
                      d, f, vocab);
    m->nblocks = nblocks;
    m->d = d;
    m->f = f;
    m->vocab = vocab;
    m->act = act;
    bool fail = !(m->head = calloc((size_t)vocab * d, sizeof(float)));
    for (int l = 0; l < prune_nlayers(m) && !fail; l++)
        fail = !(m->w[l] = calloc((size_t)prune_size(m, l), sizeof(float)));
    if (fail) {
        prune_model_free(m);
        return hs_err(err, "out of memory for the prune model");
    }
    return 0;
}

void prune_model_free(prune_model *m)
{
    for (int l = 0; l < PRUNE_MAX_LAYERS; l++) {
        free(m->w[l]);
        m->w[l] = NULL;
    }
    free(m->head);
    m->head = NULL;
}

int prune_data_alloc(prune_data *g, int d, hs_error *err)
{
    memset(g, 0, sizeof *g);
    if (d < 1 || d > PRUNE_MAX_D)
        return hs_err(err, "prune data width %d is out of range [1, %d]", d, PRUNE_MAX_D);
    g->d = d;
    g->scale = calloc((size_t)d, sizeof(float));
    g->mean = calloc((size_t)d, sizeof(float));
    g->bos = calloc((size_t)d, sizeof(float));
    if (!g->scale || !g->mean || !g->bos) {
        prune_data_free(g);
        return hs_err(err, "out of memory for the prune data generator");
    }
    return 0;
}

void prune_data_free(prune_data *g)
{
    free(g->scale);
    free(g->mean);
    free(g->bos);
    g->scale = g->mean = g->bos = NULL;
}

int prune_stats_alloc(prune_stats *s, const prune_model *m, unsigned want, hs_error *err)
{
    memset(s, 0, sizeof *s);
    bool fail = false;
    for (int l = 0; l < prune_nlayers(m) && !fail; l++) {
        size_t size = (size_t)prune_size(m, l);
        fail = !(s->in_sq[l] = calloc((size_t)prune_cols(m, l), sizeof(double))) ||
               ((want & PRUNE_WANT_GRAD) && !(s->grad[l] = calloc(size, sizeof(float)))) ||
               ((want & PRUNE_WANT_FISHER) && !(s->fisher[l] = calloc(size, sizeof(float)))) ||
               ((want & PRUNE_WANT_GRAD) && !(s->grad_sq[l] = calloc(size, sizeof(float))));
    }
    if (fail) {
        prune_stats_free(s);
        return hs_err(err, "out of memory for the calibration statistics");
    }
    return 0;
}

void prune_stats_free(prune_stats *s)
{
    for (int l = 0; l < PRUNE_MAX_LAYERS; l++) {
        free(s->grad[l]);
        free(s->fisher[l]);
        free(s->grad_sq[l]);
        free(s->in_sq[l]);
        s->grad[l] = s->fisher[l] = s->grad_sq[l] = NULL;
        s->in_sq[l] = NULL;
    }
}

void prune_stats_copy(prune_stats *dst, const prune_stats *src, const prune_model *m)
{
    for (int l = 0; l < prune_nlayers(m); l++) {
        size_t size = sizeof(float) * (size_t)prune_size(m, l);
        if (dst->grad[l] && src->grad[l])
            memcpy(dst->grad[l], src->grad[l], size);
        if (dst->grad_sq[l] && src->grad_sq[l])
            memcpy(dst->grad_sq[l], src->grad_sq[l], size);
        if (dst->fisher[l] && src->fisher[l])
            memcpy(dst->fisher[l], src->fisher[l], size);
        if (dst->in_sq[l] && src->in_sq[l])
            memcpy(dst->in_sq[l], src->in_sq[l], sizeof(double) * (size_t)prune_cols(m, l));
    }
    dst->loss = src->loss;
}

/* ---- random numbers: splitmix64 streams, Box-Muller normals ------------------------- */

typedef struct rng {
    uint64_t state;
    double spare;
    bool has_spare;
} rng;

static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void rng_seed(rng *r, uint64_t a, uint64_t b, uint64_t c)
{
    r->state = mix64(mix64(mix64(a + 0x9e3779b97f4a7c15ULL) ^ b) ^ c);
    r->has_spare = false;
}

static uint64_t rng_next(rng *r)
{
    r->state += 0x9e3779b97f4a7c15ULL;
    return mix64(r->state);
}

/* uniform in (0, 1) */
static double rng_uniform(rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(rng *r)
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u = rng_uniform(r), v = rng_uniform(r);
    double rad = sqrt(-2.0 * log(u)), ang = 6.283185307179586 * v;
    r->spare = rad * sin(ang);
    r->has_spare = true;
    return rad * cos(ang);
}

void prune_data_sequence(const prune_data *g, uint64_t stream, uint64_t index, int len, float *x)
{
    int d = g->d;
    rng r;
    rng_seed(&r, g->key, stream, index);
    float off[PRUNE_MAX_D], e[PRUNE_MAX_D];
    for (int j = 0; j < d; j++) {
        off[j] = g->offset_sd * (float)rng_normal(&r);
        e[j] = 0;
    }
    if (len > 0)
        memcpy(x, g->bos, sizeof(float) * (size_t)d);
    float innov = sqrtf(1.0f - g->rho * g->rho);
    for (int t = 1; t < len; t++) {
        float *xt = x + (size_t)t * d;
        for (int j = 0; j < d; j++) {
            e[j] = g->rho * e[j] + innov * (float)rng_normal(&r);
            xt[j] = g->scale[j] * (g->mean[j] + off[j] + e[j]);
        }
        for (int k = 0; k < g->npos; k++)
            xt[g->pos[k]] = g->pos_amp * fminf(1.0f, (float)t / (float)(8 << (2 * k)));
    }
}

/* ---- profiles ------------------------------------------------------------------------ */

/* A "pretrained" model and its data: fixed per profile (the seed parameter only draws the
 * calibration sequences). up/down scale each block's W1/W2, so that layers differ in weight
 * magnitude and in how much they matter. */
typedef struct profile {
    const char *name;
    int nblocks, d, f, vocab, act;
    int noutliers;
    float outlier_scale; /* input scale of the outlier channels (the others have 1) */
    int npos;            /* position channels */
    float pos_amp;
    float rho, offset_sd, mean_sd;
    float bos_scale; /* the first token: this much on the outlier channels */
    float head_scale;
    float up[PRUNE_MAX_BLOCKS], down[PRUNE_MAX_BLOCKS];
    /* bit b: block b is a long-context block: W1 reads the position channels long_gain
     * times more and every other channel LONG_OTHER times as much */
    unsigned long_blocks;
    float long_gain;
} profile;

#define LONG_OTHER 0.25f

static const profile profiles[] = {
    {
        .name = "llama",
        .nblocks = 8,
        .d = 48,
        .f = 128,
        .vocab = 64,
        .act = PRUNE_GELU,
        .noutliers = 2,
        .outlier_scale = 6.0f,
        .npos = 3,
        .pos_amp = 3.0f,
        .rho = 0.90f,
        .offset_sd = 1.5f,
        .mean_sd = 0.3f,
        .bos_scale = 20.0f,
        .head_scale = 4.0f,
        .up = { 1, 1, 1, 1, 1, 1, 1, 1 },
        .down = { 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 1.1f },
        .long_blocks = 0x24,
        .long_gain = 6.0f,
    },
    {
        .name = "qwen",
        .nblocks = 6,
        .d = 64,
        .f = 128,
        .vocab = 64,
        .act = PRUNE_RELU,
        .noutliers = 4,
        .outlier_scale = 4.0f,
        .npos = 3,
        .pos_amp = 3.0f,
        .rho = 0.80f,
        .offset_sd = 1.5f,
        .mean_sd = 0.3f,
        .bos_scale = 3.0f,
        .head_scale = 4.0f,
        .up = { 1, 1, 1, 1, 1, 1 },
        .down = { 0.8f, 0.8f, 0.8f, 0.8f, 0.8f, 0.8f },
    },
    {
        .name = "mistral",
        .nblocks = 10,
        .d = 40,
        .f = 96,
        .vocab = 64,
        .act = PRUNE_GELU,
        .noutliers = 1,
        .outlier_scale = 12.0f,
        .npos = 3,
        .pos_amp = 3.0f,
        .rho = 0.95f,
        .offset_sd = 1.5f,
        .mean_sd = 0.3f,
        .bos_scale = 3.0f,
        .head_scale = 4.0f,
        .up = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
        .down = { 1.2f, 0.5f, 0.4f, 0.4f, 0.4f, 0.4f, 0.4f, 0.5f, 0.8f, 1.2f },
        .long_blocks = 0x0a8,
        .long_gain = 6.0f,
    },
};

static const char *const profile_names[] = { "llama", "qwen", "mistral", NULL };

/* n distinct channels of kind 0 (ordinary), marked `kind` */
static void pick_channels(rng *r, char *kinds, int d, int n, char kind, int *out)
{
    for (int k = 0; k < n;) {
        int j = (int)(rng_next(r) % (uint64_t)d);
        if (kinds[j] == 0) {
            kinds[j] = kind;
            if (out)
                out[k] = j;
            k++;
        }
    }
}

int prune_profile_build(const char *name, prune_model *m, prune_data *g, hs_error *err)
{
    const profile *p = NULL;
    uint64_t key = 0;
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (strcmp(profiles[i].name, name) == 0) {
            p = &profiles[i];
            key = 0x5052554e45000000ULL + i; /* "PRUNE" + index */
        }
    if (!p)
        return hs_err(err, "unknown prune profile '%s'", name);
    if (prune_model_alloc(m, p->nblocks, p->d, p->f, p->vocab, p->act, err) < 0)
        return -1;
    if (prune_data_alloc(g, p->d, err) < 0) {
        prune_model_free(m);
        return -1;
    }
    int d = p->d, f = p->f;
    rng r;
    rng_seed(&r, key, 0, 0);
    g->key = key;
    g->rho = p->rho;
    g->offset_sd = p->offset_sd;
    g->pos_amp = p->pos_amp;
    g->npos = p->npos;
    char kinds[PRUNE_MAX_D] = { 0 };
    pick_channels(&r, kinds, d, p->noutliers, 1, NULL);
    pick_channels(&r, kinds, d, p->npos, 2, g->pos);
    for (int j = 0; j < d; j++) {
        g->scale[j] = kinds[j] == 1 ? p->outlier_scale : 1.0f;
        g->mean[j] = p->mean_sd * (float)rng_normal(&r);
        float b = kinds[j] == 1 ? p->bos_scale : (float)rng_normal(&r);
        g->bos[j] = kinds[j] == 2 ? 0.0f : g->scale[j] * (g->mean[j] + b);
    }
    /* W1's columns and the head's are damped on the outlier channels, as an LLM's norm
     * weights damp its massive activations: their weights are small, their inputs large. */
    for (int k = 0; k < p->nblocks; k++) {
        float *w1 = m->w[2 * k], *w2 = m->w[2 * k + 1];
        for (int i = 0; i < f; i++)
            for (int j = 0; j < d; j++)
                w1[(size_t)i * d + j] =
                    p->up[k] * (float)rng_normal(&r) / sqrtf((float)d) / g->scale[j] *
                    ((p->long_blocks >> k & 1) ? (kinds[j] == 2 ? p->long_gain : LONG_OTHER)
                                               : 1.0f);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < f; j++)
                w2[(size_t)i * f + j] = p->down[k] * (float)rng_normal(&r) / sqrtf((float)f);
    }
    for (int v = 0; v < p->vocab; v++)
        for (int j = 0; j < d; j++)
            m->head[(size_t)v * d + j] =
                p->head_scale * (float)rng_normal(&r) / sqrtf((float)d) / g->scale[j];
    return 0;
}

/* ---- importance and allocation ------------------------------------------------------- */

unsigned prune_importance_wants(prune_importance imp)
{
    switch (imp) {
    case PRUNE_TAYLOR:
        return PRUNE_WANT_GRAD;
    case PRUNE_TAYLOR2:
        return PRUNE_WANT_GRAD | PRUNE_WANT_FISHER;
    default:
        return 0;
    }
}

void prune_importance_compute(const prune_model *m, const prune_stats *s, prune_importance imp,
                              float *const *score)
{
    for (int l = 0; l < prune_nlayers(m); l++) {
        int rows = prune_rows(m, l), cols = prune_cols(m, l);
        const float *w = m->w[l];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                size_t k = (size_t)i * cols + j;
                float v = fabsf(w[k]);
                if (imp == PRUNE_WANDA) {
                    v *= (float)sqrt(s->in_sq[l][j]);
                } else if (imp == PRUNE_TAYLOR) {
                    v *= sqrtf(s->grad_sq[l][k]);
                } else if (imp == PRUNE_TAYLOR2) {
                    /* mean_s (w g_s - c)^2 = w^2 mean_s g_s^2 - 2 w g c + c^2 */
                    float c = 0.5f * w[k] * w[k] * s->fisher[l][k];
                    float msq =
                        w[k] * w[k] * s->grad_sq[l][k] - 2.0f * w[k] * s->grad[l][k] * c + c * c;
                    v = sqrtf(msq > 0.0f ? msq : 0.0f);
                }
                score[l][k] = v;
            }
    }
}

typedef struct ranked {
    float score;
    int layer;
    int index;
} ranked;

static int ranked_cmp(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score < b->score ? -1 : 1;
    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

int prune_allocate(const prune_model *m, float *const *score, prune_alloc alloc, double sparsity,
                   unsigned char *const *keep, hs_error *err)
{
    int nl = prune_nlayers(m);
    /* groups of layers that share one ranking */
    int ngroups = alloc == PRUNE_GLOBAL ? 1 : alloc == PRUNE_LAYERWISE ? nl : m->nblocks;
    int span = nl / ngroups;
    long total = 0, size[PRUNE_MAX_LAYERS], quota[PRUNE_MAX_LAYERS];
    for (int l = 0; l < nl; l++) {
        total += prune_size(m, l);
        for (long i = 0; i < prune_size(m, l); i++) {
            if (!isfinite(score[l][i]))
                return hs_err(err, "importance of weight %ld of layer %d is %g", i, l,
                              (double)score[l][i]);
            keep[l][i] = 1;
        }
    }
    /* largest remainder: floors first, then one more for the largest fractions */
    long target = (long)rint(sparsity * (double)total), given = 0;
    double frac[PRUNE_MAX_LAYERS];
    for (int gi = 0; gi < ngroups; gi++) {
        size[gi] = 0;
        for (int l = gi * span; l < (gi + 1) * span; l++)
            size[gi] += prune_size(m, l);
        double q = sparsity * (double)size[gi];
        quota[gi] = (long)floor(q);
        frac[gi] = q - floor(q);
        given += quota[gi];
    }
    while (given < target) {
        int best = -1;
        for (int gi = 0; gi < ngroups; gi++)
            if (quota[gi] < size[gi] && (best < 0 || frac[gi] > frac[best]))
                best = gi;
        if (best < 0)
            break;
        quota[best]++;
        frac[best] = -1;
        given++;
    }
    ranked *items = malloc(sizeof *items * (size_t)total);
    if (!items)
        return hs_err(err, "out of memory for ranking %ld weights", total);
    for (int gi = 0; gi < ngroups; gi++) {
        long n = 0;
        for (int l = gi * span; l < (gi + 1) * span; l++)
            for (long i = 0; i < prune_size(m, l); i++)
                items[n++] = (ranked){ score[l][i], l, (int)i };
        qsort(items, (size_t)n, sizeof *items, ranked_cmp);
        for (long k = 0; k < quota[gi]; k++)
            keep[items[k].layer][items[k].index] = 0;
    }
    free(items);
    return 0;
}

/* ---- metrics ------------------------------------------------------------------------- */

typedef struct fidelity {
    double rel_err, cosine, top1, ppl, ppl_dense, kl;
} fidelity;

static int argmax(const float *z, int n)
{
    int c = 0;
    for (int i = 1; i < n; i++)
        if (z[i] > z[c])
            c = i;
    return c;
}

/* log-softmax of z (double) into out */
static void log_softmax(const float *z, int n, double *out)
{
    double zmax = z[argmax(z, n)], sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)z[i] - zmax);
    double lse = zmax + log(sum);
    for (int i = 0; i < n; i++)
        out[i] = (double)z[i] - lse;
}

static void measure(const float *yd, const float *zd, const float *yp, const float *zp, long T,
                    int d, int V, fidelity *out)
{
    double diff = 0, norm = 0, cos_sum = 0, ce = 0, ent = 0;
    long agree = 0;
    double lpd[PRUNE_MAX_VOCAB], lpp[PRUNE_MAX_VOCAB];
    for (long t = 0; t < T; t++) {
        const float *a = yd + t * d, *b = yp + t * d;
        double ab = 0, aa = 0, bb = 0;
        for (int j = 0; j < d; j++) {
            double e = (double)b[j] - a[j];
            diff += e * e;
            ab += (double)a[j] * b[j];
            aa += (double)a[j] * a[j];
            bb += (double)b[j] * b[j];
        }
        norm += aa;
        cos_sum += aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
        const float *za = zd + t * V, *zb = zp + t * V;
        agree += argmax(za, V) == argmax(zb, V);
        log_softmax(za, V, lpd);
        log_softmax(zb, V, lpp);
        for (int v = 0; v < V; v++) {
            double p = exp(lpd[v]);
            ce -= p * lpp[v];
            ent -= p * lpd[v];
        }
    }
    out->rel_err = sqrt(diff / norm);
    out->cosine = cos_sum / (double)T;
    out->top1 = (double)agree / (double)T;
    out->ppl = exp(ce / (double)T);
    out->ppl_dense = exp(ent / (double)T);
    out->kl = (ce - ent) / (double)T;
}

/* ---- the probe ----------------------------------------------------------------------- */

#define MAX_CALIB_TOKENS (1L << 22)

static const char *const method_names[] = { "global", "taylor", "layerwise", "blockwise", NULL };
static const char *const importance_names[] = { "magnitude", "wanda", "taylor", "taylor2", NULL };

static void add(json_object *result, const char *key, double v)
{
    json_object_object_add(result, key, json_object_new_double(v));
}

const prune_backend_ops *prune_backend_find(const char *device)
{
    if (strcmp(device, "cpu") == 0)
        return &prune_cpu_ops;
#ifdef HS_GPU_HAVE_CUDA
    if (strcmp(device, "cuda") == 0)
        return &prune_cuda_ops;
#endif
    return NULL;
}

#ifndef HS_GPU_HAVE_CUDA
int prune_cuda_bench(const char *name, prune_bench_row *rows, int max, double *peak_gbs,
                     hs_error *err)
{
    (void)name;
    (void)rows;
    (void)max;
    *peak_gbs = 0;
    return hs_err(err, "this hypersweep was built without CUDA: no GPU kernels to time");
}
#endif

static double ratio(const double *v, int n)
{
    double lo = v[0], hi = v[0];
    for (int i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    return hi / lo;
}

void prune_grad_diagnostics(const prune_model *m, const prune_stats *s, double *mean_ratio,
                            double *norm_ratio)
{
    double mean[PRUNE_MAX_LAYERS] = { 0 }, norm[PRUNE_MAX_LAYERS] = { 0 };
    for (int l = 0; l < prune_nlayers(m); l++) {
        long n = prune_size(m, l);
        double sa = 0, sq = 0;
        for (long i = 0; i < n; i++) {
            double g = s->grad[l][i];
            sa += fabs(g);
            sq += g * g;
        }
        mean[l] = sa / (double)n;
        norm[l] = sqrt(sq);
    }
    *mean_ratio = ratio(mean, prune_nlayers(m));
    *norm_ratio = ratio(norm, prune_nlayers(m));
}

int prune_chunk_seqs(int seq_len)
{
    return seq_len >= PRUNE_CHUNK_TOKENS ? 1 : PRUNE_CHUNK_TOKENS / seq_len;
}

int prune_calibrate_all(const prune_backend_ops *ops, prune_backend *be, const prune_data *g,
                        int seq_len, long nsamples, uint64_t seed, float *x, hs_error *err)
{
    int chunk = prune_chunk_seqs(seq_len);
    for (long s0 = 0; s0 < nsamples; s0 += chunk) {
        int ns = nsamples - s0 < chunk ? (int)(nsamples - s0) : chunk;
        for (int s = 0; s < ns; s++)
            prune_data_sequence(g, seed, (uint64_t)(s0 + s), seq_len,
                                x + (size_t)s * seq_len * g->d);
        if (ops->calibrate(be, x, ns, seq_len, nsamples, err) < 0)
            return -1;
    }
    return 0;
}

/* y, z (T x d, T x vocab): the backend's forward over the held-out sequences */
static int eval_forward(const prune_backend_ops *ops, prune_backend *be, const prune_data *g,
                        int nseq, int len, float *x, float *y, float *z, int V, hs_error *err)
{
    int chunk = prune_chunk_seqs(len), d = g->d;
    for (int s0 = 0; s0 < nseq; s0 += chunk) {
        int ns = nseq - s0 < chunk ? nseq - s0 : chunk;
        for (int s = 0; s < ns; s++)
            prune_data_sequence(g, PRUNE_HELD_OUT, (uint64_t)(s0 + s), len,
                                x + (size_t)s * len * d);
        size_t off = (size_t)s0 * len;
        if (ops->forward(be, x, ns * len, y + off * d, z + off * V, err) < 0)
            return -1;
    }
    return 0;
}

int prune_probe_run(json_object *params, bool use_cuda, json_object *result, hs_error *err)
{
    hs_params p;
    const char *profile_name, *method, *importance;
    double sparsity;
    long long seq_len, nsamples, seed, eval_len, eval_nseq;
    hs_params_init(&p, params);
    if (hs_params_string(&p, "profile", "llama", profile_names, &profile_name, err) < 0 ||
        hs_params_string(&p, "method", "global", method_names, &method, err) < 0 ||
        hs_params_string(&p, "importance", "taylor", importance_names, &importance, err) < 0 ||
        hs_params_double(&p, "sparsity", 0.5, 0.0, 0.99, &sparsity, err) < 0 ||
        hs_params_int(&p, "taylor_seq_len", 32, 1, 8192, &seq_len, err) < 0 ||
        hs_params_int(&p, "taylor_num_samples", 256, 1, 65536, &nsamples, err) < 0 ||
        hs_params_int(&p, "seed", 0, 0, (1LL << 53), &seed, err) < 0 ||
        hs_params_int(&p, "eval_seq_len", 256, 1, 8192, &eval_len, err) < 0 ||
        hs_params_int(&p, "eval_num_samples", 32, 1, 4096, &eval_nseq, err) < 0 ||
        hs_params_check_unused(&p, "prune", err) < 0)
        return -1;
    if (seq_len * nsamples > MAX_CALIB_TOKENS)
        return hs_params_invalid(err,
                                 "taylor_seq_len x taylor_num_samples = %lld x %lld = %lld "
                                 "calibration tokens exceeds the limit of %ld",
                                 seq_len, nsamples, seq_len * nsamples, MAX_CALIB_TOKENS);
    if (eval_len * eval_nseq > MAX_CALIB_TOKENS)
        return hs_params_invalid(err,
                                 "eval_seq_len x eval_num_samples = %lld tokens exceeds the "
                                 "limit of %ld",
                                 eval_len * eval_nseq, MAX_CALIB_TOKENS);
    prune_alloc alloc = strcmp(method, "layerwise") == 0   ? PRUNE_LAYERWISE
                        : strcmp(method, "blockwise") == 0 ? PRUNE_BLOCKWISE
                                                           : PRUNE_GLOBAL;
    prune_importance imp = PRUNE_TAYLOR;
    for (int i = 0; importance_names[i]; i++)
        if (strcmp(importance, importance_names[i]) == 0)
            imp = (prune_importance)i;

    double t0 = hs_monotonic();
    int rc = -1;
    prune_model m = { 0 };
    prune_data g = { 0 };
    prune_stats st = { 0 };
    prune_backend *be = NULL;
    float *score[PRUNE_MAX_LAYERS] = { 0 }, *masked[PRUNE_MAX_LAYERS] = { 0 };
    unsigned char *keep[PRUNE_MAX_LAYERS] = { 0 };
    float *x = NULL, *yd = NULL, *zd = NULL, *yp = NULL, *zp = NULL;
    /* hs_probe_run asks for CUDA only in a build with it */
    const prune_backend_ops *ops = prune_backend_find(use_cuda ? "cuda" : "cpu");
    if (!ops)
        return hs_err(err, "no %s backend in this build", use_cuda ? "cuda" : "cpu");
    if (prune_profile_build(profile_name, &m, &g, err) < 0)
        return -1;
    int d = m.d, V = m.vocab, nl = prune_nlayers(&m);
    unsigned want = prune_importance_wants(imp);
    long calib_chunk = prune_chunk_seqs((int)seq_len) * seq_len;
    long eval_chunk = prune_chunk_seqs((int)eval_len) * eval_len;
    long max_tokens = calib_chunk > eval_chunk ? calib_chunk : eval_chunk;
    long eval_tokens = eval_len * eval_nseq, calib_tokens = seq_len * nsamples;
    x = malloc(sizeof(float) * (size_t)max_tokens * d);
    yd = malloc(sizeof(float) * (size_t)eval_tokens * d);
    yp = malloc(sizeof(float) * (size_t)eval_tokens * d);
    zd = malloc(sizeof(float) * (size_t)eval_tokens * V);
    zp = malloc(sizeof(float) * (size_t)eval_tokens * V);
    bool fail = !x || !yd || !yp || !zd || !zp;
    for (int l = 0; l < nl && !fail; l++)
        fail = !(score[l] = malloc(sizeof(float) * (size_t)prune_size(&m, l))) ||
               !(masked[l] = malloc(sizeof(float) * (size_t)prune_size(&m, l))) ||
               !(keep[l] = malloc((size_t)prune_size(&m, l)));
    if (fail) {
        hs_err(err, "out of memory");
        goto cleanup;
    }
    if (prune_stats_alloc(&st, &m, want, err) < 0 ||
        !(be = ops->create(&m, (int)max_tokens, want, err)))
        goto cleanup;
    if (eval_forward(ops, be, &g, (int)eval_nseq, (int)eval_len, x, yd, zd, V, err) < 0)
        goto cleanup;
    /* calibration: magnitude needs none; the rest see every calibration token */
    if (imp != PRUNE_MAGNITUDE &&
        (prune_calibrate_all(ops, be, &g, (int)seq_len, nsamples, (uint64_t)seed, x, err) < 0 ||
         ops->stats(be, &st, err) < 0))
        goto cleanup;
    prune_importance_compute(&m, &st, imp, score);
    if (prune_allocate(&m, score, alloc, sparsity, keep, err) < 0)
        goto cleanup;
    long pruned = 0, total = 0;
    int extreme = 0;
    double rate[PRUNE_MAX_LAYERS];
    for (int l = 0; l < nl; l++) {
        long n = prune_size(&m, l), cut = 0;
        for (long i = 0; i < n; i++) {
            masked[l][i] = keep[l][i] ? m.w[l][i] : 0.0f;
            cut += !keep[l][i];
        }
        rate[l] = (double)cut / (double)n;
        extreme += rate[l] > 0.5;
        pruned += cut;
        total += n;
    }
    if (ops->set_weights(be, masked, err) < 0 ||
        eval_forward(ops, be, &g, (int)eval_nseq, (int)eval_len, x, yp, zp, V, err) < 0)
        goto cleanup;
    fidelity fid;
    measure(yd, zd, yp, zp, eval_tokens, d, V, &fid);

    add(result, "rel_err", fid.rel_err);
    add(result, "cosine", fid.cosine);
    add(result, "top1_agreement", fid.top1);
    add(result, "proxy_ppl", fid.ppl);
    add(result, "proxy_ppl_dense", fid.ppl_dense);
    add(result, "kl_div", fid.kl);
    add(result, "achieved_sparsity", (double)pruned / (double)total);
    json_object_object_add(result, "extreme_pruning_layers", json_object_new_int(extreme));
    if (want & PRUNE_WANT_GRAD) {
        double mean_ratio, norm_ratio;
        prune_grad_diagnostics(&m, &st, &mean_ratio, &norm_ratio);
        add(result, "grad_mean_ratio", mean_ratio);
        add(result, "grad_norm_ratio", norm_ratio);
        add(result, "calib_loss", st.loss);
    }
    json_object_object_add(result, "calib_tokens",
                           json_object_new_int64(imp == PRUNE_MAGNITUDE ? 0 : calib_tokens));
    json_object_object_add(result, "weights", json_object_new_int64(total));
    for (int l = 0; l < nl; l++) {
        char key[32];
        snprintf(key, sizeof key, "layer_rate/%d", l);
        add(result, key, rate[l]);
    }
    json_object_object_add(result, "device_name", json_object_new_string(ops->device_name(be)));
    add(result, "time_s", hs_monotonic() - t0);
    rc = 0;
cleanup:
    if (be)
        ops->destroy(be);
    for (int l = 0; l < PRUNE_MAX_LAYERS; l++) {
        free(score[l]);
        free(masked[l]);
        free(keep[l]);
    }
    free(x);
    free(yd);
    free(yp);
    free(zd);
    free(zp);
    prune_stats_free(&st);
    prune_data_free(&g);
    prune_model_free(&m);
    return rc;
}
