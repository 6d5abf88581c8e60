/* test_workers.c - page selections and one document through pipeline_process, against a real
 * SQLite store and real PDFs drawn with cairo; the model engine with the tiny random model of
 * tests/fixtures/tiny-idefics3 ($QUIRE_LLM_FIXTURES), whose output is meaningless: the tests
 * check the plumbing (engine choice, fall-backs, what is recorded, one model, states per
 * thread), never the content of a model table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ingest/ingest.h"
#include "../vision/vision.h"
#include "../workers/workers.h"
#include "support/otslmodel.h"
#include "support/pdfgen.h"

static char dir[64];
static struct config cfg;
static struct store *store;

static int setup(void **state)
{
    strcpy(dir, "/tmp/quire-test-workers-XXXXXX");
    if (!g_mkdtemp(dir) || config_init(&cfg))
        return -1;
    char *db = g_build_filename(dir, "t.db", NULL);
    config_set_string(&cfg.db_path, db);
    g_free(db);
    return store_open(cfg.db_path, 1000, &store, NULL);
}

static int teardown(void **state)
{
    store_close(store);
    config_release(&cfg);
    char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    int rc = system(cmd);
    g_free(cmd);
    return rc;
}

static void test_workers__page_set(void **state)
{
    struct page_set s;
    char *msg = NULL;
    assert_int_equal(page_set_parse("1-3,7,10-", &s, NULL), 0);
    assert_int_equal(s.n_ranges, 3);
    assert_true(page_set_contains(&s, 1) && page_set_contains(&s, 3) && page_set_contains(&s, 7));
    assert_false(page_set_contains(&s, 4) || page_set_contains(&s, 9));
    assert_true(page_set_contains(&s, 10) && page_set_contains(&s, 5000));
    page_set_release(&s);
    const char *bad[] = {"", "0", "3-1", "a", "1,,2", "1-2-3", "-4"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(page_set_parse(bad[i], &s, &msg), QUIRE_EINVAL);
        assert_non_null(strstr(msg, "invalid page selection"));
        free(msg);
        msg = NULL;
    }
}

/* A one-page PDF with a 3x3 ruled table. */
static char *make_table_pdf(const char *name, const char *corner)
{
    char *path = g_build_filename(dir, name, NULL);
    int err = 0;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    assert_non_null(doc);
    const char *cells[] = {"Region", "Units", "Revenue", corner, "1,200", "3.5%",
                           "South", "980", "(2.1%)"};
    struct pdfgen_table t = {.rows = 3, .cols = 3, .cells = cells};
    struct pdfgen_table_style style;
    pdfgen_table_style_init(&style);
    style.font.size = 11;
    assert_int_equal(pdfgen_table(doc, 72, 100, &t, &style, true, NULL, NULL), 0);
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);
    return path;
}

static struct doc_job *run(const char *path, bool force)
{
    struct doc_job *job = doc_job_new(path);
    assert_non_null(job);
    job->force = force;
    pipeline_process(job, store, &cfg, NULL, NULL, NULL, NULL);
    return job;
}

static void test_workers__stores_table_once(void **state)
{
    char *path = make_table_pdf("a.pdf", "North");
    struct doc_job *job = run(path, false);
    if (job->outcome != JOB_STORED)
        fail_msg("outcome %d: %s", job->outcome, job->message ? job->message : "");
    assert_int_equal(job->n_pages_total, 1);
    assert_int_equal(job->result.n_tables, 1);
    const struct table *t = job->result.tables[0].table;
    assert_int_equal(t->n_rows, 3);
    assert_int_equal(t->n_cols, 3);
    assert_string_equal(table_text_at(t, 1, 0), "North");
    assert_string_equal(table_text_at(t, 2, 2), "(2.1%)");
    assert_true(job->result.tables[0].id > 0);
    int64_t doc_id = job->doc_id;
    doc_job_free(job);

    /* the same file again, and a copy under another name: nothing is stored twice */
    job = run(path, false);
    assert_int_equal(job->outcome, JOB_SKIPPED);
    doc_job_free(job);
    char *copy = g_build_filename(dir, "copy.pdf", NULL);
    char *contents;
    gsize len;
    assert_true(g_file_get_contents(path, &contents, &len, NULL));
    assert_true(g_file_set_contents(copy, contents, (gssize)len, NULL));
    g_free(contents);
    job = run(copy, false);
    assert_int_equal(job->outcome, JOB_SKIPPED);
    assert_int_equal(job->doc_id, doc_id);
    doc_job_free(job);

    /* forced: processed again, results replaced (still one table) */
    job = run(copy, true);
    assert_int_equal(job->outcome, JOB_STORED);
    doc_job_free(job);
    struct store_status st;
    assert_int_equal(store_status_get(store, &st), 0);
    assert_int_equal(st.documents[DOC_DONE], 1);
    assert_int_equal(st.tables, 1);
    store_status_release(&st);
    g_free(copy);
    g_free(path);
}

