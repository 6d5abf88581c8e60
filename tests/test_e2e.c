/*
 * test_e2e.c - the real `quire` binary on real PDFs drawn with cairo, checked through the real
 * SQLite rows and the JSON it prints: convert, query/show/export/status/retry, batch (with
 * kill -9 and --resume), and watch (slow copies, moved-in files, a broken file, SIGTERM); the
 * model engine (--engine, --model) with the tiny random model of tests/fixtures/tiny-idefics3
 * ($QUIRE_LLM_FIXTURES), whose tables are meaningless: only what is recorded is checked.
 *
 * QUIRE_BIN names the binary (make test sets it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cairo-pdf.h>
#include <cairo.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/otslmodel.h"
#include "support/pdfgen.h"

static const char *quire_bin;
static char dir[64];
static char *fixture_dir; /* absolute */

static char *path_in(const char *name) { return g_build_filename(dir, name, NULL); }

/* Runs quire with the arguments (NULL-terminated); returns the exit status. */
static int quire(char **out, char **err, ...)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (char *)quire_bin);
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)))
        g_ptr_array_add(argv, (char *)a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    int status = -1;
    GError *gerr = NULL;
    char *o = NULL, *e = NULL;
    if (!g_spawn_sync(dir, (char **)argv->pdata, NULL, 0, NULL, NULL, &o, &e, &status, &gerr))
        fail_msg("cannot run %s: %s", quire_bin, gerr->message);
    g_ptr_array_free(argv, TRUE);
    if (out)
        *out = o;
    else
        g_free(o);
    if (err)
        *err = e;
    else
        g_free(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The first column of the first row of a query on the database, as an integer. */
static long long db_int(const char *db, const char *sql)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static char *db_text(const char *db, const char *sql)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    char *v = sqlite3_step(st) == SQLITE_ROW ? g_strdup((const char *)sqlite3_column_text(st, 0))
                                             : NULL;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* A PDF with one ruled table per page; cell (r, c) reads "<tag> p<page> r<r> c<c>" except the
 * header row. */
static void make_pdf(const char *path, const char *tag, int pages)
{
    int err = 0;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    assert_non_null(doc);
    for (int p = 1; p <= pages; p++) {
        if (p > 1)
            assert_int_equal(pdfgen_page_new(doc, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT), 0);
        enum { R = 4, C = 3 };
        char *texts[R * C];
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++)
                texts[r * C + c] = r == 0 ? g_strdup_printf("Head%c", 'A' + c)
                                          : g_strdup_printf("%s-p%d-r%d-c%d", tag, p, r, c);
        struct pdfgen_table t = {.rows = R, .cols = C, .cells = (const char *const *)texts};
        struct pdfgen_table_style style;
        pdfgen_table_style_init(&style);
        style.font.size = 10;
        pdfgen_text(doc, 72, 80, &style.font, PDFGEN_ALIGN_LEFT, "A report with one table.");
        assert_int_equal(pdfgen_table(doc, 72, 120, &t, &style, true, NULL, NULL), 0);
        for (int i = 0; i < R * C; i++)
            g_free(texts[i]);
    }
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);
}

static JsonObject *parse_line(JsonParser *parser, const char *line)
{
    GError *gerr = NULL;
    if (!json_parser_load_from_data(parser, line, -1, &gerr))
        fail_msg("not JSON: %s (%s)", line, gerr->message);
    return json_node_get_object(json_parser_get_root(parser));
}

static void test_e2e__convert_json_and_rows(void **state)
{
    char *pdf = path_in("report.pdf"), *db = path_in("convert.db");
    make_pdf(pdf, "alpha", 2);
    char *out = NULL, *err = NULL;
    int rc = quire(&out, &err, "convert", "--db", db, "--format", "json", pdf, NULL);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, err);
    char **lines = g_strsplit(g_strstrip(out), "\n", -1);
    assert_int_equal(g_strv_length(lines), 1);
    JsonParser *parser = json_parser_new();
    JsonObject *o = parse_line(parser, lines[0]);
    assert_string_equal(json_object_get_string_member(o, "path"), pdf);
    assert_int_equal(strlen(json_object_get_string_member(o, "sha256")), 64);
    assert_int_equal(json_object_get_int_member(o, "pages"), 2);
    assert_true(json_node_is_null(json_object_get_member(o, "error")));
    JsonArray *tables = json_object_get_array_member(o, "tables");
    assert_int_equal(json_array_get_length(tables), 2);
    for (guint i = 0; i < 2; i++) {
        JsonObject *t = json_array_get_object_element(tables, i);
        assert_int_equal(json_object_get_int_member(t, "page"), i + 1);
        assert_string_equal(json_object_get_string_member(t, "engine"), "text");
        assert_true(json_object_has_member(t, "model_id"));
        assert_true(json_node_is_null(json_object_get_member(t, "model_id")));
        assert_true(json_node_is_null(json_object_get_member(t, "continues_id")));
        assert_int_equal(json_object_get_int_member(t, "repeated_header_rows"), 0);
        JsonArray *rows = json_object_get_array_member(t, "rows");
        assert_int_equal(json_array_get_length(rows), 4);
        JsonArray *row0 = json_array_get_array_element(rows, 0);
        assert_string_equal(json_array_get_string_element(row0, 2), "HeadC");
        JsonArray *row2 = json_array_get_array_element(rows, 2);
        char *want = g_strdup_printf("alpha-p%u-r2-c1", i + 1);
        assert_string_equal(json_array_get_string_element(row2, 1), want);
        g_free(want);
        assert_int_equal(json_array_get_length(json_object_get_array_member(t, "bbox")), 4);
        assert_non_null(strstr(json_object_get_string_member(t, "markdown"), "| HeadA |"));
        assert_non_null(strstr(json_object_get_string_member(t, "latex"), "\\begin{tabular}"));
        /* the id printed is the row in the database */
        char *sql = g_strdup_printf("SELECT page FROM tables WHERE id = %lld",
                                    (long long)json_object_get_int_member(t, "id"));
        assert_int_equal(db_int(db, sql), i + 1);
        g_free(sql);
    }
    g_object_unref(parser);
    g_strfreev(lines);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status = 'done'"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM cells"), 24);
    assert_int_equal(db_int(db, "SELECT count(*) FROM cells WHERE text = 'alpha-p2-r3-c2'"), 1);
    g_free(out);
    g_free(err);

    /* converting again replaces the results: still one document, two tables */
    assert_int_equal(quire(NULL, NULL, "convert", "--db", db, "--format", "csv", pdf, NULL), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 2);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents"), 1);
    g_free(pdf);
    g_free(db);
}

/* Tables under dark header bands with white text, as reports set them: a grid whose header cells
 * wrap onto two lines over grey total rows, and below it, after a blank, a table with rules
 * between the rows. The bands must not swallow the rules that touch them, nor their letters
 * give rules of their own. */
