/*
 * cmd_watch.c - `quire watch DIR...`: the long-running service.
 *
 * Files reach the candidate table from inotify events (uv_fs_event: created, written, moved in),
 * from the scan at start-up and from a periodic rescan (inotify can drop events). A candidate is
 * taken once its size and mtime have been stable for settle_seconds and it looks like a complete
 * PDF (or has been stable for incomplete_seconds, so a broken file is recorded as failed rather
 * than waiting forever). A taken file is remembered with its size and mtime so later scans do not
 * take it again unless it changes; the store's content hash makes sure a document is never stored
 * twice, whatever path it arrives under.
 *
 * Subfolders are watched too: every folder a scan enters gets its own inotify watch (up to
 * MAX_WATCHED_DIRS; beyond that, and if the kernel's inotify limit is reached, the periodic
 * rescan still finds their files), and a folder created or moved in is watched and scanned.
 *
 * Everything here runs on the loop thread; the documents themselves go to the pipeline's workers.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../ingest/ingest.h"
#include "../store/store.h"
#include "cli.h"
#include "run.h"

struct candidate {
    int64_t size, mtime_ns;
    double stable_since;       /* when size/mtime were last seen changing */
};

#define MAX_WATCHED_DIRS 4096

struct watched_dir {
    uv_fs_event_t event;
    char *path;            /* owned (g_free after the handle is closed) */
};

struct watch {
    uv_loop_t loop;
    struct config cfg;
    struct pipeline *pipeline;
    struct run_stats stats;
    struct run_signals signals;
    uv_timer_t tick, rescan;
    char **roots;              /* the folders named on the command line */
    int n_roots;
    GHashTable *dirs;          /* path -> struct watched_dir*, every folder watched */
    bool dirs_full_warned;
    GHashTable *candidates;    /* path -> struct candidate */
    GHashTable *taken;         /* path -> "size:mtime" of the version submitted or in flight */
    GHashTable *inflight;      /* paths submitted and not yet done */
    GPtrArray *queued;         /* paths of documents queued in the database, to submit */
    bool stopping;
};

static void add_candidate(struct watch *w, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    char *version = g_strdup_printf("%lld:%lld", (long long)st.st_size,
                                    (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
    const char *known = g_hash_table_lookup(w->taken, path);
    bool same = known && !strcmp(known, version);
    g_free(version);
    if (same || g_hash_table_contains(w->candidates, path))
        return;
    struct candidate *c = g_new0(struct candidate, 1);
    c->size = -1; /* forces a first "change" at the next tick */
    c->stable_since = now_seconds();
    g_hash_table_insert(w->candidates, g_strdup(path), c);
}

static void watch_dir(const char *path, void *user);

static void scan_dir(struct watch *w, const char *dir)
{
    char *roots[] = {(char *)dir};
    struct walk *walk = walk_new(roots, 1);
    if (walk)
        walk_on_dir(walk, watch_dir, w);
    const char *path;
    while (walk && (path = walk_next(walk)))
        add_candidate(w, path);
    walk_free(walk);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct watched_dir *d = container_of(h, struct watched_dir, event);
    struct watch *w = h->data;
    if (status < 0 || !filename || w->stopping)
        return;
    char *path = g_build_filename(d->path, filename, NULL);
    if (is_pdf_name(filename))
        add_candidate(w, path);
    else if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK) &&
             !g_hash_table_contains(w->dirs, path))
        scan_dir(w, path); /* a folder created or moved in: watch it and take its PDFs */
    g_free(path);
}

static void free_watched_dir(uv_handle_t *h)
{
    struct watched_dir *d = container_of((uv_fs_event_t *)h, struct watched_dir, event);
    g_free(d->path);
    g_free(d);
}

/* Starts an inotify watch on a folder (once). Returns 0 or a libuv error code. */
static int start_dir_watch(struct watch *w, const char *path)
{
    if (g_hash_table_contains(w->dirs, path))
        return 0;
    if (g_hash_table_size(w->dirs) >= MAX_WATCHED_DIRS) {
        if (!w->dirs_full_warned)
            log_msg(LOG_WARN, "watching %d folders already: files in further subfolders are found "
                    "by the rescan every %g s", MAX_WATCHED_DIRS, w->cfg.rescan_seconds);
        w->dirs_full_warned = true;
        return 0;
    }
    struct watched_dir *d = g_new0(struct watched_dir, 1);
    d->path = g_strdup(path);
    uv_fs_event_init(&w->loop, &d->event);
    d->event.data = w;
    int rc = uv_fs_event_start(&d->event, on_fs_event, d->path, 0);
    if (rc) {
        uv_close((uv_handle_t *)&d->event, free_watched_dir);
        return rc;
    }
    g_hash_table_insert(w->dirs, d->path, d);
    return 0;
}

