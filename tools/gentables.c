/*
 * tools/gentables.c - a seeded generator of table PDFs and their ground truth.
 *
 * usage: gentables --out DIR --count N --seed S [--style STYLE[,STYLE...]]
 *   STYLE: all (default: the styles below in turn) | grid | booktabs | hrules | borderless |
 *          zebra | spans | multiline | twocol | notable; a comma-separated list is cycled;
 *          darkhead (white text on a dark header band) only when named
 *   Writes DIR/<style>-<NNNN>.pdf (file i gets the (i mod n)-th style) and DIR/truth.jsonl.
 *
 * Why: measuring table extraction needs many PDFs whose tables are known cell by cell, in the
 * layouts real documents use. This tool draws them with tests/support/pdfgen and writes
 * DIR/truth.jsonl, one line per page in the eval-dev cases format:
 *   {"id","source":"generated","pdf":"<file name relative to DIR>","page":P,
 *    "tables":[[[cell,...],...],...],"bboxes":[[x0,y0,x1,y1],...],"style":"<style>",
 *    "note":"<what is on the page>"}
 * Tables are listed top to bottom; a merged cell's text sits at its top-left position and the
 * positions it covers are ""; a multi-line cell's truth is its text with single spaces (the line
 * breaks are layout); pages without a table have "tables": []. "bboxes" gives each table's box
 * as drawn, in points from the page's top-left (for scoring table detection).
 *
 * What varies: fonts (DejaVu Sans/Serif/Sans Mono, Liberation Sans/Serif when installed, else
 * the DejaVu twin), sizes 7-12 pt, A4/Letter, portrait/landscape, content (phrases, numbers
 * with thousands separators, negatives in parentheses, percentages, currencies, dates, codes,
 * ±, —, accented Latin letters), empty cells, titles, captions and footnotes around tables,
 * one or two tables on a page, and pages with no table at all (paragraphs, a bulleted list, a
 * table of contents with dot leaders, a figure with axes and tick labels). File i's content
 * depends only on (seed, i, style), so a larger --count extends a set without changing it.
 *
 * The drawing itself is tests/support/pdfgen.c, which the Makefile links into the tools too.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"
#include "../tests/support/pdfgen.h"

/* --- random numbers: splitmix64, identical on every platform ------------------------------ */
struct rng {
    uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (inclusive). */
static int rng_int(struct rng *r, int lo, int hi)
{
    return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}
static bool rng_chance(struct rng *r, double p)
{
    return rng_unit(r) < p;
}
#define PICK(r, list) ((list)[rng_int((r), 0, (int)(sizeof(list) / sizeof((list)[0])) - 1)])

/* --- vocabulary --------------------------------------------------------------------------- */
/* clang-format off */
static const char *const labels[] = {
    "Zürich", "Malmö", "Düsseldorf", "Ålesund", "São Paulo", "Kraków", "Straße 12", "Søndergaard",
    "Crème brûlée", "Café Noir", "Revenue", "Operating costs", "Net income", "Total assets",
    "Cash and equivalents", "Accounts payable", "Inventories", "Goodwill", "Wages", "Rent",
    "North", "South", "East", "West", "Central", "Großhandel", "Université de Genève",
    "Île-de-France", "Bjørn Æsir", "Müller & Söhne", "Peñarol", "Öresund link", "Tier 1 capital",
    "Deferred tax", "Interest expense", "Other income", "Research", "Marketing", "Logistics",
    "Hamburg", "Lyon", "Porto", "Gdańsk", "Tromsø", "Señora López", "Ærø ferry"};
static const char *const words[] = {
    "annual", "report", "growth", "regional", "total", "change", "average", "median", "market",
    "share", "sales", "export", "import", "budget", "forecast", "actual", "variance", "quarter",
    "income", "cost", "price", "volume", "index", "survey", "sample", "population", "health",
    "energy", "transport", "housing", "déjà", "naïve", "façade", "über", "groß", "smørrebrød",
    "the", "of", "and", "for", "in", "with", "per", "net", "gross", "estimated", "adjusted"};
static const char *const groups[] = {"2022", "2023", "2024", "Domestic", "Export", "Q1–Q2",
                                     "Männer", "Frauen", "Actual", "Budget", "Urban", "Rural",
                                     "Before", "After", "Öffentlich", "Privé"};
static const char *const sections[] = {"Northern region", "Southern region", "Part A — goods",
                                       "Part B — services", "Société Générale holdings",
                                       "Continuing operations", "Discontinued operations",
                                       "Überseemärkte", "Other items"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const statuses[] = {"approved", "pending", "rejected", "n/a", "—", "Yes",
                                       "No", "très bien", "geöffnet", "closed", "open"};

enum coltype { COL_INT, COL_NEG, COL_PCT, COL_MONEY, COL_DATE, COL_CODE, COL_PLUSMINUS,
               COL_WORD, N_COLTYPES };
static const char *const headers[N_COLTYPES][4] = {
    {"Units", "Count", "Population", "Shipments"},
    {"Net change", "Profit (loss)", "Balance", "Δ vs prior"},
    {"Share", "Growth", "Margin", "Rate"},
    {"Price", "Revenue", "Cost", "Budget"},
    {"Date", "Issued", "Deadline", "Updated"},
    {"Code", "Ref.", "SKU", "ID"},
    {"Mean ± SD", "Value ± err", "Score ± CI", "Yield ± SE"},
    {"Status", "Notes", "Grade", "Größe"},
};

/* clang-format on */

/* "1,234,567" */
static char *thousands(long v)
{
    char digits[32];
    snprintf(digits, sizeof(digits), "%ld", v < 0 ? -v : v);
    GString *s = g_string_new(v < 0 ? "-" : "");
    size_t n = strlen(digits);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            g_string_append_c(s, ',');
        g_string_append_c(s, digits[i]);
    }
    return g_string_free(s, FALSE);
}

static long magnitude(struct rng *r)
{
    static const long tops[] = {99, 999, 9999, 99999, 999999, 9999999};
    return rng_int(r, 1, (int)PICK(r, tops));
}

/* One body value of a column of type t; `variant` keeps a column's format consistent. */
static char *gen_value(struct rng *r, enum coltype t, int variant)
{
    char *tmp, *out;
    switch (t) {
    case COL_INT:
        return thousands(magnitude(r));
    case COL_NEG:
        tmp = thousands(magnitude(r));
        out = rng_chance(r, 0.4) ? g_strdup_printf("(%s)", tmp) : g_strdup(tmp);
        g_free(tmp);
        return out;
    case COL_PCT:
        return variant % 2 ? g_strdup_printf("%.1f%%", rng_int(r, -200, 999) / 10.0)
                           : g_strdup_printf("%d%%", rng_int(r, 0, 100));
    case COL_MONEY: {
        tmp = thousands(magnitude(r));
        int cents = rng_int(r, 0, 99);
        static const char *const fmt[] = {"$%s.%02d", "€ %s.%02d", "£%s.%02d", "¥%s.%02d"};
        out = g_strdup_printf(fmt[variant % 4], tmp, cents);
        g_free(tmp);
        return out;
    }
    case COL_DATE: {
        int y = rng_int(r, 1998, 2025), m = rng_int(r, 1, 12), d = rng_int(r, 1, 28);
        switch (variant % 3) {
        case 0:
            return g_strdup_printf("%04d-%02d-%02d", y, m, d);
        case 1:
            return g_strdup_printf("%d %s %d", d, months[m - 1], y);
        default:
            return g_strdup_printf("%02d/%02d/%04d", m, d, y);
        }
    }
    case COL_CODE:
        switch (variant % 3) {
        case 0:
            return g_strdup_printf("%c%c-%04d", 'A' + rng_int(r, 0, 25), 'A' + rng_int(r, 0, 25),
                                   rng_int(r, 0, 9999));
        case 1:
            return g_strdup_printf("ISO %d", rng_int(r, 1000, 99999));
        default:
            return g_strdup_printf("#%c%d", 'A' + rng_int(r, 0, 25), rng_int(r, 10, 999));
        }
    case COL_PLUSMINUS:
        return g_strdup_printf("%.1f ± %.1f", rng_int(r, 0, 9999) / 10.0, rng_int(r, 1, 99) / 10.0);
    case COL_WORD:
    case N_COLTYPES:
        break;
    }
    return g_strdup(PICK(r, statuses));
}

/* A phrase of n words, capitalised. */
static char *gen_phrase(struct rng *r, int n)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < n; i++) {
        if (i)
            g_string_append_c(s, ' ');
        g_string_append(s, PICK(r, words));
    }
    if (s->len && s->str[0] >= 'a' && s->str[0] <= 'z')
        s->str[0] = (char)(s->str[0] - 'a' + 'A');
    return g_string_free(s, FALSE);
}

