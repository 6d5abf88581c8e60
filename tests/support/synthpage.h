/* tests/support/synthpage.h - synthetic pages (words and raster lines) for the page tests. */
#ifndef QUIRE_SYNTHPAGE_H
#define QUIRE_SYNTHPAGE_H

#include "../../ingest/ingest.h"

#define SYNTH_DPI 144.0 /* 2 pixels per point */

/* A blank page of width x height points with a white raster at SYNTH_DPI; free with page_free. */
struct page *synth_page_new(double width, double height);
/* Fills the rectangle (points) black in the raster. */
void synth_fill(struct page *p, double x0, double y0, double x1, double y1);
/* Fills it with grey level `gray` (0 black .. 255 white). */
void synth_shade(struct page *p, double x0, double y0, double x1, double y1, unsigned char gray);
/* A 1 pt horizontal (vertical) line from x0 to x1 at y (from y0 to y1 at x). */
void synth_hline(struct page *p, double x0, double x1, double y);
void synth_vline(struct page *p, double x, double y0, double y1);
/* Adds one word with its top-left at (x, y); 0.5 em per character. Returns its right edge. */
double synth_word(struct page *p, double x, double y, double fs, bool bold, const char *text);
/* Adds the words of `s` from (x, y) with word spaces of 0.28 em; returns the right edge. */
double synth_text(struct page *p, double x, double y, double fs, bool bold, const char *s);

#endif
