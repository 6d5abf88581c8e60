/*
 * tests/test_store.c - the store module against real SQLite files in a temporary directory:
 * migrations, document state, results written atomically, full-text search, and the error
 * paths (newer schema, read-only file, a locked database, allocation failures half-way).
 *
 * Each test gets a fresh directory (setup/teardown); a second raw sqlite3 connection checks the
 * rows the store wrote, so the tests see what a person with the sqlite3 shell would see.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../store/store.h"
#include "../store/store_internal.h"

struct fixture {
    char dir[64];
    char db[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/quire-test-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/q.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char path[160];
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s%s", f->db, suffixes[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    q_alloc_fail_after(0);
    return 0;
}

static struct store *open_store(struct fixture *f)
{
    struct store *s = NULL;
    char *msg = NULL;
    int err = store_open(f->db, 2000, &s, &msg);
    if (err)
        fail_msg("store_open: %s", msg ? msg : err_str(err));
    assert_null(msg);
    return s;
}

/* One integer from a query on a separate raw connection. */
static int64_t sql_int(struct fixture *f, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* One text value (copied into buf) from a query on a separate raw connection. */
static const char *sql_text(struct fixture *f, const char *sql, char *buf, size_t size)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(buf, size, "%s", t ? (const char *)t : "(null)");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

static void sql_exec(struct fixture *f, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    char *m = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &m) != SQLITE_OK)
        fail_msg("%s: %s", sql, m);
    sqlite3_close(db);
}

static int64_t add_doc(struct store *s, const char *path, const char *sha)
{
    int64_t id = 0;
    enum doc_status st;
    bool is_new;
    assert_int_equal(store_document_add(s, path, sha, 1000, 1700000000, &id, &st, &is_new), 0);
    return id;
}

/* A 3x3 table: a header row whose first cell spans two columns, a row-header column, one cell
 * with a box, and the given word in the bottom-right cell. */
static struct table *make_table(const char *word)
{
    struct table *t = table_new(3, 3);
    assert_non_null(t);
    assert_int_equal(table_set_cell(t, 0, 0, 1, 2, CELL_COLUMN_HEADER, "Region name"), 0);
    assert_int_equal(table_set_cell(t, 0, 2, 1, 1, CELL_COLUMN_HEADER, "Revenue"), 0);
    assert_int_equal(table_set_cell(t, 1, 0, 2, 1, CELL_ROW_HEADER, "Europe"), 0);
    assert_int_equal(table_set_cell(t, 1, 1, 1, 1, CELL_DATA, "north"), 0);
    assert_int_equal(table_set_cell(t, 1, 2, 1, 1, CELL_DATA, "12.5"), 0);
    assert_int_equal(table_set_cell(t, 2, 1, 1, 1, CELL_DATA, "south"), 0);
    assert_int_equal(table_set_cell(t, 2, 2, 1, 1, CELL_DATA, word), 0);
    t->header_rows = 1;
    struct table_cell *c = table_cell_at_mut(t, 1, 2);
    assert_non_null(c);
    c->has_bbox = true;
    c->bbox = (struct rect){100, 200, 150, 212};
    return t;
}

/* Puts n_tables tables (one per page 1..n) made from words[] as the results of doc_id. */
static int put_tables(struct store *s, int64_t doc_id, const char *const *words, size_t n_tables,
                      int64_t *ids)
{
    struct page_result pages[8];
    struct table_result tables[8];
    assert_true(n_tables <= 8);
    memset(tables, 0, sizeof tables);
    for (size_t i = 0; i < n_tables; i++) {
        pages[i] = (struct page_result){.page = (int)i + 1, .width = 595, .height = 842,
                                        .has_text_layer = true};
        tables[i] = (struct table_result){
            .page = (int)i + 1,
            .bbox = {50, 100 + 10.0 * (double)i, 400, 300},
            .engine = "text",
            .confidence = 0.9,
            .table = words[i] ? make_table(words[i]) : NULL,
        };
    }
    struct doc_result r = {
        .n_pages_total = (int)n_tables + 1,
        .pages = pages, .n_pages = n_tables,
        .tables = tables, .n_tables = n_tables,
        .seconds = 1.25,
    };
    int err = store_document_put_results(s, doc_id, &r, NULL);
    for (size_t i = 0; i < n_tables; i++) {
        if (ids)
            ids[i] = tables[i].id;
        table_free(tables[i].table);
    }
    return err;
}

/* Runs a search and returns how many tables it found; the first id goes to *first_id. */
static int search(struct store *s, const struct store_query *q, int64_t *first_id)
{
    struct store_cursor *c = NULL;
    int err = store_query_begin(s, q, &c);
    if (err)
        fail_msg("store_query_begin: %s (%s)", err_str(err), store_errmsg(s));
    int n = 0;
    struct store_table_info *t;
    while ((err = store_query_next(c, &t)) == 0 && t) {
        if (n == 0 && first_id)
            *first_id = t->id;
        assert_non_null(t->table);
        assert_non_null(t->path);
        n++;
        store_table_info_free(t);
    }
    assert_int_equal(err, 0);
    store_query_end(c);
    return n;
}

static int search_text(struct store *s, const char *text)
{
    struct store_query q;
    store_query_init(&q);
    q.text = text;
    return search(s, &q, NULL);
}

/* --- tests ---------------------------------------------------------------------------------- */

