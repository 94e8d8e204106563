/* The document model: the reports build a tree of sections, fields, notes and tables once,
 * and each format walks it. Text is kept as valid UTF-8 from the start (invalid bytes become
 * U+FFFD), so no format can produce mojibake; control characters never reach a terminal. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "table.h"
#include "util.h"

typedef enum nkind { N_SECTION = 0, N_LIST, N_FIELD, N_NOTE, N_TABLE, N_PRE } nkind;

typedef struct cell {
    hs_dkind kind;
    hs_nfmt fmt;
    double num;
    long long i;
    char *text;
    char *why;
} cell;

typedef struct dcol {
    char *key;
    char *title;
    bool right;
    hs_dcol role;
} dcol;

struct hs_dnode {
    nkind kind;
    char *key;
    char *title;
    hs_doc *doc;
    hs_dnode *parent, *first, *last, *next;
    cell value;   /* field */
    char *text;   /* note, pre */
    hs_dcol role; /* of a table */
    size_t ncols;
    dcol *cols;
    size_t nrows, caprows;
    cell *cells;
};

struct hs_doc {
    hs_dnode root;
    bool nomem;
};

/* ---- UTF-8 ----------------------------------------------------------------------------- */

char *hs_utf8_sanitize(const char *str)
{
    if (!str)
        str = "";
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str);
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    while (*s) {
        size_t n = hs_utf8_seq((const char *)s, len - (size_t)((const char *)s - str));
        if (n == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            s++;
        } else {
            memcpy(out + o, s, n);
            o += n;
            s += n;
        }
    }
    out[o] = '\0';
    return out;
}

/* For a terminal or Markdown: controls other than newline and tab become U+FFFD; with
 * one_line, newlines and tabs become spaces. */
static void put_display(hs_buf *b, const char *s, bool one_line)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n' || c == '\t' || c == '\r') {
            if (one_line)
                hs_buf_putc(b, ' ');
            else if (c != '\r')
                hs_buf_putc(b, (char)c);
        } else if (c < 0x20 || c == 0x7F) {
            hs_buf_puts(b, "\xEF\xBF\xBD");
        } else {
            hs_buf_putc(b, (char)c);
        }
    }
}

const char *hs_short_label(hs_buf *b, const char *s)
{
    hs_buf_reset(b);
    hs_put_short(b, s ? s : "", 60, NULL);
    return hs_buf_str(b);
}

/* ---- building ---------------------------------------------------------------------------- */

static char *dup_text(hs_doc *d, const char *s)
{
    if (!s)
        return NULL;
    char *t = hs_utf8_sanitize(s);
    if (!t)
        d->nomem = true;
    return t;
}

hs_doc *hs_doc_create(const char *title)
{
    hs_doc *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->root.kind = N_SECTION;
    d->root.doc = d;
    d->root.title = dup_text(d, title);
    return d;
}

static void cell_free(cell *c)
{
    free(c->text);
    free(c->why);
}

static void node_free(hs_dnode *n)
{
    hs_dnode *c = n->first;
    while (c) {
        hs_dnode *next = c->next;
        node_free(c);
        free(c);
        c = next;
    }
    free(n->key);
    free(n->title);
    free(n->text);
    cell_free(&n->value);
    for (size_t i = 0; i < n->ncols; i++) {
        free(n->cols[i].key);
        free(n->cols[i].title);
    }
    free(n->cols);
    for (size_t i = 0; i < n->nrows * n->ncols; i++)
        cell_free(&n->cells[i]);
    free(n->cells);
}

void hs_doc_destroy(hs_doc *d)
{
    if (!d)
        return;
    node_free(&d->root);
    free(d);
}

hs_dnode *hs_doc_root(hs_doc *d)
{
    return &d->root;
}

/* A child appended to parent; on allocation failure a detached dummy (so callers need no
 * checks) and the document remembers the failure. */
static hs_dnode *add(hs_dnode *parent, nkind kind, const char *key, const char *title)
{
    hs_doc *d = parent->doc;
    hs_dnode *n = calloc(1, sizeof *n);
    if (!n) {
        d->nomem = true;
        static hs_dnode sink;
        memset(&sink, 0, sizeof sink);
        return &sink;
    }
    n->kind = kind;
    n->doc = d;
    n->parent = parent;
    n->key = dup_text(d, key);
    n->title = dup_text(d, title);
    if (parent->last)
        parent->last->next = n;
    else
        parent->first = n;
    parent->last = n;
    return n;
}