static void test_workers__failures_are_recorded(void **state)
{
    char *missing = g_build_filename(dir, "deleted.pdf", NULL);
    struct doc_job *job = run(missing, false);
    assert_int_equal(job->outcome, JOB_FAILED);
    assert_int_equal(job->err, QUIRE_ENOENT);
    assert_non_null(strstr(job->message, "deleted"));
    doc_job_free(job);

    /* a queued document whose file vanished before its turn is marked failed */
    char *gone = make_table_pdf("gone.pdf", "West");
    char hex[65];
    int64_t size, doc_id;
    enum doc_status status;
    bool is_new;
    assert_int_equal(file_sha256(gone, hex, &size), 0);
    assert_int_equal(store_document_add(store, gone, hex, size, 1, &doc_id, &status, &is_new), 0);
    assert_int_equal(status, DOC_QUEUED);
    assert_int_equal(unlink(gone), 0);
    job = run(gone, false);
    assert_int_equal(job->outcome, JOB_FAILED);
    assert_int_equal(job->doc_id, doc_id);
    doc_job_free(job);
    struct store_status gst;
    assert_int_equal(store_status_get(store, &gst), 0);
    bool marked = false;
    for (size_t i = 0; i < gst.n_failures; i++)
        marked |= gst.failures[i].document_id == doc_id &&
                  strstr(gst.failures[i].error, "deleted") != NULL;
    assert_true(marked);
    store_status_release(&gst);
    g_free(gone);

    char *text = g_build_filename(dir, "notes.pdf", NULL);
    assert_int_equal(pdfgen_write_not_pdf(text), 0);
    job = run(text, false);
    assert_int_equal(job->outcome, JOB_FAILED);
    assert_int_equal(job->err, QUIRE_ENOTPDF);
    doc_job_free(job);

    char *cut = g_build_filename(dir, "cut.pdf", NULL);
    assert_int_equal(pdfgen_write_truncated(cut, 300), 0);
    job = run(cut, false);
    assert_int_equal(job->outcome, JOB_FAILED);
    doc_job_free(job);

    struct store_status st;
    assert_int_equal(store_status_get(store, &st), 0);
    assert_true(st.documents[DOC_FAILED] >= 2);
    bool found = false;
    for (size_t i = 0; i < st.n_failures; i++)
        if (strstr(st.failures[i].path, "notes.pdf"))
            found = strstr(st.failures[i].error, "not a PDF") != NULL;
    assert_true(found);
    store_status_release(&st);
    g_free(missing);
    g_free(text);
    g_free(cut);
}

static void test_workers__limits(void **state)
{
    char *path = g_build_filename(dir, "long.pdf", NULL);
    assert_int_equal(pdfgen_write_blank(path, 12, 200, 200), 0);
    cfg.max_pages = 10;
    struct doc_job *job = run(path, false);
    cfg.max_pages = 2000;
    assert_int_equal(job->outcome, JOB_FAILED);
    assert_int_equal(job->err, QUIRE_ELIMIT);
    assert_non_null(strstr(job->message, "max_pages"));
    doc_job_free(job);
    /* page selection: only page 2 of a 12-page document */
    job = doc_job_new(path);
    assert_int_equal(page_set_parse("2", &job->pages, NULL), 0);
    job->force = true;
    pipeline_process(job, store, &cfg, NULL, NULL, NULL, NULL);
    assert_int_equal(job->outcome, JOB_STORED);
    assert_int_equal(job->result.n_pages, 1);
    assert_int_equal(job->result.pages[0].page, 2);
    doc_job_free(job);
    g_free(path);
}

/* 2,000 pages (the default max_pages) go through; one page more would be over the limit. */
static void test_workers__two_thousand_pages(void **state)
{
    char *path = g_build_filename(dir, "thick.pdf", NULL);
    assert_int_equal(pdfgen_write_blank(path, 2000, 100, 100), 0);
    struct doc_job *job = run(path, false);
    if (job->outcome != JOB_STORED)
        fail_msg("outcome %d: %s", job->outcome, job->message ? job->message : "");
    assert_int_equal(job->n_pages_total, 2000);
    assert_int_equal(job->result.n_pages, 2000);
    assert_int_equal(job->result.n_tables, 0);
    doc_job_free(job);
    g_free(path);
}

static void test_workers__max_seconds(void **state)
{
    char *path = g_build_filename(dir, "slow.pdf", NULL);
    assert_int_equal(pdfgen_write_blank(path, 50, 200, 200), 0);
    double saved = cfg.max_seconds;
    cfg.max_seconds = 1e-9; /* over the limit at the first page boundary */
    struct doc_job *job = run(path, false);
    cfg.max_seconds = saved;
    assert_int_equal(job->outcome, JOB_FAILED);
    assert_int_equal(job->err, QUIRE_ETIMEOUT);
    assert_non_null(strstr(job->message, "max_seconds"));
    doc_job_free(job);
    g_free(path);
}

static void test_workers__abort_requeues(void **state)
{
    char *path = make_table_pdf("abort.pdf", "East");
    struct doc_job *job = doc_job_new(path);
    atomic_int abort_flag = 1;
    pipeline_process(job, store, &cfg, NULL, NULL, &abort_flag, NULL);
    assert_int_equal(job->outcome, JOB_CANCELLED);
    doc_job_free(job);
    struct store_status st;
    assert_int_equal(store_status_get(store, &st), 0);
    assert_true(st.documents[DOC_QUEUED] >= 1);
    store_status_release(&st);
    g_free(path);
}

/* A PDF of n pages, each with a 3x3 ruled table whose corner cell names its page ("P1"...). */
static char *make_pages_pdf(const char *name, int n)
{
    char *path = g_build_filename(dir, name, NULL);
    int err = 0;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    assert_non_null(doc);
    struct pdfgen_table_style style;
    pdfgen_table_style_init(&style);
    style.font.size = 11;
    for (int p = 1; p <= n; p++) {
        if (p > 1)
            assert_int_equal(pdfgen_page_new(doc, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT), 0);
        char corner[16];
        snprintf(corner, sizeof corner, "P%d", p);
        const char *cells[] = {"Region", "Units", "Revenue", corner, "1,200", "3.5%",
                               "South", "980", "(2.1%)"};
        struct pdfgen_table t = {.rows = 3, .cols = 3, .cells = cells};
        /* a different height on every page, so no table continues the one before */
        assert_int_equal(pdfgen_table(doc, 72, 100 + 40 * (p % 5), &t, &style, true, NULL, NULL),
                         0);
    }
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);
    return path;
}

/* "page:corner;" for every table of a result, in the result's order (g_free). */
static char *result_summary(const struct doc_result *r)
{
    GString *s = g_string_new(NULL);
    for (size_t i = 0; i < r->n_pages; i++)
        g_string_append_printf(s, "[%d]", r->pages[i].page);
    for (size_t i = 0; i < r->n_tables; i++)
        g_string_append_printf(s, "%d:%s:%zu;", r->tables[i].page,
                               table_text_at(r->tables[i].table, 1, 0), r->tables[i].continues);
    return g_string_free(s, FALSE);
}

