/*
 * tests/support/pdfgen.h - build real PDFs with cairo for tests and for tools/gentables.
 *
 * quire's tests never ship third-party PDFs: they draw the PDFs they need with cairo's PDF
 * surface, so every test knows exactly which text, rules and tables are on each page. This module
 * wraps cairo in a few calls a test can read at a glance: open a document, draw text, rules and
 * boxes, lay out a whole table in one of the usual styles (full grid, booktabs, horizontal rules,
 * borderless, zebra) with merged and multi-line cells, and write the broken files quire must
 * reject (truncated, not a PDF, encrypted).
 *
 * Design: coordinates are PDF points with the origin at the page's top-left and y growing
 * downwards (the same convention as struct rect in common/common.h and as poppler-glib reports
 * text boxes). Text uses cairo's "toy" font API (cairo_select_font_face/cairo_show_text): fonts
 * resolve through fontconfig, so a family that is not installed silently falls back to the
 * default face; pdfgen_font_installed() tells whether a family is really there. No pango.
 * Output is deterministic: the PDF's creation date is pinned, so the same calls give the same
 * bytes.
 *
 * Invariants: a document always has a current page (the first one exists from pdfgen_doc_new);
 * after pdfgen_doc_close() only pdfgen_doc_free() may be called.
 *
 * Ownership: pdfgen_doc_new() returns a document the caller releases with pdfgen_doc_free()
 * (which also closes it when the caller did not). Strings and arrays passed in are only read
 * during the call. Thread-safety: a document is used by one thread at a time; distinct documents
 * may be built in parallel.
 */
#ifndef QUIRE_PDFGEN_H
#define QUIRE_PDFGEN_H

#include <stdbool.h>
#include <stddef.h>

#include "../../common/common.h"

/* Page sizes in points (portrait); swap for landscape. */
#define PDFGEN_A4_WIDTH 595.276
#define PDFGEN_A4_HEIGHT 841.890
#define PDFGEN_LETTER_WIDTH 612.0
#define PDFGEN_LETTER_HEIGHT 792.0

struct pdfgen_doc; /* opaque */

struct pdfgen_font {
    const char *family; /* fontconfig family, e.g. "DejaVu Sans"; NULL = "DejaVu Sans" */
    double size;        /* points; <= 0 means 10 */
    bool bold;
    bool italic;
    double gray; /* text colour: 0 = black (the default), 1 = white */
};

enum pdfgen_align { PDFGEN_ALIGN_LEFT = 0, PDFGEN_ALIGN_CENTER, PDFGEN_ALIGN_RIGHT };

/* --- documents and pages ------------------------------------------------------------------ */
/* Creates `path` with a first, blank page of width x height points. Returns NULL and sets *err
 * (QUIRE_EINVAL for a bad size, QUIRE_EIO when the file cannot be created, QUIRE_ENOMEM). */
struct pdfgen_doc *pdfgen_doc_new(const char *path, double width, double height, int *err);
/* Finishes the current page and starts a new one of the given size. Returns 0 or QUIRE_EIO. */
int pdfgen_page_new(struct pdfgen_doc *doc, double width, double height);
/* Size and 1-based number of the current page. */
double pdfgen_page_width(const struct pdfgen_doc *doc);
double pdfgen_page_height(const struct pdfgen_doc *doc);
int pdfgen_page_number(const struct pdfgen_doc *doc);
/* Writes the last page and the file. Returns 0 or QUIRE_EIO (the file could not be written).
 * Calling it twice returns the first result. */
int pdfgen_doc_close(struct pdfgen_doc *doc);
/* Closes (if needed) and frees. pdfgen_doc_free(NULL) is a no-op. */
void pdfgen_doc_free(struct pdfgen_doc *doc);

/* Drops cairo's process-wide font caches so leak checkers see a clean exit. Call once at the end
 * of a program, after every document is freed, from the only thread still using cairo. */
void pdfgen_shutdown(void);

/* Writes a PDF of n_pages blank pages of one size. Returns 0 or a QUIRE_E* code. */
int pdfgen_write_blank(const char *path, int n_pages, double width, double height);

/* --- drawing ------------------------------------------------------------------------------ */
/* True when fontconfig has a face of this family installed (so cairo will not fall back). */
bool pdfgen_font_installed(const char *family);
/* Width in points that `utf8` (one line) takes in `font`. */
double pdfgen_text_width(struct pdfgen_doc *doc, const struct pdfgen_font *font, const char *utf8);
/* Ascent + descent of `font` (the height of one line without leading). */
double pdfgen_line_height(struct pdfgen_doc *doc, const struct pdfgen_font *font);
/* Draws one line of text with its baseline at y, starting at x (LEFT), centred on x (CENTER) or
 * ending at x (RIGHT). Returns the width drawn. Newlines are not interpreted. */