hs_dnode *hs_doc_section(hs_dnode *parent, const char *key, const char *title)
{
    if (!parent->doc)
        return parent;
    return add(parent, N_SECTION, key, title);
}

hs_dnode *hs_doc_list(hs_dnode *parent, const char *key, const char *title)
{
    if (!parent->doc)
        return parent;
    return add(parent, N_LIST, key, title);
}

hs_dnode *hs_doc_item(hs_dnode *list, const char *title)
{
    if (!list->doc)
        return list;
    return add(list, N_SECTION, title, title);
}

static void set_cell(hs_doc *d, cell *c, hs_dv v)
{
    cell_free(c);
    memset(c, 0, sizeof *c);
    c->kind = v.kind;
    c->fmt = v.fmt;
    c->num = v.num;
    c->i = v.i;
    c->text = dup_text(d, v.text);
    c->why = dup_text(d, v.why);
}

void hs_doc_field(hs_dnode *sec, const char *key, const char *title, hs_dv v)
{
    if (!sec->doc)
        return;
    hs_dnode *n = add(sec, N_FIELD, key, title);
    if (n->doc)
        set_cell(sec->doc, &n->value, v);
}

void hs_doc_note(hs_dnode *sec, const char *fmt, ...)
{
    if (!sec->doc)
        return;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *tmp = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (tmp)
        vsnprintf(tmp, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    if (!tmp) {
        sec->doc->nomem = true;
        return;
    }
    hs_dnode *n = add(sec, N_NOTE, NULL, NULL);
    if (n->doc)
        n->text = dup_text(sec->doc, tmp);
    free(tmp);
}

void hs_doc_pre(hs_dnode *sec, const char *key, const char *title, const char *text)
{
    if (!sec->doc)
        return;
    hs_dnode *n = add(sec, N_PRE, key, title);
    if (n->doc)
        n->text = dup_text(sec->doc, text);
}

hs_dnode *hs_doc_table(hs_dnode *sec, const char *key, const char *title, size_t ncols)
{
    if (!sec->doc)
        return sec;
    hs_dnode *t = add(sec, N_TABLE, key, title);
    if (!t->doc)
        return t;
    t->cols = calloc(ncols ? ncols : 1, sizeof *t->cols);
    if (!t->cols)
        sec->doc->nomem = true;
    else
        t->ncols = ncols;
    return t;
}

void hs_doc_table_role(hs_dnode *t, hs_dcol role)
{
    if (t->doc && t->kind == N_TABLE)
        t->role = role;
}

void hs_doc_col(hs_dnode *t, size_t col, const char *key, const char *title, bool right,
                hs_dcol role)
{
    if (!t->doc || t->kind != N_TABLE || col >= t->ncols)
        return;
    free(t->cols[col].key);
    free(t->cols[col].title);
    t->cols[col].key = dup_text(t->doc, key);
    t->cols[col].title = dup_text(t->doc, title);
    t->cols[col].right = right;
    t->cols[col].role = role;
}

void hs_doc_row(hs_dnode *t)
{
    if (!t->doc || t->kind != N_TABLE || !t->ncols)
        return;
    if (t->nrows == t->caprows) {
        size_t cap = t->caprows ? t->caprows * 2 : 8;
        cell *c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c) {
            t->doc->nomem = true;
            return;
        }
        t->cells = c;
        t->caprows = cap;
    }
    memset(&t->cells[t->nrows * t->ncols], 0, t->ncols * sizeof *t->cells);
    t->nrows++;
}

void hs_doc_cell(hs_dnode *t, size_t col, hs_dv v)
{
    if (!t->doc || t->kind != N_TABLE || !t->nrows || col >= t->ncols)
        return;
    set_cell(t->doc, &t->cells[(t->nrows - 1) * t->ncols + col], v);
}

size_t hs_doc_nrows(const hs_dnode *t)
{
    return t->kind == N_TABLE ? t->nrows : 0;
}

hs_dv dv_value(const hs_value *v)
{
    switch (v->type) {
    case HS_INT:
        return dv_int((long long)v->u.i);
    case HS_FLOAT:
        return dv_num(v->u.f, NF_REPR);
    case HS_BOOL:
        return dv_bool(v->u.b);
    case HS_STR:
        return dv_text(v->u.s);
    }
    return dv_null("unknown type");
}

