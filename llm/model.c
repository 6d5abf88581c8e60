/*
 * llm/model.c - loads a model directory: config.json, then binds every weight of the Idefics3
 * layout (transformers' tensor names) from model.safetensors, checking each shape against the
 * config. F32 tensors on a 4-byte boundary are used in place in the map; anything else (F16,
 * BF16, misaligned F32) is widened into a copy the model owns.
 *
 * The weights come from one model.safetensors or from the shards of a
 * model.safetensors.index.json (checkpoint.c).
 * NEEDSWORK: widening BF16 at load doubles the resident weights (about 1 GB for 256M
 * parameters); a BF16 matvec for decode would keep them at half that.
 */
#include "llm_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bind_error(struct llm__binder *b, int err, char *text)
{
    if (b->err) {
        free(text);
        return;
    }
    b->err = text ? err : QUIRE_ENOMEM;
    if (b->msg) {
        free(*b->msg);
        *b->msg = text;
    } else {
        free(text);
    }
}

static char *shape_string(char *buf, size_t size, int n_dims, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < n_dims && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %lld" : "%lld",
                                 (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, ")");
    return buf;
}

const float *llm__bind(struct llm__binder *b, int n_dims, const int64_t *shape, const char *fmt,
                       ...)
{
    if (b->err)
        return NULL;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    const char *path;
    const struct llm__tensor *t = llm__checkpoint_find(&b->m->checkpoint, name, &path);
    if (!t) {
        bind_error(b, QUIRE_EMODEL, q_asprintf("%s: missing tensor '%s'", path, name));
        return NULL;
    }
    bool same = t->n_dims == n_dims;
    for (int i = 0; same && i < n_dims; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char want[96], got[96];
        bind_error(b, QUIRE_EMODEL,
                   q_asprintf("%s: tensor '%s' has shape %s, config.json implies %s", path, name,
                              shape_string(got, sizeof(got), t->n_dims, t->shape),
                              shape_string(want, sizeof(want), n_dims, shape)));
        return NULL;
    }
    if (t->dtype == LLM__OTHER) {
        bind_error(b, QUIRE_EMODEL, q_asprintf("%s: tensor '%s': dtype is not F32, F16 or BF16",
                                               path, name));
        return NULL;
    }
    if (t->dtype == LLM__F32 && ((uintptr_t)t->data & 3) == 0)
        return (const float *)(const void *)t->data;
    struct llm_model *m = b->m;
    float *copy = q_malloc(t->n_elements * sizeof(float));
    if (!copy || q_grow((void **)&m->widened, sizeof(float *), &m->cap_widened,
                        m->n_widened + 1) != 0) {
        free(copy);
        bind_error(b, QUIRE_ENOMEM, NULL);
        return NULL;
    }
    llm__to_f32(copy, t->data, t->dtype, t->n_elements);
    m->widened[m->n_widened++] = copy;
    return copy;
}

#define SHAPE LLM__SHAPE /* a shape as llm__bind's (n_dims, dims) arguments */

void llm__bind_vision(struct llm__binder *b)
{
    const struct llm_vision_config *v = &b->m->config.vision;
    struct llm_vision_weights *w = &b->m->vision;
    int64_t d = v->dim, h = v->hidden_dim;
    const char *p = "model.vision_model.";
    w->patch_w = llm__bind(b, SHAPE(d, v->n_channels, v->patch_size, v->patch_size),
                           "%sembeddings.patch_embedding.weight", p);
    w->patch_b = llm__bind(b, SHAPE(d), "%sembeddings.patch_embedding.bias", p);
    w->position = llm__bind(b, SHAPE(v->n_patches, d), "%sembeddings.position_embedding.weight", p);
    for (int l = 0; l < v->n_layers && !b->err; l++) {
        struct llm_vision_layer_weights *L = &w->layers[l];
        const char *e = "model.vision_model.encoder.layers";
        L->ln1_w = llm__bind(b, SHAPE(d), "%s.%d.layer_norm1.weight", e, l);
        L->ln1_b = llm__bind(b, SHAPE(d), "%s.%d.layer_norm1.bias", e, l);
        L->wq = llm__bind(b, SHAPE(d, d), "%s.%d.self_attn.q_proj.weight", e, l);
        L->bq = llm__bind(b, SHAPE(d), "%s.%d.self_attn.q_proj.bias", e, l);
        L->wk = llm__bind(b, SHAPE(d, d), "%s.%d.self_attn.k_proj.weight", e, l);
        L->bk = llm__bind(b, SHAPE(d), "%s.%d.self_attn.k_proj.bias", e, l);
        L->wv = llm__bind(b, SHAPE(d, d), "%s.%d.self_attn.v_proj.weight", e, l);
        L->bv = llm__bind(b, SHAPE(d), "%s.%d.self_attn.v_proj.bias", e, l);
        L->wo = llm__bind(b, SHAPE(d, d), "%s.%d.self_attn.out_proj.weight", e, l);
        L->bo = llm__bind(b, SHAPE(d), "%s.%d.self_attn.out_proj.bias", e, l);
        L->ln2_w = llm__bind(b, SHAPE(d), "%s.%d.layer_norm2.weight", e, l);
        L->ln2_b = llm__bind(b, SHAPE(d), "%s.%d.layer_norm2.bias", e, l);
        L->fc1_w = llm__bind(b, SHAPE(h, d), "%s.%d.mlp.fc1.weight", e, l);
        L->fc1_b = llm__bind(b, SHAPE(h), "%s.%d.mlp.fc1.bias", e, l);
        L->fc2_w = llm__bind(b, SHAPE(d, h), "%s.%d.mlp.fc2.weight", e, l);
        L->fc2_b = llm__bind(b, SHAPE(d), "%s.%d.mlp.fc2.bias", e, l);
    }
    w->post_ln_w = llm__bind(b, SHAPE(d), "%spost_layernorm.weight", p);
    w->post_ln_b = llm__bind(b, SHAPE(d), "%spost_layernorm.bias", p);
}

