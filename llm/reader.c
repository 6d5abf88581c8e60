/*
 * llm/reader.c - the line reader: the vision encoder alone with a linear CTC head, reading one
 * text line per band of two patch rows of a gray tile (train/model.py: Idefics3.ctc_logits,
 * decoded greedily as train/data.py's decode_ctc).
 *
 * The reader holds a struct llm_model whose text part is empty, so the encoder is the model's
 * own (llm__bind_vision, llm__vision_encode); its state is a struct llm_state with only the
 * encoder's buffers, plus the head's. A read is
 *   tile (uint8) -> x / 127.5 - 1 (data.normalize) -> encoder -> (n_patches, dim) ->
 *   for band b, column c: [patch (2b, c), patch (2b + 1, c)] (2 * dim) -> ctc_head (one sgemm
 *   for every band and column) -> (n_bands, side * ctc_steps, n_classes) scores ->
 *   argmax per sub-step -> repeats merged, blanks dropped -> the charset strings, concatenated.
 * The trained model's patch kernel is 3-channel (the VLM takes RGB); the export sums it over
 * the channels, which is what VisionEmbeddings does for a one-channel input, so the reader
 * takes a (dim, 1, patch, patch) kernel.
 */
#include "llm_internal.h"
#include "ops_internal.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct llm_reader *llm_reader_load(const char *dir, int *err, char **msg)
{
    int e;
    char *path = NULL;
    struct llm_reader *r = q_calloc(1, sizeof(*r));
    if (!r || !(r->model = q_calloc(1, sizeof(*r->model)))) {
        e = QUIRE_ENOMEM;
        goto out_free;
    }
    struct llm_model *m = r->model;
    if (!(path = q_asprintf("%s/config.json", dir))) {
        e = QUIRE_ENOMEM;
        goto out_free;
    }
    if ((e = llm__reader_config_load(&r->config, &m->config.vision, path, msg)))
        goto out_free;
    if ((e = llm__checkpoint_open(&m->checkpoint, dir, msg)))
        goto out_free;
    const struct llm_vision_config *vc = &m->config.vision;
    if (!(m->vision.layers = q_calloc(vc->n_layers, sizeof(*m->vision.layers)))) {
        e = QUIRE_ENOMEM;
        goto out_free;
    }
    r->side = vc->image_size / vc->patch_size;
    r->n_bands = r->side / 2;
    struct llm__binder b = {m, msg, 0};
    llm__bind_vision(&b);
    int64_t outputs = (int64_t)r->config.ctc_steps * r->config.n_classes;
    r->head_w = llm__bind(&b, LLM__SHAPE(outputs, 2 * (int64_t)vc->dim), "%s", "ctc_head.weight");
    r->head_b = llm__bind(&b, LLM__SHAPE(outputs), "%s", "ctc_head.bias");
    if ((e = b.err))
        goto out_free;
    free(path);
    *err = 0;
    return r;
out_free:
    llm_reader_free(r);
    free(path);
    *err = e;
    return NULL;
}

void llm_reader_free(struct llm_reader *r)
{
    if (!r)
        return;
    llm_model_free(r->model);
    llm__reader_config_release(&r->config);
    free(r);
}

void llm_reader_get_info(const struct llm_reader *r, struct llm_reader_info *info)
{
    const struct llm_vision_config *vc = &r->model->config.vision;
    info->image_size = vc->image_size;
    info->band_height = 2 * vc->patch_size;
    info->n_bands = r->n_bands;
    info->x_height = r->config.x_height;
}

