/* hypersweep-analyze run: one run in full, in the shape of the pipelines' own per-run
 * reports: parameters, metrics by dataset and task, system metrics, environment, and the tail
 * of stderr when it did not succeed. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "result.h"
#include "util.h"

static int find_run(const hs_sweep *s, const char *id, size_t *row, hs_error *err)
{
    size_t l = strlen(id), nmatch = 0;
    if (l == 0)
        return hs_err(err, "an empty run id");
    hs_buf cands = { 0 };
    for (size_t r = 0; r < s->nrows; r++) {
        const char *rid = sw_run_id(s, r);
        if (strncasecmp(rid, id, l) != 0)
            continue;
        if (strlen(rid) == l) { /* a full id wins outright */
            hs_buf_free(&cands);
            *row = r;
            return 0;
        }
        if (nmatch < 8) {
            hs_buf p = { 0 };
            hs_row_params(s, r, NULL, 0, &p);
            hs_buf_printf(&cands, "\n  %s  ", rid);
            hs_put_short(&cands, hs_buf_str(&p), HS_SHORT_CELL_COLS, NULL);
            hs_buf_free(&p);
        }
        nmatch++;
        *row = r;
    }
    if (nmatch == 1) {
        hs_buf_free(&cands);
        return 0;
    }
    if (nmatch > 1) {
        hs_err(err,
               "run id prefix '%s' is ambiguous: %zu runs of sweep %s start with it; give "
               "more digits:%s%s",
               id, nmatch, s->name, hs_buf_str(&cands), nmatch > 8 ? "\n  ..." : "");
        hs_buf_free(&cands);
        return -1;
    }
    hs_buf_free(&cands);
    bool hex = true;
    for (size_t i = 0; i < l; i++)
        hex &= isxdigit((unsigned char)id[i]) != 0;
    return hs_err(
        err, "no run of sweep %s (%zu runs) has an id starting with '%s'%s", s->name, s->nrows, id,
        hex ? "" : " (run ids are 16 hexadecimal digits; 'hypersweep expand GRID' lists them)");
}

/* Metric groups: the prefix before "task/metric". */
typedef struct mgroup {
    char *prefix;
    size_t n;
    long *ms;
} mgroup;

static void split3(const char *name, size_t *plen, const char **task, size_t *tlen,
                   const char **leaf)
{
    hs_metric_task(name, task, tlen, leaf);
    if (*tlen == 0) {
        *plen = 0;
        return;
    }
    size_t p = (size_t)(*task - name);
    *plen = p ? p - 1 : 0;
}

