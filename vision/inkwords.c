/*
 * inkwords.c - words without text: the ink of a page that has no text layer (a scan), cut into
 * word boxes, so that the word-based detectors (rule-only and borderless tables) serve scans too.
 *
 * Design:
 *  - Binarize relative to the paper: a pixel is ink when it is 60 levels darker than the paper
 *    around it (the 90th percentile of its 24-pixel cell and the neighbouring cells), and darker
 *    than 190. Zebra stripes and shaded headers (0.7..0.95 gray) are the paper there, so they
 *    and the noise on them do not become ink; the faint dots of a leader on white paper do.
 *  - Connected components of ink (8-connected, from runs on pixel rows joined with union-find).
 *    The median height of glyph-sized blobs is the page's letter height h. Blobs taller than
 *    2.5 h (figures, bars, ruled grids, the frame of a box) and long thin ones (rules) are not
 *    glyphs; neither are specks of a few pixels.
 *  - Skew: the angle in [-2, 2] degrees that makes the blobs' bottoms fall on the fewest pixel
 *    rows (a projection profile, scored by the sum of squared row counts). Blob boxes are turned
 *    by it about the page centre; everything after works in that upright frame.
 *  - Words: glyph blobs side by side on a line (vertical overlap >= 30% of the smaller one) with a
 *    gap below the page's word gap limit, and accents or i-dots just above a letter, are one word
 *    (union-find). The limit splits the histogram of glyph-to-glyph gaps in two (Otsu): letters
 *    sit 0..0.2 em apart, words 0.3 em (proportional type) to 0.7 em (monospaced) apart.
 *  - Each word gets a stand-in text that the detectors' text tests can read: "." for a dot (so a
 *    run of them reads as a dot leader), "\u2022" for a lone filled round blob (a bullet), "1."
 *    for two to four glyphs ending in a dot on the baseline (an enumerator), and "W" otherwise
 *    (a capital: the case of a scanned letter is unknown, and the prose test that counts lines
 *    going on in lower case must not take every scanned line for a sentence running on).
 *    Its font size is the page's em (the 80th percentile of glyph heights, ascenders and
 *    capitals, over 0.75), or more for words taller than that (headings). Its box is the ink
 *    padded like a text layer's box: 0.1 em of side bearing each side, and from 0.8 em above to
 *    0.2 em below its baseline, so gaps and lines mean what they mean on a text layer.
 *  - On long rulings (>= 30 pt) the ink is left out: a thin rule's faint edges would break into
 *    speckles that read as words.
 *
 * NEEDSWORK: the 60-level contrast suits scans of black type; faint pencil or a photocopy's
 * grey type on grey paper wants a contrast measured from the page.
 */
#include "vision_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Stand-in texts of pseudo-words; read-only (struct word wants a char *). */
static char text_letters[] = "W";
static char text_dot[] = ".";
static char text_bullet[] = "\u2022";
static char text_enumerator[] = "1.";

struct blob {
    double x0, y0, x1, y1; /* pixels; in the upright frame once deskewed */
    int area;              /* ink pixels */
    int parent;            /* union-find for words */
};

struct ink_run {
    int y, x0, x1; /* inclusive */
    int parent;
};

static int run_find(struct ink_run *r, int i)
{
    while (r[i].parent != i) {
        r[i].parent = r[r[i].parent].parent;
        i = r[i].parent;
    }
    return i;
}

#define TILE 12     /* pixels: the cell of the paper-level map */
#define INK_MAX 190 /* no pixel lighter than this is ink */

/* The ink threshold of every TILE x TILE cell: 60 below the paper's level there (the 90th
 * percentile of the cell, or of a neighbour where that is darker), at most `global`: inside a
 * grey bar of a chart or a shaded band, noise must not turn into ink, while on white paper the
 * faint dots of a leader must. *out (free()) is tiles_x * tiles_y. */
