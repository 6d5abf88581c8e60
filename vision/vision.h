/*
 * vision/vision.h - where the tables are on a page: ruling lines and table regions.
 *
 * What it does: vision_analyze() looks at one `struct page` (its grayscale raster and, when there
 * is one, its text layer) and returns the page's ruling lines and the regions that hold tables.
 *
 * Design:
 *  - Rulings come from the raster: runs of dark pixels at least min_ruling_length long, grouped
 *    across neighbouring pixel rows (columns) into strokes; a stroke no thicker than
 *    max_ruling_thickness is a ruling (a thin filled rectangle counts, a filled box does not).
 *    Collinear pieces with a small gap are merged; rulings inside a word's box are dropped.
 *  - Ruled regions (REGION_RULED): horizontal and vertical rulings that touch (within 3 pt) form a
 *    network (union-find). One with >= 2 of each and inner rulings is a table when words fill
 *    >= 3 and >= 20% of its grid positions (and, without an inner vertical, form >= 2 aligned
 *    columns); a bare frame or a letterhead's boxes is not. When most of its text lines carry a
 *    short phrase in the same font just beside it (a label column outside the rules), the
 *    region takes that column in.
 *  - Rule-only regions (REGION_HRULES, booktabs): a chain of long horizontal rules of about the
 *    same extent where the text between each pair of neighbouring rules forms >= 2 columns and
 *    is not prose (two page columns of sentences between a header rule and a footer rule).
 *  - Borderless regions (REGION_BORDERLESS), from the text layer: lines are cut into segments at
 *    gaps wider than ~0.6 em; long segments (>= 5 words over 30% of the text width, or a line of
 *    justified prose) are prose and take no part. Runs of lines with >= 2 remaining segments form
 *    blocks, grown upwards by up to three header lines; a block is a table when the projection of
 *    its words leaves >= 2 well supported columns, >= 3 lines (and half of them) fill two, and it
 *    is not a list (bullets or enumerators in the first of two columns) or a table of contents
 *    (dot leaders, or titles beside page numbers that only grow).
 *  - Sideways text (words of direction 90/180/270, e.g. a landscape table on a portrait page) is
 *    analysed on a turned view of the page (vision_rotated_view) and mapped back; each region
 *    records the direction of most of its words, which textlayer_extract() follows.
 *  - Overlapping regions are merged, except a ruled table inside a cell of another (its rulings
 *    a network of their own, apart from the outer grid's: a small table set in a form): both are
 *    kept, and textlayer_extract() reads the outer one without the inner one's rulings and
 *    words. A rule-only or borderless region directly above or below another one with the same
 *    left and right edges is merged with it (one table cut by a rule).
 *  - Pages without a text layer (scans) get ruled regions from the raster, and rule-only and
 *    borderless regions from the same detectors run on pseudo-words cut from the ink
 *    (inkwords.c): ink is 60 levels darker than the local paper (so zebra stripes and shaded
 *    bands are paper), glyph-sized connected components are levelled by the page's skew (a
 *    projection profile) and joined into words at the page's letter/word gap (Otsu over the
 *    glyph gaps); word boxes are padded like a text layer's. Pseudo-words have no text: a
 *    stand-in text marks dots (dot leaders), bullets and enumerators for the list and contents
 *    tests; the other text tests (numbers, page numbers, prose letters) see plain letters.
 *    Strokes of letters that the ruling detector took for rulings are dropped, as are rulings
 *    not clearly darker than the paper beside them (noise in a shaded band); long rules that
 *    climb across pixel rows on a skewed scan are recovered from the ink.
 *
 * Invariants of the result: rulings are horizontal (y0 == y1, x0 < x1) or vertical (x0 == x1,
 * y0 < y1), in points; regions do not overlap each other except a nested ruled region inside
 * its outer one (vision_region_nested) and are sorted top to bottom, then left to right;
 * confidence is in [0, 1].
 *
 * Ownership: vision_analyze() returns a layout the caller frees with page_layout_free(). The page
 * is only read. Thread-safety: no global state; any thread may call these on distinct (or even
 * the same, read-only) pages concurrently.
 */
#ifndef QUIRE_VISION_H
#define QUIRE_VISION_H

#include "../common/common.h"
#include "../ingest/ingest.h"

/* A ruling line in points; horizontal (y0 == y1) or vertical (x0 == x1). */
struct ruling {
    double x0, y0, x1, y1;
    double thickness; /* points */
    signed char fill; /* 0: a drawn line; -1 or +1: the edge of a dark filled area (a coloured
                         header band) that lies before it (above, left) or after it */
};

static inline bool ruling_is_horizontal(const struct ruling *r)
{
    return r->y0 == r->y1;
}

enum region_kind {
    REGION_RULED,      /* a network of horizontal and vertical rulings */
    REGION_HRULES,     /* horizontal rules only (booktabs style) */
    REGION_BORDERLESS, /* no rules: found from column alignment of the text */
};

struct region {
    struct rect bbox;  /* points */
    double confidence; /* 0..1 */
    enum region_kind kind;
    int rotation; /* direction of most text inside (0, 90, 180, 270; see struct word) */
};

struct page_layout {
    struct ruling *rulings; /* every ruling found on the page */
    size_t n_rulings;
    struct region *regions; /* table regions, top to bottom */
    size_t n_regions;
};

struct vision_options {
    double min_ruling_length;    /* points; shorter dark runs are not rulings (default 10) */
    double max_ruling_thickness; /* points; thicker runs are filled areas, not lines (default 4) */
    int dark_threshold;          /* a pixel darker than this (0..255) is ink (default 200: a
                                    hairline anti-aliased over two pixel rows stays dark) */
    bool borderless;       /* look for tables without rules in the text layer (default true) */
    double min_confidence; /* regions below this are dropped (default 0.5) */
};

