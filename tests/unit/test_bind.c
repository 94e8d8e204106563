/* GPU binding: round-robin over the node's GPUs, CUDA_VISIBLE_DEVICES respected,
 * --gpus-per-node, no sharing unless asked, nodes without GPUs. (This machine's discovery
 * finds no GPU, so the offered lists come from the environment and the override.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bind.h"
#include "gpu.h"

static int no_gpu_here(void)
{
    hs_gpu_device *d = NULL;
    int n = hs_gpu_list(&d, NULL);
    free(d);
    return n == 0;
}

static void test_inherited_list_round_robin(void **state)
{
    (void)state;
    if (!no_gpu_here())
        skip();
    setenv("CUDA_VISIBLE_DEVICES", "GPU-aaa, GPU-bbb,GPU-ccc ,GPU-ddd", 1);
    hs_binding b;
    hs_error err;
    const char *expect[] = { "GPU-aaa", "GPU-bbb", "GPU-ccc", "GPU-ddd" };
    for (int r = 0; r < 4; r++) {
        assert_int_equal(hs_gpu_bind(r, 4, -1, false, &b, &err), 0);
        assert_true(b.has_gpu);
        assert_int_equal(b.slot, r);
        assert_int_equal(b.ngpus, 4);
        assert_false(b.shared);
        assert_string_equal(b.visible, expect[r]);
        assert_string_equal(b.telemetry_id, expect[r]);
    }
    /* five workers on four GPUs: refused unless sharing is asked for */
    assert_int_equal(hs_gpu_bind(4, 5, -1, false, &b, &err), -1);
    assert_non_null(strstr(err.text, "offers 4 GPUs (CUDA_VISIBLE_DEVICES) but runs 5 workers"));
    assert_int_equal(hs_gpu_bind(4, 5, -1, true, &b, &err), 0);
    assert_string_equal(b.visible, "GPU-aaa");
    assert_true(b.shared);
    /* --gpus-per-node takes the first N of the inherited list */
    assert_int_equal(hs_gpu_bind(1, 2, 2, false, &b, &err), 0);
    assert_string_equal(b.visible, "GPU-bbb");
    assert_int_equal(hs_gpu_bind(0, 1, 8, false, &b, &err), -1);
    assert_non_null(strstr(err.text, "lists only 4"));
    unsetenv("CUDA_VISIBLE_DEVICES");
}

static void test_override_and_no_gpus(void **state)
{
    (void)state;
    if (!no_gpu_here())
        skip();
    unsetenv("CUDA_VISIBLE_DEVICES");
    hs_binding b;
    hs_error err;
    assert_int_equal(hs_gpu_bind(1, 2, 2, false, &b, &err), 0);
    assert_string_equal(b.visible, "1");
    /* discovery finds nothing: every worker runs without a GPU, none is refused */
    for (int r = 0; r < 3; r++) {
        assert_int_equal(hs_gpu_bind(r, 3, -1, false, &b, &err), 0);
        assert_false(b.has_gpu);
        assert_string_equal(b.visible, "");
        assert_int_equal(b.slot, -1);
    }
    /* an empty inherited list means: no GPU for this job */
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    assert_int_equal(hs_gpu_bind(0, 2, -1, false, &b, &err), 0);
    assert_false(b.has_gpu);
    unsetenv("CUDA_VISIBLE_DEVICES");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inherited_list_round_robin),
        cmocka_unit_test(test_override_and_no_gpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
