/*
 * rulings.c - ruling lines from the page raster.
 *
 * A ruling is a long, thin run of ink. We find, on every pixel row, the runs of dark pixels at
 * least min_ruling_length long; runs on neighbouring rows that overlap are one stroke (union-find);
 * a stroke no thicker than max_ruling_thickness becomes a horizontal ruling. Vertical rulings are
 * the same on pixel columns. Collinear pieces separated by a small gap (dashed lines, a cell border
 * broken by anti-aliasing) are merged afterwards.
 *
 * Text never produces rulings here in practice: letters are shorter than min_ruling_length, and
 * the caller (vision.c) also drops rulings that lie inside a word's box (underlines of a heading,
 * the stem of a huge letter).
 */
#include "vision_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A run of ink along the scan direction on one scan line. */
struct run {
    int line;       /* pixel row (horizontal scan) or column (vertical scan) */
    int start, end; /* inclusive */
    int parent;     /* union-find */
};

static int uf_find(struct run *r, int i)
{
    while (r[i].parent != i) {
        r[i].parent = r[r[i].parent].parent;
        i = r[i].parent;
    }
    return i;
}

static void uf_union(struct run *r, int a, int b)
{
    a = uf_find(r, a);
    b = uf_find(r, b);
    if (a != b)
        r[a > b ? a : b].parent = a < b ? a : b;
}

static inline bool dark(const struct raster *ras, int x, int y, int threshold)
{
    return ras->gray[(size_t)y * (size_t)ras->width + (size_t)x] < threshold;
}

/* Collects the long runs along one direction. vertical=false scans rows (runs along x). */
static int collect_runs(const struct raster *ras, bool vertical, int min_len, int threshold,
                        struct run **runs, size_t *n, size_t *cap, int **line_start)
{
    int lines = vertical ? ras->width : ras->height;
    int len = vertical ? ras->height : ras->width;
    int *starts = q_malloc(sizeof(int) * ((size_t)lines + 1));
    if (!starts)
        return QUIRE_ENOMEM;
    for (int l = 0; l < lines; l++) {
        starts[l] = (int)*n;
        int i = 0;
        while (i < len) {
            int x = vertical ? l : i, y = vertical ? i : l;
            if (!dark(ras, x, y, threshold)) {
                i++;
                continue;
            }
            int s = i;
            while (i < len && dark(ras, vertical ? l : i, vertical ? i : l, threshold))
                i++;
            if (i - s >= min_len) {
                if (q_grow((void **)runs, sizeof(struct run), cap, *n + 1)) {
                    free(starts);
                    return QUIRE_ENOMEM;
                }
                (*runs)[*n] = (struct run){l, s, i - 1, (int)*n};
                (*n)++;
            }
        }
    }
    starts[lines] = (int)*n;
    *line_start = starts;
    return 0;
}

/* Bounding box of a stroke, in pixels along (start/end) and across (first/last line). */
struct stroke {
    int first, last, start, end;
    int root;
};

static int push_ruling(struct ruling **out, size_t *n, size_t *cap, struct ruling r)
{
    if (q_grow((void **)out, sizeof(struct ruling), cap, *n + 1))
        return QUIRE_ENOMEM;
    (*out)[(*n)++] = r;
    return 0;
}

