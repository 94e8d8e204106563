/* The prune probe's hand-written backward against finite differences of an independent
 * double-precision forward: the mean gradient, the mean square of the per-sequence
 * gradients, and the per-token Fisher term (the second-order term of taylor2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"

enum { NBLOCKS = 2, D = 6, F = 10, V = 5, NSEQ = 3, L = 4, T = NSEQ * L };

static uint64_t rng_state;

static double uniform(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)
{
    return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* The model in double, written from the formulas in docs/probes.md, not from the code. */
typedef struct ref {
    double w[2 * NBLOCKS][F * D], head[V * D];
    int act;
} ref;

static double act(double h, int kind)
{
    if (kind == PRUNE_RELU)
        return h > 0 ? h : 0;
    return 0.5 * h * (1.0 + tanh(sqrt(2.0 / M_PI) * (h + 0.044715 * h * h * h)));
}

static void rms_normalise(const double *x, double *u)
{
    double ss = 0;
    for (int j = 0; j < D; j++)
        ss += x[j] * x[j];
    double r = sqrt(ss / D + 1e-6);
    for (int j = 0; j < D; j++)
        u[j] = x[j] / r;
}

static void ref_logits(const ref *m, const float *xt, double *z)
{
    double x[D], u[D], a[F];
    for (int j = 0; j < D; j++)
        x[j] = xt[j];
    for (int b = 0; b < NBLOCKS; b++) {
        rms_normalise(x, u);
        for (int i = 0; i < F; i++) {
            double h = 0;
            for (int j = 0; j < D; j++)
                h += m->w[2 * b][i * D + j] * u[j];
            a[i] = act(h, m->act);
        }
        for (int i = 0; i < D; i++)
            for (int k = 0; k < F; k++)
                x[i] += m->w[2 * b + 1][i * F + k] * a[k];
    }
    rms_normalise(x, u);
    for (int v = 0; v < V; v++) {
        z[v] = 0;
        for (int j = 0; j < D; j++)
            z[v] += m->head[v * D + j] * u[j];
    }
}

static double ref_loss(const ref *m, const float *xt, int label)
{
    double z[V], zmax = -INFINITY, sum = 0;
    ref_logits(m, xt, z);
    for (int v = 0; v < V; v++)
        zmax = z[v] > zmax ? z[v] : zmax;
    for (int v = 0; v < V; v++)
        sum += exp(z[v] - zmax);
    return zmax + log(sum) - z[label];
}

typedef struct fixture {
    prune_model m;
    ref r;
    float x[T * D];
    int label[T];
} fixture;

static void setup(fixture *fx, int activation, uint64_t seed)
{
    hs_error err;
    rng_state = seed;
    assert_int_equal(prune_model_alloc(&fx->m, NBLOCKS, D, F, V, activation, &err), 0);
    fx->r.act = activation;
    for (int l = 0; l < 2 * NBLOCKS; l++)
        for (int k = 0; k < F * D; k++) {
            double w = normal() / sqrt(l % 2 ? F : D);
            fx->m.w[l][k] = (float)w;
            fx->r.w[l][k] = fx->m.w[l][k];
        }
    for (int k = 0; k < V * D; k++) {
        fx->m.head[k] = (float)(2.0 * normal() / sqrt(D));
        fx->r.head[k] = fx->m.head[k];
    }
    for (int k = 0; k < T * D; k++)
        fx->x[k] = (float)normal();
    /* labels: the dense model's argmax; a clear winner, or the test would be ambiguous */
    for (int t = 0; t < T; t++) {
        double z[V];
        ref_logits(&fx->r, fx->x + t * D, z);
        int c = 0;
        for (int v = 1; v < V; v++)
            c = z[v] > z[c] ? v : c;
        for (int v = 0; v < V; v++)
            assert_true(v == c || z[c] - z[v] > 1e-4);
        fx->label[t] = c;
    }
}

/* d loss_t / d w for every token, by central differences */
static void fd_token_grads(fixture *fx, int l, int k, double *g)
{
    const double h = 1e-5;
    double w0 = fx->r.w[l][k];
    for (int t = 0; t < T; t++) {
        fx->r.w[l][k] = w0 + h;
        double lp = ref_loss(&fx->r, fx->x + t * D, fx->label[t]);
        fx->r.w[l][k] = w0 - h;
        double lm = ref_loss(&fx->r, fx->x + t * D, fx->label[t]);
        g[t] = (lp - lm) / (2 * h);
    }
    fx->r.w[l][k] = w0;
}

