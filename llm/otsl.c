/*
 * llm/otsl.c - OTSL-constrained decoding: which tokens keep the output a valid OTSL table.
 *
 * Why: a small model sometimes writes a ragged row, a <ucel> with no cell above or a text token
 * after </otsl>; table/otsl.c can repair some of that, but masking the logits so that only
 * grammatical tokens can win makes every output parse strictly (table_from_otsl(repair=false))
 * at no cost when the model was right anyway.
 *
 * The grammar is the strict one of table/otsl.c: "<otsl>", then rows of grid tokens each ended
 * by "<nl>", then "</otsl>" (then a stop token, if the caller gave any). Every row has as many
 * grid tokens as the first. Text follows only <fcel>, <ched>, <rhed> and <srow>, is valid UTF-8
 * when the next tag comes, and holds no '<' (which could start an unknown tag) or NUL. Spans:
 * <lcel> continues a cell anchored in the same row to its left; <ucel> continues, below, a cell
 * anchored in the same column, and a cell w columns wide then forces w - 1 <xcel>; <xcel> needs
 * the same cell to its left and above. <loc_N> and other added tokens are never allowed.
 * Budget: a token is allowed only if the table can still be closed (rows completed, </otsl>, a
 * stop token) within the tokens left, so output cut by max_new_tokens still parses (given at
 * least 4 tokens, the shortest table <otsl><ecel><nl></otsl>).
 *
 * The per-id classes are computed once from the tokenizer (struct llm_otsl, read-only, any
 * number of threads); the per-generation position lives in the caller's llm_state.
 *
 * NEEDSWORK: cell text cannot contain '<' under the constraint; a table with "a < b" in a cell
 * loses the '<'. Allowing it needs a lookahead on which byte strings could still form a tag.
 */
#include "llm_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* UTF-8 as a DFA over bytes (the checks of g_utf8_validate: no overlongs, surrogates or code
 * points past U+10FFFF). State 0 = between characters; UTF8_REJECT = invalid. */
enum { UTF8_STATES = 8, UTF8_REJECT = 8 };

static uint8_t utf8_step(uint8_t state, uint8_t b)
{
    static const struct { uint8_t lo, hi, next; } cont[UTF8_STATES] = {
        [1] = {0x80, 0xBF, 0}, [2] = {0x80, 0xBF, 1}, [3] = {0xA0, 0xBF, 1},
        [4] = {0x80, 0x9F, 1}, [5] = {0x80, 0xBF, 2}, [6] = {0x90, 0xBF, 2},
        [7] = {0x80, 0x8F, 2},
    };
    if (state == UTF8_REJECT)
        return UTF8_REJECT;
    if (state != 0)
        return b >= cont[state].lo && b <= cont[state].hi ? cont[state].next : UTF8_REJECT;
    if (b < 0x80)
        return 0;
    if (b >= 0xC2 && b <= 0xDF)
        return 1;
    if (b == 0xE0)
        return 3;
    if (b == 0xED)
        return 4;
    if (b >= 0xE1 && b <= 0xEF)
        return 2;
    if (b == 0xF0)
        return 6;
    if (b >= 0xF1 && b <= 0xF3)
        return 5;
    if (b == 0xF4)
        return 7;
    return UTF8_REJECT;
}

/* Continuation bytes still needed in each state (each can be one byte-level token). */
static const uint8_t utf8_pending[UTF8_STATES] = {0, 1, 2, 2, 2, 3, 3, 3};

static const char *const tag_names[] = {
    [LLM__OTSL_OPEN] = "<otsl>", [LLM__OTSL_CLOSE] = "</otsl>", [LLM__OTSL_NL] = "<nl>",
    [LLM__OTSL_FCEL] = "<fcel>", [LLM__OTSL_ECEL] = "<ecel>",   [LLM__OTSL_CHED] = "<ched>",
    [LLM__OTSL_RHED] = "<rhed>", [LLM__OTSL_SROW] = "<srow>",   [LLM__OTSL_LCEL] = "<lcel>",
    [LLM__OTSL_UCEL] = "<ucel>", [LLM__OTSL_XCEL] = "<xcel>",
};