double pdfgen_text(struct pdfgen_doc *doc, double x, double y, const struct pdfgen_font *font,
                   enum pdfgen_align align, const char *utf8);
/* Word-wraps `utf8` into lines of at most `width` points (a single word wider than that gets a
 * line of its own) and draws them with the first line's top at y, line pitch 1.2 x font size.
 * '\n' forces a break. Returns the height used. With draw=false only measures. */
double pdfgen_paragraph(struct pdfgen_doc *doc, double x, double y, double width,
                        const struct pdfgen_font *font, const char *utf8, bool draw);
/* A straight line of the given width (points) in gray (0 = black, 1 = white). */
void pdfgen_line(struct pdfgen_doc *doc, double x0, double y0, double x1, double y1,
                 double line_width, double gray);
/* Strokes (line_width > 0) and/or fills (fill_gray in [0,1]; < 0 = no fill) a rectangle. */
void pdfgen_rect(struct pdfgen_doc *doc, struct rect r, double line_width, double fill_gray);

/* --- tables ------------------------------------------------------------------------------- */
enum pdfgen_rules {
    PDFGEN_RULES_GRID = 0, /* every cell boxed */
    PDFGEN_RULES_BOOKTABS, /* heavy top and bottom rule, light rule under the header */
    PDFGEN_RULES_HROWS,    /* a horizontal rule between every row and around the table */
    PDFGEN_RULES_NONE,     /* no rules at all (whitespace only) */
};

/* A merged cell: the text sits at (row, col) and covers rowspan x colspan positions. */
struct pdfgen_span {
    int row, col, rowspan, colspan;
};

struct pdfgen_table {
    int rows, cols;
    const char *const *cells;        /* rows*cols, row-major; NULL = empty. Text at positions a
                                      * span covers (other than its top-left) is ignored. '\n' in
                                      * a cell forces a line break. */
    const struct pdfgen_span *spans; /* may be NULL */
    int n_spans;
    const bool *section_rows;           /* rows entries or NULL: a row drawn bold with its text
                                         * across the table (give it a full-width span) */
    const enum pdfgen_align *col_align; /* cols entries or NULL = numbers right, text left */
};

struct pdfgen_table_style {
    enum pdfgen_rules rules;
    struct pdfgen_font font; /* body font */
    int header_rows;         /* leading rows drawn as the header */
    bool header_bold;
    bool header_center;
    double header_gray;      /* header background, < 0 or >= 1 = none */
    double header_text_gray; /* header text colour: 0 = black (default), 1 = white (on a dark
                                header_gray, as corporate reports set it) */
    double zebra_gray;       /* every second body row's background, < 0 or >= 1 = none */
    double pad_x, pad_y;     /* cell padding in points; < 0 = defaults (4, 2) */
    double wrap_width;       /* > 0: wrap cell text into lines at most this wide (points) */
    double line_width;       /* rule width; <= 0 = 0.5 */
};

/* Sets the defaults: full grid, DejaVu Sans 9 pt, one bold header row, no shading, no wrap. */
void pdfgen_table_style_init(struct pdfgen_table_style *style);

/* Lays the table out with its top-left corner at (x, y) and draws it. When cell_boxes is not
 * NULL it receives rows*cols rectangles (row-major): each position gets the box of the cell that
 * covers it (a merged cell's whole box). When bbox is not NULL it receives the table's box.
 * With draw=false nothing is drawn (measure first, then place). Returns 0, QUIRE_EINVAL (bad
 * shape, a span leaving the grid or overlapping another) or QUIRE_ENOMEM. */
int pdfgen_table(struct pdfgen_doc *doc, double x, double y, const struct pdfgen_table *table,
                 const struct pdfgen_table_style *style, bool draw, struct rect *cell_boxes,
                 struct rect *bbox);

/* --- broken and special files ------------------------------------------------------------- */
/* Writes a valid one-page PDF with a small table, cut after `keep` bytes (keep < its size, e.g.
 * half of it: pass 0 for half). Returns 0 or a QUIRE_E* code. */
int pdfgen_write_truncated(const char *path, size_t keep);
/* Writes a file that is not a PDF (plain text that mentions PDF but has no %PDF header). */
int pdfgen_write_not_pdf(const char *path);
/* Writes a one-page PDF encrypted with the standard security handler (RC4 128-bit, revision 3)
 * whose page shows the line `text` (ASCII, Helvetica 12 pt). user_password is needed to open it
 * ("" = opens without one but is still encrypted); owner_password may be NULL (= user's).
 * Written by hand, since cairo cannot encrypt. Returns 0 or a QUIRE_E* code. */
int pdfgen_write_encrypted(const char *path, const char *user_password, const char *owner_password,
                           const char *text);

#endif
