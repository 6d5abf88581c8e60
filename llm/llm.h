/*
 * llm/llm.h - the vision-language engine: runs an Idefics3-family model (SmolVLM,
 * SmolDocling-256M, granite-docling) on a page image and a prompt and returns the generated
 * token ids; plus the byte-level BPE tokenizer those models ship, and a line reader (the same
 * encoder with a CTC head, reading one text line per band of a gray tile; see the end).
 *
 * Design (llama2.c with OpenBLAS): a model directory in Hugging Face layout (config.json,
 * model.safetensors or its shards, tokenizer.json) is loaded once. The weights are mmapped;
 * F32 tensors are used in place, F16/BF16 tensors are widened to F32 at load time. The forward
 * pass is
 *   pixels -> SigLIP-style vision encoder -> connector (pixel shuffle + linear) -> image
 *   features, which replace the embeddings at image-token positions of the prompt ->
 *   Llama decoder (GQA, RoPE, SwiGLU, RMSNorm, KV cache) -> greedy next token.
 * All matrix work goes through llm/ops.c (cblas sgemm for patches and prompt chunks, a
 * matrix-vector fast path for one-token decode). Activation buffers and the KV cache live in a
 * `struct llm_state`, allocated once by llm_state_new(); generation never allocates.
 * Several sequences (e.g. the table regions of one page) can be decoded as a batch: a state
 * made by llm_state_new_batch() holds one KV cache per sequence, and llm_generate_batch()
 * advances them in lockstep, so each decode step reads every weight matrix from memory once for
 * all of them instead of once per sequence (decoding is bound by reading weights). The greedy
 * tokens of a sequence are exactly those it gets decoded alone.
 *
 * Invariants: every offset, dtype and shape read from a model file is checked before use; a bad
 * file is an error (QUIRE_EMODEL, with a message naming the file and tensor), never a crash.
 *
 * Threads: a `struct llm_model` is read-only after llm_model_load() and may be shared by any
 * number of threads. Each thread owns its own `struct llm_state` (a batch state included: its
 * sequences are decoded by the one thread that calls llm_generate_batch); a state is used by
 * one thread at a time. The only thing generation reads that another thread may write is the
 * caller's abort flag (llm_generate_options.abort_flag), read once per token. The engine calls
 * OpenBLAS but never sets its thread count: the caller (workers/) decides how inference threads
 * and OpenBLAS threads share the cores.
 *
 * Errors: functions return 0 or a negative QUIRE_E* code (common/common.h); constructors return
 * NULL and set *err. Where `char **msg` is given, a message for the caller to free() is stored
 * there on error (may be NULL when only allocation failed).
 */
#ifndef QUIRE_LLM_H
#define QUIRE_LLM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"

struct llm_model;     /* weights and hyperparameters; read-only after load */
struct llm_state;     /* one thread's activation buffers and KV cache */
struct llm_tokenizer; /* vocabulary and merges; read-only after load */
struct llm_otsl;      /* the OTSL constraint's view of a vocabulary; read-only */

/* --- model --------------------------------------------------------------------------------- */

/* What a caller needs to prepare inputs. */
struct llm_model_info {
    int image_size;      /* the encoder takes image_size x image_size pixels per image */
    int num_channels;    /* 3 */
    int image_seq_len;   /* image tokens (and feature rows) per image */
    int image_token_id;  /* the prompt holds image_seq_len of these per image */
    int vocab_size;
    int max_positions;   /* max_position_embeddings */
};

/* Loads `dir`/config.json and the weights: `dir`/model.safetensors, or when that is absent the
 * shards listed by `dir`/model.safetensors.index.json (Hugging Face's sharded layout; shard
 * names must be plain file names in `dir`). Returns the model (free with llm_model_free) or
 * NULL with *err set to QUIRE_ENOENT, QUIRE_EIO, QUIRE_EMODEL (malformed or unsupported file:
 * *msg names the file and the tensor or key) or QUIRE_ENOMEM. Any thread. */
struct llm_model *llm_model_load(const char *dir, int *err, char **msg);
/* Unmaps and frees; NULL is a no-op. No state made from the model may be used afterwards. */
void llm_model_free(struct llm_model *model);
void llm_model_get_info(const struct llm_model *model, struct llm_model_info *info);

