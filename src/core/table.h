/* Tables for people and for programs: aligned UTF-8 text (wide characters counted as two
 * columns), Markdown, CSV (RFC 4180) and TSV. Cells are copied whole, whatever their length.
 * Text and Markdown are for a screen: there a cell or title wider than the table's limit is
 * shortened with hs_put_short ("… (10,240 bytes)") and a line under the table says how many
 * were; CSV and TSV always carry every value in full. */
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
    HS_TABLE_TSV /* tab, newline, return and backslash escaped as \t \n \r \\ */
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
/* Columns a cell of any column may take in text and Markdown before it is shortened
 * (default HS_SHORT_CELL_COLS; 0: never), and where the full values are, for the line under
 * the table (e.g. "`hypersweep export` has them in full"; NULL: no hint). */
int hs_table_limit(hs_table *t, size_t max_cols, const char *hint);
/* The same limit for one column (after hs_table_limit, which sets every column's). */
int hs_table_column_limit(hs_table *t, size_t col, size_t max_cols);
/* Write the table. indent: spaces before each text line. */
int hs_table_write(const hs_table *t, FILE *out, hs_table_format fmt, int indent);

#endif
