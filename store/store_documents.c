/*
 * store/store_documents.c - documents, their paths and their processing state.
 *
 * State machine of documents.status (each change is one transaction):
 *   queued --start--> running --put_results--> done
 *                             --fail---------> failed --retry_failed--> queued
 *                             --requeue------> queued   (shutdown; requeue_running after a crash)
 * Every start opens a row in `attempts`; done, failed and requeue close it with that outcome, so
 * the attempts table is the document's history while documents holds its present state.
 */
#include "store_internal.h"

#include <string.h>

static enum doc_status status_from_text(const unsigned char *t)
{
    const char *s = (const char *)t;
    if (!s)
        return DOC_QUEUED;
    if (strcmp(s, "running") == 0)
        return DOC_RUNNING;
    if (strcmp(s, "done") == 0)
        return DOC_DONE;
    if (strcmp(s, "failed") == 0)
        return DOC_FAILED;
    return DOC_QUEUED;
}

/* Looks up the document by sha256: 0 and *found. */
static int doc_by_sha(struct store *s, const char *sha256, bool *found, int64_t *doc_id,
                      enum doc_status *status)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, STMT_DOC_BY_SHA, &err);
    if (!st)
        return err;
    store__bind_text(st, 1, sha256);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        *doc_id = sqlite3_column_int64(st, 0);
        *status = status_from_text(sqlite3_column_text(st, 1));
    } else if (rc != SQLITE_DONE) {
        err = store__sqlite_error(s, rc);
    }
    store__done(st);
    return err;
}

int store_document_add(struct store *s, const char *path, const char *sha256, int64_t size,
                       int64_t mtime, int64_t *doc_id, enum doc_status *status, bool *is_new)
{
    if (!path || !sha256 || !*sha256)
        return store__error(s, QUIRE_EINVAL, "store_document_add: path and sha256 are required");
    int err = store__begin(s);
    if (err)
        return err;
    bool found = false;
    int64_t id = 0;
    enum doc_status st_found = DOC_QUEUED;
    if ((err = doc_by_sha(s, sha256, &found, &id, &st_found)))
        goto out_rollback;
    sqlite3_stmt *st;
    if (!found) {
        if (!(st = store__stmt(s, STMT_DOC_INSERT, &err)))
            goto out_rollback;
        store__bind_text(st, 1, sha256);
        sqlite3_bind_int64(st, 2, size);
        if ((err = store__exec(s, st)))
            goto out_rollback;
        id = sqlite3_last_insert_rowid(s->db);
        st_found = DOC_QUEUED;
    }
    if (!(st = store__stmt(s, STMT_PATH_UPSERT, &err)))
        goto out_rollback;
    sqlite3_bind_int64(st, 1, id);
    store__bind_text(st, 2, path);
    sqlite3_bind_int64(st, 3, size);
    sqlite3_bind_int64(st, 4, mtime);
    if ((err = store__exec(s, st)) || (err = store__commit(s)))
        goto out_rollback;
    *doc_id = id;
    *status = st_found;
    *is_new = !found;
    return 0;

out_rollback:
    store__rollback(s);
    return err;
}

int store_path_lookup(struct store *s, const char *path, int64_t size, int64_t mtime,
                      int64_t *doc_id, enum doc_status *status)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, STMT_PATH_LOOKUP, &err);
    if (!st)
        return err;
    store__bind_text(st, 1, path);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, mtime);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *doc_id = sqlite3_column_int64(st, 0);
        *status = status_from_text(sqlite3_column_text(st, 1));
    } else if (rc == SQLITE_DONE) {
        err = store__error(s, QUIRE_ENOENT, "%s: not seen before with this size and mtime", path);
    } else {
        err = store__sqlite_error(s, rc);
    }
    store__done(st);
    return err;
}

