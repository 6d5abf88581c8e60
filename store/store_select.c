/*
 * store/store_select.c - choosing stored documents to process again (`quire reprocess`): by the
 * engine and model of their latest run, by path and by when they were processed.
 *
 * Like the table search, the SQL is built from fixed fragments and every user value is bound.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int build_select(struct store *s, const struct store_document_filter *f,
                        const char *before, sqlite3_stmt **out)
{
    sqlite3_str *sql = sqlite3_str_new(s->db);
    sqlite3_str_appendall(sql, "SELECT d.id, d.sha256, (SELECT p.path FROM document_paths p"
                               " WHERE p.document_id = d.id ORDER BY ");
    if (f->doc_pattern)
        sqlite3_str_appendf(sql, "(%s) DESC, ", store__path_match(f->doc_pattern));
    sqlite3_str_appendall(sql, "p.seen_at DESC, p.path LIMIT 1), d.engine, d.model_id,"
                               " (SELECT count(*) FROM tables t WHERE t.document_id = d.id)"
                               " FROM documents d WHERE d.status = 'done'");
    if (f->stale_only)
        sqlite3_str_appendall(sql, " AND (d.engine IS NULL OR d.engine IS NOT :engine"
                                   " OR d.model_id IS NOT :model)");
    if (f->made_by)
        sqlite3_str_appendall(sql, " AND (d.engine = :made_by OR d.model_id = :made_by)");
    if (f->doc_pattern)
        sqlite3_str_appendf(sql, " AND EXISTS (SELECT 1 FROM document_paths p"
                                 " WHERE p.document_id = d.id AND %s)",
                            store__path_match(f->doc_pattern));
    if (before)
        sqlite3_str_appendall(sql, " AND d.finished_at < :before");
    sqlite3_str_appendall(sql, " ORDER BY d.id");
    int rc = sqlite3_str_errcode(sql);
    char *text = sqlite3_str_finish(sql);
    if (rc != SQLITE_OK || !text) {
        sqlite3_free(text);
        return store__error(s, QUIRE_ENOMEM, "out of memory choosing documents");
    }
    rc = sqlite3_prepare_v2(s->db, text, -1, out, NULL);
    sqlite3_free(text);
    if (rc != SQLITE_OK)
        return store__sqlite_error(s, rc);
    static const char *const names[] = {":engine", ":model", ":made_by", ":doc", ":before"};
    const char *values[] = {f->engine, f->model_id, f->made_by, f->doc_pattern, before};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int idx = sqlite3_bind_parameter_index(*out, names[i]);
        if (idx)
            store__bind_text(*out, idx, values[i]);
    }
    return 0;
}

int store_documents_select(struct store *s, const struct store_document_filter *f,
                           struct store_document_ref **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char before[32];
    if (f->before && !store__normalize_date(f->before, before))
        return store__error(s, QUIRE_EINVAL,
                            "malformed date '%s' (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS])",
                            f->before);
    sqlite3_stmt *st = NULL;
    int err = build_select(s, f, f->before ? before : NULL, &st);
    if (err)
        return err;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (q_grow((void **)out, sizeof **out, &cap, *n + 1)) {
            err = store__error(s, QUIRE_ENOMEM, "out of memory choosing documents");
            break;
        }
        struct store_document_ref *r = &(*out)[(*n)++];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        const char *sha = (const char *)sqlite3_column_text(st, 1);
        snprintf(r->sha256, sizeof r->sha256, "%s", sha ? sha : "");
        r->path = store__column_strdup(st, 2, &err);
        r->engine = store__column_strdup(st, 3, &err);
        r->model_id = store__column_strdup(st, 4, &err);
        r->tables = sqlite3_column_int64(st, 5);
        if (err) {
            err = store__error(s, err, "out of memory choosing documents");
            break;
        }
    }
    if (!err && rc != SQLITE_DONE)
        err = store__sqlite_error(s, rc);
    sqlite3_finalize(st);
    if (err) {
        store_document_refs_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return err;
}

void store_document_refs_free(struct store_document_ref *refs, size_t n)
{
    if (!refs)
        return;
    for (size_t i = 0; i < n; i++) {
        free(refs[i].path);
        free(refs[i].engine);
        free(refs[i].model_id);
    }
    free(refs);
}
