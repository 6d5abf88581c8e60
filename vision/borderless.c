/*
 * borderless.c - tables without rules, found from how the text lines up.
 *
 * Each text line is cut into segments at gaps wider than ~0.6 em (after wide gaps first, so a
 * line of justified prose with stretched spaces stays one segment; in a size of type the page
 * sets in a monospaced font, a one-advance gap is a word space). A segment of >= 5 words wider
 * than 30% of the text block is prose (a paragraph line, or one column of a two-column layout)
 * and takes no part, and so is a stack of left-aligned segments that reads as a ragged-right
 * paragraph (each line ends because the next one's first word would not fit); dot leaders are
 * set aside and remembered. Lines with >= 2 remaining segments
 * are "multi" lines; a run of them (allowing up to two single-segment lines in between, as
 * wrapped cells or section labels) is a candidate block. Prose that overlaps the block
 * horizontally ends it; prose beside it (the other column of the page) does not. After a blank,
 * rows in another size of type, or a bold header row below plain rows, begin the next block.
 *
 * A block is a table when the projection of its words leaves >= 2 columns, the outer columns are
 * supported by >= 25% of its lines (a stray word of the neighbouring page column is cut off), at
 * least three and half of the lines fill >= 2 columns, and it is not a bulleted/numbered list (two
 * columns, the first all bullets or enumerators) or a table of contents (dot leaders, or page
 * numbers that only grow in the last column beside plain titles).
 */
#include "vision_internal.h"

#include <ctype.h>
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum line_kind { LINE_SKIP, LINE_PROSE, LINE_SINGLE, LINE_MULTI };

struct line_info {
    enum line_kind kind;
    size_t *cells; /* word indices of the non-prose segments (into page->words) */
    size_t n_cells;
    int n_segments;     /* non-prose segments */
    struct rect extent; /* union of the non-prose words */
    struct rect prose;  /* union of the prose segments (empty when none) */
    bool has_prose;
    bool leader; /* the line holds dot leaders */
    bool used;   /* taken by a block already */
};

static double line_gap(const struct text_line *l)
{
    double fs = l->font_size > 0 ? l->font_size : rect_height(l->bbox);
    return fmax(0.6 * fs, 3.0);
}

/* Fills info for one line: its segments, which are prose, and its kind. */
static bool in_regions(const struct region *regions, size_t n, struct rect b)
{
    for (size_t i = 0; i < n; i++)
        if (rect_contains_point(regions[i].bbox, (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2))
            return true;
    return false;
}

static bool is_leader(const char *t)
{
    int dots = 0;
    for (const char *p = t; *p; p++) {
        if (*p == '.')
            dots++;
        else if (!strncmp(p, "\u2026", 3)) {
            dots += 3;
            p += 2;
        }
    }
    return dots >= 4;
}

/* A word made of dots only ("." or "...", or ellipses). */
static bool dot_word(const char *t)
{
    if (!*t)
        return false;
    for (; *t; t++) {
        if (*t == '.')
            continue;
        if (!strncmp(t, "\u2026", 3) || !strncmp(t, "\u00b7", 2)) {
            t += (unsigned char)*t == 0xe2 ? 2 : 1;
            continue;
        }
        return false;
    }
    return true;
}

/* A line's own words (those of regions already found left out), cut into segments. */
struct segment {
    size_t start, end; /* indices into own_words */
    struct rect box;
    bool long_text; /* >= 5 words and wider than 30% of the text block */
};

struct seg_line {
    size_t *own_words;
    size_t n_own;
    bool leader; /* dot leaders ("Title . . . . 12"): left out of own_words */
    struct segment *segs;
    size_t n_segs;
};

static void seg_line_release(struct seg_line *sl)
{
    free(sl->own_words);
    free(sl->segs);
}

/* The gap before own word k (k >= 1). */
static double word_gap(const struct page *page, const struct seg_line *sl, size_t k)
{
    return page->words[sl->own_words[k]].bbox.x0 - page->words[sl->own_words[k - 1]].bbox.x1;
}

/* True when own words [a, b) read as a line of justified prose: >= 6 words, mostly alphabetic,
 * with word gaps equal within a point or so (justification stretches every space of a line
 * alike) and no wider than 1.5 em, unlike a table row's mix of small gaps inside cells and large
 * ones between columns. */
static bool justified_prose(const struct page *page, const struct seg_line *sl, size_t a, size_t b)
{
    if (b - a < 6)
        return false;
    size_t alpha = 0;
    double lo = INFINITY, hi = 0, sum = 0;
    for (size_t k = a; k < b; k++) {
        const char *t = page->words[sl->own_words[k]].text;
        bool letter = false, digit = false;
        for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
            letter |= isalpha(*p) || *p >= 0x80;
            digit |= isdigit(*p);
        }
        alpha += letter && !digit;
        if (k > a) {
            double g = word_gap(page, sl, k);
            lo = fmin(lo, g);
            hi = fmax(hi, g);
            sum += g;
        }
    }
    double mean = sum / (double)(b - a - 1);
    double font = page->words[sl->own_words[a]].font_size;
    return alpha * 10 >= (b - a) * 7 && hi - lo <= 0.5 * mean + 1.5 &&
           (font <= 0 || mean <= 1.5 * font);
}

