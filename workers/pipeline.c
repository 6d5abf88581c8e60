/*
 * pipeline.c - jobs on libuv's thread pool, results back on the loop thread.
 *
 * uv_queue_work() runs process_cb on a pool thread and after_cb on the loop thread; a job not yet
 * started can be cancelled with uv_cancel() (after_cb then sees UV_ECANCELED). Database
 * connections are kept in a small pool so each worker thread uses one connection at a time and
 * connections are reused across documents. The model engine (engine vlm or auto) is loaded here,
 * on the loop thread, before any work is queued; its states have their own pool
 * (model_engine.c).
 */
#include "workers.h"

#include "../ingest/ingest.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pipeline {
    uv_loop_t *loop;
    const struct config *cfg;
    pipeline_done_cb done;
    void *user;
    int pending;               /* submitted and not yet done (loop thread) */
    int queue_size;
    atomic_int abort_flag;     /* set by the loop thread, read by workers between pages and tokens */
    bool stopping;

    struct model_engine *engine; /* NULL with the text engine; read-only while jobs run */
    struct ocr *ocr;           /* the line reader, or NULL; read-only while jobs run */
    struct lanes *lanes;       /* one per worker: a document's worker or a page helper */

    pthread_mutex_t lock;      /* guards the connection pool */
    struct store **idle;       /* connections not in use */
    size_t n_idle, cap_idle;

    /* jobs not yet done, so pipeline_stop can cancel the waiting ones (loop thread) */
    struct doc_job **jobs;
    size_t n_jobs, cap_jobs;
};

/* Takes an idle connection or opens one. Worker threads. */
static struct store *take_store(struct pipeline *p, int *err, char **msg)
{
    pthread_mutex_lock(&p->lock);
    struct store *s = p->n_idle ? p->idle[--p->n_idle] : NULL;
    pthread_mutex_unlock(&p->lock);
    if (s)
        return s;
    *err = store_open(p->cfg->db_path, p->cfg->busy_timeout_ms, &s, msg);
    return *err ? NULL : s;
}