/* A sentence (for body text): a phrase, maybe a number, a full stop. */
static char *gen_sentence(struct rng *r)
{
    char *p = gen_phrase(r, rng_int(r, 6, 16));
    char *out;
    if (rng_chance(r, 0.3)) {
        char *n = thousands(magnitude(r));
        out = g_strdup_printf("%s %s %s.", p, PICK(r, words), n);
        g_free(n);
    } else {
        out = g_strdup_printf("%s.", p);
    }
    g_free(p);
    return out;
}

static char *gen_paragraph_text(struct rng *r, int sentences)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < sentences; i++) {
        char *sent = gen_sentence(r);
        if (i)
            g_string_append_c(s, ' ');
        g_string_append(s, sent);
        g_free(sent);
    }
    return g_string_free(s, FALSE);
}

/* --- the table model ---------------------------------------------------------------------- */

/* Features a table of a style gets; decided once per table, before its size is fitted. */
struct features {
    bool multilevel;     /* two header rows, groups spanning columns */
    bool sections;       /* full-width section rows in the body */
    bool rowspan_labels; /* first-column labels merged down over two rows */
    bool body_colspan;   /* a body cell merged across two columns */
    bool long_labels;    /* multi-word labels and headers that wrap */
    double empty_rate;   /* share of body value cells left empty */
};

struct gtable {
    int rows, cols;
    char **cells; /* rows*cols, never NULL ("" when empty or covered) */
    struct pdfgen_span spans[64];
    int n_spans;
    bool *section;
    int header_rows;
    struct pdfgen_table_style style;
    struct rect bbox;          /* where it was drawn (points, top-left origin) */
};

static void gtable_free(struct gtable *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->rows * t->cols; i++)
        g_free(t->cells[i]);
    g_free(t->cells);
    g_free(t->section);
    g_free(t);
}

static void add_span(struct gtable *t, int row, int col, int rowspan, int colspan)
{
    if (t->n_spans >= (int)(sizeof(t->spans) / sizeof(t->spans[0])))
        return;
    t->spans[t->n_spans++] = (struct pdfgen_span){row, col, rowspan, colspan};
    for (int r = row; r < row + rowspan; r++)
        for (int c = col; c < col + colspan; c++)
            if (r != row || c != col) {
                g_free(t->cells[r * t->cols + c]);
                t->cells[r * t->cols + c] = g_strdup("");
            }
}

