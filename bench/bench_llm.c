/*
 * bench/bench_llm.c - speed of the vision-language engine, and of the same model in PyTorch.
 *
 * The model is random, with the architecture of train/configs/gpu.json (quire-table-12m, the
 * model train/ trains for quire; 12.2M parameters): vision 256 wide, 6 layers, 4 heads, MLP 768, 512 x 512 images in 16 x 16
 * patches (1024 patches); pixel shuffle 2 (256 image tokens); Llama decoder 384 wide, 5
 * layers, 6 heads / 2 KV heads, MLP 896, 640-token vocabulary, tied lm_head. It is written once
 * to a temporary directory (config.json, model.safetensors, plus image.u8 and prompt.txt for
 * the PyTorch side) and removed at the end.
 *
 * The table case: one 512 x 512 RGB image (8-bit, as a page raster gives it), preprocessed
 * (resize + normalize, no splitting), the chat prompt "<|im_start|>User:<fake..><global-img>"
 * + 256 image tokens + "<fake..>Convert table to OTSL.<end_of_utterance>\nAssistant:" (286
 * ids) and 200 generated tokens, greedy, no stop token: a 10 x 6 table in OTSL (one tag per
 * cell plus ~2 text tokens, a <nl> per row) is 150-250 tokens.
 *
 * Prints `name: value` lines:
 *   threads               OpenBLAS threads (and torch threads): --threads N, default 1 as
 *                         quire runs the model (workers/workers.h: one worker per core, one
 *                         OpenBLAS thread each)
 *   load_avg_1m           the machine's load when the bench started: on a shared machine the
 *                         wall-clock figures below stretch with it, so CPU-time figures
 *                         (*_cpu*) are printed next to them (process CPU time = the work done
 *                         when threads is 1)
 *   model_params_m        parameters, millions
 *   encoder_gflops        the vision encoder's matmul FLOPs (patch embedding, q/k/v/out
 *                         projections, per-head Q K^T and P V, fc1, fc2) over the measured
 *                         time of llm__vision_encode (everything: norms, softmax, GELU too)
 *   sgemm_gflops          the same FLOPs over the time cblas_sgemm alone takes for the same
 *                         shapes (each matmul of the model, called as the model defines it)
 *   encoder_sgemm_ratio   encoder_gflops / sgemm_gflops (target >= 0.6); the two are timed
 *                         alternately, best of 5 each; _cpu: the same from CPU times
 *   vision_encode_s       encoder + connector for one image
 *   prefill_tokens_per_s  the 286-token prompt through the decoder (image features given)
 *   decode_tokens_per_s   one-token steps with the KV cache at 286..485 positions;
 *                         decode_tokens_per_cpu_s: the same per CPU second
 *   generated_tokens      200
 *   seconds_per_table     preprocess + llm_generate (encode, prefill, 200 tokens); target
 *                         <= 1 s; cpu_seconds_per_table: its CPU time
 *   torch_seconds_per_table, c_vs_pytorch (= torch / C; target >= 2), c_vs_pytorch_cpu,
 *   torch_tokens_match
 *                         the same through bench/bench_llm_torch.py (train/idefics3_ref.py
 *                         with a KV cache) in /usr/bin/python3 ($QUIRE_BENCH_PYTHON), if it
 *                         has torch; skipped with a note on stderr otherwise;
 *                         torch_tokens_match: how many of the 200 greedy ids agree with C's
 *   decode_tokens_per_s_batchB, seconds_per_table_batchB (B = 1, 2, 3, 4)
 *                         B sequences decoded together (llm_generate_batch): decode steps of
 *                         B tokens (tokens/s counts all B), and a batch of B tables (each its
 *                         own preprocess, encode and prompt, then 200 tokens in lockstep)
 *                         divided by B; batchB_speedup = seconds_per_table_batch1 /
 *                         seconds_per_table_batchB, decode_batchB_speedup the same for
 *                         decode; the *_cpu* twins come from CPU times (steadier when the
 *                         machine is loaded)
 *   decode_matmul_ms_batchB_rows, decode_matmul_ms_batchB_sgemm
 *                         one decode step's weight products (every layer's q/k/v/o and MLP,
 *                         lm_head) for B rows through llm__linear_rows (what the engine uses:
 *                         bit for bit the one-row result) and through cblas_sgemm with M = B
 *   seconds_per_table_10x6, cpu_seconds_per_table_10x6, prompt_tokens_10x6
 *                         the model issue's typical table, as quire's model engine reads it:
 *                         a 10 x 6 table at an x-height of 10 px is a 1216 x 560 crop, scaled
 *                         to 1024 x 468 and padded to 1024 x 512 (workers/model_engine.c), so
 *                         2 tiles + the global image (768 image tokens); 425 new tokens (the
 *                         median OTSL length of a 10 x 6 table with the model's tokenizer,
 *                         train/README.md; --tokens-10x6 N for another tokenizer's length:
 *                         a character-level one needs ~600); gray input, preprocess +
 *                         llm_generate. Target of the model issue: <= 1.5 s on this 2-core
 *                         machine
 *   peak_rss_mb           this process's peak resident set (the C engine and this bench)
 * --no-torch skips the PyTorch side; --keep leaves the model directory (named on stderr).
 * --write-model DIR only writes the random model to DIR as a folder quire loads (--engine vlm
 * --model DIR): config.json (_name_or_path "bench-random-12m"), model.safetensors and a
 * tokenizer.json with the Idefics3 specials and the OTSL tags (write_tokenizer), so decoding is
 * constrained to OTSL. Random weights read nothing: the tables it writes are noise, but the work
 * per table (encode the crop's tiles, prefill, decode) is the real model's. bench/run.sh uses it.
 * Times are the best of a few runs. Run from the repository root (the torch script's path is
 * bench/bench_llm_torch.py, or $QUIRE_BENCH_TORCH_SCRIPT).
 */
