/*
 * table/otsl.c - OTSL text to a table (table_from_otsl).
 *
 * Three passes, each simple on its own:
 *  1. scan: find the tags (`<name>` or `</name>`, name made of [A-Za-z0-9_]); anything else,
 *     including a lone '<', is text. Every known tag owns the text up to the next known tag;
 *     unknown tags inside that text are an error (strict) or dropped (repair).
 *  2. rows: walk the known tags, check the wrapper, <loc_N> placement and stray text, and cut
 *     the grid tokens into rows at <nl>. Strict mode requires equal row lengths; repair pads.
 *  3. grid: walk the positions row-major and turn tokens into cells, growing spans for
 *     <lcel>/<ucel>/<xcel> only where the grammar allows (see place_*()); the header rows are
 *     the leading rows made of <ched> cells (empty cells allowed beside at least one <ched>).
 *
 * Token indices in messages count every tag of the input from 0, known or not.
 * Repairs count the tokens dropped, inserted or changed (stray text counts as one dropped token).
 */
#include "table_internal.h"

#include <assert.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* More positions than this is refused: repair padding could otherwise turn a short input into
 * rows x cols memory. 16M positions is far beyond any real table. */
#define OTSL_MAX_POSITIONS (1L << 24)
#define TAG_NAME_MAX 32

enum tok {
    TOK_FCEL, TOK_ECEL, TOK_CHED, TOK_RHED, TOK_SROW, /* each starts a cell */
    TOK_LCEL, TOK_UCEL, TOK_XCEL,                     /* each continues a span */
    TOK_NL, TOK_OPEN, TOK_CLOSE, TOK_LOC,
};

static const char *const tok_names[] = {
    [TOK_FCEL] = "fcel", [TOK_ECEL] = "ecel", [TOK_CHED] = "ched", [TOK_RHED] = "rhed",
    [TOK_SROW] = "srow", [TOK_LCEL] = "lcel", [TOK_UCEL] = "ucel", [TOK_XCEL] = "xcel",
    [TOK_NL] = "nl",     [TOK_OPEN] = "otsl", [TOK_CLOSE] = "/otsl", [TOK_LOC] = "loc_N",
};

/* A known tag and the text that follows it (source offsets, untrimmed). */
struct token {
    enum tok type;
    size_t index;           /* among all tags of the input */
    size_t text_begin, text_end;
};

struct parser {
    const char *src;
    bool repair;
    int repairs;
    char *msg;              /* the first error */
    struct token *toks;     /* known tags, in input order */
    size_t n_toks, cap_toks;
    size_t n_tags;          /* all tags seen, known or not */
    size_t lead_text_end;   /* text before the first known tag */
    struct token *grid;     /* rows x cols grid tokens (pass 2 result) */
    size_t *row_len;        /* cells per row as written */
    size_t n_rows, cap_rows, n_cols;
};

static bool is_cell_start(enum tok t) { return t <= TOK_SROW; }
static bool takes_text(enum tok t) { return t == TOK_FCEL || t == TOK_CHED || t == TOK_RHED ||
                                            t == TOK_SROW; }
static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
                                      c == '\f' || c == '\v'; }
static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Length of the tag starting at s ('<' [/] name '>'), or 0 when s does not start a tag. */
static size_t tag_length(const char *s)
{
    size_t i = 1;
    if (s[0] != '<')
        return 0;
    if (s[i] == '/')
        i++;
    size_t name = i;
    while (is_name_char(s[i]) && i - name < TAG_NAME_MAX)
        i++;
    return (i > name && s[i] == '>') ? i + 1 : 0;
}

/* Classifies the tag s[0..len); false when it is not an OTSL token. */
static bool classify(const char *s, size_t len, enum tok *out)
{
    static const enum tok plain[] = {TOK_FCEL, TOK_ECEL, TOK_CHED, TOK_RHED, TOK_SROW, TOK_LCEL,
                                     TOK_UCEL, TOK_XCEL, TOK_NL, TOK_OPEN, TOK_CLOSE};
    const char *name = s + 1;
    size_t n = len - 2;
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        const char *want = tok_names[plain[i]];
        if (strlen(want) == n && memcmp(name, want, n) == 0) {
            *out = plain[i];
            return true;
        }
    }
    if (n < 5 || n > 7 || memcmp(name, "loc_", 4) != 0)
        return false;
    int value = 0;
    for (size_t i = 4; i < n; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        value = value * 10 + (name[i] - '0');
    }
    if (value > 499)
        return false;
    *out = TOK_LOC;
    return true;
}

