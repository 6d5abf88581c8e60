/*
 * table/table.h - what a table is inside quire, OTSL in and out, and the five renderers.
 *
 * A table is a grid of n_rows x n_cols positions covered by cells. Each cell is stored once, at
 * its top-left ("anchor") position, with its row and column span; positions a span covers hold
 * no cell of their own. Every engine (text layer, model) produces this model and every output
 * (Markdown, LaTeX, HTML, CSV, JSON, the database) is rendered from it, so all outputs agree.
 *
 * Invariants (checked by table_validate): cells do not overlap; every cell lies inside the grid;
 * spans are >= 1; cells are kept sorted row-major by anchor; positions covered by no cell count
 * as empty cells. header_rows <= n_rows.
 *
 * OTSL (Lysak et al., "Optimized Table Tokenization for Table Structure Recognition", as used in
 * Docling's DocTags): one token per grid position, row by row, each row ended by <nl>:
 *   <fcel> a cell with text (the text follows the token)  <ecel> an empty cell
 *   <ched> a column-header cell    <rhed> a row-header cell    <srow> a section-row cell
 *   <lcel> merged with the cell to its left   <ucel> merged with the cell above
 *   <xcel> merged both left and up (inside a 2-D span)
 * optionally wrapped in <otsl> ... </otsl> and preceded by <loc_N> tokens (0-499 grid) giving the
 * table's box in the image.
 *
 * Ownership: table_new/table_from_otsl return a table the caller frees with table_free(). Strings
 * returned by renderers are owned by the caller (free()). Cell text is UTF-8, owned by the table.
 * Thread-safety: a table is a plain value; distinct tables may be used from distinct threads.
 */
#ifndef QUIRE_TABLE_H
#define QUIRE_TABLE_H

#include "../common/common.h"

enum cell_kind {
    CELL_DATA = 0,       /* an ordinary cell (<fcel>/<ecel>) */
    CELL_COLUMN_HEADER,  /* <ched> */
    CELL_ROW_HEADER,     /* <rhed> */
    CELL_SECTION,        /* <srow>: a row that names a section of the table */
};

struct table_cell {
    int row, col;           /* anchor position, 0-based */
    int rowspan, colspan;   /* >= 1 */
    enum cell_kind kind;
    char *text;             /* UTF-8, never NULL ("" for an empty cell) */
    bool has_bbox;
    struct rect bbox;       /* in page points (top-left origin) when has_bbox */
};

struct table {
    int n_rows, n_cols;
    int header_rows;             /* leading rows that form the column header */
    struct table_cell *cells;    /* anchors, sorted row-major */
    size_t n_cells, cap_cells;
};

/* Returns an empty rows x cols table (no cells: every position empty), or NULL on ENOMEM.
 * rows, cols >= 0 (NULL when negative). */
struct table *table_new(int rows, int cols);
/* Frees the table and its cells' text. table_free(NULL) is a no-op. */
void table_free(struct table *t);
/* A deep copy, or NULL on ENOMEM. */
struct table *table_copy(const struct table *t);

/* Puts a cell at (row, col) spanning rowspan x colspan with a copy of `text` (NULL = "").
 * Replaces a cell anchored at the same position. Returns 0, QUIRE_EINVAL when the cell leaves the
 * grid or overlaps another cell, or QUIRE_ENOMEM. (Additions: QUIRE_EINVAL also for a span < 1 or
 * an unknown kind; a replacing cell has no bbox - set one through table_cell_at_mut.) */
int table_set_cell(struct table *t, int row, int col, int rowspan, int colspan,
                   enum cell_kind kind, const char *text);
/* The cell covering position (row, col), or NULL when that position is empty/uncovered. */
const struct table_cell *table_cell_at(const struct table *t, int row, int col);
struct table_cell *table_cell_at_mut(struct table *t, int row, int col);
/* Text at (row, col): the covering cell's text, or "" - never NULL. */
const char *table_text_at(const struct table *t, int row, int col);
/* Returns 0 when the invariants hold, QUIRE_EINVAL otherwise (with *msg set if msg != NULL). */
int table_validate(const struct table *t, char **msg);
/* True when a and b have the same size, header_rows and, at every position, the same cell
 * (anchor, span, kind, text). A position with no cell and a 1x1 empty data cell count as the same
 * empty cell (a column header inside the header rows, as OTSL writes it); bboxes are not compared
 * (OTSL does not carry them). O(rows x cols x cells): meant for tests and round-trip checks. */
