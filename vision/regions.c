/*
 * regions.c - table regions from ruling lines.
 *
 * Ruled tables: horizontal and vertical rulings that cross or touch (within a few points, since
 * cell borders are often drawn as separate boxes that do not quite meet) are joined with
 * union-find. A network with >= 2 horizontal and >= 2 vertical rulings is a candidate; it is a
 * table when it has inner rulings (a bare frame around a paragraph is not a table) and, when the
 * network has no inner vertical, when its text forms >= 2 aligned columns.
 *
 * Booktabs tables: horizontal rules of about the same extent, stacked, where the text between
 * each pair of neighbouring rules forms aligned columns. A page header rule above a booktabs table
 * has prose (or nothing tabular) between it and the table's top rule, so it is not taken in.
 */
#include "vision_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOUCH_TOL 3.0 /* points: rulings closer than this are connected */
#define SAME_POS_TOL 3.0

static int uf_find(int *p, int i)
{
    while (p[i] != i) {
        p[i] = p[p[i]];
        i = p[i];
    }
    return i;
}

static bool touches(const struct ruling *h, const struct ruling *v)
{
    return v->x0 >= h->x0 - TOUCH_TOL && v->x0 <= h->x1 + TOUCH_TOL && h->y0 >= v->y0 - TOUCH_TOL &&
           h->y0 <= v->y1 + TOUCH_TOL;
}

/* Number of distinct positions (clustered within SAME_POS_TOL) strictly inside (lo, hi). */
static int inner_positions(const double *pos, size_t n, double lo, double hi)
{
    int count = 0;
    double last = -INFINITY;
    for (size_t i = 0; i < n; i++) { /* pos is sorted */
        if (pos[i] <= lo + SAME_POS_TOL || pos[i] >= hi - SAME_POS_TOL)
            continue;
        if (pos[i] - last > SAME_POS_TOL)
            count++;
        last = pos[i];
    }
    return count;
}

