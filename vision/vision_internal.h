/*
 * vision_internal.h - what the files of vision/ share; private to this folder.
 */
#ifndef QUIRE_VISION_INTERNAL_H
#define QUIRE_VISION_INTERNAL_H

#include "vision.h"

/* Sorts rulings (horizontal first, then by position) and merges collinear ones whose positions
 * differ by <= across_tol and whose extents overlap or leave a gap <= gap_tol (points). */
void vision__merge_rulings(struct ruling *r, size_t *n, double across_tol, double gap_tol);

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

#endif
