/*
 * orient.c - which way the text of a table crop runs, from its pixels alone.
 *
 * vision/ knows the direction of text from the text layer (struct word's rotation); a scanned
 * page has none, so a sideways table there reaches the model sideways. This looks at the crop
 * the way a reader would, in two cheap steps:
 *  1. Axis. Ink (gray < INK) minus long straight runs (table rules, filled bars: runs longer than
 *     LONG pixels in either direction) leaves the glyphs. Each glyph (a connected component of at
 *     most LONG pixels a side) votes for the direction to its nearest neighbour: letters of a
 *     word sit closer side by side than lines sit apart, so in upright text most nearest
 *     neighbours are horizontal, in sideways text vertical.
 *  2. Sense. Along the lines found (bands of the glyph profile across the lines), Latin script
 *     has more ink above its x-height band (ascenders, capitals, digits) than below its baseline
 *     (descenders). The side with more ink is up. Lines of digits have neither; there the small
 *     marks (decimal points, commas) that sit on the baseline tell down from up.
 * Either step may be unsure (too few glyphs, no clear majority); then the answer is 0 (leave
 * the crop as it is), so a wrong guess is less likely than a missed one.
 */
#include "workers.h"

#include <stdlib.h>
#include <string.h>

#define INK 140        /* darker than this is ink */
#define LONG 40        /* runs longer than this are rules, not glyphs (~10 px x-height) */
#define MIN_GLYPHS 12  /* fewer glyphs than this: unsure */
#define MAX_GLYPHS 4000

enum { EMPTY = 0, GLYPH = 1, RULE = 2, SEEN = 3 };

struct glyph {
    int x0, y0, x1, y1; /* inclusive box */
};

/* Marks RULE on the runs of ink longer than LONG, along rows (dx = 1) or columns. */
static void mark_rules(uint8_t *m, int w, int h, bool rows)
{
    int outer = rows ? h : w, inner = rows ? w : h;
    for (int o = 0; o < outer; o++) {
        int start = -1;
        for (int i = 0; i <= inner; i++) {
            size_t at = rows ? (size_t)o * w + i : (size_t)i * w + o;
            bool ink = i < inner && m[at] != EMPTY;
            if (ink && start < 0)
                start = i;
            if (!ink && start >= 0) {
                if (i - start > LONG)
                    for (int k = start; k < i; k++)
                        m[rows ? (size_t)o * w + k : (size_t)k * w + o] = RULE;
                start = -1;
            }
        }
    }
}

/* The glyphs of mask m (GLYPH pixels, 8-connected) with no side over LONG; returns how many
 * (at most max) or -1 when out of memory. Marks visited pixels SEEN. */
static int find_glyphs(uint8_t *m, int w, int h, struct glyph *g, int max)
{
    int *stack = q_malloc(sizeof *stack * (size_t)w * (size_t)h);
    if (!stack)
        return -1;
    int n = 0;
    for (int y = 0; y < h && n < max; y++)
        for (int x = 0; x < w && n < max; x++) {
            if (m[(size_t)y * w + x] != GLYPH)
                continue;
            struct glyph b = {x, y, x, y};
            int top = 0, area = 0;
            stack[top++] = y * w + x;
            m[(size_t)y * w + x] = SEEN;
            while (top > 0) {
                int p = stack[--top], px = p % w, py = p / w;
                area++;
                b.x0 = px < b.x0 ? px : b.x0;
                b.x1 = px > b.x1 ? px : b.x1;
                b.y0 = py < b.y0 ? py : b.y0;
                b.y1 = py > b.y1 ? py : b.y1;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int qx = px + dx, qy = py + dy;
                        if (qx < 0 || qy < 0 || qx >= w || qy >= h ||
                            m[(size_t)qy * w + qx] != GLYPH)
                            continue;
                        m[(size_t)qy * w + qx] = SEEN;
                        stack[top++] = qy * w + qx;
                    }
            }
            if (area >= 3 && b.x1 - b.x0 < LONG && b.y1 - b.y0 < LONG)
                g[n++] = b;
        }
    free(stack);
    return n;
}

/* Nearest-neighbour votes: *horizontal and *vertical (centres in doubled coordinates). */
static void neighbour_votes(const struct glyph *g, int n, int *horizontal, int *vertical)
{
    *horizontal = *vertical = 0;
    for (int i = 0; i < n; i++) {
        int cx = g[i].x0 + g[i].x1, cy = g[i].y0 + g[i].y1, best = -1;
        long best_d = 0;
        for (int j = 0; j < n; j++) {
            if (j == i)
                continue;
            long dx = g[j].x0 + g[j].x1 - cx, dy = g[j].y0 + g[j].y1 - cy;
            long d = dx * dx + dy * dy;
            if (best < 0 || d < best_d) {
                best = j;
                best_d = d;
            }
        }
        if (best < 0)
            continue;
        long dx = labs((long)(g[best].x0 + g[best].x1 - cx));
        long dy = labs((long)(g[best].y0 + g[best].y1 - cy));
        if (dx > 2 * dy)
            (*horizontal)++;
        else if (dy > 2 * dx)
            (*vertical)++;
    }
}

