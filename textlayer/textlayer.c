/*
 * textlayer.c - textlayer_extract(): from a region's grid and words to a `struct table`.
 *
 * The grid (grid.c) says where rows, columns and spans are; this file walks it row-major to make
 * the cells (each anchor grows right, then down, while no separator stops it), puts each word
 * into the cell holding its centre, joins each cell's words in reading order, and marks the
 * header rows (leading bold rows, or the rows above a booktabs mid rule).
 */
#include "textlayer_internal.h"

#include <glib.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One cell under construction. */
struct proto_cell {
    int row, col, rowspan, colspan;
    size_t *words; /* indices into page->words */
    int *lines;    /* the text line of each word */
    size_t n_words, cap_words;
    int bold_words;
};

struct build {
    struct proto_cell *cells;
    size_t n_cells;
    int *anchor; /* [r * n_cols + c]: index of the cell covering the position */
};

static void build_release(struct build *b)
{
    for (size_t i = 0; i < b->n_cells; i++) {
        free(b->cells[i].words);
        free(b->cells[i].lines);
    }
    free(b->cells);
    free(b->anchor);
}

static int make_cells(const struct grid *g, struct build *b)
{
    size_t n = (size_t)g->n_rows * (size_t)g->n_cols;
    b->anchor = q_malloc(sizeof(int) * (n + 1));
    b->cells = q_calloc(n + 1, sizeof *b->cells);
    if (!b->anchor || !b->cells)
        return QUIRE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        b->anchor[i] = -1;
    int nc = g->n_cols;
    for (int r = 0; r < g->n_rows; r++) {
        for (int c = 0; c < nc; c++) {
            if (b->anchor[r * nc + c] >= 0)
                continue;
            int cs = 1, rs = 1;
            while (c + cs < nc && !g->sep_right[r * nc + c + cs - 1] &&
                   b->anchor[r * nc + c + cs] < 0)
                cs++;
            for (;;) {
                if (r + rs >= g->n_rows)
                    break;
                bool open = true;
                for (int k = c; k < c + cs && open; k++)
                    open = !g->sep_down[(r + rs - 1) * nc + k] && b->anchor[(r + rs) * nc + k] < 0;
                /* The cell must stay a rectangle: no separator inside the new row either. */
                for (int k = c; k < c + cs - 1 && open; k++)
                    open = !g->sep_right[(r + rs) * nc + k];
                if (!open)
                    break;
                rs++;
            }
            int id = (int)b->n_cells++;
            b->cells[id] = (struct proto_cell){r, c, rs, cs, NULL, NULL, 0, 0, 0};
            for (int y = r; y < r + rs; y++)
                for (int x = c; x < c + cs; x++)
                    b->anchor[y * nc + x] = id;
        }
    }
    return 0;
}

static int add_word(struct proto_cell *c, size_t word, int line, bool bold)
{
    if (c->n_words == c->cap_words) {
        size_t cap = c->cap_words ? 2 * c->cap_words : 4;
        size_t *w = q_realloc(c->words, sizeof(size_t) * cap);
        if (!w)
            return QUIRE_ENOMEM;
        c->words = w;
        int *l = q_realloc(c->lines, sizeof(int) * cap);
        if (!l)
            return QUIRE_ENOMEM;
        c->lines = l;
        c->cap_words = cap;
    }
    c->words[c->n_words] = word;
    c->lines[c->n_words++] = line;
    c->bold_words += bold;
    return 0;
}

/* Length of `text` without a trailing dot leader (a run of >= 3 dots, or of >= 1 dot when the word
 * is one of several dot-only words); 0 when the word is all leader. */
static size_t without_leader(const char *text, bool in_leader_run)
{
    size_t n = strlen(text), k = n;
    while (k > 0 && text[k - 1] == '.')
        k--;
    if (n - k >= 3 || (k == 0 && in_leader_run))
        return k;
    return n;
}

static bool dots_only(const char *t)
{
    for (; *t; t++)
        if (*t != '.')
            return false;
    return true;
}

/* True when most letters of the word are from a right-to-left script (Hebrew, Arabic, ...). */
static int rtl_balance(const char *text)
{
    int balance = 0;
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
        gunichar ch = g_utf8_get_char(p);
        if ((ch >= 0x0590 && ch <= 0x08FF) || (ch >= 0xFB1D && ch <= 0xFDFF) ||
            (ch >= 0xFE70 && ch <= 0xFEFF))
            balance++;
        else if (g_unichar_isalpha(ch))
            balance--;
    }
    return balance;
}

