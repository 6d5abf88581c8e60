/* test_textlayer.c - tables built from the text layer: ruled grids with merged and multi-line
 * cells, booktabs and borderless tables, spanning headers, header rows. Pages are synthetic (words
 * placed by hand, rules drawn into a white raster), so every cell is known exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../table/table.h"
#include "../textlayer/textlayer.h"
#include "../vision/vision.h"
#include "support/synthpage.h"

#define DPI SYNTH_DPI

/* Right-aligned text ending at x. */
static void text_right(struct page *p, double x, double y, double fs, const char *s)
{
    double w = 0.5 * fs * (double)strlen(s);
    synth_text(p, x - w, y, fs, false, s);
}

static struct page_layout *analyze(const struct page *p)
{
    struct page_layout *layout = NULL;
    assert_int_equal(vision_analyze(p, NULL, &layout), 0);
    assert_non_null(layout);
    return layout;
}

/* Runs vision and the text layer on a page with exactly one region. */
static struct table *extract_one(const struct page *p, enum region_kind kind)
{
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, kind);
    struct table *t = NULL;
    char *msg = NULL;
    assert_int_equal(textlayer_extract(p, l, &l->regions[0], &t, &msg), 0);
    assert_null(msg);
    assert_non_null(t);
    assert_int_equal(table_validate(t, NULL), 0);
    page_layout_free(l);
    return t;
}

static void assert_row(const struct table *t, int r, const char *a, const char *b, const char *c)
{
    assert_string_equal(table_text_at(t, r, 0), a);
    assert_string_equal(table_text_at(t, r, 1), b);
    assert_string_equal(table_text_at(t, r, 2), c);
}

static const char *body_rows[4][3] = {{"North East", "1,204", "3.1%"},
                                      {"South", "987", "-0.4%"},
                                      {"West Coast", "2,310", "12.0%"},
                                      {"Central", "45", "1.0%"}};

/* A header line and four rows: names left-aligned at x, numbers right-aligned at x+150, x+230. */
static void unruled_table(struct page *p, double x, double y, bool bold_header)
{
    synth_text(p, x, y, 10, bold_header, "Region");
    text_right(p, x + 150, y, 10, "Sales");
    double w = 0.5 * 10 * 6;
    synth_text(p, x + 230 - w, y, 10, bold_header, "Growth");
    for (int r = 0; r < 4; r++) {
        synth_text(p, x, y + 14 * (r + 1), 10, false, body_rows[r][0]);
        text_right(p, x + 150, y + 14 * (r + 1), 10, body_rows[r][1]);
        text_right(p, x + 230, y + 14 * (r + 1), 10, body_rows[r][2]);
    }
}

/* --- tests ----------------------------------------------------------------------------------- */

/* A ruled grid with a thin empty strip between every two rows (a grey spacer, ruled above and
 * below), and one empty row as tall as the others: the strips are not rows, the empty row is.
 * A short stray rule inside the header band (on its right) is weaker than the full rule under
 * the header, which stays. */
static void test_textlayer__spacer_strips_between_rows(void **state)
{
    (void)state;
    struct page *p = synth_page_new(500, 400);
    static const char *rows[4][3] = {{"Town", "Voters", "Turnout"},
                                     {"Alcona", "963", "439"},
                                     {"", "", ""},
                                     {"Curtis", "1026", "349"}};
    double y = 100;
    synth_hline(p, 60, 360, y);
    for (int r = 0; r < 4; r++) {
        for (int c = 0; c < 3; c++)
            if (*rows[r][c])
                synth_text(p, 65 + 100 * c, y + 4, 10, r == 0, rows[r][c]);
        if (r == 0)
            synth_hline(p, 300, 360, y + 12); /* the stray rule: under "Turnout" only */
        y += 16;
        synth_hline(p, 60, 360, y);
        if (r < 3) {
            y += 6; /* the spacer strip */
            synth_hline(p, 60, 360, y);
        }
    }
    for (int c = 0; c <= 3; c++)
        synth_vline(p, 60 + 100 * c, 100, y);
    struct table *t = extract_one(p, REGION_RULED);
    assert_int_equal(t->n_rows, 4);
    assert_int_equal(t->n_cols, 3);
    assert_row(t, 0, "Town", "Voters", "Turnout");
    assert_row(t, 1, "Alcona", "963", "439");
    assert_row(t, 2, "", "", "");
    assert_row(t, 3, "Curtis", "1026", "349");
    table_free(t);
    page_free(p);
}

