/*
 * table/render_html.c - a table as an HTML <table>.
 *
 * The header rows go into <thead> as <th> cells, the rest into <tbody>, where column- and
 * row-header cells are <th> (row headers with scope="row") and the others <td>. HTML ends a
 * rowspan at its row group, so when a header cell spans below the header rows, <thead> grows to
 * take the rows it spans. Text is escaped (& < > " ') and newlines become <br>.
 */
#include "table_internal.h"

#include <stdlib.h>

static void put_html_text(struct table__buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': table__buf_puts(b, "&amp;"); break;
        case '<': table__buf_puts(b, "&lt;"); break;
        case '>': table__buf_puts(b, "&gt;"); break;
        case '"': table__buf_puts(b, "&quot;"); break;
        case '\'': table__buf_puts(b, "&#39;"); break;
        case '\r':
            if (s[1] == '\n')
                s++;
            /* fall through */
        case '\n': table__buf_puts(b, "<br>"); break;
        default: table__buf_putc(b, *s); break;
        }
    }
}

/* Rows that go into <thead>: the header rows plus any row a header cell spans into. */
static int thead_rows(const struct table *t)
{
    int n = t->header_rows < t->n_rows ? t->header_rows : t->n_rows;
    for (size_t i = 0; i < t->n_cells && t->cells[i].row < n; i++)
        if (t->cells[i].row + t->cells[i].rowspan > n)
            n = t->cells[i].row + t->cells[i].rowspan;
    return n < t->n_rows ? n : t->n_rows;
}

static void put_html_row(struct table__buf *b, const struct table *t, const int *map, int r,
                         bool in_head)
{
    table__buf_puts(b, "<tr>");
    for (int c = 0; c < t->n_cols; c++) {
        int i = map[(size_t)r * t->n_cols + c];
        const struct table_cell *cell = i >= 0 ? &t->cells[i] : NULL;
        if (cell && (cell->row != r || cell->col != c))
            continue; /* covered by a span */
        const char *tag = "td", *attrs = "";
        if (in_head || (cell && cell->kind == CELL_COLUMN_HEADER)) {
            tag = "th";
        } else if (cell && cell->kind == CELL_ROW_HEADER) {
            tag = "th";
            attrs = " scope=\"row\"";
        }
        table__buf_printf(b, "<%s%s", tag, attrs);
        if (cell && cell->colspan > 1)
            table__buf_printf(b, " colspan=\"%d\"", cell->colspan);
        if (cell && cell->rowspan > 1)
            table__buf_printf(b, " rowspan=\"%d\"", cell->rowspan);
        table__buf_putc(b, '>');
        if (cell)
            put_html_text(b, cell->text);
        table__buf_printf(b, "</%s>", tag);
    }
    table__buf_puts(b, "</tr>\n");
}

char *table__render_html(const struct table *t)
{
    int *map = table__cover_map(t);
    if (!map)
        return NULL;
    struct table__buf b = {0};
    int head = thead_rows(t);
    table__buf_puts(&b, "<table>\n");
    if (head > 0) {
        table__buf_puts(&b, "<thead>\n");
        for (int r = 0; r < head; r++)
            put_html_row(&b, t, map, r, true);
        table__buf_puts(&b, "</thead>\n");
    }
    if (head < t->n_rows) {
        table__buf_puts(&b, "<tbody>\n");
        for (int r = head; r < t->n_rows; r++)
            put_html_row(&b, t, map, r, false);
        table__buf_puts(&b, "</tbody>\n");
    }
    table__buf_puts(&b, "</table>\n");
    free(map);
    return table__buf_finish(&b);
}
