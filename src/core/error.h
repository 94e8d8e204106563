/* Errors: every library function returns 0 / -1 (or NULL) and fills an hs_error whose text
 * names the file, line or run concerned. Only main() turns errors into exit codes. */
#ifndef HS_ERROR_H
#define HS_ERROR_H

#include <stddef.h>

typedef struct hs_error {
    char text[1024];
} hs_error;

/* Exit codes of every hypersweep binary (DESIGN §10). */
enum {
    HS_EXIT_OK = 0,          /* all runs ok */
    HS_EXIT_RUNS_FAILED = 1, /* the sweep completed, some runs failed */
    HS_EXIT_USAGE = 2,       /* bad usage, bad grid or config */
    HS_EXIT_STORE = 3,       /* store error */
    HS_EXIT_INTERRUPTED = 4, /* stopped by a signal or the time limit; resumable */
};

/* Fill err (may be NULL) printf-style. Always returns -1, so `return hs_err(...)` works. */
int hs_err(hs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepend context: "ctx: previous text". Returns -1. */
int hs_err_prefix(hs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fill err with "what: strerror(errno)" using the current errno. Returns -1. */
int hs_err_errno(hs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
