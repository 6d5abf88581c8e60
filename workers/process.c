/*
 * process.c - one document through the pipeline, on the calling (worker) thread.
 *
 * The order matters for "nothing lost, nothing twice": the document is registered (by content
 * hash) and marked running before any work, and its results are written in one transaction at
 * the end. A crash in between leaves it marked running, which `--resume` (and a restarted watch)
 * puts back in the queue; a failure leaves it failed with its message.
 */
#include "workers.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "../ingest/ingest.h"
#include "../textlayer/textlayer.h"
#include "../vision/vision.h"

static void set_failure(struct doc_job *job, int err, char *message)
{
    job->outcome = JOB_FAILED;
    job->err = err;
    free(job->message);
    job->message = message ? message : q_asprintf("%s: %s", job->path, err_str(err));
}

/* What one page gave. While several threads read a document's pages, each page's results are
 * kept apart and put together in page order once every page is read. */
struct page_out {
    struct page_result page;
    struct table_result *tables;
    size_t n_tables, cap;
    struct table_place *places;   /* one per table: where it sits on its page */
    int err;                      /* why the page failed (the document fails), or 0 */
    char *message;                /* the failure in words, naming the file, or NULL */
};

static int add_table(struct page_out *out, const struct region *region, struct table *table,
                     const char *engine, const char *model_id, double confidence)
{
    if (q_grow((void **)&out->tables, sizeof *out->tables, &out->cap, out->n_tables + 1))
        return QUIRE_ENOMEM;
    struct table_result *t = &out->tables[out->n_tables++];
    memset(t, 0, sizeof *t);
    t->page = out->page.page;
    t->bbox = region->bbox;
    t->engine = engine;
    t->model_id = model_id;
    t->confidence = confidence;
    t->table = table;
    return 0;
}

static void page_out_release(struct page_out *out)
{
    for (size_t i = 0; i < out->n_tables; i++)
        table_free(out->tables[i].table);
    free(out->tables);
    free(out->places);
    free(out->message);
    memset(out, 0, sizeof *out);
}

/* What one page needs for the model: the document to render it again at another DPI, and the
 * last such rendering (regions of one page often share a DPI). */
struct page_ctx {
    struct doc_job *job;
    const struct config *cfg;
    struct model_engine *engine;
    struct document *doc;
    const struct page *page;
    const struct page_layout *layout;
    struct page *hires;       /* the page rendered at hires->raster.dpi, or NULL */
    struct page_out *out;     /* where its tables go */
    const atomic_int *abort_flag; /* may be NULL; checked per token of a decode */
    double deadline;          /* now_seconds() time of the time limit, checked likewise */
    double limit;             /* the time limit in seconds (for messages) */
};

/* The DPI at which the region's text has an x-height of ~10 px (x-height ~ half the font size):
 * 1440 / the median font size of its words; 144 dpi (10-pt text) without words. */
static double legible_dpi(const struct page *page, struct rect box)
{
    double sizes[256];
    size_t n = 0;
    for (size_t i = 0; i < page->n_words && n < 256; i++) {
        const struct word *w = &page->words[i];
        if (w->font_size > 0 && rect_contains_point(box, (w->bbox.x0 + w->bbox.x1) / 2,
                                                    (w->bbox.y0 + w->bbox.y1) / 2))
            sizes[n++] = w->font_size;
    }
    if (!n)
        return 144;
    for (size_t i = 1; i < n; i++) /* insertion sort: n is small */
        for (size_t k = i; k > 0 && sizes[k - 1] > sizes[k]; k--) {
            double t = sizes[k];
            sizes[k] = sizes[k - 1];
            sizes[k - 1] = t;
        }
    return 1440 / sizes[n / 2];
}

/* The region cropped from a raster at a legible resolution: the page's own raster when that is
 * fine enough (*scale then says how much the model engine shrinks the crop to the DPI wanted),
 * else the page rendered again at the DPI wanted (bounded by max_pixels). Sets *gray, *w, *h,
 * *stride into a raster owned by ctx->page or ctx->hires. */
