/*
 * table/render_text.c - the two plain-text renderers: Markdown (GitHub pipe tables) and CSV.
 *
 * Markdown has no spans and exactly one header row. So a spanning cell shows per
 * render_options.markdown_spans; a table with header_rows == 0 gets an empty header row (GitHub
 * needs one); with header_rows > 1, row 0 is the Markdown header and header rows 1.. come out as
 * the first body rows, in order. A table with no columns renders as "" (no pipe table can hold it).
 *
 * CSV follows RFC 4180: CRLF after every record, a field quoted (quotes doubled) when it holds
 * ',', '"', CR or LF; spans as SPAN_EMPTY. In a one-column table an empty field is written ""
 * so that its record does not read as a blank line. A table with no columns renders as "".
 */
#include "table_internal.h"

#include <stdlib.h>

/* The text shown at (r, c) under `policy`; map is the table's cover map. */
static const char *shown_text(const struct table *t, const int *map, int r, int c,
                              enum span_policy policy)
{
    int i = map[(size_t)r * t->n_cols + c];
    if (i < 0)
        return "";
    const struct table_cell *cell = &t->cells[i];
    if ((cell->row == r && cell->col == c) || policy == SPAN_REPEAT)
        return cell->text;
    return "";
}

static void put_markdown_text(struct table__buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') {
            table__buf_puts(b, "\\|");
        } else if (*s == '\\' && s[1] == '|') {
            table__buf_puts(b, "\\\\"); /* keep the pipe after it escaped */
        } else if (*s == '\r' || *s == '\n') {
            if (*s == '\r' && s[1] == '\n')
                s++;
            table__buf_puts(b, "<br>");
        } else {
            table__buf_putc(b, *s);
        }
    }
}

static void put_markdown_row(struct table__buf *b, const struct table *t, const int *map, int r,
                             enum span_policy policy)
{
    table__buf_putc(b, '|');
    for (int c = 0; c < t->n_cols; c++) {
        table__buf_putc(b, ' ');
        if (r >= 0)
            put_markdown_text(b, shown_text(t, map, r, c, policy));
        table__buf_puts(b, " |");
    }
    table__buf_putc(b, '\n');
}

char *table__render_markdown(const struct table *t, const struct render_options *opts)
{
    if (t->n_cols == 0)
        return q_strdup("");
    int *map = table__cover_map(t);
    if (!map)
        return NULL;
    struct table__buf b = {0};
    bool has_header = t->header_rows > 0 && t->n_rows > 0;
    put_markdown_row(&b, t, map, has_header ? 0 : -1, opts->markdown_spans);
    table__buf_putc(&b, '|');
    for (int c = 0; c < t->n_cols; c++)
        table__buf_puts(&b, " --- |");
    table__buf_putc(&b, '\n');
    for (int r = has_header ? 1 : 0; r < t->n_rows; r++)
        put_markdown_row(&b, t, map, r, opts->markdown_spans);
    free(map);
    return table__buf_finish(&b);
}

static void put_csv_field(struct table__buf *b, const char *s, bool quote_empty)
{
    bool quote = quote_empty && !s[0];
    for (const char *p = s; *p && !quote; p++)
        quote = *p == ',' || *p == '"' || *p == '\r' || *p == '\n';
    if (!quote) {
        table__buf_puts(b, s);
        return;
    }
    table__buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            table__buf_putc(b, '"');
        table__buf_putc(b, *s);
    }
    table__buf_putc(b, '"');
}

char *table__render_csv(const struct table *t)
{
    if (t->n_cols == 0)
        return q_strdup("");
    int *map = table__cover_map(t);
    if (!map)
        return NULL;
    struct table__buf b = {0};
    for (int r = 0; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++) {
            if (c > 0)
                table__buf_putc(&b, ',');
            put_csv_field(&b, shown_text(t, map, r, c, SPAN_EMPTY), t->n_cols == 1);
        }
        table__buf_puts(&b, "\r\n");
    }
    free(map);
    return table__buf_finish(&b);
}
