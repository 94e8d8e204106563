/* The preflight in local mode (one rank, MPI_COMM_SELF) where no GPU can be used: CUDA is
 * started with CUDA_VISIBLE_DEVICES="" (it reads the variable once) and NVML is absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "preflight.h"

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
    hs_gpu_device *devs = NULL;
    /* start CUDA (in a CUDA build) while every GPU is hidden */
    if (hs_gpu_list(&devs, NULL) != 0) {
        free(devs);
        printf("skipped: a GPU is visible despite CUDA_VISIBLE_DEVICES=\"\"\n");
        return 77;
    }
    MPI_Init(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preflight_no_gpu),
        cmocka_unit_test(test_preflight_claimed_gpu_fails),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    MPI_Finalize();
    return rc;
}
