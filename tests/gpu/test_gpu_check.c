/* Devices, preflight checks and telemetry on a real GPU. Skips (77) in a build without CUDA
 * or where no GPU is visible. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"

static hs_gpu_device *devs;
static int ndev;

static void test_device_fields(void **state)
{
    (void)state;
    for (int i = 0; i < ndev; i++) {
        assert_int_equal(devs[i].ordinal, i);
        assert_true(devs[i].name[0] != '\0');
        assert_memory_equal(devs[i].uuid, "GPU-", 4);
        assert_int_equal(strlen(devs[i].uuid), 40);
        assert_true(devs[i].mem_total_mb > 1024);
        assert_true(devs[i].cc_major >= 7);
        assert_true(devs[i].cuda[0] != '\0');
        assert_true(devs[i].driver[0] != '\0');
        print_message("GPU %d: %s %s, %.0f MiB, cc %d.%d, driver %s, CUDA %s\n", i, devs[i].name,
                      devs[i].uuid, devs[i].mem_total_mb, devs[i].cc_major, devs[i].cc_minor,
                      devs[i].driver, devs[i].cuda);
    }
}

static void test_gemm_check(void **state)
{
    (void)state;
    hs_gpu_gemm_check gc;
    hs_error err;
    if (hs_gpu_gemm_check_run(0, 2048, &gc, &err) < 0)
        fail_msg("GEMM check could not run: %s", err.text);
    print_message("GEMM 2048: %.2f TFLOP/s, max rel err %.2e (%s)\n", gc.tflops, gc.max_rel_err,
                  gc.message);
    assert_true(gc.ok);
    assert_true(gc.tflops > 0.1);
    assert_true(gc.max_rel_err <= 1e-3);
    /* a wrong ordinal is "could not run", not a failed GPU */
    assert_int_equal(hs_gpu_gemm_check_run(ndev, 256, &gc, &err), -1);
}

static void test_single_rank_allreduce(void **state)
{
    (void)state;
    if (!hs_gpu_built_with_nccl())
        skip();
    unsigned char id[HS_GPU_NCCL_ID_BYTES];
    hs_gpu_allreduce_check ac;
    hs_error err;
    if (hs_gpu_nccl_unique_id(id, &err) < 0)
        fail_msg("ncclGetUniqueId: %s", err.text);
    if (hs_gpu_allreduce_check_run(id, 1, 0, 0, 8 << 20, &ac, &err) < 0)
        fail_msg("all-reduce could not run: %s", err.text);
    assert_true(ac.ok);
    assert_true(ac.seconds > 0);
    assert_true(ac.busbw_gbs == 0); /* 2 (n-1)/n with n = 1 */
}

static void test_telemetry(void **state)
{
    (void)state;
    hs_error err;
    hs_gpu_telemetry *t = hs_gpu_telemetry_start(devs[0].uuid, 0.05, &err);
    if (!t) {
        print_message("no telemetry here: %s\n", err.text);
        skip();
    }
    hs_gpu_gemm_check gc;
    assert_int_equal(hs_gpu_gemm_check_run(0, 4096, &gc, &err), 0);
    hs_gpu_usage u;
    hs_gpu_telemetry_stop(t, &u);
    print_message("telemetry: %d samples, peak %.0f MiB, util %.1f%%, energy %.2f J\n", u.samples,
                  u.mem_peak_mb, u.util_mean, u.energy_j);
    assert_true(u.valid);
    assert_true(u.samples >= 2);
    assert_true(u.mem_peak_mb > 0);
    assert_true(isnan(u.energy_j) || u.energy_j >= 0);
}

int main(void)
{
    hs_error err;
    ndev = hs_gpu_list(&devs, &err);
    if (!hs_gpu_built_with_cuda() || ndev <= 0) {
        printf("skipped: %s\n", !hs_gpu_built_with_cuda() ? "built without CUDA"
                                : ndev < 0                ? err.text
                                                          : "no GPU visible");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_fields),
        cmocka_unit_test(test_gemm_check),
        cmocka_unit_test(test_single_rank_allreduce),
        cmocka_unit_test(test_telemetry),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(devs);
    return rc;
}
