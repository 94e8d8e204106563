/* Small helpers shared by every module: UTF-8, paths, files, clocks. */
#ifndef HS_UTIL_H
#define HS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "error.h"

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool hs_utf8_valid(const char *s, size_t len);
/* Length of the well-formed UTF-8 sequence at s (looking at most avail bytes), or 0 if the
 * bytes there are not one. */
size_t hs_utf8_seq(const char *s, size_t avail);
/* Number of terminal columns s occupies (East Asian wide characters count 2, emoji 2,
 * combining marks 0). Invalid bytes count 1 each. */
size_t hs_utf8_width(const char *s);
/* The same for the first n bytes of s (a sequence cut by n counts 1 column per byte). */
size_t hs_utf8_width_n(const char *s, size_t n);

/* ---- long values on a screen ---------------------------------------------------------- */

/* Columns a value may take on a screen before it is shortened: a table cell, a line. */
#define HS_SHORT_CELL_COLS 100
#define HS_SHORT_LINE_COLS 160

/* Appends s to out as one line for a screen (status, text tables, summaries): a newline
 * becomes U+23CE (⏎), other control characters their U+24xx pictures, invalid UTF-8 bytes
 * U+FFFD. When that is wider than max_cols columns (0: no limit), only a prefix is kept, cut
 * at a character boundary, and a marker "… (10,240 bytes)" follows, or "… (10,240 bytes;
 * HINT)" with a hint, the number being strlen(s); prefix and marker then take at most
 * max_cols columns (the marker alone when it is wider). JSON, CSV and the store always keep
 * the whole value; only what people read is shortened. Returns 1 if it shortened, 0 if not,
 * -1 when out of memory. */
int hs_put_short(hs_buf *out, const char *s, size_t max_cols, const char *hint);
/* hs_put_short on the text of b, in place (e.g. after hs_run_describe). */
int hs_shorten(hs_buf *b, size_t max_cols, const char *hint);

/* Levenshtein distance, for "did you mean" suggestions. */
size_t hs_edit_distance(const char *a, const char *b);

/* mkdir -p. Returns 0 or -1 with err set. */
int hs_mkdir_p(const char *path, mode_t mode, hs_error *err);
/* Join two path pieces with one '/'; an absolute b is returned as is. Caller frees. */
char *hs_path_join(const char *a, const char *b);
/* Absolute form of path (against the current directory), lexically normalised ("." and ".."
 * removed, no symlinks resolved). Caller frees; NULL on allocation failure. */
char *hs_path_absolute(const char *path);
/* True if path, after normalisation, is dir itself or lies inside it. */
bool hs_path_inside(const char *path, const char *dir);

/* Read a whole file (at most max bytes; larger is an error). *data is NUL-terminated;
 * caller frees. */
int hs_read_file(const char *path, size_t max, char **data, size_t *len, hs_error *err);
/* Write data to path through a temporary file and rename, so readers never see half. */
int hs_write_file_atomic(const char *path, const void *data, size_t len, hs_error *err);

double hs_now(void);       /* seconds since the epoch */
double hs_monotonic(void); /* seconds, monotonic */
/* ISO 8601 local time with offset, e.g. 2026-11-23T10:04:05+0100. buf holds 32 bytes. */
char *hs_iso_time(double epoch, char buf[32]);

/* Parse a byte count: "65536", "64M", "1.5G", "512k" (binary units). -1 on bad input. */
long long hs_parse_bytes(const char *s);

#endif
