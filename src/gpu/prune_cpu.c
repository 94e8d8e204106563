/* The prune probe's CPU reference: forward, hand-written backward and calibration statistics
 * with CBLAS (row-major, tokens as rows). Built with -O3 -fno-trapping-math (see
 * CMakeLists.txt): the elementwise loops must vectorise for the demo's time budget. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"
#include "prune_math.h"

/* What a prune_backend * points to here. */
typedef struct cpu_backend {
    prune_model m; /* dimensions, and weights owned by the backend */
    int max_tokens;
    unsigned want;
    /* activations of the last forward, kept for the backward */
    float *x, *u[PRUNE_MAX_BLOCKS], *r[PRUNE_MAX_BLOCKS], *h[PRUNE_MAX_BLOCKS],
        *a[PRUNE_MAX_BLOCKS], *sg[PRUNE_MAX_BLOCKS], *ry, *n, *z;
    /* backward scratch */
    float *dx, *dn, *dh, *du, *sq_out, *sq_in, *seqg, *colsum;
    prune_stats acc; /* sums so far */
} cpu_backend;

static void cpu_destroy(prune_backend *pb)
{
    cpu_backend *b = (cpu_backend *)pb;
    if (!b)
        return;
    prune_model_free(&b->m);
    for (int i = 0; i < PRUNE_MAX_BLOCKS; i++) {
        free(b->u[i]);
        free(b->r[i]);
        free(b->h[i]);
        free(b->a[i]);
        free(b->sg[i]);
    }
    prune_stats_free(&b->acc);
    free(b->x);
    free(b->ry);
    free(b->n);
    free(b->z);
    free(b->dx);
    free(b->dn);
    free(b->dh);
    free(b->du);
    free(b->sq_out);
    free(b->sq_in);
    free(b->colsum);
    free(b->seqg);
    free(b);
}

static int cpu_set_weights(prune_backend *pb, float *const *w, hs_error *err)
{
    cpu_backend *b = (cpu_backend *)pb;
    (void)err;
    for (int l = 0; l < prune_nlayers(&b->m); l++)
        memcpy(b->m.w[l], w[l], sizeof(float) * (size_t)prune_size(&b->m, l));
    return 0;
}

static prune_backend *cpu_create(const prune_model *m, int max_tokens, unsigned want, hs_error *err)
{
    cpu_backend *b = calloc(1, sizeof *b);
    if (!b)
        goto oom;
    if (prune_model_alloc(&b->m, m->nblocks, m->d, m->f, m->vocab, m->act, err) < 0) {
        free(b);
        return NULL;
    }
    cpu_set_weights((prune_backend *)b, m->w, err);
    memcpy(b->m.head, m->head, sizeof(float) * (size_t)m->vocab * m->d);
    b->max_tokens = max_tokens;
    b->want = want;
    size_t T = (size_t)max_tokens, d = (size_t)m->d, f = (size_t)m->f, V = (size_t)m->vocab;
    size_t wide = f > V ? f : V, big = f > d ? f : d;
    bool fail =
        !(b->x = malloc(sizeof(float) * T * d)) || !(b->ry = malloc(sizeof(float) * T)) ||
        !(b->n = malloc(sizeof(float) * T * d)) || !(b->z = malloc(sizeof(float) * T * V)) ||
        !(b->dx = malloc(sizeof(float) * T * d)) || !(b->dn = malloc(sizeof(float) * T * d)) ||
        !(b->dh = malloc(sizeof(float) * T * f)) || !(b->du = malloc(sizeof(float) * T * d)) ||
        !(b->colsum = malloc(sizeof(float) * wide)) || !(b->seqg = malloc(sizeof(float) * f * d));
    for (int i = 0; i < m->nblocks && !fail; i++)
        fail = !(b->u[i] = malloc(sizeof(float) * T * d)) ||
               !(b->r[i] = malloc(sizeof(float) * T)) ||
               !(b->h[i] = malloc(sizeof(float) * T * f)) ||
               !(b->a[i] = malloc(sizeof(float) * T * f)) ||
               (m->act == PRUNE_GELU && !(b->sg[i] = malloc(sizeof(float) * T * f)));
    if (!fail && (want & PRUNE_WANT_FISHER))
        fail = !(b->sq_out = malloc(sizeof(float) * T * big)) ||
               !(b->sq_in = malloc(sizeof(float) * T * big));
    if (fail)
        goto oom;
    if (prune_stats_alloc(&b->acc, m, want, err) < 0) {
        cpu_destroy((prune_backend *)b);
        return NULL;
    }
    return (prune_backend *)b;
oom:
    cpu_destroy((prune_backend *)b);
    hs_err(err, "out of memory for the prune model's activations (%d tokens)", max_tokens);
    return NULL;
}

