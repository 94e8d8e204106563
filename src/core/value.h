/* Typed parameter values: 64-bit int, double, bool, string. A value is a plain view; the
 * string it points to belongs to whoever made the value (the grid, for grid values). */
#ifndef HS_VALUE_H
#define HS_VALUE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

typedef enum hs_vtype { HS_INT = 0, HS_FLOAT, HS_BOOL, HS_STR } hs_vtype;

typedef struct hs_value {
    hs_vtype type;
    union {
        int64_t i;
        double f;
        bool b;
        const char *s;
    } u;
} hs_value;

static inline hs_value hs_value_int(int64_t i)
{
    hs_value v = { .type = HS_INT, .u.i = i };
    return v;
}
static inline hs_value hs_value_float(double f)
{
    hs_value v = { .type = HS_FLOAT, .u.f = f };
    return v;
}
static inline hs_value hs_value_bool(bool b)
{
    hs_value v = { .type = HS_BOOL, .u.b = b };
    return v;
}
static inline hs_value hs_value_str(const char *s)
{
    hs_value v = { .type = HS_STR, .u.s = s };
    return v;
}

const char *hs_vtype_name(hs_vtype t);

/* Shortest text that reads back to the same double, in the form of Python's repr(float):
 * "0.5", "1.0", "1e-05", "1e+16", "inf", "-inf", "nan". buf must hold 32 bytes. */
char *hs_double_repr(double x, char buf[32]);

/* The value as a JSON token, exactly as Python's json.dumps writes it (floats as repr,
 * NaN / Infinity / -Infinity for non-finite, strings with hs_buf_put_json_string). */
int hs_value_put_json(hs_buf *b, const hs_value *v);

/* The value as text for an argument or environment variable: ints in decimal, floats as
 * hs_double_repr, bools as "true"/"false", strings as they are. */
int hs_value_put_text(hs_buf *b, const hs_value *v);

/* Exact typed equality (1 and 1.0 differ; NaN equals NaN, so that tuples compare). */
bool hs_value_equal(const hs_value *a, const hs_value *b);

/* Rule matching for exclude/include: as hs_value_equal, but an int and a float match when
 * they are numerically equal. */
bool hs_value_matches(const hs_value *rule, const hs_value *v);

/* Total order for sorting values of one parameter: by type, then numerically or bytewise. */
int hs_value_cmp(const hs_value *a, const hs_value *b);

#endif
