/* Private to src/gpu: the probe table and helpers shared by the probes. */
#ifndef HS_GPU_PROBES_H
#define HS_GPU_PROBES_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"

/* A probe entry point: use_cuda is decided by hs_probe_run from the device argument.
 * A probe reads all its parameters first and calls hs_params_check_unused() before it
 * computes anything, so a typo fails at once. It adds numbers to `result`; it may set
 * "device_name" and append to "warnings". */
typedef int (*hs_probe_fn)(json_object *params, bool use_cuda, json_object *result, hs_error *err);

typedef struct hs_probe_entry {
    const char *name;
    const char *summary;
    hs_probe_fn run;
} hs_probe_entry;

/* Strict parameter reading. Each getter marks the key as used; hs_params_check_unused()
 * then rejects any key not read (except names starting with '_'). Getters return 0, or -1
 * with err naming the parameter, its value and the allowed range. */
typedef struct hs_params {
    json_object *obj;
    const char *used[128];
    int nused;
} hs_params;

void hs_params_init(hs_params *p, json_object *obj);
int hs_params_int(hs_params *p, const char *key, long long def, long long lo, long long hi,
                  long long *out, hs_error *err);
int hs_params_double(hs_params *p, const char *key, double def, double lo, double hi, double *out,
                     hs_error *err);
int hs_params_bool(hs_params *p, const char *key, bool def, bool *out, hs_error *err);
/* choices: NULL-terminated list of allowed strings, or NULL for any string. */
int hs_params_string(hs_params *p, const char *key, const char *def, const char *const *choices,
                     const char **out, hs_error *err);
int hs_params_check_unused(const hs_params *p, const char *probe, hs_error *err);

/* Reject the run's parameters with a message (printf-style), for checks that the getters
 * cannot make (one parameter against another). Like every getter's failure, this makes
 * hs_probe_run fail with errno = EINVAL. Returns -1. */
int hs_params_invalid(hs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether a parameter was rejected on this thread since the last call; clears the flag. */
bool hs_params_take_invalid(void);

#endif
