/*
 * vision_internal.h - what the files of vision/ share; private to this folder.
 */
#ifndef QUIRE_VISION_INTERNAL_H
#define QUIRE_VISION_INTERNAL_H

#include "vision.h"

/* Sorts rulings (horizontal first, then by position) and merges collinear ones whose positions
 * differ by <= across_tol and whose extents overlap or leave a gap <= gap_tol (points). */
void vision__merge_rulings(struct ruling *r, size_t *n, double across_tol, double gap_tol);
/* How far (points) the ruling detector's edge of a dark fill reaches from the fill: the edge of
 * a light letter set in a dark band can lie this far outside the letter's box. */
double vision__fill_reach(const struct raster *ras, const struct vision_options *o);
/* True when ruling r lies on a dark band: dark just beyond it on both sides over half its
 * length or more. */
bool vision__ruling_on_dark(const struct raster *ras, const struct vision_options *o,
                            const struct ruling *r);

/* Regions from connected networks of rulings (REGION_RULED) and stacks of horizontal rules
 * (REGION_HRULES); appended to *regions. */
int vision__ruled_regions(const struct page *page, const struct ruling *rulings, size_t n,
                          struct region **regions, size_t *n_regions, size_t *cap);

/* Borderless tables found from the text alignment, outside the regions already found. */
int vision__borderless_regions(const struct page *page, const struct vision_options *o,
                               struct region **regions, size_t *n_regions, size_t *cap);

/* Column analysis of the text lines inside `area`: the number of columns the words form (gaps in
 * the projection of the words onto the x axis that no line crosses), and how many lines hold
 * words in >= 2 columns. Used to validate candidate regions. */
struct column_stats {
    int n_lines;
    int n_columns;
    int multi_lines; /* lines with words in >= 2 columns */
    int prose_lines; /* lines with a run of >= 6 words in one column (or, in monospaced type, one
                      * word space apart): sentences, not cells */
};
int vision__column_stats(const struct page *page, struct rect area, struct column_stats *out);

/* vision_column_gaps() with an explicit number of lines (tol) that may cross a gap. */
int vision__column_gaps(const struct page *page, const struct text_line *lines, size_t n_lines,
                        struct rect area, double min_gap, int tol, struct column_gap **gaps,
                        size_t *n);

/* The median font size of the page's horizontal words (10 when there are none). */
double vision__median_font(const struct page *page);

/* --- pseudo-words of a page without a text layer (inkwords.c) ------------------------------- */
/* A stand-in page whose words are cut from the ink of a scan: boxes and font sizes, with a
 * stand-in text ("W", or "." for a dot, "\u2022" for a bullet, "1." for an enumerator) that only
 * says what the detectors' text tests need. Words are in the upright frame: the page turned by
 * -skew about its centre, so that skewed lines of text are level. No raster. */
struct ink_page {
    struct page page;     /* has_text_layer is true; words owned here, texts static */
    double skew;          /* radians: text lines fall by tan(skew) per point to the right */
    double letter_height; /* points: the median height of the glyphs (0 when none) */
    struct ruling *rules; /* long horizontal rules the ruling detector misses on a skewed scan */
    size_t n_rules;       /* (upright frame, points; owned here) */
};

/* Builds the ink page of `page` (from its raster; a page without one yields no words), leaving
 * out the ink under the long ones of `rulings` (page frame). On success *out is new, freed with
 * vision__ink_page_free(). Returns 0 or QUIRE_ENOMEM. */
int vision__ink_page(const struct page *page, const struct ruling *rulings, size_t n_rulings,
                     struct ink_page **out);
void vision__ink_page_free(struct ink_page *ink); /* NULL is a no-op */
/* Rectangles and rulings between the page's frame and the ink page's upright frame (a turned
 * rectangle becomes the box around it). */
struct rect vision__ink_rect_to_upright(const struct ink_page *ink, struct rect r);
struct rect vision__ink_rect_from_upright(const struct ink_page *ink, struct rect r);
void vision__ink_rulings_to_upright(const struct ink_page *ink, struct ruling *r, size_t n);
/* Drops the rulings of a scan that are not clearly darker than the paper on both sides: runs of
 * noise inside a shaded band, which the fixed dark threshold takes for thin strokes. */
void vision__drop_faint_rulings(const struct raster *ras, struct ruling *r, size_t *n);

#endif
