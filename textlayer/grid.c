/*
 * grid.c - rows, columns and spans of a table region.
 *
 * Rows come from horizontal rulings when a ruled region has inner ones, otherwise from text lines
 * (a line that only continues cells of the line above - wrapped text - joins its row). Columns come
 * from vertical rulings when a ruled region has inner ones, otherwise from the whitespace gaps of
 * the words (vision_column_gaps). Two neighbouring positions are one cell when no ruling separates
 * them (ruled dimension) or when a phrase of the text crosses the column edge (text columns: a
 * header over several columns).
 */
#include "textlayer_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define POS_TOL 3.0 /* points: rulings this close are one grid line */

void textlayer__grid_release(struct grid *g)
{
    free(g->row_edges);
    free(g->col_edges);
    free(g->sep_right);
    free(g->sep_down);
    free(g->line_row);
    free(g->row_ruled);
    free(g->col_ruled);
    memset(g, 0, sizeof *g);
}

static int band_of(const double *edges, int n, double v)
{
    int i = 0;
    while (i < n - 1 && v > edges[i + 1])
        i++;
    return i;
}

int textlayer__col_of(const struct grid *g, double x)
{
    return band_of(g->col_edges, g->n_cols, x);
}
int textlayer__row_of(const struct grid *g, double y)
{
    return band_of(g->row_edges, g->n_rows, y);
}

/* Edges from ruling positions inside [lo, hi]: clustered, with lo and hi as the outer edges.
 * Returns the number of edges written to *out (a new array), or -1 on ENOMEM. */
static int ruled_edges(const double *pos, size_t n, double lo, double hi, double **out)
{
    double *e = q_malloc(sizeof(double) * (n + 2));
    if (!e)
        return -1;
    int m = 0;
    e[m++] = lo;
    for (size_t i = 0; i < n; i++) {
        if (pos[i] <= lo + POS_TOL || pos[i] >= hi - POS_TOL)
            continue;
        if (pos[i] - e[m - 1] <= POS_TOL) {
            e[m - 1] = m - 1 == 0 ? lo : (e[m - 1] + pos[i]) / 2;
            continue;
        }
        e[m++] = pos[i];
    }
    e[m++] = hi;
    *out = e;
    return m;
}

/* Rulings of the layout that belong to the region: positions of horizontals (hy), of those
 * that cross >= 40% of it (wide), and of verticals (vx), sorted. */
static int region_rulings(const struct page_layout *layout, struct rect box, double **hy,
                          size_t *nh, double **vx, size_t *nv, double **wide, size_t *nw)
{
    size_t n = layout ? layout->n_rulings : 0;
    *hy = q_malloc(sizeof(double) * (n + 1));
    *vx = q_malloc(sizeof(double) * (n + 1));
    *wide = q_malloc(sizeof(double) * (n + 1));
    *nh = *nv = *nw = 0;
    if (!*hy || !*vx || !*wide)
        return QUIRE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct ruling *r = &layout->rulings[i];
        if (ruling_is_horizontal(r)) {
            double over = fmin(r->x1, box.x1) - fmax(r->x0, box.x0);
            if (r->y0 < box.y0 - POS_TOL || r->y0 > box.y1 + POS_TOL)
                continue;
            if (over > 0.3 * (r->x1 - r->x0))
                (*hy)[(*nh)++] = r->y0;
            if (over > 0.4 * rect_width(box))
                (*wide)[(*nw)++] = r->y0;
        } else {
            double over = fmin(r->y1, box.y1) - fmax(r->y0, box.y0);
            if (r->x0 >= box.x0 - POS_TOL && r->x0 <= box.x1 + POS_TOL &&
                over > 0.3 * (r->y1 - r->y0))
                (*vx)[(*nv)++] = r->x0;
        }
    }
    q_sort(*hy, *nh, sizeof **hy, q_cmp_double);
    q_sort(*vx, *nv, sizeof **vx, q_cmp_double);
    q_sort(*wide, *nw, sizeof **wide, q_cmp_double);
    return 0;
}

/* True when some ruling of the given direction reaches into the band [a, b] across it (covers
 * its middle) anywhere within [lo, hi] along it: a column that no horizontal ruling crosses (a
 * label column left of the grid) has its rows separated by the text, not by rules. */
static bool ruling_reaches(const struct page_layout *layout, bool horizontal, double a, double b,
                           double lo, double hi)
{
    double mid = (a + b) / 2;
    for (size_t i = 0; i < layout->n_rulings; i++) {
        const struct ruling *r = &layout->rulings[i];
        if (ruling_is_horizontal(r) != horizontal)
            continue;
        double p = horizontal ? r->y0 : r->x0;
        double s = horizontal ? r->x0 : r->y0, e = horizontal ? r->x1 : r->y1;
        if (p >= lo - POS_TOL && p <= hi + POS_TOL && s <= mid && e >= mid)
            return true;
    }
    return false;
}

/* True when a ruling of the given direction lies at `pos` and covers [a, b] (its middle half). */
static bool ruling_covers(const struct page_layout *layout, bool horizontal, double pos, double a,
                          double b)
{
    double m0 = a + (b - a) * 0.25, m1 = b - (b - a) * 0.25;
    for (size_t i = 0; i < layout->n_rulings; i++) {
        const struct ruling *r = &layout->rulings[i];
        if (ruling_is_horizontal(r) != horizontal)
            continue;
        double p = horizontal ? r->y0 : r->x0;
        double s = horizontal ? r->x0 : r->y0, e = horizontal ? r->x1 : r->y1;
        if (fabs(p - pos) <= POS_TOL && s <= m0 + 1 && e >= m1 - 1)
            return true;
    }
    return false;
}

/* Columns filled by a line's words, as a bit set (columns >= 64 share the last bit). */
static uint64_t line_columns(const struct page *page, const struct text_line *l,
                             const struct grid *g)
{
    uint64_t set = 0;
    for (size_t k = 0; k < l->n_words; k++) {
        struct rect b = page->words[l->words[k]].bbox;
        int c = textlayer__col_of(g, (b.x0 + b.x1) / 2);
        set |= 1ull << (c < 63 ? c : 63);
    }
    return set;
}

