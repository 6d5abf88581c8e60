/*
 * workers/workers.h - the pipeline: documents in, tables stored, on worker threads.
 *
 * A `struct pipeline` lives on a libuv loop. The loop thread submits `struct doc_job`s (a path
 * and what to do with it); each job runs on libuv's thread pool, where the whole document goes
 * through the stages
 *
 *     file -> sha256 -> store (dedupe) -> Poppler pages -> vision (regions) -> engine (tables)
 *          -> store (one transaction)
 *
 * and then comes back to the loop thread through the done callback, which may submit more.
 * The pipeline counts jobs waiting or running; feeders check pipeline_full() so that at most
 * `queue_size` jobs exist at once (a folder of 100,000 PDFs is fed as work drains).
 *
 * Threads and cores: the pool has `workers` threads (default: one per core, via
 * UV_THREADPOOL_SIZE, set before the pool starts). Each worker processes one document at a time,
 * single-threaded; OpenBLAS, used by the model engine, is limited to [model] threads per worker
 * (default 1), so workers x threads never exceeds the cores by default: parallelism comes from
 * documents, not from inside a matrix product. Each worker thread takes a SQLite connection from
 * a small pool (one connection per thread at any time); SQLite serializes the writes and the busy
 * timeout absorbs the waits. Each document is written in one transaction.
 *
 * Shutdown: pipeline_stop() cancels jobs still waiting in the pool (their documents stay queued in
 * the database); running jobs finish. pipeline_abort() also asks running jobs to give up at the
 * next page boundary; their documents go back to queued.
 *
 * All functions are for the loop thread only, except where said otherwise.
 */
#ifndef QUIRE_WORKERS_H
#define QUIRE_WORKERS_H

#include <uv.h>

#include "../common/common.h"
#include "../config/config.h"
#include "../store/store.h"

/* A set of 1-based page numbers, from "1-3,7" (NULL set = every page). */
struct page_set {
    int *ranges;    /* pairs: first, last (inclusive); last = INT_MAX for "5-" */
    size_t n_ranges;
};
/* Parses "1-3,7,10-". Returns 0, QUIRE_EINVAL (with *msg) or QUIRE_ENOMEM. */
int page_set_parse(const char *text, struct page_set *out, char **msg);
bool page_set_contains(const struct page_set *set, int page);
void page_set_release(struct page_set *set);

enum job_outcome {
    JOB_STORED = 0,    /* processed and stored */
    JOB_SKIPPED,       /* already stored (same content), nothing done */
    JOB_FAILED,        /* failed: err and message say why; recorded in the database if possible */
    JOB_CANCELLED,     /* not processed (shutdown); the document stays queued */
};

struct doc_job {
    /* in (set by the submitter; owned by the job, freed by doc_job_free) */
    char *path;
    char *password;            /* NULL = none */
    struct page_set pages;     /* empty = every page */
    bool force;                /* process even when the content is already stored */
    void *user;                /* for the submitter */

    /* out (valid in the done callback) */
    enum job_outcome outcome;
    int err;                   /* QUIRE_E* when failed */
    char *message;             /* the failure in words, naming the file; NULL otherwise */
    char sha256[65];
    int64_t doc_id;            /* 0 when the document never reached the store */
    int n_pages_total;         /* pages in the PDF */
    struct doc_result result;  /* pages processed and tables found (tables owned by the job) */
    double seconds;

    /* private */
    uv_work_t work;
    struct pipeline *pipeline;
};

/* A new job for `path` (copied). NULL on ENOMEM. */
struct doc_job *doc_job_new(const char *path);
void doc_job_free(struct doc_job *job);   /* NULL is a no-op; any thread */

typedef void (*pipeline_done_cb)(struct doc_job *job, void *user);

struct pipeline;

/* Creates a pipeline on `loop`. cfg must outlive it. done is called on the loop thread once per
 * submitted job; it owns the job from then on (doc_job_free). Returns NULL with *err set. */
struct pipeline *pipeline_new(uv_loop_t *loop, const struct config *cfg, pipeline_done_cb done,
                              void *user, int *err, char **msg);
/* Submits a job (the pipeline owns it until the done callback). Returns 0 or a QUIRE_E* code. */
int pipeline_submit(struct pipeline *p, struct doc_job *job);
/* True when queue_size jobs are waiting or running: feed more only when this is false. */
bool pipeline_full(const struct pipeline *p);
/* Jobs submitted and not yet done. */
int pipeline_pending(const struct pipeline *p);
/* Cancels jobs not yet started (they complete with JOB_CANCELLED). */
void pipeline_stop(struct pipeline *p);
/* pipeline_stop() and ask running jobs to give up at the next page (any thread, signal-safe). */
void pipeline_abort(struct pipeline *p);
/* Frees the pipeline and its database connections. Only when pipeline_pending() == 0. */
void pipeline_free(struct pipeline *p);

/* Processes one job synchronously on the calling thread with the given connection (what a
 * pool thread does). Exposed for tests. `abort_flag` may be NULL. */
void pipeline_process(struct doc_job *job, struct store *store, const struct config *cfg,
                      const volatile int *abort_flag);

#endif
