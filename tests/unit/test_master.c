/* The master's scheduling with a fake executor (its tasks end at once, as their parameters
 * say) and a real store: retries by policy, final failure classes, a clean stop, the
 * walltime hold-back with estimates from finished runs, shards and --only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <math.h>
#include <unistd.h>

#include "attempt.h"
#include "buf.h"
#include "grid.h"
#include "master.h"
#include "store.h"
#include "util.h"

struct fake {
    int nslots;
    bool busy[8], cancelled[8];
    char run_id[8][HS_RUN_ID_LEN + 1];
    uint64_t index[8];
    int attempt[8];
    char params[8][256];
    int next;
    int results, stop_after;
    volatile sig_atomic_t *stop;
    int started;
    char started_ids[256][HS_RUN_ID_LEN + 1];
};

static int f_nslots(void *c)
{
    return ((struct fake *)c)->nslots;
}
static int f_idle(void *c)
{
    struct fake *f = c;
    for (int i = 0; i < f->nslots; i++)
        if (!f->busy[i])
            return i;
    return -1;
}
static const char *f_gpu(void *c, int s)
{
    (void)c;
    (void)s;
    return "";
}
static void f_describe(void *c, int s, hs_result *r)
{
    (void)c;
    snprintf(r->host, sizeof r->host, "fake");
    r->rank = s + 1;
}
static int f_start(void *c, int s, const hs_task *t, hs_error *err)
{
    struct fake *f = c;
    (void)err;
    f->busy[s] = true;
    f->cancelled[s] = false;
    snprintf(f->run_id[s], sizeof f->run_id[s], "%s", t->run_id);
    snprintf(f->params[s], sizeof f->params[s], "%s", t->params_json);
    f->index[s] = t->index;
    f->attempt[s] = t->attempt;
    if (f->started < 256)
        snprintf(f->started_ids[f->started], sizeof f->started_ids[0], "%s", t->run_id);
    f->started++;
    return 0;
}
static int f_poll(void *c, double timeout, int *slot, hs_result *r, hs_error *err)
{
    struct fake *f = c;
    (void)timeout;
    (void)err;
    for (int k = 0; k < f->nslots; k++) {
        int s = (f->next + k) % f->nslots;
        if (!f->busy[s])
            continue;
        /* with a stop test, running tasks wait to be cancelled */
        if (f->stop_after && f->results >= f->stop_after && !f->cancelled[s])
            continue;
        f->next = s + 1;
        f->busy[s] = false;
        hs_result_clear(r);
        snprintf(r->run_id, sizeof r->run_id, "%s", f->run_id[s]);
        r->index = f->index[s];
        r->attempt = f->attempt[s];
        r->wall_s = 2.0;
        json_object *p = json_tokener_parse(f->params[s]);
        json_object *mode = NULL;
        json_object_object_get_ex(p, "mode", &mode);
        const char *m = mode ? json_object_get_string(mode) : "ok";
        if (f->cancelled[s]) {
            r->status = HS_INTERRUPTED;
            snprintf(r->failure_class, sizeof r->failure_class, "interrupted");
        } else if (strcmp(m, "fail") == 0) {
            r->status = HS_FAILED;
            snprintf(r->failure_class, sizeof r->failure_class, "nonzero_exit");
        } else if (strcmp(m, "missing") == 0) {
            r->status = HS_FAILED;
            snprintf(r->failure_class, sizeof r->failure_class, "missing_program");
        } else if (strcmp(m, "flaky") == 0 && r->attempt == 1) {
            r->status = HS_CRASHED;
            snprintf(r->failure_class, sizeof r->failure_class, "signal");
        } else {
            r->status = HS_OK;
            hs_result_set_metric(r, "score", (double)r->index);
        }
        json_object_put(p);
        *slot = s;
        f->results++;
        if (f->stop && f->stop_after && f->results == f->stop_after)
            *f->stop = 1;
        return 1;
    }
    return 0;
}
static void f_cancel(void *c, int s, const char *why)
{
    (void)why;
    ((struct fake *)c)->cancelled[s] = true;
}

static const hs_executor_ops fake_ops = { f_nslots, f_idle, f_gpu,   f_describe,
                                          f_start,  f_poll, f_cancel };

