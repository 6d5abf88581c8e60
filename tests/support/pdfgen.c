/*
 * tests/support/pdfgen.c - cairo PDF documents, text, rules and tables for tests and gentables.
 *
 * Why: end-to-end tests and the generated evaluation set need PDFs whose content is known
 * exactly. Everything here draws with cairo's PDF surface; the one exception is the encrypted
 * file, which cairo cannot produce, so pdfgen_write_encrypted() writes a tiny PDF by hand and
 * encrypts it with the PDF standard security handler (RC4, revision 3) using GLib's MD5.
 *
 * Table layout in brief: every anchor cell is wrapped into lines, column widths come from the
 * widest single-column cells (spanning cells widen their columns evenly if they need more), row
 * heights likewise; then backgrounds, text and finally rules are drawn.
 */
#include "pdfgen.h"

#include <cairo-ft.h>
#include <cairo-pdf.h>
#include <cairo.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FAMILY "DejaVu Sans"
#define LINE_PITCH 1.2 /* baseline-to-baseline distance as a multiple of the font size */

struct pdfgen_doc {
    cairo_surface_t *surface;
    cairo_t *cr;
    double width, height;
    int page;
    bool closed;
    int close_result;
};

/* --- documents ---------------------------------------------------------------------------- */

/* Pins the metadata that would otherwise change on every run (cairo stamps the current time). */
static void pin_metadata(cairo_surface_t *surface)
{
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE, "2024-01-01T00:00:00Z");
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "quire pdfgen");
}

static struct pdfgen_doc *doc_from_surface(cairo_surface_t *surface, double width, double height,
                                           int *err)
{
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surface);
        *err = QUIRE_EIO;
        return NULL;
    }
    struct pdfgen_doc *doc = q_calloc(1, sizeof(*doc));
    if (!doc) {
        cairo_surface_destroy(surface);
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    pin_metadata(surface);
    doc->surface = surface;
    doc->cr = cairo_create(surface);
    if (cairo_status(doc->cr) != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(doc->cr);
        cairo_surface_destroy(surface);
        free(doc);
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    doc->width = width;
    doc->height = height;
    doc->page = 1;
    *err = 0;
    return doc;
}

static bool size_ok(double width, double height)
{
    return width >= 1 && height >= 1 && width <= 14400 && height <= 14400;
}

struct pdfgen_doc *pdfgen_doc_new(const char *path, double width, double height, int *err)
{
    if (!path || !size_ok(width, height)) {
        *err = QUIRE_EINVAL;
        return NULL;
    }
    return doc_from_surface(cairo_pdf_surface_create(path, width, height), width, height, err);
}

int pdfgen_page_new(struct pdfgen_doc *doc, double width, double height)
{
    if (doc->closed || !size_ok(width, height))
        return QUIRE_EINVAL;
    cairo_show_page(doc->cr);
    cairo_pdf_surface_set_size(doc->surface, width, height);
    doc->width = width;
    doc->height = height;
    doc->page++;
    return cairo_status(doc->cr) == CAIRO_STATUS_SUCCESS ? 0 : QUIRE_EIO;
}

double pdfgen_page_width(const struct pdfgen_doc *doc)
{
    return doc->width;
}
double pdfgen_page_height(const struct pdfgen_doc *doc)
{
    return doc->height;
}
int pdfgen_page_number(const struct pdfgen_doc *doc)
{
    return doc->page;
}

int pdfgen_doc_close(struct pdfgen_doc *doc)
{
    if (doc->closed)
        return doc->close_result;
    doc->closed = true;
    cairo_show_page(doc->cr);
    cairo_status_t st = cairo_status(doc->cr);
    cairo_destroy(doc->cr);
    doc->cr = NULL;
    cairo_surface_finish(doc->surface);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(doc->surface);
    cairo_surface_destroy(doc->surface);
    doc->surface = NULL;
    doc->close_result = st == CAIRO_STATUS_SUCCESS     ? 0
                        : st == CAIRO_STATUS_NO_MEMORY ? QUIRE_ENOMEM
                                                       : QUIRE_EIO;
    return doc->close_result;
}

void pdfgen_doc_free(struct pdfgen_doc *doc)
{
    if (!doc)
        return;
    pdfgen_doc_close(doc);
    free(doc);
}

void pdfgen_shutdown(void)
{
    cairo_debug_reset_static_data();
}

/* fontconfig (2.14, Debian 12) loses one 288-byte block while parsing its configuration the
 * first time cairo asks it for a font; no call frees it. LeakSanitizer reads this hook (when the
 * program is built with -fsanitize=address) so `make asan` does not fail on it; any other leak
 * still fails. NEEDSWORK: if another file needs suppressions, keep them all in one place: a
 * program can define this hook only once. */
__attribute__((used)) const char *__lsan_default_suppressions(void);
__attribute__((used)) const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}

