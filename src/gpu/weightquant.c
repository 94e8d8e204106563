/* The weightquant probe: fp16, RTN, AWQ scale search and GPTQ on one linear layer, synthetic
 * or read from a .safetensors file, scored by weight error and by output error on held-out
 * tokens. docs/probes.md gives every formula. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "probes.h"
#include "quant.h"
#include "quant_cuda.h"
#include "safetensors.h"
#include "util.h"
#include "weightquant.h"

/* Generator constants (docs/probes.md). */
#define WQ_MAX_LATENT   32
#define WQ_NOISE        0.5
#define WQ_OUTLIER_PROB 0.002
#define WQ_OUTLIER_MULT 8.0

static const char *const method_names[] = { "fp16", "rtn", "awq", "gptq", NULL };

size_t hs_wq_group(const hs_wq_config *cfg, size_t cols)
{
    return cfg->group_size <= 0 || (size_t)cfg->group_size > cols ? cols : (size_t)cfg->group_size;
}

/* ---- AWQ ------------------------------------------------------------------------------ */

/* Mean squared difference between X W^T and X Wq^T (Y = X W^T precomputed). */
static double out_mse(const float *X, size_t n, const float *Y, const float *Wq, size_t rows,
                      size_t cols, float *Yq)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)rows, (int)cols, 1.0f, X,
                (int)cols, Wq, (int)cols, 0.0f, Yq, (int)rows);
    double e2, r2;
    hs_quant_err2(Yq, Y, n * rows, &e2, &r2);
    return e2 / (double)(n * rows);
}

static int awq_cpu(const hs_wq_config *c, const hs_wq_data *D, float *out, double *alpha_out,
                   hs_error *err)
{
    size_t R = D->rows, C = D->cols, N = D->ncal, G = hs_wq_group(c, C);
    int rc = -1;
    float *xmean = malloc(C * sizeof *xmean), *s = malloc(C * sizeof *s);
    float *wq = malloc(R * C * sizeof *wq), *Y = malloc(N * R * sizeof *Y);
    float *Yq = malloc(N * R * sizeof *Yq);
    if (!xmean || !s || !wq || !Y || !Yq) {
        hs_err(err, "awq: out of memory");
        goto done;
    }
    for (size_t j = 0; j < C; j++) {
        double a = 0.0;
        for (size_t t = 0; t < N; t++)
            a += fabs(D->xcal[t * C + j]);
        xmean[j] = (float)(a / (double)N);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)R, (int)C, 1.0f, D->xcal,
                (int)C, D->w, (int)C, 0.0f, Y, (int)R);
    int steps = c->alpha >= 0.0 ? 1 : c->awq_grid;
    double best = INFINITY;
    for (int i = 0; i < steps; i++) {
        float a = c->alpha >= 0.0 ? (float)c->alpha : (float)i / (float)c->awq_grid;
        float smax = 0.0f, smin = INFINITY;
        for (size_t j = 0; j < C; j++) {
            float v = powf(xmean[j], a);
            s[j] = v > 1e-4f ? v : 1e-4f;
            smax = s[j] > smax ? s[j] : smax;
            smin = s[j] < smin ? s[j] : smin;
        }
        float norm = sqrtf(smax * smin);
        for (size_t j = 0; j < C; j++)
            s[j] /= norm;
        hs_quant_rtn_rows(D->w, wq, R, C, G, c->bits, c->scheme, s);
        double mse = steps > 1 ? out_mse(D->xcal, N, Y, wq, R, C, Yq) : 0.0;
        if (mse < best) {
            best = mse;
            memcpy(out, wq, R * C * sizeof *out);
            if (alpha_out)
                *alpha_out = a;
        }
    }
    rc = 0;
done:
    free(xmean);
    free(s);
    free(wq);
    free(Y);
    free(Yq);
    return rc;
}

/* ---- GPTQ ----------------------------------------------------------------------------- */

static int cmp_diag_desc(const void *a, const void *b, void *arg)
{
    const float *diag = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (diag[i] != diag[j])
        return diag[i] > diag[j] ? -1 : 1;
    return i < j ? -1 : i > j; /* stable */
}