static int tile_thresholds(const struct raster *ras, int global, uint8_t **out, int *tiles_x)
{
    int tx = (ras->width + TILE - 1) / TILE, ty = (ras->height + TILE - 1) / TILE;
    uint8_t *t = q_malloc((size_t)tx * (size_t)ty);
    if (!t)
        return QUIRE_ENOMEM;
    for (int j = 0; j < ty; j++)
        for (int i = 0; i < tx; i++) {
            int hist[256] = {0}, n = 0;
            for (int y = j * TILE; y < (j + 1) * TILE && y < ras->height; y++)
                for (int x = i * TILE; x < (i + 1) * TILE && x < ras->width; x += 2, n++)
                    hist[ras->gray[(size_t)y * (size_t)ras->width + (size_t)x]]++;
            int v = 255, above = 0;
            while (v > 0 && (above += hist[v]) < n / 10)
                v--;
            int thr = v - 60 < global ? v - 60 : global;
            t[(size_t)j * (size_t)tx + (size_t)i] = (uint8_t)(thr < 0 ? 0 : thr);
        }
    /* A cell on the edge of a grey area takes the lower threshold of its neighbours: its
     * percentile is the paper's, yet part of it is grey. */
    uint8_t *m = q_malloc((size_t)tx * (size_t)ty);
    if (!m) {
        free(t);
        return QUIRE_ENOMEM;
    }
    for (int j = 0; j < ty; j++)
        for (int i = 0; i < tx; i++) {
            uint8_t low = 255;
            for (int dj = -1; dj <= 1; dj++)
                for (int di = -1; di <= 1; di++)
                    if (j + dj >= 0 && j + dj < ty && i + di >= 0 && i + di < tx)
                        low = t[(size_t)(j + dj) * (size_t)tx + (size_t)(i + di)] < low
                                  ? t[(size_t)(j + dj) * (size_t)tx + (size_t)(i + di)]
                                  : low;
            m[(size_t)j * (size_t)tx + (size_t)i] = low;
        }
    free(t);
    t = m;
    *out = t;
    *tiles_x = tx;
    return 0;
}

/* Connected components of ink (pixels darker than their cell's threshold): *blobs (free())
 * gets their boxes. */
static int find_blobs(const struct raster *ras, int global, const uint8_t *erased,
                      struct blob **blobs, size_t *n_blobs)
{
    uint8_t *tiles = NULL;
    int tx = 0;
    if (tile_thresholds(ras, global, &tiles, &tx))
        return QUIRE_ENOMEM;
    struct ink_run *runs = NULL;
    size_t n = 0, cap = 0, prev_start = 0, prev_end = 0;
    int err = 0;
    for (int y = 0; y < ras->height && !err; y++) {
        const uint8_t *row = ras->gray + (size_t)y * (size_t)ras->width;
        const uint8_t *thr = tiles + (size_t)(y / TILE) * (size_t)tx;
        size_t start = n;
        const uint8_t *gone = erased + (size_t)y * (size_t)ras->width;
        for (int x = 0; x < ras->width; x++) {
            if (row[x] >= thr[x / TILE] || gone[x])
                continue;
            int x0 = x;
            while (x + 1 < ras->width && row[x + 1] < thr[(x + 1) / TILE] && !gone[x + 1])
                x++;
            if ((err = q_grow((void **)&runs, sizeof *runs, &cap, n + 1)))
                break;
            runs[n] = (struct ink_run){y, x0, x, (int)n};
            /* 8-connected to the runs of the row above that reach within one pixel. */
            for (size_t k = prev_start; k < prev_end; k++) {
                if (runs[k].x1 < x0 - 1)
                    continue;
                if (runs[k].x0 > x + 1)
                    break;
                int a = run_find(runs, (int)k), b = run_find(runs, (int)n);
                if (a != b)
                    runs[a > b ? a : b].parent = a < b ? a : b;
            }
            n++;
        }
        prev_start = start;
        prev_end = n;
    }
    struct blob *out = err ? NULL : q_malloc(sizeof *out * (n + 1));
    int *slot = err ? NULL : q_malloc(sizeof(int) * (n + 1));
    size_t m = 0;
    if (!err && (!out || !slot))
        err = QUIRE_ENOMEM;
    for (size_t i = 0; i < n && !err; i++) { /* a root comes before the runs it holds */
        int root = run_find(runs, (int)i);
        if ((size_t)root == i) {
            slot[i] = (int)m;
            out[m++] = (struct blob){runs[i].x0, runs[i].y, runs[i].x1 + 1, runs[i].y + 1, 0, 0};
        }
        struct blob *b = &out[slot[root]];
        b->x0 = fmin(b->x0, runs[i].x0);
        b->x1 = fmax(b->x1, runs[i].x1 + 1);
        b->y1 = fmax(b->y1, runs[i].y + 1);
        b->area += runs[i].x1 - runs[i].x0 + 1;
    }
    free(runs);
    free(slot);
    free(tiles);
    if (err) {
        free(out);
        return err;
    }
    *blobs = out;
    *n_blobs = m;
    return 0;
}

