/*
 * rotate.c - rotated text: a turned view of the page in which it reads left to right.
 *
 * Tables printed sideways (a landscape table on a portrait page) have words of direction 90 or
 * 270. Rather than teach every step about directions, vision/ and textlayer/ run their usual code
 * on a view of the page turned so that those words read left to right, and map the results back.
 *
 * Frames (W, H: the page's width and height):
 *   90  (text runs downwards):  x' = y,      y' = W - x   (the view is H wide, W high)
 *   270 (text runs upwards):    x' = H - y,  y' = x
 *   180 (upside down):          x' = W - x,  y' = H - y
 */
#include "vision_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void point_to_view(const struct page *p, int rotation, double x, double y, double *vx,
                          double *vy)
{
    switch (rotation) {
    case 90:
        *vx = y;
        *vy = p->width - x;
        break;
    case 270:
        *vx = p->height - y;
        *vy = x;
        break;
    case 180:
        *vx = p->width - x;
        *vy = p->height - y;
        break;
    default:
        *vx = x;
        *vy = y;
        break;
    }
}

static void point_from_view(const struct page *p, int rotation, double vx, double vy, double *x,
                            double *y)
{
    switch (rotation) {
    case 90:
        *x = p->width - vy;
        *y = vx;
        break;
    case 270:
        *x = vy;
        *y = p->height - vx;
        break;
    case 180:
        *x = p->width - vx;
        *y = p->height - vy;
        break;
    default:
        *x = vx;
        *y = vy;
        break;
    }
}

static struct rect normalized(double ax, double ay, double bx, double by)
{
    return (struct rect){fmin(ax, bx), fmin(ay, by), fmax(ax, bx), fmax(ay, by)};
}

struct rect vision_rect_to_view(const struct page *page, int rotation, struct rect r)
{
    double ax, ay, bx, by;
    point_to_view(page, rotation, r.x0, r.y0, &ax, &ay);
    point_to_view(page, rotation, r.x1, r.y1, &bx, &by);
    return normalized(ax, ay, bx, by);
}

struct rect vision_rect_from_view(const struct page *page, int rotation, struct rect r)
{
    double ax, ay, bx, by;
    point_from_view(page, rotation, r.x0, r.y0, &ax, &ay);
    point_from_view(page, rotation, r.x1, r.y1, &bx, &by);
    return normalized(ax, ay, bx, by);
}

void vision_rulings_to_view(const struct page *page, int rotation, struct ruling *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct rect b =
            vision_rect_to_view(page, rotation, (struct rect){r[i].x0, r[i].y0, r[i].x1, r[i].y1});
        bool horizontal = rotation == 90 || rotation == 270 ? !ruling_is_horizontal(&r[i])
                                                            : ruling_is_horizontal(&r[i]);
        if (horizontal)
            r[i] = (struct ruling){b.x0, b.y0, b.x1, b.y0, r[i].thickness, 0};
        else
            r[i] = (struct ruling){b.x0, b.y0, b.x0, b.y1, r[i].thickness, 0};
    }
}

/* A one-character word has no direction of its own; a box wider than tall says it is turned. */
static bool turned_glyph(const struct word *w)
{
    return w->rotation == 0 && w->text && strlen(w->text) <= 4 && w->text[0] &&
           rect_width(w->bbox) > 1.2 * rect_height(w->bbox) &&
           rect_height(w->bbox) < 0.75 * (w->font_size > 0 ? w->font_size : 1e9);
}

int vision_rotated_view(const struct page *page, int rotation, struct page **view)
{
    *view = NULL;
    struct page *v = q_calloc(1, sizeof *v);
    if (!v)
        return QUIRE_ENOMEM;
    v->words = q_malloc(sizeof *v->words * (page->n_words + 1));
    if (!v->words) {
        free(v);
        return QUIRE_ENOMEM;
    }
    v->index = page->index;
    bool swap = rotation == 90 || rotation == 270;
    v->width = swap ? page->height : page->width;
    v->height = swap ? page->width : page->height;
    for (size_t i = 0; i < page->n_words; i++) {
        const struct word *w = &page->words[i];
        if (w->rotation != rotation && !(swap && turned_glyph(w)))
            continue;
        struct word c = *w;
        c.bbox = vision_rect_to_view(page, rotation, w->bbox);
        c.rotation = 0;
        v->words[v->n_words++] = c;
    }
    v->has_text_layer = v->n_words > 0;
    *view = v;
    return 0;
}

void vision_rotated_view_free(struct page *view)
{
    if (!view)
        return;
    free(view->words); /* the text belongs to the original page */
    free(view);
}