static void give_back_store(struct pipeline *p, struct store *s)
{
    pthread_mutex_lock(&p->lock);
    if (q_grow((void **)&p->idle, sizeof *p->idle, &p->cap_idle, p->n_idle + 1) == 0) {
        p->idle[p->n_idle++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    store_close(s);
}

static void process_cb(uv_work_t *req)
{
    struct doc_job *job = container_of(req, struct doc_job, work);
    struct pipeline *p = job->pipeline;
    int err = 0;
    char *msg = NULL;
    struct store *s = take_store(p, &err, &msg);
    if (!s) {
        job->outcome = JOB_FAILED;
        job->err = err;
        job->message = q_asprintf("%s: cannot open the database: %s", job->path,
                                  msg ? msg : err_str(err));
        free(msg);
        return;
    }
    lanes_acquire(p->lanes);
    pipeline_process(job, s, p->cfg, p->engine, p->ocr, &p->abort_flag, p->lanes);
    lanes_release(p->lanes);
    give_back_store(p, s);
}

static void forget_job(struct pipeline *p, struct doc_job *job)
{
    for (size_t i = 0; i < p->n_jobs; i++)
        if (p->jobs[i] == job) {
            p->jobs[i] = p->jobs[--p->n_jobs];
            return;
        }
}

static void after_cb(uv_work_t *req, int status)
{
    struct doc_job *job = container_of(req, struct doc_job, work);
    struct pipeline *p = job->pipeline;
    if (status == UV_ECANCELED)
        job->outcome = JOB_CANCELLED;
    forget_job(p, job);
    p->pending--;
    p->done(job, p->user);
}

struct pipeline *pipeline_new(uv_loop_t *loop, const struct config *cfg, pipeline_done_cb done,
                              void *user, int *err, char **msg)
{
    bool use_model = strcmp(cfg->engine, "text") != 0;
    /* The pool size is read once, when the first work is queued: set it before that. With the
     * model, workers x [model] threads (OpenBLAS) = the cores (see workers.h). */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int cores = (int)(online > 0 ? online : 1);
    int per_worker = use_model ? cfg->threads : 1;
    int workers = cfg->workers > 0 ? cfg->workers : (cores / per_worker > 0 ? cores / per_worker : 1);
    if (use_model && workers * per_worker > cores)
        log_msg(LOG_WARN, "%d workers x %d OpenBLAS threads ([model] threads) exceed the %d cores",
                workers, per_worker, cores);
    char size[16];
    snprintf(size, sizeof size, "%d", workers);
    setenv("UV_THREADPOOL_SIZE", size, 1);

    struct model_engine *engine = NULL;
    if (use_model && !(engine = model_engine_load(cfg, err, msg)))
        return NULL;
    struct ocr *ocr = pipeline_load_reader(cfg, err, msg);
    if (*err) {
        model_engine_free(engine);
        return NULL;
    }
    /* Fail early, on the loop thread, when the database cannot be opened at all. */
    struct store *s = NULL;
    *err = store_open(cfg->db_path, cfg->busy_timeout_ms, &s, msg);
    if (*err) {
        model_engine_free(engine);
        ocr_free(ocr);
        return NULL;
    }
    struct pipeline *p = q_calloc(1, sizeof *p);
    if (!p) {
        store_close(s);
        model_engine_free(engine);
        ocr_free(ocr);
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    p->loop = loop;
    p->cfg = cfg;
    p->engine = engine;
    p->ocr = ocr;
    p->done = done;
    p->user = user;
    p->queue_size = cfg->queue_size > workers ? cfg->queue_size : workers;
    pthread_mutex_init(&p->lock, NULL);
    give_back_store(p, s);
    if (ingest_global_init() || !(p->lanes = lanes_new(workers))) {
        /* ingest: before any worker renders, see ingest.h */
        pipeline_free(p);
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    return p;
}

struct model_engine *pipeline_model_engine(const struct pipeline *p) { return p->engine; }

struct ocr *pipeline_load_reader(const struct config *cfg, int *err, char **msg)
{
    *err = 0;
    const char *dir = cfg->reader_path;
    if (dir && !strcmp(dir, "none"))
        return NULL;
    if (!dir || !*dir) {
        /* the source tree's reader (quire run from a checkout), then the installed one */
        static const char *shipped[] = {"models/quire-reader",
                                        QUIRE_DATADIR "/models/quire-reader"};
        dir = NULL;
        for (size_t i = 0; i < sizeof shipped / sizeof *shipped && !dir; i++) {
            char *cfg_path = q_asprintf("%s/config.json", shipped[i]);
            if (!cfg_path) {
                *err = QUIRE_ENOMEM;
                return NULL;
            }
            if (access(cfg_path, R_OK) == 0)
                dir = shipped[i];
            free(cfg_path);
        }
        if (!dir)
            return NULL;
    }
    struct ocr *o = ocr_load(dir, err, msg);
    if (o) {
        /* Its encoder runs on OpenBLAS in each worker: [model] threads each, as the model's
         * (one process-wide setting; by default every worker would start as many as cores,
         * and the workers' calls would wait on each other). */
        openblas_set_num_threads(cfg->threads);
        log_msg(LOG_DEBUG, "line reader for scanned pages: %s", dir);
    }
    return o;
}

int pipeline_submit(struct pipeline *p, struct doc_job *job)
{
    if (p->stopping)
        return QUIRE_ECANCELLED;
    if (q_grow((void **)&p->jobs, sizeof *p->jobs, &p->cap_jobs, p->n_jobs + 1))
        return QUIRE_ENOMEM;
    job->pipeline = p;
    int rc = uv_queue_work(p->loop, &job->work, process_cb, after_cb);
    if (rc)
        return QUIRE_EINVAL;
    p->jobs[p->n_jobs++] = job;
    p->pending++;
    return 0;
}

bool pipeline_full(const struct pipeline *p) { return p->pending >= p->queue_size; }

int pipeline_pending(const struct pipeline *p) { return p->pending; }

void pipeline_stop(struct pipeline *p)
{
    p->stopping = true;
    for (size_t i = 0; i < p->n_jobs; i++)
        uv_cancel((uv_req_t *)&p->jobs[i]->work); /* fails harmlessly for running jobs */
}

void pipeline_abort(struct pipeline *p)
{
    p->abort_flag = 1;
    pipeline_stop(p);
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        store_close(p->idle[i]);
    free(p->idle);
    free(p->jobs);
    pthread_mutex_destroy(&p->lock);
    model_engine_free(p->engine);
    ocr_free(p->ocr);
    lanes_free(p->lanes);
    ingest_global_release();
    free(p);
}