/* A ruled grid:  Name (2 rows) | Size (over 2 columns) ;  - | W | H ;  then two data rows. */
static void test_textlayer__ruled_merged_cells(void **state)
{
    struct page *p = synth_page_new(500, 400);
    double x = 50, y = 100;
    synth_hline(p, x, x + 300, y);
    synth_hline(p, x + 100, x + 300, y + 20); /* no rule under "Name": it spans two rows */
    synth_hline(p, x, x + 300, y + 40);
    synth_hline(p, x, x + 300, y + 60);
    synth_hline(p, x, x + 300, y + 80);
    synth_vline(p, x, y, y + 80);
    synth_vline(p, x + 100, y, y + 80);
    synth_vline(p, x + 200, y + 20, y + 80); /* no rule inside "Size": it spans two columns */
    synth_vline(p, x + 300, y, y + 80);
    synth_text(p, x + 5, y + 15, 10, true, "Name");
    synth_text(p, x + 130, y + 5, 10, true, "Size");
    synth_text(p, x + 105, y + 25, 10, true, "W");
    synth_text(p, x + 205, y + 25, 10, true, "H");
    synth_text(p, x + 5, y + 45, 10, false, "Door");
    synth_text(p, x + 105, y + 45, 10, false, "90");
    synth_text(p, x + 205, y + 45, 10, false, "210");
    synth_text(p, x + 5, y + 65, 10, false, "Window");
    synth_text(p, x + 105, y + 65, 10, false, "120");
    synth_text(p, x + 205, y + 65, 10, false, "140");
    struct table *t = extract_one(p, REGION_RULED);
    assert_int_equal(t->n_rows, 4);
    assert_int_equal(t->n_cols, 3);
    const struct table_cell *name = table_cell_at(t, 0, 0);
    assert_int_equal(name->rowspan, 2);
    assert_int_equal(name->colspan, 1);
    assert_string_equal(name->text, "Name");
    assert_true(name->has_bbox);
    assert_true(fabs(name->bbox.x0 - 50) <= 1 && fabs(name->bbox.y0 - 100) <= 1 &&
                fabs(name->bbox.x1 - 150) <= 1 && fabs(name->bbox.y1 - 140) <= 1);
    const struct table_cell *size = table_cell_at(t, 0, 1);
    assert_int_equal(size->row, 0);
    assert_int_equal(size->col, 1);
    assert_int_equal(size->colspan, 2);
    assert_int_equal(size->rowspan, 1);
    assert_string_equal(size->text, "Size");
    assert_ptr_equal(table_cell_at(t, 0, 2), size);
    assert_ptr_equal(table_cell_at(t, 1, 0), name);
    assert_string_equal(table_text_at(t, 1, 1), "W");
    assert_string_equal(table_text_at(t, 1, 2), "H");
    assert_row(t, 2, "Door", "90", "210");
    assert_row(t, 3, "Window", "120", "140");
    assert_int_equal(t->header_rows, 2);
    assert_int_equal(name->kind, CELL_COLUMN_HEADER);
    assert_int_equal(table_cell_at(t, 2, 0)->kind, CELL_DATA);
    table_free(t);
    page_free(p);
}

/* A form: a ruled two-column grid (labels | text) whose middle cell holds, besides its text, a
 * small ruled table of its own, apart from the form's rules. Both are tables: the form reads
 * without the inner table's rules and words, the inner one reads alone. */
static void test_textlayer__table_nested_in_a_cell(void **state)
{
    struct page *p = synth_page_new(600, 700);
    double x = 40, y = 60, mid = 160, right = 560;
    double rows[] = {y, y + 40, y + 260, y + 300};
    for (int r = 0; r < 4; r++)
        synth_hline(p, x, right, rows[r]);
    synth_vline(p, x, rows[0], rows[3]);
    synth_vline(p, mid, rows[0], rows[3]);
    synth_vline(p, right, rows[0], rows[3]);
    synth_text(p, x + 5, y + 15, 10, true, "Purpose");
    synth_text(p, mid + 5, y + 15, 10, false, "Saving for retirement.");
    synth_text(p, x + 5, y + 55, 10, true, "Death");
    synth_text(p, mid + 5, y + 55, 10, false, "The benefit is raised by:");
    /* the inner table: 3 x 2, 20 pt inside the cell's rules */
    double ix = mid + 40, iy = y + 90, iw = 120;
    for (int r = 0; r <= 3; r++)
        synth_hline(p, ix, ix + 2 * iw, iy + 20 * r);
    for (int c = 0; c <= 2; c++)
        synth_vline(p, ix + iw * c, iy, iy + 60);
    const char *inner[3][2] = {{"Age", "Bonus"}, {"18-75", "1.00%"}, {"76-80", "0.50%"}};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 2; c++)
            synth_text(p, ix + iw * c + 5, iy + 20 * r + 5, 10, r == 0, inner[r][c]);
    synth_text(p, mid + 5, iy + 80, 10, false, "No guarantee is given.");
    synth_text(p, x + 5, y + 275, 10, true, "Options");
    synth_text(p, mid + 5, y + 275, 10, false, "None.");

    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 2);
    assert_true(vision_region_nested(&l->regions[1], &l->regions[0]));
    assert_false(vision_region_nested(&l->regions[0], &l->regions[1]));
    struct table *form = NULL, *t = NULL;
    assert_int_equal(textlayer_extract(p, l, &l->regions[0], &form, NULL), 0);
    assert_int_equal(form->n_rows, 3);
    assert_int_equal(form->n_cols, 2);
    assert_string_equal(table_text_at(form, 0, 0), "Purpose");
    assert_string_equal(table_text_at(form, 1, 0), "Death");
    assert_string_equal(table_text_at(form, 1, 1),
                        "The benefit is raised by: No guarantee is given.");
    assert_string_equal(table_text_at(form, 2, 1), "None.");
    assert_int_equal(textlayer_extract(p, l, &l->regions[1], &t, NULL), 0);
    assert_int_equal(t->n_rows, 3);
    assert_int_equal(t->n_cols, 2);
    assert_string_equal(table_text_at(t, 0, 0), "Age");
    assert_string_equal(table_text_at(t, 2, 1), "0.50%");
    table_free(form);
    table_free(t);
    page_layout_free(l);
    page_free(p);
}

