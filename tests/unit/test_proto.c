/* The protocol: every field of a task, a result and a hello survives packing; truncated,
 * foreign or newer-version messages are refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static char **strs(const char *const *v, uint32_t n)
{
    char **a = calloc(n + 1, sizeof *a);
    for (uint32_t i = 0; i < n; i++)
        a[i] = strdup(v[i]);
    return a;
}

static void test_task_roundtrip(void **state)
{
    (void)state;
    const char *argv[] = { "python3", "x; rm -rf ~", "--v=ü✓", "" };
    const char *env[] = { "A=1", "HYPERSWEEP_P_X=../../escape" };
    const char *res[] = { "/r/a.json", "/r/*.json" };
    const char *to[] = { "acc" }, *from[] = { "metrics.acc" }, *req[] = { "acc" };
    const char *fp[] = { "/w/m.yaml" }, *ft[] = { "name: kivi\n" };
    hs_task t = { .index = 123456789012ULL,
                  .attempt = 3,
                  .runner = HS_RUNNER_EXEC,
                  .timeout = 14400.5,
                  .grace = 7,
                  .log_limit = 1LL << 33,
                  .max_result_size = 3LL << 31,
                  .gpus = 1,
                  .keep_all = 0,
                  .on_warnings = HS_WARN_FAIL };
    strcpy(t.run_id, "0123456789abcdef");
    t.argv = strs(argv, 4);
    t.argc = 4;
    t.env = strs(env, 2);
    t.nenv = 2;
    t.results = strs(res, 2);
    t.nresults = 2;
    t.rename_to = strs(to, 1);
    t.rename_from = strs(from, 1);
    t.nrenames = 1;
    t.required = strs(req, 1);
    t.nrequired = 1;
    t.file_paths = strs(fp, 1);
    t.file_texts = strs(ft, 1);
    t.nfiles = 1;
    t.workdir = strdup("/work dir");
    t.run_dir = strdup("/s/runs/0123456789abcdef");
    t.params_json = strdup("{\"x\":1}");
    t.device = strdup("auto");
    hs_buf b = { 0 };
    assert_int_equal(hs_proto_pack_task(&t, &b), 0);
    hs_error err;
    assert_int_equal(hs_proto_type(b.data, b.len, &err), HS_MSG_RUN);
    hs_task u;
    assert_int_equal(hs_proto_unpack_task(b.data, b.len, &u, &err), 0);
    assert_string_equal(u.run_id, t.run_id);
    assert_true(u.index == t.index);
    assert_int_equal(u.attempt, 3);
    assert_int_equal(u.argc, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(u.argv[i], argv[i]);
    assert_null(u.argv[4]); /* NULL-terminated, as posix_spawn needs */
    assert_string_equal(u.env[1], env[1]);
    assert_string_equal(u.results[1], res[1]);
    assert_string_equal(u.rename_from[0], "metrics.acc");
    assert_string_equal(u.file_texts[0], "name: kivi\n");
    assert_true(u.timeout == 14400.5 && u.grace == 7 && u.log_limit == (1LL << 33));
    assert_true(u.max_result_size == 3LL << 31);
    assert_int_equal(u.on_warnings, HS_WARN_FAIL);
    assert_string_equal(u.workdir, "/work dir");
    assert_string_equal(u.params_json, "{\"x\":1}");
    assert_true(u.probe == NULL || u.probe[0] == 0);
    hs_task_clear(&u);

    /* every truncation is refused */
    for (size_t len = 0; len < b.len; len += 7)
        assert_int_equal(hs_proto_unpack_task(b.data, len, &u, &err), -1);
    /* an older version: version 1 had no max_result_size */
    b.data[4] = 1;
    assert_int_equal(hs_proto_type(b.data, b.len, &err), -1);
    assert_non_null(strstr(err.text, "protocol version 1, expected 2"));
    /* another version */
    b.data[4] = 9;
    assert_int_equal(hs_proto_type(b.data, b.len, &err), -1);
    assert_non_null(strstr(err.text, "protocol version 9"));
    b.data[0] = 'X';
    assert_int_equal(hs_proto_type(b.data, b.len, &err), -1);
    assert_non_null(strstr(err.text, "not a hypersweep message"));
    hs_buf_free(&b);
    hs_task_clear(&t);
}

static void test_result_roundtrip(void **state)
{
    (void)state;
    hs_result r;
    hs_result_init(&r);
    strcpy(r.run_id, "fedcba9876543210");
    r.status = HS_TIMEOUT;
    strcpy(r.failure_class, "timeout");
    strcpy(r.message, "exceeded its 10 s timeout");
    r.exit_code = -1;
    r.term_signal = 15;
    r.wall_s = 10.25;
    r.gpu = 3;
    strcpy(r.gpu_name, "NVIDIA H200");
    strcpy(r.stderr_tail, "Traceback ...\n量化 ✓\n");
    hs_result_set_metric(&r, "acc", 0.5);
    hs_result_set_metric(&r, "ratio", INFINITY);
    hs_result_set_metric(&r, "spread", NAN);
    hs_buf b = { 0 };
    assert_int_equal(hs_proto_pack_result(&r, &b), 0);
    hs_result u;
    hs_result_init(&u);
    hs_error err;
    assert_int_equal(hs_proto_unpack_result(b.data, b.len, &u, &err), 0);
    assert_string_equal(u.run_id, r.run_id);
    assert_int_equal(u.status, HS_TIMEOUT);
    assert_int_equal(u.term_signal, 15);
    assert_true(u.wall_s == 10.25 && isnan(u.max_rss_mb));
    assert_string_equal(u.stderr_tail, r.stderr_tail);
    assert_int_equal(u.nmetrics, 3);
    assert_true(u.metric_values[0] == 0.5 && isinf(u.metric_values[1]) &&
                isnan(u.metric_values[2]));
    assert_string_equal(u.metric_names[1], "ratio");
    /* a status out of range is refused */
    r.status = 99;
    hs_proto_pack_result(&r, &b);
    assert_int_equal(hs_proto_unpack_result(b.data, b.len, &u, &err), -1);
    hs_result_clear(&u);
    hs_result_clear(&r);
    hs_buf_free(&b);
}

static void test_hello_and_text(void **state)
{
    (void)state;
    hs_hello h = { .rank = 7, .has_gpu = 1, .gpu_slot = 2, .shared = 0 };
    strcpy(h.host, "node12");
    strcpy(h.visible, "GPU-abc");
    strcpy(h.error, "");
    hs_buf b = { 0 };
    assert_int_equal(hs_proto_pack_hello(&h, &b), 0);
    hs_hello u;
    hs_error err;
    assert_int_equal(hs_proto_unpack_hello(b.data, b.len, &u, &err), 0);
    assert_int_equal(u.rank, 7);
    assert_string_equal(u.visible, "GPU-abc");
    assert_int_equal(hs_proto_pack_text(HS_MSG_CANCEL, "time limit", &b), 0);
    char text[64];
    assert_int_equal(hs_proto_unpack_text(b.data, b.len, text, sizeof text, &err), HS_MSG_CANCEL);
    assert_string_equal(text, "time limit");
    /* a message of another type is not a hello */
    assert_int_equal(hs_proto_unpack_hello(b.data, b.len, &u, &err), -1);
    hs_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_roundtrip),
        cmocka_unit_test(test_result_roundtrip),
        cmocka_unit_test(test_hello_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