static int find_direction(const struct raster *ras, const struct vision_options *o, bool vertical,
                          struct ruling **out, size_t *n_out, size_t *cap_out)
{
    double px_per_pt = ras->dpi / 72.0;
    int min_len = (int)ceil(o->min_ruling_length * px_per_pt);
    int max_thick = (int)floor(o->max_ruling_thickness * px_per_pt) + 1;
    struct run *runs = NULL;
    size_t n = 0, cap = 0;
    int *starts = NULL;
    int err = collect_runs(ras, vertical, min_len < 2 ? 2 : min_len, o->dark_threshold, &runs, &n,
                           &cap, &starts);
    if (err)
        goto out;
    int lines = vertical ? ras->width : ras->height;
    /* Join overlapping runs on neighbouring scan lines (both lists are sorted by start). */
    for (int l = 1; l < lines; l++) {
        int a = starts[l - 1], b = starts[l];
        while (a < starts[l] && b < starts[l + 1]) {
            if (runs[a].end >= runs[b].start && runs[b].end >= runs[a].start)
                uf_union(runs, a, b);
            if (runs[a].end < runs[b].end)
                a++;
            else
                b++;
        }
    }
    /* Strokes: one per union-find root, indexed through the root's run. */
    struct stroke *st = q_malloc(sizeof(struct stroke) * (n ? n : 1));
    if (!st) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        st[i].root = -1;
    for (size_t i = 0; i < n; i++) {
        int r = uf_find(runs, (int)i);
        struct stroke *s = &st[r];
        if (s->root < 0) {
            *s = (struct stroke){runs[i].line, runs[i].line, runs[i].start, runs[i].end, r};
            continue;
        }
        if (runs[i].line < s->first)
            s->first = runs[i].line;
        if (runs[i].line > s->last)
            s->last = runs[i].line;
        if (runs[i].start < s->start)
            s->start = runs[i].start;
        if (runs[i].end > s->end)
            s->end = runs[i].end;
    }
    double pt = 72.0 / ras->dpi;
    for (size_t i = 0; i < n && !err; i++) {
        struct stroke *s = &st[i];
        if (s->root != (int)i)
            continue;
        int thick = s->last - s->first + 1;
        if (thick > max_thick)
            continue; /* a filled area, not a line */
        double across = (s->first + s->last + 1) / 2.0 * pt;
        double a0 = s->start * pt, a1 = (s->end + 1) * pt;
        struct ruling r = vertical ? (struct ruling){across, a0, across, a1, thick * pt}
                                   : (struct ruling){a0, across, a1, across, thick * pt};
        err = push_ruling(out, n_out, cap_out, r);
    }
    free(st);
out:
    free(starts);
    free(runs);
    return err;
}

static int cmp_ruling(const void *a, const void *b)
{
    const struct ruling *p = a, *q = b;
    bool hp = ruling_is_horizontal(p), hq = ruling_is_horizontal(q);
    if (hp != hq)
        return hp ? -1 : 1;
    double pa = hp ? p->y0 : p->x0, qa = hq ? q->y0 : q->x0;
    if (pa != qa)
        return pa < qa ? -1 : 1;
    double ps = hp ? p->x0 : p->y0, qs = hq ? q->x0 : q->y0;
    return ps < qs ? -1 : ps > qs;
}

void vision__merge_rulings(struct ruling *r, size_t *n, double across_tol, double gap_tol)
{
    q_sort(r, *n, sizeof *r, cmp_ruling);
    /* Merge each ruling into an earlier collinear one it touches; repeat until stable. */
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < *n; i++) {
            for (size_t j = i + 1; j < *n; j++) {
                bool h = ruling_is_horizontal(&r[i]);
                if (h != ruling_is_horizontal(&r[j]))
                    break;
                double ai = h ? r[i].y0 : r[i].x0, aj = h ? r[j].y0 : r[j].x0;
                if (aj - ai > across_tol)
                    break;
                double si = h ? r[i].x0 : r[i].y0, ei = h ? r[i].x1 : r[i].y1;
                double sj = h ? r[j].x0 : r[j].y0, ej = h ? r[j].x1 : r[j].y1;
                if (sj > ei + gap_tol || si > ej + gap_tol)
                    continue;
                double s = si < sj ? si : sj, e = ei > ej ? ei : ej;
                double li = ei - si, lj = ej - sj;
                double a = (ai * li + aj * lj) / (li + lj);
                double th = r[i].thickness > r[j].thickness ? r[i].thickness : r[j].thickness;
                r[i] = h ? (struct ruling){s, a, e, a, th} : (struct ruling){a, s, a, e, th};
                memmove(&r[j], &r[j + 1], (*n - j - 1) * sizeof *r);
                (*n)--;
                j--;
                changed = true;
            }
        }
    }
    q_sort(r, *n, sizeof *r, cmp_ruling);
}

int vision_find_rulings(const struct raster *raster, const struct vision_options *opts,
                        struct ruling **rulings, size_t *n, size_t *cap)
{
    struct vision_options defaults;
    if (!opts) {
        vision_options_init(&defaults);
        opts = &defaults;
    }
    if (!raster || !raster->gray || raster->width <= 0 || raster->height <= 0 || raster->dpi <= 0)
        return 0;
    size_t first = *n;
    int err = find_direction(raster, opts, false, rulings, n, cap);
    if (!err)
        err = find_direction(raster, opts, true, rulings, n, cap);
    if (err)
        return err;
    size_t m = *n - first;
    vision__merge_rulings(*rulings + first, &m, 1.5 * 72.0 / raster->dpi + 0.5, 2.5);
    *n = first + m;
    return 0;
}
