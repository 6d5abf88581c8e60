/*
 * cmd_reprocess.c - `quire reprocess`: run stored documents again with the engine and model
 * configured now, after a model or an engine changed.
 *
 * Which documents: by default those whose latest run used another engine or model than the one
 * this run uses (documents.engine / documents.model_id, recorded with every successful run), so
 * `quire reprocess --engine vlm --model DIR` after a new model only redoes what the new model has
 * not read yet, and running it twice does nothing the second time. --all takes every stored
 * document (e.g. `--engine text --all` after an upgrade of the text-layer engine); --made-by,
 * --doc and --before narrow the choice. Only documents whose status is done are chosen (failed
 * ones are `quire retry`'s).
 *
 * How: each document goes through the ordinary pipeline from its most recently seen path, forced
 * and with the content hash it was stored with, so its results are replaced in one transaction
 * under the same document id; a file that is gone or whose content changed fails that document
 * and leaves its stored results as they were. SIGINT/SIGTERM: like batch, the first signal lets
 * the documents in progress finish and starts no more, the second aborts at the next page (an
 * aborted document keeps its old results and is queued for the next `batch --resume`).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store.h"
#include "cli.h"
#include "run.h"

struct reprocess {
    uv_loop_t loop;
    struct config cfg;
    struct pipeline *pipeline;
    struct run_stats stats;
    struct run_signals signals;
    struct store_document_ref *docs;
    size_t n_docs, next;
    long tables_before;        /* tables the documents re-run had before */
    bool stopping;
};

static void maybe_finish(struct reprocess *r)
{
    if ((r->stopping || r->next == r->n_docs) && pipeline_pending(r->pipeline) == 0)
        run_signals_close(&r->signals);
}

static void fail_now(struct reprocess *r, const char *message)
{
    log_msg(LOG_ERROR, "%s", message);
    r->stats.failed++;
    if (r->stats.failures->len < 1000)
        g_ptr_array_add(r->stats.failures, g_strdup(message));
}

static void feed(struct reprocess *r)
{
    while (!r->stopping && r->next < r->n_docs && !pipeline_full(r->pipeline)) {
        const struct store_document_ref *d = &r->docs[r->next++];
        if (!d->path) {
            char *m = g_strdup_printf("document %lld: no path is known for it", (long long)d->id);
            fail_now(r, m);
            g_free(m);
            continue;
        }
        struct doc_job *job = doc_job_new(d->path);
        if (job) {
            job->force = true;     /* before submitting: from then on a worker owns the job */
            memcpy(job->expect_sha256, d->sha256, sizeof job->expect_sha256);
            job->user = (void *)(uintptr_t)(r->next - 1);
        }
        if (!job || pipeline_submit(r->pipeline, job)) {
            char *m = g_strdup_printf("%s: cannot queue: out of memory", d->path);
            fail_now(r, m);
            g_free(m);
            doc_job_free(job);
        }
    }
    maybe_finish(r);
}

static void on_done(struct doc_job *job, void *user)
{
    struct reprocess *r = user;
    if (job->outcome == JOB_STORED)
        r->tables_before += (long)r->docs[(uintptr_t)job->user].tables;
    run_stats_add(&r->stats, job);
    doc_job_free(job);
    feed(r);
}

static void on_stop(void *user)
{
    struct reprocess *r = user;
    r->stopping = true;
    pipeline_stop(r->pipeline);
    maybe_finish(r);
}

static void on_abort(void *user)
{
    struct reprocess *r = user;
    r->stopping = true;
    pipeline_abort(r->pipeline);
    maybe_finish(r);
}

/* The documents to run again; prints why and returns false on failure. */
static bool choose(struct reprocess *r, const struct store_document_filter *f, int *rc)
{
    struct store *s = NULL;
    char *msg = NULL;
    int err = store_open(r->cfg.db_path, r->cfg.busy_timeout_ms, &s, &msg);
    if (err) {
        fprintf(stderr, "quire reprocess: cannot open database %s\n", msg ? msg : err_str(err));
        free(msg);
        *rc = CLI_EXIT_USAGE;
        return false;
    }
    err = store_documents_select(s, f, &r->docs, &r->n_docs);
    if (err) {
        fprintf(stderr, "quire reprocess: %s\n", store_errmsg(s));
        *rc = err == QUIRE_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
    }
    store_close(s);
    return !err;
}

static void print_dry_run(const struct reprocess *r)
{
    for (size_t i = 0; i < r->n_docs; i++) {
        const struct store_document_ref *d = &r->docs[i];
        printf("%lld\t%s\t%s%s%s\t%lld table%s\n", (long long)d->id, d->path ? d->path : "-",
               d->engine ? d->engine : "unknown", d->model_id ? " " : "",
               d->model_id ? d->model_id : "", (long long)d->tables, d->tables == 1 ? "" : "s");
    }
    printf("would re-run %zu document%s\n", r->n_docs, r->n_docs == 1 ? "" : "s");
}

