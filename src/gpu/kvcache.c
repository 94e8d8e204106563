/* The kvcache probe: a KV-cache compression proxy. Synthetic LLM-like K/V with outlier
 * channels and rotary structure are compressed with fp16, KIVI, KVQuant-style outliers or
 * FORGE chunked SVD, and scored by K/V error, attention output error and KL over sampled
 * queries, and a passkey retrieval proxy by depth. docs/probes.md gives every formula. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "kvcache.h"
#include "probes.h"
#include "quant.h"
#include "quant_cuda.h"
#include "util.h"

const double hs_kv_depths[HS_KV_NDEPTHS] = { 0.10, 0.25, 0.50, 0.75 };
static const char *const depth_labels[HS_KV_NDEPTHS] = { "d10", "d25", "d50", "d75" };

/* Generator constants (docs/probes.md): latent rank of the token structure and the share of
 * isotropic noise in each unit-variance channel. */
#define KV_MAX_LATENT 16
#define KV_NOISE      0.3

static const char *const method_names[] = { "fp16", "kivi", "kvquant", "forge", NULL };

/* ---- rotary embedding ---------------------------------------------------------------- */

float *hs_kv_rope_table(size_t npos, size_t d, double base)
{
    size_t h = d / 2;
    float *cs = malloc(2 * npos * h * sizeof *cs);
    if (!cs)
        return NULL;
    for (size_t i = 0; i < h; i++) {
        double theta = pow(base, -2.0 * (double)i / (double)d);
        for (size_t p = 0; p < npos; p++) {
            double a = (double)p * theta;
            cs[p * h + i] = (float)cos(a);
            cs[npos * h + p * h + i] = (float)sin(a);
        }
    }
    return cs;
}

void hs_kv_rope_apply(float *x, size_t d, const float *cs, size_t npos, size_t pos, bool inverse)
{
    size_t h = d / 2;
    const float *co = cs + pos * h, *si = cs + npos * h + pos * h;
    for (size_t i = 0; i < h; i++) {
        float a = x[i], b = x[i + h], c = co[i], s = inverse ? -si[i] : si[i];
        x[i] = a * c - b * s;
        x[i + h] = b * c + a * s;
    }
}

static void rope_tokens(float *x, size_t n, size_t T, size_t d, const float *cs, size_t npos)
{
    for (size_t h = 0; h < n; h++)
        for (size_t t = 0; t < T; t++)
            hs_kv_rope_apply(x + (h * T + t) * d, d, cs, npos, t, false);
}

/* ---- compressors ----------------------------------------------------------------------- */

void hs_kv_quant_per_channel(float *x, const unsigned char *keep, size_t n, size_t T, size_t d,
                             size_t t0, size_t t1, size_t group, int bits)
{
    if (t1 <= t0)
        return;
    size_t g = group ? group : t1 - t0;
    for (size_t h = 0; h < n; h++)
        for (size_t tg = t0; tg < t1; tg += g) {
            size_t cnt = t1 - tg < g ? t1 - tg : g;
            for (size_t c = 0; c < d; c++) {
                size_t off = (h * T + tg) * d + c;
                hs_quant_minmax_group(x + off, keep ? keep + off : NULL, cnt, d, bits);
            }
        }
}

void hs_kv_quant_per_token(float *x, const unsigned char *keep, size_t n, size_t T, size_t d,
                           size_t t0, size_t t1, size_t group, int bits)
{
    size_t g = group && group < d ? group : d;
    for (size_t h = 0; h < n; h++)
        for (size_t t = t0; t < t1; t++)
            for (size_t c0 = 0; c0 < d; c0 += g) {
                size_t off = (h * T + t) * d + c0;
                hs_quant_minmax_group(x + off, keep ? keep + off : NULL, d - c0 < g ? d - c0 : g, 1,
                                      bits);
            }
}

void hs_kv_outlier_mask(const float *x, unsigned char *keep, size_t n, size_t T, size_t d,
                        size_t t0, size_t t1, int k)
{
    memset(keep, 0, n * T * d);
    for (size_t h = 0; h < n; h++)
        for (size_t t = t0; t < t1; t++) {
            const float *v = x + (h * T + t) * d;
            unsigned char *m = keep + (h * T + t) * d;
            for (int j = 0; j < k; j++) {
                size_t best = d;
                float bv = -1.0f;
                for (size_t c = 0; c < d; c++)
                    if (!m[c] && fabsf(v[c]) > bv) {
                        bv = fabsf(v[c]);
                        best = c;
                    }
                if (best < d)
                    m[best] = 1;
            }
        }
}

