/*
 * model_engine.c - the vision-language model (llm/) as a table engine of the pipeline.
 *
 * The model, its tokenizer, the OTSL constraint and the image options are loaded once, on the
 * loop thread, by pipeline_new(); from then on they are read-only and shared by every worker.
 * What is not shareable is the llm_state (activations and KV cache): states are kept in a small
 * pool guarded by a mutex, like the database connections in pipeline.c. A worker takes a state
 * for one decode and gives it back; a state is created the first time no idle one is there, so
 * at most one state exists per thread that decodes at the same time (<= workers), and all are
 * freed by model_engine_free() after the workers stopped.
 *
 * One table region becomes a model input the way train/README.md ("Model input: legibility and
 * tiling") prepares its training crops: the caller renders the region at a DPI that gives an
 * x-height of about 10 px; here the crop is first turned upright (a region whose text runs at
 * 90, 180 or 270 degrees: exact quarter turns of the raster, no resampling), scaled down when it
 * needs more than MAX_GRID tiles a side, padded with white to whole tiles and handed to
 * llm_image_preprocess() with longest_edge = the padded side and splitting on, so the tiles are
 * cut without resampling.
 *
 * Batches: the regions of a page are prepared (model_engine_prepare: crop to pixels and prompt,
 * which copies, so the page raster may change afterwards) and decoded together by
 * model_engine_read_batch(), up to e->max_batch at a time on one state (llm_generate_batch: each
 * decode step reads the weights once for all of them). A state holds max_batch KV caches, so
 * max_batch is the largest batch (<= MAX_BATCH = 3) whose per-sequence buffers stay within
 * MAX_STATE_BYTES; every pooled state is made for that batch size, and the pool logic (at most
 * one state per decoding thread) is unchanged. bench/bench_llm measures the gain (batchN_speedup,
 * decode_batchN_speedup): on the 2-core development machine with the 12M model, decoding runs
 * 1.3 to 1.9 times more tokens per CPU second in batches of 2 to 4, and a whole table (encoder
 * and prompt are not batched) takes 1.02 to 1.37 times less CPU.
 */
#include "workers.h"

#include <assert.h>
#include <cblas.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../llm/llm.h"

#ifndef QUIRE_DATADIR
#define QUIRE_DATADIR "/usr/local/share/quire"
#endif

#define MAX_GRID 2            /* tiles per side, as in training (train/README.md) */
#define MAX_STATE_TOKENS 4096 /* prompt + generated tokens a state holds (bounds its memory) */
#define MAX_NEW_TOKENS 2048   /* a 10 x 6 table is ~400 tokens */
#define INSTRUCTION "Convert table to OTSL."
/* Regions decoded together. bench/bench_llm on the 2-core machine (12M model; 3 runs under a
 * load of 4 to 9 from other work), CPU per table alone -> in batches of 2 / 3 / 4:
 * 0.54 -> 0.46 / 0.40 / 0.49 s, 0.61 -> 0.51 / 0.46 / 0.56 s, 0.47 -> 0.44 / 0.41 / 0.46 s;
 * decode tokens per CPU second 1.3-1.6x / 1.7-1.9x / 1.3-1.6x. 3 was best in every run.
 * NEEDSWORK: measure again with the trained model, whose larger weights make decoding more
 * bound by memory (which favours bigger batches). */
#define MAX_BATCH 3
#define MAX_STATE_BYTES (1024L << 20) /* a batch state's KV caches, logits and OTSL rows */

struct model_engine {
    char *dir;
    char *id;
    struct llm_model *model;
    struct llm_tokenizer *tok;
    struct llm_otsl *otsl;              /* NULL when the tokenizer lacks the OTSL tags */
    struct llm_image_options image;
    struct llm_model_info info;
    int32_t stop[2];
    int n_stop;
    int state_tokens;
    int max_batch;                      /* sequences per pooled state, 1..MAX_BATCH */

    pthread_mutex_t lock;               /* guards everything below */
    struct llm_state **idle;
    size_t n_idle, cap_idle;
    int states_created, in_use, in_use_max;
    long decodes, batches;
    int batch_max;
};

