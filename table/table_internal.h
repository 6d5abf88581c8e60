/*
 * table/table_internal.h - what the files of table/ share; private to this folder.
 *
 * A growing output buffer (every renderer and the OTSL writer append to one), the cover map
 * (which cell covers each grid position, so renderers walk the grid in O(rows x cols)), and the
 * per-format renderers that table_render() dispatches to.
 *
 * All memory comes from the q_ allocation hook, so allocation-failure tests reach every path.
 */
#ifndef QUIRE_TABLE_INTERNAL_H
#define QUIRE_TABLE_INTERNAL_H

#include "table.h"

/* An append-only string. After any failed allocation `failed` stays set and every further append
 * is a no-op, so a renderer appends unconditionally and checks once, in table__buf_finish(). */
struct table__buf {
    char *data; /* NUL-terminated while !failed and data != NULL */
    size_t len, cap;
    bool failed;
};

void table__buf_putn(struct table__buf *b, const char *s, size_t n);
void table__buf_puts(struct table__buf *b, const char *s);
void table__buf_putc(struct table__buf *b, char c);
void table__buf_printf(struct table__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Returns the string (you now own it; "" when nothing was appended), or NULL when an allocation
 * failed or one fails now. The buffer is released either way. */
char *table__buf_finish(struct table__buf *b);
/* Releases the buffer without returning it. */
void table__buf_release(struct table__buf *b);

/* An array of n_rows * n_cols cell indices into t->cells (row-major), -1 where no cell covers the
 * position. Cells reaching outside the grid are clipped, so a corrupt table cannot make this
 * write out of bounds. Caller frees; NULL on ENOMEM. */
int *table__cover_map(const struct table *t);

/* Appends a 1x1 or larger cell at the end of t->cells without checking overlap or order; the
 * OTSL parser, which builds cells in row-major order and checks the grammar itself, uses it.
 * Takes ownership of `text` (also on failure). Returns 0 or QUIRE_ENOMEM. */
int table__append_cell(struct table *t, int row, int col, int rowspan, int colspan,
                       enum cell_kind kind, char *text);

/* Copies s, replacing every byte that is not part of valid UTF-8 with U+FFFD. Caller frees;
 * NULL on ENOMEM. */
char *table__utf8_sanitize(const char *s);

/* The renderers behind table_render(); opts is never NULL here. */
char *table__render_markdown(const struct table *t, const struct render_options *opts);
char *table__render_latex(const struct table *t, const struct render_options *opts);
char *table__render_html(const struct table *t);
char *table__render_csv(const struct table *t);
char *table__render_json(const struct table *t);

#endif