/* Records the first error (strict mode); returns QUIRE_EPARSE or QUIRE_ENOMEM. */
static int fail(struct parser *p, char *msg)
{
    if (!msg)
        return QUIRE_ENOMEM;
    free(p->msg);
    p->msg = msg;
    return QUIRE_EPARSE;
}

static int fail_at(struct parser *p, const struct token *t, const char *problem)
{
    return fail(p, q_asprintf("OTSL token %zu <%s>: %s", t->index, tok_names[t->type], problem));
}

/* True when src[a..b) holds something besides whitespace and (dropped) unknown tags. */
static bool has_text(const char *src, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++) {
        size_t n = tag_length(src + i);
        if (n > 0 && i + n <= b)
            i += n - 1;
        else if (!is_space(src[i]))
            return true;
    }
    return false;
}

/* Pass 1. */
static int scan(struct parser *p)
{
    const char *s = p->src;
    size_t i = 0;
    bool first_known = true;
    while (s[i]) {
        size_t n = tag_length(s + i);
        enum tok type;
        if (n == 0) {
            i++;
            continue;
        }
        if (!classify(s + i, n, &type)) {
            if (!p->repair)
                return fail(p, q_asprintf("OTSL token %zu: unknown token %.*s", p->n_tags,
                                          (int)n, s + i));
            p->repairs++;
            p->n_tags++;
            i += n;
            continue;
        }
        if (first_known)
            p->lead_text_end = i;
        else
            p->toks[p->n_toks - 1].text_end = i;
        first_known = false;
        if (q_grow((void **)&p->toks, sizeof *p->toks, &p->cap_toks, p->n_toks + 1) != 0)
            return QUIRE_ENOMEM;
        p->toks[p->n_toks++] = (struct token){
            .type = type, .index = p->n_tags++, .text_begin = i + n, .text_end = i + n,
        };
        i += n;
    }
    if (first_known)
        p->lead_text_end = i;
    else
        p->toks[p->n_toks - 1].text_end = i;
    return 0;
}

static int end_row(struct parser *p, size_t len, const struct token *nl)
{
    if (!p->repair && p->n_rows > 0 && len != p->row_len[0]) {
        char *m = q_asprintf("OTSL token %zu <nl>: row %zu has %zu cells, the first row has %zu "
                             "(every row must have the same length)", nl->index, p->n_rows + 1,
                             len, p->row_len[0]);
        return fail(p, m);
    }
    if (q_grow((void **)&p->row_len, sizeof *p->row_len, &p->cap_rows, p->n_rows + 1) != 0)
        return QUIRE_ENOMEM;
    p->row_len[p->n_rows++] = len;
    if (len > p->n_cols)
        p->n_cols = len;
    return 0;
}

/* Pass 2, part one: checks the wrapper, <loc_N> and stray text, and compacts p->toks to the grid
 * tokens (rows separated by TOK_NL) in place. */
static int cut_rows(struct parser *p)
{
    bool opened = false, closed = false, in_grid = false;
    size_t out = 0, row_start = 0;
    int err;
    if (has_text(p->src, 0, p->lead_text_end)) {
        if (!p->repair)
            return fail(p, q_strdup("OTSL: text before the first token"));
        p->repairs++;
    }
    for (size_t i = 0; i < p->n_toks; i++) {
        struct token t = p->toks[i];
        const char *problem = NULL;
        if (closed)
            problem = "token after </otsl>";
        else if (t.type == TOK_OPEN && (opened || in_grid))
            problem = "<otsl> must come first";
        else if (t.type == TOK_CLOSE && !opened)
            problem = "</otsl> without <otsl>";
        else if (t.type == TOK_LOC && in_grid)
            problem = "<loc_N> after the first cell";
        if (problem && !p->repair)
            return fail_at(p, &t, problem);
        if (problem && !(t.type == TOK_CLOSE && !closed)) {
            p->repairs++; /* dropped; its text goes with it */
            continue;
        }
        if (problem)
            p->repairs++; /* a </otsl> without <otsl>: accepted */
        bool stray = !takes_text(t.type) && has_text(p->src, t.text_begin, t.text_end);
        if (stray && !p->repair)
            return fail_at(p, &t, "text after a token that takes none");
        if (stray) {
            p->repairs++;
            if (t.type == TOK_ECEL)
                t.type = TOK_FCEL; /* keep the text: an <ecel> written with text */
            else
                t.text_end = t.text_begin;
        }
        if (t.type == TOK_OPEN) {
            opened = true;
        } else if (t.type == TOK_CLOSE) {
            closed = true;
        } else if (t.type != TOK_LOC) {
            in_grid = true;
            p->toks[out++] = t;
            if (t.type == TOK_NL) {
                if ((err = end_row(p, out - 1 - row_start, &t)) != 0)
                    return err;
                row_start = out;
            }
        }
    }
    if (out > row_start) {
        if (!p->repair)
            return fail(p, q_asprintf("OTSL: the last row has no final <nl> (after token %zu)",
                                      p->toks[out - 1].index));
        p->repairs++;
        struct token nl = {.type = TOK_NL, .index = p->n_tags};
        if ((err = end_row(p, out - row_start, &nl)) != 0)
            return err;
        if (q_grow((void **)&p->toks, sizeof *p->toks, &p->cap_toks, out + 1) != 0)
            return QUIRE_ENOMEM;
        p->toks[out++] = nl;
    }
    if (opened && !closed) {
        if (!p->repair)
            return fail(p, q_strdup("OTSL: end of input: missing </otsl>"));
        p->repairs++;
    }
    p->n_toks = out;
    return 0;
}

