/*
 * output.c - how `quire convert` prints a processed document: JSON Lines (the scripting
 * contract documented in README.md) or each table rendered in a human format under a heading.
 *
 * The JSON line is written by hand rather than with json-glib's generator, which prints every
 * double with 17 significant digits (a bbox edge of 64.8 would read 64.799999999999997); the
 * table's own part comes from table_render(TABLE_FORMAT_JSON), so it is the same JSON as
 * everywhere else.
 */
#include "output.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends s as a JSON string literal (or null). */
static void json_string(GString *out, const char *s)
{
    if (!s) {
        g_string_append(out, "null");
        return;
    }
    g_string_append_c(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': g_string_append(out, "\\\""); break;
        case '\\': g_string_append(out, "\\\\"); break;
        case '\n': g_string_append(out, "\\n"); break;
        case '\r': g_string_append(out, "\\r"); break;
        case '\t': g_string_append(out, "\\t"); break;
        default:
            if (*p < 0x20)
                g_string_append_printf(out, "\\u%04x", *p);
            else
                g_string_append_c(out, (char)*p);
        }
    }
    g_string_append_c(out, '"');
}

/* Appends a number with at most `decimals` decimals, without trailing zeros (locale-free). */
static void json_number(GString *out, double v, int decimals)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE], format[8];
    snprintf(format, sizeof format, "%%.%df", decimals);
    g_ascii_formatd(buf, sizeof buf, format, v);
    char *end = buf + strlen(buf);
    if (strchr(buf, '.')) {
        while (end[-1] == '0')
            *--end = '\0';
        if (end[-1] == '.')
            *--end = '\0';
    }
    g_string_append(out, strcmp(buf, "-0") ? buf : "0");
}

static void json_member(GString *out, const char *name)
{
    json_string(out, name);
    g_string_append_c(out, ':');
}

/* One table object of the JSON Lines contract. */
static int table_json(GString *out, const struct table_result *tr, const struct render_options *ro)
{
    char *shape = table_render(tr->table, TABLE_FORMAT_JSON, ro);
    char *md = table_render(tr->table, TABLE_FORMAT_MARKDOWN, ro);
    char *latex = table_render(tr->table, TABLE_FORMAT_LATEX, ro);
    size_t len = shape ? strlen(shape) : 0;
    int err = 0;
    if (!md || !latex || len < 2 || shape[0] != '{' || shape[len - 1] != '}') {
        err = QUIRE_ENOMEM;
        goto out;
    }
    g_string_append_printf(out, "{\"id\":%lld,\"page\":%d,\"bbox\":[", (long long)tr->id, tr->page);
    double box[4] = {tr->bbox.x0, tr->bbox.y0, tr->bbox.x1, tr->bbox.y1};
    for (int k = 0; k < 4; k++) {
        json_number(out, box[k], 2);
        g_string_append_c(out, k < 3 ? ',' : ']');
    }
    /* the renderer's {"rows":...,"spans":...,"header_rows":N}, spliced in */
    g_string_append_c(out, ',');
    g_string_append_len(out, shape + 1, (gssize)len - 2);
    g_string_append_c(out, ',');
    json_member(out, "engine");
    json_string(out, tr->engine);
    g_string_append_c(out, ',');
    json_member(out, "confidence");
    json_number(out, tr->confidence, 3);
    g_string_append_c(out, ',');
    json_member(out, "markdown");
    json_string(out, md);
    g_string_append_c(out, ',');
    json_member(out, "latex");
    json_string(out, latex);
    g_string_append_c(out, '}');
out:
    free(shape);
    free(md);
    free(latex);
    return err;
}

static char *document_json(const struct doc_job *job, const struct render_options *ro)
{
    GString *out = g_string_new("{");
    json_member(out, "path");
    json_string(out, job->path);
    g_string_append_c(out, ',');
    json_member(out, "sha256");
    json_string(out, job->sha256[0] ? job->sha256 : NULL);
    g_string_append_printf(out, ",\"pages\":%d,\"tables\":[", job->n_pages_total);
    int err = 0;
    for (size_t i = 0; i < job->result.n_tables && !err; i++) {
        if (i)
            g_string_append_c(out, ',');
        err = table_json(out, &job->result.tables[i], ro);
    }
    g_string_append(out, "],");
    json_member(out, "error");
    json_string(out, job->outcome == JOB_FAILED ? job->message
                     : job->outcome == JOB_CANCELLED ? "cancelled" : NULL);
    g_string_append_c(out, '}');
    char *line = err ? NULL : q_strdup(out->str);
    g_string_free(out, TRUE);
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