int hs_kv_forge(float *x, size_t n, size_t T, size_t d, const hs_kv_config *cfg, hs_kv_stats *st,
                hs_error *err)
{
    size_t c = (size_t)cfg->chunk_size, nch = T / c, mn = c < d ? c : d;
    int rc = -1;
    float *a = malloc(c * d * sizeof *a), *s = malloc(mn * sizeof *s);
    float *u = malloc(d * mn * sizeof *u), *vt = malloc(mn * c * sizeof *vt);
    if (!a || !s || !u || !vt) {
        hs_err(err, "forge: out of memory for a %zu x %zu chunk", c, d);
        goto done;
    }
    for (size_t h = 0; h < n; h++)
        for (size_t k = 0; k < nch; k++) {
            float *chunk = x + (h * T + k * c) * d;
            /* The row-major c x d chunk is the column-major d x c matrix A^T, the same view
             * the CUDA version hands to cuSOLVER. */
            memcpy(a, chunk, c * d * sizeof *a);
            lapack_int info =
                LAPACKE_sgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)d, (lapack_int)c, a,
                               (lapack_int)d, s, u, (lapack_int)d, vt, (lapack_int)mn);
            if (info != 0) {
                hs_err(err, "forge: LAPACKE_sgesdd failed (info %d) on chunk %zu of head %zu",
                       (int)info, k, h);
                goto done;
            }
            int r = hs_quant_energy_rank(s, (int)mn, cfg->energy_threshold, cfg->min_rank,
                                         cfg->max_rank);
            for (size_t t = 0; t < c; t++)
                for (size_t ch = 0; ch < d; ch++) {
                    float acc = 0.0f;
                    for (int j = 0; j < r; j++)
                        acc += u[ch + (size_t)j * d] * s[j] * vt[(size_t)j + t * mn];
                    chunk[t * d + ch] = acc;
                }
            st->rank_sum += r;
            st->chunks++;
        }
    rc = 0;
done:
    free(a);
    free(s);
    free(u);
    free(vt);
    return rc;
}

void hs_kv_quant_span(const hs_kv_config *cfg, size_t *t0, size_t *t1)
{
    size_t T = (size_t)cfg->tokens;
    size_t lo = cfg->method == HS_KV_KVQUANT ? (size_t)cfg->sink_tokens : 0;
    size_t res = (size_t)cfg->residual_length;
    *t0 = lo;
    *t1 = lo + res >= T ? lo : T - res;
}

int hs_kv_compress(const hs_kv_config *cfg, bool is_key, float *x, size_t n, hs_kv_stats *st,
                   hs_error *err)
{
    size_t T = (size_t)cfg->tokens, d = (size_t)cfg->head_dim, t0, t1;
    int bits = is_key ? cfg->k_bits : cfg->v_bits;
    switch (cfg->method) {
    case HS_KV_FP16:
        return 0;
    case HS_KV_KIVI:
        hs_kv_quant_span(cfg, &t0, &t1);
        if (is_key)
            hs_kv_quant_per_channel(x, NULL, n, T, d, t0, t1, (size_t)cfg->group_size, bits);
        else
            hs_kv_quant_per_token(x, NULL, n, T, d, t0, t1, (size_t)cfg->group_size, bits);
        return 0;
    case HS_KV_KVQUANT: {
        hs_kv_quant_span(cfg, &t0, &t1);
        unsigned char *keep = NULL;
        if (cfg->num_outliers > 0) {
            keep = malloc(n * T * d);
            if (!keep)
                return hs_err(err, "kvquant: out of memory for the outlier mask");
            hs_kv_outlier_mask(x, keep, n, T, d, t0, t1, cfg->num_outliers);
        }
        if (is_key)
            hs_kv_quant_per_channel(x, keep, n, T, d, t0, t1, (size_t)cfg->group_size, bits);
        else
            hs_kv_quant_per_token(x, keep, n, T, d, t0, t1, (size_t)cfg->group_size, bits);
        free(keep);
        return 0;
    }
    case HS_KV_FORGE:
        return hs_kv_forge(x, n, T, d, cfg, st, err);
    }
    return hs_err(err, "unknown kv method %d", (int)cfg->method);
}

int hs_kv_compress_on(const hs_kv_config *cfg, bool is_key, float *x, size_t n, bool use_cuda,
                      hs_kv_stats *st, hs_error *err)
{
    if (!use_cuda)
        return hs_kv_compress(cfg, is_key, x, n, st, err);
#ifdef HS_GPU_HAVE_CUDA
    return hs_kv_compress_cuda(cfg, is_key, x, n, st, err);
#else
    return hs_err(err, "kvcache: this build has no CUDA");
#endif
}

static double ceil_div(double a, double b)
{
    return ceil(a / b);
}