static bool has_letter(const char *t)
{
    for (; *t; t = g_utf8_next_char(t))
        if (g_unichar_isalpha(g_utf8_get_char(t)))
            return true;
    return false;
}

/* A word's width per character (points). */
static double word_advance(const struct word *w)
{
    long chars = g_utf8_strlen(w->text, -1);
    return chars > 0 ? rect_width(w->bbox) / (double)chars : 0;
}

/* The sizes of type on a page that are set in a monospaced font, with their advances: a size is
 * monospaced when its words of >= 3 characters with a letter are as wide as their characters
 * times one advance: 90% of them within 5% of the median, or, with fewer than 8 such words, all
 * of them (>= 3) within 4% (figures alone prove nothing: they are tabular in proportional fonts
 * too). A monospaced word space is a whole
 * advance, 0.6 em, as wide as the gap that cuts segments, so without this every word of a
 * monospaced line would be a segment (or a column) of its own. */
enum { MONO_SIZES = 16 };
struct mono_fonts {
    int n;
    double size[MONO_SIZES], advance[MONO_SIZES];
};

static int mono_fonts_find(const struct page *page, struct mono_fonts *m)
{
    memset(m, 0, sizeof *m);
    double sizes[MONO_SIZES];
    int n_sizes = 0;
    for (size_t i = 0; i < page->n_words && n_sizes < MONO_SIZES; i++) {
        double fs = page->words[i].font_size;
        bool seen = !(fs > 0);
        for (int k = 0; k < n_sizes && !seen; k++)
            seen = fabs(sizes[k] - fs) <= 0.05;
        if (!seen)
            sizes[n_sizes++] = fs;
    }
    double *ratio = q_malloc(sizeof(double) * (page->n_words + 1));
    if (!ratio)
        return QUIRE_ENOMEM;
    for (int k = 0; k < n_sizes; k++) {
        size_t n = 0;
        for (size_t i = 0; i < page->n_words; i++) {
            const struct word *w = &page->words[i];
            if (fabs(w->font_size - sizes[k]) <= 0.05 && g_utf8_strlen(w->text, -1) >= 3 &&
                has_letter(w->text))
                ratio[n++] = word_advance(w);
        }
        if (n < 3)
            continue;
        q_sort(ratio, n, sizeof ratio[0], q_cmp_double);
        double med = ratio[n / 2];
        size_t close = 0;
        for (size_t i = 0; i < n; i++)
            close += fabs(ratio[i] - med) <= 0.05 * med;
        bool mono = n >= 8 ? close * 10 >= n * 9 : ratio[n - 1] <= 1.04 * ratio[0];
        if (mono && m->n < MONO_SIZES) {
            m->size[m->n] = sizes[k];
            m->advance[m->n++] = med;
        }
    }
    free(ratio);
    return 0;
}

/* The advance of a word's size when that size is monospaced and the word is set at it, else 0. */
static double mono_word_advance(const struct mono_fonts *m, const struct word *w)
{
    for (int k = 0; k < m->n; k++)
        if (fabs(w->font_size - m->size[k]) <= 0.05)
            return fabs(word_advance(w) - m->advance[k]) <= 0.06 * m->advance[k] ? m->advance[k]
                                                                                 : 0;
    return 0;
}

/* True when the gap before words[k] is one monospaced word space: both words set in the same
 * monospaced size and the gap no wider than 1.2 advances. */
static bool mono_space(const struct page *page, const struct mono_fonts *m, const size_t *words,
                       size_t k)
{
    if (k == 0 || m->n == 0)
        return false;
    const struct word *p = &page->words[words[k - 1]], *w = &page->words[words[k]];
    double a = mono_word_advance(m, w);
    return a > 0 && mono_word_advance(m, p) == a && w->bbox.x0 - p->bbox.x1 <= 1.2 * a;
}

