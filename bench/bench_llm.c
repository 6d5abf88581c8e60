/*
 * bench/bench_llm.c - speed of the vision-language engine on a ~15M-parameter random
 * Idefics3 model at 512 x 512 (patch 16, scale factor 4: 64 image tokens), one OpenBLAS thread.
 *
 * Prints `name: value` lines:
 *   model_params_m        parameters, millions
 *   encoder_sgemm_ratio   time of the encoder's fc1 (1024 patches x 192 -> 768) done row by
 *                         row (sgemv) divided by the same done as one sgemm
 *   vision_encode_s       one 512 x 512 image through encoder + connector
 *   prefill_tokens_per_s  prompt tokens per second (fed as chunks)
 *   decode_tokens_per_s   one-token decode steps per second (KV cache ~200 positions)
 *   seconds_per_table     llm_generate: one image, a ~100-token prompt, 128 new tokens
 *   peak_rss_mb           the process's peak resident set
 * The model is written to a temporary directory and removed afterwards.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../llm/llm.h"
#include "../llm/llm_internal.h"
#include "../llm/ops_internal.h"

enum { V_DIM = 192, V_HIDDEN = 768, V_LAYERS = 4, V_HEADS = 3, IMAGE = 512, PATCH = 16,
       SCALE = 4, T_DIM = 384, T_HIDDEN = 1024, T_LAYERS = 6, T_HEADS = 6, T_KV = 2,
       VOCAB = 8192, MAX_POS = 1024 };

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
    add(0, 0.02f, 4, V_DIM, 3, PATCH, PATCH, "model.vision_model.embeddings.patch_embedding.weight", 0);
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

static int write_model(const char *dir, double *params)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "{\"model_type\": \"idefics3\", \"image_token_id\": 8000, \"scale_factor\": %d,\n"
               " \"vision_config\": {\"hidden_size\": %d, \"intermediate_size\": %d, "
               "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"image_size\": %d, "
               "\"patch_size\": %d},\n"
               " \"text_config\": {\"hidden_size\": %d, \"intermediate_size\": %d, "
               "\"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
               "\"num_key_value_heads\": %d, \"vocab_size\": %d, \"rms_norm_eps\": 1e-5, "
               "\"rope_theta\": 100000.0, \"tie_word_embeddings\": true, "
               "\"max_position_embeddings\": %d}}\n",
            SCALE, V_DIM, V_HIDDEN, V_LAYERS, V_HEADS, IMAGE, PATCH, T_DIM, T_HIDDEN, T_LAYERS,
            T_HEADS, T_KV, VOCAB, MAX_POS);
    fclose(f);
    /* header */
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
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    if (!(f = fopen(path, "wb"))) {
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

static double encoder_sgemm_ratio(void)
{
    int n = (IMAGE / PATCH) * (IMAGE / PATCH);
    float *x = malloc(sizeof(float) * n * V_DIM), *w = malloc(sizeof(float) * V_HIDDEN * V_DIM);
    float *y = malloc(sizeof(float) * n * V_HIDDEN);
    for (size_t i = 0; i < (size_t)n * V_DIM; i++)
        x[i] = uniform();
    for (size_t i = 0; i < (size_t)V_HIDDEN * V_DIM; i++)
        w[i] = uniform();
    double best_rows = 1e9, best_gemm = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_seconds();
        for (int r = 0; r < n; r++)
            llm__linear(y + (size_t)r * V_HIDDEN, x + (size_t)r * V_DIM, w, NULL, 1, V_DIM,
                        V_HIDDEN);
        double t1 = now_seconds();
        llm__linear(y, x, w, NULL, n, V_DIM, V_HIDDEN);
        double t2 = now_seconds();
        best_rows = t1 - t0 < best_rows ? t1 - t0 : best_rows;
        best_gemm = t2 - t1 < best_gemm ? t2 - t1 : best_gemm;
    }
    free(x);
    free(w);
    free(y);
    return best_rows / best_gemm;
}

int main(void)
{
    openblas_set_num_threads(1);
    build_specs();
    char dir[] = "/tmp/bench_llm.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    double params;
    int err = write_model(dir, &params);
    char *msg = NULL;
    struct llm_model *m = err ? NULL : llm_model_load(dir, &err, &msg);
    char path[600];
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
    if (!m) {
        fprintf(stderr, "bench_llm: %s: %s\n", err_str(err), msg ? msg : "");
        free(msg);
        return 1;
    }
    printf("model_params_m: %.1f\n", params / 1e6);
    printf("encoder_sgemm_ratio: %.1f\n", encoder_sgemm_ratio());

    struct llm_state *s = llm_state_new(m, 512, 1, &err);
    if (!s)
        return 1;
    int seq = m->config.image_seq_len, n_prompt = 0;
    float *pixels = malloc(sizeof(float) * 3 * IMAGE * IMAGE);
    for (int i = 0; i < 3 * IMAGE * IMAGE; i++)
        pixels[i] = uniform();
    int32_t prompt[256], out[128];
    for (int i = 0; i < 20; i++)
        prompt[n_prompt++] = 100 + i;
    for (int i = 0; i < seq; i++)
        prompt[n_prompt++] = m->config.image_token_id;
    for (int i = 0; i < 20; i++)
        prompt[n_prompt++] = 200 + i;

    double t0 = now_seconds();
    llm__encode_images(m, s, pixels, 1);
    double t1 = now_seconds();
    int row = 0;
    llm__decoder_forward(m, s, prompt, n_prompt, 0, s->image_features, &row, NULL);
    double t2 = now_seconds();
    int steps = 128;
    for (int i = 0; i < steps; i++) {
        int32_t tok = (int32_t)(i * 37 % 7000);
        llm__decoder_forward(m, s, &tok, 1, n_prompt + i, NULL, NULL, NULL);
    }
    double t3 = now_seconds();
    printf("vision_encode_s: %.3f\n", t1 - t0);
    printf("prefill_tokens_per_s: %.0f\n", n_prompt / (t2 - t1));
    printf("decode_tokens_per_s: %.0f\n", steps / (t3 - t2));

    struct llm_generate_options o = {.max_new_tokens = 128};
    int n_out;
    float lp;
    t0 = now_seconds();
    err = llm_generate(m, s, prompt, n_prompt, pixels, 1, &o, out, &n_out, &lp);
    t1 = now_seconds();
    if (err)
        return 1;
    printf("seconds_per_table: %.3f\n", t1 - t0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mb: %.1f\n", ru.ru_maxrss / 1024.0);
    free(pixels);
    llm_state_free(s);
    llm_model_free(m);
    return 0;
}