static atomic_long models_loaded;

void (*model_engine__before_decode)(void);

long model_engine_loads(void) { return atomic_load(&models_loaded); }

static bool is_model_dir(const char *dir)
{
    char *cfg = g_build_filename(dir, "config.json", NULL);
    bool ok = g_file_test(cfg, G_FILE_TEST_IS_REGULAR);
    g_free(cfg);
    return ok;
}

char *model_engine_find(const struct config *cfg, char **msg)
{
    if (cfg->model_path && *cfg->model_path)
        return q_strdup(cfg->model_path);
    /* The source tree's model (quire run from a checkout), then the one `make install` copies
     * under $(PREFIX)/share/quire. */
    static const char *shipped[] = {"models/quire-table", QUIRE_DATADIR "/models/quire-table"};
    for (size_t i = 0; i < sizeof shipped / sizeof *shipped; i++)
        if (is_model_dir(shipped[i]))
            return q_strdup(shipped[i]);
    if (msg)
        *msg = q_asprintf("[tables] engine = %s needs a model, and none is shipped (models/ is "
                          "empty): give a model folder (Hugging Face layout) with --model DIR "
                          "or [model] path in the configuration, or use --engine text",
                          cfg->engine);
    return NULL;
}

/* config.json's _name_or_path when it has one, else the folder's name. */
static char *model_id_of(const char *dir)
{
    char *path = g_build_filename(dir, "config.json", NULL);
    JsonParser *p = json_parser_new();
    char *id = NULL;
    if (json_parser_load_from_file(p, path, NULL) && JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        JsonObject *o = json_node_get_object(json_parser_get_root(p));
        JsonNode *n = json_object_get_member(o, "_name_or_path");
        if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING &&
            *json_node_get_string(n))
            id = q_strdup(json_node_get_string(n));
    }
    g_object_unref(p);
    g_free(path);
    if (!id) {
        char *canon = realpath(dir, NULL);
        char *base = g_path_get_basename(canon ? canon : dir);
        id = q_strdup(base);
        g_free(base);
        free(canon);
    }
    return id;
}

struct model_engine *model_engine_load(const struct config *cfg, int *err, char **msg)
{
    char *dir = model_engine_find(cfg, msg);
    if (!dir) {
        *err = QUIRE_ECONFIG;
        return NULL;
    }
    struct model_engine *e = q_calloc(1, sizeof *e);
    if (!e) {
        free(dir);
        *err = QUIRE_ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&e->lock, NULL);
    e->dir = dir;
    char *tok_path = g_build_filename(dir, "tokenizer.json", NULL);
    char *m = NULL;
    *err = 0;
    e->model = llm_model_load(dir, err, &m);
    if (e->model)
        atomic_fetch_add(&models_loaded, 1);
    if (e->model)
        e->tok = llm_tokenizer_load(tok_path, err, &m);
    if (e->tok)
        *err = llm_image_options_load(e->model, dir, &e->image, &m);
    if (!*err && !(e->id = model_id_of(dir)))
        *err = QUIRE_ENOMEM;
    g_free(tok_path);
    if (*err) {
        if (msg)
            *msg = q_asprintf("model %s: %s", dir, m ? m : err_str(*err));
        free(m);
        model_engine_free(e);
        return NULL;
    }
    llm_model_get_info(e->model, &e->info);
    /* Without the OTSL tags (e.g. a general-purpose tokenizer) decoding is unconstrained and
     * the output is repaired when parsed. */
    int oerr = 0;
    e->otsl = llm_otsl_new(e->tok, e->info.vocab_size, &oerr, &m);
    if (!e->otsl) {
        if (oerr == QUIRE_ENOMEM) {
            free(m);
            model_engine_free(e);
            *err = QUIRE_ENOMEM;
            return NULL;
        }
        log_msg(LOG_INFO, "model %s: unconstrained decoding (%s)", dir, m ? m : err_str(oerr));
        free(m);
    }
    const char *stop_names[] = {"<end_of_utterance>", "<|endoftext|>"};
    for (int i = 0; i < 2; i++)
        if ((e->stop[e->n_stop] = llm_tokenizer_token_id(e->tok, stop_names[i])) >= 0)
            e->n_stop++;
    e->state_tokens = e->info.max_positions < MAX_STATE_TOKENS ? e->info.max_positions
                                                               : MAX_STATE_TOKENS;
    size_t per_sequence = llm_state_bytes(e->model, e->state_tokens, 1);
    e->max_batch = 1;
    while (e->max_batch < MAX_BATCH &&
           (size_t)(e->max_batch + 1) * per_sequence <= (size_t)MAX_STATE_BYTES)
        e->max_batch++;
    /* One OpenBLAS setting for the process (the pthreads build keeps one global count):
     * [model] threads per decoding worker; see workers.h for how that shares the cores. */
    openblas_set_num_threads(cfg->threads);
    log_msg(LOG_DEBUG, "model %s (%s) loaded: %dx%d px tiles, %d tokens per image, OTSL %s, "
            "batches of up to %d regions", e->id, dir, e->info.image_size, e->info.image_size,
            e->info.image_seq_len, e->otsl ? "constrained" : "unconstrained", e->max_batch);
    return e;
}