/* True when the line's first word starts with a lower-case ASCII letter: it continues a phrase. */
static bool lowercase_start(const struct page *page, const struct text_line *l)
{
    const char *t = l->n_words ? page->words[l->words[0]].text : "";
    return *t >= 'a' && *t <= 'z';
}

/* The median vertical gap above a line that fills the first column and another one (the start
 * of a row), or 0 when there is none. cols[i - a] are the lines' column sets. The line above
 * may be a wrapped line of the previous row: when every row wraps, no two full lines meet. */
static double typical_row_gap(const struct text_line *lines, size_t a, size_t b,
                              const uint64_t *cols)
{
    double gaps[64];
    size_t n = 0;
    for (size_t i = a + 1; i < b && n < 64; i++) {
        uint64_t c = cols[i - a];
        if ((c & 1) && __builtin_popcountll(c) >= 2)
            gaps[n++] = lines[i].bbox.y0 - lines[i - 1].bbox.y1;
    }
    if (n == 0)
        return 0;
    q_sort(gaps, n, sizeof gaps[0], q_cmp_double);
    return gaps[n / 2];
}

/* Marks in starts[a..b) which lines begin a new row: every line, except one that only continues
 * cells of the row above: only in columns the row already fills, at most half of them (unless
 * both lines are bold header lines), and either with the key first column empty and set close
 * below, or set clearly closer than rows are set to each other (a wrapped first column). */
static int group_lines(const struct page *page, const struct text_line *lines, size_t a, size_t b,
                       const struct grid *g, bool *starts)
{
    uint64_t *cols = q_malloc(sizeof(uint64_t) * (b - a + 1));
    bool *bold = q_malloc(sizeof(bool) * (b - a + 1));
    if (!cols || !bold) {
        free(cols);
        free(bold);
        return QUIRE_ENOMEM;
    }
    int multi = 0, key = 0;
    for (size_t i = a; i < b; i++) {
        cols[i - a] = line_columns(page, &lines[i], g);
        bold[i - a] = true;
        for (size_t k = 0; k < lines[i].n_words; k++)
            bold[i - a] &= page->words[lines[i].words[k]].bold;
        if (__builtin_popcountll(cols[i - a]) >= 2) {
            multi++;
            key += (int)(cols[i - a] & 1);
        }
    }
    /* The first column is a key when the rows (lines filling >= 2 columns) nearly all fill it. */
    bool key_column = g->n_cols >= 2 && key >= 0.7 * (double)multi;
    double row_gap = typical_row_gap(lines, a, b, cols);
    uint64_t row_cols = 0;
    bool next_starts = false; /* a label centred on two rows: the next line starts the second */
    for (size_t i = a; i < b; i++) {
        uint64_t c = cols[i - a];
        bool merge = false, forced = next_starts;
        next_starts = false;
        if (i > a && (c & ~row_cols) == 0) {
            int filled = __builtin_popcountll(c);
            double gap = lines[i].bbox.y0 - lines[i - 1].bbox.y1;
            double h = fmin(rect_height(lines[i].bbox), rect_height(lines[i - 1].bbox));
            /* A bold header may wrap in every column at once. */
            bool header = bold[i - a] && bold[i - a - 1];
            bool few = filled * 2 <= g->n_cols || header;
            /* Wrapped text of a full row (first column and another one): set closer than rows
             * are to each other. */
            bool full = (row_cols & 1) && __builtin_popcountll(row_cols) >= 2;
            /* Rows set nearly as close as lines still count when the wrapped lines sit
             * clearly (a tenth of a line) closer than the rows. */
            bool spaced = row_gap > 0.3 * h || row_gap - gap > 0.1 * h;
            bool tight = full && !header && spaced && gap < 0.6 * row_gap;
            /* A bold header cell that wraps: its lines set close together. */
            bool wrapped_header = header && gap > -0.05 * h && gap < 0.15 * h;
            merge = few && ((key_column && !(c & 1) && gap < 0.6 * h) || tight || wrapped_header);
        }
        if (i > a && !merge && row_cols == 1 && (c & 1) && lowercase_start(page, &lines[i])) {
            /* A label wrapped above its numbers ("Murder and nonnegligent" over
             * "manslaughter.  10.0  0.9 ..."): the row began on the line above. */
            double gap = lines[i].bbox.y0 - lines[i - 1].bbox.y1;
            double h = fmin(rect_height(lines[i].bbox), rect_height(lines[i - 1].bbox));
            merge = gap < 0.6 * h && (row_gap <= 0.3 * h || gap < 0.6 * row_gap);
        }
        if (i > a && !merge && !bold[i - a] && !bold[i - a - 1] && (c & row_cols) == 0) {
            /* A cell of two lines centred on a one-line row: its lines overlap the row's line
             * by a third of their height, above and below, in other columns (staggered bold
             * lines are a header of several levels instead). A label centred on two rows
             * (merged down) overlaps both a little, and equally, and joins the upper one. */
            double overlap = lines[i - 1].bbox.y1 - lines[i].bbox.y0;
            double below = i + 1 < b ? lines[i].bbox.y1 - lines[i + 1].bbox.y0 : 0;
            double h = fmin(rect_height(lines[i].bbox), rect_height(lines[i - 1].bbox));
            bool centred =
                overlap > 0.1 * h && overlap <= 0.3 * h && fabs(below - overlap) < 0.1 * h;
            merge = (overlap > 0.3 * h || centred) && lines[i].bbox.y1 > lines[i - 1].bbox.y1;
            /* the line below is the second row the label spans */
            next_starts = merge && centred;
        }
        if (i > a && i + 1 < b && !merge && (c & row_cols) == 0 && (c & cols[i + 1 - a]) == 0) {
            /* A label centred on two rows set apart (merged down, "Name" beside a header of
             * two levels): it sits in the gap between two rows no farther apart than rows
             * are, as far from the one as from the other, and fills none of their columns. */
            double above = lines[i].bbox.y0 - lines[i - 1].bbox.y1;
            double below = lines[i + 1].bbox.y0 - lines[i].bbox.y1;
            double apart = lines[i + 1].bbox.y0 - lines[i - 1].bbox.y1;
            double h = fmin(rect_height(lines[i].bbox), rect_height(lines[i - 1].bbox));
            merge = row_gap > 0.3 * h && above > -0.3 * h && fabs(above - below) < 0.1 * h &&
                    apart < row_gap + 0.3 * h;
            next_starts = merge;
        }
        if (forced)
            merge = false;
        starts[i] = !merge;
        row_cols = merge ? row_cols | c : c;
    }
    free(cols);
    free(bold);
    return 0;
}

