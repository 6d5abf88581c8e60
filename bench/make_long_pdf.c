/*
 * bench/make_long_pdf.c - writes one long PDF with a ruled table on every page, for measuring
 * quire's memory and speed on a long document (bench/run.sh).
 *
 * usage: make_long_pdf OUT.pdf PAGES
 */
#include <stdio.h>
#include <stdlib.h>

#include "../tests/support/pdfgen.h"

int main(int argc, char **argv)
{
    if (argc != 3 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: make_long_pdf OUT.pdf PAGES\n");
        return 2;
    }
    int pages = atoi(argv[2]), err = 0;
    struct pdfgen_doc *doc = pdfgen_doc_new(argv[1], PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    if (!doc) {
        fprintf(stderr, "make_long_pdf: %s: %s\n", argv[1], err_str(err));
        return 1;
    }
    enum { ROWS = 12, COLS = 6 };
    char text[ROWS * COLS][32];
    const char *cells[ROWS * COLS];
    struct pdfgen_table_style style;
    pdfgen_table_style_init(&style);
    for (int p = 0; p < pages && !err; p++) {
        if (p)
            err = pdfgen_page_new(doc, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT);
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLS; c++) {
                if (r == 0)
                    snprintf(text[c], sizeof text[c], "Column %d", c + 1);
                else if (c == 0)
                    snprintf(text[r * COLS], sizeof text[0], "Item %d.%d", p + 1, r);
                else
                    snprintf(text[r * COLS + c], sizeof text[0], "%d,%03d", (p * 31 + r * 7 + c) % 997,
                             (r * c * 13 + p) % 1000);
                cells[r * COLS + c] = text[r * COLS + c];
            }
        struct pdfgen_table t = {.rows = ROWS, .cols = COLS, .cells = cells};
        if (!err)
            err = pdfgen_table(doc, 60, 90, &t, &style, true, NULL, NULL);
    }
    int close_err = pdfgen_doc_close(doc);
    pdfgen_doc_free(doc);
    if (err || close_err) {
        fprintf(stderr, "make_long_pdf: %s: %s\n", argv[1], err_str(err ? err : close_err));
        return 1;
    }
    return 0;
}