static void test_workers__lanes(void **state)
{
    struct lanes *l = lanes_new(2);
    assert_non_null(l);
    assert_int_equal(lanes_total(l), 2);
    assert_false(lanes_wanted(l));
    assert_true(lanes_try_acquire(l));
    assert_true(lanes_try_acquire(l));
    assert_false(lanes_try_acquire(l));
    lanes_release(l);
    lanes_acquire(l); /* one was free: no wait */
    lanes_release(l);
    lanes_release(l);
    lanes_free(l);
}

/* Helpers read some of a document's pages; what is stored is the same as one thread's. */
static void test_workers__pages_over_helpers(void **state)
{
    char *path = make_pages_pdf("pages.pdf", 12);
    struct doc_job *job = run(path, true);
    assert_int_equal(job->outcome, JOB_STORED);
    assert_int_equal(job->page_threads, 1);
    assert_int_equal(job->pages_by_helpers, 0);
    assert_int_equal(job->result.n_tables, 12);
    char *want = result_summary(&job->result);
    doc_job_free(job);

    struct lanes *lanes = lanes_new(3);
    assert_non_null(lanes);
    lanes_acquire(lanes); /* the document's worker */
    for (int rep = 0; rep < 3; rep++) {
        job = doc_job_new(path);
        job->force = true;
        pipeline_process(job, store, &cfg, NULL, NULL, NULL, lanes);
        if (job->outcome != JOB_STORED)
            fail_msg("outcome %d: %s", job->outcome, job->message ? job->message : "");
        assert_true(job->page_threads >= 2 && job->page_threads <= 3 + 16);
        char *got = result_summary(&job->result);
        assert_string_equal(got, want);
        g_free(got);
        doc_job_free(job);
        /* every helper gave its lane back */
        assert_true(lanes_try_acquire(lanes));
        assert_true(lanes_try_acquire(lanes));
        assert_false(lanes_try_acquire(lanes));
        lanes_release(lanes);
        lanes_release(lanes);
    }
    /* a page selection, and the database holds the last run's 12 tables in page order */
    job = doc_job_new(path);
    job->force = true;
    assert_int_equal(page_set_parse("2-4,9", &job->pages, NULL), 0);
    pipeline_process(job, store, &cfg, NULL, NULL, NULL, lanes);
    assert_int_equal(job->outcome, JOB_STORED);
    char *got = result_summary(&job->result);
    assert_string_equal(got, "[2][3][4][9]2:P2:0;3:P3:0;4:P4:0;9:P9:0;");
    g_free(got);
    doc_job_free(job);
    /* abort: cancelled, whoever reads */
    atomic_int abort_flag = 1;
    job = doc_job_new(path);
    job->force = true;
    pipeline_process(job, store, &cfg, NULL, NULL, &abort_flag, lanes);
    assert_int_equal(job->outcome, JOB_CANCELLED);
    doc_job_free(job);
    lanes_release(lanes);
    lanes_free(lanes);
    g_free(want);
    g_free(path);
}

/* --- the model engine ----------------------------------------------------------------------- */

static const char *fixture_dir(void)
{
    const char *d = getenv("QUIRE_LLM_FIXTURES");
    return d ? d : "tests/fixtures/tiny-idefics3";
}

static void copy_file(const char *from, const char *to)
{
    char *contents;
    gsize len;
    assert_true(g_file_get_contents(from, &contents, &len, NULL));
    assert_true(g_file_set_contents(to, contents, (gssize)len, NULL));
    g_free(contents);
}

/* The tiny model with the OTSL tags in its tokenizer, in a new folder of the test's (g_free). */
static char *make_otsl_model(const char *name)
{
    char *out = g_build_filename(dir, name, NULL);
    otsl_model_write(fixture_dir(), out);
    return out;
}

