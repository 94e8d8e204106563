#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attempt.h"
#include "buf.h"
#include "gpu.h"
#include "log.h"
#include "proto.h"
#include "util.h"

extern char **environ;

/* A log file that keeps the first half of its limit and the last half (a ring). */
struct sink {
    int fd;
    size_t limit;
    size_t written; /* bytes in the file so far (head) */
    size_t total;   /* bytes the run produced */
    char *ring;     /* the tail, once the head is full */
    size_t ring_cap, ring_len, ring_pos;
    char tail[HS_TAIL_BYTES]; /* always the last 4 KiB */
    size_t tail_len, tail_pos;
};

struct hs_runner {
    hs_task task; /* deep copy */
    hs_runner_ctx ctx;
    pid_t pid;     /* the supervisor: leader of the run's process group */
    pid_t cmd_pid; /* the command itself, under the supervisor */
    int lock_fd;   /* RUN_DIR/attempt.lock, held for the whole attempt */
    bool foreign;  /* another attempt holds the run directory: touch nothing in it */
    int out_fd, err_fd;
    int pid_fd;  /* readable when the child exits (Linux pidfd), or -1 */
    int idle_ms; /* the next sleep when there is nothing to poll */
    struct sink out, errs;
    double started, t0, deadline, kill_at;
    int status; /* wait status */
    struct rusage ru;
    bool exited, done, timed_out, cancelled, term_sent, kill_sent;
    double drain_until;
    char cancel_why[128];
    /* a task that could not start */
    int start_status;
    char start_class[32];
    char start_message[256];
    char git_commit[41];
    int git_dirty;
    hs_gpu_telemetry *tele;
};

/* ---- logs ---------------------------------------------------------------------------- */

static void sink_init(struct sink *s, int fd, size_t limit)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->limit = limit;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* the log is best effort; the run goes on */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void sink_add(struct sink *s, const char *p, size_t n)
{
    s->total += n;
    for (size_t i = 0; i < n; i++) {
        s->tail[s->tail_pos] = p[i];
        s->tail_pos = (s->tail_pos + 1) % sizeof s->tail;
        if (s->tail_len < sizeof s->tail)
            s->tail_len++;
    }
    size_t head = s->limit / 2;
    if (s->written < head) {
        size_t k = n < head - s->written ? n : head - s->written;
        write_all(s->fd, p, k);
        s->written += k;
        p += k;
        n -= k;
    }
    if (n == 0)
        return;
    if (!s->ring) {
        s->ring_cap = s->limit - head;
        s->ring = malloc(s->ring_cap ? s->ring_cap : 1);
        if (!s->ring)
            return;
    }
    for (size_t i = 0; i < n; i++) {
        s->ring[s->ring_pos] = p[i];
        s->ring_pos = (s->ring_pos + 1) % s->ring_cap;
        if (s->ring_len < s->ring_cap)
            s->ring_len++;
    }
}

static void sink_close(struct sink *s)
{
    if (s->fd < 0)
        return;
    if (s->ring && s->ring_len) {
        size_t omitted = s->total - s->written - s->ring_len;
        if (omitted > 0) {
            char note[160];
            int k = snprintf(note, sizeof note,
                             "\n[hypersweep: %zu bytes omitted here; the log keeps its first and "
                             "last %zu bytes]\n",
                             omitted, s->limit / 2);
            write_all(s->fd, note, (size_t)k);
        }
        size_t start = (s->ring_pos + s->ring_cap - s->ring_len) % s->ring_cap;
        size_t first = s->ring_cap - start < s->ring_len ? s->ring_cap - start : s->ring_len;
        write_all(s->fd, s->ring + start, first);
        write_all(s->fd, s->ring, s->ring_len - first);
    }
    close(s->fd);
    s->fd = -1;
    free(s->ring);
    s->ring = NULL;
}

static void sink_tail(const struct sink *s, char *out, size_t cap)
{
    size_t n = s->tail_len < cap - 1 ? s->tail_len : cap - 1;
    size_t start = (s->tail_pos + sizeof s->tail - n) % sizeof s->tail;
    for (size_t i = 0; i < n; i++)
        out[i] = s->tail[(start + i) % sizeof s->tail];
    out[n] = '\0';
    /* do not start in the middle of a UTF-8 sequence */
    size_t skip = 0;
    while (skip < n && ((unsigned char)out[skip] & 0xC0) == 0x80)
        skip++;
    if (skip)
        memmove(out, out + skip, n - skip + 1);
}

/* ---- helpers ------------------------------------------------------------------------- */