struct llm_reader_state *llm_reader_state_new(const struct llm_reader *r, int *err)
{
    const struct llm_vision_config *vc = &r->model->config.vision;
    size_t columns = (size_t)r->n_bands * r->side, steps = (size_t)r->side * r->config.ctc_steps;
    struct llm_reader_state *s = q_calloc(1, sizeof(*s));
    if (!s) {
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    s->base.model = r->model;
    s->base.max_images = 1;
    bool ok = llm__vision_state_alloc(&s->base.vision, vc);
    s->pixels = q_calloc((size_t)vc->image_size * vc->image_size, sizeof(float));
    s->pairs = q_calloc(columns * 2 * vc->dim, sizeof(float));
    s->logits = q_calloc(columns * r->config.ctc_steps * r->config.n_classes, sizeof(float));
    s->best = q_calloc(steps, sizeof(*s->best));
    s->best_p = q_calloc(steps, sizeof(*s->best_p));
    if (!ok || !s->pixels || !s->pairs || !s->logits || !s->best || !s->best_p) {
        llm_reader_state_free(s);
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    *err = 0;
    return s;
}

void llm_reader_state_free(struct llm_reader_state *s)
{
    if (!s)
        return;
    llm__vision_state_release(&s->base.vision);
    free(s->pixels);
    free(s->pairs);
    free(s->logits);
    free(s->best);
    free(s->best_p);
    free(s);
}

/* The encoder and the head: leaves the scores of every band in s->logits. */
static void forward(const struct llm_reader *r, struct llm_reader_state *s, const uint8_t *tile,
                    size_t stride)
{
    const struct llm_vision_config *vc = &r->model->config.vision;
    int size = vc->image_size, dim = vc->dim, side = r->side;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            s->pixels[(size_t)y * size + x] = (float)tile[y * stride + x] / 127.5f - 1.0f;
    llm__vision_encode(r->model, &s->base, s->pixels);
    /* ctc_logits' view(N, side/2, 2, side, D).permute(0, 1, 3, 2, 4): upper patch first */
    for (int b = 0; b < r->n_bands; b++)
        for (int c = 0; c < side; c++) {
            float *dst = s->pairs + ((size_t)b * side + c) * 2 * dim;
            const float *upper = s->base.vision.x + ((size_t)(2 * b) * side + c) * dim;
            memcpy(dst, upper, sizeof(float) * dim);
            memcpy(dst + dim, upper + (size_t)side * dim, sizeof(float) * dim);
        }
    /* pairs (n_bands * side, 2 dim) @ head_w^T -> (n_bands * side, steps * classes) */
    llm__linear(s->logits, s->pairs, r->head_w, r->head_b, r->n_bands * side, 2 * dim,
                r->config.ctc_steps * r->config.n_classes);
}

/* Band b's greedy path: the argmax class of each sub-step (the first of equal maxima, as
 * torch.argmax) into s->best, the softmax probability of each emitting sub-step into s->best_p.
 * Returns the UTF-8 bytes of its text; *n_emitted the characters. */
static size_t greedy_band(const struct llm_reader *r, struct llm_reader_state *s, int b,
                          int *n_emitted)
{
    int classes = r->config.n_classes, steps = r->side * r->config.ctc_steps;
    size_t bytes = 0;
    int32_t prev = 0;
    *n_emitted = 0;
    for (int t = 0; t < steps; t++) {
        const float *row = s->logits + ((size_t)b * steps + t) * classes;
        int32_t k = 0;
        for (int j = 1; j < classes; j++)
            if (row[j] > row[k])
                k = j;
        s->best[t] = k;
        if (k != 0 && k != prev) {
            double sum = 0;
            for (int j = 0; j < classes; j++)
                sum += exp((double)row[j] - row[k]);
            s->best_p[t] = (float)(1.0 / sum);
            bytes += strlen(r->config.charset[k - 1]);
            ++*n_emitted;
        }
        prev = k;
    }
    return bytes;
}

int llm_reader_read(const struct llm_reader *r, struct llm_reader_state *s, const uint8_t *tile,
                    size_t stride, char **texts, float *confidence)
{
    assert(s->base.model == r->model);
    assert(stride >= (size_t)r->model->config.vision.image_size);
    forward(r, s, tile, stride);
    int steps = r->side * r->config.ctc_steps;
    for (int b = 0; b < r->n_bands; b++) {
        int n_emitted;
        size_t bytes = greedy_band(r, s, b, &n_emitted);
        char *text = q_malloc(bytes + 1);
        if (!text) {
            for (int i = 0; i < b; i++) {
                free(texts[i]);
                texts[i] = NULL;
            }
            return QUIRE_ENOMEM;
        }
        size_t used = 0;
        double sum = 0;
        int32_t prev = 0;
        for (int t = 0; t < steps; t++) {
            int32_t k = s->best[t];
            if (k != 0 && k != prev) {
                size_t len = strlen(r->config.charset[k - 1]);
                memcpy(text + used, r->config.charset[k - 1], len);
                used += len;
                sum += s->best_p[t];
            }
            prev = k;
        }
        text[used] = 0;
        texts[b] = text;
        if (confidence)
            confidence[b] = n_emitted ? (float)(sum / n_emitted) : 1.0f;
    }
    return 0;
}