static void watch_dir(const char *path, void *user)
{
    struct watch *w = user;
    if (w->stopping)
        return;
    int rc = start_dir_watch(w, path);
    if (rc)
        log_msg(LOG_WARN, "%s: cannot watch: %s (its files are found by the rescan)", path,
                uv_strerror(rc));
}

static void submit(struct watch *w, const char *path, const char *version)
{
    struct doc_job *job = doc_job_new(path);
    if (!job || pipeline_submit(w->pipeline, job)) {
        log_msg(LOG_ERROR, "%s: cannot queue: out of memory", path);
        doc_job_free(job);
        return;
    }
    g_hash_table_insert(w->taken, g_strdup(path), g_strdup(version));
    g_hash_table_add(w->inflight, g_strdup(path));
}

/* Looks at every candidate: drops vanished files, restarts the clock on changed ones, submits
 * the settled ones while the pipeline has room. */
static void on_tick(uv_timer_t *t)
{
    struct watch *w = container_of(t, struct watch, tick);
    double now = now_seconds();
    while (w->queued && w->queued->len && !pipeline_full(w->pipeline)) {
        char *path = g_ptr_array_steal_index(w->queued, w->queued->len - 1);
        if (!g_hash_table_contains(w->inflight, path))
            submit(w, path, "queued");
        g_free(path);
    }
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, w->candidates);
    while (g_hash_table_iter_next(&it, &key, &value) && !pipeline_full(w->pipeline)) {
        const char *path = key;
        struct candidate *c = value;
        struct stat st;
        if (stat(path, &st) != 0) {
            g_hash_table_iter_remove(&it);
            continue;
        }
        int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        if (st.st_size != c->size || mtime != c->mtime_ns) {
            c->size = st.st_size;
            c->mtime_ns = mtime;
            c->stable_since = now;
            continue;
        }
        double stable = now - c->stable_since;
        if (stable < w->cfg.settle_seconds || g_hash_table_contains(w->inflight, path))
            continue;
        if (!file_is_complete_pdf(path) && stable < w->cfg.incomplete_seconds)
            continue;
        char *version = g_strdup_printf("%lld:%lld", (long long)c->size, (long long)c->mtime_ns);
        submit(w, path, version);
        g_free(version);
        g_hash_table_iter_remove(&it);
    }
}

static void load_queued(struct watch *w)
{
    struct store *s = NULL;
    if (store_open(w->cfg.db_path, w->cfg.busy_timeout_ms, &s, NULL))
        return;
    if (!w->queued)
        w->queued = g_ptr_array_new_with_free_func(g_free);
    if (w->queued->len == 0 && store_queued_paths(s, w->queued))
        log_msg(LOG_WARN, "%s: cannot list queued documents: %s", w->cfg.db_path,
                store_errmsg(s));
    store_close(s);
}

static void on_rescan(uv_timer_t *t)
{
    struct watch *w = container_of(t, struct watch, rescan);
    for (int i = 0; i < w->n_roots; i++)
        scan_dir(w, w->roots[i]);
    load_queued(w);
}

static void close_all(struct watch *w)
{
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_close((uv_handle_t *)&w->rescan, NULL);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, w->dirs);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        struct watched_dir *d = value;
        g_hash_table_iter_steal(&it);
        uv_close((uv_handle_t *)&d->event, free_watched_dir);
    }
    run_signals_close(&w->signals);
}

static void on_done(struct doc_job *job, void *user)
{
    struct watch *w = user;
    run_stats_add(&w->stats, job);
    g_hash_table_remove(w->inflight, job->path);
    if (job->outcome == JOB_CANCELLED)
        g_hash_table_remove(w->taken, job->path); /* not processed: take it again next time */
    doc_job_free(job);
    if (w->stopping && pipeline_pending(w->pipeline) == 0)
        close_all(w);
}

static void on_stop(void *user)
{
    struct watch *w = user;
    if (w->stopping)
        return;
    w->stopping = true;
    uv_timer_stop(&w->tick);
    uv_timer_stop(&w->rescan);
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, w->dirs);
    while (g_hash_table_iter_next(&it, NULL, &value))
        uv_fs_event_stop(&((struct watched_dir *)value)->event);
    pipeline_stop(w->pipeline);
    if (pipeline_pending(w->pipeline) == 0)
        close_all(w);
}

