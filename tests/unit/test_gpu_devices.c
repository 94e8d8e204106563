/* Devices, telemetry and the preflight checks where there is no GPU to use. CUDA_VISIBLE_DEVICES=""
 * hides every GPU from CUDA (and from the NVML path, which applies it the same way), so these hold
 * on a GPU machine too. */
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

static void test_no_gpu_listed(void **state)
{
    (void)state;
    hs_gpu_device *devs = (hs_gpu_device *)&devs; /* must be overwritten */
    hs_error err;
    assert_int_equal(hs_gpu_list(&devs, &err), 0);
    assert_null(devs);
}

static void test_telemetry_without_nvml(void **state)
{
    (void)state;
    hs_error err = { "" };
    /* the library is loaded once per process: this test owns the first attempt */
    assert_null(hs_gpu_telemetry_start("0", 0.1, &err));
    assert_non_null(strstr(err.text, "NVML"));
    hs_gpu_usage u;
    memset(&u, 0x5a, sizeof u);
    hs_gpu_telemetry_stop(NULL, &u);
    assert_false(u.valid);
    assert_int_equal(u.samples, 0);
    assert_true(isnan(u.energy_j));
}

static void test_telemetry_bad_arguments(void **state)
{
    (void)state;
    hs_error err;
    assert_null(hs_gpu_telemetry_start("", 0.1, &err));
    assert_non_null(strstr(err.text, "id"));
    assert_null(hs_gpu_telemetry_start("0", 0, &err));
    assert_non_null(strstr(err.text, "interval"));
}

static void test_checks_cannot_run(void **state)
{
    (void)state;
    hs_gpu_gemm_check gc;
    hs_gpu_allreduce_check ac;
    hs_error err;
    unsigned char id[HS_GPU_NCCL_ID_BYTES] = { 0 };
    assert_int_equal(hs_gpu_gemm_check_run(0, 10, &gc, &err), -1);
    assert_non_null(strstr(err.text, "10"));
    /* no visible GPU (or no CUDA): the check says it could not run, it does not fail it */
    assert_int_equal(hs_gpu_gemm_check_run(0, 256, &gc, &err), -1);
    assert_false(gc.ok);
    assert_int_equal(hs_gpu_allreduce_check_run(id, 2, 2, 0, 1 << 20, &ac, &err), -1);
    assert_non_null(strstr(err.text, "rank 2 of 2"));
    if (!hs_gpu_built_with_nccl()) {
        assert_int_equal(hs_gpu_nccl_unique_id(id, &err), -1);
        assert_non_null(strstr(err.text, "without"));
    }
}

int main(void)
{
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    setenv("HYPERSWEEP_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_gpu_listed),
        cmocka_unit_test(test_telemetry_without_nvml),
        cmocka_unit_test(test_telemetry_bad_arguments),
        cmocka_unit_test(test_checks_cannot_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