static void test_textlayer__ruled_header_unruled_body(void **state)
{
    /* Rules frame the header and the body, but the body has no inner rules and the group "Total"
     * has no rules between its sub-columns: rows and sub-columns come from the text. */
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 50, 330, 100);
    synth_hline(p, 150, 330, 115); /* under "Total" only: "Item" spans the two header rows */
    synth_hline(p, 50, 330, 130);
    synth_hline(p, 50, 330, 250);
    synth_vline(p, 50, 100, 250);
    synth_vline(p, 150, 100, 250);
    synth_vline(p, 330, 100, 250);
    synth_text(p, 55, 110, 10, false, "Item");
    synth_text(p, 225, 103, 10, false, "Total");
    synth_text(p, 165, 118, 10, false, "Min");
    synth_text(p, 225, 118, 10, false, "Mid");
    synth_text(p, 285, 118, 10, false, "Max");
    static const char *names[6] = {"Bolts", "Nuts", "Washers", "Screws", "Rivets", "Pins"};
    static const char *nums[6][3] = {{"1", "5", "9"},  {"2", "6", "10"},   {"3", "7", "11"},
                                     {"4", "8", "12"}, {"13", "17", "21"}, {"14", "18", "22"}};
    for (int r = 0; r < 6; r++) {
        synth_text(p, 55, 135 + 18 * r, 10, false, names[r]);
        for (int c = 0; c < 3; c++)
            text_right(p, 195 + 60 * c, 135 + 18 * r, 10, nums[r][c]);
    }
    struct table *t = extract_one(p, REGION_RULED);
    assert_int_equal(t->n_rows, 8);
    assert_int_equal(t->n_cols, 4);
    const struct table_cell *item = table_cell_at(t, 0, 0);
    assert_string_equal(item->text, "Item");
    assert_int_equal(item->rowspan, 2);
    const struct table_cell *total = table_cell_at(t, 0, 1);
    assert_string_equal(total->text, "Total");
    assert_int_equal(total->colspan, 3);
    assert_string_equal(table_text_at(t, 1, 1), "Min");
    assert_string_equal(table_text_at(t, 1, 3), "Max");
    for (int r = 0; r < 6; r++) {
        assert_string_equal(table_text_at(t, r + 2, 0), names[r]);
        for (int c = 0; c < 3; c++)
            assert_string_equal(table_text_at(t, r + 2, c + 1), nums[r][c]);
    }
    table_free(t);
    page_free(p);
}

static void test_textlayer__ruled_multiline_cell(void **state)
{
    struct page *p = synth_page_new(500, 400);
    double x = 50, y = 100;
    for (int r = 0; r <= 3; r++)
        synth_hline(p, x, x + 300, y + (r < 2 ? 20 * r : 20 + 30 * (r - 1)));
    for (int c = 0; c <= 2; c++)
        synth_vline(p, x + 150 * c, y, y + 80);
    synth_text(p, x + 5, y + 5, 10, false, "Item");
    synth_text(p, x + 155, y + 5, 10, false, "Notes");
    synth_text(p, x + 5, y + 25, 10, false, "Pump");
    synth_text(p, x + 155, y + 24, 10, false, "replaced in May,");
    synth_text(p, x + 155, y + 36, 10, false, "tested twice");
    synth_text(p, x + 5, y + 55, 10, false, "Valve");
    synth_text(p, x + 155, y + 55, 10, false, "ok");
    struct table *t = extract_one(p, REGION_RULED);
    assert_int_equal(t->n_rows, 3);
    assert_int_equal(t->n_cols, 2);
    assert_string_equal(table_text_at(t, 1, 1), "replaced in May, tested twice");
    assert_string_equal(table_text_at(t, 2, 0), "Valve");
    table_free(t);
    page_free(p);
}

static void test_textlayer__booktabs(void **state)
{
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 40, 300, 95);
    unruled_table(p, 50, 100, false);
    synth_hline(p, 40, 300, 113);
    synth_hline(p, 40, 300, 172);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_rows, 5);
    assert_int_equal(t->n_cols, 3);
    assert_row(t, 0, "Region", "Sales", "Growth");
    for (int r = 0; r < 4; r++)
        assert_row(t, r + 1, body_rows[r][0], body_rows[r][1], body_rows[r][2]);
    assert_int_equal(t->header_rows, 1); /* the rows above the mid rule */
    assert_int_equal(table_cell_at(t, 0, 1)->kind, CELL_COLUMN_HEADER);
    assert_int_equal(table_cell_at(t, 1, 1)->kind, CELL_DATA);
    table_free(t);
    page_free(p);
}

static void test_textlayer__borderless(void **state)
{
    struct page *p = synth_page_new(500, 400);
    unruled_table(p, 50, 100, false);
    struct table *t = extract_one(p, REGION_BORDERLESS);
    assert_int_equal(t->n_rows, 5);
    assert_int_equal(t->n_cols, 3);
    assert_row(t, 0, "Region", "Sales", "Growth");
    for (int r = 0; r < 4; r++)
        assert_row(t, r + 1, body_rows[r][0], body_rows[r][1], body_rows[r][2]);
    assert_int_equal(t->header_rows, 0);
    const struct table_cell *c = table_cell_at(t, 1, 0);
    assert_true(c->has_bbox);
    assert_true(fabs(c->bbox.x0 - 50) <= 0.01 && fabs(c->bbox.y0 - 114) <= 0.01);
    table_free(t);
    page_free(p);
}

static void test_textlayer__bold_header(void **state)
{
    struct page *p = synth_page_new(500, 400);
    unruled_table(p, 50, 100, true);
    /* text_right() writes regular words; make the "Sales" header bold too. */
    for (size_t i = 0; i < p->n_words; i++)
        if (!strcmp(p->words[i].text, "Sales"))
            p->words[i].bold = true;
    struct table *t = extract_one(p, REGION_BORDERLESS);
    assert_int_equal(t->header_rows, 1);
    for (int c = 0; c < 3; c++)
        assert_int_equal(table_cell_at(t, 0, c)->kind, CELL_COLUMN_HEADER);
    assert_int_equal(table_cell_at(t, 1, 0)->kind, CELL_DATA);
    table_free(t);
    page_free(p);
}

