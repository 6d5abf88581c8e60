/*
 * rulings.c - ruling lines from the page raster.
 *
 * A ruling is a long, thin run of ink. We find, on every pixel row, the runs of dark pixels at
 * least min_ruling_length long; runs on neighbouring rows that overlap are one stroke (union-find);
 * a stroke no thicker than max_ruling_thickness becomes a horizontal ruling. Vertical rulings are
 * the same on pixel columns. Collinear pieces separated by a small gap (dashed lines, a cell
 * border broken by anti-aliasing) are merged afterwards.
 *
 * Shaded areas (a coloured header band, grey total rows): the inside of a fill is not line ink
 * (line_ink_map), so a fill no longer swallows the rules that touch or cross it, and a rule drawn
 * over it counts where it is clearly darker than the fill. A stroke along a fill is either a
 * rule drawn there or the fill's bare edge; bare edges count only for dark fills and when long,
 * and are marked (ruling.fill) so the caller keeps them only where text is set in the fill. A
 * stroke a little too thick (white letters close to a band's edge joined on) keeps its scan
 * lines that run its whole length.
 *
 * Text never produces rulings here in practice: letters are shorter than min_ruling_length, and
 * the caller (vision.c) also drops rulings that lie inside a word's box (underlines of a heading,
 * the stem of a huge letter) or run through one or along the white text of a dark band.
 */
#include "vision_internal.h"

#include <math.h>
#include <stdint.h>
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

/* How much darker than a fill a rule drawn over it must be to be told apart from it. */
#define FILL_CONTRAST 48
/* A fill at least this dark (mean grey) has edges that count as rulings: a coloured header or
 * title band; lighter ones (zebra rows, grey total rows) only shade the rows they are in. */
#define DARK_FILL 160

static inline bool dark(const struct raster *ras, int x, int y, int threshold)
{
    return ras->gray[(size_t)y * (size_t)ras->width + (size_t)x] < threshold;
}

/* The grey of the pixel at `pos` along scan line `line` (a column when vertical, else a row). */
static inline int gray_on_line(const struct raster *ras, bool vertical, int line, int pos)
{
    return vertical ? ras->gray[(size_t)pos * (size_t)ras->width + (size_t)line]
                    : ras->gray[(size_t)line * (size_t)ras->width + (size_t)pos];
}

/* Ink that can belong to a line, one byte per pixel (1 = yes): dark, and not inside a filled
 * area. A pixel is inside a fill when the four pixels `k` away diagonally are dark too and it is
 * not clearly darker than they are; on a line no thicker than 2k (or where two lines cross) at
 * least two of them are light, and a black rule drawn over a grey band stays darker than the
 * band. So a shaded band no longer swallows the rules that touch or cross it: its inside drops
 * out, its edges (within k) stay, and the rules running into it keep their length. One pass,
 * row by row, shared by both scan directions. NULL when out of memory. */
static unsigned char *line_ink_map(const struct raster *ras, int threshold, int k)
{
    int w = ras->width, h = ras->height;
    unsigned char *map = q_malloc((size_t)w * (size_t)h);
    if (!map)
        return NULL;
    for (int y = 0; y < h; y++) {
        const unsigned char *row = ras->gray + (size_t)y * (size_t)w;
        unsigned char *out = map + (size_t)y * (size_t)w;
        bool edge_row = y < k || y + k >= h;
        const unsigned char *up = edge_row ? row : row - (size_t)k * (size_t)w;
        const unsigned char *down = edge_row ? row : row + (size_t)k * (size_t)w;
        for (int x = 0; x < w; x++) {
            int v = row[x];
            if (v >= threshold) {
                out[x] = 0;
                continue;
            }
            if (edge_row || x < k || x + k >= w) {
                out[x] = 1;
                continue;
            }
            int c = up[x - k];
            c = up[x + k] > c ? up[x + k] : c; /* the lightest corner */
            c = down[x - k] > c ? down[x - k] : c;
            c = down[x + k] > c ? down[x + k] : c;
            out[x] = c >= threshold || v + FILL_CONTRAST < c;
        }
    }
    return map;
}