static void metrics_section(const hs_sweep *s, size_t row, hs_dnode *root)
{
    mgroup *gs = NULL;
    size_t ng = 0;
    for (size_t m = 0; m < s->nmetrics; m++) {
        if (isnan(s->mcols[m][row]) || hs_metric_is_system(s->mnames[m]))
            continue;
        size_t plen, tlen;
        const char *task, *leaf;
        split3(s->mnames[m], &plen, &task, &tlen, &leaf);
        /* names without a '/' form a group of their own, keyed by the empty prefix with a
         * NUL-free marker that no metric path can have */
        const char *key = tlen ? s->mnames[m] : "\x01";
        size_t klen = tlen ? plen : 1;
        size_t g;
        for (g = 0; g < ng; g++)
            if (strlen(gs[g].prefix) == klen && strncmp(gs[g].prefix, key, klen) == 0)
                break;
        if (g == ng) {
            mgroup *t = realloc(gs, (ng + 1) * sizeof *gs);
            if (!t)
                break;
            gs = t;
            gs[ng].prefix = strndup(key, klen);
            gs[ng].n = 0;
            gs[ng].ms = malloc(s->nmetrics * sizeof *gs[ng].ms);
            if (!gs[ng].prefix || !gs[ng].ms) {
                free(gs[ng].prefix);
                free(gs[ng].ms);
                break;
            }
            ng++;
        }
        gs[g].ms[gs[g].n++] = (long)m;
    }
    if (ng == 0) {
        hs_dnode *sec = hs_doc_section(root, "metrics", "Metrics by dataset and task");
        hs_doc_note(sec, "This run recorded no metrics.");
        return;
    }
    hs_dnode *lst = hs_doc_list(root, "metrics", "Metrics by dataset and task");
    for (size_t g = 0; g < ng; g++) {
        bool top = strcmp(gs[g].prefix, "\x01") == 0;
        hs_dnode *it = hs_doc_item(lst, top ? "metrics" : gs[g].prefix[0] ? gs[g].prefix : "tasks");
        hs_doc_field(it, "prefix", NULL, dv_text(top ? "" : gs[g].prefix));
        /* the metric columns: the leaves in order of appearance */
        const char *leaves[16];
        size_t nl = 0;
        bool flat = true, wide = true;
        for (size_t i = 0; i < gs[g].n; i++) {
            size_t plen, tlen;
            const char *task, *leaf;
            split3(s->mnames[gs[g].ms[i]], &plen, &task, &tlen, &leaf);
            if (tlen)
                flat = false;
            size_t k;
            for (k = 0; k < nl; k++)
                if (strcmp(leaves[k], leaf) == 0)
                    break;
            if (k == nl) {
                if (nl == 8) {
                    wide = false;
                    continue;
                }
                leaves[nl++] = leaf;
            }
        }
        if (flat) {
            hs_dnode *t = hs_doc_table(it, "table", NULL, 2);
            hs_doc_col(t, 0, "metric", "metric", false, DC_BOTH);
            hs_doc_col(t, 1, "value", "value", true, DC_BOTH);
            for (size_t i = 0; i < gs[g].n; i++) {
                hs_doc_row(t);
                hs_doc_cell(t, 0, dv_text(s->mnames[gs[g].ms[i]]));
                hs_doc_cell(t, 1, dv_num(s->mcols[gs[g].ms[i]][row], NF_METRIC));
            }
            continue;
        }
        /* long form for the data, wide (task x metric) for people when it fits */
        hs_dnode *lt = hs_doc_table(it, "table", NULL, 4);
        hs_doc_col(lt, 0, "task", "dataset or task", false, DC_BOTH);
        hs_doc_col(lt, 1, "metric", "metric", false, DC_BOTH);
        hs_doc_col(lt, 2, "name", "full name", false, DC_DATA_ONLY);
        hs_doc_col(lt, 3, "value", "value", true, DC_BOTH);
        if (wide)
            hs_doc_table_role(lt, DC_DATA_ONLY);
        for (size_t i = 0; i < gs[g].n; i++) {
            size_t plen, tlen;
            const char *task, *leaf;
            const char *nm = s->mnames[gs[g].ms[i]];
            split3(nm, &plen, &task, &tlen, &leaf);
            char *tk = strndup(task, tlen);
            hs_doc_row(lt);
            hs_doc_cell(lt, 0, dv_text(tk ? tk : ""));
            hs_doc_cell(lt, 1, dv_text(leaf));
            hs_doc_cell(lt, 2, dv_text(nm));
            hs_doc_cell(lt, 3, dv_num(s->mcols[gs[g].ms[i]][row], NF_METRIC));
            free(tk);
        }
        if (!wide)
            continue;
        hs_dnode *wt = hs_doc_table(it, "wide", NULL, 1 + nl);
        hs_doc_table_role(wt, DC_TEXT_ONLY);
        hs_doc_col(wt, 0, "task", "dataset or task", false, DC_BOTH);
        for (size_t k = 0; k < nl; k++)
            hs_doc_col(wt, 1 + k, leaves[k], leaves[k], true, DC_BOTH);
        /* one row per task, in order of appearance */
        for (size_t i = 0; i < gs[g].n; i++) {
            size_t plen, tlen;
            const char *task, *leaf;
            split3(s->mnames[gs[g].ms[i]], &plen, &task, &tlen, &leaf);
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++) {
                size_t p2, t2;
                const char *tk2, *lf2;
                split3(s->mnames[gs[g].ms[j]], &p2, &tk2, &t2, &lf2);
                seen = t2 == tlen && strncmp(tk2, task, tlen) == 0;
            }
            if (seen)
                continue;
            char *tk = strndup(task, tlen);
            hs_doc_row(wt);
            hs_doc_cell(wt, 0, dv_text(tk ? tk : ""));
            free(tk);
            for (size_t j = i; j < gs[g].n; j++) {
                size_t p2, t2;
                const char *tk2, *lf2;
                split3(s->mnames[gs[g].ms[j]], &p2, &tk2, &t2, &lf2);
                if (t2 != tlen || strncmp(tk2, task, tlen) != 0)
                    continue;
                for (size_t k = 0; k < nl; k++)
                    if (strcmp(leaves[k], lf2) == 0)
                        hs_doc_cell(wt, 1 + k, dv_num(s->mcols[gs[g].ms[j]][row], NF_METRIC));
            }
        }
    }
    for (size_t g = 0; g < ng; g++) {
        free(gs[g].prefix);
        free(gs[g].ms);
    }
    free(gs);
}

