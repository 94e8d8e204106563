/* hypersweep-supervise: the first process of every run, and the leader of its process group.
 * It ties the run's whole process group to the process that started it (a worker rank, or
 * the master in local mode): when that process dies, even by SIGKILL, the kernel tells the
 * supervisor (PR_SET_PDEATHSIG), and the supervisor kills the group. Without it, a master
 * killed with SIGKILL leaves its runs going as orphans that keep their GPU memory, and the
 * resumed sweep runs them a second time beside the first.
 *
 *   hypersweep-supervise --parent PID --status-fd N [--lock-fd N] -- PROGRAM [ARG...]
 *
 * It runs PROGRAM (found on the PATH of the environment it was given) in its process group,
 * with the default signal dispositions and an empty signal mask, and writes to the
 * status descriptor two int32 values: 0 and PROGRAM's pid once PROGRAM is executing, or the
 * errno of the failed exec and 0. It keeps the lock descriptor (the run directory's .lock)
 * open for as long as PROGRAM runs. It ends as PROGRAM ended: the same exit status, or the
 * same signal, so whoever waits for it sees the run's own outcome; its rusage includes
 * PROGRAM's.
 *
 * A signal sent to the whole group (the timeout's SIGTERM, say) reaches PROGRAM directly;
 * the supervisor ignores it and waits for PROGRAM. Only a SIGKILL aimed at the supervisor
 * alone would leave PROGRAM running: nothing of hypersweep's sends one. This binary links
 * nothing but libc, statically, and starts PROGRAM with posix_spawn: every run pays for it,
 * and fork or a dynamic loader cost milliseconds each on some machines. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded_ignored[] = { SIGTERM, SIGINT,  SIGHUP,  SIGQUIT, SIGUSR1, SIGUSR2,
                                         SIGPIPE, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU };

static void on_parent_death(int sig)
{
    (void)sig;
    /* the whole group, this process included */
    kill(0, SIGKILL);
    _exit(137);
}

static void on_ignored(int sig)
{
    (void)sig;
}

static int usage(void)
{
    fputs("usage: hypersweep-supervise --parent PID --status-fd N [--lock-fd N] -- PROGRAM "
          "[ARG...]\n"
          "The first process of every hypersweep run: it runs PROGRAM in its process group "
          "and kills\nthe group when the process that started it dies. hypersweep starts it; "
          "people do not.\n",
          stderr);
    return 2;
}

static void write_status(int fd, int32_t err, int32_t pid)
{
    int32_t msg[2] = { err, pid };
    if (fd < 0)
        return;
    ssize_t w;
    do
        w = write(fd, msg, sizeof msg);
    while (w < 0 && errno == EINTR);
    close(fd);
}

/* End the way the program ended. */
static void mirror(int st)
{
    if (WIFEXITED(st))
        _exit(WEXITSTATUS(st));
    int sig = WIFSIGNALED(st) ? WTERMSIG(st) : SIGKILL;
    struct rlimit no_core = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no_core); /* the program's own crash is what counts */
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig); /* a signal whose default is to be ignored */
}

int main(int argc, char **argv)
{
    long parent = -1;
    int status_fd = -1, lock_fd = -1, i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        }
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--parent") == 0)
            parent = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--status-fd") == 0)
            status_fd = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--lock-fd") == 0)
            lock_fd = (int)strtol(argv[++i], NULL, 10);
        else
            return usage();
    }
    if (parent <= 0 || i >= argc)
        return usage();
    if (status_fd >= 0)
        fcntl(status_fd, F_SETFD, FD_CLOEXEC);
    if (lock_fd >= 0)
        fcntl(lock_fd, F_SETFD, FD_CLOEXEC);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_ignored;
    for (size_t k = 0; k < sizeof forwarded_ignored / sizeof forwarded_ignored[0]; k++)
        sigaction(forwarded_ignored[k], &sa, NULL);
    sa.sa_handler = on_parent_death;
    sigaction(SIGRTMIN + 1, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIGRTMIN + 1);
    if (getppid() != (pid_t)parent) /* it died before the line above */
        on_parent_death(0);

    /* posix_spawn (a vfork underneath) is several times cheaper than fork here, and every
     * run pays it; the program gets the default dispositions and an empty mask */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    extern char **environ;
    int rc = posix_spawnp(&pid, argv[i], NULL, &attr, argv + i, environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        write_status(status_fd, rc, 0);
        return 127;
    }
    int st = 0;
    write_status(status_fd, 0, (int32_t)pid);
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            st = 0;
            break;
        }
    }
    mirror(st);
    return 0;
}
