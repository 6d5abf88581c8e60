/*
 * store/store_query.c - the read side: searching tables by cell text and filters, fetching one
 * table, and the processing status.
 *
 * Search semantics: every word of the user's text must occur in some cell of the table (not
 * necessarily the same cell), so the query has one FTS5 sub-select per word. Each word is passed
 * to MATCH as a quoted phrase (inner quotes doubled), which makes FTS5 syntax in user text
 * (AND, OR, NOT, NEAR, column filters, parentheses, stray quotes) plain text. The SQL itself is
 * built only from fixed fragments; every user value is a bound parameter.
 */
#include "store_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 32

/* Columns of a table row, in the order row_to_info() reads them. The path sub-select is spliced
 * in front of them. */
#define TABLE_COLUMNS                                                                             \
    "t.id, t.document_id, t.page, t.x0, t.y0, t.x1, t.y1, t.n_rows, t.n_cols, t.header_rows,"   \
    " t.engine, t.model_id, t.confidence, t.created_at, t.otsl, t.markdown, t.latex, t.html,"    \
    " t.continues_id, t.repeated_header_rows"

struct store_cursor {
    struct store *s;
    sqlite3_stmt *st;     /* owned (not from the cache) */
    bool finished;
};

void store_query_init(struct store_query *q) { memset(q, 0, sizeof *q); }

void store_table_info_free(struct store_table_info *t)
{
    if (!t)
        return;
    free(t->path);
    free(t->engine);
    free(t->model_id);
    free(t->created_at);
    free(t->otsl);
    free(t->markdown);
    free(t->latex);
    free(t->html);
    table_free(t->table);
    free(t);
}

/* --- building the search ------------------------------------------------------------------- */

static bool has_glob_chars(const char *p) { return strpbrk(p, "*?[") != NULL; }

const char *store__path_match(const char *doc_pattern)
{
    return has_glob_chars(doc_pattern) ? "p.path GLOB :doc" : "instr(p.path, :doc) > 0";
}

bool store__normalize_date(const char *in, char out[32])
{
    static const char *const shapes[] = {"dddd-dd-dd", "dddd-dd-ddTdd:dd", "dddd-dd-ddTdd:dd:dd"};
    size_t len = strlen(in);
    if (len && in[len - 1] == 'Z')
        len--;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const char *shape = shapes[k];
        if (strlen(shape) != len)
            continue;
        bool ok = true;
        for (size_t i = 0; i < len && ok; i++) {
            char c = in[i];
            if (shape[i] == 'd')
                ok = isdigit((unsigned char)c);
            else if (shape[i] == 'T')
                ok = c == 'T' || c == ' ';
            else
                ok = c == shape[i];
        }
        if (ok) {
            memcpy(out, in, len);
            out[len] = '\0';
            if (len > 10)
                out[10] = 'T';
            return true;
        }
    }
    return false;
}

/* Does the word contain something the unicode61 tokenizer keeps (letters, digits, non-ASCII)? */
static bool word_has_token(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (isalnum(c) || c >= 0x80)
            return true;
    }
    return false;
}

/* Splits text into FTS5 phrases ("word" or "word"* for a trailing '*'); *n_words phrases go into
 * words[] (sqlite3_free each). *any_skipped tells that some word held no searchable character. */