int pdfgen_write_blank(const char *path, int n_pages, double width, double height)
{
    if (n_pages < 1)
        return QUIRE_EINVAL;
    int err;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, width, height, &err);
    if (!doc)
        return err;
    for (int i = 1; i < n_pages && !err; i++)
        err = pdfgen_page_new(doc, width, height);
    int close_err = pdfgen_doc_close(doc);
    pdfgen_doc_free(doc);
    return err ? err : close_err;
}

/* --- text --------------------------------------------------------------------------------- */

static void set_font(struct pdfgen_doc *doc, const struct pdfgen_font *font)
{
    const char *family = font && font->family ? font->family : DEFAULT_FAMILY;
    double size = font && font->size > 0 ? font->size : 10;
    cairo_select_font_face(doc->cr, family,
                           font && font->italic ? CAIRO_FONT_SLANT_ITALIC : CAIRO_FONT_SLANT_NORMAL,
                           font && font->bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(doc->cr, size);
}

static double font_size(const struct pdfgen_font *font)
{
    return font && font->size > 0 ? font->size : 10;
}

bool pdfgen_font_installed(const char *family)
{
    /* Ask what the toy face resolved to: the FreeType face's family name. A scratch recording
     * surface keeps this independent of any document. */
    cairo_surface_t *surface = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, NULL);
    cairo_t *cr = cairo_create(surface);
    cairo_select_font_face(cr, family, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_scaled_font_t *scaled = cairo_get_scaled_font(cr);
    bool found = false;
    if (cairo_scaled_font_get_type(scaled) == CAIRO_FONT_TYPE_FT) {
        FT_Face face = cairo_ft_scaled_font_lock_face(scaled);
        if (face && face->family_name)
            found = g_ascii_strcasecmp(face->family_name, family) == 0;
        cairo_ft_scaled_font_unlock_face(scaled);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    return found;
}

double pdfgen_text_width(struct pdfgen_doc *doc, const struct pdfgen_font *font, const char *utf8)
{
    cairo_text_extents_t ext;
    set_font(doc, font);
    cairo_text_extents(doc->cr, utf8, &ext);
    return ext.x_advance;
}

double pdfgen_line_height(struct pdfgen_doc *doc, const struct pdfgen_font *font)
{
    cairo_font_extents_t ext;
    set_font(doc, font);
    cairo_font_extents(doc->cr, &ext);
    return ext.ascent + ext.descent;
}

static double font_ascent(struct pdfgen_doc *doc, const struct pdfgen_font *font)
{
    cairo_font_extents_t ext;
    set_font(doc, font);
    cairo_font_extents(doc->cr, &ext);
    return ext.ascent;
}

double pdfgen_text(struct pdfgen_doc *doc, double x, double y, const struct pdfgen_font *font,
                   enum pdfgen_align align, const char *utf8)
{
    double w = pdfgen_text_width(doc, font, utf8);
    if (align == PDFGEN_ALIGN_CENTER)
        x -= w / 2;
    else if (align == PDFGEN_ALIGN_RIGHT)
        x -= w;
    cairo_set_source_rgb(doc->cr, font->gray, font->gray, font->gray);
    cairo_move_to(doc->cr, x, y);
    cairo_show_text(doc->cr, utf8);
    cairo_new_path(doc->cr);
    return w;
}

/* A list of lines produced by wrap(); free with lines_free(). */
struct lines {
    char **line;
    size_t n, cap;
};

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->line[i]);
    free(l->line);
    l->line = NULL;
    l->n = l->cap = 0;
}

static int lines_push(struct lines *l, const char *s, size_t len)
{
    if (q_grow((void **)&l->line, sizeof(*l->line), &l->cap, l->n + 1))
        return QUIRE_ENOMEM;
    char *copy = q_strndup(s, len);
    if (!copy)
        return QUIRE_ENOMEM;
    l->line[l->n++] = copy;
    return 0;
}

/* Greedy word wrap of one paragraph (no '\n' inside) into lines no wider than `width` (<= 0 =
 * unlimited). Runs of spaces collapse to one. */