/* ---- numbers ------------------------------------------------------------------------------ */

static void fmt_smart(double v, char *buf, size_t cap, bool sign)
{
    double a = fabs(v);
    if (v != 0 && (a < 1e-3 || a >= 1e7))
        snprintf(buf, cap, sign ? "%+.4g" : "%.4g", v);
    else
        snprintf(buf, cap, sign ? "%+.4f" : "%.4f", v);
}

void hs_fmt_num(double v, hs_nfmt f, char *buf, size_t cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "\xE2\x80\x94"); /* em dash */
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, "%sInfinity", v < 0 ? "-" : f == NF_DELTA || f == NF_PP ? "+" : "");
        return;
    }
    switch (f) {
    case NF_METRIC:
        fmt_smart(v, buf, cap, false);
        break;
    case NF_R:
        snprintf(buf, cap, "%.3f", v);
        break;
    case NF_P:
        if (v < 1e-300)
            snprintf(buf, cap, "<1e-300");
        else if (v < 1e-3)
            snprintf(buf, cap, "%.1e", v);
        else
            snprintf(buf, cap, "%.3f", v);
        break;
    case NF_DELTA:
        fmt_smart(v, buf, cap, true);
        break;
    case NF_PP:
        snprintf(buf, cap, "%+.2f pp", v);
        break;
    case NF_PCT:
        if (fabs(v - nearbyint(v)) < 1e-9)
            snprintf(buf, cap, "%.0f%%", v);
        else
            snprintf(buf, cap, "%.1f%%", v);
        break;
    case NF_MB:
        snprintf(buf, cap, "%.0f", v);
        break;
    case NF_SEC:
        snprintf(buf, cap, "%.1f", v);
        break;
    case NF_REPR: {
        char tmp[32];
        snprintf(buf, cap, "%s", hs_double_repr(v, tmp));
        break;
    }
    case NF_EPOCH: {
        char tmp[32];
        snprintf(buf, cap, "%s", hs_iso_time(v, tmp));
        break;
    }
    }
}

/* ---- text and Markdown -------------------------------------------------------------------- */

typedef struct wctx {
    FILE *out;
    hs_format fmt;
    hs_buf b;
    size_t nshort; /* values shortened for the screen */
} wctx;

/* s as one line of at most max_cols columns (text and Markdown only: JSON and CSV always
 * get the whole value), counted when shortened. */
static void put_short(wctx *w, hs_buf *b, const char *s, size_t max_cols)
{
    hs_buf t = { 0 };
    put_display(&t, s, true);
    if (hs_put_short(b, hs_buf_str(&t), max_cols, NULL) == 1)
        w->nshort++;
    hs_buf_free(&t);
}

static void cell_display(wctx *w, const cell *c, hs_buf *b)
{
    char tmp[64];
    switch (c->kind) {
    case DV_EMPTY:
        break;
    case DV_NUM:
        hs_fmt_num(c->num, c->fmt, tmp, sizeof tmp);
        hs_buf_puts(b, tmp);
        break;
    case DV_INT:
        hs_buf_printf(b, "%lld", c->i);
        break;
    case DV_TEXT:
        put_short(w, b, c->text ? c->text : "", HS_SHORT_CELL_COLS);
        break;
    case DV_BOOL:
        hs_buf_puts(b, c->i ? "true" : "false");
        break;
    case DV_NULL:
        hs_buf_puts(b, "\xE2\x80\x94");
        break;
    }
}

static void rule(FILE *out, const char *piece, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputs(piece, out);
    fputc('\n', out);
}

static void heading(wctx *w, int level, const char *title)
{
    hs_buf_reset(&w->b);
    put_short(w, &w->b, title, HS_SHORT_LINE_COLS);
    const char *t = hs_buf_str(&w->b);
    if (w->fmt == HS_FORMAT_MARKDOWN) {
        int h = level + 1 > 6 ? 6 : level + 1;
        fputc('\n', w->out);
        for (int i = 0; i < h; i++)
            fputc('#', w->out);
        fprintf(w->out, " %s\n\n", t);
        return;
    }
    size_t width = hs_utf8_width(t);
    if (level <= 1) {
        fputc('\n', w->out);
        rule(w->out, "=", width > 88 ? width : 88);
        fprintf(w->out, "%s\n", t);
        rule(w->out, "=", width > 88 ? width : 88);
    } else if (level == 2) {
        fputc('\n', w->out);
        rule(w->out, "\xE2\x94\x80", width > 88 ? width : 88);
        fprintf(w->out, "%s\n", t);
        rule(w->out, "\xE2\x94\x80", width > 88 ? width : 88);
    } else {
        fprintf(w->out, "\n%s\n", t);
    }
}