/* The order in which the cell's words are read: by line, then x (the order they arrive in),
 * except that a line written mostly in a right-to-left script is read right to left. */
static void reading_order(const struct page *page, const struct proto_cell *c, size_t *order)
{
    for (size_t i = 0; i < c->n_words; i++)
        order[i] = c->words[i];
    for (size_t start = 0; start < c->n_words;) {
        const struct word *first = &page->words[order[start]];
        size_t end = start + 1;
        int balance = rtl_balance(first->text);
        while (end < c->n_words) {
            const struct word *w = &page->words[order[end]];
            double overlap = fmin(w->bbox.y1, first->bbox.y1) - fmax(w->bbox.y0, first->bbox.y0);
            if (overlap < 0.5 * fmin(rect_height(w->bbox), rect_height(first->bbox)))
                break; /* the next line starts */
            balance += rtl_balance(w->text);
            end++;
        }
        if (balance > 0)
            for (size_t a = start, b = end - 1; a < b; a++, b--) {
                size_t t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
        start = end;
    }
}

/* The cell's text: its words in reading order joined by spaces, dot leaders ("Total . . . . . .",
 * "Arson.........") left out. */
static char *cell_text(const struct page *page, const struct proto_cell *c, struct rect *box)
{
    size_t len = 1;
    for (size_t i = 0; i < c->n_words; i++)
        len += strlen(page->words[c->words[i]].text) + 1;
    char *s = q_malloc(len);
    size_t *order = q_malloc(c->n_words * sizeof *order);
    if (!s || !order) {
        free(s);
        free(order);
        return NULL;
    }
    reading_order(page, c, order);
    size_t at = 0;
    for (size_t i = 0; i < c->n_words; i++) {
        const struct word *w = &page->words[order[i]];
        *box = i ? rect_union(*box, w->bbox) : w->bbox;
        bool run = dots_only(w->text) &&
                   ((i > 0 && dots_only(page->words[order[i - 1]].text)) ||
                    (i + 1 < c->n_words && dots_only(page->words[order[i + 1]].text)));
        size_t n = without_leader(w->text, run);
        if (n == 0)
            continue;
        if (at)
            s[at++] = ' ';
        memcpy(s + at, w->text, n);
        at += n;
    }
    s[at] = '\0';
    free(order);
    return s;
}

/* Leading rows whose words are all bold, or the rows above a booktabs mid rule. */
static int header_rows(const struct grid *g, const struct build *b, const struct region *region)
{
    int rows = 0;
    for (int r = 0; r < g->n_rows; r++) {
        int words = 0, bold = 0;
        for (size_t i = 0; i < b->n_cells; i++) {
            if (b->cells[i].row != r)
                continue;
            words += (int)b->cells[i].n_words;
            bold += b->cells[i].bold_words;
        }
        if (words == 0 || bold < words)
            break;
        rows = r + 1;
    }
    if (rows > 0 && rows < g->n_rows)
        return rows;
    if (region->kind == REGION_HRULES && !isnan(g->header_rule)) {
        double mid = (region->bbox.y0 + region->bbox.y1) / 2;
        rows = 0;
        while (rows < g->n_rows && g->row_edges[rows + 1] <= g->header_rule + 1.5)
            rows++;
        if (g->header_rule < mid && rows > 0 && rows < g->n_rows)
            return rows;
    }
    return 0;
}

/* Sideways words in reading order: by column of text (x), then along it (down for 90, up for
 * 270). */
static int cmp_sideways(const struct word *p, const struct word *q)
{
    if (fabs(p->bbox.x0 - q->bbox.x0) > 0.5 * fmin(rect_width(p->bbox), rect_width(q->bbox)))
        return p->rotation == 270 ? (p->bbox.x0 < q->bbox.x0 ? -1 : 1)
                                  : (p->bbox.x0 > q->bbox.x0 ? -1 : 1);
    bool down = p->rotation != 270;
    return (p->bbox.y0 < q->bbox.y0) == down ? -1 : 1;
}

/* Words of another direction inside a fully ruled grid (vertical column headers): each goes to
 * the cell holding its centre, after the cell's upright words. */
static int place_sideways(const struct page *page, const struct grid *g, struct rect area,
                          struct build *b)
{
    size_t *idx = q_malloc(sizeof(size_t) * (page->n_words + 1));
    if (!idx)
        return QUIRE_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < page->n_words; i++) {
        const struct word *w = &page->words[i];
        if (w->rotation != 0 && w->text && w->text[0] &&
            rect_contains_point(area, (w->bbox.x0 + w->bbox.x1) / 2, (w->bbox.y0 + w->bbox.y1) / 2))
            idx[n++] = i;
    }
    /* Insertion sort: a grid holds few sideways words, and qsort would need global context. */
    for (size_t i = 1; i < n; i++) {
        size_t v = idx[i], j = i;
        while (j > 0 && cmp_sideways(&page->words[idx[j - 1]], &page->words[v]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        const struct word *w = &page->words[idx[i]];
        int r = textlayer__row_of(g, (w->bbox.y0 + w->bbox.y1) / 2);
        int c = textlayer__col_of(g, (w->bbox.x0 + w->bbox.x1) / 2);
        err = add_word(&b->cells[b->anchor[r * g->n_cols + c]], idx[i], -1, w->bold);
    }
    free(idx);
    return err;
}

static int place_words(const struct page *page, const struct grid *g, const struct text_line *lines,
                       size_t n_lines, struct rect area, struct build *b)
{
    for (size_t i = 0; i < n_lines; i++) {
        for (size_t k = 0; k < lines[i].n_words; k++) {
            const struct word *w = &page->words[lines[i].words[k]];
            int r =
                g->line_row ? g->line_row[i] : textlayer__row_of(g, (w->bbox.y0 + w->bbox.y1) / 2);
            int c = textlayer__col_of(g, (w->bbox.x0 + w->bbox.x1) / 2);
            struct proto_cell *cell = &b->cells[b->anchor[r * g->n_cols + c]];
            if (add_word(cell, lines[i].words[k], (int)i, w->bold))
                return QUIRE_ENOMEM;
        }
    }
    return g->ruled_rows && g->ruled_cols ? place_sideways(page, g, area, b) : 0;
}

static int to_table(const struct page *page, const struct grid *g, const struct build *b,
                    const struct region *region, struct table **out)
{
    struct table *t = table_new(g->n_rows, g->n_cols);
    if (!t)
        return QUIRE_ENOMEM;
    t->header_rows = header_rows(g, b, region);
    for (size_t i = 0; i < b->n_cells; i++) {
        const struct proto_cell *c = &b->cells[i];
        struct rect box = {g->col_edges[c->col], g->row_edges[c->row],
                           g->col_edges[c->col + c->colspan], g->row_edges[c->row + c->rowspan]};
        struct rect words_box = box;
        char *text = cell_text(page, c, &words_box);
        if (!text) {
            table_free(t);
            return QUIRE_ENOMEM;
        }
        enum cell_kind kind = c->row < t->header_rows ? CELL_COLUMN_HEADER : CELL_DATA;
        int err = table_set_cell(t, c->row, c->col, c->rowspan, c->colspan, kind, text);
        free(text);
        if (err) {
            table_free(t);
            return err;
        }
        struct table_cell *tc = table_cell_at_mut(t, c->row, c->col);
        tc->has_bbox = true;
        tc->bbox = g->ruled_rows && g->ruled_cols ? box : words_box;
    }
    *out = t;
    return 0;
}

static int extract_upright(const struct page *page, const struct page_layout *layout,
                           const struct region *region, struct table **out, char **msg)
{
    struct rect area = {region->bbox.x0 - 1.5, region->bbox.y0 - 1.5, region->bbox.x1 + 1.5,
                        region->bbox.y1 + 1.5};
    struct text_line *lines = NULL;
    size_t n_lines = 0;
    struct grid g;
    struct build b = {0};
    int err = vision_text_lines(page, area, &lines, &n_lines);
    if (err)
        return err;
    memset(&g, 0, sizeof g);
    if (n_lines == 0) {
        if (msg)
            *msg = q_asprintf("page %d: the region (%.1f,%.1f)-(%.1f,%.1f) holds no words",
                              page->index + 1, region->bbox.x0, region->bbox.y0, region->bbox.x1,
                              region->bbox.y1);
        err = QUIRE_EINVAL;
        goto out;
    }
    err = textlayer__grid_build(page, layout, region, lines, n_lines, &g);
    if (!err)
        err = make_cells(&g, &b);
    if (!err)
        err = place_words(page, &g, lines, n_lines, area, &b);
    if (!err)
        err = to_table(page, &g, &b, region, out);
out:
    build_release(&b);
    textlayer__grid_release(&g);
    vision_text_lines_free(lines, n_lines);
    return err;
}

/* Sideways text: extract on a turned view of the page, then turn the cell boxes back. */
static int extract_rotated(const struct page *page, const struct page_layout *layout,
                           const struct region *region, struct table **out, char **msg)
{
    struct page *view = NULL;
    struct page_layout turned = {0};
    struct region r = *region;
    int err = vision_rotated_view(page, region->rotation, &view);
    if (err)
        return err;
    if (layout && layout->n_rulings) {
        turned.rulings = q_malloc(sizeof *turned.rulings * layout->n_rulings);
        if (!turned.rulings) {
            err = QUIRE_ENOMEM;
            goto out;
        }
        memcpy(turned.rulings, layout->rulings, sizeof *turned.rulings * layout->n_rulings);
        turned.n_rulings = layout->n_rulings;
        vision_rulings_to_view(page, region->rotation, turned.rulings, turned.n_rulings);
    }
    r.bbox = vision_rect_to_view(page, region->rotation, region->bbox);
    r.rotation = 0;
    err = extract_upright(view, &turned, &r, out, msg);
    for (size_t i = 0; !err && i < (*out)->n_cells; i++) {
        struct table_cell *c = &(*out)->cells[i];
        if (c->has_bbox)
            c->bbox = vision_rect_from_view(page, region->rotation, c->bbox);
    }
out:
    free(turned.rulings);
    vision_rotated_view_free(view);
    return err;
}

/* Whether point (x, y) lies in a ruled region nested in `region` (vision_region_nested). */
static bool in_nested(const struct page_layout *layout, const struct region *region, double x,
                      double y)
{
    for (size_t i = 0; i < layout->n_regions; i++) {
        const struct region *r = &layout->regions[i];
        if (vision_region_nested(r, region) && x >= r->bbox.x0 - 2 && x <= r->bbox.x1 + 2 &&
            y >= r->bbox.y0 - 2 && y <= r->bbox.y1 + 2)
            return true;
    }
    return false;
}

/* A region with ruled tables set in its cells: read without their words and rulings (they are
 * tables of their own), on a copy of the page and the layout that leaves them out. */
static int extract_around_nested(const struct page *page, const struct page_layout *layout,
                                 const struct region *region, struct table **out, char **msg)
{
    struct page view = *page;
    struct page_layout outer = {0};
    view.words = q_malloc(sizeof *view.words * (page->n_words + 1));
    outer.rulings = q_malloc(sizeof *outer.rulings * (layout->n_rulings + 1));
    int err = view.words && outer.rulings ? 0 : QUIRE_ENOMEM;
    if (!err) {
        view.n_words = 0;
        for (size_t i = 0; i < page->n_words; i++) {
            struct rect b = page->words[i].bbox;
            if (!in_nested(layout, region, (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2))
                view.words[view.n_words++] = page->words[i];
        }
        for (size_t i = 0; i < layout->n_rulings; i++) {
            const struct ruling *r = &layout->rulings[i];
            if (!in_nested(layout, region, r->x0, r->y0) ||
                !in_nested(layout, region, r->x1, r->y1))
                outer.rulings[outer.n_rulings++] = *r;
        }
        err = extract_upright(&view, &outer, region, out, msg);
    }
    free(view.words);
    free(outer.rulings);
    return err;
}

int textlayer_extract(const struct page *page, const struct page_layout *layout,
                      const struct region *region, struct table **out, char **msg)
{
    if (msg)
        *msg = NULL;
    if (!page || !region || !out)
        return QUIRE_EINVAL;
    *out = NULL;
    if (region->rotation == 90 || region->rotation == 180 || region->rotation == 270)
        return extract_rotated(page, layout, region, out, msg);
    for (size_t i = 0; layout && i < layout->n_regions; i++)
        if (vision_region_nested(&layout->regions[i], region))
            return extract_around_nested(page, layout, region, out, msg);
    return extract_upright(page, layout, region, out, msg);
}