/* The height of blobs shaped like letters at quantile q (0 when there are too few). */
static double letter_height(const struct blob *b, size_t n, double max_h, double q)
{
    double *h = q_malloc(sizeof(double) * (n + 1));
    size_t m = 0;
    if (!h)
        return 0;
    for (size_t i = 0; i < n; i++) {
        double bh = b[i].y1 - b[i].y0, bw = b[i].x1 - b[i].x0;
        if (bh >= 4 && bh <= max_h && bw <= 3 * bh && b[i].area >= 6)
            h[m++] = bh;
    }
    double r = 0;
    if (m >= 10) {
        q_sort(h, m, sizeof *h, q_cmp_double);
        r = h[(size_t)(q * (double)(m - 1))];
    }
    free(h);
    return r;
}

static bool is_glyph(const struct blob *b, double h)
{
    double bw = b->x1 - b->x0, bh = b->y1 - b->y0;
    if (b->area < 3 || bh > 2.5 * h || bw > 30 * h)
        return false;
    return !(bw > 4 * h && bh < 0.35 * h); /* a rule */
}

/* The skew (radians) that lines the glyphs' bottoms up best: the projection of the bottoms onto
 * the y axis, turned by each candidate angle, with the largest sum of squared row counts. */
static double estimate_skew(const struct blob *b, size_t n, double cx, int height)
{
    int *rows = q_calloc((size_t)height + 64, sizeof(int));
    if (!rows || n < 20) {
        free(rows);
        return 0;
    }
    double best_angle = 0, best_score = -1;
    for (int pass = 0; pass < 2; pass++) {
        double centre = best_angle, step = pass == 0 ? 0.1 : 0.02, span = pass == 0 ? 2.0 : 0.1;
        for (double deg = centre - span; deg <= centre + span + 1e-9; deg += step) {
            double t = tan(deg * M_PI / 180);
            memset(rows, 0, sizeof(int) * ((size_t)height + 64));
            for (size_t i = 0; i < n; i++) {
                double y = b[i].y1 - ((b[i].x0 + b[i].x1) / 2 - cx) * t;
                int k = (int)lround(y) + 32;
                if (k >= 0 && k < height + 64)
                    rows[k]++;
            }
            double score = 0;
            for (int k = 0; k < height + 64; k++)
                score += (double)rows[k] * rows[k];
            if (score > best_score + 1e-9) {
                best_score = score;
                best_angle = deg;
            }
        }
    }
    free(rows);
    return best_angle * M_PI / 180;
}

static int blob_find(struct blob *b, int i)
{
    while (b[i].parent != i) {
        b[i].parent = b[b[i].parent].parent;
        i = b[i].parent;
    }
    return i;
}

static int cmp_blob_x(const void *a, const void *b)
{
    const struct blob *p = a, *q = b;
    return p->x0 < q->x0 ? -1 : p->x0 > q->x0;
}

/* The widest gap between two glyphs of one word (pixels): the gaps from each glyph to the next
 * one on its line (up to 1 em) split in two classes by Otsu's method, letter gaps and word gaps.
 * Letters sit 0..0.2 em apart, words 0.3 em (proportional type) to 0.7 em (monospaced) apart;
 * which split the page has depends on its type. b is sorted by x0. */
