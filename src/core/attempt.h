/* The run directory's own records: what makes RUN_DIR the durable raw record of a run.
 *
 *   RUN_DIR/attempt.json     the outcome of the run's latest finished attempt: every field of
 *                            hs_result (status, failure class, message, exit code, timings,
 *                            host, GPU, git state, warnings, stderr tail, metrics). The runner
 *                            writes it (atomically) before anyone hears of the outcome, so a
 *                            master that dies before committing it can recover it on resume,
 *                            and `hypersweep rebuild` can recreate a lost store from these.
 *   RUN_DIR/attempt.N.json   the record of attempt N once attempt N+1 starts.
 *   RUN_DIR/attempt.lock     held (flock) by an attempt for as long as it runs, so that two
 *                            attempts never write one run directory at the same time; while
 *                            held it says which attempt (run id, attempt, host, the pid of
 *                            its supervisor, which leads the run's process group, and start
 *                            time, as JSON), and it is empty otherwise. One file for both: a
 *                            new file per run costs more than the run on some file systems.
 *   SWEEP_DIR/sweep.json     which sweep the directory belongs to ({"sweep": NAME, ...}).
 *
 * Numbers are written so that they read back bit for bit (shortest round-trip digits; NaN
 * and Infinity as Python writes them), and strings byte for byte. */
#ifndef HS_ATTEMPT_H
#define HS_ATTEMPT_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "result.h"

/* Write RUN_DIR/attempt.json for res (params_json: the run's parameters as a JSON object,
 * or NULL). Atomic: a reader sees the old record or the new one, never half of one. */
int hs_attempt_write(const char *run_dir, const hs_result *res, const char *params_json,
                     hs_error *err);

/* Read RUN_DIR/attempt.json into res (initialised by the caller; cleared first). Returns 1
 * when a complete record was read, 0 when there is none, -1 when it is unreadable or
 * incomplete (err names the file and what is wrong). */
int hs_attempt_read(const char *run_dir, hs_result *res, hs_error *err);

/* RUN_DIR/attempt.json -> RUN_DIR/attempt.N.json (N = the attempt it records), so that the
 * directory of an attempt in progress holds no finished record of it. */
void hs_attempt_rotate(const char *run_dir, int previous_attempt);

/* An attempt in progress. */
typedef struct hs_attempt_marker {
    char run_id[HS_RUN_ID_LEN + 1];
    int attempt;
    char host[64];
    long pid;  /* the supervisor: leader of the run's process group */
    long pgid; /* the run's process group */
    double started;
} hs_attempt_marker;

/* Write the marker into the held lock (from hs_attempt_lock). */
int hs_attempt_mark_running(int lock_fd, const hs_attempt_marker *m, hs_error *err);
/* 1 and *m filled when RUN_DIR/attempt.lock holds a marker, 0 when it is absent or empty, -1
 * when it cannot be read. */
int hs_attempt_read_marker(const char *run_dir, hs_attempt_marker *m, hs_error *err);
/* Empty the held lock's marker, before letting go of it. */
void hs_attempt_clear_marker(int lock_fd);

/* Take RUN_DIR/attempt.lock without waiting. Returns the locked descriptor (O_CLOEXEC), -1 with
 * *busy set when another attempt holds it, -1 with err filled on any other error. */
int hs_attempt_lock(const char *run_dir, bool *busy, hs_error *err);
/* Wait at most `timeout` seconds for the lock (after its holder was killed). */
int hs_attempt_lock_wait(const char *run_dir, double timeout, hs_error *err);

/* SWEEP_DIR/sweep.json: record that the directory belongs to `sweep` (once; an existing
 * record of the same sweep is kept). Refuses, with an error naming both, a directory that
 * belongs to another sweep. */
int hs_sweep_dir_claim(const char *sweep_dir, const char *sweep, hs_error *err);
/* The sweep named by SWEEP_DIR/sweep.json into out: 1, 0 when there is none, -1 on error. */
int hs_sweep_dir_owner(const char *sweep_dir, char *out, size_t cap, hs_error *err);

#endif