static void test_e2e__dark_header_bands(void **state)
{
    (void)state;
    char *pdf = path_in("darkhead.pdf"), *db = path_in("darkhead.db");
    int err = 0;
    struct pdfgen_doc *doc = pdfgen_doc_new(pdf, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    assert_non_null(doc);
    static const char *const grid[] = {"Country",
                                       "Valid replies per country",
                                       "Replies by fellows",
                                       "Total",
                                       "Austria",
                                       "77",
                                       "1",
                                       "78",
                                       "Belgium",
                                       "159",
                                       "2",
                                       "161",
                                       "Bulgaria",
                                       "52",
                                       "0",
                                       "52",
                                       "Croatia",
                                       "144",
                                       "0",
                                       "144",
                                       "Cyprus",
                                       "43",
                                       "2",
                                       "45"};
    struct pdfgen_table a = {.rows = 6, .cols = 4, .cells = grid};
    struct pdfgen_table_style st;
    pdfgen_table_style_init(&st);
    st.font.size = 9;
    st.header_gray = 0.25;
    st.header_text_gray = 1;
    st.zebra_gray = 0.75;
    st.wrap_width = 70;
    struct rect box_a;
    assert_int_equal(pdfgen_table(doc, 80, 100, &a, &st, true, NULL, &box_a), 0);
    static const char *const rows[] = {"Item",    "Units", "Price", "Status", "Bolts", "120",
                                       "0.40",    "open",  "Nuts",  "300",    "0.15",  "closed",
                                       "Washers", "75",    "0.05",  "open"};
    struct pdfgen_table b = {.rows = 4, .cols = 4, .cells = rows};
    st.rules = PDFGEN_RULES_HROWS;
    st.header_gray = 0.2;
    st.zebra_gray = -1;
    st.wrap_width = 0;
    assert_int_equal(pdfgen_table(doc, 80, box_a.y1 + 40, &b, &st, true, NULL, NULL), 0);
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);

    char *out = NULL, *errs = NULL;
    int rc = quire(&out, &errs, "convert", "--db", db, "--format", "csv", pdf, NULL);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, errs);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 2);
    /* the grid: one header row of whole two-line cells, five body rows, four columns */
    assert_int_equal(db_int(db, "SELECT n_rows * 10 + n_cols FROM tables ORDER BY y0 LIMIT 1"), 64);
    char *h = db_text(db, "SELECT text FROM cells WHERE row = 0 AND col = 1 AND table_id = "
                          "(SELECT id FROM tables ORDER BY y0 LIMIT 1)");
    assert_non_null(h);
    assert_string_equal(h, "Valid replies per country");
    g_free(h);
    assert_int_equal(db_int(db, "SELECT count(*) FROM cells WHERE row = 5 AND col = 3 AND "
                                "text = '45'"),
                     1);
    /* the ruled rows below: a table of its own, header included */
    assert_int_equal(db_int(db, "SELECT n_rows * 10 + n_cols FROM tables ORDER BY y0 DESC "
                                "LIMIT 1"),
                     44);
    assert_int_equal(db_int(db, "SELECT count(*) FROM cells WHERE row = 0 AND col = 2 AND "
                                "text = 'Price' AND is_header = 1"),
                     1);
    g_free(out);
    g_free(errs);
    g_free(pdf);
    g_free(db);
}

static void test_e2e__bad_input_and_status(void **state)
{
    char *good = path_in("good.pdf"), *text = path_in("text.pdf"), *cut = path_in("cut.pdf");
    char *locked = path_in("locked.pdf"), *db = path_in("bad.db");
    make_pdf(good, "beta", 1);
    assert_int_equal(pdfgen_write_not_pdf(text), 0);
    assert_int_equal(pdfgen_write_truncated(cut, 400), 0);
    assert_int_equal(pdfgen_write_encrypted(locked, "pw", NULL, "Secret 1"), 0);
    char *out = NULL, *err = NULL;
    int rc = quire(&out, &err, "convert", "--db", db, text, good, cut, locked, NULL);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "beta-p1-r1-c0"));
    assert_non_null(strstr(err, "text.pdf: not a PDF"));
    assert_non_null(strstr(err, "locked.pdf: encrypted"));
    g_free(out);
    g_free(err);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status = 'done'"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status = 'failed'"), 3);
    char *e = db_text(db, "SELECT error FROM documents d JOIN document_paths p ON p.document_id = "
                          "d.id WHERE p.path LIKE '%locked.pdf'");
    assert_non_null(strstr(e, "encrypted"));
    g_free(e);

    /* with the password it opens */
    rc = quire(&out, NULL, "convert", "--db", db, "--password", "pw", "--format", "json", locked,
               NULL);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"error\": null"));
    g_free(out);

    rc = quire(&out, NULL, "status", "--db", db, "--format", "json", NULL);
    assert_int_equal(rc, 0);
    assert_true(g_str_has_prefix(out, "{\"documents\": {\"done\": 2, \"failed\": 2, \"queued\": 0, "
                                      "\"running\": 0}"));
    assert_non_null(strstr(out, "not a PDF"));
    g_free(out);

    /* retry: failed documents are queued again */
    assert_int_equal(quire(&out, NULL, "retry", "--db", db, NULL), 0);
    g_free(out);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status = 'queued'"), 2);
    g_free(good);
    g_free(text);
    g_free(cut);
    g_free(locked);
    g_free(db);
}

/* A scanned page: a ruled 4 x 3 table drawn into a 144-dpi image, and that image alone on a
 * Letter page (no text layer). */
static void make_scanned_pdf(const char *path)
{
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1224, 1584);
    cairo_t *c = cairo_create(img);
    cairo_set_source_rgb(c, 1, 1, 1);
    cairo_paint(c);
    cairo_set_source_rgb(c, 0, 0, 0);
    cairo_set_line_width(c, 2);
    for (int r = 0; r <= 4; r++) {
        cairo_move_to(c, 200, 300 + 60 * r);
        cairo_line_to(c, 1000, 300 + 60 * r);
    }
    for (int k = 0; k <= 3; k++) {
        cairo_move_to(c, 200 + k * 800.0 / 3, 300);
        cairo_line_to(c, 200 + k * 800.0 / 3, 540);
    }
    cairo_stroke(c);
    cairo_select_font_face(c, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(c, 24);
    static const char *cells[4][3] = {{"Region", "Sales", "Growth"}, {"North", "1,204", "3.1%"},
                                      {"South", "987", "-0.4%"}, {"West", "2,310", "12.0%"}};
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 3; k++) {
            cairo_move_to(c, 215 + k * 800.0 / 3, 340 + 60 * r);
            cairo_show_text(c, cells[r][k]);
        }
    cairo_destroy(c);
    cairo_surface_t *pdf = cairo_pdf_surface_create(path, 612, 792);
    cairo_t *p = cairo_create(pdf);
    cairo_scale(p, 0.5, 0.5);
    cairo_set_source_surface(p, img, 0, 0);
    cairo_paint(p);
    cairo_show_page(p);
    cairo_destroy(p);
    cairo_surface_finish(pdf);
    assert_int_equal(cairo_surface_status(pdf), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(pdf);
    cairo_surface_destroy(img);
}

/* The text engine on a scan without a line reader (--reader none): the table region is found
 * but cannot be read; the page records it,
 * convert says so on stderr (exit 0: nothing failed), and status counts the page. */