static int cut_line(const struct page *page, const struct mono_fonts *mono,
                    const struct text_line *l, double text_width, const struct region *regions,
                    size_t n_regions, struct seg_line *sl)
{
    memset(sl, 0, sizeof *sl);
    sl->own_words = q_malloc(sizeof(size_t) * (l->n_words + 1));
    sl->segs = q_malloc(sizeof(struct segment) * (l->n_words + 1));
    if (!sl->own_words || !sl->segs)
        return QUIRE_ENOMEM;
    int dots = 0;
    for (size_t k = 0; k < l->n_words; k++) {
        const struct word *w = &page->words[l->words[k]];
        if (in_regions(regions, n_regions, w->bbox))
            continue;
        if (dot_word(w->text)) {
            sl->leader |= is_leader(w->text) || ++dots >= 3;
            continue;
        }
        dots = 0;
        sl->leader |= is_leader(w->text); /* "Arson.........." */
        sl->own_words[sl->n_own++] = l->words[k];
    }
    /* Chunks at wide gaps (a page's gutter, a wide column gap); a chunk set as justified prose
     * is one long segment, others are cut at every gap wider than ~0.6 em. */
    double gap = line_gap(l), wide = 4.0 * gap;
    size_t c = 0;
    while (c < sl->n_own) {
        size_t ce = c + 1;
        while (ce < sl->n_own && word_gap(page, sl, ce) < wide)
            ce++;
        bool prose = justified_prose(page, sl, c, ce);
        size_t s = c;
        while (s < ce) {
            size_t e = s + 1;
            while (e < ce && (prose || word_gap(page, sl, e) < gap ||
                              mono_space(page, mono, sl->own_words, e)))
                e++;
            struct rect box = page->words[sl->own_words[s]].bbox;
            for (size_t k = s; k < e; k++)
                box = rect_union(box, page->words[sl->own_words[k]].bbox);
            bool long_text = prose || (e - s >= 5 && rect_width(box) > 0.3 * text_width);
            sl->segs[sl->n_segs++] = (struct segment){s, e, box, long_text};
            s = e;
        }
        c = ce;
    }
    return 0;
}

/* The segment of line j whose left edge lines up with x (within tol), or -1. */
static int aligned_segment(const struct seg_line *line, double x, double tol)
{
    for (size_t k = 0; k < line->n_segs; k++)
        if (fabs(line->segs[k].box.x0 - x) <= tol)
            return (int)k;
    return -1;
}

/* The smallest word gap inside a segment (its space width), or fallback for one word. */
static double segment_space(const struct page *page, const struct seg_line *line,
                            const struct segment *seg, double fallback)
{
    double space = INFINITY;
    for (size_t k = seg->start + 1; k < seg->end; k++)
        space = fmin(space, word_gap(page, line, k));
    return isfinite(space) ? space : fallback;
}

/* True for a word of letters without digits. */
static bool alphabetic(const char *t)
{
    bool letter = false, digit = false;
    for (; *t; t = g_utf8_next_char(t)) {
        gunichar c = g_utf8_get_char(t);
        letter |= g_unichar_isalpha(c);
        digit |= g_unichar_isdigit(c);
    }
    return letter && !digit;
}

/* True for a segment of >= 3 words, >= 70% of them words (letters, no digits): what a line of
 * prose holds, unlike a cell of figures ("728.5 ± 4.4"). */
static bool wordy(const struct page *page, const struct seg_line *line, const struct segment *seg)
{
    size_t n = seg->end - seg->start, alpha = 0;
    if (n < 3)
        return false;
    for (size_t k = seg->start; k < seg->end; k++)
        alpha += alphabetic(page->words[line->own_words[k]].text);
    return alpha * 10 >= n * 7;
}

/* Marks as prose the segments of ragged-right paragraphs too narrow for the length test: a page
 * column of short lines beside a table. Segments whose left edges line up on consecutive lines
 * form a stack; a line of a paragraph ends because the next line's first word would not have
 * fitted ("broken": its width + a space + that word > the stack's widest line), while the cells
 * of a table column mostly would have (a short cell leaves room). A stack of >= 4 lines whose
 * lines above its last are broken and wordy, >= 80% of them (60% when >= 60% of its lines are
 * long enough to be prose on their own), is prose, when >= 40% of its lines
 * below the first go on in lower case, as sentences run on and the labels of a column seldom do. */
