/* test_vision.c - rulings from a raster, table regions from rulings and from text alignment, and
 * no regions on pages without tables. Pages are synthetic: words placed by hand and lines drawn
 * into a white raster, so every expected value is known exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vision/vision.h"
#include "support/synthpage.h"

#define DPI SYNTH_DPI

/* Right-aligned text ending at x. */
static void text_right(struct page *p, double x, double y, double fs, const char *s)
{
    double w = 0.5 * fs * (double)strlen(s);
    synth_text(p, x - w, y, fs, false, s);
}

static const char *prose[] = {
    "The committee met on Tuesday to discuss the annual budget and the plans for",
    "a new library building in the north of the town, which many residents had",
    "asked for during the previous year. After a long debate the members agreed",
    "that the costs should be shared between the council and a private donor who",
    "had offered to pay for the reading room and the children's section of it.",
    "Work is expected to begin in the spring and should take about two years.",
};

static struct page_layout *analyze(const struct page *p)
{
    struct page_layout *layout = NULL;
    assert_int_equal(vision_analyze(p, NULL, &layout), 0);
    assert_non_null(layout);
    return layout;
}

/* A 4 x 3 ruled grid at (x, y), columns 100 wide, rows 20 high, with text in every cell. */
static void ruled_grid(struct page *p, double x, double y)
{
    for (int r = 0; r <= 4; r++)
        synth_hline(p, x, x + 300, y + 20 * r);
    for (int c = 0; c <= 3; c++)
        synth_vline(p, x + 100 * c, y, y + 80);
    static const char *cells[4][3] = {{"Name", "Kind", "Count"},
                                      {"Alpha", "cat", "12"},
                                      {"Beta", "dog", "7"},
                                      {"Gamma", "bird", "30"}};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            synth_text(p, x + 100 * c + 5, y + 20 * r + 5, 10, false, cells[r][c]);
}

/* A borderless 5 x 3 table of left-aligned names and right-aligned numbers at (x, y). */
static void borderless_table(struct page *p, double x, double y)
{
    static const char *rows[5][3] = {{"Region", "Sales", "Growth"},
                                     {"North East", "1,204", "3.1%"},
                                     {"South", "987", "-0.4%"},
                                     {"West Coast", "2,310", "12.0%"},
                                     {"Central", "45", "1.0%"}};
    for (int r = 0; r < 5; r++) {
        synth_text(p, x, y + 14 * r, 10, false, rows[r][0]);
        text_right(p, x + 150, y + 14 * r, 10, rows[r][1]);
        text_right(p, x + 230, y + 14 * r, 10, rows[r][2]);
    }
}

/* --- tests ----------------------------------------------------------------------------------- */

static void test_vision__rulings_from_raster(void **state)
{
    struct page *p = synth_page_new(400, 300);
    synth_hline(p, 50, 300, 100); /* a plain line */
    synth_hline(p, 50, 120, 150); /* a line in two pieces, 1 pt apart */
    synth_hline(p, 121, 200, 150);
    synth_vline(p, 80, 40, 240);
    synth_fill(p, 250, 200, 350, 260); /* a filled box: its edges are marked as a fill's */
    synth_fill(p, 20, 20, 24, 26);     /* a speck: too short */
    struct ruling *r = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(vision_find_rulings(&p->raster, NULL, &r, &n, &cap), 0);
    size_t kept = 0, edges = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].fill) { /* the box's edges, the box on their inner side */
            edges++;
            bool h = ruling_is_horizontal(&r[i]);
            double at = h ? r[i].y0 : r[i].x0, mid = h ? 230 : 300;
            assert_int_equal(r[i].fill, at < mid ? 1 : -1);
            assert_true(fabs(at - (h ? (at < mid ? 200 : 260) : (at < mid ? 250 : 350))) <= 0.5);
        } else {
            r[kept++] = r[i];
        }
    }
    assert_int_equal(edges, 4);
    n = kept;
    assert_int_equal(n, 3);
    assert_true(ruling_is_horizontal(&r[0]));
    assert_true(fabs(r[0].y0 - 100) <= 0.5 && fabs(r[0].x0 - 50) <= 0.5 &&
                fabs(r[0].x1 - 300) <= 0.5);
    assert_true(ruling_is_horizontal(&r[1]));
    assert_true(fabs(r[1].y0 - 150) <= 0.5 && fabs(r[1].x0 - 50) <= 0.5 &&
                fabs(r[1].x1 - 200) <= 0.5);
    assert_false(ruling_is_horizontal(&r[2]));
    assert_true(fabs(r[2].x0 - 80) <= 0.5 && fabs(r[2].y0 - 40) <= 0.5 &&
                fabs(r[2].y1 - 240) <= 0.5);
    assert_true(fabs(r[2].thickness - 1.0) <= 0.5);
    free(r);
    page_free(p);
}

/* White text on a dark band: the word in the text layer and, in the raster, light letter stems
 * (2 pt apart) over the word's box. */
static void white_word(struct page *p, double x, double y, double fs, const char *text)
{
    double right = synth_word(p, x, y, fs, true, text);
    for (double sx = x + 0.5; sx + 1 <= right; sx += 2)
        synth_shade(p, sx, y + 0.15 * fs, sx + 1, y + 0.85 * fs, 255);
}

/* A grid under a dark header band (grey 60) set with two lines of white text, grey total rows
 * (grey 191), black rules drawn over both; the band's lower edge has no rule of its own. */