static void bind_text(struct llm__binder *b, const struct llm_text_config *c,
                      struct llm_text_weights *w)
{
    int64_t d = c->dim, h = c->hidden_dim, q = (int64_t)c->n_heads * c->head_dim;
    int64_t kv = (int64_t)c->n_kv_heads * c->head_dim;
    const char *p = "model.text_model.layers";
    w->embed = llm__bind(b, SHAPE(c->vocab_size, d), "%s", "model.text_model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers && !b->err; l++) {
        struct llm_text_layer_weights *L = &w->layers[l];
        L->attn_norm = llm__bind(b, SHAPE(d), "%s.%d.input_layernorm.weight", p, l);
        L->wq = llm__bind(b, SHAPE(q, d), "%s.%d.self_attn.q_proj.weight", p, l);
        L->wk = llm__bind(b, SHAPE(kv, d), "%s.%d.self_attn.k_proj.weight", p, l);
        L->wv = llm__bind(b, SHAPE(kv, d), "%s.%d.self_attn.v_proj.weight", p, l);
        L->wo = llm__bind(b, SHAPE(d, q), "%s.%d.self_attn.o_proj.weight", p, l);
        L->ffn_norm = llm__bind(b, SHAPE(d), "%s.%d.post_attention_layernorm.weight", p, l);
        L->w_gate = llm__bind(b, SHAPE(h, d), "%s.%d.mlp.gate_proj.weight", p, l);
        L->w_up = llm__bind(b, SHAPE(h, d), "%s.%d.mlp.up_proj.weight", p, l);
        L->w_down = llm__bind(b, SHAPE(d, h), "%s.%d.mlp.down_proj.weight", p, l);
    }
    w->norm = llm__bind(b, SHAPE(d), "%s", "model.text_model.norm.weight");
    w->lm_head = c->tie_embeddings
                     ? w->embed
                     : llm__bind(b, SHAPE(c->vocab_size, d), "%s", "lm_head.weight");
}

struct llm_model *llm_model_load(const char *dir, int *err, char **msg)
{
    int e;
    char *path = NULL;
    struct llm_model *m = q_calloc(1, sizeof(*m));
    if (!m) {
        e = QUIRE_ENOMEM;
        goto out;
    }
    if (!(path = q_asprintf("%s/config.json", dir))) {
        e = QUIRE_ENOMEM;
        goto out_free;
    }
    if ((e = llm__config_load(&m->config, path, msg)))
        goto out_free;
    if ((e = llm__checkpoint_open(&m->checkpoint, dir, msg)))
        goto out_free;
    m->vision.layers = q_calloc(m->config.vision.n_layers, sizeof(*m->vision.layers));
    m->text.layers = q_calloc(m->config.text.n_layers, sizeof(*m->text.layers));
    if (!m->vision.layers || !m->text.layers) {
        e = QUIRE_ENOMEM;
        goto out_free;
    }
    struct llm__binder b = {m, msg, 0};
    const struct llm_config *c = &m->config;
    llm__bind_vision(&b);
    m->vision.connector = llm__bind(&b, SHAPE(c->text.dim, (int64_t)c->vision.dim *
                                         c->scale_factor * c->scale_factor),
                               "%s", "model.connector.modality_projection.proj.weight");
    bind_text(&b, &m->config.text, &m->text);
    if ((e = b.err))
        goto out_free;
    free(path);
    *err = 0;
    return m;
out_free:
    llm_model_free(m);
out:
    free(path);
    *err = e;
    return NULL;
}

void llm_model_free(struct llm_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_widened; i++)
        free(m->widened[i]);
    free(m->widened);
    free(m->vision.layers);
    free(m->text.layers);
    llm__checkpoint_close(&m->checkpoint);
    free(m);
}

void llm_model_get_info(const struct llm_model *m, struct llm_model_info *info)
{
    info->image_size = m->config.vision.image_size;
    info->num_channels = m->config.vision.n_channels;
    info->image_seq_len = m->config.image_seq_len;
    info->image_token_id = m->config.image_token_id;
    info->vocab_size = m->config.text.vocab_size;
    info->max_positions = m->config.text.max_positions;
}