static int mark_prose_stacks(const struct page *page, const struct text_line *lines,
                             struct seg_line *sl, size_t n)
{
    /* next[i][k]: the (line, segment) below segment k of line i, packed as line * stride + k. */
    size_t stride = 1;
    for (size_t i = 0; i < n; i++)
        stride = sl[i].n_segs + 1 > stride ? sl[i].n_segs + 1 : stride;
    long *next = q_malloc(sizeof(long) * (n * stride + 1));
    bool *has_prev = q_calloc(n * stride + 1, sizeof(bool));
    long *chain = q_malloc(sizeof(long) * (n + 1));
    if (!next || !has_prev || !chain) {
        free(next);
        free(has_prev);
        free(chain);
        return QUIRE_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sl[i].n_segs; k++) {
            const struct segment *s = &sl[i].segs[k];
            double h = rect_height(s->box);
            next[i * stride + k] = -1;
            for (size_t j = i + 1; j < n && lines[j].bbox.y0 - s->box.y1 <= 1.2 * h; j++) {
                if (lines[j].bbox.y0 < s->box.y1 - 0.3 * h)
                    continue; /* on the same baseline band: not the line below */
                int t = aligned_segment(&sl[j], s->box.x0, 1.5);
                if (t < 0)
                    continue;
                double th = rect_height(sl[j].segs[t].box);
                if (fabs(th - h) > 0.25 * h)
                    break; /* another size of type: not the same paragraph */
                next[i * stride + k] = (long)(j * stride + (size_t)t);
                has_prev[j * stride + (size_t)t] = true;
                break;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sl[i].n_segs; k++) {
            if (has_prev[i * stride + k])
                continue; /* not the top of a stack */
            size_t len = 0, long_lines = 0;
            double widest = 0;
            for (long c = (long)(i * stride + k); c >= 0 && len < n; c = next[c]) {
                chain[len++] = c;
                const struct segment *s = &sl[c / (long)stride].segs[c % (long)stride];
                widest = fmax(widest, rect_width(s->box));
                long_lines += s->long_text;
            }
            if (len < 4)
                continue;
            size_t broken = 0, lower = 0;
            for (size_t m = 0; m + 1 < len; m++) {
                const struct seg_line *line = &sl[chain[m] / (long)stride];
                const struct segment *s = &line->segs[chain[m] % (long)stride];
                const struct seg_line *below = &sl[chain[m + 1] / (long)stride];
                const struct segment *t = &below->segs[chain[m + 1] % (long)stride];
                double first = rect_width(page->words[below->own_words[t->start]].bbox);
                double space = segment_space(page, line, s, 0.25 * rect_height(s->box));
                if (wordy(page, line, s) && rect_width(s->box) + space + first > widest - 0.5)
                    broken++;
                gunichar c = g_utf8_get_char(page->words[below->own_words[t->start]].text);
                lower += g_unichar_islower(c);
            }
            /* Mostly long lines already: the short ones are the ends of its paragraphs. */
            double need = long_lines * 10 >= len * 6 ? 0.6 : 0.8;
            if ((double)broken < need * (double)(len - 1) || (double)lower < 0.4 * (double)(len - 1))
                continue;
            for (size_t m = 0; m < len; m++)
                sl[chain[m] / (long)stride].segs[chain[m] % (long)stride].long_text = true;
        }
    }
    free(next);
    free(has_prev);
    free(chain);
    return 0;
}

/* True for a word that reads as a value in a table: a number with its separators, sign,
 * parentheses, percent or currency ("1,234.5", "(0.21)", "-4.3%", "$12", "€5"), or a dash. */
static bool value_word(const char *t)
{
    bool digit = false;
    for (const char *p = t; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_isdigit(c))
            digit = true;
        else if (!strchr(",.()%+-$*", (int)(c < 128 ? c : 'x')) && c != 0x20AC /* € */ &&
                 c != 0xA3 /* £ */ && c != 0xA5 /* ¥ */ && c != 0x2212 /* − */ &&
                 c != 0x2013 && c != 0x2014)
            return false;
    }
    return digit || !strcmp(t, "-") || !strcmp(t, "\u2013") || !strcmp(t, "\u2014");
}

/* A long first segment followed only by short values ("Number of outstanding units at 31
 * December      520,691") is a row label, not a line of prose: prose does not end in a column
 * of numbers set apart by a wide gap. */
static bool label_and_values(const struct page *page, const struct seg_line *line)
{
    if (line->n_segs < 2 || !line->segs[0].long_text)
        return false;
    for (size_t k = 1; k < line->n_segs; k++) {
        const struct segment *seg = &line->segs[k];
        if (seg->long_text || seg->end - seg->start > 3)
            return false;
        for (size_t w = seg->start; w < seg->end; w++)
            if (!value_word(page->words[line->own_words[w]].text))
                return false;
    }
    return true;
}

/* Fills info for line i: which segments are prose (the long ones: a line of a paragraph or of a
 * page column; a table cell this long is rare, and wraps, except a row label followed by values)
 * and the line's kind. */
