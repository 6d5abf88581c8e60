/*
 * ocr/ocr.c - scanned tables: words cut from the ink, read by the line reader, then the
 * text-layer engine (see ocr.h).
 */
#include "ocr.h"

#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../llm/llm.h"
#include "../textlayer/textlayer.h"

#define LEFT_PX 8  /* where a word starts in its band (the reader saw lines start 2-40 px in) */
#define RIGHT_PX 4 /* room kept free at a band's right end */

struct ocr {
    struct llm_reader *reader;
    struct llm_reader_info info;
    char *id;
};

struct ocr *ocr_load(const char *dir, int *err, char **msg)
{
    struct ocr *o = q_calloc(1, sizeof *o);
    if (!o) {
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    o->reader = llm_reader_load(dir, err, msg);
    if (!o->reader) {
        free(o);
        return NULL;
    }
    llm_reader_get_info(o->reader, &o->info);
    /* its folder's name, as the model's id when config.json names none (workers/) */
    char *canon = realpath(dir, NULL);
    char *base = g_path_get_basename(canon ? canon : dir);
    o->id = q_strdup(base);
    g_free(base);
    free(canon);
    if (!o->id) {
        ocr_free(o);
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    *err = 0;
    return o;
}

void ocr_free(struct ocr *o)
{
    if (!o)
        return;
    llm_reader_free(o->reader);
    free(o->id);
    free(o);
}

const char *ocr_id(const struct ocr *o)
{
    return o->id;
}

/* --- one word's pixels ----------------------------------------------------------------------- */

/* Bilinear sample of the raster at pixel coordinates (x, y); white outside. */
static double sample(const struct raster *r, double x, double y)
{
    x -= 0.5;
    y -= 0.5;
    int x0 = (int)floor(x), y0 = (int)floor(y);
    double fx = x - x0, fy = y - y0, v = 0;
    for (int dy = 0; dy <= 1; dy++)
        for (int dx = 0; dx <= 1; dx++) {
            int px = x0 + dx, py = y0 + dy;
            double p = (px < 0 || py < 0 || px >= r->width || py >= r->height)
                           ? 255
                           : r->gray[(size_t)py * (size_t)r->width + (size_t)px];
            v += p * (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
        }
    return v;
}

/* The view's upright frame (points) to raster pixels: an affine map, computed once. */
struct to_raster {
    double ox, oy, xx, xy, yx, yy; /* pixel = o + X * (xx, xy) + Y * (yx, yy) */
};

static struct to_raster to_raster(const struct ink_view *view, const struct raster *r)
{
    double ppp = r->dpi / 72, x0 = 0, y0 = 0, x1 = 1, y1 = 0, x2 = 0, y2 = 1;
    vision_ink_view_to_page(view, &x0, &y0);
    vision_ink_view_to_page(view, &x1, &y1);
    vision_ink_view_to_page(view, &x2, &y2);
    return (struct to_raster){x0 * ppp,        y0 * ppp,        (x1 - x0) * ppp,
                              (y1 - y0) * ppp, (x2 - x0) * ppp, (y2 - y0) * ppp};
}

/* Raster sample at upright point (X, Y). */
static double sample_at(const struct raster *r, const struct to_raster *m, double X, double Y)
{
    return sample(r, m->ox + X * m->xx + Y * m->yx, m->oy + X * m->xy + Y * m->yy);
}

/* The word box `b` (upright frame, points) at `s` band pixels per point: a band_h x *w image
 * (caller frees), its box centred vertically, white outside the box, the paper brightened to
 * white. NULL when out of memory. */
static uint8_t *sample_word(const struct page *page, const struct ink_view *view, struct rect b,
                            double s, double phase, int band_h, int *w)
{
    const struct raster *r = &page->raster;
    double ppp = r->dpi / 72; /* raster pixels per point */
    int W = (int)ceil((b.x1 - b.x0) * s) + 1;
    if (W < 1)
        W = 1;
    uint8_t *img = q_malloc((size_t)W * (size_t)band_h);
    if (!img)
        return NULL;
    /* a box filter of n x n bilinear samples when the band is coarser than the raster */
    int n = (int)ceil(ppp / s);
    n = n < 1 ? 1 : n > 4 ? 4 : n;
    double cy = (b.y0 + b.y1) / 2;
    struct to_raster m = to_raster(view, r);
    unsigned hist[256] = {0};
    for (int v = 0; v < band_h; v++)
        for (int u = 0; u < W; u++) {
            double acc = 0;
            int inside = 0;
            for (int j = 0; j < n; j++)
                for (int i = 0; i < n; i++) {
                    double X = b.x0 + (u + (i + 0.5) / n - phase) / s;
                    double Y = cy + (v + (j + 0.5) / n - band_h / 2.0 - phase) / s;
                    if (Y < b.y0 || Y > b.y1 || X > b.x1) {
                        acc += 255;
                        continue;
                    }
                    inside++;
                    acc += sample_at(r, &m, X, Y);
                }
            int p = (int)(acc / (n * n) + 0.5);
            img[(size_t)v * W + u] = (uint8_t)p;
            if (inside)
                hist[p]++;
        }
    /* paper: the 80th percentile of the box's pixels (most of a word's box is paper) */
    unsigned total = 0, seen = 0;
    for (int k = 0; k < 256; k++)
        total += hist[k];
    int paper = 255;
    for (int k = 0; k < 256 && total; k++) {
        seen += hist[k];
        if (seen >= 0.8 * total) {
            paper = k;
            break;
        }
    }
    if (paper >= 96 && paper < 255)
        for (size_t k = 0; k < (size_t)W * band_h; k++) {
            int p = img[k] * 255 / paper;
            img[k] = (uint8_t)(p > 255 ? 255 : p);
        }
    *w = W;
    return img;
}

/* Where to cut an image of width w into pieces of at most maxw columns: at the lightest column
 * of the last 40% of each piece. Writes up to `cap` cut positions (piece i = [cut[i], cut[i+1])
 * with cut[0] = 0 and the last = w); returns the number of pieces. */
static int cut_pieces(const uint8_t *img, int w, int h, int maxw, int *cut, int cap)
{
    int k = 0;
    cut[k++] = 0;
    while (w - cut[k - 1] > maxw && k < cap - 1) {
        int start = cut[k - 1], best = start + maxw, best_ink = -1;
        for (int x = start + maxw * 6 / 10; x < start + maxw; x++) {
            int ink = 0;
            for (int y = 0; y < h; y++)
                ink += 255 - img[(size_t)y * w + x];
            if (best_ink < 0 || ink < best_ink) {
                best_ink = ink;
                best = x;
            }
        }
        cut[k++] = best;
    }
    cut[k] = w;
    return k;
}

/* --- reading boxes ------------------------------------------------------------------------- */

struct piece {
    size_t box;    /* which box */
    uint8_t *img;  /* band_h x w, owned by the box's sample */
    int x0, x1, w; /* columns of img */
};

/* Reads boxes[0..n) (upright frame) of fonts font_size[i] at an x-height of x_em font sizes:
 * texts[i] new strings (caller frees), conf[i] the reader's confidence. Returns 0 or
 * QUIRE_ENOMEM (nothing left allocated). */
static int read_boxes_at(const struct ocr *o, const struct page *page, const struct ink_view *view,
                         const struct rect *boxes, const double *font_size, size_t n, double x_em,
                         double phase, char **texts, double *conf)
{
    const struct llm_reader_info *in = &o->info;
    int S = in->image_size, bh = in->band_height, nb = in->n_bands;
    int maxw = S - LEFT_PX - RIGHT_PX;
    enum { MAX_PIECES = 8 };
    uint8_t **imgs = q_calloc(n + 1, sizeof *imgs);
    struct piece *pieces = q_malloc(sizeof *pieces * (n * MAX_PIECES + 1));
    uint8_t *tile = q_malloc((size_t)S * S);
    char **band_text = q_calloc((size_t)nb, sizeof *band_text);
    float *band_conf = q_malloc(sizeof *band_conf * nb);
    size_t *band_piece = q_malloc(sizeof *band_piece * nb);
    double *sum = q_calloc(n + 1, sizeof *sum);
    int *count = q_calloc(n + 1, sizeof *count);
    struct llm_reader_state *st = NULL;
    int err = 0;
    if (!imgs || !pieces || !tile || !band_text || !band_conf || !band_piece || !sum || !count)
        err = QUIRE_ENOMEM;
    else
        st = llm_reader_state_new(o->reader, &err);
    for (size_t i = 0; i < n; i++)
        texts[i] = NULL;
    size_t np = 0;
    for (size_t i = 0; i < n && !err; i++) {
        double xh_pt = x_em * font_size[i];
        double s = in->x_height / fmax(xh_pt, 1e-3);
        int w = 0;
        if (!(imgs[i] = sample_word(page, view, boxes[i], s, phase, bh, &w))) {
            err = QUIRE_ENOMEM;
            break;
        }
        int cut[MAX_PIECES + 1];
        int k = cut_pieces(imgs[i], w, bh, maxw, cut, MAX_PIECES);
        for (int j = 0; j < k; j++)
            pieces[np++] = (struct piece){i, imgs[i], cut[j], cut[j + 1], w};
        texts[i] = q_strdup("");
        if (!texts[i])
            err = QUIRE_ENOMEM;
    }
    for (size_t first = 0; first < np && !err; first += (size_t)nb) {
        memset(tile, 255, (size_t)S * S);
        int used = 0;
        for (size_t p = first; p < np && used < nb; p++, used++) {
            const struct piece *pc = &pieces[p];
            int width = pc->x1 - pc->x0;
            if (width > maxw)
                width = maxw;
            for (int y = 0; y < bh; y++)
                memcpy(tile + (size_t)(used * bh + y) * S + LEFT_PX,
                       pc->img + (size_t)y * pc->w + pc->x0, (size_t)width);
            band_piece[used] = p;
        }
        if ((err = llm_reader_read(o->reader, st, tile, (size_t)S, band_text, band_conf)))
            break;
        for (int b = 0; b < nb; b++) {
            if (b < used && !err) {
                size_t box = pieces[band_piece[b]].box;
                char *joined = q_asprintf("%s%s", texts[box], band_text[b]);
                if (!joined) {
                    err = QUIRE_ENOMEM;
                } else {
                    free(texts[box]);
                    texts[box] = joined;
                    if (band_text[b][0]) {
                        sum[box] += band_conf[b];
                        count[box]++;
                    }
                }
            }
            free(band_text[b]);
            band_text[b] = NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        conf[i] = count && count[i] ? sum[i] / count[i] : 0;
        free(imgs ? imgs[i] : NULL);
    }
    if (err)
        for (size_t i = 0; i < n; i++) {
            free(texts[i]);
            texts[i] = NULL;
        }
    llm_reader_state_free(st);
    free(imgs);
    free(pieces);
    free(tile);
    free(band_text);
    free(band_conf);
    free(band_piece);
    free(sum);
    free(count);
    return err;
}

/* The ways each word is read: x-heights as shares of its font size (vision/'s estimate is one
 * for the whole page, and the reader is sensitive to scale) and sampling phases (pixels).
 * The first OCR_AGREE are read for every word; a word whose readings all agree is decided, the
 * others are read the remaining ways too. */
static const struct variant {
    double x_em, phase;
} variants[] = {{0.5, 0},  {0.45, 0.5}, {0.55, 0},  {0.4, 0},   {0.6, 0},
                {0.45, 0}, {0.55, 0.5}, {0.5, 0.5}, {0.4, 0.5}, {0.6, 0.5}};
#define OCR_AGREE 3

/* Reads boxes[0..n) the ways of `variants`; each box keeps the reading whose confidences,
 * summed over the ways that gave it, are highest (agreement between scales counts, and so does
 * certainty); its confidence is that sum over the number of ways it was read. */
static int read_boxes(const struct ocr *o, const struct page *page, const struct ink_view *view,
                      const struct rect *boxes, const double *font_size, size_t n, char **texts,
                      double *conf)
{
    enum { K = sizeof variants / sizeof *variants };
    char **t = q_calloc(n * K + 1, sizeof *t); /* t[k * n + i]: way k of box i, or NULL */
    double *c = q_calloc(n * K + 1, sizeof *c);
    char **sub_t = q_calloc(n + 1, sizeof *sub_t);
    double *sub_c = q_malloc(sizeof *sub_c * (n + 1)), *sub_f = q_malloc(sizeof *sub_f * (n + 1));
    struct rect *sub_b = q_malloc(sizeof *sub_b * (n + 1));
    size_t *which = q_malloc(sizeof *which * (n + 1));
    int err = (!t || !c || !sub_t || !sub_c || !sub_f || !sub_b || !which) ? QUIRE_ENOMEM : 0;
    for (size_t i = 0; i < n; i++) {
        texts[i] = NULL;
        conf[i] = 0;
    }
    for (size_t k = 0; k < K && !err; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            bool settled = k >= OCR_AGREE;
            for (size_t j = 1; settled && j < OCR_AGREE; j++)
                settled = !strcmp(t[i], t[j * n + i]);
            if (!settled) {
                which[m] = i;
                sub_b[m] = boxes[i];
                sub_f[m++] = font_size[i];
            }
        }
        if (!m)
            break;
        err = read_boxes_at(o, page, view, sub_b, sub_f, m, variants[k].x_em, variants[k].phase,
                            sub_t, sub_c);
        for (size_t j = 0; j < m && !err; j++) {
            t[k * n + which[j]] = sub_t[j];
            c[k * n + which[j]] = sub_c[j];
        }
    }
    for (size_t i = 0; i < n && !err; i++) {
        double best = -1;
        size_t pick = 0, ways = 0;
        for (size_t k = 0; k < K; k++) {
            if (!t[k * n + i])
                continue;
            ways++;
            double sum = 0;
            for (size_t j = 0; j < K; j++)
                if (t[j * n + i] && !strcmp(t[k * n + i], t[j * n + i]))
                    sum += c[j * n + i];
            if (sum > best) {
                best = sum;
                pick = k;
            }
        }
        texts[i] = t[pick * n + i];
        t[pick * n + i] = NULL;
        conf[i] = best / (double)ways;
    }
    for (size_t k = 0; t && k < n * K; k++)
        free(t[k]);
    free(t);
    free(c);
    free(sub_t);
    free(sub_c);
    free(sub_f);
    free(sub_b);
    free(which);
    return err;
}

int ocr_read_box(const struct ocr *o, const struct page *page, const struct ink_view *view,
                 struct rect box, double font_size, char **text, double *confidence)
{
    return read_boxes(o, page, view, &box, &font_size, 1, text, confidence);
}

/* --- the words' geometry ---------------------------------------------------------------------- */

/* Word box `b` (upright frame, points) sampled at the raster's resolution: a new W x H image
 * (caller frees) and the level below which a pixel is ink (clearly darker than the box's
 * paper, its 80th percentile). NULL when empty, huge or out of memory. */
static uint8_t *sample_box(const struct page *page, const struct ink_view *view, struct rect b,
                           int *w, int *h, int *dark)
{
    const struct raster *r = &page->raster;
    double ppp = r->dpi / 72;
    int W = (int)ceil((b.x1 - b.x0) * ppp), H = (int)ceil((b.y1 - b.y0) * ppp);
    if (W < 1 || H < 1 || (size_t)W * (size_t)H > 4000000)
        return NULL;
    unsigned hist[256] = {0};
    uint8_t *img = q_malloc((size_t)W * (size_t)H);
    if (!img)
        return NULL;
    struct to_raster m = to_raster(view, r);
    for (int v = 0; v < H; v++)
        for (int u = 0; u < W; u++) {
            double X = b.x0 + (u + 0.5) / ppp, Y = b.y0 + (v + 0.5) / ppp;
            int p = (int)(sample_at(r, &m, X, Y) + 0.5);
            img[(size_t)v * W + u] = (uint8_t)p;
            hist[p]++;
        }
    unsigned seen = 0, total = (unsigned)(W * H);
    int paper = 255;
    for (int k = 0; k < 256; k++) {
        seen += hist[k];
        if (seen >= 0.8 * total) {
            paper = k;
            break;
        }
    }
    *w = W;
    *h = H;
    *dark = (int)(paper * 0.6);
    return img;
}

/* The box of the ink inside word box `b` (upright frame, points). Returns false when there is
 * none. */
static bool ink_box(const struct page *page, const struct ink_view *view, struct rect b,
                    struct rect *ink)
{
    int W, H, dark;
    uint8_t *img = sample_box(page, view, b, &W, &H, &dark);
    if (!img)
        return false;
    int x0 = W, x1 = -1, y0 = H, y1 = -1;
    for (int v = 0; v < H; v++) {
        int n = 0;
        for (int u = 0; u < W; u++)
            if (img[(size_t)v * W + u] < dark) {
                n++;
                x0 = u < x0 ? u : x0;
                x1 = u > x1 ? u : x1;
            }
        if (n) {
            y0 = v < y0 ? v : y0;
            y1 = v;
        }
    }
    free(img);
    if (x1 < 0)
        return false;
    double ppp = page->raster.dpi / 72;
    *ink = (struct rect){b.x0 + x0 / ppp, b.y0 + y0 / ppp, b.x0 + (x1 + 1) / ppp,
                         b.y0 + (y1 + 1) / ppp};
    return true;
}

/* The share of the ink inside word box `b` that lies between heights y0 and y1 (points). */
static double ink_share(const struct page *page, const struct ink_view *view, struct rect b,
                        double y0, double y1)
{
    int W, H, dark;
    uint8_t *img = sample_box(page, view, b, &W, &H, &dark);
    if (!img)
        return 0;
    double ppp = page->raster.dpi / 72;
    size_t all = 0, in = 0;
    for (int v = 0; v < H; v++) {
        double y = b.y0 + (v + 0.5) / ppp;
        for (int u = 0; u < W; u++)
            if (img[(size_t)v * W + u] < dark) {
                all++;
                in += y >= y0 && y <= y1;
            }
    }
    free(img);
    return all ? (double)in / (double)all : 0;
}

/* The mean length of the horizontal runs of ink inside box `b`, in points: the width of the
 * vertical strokes, which bold type has about 1.5 times as wide. */
static double stroke_width(const struct page *page, const struct ink_view *view, struct rect b)
{
    int W, H, dark;
    uint8_t *img = sample_box(page, view, b, &W, &H, &dark);
    if (!img)
        return 0;
    size_t runs = 0, ink = 0;
    for (int v = 0; v < H; v++)
        for (int u = 0; u < W; u++)
            if (img[(size_t)v * W + u] < dark) {
                ink++;
                runs += u == 0 || img[(size_t)v * W + u - 1] >= dark;
            }
    free(img);
    return runs ? (double)ink / (double)runs / (page->raster.dpi / 72) : 0;
}

/* The height of a word's ink in ems, from what it reads: a capital, digit or ascender reaches
 * about 0.72 em above the baseline (else the x-height, 0.5 em); a descender 0.21 em below. */
static double ink_height_em(const char *text)
{
    bool tall = false, low = false;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c >= 0x80 || strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789bdfhklt%$#&@()[]{}/|!?", *c))
            tall = true;
        if (strchr("gjpqy(),;[]{}|", *c))
            low = true;
    }
    return (tall ? 0.72 : 0.5) + (low ? 0.21 : 0);
}

/* Gives the read words of one region text-layer-like geometry: a font size per text line (the
 * median of its words' estimates, each its ink height over ink_height_em() of its reading), and
 * boxes from their ink out to the font's advance and ascent/descent (0.05 em beside the ink,
 * 0.8 em above the baseline and 0.2 below), as the text-layer engine's em-based gaps expect. */
static void fit_words(const struct page *page, const struct ink_view *view, struct word *w,
                      size_t n)
{
    double *em = q_malloc(sizeof *em * (n + 1)), *tmp = q_malloc(sizeof *tmp * (n + 1));
    struct rect *ink = q_malloc(sizeof *ink * (n + 1));
    bool *has = q_calloc(n + 1, sizeof *has);
    if (!em || !tmp || !ink || !has)
        goto out;
    for (size_t i = 0; i < n; i++) {
        has[i] = ink_box(page, view, w[i].bbox, &ink[i]);
        em[i] = has[i] ? rect_height(ink[i]) / ink_height_em(w[i].text) : 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!has[i])
            continue;
        /* its line: words whose ink overlaps its ink vertically by half */
        size_t m = 0;
        for (size_t j = 0; j < n; j++) {
            double ov = fmin(ink[i].y1, ink[j].y1) - fmax(ink[i].y0, ink[j].y0);
            if (has[j] && ov >= 0.5 * fmin(rect_height(ink[i]), rect_height(ink[j])))
                tmp[m++] = em[j];
        }
        q_sort(tmp, m, sizeof *tmp, q_cmp_double);
        double e = tmp[m / 2];
        bool low = ink_height_em(w[i].text) > 0.7 && strpbrk(w[i].text, "gjpqy(),;[]{}|");
        double base = ink[i].y1 - (low ? 0.21 * e : 0);
        w[i].font_size = e;
        w[i].bbox = (struct rect){ink[i].x0 - 0.05 * e, base - 0.8 * e, ink[i].x1 + 0.05 * e,
                                  base + 0.2 * e};
    }
    /* bold: strokes 1.3 times as wide (for their size) as the region's typical word's */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        em[i] =
            has[i] && w[i].font_size > 0 ? stroke_width(page, view, ink[i]) / w[i].font_size : 0;
        if (em[i] > 0)
            tmp[m++] = em[i];
    }
    q_sort(tmp, m, sizeof *tmp, q_cmp_double);
    for (size_t i = 0; m >= 4 && i < n; i++)
        w[i].bold = em[i] >= 1.3 * tmp[m / 2];
out:
    free(em);
    free(tmp);
    free(ink);
    free(has);
}

