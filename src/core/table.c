#include "table.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct hs_table {
    size_t ncols;
    char **titles;
    hs_align *align;
    char **cells; /* rows * ncols */
    size_t nrows, caprows;
    size_t *limit; /* per column: columns of a cell on a screen, 0: no limit */
    char *hint;    /* where the full values are */
};

hs_table *hs_table_create(size_t ncols)
{
    hs_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->titles = calloc(ncols ? ncols : 1, sizeof *t->titles);
    t->align = calloc(ncols ? ncols : 1, sizeof *t->align);
    t->limit = calloc(ncols ? ncols : 1, sizeof *t->limit);
    if (!t->titles || !t->align || !t->limit) {
        hs_table_destroy(t);
        return NULL;
    }
    for (size_t c = 0; c < ncols; c++)
        t->limit[c] = HS_SHORT_CELL_COLS;
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
    free(t->hint);
    free(t->limit);
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
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf)
        vsnprintf(buf, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    int rc = buf ? hs_table_set(t, col, buf) : -1;
    free(buf);
    return rc;
}

size_t hs_table_nrows(const hs_table *t)
{
    return t->nrows;
}

int hs_table_limit(hs_table *t, size_t max_cols, const char *hint)
{
    free(t->hint);
    t->hint = hint ? strdup(hint) : NULL;
    for (size_t c = 0; c < t->ncols; c++)
        t->limit[c] = max_cols;
    return hint && !t->hint ? -1 : 0;
}

int hs_table_column_limit(hs_table *t, size_t col, size_t max_cols)
{
    if (col >= t->ncols)
        return -1;
    t->limit[col] = max_cols;
    return 0;
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
        /* escaped, not replaced: a value with tabs or newlines reads back whole */
        for (; *s; s++) {
            const char *esc = *s == '\t'   ? "\\t"
                              : *s == '\n' ? "\\n"
                              : *s == '\r' ? "\\r"
                              : *s == '\\' ? "\\\\"
                                           : NULL;
            if (esc)
                fputs(esc, out);
            else
                fputc(*s, out);
        }
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

/* Control characters are already visible symbols here (screen_cells). */
static void write_md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else
            fputc(*s, out);
    }
}

/* The titles and cells as a screen shows them: one line each, shortened to the limit.
 * Returns the array (titles first, then rows * ncols cells), or NULL when out of memory;
 * *nshort counts the shortened cells. */
static char **screen_cells(const hs_table *t, size_t *nshort)
{
    size_t n = (t->nrows + 1) * t->ncols;
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return NULL;
    *nshort = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = i < t->ncols ? t->titles[i] : t->cells[i - t->ncols];
        hs_buf b = { 0 };
        int rc = hs_put_short(&b, s ? s : "", t->limit[i % t->ncols], NULL);
        v[i] = rc < 0 ? NULL : hs_buf_steal(&b);
        if (!v[i]) {
            hs_buf_free(&b);
            for (size_t k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return NULL;
        }
        *nshort += rc == 1;
    }
    return v;
}

static void free_cells(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* The line under a table whose cells were shortened. */
static void write_short_note(const hs_table *t, FILE *out, size_t nshort, int indent, bool md)
{
    if (!nshort)
        return;
    if (md)
        fputc('\n', out);
    else
        pad(out, (size_t)indent);
    fprintf(out, "(%zu value%s shortened to fit the screen, marked \xE2\x80\xA6%s%s)\n", nshort,
            nshort == 1 ? "" : "s", t->hint ? "; " : "", t->hint ? t->hint : "");
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
    size_t nshort = 0, ncells = (t->nrows + 1) * t->ncols;
    /* sc[c] is title c, SC(r, c) the cell of row r */
    char **sc = screen_cells(t, &nshort);
    if (!sc)
        return -1;
#define SC(r, c) sc[((r) + 1) * t->ncols + (c)]
    if (fmt == HS_TABLE_MARKDOWN) {
        fputc('|', out);
        for (size_t c = 0; c < t->ncols; c++) {
            fputc(' ', out);
            write_md_cell(out, sc[c]);
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
                write_md_cell(out, SC(r, c));
                fputs(" |", out);
            }
            fputc('\n', out);
        }
        write_short_note(t, out, nshort, indent, true);
        free_cells(sc, ncells);
        return ferror(out) ? -1 : 0;
    }
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof *w);
    if (!w) {
        free_cells(sc, ncells);
        return -1;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = hs_utf8_width(sc[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = hs_utf8_width(SC(r, c));
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
            const char *s = r == 0 ? sc[c] : SC(row, c);
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
#undef SC
    write_short_note(t, out, nshort, indent, false);
    free(w);
    free_cells(sc, ncells);
    return ferror(out) ? -1 : 0;
}
