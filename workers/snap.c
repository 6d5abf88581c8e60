/*
 * snap.c - text-layer snapping for `[tables] engine = auto`: the model decides the structure, the
 * PDF's own words give the cell text.
 *
 * OTSL carries no cell boxes, so the grid's lines are found on the page: the region's rulings
 * (clustered within 3 pt) when they give exactly the model's number of rows or columns, else the
 * text (column gaps of the region's text lines; one text line per row). When an axis cannot be
 * matched to the model's grid, nothing is snapped: the model's text stays. Otherwise each cell
 * takes the words whose centre lies in its box, line by line, left to right; a cell whose box
 * holds no word keeps the model's text.
 */
#include "workers.h"

#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../vision/vision.h"

#define MERGE_PT 3.0

/* Clusters sorted positions within MERGE_PT in place; returns the count. */
static size_t cluster(double *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, q_cmp_double);
    size_t out = 0, start = 0;
    for (size_t i = 1; i <= n; i++)
        if (i == n || v[i] - v[i - 1] > MERGE_PT) {
            double sum = 0;
            for (size_t k = start; k < i; k++)
                sum += v[k];
            v[out++] = sum / (double)(i - start);
            start = i;
        }
    return out;
}

/* Grid lines along one axis from the rulings that cross most of the region. Returns true when
 * they give exactly `want` lines (n_cells + 1) into `lines`. */
static bool lines_from_rulings(const struct page_layout *layout, struct rect box, bool vertical,
                               double *lines, int want)
{
    size_t n = 0;
    double *v = q_malloc(sizeof *v * (layout->n_rulings + 1));
    if (!v)
        return false;
    for (size_t i = 0; i < layout->n_rulings; i++) {
        const struct ruling *r = &layout->rulings[i];
        if (vertical == ruling_is_horizontal(r))
            continue;
        double pos = vertical ? r->x0 : r->y0;
        double a0 = vertical ? r->y0 : r->x0, a1 = vertical ? r->y1 : r->x1;
        double b0 = vertical ? box.y0 : box.x0, b1 = vertical ? box.y1 : box.x1;
        double lo = vertical ? box.x0 : box.y0, hi = vertical ? box.x1 : box.y1;
        double overlap = fmin(a1, b1) - fmax(a0, b0);
        if (pos < lo - MERGE_PT || pos > hi + MERGE_PT || overlap < 0.3 * (b1 - b0))
            continue;
        v[n++] = pos;
    }
    n = cluster(v, n);
    bool ok = (int)n == want;
    if (ok)
        memcpy(lines, v, sizeof *v * n);
    free(v);
    return ok;
}

static double median_font(const struct page *page, const struct text_line *tl, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += tl[i].font_size;
    return n ? sum / (double)n : 10;
}

/* Grid lines from the text: column gaps, or one text line per row. */
static int lines_from_text(const struct page *page, const struct text_line *tl, size_t n_lines,
                           struct rect box, bool vertical, double *lines, int want, bool *ok)
{
    *ok = false;
    if (!vertical) {
        if ((int)n_lines + 1 != want)
            return 0;
        lines[0] = box.y0;
        for (size_t i = 1; i < n_lines; i++)
            lines[i] = (tl[i - 1].bbox.y1 + tl[i].bbox.y0) / 2;
        lines[n_lines] = box.y1;
        *ok = true;
        return 0;
    }
    struct column_gap *gaps = NULL;
    size_t n_gaps = 0;
    double font = median_font(page, tl, n_lines);
    int err = vision_column_gaps(page, tl, n_lines, box, fmax(0.6 * font, 3.0), &gaps, &n_gaps);
    if (err)
        return err;
    if ((int)n_gaps + 2 == want) {
        lines[0] = box.x0;
        for (size_t i = 0; i < n_gaps; i++)
            lines[i + 1] = gaps[i].core;
        lines[n_gaps + 1] = box.x1;
        *ok = true;
    }
    free(gaps);
    return 0;
}

/* The words of the lines whose centre lies in `box`, joined with spaces (NULL when none). */
static char *words_in(const struct page *page, const struct text_line *tl, size_t n_lines,
                      struct rect box, int *err)
{
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < n_lines; i++)
        for (size_t k = 0; k < tl[i].n_words; k++) {
            const struct word *w = &page->words[tl[i].words[k]];
            if (!rect_contains_point(box, (w->bbox.x0 + w->bbox.x1) / 2,
                                     (w->bbox.y0 + w->bbox.y1) / 2))
                continue;
            if (s->len)
                g_string_append_c(s, ' ');
            g_string_append(s, w->text);
        }
    char *text = s->len ? q_strdup(s->str) : NULL;
    if (s->len && !text)
        *err = QUIRE_ENOMEM;
    g_string_free(s, TRUE);
    return text;
}

int model_snap_text(const struct page *page, const struct page_layout *layout,
                    const struct region *region, struct table *t, int *n_snapped)
{
    *n_snapped = 0;
    if (!page->has_text_layer || region->rotation != 0 || t->n_rows < 1 || t->n_cols < 1)
        return 0; /* NEEDSWORK: sideways regions would need the turned view textlayer uses */
    struct text_line *tl = NULL;
    size_t n_lines = 0;
    int err = vision_text_lines(page, region->bbox, &tl, &n_lines);
    if (err)
        return err;
    double *xs = q_malloc(sizeof *xs * (size_t)(t->n_cols + 1));
    double *ys = q_malloc(sizeof *ys * (size_t)(t->n_rows + 1));
    bool x_ok = false, y_ok = false;
    if (!xs || !ys) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    x_ok = lines_from_rulings(layout, region->bbox, true, xs, t->n_cols + 1);
    if (!x_ok && (err = lines_from_text(page, tl, n_lines, region->bbox, true, xs, t->n_cols + 1,
                                        &x_ok)))
        goto out;
    y_ok = lines_from_rulings(layout, region->bbox, false, ys, t->n_rows + 1);
    if (!y_ok && (err = lines_from_text(page, tl, n_lines, region->bbox, false, ys,
                                        t->n_rows + 1, &y_ok)))
        goto out;
    if (!x_ok || !y_ok)
        goto out;
    for (size_t i = 0; i < t->n_cells && !err; i++) {
        struct table_cell *c = &t->cells[i];
        struct rect box = {xs[c->col], ys[c->row], xs[c->col + c->colspan],
                           ys[c->row + c->rowspan]};
        char *text = words_in(page, tl, n_lines, box, &err);
        c->has_bbox = true;
        c->bbox = box;
        if (!text)
            continue;
        free(c->text);
        c->text = text;
        (*n_snapped)++;
    }
out:
    free(xs);
    free(ys);
    vision_text_lines_free(tl, n_lines);
    return err;
}