int hs_analyze_run(const hs_sweep *s, const char *id, const hs_analyze_opts *o, FILE *out,
                   hs_error *err)
{
    size_t row = 0;
    if (find_run(s, id, &row, err) < 0)
        return -1;
    hs_avg avg = { 0 };
    bool has_avg = false;
    if (o->avg) {
        if (hs_avg_build(s, o->avg, &avg, err) < 0)
            return -1;
        has_avg = true;
    }
    const hs_store_data *d;
    size_t sr = sw_store_row(s, row, &d);
    const char *rid = sw_run_id(s, row);
    char title[256];
    int st = sw_status(s, row);
    snprintf(title, sizeof title, "Run %s of sweep %s: %s", rid, s->name, hs_status_name(st));
    hs_doc *doc = hs_doc_create(title);
    if (!doc) {
        hs_avg_free(&avg);
        return hs_err(err, "out of memory");
    }
    hs_dnode *root = hs_doc_root(doc);
    hs_doc_field(root, "command", NULL, dv_text("run"));
    hs_dnode *info = hs_doc_section(root, "run", "Run");
    hs_doc_field(info, "run_id", "run id", dv_text(rid));
    hs_doc_field(info, "sweep", "sweep", dv_text(s->name));
    hs_doc_field(info, "status", "status", dv_text(hs_status_name(st)));
    const char *fc = hs_sd_failure_class(d, sr);
    if (fc[0])
        hs_doc_field(info, "failure_class", "failure class", dv_text(fc));
    const char *msg = hs_sd_message(d, sr);
    if (msg[0])
        hs_doc_field(info, "message", "message", dv_text(msg));
    hs_doc_field(info, "attempts", "attempts", dv_int(hs_sd_attempts(d, sr)));
    if (hs_sd_exit_code(d, sr) >= 0 || st != HS_PENDING)
        hs_doc_field(info, "exit_code", "exit code",
                     hs_sd_exit_code(d, sr) >= 0 ? dv_int(hs_sd_exit_code(d, sr))
                                                 : dv_null("it did not exit normally"));
    if (hs_sd_signal(d, sr))
        hs_doc_field(info, "signal", "signal", dv_int(hs_sd_signal(d, sr)));
    int64_t idx = sw_index(s, row);
    hs_doc_field(info, "index", "grid index",
                 idx >= 0 ? dv_int((long long)idx) : dv_null("not in the current grid"));
    hs_doc_field(info, "started", "started",
                 dv_num_why(hs_sd_started(d, sr), NF_EPOCH, "not started"));
    hs_doc_field(info, "finished", "finished",
                 dv_num_why(hs_sd_finished(d, sr), NF_EPOCH, "not finished"));
    hs_doc_field(info, "store", "store", dv_text(hs_sd_path(d)));

    hs_dnode *ps = hs_doc_section(root, "params", "Parameters");
    size_t np = 0;
    for (size_t k = 0; k < s->nparams; k++) {
        hs_value v;
        if (sw_param(s, k, row, &v)) {
            hs_doc_field(ps, s->pnames[k], s->pnames[k], dv_value(&v));
            np++;
        }
    }
    if (!np)
        hs_doc_note(ps, "No parameters.");

    metrics_section(s, row, root);
    if (has_avg) {
        hs_dnode *as = hs_doc_section(root, "average", "Average (--avg)");
        hs_doc_field(as, "avg", "avg",
                     dv_num_why(avg.values[row], NF_METRIC, "some averaged task is missing"));
        hs_dnode *t = hs_doc_table(as, "components", NULL, 3);
        hs_doc_col(t, 0, "task", "task", false, DC_BOTH);
        hs_doc_col(t, 1, "metric", "metric used", false, DC_BOTH);
        hs_doc_col(t, 2, "value", "value", true, DC_BOTH);
        for (size_t i = 0; i < avg.ntasks; i++) {
            hs_doc_row(t);
            hs_doc_cell(t, 0, dv_text(avg.tasks[i]));
            hs_doc_cell(t, 1, dv_text(s->mnames[avg.metric[i]]));
            hs_doc_cell(t, 2, dv_num_why(s->mcols[avg.metric[i]][row], NF_METRIC, "not recorded"));
        }
        hs_doc_note(as, "Only these top-level tasks are averaged, never their subtasks.");
    }

    hs_dnode *sys = hs_doc_section(root, "system", "System metrics");
    hs_doc_field(sys, "wall_s", "wall time (s)",
                 dv_num_why(hs_sd_wall_s(d, sr), NF_SEC, "not recorded"));
    hs_doc_field(sys, "cpu_s", "CPU time (s)",
                 dv_num_why(hs_sd_cpu_s(d, sr), NF_SEC, "not recorded"));
    hs_doc_field(sys, "max_rss_mb", "max RSS (MB)",
                 dv_num_why(hs_sd_max_rss_mb(d, sr), NF_MB, "not recorded"));
    static const char *const gm[] = { "gpu_mem_peak_mb", "gpu_util_mean", "gpu_energy_j" };
    static const char *const gt[] = { "GPU memory peak (MB)", "GPU utilisation (mean, %)",
                                      "GPU energy (J)" };
    for (size_t i = 0; i < 3; i++) {
        long m = sw_metric_find(s, gm[i]);
        double v = m >= 0 ? s->mcols[m][row] : NAN;
        hs_doc_field(
            sys, gm[i], gt[i],
            dv_num_why(v, i == 0 ? NF_MB : NF_METRIC, "not recorded (no GPU, or no NVML)"));
    }

    hs_dnode *env = hs_doc_section(root, "environment", "Environment");
    hs_doc_field(env, "host", "host", dv_text(hs_sd_host(d, sr)));
    hs_doc_field(env, "rank", "MPI rank", dv_int(hs_sd_rank(d, sr)));
    int gpu = hs_sd_gpu(d, sr);
    hs_doc_field(env, "gpu", "GPU slot", gpu >= 0 ? dv_int(gpu) : dv_null("no GPU"));
    const char *gn = hs_sd_gpu_name(d, sr);
    if (gn[0])
        hs_doc_field(env, "gpu_name", "GPU", dv_text(gn));
    const char *gu = hs_sd_gpu_uuid(d, sr);
    if (gu[0])
        hs_doc_field(env, "gpu_uuid", "GPU UUID", dv_text(gu));
    const char *gc = hs_sd_git_commit(d, sr);
    hs_doc_field(env, "git_commit", "git commit",
                 gc[0] ? dv_text(gc) : dv_null("not a git checkout"));
    int dirty = hs_sd_git_dirty(d, sr);
    hs_doc_field(env, "git_dirty", "uncommitted changes",
                 dirty < 0 ? dv_null("unknown") : dv_bool(dirty == 1));
    if (dirty == 1)
        hs_doc_note(env, "The workdir had uncommitted changes: the commit alone does not "
                         "reproduce this run.");
    hs_doc_field(env, "hypersweep_version", "hypersweep",
                 dv_text(hs_sd_attr(d, "hypersweep_version")));
    hs_doc_field(env, "warnings", "warnings reported", dv_int(hs_sd_warnings(d, sr)));

    if (st != HS_OK && st != HS_PENDING && st != HS_RUNNING) {
        char tail[HS_TAIL_BYTES + 1];
        hs_error terr;
        if (hs_sd_stderr_tail(d, sr, tail, sizeof tail, &terr) < 0)
            hs_doc_pre(root, "stderr_tail", "Tail of stderr", terr.text);
        else if (tail[0])
            hs_doc_pre(root, "stderr_tail", "Tail of stderr", tail);
        else
            hs_doc_field(root, "stderr_tail", "Tail of stderr", dv_null("stderr was empty"));
    }
    int rc = hs_doc_write(doc, out, o->format, err);
    hs_doc_destroy(doc);
    hs_avg_free(&avg);
    return rc;
}