static int wrap_paragraph(struct pdfgen_doc *doc, const struct pdfgen_font *font, const char *s,
                          size_t len, double width, struct lines *out)
{
    GString *cur = g_string_new(NULL);
    GString *trial = g_string_new(NULL);
    size_t i = 0;
    int err = 0;
    bool any = false;
    while (i < len && !err) {
        while (i < len && s[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && s[i] != ' ')
            i++;
        if (i == start)
            break;
        g_string_assign(trial, cur->str);
        if (cur->len)
            g_string_append_c(trial, ' ');
        g_string_append_len(trial, s + start, (gssize)(i - start));
        if (cur->len && width > 0 && pdfgen_text_width(doc, font, trial->str) > width) {
            err = lines_push(out, cur->str, cur->len);
            g_string_assign(cur, "");
            g_string_append_len(cur, s + start, (gssize)(i - start));
        } else {
            g_string_assign(cur, trial->str);
        }
        any = true;
    }
    if (!err && (cur->len || !any))
        err = lines_push(out, cur->str, cur->len);
    g_string_free(cur, TRUE);
    g_string_free(trial, TRUE);
    return err;
}

/* Splits at '\n' and wraps each part. */
static int wrap(struct pdfgen_doc *doc, const struct pdfgen_font *font, const char *text,
                double width, struct lines *out)
{
    if (!text)
        text = "";
    for (;;) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        int err = wrap_paragraph(doc, font, text, len, width, out);
        if (err)
            return err;
        if (!nl)
            return 0;
        text = nl + 1;
    }
}

double pdfgen_paragraph(struct pdfgen_doc *doc, double x, double y, double width,
                        const struct pdfgen_font *font, const char *utf8, bool draw)
{
    struct lines lines = {0};
    if (wrap(doc, font, utf8, width, &lines)) {
        lines_free(&lines);
        return 0;
    }
    double pitch = LINE_PITCH * font_size(font);
    double ascent = font_ascent(doc, font);
    if (draw) {
        for (size_t i = 0; i < lines.n; i++)
            pdfgen_text(doc, x, y + ascent + (double)i * pitch, font, PDFGEN_ALIGN_LEFT,
                        lines.line[i]);
    }
    double h = (double)lines.n * pitch;
    lines_free(&lines);
    return h;
}

/* --- rules and boxes ---------------------------------------------------------------------- */

void pdfgen_line(struct pdfgen_doc *doc, double x0, double y0, double x1, double y1,
                 double line_width, double gray)
{
    cairo_set_source_rgb(doc->cr, gray, gray, gray);
    cairo_set_line_width(doc->cr, line_width);
    cairo_move_to(doc->cr, x0, y0);
    cairo_line_to(doc->cr, x1, y1);
    cairo_stroke(doc->cr);
}

