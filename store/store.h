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
 * QUIRE_ENOMEM / QUIRE_ENOENT; store_errmsg() gives SQLite's message for the last failure.
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
/* Looks up a path seen before with the same size and mtime. Returns 0 and sets *doc_id/*status,
 * or QUIRE_ENOENT when the path is unknown or the file changed since. */
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

/* --- results ------------------------------------------------------------------------------- */
struct page_result {
    int page;                 /* 1-based */
    double width, height;     /* points */
    bool has_text_layer;
};

struct table_result {
    int page;                 /* 1-based */
    struct rect bbox;         /* points, top-left origin */
    const char *engine;       /* "text", "vlm", "auto" */
    const char *model_id;     /* NULL for the text-layer engine */
    double confidence;        /* 0..1 */
    struct table *table;      /* borrowed */
    int64_t id;               /* out: the table's id, set by store_document_put_results */
};

struct doc_result {
    int n_pages_total;        /* pages in the document */
    struct page_result *pages;  /* the pages processed */
    size_t n_pages;
    struct table_result *tables;
    size_t n_tables;
    double seconds;           /* processing time */
};

/* Replaces the document's results with r in one transaction and marks it done. The renderings
 * (OTSL, Markdown, LaTeX, HTML) are stored alongside the cells, made with `opts`. Sets each
 * r->tables[i].id. */
int store_document_put_results(struct store *s, int64_t doc_id, struct doc_result *r,
                               const struct render_options *opts);

#endif
