/*
 * cmd_batch.c - `quire batch DIR...|--from LIST`: the nightly job over a folder tree.
 *
 * Resumable by construction: every document is registered by content hash and marked running
 * before work starts, and its results are written in one transaction, so after a crash or
 * kill -9 a rerun skips what is stored and redoes the rest. --resume also puts documents a crash
 * left marked running back in the queue and processes the documents queued in the database
 * (e.g. by `quire retry`) whatever folder they are in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store/store.h"
#include "cli.h"
#include "run.h"

struct batch {
    uv_loop_t loop;
    struct config cfg;
    struct pipeline *pipeline;
    struct run_stats stats;
    struct run_signals signals;
    uv_timer_t progress;
    struct walk *walk;         /* folder trees, or NULL */
    FILE *list;                /* --from file, or NULL */
    GPtrArray *queued;         /* --resume: paths of documents queued in the database */
    bool force, stopping, tty, input_done;
    long total, submitted;     /* documents to look at (counted before the run), submitted */
    char *line;                /* the --from line being returned */
    size_t line_cap;
    char *held;                /* the queued path being returned */
};

/* The next path to submit, or NULL when the input is exhausted. The string lives until the next
 * call. */
static const char *next_path(struct batch *b)
{
    if (b->queued && b->queued->len) {
        g_free(b->held);
        b->held = g_ptr_array_steal_index(b->queued, b->queued->len - 1);
        return b->held;
    }
    if (b->walk)
        return walk_next(b->walk);
    if (b->list) {
        ssize_t n;
        while ((n = getline(&b->line, &b->line_cap, b->list)) >= 0) {
            while (n > 0 && (b->line[n - 1] == '\n' || b->line[n - 1] == '\r'))
                b->line[--n] = '\0';
            if (n > 0 && b->line[0] != '#')
                return b->line;
        }
    }
    return NULL;
}

static void maybe_finish(struct batch *b)
{
    if ((b->input_done || b->stopping) && pipeline_pending(b->pipeline) == 0) {
        uv_timer_stop(&b->progress);
        if (!uv_is_closing((uv_handle_t *)&b->progress))
            uv_close((uv_handle_t *)&b->progress, NULL);
        run_signals_close(&b->signals);
    }
}

static void feed(struct batch *b)
{
    while (!b->stopping && !b->input_done && !pipeline_full(b->pipeline)) {
        const char *path = next_path(b);
        if (!path) {
            b->input_done = true;
            break;
        }
        struct doc_job *job = doc_job_new(path);
        if (job)
            job->force = b->force; /* before submitting: from then on a worker owns the job */
        if (!job || pipeline_submit(b->pipeline, job)) {
            log_msg(LOG_ERROR, "%s: cannot queue: out of memory", path);
            doc_job_free(job);
            b->stats.failed++;
            continue;
        }
        b->submitted++;
    }
    maybe_finish(b);
}

static void print_progress(struct batch *b, bool final)
{
    double secs = now_seconds() - b->stats.started;
    long done = b->stats.stored + b->stats.skipped + b->stats.failed;
    double rate = secs > 0 ? (double)b->stats.pages / secs : 0;
    double docs_rate = secs > 0 ? (double)done / secs : 0;
    long total = b->total > done ? b->total : done;
    if (b->tty) {
        int width = 30, filled = total ? (int)((double)done / (double)total * width) : 0;
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        double eta = docs_rate > 0 ? (double)(total - done) / docs_rate : 0;
        fprintf(stderr, "\r[%s] %ld/%ld docs  %.1f pages/s  ETA %02d:%02d:%02d  failed %ld ", bar,
                done, total, rate, (int)eta / 3600, (int)eta / 60 % 60, (int)eta % 60,
                b->stats.failed);
        if (final)
            fputc('\n', stderr);
    } else if (!final) {
        fprintf(stderr, "quire batch: %ld/%ld documents, %ld pages, %.1f pages/s, %ld failed\n",
                done, total, b->stats.pages, rate, b->stats.failed);
    }
    fflush(stderr);
}

static void on_progress(uv_timer_t *t)
{
    print_progress(container_of(t, struct batch, progress), false);
}

static void on_done(struct doc_job *job, void *user)
{
    struct batch *b = user;
    if (b->tty && job->outcome == JOB_FAILED)
        fputs("\r\033[K", stderr); /* erase the progress bar; the next tick redraws it */
    run_stats_add(&b->stats, job);
    doc_job_free(job);
    feed(b);
}

static void on_stop(void *user)
{
    struct batch *b = user;
    b->stopping = true;
    pipeline_stop(b->pipeline);
    maybe_finish(b);
}

static void on_abort(void *user)
{
    struct batch *b = user;
    b->stopping = true;
    pipeline_abort(b->pipeline);
    maybe_finish(b);
}