/* Text rows: one per group of lines; rules (sorted y positions) force a break. */
static int text_rows(const struct page *page, const struct text_line *lines, size_t n,
                     struct rect box, const double *rules, size_t n_rules, struct grid *g)
{
    g->line_row = q_malloc(sizeof(int) * (n + 1));
    g->row_edges = q_malloc(sizeof(double) * (n + 1));
    g->row_ruled = q_calloc(n + 1, sizeof(bool));
    bool *starts = q_malloc(sizeof(bool) * (n + 1));
    int err = !g->line_row || !g->row_edges || !g->row_ruled || !starts ? QUIRE_ENOMEM : 0;
    if (!err)
        err = group_lines(page, lines, 0, n, g, starts);
    if (err) {
        free(starts);
        return err;
    }
    int rows = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* A rule between two lines always separates rows. */
        double cy = (lines[i].bbox.y0 + lines[i].bbox.y1) / 2;
        bool ruled = false;
        for (; k < n_rules && rules[k] < cy; k++)
            ruled = i > 0;
        if (starts[i] || ruled)
            g->row_edges[rows++] = i == 0 ? fmin(box.y0, lines[0].bbox.y0)
                                          : (lines[i - 1].bbox.y1 + lines[i].bbox.y0) / 2;
        g->line_row[i] = rows - 1;
    }
    g->row_edges[rows] = fmax(box.y1, lines[n - 1].bbox.y1);
    g->n_rows = rows;
    free(starts);
    return 0;
}