static int region_crop(struct page_ctx *ctx, const struct region *region, const uint8_t **gray,
                       int *w, int *h, size_t *stride, double *scale)
{
    const struct page *page = ctx->page;
    struct rect b = region->bbox;
    double longest = fmax(rect_width(b), rect_height(b));
    double dpi = legible_dpi(page, b);
    /* no finer than the tiles hold anyway (2 tiles a side) */
    double fit = 2.0 * model_engine_image_size(ctx->engine) * 72 / fmax(longest, 1);
    dpi = fmin(dpi, fit);
    double cap = 72 * sqrt((double)ctx->cfg->max_pixels / fmax(page->width * page->height, 1));
    dpi = round(fmax(36, fmin(dpi, fmin(cap, 600))));
    const struct raster *r = &page->raster;
    if (!r->gray || dpi > r->dpi * 1.05) {
        if (!ctx->hires || ctx->hires->raster.dpi != dpi) {
            page_free(ctx->hires);
            ctx->hires = NULL;
            struct page_options po = {.dpi = dpi, .max_pixels = ctx->cfg->max_pixels};
            char *msg = NULL;
            int err = document_load_page(ctx->doc, page->index, &po, &ctx->hires, &msg);
            if (err) {
                log_msg(LOG_WARN, "%s: page %d: %s", ctx->job->path, page->index + 1,
                        msg ? msg : err_str(err));
                free(msg);
                return err;
            }
        }
        r = &ctx->hires->raster;
    }
    *scale = fmin(1, dpi / r->dpi);
    double s = r->dpi / 72;
    int x0 = (int)fmax(0, floor(b.x0 * s)), y0 = (int)fmax(0, floor(b.y0 * s));
    int x1 = (int)fmin(r->width, ceil(b.x1 * s)), y1 = (int)fmin(r->height, ceil(b.y1 * s));
    if (x1 <= x0 || y1 <= y0)
        return QUIRE_EINVAL;
    *gray = r->gray + (size_t)y0 * (size_t)r->width + (size_t)x0;
    *w = x1 - x0;
    *h = y1 - y0;
    *stride = (size_t)r->width;
    return 0;
}

/* The text-layer engine's table for a region (added as engine "text"). */
static int text_table(struct page_ctx *ctx, size_t i)
{
    const struct region *region = &ctx->layout->regions[i];
    struct table *table = NULL;
    char *msg = NULL;
    int err = 0;
    int e = textlayer_extract(ctx->page, ctx->layout, region, &table, &msg);
    if (e == QUIRE_ENOMEM) {
        err = e;
    } else if (e) {
        log_msg(LOG_DEBUG, "%s: page %d: region %zu: %s", ctx->job->path, ctx->page->index + 1, i,
                msg ? msg : err_str(e));
    } else if (table->n_rows == 0 || table->n_cols == 0) {
        table_free(table);
    } else if ((err = add_table(ctx->out, region, table, "text", NULL, region->confidence))) {
        table_free(table);
    }
    free(msg);
    return err;
}

/* The model's table for region i (engine vlm or auto) from its read r (whose table this takes),
 * or the fall-back. */
static int model_table(struct page_ctx *ctx, size_t i, bool auto_mode, struct model_read *r)
{
    const struct region *region = &ctx->layout->regions[i];
    const struct page *page = ctx->page;
    struct table *table = r->table;
    double confidence = r->confidence;
    int e = r->err;
    r->table = NULL;
    if (e == QUIRE_ENOMEM)
        return e;
    bool usable = !e && table && (!auto_mode || confidence >= ctx->cfg->min_confidence);
    if (!usable) {
        if (e)
            log_msg(auto_mode ? LOG_DEBUG : LOG_WARN, "%s: page %d: region %zu: the model gave "
                    "no table: %s%s", ctx->job->path, page->index + 1, i,
                    r->msg ? r->msg : err_str(e),
                    auto_mode ? " (text-layer engine instead)" : " (region dropped)");
        else
            log_msg(LOG_DEBUG, "%s: page %d: region %zu: model confidence %.3f below %.3f "
                    "(text-layer engine instead)", ctx->job->path, page->index + 1, i,
                    confidence, ctx->cfg->min_confidence);
        table_free(table);
        return auto_mode ? text_table(ctx, i) : 0;
    }
    const char *engine = "vlm";
    int err = 0;
    if (auto_mode && page->has_text_layer) {
        int n_snapped = 0;
        engine = "auto";
        err = model_snap_text(page, ctx->layout, region, table, &n_snapped);
        log_msg(LOG_DEBUG, "%s: page %d: region %zu: %d of %zu cells took the text layer's words",
                ctx->job->path, page->index + 1, i, n_snapped, table->n_cells);
    }
    if (!err)
        err = add_table(ctx->out, region, table, engine, model_engine_id(ctx->engine),
                        confidence);
    if (err)
        table_free(table);
    return err;
}