/* Over the lines of profile p (n bins, bands of nonzero bins): ink before each line's dense
 * core (its x-height band: bins >= half the line's peak) minus ink after it, and in *total the
 * two together. */
static long before_minus_after(const int *p, int n, long *total)
{
    long diff = 0;
    *total = 0;
    for (int i = 0; i < n;) {
        if (p[i] == 0) {
            i++;
            continue;
        }
        int start = i, peak = 0;
        while (i < n && p[i] > 0) {
            peak = p[i] > peak ? p[i] : peak;
            i++;
        }
        int core0 = start, core1 = i - 1;
        while (2 * p[core0] < peak)
            core0++;
        while (2 * p[core1] < peak)
            core1--;
        long before = 0, after = 0;
        for (int k = start; k < core0; k++)
            before += p[k];
        for (int k = core1 + 1; k < i; k++)
            after += p[k];
        diff += before - after;
        *total += before + after;
    }
    return diff;
}

/* The second cue, for lines without ascenders (digits): small marks (periods, decimal points,
 * commas) sit on the baseline. Over the glyphs no bigger than a third of their line: those in
 * the last 40% of their line across it (after) minus those in the first 40% (before); in
 * *total both together (p: the glyph profile across the lines, len bins). */
static int marks_after_minus_before(const struct glyph *g, int n, const int *p, int len,
                                    bool sideways, int *total)
{
    int diff = 0;
    *total = 0;
    for (int i = 0; i < n; i++) {
        int a0 = sideways ? g[i].x0 : g[i].y0, a1 = sideways ? g[i].x1 : g[i].y1;
        int b0 = sideways ? g[i].y0 : g[i].x0, b1 = sideways ? g[i].y1 : g[i].x1;
        int c = (a0 + a1) / 2;
        if (c < 0 || c >= len || p[c] == 0)
            continue;
        int start = c, end = c;
        while (start > 0 && p[start - 1] > 0)
            start--;
        while (end + 1 < len && p[end + 1] > 0)
            end++;
        int line = end - start + 1;
        if (line < 6 || 3 * (a1 - a0 + 1) > line || 3 * (b1 - b0 + 1) > line)
            continue;
        double f = (double)(a0 + a1 + 1 - 2 * start) / (2.0 * line);
        if (f > 0.6) {
            diff++;
            ++*total;
        } else if (f < 0.4) {
            diff--;
            ++*total;
        }
    }
    return diff;
}

int model_orientation(const uint8_t *gray, int w, int h, size_t stride)
{
    if (w < 8 || h < 8)
        return 0;
    uint8_t *m = q_malloc((size_t)w * (size_t)h);
    struct glyph *g = q_malloc(sizeof *g * MAX_GLYPHS);
    int *profile = q_calloc((size_t)(w > h ? w : h), sizeof *profile);
    int result = 0;
    if (!m || !g || !profile)
        goto out;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            m[(size_t)y * w + x] = gray[(size_t)y * stride + x] < INK ? GLYPH : EMPTY;
    mark_rules(m, w, h, true);
    mark_rules(m, w, h, false);
    int n = find_glyphs(m, w, h, g, MAX_GLYPHS);
    if (n < MIN_GLYPHS)
        goto out;
    int horizontal, vertical;
    neighbour_votes(g, n, &horizontal, &vertical);
    bool sideways;
    if (horizontal >= 2 * vertical && horizontal >= MIN_GLYPHS / 2)
        sideways = false;
    else if (vertical >= 2 * horizontal && vertical >= MIN_GLYPHS / 2)
        sideways = true;
    else
        goto out;
    /* the glyphs' ink across the lines: per row when upright, per column when sideways */
    int len = sideways ? w : h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (m[(size_t)y * w + x] == SEEN)
                profile[sideways ? x : y]++;
    long total, diff = before_minus_after(profile, len, &total);
    bool up_before; /* the tops of the letters face the start of the axis across the lines */
    if (total >= 4 * MIN_GLYPHS && labs(diff) * 5 >= total) {
        up_before = diff > 0; /* more ink above the x-height band than below the baseline */
    } else {
        int marks, after = marks_after_minus_before(g, n, profile, len, sideways, &marks);
        if (marks < MIN_GLYPHS / 2 || abs(after) * 3 < marks * 2)
            goto out; /* the sense is unclear: leave the crop alone */
        up_before = after > 0; /* the marks sit low */
    }
    /* upright: tops up (before); 90: tops face right (after); 270: tops face left */
    if (sideways)
        result = up_before ? 270 : 90;
    else
        result = up_before ? 0 : 180;
out:
    free(profile);
    free(g);
    free(m);
    return result;
}