static int cmp_gap(const void *a, const void *b)
{
    const struct column_gap *x = a, *y = b;
    return (x->core > y->core) - (x->core < y->core);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The median number of text lines per row band (at least 1). */
static int median_band_lines(const struct text_line *lines, size_t n, const struct grid *g)
{
    int *count = q_calloc((size_t)g->n_rows + 1, sizeof(int));
    if (!count)
        return 1; /* only a heuristic: be conservative */
    for (size_t i = 0; i < n; i++)
        count[textlayer__row_of(g, (lines[i].bbox.y0 + lines[i].bbox.y1) / 2)]++;
    q_sort(count, (size_t)g->n_rows, sizeof(int), cmp_int);
    int m = count[(g->n_rows - 1) / 2]; /* the lower median */
    free(count);
    return m > 1 ? m : 1;
}

/* Ruled rows: a band between two rulings that holds >= 3 lines each filling the first column
 * and another one, and three times as many lines as the typical band, is a body without inner
 * rules (common under a ruled header): it is cut into text rows. A new row starts at a line that
 * fills the first column and either another column or stands apart from the line above; other lines
 * (wrapped cell text) stay in the row above. */
static int split_bands(const struct page *page, const struct text_line *lines, size_t n,
                       struct grid *g)
{
    double *edges = q_malloc(sizeof(double) * ((size_t)g->n_rows + n + 1));
    bool *ruled = q_malloc(sizeof(bool) * ((size_t)g->n_rows + n + 1));
    uint64_t *cols = q_malloc(sizeof(uint64_t) * (n + 1));
    int err = 0;
    if (!edges || !ruled || !cols) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        cols[i] = line_columns(page, &lines[i], g);
    /* Only a band far taller (in lines) than the typical band is a body to cut. */
    int typical = median_band_lines(lines, n, g);
    int m = 0;
    size_t a = 0;
    for (int r = 0; r < g->n_rows; r++) {
        edges[m] = g->row_edges[r];
        ruled[m++] = true;
        while (a < n && (lines[a].bbox.y0 + lines[a].bbox.y1) / 2 < g->row_edges[r])
            a++;
        size_t b = a;
        int rows = 0;
        while (b < n && (lines[b].bbox.y0 + lines[b].bbox.y1) / 2 < g->row_edges[r + 1]) {
            rows += (cols[b] & 1) && __builtin_popcountll(cols[b]) >= 2;
            b++;
        }
        bool split = rows >= 3 && g->n_cols >= 2 && (int)(b - a) >= 3 * typical;
        size_t last_start = a;
        for (size_t i = a + 1; split && i < b; i++) {
            double gap = lines[i].bbox.y0 - lines[i - 1].bbox.y1;
            double h = fmin(rect_height(lines[i].bbox), rect_height(lines[i - 1].bbox));
            if (!(cols[i] & 1) || (__builtin_popcountll(cols[i]) < 2 && gap < 0.5 * h))
                continue;
            size_t at = i;
            /* A label wrapped above its numbers: the row begins on the label-only line above. */
            if (i - 1 > last_start && cols[i - 1] == 1 && gap < 0.5 * h &&
                lowercase_start(page, &lines[i]))
                at = i - 1;
            edges[m] = (lines[at - 1].bbox.y1 + lines[at].bbox.y0) / 2;
            ruled[m++] = false;
            last_start = at;
        }
        a = b;
    }
    edges[m] = g->row_edges[g->n_rows];
    ruled[m] = true;
    free(g->row_edges);
    free(g->row_ruled);
    g->row_edges = edges;
    g->row_ruled = ruled;
    g->n_rows = m;
    edges = NULL;
    ruled = NULL;
out:
    free(edges);
    free(ruled);
    free(cols);
    return err;
}

/* How much of [x0, x1] the horizontal rulings at y cover (points). */
static double rule_cover(const struct page_layout *layout, double y, double x0, double x1)
{
    double cover = 0;
    for (size_t i = 0; i < layout->n_rulings; i++) {
        const struct ruling *r = &layout->rulings[i];
        if (ruling_is_horizontal(r) && fabs(r->y0 - y) <= POS_TOL)
            cover += fmax(0, fmin(r->x1, x1) - fmax(r->x0, x0));
    }
    return cover;
}

/* Ruled rows: an empty band much thinner than the rows that hold text (under 0.6 of their median
 * height) is a spacer drawn between the rows (a grey strip, the gap of a double rule), not a
 * row: the weaker of its two edges (the one rules cover less of the width; the lower one on a
 * tie) goes, so the band joins its neighbour. The region's outer edges stay. An empty row as
 * tall as the others stays. */
static void drop_spacer_bands(const struct page_layout *layout, struct rect box,
                              const struct text_line *lines, size_t n, struct grid *g)
{
    double *h = q_malloc(sizeof(double) * ((size_t)g->n_rows + 1));
    bool *text = q_calloc((size_t)g->n_rows + 1, sizeof(bool));
    size_t m = 0;
    for (int r = 0; h && text && r < g->n_rows; r++) {
        for (size_t i = 0; i < n && !text[r]; i++) {
            double cy = (lines[i].bbox.y0 + lines[i].bbox.y1) / 2;
            text[r] = cy > g->row_edges[r] && cy < g->row_edges[r + 1];
        }
        if (text[r])
            h[m++] = g->row_edges[r + 1] - g->row_edges[r];
    }
    if (m) {
        q_sort(h, m, sizeof *h, q_cmp_double);
        double row = h[m / 2];
        for (int r = g->n_rows - 1; r >= 0 && g->n_rows > 1; r--) {
            if (text[r] || g->row_edges[r + 1] - g->row_edges[r] >= 0.6 * row)
                continue;
            int drop;
            if (r == 0 || r + 1 == g->n_rows)
                drop = r == 0 ? 1 : r;
            else
                drop = rule_cover(layout, g->row_edges[r], box.x0, box.x1) <
                               rule_cover(layout, g->row_edges[r + 1], box.x0, box.x1) - 1
                           ? r
                           : r + 1;
            memmove(&g->row_edges[drop], &g->row_edges[drop + 1],
                    sizeof(double) * (size_t)(g->n_rows - drop));
            memmove(&g->row_ruled[drop], &g->row_ruled[drop + 1],
                    sizeof(bool) * (size_t)(g->n_rows - drop));
            g->n_rows--;
        }
    }
    free(h); /* only a tidying step: out of memory, the spacers stay */
    free(text);
}

/* Rule-only regions: true when the rules separate the rows themselves (>= 3 bands, and at most a
 * quarter of them hold more than one line that fills the first column and another one), as in
 * a table with a rule under every row; false for booktabs (top, mid and bottom rules). */
static bool bands_are_rows(const struct page *page, const struct text_line *lines, size_t n,
                           const struct grid *g)
{
    if (g->n_rows < 3)
        return false;
    /* Count the lines that look like extra rows inside a band: they start in the first column
     * and fill (nearly) as many columns as the fullest line of the band. The later lines of
     * wrapped cells hold only the cells that wrap, so they do not count. Bands are rows when
     * such extra rows are rare; one band holding many rows (a booktabs body) decides it. */
    int extra = 0;
    size_t a = 0;
    for (int r = 0; r < g->n_rows; r++) {
        while (a < n && (lines[a].bbox.y0 + lines[a].bbox.y1) / 2 < g->row_edges[r])
            a++;
        size_t end = a;
        int most = 0;
        while (end < n && (lines[end].bbox.y0 + lines[end].bbox.y1) / 2 < g->row_edges[r + 1]) {
            int filled = __builtin_popcountll(line_columns(page, &lines[end], g));
            most = filled > most ? filled : most;
            end++;
        }
        int rows = 0;
        for (; a < end; a++) {
            uint64_t c = line_columns(page, &lines[a], g);
            int filled = __builtin_popcountll(c);
            rows += (c & 1) && filled >= 2 && filled * 10 >= most * 9;
        }
        extra += rows > 1 ? rows - 1 : 0;
    }
    return extra * 4 <= g->n_rows;
}

/* The character advance (points) of the text when it is set in a monospaced font, else 0:
 * nearly every word of >= 3 characters is as wide as its characters times one advance (per
 * point of font size). In a monospaced font a word space is a whole advance, wider than the
 * 0.5 em a column gap needs, so "27 Feb 2009" would be three columns. Proportional text, even
 * all digits ("1.5" beside "123"), varies by more than the 5% allowed. */
static double mono_advance(const struct page *page, const struct text_line *lines, size_t n)
{
    double ratio[256];
    size_t m = 0;
    for (size_t i = 0; i < n && m < 256; i++)
        for (size_t k = 0; k < lines[i].n_words && m < 256; k++) {
            const struct word *w = &page->words[lines[i].words[k]];
            int chars = 0;
            for (const unsigned char *t = (const unsigned char *)w->text; *t; t++)
                chars += (*t & 0xC0) != 0x80;
            if (chars >= 3 && w->font_size > 0)
                ratio[m++] = rect_width(w->bbox) / (chars * w->font_size);
        }
    if (m < 8)
        return 0;
    q_sort(ratio, m, sizeof ratio[0], q_cmp_double);
    double med = ratio[m / 2];
    size_t close = 0;
    for (size_t i = 0; i < m; i++)
        close += fabs(ratio[i] - med) <= 0.05 * med;
    if (close * 10 < m * 9)
        return 0;
    double font = 0;
    for (size_t i = 0; i < n; i++)
        font += lines[i].font_size;
    return med * font / (double)n;
}

/* True when a gap of monospaced text only one word space wide is still a column edge: no word
 * crosses it, and some line (a header) leaves a clearly wider gap there, the word on one side
 * touching the gap's band. "47,755 WU-7962" under "Profit (loss)    ID" are two columns; "183.0
 * ± 2.5" under "Score ± CI" is one cell, and so is "27 Feb 2009" under "Issued annual per". */
static bool narrow_gap_is_column(const struct page *page, const struct text_line *lines, size_t n,
                                 double advance, const struct column_gap *gap)
{
    double x = gap->core, left = INFINITY;
    for (size_t i = 0; i < n; i++)
        left = fmin(left, lines[i].bbox.x0);
    bool wide = false, over = false;
    int both = 0; /* lines with words on both sides */
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < lines[i].n_words; k++) {
            struct rect b = page->words[lines[i].words[k]].bbox;
            /* a line of one word across it, away from the left edge, may be a header over
             * both columns ("Domestic" over "Date" and "Balance"), not a cell */
            bool header = lines[i].n_words == 1 && lines[i].bbox.x0 > left + advance;
            if (b.x0 < x - 1 && b.x1 > x + 1 && !header)
                return false;
            over |= b.x0 < x - 1 && b.x1 > x + 1;
            if (k + 1 < lines[i].n_words && b.x1 <= x) {
                struct rect nb = page->words[lines[i].words[k + 1]].bbox;
                both += nb.x0 >= x;
                bool touches = fabs(b.x1 - gap->x0) <= 1 || fabs(nb.x0 - gap->x1) <= 1;
                wide |= nb.x0 >= x && nb.x0 - b.x1 >= 1.9 * advance && touches;
            }
        }
    /* under a header over both, the two columns hold text side by side on >= 3 lines */
    return wide && (!over || both >= 3);
}