void model_engine_free(struct model_engine *e)
{
    if (!e)
        return;
    assert(e->in_use == 0);
    for (size_t i = 0; i < e->n_idle; i++)
        llm_state_free(e->idle[i]);
    free(e->idle);
    llm_otsl_free(e->otsl);
    llm_tokenizer_free(e->tok);
    llm_model_free(e->model);
    pthread_mutex_destroy(&e->lock);
    free(e->id);
    free(e->dir);
    free(e);
}

const char *model_engine_id(const struct model_engine *e) { return e->id; }

int model_engine_image_size(const struct model_engine *e) { return e->info.image_size; }

void model_engine_get_stats(struct model_engine *e, struct model_engine_stats *st)
{
    pthread_mutex_lock(&e->lock);
    st->states_created = e->states_created;
    st->states_in_use_max = e->in_use_max;
    st->decodes = e->decodes;
    st->batches = e->batches;
    st->batch_max = e->batch_max;
    st->max_batch = e->max_batch;
    pthread_mutex_unlock(&e->lock);
}

/* An idle state, or a new one. Worker threads. */
static struct llm_state *take_state(struct model_engine *e, int *err)
{
    pthread_mutex_lock(&e->lock);
    struct llm_state *s = e->n_idle ? e->idle[--e->n_idle] : NULL;
    if (++e->in_use > e->in_use_max)
        e->in_use_max = e->in_use;
    /* Reserve room to give it back now, so giving back cannot fail. */
    if (q_grow((void **)&e->idle, sizeof *e->idle, &e->cap_idle, (size_t)e->in_use + e->n_idle)) {
        *err = QUIRE_ENOMEM;
        e->in_use--;
        pthread_mutex_unlock(&e->lock);
        if (s)
            llm_state_free(s);
        return NULL;
    }
    pthread_mutex_unlock(&e->lock);
    if (s)
        return s;
    s = llm_state_new_batch(e->model, e->state_tokens, MAX_GRID * MAX_GRID + 1, e->max_batch,
                            err);
    pthread_mutex_lock(&e->lock);
    if (s)
        e->states_created++;
    else
        e->in_use--;
    pthread_mutex_unlock(&e->lock);
    return s;
}

/* n_decoded: the sequences decoded on it in one batch (0 when none finished). */
static void give_back_state(struct model_engine *e, struct llm_state *s, int n_decoded)
{
    pthread_mutex_lock(&e->lock);
    assert(e->n_idle < e->cap_idle);
    e->idle[e->n_idle++] = s;
    e->in_use--;
    e->decodes += n_decoded;
    if (n_decoded > 0)
        e->batches++;
    if (n_decoded > e->batch_max)
        e->batch_max = n_decoded;
    pthread_mutex_unlock(&e->lock);
}

/* Box-filter downscale of a gray image to nw x nh (each output pixel the mean of the source
 * pixels it covers). */