static int make_phrases(struct store *s, const char *text, char **words, int *n_words,
                        bool *any_skipped)
{
    *n_words = 0;
    *any_skipped = false;
    const char *p = text;
    while (*p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        size_t n = (size_t)(p - start);
        if (!n)
            break;
        bool prefix = false;
        while (n && start[n - 1] == '*') {
            prefix = true;
            n--;
        }
        if (!word_has_token(start, n)) {
            *any_skipped = true;
            continue;
        }
        if (*n_words == MAX_WORDS)
            return store__error(s, QUIRE_EINVAL, "too many words in the search (at most %d)",
                                MAX_WORDS);
        sqlite3_str *w = sqlite3_str_new(s->db);
        sqlite3_str_appendchar(w, 1, '"');
        for (size_t i = 0; i < n; i++) {
            if (start[i] == '"')
                sqlite3_str_appendchar(w, 1, '"');
            sqlite3_str_appendchar(w, 1, start[i]);
        }
        sqlite3_str_appendchar(w, 1, '"');
        if (prefix)
            sqlite3_str_appendchar(w, 1, '*');
        if (sqlite3_str_errcode(w)) {
            sqlite3_free(sqlite3_str_finish(w));
            return store__error(s, QUIRE_ENOMEM, "out of memory building the search");
        }
        words[(*n_words)++] = sqlite3_str_finish(w);
    }
    return 0;
}

/* The path shown for a table: one matching the pattern first, then the most recently seen. */
static void append_path_select(sqlite3_str *sql, const struct store_query *q)
{
    sqlite3_str_appendall(sql, "(SELECT p.path FROM document_paths p"
                               " WHERE p.document_id = t.document_id ORDER BY ");
    if (q && q->doc_pattern)
        sqlite3_str_appendf(sql, "(%s) DESC, ",
                            has_glob_chars(q->doc_pattern) ? "p.path GLOB :doc"
                                                           : "instr(p.path, :doc) > 0");
    sqlite3_str_appendall(sql, "p.seen_at DESC, p.path LIMIT 1), ");
}

static int bind_named_text(sqlite3_stmt *st, const char *name, const char *value)
{
    int idx = sqlite3_bind_parameter_index(st, name);
    return idx ? store__bind_text(st, idx, value) : SQLITE_OK;
}

static int build_search(struct store *s, const struct store_query *q, sqlite3_stmt **out)
{
    char *words[MAX_WORDS];
    int n_words = 0;
    bool skipped = false;
    char since[32] = "";
    if (q->since && !store__normalize_date(q->since, since))
        return store__error(s, QUIRE_EINVAL,
                            "malformed date '%s' (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS])",
                            q->since);
    int err = q->text ? make_phrases(s, q->text, words, &n_words, &skipped) : 0;
    if (err)
        goto out;

    sqlite3_str *sql = sqlite3_str_new(s->db);
    sqlite3_str_appendall(sql, "SELECT ");
    append_path_select(sql, q);
    sqlite3_str_appendall(sql, TABLE_COLUMNS " FROM tables t WHERE 1");
    for (int i = 0; i < n_words; i++)
        sqlite3_str_appendf(sql, " AND t.id IN (SELECT c.table_id FROM cells_fts"
                                 " JOIN cells c ON c.id = cells_fts.rowid"
                                 " WHERE cells_fts MATCH :w%d)", i);
    if (skipped && n_words == 0)
        sqlite3_str_appendall(sql, " AND 0");   /* only punctuation: nothing can match */
    if (q->doc_pattern)
        sqlite3_str_appendf(sql, " AND EXISTS (SELECT 1 FROM document_paths p"
                                 " WHERE p.document_id = t.document_id AND %s)",
                            has_glob_chars(q->doc_pattern) ? "p.path GLOB :doc"
                                                           : "instr(p.path, :doc) > 0");
    if (q->page > 0)
        sqlite3_str_appendall(sql, " AND t.page = :page");
    if (q->since)
        sqlite3_str_appendall(sql, " AND t.created_at >= :since");
    sqlite3_str_appendall(sql, " ORDER BY t.document_id, t.page, t.y0, t.x0, t.id");
    if (q->limit > 0)
        sqlite3_str_appendall(sql, " LIMIT :limit");
    int rc = sqlite3_str_errcode(sql);
    char *text = sqlite3_str_finish(sql);
    if (rc != SQLITE_OK || !text) {
        sqlite3_free(text);
        err = store__error(s, QUIRE_ENOMEM, "out of memory building the search");
        goto out;
    }
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(s->db, text, -1, &st, NULL);
    sqlite3_free(text);
    if (rc != SQLITE_OK) {
        err = store__sqlite_error(s, rc);
        goto out;
    }
    char name[16];
    for (int i = 0; i < n_words; i++) {
        snprintf(name, sizeof name, ":w%d", i);
        bind_named_text(st, name, words[i]);
    }
    bind_named_text(st, ":doc", q->doc_pattern);
    bind_named_text(st, ":since", q->since ? since : NULL);
    if (q->page > 0)
        sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":page"), q->page);
    if (q->limit > 0)
        sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":limit"), q->limit);
    *out = st;

