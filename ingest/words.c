/*
 * words.c - the text layer of a Poppler page as a list of words with boxes and fonts.
 *
 * poppler_page_get_text() gives the page's text in reading order and
 * poppler_page_get_text_layout() one rectangle per character of that text; the text attributes
 * give font name and size per character range. A word is a run of non-space characters on one
 * line; a run is also cut where the gap between two characters is wide (PDFs often position
 * table cells without a space between them) or where the text jumps backwards.
 */
#include "ingest_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct char_info {
    gunichar ch;
    const char *utf8;       /* start of the character in the text */
    int utf8_len;
    PopplerRectangle rect;  /* y1 > y0, top-left origin */
    double font_size;
    bool bold;
    int line;
};

static bool font_is_bold(const char *name)
{
    if (!name)
        return false;
    return strstr(name, "Bold") || strstr(name, "bold") || strstr(name, "Black") ||
           strstr(name, "Heavy") || strstr(name, "Semibold") || strstr(name, "Demi");
}

/* Direction of travel between two characters of one word: 0 = left to right, 90 = top to
 * bottom, 270 = bottom to top, 180 = right to left. */
static int direction(const PopplerRectangle *a, const PopplerRectangle *b)
{
    double dx = (b->x1 + b->x2) / 2 - (a->x1 + a->x2) / 2;
    double dy = (b->y1 + b->y2) / 2 - (a->y1 + a->y2) / 2;
    if (fabs(dx) >= fabs(dy))
        return dx >= 0 ? 0 : 180;
    return dy >= 0 ? 90 : 270;
}

static int push_word(struct page *page, size_t *cap, const struct char_info *c, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += (size_t)c[i].utf8_len;
    char *text = q_malloc(bytes + 1);
    if (!text)
        return QUIRE_ENOMEM;
    size_t at = 0;
    struct rect box = {c[0].rect.x1, c[0].rect.y1, c[0].rect.x2, c[0].rect.y2};
    double size = 0;
    int bold = 0;
    bool ascii = true;
    for (size_t i = 0; i < n; i++) {
        ascii = ascii && c[i].ch < 0x80;
        memcpy(text + at, c[i].utf8, (size_t)c[i].utf8_len);
        at += (size_t)c[i].utf8_len;
        struct rect r = {c[i].rect.x1, c[i].rect.y1, c[i].rect.x2, c[i].rect.y2};
        box = rect_union(box, r);
        size = c[i].font_size > size ? c[i].font_size : size;
        bold += c[i].bold;
    }
    text[at] = '\0';
    /* Composed form (NFC): TeX's Type 1 fonts give an accented letter as the base letter and a
     * combining accent ("n" U+0301), which neither compares nor searches equal to "\u0144".
     * ASCII is its own NFC: most words skip the allocation. */
    char *nfc = ascii ? NULL : g_utf8_normalize(text, (gssize)at, G_NORMALIZE_NFC);
    if (nfc && strcmp(nfc, text) != 0) {
        char *composed = q_strdup(nfc);
        if (!composed) {
            g_free(nfc);
            free(text);
            return QUIRE_ENOMEM;
        }
        free(text);
        text = composed;
    }
    g_free(nfc);
    if (q_grow((void **)&page->words, sizeof *page->words, cap, page->n_words + 1)) {
        free(text);
        return QUIRE_ENOMEM;
    }
    struct word *w = &page->words[page->n_words++];
    w->text = text;
    w->bbox = box;
    w->font_size = size;
    w->bold = bold * 2 > (int)n;
    w->line = c[0].line;
    w->rotation = n > 1 ? direction(&c[0].rect, &c[n - 1].rect) : 0;
    return 0;
}

/* True when next starts a new word after cur inside the same run of non-space characters:
 * a wide gap along the direction of the text, a step backwards, or a jump across it. */
