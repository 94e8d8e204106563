#include "value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *hs_vtype_name(hs_vtype t)
{
    switch (t) {
    case HS_INT:
        return "int";
    case HS_FLOAT:
        return "float";
    case HS_BOOL:
        return "bool";
    case HS_STR:
        return "string";
    }
    return "?";
}

char *hs_double_repr(double x, char buf[32])
{
    if (isnan(x)) {
        strcpy(buf, "nan");
        return buf;
    }
    if (isinf(x)) {
        strcpy(buf, x < 0 ? "-inf" : "inf");
        return buf;
    }
    /* Shortest round-trip digits: the first precision whose correctly rounded %e text reads
     * back exactly is the closest shortest decimal, which is what Python's repr picks. */
    char tmp[40];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    /* tmp = [-]d[.ddd]e[+-]XX */
    char digits[24];
    int nd = 0;
    const char *p = tmp;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int decpt = exp10 + 1;
    char *o = buf;
    if (neg)
        *o++ = '-';
    if (x == 0) {
        strcpy(o, "0.0");
        return buf;
    }
    if (decpt <= -4 || decpt > 16) {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (decpt <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -decpt; i++)
            *o++ = '0';
        memcpy(o, digits, (size_t)nd);
        o[nd] = '\0';
    } else if (decpt < nd) {
        memcpy(o, digits, (size_t)decpt);
        o += decpt;
        *o++ = '.';
        memcpy(o, digits + decpt, (size_t)(nd - decpt));
        o[nd - decpt] = '\0';
    } else {
        memcpy(o, digits, (size_t)nd);
        o += nd;
        for (int i = nd; i < decpt; i++)
            *o++ = '0';
        strcpy(o, ".0");
    }
    return buf;
}

int hs_value_put_json(hs_buf *b, const hs_value *v)
{
    char tmp[32];
    switch (v->type) {
    case HS_INT:
        return hs_buf_printf(b, "%lld", (long long)v->u.i);
    case HS_FLOAT:
        if (isnan(v->u.f))
            return hs_buf_puts(b, "NaN");
        if (isinf(v->u.f))
            return hs_buf_puts(b, v->u.f < 0 ? "-Infinity" : "Infinity");
        return hs_buf_puts(b, hs_double_repr(v->u.f, tmp));
    case HS_BOOL:
        return hs_buf_puts(b, v->u.b ? "true" : "false");
    case HS_STR:
        return hs_buf_put_json_string(b, v->u.s);
    }
    return -1;
}

int hs_value_put_text(hs_buf *b, const hs_value *v)
{
    char tmp[32];
    switch (v->type) {
    case HS_INT:
        return hs_buf_printf(b, "%lld", (long long)v->u.i);
    case HS_FLOAT:
        return hs_buf_puts(b, hs_double_repr(v->u.f, tmp));
    case HS_BOOL:
        return hs_buf_puts(b, v->u.b ? "true" : "false");
    case HS_STR:
        return hs_buf_puts(b, v->u.s);
    }
    return -1;
}

bool hs_value_equal(const hs_value *a, const hs_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case HS_INT:
        return a->u.i == b->u.i;
    case HS_FLOAT:
        return (isnan(a->u.f) && isnan(b->u.f)) || memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0 ||
               a->u.f == b->u.f;
    case HS_BOOL:
        return a->u.b == b->u.b;
    case HS_STR:
        return strcmp(a->u.s, b->u.s) == 0;
    }
    return false;
}

bool hs_value_matches(const hs_value *rule, const hs_value *v)
{
    if (rule->type == HS_INT && v->type == HS_FLOAT)
        return (double)rule->u.i == v->u.f;
    if (rule->type == HS_FLOAT && v->type == HS_INT)
        return rule->u.f == (double)v->u.i;
    return hs_value_equal(rule, v);
}

int hs_value_cmp(const hs_value *a, const hs_value *b)
{
    if (a->type != b->type)
        return (int)a->type - (int)b->type;
    switch (a->type) {
    case HS_INT:
        return (a->u.i > b->u.i) - (a->u.i < b->u.i);
    case HS_FLOAT:
        if (isnan(a->u.f) || isnan(b->u.f))
            return isnan(a->u.f) - isnan(b->u.f);
        return (a->u.f > b->u.f) - (a->u.f < b->u.f);
    case HS_BOOL:
        return (int)a->u.b - (int)b->u.b;
    case HS_STR:
        return strcmp(a->u.s, b->u.s);
    }
    return 0;
}