static char dir[256];
static volatile sig_atomic_t stop_flag;

static hs_grid *grid(const char *run, const char *axes)
{
    char text[2048];
    snprintf(text, sizeof text, "name = \"m\";\nrun = { argv = [\"x\"]; %s };\naxes = { %s };\n",
             run, axes);
    hs_error err;
    hs_grid *g = hs_grid_load_text(text, "m.cfg", NULL, &err);
    if (!g)
        fail_msg("%s", err.text);
    return g;
}

static hs_master_opts opts(const char *store)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, store);
    stop_flag = 0;
    hs_master_opts o = { .store_path = path,
                         .sweep_dir = dir,
                         .progress = HS_PROGRESS_NONE,
                         .out = fopen("/dev/null", "w"),
                         .stop = &stop_flag };
    return o;
}

static int status_count(const char *store, int status)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, store);
    hs_error err;
    hs_store_data *d = hs_store_read(path, &err);
    if (!d)
        fail_msg("%s", err.text);
    int n = 0;
    for (size_t r = 0; r < hs_sd_nrows(d); r++)
        n += hs_sd_status(d, r) == status;
    hs_store_data_destroy(d);
    return n;
}

static void test_retries_and_classes(void **state)
{
    (void)state;
    hs_grid *g =
        grid("retries = 2;", "mode = [\"ok\", \"fail\", \"missing\", \"flaky\"]; x = [1, 2];");
    struct fake f = { .nslots = 3 };
    hs_master_opts o = opts("a.h5");
    hs_master_summary sum;
    hs_error err;
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f, &sum, &err), 0);
    /* ok: 2 x 1; fail: 2 x 3 (retried); missing: 2 x 1 (final); flaky: 2 x 2 */
    assert_int_equal(f.started, 2 + 6 + 2 + 4);
    assert_int_equal(sum.executed, 14);
    assert_int_equal(sum.counts[HS_OK], 4);
    assert_int_equal(sum.counts[HS_FAILED], 4);
    assert_int_equal(sum.exit_code, HS_EXIT_RUNS_FAILED);
    assert_int_equal(status_count("a.h5", HS_OK), 4);
    /* resume: nothing runs again; --retry-failed reruns the 4 failed ones */
    struct fake f2 = { .nslots = 3 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f2, &sum, &err), 0);
    assert_int_equal(f2.started, 0);
    assert_int_equal(sum.already_ok, 4);
    o.retry_failed = true;
    struct fake f3 = { .nslots = 3 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f3, &sum, &err), 0);
    assert_int_equal(f3.started, 6 + 2);
    fclose(o.out);
    hs_grid_destroy(g);
}

static void test_clean_stop(void **state)
{
    (void)state;
    hs_grid *g = grid("", "x = [0,1,2,3,4,5,6,7,8,9,10,11];");
    struct fake f = { .nslots = 3, .stop_after = 4, .stop = &stop_flag };
    hs_master_opts o = opts("b.h5");
    hs_master_summary sum;
    hs_error err;
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f, &sum, &err), 0);
    assert_int_equal(sum.exit_code, HS_EXIT_INTERRUPTED);
    assert_true(sum.interrupted);
    assert_int_equal(status_count("b.h5", HS_OK), 4);
    /* the slot that delivered the 4th result is not refilled after the stop: 2 were running */
    assert_int_equal(status_count("b.h5", HS_INTERRUPTED), 2);
    assert_int_equal(status_count("b.h5", HS_RUNNING), 0);
    /* resume completes */
    stop_flag = 0;
    struct fake f2 = { .nslots = 3 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f2, &sum, &err), 0);
    assert_int_equal(f2.started, 8);
    assert_int_equal(sum.exit_code, HS_EXIT_OK);
    fclose(o.out);
    hs_grid_destroy(g);
}

