/*
 * textlayer_internal.h - the grid textlayer_extract() builds before it becomes a table; private to
 * this folder.
 */
#ifndef QUIRE_TEXTLAYER_INTERNAL_H
#define QUIRE_TEXTLAYER_INTERNAL_H

#include "textlayer.h"

/* The grid of a region: row and column edges (points) and, for every pair of neighbouring
 * positions, whether they are separated (false means the two positions belong to one cell). */
struct grid {
    int n_rows, n_cols;
    double *row_edges;   /* n_rows + 1, increasing */
    double *col_edges;   /* n_cols + 1, increasing */
    bool ruled_rows;     /* rows come from rulings (else from text lines) */
    bool *row_ruled;     /* n_rows + 1: this row edge is a ruling (else it lies between lines) */
    bool ruled_cols;     /* columns come from rulings (else from text gaps) */
    bool *col_ruled;     /* n_cols + 1: this column edge is a ruling (else a text gap) */
    bool *sep_right;     /* [r * n_cols + c]: position (r,c) is separated from (r,c+1) */
    bool *sep_down;      /* [r * n_cols + c]: position (r,c) is separated from (r+1,c) */
    int *line_row;       /* text rows: the row of each text line; -1 when ruled_rows */
    double header_rule;  /* y of the first inner horizontal rule (booktabs mid rule), or NAN */
    double mono_advance; /* points: the character advance when the text is monospaced, else 0 */
};

/* Builds the grid of `region` from its rulings and its text lines. Returns 0 or QUIRE_ENOMEM;
 * the grid is released with textlayer__grid_release() either way. */
int textlayer__grid_build(const struct page *page, const struct page_layout *layout,
                          const struct region *region, const struct text_line *lines,
                          size_t n_lines, struct grid *g);
void textlayer__grid_release(struct grid *g);

/* The column (0..n_cols-1) holding x, and the row holding y; values outside are clamped. */
int textlayer__col_of(const struct grid *g, double x);
int textlayer__row_of(const struct grid *g, double y);

#endif