double hs_kv_storage_bits(const hs_kv_config *cfg, bool is_key, size_t n, const hs_kv_stats *st)
{
    double T = cfg->tokens, d = cfg->head_dim, N = (double)n;
    double bits = is_key ? cfg->k_bits : cfg->v_bits;
    size_t t0, t1;
    switch (cfg->method) {
    case HS_KV_FP16:
        return N * T * d * 16.0;
    case HS_KV_KIVI:
    case HS_KV_KVQUANT: {
        hs_kv_quant_span(cfg, &t0, &t1);
        double tq = (double)(t1 - t0), groups = 0.0;
        if (tq > 0) {
            double g = cfg->group_size;
            if (is_key)
                groups = d * ceil_div(tq, g > 0 ? g : tq);
            else
                groups = tq * ceil_div(d, g > 0 && g < d ? g : d);
        }
        double total = tq * d * bits + groups * 32.0 + (T - tq) * d * 16.0;
        if (cfg->method == HS_KV_KVQUANT)
            total += tq * cfg->num_outliers * (16.0 + ceil(log2(d)));
        return N * total;
    }
    case HS_KV_FORGE: {
        double c = cfg->chunk_size, tail = T - floor(T / c) * c;
        return (double)st->rank_sum * 16.0 * (c + d) + (double)st->chunks * 8.0 +
               N * tail * d * 16.0;
    }
    }
    return 0.0;
}

/* ---- synthetic data ------------------------------------------------------------------- */

static void fill_normal(hs_quant_rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)hs_quant_rng_normal(r);
}

/* One head: its own latent maps A (keys, queries) and B (values) and outlier channels, then
 * from stream `h`: keys (pre-RoPE), values and nq query vectors (pre-RoPE), and from stream
 * 2^32 + h: npk passkey query vectors. */
static int gen_head(const hs_kv_config *cfg, uint64_t h, size_t T, size_t d, float *k_pre, float *v,
                    float *q_pre, size_t nq, float *pk_pre, size_t npk, hs_error *err)
{
    int rc = -1;
    size_t r = d / 2 < KV_MAX_LATENT ? d / 2 : KV_MAX_LATENT;
    size_t zrows = T > nq ? T : nq;
    zrows = zrows > npk ? zrows : npk;
    float *A = malloc(r * d * sizeof *A), *B = malloc(r * d * sizeof *B);
    float *Z = malloc(zrows * r * sizeof *Z), *mean = malloc(d * sizeof *mean);
    float *gain = malloc(d * sizeof *gain);
    size_t *idx = malloc(d * sizeof *idx);
    if (!A || !B || !Z || !mean || !gain || !idx) {
        hs_err(err, "kvcache: out of memory generating a head");
        goto done;
    }
    hs_quant_rng rng;
    hs_quant_rng_seed(&rng, cfg->seed, h);
    fill_normal(&rng, A, r * d);
    fill_normal(&rng, B, r * d);
    for (size_t c = 0; c < d; c++) {
        mean[c] = 0.0f;
        gain[c] = 1.0f;
        idx[c] = c;
    }
    for (size_t i = 0; i < (size_t)cfg->outlier_channels; i++) {
        size_t j = i + hs_quant_rng_below(&rng, d - i), tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
        double sign = hs_quant_rng_uniform(&rng) < 0.5 ? -1.0 : 1.0;
        mean[idx[i]] = (float)(sign * cfg->outlier_scale);
        gain[idx[i]] = (float)sqrt(cfg->outlier_scale);
    }
    float a = (float)(sqrt(1.0 - KV_NOISE * KV_NOISE) / sqrt((double)r));
    fill_normal(&rng, Z, T * r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)d, (int)r, a, Z, (int)r, A,
                (int)d, 0.0f, k_pre, (int)d);
    for (size_t t = 0; t < T; t++)
        for (size_t c = 0; c < d; c++) {
            float *p = k_pre + t * d + c;
            *p = mean[c] + gain[c] * (*p + (float)(KV_NOISE * hs_quant_rng_normal(&rng)));
        }
    fill_normal(&rng, Z, T * r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)d, (int)r, a, Z, (int)r, B,
                (int)d, 0.0f, v, (int)d);
    for (size_t i = 0; i < T * d; i++)
        v[i] += (float)(KV_NOISE * hs_quant_rng_normal(&rng));
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass ? npk : nq;
        float *out = pass ? pk_pre : q_pre;
        if (!n)
            continue;
        if (pass)
            hs_quant_rng_seed(&rng, cfg->seed, (1ull << 32) + h);
        fill_normal(&rng, Z, n * r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)d, (int)r, a, Z, (int)r,
                    A, (int)d, 0.0f, out, (int)d);
        for (size_t i = 0; i < n * d; i++)
            out[i] += (float)(KV_NOISE * hs_quant_rng_normal(&rng));
    }
    rc = 0;
