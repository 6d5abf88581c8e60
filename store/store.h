/*
 * store/store.h - quire's SQLite database: documents, their pages and tables, cells with
 * full-text search, and the processing state that lets `quire batch --resume` and `quire watch`
 * pick up where they stopped.
 *
 * Design: one `struct store` wraps one SQLite connection (WAL mode, busy timeout, foreign keys
 * on). The schema is versioned with PRAGMA user_version and migrated forward on open. A document
 * is identified by the SHA-256 of its content; a second file with the same content becomes another
 * path of the same document. All results of a document are written in one transaction that first
 * deletes the document's old results, so after any crash a document is either fully stored or not
 * at all, and re-processing replaces results atomically.
 *
 * Threads: one connection per thread. A `struct store` may be used by one thread at a time; open
 * one per thread that needs one (SQLite serializes writers; the busy timeout absorbs the waits).
 *
 * Errors: functions return 0 or QUIRE_EDB / QUIRE_EBUSY / QUIRE_EREADONLY / QUIRE_EFULL /
 * QUIRE_ENOMEM / QUIRE_ENOENT (QUIRE_EINVAL for malformed arguments); store_errmsg() gives the
 * message for the last failure (SQLite's, or one naming the problem). SQLITE_BUSY and
 * SQLITE_LOCKED map to QUIRE_EBUSY, SQLITE_READONLY to QUIRE_EREADONLY, SQLITE_FULL to
 * QUIRE_EFULL, SQLITE_NOMEM to QUIRE_ENOMEM, everything else to QUIRE_EDB. A failed write leaves
 * the database as it was (each acting function is one transaction).
 *
 * A file whose permission bits allow no writing is opened by store_open as QUIRE_EREADONLY even
 * for root (who could write it anyway): the user marked it read-only.
 *
 * Query side: store_query_begin/next/end iterate the tables matching a struct store_query (cell
 * text through FTS5, document path, page, date), store_table_get fetches one, store_status_get
 * counts documents by state and lists failures. The schema is documented in docs/schema.md.
 */
#ifndef QUIRE_STORE_H
#define QUIRE_STORE_H

#include "../common/common.h"
#include "../table/table.h"

struct store;

enum doc_status { DOC_QUEUED = 0, DOC_RUNNING, DOC_DONE, DOC_FAILED };
const char *doc_status_name(enum doc_status s);

/* Opens (creating and migrating if needed) the database at path. On success *out owns the
 * connection (store_close()). On failure *msg (caller frees, may be NULL) names the file and
 * the problem. */
int store_open(const char *path, int busy_timeout_ms, struct store **out, char **msg);
/* Opens an existing database for reading only (the query commands): never creates the file. A
 * missing file is QUIRE_ENOENT. A database from an older quire is migrated first (a short write
 * through store_open) when the file may be written, and is QUIRE_EDB ("needs upgrading") when it
 * may not. Every write on the connection fails with QUIRE_EREADONLY. Same ownership as
 * store_open. */
int store_open_readonly(const char *path, int busy_timeout_ms, struct store **out, char **msg);
void store_close(struct store *s);   /* NULL is a no-op */
/* SQLite's message for the last failed call on this connection; owned by the store. */
const char *store_errmsg(struct store *s);

/* --- documents and their processing state ------------------------------------------------- */
/* Registers a file. When a document with this sha256 exists, `path` becomes (or stays) one of its
 * paths and *is_new is false; otherwise a new document with status DOC_QUEUED is created. Either
 * way *doc_id and *status describe the document. size/mtime are remembered for the path so a later
 * scan can skip re-hashing an unchanged file (store_path_lookup). */
int store_document_add(struct store *s, const char *path, const char *sha256, int64_t size,
                       int64_t mtime, int64_t *doc_id, enum doc_status *status, bool *is_new);
/* Looks up a path seen before with the same size and mtime (size < 0: whatever its size and
 * mtime were). Returns 0 and sets *doc_id and *status, or QUIRE_ENOENT when the path is unknown
 * or the file changed since. */
int store_path_lookup(struct store *s, const char *path, int64_t size, int64_t mtime,
                      int64_t *doc_id, enum doc_status *status);
