/* The weightquant probe: GPTQ against RTN, AWQ at alpha = 0 against RTN, a real
 * .safetensors weight, the bit accounting, and parameter errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu.h"
#include "quant.h"
#include "st_writer.h"
#include "weightquant.h"

static json_object *run(const char *params_json, hs_error *err)
{
    json_object *params = json_tokener_parse(params_json);
    if (!params)
        fail_msg("bad JSON in the test: %s", params_json);
    json_object *result = json_object_new_object();
    int rc = hs_probe_run("weightquant", params, "cpu", result, err);
    json_object_put(params);
    if (rc < 0) {
        json_object_put(result);
        return NULL;
    }
    return result;
}

static json_object *run_ok(const char *params_json)
{
    hs_error err = { "" };
    json_object *r = run(params_json, &err);
    if (!r)
        fail_msg("%s: %s", params_json, err.text);
    return r;
}

static double num(json_object *r, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(r, key, &v))
        fail_msg("no metric %s", key);
    return json_object_get_double(v);
}

static void expect_error(const char *params_json, const char *needle)
{
    hs_error err = { "" };
    json_object *r = run(params_json, &err);
    if (r) {
        json_object_put(r);
        fail_msg("%s: ran; expected an error containing \"%s\"", params_json, needle);
    }
    if (!strstr(err.text, needle))
        fail_msg("%s: error \"%s\" does not contain \"%s\"", params_json, err.text, needle);
}

static void test_gptq_not_worse_than_rtn(void **state)
{
    (void)state;
    /* {parameters of both, extra GPTQ parameters} */
    const char *cases[][2] = { { "\"bits\": 4", "" },
                               { "\"bits\": 3", "" },
                               { "\"bits\": 4, \"scheme\": \"sym\"", "" },
                               { "\"bits\": 3, \"group_size\": -1", "" },
                               { "\"bits\": 2, \"group_size\": 64", "" },
                               { "\"bits\": 4, \"seed\": 9", "" },
                               { "\"bits\": 3", ", \"block_size\": 512" },
                               { "\"bits\": 3", ", \"block_size\": 32, \"damp\": 0.1" } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char a[256], b[256];
        snprintf(a, sizeof a, "{\"method\": \"rtn\", %s}", cases[i][0]);
        snprintf(b, sizeof b, "{\"method\": \"gptq\", %s%s}", cases[i][0], cases[i][1]);
        json_object *rtn = run_ok(a), *gptq = run_ok(b);
        if (!(num(gptq, "out_rel_err") < num(rtn, "out_rel_err")))
            fail_msg("%s: GPTQ output error %g not below RTN's %g", b, num(gptq, "out_rel_err"),
                     num(rtn, "out_rel_err"));
        json_object_put(rtn);
        json_object_put(gptq);
    }
    /* act_order runs, and also beats RTN */
    json_object *rtn = run_ok("{\"method\": \"rtn\", \"bits\": 3}");
    json_object *ao = run_ok("{\"method\": \"gptq\", \"bits\": 3, \"act_order\": true}");
    assert_true(num(ao, "out_rel_err") < num(rtn, "out_rel_err"));
    /* g_idx costs one int32 per input column: 32 / 256 rows */
    assert_true(fabs(num(ao, "bits_per_weight") - num(rtn, "bits_per_weight") - 32.0 / 256) <
                1e-12);
    json_object_put(rtn);
    json_object_put(ao);
}

/* GPTQ against a direct transcription of the OBS step in double precision, with the inverse
 * Hessian downdated column by column instead of GPTQ's Cholesky rows and lazy blocks: for each
 * column j (in act order if asked), q = Q(w_j) on its group's grid, then
 *   W[:, k] -= (w_j - q) Hinv[j][k] / Hinv[j][j]                for k > j,
 *   Hinv[a][b] -= Hinv[a][j] Hinv[j][b] / Hinv[j][j]            for a, b > j.
 * Groups of 8 start on block boundaries (blocks of 4), where the two orders see the same
 * weights. */