bool table_equal(const struct table *a, const struct table *b);

/* --- tables that continue on the next page ------------------------------------------------ */
/* Where a table sits on its page, as much as table_continues() needs. Coordinates are points,
 * top-left origin. "Text" is any word of the page outside the table that overlaps the table's
 * x-range (a page number or running head off to the side still counts: it is measured, then
 * judged by where it lies). */
struct table_place {
    double page_width, page_height;
    struct rect bbox;      /* the table's box */
    double text_above;     /* y1 of the lowest such word above the table; < 0 when none */
    double text_below;     /* y0 of the highest such word below the table; < 0 when none */
    bool note_above;       /* the line of that text just above says the table goes on from a
                            * page before ("Table 3 (continued)"): table_note_continues() */
    bool note_below;       /* the line just below says it goes on ("Continued on next page") */
};

/* Whether a short line next to a table says the table continues: a word "continued", "cont.",
 * "cont'd", "contd", "ctd", "Fortsetzung", "suite", "continuación", "continua"/"continuação"
 * (any case, as a whole word: "Discontinued operations" is not one) in a line of at most 8
 * words. Pure; any thread. */
bool table_note_continues(const char *line);

/* Whether `next`, the first (topmost) table of a page, continues `prev`, the last (lowest) table
 * of the page before. `head` is the first part of prev's chain (prev itself when prev continues
 * nothing): a repeated header is compared with it. The rule, every part of which must hold:
 *  - prev ends in the bottom quarter of its page with nothing below it but a footer (text
 *    in the bottom 12% of the page) or a note that it continues (note_below); next starts in
 *    the top quarter of its page with nothing above it but a running head (text in the top 12%)
 *    or a caption saying it continues (note_above, "Table 3 (continued)").
 *  - Both have the same number of columns, at least two.
 *  - The columns line up: where every column of both tables has cell boxes (cells spanning one
 *    column, has_bbox), column c of one overlaps column c of the other by at least half the
 *    narrower of the two; otherwise the tables' left and right edges are within
 *    max(6 pt, 2% of the page width) of each other.
 *  - Headers: when the leading rows of next repeat head's header rows (head's first row when
 *    head has none) text for text, next continues prev and *repeated_header_rows (may be NULL)
 *    is set to their number; otherwise *repeated_header_rows is 0 and next must carry no header
 *    of its own (a new header starts a new table) unless a note says the table continues, or
 *    next's "header" reads as a body row of head: head has a header, and in every column where
 *    head's first body row holds a value (a number, amount, percentage, date) next's first row
 *    holds one too, while head's header there holds none (a table ruled between all rows gets
 *    its first row taken for a header on every page).
 * Pure; any thread. */
bool table_continues(const struct table *prev, const struct table_place *prev_place,
                     const struct table *next, const struct table_place *next_place,
                     const struct table *head, int *repeated_header_rows);

/* Joins the parts of a table that runs over several pages into one new table (*out, caller
 * frees): the rows of parts[0], then those of each later part without its first skip_rows[i]
 * rows (the header it repeats; skip_rows[0] is ignored and skip_rows may be NULL for none). The
 * header rows are parts[0]'s; cells keep their kind and text, not their boxes (which belong to
 * different pages). A cell reaching into the skipped rows from above keeps only its rows below
 * them. Returns 0, QUIRE_EINVAL (no parts, or parts with different column counts) or
 * QUIRE_ENOMEM. */
int table_merge(const struct table *const *parts, const int *skip_rows, size_t n_parts,
                struct table **out);

/* --- OTSL --------------------------------------------------------------------------------- */
/* Parses OTSL text into a new table (*out). With repair=false any grammar violation is an error;
 * with repair=true decodable near-misses are fixed (ragged rows padded with <ecel>, a misplaced
 * <lcel>/<ucel>/<xcel> turned into an empty cell, a missing </otsl> or final <nl> accepted) and
 * *repaired (if non-NULL) is set to the number of fixes made. Returns 0, QUIRE_EPARSE with *msg
 * (caller frees) naming the token index and the problem, or QUIRE_ENOMEM. */