/* The model's tables for regions first..first+n-1 (n <= model_engine_max_batch): each region is
 * cropped and prepared (which copies it, as the next region's crop may re-render ctx->hires),
 * then all are decoded as one batch, then their tables are added in region order. An abort or
 * max_seconds during the decode ends the page with QUIRE_ECANCELLED / QUIRE_ETIMEOUT. */
static int model_tables(struct page_ctx *ctx, size_t first, size_t n, bool auto_mode)
{
    struct model_read reads[8];
    assert(n <= sizeof reads / sizeof reads[0]);
    int err = 0;
    for (size_t k = 0; k < n; k++) {
        const struct region *region = &ctx->layout->regions[first + k];
        const uint8_t *gray = NULL;
        int w = 0, h = 0;
        size_t stride = 0;
        double scale = 1;
        memset(&reads[k], 0, sizeof reads[k]);
        int e = region_crop(ctx, region, &gray, &w, &h, &stride, &scale);
        int rotation = region->rotation;
        if (!e && rotation == 0 && !ctx->page->has_text_layer) {
            /* a scan: vision/ had no words to tell the direction by; the pixels may */
            rotation = model_orientation(gray, w, h, stride);
            if (rotation)
                log_msg(LOG_DEBUG, "%s: page %d: region %zu: its text runs at %d degrees "
                        "(from the pixels); turned upright", ctx->job->path,
                        ctx->page->index + 1, first + k, rotation);
        }
        if (e)
            reads[k].err = e;
        else
            e = model_engine_prepare(ctx->engine, gray, w, h, stride, scale, rotation,
                                     &reads[k]);
        if (e == QUIRE_ENOMEM)
            err = e;
    }
    if (!err)
        err = model_engine_read_batch(ctx->engine, reads, n, ctx->abort_flag, ctx->deadline);
    if (err == QUIRE_ETIMEOUT)
        ctx->out->message = q_asprintf("%s: still running after %.0f s (max_seconds) while "
                                       "reading the tables of page %d", ctx->job->path,
                                       ctx->limit, ctx->page->index + 1);
    for (size_t k = 0; k < n && !err; k++)
        err = model_table(ctx, first + k, auto_mode, &reads[k]);
    for (size_t k = 0; k < n; k++)
        model_read_release(&reads[k]);
    return err;
}

/* The tables of a scanned page's regions read by the line reader (engine "ocr"); a region
 * where nothing is read is left out (logged). */
static int ocr_tables(struct page_ctx *ctx, const struct ocr *ocr)
{
    struct ink_view *view = NULL;
    int err = vision_ink_view(ctx->page, ctx->layout, &view);
    for (size_t i = 0; !err && i < ctx->layout->n_regions; i++) {
        const struct region *region = &ctx->layout->regions[i];
        struct table *table = NULL;
        double confidence = 0;
        char *msg = NULL;
        if (ctx->abort_flag && *ctx->abort_flag) {
            err = QUIRE_ECANCELLED;
            break;
        }
        int e = ocr_read_table(ocr, ctx->page, view, i, &table, &confidence, &msg);
        if (e == QUIRE_ENOMEM) {
            err = e;
        } else if (e) {
            log_msg(LOG_DEBUG, "%s: page %d: region %zu: %s", ctx->job->path,
                    ctx->page->index + 1, i, msg ? msg : err_str(e));
        } else if (table->n_rows == 0 || table->n_cols == 0) {
            table_free(table);
        } else if ((err = add_table(ctx->out, region, table, "ocr", ocr_id(ocr),
                                    region->confidence * confidence))) {
            table_free(table);
        }
        free(msg);
    }
    vision_ink_view_free(view);
    return err;
}

