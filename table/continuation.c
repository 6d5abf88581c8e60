/*
 * table/continuation.c - tables that run over a page break: deciding that the first table of a
 * page continues the last table of the page before, and joining the parts into one table.
 *
 * Why a rule on geometry and headers rather than on content: a continued table is one the
 * layout cut, so its parts hug the page break (the first ends at the bottom margin, the second
 * starts at the top one), keep their column positions and either repeat the header or carry
 * none. Two different tables that happen to sit at the end and the start of two pages are told
 * apart by a header of their own or by columns that do not line up. The decision is pure so it
 * can be tested without PDFs; workers/ measures where the tables sit and store/ records the link.
 */
#include "table_internal.h"

#include <ctype.h>
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EDGE_FRACTION 0.25     /* a part must end (start) within this fraction of the page */
#define MARGIN_FRACTION 0.12   /* footer (running head) band: text there does not count */
#define COLUMN_OVERLAP 0.5     /* of the narrower column */
#define EDGE_TOLERANCE_PT 6.0  /* tables without cell boxes: left/right edges this close... */
#define EDGE_TOLERANCE_FRACTION 0.02   /* ...or this fraction of the page width */

static bool at_page_bottom(const struct table_place *p)
{
    double h = p->page_height;
    if (h <= 0 || p->bbox.y1 < h * (1 - EDGE_FRACTION))
        return false;
    return p->text_below < 0 || p->text_below >= h * (1 - MARGIN_FRACTION) || p->note_below;
}

static bool at_page_top(const struct table_place *p)
{
    double h = p->page_height;
    if (h <= 0 || p->bbox.y0 > h * EDGE_FRACTION)
        return false;
    return p->text_above < 0 || p->text_above <= h * MARGIN_FRACTION || p->note_above;
}

/* The x-range of each column from the boxes of its one-column cells; false when a column has
 * none. */
static bool column_ranges(const struct table *t, double *x0, double *x1)
{
    for (int c = 0; c < t->n_cols; c++) {
        x0[c] = INFINITY;
        x1[c] = -INFINITY;
    }
    for (size_t i = 0; i < t->n_cells; i++) {
        const struct table_cell *cell = &t->cells[i];
        if (!cell->has_bbox || cell->colspan != 1 || cell->col < 0 || cell->col >= t->n_cols)
            continue;
        x0[cell->col] = fmin(x0[cell->col], cell->bbox.x0);
        x1[cell->col] = fmax(x1[cell->col], cell->bbox.x1);
    }
    for (int c = 0; c < t->n_cols; c++) {
        if (!(x1[c] >= x0[c]))
            return false;
    }
    return true;
}

static bool columns_line_up(const struct table *a, const struct table_place *pa,
                            const struct table *b, const struct table_place *pb)
{
    int n = a->n_cols;
    double *r = q_malloc(sizeof(double) * 4 * (size_t)n);
    if (r && column_ranges(a, r, r + n) && column_ranges(b, r + 2 * n, r + 3 * n)) {
        bool ok = true;
        for (int c = 0; c < n && ok; c++) {
            double a0 = r[c], a1 = r[n + c], b0 = r[2 * n + c], b1 = r[3 * n + c];
            double overlap = fmin(a1, b1) - fmax(a0, b0);
            double narrower = fmin(a1 - a0, b1 - b0);
            ok = overlap > 0 && overlap >= COLUMN_OVERLAP * narrower;
        }
        free(r);
        return ok;
    }
    free(r);   /* no boxes (or no memory): the tables' own edges */
    double tol = fmax(EDGE_TOLERANCE_PT,
                      EDGE_TOLERANCE_FRACTION * fmax(pa->page_width, pb->page_width));
    return fabs(pa->bbox.x0 - pb->bbox.x0) <= tol && fabs(pa->bbox.x1 - pb->bbox.x1) <= tol;
}

/* Text equal once leading, trailing and repeated inner white space are ignored. */
static bool same_text(const char *a, const char *b)
{
    for (;;) {
        while (isspace((unsigned char)*a))
            a++;
        while (isspace((unsigned char)*b))
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        while (*a && *b && !isspace((unsigned char)*a) && *a == *b) {
            a++;
            b++;
        }
        bool end_a = !*a || isspace((unsigned char)*a), end_b = !*b || isspace((unsigned char)*b);
        if (!end_a || !end_b)
            return false;
    }
}

/* Rows 0..n-1 of b repeat those of a, and they are not all empty. */
static bool rows_repeat(const struct table *a, const struct table *b, int n)
{
    if (n < 1 || a->n_rows < n || b->n_rows < n || a->n_cols != b->n_cols)
        return false;
    bool any_text = false;
    for (int r = 0; r < n; r++) {
        for (int c = 0; c < a->n_cols; c++) {
            const char *ta = table_text_at(a, r, c), *tb = table_text_at(b, r, c);
            if (!same_text(ta, tb))
                return false;
            any_text = any_text || *ta;
        }
    }
    return any_text;
}

/* A value: at least one digit, and besides digits only separators, signs, brackets, currency
 * and percent signs, and at most three letters (units, "bn", "USD"). */