static void test_walltime_hold_back(void **state)
{
    (void)state;
    hs_grid *g = grid("timeout = 3600;", "model = [\"a\", \"b\"]; x = [0, 1, 2];");
    hs_master_opts o = opts("c.h5");
    const char *by[] = { "model" };
    o.estimate_by = by;
    o.nestimate_by = 1;
    hs_master_summary sum;
    hs_error err;
    /* first, one run of model a finishes (2 s), nothing of model b */
    const char *only[] = { hs_grid_run(g, 0)->id };
    o.only = only;
    o.nonly = 1;
    struct fake f = { .nslots = 2 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f, &sum, &err), 0);
    assert_int_equal(f.started, 1);
    o.only = NULL;
    o.nonly = 0;
    /* 100 s left, 10 s margin: a's runs (estimated 2.2 s) start; b's (timeout 3600 s) wait */
    o.end_time = hs_now() + 100;
    o.margin = 10;
    struct fake f2 = { .nslots = 2 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f2, &sum, &err), 0);
    assert_int_equal(f2.started, 2);
    for (int i = 0; i < f2.started; i++) {
        long k = hs_grid_find(g, f2.started_ids[i]);
        assert_string_equal(hs_run_get(hs_grid_run(g, (size_t)k), "model")->u.s, "a");
    }
    assert_int_equal(sum.held_back, 3);
    assert_int_equal(sum.exit_code, HS_EXIT_INTERRUPTED);
    /* inside the margin already: nothing starts at all */
    o.end_time = hs_now() + 5;
    struct fake f3 = { .nslots = 2 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f3, &sum, &err), 0);
    assert_int_equal(f3.started, 0);
    assert_int_equal(sum.exit_code, HS_EXIT_INTERRUPTED);
    fclose(o.out);
    hs_grid_destroy(g);
}

static void test_walltime_learns_first(void **state)
{
    (void)state;
    /* nothing has finished yet and the timeout exceeds the time left: one run starts to
     * learn how long runs take, and the runs of its group follow; the other group waits */
    hs_grid *g = grid("timeout = 3600;", "model = [\"a\", \"b\"]; x = [0, 1, 2];");
    hs_master_opts o = opts("f.h5");
    const char *by[] = { "model" };
    o.estimate_by = by;
    o.nestimate_by = 1;
    o.end_time = hs_now() + 100;
    o.margin = 10;
    hs_master_summary sum;
    hs_error err;
    struct fake f = { .nslots = 1 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f, &sum, &err), 0);
    assert_int_equal(f.started, 3);
    for (int i = 0; i < f.started; i++) {
        long k = hs_grid_find(g, f.started_ids[i]);
        assert_string_equal(hs_run_get(hs_grid_run(g, (size_t)k), "model")->u.s, "a");
    }
    assert_int_equal(sum.held_back, 3);
    /* without run.timeout there is no estimate to hold runs back with: all of them run */
    hs_grid *g2 = grid("", "model = [\"a\", \"b\"]; x = [0, 1, 2];");
    hs_master_opts o2 = opts("g.h5");
    o2.estimate_by = by;
    o2.nestimate_by = 1;
    o2.end_time = hs_now() + 100;
    o2.margin = 10;
    struct fake f2 = { .nslots = 1 };
    assert_int_equal(hs_master_run(g2, &o2, &fake_ops, &f2, &sum, &err), 0);
    assert_int_equal(f2.started, 6);
    assert_int_equal(sum.exit_code, HS_EXIT_OK);
    fclose(o.out);
    fclose(o2.out);
    hs_grid_destroy(g);
    hs_grid_destroy(g2);
}