static double word_gap_limit(const struct blob *b, size_t n, double em)
{
    enum { BINS = 40 }; /* em / 40 each, up to 1 em */
    double hist[BINS] = {0}, total = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double best = INFINITY;
        for (size_t j = i + 1; j < n && b[j].x0 <= b[i].x1 + em; j++) {
            double overlap = fmin(b[i].y1, b[j].y1) - fmax(b[i].y0, b[j].y0);
            double gap = b[j].x0 - b[i].x1;
            if (gap >= 0 && overlap >= 0.5 * fmin(b[i].y1 - b[i].y0, b[j].y1 - b[j].y0))
                best = fmin(best, gap);
        }
        int k = (int)(best / em * BINS);
        if (best < INFINITY && k < BINS) {
            hist[k]++;
            total++;
            sum += k;
        }
    }
    if (total < 100)
        return 0.35 * em;
    double w0 = 0, sum0 = 0, best = -1;
    int split = 14;
    for (int k = 0; k < BINS - 1; k++) {
        w0 += hist[k];
        sum0 += k * hist[k];
        double w1 = total - w0;
        if (w0 == 0 || w1 == 0)
            continue;
        double d = sum0 / w0 - (sum - sum0) / w1;
        if (w0 * w1 * d * d > best) {
            best = w0 * w1 * d * d;
            split = k;
        }
    }
    double limit = (split + 1.0) / BINS * em;
    return fmin(fmax(limit, 0.15 * em), 0.6 * em);
}

/* Joins glyph blobs into words (sets parent). b is sorted by x0. */
static void join_words(struct blob *b, size_t n, double h, double em)
{
    double gap_limit = word_gap_limit(b, n, em);
    for (size_t i = 0; i < n; i++)
        b[i].parent = (int)i;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n && b[j].x0 <= b[i].x1 + gap_limit; j++) {
            double hi = b[i].y1 - b[i].y0, hj = b[j].y1 - b[j].y0;
            double overlap = fmin(b[i].y1, b[j].y1) - fmax(b[i].y0, b[j].y0);
            bool side = overlap >= 0.3 * fmin(hi, hj) && overlap > 0;
            /* An accent or an i-dot: small, just above or below, over the letter. */
            double x_overlap = fmin(b[i].x1, b[j].x1) - fmax(b[i].x0, b[j].x0);
            double small_w = fmin(b[i].x1 - b[i].x0, b[j].x1 - b[j].x0);
            bool mark = x_overlap >= 0.5 * small_w && fmin(hi, hj) <= 0.5 * h &&
                        -overlap <= 0.3 * h && fmax(hi, hj) <= 1.6 * h;
            if (!side && !mark)
                continue;
            int a = blob_find(b, (int)i), c = blob_find(b, (int)j);
            if (a != c)
                b[a > c ? a : c].parent = a < c ? a : c;
        }
    }
}

static bool dot_like(const struct blob *b, double h)
{
    double bw = b->x1 - b->x0, bh = b->y1 - b->y0;
    return bw <= 0.4 * h && bh <= 0.4 * h && bw <= 2 * bh + 1 && bh <= 2 * bw + 1;
}

/* The stand-in text of the word made of blobs members[0..m) (sorted by x). */
static char *word_text(const struct blob *b, const int *members, size_t m, double h)
{
    bool dots = true;
    for (size_t k = 0; k < m; k++)
        dots &= dot_like(&b[members[k]], h);
    if (dots)
        return text_dot;
    if (m == 1) {
        const struct blob *o = &b[members[0]];
        double bw = o->x1 - o->x0, bh = o->y1 - o->y0;
        if (bw >= 0.25 * h && bh >= 0.25 * h && bw <= 0.8 * h && bh <= 0.8 * h &&
            fabs(bw - bh) <= 0.25 * fmax(bw, bh) + 1 && o->area >= 0.6 * bw * bh)
            return text_bullet;
    }
    if (m >= 2 && m <= 4) {
        const struct blob *last = &b[members[m - 1]];
        double base = 0;
        for (size_t k = 0; k + 1 < m; k++)
            base = fmax(base, b[members[k]].y1);
        if (dot_like(last, h) && fabs(last->y1 - base) <= 0.15 * h + 1)
            return text_enumerator;
    }
    return text_letters;
}

/* Turns (x, y) by -skew about (cx, cy): from the page into the upright frame. */
static void upright(double skew, double cx, double cy, double *x, double *y)
{
    double c = cos(skew), s = sin(skew), dx = *x - cx, dy = *y - cy;
    *x = cx + dx * c + dy * s;
    *y = cy - dx * s + dy * c;
}