/* --- state --------------------------------------------------------------------------------- */

/* Allocates the buffers for sequences of up to `max_tokens` tokens (prompt + generated; at most
 * max_positions) holding up to `max_images` images. Returns NULL with *err = QUIRE_EINVAL (bad
 * sizes) or QUIRE_ENOMEM. The state refers to `model`, which must outlive it. Any thread; the
 * state then belongs to the caller's thread. */
struct llm_state *llm_state_new(const struct llm_model *model, int max_tokens, int max_images,
                                int *err);
/* The most sequences one state decodes together. */
#define LLM_MAX_BATCH 8

/* llm_state_new for up to `max_batch` (1..LLM_MAX_BATCH) sequences decoded together by
 * llm_generate_batch(), each of up to max_tokens tokens and max_images images: the KV caches,
 * logits and OTSL state are per sequence (see llm_state_bytes), the other buffers shared.
 * Same errors (QUIRE_EINVAL also for max_batch out of range). Any thread. */
struct llm_state *llm_state_new_batch(const struct llm_model *model, int max_tokens,
                                      int max_images, int max_batch, int *err);
/* Roughly the bytes a state's per-sequence buffers take for max_batch sequences of max_tokens
 * (KV caches, logits, OTSL rows); the shared buffers come on top. For sizing pools. */
size_t llm_state_bytes(const struct llm_model *model, int max_tokens, int max_batch);
/* The max_batch the state was made for (1 for llm_state_new). */
int llm_state_max_batch(const struct llm_state *state);
/* NULL is a no-op. */
void llm_state_free(struct llm_state *state);

/* --- generation ---------------------------------------------------------------------------- */

struct llm_generate_options {
    int max_new_tokens;      /* stop after this many generated tokens */
    const int32_t *stop_ids; /* generation stops after emitting one of these (may be NULL) */
    int n_stop_ids;
    /* Not NULL: OTSL-constrained decoding (llm_otsl_new). At each step only tokens that keep
     * the output a valid OTSL table compete for the argmax: "<otsl>" first, rows of equal
     * length ended by "<nl>", <lcel>/<ucel>/<xcel> only where they continue a span, text only
     * after <fcel>/<ched>/<rhed>/<srow> (valid UTF-8, no '<'), "</otsl>" after a row, then one
     * stop id (when stop ids are given; without, generation ends at "</otsl>"). Tokens that
     * would leave no room to close the table within max_new_tokens are excluded too, so with
     * max_new_tokens >= 4 (5 with stop ids) the text always parses with
     * table_from_otsl(repair = false). If no token is allowed (a smaller budget), generation
     * ends early. The log-probabilities are the model's own (before the constraint). */
    const struct llm_otsl *otsl;
    /* Not NULL: checked before the prompt and before each decode step (once per token); when
     * nonzero generation stops and returns QUIRE_ECANCELLED. May be set by another thread
     * (a plain int store; it is only ever read here). */
    const atomic_int *abort_flag;
    /* > 0: a now_seconds() time (common/common.h); checked with abort_flag; when passed,
     * generation stops and returns QUIRE_ETIMEOUT. */
    double deadline;
};

/* Greedy decoding. `prompt` (n_prompt ids) must hold exactly n_images * image_seq_len image
 * tokens; `pixels` holds n_images images, each (num_channels, image_size, image_size) floats,
 * already rescaled and normalized (NULL when n_images is 0). Writes up to max_new_tokens ids to
 * `out` (caller-owned, room for max_new_tokens), the count to *n_out, and the mean log-probability
 * of the emitted tokens (a stop token is emitted and counted) to *mean_logprob (0 when none).
 * Returns 0, QUIRE_EINVAL (image token count mismatch, ids out of range, prompt + max_new_tokens
 * over the state's max_tokens, more images than the state holds, an otsl made for another
 * vocabulary size), QUIRE_ECANCELLED / QUIRE_ETIMEOUT (options->abort_flag / deadline; see
 * llm_generate_batch). Does not allocate. The thread that owns `state` (uses its sequence 0). */