void pdfgen_rect(struct pdfgen_doc *doc, struct rect r, double line_width, double fill_gray)
{
    cairo_rectangle(doc->cr, r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
    if (fill_gray >= 0 && fill_gray <= 1) {
        cairo_set_source_rgb(doc->cr, fill_gray, fill_gray, fill_gray);
        if (line_width > 0)
            cairo_fill_preserve(doc->cr);
        else
            cairo_fill(doc->cr);
    }
    if (line_width > 0) {
        cairo_set_source_rgb(doc->cr, 0, 0, 0);
        cairo_set_line_width(doc->cr, line_width);
        cairo_stroke(doc->cr);
    }
    cairo_new_path(doc->cr);
}

/* --- tables ------------------------------------------------------------------------------- */

void pdfgen_table_style_init(struct pdfgen_table_style *style)
{
    memset(style, 0, sizeof(*style));
    style->rules = PDFGEN_RULES_GRID;
    style->font.family = DEFAULT_FAMILY;
    style->font.size = 9;
    style->header_rows = 1;
    style->header_bold = true;
    style->header_gray = -1;
    style->zebra_gray = -1;
    style->pad_x = -1;
    style->pad_y = -1;
}

/* Everything the layout computes; freed by layout_release(). */
struct layout {
    int rows, cols;
    int *owner;             /* rows*cols: index of the anchor position covering each position */
    int *rowspan, *colspan; /* rows*cols, meaningful at anchors */
    struct lines *text;     /* rows*cols, filled at anchors */
    double *col_x;          /* cols+1 edges */
    double *row_y;          /* rows+1 edges */
    double pad_x, pad_y, pitch;
};

static void layout_release(struct layout *l)
{
    if (l->text)
        for (int i = 0; i < l->rows * l->cols; i++)
            lines_free(&l->text[i]);
    free(l->owner);
    free(l->rowspan);
    free(l->colspan);
    free(l->text);
    free(l->col_x);
    free(l->row_y);
}

static bool is_section(const struct pdfgen_table *t, int r)
{
    return t->section_rows && t->section_rows[r];
}

static struct pdfgen_font cell_font(const struct pdfgen_table *t,
                                    const struct pdfgen_table_style *s, int r)
{
    struct pdfgen_font f = s->font;
    if ((r < s->header_rows && s->header_bold) || is_section(t, r))
        f.bold = true;
    if (r < s->header_rows)
        f.gray = s->header_text_gray;
    return f;
}

/* Marks spans in owner/rowspan/colspan; QUIRE_EINVAL when one leaves the grid or overlaps. */
static int apply_spans(const struct pdfgen_table *t, struct layout *l)
{
    int cols = t->cols;
    for (int i = 0; i < t->rows * cols; i++) {
        l->owner[i] = i;
        l->rowspan[i] = l->colspan[i] = 1;
    }
    for (int k = 0; k < t->n_spans; k++) {
        const struct pdfgen_span *sp = &t->spans[k];
        if (sp->row < 0 || sp->col < 0 || sp->rowspan < 1 || sp->colspan < 1 ||
            sp->row + sp->rowspan > t->rows || sp->col + sp->colspan > cols)
            return QUIRE_EINVAL;
        int anchor = sp->row * cols + sp->col;
        for (int r = sp->row; r < sp->row + sp->rowspan; r++)
            for (int c = sp->col; c < sp->col + sp->colspan; c++) {
                int i = r * cols + c;
                if (l->owner[i] != i || (i != anchor && (l->rowspan[i] > 1 || l->colspan[i] > 1)))
                    return QUIRE_EINVAL;
                l->owner[i] = anchor;
            }
        if (l->rowspan[anchor] > 1 || l->colspan[anchor] > 1)
            return QUIRE_EINVAL;
        l->rowspan[anchor] = sp->rowspan;
        l->colspan[anchor] = sp->colspan;
    }
    return 0;
}

/* Wraps every anchor's text and sizes the columns and rows. */
static int measure(struct pdfgen_doc *doc, const struct pdfgen_table *t,
                   const struct pdfgen_table_style *s, struct layout *l)
{
    int rows = t->rows, cols = t->cols;
    double *need_w = q_calloc((size_t)(rows * cols), sizeof(double));
    if (!need_w)
        return QUIRE_ENOMEM;
    for (int i = 0; i < rows * cols; i++) {
        if (l->owner[i] != i)
            continue;
        int r = i / cols;
        struct pdfgen_font f = cell_font(t, s, r);
        /* A section row's text runs across the table: do not wrap it to a column. */
        double wrap_w = is_section(t, r) ? 0 : s->wrap_width;
        if (wrap(doc, &f, t->cells[i], wrap_w, &l->text[i])) {
            free(need_w);
            return QUIRE_ENOMEM;
        }
        for (size_t k = 0; k < l->text[i].n; k++) {
            double w = pdfgen_text_width(doc, &f, l->text[i].line[k]);
            if (w > need_w[i])
                need_w[i] = w;
        }
        need_w[i] += 2 * l->pad_x;
    }
    double *col_w = q_calloc((size_t)cols, sizeof(double));
    double *row_h = q_calloc((size_t)rows, sizeof(double));
    if (!col_w || !row_h) {
        free(need_w);
        free(col_w);
        free(row_h);
        return QUIRE_ENOMEM;
    }
    double min_w = 2 * l->pad_x + font_size(&s->font);
    for (int c = 0; c < cols; c++)
        col_w[c] = min_w;
    for (int r = 0; r < rows; r++)
        row_h[r] = 2 * l->pad_y + l->pitch;
    /* Single cells first, then spanning cells widen (heighten) what they cover evenly. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < rows * cols; i++) {
            if (l->owner[i] != i)
                continue;
            int r = i / cols, c = i % cols, rs = l->rowspan[i], cs = l->colspan[i];
            if ((pass == 0) != (cs == 1)) {
                /* width handled in the other pass */
            } else {
                double have = 0;
                for (int k = c; k < c + cs; k++)
                    have += col_w[k];
                if (need_w[i] > have)
                    for (int k = c; k < c + cs; k++)
                        col_w[k] += (need_w[i] - have) / cs;
            }
            if ((pass == 0) == (rs == 1)) {
                double need_h = 2 * l->pad_y + (double)l->text[i].n * l->pitch;
                double have = 0;
                for (int k = r; k < r + rs; k++)
                    have += row_h[k];
                if (need_h > have)
                    for (int k = r; k < r + rs; k++)
                        row_h[k] += (need_h - have) / rs;
            }
        }
    l->col_x[0] = 0;
    for (int c = 0; c < cols; c++)
        l->col_x[c + 1] = l->col_x[c] + col_w[c];
    l->row_y[0] = 0;
    for (int r = 0; r < rows; r++)
        l->row_y[r + 1] = l->row_y[r] + row_h[r];
    free(need_w);
    free(col_w);
    free(row_h);
    return 0;
}