static void test_textlayer__multiline_cell_unruled(void **state)
{
    /* The second column wraps onto a line of its own: it stays in its row's cell. */
    struct page *p = synth_page_new(500, 400);
    static const char *rows[4][3] = {{"Code", "Description", "Price"},
                                     {"A-1", "Steel bolt, zinc plated", "0.40"},
                                     {"B-7", "Washer", "0.05"},
                                     {"C-2", "Hex nut", "0.12"}};
    double y = 100;
    for (int r = 0; r < 4; r++, y += 16) {
        synth_text(p, 50, y, 10, false, rows[r][0]);
        synth_text(p, 110, y, 10, false, rows[r][1]);
        text_right(p, 330, y, 10, rows[r][2]);
        if (r == 1) {
            y += 12;
            synth_text(p, 110, y, 10, false, "with a long shank");
        }
    }
    struct table *t = extract_one(p, REGION_BORDERLESS);
    assert_int_equal(t->n_rows, 4);
    assert_int_equal(t->n_cols, 3);
    assert_row(t, 1, "A-1", "Steel bolt, zinc plated with a long shank", "0.40");
    assert_row(t, 2, "B-7", "Washer", "0.05");
    table_free(t);
    page_free(p);
}

static void test_textlayer__spanning_header_unruled(void **state)
{
    /* "Population count" is centred over two number columns: one cell spanning both. */
    struct page *p = synth_page_new(500, 400);
    static const char *rows[5][3] = {{"Town", "2010", "2020"},
                                     {"Aston", "1,200", "1,350"},
                                     {"Burley", "800", "760"},
                                     {"Crane", "15,400", "16,010"},
                                     {"Dunmore", "3,300", "3,900"}};
    synth_text(p, 150, 86, 10, false, "Population count");
    for (int r = 0; r < 5; r++) {
        synth_text(p, 50, 100 + 14 * r, 10, false, rows[r][0]);
        text_right(p, 200, 100 + 14 * r, 10, rows[r][1]);
        text_right(p, 260, 100 + 14 * r, 10, rows[r][2]);
    }
    struct table *t = extract_one(p, REGION_BORDERLESS);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->n_rows, 6);
    const struct table_cell *c = table_cell_at(t, 0, 1);
    assert_non_null(c);
    assert_int_equal(c->colspan, 2);
    assert_string_equal(c->text, "Population count");
    assert_row(t, 1, "Town", "2010", "2020");
    assert_row(t, 4, "Crane", "15,400", "16,010");
    table_free(t);
    page_free(p);
}

static void test_textlayer__label_column_outside_rules(void **state)
{
    /* The grid's rules start right of the row labels: the labels still form the first column. */
    struct page *p = synth_page_new(500, 400);
    static const char *labels[4] = {"Year", "North", "South", "West"};
    static const char *cells[4][3] = {
        {"2019", "2020", "2021"}, {"12", "15", "18"}, {"7", "9", "4"}, {"30", "31", "29"}};
    for (int r = 0; r <= 4; r++)
        synth_hline(p, 150, 450, 100 + 20 * r);
    for (int c = 0; c <= 3; c++)
        synth_vline(p, 150 + 100 * c, 100, 180);
    for (int r = 0; r < 4; r++) {
        synth_text(p, 60, 105 + 20 * r, 10, false, labels[r]);
        for (int c = 0; c < 3; c++)
            synth_text(p, 155 + 100 * c, 105 + 20 * r, 10, false, cells[r][c]);
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_true(l->regions[0].bbox.x0 <= 60 && l->regions[0].bbox.x0 >= 55);
    struct table *t = NULL;
    assert_int_equal(textlayer_extract(p, l, &l->regions[0], &t, NULL), 0);
    assert_int_equal(t->n_rows, 4);
    assert_int_equal(t->n_cols, 4);
    for (int r = 0; r < 4; r++) {
        assert_string_equal(table_text_at(t, r, 0), labels[r]);
        assert_int_equal(table_cell_at(t, r, 0)->rowspan, 1);
        assert_string_equal(table_text_at(t, r, 3), cells[r][2]);
    }
    table_free(t);
    page_layout_free(l);
    page_free(p);
}

static void test_textlayer__sideways_table(void **state)
{
    /* A landscape table on a portrait page: its words run downwards (direction 90). Build it
     * upright, then turn every word onto the page. */
    struct page *p = synth_page_new(400, 600);
    unruled_table(p, 50, 100, false);
    for (size_t i = 0; i < p->n_words; i++) {
        /* Upright (x', y') -> page: x = W - y', y = x', with the page's width W = 400. */
        struct rect b = p->words[i].bbox;
        p->words[i].bbox = (struct rect){400 - b.y1, b.x0, 400 - b.y0, b.x1};
        p->words[i].rotation = 90;
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].rotation, 90);
    struct table *t = NULL;
    assert_int_equal(textlayer_extract(p, l, &l->regions[0], &t, NULL), 0);
    assert_int_equal(t->n_rows, 5);
    assert_int_equal(t->n_cols, 3);
    assert_row(t, 0, "Region", "Sales", "Growth");
    for (int r = 0; r < 4; r++)
        assert_row(t, r + 1, body_rows[r][0], body_rows[r][1], body_rows[r][2]);
    /* Cell boxes come back in page coordinates: "Region" sits at x = 400 - 110 .. 400 - 100. */
    const struct table_cell *c = table_cell_at(t, 0, 0);
    assert_true(c->has_bbox);
    assert_true(fabs(c->bbox.x0 - 290) <= 0.01 && fabs(c->bbox.x1 - 300) <= 0.01);
    assert_true(fabs(c->bbox.y0 - 50) <= 0.01 && fabs(c->bbox.y1 - 80) <= 0.01);
    table_free(t);
    page_layout_free(l);
    page_free(p);
}