static void shaded_grid(struct page *p)
{
    synth_shade(p, 60, 100, 360, 124, 60);
    static const char *head[2][3] = {{"Name", "Kind of", "Count"}, {"", "animal", "total"}};
    for (int l = 0; l < 2; l++)
        for (int c = 0; c < 3; c++)
            if (*head[l][c])
                white_word(p, 65 + 100 * c, 102 + 11 * l, 9, head[l][c]);
    synth_shade(p, 60, 144, 360, 164, 191);
    synth_shade(p, 60, 184, 360, 204, 191);
    for (int r = 0; r < 4; r++)
        synth_hline(p, 60, 360, 144 + 20 * r);
    for (int c = 0; c <= 3; c++)
        synth_vline(p, 60 + 100 * c, 100, 204);
    static const char *cells[4][3] = {
        {"Alpha", "cat", "12"}, {"Total", "", "12"}, {"Beta", "dog", "7"}, {"Total", "", "7"}};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            if (*cells[r][c])
                synth_text(p, 65 + 100 * c, 129 + 20 * r, 10, false, cells[r][c]);
}

static void test_vision__rulings_through_shaded_bands(void **state)
{
    (void)state;
    struct page *p = synth_page_new(500, 400);
    shaded_grid(p);
    struct page_layout *l = analyze(p);
    /* the column rules run the whole height, through the band and the grey rows */
    size_t nv = 0, nh = 0;
    static const double want_h[] = {100, 124, 144, 164, 184, 204};
    for (size_t i = 0; i < l->n_rulings; i++) {
        const struct ruling *r = &l->rulings[i];
        if (!ruling_is_horizontal(r)) {
            assert_true(fabs(r->x0 - (60 + 100 * (double)nv)) <= 1);
            assert_true(r->y0 <= 101 && r->y1 >= 203);
            nv++;
            continue;
        }
        /* rows: the band's edges and the drawn rules, nothing from the white letters */
        assert_true(nh < 6);
        assert_true(fabs(r->y0 - want_h[nh]) <= 1);
        assert_true(r->x0 <= 61 && r->x1 >= 359);
        assert_int_equal(r->fill, nh == 0 ? 1 : nh == 1 ? -1 : 0);
        nh++;
    }
    assert_int_equal(nv, 4);
    assert_int_equal(nh, 6);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_RULED);
    struct rect b = l->regions[0].bbox;
    assert_true(fabs(b.x0 - 60) <= 1 && fabs(b.y0 - 100) <= 1 && fabs(b.x1 - 360) <= 1 &&
                fabs(b.y1 - 204) <= 1);
    page_layout_free(l);
    page_free(p);
}

/* Light zebra bands without rules are shading, not rules; a dark bar with nothing written in it
 * (a redaction) gives no rulings either. */
static void test_vision__bands_without_rules_or_text(void **state)
{
    (void)state;
    struct page *p = synth_page_new(500, 400);
    for (int r = 0; r < 4; r++)
        synth_shade(p, 60, 100 + 28 * r, 360, 114 + 28 * r, 191);
    synth_fill(p, 100, 300, 220, 312);
    synth_text(p, 60, 40, 10, false, "Some words so that the page has a text layer.");
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_rulings, 0);
    page_layout_free(l);
    page_free(p);
}

/* A ruled grid of 40 rows and 9 columns (400 cells, more than the 64 positions once counted)
 * is a ruled table. */
static void test_vision__large_ruled_grid(void **state)
{
    (void)state;
    struct page *p = synth_page_new(612, 792);
    for (int r = 0; r <= 40; r++)
        synth_hline(p, 40, 580, 60 + 16 * r);
    for (int c = 0; c <= 9; c++)
        synth_vline(p, 40 + 60 * c, 60, 700);
    char buf[16];
    for (int r = 0; r < 40; r++)
        for (int c = 0; c < 9; c++) {
            snprintf(buf, sizeof buf, "v%d.%d", r, c);
            synth_text(p, 44 + 60 * c, 63 + 16 * r, 9, false, buf);
        }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_RULED);
    page_layout_free(l);
    page_free(p);
}

/* A ruled grid and, after a blank, a table with rules of its own of the same width: two tables,
 * not one grown over the blank. */
static void test_vision__ruled_grid_then_table_below(void **state)
{
    (void)state;
    struct page *p = synth_page_new(500, 400);
    ruled_grid(p, 60, 100); /* down to 180 */
    synth_hline(p, 60, 360, 195);
    borderless_table(p, 70, 200);
    synth_hline(p, 60, 360, 213);
    synth_hline(p, 60, 360, 270);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 2);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__ruled_grid_region(void **state)
{
    struct page *p = synth_page_new(500, 400);
    synth_text(p, 60, 40, 12, true, "Table 1: Animals");
    ruled_grid(p, 60, 100);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_RULED);
    struct rect b = l->regions[0].bbox;
    assert_true(fabs(b.x0 - 60) <= 1 && fabs(b.y0 - 100) <= 1 && fabs(b.x1 - 360) <= 1 &&
                fabs(b.y1 - 180) <= 1);
    assert_int_equal(l->n_rulings, 9);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__booktabs_region(void **state)
{
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 50, 300, 95);
    borderless_table(p, 60, 100);
    synth_hline(p, 50, 300, 113);
    synth_hline(p, 50, 300, 170);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_HRULES);
    struct rect b = l->regions[0].bbox;
    assert_true(fabs(b.x0 - 50) <= 1 && fabs(b.y0 - 95) <= 1 && fabs(b.x1 - 300) <= 1 &&
                fabs(b.y1 - 170) <= 1);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__borderless_region(void **state)
{
    struct page *p = synth_page_new(500, 400);
    for (int i = 0; i < 3; i++)
        synth_text(p, 40, 40 + 14 * i, 10, false, prose[i]);
    borderless_table(p, 60, 120);
    for (int i = 3; i < 6; i++)
        synth_text(p, 40, 150 + 14 * i, 10, false, prose[i]);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_BORDERLESS);
    struct rect b = l->regions[0].bbox;
    assert_true(fabs(b.x0 - 60) <= 1 && fabs(b.y0 - 120) <= 1 && fabs(b.x1 - 290) <= 1 &&
                fabs(b.y1 - 186) <= 1);
    page_layout_free(l);
    page_free(p);
}

