/* test_ocr.c - scanned tables read by the line reader: a ruled grid and a borderless table drawn
 * with cairo into a page raster without a text layer (level, and turned by 1.2 degrees as a
 * scanner leaves it), read with the shipped reader (models/quire-reader; tests run in the
 * source tree); the mechanics (tiles of another size, words wider than a band, allocation
 * failures) with the tiny random reader of tests/fixtures/tiny-reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ocr/ocr.h"
#include "support/synthpage.h"

#define SHIPPED "models/quire-reader"
#define TINY "tests/fixtures/tiny-reader"

static const char *cells[4][3] = {{"Region", "Sales", "Growth"},
                                  {"North", "1,204", "3.1%"},
                                  {"South", "987", "-0.4%"},
                                  {"West", "2,310", "12.0%"}};

/* Draws the first rows x cols of the table with its top-left at (x, y) points (fs-point DejaVu
 * Sans, the first row bold; rules when `ruled`), turned by `degrees` about the page centre,
 * into the page's raster. */
static void draw_cells(struct page *p, int rows, int cols, double x, double y, double fs,
                       bool ruled, double degrees)
{
    int W = p->raster.width, H = p->raster.height;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *c = cairo_create(s);
    cairo_set_source_rgb(c, 1, 1, 1);
    cairo_paint(c);
    cairo_scale(c, SYNTH_DPI / 72, SYNTH_DPI / 72);
    cairo_translate(c, p->width / 2, p->height / 2);
    cairo_rotate(c, degrees * M_PI / 180);
    cairo_translate(c, -p->width / 2, -p->height / 2);
    cairo_set_source_rgb(c, 0, 0, 0);
    double cw = 8 * fs, rh = 2 * fs;
    if (ruled) {
        cairo_set_line_width(c, 0.8);
        for (int r = 0; r <= rows; r++) {
            cairo_move_to(c, x, y + r * rh);
            cairo_line_to(c, x + cols * cw, y + r * rh);
        }
        for (int k = 0; k <= cols; k++) {
            cairo_move_to(c, x + k * cw, y);
            cairo_line_to(c, x + k * cw, y + rows * rh);
        }
        cairo_stroke(c);
    }
    cairo_set_font_size(c, fs);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) {
            cairo_select_font_face(c, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                                   r ? CAIRO_FONT_WEIGHT_NORMAL : CAIRO_FONT_WEIGHT_BOLD);
            cairo_move_to(c, x + k * cw + 0.5 * fs, y + r * rh + 1.4 * fs);
            cairo_show_text(c, cells[r][k]);
        }
    cairo_destroy(c);
    cairo_surface_flush(s);
    const unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int py = 0; py < H; py++)
        for (int px = 0; px < W; px++) {
            const unsigned char *q = data + (size_t)py * stride + 4 * (size_t)px;
            p->raster.gray[(size_t)py * W + px] = (unsigned char)((q[0] + q[1] + q[2]) / 3);
        }
    cairo_surface_destroy(s);
}

/* The whole 4 x 3 table. */
static void draw_table(struct page *p, double x, double y, double fs, bool ruled, double degrees)
{
    draw_cells(p, 4, 3, x, y, fs, ruled, degrees);
}

struct read {
    struct page *page;
    struct page_layout *layout;
    struct ink_view *view;
};

static void analyze(struct read *r, struct page *p)
{
    r->page = p;
    assert_int_equal(vision_analyze(p, NULL, &r->layout), 0);
    assert_int_equal(vision_ink_view(p, r->layout, &r->view), 0);
}

static void release(struct read *r)
{
    vision_ink_view_free(r->view);
    page_layout_free(r->layout);
    page_free(r->page);
}

/* The cells of t equal to the drawn ones, at the same positions. */
static int exact_cells(const struct table *t)
{
    int exact = 0;
    for (size_t i = 0; i < t->n_cells; i++) {
        const struct table_cell *c = &t->cells[i];
        if (c->row < 4 && c->col < 3 && !strcmp(c->text, cells[c->row][c->col]))
            exact++;
        else if (c->text[0])
            print_message("cell (%d, %d): '%s'\n", c->row, c->col, c->text);
    }
    return exact;
}