int table_from_otsl(const char *otsl, bool repair, struct table **out, int *repaired, char **msg);
/* Details of table_from_otsl (additions to the contract above):
 *  - A tag is '<' [/] [A-Za-z0-9_]+ '>'; any other '<' is text. Tags other than the OTSL tokens
 *    and <loc_0>..<loc_499> are an error in strict mode and dropped (one repair each) in repair
 *    mode; <loc_N> is accepted before the first grid token only.
 *  - Text after a token that takes none (<ecel> <lcel> <ucel> <xcel> <nl> </otsl> <loc_N>) or
 *    before the first token is an error; repair keeps an <ecel>'s text (it becomes an <fcel>)
 *    and drops the rest. Cell text that is not valid UTF-8 is an error; repair replaces the bad
 *    bytes with U+FFFD.
 *  - Repair also drops tokens after </otsl>; a misplaced <lcel>/<ucel>/<xcel>, including a
 *    <ucel> whose span would not be a rectangle, becomes an empty cell. *repaired counts the
 *    tokens dropped, inserted (each padding <ecel>, a missing <nl> or </otsl>) or changed.
 *  - header_rows = the number of leading rows covered only by <ched> cells and empty 1x1 cells,
 *    with at least one <ched> cell in each.
 *  - Every position gets a cell (<ecel> gives an empty 1x1 data cell). *out is NULL on error.
 *  - Input of more than 2^24 grid positions is refused (QUIRE_EPARSE). */

/* Serializes to OTSL wrapped in <otsl>...</otsl> (no <loc_> tokens). Caller frees. NULL on ENOMEM.
 * Positions without a cell become <ecel>; inside the header rows every anchor is written as
 * <ched> (and an empty position as an empty <ched>), since OTSL marks header rows only so.
 * table_from_otsl(table_to_otsl(t)) is table_equal to t when cell text has no surrounding
 * whitespace and no tag-shaped "<name>" (OTSL has no escapes), the header rows hold column-header
 * (or empty) cells and the row below them is not made only of column headers; a table with no
 * rows comes back with no columns. */
char *table_to_otsl(const struct table *t);

/* --- renderers ------------------------------------------------------------------------------ */
enum table_format {
    TABLE_FORMAT_MARKDOWN,
    TABLE_FORMAT_LATEX,
    TABLE_FORMAT_HTML,
    TABLE_FORMAT_CSV,
    TABLE_FORMAT_JSON,
};

/* How Markdown (which has no spans) shows a spanning cell. */
enum span_policy {
    SPAN_REPEAT = 0,   /* repeat the text in every position the span covers */
    SPAN_EMPTY,        /* text in the anchor position only, covered positions empty */
};

struct render_options {
    enum span_policy markdown_spans; /* default SPAN_EMPTY */
    bool latex_booktabs;             /* \toprule/\midrule/\bottomrule instead of \hline */
};
/* Sets the documented defaults. */
void render_options_init(struct render_options *o);

/* Parses "md"/"markdown", "latex"/"tex", "html", "csv", "json". Returns false when unknown. */
bool table_format_parse(const char *name, enum table_format *out);
const char *table_format_name(enum table_format f);

/* Renders t in the given format. Returns a new NUL-terminated string the caller frees, or NULL
 * on ENOMEM. opts may be NULL (defaults).
 *  - Markdown: GitHub pipe table; the first row is the header row (an empty header row is emitted
 *    when header_rows == 0, since GitHub tables need one); '|' escaped as '\|', newlines as <br>.
 *    With header_rows > 1 the header rows after the first come out as the first body rows (GitHub
 *    tables have exactly one header row). A table with no columns renders as "". Spans per
 *    opts->markdown_spans.
 *  - LaTeX: a tabular environment with \multicolumn/\multirow (needs \usepackage{multirow}, and
 *    booktabs when asked); special characters escaped; compiles with pdflatex. Multi-line text
 *    becomes a nested one-column tabular. A table with no columns renders as a LaTeX comment.
 *    Non-ASCII text is passed through as UTF-8 (pdflatex knows Latin scripts; others need
 *    xelatex/lualatex).
 *  - HTML: <table> with <thead>/<tbody>, colspan/rowspan, text escaped, newlines as <br>. When
 *    a header cell spans below the header rows, <thead> takes those rows too (a rowspan cannot
 *    leave its row group).
 *  - CSV: RFC 4180 (CRLF line ends, fields quoted when needed), spans as SPAN_EMPTY. "" for a
 *    table with no columns; in a one-column table an empty field is written "" (no blank line).
 *  - JSON: {"rows":[[...]...],"spans":[[row,col,rowspan,colspan],...],"header_rows":N}; rows hold
 *    the text of every position (covered positions ""), spans list only cells larger than 1x1.
 *    Bytes that are not valid UTF-8 come out as U+FFFD. */
char *table_render(const struct table *t, enum table_format f, const struct render_options *opts);

#endif