static void copy_task(hs_task *dst, const hs_task *src)
{
    /* round-trip through the protocol: one deep copy routine for every field */
    hs_buf b = { 0 };
    hs_error err;
    memset(dst, 0, sizeof *dst);
    if (hs_proto_pack_task(src, &b) == 0)
        hs_proto_unpack_task(b.data, b.len, dst, &err);
    hs_buf_free(&b);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Run a short command (git) and capture its stdout; -1 if it could not run or failed. */
static int capture_cmd(char *const argv[], char *out, size_t cap)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fds[0], out + n, n + 1 < cap ? cap - n - 1 : 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* drain the rest so the child can exit */
            char junk[256];
            while (r > 0 || (r < 0 && errno == EINTR))
                r = read(fds[0], junk, sizeof junk);
            if (n + 1 >= cap) {
                while (read(fds[0], junk, sizeof junk) > 0) {
                }
            }
            break;
        }
        n += (size_t)r;
    }
    out[n] = '\0';
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Is dir inside a git work tree? (A stat per level is much cheaper than spawning git.) */
static bool in_git_tree(const char *dir)
{
    char *p = hs_path_absolute(dir);
    bool found = false;
    while (p && !found) {
        char probe[PATH_MAX];
        struct stat st;
        snprintf(probe, sizeof probe, "%s/.git", strcmp(p, "/") ? p : "");
        found = stat(probe, &st) == 0;
        char *slash = strrchr(p, '/');
        if (!slash || slash == p) {
            if (!found && strcmp(p, "/")) {
                found = stat("/.git", &st) == 0;
            }
            break;
        }
        *slash = '\0';
    }
    free(p);
    return found;
}

static void git_state(const char *dir, char commit[41], int *dirty)
{
    char out[4096];
    commit[0] = '\0';
    *dirty = -1;
    if (!in_git_tree(dir))
        return;
    char *rev[] = { "git", "-C", (char *)dir, "rev-parse", "HEAD", NULL };
    if (capture_cmd(rev, out, sizeof out) < 0)
        return;
    snprintf(commit, 41, "%.*s", (int)strcspn(out, "\n"), out);
    char *st[] = {
        "git", "-C", (char *)dir, "status", "--porcelain", "--untracked-files=no", NULL
    };
    if (capture_cmd(st, out, sizeof out) == 0)
        *dirty = out[0] != '\0';
}

static bool env_hidden(const char *e)
{
    /* the run is not part of this MPI job: an MPI program started by a run must not find
     * our launcher's variables */
    static const char *const prefixes[] = { "OMPI_",
                                            "PMIX_",
                                            "PMI_",
                                            "HYDRA_",
                                            "MPI_LOCALRANKID",
                                            "OPAL_",
                                            "CUDA_VISIBLE_DEVICES=",
                                            "HYPERSWEEP_",
                                            NULL };
    for (const char *const *p = prefixes; *p; p++)
        if (strncmp(e, *p, strlen(*p)) == 0)
            return true;
    return false;
}

static char **build_env(const hs_task *t, const hs_runner_ctx *ctx)
{
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    char **env = calloc(n + t->nenv + 8, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (char **e = environ; *e; e++)
        if (!env_hidden(*e))
            env[k++] = strdup(*e);
    const char *cvd = "";
    if (t->gpus > 0 && ctx->binding && ctx->binding->has_gpu)
        cvd = ctx->binding->visible;
    size_t l = strlen(cvd) + 32;
    env[k] = malloc(l);
    if (env[k])
        snprintf(env[k++], l, "CUDA_VISIBLE_DEVICES=%s", cvd);
    bool user_threads = false;
    for (uint32_t i = 0; i < t->nenv; i++) {
        if (strncmp(t->env[i], "OPENBLAS_NUM_THREADS=", 21) == 0 ||
            strncmp(t->env[i], "OMP_NUM_THREADS=", 16) == 0)
            user_threads = true;
        env[k++] = strdup(t->env[i]);
    }
    if (t->runner == HS_RUNNER_PROBE && !user_threads && !getenv("OPENBLAS_NUM_THREADS")) {
        /* one worker per core: a probe's BLAS must not spread over the node */
        env[k++] = strdup("OPENBLAS_NUM_THREADS=1");
        env[k++] = strdup("OMP_NUM_THREADS=1");
    }
    env[k] = NULL;
    return env;
}

static void free_env(char **env)
{
    for (char **e = env; env && *e; e++)
        free(*e);
    free(env);
}

static int write_task_files(const hs_task *t, hs_error *err)
{
    for (uint32_t i = 0; i < t->nfiles; i++) {
        char *dir = strdup(t->file_paths[i]);
        if (!dir)
            return hs_err(err, "out of memory");
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (hs_mkdir_p(dir, 0755, err) < 0) {
                free(dir);
                return -1;
            }
        }
        free(dir);
        if (hs_write_file_atomic(t->file_paths[i], t->file_texts[i], strlen(t->file_texts[i]),
                                 err) < 0)
            return -1;
    }
    return 0;
}

