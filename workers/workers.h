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
 * Threads and cores: the pool has `workers` threads (set through UV_THREADPOOL_SIZE before the
 * pool starts). Each worker processes one document at a time. Each worker thread takes a SQLite
 * connection from a small pool (one connection per thread at any time); SQLite serializes the
 * writes and the busy timeout absorbs the waits. Each document is written in one transaction.
 *
 * The model engine ([tables] engine = vlm or auto): the model is loaded once, on the loop thread,
 * by pipeline_new(), and shared read-only by every worker (its weights are mmapped). Each decode
 * takes an llm_state (activations, KV caches) from a pool guarded by a mutex and gives it back,
 * so a state is used by one thread at a time and at most `workers` states ever exist; they are
 * created on first need and freed by pipeline_free(). The table regions of a page are decoded
 * as one batch on one state (up to model_engine_max_batch() regions; a state holds that many KV
 * caches, its size bounded in model_engine.c), all by the worker thread that runs the page.
 * Cores: OpenBLAS (the pthreads build, whose thread count is one process-wide setting) runs
 * [model] threads threads per decoding worker; with the model engine, workers = 0 means
 * cores / threads workers (at least one), so workers x threads = the cores. The default threads
 * = 1 keeps each decode single-threaded and takes the parallelism from documents and pages: on a
 * 2-core machine two pages decode at once, each on one core, and nothing is oversubscribed.
 * Setting both workers and threads so that their product exceeds the cores is allowed (a warning
 * is logged).
 *
 * Lanes: the pipeline has `workers` lanes, one per thread that may read pages at a time. A
 * worker takes a lane for its document (waiting for one if need be). While it reads a document
 * of several pages it recruits helper threads on lanes nobody else wants (lanes_try_acquire):
 * each helper opens the PDF again (a Poppler document is one thread's) and reads the next pages
 * not yet taken, so one big PDF keeps every core busy; the pages' results are put together in
 * page order, so the result does not depend on who read which page. A helper gives its lane
 * back after the page it is reading when a worker waits for one (a new document starts), so a
 * folder of documents still runs one document per core.
 *
 * Tables over page breaks: once every page of a document is read, the topmost table of each page
 * is linked to the lowest table of the page before when table_continues() (table/table.h) says
 * the one continues the other (table_result.continues, stored as tables.continues_id); the words
 * above and below each table are measured while its page is loaded.
 *
 * Shutdown: pipeline_stop() cancels jobs still waiting in the pool (their documents stay queued in
 * the database); running jobs finish. pipeline_abort() also asks running jobs to give up at the
 * next page boundary, or within one token of a model decode; their documents go back to queued.
 * [pipeline] max_seconds (0: 60 s per page read) is checked at the same places (a decode stops
 * with QUIRE_ETIMEOUT and the document fails as it does between pages).
 *
 * All functions are for the loop thread only, except where said otherwise.
 */
#ifndef QUIRE_WORKERS_H
#define QUIRE_WORKERS_H

#include <stdatomic.h>
#include <uv.h>

#include "../common/common.h"
#include "../config/config.h"
#include "../ocr/ocr.h"
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
    char expect_sha256[65];    /* "" = any; else the file must still have this content (quire
                                * reprocess), or the job fails without touching the store */
    void *user;                /* for the submitter */

    /* out (valid in the done callback) */
    enum job_outcome outcome;
    int err;                   /* QUIRE_E* when failed */
    char *message;             /* the failure in words, naming the file; NULL otherwise */
    char sha256[65];
    int64_t doc_id;            /* 0 when the document never reached the store */
    int n_pages_total;         /* pages in the PDF */
    struct doc_result result;  /* pages processed and tables found (tables owned by the job) */
    int page_threads;          /* 1 + the helper threads started for its pages (workers.h, Lanes) */
    int pages_by_helpers;      /* of its pages, those read by helper threads */
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
struct model_engine; /* below */

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

/* Lanes (see above): `total` tokens, taken by document workers (waiting) and by page helpers
 * (only when free and nobody waits). Any thread. */
struct lanes;
struct lanes *lanes_new(int total);          /* NULL on ENOMEM */
void lanes_free(struct lanes *l);            /* NULL is a no-op; none may be taken */
int lanes_total(const struct lanes *l);
void lanes_acquire(struct lanes *l);         /* blocks until one is free */
bool lanes_try_acquire(struct lanes *l);     /* false when none is free or a thread waits */
void lanes_release(struct lanes *l);
bool lanes_wanted(struct lanes *l);          /* a thread waits in lanes_acquire */

/* Processes one job synchronously on the calling thread with the given connection (what a
 * pool thread does, holding one of `lanes`). `engine` is the loaded model when cfg->engine is
 * vlm or auto (NULL for text); `ocr` the line reader for scanned pages the model does
 * not read (NULL: none). `lanes` (may be NULL: the calling thread reads every page) lends
 * free lanes to helper threads that read pages too. Exposed for tests. `abort_flag` may be
 * NULL. */
void pipeline_process(struct doc_job *job, struct store *store, const struct config *cfg,
                      struct model_engine *engine, const struct ocr *ocr,
                      const atomic_int *abort_flag, struct lanes *lanes);
/* The line reader [model] reader asks for: NULL with *err = 0 when none is configured or
 * shipped ("none", or no models/quire-reader), else loaded (ocr_load), or NULL with *err and
 * *msg. Loop thread. */
struct ocr *pipeline_load_reader(const struct config *cfg, int *err, char **msg);
/* The pipeline's model engine (NULL with the text engine). Loop thread. */
struct model_engine *pipeline_model_engine(const struct pipeline *p);

/* --- the model engine (workers/model_engine.c, workers/snap.c) ------------------------------- */
/*
 * Per table region (workers/process.c): the region is cropped from the page rendered at a DPI
 * that gives its text an x-height of ~10 px (1440 / font size in pt; 10-pt text, 144 dpi, when
 * the page has no text layer), as train/README.md prepares the model's training crops, and
 * turned upright when its text runs sideways or upside down (the direction vision/ read from the
 * text layer, or on a page without one model_orientation() reads from the pixels); the model
 * writes OTSL, constrained to valid OTSL when the tokenizer has the OTSL tags, and
 * table_from_otsl(repair = true) parses it.
 *  - engine = vlm: the model's table (engine "vlm"); a region whose output is no table is
 *    dropped (logged): the model alone, no fall-back.
 *  - engine = auto: the model's structure with the text layer's words snapped into its cells
 *    (model_snap_text) where the page has a text layer (engine "auto"), the model alone on pages
 *    without one (engine "vlm"); when the output is no table or its confidence is below
 *    [tables] min_confidence, the text-layer engine's table (engine "text").
 * Confidence of a model table = exp(mean log-probability of its tokens): the geometric mean of
 * the probabilities the model gave its own tokens (before the OTSL constraint), in 0..1.
 * The model id stored with each model table is config.json's _name_or_path, else the folder's
 * name.
 */
struct model_engine;

/* The model folder cfg asks for: [model] path (--model), else the shipped model if there is one.
 * Returns a new string, or NULL with *msg (caller frees) saying how to give one. */
char *model_engine_find(const struct config *cfg, char **msg);
/* Loads the model, tokenizer, OTSL constraint and image options of model_engine_find()'s folder
 * and sets OpenBLAS to cfg->threads threads. Returns the engine or NULL with *err = QUIRE_ECONFIG
 * (no model given), QUIRE_ENOENT/QUIRE_EIO/QUIRE_EMODEL (the folder or a file in it is missing or
 * malformed: *msg names the file, from llm/) or QUIRE_ENOMEM. Loop thread, before workers run. */
struct model_engine *model_engine_load(const struct config *cfg, int *err, char **msg);
/* Frees the model and every state; no decode may be running. NULL is a no-op. */
void model_engine_free(struct model_engine *e);
/* The model id (owned by the engine, valid until model_engine_free). Any thread. */
const char *model_engine_id(const struct model_engine *e);
/* The encoder's tile size in pixels. Any thread. */
int model_engine_image_size(const struct model_engine *e);
/* Reads one table from an 8-bit gray crop (`stride` bytes per row): scales it by `scale` (<= 1;
 * 1 = as it is), then down to at most 2 x 2 tiles, pads it white to whole tiles, decodes greedily
 * on a pooled state and parses the OTSL.
 * On success *out is a new table (caller frees) with at least one row and column, and
 * *confidence as documented above. Returns 0, QUIRE_EPARSE (the output is no table; *msg says
 * why), QUIRE_ELIMIT (the prompt leaves no room to decode), QUIRE_EINVAL or QUIRE_ENOMEM. Any
 * worker thread, concurrently. */
int model_engine_read_table(struct model_engine *e, const uint8_t *gray, int width, int height,
                            size_t stride, double scale, struct table **out, double *confidence,
                            char **msg);

/* Batches: the regions of a page are decoded together (llm_generate_batch), up to
 * model_engine_max_batch() at a time. A region is first prepared (cropped, turned upright,
 * tiled, preprocessed, its prompt tokenized: everything copied out of the page raster), then
 * the prepared regions are read as batches; each read keeps its own result. */
struct model_input; /* a prepared region (private to model_engine.c) */
struct model_read {
    struct model_input *input; /* set by model_engine_prepare; NULL when it failed */
    struct table *table;       /* result: a table with >= 1 row and column, or NULL */
    double confidence;         /* result, as for model_engine_read_table */
    int err;                   /* 0, or why there is no table (as model_engine_read_table) */
    char *msg;                 /* NULL or a message for err */
};
/* Prepares one region for model_engine_read_batch: the crop as for model_engine_read_table,
 * first turned upright when `rotation` (the direction of its text: 90, 180 or 270, see
 * vision/vision.h; 0 or anything else: as it is) asks for it. Fills *r (release it with
 * model_read_release). Returns 0, or the error also stored in r->err (QUIRE_EINVAL, QUIRE_ELIMIT
 * with r->msg, QUIRE_ENOMEM). Any worker thread. */
int model_engine_prepare(struct model_engine *e, const uint8_t *gray, int width, int height,
                         size_t stride, double scale, int rotation, struct model_read *r);
/* Decodes every prepared read of reads[0..n) (input set, err 0), up to model_engine_max_batch()
 * at a time on one pooled state, and sets its table, confidence, err and msg. abort_flag (may
 * be NULL) and deadline (a now_seconds() time; 0 = none) are checked once per token. Returns 0,
 * or QUIRE_ECANCELLED / QUIRE_ETIMEOUT (abort_flag set / deadline passed: the decode stopped
 * within a token; reads not finished have no result) or QUIRE_ENOMEM. Any worker thread,
 * concurrently. */
int model_engine_read_batch(struct model_engine *e, struct model_read *reads, size_t n,
                            const atomic_int *abort_flag, double deadline);
/* Frees what *r holds (input, table, msg) and zeroes it. */
void model_read_release(struct model_read *r);
/* Regions per batch: up to 3, fewer when a state for that many would exceed its memory bound.
 * Any thread. */
int model_engine_max_batch(const struct model_engine *e);

/* Exposed for tests: the 8-bit gray image the model's preprocessing gets for a crop (turned
 * upright, scaled, padded white to whole tiles), *pw x *ph, a new array (caller frees), or NULL
 * when out of memory. */
uint8_t *model_engine_input_image(const struct model_engine *e, const uint8_t *gray, int w,
                                  int h, size_t stride, double scale, int rotation, int *pw,
                                  int *ph);
/* Exposed for tests: the crop turned so that text of direction `rotation` (90, 180, 270) reads
 * left to right (vision/rotate.c's frames), *ow x *oh, a new array (caller frees) or NULL. */
uint8_t *model_engine_upright(const uint8_t *gray, int w, int h, size_t stride, int rotation,
                              int *ow, int *oh);

/* Tests only (fault injection): when not NULL, called by the decoding thread just before each
 * batch is decoded (to set an abort flag or let a deadline pass mid-document). Set it while no
 * decode runs. */
extern void (*model_engine__before_decode)(void);

/* Which way the text of an 8-bit gray crop runs, from its pixels (for pages without a text
 * layer, whose regions vision/ marks 0): 0, 90, 180 or 270 as in vision/vision.h, and 0 when
 * unsure (workers/orient.c). Any thread. */
int model_orientation(const uint8_t *gray, int w, int h, size_t stride);

struct model_engine_stats {
    int states_created;     /* llm_states made so far (one per concurrently decoding thread) */
    int states_in_use_max;  /* the most states in use at once */
    long decodes;           /* regions decoded */
    long batches;           /* batches decoded (llm_generate_batch calls that finished) */
    int batch_max;          /* the most regions in one batch so far */
    int max_batch;          /* model_engine_max_batch() */
};
/* Any thread. */
void model_engine_get_stats(struct model_engine *e, struct model_engine_stats *st);
/* How many models this process has loaded (for tests: the model is loaded once). Any thread. */
long model_engine_loads(void);

/* Text-layer snapping (engine = auto): the grid lines of `region` are taken from its rulings or
 * its text when they match t's rows and columns; then every cell whose box holds words of the
 * page gets those words (line by line, left to right) as its text and its box as bbox. Cells
 * with no word keep their text; when the grid cannot be matched nothing changes. *n_snapped is
 * the number of cells whose text came from the page. Returns 0 or QUIRE_ENOMEM. Any thread. */
struct page;
struct page_layout;
struct region;
int model_snap_text(const struct page *page, const struct page_layout *layout,
                    const struct region *region, struct table *t, int *n_snapped);

#endif
