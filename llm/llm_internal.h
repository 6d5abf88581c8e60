/*
 * llm/llm_internal.h - what the files of llm/ share: the safetensors reader, the config, the
 * weights (pointers into the mmapped file), the state (buffers allocated once) and the forward
 * passes. Private to llm/ and its tests.
 *
 * Shapes follow PyTorch: a Linear weight is (out, in) row-major and computes y = x W^T + b.
 */
#ifndef QUIRE_LLM_INTERNAL_H
#define QUIRE_LLM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llm.h"

/* --- safetensors (safetensors.c) ----------------------------------------------------------- */
/* File layout: u64 little-endian header length N; N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {string: string}}
 * then the data; offsets are relative to the first byte after the header. */

#define LLM__MAX_DIMS 4
#define LLM__MAX_HEADER (100u << 20) /* the format's own limit on N */

enum llm__dtype { LLM__F32, LLM__F16, LLM__BF16, LLM__OTHER };

struct llm__tensor {
    char *name;
    enum llm__dtype dtype;
    int n_dims;
    int64_t shape[LLM__MAX_DIMS];
    size_t n_elements;
    const uint8_t *data; /* into the map, n_bytes long, checked to lie inside the file */
    size_t n_bytes;
};

struct llm__safetensors {
    char *path;
    void *map;
    size_t map_size;
    struct llm__tensor *tensors; /* sorted by data offset */
    size_t n_tensors;
};

/* Maps and validates `path`: header length, JSON, each tensor's dtype, shape (at most
 * LLM__MAX_DIMS dims, no overflow), offsets (inside the data, size = elements x dtype size, no
 * overlaps). Returns 0 or QUIRE_ENOENT / QUIRE_EIO / QUIRE_EMODEL / QUIRE_ENOMEM with *msg. */
int llm__safetensors_open(struct llm__safetensors *st, const char *path, char **msg);
void llm__safetensors_close(struct llm__safetensors *st);
const struct llm__tensor *llm__safetensors_find(const struct llm__safetensors *st,
                                                const char *name);
/* Widens n values of a F32/F16/BF16 tensor's data (any alignment) to float. */
void llm__to_f32(float *out, const uint8_t *data, enum llm__dtype dtype, size_t n);
float llm__f16_to_f32(uint16_t h);
float llm__bf16_to_f32(uint16_t h);

/* --- checkpoint (checkpoint.c) ------------------------------------------------------------- */

struct llm__weight_ref {
    char *name;     /* tensor name, owned */
    uint32_t shard; /* index into shards */
};

/* A model directory's weights: model.safetensors, else the shards named by
 * model.safetensors.index.json. */
struct llm__checkpoint {
    char *index_path;                /* NULL for a single model.safetensors */
    struct llm__safetensors *shards; /* (n_shards), each validated */
    size_t n_shards, cap_shards;
    struct llm__weight_ref *map;     /* (n_map) sorted by name; empty without an index */
    size_t n_map;
};

/* Opens `dir`/model.safetensors, or when it is absent the index and every shard it names
 * (plain file names in `dir` only; each listed tensor must be in its shard). Returns 0 or
 * QUIRE_ENOENT (neither file) / QUIRE_EIO / QUIRE_EMODEL / QUIRE_ENOMEM with *msg. */
int llm__checkpoint_open(struct llm__checkpoint *ck, const char *dir, char **msg);
void llm__checkpoint_close(struct llm__checkpoint *ck);
/* The tensor `name` (NULL when absent) and in *path the file to name in messages. */
const struct llm__tensor *llm__checkpoint_find(const struct llm__checkpoint *ck,
                                               const char *name, const char **path);
/* The index's path, or the single file's. */
const char *llm__checkpoint_path(const struct llm__checkpoint *ck);

/* --- tokenizer internals (tokenizer.c) ----------------------------------------------------- */

/* The bytes a token decodes to (not NUL-terminated) and whether it is an added token; false
 * when the id is outside the tokenizer or unused. */