done:
    free(A);
    free(B);
    free(Z);
    free(mean);
    free(gain);
    free(idx);
    return rc;
}

/* Scale q so that its logits q.k_t / sqrt(d) over the head's T keys have std logit_std. */
static void scale_query(float *q, const float *k, size_t T, size_t d, double logit_std)
{
    double s1 = 0.0, s2 = 0.0;
    for (size_t t = 0; t < T; t++) {
        double l = cblas_sdot((int)d, q, 1, k + t * d, 1) / sqrt((double)d);
        s1 += l;
        s2 += l * l;
    }
    double mean = s1 / (double)T, var = s2 / (double)T - mean * mean;
    if (var > 0.0)
        cblas_sscal((int)d, (float)(logit_std / sqrt(var)), q, 1);
}

/* Plant the needle at `pos`: move the pre-RoPE key along the query's direction (rotated back
 * to pos) until its logit is the best other logit plus margin times the others' std. */
static void plant_needle(float *k_pre, float *k_ref, const float *q, size_t T, size_t d, size_t pos,
                         double margin, const float *cs, size_t npos)
{
    double best = -INFINITY, s1 = 0.0, s2 = 0.0;
    for (size_t t = 0; t < T; t++) {
        if (t == pos)
            continue;
        double s = cblas_sdot((int)d, q, 1, k_ref + t * d, 1);
        best = s > best ? s : best;
        s1 += s;
        s2 += s * s;
    }
    double m = s1 / (double)(T - 1), sd = sqrt(fmax(s2 / (double)(T - 1) - m * m, 0.0));
    double target = best + margin * sd;
    double qn = cblas_snrm2((int)d, q, 1);
    double cur = cblas_sdot((int)d, q, 1, k_ref + pos * d, 1);
    float *w = k_ref + pos * d; /* reused as scratch, then rewritten below */
    for (size_t c = 0; c < d; c++)
        w[c] = (float)(q[c] / qn);
    hs_kv_rope_apply(w, d, cs, npos, pos, true);
    float beta = (float)((target - cur) / qn);
    for (size_t c = 0; c < d; c++)
        k_pre[pos * d + c] += beta * w[c];
    memcpy(w, k_pre + pos * d, d * sizeof *w);
    hs_kv_rope_apply(w, d, cs, npos, pos, false);
}

void hs_kv_data_free(hs_kv_data *D)
{
    if (!D)
        return;
    free(D->k_in);
    free(D->k_ref);
    free(D->v_in);
    free(D->v_ref);
    free(D->q);
    free(D->rope);
    free(D->pk_in);
    free(D->pk_q);
    free(D->pk_pos);
    free(D->pk_depth);
    memset(D, 0, sizeof *D);
}

/* Passkey trial p = depth * passkeys + j uses head j mod heads: its keys are the haystack,
 * its query model gives the trial's query. */
static size_t trial_head(const hs_kv_config *cfg, size_t p)
{
    return (p % (size_t)cfg->passkeys) % (size_t)cfg->heads;
}