/* The first column of the first row of a query on the test database, as text (g_free). */
static char *db_text(const char *sql)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(cfg.db_path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = g_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Runs one document with cfg's engine and `engine`. */
static struct doc_job *run_engine(const char *path, struct model_engine *engine)
{
    struct doc_job *job = doc_job_new(path);
    assert_non_null(job);
    job->force = true;
    pipeline_process(job, store, &cfg, engine, NULL, NULL, NULL);
    if (job->outcome != JOB_STORED)
        fail_msg("outcome %d: %s", job->outcome, job->message ? job->message : "");
    return job;
}

static void set_engine(const char *engine, const char *model)
{
    assert_int_equal(config_set_string(&cfg.engine, engine), 0);
    assert_int_equal(config_set_string(&cfg.model_path, model ? model : ""), 0);
}

static void test_workers__engine_errors(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int err = 0;
    char *msg = NULL;
    /* vlm or auto without a model (none is shipped in models/) */
    const char *engines[] = {"vlm", "auto"};
    for (int i = 0; i < 2; i++) {
        set_engine(engines[i], NULL);
        assert_null(pipeline_new(&loop, &cfg, NULL, NULL, &err, &msg));
        assert_int_equal(err, QUIRE_ECONFIG);
        assert_non_null(strstr(msg, "--model DIR"));
        assert_non_null(strstr(msg, "[model] path"));
        free(msg);
        msg = NULL;
    }
    /* a folder that is no model, a malformed config.json, a cut-off safetensors file: the
     * message names the file */
    char *bad = g_build_filename(dir, "badmodel", NULL);
    g_mkdir_with_parents(bad, 0755);
    set_engine("vlm", bad);
    assert_null(pipeline_new(&loop, &cfg, NULL, NULL, &err, &msg));
    assert_int_equal(err, QUIRE_ENOENT);
    assert_non_null(strstr(msg, "config.json"));
    free(msg);
    msg = NULL;
    char *f = g_build_filename(bad, "config.json", NULL);
    assert_true(g_file_set_contents(f, "{\"model_type\": ", -1, NULL));
    assert_null(pipeline_new(&loop, &cfg, NULL, NULL, &err, &msg));
    assert_int_equal(err, QUIRE_EMODEL);
    assert_non_null(strstr(msg, "config.json"));
    free(msg);
    msg = NULL;
    char *src = g_build_filename(fixture_dir(), "config.json", NULL);
    copy_file(src, f);
    g_free(src);
    char *st = g_build_filename(bad, "model.safetensors", NULL);
    src = g_build_filename(fixture_dir(), "model.safetensors", NULL);
    char *contents;
    gsize len;
    assert_true(g_file_get_contents(src, &contents, &len, NULL));
    assert_true(g_file_set_contents(st, contents, (gssize)(len / 2), NULL));
    g_free(contents);
    assert_null(pipeline_new(&loop, &cfg, NULL, NULL, &err, &msg));
    assert_int_equal(err, QUIRE_EMODEL);
    assert_non_null(strstr(msg, "model.safetensors"));
    free(msg);
    msg = NULL;
    /* text needs no model, even a bad one */
    set_engine("text", bad);
    struct pipeline *p = pipeline_new(&loop, &cfg, NULL, NULL, &err, &msg);
    assert_non_null(p);
    assert_null(pipeline_model_engine(p));
    pipeline_free(p);
    set_engine("text", NULL);
    assert_int_equal(uv_loop_close(&loop), 0);
    g_free(src);
    g_free(st);
    g_free(f);
    g_free(bad);
}

/* engine = vlm with OTSL-constrained decoding: the model's table is stored, with "vlm" and the
 * model id, in the job and in the database. */
static void test_workers__vlm_stores_model_table(void **state)
{
    char *model = make_otsl_model("tiny-otsl");
    char *path = make_table_pdf("vlm.pdf", "North");
    set_engine("vlm", model);
    int err = 0;
    char *msg = NULL;
    struct model_engine *e = model_engine_load(&cfg, &err, &msg);
    if (!e)
        fail_msg("%s", msg);
    assert_string_equal(model_engine_id(e), "tiny-otsl");
    struct doc_job *job = run_engine(path, e);
    assert_int_equal(job->result.n_tables, 1);
    const struct table_result *tr = &job->result.tables[0];
    assert_string_equal(tr->engine, "vlm");
    assert_string_equal(tr->model_id, "tiny-otsl");
    assert_true(tr->confidence > 0 && tr->confidence <= 1);
    assert_true(tr->table->n_rows >= 1 && tr->table->n_cols >= 1);
    assert_int_equal(table_validate(tr->table, NULL), 0);
    char *sql = g_strdup_printf("SELECT engine || ' ' || model_id FROM tables WHERE id = %lld",
                                (long long)tr->id);
    char *row = db_text(sql);
    assert_string_equal(row, "vlm tiny-otsl");
    g_free(row);
    g_free(sql);
    doc_job_free(job);
    struct model_engine_stats st;
    model_engine_get_stats(e, &st);
    assert_int_equal(st.states_created, 1);
    assert_int_equal(st.decodes, 1);
    model_engine_free(e);
    set_engine("text", NULL);
    g_free(path);
    g_free(model);
}

/* The plain fixture's tokenizer has no OTSL tags: unconstrained, the random model writes no
 * table. vlm drops the region; auto falls back to the text layer and records "text". */
static void test_workers__invalid_output(void **state)
{
    char *path = make_table_pdf("invalid.pdf", "North");
    set_engine("vlm", fixture_dir());
    int err = 0;
    struct model_engine *e = model_engine_load(&cfg, &err, NULL);
    assert_non_null(e);
    assert_string_equal(model_engine_id(e), "tiny-idefics3");
    struct doc_job *job = run_engine(path, e);
    assert_int_equal(job->result.n_tables, 0);
    doc_job_free(job);

    assert_int_equal(config_set_string(&cfg.engine, "auto"), 0);
    job = run_engine(path, e);
    assert_int_equal(job->result.n_tables, 1);
    const struct table_result *tr = &job->result.tables[0];
    assert_string_equal(tr->engine, "text");
    assert_null(tr->model_id);
    assert_string_equal(table_text_at(tr->table, 1, 0), "North");
    char *sql = g_strdup_printf("SELECT coalesce(model_id, 'null') FROM tables WHERE id = %lld",
                                (long long)tr->id);
    char *row = db_text(sql);
    assert_string_equal(row, "null");
    g_free(row);
    g_free(sql);
    doc_job_free(job);
    model_engine_free(e);
    set_engine("text", NULL);
    g_free(path);
}

/* auto with a valid model table: below min_confidence the text layer's table ("text"); at or
 * above it the model's structure ("auto", with the model id). */
static void test_workers__auto_confidence(void **state)
{
    char *model = make_otsl_model("tiny-otsl-auto");
    char *path = make_table_pdf("auto.pdf", "North");
    set_engine("auto", model);
    int err = 0;
    struct model_engine *e = model_engine_load(&cfg, &err, NULL);
    assert_non_null(e);
    double saved = cfg.min_confidence;
    cfg.min_confidence = 0; /* every region, and any model table */
    struct doc_job *job = run_engine(path, e);
    assert_int_equal(job->result.n_tables, 1);
    assert_string_equal(job->result.tables[0].engine, "auto");
    assert_string_equal(job->result.tables[0].model_id, "tiny-otsl-auto");
    double model_confidence = job->result.tables[0].confidence;
    doc_job_free(job);
    /* The region's own confidence (0.8 for a ruled grid) is above the random model's: a
     * threshold between the two keeps the region and rejects the model's table. */
    if (model_confidence >= 0.75)
        skip();
    cfg.min_confidence = 0.75;
    job = run_engine(path, e);
    cfg.min_confidence = saved;
    assert_int_equal(job->result.n_tables, 1);
    assert_string_equal(job->result.tables[0].engine, "text");
    assert_null(job->result.tables[0].model_id);
    assert_string_equal(table_text_at(job->result.tables[0].table, 2, 2), "(2.1%)");
    doc_job_free(job);
    model_engine_free(e);
    set_engine("text", NULL);
    g_free(path);
    g_free(model);
}

/* Snapping: a model grid that matches the ruled table takes the PDF's words; one that does not
 * keeps its own text. */
static void test_workers__snap_text(void **state)
{
    char *path = make_table_pdf("snap.pdf", "North");
    struct document *doc = NULL;
    assert_int_equal(document_open(path, NULL, &doc, NULL), 0);
    struct page_options po = {.dpi = 150, .max_pixels = 40000000, .words = true};
    struct page *page = NULL;
    assert_int_equal(document_load_page(doc, 0, &po, &page, NULL), 0);
    struct page_layout *layout = NULL;
    assert_int_equal(vision_analyze(page, NULL, &layout), 0);
    assert_int_equal(layout->n_regions, 1);
    struct table *t = NULL;
    assert_int_equal(table_from_otsl("<otsl><ched>a<ched>b<ched>c<nl><fcel>d<ecel><fcel>f<nl>"
                                     "<fcel>g<fcel>h<fcel>i<nl></otsl>", false, &t, NULL, NULL), 0);
    int n = 0;
    assert_int_equal(model_snap_text(page, layout, &layout->regions[0], t, &n), 0);
    assert_int_equal(n, 9);
    assert_string_equal(table_text_at(t, 0, 0), "Region");
    assert_string_equal(table_text_at(t, 1, 0), "North");
    assert_string_equal(table_text_at(t, 1, 1), "1,200");
    assert_string_equal(table_text_at(t, 2, 2), "(2.1%)");
    assert_int_equal(t->header_rows, 1);
    assert_true(table_cell_at(t, 1, 1)->has_bbox);
    table_free(t);
    /* 2 x 2 against a 3 x 3 grid: nothing snaps */
    assert_int_equal(table_from_otsl("<otsl><fcel>a<fcel>b<nl><fcel>c<fcel>d<nl></otsl>", false,
                                     &t, NULL, NULL), 0);
    assert_int_equal(model_snap_text(page, layout, &layout->regions[0], t, &n), 0);
    assert_int_equal(n, 0);
    assert_string_equal(table_text_at(t, 1, 1), "d");
    table_free(t);
    page_layout_free(layout);
    page_free(page);
    document_close(doc);
    g_free(path);
}

struct pool_run {
    int done, stored;
    struct doc_job *jobs[6];
};

static void on_pool_done(struct doc_job *job, void *user)
{
    struct pool_run *r = user;
    r->stored += job->outcome == JOB_STORED && job->result.n_tables == 1 &&
                 !strcmp(job->result.tables[0].engine, "vlm");
    r->jobs[r->done++] = job;
}

/* Through the real pool: the model is loaded once for the pipeline, every job's table carries
 * the same model id pointer (the one engine's), and no more states exist than worker threads. */
static void test_workers__model_loaded_once(void **state)
{
    char *model = make_otsl_model("tiny-otsl-pool");
    set_engine("vlm", model);
    cfg.workers = 2;
    uv_loop_t loop;
    uv_loop_init(&loop);
    long loads = model_engine_loads();
    struct pool_run r = {0};
    int err = 0;
    char *msg = NULL;
    struct pipeline *p = pipeline_new(&loop, &cfg, on_pool_done, &r, &err, &msg);
    if (!p)
        fail_msg("%s", msg);
    assert_int_equal(model_engine_loads(), loads + 1);
    struct model_engine *e = pipeline_model_engine(p);
    for (int i = 0; i < 6; i++) {
        char *name = g_strdup_printf("pool%d.pdf", i);
        char *corner = g_strdup_printf("N%d", i);
        char *path = make_table_pdf(name, corner);
        struct doc_job *job = doc_job_new(path);
        job->force = true;
        assert_int_equal(pipeline_submit(p, job), 0);
        g_free(path);
        g_free(corner);
        g_free(name);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.done, 6);
    assert_int_equal(r.stored, 6);
    for (int i = 0; i < 6; i++) {
        assert_ptr_equal(r.jobs[i]->result.tables[0].model_id, model_engine_id(e));
        doc_job_free(r.jobs[i]);
    }
    assert_int_equal(model_engine_loads(), loads + 1);
    struct model_engine_stats st;
    model_engine_get_stats(e, &st);
    assert_int_equal(st.decodes, 6);
    assert_true(st.states_created >= 1 && st.states_created <= 2);
    assert_true(st.states_in_use_max <= 2);
    assert_int_equal(st.states_created, st.states_in_use_max);
    pipeline_free(p);
    assert_int_equal(uv_loop_close(&loop), 0);
    cfg.workers = 0;
    set_engine("text", NULL);
    g_free(model);
}

/* A gray test crop: white, a frame, and blocks whose places differ from crop to crop. */
static uint8_t *test_crop(int w, int h, int seed)
{
    uint8_t *g = malloc((size_t)w * (size_t)h);
    assert_non_null(g);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            bool frame = x == 0 || y == 0 || x == w - 1 || y == h - 1;
            bool block = ((x / 6 + y / 4 + seed) % 5) == 0 && y > 2 && x > 3;
            g[(size_t)y * w + x] = frame ? 0 : block ? (uint8_t)(40 + 30 * seed) : 255;
        }
    return g;
}