static void test_e2e__scanned_page_text_engine(void **state)
{
    char *scan = path_in("scan.pdf"), *db = path_in("scan.db");
    make_scanned_pdf(scan);
    char *out = NULL, *err = NULL;
    assert_int_equal(quire(&out, &err, "convert", "--db", db, "--engine", "text", "--reader",
                           "none", scan, NULL), 0);
    assert_non_null(strstr(err, "page 1: 1 table region on a page without a text layer not read"));
    g_free(out);
    g_free(err);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 0);
    assert_int_equal(db_int(db, "SELECT has_text_layer FROM pages WHERE page = 1"), 0);
    assert_int_equal(db_int(db, "SELECT unread_regions FROM pages WHERE page = 1"), 1);
    assert_int_equal(quire(&out, NULL, "status", "--db", db, NULL), 0);
    assert_non_null(strstr(out, "unread:    1 page without a text layer holds table regions"));
    g_free(out);
    assert_int_equal(quire(&out, NULL, "status", "--db", db, "--format", "json", NULL), 0);
    assert_non_null(strstr(out, "\"unread_pages\": 1"));
    g_free(out);
    g_free(scan);
    g_free(db);
}

/* The same scan with the shipped line reader (models/quire-reader): the words cut from the
 * ink are read and the text-layer engine builds the 4 x 3 table from them (engine "ocr", the
 * reader's id stored as the model). The reader is a small model, not a perfect one: the test
 * wants the table's shape exact and at least 10 of its 12 cells read exactly. */
static void test_e2e__scanned_page_read_by_reader(void **state)
{
    char *scan = path_in("scan-read.pdf"), *db = path_in("scan-read.db");
    make_scanned_pdf(scan);
    char *out = NULL, *err = NULL;
    char *reader = realpath("models/quire-reader", NULL); /* tests run in the source tree */
    assert_non_null(reader);
    assert_int_equal(quire(&out, &err, "convert", "--db", db, "--engine", "text", "--reader",
                           reader, scan, NULL), 0);
    free(reader);
    g_free(out);
    g_free(err);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables WHERE engine = 'ocr' AND "
                                "model_id = 'quire-reader' AND n_rows = 4 AND n_cols = 3"), 1);
    assert_int_equal(db_int(db, "SELECT unread_regions FROM pages WHERE page = 1"), 0);
    static const char *cells[4][3] = {{"Region", "Sales", "Growth"}, {"North", "1,204", "3.1%"},
                                      {"South", "987", "-0.4%"}, {"West", "2,310", "12.0%"}};
    int exact = 0;
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 3; k++) {
            char *sql = g_strdup_printf("SELECT count(*) FROM cells WHERE row = %d AND col = %d "
                                        "AND text = '%s'", r, k, cells[r][k]);
            int ok = (int)db_int(db, sql);
            exact += ok;
            g_free(sql);
            if (!ok) {
                sql = g_strdup_printf("SELECT group_concat(text, ' | ') FROM cells WHERE row = %d "
                                      "AND col = %d", r, k);
                char *got = db_text(db, sql);
                print_message("cell (%d, %d): expected '%s', read '%s'\n", r, k, cells[r][k],
                              got ? got : "(none)");
                g_free(got);
                g_free(sql);
            }
        }
    print_message("cells read exactly: %d of 12\n", exact);
    assert_true(exact >= 10);
    g_free(scan);
    g_free(db);
}

static void test_e2e__query_show_export(void **state)
{
    char *pdf = path_in("q.pdf"), *db = path_in("query.db"), *outdir = path_in("export");
    make_pdf(pdf, "gamma", 3);
    assert_int_equal(quire(NULL, NULL, "convert", "--db", db, pdf, NULL), 0);
    char *out = NULL;
    assert_int_equal(quire(&out, NULL, "query", "--db", db, "gamma-p2-r1-c1", "--format", "json",
                           NULL), 0);
    char **lines = g_strsplit(g_strstrip(out), "\n", -1);
    assert_int_equal(g_strv_length(lines), 1);
    JsonParser *parser = json_parser_new();
    JsonObject *o = parse_line(parser, lines[0]);
    assert_int_equal(json_object_get_int_member(o, "page"), 2);
    long long id = json_object_get_int_member(o, "id");
    g_object_unref(parser);
    g_strfreev(lines);
    g_free(out);

    char *ids = g_strdup_printf("%lld", id);
    assert_int_equal(quire(&out, NULL, "show", "--db", db, ids, "--format", "csv", NULL), 0);
    assert_non_null(strstr(out, "gamma-p2-r3-c2"));
    assert_null(strstr(out, "gamma-p1"));
    g_free(out);
    assert_int_equal(quire(NULL, NULL, "show", "--db", db, "999999", NULL), 1);

    assert_int_equal(quire(&out, NULL, "query", "--db", db, "--page", "3", NULL), 0);
    assert_non_null(strstr(out, "gamma-p3-r1-c0"));
    assert_null(strstr(out, "gamma-p2"));
    g_free(out);

    assert_int_equal(quire(&out, NULL, "export", "--db", db, "--format", "csv", "--out", outdir,
                           NULL), 0);
    g_free(out);
    GDir *d = g_dir_open(outdir, 0, NULL);
    assert_non_null(d);
    int n = 0;
    while (g_dir_read_name(d))
        n++;
    g_dir_close(d);
    assert_int_equal(n, 3);
    g_free(ids);
    g_free(pdf);
    g_free(db);
    g_free(outdir);
}

static void test_e2e__usage_errors(void **state)
{
    char *err = NULL;
    assert_int_equal(quire(NULL, &err, "frobnicate", NULL), 2);
    assert_non_null(strstr(err, "unknown command"));
    g_free(err);
    assert_int_equal(quire(NULL, NULL, "convert", NULL), 2);
    assert_int_equal(quire(NULL, NULL, "convert", "--format", "docx", "x.pdf", NULL), 2);
    assert_int_equal(quire(NULL, NULL, "convert", "--pages", "3-1", "x.pdf", NULL), 2);
    char *conf = path_in("bad.conf");
    assert_true(g_file_set_contents(conf, "[pipeline]\nworkers = lots\n", -1, NULL));
    assert_int_equal(quire(NULL, &err, "convert", "--config", conf, "x.pdf", NULL), 2);
    assert_non_null(strstr(err, "workers"));
    g_free(err);
    assert_true(g_file_set_contents(conf, "[tables]\nengine = vlm\n", -1, NULL));
    assert_int_equal(quire(NULL, &err, "convert", "--config", conf, "x.pdf", NULL), 2);
    assert_non_null(strstr(err, "engine = vlm"));
    assert_non_null(strstr(err, "--model DIR"));
    g_free(err);
    char *out = NULL;
    assert_int_equal(quire(&out, NULL, "convert", "--help", NULL), 0);
    assert_non_null(strstr(out, "--format"));
    g_free(out);
    g_free(conf);
}

/* A folder of n PDFs (one table each) and one broken file. */
static void make_folder(const char *folder, int n)
{
    g_mkdir_with_parents(folder, 0755);
    for (int i = 0; i < n; i++) {
        char *sub = g_strdup_printf("%s/%s", folder, i % 2 ? "a" : "b/c");
        g_mkdir_with_parents(sub, 0755);
        char *name = g_strdup_printf("%s/doc%03d.pdf", sub, i);
        char *tag = g_strdup_printf("d%03d", i);
        make_pdf(name, tag, 1 + i % 3);
        g_free(name);
        g_free(tag);
        g_free(sub);
    }
    char *broken = g_strdup_printf("%s/broken.pdf", folder);
    assert_int_equal(pdfgen_write_not_pdf(broken), 0);
    g_free(broken);
}