static int gptq_cpu(const hs_wq_config *c, const hs_wq_data *D, float *out, hs_error *err)
{
    size_t R = D->rows, C = D->cols, N = D->ncal, G = hs_wq_group(c, C);
    size_t B = (size_t)c->block_size < C ? (size_t)c->block_size : C;
    int rc = -1;
    float *H = malloc(C * C * sizeof *H), *Hp = malloc(C * C * sizeof *Hp);
    float *Wt = malloc(C * R * sizeof *Wt), *Qt = malloc(C * R * sizeof *Qt);
    float *W1 = malloc(B * R * sizeof *W1), *E = malloc(B * R * sizeof *E);
    float *diag = malloc(C * sizeof *diag);
    size_t *perm = malloc(C * sizeof *perm);
    hs_quant_grid *g = malloc(R * sizeof *g);
    if (!H || !Hp || !Wt || !Qt || !W1 || !E || !diag || !perm || !g) {
        hs_err(err, "gptq: out of memory for a %zu x %zu Hessian", C, C);
        goto done;
    }
    /* H = 2/N X^T X */
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)C, (int)N, 2.0f / (float)N, D->xcal,
                (int)C, 0.0f, H, (int)C);
    for (size_t i = 0; i < C; i++)
        for (size_t j = 0; j < i; j++)
            H[i * C + j] = H[j * C + i];
    for (size_t i = 0; i < C; i++) {
        perm[i] = i;
        diag[i] = H[i * C + i];
    }
    /* dead inputs (never active): H_ii = 1 and their weights 0, as in the reference */
    for (size_t i = 0; i < C; i++)
        if (diag[i] == 0.0f)
            H[i * C + i] = 1.0f;
    if (c->act_order)
        qsort_r(perm, C, sizeof *perm, cmp_diag_desc, diag);
    double mean = 0.0;
    for (size_t i = 0; i < C; i++)
        mean += H[i * C + i];
    float dampv = (float)(c->damp * mean / (double)C);
    for (size_t i = 0; i < C; i++) {
        for (size_t j = 0; j < C; j++)
            Hp[i * C + j] = H[perm[i] * C + perm[j]];
        Hp[i * C + i] += dampv;
        for (size_t r = 0; r < R; r++)
            Wt[i * R + r] = diag[perm[i]] == 0.0f ? 0.0f : D->w[r * C + perm[i]];
    }
    /* U: upper Cholesky factor of H^-1 (H^-1 = U^T U) */
    lapack_int info = LAPACKE_spotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)C, Hp, (lapack_int)C);
    if (info == 0)
        info = LAPACKE_spotri(LAPACK_ROW_MAJOR, 'L', (lapack_int)C, Hp, (lapack_int)C);
    if (info == 0) {
        for (size_t i = 0; i < C; i++)
            for (size_t j = i + 1; j < C; j++)
                Hp[i * C + j] = Hp[j * C + i];
        info = LAPACKE_spotrf(LAPACK_ROW_MAJOR, 'U', (lapack_int)C, Hp, (lapack_int)C);
    }
    if (info != 0) {
        hs_err(err,
               "gptq: the damped Hessian (%zu x %zu) is not positive definite (LAPACK info "
               "%d); raise damp",
               C, C, (int)info);
        goto done;
    }
    const float *U = Hp;
    if (G == C)
        for (size_t r = 0; r < R; r++)
            g[r] = hs_quant_grid_fit(Wt + r, C, R, c->bits, c->scheme);
    for (size_t i1 = 0; i1 < C; i1 += B) {
        size_t i2 = i1 + B < C ? i1 + B : C, cnt = i2 - i1;
        memcpy(W1, Wt + i1 * R, cnt * R * sizeof *W1);
        for (size_t i = 0; i < cnt; i++) {
            size_t j = i1 + i;
            /* As in the reference, a group's grid comes from W as it stood at the start of
             * this block (W1 holds the in-block updates). */
            if (G < C && j % G == 0)
                for (size_t r = 0; r < R; r++)
                    g[r] = hs_quant_grid_fit(Wt + j * R + r, C - j < G ? C - j : G, R, c->bits,
                                             c->scheme);
            float dj = U[j * C + j];
            float *w = W1 + i * R, *e = E + i * R;
            for (size_t r = 0; r < R; r++) {
                float q = hs_quant_grid_apply(&g[r], w[r]);
                Qt[j * R + r] = q;
                e[r] = (w[r] - q) / dj;
            }
            for (size_t k = i + 1; k < cnt; k++) {
                float u = U[j * C + i1 + k];
                float *wk = W1 + k * R;
                for (size_t r = 0; r < R; r++)
                    wk[r] -= e[r] * u;
            }
        }
        if (i2 < C)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(C - i2), (int)R, (int)cnt,
                        -1.0f, U + i1 * C + i2, (int)C, E, (int)R, 1.0f, Wt + i2 * R, (int)R);
    }
    for (size_t j = 0; j < C; j++)
        for (size_t r = 0; r < R; r++)
            out[r * C + perm[j]] = Qt[j * R + r];
    rc = 0;
