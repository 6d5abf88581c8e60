/*
 * document.c - opening PDFs with poppler-glib and turning pages into `struct page`.
 *
 * Poppler is tolerant: it reconstructs broken cross-reference tables and opens many damaged
 * files. What it cannot open is reported by its GError code, which we map onto quire's errors
 * (encrypted, damaged) with the file name in the message.
 */
#include "ingest_internal.h"

#include <cairo.h>
#include <stdlib.h>
#include <string.h>

struct document {
    PopplerDocument *pdf;
    char *path;
    int n_pages;
};

static PopplerDocument *keepalive;

int ingest_global_init(void)
{
    /* The smallest valid PDF: one empty page. */
    static const char pdf[] =
        "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\n"
        "trailer<</Root 1 0 R>>\n%%EOF\n";
    if (keepalive)
        return 0;
    GBytes *bytes = g_bytes_new_static(pdf, sizeof pdf - 1);
    keepalive = poppler_document_new_from_bytes(bytes, NULL, NULL);
    g_bytes_unref(bytes);
    if (!keepalive)
        return QUIRE_ENOMEM;
    PopplerPage *page = poppler_document_get_page(keepalive, 0);
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(surface);
    if (page)
        poppler_page_render(page, cr); /* builds the colour-management statics */
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    if (page)
        g_object_unref(page);
    return 0;
}

void ingest_global_release(void)
{
    if (keepalive)
        g_object_unref(keepalive);
    keepalive = NULL;
}

int document_open(const char *path, const char *password, struct document **out, char **msg)
{
    *out = NULL;
    int err = ingest__check_pdf_header(path, msg);
    if (err)
        return err;
    GError *gerr = NULL;
    char *abs = g_canonicalize_filename(path, NULL);
    char *uri = g_filename_to_uri(abs, NULL, &gerr);
    g_free(abs);
    if (!uri) {
        if (msg)
            *msg = q_asprintf("%s: %s", path, gerr->message);
        g_error_free(gerr);
        return QUIRE_EINVAL;
    }
    PopplerDocument *pdf = poppler_document_new_from_file(uri, password, &gerr);
    g_free(uri);
    if (!pdf) {
        bool encrypted = gerr && gerr->domain == POPPLER_ERROR && gerr->code == POPPLER_ERROR_ENCRYPTED;
        if (msg)
            *msg = encrypted
                ? q_asprintf("%s: encrypted PDF: %s", path,
                             password ? "the password is wrong" : "a password is needed (--password)")
                : q_asprintf("%s: damaged or truncated PDF: %s", path,
                             gerr ? gerr->message : "Poppler could not open it");
        if (gerr)
            g_error_free(gerr);
        return encrypted ? QUIRE_EENCRYPTED : QUIRE_ETRUNCATED;
    }
    int n = poppler_document_get_n_pages(pdf);
    if (n <= 0) {
        if (msg)
            *msg = q_asprintf("%s: the PDF has no pages", path);
        g_object_unref(pdf);
        return QUIRE_ENOPAGES;
    }
    struct document *doc = q_calloc(1, sizeof *doc);
    char *copy = q_strdup(path);
    if (!doc || !copy) {
        free(doc);
        free(copy);
        g_object_unref(pdf);
        return QUIRE_ENOMEM;
    }
    doc->pdf = pdf;
    doc->path = copy;
    doc->n_pages = n;
    *out = doc;
    return 0;
}

void document_close(struct document *doc)
{
    if (!doc)
        return;
    g_object_unref(doc->pdf);
    free(doc->path);
    free(doc);
}

int document_page_count(const struct document *doc) { return doc->n_pages; }

int document_page_size(struct document *doc, int index, double *width, double *height)
{
    if (index < 0 || index >= doc->n_pages)
        return QUIRE_EINVAL;
    PopplerPage *pp = poppler_document_get_page(doc->pdf, index);
    if (!pp)
        return QUIRE_ETRUNCATED;
    poppler_page_get_size(pp, width, height);
    g_object_unref(pp);
    return 0;
}

/* Renders the page into page->raster at opts->dpi: white background, 8-bit gray. */
static int render_page(PopplerPage *pp, struct page *page, double dpi)
{
    double scale = dpi / 72.0;
    int w = (int)(page->width * scale + 0.5), h = (int)(page->height * scale + 0.5);
    if (w < 1)
        w = 1;
    if (h < 1)
        h = 1;
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surface);
        return QUIRE_ENOMEM;
    }
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, scale, scale);
    poppler_page_render(pp, cr);
    cairo_destroy(cr);
    cairo_surface_flush(surface);

    uint8_t *gray = q_malloc((size_t)w * (size_t)h);
    if (!gray) {
        cairo_surface_destroy(surface);
        return QUIRE_ENOMEM;
    }
    const unsigned char *data = cairo_image_surface_get_data(surface);
    int stride = cairo_image_surface_get_stride(surface);
    for (int y = 0; y < h; y++) {
        const uint32_t *row = (const uint32_t *)(data + (size_t)y * (size_t)stride);
        for (int x = 0; x < w; x++) {
            uint32_t px = row[x];
            unsigned r = (px >> 16) & 0xff, g = (px >> 8) & 0xff, b = px & 0xff;
            gray[(size_t)y * (size_t)w + (size_t)x] = (uint8_t)((r * 77 + g * 150 + b * 29) >> 8);
        }
    }
    cairo_surface_destroy(surface);
    page->raster.width = w;
    page->raster.height = h;
    page->raster.dpi = dpi;
    page->raster.gray = gray;
    return 0;
}

int document_load_page(struct document *doc, int index, const struct page_options *opts,
                       struct page **out, char **msg)
{
    *out = NULL;
    if (index < 0 || index >= doc->n_pages)
        return QUIRE_EINVAL;
    PopplerPage *pp = poppler_document_get_page(doc->pdf, index);
    if (!pp) {
        if (msg)
            *msg = q_asprintf("%s: page %d cannot be read", doc->path, index + 1);
        return QUIRE_ETRUNCATED;
    }
    struct page *page = q_calloc(1, sizeof *page);
    if (!page) {
        g_object_unref(pp);
        return QUIRE_ENOMEM;
    }
    page->index = index;
    poppler_page_get_size(pp, &page->width, &page->height);
    int err = 0;
    if (opts->dpi > 0) {
        double scale = opts->dpi / 72.0;
        double pixels = page->width * scale * page->height * scale;
        if (!(pixels <= (double)opts->max_pixels)) {
            if (msg)
                *msg = q_asprintf("%s: page %d is %.0f x %.0f pt: %.0f pixels at %.0f dpi, over the "
                                  "limit of %lld (max_pixels)", doc->path, index + 1, page->width,
                                  page->height, pixels, opts->dpi, (long long)opts->max_pixels);
            err = QUIRE_ELIMIT;
            goto out_free;
        }
        err = render_page(pp, page, opts->dpi);
        if (err)
            goto out_free;
    }
    if (opts->words) {
        err = ingest__extract_words(pp, page);
        if (err)
            goto out_free;
    }
    g_object_unref(pp);
    *out = page;
    return 0;

out_free:
    g_object_unref(pp);
    page_free(page);
    return err;
}

void page_free(struct page *page)
{
    if (!page)
        return;
    for (size_t i = 0; i < page->n_words; i++)
        free(page->words[i].text);
    free(page->words);
    free(page->raster.gray);
    free(page);
}