/* Finds and extracts the tables of one loaded page. */
static int process_page(struct doc_job *job, struct document *doc, const struct page *page,
                        const struct config *cfg, struct model_engine *engine,
                        const struct ocr *ocr, struct page_out *out,
                        const atomic_int *abort_flag, double deadline, double limit)
{
    struct vision_options vo;
    vision_options_init(&vo);
    vo.min_confidence = cfg->min_confidence;
    struct page_layout *layout = NULL;
    int err = vision_analyze(page, &vo, &layout);
    if (err)
        return err;
    struct page_ctx ctx = {.job = job, .cfg = cfg, .engine = engine, .doc = doc, .page = page,
                           .layout = layout, .out = out,
                           .abort_flag = abort_flag, .deadline = deadline, .limit = limit};
    bool use_model = engine && strcmp(cfg->engine, "text") != 0;
    bool auto_mode = !strcmp(cfg->engine, "auto");
    size_t batch = use_model ? (size_t)model_engine_max_batch(engine) : 1;
    for (size_t i = 0; i < layout->n_regions && !err; i += batch) {
        size_t n = layout->n_regions - i < batch ? layout->n_regions - i : batch;
        if (use_model)
            err = model_tables(&ctx, i, n, auto_mode);
        else
            err = text_table(&ctx, i);
    }
    /* A scan's regions under the text engine: read by the line reader when there is one;
     * otherwise found, not read: recorded with the page (and said) so that a user sees why a
     * scanned table gave nothing and which pages a model would read. */
    if (!err && !use_model && !page->has_text_layer && layout->n_regions && ocr)
        err = ocr_tables(&ctx, ocr);
    else if (!err && !use_model && !page->has_text_layer && layout->n_regions) {
        out->page.unread_regions = (int)layout->n_regions;
        log_msg(LOG_WARN, "%s: page %d: %zu table region%s on a page without a text layer not "
                "read: the text engine needs the PDF's text (the line reader, [model] reader, "
                "or --engine auto with a model reads scans)", job->path, page->index + 1,
                layout->n_regions, layout->n_regions == 1 ? "" : "s");
    }
    page_free(ctx.hires);
    page_layout_free(layout);
    return err;
}

/* The words of the line nearest the table on one side (above: whose bottom is within half
 * their height of `edge`, the lowest text above; below: likewise for tops), joined, for
 * table_note_continues(). */
static bool note_continues(const struct page *page, struct rect box, double edge, bool above)
{
    GString *line = g_string_new(NULL);
    for (size_t i = 0; i < page->n_words; i++) {
        const struct word *w = &page->words[i];
        if (!w->text || !w->text[0] || w->bbox.x1 <= box.x0 || w->bbox.x0 >= box.x1)
            continue;
        double cy = (w->bbox.y0 + w->bbox.y1) / 2, h = rect_height(w->bbox);
        bool near = above ? cy < box.y0 && w->bbox.y1 >= edge - 0.5 * h
                          : cy > box.y1 && w->bbox.y0 <= edge + 0.5 * h;
        if (near)
            g_string_append_printf(line, "%s ", w->text);
    }
    bool says = table_note_continues(line->str);
    g_string_free(line, TRUE);
    return says;
}

/* Where a table sits on its page, for table_continues(): the words of the page outside the
 * table that overlap its x-range, nearest above and below it, and whether those lines say the
 * table continues. */
static struct table_place measure_place(const struct page *page, struct rect box)
{
    struct table_place p = {.page_width = page->width, .page_height = page->height, .bbox = box,
                            .text_above = -1, .text_below = -1};
    for (size_t i = 0; i < page->n_words; i++) {
        const struct word *w = &page->words[i];
        if (!w->text || !w->text[0] || w->bbox.x1 <= box.x0 || w->bbox.x0 >= box.x1)
            continue;
        double cy = (w->bbox.y0 + w->bbox.y1) / 2;
        if (cy < box.y0)
            p.text_above = fmax(p.text_above, w->bbox.y1);
        else if (cy > box.y1 && (p.text_below < 0 || w->bbox.y0 < p.text_below))
            p.text_below = w->bbox.y0;
    }
    p.note_above = p.text_above >= 0 && note_continues(page, box, p.text_above, true);
    p.note_below = p.text_below >= 0 && note_continues(page, box, p.text_below, false);
    return p;
}