/* Results from an earlier attempt must not count for this one: remove the matches of the
 * declared patterns that lie inside the run directory. */
static void remove_stale_results(const hs_task *t)
{
    for (uint32_t i = 0; i < t->nresults; i++) {
        glob_t gl;
        if (glob(t->results[i], GLOB_NOSORT, NULL, &gl) != 0)
            continue;
        for (size_t k = 0; k < gl.gl_pathc; k++)
            if (hs_path_inside(gl.gl_pathv[k], t->run_dir))
                unlink(gl.gl_pathv[k]);
        globfree(&gl);
    }
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/result.json", t->run_dir);
    unlink(p);
}

static void rotate_logs(const hs_task *t)
{
    /* the directory of an attempt in progress holds no finished record of it */
    hs_attempt_rotate(t->run_dir, t->attempt - 1);
    if (t->attempt <= 1)
        return;
    const char *names[] = { "stdout", "stderr" };
    for (int i = 0; i < 2; i++) {
        char from[PATH_MAX], to[PATH_MAX];
        snprintf(from, sizeof from, "%s/%s.log", t->run_dir, names[i]);
        snprintf(to, sizeof to, "%s/%s.attempt%d.log", t->run_dir, names[i], t->attempt - 1);
        rename(from, to);
    }
}

static hs_runner *failed_start(hs_runner *r, int status, const char *fc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* hypersweep-supervise: $HYPERSWEEP_SUPERVISOR, else next to the hypersweep binary, else
 * where the build put it. */
static int supervisor_path(const hs_runner_ctx *ctx, char *out, size_t cap)
{
    const char *env = getenv("HYPERSWEEP_SUPERVISOR");
    if (env && env[0]) {
        snprintf(out, cap, "%s", env);
        return access(out, X_OK);
    }
    char exe[PATH_MAX];
    if (ctx->self_exe && ctx->self_exe[0]) {
        snprintf(exe, sizeof exe, "%s", ctx->self_exe);
    } else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
    }
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        snprintf(out, cap, "%s/hypersweep-supervise", exe);
        if (access(out, X_OK) == 0)
            return 0;
    }
#ifdef HS_SUPERVISOR_BUILD_PATH
    snprintf(out, cap, "%s", HS_SUPERVISOR_BUILD_PATH);
    if (access(out, X_OK) == 0)
        return 0;
#endif
    snprintf(out, cap, "%s/hypersweep-supervise", slash ? exe : ".");
    return -1;
}

/* Another attempt holds RUN_DIR/attempt.lock. On this host it is an orphan of a master or worker
 * that died (its supervisor should have killed it; this is the backstop): kill its process
 * group and take the lock. On another host it cannot be killed from here: report it. Returns
 * the lock, or -1 with *why filled. */
static int take_over(hs_runner *r, char *why, size_t cap)
{
    const hs_task *t = &r->task;
    hs_attempt_marker m;
    hs_error e;
    int known = hs_attempt_read_marker(t->run_dir, &m, &e);
    const char *host = r->ctx.host ? r->ctx.host : "";
    if (known == 1 && strcmp(m.host, host) != 0) {
        char stamp[32];
        snprintf(why, cap,
                 "attempt %d of this run is still running on host %s (pid %ld, since %s) and "
                 "holds its run directory; not started. Stop it there, then resume",
                 m.attempt, m.host, m.pid, hs_iso_time(m.started, stamp));
        return -1;
    }
    if (known == 1 && m.pgid > 1) {
        kill(-(pid_t)m.pgid, SIGKILL);
        hs_log_warn("run %s: attempt %d was still running here (process group %ld, an orphan "
                    "of a sweep that died): killed it",
                    t->run_id, m.attempt, m.pgid);
    }
    int fd = hs_attempt_lock_wait(t->run_dir, 10.0, &e);
    if (fd < 0)
        snprintf(why, cap,
                 "another attempt of this run holds %s/attempt.lock%s and did not let go within "
                 "10 s; not started",
                 t->run_dir, known == 1 ? "" : " (it says nothing of where it runs)");
    return fd;
}

/* Start the command under hypersweep-supervise, which leads the run's process group and
 * kills it when this process dies. Returns 0, or an errno (of the command's exec, or of
 * starting the supervisor) with *what saying which. */