static bool breaks_word(const struct char_info *cur, const struct char_info *next, int dir)
{
    double size = cur->font_size > 0 ? cur->font_size : 10;
    double gap, across;
    const PopplerRectangle *a = &cur->rect, *b = &next->rect;
    switch (dir) {
    case 0: gap = b->x1 - a->x2; across = fabs((b->y1 + b->y2) - (a->y1 + a->y2)) / 2; break;
    case 180: gap = a->x1 - b->x2; across = fabs((b->y1 + b->y2) - (a->y1 + a->y2)) / 2; break;
    case 90: gap = b->y1 - a->y2; across = fabs((b->x1 + b->x2) - (a->x1 + a->x2)) / 2; break;
    default: gap = a->y1 - b->y2; across = fabs((b->x1 + b->x2) - (a->x1 + a->x2)) / 2; break;
    }
    return gap > 0.6 * size || gap < -0.5 * size || across > 0.6 * size;
}

/* Unicode bidirectional formatting characters (LRE, RLE, PDF, LRM, RLM, isolates, BOM): Poppler
 * puts them around right-to-left runs in the text but gives them no rectangle in the layout. */
static bool is_format_char(gunichar c)
{
    return c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
           (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF;
}

int ingest__extract_words(PopplerPage *pp, struct page *page)
{
    char *text = poppler_page_get_text(pp);
    PopplerRectangle *rects = NULL;
    guint n_rects = 0;
    if (!text || !poppler_page_get_text_layout(pp, &rects, &n_rects) || n_rects == 0) {
        g_free(text);
        g_free(rects);
        return 0;
    }
    /* One rectangle per character of the text, except the bidi formatting characters Poppler
     * adds around right-to-left runs: those have no rectangle (nor text attributes), so they are
     * skipped here and the indices of chars[] are those of the layout and the attributes. */
    glong n_chars = g_utf8_strlen(text, -1);
    struct char_info *chars = q_calloc((size_t)n_rects, sizeof *chars);
    if (!chars) {
        g_free(text);
        g_free(rects);
        return QUIRE_ENOMEM;
    }
    const char *p = text;
    int line = 0;
    size_t n = 0;
    for (glong k = 0; k < n_chars && n < n_rects; k++, p = g_utf8_next_char(p)) {
        gunichar ch = g_utf8_get_char(p);
        if (is_format_char(ch))
            continue;
        struct char_info *c = &chars[n];
        c->ch = ch;
        c->utf8 = p;
        c->utf8_len = (int)(g_utf8_next_char(p) - p);
        c->rect = rects[n];
        if (c->rect.y1 > c->rect.y2) {
            double t = c->rect.y1;
            c->rect.y1 = c->rect.y2;
            c->rect.y2 = t;
        }
        c->line = line;
        if (ch == '\n')
            line++;
        n++;
    }
    GList *attrs = poppler_page_get_text_attributes(pp);
    for (GList *l = attrs; l; l = l->next) {
        const PopplerTextAttributes *a = l->data;
        for (int i = a->start_index; i <= a->end_index && i >= 0 && (size_t)i < n; i++) {
            chars[i].font_size = a->font_size;
            chars[i].bold = font_is_bold(a->font_name);
        }
    }
    poppler_page_free_text_attributes(attrs);

    int err = 0;
    size_t cap = 0, start = 0;
    int dir = 0;
    for (size_t i = 0; i <= n && !err; i++) {
        bool space = i == n || g_unichar_isspace(chars[i].ch) || chars[i].ch == 0xFFFD;
        if (!space && i > start) {
            if (i - start == 1)
                dir = direction(&chars[start].rect, &chars[i].rect);
            if (breaks_word(&chars[i - 1], &chars[i], dir)) {
                err = push_word(page, &cap, chars + start, i - start);
                start = i;
                continue;
            }
        }
        if (space) {
            if (i > start)
                err = push_word(page, &cap, chars + start, i - start);
            start = i + 1;
        }
    }
    for (size_t i = 0; i < page->n_words; i++)
        if (rect_width(page->words[i].bbox) > 0 && rect_height(page->words[i].bbox) > 0)
            page->has_text_layer = true;
    free(chars);
    g_free(text);
    g_free(rects);
    return err;
}