static void test_store__migrate_fresh_and_reopen(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    store_close(s);
    assert_int_equal(sql_int(f, "PRAGMA user_version"), 3);
    char buf[64];
    assert_string_equal(sql_text(f, "PRAGMA journal_mode", buf, sizeof buf), "wal");
    assert_int_equal(sql_int(f, "SELECT count(*) FROM sqlite_schema WHERE name IN ('documents',"
                                " 'document_paths', 'pages', 'tables', 'cells', 'attempts',"
                                " 'cells_fts')"), 7);
    /* Re-opening finds the current version and changes nothing. */
    s = open_store(f);
    int64_t id = add_doc(s, "/a.pdf", "aaaa");
    assert_true(id > 0);
    store_close(s);
    s = open_store(f);
    store_close(s);
    assert_int_equal(sql_int(f, "PRAGMA user_version"), 3);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM documents"), 1);
}

/* A version-1 database (its documents, pages and tables as version 1 made them) migrates to the
 * current version: tables get no links, documents get the engine and model guessed from their
 * tables (version 2), pages no unread regions (version 3). */
static void test_store__migrate_from_version_1(void **state)
{
    struct fixture *f = *state;
    sql_exec(f,
             "CREATE TABLE documents (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE,"
             " size INTEGER NOT NULL, pages INTEGER, status TEXT NOT NULL DEFAULT 'queued',"
             " error TEXT, attempts INTEGER NOT NULL DEFAULT 0, added_at TEXT NOT NULL,"
             " started_at TEXT, finished_at TEXT, seconds REAL);"
             "CREATE TABLE pages (document_id INTEGER NOT NULL REFERENCES documents(id)"
             " ON DELETE CASCADE, page INTEGER NOT NULL, width REAL NOT NULL, height REAL NOT NULL,"
             " has_text_layer INTEGER NOT NULL, PRIMARY KEY (document_id, page)) WITHOUT ROWID;"
             "CREATE TABLE tables (id INTEGER PRIMARY KEY AUTOINCREMENT,"
             " document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
             " page INTEGER NOT NULL, x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL,"
             " y1 REAL NOT NULL, n_rows INTEGER NOT NULL, n_cols INTEGER NOT NULL,"
             " header_rows INTEGER NOT NULL, engine TEXT NOT NULL, model_id TEXT,"
             " confidence REAL NOT NULL, otsl TEXT NOT NULL, markdown TEXT NOT NULL,"
             " latex TEXT NOT NULL, html TEXT NOT NULL, created_at TEXT NOT NULL);"
             "INSERT INTO documents (id, sha256, size, status, added_at) VALUES"
             " (1, 'a', 1, 'done', 'x'), (2, 'b', 1, 'done', 'x'), (3, 'c', 1, 'done', 'x'),"
             " (4, 'd', 1, 'done', 'x'), (5, 'e', 1, 'failed', 'x');"
             "INSERT INTO pages VALUES (1, 1, 612, 792, 1), (4, 1, 612, 792, 0);"
             "INSERT INTO tables (document_id, page, x0, y0, x1, y1, n_rows, n_cols, header_rows,"
             " engine, model_id, confidence, otsl, markdown, latex, html, created_at) VALUES"
             " (1, 1, 0, 0, 1, 1, 1, 1, 0, 'text', NULL, 1, '', '', '', '', 'x'),"
             " (2, 1, 0, 0, 1, 1, 1, 1, 0, 'auto', 'm1', 1, '', '', '', '', 'x'),"
             " (2, 2, 0, 0, 1, 1, 1, 1, 0, 'text', NULL, 1, '', '', '', '', 'x'),"
             " (3, 1, 0, 0, 1, 1, 1, 1, 0, 'vlm', 'm2', 1, '', '', '', '', 'x');"
             "PRAGMA user_version = 1;");
    store_close(open_store(f));
    assert_int_equal(sql_int(f, "PRAGMA user_version"), 3);
    char buf[64];
    assert_string_equal(sql_text(f, "SELECT group_concat(id || ':' || coalesce(engine, '-') ||"
                                    " ':' || coalesce(model_id, '-'), ' ') FROM documents",
                                 buf, sizeof buf),
                        "1:text:- 2:auto:m1 3:vlm:m2 4:-:- 5:-:-");
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables WHERE continues_id IS NULL"
                                " AND repeated_header_rows = 0"), 4);
    /* version 3: pages stored before have no unread regions on record */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM pages WHERE unread_regions = 0"), 2);
}

/* The read-only open (query, show, export, status) of a database from an older quire upgrades it
 * when the file may be written, and refuses with "needs upgrading" when it may not. */
static void test_store__readonly_open_upgrades(void **state)
{
    struct fixture *f = *state;
    store_close(open_store(f));
    sql_exec(f, "ALTER TABLE pages DROP COLUMN unread_regions; PRAGMA user_version = 2");
    assert_int_equal(chmod(f->db, 0444), 0);
    struct store *s = NULL;
    char *msg = NULL;
    assert_int_equal(store_open_readonly(f->db, 100, &s, &msg), QUIRE_EDB);
    assert_null(s);
    assert_non_null(strstr(msg, "needs upgrading"));
    free(msg);
    msg = NULL;
    assert_int_equal(sql_int(f, "PRAGMA user_version"), 2);
    assert_int_equal(chmod(f->db, 0644), 0);
    assert_int_equal(store_open_readonly(f->db, 100, &s, &msg), 0);
    assert_null(msg);
    struct store_status st;
    assert_int_equal(store_status_get(s, &st), 0);
    assert_int_equal(st.unread_pages, 0);
    store_status_release(&st);
    store_close(s);
    assert_int_equal(sql_int(f, "PRAGMA user_version"), 3);
}

