/*
 * textlines.c - text lines and column gaps: the text-layer geometry that vision/ uses to find
 * borderless tables and textlayer/ uses to cut them into cells.
 *
 * Lines: words sorted by their vertical centre; a word joins the current line when its centre lies
 * inside the vertical extent of the line's first word, so words of one baseline (even across a
 * page's columns) form one line. Column gaps: the projection of the words onto the x axis, counted
 * once per line; an interval that no more than 15% of the lines cover, at least min_gap wide,
 * separates columns.
 */
#include "vision_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double word_cy(const struct word *w)
{
    return (w->bbox.y0 + w->bbox.y1) / 2;
}

struct sort_ctx_item {
    size_t index;
    double key;
};

static int cmp_item(const void *a, const void *b)
{
    const struct sort_ctx_item *p = a, *q = b;
    if (p->key != q->key)
        return p->key < q->key ? -1 : 1;
    return p->index < q->index ? -1 : p->index > q->index;
}

static int cmp_line(const void *a, const void *b)
{
    const struct text_line *p = a, *q = b;
    double ca = (p->bbox.y0 + p->bbox.y1) / 2, cb = (q->bbox.y0 + q->bbox.y1) / 2;
    if (ca != cb)
        return ca < cb ? -1 : 1;
    return p->bbox.x0 < q->bbox.x0 ? -1 : p->bbox.x0 > q->bbox.x0;
}

void vision_text_lines_free(struct text_line *lines, size_t n)
{
    if (!lines)
        return;
    for (size_t i = 0; i < n; i++)
        free(lines[i].words);
    free(lines);
}

static bool usable_word(const struct word *w)
{
    return w->rotation == 0 && w->text && w->text[0] && w->bbox.x1 > w->bbox.x0 &&
           w->bbox.y1 > w->bbox.y0;
}

int vision_text_lines(const struct page *page, struct rect area, struct text_line **lines,
                      size_t *n)
{
    *lines = NULL;
    *n = 0;
    struct sort_ctx_item *items = q_malloc(sizeof *items * (page->n_words + 1));
    if (!items)
        return QUIRE_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < page->n_words; i++) {
        const struct word *w = &page->words[i];
        double cx = (w->bbox.x0 + w->bbox.x1) / 2;
        if (usable_word(w) && rect_contains_point(area, cx, word_cy(w)))
            items[m++] = (struct sort_ctx_item){i, word_cy(w)};
    }
    q_sort(items, m, sizeof *items, cmp_item);
    struct text_line *out = NULL;
    size_t n_out = 0, cap = 0;
    size_t i = 0;
    int err = 0;
    while (i < m) {
        /* One line: the run of words whose centre falls inside the line's extent so far. */
        const struct word *w = &page->words[items[i].index];
        struct rect box = w->bbox;
        /* Words join while their centre lies in the first word's band: comparing with the
         * growing union would let a cell centred between two lines chain them together. */
        struct rect band = w->bbox;
        size_t j = i + 1;
        while (j < m) {
            const struct word *v = &page->words[items[j].index];
            double cy = word_cy(v);
            if (cy > band.y1 || cy < band.y0)
                break;
            double lo = v->bbox.y0 > band.y0 ? v->bbox.y0 : band.y0;
            double hi = v->bbox.y1 < band.y1 ? v->bbox.y1 : band.y1;
            double hmin = fmin(rect_height(v->bbox), rect_height(band));
            if (hi - lo < 0.5 * hmin)
                break;
            box = rect_union(box, v->bbox);
            j++;
        }
        if (q_grow((void **)&out, sizeof *out, &cap, n_out + 1)) {
            err = QUIRE_ENOMEM;
            break;
        }
        struct text_line *line = &out[n_out];
        line->words = q_malloc(sizeof(size_t) * (j - i));
        if (!line->words) {
            err = QUIRE_ENOMEM;
            break;
        }
        n_out++;
        /* Sort the line's words by x0. */
        for (size_t k = i; k < j; k++)
            items[k].key = page->words[items[k].index].bbox.x0;
        q_sort(items + i, j - i, sizeof *items, cmp_item);
        line->n_words = j - i;
        line->bbox = box;
        line->font_size = 0;
        for (size_t k = i; k < j; k++) {
            line->words[k - i] = items[k].index;
            double fs = page->words[items[k].index].font_size;
            if (fs > line->font_size)
                line->font_size = fs;
        }
        if (line->font_size <= 0)
            line->font_size = rect_height(box);
        i = j;
    }
    free(items);
    if (err) {
        vision_text_lines_free(out, n_out);
        return err;
    }
    q_sort(out, n_out, sizeof *out, cmp_line);
    *lines = out;
    *n = n_out;
    return 0;
}

int vision_column_gaps(const struct page *page, const struct text_line *lines, size_t n_lines,
                       struct rect area, double min_gap, struct column_gap **gaps, size_t *n)
{
    int tol = n_lines >= 4 ? (int)fmax(1.0, floor(0.15 * (double)n_lines)) : 0;
    return vision__column_gaps(page, lines, n_lines, area, min_gap, tol, gaps, n);
}

/* The length of the widest run of bins in [s, x) covered by at most `level` lines; *start is set
 * to where it begins (left as it is when there is none). */
