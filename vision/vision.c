/*
 * vision.c - vision_analyze(): rulings, then ruled and rule-only regions, then borderless ones.
 *
 * Order matters: regions built from rulings are the most certain, so they are found first and the
 * borderless search skips the text they hold. Overlapping regions are merged at the end so the
 * caller gets disjoint regions.
 */
#include "vision_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void vision_options_init(struct vision_options *o)
{
    o->min_ruling_length = 10.0;
    o->max_ruling_thickness = 4.0;
    o->dark_threshold = 200;
    o->borderless = true;
    o->min_confidence = 0.5;
}

void page_layout_free(struct page_layout *layout)
{
    if (!layout)
        return;
    free(layout->rulings);
    free(layout->regions);
    free(layout);
}

/* True when ruling r lies inside box b grown by tol points on every side. */
static bool ruling_in_box(const struct ruling *r, struct rect b, double tol)
{
    return r->x0 >= b.x0 - tol && r->x1 <= b.x1 + tol && r->y0 >= b.y0 - tol && r->y1 <= b.y1 + tol;
}

/* True when the short ruling r runs across the word box b through its middle line, within the
 * word or `reach` points beside it: a stroke of the letters (white letters on a dark band give
 * such strokes from the band's edge to edge, beside each letter), never a rule between cells,
 * which would cut the word or leave it room. */
static bool through_word(const struct ruling *r, struct rect b, double reach)
{
    double h = rect_height(b);
    if (ruling_is_horizontal(r)) /* a strike-through */
        return r->x1 - r->x0 < 3 * h && r->y0 > b.y0 + 0.25 * h && r->y0 < b.y1 - 0.25 * h &&
               r->x0 >= b.x0 - reach && r->x1 <= b.x1 + reach;
    double mid = (b.y0 + b.y1) / 2;
    return r->y1 - r->y0 < 3 * h && r->x0 >= b.x0 - reach && r->x0 <= b.x1 + reach && r->y0 < mid &&
           r->y1 > mid;
}

/* The share of ruling r's length that lies within `tol` points of word boxes. */
static double share_in_words(const struct page *page, const struct ruling *r, double tol)
{
    bool h = ruling_is_horizontal(r);
    double a0 = h ? r->x0 : r->y0, a1 = h ? r->x1 : r->y1, at = h ? r->y0 : r->x0;
    if (a1 <= a0)
        return 0;
    enum { STEPS = 64 };
    int covered = 0;
    for (int s = 0; s < STEPS; s++) {
        double p = a0 + (a1 - a0) * (s + 0.5) / STEPS;
        for (size_t k = 0; k < page->n_words; k++) {
            struct rect b = page->words[k].bbox;
            double x = h ? p : at, y = h ? at : p;
            if (x >= b.x0 - tol && x <= b.x1 + tol && y >= b.y0 - tol && y <= b.y1 + tol) {
                covered++;
                break;
            }
        }
    }
    return covered / (double)STEPS;
}

/* True when some word lies inside the fill beside the fill edge r, within `depth` points of it:
 * the text of a coloured header band. A dark bar with nothing written in it (a redaction, a
 * logo) gives no rulings. */
static bool fill_holds_words(const struct page *page, const struct ruling *r, double depth)
{
    bool h = ruling_is_horizontal(r);
    double at = h ? r->y0 : r->x0, lo = r->fill < 0 ? at - depth : at,
           hi = r->fill < 0 ? at : at + depth;
    for (size_t k = 0; k < page->n_words; k++) {
        struct rect b = page->words[k].bbox;
        double cx = (b.x0 + b.x1) / 2, cy = (b.y0 + b.y1) / 2;
        double across = h ? cy : cx, along = h ? cx : cy;
        if (across > lo && across < hi && along >= (h ? r->x0 : r->y0) &&
            along <= (h ? r->x1 : r->y1))
            return true;
    }
    return false;
}

/* Drops rulings that lie inside a word's box (underlines of a heading, a large letter's stem,
 * the edge of a white letter on a dark band, which may reach `reach` points out of the box),
 * run through one (through_word), or, short and on a dark band, run along the letters of its
 * white text (the gap between two lines of it); and the edges of dark fills without text. */
