/*
 * tests/test_pdfgen.c - the PDF generator the other tests rely on: what it draws must be what
 * poppler reads back (text, page count, page sizes, cell positions), and its broken files must
 * be broken in the way they claim.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <poppler.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/pdfgen.h"

/* poppler_page_find_text reports rectangles with the origin at the bottom-left. */
#define LETTER_TOP(y) (PDFGEN_LETTER_HEIGHT - (y))

static char *tmp_dir;

static int setup(void **state)
{
    GError *error = NULL;
    tmp_dir = g_dir_make_tmp("test_pdfgen-XXXXXX", &error);
    return tmp_dir ? 0 : -1;
}

static int teardown(void **state)
{
    GDir *dir = g_dir_open(tmp_dir, 0, NULL);
    const char *name;
    while (dir && (name = g_dir_read_name(dir))) {
        char *p = g_build_filename(tmp_dir, name, NULL);
        g_unlink(p);
        g_free(p);
    }
    if (dir)
        g_dir_close(dir);
    g_rmdir(tmp_dir);
    g_free(tmp_dir);
    pdfgen_shutdown();
    return 0;
}

static char *tmp_path(const char *name)
{
    return g_build_filename(tmp_dir, name, NULL);
}

/* Opens with poppler; NULL (and *code set to the GError code) when it refuses. */
static PopplerDocument *open_pdf(const char *path, const char *password, int *code)
{
    GError *error = NULL;
    char *uri = g_filename_to_uri(path, NULL, NULL);
    PopplerDocument *doc = poppler_document_new_from_file(uri, password, &error);
    g_free(uri);
    if (code)
        *code = error ? error->code : 0;
    if (error)
        g_error_free(error);
    return doc;
}

static char *page_text(PopplerDocument *doc, int index)
{
    PopplerPage *page = poppler_document_get_page(doc, index);
    assert_non_null(page);
    char *text = poppler_page_get_text(page);
    g_object_unref(page);
    return text;
}

static void assert_page_size(PopplerDocument *doc, int index, double w, double h)
{
    PopplerPage *page = poppler_document_get_page(doc, index);
    double pw, ph;
    poppler_page_get_size(page, &pw, &ph);
    g_object_unref(page);
    assert_true(fabs(pw - w) < 0.5 && fabs(ph - h) < 0.5);
}

static void test_pdfgen__pages_sizes_and_text(void **state)
{
    char *path = tmp_path("pages.pdf");
    int err;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    assert_non_null(doc);
    struct pdfgen_font sans = {"DejaVu Sans", 11, false, false};
    struct pdfgen_font serif_bold = {"DejaVu Serif", 9, true, false};
    pdfgen_text(doc, 72, 100, &sans, PDFGEN_ALIGN_LEFT, "Quarterly revenue");
    assert_int_equal(pdfgen_page_new(doc, PDFGEN_A4_HEIGHT, PDFGEN_A4_WIDTH), 0);
    pdfgen_text(doc, 300, 200, &serif_bold, PDFGEN_ALIGN_CENTER, "Größe ± 3 % — Søren");
    assert_int_equal(pdfgen_page_new(doc, PDFGEN_LETTER_WIDTH, PDFGEN_LETTER_HEIGHT), 0);
    assert_int_equal(pdfgen_page_number(doc), 3);
    pdfgen_text(doc, 500, 700, &sans, PDFGEN_ALIGN_RIGHT, "(1,234.50)");
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);

    PopplerDocument *pd = open_pdf(path, NULL, NULL);
    assert_non_null(pd);
    assert_int_equal(poppler_document_get_n_pages(pd), 3);
    assert_page_size(pd, 0, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT);
    assert_page_size(pd, 1, PDFGEN_A4_HEIGHT, PDFGEN_A4_WIDTH);
    assert_page_size(pd, 2, PDFGEN_LETTER_WIDTH, PDFGEN_LETTER_HEIGHT);
    const char *want[] = {"Quarterly revenue", "Größe ± 3 % — Søren", "(1,234.50)"};
    for (int i = 0; i < 3; i++) {
        char *text = page_text(pd, i);
        assert_non_null(strstr(text, want[i]));
        g_free(text);
    }
    g_object_unref(pd);
    g_free(path);
}