static void test_shard_and_only(void **state)
{
    (void)state;
    hs_grid *g = grid("", "x = [0,1,2,3,4,5,6,7,8,9];");
    hs_master_opts o = opts("d.h5");
    o.shard_index = 1;
    o.shard_count = 3;
    hs_master_summary sum;
    hs_error err;
    struct fake f = { .nslots = 2 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f, &sum, &err), 0);
    assert_int_equal(f.started, 3); /* indices 1, 4, 7 */
    for (int i = 0; i < f.started; i++)
        assert_int_equal(hs_grid_find(g, f.started_ids[i]) % 3, 1);
    assert_int_equal(sum.total, 3);
    assert_int_equal(sum.exit_code, HS_EXIT_OK);
    /* the shard store says which shard it is; the whole sweep may not write into it */
    o.shard_count = 0;
    struct fake f2 = { .nslots = 2 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f2, &sum, &err), -1);
    assert_int_equal(sum.exit_code, HS_EXIT_STORE);
    assert_non_null(strstr(err.text, "is shard 1/3"));
    /* --only with prefixes: unknown and ambiguous prefixes are refused */
    hs_master_opts o2 = opts("e.h5");
    char prefix[8];
    snprintf(prefix, sizeof prefix, "%.6s", hs_grid_run(g, 5)->id);
    const char *only[] = { prefix };
    o2.only = only;
    o2.nonly = 1;
    struct fake f3 = { .nslots = 2 };
    assert_int_equal(hs_master_run(g, &o2, &fake_ops, &f3, &sum, &err), 0);
    assert_int_equal(f3.started, 1);
    assert_string_equal(f3.started_ids[0], hs_grid_run(g, 5)->id);
    const char *bad[] = { "zzzzzz" };
    o2.only = bad;
    struct fake f4 = { .nslots = 2 };
    assert_int_equal(hs_master_run(g, &o2, &fake_ops, &f4, &sum, &err), -1);
    assert_non_null(strstr(err.text, "no run of this grid has that id"));
    fclose(o.out);
    fclose(o2.out);
    hs_grid_destroy(g);
}

/* A finished attempt's record in its run directory, as the runner writes it. */
static void put_record(const hs_grid *g, size_t run, int attempt, int status, const char *fc)
{
    hs_result r;
    hs_result_init(&r);
    snprintf(r.run_id, sizeof r.run_id, "%s", hs_grid_run(g, run)->id);
    r.index = run;
    r.attempt = attempt;
    r.status = status;
    snprintf(r.failure_class, sizeof r.failure_class, "%s", fc);
    snprintf(r.message, sizeof r.message, "%s", status == HS_OK ? "" : "exit status 3");
    r.exit_code = status == HS_OK ? 0 : 3;
    if (status == HS_CRASHED) {
        r.exit_code = -1;
        r.term_signal = SIGKILL;
    }
    r.wall_s = 12.5;
    r.started = 1796584604.25;
    snprintf(r.host, sizeof r.host, "node-%zu", run);
    r.rank = 7;
    snprintf(r.stderr_tail, sizeof r.stderr_tail, "tail of run %zu\n", run);
    if (status == HS_OK) {
        hs_result_set_metric(&r, "score", 0.1 + (double)run);
        hs_result_set_metric(&r, "ppl", NAN);
        hs_result_set_metric(&r, "ratio", INFINITY);
    }
    hs_buf d = { 0 };
    hs_error err;
    hs_run_dir(dir, r.run_id, &d);
    if (hs_mkdir_p(hs_buf_str(&d), 0755, &err) < 0 ||
        hs_attempt_write(hs_buf_str(&d), &r, NULL, &err) < 0)
        fail_msg("%s", err.text);
    hs_buf_free(&d);
    hs_result_clear(&r);
}

static double metric(const hs_store_data *d, const char *name, size_t row)
{
    long m = hs_sd_metric_find(d, name);
    assert_true(m >= 0);
    return hs_sd_metric_column(d, (size_t)m)[row];
}

