#include "template.h"

#include <stdlib.h>
#include <string.h>

/* Parses one placeholder starting after '{'. On success *end points past '}'. */
static int parse_placeholder(const char *p, const char **end, char *name, size_t namecap,
                             enum hs_tmpl_kind *kind, hs_error *err)
{
    const char *close = strchr(p, '}');
    if (!close)
        return hs_err(err, "unclosed '{' (write '{{' for a literal brace)");
    size_t len = (size_t)(close - p);
    *kind = HS_TMPL_PLAIN;
    if (len > 5 && strncmp(p, "json:", 5) == 0) {
        *kind = HS_TMPL_JSON;
        p += 5;
        len -= 5;
    } else if (len > 0 && p[len - 1] == '?') {
        *kind = HS_TMPL_OPTIONAL;
        len--;
    }
    if (len == 0)
        return hs_err(err, "empty placeholder '{}'");
    if (len >= namecap)
        return hs_err(err, "placeholder too long");
    memcpy(name, p, len);
    name[len] = '\0';
    *end = close + 1;
    return 0;
}

static int valid_name(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* Splits a {json:a,b,key=c} list in place and visits each (key, parameter) pair. */
static int each_json_name(char *list, int (*fn)(const char *, const char *, void *, hs_error *),
                          void *arg, hs_error *err)
{
    char *save = NULL;
    int any = 0;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t l = strlen(tok);
        while (l && tok[l - 1] == ' ')
            tok[--l] = '\0';
        char *key = tok, *param = tok;
        char *eq = strchr(tok, '=');
        if (eq) {
            *eq = '\0';
            param = eq + 1;
            if (!*key)
                return hs_err(err, "empty key before '=' in a {json:...} list");
        }
        if (!valid_name(param))
            return hs_err(err, "'%s' in a {json:...} list is not a parameter name", param);
        if (fn(key, param, arg, err) < 0)
            return -1;
        any = 1;
    }
    if (!any)
        return hs_err(err, "empty {json:} list");
    return 0;
}

struct scan_ctx {
    hs_tmpl_visit_fn fn;
    void *arg;
};

static int scan_json_one(const char *key, const char *name, void *arg, hs_error *err)
{
    struct scan_ctx *c = arg;
    (void)key;
    return c->fn ? c->fn(name, HS_TMPL_JSON, c->arg, err) : 0;
}

int hs_tmpl_scan(const char *tmpl, hs_tmpl_visit_fn fn, void *arg, hs_error *err)
{
    char name[1024];
    for (const char *p = tmpl; *p;) {
        if (p[0] == '{' && p[1] == '{') {
            p += 2;
            continue;
        }
        if (p[0] == '}') {
            if (p[1] == '}') {
                p += 2;
                continue;
            }
            return hs_err(err, "stray '}' (write '}}' for a literal brace)");
        }
        if (*p != '{') {
            p++;
            continue;
        }
        enum hs_tmpl_kind kind;
        if (parse_placeholder(p + 1, &p, name, sizeof name, &kind, err) < 0)
            return -1;
        if (kind == HS_TMPL_JSON) {
            struct scan_ctx c = { fn, arg };
            if (each_json_name(name, scan_json_one, &c, err) < 0)
                return -1;
            continue;
        }
        if (!valid_name(name))
            return hs_err(err,
                          "'{%s}' is not a placeholder (names are identifiers; write '{{' "
                          "for a literal brace)",
                          name);
        if (fn && fn(name, kind, arg, err) < 0)
            return -1;
    }
    return 0;
}

static int put_escaped(hs_buf *out, const char *s, int flags)
{
    if (!(flags & HS_TMPL_GLOB))
        return hs_buf_puts(out, s);
    for (; *s; s++) {
        if (strchr("*?[]\\", *s) && hs_buf_putc(out, '\\') < 0)
            return -1;
        if (hs_buf_putc(out, *s) < 0)
            return -1;
    }
    return 0;
}

struct json_ctx {
    const char *keys[256];
    const char *params[256];
    size_t n;
};

