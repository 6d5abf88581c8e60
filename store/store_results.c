/*
 * store/store_results.c - writing a document's results: pages, tables (with their renderings)
 * and cells, all in one transaction.
 *
 * Why one transaction that first deletes: re-processing a document (retry, a newer engine) must
 * replace its results, and a crash or error half-way must leave the previous results untouched.
 * Deleting the document's tables cascades to their cells, whose triggers keep the full-text index
 * in step.
 */
#include "store_internal.h"

#include <stdlib.h>

static const char *kind_name(enum cell_kind k)
{
    switch (k) {
    case CELL_DATA: return "data";
    case CELL_COLUMN_HEADER: return "column_header";
    case CELL_ROW_HEADER: return "row_header";
    case CELL_SECTION: return "section";
    }
    return "data";
}

static int run_on_doc(struct store *s, enum store_stmt id, int64_t doc_id)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, id, &err);
    if (!st)
        return err;
    sqlite3_bind_int64(st, 1, doc_id);
    return store__exec(s, st);
}

static int check_document(struct store *s, int64_t doc_id)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, STMT_DOC_EXISTS, &err);
    if (!st)
        return err;
    sqlite3_bind_int64(st, 1, doc_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        err = store__error(s, QUIRE_ENOENT, "no document %lld", (long long)doc_id);
    else if (rc != SQLITE_ROW)
        err = store__sqlite_error(s, rc);
    store__done(st);
    return err;
}

static int put_page(struct store *s, int64_t doc_id, const struct page_result *p)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, STMT_PAGE_INSERT, &err);
    if (!st)
        return err;
    sqlite3_bind_int64(st, 1, doc_id);
    sqlite3_bind_int(st, 2, p->page);
    sqlite3_bind_double(st, 3, p->width);
    sqlite3_bind_double(st, 4, p->height);
    sqlite3_bind_int(st, 5, p->has_text_layer ? 1 : 0);
    sqlite3_bind_int(st, 6, p->unread_regions);
    return store__exec(s, st);
}

static int put_cell(struct store *s, int64_t table_id, const struct table *t,
                    const struct table_cell *c)
{
    int err = 0;
    sqlite3_stmt *st = store__stmt(s, STMT_CELL_INSERT, &err);
    if (!st)
        return err;
    bool is_header = c->kind == CELL_COLUMN_HEADER || c->kind == CELL_ROW_HEADER ||
                     c->row < t->header_rows;
    sqlite3_bind_int64(st, 1, table_id);
    sqlite3_bind_int(st, 2, c->row);
    sqlite3_bind_int(st, 3, c->col);
    sqlite3_bind_int(st, 4, c->rowspan);
    sqlite3_bind_int(st, 5, c->colspan);
    store__bind_text(st, 6, kind_name(c->kind));
    sqlite3_bind_int(st, 7, is_header ? 1 : 0);
    store__bind_text(st, 8, c->text ? c->text : "");
    if (c->has_bbox) {
        sqlite3_bind_double(st, 9, c->bbox.x0);
        sqlite3_bind_double(st, 10, c->bbox.y0);
        sqlite3_bind_double(st, 11, c->bbox.x1);
        sqlite3_bind_double(st, 12, c->bbox.y1);
    }
    return store__exec(s, st);
}

/* The four renderings stored with a table. */
struct renderings {
    char *otsl, *markdown, *latex, *html;
};

static void renderings_release(struct renderings *r)
{
    free(r->otsl);
    free(r->markdown);
    free(r->latex);
    free(r->html);
}

static int render_all(struct store *s, const struct table *t, const struct render_options *opts,
                      struct renderings *r)
{
    r->otsl = table_to_otsl(t);
    r->markdown = table_render(t, TABLE_FORMAT_MARKDOWN, opts);
    r->latex = table_render(t, TABLE_FORMAT_LATEX, opts);
    r->html = table_render(t, TABLE_FORMAT_HTML, opts);
    if (!r->otsl || !r->markdown || !r->latex || !r->html)
        return store__error(s, QUIRE_ENOMEM, "out of memory rendering a table");
    return 0;
}