static void check_gptq_obs(bool act_order)
{
    enum { R = 8, C = 16, N = 64, G = 8 };
    hs_wq_config c = { 0 };
    c.method = HS_WQ_GPTQ;
    c.bits = 3;
    c.group_size = G;
    c.scheme = HS_QUANT_ASYM;
    c.damp = 0.01;
    c.block_size = 4;
    c.act_order = act_order;
    c.in_features = C;
    c.out_features = R;
    c.calib_tokens = N;
    c.eval_tokens = 4;
    c.outlier_channels = 2;
    c.outlier_scale = 5;
    c.seed = 11;
    hs_wq_data D;
    hs_error err = { "" };
    assert_int_equal(hs_wq_data_build(&c, &D, &err), 0);
    float got[R * C];
    assert_int_equal(hs_wq_quantize_cpu(&c, &D, got, NULL, &err), 0);

    double H[C][C], A[C][2 * C], W[R][C];
    int perm[C];
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            double acc = 0;
            for (int t = 0; t < N; t++)
                acc += (double)D.xcal[t * C + i] * D.xcal[t * C + j];
            H[i][j] = 2.0 * acc / N;
        }
    for (int i = 0; i < C; i++)
        perm[i] = i;
    for (int i = 1; act_order && i < C; i++) /* stable insertion sort, diagonal descending */
        for (int k = i; k > 0 && H[perm[k]][perm[k]] > H[perm[k - 1]][perm[k - 1]]; k--) {
            int tmp = perm[k];
            perm[k] = perm[k - 1];
            perm[k - 1] = tmp;
        }
    double mean = 0;
    for (int i = 0; i < C; i++)
        mean += H[i][i] / C;
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            A[i][j] = H[perm[i]][perm[j]] + (i == j ? 0.01 * mean : 0.0);
            A[i][C + j] = i == j;
        }
    for (int col = 0; col < C; col++) { /* Gauss-Jordan; the matrix is positive definite */
        double piv = A[col][col];
        for (int j = 0; j < 2 * C; j++)
            A[col][j] /= piv;
        for (int i = 0; i < C; i++)
            if (i != col) {
                double f = A[i][col];
                for (int j = 0; j < 2 * C; j++)
                    A[i][j] -= f * A[col][j];
            }
    }
    double Hi[C][C];
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++)
            Hi[i][j] = A[i][C + j];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < C; j++)
            W[r][j] = D.w[r * C + perm[j]];
    float want[R * C];
    hs_quant_grid grid[R];
    for (int j = 0; j < C; j++) {
        for (int r = 0; r < R; r++) {
            if (j % G == 0) {
                float g[G];
                for (int i = 0; i < G; i++)
                    g[i] = (float)W[r][j + i];
                grid[r] = hs_quant_grid_fit(g, G, 1, c.bits, c.scheme);
            }
            float q = hs_quant_grid_apply(&grid[r], (float)W[r][j]);
            want[r * C + perm[j]] = q;
            double e = (W[r][j] - q) / Hi[j][j];
            for (int k = j + 1; k < C; k++)
                W[r][k] -= e * Hi[j][k];
        }
        for (int a = j + 1; a < C; a++)
            for (int b = j + 1; b < C; b++)
                Hi[a][b] -= Hi[a][j] * Hi[j][b] / Hi[j][j];
    }
    int differ = 0;
    for (int i = 0; i < R * C; i++)
        if (fabsf(got[i] - want[i]) > 1e-4f * (1.0f + fabsf(want[i])))
            differ++;
    if (differ)
        fail_msg("act_order %d: %d of %d weights differ from the OBS transcription", act_order,
                 differ, R * C);
    hs_wq_data_free(&D);
}

static void test_gptq_matches_obs(void **state)
{
    (void)state;
    check_gptq_obs(false);
    check_gptq_obs(true);
}