static void test_store__version_too_new(void **state)
{
    struct fixture *f = *state;
    store_close(open_store(f));
    sql_exec(f, "PRAGMA user_version = 99");
    struct store *s = NULL;
    char *msg = NULL;
    assert_int_equal(store_open(f->db, 100, &s, &msg), QUIRE_EDB);
    assert_null(s);
    assert_non_null(msg);
    assert_non_null(strstr(msg, f->db));
    assert_non_null(strstr(msg, "newer"));
    free(msg);
    assert_int_equal(store_open_readonly(f->db, 100, &s, &msg), QUIRE_EDB);
    assert_non_null(strstr(msg, "99"));
    free(msg);
}

static void test_store__open_readonly_missing_file(void **state)
{
    struct fixture *f = *state;
    struct store *s = NULL;
    char *msg = NULL;
    assert_int_equal(store_open_readonly(f->db, 100, &s, &msg), QUIRE_ENOENT);
    assert_null(s);
    assert_non_null(strstr(msg, f->db));
    free(msg);
    assert_int_equal(access(f->db, F_OK), -1);   /* not created */
}

static void test_store__add_dedupes_by_sha256(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t id1 = 0, id2 = 0, id3 = 0;
    enum doc_status st = DOC_FAILED;
    bool is_new = false;
    assert_int_equal(store_document_add(s, "/in/a.pdf", "sha-one", 10, 100, &id1, &st, &is_new),
                     0);
    assert_true(is_new);
    assert_int_equal(st, DOC_QUEUED);
    assert_int_equal(store_document_add(s, "/in/copy-of-a.pdf", "sha-one", 10, 200, &id2, &st,
                                        &is_new), 0);
    assert_false(is_new);
    assert_int_equal(id2, id1);
    assert_int_equal(store_document_add(s, "/in/b.pdf", "sha-two", 20, 100, &id3, &st, &is_new),
                     0);
    assert_true(is_new);
    assert_int_not_equal(id3, id1);
    /* The same path again: still one row for it. */
    assert_int_equal(store_document_add(s, "/in/a.pdf", "sha-one", 10, 100, &id2, &st, &is_new),
                     0);
    assert_false(is_new);
    store_close(s);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM documents"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM document_paths"), 3);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM document_paths WHERE document_id ="
                                " (SELECT id FROM documents WHERE sha256 = 'sha-one')"), 2);
}

static void test_store__path_lookup(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t id = 0, found = 0;
    enum doc_status st;
    bool is_new;
    assert_int_equal(store_document_add(s, "/in/a.pdf", "sha-a", 10, 100, &id, &st, &is_new), 0);
    assert_int_equal(store_path_lookup(s, "/in/a.pdf", 10, 100, &found, &st), 0);
    assert_int_equal(found, id);
    assert_int_equal(st, DOC_QUEUED);
    assert_int_equal(store_path_lookup(s, "/in/a.pdf", 10, 101, &found, &st), QUIRE_ENOENT);
    assert_int_equal(store_path_lookup(s, "/in/a.pdf", 11, 100, &found, &st), QUIRE_ENOENT);
    assert_int_equal(store_path_lookup(s, "/in/other.pdf", 10, 100, &found, &st), QUIRE_ENOENT);
    /* The file changed: new content, new document, the path follows it. */
    int64_t id2 = 0;
    assert_int_equal(store_document_add(s, "/in/a.pdf", "sha-b", 12, 101, &id2, &st, &is_new), 0);
    assert_true(is_new);
    assert_int_equal(store_path_lookup(s, "/in/a.pdf", 12, 101, &found, &st), 0);
    assert_int_equal(found, id2);
    store_close(s);
}

static void expect_counts(struct store *s, int64_t queued, int64_t running, int64_t done,
                          int64_t failed)
{
    struct store_status st;
    assert_int_equal(store_status_get(s, &st), 0);
    assert_int_equal(st.documents[DOC_QUEUED], queued);
    assert_int_equal(st.documents[DOC_RUNNING], running);
    assert_int_equal(st.documents[DOC_DONE], done);
    assert_int_equal(st.documents[DOC_FAILED], failed);
    assert_int_equal(st.n_failures, (size_t)failed);
    store_status_release(&st);
}