/* A merged header, a multi-line cell and a shaded grid: every cell's text is found by poppler
 * inside the box pdfgen_table reported for it. */
static void test_pdfgen__table_cell_boxes(void **state)
{
    char *path = tmp_path("table.pdf");
    int err;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_LETTER_WIDTH, PDFGEN_LETTER_HEIGHT, &err);
    assert_non_null(doc);
    /* clang-format off */
    static const char *const cells[] = {
        "Region",  "Sales", NULL,     /* "Sales" spans two columns */
        NULL,      "2023",  "2024",   /* "Region" spans two rows */
        "Zürich",  "1,200", "(350)",
        "Oslo",    "87.5%", "€ 4.20",
        "Long name\nsecond", "—", "n/a"};
    /* clang-format on */
    static const struct pdfgen_span spans[] = {{0, 1, 1, 2}, {0, 0, 2, 1}};
    struct pdfgen_table t = {.rows = 5, .cols = 3, .cells = cells, .spans = spans, .n_spans = 2};
    struct pdfgen_table_style s;
    pdfgen_table_style_init(&s);
    s.header_rows = 2;
    s.header_gray = 0.85;
    s.zebra_gray = 0.93;
    struct rect boxes[15], bbox;
    assert_int_equal(pdfgen_table(doc, 100, 150, &t, &s, true, boxes, &bbox), 0);
    assert_true(bbox.x0 == 100 && bbox.y0 == 150 && bbox.x1 > 150 && bbox.y1 > 200);
    /* Covered positions report their anchor's box. */
    assert_memory_equal(&boxes[2], &boxes[1], sizeof(struct rect));
    assert_memory_equal(&boxes[3], &boxes[0], sizeof(struct rect));
    /* The multi-line cell's row is taller than a single-line row. */
    assert_true(rect_height(boxes[12]) > 1.5 * rect_height(boxes[9]));
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);

    PopplerDocument *pd = open_pdf(path, NULL, NULL);
    assert_non_null(pd);
    PopplerPage *page = poppler_document_get_page(pd, 0);
    for (int i = 0; i < 15; i++) {
        if (!cells[i])
            continue;
        char *first_line = g_strndup(cells[i], strcspn(cells[i], "\n"));
        GList *hits = poppler_page_find_text(page, first_line);
        assert_non_null(hits);
        PopplerRectangle *r = hits->data; /* bottom-left origin */
        double top = LETTER_TOP(r->y2), bottom = LETTER_TOP(r->y1);
        double cx = (r->x1 + r->x2) / 2, cy = (top + bottom) / 2;
        assert_true(rect_contains_point(boxes[i], cx, cy));
        g_list_free_full(hits, (GDestroyNotify)poppler_rectangle_free);
        g_free(first_line);
    }
    char *text = poppler_page_get_text(page);
    assert_non_null(strstr(text, "second"));
    g_free(text);
    g_object_unref(page);
    g_object_unref(pd);
    g_free(path);
}

static void test_pdfgen__every_rule_style(void **state)
{
    static const char *const cells[] = {"A", "B", "x", "1", "y", "2"};
    const enum pdfgen_rules rules[] = {PDFGEN_RULES_GRID, PDFGEN_RULES_BOOKTABS, PDFGEN_RULES_HROWS,
                                       PDFGEN_RULES_NONE};
    char *path = tmp_path("rules.pdf");
    int err;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    assert_non_null(doc);
    for (int k = 0; k < 4; k++) {
        struct pdfgen_table t = {.rows = 3, .cols = 2, .cells = cells};
        struct pdfgen_table_style s;
        pdfgen_table_style_init(&s);
        s.rules = rules[k];
        s.wrap_width = 50;
        s.font.family = "DejaVu Sans Mono";
        struct rect bbox;
        assert_int_equal(pdfgen_table(doc, 72, 72 + 100 * k, &t, &s, true, NULL, &bbox), 0);
        assert_true(bbox.y1 < 72 + 100 * (k + 1));
    }
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);
    PopplerDocument *pd = open_pdf(path, NULL, NULL);
    assert_non_null(pd);
    char *text = page_text(pd, 0);
    assert_non_null(strstr(text, "x"));
    g_free(text);
    g_object_unref(pd);
    g_free(path);
}