struct rect vision__ink_rect_to_upright(const struct ink_page *ink, struct rect r)
{
    struct rect out = {INFINITY, INFINITY, -INFINITY, -INFINITY};
    double xs[4] = {r.x0, r.x1, r.x0, r.x1}, ys[4] = {r.y0, r.y0, r.y1, r.y1};
    for (int k = 0; k < 4; k++) {
        upright(ink->skew, ink->page.width / 2, ink->page.height / 2, &xs[k], &ys[k]);
        out = rect_union(out, (struct rect){xs[k], ys[k], xs[k], ys[k]});
    }
    return out;
}

struct rect vision__ink_rect_from_upright(const struct ink_page *ink, struct rect r)
{
    struct rect out = {INFINITY, INFINITY, -INFINITY, -INFINITY};
    double xs[4] = {r.x0, r.x1, r.x0, r.x1}, ys[4] = {r.y0, r.y0, r.y1, r.y1};
    for (int k = 0; k < 4; k++) {
        upright(-ink->skew, ink->page.width / 2, ink->page.height / 2, &xs[k], &ys[k]);
        out = rect_union(out, (struct rect){xs[k], ys[k], xs[k], ys[k]});
    }
    return out;
}

void vision__ink_rulings_to_upright(const struct ink_page *ink, struct ruling *r, size_t n)
{
    double cx = ink->page.width / 2, cy = ink->page.height / 2;
    for (size_t i = 0; i < n; i++) {
        bool horizontal = ruling_is_horizontal(&r[i]);
        upright(ink->skew, cx, cy, &r[i].x0, &r[i].y0);
        upright(ink->skew, cx, cy, &r[i].x1, &r[i].y1);
        if (horizontal)
            r[i].y0 = r[i].y1 = (r[i].y0 + r[i].y1) / 2;
        else
            r[i].x0 = r[i].x1 = (r[i].x0 + r[i].x1) / 2;
    }
}

void vision__ink_page_free(struct ink_page *ink)
{
    if (!ink)
        return;
    free(ink->page.words);
    free(ink->rules);
    free(ink);
}

/* Appends the word made of blobs mem[0..m) (sorted by x) to ink->page.words (room for it is
 * there). */
static void add_word(struct ink_page *ink, const struct blob *g, const int *mem, size_t m, double h,
                     double em_px, double scale)
{
    struct rect box = {INFINITY, INFINITY, -INFINITY, -INFINITY};
    for (size_t k = 0; k < m; k++)
        box =
            rect_union(box, (struct rect){g[mem[k]].x0, g[mem[k]].y0, g[mem[k]].x1, g[mem[k]].y1});
    /* The baseline: the median bottom of its glyphs (descenders are the fewer). */
    double bottoms[8];
    size_t nb = m < 8 ? m : 8;
    for (size_t k = 0; k < nb; k++)
        bottoms[k] = g[mem[k]].y1;
    q_sort(bottoms, nb, sizeof *bottoms, q_cmp_double);
    double base = bottoms[nb / 2];
    struct word *word = &ink->page.words[ink->page.n_words++];
    /* A text layer's word box spans the advance widths (ink plus side bearings) and the font's
     * ascent and descent: pad the ink alike, so that gaps and lines mean the same (and words of
     * one line share their vertical extent whatever their letters). */
    double pad = 0.1 * em_px;
    box = rect_union(box, (struct rect){box.x0, base - 0.8 * em_px, box.x1, base + 0.2 * em_px});
    word->bbox = (struct rect){(box.x0 - pad) / scale, box.y0 / scale, (box.x1 + pad) / scale,
                               box.y1 / scale};
    word->text = word_text(g, mem, m, h);
    word->font_size = fmax(em_px, rect_height(box) / 0.9) / scale;
    word->line = -1;
}

