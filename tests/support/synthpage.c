/*
 * tests/support/synthpage.c - synthetic pages for the vision/ and textlayer/ tests: words placed
 * by hand and lines drawn into a white raster, so every expected value is known exactly.
 */
#include "synthpage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct page *synth_page_new(double width, double height)
{
    struct page *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->width = width;
    p->height = height;
    p->raster.dpi = SYNTH_DPI;
    p->raster.width = (int)(width * SYNTH_DPI / 72);
    p->raster.height = (int)(height * SYNTH_DPI / 72);
    p->raster.gray = malloc((size_t)p->raster.width * (size_t)p->raster.height);
    assert_non_null(p->raster.gray);
    memset(p->raster.gray, 255, (size_t)p->raster.width * (size_t)p->raster.height);
    return p;
}

/* Fills the rectangle (points) with grey level `gray` in the raster. */
void synth_shade(struct page *p, double x0, double y0, double x1, double y1, unsigned char gray)
{
    double s = SYNTH_DPI / 72;
    for (int y = (int)(y0 * s); y < (int)ceil(y1 * s) && y < p->raster.height; y++)
        for (int x = (int)(x0 * s); x < (int)ceil(x1 * s) && x < p->raster.width; x++)
            p->raster.gray[(size_t)y * (size_t)p->raster.width + (size_t)x] = gray;
}

void synth_fill(struct page *p, double x0, double y0, double x1, double y1)
{
    synth_shade(p, x0, y0, x1, y1, 0);
}

void synth_hline(struct page *p, double x0, double x1, double y)
{
    synth_fill(p, x0, y - 0.5, x1, y + 0.5);
}
void synth_vline(struct page *p, double x, double y0, double y1)
{
    synth_fill(p, x - 0.5, y0, x + 0.5, y1);
}

/* Adds one word with its top-left at (x, y); 0.5 em per character. Returns its right edge. */
double synth_word(struct page *p, double x, double y, double fs, bool bold, const char *text)
{
    p->words = realloc(p->words, sizeof *p->words * (p->n_words + 1));
    assert_non_null(p->words);
    double w = 0.5 * fs * (double)strlen(text);
    p->words[p->n_words++] = (struct word){strdup(text), {x, y, x + w, y + fs}, fs, bold, 0, 0};
    p->has_text_layer = true;
    return x + w;
}

/* Adds the words of `text` from (x, y) with word spaces of 0.28 em; returns the right edge. */
double synth_text(struct page *p, double x, double y, double fs, bool bold, const char *s)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    double right = x;
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
        x = (right = synth_word(p, x, y, fs, bold, t)) + 0.28 * fs;
    return right;
}