static void test_textlayer__wrapped_rows_set_close(void **state)
{
    /* Booktabs: a bold header whose first cell wraps onto a second line, and body rows whose
     * labels all wrap, the rows set only 2.4 pt apart (less than a third of a line) but still
     * clearly further apart than the 0.4 pt between the wrapped lines of a row. */
    static const char *labels[4][2] = {{"Quarter in median", "the index"},
                                       {"Variance in import", "change with"},
                                       {"Income population", "budget annual"},
                                       {"Average import", "actual volume"}};
    static const char *nums[4][2] = {
        {"39%", "4,776"}, {"72%", "32"}, {"3%", "2,098"}, {"28%", "6,909"}};
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 45, 300, 96);
    synth_text(p, 50, 100, 10, true, "Description of");
    text_right(p, 200, 100, 10, "Margin");
    text_right(p, 280, 100, 10, "Price");
    for (int i = 0; i < 3; i++) /* text_right is not bold: redo the header words in bold */
        p->words[p->n_words - 1 - (size_t)i].bold = true;
    synth_text(p, 50, 110.3, 10, true, "the item");
    synth_hline(p, 45, 300, 122);
    double y = 124;
    for (int r = 0; r < 4; r++) {
        synth_text(p, 50, y, 10, false, labels[r][0]);
        text_right(p, 200, y, 10, nums[r][0]);
        text_right(p, 280, y, 10, nums[r][1]);
        synth_text(p, 50, y + 10.4, 10, false, labels[r][1]);
        y += 10.4 + 10 + 2.4;
    }
    synth_hline(p, 45, 300, y + 2);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->n_rows, 5);
    assert_int_equal(t->header_rows, 1);
    assert_row(t, 0, "Description of the item", "Margin", "Price");
    assert_row(t, 1, "Quarter in median the index", "39%", "4,776");
    assert_row(t, 4, "Average import actual volume", "28%", "6,909");
    table_free(t);
    page_free(p);
}

/* Places the words of s in a monospaced font: 0.6 em a character (as DejaVu Sans Mono), words
 * one advance apart. Returns the right edge. */
static double mono_text(struct page *p, double x, double y, const char *s)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    double right = x;
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        synth_word(p, x, y, 10, false, t);
        right = p->words[p->n_words - 1].bbox.x1 = x + 6 * (double)strlen(t);
        x = right + 6;
    }
    return right;
}

static void test_textlayer__monospaced_word_spaces(void **state)
{
    /* Monospaced text (every character one advance wide): a word space is a whole advance, as
     * wide as some column gaps. "27 Feb 2009" under the header "Date of issue", which crosses
     * its spaces, is one cell; the amounts and IDs, one space apart on every row, are two
     * columns because the header leaves a wide gap between "Amount" and "ID". */
    static const char *rows[4][4] = {{"Aston", "27 Feb 2009", "47,755", "WU-7962"},
                                     {"Burley", "2 Mar 2015", "1,207", "KS-9791"},
                                     {"Crane", "18 Jul 2021", "(91,520)", "BX-2667"},
                                     {"Dunmore", "13 May 2021", "84", "MJ-7612"}};
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 45, 340, 96);
    mono_text(p, 50, 100, "Name");
    mono_text(p, 130, 100, "Date of issue");
    mono_text(p, 240, 100, "Amount");
    mono_text(p, 300, 100, "ID");
    synth_hline(p, 45, 340, 113);
    for (int r = 0; r < 4; r++) {
        double y = 116 + 14 * r;
        mono_text(p, 50, y, rows[r][0]);
        /* the day right-aligned in two characters, as a fixed-width date column sets it */
        mono_text(p, 130 + (rows[r][1][1] == ' ' ? 6 : 0), y, rows[r][1]);
        mono_text(p, 276 - 6 * (double)strlen(rows[r][2]), y, rows[r][2]);
        mono_text(p, 282, y, rows[r][3]);
    }
    synth_hline(p, 45, 340, 174);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_cols, 4);
    assert_int_equal(t->n_rows, 5);
    assert_row(t, 0, "Name", "Date of issue", "Amount");
    assert_string_equal(table_text_at(t, 0, 3), "ID");
    for (int r = 0; r < 4; r++) {
        assert_row(t, r + 1, rows[r][0], rows[r][1], rows[r][2]);
        assert_string_equal(table_text_at(t, r + 1, 3), rows[r][3]);
    }
    table_free(t);
    page_free(p);
}

static void test_textlayer__sparse_column(void **state)
{
    /* A column filled only in the header and in one of fourteen rows: few enough lines for the
     * gaps on both of its sides to read as one wide gap, yet a column of its own. */
    static const char *names[3] = {"Adams, J", "Baker, M", "Carter, L"};
    static const char *cities[3] = {"Highland", "Richmond", "Staten Island"};
    static const char *amounts[3] = {"51.24", "392.45", "4,700.00"};
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 45, 410, 76);
    synth_text(p, 50, 80, 10, true, "Physician");
    synth_text(p, 150, 80, 10, true, "Entity");
    synth_text(p, 260, 80, 10, true, "City");
    synth_text(p, 370, 80, 10, true, "Amount");
    synth_hline(p, 45, 410, 93);
    for (int r = 0; r < 14; r++) {
        double y = 96 + 14 * r;
        synth_text(p, 50, y, 10, false, names[r % 3]);
        if (r == 5)
            synth_text(p, 150, y, 10, false, "Clinic");
        synth_text(p, 260, y, 10, false, cities[r % 3]);
        text_right(p, 400, y, 10, amounts[r % 3]);
    }
    synth_hline(p, 45, 410, 96 + 14 * 14);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_cols, 4);
    assert_int_equal(t->n_rows, 15);
    assert_row(t, 0, "Physician", "Entity", "City");
    assert_row(t, 6, "Carter, L", "Clinic", "Staten Island");
    assert_string_equal(table_text_at(t, 6, 3), "4,700.00");
    assert_row(t, 7, "Adams, J", "", "Highland");
    table_free(t);
    page_free(p);
}