struct llm_otsl *llm_otsl_new(const struct llm_tokenizer *tok, int vocab_size, int *err,
                              char **msg)
{
    if (vocab_size < 1) {
        *err = QUIRE_EINVAL;
        return NULL;
    }
    struct llm_otsl *o = q_calloc(1, sizeof(*o));
    if (!o)
        goto out_nomem;
    o->vocab_size = vocab_size;
    o->cls = q_calloc((size_t)vocab_size, 1);
    o->utf8_next = q_malloc((size_t)vocab_size * UTF8_STATES);
    if (!o->cls || !o->utf8_next)
        goto out_nomem;
    for (int id = 0; id < vocab_size; id++) {
        const char *bytes;
        int len;
        bool added;
        o->cls[id] = LLM__OTSL_NEVER;
        if (!llm__tokenizer_piece(tok, id, &bytes, &len, &added) || added || len == 0 ||
            memchr(bytes, '<', (size_t)len) || memchr(bytes, 0, (size_t)len))
            continue;
        o->cls[id] = LLM__OTSL_TEXT;
        for (uint8_t s = 0; s < UTF8_STATES; s++) {
            uint8_t t = s;
            for (int i = 0; i < len; i++)
                t = utf8_step(t, (uint8_t)bytes[i]);
            o->utf8_next[(size_t)id * UTF8_STATES + s] = t;
        }
    }
    for (int tag = LLM__OTSL_OPEN; tag <= LLM__OTSL_XCEL; tag++) {
        int32_t id = llm_tokenizer_token_id(tok, tag_names[tag]);
        if (id < 0 || id >= vocab_size) {
            *err = QUIRE_EMODEL;
            if (msg)
                *msg = q_asprintf("tokenizer: no token %s inside the model's %d ids: cannot "
                                  "constrain to OTSL", tag_names[tag], vocab_size);
            llm_otsl_free(o);
            return NULL;
        }
        o->cls[id] = (uint8_t)tag;
    }
    *err = 0;
    return o;
out_nomem:
    llm_otsl_free(o);
    *err = QUIRE_ENOMEM;
    return NULL;
}

void llm_otsl_free(struct llm_otsl *o)
{
    if (!o)
        return;
    free(o->cls);
    free(o->utf8_next);
    free(o);
}

void llm__otsl_reset(struct llm__otsl_state *st)
{
    st->phase = LLM__OTSL_START;
    st->row = st->col = st->n_cols = st->forced = 0;
    st->utf8 = 0;
    st->in_text_cell = false;
}

/* Tokens needed at least to finish the table from `st` (rows, </otsl>, a stop token). */
static int closing_cost(const struct llm__otsl_state *st, bool has_stop)
{
    int stop = has_stop ? 1 : 0;
    switch (st->phase) {
    case LLM__OTSL_START:
        return 4 + stop; /* <otsl><ecel><nl></otsl> */
    case LLM__OTSL_GRID: {
        int pending = utf8_pending[st->utf8];
        if (st->row == 0)
            return pending + (st->col == 0 ? 1 : 0) + 2 + stop;
        if (st->col == 0)
            return 1 + stop; /* </otsl> right here */
        return pending + (st->n_cols - st->col) + 2 + stop;
    }
    case LLM__OTSL_CLOSED:
        return stop;
    default:
        return 0;
    }
}

static bool same_cell(const struct llm__otsl_cell *a, const struct llm__otsl_cell *b)
{
    return a->row == b->row && a->col == b->col;
}