/* A region whose text runs at 90, 180 or 270 degrees is turned upright before the model sees
 * it: the model's input for the sideways crop is the one for the upright crop. The sideways
 * crops are made from the upright one by the page geometry (text at 90 runs downwards with its
 * tops to the right, at 270 upwards with its tops to the left), inside a wider page raster. */
static void test_workers__rotated_crop_upright(void **state)
{
    char *model = make_otsl_model("tiny-otsl-rotate");
    set_engine("vlm", model);
    int err = 0;
    struct model_engine *e = model_engine_load(&cfg, &err, NULL);
    assert_non_null(e);
    int uw = 45, uh = 20; /* upright: wider than tall, like a line of text */
    uint8_t *up = test_crop(uw, uh, 1);
    up[0] = 7; /* the start of the first line: top left when upright */
    static const int rotations[] = {0, 90, 180, 270};
    int want_w, want_h;
    uint8_t *want = model_engine_input_image(e, up, uw, uh, (size_t)uw, 1, 0, &want_w, &want_h);
    assert_non_null(want);
    for (size_t k = 0; k < sizeof rotations / sizeof *rotations; k++) {
        int rot = rotations[k];
        bool turn = rot == 90 || rot == 270;
        int rw = turn ? uh : uw, rh = turn ? uw : uh;
        size_t stride = (size_t)rw + 13; /* a crop of a wider page raster */
        uint8_t *page = calloc(stride * (size_t)rh, 1);
        assert_non_null(page);
        for (int y = 0; y < rh; y++)
            for (int x = 0; x < rw; x++) {
                int ux, uy;
                if (rot == 90) { /* reads downwards; the tops of the letters face right */
                    ux = y;
                    uy = rw - 1 - x;
                } else if (rot == 270) { /* reads upwards; tops face left */
                    ux = rh - 1 - y;
                    uy = x;
                } else if (rot == 180) {
                    ux = uw - 1 - x;
                    uy = uh - 1 - y;
                } else {
                    ux = x;
                    uy = y;
                }
                page[(size_t)y * stride + x] = up[(size_t)uy * uw + ux];
            }
        size_t corner = rot == 90 ? (size_t)rw - 1 : rot == 270 ? (size_t)(rh - 1) * stride
                      : rot == 180 ? (size_t)(rh - 1) * stride + (size_t)rw - 1 : 0;
        assert_int_equal(page[corner], 7); /* where the first line starts on the page */
        int ow, oh;
        uint8_t *turned = model_engine_upright(page, rw, rh, stride, rot, &ow, &oh);
        assert_non_null(turned);
        assert_int_equal(ow, uw);
        assert_int_equal(oh, uh);
        assert_memory_equal(turned, up, (size_t)uw * uh);
        free(turned);
        int pw, ph;
        uint8_t *got = model_engine_input_image(e, page, rw, rh, stride, 1, rot, &pw, &ph);
        assert_non_null(got);
        assert_int_equal(pw, want_w);
        assert_int_equal(ph, want_h);
        assert_memory_equal(got, want, (size_t)pw * ph);
        free(got);
        /* and the prepared input decodes like the upright crop */
        struct model_read a, b;
        assert_int_equal(model_engine_prepare(e, page, rw, rh, stride, 1, rot, &a), 0);
        assert_int_equal(model_engine_prepare(e, up, uw, uh, (size_t)uw, 1, 0, &b), 0);
        assert_int_equal(model_engine_read_batch(e, &a, 1, NULL, 0), 0);
        assert_int_equal(model_engine_read_batch(e, &b, 1, NULL, 0), 0);
        assert_int_equal(a.err, b.err);
        assert_true(a.confidence == b.confidence);
        if (!a.err)
            assert_true(table_equal(a.table, b.table));
        model_read_release(&a);
        model_read_release(&b);
        free(page);
    }
    free(want);
    free(up);
    model_engine_free(e);
    set_engine("text", NULL);
    g_free(model);
}