#include <cblas.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../llm/llm.h"
#include "../llm/llm_internal.h"
#include "../llm/ops_internal.h"

enum { V_DIM = 256, V_HIDDEN = 768, V_LAYERS = 6, V_HEADS = 4, IMAGE = 512, PATCH = 16,
       SCALE = 2, T_DIM = 384, T_HIDDEN = 896, T_LAYERS = 5, T_HEADS = 6, T_KV = 2,
       VOCAB = 640, MAX_POS = 2048, IMAGE_TOKEN = 605, NEW_TOKENS = 200, REPS = 3 };

/* --- the random model ------------------------------------------------------------------------ */

struct spec {
    char name[128];
    int n_dims;
    long shape[4];
    float base, scale; /* value = base + scale * uniform(-1, 1) */
};

static struct spec specs[256];
static int n_specs;

static void add(float base, float scale, int n_dims, long d0, long d1, long d2, long d3,
                const char *fmt, int layer)
{
    struct spec *s = &specs[n_specs++];
    snprintf(s->name, sizeof(s->name), fmt, layer);
    s->n_dims = n_dims;
    s->shape[0] = d0, s->shape[1] = d1, s->shape[2] = d2, s->shape[3] = d3;
    s->base = base;
    s->scale = scale;
}

static void build_specs(void)
{
    const char *v = "model.vision_model.encoder.layers.%d.";
    char f[160];
    add(0, 0.02f, 4, V_DIM, 3, PATCH, PATCH,
        "model.vision_model.embeddings.patch_embedding.weight", 0);
    add(0, 0.02f, 1, V_DIM, 0, 0, 0, "model.vision_model.embeddings.patch_embedding.bias", 0);
    add(0, 0.02f, 2, (IMAGE / PATCH) * (IMAGE / PATCH), V_DIM, 0, 0,
        "model.vision_model.embeddings.position_embedding.weight", 0);
    for (int l = 0; l < V_LAYERS; l++) {
        const char *names[] = {"layer_norm1", "layer_norm2"};
        for (int i = 0; i < 2; i++) {
            snprintf(f, sizeof(f), "%s%s.weight", v, names[i]);
            add(1, 0.01f, 1, V_DIM, 0, 0, 0, f, l);
            snprintf(f, sizeof(f), "%s%s.bias", v, names[i]);
            add(0, 0.01f, 1, V_DIM, 0, 0, 0, f, l);
        }
        const char *proj[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int i = 0; i < 4; i++) {
            snprintf(f, sizeof(f), "%sself_attn.%s.weight", v, proj[i]);
            add(0, 0.07f, 2, V_DIM, V_DIM, 0, 0, f, l);
            snprintf(f, sizeof(f), "%sself_attn.%s.bias", v, proj[i]);
            add(0, 0.01f, 1, V_DIM, 0, 0, 0, f, l);
        }
        snprintf(f, sizeof(f), "%smlp.fc1.weight", v);
        add(0, 0.07f, 2, V_HIDDEN, V_DIM, 0, 0, f, l);
        snprintf(f, sizeof(f), "%smlp.fc1.bias", v);
        add(0, 0.01f, 1, V_HIDDEN, 0, 0, 0, f, l);
        snprintf(f, sizeof(f), "%smlp.fc2.weight", v);
        add(0, 0.03f, 2, V_DIM, V_HIDDEN, 0, 0, f, l);
        snprintf(f, sizeof(f), "%smlp.fc2.bias", v);
        add(0, 0.01f, 1, V_DIM, 0, 0, 0, f, l);
    }
    add(1, 0.01f, 1, V_DIM, 0, 0, 0, "model.vision_model.post_layernorm.weight", 0);
    add(0, 0.01f, 1, V_DIM, 0, 0, 0, "model.vision_model.post_layernorm.bias", 0);
    add(0, 0.02f, 2, T_DIM, V_DIM * SCALE * SCALE, 0, 0,
        "model.connector.modality_projection.proj.weight", 0);
    add(0, 1.0f, 2, VOCAB, T_DIM, 0, 0, "model.text_model.embed_tokens.weight", 0);
    int hd = T_DIM / T_HEADS;
    for (int l = 0; l < T_LAYERS; l++) {
        const char *t = "model.text_model.layers.%d.";
        snprintf(f, sizeof(f), "%sinput_layernorm.weight", t);
        add(1, 0.01f, 1, T_DIM, 0, 0, 0, f, l);
        snprintf(f, sizeof(f), "%spost_attention_layernorm.weight", t);
        add(1, 0.01f, 1, T_DIM, 0, 0, 0, f, l);
        snprintf(f, sizeof(f), "%sself_attn.q_proj.weight", t);
        add(0, 0.05f, 2, T_HEADS * hd, T_DIM, 0, 0, f, l);
        snprintf(f, sizeof(f), "%sself_attn.k_proj.weight", t);
        add(0, 0.05f, 2, T_KV * hd, T_DIM, 0, 0, f, l);
        snprintf(f, sizeof(f), "%sself_attn.v_proj.weight", t);
        add(0, 0.05f, 2, T_KV * hd, T_DIM, 0, 0, f, l);
        snprintf(f, sizeof(f), "%sself_attn.o_proj.weight", t);
        add(0, 0.05f, 2, T_DIM, T_HEADS * hd, 0, 0, f, l);
        snprintf(f, sizeof(f), "%smlp.gate_proj.weight", t);
        add(0, 0.05f, 2, T_HIDDEN, T_DIM, 0, 0, f, l);
        snprintf(f, sizeof(f), "%smlp.up_proj.weight", t);
        add(0, 0.05f, 2, T_HIDDEN, T_DIM, 0, 0, f, l);
        snprintf(f, sizeof(f), "%smlp.down_proj.weight", t);
        add(0, 0.03f, 2, T_DIM, T_HIDDEN, 0, 0, f, l);
    }
    add(1, 0.01f, 1, T_DIM, 0, 0, 0, "model.text_model.norm.weight", 0);
}

