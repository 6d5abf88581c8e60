/*
 * llm/image_to_text.c - one image and an instruction in, generated text out: the glue between
 * preprocessing, the prompt layout, the tokenizer and greedy generation, in the shape the
 * table workers call it. Everything that allocates happens before or after llm_generate().
 */
#include "llm_internal.h"

#include <stdlib.h>
#include <string.h>

static int build_prompt(const struct llm_tokenizer *tok, int rows, int cols, int seq_len,
                        const char *instruction, int32_t **ids, size_t *n_ids)
{
    char *image = llm_image_prompt(rows, cols, seq_len);
    char *text = image ? q_asprintf("<|im_start|>User:%s%s<end_of_utterance>\nAssistant:", image,
                                    instruction) : NULL;
    int err = text ? llm_tokenizer_encode(tok, text, strlen(text), ids, n_ids) : QUIRE_ENOMEM;
    free(text);
    free(image);
    return err;
}

int llm_image_to_text(const struct llm_model *m, const struct llm_tokenizer *tok,
                      struct llm_state *s, const struct llm_image_options *options,
                      const uint8_t *image, int width, int height, size_t stride, int channels,
                      const char *instruction, int max_new_tokens, char **text,
                      float *mean_logprob)
{
    float *pixels = NULL;
    int32_t *ids = NULL, *out = NULL;
    size_t n_ids = 0;
    int n_images, rows, cols, n_out = 0;
    int err = llm_image_preprocess(m, options, image, width, height, stride, channels, &pixels,
                                   &n_images, &rows, &cols);
    if (err)
        return err;
    if (n_images > s->max_images) {
        err = QUIRE_ELIMIT;
        goto out;
    }
    if ((err = build_prompt(tok, rows, cols, m->config.image_seq_len, instruction, &ids, &n_ids)))
        goto out;
    if (max_new_tokens < 1 || n_ids + (size_t)max_new_tokens - 1 > (size_t)s->max_tokens) {
        err = max_new_tokens < 1 ? QUIRE_EINVAL : QUIRE_ELIMIT;
        goto out;
    }
    int32_t stop[2];
    int n_stop = 0;
    const char *stop_names[] = {"<end_of_utterance>", "<|endoftext|>"};
    for (int i = 0; i < 2; i++)
        if ((stop[n_stop] = llm_tokenizer_token_id(tok, stop_names[i])) >= 0)
            n_stop++;
    if (!(out = q_malloc(sizeof(int32_t) * (size_t)max_new_tokens))) {
        err = QUIRE_ENOMEM;
        goto out;
    }
    struct llm_generate_options go = {.max_new_tokens = max_new_tokens, .stop_ids = stop,
                                      .n_stop_ids = n_stop};
    if ((err = llm_generate(m, s, ids, (int)n_ids, pixels, n_images, &go, out, &n_out,
                            mean_logprob)))
        goto out;
    if (n_out > 0)
        for (int i = 0; i < n_stop; i++)
            if (out[n_out - 1] == stop[i]) {
                n_out--;
                break;
            }
    size_t len;
    err = llm_tokenizer_decode(tok, out, (size_t)n_out, text, &len);
out:
    free(out);
    free(ids);
    free(pixels);
    return err;
}