/* Several regions read as batches give each the table (and confidence) it gets alone; a batch
 * with the abort flag set or the deadline passed stops with QUIRE_ECANCELLED / QUIRE_ETIMEOUT
 * and leaves no result, and the state goes back to the pool. */
static void test_workers__batch_reads_match_single(void **state)
{
    char *model = make_otsl_model("tiny-otsl-batch");
    set_engine("vlm", model);
    int err = 0;
    struct model_engine *e = model_engine_load(&cfg, &err, NULL);
    assert_non_null(e);
    assert_int_equal(model_engine_max_batch(e), 3);
    enum { N = 6 };
    static const int sizes[N][2] = {{60, 40}, {90, 30}, {40, 70}, {120, 80}, {50, 50}, {33, 21}};
    uint8_t *crops[N];
    struct table *alone[N];
    double conf[N];
    int errs[N];
    for (int i = 0; i < N; i++) {
        crops[i] = test_crop(sizes[i][0], sizes[i][1], i);
        char *msg = NULL;
        errs[i] = model_engine_read_table(e, crops[i], sizes[i][0], sizes[i][1],
                                          (size_t)sizes[i][0], 1, &alone[i], &conf[i], &msg);
        free(msg);
    }
    struct model_read reads[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(model_engine_prepare(e, crops[i], sizes[i][0], sizes[i][1],
                                              (size_t)sizes[i][0], 1, 0, &reads[i]), 0);
    struct model_engine_stats before, after;
    model_engine_get_stats(e, &before);
    assert_int_equal(model_engine_read_batch(e, reads, N, NULL, now_seconds() + 3600), 0);
    model_engine_get_stats(e, &after);
    assert_int_equal(after.decodes - before.decodes, N);
    assert_int_equal(after.batches - before.batches, 2); /* 3 + 3 */
    assert_int_equal(after.batch_max, 3);
    for (int i = 0; i < N; i++) {
        assert_int_equal(reads[i].err, errs[i]);
        assert_true(reads[i].confidence == conf[i]);
        if (!errs[i])
            assert_true(table_equal(reads[i].table, alone[i]));
        model_read_release(&reads[i]);
    }
    /* interrupted */
    atomic_int abort_flag = 1;
    for (int i = 0; i < 3; i++)
        assert_int_equal(model_engine_prepare(e, crops[i], sizes[i][0], sizes[i][1],
                                              (size_t)sizes[i][0], 1, 0, &reads[i]), 0);
    assert_int_equal(model_engine_read_batch(e, reads, 3, &abort_flag, 0), QUIRE_ECANCELLED);
    abort_flag = 0;
    assert_int_equal(model_engine_read_batch(e, reads, 3, &abort_flag, now_seconds() - 1),
                     QUIRE_ETIMEOUT);
    for (int i = 0; i < 3; i++) {
        assert_null(reads[i].table);
        model_read_release(&reads[i]);
    }
    model_engine_get_stats(e, &before);
    assert_int_equal(before.decodes, after.decodes);
    for (int i = 0; i < N; i++) {
        table_free(alone[i]);
        free(crops[i]);
    }
    model_engine_free(e); /* asserts that no state is still in use */
    set_engine("text", NULL);
    g_free(model);
}

/* A page with three tables: the model reads them as one batch, and each is stored. */
static void test_workers__page_regions_batched(void **state)
{
    char *model = make_otsl_model("tiny-otsl-page");
    char *path = g_build_filename(dir, "three.pdf", NULL);
    int err = 0;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    assert_non_null(doc);
    struct pdfgen_table_style style;
    pdfgen_table_style_init(&style);
    style.font.size = 11;
    for (int k = 0; k < 3; k++) {
        const char *cells[] = {"Region", "Units", "Revenue", k == 0 ? "North" : k == 1 ? "East"
                               : "West", "1,200", "3.5%", "South", "980", "(2.1%)"};
        struct pdfgen_table t = {.rows = 3, .cols = 3, .cells = cells};
        assert_int_equal(pdfgen_table(doc, 72, 100 + 220 * k, &t, &style, true, NULL, NULL), 0);
    }
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);
    set_engine("vlm", model);
    struct model_engine *e = model_engine_load(&cfg, &err, NULL);
    assert_non_null(e);
    struct doc_job *job = run_engine(path, e);
    assert_int_equal(job->result.n_tables, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(job->result.tables[i].engine, "vlm");
        assert_int_equal(table_validate(job->result.tables[i].table, NULL), 0);
    }
    struct model_engine_stats st;
    model_engine_get_stats(e, &st);
    assert_int_equal(st.decodes, 3);
    assert_int_equal(st.batches, 1);
    assert_int_equal(st.batch_max, 3);
    assert_int_equal(st.states_created, 1);
    doc_job_free(job);
    model_engine_free(e);
    set_engine("text", NULL);
    g_free(path);
    g_free(model);
}

