#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int hs_err(hs_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof err->text, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int hs_err_prefix(hs_error *err, const char *fmt, ...)
{
    if (err) {
        char prefix[512], old[sizeof err->text];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, err->text, sizeof old);
        snprintf(err->text, sizeof err->text, "%s: %s", prefix, old);
    }
    return -1;
}

int hs_err_errno(hs_error *err, const char *fmt, ...)
{
    int saved = errno;
    if (err) {
        char what[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        snprintf(err->text, sizeof err->text, "%s: %s", what, strerror(saved));
    }
    errno = saved;
    return -1;
}