/* A column that few lines fill (a header and a handful of rows) hides inside the wide gap
 * between its neighbours, since up to 15% of the lines may cross a gap. When the band of `gap`
 * holds two empty runs >= min_gap wide with words of >= 2 lines between them, those words are a
 * column of their own: *left and *right become the separators in the middles of the two runs.
 * Returns false when there is no such column. */
static bool sparse_column(const struct page *page, const struct text_line *lines, size_t n,
                          const struct column_gap *gap, double min_gap, double *left, double *right)
{
    enum { BINS = 512 };
    bool covered[BINS] = {false};
    double step = (gap->x1 - gap->x0) / BINS;
    if (!(step > 0))
        return false;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < lines[i].n_words; k++) {
            struct rect w = page->words[lines[i].words[k]].bbox;
            int a = (int)floor((w.x0 - gap->x0) / step), b = (int)ceil((w.x1 - gap->x0) / step);
            for (int x = a < 0 ? 0 : a; x < b && x < BINS; x++)
                covered[x] = true;
        }
    /* The first and the last empty run that is min_gap wide. */
    double first0 = NAN, first1 = NAN, last0 = NAN, last1 = NAN;
    for (int x = 0; x < BINS;) {
        if (covered[x]) {
            x++;
            continue;
        }
        int s = x;
        while (x < BINS && !covered[x])
            x++;
        if ((x - s) * step < min_gap)
            continue;
        if (isnan(first0)) {
            first0 = gap->x0 + s * step;
            first1 = gap->x0 + x * step;
        }
        last0 = gap->x0 + s * step;
        last1 = gap->x0 + x * step;
    }
    if (isnan(first0) || last0 <= first1)
        return false;
    int filled = 0;
    for (size_t i = 0; i < n; i++) {
        bool inner = false;
        for (size_t k = 0; k < lines[i].n_words; k++) {
            struct rect w = page->words[lines[i].words[k]].bbox;
            inner |= w.x0 >= first1 - 0.5 && w.x1 <= last0 + 0.5;
        }
        filled += inner;
    }
    if (filled < 2)
        return false;
    *left = (first0 + first1) / 2;
    *right = (last0 + last1) / 2;
    return true;
}

/* True when the line is one phrase (no gap between its words wider than `space`) starting at
 * the left edge of the table: a section title across the columns ("Northern region"), or a row
 * with only its first cell filled; either way it shows no column edge. */
static bool left_phrase(const struct page *page, const struct text_line *l, double left,
                        double space)
{
    if (l->n_words < 2 || l->bbox.x0 > left + space)
        return false;
    for (size_t k = 1; k < l->n_words; k++)
        if (page->words[l->words[k]].bbox.x0 - page->words[l->words[k - 1]].bbox.x1 > space)
            return false;
    return true;
}

/* The lines whose words show where the columns are: without the left phrases (left_phrase()),
 * when they are at most a quarter of the lines, since those may cross every narrow column edge
 * near the left. *kept is a new array of *n_kept shallow copies (free()). */
static int column_lines(const struct page *page, const struct text_line *lines, size_t n,
                        double space, struct text_line **kept, size_t *n_kept)
{
    *kept = q_malloc(sizeof(struct text_line) * (n + 1));
    if (!*kept)
        return QUIRE_ENOMEM;
    double left = INFINITY;
    for (size_t i = 0; i < n; i++)
        left = fmin(left, lines[i].bbox.x0);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!left_phrase(page, &lines[i], left, space))
            (*kept)[m++] = lines[i];
    if (m * 4 < n * 3 || m < 3) {
        memcpy(*kept, lines, sizeof(struct text_line) * n);
        m = n;
    }
    *n_kept = m;
    return 0;
}

/* True when >= 3 of the m positions, and four in five, lie within 0.6 pt of their median.
 * Sorts pos. */
static bool lined_up(double *pos, size_t m)
{
    q_sort(pos, m, sizeof pos[0], q_cmp_double);
    size_t ok = 0;
    for (size_t i = 0; i < m; i++)
        ok += fabs(pos[i] - pos[m / 2]) <= 0.6;
    return ok >= 3 && ok * 5 >= m * 4;
}

/* True when a gap narrower than 0.5 em still parts two columns of proportional text: no word
 * crosses its core, and on >= 3 lines, at least four in five of those with words on both
 * sides, the words next to it end at one x (a right-aligned column) and the words after it
 * start at one x (a left-aligned column) or end at one x (another right-aligned one). A word
 * space inside cells does not line up so. */
static bool aligned_gap(const struct page *page, const struct text_line *lines, size_t n,
                        const struct column_gap *gap)
{
    double x = gap->core, ends[64], starts[64], after[64];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < lines[i].n_words; k++) {
            struct rect b = page->words[lines[i].words[k]].bbox;
            if (b.x0 < x && b.x1 > x)
                return false;
            if (k + 1 < lines[i].n_words && b.x1 <= x && m < 64) {
                struct rect nb = page->words[lines[i].words[k + 1]].bbox;
                if (nb.x0 >= x) {
                    ends[m] = b.x1;
                    after[m] = nb.x1;
                    starts[m++] = nb.x0;
                }
            }
        }
    if (m < 3)
        return false;
    return lined_up(ends, m) && (lined_up(starts, m) || lined_up(after, m));
}

