#include "task.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "util.h"

int hs_run_dir(const char *sweep_dir, const char *run_id, hs_buf *out)
{
    return hs_buf_printf(out, "%s/runs/%s", sweep_dir, run_id);
}

/* n strings and a NULL terminator (argv must end with one). */
static char **str_array(size_t n)
{
    return calloc(n + 1, sizeof(char *));
}

static void free_array(char **a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    free(a);
}

void hs_task_clear(hs_task *t)
{
    free(t->probe);
    free(t->device);
    free_array(t->argv, t->argc);
    free_array(t->env, t->nenv);
    free(t->workdir);
    free(t->run_dir);
    free_array(t->results, t->nresults);
    free_array(t->cleanup, t->ncleanup);
    free_array(t->file_paths, t->nfiles);
    free_array(t->file_texts, t->nfiles);
    free_array(t->rename_to, t->nrenames);
    free_array(t->rename_from, t->nrenames);
    free_array(t->required, t->nrequired);
    free(t->params_json);
    memset(t, 0, sizeof *t);
}

/* Render tmpl; *out is NULL (and 0 returned) when a {name?} dropped it. */
static int render(const char *tmpl, const hs_tmpl_vars *vars, int flags, char **out, hs_error *err)
{
    hs_buf b = { 0 };
    bool dropped = false;
    *out = NULL;
    if (hs_tmpl_render(tmpl, vars, flags, &b, &dropped, err) < 0) {
        hs_buf_free(&b);
        return -1;
    }
    if (dropped) {
        hs_buf_free(&b);
        return 0;
    }
    *out = hs_buf_steal(&b);
    return *out ? 0 : hs_err(err, "out of memory");
}

static int push_env(hs_task *t, size_t cap, const char *name, const char *value, hs_error *err)
{
    if (t->nenv >= cap)
        return hs_err(err, "too many environment variables");
    size_t n = strlen(name) + strlen(value) + 2;
    char *e = malloc(n);
    if (!e)
        return hs_err(err, "out of memory");
    snprintf(e, n, "%s=%s", name, value);
    t->env[t->nenv++] = e;
    return 0;
}