done:
    free(H);
    free(Hp);
    free(Wt);
    free(Qt);
    free(W1);
    free(E);
    free(diag);
    free(perm);
    free(g);
    return rc;
}

int hs_wq_quantize_cpu(const hs_wq_config *c, const hs_wq_data *D, float *out, double *alpha,
                       hs_error *err)
{
    size_t R = D->rows, C = D->cols;
    switch (c->method) {
    case HS_WQ_FP16:
        for (size_t i = 0; i < R * C; i++)
            out[i] = hs_quant_f16_round(D->w[i]);
        return 0;
    case HS_WQ_RTN:
        hs_quant_rtn_rows(D->w, out, R, C, hs_wq_group(c, C), c->bits, c->scheme, NULL);
        return 0;
    case HS_WQ_AWQ:
        return awq_cpu(c, D, out, alpha, err);
    case HS_WQ_GPTQ:
        return gptq_cpu(c, D, out, err);
    }
    return hs_err(err, "unknown weight method %d", (int)c->method);
}

int hs_wq_quantize_on(const hs_wq_config *c, const hs_wq_data *D, float *out, double *alpha,
                      bool use_cuda, hs_error *err)
{
    if (!use_cuda)
        return hs_wq_quantize_cpu(c, D, out, alpha, err);
#ifdef HS_GPU_HAVE_CUDA
    return hs_wq_quantize_cuda(c, D, out, alpha, err);
#else
    return hs_err(err, "weightquant: this build has no CUDA");
#endif
}

/* ---- data ---------------------------------------------------------------------------- */

void hs_wq_data_free(hs_wq_data *D)
{
    if (!D)
        return;
    free(D->w);
    free(D->xcal);
    free(D->xeval);
    memset(D, 0, sizeof *D);
}

static int load_weights(const hs_wq_config *c, hs_wq_data *D, hs_error *err)
{
    hs_safetensors *st = hs_safetensors_open(c->safetensors, err);
    if (!st)
        return -1;
    size_t shape[HS_SAFETENSORS_MAX_DIMS];
    int ndim;
    const char *dtype;
    float *w = NULL;
    int rc = -1;
    if (hs_safetensors_info(st, c->tensor, &dtype, shape, &ndim, err) < 0)
        goto done;
    if (ndim != 2) {
        char s[128] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(s + strlen(s), sizeof s - strlen(s), "%s%zu", i ? ", " : "", shape[i]);
        hs_err(err, "%s: tensor '%s' has shape [%s]; a weight must be 2-D (out x in)",
               c->safetensors, c->tensor, s);
        goto done;
    }
    if (shape[0] == 0 || shape[1] < 2) {
        hs_err(err, "%s: tensor '%s' has shape [%zu, %zu]; too small to quantize", c->safetensors,
               c->tensor, shape[0], shape[1]);
        goto done;
    }
    if (hs_safetensors_read_f32(st, c->tensor, &w, shape, &ndim, err) < 0)
        goto done;
    for (size_t i = 0; i < shape[0] * shape[1]; i++)
        if (!isfinite(w[i])) {
            hs_err(err, "%s: tensor '%s' holds a non-finite value at [%zu, %zu]", c->safetensors,
                   c->tensor, i / shape[1], i % shape[1]);
            free(w);
            goto done;
        }
    D->rows = c->max_rows > 0 && (size_t)c->max_rows < shape[0] ? (size_t)c->max_rows : shape[0];
    D->cols = shape[1];
    D->w = w; /* the first D->rows rows are used; the rest is never read */
    rc = 0;
done:
    hs_safetensors_close(st);
    return rc;
}

/* Activations: x = (a z M / sqrt(r) + noise * e) * c, with per-channel magnitudes c and a few
 * outlier channels; the same channel model for calibration and held-out tokens. */