/* Adds to *gaps (sorted, a new array: free()) the gaps of `lines` at least min_gap wide that
 * overlap none of those already there (and, with need_aligned, that aligned_gap() confirms: the
 * narrow gaps of proportional text), and sorts them again. Returns 0 or QUIRE_ENOMEM. */
static int add_new_gaps(const struct page *page, const struct text_line *lines, size_t n,
                        struct rect area, double min_gap, bool need_aligned,
                        struct column_gap **gaps, size_t *n_gaps)
{
    struct column_gap *more = NULL;
    size_t n_more = 0;
    int err = vision_column_gaps(page, lines, n, area, min_gap, &more, &n_more);
    struct column_gap *grown =
        err ? NULL : q_realloc(*gaps, sizeof(**gaps) * (*n_gaps + n_more + 1));
    if (!grown) {
        free(more);
        return QUIRE_ENOMEM;
    }
    *gaps = grown;
    size_t m = *n_gaps;
    for (size_t j = 0; j < n_more; j++) {
        bool overlaps = false;
        for (size_t i = 0; i < *n_gaps && !overlaps; i++)
            overlaps = more[j].x0 < grown[i].x1 && more[j].x1 > grown[i].x0;
        if (!overlaps && (!need_aligned || aligned_gap(page, lines, n, &more[j])))
            grown[m++] = more[j];
    }
    free(more);
    *n_gaps = m;
    q_sort(grown, m, sizeof *grown, cmp_gap);
    return 0;
}

/* Text columns: separators in the whitespace gaps. */
static int text_cols(const struct page *page, const struct text_line *all, size_t n_all,
                     struct rect box, struct grid *g)
{
    double font = 0;
    for (size_t i = 0; i < n_all; i++)
        font += all[i].font_size;
    font = n_all ? font / (double)n_all : 10;
    struct column_gap *gaps = NULL;
    size_t n_gaps = 0;
    struct rect area = {box.x0 - 2, box.y0 - 2, box.x1 + 2, box.y1 + 2};
    g->mono_advance = mono_advance(page, all, n_all);
    double min_gap = fmax(0.5 * font, 2.5);
    struct text_line *lines = NULL;
    size_t n = 0;
    if (column_lines(page, all, n_all, fmax(min_gap, 1.5 * g->mono_advance), &lines, &n))
        return QUIRE_ENOMEM;
    /* The gaps of all the lines; then those of the lines without the section titles that
     * overlap none of them: a column edge only titles cross. */
    int err = vision_column_gaps(page, all, n_all, area, min_gap, &gaps, &n_gaps);
    if (!err && n < n_all)
        err = add_new_gaps(page, lines, n, area, min_gap, false, &gaps, &n_gaps);
    /* Monospaced: glyph boxes sit inside their advances, so one space between a right-aligned
     * column and a left-aligned one can measure below 0.5 em; narrow_gap_is_column() judges
     * every gap narrower than an advance anyway. */
    if (!err && g->mono_advance > 0 && 0.7 * g->mono_advance < min_gap)
        err = add_new_gaps(page, lines, n, area, 0.7 * g->mono_advance, false, &gaps, &n_gaps);
    if (!err && g->mono_advance == 0 && 0.36 * font > 2.5)
        err = add_new_gaps(page, lines, n, area, 0.36 * font, true, &gaps, &n_gaps);
    if (err)
        goto out;
    if (g->mono_advance > 0) {
        /* Monospaced: a word space is a whole advance, wider than 0.5 em; a gap must be wider
         * than that unless the layout shows it is a column edge anyway. */
        struct column_gap *wide = NULL;
        size_t n_wide = 0, kept = 0;
        err = vision_column_gaps(page, lines, n, area, 1.08 * g->mono_advance, &wide, &n_wide);
        if (err)
            goto out;
        for (size_t i = 0; i < n_gaps; i++) {
            bool found = false;
            for (size_t j = 0; j < n_wide && !found; j++)
                found = wide[j].core >= gaps[i].x0 && wide[j].core <= gaps[i].x1;
            if (found || narrow_gap_is_column(page, lines, n, g->mono_advance, &gaps[i]))
                gaps[kept++] = gaps[i];
        }
        n_gaps = kept;
        free(wide);
    }
    g->col_edges = q_malloc(sizeof(double) * (2 * n_gaps + 2));
    g->col_ruled = q_calloc(2 * n_gaps + 2, sizeof(bool));
    if (!g->col_edges || !g->col_ruled) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    double lo = box.x0, hi = box.x1;
    for (size_t i = 0; i < n_all; i++) {
        lo = fmin(lo, all[i].bbox.x0);
        hi = fmax(hi, all[i].bbox.x1);
    }
    int m = 0;
    g->col_edges[m++] = lo;
    for (size_t i = 0; i < n_gaps; i++) {
        double left, right;
        if (sparse_column(page, lines, n, &gaps[i], min_gap, &left, &right)) {
            g->col_edges[m++] = left;
            g->col_edges[m++] = right;
        } else {
            g->col_edges[m++] = gaps[i].core;
        }
    }
    g->col_edges[m] = hi;
    g->n_cols = m;
out:
    free(gaps);
    free(lines);
    return err;
}

/* Text columns: a phrase (words closer than a word space) with a word across a column edge joins
 * the columns it covers in its row, unless another line of the row has separate text on both
 * sides of that edge (a header cell of two lines beside a narrower one). Returns 0 or
 * QUIRE_ENOMEM. */