int hs_kv_data_build(const hs_kv_config *cfg, hs_kv_data *D, hs_error *err)
{
    memset(D, 0, sizeof *D);
    size_t H = (size_t)cfg->heads, T = (size_t)cfg->tokens, d = (size_t)cfg->head_dim;
    size_t Q = (size_t)cfg->queries, P = (size_t)cfg->passkeys * HS_KV_NDEPTHS;
    size_t npos = T + 1;
    D->H = H, D->T = T, D->d = d, D->Q = Q, D->P = P;
    float *kpre = malloc(T * d * sizeof *kpre), *hpre = malloc(T * d * sizeof *hpre);
    float *href = malloc(T * d * sizeof *href), *pkq = malloc((P ? P : 1) * d * sizeof *pkq);
    D->k_in = malloc(H * T * d * sizeof(float));
    D->k_ref = malloc(H * T * d * sizeof(float));
    D->v_in = malloc(H * T * d * sizeof(float));
    D->v_ref = malloc(H * T * d * sizeof(float));
    D->q = malloc(H * Q * d * sizeof(float));
    D->rope = hs_kv_rope_table(npos, d, cfg->rope_base);
    D->pk_in = malloc((P ? P : 1) * T * d * sizeof(float));
    D->pk_q = malloc((P ? P : 1) * d * sizeof(float));
    D->pk_pos = malloc((P ? P : 1) * sizeof(int));
    D->pk_depth = malloc((P ? P : 1) * sizeof(int));
    if (!kpre || !hpre || !href || !pkq || !D->k_in || !D->k_ref || !D->v_in || !D->v_ref ||
        !D->q || !D->rope || !D->pk_in || !D->pk_q || !D->pk_pos || !D->pk_depth) {
        hs_err(err, "kvcache: out of memory for %zu heads x %zu tokens x %zu dims", H, T, d);
        goto fail;
    }
    for (size_t h = 0; h < H; h++) {
        float *kr = D->k_ref + h * T * d, *ki = D->k_in + h * T * d;
        float *qh = D->q + h * Q * d;
        size_t npk = 0;
        for (size_t p = 0; p < P; p++)
            npk += trial_head(cfg, p) == h;
        if (gen_head(cfg, h, T, d, kpre, D->v_ref + h * T * d, qh, Q, pkq, npk, err) < 0)
            goto fail;
        memcpy(kr, kpre, T * d * sizeof *kr);
        rope_tokens(kr, 1, T, d, D->rope, npos);
        memcpy(ki, cfg->keys_pre_rope ? kpre : kr, T * d * sizeof *ki);
        hs_quant_f16_round_array(ki, T * d);
        for (size_t i = 0; i < Q; i++) {
            hs_kv_rope_apply(qh + i * d, d, D->rope, npos, T, false);
            scale_query(qh + i * d, kr, T, d, cfg->logit_std);
        }
        for (size_t p = 0, k = 0; p < P; p++) {
            if (trial_head(cfg, p) != h)
                continue;
            int depth = (int)(p / (size_t)cfg->passkeys);
            size_t pos = (size_t)floor(hs_kv_depths[depth] * (double)T);
            float *q = D->pk_q + p * d;
            memcpy(q, pkq + k++ * d, d * sizeof *q);
            hs_kv_rope_apply(q, d, D->rope, npos, T, false);
            scale_query(q, kr, T, d, cfg->logit_std);
            memcpy(hpre, kpre, T * d * sizeof *hpre);
            memcpy(href, kr, T * d * sizeof *href);
            plant_needle(hpre, href, q, T, d, pos, cfg->passkey_margin, D->rope, npos);
            float *in = D->pk_in + p * T * d;
            memcpy(in, cfg->keys_pre_rope ? hpre : href, T * d * sizeof *in);
            hs_quant_f16_round_array(in, T * d);
            D->pk_pos[p] = (int)pos;
            D->pk_depth[p] = depth;
        }
    }
    memcpy(D->v_in, D->v_ref, H * T * d * sizeof(float));
    hs_quant_f16_round_array(D->v_in, H * T * d);
    free(kpre);
    free(hpre);
    free(href);
    free(pkq);
    return 0;
fail:
    free(kpre);
    free(hpre);
    free(href);
    free(pkq);
    hs_kv_data_free(D);
    return -1;
}

/* ---- CPU reference of the whole run --------------------------------------------------- */

/* Softmax of both score rows in place (they become probabilities); returns KL(p || p^). */
static double softmax_kl(float *s, float *sh, size_t T)
{
    double m = -INFINITY, mh = -INFINITY;
    for (size_t t = 0; t < T; t++) {
        m = s[t] > m ? s[t] : m;
        mh = sh[t] > mh ? sh[t] : mh;
    }
    double z = 0.0, zh = 0.0;
    for (size_t t = 0; t < T; t++) {
        z += exp(s[t] - m);
        zh += exp(sh[t] - mh);
    }
    double lse = m + log(z), lseh = mh + log(zh), kl = 0.0;
    for (size_t t = 0; t < T; t++) {
        double lp = s[t] - lse, lph = sh[t] - lseh, p = exp(lp);
        kl += p * (lp - lph);
        s[t] = (float)p;
        sh[t] = (float)exp(lph);
    }
    return kl;
}