static int spawn_supervised(hs_runner *r, char *const *argv, char **env, int out_w, int err_w,
                            const char **what)
{
    const hs_task *t = &r->task;
    char sup[PATH_MAX];
    *what = "supervisor";
    if (supervisor_path(&r->ctx, sup, sizeof sup) < 0)
        return ENOENT;
    int st[2];
    if (pipe2(st, O_CLOEXEC) < 0)
        return errno;
    char parent[32], status_fd[16], lock_fd[16];
    snprintf(parent, sizeof parent, "%ld", (long)getpid());
    snprintf(status_fd, sizeof status_fd, "%d", 3);
    snprintf(lock_fd, sizeof lock_fd, "%d", 4);
    size_t argc = 0;
    while (argv[argc])
        argc++;
    char **sargv = calloc(argc + 10, sizeof *sargv);
    if (!sargv) {
        close(st[0]);
        close(st[1]);
        return ENOMEM;
    }
    size_t k = 0;
    sargv[k++] = sup;
    sargv[k++] = "--parent";
    sargv[k++] = parent;
    sargv[k++] = "--status-fd";
    sargv[k++] = status_fd;
    if (r->lock_fd >= 0) {
        sargv[k++] = "--lock-fd";
        sargv[k++] = lock_fd;
    }
    sargv[k++] = "--";
    for (size_t i = 0; i < argc; i++)
        sargv[k++] = argv[i];
    sargv[k] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    posix_spawn_file_actions_adddup2(&fa, err_w, 2);
    posix_spawn_file_actions_adddup2(&fa, st[1], 3);
    if (r->lock_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, r->lock_fd, 4);
    posix_spawn_file_actions_addchdir_np(&fa, t->workdir);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(&r->pid, sup, &fa, &attr, sargv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(sargv);
    close(st[1]);
    if (rc != 0) {
        close(st[0]);
        r->pid = -1;
        /* only these say the supervisor itself is missing or unusable */
        if (rc != ENOENT && rc != EACCES && rc != ENOEXEC && rc != EPERM)
            *what = "command";
        return rc;
    }
    /* the supervisor answers as soon as the command executes (or failed to) */
    int32_t msg[2] = { 0, 0 };
    size_t got = 0;
    struct pollfd pfd = { .fd = st[0], .events = POLLIN };
    double end = hs_monotonic() + 30;
    while (got < sizeof msg) {
        int left = (int)((end - hs_monotonic()) * 1000);
        if (left <= 0 || poll(&pfd, 1, left) <= 0) {
            if (errno == EINTR && left > 0)
                continue;
            break;
        }
        ssize_t n = read(st[0], (char *)msg + got, sizeof msg - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(st[0]);
    if (got == sizeof msg && msg[0] == 0) {
        r->cmd_pid = msg[1];
        return 0;
    }
    /* the command could not start, or the supervisor died or hung before saying so */
    kill(-r->pid, SIGKILL);
    int ws;
    while (waitpid(r->pid, &ws, 0) < 0 && errno == EINTR) {
    }
    r->pid = -1;
    if (got == sizeof msg) {
        *what = "command";
        return msg[0];
    }
    return EPROTO;
}

static hs_runner *failed_start(hs_runner *r, int status, const char *fc, const char *fmt, ...)
{
    r->done = true;
    r->start_status = status;
    snprintf(r->start_class, sizeof r->start_class, "%s", fc);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->start_message, sizeof r->start_message, fmt, ap);
    va_end(ap);
    if (r->errs.fd >= 0) {
        char line[300];
        int k = snprintf(line, sizeof line, "hypersweep: %s\n", r->start_message);
        sink_add(&r->errs, line, (size_t)k);
    }
    return r;
}

/* ---- start / poll / cancel ----------------------------------------------------------- */

hs_runner *hs_runner_start(const hs_task *task, const hs_runner_ctx *ctx, hs_error *err)
{
    hs_runner *r = calloc(1, sizeof *r);
    if (!r) {
        hs_err(err, "out of memory");
        return NULL;
    }
    copy_task(&r->task, task);
    r->ctx = *ctx;
    r->pid = -1;
    r->out_fd = r->err_fd = r->pid_fd = r->lock_fd = -1;
    r->cmd_pid = -1;
    r->idle_ms = 1;
    r->out.fd = r->errs.fd = -1;
    r->git_dirty = -1;
    r->start_status = -1;
    r->started = hs_now();
    r->t0 = hs_monotonic();
    const hs_task *t = &r->task;
    if (!t->run_dir) {
        free(r);
        hs_err(err, "task %s arrived without a run directory", task->run_id);
        return NULL;
    }
    if (hs_mkdir_p(t->run_dir, 0755, err) < 0) {
        hs_task_clear(&r->task);
        free(r);
        return NULL;
    }
    bool busy = false;
    hs_error lerr;
    r->lock_fd = hs_attempt_lock(t->run_dir, &busy, &lerr);
    if (r->lock_fd < 0 && busy) {
        char why[512];
        r->lock_fd = take_over(r, why, sizeof why);
        if (r->lock_fd < 0) {
            r->foreign = true;
            return failed_start(r, HS_INTERRUPTED, "busy", "%s", why);
        }
    } else if (r->lock_fd < 0) {
        hs_log_warn("run %s: %s; running it without the lock", t->run_id, lerr.text);
    }
    rotate_logs(t);
    remove_stale_results(t);
    char path[PATH_MAX];
    size_t limit = t->log_limit > 0 ? (size_t)t->log_limit : 64u << 20;
    snprintf(path, sizeof path, "%s/stdout.log", t->run_dir);
    sink_init(&r->out, open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), limit);
    snprintf(path, sizeof path, "%s/stderr.log", t->run_dir);
    sink_init(&r->errs, open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), limit);

    struct stat st;
    if (stat(t->workdir, &st) < 0 || !S_ISDIR(st.st_mode))
        return failed_start(r, HS_FAILED, "missing_workdir", "workdir %s does not exist",
                            t->workdir);
    hs_error ferr;
    if (write_task_files(t, &ferr) < 0)
        return failed_start(r, HS_FAILED, "bad_task", "%s", ferr.text);
    git_state(t->workdir, r->git_commit, &r->git_dirty);

    char *probe_argv[6] = { NULL };
    char *const *argv = t->argv;
    if (t->runner == HS_RUNNER_PROBE) {
        probe_argv[0] = (char *)(ctx->self_exe ? ctx->self_exe : "/proc/self/exe");
        probe_argv[1] = "probe";
        probe_argv[2] = t->probe ? t->probe : "";
        probe_argv[3] = "--device";
        probe_argv[4] = t->device ? t->device : "auto";
        argv = probe_argv;
    }
    if (!argv || !argv[0] || !argv[0][0])
        return failed_start(r, HS_FAILED, "bad_task", "the task has no command");

    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) < 0)
        return failed_start(r, HS_FAILED, "spawn", "pipe: %s", strerror(errno));
    if (pipe2(err_pipe, O_CLOEXEC) < 0) {
        close(out_pipe[0]);
        close(out_pipe[1]);
        return failed_start(r, HS_FAILED, "spawn", "pipe: %s", strerror(errno));
    }
    char **env = build_env(t, ctx);
    const char *what = "command";
    int rc = env ? spawn_supervised(r, argv, env, out_pipe[1], err_pipe[1], &what) : ENOMEM;
    free_env(env);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        close(out_pipe[0]);
        close(err_pipe[0]);
        r->pid = -1;
        if (strcmp(what, "supervisor") == 0) {
            char sup[PATH_MAX];
            supervisor_path(ctx, sup, sizeof sup);
            return failed_start(r, HS_FAILED, "spawn",
                                "cannot start %s (%s): it belongs next to the hypersweep "
                                "binary, or set HYPERSWEEP_SUPERVISOR",
                                sup, strerror(rc));
        }
        if (rc == ENOENT)
            return failed_start(r, HS_FAILED, "missing_program",
                                "cannot run %s: no such program "
                                "(not found on PATH, or relative to the workdir)",
                                argv[0]);
        if (rc == EACCES || rc == EPERM)
            return failed_start(r, HS_FAILED, "permission", "cannot run %s: %s", argv[0],
                                strerror(rc));
        if (rc == E2BIG)
            return failed_start(r, HS_FAILED, "bad_task",
                                "cannot run %s: %s (Linux takes at most 128 KiB per argument or "
                                "environment string, and each parameter is both "
                                "HYPERSWEEP_P_<NAME> and part of HYPERSWEEP_PARAMS): pass a "
                                "long value in a file (run.files)",
                                argv[0], strerror(rc));
        return failed_start(r, HS_FAILED, "spawn", "cannot run %s: %s", argv[0], strerror(rc));
    }
    hs_attempt_marker mk = { .attempt = t->attempt, .pid = r->pid, .pgid = r->pid,
                             .started = r->started };
    snprintf(mk.run_id, sizeof mk.run_id, "%s", t->run_id);
    snprintf(mk.host, sizeof mk.host, "%s", ctx->host ? ctx->host : "");
    hs_error merr;
    if (r->lock_fd >= 0 && hs_attempt_mark_running(r->lock_fd, &mk, &merr) < 0)
        hs_log_warn("run %s: %s", t->run_id, merr.text);
    r->out_fd = out_pipe[0];
    r->err_fd = err_pipe[0];