/* Builds the words of `ink` from the glyph blobs g[0..n) (upright frame, pixels). */
static int build_words(struct ink_page *ink, struct blob *g, size_t n, double h, double em_px,
                       double scale)
{
    q_sort(g, n, sizeof *g, cmp_blob_x);
    join_words(g, n, h, em_px);
    int *members = q_malloc(sizeof(int) * (n + 1));
    int *order = q_malloc(sizeof(int) * (n + 1));
    size_t *first = q_malloc(sizeof(size_t) * (n + 1));
    ink->page.words = q_calloc(n + 1, sizeof(struct word));
    int err = 0;
    if (!members || !order || !first || !ink->page.words) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    /* Bucket the blobs by root, keeping x order inside each word. */
    size_t n_words = 0;
    for (size_t i = 0; i < n; i++) {
        int root = blob_find(g, (int)i);
        if ((size_t)root == i)
            order[i] = (int)n_words++;
    }
    size_t *count = q_calloc(n_words + 1, sizeof(size_t));
    if (!count) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        count[order[blob_find(g, (int)i)]]++;
    size_t acc = 0;
    for (size_t w = 0; w < n_words; w++) {
        first[w] = acc;
        acc += count[w];
        count[w] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        size_t w = (size_t)order[blob_find(g, (int)i)];
        members[first[w] + count[w]++] = (int)i;
    }
    for (size_t w = 0; w < n_words; w++) {
        const int *mem = members + first[w];
        double x0 = g[mem[0]].x0, reach = g[mem[0]].x1;
        for (size_t k = 1; k < count[w]; k++)
            reach = fmax(reach, g[mem[k]].x1);
        if (reach - x0 <= 10 * em_px) {
            add_word(ink, g, mem, count[w], h, em_px, scale);
            continue;
        }
        /* No word is 10 em long: a line of tight type (an italic caption) ran together; cut
         * it at every gap of 0.15 em or more. */
        size_t start = 0;
        reach = g[mem[0]].x1;
        for (size_t k = 1; k <= count[w]; k++) {
            if (k < count[w] && g[mem[k]].x0 - reach < 0.15 * em_px) {
                reach = fmax(reach, g[mem[k]].x1);
                continue;
            }
            add_word(ink, g, mem + start, k - start, h, em_px, scale);
            if (k < count[w])
                reach = g[mem[k]].x1;
            start = k;
        }
    }
    free(count);
out:
    free(members);
    free(order);
    free(first);
    return err;
}

/* A mask of the pixels under long rulings (>= 30 pt, longer than any letter's stroke), widened
 * by two pixels: the faint edges of a thin rule would otherwise break into speckles of ink that
 * read as words. (w * h bytes, free()). */
static uint8_t *rule_mask(const struct raster *ras, const struct ruling *r, size_t n)
{
    uint8_t *mask = q_calloc((size_t)ras->width * (size_t)ras->height, 1);
    double s = ras->dpi / 72.0;
    for (size_t i = 0; mask && i < n; i++) {
        bool horizontal = ruling_is_horizontal(&r[i]);
        if ((horizontal ? r[i].x1 - r[i].x0 : r[i].y1 - r[i].y0) < 30)
            continue;
        double half = r[i].thickness / 2 * s + 2;
        int x0 = (int)floor(r[i].x0 * s - (horizontal ? 0 : half));
        int x1 = (int)ceil(r[i].x1 * s + (horizontal ? 0 : half));
        int y0 = (int)floor(r[i].y0 * s - (horizontal ? half : 0));
        int y1 = (int)ceil(r[i].y1 * s + (horizontal ? half : 0));
        x0 = x0 < 0 ? 0 : x0;
        y0 = y0 < 0 ? 0 : y0;
        x1 = x1 > ras->width ? ras->width : x1;
        y1 = y1 > ras->height ? ras->height : y1;
        for (int y = y0; y < y1; y++)
            if (x1 > x0)
                memset(mask + (size_t)y * (size_t)ras->width + (size_t)x0, 1, (size_t)(x1 - x0));
    }
    return mask;
}

/* Long horizontal rules from the blobs, in the upright frame (appended to ink->rules): a rule
 * on a skewed scan climbs across pixel rows, so the ruling detector sees a stroke as thick as
 * its climb and takes it for a filled area. A blob >= 30 pt long that, turned upright, is no
 * thicker than 4 pt is a rule. */