static void test_store__state_transitions(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t a = add_doc(s, "/in/a.pdf", "sha-a");
    int64_t b = add_doc(s, "/in/b.pdf", "sha-b");
    int64_t c = add_doc(s, "/in/c.pdf", "sha-c");
    expect_counts(s, 3, 0, 0, 0);

    assert_int_equal(store_document_start(s, a), 0);
    assert_int_equal(store_document_start(s, b), 0);
    expect_counts(s, 1, 2, 0, 0);
    assert_int_equal(store_document_fail(s, a, "truncated PDF at byte 1234"), 0);
    expect_counts(s, 1, 1, 0, 1);

    struct store_status st;
    assert_int_equal(store_status_get(s, &st), 0);
    assert_int_equal(st.n_failures, 1);
    assert_string_equal(st.failures[0].path, "/in/a.pdf");
    assert_string_equal(st.failures[0].error, "truncated PDF at byte 1234");
    assert_int_equal(st.failures[0].attempts, 1);
    assert_int_equal(st.failures[0].document_id, a);
    store_status_release(&st);

    /* Shutdown puts b back; a document that is not running cannot be requeued. */
    assert_int_equal(store_document_requeue(s, b), 0);
    assert_int_equal(store_document_requeue(s, c), QUIRE_ENOENT);
    expect_counts(s, 2, 0, 0, 1);

    /* A crash leaves b and c running; requeue_running puts both back. */
    assert_int_equal(store_document_start(s, b), 0);
    assert_int_equal(store_document_start(s, c), 0);
    int n = -1;
    assert_int_equal(store_requeue_running(s, &n), 0);
    assert_int_equal(n, 2);
    expect_counts(s, 2, 0, 0, 1);

    n = -1;
    assert_int_equal(store_retry_failed(s, &n), 0);
    assert_int_equal(n, 1);
    expect_counts(s, 3, 0, 0, 0);
    n = -1;
    assert_int_equal(store_retry_failed(s, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_document_start(s, 999), QUIRE_ENOENT);
    store_close(s);

    assert_int_equal(sql_int(f, "SELECT attempts FROM documents WHERE sha256 = 'sha-b'"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM attempts"), 4);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM attempts WHERE status = 'running'"), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM attempts WHERE status = 'requeued'"), 3);
    char buf[128];
    assert_string_equal(sql_text(f, "SELECT error FROM attempts WHERE status = 'failed'", buf,
                                 sizeof buf), "truncated PDF at byte 1234");
    assert_string_equal(sql_text(f, "SELECT coalesce(error, 'none') FROM documents"
                                    " WHERE sha256 = 'sha-a'", buf, sizeof buf), "none");
}

static void test_store__queued_paths(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t a = add_doc(s, "/in/a.pdf", "sha-a");
    add_doc(s, "/in/b.pdf", "sha-b");
    int64_t c = add_doc(s, "/in/c.pdf", "sha-c");
    add_doc(s, "/in/b-copy.pdf", "sha-b");      /* b's most recently seen path */
    assert_int_equal(store_document_start(s, a), 0);
    assert_int_equal(store_document_start(s, c), 0);
    assert_int_equal(store_document_fail(s, c, "broken"), 0);
    GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
    assert_int_equal(store_queued_paths(s, paths), 0);
    assert_int_equal(paths->len, 1);
    assert_string_equal(g_ptr_array_index(paths, 0), "/in/b-copy.pdf");
    assert_int_equal(store_document_requeue(s, a), 0);
    g_ptr_array_set_size(paths, 0);
    assert_int_equal(store_queued_paths(s, paths), 0);
    assert_int_equal(paths->len, 2);
    const char *p0 = g_ptr_array_index(paths, 0), *p1 = g_ptr_array_index(paths, 1);
    assert_true((!strcmp(p0, "/in/a.pdf") && !strcmp(p1, "/in/b-copy.pdf")) ||
                (!strcmp(p1, "/in/a.pdf") && !strcmp(p0, "/in/b-copy.pdf")));
    g_ptr_array_free(paths, TRUE);
    store_close(s);
}

static void test_store__put_results_stores_and_replaces(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t doc = add_doc(s, "/in/report.pdf", "sha-r");
    assert_int_equal(store_document_start(s, doc), 0);
    const char *const words[] = {"alpha", "beta"};
    int64_t ids[2] = {0, 0};
    assert_int_equal(put_tables(s, doc, words, 2, ids), 0);
    assert_true(ids[0] > 0 && ids[1] > ids[0]);
    store_close(s);

    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM cells"), 14);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM pages"), 2);
    assert_int_equal(sql_int(f, "SELECT pages FROM documents"), 3);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM documents WHERE status = 'done'"
                                " AND seconds = 1.25 AND finished_at IS NOT NULL"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM attempts WHERE status = 'done'"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM cells WHERE rowspan = 2 AND colspan = 1"
                                " AND kind = 'row_header' AND text = 'Europe'"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM cells WHERE colspan = 2"
                                " AND kind = 'column_header' AND is_header = 1"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM cells WHERE x0 = 100 AND y1 = 212"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM cells WHERE x0 IS NULL"), 12);
    assert_int_equal(sql_int(f, "SELECT n_rows * 10 + n_cols FROM tables LIMIT 1"), 33);

    /* The stored renderings are the renderers' output. */
    struct table *t = make_table("alpha");
    char *md = table_render(t, TABLE_FORMAT_MARKDOWN, NULL);
    char *otsl = table_to_otsl(t);
    char query[128], buf[4096];
    snprintf(query, sizeof query, "SELECT markdown FROM tables WHERE id = %lld",
             (long long)ids[0]);
    assert_string_equal(sql_text(f, query, buf, sizeof buf), md);
    snprintf(query, sizeof query, "SELECT otsl FROM tables WHERE id = %lld", (long long)ids[0]);
    assert_string_equal(sql_text(f, query, buf, sizeof buf), otsl);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables WHERE latex LIKE '%multicolumn%'"
                                " AND html LIKE '%colspan=%'"), 2);
    free(md);
    free(otsl);
    table_free(t);

    /* Again with one table: the old ones are gone, cells and index with them. */
    s = open_store(f);
    const char *const again[] = {"gamma"};
    int64_t new_id = 0;
    assert_int_equal(put_tables(s, doc, again, 1, &new_id), 0);
    assert_true(new_id > ids[1]);
    assert_int_equal(search_text(s, "alpha"), 0);
    assert_int_equal(search_text(s, "gamma"), 1);
    store_close(s);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM cells"), 7);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM pages"), 1);
    sql_exec(f, "INSERT INTO cells_fts(cells_fts) VALUES ('integrity-check')");
}