static void test_textlayer__cell_centred_on_row(void **state)
{
    /* A cell of two lines centred on a one-line row, in a column the other rows leave empty:
     * its lines overlap the row's line above and below. The cell stays in that row rather than
     * making rows of its own. */
    static const char *rows[5][3] = {{"Adams", "12", "Highland"},
                                     {"Baker", "7", "Richmond"},
                                     {"Carter", "30", "Denver"},
                                     {"Dunn", "4", "Austin"},
                                     {"Evans", "19", "Boston"}};
    struct page *p = synth_page_new(500, 400);
    synth_text(p, 50, 86, 10, false, "Name");
    text_right(p, 150, 86, 10, "Count");
    synth_text(p, 200, 86, 10, false, "Entity");
    synth_text(p, 330, 86, 10, false, "City");
    for (int r = 0; r < 5; r++) {
        double y = 100 + 14 * r;
        synth_text(p, 50, y, 10, false, rows[r][0]);
        text_right(p, 150, y, 10, rows[r][1]);
        synth_text(p, 330, y, 10, false, rows[r][2]);
    }
    synth_text(p, 200, 128 - 6, 10, false, "Regional pulmonary");
    synth_text(p, 200, 128 + 6, 10, false, "medicine");
    struct table *t = extract_one(p, REGION_BORDERLESS);
    assert_int_equal(t->n_cols, 4);
    assert_int_equal(t->n_rows, 6);
    assert_row(t, 2, "Baker", "7", "");
    assert_row(t, 3, "Carter", "30", "Regional pulmonary medicine");
    assert_string_equal(table_text_at(t, 3, 3), "Denver");
    assert_row(t, 4, "Dunn", "4", "");
    table_free(t);
    page_free(p);
}

static void test_textlayer__label_centred_on_two_rows(void **state)
{
    /* A label merged down over two rows is set between them, overlapping both a little: it
     * belongs to the upper row, and the row below stays a row of its own. */
    static const char *labels[2] = {"North", "South"};
    static const char *nums[4][2] = {
        {"12", "approved"}, {"7", "pending"}, {"30", "open"}, {"4", "closed"}};
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 45, 300, 96);
    synth_text(p, 50, 100, 10, true, "Region");
    synth_text(p, 130, 100, 10, true, "Count");
    synth_text(p, 200, 100, 10, true, "Grade");
    synth_hline(p, 45, 300, 114);
    for (int gr = 0; gr < 2; gr++) {
        double y = 118 + 36 * gr;
        synth_text(p, 50, y + 8, 10, false, labels[gr]);
        for (int k = 0; k < 2; k++) {
            text_right(p, 160, y + 16 * k, 10, nums[2 * gr + k][0]);
            synth_text(p, 200, y + 16 * k, 10, false, nums[2 * gr + k][1]);
        }
    }
    synth_hline(p, 45, 300, 118 + 72 + 2);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->n_rows, 5);
    assert_row(t, 1, "North", "12", "approved");
    assert_row(t, 2, "", "7", "pending");
    assert_row(t, 3, "South", "30", "open");
    assert_row(t, 4, "", "4", "closed");
    table_free(t);
    page_free(p);
}

static void test_textlayer__label_between_two_rows(void **state)
{
    /* Rows set far apart (one-line rows as far apart as the two rows of a label): a label
     * merged down over two rows, and a header label beside a header of two levels, sit in the
     * gap between their two rows, touching neither. Each belongs to its upper row, and the row
     * below stays a row of its own. */
    static const char *labels[2] = {"North", "South"};
    static const char *nums[4][2] = {
        {"12", "approved"}, {"7", "pending"}, {"30", "open"}, {"4", "closed"}};
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 45, 300, 86);
    synth_text(p, 140, 90, 10, true, "Budget");
    synth_text(p, 50, 102, 10, true, "Region");
    synth_text(p, 130, 114, 10, true, "Count");
    synth_text(p, 200, 114, 10, true, "Grade");
    synth_hline(p, 45, 300, 130);
    for (int gr = 0; gr < 2; gr++) {
        double y = 136 + 48 * gr;
        synth_text(p, 50, y + 12, 10, false, labels[gr]);
        for (int k = 0; k < 2; k++) {
            text_right(p, 160, y + 24 * k, 10, nums[2 * gr + k][0]);
            synth_text(p, 200, y + 24 * k, 10, false, nums[2 * gr + k][1]);
        }
    }
    synth_text(p, 50, 232, 10, false, "East");
    text_right(p, 160, 232, 10, "9");
    synth_text(p, 200, 232, 10, false, "open");
    synth_text(p, 50, 256, 10, false, "West");
    text_right(p, 160, 256, 10, "5");
    synth_text(p, 200, 256, 10, false, "closed");
    synth_hline(p, 45, 300, 270);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->n_rows, 8);
    assert_string_equal(table_text_at(t, 0, 0), "Region");
    assert_row(t, 1, "", "Count", "Grade");
    assert_row(t, 2, "North", "12", "approved");
    assert_row(t, 3, "", "7", "pending");
    assert_row(t, 4, "South", "30", "open");
    assert_row(t, 5, "", "4", "closed");
    assert_row(t, 6, "East", "9", "open");
    table_free(t);
    page_free(p);
}