#ifdef SYS_pidfd_open
    /* the child's exit wakes the poll at once, even after it closed its pipes */
    r->pid_fd = (int)syscall(SYS_pidfd_open, r->pid, 0);
#endif
    fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(r->err_fd, F_SETFL, O_NONBLOCK);
    r->deadline = t->timeout > 0 ? r->t0 + t->timeout : INFINITY;
    r->kill_at = INFINITY;
    r->drain_until = INFINITY;
    if (t->gpus > 0 && ctx->binding && ctx->binding->has_gpu) {
        hs_error terr;
        r->tele = hs_gpu_telemetry_start(
            ctx->binding->telemetry_id, ctx->telemetry_interval > 0 ? ctx->telemetry_interval : 0.5,
            &terr);
        if (!r->tele)
            hs_log_debug("run %s: no GPU telemetry: %s", t->run_id, terr.text);
    }
    hs_log_info("run %s attempt %d: started pid %ld (process group %ld) in %s", t->run_id,
                t->attempt, (long)r->cmd_pid, (long)r->pid, t->workdir);
    return r;
}

long hs_runner_pid(const hs_runner *r)
{
    return r->pid;
}

static void signal_group(hs_runner *r, int sig)
{
    if (r->pid > 0)
        kill(-r->pid, sig);
}