static void write_fields(wctx *w, hs_dnode *first, hs_dnode *end)
{
    size_t tw = 0;
    for (hs_dnode *n = first; n != end; n = n->next)
        if (n->title && hs_utf8_width(n->title) > tw)
            tw = hs_utf8_width(n->title);
    for (hs_dnode *n = first; n != end; n = n->next) {
        if (!n->title)
            continue; /* data only */
        hs_buf_reset(&w->b);
        cell_display(w, &n->value, &w->b);
        const char *title = n->title;
        if (w->fmt == HS_FORMAT_MARKDOWN) {
            hs_buf t = { 0 };
            put_display(&t, title, true);
            fprintf(w->out, "- **%s**: %s\n", hs_buf_str(&t), hs_buf_str(&w->b));
            hs_buf_free(&t);
        } else {
            hs_buf t = { 0 };
            put_display(&t, title, true);
            fprintf(w->out, "  %s:", hs_buf_str(&t));
            for (size_t i = hs_utf8_width(hs_buf_str(&t)); i < tw + 1; i++)
                fputc(' ', w->out);
            fprintf(w->out, "%s\n", hs_buf_str(&w->b));
            hs_buf_free(&t);
        }
    }
    if (w->fmt == HS_FORMAT_MARKDOWN)
        fputc('\n', w->out);
}

static void write_table_text(wctx *w, hs_dnode *t)
{
    size_t nshow = 0;
    for (size_t c = 0; c < t->ncols; c++)
        nshow += t->cols[c].role != DC_DATA_ONLY;
    if (t->title) {
        hs_buf_reset(&w->b);
        put_short(w, &w->b, t->title, HS_SHORT_LINE_COLS);
        if (w->fmt == HS_FORMAT_MARKDOWN)
            fprintf(w->out, "**%s**\n\n", hs_buf_str(&w->b));
        else
            fprintf(w->out, "\n  %s\n", hs_buf_str(&w->b));
    } else if (w->fmt == HS_FORMAT_TEXT) {
        fputc('\n', w->out);
    }
    hs_table *tab = hs_table_create(nshow);
    if (!tab) {
        t->doc->nomem = true;
        return;
    }
    size_t k = 0;
    for (size_t c = 0; c < t->ncols; c++) {
        if (t->cols[c].role == DC_DATA_ONLY)
            continue;
        hs_buf_reset(&w->b);
        put_short(w, &w->b, t->cols[c].title ? t->cols[c].title : "", HS_SHORT_CELL_COLS);
        hs_table_column(tab, k++, hs_buf_str(&w->b), t->cols[c].right ? HS_RIGHT : HS_LEFT);
    }
    for (size_t r = 0; r < t->nrows; r++) {
        hs_table_row(tab);
        k = 0;
        for (size_t c = 0; c < t->ncols; c++) {
            if (t->cols[c].role == DC_DATA_ONLY)
                continue;
            hs_buf_reset(&w->b);
            cell_display(w, &t->cells[r * t->ncols + c], &w->b);
            hs_table_set(tab, k++, hs_buf_str(&w->b));
        }
    }
    hs_table_write(tab, w->out, w->fmt == HS_FORMAT_MARKDOWN ? HS_TABLE_MARKDOWN : HS_TABLE_TEXT,
                   2);
    hs_table_destroy(tab);
    if (w->fmt == HS_FORMAT_MARKDOWN)
        fputc('\n', w->out);
}