static void test_e2e__batch_and_rerun(void **state)
{
    char *folder = path_in("archive"), *db = path_in("batch.db");
    make_folder(folder, 12);
    char *out = NULL;
    assert_int_equal(quire(&out, NULL, "batch", "--db", db, folder, NULL), 1); /* broken.pdf */
    assert_non_null(strstr(out, "12 stored"));
    assert_non_null(strstr(out, "1 failed"));
    g_free(out);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status = 'done'"), 12);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 4 * 1 + 4 * 2 + 4 * 3);
    assert_int_equal(quire(&out, NULL, "batch", "--db", db, folder, NULL), 1);
    assert_non_null(strstr(out, "0 stored, 12 already stored"));
    g_free(out);
    g_free(folder);
    g_free(db);
}

static void test_e2e__batch_survives_kill_9(void **state)
{
    char *folder = path_in("crash"), *db = path_in("crash.db");
    make_folder(folder, 24);
    char *argv[] = {(char *)quire_bin, "batch", "--db", db, "--quiet", folder, NULL};
    for (int round = 0; round < 4; round++) {
        GPid pid;
        assert_true(g_spawn_async(dir, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD |
                                  G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                  NULL, NULL, &pid, NULL));
        g_usleep((gulong)(150000 + 120000 * round));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
    }
    char *out = NULL;
    int rc = quire(&out, NULL, "batch", "--db", db, "--resume", folder, NULL);
    assert_int_equal(rc, 1); /* the broken file */
    g_free(out);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status = 'done'"), 24);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status IN "
                                "('queued', 'running')"), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents"), 25);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 8 * 1 + 8 * 2 + 8 * 3);
    /* every table exactly once: no page of a document stored twice */
    assert_int_equal(db_int(db, "SELECT count(*) FROM (SELECT document_id, page FROM tables "
                                "GROUP BY 1, 2 HAVING count(*) > 1)"), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM cells WHERE text = 'd017-p2-r3-c1'"), 1);
    g_free(folder);
    g_free(db);
}

static void copy_slowly(const char *from, const char *to)
{
    char *data;
    gsize len;
    assert_true(g_file_get_contents(from, &data, &len, NULL));
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    gsize chunk = len / 4 + 1;
    for (gsize at = 0; at < len; at += chunk) {
        fwrite(data + at, 1, MIN(chunk, len - at), f);
        fflush(f);
        g_usleep(400000); /* longer than settle_seconds: only %%EOF tells it is complete */
    }
    fclose(f);
    g_free(data);
}

/* db_int, but -1 while the database or its schema does not exist yet (the watcher creates the
 * file a moment before its tables). */
static long long db_int_try(const char *db, const char *sql)
{
    sqlite3 *h;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return -1;
    }
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return v;
}

static bool wait_for(const char *db, const char *sql, long long want, double seconds)
{
    for (double t = 0; t < seconds; t += 0.2) {
        if (g_file_test(db, G_FILE_TEST_EXISTS) && db_int_try(db, sql) == want)
            return true;
        g_usleep(200000);
    }
    return false;
}