/* Looks like a number, an amount or a date: starts (after signs, currency and brackets) with a
 * digit. Such cells are right-aligned, as in most financial and statistical tables. */
static bool looks_numeric(const char *s)
{
    if (!s)
        return false;
    while (*s == ' ' || *s == '(' || *s == '-' || *s == '+' || *s == '$')
        s++;
    static const char *const prefixes[] = {"\u20ac", "\u00a3", "\u00b1", "\u2212", "\u00a5"};
    for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++)
        if (strncmp(s, prefixes[k], strlen(prefixes[k])) == 0) {
            s += strlen(prefixes[k]);
            while (*s == ' ')
                s++;
            break;
        }
    return *s >= '0' && *s <= '9';
}

static struct rect cell_box(const struct layout *l, double x, double y, int i)
{
    int r = i / l->cols, c = i % l->cols;
    return (struct rect){x + l->col_x[c], y + l->row_y[r], x + l->col_x[c + l->colspan[i]],
                         y + l->row_y[r + l->rowspan[i]]};
}

static void draw_backgrounds(struct pdfgen_doc *doc, const struct pdfgen_table_style *s,
                             const struct layout *l, double x, double y)
{
    double right = x + l->col_x[l->cols];
    for (int r = 0; r < l->rows; r++) {
        double gray = -1;
        if (r < s->header_rows)
            gray = s->header_gray;
        else if ((r - s->header_rows) % 2 == 1)
            gray = s->zebra_gray;
        if (gray >= 0 && gray < 1)
            pdfgen_rect(doc, (struct rect){x, y + l->row_y[r], right, y + l->row_y[r + 1]}, 0,
                        gray);
    }
}

static void draw_text(struct pdfgen_doc *doc, const struct pdfgen_table *t,
                      const struct pdfgen_table_style *s, const struct layout *l, double x,
                      double y)
{
    for (int i = 0; i < l->rows * l->cols; i++) {
        if (l->owner[i] != i)
            continue;
        int r = i / l->cols, c = i % l->cols;
        struct pdfgen_font f = cell_font(t, s, r);
        struct rect box = cell_box(l, x, y, i);
        enum pdfgen_align align;
        if (is_section(t, r))
            align = PDFGEN_ALIGN_LEFT;
        else if (r < s->header_rows && (s->header_center || l->colspan[i] > 1))
            align = PDFGEN_ALIGN_CENTER;
        else if (t->col_align)
            align = t->col_align[c];
        else
            align = looks_numeric(t->cells[i]) && r >= s->header_rows ? PDFGEN_ALIGN_RIGHT
                                                                      : PDFGEN_ALIGN_LEFT;
        double ax = align == PDFGEN_ALIGN_LEFT    ? box.x0 + l->pad_x
                    : align == PDFGEN_ALIGN_RIGHT ? box.x1 - l->pad_x
                                                  : (box.x0 + box.x1) / 2;
        double text_h = (double)l->text[i].n * l->pitch;
        double top = box.y0 + l->pad_y;
        if (l->rowspan[i] > 1) /* merged down: centre vertically */
            top = (box.y0 + box.y1 - text_h) / 2;
        double ascent = font_ascent(doc, &f);
        for (size_t k = 0; k < l->text[i].n; k++)
            pdfgen_text(doc, ax, top + ascent + (double)k * l->pitch, &f, align,
                        l->text[i].line[k]);
    }
}

/* Horizontal rule under row r-1 / above row r (0 < r < rows), broken where a cell spans it. */
static void draw_row_boundary(struct pdfgen_doc *doc, const struct layout *l, double x, double y,
                              int r, double width)
{
    for (int c = 0; c < l->cols; c++) {
        if (l->owner[(r - 1) * l->cols + c] == l->owner[r * l->cols + c])
            continue;
        pdfgen_line(doc, x + l->col_x[c], y + l->row_y[r], x + l->col_x[c + 1], y + l->row_y[r],
                    width, 0);
    }
}

