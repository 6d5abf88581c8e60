/*
 * table/otsl_write.c - a table to OTSL text (table_to_otsl).
 *
 * One token per position: the anchor's kind token and text, <lcel> right of an anchor in its
 * first row, <ucel> below it in its first column, <xcel> elsewhere inside a span. A position with
 * no cell is <ecel>, or an empty <ched> inside the header rows, and every anchor in the header
 * rows is written as <ched>: OTSL can state header rows only through <ched>, and the parser
 * counts the leading rows of <ched> cells (empty cells allowed beside them) as header rows.
 *
 * So parse(serialize(t)) equals t (table_equal) when: cell text has no surrounding whitespace and
 * no tag-shaped "<name>" inside (OTSL has no escape for either); the cells of the header rows are
 * column headers; and the first row after the header rows is not made only of column headers.
 * A table with no rows comes back with no columns either.
 */
#include "table_internal.h"

#include <stdlib.h>

static const char *anchor_token(const struct table *t, const struct table_cell *c)
{
    if (c->row < t->header_rows)
        return "<ched>";
    switch (c->kind) {
    case CELL_COLUMN_HEADER: return "<ched>";
    case CELL_ROW_HEADER: return "<rhed>";
    case CELL_SECTION: return "<srow>";
    default: return c->text[0] ? "<fcel>" : "<ecel>";
    }
}

char *table_to_otsl(const struct table *t)
{
    struct table__buf b = {0};
    int *map = table__cover_map(t);
    if (!map)
        return NULL;
    table__buf_puts(&b, "<otsl>");
    for (int r = 0; r < t->n_rows; r++) {
        for (int k = 0; k < t->n_cols; k++) {
            int i = map[(size_t)r * t->n_cols + k];
            if (i < 0) {
                table__buf_puts(&b, r < t->header_rows ? "<ched>" : "<ecel>");
                continue;
            }
            const struct table_cell *c = &t->cells[i];
            if (c->row == r && c->col == k) {
                const char *tok = anchor_token(t, c);
                table__buf_puts(&b, tok);
                if (tok[1] != 'e') /* <ecel> takes no text */
                    table__buf_puts(&b, c->text);
            } else if (c->row == r) {
                table__buf_puts(&b, "<lcel>");
            } else if (c->col == k) {
                table__buf_puts(&b, "<ucel>");
            } else {
                table__buf_puts(&b, "<xcel>");
            }
        }
        table__buf_puts(&b, "<nl>");
    }
    table__buf_puts(&b, "</otsl>");
    free(map);
    return table__buf_finish(&b);
}
