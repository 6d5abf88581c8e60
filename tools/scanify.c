/*
 * tools/scanify.c - "scanned" copies of a generated set: every page rendered to a grayscale
 * image at a scanner's resolution, degraded (blur, noise, a slight rotation) and written back as
 * an image-only PDF of the same page size, with the same truth. quire then has no text layer to
 * read, as with a real scan.
 *
 * usage: scanify IN_DIR OUT_DIR [--dpi 200] [--seed 1] [--noise 10] [--blur 1] [--rotate 0.6]
 *   IN_DIR holds truth.jsonl and the PDFs it names (tools/gentables writes such a folder);
 *   OUT_DIR gets the image-only PDFs under the same names and a truth.jsonl whose "style" is
 *   prefixed with "scanned-" (the "bboxes" stay those of the original layout; with --rotate
 *   they are off by up to rotate degrees around the page centre).
 */
#include <cairo-pdf.h>
#include <cairo.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ingest/ingest.h"

static double dpi = 200, noise = 10, blur = 1, rotate_deg = 0.6;
static int seed = 1;

/* A 3x3 box blur applied `passes` times, then Gaussian-ish noise of the given amplitude. */
static void degrade(struct raster *r, GRand *rand)
{
    int w = r->width, h = r->height;
    uint8_t *tmp = g_malloc((size_t)w * (size_t)h);
    for (int pass = 0; pass < (int)blur; pass++) {
        memcpy(tmp, r->gray, (size_t)w * (size_t)h);
        for (int y = 1; y < h - 1; y++)
            for (int x = 1; x < w - 1; x++) {
                int sum = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                        sum += tmp[(size_t)(y + dy) * (size_t)w + (size_t)(x + dx)];
                r->gray[(size_t)y * (size_t)w + (size_t)x] = (uint8_t)(sum / 9);
            }
    }
    g_free(tmp);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        double n = (g_rand_double(rand) + g_rand_double(rand) + g_rand_double(rand) - 1.5) * 2 *
                   noise;
        int v = (int)lround(r->gray[i] + n);
        r->gray[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* Draws the raster as the whole page, rotated by `angle` degrees about the page's centre. */
static void draw_page(cairo_t *cr, const struct raster *r, double width, double height,
                      double angle)
{
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_A8, r->width, r->height);
    cairo_surface_flush(img);
    unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (int y = 0; y < r->height; y++)
        for (int x = 0; x < r->width; x++) /* A8 holds ink: 255 - gray */
            data[(size_t)y * (size_t)stride + (size_t)x] =
                (unsigned char)(255 - r->gray[(size_t)y * (size_t)r->width + (size_t)x]);
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_translate(cr, width / 2, height / 2);
    cairo_rotate(cr, angle * G_PI / 180);
    cairo_translate(cr, -width / 2, -height / 2);
    cairo_scale(cr, 72.0 / r->dpi, 72.0 / r->dpi);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_mask_surface(cr, img, 0, 0);
    cairo_restore(cr);
    cairo_surface_destroy(img);
}

static int scan_file(const char *in, const char *out, GRand *rand)
{
    struct document *doc = NULL;
    char *msg = NULL;
    int err = document_open(in, NULL, &doc, &msg);
    if (err) {
        fprintf(stderr, "scanify: %s\n", msg ? msg : err_str(err));
        free(msg);
        return err;
    }
    cairo_surface_t *pdf = cairo_pdf_surface_create(out, 100, 100);
    cairo_t *cr = cairo_create(pdf);
    struct page_options po = {.dpi = dpi, .max_pixels = (int64_t)4e8, .words = false};
    for (int i = 0; i < document_page_count(doc) && !err; i++) {
        struct page *page = NULL;
        if ((err = document_load_page(doc, i, &po, &page, &msg))) {
            fprintf(stderr, "scanify: %s\n", msg ? msg : err_str(err));
            free(msg);
            break;
        }
        cairo_pdf_surface_set_size(pdf, page->width, page->height);
        degrade(&page->raster, rand);
        draw_page(cr, &page->raster, page->width, page->height,
                  g_rand_double_range(rand, -rotate_deg, rotate_deg));
        cairo_show_page(cr);
        page_free(page);
    }
    cairo_destroy(cr);
    cairo_surface_finish(pdf);
    if (!err && cairo_surface_status(pdf) != CAIRO_STATUS_SUCCESS)
        err = QUIRE_EIO;
    cairo_surface_destroy(pdf);
    document_close(doc);
    return err;
}

int main(int argc, char **argv)
{
    GOptionEntry entries[] = {
        {"dpi", 0, 0, G_OPTION_ARG_DOUBLE, &dpi, "Scan resolution (default 200)", "DPI"},
        {"seed", 0, 0, G_OPTION_ARG_INT, &seed, "Random seed (default 1)", "N"},
        {"noise", 0, 0, G_OPTION_ARG_DOUBLE, &noise, "Noise amplitude in gray levels (default 10)",
         "A"},
        {"blur", 0, 0, G_OPTION_ARG_DOUBLE, &blur, "Box-blur passes (default 1)", "N"},
        {"rotate", 0, 0, G_OPTION_ARG_DOUBLE, &rotate_deg,
         "Largest rotation in degrees, either way (default 0.6)", "DEG"},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    GOptionContext *ctx = g_option_context_new("IN_DIR OUT_DIR - image-only copies of a set");
    g_option_context_add_main_entries(ctx, entries, NULL);
    GError *gerr = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr) || argc != 3) {
        fprintf(stderr, "scanify: %s\n", gerr ? gerr->message : "usage: scanify IN_DIR OUT_DIR");
        return 2;
    }
    g_option_context_free(ctx);
    const char *in_dir = argv[1], *out_dir = argv[2];
    g_mkdir_with_parents(out_dir, 0755);
    char *truth_in = g_build_filename(in_dir, "truth.jsonl", NULL);
    char *truth_out = g_build_filename(out_dir, "truth.jsonl", NULL);
    char *text = NULL;
    if (!g_file_get_contents(truth_in, &text, NULL, &gerr)) {
        fprintf(stderr, "scanify: %s\n", gerr->message);
        return 1;
    }
    GRand *rand = g_rand_new_with_seed((guint32)seed);
    GHashTable *done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GString *out = g_string_new(NULL);
    char **lines = g_strsplit(text, "\n", -1);
    int failures = 0;
    for (char **l = lines; *l; l++) {
        if (!**l)
            continue;
        JsonParser *parser = json_parser_new();
        if (!json_parser_load_from_data(parser, *l, -1, NULL)) {
            g_object_unref(parser);
            continue;
        }
        JsonObject *o = json_node_get_object(json_parser_get_root(parser));
        const char *pdf = json_object_get_string_member(o, "pdf");
        if (!g_hash_table_contains(done, pdf)) {
            char *src = g_build_filename(in_dir, pdf, NULL), *dst = g_build_filename(out_dir, pdf, NULL);
            failures += scan_file(src, dst, rand) != 0;
            g_hash_table_add(done, g_strdup(pdf));
            g_free(src);
            g_free(dst);
        }
        const char *style = json_object_has_member(o, "style")
                                ? json_object_get_string_member(o, "style") : "unknown";
        char *scanned = g_strdup_printf("scanned-%s", style);
        json_object_set_string_member(o, "style", scanned);
        g_free(scanned);
        JsonGenerator *gen = json_generator_new();
        json_generator_set_root(gen, json_parser_get_root(parser));
        char *line = json_generator_to_data(gen, NULL);
        g_string_append_printf(out, "%s\n", line);
        g_free(line);
        g_object_unref(gen);
        g_object_unref(parser);
    }
    if (!g_file_set_contents(truth_out, out->str, (gssize)out->len, &gerr)) {
        fprintf(stderr, "scanify: %s\n", gerr->message);
        failures++;
    }
    printf("scanify: %u files, %d failed, into %s\n", g_hash_table_size(done), failures, out_dir);
    g_strfreev(lines);
    g_string_free(out, TRUE);
    g_hash_table_destroy(done);
    g_rand_free(rand);
    g_free(text);
    g_free(truth_in);
    g_free(truth_out);
    return failures ? 1 : 0;
}