/* Counts the documents of the input for the progress bar (names only; nothing is kept). */
static long count_inputs(char **roots, int n, const char *from)
{
    long count = 0;
    if (from) {
        FILE *f = strcmp(from, "-") ? fopen(from, "r") : NULL;
        if (!f)
            return 0;
        int c, last = '\n';
        while ((c = getc(f)) != EOF) {
            if (c == '\n' && last != '\n')
                count++;
            last = c;
        }
        count += last != '\n';
        fclose(f);
        return count;
    }
    struct walk *w = walk_new(roots, n);
    while (w && walk_next(w))
        count++;
    walk_free(w);
    return count;
}

/* --resume: running -> queued, and the queued documents' paths to process first. */
static int prepare_resume(struct batch *b)
{
    struct store *s = NULL;
    char *msg = NULL;
    int err = store_open(b->cfg.db_path, b->cfg.busy_timeout_ms, &s, &msg);
    if (err) {
        fprintf(stderr, "quire batch: %s\n", msg ? msg : err_str(err));
        free(msg);
        return err;
    }
    int n = 0;
    err = store_requeue_running(s, &n);
    if (!err && n)
        log_msg(LOG_INFO, "resume: %d documents interrupted by a crash are queued again", n);
    b->queued = g_ptr_array_new_with_free_func(g_free);
    if (!err)
        err = store_queued_paths(s, b->queued);
    if (err)
        fprintf(stderr, "quire batch: %s: %s\n", b->cfg.db_path, store_errmsg(s));
    store_close(s);
    return err;
}

int cmd_batch(int argc, char **argv)
{
    char *from = NULL;
    gboolean resume = FALSE, force = FALSE;
    struct cli_engine_args engine_args = {0};
    GOptionEntry entries[] = {
        {"from", 0, 0, G_OPTION_ARG_FILENAME, &from,
         "Read the PDF paths from FILE, one per line ('-' = standard input)", "FILE"},
        {"resume", 0, 0, G_OPTION_ARG_NONE, &resume,
         "Also requeue documents a crash left running and process every queued document", NULL},
        {"force", 0, 0, G_OPTION_ARG_NONE, &force,
         "Process documents again even when they are already stored", NULL},
        CLI_ENGINE_ENTRIES(&engine_args),
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    struct batch b = {0};
    int rc = cli_parse("batch", "[DIR|FILE.pdf]...",
                       "Processes every PDF under the folders (or listed in --from) that is not "
                       "stored yet.\nSafe to rerun after a crash; exit status 1 when some documents "
                       "failed.", entries, &argc, &argv, &b.cfg);
    if (rc)
        goto out_args;
    if ((rc = cli_engine_apply("batch", &engine_args, &b.cfg)))
        goto out_config;
    if ((argc < 2) == (from == NULL)) {
        fprintf(stderr, "quire batch: give folders or --from FILE (see quire batch --help)\n");
        rc = CLI_EXIT_USAGE;
        goto out_config;
    }
    if (from) {
        b.list = strcmp(from, "-") ? fopen(from, "r") : stdin;
        if (!b.list) {
            fprintf(stderr, "quire batch: %s: %s\n", from, strerror(errno));
            rc = CLI_EXIT_USAGE;
            goto out_config;
        }
    }
    b.force = force;
    b.tty = isatty(STDERR_FILENO);
    b.total = count_inputs(argv + 1, argc - 1, from);
    if (resume && prepare_resume(&b)) {
        rc = CLI_EXIT_USAGE;
        goto out_list;
    }
    if (b.queued)
        b.total += b.queued->len;
    if (!from)
        b.walk = walk_new(argv + 1, argc - 1);
    run_stats_init(&b.stats);
    b.stats.log_stored = !b.tty; /* on a terminal the progress bar says it */
    uv_loop_init(&b.loop);
    int err = 0;
    char *msg = NULL;
    b.pipeline = pipeline_new(&b.loop, &b.cfg, on_done, &b, &err, &msg);
    if (!b.pipeline) {
        fprintf(stderr, "quire batch: %s\n", msg ? msg : err_str(err));
        free(msg);
        rc = CLI_EXIT_USAGE;
        goto out_loop;
    }
    run_signals_start(&b.signals, &b.loop, on_stop, on_abort, &b);
    uv_timer_init(&b.loop, &b.progress);
    uv_timer_start(&b.progress, on_progress, b.tty ? 500 : 10000, b.tty ? 500 : 10000);
    feed(&b);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    print_progress(&b, true);
    run_stats_print(&b.stats, stdout);
    rc = b.stats.failed ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    pipeline_free(b.pipeline);
out_loop:
    uv_loop_close(&b.loop);
    run_stats_release(&b.stats);
    walk_free(b.walk);
out_list:
    if (b.queued)
        g_ptr_array_free(b.queued, TRUE);
    if (b.list && b.list != stdin)
        fclose(b.list);
    free(b.line);
    g_free(b.held);
out_config:
    config_release(&b.cfg);
out_args:
    cli_engine_args_release(&engine_args);
    g_free(from);
    return rc;
}