out:
    for (int i = 0; i < n_words; i++)
        sqlite3_free(words[i]);
    return err;
}

/* --- reading rows -------------------------------------------------------------------------- */

int store__load_table(struct store *s, int64_t table_id, int n_rows, int n_cols, int header_rows,
                      struct table **out)
{
    *out = NULL;
    if (n_rows < 0 || n_cols < 0 || header_rows < 0 || header_rows > n_rows)
        return store__error(s, QUIRE_EDB, "table %lld: bad shape %dx%d (%d header rows)",
                            (long long)table_id, n_rows, n_cols, header_rows);
    struct table *t = table_new(n_rows, n_cols);
    if (!t)
        return store__error(s, QUIRE_ENOMEM, "out of memory loading table %lld",
                            (long long)table_id);
    t->header_rows = header_rows;
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, STMT_CELLS_OF_TABLE, &err);
    if (!st)
        goto out_free;
    sqlite3_bind_int64(st, 1, table_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        static const char *const kinds[] = {"data", "column_header", "row_header", "section"};
        const char *kind_text = (const char *)sqlite3_column_text(st, 4);
        enum cell_kind kind = CELL_DATA;
        for (int k = 0; k < 4; k++) {
            if (kind_text && strcmp(kind_text, kinds[k]) == 0)
                kind = (enum cell_kind)k;
        }
        int row = sqlite3_column_int(st, 0), col = sqlite3_column_int(st, 1);
        err = table_set_cell(t, row, col, sqlite3_column_int(st, 2), sqlite3_column_int(st, 3),
                             kind, (const char *)sqlite3_column_text(st, 5));
        if (err == QUIRE_ENOMEM) {
            store__error(s, err, "out of memory loading table %lld", (long long)table_id);
            goto out_reset;
        }
        if (err) {
            err = store__error(s, QUIRE_EDB, "table %lld: stored cell (%d, %d) does not fit",
                               (long long)table_id, row, col);
            goto out_reset;
        }
        if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
            struct table_cell *c = table_cell_at_mut(t, row, col);
            if (c) {
                c->has_bbox = true;
                c->bbox = (struct rect){sqlite3_column_double(st, 6), sqlite3_column_double(st, 7),
                                        sqlite3_column_double(st, 8), sqlite3_column_double(st, 9)};
            }
        }
    }
    if (rc != SQLITE_DONE)
        err = store__sqlite_error(s, rc);

out_reset:
    store__done(st);
out_free:
    if (err)
        table_free(t);
    else
        *out = t;
    return err;
}

