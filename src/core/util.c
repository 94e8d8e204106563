#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

size_t hs_utf8_seq(const char *str, size_t avail)
{
    const unsigned char *s = (const unsigned char *)str;
    if (avail == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t k = 1; k <= n; k++) {
        if (k >= avail || (s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n + 1;
}

bool hs_utf8_valid(const char *str, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = hs_utf8_seq(str + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* Decodes one code point; returns bytes used (1 for an invalid byte, with *cp = 0xFFFD). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n = c < 0x80 ? 0 : c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 9;
    if (n == 0) {
        *cp = c;
        return 1;
    }
    if (n == 9) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t v = c & (0x3F >> n);
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[k] & 0x3F);
    }
    *cp = v;
    return n + 1;
}

static int cp_width(uint32_t cp)
{
    if (cp == 0)
        return 0;
    /* combining marks and zero-width characters */
    if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200F) ||
        (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0x20E3 || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
        (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) || cp == 0x200D)
        return 0;
    /* wide: CJK, Hangul, fullwidth forms, emoji */
    if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) ||
        (cp >= 0x3041 && cp <= 0x33FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
        (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
        (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
        (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
        (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x1F680 && cp <= 0x1F6FF) ||
        (cp >= 0x2600 && cp <= 0x26FF && cp != 0x2610) || (cp >= 0x2705 && cp <= 0x2705) ||
        (cp >= 0x274C && cp <= 0x274C) || (cp >= 0x1F1E6 && cp <= 0x1F1FF) ||
        (cp >= 0x1FA70 && cp <= 0x1FAFF) || (cp >= 0x20000 && cp <= 0x3FFFD) ||
        (cp >= 0x1F000 && cp <= 0x1F02F) || (cp >= 0x1F0A0 && cp <= 0x1F0FF) ||
        (cp >= 0x1F100 && cp <= 0x1F1FF) || (cp >= 0x1F200 && cp <= 0x1F2FF) || cp == 0x2B50 ||
        cp == 0x2B55 || (cp >= 0x231A && cp <= 0x231B) || (cp >= 0x23E9 && cp <= 0x23EC) ||
        cp == 0x23F0 || cp == 0x23F3 || cp == 0x26D4)
        return 2;
    return 1;
}

size_t hs_utf8_width(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t w = 0;
    while (*s) {
        uint32_t cp;
        size_t n = utf8_next(s, &cp);
        w += (size_t)cp_width(cp);
        s += n;
    }
    return w;
}

size_t hs_utf8_width_n(const char *str, size_t n)
{
    size_t w = 0, i = 0;
    while (i < n && str[i]) {
        size_t k = hs_utf8_seq(str + i, n - i);
        if (k == 0) {
            w++;
            i++;
            continue;
        }
        uint32_t cp;
        utf8_next((const unsigned char *)str + i, &cp);
        w += (size_t)cp_width(cp);
        i += k;
    }
    return w;
}

/* How the character at s shows on a screen line: the bytes to print, the bytes it
 * takes in s, and its columns. */
struct glyph {
    const char *bytes;
    size_t len, adv, cols;
    char pic[3];
};

static void glyph_at(const char *s, size_t avail, struct glyph *g)
{
    unsigned char c = (unsigned char)s[0];
    g->adv = 1;
    g->cols = 1;
    g->len = 3;
    if (c == '\n') {
        g->bytes = "\xE2\x8F\x8E"; /* U+23CE return symbol */
        return;
    }
    if (c < 0x20 || c == 0x7F) {
        uint32_t cp = c == 0x7F ? 0x2421 : 0x2400 + c; /* control pictures */
        g->pic[0] = (char)(0xE0 | (cp >> 12));
        g->pic[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        g->pic[2] = (char)(0x80 | (cp & 0x3F));
        g->bytes = g->pic;
        return;
    }
    size_t n = hs_utf8_seq(s, avail);
    if (n == 0) {
        g->bytes = "\xEF\xBF\xBD"; /* U+FFFD */
        return;
    }
    uint32_t cp;
    utf8_next((const unsigned char *)s, &cp);
    g->bytes = s;
    g->len = g->adv = n;
    g->cols = (size_t)cp_width(cp);
}

/* 10240 -> "10,240" */
static void thousands(size_t n, char out[32])
{
    char tmp[32];
    int l = snprintf(tmp, sizeof tmp, "%zu", n);
    size_t o = 0;
    for (int i = 0; i < l; i++) {
        if (i && (l - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = tmp[i];
    }
    out[o] = '\0';
}

int hs_put_short(hs_buf *out, const char *s, size_t max_cols, const char *hint)
{
    size_t len = strlen(s), total = 0;
    struct glyph g;
    for (size_t i = 0; i < len && (!max_cols || total <= max_cols); i += g.adv) {
        glyph_at(s + i, len - i, &g);
        total += g.cols;
    }
    bool cut = max_cols && total > max_cols;
    hs_buf mark = { 0 };
    size_t keep = SIZE_MAX;
    if (cut) {
        char num[32];
        thousands(len, num);
        if (hs_buf_printf(&mark, "\xE2\x80\xA6 (%s byte%s%s%s)", num, len == 1 ? "" : "s",
                          hint ? "; " : "", hint ? hint : "") < 0)
            return -1;
        size_t mw = hs_utf8_width(hs_buf_str(&mark));
        keep = mw < max_cols ? max_cols - mw : 0;
    }
    int rc = 0;
    size_t w = 0, start = out->len;
    for (size_t i = 0; i < len && rc == 0; i += g.adv) {
        glyph_at(s + i, len - i, &g);
        if (w + g.cols > keep)
            break;
        rc = hs_buf_append(out, g.bytes, g.len);
        w += g.cols;
    }
    if (cut && rc == 0) {
        while (out->len > start && out->data[out->len - 1] == ' ')
            out->data[--out->len] = '\0';
        rc = hs_buf_puts(out, hs_buf_str(&mark));
    }
    hs_buf_free(&mark);
    return rc < 0 ? -1 : cut ? 1 : 0;
}

int hs_shorten(hs_buf *b, size_t max_cols, const char *hint)
{
    char *text = hs_buf_steal(b);
    if (!text)
        return -1;
    int rc = hs_put_short(b, text, max_cols, hint);
    free(text);
    return rc;
}

size_t hs_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

int hs_mkdir_p(const char *path, mode_t mode, hs_error *err)
{
    char *p = strdup(path);
    if (!p)
        return hs_err(err, "out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            hs_err_errno(err, "cannot create directory %s", p);
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST) {
        hs_err_errno(err, "cannot create directory %s", p);
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

char *hs_path_join(const char *a, const char *b)
{
    if (b[0] == '/' || !a || !a[0])
        return strdup(b);
    size_t la = strlen(a);
    char *r = malloc(la + strlen(b) + 2);
    if (!r)
        return NULL;
    sprintf(r, "%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
    return r;
}

char *hs_path_absolute(const char *path)
{
    char cwd[PATH_MAX];
    char *full;
    if (path[0] == '/') {
        full = strdup(path);
    } else {
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        full = hs_path_join(cwd, path);
    }
    if (!full)
        return NULL;
    /* normalise in place: split on '/', handle "." and ".." */
    size_t n = strlen(full);
    char *out = malloc(n + 2);
    if (!out) {
        free(full);
        return NULL;
    }
    size_t o = 0;
    char *save = NULL;
    for (char *tok = strtok_r(full, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        out[o++] = '/';
        size_t l = strlen(tok);
        memcpy(out + o, tok, l);
        o += l;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    free(full);
    return out;
}

bool hs_path_inside(const char *path, const char *dir)
{
    char *p = hs_path_absolute(path), *d = hs_path_absolute(dir);
    bool inside = false;
    if (p && d) {
        size_t ld = strlen(d);
        if (strcmp(d, "/") == 0)
            inside = true;
        else
            inside = strncmp(p, d, ld) == 0 && (p[ld] == '\0' || p[ld] == '/');
    }
    free(p);
    free(d);
    return inside;
}

int hs_read_file(const char *path, size_t max, char **data, size_t *len, hs_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hs_err_errno(err, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return hs_err_errno(err, "cannot stat %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return hs_err(err, "%s is not a regular file", path);
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return hs_err(err, "%s is too large (%lld bytes, limit %zu)", path, (long long)st.st_size,
                      max);
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return hs_err(err, "out of memory reading %s", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max + 1) {
                free(buf);
                close(fd);
                return hs_err(err, "%s grew beyond the limit of %zu bytes", path, max);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return hs_err(err, "out of memory reading %s", path);
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            hs_err_errno(err, "cannot read %s", path);
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return 0;
}

int hs_write_file_atomic(const char *path, const void *data, size_t len, hs_error *err)
{
    size_t lp = strlen(path);
    char *tmp = malloc(lp + 32);
    if (!tmp)
        return hs_err(err, "out of memory");
    snprintf(tmp, lp + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        hs_err_errno(err, "cannot create %s", tmp);
        free(tmp);
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            hs_err_errno(err, "cannot write %s", tmp);
            close(fd);
            unlink(tmp);
            free(tmp);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        hs_err_errno(err, "cannot write %s", path);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

double hs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double hs_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

char *hs_iso_time(double epoch, char buf[32])
{
    time_t t = (time_t)epoch;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%S%z", &tm);
    return buf;
}

long long hs_parse_bytes(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return -1;
    double mult = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mult = 1024.0;
        end++;
        break;
    case 'm':
    case 'M':
        mult = 1024.0 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mult = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 't':
    case 'T':
        mult = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end)
        return -1;
    v *= mult;
    if (v > 9.0e18)
        return -1;
    return (long long)v;
}