/* Marks a document running (and records a new attempt) before work on it starts. */
int store_document_start(struct store *s, int64_t doc_id);
/* Marks a document failed with a message (stored in its error column and in the attempt). */
int store_document_fail(struct store *s, int64_t doc_id, const char *error);
/* Puts a running document back in the queue (shutdown before it finished). */
int store_document_requeue(struct store *s, int64_t doc_id);
/* After a crash: every document still marked running goes back to queued. *n = how many. */
int store_requeue_running(struct store *s, int *n);
/* Failed documents go back to queued; *n = how many. */
int store_retry_failed(struct store *s, int *n);
/* Appends (g_strdup) one path of every queued document to `out` (a GPtrArray of strings with
 * g_free as its free function), newest document first, so a caller taking paths from the end
 * processes the oldest first. */
struct _GPtrArray;
int store_queued_paths(struct store *s, struct _GPtrArray *out);

/* Which stored documents `quire reprocess` runs again. Only documents whose status is done are
 * chosen; every filter given must hold. */
struct store_document_filter {
    bool stale_only;         /* only documents whose latest run used another engine or model than
                              * `engine`/`model_id` (or an unknown one: documents.engine NULL) */
    const char *engine;      /* the engine run now ("text", "vlm", "auto"), for stale_only */
    const char *model_id;    /* the model run now, NULL for the text engine, for stale_only */
    const char *made_by;     /* latest run's engine or model id equal to this; NULL = any */
    const char *doc_pattern; /* a path as store_query's doc_pattern; NULL = any */
    const char *before;      /* finished before this UTC date/time (store_query's `since` form);
                              * NULL = any */
};

/* A chosen document: its id, content hash, one path (the most recently seen one matching the
 * filter's doc_pattern) and what its latest run recorded. Strings owned by the array. */
struct store_document_ref {
    int64_t id;
    char sha256[65];
    char *path;              /* NULL when the document has no path left */
    char *engine, *model_id; /* NULL when unknown / none */
    int64_t tables;          /* tables stored for it now */
};

/* The documents matching f, oldest id first: 0 with *out (free with store_document_refs_free)
 * and *n, QUIRE_EINVAL for a malformed `before` (message in store_errmsg), or a database error.
 * NEEDSWORK: the whole selection is held in memory (about 200 bytes a document). */
int store_documents_select(struct store *s, const struct store_document_filter *f,
                           struct store_document_ref **out, size_t *n);
void store_document_refs_free(struct store_document_ref *refs, size_t n);  /* NULL is a no-op */

/* --- results ------------------------------------------------------------------------------- */
struct page_result {
    int page;                 /* 1-based */
    double width, height;     /* points */
    bool has_text_layer;
    int unread_regions;       /* table regions found that no engine read (no text layer under
                               * the text engine) */
};

struct table_result {
    int page;                 /* 1-based */
    struct rect bbox;         /* points, top-left origin */
    const char *engine;       /* "text", "vlm", "auto" */
    const char *model_id;     /* NULL for the text-layer engine */
    double confidence;        /* 0..1 */
    struct table *table;      /* borrowed */
    /* A table that continues one on the page before (table_continues): 1 + the index in the
     * result's tables of the part it continues (an earlier one), 0 = it continues nothing. */
    size_t continues;
    int repeated_header_rows; /* leading rows repeating the header of the table it continues */
    int64_t id;               /* out: the table's id, set by store_document_put_results */
};

struct doc_result {
    int n_pages_total;        /* pages in the document */
    struct page_result *pages;  /* the pages processed */
    size_t n_pages;
    struct table_result *tables;
    size_t n_tables;
    double seconds;           /* processing time */
    const char *engine;       /* the engine of this run ("text", "vlm", "auto"); NULL = unknown */
    const char *model_id;     /* the model of this run, NULL for the text engine */
};

/* Replaces the document's results with r in one transaction and marks it done, recording
 * r->engine and r->model_id as the run's. The renderings (OTSL, Markdown, LaTeX, HTML) are stored
 * alongside the cells, made with `opts`. A table's `continues` becomes its continues_id (the id
 * of that earlier table). Sets each r->tables[i].id. */
int store_document_put_results(struct store *s, int64_t doc_id, struct doc_result *r,
                               const struct render_options *opts);