static void test_e2e__watch(void **state)
{
    char *inbox = path_in("inbox"), *db = path_in("watch.db"), *conf = path_in("watch.conf");
    char *outside = path_in("outside.pdf"), *src = path_in("slow-src.pdf");
    g_mkdir_with_parents(inbox, 0755);
    make_pdf(src, "slow", 2);
    make_pdf(outside, "moved", 1);
    char *early = g_build_filename(inbox, "early.pdf", NULL);
    make_pdf(early, "early", 1);
    assert_true(g_file_set_contents(conf, "[watch]\nsettle_seconds = 0.3\nrescan_seconds = 1\n"
                                    "incomplete_seconds = 2\n", -1, NULL));
    char *argv[] = {(char *)quire_bin, "watch", "--config", conf, "--db", db, inbox, NULL};
    GPid pid;
    int err_fd;
    assert_true(g_spawn_async_with_pipes(dir, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD |
                                         G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &pid, NULL, NULL,
                                         &err_fd, NULL));
    /* the file present at start-up */
    assert_true(wait_for(db, "SELECT count(*) FROM documents WHERE status = 'done'", 1, 20));
    char *slow = g_build_filename(inbox, "slow.pdf", NULL);
    copy_slowly(src, slow);
    char *moved = g_build_filename(inbox, "moved.pdf", NULL);
    assert_int_equal(rename(outside, moved), 0);
    char *broken = g_build_filename(inbox, "broken.pdf", NULL);
    assert_int_equal(pdfgen_write_not_pdf(broken), 0);
    /* a second copy of a stored document becomes another path, not another document */
    char *again = g_build_filename(inbox, "early-copy.pdf", NULL);
    make_pdf(again, "early", 1);
    /* a folder created while watching, with a PDF written into it */
    char *sub = g_build_filename(inbox, "2026", "november", NULL);
    g_mkdir_with_parents(sub, 0755);
    g_usleep(300000);
    char *deep = g_build_filename(sub, "deep.pdf", NULL);
    make_pdf(deep, "deep", 1);

    assert_true(wait_for(db, "SELECT count(*) FROM documents WHERE status = 'done'", 4, 30));
    assert_true(wait_for(db, "SELECT count(*) FROM documents WHERE status = 'failed'", 1, 30));
    assert_true(wait_for(db, "SELECT count(*) FROM document_paths", 6, 30));
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents"), 5);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 5);
    assert_int_equal(db_int(db, "SELECT count(*) FROM cells WHERE text = 'deep-p1-r1-c1'"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM cells WHERE text = 'slow-p2-r3-c2'"), 1);
    char *out = NULL;
    assert_int_equal(quire(&out, NULL, "query", "--db", db, "moved-p1-r1-c1", NULL), 0);
    assert_non_null(strstr(out, "moved-p1-r1-c1"));
    g_free(out);

    kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
        g_usleep(100000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char buf[8192];
    ssize_t n = read(err_fd, buf, sizeof buf - 1);
    close(err_fd);
    buf[n > 0 ? n : 0] = '\0';
    assert_non_null(strstr(buf, "broken.pdf: not a PDF"));
    g_free(inbox);
    g_free(db);
    g_free(conf);
    g_free(outside);
    g_free(src);
    g_free(early);
    g_free(slow);
    g_free(moved);
    g_free(broken);
    g_free(again);
    g_free(sub);
    g_free(deep);
}

/* --- tables over a page break --------------------------------------------------------------- */

/* Row i (0-based) of the long table: the same width in every row, so the columns keep their
 * positions on every page, as a typeset table's do. */
static void long_row(int i, char *texts[3])
{
    texts[0] = g_strdup_printf("Item %03d", i + 1);
    texts[1] = g_strdup_printf("%04d", (i * 37) % 10000);
    texts[2] = g_strdup_printf("%03d.50", (i * 13) % 1000);
}

/* The rules the long table is drawn with, and whether its later parts start under a caption
 * "Table 1 (continued)" (below the running head band, so the caption alone lets them link). */
static enum pdfgen_rules long_rules = PDFGEN_RULES_GRID;
static bool long_caption;

/* Where a later part starts: under its caption when long_caption. */
static double later_part_top(struct pdfgen_doc *doc)
{
    if (!long_caption)
        return 70;
    struct pdfgen_font body = {.size = 10};
    pdfgen_text(doc, 90, 125, &body, PDFGEN_ALIGN_LEFT, "Table 1 (continued)");
    return 140;
}

/* Draws rows [from, to) of the long table at y (with `header` as its bold header row, if any)
 * and returns its bottom. With draw=false only measures. */
static double long_part(struct pdfgen_doc *doc, double y, const char *const *header, int from,
                        int to, bool draw)
{
    int h = header ? 1 : 0, rows = h + to - from;
    char **texts = g_new0(char *, (size_t)rows * 3);
    for (int c = 0; h && c < 3; c++)
        texts[c] = g_strdup(header[c]);
    for (int i = from; i < to; i++)
        long_row(i, texts + (size_t)(h + i - from) * 3);
    struct pdfgen_table t = {.rows = rows, .cols = 3, .cells = (const char *const *)texts};
    struct pdfgen_table_style style;
    pdfgen_table_style_init(&style);
    style.font.size = 10;
    style.header_rows = h;
    style.rules = long_rules;
    struct rect box;
    assert_int_equal(pdfgen_table(doc, 90, y, &t, &style, draw, NULL, &box), 0);
    for (int i = 0; i < rows * 3; i++)
        g_free(texts[i]);
    g_free(texts);
    return box.y1;
}

/* As many rows from `from` on as fit between y and `bottom`. */
static int rows_that_fit(struct pdfgen_doc *doc, double y, const char *const *header, int from,
                         double bottom)
{
    int n = 1;
    while (long_part(doc, y, header, from, from + n + 1, false) <= bottom)
        n++;
    return n;
}

static void page_furniture(struct pdfgen_doc *doc, int page)
{
    struct pdfgen_font small = {.size = 8};
    char *number = g_strdup_printf("Page %d", page);
    pdfgen_text(doc, PDFGEN_A4_WIDTH / 2, 815, &small, PDFGEN_ALIGN_CENTER, number);
    g_free(number);
    if (page > 1)
        pdfgen_text(doc, 90, 40, &small, PDFGEN_ALIGN_LEFT, "Annual report 2026");
}

static const char *const long_header[] = {"Item", "Units", "Value"};
static const char *const other_header[] = {"Name", "Code", "Price"};

/* A 3-page document whose one table runs over all three pages: page 2's part repeats the
 * header, page 3's does not, and a paragraph follows the table. *n_rows gets the data rows.
 * With `other`, page 2 starts a different table instead (its own header) and there is no
 * page 3. */
static void make_long_table_pdf(const char *path, bool other, int *n_rows)
{
    int err = 0;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    assert_non_null(doc);
    struct pdfgen_font body = {.size = 10};
    pdfgen_text(doc, 90, 80, &body, PDFGEN_ALIGN_LEFT, "Table 1 lists every item of the year.");
    int n1 = rows_that_fit(doc, 110, long_header, 0, 790);
    long_part(doc, 110, long_header, 0, n1, true);
    page_furniture(doc, 1);
    assert_int_equal(pdfgen_page_new(doc, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT), 0);
    page_furniture(doc, 2);
    if (other) {
        double y = long_part(doc, 70, other_header, 500, 510, true);
        pdfgen_text(doc, 90, y + 30, &body, PDFGEN_ALIGN_LEFT, "Table 2 is another table.");
        *n_rows = n1;
    } else {
        double top = later_part_top(doc);
        int n2 = rows_that_fit(doc, top, long_header, n1, 790);
        long_part(doc, top, long_header, n1, n1 + n2, true);
        assert_int_equal(pdfgen_page_new(doc, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT), 0);
        page_furniture(doc, 3);
        double y = long_part(doc, later_part_top(doc), NULL, n1 + n2, n1 + n2 + 12, true);
        pdfgen_text(doc, 90, y + 30, &body, PDFGEN_ALIGN_LEFT, "The table ends here.");
        *n_rows = n1 + n2 + 12;
    }
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);
}

/* The long table's first n rows as CSV, the header once (g_string_free). */
static GString *long_csv(int n)
{
    GString *csv = g_string_new("Item,Units,Value\r\n");
    for (int i = 0; i < n; i++) {
        char *texts[3];
        long_row(i, texts);
        g_string_append_printf(csv, "%s,%s,%s\r\n", texts[0], texts[1], texts[2]);
        for (int c = 0; c < 3; c++)
            g_free(texts[c]);
    }
    return csv;
}

static void test_e2e__table_over_page_breaks(void **state)
{
    char *pdf = path_in("long.pdf"), *db = path_in("long.db"), *outdir = path_in("long-export");
    int n_rows = 0;
    make_long_table_pdf(pdf, false, &n_rows);
    char *out = NULL, *err = NULL;
    int rc = quire(&out, &err, "convert", "--db", db, "--format", "json", pdf, NULL);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, err);
    JsonParser *parser = json_parser_new();
    JsonArray *tables = json_object_get_array_member(parse_line(parser, g_strstrip(out)),
                                                     "tables");
    assert_int_equal(json_array_get_length(tables), 3);
    for (guint i = 1; i < 3; i++) {   /* each part names the one before */
        JsonObject *t = json_array_get_object_element(tables, i);
        JsonObject *before = json_array_get_object_element(tables, i - 1);
        assert_int_equal(json_object_get_int_member(t, "continues_id"),
                         json_object_get_int_member(before, "id"));
        assert_int_equal(json_object_get_int_member(t, "repeated_header_rows"), i == 1);
    }
    g_object_unref(parser);
    g_free(out);
    g_free(err);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 3);
    /* page 2's part continues page 1's, repeating its header; page 3's continues page 2's */
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables t JOIN tables p"
                                " ON p.id = t.continues_id WHERE t.page = 2 AND p.page = 1"
                                " AND t.repeated_header_rows = 1"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables t JOIN tables p"
                                " ON p.id = t.continues_id WHERE t.page = 3 AND p.page = 2"
                                " AND t.repeated_header_rows = 0"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables WHERE page = 1"
                                " AND continues_id IS NULL AND header_rows = 1"), 1);
    long long first = db_int(db, "SELECT id FROM tables WHERE page = 1");
    long long last = db_int(db, "SELECT id FROM tables WHERE page = 3");

    /* the whole table, the header once, from any of its parts */
    GString *csv = long_csv(n_rows);
    GString *md = g_string_new("| Item | Units | Value |\n| --- | --- | --- |\n");
    for (int i = 0; i < n_rows; i++) {
        char *texts[3];
        long_row(i, texts);
        g_string_append_printf(md, "| %s | %s | %s |\n", texts[0], texts[1], texts[2]);
        for (int c = 0; c < 3; c++)
            g_free(texts[c]);
    }
    char *ids = g_strdup_printf("%lld", last);
    assert_int_equal(quire(&out, NULL, "show", "--db", db, "--merged", "--format", "csv", ids,
                           NULL), 0);
    assert_string_equal(out, csv->str);
    g_free(out);
    g_free(ids);
    ids = g_strdup_printf("%lld", first);
    assert_int_equal(quire(&out, NULL, "show", "--db", db, "--merged", ids, NULL), 0);
    assert_string_equal(out, md->str);
    g_free(out);
    const char *formats[] = {"latex", "html", "json"};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(quire(&out, NULL, "show", "--db", db, "--merged", "--format",
                               formats[k], ids, NULL), 0);
        char *want = g_strdup_printf("Item %03d", n_rows);   /* the last row, from page 3 */
        assert_non_null(strstr(out, want));
        assert_non_null(strstr(out, "Item 001"));
        /* the header once (JSON carries it in each of its renderings) */
        char *second = strstr(out, "Units");
        assert_non_null(second);
        if (k < 2)
            assert_null(strstr(second + 1, "Units"));
        g_free(want);
        g_free(out);
    }
    /* JSON: one object, its parts listed */
    assert_int_equal(quire(&out, NULL, "show", "--db", db, "--merged", "--format", "json", ids,
                           NULL), 0);
    parser = json_parser_new();
    JsonObject *o = parse_line(parser, g_strstrip(out));
    assert_int_equal(json_object_get_int_member(o, "id"), first);
    assert_int_equal(json_object_get_int_member(o, "n_rows"), n_rows + 1);
    assert_int_equal(json_array_get_length(json_object_get_array_member(o, "rows")), n_rows + 1);
    assert_int_equal(json_array_get_length(json_object_get_array_member(o, "parts")), 3);
    g_object_unref(parser);
    g_free(out);
    /* without --merged, one part with its repeated header */
    char *mid = g_strdup_printf("%lld", db_int(db, "SELECT id FROM tables WHERE page = 2"));
    assert_int_equal(quire(&out, NULL, "show", "--db", db, "--format", "csv", mid, NULL), 0);
    assert_true(g_str_has_prefix(out, "Item,Units,Value\r\n"));
    assert_null(strstr(out, "Item 001,"));
    g_free(out);
    g_free(mid);

    /* export --merged writes the chain once, named for its pages */
    assert_int_equal(quire(&out, NULL, "export", "--db", db, "--merged", "--format", "csv",
                           "--out", outdir, NULL), 0);
    assert_non_null(strstr(out, "wrote 1 table"));
    g_free(out);
    char *file = g_strdup_printf("%s/long-p1-3-t%lld.csv", outdir, first), *data = NULL;
    assert_true(g_file_get_contents(file, &data, NULL, NULL));
    assert_string_equal(data, csv->str);
    g_free(data);
    g_free(file);

    /* the same table drawn with other rules, or with a caption "Table 1 (continued)" over its
     * later parts: linked the same way, merged the same. (With PDFGEN_RULES_HROWS the text
     * layer takes the rule under the first row of page 3's part for a header rule: its values
     * under the header's names tell that it is a body row.) */
    static const enum pdfgen_rules styles[] = {PDFGEN_RULES_BOOKTABS, PDFGEN_RULES_NONE,
                                               PDFGEN_RULES_HROWS, PDFGEN_RULES_GRID};
    for (size_t k = 0; k < sizeof styles / sizeof styles[0]; k++) {
        long_rules = styles[k];
        long_caption = k == 3;
        char *name = g_strdup_printf("long-style%zu.pdf", k);
        char *sdb = g_strdup_printf("%s/long-style%zu.db", dir, k);
        char *spdf = path_in(name);
        int n = 0;
        make_long_table_pdf(spdf, false, &n);
        assert_true(long_caption ? n < n_rows : n == n_rows); /* the caption takes room */
        GString *want = long_csv(n);
        assert_int_equal(quire(NULL, NULL, "convert", "--db", sdb, spdf, NULL), 0);
        assert_int_equal(db_int(sdb, "SELECT count(*) FROM tables"), 3);
        assert_int_equal(db_int(sdb, "SELECT count(*) FROM tables t JOIN tables p"
                                     " ON p.id = t.continues_id AND p.page = t.page - 1"), 2);
        char *first_id = g_strdup_printf("%lld", db_int(sdb, "SELECT min(id) FROM tables"));
        assert_int_equal(quire(&out, NULL, "show", "--db", sdb, "--merged", "--format", "csv",
                               first_id, NULL), 0);
        assert_string_equal(out, want->str);
        g_string_free(want, TRUE);
        g_free(out);
        g_free(first_id);
        g_free(spdf);
        g_free(sdb);
        g_free(name);
    }
    long_rules = PDFGEN_RULES_GRID;
    long_caption = false;

    /* a different table at the top of the next page is not linked */
    char *pdf2 = path_in("two.pdf");
    make_long_table_pdf(pdf2, true, &n_rows);
    assert_int_equal(quire(NULL, NULL, "convert", "--db", db, pdf2, NULL), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables t JOIN document_paths p"
                                " ON p.document_id = t.document_id WHERE p.path LIKE '%two.pdf'"),
                     2);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables t JOIN document_paths p"
                                " ON p.document_id = t.document_id WHERE p.path LIKE '%two.pdf'"
                                " AND t.continues_id IS NOT NULL"), 0);
    g_string_free(csv, TRUE);
    g_string_free(md, TRUE);
    g_free(ids);
    g_free(pdf);
    g_free(pdf2);
    g_free(db);
    g_free(outdir);
}