static void test_pdfgen__bad_spans_are_rejected(void **state)
{
    char *path = tmp_path("bad.pdf");
    int err;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    static const char *const cells[] = {"a", "b", "c", "d"};
    struct pdfgen_table_style s;
    pdfgen_table_style_init(&s);
    const struct pdfgen_span outside[] = {{1, 1, 2, 1}};
    const struct pdfgen_span overlap[] = {{0, 0, 1, 2}, {0, 1, 2, 1}};
    const struct pdfgen_span zero[] = {{0, 0, 0, 1}};
    struct pdfgen_table t = {.rows = 2, .cols = 2, .cells = cells, .spans = outside, .n_spans = 1};
    assert_int_equal(pdfgen_table(doc, 0, 0, &t, &s, true, NULL, NULL), QUIRE_EINVAL);
    t.spans = overlap;
    t.n_spans = 2;
    assert_int_equal(pdfgen_table(doc, 0, 0, &t, &s, true, NULL, NULL), QUIRE_EINVAL);
    t.spans = zero;
    t.n_spans = 1;
    assert_int_equal(pdfgen_table(doc, 0, 0, &t, &s, true, NULL, NULL), QUIRE_EINVAL);
    t.rows = 0;
    assert_int_equal(pdfgen_table(doc, 0, 0, &t, &s, true, NULL, NULL), QUIRE_EINVAL);
    pdfgen_doc_free(doc);
    assert_null(pdfgen_doc_new(path, 0, 100, &err));
    assert_int_equal(err, QUIRE_EINVAL);
    g_free(path);
}

/* Every allocation in pdfgen_table may fail: the call reports ENOMEM and leaks nothing. */
static void test_pdfgen__table_allocation_failures(void **state)
{
    char *path = tmp_path("oom.pdf");
    int err;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    static const char *const cells[] = {"head one", "head two", "a b c d e f", "1", NULL, "2"};
    static const struct pdfgen_span spans[] = {{1, 0, 2, 1}};
    struct pdfgen_table t = {.rows = 3, .cols = 2, .cells = cells, .spans = spans, .n_spans = 1};
    struct pdfgen_table_style s;
    pdfgen_table_style_init(&s);
    s.wrap_width = 20;
    int result = QUIRE_ENOMEM;
    long n;
    for (n = 1; n < 1000 && result == QUIRE_ENOMEM; n++) {
        q_alloc_fail_after(n);
        result = pdfgen_table(doc, 10, 10, &t, &s, false, NULL, NULL);
        q_alloc_fail_after(0);
    }
    assert_int_equal(result, 0);
    assert_true(n > 5);
    pdfgen_doc_free(doc);
    g_free(path);
}

static void test_pdfgen__paragraph_wraps(void **state)
{
    char *path = tmp_path("para.pdf");
    int err;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    struct pdfgen_font f = {"DejaVu Serif", 10, false, false};
    const char *text = "The committee reviewed the figures for the year and found that the "
                       "numbers agreed with the audited accounts in every material respect.";
    double one = pdfgen_paragraph(doc, 72, 72, 1000, &f, text, false);
    double h = pdfgen_paragraph(doc, 72, 72, 150, &f, text, true);
    assert_true(one > 0 && h >= 3 * one);
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);
    PopplerDocument *pd = open_pdf(path, NULL, NULL);
    char *got = page_text(pd, 0);
    assert_non_null(strstr(got, "committee"));
    assert_non_null(strstr(got, "respect."));
    g_free(got);
    g_object_unref(pd);
    g_free(path);
}