/* Tables that continue one another: continues_id, repeated_header_rows, the chain, and the
 * engine and model of the run recorded on the document. */
static void test_store__continued_tables_and_chain(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t doc = add_doc(s, "/in/long.pdf", "sha-long");
    int64_t other = add_doc(s, "/in/other.pdf", "sha-other");
    assert_int_equal(store_document_start(s, doc), 0);
    struct page_result pages[3] = {{.page = 1, .width = 595, .height = 842, .has_text_layer = true},
                                   {.page = 2, .width = 595, .height = 842, .has_text_layer = true},
                                   {.page = 3, .width = 595, .height = 842, .has_text_layer = true}};
    struct table_result tables[4] = {
        {.page = 1, .engine = "text", .table = make_table("one")},
        {.page = 2, .engine = "text", .table = make_table("two"), .continues = 1,
         .repeated_header_rows = 1},
        {.page = 3, .engine = "text", .table = make_table("three"), .continues = 2},
        {.page = 3, .engine = "text", .table = make_table("alone")},
    };
    struct doc_result r = {.n_pages_total = 3, .pages = pages, .n_pages = 3, .tables = tables,
                           .n_tables = 4, .engine = "auto", .model_id = "m-1"};
    assert_int_equal(store_document_put_results(s, doc, &r, NULL), 0);
    int64_t *ids = NULL;
    size_t n = 0;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(store_table_chain(s, tables[k].id, &ids, &n), 0);
        assert_int_equal(n, 3);
        for (int i = 0; i < 3; i++)
            assert_int_equal(ids[i], tables[i].id);
        free(ids);
    }
    assert_int_equal(store_table_chain(s, tables[3].id, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], tables[3].id);
    free(ids);
    assert_int_equal(store_table_chain(s, 999999, &ids, &n), QUIRE_ENOENT);
    assert_null(ids);
    struct store_table_info *t = NULL;
    assert_int_equal(store_table_get(s, tables[1].id, &t), 0);
    assert_int_equal(t->continues_id, tables[0].id);
    assert_int_equal(t->repeated_header_rows, 1);
    store_table_info_free(t);
    assert_int_equal(store_table_get(s, tables[0].id, &t), 0);
    assert_int_equal(t->continues_id, 0);
    store_table_info_free(t);

    /* a link that points forward (or at itself) is refused, and nothing is written */
    assert_int_equal(store_document_start(s, other), 0);
    struct table_result bad[2] = {
        {.page = 1, .engine = "text", .table = make_table("x"), .continues = 1},
        {.page = 2, .engine = "text", .table = make_table("y")},
    };
    struct doc_result rb = {.n_pages_total = 2, .pages = pages, .n_pages = 2, .tables = bad,
                            .n_tables = 2};
    assert_int_equal(store_document_put_results(s, other, &rb, NULL), QUIRE_EINVAL);
    store_close(s);
    for (int i = 0; i < 4; i++)
        table_free(tables[i].table);
    table_free(bad[0].table);
    table_free(bad[1].table);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables WHERE continues_id IS NOT NULL"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables WHERE repeated_header_rows = 1"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM documents WHERE engine = 'auto'"
                                " AND model_id = 'm-1'"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables t JOIN documents d"
                                " ON d.id = t.document_id WHERE d.sha256 = 'sha-other'"), 0);
    /* deleting a part unlinks the part after it (ON DELETE SET NULL) */
    sql_exec(f, "PRAGMA foreign_keys = ON; DELETE FROM tables WHERE page = 1");
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables WHERE continues_id IS NOT NULL"), 1);
}

static void test_store__table_get_rebuilds_table(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t doc = add_doc(s, "/in/report.pdf", "sha-r");
    const char *const words[] = {"alpha"};
    int64_t id = 0;
    assert_int_equal(put_tables(s, doc, words, 1, &id), 0);

    struct store_table_info *info = NULL;
    assert_int_equal(store_table_get(s, id, &info), 0);
    assert_int_equal(info->id, id);
    assert_int_equal(info->document_id, doc);
    assert_string_equal(info->path, "/in/report.pdf");
    assert_int_equal(info->page, 1);
    assert_true(info->bbox.x0 == 50 && info->bbox.x1 == 400 && info->bbox.y1 == 300);
    assert_string_equal(info->engine, "text");
    assert_null(info->model_id);
    assert_true(info->confidence > 0.89 && info->confidence < 0.91);
    assert_int_equal(strlen(info->created_at), 20);

    struct table *want = make_table("alpha");
    const struct table *got = info->table;
    assert_int_equal(got->n_rows, 3);
    assert_int_equal(got->n_cols, 3);
    assert_int_equal(got->header_rows, 1);
    assert_int_equal(got->n_cells, want->n_cells);
    for (size_t i = 0; i < want->n_cells; i++) {
        const struct table_cell *w = &want->cells[i];
        const struct table_cell *g = table_cell_at(got, w->row, w->col);
        assert_non_null(g);
        assert_int_equal(g->row, w->row);
        assert_int_equal(g->col, w->col);
        assert_int_equal(g->rowspan, w->rowspan);
        assert_int_equal(g->colspan, w->colspan);
        assert_int_equal(g->kind, w->kind);
        assert_string_equal(g->text, w->text);
        assert_int_equal(g->has_bbox, w->has_bbox);
        if (w->has_bbox)
            assert_true(g->bbox.x0 == w->bbox.x0 && g->bbox.y1 == w->bbox.y1);
    }
    char *md = table_render(want, TABLE_FORMAT_MARKDOWN, NULL);
    assert_string_equal(info->markdown, md);
    free(md);
    table_free(want);
    store_table_info_free(info);

    info = (void *)1;
    assert_int_equal(store_table_get(s, id + 100, &info), QUIRE_ENOENT);
    assert_null(info);
    assert_non_null(strstr(store_errmsg(s), "no table"));
    store_close(s);
}

