#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "probes.h"

/* Set when a parameter is rejected; hs_probe_run reads it to tell a wrong configuration
 * (errno EINVAL) from a failed computation. One per thread, like errno. */
static _Thread_local bool params_invalid;

int hs_params_invalid(hs_error *err, const char *fmt, ...)
{
    params_invalid = true;
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof err->text, fmt, ap);
        va_end(ap);
    }
    return -1;
}

bool hs_params_take_invalid(void)
{
    bool was = params_invalid;
    params_invalid = false;
    return was;
}

void hs_params_init(hs_params *p, json_object *obj)
{
    memset(p, 0, sizeof *p);
    p->obj = obj;
}

static json_object *lookup(hs_params *p, const char *key)
{
    if (p->nused < (int)(sizeof p->used / sizeof p->used[0]))
        p->used[p->nused++] = key;
    json_object *v = NULL;
    if (!p->obj || !json_object_object_get_ex(p->obj, key, &v))
        return NULL;
    return v;
}

int hs_params_int(hs_params *p, const char *key, long long def, long long lo, long long hi,
                  long long *out, hs_error *err)
{
    json_object *v = lookup(p, key);
    if (!v) {
        *out = def;
        return 0;
    }
    long long x;
    if (json_object_is_type(v, json_type_int)) {
        x = (long long)json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (d != floor(d) || fabs(d) > 9e15)
            return hs_params_invalid(err, "parameter %s = %s must be an integer", key,
                                     json_object_to_json_string(v));
        x = (long long)d;
    } else {
        return hs_params_invalid(err, "parameter %s = %s must be an integer", key,
                                 json_object_to_json_string(v));
    }
    if (x < lo || x > hi)
        return hs_params_invalid(err, "parameter %s = %lld is out of range [%lld, %lld]", key, x,
                                 lo, hi);
    *out = x;
    return 0;
}

int hs_params_double(hs_params *p, const char *key, double def, double lo, double hi, double *out,
                     hs_error *err)
{
    json_object *v = lookup(p, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return hs_params_invalid(err, "parameter %s = %s must be a number", key,
                                 json_object_to_json_string(v));
    double x = json_object_get_double(v);
    if (!(x >= lo && x <= hi))
        return hs_params_invalid(err, "parameter %s = %g is out of range [%g, %g]", key, x, lo, hi);
    *out = x;
    return 0;
}

int hs_params_bool(hs_params *p, const char *key, bool def, bool *out, hs_error *err)
{
    json_object *v = lookup(p, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_object_is_type(v, json_type_boolean))
        return hs_params_invalid(err, "parameter %s = %s must be true or false", key,
                                 json_object_to_json_string(v));
    *out = json_object_get_boolean(v);
    return 0;
}

int hs_params_string(hs_params *p, const char *key, const char *def, const char *const *choices,
                     const char **out, hs_error *err)
{
    json_object *v = lookup(p, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return hs_params_invalid(err, "parameter %s = %s must be a string", key,
                                 json_object_to_json_string(v));
    const char *s = json_object_get_string(v);
    if (choices) {
        int ok = 0;
        char list[512] = "";
        for (const char *const *c = choices; *c; c++) {
            if (strcmp(*c, s) == 0)
                ok = 1;
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                     c == choices ? "" : ", ", *c);
        }
        if (!ok)
            return hs_params_invalid(err, "parameter %s = \"%s\" is not one of: %s", key, s, list);
    }
    *out = s;
    return 0;
}

int hs_params_check_unused(const hs_params *p, const char *probe, hs_error *err)
{
    if (!p->obj)
        return 0;
    json_object_object_foreach(p->obj, key, val)
    {
        (void)val;
        if (key[0] == '_')
            continue;
        int known = 0;
        for (int i = 0; i < p->nused && !known; i++)
            known = strcmp(p->used[i], key) == 0;
        if (known)
            continue;
        char list[1024] = "";
        for (int i = 0; i < p->nused; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     p->used[i]);
        return hs_params_invalid(
            err,
            "probe %s has no parameter '%s' (it takes: %s; names starting with '_' "
            "are labels and are ignored)",
            probe, key, list);
    }
    return 0;
}