static size_t numel(const struct spec *s)
{
    size_t n = 1;
    for (int i = 0; i < s->n_dims; i++)
        n *= (size_t)s->shape[i];
    return n;
}

static unsigned seed = 12345;
static float uniform(void)
{
    seed = seed * 1103515245u + 12345u;
    return ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static FILE *open_in(const char *dir, const char *name, const char *mode)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return fopen(path, mode);
}

static int write_config(const char *dir)
{
    FILE *f = open_in(dir, "config.json", "w");
    if (!f)
        return -1;
    fprintf(f, "{\"model_type\": \"idefics3\", \"_name_or_path\": \"bench-random-12m\",\n"
               " \"image_token_id\": %d, \"scale_factor\": %d,\n"
               " \"vision_config\": {\"hidden_size\": %d, \"intermediate_size\": %d, "
               "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"image_size\": %d, "
               "\"patch_size\": %d, \"layer_norm_eps\": 1e-6},\n"
               " \"text_config\": {\"hidden_size\": %d, \"intermediate_size\": %d, "
               "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
               "\"num_key_value_heads\": %d, \"vocab_size\": %d, \"rms_norm_eps\": 1e-5, "
               "\"rope_theta\": 10000.0, \"tie_word_embeddings\": true, "
               "\"max_position_embeddings\": %d}}\n",
            IMAGE_TOKEN, SCALE, V_DIM, V_HIDDEN, V_LAYERS, V_HEADS, IMAGE, PATCH, T_DIM,
            T_HIDDEN, T_LAYERS, T_HEADS, T_KV, VOCAB, MAX_POS);
    return fclose(f) == 0 ? 0 : -1;
}

/* --- the tokenizer --------------------------------------------------------------------------- */

/* GPT-2's byte-level symbol for byte b (bytes_to_unicode), as UTF-8 in out[3]. */
static void byte_symbol(int b, char out[3])
{
    int cp = b;
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
        int n = 0; /* the n-th byte without a printable symbol becomes U+0100 + n */
        for (int i = 0; i < b; i++)
            n += !((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF));
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

/* tokenizer.json with train/otsl_vocab.py's layout: byte-level BPE (Digits + ByteLevel), 256 byte
 * symbols, N_MERGES merges (here letter pairs, not learned), then 54 added tokens: the Idefics3
 * specials at the ids the bench prompt uses (602 <|im_start|> .. 605 <image> .. 607 <global-img>),
 * the OTSL tags and <row_r_col_c> (r, c <= 6) in the ids left. VOCAB ids in all. The OTSL tags
 * make quire's decoding constrained (llm/otsl.c), so any weights write a valid table. */
static int write_tokenizer(const char *dir)
{
    enum { N_MERGES = 330 };
    static const char *specials[] = {"<|im_start|>", "<end_of_utterance>",
                                     "<fake_token_around_image>", "<image>", "<|endoftext|>",
                                     "<global-img>", "<|im_end|>"}; /* ids 602..608 */
    static const char *tags[] = {"<otsl>", "</otsl>", "<nl>", "<fcel>", "<ecel>", "<ched>",
                                 "<rhed>", "<srow>", "<lcel>", "<ucel>", "<xcel>"};
    static const char letters[] = "etaoinsrhldcumfpgwybvkxjqz";
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, "1.0");
    json_builder_set_member_name(b, "added_tokens");
    json_builder_begin_array(b);
    int next_free = 256 + N_MERGES, n_added = 0;
    char name[32];
    for (int i = 0; i < 7 + 11 + 36; i++) {
        int id;
        const char *content = name;
        if (i < 7) {
            id = 602 + i;
            content = specials[i];
        } else {
            if (next_free == 602)
                next_free = 609;
            id = next_free++;
            if (i < 18)
                content = tags[i - 7];
            else
                snprintf(name, sizeof name, "<row_%d_col_%d>", (i - 18) / 6 + 1, (i - 18) % 6 + 1);
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_int_value(b, id);
        json_builder_set_member_name(b, "content");
        json_builder_add_string_value(b, content);
        json_builder_set_member_name(b, "special");
        json_builder_add_boolean_value(b, TRUE);
        json_builder_end_object(b);
        n_added++;
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "pre_tokenizer");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "Sequence");
    json_builder_set_member_name(b, "pretokenizers");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "Digits");
    json_builder_set_member_name(b, "individual_digits");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_end_object(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "ByteLevel");
    json_builder_set_member_name(b, "add_prefix_space");
    json_builder_add_boolean_value(b, FALSE);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "decoder");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "ByteLevel");
    json_builder_end_object(b);
    json_builder_set_member_name(b, "model");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "BPE");
    json_builder_set_member_name(b, "vocab");
    json_builder_begin_object(b);
    char sym[3];
    for (int i = 0; i < 256; i++) {
        byte_symbol(i, sym);
        json_builder_set_member_name(b, sym);
        json_builder_add_int_value(b, i);
    }
    int n = 0;
    for (int i = 0; letters[i] && n < N_MERGES; i++)
        for (int j = 0; letters[j] && n < N_MERGES; j++, n++) {
            char pair[3] = {letters[i], letters[j], 0};
            json_builder_set_member_name(b, pair);
            json_builder_add_int_value(b, 256 + n);
        }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "merges");
    json_builder_begin_array(b);
    n = 0;
    for (int i = 0; letters[i] && n < N_MERGES; i++)
        for (int j = 0; letters[j] && n < N_MERGES; j++, n++) {
            char pair[4] = {letters[i], ' ', letters[j], 0};
            json_builder_add_string_value(b, pair);
        }
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    JsonGenerator *g = json_generator_new();
    JsonNode *root = json_builder_get_root(b);
    json_generator_set_root(g, root);
    char path[512];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    gboolean ok = json_generator_to_file(g, path, NULL);
    json_node_unref(root);
    g_object_unref(g);
    g_object_unref(b);
    return ok && n_added == VOCAB - 256 - N_MERGES ? 0 : -1;
}