static void write_pre(wctx *w, hs_dnode *n)
{
    hs_buf_reset(&w->b);
    put_display(&w->b, n->text ? n->text : "", false);
    const char *s = hs_buf_str(&w->b);
    if (n->title) {
        hs_buf t = { 0 };
        put_display(&t, n->title, true);
        if (w->fmt == HS_FORMAT_MARKDOWN)
            fprintf(w->out, "**%s**\n\n", hs_buf_str(&t));
        else
            fprintf(w->out, "\n  %s\n", hs_buf_str(&t));
        hs_buf_free(&t);
    }
    if (w->fmt == HS_FORMAT_MARKDOWN) {
        /* a fence longer than any backtick run inside */
        size_t run = 0, longest = 0;
        for (const char *p = s; *p; p++) {
            run = *p == '`' ? run + 1 : 0;
            if (run > longest)
                longest = run;
        }
        size_t fence = longest >= 3 ? longest + 1 : 3;
        for (size_t i = 0; i < fence; i++)
            fputc('`', w->out);
        fprintf(w->out, "\n%s%s", s, s[0] && s[strlen(s) - 1] != '\n' ? "\n" : "");
        for (size_t i = 0; i < fence; i++)
            fputc('`', w->out);
        fputs("\n\n", w->out);
        return;
    }
    while (*s) {
        size_t l = strcspn(s, "\n");
        fprintf(w->out, "    | %.*s\n", (int)l, s);
        s += l + (s[l] == '\n');
    }
}

/* A note as text: words filled to NOTE_WIDTH display columns, each line indented by two
 * spaces. A word longer than the line stands alone; newlines in the note are kept. */
#define NOTE_WIDTH 88

static void write_note_text(FILE *out, const char *s)
{
    size_t col = 0;
    fputs("  ", out);
    while (*s) {
        if (*s == '\n') {
            fputs("\n  ", out);
            col = 0;
            s++;
            continue;
        }
        if (*s == ' ') {
            s++;
            continue;
        }
        size_t l = strcspn(s, " \n");
        size_t wd = hs_utf8_width_n(s, l);
        if (col && col + 1 + wd > NOTE_WIDTH - 2) {
            fputs("\n  ", out);
            col = 0;
        } else if (col) {
            fputc(' ', out);
            col++;
        }
        fwrite(s, 1, l, out);
        col += wd;
        s += l;
    }
    fputc('\n', out);
}

