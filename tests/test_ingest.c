/* test_ingest.c - files, documents and pages: hashing, completeness, Poppler errors, words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ingest/ingest.h"
#include "support/pdfgen.h"

static char dir[64];

static int setup(void **state)
{
    strcpy(dir, "/tmp/quire-test-ingest-XXXXXX");
    return g_mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    int rc = system(cmd);
    g_free(cmd);
    return rc;
}

static char *path_in(const char *name) { return g_build_filename(dir, name, NULL); }

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A PDF with one line of regular text and one bold line. */
static char *make_text_pdf(const char *name)
{
    char *path = path_in(name);
    int err = 0;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, 300, 200, &err);
    assert_non_null(doc);
    struct pdfgen_font regular = {"DejaVu Sans", 10, false, false};
    struct pdfgen_font bold = {"DejaVu Sans", 12, true, false};
    pdfgen_text(doc, 20, 40, &regular, PDFGEN_ALIGN_LEFT, "Total revenue 1,234.50");
    pdfgen_text(doc, 20, 80, &bold, PDFGEN_ALIGN_LEFT, "Überschrift");
    pdfgen_line(doc, 20, 120, 280, 120, 1.0, 0.0);
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);
    return path;
}

static void test_ingest__sha256(void **state)
{
    char *path = path_in("abc.txt");
    write_file(path, "abc", 3);
    char hex[65];
    int64_t size = 0;
    assert_int_equal(file_sha256(path, hex, &size), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(size, 3);
    char *missing = path_in("missing.pdf");
    assert_int_equal(file_sha256(missing, hex, &size), QUIRE_ENOENT);
    g_free(missing);
    g_free(path);
}

static void test_ingest__complete_pdf(void **state)
{
    char *good = make_text_pdf("good.pdf");
    assert_true(file_is_complete_pdf(good));
    char *cut = path_in("cut.pdf");
    assert_int_equal(pdfgen_write_truncated(cut, 0), 0);
    assert_false(file_is_complete_pdf(cut));
    char *text = path_in("text.pdf");
    assert_int_equal(pdfgen_write_not_pdf(text), 0);
    assert_false(file_is_complete_pdf(text));
    g_free(good);
    g_free(cut);
    g_free(text);
}

static void test_ingest__words_and_raster(void **state)
{
    char *path = make_text_pdf("words.pdf");
    struct document *doc = NULL;
    assert_int_equal(document_open(path, NULL, &doc, NULL), 0);
    assert_int_equal(document_page_count(doc), 1);
    struct page_options po = {.dpi = 72, .max_pixels = 1000000, .words = true};
    struct page *page = NULL;
    assert_int_equal(document_load_page(doc, 0, &po, &page, NULL), 0);
    assert_true(page->width == 300 && page->height == 200);
    assert_int_equal(page->raster.width, 300);
    assert_int_equal(page->raster.height, 200);
    assert_true(page->has_text_layer);
    assert_int_equal(page->n_words, 4);
    const char *expect[] = {"Total", "revenue", "1,234.50", "Überschrift"};
    for (int i = 0; i < 4; i++)
        assert_string_equal(page->words[i].text, expect[i]);
    /* boxes: baseline at y=40 for the first line, text above it */
    assert_true(page->words[0].bbox.x0 >= 19 && page->words[0].bbox.x0 <= 22);
    assert_true(page->words[0].bbox.y1 > 35 && page->words[0].bbox.y1 < 45);
    assert_true(page->words[1].bbox.x0 > page->words[0].bbox.x1);
    assert_false(page->words[0].bold);
    assert_true(page->words[3].bold);
    assert_true(page->words[3].font_size > 11.5 && page->words[3].font_size < 12.5);
    assert_int_equal(page->words[0].line, page->words[2].line);
    assert_true(page->words[3].line > page->words[0].line);
    /* the 1 pt rule at y=120 is dark in the raster, the margin is white */
    assert_true(page->raster.gray[120 * 300 + 150] < 100);
    assert_int_equal(page->raster.gray[5 * 300 + 5], 255);
    char *png = path_in("crop.png");
    assert_int_equal(raster_write_png(&page->raster, (struct rect){10, 20, 290, 130}, png), 0);
    assert_true(g_file_test(png, G_FILE_TEST_EXISTS));
    page_free(page);
    document_close(doc);
    g_free(png);
    g_free(path);
}

static void expect_open_error(const char *path, const char *password, int expected,
                              const char *needle)
{
    struct document *doc = NULL;
    char *msg = NULL;
    assert_int_equal(document_open(path, password, &doc, &msg), expected);
    assert_null(doc);
    assert_non_null(msg);
    if (!strstr(msg, needle) || !strstr(msg, path))
        fail_msg("message '%s' should name the file and say '%s'", msg, needle);
    free(msg);
}

/* A word drawn as base letters and combining accents (as TeX's Type 1 fonts give them) comes out
 * composed (NFC), so it compares and searches equal to the same word typed on a keyboard. */
static void test_ingest__words_composed(void **state)
{
    char *path = path_in("nfd.pdf");
    int err = 0;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, 300, 100, &err);
    assert_non_null(doc);
    struct pdfgen_font regular = {"DejaVu Sans", 10, false, false};
    pdfgen_text(doc, 20, 40, &regular, PDFGEN_ALIGN_LEFT, "Gdan\u0301sk Zu\u0308rich");
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);
    struct document *d = NULL;
    assert_int_equal(document_open(path, NULL, &d, NULL), 0);
    struct page_options po = {.dpi = 72, .max_pixels = 1000000, .words = true};
    struct page *page = NULL;
    assert_int_equal(document_load_page(d, 0, &po, &page, NULL), 0);
    assert_int_equal(page->n_words, 2);
    assert_string_equal(page->words[0].text, "Gda\u0144sk");
    assert_string_equal(page->words[1].text, "Z\u00fcrich");
    page_free(page);
    document_close(d);
    g_free(path);
}