static int write_weights(const char *dir, double *params)
{
    size_t cap = 1 << 16, len = 0, off = 0;
    char *h = malloc(cap);
    len += (size_t)snprintf(h + len, cap - len, "{");
    *params = 0;
    for (int i = 0; i < n_specs; i++) {
        size_t n = numel(&specs[i]);
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                                i ? "," : "", specs[i].name);
        for (int d = 0; d < specs[i].n_dims; d++)
            len += (size_t)snprintf(h + len, cap - len, d ? ",%ld" : "%ld", specs[i].shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off,
                                off + 4 * n);
        off += 4 * n;
        *params += (double)n;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8)
        h[len++] = ' ';
    FILE *f = open_in(dir, "model.safetensors", "wb");
    if (!f) {
        free(h);
        return -1;
    }
    uint64_t hl = len;
    fwrite(&hl, 8, 1, f); /* little-endian host */
    fwrite(h, 1, len, f);
    free(h);
    float buf[4096];
    for (int i = 0; i < n_specs; i++) {
        size_t n = numel(&specs[i]);
        for (size_t done = 0; done < n;) {
            size_t k = n - done < 4096 ? n - done : 4096;
            for (size_t j = 0; j < k; j++)
                buf[j] = specs[i].base + specs[i].scale * uniform();
            fwrite(buf, sizeof(float), k, f);
            done += k;
        }
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* A synthetic table picture: white, dark ruling lines every 32 x 48 pixels, gray "text". */
static void make_image(uint8_t *rgb)
{
    for (int y = 0; y < IMAGE; y++)
        for (int x = 0; x < IMAGE; x++) {
            uint8_t v = 255;
            if (y % 48 == 0 || x % 85 == 0)
                v = 20;
            else if (y % 48 > 16 && y % 48 < 30 && x % 85 > 10 && x % 85 < 60 && (x / 3) % 3)
                v = 90;
            for (int c = 0; c < 3; c++)
                rgb[((size_t)y * IMAGE + x) * 3 + c] = v;
        }
}

/* <|im_start|>User:<fake><global-img> <image>*256 <fake>Convert table to OTSL.<eou>\nAssistant: */
/* The chat prompt around n_images images, each behind <fake_token_around_image><global-img>
 * (the wrappers cost what the real ones do; their kind does not matter for speed). */
static int make_prompt(int32_t *p, int n_images)
{
    int n = 0;
    const int32_t head[] = {602, 85, 83, 69, 82, 26};
    const int32_t tail[] = {604, 35, 79, 78, 86, 69, 82, 84, 300, 310, 320, 330, 14, 603, 10,
                            33, 83, 83, 73, 83, 84, 26, 0};
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        p[n++] = head[i];
    for (int img = 0; img < n_images; img++) {
        p[n++] = 604;
        p[n++] = 607;
        for (int i = 0; i < (IMAGE / PATCH) * (IMAGE / PATCH) / (SCALE * SCALE); i++)
            p[n++] = IMAGE_TOKEN;
    }
    for (size_t i = 0; tail[i]; i++)
        p[n++] = tail[i];
    return n;
}

static int write_inputs(const char *dir, const uint8_t *rgb, const int32_t *prompt, int n)
{
    FILE *f = open_in(dir, "image.u8", "wb");
    if (!f)
        return -1;
    fwrite(rgb, 1, (size_t)IMAGE * IMAGE * 3, f);
    if (fclose(f) != 0 || !(f = open_in(dir, "prompt.txt", "w")))
        return -1;
    for (int i = 0; i < n; i++)
        fprintf(f, "%d%c", prompt[i], i + 1 < n ? ' ' : '\n');
    return fclose(f) == 0 ? 0 : -1;
}

static void remove_dir(const char *dir)
{
    const char *names[] = {"config.json", "model.safetensors", "tokenizer.json", "image.u8",
                           "prompt.txt", "tokens.txt"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* --- encoder FLOPs and the sgemm reference ------------------------------------------------- */

struct gemm {
    CBLAS_TRANSPOSE tb;
    int m, n, k, count; /* C (m, n) = A (m, k) B (k, n), `count` times per image */
};

/* The encoder's matmuls for one image, as the model defines them. */
static int encoder_gemms(struct gemm *g)
{
    int np = (IMAGE / PATCH) * (IMAGE / PATCH), hd = V_DIM / V_HEADS, n = 0;
    g[n++] = (struct gemm){CblasTrans, np, V_DIM, 3 * PATCH * PATCH, 1};   /* patch embedding */
    g[n++] = (struct gemm){CblasTrans, np, V_DIM, V_DIM, 4 * V_LAYERS};    /* q, k, v, out */
    g[n++] = (struct gemm){CblasTrans, np, np, hd, V_HEADS * V_LAYERS};    /* Q K^T per head */
    g[n++] = (struct gemm){CblasNoTrans, np, hd, np, V_HEADS * V_LAYERS};  /* P V per head */
    g[n++] = (struct gemm){CblasTrans, np, V_HIDDEN, V_DIM, V_LAYERS};     /* fc1 */
    g[n++] = (struct gemm){CblasTrans, np, V_DIM, V_HIDDEN, V_LAYERS};     /* fc2 */
    return n;
}

static double gemm_flops(const struct gemm *g, int n)
{
    double f = 0;
    for (int i = 0; i < n; i++)
        f += 2.0 * g[i].m * g[i].n * g[i].k * g[i].count;
    return f;
}

/* Wall-clock and CPU seconds (the whole process's: with one OpenBLAS thread, this thread's). */
struct timing {
    double wall, cpu;
};

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static struct timing timing_start(void) { return (struct timing){now_seconds(), cpu_seconds()}; }

/* Keeps in *best the smaller of its times and those since `start`. */
static void timing_best(struct timing *best, struct timing start)
{
    double wall = now_seconds() - start.wall, cpu = cpu_seconds() - start.cpu;
    best->wall = wall < best->wall ? wall : best->wall;
    best->cpu = cpu < best->cpu ? cpu : best->cpu;
}

#define TIMING_NONE ((struct timing){1e9, 1e9})

struct gemm_buffers {
    float *a, *b, *c;
};

static void gemm_buffers_init(struct gemm_buffers *g, const struct gemm *gemm, int n)
{
    size_t max_a = 0, max_b = 0, max_c = 0;
    for (int i = 0; i < n; i++) {
        size_t a = (size_t)gemm[i].m * gemm[i].k, b = (size_t)gemm[i].k * gemm[i].n,
               c = (size_t)gemm[i].m * gemm[i].n;
        max_a = a > max_a ? a : max_a;
        max_b = b > max_b ? b : max_b;
        max_c = c > max_c ? c : max_c;
    }
    g->a = malloc(max_a * sizeof(float));
    g->b = malloc(max_b * sizeof(float));
    g->c = calloc(max_c, sizeof(float));
    for (size_t i = 0; i < max_a; i++)
        g->a[i] = uniform();
    for (size_t i = 0; i < max_b; i++)
        g->b[i] = uniform();
}

/* All of the encoder's matmuls for one image through cblas_sgemm. */
static void run_gemms(const struct gemm_buffers *buf, const struct gemm *g, int n)
{
    for (int i = 0; i < n; i++)
        for (int r = 0; r < g[i].count; r++) {
            int ldb = g[i].tb == CblasTrans ? g[i].k : g[i].n;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, g[i].tb, g[i].m, g[i].n, g[i].k, 1.0f,
                        buf->a, g[i].k, buf->b, ldb, 0.0f, buf->c, g[i].n);
        }
}

/* --- the PyTorch side ------------------------------------------------------------------------ */

/* Runs bench_llm_torch.py on the model in `dir`; returns its seconds per table, wall and CPU
 * (< 0 when it could not run) and passes its `name: value` lines through. */
static struct timing run_torch(const char *dir, int threads, const int32_t *c_tokens, int n_tokens)
{
    const char *python = getenv("QUIRE_BENCH_PYTHON");
    const char *script = getenv("QUIRE_BENCH_TORCH_SCRIPT");
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "%s %s --model %s --threads %d --new-tokens %d --reps %d",
             python ? python : "/usr/bin/python3", script ? script : "bench/bench_llm_torch.py",
             dir, threads, n_tokens, REPS - 1);
    struct timing none = {-1, -1}, seconds = none;
    FILE *p = popen(cmd, "r");
    if (!p)
        return none;
    char line[8192];
    int match = -1;
    while (fgets(line, sizeof(line), p)) {
        double v;
        if (sscanf(line, "torch_seconds_per_table: %lf", &v) == 1)
            seconds.wall = v;
        if (sscanf(line, "torch_cpu_seconds_per_table: %lf", &v) == 1)
            seconds.cpu = v;
        if (strncmp(line, "torch_tokens: ", 14) == 0) {
            /* how many leading generated tokens agree with the C engine's */
            char *s = line + 14, *end;
            match = 0;
            for (int i = 0; i < n_tokens; i++, s = end) {
                long t = strtol(s, &end, 10);
                if (end == s || t != c_tokens[i])
                    break;
                match++;
            }
            continue;
        }
        fputs(line, stdout);
    }
    if (pclose(p) != 0)
        return none;
    if (match >= 0)
        printf("torch_tokens_match: %d\n", match);
    return seconds;
}

/* --- main ------------------------------------------------------------------------------------ */

/* One decode step's weight products for b rows: llm__linear_rows, or sgemm (M = b). */
static void step_matmuls(const struct llm_model *m, float *x, float *y, int b, bool sgemm)
{
    const struct llm_text_config *c = &m->config.text;
    int q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    for (int l = 0; l < c->n_layers; l++) {
        const struct llm_text_layer_weights *w = &m->text.layers[l];
        const float *ws[] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
        int ins[] = {c->dim, c->dim, c->dim, q_dim, c->dim, c->dim, c->hidden_dim};
        int outs[] = {q_dim, kv_dim, kv_dim, c->dim, c->hidden_dim, c->hidden_dim, c->dim};
        for (int i = 0; i < 7; i++)
            if (sgemm)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, outs[i], ins[i], 1.0f, x,
                            ins[i], ws[i], ins[i], 0.0f, y, outs[i]);
            else
                llm__linear_rows(y, x, ws[i], b, ins[i], outs[i], false);
    }
    if (sgemm)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, c->vocab_size, c->dim, 1.0f, x,
                    c->dim, m->text.lm_head, c->dim, 0.0f, y, c->vocab_size);
    else
        llm__linear_rows(y, x, m->text.lm_head, b, c->dim, c->vocab_size, false);
}