/* Closes the document's open attempt with `outcome` ("done", "failed", "requeued"). */
int store__attempt_close(struct store *s, int64_t doc_id, const char *outcome, const char *error)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, STMT_ATTEMPT_CLOSE, &err);
    if (!st)
        return err;
    sqlite3_bind_int64(st, 1, doc_id);
    store__bind_text(st, 2, outcome);
    store__bind_text(st, 3, error);
    return store__exec(s, st);
}

/* Runs the cached update `id` on doc_id; QUIRE_ENOENT when it changed no row. */
static int update_doc(struct store *s, enum store_stmt id, int64_t doc_id, const char *text)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, id, &err);
    if (!st)
        return err;
    sqlite3_bind_int64(st, 1, doc_id);
    if (text && sqlite3_bind_parameter_count(st) >= 2)
        store__bind_text(st, 2, text);
    if ((err = store__exec(s, st)))
        return err;
    if (sqlite3_changes(s->db) == 0)
        return store__error(s, QUIRE_ENOENT, "no document %lld in the state needed",
                            (long long)doc_id);
    return 0;
}

int store_document_start(struct store *s, int64_t doc_id)
{
    int err = store__begin(s);
    if (err)
        return err;
    /* An attempt left open by a crash is closed as requeued before the new one starts. */
    if ((err = update_doc(s, STMT_DOC_START, doc_id, NULL)) ||
        (err = store__attempt_close(s, doc_id, "requeued", NULL)))
        goto out_rollback;
    sqlite3_stmt *st = store__stmt(s, STMT_ATTEMPT_INSERT, &err);
    if (!st)
        goto out_rollback;
    sqlite3_bind_int64(st, 1, doc_id);
    if ((err = store__exec(s, st)) || (err = store__commit(s)))
        goto out_rollback;
    return 0;

out_rollback:
    store__rollback(s);
    return err;
}

int store_document_fail(struct store *s, int64_t doc_id, const char *error)
{
    if (!error)
        error = "";
    int err = store__begin(s);
    if (err)
        return err;
    if ((err = update_doc(s, STMT_DOC_FAIL, doc_id, error)) ||
        (err = store__attempt_close(s, doc_id, "failed", error)) || (err = store__commit(s)))
        goto out_rollback;
    return 0;

out_rollback:
    store__rollback(s);
    return err;
}

int store_document_requeue(struct store *s, int64_t doc_id)
{
    int err = store__begin(s);
    if (err)
        return err;
    if ((err = update_doc(s, STMT_DOC_REQUEUE, doc_id, NULL)) ||
        (err = store__attempt_close(s, doc_id, "requeued", NULL)) || (err = store__commit(s)))
        goto out_rollback;
    return 0;

out_rollback:
    store__rollback(s);
    return err;
}

/* Runs one bulk update in a transaction together with `first` (may be STMT_COUNT = none);
 * *n = rows the bulk update changed. */
static int bulk_update(struct store *s, enum store_stmt first, enum store_stmt update, int *n)
{
    int err = 0;
    sqlite3_stmt *st;
    if ((err = store__begin(s)))
        return err;
    if (first != STMT_COUNT) {
        if (!(st = store__stmt(s, first, &err)) || (err = store__exec(s, st)))
            goto out_rollback;
    }
    if (!(st = store__stmt(s, update, &err)) || (err = store__exec(s, st)))
        goto out_rollback;
    int changed = sqlite3_changes(s->db);
    if ((err = store__commit(s)))
        goto out_rollback;
    if (n)
        *n = changed;
    return 0;

out_rollback:
    store__rollback(s);
    return err;
}

int store_requeue_running(struct store *s, int *n)
{
    return bulk_update(s, STMT_ATTEMPTS_REQUEUE_RUNNING, STMT_DOCS_REQUEUE_RUNNING, n);
}

int store_retry_failed(struct store *s, int *n)
{
    return bulk_update(s, STMT_COUNT, STMT_DOCS_RETRY_FAILED, n);
}