/* Fills a new info from the current row of st (laid out as path, TABLE_COLUMNS). */
static int row_to_info(struct store *s, sqlite3_stmt *st, struct store_table_info **out)
{
    *out = NULL;
    struct store_table_info *t = q_calloc(1, sizeof *t);
    if (!t)
        return store__error(s, QUIRE_ENOMEM, "out of memory reading a table");
    int err = 0;
    t->path = store__column_strdup(st, 0, &err);
    t->id = sqlite3_column_int64(st, 1);
    t->document_id = sqlite3_column_int64(st, 2);
    t->page = sqlite3_column_int(st, 3);
    t->bbox = (struct rect){sqlite3_column_double(st, 4), sqlite3_column_double(st, 5),
                            sqlite3_column_double(st, 6), sqlite3_column_double(st, 7)};
    t->n_rows = sqlite3_column_int(st, 8);
    t->n_cols = sqlite3_column_int(st, 9);
    t->header_rows = sqlite3_column_int(st, 10);
    t->engine = store__column_strdup(st, 11, &err);
    t->model_id = store__column_strdup(st, 12, &err);
    t->confidence = sqlite3_column_double(st, 13);
    t->created_at = store__column_strdup(st, 14, &err);
    t->otsl = store__column_strdup(st, 15, &err);
    t->markdown = store__column_strdup(st, 16, &err);
    t->latex = store__column_strdup(st, 17, &err);
    t->html = store__column_strdup(st, 18, &err);
    t->continues_id = sqlite3_column_int64(st, 19);     /* NULL reads as 0 */
    t->repeated_header_rows = sqlite3_column_int(st, 20);
    if (!t->path && !err)
        t->path = q_strdup("");    /* a document whose paths were all removed */
    if (!t->path)
        err = QUIRE_ENOMEM;
    if (err) {
        err = store__error(s, err, "out of memory reading table %lld", (long long)t->id);
        goto out_free;
    }
    if ((err = store__load_table(s, t->id, t->n_rows, t->n_cols, t->header_rows, &t->table)))
        goto out_free;
    *out = t;
    return 0;

out_free:
    store_table_info_free(t);
    return err;
}

int store_query_begin(struct store *s, const struct store_query *q, struct store_cursor **out)
{
    *out = NULL;
    struct store_query all;
    if (!q) {
        store_query_init(&all);
        q = &all;
    }
    struct store_cursor *c = q_calloc(1, sizeof *c);
    if (!c)
        return store__error(s, QUIRE_ENOMEM, "out of memory starting a query");
    int err = build_search(s, q, &c->st);
    if (err) {
        free(c);
        return err;
    }
    c->s = s;
    *out = c;
    return 0;
}

int store_query_next(struct store_cursor *c, struct store_table_info **out)
{
    *out = NULL;
    if (c->finished)
        return 0;
    int rc = sqlite3_step(c->st);
    if (rc == SQLITE_ROW) {
        int err = row_to_info(c->s, c->st, out);
        if (err)
            c->finished = true;
        return err;
    }
    c->finished = true;
    int err = rc == SQLITE_DONE ? 0 : store__sqlite_error(c->s, rc);
    sqlite3_reset(c->st);     /* ends the read transaction */
    return err;
}

void store_query_end(struct store_cursor *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->st);
    free(c);
}

int store_table_get(struct store *s, int64_t id, struct store_table_info **out)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT (SELECT p.path FROM document_paths p"
                                " WHERE p.document_id = t.document_id"
                                " ORDER BY p.seen_at DESC, p.path LIMIT 1), " TABLE_COLUMNS
                                " FROM tables t WHERE t.id = ?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store__sqlite_error(s, rc);
    sqlite3_bind_int64(st, 1, id);
    int err = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        err = row_to_info(s, st, out);
    else if (rc == SQLITE_DONE)
        err = store__error(s, QUIRE_ENOENT, "no table with id %lld", (long long)id);
    else
        err = store__sqlite_error(s, rc);
    sqlite3_finalize(st);
    return err;
}

/* One step along a chain: the id in the first column of `id`'s row of statement `which`
 * (*next = 0 when there is none, or it is NULL). */
static int chain_step(struct store *s, enum store_stmt which, int64_t id, int64_t *next)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, which, &err);
    if (!st)
        return err;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    *next = 0;
    if (rc == SQLITE_ROW)
        *next = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        err = store__sqlite_error(s, rc);
    else if (which == STMT_TABLE_BEFORE)
        err = store__error(s, QUIRE_ENOENT, "no table with id %lld", (long long)id);
    store__done(st);
    return err;
}

/* A chain is at most one table per page of a document; this bounds a corrupt, looping one. */
#define MAX_CHAIN 100000