static void drop_rulings_in_words(const struct page *page, const struct vision_options *o,
                                  struct ruling *r, size_t *n)
{
    size_t m = 0;
    double reach = vision__fill_reach(&page->raster, o);
    double tol = 1 + reach, font = vision__median_font(page);
    for (size_t i = 0; i < *n; i++) {
        bool inside = false;
        for (size_t k = 0; k < page->n_words && !inside; k++) {
            struct rect b = page->words[k].bbox;
            inside = ruling_in_box(&r[i], b, tol) || through_word(&r[i], b, reach);
        }
        double len = fmax(r[i].x1 - r[i].x0, r[i].y1 - r[i].y0);
        if (!inside && len < 8 * font && share_in_words(page, &r[i], tol) >= 0.8 &&
            vision__ruling_on_dark(&page->raster, o, &r[i]))
            inside = true;
        if (!inside && r[i].fill && !fill_holds_words(page, &r[i], 3 * font))
            inside = true;
        if (!inside)
            r[m++] = r[i];
    }
    *n = m;
}

/* The same for a scan: strokes of letters (a bold heading's stems and bars) that the ruling
 * detector took for short rulings lie inside the boxes of the ink page's words. */
static int drop_rulings_in_ink(const struct ink_page *ink, struct ruling *r, size_t *n)
{
    struct ruling *up = q_malloc(sizeof *up * (*n + 1));
    if (!up)
        return QUIRE_ENOMEM;
    if (*n)
        memcpy(up, r, sizeof *up * *n);
    vision__ink_rulings_to_upright(ink, up, *n);
    size_t m = 0;
    for (size_t i = 0; i < *n; i++) {
        bool inside = false;
        for (size_t k = 0; k < ink->page.n_words && !inside; k++)
            inside = ruling_in_box(&up[i], ink->page.words[k].bbox, 1);
        if (!inside)
            r[m++] = r[i];
    }
    *n = m;
    free(up);
    return 0;
}

static int cmp_region(const void *a, const void *b)
{
    const struct region *p = a, *q = b;
    if (p->bbox.y0 != q->bbox.y0)
        return p->bbox.y0 < q->bbox.y0 ? -1 : 1;
    return p->bbox.x0 < q->bbox.x0 ? -1 : p->bbox.x0 > q->bbox.x0;
}

bool vision_region_nested(const struct region *inner, const struct region *outer)
{
    struct rect a = inner->bbox, b = outer->bbox;
    return inner != outer && inner->kind == REGION_RULED && outer->kind == REGION_RULED &&
           a.x0 >= b.x0 - 1 && a.y0 >= b.y0 - 1 && a.x1 <= b.x1 + 1 && a.y1 <= b.y1 + 1 &&
           rect_width(a) * rect_height(a) <= 0.7 * rect_width(b) * rect_height(b);
}

/* Merges overlapping regions (the union keeps the more certain kind) until none overlap but
 * nested ruled ones. */
static void merge_overlapping(struct region *r, size_t *n)
{
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < *n && !changed; i++) {
            for (size_t j = i + 1; j < *n; j++) {
                if (rect_overlap_area(r[i].bbox, r[j].bbox) <= 0 ||
                    vision_region_nested(&r[i], &r[j]) || vision_region_nested(&r[j], &r[i]))
                    continue;
                r[i].bbox = rect_union(r[i].bbox, r[j].bbox);
                if (r[j].kind < r[i].kind)
                    r[i].kind = r[j].kind;
                r[i].confidence = fmax(r[i].confidence, r[j].confidence);
                r[j] = r[--(*n)];
                changed = true;
                break;
            }
        }
    }
}

/* The x extent of the short phrase (<= 4 words) of `line` that ends just left of x (side < 0) or
 * starts just right of it (side > 0), within `reach`; false when there is none. */