/* After every page is read: the topmost table of each page continues the lowest table of the
 * page before when table_continues() says so (pages come in order, and so do their tables).
 * A chain over several pages compares repeated headers with its first part. */
static void link_continued_tables(struct doc_job *job, const struct table_place *places)
{
    struct doc_result *r = &job->result;
    size_t prev_last = SIZE_MAX;
    int prev_page = 0;
    for (size_t i = 0; i < r->n_tables;) {
        int page = r->tables[i].page;
        size_t first = i, last = i, j = i;
        for (; j < r->n_tables && r->tables[j].page == page; j++) {
            if (places[j].bbox.y0 < places[first].bbox.y0)
                first = j;
            if (places[j].bbox.y1 >= places[last].bbox.y1)
                last = j;
        }
        if (prev_last != SIZE_MAX && prev_page == page - 1) {
            size_t head = prev_last;
            while (r->tables[head].continues)
                head = r->tables[head].continues - 1;
            int repeated = 0;
            struct table_result *prev = &r->tables[prev_last], *next = &r->tables[first];
            if (table_continues(prev->table, &places[prev_last], next->table, &places[first],
                                r->tables[head].table, &repeated)) {
                next->continues = prev_last + 1;
                next->repeated_header_rows = repeated;
                log_msg(LOG_DEBUG, "%s: the first table of page %d continues the last of page %d"
                        " (%d header row%s repeated)", job->path, page, prev_page, repeated,
                        repeated == 1 ? "" : "s");
            }
        }
        prev_last = last;
        prev_page = page;
        i = j;
    }
}

/* The time a document may take when max_seconds is 0: this much for each page it reads. */
#define PAGE_SECONDS 60.0

/* One document's pages being read, by its worker and any helpers (workers.h, "Lanes"). */
struct page_run {
    struct doc_job *job;
    const struct config *cfg;
    struct model_engine *engine;
    const struct ocr *ocr;
    const atomic_int *abort_flag;
    struct lanes *lanes;          /* NULL: no helpers */
    double started;               /* now_seconds() when the job began */
    double limit;                 /* seconds it may take: max_seconds, or 60 s a page */
    int n_total;                  /* pages in the PDF */
    int *order;                   /* the 0-based indexes of the selected pages, ascending */
    size_t n_order;
    struct page_out *outs;        /* one per entry of order */
    atomic_size_t next;           /* the next entry of order not yet taken */
    atomic_int stop;              /* a page failed: take no more */
    atomic_int active_helpers;
    atomic_int pages_by_helpers;
};

/* Reads page order[k] into outs[k] (its err says whether that worked). */
static void read_page(struct page_run *run, struct document *doc, size_t k)
{
    const struct config *cfg = run->cfg;
    struct doc_job *job = run->job;
    struct page_out *out = &run->outs[k];
    int i = run->order[k];
    if (run->abort_flag && *run->abort_flag) {
        out->err = QUIRE_ECANCELLED;
        return;
    }
    if (now_seconds() - run->started > run->limit) {
        out->err = QUIRE_ETIMEOUT;
        out->message = q_asprintf("%s: still running after %.0f s (max_seconds) at page %d of %d",
                                  job->path, run->limit, i + 1, run->n_total);
        return;
    }
    struct page_options po = {.dpi = cfg->dpi, .max_pixels = cfg->max_pixels, .words = true};
    struct page *page = NULL;
    out->err = document_load_page(doc, i, &po, &page, &out->message);
    if (out->err)
        return;
    out->page = (struct page_result){.page = i + 1, .width = page->width,
                                     .height = page->height,
                                     .has_text_layer = page->has_text_layer};
    out->err = process_page(job, doc, page, cfg, run->engine, run->ocr, out, run->abort_flag,
                            run->started + run->limit, run->limit);
    if (!out->err && out->n_tables &&
        !(out->places = q_calloc(out->n_tables, sizeof *out->places)))
        out->err = QUIRE_ENOMEM;
    for (size_t t = 0; !out->err && t < out->n_tables; t++)
        out->places[t] = measure_place(page, out->tables[t].bbox);
    page_free(page);
}