static void set_cell(struct gtable *t, int r, int c, char *owned)
{
    g_free(t->cells[r * t->cols + c]);
    t->cells[r * t->cols + c] = owned;
}

/* Fills the header row(s): a leaf header per column and, with two header rows, group headers
 * spanning two or three columns above them. */
static void gen_header(struct rng *r, const struct features *f, struct gtable *t,
                       const enum coltype *types)
{
    int cols = t->cols;
    int hr = t->header_rows - 1; /* the row holding the leaf headers */
    set_cell(t, hr, 0,
             g_strdup(f->long_labels
                          ? "Description of the item"
                          : PICK(r, ((const char *const[]){"Region", "Item", "Name", "Category",
                                                           "Città", "Année"}))));
    for (int c = 1; c < cols; c++) {
        /* distinct headers: the next unused name of the type, else a year suffix */
        int first = rng_int(r, 0, 3), k = 0;
        const char *h = NULL;
        for (; k < 4 && !h; k++) {
            h = headers[types[c]][(first + k) % 4];
            for (int prev = 1; prev < c && h; prev++)
                if (strncmp(t->cells[hr * cols + prev], h, strlen(h)) == 0)
                    h = NULL;
        }
        char *text = h ? g_strdup(h) : g_strdup_printf("%s %d", headers[types[c]][first], 2015 + c);
        if (f->long_labels && rng_chance(r, 0.5)) {
            char *longer = g_strdup_printf("%s %s %s", text, PICK(r, words), PICK(r, words));
            g_free(text);
            text = longer;
        }
        set_cell(t, hr, c, text);
    }
    if (t->header_rows == 2) {
        set_cell(t, 0, 0, t->cells[cols]);
        t->cells[cols] = g_strdup("");
        add_span(t, 0, 0, 2, 1);
        for (int c = 1; c < cols;) {
            int width = cols - c >= 2 ? rng_int(r, 2, cols - c < 3 ? 2 : 3) : 1;
            if (width == 1) { /* a lone column: its header spans both header rows */
                set_cell(t, 0, c, t->cells[cols + c]);
                t->cells[cols + c] = g_strdup("");
                add_span(t, 0, c, 2, 1);
            } else {
                set_cell(t, 0, c, g_strdup(PICK(r, groups)));
                add_span(t, 0, c, 1, width);
            }
            c += width;
        }
    }
}

/* Fills body row `row`: a section row, or a label (maybe merged down) and values. */
static void gen_body_row(struct rng *r, const struct features *f, struct gtable *t, int row,
                         const enum coltype *types, const int *variants)
{
    int cols = t->cols;
    bool covered = false; /* by a first-column label merged down from above */
    for (int k = 0; k < t->n_spans; k++) {
        const struct pdfgen_span *sp = &t->spans[k];
        if (sp->col == 0 && row > sp->row && row < sp->row + sp->rowspan)
            covered = true;
    }
    bool section_here =
        f->sections && t->rows - t->header_rows >= 4 && !covered && row < t->rows - 1 &&
        (row == t->header_rows || (row > t->header_rows + 1 && rng_chance(r, 0.15)));
    if (section_here) {
        t->section[row] = true;
        set_cell(t, row, 0, g_strdup(PICK(r, sections)));
        add_span(t, row, 0, 1, cols);
        return;
    }
    if (!covered) {
        char *label = f->long_labels ? gen_phrase(r, rng_int(r, 3, 8)) : g_strdup(PICK(r, labels));
        set_cell(t, row, 0, label);
        if (f->rowspan_labels && row + 1 < t->rows && rng_chance(r, 0.35))
            add_span(t, row, 0, 2, 1);
    }
    for (int c = 1; c < cols; c++) {
        if (rng_chance(r, f->empty_rate))
            continue;
        set_cell(t, row, c, gen_value(r, types[c], variants[c]));
    }
    if (f->body_colspan && cols >= 3 && row > t->header_rows && rng_chance(r, 0.12)) {
        int c = rng_int(r, 1, cols - 2);
        set_cell(t, row, c,
                 g_strdup(PICK(r, ((const char *const[]){"not reported", "see note 4", "—",
                                                         "n/a (merged)"}))));
        add_span(t, row, c, 1, 2);
    }
}

/* Builds a table of body_rows x cols (plus header rows) with the given features. */
static struct gtable *gtable_generate(struct rng *r, const struct features *f, int body_rows,
                                      int cols, const struct pdfgen_table_style *style)
{
    struct gtable *t = g_new0(struct gtable, 1);
    t->header_rows = f->multilevel && cols >= 3 ? 2 : 1;
    t->rows = t->header_rows + body_rows;
    t->cols = cols;
    t->cells = g_new0(char *, (size_t)(t->rows * cols));
    t->section = g_new0(bool, (size_t)t->rows);
    for (int i = 0; i < t->rows * cols; i++)
        t->cells[i] = g_strdup("");
    t->style = *style;
    t->style.header_rows = t->header_rows;

    g_assert(cols >= 1 && cols <= 64);
    enum coltype types[64];
    int variants[64];
    for (int c = 1; c < cols; c++) {
        types[c] = (enum coltype)rng_int(r, 0, N_COLTYPES - 1);
        variants[c] = rng_int(r, 0, 11);
    }
    gen_header(r, f, t, types);
    for (int row = t->header_rows; row < t->rows; row++)
        gen_body_row(r, f, t, row, types, variants);
    /* A "spans" table always has a merged cell, even when chance placed none. */
    bool want_spans = f->multilevel || f->sections || f->rowspan_labels || f->body_colspan;
    if (want_spans && t->n_spans == 0 && body_rows >= 2)
        add_span(t, t->header_rows, 0, 2, 1);
    return t;
}

