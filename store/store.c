/*
 * store/store.c - opening the database, the schema and its migrations, the statement cache and
 * the mapping of SQLite errors onto quire's codes.
 *
 * Why migrations as a list: PRAGMA user_version holds the number of steps applied; opening runs
 * the missing steps in order inside one write transaction (re-reading the version once the write
 * lock is held, so two processes opening a fresh file at once do not both migrate). A database
 * whose version is beyond the list was written by a newer quire and is refused rather than
 * misread. The schema is documented for people using the sqlite3 shell in docs/schema.md; keep
 * the two in step.
 */
#include "store_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Step i brings the schema from version i to i + 1. Never edit a shipped step: append one. */
static const char *const migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE documents ("
    "  id INTEGER PRIMARY KEY,"
    "  sha256 TEXT NOT NULL UNIQUE,"
    "  size INTEGER NOT NULL,"
    "  pages INTEGER,"
    "  status TEXT NOT NULL DEFAULT 'queued'"
    "    CHECK (status IN ('queued', 'running', 'done', 'failed')),"
    "  error TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  added_at TEXT NOT NULL,"
    "  started_at TEXT,"
    "  finished_at TEXT,"
    "  seconds REAL);"
    "CREATE INDEX documents_by_status ON documents(status);"
    "CREATE TABLE document_paths ("
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  path TEXT NOT NULL UNIQUE,"
    "  size INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL,"
    "  seen_at TEXT NOT NULL);"
    "CREATE INDEX document_paths_by_document ON document_paths(document_id);"
    "CREATE TABLE pages ("
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  page INTEGER NOT NULL,"
    "  width REAL NOT NULL,"
    "  height REAL NOT NULL,"
    "  has_text_layer INTEGER NOT NULL,"
    "  PRIMARY KEY (document_id, page)) WITHOUT ROWID;"
    "CREATE TABLE tables ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"   /* ids are never reused: `quire show ID` */
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  page INTEGER NOT NULL,"
    "  x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  n_cols INTEGER NOT NULL,"
    "  header_rows INTEGER NOT NULL,"
    "  engine TEXT NOT NULL,"
    "  model_id TEXT,"
    "  confidence REAL NOT NULL,"
    "  otsl TEXT NOT NULL,"
    "  markdown TEXT NOT NULL,"
    "  latex TEXT NOT NULL,"
    "  html TEXT NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX tables_by_document ON tables(document_id, page);"
    "CREATE INDEX tables_by_created ON tables(created_at);"
    "CREATE TABLE cells ("
    "  id INTEGER PRIMARY KEY,"
    "  table_id INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE,"
    "  row INTEGER NOT NULL,"
    "  col INTEGER NOT NULL,"
    "  rowspan INTEGER NOT NULL,"
    "  colspan INTEGER NOT NULL,"
    "  kind TEXT NOT NULL"
    "    CHECK (kind IN ('data', 'column_header', 'row_header', 'section')),"
    "  is_header INTEGER NOT NULL,"
    "  text TEXT NOT NULL,"
    "  x0 REAL, y0 REAL, x1 REAL, y1 REAL,"
    "  UNIQUE (table_id, row, col));"
    "CREATE TABLE attempts ("
    "  id INTEGER PRIMARY KEY,"
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  started_at TEXT NOT NULL,"
    "  finished_at TEXT,"
    "  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'requeued')),"
    "  error TEXT);"
    "CREATE INDEX attempts_by_document ON attempts(document_id);"
    "CREATE VIRTUAL TABLE cells_fts USING fts5("
    "  text, content = 'cells', content_rowid = 'id',"
    "  tokenize = 'unicode61 remove_diacritics 2');"
    "CREATE TRIGGER cells_fts_insert AFTER INSERT ON cells BEGIN"
    "  INSERT INTO cells_fts(rowid, text) VALUES (new.id, new.text);"
    "END;"
    "CREATE TRIGGER cells_fts_delete AFTER DELETE ON cells BEGIN"
    "  INSERT INTO cells_fts(cells_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    "END;"
    "CREATE TRIGGER cells_fts_update AFTER UPDATE OF text ON cells BEGIN"
    "  INSERT INTO cells_fts(cells_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    "  INSERT INTO cells_fts(rowid, text) VALUES (new.id, new.text);"
    "END;",
    /* 2: tables that continue on the next page; the engine and model of a document's run */
    "ALTER TABLE tables ADD COLUMN continues_id INTEGER"
    "  REFERENCES tables(id) ON DELETE SET NULL;"
    "ALTER TABLE tables ADD COLUMN repeated_header_rows INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX tables_by_continues ON tables(continues_id) WHERE continues_id IS NOT NULL;"
    "ALTER TABLE documents ADD COLUMN engine TEXT;"
    "ALTER TABLE documents ADD COLUMN model_id TEXT;"
    /* older runs recorded these per table only: the best guess from the tables (a document
     * without tables stays unknown, NULL) */
    "UPDATE documents SET"
    "  model_id = (SELECT max(t.model_id) FROM tables t WHERE t.document_id = documents.id),"
    "  engine = (SELECT CASE WHEN max(t.model_id) IS NULL THEN 'text'"
    "                        WHEN max(t.engine <> 'vlm') = 1 THEN 'auto' ELSE 'vlm' END"
    "            FROM tables t WHERE t.document_id = documents.id HAVING count(*) > 0)"
    " WHERE status = 'done';",
    /* 3: table regions found on a page that no engine read (a scanned page under the text
     * engine, which needs the PDF's text) */
    "ALTER TABLE pages ADD COLUMN unread_regions INTEGER NOT NULL DEFAULT 0;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* "Now" as stored in every *_at column: ISO 8601, UTC, whole seconds. */
#define NOW "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_DOC_BY_SHA] = "SELECT id, status FROM documents WHERE sha256 = ?1",
    [STMT_DOC_INSERT] = "INSERT INTO documents (sha256, size, status, added_at)"
                        " VALUES (?1, ?2, 'queued', " NOW ")",
    [STMT_PATH_UPSERT] = "INSERT INTO document_paths (document_id, path, size, mtime, seen_at)"
                         " VALUES (?1, ?2, ?3, ?4, " NOW ")"
                         " ON CONFLICT (path) DO UPDATE SET document_id = excluded.document_id,"
                         " size = excluded.size, mtime = excluded.mtime,"
                         " seen_at = excluded.seen_at",
    [STMT_PATH_LOOKUP] = "SELECT d.id, d.status FROM document_paths p"
                         " JOIN documents d ON d.id = p.document_id"
                         " WHERE p.path = ?1 AND ((p.size = ?2 AND p.mtime = ?3) OR ?2 < 0)",
    [STMT_DOC_START] = "UPDATE documents SET status = 'running', attempts = attempts + 1,"
                       " started_at = " NOW ", finished_at = NULL, seconds = NULL, error = NULL"
                       " WHERE id = ?1",
    [STMT_ATTEMPT_INSERT] = "INSERT INTO attempts (document_id, started_at, status)"
                            " VALUES (?1, " NOW ", 'running')",
    [STMT_DOC_FAIL] = "UPDATE documents SET status = 'failed', error = ?2,"
                      " finished_at = " NOW ","
                      " seconds = (julianday('now') - julianday(started_at)) * 86400.0"
                      " WHERE id = ?1",
    [STMT_ATTEMPT_CLOSE] = "UPDATE attempts SET status = ?2, error = ?3, finished_at = " NOW
                           " WHERE document_id = ?1 AND status = 'running'",
    [STMT_DOC_REQUEUE] = "UPDATE documents SET status = 'queued', started_at = NULL"
                         " WHERE id = ?1 AND status = 'running'",
    [STMT_ATTEMPTS_REQUEUE_RUNNING] = "UPDATE attempts SET status = 'requeued', finished_at = " NOW
                                      " WHERE status = 'running'",
    [STMT_DOCS_REQUEUE_RUNNING] = "UPDATE documents SET status = 'queued', started_at = NULL"
                                  " WHERE status = 'running'",
    [STMT_DOCS_RETRY_FAILED] = "UPDATE documents SET status = 'queued', error = NULL,"
                               " started_at = NULL, finished_at = NULL, seconds = NULL"
                               " WHERE status = 'failed'",
    [STMT_DOC_EXISTS] = "SELECT 1 FROM documents WHERE id = ?1",
    [STMT_PAGES_DELETE] = "DELETE FROM pages WHERE document_id = ?1",
    [STMT_TABLES_DELETE] = "DELETE FROM tables WHERE document_id = ?1",
    [STMT_PAGE_INSERT] = "INSERT INTO pages (document_id, page, width, height, has_text_layer,"
                         " unread_regions) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_TABLE_INSERT] = "INSERT INTO tables (document_id, page, x0, y0, x1, y1, n_rows, n_cols,"
                          " header_rows, engine, model_id, confidence, otsl, markdown, latex,"
                          " html, continues_id, repeated_header_rows, created_at)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                          " ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, " NOW ")",
    [STMT_CELL_INSERT] = "INSERT INTO cells (table_id, row, col, rowspan, colspan, kind,"
                         " is_header, text, x0, y0, x1, y1)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [STMT_DOC_DONE] = "UPDATE documents SET status = 'done', error = NULL, pages = ?2,"
                      " finished_at = " NOW ", seconds = ?3, engine = ?4, model_id = ?5"
                      " WHERE id = ?1",
    [STMT_TABLE_BEFORE] = "SELECT continues_id FROM tables WHERE id = ?1",
    [STMT_TABLE_AFTER] = "SELECT id FROM tables WHERE continues_id = ?1 ORDER BY id LIMIT 1",
    [STMT_CELLS_OF_TABLE] = "SELECT row, col, rowspan, colspan, kind, text, x0, y0, x1, y1"
                            " FROM cells WHERE table_id = ?1 ORDER BY row, col",
    [STMT_STATUS_COUNTS] = "SELECT status, count(*) FROM documents GROUP BY status",
    [STMT_COUNT_TABLES] = "SELECT count(*) FROM tables",
    [STMT_COUNT_PAGES] = "SELECT count(*) FROM pages",
    [STMT_COUNT_UNREAD_PAGES] = "SELECT count(*) FROM pages WHERE unread_regions > 0",
    [STMT_FAILURES] = "SELECT d.id, (SELECT p.path FROM document_paths p"
                      "   WHERE p.document_id = d.id ORDER BY p.seen_at DESC, p.path LIMIT 1),"
                      " coalesce(d.error, ''), d.attempts, d.finished_at"
                      " FROM documents d WHERE d.status = 'failed'"
                      " ORDER BY d.finished_at, d.id",
};

