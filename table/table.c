/*
 * table/table.c - the table model: construction, cell placement, look-up, validation, equality.
 *
 * Cells are kept sorted row-major by anchor so that look-ups can stop early and every renderer
 * sees them in reading order. Placement checks overlap against every other cell (O(cells)); the
 * OTSL parser, which builds large tables cell by cell, checks its grammar instead and appends
 * directly (table__append_cell).
 *
 * NEEDSWORK: building an n-cell table through table_set_cell is O(n^2) - fine for the few
 * hundred cells of a page table, slow past ~10^5. A per-table cover map would make it O(n) but
 * needs a field in struct table, which other modules initialise; left for when it matters.
 */
#include "table_internal.h"

#include <stdlib.h>
#include <string.h>

struct table *table_new(int rows, int cols)
{
    if (rows < 0 || cols < 0)
        return NULL;
    struct table *t = q_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->n_rows = rows;
    t->n_cols = cols;
    return t;
}

void table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_cells; i++)
        free(t->cells[i].text);
    free(t->cells);
    free(t);
}

struct table *table_copy(const struct table *t)
{
    struct table *c = table_new(t->n_rows, t->n_cols);
    if (!c)
        return NULL;
    c->header_rows = t->header_rows;
    if (t->n_cells == 0)
        return c;
    c->cells = q_calloc(t->n_cells, sizeof *c->cells);
    if (!c->cells)
        goto out_free;
    c->cap_cells = t->n_cells;
    for (size_t i = 0; i < t->n_cells; i++) {
        c->cells[i] = t->cells[i];
        c->cells[i].text = q_strdup(t->cells[i].text ? t->cells[i].text : "");
        if (!c->cells[i].text)
            goto out_free;
        c->n_cells = i + 1;
    }
    return c;

out_free:
    table_free(c);
    return NULL;
}

static bool overlaps(const struct table_cell *c, int row, int col, int rowspan, int colspan)
{
    return c->row < row + rowspan && row < c->row + c->rowspan && c->col < col + colspan &&
           col < c->col + c->colspan;
}

