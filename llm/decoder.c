/*
 * llm/decoder.c - the Llama text decoder: token embeddings (image features substituted at
 * image-token positions), pre-norm blocks with GQA attention + RoPE and a SwiGLU MLP, final
 * RMSNorm, lm_head.
 *
 * A prompt is fed in chunks of up to LLM__CHUNK tokens (sgemm over the chunk; the chunk's
 * keys and values go straight into the KV cache, then each query attends causally to the whole
 * cache so far). One decoded token is a chunk of one, which takes the matrix-vector paths in
 * ops.c.
 *
 * A batch state holds max_batch KV caches. Prompts are fed one sequence at a time (as above);
 * then llm__decoder_step() advances several sequences by one token each, row r of the chunk
 * buffers being sequence seqs[r]: the matrix products stream each weight matrix once for all
 * rows (llm__linear_rows, bit for bit the one-row product), while RoPE and attention run per
 * row against that sequence's own cache and position.
 */
#include "llm_internal.h"
#include "ops_internal.h"

#include <assert.h>
#include <string.h>

static void embed(const struct llm_model *m, struct llm_state *s, const int32_t *tokens, int n,
                  const float *image_features, int *image_row)
{
    const struct llm_text_config *c = &m->config.text;
    for (int i = 0; i < n; i++) {
        const float *src;
        assert(tokens[i] >= 0 && tokens[i] < c->vocab_size);
        if (image_features && tokens[i] == m->config.image_token_id)
            src = image_features + (size_t)(*image_row)++ * c->dim;
        else
            src = m->text.embed + (size_t)tokens[i] * c->dim;
        memcpy(s->text.x + (size_t)i * c->dim, src, sizeof(float) * c->dim);
    }
}

/* Offset of (seq, layer l) in the key and value caches. */
static size_t cache_offset(const struct llm_model *m, const struct llm_state *s, int seq, int l)
{
    const struct llm_text_config *c = &m->config.text;
    size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    return ((size_t)seq * c->n_layers + (size_t)l) * s->max_tokens * kv_dim;
}

static void attention(const struct llm_model *m, struct llm_state *s, int seq, int l, int n,
                      int pos)
{
    const struct llm_text_config *c = &m->config.text;
    const struct llm_text_layer_weights *w = &m->text.layers[l];
    struct llm_text_state *t = &s->text;
    int hd = c->head_dim, q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd, half = hd / 2;
    size_t layer_off = cache_offset(m, s, seq, l);
    float *keys = t->key_cache + layer_off, *values = t->value_cache + layer_off;

    llm__rmsnorm(t->xb, t->x, w->attn_norm, n, c->dim, c->eps);
    llm__linear(t->q, t->xb, w->wq, NULL, n, c->dim, q_dim);
    llm__linear(keys + (size_t)pos * kv_dim, t->xb, w->wk, NULL, n, c->dim, kv_dim);
    llm__linear(values + (size_t)pos * kv_dim, t->xb, w->wv, NULL, n, c->dim, kv_dim);
    for (int i = 0; i < n; i++) {
        const float *cos = t->rope_cos + (size_t)(pos + i) * half;
        const float *sin = t->rope_sin + (size_t)(pos + i) * half;
        llm__rope(t->q + (size_t)i * q_dim, c->n_heads, hd, cos, sin);
        llm__rope(keys + (size_t)(pos + i) * kv_dim, c->n_kv_heads, hd, cos, sin);
    }
    int group = c->n_heads / c->n_kv_heads; /* query heads per key/value head */
    if (n == 1) {
        llm__attention_decode(t->attn_out, t->q, keys, values, kv_dim, pos + 1, c->n_heads,
                              c->n_kv_heads, hd, t->att);
    } else {
        for (int h = 0; h < c->n_heads; h++) {
            int kvh = h / group;
            llm__attention_head(t->attn_out + h * hd, q_dim, t->q + h * hd, q_dim,
                                keys + kvh * hd, values + kvh * hd, kv_dim, n, pos + n, hd, pos,
                                t->att);
        }
    }
    llm__linear_add(t->x, t->attn_out, w->wo, NULL, n, q_dim, c->dim);
}

static void mlp(const struct llm_model *m, struct llm_state *s, int l, int n)
{
    const struct llm_text_config *c = &m->config.text;
    const struct llm_text_layer_weights *w = &m->text.layers[l];
    struct llm_text_state *t = &s->text;
    llm__rmsnorm(t->xb, t->x, w->ffn_norm, n, c->dim, c->eps);
    llm__linear(t->hb, t->xb, w->w_gate, NULL, n, c->dim, c->hidden_dim);
    llm__linear(t->hb2, t->xb, w->w_up, NULL, n, c->dim, c->hidden_dim);
    llm__silu_mul(t->hb, t->hb2, (size_t)n * c->hidden_dim);
    llm__linear_add(t->x, t->hb, w->w_down, NULL, n, c->hidden_dim, c->dim);
}

