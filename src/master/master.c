#include "master.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attempt.h"
#include "buf.h"
#include "log.h"
#include "store.h"
#include "strmap.h"
#include "table.h"
#include "util.h"

#define MAX_REPORTED_FAILURES 3

struct slot_state {
    bool busy;
    size_t run;      /* grid index */
    double started;  /* monotonic */
    double estimate; /* expected seconds */
};

struct failure {
    char run_id[HS_RUN_ID_LEN + 1];
    size_t run;
    int status;
    char fclass[32];
    char message[256];
    char tail[600];
};

struct master {
    const hs_grid *g;
    const hs_master_opts *o;
    const hs_executor_ops *ops;
    void *ctx;
    hs_store *store;
    hs_master_summary *sum;
    size_t *row; /* grid index -> store row */
    int *tries;  /* attempts made in this invocation, per grid index */
    bool *in_scope;
    size_t *queue; /* grid indices to run, in order */
    size_t qhead, qlen, qcap;
    struct slot_state *slots;
    int nslots;
    size_t running, finished_now, failed_now;
    double t0;
    /* walltime estimates: estimate key -> longest observed wall time */
    hs_strmap *est_index;
    double *est_max;
    size_t nest, capest;
    struct failure failures[MAX_REPORTED_FAILURES];
    size_t nfailures;
    /* runs not started because another attempt, elsewhere, holds their run directory */
    struct failure busy[MAX_REPORTED_FAILURES];
    size_t nbusy;
    /* workers that died during the sweep */
    char lost[8][200];
    size_t nlost;
    double last_lost_check;
    size_t fclass_count[32];
    char fclass_names[32][32];
    size_t nfclass;
    bool probing; /* started one run despite the estimates, to learn durations */
    /* progress */
    int progress;
    double last_progress;
    bool line_shown;
};

/* ---- walltime estimates ------------------------------------------------------------- */

static void estimate_key(const struct master *m, size_t run, hs_buf *key)
{
    const hs_run *r = hs_grid_run(m->g, run);
    hs_buf_reset(key);
    for (size_t i = 0; i < m->o->nestimate_by; i++) {
        const hs_value *v = hs_run_get(r, m->o->estimate_by[i]);
        hs_buf_puts(key, i ? "\x1f" : "");
        if (v)
            hs_value_put_json(key, v);
    }
}

static void estimate_learn(struct master *m, size_t run, double wall)
{
    if (!(wall > 0))
        return;
    hs_buf key = { 0 };
    estimate_key(m, run, &key);
    size_t k;
    if (hs_strmap_get(m->est_index, hs_buf_str(&key), &k)) {
        if (wall > m->est_max[k])
            m->est_max[k] = wall;
    } else {
        if (m->nest == m->capest) {
            size_t cap = m->capest ? m->capest * 2 : 16;
            double *e = realloc(m->est_max, cap * sizeof *e);
            if (!e) {
                hs_buf_free(&key);
                return;
            }
            m->est_max = e;
            m->capest = cap;
        }
        m->est_max[m->nest] = wall;
        hs_strmap_put(m->est_index, hs_buf_str(&key), m->nest++);
    }
    hs_buf_free(&key);
}

/* Expected duration: the longest finished run with the same values of the estimate axes,
 * with 10% slack; else the grid's run.timeout; else (no timeout set) unknown, 0. */
static double estimate(const struct master *m, size_t run)
{
    hs_buf key = { 0 };
    estimate_key(m, run, &key);
    size_t k;
    const hs_run_spec *sp = hs_grid_spec(m->g);
    double e = sp->timeout_set ? sp->timeout : 0;
    if (hs_strmap_get(m->est_index, hs_buf_str(&key), &k))
        e = m->est_max[k] * 1.1;
    hs_buf_free(&key);
    return e;
}

/* ---- progress ----------------------------------------------------------------------- */

static void count_states(const struct master *m, size_t *ok, size_t *failed, size_t *pending)
{
    *ok = *failed = *pending = 0;
    for (size_t i = 0; i < hs_grid_nruns(m->g); i++) {
        if (!m->in_scope[i])
            continue;
        int st = hs_store_status(m->store, m->row[i]);
        if (st == HS_OK)
            (*ok)++;
        else if (hs_status_failure(st))
            (*failed)++;
        else if (st != HS_RUNNING)
            (*pending)++;
    }
}

static void fmt_duration(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, cap, "?");
    else if (s < 90)
        snprintf(buf, cap, "%.0f s", s);
    else if (s < 5400)
        snprintf(buf, cap, "%.0f min", s / 60);
    else
        snprintf(buf, cap, "%.1f h", s / 3600);
}

static void progress(struct master *m, bool force)
{
    if (m->progress == HS_PROGRESS_NONE)
        return;
    double now = hs_monotonic();
    double every = m->progress == HS_PROGRESS_TTY ? 0.25
                   : m->o->progress_interval > 0  ? m->o->progress_interval
                                                  : 30.0;
    if (!force && now - m->last_progress < every)
        return;
    m->last_progress = now;
    size_t ok, failed, pending;
    count_states(m, &ok, &failed, &pending);
    double elapsed = now - m->t0;
    double rate = elapsed > 0 ? (double)m->finished_now / elapsed : 0;
    char eta[32], rbuf[32];
    fmt_duration(rate > 0 ? (double)(pending + m->running) / rate : NAN, eta, sizeof eta);
    if (rate * 60 >= 1)
        snprintf(rbuf, sizeof rbuf, "%.1f runs/min", rate * 60);
    else
        snprintf(rbuf, sizeof rbuf, "%.2f runs/h", rate * 3600);
    char line[256];
    snprintf(line, sizeof line,
             "%zu/%zu done · ok %zu · failed %zu · running %zu · pending %zu · %s · ETA %s",
             ok + failed, m->sum->total, ok, failed, m->running, pending, rbuf,
             m->finished_now ? eta : "?");
    if (m->progress == HS_PROGRESS_TTY) {
        fprintf(stderr, "\r\033[K%s", line);
        m->line_shown = true;
    } else {
        char stamp[32];
        hs_iso_time(hs_now(), stamp);
        fprintf(stderr, "%s hypersweep: %s\n", stamp, line);
    }
    fflush(stderr);
}