static int classify_line(const struct page *page, const struct seg_line *sl, size_t i,
                         struct line_info *info)
{
    memset(info, 0, sizeof *info);
    const struct seg_line *line = &sl[i];
    info->cells = q_malloc(sizeof(size_t) * (line->n_own + 1));
    if (!info->cells)
        return QUIRE_ENOMEM;
    info->extent = (struct rect){INFINITY, INFINITY, -INFINITY, -INFINITY};
    info->prose = info->extent;
    info->leader = line->leader;
    bool label = label_and_values(page, line);
    for (size_t k = 0; k < line->n_segs; k++) {
        const struct segment *seg = &line->segs[k];
        if (seg->long_text && !(label && k == 0)) {
            info->prose = rect_union(info->prose, seg->box);
            info->has_prose = true;
            continue;
        }
        for (size_t w = seg->start; w < seg->end; w++)
            info->cells[info->n_cells++] = line->own_words[w];
        info->extent = rect_union(info->extent, seg->box);
        info->n_segments++;
    }
    info->kind = line->n_own == 0        ? LINE_SKIP
                 : info->n_segments >= 2 ? LINE_MULTI
                 : info->n_segments == 1 ? LINE_SINGLE
                                         : LINE_PROSE;
    return 0;
}

/* True when the line opens like a table's caption: "Table 3:", "Tab. 2", "TABLE IV." (and the
 * word in a few other languages), a number or numeral right after it. A caption sits just above
 * a table in most papers and reports (LaTeX sets it one line above); it is not a header row. */
static bool caption_line(const struct page *page, const struct text_line *line)
{
    static const char *names[] = {"table", "tab.", "tabelle", "tableau", "tabla", "tabela",
                                  "tabella", "tabel"};
    if (line->n_words < 2)
        return false;
    const char *first = page->words[line->words[0]].text;
    const char *next = page->words[line->words[1]].text;
    bool named = false;
    for (size_t i = 0; i < sizeof names / sizeof *names && !named; i++)
        named = g_ascii_strcasecmp(first, names[i]) == 0;
    if (!named)
        return false;
    if (g_ascii_isdigit(next[0]))
        return true;
    size_t roman = strspn(next, "IVXLC");
    return roman > 0 && (next[roman] == '\0' || strchr(".:", next[roman]));
}

/* True when every cell word of the line is bold (a header row). */
static bool all_bold(const struct page *page, const struct line_info *li)
{
    for (size_t k = 0; k < li->n_cells; k++)
        if (!page->words[li->cells[k]].bold)
            return false;
    return li->n_cells > 0;
}

static bool h_overlap(struct rect a, struct rect b)
{
    return a.x0 < b.x1 && b.x0 < a.x1;
}

/* Where a line's words lie against a block's extent (for header lines above it). */
enum over { OVER_NO, OVER_KEEP, OVER_BESIDE };

/* A line reaching beyond the block's extent. Its words within the extent, or (a line of
 * several segments: column headers wider than their columns) reaching at most 3 em beyond it,
 * are the block's; the others must lie on one side only, at least 1.5 em from the extent (the
 * page's other column). Then the line keeps only the block's words (OVER_KEEP), or is beside
 * the block when it has none (OVER_BESIDE); otherwise (a title wider than the table, a word
 * across its edge) OVER_NO. */
static enum over keep_words_over(const struct page *page, struct line_info *li,
                                 struct rect extent, double font)
{
    double em = font > 0 ? font : 10, slack = li->kind == LINE_MULTI ? 3 * em : 10;
    double lo = extent.x0 - slack, hi = extent.x1 + slack;
    size_t inside = 0;
    int left = 0, right = 0;
    for (size_t k = 0; k < li->n_cells; k++) {
        struct rect b = page->words[li->cells[k]].bbox;
        if (b.x0 >= lo && b.x1 <= hi)
            inside++;
        else if (b.x1 <= extent.x0 - 1.5 * em)
            left = 1;
        else if (b.x0 >= extent.x1 + 1.5 * em)
            right = 1;
        else
            return OVER_NO; /* a word across the edge, or just beside it */
    }
    if (left && right)
        return OVER_NO;
    if (!inside)
        return left || right ? OVER_BESIDE : OVER_NO;
    size_t n = 0;
    li->extent = (struct rect){INFINITY, INFINITY, -INFINITY, -INFINITY};
    for (size_t k = 0; k < li->n_cells; k++) {
        struct rect b = page->words[li->cells[k]].bbox;
        if (b.x0 >= lo && b.x1 <= hi) {
            li->cells[n++] = li->cells[k];
            li->extent = rect_union(li->extent, b);
        }
    }
    li->n_cells = n;
    return OVER_KEEP;
}