static void print_summary(const struct reprocess *r, const char *engine, const char *model_id)
{
    const struct run_stats *st = &r->stats;
    printf("reprocessed %ld of %zu document%s with engine %s%s%s: %ld tables (were %ld), "
           "%ld failed, %ld not run\n",
           st->stored, r->n_docs, r->n_docs == 1 ? "" : "s", engine, model_id ? ", model " : "",
           model_id ? model_id : "", st->tables, r->tables_before, st->failed,
           (long)r->n_docs - st->stored - st->failed - st->skipped);
    for (guint i = 0; i < st->failures->len; i++)
        printf("failed: %s\n", (const char *)g_ptr_array_index(st->failures, i));
}

int cmd_reprocess(int argc, char **argv)
{
    gboolean all = FALSE, dry_run = FALSE;
    char *made_by = NULL, *doc = NULL, *before = NULL;
    struct cli_engine_args engine_args = {0};
    GOptionEntry entries[] = {
        CLI_ENGINE_ENTRIES(&engine_args),
        {"all", 'a', 0, G_OPTION_ARG_NONE, &all,
         "Every stored document, not only those last run with another engine or model", NULL},
        {"made-by", 0, 0, G_OPTION_ARG_STRING, &made_by,
         "Only documents whose latest run used this engine (text, vlm, auto) or model id",
         "WHAT"},
        {"doc", 0, 0, G_OPTION_ARG_STRING, &doc,
         "Only documents whose path contains TEXT, or matches a pattern with * ? [", "PATTERN"},
        {"before", 0, 0, G_OPTION_ARG_STRING, &before,
         "Only documents last processed before this UTC date (YYYY-MM-DD[THH:MM[:SS]])", "DATE"},
        {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
         "List the documents that would be run again (id, path, engine and model, tables); "
         "change nothing", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    struct reprocess r = {0};
    int rc = cli_parse("reprocess", "",
                       "Runs stored documents again with the engine and model configured now "
                       "(--engine, --model, [tables] engine), replacing each one's tables in one "
                       "transaction; document ids stay. By default only the documents whose "
                       "latest run used another engine or model.\nExit status: 0 all re-run (or "
                       "nothing to do), 1 some documents failed, 2 usage error.",
                       entries, &argc, &argv, &r.cfg);
    if (rc)
        goto out_args;
    if ((rc = cli_engine_apply("reprocess", &engine_args, &r.cfg)))
        goto out_config;
    rc = CLI_EXIT_USAGE;
    if (argc > 1) {
        fprintf(stderr, "quire reprocess: unexpected argument '%s' (see quire reprocess "
                        "--help)\n", argv[1]);
        goto out_config;
    }
    uv_loop_init(&r.loop);
    int err = 0;
    char *msg = NULL;
    /* the pipeline first: it loads the model, whose id decides which documents are stale */
    r.pipeline = pipeline_new(&r.loop, &r.cfg, on_done, &r, &err, &msg);
    if (!r.pipeline) {
        fprintf(stderr, "quire reprocess: %s\n", msg ? msg : err_str(err));
        free(msg);
        goto out_loop;
    }
    struct model_engine *model = pipeline_model_engine(r.pipeline);
    bool model_run = model && strcmp(r.cfg.engine, "text") != 0;
    const char *engine = model_run ? r.cfg.engine : "text";
    const char *model_id = model_run ? model_engine_id(model) : NULL;
    struct store_document_filter f = {.stale_only = !all, .engine = engine, .model_id = model_id,
                                      .made_by = made_by, .doc_pattern = doc, .before = before};
    if (!choose(&r, &f, &rc))
        goto out_pipeline;
    if (dry_run) {
        print_dry_run(&r);
        rc = CLI_EXIT_OK;
        goto out_pipeline;
    }
    run_stats_init(&r.stats);
    run_signals_start(&r.signals, &r.loop, on_stop, on_abort, &r);
    feed(&r);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    print_summary(&r, engine, model_id);
    rc = r.stats.failed ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    run_stats_release(&r.stats);
out_pipeline:
    pipeline_free(r.pipeline);
out_loop:
    uv_loop_close(&r.loop);
    store_document_refs_free(r.docs, r.n_docs);
out_config:
    config_release(&r.cfg);
out_args:
    cli_engine_args_release(&engine_args);
    g_free(made_by);
    g_free(doc);
    g_free(before);
    return rc;
}
