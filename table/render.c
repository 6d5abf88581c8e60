/*
 * table/render.c - table_render() and the format names and options it shares with the CLI.
 *
 * Each format lives in its own file (render_*.c); this one only dispatches.
 */
#include "table_internal.h"

#include <assert.h>
#include <strings.h>

void render_options_init(struct render_options *o)
{
    o->markdown_spans = SPAN_EMPTY;
    o->latex_booktabs = false;
}

static const struct {
    const char *name;
    enum table_format format;
} format_names[] = {
    {"markdown", TABLE_FORMAT_MARKDOWN}, {"md", TABLE_FORMAT_MARKDOWN},
    {"latex", TABLE_FORMAT_LATEX},       {"tex", TABLE_FORMAT_LATEX},
    {"html", TABLE_FORMAT_HTML},         {"csv", TABLE_FORMAT_CSV},
    {"json", TABLE_FORMAT_JSON},
};

/* Names are matched without regard to case ("MD", "Html"). */
bool table_format_parse(const char *name, enum table_format *out)
{
    for (size_t i = 0; name && i < sizeof format_names / sizeof format_names[0]; i++) {
        if (strcasecmp(name, format_names[i].name) == 0) {
            *out = format_names[i].format;
            return true;
        }
    }
    return false;
}

/* The first (canonical) name of each format in format_names; "unknown" for other values. */
const char *table_format_name(enum table_format f)
{
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
        if (format_names[i].format == f)
            return format_names[i].name;
    return "unknown";
}

char *table_render(const struct table *t, enum table_format f, const struct render_options *opts)
{
    assert(t);
    struct render_options defaults;
    if (!opts) {
        render_options_init(&defaults);
        opts = &defaults;
    }
    switch (f) {
    case TABLE_FORMAT_MARKDOWN: return table__render_markdown(t, opts);
    case TABLE_FORMAT_LATEX: return table__render_latex(t, opts);
    case TABLE_FORMAT_HTML: return table__render_html(t);
    case TABLE_FORMAT_CSV: return table__render_csv(t);
    case TABLE_FORMAT_JSON: return table__render_json(t);
    }
    return NULL; /* not a table_format value */
}
