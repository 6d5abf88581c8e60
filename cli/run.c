/*
 * run.c - shared by `quire watch` and `quire batch`: statistics and logging of finished
 * documents, SIGINT/SIGTERM, and the lazy folder walk that keeps a 100,000-file tree out of
 * memory (only the stack of open folders is held).
 */
#include "run.h"

#include <glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

void run_stats_init(struct run_stats *st)
{
    memset(st, 0, sizeof *st);
    st->started = now_seconds();
    st->failures = g_ptr_array_new_with_free_func(g_free);
    st->log_stored = true;
}

void run_stats_release(struct run_stats *st)
{
    if (st->failures)
        g_ptr_array_free(st->failures, TRUE);
    st->failures = NULL;
}

void run_stats_add(struct run_stats *st, const struct doc_job *job)
{
    switch (job->outcome) {
    case JOB_STORED:
        st->stored++;
        st->pages += (long)job->result.n_pages;
        st->tables += (long)job->result.n_tables;
        log_msg(st->log_stored ? LOG_INFO : LOG_DEBUG, "stored %s: %zu pages, %zu tables, %.2f s",
                job->path,
                job->result.n_pages, job->result.n_tables, job->seconds);
        break;
    case JOB_SKIPPED:
        st->skipped++;
        log_msg(LOG_DEBUG, "skipped %s: already stored", job->path);
        break;
    case JOB_FAILED:
        st->failed++;
        log_msg(LOG_ERROR, "%s", job->message ? job->message : job->path);
        if (st->failures->len < 1000)
            g_ptr_array_add(st->failures, g_strdup(job->message ? job->message : job->path));
        break;
    case JOB_CANCELLED:
        st->cancelled++;
        log_msg(LOG_DEBUG, "left queued: %s", job->path);
        break;
    }
}

void run_stats_print(const struct run_stats *st, FILE *out)
{
    double secs = now_seconds() - st->started;
    fprintf(out,
            "documents: %ld stored, %ld already stored, %ld failed, %ld left queued\n"
            "pages: %ld, tables: %ld, time: %.1f s, %.2f pages/s\n",
            st->stored, st->skipped, st->failed, st->cancelled, st->pages, st->tables, secs,
            secs > 0 ? (double)st->pages / secs : 0.0);
    for (guint i = 0; i < st->failures->len; i++)
        fprintf(out, "failed: %s\n", (const char *)g_ptr_array_index(st->failures, i));
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct run_signals *rs = h->data;
    rs->count++;
    if (rs->count == 1) {
        log_msg(LOG_INFO, "signal %d: finishing the documents in progress (again to abort)", signum);
        rs->stop(rs->user);
    } else {
        log_msg(LOG_WARN, "signal %d: aborting; unfinished documents stay queued", signum);
        rs->abort(rs->user);
    }
}

int run_signals_start(struct run_signals *rs, uv_loop_t *loop, void (*stop)(void *),
                      void (*abort_fn)(void *), void *user)
{
    memset(rs, 0, sizeof *rs);
    rs->stop = stop;
    rs->abort = abort_fn;
    rs->user = user;
    uv_signal_init(loop, &rs->sigint);
    uv_signal_init(loop, &rs->sigterm);
    rs->sigint.data = rs->sigterm.data = rs;
    if (uv_signal_start(&rs->sigint, on_signal, SIGINT) ||
        uv_signal_start(&rs->sigterm, on_signal, SIGTERM))
        return QUIRE_EINVAL;
    return 0;
}

void run_signals_close(struct run_signals *rs)
{
    if (!uv_is_closing((uv_handle_t *)&rs->sigint))
        uv_close((uv_handle_t *)&rs->sigint, NULL);
    if (!uv_is_closing((uv_handle_t *)&rs->sigterm))
        uv_close((uv_handle_t *)&rs->sigterm, NULL);
    /* Closing the watchers gives the signals their default action back; a Ctrl-C that comes
     * while the finished run closes the database and prints its summary would kill it without
     * that summary or its exit status. The work is done: ignore them from here on. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
}

bool is_pdf_name(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && g_ascii_strcasecmp(name + n - 4, ".pdf") == 0;
}

struct walk {
    GPtrArray *roots;      /* paths still to visit (files or folders) */
    GPtrArray *dirs;       /* open GDir*, innermost last */
    GPtrArray *dir_paths;  /* their paths */
    void (*on_dir)(const char *path, void *user);
    void *on_dir_user;
    char *current;
};

struct walk *walk_new(char **roots, int n_roots)
{
    struct walk *w = q_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->roots = g_ptr_array_new_with_free_func(g_free);
    w->dirs = g_ptr_array_new();
    w->dir_paths = g_ptr_array_new_with_free_func(g_free);
    for (int i = n_roots - 1; i >= 0; i--) /* popped from the end: keep the given order */
        g_ptr_array_add(w->roots, g_strdup(roots[i]));
    return w;
}

static void pop_dir(struct walk *w)
{
    g_dir_close(g_ptr_array_steal_index(w->dirs, w->dirs->len - 1));
    g_ptr_array_remove_index(w->dir_paths, w->dir_paths->len - 1);
}

static void push_dir(struct walk *w, const char *path)
{
    GError *err = NULL;
    GDir *d = g_dir_open(path, 0, &err);
    if (!d) {
        log_msg(LOG_WARN, "cannot read folder %s: %s", path, err->message);
        g_error_free(err);
        return;
    }
    g_ptr_array_add(w->dirs, d);
    g_ptr_array_add(w->dir_paths, g_strdup(path));
    if (w->on_dir)
        w->on_dir(path, w->on_dir_user);
}

void walk_on_dir(struct walk *w, void (*cb)(const char *path, void *user), void *user)
{
    w->on_dir = cb;
    w->on_dir_user = user;
}

const char *walk_next(struct walk *w)
{
    g_free(w->current);
    w->current = NULL;
    for (;;) {
        if (w->dirs->len == 0) {
            if (w->roots->len == 0)
                return NULL;
            char *root = g_ptr_array_steal_index(w->roots, w->roots->len - 1);
            if (g_file_test(root, G_FILE_TEST_IS_DIR)) {
                push_dir(w, root);
                g_free(root);
                continue;
            }
            w->current = root; /* a file named on the command line is taken as it is */
            return w->current;
        }
        GDir *d = g_ptr_array_index(w->dirs, w->dirs->len - 1);
        const char *name = g_dir_read_name(d);
        if (!name) {
            pop_dir(w);
            continue;
        }
        char *path = g_build_filename(g_ptr_array_index(w->dir_paths, w->dir_paths->len - 1),
                                      name, NULL);
        if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
            push_dir(w, path);
            g_free(path);
        } else if (is_pdf_name(name) && g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
            w->current = path;
            return w->current;
        } else {
            g_free(path);
        }
    }
}

void walk_free(struct walk *w)
{
    if (!w)
        return;
    while (w->dirs->len)
        pop_dir(w);
    g_ptr_array_free(w->dirs, TRUE);
    g_ptr_array_free(w->dir_paths, TRUE);
    g_ptr_array_free(w->roots, TRUE);
    g_free(w->current);
    free(w);
}