static void test_store__search_text_and_filters(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t d1 = add_doc(s, "/data/2024/report.pdf", "sha-1");
    int64_t d2 = add_doc(s, "/data/2025/summary.pdf", "sha-2");
    const char *const w1[] = {"Kilimanjaro", "zebra"};
    const char *const w2[] = {"kilimanjaro"};
    int64_t ids1[2], ids2[1];
    assert_int_equal(put_tables(s, d1, w1, 2, ids1), 0);
    assert_int_equal(put_tables(s, d2, w2, 1, ids2), 0);

    /* Case-insensitive word search; every table has "Europe". */
    assert_int_equal(search_text(s, "kilimanjaro"), 2);
    assert_int_equal(search_text(s, "europe"), 3);
    assert_int_equal(search_text(s, "zebra"), 1);
    assert_int_equal(search_text(s, "nothing-like-this"), 0);
    /* Words in different cells of one table: all must occur. */
    assert_int_equal(search_text(s, "zebra revenue"), 1);
    assert_int_equal(search_text(s, "zebra kilimanjaro"), 0);
    assert_int_equal(search_text(s, "Kili*"), 2);
    assert_int_equal(search_text(s, "12.5"), 3);

    struct store_query q;
    store_query_init(&q);
    q.text = "kilimanjaro";
    q.doc_pattern = "summary";                    /* substring */
    int64_t first = 0;
    assert_int_equal(search(s, &q, &first), 1);
    assert_int_equal(first, ids2[0]);
    q.doc_pattern = "/data/2024/*.pdf";           /* glob */
    assert_int_equal(search(s, &q, &first), 1);
    assert_int_equal(first, ids1[0]);
    q.doc_pattern = "*.PDF";                      /* GLOB is case-sensitive */
    assert_int_equal(search(s, &q, NULL), 0);

    store_query_init(&q);
    q.page = 2;
    assert_int_equal(search(s, &q, &first), 1);
    assert_int_equal(first, ids1[1]);
    q.page = 0;
    q.since = "2000-01-01";
    assert_int_equal(search(s, &q, NULL), 3);
    q.since = "2999-01-01 10:00";
    assert_int_equal(search(s, &q, NULL), 0);
    q.since = "yesterday";
    struct store_cursor *c = NULL;
    assert_int_equal(store_query_begin(s, &q, &c), QUIRE_EINVAL);
    assert_null(c);
    assert_non_null(strstr(store_errmsg(s), "yesterday"));
    q.since = NULL;
    q.limit = 2;
    assert_int_equal(search(s, &q, &first), 2);
    assert_int_equal(first, ids1[0]);             /* reading order: document, page */
    assert_int_equal(search(s, NULL, NULL), 3);   /* everything, for export */

    /* The path shown is one that matches the pattern. */
    add_doc(s, "/mirror/copy.pdf", "sha-2");
    store_query_init(&q);
    q.doc_pattern = "/mirror/*";
    assert_int_equal(store_query_begin(s, &q, &c), 0);
    struct store_table_info *t = NULL;
    assert_int_equal(store_query_next(c, &t), 0);
    assert_non_null(t);
    assert_string_equal(t->path, "/mirror/copy.pdf");
    store_table_info_free(t);
    assert_int_equal(store_query_next(c, &t), 0);
    assert_null(t);
    assert_int_equal(store_query_next(c, &t), 0);   /* stays at the end */
    assert_null(t);
    store_query_end(c);
    store_close(s);
}

static void test_store__search_user_text_is_safe(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t d = add_doc(s, "/in/a.pdf", "sha-a");
    const char *const words[] = {"O'Brien \"quoted\" AND"};
    assert_int_equal(put_tables(s, d, words, 1, NULL), 0);
    static const char *const hostile[] = {
        "\"", "\"\"", "zebra\"", "foo\" OR \"bar", "NEAR(foo bar)", "text:foo", "(", ")",
        "*", "-europe", "^europe", "europe OR", "AND", "NOT europe", "' OR 1=1 --", "{text}: x",
        "europe\" OR \"x", "europe +", "\\", "%", "'; DROP TABLE tables; --",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        struct store_query q;
        store_query_init(&q);
        q.text = hostile[i];
        q.doc_pattern = hostile[i];
        struct store_cursor *c = NULL;
        if (store_query_begin(s, &q, &c) != 0)
            fail_msg("query '%s' failed: %s", hostile[i], store_errmsg(s));
        struct store_table_info *t = NULL;
        int err;
        while ((err = store_query_next(c, &t)) == 0 && t)
            store_table_info_free(t);
        if (err)
            fail_msg("query '%s' failed: %s", hostile[i], store_errmsg(s));
        store_query_end(c);
    }
    /* Operators are words: "AND" and "NOT" match the cell that has them, quotes are stripped by
     * the tokenizer, punctuation-only text matches nothing. */
    assert_int_equal(search_text(s, "AND"), 1);
    assert_int_equal(search_text(s, "NOT europe"), 0);
    assert_int_equal(search_text(s, "europe OR"), 0);
    assert_int_equal(search_text(s, "\"quoted\""), 1);
    assert_int_equal(search_text(s, "o'brien"), 1);
    assert_int_equal(search_text(s, "-europe"), 1);
    assert_int_equal(search_text(s, "\" ( *"), 0);
    assert_int_equal(search_text(s, ""), 1);
    store_close(s);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables"), 1);
}

