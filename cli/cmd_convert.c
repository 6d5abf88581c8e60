/*
 * cmd_convert.c - `quire convert FILE.pdf...`: process the files now (again, if they were
 * processed before), store the results and print the tables, in the order the files were given.
 *
 * SIGINT/SIGTERM as in batch: the first signal lets the documents in progress finish (and print)
 * and starts no more; the second aborts them at the next page boundary (their documents go back
 * to queued, for the next `batch --resume`). Every file not processed is reported "cancelled"
 * in its place (in JSON, an object with "error": "cancelled"), so each file given still gets its
 * line, and the exit status is 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "run.h"

struct convert {
    uv_loop_t loop;
    struct pipeline *pipeline;
    struct config cfg;
    struct render_options render;
    enum table_format format;
    char **files;
    int n_files, next_submit, next_print;
    struct doc_job **done;     /* by input position, waiting to be printed in order */
    int failed;
    const char *password;
    struct page_set pages;
    struct run_signals signals;
    bool stopping;
};

static void feed(struct convert *c);

/* Prints the finished documents that are next in the given order; after the last one, closes
 * the signal handles so the loop can end. */
static void print_ready(struct convert *c)
{
    while (c->next_print < c->n_files && c->done[c->next_print]) {
        struct doc_job *j = c->done[c->next_print];
        if (j->outcome == JOB_FAILED) {
            c->failed++;
            fprintf(stderr, "quire convert: %s\n", j->message);
        } else if (j->outcome == JOB_CANCELLED) {
            c->failed++;
            fprintf(stderr, "quire convert: %s: cancelled\n", j->path);
        }
        if (output_document(stdout, j, c->format, &c->render))
            c->failed++;
        fflush(stdout);
        doc_job_free(j);
        c->done[c->next_print++] = NULL;
    }
    if (c->next_print == c->n_files)
        run_signals_close(&c->signals);
}

static void on_done(struct doc_job *job, void *user)
{
    struct convert *c = user;
    c->done[(intptr_t)job->user] = job;
    print_ready(c);
    feed(c);
}

/* The files not submitted yet are not processed: each gets a cancelled job in its place. */
static void cancel_rest(struct convert *c)
{
    while (c->next_submit < c->n_files) {
        int i = c->next_submit++;
        struct doc_job *job = doc_job_new(c->files[i]);
        if (!job) {
            fprintf(stderr, "quire convert: out of memory\n");
            c->failed++;
            c->n_files = i;
            break;
        }
        job->user = (void *)(intptr_t)i;
        job->outcome = JOB_CANCELLED;
        c->done[i] = job;
    }
    print_ready(c);
}

static void on_stop(void *user)
{
    struct convert *c = user;
    c->stopping = true;
    pipeline_stop(c->pipeline);   /* jobs waiting in the pool come back cancelled */
    cancel_rest(c);
}

static void on_abort(void *user)
{
    struct convert *c = user;
    c->stopping = true;
    pipeline_abort(c->pipeline);
    cancel_rest(c);
}

static int copy_pages(struct page_set *dst, const struct page_set *src)
{
    if (!src->n_ranges)
        return 0;
    dst->ranges = q_malloc(src->n_ranges * 2 * sizeof *dst->ranges);
    if (!dst->ranges)
        return QUIRE_ENOMEM;
    memcpy(dst->ranges, src->ranges, src->n_ranges * 2 * sizeof *dst->ranges);
    dst->n_ranges = src->n_ranges;
    return 0;
}