static void write_human(wctx *w, hs_dnode *sec, int level)
{
    /* the items of a list (the groups of a report) stand out more than plain sections */
    bool item = sec->parent && sec->parent->kind == N_LIST;
    if (sec->title && (level > 0 || sec == &sec->doc->root))
        heading(w, level <= 1 && !item && sec != &sec->doc->root ? 2 : level, sec->title);
    hs_dnode *n = sec->first;
    bool notes_open = false;
    while (n) {
        if (n->kind != N_NOTE && notes_open) {
            if (w->fmt == HS_FORMAT_MARKDOWN)
                fputc('\n', w->out);
            notes_open = false;
        }
        switch (n->kind) {
        case N_FIELD: {
            hs_dnode *end = n;
            bool shown = false;
            while (end && end->kind == N_FIELD) {
                shown |= end->title != NULL;
                end = end->next;
            }
            if (w->fmt == HS_FORMAT_TEXT && shown)
                fputc('\n', w->out);
            if (shown)
                write_fields(w, n, end);
            n = end;
            continue;
        }
        case N_NOTE:
            hs_buf_reset(&w->b);
            put_display(&w->b, n->text ? n->text : "", true);
            if (w->fmt == HS_FORMAT_MARKDOWN) {
                fprintf(w->out, "%s%s\n", notes_open ? "" : "\n", hs_buf_str(&w->b));
            } else {
                if (!notes_open)
                    fputc('\n', w->out);
                write_note_text(w->out, hs_buf_str(&w->b));
            }
            notes_open = true;
            break;
        case N_TABLE:
            if (n->role != DC_DATA_ONLY)
                write_table_text(w, n);
            break;
        case N_PRE:
            write_pre(w, n);
            break;
        case N_SECTION:
            write_human(w, n, level + 1);
            break;
        case N_LIST:
            if (n->title)
                heading(w, level + 1, n->title);
            for (hs_dnode *it = n->first; it; it = it->next)
                write_human(w, it, n->title ? level + 2 : level + 1);
            break;
        }
        n = n->next;
    }
    if (notes_open && w->fmt == HS_FORMAT_MARKDOWN)
        fputc('\n', w->out);
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void json_key(hs_buf *b, bool *first, const char *key)
{
    if (!*first)
        hs_buf_putc(b, ',');
    *first = false;
    hs_buf_put_json_string(b, key ? key : "");
    hs_buf_putc(b, ':');
}

/* The value, and its "<key>_note" when it is null or not finite. */
static void json_cell(hs_buf *b, bool *first, const char *key, const cell *c)
{
    char tmp[32];
    json_key(b, first, key);
    const char *why = NULL;
    switch (c->kind) {
    case DV_EMPTY:
        hs_buf_puts(b, "null");
        break;
    case DV_NUM:
        if (isfinite(c->num)) {
            hs_buf_puts(b, hs_double_repr(c->num, tmp));
        } else {
            hs_buf_puts(b, "null");
            why = c->why          ? c->why
                  : isnan(c->num) ? "not available"
                  : c->num > 0    ? "Infinity"
                                  : "-Infinity";
        }
        break;
    case DV_INT:
        hs_buf_printf(b, "%lld", c->i);
        break;
    case DV_TEXT:
        hs_buf_put_json_string(b, c->text ? c->text : "");
        break;
    case DV_BOOL:
        hs_buf_puts(b, c->i ? "true" : "false");
        break;
    case DV_NULL:
        hs_buf_puts(b, "null");
        why = c->why ? c->why : "not available";
        break;
    }
    if (why) {
        hs_buf k = { 0 };
        hs_buf_printf(&k, "%s_note", key ? key : "");
        json_key(b, first, hs_buf_str(&k));
        hs_buf_put_json_string(b, why);
        hs_buf_free(&k);
    }
}

static void json_section(hs_buf *b, const hs_dnode *sec);

static void json_table(hs_buf *b, const hs_dnode *t)
{
    hs_buf_putc(b, '[');
    for (size_t r = 0; r < t->nrows; r++) {
        hs_buf_puts(b, r ? ",\n{" : "\n{");
        bool first = true;
        for (size_t c = 0; c < t->ncols; c++) {
            if (t->cols[c].role == DC_TEXT_ONLY)
                continue;
            json_cell(b, &first, t->cols[c].key, &t->cells[r * t->ncols + c]);
        }
        hs_buf_putc(b, '}');
    }
    hs_buf_putc(b, ']');
}

static void json_section(hs_buf *b, const hs_dnode *sec)
{
    hs_buf_putc(b, '{');
    bool first = true;
    size_t nnotes = 0;
    for (const hs_dnode *n = sec->first; n; n = n->next) {
        switch (n->kind) {
        case N_FIELD:
            json_cell(b, &first, n->key, &n->value);
            break;
        case N_NOTE:
            nnotes++;
            break;
        case N_PRE:
            json_key(b, &first, n->key);
            hs_buf_put_json_string(b, n->text ? n->text : "");
            break;
        case N_TABLE:
            if (n->role == DC_TEXT_ONLY)
                break;
            json_key(b, &first, n->key);
            json_table(b, n);
            break;
        case N_SECTION:
            json_key(b, &first, n->key);
            hs_buf_putc(b, '\n');
            json_section(b, n);
            break;
        case N_LIST:
            json_key(b, &first, n->key);
            hs_buf_putc(b, '[');
            for (const hs_dnode *it = n->first; it; it = it->next) {
                hs_buf_puts(b, it == n->first ? "\n" : ",\n");
                json_section(b, it);
            }
            hs_buf_putc(b, ']');
            break;
        }
    }
    if (nnotes) {
        json_key(b, &first, "notes");
        hs_buf_putc(b, '[');
        bool nf = true;
        for (const hs_dnode *n = sec->first; n; n = n->next) {
            if (n->kind != N_NOTE)
                continue;
            if (!nf)
                hs_buf_putc(b, ',');
            nf = false;
            hs_buf_put_json_string(b, n->text ? n->text : "");
        }
        hs_buf_putc(b, ']');
    }
    hs_buf_putc(b, '}');
}

/* ---- CSV ---------------------------------------------------------------------------------- */

static void csv_value(const cell *c, hs_buf *b)
{
    char tmp[32];
    switch (c->kind) {
    case DV_NUM:
        if (isnan(c->num))
            break;
        if (isinf(c->num))
            hs_buf_puts(b, c->num > 0 ? "inf" : "-inf");
        else
            hs_buf_puts(b, hs_double_repr(c->num, tmp));
        break;
    case DV_INT:
        hs_buf_printf(b, "%lld", c->i);
        break;
    case DV_TEXT:
        hs_buf_puts(b, c->text ? c->text : "");
        break;
    case DV_BOOL:
        hs_buf_puts(b, c->i ? "true" : "false");
        break;
    default:
        break;
    }
}

static void csv_walk(wctx *w, const hs_dnode *sec, hs_buf *path, bool *first)
{
    size_t mark = path->len;
    for (const hs_dnode *n = sec->first; n; n = n->next) {
        if (n->kind == N_SECTION || n->kind == N_LIST) {
            if (n->key) {
                if (path->len)
                    hs_buf_puts(path, " / ");
                hs_buf_puts(path, n->key);
            }
            if (n->kind == N_SECTION) {
                csv_walk(w, n, path, first);
            } else {
                size_t m2 = path->len;
                for (const hs_dnode *it = n->first; it; it = it->next) {
                    if (it->key) {
                        hs_buf_puts(path, " / ");
                        hs_buf_puts(path, it->key);
                    }
                    csv_walk(w, it, path, first);
                    path->len = m2;
                    path->data[m2] = '\0';
                }
            }
            path->len = mark;
            if (path->data)
                path->data[mark] = '\0';
            continue;
        }
        if (n->kind != N_TABLE || n->role == DC_TEXT_ONLY)
            continue;
        size_t nshow = 0;
        for (size_t c = 0; c < n->ncols; c++)
            nshow += n->cols[c].role != DC_TEXT_ONLY;
        hs_table *tab = hs_table_create(nshow);
        if (!tab) {
            n->doc->nomem = true;
            return;
        }
        size_t k = 0;
        for (size_t c = 0; c < n->ncols; c++)
            if (n->cols[c].role != DC_TEXT_ONLY)
                hs_table_column(tab, k++, n->cols[c].key ? n->cols[c].key : "", HS_LEFT);
        for (size_t r = 0; r < n->nrows; r++) {
            hs_table_row(tab);
            k = 0;
            for (size_t c = 0; c < n->ncols; c++) {
                if (n->cols[c].role == DC_TEXT_ONLY)
                    continue;
                hs_buf_reset(&w->b);
                csv_value(&n->cells[r * n->ncols + c], &w->b);
                hs_table_set(tab, k++, hs_buf_str(&w->b));
            }
        }
        hs_buf_reset(&w->b);
        put_display(&w->b, hs_buf_str(path), true);
        fprintf(w->out, "%s# %s%s%s\n", *first ? "" : "\n", hs_buf_str(&w->b),
                path->len ? " / " : "", n->key ? n->key : "");
        *first = false;
        hs_table_write(tab, w->out, HS_TABLE_CSV, 0);
        hs_table_destroy(tab);
    }
}

int hs_doc_write(const hs_doc *d, FILE *out, hs_format fmt, hs_error *err)
{
    if (d->nomem)
        return hs_err(err, "out of memory while building the report");
    wctx w = { .out = out, .fmt = fmt };
    hs_dnode *root = (hs_dnode *)&d->root;
    switch (fmt) {
    case HS_FORMAT_TEXT:
    case HS_FORMAT_MARKDOWN:
        write_human(&w, root, 0);
        if (w.nshort)
            fprintf(out,
                    "\n%s%zu long value%s shortened to fit the screen, marked \xE2\x80\xA6 with "
                    "its size; --format json or csv has %s in full.%s\n",
                    fmt == HS_FORMAT_MARKDOWN ? "_" : "  ", w.nshort, w.nshort == 1 ? "" : "s",
                    w.nshort == 1 ? "it" : "them", fmt == HS_FORMAT_MARKDOWN ? "_" : "");
        break;
    case HS_FORMAT_JSON: {
        hs_buf b = { 0 };
        json_section(&b, root);
        hs_buf_putc(&b, '\n');
        fputs(hs_buf_str(&b), out);
        hs_buf_free(&b);
        break;
    }
    case HS_FORMAT_CSV: {
        hs_buf path = { 0 };
        bool first = true;
        csv_walk(&w, root, &path, &first);
        hs_buf_free(&path);
        break;
    }
    }
    hs_buf_free(&w.b);
    if (d->nomem)
        return hs_err(err, "out of memory while writing the report");
    if (fflush(out) != 0 || ferror(out))
        return hs_err_errno(err, "cannot write the report");
    return 0;
}

int hs_format_parse(const char *name)
{
    if (strcmp(name, "text") == 0)
        return HS_FORMAT_TEXT;
    if (strcmp(name, "markdown") == 0 || strcmp(name, "md") == 0)
        return HS_FORMAT_MARKDOWN;
    if (strcmp(name, "json") == 0)
        return HS_FORMAT_JSON;
    if (strcmp(name, "csv") == 0)
        return HS_FORMAT_CSV;
    return -1;
}