static void test_pdfgen__blank_pages(void **state)
{
    char *path = tmp_path("blank.pdf");
    assert_int_equal(pdfgen_write_blank(path, 4, PDFGEN_LETTER_HEIGHT, PDFGEN_LETTER_WIDTH), 0);
    PopplerDocument *pd = open_pdf(path, NULL, NULL);
    assert_non_null(pd);
    assert_int_equal(poppler_document_get_n_pages(pd), 4);
    assert_page_size(pd, 3, PDFGEN_LETTER_HEIGHT, PDFGEN_LETTER_WIDTH);
    char *text = page_text(pd, 2);
    assert_true(text == NULL || strspn(text, " \n") == strlen(text));
    g_free(text);
    g_object_unref(pd);
    assert_int_equal(pdfgen_write_blank(path, 0, 100, 100), QUIRE_EINVAL);
    g_free(path);
}

static void test_pdfgen__broken_files(void **state)
{
    char *trunc = tmp_path("trunc.pdf"), *text = tmp_path("text.pdf");
    assert_int_equal(pdfgen_write_truncated(trunc, 0), 0);
    assert_int_equal(pdfgen_write_not_pdf(text), 0);
    char *data;
    gsize len;
    assert_true(g_file_get_contents(trunc, &data, &len, NULL));
    assert_true(len > 100 && memcmp(data, "%PDF-", 5) == 0);
    assert_null(g_strstr_len(data, (gssize)len, "%%EOF"));
    g_free(data);
    int code;
    PopplerDocument *pd = open_pdf(text, NULL, &code);
    assert_null(pd);
    assert_int_equal(code, POPPLER_ERROR_DAMAGED);
    g_free(trunc);
    g_free(text);
}

static void test_pdfgen__encrypted(void **state)
{
    char *path = tmp_path("secret.pdf");
    assert_int_equal(pdfgen_write_encrypted(path, "s3cret", "owner", "Confidential figures"), 0);
    int code;
    PopplerDocument *pd = open_pdf(path, NULL, &code);
    assert_null(pd);
    assert_int_equal(code, POPPLER_ERROR_ENCRYPTED);
    assert_null(open_pdf(path, "wrong", &code));
    assert_int_equal(code, POPPLER_ERROR_ENCRYPTED);
    pd = open_pdf(path, "s3cret", NULL);
    assert_non_null(pd);
    char *text = page_text(pd, 0);
    assert_non_null(strstr(text, "Confidential figures"));
    g_free(text);
    g_object_unref(pd);
    /* the owner password opens it too */
    pd = open_pdf(path, "owner", NULL);
    assert_non_null(pd);
    g_object_unref(pd);
    g_free(path);
}

static void test_pdfgen__font_installed(void **state)
{
    assert_true(pdfgen_font_installed("DejaVu Sans"));
    assert_true(pdfgen_font_installed("DejaVu Serif"));
    assert_false(pdfgen_font_installed("No Such Family Quire"));
}