static bool is_bullet(const char *t)
{
    size_t n = strlen(t);
    if (!strcmp(t, "\u2022") || !strcmp(t, "\u25cf") || !strcmp(t, "\u25aa") ||
        !strcmp(t, "\u2013") || !strcmp(t, "-") || !strcmp(t, "*") || !strcmp(t, "\u25e6") ||
        !strcmp(t, "\u2014") || !strcmp(t, "o"))
        return true;
    /* Enumerators: "1." "12)" "a)" "(iv)" "ii." */
    if (n >= 2 && n <= 5 && (t[n - 1] == '.' || t[n - 1] == ')')) {
        for (size_t i = t[0] == '(' ? 1 : 0; i < n - 1; i++)
            if (!isalnum((unsigned char)t[i]))
                return false;
        return true;
    }
    return false;
}

static bool is_integer(const char *t, long *v)
{
    char *end;
    if (!isdigit((unsigned char)t[0]))
        return false;
    *v = strtol(t, &end, 10);
    return *end == '\0';
}

/* Checks a candidate block (lines a..b of info) and appends its region when it is a table. */
static int judge_block(const struct page *page, const struct text_line *lines,
                       struct line_info *info, size_t a, size_t b, double font,
                       struct region **regions, size_t *n_regions, size_t *cap)
{
    size_t n = b - a + 1;
    int err = 0;
    struct text_line *sub = q_calloc(n, sizeof *sub);
    struct column_gap *gaps = NULL;
    size_t n_gaps = 0;
    int *support = NULL, *first_col = NULL;
    if (!sub)
        return QUIRE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        sub[i] = lines[a + i];
        sub[i].words = info[a + i].cells;
        sub[i].n_words = info[a + i].n_cells;
    }
    struct rect all = {-INFINITY, -INFINITY, INFINITY, INFINITY};
    err = vision_column_gaps(page, sub, n, all, fmax(0.5 * font, 2.5), &gaps, &n_gaps);
    if (err || n_gaps == 0)
        goto out;
    size_t n_cols = n_gaps + 1;
    support = q_calloc(n_cols, sizeof(int));
    first_col = q_malloc(sizeof(int) * n);
    if (!support || !first_col) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    /* Which columns each line fills. */
    for (size_t i = 0; i < n; i++) {
        int last = -1;
        first_col[i] = -1;
        for (size_t k = 0; k < sub[i].n_words; k++) {
            struct rect w = page->words[sub[i].words[k]].bbox;
            double cx = (w.x0 + w.x1) / 2;
            int c = 0;
            while ((size_t)c < n_gaps && cx > gaps[c].core)
                c++;
            if (c != last)
                support[c]++;
            if (first_col[i] < 0)
                first_col[i] = c;
            last = c;
        }
    }
    /* Cut off weakly supported outer columns. */
    size_t filled = 0;
    for (size_t i = 0; i < n; i++)
        filled += sub[i].n_words > 0;
    size_t lo = 0, hi = n_cols - 1;
    while (lo < hi && (double)support[lo] < 0.25 * (double)filled)
        lo++;
    while (hi > lo && (double)support[hi] < 0.25 * (double)filled)
        hi--;
    if (hi - lo < 1)
        goto out;
    double left = lo == 0 ? -INFINITY : gaps[lo - 1].core;
    double right = hi == n_cols - 1 ? INFINITY : gaps[hi].core;
    struct rect box = {INFINITY, INFINITY, -INFINITY, -INFINITY};
    int multi = 0, leaders = 0, bullets = 0, firsts = 0;
    int ints_last = 0, ints_first = 0, numeric_other = 0;
    long prev_page = -1;
    bool increasing = true;
    for (size_t i = 0; i < n; i++) {
        int cols = 0, last = -1;
        const char *first_text = NULL, *last_text = NULL;
        for (size_t k = 0; k < sub[i].n_words; k++) {
            const struct word *w = &page->words[sub[i].words[k]];
            double cx = (w->bbox.x0 + w->bbox.x1) / 2;
            if (cx < left || cx > right)
                continue;
            int c = 0;
            while ((size_t)c < n_gaps && cx > gaps[c].core)
                c++;
            if (c != last)
                cols++;
            last = c;
            box = rect_union(box, w->bbox);
            if (!first_text)
                first_text = w->text;
            last_text = w->text;
        }
        if (cols >= 2)
            multi++;
        if (cols >= 1 && info[a + i].leader)
            leaders++;
        if (first_text) {
            long v;
            firsts++;
            if (is_bullet(first_text))
                bullets++;
            if (is_integer(first_text, &v))
                ints_first++;
            if (cols >= 2 && is_integer(last_text, &v)) {
                ints_last++;
                if (v < prev_page)
                    increasing = false;
                prev_page = v;
            } else if (cols >= 2) {
                numeric_other++;
            }
        }
    }
    if (multi < 3 || (double)multi < 0.5 * (double)firsts)
        goto out;
    size_t kept = hi - lo + 1;
    if (kept == 2 && bullets >= 0.8 * firsts)
        goto out; /* a list */
    if (leaders >= 0.3 * firsts)
        goto out; /* a table of contents with dot leaders */
    if (kept <= 3 && increasing && ints_last >= 0.8 * multi && numeric_other == 0 &&
        ints_first < 0.5 * firsts && ints_last >= 3)
        goto out; /* a table of contents: titles and growing page numbers */
    for (size_t k = 0; k < *n_regions; k++)
        if (rect_overlap_area((*regions)[k].bbox, box) > 0)
            goto out; /* it would swallow a more certain region */
    double confidence = fmin(0.95, 0.45 + 0.05 * multi + 0.05 * (double)kept);
    err = q_grow((void **)regions, sizeof **regions, cap, *n_regions + 1);
    if (!err)
        (*regions)[(*n_regions)++] = (struct region){box, confidence, REGION_BORDERLESS, 0};