static void downscale(const uint8_t *src, int w, int h, size_t stride, uint8_t *dst, int nw,
                      int nh)
{
    for (int y = 0; y < nh; y++) {
        int y0 = (int)((int64_t)y * h / nh), y1 = (int)((int64_t)(y + 1) * h / nh);
        if (y1 <= y0)
            y1 = y0 + 1;
        for (int x = 0; x < nw; x++) {
            int x0 = (int)((int64_t)x * w / nw), x1 = (int)((int64_t)(x + 1) * w / nw);
            if (x1 <= x0)
                x1 = x0 + 1;
            uint32_t sum = 0;
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++)
                    sum += src[(size_t)yy * stride + (size_t)xx];
            dst[(size_t)y * (size_t)nw + (size_t)x] =
                (uint8_t)((sum + (uint32_t)((x1 - x0) * (y1 - y0)) / 2) /
                          (uint32_t)((x1 - x0) * (y1 - y0)));
        }
    }
}

/* The crop scaled by `scale` (<= 1), then down to at most MAX_GRID tiles a side, and padded
 * with white to whole tiles: a new image (caller frees) of *pw x *ph pixels. */
static uint8_t *tile_canvas(const uint8_t *gray, int w, int h, size_t stride, double scale,
                            int tile, int *pw, int *ph)
{
    int limit = MAX_GRID * tile, nw = w, nh = h;
    double s = scale > 0 && scale < 1 ? scale : 1;
    if (w * s > limit || h * s > limit)
        s = (double)limit / (w > h ? w : h);
    if (s < 1) {
        nw = (int)fmax(1, floor(w * s));
        nh = (int)fmax(1, floor(h * s));
    }
    *pw = (nw + tile - 1) / tile * tile;
    *ph = (nh + tile - 1) / tile * tile;
    uint8_t *canvas = q_malloc((size_t)*pw * (size_t)*ph);
    if (!canvas)
        return NULL;
    memset(canvas, 255, (size_t)*pw * (size_t)*ph);
    if (nw == w && nh == h) {
        for (int y = 0; y < h; y++)
            memcpy(canvas + (size_t)y * (size_t)*pw, gray + (size_t)y * stride, (size_t)w);
        return canvas;
    }
    uint8_t *small = q_malloc((size_t)nw * (size_t)nh);
    if (!small) {
        free(canvas);
        return NULL;
    }
    downscale(gray, w, h, stride, small, nw, nh);
    for (int y = 0; y < nh; y++)
        memcpy(canvas + (size_t)y * (size_t)*pw, small + (size_t)y * (size_t)nw, (size_t)nw);
    free(small);
    return canvas;
}

uint8_t *model_engine_upright(const uint8_t *gray, int w, int h, size_t stride, int rotation,
                              int *ow, int *oh)
{
    bool turn = rotation == 90 || rotation == 270;
    *ow = turn ? h : w;
    *oh = turn ? w : h;
    uint8_t *out = q_malloc((size_t)w * (size_t)h);
    if (!out)
        return NULL;
    size_t ow_ = (size_t)*ow;
    for (int y = 0; y < *oh; y++) {
        uint8_t *row = out + (size_t)y * ow_;
        for (int x = 0; x < *ow; x++) {
            int sx, sy; /* the source pixel (vision/rotate.c's frames, for pixel indices) */
            switch (rotation) {
            case 90: /* x' = y, y' = W - x */
                sx = w - 1 - y;
                sy = x;
                break;
            case 270: /* x' = H - y, y' = x */
                sx = y;
                sy = h - 1 - x;
                break;
            case 180:
                sx = w - 1 - x;
                sy = h - 1 - y;
                break;
            default:
                sx = x;
                sy = y;
                break;
            }
            row[x] = gray[(size_t)sy * stride + (size_t)sx];
        }
    }
    return out;
}