static bool phrase_beside(const struct page *page, const struct text_line *line, double x, int side,
                          double reach, double font, double *x0, double *x1)
{
    int found = 0;
    double gap_limit = 1.5 * line->font_size;
    for (size_t n = 0; n < line->n_words; n++) {
        size_t k = side < 0 ? line->n_words - 1 - n : n;
        struct rect b = page->words[line->words[k]].bbox;
        bool beyond = side < 0 ? b.x1 <= x + 1 : b.x0 >= x - 1;
        if (!beyond)
            continue;
        if (fabs(page->words[line->words[k]].font_size - font) > 0.15 * font)
            return false; /* another text (a page column set in another size) */
        if (found == 0) {
            if ((side < 0 ? x - b.x1 : b.x0 - x) > reach)
                return false;
            *x0 = b.x0;
            *x1 = b.x1;
        } else if ((side < 0 ? *x0 - b.x1 : b.x0 - *x1) > gap_limit) {
            break;
        } else {
            *x0 = fmin(*x0, b.x0);
            *x1 = fmax(*x1, b.x1);
        }
        if (++found > 4)
            return false; /* prose, not a label */
    }
    return found > 0;
}

/* A ruled grid often leaves its label column (or a total column) outside its rules: when most of
 * the grid's text lines carry a short phrase just beside it, the region takes that column in. */
static int extend_ruled(const struct page *page, struct region *region)
{
    struct text_line *lines = NULL;
    size_t n = 0;
    struct rect band = {-INFINITY, region->bbox.y0, INFINITY, region->bbox.y1};
    int err = vision_text_lines(page, band, &lines, &n);
    if (err)
        return err;
    double reach = fmax(60.0, 0.3 * rect_width(region->bbox));
    for (int side = -1; side <= 1; side += 2) {
        int inside = 0, beside = 0;
        double edge = side < 0 ? region->bbox.x0 : region->bbox.x1, far = edge;
        int same_start = 0, same_end = 0;
        double first_x0 = NAN, first_x1 = NAN;
        for (size_t i = 0; i < n; i++) {
            double font = 0;
            for (size_t k = 0; k < lines[i].n_words && font == 0; k++) {
                const struct word *w = &page->words[lines[i].words[k]];
                if (rect_contains_point(region->bbox, (w->bbox.x0 + w->bbox.x1) / 2,
                                        (w->bbox.y0 + w->bbox.y1) / 2))
                    font = w->font_size;
            }
            double x0, x1;
            if (font == 0)
                continue;
            inside++;
            if (phrase_beside(page, &lines[i], edge, side, reach, font, &x0, &x1)) {
                if (beside++ == 0) {
                    first_x0 = x0;
                    first_x1 = x1;
                }
                same_start += fabs(x0 - first_x0) <= 2;
                same_end += fabs(x1 - first_x1) <= 2;
                far = side < 0 ? fmin(far, x0) : fmax(far, x1);
            }
        }
        /* Phrases that all start and end alike are the lines of a justified page column. */
        bool justified = same_start * 5 >= beside * 4 && same_end * 5 >= beside * 4;
        if (beside >= 3 && beside * 2 >= inside && !justified) {
            if (side < 0)
                region->bbox.x0 = far - 1;
            else
                region->bbox.x1 = far + 1;
        }
    }
    vision_text_lines_free(lines, n);
    return 0;
}

/* The direction of most words inside r (0 when there are none). */
static int dominant_rotation(const struct page *page, struct rect r)
{
    size_t count[4] = {0};
    for (size_t i = 0; i < page->n_words; i++) {
        const struct word *w = &page->words[i];
        if (w->text && strlen(w->text) > 1 &&
            rect_contains_point(r, (w->bbox.x0 + w->bbox.x1) / 2, (w->bbox.y0 + w->bbox.y1) / 2))
            count[(w->rotation / 90) & 3]++;
    }
    int best = 0;
    for (int k = 1; k < 4; k++)
        if (count[k] > count[best])
            best = k;
    return best * 90;
}