/* Wait up to timeout_ms for output or the child's exit, and read what came. Without a
 * pidfd, a child that closed both pipes is looked at again after 1 ms, then less often. */
static void pump(hs_runner *r, int timeout_ms)
{
    struct pollfd p[3];
    int n = 0;
    if (r->out_fd >= 0)
        p[n++] = (struct pollfd){ .fd = r->out_fd, .events = POLLIN };
    if (r->err_fd >= 0)
        p[n++] = (struct pollfd){ .fd = r->err_fd, .events = POLLIN };
    int npipes = n;
    if (r->pid_fd >= 0 && !r->exited)
        p[n++] = (struct pollfd){ .fd = r->pid_fd, .events = POLLIN };
    if (n == 0) {
        if (timeout_ms > 0) {
            int ms = r->idle_ms < timeout_ms ? r->idle_ms : timeout_ms;
            struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
            r->idle_ms = r->idle_ms < 25 ? r->idle_ms * 2 : 50;
        }
        return;
    }
    if (poll(p, (nfds_t)n, timeout_ms) <= 0)
        return;
    char buf[65536];
    for (int i = 0; i < npipes; i++) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        bool is_out = p[i].fd == r->out_fd;
        /* read a bounded amount per call so a flood cannot starve the caller */
        for (int rounds = 0; rounds < 64; rounds++) {
            ssize_t k = read(p[i].fd, buf, sizeof buf);
            if (k > 0) {
                sink_add(is_out ? &r->out : &r->errs, buf, (size_t)k);
                continue;
            }
            if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(p[i].fd);
                if (is_out)
                    r->out_fd = -1;
                else
                    r->err_fd = -1;
            }
            break;
        }
    }
}

int hs_runner_poll(hs_runner *r, double timeout)
{
    if (r->done)
        return 1;
    double end = hs_monotonic() + (timeout > 0 ? timeout : 0);
    do {
        double now = hs_monotonic();
        if (!r->exited) {
            int st;
            pid_t w = wait4(r->pid, &st, WNOHANG, &r->ru);
            if (w == r->pid) {
                r->exited = true;
                r->status = st;
                /* what the run left behind in its group would keep the pipes open */
                signal_group(r, SIGKILL);
                r->drain_until = now + 2.0;
            }
        }
        if (!r->exited) {
            if (now >= r->deadline && !r->term_sent) {
                r->timed_out = true;
                r->term_sent = true;
                signal_group(r, SIGTERM);
                r->kill_at = now + r->task.grace;
                hs_log_info("run %s: timeout after %.0f s, SIGTERM to its process group",
                            r->task.run_id, r->task.timeout);
            }
            if (now >= r->kill_at && !r->kill_sent) {
                r->kill_sent = true;
                signal_group(r, SIGKILL);
            }
        }
        if (r->exited && ((r->out_fd < 0 && r->err_fd < 0) || now >= r->drain_until)) {
            r->done = true;
            return 1;
        }
        double left = end - hs_monotonic();
        int ms = left > 0 ? (int)(left * 1000) : 0;
        if (ms > 50)
            ms = 50; /* look at the child at least every 50 ms */
        if (r->exited && ms < 1)
            ms = 1;
        pump(r, ms);
    } while (hs_monotonic() < end);
    return r->done;
}