bool llm__tokenizer_piece(const struct llm_tokenizer *tok, int32_t id, const char **bytes,
                          int *len, bool *added);

/* --- OTSL constraint (otsl.c) -------------------------------------------------------------- */

enum llm__otsl_class {
    LLM__OTSL_NEVER, /* special tokens other than the tags, text with '<' or NUL, unused ids */
    LLM__OTSL_TEXT,  /* cell text */
    LLM__OTSL_OPEN, LLM__OTSL_CLOSE, LLM__OTSL_NL, /* the tags, OPEN..XCEL contiguous */
    LLM__OTSL_FCEL, LLM__OTSL_ECEL, LLM__OTSL_CHED, LLM__OTSL_RHED, LLM__OTSL_SROW,
    LLM__OTSL_LCEL, LLM__OTSL_UCEL, LLM__OTSL_XCEL,
};

struct llm_otsl {
    int vocab_size;
    uint8_t *cls;       /* (vocab_size) enum llm__otsl_class */
    uint8_t *utf8_next; /* (vocab_size, 8): UTF-8 DFA state after a TEXT token, per state */
};

/* The cell that covers a grid position: its anchor and width. */
struct llm__otsl_cell {
    int32_t row, col, colspan;
};

enum llm__otsl_phase { LLM__OTSL_START, LLM__OTSL_GRID, LLM__OTSL_CLOSED };

/* Where a constrained generation stands; lives in llm_state (prev/cur allocated there). */
struct llm__otsl_state {
    enum llm__otsl_phase phase;
    int row, col;     /* the next grid position */
    int n_cols;       /* the first row's length, once it ended */
    int forced;       /* <xcel> that must follow (a <ucel> under a wide cell) */
    int max_cols;     /* capacity of prev and cur */
    uint8_t utf8;     /* UTF-8 DFA state of the current cell's text */
    bool in_text_cell;/* the last grid token takes text */
    struct llm__otsl_cell *prev, *cur; /* (max_cols) the rows above and being written */
};

/* Back to the start (before <otsl>); keeps prev, cur and max_cols. */
void llm__otsl_reset(struct llm__otsl_state *st);
/* Whether `id` keeps the output valid and closable within `budget` tokens (this one
 * included). is_stop: id is one of the caller's stop ids; has_stop: there are any (then the
 * table must be followed by one). */
bool llm__otsl_allowed(const struct llm_otsl *o, const struct llm__otsl_state *st, int32_t id,
                       int budget, bool is_stop, bool has_stop);
/* Moves past `id`, which llm__otsl_allowed() accepted and which is not a stop id. */
void llm__otsl_advance(const struct llm_otsl *o, struct llm__otsl_state *st, int32_t id);
/* The table is closed and no stop token is to follow: generation is over. */
bool llm__otsl_done(const struct llm__otsl_state *st, bool has_stop);

/* --- config (config.c) --------------------------------------------------------------------- */

struct llm_vision_config {
    int dim;        /* hidden_size */
    int hidden_dim; /* intermediate_size (MLP) */
    int n_layers;
    int n_heads;
    int image_size;
    int patch_size;
    int n_channels;
    float eps;      /* layer_norm_eps */
    int n_patches;  /* (image_size / patch_size)^2 */
    int patch_dim;  /* n_channels * patch_size^2 */
};

struct llm_text_config {
    int dim;
    int hidden_dim;
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;   /* dim / n_heads */
    int vocab_size;
    int max_positions;
    float eps;      /* rms_norm_eps */
    float rope_theta;
    bool tie_embeddings; /* lm_head is embed_tokens */
};

struct llm_config {
    struct llm_vision_config vision;
    struct llm_text_config text;
    int scale_factor;   /* pixel shuffle factor */
    int image_token_id;
    int image_seq_len;  /* n_patches / scale_factor^2 */
};