/* Turns an upright crop (w x h) into the crop a page would hold with its text at `rotation`
 * (vision/rotate.c's frames); *rw x *rh, rows of *rw bytes. */
static uint8_t *turn_crop(const uint8_t *up, int w, int h, int rotation, int *rw, int *rh)
{
    bool turn = rotation == 90 || rotation == 270;
    *rw = turn ? h : w;
    *rh = turn ? w : h;
    uint8_t *out = malloc((size_t)w * h);
    assert_non_null(out);
    for (int y = 0; y < *rh; y++)
        for (int x = 0; x < *rw; x++) {
            int ux = x, uy = y;
            if (rotation == 90) { /* reads downwards; the tops of the letters face right */
                ux = y;
                uy = *rw - 1 - x;
            } else if (rotation == 270) { /* reads upwards; tops face left */
                ux = *rh - 1 - y;
                uy = x;
            } else if (rotation == 180) {
                ux = w - 1 - x;
                uy = h - 1 - y;
            }
            out[(size_t)y * *rw + x] = up[(size_t)uy * w + ux];
        }
    return out;
}

/* A table drawn by pdfgen and rendered at `dpi`, cropped to its box: a new gray image. */
static uint8_t *rendered_table(const struct pdfgen_table *t, const struct pdfgen_table_style *st,
                               double dpi, int *w, int *h)
{
    char *path = g_build_filename(dir, "orient.pdf", NULL);
    int err = 0;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    assert_non_null(doc);
    struct rect box;
    assert_int_equal(pdfgen_table(doc, 60, 80, t, st, true, NULL, &box), 0);
    assert_int_equal(pdfgen_doc_close(doc), 0);
    pdfgen_doc_free(doc);
    struct document *d = NULL;
    assert_int_equal(document_open(path, NULL, &d, NULL), 0);
    struct page_options po = {.dpi = dpi, .max_pixels = 100000000};
    struct page *page = NULL;
    assert_int_equal(document_load_page(d, 0, &po, &page, NULL), 0);
    double s = dpi / 72;
    int x0 = (int)(box.x0 * s) - 4, y0 = (int)(box.y0 * s) - 4;
    *w = (int)(box.x1 * s) + 4 - x0;
    *h = (int)(box.y1 * s) + 4 - y0;
    uint8_t *crop = malloc((size_t)*w * *h);
    assert_non_null(crop);
    for (int y = 0; y < *h; y++)
        memcpy(crop + (size_t)y * *w,
               page->raster.gray + (size_t)(y0 + y) * page->raster.width + x0, (size_t)*w);
    page_free(page);
    document_close(d);
    unlink(path);
    g_free(path);
    return crop;
}

/* The crop's own pixels tell which way its text runs: tables of words and of numbers, with
 * and without rules, shaded or not, at DPIs around the ~10 px x-height process.c renders
 * regions at, each turned 0/90/180/270. Never a wrong direction; unsure (0, the crop left as
 * it is) only for the table of numbers. */