static size_t words_inside(const struct page *page, struct rect r)
{
    size_t n = 0;
    for (size_t i = 0; i < page->n_words; i++) {
        struct rect b = page->words[i].bbox;
        if (rect_contains_point(r, (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2))
            n++;
    }
    return n;
}

/* Index of the band of sorted positions pos[0..n) that holds v (0..n). */
static size_t band_index(const double *pos, size_t n, double v)
{
    size_t k = 0;
    while (k < n && pos[k] < v)
        k++;
    return k;
}

/* How many distinct grid positions (between the rulings' positions) hold a word's centre; -1
 * when out of memory. */
static long filled_cells(const struct page *page, struct rect box, const double *hy, size_t nh,
                         const double *vx, size_t nv)
{
    unsigned char *seen = q_calloc((nh + 1) * (nv + 1), 1);
    if (!seen)
        return -1;
    long total = 0;
    for (size_t i = 0; i < page->n_words; i++) {
        struct rect b = page->words[i].bbox;
        double cx = (b.x0 + b.x1) / 2, cy = (b.y0 + b.y1) / 2;
        if (!rect_contains_point(box, cx, cy))
            continue;
        size_t at = band_index(hy, nh, cy) * (nv + 1) + band_index(vx, nv, cx);
        total += !seen[at];
        seen[at] = 1;
    }
    free(seen);
    return total;
}

static int push_region(struct region **regions, size_t *n, size_t *cap, struct region r)
{
    if (q_grow((void **)regions, sizeof **regions, cap, *n + 1))
        return QUIRE_ENOMEM;
    (*regions)[(*n)++] = r;
    return 0;
}

/* Validates one network (members listed in idx) and appends its region. used[] marks the
 * rulings of an accepted network. */
static int network_region(const struct page *page, const struct ruling *r, const int *idx, size_t m,
                          bool *used, struct region **regions, size_t *n_regions, size_t *cap)
{
    size_t nh = 0, nv = 0;
    struct rect box = {INFINITY, INFINITY, -INFINITY, -INFINITY};
    double *hy = q_malloc(sizeof(double) * m), *vx = q_malloc(sizeof(double) * m);
    int err = 0;
    if (!hy || !vx) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < m; k++) {
        const struct ruling *q = &r[idx[k]];
        box = rect_union(box, (struct rect){q->x0, q->y0, q->x1, q->y1});
        if (ruling_is_horizontal(q))
            hy[nh++] = q->y0;
        else
            vx[nv++] = q->x0;
    }
    if (nh < 2 || nv < 2 || rect_width(box) < 20 || rect_height(box) < 8)
        goto out;
    q_sort(hy, nh, sizeof *hy, q_cmp_double);
    q_sort(vx, nv, sizeof *vx, q_cmp_double);
    int inner_h = inner_positions(hy, nh, box.y0, box.y1);
    int inner_v = inner_positions(vx, nv, box.x0, box.x1);
    double confidence;
    if (page->has_text_layer) {
        if (words_inside(page, box) < 2 || (inner_h == 0 && inner_v == 0))
            goto out;
        long filled = filled_cells(page, box, hy, nh, vx, nv);
        if (filled < 0) {
            err = QUIRE_ENOMEM;
            goto out;
        }
        if (filled < 3 || (double)filled < 0.2 * (inner_h + 1) * (inner_v + 1))
            goto out; /* boxes around a letterhead or a logo, not a table */
        if (inner_v == 0) {
            struct column_stats cs;
            err = vision__column_stats(page, box, &cs);
            if (err)
                goto out;
            if (cs.n_columns < 2 || cs.multi_lines < 2)
                goto out;
        }
        confidence = inner_v > 0 && inner_h > 0 ? 0.95 : 0.75;
    } else {
        if (inner_h + inner_v < 2 || (inner_v == 0 && inner_h < 2))
            goto out;
        confidence = inner_v > 0 && inner_h > 0 ? 0.9 : 0.6;
    }
    for (size_t k = 0; k < m; k++)
        used[idx[k]] = true;
    err = push_region(regions, n_regions, cap, (struct region){box, confidence, REGION_RULED, 0});
out:
    free(hy);
    free(vx);
    return err;
}

static bool same_extent(const struct ruling *a, const struct ruling *b)
{
    double w = fmax(a->x1 - a->x0, b->x1 - b->x0);
    double tol = 0.08 * w + 6;
    return fabs(a->x0 - b->x0) <= tol && fabs(a->x1 - b->x1) <= tol;
}

/* True when the text between two rules looks like table rows (or there is a little of it, as
 * between a top rule and a mid rule). *lines gets the number of text lines. *one_row is set
 * when the band could be a single row whose cells wrap onto many lines: one line across the
 * columns, the rest in one column each, no prose. */
static int tabular_band(const struct page *page, struct rect band, bool *tabular, bool *one_row,
                        int *lines)
{
    struct column_stats cs;
    int err = vision__column_stats(page, band, &cs);
    if (err)
        return err;
    *lines = cs.n_lines;
    bool cells = cs.n_lines > 0 && cs.n_columns >= 2 && cs.multi_lines >= 1 &&
                 (double)cs.prose_lines <= 0.3 * (double)cs.n_lines;
    /* Lenient on purpose: rows with wrapped cells add lines that fill one column. */
    *tabular = cells && (double)cs.multi_lines >= 0.2 * (double)cs.n_lines;
    *one_row = cells;
    return 0;
}

static bool overlaps_any(const struct region *regions, size_t n, struct rect r)
{
    for (size_t i = 0; i < n; i++)
        if (rect_overlap_area(regions[i].bbox, r) > 0)
            return true;
    return false;
}