/* Reads and validates config.json (Idefics3Config keys; LlamaConfig / Idefics3VisionConfig
 * defaults for absent keys). Returns 0 or QUIRE_ENOENT / QUIRE_EMODEL / QUIRE_ENOMEM, *msg. */
int llm__config_load(struct llm_config *c, const char *path, char **msg);

#define LLM__READER_MAX_STEPS 64     /* ctc_steps */
#define LLM__READER_MAX_CHARSET 4096 /* charset strings */
#define LLM__READER_MAX_CHAR 16      /* bytes of one charset string */

/* A line reader's quire_reader section (llm_reader_load). */
struct llm_reader_config {
    int ctc_steps;   /* sub-steps per patch column */
    int n_classes;   /* charset strings + 1: class 0 is the CTC blank */
    char (*charset)[LLM__READER_MAX_CHAR + 1]; /* (n_classes - 1) class k's NUL-terminated
                                                * UTF-8 at k - 1; owned */
    float x_height;
};

/* Reads and validates a line reader's config.json: model_type "quire_reader", vision_config
 * (the same keys, defaults and checks as llm__config_load's, plus num_channels 1 and an even
 * number of patch rows) into *vision, quire_reader into *c. Returns 0 or QUIRE_ENOENT /
 * QUIRE_EMODEL / QUIRE_ENOMEM, *msg; on error nothing is left allocated. */
int llm__reader_config_load(struct llm_reader_config *c, struct llm_vision_config *vision,
                            const char *path, char **msg);
/* Frees c->charset; c may be zeroed or half-loaded. */
void llm__reader_config_release(struct llm_reader_config *c);

/* --- weights ------------------------------------------------------------------------------- */

struct llm_vision_layer_weights {
    const float *ln1_w, *ln1_b; /* (dim) */
    const float *wq, *bq;       /* (dim, dim), (dim) */
    const float *wk, *bk;
    const float *wv, *bv;
    const float *wo, *bo;       /* out_proj */
    const float *ln2_w, *ln2_b; /* (dim) */
    const float *fc1_w, *fc1_b; /* (hidden_dim, dim), (hidden_dim) */
    const float *fc2_w, *fc2_b; /* (dim, hidden_dim), (dim) */
};

struct llm_vision_weights {
    const float *patch_w;    /* (dim, n_channels * patch * patch): the Conv2d kernel flattened */
    const float *patch_b;    /* (dim) */
    const float *position;   /* (n_patches, dim) */
    struct llm_vision_layer_weights *layers; /* (n_layers) */
    const float *post_ln_w, *post_ln_b; /* (dim) */
    const float *connector;  /* (text dim, dim * scale_factor^2), no bias */
};

struct llm_text_layer_weights {
    const float *attn_norm; /* input_layernorm (dim) */
    const float *wq;        /* (n_heads * head_dim, dim) */
    const float *wk;        /* (n_kv_heads * head_dim, dim) */
    const float *wv;        /* (n_kv_heads * head_dim, dim) */
    const float *wo;        /* (dim, n_heads * head_dim) */
    const float *ffn_norm;  /* post_attention_layernorm (dim) */
    const float *w_gate;    /* (hidden_dim, dim) */
    const float *w_up;      /* (hidden_dim, dim) */
    const float *w_down;    /* (dim, hidden_dim) */
};

struct llm_text_weights {
    const float *embed;   /* (vocab_size, dim) */
    struct llm_text_layer_weights *layers; /* (n_layers) */
    const float *norm;    /* (dim) */
    const float *lm_head; /* (vocab_size, dim); == embed when tied */
};

struct llm_model {
    struct llm_config config;
    struct llm_vision_weights vision;
    struct llm_text_weights text;
    struct llm__checkpoint checkpoint;
    float **widened;      /* F32 copies of F16/BF16 (or misaligned) tensors, owned */
    size_t n_widened, cap_widened;
};

/* Binding tensors of m->checkpoint to weight pointers (model.c): errors accumulate in `err` (the
 * first one wins, with its message in *msg) and later calls do nothing. */