out:
    free(sub);
    free(gaps);
    free(support);
    free(first_col);
    return err;
}

int vision__borderless_regions(const struct page *page, const struct vision_options *o,
                               struct region **regions, size_t *n_regions, size_t *cap)
{
    struct text_line *lines = NULL;
    size_t n = 0;
    struct rect all = {-INFINITY, -INFINITY, INFINITY, INFINITY};
    int err = vision_text_lines(page, all, &lines, &n);
    if (err)
        return err;
    struct line_info *info = q_calloc(n + 1, sizeof *info);
    if (!info) {
        vision_text_lines_free(lines, n);
        return QUIRE_ENOMEM;
    }
    double x0 = INFINITY, x1 = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        x0 = fmin(x0, lines[i].bbox.x0);
        x1 = fmax(x1, lines[i].bbox.x1);
    }
    double font = vision__median_font(page);
    size_t existing = *n_regions;
    struct mono_fonts mono;
    struct seg_line *sl = q_calloc(n + 1, sizeof *sl);
    if (!sl)
        err = QUIRE_ENOMEM;
    if (!err)
        err = mono_fonts_find(page, &mono);
    for (size_t i = 0; i < n && !err; i++)
        err = cut_line(page, &mono, &lines[i], x1 - x0, *regions, existing, &sl[i]);
    if (!err)
        err = mark_prose_stacks(page, lines, sl, n);
    for (size_t i = 0; i < n && !err; i++)
        err = classify_line(page, sl, i, &info[i]);
    for (size_t i = 0; sl && i < n; i++)
        seg_line_release(&sl[i]);
    free(sl);
    /* Grow blocks of multi lines. */
    size_t i = 0;
    while (i < n && !err) {
        if (info[i].kind != LINE_MULTI || info[i].used) {
            i++;
            continue;
        }
        size_t start = i, end = i;
        struct rect extent = info[i].extent;
        int singles = 0;
        /* last: the last line taken (multi or single); row_gap: the widest gap seen between two
         * consecutive multi lines, so a table set with wide row spacing is not cut at its
         * section labels. */
        size_t last = i;
        double row_gap = 0;
        size_t j = i + 1, resume = n; /* resume: the first multi line beside the block */
        for (; j < n; j++) {
            struct line_info *li = &info[j];
            if (li->used)
                continue;
            double height = fmax(rect_height(lines[end].bbox), rect_height(lines[j].bbox));
            double gap = lines[j].bbox.y0 - lines[last].bbox.y1;
            if (li->kind == LINE_SKIP || gap > fmax(2.6 * height, 1.8 * row_gap))
                break;
            if (li->kind == LINE_PROSE || (li->has_prose && h_overlap(li->prose, extent))) {
                if (h_overlap(li->prose, extent))
                    break;
                continue; /* prose beside the block: the page's other column */
            }
            if (!h_overlap(li->extent, extent)) {
                if (li->kind == LINE_MULTI && resume == n)
                    resume = j; /* a table beside this one */
                continue;
            }
            /* Rows in another size of type, or a bold header row below plain rows, after a
             * blank: the next table. */
            double size = lines[end].font_size;
            if (li->kind == LINE_MULTI && gap > 0.8 * height && size > 0 &&
                fabs(lines[j].font_size - size) > 0.12 * size)
                break;
            if (li->kind == LINE_MULTI && gap > 1.2 * height && all_bold(page, li) &&
                !all_bold(page, &info[end]))
                break;
            if (li->kind == LINE_SINGLE) {
                if (++singles > 2)
                    break;
                last = j;
                continue;
            }
            if (last == end)
                row_gap = fmax(row_gap, gap);
            singles = 0;
            extent = rect_union(extent, li->extent);
            end = last = j;
        }
        /* Header lines just above the first multi line (a spanning header is one segment).
         * Prose beside the block (the page's other column) is passed over, and so are the
         * words of a header line that lie in that other column. */
        size_t top = start;
        for (size_t k = start, taken = 0; k-- > 0 && taken < 3;) {
            struct line_info *li = &info[k];
            if (li->used || (li->has_prose && h_overlap(li->prose, extent)))
                break;
            if (li->kind == LINE_PROSE)
                continue;
            const struct text_line *above = &lines[k], *first = &lines[top];
            double gap = first->bbox.y0 - above->bbox.y1;
            /* A table set with wide row spacing keeps it above its first row too. */
            double reach = fmax(1.2 * rect_height(first->bbox), 1.3 * row_gap);
            if ((li->kind != LINE_SINGLE && li->kind != LINE_MULTI) || gap > reach ||
                caption_line(page, above))
                break;
            if (li->extent.x0 < extent.x0 - 10 || li->extent.x1 > extent.x1 + 10) {
                enum over over = keep_words_over(page, li, extent, above->font_size);
                if (over == OVER_BESIDE)
                    continue;
                if (over == OVER_NO)
                    break;
            }
            top = k;
            taken++;
        }
        start = top;
        /* Lines start..end, leaving out those beside the block. */
        struct line_info *saved = q_malloc(sizeof *saved * (end - start + 1));
        if (!saved) {
            err = QUIRE_ENOMEM;
            break;
        }
        for (size_t k = start; k <= end; k++) {
            saved[k - start] = info[k];
            if (info[k].kind == LINE_PROSE || info[k].kind == LINE_SKIP || info[k].used ||
                !h_overlap(info[k].extent, extent))
                info[k].n_cells = 0;
            else
                info[k].used = true;
        }
        size_t before = *n_regions;
        if (end > start)
            err = judge_block(page, lines, info, start, end, font, regions, n_regions, cap);
        for (size_t k = start; k <= end; k++) {
            info[k].n_cells = saved[k - start].n_cells;
            if (*n_regions == before)
                info[k].used = saved[k - start].used; /* not a table: the header of the next? */
        }
        free(saved);
        i = resume < end + 1 ? resume : end + 1;
    }
    for (size_t k = 0; k < n; k++)
        free(info[k].cells);
    free(info);
    vision_text_lines_free(lines, n);
    (void)o;
    return err;
}