/* A caption set one line above a borderless table, centred over it as LaTeX sets it, stays out of
 * the region; a plain line in its place is taken in as a header (the control). */
static void test_vision__caption_above_borderless(void **state)
{
    for (int caption = 0; caption < 2; caption++) {
        struct page *p = synth_page_new(500, 400);
        for (int i = 0; i < 3; i++)
            synth_text(p, 40, 40 + 14 * i, 10, false, prose[i]);
        synth_text(p, 120, 106, 10, false, caption ? "Table 2: Sales" : "Regional sales");
        borderless_table(p, 60, 120);
        for (int i = 3; i < 6; i++)
            synth_text(p, 40, 150 + 14 * i, 10, false, prose[i]);
        struct page_layout *l = analyze(p);
        assert_int_equal(l->n_regions, 1);
        assert_int_equal(l->regions[0].kind, REGION_BORDERLESS);
        double top = l->regions[0].bbox.y0;
        if (caption)
            assert_true(fabs(top - 120) <= 1);
        else
            assert_true(fabs(top - 106) <= 1);
        page_layout_free(l);
        page_free(p);
    }
}

/* A key/value table: long row labels with one value each, rows set 18 pt apart for 8 pt text,
 * and section labels between groups (camelot's edge_tol page is of this kind). The labels are
 * as long as a line of prose, but prose does not end in a column of numbers. */
static void test_vision__label_value_table_with_sections(void **state)
{
    struct page *p = synth_page_new(500, 500);
    static const char *labels[] = {"Net Asset Value at 31 December",
                                   "Number of outstanding units at 31 December",
                                   "Net Asset Value per unit at 31 December"};
    static const char *values[] = {"5,111,372", "49,136", "(104.03)"};
    double y = 60;
    for (int group = 0; group < 3; group++) {
        synth_text(p, 40, y, 8, true, group == 0 ? "Class A" : group == 1 ? "Class B" : "Total");
        y += 18;
        for (int r = 0; r < 3; r++) {
            synth_text(p, 40, y, 8, false, labels[r]);
            synth_text(p, 400, y, 8, false, values[r]);
            y += 18;
        }
        y += 10;
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_BORDERLESS);
    struct rect b = l->regions[0].bbox;
    /* from the first group's title to the last row: the three groups are one table, and the
     * first group keeps its title as the others do */
    assert_true(fabs(b.y0 - 60) <= 1 && fabs(b.y1 - (y - 20)) <= 1);
    assert_true(b.x0 <= 41 && b.x1 >= 430);
    page_layout_free(l);
    page_free(p);
}

/* Rules between every row, and a last row whose third cell wraps onto six lines: the band of
 * that row is one line across the columns and five in one column, and the table goes on to
 * the bottom rule (tabula's AnimalSounds1 page is of this kind). */
static void test_vision__rules_around_a_wrapped_row(void **state)
{
    struct page *p = synth_page_new(500, 400);
    static const double rule_y[] = {100, 120, 140, 160, 245};
    for (int i = 0; i < 5; i++)
        synth_hline(p, 60, 300, rule_y[i]);
    synth_text(p, 64, 105, 10, false, "Animal");
    synth_text(p, 150, 105, 10, false, "Action");
    synth_text(p, 220, 105, 10, false, "Result");
    synth_text(p, 64, 125, 10, false, "Cat");
    synth_text(p, 150, 125, 10, false, "Says");
    synth_text(p, 220, 125, 10, false, "Meow");
    synth_text(p, 64, 145, 10, false, "Dog");
    synth_text(p, 150, 145, 10, false, "Says");
    synth_text(p, 220, 145, 10, false, "Woof");
    synth_text(p, 64, 165, 10, false, "Fox");
    synth_text(p, 150, 165, 10, false, "Says");
    static const char *wrapped[] = {"Ring-ding", "dingeding", "Gering-", "dingding", "dinge",
                                    "ding"};
    for (int i = 0; i < 6; i++)
        synth_text(p, 220, 165 + 12 * i, 10, false, wrapped[i]);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_HRULES);
    struct rect b = l->regions[0].bbox;
    assert_true(fabs(b.y0 - 100) <= 1.5 && fabs(b.y1 - 245) <= 1.5);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__two_tables(void **state)
{
    struct page *p = synth_page_new(500, 600);
    ruled_grid(p, 60, 60);
    synth_text(p, 40, 200, 10, false, prose[0]);
    synth_text(p, 40, 214, 10, false, prose[1]);
    borderless_table(p, 60, 300);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 2);
    assert_int_equal(l->regions[0].kind, REGION_RULED);
    assert_int_equal(l->regions[1].kind, REGION_BORDERLESS);
    assert_true(l->regions[0].bbox.y1 < l->regions[1].bbox.y0);
    assert_true(fabs(l->regions[1].bbox.y0 - 300) <= 1);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__two_column_layout(void **state)
{
    /* Prose in the left column, a table in the right one: only the table is a region. */
    struct page *p = synth_page_new(600, 400);
    static const char *left[] = {"The survey covered households in four regions",
                                 "over three years, with a sample that was",
                                 "drawn at random from the census lists of",
                                 "the previous year and weighted by the size",
                                 "of each household. Interviews took place in",
                                 "the spring, and every answer was checked",
                                 "twice before it entered the final tables of",
                                 "the report that the office published later."};
    for (int i = 0; i < 8; i++)
        synth_text(p, 40, 60 + 13 * i, 10, false, left[i]);
    borderless_table(p, 330, 64);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_true(l->regions[0].bbox.x0 >= 329 && l->regions[0].bbox.x1 <= 561);
    page_layout_free(l);
    page_free(p);
}

