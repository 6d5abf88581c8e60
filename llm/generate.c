/*
 * llm/generate.c - the per-thread state (every buffer allocated once, sized from the config,
 * max_tokens and max_images) and greedy generation over it.
 *
 * The token loop does not allocate: it feeds one token at a time through the decoder, whose
 * buffers and KV cache were sized here.
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

struct llm_state *llm_state_new(const struct llm_model *m, int max_tokens, int max_images,
                                int *err)
{
    const struct llm_config *c = &m->config;
    const struct llm_vision_config *vc = &c->vision;
    const struct llm_text_config *tc = &c->text;
    if (max_tokens < 1 || max_tokens > tc->max_positions || max_images < 0 ||
        (size_t)max_images * c->image_seq_len > (size_t)max_tokens) {
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
    struct llm_vision_state *v = &s->vision;
    struct llm_text_state *t = &s->text;
    t->chunk = max_tokens < LLM__CHUNK ? max_tokens : LLM__CHUNK;
    size_t np = max_images ? (size_t)vc->n_patches : 0, ch = (size_t)t->chunk;
    size_t q_dim = (size_t)tc->n_heads * tc->head_dim;
    size_t kv = (size_t)tc->n_layers * max_tokens * tc->n_kv_heads * tc->head_dim;
    size_t f2 = (size_t)c->scale_factor * c->scale_factor;
    /* the scores of a prompt chunk, or of one token's query heads per KV head (decode) */
    size_t group = (size_t)(tc->n_heads / tc->n_kv_heads), att_rows = ch > group ? ch : group;
    float **ptrs[] = {
        &v->patches, &v->x, &v->xb, &v->q, &v->k, &v->v, &v->attn_out, &v->att, &v->hb,
        &v->shuffled, &s->image_features,
        &t->x, &t->xb, &t->q, &t->attn_out, &t->hb, &t->hb2, &t->att, &t->key_cache,
        &t->value_cache, &t->rope_cos, &t->rope_sin, &t->logits,
    };
    size_t sizes[] = {
        np * vc->patch_dim, np * vc->dim, np * vc->dim, np * vc->dim, np * vc->dim,
        np * vc->dim, np * vc->dim, np * np, np * vc->hidden_dim,
        max_images ? (size_t)c->image_seq_len * vc->dim * f2 : 0,
        (size_t)max_images * c->image_seq_len * tc->dim,
        ch * tc->dim, ch * tc->dim, ch * q_dim, ch * q_dim, ch * tc->hidden_dim,
        ch * tc->hidden_dim, att_rows * max_tokens, kv, kv,
        (size_t)max_tokens * tc->head_dim / 2, (size_t)max_tokens * tc->head_dim / 2,
        (size_t)tc->vocab_size,
    };
    s->otsl.max_cols = max_tokens;
    s->otsl.prev = q_calloc((size_t)max_tokens, sizeof(*s->otsl.prev));
    s->otsl.cur = q_calloc((size_t)max_tokens, sizeof(*s->otsl.cur));
    if (!alloc_all(ptrs, sizes, (int)(sizeof(sizes) / sizeof(sizes[0]))) || !s->otsl.prev ||
        !s->otsl.cur) {
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
    struct llm_vision_state *v = &s->vision;
    struct llm_text_state *t = &s->text;
    float *all[] = {
        v->patches, v->x, v->xb, v->q, v->k, v->v, v->attn_out, v->att, v->hb, v->shuffled,
        s->image_features, t->x, t->xb, t->q, t->attn_out, t->hb, t->hb2, t->att,
        t->key_cache, t->value_cache, t->rope_cos, t->rope_sin, t->logits,
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]);
    free(s->otsl.prev);
    free(s->otsl.cur);
    free(s);
}

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

int llm_generate(const struct llm_model *m, struct llm_state *s, const int32_t *prompt,
                 int n_prompt, const float *pixels, int n_images,
                 const struct llm_generate_options *o, int32_t *out, int *n_out,
                 float *mean_logprob)
{
    const struct llm_config *c = &m->config;
    *n_out = 0;
    *mean_logprob = 0.0f;
    if (s->model != m || n_prompt < 1 || o->max_new_tokens < 0 || n_images < 0 ||
        n_images > s->max_images || (n_images > 0 && !pixels) ||
        n_prompt + o->max_new_tokens - 1 > s->max_tokens ||
        (o->n_stop_ids > 0 && !o->stop_ids) ||
        (o->otsl && o->otsl->vocab_size != c->text.vocab_size))
        return QUIRE_EINVAL;
    int n_image_tokens = 0;
    for (int i = 0; i < n_prompt; i++) {
        if (prompt[i] < 0 || prompt[i] >= c->text.vocab_size)
            return QUIRE_EINVAL;
        n_image_tokens += prompt[i] == c->image_token_id;
    }
    if (n_image_tokens != n_images * c->image_seq_len)
        return QUIRE_EINVAL;
    if (o->max_new_tokens == 0)
        return 0;

    if (n_images)
        llm__encode_images(m, s, pixels, n_images);
    int row = 0;
    llm__decoder_forward(m, s, prompt, n_prompt, 0, n_images ? s->image_features : NULL, &row,
                         NULL);
    double sum = 0;
    int pos = n_prompt;
    if (o->otsl)
        llm__otsl_reset(&s->otsl);
    for (int i = 0; i < o->max_new_tokens; i++) {
        int32_t tok = pick(s->text.logits, c->text.vocab_size, o, &s->otsl,
                           o->max_new_tokens - i);
        if (tok < 0)
            break; /* the OTSL constraint allows nothing (the budget is too small) */
        out[(*n_out)++] = tok;
        sum += logprob_of(s->text.logits, c->text.vocab_size, tok);
        bool stop = is_stop(o, tok);
        if (o->otsl && !stop) {
            llm__otsl_advance(o->otsl, &s->otsl, tok);
            stop = llm__otsl_done(&s->otsl, o->n_stop_ids > 0);
        }
        if (stop || i + 1 == o->max_new_tokens)
            break;
        llm__decoder_forward(m, s, &tok, 1, pos++, NULL, NULL, NULL);
    }
    *mean_logprob = *n_out ? (float)(sum / *n_out) : 0.0f;
    return 0;
}