static int hrule_regions(const struct page *page, const struct ruling *r, size_t n,
                         const bool *used, struct region **regions, size_t *n_regions, size_t *cap)
{
    int *h = q_malloc(sizeof(int) * (n + 1));
    int *chain = q_malloc(sizeof(int) * (n + 1));
    for (size_t i = 0; chain && i <= n; i++)
        chain[i] = -1;
    bool *taken = q_calloc(n + 1, sizeof(bool));
    int err = 0;
    if (!h || !taken || !chain) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    size_t first_region = *n_regions;
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) /* rulings are sorted: horizontals first, by y */
        if (ruling_is_horizontal(&r[i]) && !used[i] && r[i].x1 - r[i].x0 >= 40)
            h[nh++] = (int)i;
    for (size_t a = 0; a < nh; a++) {
        if (taken[a])
            continue;
        const struct ruling *top = &r[h[a]];
        if (overlaps_any(*regions, first_region,
                         (struct rect){top->x0, top->y0 - 1, top->x1, top->y0 + 1}))
            continue;
        /* Follow the chain of rules with the same extent while the bands stay tabular. */
        size_t last = a;
        int total_lines = 0;
        const struct ruling *prev = top;
        for (size_t b = a + 1; b < nh; b++) {
            const struct ruling *q = &r[h[b]];
            if (!same_extent(top, q) || q->y0 - prev->y0 < 2)
                continue;
            struct rect band = {fmin(prev->x0, q->x0) - 2, prev->y0, fmax(prev->x1, q->x1) + 2,
                                q->y0};
            bool tabular, one_row;
            int lines;
            err = tabular_band(page, band, &tabular, &one_row, &lines);
            if (err)
                goto out;
            /* Once the rules have framed a tabular band, a band holding one row whose cells
             * wrap onto many lines continues the table. */
            if (!tabular && !(one_row && last > a))
                break;
            total_lines += lines;
            last = b;
            taken[b] = true;
            chain[b] = (int)a;
            prev = q;
        }
        if (last == a || total_lines < 2)
            continue;
        struct rect box = {top->x0, top->y0, top->x1, r[h[last]].y0};
        for (size_t k = a + 1; k <= last; k++) {
            if (chain[k] != (int)a)
                continue;
            box.x0 = fmin(box.x0, r[h[k]].x0);
            box.x1 = fmax(box.x1, r[h[k]].x1);
        }
        if (overlaps_any(*regions, *n_regions, box))
            continue;
        err = push_region(regions, n_regions, cap, (struct region){box, 0.8, REGION_HRULES, 0});
        if (err)
            goto out;
    }
out:
    free(h);
    free(chain);
    free(taken);
    return err;
}

int vision__ruled_regions(const struct page *page, const struct ruling *r, size_t n,
                          struct region **regions, size_t *n_regions, size_t *cap)
{
    int err = 0;
    int *parent = q_malloc(sizeof(int) * (n + 1));
    int *idx = q_malloc(sizeof(int) * (n + 1));
    bool *used = q_calloc(n + 1, sizeof(bool));
    bool *done = q_calloc(n + 1, sizeof(bool));
    if (!parent || !idx || !used || !done) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        parent[i] = (int)i;
    for (size_t i = 0; i < n; i++) {
        if (!ruling_is_horizontal(&r[i]))
            continue;
        for (size_t j = 0; j < n; j++) {
            if (ruling_is_horizontal(&r[j]) || !touches(&r[i], &r[j]))
                continue;
            int a = uf_find(parent, (int)i), b = uf_find(parent, (int)j);
            if (a != b)
                parent[a > b ? a : b] = a < b ? a : b;
        }
    }
    for (size_t i = 0; i < n && !err; i++) {
        int root = uf_find(parent, (int)i);
        if (done[root])
            continue;
        done[root] = true;
        size_t m = 0;
        for (size_t j = i; j < n; j++)
            if (uf_find(parent, (int)j) == root)
                idx[m++] = (int)j;
        err = network_region(page, r, idx, m, used, regions, n_regions, cap);
    }
    if (!err && page->has_text_layer)
        err = hrule_regions(page, r, n, used, regions, n_regions, cap);
out:
    free(parent);
    free(idx);
    free(used);
    free(done);
    return err;
}