/* The batch figures (see the top of the file). */
static int bench_batches(const struct llm_model *m, const struct llm_image_options *io,
                         const uint8_t *rgb, const int32_t *prompt, int n_prompt)
{
    enum { MAXB = 4 };
    static const int sizes[] = {1, 2, 3, 4};
    double decode1 = 0, per_table1 = 0, decode1_cpu = 0, per_table1_cpu = 0;
    float *xbuf = calloc((size_t)MAXB * 4 * T_HIDDEN, sizeof(float));
    float *ybuf = calloc((size_t)MAXB * VOCAB * 4, sizeof(float));
    static int32_t outs[MAXB][NEW_TOKENS];
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        int b = sizes[k], err;
        struct llm_state *s = llm_state_new_batch(m, 512, 1, b, &err);
        if (!s || !xbuf || !ybuf) {
            fprintf(stderr, "bench_llm: batch state: %s\n", err_str(err));
            return 1;
        }
        /* decode steps */
        float *pixels = NULL;
        int n_images, rows, cols;
        if (llm_image_preprocess(m, io, rgb, IMAGE, IMAGE, IMAGE * 3, 3, &pixels, &n_images, &rows,
                                 &cols))
            return 1;
        llm__encode_images(m, s, pixels, 1);
        struct timing decode = TIMING_NONE, table = TIMING_NONE, rows_t = TIMING_NONE,
                      sgemm_t = TIMING_NONE;
        int seqs[MAXB], pos[MAXB];
        int32_t toks[MAXB];
        for (int rep = 0; rep < REPS; rep++) {
            for (int i = 0; i < b; i++) {
                int row = 0;
                llm__decoder_prefill(m, s, i, prompt, n_prompt, 0, s->image_features, &row);
            }
            struct timing t = timing_start();
            for (int n = 0; n < NEW_TOKENS; n++) {
                for (int i = 0; i < b; i++) {
                    seqs[i] = i;
                    pos[i] = n_prompt + n;
                    toks[i] = (int32_t)((n * 37 + i * 11) % VOCAB);
                }
                llm__decoder_step(m, s, toks, seqs, pos, b);
            }
            timing_best(&decode, t);
            t = timing_start();
            for (int n = 0; n < 20; n++)
                step_matmuls(m, xbuf, ybuf, b, false);
            timing_best(&rows_t, t);
            t = timing_start();
            for (int n = 0; n < 20; n++)
                step_matmuls(m, xbuf, ybuf, b, true);
            timing_best(&sgemm_t, t);
        }
        free(pixels);
        /* whole tables */
        struct llm_generate_options o = {.max_new_tokens = NEW_TOKENS};
        float *px[MAXB] = {0};
        for (int rep = 0; rep < REPS; rep++) {
            struct llm_sequence q[MAXB];
            struct timing t = timing_start();
            for (int i = 0; i < b; i++) {
                free(px[i]);
                px[i] = NULL;
                err = llm_image_preprocess(m, io, rgb, IMAGE, IMAGE, IMAGE * 3, 3, &px[i],
                                           &n_images, &rows, &cols);
                q[i] = (struct llm_sequence){.prompt = prompt, .n_prompt = n_prompt,
                                             .pixels = px[i], .n_images = 1, .out = outs[i]};
            }
            if (!err)
                err = llm_generate_batch(m, s, q, b, &o);
            timing_best(&table, t);
            if (err || q[b - 1].n_out != NEW_TOKENS) {
                fprintf(stderr, "bench_llm: generate batch %d: %s\n", b, err_str(err));
                return 1;
            }
        }
        for (int i = 0; i < b; i++)
            free(px[i]);
        double tps = NEW_TOKENS * b / decode.wall, per_table = table.wall / b;
        double tps_cpu = NEW_TOKENS * b / decode.cpu, per_table_cpu = table.cpu / b;
        if (b == 1) {
            decode1 = tps;
            per_table1 = per_table;
            decode1_cpu = tps_cpu;
            per_table1_cpu = per_table_cpu;
        }
        printf("decode_tokens_per_s_batch%d: %.0f\n", b, tps);
        printf("decode_tokens_per_cpu_s_batch%d: %.0f\n", b, tps_cpu);
        printf("seconds_per_table_batch%d: %.3f\n", b, per_table);
        printf("cpu_seconds_per_table_batch%d: %.3f\n", b, per_table_cpu);
        if (b > 1) {
            printf("decode_batch%d_speedup: %.2f\n", b, tps / decode1);
            printf("batch%d_speedup: %.2f\n", b, per_table1 / per_table);
            printf("decode_batch%d_speedup_cpu: %.2f\n", b, tps_cpu / decode1_cpu);
            printf("batch%d_speedup_cpu: %.2f\n", b, per_table1_cpu / per_table_cpu);
        }
        printf("decode_matmul_ms_batch%d_rows: %.3f\n", b, rows_t.wall / 20 * 1e3);
        printf("decode_matmul_ms_batch%d_sgemm: %.3f\n", b, sgemm_t.wall / 20 * 1e3);
        llm_state_free(s);
    }
    free(xbuf);
    free(ybuf);
    return 0;
}