static int text_spans(const struct page *page, const struct text_line *lines, size_t n,
                      struct grid *g)
{
    size_t cells = (size_t)g->n_rows * (size_t)g->n_cols;
    bool *kept = q_calloc(cells + 1, sizeof(bool)); /* an edge some line keeps apart */
    bool *joined = q_calloc(cells + 1, sizeof(bool));
    if (!kept || !joined) {
        free(kept);
        free(joined);
        return QUIRE_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct text_line *l = &lines[i];
        int r = g->line_row ? g->line_row[i] : textlayer__row_of(g, (l->bbox.y0 + l->bbox.y1) / 2);
        double space = fmax(0.32 * l->font_size, 1.08 * g->mono_advance);
        size_t s = 0;
        int prev_end = -1; /* the last column of the previous phrase */
        while (s < l->n_words) {
            struct rect b = page->words[l->words[s]].bbox;
            int c0 = textlayer__col_of(g, b.x0 + 1), c1 = textlayer__col_of(g, b.x1 - 1);
            bool crosses = c1 > c0;
            size_t e = s + 1;
            while (e < l->n_words) {
                struct rect nb = page->words[l->words[e]].bbox;
                if (nb.x0 - b.x1 >= space)
                    break;
                b = nb;
                int w0 = textlayer__col_of(g, nb.x0 + 1);
                c1 = textlayer__col_of(g, nb.x1 - 1);
                crosses |= c1 > w0;
                e++;
            }
            /* Only a phrase with a word across an edge spans: "State Zip" over two columns
             * whose edge falls between the words are two header cells. */
            for (int c = c0; crosses && c < c1; c++)
                joined[(size_t)r * (size_t)g->n_cols + (size_t)c] = true;
            if (prev_end >= 0 && prev_end + 1 == c0)
                kept[(size_t)r * (size_t)g->n_cols + (size_t)prev_end] = true;
            prev_end = c1;
            s = e;
        }
    }
    for (int r = 0; r < g->n_rows; r++)
        for (int c = 0; c + 1 < g->n_cols; c++) {
            size_t k = (size_t)r * (size_t)g->n_cols + (size_t)c;
            if (joined[k] && !kept[k] && !g->col_ruled[c + 1])
                g->sep_right[k] = false;
        }
    free(kept);
    free(joined);
    return 0;
}

/* True when both sides of a split at x inside the column [lo, hi] hold text on >= 3 lines and on
 * >= 30% of the lines with text in the column. */
static bool sub_columns_supported(const struct page *page, const struct text_line *lines, size_t n,
                                  double lo, double x, double hi)
{
    int left = 0, right = 0, any = 0;
    for (size_t i = 0; i < n; i++) {
        bool l = false, r = false;
        for (size_t k = 0; k < lines[i].n_words; k++) {
            struct rect b = page->words[lines[i].words[k]].bbox;
            double cx = (b.x0 + b.x1) / 2;
            l |= cx > lo && cx < x;
            r |= cx > x && cx < hi;
        }
        left += l;
        right += r;
        any += l || r;
    }
    return left >= 3 && right >= 3 && left >= 0.3 * any && right >= 0.3 * any;
}

/* Ruled columns: a whitespace gap of the text inside a ruled column (sub-columns without their
 * own rulings, common under a ruled header) adds a text column edge there. */
static int split_columns(const struct page *page, const struct text_line *lines, size_t n,
                         struct rect box, struct grid *g)
{
    double font = 0;
    for (size_t i = 0; i < n; i++)
        font += lines[i].font_size;
    font = n ? font / (double)n : 10;
    struct column_gap *gaps = NULL;
    size_t n_gaps = 0;
    struct rect area = {box.x0 - 2, box.y0 - 2, box.x1 + 2, box.y1 + 2};
    int err = vision_column_gaps(page, lines, n, area, fmax(0.6 * font, 3.0), &gaps, &n_gaps);
    if (err)
        return err;
    double *edges = q_malloc(sizeof(double) * ((size_t)g->n_cols + n_gaps + 1));
    bool *ruled = q_malloc(sizeof(bool) * ((size_t)g->n_cols + n_gaps + 1));
    if (!edges || !ruled) {
        free(gaps);
        free(edges);
        free(ruled);
        return QUIRE_ENOMEM;
    }
    int m = 0;
    size_t k = 0;
    for (int c = 0; c <= g->n_cols; c++) {
        for (; c > 0 && k < n_gaps && gaps[k].core < g->col_edges[c]; k++) {
            /* Only a gap that lies wholly inside the column, clear of its rulings. */
            if (gaps[k].x0 > g->col_edges[c - 1] + 1 && gaps[k].x1 < g->col_edges[c] - 1 &&
                sub_columns_supported(page, lines, n, g->col_edges[c - 1], gaps[k].core,
                                      g->col_edges[c])) {
                edges[m] = gaps[k].core;
                ruled[m++] = false;
            }
        }
        edges[m] = g->col_edges[c];
        ruled[m++] = true;
    }
    free(gaps);
    free(g->col_edges);
    free(g->col_ruled);
    g->col_edges = edges;
    g->col_ruled = ruled;
    g->n_cols = m - 1;
    return 0;
}

/* A band between two rulings whose ruled cell holds text in only one of its sub-columns (a header
 * "Total" over "Under 18 | 18 and over | Total") is one cell across the sub-columns. Returns 0 or
 * QUIRE_ENOMEM. */
/* Sets g->sep_right[r][c] where the text alone separates positions (r, c) and (r, c+1): both
 * hold words and no word of the row crosses the column edge between them. A ruled table whose
 * column rules stop at the header (the body's columns left to alignment) keeps its body columns
 * this way instead of merging each body row into one wide cell. */
static int text_separates(const struct page *page, const struct text_line *lines, size_t n,
                          struct grid *g)
{
    size_t cells = (size_t)g->n_rows * (size_t)g->n_cols;
    bool *filled = q_calloc(cells + 1, sizeof(bool));
    bool *crossed = q_calloc(cells + 1, sizeof(bool));
    if (!filled || !crossed) {
        free(filled);
        free(crossed);
        return QUIRE_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < lines[i].n_words; k++) {
            struct rect b = page->words[lines[i].words[k]].bbox;
            int r = textlayer__row_of(g, (b.y0 + b.y1) / 2);
            int c = textlayer__col_of(g, (b.x0 + b.x1) / 2);
            filled[(size_t)r * (size_t)g->n_cols + (size_t)c] = true;
            for (int e = 0; e + 1 < g->n_cols; e++)
                if (b.x0 < g->col_edges[e + 1] && b.x1 > g->col_edges[e + 1])
                    crossed[(size_t)r * (size_t)g->n_cols + (size_t)e] = true;
        }
    for (int r = 0; r < g->n_rows; r++)
        for (int c = 0; c < g->n_cols; c++) {
            size_t k = (size_t)r * (size_t)g->n_cols + (size_t)c;
            g->sep_right[k] = c + 1 < g->n_cols && filled[k] && filled[k + 1] && !crossed[k];
        }
    free(filled);
    free(crossed);
    return 0;
}

