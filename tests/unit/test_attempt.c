/* The run directory's records: attempt.json reads back bit for bit (NaN, Infinity, every
 * field, strings with any bytes), a record cut short is refused with the file named, the
 * in-progress marker, the lock between attempts, and the sweep directory's owner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "attempt.h"
#include "util.h"

static char dir[256];

static void sample(hs_result *r)
{
    hs_result_init(r);
    snprintf(r->run_id, sizeof r->run_id, "0123456789abcdef");
    r->index = 41;
    r->attempt = 3;
    r->status = HS_FAILED;
    snprintf(r->failure_class, sizeof r->failure_class, "oom");
    snprintf(r->message, sizeof r->message, "exit status 1: \"CUDA out of memory\" \\ 1/2");
    r->exit_code = 1;
    r->term_signal = 0;
    r->started = 1796584604.1485572;
    r->finished = 1796584605.687453;
    r->wall_s = 1.5389054209999813;
    snprintf(r->host, sizeof r->host, "gpu-node-07");
    r->rank = 5;
    r->gpu = 2;
    snprintf(r->gpu_name, sizeof r->gpu_name, "NVIDIA H200");
    snprintf(r->gpu_uuid, sizeof r->gpu_uuid, "GPU-1234");
    snprintf(r->git_commit, sizeof r->git_commit, "08cf539deadbeef");
    r->git_dirty = 1;
    r->max_rss_mb = 203.01953125;
    r->cpu_s = 0.46500699999999995;
    r->nwarnings = 2;
    /* control characters, UTF-8, and a byte that is not UTF-8 */
    snprintf(r->stderr_tail, sizeof r->stderr_tail, "line 1\n\ttab \x01 é 漢 \xff end\r\n");
    hs_result_set_metric(r, "acc", 0.1 + 0.2);
    hs_result_set_metric(r, "ppl/wikitext2", NAN);
    hs_result_set_metric(r, "grad/ratio", INFINITY);
    hs_result_set_metric(r, "neg", -INFINITY);
    hs_result_set_metric(r, "tiny", 5e-324);
    hs_result_set_metric(r, "mmlu/acc@strict-match", -0.0);
}

static void same_double(double a, double b)
{
    if (isnan(a) || isnan(b))
        assert_true(isnan(a) && isnan(b));
    else
        assert_memory_equal(&a, &b, sizeof a);
}

static void test_round_trip(void **state)
{
    (void)state;
    hs_result w, r;
    sample(&w);
    hs_error err;
    assert_int_equal(hs_attempt_write(dir, &w, "{\"x\":1}", &err), 0);
    hs_result_init(&r);
    assert_int_equal(hs_attempt_read(dir, &r, &err), 1);
    assert_string_equal(r.run_id, w.run_id);
    assert_int_equal(r.index, w.index);
    assert_int_equal(r.attempt, w.attempt);
    assert_int_equal(r.status, w.status);
    assert_string_equal(r.failure_class, w.failure_class);
    assert_string_equal(r.message, w.message);
    assert_int_equal(r.exit_code, w.exit_code);
    assert_int_equal(r.term_signal, w.term_signal);
    same_double(r.started, w.started);
    same_double(r.finished, w.finished);
    same_double(r.wall_s, w.wall_s);
    assert_string_equal(r.host, w.host);
    assert_int_equal(r.rank, w.rank);
    assert_int_equal(r.gpu, w.gpu);
    assert_string_equal(r.gpu_name, w.gpu_name);
    assert_string_equal(r.gpu_uuid, w.gpu_uuid);
    assert_string_equal(r.git_commit, w.git_commit);
    assert_int_equal(r.git_dirty, w.git_dirty);
    same_double(r.max_rss_mb, w.max_rss_mb);
    same_double(r.cpu_s, w.cpu_s);
    assert_int_equal(r.nwarnings, w.nwarnings);
    assert_string_equal(r.stderr_tail, w.stderr_tail);
    assert_int_equal(r.nmetrics, w.nmetrics);
    for (uint32_t i = 0; i < w.nmetrics; i++) {
        int k = hs_result_find_metric(&r, w.metric_names[i]);
        assert_true(k >= 0);
        same_double(r.metric_values[k], w.metric_values[i]);
    }
    /* an ok run with no metrics and the NaN defaults */
    hs_result_clear(&w);
    snprintf(w.run_id, sizeof w.run_id, "ffffffffffffffff");
    w.status = HS_OK;
    w.attempt = 1;
    assert_int_equal(hs_attempt_write(dir, &w, NULL, &err), 0);
    assert_int_equal(hs_attempt_read(dir, &r, &err), 1);
    assert_int_equal(r.status, HS_OK);
    assert_int_equal(r.nmetrics, 0);
    assert_true(isnan(r.wall_s) && isnan(r.max_rss_mb));
    assert_int_equal(r.exit_code, -1);
    hs_result_clear(&w);
    hs_result_clear(&r);
}