/* --- the table ------------------------------------------------------------------------------- */

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* Appends to *words the words of one reading `text` of box `b`: split at spaces, the box cut
 * in proportion to the characters (a space counting as one). Takes nothing from text. */
static int add_words(struct page *p, size_t *cap, const struct word *ink, const char *text)
{
    size_t total = utf8_chars(text, strlen(text));
    double width = ink->bbox.x1 - ink->bbox.x0;
    size_t at = 0; /* characters before the current word */
    const char *s = text;
    while (*s) {
        size_t len = strcspn(s, " ");
        if (len) {
            if (q_grow((void **)&p->words, sizeof *p->words, cap, p->n_words + 1))
                return QUIRE_ENOMEM;
            char *t = q_strndup(s, len);
            if (!t)
                return QUIRE_ENOMEM;
            size_t nc = utf8_chars(s, len);
            struct word *w = &p->words[p->n_words++];
            *w = *ink;
            w->text = t;
            w->bbox.x0 = ink->bbox.x0 + width * at / total;
            w->bbox.x1 = ink->bbox.x0 + width * (at + nc) / total;
            at += nc;
            s += len;
        }
        while (*s == ' ') {
            s++;
            at++;
        }
    }
    return 0;
}

/* Whether word w is a piece of a horizontal ruling: a ruling runs along its whole width and
 * holds 70% of its ink (a rule that climbs across pixel rows on a skewed scan comes apart into
 * pieces the ink takes for words; a dash in a cell sits at mid-height, off the rules, and a
 * word's own letters stand above an underline). */