/* |a - b| / |b| over a layer, Frobenius */
static double rel_diff(const float *a, const double *b, int n)
{
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

static void check_gradients(int activation, double tol)
{
    fixture fx;
    hs_error err;
    prune_stats st;
    setup(&fx, activation, 42 + (uint64_t)activation);
    unsigned want = PRUNE_WANT_GRAD | PRUNE_WANT_FISHER;
    prune_backend *be = prune_cpu_ops.create(&fx.m, T, want, &err);
    assert_non_null(be);
    assert_int_equal(prune_stats_alloc(&st, &fx.m, want, &err), 0);
    /* two calls, to check that they accumulate: the first sequence, then the other two */
    assert_int_equal(prune_cpu_ops.calibrate(be, fx.x, 1, L, NSEQ, &err), 0);
    assert_int_equal(prune_cpu_ops.calibrate(be, fx.x + L * D, NSEQ - 1, L, NSEQ, &err), 0);
    assert_int_equal(prune_cpu_ops.stats(be, &st, &err), 0);

    double loss = 0;
    for (int t = 0; t < T; t++)
        loss += ref_loss(&fx.r, fx.x + t * D, fx.label[t]) / T;
    if (!(fabs(st.loss - loss) <= 1e-5 * loss))
        fail_msg("calibration loss %.9g, reference %.9g", st.loss, loss);

    for (int l = 0; l < 2 * NBLOCKS; l++) {
        static double mean[F * D], mean_sq_seq[F * D], fisher[F * D];
        for (int k = 0; k < F * D; k++) {
            double g[T];
            fd_token_grads(&fx, l, k, g);
            mean[k] = mean_sq_seq[k] = fisher[k] = 0;
            for (int s = 0; s < NSEQ; s++) {
                double gs = 0;
                for (int t = s * L; t < (s + 1) * L; t++) {
                    gs += g[t] / L;
                    fisher[k] += g[t] * g[t] / T;
                }
                mean[k] += gs / NSEQ;
                mean_sq_seq[k] += gs * gs / NSEQ;
            }
        }
        double eg = rel_diff(st.grad[l], mean, F * D);
        double es = rel_diff(st.grad_sq[l], mean_sq_seq, F * D);
        double ef = rel_diff(st.fisher[l], fisher, F * D);
        if (!(eg <= tol && es <= tol && ef <= tol))
            fail_msg("layer %d (%s): relative error of grad %.2e, grad_sq %.2e, fisher %.2e "
                     "(tolerance %.0e)",
                     l, activation == PRUNE_RELU ? "relu" : "gelu", eg, es, ef, tol);
    }
    prune_stats_free(&st);
    prune_cpu_ops.destroy(be);
    prune_model_free(&fx.m);
}

static void test_gradients_gelu(void **state)
{
    (void)state;
    /* float backend against a double reference: 1e-4 leaves room for fp32 rounding only */
    check_gradients(PRUNE_GELU, 1e-4);
}

static void test_gradients_relu(void **state)
{
    (void)state;
    check_gradients(PRUNE_RELU, 1e-4);
}

/* A layer whose gradient is exactly zero makes the ratios Infinity, and they say so. */
static void test_zero_gradient_ratio(void **state)
{
    (void)state;
    fixture fx;
    hs_error err;
    prune_stats st;
    setup(&fx, PRUNE_GELU, 7);
    memset(fx.m.w[0], 0, sizeof(float) * F * D); /* block 0 computes act(0) = 0 ... */
    prune_backend *be = prune_cpu_ops.create(&fx.m, T, PRUNE_WANT_GRAD, &err);
    assert_non_null(be);
    assert_int_equal(prune_stats_alloc(&st, &fx.m, PRUNE_WANT_GRAD, &err), 0);
    assert_int_equal(prune_cpu_ops.calibrate(be, fx.x, NSEQ, L, NSEQ, &err), 0);
    assert_int_equal(prune_cpu_ops.stats(be, &st, &err), 0);
    for (int k = 0; k < F * D; k++) /* ... so its down-projection sees a zero input */
        assert_true(st.grad[1][k] == 0.0f);
    double mean_ratio, norm_ratio;
    prune_grad_diagnostics(&fx.m, &st, &mean_ratio, &norm_ratio);
    assert_true(isinf(mean_ratio) && mean_ratio > 0);
    assert_true(isinf(norm_ratio) && norm_ratio > 0);
    prune_stats_free(&st);
    prune_cpu_ops.destroy(be);
    prune_model_free(&fx.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_gelu),
        cmocka_unit_test(test_gradients_relu),
        cmocka_unit_test(test_zero_gradient_ratio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