static struct pdfgen_table as_pdfgen(const struct gtable *t)
{
    return (struct pdfgen_table){.rows = t->rows,
                                 .cols = t->cols,
                                 .cells = (const char *const *)t->cells,
                                 .spans = t->spans,
                                 .n_spans = t->n_spans,
                                 .section_rows = t->section};
}

/* Generates and shrinks (rows, then columns, then font size, then wrapping) until the table fits
 * in max_w x max_h. Returns NULL when even the smallest does not fit. */
static struct gtable *fit_table(struct pdfgen_doc *doc, struct rng *r, const struct features *f,
                                struct pdfgen_table_style style, int body_rows, int cols,
                                double max_w, double max_h, struct rect *bbox)
{
    for (int attempt = 0; attempt < 80; attempt++) {
        struct gtable *t = gtable_generate(r, f, body_rows, cols, &style);
        struct pdfgen_table pt = as_pdfgen(t);
        if (pdfgen_table(doc, 0, 0, &pt, &t->style, false, NULL, bbox) == 0 &&
            rect_width(*bbox) <= max_w && rect_height(*bbox) <= max_h)
            return t;
        bool too_wide = rect_width(*bbox) > max_w;
        gtable_free(t);
        if (!too_wide && body_rows > 2)
            body_rows = body_rows > 8 ? body_rows * 3 / 4 : body_rows - 1;
        else if (too_wide && cols > 3)
            cols--;
        else if (too_wide && style.font.size > 7)
            style.font.size -= 0.5;
        else if (too_wide && (style.wrap_width <= 0 || style.wrap_width > 40))
            style.wrap_width = style.wrap_width > 0 ? style.wrap_width * 0.75 : max_w / cols;
        else if (too_wide && cols > 2)
            cols--;
        else
            return NULL;
    }
    return NULL;
}

/* --- pages -------------------------------------------------------------------------------- */

static const char *const styles[] = {"grid",  "booktabs",  "hrules", "borderless", "zebra",
                                     "spans", "multiline", "twocol", "notable",    "darkhead"};
#define N_STYLES (sizeof(styles) / sizeof(styles[0]))
/* "all": darkhead is asked for by name (--style darkhead), so that the sets made before it was
 * added stay the same file for file. */
#define ALL_STYLES "grid,booktabs,hrules,borderless,zebra,spans,multiline,twocol,notable"

struct page {
    struct pdfgen_doc *doc;
    struct rng *r;
    double width, height, margin;
    struct pdfgen_font body;
    double y;          /* the next free line, from the top */
    GPtrArray *tables; /* struct gtable *, top to bottom (the truth) */
    GString *note;
};

static const char *const families[] = {"DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono",
                                       "Liberation Sans", "Liberation Serif"};

/* Liberation faces fall back to their DejaVu twin when not installed (the truth is the same). */
static const char *family_or_twin(const char *family)
{
    static int have_sans = -1, have_serif = -1;
    if (strcmp(family, "Liberation Sans") == 0) {
        if (have_sans < 0)
            have_sans = pdfgen_font_installed(family);
        return have_sans ? family : "DejaVu Sans";
    }
    if (strcmp(family, "Liberation Serif") == 0) {
        if (have_serif < 0)
            have_serif = pdfgen_font_installed(family);
        return have_serif ? family : "DejaVu Serif";
    }
    return family;
}

static double text_size(struct rng *r)
{
    return 7 + 0.5 * rng_int(r, 0, 10);
}

static void draw_paragraph(struct page *p, double x, double width, const char *text)
{
    p->y += pdfgen_paragraph(p->doc, x, p->y, width, &p->body, text, true) + 0.6 * p->body.size;
}

/* Fills [x, x+width] from p->y down to bottom with paragraphs that fit whole. */
static void fill_paragraphs(struct page *p, double x, double width, double bottom, int max_n)
{
    for (int i = 0; i < max_n; i++) {
        char *text = gen_paragraph_text(p->r, rng_int(p->r, 2, 5));
        double h = pdfgen_paragraph(p->doc, x, p->y, width, &p->body, text, false);
        if (p->y + h > bottom) {
            g_free(text);
            return;
        }
        draw_paragraph(p, x, width, text);
        g_free(text);
    }
}

static void draw_heading(struct page *p, double x, const char *text, double grow)
{
    struct pdfgen_font f = p->body;
    f.bold = true;
    f.size = p->body.size + grow;
    pdfgen_text(p->doc, x, p->y + f.size, &f, PDFGEN_ALIGN_LEFT, text);
    p->y += f.size * 1.9;
}

static struct features features_for(struct rng *r, const char *style)
{
    struct features f = {.empty_rate = rng_chance(r, 0.4) ? 0.06 : 0};
    if (strcmp(style, "spans") == 0) {
        f.multilevel = rng_chance(r, 0.7);
        f.sections = rng_chance(r, 0.6);
        f.rowspan_labels = rng_chance(r, 0.5);
        f.body_colspan = rng_chance(r, 0.4);
        if (!f.multilevel && !f.sections && !f.rowspan_labels && !f.body_colspan)
            f.multilevel = true;
    } else if (strcmp(style, "multiline") == 0) {
        f.long_labels = true;
        f.sections = rng_chance(r, 0.2);
    }
    return f;
}