static void draw_rules(struct pdfgen_doc *doc, const struct pdfgen_table_style *s,
                       const struct layout *l, double x, double y)
{
    double lw = s->line_width > 0 ? s->line_width : 0.5;
    double right = x + l->col_x[l->cols], bottom = y + l->row_y[l->rows];
    int hr = s->header_rows < l->rows ? s->header_rows : l->rows;
    switch (s->rules) {
    case PDFGEN_RULES_GRID:
        for (int i = 0; i < l->rows * l->cols; i++)
            if (l->owner[i] == i)
                pdfgen_rect(doc, cell_box(l, x, y, i), lw, -1);
        break;
    case PDFGEN_RULES_BOOKTABS:
        pdfgen_line(doc, x, y, right, y, 2 * lw, 0);
        /* cmidrules under the spanning cells of upper header rows (multi-level headers) */
        for (int r = 0; r + 1 < hr; r++)
            for (int c = 0; c < l->cols; c++) {
                int i = r * l->cols + c;
                if (l->owner[i] != i || l->colspan[i] < 2)
                    continue;
                struct rect b = cell_box(l, x, y, i);
                pdfgen_line(doc, b.x0 + 2, b.y1, b.x1 - 2, b.y1, lw * 0.8, 0);
            }
        if (hr > 0 && hr < l->rows)
            pdfgen_line(doc, x, y + l->row_y[hr], right, y + l->row_y[hr], lw, 0);
        pdfgen_line(doc, x, bottom, right, bottom, 2 * lw, 0);
        break;
    case PDFGEN_RULES_HROWS:
        pdfgen_line(doc, x, y, right, y, lw, 0);
        for (int r = 1; r < l->rows; r++)
            draw_row_boundary(doc, l, x, y, r, r == hr ? 2 * lw : lw);
        pdfgen_line(doc, x, bottom, right, bottom, lw, 0);
        break;
    case PDFGEN_RULES_NONE:
        break;
    }
}

int pdfgen_table(struct pdfgen_doc *doc, double x, double y, const struct pdfgen_table *table,
                 const struct pdfgen_table_style *style, bool draw, struct rect *cell_boxes,
                 struct rect *bbox)
{
    if (!table || !style || table->rows < 1 || table->cols < 1 || !table->cells ||
        (table->n_spans > 0 && !table->spans) || table->rows > 10000 || table->cols > 1000)
        return QUIRE_EINVAL;
    int rows = table->rows, cols = table->cols, n = rows * cols;
    struct layout l = {.rows = rows, .cols = cols};
    l.owner = q_calloc((size_t)n, sizeof(int));
    l.rowspan = q_calloc((size_t)n, sizeof(int));
    l.colspan = q_calloc((size_t)n, sizeof(int));
    l.text = q_calloc((size_t)n, sizeof(struct lines));
    l.col_x = q_calloc((size_t)cols + 1, sizeof(double));
    l.row_y = q_calloc((size_t)rows + 1, sizeof(double));
    int err = QUIRE_ENOMEM;
    if (!l.owner || !l.rowspan || !l.colspan || !l.text || !l.col_x || !l.row_y)
        goto out_release;
    l.pad_x = style->pad_x >= 0 ? style->pad_x : 4;
    l.pad_y = style->pad_y >= 0 ? style->pad_y : 2;
    l.pitch = LINE_PITCH * font_size(&style->font);
    err = apply_spans(table, &l);
    if (err)
        goto out_release;
    err = measure(doc, table, style, &l);
    if (err)
        goto out_release;
    if (draw) {
        cairo_save(doc->cr);
        draw_backgrounds(doc, style, &l, x, y);
        draw_text(doc, table, style, &l, x, y);
        draw_rules(doc, style, &l, x, y);
        cairo_restore(doc->cr);
    }
    if (cell_boxes)
        for (int i = 0; i < n; i++)
            cell_boxes[i] = cell_box(&l, x, y, l.owner[i]);
    if (bbox)
        *bbox = (struct rect){x, y, x + l.col_x[cols], y + l.row_y[rows]};
out_release:
    layout_release(&l);
    return err;
}

/* --- broken and special files ------------------------------------------------------------- */

