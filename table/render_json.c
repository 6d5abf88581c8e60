/*
 * table/render_json.c - a table as JSON, through json-glib:
 *   {"rows":[["a","b"],...],"spans":[[row,col,rowspan,colspan],...],"header_rows":N}
 * rows hold the text of every position (covered positions ""), spans list the cells larger than
 * 1x1 in row-major order. Text that is not valid UTF-8 has its bad bytes replaced by U+FFFD so
 * that the output is valid JSON.
 *
 * json-glib allocates with g_malloc (which aborts on out-of-memory rather than failing); the
 * result is copied into q_ memory so callers free() it like every other renderer's output.
 */
#include "table_internal.h"

#include <json-glib/json-glib.h>
#include <stdlib.h>

/* Adds s as a JSON string; false on ENOMEM. */
static bool add_text(JsonBuilder *jb, const char *s)
{
    if (g_utf8_validate(s, -1, NULL)) {
        json_builder_add_string_value(jb, s);
        return true;
    }
    char *fixed = table__utf8_sanitize(s);
    if (!fixed)
        return false;
    json_builder_add_string_value(jb, fixed);
    free(fixed);
    return true;
}

static bool add_rows(JsonBuilder *jb, const struct table *t, const int *map)
{
    json_builder_begin_array(jb);
    for (int r = 0; r < t->n_rows; r++) {
        json_builder_begin_array(jb);
        for (int c = 0; c < t->n_cols; c++) {
            int i = map[(size_t)r * t->n_cols + c];
            const struct table_cell *cell = i >= 0 ? &t->cells[i] : NULL;
            bool anchor = cell && cell->row == r && cell->col == c;
            if (!add_text(jb, anchor ? cell->text : ""))
                return false;
        }
        json_builder_end_array(jb);
    }
    json_builder_end_array(jb);
    return true;
}

static void add_spans(JsonBuilder *jb, const struct table *t)
{
    json_builder_begin_array(jb);
    for (size_t i = 0; i < t->n_cells; i++) {
        const struct table_cell *c = &t->cells[i];
        if (c->rowspan == 1 && c->colspan == 1)
            continue;
        json_builder_begin_array(jb);
        json_builder_add_int_value(jb, c->row);
        json_builder_add_int_value(jb, c->col);
        json_builder_add_int_value(jb, c->rowspan);
        json_builder_add_int_value(jb, c->colspan);
        json_builder_end_array(jb);
    }
    json_builder_end_array(jb);
}

char *table__render_json(const struct table *t)
{
    char *out = NULL;
    int *map = table__cover_map(t);
    if (!map)
        return NULL;
    JsonBuilder *jb = json_builder_new();
    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, "rows");
    if (!add_rows(jb, t, map))
        goto out_unref_builder;
    json_builder_set_member_name(jb, "spans");
    add_spans(jb, t);
    json_builder_set_member_name(jb, "header_rows");
    json_builder_add_int_value(jb, t->header_rows);
    json_builder_end_object(jb);

    JsonNode *root = json_builder_get_root(jb);
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, root);
    gchar *text = json_generator_to_data(gen, NULL);
    out = q_strdup(text);
    g_free(text);
    g_object_unref(gen);
    json_node_unref(root);

out_unref_builder:
    g_object_unref(jb);
    free(map);
    return out;
}
