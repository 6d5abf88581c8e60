/*
 * store_queue.c - the paths of documents waiting in the queue, for `batch --resume` and
 * `watch` (documents queued by `quire retry` or left queued by a shutdown).
 */
#include <glib.h>

#include "store_internal.h"

int store_queued_paths(struct store *s, GPtrArray *out)
{
    /* One path per queued document: the one seen most recently. */
    static const char sql[] =
        "SELECT (SELECT path FROM document_paths p WHERE p.document_id = d.id"
        "        ORDER BY seen_at DESC, rowid DESC LIMIT 1)"
        " FROM documents d WHERE d.status = 'queued' ORDER BY d.id DESC";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store__sqlite_error(s, rc);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(st, 0);
        if (path)
            g_ptr_array_add(out, g_strdup(path));
    }
    int err = rc == SQLITE_DONE ? 0 : store__sqlite_error(s, rc);
    sqlite3_finalize(st);
    return err;
}
