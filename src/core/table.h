/* Tables for people and for programs: aligned UTF-8 text (wide characters counted as two
 * columns), Markdown, CSV (RFC 4180) and TSV. Cells are copied. */
#ifndef HS_TABLE_H
#define HS_TABLE_H

#include <stddef.h>
#include <stdio.h>

typedef struct hs_table hs_table;

typedef enum hs_align { HS_LEFT = 0, HS_RIGHT } hs_align;
typedef enum hs_table_format {
    HS_TABLE_TEXT = 0,
    HS_TABLE_MARKDOWN,
    HS_TABLE_CSV,
    HS_TABLE_TSV
} hs_table_format;

hs_table *hs_table_create(size_t ncols);
void hs_table_destroy(hs_table *t);
/* Column titles and alignment. */
int hs_table_column(hs_table *t, size_t col, const char *title, hs_align align);
/* Start a new row; cells not set stay empty. */
int hs_table_row(hs_table *t);
int hs_table_set(hs_table *t, size_t col, const char *text);
int hs_table_setf(hs_table *t, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t hs_table_nrows(const hs_table *t);
/* Write the table. indent: spaces before each text line. */
int hs_table_write(const hs_table *t, FILE *out, hs_table_format fmt, int indent);

#endif