/* Regions of text in direction `rotation`: found on a turned view of the page, mapped back. */
static int rotated_regions(const struct page *page, const struct vision_options *opts, int rotation,
                           struct page_layout *layout, size_t *cap_regions)
{
    size_t words = 0;
    for (size_t i = 0; i < page->n_words; i++)
        words += page->words[i].rotation == rotation;
    if (words < 8)
        return 0;
    struct page *view = NULL;
    struct ruling *rulings = q_malloc(sizeof *rulings * (layout->n_rulings + 1));
    struct region *found = NULL;
    size_t n_found = 0, cap_found = 0, n_rulings = layout->n_rulings;
    int err = rulings ? vision_rotated_view(page, rotation, &view) : QUIRE_ENOMEM;
    if (err)
        goto out;
    if (n_rulings) /* layout->rulings may be NULL */
        memcpy(rulings, layout->rulings, sizeof *rulings * n_rulings);
    vision_rulings_to_view(page, rotation, rulings, n_rulings);
    vision__merge_rulings(rulings, &n_rulings, 0.01, 0.0); /* sorts them again */
    err = vision__ruled_regions(view, rulings, n_rulings, &found, &n_found, &cap_found);
    if (!err && opts->borderless)
        err = vision__borderless_regions(view, opts, &found, &n_found, &cap_found);
    for (size_t i = 0; i < n_found && !err; i++) {
        struct region r = found[i];
        r.bbox = vision_rect_from_view(page, rotation, r.bbox);
        r.rotation = rotation;
        err = q_grow((void **)&layout->regions, sizeof r, cap_regions, layout->n_regions + 1);
        if (!err)
            layout->regions[layout->n_regions++] = r;
    }
out:
    free(found);
    free(rulings);
    vision_rotated_view_free(view);
    return err;
}

/* Rule-only and borderless regions of a scan: the word-based detectors run on its ink page (in
 * its upright frame, with its horizontal rules), outside the regions found already; what they
 * find is mapped back. */
static int scanned_regions(const struct ink_page *ink, const struct vision_options *opts,
                           struct page_layout *layout, size_t *cap_regions)
{
    size_t n_rulings = layout->n_rulings, n_found = layout->n_regions, cap_found = 0;
    struct ruling *rulings = q_malloc(sizeof *rulings * (n_rulings + ink->n_rules + 1));
    struct region *found = NULL;
    int err =
        rulings ? q_grow((void **)&found, sizeof *found, &cap_found, n_found + 1) : QUIRE_ENOMEM;
    if (err)
        goto out;
    if (n_rulings)
        memcpy(rulings, layout->rulings, sizeof *rulings * n_rulings);
    vision__ink_rulings_to_upright(ink, rulings, n_rulings);
    if (ink->n_rules)
        memcpy(rulings + n_rulings, ink->rules, sizeof *rulings * ink->n_rules);
    n_rulings += ink->n_rules;
    /* Horizontal rules, and vertical ones longer than three lines of text: a grid whose long
     * horizontal rules climb across pixel rows on a skewed scan is judged here, with the rules
     * recovered from the ink; short vertical strokes of bold type on a shaded band must not
     * close a network. */
    size_t kept = 0;
    double tall = 3 * 2.5 * ink->letter_height;
    for (size_t i = 0; i < n_rulings; i++)
        if (ruling_is_horizontal(&rulings[i]) || rulings[i].y1 - rulings[i].y0 >= tall)
            rulings[kept++] = rulings[i];
    n_rulings = kept;
    vision__merge_rulings(rulings, &n_rulings, 1.5, 3.0); /* pieces of a skewed rule */
    for (size_t i = 0; i < n_found; i++) {
        found[i] = layout->regions[i];
        found[i].bbox = vision__ink_rect_to_upright(ink, found[i].bbox);
    }
    size_t known = n_found;
    err = vision__ruled_regions(&ink->page, rulings, n_rulings, &found, &n_found, &cap_found);
    if (!err && opts->borderless)
        err = vision__borderless_regions(&ink->page, opts, &found, &n_found, &cap_found);
    for (size_t i = known; i < n_found && !err; i++) {
        struct region r = found[i];
        r.bbox = vision__ink_rect_from_upright(ink, r.bbox);
        err = q_grow((void **)&layout->regions, sizeof r, cap_regions, layout->n_regions + 1);
        if (!err)
            layout->regions[layout->n_regions++] = r;
    }
out:
    free(found);
    free(rulings);
    return err;
}

/* Merges a rule-only or borderless region into the one right above or below it when they are
 * one table cut in two (rules under some rows end a borderless block): about the same left and
 * right edges, and a gap of at most two lines. A ruled grid joins only a region that touches
 * it (a ruled header over a body without rules); after a blank, the grid was a table of its
 * own. Two ruled grids stay apart: stacked grids are separate tables. */