static int push_run(struct run **runs, size_t *n, size_t *cap, int line, int start, int end)
{
    if (q_grow((void **)runs, sizeof(struct run), cap, *n + 1))
        return QUIRE_ENOMEM;
    (*runs)[*n] = (struct run){line, start, end, (int)*n};
    (*n)++;
    return 0;
}

/* Collects the long runs along one direction, grouped by scan line and sorted by start within
 * one (*line_start[l] is the first run of line l). vertical=false scans rows (runs along x).
 * Columns are swept row by row too, keeping the open run of each column, so the raster is
 * read in memory order either way; the runs are then put in column order (counting sort). */
static int collect_runs(const struct raster *ras, const unsigned char *ink, bool vertical,
                        int min_len, struct run **runs, size_t *n, size_t *cap, int **line_start)
{
    int w = ras->width, h = ras->height;
    int lines = vertical ? w : h;
    int *starts = q_calloc((size_t)lines + 1, sizeof(int));
    int *open = vertical ? q_malloc(sizeof(int) * (size_t)w) : NULL;
    int err = !starts || (vertical && !open) ? QUIRE_ENOMEM : 0;
    if (!err && !vertical) {
        for (int y = 0; y < h && !err; y++) {
            const unsigned char *row = ink + (size_t)y * (size_t)w;
            starts[y] = (int)*n;
            for (int x = 0; x < w && !err;) {
                if (!row[x]) {
                    x++;
                    continue;
                }
                int s = x;
                while (x < w && row[x])
                    x++;
                if (x - s >= min_len)
                    err = push_run(runs, n, cap, y, s, x - 1);
            }
        }
        starts[h] = (int)*n;
    }
    if (!err && vertical) {
        size_t first = *n;
        for (int x = 0; x < w; x++)
            open[x] = -1;
        for (int y = 0; y <= h && !err; y++) {
            const unsigned char *row = y < h ? ink + (size_t)y * (size_t)w : NULL;
            for (int x = 0; x < w && !err; x++) {
                if (row && row[x]) {
                    if (open[x] < 0)
                        open[x] = y;
                } else if (open[x] >= 0) {
                    if (y - open[x] >= min_len)
                        err = push_run(runs, n, cap, x, open[x], y - 1);
                    open[x] = -1;
                }
            }
        }
        /* Counting sort by column; within a column the runs came in order already. */
        struct run *sorted = err ? NULL : q_malloc(sizeof(struct run) * (*n - first + 1));
        if (!err && !sorted)
            err = QUIRE_ENOMEM;
        if (!err) {
            for (size_t k = first; k < *n; k++)
                starts[(*runs)[k].line + 1]++;
            for (int x = 0; x < w; x++)
                starts[x + 1] += starts[x];
            for (size_t k = first; k < *n; k++)
                sorted[starts[(*runs)[k].line]++] = (*runs)[k];
            for (int x = w; x > 0; x--) /* starts[x] ran on to where x + 1 begins */
                starts[x] = starts[x - 1] + (int)first;
            starts[0] = (int)first;
            for (size_t k = first; k < *n; k++) {
                (*runs)[k] = sorted[k - first];
                (*runs)[k].parent = (int)k;
            }
        }
        free(sorted);
    }
    free(open);
    if (err) {
        free(starts);
        return err;
    }
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

/* Which side of a stroke a filled area lies on, and whether the stroke counts. A fill's edge
 * has the fill on one side and light on the other over (nearly) all its length; a line on the
 * page has light on at least one side over much of it. Returns 0 for a line, -1 or +1 for the
 * edge of a fill before (smaller coordinates) or after the stroke, 2 for the bare edge of a
 * light fill (a zebra band: not a rule). *drawn tells whether a line is drawn there: a line on
 * the page, or a rule along the fill's edge, darker than the fill. */
static int fill_side(const struct raster *ras, int threshold, bool vertical, const struct stroke *s,
                     bool *drawn)
{
    int lines = vertical ? ras->width : ras->height;
    int n = 0, light[2] = {0, 0};
    long fill_sum[2] = {0, 0};
    int ruled = 0; /* positions where the stroke is clearly darker than the fill beside it */
    for (int i = s->start; i <= s->end; i++, n++) {
        int beside[2];
        for (int side = 0; side < 2; side++) {
            int l = side ? s->last + 1 : s->first - 1;
            beside[side] = l < 0 || l >= lines ? 255 : gray_on_line(ras, vertical, l, i);
            light[side] += beside[side] >= threshold;
            fill_sum[side] += beside[side];
        }
        int darkest = 255;
        for (int l = s->first; l <= s->last; l++) {
            int v = gray_on_line(ras, vertical, l, i);
            darkest = v < darkest ? v : darkest;
        }
        int fill = beside[0] < beside[1] ? beside[0] : beside[1];
        ruled += darkest + FILL_CONTRAST < fill;
    }
    int side = 0;
    if (5 * light[1] >= 4 * n && 5 * light[0] <= n)
        side = -1;
    else if (5 * light[0] >= 4 * n && 5 * light[1] <= n)
        side = 1;
    *drawn = !side || 2 * ruled >= n;
    if (!*drawn && fill_sum[side < 0 ? 0 : 1] >= DARK_FILL * (long)n)
        return 2;
    return side;
}

static int fill_k(const struct raster *ras, const struct vision_options *o)
{
    return (int)floor(o->max_ruling_thickness * ras->dpi / 72.0) / 2 + 1;
}

double vision__fill_reach(const struct raster *ras, const struct vision_options *o)
{
    return ras->dpi > 0 ? fill_k(ras, o) * 72.0 / ras->dpi : 0;
}

bool vision__ruling_on_dark(const struct raster *ras, const struct vision_options *o,
                            const struct ruling *r)
{
    if (!ras->gray || ras->dpi <= 0)
        return false;
    bool h = ruling_is_horizontal(r);
    double px = ras->dpi / 72.0;
    int at = (int)lround((h ? r->y0 : r->x0) * px);
    int off = (int)ceil(r->thickness * px / 2) + 1;
    int from = (int)floor((h ? r->x0 : r->y0) * px), to = (int)ceil((h ? r->x1 : r->y1) * px);
    int lines = h ? ras->height : ras->width, len = h ? ras->width : ras->height;
    if (at - off < 0 || at + off >= lines || from < 0 || to > len || to <= from)
        return false;
    int both = 0;
    for (int i = from; i < to; i++)
        both += gray_on_line(ras, !h, at - off, i) < o->dark_threshold &&
                gray_on_line(ras, !h, at + off, i) < o->dark_threshold;
    return 2 * both >= to - from;
}

/* Appends the ruling of stroke s (no thicker than a line): a line at its middle, or the edge
 * of a dark fill where the fill ends. */
static int emit_stroke(const struct raster *ras, const struct vision_options *o, bool vertical,
                       const struct stroke *s, int min_len, struct ruling **out, size_t *n_out,
                       size_t *cap_out)
{
    /* The bare edges of a fill count when they are long (a letter's edge in it does not); a
     * fill's edge, ruled or not, lies where the fill ends, not in the middle of the strip found
     * along it. */
    bool drawn;
    int side = fill_side(ras, o->dark_threshold, vertical, s, &drawn);
    if (side == 2 || (!drawn && s->end - s->start + 1 < 2 * min_len))
        return 0;
    double pt = 72.0 / ras->dpi;
    int thick = s->last - s->first + 1;
    double across = (side < 0   ? s->last + 1
                     : side > 0 ? s->first
                                : (s->first + s->last + 1) / 2.0) *
                    pt;
    double a0 = s->start * pt, a1 = (s->end + 1) * pt;
    struct ruling r = vertical ? (struct ruling){across, a0, across, a1, thick * pt, 0}
                               : (struct ruling){a0, across, a1, across, thick * pt, 0};
    r.fill = drawn ? 0 : (signed char)side;
    return push_ruling(out, n_out, cap_out, r);
}

static int find_direction(const struct raster *ras, const unsigned char *ink,
                          const struct vision_options *o, bool vertical, struct ruling **out,
                          size_t *n_out, size_t *cap_out)
{
    double px_per_pt = ras->dpi / 72.0;
    int min_len = (int)ceil(o->min_ruling_length * px_per_pt);
    int max_thick = (int)floor(o->max_ruling_thickness * px_per_pt) + 1;
    struct run *runs = NULL;
    size_t n = 0, cap = 0;
    int *starts = NULL;
    int err = collect_runs(ras, ink, vertical, min_len < 2 ? 2 : min_len, &runs, &n, &cap, &starts);
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
    /* A stroke a little too thick may be a line or a fill's edge with the letters of text set
     * close to it joined on (white text near the edge of a dark band): its lines that run
     * (nearly) its whole length are the line. cover[] holds, for such strokes, the ink of each
     * of their scan lines; cover_at[root] where a stroke's part of it starts. */
    size_t *cover_at = q_malloc(sizeof(size_t) * (n ? n : 1)), cover_n = 0;
    for (size_t i = 0; cover_at && i < n; i++) {
        int thick = st[i].last - st[i].first + 1;
        cover_at[i] = SIZE_MAX;
        if (st[i].root == (int)i && thick > max_thick && thick <= 3 * max_thick) {
            cover_at[i] = cover_n;
            cover_n += (size_t)thick;
        }
    }
    int *cover = cover_at ? q_calloc(cover_n + 1, sizeof(int)) : NULL;
    if (!cover) {
        free(cover_at);
        free(st);
        err = QUIRE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int r = uf_find(runs, (int)i);
        if (cover_at[r] != SIZE_MAX)
            cover[cover_at[r] + (size_t)(runs[i].line - st[r].first)] +=
                runs[i].end - runs[i].start + 1;
    }
    for (size_t i = 0; i < n && !err; i++) {
        struct stroke *s = &st[i];
        if (s->root != (int)i)
            continue;
        if (s->last - s->first + 1 <= max_thick) {
            err = emit_stroke(ras, o, vertical, s, min_len, out, n_out, cap_out);
            continue;
        }
        if (cover_at[i] == SIZE_MAX)
            continue; /* a filled area, not a line */
        int len = s->end - s->start + 1;
        for (int l = s->first; l <= s->last && !err;) {
            if (10 * cover[cover_at[i] + (size_t)(l - s->first)] < 8 * len) {
                l++;
                continue;
            }
            int l1 = l;
            while (l1 + 1 <= s->last &&
                   10 * cover[cover_at[i] + (size_t)(l1 + 1 - s->first)] >= 8 * len)
                l1++;
            struct stroke core = {l, l1, s->start, s->end, s->root};
            if (l1 - l + 1 <= max_thick)
                err = emit_stroke(ras, o, vertical, &core, min_len, out, n_out, cap_out);
            l = l1 + 1;
        }
    }
    free(cover);
    free(cover_at);
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
                signed char fill = r[i].fill == r[j].fill ? r[i].fill : 0;
                r[i] = h ? (struct ruling){s, a, e, a, th, fill}
                         : (struct ruling){a, s, a, e, th, fill};
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
    unsigned char *ink = line_ink_map(raster, opts->dark_threshold, fill_k(raster, opts));
    if (!ink)
        return QUIRE_ENOMEM;
    int err = find_direction(raster, ink, opts, false, rulings, n, cap);
    if (!err)
        err = find_direction(raster, ink, opts, true, rulings, n, cap);
    free(ink);
    if (err)
        return err;
    size_t m = *n - first;
    vision__merge_rulings(*rulings + first, &m, 1.5 * 72.0 / raster->dpi + 0.5, 2.5);
    *n = first + m;
    return 0;
}