static bool on_rule(const struct page *page, const struct ink_view *view, const struct word *w)
{
    struct rect b = w->bbox;
    double width = rect_width(b);
    for (size_t k = 0; k < view->layout.n_rulings; k++) {
        const struct ruling *r = &view->layout.rulings[k];
        double half = r->thickness / 2 + 1;
        if (ruling_is_horizontal(r) && r->y0 >= b.y0 - half && r->y0 <= b.y1 + half &&
            fmin(r->x1, b.x1) - fmax(r->x0, b.x0) >= 0.8 * width &&
            ink_share(page, view, b, r->y0 - half, r->y0 + half) >= 0.7)
            return true;
    }
    return false;
}

/* Whether ruling r lies within a word of p (its box grown by a third of its height): a letter's
 * stroke that the ruling detector took for a line (the stem of a "p" in a shaded header). */
static bool ruling_in_word(const struct ruling *r, const struct page *p)
{
    for (size_t i = 0; i < p->n_words; i++) {
        struct rect b = p->words[i].bbox;
        double m = rect_height(b) / 3;
        if (fmin(r->x0, r->x1) >= b.x0 - m && fmax(r->x0, r->x1) <= b.x1 + m &&
            fmin(r->y0, r->y1) >= b.y0 - m && fmax(r->y0, r->y1) <= b.y1 + m)
            return true;
    }
    return false;
}