static void merge_stacked(struct region *r, size_t *n, double font)
{
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < *n && !changed; i++) {
            for (size_t j = 0; j < *n; j++) {
                struct rect a = r[i].bbox, b = r[j].bbox;
                bool ruled = r[i].kind == REGION_RULED || r[j].kind == REGION_RULED;
                if (i == j || b.y0 < a.y1 || b.y0 - a.y1 > (ruled ? 0.5 : 2.0) * font ||
                    (r[i].kind == REGION_RULED && r[j].kind == REGION_RULED))
                    continue;
                double wide = fmax(rect_width(a), rect_width(b));
                if (fabs(a.x0 - b.x0) > 0.1 * wide || fabs(a.x1 - b.x1) > 0.1 * wide)
                    continue;
                r[i].bbox = rect_union(a, b);
                r[i].kind = r[i].kind == REGION_BORDERLESS || r[j].kind == REGION_BORDERLESS
                                ? REGION_BORDERLESS
                                : (r[i].kind < r[j].kind ? r[j].kind : r[i].kind);
                r[i].confidence = fmax(r[i].confidence, r[j].confidence);
                r[j] = r[--(*n)];
                changed = true;
                break;
            }
        }
    }
}

int vision_analyze(const struct page *page, const struct vision_options *opts,
                   struct page_layout **out)
{
    if (!page || !out)
        return QUIRE_EINVAL;
    *out = NULL;
    struct vision_options defaults;
    if (!opts) {
        vision_options_init(&defaults);
        opts = &defaults;
    }
    struct page_layout *layout = q_calloc(1, sizeof *layout);
    if (!layout)
        return QUIRE_ENOMEM;
    struct ink_page *ink = NULL; /* a scan's pseudo-words */
    size_t cap_rulings = 0, cap_regions = 0;
    int err = vision_find_rulings(&page->raster, opts, &layout->rulings, &layout->n_rulings,
                                  &cap_rulings);
    if (err)
        goto fail;
    if (page->has_text_layer)
        drop_rulings_in_words(page, opts, layout->rulings, &layout->n_rulings);
    else if (page->raster.gray) {
        vision__drop_faint_rulings(&page->raster, layout->rulings, &layout->n_rulings);
        err = vision__ink_page(page, layout->rulings, layout->n_rulings, &ink);
        if (!err)
            err = drop_rulings_in_ink(ink, layout->rulings, &layout->n_rulings);
    }
    if (err)
        goto fail;
    err = vision__ruled_regions(page, layout->rulings, layout->n_rulings, &layout->regions,
                                &layout->n_regions, &cap_regions);
    for (size_t i = 0; !err && page->has_text_layer && i < layout->n_regions; i++)
        if (layout->regions[i].kind == REGION_RULED)
            err = extend_ruled(page, &layout->regions[i]);
    if (err)
        goto fail;
    if (page->has_text_layer && opts->borderless) {
        err = vision__borderless_regions(page, opts, &layout->regions, &layout->n_regions,
                                         &cap_regions);
        if (err)
            goto fail;
    }
    if (ink && ink->page.n_words)
        err = scanned_regions(ink, opts, layout, &cap_regions);
    for (int rotation = 90; rotation <= 270 && !err; rotation += 90)
        err = rotated_regions(page, opts, rotation, layout, &cap_regions);
    if (err)
        goto fail;
    size_t m = 0;
    for (size_t i = 0; i < layout->n_regions; i++)
        if (layout->regions[i].confidence >= opts->min_confidence)
            layout->regions[m++] = layout->regions[i];
    layout->n_regions = m;
    merge_overlapping(layout->regions, &layout->n_regions);
    if (page->has_text_layer)
        merge_stacked(layout->regions, &layout->n_regions, vision__median_font(page));
    else if (ink && ink->page.n_words)
        merge_stacked(layout->regions, &layout->n_regions, vision__median_font(&ink->page));
    merge_overlapping(layout->regions, &layout->n_regions); /* a merged pair may meet a third */
    for (size_t i = 0; i < layout->n_regions; i++)
        layout->regions[i].rotation = dominant_rotation(page, layout->regions[i].bbox);
    q_sort(layout->regions, layout->n_regions, sizeof *layout->regions, cmp_region);
    vision__ink_page_free(ink);
    *out = layout;
    return 0;
fail:
    vision__ink_page_free(ink);
    page_layout_free(layout);
    return err;
}