/* --- query side ---------------------------------------------------------------------------- */
/* Which tables to return. Every filter is optional; all given filters must hold. */
struct store_query {
    const char *text;        /* words that must all occur in the table's cell text (in any cells),
                              * NULL or "" = any. Plain text: each word is matched as a quoted
                              * FTS5 phrase, so quotes and FTS operators have no special meaning;
                              * a word ending in '*' matches as a prefix. At most 32 words. */
    const char *doc_pattern; /* a path of the table's document: without any of the characters *?[
                              * a substring match, otherwise a GLOB over the whole path
                              * (case-sensitive); NULL = any */
    int page;                /* 1-based page, 0 = any */
    const char *since;       /* tables stored at or after this UTC date/time: "YYYY-MM-DD" or
                              * "YYYY-MM-DD[T ]HH:MM[:SS]"; NULL = any */
    int limit;               /* at most this many tables, 0 = no limit */
};
/* Sets every filter to "any". */
void store_query_init(struct store_query *q);

/* One stored table with its metadata. Everything is owned by the struct
 * (store_table_info_free). */
struct store_table_info {
    int64_t id;
    int64_t document_id;
    char *path;                 /* one path of the document: the first that matches the query's
                                 * doc_pattern, else the most recently seen one */
    int page;                   /* 1-based */
    struct rect bbox;           /* points, top-left origin */
    int n_rows, n_cols, header_rows;
    char *engine;               /* "text", "vlm", "auto" */
    char *model_id;             /* NULL when no model was used */
    double confidence;
    char *created_at;           /* "YYYY-MM-DDTHH:MM:SSZ" (UTC) */
    char *otsl, *markdown, *latex, *html;   /* the renderings stored with the table */
    int64_t continues_id;       /* the table (on the page before) this one continues, 0 = none */
    int repeated_header_rows;   /* its leading rows that repeat that table's header */
    struct table *table;        /* rebuilt from the cells */
};
void store_table_info_free(struct store_table_info *t);  /* NULL is a no-op */

/* A running query; it belongs to the store's thread and must be ended before store_close. */
struct store_cursor;
/* Starts a query; tables come in reading order (document, page, top to bottom, id). Returns 0 and
 * *out (end it with store_query_end), QUIRE_EINVAL for a malformed `since` or too many words
 * (message in store_errmsg), or a database error. */
int store_query_begin(struct store *s, const struct store_query *q, struct store_cursor **out);
/* The next table: 0 with *out set (caller frees with store_table_info_free), 0 with *out NULL at
 * the end, or an error (then the cursor is finished, but must still be ended). */
int store_query_next(struct store_cursor *c, struct store_table_info **out);
void store_query_end(struct store_cursor *c);  /* NULL is a no-op */

/* One table by id: 0 and *out (caller frees), or QUIRE_ENOENT when there is no such table. */
int store_table_get(struct store *s, int64_t id, struct store_table_info **out);
/* The ids of the chain of tables that `id` belongs to (its parts over several pages, linked by
 * continues_id), first part first: 0 and *ids (caller frees; *n >= 1, just id when it continues
 * nothing and nothing continues it), QUIRE_ENOENT when there is no such table, QUIRE_EDB for a
 * chain that loops, or a database error. */
int store_table_chain(struct store *s, int64_t id, int64_t **ids, size_t *n);

/* A failed document, for `quire status`. */
struct store_failure {
    int64_t document_id;
    char *path;                 /* most recently seen path */
    char *error;                /* the message stored when it failed ("" if none) */
    int attempts;               /* how many times work on it started */
    char *finished_at;          /* when it failed, or NULL */
};

/* Counts and failures. Caller-allocated; store_status_get fills it, store_status_release frees
 * what it holds. */
struct store_status {
    int64_t documents[4];       /* documents by enum doc_status */
    int64_t tables;             /* stored tables */
    int64_t pages;              /* stored (processed) pages */
    int64_t unread_pages;       /* of which with table regions no engine read (scans, text engine) */
    struct store_failure *failures;   /* failed documents, oldest failure first */
    size_t n_failures;
};
int store_status_get(struct store *s, struct store_status *out);
void store_status_release(struct store_status *st);

#endif
