/* A growable byte buffer, always NUL-terminated. A zero-initialised hs_buf is empty and
 * valid. Appends return 0, or -1 with errno ENOMEM. */
#ifndef HS_BUF_H
#define HS_BUF_H

#include <stddef.h>

typedef struct hs_buf {
    char *data;
    size_t len;
    size_t cap;
} hs_buf;

int hs_buf_append(hs_buf *b, const void *data, size_t len);
int hs_buf_puts(hs_buf *b, const char *s);
int hs_buf_putc(hs_buf *b, char c);
int hs_buf_printf(hs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The contents as a C string ("" when empty); valid until the next append. */
const char *hs_buf_str(const hs_buf *b);
/* Hand the string to the caller (who frees it) and reset the buffer. */
char *hs_buf_steal(hs_buf *b);
void hs_buf_reset(hs_buf *b);
void hs_buf_free(hs_buf *b);

/* Append s as a JSON string literal: quotes, and escapes for '"', '\\' and control
 * characters (the short forms \n \t \r \b \f, otherwise \u00XX); other bytes as is. This is
 * exactly what Python's json.dumps(..., ensure_ascii=False) writes for valid UTF-8. */
int hs_buf_put_json_string(hs_buf *b, const char *s);
/* Append s as one word a POSIX shell reads back as s: as it is when that is safe, else in
 * single quotes (a ' inside becomes '\''). */
int hs_buf_put_shell_word(hs_buf *b, const char *s);

#endif
