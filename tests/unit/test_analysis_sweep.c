/* Loading a sweep from several stores: the merge rules for a run found in more than one
 * (ok beats a failure, the later finish wins among ok copies), the union of metrics,
 * directories of shards, and the refusals (another sweep, a file that is not a store). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "grid.h"
#include "internal.h"
#include "result.h"
#include "store.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hs-test-sweep-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static hs_grid *grid(const char *name)
{
    char text[512];
    snprintf(text, sizeof text,
             "name = \"%s\";\nrun = { argv = [\"true\"]; };\naxes = { k = [0, 1, 2, 3]; };\n",
             name);
    hs_error err;
    hs_grid *g = hs_grid_load_text(text, "t.cfg", NULL, &err);
    if (!g)
        fail_msg("%s", err.text);
    return g;
}

/* One copy of run k: status, finish time, metric "acc", optionally metric "extra". */
typedef struct copy {
    size_t k;
    int status;
    double finished;
    double acc;
    bool extra;
} copy;

static void write_store(const char *path, hs_grid *g, const copy *c, size_t n)
{
    hs_error err;
    hs_store_opts o = { .swmr = false, .shard = "0/2" };
    hs_store *s = hs_store_open(path, g, &o, NULL, &err);
    if (!s)
        fail_msg("%s", err.text);
    for (size_t i = 0; i < n; i++) {
        const hs_run *run = hs_grid_run(g, c[i].k);
        hs_result r;
        hs_result_init(&r);
        snprintf(r.run_id, sizeof r.run_id, "%s", run->id);
        r.index = run->index;
        r.attempt = 1;
        r.started = c[i].finished - 1;
        r.finished = c[i].finished;
        hs_result_set_metric(&r, "acc", c[i].acc);
        if (c[i].extra)
            hs_result_set_metric(&r, "extra", 42.0);
        long row = hs_store_find(s, run->id);
        assert_true(row >= 0);
        if (hs_store_put(s, (size_t)row, &r, c[i].status, &err) < 0)
            fail_msg("%s", err.text);
        hs_result_clear(&r);
    }
    if (hs_store_close(s, &err) < 0)
        fail_msg("%s", err.text);
}

static long row_of(const hs_sweep *s, const char *id)
{
    for (size_t r = 0; r < s->nrows; r++)
        if (strcmp(sw_run_id(s, r), id) == 0)
            return (long)r;
    return -1;
}

static void test_merge_rules(void **state)
{
    (void)state;
    hs_grid *g = grid("merge");
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/a.h5", tmpdir);
    snprintf(b, sizeof b, "%s/b.h5", tmpdir);
    /* k=0: failed in a, ok in b; k=1: ok in both, a finished later; k=2: ok in a, failed
     * (later) in b; k=3: pending in a, failed in b */
    const copy ca[] = { { 0, HS_FAILED, 3000, 0.1, false },
                        { 1, HS_OK, 2000, 0.2, false },
                        { 2, HS_OK, 1000, 0.3, false } };
    const copy cb[] = { { 0, HS_OK, 1000, 0.4, true },
                        { 1, HS_OK, 1000, 0.5, true },
                        { 2, HS_FAILED, 5000, 0.6, true },
                        { 3, HS_FAILED, 5000, 0.7, false } };
    write_store(a, g, ca, 3);
    write_store(b, g, cb, 4);
    for (int order = 0; order < 2; order++) {
        const char *paths[2] = { order ? b : a, order ? a : b };
        hs_error err;
        hs_sweep *s = hs_sweep_open(paths, 2, &err);
        if (!s)
            fail_msg("%s", err.text);
        assert_int_equal(hs_sweep_nstores(s), 2);
        assert_int_equal(hs_sweep_nruns(s), 4);
        assert_string_equal(hs_sweep_name(s), "merge");
        assert_non_null(strstr(hs_sweep_warnings(s), "4 runs appeared in more than one store"));
        long acc = sw_metric_find(s, "acc"), extra = sw_metric_find(s, "extra");
        assert_true(acc >= 0 && extra >= 0);
        long r0 = row_of(s, hs_grid_run(g, 0)->id), r1 = row_of(s, hs_grid_run(g, 1)->id),
             r2 = row_of(s, hs_grid_run(g, 2)->id), r3 = row_of(s, hs_grid_run(g, 3)->id);
        assert_true(r0 >= 0 && r1 >= 0 && r2 >= 0 && r3 >= 0);
        /* ok beats a failure, whatever the times */
        assert_int_equal(sw_status(s, (size_t)r0), HS_OK);
        assert_true(s->mcols[acc][r0] == 0.4);
        assert_true(s->mcols[extra][r0] == 42.0);
        /* among ok copies the later finish */
        assert_true(s->mcols[acc][r1] == 0.2);
        assert_true(isnan(s->mcols[extra][r1]));
        assert_int_equal(sw_status(s, (size_t)r2), HS_OK);
        assert_true(s->mcols[acc][r2] == 0.3);
        /* a failure beats a pending row */
        assert_int_equal(sw_status(s, (size_t)r3), HS_FAILED);
        hs_value v;
        long k = sw_param_find(s, "k");
        assert_true(k >= 0);
        assert_true(sw_param(s, (size_t)k, (size_t)r3, &v));
        assert_int_equal(v.u.i, 3);
        hs_sweep_destroy(s);
    }
    hs_grid_destroy(g);
}