static struct ocr *load(const char *dir)
{
    int err = 0;
    char *msg = NULL;
    struct ocr *o = ocr_load(dir, &err, &msg);
    if (!o)
        fail_msg("%s: %s", dir, msg ? msg : err_str(err));
    return o;
}

/* One region, read as a 4 x 3 table whose cell boxes lie in the region (page frame); returns
 * how many cells read exactly. */
static int read_table(const struct ocr *o, struct read *r)
{
    assert_int_equal(r->layout->n_regions, 1);
    struct table *t = NULL;
    double conf = 0;
    char *msg = NULL;
    int err = ocr_read_table(o, r->page, r->view, 0, &t, &conf, &msg);
    if (err)
        fail_msg("ocr_read_table: %s", msg ? msg : err_str(err));
    assert_int_equal(t->n_rows, 4);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->header_rows, 1); /* the bold row: bold is told by the strokes */
    assert_true(conf > 0 && conf <= 1);
    struct rect box = r->layout->regions[0].bbox;
    for (size_t i = 0; i < t->n_cells; i++)
        if (t->cells[i].has_bbox) {
            struct rect b = t->cells[i].bbox;
            /* a box turned back from the upright frame is the box around the turned one, and
             * so is the region's: each may grow by (width + height) sin(skew) */
            double slack = 3 + 2 * (rect_width(b) + rect_height(b)) * fabs(sin(r->view->skew));
            if (!(b.x0 >= box.x0 - slack && b.x1 <= box.x1 + slack && b.y0 >= box.y0 - slack &&
                  b.y1 <= box.y1 + slack))
                fail_msg("cell box (%.1f,%.1f)-(%.1f,%.1f) outside the region (%.1f,%.1f)-"
                         "(%.1f,%.1f)", b.x0, b.y0, b.x1, b.y1, box.x0, box.y0, box.x1, box.y1);
        }
    int exact = exact_cells(t);
    print_message("%d of 12 cells read exactly, confidence %.2f\n", exact, conf);
    table_free(t);
    return exact;
}

/* The shipped reader on a level ruled grid: the shape exact, 10 of 12 cells or more. */
static void test_ocr__ruled_grid(void **state)
{
    struct ocr *o = load(SHIPPED);
    assert_string_equal(ocr_id(o), "quire-reader");
    struct read r;
    struct page *p = synth_page_new(612, 792);
    draw_table(p, 100, 150, 10, true, 0);
    analyze(&r, p);
    assert_true(read_table(o, &r) >= 10);
    release(&r);
    ocr_free(o);
}

/* A ruled grid turned by 1.2 degrees: its horizontal rules climb 5 pt across it, too steep for
 * the raster's ruling detector; the rules recovered from the ink make it a ruled table still,
 * and the text-layer engine gets them in the view's layout. */
static void test_ocr__ruled_grid_skewed(void **state)
{
    struct ocr *o = load(SHIPPED);
    struct read r;
    struct page *p = synth_page_new(612, 792);
    draw_table(p, 100, 150, 10, true, 1.2);
    analyze(&r, p);
    assert_int_equal(r.layout->n_regions, 1);
    assert_int_equal(r.layout->regions[0].kind, REGION_RULED);
    assert_true(read_table(o, &r) >= 10);
    release(&r);
    ocr_free(o);
}

/* The same without rules (a borderless table found from the ink), level or turned by `degrees`
 * (the words are then sampled along the turned lines): the number of cells read exactly. */
static int borderless(double degrees)
{
    struct ocr *o = load(SHIPPED);
    struct read r;
    struct page *p = synth_page_new(612, 792);
    draw_table(p, 100, 150, 10, false, degrees);
    analyze(&r, p);
    if (degrees != 0)
        assert_true(fabs(r.view->skew - degrees * M_PI / 180) < 0.004);
    int exact = read_table(o, &r);
    release(&r);
    ocr_free(o);
    return exact;
}

static void test_ocr__borderless(void **state)
{
    assert_true(borderless(0) >= 10);
}