static int skewed_rules(struct ink_page *ink, const struct blob *b, size_t n, double scale)
{
    double climb = fabs(tan(ink->skew));
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        double bw = b[i].x1 - b[i].x0, bh = b[i].y1 - b[i].y0;
        if (bw < 30 * scale || bh - bw * climb > 4 * scale + 2 || bh < bw * climb * 0.5)
            continue;
        double x0 = b[i].x0, x1 = b[i].x1, y = (b[i].y0 + b[i].y1) / 2, ya = y, yb = y;
        upright(ink->skew, ink->page.width * scale / 2, ink->page.height * scale / 2, &x0, &ya);
        upright(ink->skew, ink->page.width * scale / 2, ink->page.height * scale / 2, &x1, &yb);
        if (q_grow((void **)&ink->rules, sizeof *ink->rules, &cap, ink->n_rules + 1))
            return QUIRE_ENOMEM;
        double yu = (ya + yb) / 2 / scale;
        ink->rules[ink->n_rules++] =
            (struct ruling){x0 / scale, yu, x1 / scale, yu, fmax(bh - bw * climb, 1) / scale, 0};
    }
    return 0;
}

int vision__ink_page(const struct page *page, const struct ruling *rulings, size_t n_rulings,
                     struct ink_page **out)
{
    *out = NULL;
    const struct raster *ras = &page->raster;
    struct ink_page *ink = q_calloc(1, sizeof *ink);
    if (!ink)
        return QUIRE_ENOMEM;
    ink->page.index = page->index;
    ink->page.width = page->width;
    ink->page.height = page->height;
    ink->page.has_text_layer = true; /* its words stand in for one */
    if (!ras->gray || ras->width <= 0 || ras->height <= 0 || ras->dpi <= 0) {
        *out = ink;
        return 0;
    }
    double scale = ras->dpi / 72.0; /* pixels per point */
    struct blob *blobs = NULL;
    size_t n = 0;
    uint8_t *erased = rule_mask(ras, rulings, n_rulings);
    int err = erased ? find_blobs(ras, INK_MAX, erased, &blobs, &n) : QUIRE_ENOMEM;
    free(erased);
    if (err)
        goto fail;
    double h = letter_height(blobs, n, 40 * scale, 0.5);
    /* Ascenders, capitals and digits are >= 30% of letters: the 80th percentile is their
     * height, about 0.75 em. */
    double em = letter_height(blobs, n, 40 * scale, 0.8) / 0.75;
    struct blob *glyphs = q_malloc(sizeof *glyphs * (n + 1));
    if (!glyphs) {
        err = QUIRE_ENOMEM;
        goto fail;
    }
    size_t m = 0;
    for (size_t i = 0; h > 0 && i < n; i++)
        if (is_glyph(&blobs[i], h))
            glyphs[m++] = blobs[i];
    if (m >= 20)
        ink->skew = estimate_skew(glyphs, m, ras->width / 2.0, ras->height);
    err = skewed_rules(ink, blobs, n, scale);
    free(blobs);
    blobs = glyphs;
    if (err)
        goto fail;
    if (m >= 20) {
        double cx = ras->width / 2.0, cy = ras->height / 2.0;
        for (size_t i = 0; i < m; i++) { /* move each box by its centre's turn */
            double x = (blobs[i].x0 + blobs[i].x1) / 2, y = (blobs[i].y0 + blobs[i].y1) / 2;
            double nx = x, ny = y;
            upright(ink->skew, cx, cy, &nx, &ny);
            blobs[i].x0 += nx - x;
            blobs[i].x1 += nx - x;
            blobs[i].y0 += ny - y;
            blobs[i].y1 += ny - y;
        }
        ink->letter_height = h / scale;
        err = build_words(ink, blobs, m, h, em, scale);
        if (err)
            goto fail;
    }
    free(blobs);
    *out = ink;
    return 0;
fail:
    free(blobs);
    vision__ink_page_free(ink);
    return err;
}

/* How much darker a ruling is than the paper on either side of it (gray levels): per position
 * along it, the darkest pixel across the stroke against the pixels two beyond each edge. */
