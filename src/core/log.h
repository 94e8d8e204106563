/* Logging to stderr with level, rank, time and file:line. The level comes from
 * HYPERSWEEP_LOG (error, warn, info, debug); default warn. User-facing output (tables,
 * progress) does not go through here. */
#ifndef HS_LOG_H
#define HS_LOG_H

enum hs_log_level { HS_LOG_ERROR = 0, HS_LOG_WARN, HS_LOG_INFO, HS_LOG_DEBUG };

/* rank < 0 means "not an MPI program". Reads HYPERSWEEP_LOG. */
void hs_log_init(int rank);
void hs_log_set_level(int level);
int hs_log_enabled(int level);
void hs_log_msg(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define hs_log_error(...) hs_log_msg(HS_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define hs_log_warn(...)  hs_log_msg(HS_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define hs_log_info(...)  hs_log_msg(HS_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define hs_log_debug(...) hs_log_msg(HS_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

#endif