/* Index of the first cell whose anchor is at or after (row, col) in row-major order. */
static size_t lower_bound(const struct table *t, int row, int col)
{
    size_t lo = 0, hi = t->n_cells;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct table_cell *c = &t->cells[mid];
        if (c->row < row || (c->row == row && c->col < col))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool kind_valid(enum cell_kind kind)
{
    return (int)kind >= (int)CELL_DATA && (int)kind <= (int)CELL_SECTION;
}

int table_set_cell(struct table *t, int row, int col, int rowspan, int colspan,
                   enum cell_kind kind, const char *text)
{
    if (row < 0 || col < 0 || rowspan < 1 || colspan < 1 || !kind_valid(kind) ||
        row >= t->n_rows || col >= t->n_cols || rowspan > t->n_rows - row ||
        colspan > t->n_cols - col)
        return QUIRE_EINVAL;
    for (size_t i = 0; i < t->n_cells; i++) {
        const struct table_cell *c = &t->cells[i];
        if (c->row == row && c->col == col)
            continue; /* replaced below */
        if (overlaps(c, row, col, rowspan, colspan))
            return QUIRE_EINVAL;
    }
    char *copy = q_strdup(text ? text : "");
    if (!copy)
        return QUIRE_ENOMEM;
    size_t at = lower_bound(t, row, col);
    if (at < t->n_cells && t->cells[at].row == row && t->cells[at].col == col) {
        free(t->cells[at].text);
    } else {
        if (q_grow((void **)&t->cells, sizeof *t->cells, &t->cap_cells, t->n_cells + 1) != 0) {
            free(copy);
            return QUIRE_ENOMEM;
        }
        memmove(&t->cells[at + 1], &t->cells[at], (t->n_cells - at) * sizeof *t->cells);
        t->n_cells++;
    }
    t->cells[at] = (struct table_cell){
        .row = row, .col = col, .rowspan = rowspan, .colspan = colspan,
        .kind = kind, .text = copy, .has_bbox = false,
    };
    return 0;
}

int table__append_cell(struct table *t, int row, int col, int rowspan, int colspan,
                       enum cell_kind kind, char *text)
{
    if (q_grow((void **)&t->cells, sizeof *t->cells, &t->cap_cells, t->n_cells + 1) != 0) {
        free(text);
        return QUIRE_ENOMEM;
    }
    t->cells[t->n_cells++] = (struct table_cell){
        .row = row, .col = col, .rowspan = rowspan, .colspan = colspan,
        .kind = kind, .text = text, .has_bbox = false,
    };
    return 0;
}

struct table_cell *table_cell_at_mut(struct table *t, int row, int col)
{
    for (size_t i = 0; i < t->n_cells; i++) {
        struct table_cell *c = &t->cells[i];
        if (c->row > row)
            break; /* sorted by anchor row: no later cell can reach up to `row` */
        if (overlaps(c, row, col, 1, 1))
            return c;
    }
    return NULL;
}

const struct table_cell *table_cell_at(const struct table *t, int row, int col)
{
    return table_cell_at_mut((struct table *)t, row, col);
}

const char *table_text_at(const struct table *t, int row, int col)
{
    const struct table_cell *c = table_cell_at(t, row, col);
    return c && c->text ? c->text : "";
}

int *table__cover_map(const struct table *t)
{
    size_t n = (size_t)t->n_rows * (size_t)t->n_cols;
    int *map = q_malloc((n ? n : 1) * sizeof *map);
    if (!map)
        return NULL;
    for (size_t i = 0; i < n; i++)
        map[i] = -1;
    for (size_t i = 0; i < t->n_cells; i++) {
        const struct table_cell *c = &t->cells[i];
        int r1 = c->row + c->rowspan < t->n_rows ? c->row + c->rowspan : t->n_rows;
        int c1 = c->col + c->colspan < t->n_cols ? c->col + c->colspan : t->n_cols;
        for (int r = c->row < 0 ? 0 : c->row; r < r1; r++)
            for (int k = c->col < 0 ? 0 : c->col; k < c1; k++)
                map[(size_t)r * (size_t)t->n_cols + (size_t)k] = (int)i;
    }
    return map;
}

static int invalid(char **msg, char *text)
{
    if (msg)
        *msg = text; /* may be NULL when the message itself could not be allocated */
    else
        free(text);
    return QUIRE_EINVAL;
}

int table_validate(const struct table *t, char **msg)
{
    if (msg)
        *msg = NULL;
    if (t->n_rows < 0 || t->n_cols < 0)
        return invalid(msg, q_asprintf("negative size %d x %d", t->n_rows, t->n_cols));
    if (t->header_rows < 0 || t->header_rows > t->n_rows)
        return invalid(msg, q_asprintf("header_rows %d outside 0..%d", t->header_rows,
                                       t->n_rows));
    if (t->n_cells > t->cap_cells || (t->n_cells > 0 && !t->cells))
        return invalid(msg, q_asprintf("cell array inconsistent (%zu cells, capacity %zu)",
                                       t->n_cells, t->cap_cells));
    for (size_t i = 0; i < t->n_cells; i++) {
        const struct table_cell *c = &t->cells[i];
        if (!c->text)
            return invalid(msg, q_asprintf("cell %zu has NULL text", i));
        if (!kind_valid(c->kind))
            return invalid(msg, q_asprintf("cell %zu has unknown kind %d", i, (int)c->kind));
        if (c->rowspan < 1 || c->colspan < 1)
            return invalid(msg, q_asprintf("cell %zu at (%d,%d) has span %d x %d", i, c->row,
                                           c->col, c->rowspan, c->colspan));
        if (c->row < 0 || c->col < 0 || c->row >= t->n_rows || c->col >= t->n_cols ||
            c->rowspan > t->n_rows - c->row || c->colspan > t->n_cols - c->col)
            return invalid(msg, q_asprintf("cell %zu at (%d,%d) span %d x %d leaves the %d x %d "
                                           "grid", i, c->row, c->col, c->rowspan, c->colspan,
                                           t->n_rows, t->n_cols));
        if (i > 0) {
            const struct table_cell *p = &t->cells[i - 1];
            if (p->row > c->row || (p->row == c->row && p->col >= c->col))
                return invalid(msg, q_asprintf("cell %zu at (%d,%d) is out of row-major order",
                                               i, c->row, c->col));
        }
    }
    /* Sorted by anchor: a later cell can only overlap cell i if it is anchored above i's end. */
    for (size_t i = 0; i < t->n_cells; i++) {
        const struct table_cell *c = &t->cells[i];
        for (size_t j = i + 1; j < t->n_cells && t->cells[j].row < c->row + c->rowspan; j++) {
            const struct table_cell *d = &t->cells[j];
            if (overlaps(c, d->row, d->col, d->rowspan, d->colspan))
                return invalid(msg, q_asprintf("cells at (%d,%d) and (%d,%d) overlap", c->row,
                                               c->col, d->row, d->col));
        }
    }
    return 0;
}

/* What a position shows: its covering cell, or - for no cell or a 1x1 empty data cell - an
 * empty 1x1 cell of the kind an empty position has in that row: a column header inside the
 * header rows (OTSL writes it as an empty <ched>), data below. */
static struct table_cell effective_cell(const struct table *t, int row, int col)
{
    const struct table_cell *c = table_cell_at(t, row, col);
    if (c && !(c->rowspan == 1 && c->colspan == 1 && c->kind == CELL_DATA && !c->text[0]))
        return *c;
    return (struct table_cell){
        .row = row, .col = col, .rowspan = 1, .colspan = 1, .text = "",
        .kind = row < t->header_rows ? CELL_COLUMN_HEADER : CELL_DATA,
    };
}

bool table_equal(const struct table *a, const struct table *b)
{
    if (a->n_rows != b->n_rows || a->n_cols != b->n_cols || a->header_rows != b->header_rows)
        return false;
    for (int r = 0; r < a->n_rows; r++) {
        for (int k = 0; k < a->n_cols; k++) {
            struct table_cell x = effective_cell(a, r, k), y = effective_cell(b, r, k);
            if (x.row != y.row || x.col != y.col || x.rowspan != y.rowspan ||
                x.colspan != y.colspan || x.kind != y.kind || strcmp(x.text, y.text) != 0)
                return false;
        }
    }
    return true;
}