uint8_t *model_engine_input_image(const struct model_engine *e, const uint8_t *gray, int w,
                                  int h, size_t stride, double scale, int rotation, int *pw,
                                  int *ph)
{
    if (rotation != 90 && rotation != 180 && rotation != 270)
        return tile_canvas(gray, w, h, stride, scale, e->info.image_size, pw, ph);
    int uw, uh;
    uint8_t *upright = model_engine_upright(gray, w, h, stride, rotation, &uw, &uh);
    if (!upright)
        return NULL;
    uint8_t *canvas = tile_canvas(upright, uw, uh, (size_t)uw, scale, e->info.image_size, pw, ph);
    free(upright);
    return canvas;
}

static int build_prompt(const struct model_engine *e, int rows, int cols, int32_t **ids,
                        size_t *n_ids)
{
    char *image = llm_image_prompt(rows, cols, e->info.image_seq_len);
    char *text = image ? q_asprintf("<|im_start|>User:%s" INSTRUCTION "<end_of_utterance>\n"
                                    "Assistant:", image) : NULL;
    int err = text ? llm_tokenizer_encode(e->tok, text, strlen(text), ids, n_ids) : QUIRE_ENOMEM;
    free(text);
    free(image);
    return err;
}

/* One prepared region: its pixels and prompt (model_engine_prepare). */
struct model_input {
    float *pixels;
    int n_images;
    int32_t *prompt;
    int n_prompt;
    int width, height; /* the crop, for the log */
    int32_t *out;      /* (max_new) generated ids */
    int max_new;
};

static void input_free(struct model_input *in)
{
    if (!in)
        return;
    free(in->pixels);
    free(in->prompt);
    free(in->out);
    free(in);
}

void model_read_release(struct model_read *r)
{
    input_free(r->input);
    table_free(r->table);
    free(r->msg);
    memset(r, 0, sizeof *r);
}

int model_engine_prepare(struct model_engine *e, const uint8_t *gray, int width, int height,
                         size_t stride, double scale, int rotation, struct model_read *r)
{
    memset(r, 0, sizeof *r);
    if (width < 1 || height < 1)
        return r->err = QUIRE_EINVAL;
    int pw, ph, rows = 0, cols = 0;
    uint8_t *canvas = model_engine_input_image(e, gray, width, height, stride, scale, rotation,
                                               &pw, &ph);
    struct model_input *in = q_calloc(1, sizeof *in);
    if (!canvas || !in) {
        free(canvas);
        free(in);
        return r->err = QUIRE_ENOMEM;
    }
    in->width = width;
    in->height = height;
    struct llm_image_options io = e->image;
    io.longest_edge = pw > ph ? pw : ph;
    io.split = true;
    int err = llm_image_preprocess(e->model, &io, canvas, pw, ph, (size_t)pw, 1, &in->pixels,
                                   &in->n_images, &rows, &cols);
    free(canvas);
    size_t n_ids = 0;
    if (!err)
        err = build_prompt(e, rows, cols, &in->prompt, &n_ids);
    if (!err) {
        in->n_prompt = (int)n_ids;
        in->max_new = e->state_tokens - in->n_prompt;
        if (in->max_new > MAX_NEW_TOKENS)
            in->max_new = MAX_NEW_TOKENS;
        if (in->max_new < 5 || in->n_images > MAX_GRID * MAX_GRID + 1) {
            r->msg = q_asprintf("the prompt (%zu tokens, %d images) leaves no room to decode in "
                                "the model's %d positions", n_ids, in->n_images, e->state_tokens);
            err = QUIRE_ELIMIT;
        } else if (!(in->out = q_malloc(sizeof *in->out * (size_t)in->max_new))) {
            err = QUIRE_ENOMEM;
        }
    }
    if (err) {
        input_free(in);
        return r->err = err;
    }
    r->input = in;
    return 0;
}