static void forward_chunk(const struct llm_model *m, struct llm_state *s, int seq,
                          const int32_t *tokens, int n, int pos, const float *image_features,
                          int *image_row, float *all_logits)
{
    const struct llm_text_config *c = &m->config.text;
    embed(m, s, tokens, n, image_features, image_row);
    for (int l = 0; l < c->n_layers; l++) {
        attention(m, s, seq, l, n, pos);
        mlp(m, s, l, n);
    }
    if (all_logits) {
        llm__rmsnorm(s->text.x, s->text.x, m->text.norm, n, c->dim, c->eps);
        llm__linear(all_logits, s->text.x, m->text.lm_head, NULL, n, c->dim, c->vocab_size);
        memcpy(s->text.logits, all_logits + (size_t)(n - 1) * c->vocab_size,
               sizeof(float) * c->vocab_size);
    } else {
        float *last = s->text.x + (size_t)(n - 1) * c->dim;
        llm__rmsnorm(last, last, m->text.norm, 1, c->dim, c->eps);
        llm__linear(s->text.logits, last, m->text.lm_head, NULL, 1, c->dim, c->vocab_size);
    }
}

void llm__decoder_prefill(const struct llm_model *m, struct llm_state *s, int seq,
                          const int32_t *tokens, int n, int pos, const float *image_features,
                          int *image_row)
{
    assert(seq >= 0 && seq < s->max_batch);
    assert(n > 0 && pos >= 0 && pos + n <= s->max_tokens);
    for (int done = 0; done < n;) {
        int k = n - done < s->text.chunk ? n - done : s->text.chunk;
        forward_chunk(m, s, seq, tokens + done, k, pos + done, image_features, image_row, NULL);
        done += k;
    }
}

void llm__decoder_forward(const struct llm_model *m, struct llm_state *s, const int32_t *tokens,
                          int n, int pos, const float *image_features, int *image_row,
                          float *all_logits)
{
    assert(n > 0 && pos >= 0 && pos + n <= s->max_tokens);
    for (int done = 0; done < n;) {
        int k = n - done < s->text.chunk ? n - done : s->text.chunk;
        float *logits = all_logits ? all_logits + (size_t)done * m->config.text.vocab_size : NULL;
        forward_chunk(m, s, 0, tokens + done, k, pos + done, image_features, image_row, logits);
        done += k;
    }
}

/* The attention block of a decode step: row r is sequence seqs[r] at position pos[r]. */
static void step_attention(const struct llm_model *m, struct llm_state *s, int l, const int *seqs,
                           const int *pos, int n)
{
    const struct llm_text_config *c = &m->config.text;
    const struct llm_text_layer_weights *w = &m->text.layers[l];
    struct llm_text_state *t = &s->text;
    int hd = c->head_dim, q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd, half = hd / 2;
    float *new_k = t->kv_rows, *new_v = t->kv_rows + (size_t)n * kv_dim;

    llm__rmsnorm(t->xb, t->x, w->attn_norm, n, c->dim, c->eps);
    llm__linear_rows(t->q, t->xb, w->wq, n, c->dim, q_dim, false);
    llm__linear_rows(new_k, t->xb, w->wk, n, c->dim, kv_dim, false);
    llm__linear_rows(new_v, t->xb, w->wv, n, c->dim, kv_dim, false);
    for (int r = 0; r < n; r++) {
        size_t off = cache_offset(m, s, seqs[r], l);
        float *keys = t->key_cache + off, *values = t->value_cache + off;
        float *k = keys + (size_t)pos[r] * kv_dim, *q = t->q + (size_t)r * q_dim;
        memcpy(k, new_k + (size_t)r * kv_dim, sizeof(float) * kv_dim);
        memcpy(values + (size_t)pos[r] * kv_dim, new_v + (size_t)r * kv_dim,
               sizeof(float) * kv_dim);
        const float *cos = t->rope_cos + (size_t)pos[r] * half;
        const float *sin = t->rope_sin + (size_t)pos[r] * half;
        llm__rope(q, c->n_heads, hd, cos, sin);
        llm__rope(k, c->n_kv_heads, hd, cos, sin);
        llm__attention_decode(t->attn_out + (size_t)r * q_dim, q, keys, values, kv_dim,
                              pos[r] + 1, c->n_heads, c->n_kv_heads, hd, t->att);
    }
    llm__linear_rows(t->x, t->attn_out, w->wo, n, q_dim, c->dim, true);
}

void llm__decoder_step(const struct llm_model *m, struct llm_state *s, const int32_t *tokens,
                       const int *seqs, const int *pos, int n)
{
    const struct llm_text_config *c = &m->config.text;
    struct llm_text_state *t = &s->text;
    assert(n > 0 && n <= s->max_batch && n <= t->chunk);
    for (int r = 0; r < n; r++)
        assert(seqs[r] >= 0 && seqs[r] < s->max_batch && pos[r] >= 0 && pos[r] < s->max_tokens);
    embed(m, s, tokens, n, NULL, NULL);
    for (int l = 0; l < c->n_layers; l++) {
        const struct llm_text_layer_weights *w = &m->text.layers[l];
        step_attention(m, s, l, seqs, pos, n);
        llm__rmsnorm(t->xb, t->x, w->ffn_norm, n, c->dim, c->eps);
        llm__linear_rows(t->hb, t->xb, w->w_gate, n, c->dim, c->hidden_dim, false);
        llm__linear_rows(t->hb2, t->xb, w->w_up, n, c->dim, c->hidden_dim, false);
        llm__silu_mul(t->hb, t->hb2, (size_t)n * c->hidden_dim);
        llm__linear_rows(t->x, t->hb, w->w_down, n, c->hidden_dim, c->dim, true);
    }
    llm__rmsnorm(t->x, t->x, m->text.norm, n, c->dim, c->eps);
    llm__linear_rows(t->logits, t->x, m->text.lm_head, n, c->dim, c->vocab_size, false);
}