int ocr_read_words(const struct ocr *o, const struct page *page, const struct ink_view *view,
                   size_t region, struct page **out, double *confidence)
{
    *out = NULL;
    *confidence = 0;
    if (region >= view->layout.n_regions || !page->raster.gray)
        return QUIRE_EINVAL;
    struct rect area = view->layout.regions[region].bbox;
    const struct page *vp = &view->page;
    size_t n = 0;
    size_t *idx = q_malloc(sizeof *idx * (vp->n_words + 1));
    struct page *p = q_calloc(1, sizeof *p);
    if (!idx || !p) {
        free(idx);
        free(p);
        return QUIRE_ENOMEM;
    }
    *p = (struct page){
        .index = page->index, .width = vp->width, .height = vp->height, .has_text_layer = true};
    for (size_t i = 0; i < vp->n_words; i++) {
        const struct word *w = &vp->words[i];
        double cx = (w->bbox.x0 + w->bbox.x1) / 2, cy = (w->bbox.y0 + w->bbox.y1) / 2;
        if (w->rotation == 0 && cx >= area.x0 && cx <= area.x1 && cy >= area.y0 && cy <= area.y1 &&
            !on_rule(page, view, w))
            idx[n++] = i;
    }
    struct rect *boxes = q_malloc(sizeof *boxes * (n + 1));
    double *fonts = q_malloc(sizeof *fonts * (n + 1));
    char **texts = q_calloc(n + 1, sizeof *texts);
    double *conf = q_malloc(sizeof *conf * (n + 1));
    size_t cap = 0;
    int err = (!boxes || !fonts || !texts || !conf) ? QUIRE_ENOMEM : 0;
    for (size_t k = 0; k < n && !err; k++) {
        boxes[k] = vp->words[idx[k]].bbox;
        fonts[k] = vp->words[idx[k]].font_size;
    }
    if (!err)
        err = read_boxes(o, page, view, boxes, fonts, n, texts, conf);
    double sum = 0;
    size_t read = 0;
    for (size_t k = 0; k < n && !err; k++) {
        if (!texts[k][0])
            continue;
        sum += conf[k];
        read++;
        err = add_words(p, &cap, &vp->words[idx[k]], texts[k]);
    }
    if (!err)
        fit_words(page, view, p->words, p->n_words);
    for (size_t k = 0; texts && k < n; k++)
        free(texts[k]);
    free(idx);
    free(boxes);
    free(fonts);
    free(texts);
    free(conf);
    if (err) {
        ocr_words_free(p);
        return err;
    }
    *out = p;
    *confidence = read ? sum / read : 0;
    return 0;
}