static void test_ingest__bad_files(void **state)
{
    char *text = path_in("notes.pdf");
    assert_int_equal(pdfgen_write_not_pdf(text), 0);
    expect_open_error(text, NULL, QUIRE_ENOTPDF, "not a PDF");
    char *missing = path_in("gone.pdf");
    expect_open_error(missing, NULL, QUIRE_ENOENT, "No such file");
    char *empty = path_in("empty.pdf");
    write_file(empty, "", 0);
    expect_open_error(empty, NULL, QUIRE_ENOTPDF, "not a PDF");
    char *garbage = path_in("garbage.pdf");
    write_file(garbage, "%PDF-1.7\n\x01\x02 garbage without objects\n", 36);
    expect_open_error(garbage, NULL, QUIRE_ETRUNCATED, "damaged");
    g_free(text);
    g_free(missing);
    g_free(empty);
    g_free(garbage);
}

static void test_ingest__encrypted(void **state)
{
    char *path = path_in("secret.pdf");
    assert_int_equal(pdfgen_write_encrypted(path, "s3cret", NULL, "Hidden table 42"), 0);
    expect_open_error(path, NULL, QUIRE_EENCRYPTED, "encrypted");
    expect_open_error(path, "wrong", QUIRE_EENCRYPTED, "password is wrong");
    struct document *doc = NULL;
    assert_int_equal(document_open(path, "s3cret", &doc, NULL), 0);
    struct page_options po = {.dpi = 0, .max_pixels = 0, .words = true};
    struct page *page = NULL;
    assert_int_equal(document_load_page(doc, 0, &po, &page, NULL), 0);
    assert_true(page->n_words >= 3);
    assert_string_equal(page->words[0].text, "Hidden");
    assert_null(page->raster.gray);
    page_free(page);
    document_close(doc);
    g_free(path);
}

static void test_ingest__zero_pages(void **state)
{
    /* A hand-written PDF whose page tree is empty. */
    char *path = path_in("zero.pdf");
    GString *pdf = g_string_new("%PDF-1.4\n");
    size_t off1 = pdf->len;
    g_string_append(pdf, "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
    size_t off2 = pdf->len;
    g_string_append(pdf, "2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n");
    size_t xref = pdf->len;
    g_string_append_printf(pdf, "xref\n0 3\n0000000000 65535 f \n%010zu 00000 n \n%010zu 00000 n \n"
                           "trailer << /Size 3 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n",
                           off1, off2, xref);
    write_file(path, pdf->str, pdf->len);
    g_string_free(pdf, TRUE);
    struct document *doc = NULL;
    char *msg = NULL;
    int err = document_open(path, NULL, &doc, &msg);
    /* Poppler either refuses the empty tree or opens it with no pages: both are a clear error. */
    assert_true(err == QUIRE_ENOPAGES || err == QUIRE_ETRUNCATED);
    assert_non_null(strstr(msg, path));
    free(msg);
    g_free(path);
}

static void test_ingest__huge_page_is_a_limit(void **state)
{
    char *path = path_in("huge.pdf");
    assert_int_equal(pdfgen_write_blank(path, 1, 14400, 14400), 0);
    struct document *doc = NULL;
    assert_int_equal(document_open(path, NULL, &doc, NULL), 0);
    struct page_options po = {.dpi = 100, .max_pixels = 40000000, .words = true};
    struct page *page = NULL;
    char *msg = NULL;
    assert_int_equal(document_load_page(doc, 0, &po, &page, &msg), QUIRE_ELIMIT);
    assert_null(page);
    assert_non_null(strstr(msg, "max_pixels"));
    free(msg);
    assert_int_equal(document_load_page(doc, 1, &po, &page, NULL), QUIRE_EINVAL);
    document_close(doc);
    g_free(path);
}

static void test_ingest__allocation_failures(void **state)
{
    char *path = make_text_pdf("oom.pdf");
    struct page_options po = {.dpi = 50, .max_pixels = 1000000, .words = true};
    int failures = 0;
    for (long n = 1; n < 200; n++) {
        struct document *doc = NULL;
        struct page *page = NULL;
        q_alloc_fail_after(n);
        int err = document_open(path, NULL, &doc, NULL);
        if (!err)
            err = document_load_page(doc, 0, &po, &page, NULL);
        q_alloc_fail_after(0);
        if (err) {
            assert_int_equal(err, QUIRE_ENOMEM);
            failures++;
        } else {
            assert_int_equal(page->n_words, 4);
        }
        page_free(page);
        document_close(doc);
        if (!err)
            break;
    }
    assert_true(failures > 3);
    g_free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest__sha256),
        cmocka_unit_test(test_ingest__complete_pdf),
        cmocka_unit_test(test_ingest__words_and_raster),
        cmocka_unit_test(test_ingest__words_composed),
        cmocka_unit_test(test_ingest__bad_files),
        cmocka_unit_test(test_ingest__encrypted),
        cmocka_unit_test(test_ingest__zero_pages),
        cmocka_unit_test(test_ingest__huge_page_is_a_limit),
        cmocka_unit_test(test_ingest__allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