/* The drawing style for a table of a given style name. */
static struct pdfgen_table_style table_style_for(struct rng *r, const char *style,
                                                 const struct pdfgen_font *body)
{
    struct pdfgen_table_style s;
    pdfgen_table_style_init(&s);
    s.font = *body;
    s.font.size = text_size(r);
    s.header_bold = rng_chance(r, 0.8);
    s.header_center = rng_chance(r, 0.5);
    s.pad_x = 3 + rng_int(r, 0, 4);
    s.pad_y = 1 + rng_int(r, 0, 3);
    if (strcmp(style, "grid") == 0) {
        s.rules = PDFGEN_RULES_GRID;
        if (rng_chance(r, 0.3))
            s.header_gray = 0.85;
    } else if (strcmp(style, "booktabs") == 0) {
        s.rules = PDFGEN_RULES_BOOKTABS;
    } else if (strcmp(style, "hrules") == 0) {
        s.rules = PDFGEN_RULES_HROWS;
    } else if (strcmp(style, "borderless") == 0) {
        s.rules = PDFGEN_RULES_NONE;
        s.pad_x = 5 + rng_int(r, 0, 6);
    } else if (strcmp(style, "zebra") == 0) {
        s.rules = rng_chance(r, 0.5) ? PDFGEN_RULES_NONE : PDFGEN_RULES_BOOKTABS;
        s.zebra_gray = 0.88 + 0.01 * rng_int(r, 0, 6);
        s.header_gray = rng_chance(r, 0.7) ? 0.7 + 0.02 * rng_int(r, 0, 5) : -1;
    } else if (strcmp(style, "spans") == 0) {
        s.rules = rng_chance(r, 0.6) ? PDFGEN_RULES_GRID : PDFGEN_RULES_BOOKTABS;
        s.header_center = true;
    } else if (strcmp(style, "multiline") == 0) {
        s.rules = (enum pdfgen_rules)rng_int(r, 0, 2);
        s.wrap_width = 60 + 10 * rng_int(r, 0, 5);
    } else if (strcmp(style, "darkhead") == 0) {
        /* A dark header band with white text, as reports and statements set it: ruled, with
         * rules between the rows, or none; sometimes grey bands on the body rows too. */
        s.rules = (enum pdfgen_rules)rng_int(r, 0, 3);
        s.header_gray = 0.15 + 0.05 * rng_int(r, 0, 6);
        s.header_text_gray = 1;
        s.header_bold = true;
        if (rng_chance(r, 0.3))
            s.zebra_gray = 0.72 + 0.02 * rng_int(r, 0, 5);
    } else { /* twocol */
        s.rules = (enum pdfgen_rules)rng_int(r, 0, 3);
    }
    return s;
}

static const char *const rule_names[] = {"grid", "booktabs", "hrules", "no rules"};

/* Places one table (plus maybe a caption above and a footnote below) in [x, x+width] from p->y,
 * using at most max_h. Returns false when nothing fitted. */
static bool place_table(struct page *p, const char *style, double x, double width, double max_h,
                        int table_no)
{
    struct rng *r = p->r;
    double start = p->y;
    bool caption = rng_chance(r, 0.6), footnote = rng_chance(r, 0.4);
    if (caption) {
        char *phrase = gen_phrase(r, rng_int(r, 3, 7));
        char *text = g_strdup_printf("Table %d: %s", table_no, phrase);
        struct pdfgen_font f = p->body;
        f.italic = rng_chance(r, 0.5);
        pdfgen_text(p->doc, x, p->y + f.size, &f, PDFGEN_ALIGN_LEFT, text);
        p->y += f.size * 1.8;
        g_free(phrase);
        g_free(text);
    }
    struct features f = features_for(r, style);
    struct pdfgen_table_style ts = table_style_for(r, style, &p->body);
    int cols = rng_int(r, 3, strcmp(style, "twocol") == 0 ? 4 : 7);
    int rows = rng_int(r, 3, 22);
    double reserve = footnote ? p->body.size * 2.5 : 0;
    struct rect bbox;
    struct gtable *t =
        fit_table(p->doc, r, &f, ts, rows, cols, width, start + max_h - p->y - reserve, &bbox);
    if (!t) {
        p->y = start;
        return false;
    }
    double left = x;
    if (rng_chance(r, 0.4)) /* centred */
        left = x + (width - rect_width(bbox)) / 2;
    struct pdfgen_table pt = as_pdfgen(t);
    pdfgen_table(p->doc, left, p->y, &pt, &t->style, true, NULL, &bbox);
    t->bbox = bbox;
    p->y = bbox.y1 + p->body.size * 0.8;
    if (footnote) {
        struct pdfgen_font small = p->body;
        small.size = p->body.size > 8 ? p->body.size - 1.5 : 7;
        pdfgen_text(p->doc, x, p->y + small.size, &small, PDFGEN_ALIGN_LEFT,
                    rng_chance(r, 0.5) ? "Source: national statistics office; figures rounded."
                                       : "Note: amounts in thousands; (x) denotes a loss.");
        p->y += small.size * 2;
    }
    p->y += p->body.size;
    g_string_append_printf(
        p->note, "%s%dx%d %s%s%s%s%s%s, %s %.1fpt", p->tables->len ? "; " : "", t->rows, t->cols,
        rule_names[t->style.rules], t->style.zebra_gray >= 0 ? " zebra" : "",
        t->style.header_gray >= 0 ? " shaded-header" : "", t->n_spans ? " spans" : "",
        t->header_rows > 1 ? " 2-level-header" : "", t->style.wrap_width > 0 ? " wrapped" : "",
        t->style.font.family, t->style.font.size);
    g_ptr_array_add(p->tables, t);
    return true;
}