/* The tiny model with the OTSL tags in its tokenizer, in a new folder of the test's (g_free). */
static char *make_otsl_model(const char *name)
{
    char *out = g_build_filename(dir, name, NULL);
    otsl_model_write(fixture_dir, out);
    return out;
}


/* --engine and --model: usage errors, and the model engine through convert and batch. */
static void test_e2e__model_engine(void **state)
{
    if (!fixture_dir)
        skip();
    char *pdf = path_in("model.pdf"), *db = path_in("model.db"), *bad = path_in("notamodel");
    make_pdf(pdf, "delta", 2);
    char *out = NULL, *err = NULL;
    assert_int_equal(quire(NULL, &err, "convert", "--db", db, "--engine", "bogus", pdf, NULL), 2);
    assert_non_null(strstr(err, "--engine: 'bogus' is not one of text, vlm, auto"));
    g_free(err);
    assert_int_equal(quire(NULL, &err, "watch", "--db", db, "--engine", "bogus", dir, NULL), 2);
    g_free(err);
    /* no model given, none shipped (the tests run in a temporary folder) */
    assert_int_equal(quire(NULL, &err, "convert", "--db", db, "--engine", "vlm", pdf, NULL), 2);
    assert_non_null(strstr(err, "--model DIR"));
    g_free(err);
    assert_int_equal(quire(NULL, &err, "batch", "--db", db, "--engine", "auto", dir, NULL), 2);
    assert_non_null(strstr(err, "--model DIR"));
    g_free(err);
    /* a folder that is not a model: the message names the file */
    g_mkdir_with_parents(bad, 0755);
    assert_int_equal(quire(NULL, &err, "convert", "--db", db, "--engine", "vlm", "--model", bad,
                           pdf, NULL), 2);
    assert_non_null(strstr(err, "config.json"));
    g_free(err);
    assert_false(g_file_test(db, G_FILE_TEST_EXISTS)); /* refused before any work */

    /* the plain tiny model writes no valid table: vlm stores the document without tables */
    int rc = quire(&out, &err, "convert", "--db", db, "--engine", "vlm", "--model", fixture_dir,
                   "--format", "json", pdf, NULL);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, err);
    assert_non_null(strstr(out, "\"error\": null"));
    g_free(out);
    g_free(err);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status = 'done'"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 0);
    /* ... and auto falls back to the text layer, recorded as "text" without a model id */
    assert_int_equal(quire(NULL, NULL, "convert", "--db", db, "--engine", "auto", "--model",
                           fixture_dir, pdf, NULL), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables WHERE engine = 'text' AND "
                                "model_id IS NULL"), 2);
    assert_int_equal(db_int(db, "SELECT count(*) FROM cells WHERE text = 'delta-p2-r3-c2'"), 1);

    /* with the OTSL tags the constrained model always writes a table: stored as "vlm" with the
     * model id, printed with engine "vlm" */
    char *model = make_otsl_model("tiny-otsl");
    rc = quire(&out, &err, "convert", "--db", db, "--engine", "vlm", "--model", model, "--format",
               "json", pdf, NULL);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, err);
    JsonParser *parser = json_parser_new();
    JsonObject *o = parse_line(parser, g_strstrip(out));
    JsonArray *tables = json_object_get_array_member(o, "tables");
    assert_int_equal(json_array_get_length(tables), 2);
    for (guint i = 0; i < 2; i++) {
        JsonObject *t = json_array_get_object_element(tables, i);
        assert_string_equal(json_object_get_string_member(t, "engine"), "vlm");
        assert_string_equal(json_object_get_string_member(t, "model_id"), "tiny-otsl");
        double c = json_object_get_double_member(t, "confidence");
        assert_true(c >= 0 && c <= 1);
    }
    g_object_unref(parser);
    g_free(out);
    g_free(err);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables WHERE engine = 'vlm' AND "
                                "model_id = 'tiny-otsl'"), 2);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 2);

    /* the same through batch, and through the configuration file instead of flags */
    char *conf = path_in("model.conf"), *folder = path_in("modelfolder");
    g_mkdir_with_parents(folder, 0755);
    for (int i = 0; i < 3; i++) {
        char *name = g_strdup_printf("%s/m%d.pdf", folder, i);
        char *tag = g_strdup_printf("m%d", i);
        make_pdf(name, tag, 1);
        g_free(name);
        g_free(tag);
    }
    char *text = g_strdup_printf("[tables]\nengine = vlm\n[model]\npath = %s\n[pipeline]\n"
                                 "workers = 2\n", model);
    assert_true(g_file_set_contents(conf, text, -1, NULL));
    rc = quire(&out, &err, "batch", "--config", conf, "--db", db, folder, NULL);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, err);
    assert_non_null(strstr(out, "3 stored"));
    g_free(out);
    g_free(err);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables WHERE engine = 'vlm' AND "
                                "model_id = 'tiny-otsl'"), 5);
    g_free(text);
    g_free(conf);
    g_free(folder);
    g_free(model);
    g_free(pdf);
    g_free(db);
    g_free(bad);
}