static void test_textlayer__section_titles_cross_columns(void **state)
{
    /* Section titles set from the left edge, a quarter of the lines, cross the first column
     * edge (more lines than a gap allows); the rows still show three columns, and each title
     * spans the two columns it covers. */
    static const char *rows[5][3] = {{"Adams", "12", "approved"},
                                     {"Baker", "7", "pending"},
                                     {"Carter", "30", "open"},
                                     {"Dunn", "4", "closed"},
                                     {"Evans", "19", "open"}};
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 45, 300, 86);
    synth_text(p, 50, 90, 10, true, "Name");
    text_right(p, 160, 90, 10, "Count");
    synth_text(p, 200, 90, 10, true, "Grade");
    synth_hline(p, 45, 300, 104);
    double y = 108;
    for (int r = 0; r < 5; r++) {
        if (r == 0 || r == 3) {
            const char *title = r ? "Southern region total" : "Northern region holdings";
            synth_text(p, 50, y, 10, false, title);
            y += 14;
        }
        synth_text(p, 50, y, 10, false, rows[r][0]);
        text_right(p, 160, y, 10, rows[r][1]);
        synth_text(p, 200, y, 10, false, rows[r][2]);
        y += 14;
    }
    synth_hline(p, 45, 300, y);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->n_rows, 8);
    assert_row(t, 1, "Northern region holdings", "Northern region holdings", "");
    assert_row(t, 2, "Adams", "12", "approved");
    assert_row(t, 5, "Southern region total", "Southern region total", "");
    assert_row(t, 6, "Dunn", "4", "closed");
    table_free(t);
    page_free(p);
}

static void test_textlayer__monospaced_gap_below_half_em(void **state)
{
    /* Monospaced text (every word 0.5 em per character): right-aligned numbers and a
     * left-aligned column one narrow space (0.8 advance, below 0.5 em) apart, under a header
     * that leaves a wide gap there, are two columns. */
    static const char *rows[5][3] = {{"Adams", "12", "approved"},
                                     {"Baker", "7,310", "pending"},
                                     {"Carter", "30", "open"},
                                     {"Dunn", "4", "closed"},
                                     {"Evans", "(919)", "open"}};
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 45, 300, 86);
    synth_text(p, 50, 90, 10, false, "Name");
    text_right(p, 150, 90, 10, "Count");
    synth_text(p, 170, 90, 10, false, "Grade");
    synth_hline(p, 45, 300, 104);
    for (int r = 0; r < 5; r++) {
        double y = 108 + 14 * r;
        synth_text(p, 50, y, 10, false, rows[r][0]);
        text_right(p, 150, y, 10, rows[r][1]);
        synth_text(p, 154, y, 10, false, rows[r][2]);
    }
    synth_hline(p, 45, 300, 180);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->n_rows, 6);
    assert_row(t, 0, "Name", "Count", "Grade");
    assert_row(t, 2, "Baker", "7,310", "pending");
    assert_row(t, 5, "Evans", "(919)", "open");
    table_free(t);
    page_free(p);
}

static void test_textlayer__monospaced_narrow_gap_under_spanning_header(void **state)
{
    /* Monospaced: dates and right-aligned numbers one advance apart, under a header of one
     * word set across both ("Domestic"): the word does not hide the edge, since the header
     * line below leaves a wide gap there and the rows fill both sides. */
    static const char *rows[4][3] = {{"Adams", "02/04/2011", "429,303"},
                                     {"Baker", "07/09/1998", "7"},
                                     {"Carter", "03/04/2019", "68,477"},
                                     {"Dunn", "10/10/2009", "33,731"}};
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 45, 300, 74);
    synth_text(p, 150, 78, 10, false, "Domestic");
    synth_text(p, 50, 92, 10, false, "Name");
    synth_text(p, 110, 92, 10, false, "Date");
    text_right(p, 200, 92, 10, "Balance");
    synth_hline(p, 45, 300, 106);
    for (int r = 0; r < 4; r++) {
        double y = 110 + 14 * r;
        synth_text(p, 50, y, 10, false, rows[r][0]);
        synth_text(p, 110, y, 10, false, rows[r][1]);
        text_right(p, 200, y, 10, rows[r][2]);
    }
    synth_hline(p, 45, 300, 168);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->n_rows, 6);
    assert_row(t, 1, "Name", "Date", "Balance");
    assert_row(t, 2, "Adams", "02/04/2011", "429,303");
    assert_row(t, 5, "Dunn", "10/10/2009", "33,731");
    table_free(t);
    page_free(p);
}

/* A word of proportional type filling [x0, x1] (synth words are 0.5 em per character). */
static void word_between(struct page *p, double x0, double x1, double y, const char *s)
{
    synth_word(p, x0, y, 10, false, s);
    p->words[p->n_words - 1].bbox.x1 = x1;
}