int store_table_chain(struct store *s, int64_t id, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    int err = 0;
    int64_t head = id, before = 0;
    size_t steps = 0;
    /* NEEDSWORK: not one read transaction (a caller may be stepping a query cursor on this
     * connection, e.g. export --merged), so a document re-processed during the walk can end it
     * early; the caller then fails to load a part, or shows the shorter chain. */
    while (!(err = chain_step(s, STMT_TABLE_BEFORE, head, &before)) && before) {
        if (++steps > MAX_CHAIN) {
            err = store__error(s, QUIRE_EDB, "table %lld: its continues_id chain loops",
                               (long long)id);
            break;
        }
        head = before;
    }
    size_t cap = 0;
    for (int64_t at = head; !err && at;) {
        if (*n > MAX_CHAIN) {
            err = store__error(s, QUIRE_EDB, "table %lld: its continues_id chain loops",
                               (long long)id);
        } else if (q_grow((void **)ids, sizeof **ids, &cap, *n + 1)) {
            err = store__error(s, QUIRE_ENOMEM, "out of memory reading a chain of tables");
        } else {
            (*ids)[(*n)++] = at;
            err = chain_step(s, STMT_TABLE_AFTER, at, &at);
        }
    }
    if (err) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return err;
}

/* --- status -------------------------------------------------------------------------------- */

static int count_of(struct store *s, enum store_stmt id, int64_t *n)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, id, &err);
    if (!st)
        return err;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        err = store__sqlite_error(s, rc);
    store__done(st);
    return err;
}

static int status_counts(struct store *s, struct store_status *out)
{
    static const char *const names[] = {"queued", "running", "done", "failed"};
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, STMT_STATUS_COUNTS, &err);
    if (!st)
        return err;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        for (int k = 0; k < 4; k++) {
            if (name && strcmp(name, names[k]) == 0)
                out->documents[k] = sqlite3_column_int64(st, 1);
        }
    }
    if (rc != SQLITE_DONE)
        err = store__sqlite_error(s, rc);
    store__done(st);
    return err;
}

static int status_failures(struct store *s, struct store_status *out)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, STMT_FAILURES, &err);
    if (!st)
        return err;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (q_grow((void **)&out->failures, sizeof *out->failures, &cap, out->n_failures + 1)) {
            err = store__error(s, QUIRE_ENOMEM, "out of memory listing failures");
            goto out;
        }
        struct store_failure *f = &out->failures[out->n_failures++];
        memset(f, 0, sizeof *f);
        f->document_id = sqlite3_column_int64(st, 0);
        f->path = store__column_strdup(st, 1, &err);
        f->error = store__column_strdup(st, 2, &err);
        f->attempts = sqlite3_column_int(st, 3);
        f->finished_at = store__column_strdup(st, 4, &err);
        if (!err && !f->path && !(f->path = q_strdup("")))
            err = QUIRE_ENOMEM;
        if (err) {
            err = store__error(s, err, "out of memory listing failures");
            goto out;
        }
    }
    if (rc != SQLITE_DONE)
        err = store__sqlite_error(s, rc);
out:
    store__done(st);
    return err;
}

int store_status_get(struct store *s, struct store_status *out)
{
    memset(out, 0, sizeof *out);
    /* One read transaction so the numbers agree with each other. */
    int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store__sqlite_error(s, rc);
    int err;
    if ((err = status_counts(s, out)) || (err = count_of(s, STMT_COUNT_TABLES, &out->tables)) ||
        (err = count_of(s, STMT_COUNT_PAGES, &out->pages)) ||
        (err = count_of(s, STMT_COUNT_UNREAD_PAGES, &out->unread_pages)) ||
        (err = status_failures(s, out)))
        store_status_release(out);
    store__rollback(s);   /* nothing was written: ending the read is all it does */
    return err;
}

void store_status_release(struct store_status *st)
{
    for (size_t i = 0; i < st->n_failures; i++) {
        free(st->failures[i].path);
        free(st->failures[i].error);
        free(st->failures[i].finished_at);
    }
    free(st->failures);
    memset(st, 0, sizeof *st);
}