static void gen_acts(hs_quant_rng *rng, const float *M, const float *cmag, size_t r, size_t n,
                     size_t C, float *x, float *Z)
{
    for (size_t i = 0; i < n * r; i++)
        Z[i] = (float)hs_quant_rng_normal(rng);
    float a = (float)(sqrt(1.0 - WQ_NOISE * WQ_NOISE) / sqrt((double)r));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)C, (int)r, a, Z, (int)r, M,
                (int)C, 0.0f, x, (int)C);
    for (size_t t = 0; t < n; t++)
        for (size_t j = 0; j < C; j++) {
            float *p = x + t * C + j;
            *p = (*p + (float)(WQ_NOISE * hs_quant_rng_normal(rng))) * cmag[j];
        }
}

int hs_wq_data_build(const hs_wq_config *c, hs_wq_data *D, hs_error *err)
{
    memset(D, 0, sizeof *D);
    hs_quant_rng rng;
    if (c->safetensors) {
        if (load_weights(c, D, err) < 0)
            return -1;
    } else {
        D->rows = (size_t)c->out_features;
        D->cols = (size_t)c->in_features;
        if (!(D->w = malloc(D->rows * D->cols * sizeof *D->w)))
            return hs_err(err, "weightquant: out of memory for a %zu x %zu weight", D->rows,
                          D->cols);
        hs_quant_rng_seed(&rng, c->seed, 0);
        float sc = (float)(1.0 / sqrt((double)D->cols));
        for (size_t i = 0; i < D->rows * D->cols; i++) {
            double v = hs_quant_rng_normal(&rng);
            if (hs_quant_rng_uniform(&rng) < WQ_OUTLIER_PROB)
                v *= WQ_OUTLIER_MULT;
            D->w[i] = (float)v * sc;
        }
    }
    size_t C = D->cols, r = C / 2 < WQ_MAX_LATENT ? C / 2 : WQ_MAX_LATENT;
    D->ncal = (size_t)c->calib_tokens;
    D->neval = (size_t)c->eval_tokens;
    size_t zn = (D->ncal > D->neval ? D->ncal : D->neval) * r;
    float *M = malloc(r * C * sizeof *M), *cmag = malloc(C * sizeof *cmag);
    float *Z = malloc(zn * sizeof *Z);
    size_t *idx = malloc(C * sizeof *idx);
    D->xcal = malloc(D->ncal * C * sizeof(float));
    D->xeval = malloc(D->neval * C * sizeof(float));
    int rc = -1;
    if (!M || !cmag || !Z || !idx || !D->xcal || !D->xeval) {
        hs_err(err, "weightquant: out of memory for the activations");
        goto done;
    }
    hs_quant_rng_seed(&rng, c->seed, 1);
    for (size_t i = 0; i < r * C; i++)
        M[i] = (float)hs_quant_rng_normal(&rng);
    for (size_t j = 0; j < C; j++) {
        cmag[j] = (float)exp(0.5 * hs_quant_rng_normal(&rng));
        idx[j] = j;
    }
    size_t no = (size_t)c->outlier_channels < C ? (size_t)c->outlier_channels : C;
    for (size_t i = 0; i < no; i++) {
        size_t j = i + hs_quant_rng_below(&rng, C - i), tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
        cmag[idx[i]] *= (float)c->outlier_scale;
    }
    hs_quant_rng_seed(&rng, c->seed, 2);
    gen_acts(&rng, M, cmag, r, D->ncal, C, D->xcal, Z);
    hs_quant_rng_seed(&rng, c->seed, 3);
    gen_acts(&rng, M, cmag, r, D->neval, C, D->xeval, Z);
    rc = 0;
done:
    free(M);
    free(cmag);
    free(Z);
    free(idx);
    if (rc < 0)
        hs_wq_data_free(D);
    return rc;
}

int hs_wq_run_cpu(const hs_wq_config *c, const hs_wq_data *D, hs_wq_raw *raw, hs_error *err)
{
    size_t R = D->rows, C = D->cols, N = D->neval;
    int rc = -1;
    float *wq = malloc(R * C * sizeof *wq), *Y = malloc(N * R * sizeof *Y);
    float *Yq = malloc(N * R * sizeof *Yq);
    if (!wq || !Y || !Yq) {
        hs_err(err, "weightquant: out of memory");
        goto done;
    }
    snprintf(raw->device_name, sizeof raw->device_name, "cpu");
    double t0 = hs_monotonic();
    if (hs_wq_quantize_cpu(c, D, wq, &raw->alpha, err) < 0)
        goto done;
    raw->quant_s = hs_monotonic() - t0;
    hs_quant_err2(wq, D->w, R * C, &raw->w_err2, &raw->w_ref2);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)R, (int)C, 1.0f, D->xeval,
                (int)C, D->w, (int)C, 0.0f, Y, (int)R);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)R, (int)C, 1.0f, D->xeval,
                (int)C, wq, (int)C, 0.0f, Yq, (int)R);
    hs_quant_err2(Yq, Y, N * R, &raw->o_err2, &raw->o_ref2);
    rc = 0;