/* Pass 2, part two: lays the rows out as a dense n_rows x n_cols grid, padding short rows with
 * <ecel> (repair mode; strict mode has already refused ragged rows). */
static int fill_grid(struct parser *p)
{
    if (p->n_rows > (size_t)OTSL_MAX_POSITIONS ||
        (p->n_cols > 0 && p->n_rows > (size_t)OTSL_MAX_POSITIONS / p->n_cols))
        return fail(p, q_asprintf("OTSL: table of %zu x %zu positions is too large", p->n_rows,
                                  p->n_cols));
    size_t n = p->n_rows * p->n_cols;
    p->grid = q_malloc((n ? n : 1) * sizeof *p->grid);
    if (!p->grid)
        return QUIRE_ENOMEM;
    size_t k = 0;
    for (size_t r = 0; r < p->n_rows; r++) {
        size_t len = p->row_len[r];
        memcpy(&p->grid[r * p->n_cols], &p->toks[k], len * sizeof *p->grid);
        const struct token *nl = &p->toks[k + len];
        for (size_t c = len; c < p->n_cols; c++) {
            p->grid[r * p->n_cols + c] = (struct token){
                .type = TOK_ECEL, .index = nl->index,
            };
            p->repairs++;
        }
        k += len + 1;
    }
    return 0;
}

/* The trimmed text of a token with unknown tags removed, as valid UTF-8. NULL on ENOMEM;
 * *bad_utf8 tells that invalid bytes were replaced. */
static char *token_text(const struct parser *p, const struct token *t, bool *bad_utf8)
{
    struct table__buf b = {0};
    size_t e = t->text_end;
    *bad_utf8 = false;
    for (size_t i = t->text_begin; i < e; i++) {
        size_t n = tag_length(p->src + i);
        if (n > 0 && i + n <= e)
            i += n - 1;
        else if (b.len > 0 || !is_space(p->src[i])) /* leading whitespace trimmed here */
            table__buf_putc(&b, p->src[i]);
    }
    while (b.len > 0 && !b.failed && is_space(b.data[b.len - 1]))
        b.data[--b.len] = '\0';
    char *s = table__buf_finish(&b);
    if (s && !g_utf8_validate(s, -1, NULL)) {
        *bad_utf8 = true;
        char *fixed = table__utf8_sanitize(s);
        free(s);
        s = fixed;
    }
    return s;
}

static enum cell_kind kind_of(enum tok t)
{
    switch (t) {
    case TOK_CHED: return CELL_COLUMN_HEADER;
    case TOK_RHED: return CELL_ROW_HEADER;
    case TOK_SROW: return CELL_SECTION;
    default: return CELL_DATA;
    }
}

struct builder {
    struct parser *p;
    struct table *t;
    int *owner; /* cell index per position */
};

static int new_cell(struct builder *b, int r, int c, const struct token *tok)
{
    struct parser *p = b->p;
    char *text;
    if (takes_text(tok->type)) {
        bool bad;
        text = token_text(p, tok, &bad);
        if (text && bad) {
            if (!p->repair) {
                free(text);
                return fail_at(p, tok, "cell text is not valid UTF-8");
            }
            p->repairs++;
        }
    } else {
        text = q_strdup("");
    }
    if (!text)
        return QUIRE_ENOMEM;
    b->owner[(size_t)r * p->n_cols + c] = (int)b->t->n_cells;
    return table__append_cell(b->t, r, c, 1, 1, kind_of(tok->type), text);
}

/* Why the span token at (r, c) is not allowed there, or NULL when it is (and then the span grew
 * to cover the position). *at names the offending token. */