static void test_awq_alpha0_is_rtn(void **state)
{
    (void)state;
    hs_wq_config c = { 0 };
    c.method = HS_WQ_RTN;
    c.bits = 3;
    c.group_size = 64;
    c.scheme = HS_QUANT_ASYM;
    c.in_features = 256;
    c.out_features = 64;
    c.calib_tokens = 128;
    c.eval_tokens = 16;
    c.outlier_channels = 4;
    c.outlier_scale = 20;
    hs_wq_data D;
    hs_error err = { "" };
    assert_int_equal(hs_wq_data_build(&c, &D, &err), 0);
    size_t n = D.rows * D.cols;
    float *rtn = malloc(n * sizeof *rtn), *awq = malloc(n * sizeof *awq);
    assert_non_null(rtn);
    assert_non_null(awq);
    for (int sym = 0; sym < 2; sym++) {
        c.scheme = sym ? HS_QUANT_SYM : HS_QUANT_ASYM;
        c.method = HS_WQ_RTN;
        assert_int_equal(hs_wq_quantize_cpu(&c, &D, rtn, NULL, &err), 0);
        c.method = HS_WQ_AWQ;
        c.alpha = 0.0;
        c.awq_grid = 20;
        double alpha = -1;
        assert_int_equal(hs_wq_quantize_cpu(&c, &D, awq, &alpha, &err), 0);
        assert_true(alpha == 0.0);
        assert_memory_equal(rtn, awq, n * sizeof *rtn);
        /* a real scale changes the result */
        c.alpha = 0.5;
        assert_int_equal(hs_wq_quantize_cpu(&c, &D, awq, &alpha, &err), 0);
        assert_true(memcmp(rtn, awq, n * sizeof *rtn) != 0);
    }
    free(rtn);
    free(awq);
    hs_wq_data_free(&D);
    /* through the probe: alpha = 0 gives RTN's errors exactly; the search beats RTN here */
    json_object *r = run_ok("{\"method\": \"rtn\", \"bits\": 3}");
    json_object *a0 = run_ok("{\"method\": \"awq\", \"bits\": 3, \"alpha\": 0}");
    json_object *as = run_ok("{\"method\": \"awq\", \"bits\": 3}");
    assert_true(num(r, "w_rel_err") == num(a0, "w_rel_err"));
    assert_true(num(r, "out_rel_err") == num(a0, "out_rel_err"));
    assert_true(num(as, "out_rel_err") < num(r, "out_rel_err"));
    double alpha = num(as, "awq_alpha");
    assert_true(alpha >= 0.0 && alpha <= 0.95 && fabs(alpha * 20 - rint(alpha * 20)) < 1e-6);
    json_object_put(r);
    json_object_put(a0);
    json_object_put(as);
}

static void test_bits_and_fp16(void **state)
{
    (void)state;
    json_object *f = run_ok("{\"method\": \"fp16\"}");
    assert_true(num(f, "bits_per_weight") == 16.0);
    assert_true(num(f, "w_rel_err") > 0 && num(f, "w_rel_err") < 1e-3);
    json_object_put(f);
    /* 4-bit asym g128: 4 + (16-bit scale + 4-bit zero) / 128 */
    json_object *a = run_ok("{\"method\": \"rtn\", \"bits\": 4, \"group_size\": 128}");
    assert_true(num(a, "bits_per_weight") == 4.0 + 20.0 / 128);
    assert_true(num(a, "group_size_used") == 128.0);
    json_object_put(a);
    /* 3-bit sym, one group per row of 512: 3 + 16 / 512 */
    json_object *s =
        run_ok("{\"method\": \"rtn\", \"bits\": 3, \"group_size\": -1, \"scheme\": \"symmetric\"}");
    assert_true(num(s, "bits_per_weight") == 3.0 + 16.0 / 512);
    assert_true(num(s, "group_size_used") == 512.0);
    json_object_put(s);
    /* fewer bits, larger error */
    json_object *b2 = run_ok("{\"method\": \"rtn\", \"bits\": 2}");
    json_object *b8 = run_ok("{\"method\": \"rtn\", \"bits\": 8}");
    assert_true(num(b2, "w_rel_err") > num(b8, "w_rel_err"));
    assert_true(num(b2, "out_rel_err") > num(b8, "out_rel_err"));
    json_object_put(b2);
    json_object_put(b8);
}

