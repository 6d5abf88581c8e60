/*
 * pagedump.c - what vision/ and textlayer/ see on one page: a debugging aid.
 *
 * usage: pagedump [--json] [--words] [--no-borderless] [--dpi N] [--password PW]
 *                 [--reader DIR] FILE.pdf PAGE
 *
 * Prints the rulings, the table regions and each region's table (as Markdown), and with --words
 * the text lines. With --reader, a page without a text layer has its regions read as quire
 * reads scans (ocr/: the words cut from the ink, read by the line reader in DIR); with
 * --words too, the words it read, region by region. With --json it prints one line {"tables": [[[cell, ...], ...], ...]} - the shape
 * eval-dev's score.py reads as a prediction.
 */
#include "../common/common.h"
#include "../ingest/ingest.h"
#include "../ocr/ocr.h"
#include "../table/table.h"
#include "../textlayer/textlayer.h"
#include "../vision/vision.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p == '\n')
            printf("\\n");
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void print_json_table(const struct table *t)
{
    putchar('[');
    for (int r = 0; r < t->n_rows; r++) {
        printf(r ? ",[" : "[");
        for (int c = 0; c < t->n_cols; c++) {
            const struct table_cell *cell = table_cell_at(t, r, c);
            /* Covered positions print empty, as the scorer's peers do. */
            const char *text = cell && cell->row == r && cell->col == c ? cell->text : "";
            if (c)
                putchar(',');
            json_string(text);
        }
        putchar(']');
    }
    putchar(']');
}

static void print_lines(const struct page *page)
{
    struct text_line *lines = NULL;
    size_t n = 0;
    struct rect all = {-INFINITY, -INFINITY, INFINITY, INFINITY};
    if (vision_text_lines(page, all, &lines, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        printf("line %3zu y=%6.1f-%6.1f x=%6.1f-%6.1f fs=%4.1f:", i, lines[i].bbox.y0,
               lines[i].bbox.y1, lines[i].bbox.x0, lines[i].bbox.x1, lines[i].font_size);
        for (size_t k = 0; k < lines[i].n_words; k++) {
            const struct word *w = &page->words[lines[i].words[k]];
            printf(" %s@%.0f%s", w->text, w->bbox.x0, w->bold ? "b" : "");
        }
        putchar('\n');
    }
    vision_text_lines_free(lines, n);
}

int main(int argc, char **argv)
{
    bool json = false, words = false, borderless = true;
    double dpi = 120;
    const char *password = NULL, *path = NULL, *page_arg = NULL, *reader = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--words"))
            words = true;
        else if (!strcmp(argv[i], "--no-borderless"))
            borderless = false;
        else if (!strcmp(argv[i], "--dpi") && i + 1 < argc)
            dpi = atof(argv[++i]);
        else if (!strcmp(argv[i], "--password") && i + 1 < argc)
            password = argv[++i];
        else if (!strcmp(argv[i], "--reader") && i + 1 < argc)
            reader = argv[++i];
        else if (!path)
            path = argv[i];
        else
            page_arg = argv[i];
    }
    if (!path || !page_arg) {
        fprintf(stderr, "usage: pagedump [--json] [--words] [--no-borderless] [--dpi N] "
                        "[--password PW] [--reader DIR] FILE.pdf PAGE\n");
        return 2;
    }
    struct document *doc = NULL;
    char *msg = NULL;
    int err = document_open(path, password, &doc, &msg);
    if (err) {
        fprintf(stderr, "pagedump: %s: %s\n", path, msg ? msg : err_str(err));
        free(msg);
        return 1;
    }
    struct page_options po = {.dpi = dpi, .max_pixels = 100000000, .words = true};
    struct page *page = NULL;
    err = document_load_page(doc, atoi(page_arg) - 1, &po, &page, &msg);
    if (err) {
        fprintf(stderr, "pagedump: %s page %s: %s\n", path, page_arg, msg ? msg : err_str(err));
        free(msg);
        document_close(doc);
        return 1;
    }
    struct page_layout *layout = NULL;
    struct vision_options vo;
    vision_options_init(&vo);
    vo.borderless = borderless;
    err = vision_analyze(page, &vo, &layout);
    if (err) {
        fprintf(stderr, "pagedump: vision: %s\n", err_str(err));
        page_free(page);
        document_close(doc);
        return 1;
    }
    struct ocr *ocr = NULL;
    struct ink_view *view = NULL;
    if (reader && !page->has_text_layer) {
        ocr = ocr_load(reader, &err, &msg);
        if (!err)
            err = vision_ink_view(page, layout, &view);
        if (err) {
            fprintf(stderr, "pagedump: %s: %s\n", reader, msg ? msg : err_str(err));
            free(msg);
            ocr_free(ocr);
            page_layout_free(layout);
            page_free(page);
            document_close(doc);
            return 1;
        }
    }
    if (!json) {
        printf("page %d: %.1f x %.1f pt, %zu words, raster %dx%d\n", page->index + 1, page->width,
               page->height, page->n_words, page->raster.width, page->raster.height);
        if (words)
            print_lines(page);
        for (size_t i = 0; i < layout->n_rulings; i++) {
            const struct ruling *r = &layout->rulings[i];
            printf("ruling %c (%.1f,%.1f)-(%.1f,%.1f) t=%.1f\n",
                   ruling_is_horizontal(r) ? 'H' : 'V', r->x0, r->y0, r->x1, r->y1, r->thickness);
        }
    } else {
        printf("{\"tables\":[");
    }
    int printed = 0;
    static const char *kinds[] = {"ruled", "hrules", "borderless"};
    for (size_t i = 0; i < layout->n_regions; i++) {
        const struct region *rg = &layout->regions[i];
        struct table *t = NULL;
        double conf = 0;
        err = ocr ? ocr_read_table(ocr, page, view, i, &t, &conf, &msg)
                  : textlayer_extract(page, layout, rg, &t, &msg);
        if (json) {
            if (!err) {
                if (printed++)
                    putchar(',');
                print_json_table(t);
            }
        } else {
            printf("region %zu %s (%.1f,%.1f)-(%.1f,%.1f) conf=%.2f\n", i, kinds[rg->kind],
                   rg->bbox.x0, rg->bbox.y0, rg->bbox.x1, rg->bbox.y1, rg->confidence);
            if (ocr && words) {
                struct page *read = NULL;
                double c = 0;
                if (ocr_read_words(ocr, page, view, i, &read, &c) == 0)
                    print_lines(read);
                ocr_words_free(read);
            }
            if (err) {
                printf("  textlayer: %s\n", msg ? msg : err_str(err));
            } else {
                printf("  %d x %d, header_rows %d", t->n_rows, t->n_cols, t->header_rows);
                if (ocr)
                    printf(", read with %s, confidence %.2f", ocr_id(ocr), conf);
                putchar('\n');
                char *md = table_render(t, TABLE_FORMAT_MARKDOWN, NULL);
                if (md)
                    fputs(md, stdout);
                free(md);
            }
        }
        free(msg);
        msg = NULL;
        table_free(t);
    }
    if (json)
        printf("]}\n");
    vision_ink_view_free(view);
    ocr_free(ocr);
    page_layout_free(layout);
    page_free(page);
    document_close(doc);
    return 0;
}