static void on_abort(void *user)
{
    struct watch *w = user;
    on_stop(w);
    pipeline_abort(w->pipeline);
}

/* Checks the named folders and watches them (their subfolders follow with the first scan). */
static int start_watching(struct watch *w, char **dirs, int n)
{
    w->roots = dirs;
    w->n_roots = n;
    for (int i = 0; i < n; i++) {
        if (!g_file_test(dirs[i], G_FILE_TEST_IS_DIR)) {
            fprintf(stderr, "quire watch: %s: not a folder\n", dirs[i]);
            return QUIRE_ENOENT;
        }
        int rc = start_dir_watch(w, dirs[i]);
        if (rc) {
            fprintf(stderr, "quire watch: %s: cannot watch: %s\n", dirs[i], uv_strerror(rc));
            return QUIRE_EIO;
        }
    }
    return 0;
}

int cmd_watch(int argc, char **argv)
{
    struct watch w = {0};
    struct cli_engine_args engine_args = {0};
    GOptionEntry entries[] = {
        CLI_ENGINE_ENTRIES(&engine_args),
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    int rc = cli_parse("watch", "DIR...",
                       "Processes the PDFs in the folders (and their subfolders) and every PDF that "
                       "appears there later, until SIGINT or SIGTERM (twice: abort).",
                       entries, &argc, &argv, &w.cfg);
    if (rc) {
        cli_engine_args_release(&engine_args);
        return rc;
    }
    if ((rc = cli_engine_apply("watch", &engine_args, &w.cfg))) {
        config_release(&w.cfg);
        return rc;
    }
    if (argc < 2) {
        fprintf(stderr, "quire watch: no folders given (see quire watch --help)\n");
        config_release(&w.cfg);
        return CLI_EXIT_USAGE;
    }
    w.candidates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    w.taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    w.inflight = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    w.dirs = g_hash_table_new(g_str_hash, g_str_equal); /* keys belong to the values */
    run_stats_init(&w.stats);
    uv_loop_init(&w.loop);
    int err = 0;
    char *msg = NULL;
    w.pipeline = pipeline_new(&w.loop, &w.cfg, on_done, &w, &err, &msg);
    if (!w.pipeline) {
        fprintf(stderr, "quire watch: %s\n", msg ? msg : err_str(err));
        free(msg);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    /* A previous instance killed mid-document left it running: queue it again. */
    struct store *s = NULL;
    int requeued = 0;
    if (store_open(w.cfg.db_path, w.cfg.busy_timeout_ms, &s, NULL) == 0) {
        store_requeue_running(s, &requeued);
        store_close(s);
    }
    if (requeued)
        log_msg(LOG_INFO, "%d documents interrupted earlier are queued again", requeued);
    run_signals_start(&w.signals, &w.loop, on_stop, on_abort, &w);
    uv_timer_init(&w.loop, &w.tick);
    uv_timer_init(&w.loop, &w.rescan);
    if (start_watching(&w, argv + 1, argc - 1)) {
        on_stop(&w);
        rc = CLI_EXIT_USAGE;
    } else {
        on_rescan(&w.rescan);
        guint n = g_hash_table_size(w.dirs);
        log_msg(LOG_INFO, "watching %u folder%s; database %s", n, n == 1 ? "" : "s",
                w.cfg.db_path);
        uint64_t tick_ms = (uint64_t)(w.cfg.settle_seconds * 250);
        tick_ms = tick_ms < 50 ? 50 : tick_ms > 1000 ? 1000 : tick_ms;
        uv_timer_start(&w.tick, on_tick, 0, tick_ms);
        uint64_t rescan_ms = (uint64_t)(w.cfg.rescan_seconds * 1000);
        uv_timer_start(&w.rescan, on_rescan, rescan_ms, rescan_ms);
    }
    uv_run(&w.loop, UV_RUN_DEFAULT);
    run_stats_print(&w.stats, stderr);
    if (!rc)
        rc = CLI_EXIT_OK;
    pipeline_free(w.pipeline);
out:
    uv_loop_close(&w.loop);
    run_stats_release(&w.stats);
    g_hash_table_destroy(w.dirs);
    if (w.queued)
        g_ptr_array_free(w.queued, TRUE);
    g_hash_table_destroy(w.candidates);
    g_hash_table_destroy(w.taken);
    g_hash_table_destroy(w.inflight);
    config_release(&w.cfg);
    return rc;
}