/* Whether grid token `cls` may come at the current position (ignoring the budget). */
static bool grid_token_ok(const struct llm__otsl_state *st, int cls)
{
    int r = st->row, c = st->col;
    bool room = r == 0 ? c < st->max_cols : c < st->n_cols;
    if (st->utf8 != 0)
        return false; /* a tag ends the cell text: it must be whole characters */
    if (st->forced > 0)
        return cls == LLM__OTSL_XCEL;
    switch (cls) {
    case LLM__OTSL_NL:
        return r == 0 ? c > 0 : c == st->n_cols;
    case LLM__OTSL_CLOSE:
        return r > 0 && c == 0;
    case LLM__OTSL_FCEL: case LLM__OTSL_ECEL: case LLM__OTSL_CHED: case LLM__OTSL_RHED:
    case LLM__OTSL_SROW:
        return room;
    case LLM__OTSL_LCEL:
        return room && c > 0 && st->cur[c - 1].row == r;
    case LLM__OTSL_UCEL:
        return room && r > 0 && st->prev[c].col == c;
    case LLM__OTSL_XCEL:
        return room && r > 0 && c > 0 && same_cell(&st->cur[c - 1], &st->prev[c]);
    default:
        return false;
    }
}

bool llm__otsl_allowed(const struct llm_otsl *o, const struct llm__otsl_state *st, int32_t id,
                       int budget, bool is_stop, bool has_stop)
{
    if (id < 0 || id >= o->vocab_size || budget < 1)
        return false;
    if (st->phase == LLM__OTSL_CLOSED)
        return is_stop;
    if (is_stop)
        return false;
    int cls = o->cls[id];
    struct llm__otsl_state next = *st;
    switch (cls) {
    case LLM__OTSL_NEVER:
        return false;
    case LLM__OTSL_TEXT:
        if (st->phase != LLM__OTSL_GRID || !st->in_text_cell)
            return false;
        next.utf8 = o->utf8_next[(size_t)id * UTF8_STATES + st->utf8];
        if (next.utf8 == UTF8_REJECT)
            return false;
        break;
    case LLM__OTSL_OPEN:
        if (st->phase != LLM__OTSL_START)
            return false;
        next.phase = LLM__OTSL_GRID;
        break;
    default:
        if (st->phase != LLM__OTSL_GRID || !grid_token_ok(st, cls))
            return false;
        /* the budget only needs the position, not the span bookkeeping */
        if (cls == LLM__OTSL_CLOSE) {
            next.phase = LLM__OTSL_CLOSED;
        } else if (cls == LLM__OTSL_NL) {
            next.n_cols = st->row == 0 ? st->col : st->n_cols;
            next.row++;
            next.col = 0;
        } else {
            next.col++;
        }
        break;
    }
    return closing_cost(&next, has_stop) <= budget - 1;
}

void llm__otsl_advance(const struct llm_otsl *o, struct llm__otsl_state *st, int32_t id)
{
    int cls = o->cls[id];
    int r = st->row, c = st->col;
    switch (cls) {
    case LLM__OTSL_TEXT:
        st->utf8 = o->utf8_next[(size_t)id * UTF8_STATES + st->utf8];
        return;
    case LLM__OTSL_OPEN:
        st->phase = LLM__OTSL_GRID;
        return;
    case LLM__OTSL_CLOSE:
        st->phase = LLM__OTSL_CLOSED;
        return;
    case LLM__OTSL_NL:
        if (r == 0)
            st->n_cols = c;
        memcpy(st->prev, st->cur, sizeof(*st->cur) * (size_t)st->n_cols);
        st->row++;
        st->col = 0;
        st->in_text_cell = false;
        return;
    case LLM__OTSL_LCEL: {
        struct llm__otsl_cell cell = st->cur[c - 1];
        cell.colspan++;
        for (int k = cell.col; k <= c; k++)
            st->cur[k] = cell;
        break;
    }
    case LLM__OTSL_UCEL:
        st->cur[c] = st->prev[c];
        st->forced = st->prev[c].colspan - 1;
        break;
    case LLM__OTSL_XCEL:
        st->cur[c] = st->cur[c - 1];
        if (st->forced > 0)
            st->forced--;
        break;
    default: /* a cell anchor */
        st->cur[c] = (struct llm__otsl_cell){r, c, 1};
        break;
    }
    st->in_text_cell = cls == LLM__OTSL_FCEL || cls == LLM__OTSL_CHED ||
                       cls == LLM__OTSL_RHED || cls == LLM__OTSL_SROW;
    st->col++;
}

bool llm__otsl_done(const struct llm__otsl_state *st, bool has_stop)
{
    return st->phase == LLM__OTSL_CLOSED && !has_stop;
}