const char *doc_status_name(enum doc_status st)
{
    switch (st) {
    case DOC_QUEUED: return "queued";
    case DOC_RUNNING: return "running";
    case DOC_DONE: return "done";
    case DOC_FAILED: return "failed";
    }
    return "unknown";
}

static int map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return QUIRE_EBUSY;
    case SQLITE_READONLY: return QUIRE_EREADONLY;
    case SQLITE_FULL: return QUIRE_EFULL;
    case SQLITE_NOMEM: return QUIRE_ENOMEM;
    default: return QUIRE_EDB;
    }
}

int store__sqlite_error(struct store *s, int rc)
{
    const char *m = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    snprintf(s->errmsg, sizeof s->errmsg, "%s", m ? m : sqlite3_errstr(rc));
    int err = map_sqlite(rc);
    return err ? err : QUIRE_EDB;
}

int store__error(struct store *s, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return err;
}

const char *store_errmsg(struct store *s) { return s ? s->errmsg : "no database"; }

sqlite3_stmt *store__stmt(struct store *s, enum store_stmt id, int *err)
{
    assert(id < STMT_COUNT);
    sqlite3_stmt *st = s->stmts[id];
    if (!st) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
                                    NULL);
        if (rc != SQLITE_OK) {
            *err = store__sqlite_error(s, rc);
            return NULL;
        }
        s->stmts[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

void store__done(sqlite3_stmt *st)
{
    if (st)
        sqlite3_reset(st);
}

int store__exec(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int err = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = store__sqlite_error(s, rc);
    sqlite3_reset(st);
    return err;
}

static int run_cached(struct store *s, enum store_stmt id)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, id, &err);
    return st ? store__exec(s, st) : err;
}

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static void release_write_lock(struct store *s)
{
    if (s->holds_write_lock) {
        s->holds_write_lock = false;
        pthread_mutex_unlock(&write_lock);
    }
}

