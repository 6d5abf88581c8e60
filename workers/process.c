/*
 * process.c - one document through the pipeline, on the calling (worker) thread.
 *
 * The order matters for "nothing lost, nothing twice": the document is registered (by content
 * hash) and marked running before any work, and its results are written in one transaction at
 * the end. A crash in between leaves it marked running, which `--resume` (and a restarted watch)
 * puts back in the queue; a failure leaves it failed with its message.
 */
#include "workers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../ingest/ingest.h"
#include "../textlayer/textlayer.h"
#include "../vision/vision.h"

static void set_failure(struct doc_job *job, int err, char *message)
{
    job->outcome = JOB_FAILED;
    job->err = err;
    free(job->message);
    job->message = message ? message : q_asprintf("%s: %s", job->path, err_str(err));
}

static int add_table(struct doc_job *job, size_t *cap, int page_no, const struct region *region,
                     struct table *table)
{
    struct doc_result *r = &job->result;
    if (q_grow((void **)&r->tables, sizeof *r->tables, cap, r->n_tables + 1))
        return QUIRE_ENOMEM;
    struct table_result *t = &r->tables[r->n_tables++];
    memset(t, 0, sizeof *t);
    t->page = page_no;
    t->bbox = region->bbox;
    t->engine = "text";
    t->model_id = NULL;
    t->confidence = region->confidence;
    t->table = table;
    return 0;
}

/* Finds and extracts the tables of one loaded page. */
static int process_page(struct doc_job *job, const struct page *page, const struct config *cfg,
                        size_t *tables_cap)
{
    struct vision_options vo;
    vision_options_init(&vo);
    vo.min_confidence = cfg->min_confidence;
    struct page_layout *layout = NULL;
    int err = vision_analyze(page, &vo, &layout);
    if (err)
        return err;
    for (size_t i = 0; i < layout->n_regions && !err; i++) {
        struct table *table = NULL;
        char *msg = NULL;
        int e = textlayer_extract(page, layout, &layout->regions[i], &table, &msg);
        if (e == QUIRE_ENOMEM) {
            err = e;
        } else if (e) {
            log_msg(LOG_DEBUG, "%s: page %d: region %zu: %s", job->path, page->index + 1, i,
                    msg ? msg : err_str(e));
        } else if (table->n_rows == 0 || table->n_cols == 0) {
            table_free(table);
        } else if ((err = add_table(job, tables_cap, page->index + 1, &layout->regions[i], table))) {
            table_free(table);
        }
        free(msg);
    }
    page_layout_free(layout);
    return err;
}

/* Opens the PDF and runs every selected page. On failure the job says why. */
static int process_pages(struct doc_job *job, const struct config *cfg,
                         const volatile int *abort_flag, double started)
{
    struct document *doc = NULL;
    char *msg = NULL;
    int err = document_open(job->path, job->password, &doc, &msg);
    if (err) {
        set_failure(job, err, msg);
        return err;
    }
    int n = document_page_count(doc);
    job->n_pages_total = n;
    job->result.n_pages_total = n;
    if (n > cfg->max_pages) {
        document_close(doc);
        set_failure(job, QUIRE_ELIMIT, q_asprintf("%s: %d pages, over the limit of %d (max_pages)",
                                                  job->path, n, cfg->max_pages));
        return QUIRE_ELIMIT;
    }
    struct page_options po = {.dpi = cfg->dpi, .max_pixels = cfg->max_pixels, .words = true};
    size_t pages_cap = 0, tables_cap = 0;
    for (int i = 0; i < n && !err; i++) {
        if (job->pages.n_ranges && !page_set_contains(&job->pages, i + 1))
            continue;
        if (abort_flag && *abort_flag) {
            err = QUIRE_ECANCELLED;
            break;
        }
        if (now_seconds() - started > cfg->max_seconds) {
            err = QUIRE_ETIMEOUT;
            set_failure(job, err, q_asprintf("%s: still running after %.0f s (max_seconds) at page "
                                             "%d of %d", job->path, cfg->max_seconds, i + 1, n));
            break;
        }
        struct page *page = NULL;
        err = document_load_page(doc, i, &po, &page, &msg);
        if (err) {
            set_failure(job, err, msg);
            msg = NULL;
            break;
        }
        struct doc_result *r = &job->result;
        if (q_grow((void **)&r->pages, sizeof *r->pages, &pages_cap, r->n_pages + 1)) {
            err = QUIRE_ENOMEM;
        } else {
            r->pages[r->n_pages++] = (struct page_result){
                .page = i + 1, .width = page->width, .height = page->height,
                .has_text_layer = page->has_text_layer};
            err = process_page(job, page, cfg, &tables_cap);
        }
        page_free(page);
    }
    document_close(doc);
    if (err && job->outcome != JOB_FAILED && err != QUIRE_ECANCELLED)
        set_failure(job, err, NULL);
    return err;
}