static const char *place_span(struct builder *b, int r, int c, const struct token **at)
{
    const struct parser *p = b->p;
    const struct token *g = &p->grid[(size_t)r * p->n_cols];
    int *own = &b->owner[(size_t)r * p->n_cols];
    int left = c > 0 ? own[c - 1] : -1;
    int up = r > 0 ? b->owner[(size_t)(r - 1) * p->n_cols + c] : -1;
    struct table_cell *cells = b->t->cells;
    switch (g[c].type) {
    case TOK_LCEL:
        if (c == 0)
            return "<lcel> at the start of a row has no cell to its left";
        if (cells[left].row != r)
            return "<lcel> must follow a cell or <lcel> of the same span (use <xcel> inside a "
                   "2-D span)";
        cells[left].colspan++;
        own[c] = left;
        return NULL;
    case TOK_UCEL:
        if (r == 0)
            return "<ucel> in the first row has no cell above";
        if (cells[up].col != c || cells[up].row + cells[up].rowspan != r)
            return "<ucel> must be below a cell or <ucel> of the same span";
        for (int k = 1; k < cells[up].colspan; k++) {
            if (g[c + k].type != TOK_XCEL) {
                *at = &g[c + k];
                return "expected <xcel> here: the span above is wider than one column and "
                       "spans must be rectangles";
            }
        }
        cells[up].rowspan++;
        own[c] = up;
        return NULL;
    case TOK_XCEL:
        if (r == 0 || c == 0)
            return "<xcel> needs a span both to its left and above";
        if (left != up)
            return "<xcel> must be inside a 2-D span (the cells to its left and above differ)";
        own[c] = left;
        return NULL;
    default:
        return "not a span token";
    }
}

static bool empty_cell(const struct table_cell *c)
{
    return c->kind == CELL_DATA && c->rowspan == 1 && c->colspan == 1 && !c->text[0];
}

static int count_header_rows(const struct builder *b)
{
    const struct table *t = b->t;
    int r = 0;
    for (; r < t->n_rows; r++) {
        bool any_header = false;
        for (int c = 0; c < t->n_cols; c++) {
            const struct table_cell *cell = &t->cells[b->owner[(size_t)r * t->n_cols + c]];
            if (cell->kind == CELL_COLUMN_HEADER)
                any_header = true;
            else if (!empty_cell(cell))
                return r;
        }
        if (!any_header)
            break;
    }
    return r;
}

/* Pass 3. */
static int build(struct parser *p, struct table **out)
{
    struct builder b = {.p = p};
    int err = QUIRE_ENOMEM;
    b.t = table_new((int)p->n_rows, (int)p->n_cols);
    size_t n = p->n_rows * p->n_cols;
    b.owner = q_malloc((n ? n : 1) * sizeof *b.owner);
    if (!b.t || !b.owner)
        goto out_free;
    for (int r = 0; r < b.t->n_rows; r++) {
        for (int c = 0; c < b.t->n_cols; c++) {
            const struct token *tok = &p->grid[(size_t)r * p->n_cols + c];
            if (is_cell_start(tok->type)) {
                if ((err = new_cell(&b, r, c, tok)) != 0)
                    goto out_free;
                continue;
            }
            const struct token *at = tok;
            const char *problem = place_span(&b, r, c, &at);
            if (!problem)
                continue;
            if (!p->repair) {
                err = fail_at(p, at, problem);
                goto out_free;
            }
            p->repairs++; /* the misplaced span token becomes an empty cell */
            struct token empty = {.type = TOK_ECEL, .index = tok->index};
            if ((err = new_cell(&b, r, c, &empty)) != 0)
                goto out_free;
        }
    }
    b.t->header_rows = count_header_rows(&b);
    free(b.owner);
    *out = b.t;
    return 0;

out_free:
    free(b.owner);
    table_free(b.t);
    return err;
}

int table_from_otsl(const char *otsl, bool repair, struct table **out, int *repaired, char **msg)
{
    assert(otsl && out);
    struct parser p = {.src = otsl, .repair = repair};
    int err;
    *out = NULL;
    if (msg)
        *msg = NULL;
    if (repaired)
        *repaired = 0;
    if ((err = scan(&p)) == 0 && (err = cut_rows(&p)) == 0 && (err = fill_grid(&p)) == 0)
        err = build(&p, out);
    if (err == 0 && repaired)
        *repaired = p.repairs;
    if (err == QUIRE_EPARSE && msg) {
        *msg = p.msg;
        p.msg = NULL;
    }
    free(p.msg);
    free(p.toks);
    free(p.grid);
    free(p.row_len);
    return err;
}