static int collect_json_name(const char *key, const char *param, void *arg, hs_error *err)
{
    struct json_ctx *c = arg;
    if (c->n == sizeof c->keys / sizeof c->keys[0])
        return hs_err(err, "too many names in {json:...}");
    c->keys[c->n] = key;
    c->params[c->n++] = param;
    return 0;
}

static int render_json(char *list, const hs_tmpl_vars *vars, hs_buf *out, hs_error *err)
{
    struct json_ctx c = { .n = 0 };
    if (each_json_name(list, collect_json_name, &c, err) < 0)
        return -1;
    /* keys sorted, as json.dumps(sort_keys=True) would write them */
    for (size_t i = 1; i < c.n; i++)
        for (size_t j = i; j > 0 && strcmp(c.keys[j - 1], c.keys[j]) > 0; j--) {
            const char *k = c.keys[j], *p = c.params[j];
            c.keys[j] = c.keys[j - 1];
            c.params[j] = c.params[j - 1];
            c.keys[j - 1] = k;
            c.params[j - 1] = p;
        }
    if (hs_buf_putc(out, '{') < 0)
        return hs_err(err, "out of memory");
    int first = 1;
    for (size_t i = 0; i < c.n; i++) {
        if (i > 0 && strcmp(c.keys[i], c.keys[i - 1]) == 0)
            return hs_err(err, "key '%s' appears twice in a {json:...} list", c.keys[i]);
        const hs_value *v = vars->run ? hs_run_get(vars->run, c.params[i]) : NULL;
        if (!v)
            continue;
        if ((!first && hs_buf_putc(out, ',') < 0) || hs_buf_put_json_string(out, c.keys[i]) < 0 ||
            hs_buf_putc(out, ':') < 0 || hs_value_put_json(out, v) < 0)
            return hs_err(err, "out of memory");
        first = 0;
    }
    if (hs_buf_putc(out, '}') < 0)
        return hs_err(err, "out of memory");
    return 0;
}

int hs_tmpl_render(const char *tmpl, const hs_tmpl_vars *vars, int flags, hs_buf *out,
                   bool *dropped, hs_error *err)
{
    char name[1024];
    *dropped = false;
    for (const char *p = tmpl; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            if (hs_buf_putc(out, p[0]) < 0)
                return hs_err(err, "out of memory");
            p += 2;
            continue;
        }
        if (*p != '{') {
            if (*p == '}')
                return hs_err(err, "stray '}' in '%s'", tmpl);
            const char *q = p;
            while (*q && *q != '{' && *q != '}')
                q++;
            if (hs_buf_append(out, p, (size_t)(q - p)) < 0)
                return hs_err(err, "out of memory");
            p = q;
            continue;
        }
        enum hs_tmpl_kind kind;
        if (parse_placeholder(p + 1, &p, name, sizeof name, &kind, err) < 0)
            return -1;
        if (kind == HS_TMPL_JSON) {
            if (render_json(name, vars, out, err) < 0)
                return -1;
            continue;
        }
        int rc = 0;
        const hs_value *v = NULL;
        if (strcmp(name, "run_id") == 0)
            rc = put_escaped(out, vars->run ? vars->run->id : "", flags);
        else if (strcmp(name, "run_dir") == 0)
            rc = put_escaped(out, vars->run_dir ? vars->run_dir : "", flags);
        else if (strcmp(name, "run_index") == 0)
            rc = hs_buf_printf(out, "%zu", vars->run ? vars->run->index : 0);
        else if (strcmp(name, "sweep") == 0)
            rc = put_escaped(out, vars->sweep ? vars->sweep : "", flags);
        else if (strcmp(name, "gpu") == 0)
            rc = put_escaped(out, vars->gpu ? vars->gpu : "", flags);
        else if (vars->run && (v = hs_run_get(vars->run, name))) {
            hs_buf t = { 0 };
            rc = hs_value_put_text(&t, v);
            if (rc == 0)
                rc = put_escaped(out, hs_buf_str(&t), flags);
            hs_buf_free(&t);
        } else if (kind == HS_TMPL_OPTIONAL) {
            *dropped = true;
            continue;
        } else {
            return hs_err(err, "run %s has no parameter '%s'", vars->run ? vars->run->id : "?",
                          name);
        }
        if (rc < 0)
            return hs_err(err, "out of memory");
    }
    return 0;
}
