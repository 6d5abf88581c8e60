/*
 * llm/vision.c - the SigLIP-style vision encoder and the Idefics3 connector.
 *
 * The patch embedding is a Conv2d with stride = kernel = patch_size; it is computed as one
 * sgemm: each patch's pixels are laid out (channel, y, x) like a row of the flattened kernel
 * (dim, channels * patch * patch). Position ids are 0..n_patches-1 because the engine always
 * feeds whole image_size x image_size images (Idefics3's bucketed position ids reduce to the
 * identity then). Blocks are pre-LN: x += attn(ln1(x)); x += fc2(gelu_tanh(fc1(ln2(x)))).
 */
#include "llm_internal.h"
#include "ops_internal.h"

#include <string.h>

void llm__patchify(const struct llm_vision_config *c, const float *pixels, float *patches)
{
    int p = c->patch_size, size = c->image_size, side = size / p;
    for (int py = 0; py < side; py++) {
        for (int px = 0; px < side; px++) {
            float *row = patches + (size_t)(py * side + px) * c->patch_dim;
            for (int ch = 0; ch < c->n_channels; ch++)
                for (int y = 0; y < p; y++)
                    memcpy(row + (size_t)(ch * p + y) * p,
                           pixels + ((size_t)ch * size + py * p + y) * size + px * p,
                           sizeof(float) * p);
        }
    }
}

void llm__vision_embed(const struct llm_model *m, struct llm_state *s, const float *pixels)
{
    const struct llm_vision_config *c = &m->config.vision;
    struct llm_vision_state *v = &s->vision;
    llm__patchify(c, pixels, v->patches);
    /* patches (n_patches, patch_dim) @ patch_w^T -> x (n_patches, dim) */
    llm__linear(v->x, v->patches, m->vision.patch_w, m->vision.patch_b, c->n_patches,
                c->patch_dim, c->dim);
    llm__add(v->x, m->vision.position, (size_t)c->n_patches * c->dim);
}

static void encoder_layer(const struct llm_vision_config *c,
                          const struct llm_vision_layer_weights *w, struct llm_vision_state *v)
{
    int n = c->n_patches, dim = c->dim, hd = dim / c->n_heads;
    llm__layernorm(v->xb, v->x, w->ln1_w, w->ln1_b, n, dim, c->eps);
    llm__linear(v->q, v->xb, w->wq, w->bq, n, dim, dim);
    llm__linear(v->k, v->xb, w->wk, w->bk, n, dim, dim);
    llm__linear(v->v, v->xb, w->wv, w->bv, n, dim, dim);
    for (int h = 0; h < c->n_heads; h++)
        llm__attention_head(v->attn_out + h * hd, dim, v->q + h * hd, dim, v->k + h * hd,
                            v->v + h * hd, dim, n, n, hd, -1, v->att);
    llm__linear_add(v->x, v->attn_out, w->wo, w->bo, n, dim, dim);

    llm__layernorm(v->xb, v->x, w->ln2_w, w->ln2_b, n, dim, c->eps);
    llm__linear(v->hb, v->xb, w->fc1_w, w->fc1_b, n, dim, c->hidden_dim);
    llm__gelu_tanh(v->hb, (size_t)n * c->hidden_dim);
    llm__linear_add(v->x, v->hb, w->fc2_w, w->fc2_b, n, c->hidden_dim, dim);
}

void llm__vision_encode(const struct llm_model *m, struct llm_state *s, const float *pixels)
{
    const struct llm_vision_config *c = &m->config.vision;
    llm__vision_embed(m, s, pixels);
    for (int l = 0; l < c->n_layers; l++)
        encoder_layer(c, &m->vision.layers[l], &s->vision);
    llm__layernorm(s->vision.x, s->vision.x, m->vision.post_ln_w, m->vision.post_ln_b,
                   c->n_patches, c->dim, c->eps);
}

void llm__connector(const struct llm_model *m, struct llm_state *s, float *out)
{
    /* Idefics3Connector.pixel_shuffle, index by index: output token (r, c) of the
     * (side/f, side/f) grid is the concatenation, for i = 0..f-1 (outer) and j = 0..f-1, of
     * patch (r*f + i, c*f + j). Checked against the PyTorch reshapes in train/. */
    const struct llm_vision_config *c = &m->config.vision;
    int f = m->config.scale_factor, dim = c->dim;
    int side = c->image_size / c->patch_size, out_side = side / f;
    size_t row_len = (size_t)dim * f * f;
    for (int r = 0; r < out_side; r++)
        for (int col = 0; col < out_side; col++) {
            float *dst = s->vision.shuffled + (size_t)(r * out_side + col) * row_len;
            for (int i = 0; i < f; i++)
                for (int j = 0; j < f; j++)
                    memcpy(dst + (size_t)(i * f + j) * dim,
                           s->vision.x + (size_t)((r * f + i) * side + col * f + j) * dim,
                           sizeof(float) * dim);
        }
    /* shuffled (image_seq_len, dim f^2) @ connector^T -> out (image_seq_len, text dim) */
    llm__linear(out, s->vision.shuffled, m->vision.connector, NULL, m->config.image_seq_len,
                (int)row_len, m->config.text.dim);
}

void llm__encode_images(const struct llm_model *m, struct llm_state *s, const float *pixels,
                        int n_images)
{
    const struct llm_config *c = &m->config;
    size_t image_len = (size_t)c->vision.n_channels * c->vision.image_size * c->vision.image_size;
    for (int i = 0; i < n_images; i++) {
        llm__vision_encode(m, s, pixels + i * image_len);
        llm__connector(m, s, s->image_features + (size_t)i * c->image_seq_len * c->text.dim);
    }
}
