/* json.h - private to cli/: one-line JSON output shared by convert, query, show and status. */
#ifndef QUIRE_CLI_JSON_H
#define QUIRE_CLI_JSON_H

#include <json-glib/json-glib.h>

#include "../table/table.h"

/* The builder's root as one line ending in a newline (g_free). */
char *json_line(JsonBuilder *b);
/* Adds member `name` with a string value, or null when value is NULL. */
void json_add_string(JsonBuilder *b, const char *name, const char *value);
void json_add_int(JsonBuilder *b, const char *name, int64_t value);
/* Adds "bbox": [x0, y0, x1, y1], rounded to 0.01 pt. */
void json_add_bbox(JsonBuilder *b, struct rect r);
/* Adds "rows" and "spans" of the table, taken from its JSON rendering so every command prints
 * the same shape. Returns 0, QUIRE_ENOMEM or QUIRE_EPARSE. */
int json_add_table_grid(JsonBuilder *b, const struct table *t);

#endif
