/*
 * llm/generate.c - the per-thread state (every buffer allocated once, sized from the config,
 * max_tokens and max_images) and greedy generation over it.
 *
 * The token loop does not allocate: it feeds one token per sequence at a time through the
 * decoder, whose buffers and KV caches were sized here.
 *
 * A batch (llm_generate_batch) runs each sequence's images and prompt alone, one after the
 * other (that work is already sgemm over many rows), then decodes the sequences in lockstep:
 * one llm__decoder_step() per token for all sequences still going. A sequence that stops
 * leaves the active list (kept in order, so the rows of a step stay in sequence order); the
 * others go on. Greedy tokens are those of decoding each sequence alone.
 */
#include "llm_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void rope_tables(const struct llm_text_config *c, int max_tokens, float *cos_t,
                        float *sin_t)
{
    /* As transformers computes them, in float32: inv_freq = 1 / theta^(2i / head_dim);
     * angle = position * inv_freq (one float multiply). */
    int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        float inv = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)c->head_dim);
        for (int p = 0; p < max_tokens; p++) {
            float angle = (float)p * inv;
            cos_t[(size_t)p * half + i] = cosf(angle);
            sin_t[(size_t)p * half + i] = sinf(angle);
        }
    }
}

/* Allocates each buffer named in the list; returns false when one failed. */
static bool alloc_all(float **ptrs[], const size_t *sizes, int n)
{
    bool ok = true;
    for (int i = 0; i < n; i++)
        if (sizes[i] && !(*ptrs[i] = q_calloc(sizes[i], sizeof(float))))
            ok = false;
    return ok;
}

bool llm__vision_state_alloc(struct llm_vision_state *v, const struct llm_vision_config *c)
{
    size_t np = (size_t)c->n_patches, d = (size_t)c->dim;
    float **ptrs[] = {&v->patches, &v->x, &v->xb, &v->q, &v->k, &v->v, &v->attn_out, &v->att,
                      &v->hb};
    size_t sizes[] = {np * c->patch_dim, np * d, np * d, np * d, np * d, np * d, np * d, np * np,
                      np * c->hidden_dim};
    return alloc_all(ptrs, sizes, (int)(sizeof(sizes) / sizeof(sizes[0])));
}

void llm__vision_state_release(struct llm_vision_state *v)
{
    float *all[] = {v->patches, v->x, v->xb, v->q, v->k, v->v, v->attn_out, v->att, v->hb,
                    v->shuffled};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]);
    memset(v, 0, sizeof(*v));
}

struct llm_state *llm_state_new(const struct llm_model *m, int max_tokens, int max_images,
                                int *err)
{
    return llm_state_new_batch(m, max_tokens, max_images, 1, err);
}

size_t llm_state_bytes(const struct llm_model *m, int max_tokens, int max_batch)
{
    const struct llm_text_config *tc = &m->config.text;
    size_t kv = (size_t)tc->n_layers * max_tokens * tc->n_kv_heads * tc->head_dim;
    return (size_t)max_batch * (2 * kv * sizeof(float) + (size_t)tc->vocab_size * sizeof(float) +
                                2 * (size_t)max_tokens * sizeof(struct llm__otsl_cell));
}

