/* hypersweep-supervise: the first process of every run, and the leader of its process group.
 * It ties the run's whole process group to the process that started it (a worker rank, or
 * the master in local mode): when that process dies, even by SIGKILL, the kernel tells the
 * supervisor (PR_SET_PDEATHSIG), and the supervisor kills the group. Without it, a master
 * killed with SIGKILL leaves its runs going as orphans that keep their GPU memory, and the
 * resumed sweep runs them a second time beside the first.
 *
 *   hypersweep-supervise --parent PID --status-fd N [--lock-fd N] -- PROGRAM [ARG...]
 *
 * It runs PROGRAM (found on the PATH of the environment it was given) in its own process
 * group, with the default signal dispositions and an empty signal mask, and writes to the
 * status descriptor two int32 values: 0 and PROGRAM's pid once PROGRAM is executing, or the
 * errno of the failed exec and 0. It keeps the lock descriptor (the run directory's .lock)
 * open for as long as PROGRAM runs. It ends as PROGRAM ended: the same exit status, or the
 * same signal, so whoever waits for it sees the run's own outcome; its rusage includes
 * PROGRAM's.
 *
 * A signal sent to the whole group (the timeout's SIGTERM, say) reaches PROGRAM directly;
 * the supervisor ignores it and waits for PROGRAM. This binary links nothing but libc: it
 * starts in about a millisecond. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded_ignored[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
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

static void child(char **argv, int exec_err_fd, int status_fd, int lock_fd, pid_t supervisor)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != supervisor)
        _exit(137);
    for (size_t i = 0; i < sizeof forwarded_ignored / sizeof forwarded_ignored[0]; i++)
        signal(forwarded_ignored[i], SIG_DFL);
    signal(SIGRTMIN + 1, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (status_fd >= 0)
        close(status_fd);
    if (lock_fd >= 0)
        close(lock_fd);
    execvp(argv[0], argv);
    int32_t e = errno;
    ssize_t w;
    do
        w = write(exec_err_fd, &e, sizeof e);
    while (w < 0 && errno == EINTR);
    _exit(127);
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

    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        write_status(status_fd, errno, 0);
        return 127;
    }
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        write_status(status_fd, errno, 0);
        return 127;
    }
    if (pid == 0) {
        close(p[0]);
        child(argv + i, p[1], status_fd, lock_fd, self);
    }
    close(p[1]);
    int32_t exec_err = 0;
    ssize_t n;
    do
        n = read(p[0], &exec_err, sizeof exec_err);
    while (n < 0 && errno == EINTR);
    close(p[0]);
    int st = 0;
    if (n == (ssize_t)sizeof exec_err) {
        write_status(status_fd, exec_err, 0);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        return 127;
    }
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