static void release_results(struct doc_result *r)
{
    for (size_t i = 0; i < r->n_tables; i++)
        table_free(r->tables[i].table);
    free(r->tables);
    free(r->pages);
    memset(r, 0, sizeof *r);
}

static char *store_failure(struct store *store, const char *path, const char *what, int err)
{
    return q_asprintf("%s: cannot %s: %s (%s)", path, what, err_str(err), store_errmsg(store));
}

/* A file that is gone (or unreadable) before its turn: when the store knows the path as a
 * document still waiting (queued again by `quire retry`, say), that document fails with the
 * message, so `quire status` shows why it never finished. */
static void record_vanished(struct doc_job *job, struct store *store)
{
    enum doc_status status;
    int64_t doc_id;
    if (store_path_lookup(store, job->path, -1, 0, &doc_id, &status) != 0 ||
        (status != DOC_QUEUED && status != DOC_RUNNING))
        return;
    job->doc_id = doc_id;
    if (store_document_fail(store, doc_id, job->message))
        log_msg(LOG_ERROR, "%s: the failure could not be recorded: %s", job->path,
                store_errmsg(store));
}

void pipeline_process(struct doc_job *job, struct store *store, const struct config *cfg,
                      const volatile int *abort_flag)
{
    double started = now_seconds();
    struct stat st;
    if (stat(job->path, &st) != 0) {
        int e = errno;
        set_failure(job, e == ENOENT ? QUIRE_ENOENT : QUIRE_EIO,
                    q_asprintf("%s: %s", job->path,
                               e == ENOENT ? "the file was deleted before it could be processed"
                                           : strerror(e)));
        record_vanished(job, store);
        return;
    }
    enum doc_status status;
    int err = 0;
    if (!job->force &&
        store_path_lookup(store, job->path, st.st_size, st.st_mtime, &job->doc_id, &status) == 0 &&
        status == DOC_DONE) {
        job->outcome = JOB_SKIPPED;
        return;
    }
    int64_t size = 0;
    err = file_sha256(job->path, job->sha256, &size);
    if (err) {
        set_failure(job, err, q_asprintf("%s: cannot read: %s", job->path, err_str(err)));
        return;
    }
    bool is_new = false;
    err = store_document_add(store, job->path, job->sha256, size, st.st_mtime, &job->doc_id,
                             &status, &is_new);
    if (err) {
        set_failure(job, err, store_failure(store, job->path, "register the document", err));
        return;
    }
    if (!job->force && status == DOC_DONE) {
        job->outcome = JOB_SKIPPED;
        return;
    }
    if ((err = store_document_start(store, job->doc_id))) {
        set_failure(job, err, store_failure(store, job->path, "mark the document running", err));
        return;
    }
    err = process_pages(job, cfg, abort_flag, started);
    job->seconds = now_seconds() - started;
    if (err == QUIRE_ECANCELLED) {
        release_results(&job->result);
        store_document_requeue(store, job->doc_id);
        job->outcome = JOB_CANCELLED;
        return;
    }
    if (err) {
        release_results(&job->result);
        if (store_document_fail(store, job->doc_id, job->message))
            log_msg(LOG_ERROR, "%s: the failure could not be recorded: %s", job->path,
                    store_errmsg(store));
        return;
    }
    job->result.seconds = job->seconds;
    struct render_options ro;
    render_options_init(&ro);
    ro.markdown_spans = cfg->markdown_repeat_spans ? SPAN_REPEAT : SPAN_EMPTY;
    ro.latex_booktabs = cfg->latex_booktabs;
    err = store_document_put_results(store, job->doc_id, &job->result, &ro);
    if (err) {
        set_failure(job, err, store_failure(store, job->path, "store the results", err));
        if (store_document_fail(store, job->doc_id, job->message))
            log_msg(LOG_ERROR, "%s: the failure could not be recorded: %s", job->path,
                    store_errmsg(store));
        return;
    }
    job->outcome = JOB_STORED;
}

struct doc_job *doc_job_new(const char *path)
{
    struct doc_job *job = q_calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->path = q_strdup(path);
    if (!job->path) {
        free(job);
        return NULL;
    }
    return job;
}

void doc_job_free(struct doc_job *job)
{
    if (!job)
        return;
    release_results(&job->result);
    page_set_release(&job->pages);
    free(job->path);
    free(job->password);
    free(job->message);
    free(job);
}