struct llm_state *llm_state_new_batch(const struct llm_model *m, int max_tokens, int max_images,
                                      int max_batch, int *err)
{
    const struct llm_config *c = &m->config;
    const struct llm_vision_config *vc = &c->vision;
    const struct llm_text_config *tc = &c->text;
    if (max_tokens < 1 || max_tokens > tc->max_positions || max_images < 0 ||
        (size_t)max_images * c->image_seq_len > (size_t)max_tokens || max_batch < 1 ||
        max_batch > LLM_MAX_BATCH) {
        *err = QUIRE_EINVAL;
        return NULL;
    }
    struct llm_state *s = q_calloc(1, sizeof(*s));
    if (!s) {
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    s->model = m;
    s->max_tokens = max_tokens;
    s->max_images = max_images;
    s->max_batch = max_batch;
    struct llm_vision_state *v = &s->vision;
    struct llm_text_state *t = &s->text;
    t->chunk = max_tokens < LLM__CHUNK ? max_tokens : LLM__CHUNK;
    if (t->chunk < max_batch)
        t->chunk = max_batch; /* a decode step's rows */
    size_t ch = (size_t)t->chunk;
    size_t q_dim = (size_t)tc->n_heads * tc->head_dim, nb = (size_t)max_batch;
    size_t kv_dim = (size_t)tc->n_kv_heads * tc->head_dim;
    size_t kv = nb * tc->n_layers * max_tokens * kv_dim;
    size_t f2 = (size_t)c->scale_factor * c->scale_factor;
    /* the scores of a prompt chunk, or of one token's query heads per KV head (decode) */
    size_t group = (size_t)(tc->n_heads / tc->n_kv_heads), att_rows = ch > group ? ch : group;
    float **ptrs[] = {
        &v->shuffled, &s->image_features,
        &t->x, &t->xb, &t->q, &t->attn_out, &t->hb, &t->hb2, &t->att, &t->kv_rows,
        &t->key_cache, &t->value_cache, &t->rope_cos, &t->rope_sin, &t->logits,
    };
    size_t sizes[] = {
        max_images ? (size_t)c->image_seq_len * vc->dim * f2 : 0,
        (size_t)max_images * c->image_seq_len * tc->dim,
        ch * tc->dim, ch * tc->dim, ch * q_dim, ch * q_dim, ch * tc->hidden_dim,
        ch * tc->hidden_dim, att_rows * max_tokens, nb * 2 * kv_dim, kv, kv,
        (size_t)max_tokens * tc->head_dim / 2, (size_t)max_tokens * tc->head_dim / 2,
        nb * tc->vocab_size,
    };
    bool ok = max_images == 0 || llm__vision_state_alloc(v, vc);
    ok = alloc_all(ptrs, sizes, (int)(sizeof(sizes) / sizeof(sizes[0]))) && ok;
    s->otsl = q_calloc(nb, sizeof(*s->otsl));
    s->seq = q_calloc(nb, sizeof(*s->seq));
    s->active = q_calloc(nb, sizeof(*s->active));
    s->step_tokens = q_calloc(nb, sizeof(*s->step_tokens));
    s->step_pos = q_calloc(nb, sizeof(*s->step_pos));
    ok = ok && s->otsl && s->seq && s->active && s->step_tokens && s->step_pos;
    for (int b = 0; ok && b < max_batch; b++) {
        s->otsl[b].max_cols = max_tokens;
        s->otsl[b].prev = q_calloc((size_t)max_tokens, sizeof(*s->otsl[b].prev));
        s->otsl[b].cur = q_calloc((size_t)max_tokens, sizeof(*s->otsl[b].cur));
        ok = s->otsl[b].prev && s->otsl[b].cur;
    }
    if (!ok) {
        llm_state_free(s);
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    rope_tables(tc, max_tokens, t->rope_cos, t->rope_sin);
    *err = 0;
    return s;
}

void llm_state_free(struct llm_state *s)
{
    if (!s)
        return;
    struct llm_text_state *t = &s->text;
    llm__vision_state_release(&s->vision);
    float *all[] = {
        s->image_features, t->x, t->xb, t->q, t->attn_out, t->hb, t->hb2, t->att, t->kv_rows,
        t->key_cache, t->value_cache, t->rope_cos, t->rope_sin, t->logits,
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]);
    for (int b = 0; s->otsl && b < s->max_batch; b++) {
        free(s->otsl[b].prev);
        free(s->otsl[b].cur);
    }
    free(s->otsl);
    free(s->seq);
    free(s->active);
    free(s->step_tokens);
    free(s->step_pos);
    free(s);
}

int llm_state_max_batch(const struct llm_state *s) { return s->max_batch; }

/* log softmax(logits)[id] */
static float logprob_of(const float *logits, int n, int32_t id)
{
    float max = logits[0];
    for (int i = 1; i < n; i++)
        max = logits[i] > max ? logits[i] : max;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)logits[i] - max);
    return (float)((double)logits[id] - max - log(sum));
}

static bool is_stop(const struct llm_generate_options *o, int32_t tok)
{
    for (int i = 0; i < o->n_stop_ids; i++)
        if (o->stop_ids[i] == tok)
            return true;
    return false;
}

/* The largest logit (the first on ties, like torch.argmax), among the tokens the OTSL
 * constraint allows when there is one; -1 when it allows none. */
static int32_t pick(const float *logits, int n, const struct llm_generate_options *o,
                    const struct llm__otsl_state *st, int budget)
{
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++) {
        if (best >= 0 && !(logits[i] > logits[best]))
            continue;
        if (o->otsl && !llm__otsl_allowed(o->otsl, st, i, budget, is_stop(o, i),
                                          o->n_stop_ids > 0))
            continue;
        best = i;
    }
    return best;
}

/* The most tokens sequence q may generate. */
static int budget_of(const struct llm_sequence *q, const struct llm_generate_options *o)
{
    return q->max_new_tokens > 0 && q->max_new_tokens < o->max_new_tokens ? q->max_new_tokens
                                                                          : o->max_new_tokens;
}

/* Checks one sequence's inputs against the model, the state and the options. */
static int check_sequence(const struct llm_model *m, const struct llm_state *s,
                          const struct llm_sequence *q, const struct llm_generate_options *o)
{
    const struct llm_config *c = &m->config;
    if (q->n_prompt < 1 || !q->prompt || q->n_images < 0 || q->n_images > s->max_images ||
        (q->n_images > 0 && !q->pixels) || (o->max_new_tokens > 0 && !q->out) ||
        q->max_new_tokens < 0 || q->n_prompt + budget_of(q, o) - 1 > s->max_tokens)
        return QUIRE_EINVAL;
    int n_image_tokens = 0;
    for (int i = 0; i < q->n_prompt; i++) {
        if (q->prompt[i] < 0 || q->prompt[i] >= c->text.vocab_size)
            return QUIRE_EINVAL;
        n_image_tokens += q->prompt[i] == c->image_token_id;
    }
    return n_image_tokens == q->n_images * c->image_seq_len ? 0 : QUIRE_EINVAL;
}

