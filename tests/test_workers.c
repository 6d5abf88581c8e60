/* test_workers.c - page selections and one document through pipeline_process, against a real
 * SQLite store and real PDFs drawn with cairo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <glib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ingest/ingest.h"
#include "../workers/workers.h"
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
    pipeline_process(job, store, &cfg, NULL);
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
    pipeline_process(job, store, &cfg, NULL);
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
    volatile int abort_flag = 1;
    pipeline_process(job, store, &cfg, &abort_flag);
    assert_int_equal(job->outcome, JOB_CANCELLED);
    doc_job_free(job);
    struct store_status st;
    assert_int_equal(store_status_get(store, &st), 0);
    assert_true(st.documents[DOC_QUEUED] >= 1);
    store_status_release(&st);
    g_free(path);
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