static void test_store__put_results_failure_keeps_previous(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t doc = add_doc(s, "/in/a.pdf", "sha-a");
    const char *const good[] = {"alpha", "beta"};
    assert_int_equal(put_tables(s, doc, good, 2, NULL), 0);

    /* A NULL table half-way: rejected, nothing of it kept. */
    const char *const broken[] = {"gamma", NULL, "delta"};
    int64_t ids[3] = {-1, -1, -1};
    assert_int_equal(put_tables(s, doc, broken, 3, ids), QUIRE_EINVAL);
    assert_int_equal(ids[0], 0);
    assert_non_null(strstr(store_errmsg(s), "no table"));
    assert_int_equal(search_text(s, "alpha"), 1);
    assert_int_equal(search_text(s, "gamma"), 0);

    /* An allocation failure at every point of put_results. */
    const char *const next[] = {"epsilon", "zeta"};
    int err = QUIRE_ENOMEM;
    int failures = 0;
    for (long n = 1; n < 1000 && err == QUIRE_ENOMEM; n++) {
        struct page_result pages[2] = {{.page = 1, .width = 595, .height = 842, .has_text_layer = true},
                                       {.page = 2, .width = 595, .height = 842}};
        struct table_result tables[2] = {
            {.page = 1, .bbox = {1, 2, 3, 4}, .engine = "text", .table = make_table(next[0])},
            {.page = 2, .bbox = {1, 2, 3, 4}, .engine = "vlm", .model_id = "m",
             .table = make_table(next[1])},
        };
        struct doc_result r = {.n_pages_total = 3, .pages = pages, .n_pages = 2,
                               .tables = tables, .n_tables = 2, .seconds = 0.5};
        q_alloc_fail_after(n);
        err = store_document_put_results(s, doc, &r, NULL);
        q_alloc_fail_after(0);
        table_free(tables[0].table);
        table_free(tables[1].table);
        if (err == QUIRE_ENOMEM) {
            failures++;
            assert_int_equal(tables[0].id, 0);
            assert_int_equal(search_text(s, "alpha"), 1);
            assert_int_equal(search_text(s, "beta"), 1);
            assert_int_equal(search_text(s, "epsilon"), 0);
        }
    }
    assert_int_equal(err, 0);
    assert_true(failures >= 8);      /* 2 tables x 4 renderings at least */
    assert_int_equal(search_text(s, "alpha"), 0);
    assert_int_equal(search_text(s, "zeta"), 1);
    store_close(s);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables WHERE model_id = 'm'"), 1);
    sql_exec(f, "INSERT INTO cells_fts(cells_fts) VALUES ('integrity-check')");
}

/* A full disk: SQLite's max_page_count makes the database file unable to grow, which takes the
 * same SQLITE_FULL path as a full file system. The document's previous results survive, the error
 * says so, and the connection (and the process-wide write lock) stay usable. */
static void test_store__disk_full(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t doc = add_doc(s, "/in/full.pdf", "sha-full");
    const char *const first[] = {"alpha"};
    assert_int_equal(put_tables(s, doc, first, 1, NULL), 0);
    assert_int_equal(store_document_start(s, doc), 0);
    sqlite3 *db = s->db; /* white-box: the connection, to cap the file's size */
    assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1", NULL, NULL, NULL), SQLITE_OK);
    /* many big tables: far more than the pages left */
    const char *const many[] = {"b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8"};
    int err = put_tables(s, doc, many, 8, NULL);
    assert_int_equal(err, QUIRE_EFULL);
    assert_non_null(strstr(store_errmsg(s), "full"));
    assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(search_text(s, "alpha"), 1);
    assert_int_equal(search_text(s, "b1"), 0);
    /* the failure can be recorded now that there is room, and writes work again */
    assert_int_equal(store_document_fail(s, doc, "/in/full.pdf: cannot store: disk full"), 0);
    assert_int_equal(put_tables(s, doc, many, 2, NULL), 0);
    store_close(s);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables"), 2);
}

static void test_store__put_results_unknown_document(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    const char *const words[] = {"alpha"};
    assert_int_equal(put_tables(s, 42, words, 1, NULL), QUIRE_ENOENT);
    store_close(s);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables"), 0);
}

static void test_store__delete_cascades(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t doc = add_doc(s, "/in/a.pdf", "sha-a");
    assert_int_equal(store_document_start(s, doc), 0);
    const char *const words[] = {"alpha"};
    assert_int_equal(put_tables(s, doc, words, 1, NULL), 0);
    store_close(s);
    sql_exec(f, "PRAGMA foreign_keys = ON; DELETE FROM documents");
    static const char *const tables[] = {"document_paths", "pages", "tables", "cells",
                                         "attempts"};
    char sql[64];
    for (size_t i = 0; i < 5; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
        assert_int_equal(sql_int(f, sql), 0);
    }
    assert_int_equal(sql_int(f, "SELECT count(*) FROM cells_fts WHERE cells_fts MATCH 'alpha'"),
                     0);
    sql_exec(f, "INSERT INTO cells_fts(cells_fts) VALUES ('integrity-check')");
}