static void feed(struct convert *c)
{
    while (!c->stopping && c->next_submit < c->n_files && !pipeline_full(c->pipeline)) {
        int i = c->next_submit++;
        struct doc_job *job = doc_job_new(c->files[i]);
        if (!job) {
            fprintf(stderr, "quire convert: out of memory\n");
            c->failed++;
            c->n_files = i; /* stop here: the files before are printed as they finish */
            print_ready(c);
            return;
        }
        job->user = (void *)(intptr_t)i;
        job->force = true;
        int err = 0;
        if (c->password && !(job->password = q_strdup(c->password)))
            err = QUIRE_ENOMEM;
        if (!err)
            err = copy_pages(&job->pages, &c->pages);
        if (!err)
            err = pipeline_submit(c->pipeline, job);
        if (err) {
            job->outcome = JOB_FAILED;
            job->err = err;
            job->message = q_asprintf("%s: %s", c->files[i], err_str(err));
            on_done(job, c);
        }
    }
}

int cmd_convert(int argc, char **argv)
{
    char *format = NULL, *pages = NULL, *password = NULL;
    struct cli_engine_args engine_args = {0};
    GOptionEntry entries[] = {
        {"format", 'f', 0, G_OPTION_ARG_STRING, &format,
         "Output format: md (default), latex, html, csv or json (JSON Lines)", "FORMAT"},
        {"pages", 'p', 0, G_OPTION_ARG_STRING, &pages, "Pages to process, e.g. 1-3,7 (default all)",
         "PAGES"},
        {"password", 0, 0, G_OPTION_ARG_STRING, &password, "Password of encrypted PDFs", "PW"},
        CLI_ENGINE_ENTRIES(&engine_args),
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    struct convert c = {0};
    int rc = cli_parse("convert", "FILE.pdf...",
                       "Extracts the tables of the PDFs now, stores them in the database and prints "
                       "them.\nExit status: 0 all done, 1 some documents failed, 2 usage error.",
                       entries, &argc, &argv, &c.cfg);
    if (rc)
        goto out_free_args;
    if ((rc = cli_engine_apply("convert", &engine_args, &c.cfg)))
        goto out_config;
    char *msg = NULL;
    c.format = TABLE_FORMAT_MARKDOWN;
    if (format && !table_format_parse(format, &c.format)) {
        fprintf(stderr, "quire convert: unknown format '%s' (md, latex, html, csv, json)\n", format);
        rc = CLI_EXIT_USAGE;
        goto out_config;
    }
    if (pages && page_set_parse(pages, &c.pages, &msg)) {
        fprintf(stderr, "quire convert: %s\n", msg ? msg : "invalid --pages");
        free(msg);
        rc = CLI_EXIT_USAGE;
        goto out_config;
    }
    if (argc < 2) {
        fprintf(stderr, "quire convert: no files given (see quire convert --help)\n");
        rc = CLI_EXIT_USAGE;
        goto out_config;
    }
    render_options_init(&c.render);
    c.render.markdown_spans = c.cfg.markdown_repeat_spans ? SPAN_REPEAT : SPAN_EMPTY;
    c.render.latex_booktabs = c.cfg.latex_booktabs;
    c.files = argv + 1;
    c.n_files = argc - 1;
    c.password = password;
    c.done = q_calloc((size_t)c.n_files, sizeof *c.done);
    uv_loop_init(&c.loop);
    int err = 0;
    c.pipeline = c.done ? pipeline_new(&c.loop, &c.cfg, on_done, &c, &err, &msg) : NULL;
    if (!c.pipeline) {
        fprintf(stderr, "quire convert: %s\n", msg ? msg : err_str(c.done ? err : QUIRE_ENOMEM));
        free(msg);
        rc = CLI_EXIT_USAGE;
        goto out_loop;
    }
    run_signals_start(&c.signals, &c.loop, on_stop, on_abort, &c);
    feed(&c);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    rc = c.failed ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    pipeline_free(c.pipeline);
out_loop:
    uv_loop_close(&c.loop);
    free(c.done);
out_config:
    page_set_release(&c.pages);
    config_release(&c.cfg);
out_free_args:
    cli_engine_args_release(&engine_args);
    g_free(format);
    g_free(pages);
    g_free(password);
    return rc;
}