/* A table in the right column whose first header line shares its height with the last words
 * of a paragraph in the left column (the two columns run at different line pitches), as on a
 * tax form: the header lines are still the table's, the prose is not. */
static void test_vision__header_beside_prose_column(void **state)
{
    struct page *p = synth_page_new(612, 600);
    static const char *end[] = {"the", "2011", "withholding", "tables."};
    static const double end_x[] = {42, 59, 84, 137};
    for (int i = 0; i < 4; i++)
        synth_word(p, end_x[i], 292, 10, false, end[i]);
    /* justified: a wide space before the paragraph's next sentence */
    static const char *first[] = {"Social", "security", "and", "Medicare", "tax", "for",
                                  "2011.", "For", "2011,"};
    static const double first_x[] = {42, 74, 115, 136, 182, 199, 216, 248, 266};
    for (int i = 0; i < 9; i++)
        synth_word(p, first_x[i], 313, 10, false, first[i]);
    static const char *prose[] = {
        "",
        "the year the employee tax rate for social security is",
        "The employer tax rate for social security remains the",
        "same as before. The social security wage base limit",
        "is raised again. The Medicare tax rate is unchanged",
        "for employers and employees alike, as it was in the",
        "year before. There is no wage base limit for this tax.",
        "Employers should use the new rate as soon as they can",
        "but not later than the end of the first month of it."};
    static const double prose_y[] = {313, 324.5, 344, 355.4, 366.8, 378.2, 389.6, 409, 420.4};
    for (int i = 1; i < 9; i++)
        synth_text(p, 42, prose_y[i], 10, false, prose[i]);
    synth_text(p, 323, 293, 9, true, "Pay");
    text_right(p, 556, 293, 9, "One Withholding"); /* wider than its column */
    synth_text(p, 323, 302.6, 9, true, "Payroll Period");
    text_right(p, 536, 302.6, 9, "Allowance");
    static const char *rows[7][2] = {{"Weekly", "71.15"},      {"Biweekly", "142.31"},
                                     {"Semimonthly", "154.17"}, {"Monthly", "308.33"},
                                     {"Quarterly", "925.00"},   {"Semiannually", "1,850.00"},
                                     {"Annually", "3,700.00"}};
    for (int r = 0; r < 7; r++) {
        synth_text(p, 323, 318.6 + 16.4 * r, 9, false, rows[r][0]);
        text_right(p, 536, 318.6 + 16.4 * r, 9, rows[r][1]);
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    struct rect b = l->regions[0].bbox;
    assert_true(b.x0 >= 320);
    assert_true(b.y0 <= 294); /* both header lines are in */
    page_layout_free(l);
    page_free(p);
}

/* A two-column statement set with a blank line between rows: its header line ("2016" over the
 * figures) sits a little further above the first row than one line height, as far as the rows
 * are apart. It belongs to the table; the title further up does not. */
static void test_vision__header_above_widely_spaced_rows(void **state)
{
    (void)state;
    struct page *p = synth_page_new(612, 600);
    synth_text(p, 70, 90, 14, true, "Key numbers");
    text_right(p, 530, 130, 10, "2016");
    static const char *rows[6][2] = {
        {"Net asset value at year end", "5,111,372"}, {"Units outstanding at year end", "49,136"},
        {"Net asset value per unit", "104.03"},       {"Revaluation of the portfolio", "2,076,667"},
        {"Costs charged to the fund", "(106,870)"},   {"Investment result per unit", "3.78"}};
    for (int r = 0; r < 6; r++) {
        synth_text(p, 70, 152.6 + 21 * r, 10, false, rows[r][0]);
        text_right(p, 530, 152.6 + 21 * r, 10, rows[r][1]);
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    struct rect b = l->regions[0].bbox;
    assert_true(b.y0 <= 130.5); /* the header line is in */
    assert_true(b.y0 > 104);    /* the title is not */
    page_layout_free(l);
    page_free(p);
}

/* Lays out `text` as a ragged-right paragraph of lines at most `width` wide from (x, y), 1.3 em
 * apart, each word `advance` per character (em) and spaced by `space` (em); returns the line
 * count. */
static int ragged(struct page *p, double x, double y, double width, double fs, double advance,
                  double space, const char *text)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    double cx = x;
    int line = 0;
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        double w = advance * fs * (double)strlen(t);
        if (cx > x && cx + w > x + width) {
            cx = x;
            line++;
        }
        synth_word(p, cx, y + 1.3 * fs * line, fs, false, t);
        p->words[p->n_words - 1].bbox.x1 = cx + w; /* synth_word sets 0.5 em a character */
        cx += w + space * fs;
    }
    return line + 1;
}

static const char *column_text =
    "the survey covered households in four regions over three years with a sample that was "
    "drawn at random from the census lists of the previous year and weighted by the size of "
    "each household and interviews took place in the spring so that every answer was checked "
    "twice before it entered the final tables of the report that the office published later";

