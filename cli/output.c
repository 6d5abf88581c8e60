/*
 * output.c - how `quire convert` prints a processed document: JSON Lines (the scripting
 * contract documented in README.md) or each table rendered in a human format under a heading.
 *
 * The JSON line is built like `quire query`'s (cli/json.c), so both print the same shapes.
 */
#include "output.h"

#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *document_json(const struct doc_job *job, const struct render_options *ro)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_add_string(b, "path", job->path);
    json_add_string(b, "sha256", job->sha256[0] ? job->sha256 : NULL);
    json_add_int(b, "pages", job->n_pages_total);
    json_builder_set_member_name(b, "tables");
    json_builder_begin_array(b);
    int err = 0;
    for (size_t i = 0; i < job->result.n_tables && !err; i++) {
        const struct table_result *tr = &job->result.tables[i];
        json_builder_begin_object(b);
        json_add_int(b, "id", tr->id);
        json_add_int(b, "page", tr->page);
        json_add_bbox(b, tr->bbox);
        err = json_add_table_grid(b, tr->table);
        json_add_int(b, "header_rows", tr->table->header_rows);
        json_add_string(b, "engine", tr->engine);
        json_add_string(b, "model_id", tr->model_id);
        json_builder_set_member_name(b, "confidence");
        json_builder_add_double_value(b, round(tr->confidence * 1000) / 1000);
        json_builder_set_member_name(b, "continues_id");
        if (tr->continues && job->result.tables[tr->continues - 1].id)
            json_builder_add_int_value(b, job->result.tables[tr->continues - 1].id);
        else
            json_builder_add_null_value(b);
        json_add_int(b, "repeated_header_rows", tr->continues ? tr->repeated_header_rows : 0);
        char *md = table_render(tr->table, TABLE_FORMAT_MARKDOWN, ro);
        char *latex = table_render(tr->table, TABLE_FORMAT_LATEX, ro);
        if (!md || !latex)
            err = QUIRE_ENOMEM;
        json_add_string(b, "markdown", md);
        json_add_string(b, "latex", latex);
        free(md);
        free(latex);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_add_string(b, "error", job->outcome == JOB_FAILED ? job->message
                                : job->outcome == JOB_CANCELLED ? "cancelled" : NULL);
    json_builder_end_object(b);
    char *line = err ? NULL : json_line(b);
    g_object_unref(b);
    return line;
}

/* The line introducing a table, as a comment of the output format. */
static void print_heading(FILE *out, enum table_format f, const struct doc_job *job,
                          const struct table_result *tr)
{
    const char *open = "", *close = "";
    switch (f) {
    case TABLE_FORMAT_MARKDOWN: open = "### "; break;
    case TABLE_FORMAT_LATEX: open = "% "; break;
    case TABLE_FORMAT_HTML: open = "<!-- "; close = " -->"; break;
    default: open = "# "; break;
    }
    fprintf(out, "%s%s, page %d, table %lld (%s engine%s%s, %dx%d)%s\n", open, job->path,
            tr->page, (long long)tr->id, tr->engine, tr->model_id ? ", model " : "",
            tr->model_id ? tr->model_id : "", tr->table->n_rows, tr->table->n_cols, close);
}

int output_document(FILE *out, const struct doc_job *job, enum table_format f,
                    const struct render_options *ro)
{
    if (f == TABLE_FORMAT_JSON) {
        char *line = document_json(job, ro);
        if (!line)
            return QUIRE_ENOMEM;
        fputs(line, out); /* ends in a newline */
        g_free(line);
        return 0;
    }
    for (size_t i = 0; i < job->result.n_tables; i++) {
        const struct table_result *tr = &job->result.tables[i];
        char *s = table_render(tr->table, f, ro);
        if (!s)
            return QUIRE_ENOMEM;
        print_heading(out, f, job, tr);
        fprintf(out, "\n%s\n", s);
        free(s);
    }
    return 0;
}