static void write_text(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_incomplete(void **state)
{
    (void)state;
    hs_result w, r;
    sample(&w);
    hs_error err;
    assert_int_equal(hs_attempt_write(dir, &w, NULL, &err), 0);
    char path[512], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/attempt.json", dir);
    assert_int_equal(hs_read_file(path, 1 << 20, &text, &len, &err), 0);
    hs_result_init(&r);
    char *full = strdup(text);
    assert_non_null(full);
    /* cut short by a full disk: unreadable, with the file named */
    text[len / 2] = '\0';
    write_text("attempt.json", text);
    assert_int_equal(hs_attempt_read(dir, &r, &err), -1);
    assert_non_null(strstr(err.text, "attempt.json"));
    /* valid JSON, but not a finished record */
    write_text("attempt.json", "{\"run_id\": \"0123456789abcdef\", \"attempt\": 1}\n");
    assert_int_equal(hs_attempt_read(dir, &r, &err), -1);
    assert_non_null(strstr(err.text, "incomplete record"));
    write_text("attempt.json", "[1, 2]\n");
    assert_int_equal(hs_attempt_read(dir, &r, &err), -1);
    /* a status that is no status */
    char *bogus = strstr(full, "\"failed\"");
    assert_non_null(bogus);
    memcpy(bogus, "\"fooled\"", 8);
    write_text("attempt.json", full);
    assert_int_equal(hs_attempt_read(dir, &r, &err), -1);
    if (!strstr(err.text, "\"status\""))
        fail_msg("%s", err.text);
    free(full);
    free(text);
    /* none at all */
    unlink(path);
    assert_int_equal(hs_attempt_read(dir, &r, &err), 0);
    /* rotation moves the record aside for the next attempt */
    assert_int_equal(hs_attempt_write(dir, &w, NULL, &err), 0);
    hs_attempt_rotate(dir, 3);
    assert_int_equal(hs_attempt_read(dir, &r, &err), 0);
    snprintf(path, sizeof path, "%s/attempt.3.json", dir);
    assert_int_equal(access(path, F_OK), 0);
    hs_result_clear(&w);
    hs_result_clear(&r);
}

static void test_marker_and_lock(void **state)
{
    (void)state;
    hs_error err;
    hs_attempt_marker m = { .attempt = 2, .pid = 4242, .pgid = 4242, .started = 1796584604.5 };
    snprintf(m.run_id, sizeof m.run_id, "0123456789abcdef");
    snprintf(m.host, sizeof m.host, "node \"7\"");
    bool busy = true;
    int fd = hs_attempt_lock(dir, &busy, &err);
    assert_true(fd >= 0);
    assert_false(busy);
    hs_attempt_marker back;
    assert_int_equal(hs_attempt_read_marker(dir, &back, &err), 0);
    assert_int_equal(hs_attempt_mark_running(fd, &m, &err), 0);
    assert_int_equal(hs_attempt_read_marker(dir, &back, &err), 1);
    assert_string_equal(back.run_id, m.run_id);
    assert_string_equal(back.host, m.host);
    assert_int_equal(back.attempt, 2);
    assert_int_equal(back.pid, 4242);
    assert_int_equal(back.pgid, 4242);
    same_double(back.started, m.started);
    hs_attempt_clear_marker(fd);
    assert_int_equal(hs_attempt_read_marker(dir, &back, &err), 0);
    /* a second attempt (another open file description) finds it held */
    int fd2 = hs_attempt_lock(dir, &busy, &err);
    assert_int_equal(fd2, -1);
    assert_true(busy);
    assert_int_equal(hs_attempt_lock_wait(dir, 0.05, &err), -1);
    close(fd);
    fd2 = hs_attempt_lock_wait(dir, 1.0, &err);
    assert_true(fd2 >= 0);
    close(fd2);
}

static void test_sweep_dir(void **state)
{
    (void)state;
    hs_error err;
    char sub[512], owner[64];
    snprintf(sub, sizeof sub, "%s/sweeps/a", dir);
    assert_int_equal(hs_sweep_dir_owner(sub, owner, sizeof owner, &err), 0);
    assert_int_equal(hs_sweep_dir_claim(sub, "alpha", &err), 0);
    assert_int_equal(hs_sweep_dir_claim(sub, "alpha", &err), 0);
    assert_int_equal(hs_sweep_dir_owner(sub, owner, sizeof owner, &err), 1);
    assert_string_equal(owner, "alpha");
    assert_int_equal(hs_sweep_dir_claim(sub, "beta", &err), -1);
    assert_non_null(strstr(err.text, "belongs to sweep 'alpha', not 'beta'"));
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hs-test-attempt-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_marker_and_lock),
        cmocka_unit_test(test_sweep_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