int store__begin(struct store *s)
{
    assert(!s->holds_write_lock);
    pthread_mutex_lock(&write_lock);
    s->holds_write_lock = true;
    int err = run_cached(s, STMT_BEGIN);
    if (err)
        release_write_lock(s);
    return err;
}

int store__commit(struct store *s)
{
    int err = run_cached(s, STMT_COMMIT);
    if (!err)
        release_write_lock(s);
    return err; /* on failure the transaction is still open: the caller rolls back */
}

void store__rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db)) { /* else SQLite already rolled back (SQLITE_FULL) */
        char keep[sizeof s->errmsg];
        memcpy(keep, s->errmsg, sizeof keep);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        memcpy(s->errmsg, keep, sizeof keep);
    }
    release_write_lock(s);
}

int store__bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    if (!text)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
}

char *store__column_strdup(sqlite3_stmt *st, int col, int *err)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    if (!t)
        return NULL;
    char *d = q_strdup((const char *)t);
    if (!d)
        *err = QUIRE_ENOMEM;
    return d;
}

/* --- opening ---------------------------------------------------------------------------------- */

static int get_user_version(struct store *s, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    int err = rc == SQLITE_OK ? 0 : store__sqlite_error(s, rc);
    sqlite3_finalize(st);
    return err;
}

static int exec_sql(struct store *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store__sqlite_error(s, rc);
}

static int too_new(struct store *s, int version)
{
    return store__error(s, QUIRE_EDB,
                        "schema version %d is newer than this quire supports (%d); "
                        "use a newer quire", version, SCHEMA_VERSION);
}