/* A page with one or two tables, maybe a heading and text around them. */
static void page_tables(struct page *p, const char *style)
{
    struct rng *r = p->r;
    double x = p->margin, width = p->width - 2 * p->margin, bottom = p->height - p->margin;
    if (rng_chance(r, 0.5)) {
        char *h = gen_phrase(r, rng_int(r, 2, 5));
        draw_heading(p, x, h, 4);
        g_free(h);
    }
    if (rng_chance(r, 0.5)) {
        char *text = gen_paragraph_text(r, rng_int(r, 2, 4));
        draw_paragraph(p, x, width, text);
        g_free(text);
    }
    int n = rng_chance(r, 0.25) ? 2 : 1;
    for (int i = 0; i < n; i++) {
        double max_h = (bottom - p->y) / (n - i);
        if (!place_table(p, style, x, width, max_h, (int)p->tables->len + 1))
            break;
        if (i + 1 < n && rng_chance(r, 0.5))
            fill_paragraphs(p, x, width, p->y + 60, 1);
    }
    if (rng_chance(r, 0.5))
        fill_paragraphs(p, x, width, bottom, 2);
}

/* Two columns of text, one of which holds a table. */
static void page_twocol(struct page *p)
{
    struct rng *r = p->r;
    double gutter = 18, colw = (p->width - 2 * p->margin - gutter) / 2;
    double bottom = p->height - p->margin;
    char *h = gen_phrase(r, rng_int(r, 3, 6));
    draw_heading(p, p->margin, h, 5);
    g_free(h);
    double top = p->y;
    int table_col = rng_int(r, 0, 1);
    for (int col = 0; col < 2; col++) {
        double x = p->margin + col * (colw + gutter);
        p->y = top;
        if (col == table_col) {
            fill_paragraphs(p, x, colw, top + 120, 1);
            place_table(p, "twocol", x, colw, bottom - p->y, 1);
        }
        fill_paragraphs(p, x, colw, bottom, 12);
    }
    g_string_append(p->note,
                    table_col ? " (table in the right column)" : " (table in the left column)");
}

static void page_bullets(struct page *p)
{
    struct rng *r = p->r;
    double x = p->margin, width = p->width - 2 * p->margin;
    char *text = gen_paragraph_text(r, 2);
    draw_paragraph(p, x, width, text);
    g_free(text);
    int n = rng_int(r, 5, 12);
    bool numbered = rng_chance(r, 0.4);
    for (int i = 0; i < n && p->y < p->height - 2 * p->margin; i++) {
        char mark[16];
        snprintf(mark, sizeof(mark), numbered ? "%d." : "•", i + 1);
        pdfgen_text(p->doc, x + 6, p->y + p->body.size, &p->body, PDFGEN_ALIGN_LEFT, mark);
        char *item = gen_sentence(r);
        p->y += pdfgen_paragraph(p->doc, x + 22, p->y, width - 22, &p->body, item, true) +
                0.4 * p->body.size;
        g_free(item);
    }
    g_string_append(p->note, numbered ? "numbered list" : "bulleted list");
}

static void page_toc(struct page *p)
{
    struct rng *r = p->r;
    double x = p->margin, right = p->width - p->margin;
    draw_heading(p, x, rng_chance(r, 0.5) ? "Contents" : "Table des matières", 6);
    int page_no = rng_int(r, 1, 5), chapter = 0, sub = 0;
    double dot_w = pdfgen_text_width(p->doc, &p->body, " .");
    while (p->y < p->height - p->margin - 2 * p->body.size) {
        bool is_sub = chapter > 0 && rng_chance(r, 0.6);
        char num[32];
        if (is_sub)
            snprintf(num, sizeof(num), "%d.%d", chapter, ++sub);
        else
            snprintf(num, sizeof(num), "%d", ++chapter), sub = 0;
        struct pdfgen_font f = p->body;
        f.bold = !is_sub;
        double indent = is_sub ? 18 : 0;
        char *title = gen_phrase(r, rng_int(r, 2, 6));
        char *line = g_strdup_printf("%s  %s", num, title);
        double baseline = p->y + f.size;
        double w = pdfgen_text(p->doc, x + indent, baseline, &f, PDFGEN_ALIGN_LEFT, line);
        char pn[16];
        page_no += rng_int(r, 1, 9);
        snprintf(pn, sizeof(pn), "%d", page_no);
        double pn_w = pdfgen_text(p->doc, right, baseline, &f, PDFGEN_ALIGN_RIGHT, pn);
        int dots = (int)((right - pn_w - 6 - (x + indent + w + 6)) / dot_w);
        if (dots > 0) {
            GString *leader = g_string_new(NULL);
            for (int i = 0; i < dots; i++)
                g_string_append(leader, " .");
            pdfgen_text(p->doc, right - pn_w - 4, baseline, &p->body, PDFGEN_ALIGN_RIGHT,
                        leader->str);
            g_string_free(leader, TRUE);
        }
        p->y += f.size * (is_sub ? 1.5 : 1.9);
        g_free(title);
        g_free(line);
    }
    g_string_append(p->note, "table of contents with dot leaders");
}