/* quire reprocess: stale documents by engine and model, --all, --doc, --dry-run, --made-by, a
 * changed file; ids of documents stay, their tables are replaced. */
static void test_e2e__reprocess(void **state)
{
    char *a = path_in("rp-a.pdf"), *b = path_in("rp-b.pdf"), *db = path_in("reprocess.db");
    make_pdf(a, "rpa", 2);
    make_pdf(b, "rpb", 1);
    char *out = NULL, *err = NULL;
    assert_int_equal(quire(NULL, NULL, "convert", "--db", db, a, b, NULL), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE engine = 'text'"
                                " AND model_id IS NULL"), 2);
    long long max_id = db_int(db, "SELECT max(id) FROM tables");
    long long doc_a = db_int(db, "SELECT document_id FROM document_paths WHERE path LIKE "
                                 "'%rp-a.pdf'");

    /* usage */
    assert_int_equal(quire(&out, NULL, "reprocess", "--help", NULL), 0);
    assert_non_null(strstr(out, "--made-by"));
    g_free(out);
    assert_int_equal(quire(NULL, &err, "reprocess", "--db", db, "extra", NULL), 2);
    assert_non_null(strstr(err, "unexpected argument"));
    g_free(err);
    assert_int_equal(quire(NULL, &err, "reprocess", "--db", db, "--before", "soon", NULL), 2);
    assert_non_null(strstr(err, "malformed date"));
    g_free(err);
    assert_int_equal(quire(NULL, NULL, "reprocess", "--db", db, "--engine", "fast", NULL), 2);

    /* everything was made by the engine configured now: nothing to do */
    assert_int_equal(quire(&out, NULL, "reprocess", "--db", db, NULL), 0);
    assert_string_equal(out, "reprocessed 0 of 0 documents with engine text: 0 tables (were 0), "
                             "0 failed, 0 not run\n");
    g_free(out);
    /* --all --dry-run lists both and changes nothing */
    assert_int_equal(quire(&out, NULL, "reprocess", "--db", db, "--all", "--dry-run", NULL), 0);
    assert_non_null(strstr(out, "rp-a.pdf\ttext\t2 tables\n"));
    assert_non_null(strstr(out, "would re-run 2 documents\n"));
    g_free(out);
    assert_int_equal(db_int(db, "SELECT max(id) FROM tables"), max_id);
    /* --all --doc: one document again, same id, new tables */
    assert_int_equal(quire(&out, NULL, "reprocess", "--db", db, "--engine", "text", "--all",
                           "--doc", "rp-a", NULL), 0);
    assert_string_equal(out, "reprocessed 1 of 1 document with engine text: 2 tables (were 2), "
                             "0 failed, 0 not run\n");
    g_free(out);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents"), 2);
    assert_int_equal(db_int(db, "SELECT count(*) FROM tables"), 3);
    char *sql = g_strdup_printf("SELECT count(*) FROM tables WHERE document_id = %lld AND id > %lld",
                                doc_a, max_id);
    assert_int_equal(db_int(db, sql), 2);
    g_free(sql);
    assert_int_equal(db_int(db, "SELECT count(*) FROM cells WHERE text = 'rpa-p2-r3-c2'"), 1);

    if (fixture_dir) {
        /* a model: both documents are stale, and run with it */
        char *model = make_otsl_model("tiny-otsl-rp");
        int rc = quire(&out, &err, "reprocess", "--db", db, "--engine", "vlm", "--model", model,
                       NULL);
        if (rc != 0)
            fail_msg("exit %d: %s", rc, err);
        assert_string_equal(out, "reprocessed 2 of 2 documents with engine vlm, model "
                                 "tiny-otsl-rp: 3 tables (were 3), 0 failed, 0 not run\n");
        g_free(out);
        g_free(err);
        assert_int_equal(db_int(db, "SELECT count(*) FROM tables WHERE engine = 'vlm' AND "
                                    "model_id = 'tiny-otsl-rp'"), 3);
        assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE engine = 'vlm' AND "
                                    "model_id = 'tiny-otsl-rp'"), 2);
        sql = g_strdup_printf("SELECT count(*) FROM tables WHERE document_id = %lld", doc_a);
        assert_int_equal(db_int(db, sql), 2);
        g_free(sql);
        /* again: nothing left to do */
        assert_int_equal(quire(&out, NULL, "reprocess", "--db", db, "--engine", "vlm", "--model",
                               model, NULL), 0);
        assert_true(g_str_has_prefix(out, "reprocessed 0 of 0 documents"));
        g_free(out);
        /* back to the text engine, choosing by model id */
        assert_int_equal(quire(&out, NULL, "reprocess", "--db", db, "--made-by", "tiny-otsl-rp",
                               NULL), 0);
        assert_true(g_str_has_prefix(out, "reprocessed 2 of 2 documents with engine text:"));
        g_free(out);
        assert_int_equal(db_int(db, "SELECT count(*) FROM tables WHERE engine = 'text'"), 3);
        g_free(model);
    }

    /* a file whose content changed: that document fails, keeps its results, no new document */
    long long b_tables = db_int(db, "SELECT max(id) FROM tables t JOIN document_paths p ON"
                                    " p.document_id = t.document_id WHERE p.path LIKE '%rp-b.pdf'");
    make_pdf(b, "changed", 1);
    assert_int_equal(quire(&out, &err, "reprocess", "--db", db, "--all", NULL), 1);
    assert_non_null(strstr(out, "reprocessed 1 of 2 documents"));
    assert_non_null(strstr(out, "1 failed"));
    assert_non_null(strstr(out, "rp-b.pdf: the file changed since its document was stored"));
    g_free(out);
    g_free(err);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents"), 2);
    assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status = 'done'"), 2);
    assert_int_equal(db_int(db, "SELECT max(id) FROM tables t JOIN document_paths p ON"
                                " p.document_id = t.document_id WHERE p.path LIKE '%rp-b.pdf'"),
                     b_tables);
    assert_int_equal(db_int(db, "SELECT count(*) FROM cells WHERE text LIKE 'changed%'"), 0);
    g_free(a);
    g_free(b);
    g_free(db);
}