int hs_kv_run_cpu(const hs_kv_config *cfg, const hs_kv_data *D, hs_kv_raw *raw, hs_error *err)
{
    size_t H = D->H, T = D->T, d = D->d, Q = D->Q, P = D->P, npos = T + 1;
    int rc = -1;
    float *kh = malloc(H * T * d * sizeof *kh), *vh = malloc(H * T * d * sizeof *vh);
    float *pk = malloc((P ? P : 1) * T * d * sizeof *pk);
    float *S = malloc(Q * T * sizeof *S), *Sh = malloc(Q * T * sizeof *Sh);
    float *O = malloc(Q * d * sizeof *O), *Oh = malloc(Q * d * sizeof *Oh);
    float *sc = malloc(T * sizeof *sc);
    if (!kh || !vh || !pk || !S || !Sh || !O || !Oh || !sc) {
        hs_err(err, "kvcache: out of memory");
        goto done;
    }
    snprintf(raw->device_name, sizeof raw->device_name, "cpu");
    memcpy(kh, D->k_in, H * T * d * sizeof *kh);
    memcpy(vh, D->v_in, H * T * d * sizeof *vh);
    if (P)
        memcpy(pk, D->pk_in, P * T * d * sizeof *pk);
    double t0 = hs_monotonic();
    if (hs_kv_compress(cfg, true, kh, H, &raw->k_stats, err) < 0 ||
        hs_kv_compress(cfg, false, vh, H, &raw->v_stats, err) < 0 ||
        (P && hs_kv_compress(cfg, true, pk, P, &raw->pk_stats, err) < 0))
        goto done;
    if (cfg->keys_pre_rope) {
        rope_tokens(kh, H, T, d, D->rope, npos);
        rope_tokens(pk, P, T, d, D->rope, npos);
    }
    raw->compress_s = hs_monotonic() - t0;

    hs_quant_err2(kh, D->k_ref, H * T * d, &raw->k_err2, &raw->k_ref2);
    hs_quant_err2(vh, D->v_ref, H * T * d, &raw->v_err2, &raw->v_ref2);
    float scale = (float)(1.0 / sqrt((double)d));
    for (size_t h = 0; h < H; h++) {
        const float *q = D->q + h * Q * d;
        size_t off = h * T * d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Q, (int)T, (int)d, scale, q,
                    (int)d, D->k_ref + off, (int)d, 0.0f, S, (int)T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Q, (int)T, (int)d, scale, q,
                    (int)d, kh + off, (int)d, 0.0f, Sh, (int)T);
        for (size_t i = 0; i < Q; i++)
            raw->kl_sum += softmax_kl(S + i * T, Sh + i * T, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Q, (int)d, (int)T, 1.0f, S,
                    (int)T, D->v_ref + off, (int)d, 0.0f, O, (int)d);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Q, (int)d, (int)T, 1.0f, Sh,
                    (int)T, vh + off, (int)d, 0.0f, Oh, (int)d);
        double e2, r2;
        hs_quant_err2(Oh, O, Q * d, &e2, &r2);
        raw->o_err2 += e2;
        raw->o_ref2 += r2;
    }
    raw->rows = (long long)(H * Q);
    for (size_t p = 0; p < P; p++) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)T, (int)d, 1.0f, pk + p * T * d, (int)d,
                    D->pk_q + p * d, 1, 0.0f, sc, 1);
        size_t best = 0;
        for (size_t t = 1; t < T; t++)
            if (sc[t] > sc[best])
                best = t;
        raw->pk_total[D->pk_depth[p]]++;
        raw->pk_correct[D->pk_depth[p]] += best == (size_t)D->pk_pos[p];
    }
    rc = 0;
done:
    free(kh);
    free(vh);
    free(pk);
    free(S);
    free(Sh);
    free(O);
    free(Oh);
    free(sc);
    return rc;
}

/* ---- parameters ----------------------------------------------------------------------- */

enum { M_FP16 = 1, M_KIVI = 2, M_KVQUANT = 4, M_FORGE = 8 };