int llm_generate(const struct llm_model *model, struct llm_state *state, const int32_t *prompt,
                 int n_prompt, const float *pixels, int n_images,
                 const struct llm_generate_options *options, int32_t *out, int *n_out,
                 float *mean_logprob);

/* One sequence of a batch: inputs as for llm_generate (prompt, pixels: caller-owned, read
 * only), `out` caller-owned with room for its max_new_tokens; n_out and mean_logprob are set. */
struct llm_sequence {
    const int32_t *prompt;
    int n_prompt;
    const float *pixels;
    int n_images;
    int max_new_tokens; /* > 0: this sequence's own limit, if below the options' (0: theirs) */
    int32_t *out;
    int n_out;          /* set: ids written to out */
    float mean_logprob; /* set: as llm_generate's */
};

/* llm_generate for n_seqs (1..the state's max_batch) sequences with the same options: each
 * prompt (and its images) is run alone, then all are decoded in lockstep, one token each per
 * step, a sequence leaving the batch when it stops. Each sequence's tokens are exactly those
 * llm_generate gives it alone. Returns 0; QUIRE_EINVAL (as llm_generate, for any sequence, or
 * n_seqs out of range: then nothing is generated); QUIRE_ECANCELLED or QUIRE_ETIMEOUT when
 * options->abort_flag or ->deadline stopped it (at most one more token per sequence after the
 * flag was seen set; the tokens generated so far are kept in out / n_out). Does not allocate.
 * The thread that owns `state`. llm_generate is this with one sequence, and returns the same
 * codes. */
int llm_generate_batch(const struct llm_model *model, struct llm_state *state,
                       struct llm_sequence *seqs, int n_seqs,
                       const struct llm_generate_options *options);

/* The OTSL constraint for a model with `vocab_size` ids (llm_model_info.vocab_size) and its
 * tokenizer: which ids are the OTSL tags ("<otsl>", "</otsl>", "<nl>", "<fcel>", "<ecel>",
 * "<ched>", "<rhed>", "<srow>", "<lcel>", "<ucel>", "<xcel>", all required), which are plain
 * text, and which are never allowed (other added tokens, ids the tokenizer lacks). Returns it
 * (free with llm_otsl_free; it does not refer to `tok` afterwards) or NULL with *err =
 * QUIRE_EMODEL (a tag is missing: *msg, when not NULL, says which), QUIRE_EINVAL (vocab_size
 * < 1) or QUIRE_ENOMEM. Any thread; the result is
 * read-only and may be shared by threads. */
struct llm_otsl *llm_otsl_new(const struct llm_tokenizer *tok, int vocab_size, int *err,
                              char **msg);
/* NULL is a no-op. */
void llm_otsl_free(struct llm_otsl *otsl);

/* --- image preprocessing (Idefics3ImageProcessor) ----------------------------------------- */

struct llm_image_options {
    int longest_edge;  /* first resize so the longest side is this (processor size.longest_edge) */
    bool split;        /* do_image_splitting: tiles of image_size plus a global image */
    float mean[3];     /* image_mean */
    float std[3];      /* image_std */
};

/* SmolDocling's processor settings: longest_edge = 4 * image_size, split, mean = std = 0.5. */
void llm_image_options_default(const struct llm_model *model, struct llm_image_options *options);
/* llm_image_options_default, then the keys of `dir`/preprocessor_config.json that are present
 * (size.longest_edge, do_image_splitting, image_mean, image_std; max_image_size.longest_edge
 * must equal the encoder's image_size and resample must be 1 = LANCZOS). A missing file leaves
 * the defaults. Returns 0, QUIRE_EMODEL (*msg names the file and key) or QUIRE_ENOMEM. */
int llm_image_options_load(const struct llm_model *model, const char *dir,
                           struct llm_image_options *options, char **msg);