done:
    free(wq);
    free(Y);
    free(Yq);
    return rc;
}

/* ---- parameters ---------------------------------------------------------------------- */

enum { M_FP16 = 1, M_RTN = 2, M_AWQ = 4, M_GPTQ = 8 };

static const struct {
    const char *key;
    int methods;
} method_keys[] = {
    { "bits", M_RTN | M_AWQ | M_GPTQ },
    { "group_size", M_RTN | M_AWQ | M_GPTQ },
    { "scheme", M_RTN | M_AWQ | M_GPTQ },
    { "awq_grid", M_AWQ },
    { "alpha", M_AWQ },
    { "damp", M_GPTQ },
    { "block_size", M_GPTQ },
    { "act_order", M_GPTQ },
};

static bool has_key(json_object *params, const char *key)
{
    return params && json_object_object_get_ex(params, key, NULL);
}

static int get_int(hs_params *p, const char *key, long long def, long long lo, long long hi,
                   int *out, hs_error *err)
{
    long long v;
    if (hs_params_int(p, key, def, lo, hi, &v, err) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_config(json_object *params, hs_wq_config *c, hs_error *err)
{
    hs_params p;
    hs_params_init(&p, params);
    memset(c, 0, sizeof *c);
    const char *method = NULL, *scheme = NULL;
    if (!has_key(params, "method"))
        return hs_err(err, "parameter method is required (one of: fp16, rtn, awq, gptq)");
    if (hs_params_string(&p, "method", "fp16", method_names, &method, err) < 0)
        return -1;
    int mbit = 1;
    for (int i = 0; method_names[i]; i++)
        if (strcmp(method_names[i], method) == 0) {
            c->method = (hs_wq_method)i;
            mbit = 1 << i;
        }
    for (size_t i = 0; i < sizeof method_keys / sizeof method_keys[0]; i++) {
        if (!has_key(params, method_keys[i].key) || (method_keys[i].methods & mbit))
            continue;
        char list[64] = "";
        for (int j = 0; method_names[j]; j++)
            if (method_keys[i].methods & (1 << j))
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                         list[0] ? ", " : "", method_names[j]);
        return hs_err(err,
                      "parameter %s applies to method %s, not %s (give it inside the "
                      "method's variant in the grid)",
                      method_keys[i].key, list, method);
    }
    bool real = has_key(params, "safetensors");
    if (!real) {
        if (has_key(params, "tensor") || has_key(params, "max_rows"))
            return hs_err(err, "parameter %s needs safetensors (the file to read it from)",
                          has_key(params, "tensor") ? "tensor" : "max_rows");
    } else {
        if (has_key(params, "in_features") || has_key(params, "out_features"))
            return hs_err(err,
                          "parameter %s is taken from the tensor when safetensors is given "
                          "(use max_rows to keep the first rows)",
                          has_key(params, "in_features") ? "in_features" : "out_features");
        if (!has_key(params, "tensor"))
            return hs_err(err, "parameter safetensors needs tensor (the weight's name in the "
                               "file, e.g. \"model.layers.0.mlp.down_proj.weight\")");
    }
    long long seed;
    if (get_int(&p, "in_features", 512, 2, 1 << 17, &c->in_features, err) < 0 ||
        get_int(&p, "out_features", 256, 1, 1 << 18, &c->out_features, err) < 0 ||
        get_int(&p, "calib_tokens", 1024, 1, 1 << 20, &c->calib_tokens, err) < 0 ||
        get_int(&p, "eval_tokens", 256, 1, 1 << 20, &c->eval_tokens, err) < 0 ||
        hs_params_int(&p, "seed", 0, 0, 1LL << 53, &seed, err) < 0 ||
        get_int(&p, "outlier_channels", 8, 0, 1 << 17, &c->outlier_channels, err) < 0 ||
        hs_params_double(&p, "outlier_scale", 20.0, 1.0, 1e4, &c->outlier_scale, err) < 0 ||
        hs_params_string(&p, "safetensors", NULL, NULL, &c->safetensors, err) < 0 ||
        hs_params_string(&p, "tensor", NULL, NULL, &c->tensor, err) < 0 ||
        get_int(&p, "max_rows", 0, 0, 1 << 30, &c->max_rows, err) < 0)
        return -1;
    c->seed = (uint64_t)seed;
    if (!real && (double)c->in_features * c->out_features > 1.0 * (1 << 30))
        return hs_err(err, "in_features x out_features = %.0f exceeds 2^30 weights",
                      (double)c->in_features * c->out_features);
    if (c->method != HS_WQ_FP16) {
        static const char *const schemes[] = { "asym", "sym", "asymmetric", "symmetric", NULL };
        if (get_int(&p, "bits", 4, 2, 8, &c->bits, err) < 0 ||
            get_int(&p, "group_size", 128, -1, 1 << 20, &c->group_size, err) < 0 ||
            hs_params_string(&p, "scheme", "asym", schemes, &scheme, err) < 0)
            return -1;
        if (c->group_size == 0)
            return hs_err(err, "parameter group_size = 0: use -1 for one group per output row, "
                               "or a positive group size");
        c->scheme = scheme[0] == 's' ? HS_QUANT_SYM : HS_QUANT_ASYM;
    }
    if (c->method == HS_WQ_AWQ) {
        if (get_int(&p, "awq_grid", 20, 1, 1000, &c->awq_grid, err) < 0 ||
            hs_params_double(&p, "alpha", -1.0, -1.0, 1.0, &c->alpha, err) < 0)
            return -1;
        if (c->alpha < 0.0 && c->alpha != -1.0)
            return hs_err(err,
                          "parameter alpha = %g: give -1 (search the grid) or a value in "
                          "[0, 1]",
                          c->alpha);
    }
    if (c->method == HS_WQ_GPTQ &&
        (hs_params_double(&p, "damp", 0.01, 0.0, 10.0, &c->damp, err) < 0 ||
         get_int(&p, "block_size", 128, 1, 1 << 16, &c->block_size, err) < 0 ||
         hs_params_bool(&p, "act_order", false, &c->act_order, err) < 0))
        return -1;
    return hs_params_check_unused(&p, "weightquant", err);
}

/* ---- the probe ------------------------------------------------------------------------- */

static void put(json_object *o, const char *k, double v)
{
    json_object_object_add(o, k, json_object_new_double(v));
}

int hs_probe_weightquant(json_object *params, bool use_cuda, json_object *result, hs_error *err)
{
    double start = hs_monotonic();
    hs_wq_config cfg;
    if (parse_config(params, &cfg, err) < 0)
        return -1;
    hs_wq_data D;
    if (hs_wq_data_build(&cfg, &D, err) < 0)
        return -1;
    hs_wq_raw raw;
    memset(&raw, 0, sizeof raw);
    raw.alpha = -1.0;
    int rc;
    if (use_cuda) {
#ifdef HS_GPU_HAVE_CUDA
        rc = hs_wq_run_cuda(&cfg, &D, &raw, err);
#else
        rc = hs_err(err, "weightquant: this build has no CUDA");
#endif
    } else {
        rc = hs_wq_run_cpu(&cfg, &D, &raw, err);
    }
    size_t R = D.rows, C = D.cols;
    hs_wq_data_free(&D);
    if (rc < 0)
        return -1;
    put(result, "w_rel_err", sqrt(raw.w_err2 / raw.w_ref2));
    put(result, "out_rel_err", sqrt(raw.o_err2 / raw.o_ref2));
    if (cfg.method == HS_WQ_FP16) {
        put(result, "weight_bits", 16);
        put(result, "bits_per_weight", 16);
    } else {
        size_t G = hs_wq_group(&cfg, C);
        double groups = ceil((double)C / (double)G);
        double bpw =
            cfg.bits + groups * (16.0 + (cfg.scheme == HS_QUANT_ASYM ? cfg.bits : 0)) / (double)C;
        if (cfg.method == HS_WQ_GPTQ && cfg.act_order && G < C)
            bpw += 32.0 / (double)R; /* g_idx: one int32 per input column */
        put(result, "weight_bits", cfg.bits);
        put(result, "group_size_used", (double)G);
        put(result, "bits_per_weight", bpw);
    }
    if (cfg.method == HS_WQ_AWQ)
        put(result, "awq_alpha", raw.alpha);
    put(result, "rows", (double)R);
    put(result, "cols", (double)C);
    put(result, "quant_time_s", raw.quant_s);
    put(result, "time_s", hs_monotonic() - start);
    json_object_object_add(result, "device_name", json_object_new_string(raw.device_name));
    return 0;
}