static void recruit_helper(struct page_run *run, pthread_t *helpers, int *n_helpers,
                           int max_helpers);

/* Takes pages in order until none is left or one failed. A helper stops early when a worker
 * waits for its lane; the document's own worker recruits helpers before each page. */
static void read_pages(struct page_run *run, struct document *doc, pthread_t *helpers,
                       int *n_helpers, int max_helpers)
{
    bool helper = helpers == NULL;
    while (!atomic_load(&run->stop)) {
        if (!helper)
            recruit_helper(run, helpers, n_helpers, max_helpers);
        size_t k = atomic_fetch_add(&run->next, 1);
        if (k >= run->n_order)
            break;
        read_page(run, doc, k);
        if (run->outs[k].err) {
            atomic_store(&run->stop, 1);
            break;
        }
        if (helper) {
            atomic_fetch_add(&run->pages_by_helpers, 1);
            if (lanes_wanted(run->lanes))
                break;
        }
    }
}

/* A helper thread: the PDF opened again, pages read until none is left, its lane given back. */
static void *helper_main(void *arg)
{
    struct page_run *run = arg;
    struct document *doc = NULL;
    char *msg = NULL;
    int err = document_open(run->job->path, run->job->password, &doc, &msg);
    if (err)
        log_msg(LOG_DEBUG, "%s: a helper cannot open it: %s", run->job->path,
                msg ? msg : err_str(err));
    else if (document_page_count(doc) == run->n_total) /* else the file was replaced */
        read_pages(run, doc, NULL, NULL, 0);
    document_close(doc);
    free(msg);
    atomic_fetch_sub(&run->active_helpers, 1);
    lanes_release(run->lanes);
    return NULL;
}

/* Starts a helper when a lane is free, at least two pages are left and fewer than the lanes'
 * worth of helpers run (the document's worker holds one lane). */
static void recruit_helper(struct page_run *run, pthread_t *helpers, int *n_helpers,
                           int max_helpers)
{
    size_t next = atomic_load(&run->next);
    if (!run->lanes || *n_helpers >= max_helpers || next + 2 > run->n_order ||
        atomic_load(&run->active_helpers) >= lanes_total(run->lanes) - 1 ||
        !lanes_try_acquire(run->lanes))
        return;
    atomic_fetch_add(&run->active_helpers, 1);
    if (pthread_create(&helpers[*n_helpers], NULL, helper_main, run) != 0) {
        atomic_fetch_sub(&run->active_helpers, 1);
        lanes_release(run->lanes);
        return;
    }
    (*n_helpers)++;
}

/* Moves the pages' results into job->result in page order (every page read without error). */
static int gather_pages(struct doc_job *job, struct page_run *run, struct table_place **places)
{
    struct doc_result *r = &job->result;
    size_t n_tables = 0;
    for (size_t k = 0; k < run->n_order; k++)
        n_tables += run->outs[k].n_tables;
    r->pages = q_calloc(run->n_order ? run->n_order : 1, sizeof *r->pages);
    r->tables = q_calloc(n_tables ? n_tables : 1, sizeof *r->tables);
    *places = q_calloc(n_tables ? n_tables : 1, sizeof **places);
    if (!r->pages || !r->tables || !*places)
        return QUIRE_ENOMEM;
    for (size_t k = 0; k < run->n_order; k++) {
        struct page_out *out = &run->outs[k];
        r->pages[r->n_pages++] = out->page;
        for (size_t t = 0; t < out->n_tables; t++) {
            (*places)[r->n_tables] = out->places[t];
            r->tables[r->n_tables++] = out->tables[t];
        }
        out->n_tables = 0; /* the tables are the job's now */
    }
    return 0;
}

/* Opens the PDF and reads every selected page (with helpers when lanes are free). On failure
 * the job says why. */