/* Turns an 8-bit image (width x height, `stride` bytes per row; `channels` 3 = RGB, or 1 = gray,
 * which is replicated to RGB as PIL's convert("RGB") does; a table region of a page raster is
 * passed as a pointer to its first pixel plus the page's stride) into the encoder's input the way
 * Idefics3ImageProcessor does with resample=LANCZOS: resize so the longest side is longest_edge
 * (aspect kept, the other side rounded up to even); when splitting, resize both sides up to
 * multiples of image_size and cut rows x cols tiles (raster order), then add the whole image
 * resized to image_size x image_size; otherwise only that last image. The resizes reproduce
 * PIL's 8-bit fixed-point Lanczos exactly; then x / 255, (x - mean) / std.
 * On success *pixels is a new array (caller frees) of *n_images images of (3, image_size,
 * image_size) floats, and *rows, *cols the tile layout (0, 0 when not split) for
 * llm_image_prompt(). Returns 0, QUIRE_EINVAL (empty image, bad channels or stride, options out
 * of range) or QUIRE_ENOMEM. Any thread. */
int llm_image_preprocess(const struct llm_model *model, const struct llm_image_options *options,
                         const uint8_t *image, int width, int height, size_t stride,
                         int channels, float **pixels, int *n_images, int *rows, int *cols);

/* The prompt text that stands for one preprocessed image (as Idefics3Processor writes it):
 * per tile "<fake_token_around_image><row_R_col_C>" + image_seq_len x "<image>", "\n" after each
 * row, then "\n<fake_token_around_image><global-img>" + image tokens +
 * "<fake_token_around_image>" (without tiles: no leading "\n"). Returns a new string (caller
 * frees) or NULL when out of memory. */
char *llm_image_prompt(int rows, int cols, int image_seq_len);

/* --- one image to text ------------------------------------------------------------------- */

/* The whole path for one image: llm_image_preprocess(), the chat prompt
 *   "<|im_start|>User:" + llm_image_prompt() + instruction + "<end_of_utterance>\nAssistant:"
 * (SmolDocling's template), tokenize, llm_generate() stopping at "<end_of_utterance>" or
 * "<|endoftext|>" (those the tokenizer has; the stop token is not part of the text), decode.
 * On success *text is a new NUL-terminated string (caller frees) and *mean_logprob the mean
 * log-probability of the generated tokens (a confidence). Returns 0, QUIRE_EINVAL (see
 * llm_image_preprocess), QUIRE_ELIMIT (the image needs more tiles than the state holds, or the
 * prompt plus max_new_tokens exceeds its max_tokens) or QUIRE_ENOMEM. Allocates only before and
 * after generation. The thread that owns `state`. */
int llm_image_to_text(const struct llm_model *model, const struct llm_tokenizer *tok,
                      struct llm_state *state, const struct llm_image_options *options,
                      const uint8_t *image, int width, int height, size_t stride, int channels,
                      const char *instruction, int max_new_tokens, char **text,
                      float *mean_logprob);

/* --- tokenizer ----------------------------------------------------------------------------- */

/* Loads a Hugging Face tokenizer.json with a byte-level BPE model (GPT-2 / SmolLM2 style:
 * pre_tokenizer ByteLevel, optionally after Digits(individual_digits)). Added tokens are matched
 * before pre-tokenization and kept whole. Returns NULL with *err = QUIRE_ENOENT, QUIRE_EIO,
 * QUIRE_EMODEL (*msg says what is wrong) or QUIRE_ENOMEM. Any thread; the result is read-only
 * and may be shared by threads. */
struct llm_tokenizer *llm_tokenizer_load(const char *path, int *err, char **msg);
void llm_tokenizer_free(struct llm_tokenizer *tok);
/* Encodes `len` bytes of UTF-8 `text` (invalid bytes are encoded byte by byte). On success
 * *ids is a new array (caller frees) of *n_ids ids. Returns 0 or QUIRE_ENOMEM. Any thread. */
int llm_tokenizer_encode(const struct llm_tokenizer *tok, const char *text, size_t len,
                         int32_t **ids, size_t *n_ids);
/* Decodes ids into a new NUL-terminated string (caller frees) of *len bytes. Returns 0,
 * QUIRE_EINVAL (an id outside the vocabulary) or QUIRE_ENOMEM. Any thread. */
int llm_tokenizer_decode(const struct llm_tokenizer *tok, const int32_t *ids, size_t n_ids,
                         char **text, size_t *len);
