/*
 * json.c - JSON output shared by the commands: json-glib builds the value, and a small writer
 * prints it on one line with ", " and ": " separators (the style of Python's json.dumps), keys in
 * insertion order and doubles in their shortest form. json-glib's own generator would print
 * every double with 17 significant digits (64.8 as 64.799999999999997).
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void write_json(GString *out, JsonNode *node);

static void write_json_string(GString *out, const char *s)
{
    JsonNode *n = json_node_init_string(json_node_alloc(), s);
    char *text = json_to_string(n, FALSE);
    g_string_append(out, text);
    g_free(text);
    json_node_unref(n);
}

/* The shortest decimal that reads back as the same double; JSON has no inf/nan (null then). */
static void write_json_double(GString *out, double v)
{
    if (!isfinite(v)) {
        g_string_append(out, "null");
        return;
    }
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    for (int precision = 6; precision <= 17; precision++) {
        char fmt[16];
        snprintf(fmt, sizeof fmt, "%%.%dg", precision);
        g_ascii_formatd(buf, sizeof buf, fmt, v);
        if (g_ascii_strtod(buf, NULL) == v)
            break;
    }
    g_string_append(out, buf);
}

static void write_json(GString *out, JsonNode *node)
{
    switch (json_node_get_node_type(node)) {
    case JSON_NODE_OBJECT: {
        JsonObject *o = json_node_get_object(node);
        GList *members = json_object_get_members(o);   /* in insertion order */
        g_string_append_c(out, '{');
        for (GList *m = members; m; m = m->next) {
            write_json_string(out, m->data);
            g_string_append(out, ": ");
            write_json(out, json_object_get_member(o, m->data));
            if (m->next)
                g_string_append(out, ", ");
        }
        g_string_append_c(out, '}');
        g_list_free(members);
        break;
    }
    case JSON_NODE_ARRAY: {
        JsonArray *a = json_node_get_array(node);
        guint n = json_array_get_length(a);
        g_string_append_c(out, '[');
        for (guint i = 0; i < n; i++) {
            if (i)
                g_string_append(out, ", ");
            write_json(out, json_array_get_element(a, i));
        }
        g_string_append_c(out, ']');
        break;
    }
    case JSON_NODE_NULL:
        g_string_append(out, "null");
        break;
    case JSON_NODE_VALUE:
        if (json_node_get_value_type(node) == G_TYPE_DOUBLE) {
            write_json_double(out, json_node_get_double(node));
        } else {
            char *text = json_to_string(node, FALSE);
            g_string_append(out, text);
            g_free(text);
        }
        break;
    }
}

char *json_line(JsonBuilder *b)
{
    JsonNode *root = json_builder_get_root(b);
    GString *out = g_string_new(NULL);
    write_json(out, root);
    g_string_append_c(out, '\n');
    json_node_unref(root);
    return g_string_free(out, FALSE);
}

void json_add_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

void json_add_int(JsonBuilder *b, const char *name, int64_t value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

void json_add_bbox(JsonBuilder *b, struct rect r)
{
    double v[4] = {r.x0, r.y0, r.x1, r.y1};
    json_builder_set_member_name(b, "bbox");
    json_builder_begin_array(b);
    for (int i = 0; i < 4; i++)
        json_builder_add_double_value(b, round(v[i] * 100) / 100); /* 0.01 pt is plenty */
    json_builder_end_array(b);
}

int json_add_table_grid(JsonBuilder *b, const struct table *t)
{
    char *rendered = table_render(t, TABLE_FORMAT_JSON, NULL);
    if (!rendered)
        return QUIRE_ENOMEM;
    JsonParser *parser = json_parser_new();
    JsonObject *grid = NULL;
    if (json_parser_load_from_data(parser, rendered, -1, NULL)) {
        JsonNode *root = json_parser_get_root(parser);
        if (root && JSON_NODE_HOLDS_OBJECT(root))
            grid = json_node_get_object(root);
    }
    free(rendered);
    int err = QUIRE_EPARSE;
    if (grid && json_object_has_member(grid, "rows") && json_object_has_member(grid, "spans")) {
        json_builder_set_member_name(b, "rows");
        json_builder_add_value(b, json_node_copy(json_object_get_member(grid, "rows")));
        json_builder_set_member_name(b, "spans");
        json_builder_add_value(b, json_node_copy(json_object_get_member(grid, "spans")));
        err = 0;
    }
    g_object_unref(parser);
    return err;
}