static void test_workers__orientation_from_pixels(void **state)
{
    const char *words[] = {"Region", "Units", "Revenue", "North", "1,200", "3.5%",
                           "South", "980", "(2.1%)", "East", "1,045", "12.0%",
                           "Western Europe", "2,317", "(0.4%)"};
    const char *numbers[] = {"Year", "Q1", "Q2", "Q3", "2019", "14.2", "15.8", "16.1",
                             "2020", "12.9", "(3.4)", "17.7", "2021", "18.3", "19.0", "20.6",
                             "2022", "21.4", "22.9", "23.3"};
    const char *prose[] = {"Name", "Description", "Alpha", "a quick brown fox jumps",
                           "Beta", "over the lazy dog again", "Gamma", "pack my box with liquor",
                           "Delta", "sphinx of black quartz judge"};
    struct pdfgen_table tables[] = {{.rows = 5, .cols = 3, .cells = words},
                                    {.rows = 5, .cols = 4, .cells = numbers},
                                    {.rows = 5, .cols = 2, .cells = prose}};
    static const enum pdfgen_rules rules[] = {PDFGEN_RULES_GRID, PDFGEN_RULES_BOOKTABS,
                                              PDFGEN_RULES_HROWS, PDFGEN_RULES_NONE};
    static const double dpis[] = {100, 200};
    static const double sizes[] = {8, 12};
    static const int rotations[] = {0, 90, 180, 270};
    int right = 0, wrong = 0, unsure = 0;
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (size_t r = 0; r < sizeof rules / sizeof *rules; r++)
            for (size_t d = 0; d < sizeof dpis / sizeof *dpis; d++)
            for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
                struct pdfgen_table_style st;
                pdfgen_table_style_init(&st);
                st.rules = rules[r];
                st.font.size = sizes[z];
                st.zebra_gray = z == 1 ? 0.85 : -1;
                int w, h;
                uint8_t *up = rendered_table(&tables[t], &st, dpis[d], &w, &h);
                for (size_t k = 0; k < 4; k++) {
                    int rw, rh;
                    uint8_t *crop = turn_crop(up, w, h, rotations[k], &rw, &rh);
                    int got = model_orientation(crop, rw, rh, (size_t)rw);
                    if (got == rotations[k])
                        right++;
                    else if (got == 0 && t == 1)
                        unsure++; /* digits have no ascenders or descenders to tell up by */
                    else
                        wrong++;
                    if (got != rotations[k] && !(got == 0 && t == 1))
                        fprintf(stderr, "orientation: table %zu rules %zu dpi %.0f size %.0f: %d "
                                "seen as %d\n", t, r, dpis[d], sizes[z], rotations[k], got);
                    free(crop);
                }
                free(up);
            }
    fprintf(stderr, "orientation: %d right, %d unsure, %d wrong\n", right, unsure, wrong);
    assert_int_equal(wrong, 0);
    assert_true(right >= 16 * 9); /* 16 renderings: all upright, every word table turned */
    /* too little to go on */
    uint8_t blank[40 * 30];
    memset(blank, 255, sizeof blank);
    assert_int_equal(model_orientation(blank, 40, 30, 40), 0);
    for (int i = 0; i < 30; i++)
        blank[i * 40 + 5] = 0; /* one rule */
    assert_int_equal(model_orientation(blank, 40, 30, 40), 0);
    assert_int_equal(model_orientation(blank, 4, 3, 40), 0);
}

static atomic_int decode_abort_flag;
static void abort_before_decode(void) { decode_abort_flag = 1; }
static void sleep_before_decode(void) { g_usleep(1200 * 1000); }

/* An abort or max_seconds that comes while the model decodes stops the decode (within a token)
 * and is recorded as between pages: the document cancelled and queued again, or failed with a
 * max_seconds message. */
static void test_workers__decode_interrupted(void **state)
{
    char *model = make_otsl_model("tiny-otsl-abort");
    char *path = make_table_pdf("decode-abort.pdf", "Abort");
    set_engine("vlm", model);
    int err = 0;
    struct model_engine *e = model_engine_load(&cfg, &err, NULL);
    assert_non_null(e);
    decode_abort_flag = 0;
    model_engine__before_decode = abort_before_decode;
    struct doc_job *job = doc_job_new(path);
    job->force = true;
    pipeline_process(job, store, &cfg, e, NULL, &decode_abort_flag, NULL);
    assert_int_equal(job->outcome, JOB_CANCELLED);
    assert_int_equal(job->result.n_tables, 0);
    doc_job_free(job);
    struct store_status sst;
    assert_int_equal(store_status_get(store, &sst), 0);
    assert_true(sst.documents[DOC_QUEUED] >= 1);
    store_status_release(&sst);

    model_engine__before_decode = sleep_before_decode;
    double saved = cfg.max_seconds;
    cfg.max_seconds = 1.0; /* passes while the decode waits */
    job = doc_job_new(path);
    job->force = true;
    pipeline_process(job, store, &cfg, e, NULL, NULL, NULL);
    cfg.max_seconds = saved;
    model_engine__before_decode = NULL;
    assert_int_equal(job->outcome, JOB_FAILED);
    assert_int_equal(job->err, QUIRE_ETIMEOUT);
    assert_non_null(strstr(job->message, "max_seconds"));
    assert_non_null(strstr(job->message, "while reading the tables of page 1"));
    doc_job_free(job);
    struct model_engine_stats st;
    model_engine_get_stats(e, &st);
    assert_int_equal(st.decodes, 0); /* neither decode finished */
    model_engine_free(e);
    set_engine("text", NULL);
    g_free(path);
    g_free(model);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers__page_set),
        cmocka_unit_test(test_workers__stores_table_once),
        cmocka_unit_test(test_workers__failures_are_recorded),
        cmocka_unit_test(test_workers__limits),
        cmocka_unit_test(test_workers__two_thousand_pages),
        cmocka_unit_test(test_workers__max_seconds),
        cmocka_unit_test(test_workers__abort_requeues),
        cmocka_unit_test(test_workers__lanes),
        cmocka_unit_test(test_workers__pages_over_helpers),
        cmocka_unit_test(test_workers__engine_errors),
        cmocka_unit_test(test_workers__vlm_stores_model_table),
        cmocka_unit_test(test_workers__invalid_output),
        cmocka_unit_test(test_workers__auto_confidence),
        cmocka_unit_test(test_workers__snap_text),
        cmocka_unit_test(test_workers__model_loaded_once),
        cmocka_unit_test(test_workers__rotated_crop_upright),
        cmocka_unit_test(test_workers__batch_reads_match_single),
        cmocka_unit_test(test_workers__page_regions_batched),
        cmocka_unit_test(test_workers__orientation_from_pixels),
        cmocka_unit_test(test_workers__decode_interrupted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