static void test_store__readonly_file(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_store(f);
    int64_t doc = add_doc(s, "/in/a.pdf", "sha-a");
    const char *const words[] = {"alpha"};
    assert_int_equal(put_tables(s, doc, words, 1, NULL), 0);
    store_close(s);
    assert_int_equal(chmod(f->db, 0444), 0);

    /* Opening it to write: refused up front, with the file named. */
    char *msg = NULL;
    s = NULL;
    assert_int_equal(store_open(f->db, 100, &s, &msg), QUIRE_EREADONLY);
    assert_null(s);
    assert_non_null(msg);
    assert_non_null(strstr(msg, f->db));
    assert_non_null(strstr(msg, "read-only"));
    free(msg);

    /* Opened for reading: queries work, writes fail with EREADONLY and SQLite's message. */
    assert_int_equal(store_open_readonly(f->db, 100, &s, &msg), 0);
    assert_int_equal(search_text(s, "alpha"), 1);
    int64_t id;
    enum doc_status st;
    bool is_new;
    assert_int_equal(store_document_add(s, "/in/b.pdf", "sha-b", 1, 1, &id, &st, &is_new),
                     QUIRE_EREADONLY);
    assert_non_null(strstr(store_errmsg(s), "readonly"));
    int n = -1;
    assert_int_equal(store_retry_failed(s, &n), QUIRE_EREADONLY);
    assert_int_equal(store_document_start(s, doc), QUIRE_EREADONLY);
    store_close(s);
    assert_int_equal(chmod(f->db, 0644), 0);
}

static void test_store__busy(void **state)
{
    struct fixture *f = *state;
    struct store *s = NULL;
    char *msg = NULL;
    assert_int_equal(store_open(f->db, 50, &s, &msg), 0);
    int64_t doc = add_doc(s, "/in/a.pdf", "sha-a");

    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    double t0 = now_seconds();
    assert_int_equal(store_document_start(s, doc), QUIRE_EBUSY);
    double waited = now_seconds() - t0;
    assert_true(waited >= 0.04 && waited < 5.0);
    assert_non_null(strstr(store_errmsg(s), "locked"));
    const char *const words[] = {"alpha"};
    assert_int_equal(put_tables(s, doc, words, 1, NULL), QUIRE_EBUSY);
    /* Reading still works in WAL mode while the other connection writes. */
    expect_counts(s, 1, 0, 0, 0);

    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(store_document_start(s, doc), 0);
    expect_counts(s, 0, 1, 0, 0);
    store_close(s);
}

static void test_store__open_allocation_failures(void **state)
{
    struct fixture *f = *state;
    int err = QUIRE_ENOMEM;
    for (long n = 1; n < 100 && err == QUIRE_ENOMEM; n++) {
        struct store *s = NULL;
        char *msg = NULL;
        q_alloc_fail_after(n);
        err = store_open(f->db, 100, &s, &msg);
        q_alloc_fail_after(0);
        free(msg);
        if (err == 0) {
            assert_non_null(s);
            add_doc(s, "/in/a.pdf", "sha-a");
            store_close(s);
        } else {
            assert_int_equal(err, QUIRE_ENOMEM);
            assert_null(s);
        }
    }
    assert_int_equal(err, 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM documents"), 1);
}

/* Several threads, each with its own connection (as the workers do), open a fresh file at once
 * and write: migrations run once, writers wait for each other within the busy timeout. */
struct writer {
    const char *db;
    int index;
    int err;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct store *s = NULL;
    char *msg = NULL;
    if ((w->err = store_open(w->db, 60000, &s, &msg))) {
        fprintf(stderr, "writer %d: %s\n", w->index, msg ? msg : "?");
        free(msg);
        return NULL;
    }
    for (int i = 0; i < 20 && !w->err; i++) {
        char path[64], sha[64];
        snprintf(path, sizeof path, "/in/w%d-%d.pdf", w->index, i);
        snprintf(sha, sizeof sha, "sha-%d-%d", w->index, i);
        int64_t id;
        enum doc_status st;
        bool is_new;
        struct table *t = make_table("parallel");
        struct table_result tr = {.page = 1, .engine = "text", .confidence = 1, .table = t};
        struct doc_result r = {.n_pages_total = 1, .tables = &tr, .n_tables = 1};
        if (!(w->err = store_document_add(s, path, sha, 1, 1, &id, &st, &is_new)) &&
            !(w->err = store_document_start(s, id)))
            w->err = store_document_put_results(s, id, &r, NULL);
        table_free(t);
    }
    if (w->err)
        fprintf(stderr, "writer %d: %s\n", w->index, store_errmsg(s));
    store_close(s);
    return NULL;
}

static void test_store__concurrent_writers(void **state)
{
    struct fixture *f = *state;
    enum { N = 4 };
    pthread_t threads[N];
    struct writer w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct writer){f->db, i, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(w[i].err, 0);
    }
    assert_int_equal(sql_int(f, "PRAGMA user_version"), 3);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM documents WHERE status = 'done'"), N * 20);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM tables"), N * 20);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM cells_fts WHERE cells_fts MATCH 'parallel'"),
                     N * 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store__migrate_fresh_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__migrate_from_version_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__readonly_open_upgrades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__version_too_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__open_readonly_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__add_dedupes_by_sha256, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__path_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__state_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__queued_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__put_results_stores_and_replaces, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store__table_get_rebuilds_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__continued_tables_and_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__search_text_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__search_user_text_is_safe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__put_results_failure_keeps_previous, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store__disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__put_results_unknown_document, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store__delete_cascades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__readonly_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__open_allocation_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store__concurrent_writers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