int hs_task_render(const hs_grid *g, const hs_run *run, const char *sweep_dir, const char *gpu,
                   int attempt, hs_task *t, hs_error *err)
{
    const hs_run_spec *sp = hs_grid_spec(g);
    hs_buf b = { 0 };
    memset(t, 0, sizeof *t);
    memcpy(t->run_id, run->id, sizeof t->run_id);
    t->index = run->index;
    t->attempt = attempt;
    t->runner = sp->runner;
    t->timeout = sp->timeout;
    t->grace = sp->grace;
    t->log_limit = sp->log_limit;
    t->max_result_size = sp->max_result_size;
    t->gpus = sp->gpus;
    t->keep_all = sp->keep_all;
    t->on_warnings = sp->on_warnings;
    if (hs_run_dir(sweep_dir, run->id, &b) < 0)
        goto oom;
    t->run_dir = hs_buf_steal(&b);
    hs_tmpl_vars vars = {
        .run = run, .run_dir = t->run_dir, .sweep = hs_grid_name(g), .gpu = gpu ? gpu : ""
    };
    if (sp->probe && !(t->probe = strdup(sp->probe)))
        goto oom;
    if (!(t->device = strdup(sp->device ? sp->device : "auto")))
        goto oom;

    if (sp->shell) {
        t->argv = str_array(3);
        if (!t->argv)
            goto oom;
        t->argc = 3;
        if (!(t->argv[0] = strdup("/bin/sh")) || !(t->argv[1] = strdup("-c")) ||
            !(t->argv[2] = strdup(sp->shell)))
            goto oom;
    } else if (sp->argv) {
        if (!(t->argv = str_array(sp->argc)))
            goto oom;
        for (size_t i = 0; i < sp->argc; i++) {
            char *s;
            if (render(sp->argv[i], &vars, 0, &s, err) < 0)
                goto fail;
            if (s)
                t->argv[t->argc++] = s;
        }
    }

    if (sp->workdir) {
        char *w;
        if (render(sp->workdir, &vars, 0, &w, err) < 0)
            goto fail;
        t->workdir = w ? hs_path_absolute(w) : NULL;
        free(w);
    }
    if (!t->workdir && !(t->workdir = strdup(t->run_dir)))
        goto oom;

    if (!(t->results = str_array(sp->nresults + 1)))
        goto oom;
    if (sp->runner == HS_RUNNER_PROBE) {
        /* a probe writes RUN_DIR/result.json: declare it, so that no file is a failure */
        for (const char *c = t->run_dir; *c; c++) {
            if (strchr("*?[]\\", *c))
                hs_buf_putc(&b, '\\');
            hs_buf_putc(&b, *c);
        }
        hs_buf_puts(&b, "/result.json");
        t->results[t->nresults++] = hs_buf_steal(&b);
    }
    for (size_t i = 0; i < sp->nresults; i++) {
        char *s;
        if (render(sp->results[i], &vars, HS_TMPL_GLOB, &s, err) < 0)
            goto fail;
        if (!s)
            continue;
        char *abs = hs_path_join(t->workdir, s);
        free(s);
        if (!abs)
            goto oom;
        t->results[t->nresults++] = abs;
    }
    if (!(t->cleanup = str_array(sp->ncleanup)))
        goto oom;
    for (size_t i = 0; i < sp->ncleanup; i++) {
        char *s;
        if (render(sp->cleanup[i], &vars, HS_TMPL_GLOB, &s, err) < 0)
            goto fail;
        if (!s)
            continue;
        char *abs = hs_path_join(t->run_dir, s);
        free(s);
        if (!abs)
            goto oom;
        if (!hs_path_inside(abs, t->run_dir)) {
            hs_err(err, "cleanup pattern %s lies outside the run directory %s", abs, t->run_dir);
            free(abs);
            goto fail;
        }
        t->cleanup[t->ncleanup++] = abs;
    }
    if (!(t->file_paths = str_array(sp->nfiles)) || !(t->file_texts = str_array(sp->nfiles)))
        goto oom;
    for (size_t i = 0; i < sp->nfiles; i++) {
        char *p, *x;
        if (render(sp->files[i].path, &vars, 0, &p, err) < 0)
            goto fail;
        if (render(sp->files[i].text, &vars, 0, &x, err) < 0) {
            free(p);
            goto fail;
        }
        if (!p || !x) {
            free(p);
            free(x);
            continue;
        }
        char *abs = hs_path_join(t->workdir, p);
        free(p);
        if (!abs) {
            free(x);
            goto oom;
        }
        if (!hs_path_inside(abs, t->run_dir) && !hs_path_inside(abs, t->workdir)) {
            hs_err(err, "file %s lies outside the run directory and the workdir", abs);
            free(abs);
            free(x);
            goto fail;
        }
        t->file_paths[t->nfiles] = abs;
        t->file_texts[t->nfiles++] = x;
    }

    /* environment: hypersweep's variables, one per parameter, then run.env */
    size_t cap = 8 + run->nparams + sp->nenv;
    if (!(t->env = str_array(cap)))
        goto oom;
    if (hs_run_params_json(run, &b) < 0)
        goto oom;
    t->params_json = hs_buf_steal(&b);
    char idx[32];
    snprintf(idx, sizeof idx, "%zu", run->index);
    if (hs_buf_printf(&b, "%s/result.json", t->run_dir) < 0)
        goto oom;
    if (push_env(t, cap, "HYPERSWEEP_RUN_ID", run->id, err) < 0 ||
        push_env(t, cap, "HYPERSWEEP_RUN_DIR", t->run_dir, err) < 0 ||
        push_env(t, cap, "HYPERSWEEP_RUN_INDEX", idx, err) < 0 ||
        push_env(t, cap, "HYPERSWEEP_RESULT", hs_buf_str(&b), err) < 0 ||
        push_env(t, cap, "HYPERSWEEP_SWEEP", hs_grid_name(g), err) < 0 ||
        push_env(t, cap, "HYPERSWEEP_PARAMS", t->params_json, err) < 0)
        goto fail;
    hs_buf_reset(&b);
    for (size_t i = 0; i < run->nparams; i++) {
        hs_buf name = { 0 };
        hs_buf_puts(&name, "HYPERSWEEP_P_");
        for (const char *c = run->params[i].name; *c; c++)
            hs_buf_putc(&name, (char)toupper((unsigned char)*c));
        hs_buf_reset(&b);
        hs_value_put_text(&b, &run->params[i].value);
        int rc = push_env(t, cap, hs_buf_str(&name), hs_buf_str(&b), err);
        hs_buf_free(&name);
        if (rc < 0)
            goto fail;
    }
    for (size_t i = 0; i < sp->nenv; i++) {
        char *v;
        if (render(sp->env[i].value, &vars, 0, &v, err) < 0)
            goto fail;
        if (!v)
            continue;
        int rc = push_env(t, cap, sp->env[i].name, v, err);
        free(v);
        if (rc < 0)
            goto fail;
    }

    if (!(t->rename_to = str_array(sp->nrenames)) || !(t->rename_from = str_array(sp->nrenames)))
        goto oom;
    for (size_t i = 0; i < sp->nrenames; i++) {
        if (!(t->rename_to[i] = strdup(sp->renames[i].name)) ||
            !(t->rename_from[i] = strdup(sp->renames[i].from)))
            goto oom;
        t->nrenames++;
    }
    if (!(t->required = str_array(sp->nrequired)))
        goto oom;
    for (size_t i = 0; i < sp->nrequired; i++) {
        if (!(t->required[i] = strdup(sp->required[i])))
            goto oom;
        t->nrequired++;
    }
    hs_buf_free(&b);
    return 0;
oom:
    hs_err(err, "out of memory rendering run %s", run->id);
fail:
    hs_buf_free(&b);
    hs_task_clear(t);
    return -1;
}

int hs_task_command_line(const hs_task *t, hs_buf *out)
{
    if (t->runner == HS_RUNNER_PROBE)
        return hs_buf_printf(out, "hypersweep probe %s --device %s", t->probe ? t->probe : "?",
                             t->device ? t->device : "auto");
    for (uint32_t i = 0; i < t->argc; i++) {
        if (i && hs_buf_putc(out, ' ') < 0)
            return -1;
        if (hs_buf_put_shell_word(out, t->argv[i]) < 0)
            return -1;
    }
    return 0;
}