/* u = x / r, r = sqrt(mean(x^2) + eps), row by row */
static void rmsnorm(const float *x, int T, int d, float *u, float *r)
{
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * d;
        float ss = 0;
        for (int j = 0; j < d; j++)
            ss += xt[j] * xt[j];
        float rt = sqrtf(ss / (float)d + PRUNE_NORM_EPS), inv = 1.0f / rt;
        r[t] = rt;
        float *ut = u + (size_t)t * d;
        for (int j = 0; j < d; j++)
            ut[j] = xt[j] * inv;
    }
}

/* dx (+)= (du - u (u . du) / d) / r: the gradient through u = x / rms(x) */
static void rmsnorm_back(const float *u, const float *r, const float *du, int T, int d, float *dx,
                         bool accumulate)
{
    for (int t = 0; t < T; t++) {
        const float *ut = u + (size_t)t * d, *gt = du + (size_t)t * d;
        float dot = 0;
        for (int j = 0; j < d; j++)
            dot += ut[j] * gt[j];
        float c = dot / (float)d, inv = 1.0f / r[t];
        float *xt = dx + (size_t)t * d;
        if (accumulate)
            for (int j = 0; j < d; j++)
                xt[j] += (gt[j] - ut[j] * c) * inv;
        else
            for (int j = 0; j < d; j++)
                xt[j] = (gt[j] - ut[j] * c) * inv;
    }
}

/* The GELU loop is a third of the probe's time: where the compiler can, it builds it for
 * AVX2 too and picks at load time. Every clone computes the same values (no FMA: C11). */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define PRUNE_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef PRUNE_CLONES
#define PRUNE_CLONES
#endif

/* One loop per activation, without a branch inside: these are what must vectorise. GELU
 * keeps its sigmoid sg for the backward, which then needs no exp. */
PRUNE_CLONES static void act_forward(const float *restrict h, size_t n, int act, float *restrict a,
                                     float *restrict sg)
{
    if (act == PRUNE_RELU) {
        for (size_t i = 0; i < n; i++)
            a[i] = h[i] > 0.0f ? h[i] : 0.0f;
    } else {
        for (size_t i = 0; i < n; i++) {
            sg[i] = prune_gelu_sigmoid(h[i]);
            a[i] = h[i] * sg[i];
        }
    }
}

static void act_backward(const float *restrict h, const float *restrict sg, size_t n, int act,
                         float *restrict dh)
{
    if (act == PRUNE_RELU)
        for (size_t i = 0; i < n; i++)
            dh[i] = h[i] > 0.0f ? dh[i] : 0.0f;
    else
        for (size_t i = 0; i < n; i++)
            dh[i] *= prune_gelu_grad_s(h[i], sg[i]);
}

static void forward(cpu_backend *b, const float *x0, int T)
{
    const prune_model *m = &b->m;
    int d = m->d, f = m->f, act = m->act;
    memcpy(b->x, x0, sizeof(float) * (size_t)T * d);
    for (int k = 0; k < m->nblocks; k++) {
        rmsnorm(b->x, T, d, b->u[k], b->r[k]);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, f, d, 1.0f, b->u[k], d, m->w[2 * k],
                    d, 0.0f, b->h[k], f);
        act_forward(b->h[k], (size_t)T * f, act, b->a[k], b->sg[k]);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, d, f, 1.0f, b->a[k], f,
                    m->w[2 * k + 1], f, 1.0f, b->x, d);
    }
    rmsnorm(b->x, T, d, b->n, b->ry);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, m->vocab, d, 1.0f, b->n, d, m->head, d,
                0.0f, b->z, m->vocab);
}

/* acc[j] += scale * sum_t v[t][j]^2: per call in float (at most max_tokens terms), across
 * calls in double */
static void add_col_sumsq(cpu_backend *b, const float *v, int T, int cols, double scale,
                          double *acc)
{
    float *s = b->colsum;
    memset(s, 0, sizeof(float) * (size_t)cols);
    for (int t = 0; t < T; t++) {
        const float *vt = v + (size_t)t * cols;
        for (int j = 0; j < cols; j++)
            s[j] += vt[j] * vt[j];
    }
    for (int j = 0; j < cols; j++)
        acc[j] += scale * s[j];
}

static void square(const float *v, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = v[i] * v[i];
}

/* The per-token gradient of a layer with input `in` (T x cols) and output gradient `delta`
 * (T x rows) is g_t = delta_t in_t^T. Per sequence s of L tokens, g_s = mean_t g_t is one
 * GEMM; g gets the mean of g_s, gs the mean of g_s^2, fi the mean over tokens of g_t^2. */