static int process_pages(struct doc_job *job, const struct config *cfg,
                         struct model_engine *engine, const struct ocr *ocr,
                         const atomic_int *abort_flag,
                         struct lanes *lanes, double started)
{
    struct document *doc = NULL;
    char *msg = NULL;
    int err = document_open(job->path, job->password, &doc, &msg);
    if (err) {
        set_failure(job, err, msg);
        return err;
    }
    int n = document_page_count(doc);
    job->n_pages_total = n;
    job->result.n_pages_total = n;
    if (n > cfg->max_pages) {
        document_close(doc);
        set_failure(job, QUIRE_ELIMIT, q_asprintf("%s: %d pages, over the limit of %d (max_pages)",
                                                  job->path, n, cfg->max_pages));
        return QUIRE_ELIMIT;
    }
    struct page_run run = {.job = job, .cfg = cfg, .engine = engine, .ocr = ocr,
                           .abort_flag = abort_flag,
                           .lanes = lanes, .started = started, .n_total = n};
    run.order = q_calloc(n > 0 ? (size_t)n : 1, sizeof *run.order);
    run.outs = q_calloc(n > 0 ? (size_t)n : 1, sizeof *run.outs);
    if (!run.order || !run.outs) {
        free(run.order);
        free(run.outs);
        document_close(doc);
        set_failure(job, QUIRE_ENOMEM, NULL);
        return QUIRE_ENOMEM;
    }
    for (int i = 0; i < n; i++)
        if (!job->pages.n_ranges || page_set_contains(&job->pages, i + 1))
            run.order[run.n_order++] = i;
    run.limit = cfg->max_seconds > 0 ? cfg->max_seconds : PAGE_SECONDS * fmax(1, run.n_order);

    enum { MAX_HELPER_STARTS = 16 };
    pthread_t helpers[MAX_HELPER_STARTS];
    int n_helpers = 0;
    read_pages(&run, doc, helpers, &n_helpers, MAX_HELPER_STARTS);
    for (int h = 0; h < n_helpers; h++)
        pthread_join(helpers[h], NULL);
    document_close(doc);
    job->page_threads = 1 + n_helpers;
    job->pages_by_helpers = atomic_load(&run.pages_by_helpers);
    if (n_helpers)
        log_msg(LOG_DEBUG, "%s: %d of %zu pages read by %d helper thread%s", job->path,
                job->pages_by_helpers, run.n_order, n_helpers, n_helpers == 1 ? "" : "s");

    /* The first page in order that failed decides (pages are taken in order, so every page
     * before it was read). */
    size_t handed = atomic_load(&run.next);
    for (size_t k = 0; k < run.n_order && k < handed && !err; k++)
        if (run.outs[k].err) {
            err = run.outs[k].err;
            if (err != QUIRE_ECANCELLED)
                set_failure(job, err, run.outs[k].message);
            run.outs[k].message = NULL;
        }
    struct table_place *places = NULL;
    if (!err && (err = gather_pages(job, &run, &places)))
        set_failure(job, err, NULL);
    if (!err)
        link_continued_tables(job, places);
    free(places);
    for (size_t k = 0; k < run.n_order; k++)
        page_out_release(&run.outs[k]);
    free(run.outs);
    free(run.order);
    return err;
}

static void release_results(struct doc_result *r)
{
    for (size_t i = 0; i < r->n_tables; i++)
        table_free(r->tables[i].table);
    free(r->tables);
    free(r->pages);
    memset(r, 0, sizeof *r);
}

static char *store_failure(struct store *store, const char *path, const char *what, int err)
{
    return q_asprintf("%s: cannot %s: %s (%s)", path, what, err_str(err), store_errmsg(store));
}

/* A file that is gone (or unreadable) before its turn: when the store knows the path as a
 * document still waiting (queued again by `quire retry`, say), that document fails with the
 * message, so `quire status` shows why it never finished. */
static void record_vanished(struct doc_job *job, struct store *store)
{
    enum doc_status status;
    int64_t doc_id;
    if (store_path_lookup(store, job->path, -1, 0, &doc_id, &status) != 0 ||
        (status != DOC_QUEUED && status != DOC_RUNNING))
        return;
    job->doc_id = doc_id;
    if (store_document_fail(store, doc_id, job->message))
        log_msg(LOG_ERROR, "%s: the failure could not be recorded: %s", job->path,
                store_errmsg(store));
}