static bool value_like(const char *s)
{
    int digits = 0, letters = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isdigit(*p))
            digits++;
        else if (isalpha(*p))
            letters++;
        else if (*p < 0x80 && !strchr(" ,.%()+-'/:$*", *p))
            return false;   /* other ASCII punctuation; non-ASCII (minus, currency) is allowed */
    }
    return digits > 0 && letters <= 3;
}

/* next's header rows read as a body row of head (see table_continues). */
static bool header_is_body(const struct table *head, const struct table *next)
{
    if (head->header_rows < 1 || head->header_rows >= head->n_rows || next->header_rows < 1)
        return false;
    int values = 0;
    for (int c = 0; c < head->n_cols; c++) {
        if (!value_like(table_text_at(head, head->header_rows, c)))
            continue;
        if (!value_like(table_text_at(next, 0, c)) ||
            value_like(table_text_at(head, head->header_rows - 1, c)))
            return false;
        values++;
    }
    return values > 0;
}

bool table_note_continues(const char *line)
{
    static const char *const marks[] = {"continued", "cont", "cont'd", "contd", "ctd",
                                        "fortsetzung", "suite", "continuación", "continua",
                                        "continuação", "continuacion", "continuacao",
                                        "cont\u2019d"};
    int words = 0;
    bool found = false;
    const char *p = line;
    while (*p) {
        while (*p && !isalnum((unsigned char)*p) && (unsigned char)*p < 0x80)
            p++;
        if (!*p)
            break;
        const char *w = p;
        while (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80 || *p == '\''))
            p++;
        size_t n = (size_t)(p - w);
        words++;
        for (size_t i = 0; i < sizeof marks / sizeof *marks && !found; i++)
            found = strlen(marks[i]) == n && g_ascii_strncasecmp(w, marks[i], n) == 0;
    }
    return found && words <= 8;
}

bool table_continues(const struct table *prev, const struct table_place *prev_place,
                     const struct table *next, const struct table_place *next_place,
                     const struct table *head, int *repeated_header_rows)
{
    if (repeated_header_rows)
        *repeated_header_rows = 0;
    if (!head)
        head = prev;
    if (!at_page_bottom(prev_place) || !at_page_top(next_place))
        return false;
    if (prev->n_cols < 2 || prev->n_cols != next->n_cols || head->n_cols != next->n_cols)
        return false;
    if (!columns_line_up(prev, prev_place, next, next_place))
        return false;
    int header = head->header_rows > 0 ? head->header_rows : 1;
    int repeated = rows_repeat(head, next, header) ? header : 0;
    if (!repeated && next->header_rows > 0 && !next_place->note_above &&
        !prev_place->note_below && !header_is_body(head, next))
        return false;
    if (repeated_header_rows)
        *repeated_header_rows = repeated;
    return true;
}

static int cmp_anchor(const void *pa, const void *pb)
{
    const struct table_cell *a = pa, *b = pb;
    if (a->row != b->row)
        return a->row < b->row ? -1 : 1;
    return (a->col > b->col) - (a->col < b->col);
}

int table_merge(const struct table *const *parts, const int *skip_rows, size_t n_parts,
                struct table **out)
{
    *out = NULL;
    if (!n_parts || !parts[0])
        return QUIRE_EINVAL;
    int cols = parts[0]->n_cols, rows = 0;
    for (size_t i = 0; i < n_parts; i++) {
        if (!parts[i] || parts[i]->n_cols != cols)
            return QUIRE_EINVAL;
        int skip = i && skip_rows ? skip_rows[i] : 0;
        if (skip < 0 || skip > parts[i]->n_rows)
            return QUIRE_EINVAL;
        rows += parts[i]->n_rows - skip;
    }
    struct table *t = table_new(rows, cols);
    if (!t)
        return QUIRE_ENOMEM;
    t->header_rows = parts[0]->header_rows;
    int base = 0, err = 0;
    bool clipped = false;   /* cells of valid parts arrive row-major unless one was clipped */
    for (size_t i = 0; i < n_parts && !err; i++) {
        const struct table *p = parts[i];
        int skip = i && skip_rows ? skip_rows[i] : 0;
        for (size_t k = 0; k < p->n_cells && !err; k++) {
            const struct table_cell *c = &p->cells[k];
            int end = c->row + c->rowspan;
            if (end <= skip)
                continue;
            int row = c->row < skip ? skip : c->row;
            clipped = clipped || c->row < skip;
            char *text = q_strdup(c->text ? c->text : "");
            /* the header is parts[0]'s: a later part's own header rows are body rows here */
            enum cell_kind kind = i && c->kind == CELL_COLUMN_HEADER ? CELL_DATA : c->kind;
            err = text ? table__append_cell(t, base + row - skip, c->col, end - row, c->colspan,
                                            kind, text)
                       : QUIRE_ENOMEM;
        }
        base += p->n_rows - skip;
    }
    if (!err && clipped)
        qsort(t->cells, t->n_cells, sizeof *t->cells, cmp_anchor);
    if (!err && table_validate(t, NULL))
        err = QUIRE_EINVAL;   /* a part broke the table invariants */
    if (err) {
        table_free(t);
        return err;
    }
    *out = t;
    return 0;
}
