#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_reserve(hs_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)-1) / 2) {
            errno = ENOMEM;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int hs_buf_append(hs_buf *b, const void *data, size_t len)
{
    if (buf_reserve(b, len) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int hs_buf_puts(hs_buf *b, const char *s)
{
    return hs_buf_append(b, s, strlen(s));
}

int hs_buf_putc(hs_buf *b, char c)
{
    return hs_buf_append(b, &c, 1);
}

int hs_buf_printf(hs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *hs_buf_str(const hs_buf *b)
{
    return b->data ? b->data : "";
}

char *hs_buf_steal(hs_buf *b)
{
    char *s = b->data ? b->data : strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void hs_buf_reset(hs_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void hs_buf_free(hs_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int hs_buf_put_json_string(hs_buf *b, const char *s)
{
    if (hs_buf_putc(b, '"') < 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        switch (*p) {
        case '"':
            rc = hs_buf_puts(b, "\\\"");
            break;
        case '\\':
            rc = hs_buf_puts(b, "\\\\");
            break;
        case '\n':
            rc = hs_buf_puts(b, "\\n");
            break;
        case '\t':
            rc = hs_buf_puts(b, "\\t");
            break;
        case '\r':
            rc = hs_buf_puts(b, "\\r");
            break;
        case '\b':
            rc = hs_buf_puts(b, "\\b");
            break;
        case '\f':
            rc = hs_buf_puts(b, "\\f");
            break;
        default:
            if (*p < 0x20)
                rc = hs_buf_printf(b, "\\u%04x", *p);
            else
                rc = hs_buf_putc(b, (char)*p);
        }
        if (rc < 0)
            return -1;
    }
    return hs_buf_putc(b, '"');
}

int hs_buf_put_shell_word(hs_buf *b, const char *s)
{
    if (*s && !strpbrk(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~"))
        return hs_buf_puts(b, s);
    if (hs_buf_putc(b, '\'') < 0)
        return -1;
    for (; *s; s++) {
        if (*s == '\'') {
            if (hs_buf_puts(b, "'\\''") < 0)
                return -1;
        } else if (hs_buf_putc(b, *s) < 0) {
            return -1;
        }
    }
    return hs_buf_putc(b, '\'');
}