static double ruling_contrast(const struct raster *ras, const struct ruling *r)
{
    double s = ras->dpi / 72.0;
    bool horizontal = ruling_is_horizontal(r);
    double across = horizontal ? r->y0 : r->x0;
    int first = (int)floor((across - r->thickness / 2) * s + 0.5);
    int last = first + (int)lround(r->thickness * s) - 1;
    int a0 = (int)floor((horizontal ? r->x0 : r->y0) * s);
    int a1 = (int)ceil((horizontal ? r->x1 : r->y1) * s) - 1;
    int lines = horizontal ? ras->height : ras->width, len = horizontal ? ras->width : ras->height;
    if (first - 2 < 0 || last + 2 >= lines || a0 < 0 || a1 >= len || a1 < a0)
        return 255; /* at the page's edge: keep it */
    double stroke = 0, before = 0, after = 0;
    for (int a = a0; a <= a1; a++) {
#define GRAY(l)                                                                                    \
    (horizontal ? ras->gray[(size_t)(l) * (size_t)ras->width + (size_t)a]                          \
                : ras->gray[(size_t)a * (size_t)ras->width + (size_t)(l)])
        int darkest = 255;
        for (int l = first; l <= last; l++)
            darkest = GRAY(l) < darkest ? GRAY(l) : darkest;
        stroke += darkest;
        before += GRAY(first - 2);
        after += GRAY(last + 2);
#undef GRAY
    }
    return (fmin(before, after) - stroke) / (a1 - a0 + 1);
}

void vision__drop_faint_rulings(const struct raster *ras, struct ruling *r, size_t *n)
{
    size_t m = 0;
    for (size_t i = 0; i < *n; i++) {
        if (ruling_contrast(ras, &r[i]) >= 50)
            r[m++] = r[i];
    }
    *n = m;
}

/* --- the view for a reader (vision.h) ------------------------------------------------------- */

int vision_ink_view(const struct page *page, const struct page_layout *layout,
                    struct ink_view **out)
{
    if (!page || !layout || !out)
        return QUIRE_EINVAL;
    *out = NULL;
    struct ink_view *v = q_calloc(1, sizeof *v);
    if (!v)
        return QUIRE_ENOMEM;
    struct ink_page *ink = NULL;
    int err = 0;
    if (!page->has_text_layer && page->raster.gray)
        err = vision__ink_page(page, layout->rulings, layout->n_rulings, &ink);
    if (err) {
        free(v);
        return err;
    }
    struct ruling *recovered = NULL; /* long rules the ruling detector missed (upright) */
    size_t n_recovered = 0;
    if (ink) {
        v->page = ink->page; /* takes its words */
        v->skew = ink->skew;
        recovered = ink->rules;
        n_recovered = ink->n_rules;
        free(ink);
    } else {
        v->page = (struct page){.index = page->index, .width = page->width,
                                .height = page->height, .has_text_layer = true};
    }
    v->page.raster = (struct raster){0};
    size_t nr = layout->n_rulings, ng = layout->n_regions;
    v->layout.rulings = q_malloc(sizeof *v->layout.rulings * (nr + n_recovered + 1));
    v->layout.regions = q_malloc(sizeof *v->layout.regions * (ng + 1));
    if (!v->layout.rulings || !v->layout.regions) {
        free(recovered);
        vision_ink_view_free(v);
        return QUIRE_ENOMEM;
    }
    if (nr)
        memcpy(v->layout.rulings, layout->rulings, sizeof *layout->rulings * nr);
    struct ink_page turn = {.page = v->page, .skew = v->skew};
    vision__ink_rulings_to_upright(&turn, v->layout.rulings, nr);
    if (n_recovered)
        memcpy(v->layout.rulings + nr, recovered, sizeof *recovered * n_recovered);
    free(recovered);
    v->layout.n_rulings = nr + n_recovered;
    for (size_t i = 0; i < ng; i++) {
        v->layout.regions[i] = layout->regions[i];
        v->layout.regions[i].bbox = vision__ink_rect_to_upright(&turn, layout->regions[i].bbox);
    }
    v->layout.n_regions = ng;
    *out = v;
    return 0;
}

void vision_ink_view_free(struct ink_view *v)
{
    if (!v)
        return;
    free(v->page.words);
    free(v->layout.rulings);
    free(v->layout.regions);
    free(v);
}

void vision_ink_view_to_page(const struct ink_view *v, double *x, double *y)
{
    upright(-v->skew, v->page.width / 2, v->page.height / 2, x, y);
}

struct rect vision_ink_view_rect_to_page(const struct ink_view *v, struct rect r)
{
    struct ink_page turn = {.page = v->page, .skew = v->skew};
    return vision__ink_rect_from_upright(&turn, r);
}

struct rect vision_ink_view_rect_from_page(const struct ink_view *v, struct rect r)
{
    struct ink_page turn = {.page = v->page, .skew = v->skew};
    return vision__ink_rect_to_upright(&turn, r);
}