/* Starts `quire convert --format json` on the files with stdout and stderr in files of the test
 * folder; returns its pid. */
static GPid start_convert(const char *db, char **files, int n, const char *out, const char *err)
{
    GString *cmd = g_string_new("exec ");
    char *q = g_shell_quote(quire_bin);
    g_string_append_printf(cmd, "%s convert --format json --db %s", q, db);
    g_free(q);
    for (int i = 0; i < n; i++)
        g_string_append_printf(cmd, " %s", files[i]);
    g_string_append_printf(cmd, " > %s 2> %s", out, err);
    char *argv[] = {"/bin/sh", "-c", cmd->str, NULL};
    GPid pid;
    assert_true(g_spawn_async(dir, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                              NULL));
    g_string_free(cmd, TRUE);
    return pid;
}

/* SIGINT once (finish what runs) or twice (abort it) while convert runs: every file still gets
 * its JSON line, those not processed say "cancelled", and no document is left running. */
static void test_e2e__convert_signals(void **state)
{
    enum { N = 16 };
    char *files[N];
    for (int i = 0; i < N; i++) {
        char *name = g_strdup_printf("sig%02d.pdf", i), *tag = g_strdup_printf("s%02d", i);
        files[i] = path_in(name);
        make_pdf(files[i], tag, 3);
        g_free(name);
        g_free(tag);
    }
    for (int signals = 1; signals <= 2; signals++) {
        char *db = g_strdup_printf("%s/sig%d.db", dir, signals);
        char *out = g_strdup_printf("%s/sig%d.out", dir, signals);
        char *err = g_strdup_printf("%s/sig%d.err", dir, signals);
        GPid pid = start_convert(db, files, N, out, err);
        wait_for(db, "SELECT count(*) > 0 FROM documents WHERE status = 'done'", 1, 30);
        for (int k = 0; k < signals; k++) {
            kill(pid, SIGINT);
            g_usleep(5000);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        char *text = NULL;
        assert_true(g_file_get_contents(out, &text, NULL, NULL));
        char **lines = g_strsplit(g_strstrip(text), "\n", -1);
        assert_int_equal(g_strv_length(lines), N);
        int cancelled = 0;
        JsonParser *parser = json_parser_new();
        for (int i = 0; i < N; i++) {
            JsonObject *o = parse_line(parser, lines[i]);
            assert_string_equal(json_object_get_string_member(o, "path"), files[i]);
            JsonNode *e = json_object_get_member(o, "error");
            if (!json_node_is_null(e)) {
                assert_string_equal(json_node_get_string(e), "cancelled");
                cancelled++;
            }
        }
        g_object_unref(parser);
        g_strfreev(lines);
        g_free(text);
        assert_int_equal(WEXITSTATUS(status), cancelled ? 1 : 0);
        long long done = db_int(db, "SELECT count(*) FROM documents WHERE status = 'done'");
        assert_int_equal(done + cancelled, N);
        assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status = 'running'"),
                         0);
        if (signals == 1)   /* the documents in progress finished: nothing waits */
            assert_int_equal(db_int(db, "SELECT count(*) FROM documents WHERE status <> 'done'"),
                             0);
        else                /* aborted ones went back to the queue */
            assert_true(db_int(db, "SELECT count(*) FROM documents WHERE status = 'queued'") <=
                        cancelled);
        g_free(db);
        g_free(out);
        g_free(err);
    }
    for (int i = 0; i < N; i++)
        g_free(files[i]);
}

static int setup(void **state)
{
    quire_bin = getenv("QUIRE_BIN");
    if (!quire_bin || access(quire_bin, X_OK) != 0) {
        fprintf(stderr, "test_e2e: set QUIRE_BIN to the quire binary (make test does)\n");
        return -1;
    }
    const char *fixtures = getenv("QUIRE_LLM_FIXTURES");
    fixture_dir = realpath(fixtures ? fixtures : "tests/fixtures/tiny-idefics3", NULL);
    if (!fixture_dir)
        fprintf(stderr, "test_e2e: no tiny model (tests/fixtures/tiny-idefics3 or "
                        "$QUIRE_LLM_FIXTURES): the model-engine test is skipped\n");
    strcpy(dir, "/tmp/quire-test-e2e-XXXXXX");
    return g_mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    int rc = system(cmd);
    g_free(cmd);
    free(fixture_dir);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e2e__convert_json_and_rows),
        cmocka_unit_test(test_e2e__dark_header_bands),
        cmocka_unit_test(test_e2e__bad_input_and_status),
        cmocka_unit_test(test_e2e__scanned_page_text_engine),
        cmocka_unit_test(test_e2e__scanned_page_read_by_reader),
        cmocka_unit_test(test_e2e__query_show_export),
        cmocka_unit_test(test_e2e__usage_errors),
        cmocka_unit_test(test_e2e__batch_and_rerun),
        cmocka_unit_test(test_e2e__batch_survives_kill_9),
        cmocka_unit_test(test_e2e__watch),
        cmocka_unit_test(test_e2e__model_engine),
        cmocka_unit_test(test_e2e__table_over_page_breaks),
        cmocka_unit_test(test_e2e__reprocess),
        cmocka_unit_test(test_e2e__convert_signals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
