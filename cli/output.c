/*
 * output.c - how `quire convert` prints a processed document: JSON Lines (the scripting
 * contract documented in README.md) or each table rendered in a human format under a heading.
 */
#include "output.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Adds the table's JSON rendering ("rows", "spans", "header_rows") to the builder's object. */
static void add_table_shape(JsonBuilder *b, const struct table *t)
{
    char *json = table_render(t, TABLE_FORMAT_JSON, NULL);
    JsonParser *parser = json_parser_new();
    if (json && json_parser_load_from_data(parser, json, -1, NULL)) {
        JsonObject *o = json_node_get_object(json_parser_get_root(parser));
        const char *keys[] = {"rows", "spans", "header_rows"};
        for (size_t i = 0; i < 3; i++) {
            json_builder_set_member_name(b, keys[i]);
            json_builder_add_value(b, json_node_copy(json_object_get_member(o, keys[i])));
        }
    }
    g_object_unref(parser);
    free(json);
}

static void add_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void add_rendering(JsonBuilder *b, const char *name, const struct table *t,
                          enum table_format f, const struct render_options *ro)
{
    char *s = table_render(t, f, ro);
    add_string(b, name, s);
    free(s);
}

static char *document_json(const struct doc_job *job, const struct render_options *ro)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    add_string(b, "path", job->path);
    add_string(b, "sha256", job->sha256[0] ? job->sha256 : NULL);
    json_builder_set_member_name(b, "pages");
    json_builder_add_int_value(b, job->n_pages_total);
    json_builder_set_member_name(b, "tables");
    json_builder_begin_array(b);
    for (size_t i = 0; i < job->result.n_tables; i++) {
        const struct table_result *tr = &job->result.tables[i];
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_int_value(b, tr->id);
        json_builder_set_member_name(b, "page");
        json_builder_add_int_value(b, tr->page);
        json_builder_set_member_name(b, "bbox");
        json_builder_begin_array(b);
        double box[4] = {tr->bbox.x0, tr->bbox.y0, tr->bbox.x1, tr->bbox.y1};
        for (int k = 0; k < 4; k++)
            json_builder_add_double_value(b, round(box[k] * 100) / 100);
        json_builder_end_array(b);
        add_table_shape(b, tr->table);
        add_string(b, "engine", tr->engine);
        json_builder_set_member_name(b, "confidence");
        json_builder_add_double_value(b, tr->confidence);
        add_rendering(b, "markdown", tr->table, TABLE_FORMAT_MARKDOWN, ro);
        add_rendering(b, "latex", tr->table, TABLE_FORMAT_LATEX, ro);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    add_string(b, "error", job->outcome == JOB_FAILED ? job->message : NULL);
    json_builder_end_object(b);
    JsonGenerator *gen = json_generator_new();
    JsonNode *root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    char *text = json_generator_to_data(gen, NULL);
    char *out = q_strdup(text);
    g_free(text);
    json_node_unref(root);
    g_object_unref(gen);
    g_object_unref(b);
    return out;
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
    fprintf(out, "%s%s, page %d, table %lld (%s engine, %dx%d)%s\n", open, job->path, tr->page,
            (long long)tr->id, tr->engine, tr->table->n_rows, tr->table->n_cols, close);
}

int output_document(FILE *out, const struct doc_job *job, enum table_format f,
                    const struct render_options *ro)
{
    if (f == TABLE_FORMAT_JSON) {
        char *line = document_json(job, ro);
        if (!line)
            return QUIRE_ENOMEM;
        fprintf(out, "%s\n", line);
        free(line);
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