static cairo_status_t append_to_bytes(void *closure, const unsigned char *data, unsigned int len)
{
    g_byte_array_append(closure, data, len);
    return CAIRO_STATUS_SUCCESS;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return QUIRE_EIO;
    size_t written = fwrite(data, 1, len, f);
    int close_failed = fclose(f);
    return written == len && !close_failed ? 0 : QUIRE_EIO;
}

int pdfgen_write_truncated(const char *path, size_t keep)
{
    GByteArray *bytes = g_byte_array_new();
    int err = QUIRE_EIO;
    cairo_surface_t *surface = cairo_pdf_surface_create_for_stream(
        append_to_bytes, bytes, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT);
    struct pdfgen_doc *doc = doc_from_surface(surface, PDFGEN_A4_WIDTH, PDFGEN_A4_HEIGHT, &err);
    if (!doc)
        goto out_bytes;
    static const char *const cells[] = {"Item", "Qty",   "Price", "Apples", "12",
                                        "3.40", "Pears", "7",     "2.10"};
    struct pdfgen_table t = {.rows = 3, .cols = 3, .cells = cells};
    struct pdfgen_table_style s;
    pdfgen_table_style_init(&s);
    err = pdfgen_table(doc, 72, 72, &t, &s, true, NULL, NULL);
    int close_err = pdfgen_doc_close(doc);
    pdfgen_doc_free(doc);
    if (err || (err = close_err))
        goto out_bytes;
    if (keep == 0 || keep >= bytes->len)
        keep = bytes->len / 2;
    err = write_file(path, bytes->data, keep);
out_bytes:
    g_byte_array_free(bytes, TRUE);
    return err;
}

int pdfgen_write_not_pdf(const char *path)
{
    static const char text[] = "This is a plain text file named like a PDF.\n"
                               "It has no %PDF- header, no objects and no pages.\n";
    return write_file(path, text, sizeof(text) - 1);
}

/* --- the encrypted file: PDF 1.4 standard security handler, RC4 128-bit, revision 3 ---------- */

static const unsigned char password_pad[32] = {
    0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E, 0x56, 0xFF, 0xFA, 0x01, 0x08,
    0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68, 0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53, 0x69, 0x7A};

/* RC4 in place (encrypting and decrypting are the same operation). */
static void rc4(const unsigned char *key, size_t key_len, unsigned char *data, size_t len)
{
    unsigned char st[256];
    for (int i = 0; i < 256; i++)
        st[i] = (unsigned char)i;
    for (int i = 0, j = 0; i < 256; i++) {
        j = (j + st[i] + key[i % key_len]) & 255;
        unsigned char tmp = st[i];
        st[i] = st[j];
        st[j] = tmp;
    }
    for (size_t k = 0, i = 0, j = 0; k < len; k++) {
        i = (i + 1) & 255;
        j = (j + st[i]) & 255;
        unsigned char tmp = st[i];
        st[i] = st[j];
        st[j] = tmp;
        data[k] ^= st[(st[i] + st[j]) & 255];
    }
}

/* MD5 of the concatenation of up to three byte strings into out[16]. */
static void md5(const void *a, size_t a_len, const void *b, size_t b_len, const void *c,
                size_t c_len, unsigned char out[16])
{
    GChecksum *sum = g_checksum_new(G_CHECKSUM_MD5);
    g_checksum_update(sum, a, (gssize)a_len);
    if (b_len)
        g_checksum_update(sum, b, (gssize)b_len);
    if (c_len)
        g_checksum_update(sum, c, (gssize)c_len);
    gsize n = 16;
    g_checksum_get_digest(sum, out, &n);
    g_checksum_free(sum);
}

static void pad_password(const char *pw, unsigned char out[32])
{
    size_t n = strlen(pw);
    if (n > 32)
        n = 32;
    memcpy(out, pw, n);
    memcpy(out + n, password_pad, 32 - n);
}

/* RC4 with key, then 19 more rounds with the key XORed with the round number (revision 3). */
static void rc4_rounds(const unsigned char key[16], unsigned char *data, size_t len)
{
    rc4(key, 16, data, len);
    for (int round = 1; round <= 19; round++) {
        unsigned char k[16];
        for (int i = 0; i < 16; i++)
            k[i] = key[i] ^ (unsigned char)round;
        rc4(k, 16, data, len);
    }
}

static void md5_50(unsigned char digest[16])
{
    for (int i = 0; i < 50; i++)
        md5(digest, 16, NULL, 0, NULL, 0, digest);
}