struct llm__binder {
    struct llm_model *m;
    char **msg;
    int err;
};

/* llm__bind's shape arguments: LLM__SHAPE(d0, d1, ...) -> n_dims, (int64_t[]){d0, d1, ...}. */
#define LLM__SHAPE(...) \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

/* The tensor named by fmt, which must have exactly the given shape, as F32: in place in the map
 * when it is aligned F32, else widened into a copy that m owns (m->widened). NULL once an error
 * is recorded in *b. */
const float *llm__bind(struct llm__binder *b, int n_dims, const int64_t *shape, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
/* Binds the encoder (model.vision_model.*: patch and position embeddings, the layers, the
 * post layernorm; not the connector) into b->m->vision, shapes from b->m->config.vision;
 * b->m->vision.layers must hold n_layers entries. */
void llm__bind_vision(struct llm__binder *b);

/* --- state --------------------------------------------------------------------------------- */

#define LLM__CHUNK 256 /* prompt tokens per decoder pass (bounds the attention buffer) */

struct llm_vision_state {
    float *patches; /* (n_patches, patch_dim) one image's pixels, patch by patch */
    float *x;       /* (n_patches, dim) residual stream */
    float *xb;      /* (n_patches, dim) */
    float *q, *k, *v, *attn_out; /* (n_patches, dim) */
    float *att;     /* (n_patches, n_patches) one head's scores */
    float *hb;      /* (n_patches, hidden_dim) */
    float *shuffled;/* (image_seq_len, dim * scale^2) */
};

struct llm_text_state {
    int chunk;          /* rows of the buffers below: min(LLM__CHUNK, max_tokens) */
    float *x;           /* (chunk, dim) residual stream */
    float *xb;          /* (chunk, dim) */
    float *q;           /* (chunk, n_heads * head_dim) */
    float *attn_out;    /* (chunk, n_heads * head_dim) */
    float *hb, *hb2;    /* (chunk, hidden_dim) */
    float *att;         /* (max(chunk, n_heads / n_kv_heads), max_tokens) */
    float *kv_rows;     /* (max_batch, 2 * n_kv_heads * head_dim): a step's new keys, values */
    float *key_cache;   /* (max_batch, n_layers, max_tokens, n_kv_heads * head_dim) */
    float *value_cache; /* (max_batch, n_layers, max_tokens, n_kv_heads * head_dim) */
    float *rope_cos, *rope_sin; /* (max_tokens, head_dim / 2) */
    float *logits;      /* (max_batch, vocab_size): a prompt's last position (row 0), or one
                         * row per sequence of a decode step */
};

/* Where one sequence of a batched generation stands (llm_generate_batch). */
struct llm__sequence_state {
    int pos;       /* tokens in its KV cache */
    int32_t next;  /* the token to feed at the next step */
    double sum;    /* log-probabilities of the emitted tokens */
};

struct llm_state {
    const struct llm_model *model;
    int max_tokens;   /* per sequence */
    int max_images;   /* per sequence */
    int max_batch;    /* sequences decoded in lockstep (each with its own KV cache) */
    struct llm_vision_state vision;
    struct llm_text_state text;
    float *image_features; /* (max_images * image_seq_len, text dim) of one sequence */
    struct llm__otsl_state *otsl; /* (max_batch) for constrained generation; cells
                                   * (max_tokens) each */
    struct llm__sequence_state *seq; /* (max_batch) */
    int *active;      /* (max_batch) the sequences still decoding, in order */
    int32_t *step_tokens; /* (max_batch) a step's inputs, row by row */
    int *step_pos;    /* (max_batch) */
};

/* Allocates the encoder's buffers for one image (all of *v but shuffled, the connector's) into
 * a zeroed *v; false when one failed (then release what was allocated). generate.c. */
bool llm__vision_state_alloc(struct llm_vision_state *v, const struct llm_vision_config *c);
/* Frees every buffer of *v (shuffled included) and zeroes it. */
void llm__vision_state_release(struct llm_vision_state *v);

/* --- forward passes (vision.c, decoder.c) -------------------------------------------------- */

/* Copies image `pixels` (n_channels, image_size, image_size) into s->vision.patches, one row per
 * patch in raster order, each row (channel, y, x) like the Conv2d kernel. */
void llm__patchify(const struct llm_vision_config *c, const float *pixels, float *patches);
/* Patch embedding + position embedding: leaves (n_patches, dim) in s->vision.x. */
void llm__vision_embed(const struct llm_model *m, struct llm_state *s, const float *pixels);
/* Embed, encoder blocks and post_layernorm: leaves (n_patches, dim) in s->vision.x. */
void llm__vision_encode(const struct llm_model *m, struct llm_state *s, const float *pixels);
/* Pixel shuffle of s->vision.x (as Idefics3Connector.pixel_shuffle) + projection into
 * out (image_seq_len, text dim). */
void llm__connector(const struct llm_model *m, struct llm_state *s, float *out);
/* Full vision path for n images into s->image_features. */
void llm__encode_images(const struct llm_model *m, struct llm_state *s, const float *pixels,
                        int n_images);

/* llm__decoder_forward for sequence `seq` (< max_batch) of a batch state: its KV cache. */
void llm__decoder_prefill(const struct llm_model *m, struct llm_state *s, int seq,
                          const int32_t *tokens, int n, int pos, const float *image_features,
                          int *image_row);
/* One decode step for n sequences at once (n <= max_batch): row r feeds tokens[r] to sequence
 * seqs[r] at position pos[r]; leaves row r's logits in s->text.logits row r. Every row's
 * arithmetic is exactly that of a one-token llm__decoder_forward on that sequence alone (the
 * matrix products go through llm__linear_rows), so greedy tokens do not depend on the batch.
 * Preconditions (asserted): pos[r] < max_tokens, ids in range, distinct seqs. */
void llm__decoder_step(const struct llm_model *m, struct llm_state *s, const int32_t *tokens,
                       const int *seqs, const int *pos, int n);

/* Feeds n tokens at positions pos..pos+n-1 (pos = tokens already in the KV cache); image
 * tokens take the next rows of `image_features` starting at *image_row (advanced). Leaves the
 * last position's logits in s->text.logits, and when all_logits is not NULL every position's
 * logits there (n, vocab). Uses sequence 0's KV cache.
 * Preconditions (asserted): pos + n <= max_tokens, ids in range. */
void llm__decoder_forward(const struct llm_model *m, struct llm_state *s, const int32_t *tokens,
                          int n, int pos, const float *image_features, int *image_row,
                          float *all_logits);

/* --- line reader (reader.c) ---------------------------------------------------------------- */

struct llm_reader {
    struct llm_model *model; /* the encoder: config.vision, vision weights (no connector) and
                              * the checkpoint; the text part is empty. Owned */
    struct llm_reader_config config;
    int side;                /* patches per row and per column */
    int n_bands;             /* side / 2 */
    const float *head_w;     /* ctc_head.weight (ctc_steps * n_classes, 2 * dim) */
    const float *head_b;     /* ctc_head.bias (ctc_steps * n_classes) */
};

struct llm_reader_state {
    struct llm_state base;   /* only base.vision's encoder buffers are allocated */
    float *pixels;           /* (image_size, image_size) the tile, normalized */
    float *pairs;            /* (n_bands * side, 2 * dim) band b, column c: patches (2b, c),
                              * (2b + 1, c) */
    float *logits;           /* (n_bands, side * ctc_steps, n_classes) the head's scores (before
                              * the softmax) of the last llm_reader_read(); tests read them */
    int32_t *best;           /* (side * ctc_steps) one band's greedy path (argmax classes) */
    float *best_p;           /* (side * ctc_steps) the softmax probability of the argmax, set
                              * at the sub-steps that emit a character */
};

#endif