void ocr_words_free(struct page *p)
{
    if (!p)
        return;
    for (size_t k = 0; k < p->n_words; k++)
        free(p->words[k].text);
    free(p->words);
    free(p);
}

int ocr_read_table(const struct ocr *o, const struct page *page, const struct ink_view *view,
                   size_t region, struct table **out, double *confidence, char **msg)
{
    *out = NULL;
    *confidence = 0;
    struct page *p = NULL;
    int err = ocr_read_words(o, page, view, region, &p, confidence);
    if (err)
        return err;
    if (p->n_words == 0) {
        ocr_words_free(p);
        if (msg)
            *msg = q_asprintf("page %d: the reader read no word in the region", page->index + 1);
        return QUIRE_EINVAL;
    }
    struct page_layout layout = view->layout;
    layout.rulings = q_malloc(sizeof *layout.rulings * (view->layout.n_rulings + 1));
    layout.n_rulings = 0;
    if (!layout.rulings)
        err = QUIRE_ENOMEM;
    for (size_t k = 0; !err && k < view->layout.n_rulings; k++)
        if (!ruling_in_word(&view->layout.rulings[k], p))
            layout.rulings[layout.n_rulings++] = view->layout.rulings[k];
    if (!err)
        err = textlayer_extract(p, &layout, &view->layout.regions[region], out, msg);
    free(layout.rulings);
    ocr_words_free(p);
    if (err)
        return err;
    for (size_t c = 0; c < (*out)->n_cells; c++)
        if ((*out)->cells[c].has_bbox)
            (*out)->cells[c].bbox = vision_ink_view_rect_to_page(view, (*out)->cells[c].bbox);
    return 0;
}