static int put_table(struct store *s, int64_t doc_id, struct doc_result *res,
                     const struct render_options *opts, size_t index)
{
    struct table_result *tr = &res->tables[index];
    const struct table *t = tr->table;
    if (!t)
        return store__error(s, QUIRE_EINVAL, "table %zu of the result has no table", index);
    if (tr->continues > index || tr->repeated_header_rows < 0 ||
        tr->repeated_header_rows > t->n_rows)
        return store__error(s, QUIRE_EINVAL, "table %zu: bad continuation (part %zu, %d rows)",
                            index, tr->continues, tr->repeated_header_rows);
    char *why = NULL;
    if (table_validate(t, &why)) {
        int err = store__error(s, QUIRE_EINVAL, "table %zu is invalid: %s", index,
                               why ? why : "broken invariant");
        free(why);
        return err;
    }
    struct renderings r = {0};
    int err = render_all(s, t, opts, &r);
    if (err)
        goto out;
    sqlite3_stmt *st = store__stmt(s, STMT_TABLE_INSERT, &err);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, doc_id);
    sqlite3_bind_int(st, 2, tr->page);
    sqlite3_bind_double(st, 3, tr->bbox.x0);
    sqlite3_bind_double(st, 4, tr->bbox.y0);
    sqlite3_bind_double(st, 5, tr->bbox.x1);
    sqlite3_bind_double(st, 6, tr->bbox.y1);
    sqlite3_bind_int(st, 7, t->n_rows);
    sqlite3_bind_int(st, 8, t->n_cols);
    sqlite3_bind_int(st, 9, t->header_rows);
    store__bind_text(st, 10, tr->engine ? tr->engine : "text");
    store__bind_text(st, 11, tr->model_id);
    sqlite3_bind_double(st, 12, tr->confidence);
    store__bind_text(st, 13, r.otsl);
    store__bind_text(st, 14, r.markdown);
    store__bind_text(st, 15, r.latex);
    store__bind_text(st, 16, r.html);
    if (tr->continues)      /* an earlier table of this result: already stored */
        sqlite3_bind_int64(st, 17, res->tables[tr->continues - 1].id);
    sqlite3_bind_int(st, 18, tr->continues ? tr->repeated_header_rows : 0);
    if ((err = store__exec(s, st)))
        goto out;
    int64_t table_id = sqlite3_last_insert_rowid(s->db);
    for (size_t i = 0; i < t->n_cells; i++) {
        if ((err = put_cell(s, table_id, t, &t->cells[i])))
            goto out;
    }
    tr->id = table_id;

out:
    renderings_release(&r);
    return err;
}

int store_document_put_results(struct store *s, int64_t doc_id, struct doc_result *r,
                               const struct render_options *opts)
{
    if (!r || (r->n_pages && !r->pages) || (r->n_tables && !r->tables))
        return store__error(s, QUIRE_EINVAL, "store_document_put_results: malformed result");
    struct render_options defaults;
    if (!opts) {
        render_options_init(&defaults);
        opts = &defaults;
    }
    int err = store__begin(s);
    if (err)
        return err;
    if ((err = check_document(s, doc_id)) || (err = run_on_doc(s, STMT_PAGES_DELETE, doc_id)) ||
        (err = run_on_doc(s, STMT_TABLES_DELETE, doc_id)))
        goto out_rollback;
    for (size_t i = 0; i < r->n_pages; i++) {
        if ((err = put_page(s, doc_id, &r->pages[i])))
            goto out_rollback;
    }
    for (size_t i = 0; i < r->n_tables; i++) {
        if ((err = put_table(s, doc_id, r, opts, i)))
            goto out_rollback;
    }
    sqlite3_stmt *st = store__stmt(s, STMT_DOC_DONE, &err);
    if (!st)
        goto out_rollback;
    sqlite3_bind_int64(st, 1, doc_id);
    sqlite3_bind_int(st, 2, r->n_pages_total);
    sqlite3_bind_double(st, 3, r->seconds);
    store__bind_text(st, 4, r->engine);
    store__bind_text(st, 5, r->model_id);
    if ((err = store__exec(s, st)) || (err = store__attempt_close(s, doc_id, "done", NULL)) ||
        (err = store__commit(s)))
        goto out_rollback;
    return 0;

out_rollback:
    store__rollback(s);
    for (size_t i = 0; i < r->n_tables; i++)
        r->tables[i].id = 0;      /* nothing of this result was stored */
    return err;
}