static void progress_clear(struct master *m)
{
    if (m->line_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        m->line_shown = false;
    }
}

/* ---- queue -------------------------------------------------------------------------- */

static int queue_push(struct master *m, size_t run, bool front)
{
    if (m->qhead + m->qlen == m->qcap || (front && m->qhead == 0)) {
        size_t cap = (m->qcap ? m->qcap * 2 : 64) + 1;
        size_t *q = malloc(cap * sizeof *q);
        if (!q)
            return -1;
        size_t off = 1;
        if (m->qlen)
            memcpy(q + off, m->queue + m->qhead, m->qlen * sizeof *q);
        free(m->queue);
        m->queue = q;
        m->qcap = cap;
        m->qhead = off;
    }
    if (front) {
        m->queue[--m->qhead] = run;
    } else {
        m->queue[m->qhead + m->qlen] = run;
    }
    m->qlen++;
    return 0;
}

/* ---- recording ---------------------------------------------------------------------- */

static void note_failure(struct master *m, size_t run, const hs_result *r)
{
    size_t k;
    for (k = 0; k < m->nfclass; k++)
        if (strcmp(m->fclass_names[k], r->failure_class) == 0)
            break;
    if (k == m->nfclass && k < 32)
        snprintf(m->fclass_names[m->nfclass++], sizeof m->fclass_names[0], "%s",
                 r->failure_class[0] ? r->failure_class : "unknown");
    if (k < 32)
        m->fclass_count[k]++;
    if (m->nfailures < MAX_REPORTED_FAILURES) {
        struct failure *f = &m->failures[m->nfailures++];
        snprintf(f->run_id, sizeof f->run_id, "%s", r->run_id);
        f->run = run;
        f->status = r->status;
        snprintf(f->fclass, sizeof f->fclass, "%s", r->failure_class);
        snprintf(f->message, sizeof f->message, "%s", r->message);
        size_t len = strlen(r->stderr_tail);
        const char *t =
            r->stderr_tail + (len > sizeof f->tail - 1 ? len - (sizeof f->tail - 1) : 0);
        snprintf(f->tail, sizeof f->tail, "%s", t);
    }
}

/* The outcome of an attempt of `run`, received from a slot or recovered from the run's
 * directory: the same decision (retry or not) and the same store record either way. */
static int record_outcome(struct master *m, size_t run, hs_result *r, bool recovered,
                          hs_error *err)
{
    int status = r->status;
    const hs_run_spec *sp = hs_grid_spec(m->g);
    bool retry = hs_status_failure(status) && status != HS_SUSPECT &&
                 hs_failure_retryable(r->failure_class) && m->tries[run] < 1 + sp->retries &&
                 !*m->o->stop;
    if (retry) {
        hs_log_info("run %s: attempt %d %s (%s), retrying", r->run_id, r->attempt,
                    hs_status_name(status), r->failure_class);
        char msg[sizeof r->message];
        snprintf(msg, sizeof msg, "attempt %d: %s; retrying", r->attempt, r->message);
        snprintf(r->message, sizeof r->message, "%s", msg);
        status = HS_PENDING;
        if (queue_push(m, run, true) < 0)
            return hs_err(err, "out of memory");
    }
    if (hs_store_put(m->store, m->row[run], r, status, err) < 0)
        return -1;
    if (recovered) {
        m->sum->recovered++;
        if (status == HS_OK)
            estimate_learn(m, run, r->wall_s);
    } else if (status == HS_INTERRUPTED && strcmp(r->failure_class, "busy") == 0) {
        if (m->nbusy < MAX_REPORTED_FAILURES) {
            struct failure *f = &m->busy[m->nbusy];
            snprintf(f->run_id, sizeof f->run_id, "%s", r->run_id);
            f->run = run;
            snprintf(f->message, sizeof f->message, "%s", r->message);
        }
        m->nbusy++;
    } else if (!retry && status != HS_INTERRUPTED) {
        m->finished_now++;
        if (status == HS_OK)
            estimate_learn(m, run, r->wall_s);
        else if (hs_status_failure(status)) {
            m->failed_now++;
            note_failure(m, run, r);
        }
    }
    return 0;
}

static int record(struct master *m, int slot, hs_result *r, hs_error *err)
{
    struct slot_state *s = &m->slots[slot];
    size_t run = s->run;
    s->busy = false;
    m->running--;
    const hs_run *gr = hs_grid_run(m->g, run);
    if (strcmp(r->run_id, gr->id) != 0)
        return hs_err(err, "slot %d returned run %s, but was running %s", slot, r->run_id, gr->id);
    return record_outcome(m, run, r, false, err);
}

/* The runs of workers that died will never report: record them as interrupted (their runs
 * died with them; they run again on resume) and free their slots, so a stop can end. */