static void test_ocr__borderless_skewed(void **state)
{
    assert_true(borderless(1.2) >= 10);
}

/* The words read carry text-layer geometry: one line per row, the font size near the drawn 10
 * pt, boxes in the order of the drawn cells. */
static void test_ocr__word_geometry(void **state)
{
    struct ocr *o = load(SHIPPED);
    struct read r;
    struct page *p = synth_page_new(612, 792);
    draw_table(p, 100, 150, 10, true, 0);
    analyze(&r, p);
    struct page *words = NULL;
    double conf = 0;
    assert_int_equal(ocr_read_words(o, r.page, r.view, 0, &words, &conf), 0);
    assert_int_equal(words->n_words, 12);
    for (size_t i = 0; i < words->n_words; i++) {
        const struct word *w = &words->words[i];
        assert_true(w->font_size > 8 && w->font_size < 12.5);
        int row = (int)((w->bbox.y0 + w->bbox.y1) / 2 - 150) / 20;
        int col = (int)(w->bbox.x0 - 100) / 80;
        assert_true(row >= 0 && row < 4 && col >= 0 && col < 3);
        /* the word starts half an em into its cell (the ink a little later) */
        assert_true(fabs(w->bbox.x0 - (100 + col * 80 + 5)) < 3);
    }
    ocr_words_free(words);
    release(&r);
    ocr_free(o);
}

/* The tiny reader (64-px tiles of two bands, random weights: its texts are noise) reads a
 * word wider than a band (cut into pieces), and every step of reading a table (a ruled 3 x 2
 * grid, kept small for valgrind) fails cleanly when an allocation fails. */
static void test_ocr__tiny_reader_and_allocation_failures(void **state)
{
    struct ocr *o = load(TINY);
    struct read r;
    struct page *p = synth_page_new(612, 792);
    draw_cells(p, 3, 2, 100, 150, 10, true, 0);
    analyze(&r, p);
    char *text = NULL;
    double conf = 0;
    /* a box several bands of the tiny reader wide (150 pt: 270 px at its x-height for 10 pt) */
    struct rect wide = {100, 150, 250, 170};
    assert_int_equal(ocr_read_box(o, r.page, r.view, wide, 10, &text, &conf), 0);
    assert_non_null(text);
    free(text);
    int failures = 0;
    /* every one of the first 64 allocations (loading the state, the first word's samples and
     * tile: the sites each later word and x-height repeats), then every 1.25th one up to the
     * end (the words' geometry, the text-layer engine), so valgrind finishes in minutes */
    for (long n = 1; n < 100000; n = n < 64 ? n + 1 : n + n / 4) {
        struct table *t = NULL;
        char *msg = NULL;
        q_alloc_fail_after(n);
        int err = ocr_read_table(o, r.page, r.view, 0, &t, &conf, &msg);
        q_alloc_fail_after(0);
        free(msg);
        if (err == 0) {
            table_free(t);
            break;
        }
        assert_true(err == QUIRE_ENOMEM || err == QUIRE_EINVAL);
        assert_null(t);
        failures++;
    }
    assert_true(failures > 10);
    release(&r);
    ocr_free(o);
}

static void test_ocr__load_errors(void **state)
{
    int err = 0;
    char *msg = NULL;
    assert_null(ocr_load("/nonexistent/reader", &err, &msg));
    assert_int_equal(err, QUIRE_ENOENT);
    assert_non_null(msg);
    free(msg);
    msg = NULL;
    /* a vision-language model's folder is not a reader */
    assert_null(ocr_load("tests/fixtures/tiny-idefics3", &err, &msg));
    assert_int_equal(err, QUIRE_EMODEL);
    assert_non_null(strstr(msg, "quire_reader"));
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ocr__ruled_grid),
        cmocka_unit_test(test_ocr__ruled_grid_skewed),
        cmocka_unit_test(test_ocr__borderless),
        cmocka_unit_test(test_ocr__borderless_skewed),
        cmocka_unit_test(test_ocr__word_geometry),
        cmocka_unit_test(test_ocr__tiny_reader_and_allocation_failures),
        cmocka_unit_test(test_ocr__load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
