#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int log_level = HS_LOG_WARN;
static int log_rank = -1;

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void hs_log_init(int rank)
{
    log_rank = rank;
    const char *env = getenv("HYPERSWEEP_LOG");
    if (!env)
        return;
    for (int i = 0; i <= HS_LOG_DEBUG; i++)
        if (strcasecmp(env, level_names[i]) == 0)
            log_level = i;
}

void hs_log_set_level(int level)
{
    log_level = level;
}

int hs_log_enabled(int level)
{
    return level <= log_level;
}

void hs_log_msg(int level, const char *file, int line, const char *fmt, ...)
{
    if (level > log_level)
        return;
    struct timespec ts;
    struct tm tm;
    char stamp[32], msg[2048], rank[16] = "";
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    if (log_rank >= 0)
        snprintf(rank, sizeof rank, " r%d", log_rank);
    const char *base = strrchr(file, '/');
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One fprintf per line keeps lines from different ranks whole. */
    fprintf(stderr, "%s.%03ld%s %s %s:%d: %s\n", stamp, ts.tv_nsec / 1000000, rank,
            level_names[level], base ? base + 1 : file, line, msg);
}