static int reap_lost(struct master *m, hs_error *err)
{
    double now = hs_monotonic();
    if (!m->ops->lost || now - m->last_lost_check < 0.1)
        return 0;
    m->last_lost_check = now;
    for (int s = 0; s < m->nslots; s++) {
        char why[200];
        if (!m->slots[s].busy || !m->ops->lost(m->ctx, s, why, sizeof why))
            continue;
        if (m->nlost < sizeof m->lost / sizeof m->lost[0])
            snprintf(m->lost[m->nlost], sizeof m->lost[0], "%s", why);
        m->nlost++;
        progress_clear(m);
        fprintf(stderr, "hypersweep: %s; its run %s runs again on resume\n", why,
                hs_grid_run(m->g, m->slots[s].run)->id);
        hs_result r;
        hs_result_init(&r);
        size_t run = m->slots[s].run;
        snprintf(r.run_id, sizeof r.run_id, "%s", hs_grid_run(m->g, run)->id);
        r.index = run;
        r.attempt = hs_store_attempts(m->store, m->row[run]);
        r.status = HS_INTERRUPTED;
        snprintf(r.failure_class, sizeof r.failure_class, "worker_lost");
        snprintf(r.message, sizeof r.message, "%s", why);
        m->ops->describe(m->ctx, s, &r);
        int rc = record(m, s, &r, err);
        hs_result_clear(&r);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- recovery ----------------------------------------------------------------------- */

/* The finished record in the run directory of grid cell `run`, when the store has not got
 * it: the attempt finished (its record is written before anyone hears of it), but the master
 * died before committing it. 1 with *rec filled, 0 when there is nothing to recover, -1 when
 * the record is unreadable (*err says why; the run simply runs again). */
static int recoverable(const hs_grid *g, const char *sweep_dir, size_t run, int attempts, int st,
                       hs_result *rec, hs_error *err)
{
    const hs_run *gr = hs_grid_run(g, run);
    hs_buf dir = { 0 };
    if (hs_run_dir(sweep_dir, gr->id, &dir) < 0) {
        hs_buf_free(&dir);
        return hs_err(err, "out of memory");
    }
    int got = hs_attempt_read(hs_buf_str(&dir), rec, err);
    hs_buf_free(&dir);
    if (got <= 0)
        return got;
    if (strcmp(rec->run_id, gr->id) != 0)
        return hs_err(err, "runs/%s/attempt.json records run %s", gr->id, rec->run_id);
    if (rec->status == HS_PENDING || rec->status == HS_RUNNING || rec->status == HS_INTERRUPTED)
        return 0; /* not finished: it runs again */
    /* Killed by SIGKILL or SIGTERM from outside: the kernel's OOM killer, or the teardown of
     * the whole job (Slurm kills every process of a step, in no set order, so a worker can
     * see its run die and write this record just before it dies itself). The master that
     * would have told them apart died: the run runs again rather than fail for nothing. */
    if (rec->status == HS_CRASHED &&
        (rec->term_signal == SIGKILL || rec->term_signal == SIGTERM))
        return 0;
    if (rec->attempt > attempts || (rec->attempt == attempts && st == HS_RUNNING)) {
        rec->index = run;
        return 1;
    }
    return 0;
}

static int recover(struct master *m, size_t run, hs_error *err)
{
    hs_result rec;
    hs_result_init(&rec);
    hs_error rerr;
    int got = recoverable(m->g, m->o->sweep_dir, run, hs_store_attempts(m->store, m->row[run]),
                          hs_store_status(m->store, m->row[run]), &rec, &rerr);
    if (got < 0)
        hs_log_warn("run %s: no recovery: %s", hs_grid_run(m->g, run)->id, rerr.text);
    if (got <= 0) {
        hs_result_clear(&rec);
        return 0;
    }
    hs_log_info("run %s: attempt %d finished (%s) but was never committed: recovered from its "
                "run directory",
                rec.run_id, rec.attempt, hs_status_name(rec.status));
    m->tries[run] = 1; /* the retry policy sees it as this invocation's attempt */
    int rc = record_outcome(m, run, &rec, true, err);
    hs_result_clear(&rec);
    return rc < 0 ? -1 : 1;
}

/* ---- summary ------------------------------------------------------------------------ */

static void summary(struct master *m)
{
    FILE *out = m->o->out ? m->o->out : stdout;
    hs_master_summary *sum = m->sum;
    memset(sum->counts, 0, sizeof sum->counts);
    for (size_t i = 0; i < hs_grid_nruns(m->g); i++)
        if (m->in_scope[i])
            sum->counts[hs_store_status(m->store, m->row[i])]++;
    fprintf(out, "\nSweep %s%s: %zu run%s", hs_grid_name(m->g), m->o->shard_count ? "" : "",
            sum->total, sum->total == 1 ? "" : "s");
    if (m->o->shard_count)
        fprintf(out, " in shard %d/%d", m->o->shard_index, m->o->shard_count);
    fprintf(out, ", %zu attempt%s started now", sum->executed, sum->executed == 1 ? "" : "s");
    if (sum->recovered)
        fprintf(out, ", %zu recovered from run directories (finished, never committed)",
                sum->recovered);
    fputc('\n', out);
    hs_table *t = hs_table_create(3);
    hs_table_column(t, 0, "status", HS_LEFT);
    hs_table_column(t, 1, "runs", HS_RIGHT);
    hs_table_column(t, 2, "", HS_LEFT);
    for (int st = 0; st < HS_NSTATUS; st++) {
        if (!sum->counts[st])
            continue;
        hs_table_row(t);
        hs_table_set(t, 0, hs_status_name(st));
        hs_table_setf(t, 1, "%zu", sum->counts[st]);
        if (st == HS_OK && sum->already_ok)
            hs_table_setf(t, 2, "%zu of them before this invocation", sum->already_ok);
        if (st == HS_PENDING && sum->held_back)
            hs_table_setf(t, 2, "%zu held back: they could not finish before the time limit",
                          sum->held_back);
        if (st == HS_INTERRUPTED)
            hs_table_set(t, 2, "stopped by hypersweep; they run again on resume");
    }
    hs_table_write(t, out, HS_TABLE_TEXT, 2);
    hs_table_destroy(t);
    if (m->nfclass) {
        fprintf(out, "\nFailures by class (this invocation):\n");
        t = hs_table_create(2);
        hs_table_column(t, 0, "class", HS_LEFT);
        hs_table_column(t, 1, "runs", HS_RIGHT);
        for (size_t k = 0; k < m->nfclass; k++) {
            hs_table_row(t);
            hs_table_set(t, 0, m->fclass_names[k]);
            hs_table_setf(t, 1, "%zu", m->fclass_count[k]);
        }
        hs_table_write(t, out, HS_TABLE_TEXT, 2);
        hs_table_destroy(t);
        fprintf(out, "\nFirst failures:\n");
        hs_buf d = { 0 };
        for (size_t i = 0; i < m->nfailures; i++) {
            struct failure *f = &m->failures[i];
            hs_buf_reset(&d);
            hs_run_describe(m->g, hs_grid_run(m->g, f->run), &d);
            hs_shorten(&d, HS_SHORT_CELL_COLS, "full values: hypersweep export");
            fprintf(out, "  %s  %s (%s)  %s\n    %s\n", f->run_id, hs_status_name(f->status),
                    f->fclass, hs_buf_str(&d), f->message);
            if (f->tail[0]) {
                fprintf(out, "    stderr (tail):\n");
                const char *p = f->tail;
                /* the last 6 lines */
                int lines = 0;
                for (const char *q = p + strlen(p); q > p; q--)
                    if (q[-1] == '\n' && q[0] && ++lines == 7) {
                        p = q;
                        break;
                    }
                while (*p) {
                    size_t l = strcspn(p, "\n");
                    fprintf(out, "      | %.*s\n", (int)l, p);
                    p += l + (p[l] == '\n');
                }
            }
            fprintf(out, "    logs: %s/runs/%s/\n", m->o->sweep_dir, f->run_id);
        }
        hs_buf_free(&d);
    }
    if (m->nbusy) {
        fprintf(out, "\n%zu run%s not started: another attempt holds %s run directory\n",
                m->nbusy, m->nbusy == 1 ? "" : "s", m->nbusy == 1 ? "its" : "their");
        for (size_t i = 0; i < m->nbusy && i < MAX_REPORTED_FAILURES; i++)
            fprintf(out, "  %s  %s\n", m->busy[i].run_id, m->busy[i].message);
    }
    size_t earlier = 0;
    for (int st = 0; st < HS_NSTATUS; st++)
        if (hs_status_failure(st))
            earlier += sum->counts[st];
    if (earlier > m->failed_now)
        fprintf(out,
                "\n%zu run%s failed in earlier invocations; rerun them with --retry-failed, "
                "see them with: hypersweep status %s --failed\n",
                earlier - m->failed_now, earlier - m->failed_now == 1 ? "" : "s", m->o->store_path);
    if (m->nlost) {
        fprintf(out, "\n%zu worker%s died during the sweep (a node or process lost; its "
                     "runs run again on resume):\n",
                m->nlost, m->nlost == 1 ? "" : "s");
        for (size_t i = 0; i < m->nlost && i < sizeof m->lost / sizeof m->lost[0]; i++)
            fprintf(out, "  %s\n", m->lost[i]);
    }
    fprintf(out, "\nStore: %s\nRuns:  %s/runs/\n", m->o->store_path, m->o->sweep_dir);
    if (sum->interrupted || sum->held_back) {
        fprintf(out, "Interrupted: run the same command again to continue where this stopped.\n");
        if (m->o->resume_command)
            fprintf(out, "  %s\n", m->o->resume_command);
    }
    fflush(out); /* a launcher may kill this process right after */
}

/* ---- the loop ----------------------------------------------------------------------- */

static int resolve_only(const hs_grid *g, const hs_master_opts *o, bool *sel, hs_error *err)
{
    for (size_t k = 0; k < o->nonly; k++) {
        const char *p = o->only[k];
        size_t len = strlen(p), found = 0, which = 0;
        if (len < 4)
            return hs_err(err, "--only %s: give at least 4 characters of a run id", p);
        for (size_t i = 0; i < hs_grid_nruns(g); i++)
            if (strncmp(hs_grid_run(g, i)->id, p, len) == 0) {
                found++;
                which = i;
            }
        if (found == 0)
            return hs_err(err, "--only %s: no run of this grid has that id", p);
        if (found > 1)
            return hs_err(err, "--only %s: %zu runs start with that; give more characters", p,
                          found);
        sel[which] = true;
    }
    return 0;
}

/* The store's options for this sweep (shard is the caller's buffer for "i/n"). */
static hs_store_opts store_opts(const hs_master_opts *o, bool swmr, char shard[32])
{
    hs_store_opts so = { .swmr = swmr, .fsync = o->fsync, .sweep_dir = o->sweep_dir };
    if (o->shard_count > 0) {
        snprintf(shard, 32, "%d/%d", o->shard_index, o->shard_count);
        so.shard = shard;
        so.shard_index = o->shard_index;
        so.shard_count = o->shard_count;
    }
    return so;
}

static bool scoped(const hs_master_opts *o, size_t index)
{
    return o->shard_count <= 0 || (int)(index % (size_t)o->shard_count) == o->shard_index;
}

int hs_master_run(const hs_grid *g, const hs_master_opts *o, const hs_executor_ops *ops, void *ctx,
                  hs_master_summary *sum, hs_error *err)
{
    struct master m;
    memset(&m, 0, sizeof m);
    memset(sum, 0, sizeof *sum);
    m.g = g;
    m.o = o;
    m.ops = ops;
    m.ctx = ctx;
    m.sum = sum;
    m.t0 = hs_monotonic();
    size_t n = hs_grid_nruns(g);
    int rc = -1;
    sum->exit_code = HS_EXIT_USAGE;
    bool *only = calloc(n, sizeof *only);
    m.row = calloc(n, sizeof *m.row);
    m.tries = calloc(n, sizeof *m.tries);
    m.in_scope = calloc(n, sizeof *m.in_scope);
    m.est_index = hs_strmap_create(64);
    m.nslots = ops->nslots(ctx);
    m.slots = calloc((size_t)(m.nslots > 0 ? m.nslots : 1), sizeof *m.slots);
    if (!only || !m.row || !m.tries || !m.in_scope || !m.est_index || !m.slots) {
        hs_err(err, "out of memory");
        goto out;
    }
    if (o->nonly && resolve_only(g, o, only, err) < 0)
        goto out;
    m.progress = o->progress;
    if (m.progress == HS_PROGRESS_AUTO)
        m.progress = isatty(2) ? HS_PROGRESS_TTY : HS_PROGRESS_LOG;
    m.last_progress = m.progress == HS_PROGRESS_LOG ? m.t0 : 0; /* a first log line after 30 s */

    char shard[32];
    hs_store_opts so = store_opts(o, o->swmr, shard);
    if (hs_sweep_dir_claim(o->sweep_dir, hs_grid_name(g), err) < 0)
        goto out;
    hs_store_open_info info;
    m.store = hs_store_open(o->store_path, g, &so, &info, err);
    if (!m.store) {
        sum->exit_code = HS_EXIT_STORE;
        goto out;
    }
    if (info.repaired)
        fprintf(stderr, "hypersweep: %s had been left open by a killed master; repaired it\n",
                o->store_path);
    for (size_t i = 0; i < n; i++) {
        if (!scoped(o, i))
            continue;
        long row = hs_store_find(m.store, hs_grid_run(g, i)->id);
        if (row < 0) {
            hs_err(err, "store %s lost run %s", o->store_path, hs_grid_run(g, i)->id);
            sum->exit_code = HS_EXIT_STORE;
            goto out;
        }
        m.row[i] = (size_t)row;
        m.in_scope[i] = scoped(o, i) && (!o->nonly || only[i]);
        if (!m.in_scope[i])
            continue;
        sum->total++;
        int st = hs_store_status(m.store, (size_t)row);
        if (st != HS_OK) {
            int got = recover(&m, i, err);
            if (got < 0) {
                sum->exit_code = HS_EXIT_STORE;
                goto out;
            }
            if (got > 0) /* recorded, and queued again if the policy retries it */
                continue;
        }
        if (st == HS_OK) {
            sum->already_ok++;
            estimate_learn(&m, i, hs_store_wall_s(m.store, (size_t)row));
            continue;
        }
        if (hs_status_failure(st) && !o->retry_failed)
            continue;
        if (queue_push(&m, i, false) < 0) {
            hs_err(err, "out of memory");
            goto out;
        }
    }
    hs_log_info("sweep %s: %zu runs in scope, %zu to run, %zu already ok, %zu recovered",
                hs_grid_name(g), sum->total, m.qlen, sum->already_ok, sum->recovered);
    if (sum->recovered && hs_store_flush(m.store, err) < 0) {
        sum->exit_code = HS_EXIT_STORE;
        goto out;
    }

    bool stopping = false, store_broken = false, by_signal = false, uncommitted = false;
    double stop_deadline = INFINITY;
    hs_result res;
    hs_result_init(&res);
    for (;;) {
        double now_m = hs_monotonic();
        double now = hs_now();
        /* a signal, or the end of the allocation coming */
        if (!stopping && *o->stop) {
            stopping = true;
            by_signal = true;
            sum->interrupted = true;
            progress_clear(&m);
            fprintf(stderr, "hypersweep: stopping: no new runs, interrupting the %zu running\n",
                    m.running);
        }
        if (!stopping && o->end_time > 0 && now >= o->end_time - o->margin) {
            stopping = true;
            sum->interrupted = true;
            progress_clear(&m);
            fprintf(stderr, "hypersweep: the time limit is %.0f s away: stopping cleanly\n",
                    o->end_time - now);
        }
        if (stopping && stop_deadline == INFINITY) {
            for (int s = 0; s < m.nslots; s++)
                if (m.slots[s].busy)
                    ops->cancel(ctx, s, "interrupted by hypersweep (signal or time limit)");
            stop_deadline = now_m + hs_grid_spec(g)->grace + 30;
        }
        /* dispatch */
        while (!stopping && !*o->stop && !store_broken && m.qlen > 0) {
            int slot = ops->idle_slot(ctx);
            if (slot < 0)
                break;
            size_t run = m.queue[m.qhead];
            double est = estimate(&m, run);
            if (o->end_time > 0 && now + est > o->end_time - o->margin) {
                /* it cannot finish in time; maybe a shorter one can */
                size_t pos;
                for (pos = 1; pos < m.qlen; pos++)
                    if (now + estimate(&m, m.queue[m.qhead + pos]) <= o->end_time - o->margin)
                        break;
                if (pos == m.qlen && m.nest == 0 && m.running == 0 && !m.probing) {
                    /* No run has ever finished, so every estimate is the timeout, longer
                     * than the time left: holding everything back would stall the sweep in
                     * every allocation. Start one run to learn how long runs take. */
                    m.probing = true;
                    fprintf(stderr,
                            "hypersweep: no run has finished yet to estimate "
                            "durations, and run.timeout (%.0f s) exceeds the %.0f s "
                            "left: starting one run to learn\n",
                            hs_grid_spec(g)->timeout, o->end_time - o->margin - now);
                    pos = 0;
                } else if (pos == m.qlen) {
                    sum->held_back += m.qlen;
                    m.qhead += m.qlen;
                    m.qlen = 0;
                    break;
                }
                size_t tmp = m.queue[m.qhead + pos];
                memmove(&m.queue[m.qhead + 1], &m.queue[m.qhead], pos * sizeof *m.queue);
                m.queue[m.qhead] = tmp;
                /* the skipped ones stay queued; held_back counts what is left at the end */
                run = tmp;
                est = estimate(&m, run);
            }
            m.qhead++;
            m.qlen--;
            const hs_run *gr = hs_grid_run(g, run);
            int attempt = hs_store_attempts(m.store, m.row[run]) + 1;
            hs_task task;
            if (hs_task_render(g, gr, o->sweep_dir, ops->gpu_label(ctx, slot), attempt, &task,
                               err) < 0)
                goto out_loop;
            hs_result_clear(&res);
            snprintf(res.run_id, sizeof res.run_id, "%s", gr->id);
            res.index = run;
            res.attempt = attempt;
            res.started = now;
            ops->describe(ctx, slot, &res);
            snprintf(res.message, sizeof res.message, "running");
            if (hs_store_put(m.store, m.row[run], &res, HS_RUNNING, err) < 0) {
                hs_task_clear(&task);
                store_broken = true;
                break;
            }
            int started = ops->start(ctx, slot, &task, err);
            hs_task_clear(&task);
            if (started < 0)
                goto out_loop;
            m.slots[slot] = (struct slot_state){ true, run, now_m, est };
            m.tries[run]++;
            m.running++;
            sum->executed++;
        }
        if (stopping && !store_broken && reap_lost(&m, err) < 0) {
            store_broken = true;
            fprintf(stderr, "hypersweep: %s\n", err->text);
        }
        if (m.running == 0 && (m.qlen == 0 || stopping || store_broken))
            break;
        if (stopping && now_m > stop_deadline) {
            fprintf(stderr,
                    "hypersweep: %zu runs did not stop in time; they run again on "
                    "resume\n",
                    m.running);
            break;
        }
        bool can_dispatch =
            !stopping && !store_broken && m.qlen > 0 && m.running < (size_t)m.nslots;
        int slot = -1;
        /* after an outcome, only look whether another is waiting: commit before waiting */
        int got = ops->poll(ctx, can_dispatch || uncommitted ? 0.0 : 0.2, &slot, &res, err);
        if (got < 0)
            goto out_loop;
        if (got > 0 && !store_broken) {
            uncommitted = true;
            if (record(&m, slot, &res, err) < 0) {
                store_broken = true;
                progress_clear(&m);
                fprintf(stderr, "hypersweep: %s\n", err->text);
            }
        } else if (got > 0) {
            m.slots[slot].busy = false;
            m.running--;
        }
        /* group commit: nothing more is waiting, so what arrived is committed now */
        if (got == 0)
            uncommitted = false;
        if (!store_broken &&
            (got == 0 ? hs_store_commit_idle(m.store, err) : hs_store_tick(m.store, err)) < 0) {
            store_broken = true;
            progress_clear(&m);
            fprintf(stderr, "hypersweep: %s\n", err->text);
        }
        if (store_broken && !stopping) {
            stopping = true;
            fprintf(stderr, "hypersweep: the store cannot be written: stopping; what was "
                            "committed before stays\n");
        }
        progress(&m, false);
    }
    if (!store_broken && hs_store_flush(m.store, err) < 0) {
        store_broken = true;
        fprintf(stderr, "hypersweep: %s\n", err->text);
    }
    /* what the time limit left in the queue (a signal's stop leaves it simply pending) */
    sum->held_back += m.qlen && o->end_time > 0 && !by_signal && !store_broken ? m.qlen : 0;
    progress_clear(&m);
    summary(&m);
    rc = 0;
    if (store_broken) {
        sum->store_failed = true;
        sum->exit_code = HS_EXIT_STORE;
    } else if (sum->interrupted || sum->held_back) {
        sum->exit_code = HS_EXIT_INTERRUPTED;
    } else {
        sum->exit_code = sum->counts[HS_OK] == sum->total ? HS_EXIT_OK : HS_EXIT_RUNS_FAILED;
    }
out_loop:
    hs_result_clear(&res);
    if (rc < 0) {
        /* stop what runs; their rows say running and run again on resume */
        for (int s = 0; s < m.nslots; s++)
            if (m.slots[s].busy)
                ops->cancel(ctx, s, "the master failed");
        sum->exit_code = store_broken ? HS_EXIT_STORE : HS_EXIT_USAGE;
    }
out:
    if (m.store) {
        hs_error cerr;
        if (hs_store_close(m.store, &cerr) < 0 && rc == 0 && !sum->store_failed) {
            fprintf(stderr, "hypersweep: %s\n", cerr.text);
            sum->exit_code = HS_EXIT_STORE;
        }
    }
    free(only);
    free(m.row);
    free(m.tries);
    free(m.in_scope);
    free(m.queue);
    free(m.slots);
    free(m.est_max);
    hs_strmap_destroy(m.est_index);
    return rc;
}

/* ---- rebuild ------------------------------------------------------------------------ */

/* Which entries of SWEEP_DIR/runs are run directories of this grid's cells. */
static int scan_run_dirs(const hs_grid *g, const char *sweep_dir, size_t *ours, size_t *foreign,
                         char *example, size_t cap)
{
    *ours = *foreign = 0;
    example[0] = '\0';
    hs_buf p = { 0 };
    hs_buf_printf(&p, "%s/runs", sweep_dir);
    DIR *d = opendir(hs_buf_str(&p));
    hs_buf_free(&p);
    if (!d)
        return 0;
    hs_strmap *ids = hs_strmap_create(hs_grid_nruns(g) + 1);
    for (size_t i = 0; ids && i < hs_grid_nruns(g); i++)
        hs_strmap_put(ids, hs_grid_run(g, i)->id, i);
    struct dirent *e;
    while (ids && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t k;
        if (hs_strmap_get(ids, e->d_name, &k)) {
            (*ours)++;
        } else {
            (*foreign)++;
            if (!example[0])
                snprintf(example, cap, "%s", e->d_name);
        }
    }
    closedir(d);
    hs_strmap_destroy(ids);
    return 0;
}

int hs_master_rebuild(const hs_grid *g, const hs_master_opts *o, bool force,
                      hs_master_summary *sum, hs_error *err)
{
    FILE *out = o->out ? o->out : stdout;
    memset(sum, 0, sizeof *sum);
    sum->exit_code = HS_EXIT_USAGE;
    char owner[256];
    int known = hs_sweep_dir_owner(o->sweep_dir, owner, sizeof owner, err);
    if (known < 0)
        return -1;
    if (known && strcmp(owner, hs_grid_name(g)) != 0)
        return hs_err(err,
                      "%s belongs to sweep '%s' (its sweep.json says so), not to '%s': "
                      "nothing rebuilt",
                      o->sweep_dir, owner, hs_grid_name(g));
    size_t ours, foreign;
    char example[128];
    scan_run_dirs(g, o->sweep_dir, &ours, &foreign, example, sizeof example);
    if (ours == 0 && foreign > 0)
        return hs_err(err,
                      "none of the %zu run directories in %s/runs belongs to a run of %s (e.g. "
                      "%s): the directory belongs to another sweep, or to another version of "
                      "this grid; nothing rebuilt",
                      foreign, o->sweep_dir, hs_grid_path(g), example);
    if (access(o->store_path, F_OK) == 0) {
        if (!force)
            return hs_err(err,
                          "%s exists: rebuild recreates a store that was deleted or is damaged "
                          "beyond repair (a store left by a killed master is repaired by `run` "
                          "itself). Add --force to set it aside (it is renamed, not deleted)",
                          o->store_path);
        char stamp[32], aside[4096];
        hs_iso_time(hs_now(), stamp);
        snprintf(aside, sizeof aside, "%s.damaged-%s", o->store_path, stamp);
        if (rename(o->store_path, aside) < 0) {
            sum->exit_code = HS_EXIT_STORE;
            return hs_err_errno(err, "cannot rename %s to %s", o->store_path, aside);
        }
        fprintf(out, "Set the old store aside as %s\n", aside);
    }

    struct master m;
    memset(&m, 0, sizeof m);
    m.g = g;
    m.o = o;
    m.sum = sum;
    size_t n = hs_grid_nruns(g);
    m.row = calloc(n ? n : 1, sizeof *m.row);
    m.tries = calloc(n ? n : 1, sizeof *m.tries);
    m.in_scope = calloc(n ? n : 1, sizeof *m.in_scope);
    m.est_index = hs_strmap_create(64);
    int rc = -1;
    size_t no_record = 0, unreadable = 0;
    if (!m.row || !m.tries || !m.in_scope || !m.est_index) {
        hs_err(err, "out of memory");
        goto out;
    }
    if (hs_sweep_dir_claim(o->sweep_dir, hs_grid_name(g), err) < 0)
        goto out;
    char shard[32];
    hs_store_opts so = store_opts(o, false, shard);
    hs_store_open_info info;
    m.store = hs_store_open(o->store_path, g, &so, &info, err);
    if (!m.store) {
        sum->exit_code = HS_EXIT_STORE;
        goto out;
    }
    hs_buf dir = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (!scoped(o, i))
            continue;
        const hs_run *gr = hs_grid_run(g, i);
        long row = hs_store_find(m.store, gr->id);
        if (row < 0) {
            hs_err(err, "store %s lost run %s", o->store_path, gr->id);
            sum->exit_code = HS_EXIT_STORE;
            hs_buf_free(&dir);
            goto out;
        }
        m.row[i] = (size_t)row;
        m.in_scope[i] = true;
        sum->total++;
        hs_result rec;
        hs_result_init(&rec);
        hs_error rerr;
        int got = recoverable(g, o->sweep_dir, i, hs_store_attempts(m.store, m.row[i]),
                              hs_store_status(m.store, m.row[i]), &rec, &rerr);
        if (got > 0) {
            m.tries[i] = 1;
            if (record_outcome(&m, i, &rec, true, err) < 0) {
                hs_result_clear(&rec);
                hs_buf_free(&dir);
                sum->exit_code = HS_EXIT_STORE;
                goto out;
            }
        } else if (got < 0) {
            unreadable++;
            fprintf(out, "  %s: %s\n", gr->id, rerr.text);
        } else {
            hs_buf_reset(&dir);
            hs_run_dir(o->sweep_dir, gr->id, &dir);
            no_record += access(hs_buf_str(&dir), F_OK) == 0;
        }
        hs_result_clear(&rec);
    }
    hs_buf_free(&dir);
    if (hs_store_flush(m.store, err) < 0) {
        sum->exit_code = HS_EXIT_STORE;
        goto out;
    }
    memset(sum->counts, 0, sizeof sum->counts);
    for (size_t i = 0; i < n; i++)
        if (m.in_scope[i])
            sum->counts[hs_store_status(m.store, m.row[i])]++;
    fprintf(out, "\nRebuilt %s for sweep %s from %s/runs: %zu runs in the grid%s\n",
            o->store_path, hs_grid_name(g), o->sweep_dir, sum->total,
            o->shard_count ? " (this shard)" : "");
    hs_table *t = hs_table_create(2);
    hs_table_column(t, 0, "", HS_LEFT);
    hs_table_column(t, 1, "runs", HS_RIGHT);
    hs_table_row(t);
    hs_table_set(t, 0, "recovered from attempt.json");
    hs_table_setf(t, 1, "%zu", sum->recovered);
    for (int st = 0; st < HS_NSTATUS; st++) {
        if (st == HS_PENDING || !sum->counts[st])
            continue;
        hs_table_row(t);
        hs_table_setf(t, 0, "  of them %s", hs_status_name(st));
        hs_table_setf(t, 1, "%zu", sum->counts[st]);
    }
    hs_table_row(t);
    hs_table_set(t, 0, "not recovered: no finished record, or killed from outside");
    hs_table_setf(t, 1, "%zu", no_record);
    hs_table_row(t);
    hs_table_set(t, 0, "not recovered: record unreadable (listed above)");
    hs_table_setf(t, 1, "%zu", unreadable);
    hs_table_row(t);
    hs_table_set(t, 0, "pending (they run on the next `run`)");
    hs_table_setf(t, 1, "%zu", sum->counts[HS_PENDING]);
    hs_table_write(t, out, HS_TABLE_TEXT, 2);
    hs_table_destroy(t);
    if (foreign)
        fprintf(out, "%zu run director%s in %s/runs belong to no run of this grid (e.g. %s); "
                     "left as they are\n",
                foreign, foreign == 1 ? "y" : "ies", o->sweep_dir, example);
    fprintf(out, "\nStore: %s\nResume with the same `hypersweep run` command.\n", o->store_path);
    rc = 0;
    sum->exit_code = HS_EXIT_OK;
out:
    if (m.store) {
        hs_error cerr;
        if (hs_store_close(m.store, &cerr) < 0 && rc == 0) {
            *err = cerr;
            sum->exit_code = HS_EXIT_STORE;
            rc = -1;
        }
    }
    free(m.row);
    free(m.tries);
    free(m.in_scope);
    free(m.queue);
    free(m.est_max);
    hs_strmap_destroy(m.est_index);
    return rc;
}

/* ---- dry run ------------------------------------------------------------------------ */

int hs_master_dry_run(const hs_grid *g, const hs_master_opts *o, hs_error *err)
{
    FILE *out = o->out ? o->out : stdout;
    size_t n = hs_grid_nruns(g);
    bool *only = calloc(n ? n : 1, sizeof *only);
    if (!only)
        return hs_err(err, "out of memory");
    if (o->nonly && resolve_only(g, o, only, err) < 0) {
        free(only);
        return -1;
    }
    hs_store_data *d = NULL;
    if (access(o->store_path, F_OK) == 0) {
        d = hs_store_read(o->store_path, err);
        if (!d) {
            free(only);
            return -1;
        }
        if (strcmp(hs_sd_attr(d, "sweep"), hs_grid_name(g)) != 0) {
            hs_err(err, "store %s belongs to sweep '%s', not '%s'", o->store_path,
                   hs_sd_attr(d, "sweep"), hs_grid_name(g));
            hs_store_data_destroy(d);
            free(only);
            return -1;
        }
    }
    hs_strmap *rows = hs_strmap_create(d ? hs_sd_nrows(d) : 16);
    for (size_t r = 0; d && r < hs_sd_nrows(d); r++)
        hs_strmap_put(rows, hs_sd_run_id(d, r), r);
    hs_table *t = hs_table_create(4);
    hs_table_column(t, 0, "index", HS_RIGHT);
    hs_table_column(t, 1, "id", HS_LEFT);
    hs_table_column(t, 2, "action", HS_LEFT);
    hs_table_column(t, 3, "parameters", HS_LEFT);
    size_t torun = 0, skip_ok = 0, skip_failed = 0, nrecover = 0;
    char recovered_action[96];
    hs_buf b = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (!scoped(o, i) || (o->nonly && !only[i]))
            continue;
        const hs_run *r = hs_grid_run(g, i);
        size_t row;
        bool in_store = d && hs_strmap_get(rows, r->id, &row);
        int st = in_store ? hs_sd_status(d, row) : HS_PENDING;
        const char *action = "run";
        hs_result rec;
        hs_result_init(&rec);
        hs_error rerr;
        if (st != HS_OK &&
            recoverable(g, o->sweep_dir, i, in_store ? hs_sd_attempts(d, row) : 0, st, &rec,
                        &rerr) > 0) {
            snprintf(recovered_action, sizeof recovered_action,
                     "recover (attempt %d finished %s; never committed)", rec.attempt,
                     hs_status_name(rec.status));
            action = recovered_action;
            nrecover++;
            st = rec.status;
        }
        hs_result_clear(&rec);
        if (action == recovered_action) {
            /* counted */
        } else if (st == HS_OK) {
            action = "skip (ok)";
            skip_ok++;
        } else if (hs_status_failure(st) && !o->retry_failed) {
            action = "skip (failed; --retry-failed reruns it)";
            skip_failed++;
        } else {
            torun++;
        }
        hs_table_row(t);
        hs_table_setf(t, 0, "%zu", i);
        hs_table_set(t, 1, r->id);
        hs_table_set(t, 2, action);
        hs_buf_reset(&b);
        hs_run_describe(g, r, &b);
        hs_table_set(t, 3, hs_buf_str(&b));
    }
    hs_table_write(t, out, HS_TABLE_TEXT, 0);
    fprintf(out,
            "\nDry run: %zu to run, %zu already ok, %zu failed and skipped, %zu to recover "
            "from their run directories. Nothing was run or written.\n",
            torun, skip_ok, skip_failed, nrecover);
    hs_buf_free(&b);
    hs_table_destroy(t);
    hs_strmap_destroy(rows);
    hs_store_data_destroy(d);
    free(only);
    return 0;
}
