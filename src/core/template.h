/* Placeholders in argv, results, env, workdir, files and cleanup templates.
 *   {name}       a parameter or a built-in (run_id, run_dir, run_index, sweep, gpu)
 *   {name?}      the same, but if the run lacks the parameter the whole element is dropped
 *   {json:a,b}   a JSON object of those parameters the run has (keys sorted);
 *                {json:key_bits=k_bits} puts parameter k_bits under the key key_bits
 *   {{  }}       literal braces
 * Substitution never goes through a shell: a value is inserted as bytes. */
#ifndef HS_TEMPLATE_H
#define HS_TEMPLATE_H

#include <stdbool.h>

#include "buf.h"
#include "error.h"
#include "grid.h"

typedef struct hs_tmpl_vars {
    const hs_run *run;
    const char *run_dir;
    const char *sweep;
    const char *gpu; /* "" when the run has no GPU */
} hs_tmpl_vars;

enum {
    HS_TMPL_GLOB = 1, /* escape * ? [ \ in substituted values (the template is a glob) */
};

enum hs_tmpl_kind { HS_TMPL_PLAIN = 0, HS_TMPL_OPTIONAL, HS_TMPL_JSON };

/* Called for each name a template refers to. Return -1 (with err set) to stop. */
typedef int (*hs_tmpl_visit_fn)(const char *name, enum hs_tmpl_kind kind, void *arg, hs_error *err);

/* Check the syntax and visit every placeholder name. */
int hs_tmpl_scan(const char *tmpl, hs_tmpl_visit_fn fn, void *arg, hs_error *err);

/* Render into out (appended). *dropped is set when a {name?} was absent: the caller
 * then leaves the element out. */
int hs_tmpl_render(const char *tmpl, const hs_tmpl_vars *vars, int flags, hs_buf *out,
                   bool *dropped, hs_error *err);

#endif