/* Turns a decoded sequence into r's table (or r->err and r->msg). */
static int finish(struct model_engine *e, struct model_read *r, const struct llm_sequence *q)
{
    int n_out = q->n_out;
    for (int i = 0; n_out > 0 && i < e->n_stop; i++)
        if (q->out[n_out - 1] == e->stop[i]) {
            n_out--;
            break;
        }
    char *text = NULL;
    size_t len;
    int err = llm_tokenizer_decode(e->tok, q->out, (size_t)n_out, &text, &len);
    if (err)
        return r->err = err;
    /* The mean log-probability per token L <= 0 maps to exp(L): the geometric mean of the
     * probabilities the model gave its own tokens, 1 when it was certain of every one. */
    r->confidence = exp((double)q->mean_logprob);
    int repaired = 0;
    err = table_from_otsl(text, true, &r->table, &repaired, &r->msg);
    if (!err && (r->table->n_rows == 0 || r->table->n_cols == 0)) {
        table_free(r->table);
        r->table = NULL;
        err = QUIRE_EPARSE;
        free(r->msg);
        r->msg = q_strdup("the model's output holds no table");
    }
    log_msg(LOG_DEBUG, "model %s: %dx%d px crop, %d images, %d tokens, confidence %.3f, "
            "%d repairs%s", e->id, r->input->width, r->input->height, r->input->n_images, n_out,
            r->confidence, repaired, err ? " (no table)" : "");
    free(text);
    return r->err = err;
}

/* Decodes reads[idx[0..n-1]] as one batch on a pooled state. Returns 0 (each read has its
 * result), QUIRE_ENOMEM, QUIRE_ECANCELLED or QUIRE_ETIMEOUT (then the batch's reads have none). */
static int read_group(struct model_engine *e, struct model_read *reads, const int *idx, int n,
                      const atomic_int *abort_flag, double deadline)
{
    struct llm_sequence seqs[MAX_BATCH];
    for (int b = 0; b < n; b++) {
        struct model_input *in = reads[idx[b]].input;
        seqs[b] = (struct llm_sequence){.prompt = in->prompt, .n_prompt = in->n_prompt,
                                        .pixels = in->pixels, .n_images = in->n_images,
                                        .max_new_tokens = in->max_new, .out = in->out};
    }
    int err = 0;
    struct llm_state *s = take_state(e, &err);
    if (!s)
        return err;
    struct llm_generate_options go = {.max_new_tokens = MAX_NEW_TOKENS, .stop_ids = e->stop,
                                      .n_stop_ids = e->n_stop, .otsl = e->otsl,
                                      .abort_flag = abort_flag, .deadline = deadline};
    if (model_engine__before_decode)
        model_engine__before_decode();
    err = llm_generate_batch(e->model, s, seqs, n, &go);
    give_back_state(e, s, err ? 0 : n);
    if (err == QUIRE_ECANCELLED || err == QUIRE_ETIMEOUT)
        return err;
    for (int b = 0; b < n; b++) {
        struct model_read *r = &reads[idx[b]];
        if (err)
            r->err = err;
        else if (finish(e, r, &seqs[b]) == QUIRE_ENOMEM)
            return QUIRE_ENOMEM;
    }
    return 0;
}

int model_engine_read_batch(struct model_engine *e, struct model_read *reads, size_t n,
                            const atomic_int *abort_flag, double deadline)
{
    int idx[MAX_BATCH], k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!reads[i].input || reads[i].err)
            continue;
        idx[k++] = (int)i;
        if (k == e->max_batch) {
            int err = read_group(e, reads, idx, k, abort_flag, deadline);
            if (err)
                return err;
            k = 0;
        }
    }
    return k ? read_group(e, reads, idx, k, abort_flag, deadline) : 0;
}

int model_engine_max_batch(const struct model_engine *e) { return e->max_batch; }

int model_engine_read_table(struct model_engine *e, const uint8_t *gray, int width, int height,
                            size_t stride, double scale, struct table **out, double *confidence,
                            char **msg)
{
    struct model_read r;
    *out = NULL;
    *confidence = 0;
    int err = model_engine_prepare(e, gray, width, height, stride, scale, 0, &r);
    if (!err)
        err = model_engine_read_batch(e, &r, 1, NULL, 0);
    if (!err)
        err = r.err;
    if (!err) {
        *out = r.table;
        *confidence = r.confidence;
        r.table = NULL;
    } else if (msg) {
        *msg = r.msg;
        r.msg = NULL;
    }
    model_read_release(&r);
    return err;
}