void hs_runner_cancel(hs_runner *r, const char *why)
{
    if (r->done || r->cancelled)
        return;
    r->cancelled = true;
    snprintf(r->cancel_why, sizeof r->cancel_why, "%s", why ? why : "cancelled");
    if (!r->exited && !r->term_sent) {
        r->term_sent = true;
        signal_group(r, SIGTERM);
        r->kill_at = hs_monotonic() + r->task.grace;
    }
}

/* ---- finish -------------------------------------------------------------------------- */

const char *hs_classify_failure(int exit_code, const char *tail, int is_probe)
{
    static const struct {
        const char *needle;
        const char *cls;
    } rules[] = {
        { "CUDA out of memory", "oom" },
        { "OutOfMemoryError", "oom" },
        { "CUBLAS_STATUS_ALLOC_FAILED", "oom" },
        { "cudaErrorMemoryAllocation", "oom" },
        { "std::bad_alloc", "oom" },
        { "MemoryError", "oom" },
        { "NCCL error", "nccl" },
        { "ncclSystemError", "nccl" },
        { "ncclInternalError", "nccl" },
        { "ModuleNotFoundError", "import" },
        { "ImportError", "import" },
        { "No module named", "import" },
        { "no CUDA-capable device", "cuda" },
        { "CUDA error", "cuda" },
        { "CUDA driver", "cuda" },
        { "error: unrecognized arguments", "bad_args" },
        { "error: argument", "bad_args" },
        { "error: the following arguments are required", "bad_args" },
        { "Traceback (most recent call last)", "exception" },
    };
    if (is_probe && exit_code == 2)
        return "bad_params";
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strstr(tail, rules[i].needle))
            return rules[i].cls;
    return "nonzero_exit";
}