void pipeline_process(struct doc_job *job, struct store *store, const struct config *cfg,
                      struct model_engine *engine, const struct ocr *ocr,
                      const atomic_int *abort_flag, struct lanes *lanes)
{
    double started = now_seconds();
    struct stat st;
    if (stat(job->path, &st) != 0) {
        int e = errno;
        set_failure(job, e == ENOENT ? QUIRE_ENOENT : QUIRE_EIO,
                    q_asprintf("%s: %s", job->path,
                               e == ENOENT ? "the file was deleted before it could be processed"
                                           : strerror(e)));
        record_vanished(job, store);
        return;
    }
    enum doc_status status;
    int err = 0;
    if (!job->force &&
        store_path_lookup(store, job->path, st.st_size, st.st_mtime, &job->doc_id, &status) == 0 &&
        status == DOC_DONE) {
        job->outcome = JOB_SKIPPED;
        return;
    }
    int64_t size = 0;
    err = file_sha256(job->path, job->sha256, &size);
    if (err) {
        set_failure(job, err, q_asprintf("%s: cannot read: %s", job->path, err_str(err)));
        return;
    }
    if (job->expect_sha256[0] && strcmp(job->sha256, job->expect_sha256) != 0) {
        set_failure(job, QUIRE_EINVAL, q_asprintf("%s: the file changed since its document was "
                                                  "stored; the stored results are kept",
                                                  job->path));
        return;
    }
    bool is_new = false;
    err = store_document_add(store, job->path, job->sha256, size, st.st_mtime, &job->doc_id,
                             &status, &is_new);
    if (err) {
        set_failure(job, err, store_failure(store, job->path, "register the document", err));
        return;
    }
    if (!job->force && status == DOC_DONE) {
        job->outcome = JOB_SKIPPED;
        return;
    }
    if ((err = store_document_start(store, job->doc_id))) {
        set_failure(job, err, store_failure(store, job->path, "mark the document running", err));
        return;
    }
    err = process_pages(job, cfg, engine, ocr, abort_flag, lanes, started);
    job->seconds = now_seconds() - started;
    if (err == QUIRE_ECANCELLED) {
        release_results(&job->result);
        store_document_requeue(store, job->doc_id);
        job->outcome = JOB_CANCELLED;
        return;
    }
    if (err) {
        release_results(&job->result);
        if (store_document_fail(store, job->doc_id, job->message))
            log_msg(LOG_ERROR, "%s: the failure could not be recorded: %s", job->path,
                    store_errmsg(store));
        return;
    }
    job->result.seconds = job->seconds;
    bool model_run = engine && strcmp(cfg->engine, "text") != 0;
    job->result.engine = model_run ? cfg->engine : "text";   /* both outlive the job's store */
    job->result.model_id = model_run ? model_engine_id(engine) : NULL;
    struct render_options ro;
    render_options_init(&ro);
    ro.markdown_spans = cfg->markdown_repeat_spans ? SPAN_REPEAT : SPAN_EMPTY;
    ro.latex_booktabs = cfg->latex_booktabs;
    err = store_document_put_results(store, job->doc_id, &job->result, &ro);
    if (err) {
        set_failure(job, err, store_failure(store, job->path, "store the results", err));
        if (store_document_fail(store, job->doc_id, job->message))
            log_msg(LOG_ERROR, "%s: the failure could not be recorded: %s", job->path,
                    store_errmsg(store));
        return;
    }
    job->outcome = JOB_STORED;
}

struct doc_job *doc_job_new(const char *path)
{
    struct doc_job *job = q_calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->path = q_strdup(path);
    if (!job->path) {
        free(job);
        return NULL;
    }
    return job;
}

void doc_job_free(struct doc_job *job)
{
    if (!job)
        return;
    release_results(&job->result);
    page_set_release(&job->pages);
    free(job->path);
    free(job->password);
    free(job->message);
    free(job);
}