/* QUIRE_ECANCELLED or QUIRE_ETIMEOUT when the caller asked generation to give up; else 0.
 * Cheap: one load, and one clock read when there is a deadline. */
static int interrupted(const struct llm_generate_options *o)
{
    if (o->abort_flag && *o->abort_flag)
        return QUIRE_ECANCELLED;
    if (o->deadline > 0 && now_seconds() > o->deadline)
        return QUIRE_ETIMEOUT;
    return 0;
}

/* Takes sequence b's next token from `logits`; returns whether it goes on decoding. */
static bool emit(const struct llm_model *m, struct llm_state *s, struct llm_sequence *q, int b,
                 const float *logits, const struct llm_generate_options *o)
{
    int vocab = m->config.text.vocab_size;
    struct llm__sequence_state *st = &s->seq[b];
    int budget = budget_of(q, o);
    int32_t tok = pick(logits, vocab, o, &s->otsl[b], budget - q->n_out);
    if (tok < 0)
        return false; /* the OTSL constraint allows nothing (the budget is too small) */
    q->out[q->n_out++] = tok;
    st->sum += logprob_of(logits, vocab, tok);
    bool stop = is_stop(o, tok);
    if (o->otsl && !stop) {
        llm__otsl_advance(o->otsl, &s->otsl[b], tok);
        stop = llm__otsl_done(&s->otsl[b], o->n_stop_ids > 0);
    }
    st->next = tok;
    return !stop && q->n_out < budget;
}

int llm_generate_batch(const struct llm_model *m, struct llm_state *s, struct llm_sequence *seqs,
                       int n_seqs, const struct llm_generate_options *o)
{
    const struct llm_config *c = &m->config;
    for (int b = 0; b < n_seqs; b++) {
        seqs[b].n_out = 0;
        seqs[b].mean_logprob = 0.0f;
    }
    if (s->model != m || n_seqs < 1 || n_seqs > s->max_batch || o->max_new_tokens < 0 ||
        (o->n_stop_ids > 0 && !o->stop_ids) ||
        (o->otsl && o->otsl->vocab_size != c->text.vocab_size))
        return QUIRE_EINVAL;
    for (int b = 0; b < n_seqs; b++)
        if (check_sequence(m, s, &seqs[b], o))
            return QUIRE_EINVAL;
    if (o->max_new_tokens == 0)
        return 0;

    int err = 0, n_active = 0;
    for (int b = 0; b < n_seqs && !err; b++) {
        struct llm_sequence *q = &seqs[b];
        if ((err = interrupted(o)))
            break;
        if (q->n_images)
            llm__encode_images(m, s, q->pixels, q->n_images);
        int row = 0;
        llm__decoder_prefill(m, s, b, q->prompt, q->n_prompt, 0,
                             q->n_images ? s->image_features : NULL, &row);
        s->seq[b] = (struct llm__sequence_state){.pos = q->n_prompt};
        if (o->otsl)
            llm__otsl_reset(&s->otsl[b]);
        if (emit(m, s, q, b, s->text.logits, o))
            s->active[n_active++] = b;
    }
    while (n_active > 0 && !err) {
        if ((err = interrupted(o)))
            break;
        for (int r = 0; r < n_active; r++) {
            s->step_tokens[r] = s->seq[s->active[r]].next;
            s->step_pos[r] = s->seq[s->active[r]].pos++;
        }
        llm__decoder_step(m, s, s->step_tokens, s->active, s->step_pos, n_active);
        int kept = 0;
        for (int r = 0; r < n_active; r++) {
            int b = s->active[r];
            if (emit(m, s, &seqs[b], b, s->text.logits + (size_t)r * c->text.vocab_size, o))
                s->active[kept++] = b;
        }
        n_active = kept;
    }
    for (int b = 0; b < n_seqs; b++)
        if (seqs[b].n_out)
            seqs[b].mean_logprob = (float)(s->seq[b].sum / seqs[b].n_out);
    return err;
}

int llm_generate(const struct llm_model *m, struct llm_state *s, const int32_t *prompt,
                 int n_prompt, const float *pixels, int n_images,
                 const struct llm_generate_options *o, int32_t *out, int *n_out,
                 float *mean_logprob)
{
    struct llm_sequence q = {.prompt = prompt, .n_prompt = n_prompt, .pixels = pixels,
                             .n_images = n_images, .out = out};
    int err = llm_generate_batch(m, s, &q, 1, o);
    *n_out = q.n_out;
    *mean_logprob = q.mean_logprob;
    return err;
}
