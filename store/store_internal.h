/*
 * store/store_internal.h - what the files of store/ share; private to store/.
 *
 * The connection keeps one cache of prepared statements, indexed by `enum store_stmt` (the SQL
 * text is in store.c). store__stmt() hands out a cached statement already reset and with its
 * bindings cleared; the caller resets it again when done (store__done) so no statement keeps a
 * read transaction open between calls.
 */
#ifndef QUIRE_STORE_INTERNAL_H
#define QUIRE_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

enum store_stmt {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    /* documents */
    STMT_DOC_BY_SHA,
    STMT_DOC_INSERT,
    STMT_PATH_UPSERT,
    STMT_PATH_LOOKUP,
    STMT_DOC_START,
    STMT_ATTEMPT_INSERT,
    STMT_DOC_FAIL,
    STMT_ATTEMPT_CLOSE,
    STMT_DOC_REQUEUE,
    STMT_ATTEMPTS_REQUEUE_RUNNING,
    STMT_DOCS_REQUEUE_RUNNING,
    STMT_DOCS_RETRY_FAILED,
    /* results */
    STMT_DOC_EXISTS,
    STMT_PAGES_DELETE,
    STMT_TABLES_DELETE,
    STMT_PAGE_INSERT,
    STMT_TABLE_INSERT,
    STMT_CELL_INSERT,
    STMT_DOC_DONE,
    STMT_TABLE_BEFORE,
    STMT_TABLE_AFTER,
    /* query side */
    STMT_CELLS_OF_TABLE,
    STMT_STATUS_COUNTS,
    STMT_COUNT_TABLES,
    STMT_COUNT_PAGES,
    STMT_COUNT_UNREAD_PAGES,
    STMT_FAILURES,
    STMT_COUNT
};

struct store {
    sqlite3 *db;
    char *path;                          /* the file, for messages */
    bool readonly;
    bool old_schema;          /* read-only open found a schema older than SCHEMA_VERSION */
    sqlite3_stmt *stmts[STMT_COUNT];     /* prepared on first use */
    char errmsg[512];                    /* message of the last failure */
    bool holds_write_lock;               /* between store__begin and commit/rollback */
};

/* The cached statement `id`, reset and with cleared bindings; NULL on failure (then *err holds
 * the code and the message is recorded). */
sqlite3_stmt *store__stmt(struct store *s, enum store_stmt id, int *err);
/* Resets a statement after use (so it holds no lock). */
void store__done(sqlite3_stmt *st);
/* Records SQLite's message for result code rc and returns the QUIRE_E* code it maps to. */
int store__sqlite_error(struct store *s, int rc);
/* Records a message of our own and returns err. */
int store__error(struct store *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Runs a cached statement that returns no rows (bindings already made) and resets it. */
int store__exec(struct store *s, sqlite3_stmt *st);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. store__rollback keeps the recorded message.
 * Write transactions of one process are serialized by a mutex taken in store__begin and released
 * by a successful store__commit or by store__rollback: the worker threads of one quire queue on
 * the mutex instead of meeting SQLite's busy handler, which sleeps in steps of up to 100 ms.
 * Other processes still meet the busy timeout. */
int store__begin(struct store *s);
int store__commit(struct store *s);
void store__rollback(struct store *s);

/* Binds text or NULL. */
int store__bind_text(sqlite3_stmt *st, int idx, const char *text);
/* A q_strdup of a text column, NULL when the column is NULL; *err = QUIRE_ENOMEM when the copy
 * failed. */
char *store__column_strdup(sqlite3_stmt *st, int col, int *err);

/* "YYYY-MM-DD" optionally followed by [T ]HH:MM[:SS] and a 'Z', copied into out in the stored
 * form (T separator, no Z) so that comparing strings compares times. False when malformed. */
bool store__normalize_date(const char *in, char out[32]);

/* "p.path GLOB :doc" or "instr(p.path, :doc) > 0": how a doc pattern matches a path (p). */
const char *store__path_match(const char *doc_pattern);

/* Closes the document's open attempt (if any) with outcome "done", "failed" or "requeued". */
int store__attempt_close(struct store *s, int64_t doc_id, const char *outcome, const char *error);

/* Rebuilds the table `table_id` from its cells (rows/cols/header_rows from the tables row). */
int store__load_table(struct store *s, int64_t table_id, int n_rows, int n_cols, int header_rows,
                      struct table **out);

#endif
