/* Devices, telemetry, the preflight checks and the preflight table where there is no GPU
 * to use. CUDA_VISIBLE_DEVICES="" hides every GPU from CUDA (and from the NVML path, which
 * applies it the same way), so these hold on a GPU machine too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "preflight.h"

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

static char *capture(const hs_preflight_row *rows, int n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    hs_preflight_print(rows, n, f);
    fclose(f);
    return text;
}

/* Local mode (one rank): the rank tests its own GPU; without one it passes and says so. */
static void test_preflight_no_gpu(void **state)
{
    (void)state;
    hs_preflight_opts o = { .gpus_per_node = -1 };
    hs_preflight_row *rows;
    int n;
    hs_error err;
    assert_int_equal(hs_preflight_run(MPI_COMM_SELF, &o, &rows, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_false(rows[0].has_gpu);
    assert_true(rows[0].ok);
    assert_int_equal(hs_preflight_failures(rows, n), 0);
    char *text = capture(rows, n);
    assert_non_null(strstr(text, "no GPU"));
    assert_true(strchr(text, '\n') == text + strlen(text) - 1); /* one line */
    free(text);
    free(rows);
}

/* --gpus-per-node 1 where no GPU can be used (CUDA started with none visible, and no NVML):
 * binding hands out GPU "0", the GEMM cannot run there, the row fails and says why. */
static void test_preflight_claimed_gpu_fails(void **state)
{
    (void)state;
    hs_preflight_opts o = { .gpus_per_node = 1, .gemm_n = 128 };
    hs_preflight_row *rows;
    int n;
    hs_error err;
    unsetenv("CUDA_VISIBLE_DEVICES"); /* so that the binding takes --gpus-per-node */
    int rc = hs_preflight_run(MPI_COMM_SELF, &o, &rows, &n, &err);
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 1);
    assert_true(rows[0].has_gpu);
    assert_string_equal(rows[0].visible, "0");
    assert_false(rows[0].ok);
    assert_false(rows[0].gemm_ran);
    assert_int_equal(hs_preflight_failures(rows, n), 1);
    char *text = capture(rows, n);
    assert_non_null(strstr(text, "FAIL"));
    assert_non_null(strstr(text, "GEMM"));
    assert_non_null(strstr(text, "CUDA_VISIBLE_DEVICES"));
    free(text);
    free(rows);
}

int main(int argc, char **argv)
{
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    setenv("HYPERSWEEP_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    MPI_Init(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_gpu_listed),
        cmocka_unit_test(test_telemetry_without_nvml),
        cmocka_unit_test(test_telemetry_bad_arguments),
        cmocka_unit_test(test_checks_cannot_run),
        cmocka_unit_test(test_preflight_no_gpu),
        cmocka_unit_test(test_preflight_claimed_gpu_fails),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    MPI_Finalize();
    return rc;
}