/* Fills o with the documented defaults. */
void vision_options_init(struct vision_options *o);

/* True when `inner` is a ruled region set inside `outer`, another ruled region (its box within
 * outer's and at most 70% of its area): a table in a cell of another. Pure; any thread. */
bool vision_region_nested(const struct region *inner, const struct region *outer);

/* Finds the rulings and table regions of `page`. opts may be NULL (defaults). On success returns 0
 * and *out is a new layout owned by the caller (page_layout_free()); a page without raster and
 * without words yields an empty layout. Errors: QUIRE_EINVAL (page or out NULL), QUIRE_ENOMEM.
 * Any thread. */
int vision_analyze(const struct page *page, const struct vision_options *opts,
                   struct page_layout **out);

/* Frees a layout from vision_analyze(); NULL is a no-op. */
void page_layout_free(struct page_layout *layout);

/* Only the ruling detector: finds rulings in a raster and appends them to *rulings (grown with
 * q_grow; *n and *cap updated; the caller owns the array and frees it with free()). Exposed for
 * tests and tools. Returns 0 or QUIRE_ENOMEM. Any thread. */
int vision_find_rulings(const struct raster *raster, const struct vision_options *opts,
                        struct ruling **rulings, size_t *n, size_t *cap);

/* --- rotated text (shared with textlayer/) -------------------------------------------------- */
/* A view of `page` turned so that text of direction `rotation` (90, 180 or 270) reads left to
 * right: it holds only the words of that direction (plus one-character words whose box is wider
 * than tall, which Poppler cannot give a direction), with rotation 0 and boxes in the turned
 * frame; width and height are those of the turned page; no raster. The words' text is borrowed
 * from `page`, which must outlive the view. Free with vision_rotated_view_free(). Returns 0 or
 * QUIRE_ENOMEM. Any thread. */
int vision_rotated_view(const struct page *page, int rotation, struct page **view);
void vision_rotated_view_free(struct page *view); /* NULL is a no-op */
/* Maps a rectangle of the page into the turned frame of `rotation`, and back. */
struct rect vision_rect_to_view(const struct page *page, int rotation, struct rect r);
struct rect vision_rect_from_view(const struct page *page, int rotation, struct rect r);
/* Maps rulings into the turned frame (in place; horizontal and vertical swap for 90 and 270). */
void vision_rulings_to_view(const struct page *page, int rotation, struct ruling *r, size_t n);

/* --- text lines (shared with textlayer/) ---------------------------------------------------- */
/* One line of text: horizontal (rotation 0) words whose vertical extents overlap, left to right. */
struct text_line {
    struct rect bbox; /* union of its words' boxes */
    size_t *words;    /* indices into page->words, sorted by x0 */
    size_t n_words;
    double font_size; /* the largest font size among its words */
};

/* Groups the words of `page` whose centre lies inside `area` into text lines, sorted top to bottom
 * (then left to right). Words with a rotation other than 0 and empty words are skipped. On success
 * *lines is a new array of *n lines, freed with vision_text_lines_free(). Returns 0 or
 * QUIRE_ENOMEM. Any thread. */
int vision_text_lines(const struct page *page, struct rect area, struct text_line **lines,
                      size_t *n);
void vision_text_lines_free(struct text_line *lines, size_t n); /* NULL is a no-op */

/* A vertical band of whitespace that separates two columns of a block of text lines. */
struct column_gap {
    double x0, x1; /* the whole low-coverage band (points) */
    double core;   /* where the separator goes: the middle of its emptiest part (a run at
                      least 0.7 min_gap wide) */
};

/* Column separators of a block of lines: x-intervals at least min_gap wide that (almost) no line
 * covers with a word. Up to 15% of the lines (at least one, from four lines on) may cross a gap,
 * so a spanning header or an overflowing cell does not hide a column. Only words inside `area`
 * count. On success *gaps is a new array of *n gaps sorted by x (free()). Returns 0 or
 * QUIRE_ENOMEM. Any thread. */
int vision_column_gaps(const struct page *page, const struct text_line *lines, size_t n_lines,
                       struct rect area, double min_gap, struct column_gap **gaps, size_t *n);

/* --- the words of a scan, for a reader (inkwords.c) ---------------------------------------- */
/* What the scan detectors see of a page without a text layer, for reading its words: the page
 * turned upright (by -skew about its centre, so lines of text are level), the words cut from its
 * ink (boxes padded like a text layer's, font sizes; a stand-in text that is not the word's:
 * "W", ".", a bullet or "1."), and `layout`'s rulings and regions turned alike (each region the
 * box around its turned box; ruling lines levelled). No raster: the page's own is read through
 * vision_ink_view_to_page(). */
struct ink_view {
    struct page page;          /* upright frame; words owned here, their texts static */
    struct page_layout layout; /* turned copies, owned here */
    double skew;               /* radians (0: the page's frame) */
};

/* Builds the view of `page` (which needs a raster; a page with a text layer yields a view of
 * no words) with `layout` from vision_analyze(). On success *out is new, freed with
 * vision_ink_view_free(). Returns 0, QUIRE_EINVAL (NULL argument) or QUIRE_ENOMEM. Any
 * thread. */
int vision_ink_view(const struct page *page, const struct page_layout *layout,
                    struct ink_view **out);
void vision_ink_view_free(struct ink_view *view); /* NULL is a no-op */
/* A point of the upright frame in the page's frame (points), and a rectangle both ways (the box
 * around the turned one). */
void vision_ink_view_to_page(const struct ink_view *view, double *x, double *y);
struct rect vision_ink_view_rect_to_page(const struct ink_view *view, struct rect r);
struct rect vision_ink_view_rect_from_page(const struct ink_view *view, struct rect r);

#endif