static const struct {
    const char *key;
    int methods;
} method_keys[] = {
    { "bits", M_KIVI | M_KVQUANT },
    { "k_bits", M_KIVI | M_KVQUANT },
    { "key_bits", M_KIVI | M_KVQUANT },
    { "v_bits", M_KIVI | M_KVQUANT },
    { "value_bits", M_KIVI | M_KVQUANT },
    { "group_size", M_KIVI | M_KVQUANT },
    { "residual_length", M_KIVI | M_KVQUANT },
    { "num_outliers", M_KVQUANT },
    { "sink_tokens", M_KVQUANT },
    { "chunk_size", M_FORGE },
    { "energy_threshold", M_FORGE },
    { "min_rank", M_FORGE },
    { "max_rank", M_FORGE },
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

/* k_bits / key_bits, v_bits / value_bits: the ptq-bench spellings are aliases. */
static int get_bits(hs_params *p, json_object *params, const char *canon, const char *alias,
                    long long def, int *out, hs_error *err)
{
    if (has_key(params, canon) && has_key(params, alias))
        return hs_err(err,
                      "parameters %s and %s are the same (%s is ptq-bench's name for %s); "
                      "give one",
                      canon, alias, alias, canon);
    const char *key = has_key(params, alias) ? alias : canon;
    if (get_int(p, key, def, 1, 8, out, err) < 0)
        return -1;
    /* mark the other spelling as read, so check_unused does not list it */
    long long unused;
    return hs_params_int(p, key == alias ? canon : alias, def, 1, 8, &unused, err);
}

static int parse_config(json_object *params, hs_kv_config *c, hs_error *err)
{
    hs_params p;
    hs_params_init(&p, params);
    memset(c, 0, sizeof *c);
    const char *method = NULL, *rope = NULL;
    if (!has_key(params, "method"))
        return hs_err(err, "parameter method is required (one of: fp16, kivi, kvquant, forge)");
    if (hs_params_string(&p, "method", "fp16", method_names, &method, err) < 0)
        return -1;
    int mbit = 1;
    for (int i = 0; method_names[i]; i++)
        if (strcmp(method_names[i], method) == 0) {
            c->method = (hs_kv_method)i;
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
    long long seed;
    static const char *const rope_modes[] = { "auto", "pre", "post", NULL };
    if (get_int(&p, "heads", 8, 1, 4096, &c->heads, err) < 0 ||
        get_int(&p, "tokens", 1024, 16, 1 << 20, &c->tokens, err) < 0 ||
        get_int(&p, "head_dim", 128, 8, 1024, &c->head_dim, err) < 0 ||
        get_int(&p, "queries", 32, 1, 4096, &c->queries, err) < 0 ||
        get_int(&p, "passkeys", 10, 0, 1000, &c->passkeys, err) < 0 ||
        hs_params_int(&p, "seed", 0, 0, 1LL << 53, &seed, err) < 0 ||
        hs_params_double(&p, "rope_base", 10000.0, 1.0, 1e9, &c->rope_base, err) < 0 ||
        get_int(&p, "outlier_channels", 4, 0, 1024, &c->outlier_channels, err) < 0 ||
        hs_params_double(&p, "outlier_scale", 8.0, 1.0, 1000.0, &c->outlier_scale, err) < 0 ||
        hs_params_double(&p, "logit_std", 2.0, 0.01, 100.0, &c->logit_std, err) < 0 ||
        hs_params_double(&p, "passkey_margin", 0.5, 0.0, 100.0, &c->passkey_margin, err) < 0 ||
        hs_params_string(&p, "rope", "auto", rope_modes, &rope, err) < 0)
        return -1;
    c->seed = (uint64_t)seed;
    if (c->head_dim % 2)
        return hs_err(err, "parameter head_dim = %d must be even (rotary pairs)", c->head_dim);
    if (c->outlier_channels > c->head_dim)
        return hs_err(err, "parameter outlier_channels = %d exceeds head_dim = %d",
                      c->outlier_channels, c->head_dim);
    if ((double)c->heads * c->tokens * c->head_dim > 1.0 * (1 << 30) ||
        (double)c->passkeys * HS_KV_NDEPTHS * c->tokens * c->head_dim > 1.0 * (1 << 30))
        return hs_err(err, "heads x tokens x head_dim (or 4 x passkeys x tokens x head_dim) "
                           "exceeds 2^30 values; make the cache smaller");
    /* KVQuant quantizes keys before RoPE; KIVI and FORGE compress the cache as stored. */
    c->keys_pre_rope =
        strcmp(rope, "auto") == 0 ? c->method == HS_KV_KVQUANT : strcmp(rope, "pre") == 0;
    int T = c->tokens;
    switch (c->method) {
    case HS_KV_FP16:
        break;
    case HS_KV_KIVI:
    case HS_KV_KVQUANT: {
        bool kivi = c->method == HS_KV_KIVI;
        /* bits: both at once; k_bits / v_bits (or key_bits / value_bits) one each */
        int both = 2;
        if (has_key(params, "bits")) {
            static const char *const each[] = { "k_bits", "key_bits", "v_bits", "value_bits" };
            for (int i = 0; i < 4; i++)
                if (has_key(params, each[i]))
                    return hs_err(err,
                                  "parameters bits and %s are both given: bits sets k_bits "
                                  "and v_bits together; give one or the other",
                                  each[i]);
        }
        if (get_int(&p, "bits", 2, 1, 8, &both, err) < 0 ||
            get_bits(&p, params, "k_bits", "key_bits", both, &c->k_bits, err) < 0 ||
            get_bits(&p, params, "v_bits", "value_bits", both, &c->v_bits, err) < 0 ||
            get_int(&p, "group_size", kivi ? 32 : 0, 0, T, &c->group_size, err) < 0 ||
            get_int(&p, "residual_length", kivi ? 128 : 32, 0, T, &c->residual_length, err) < 0)
            return -1;
        if (!kivi &&
            (get_int(&p, "num_outliers", 1, 0, c->head_dim - 1, &c->num_outliers, err) < 0 ||
             get_int(&p, "sink_tokens", 0, 0, T, &c->sink_tokens, err) < 0))
            return -1;
        break;
    }
    case HS_KV_FORGE:
        if (get_int(&p, "chunk_size", 16, 1, T, &c->chunk_size, err) < 0 ||
            hs_params_double(&p, "energy_threshold", 0.95, 1e-6, 1.0, &c->energy_threshold, err) <
                0 ||
            get_int(&p, "min_rank", 2, 1, 1024, &c->min_rank, err) < 0 ||
            get_int(&p, "max_rank", 32, 1, 1 << 20, &c->max_rank, err) < 0)
            return -1;
        if (c->max_rank < c->min_rank)
            return hs_err(err, "parameter max_rank = %d is below min_rank = %d", c->max_rank,
                          c->min_rank);
        int full = c->chunk_size < c->head_dim ? c->chunk_size : c->head_dim;
        if (c->min_rank > full)
            return hs_err(err,
                          "parameter min_rank = %d exceeds the full rank of a chunk, "
                          "min(chunk_size, head_dim) = %d",
                          c->min_rank, full);
        break;
    }
    return hs_params_check_unused(&p, "kvcache", err);
}

/* ---- the probe ------------------------------------------------------------------------- */

static void put(json_object *o, const char *k, double v)
{
    json_object_object_add(o, k, json_object_new_double(v));
}

static void put_int(json_object *o, const char *k, long long v)
{
    json_object_object_add(o, k, json_object_new_int64(v));
}

static void warn(json_object *result, const char *msg)
{
    json_object *w;
    if (!json_object_object_get_ex(result, "warnings", &w)) {
        w = json_object_new_array();
        json_object_object_add(result, "warnings", w);
    }
    json_object_array_add(w, json_object_new_string(msg));
}

int hs_probe_kvcache(json_object *params, bool use_cuda, json_object *result, hs_error *err)
{
    double start = hs_monotonic();
    hs_kv_config cfg;
    if (parse_config(params, &cfg, err) < 0)
        return -1;
    hs_kv_data D;
    if (hs_kv_data_build(&cfg, &D, err) < 0)
        return -1;
    hs_kv_raw raw;
    memset(&raw, 0, sizeof raw);
    int rc;
    if (use_cuda) {
#ifdef HS_GPU_HAVE_CUDA
        rc = hs_kv_run_cuda(&cfg, &D, &raw, err);
#else
        rc = hs_err(err, "kvcache: this build has no CUDA");
#endif
    } else {
        rc = hs_kv_run_cpu(&cfg, &D, &raw, err);
    }
    hs_kv_data_free(&D);
    if (rc < 0)
        return -1;

    size_t H = (size_t)cfg.heads;
    double values = (double)H * cfg.tokens * cfg.head_dim;
    double kb = hs_kv_storage_bits(&cfg, true, H, &raw.k_stats);
    double vb = hs_kv_storage_bits(&cfg, false, H, &raw.v_stats);
    double bpv = (kb + vb) / (2.0 * values);
    put(result, "k_rel_err", sqrt(raw.k_err2 / raw.k_ref2));
    put(result, "v_rel_err", sqrt(raw.v_err2 / raw.v_ref2));
    put(result, "attn_out_rel_err", sqrt(raw.o_err2 / raw.o_ref2));
    put(result, "attn_kl", raw.kl_sum / (double)raw.rows);
    put(result, "k_bits_per_value", kb / values);
    put(result, "v_bits_per_value", vb / values);
    put(result, "bits_per_value", bpv);
    put(result, "compression_ratio", 16.0 / bpv);
    if (cfg.method == HS_KV_FORGE) {
        put(result, "k_rank_mean", (double)raw.k_stats.rank_sum / (double)raw.k_stats.chunks);
        put(result, "v_rank_mean", (double)raw.v_stats.rank_sum / (double)raw.v_stats.chunks);
    }
    if (cfg.passkeys > 0) {
        int correct = 0, total = 0;
        for (int i = 0; i < HS_KV_NDEPTHS; i++) {
            char name[32];
            snprintf(name, sizeof name, "passkey_acc_%s", depth_labels[i]);
            put(result, name, (double)raw.pk_correct[i] / raw.pk_total[i]);
            correct += raw.pk_correct[i];
            total += raw.pk_total[i];
        }
        put(result, "passkey_acc", (double)correct / total);
        put_int(result, "passkey_correct", correct);
        put_int(result, "passkey_total", total);
    }
    if (cfg.method == HS_KV_KIVI || cfg.method == HS_KV_KVQUANT) {
        size_t t0, t1;
        hs_kv_quant_span(&cfg, &t0, &t1);
        if (t1 <= t0)
            warn(result, "no token is quantized (sink_tokens + residual_length >= tokens): "
                         "the cache stays fp16");
    }
    put(result, "compress_time_s", raw.compress_s);
    put(result, "time_s", hs_monotonic() - start);
    json_object_object_add(result, "device_name", json_object_new_string(raw.device_name));
    return 0;
}