static void page_figure(struct page *p)
{
    struct rng *r = p->r;
    double x = p->margin, width = p->width - 2 * p->margin;
    fill_paragraphs(p, x, width, p->y + 120, 1);
    struct pdfgen_font tick = p->body;
    tick.size = p->body.size > 8 ? p->body.size - 1 : 7;
    double left = x + 50, top = p->y + 10;
    double plot_w = width - 80, plot_h = (p->height - 2 * p->margin) * 0.4;
    double bottom = top + plot_h;
    pdfgen_line(p->doc, left, top, left, bottom, 0.8, 0);
    pdfgen_line(p->doc, left, bottom, left + plot_w, bottom, 0.8, 0);
    int n_y = rng_int(r, 4, 6), step = PICK(r, ((const int[]){5, 10, 20, 25, 100, 250}));
    for (int i = 0; i <= n_y; i++) {
        double ty = bottom - plot_h * i / n_y;
        char *label = thousands((long)i * step);
        pdfgen_line(p->doc, left - 4, ty, left, ty, 0.5, 0);
        pdfgen_text(p->doc, left - 6, ty + tick.size / 3, &tick, PDFGEN_ALIGN_RIGHT, label);
        g_free(label);
    }
    int n_x = rng_int(r, 5, 10), year = rng_int(r, 1990, 2015);
    bool bars = rng_chance(r, 0.5);
    double prev_x = 0, prev_y = 0;
    for (int i = 0; i < n_x; i++) {
        double cx = left + plot_w * (i + 0.5) / n_x;
        char label[16];
        snprintf(label, sizeof(label), "%d", year + i);
        pdfgen_line(p->doc, cx, bottom, cx, bottom + 4, 0.5, 0);
        pdfgen_text(p->doc, cx, bottom + 6 + tick.size, &tick, PDFGEN_ALIGN_CENTER, label);
        double vy = bottom - plot_h * (0.1 + 0.8 * rng_unit(r));
        if (bars)
            pdfgen_rect(p->doc,
                        (struct rect){cx - plot_w / n_x / 3, vy, cx + plot_w / n_x / 3, bottom}, 0,
                        0.55);
        else if (i > 0)
            pdfgen_line(p->doc, prev_x, prev_y, cx, vy, 1.2, 0.2);
        prev_x = cx;
        prev_y = vy;
    }
    p->y = bottom + 2.5 * tick.size + 6;
    char *phrase = gen_phrase(r, rng_int(r, 3, 8));
    char *caption =
        g_strdup_printf("Figure %d: %s, %d–%d", rng_int(r, 1, 9), phrase, year, year + n_x - 1);
    draw_paragraph(p, x, width, caption);
    g_free(phrase);
    g_free(caption);
    fill_paragraphs(p, x, width, p->height - p->margin, 3);
    g_string_append(p->note, bars ? "bar chart with axes" : "line chart with axes");
}

static void page_notable(struct page *p, int kind)
{
    double x = p->margin, width = p->width - 2 * p->margin;
    switch (kind) {
    case 0: {
        char *h = gen_phrase(p->r, rng_int(p->r, 2, 5));
        draw_heading(p, x, h, 4);
        g_free(h);
        fill_paragraphs(p, x, width, p->height - p->margin, 8);
        g_string_append(p->note, "paragraphs only");
        break;
    }
    case 1:
        page_bullets(p);
        break;
    case 2:
        page_toc(p);
        break;
    default:
        page_figure(p);
        break;
    }
}

/* --- truth -------------------------------------------------------------------------------- */

static void json_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            if (*p < 0x20)
                g_string_append_printf(out, "\\u%04x", *p);
            else
                g_string_append_c(out, (char)*p); /* UTF-8 passes through */
        }
    }
    g_string_append_c(out, '"');
}

/* A cell's truth: its text with runs of whitespace (forced line breaks) as single spaces. */
static void json_cell(GString *out, const char *s)
{
    char *copy = g_strdup(s);
    for (char *c = copy; *c; c++)
        if (*c == '\n')
            *c = ' ';
    json_string(out, copy);
    g_free(copy);
}

static void truth_line(GString *out, const char *file_id, const char *pdf, int page,
                       const GPtrArray *tables, const char *style, const char *note)
{
    char *id = g_strdup_printf("%s-p%d", file_id, page);
    g_string_append(out, "{\"id\": ");
    json_string(out, id);
    g_string_append(out, ", \"source\": \"generated\", \"pdf\": ");
    json_string(out, pdf);
    g_string_append_printf(out, ", \"page\": %d, \"tables\": [", page);
    for (guint k = 0; k < tables->len; k++) {
        const struct gtable *t = g_ptr_array_index(tables, k);
        g_string_append(out, k ? ", [" : "[");
        for (int r = 0; r < t->rows; r++) {
            g_string_append(out, r ? ", [" : "[");
            for (int c = 0; c < t->cols; c++) {
                if (c)
                    g_string_append(out, ", ");
                json_cell(out, t->cells[r * t->cols + c]);
            }
            g_string_append_c(out, ']');
        }
        g_string_append_c(out, ']');
    }
    g_string_append(out, "], \"bboxes\": [");
    for (guint k = 0; k < tables->len; k++) {
        const struct gtable *t = g_ptr_array_index(tables, k);
        g_string_append_printf(out, "%s[%.2f, %.2f, %.2f, %.2f]", k ? ", " : "", t->bbox.x0,
                               t->bbox.y0, t->bbox.x1, t->bbox.y1);
    }
    g_string_append(out, "], \"style\": ");
    json_string(out, style);
    g_string_append(out, ", \"note\": ");
    json_string(out, note);
    g_string_append(out, "}\n");
    g_free(id);
}

/* --- files -------------------------------------------------------------------------------- */

static void page_size(struct rng *r, double *w, double *h)
{
    bool a4 = rng_chance(r, 0.5), landscape = rng_chance(r, 0.25);
    double pw = a4 ? PDFGEN_A4_WIDTH : PDFGEN_LETTER_WIDTH;
    double ph = a4 ? PDFGEN_A4_HEIGHT : PDFGEN_LETTER_HEIGHT;
    *w = landscape ? ph : pw;
    *h = landscape ? pw : ph;
}

