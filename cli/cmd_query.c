/*
 * cli/cmd_query.c - the read side of the command line: `quire query`, `show`, `export`,
 * `status` and `retry`.
 *
 * Everything here reads through store/ (query, show, export and status open the database
 * read-only, so they work on a read-only file and never create one by mistake; retry writes).
 * Markdown, LaTeX and HTML come from the renderings stored with each table (made when the
 * document was processed, with the configuration of that time); CSV and JSON are rendered from
 * the table rebuilt from its cells.
 *
 * JSON is built with json-glib and written on one line by cli/json.c with ", " and ": "
 * separators, because `quire status --format json` promises output that starts exactly with
 * {"documents": {"done": N, "failed": N, "queued": N, "running": N}.
 */
#include "cli.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store.h"
#include "json.h"

/* The table as one JSON line (g_free): its metadata, and rows/spans from the JSON renderer;
 * with n_parts > 1 (a table merged from the parts it runs over), "parts" lists them.
 * NULL with a message on stderr when the table cannot be rendered. */
static char *table_json_line(const char *command, const struct store_table_info *t,
                             struct store_table_info *const *parts, size_t n_parts)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_add_int(b, "id", t->id);
    json_add_int(b, "document_id", t->document_id);
    json_add_string(b, "path", t->path);
    json_add_int(b, "page", t->page);
    json_add_bbox(b, t->bbox);
    json_add_int(b, "n_rows", t->n_rows);
    json_add_int(b, "n_cols", t->n_cols);
    json_add_int(b, "header_rows", t->header_rows);
    int err = json_add_table_grid(b, t->table);
    json_add_string(b, "engine", t->engine);
    json_add_string(b, "model_id", t->model_id);
    json_builder_set_member_name(b, "confidence");
    json_builder_add_double_value(b, t->confidence);
    json_add_string(b, "created_at", t->created_at);
    json_add_string(b, "markdown", t->markdown);
    json_add_string(b, "latex", t->latex);
    json_add_string(b, "html", t->html);
    json_add_string(b, "otsl", t->otsl);
    json_builder_set_member_name(b, "continues_id");
    if (t->continues_id)
        json_builder_add_int_value(b, t->continues_id);
    else
        json_builder_add_null_value(b);
    json_add_int(b, "repeated_header_rows", t->repeated_header_rows);
    if (n_parts > 1) {
        json_builder_set_member_name(b, "parts");
        json_builder_begin_array(b);
        for (size_t i = 0; i < n_parts; i++) {
            json_builder_begin_object(b);
            json_add_int(b, "id", parts[i]->id);
            json_add_int(b, "page", parts[i]->page);
            json_add_bbox(b, parts[i]->bbox);
            json_add_int(b, "n_rows", parts[i]->n_rows);
            json_add_int(b, "repeated_header_rows", i ? parts[i]->repeated_header_rows : 0);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    char *line = err ? NULL : json_line(b);
    g_object_unref(b);
    if (err)
        fprintf(stderr, "quire %s: table %" PRId64 ": cannot render it: %s\n", command, t->id,
                err_str(err));
    return line;
}

/* --- shared helpers --------------------------------------------------------------------------- */

/* Opens cfg->db_path; prints why not (naming the file) and returns false on failure. */
static bool open_database(const char *command, const struct config *cfg, bool writable,
                          struct store **out)
{
    char *msg = NULL;
    int err = writable ? store_open(cfg->db_path, cfg->busy_timeout_ms, out, &msg)
                       : store_open_readonly(cfg->db_path, cfg->busy_timeout_ms, out, &msg);
    if (!err)
        return true;
    fprintf(stderr, "quire %s: cannot open database %s\n", command,
            msg ? msg : err_str(err));
    free(msg);
    return false;
}

static bool parse_format(const char *command, const char *name, enum table_format *out)
{
    if (!name) {
        *out = TABLE_FORMAT_MARKDOWN;
        return true;
    }
    if (table_format_parse(name, out))
        return true;
    fprintf(stderr, "quire %s: unknown format '%s' (md, latex, html, csv or json)\n", command,
            name);
    return false;
}

/* The text of a table in format f (g_free), with a trailing newline; NULL after a message. */
static char *table_text(const char *command, const struct store_table_info *t,
                        enum table_format f)
{
    const char *stored = NULL;
    switch (f) {
    case TABLE_FORMAT_MARKDOWN: stored = t->markdown; break;
    case TABLE_FORMAT_LATEX: stored = t->latex; break;
    case TABLE_FORMAT_HTML: stored = t->html; break;
    case TABLE_FORMAT_JSON: return table_json_line(command, t, NULL, 0);
    case TABLE_FORMAT_CSV: break;
    }
    char *made = NULL;
    if (!stored) {
        made = table_render(t->table, f, NULL);
        if (!made) {
            fprintf(stderr, "quire %s: out of memory rendering table %" PRId64 "\n", command,
                    t->id);
            return NULL;
        }
        stored = made;
    }
    size_t n = strlen(stored);
    char *text = g_strdup_printf("%s%s", stored, n && stored[n - 1] == '\n' ? "" : "\n");
    free(made);
    return text;
}

/* The line naming a table before its rendering in `quire query` output. */
static void print_table_heading(const struct store_table_info *t, enum table_format f)
{
    switch (f) {
    case TABLE_FORMAT_MARKDOWN:
        printf("### Table %" PRId64 ": %s, page %d\n\n", t->id, t->path, t->page);
        break;
    case TABLE_FORMAT_LATEX:
        printf("%% Table %" PRId64 ": %s, page %d\n", t->id, t->path, t->page);
        break;
    case TABLE_FORMAT_HTML:
        printf("<!-- Table %" PRId64 ": %s, page %d -->\n", t->id, t->path, t->page);
        break;
    case TABLE_FORMAT_CSV:
        printf("# Table %" PRId64 ": %s, page %d\n", t->id, t->path, t->page);
        break;
    case TABLE_FORMAT_JSON:
        break;      /* the object carries id, path and page */
    }
}

/* --- --merged: a table with the parts it runs over -------------------------------------------- */

/* The parts of one table, in order; with more than one, `merged` is them joined (table_merge,
 * repeated header rows dropped) and `info` describes it (its strings are owned here). */
struct chain {
    struct store_table_info **parts;
    size_t n;
    struct table *merged;
    struct store_table_info info;
};

static void chain_release(struct chain *c)
{
    for (size_t i = 0; i < c->n; i++)
        store_table_info_free(c->parts[i]);
    free(c->parts);
    table_free(c->merged);
    free(c->info.otsl);
    free(c->info.markdown);
    free(c->info.latex);
    free(c->info.html);
    memset(c, 0, sizeof *c);
}

/* The merged table's metadata: the first part's, with the merged grid and its renderings. */
static int describe_merged(struct chain *c, const struct render_options *ro)
{
    struct store_table_info *first = c->parts[0];
    c->info = *first;
    c->info.table = c->merged;
    c->info.n_rows = c->merged->n_rows;
    c->info.header_rows = c->merged->header_rows;
    c->info.continues_id = 0;
    c->info.repeated_header_rows = 0;
    for (size_t i = 1; i < c->n; i++)
        c->info.confidence = fmin(c->info.confidence, c->parts[i]->confidence);
    c->info.otsl = table_to_otsl(c->merged);
    c->info.markdown = table_render(c->merged, TABLE_FORMAT_MARKDOWN, ro);
    c->info.latex = table_render(c->merged, TABLE_FORMAT_LATEX, ro);
    c->info.html = table_render(c->merged, TABLE_FORMAT_HTML, ro);
    return c->info.otsl && c->info.markdown && c->info.latex && c->info.html ? 0 : QUIRE_ENOMEM;
}

/* Loads the chain of table `id` (store_table_chain) and merges it. Returns 0, or prints why and
 * returns the store's error code. */
static int load_chain(const char *command, struct store *s, int64_t id,
                      const struct render_options *ro, struct chain *c)
{
    memset(c, 0, sizeof *c);
    int64_t *ids = NULL;
    size_t n = 0;
    int err = store_table_chain(s, id, &ids, &n);
    if (!err && !(c->parts = q_calloc(n, sizeof *c->parts)))
        err = QUIRE_ENOMEM;
    for (size_t i = 0; !err && i < n; i++) {
        err = store_table_get(s, ids[i], &c->parts[i]);
        if (!err)
            c->n = i + 1;
    }
    free(ids);
    if (!err && c->n > 1) {
        const struct table **tables = q_calloc(c->n, sizeof *tables);
        int *skip = q_calloc(c->n, sizeof *skip);
        err = tables && skip ? 0 : QUIRE_ENOMEM;
        for (size_t i = 0; !err && i < c->n; i++) {
            tables[i] = c->parts[i]->table;
            skip[i] = c->parts[i]->repeated_header_rows;
        }
        if (!err)
            err = table_merge(tables, skip, c->n, &c->merged);
        if (!err)
            err = describe_merged(c, ro);
        free(tables);
        free(skip);
        if (err)
            fprintf(stderr, "quire %s: table %" PRId64 ": cannot merge its parts: %s\n",
                    command, id, err_str(err));
    } else if (err) {
        fprintf(stderr, "quire %s: %s\n", command,
                err == QUIRE_ENOMEM ? err_str(err) : store_errmsg(s));
    }
    if (err)
        chain_release(c);
    return err;
}

/* The table of a chain (the merged one when it has several parts) as table_text gives it. */
static char *chain_text(const char *command, const struct chain *c, enum table_format f,
                        const struct render_options *ro)
{
    if (c->n == 1)
        return table_text(command, c->parts[0], f);
    if (f == TABLE_FORMAT_JSON)
        return table_json_line(command, &c->info, c->parts, c->n);
    const char *stored = f == TABLE_FORMAT_MARKDOWN ? c->info.markdown
                         : f == TABLE_FORMAT_LATEX  ? c->info.latex
                         : f == TABLE_FORMAT_HTML   ? c->info.html
                                                    : NULL;
    char *made = stored ? NULL : table_render(c->merged, f, ro);
    if (!stored && !made) {
        fprintf(stderr, "quire %s: out of memory rendering a merged table\n", command);
        return NULL;
    }
    const char *body = stored ? stored : made;
    size_t n = strlen(body);
    char *text = g_strdup_printf("%s%s", body, n && body[n - 1] == '\n' ? "" : "\n");
    free(made);
    return text;
}

static void render_options_from(const struct config *cfg, struct render_options *ro)
{
    render_options_init(ro);
    ro->markdown_spans = cfg->markdown_repeat_spans ? SPAN_REPEAT : SPAN_EMPTY;
    ro->latex_booktabs = cfg->latex_booktabs;
}

/* Options shared by query and export: the filters and the format. */
struct query_options {
    char *doc, *since, *format, *out_dir;
    int page, limit;
};

/* The filter options `query` and `export` share (GOptionEntry initializers for options o). */
#define QUERY_FILTER_ENTRIES(o)                                                                 \
    {"doc", 0, 0, G_OPTION_ARG_STRING, &(o).doc,                                                \
     "Only tables of documents whose path contains TEXT, or matches a pattern with * ? [",      \
     "PATTERN"},                                                                                \
        {"page", 0, 0, G_OPTION_ARG_INT, &(o).page, "Only tables on this page (1-based)", "N"}, \
        {"since", 0, 0, G_OPTION_ARG_STRING, &(o).since,                                        \
         "Only tables stored on or after this UTC date (YYYY-MM-DD[THH:MM[:SS]])", "DATE"},     \
        {"limit", 'n', 0, G_OPTION_ARG_INT, &(o).limit, "At most N tables (default: all)", "N"}

static void query_options_release(struct query_options *o)
{
    g_free(o->doc);
    g_free(o->since);
    g_free(o->format);
    g_free(o->out_dir);
}

/* Checks the parsed filters and fills q (which borrows from o and `text`). */
static bool make_query(const char *command, const struct query_options *o, const char *text,
                       struct store_query *q)
{
    store_query_init(q);
    if (o->page < 0 || o->limit < 0) {
        fprintf(stderr, "quire %s: --page and --limit must not be negative\n", command);
        return false;
    }
    q->text = text && *text ? text : NULL;
    q->doc_pattern = o->doc;
    q->page = o->page;
    q->since = o->since;
    q->limit = o->limit;
    return true;
}

/* The positional arguments after the command, joined by spaces (g_free), or NULL. */
static char *join_words(int argc, char **argv)
{
    if (argc < 2)
        return NULL;
    return g_strjoinv(" ", argv + 1);
}

/* Starts the query; prints the reason and returns the exit code on failure (0 on success). */
static int begin_query(const char *command, struct store *s, const struct store_query *q,
                       struct store_cursor **c)
{
    int err = store_query_begin(s, q, c);
    if (!err)
        return CLI_EXIT_OK;
    fprintf(stderr, "quire %s: %s\n", command, store_errmsg(s));
    return err == QUIRE_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
}

/* The steps `query` and `export` share: the output format, the query from the filters and TEXT,
 * the database (read-only) and the cursor. q must outlive the cursor. Returns 0 or the exit
 * status, with the reason printed. */
static int start_query(const char *command, const struct query_options *o, const char *text,
                       const struct config *cfg, enum table_format *f, struct store_query *q,
                       struct store **s, struct store_cursor **c)
{
    if (!parse_format(command, o->format, f) || !make_query(command, o, text, q) ||
        !open_database(command, cfg, false, s))
        return CLI_EXIT_USAGE;
    return begin_query(command, *s, q, c);
}

/* --- quire query ------------------------------------------------------------------------------ */

int cmd_query(int argc, char **argv)
{
    struct query_options o = {0};
    GOptionEntry entries[] = {
        QUERY_FILTER_ENTRIES(o),
        {"format", 'f', 0, G_OPTION_ARG_STRING, &o.format,
         "Output format: md (default), latex, html, csv or json (one object per line)", "FMT"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    struct config cfg;
    int rc = cli_parse("query", "[TEXT...]",
                       "Search stored tables: every word of TEXT must occur in the table's cells.",
                       entries, &argc, &argv, &cfg);
    if (rc) {
        query_options_release(&o);
        return rc;
    }
    char *text = join_words(argc, argv);
    struct store *s = NULL;
    struct store_cursor *c = NULL;
    struct store_query q;
    enum table_format f;
    if ((rc = start_query("query", &o, text, &cfg, &f, &q, &s, &c)))
        goto out;
    struct store_table_info *t;
    int err, n = 0;
    while ((err = store_query_next(c, &t)) == 0 && t) {
        char *body = table_text("query", t, f);
        if (!body) {
            store_table_info_free(t);
            err = QUIRE_ENOMEM;
            break;
        }
        if (n++ && f != TABLE_FORMAT_JSON)
            putchar('\n');
        print_table_heading(t, f);
        fputs(body, stdout);
        g_free(body);
        store_table_info_free(t);
    }
    if (err && err != QUIRE_ENOMEM)
        fprintf(stderr, "quire query: %s\n", store_errmsg(s));
    if (!err && n == 0)
        fprintf(stderr, "quire query: no tables found\n");
    rc = err ? CLI_EXIT_FAILED : CLI_EXIT_OK;
out:
    store_query_end(c);
    store_close(s);
    g_free(text);
    query_options_release(&o);
    config_release(&cfg);
    return rc;
}

/* --- quire show ------------------------------------------------------------------------------- */

int cmd_show(int argc, char **argv)
{
    char *format = NULL;
    gboolean merged = FALSE;
    GOptionEntry entries[] = {
        {"format", 'f', 0, G_OPTION_ARG_STRING, &format,
         "Output format: md (default), latex, html, csv or json", "FMT"},
        {"merged", 'm', 0, G_OPTION_ARG_NONE, &merged,
         "A table that runs over several pages as one table: all its parts, the header once",
         NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    struct config cfg;
    int rc = cli_parse("show", "TABLE_ID",
                       "Print one stored table (ids come from quire query); with --merged, the "
                       "whole table it is a part of.\nExit status: 0 shown, 1 no such table, 2 "
                       "usage error.",
                       entries, &argc, &argv, &cfg);
    if (rc) {
        g_free(format);
        return rc;
    }
    struct store *s = NULL;
    struct store_table_info *t = NULL;
    enum table_format f;
    rc = CLI_EXIT_USAGE;
    char *end = NULL;
    errno = 0;
    long long id = argc == 2 ? strtoll(argv[1], &end, 10) : 0;
    if (argc != 2 || errno || !end || *end || end == argv[1] || id <= 0) {
        fprintf(stderr, "quire show: expected one table id, a positive number "
                        "(see quire show --help)\n");
        goto out;
    }
    if (!parse_format("show", format, &f) || !open_database("show", &cfg, false, &s))
        goto out;
    if (merged) {
        struct render_options ro;
        render_options_from(&cfg, &ro);
        struct chain c;
        rc = CLI_EXIT_FAILED;
        if (load_chain("show", s, id, &ro, &c) == 0) {
            char *body = chain_text("show", &c, f, &ro);
            if (body) {
                fputs(body, stdout);
                rc = CLI_EXIT_OK;
            }
            g_free(body);
            chain_release(&c);
        }
        goto out;
    }
    int err = store_table_get(s, id, &t);
    if (err) {
        fprintf(stderr, "quire show: %s\n", store_errmsg(s));
        rc = CLI_EXIT_FAILED;
        goto out;
    }
    char *body = table_text("show", t, f);
    rc = body ? CLI_EXIT_OK : CLI_EXIT_FAILED;
    if (body)
        fputs(body, stdout);
    g_free(body);
out:
    store_table_info_free(t);
    store_close(s);
    g_free(format);
    config_release(&cfg);
    return rc;
}

/* --- quire export ----------------------------------------------------------------------------- */

static const char *format_extension(enum table_format f)
{
    switch (f) {
    case TABLE_FORMAT_MARKDOWN: return "md";
    case TABLE_FORMAT_LATEX: return "tex";
    case TABLE_FORMAT_HTML: return "html";
    case TABLE_FORMAT_CSV: return "csv";
    case TABLE_FORMAT_JSON: return "json";
    }
    return "txt";
}

/* DIR/<document stem>-p<page>-t<id>.<ext> (g_free), or for a table merged over pages
 * DIR/<stem>-p<first>-<last>-t<id of its first part>.<ext> (last_page > t->page); the stem
 * keeps [A-Za-z0-9._-]. */
static char *export_path(const char *dir, const struct store_table_info *t, int last_page,
                         enum table_format f)
{
    char *base = g_path_get_basename(t->path && *t->path ? t->path : "table");
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    for (char *p = base; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-')
            *p = '_';
    }
    char pages[32];
    if (last_page > t->page)
        snprintf(pages, sizeof pages, "%d-%d", t->page, last_page);
    else
        snprintf(pages, sizeof pages, "%d", t->page);
    char *name = g_strdup_printf("%s-p%s-t%" PRId64 ".%s", base, pages, t->id,
                                 format_extension(f));
    char *path = g_build_filename(dir, name, NULL);
    g_free(base);
    g_free(name);
    return path;
}

/* Writes body (taken over and g_free'd; NULL = the table's own text) to the table's file. */
static bool export_one(const char *dir, const struct store_table_info *t, int last_page,
                       char *body, enum table_format f)
{
    if (!body && !(body = table_text("export", t, f)))
        return false;
    char *path = export_path(dir, t, last_page, f);
    GError *gerr = NULL;
    bool ok = g_file_set_contents(path, body, -1, &gerr);
    if (!ok) {
        fprintf(stderr, "quire export: %s\n", gerr->message);   /* names the file */
        g_error_free(gerr);
    }
    g_free(path);
    g_free(body);
    return ok;
}

/* --merged: the chain of table `id` as one file, unless its first part was written already
 * (`done` holds those ids). Counts a written file in *written. */
static bool export_chain(const char *dir, struct store *s, int64_t id, enum table_format f,
                         const struct render_options *ro, GHashTable *done, int *written)
{
    struct chain c;
    if (load_chain("export", s, id, ro, &c))
        return false;
    bool ok = true;
    int64_t head = c.parts[0]->id;
    if (!g_hash_table_contains(done, &head)) {
        int64_t *key = g_new(int64_t, 1);
        *key = head;
        g_hash_table_add(done, key);
        char *body = chain_text("export", &c, f, ro);
        const struct store_table_info *info = c.n > 1 ? &c.info : c.parts[0];
        ok = body && export_one(dir, info, c.parts[c.n - 1]->page, body, f);
        *written += ok;
    }
    chain_release(&c);
    return ok;
}

int cmd_export(int argc, char **argv)
{
    struct query_options o = {0};
    gboolean merged = FALSE;
    GOptionEntry entries[] = {
        {"out", 'o', 0, G_OPTION_ARG_FILENAME, &o.out_dir,
         "Directory to write into (created if missing); required", "DIR"},
        {"merged", 'm', 0, G_OPTION_ARG_NONE, &merged,
         "A table that runs over several pages as one file "
         "(<document>-p<first>-<last>-t<id of the first part>.<ext>) when any part matches",
         NULL},
        {"format", 'f', 0, G_OPTION_ARG_STRING, &o.format,
         "File format: md (default), latex, html, csv or json", "FMT"},
        QUERY_FILTER_ENTRIES(o),
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    struct config cfg;
    int rc = cli_parse("export", "--out DIR [TEXT...]",
                       "Write stored tables to DIR, one file per table "
                       "(<document>-p<page>-t<id>.<ext>): all of them, or those matching TEXT "
                       "and the filters.",
                       entries, &argc, &argv, &cfg);
    if (rc) {
        query_options_release(&o);
        return rc;
    }
    char *text = join_words(argc, argv);
    struct store *s = NULL;
    struct store_cursor *c = NULL;
    struct store_query q;
    enum table_format f;
    rc = CLI_EXIT_USAGE;
    if (!o.out_dir || !*o.out_dir) {
        fprintf(stderr, "quire export: --out DIR is required (see quire export --help)\n");
        goto out;
    }
    if ((rc = start_query("export", &o, text, &cfg, &f, &q, &s, &c)))
        goto out;
    if (g_mkdir_with_parents(o.out_dir, 0777) != 0) {
        fprintf(stderr, "quire export: cannot create %s: %s\n", o.out_dir, g_strerror(errno));
        rc = CLI_EXIT_FAILED;
        goto out;
    }
    struct render_options ro;
    render_options_from(&cfg, &ro);
    GHashTable *done = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    struct store_table_info *t;
    int err, written = 0, failed = 0;
    while ((err = store_query_next(c, &t)) == 0 && t) {
        bool ok;
        if (merged) {
            ok = export_chain(o.out_dir, s, t->id, f, &ro, done, &written);
        } else if ((ok = export_one(o.out_dir, t, t->page, NULL, f))) {
            written++;
        }
        failed += !ok;
        store_table_info_free(t);
    }
    g_hash_table_destroy(done);
    if (err)
        fprintf(stderr, "quire export: %s\n", store_errmsg(s));
    printf("wrote %d table%s to %s\n", written, written == 1 ? "" : "s", o.out_dir);
    rc = err || failed ? CLI_EXIT_FAILED : CLI_EXIT_OK;
out:
    store_query_end(c);
    store_close(s);
    g_free(text);
    query_options_release(&o);
    config_release(&cfg);
    return rc;
}

/* --- quire status ----------------------------------------------------------------------------- */

static void print_status_json(const struct store_status *st)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "documents");
    json_builder_begin_object(b);
    static const struct {
        const char *name;
        enum doc_status status;
    } order[] = {{"done", DOC_DONE}, {"failed", DOC_FAILED}, {"queued", DOC_QUEUED},
                 {"running", DOC_RUNNING}};
    for (size_t i = 0; i < 4; i++) {
        json_builder_set_member_name(b, order[i].name);
        json_builder_add_int_value(b, st->documents[order[i].status]);
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "tables");
    json_builder_add_int_value(b, st->tables);
    json_builder_set_member_name(b, "pages");
    json_builder_add_int_value(b, st->pages);
    json_builder_set_member_name(b, "unread_pages");
    json_builder_add_int_value(b, st->unread_pages);
    json_builder_set_member_name(b, "failures");
    json_builder_begin_array(b);
    for (size_t i = 0; i < st->n_failures; i++) {
        const struct store_failure *f = &st->failures[i];
        json_builder_begin_object(b);
        json_add_string(b, "path", f->path);
        json_add_string(b, "error", f->error);
        json_builder_set_member_name(b, "document_id");
        json_builder_add_int_value(b, f->document_id);
        json_builder_set_member_name(b, "attempts");
        json_builder_add_int_value(b, f->attempts);
        json_add_string(b, "finished_at", f->finished_at);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    char *line = json_line(b);
    fputs(line, stdout);
    g_free(line);
    g_object_unref(b);
}

static void print_status_text(const char *db_path, const struct store_status *st)
{
    int64_t total = 0;
    for (int i = 0; i < 4; i++)
        total += st->documents[i];
    printf("database:  %s\n", db_path);
    printf("documents: %" PRId64 " (done %" PRId64 ", failed %" PRId64 ", queued %" PRId64
           ", running %" PRId64 ")\n",
           total, st->documents[DOC_DONE], st->documents[DOC_FAILED],
           st->documents[DOC_QUEUED], st->documents[DOC_RUNNING]);
    printf("tables:    %" PRId64 " (on %" PRId64 " stored pages)\n", st->tables, st->pages);
    if (st->unread_pages)
        printf("unread:    %" PRId64 " page%s without a text layer hold%s table regions the "
               "text engine cannot read\n           (quire reprocess --all with the line reader, "
               "or --engine auto with a model, reads them; pages.unread_regions)\n",
               st->unread_pages, st->unread_pages == 1 ? "" : "s", st->unread_pages == 1 ? "s" : "");
    if (!st->n_failures)
        return;
    printf("failed:\n");
    for (size_t i = 0; i < st->n_failures; i++) {
        const struct store_failure *f = &st->failures[i];
        /* messages usually start with the path already: do not say it twice */
        if (*f->error && g_str_has_prefix(f->error, f->path))
            printf("  %s (%d attempt%s)\n", f->error, f->attempts, f->attempts == 1 ? "" : "s");
        else
            printf("  %s: %s (%d attempt%s)\n", f->path, *f->error ? f->error : "(no message)",
                   f->attempts, f->attempts == 1 ? "" : "s");
    }
    printf("(quire retry queues the failed documents again)\n");
}

int cmd_status(int argc, char **argv)
{
    char *format = NULL;
    GOptionEntry entries[] = {
        {"format", 'f', 0, G_OPTION_ARG_STRING, &format, "Output format: text (default) or json",
         "FMT"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    struct config cfg;
    int rc = cli_parse("status", "", "Document counts by state, stored tables and failures.",
                       entries, &argc, &argv, &cfg);
    if (rc) {
        g_free(format);
        return rc;
    }
    struct store *s = NULL;
    bool json = format && g_ascii_strcasecmp(format, "json") == 0;
    rc = CLI_EXIT_USAGE;
    if (format && !json && g_ascii_strcasecmp(format, "text") != 0) {
        fprintf(stderr, "quire status: unknown format '%s' (text or json)\n", format);
        goto out;
    }
    if (argc > 1) {
        fprintf(stderr, "quire status: unexpected argument '%s'\n", argv[1]);
        goto out;
    }
    if (!open_database("status", &cfg, false, &s))
        goto out;
    struct store_status st;
    if (store_status_get(s, &st)) {
        fprintf(stderr, "quire status: %s: %s\n", cfg.db_path, store_errmsg(s));
        rc = CLI_EXIT_FAILED;
        goto out;
    }
    if (json)
        print_status_json(&st);
    else
        print_status_text(cfg.db_path, &st);
    store_status_release(&st);
    rc = CLI_EXIT_OK;
out:
    store_close(s);
    g_free(format);
    config_release(&cfg);
    return rc;
}

/* --- quire retry ------------------------------------------------------------------------------ */

int cmd_retry(int argc, char **argv)
{
    struct config cfg;
    int rc = cli_parse("retry", "",
                       "Queue failed documents again; the next `quire batch --resume` or "
                       "`quire watch` processes them.",
                       NULL, &argc, &argv, &cfg);
    if (rc)
        return rc;
    struct store *s = NULL;
    rc = CLI_EXIT_USAGE;
    if (argc > 1) {
        fprintf(stderr, "quire retry: unexpected argument '%s'\n", argv[1]);
        goto out;
    }
    if (!open_database("retry", &cfg, true, &s))
        goto out;
    int n = 0;
    if (store_retry_failed(s, &n)) {
        fprintf(stderr, "quire retry: %s: %s\n", cfg.db_path, store_errmsg(s));
        rc = CLI_EXIT_FAILED;
        goto out;
    }
    printf("queued %d failed document%s again\n", n, n == 1 ? "" : "s");
    rc = CLI_EXIT_OK;
out:
    store_close(s);
    config_release(&cfg);
    return rc;
}