static void test_safetensors_weight(void **state)
{
    (void)state;
    enum { R = 48, C = 96 };
    char path[256];
    st_tmp_path(path, sizeof path);
    /* an F16 weight whose values are exact in fp16 (k / 64), then a BF16 tensor of rank 3 */
    uint16_t w[R * C], cube[8] = { 0 };
    hs_quant_rng r;
    hs_quant_rng_seed(&r, 1, 0);
    for (int i = 0; i < R * C; i++)
        w[i] = hs_quant_f16_from_f32((float)((long)(hs_quant_rng_normal(&r) * 64) / 64.0));
    unsigned char data[R * C * 2 + 16];
    st_le16(data, w, R * C);
    st_le16(data + R * C * 2, cube, 8);
    char header[512];
    snprintf(header, sizeof header,
             "{\"model.layers.0.mlp.down_proj.weight\":{\"dtype\":\"F16\",\"shape\":[%d,%d],"
             "\"data_offsets\":[0,%d]},\"cube\":{\"dtype\":\"BF16\",\"shape\":[2,2,2],"
             "\"data_offsets\":[%d,%d]}}",
             R, C, R * C * 2, R * C * 2, R * C * 2 + 16);
    assert_int_equal(st_write(path, header, data, sizeof data), 0);

    char p[1024];
    snprintf(p, sizeof p,
             "{\"method\": \"fp16\", \"safetensors\": \"%s\", \"tensor\": "
             "\"model.layers.0.mlp.down_proj.weight\"}",
             path);
    json_object *f = run_ok(p);
    assert_true(num(f, "rows") == R && num(f, "cols") == C);
    assert_true(num(f, "w_rel_err") == 0.0); /* already fp16: the cast changes nothing */
    json_object_put(f);
    snprintf(p, sizeof p,
             "{\"method\": \"gptq\", \"bits\": 3, \"group_size\": 32, \"safetensors\": \"%s\", "
             "\"tensor\": \"model.layers.0.mlp.down_proj.weight\", \"max_rows\": 20}",
             path);
    json_object *g = run_ok(p);
    assert_true(num(g, "rows") == 20 && num(g, "cols") == C);
    assert_true(num(g, "w_rel_err") > 0.01);
    json_object_put(g);
    snprintf(p, sizeof p, "{\"method\": \"rtn\", \"safetensors\": \"%s\", \"tensor\": \"cube\"}",
             path);
    expect_error(p, "has shape [2, 2, 2]; a weight must be 2-D");
    snprintf(p, sizeof p, "{\"method\": \"rtn\", \"safetensors\": \"%s\", \"tensor\": \"w\"}",
             path);
    expect_error(p, "no tensor named 'w'");
    snprintf(p, sizeof p,
             "{\"method\": \"rtn\", \"safetensors\": \"%s\", \"tensor\": \"cube\", "
             "\"in_features\": 4}",
             path);
    expect_error(p, "in_features is taken from the tensor");
    /* a truncated file fails with the file's name */
    assert_int_equal(st_write(path, header, data, 100), 0);
    snprintf(p, sizeof p, "{\"method\": \"rtn\", \"safetensors\": \"%s\", \"tensor\": \"cube\"}",
             path);
    expect_error(p, "run past the data section");
    expect_error(p, path);
    unlink(path);
}

static void test_parameter_errors(void **state)
{
    (void)state;
    expect_error("{}", "parameter method is required");
    expect_error("{\"method\": \"smoothquant\"}", "is not one of: fp16, rtn, awq, gptq");
    expect_error("{\"method\": \"rtn\", \"bits\": 1}", "bits = 1 is out of range [2, 8]");
    expect_error("{\"method\": \"rtn\", \"group_size\": 0}", "group_size = 0");
    expect_error("{\"method\": \"rtn\", \"scheme\": \"nf4\"}", "scheme = \"nf4\"");
    expect_error("{\"method\": \"rtn\", \"damp\": 0.1}", "damp applies to method gptq, not rtn");
    expect_error("{\"method\": \"fp16\", \"bits\": 4}", "bits applies to method rtn, awq, gptq");
    expect_error("{\"method\": \"awq\", \"alpha\": -0.5}", "alpha = -0.5");
    expect_error("{\"method\": \"awq\", \"alpha\": 2}", "alpha = 2 is out of range");
    expect_error("{\"method\": \"gptq\", \"act_order\": 1}", "act_order = 1 must be true or false");
    expect_error("{\"method\": \"gptq\", \"blocksize\": 64}", "no parameter 'blocksize'");
    expect_error("{\"method\": \"rtn\", \"tensor\": \"w\"}", "tensor needs safetensors");
    expect_error("{\"method\": \"rtn\", \"safetensors\": \"/x.safetensors\"}",
                 "safetensors needs tensor");
    expect_error("{\"method\": \"rtn\", \"safetensors\": \"/nonexistent.safetensors\", "
                 "\"tensor\": \"w\"}",
                 "cannot open safetensors file /nonexistent.safetensors");
    expect_error("{\"method\": \"rtn\", \"in_features\": 131072, \"out_features\": 131072}",
                 "exceeds 2^30");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gptq_not_worse_than_rtn), cmocka_unit_test(test_gptq_matches_obs),
        cmocka_unit_test(test_awq_alpha0_is_rtn),       cmocka_unit_test(test_bits_and_fp16),
        cmocka_unit_test(test_safetensors_weight),      cmocka_unit_test(test_parameter_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