static void test_directory_and_refusals(void **state)
{
    (void)state;
    hs_grid *g = grid("dir");
    char dir[512], shards[600], p[700];
    snprintf(dir, sizeof dir, "%s/sweepdir", tmpdir);
    snprintf(shards, sizeof shards, "%s/shards", dir);
    mkdir(dir, 0755);
    mkdir(shards, 0755);
    const copy c0[] = { { 0, HS_OK, 10, 0.5, false }, { 2, HS_OK, 10, 0.7, false } };
    const copy c1[] = { { 1, HS_OK, 10, 0.6, false }, { 3, HS_OK, 10, 0.8, false } };
    snprintf(p, sizeof p, "%s/dir.shard-0-of-2.h5", shards);
    write_store(p, g, c0, 2);
    snprintf(p, sizeof p, "%s/dir.shard-1-of-2.h5", shards);
    write_store(p, g, c1, 2);
    hs_error err;
    const char *paths[1] = { dir };
    hs_sweep *s = hs_sweep_open(paths, 1, &err);
    if (!s)
        fail_msg("%s", err.text);
    assert_int_equal(hs_sweep_nstores(s), 2);
    assert_int_equal(hs_sweep_nruns(s), 4);
    for (size_t r = 0; r < 4; r++)
        assert_int_equal(sw_status(s, r), HS_OK);
    hs_sweep_destroy(s);

    /* a store of another sweep beside them */
    hs_grid *other = grid("other");
    snprintf(p, sizeof p, "%s/other.h5", dir);
    write_store(p, other, c0, 1);
    hs_grid_destroy(other);
    s = hs_sweep_open(paths, 1, &err);
    assert_null(s);
    assert_non_null(strstr(err.text, "belongs to sweep"));
    assert_non_null(strstr(err.text, "other.h5"));
    remove(p);

    /* a file that is not a store: its name in the error */
    snprintf(p, sizeof p, "%s/notes.h5", tmpdir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("not hdf5\n", f);
    fclose(f);
    const char *bad[1] = { p };
    s = hs_sweep_open(bad, 1, &err);
    assert_null(s);
    assert_non_null(strstr(err.text, p));
    /* a missing path, and an empty directory */
    const char *missing[1] = { "/nonexistent/sweep.h5" };
    assert_null(hs_sweep_open(missing, 1, &err));
    assert_non_null(strstr(err.text, "/nonexistent/sweep.h5"));
    snprintf(p, sizeof p, "%s/empty", tmpdir);
    mkdir(p, 0755);
    const char *empty[1] = { p };
    assert_null(hs_sweep_open(empty, 1, &err));
    assert_non_null(strstr(err.text, "holds no store"));
    hs_grid_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_rules),
        cmocka_unit_test(test_directory_and_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