static void test_textlayer__proportional_gap_below_half_em(void **state)
{
    /* Proportional text: right-aligned numbers and a left-aligned column 4.5 pt apart (0.45 em,
     * below the 0.5 em a gap needs, above a word space). The numbers end at one x and the
     * words after them start at one x on every row: two columns. */
    static const char *names[5] = {"Adams", "Baker", "Carter", "Dunn", "Evans"};
    static const char *nums[5] = {"12", "7,310", "30", "4", "(919)"};
    static const char *grades[5] = {"approved", "pending", "open", "closed", "open"};
    static const double name_w[5] = {31, 27.5, 33, 24, 29};
    static const double num_w[5] = {11, 26, 11.5, 6, 23};
    static const double grade_w[5] = {46, 39, 22, 31.5, 22};
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 45, 300, 86);
    word_between(p, 50, 78, 90, "Name");
    word_between(p, 121, 150, 90, "Count");
    word_between(p, 154.5, 181.5, 90, "Grade");
    synth_hline(p, 45, 300, 104);
    for (int r = 0; r < 5; r++) {
        double y = 108 + 14 * r;
        word_between(p, 50, 50 + name_w[r], y, names[r]);
        word_between(p, 150 - num_w[r], 150, y, nums[r]);
        word_between(p, 154.5, 154.5 + grade_w[r], y, grades[r]);
    }
    synth_hline(p, 45, 300, 180);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->n_rows, 6);
    assert_row(t, 0, "Name", "Count", "Grade");
    assert_row(t, 2, "Baker", "7,310", "pending");
    assert_row(t, 5, "Evans", "(919)", "open");
    table_free(t);
    page_free(p);
}

static void test_textlayer__proportional_gap_between_right_aligned(void **state)
{
    /* Proportional text: two right-aligned number columns, the longest numbers 4.5 pt apart
     * (below 0.5 em). The numbers on either side end at one x on every row: two columns. */
    static const char *names[5] = {"Adams", "Baker", "Carter", "Dunn", "Evans"};
    static const char *nums[5] = {"12", "7,310", "30", "4", "(919)"};
    static const char *prices[5] = {"$8.97", "$94,396.88", "$5.00", "$61,877.94", "$12.5"};
    static const double name_w[5] = {31, 27.5, 33, 24, 29};
    static const double num_w[5] = {11, 26, 11.5, 6, 23};
    static const double price_w[5] = {27, 55.5, 27, 55.5, 28};
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 45, 300, 86);
    word_between(p, 50, 78, 90, "Name");
    word_between(p, 121, 150, 90, "Count");
    word_between(p, 180, 210, 90, "Price");
    synth_hline(p, 45, 300, 104);
    for (int r = 0; r < 5; r++) {
        double y = 108 + 14 * r;
        word_between(p, 50, 50 + name_w[r], y, names[r]);
        word_between(p, 150 - num_w[r], 150, y, nums[r]);
        word_between(p, 210 - price_w[r], 210, y, prices[r]);
    }
    synth_hline(p, 45, 300, 180);
    struct table *t = extract_one(p, REGION_HRULES);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->n_rows, 6);
    assert_row(t, 0, "Name", "Count", "Price");
    assert_row(t, 2, "Baker", "7,310", "$94,396.88");
    assert_row(t, 5, "Evans", "(919)", "$12.5");
    table_free(t);
    page_free(p);
}

static void test_textlayer__empty_region(void **state)
{
    struct page *p = synth_page_new(500, 400);
    synth_text(p, 50, 50, 10, false, "elsewhere");
    struct region r = {{100, 100, 200, 200}, 1.0, REGION_BORDERLESS, 0};
    struct table *t = NULL;
    char *msg = NULL;
    assert_int_equal(textlayer_extract(p, NULL, &r, &t, &msg), QUIRE_EINVAL);
    assert_null(t);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "no words"));
    free(msg);
    page_free(p);
}

static void test_textlayer__allocation_failures(void **state)
{
    struct page *p = synth_page_new(500, 400);
    unruled_table(p, 50, 100, true);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    for (long n = 1; n < 1000; n++) {
        struct table *t = NULL;
        char *msg = NULL;
        q_alloc_fail_after(n);
        int err = textlayer_extract(p, l, &l->regions[0], &t, &msg);
        q_alloc_fail_after(0);
        free(msg);
        if (err == 0) {
            assert_int_equal(t->n_rows, 5);
            table_free(t);
            break;
        }
        assert_int_equal(err, QUIRE_ENOMEM);
        assert_null(t);
    }
    page_layout_free(l);
    page_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_textlayer__ruled_merged_cells),
        cmocka_unit_test(test_textlayer__spacer_strips_between_rows),
        cmocka_unit_test(test_textlayer__table_nested_in_a_cell),
        cmocka_unit_test(test_textlayer__ruled_header_unruled_body),
        cmocka_unit_test(test_textlayer__ruled_multiline_cell),
        cmocka_unit_test(test_textlayer__booktabs),
        cmocka_unit_test(test_textlayer__borderless),
        cmocka_unit_test(test_textlayer__bold_header),
        cmocka_unit_test(test_textlayer__multiline_cell_unruled),
        cmocka_unit_test(test_textlayer__spanning_header_unruled),
        cmocka_unit_test(test_textlayer__label_column_outside_rules),
        cmocka_unit_test(test_textlayer__sideways_table),
        cmocka_unit_test(test_textlayer__wrapped_rows_set_close),
        cmocka_unit_test(test_textlayer__monospaced_word_spaces),
        cmocka_unit_test(test_textlayer__sparse_column),
        cmocka_unit_test(test_textlayer__cell_centred_on_row),
        cmocka_unit_test(test_textlayer__label_centred_on_two_rows),
        cmocka_unit_test(test_textlayer__label_between_two_rows),
        cmocka_unit_test(test_textlayer__section_titles_cross_columns),
        cmocka_unit_test(test_textlayer__monospaced_gap_below_half_em),
        cmocka_unit_test(test_textlayer__monospaced_narrow_gap_under_spanning_header),
        cmocka_unit_test(test_textlayer__proportional_gap_below_half_em),
        cmocka_unit_test(test_textlayer__proportional_gap_between_right_aligned),
        cmocka_unit_test(test_textlayer__empty_region),
        cmocka_unit_test(test_textlayer__allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