static void test_recovery(void **state)
{
    (void)state;
    hs_grid *g = grid("retries = 1;", "x = [0, 1, 2, 3, 4];");
    hs_master_opts o = opts("r.h5");
    hs_master_summary sum;
    hs_error err;
    /* the master died after these attempts finished, before it committed them */
    put_record(g, 0, 1, HS_OK, "");
    put_record(g, 1, 1, HS_FAILED, "nonzero_exit");     /* retryable: runs again */
    put_record(g, 2, 1, HS_FAILED, "missing_program");  /* final */
    put_record(g, 3, 1, HS_INTERRUPTED, "interrupted"); /* not finished: runs again */
    /* SIGKILLed: the OOM killer, or the job's teardown; nobody can tell now: runs again */
    put_record(g, 4, 1, HS_CRASHED, "killed");
    struct fake f = { .nslots = 2 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f, &sum, &err), 0);
    assert_int_equal(sum.recovered, 3);
    assert_int_equal(f.started, 3); /* 1 (attempt 2), 3 and 4 */
    for (int i = 0; i < f.started; i++) {
        long k = hs_grid_find(g, f.started_ids[i]);
        assert_true(k == 1 || k == 3 || k == 4);
    }
    assert_int_equal(sum.counts[HS_OK], 4);
    assert_int_equal(sum.counts[HS_FAILED], 1);
    hs_store_data *d = hs_store_read(o.store_path, &err);
    assert_non_null(d);
    /* the recovered run is recorded as if the master had received it */
    long r0 = -1;
    for (size_t r = 0; r < hs_sd_nrows(d); r++)
        if (strcmp(hs_sd_run_id(d, r), hs_grid_run(g, 0)->id) == 0)
            r0 = (long)r;
    assert_true(r0 >= 0);
    assert_int_equal(hs_sd_status(d, (size_t)r0), HS_OK);
    assert_int_equal(hs_sd_attempts(d, (size_t)r0), 1);
    assert_string_equal(hs_sd_host(d, (size_t)r0), "node-0");
    assert_int_equal(hs_sd_rank(d, (size_t)r0), 7);
    assert_true(metric(d, "score", (size_t)r0) == 0.1);
    assert_true(isnan(metric(d, "ppl", (size_t)r0)));
    assert_true(isinf(metric(d, "ratio", (size_t)r0)));
    char tail[64];
    assert_int_equal(hs_sd_stderr_tail(d, (size_t)r0, tail, sizeof tail, &err), 0);
    assert_string_equal(tail, "tail of run 0\n");
    for (size_t r = 0; r < hs_sd_nrows(d); r++) {
        long k = hs_grid_find(g, hs_sd_run_id(d, r));
        if (k == 1)
            assert_int_equal(hs_sd_attempts(d, r), 2);
        if (k == 2) {
            assert_int_equal(hs_sd_status(d, r), HS_FAILED);
            assert_string_equal(hs_sd_failure_class(d, r), "missing_program");
        }
    }
    hs_store_data_destroy(d);
    /* a resume finds nothing left to recover or run */
    struct fake f2 = { .nslots = 2 };
    assert_int_equal(hs_master_run(g, &o, &fake_ops, &f2, &sum, &err), 0);
    assert_int_equal(sum.recovered, 0);
    assert_int_equal(f2.started, 0);

    /* rebuild: the store is gone; the run directories hold records of runs 0, 1 (attempt 1
     * failed, retryable: pending again), 2 and 3 (interrupted: pending) */
    unlink(o.store_path);
    assert_int_equal(hs_master_rebuild(g, &o, false, &sum, &err), 0);
    assert_int_equal(sum.recovered, 3);
    assert_int_equal(sum.counts[HS_OK], 1);
    assert_int_equal(sum.counts[HS_FAILED], 1);
    assert_int_equal(sum.counts[HS_PENDING], 3);
    /* it exists now: refused without --force, set aside (not deleted) with it */
    assert_int_equal(hs_master_rebuild(g, &o, false, &sum, &err), -1);
    assert_non_null(strstr(err.text, "exists"));
    assert_int_equal(hs_master_rebuild(g, &o, true, &sum, &err), 0);
    assert_int_equal(sum.recovered, 3);
    /* a sweep directory of another sweep is refused */
    hs_grid *other = hs_grid_load_text("name = \"other\";\nrun = { argv = [\"x\"]; };\n"
                                       "axes = { x = [0, 1, 2, 3, 4]; };\n",
                                       "o.cfg", NULL, &err);
    assert_non_null(other);
    hs_master_opts o2 = opts("other.h5");
    assert_int_equal(hs_master_rebuild(other, &o2, false, &sum, &err), -1);
    assert_non_null(strstr(err.text, "belongs to sweep 'm'"));
    assert_int_equal(access(o2.store_path, F_OK), -1);
    fclose(o.out);
    fclose(o2.out);
    hs_grid_destroy(other);
    hs_grid_destroy(g);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hs-test-master-XXXXXX");
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
        cmocka_unit_test(test_retries_and_classes), cmocka_unit_test(test_clean_stop),
        cmocka_unit_test(test_walltime_hold_back),  cmocka_unit_test(test_walltime_learns_first),
        cmocka_unit_test(test_shard_and_only),      cmocka_unit_test(test_recovery),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