/* Brings the schema up to SCHEMA_VERSION in one transaction. */
static int migrate(struct store *s)
{
    int version = 0;
    int err = get_user_version(s, &version);
    if (err)
        return err;
    if (version > SCHEMA_VERSION)
        return too_new(s, version);
    if (version == SCHEMA_VERSION)
        return 0;
    if (s->readonly) {
        s->old_schema = true;
        return store__error(s, QUIRE_EDB,
                            "schema version %d needs upgrading to %d; open the database once "
                            "with a command that writes (e.g. quire batch)",
                            version, SCHEMA_VERSION);
    }
    if ((err = exec_sql(s, "BEGIN IMMEDIATE")))
        return err;
    if ((err = get_user_version(s, &version)))   /* another process may have migrated */
        goto out_rollback;
    if (version > SCHEMA_VERSION) {
        err = too_new(s, version);
        goto out_rollback;
    }
    for (int v = version; v < SCHEMA_VERSION; v++) {
        if ((err = exec_sql(s, migrations[v])))
            goto out_rollback;
    }
    char set[64];
    snprintf(set, sizeof set, "PRAGMA user_version = %d", SCHEMA_VERSION);
    if ((err = exec_sql(s, set)) || (err = exec_sql(s, "COMMIT")))
        goto out_rollback;
    return 0;

out_rollback:
    store__rollback(s);
    return err;
}

static int configure(struct store *s, int busy_timeout_ms)
{
    int rc = sqlite3_busy_timeout(s->db, busy_timeout_ms > 0 ? busy_timeout_ms : 0);
    if (rc != SQLITE_OK)
        return store__sqlite_error(s, rc);
    sqlite3_extended_result_codes(s->db, 1);
    int err = exec_sql(s, "PRAGMA foreign_keys = ON");
    if (err)
        return err;
    if (s->readonly)
        return 0;
    /* WAL: readers never block the writer nor the other way round. NORMAL sync is durable
     * across application crashes and consistent across power loss in WAL mode. */
    if ((err = exec_sql(s, "PRAGMA journal_mode = WAL")))
        return err;
    return exec_sql(s, "PRAGMA synchronous = NORMAL");
}

/* A file whose permission bits allow nobody to write is treated as read-only even for root,
 * who could write it anyway: the user marked it so. */
static bool file_marked_readonly(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !(st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH));
}

static int open_common(const char *path, int busy_timeout_ms, bool readonly, struct store **out,
                       char **msg, bool *old_schema)
{
    *out = NULL;
    if (msg)
        *msg = NULL;
    struct store *s = q_calloc(1, sizeof *s);
    if (!s)
        return QUIRE_ENOMEM;
    s->readonly = readonly;
    int err = QUIRE_ENOMEM;
    if (!(s->path = q_strdup(path)))
        goto out_free;

    struct stat sb;
    if (readonly && stat(path, &sb) != 0) {
        err = store__error(s, QUIRE_ENOENT, "no such file");
        goto out_free;
    }
    if (!readonly && file_marked_readonly(path)) {
        err = store__error(s, QUIRE_EREADONLY,
                           "the file is read-only (its permissions allow no writing)");
        goto out_free;
    }
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err = store__sqlite_error(s, rc);
        goto out_free;
    }
    if (!readonly && sqlite3_db_readonly(s->db, "main") == 1) {
        err = store__error(s, QUIRE_EREADONLY, "the file or its directory is read-only");
        goto out_free;
    }
    if ((err = configure(s, busy_timeout_ms)) || (err = migrate(s)))
        goto out_free;
    s->errmsg[0] = '\0';
    *out = s;
    return 0;

out_free:
    if (msg)
        *msg = q_asprintf("%s: %s", path, s->errmsg[0] ? s->errmsg : err_str(err));
    if (old_schema)
        *old_schema = s->old_schema;
    store_close(s);
    return err;
}

int store_open(const char *path, int busy_timeout_ms, struct store **out, char **msg)
{
    return open_common(path, busy_timeout_ms, false, out, msg, NULL);
}

int store_open_readonly(const char *path, int busy_timeout_ms, struct store **out, char **msg)
{
    bool old = false;
    int err = open_common(path, busy_timeout_ms, true, out, msg, &old);
    if (!err || !old)
        return err;
    /* A database from an older quire: upgrade it, as the first command that writes would, when
     * the file may be written; one nobody may write keeps its schema and gets the message. */
    struct store *w = NULL;
    if (store_open(path, busy_timeout_ms, &w, NULL))
        return err;
    store_close(w);
    if (msg) {
        free(*msg);
        *msg = NULL;
    }
    return open_common(path, busy_timeout_ms, true, out, msg, NULL);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    sqlite3_close(s->db);     /* NULL is a harmless no-op */
    free(s->path);
    free(s);
}