/* Same calls, same bytes: the creation date is pinned. */
static void test_pdfgen__deterministic(void **state)
{
    char *paths[2] = {tmp_path("same1.pdf"), tmp_path("same2.pdf")};
    char *data[2];
    gsize len[2];
    for (int k = 0; k < 2; k++) {
        int err;
        struct pdfgen_doc *doc = pdfgen_doc_new(paths[k], PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
        struct pdfgen_font f = {"DejaVu Serif", 10, false, true};
        pdfgen_text(doc, 50, 50, &f, PDFGEN_ALIGN_LEFT, "Déjà vu");
        assert_int_equal(pdfgen_doc_close(doc), 0);
        pdfgen_doc_free(doc);
        assert_true(g_file_get_contents(paths[k], &data[k], &len[k], NULL));
    }
    assert_int_equal(len[0], len[1]);
    assert_memory_equal(data[0], data[1], len[0]);
    for (int k = 0; k < 2; k++) {
        g_free(data[k]);
        g_free(paths[k]);
    }
}

/* Checks one truth.jsonl line: the page exists and poppler finds every word of every cell. */
static void check_truth_line(const char *dir, const char *line)
{
    JsonParser *parser = json_parser_new();
    assert_true(json_parser_load_from_data(parser, line, -1, NULL));
    JsonObject *o = json_node_get_object(json_parser_get_root(parser));
    assert_string_equal(json_object_get_string_member(o, "source"), "generated");
    assert_non_null(json_object_get_string_member(o, "style"));
    char *pdf = g_build_filename(dir, json_object_get_string_member(o, "pdf"), NULL);
    int page = (int)json_object_get_int_member(o, "page");
    PopplerDocument *pd = open_pdf(pdf, NULL, NULL);
    assert_non_null(pd);
    assert_true(page >= 1 && page <= poppler_document_get_n_pages(pd));
    char *text = page_text(pd, page - 1);
    JsonArray *tables = json_object_get_array_member(o, "tables");
    for (guint t = 0; t < json_array_get_length(tables); t++) {
        JsonArray *rows = json_array_get_array_element(tables, t);
        guint width = json_array_get_length(json_array_get_array_element(rows, 0));
        for (guint r = 0; r < json_array_get_length(rows); r++) {
            JsonArray *row = json_array_get_array_element(rows, r);
            assert_int_equal(json_array_get_length(row), width); /* rectangular */
            for (guint c = 0; c < width; c++) {
                char **words = g_strsplit(json_array_get_string_element(row, c), " ", -1);
                for (char **w = words; *w; w++)
                    if (**w && !strstr(text, *w))
                        fail_msg("%s page %d: \"%s\" not on the page", pdf, page, *w);
                g_strfreev(words);
            }
        }
    }
    g_free(text);
    g_object_unref(pd);
    g_free(pdf);
    g_object_unref(parser);
}

/* The generator's truth matches its PDFs, and a seed gives the same truth twice. Needs
 * QUIRE_TOOLS (set by `make test`); skipped without it. */
static void test_pdfgen__gentables_truth_matches_pdf(void **state)
{
    const char *tools = getenv("QUIRE_TOOLS");
    if (!tools)
        skip();
    char *gentables = g_build_filename(tools, "gentables", NULL);
    char *truth[2];
    for (int k = 0; k < 2; k++) {
        char *out = g_strdup_printf("%s/gen%d", tmp_dir, k);
        char *argv[] = {gentables, "--out", out, "--count", "12", "--seed", "5", NULL};
        int status;
        assert_true(
            g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, NULL));
        assert_true(g_spawn_check_wait_status(status, NULL));
        char *path = g_build_filename(out, "truth.jsonl", NULL);
        assert_true(g_file_get_contents(path, &truth[k], NULL, NULL));
        g_free(path);
        if (k == 0) {
            char **lines = g_strsplit(truth[0], "\n", -1);
            int n = 0;
            for (char **l = lines; *l; l++)
                if (**l) {
                    check_truth_line(out, *l);
                    n++;
                }
            assert_true(n >= 12);
            g_strfreev(lines);
        }
        /* remove the generated files */
        GDir *d = g_dir_open(out, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
            char *p = g_build_filename(out, name, NULL);
            g_unlink(p);
            g_free(p);
        }
        if (d)
            g_dir_close(d);
        g_rmdir(out);
        g_free(out);
    }
    assert_string_equal(truth[0], truth[1]);
    g_free(truth[0]);
    g_free(truth[1]);
    g_free(gentables);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pdfgen__pages_sizes_and_text),
        cmocka_unit_test(test_pdfgen__table_cell_boxes),
        cmocka_unit_test(test_pdfgen__every_rule_style),
        cmocka_unit_test(test_pdfgen__bad_spans_are_rejected),
        cmocka_unit_test(test_pdfgen__table_allocation_failures),
        cmocka_unit_test(test_pdfgen__paragraph_wraps),
        cmocka_unit_test(test_pdfgen__blank_pages),
        cmocka_unit_test(test_pdfgen__broken_files),
        cmocka_unit_test(test_pdfgen__encrypted),
        cmocka_unit_test(test_pdfgen__font_installed),
        cmocka_unit_test(test_pdfgen__deterministic),
        cmocka_unit_test(test_pdfgen__gentables_truth_matches_pdf),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
