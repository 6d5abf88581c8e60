/* run.h - private to cli/: what `watch` and `batch` share: counting finished documents, logging
 * them, the signals that stop a run, and walking folders for PDFs. Loop thread only. */
#ifndef QUIRE_CLI_RUN_H
#define QUIRE_CLI_RUN_H

#include <glib.h>
#include <stdio.h>

#include "../workers/workers.h"

struct run_stats {
    double started;
    long stored, skipped, failed, cancelled;
    long pages, tables;
    GPtrArray *failures;    /* "path: message" strings (g_free), the first 1000 */
    bool log_stored;        /* log a line per stored document (off under a progress bar) */
};
void run_stats_init(struct run_stats *st);
void run_stats_release(struct run_stats *st);
/* Counts a finished job and logs it (stored/failed lines on stderr at info level). */
void run_stats_add(struct run_stats *st, const struct doc_job *job);
/* Prints the end-of-run summary. */
void run_stats_print(const struct run_stats *st, FILE *out);

/* SIGINT/SIGTERM handling: the first signal calls stop(user), the second abort(user). */
struct run_signals {
    uv_signal_t sigint, sigterm;
    int count;
    void (*stop)(void *user);
    void (*abort)(void *user);
    void *user;
};
int run_signals_start(struct run_signals *rs, uv_loop_t *loop, void (*stop)(void *),
                      void (*abort)(void *), void *user);
void run_signals_close(struct run_signals *rs);

/* A lazy, depth-first walk over folder trees yielding the *.pdf files (case-insensitive). */
struct walk;
struct walk *walk_new(char **roots, int n_roots);
/* The next PDF path (owned by the walk, valid until the next call), or NULL at the end. */
const char *walk_next(struct walk *w);
void walk_free(struct walk *w);
/* Calls cb(path, user) for every folder the walk enters (the roots included). */
void walk_on_dir(struct walk *w, void (*cb)(const char *path, void *user), void *user);
/* True when name ends in .pdf (any case). */
bool is_pdf_name(const char *name);

#endif