/* The id of a token given by its exact string (e.g. "<end_of_utterance>"), or -1. */
int32_t llm_tokenizer_token_id(const struct llm_tokenizer *tok, const char *token);
/* Number of ids (vocabulary plus added tokens: the largest id + 1). */
int llm_tokenizer_vocab_size(const struct llm_tokenizer *tok);

/* --- line reader: the vision encoder with a CTC head ------------------------------------- */

/* A reader reads printed text lines with the same SigLIP-style encoder as the model, trained
 * alone on text lines (stage A of train/: the encoder learns to read before a decoder is put
 * on it), and a linear CTC head: quire uses it to read the words of scanned tables when no
 * vision-language model reads them. Its directory holds
 *   config.json        {"model_type": "quire_reader", "vision_config": {...} (Idefics3VisionConfig
 *                      keys; num_channels 1), "quire_reader": {"ctc_steps": S, "charset": [the
 *                      UTF-8 string of class 1, 2, ...; class 0 is the CTC blank], "x_height": X}}
 *   model.safetensors  model.vision_model.* (transformers' names, as the model's) plus
 *                      ctc_head.weight (S * classes, 2 * hidden_size) and ctc_head.bias
 * A tile is image_size x image_size gray pixels holding one text line per band of two patch
 * rows (band b = pixel rows [b * 2 * patch, (b + 1) * 2 * patch)), centred in its band, dark on
 * light, with an x-height of about x_height pixels. The head maps the encoder features of the
 * two patches above each other at each patch column (concatenated, upper first) to S sub-steps
 * of class scores; the greedy path (argmax per sub-step, repeats merged, blanks dropped) is the
 * text. Same validation and errors as llm_model_load(). Threads: as llm_model; a
 * struct llm_reader_state belongs to one thread at a time. */
struct llm_reader;
struct llm_reader_state;

struct llm_reader_info {
    int image_size;  /* tiles are image_size x image_size */
    int band_height; /* 2 * patch_size */
    int n_bands;     /* image_size / band_height */
    float x_height;  /* pixels: the x-height the reader was trained on (middle of its range) */
};

/* Loads `dir`/config.json and `dir`/model.safetensors (or its shards; F32, F16 or BF16, as for
 * llm_model_load). The config must say model_type "quire_reader", num_channels 1, an even
 * number of patch rows, ctc_steps in [1, 64], x_height > 0, and a charset of 1 to 4096
 * non-empty UTF-8 strings of at most 16 bytes each; the tensors must have the shapes it
 * implies (no connector or decoder is read). Returns the reader (free with llm_reader_free) or
 * NULL with *err = QUIRE_ENOENT, QUIRE_EIO, QUIRE_EMODEL (*msg names the file and the key or
 * tensor) or QUIRE_ENOMEM. Any thread; the reader is read-only afterwards. */
struct llm_reader *llm_reader_load(const char *dir, int *err, char **msg);
void llm_reader_free(struct llm_reader *reader); /* NULL is a no-op; no state may outlive it */
void llm_reader_get_info(const struct llm_reader *reader, struct llm_reader_info *info);
/* The buffers of one read (the encoder's for one tile, the head's), allocated once; the state
 * refers to `reader`, which must outlive it. NULL with *err = QUIRE_ENOMEM. Any thread; the
 * state then belongs to the caller's thread. */
struct llm_reader_state *llm_reader_state_new(const struct llm_reader *reader, int *err);
void llm_reader_state_free(struct llm_reader_state *state); /* NULL is a no-op */
/* Reads one tile: image_size rows of image_size gray bytes, `stride` (>= image_size) bytes
 * apart; 0 is black. `texts` (and `confidence` when not NULL) have room for n_bands entries.
 * For each band b, texts[b] is set to a new NUL-terminated UTF-8 string (caller frees; "" for
 * a band where nothing is read) and, when `confidence` is not NULL, confidence[b] to the mean
 * over the band's emitted characters of their probability at the sub-step that emitted them
 * (1 for an empty band). Allocates only the strings. Returns 0 or QUIRE_ENOMEM (then no string
 * is left allocated). The thread that owns `state`. */
int llm_reader_read(const struct llm_reader *reader, struct llm_reader_state *state,
                    const uint8_t *tile, size_t stride, char **texts, float *confidence);

#endif