static void do_cleanup(const hs_task *t)
{
    for (uint32_t i = 0; i < t->ncleanup; i++) {
        glob_t gl;
        if (glob(t->cleanup[i], GLOB_NOSORT, NULL, &gl) != 0)
            continue;
        for (size_t k = 0; k < gl.gl_pathc; k++) {
            const char *p = gl.gl_pathv[k];
            struct stat st;
            if (!hs_path_inside(p, t->run_dir) || lstat(p, &st) < 0)
                continue;
            if (S_ISDIR(st.st_mode))
                nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
            else
                unlink(p);
        }
        globfree(&gl);
    }
    /* files written for the run: a copy stays in RUN_DIR/inputs, the original goes */
    for (uint32_t i = 0; i < t->nfiles; i++) {
        const char *p = t->file_paths[i];
        if (hs_path_inside(p, t->run_dir))
            continue;
        char dir[PATH_MAX], copy[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/inputs", t->run_dir);
        const char *base = strrchr(p, '/');
        snprintf(copy, sizeof copy, "%s/%s", dir, base ? base + 1 : p);
        hs_error e;
        if (hs_mkdir_p(dir, 0755, &e) == 0)
            hs_write_file_atomic(copy, t->file_texts[i], strlen(t->file_texts[i]), &e);
        unlink(p);
    }
}

int hs_runner_finish(hs_runner *r, hs_result *res, hs_error *err)
{
    const hs_task *t = &r->task;
    int rc = 0;
    if (!r->done)
        while (!hs_runner_poll(r, 1.0)) {
        }
    if (r->out_fd >= 0)
        close(r->out_fd);
    if (r->err_fd >= 0)
        close(r->err_fd);
    if (r->pid_fd >= 0)
        close(r->pid_fd);
    hs_gpu_usage usage = { 0 };
    hs_gpu_telemetry_stop(r->tele, &usage);
    double finished = hs_now();

    hs_result_clear(res);
    snprintf(res->run_id, sizeof res->run_id, "%s", t->run_id);
    res->index = t->index;
    res->attempt = t->attempt;
    res->started = r->started;
    res->finished = finished;
    res->wall_s = hs_monotonic() - r->t0;
    snprintf(res->host, sizeof res->host, "%s", r->ctx.host ? r->ctx.host : "");
    res->rank = r->ctx.rank;
    const hs_binding *b = r->ctx.binding;
    if (t->gpus > 0 && b && b->has_gpu) {
        res->gpu = b->slot;
        snprintf(res->gpu_name, sizeof res->gpu_name, "%s", b->name);
        snprintf(res->gpu_uuid, sizeof res->gpu_uuid, "%s", b->uuid);
    }
    snprintf(res->git_commit, sizeof res->git_commit, "%s", r->git_commit);
    res->git_dirty = r->git_dirty;

    if (r->start_status >= 0) {
        res->status = r->start_status;
        snprintf(res->failure_class, sizeof res->failure_class, "%s", r->start_class);
        snprintf(res->message, sizeof res->message, "%s", r->start_message);
    } else {
        res->max_rss_mb = (double)r->ru.ru_maxrss / 1024.0;
        res->cpu_s = (double)r->ru.ru_utime.tv_sec + (double)r->ru.ru_utime.tv_usec * 1e-6 +
                     (double)r->ru.ru_stime.tv_sec + (double)r->ru.ru_stime.tv_usec * 1e-6;
        if (WIFEXITED(r->status)) {
            res->exit_code = WEXITSTATUS(r->status);
        } else if (WIFSIGNALED(r->status)) {
            res->term_signal = WTERMSIG(r->status);
        }
        sink_tail(&r->errs, res->stderr_tail, sizeof res->stderr_tail);
        /* a run that finished on its own (exit 0) just as it was cancelled is complete */
        bool finished_anyway = WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
        if (r->cancelled && !finished_anyway) {
            res->status = HS_INTERRUPTED;
            snprintf(res->failure_class, sizeof res->failure_class, "interrupted");
            snprintf(res->message, sizeof res->message, "%s", r->cancel_why);
        } else if (r->timed_out) {
            res->status = HS_TIMEOUT;
            snprintf(res->failure_class, sizeof res->failure_class, "timeout");
            snprintf(res->message, sizeof res->message,
                     "exceeded its %.0f s timeout; killed (SIGTERM%s)", t->timeout,
                     r->kill_sent ? ", then SIGKILL" : "");
        } else if (WIFSIGNALED(r->status)) {
            int sig = WTERMSIG(r->status);
            res->status = HS_CRASHED;
            snprintf(res->failure_class, sizeof res->failure_class, "%s",
                     sig == SIGKILL ? "killed" : "signal");
            snprintf(res->message, sizeof res->message, "killed by signal %d (SIG%s)%s", sig,
                     sigabbrev_np(sig) ? sigabbrev_np(sig) : "?",
                     sig == SIGKILL ? "; the kernel's OOM killer sends SIGKILL" : "");
        } else if (res->exit_code != 0) {
            res->status = HS_FAILED;
            snprintf(res->failure_class, sizeof res->failure_class, "%s",
                     hs_classify_failure(res->exit_code, res->stderr_tail,
                                         t->runner == HS_RUNNER_PROBE));
            const char *last = res->stderr_tail;
            size_t len = strlen(last);
            while (len > 0 && (last[len - 1] == '\n' || last[len - 1] == ' '))
                len--;
            size_t start = len;
            while (start > 0 && last[start - 1] != '\n')
                start--;
            snprintf(res->message, sizeof res->message, "exit status %d%s%.*s", res->exit_code,
                     len > start ? ": " : "", (int)(len - start), last + start);
        } else {
            rc = hs_ingest_results(t, res, err);
        }
    }
    if (usage.valid) {
        hs_result_set_metric(res, "gpu_mem_peak_mb", usage.mem_peak_mb);
        hs_result_set_metric(res, "gpu_util_mean", usage.util_mean);
        if (!isnan(usage.energy_j))
            hs_result_set_metric(res, "gpu_energy_j", usage.energy_j);
    }
    sink_close(&r->out);
    sink_close(&r->errs);
    if (!r->foreign) {
        do_cleanup(t);
        /* the durable record, before anyone hears of the outcome */
        hs_error aerr;
        if (hs_attempt_write(t->run_dir, res, t->params_json, &aerr) < 0)
            hs_log_warn("run %s: %s", t->run_id, aerr.text);
        hs_attempt_clear_marker(r->lock_fd);
    }
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    hs_log_info("run %s attempt %d: %s%s%s", t->run_id, t->attempt, hs_status_name(res->status),
                res->failure_class[0] ? " " : "", res->failure_class);
    hs_task_clear(&r->task);
    free(r);
    return rc;
}

int hs_runner_run(const hs_task *task, const hs_runner_ctx *ctx, hs_result *res, hs_error *err)
{
    hs_runner *r = hs_runner_start(task, ctx, err);
    if (!r)
        return -1;
    while (!hs_runner_poll(r, 1.0)) {
    }
    return hs_runner_finish(r, res, err);
}