/* The 10 x 6 table of the model issue (see the header): prints its three figures. */
static int bench_table_10x6(const struct llm_model *m, int tokens)
{
    enum { W = 1024, H = 512 };
    uint8_t *gray = malloc((size_t)W * H);
    int32_t *prompt = malloc(sizeof(int32_t) * 1024);
    int32_t *out = malloc(sizeof(int32_t) * (size_t)(tokens + 8));
    if (!gray || !prompt || !out)
        return 1;
    for (int y = 0; y < H; y++) /* text-like rows of ink on white, white padding below 468 */
        for (int x = 0; x < W; x++)
            gray[(size_t)y * W + x] = y < 468 && (y % 46) < 12 && (x * 7 + y) % 13 < 6 ? 40 : 255;
    struct llm_image_options io;
    llm_image_options_default(m, &io);
    io.split = true;
    io.longest_edge = W;
    float *pixels = NULL;
    int n_images = 0, rows = 0, cols = 0, err;
    int n = make_prompt(prompt, 3);
    struct llm_state *s = llm_state_new(m, n + tokens + 8, 3, &err);
    if (!s)
        return 1;
    struct llm_generate_options o = {.max_new_tokens = tokens};
    struct timing best = TIMING_NONE;
    int n_out = 0;
    float lp;
    for (int rep = 0; rep < REPS; rep++) {
        free(pixels);
        pixels = NULL;
        struct timing t = timing_start();
        err = llm_image_preprocess(m, &io, gray, W, H, W, 1, &pixels, &n_images, &rows, &cols);
        if (!err && n_images != 3)
            err = QUIRE_EINVAL;
        if (!err)
            err = llm_generate(m, s, prompt, n, pixels, n_images, &o, out, &n_out, &lp);
        timing_best(&best, t);
        if (err || n_out != tokens) {
            fprintf(stderr, "bench_llm: 10x6 table: %s (%d images, %d tokens)\n",
                    err_str(err), n_images, n_out);
            return 1;
        }
    }
    printf("prompt_tokens_10x6: %d\n", n);
    printf("seconds_per_table_10x6: %.3f\n", best.wall);
    printf("cpu_seconds_per_table_10x6: %.3f\n", best.cpu);
    free(pixels);
    llm_state_free(s);
    free(gray);
    free(prompt);
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 1, tokens_10x6 = 425;
    bool keep = false, no_torch = false;
    const char *write_model = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--tokens-10x6") == 0 && i + 1 < argc) {
            tokens_10x6 = atoi(argv[++i]);
            if (tokens_10x6 < 1 || tokens_10x6 > 4000) {
                fprintf(stderr, "bench_llm: --tokens-10x6 wants 1..4000\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = true;
        } else if (strcmp(argv[i], "--no-torch") == 0) {
            no_torch = true;
        } else if (strcmp(argv[i], "--write-model") == 0 && i + 1 < argc) {
            write_model = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_llm [--threads N] [--tokens-10x6 N] [--keep] [--no-torch]\n"
                            "       bench_llm --write-model DIR\n");
            return 2;
        }
    }
    if (write_model) {
        double params;
        build_specs();
        if (g_mkdir_with_parents(write_model, 0755) || write_config(write_model) ||
            write_weights(write_model, &params) || write_tokenizer(write_model)) {
            fprintf(stderr, "bench_llm: cannot write the model to %s\n", write_model);
            return 1;
        }
        printf("model_params_m: %.1f\n", params / 1e6);
        return 0;
    }
    if (threads < 1)
        threads = 1;
    openblas_set_num_threads(threads);
    build_specs();
    char dir[] = "/tmp/bench_llm.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    double params;
    uint8_t *rgb = malloc((size_t)IMAGE * IMAGE * 3);
    int32_t prompt[512], out[NEW_TOKENS];
    make_image(rgb);
    int n_prompt = make_prompt(prompt, 1);
    int err = write_config(dir) || write_weights(dir, &params) ||
              write_inputs(dir, rgb, prompt, n_prompt) ? QUIRE_EIO : 0;
    char *msg = NULL;
    struct llm_model *m = err ? NULL : llm_model_load(dir, &err, &msg);
    struct llm_state *s = m ? llm_state_new(m, 512, 1, &err) : NULL;
    if (!s) {
        fprintf(stderr, "bench_llm: %s: %s\n", err_str(err), msg ? msg : "");
        free(msg);
        remove_dir(dir);
        return 1;
    }
    double load[1] = {0};
    getloadavg(load, 1);
    printf("# OpenBLAS %s, core %s\n", openblas_get_config(), openblas_get_corename());
    printf("threads: %d\n", threads);
    printf("load_avg_1m: %.2f\n", load[0]);
    printf("model_params_m: %.1f\n", params / 1e6);

    struct llm_image_options io;
    llm_image_options_default(m, &io);
    io.split = false;
    io.longest_edge = IMAGE;
    float *pixels = NULL;
    int n_images, rows, cols;
    if (llm_image_preprocess(m, &io, rgb, IMAGE, IMAGE, IMAGE * 3, 3, &pixels, &n_images, &rows,
                             &cols) != 0 || n_images != 1)
        return 1;
    free(pixels);

    /* encoder vs sgemm, interleaved so that other load on the machine hits both alike */
    struct gemm g[8];
    struct gemm_buffers gb;
    int n_gemm = encoder_gemms(g);
    double flops = gemm_flops(g, n_gemm);
    gemm_buffers_init(&gb, g, n_gemm);
    struct timing enc = TIMING_NONE, gemm = TIMING_NONE, vis = TIMING_NONE;
    llm_image_preprocess(m, &io, rgb, IMAGE, IMAGE, IMAGE * 3, 3, &pixels, &n_images, &rows,
                         &cols);
    for (int rep = 0; rep < REPS + 2; rep++) {
        struct timing t = timing_start();
        run_gemms(&gb, g, n_gemm);
        timing_best(&gemm, t);
        t = timing_start();
        llm__vision_encode(m, s, pixels);
        timing_best(&enc, t);
        t = timing_start();
        llm__encode_images(m, s, pixels, 1);
        timing_best(&vis, t);
    }
    free(gb.a);
    free(gb.b);
    free(gb.c);
    printf("encoder_gflops: %.1f\n", flops / enc.wall / 1e9);
    printf("sgemm_gflops: %.1f\n", flops / gemm.wall / 1e9);
    printf("encoder_sgemm_ratio: %.2f\n", gemm.wall / enc.wall);
    printf("encoder_sgemm_ratio_cpu: %.2f\n", gemm.cpu / enc.cpu);
    printf("vision_encode_s: %.3f\n", vis.wall);

    /* prefill and decode */
    struct timing prefill = TIMING_NONE, decode = TIMING_NONE;
    for (int rep = 0; rep < REPS; rep++) {
        int row = 0;
        struct timing t = timing_start();
        llm__decoder_forward(m, s, prompt, n_prompt, 0, s->image_features, &row, NULL);
        timing_best(&prefill, t);
        t = timing_start();
        for (int i = 0; i < NEW_TOKENS; i++) {
            int32_t tok = (int32_t)(i * 37 % VOCAB);
            llm__decoder_forward(m, s, &tok, 1, n_prompt + i, NULL, NULL, NULL);
        }
        timing_best(&decode, t);
    }
    printf("prefill_tokens_per_s: %.0f\n", n_prompt / prefill.wall);
    printf("decode_tokens_per_s: %.0f\n", NEW_TOKENS / decode.wall);
    printf("decode_tokens_per_cpu_s: %.0f\n", NEW_TOKENS / decode.cpu);

    /* the whole table */
    struct llm_generate_options o = {.max_new_tokens = NEW_TOKENS};
    int n_out = 0;
    float lp;
    struct timing table = TIMING_NONE;
    for (int rep = 0; rep < REPS; rep++) {
        free(pixels);
        struct timing t = timing_start();
        err = llm_image_preprocess(m, &io, rgb, IMAGE, IMAGE, IMAGE * 3, 3, &pixels, &n_images,
                                   &rows, &cols);
        if (!err)
            err = llm_generate(m, s, prompt, n_prompt, pixels, 1, &o, out, &n_out, &lp);
        timing_best(&table, t);
        if (err || n_out != NEW_TOKENS) {
            fprintf(stderr, "bench_llm: generate: %s\n", err_str(err));
            return 1;
        }
    }
    printf("generated_tokens: %d\n", n_out);
    printf("seconds_per_table: %.3f\n", table.wall);
    printf("cpu_seconds_per_table: %.3f\n", table.cpu);
    if (bench_batches(m, &io, rgb, prompt, n_prompt) || bench_table_10x6(m, tokens_10x6))
        return 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = ru.ru_maxrss / 1024.0;
    fflush(stdout);

    struct timing torch = no_torch ? (struct timing){-1, -1}
                                   : run_torch(dir, threads, out, n_out);
    if (torch.wall > 0) {
        printf("c_vs_pytorch: %.2f\n", torch.wall / table.wall);
        printf("c_vs_pytorch_cpu: %.2f\n", torch.cpu / table.cpu);
    }
    else if (!no_torch)
        fprintf(stderr, "bench_llm: the PyTorch comparison did not run (no torch?)\n");
    printf("peak_rss_mb: %.1f\n", rss);
    free(pixels);
    free(rgb);
    llm_state_free(s);
    llm_model_free(m);
    if (keep)
        fprintf(stderr, "bench_llm: the model and inputs are in %s\n", dir);
    else
        remove_dir(dir);
    return 0;
}