static void append_hex(GString *s, const unsigned char *data, size_t len)
{
    g_string_append_c(s, '<');
    for (size_t i = 0; i < len; i++)
        g_string_append_printf(s, "%02X", data[i]);
    g_string_append_c(s, '>');
}

int pdfgen_write_encrypted(const char *path, const char *user_password, const char *owner_password,
                           const char *text)
{
    if (!user_password || !text)
        return QUIRE_EINVAL;
    if (!owner_password || !*owner_password)
        owner_password = user_password;
    const int32_t perms = -4; /* every permission */
    unsigned char id[16], owner_key[16], o_value[32], u_value[32], key[16], upad[32], opad[32];
    md5(text, strlen(text), "quire-pdfgen", 12, NULL, 0, id);
    pad_password(user_password, upad);
    pad_password(owner_password, opad);
    /* Algorithm 3: the O entry. */
    md5(opad, 32, NULL, 0, NULL, 0, owner_key);
    md5_50(owner_key);
    memcpy(o_value, upad, 32);
    rc4_rounds(owner_key, o_value, 32);
    /* Algorithm 2: the file key. */
    unsigned char p_le[4] = {(unsigned char)(perms & 0xff), (unsigned char)((perms >> 8) & 0xff),
                             (unsigned char)((perms >> 16) & 0xff),
                             (unsigned char)((perms >> 24) & 0xff)};
    GChecksum *sum = g_checksum_new(G_CHECKSUM_MD5);
    g_checksum_update(sum, upad, 32);
    g_checksum_update(sum, o_value, 32);
    g_checksum_update(sum, p_le, 4);
    g_checksum_update(sum, id, 16);
    gsize n = 16;
    g_checksum_get_digest(sum, key, &n);
    g_checksum_free(sum);
    md5_50(key);
    /* Algorithm 5: the U entry (16 bytes that matter, 16 of padding). */
    md5(password_pad, 32, id, 16, NULL, 0, u_value);
    rc4_rounds(key, u_value, 16);
    memcpy(u_value + 16, password_pad, 16);

    /* The page content, encrypted with the key of object 5 (Algorithm 1). */
    GString *content = g_string_new("BT /F1 12 Tf 72 720 Td (");
    for (const char *p = text; *p; p++) {
        if (*p == '(' || *p == ')' || *p == '\\')
            g_string_append_c(content, '\\');
        g_string_append_c(content, *p);
    }
    g_string_append(content, ") Tj ET\n");
    unsigned char obj_key[16], salt[5] = {5, 0, 0, 0, 0};
    md5(key, 16, salt, 5, NULL, 0, obj_key);
    rc4(obj_key, 16, (unsigned char *)content->str, content->len);

    GString *pdf = g_string_new("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
    size_t offsets[7];
    offsets[1] = pdf->len;
    g_string_append(pdf, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    offsets[2] = pdf->len;
    g_string_append(pdf, "2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
    offsets[3] = pdf->len;
    g_string_append(pdf, "3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                         "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>\nendobj\n");
    offsets[4] = pdf->len;
    g_string_append(pdf, "4 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                         "/Encoding /WinAnsiEncoding >>\nendobj\n");
    offsets[5] = pdf->len;
    g_string_append_printf(pdf, "5 0 obj\n<< /Length %zu >>\nstream\n", content->len);
    g_string_append_len(pdf, content->str, (gssize)content->len);
    g_string_append(pdf, "\nendstream\nendobj\n");
    offsets[6] = pdf->len;
    g_string_append(pdf, "6 0 obj\n<< /Filter /Standard /V 2 /R 3 /Length 128 /O ");
    append_hex(pdf, o_value, 32);
    g_string_append(pdf, " /U ");
    append_hex(pdf, u_value, 32);
    g_string_append_printf(pdf, " /P %d >>\nendobj\n", (int)perms);
    size_t xref = pdf->len;
    g_string_append(pdf, "xref\n0 7\n0000000000 65535 f \n");
    for (int i = 1; i < 7; i++)
        g_string_append_printf(pdf, "%010zu 00000 n \n", offsets[i]);
    g_string_append(pdf, "trailer\n<< /Size 7 /Root 1 0 R /Encrypt 6 0 R /ID [");
    append_hex(pdf, id, 16);
    append_hex(pdf, id, 16);
    g_string_append_printf(pdf, "] >>\nstartxref\n%zu\n%%%%EOF\n", xref);
    int err = write_file(path, pdf->str, pdf->len);
    g_string_free(content, TRUE);
    g_string_free(pdf, TRUE);
    return err;
}
