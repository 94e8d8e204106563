#include "table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct hs_table {
    size_t ncols;
    char **titles;
    hs_align *align;
    char **cells; /* rows * ncols */
    size_t nrows, caprows;
};

hs_table *hs_table_create(size_t ncols)
{
    hs_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->titles = calloc(ncols ? ncols : 1, sizeof *t->titles);
    t->align = calloc(ncols ? ncols : 1, sizeof *t->align);
    if (!t->titles || !t->align) {
        hs_table_destroy(t);
        return NULL;
    }
    return t;
}

void hs_table_destroy(hs_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ncols; i++)
        free(t->titles ? t->titles[i] : NULL);
    for (size_t i = 0; t->cells && i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->titles);
    free(t->align);
    free(t->cells);
    free(t);
}

int hs_table_column(hs_table *t, size_t col, const char *title, hs_align align)
{
    if (col >= t->ncols)
        return -1;
    free(t->titles[col]);
    t->titles[col] = strdup(title);
    t->align[col] = align;
    return t->titles[col] ? 0 : -1;
}

int hs_table_row(hs_table *t)
{
    if (t->nrows == t->caprows) {
        size_t cap = t->caprows ? t->caprows * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c)
            return -1;
        t->cells = c;
        t->caprows = cap;
    }
    memset(&t->cells[t->nrows * t->ncols], 0, t->ncols * sizeof *t->cells);
    t->nrows++;
    return 0;
}

int hs_table_set(hs_table *t, size_t col, const char *text)
{
    if (!t->nrows || col >= t->ncols)
        return -1;
    char **cell = &t->cells[(t->nrows - 1) * t->ncols + col];
    free(*cell);
    *cell = strdup(text ? text : "");
    return *cell ? 0 : -1;
}

int hs_table_setf(hs_table *t, size_t col, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return hs_table_set(t, col, buf);
}

size_t hs_table_nrows(const hs_table *t)
{
    return t->nrows;
}

static const char *cell(const hs_table *t, size_t r, size_t c)
{
    const char *s = t->cells[r * t->ncols + c];
    return s ? s : "";
}

static void pad(FILE *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputc(' ', out);
}

static void write_csv_field(FILE *out, const char *s, char sep)
{
    if (sep == '\t') {
        for (; *s; s++)
            fputc(*s == '\t' || *s == '\n' ? ' ' : *s, out);
        return;
    }
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void write_md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

int hs_table_write(const hs_table *t, FILE *out, hs_table_format fmt, int indent)
{
    if (fmt == HS_TABLE_CSV || fmt == HS_TABLE_TSV) {
        char sep = fmt == HS_TABLE_CSV ? ',' : '\t';
        for (size_t c = 0; c < t->ncols; c++) {
            if (c)
                fputc(sep, out);
            write_csv_field(out, t->titles[c] ? t->titles[c] : "", sep);
        }
        fputc('\n', out);
        for (size_t r = 0; r < t->nrows; r++) {
            for (size_t c = 0; c < t->ncols; c++) {
                if (c)
                    fputc(sep, out);
                write_csv_field(out, cell(t, r, c), sep);
            }
            fputc('\n', out);
        }
        return ferror(out) ? -1 : 0;
    }
    if (fmt == HS_TABLE_MARKDOWN) {
        fputc('|', out);
        for (size_t c = 0; c < t->ncols; c++) {
            fputc(' ', out);
            write_md_cell(out, t->titles[c] ? t->titles[c] : "");
            fputs(" |", out);
        }
        fputs("\n|", out);
        for (size_t c = 0; c < t->ncols; c++)
            fputs(t->align[c] == HS_RIGHT ? "---:|" : "---|", out);
        fputc('\n', out);
        for (size_t r = 0; r < t->nrows; r++) {
            fputc('|', out);
            for (size_t c = 0; c < t->ncols; c++) {
                fputc(' ', out);
                write_md_cell(out, cell(t, r, c));
                fputs(" |", out);
            }
            fputc('\n', out);
        }
        return ferror(out) ? -1 : 0;
    }
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof *w);
    if (!w)
        return -1;
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = hs_utf8_width(t->titles[c] ? t->titles[c] : "");
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = hs_utf8_width(cell(t, r, c));
            if (cw > w[c])
                w[c] = cw;
        }
    }
    size_t total = 0;
    for (size_t c = 0; c < t->ncols; c++)
        total += w[c] + (c ? 2 : 0);
    for (size_t r = 0; r <= t->nrows + 1; r++) {
        pad(out, (size_t)indent);
        if (r == 1) {
            for (size_t i = 0; i < total; i++)
                fputs("\xe2\x94\x80", out); /* U+2500 box drawing light horizontal */
            fputc('\n', out);
            continue;
        }
        size_t row = r == 0 ? 0 : r - 2;
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? (t->titles[c] ? t->titles[c] : "") : cell(t, row, c);
            size_t sw = hs_utf8_width(s);
            int last = c + 1 == t->ncols;
            if (c)
                fputs("  ", out);
            if (t->align[c] == HS_RIGHT)
                pad(out, w[c] - sw);
            fputs(s, out);
            if (t->align[c] == HS_LEFT && !last)
                pad(out, w[c] - sw);
        }
        fputc('\n', out);
    }
    free(w);
    return ferror(out) ? -1 : 0;
}