static size_t widest_run(const int *count, size_t s, size_t x, int level, size_t *start)
{
    size_t best = 0;
    for (size_t y = s; y < x;) {
        if (count[y] > level) {
            y++;
            continue;
        }
        size_t t = y;
        while (y < x && count[y] <= level)
            y++;
        if (y - t > best) {
            best = y - t;
            *start = t;
        }
    }
    return best;
}

/* The widest run of bins in [s, x) at the lowest coverage level (from minc up, below the level
 * of the run already in *best_s, *best_len) that is at least `width` points wide; leaves the run
 * as it is when there is none. */
static void core_run(const int *count, size_t s, size_t x, int minc, double step, double width,
                     size_t *best_s, size_t *best_len)
{
    int found = count[*best_s];
    for (size_t y = *best_s; y < *best_s + *best_len; y++)
        found = count[y] > found ? count[y] : found;
    for (int level = minc; level < found; level++) {
        size_t bs = 0, bl = widest_run(count, s, x, level, &bs);
        if ((double)bl * step >= width) {
            *best_s = bs;
            *best_len = bl;
            return;
        }
    }
}

int vision__column_gaps(const struct page *page, const struct text_line *lines, size_t n_lines,
                        struct rect area, double min_gap, int tol, struct column_gap **gaps,
                        size_t *n)
{
    *gaps = NULL;
    *n = 0;
    const double step = 0.5; /* points per bin */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t l = 0; l < n_lines; l++) {
        for (size_t k = 0; k < lines[l].n_words; k++) {
            struct rect b = page->words[lines[l].words[k]].bbox;
            if (b.x0 < area.x0 - 1 || b.x1 > area.x1 + 1)
                continue;
            lo = fmin(lo, b.x0);
            hi = fmax(hi, b.x1);
        }
    }
    /* Words far off the page (a damaged file) must not blow up the projection. */
    if (page->width > 0) {
        lo = fmax(lo, -10.0);
        hi = fmin(hi, page->width + 10.0);
    }
    if (!(hi > lo) || hi - lo > 20000.0)
        return 0;
    size_t bins = (size_t)ceil((hi - lo) / step) + 1;
    int *count = q_calloc(bins, sizeof(int));
    int *mark = q_calloc(bins, sizeof(int));
    if (!count || !mark) {
        free(count);
        free(mark);
        return QUIRE_ENOMEM;
    }
    for (size_t l = 0; l < n_lines; l++) {
        for (size_t k = 0; k < lines[l].n_words; k++) {
            struct rect b = page->words[lines[l].words[k]].bbox;
            if (b.x0 < area.x0 - 1 || b.x1 > area.x1 + 1)
                continue;
            if (b.x1 < lo || b.x0 > hi)
                continue;
            size_t a = (size_t)((fmax(b.x0, lo) - lo) / step);
            size_t e = (size_t)((fmin(b.x1, hi) - lo) / step);
            for (size_t x = a; x <= e && x < bins; x++) {
                if (mark[x] != (int)l + 1) {
                    mark[x] = (int)l + 1;
                    count[x]++;
                }
            }
        }
    }
    struct column_gap *out = NULL;
    size_t n_out = 0, cap = 0;
    int err = 0;
    size_t x = 0;
    while (x < bins) {
        if (count[x] > tol) {
            x++;
            continue;
        }
        size_t s = x;
        int minc = count[x];
        while (x < bins && count[x] <= tol) {
            if (count[x] < minc)
                minc = count[x];
            x++;
        }
        if (s == 0 || x >= bins)
            continue; /* not between two columns */
        /* The core: the widest run at the lowest coverage level that is still min_gap wide. */
        size_t best_s = s, best_len = 0;
        for (int level = minc; level <= tol && (double)best_len * step < min_gap; level++)
            best_len = widest_run(count, s, x, level, &best_s);
        if ((double)best_len * step < min_gap)
            continue;
        /* A clear run at a lower level, narrower than min_gap but wider than a word space
         * (0.35 em when min_gap is 0.5 em, so it never falls between the words of a phrase),
         * places the separator better: a word of one line across the rest of the gap (a
         * header set wider than its column) keeps its cell. */
        core_run(count, s, x, minc, step, 0.7 * min_gap, &best_s, &best_len);
        if (q_grow((void **)&out, sizeof *out, &cap, n_out + 1)) {
            err = QUIRE_ENOMEM;
            break;
        }
        out[n_out++] = (struct column_gap){lo + (double)s * step, lo + (double)x * step,
                                           lo + ((double)best_s + (double)best_len / 2.0) * step};
    }
    free(count);
    free(mark);
    if (err) {
        free(out);
        return err;
    }
    *gaps = out;
    *n = n_out;
    return 0;
}

double vision__median_font(const struct page *page)
{
    size_t m = 0;
    double *fs = q_malloc(sizeof(double) * (page->n_words + 1));
    if (!fs)
        return 10.0;
    for (size_t i = 0; i < page->n_words; i++) {
        const struct word *w = &page->words[i];
        if (usable_word(w))
            fs[m++] = w->font_size > 0 ? w->font_size : rect_height(w->bbox);
    }
    double r = 10.0;
    if (m) {
        q_sort(fs, m, sizeof *fs, q_cmp_double);
        r = fs[m / 2];
    }
    free(fs);
    return r;
}