static void add_layer_grads(cpu_backend *b, int l, const float *delta, const float *in, int nseq,
                            int L, int rows, int cols, long total_seqs)
{
    float ws = (float)(1.0 / (double)total_seqs);
    size_t n = (size_t)rows * cols;
    float *restrict g = b->acc.grad[l], *restrict gs = b->acc.grad_sq[l];
    const float *restrict q = b->seqg;
    for (int s = 0; s < nseq; s++) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, cols, L, 1.0f / (float)L,
                    delta + (size_t)s * L * rows, rows, in + (size_t)s * L * cols, cols, 0.0f,
                    b->seqg, cols);
        for (size_t k = 0; k < n; k++) {
            g[k] += ws * q[k];
            gs[k] += ws * q[k] * q[k];
        }
    }
    if (b->want & PRUNE_WANT_FISHER) {
        int T = nseq * L;
        square(delta, (size_t)T * rows, b->sq_out);
        square(in, (size_t)T * cols, b->sq_in);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, cols, T, ws / (float)L,
                    b->sq_out, rows, b->sq_in, cols, 1.0f, b->acc.fisher[l], cols);
    }
}

static int cpu_calibrate(prune_backend *pb, const float *x, int nseq, int L, long total_seqs,
                         hs_error *err)
{
    cpu_backend *b = (cpu_backend *)pb;
    int T = nseq * L;
    long total = total_seqs * L;
    const prune_model *m = &b->m;
    int d = m->d, f = m->f, V = m->vocab;
    if (T > b->max_tokens)
        return hs_err(err, "calibration chunk of %d tokens exceeds %d", T, b->max_tokens);
    forward(b, x, T);
    double w = 1.0 / (double)total;
    for (int k = 0; k < m->nblocks; k++) {
        add_col_sumsq(b, b->u[k], T, d, w, b->acc.in_sq[2 * k]);
        add_col_sumsq(b, b->a[k], T, f, w, b->acc.in_sq[2 * k + 1]);
    }
    if (!(b->want & PRUNE_WANT_GRAD))
        return 0;
    /* loss: cross-entropy of softmax(z_t) against the dense model's own argmax label; its
     * per-token gradient wrt z is p - onehot(label), written over z */
    double loss = 0;
    for (int t = 0; t < T; t++) {
        float *zt = b->z + (size_t)t * V;
        int c = 0;
        for (int v = 1; v < V; v++)
            if (zt[v] > zt[c])
                c = v;
        float zmax = zt[c], sum = 0;
        for (int v = 0; v < V; v++) {
            zt[v] = prune_exp(zt[v] - zmax);
            sum += zt[v];
        }
        loss += log((double)sum); /* -log p_c, as z_c - zmax = 0 */
        float inv = 1.0f / sum;
        for (int v = 0; v < V; v++)
            zt[v] *= inv;
        zt[c] -= 1.0f;
    }
    b->acc.loss += loss * w;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, V, 1.0f, b->z, V, m->head, d, 0.0f,
                b->dn, d);
    rmsnorm_back(b->n, b->ry, b->dn, T, d, b->dx, false);
    for (int k = m->nblocks - 1; k >= 0; k--) {
        /* x_{k+1} = x_k + W2 act(W1 u_k): dx is the gradient wrt x_{k+1} */
        add_layer_grads(b, 2 * k + 1, b->dx, b->a[k], nseq, L, d, f, total_seqs);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, f, d, 1.0f, b->dx, d,
                    m->w[2 * k + 1], f, 0.0f, b->dh, f);
        act_backward(b->h[k], b->sg[k], (size_t)T * f, m->act, b->dh);
        add_layer_grads(b, 2 * k, b->dh, b->u[k], nseq, L, f, d, total_seqs);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, f, 1.0f, b->dh, f, m->w[2 * k],
                    d, 0.0f, b->du, d);
        rmsnorm_back(b->u[k], b->r[k], b->du, T, d, b->dx, true);
    }
    return 0;
}

static int cpu_stats(prune_backend *pb, prune_stats *s, hs_error *err)
{
    cpu_backend *b = (cpu_backend *)pb;
    (void)err;
    prune_stats_copy(s, &b->acc, &b->m);
    if (!(b->want & PRUNE_WANT_GRAD))
        s->loss = NAN;
    return 0;
}

static int cpu_forward(prune_backend *pb, const float *x, int T, float *y, float *logits,
                       hs_error *err)
{
    cpu_backend *b = (cpu_backend *)pb;
    if (T > b->max_tokens)
        return hs_err(err, "forward of %d tokens exceeds %d", T, b->max_tokens);
    forward(b, x, T);
    memcpy(y, b->x, sizeof(float) * (size_t)T * b->m.d);
    memcpy(logits, b->z, sizeof(float) * (size_t)T * b->m.vocab);
    return 0;
}

static const char *cpu_device_name(prune_backend *pb)
{
    (void)pb;
    static char name[64];
    snprintf(name, sizeof name, "CPU (OpenBLAS, %s)", openblas_get_corename());
    return name;
}

const prune_backend_ops prune_cpu_ops = {
    .device = "cpu",
    .create = cpu_create,
    .set_weights = cpu_set_weights,
    .calibrate = cpu_calibrate,
    .stats = cpu_stats,
    .forward = cpu_forward,
    .device_name = cpu_device_name,
    .destroy = cpu_destroy,
};