static int join_ruled_cells(const struct page *page, const struct text_line *lines, size_t n,
                            struct grid *g)
{
    size_t cells = (size_t)g->n_rows * (size_t)g->n_cols;
    bool *filled = q_calloc(cells + 1, sizeof(bool));
    if (!filled)
        return QUIRE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < lines[i].n_words; k++) {
            struct rect b = page->words[lines[i].words[k]].bbox;
            int r = textlayer__row_of(g, (b.y0 + b.y1) / 2);
            int c = textlayer__col_of(g, (b.x0 + b.x1) / 2);
            filled[(size_t)r * (size_t)g->n_cols + (size_t)c] = true;
        }
    for (int r = 0; r < g->n_rows; r++) {
        if (!g->row_ruled[r] || !g->row_ruled[r + 1])
            continue;
        int c = 0;
        while (c < g->n_cols) {
            int e = c + 1; /* the ruled cell's positions are c..e-1 */
            while (e < g->n_cols && !g->col_ruled[e])
                e++;
            int with_text = 0;
            for (int k = c; k < e; k++)
                with_text += filled[(size_t)r * (size_t)g->n_cols + (size_t)k];
            for (int k = c; with_text <= 1 && k + 1 < e; k++)
                g->sep_right[(size_t)r * (size_t)g->n_cols + (size_t)k] = false;
            c = e;
        }
    }
    free(filled);
    return 0;
}

int textlayer__grid_build(const struct page *page, const struct page_layout *layout,
                          const struct region *region, const struct text_line *lines,
                          size_t n_lines, struct grid *g)
{
    memset(g, 0, sizeof *g);
    g->header_rule = NAN;
    struct rect box = region->bbox;
    double *hy = NULL, *vx = NULL, *wide = NULL;
    size_t nh = 0, nv = 0, nw = 0;
    int err = region_rulings(layout, box, &hy, &nh, &vx, &nv, &wide, &nw);
    if (err)
        goto out;
    for (size_t i = 0; i < nh; i++) {
        if (hy[i] > box.y0 + POS_TOL && hy[i] < box.y1 - POS_TOL) {
            g->header_rule = hy[i];
            break;
        }
    }
    bool ruled = region->kind == REGION_RULED;
    bool ruled_rows = ruled || region->kind == REGION_HRULES;
    /* Columns first: text rows need them to recognise continuation lines. */
    if (ruled) {
        int m = ruled_edges(vx, nv, box.x0, box.x1, &g->col_edges);
        if (m < 0) {
            err = QUIRE_ENOMEM;
            goto out;
        }
        g->n_cols = m - 1;
        g->ruled_cols = m > 2;
        if (!g->ruled_cols) {
            free(g->col_edges);
            g->col_edges = NULL;
        } else if ((err = split_columns(page, lines, n_lines, box, g))) {
            goto out;
        }
    }
    if (!g->ruled_cols && (err = text_cols(page, lines, n_lines, box, g)))
        goto out;
    if (ruled_rows) {
        int m = ruled_edges(hy, nh, box.y0, box.y1, &g->row_edges);
        if (m < 0) {
            err = QUIRE_ENOMEM;
            goto out;
        }
        g->n_rows = m - 1;
        g->ruled_rows = m > 2;
        if (!g->ruled_rows) {
            free(g->row_edges);
            g->row_edges = NULL;
        } else {
            g->row_ruled = q_malloc(sizeof(bool) * (size_t)m);
            if (!g->row_ruled) {
                err = QUIRE_ENOMEM;
                goto out;
            }
            for (int k = 0; k < m; k++)
                g->row_ruled[k] = true;
            drop_spacer_bands(layout, box, lines, n_lines, g);
            if (region->kind == REGION_RULED && (err = split_bands(page, lines, n_lines, g)))
                goto out;
        }
    }
    if (g->ruled_rows && region->kind == REGION_HRULES &&
        !bands_are_rows(page, lines, n_lines, g)) {
        /* Booktabs: the rules frame the header and the body; rows come from the text. */
        free(g->row_edges);
        free(g->row_ruled);
        g->row_edges = NULL;
        g->row_ruled = NULL;
        g->ruled_rows = false;
    }
    if (!g->ruled_rows && (err = text_rows(page, lines, n_lines, box, wide, nw, g)))
        goto out;
    size_t cells = (size_t)g->n_rows * (size_t)g->n_cols;
    g->sep_right = q_malloc(sizeof(bool) * (cells + 1));
    g->sep_down = q_malloc(sizeof(bool) * (cells + 1));
    if (!g->sep_right || !g->sep_down) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    if ((err = text_separates(page, lines, n_lines, g)))
        goto out;
    for (int r = 0; r < g->n_rows; r++) {
        bool crossed = g->ruled_cols && ruling_reaches(layout, false, g->row_edges[r],
                                                       g->row_edges[r + 1], box.x0, box.x1);
        for (int c = 0; c < g->n_cols; c++) {
            size_t k = (size_t)r * (size_t)g->n_cols + (size_t)c;
            /* sep_right holds text_separates' verdict: text on both sides, none across */
            g->sep_right[k] = !g->col_ruled[c + 1] || !crossed || g->sep_right[k] ||
                              ruling_covers(layout, false, g->col_edges[c + 1], g->row_edges[r],
                                            g->row_edges[r + 1]);
        }
    }
    for (int c = 0; c < g->n_cols; c++) {
        bool crossed = g->ruled_rows && ruling_reaches(layout, true, g->col_edges[c],
                                                       g->col_edges[c + 1], box.y0, box.y1);
        for (int r = 0; r < g->n_rows; r++) {
            size_t k = (size_t)r * (size_t)g->n_cols + (size_t)c;
            g->sep_down[k] = !g->row_ruled[r + 1] || !crossed ||
                             ruling_covers(layout, true, g->row_edges[r + 1], g->col_edges[c],
                                           g->col_edges[c + 1]);
        }
    }
    err = text_spans(page, lines, n_lines, g);
    if (!err && g->ruled_cols && g->ruled_rows)
        err = join_ruled_cells(page, lines, n_lines, g);
out:
    free(hy);
    free(vx);
    free(wide);
    return err;
}