static void test_vision__short_prose_lines_beside_table(void **state)
{
    /* A narrow page column of four-word lines: too short to read as prose one by one, but each
     * ends because the next line's first word would not fit, and they run on in lower case. */
    struct page *p = synth_page_new(600, 400);
    assert_true(ragged(p, 40, 60, 130, 10, 0.5, 0.28, column_text) >= 8);
    borderless_table(p, 330, 64);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_BORDERLESS);
    assert_true(l->regions[0].bbox.x0 >= 329 && l->regions[0].bbox.x1 <= 561);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__monospaced_prose_beside_table(void **state)
{
    /* Monospaced type: a word space is a whole 0.6 em advance, as wide as a column gap; the
     * lines of the column must still read as runs of words, not as rows of one-word cells. */
    struct page *p = synth_page_new(600, 400);
    assert_true(ragged(p, 40, 60, 190, 12, 0.6, 0.6, column_text) >= 8);
    borderless_table(p, 330, 64);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_true(l->regions[0].bbox.x0 >= 329 && l->regions[0].bbox.x1 <= 561);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__justified_monospaced_column_beside_table(void **state)
{
    /* Justified monospaced prose (word spaces stretched to 1.1 advances) sharing its lines with
     * the rows of a table in another size: which gaps are word spaces is told by the type of
     * the whole page, not by the mix of sizes on one line. */
    static const char *rows[8][3] = {{"Region", "Sales", "Growth"}, {"North East", "1,204", "3.1%"},
                                     {"South", "987", "-0.4%"},     {"West Coast", "2,310", "12.0%"},
                                     {"Central", "45", "1.0%"},     {"Lakes", "310", "2.2%"},
                                     {"Hills", "7", "0.1%"},        {"Coast", "1,876", "9.9%"}};
    static const char *left[8] = {"the survey covered all", "households in four big",
                                  "regions over three years", "691,660. Estimated index",
                                  "drawn at random from the", "census lists of the year",
                                  "4,012. Weighted at once", "of each household there"};
    struct page *p = synth_page_new(600, 400);
    for (int r = 0; r < 8; r++) {
        double y = 60 + 15 * r;
        assert_int_equal(ragged(p, 40, y, 400, 12, 0.6, 0.66, left[r]), 1);
        synth_text(p, 330, y + 2, 10, false, rows[r][0]);
        text_right(p, 480, y + 2, 10, rows[r][1]);
        text_right(p, 560, y + 2, 10, rows[r][2]);
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_true(l->regions[0].bbox.x0 >= 329 && l->regions[0].bbox.x1 <= 561);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__paragraph_ends_beside_table(void **state)
{
    /* Short paragraphs of two full lines and a short last one: the last lines are too short to
     * be prose alone and a quarter of the column's lines are not broken, but the column is
     * mostly long lines, so its short ones are paragraph ends, not cells beside the table. */
    static const char *paragraph =
        "the survey covered households in four regions over three years with a sample that "
        "was drawn from the lists";
    static const char *names[] = {"Region", "North", "South", "West", "East",
                                  "Lakes", "Hills", "Coast", "Central"};
    struct page *p = synth_page_new(600, 400);
    for (int k = 0; k < 3; k++)
        assert_int_equal(ragged(p, 40, 40 + 43 * k, 210, 10, 0.5, 0.28, paragraph), 3);
    for (int r = 0; r < 9; r++) { /* a table row on every line of the column */
        double y = 40 + 43 * (r / 3) + 13 * (r % 3);
        synth_text(p, 330, y, 10, false, names[r]);
        text_right(p, 480, y, 10, r ? "1,204" : "Sales");
        text_right(p, 560, y, 10, r ? "3.1%" : "Growth");
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_true(l->regions[0].bbox.x0 >= 329 && l->regions[0].bbox.x1 <= 561);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__wordy_row_labels_stay_cells(void **state)
{
    /* Row labels of three or four words, about as wide as each other: they fill their column
     * like lines of prose, but each starts a new label in capitals, so the table keeps them. */
    static const char *labels[] = {"Operating income total", "Depreciation of assets",
                                   "Interest on the loans", "Provisions for losses",
                                   "Marketing and selling", "Insurance of buildings"};
    struct page *p = synth_page_new(600, 400);
    for (int r = 0; r < 6; r++) {
        synth_text(p, 60, 100 + 14 * r, 10, false, labels[r]);
        text_right(p, 300, 100 + 14 * r, 10, r % 2 ? "1,204" : "87");
        text_right(p, 380, 100 + 14 * r, 10, r % 3 ? "open" : "closed");
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_true(fabs(l->regions[0].bbox.x0 - 60) <= 1 && fabs(l->regions[0].bbox.x1 - 380) <= 1);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__monospaced_note_between_booktabs(void **state)
{
    /* Two booktabs tables with a note and a caption set in monospaced type between them: the
     * note's words, one 0.6 em advance apart, fall into separate columns of the band between
     * the rules, yet they run on as a sentence, so the band is prose and the tables stay two.
     * (The note is set a size apart from the tables, whose synthetic words are 0.5 em a
     * character and so monospaced too.) */
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 50, 400, 95);
    borderless_table(p, 60, 100);
    synth_hline(p, 50, 400, 113);
    synth_hline(p, 50, 400, 170);
    assert_int_equal(ragged(p, 50, 176, 400, 9, 0.6, 0.6,
                            "Source: national statistics office; figures rounded."), 1);
    assert_int_equal(ragged(p, 50, 196, 400, 9, 0.6, 0.6, "Table 2: the housing and"), 1);
    synth_hline(p, 50, 400, 215);
    borderless_table(p, 60, 220);
    synth_hline(p, 50, 400, 233);
    synth_hline(p, 50, 400, 290);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 2);
    assert_int_equal(l->regions[0].kind, REGION_HRULES);
    assert_int_equal(l->regions[1].kind, REGION_HRULES);
    assert_true(fabs(l->regions[0].bbox.y1 - 170) <= 1 && fabs(l->regions[1].bbox.y0 - 215) <= 1);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__booktabs_rows_of_figures_in_few_columns(void **state)
{
    /* A wide cell in the first row covers the gaps between the middle columns, so each other
     * row puts six words into one projected column; they are mostly figures, not a sentence,
     * and the band is still table rows. */
    static const struct {
        double x;
        const char *text;
    } cells[4][5] = {
        {{47, "Logistics"}, {154, "(755,104,200,300,400,500)"}, {370, "659.9 ± 7.4"}},
        {{47, "Tier 1 capital"}, {188, "(95)"}, {219, "6 Sep 2022"}, {294, "ISO 52719"},
         {370, "733.5 ± 4.7"}},
        {{47, "Zurich"}, {190, "125"}, {222, "8 Jun 2016"}, {294, "ISO 88897"}, {370, "895.6 ± 3.7"}},
        {{47, "Other income"}, {188, "(36)"}, {220, "9 Apr 1998"}, {294, "ISO 15713"},
         {370, "373.9 ± 6.8"}},
    };
    static const char *header[] = {"Name", "Net", "Deadline", "SKU", "Value"};
    static const double header_x[] = {47, 160, 223, 311, 370};
    struct page *p = synth_page_new(500, 300);
    synth_hline(p, 44, 445, 60);
    for (int c = 0; c < 5; c++)
        synth_text(p, header_x[c], 66, 12, true, header[c]);
    synth_hline(p, 44, 445, 82);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 5 && cells[r][c].text; c++)
            synth_text(p, cells[r][c].x, 87 + 22 * r, 12, false, cells[r][c].text);
    synth_hline(p, 44, 445, 172);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_HRULES);
    assert_true(fabs(l->regions[0].bbox.y0 - 60) <= 1 && fabs(l->regions[0].bbox.y1 - 172) <= 1);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__booktabs_bold_header_of_many_words(void **state)
{
    /* The header band between the top and the mid rule holds titles set close together, six
     * words in one projected column; they are bold, a header and not a sentence, so the band
     * belongs to the table. */
    struct page *p = synth_page_new(500, 300);
    synth_hline(p, 44, 445, 60);
    synth_text(p, 47, 66, 12, true, "Name");
    synth_text(p, 200, 66, 12, true, "Score ± CI Yield ± SE");
    synth_hline(p, 44, 445, 82);
    static const char *names[] = {"North", "South", "West", "East"};
    for (int r = 0; r < 4; r++) {
        synth_text(p, 47, 87 + 22 * r, 12, false, names[r]);
        synth_text(p, 200, 87 + 22 * r, 12, false, "348.4 ± 4.2");
        synth_text(p, 330, 87 + 22 * r, 12, false, "383.1 ± 2.7");
    }
    synth_hline(p, 44, 445, 172);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_HRULES);
    assert_true(fabs(l->regions[0].bbox.y0 - 60) <= 1 && fabs(l->regions[0].bbox.y1 - 172) <= 1);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__borderless_tables_in_two_sizes(void **state)
{
    /* Two borderless tables one blank line apart, set in different sizes of type: the rows in
     * the other size begin the second table. */
    static const char *names[] = {"Item", "North", "South", "West", "East"};
    struct page *p = synth_page_new(500, 400);
    for (int r = 0; r < 5; r++) {
        double y = 60 + 17 * r;
        synth_text(p, 118, y, 11, r == 0, names[r]);
        text_right(p, 280, y, 11, r ? "683.2" : "Value");
        text_right(p, 400, y, 11, r ? "9,212" : "Count");
    }
    for (int r = 0; r < 4; r++) {
        double y = 60 + 17 * 4 + 11 + 20 + 13 * r;
        synth_text(p, 62, y, 9, r == 0, names[r]);
        text_right(p, 200, y, 9, r ? "30,767" : "Profit");
        text_right(p, 300, y, 9, r ? "$161.95" : "Price");
        text_right(p, 380, y, 9, r ? "8,666" : "Net");
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 2);
    assert_true(fabs(l->regions[0].bbox.y0 - 60) <= 1 && fabs(l->regions[0].bbox.x0 - 118) <= 1);
    assert_true(fabs(l->regions[1].bbox.y0 - 159) <= 1 && fabs(l->regions[1].bbox.x0 - 62) <= 1);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__borderless_table_below_with_bold_header(void **state)
{
    /* Two borderless tables in one size, a blank line apart: the bold header row after plain
     * rows begins the second table. */
    static const char *names[] = {"Item", "North", "South", "West", "East", "Lakes"};
    struct page *p = synth_page_new(500, 400);
    for (int r = 0; r < 6; r++) {
        double y = 60 + 14 * r;
        synth_text(p, 76, y, 10, r == 0, names[r]);
        text_right(p, 250, y, 10, r ? "683.2" : "Value");
        text_right(p, 380, y, 10, r ? "9,212" : "Count");
    }
    for (int r = 0; r < 5; r++) {
        double y = 60 + 14 * 5 + 10 + 23 + 14 * r; /* a 23 pt blank above the header */
        synth_text(p, 76, y, 10, r == 0, names[r]);
        if (r == 0) { /* the header row, all bold */
            synth_text(p, 200 - 30, y, 10, true, "Profit");
            synth_text(p, 300 - 25, y, 10, true, "Price");
            synth_text(p, 380 - 15, y, 10, true, "Net");
            continue;
        }
        text_right(p, 200, y, 10, "30,767");
        text_right(p, 300, y, 10, "$161.95");
        text_right(p, 380, y, 10, "8,666");
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 2);
    assert_true(fabs(l->regions[0].bbox.y0 - 60) <= 1 && fabs(l->regions[0].bbox.y1 - 140) <= 1);
    assert_true(fabs(l->regions[1].bbox.y0 - 163) <= 1);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__column_gap_core_in_clear_run(void **state)
{
    /* Two lines of ten cross the gap between two columns (70..100), one from each side, and
     * leave a clear run of 4 pt, narrower than the 5 pt minimum. The gap still counts (one
     * line may cross it), and its separator goes in the clear run rather than in the middle
     * of the band, where it would cut a word. */
    struct page *p = synth_page_new(500, 400);
    for (int i = 0; i < 10; i++) {
        double y = 50 + 14 * i;
        synth_word(p, 50, y, 10, false, i == 3 ? "aaaaaaaa" : "aaaa");
        synth_word(p, i == 6 ? 94 : 100, y, 10, false, i == 6 ? "bbbbbb" : "bbbb");
    }
    struct text_line *lines = NULL;
    size_t n_lines = 0;
    struct rect area = {0, 0, 500, 400};
    assert_int_equal(vision_text_lines(p, area, &lines, &n_lines), 0);
    assert_int_equal(n_lines, 10);
    struct column_gap *gaps = NULL;
    size_t n = 0;
    assert_int_equal(vision_column_gaps(p, lines, n_lines, area, 5, &gaps, &n), 0);
    assert_int_equal(n, 1);
    assert_true(gaps[0].core > 90 && gaps[0].core < 94);
    free(gaps);
    vision_text_lines_free(lines, n_lines);
    page_free(p);
}

static void test_vision__paragraph_no_region(void **state)
{
    struct page *p = synth_page_new(500, 400);
    synth_text(p, 40, 20, 14, true, "Introduction");
    for (int i = 0; i < 6; i++)
        synth_text(p, 40, 50 + 14 * i, 10, false, prose[i]);
    for (int i = 0; i < 6; i++)
        synth_text(p, 40, 160 + 14 * i, 10, false, prose[5 - i]);
    /* Justified lines: their word spaces are stretched to ~0.9 em, wider than a column gap. */
    for (int i = 0; i < 5; i++) {
        double x = 40;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", prose[i]);
        for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
            x = synth_word(p, x, 260 + 14 * i, 10, false, t) + 9 - (i % 2);
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 0);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__list_no_region(void **state)
{
    struct page *p = synth_page_new(500, 400);
    static const char *items[] = {"Bring a packed lunch", "Wear sturdy shoes", "Carry water",
                                  "Tell someone your route", "Check the weather"};
    for (int i = 0; i < 5; i++) {
        synth_word(p, 50, 50 + 14 * i, 10, false, "\u2022");
        synth_text(p, 65, 50 + 14 * i, 10, false, items[i]);
    }
    for (int i = 0; i < 5; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d.", i + 1);
        synth_word(p, 50, 150 + 14 * i, 10, false, num);
        synth_text(p, 68, 150 + 14 * i, 10, false, items[4 - i]);
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 0);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__table_of_contents_no_region(void **state)
{
    struct page *p = synth_page_new(500, 400);
    synth_text(p, 40, 20, 14, true, "Contents");
    static const char *titles[] = {"Introduction", "Methods and data", "Results",
                                   "Discussion",   "Conclusions",      "References"};
    static const char *pages[] = {"1", "4", "11", "19", "27", "30"};
    for (int i = 0; i < 6; i++) {
        synth_text(p, 40, 50 + 16 * i, 10, false, titles[i]);
        text_right(p, 400, 50 + 16 * i, 10, pages[i]);
    }
    /* The same with dot leaders, as one word and as single dots. */
    for (int i = 0; i < 6; i++) {
        double x = synth_text(p, 40, 200 + 16 * i, 10, false, titles[i]);
        if (i % 2) {
            synth_word(p, x + 8, 200 + 16 * i, 10, false, "..............");
        } else {
            for (x += 8; x < 380; x += 6)
                synth_word(p, x, 200 + 16 * i, 10, false, ".");
        }
        text_right(p, 400, 200 + 16 * i, 10, pages[i]);
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 0);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__scanned_grid(void **state)
{
    /* No text layer: the ruled grid is still a region. */
    struct page *p = synth_page_new(500, 400);
    for (int r = 0; r <= 3; r++)
        synth_hline(p, 50, 350, 50 + 25 * r);
    for (int c = 0; c <= 3; c++)
        synth_vline(p, 50 + 100 * c, 50, 125);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_RULED);
    assert_true(fabs(l->regions[0].bbox.x0 - 50) <= 1 && fabs(l->regions[0].bbox.y1 - 125) <= 1);
    page_layout_free(l);
    page_free(p);
}

/* Draws s into the raster only (no text layer), as a scan shows it: every character a solid
 * block on the baseline, x-height or ascender high (descenders for "gjpqy", a dot for ".,"),
 * with the advances of synth_text (0.5 em per character, 0.28 em word spaces). */
static double ink_text(struct page *p, double x, double y, double fs, const char *s)
{
    double base = y + 0.8 * fs;
    for (; *s; s++) {
        if (*s == ' ') {
            x += 0.28 * fs;
            continue;
        }
        double top = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZbdfhklt0123456789%", *s) ? 0.72 : 0.5;
        double bottom = strchr("gjpqy", *s) ? base + 0.2 * fs : base;
        if (strchr(".,", *s))
            synth_fill(p, x + 0.2 * fs, base - 0.1 * fs, x + 0.3 * fs, base);
        else
            synth_fill(p, x + 0.07 * fs, base - top * fs, x + 0.43 * fs, bottom);
        x += 0.5 * fs;
    }
    return x;
}

static void ink_right(struct page *p, double x, double y, double fs, const char *s)
{
    ink_text(p, x - 0.5 * fs * (double)strlen(s), y, fs, s);
}

/* The borderless 5 x 3 table of borderless_table(), drawn as ink only, 18 pt per row. */
static void ink_table(struct page *p, double x, double y)
{
    static const char *rows[5][3] = {{"Region", "Sales", "Growth"},
                                     {"North East", "1,204", "3.1%"},
                                     {"South", "987", "-0.4%"},
                                     {"West Coast", "2,310", "12.0%"},
                                     {"Central", "45", "1.0%"}};
    for (int r = 0; r < 5; r++) {
        ink_text(p, x, y + 18 * r, 10, rows[r][0]);
        ink_right(p, x + 170, y + 18 * r, 10, rows[r][1]);
        ink_right(p, x + 260, y + 18 * r, 10, rows[r][2]);
    }
}

static void test_vision__scanned_booktabs(void **state)
{
    /* No text layer: a top rule, a rule under the header and a bottom rule around ink. */
    struct page *p = synth_page_new(500, 400);
    ink_text(p, 60, 30, 10, "Sales by region in the last quarter of the year.");
    synth_hline(p, 50, 330, 80);
    synth_hline(p, 50, 330, 98);
    synth_hline(p, 50, 330, 172);
    ink_table(p, 60, 84);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_HRULES);
    struct rect b = l->regions[0].bbox;
    assert_true(fabs(b.x0 - 50) <= 2 && fabs(b.x1 - 330) <= 2);
    assert_true(fabs(b.y0 - 80) <= 2 && fabs(b.y1 - 172) <= 2);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__scanned_borderless(void **state)
{
    /* No text layer and no rules: the columns of ink are a table, the prose above is not. */
    struct page *p = synth_page_new(500, 500);
    for (int i = 0; i < 6; i++)
        ink_text(p, 50, 40 + 14 * i, 10, prose[i]);
    ink_table(p, 60, 200);
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 1);
    assert_int_equal(l->regions[0].kind, REGION_BORDERLESS);
    struct rect b = l->regions[0].bbox; /* ink from x 60.7 to 319.3, rows 200..290 */
    assert_true(fabs(b.x0 - 60) <= 3 && fabs(b.x1 - 320) <= 3);
    assert_true(fabs(b.y0 - 202) <= 4 && fabs(b.y1 - 282) <= 4);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__scanned_prose_no_region(void **state)
{
    /* Two page columns of prose as ink only are not a table. */
    struct page *p = synth_page_new(800, 400);
    for (int i = 0; i < 6; i++) {
        ink_text(p, 30, 40 + 14 * i, 10, prose[i]);
        ink_text(p, 420, 40 + 14 * i, 10, prose[5 - i]);
    }
    struct page_layout *l = analyze(p);
    assert_int_equal(l->n_regions, 0);
    page_layout_free(l);
    page_free(p);
}

static void test_vision__allocation_failures(void **state)
{
    struct page *p = synth_page_new(500, 600);
    ruled_grid(p, 60, 60);
    borderless_table(p, 60, 300);
    for (long n = 1; n < 400; n++) {
        struct page_layout *l = NULL;
        q_alloc_fail_after(n);
        int err = vision_analyze(p, NULL, &l);
        q_alloc_fail_after(0);
        if (err == 0) {
            assert_int_equal(l->n_regions, 2);
            page_layout_free(l);
            break;
        }
        assert_int_equal(err, QUIRE_ENOMEM);
        assert_null(l);
    }
    page_free(p);
}

static void test_vision__scanned_allocation_failures(void **state)
{
    struct page *p = synth_page_new(500, 400);
    synth_hline(p, 50, 330, 80);
    synth_hline(p, 50, 330, 172);
    ink_table(p, 60, 84);
    bool done = false;
    for (long n = 1; n < 400 && !done; n++) {
        struct page_layout *l = NULL;
        q_alloc_fail_after(n);
        int err = vision_analyze(p, NULL, &l);
        q_alloc_fail_after(0);
        if (err == 0) {
            assert_int_equal(l->n_regions, 1);
            page_layout_free(l);
            done = true;
            break;
        }
        assert_int_equal(err, QUIRE_ENOMEM);
        assert_null(l);
    }
    assert_true(done);
    page_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vision__rulings_from_raster),
        cmocka_unit_test(test_vision__ruled_grid_region),
        cmocka_unit_test(test_vision__booktabs_region),
        cmocka_unit_test(test_vision__borderless_region),
        cmocka_unit_test(test_vision__caption_above_borderless),
        cmocka_unit_test(test_vision__label_value_table_with_sections),
        cmocka_unit_test(test_vision__rules_around_a_wrapped_row),
        cmocka_unit_test(test_vision__two_tables),
        cmocka_unit_test(test_vision__two_column_layout),
        cmocka_unit_test(test_vision__rulings_through_shaded_bands),
        cmocka_unit_test(test_vision__bands_without_rules_or_text),
        cmocka_unit_test(test_vision__large_ruled_grid),
        cmocka_unit_test(test_vision__ruled_grid_then_table_below),
        cmocka_unit_test(test_vision__header_beside_prose_column),
        cmocka_unit_test(test_vision__header_above_widely_spaced_rows),
        cmocka_unit_test(test_vision__short_prose_lines_beside_table),
        cmocka_unit_test(test_vision__monospaced_prose_beside_table),
        cmocka_unit_test(test_vision__justified_monospaced_column_beside_table),
        cmocka_unit_test(test_vision__paragraph_ends_beside_table),
        cmocka_unit_test(test_vision__wordy_row_labels_stay_cells),
        cmocka_unit_test(test_vision__monospaced_note_between_booktabs),
        cmocka_unit_test(test_vision__booktabs_rows_of_figures_in_few_columns),
        cmocka_unit_test(test_vision__booktabs_bold_header_of_many_words),
        cmocka_unit_test(test_vision__borderless_tables_in_two_sizes),
        cmocka_unit_test(test_vision__borderless_table_below_with_bold_header),
        cmocka_unit_test(test_vision__column_gap_core_in_clear_run),
        cmocka_unit_test(test_vision__paragraph_no_region),
        cmocka_unit_test(test_vision__list_no_region),
        cmocka_unit_test(test_vision__table_of_contents_no_region),
        cmocka_unit_test(test_vision__scanned_grid),
        cmocka_unit_test(test_vision__scanned_booktabs),
        cmocka_unit_test(test_vision__scanned_borderless),
        cmocka_unit_test(test_vision__scanned_prose_no_region),
        cmocka_unit_test(test_vision__allocation_failures),
        cmocka_unit_test(test_vision__scanned_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