/* Writes DIR/<style>-<index>.pdf and appends its pages' truth lines to `truth`. */
static int generate_file(const char *dir, uint64_t seed, int index, const char *style,
                         GString *truth)
{
    struct rng r = {seed ^ (0x51ED270B27F3A1C5ULL * (uint64_t)(index + 1))};
    for (const char *c = style; *c; c++) /* the style takes part in the seed too */
        r.state = r.state * 31 + (unsigned char)*c;
    rng_next(&r);
    char *file_id = g_strdup_printf("gen-%s-%04d", style, index);
    char *name = g_strdup_printf("%s-%04d.pdf", style, index);
    char *path = g_build_filename(dir, name, NULL);
    double w, h;
    page_size(&r, &w, &h);
    int err;
    struct pdfgen_doc *doc = pdfgen_doc_new(path, w, h, &err);
    if (!doc) {
        fprintf(stderr, "gentables: cannot create %s: %s\n", path, err_str(err));
        goto out_names;
    }
    bool notable = strcmp(style, "notable") == 0;
    int n_pages = rng_int(&r, 1, notable ? 3 : 2);
    int first_kind = rng_int(&r, 0, 3);
    for (int pg = 1; pg <= n_pages && !err; pg++) {
        if (pg > 1) {
            page_size(&r, &w, &h);
            err = pdfgen_page_new(doc, w, h);
        }
        struct page p = {.doc = doc,
                         .r = &r,
                         .width = w,
                         .height = h,
                         .margin = 40 + 4 * rng_int(&r, 0, 8),
                         .tables = g_ptr_array_new_with_free_func((GDestroyNotify)gtable_free),
                         .note = g_string_new(NULL)};
        p.body.family = family_or_twin(PICK(&r, families));
        p.body.size = text_size(&r);
        p.y = p.margin;
        g_string_append_printf(p.note,
                               "%s %.0fx%.0f, %s %.1fpt: ", w > h ? "landscape" : "portrait", w, h,
                               p.body.family, p.body.size);
        const char *page_style = style;
        /* Now and then the second page of a table file carries no table. */
        if (notable || (pg > 1 && rng_chance(&r, 0.2))) {
            page_style = "notable";
            page_notable(&p, (first_kind + pg - 1) % 4);
        } else if (strcmp(style, "twocol") == 0) {
            page_twocol(&p);
        } else {
            page_tables(&p, style);
        }
        truth_line(truth, file_id, name, pg, p.tables, page_style, p.note->str);
        g_ptr_array_free(p.tables, TRUE);
        g_string_free(p.note, TRUE);
    }
    int close_err = pdfgen_doc_close(doc);
    pdfgen_doc_free(doc);
    if (!err)
        err = close_err;
    if (err)
        fprintf(stderr, "gentables: writing %s failed: %s\n", path, err_str(err));
out_names:
    g_free(file_id);
    g_free(name);
    g_free(path);
    return err;
}

int main(int argc, char **argv)
{
    char *out = NULL, *style = NULL;
    int count = 10;
    gint64 seed = 1;
    GOptionEntry entries[] = {
        {"out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "output folder (created)", "DIR"},
        {"count", 'n', 0, G_OPTION_ARG_INT, &count, "number of PDF files (default 10)", "N"},
        {"seed", 's', 0, G_OPTION_ARG_INT64, &seed, "random seed (default 1)", "S"},
        {"style", 0, 0, G_OPTION_ARG_STRING, &style,
         "all (default) or a comma-separated list of grid, booktabs, hrules, borderless, zebra, "
         "spans, multiline, twocol, notable",
         "STYLE"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    GOptionContext *ctx = g_option_context_new("- generate table PDFs and their truth.jsonl");
    g_option_context_add_main_entries(ctx, entries, NULL);
    GError *error = NULL;
    int rc = 2;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "gentables: %s\n", error->message);
        g_error_free(error);
        goto out_ctx;
    }
    /* The styles to cycle through: "all", one name, or a comma-separated list. */
    char **chosen = g_strsplit(!style || strcmp(style, "all") == 0 ? ALL_STYLES : style, ",", -1);
    guint n_chosen = g_strv_length(chosen);
    bool known = n_chosen > 0;
    for (guint k = 0; k < n_chosen && known; k++) {
        known = false;
        for (size_t i = 0; i < N_STYLES && !known; i++)
            known = strcmp(chosen[k], styles[i]) == 0;
    }
    if (!out || count < 0 || count > 100000 || !known) {
        fprintf(stderr, "usage: gentables --out DIR --count N --seed S [--style STYLE[,STYLE...]]\n"
                        "  STYLE: all|grid|booktabs|hrules|borderless|zebra|spans|multiline|"
                        "twocol|notable\n");
        goto out_styles;
    }
    if (g_mkdir_with_parents(out, 0755) != 0) {
        fprintf(stderr, "gentables: cannot create %s: %s\n", out, strerror(errno));
        rc = 1;
        goto out_styles;
    }
    GString *truth = g_string_new(NULL);
    rc = 0;
    for (int i = 0; i < count && rc == 0; i++)
        if (generate_file(out, (uint64_t)seed, i, chosen[i % n_chosen], truth))
            rc = 1;
    char *truth_path = g_build_filename(out, "truth.jsonl", NULL);
    if (rc == 0 && !g_file_set_contents(truth_path, truth->str, (gssize)truth->len, &error)) {
        fprintf(stderr, "gentables: %s\n", error->message);
        g_error_free(error);
        rc = 1;
    }
    g_free(truth_path);
    g_string_free(truth, TRUE);
out_styles:
    g_strfreev(chosen);
out_ctx:
    pdfgen_shutdown();
    g_option_context_free(ctx);
    g_free(out);
    g_free(style);
    return rc;
}