int vision__column_stats(const struct page *page, struct rect area, struct column_stats *out)
{
    memset(out, 0, sizeof *out);
    struct text_line *lines = NULL;
    size_t n = 0;
    int err = vision_text_lines(page, area, &lines, &n);
    if (err)
        return err;
    struct column_gap *gaps = NULL;
    size_t n_gaps = 0;
    double font = vision__median_font(page);
    struct mono_fonts mono;
    err = mono_fonts_find(page, &mono);
    if (!err)
        err = vision__column_gaps(page, lines, n, area, fmax(0.5 * font, 2.5), 0, &gaps,
                                  &n_gaps);
    if (!err) {
        out->n_lines = (int)n;
        out->n_columns = n ? (int)n_gaps + 1 : 0;
        for (size_t i = 0; i < n; i++) {
            int cols = 0, last = -1, run = 0, spaced_run = 0, plain = 0;
            bool prose = false;
            /* Monospaced words one advance apart run on across column gaps: a sentence. */
            for (size_t k = 0; k < lines[i].n_words; k++) {
                struct rect w = page->words[lines[i].words[k]].bbox;
                double cx = (w.x0 + w.x1) / 2;
                int c = 0;
                while ((size_t)c < n_gaps && cx > gaps[c].core)
                    c++;
                bool spaced = mono_space(page, &mono, lines[i].words, k);
                if (c != last)
                    cols++;
                if (c != last && !spaced)
                    run = spaced_run = plain = 0;
                else if (c != last)
                    spaced_run = 1; /* the run crosses a column gap: it must read as words */
                const struct word *word = &page->words[lines[i].words[k]];
                plain += alphabetic(word->text) && !word->bold; /* bold: a header, not prose */
                run++;
                /* Six words in one column are a sentence when most are plain words (letters,
                 * no digits, not bold); a run that crosses a column gap must be plainer still. */
                prose |= run >= 6 && plain * 10 >= run * (spaced_run ? 8 : 6);
                last = c;
            }
            if (cols >= 2)
                out->multi_lines++;
            if (prose)
                out->prose_lines++;
        }
    }
    free(gaps);
    vision_text_lines_free(lines, n);
    return err;
}
