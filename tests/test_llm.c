/*
 * tests/test_llm.c - the vision-language engine (llm/).
 *
 * Conformance: tests/fixtures/tiny-idefics3 is a tiny random-weight model written by
 * train/make_fixtures.py together with the activations of the PyTorch reference
 * (train/idefics3_ref.py). Activations must match within 1e-4 (max abs diff, F32 weights);
 * the 16-token greedy continuation must match exactly. tests/fixtures/tiny-reader is a tiny
 * random-weight line reader (same script, through train/export.py's reader export): its texts
 * must match exactly, its log-probabilities within 1e-4.
 * Ops are checked against naive loops; hostile model files (truncated at many offsets,
 * corrupted header fields, wrong shapes) must give clean errors naming the file and tensor.
 * Run from the repository root (or set QUIRE_LLM_FIXTURES to the fixture directory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-glib/json-glib.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../llm/llm.h"
#include "../llm/llm_internal.h"
#include "../llm/ops_internal.h"
#include "../table/table.h"

#define TOL 1e-4f

static const char *fixture_dir(void)
{
    const char *d = getenv("QUIRE_LLM_FIXTURES");
    return d ? d : "tests/fixtures/tiny-idefics3";
}

static char *fixture(const char *name) { return q_asprintf("%s/%s", fixture_dir(), name); }

/* --- helpers --------------------------------------------------------------------------------- */

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static char *make_tmpdir(void)
{
    char *d = strdup("/tmp/test_llm.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void remove_tmpdir(char *dir)
{
    const char *names[] = {"config.json", "model.safetensors", "x.safetensors", "tokenizer.json",
                           "model.safetensors.index.json", "shard-1.safetensors",
                           "shard-2.safetensors"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *p = q_asprintf("%s/%s", dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
    free(dir);
}

/* Copies a model folder's config.json and model.safetensors from `src_dir` into a new temporary
 * directory, config.json's text replaced when `config` is not NULL. */
static char *copy_folder(const char *src_dir, const char *config)
{
    char *dir = make_tmpdir();
    const char *names[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *src = q_asprintf("%s/%s", src_dir, names[i]);
        char *dst = q_asprintf("%s/%s", dir, names[i]);
        size_t len;
        uint8_t *data = read_all(src, &len);
        if (i == 0 && config)
            write_all(dst, config, strlen(config));
        else
            write_all(dst, data, len);
        free(data);
        free(src);
        free(dst);
    }
    return dir;
}

/* The fixture's model copied (copy_folder). */
static char *copy_model(const char *config)
{
    return copy_folder(fixture_dir(), config);
}

/* The fixture's config.json with the first occurrence of `from` replaced by `to`. */
static char *config_with(const char *from, const char *to)
{
    char *path = fixture("config.json");
    size_t len;
    char *text = (char *)read_all(path, &len);
    free(path);
    char *at = strstr(text, from);
    assert_non_null(at);
    *at = 0;
    char *out = q_asprintf("%s%s%s", text, to, at + strlen(from));
    free(text);
    return out;
}

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m))
            m = d; /* NaN propagates as a failure */
    }
    return m;
}

struct expected {
    struct llm__safetensors st;
    JsonParser *parser;
    JsonObject *json;
};

/* `dir`'s expected.safetensors and expected.json. */
static void expected_open_in(struct expected *e, const char *dir)
{
    char *path = q_asprintf("%s/expected.safetensors", dir), *msg = NULL;
    assert_int_equal(llm__safetensors_open(&e->st, path, &msg), 0);
    free(path);
    path = q_asprintf("%s/expected.json", dir);
    e->parser = json_parser_new();
    assert_true(json_parser_load_from_file(e->parser, path, NULL));
    e->json = json_node_get_object(json_parser_get_root(e->parser));
    free(path);
}

static void expected_open(struct expected *e) { expected_open_in(e, fixture_dir()); }

static void expected_close(struct expected *e)
{
    llm__safetensors_close(&e->st);
    g_object_unref(e->parser);
}

static const float *expected_tensor(struct expected *e, const char *name, size_t n)
{
    const struct llm__tensor *t = llm__safetensors_find(&e->st, name);
    assert_non_null(t);
    assert_int_equal(t->dtype, LLM__F32);
    assert_int_equal(t->n_elements, n);
    assert_int_equal((uintptr_t)t->data % 4, 0);
    return (const float *)(const void *)t->data;
}

static int32_t *expected_ids(struct expected *e, const char *name, int *n)
{
    JsonArray *a = json_object_get_array_member(e->json, name);
    *n = (int)json_array_get_length(a);
    int32_t *ids = malloc(sizeof(int32_t) * (*n + 1));
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)json_array_get_int_element(a, i);
    return ids;
}

static struct llm_model *load_fixture(void)
{
    int err = 0;
    char *msg = NULL;
    struct llm_model *m = llm_model_load(fixture_dir(), &err, &msg);
    if (!m)
        fprintf(stderr, "load: %s: %s\n", err_str(err), msg ? msg : "");
    assert_non_null(m);
    free(msg);
    return m;
}

static float frand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return ((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *random_floats(size_t n, unsigned seed)
{
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        x[i] = frand(&seed);
    return x;
}

/* --- ops against naive loops ------------------------------------------------------------------ */

static void test_llm__linear_matches_naive(void **unused)
{
    int in = 37, out = 19;
    float *w = random_floats((size_t)in * out, 1), *b = random_floats(out, 2);
    for (int n = 1; n <= 5; n += 4) {
        float *x = random_floats((size_t)n * in, 3), *y = malloc(sizeof(float) * n * out);
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            llm__linear(y, x, w, with_bias ? b : NULL, n, in, out);
            for (int r = 0; r < n; r++)
                for (int o = 0; o < out; o++) {
                    double acc = with_bias ? b[o] : 0;
                    for (int i = 0; i < in; i++)
                        acc += (double)x[r * in + i] * w[o * in + i];
                    assert_float_equal(y[r * out + o], acc, 1e-5);
                }
            /* the residual form adds to what y holds */
            for (int i = 0; i < n * out; i++)
                y[i] = (float)i;
            llm__linear_add(y, x, w, with_bias ? b : NULL, n, in, out);
            for (int r = 0; r < n; r++)
                for (int o = 0; o < out; o++) {
                    double acc = (with_bias ? b[o] : 0) + r * out + o;
                    for (int i = 0; i < in; i++)
                        acc += (double)x[r * in + i] * w[o * in + i];
                    assert_float_equal(y[r * out + o], acc, 1e-4);
                }
        }
        free(x);
        free(y);
    }
    free(w);
    free(b);
}

static void test_llm__norms_match_naive(void **unused)
{
    int n = 3, dim = 29;
    float *x = random_floats((size_t)n * dim, 4), *w = random_floats(dim, 5);
    float *b = random_floats(dim, 6), y[3 * 29];
    llm__layernorm(y, x, w, b, n, dim, 1e-6f);
    for (int r = 0; r < n; r++) {
        double mean = 0, var = 0;
        for (int i = 0; i < dim; i++)
            mean += x[r * dim + i] / dim;
        for (int i = 0; i < dim; i++)
            var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean) / dim;
        for (int i = 0; i < dim; i++)
            assert_float_equal(y[r * dim + i],
                               (x[r * dim + i] - mean) / sqrt(var + 1e-6) * w[i] + b[i], 1e-5);
    }
    llm__rmsnorm(y, x, w, n, dim, 1e-5f);
    for (int r = 0; r < n; r++) {
        double ss = 0;
        for (int i = 0; i < dim; i++)
            ss += x[r * dim + i] * x[r * dim + i];
        for (int i = 0; i < dim; i++)
            assert_float_equal(y[r * dim + i], x[r * dim + i] / sqrt(ss / dim + 1e-5) * w[i],
                               1e-5);
    }
    free(x);
    free(w);
    free(b);
}

static void test_llm__activations_match_naive(void **unused)
{
    float x[9] = {-5, -1.5f, -0.1f, 0, 0.3f, 1, 2.5f, 8, 40};
    float g[9], s[9], up[9];
    memcpy(g, x, sizeof(x));
    llm__gelu_tanh(g, 9);
    for (int i = 0; i < 9; i++) {
        double v = x[i];
        double ref = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        assert_float_equal(g[i], ref, 1e-5);
        up[i] = (float)i - 3;
    }
    memcpy(s, x, sizeof(x));
    llm__silu_mul(s, up, 9);
    for (int i = 0; i < 9; i++)
        assert_float_equal(s[i], x[i] / (1 + exp(-x[i])) * up[i], 1e-4);
    memcpy(s, x, sizeof(x));
    llm__softmax(s, 9);
    double z = 0;
    for (int i = 0; i < 9; i++)
        z += exp(x[i] - 40.0);
    for (int i = 0; i < 9; i++)
        assert_float_equal(s[i], exp(x[i] - 40.0) / z, 1e-6);
}

static void test_llm__attention_matches_naive(void **unused);
static void test_llm__vision_conformance(void **unused);
static void test_llm__prompt_logits_conformance(void **unused);
static void test_llm__greedy_conformance(void **unused);

/* One token, all heads, grouped-query (3 query heads per KV head), head_dim 12 (a SIMD tail):
 * each head equals llm__attention_head's result. */
static void test_llm__attention_decode_matches_heads(void **unused)
{
    enum { HEADS = 6, KV_HEADS = 2, HD = 12, N_KV = 37, KV_DIM = KV_HEADS * HD };
    float *q = random_floats(HEADS * HD, 12), *k = random_floats(N_KV * KV_DIM, 13);
    float *v = random_floats(N_KV * KV_DIM, 14), out[HEADS * HD], want[HEADS * HD];
    float att[3 * N_KV];
    llm__attention_decode(out, q, k, v, KV_DIM, N_KV, HEADS, KV_HEADS, HD, att);
    for (int h = 0; h < HEADS; h++) {
        int g = h / (HEADS / KV_HEADS);
        llm__attention_head(want + h * HD, HD, q + h * HD, HD, k + g * HD, v + g * HD, KV_DIM, 1,
                            N_KV, HD, N_KV - 1, att);
    }
    assert_true(max_abs_diff(out, want, HEADS * HD) < 1e-5f);
    free(q);
    free(k);
    free(v);
}

/* Long rows through the vectorized kernels (8 lanes plus a tail) against double loops. */
static void test_llm__vector_kernels_match_naive(void **unused)
{
    enum { N = 1003 };
    float *x = random_floats(N, 11), s[N], g[N], up[N];
    for (int i = 0; i < N; i++) {
        x[i] *= 90.0f; /* exp() over its whole range, clamps included */
        up[i] = (float)(i % 7) - 3.0f;
    }
    memcpy(s, x, sizeof(s));
    llm__softmax(s, N);
    double max = -1e30, z = 0;
    for (int i = 0; i < N; i++)
        max = x[i] > max ? x[i] : max;
    for (int i = 0; i < N; i++)
        z += exp(x[i] - max);
    for (int i = 0; i < N; i++)
        assert_float_equal(s[i], exp(x[i] - max) / z, 1e-7 + 1e-5 * exp(x[i] - max) / z);
    for (int i = 0; i < N; i++)
        g[i] = x[i] / 10.0f;
    llm__gelu_tanh(g, N);
    for (int i = 0; i < N; i++) {
        double v = x[i] / 10.0;
        double ref = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        assert_float_equal(g[i], ref, 1e-5 + 1e-6 * fabs(ref));
    }
    for (int i = 0; i < N; i++)
        g[i] = x[i] / 10.0f;
    llm__silu_mul(g, up, N);
    for (int i = 0; i < N; i++) {
        double v = x[i] / 10.0, ref = v / (1 + exp(-v)) * up[i];
        assert_float_equal(g[i], ref, 1e-5 + 1e-6 * fabs(ref));
    }
    free(x);
}

/* The plain C versions of the kernels (what a machine without AVX2 runs) pass the same tests,
 * including end-to-end conformance. */
static void test_llm__scalar_kernels(void **unused)
{
    bool had_simd = llm__ops_set_simd(true); /* whether this machine has AVX2 */
    assert_false(llm__ops_set_simd(false));
    test_llm__linear_matches_naive(unused);
    test_llm__activations_match_naive(unused);
    test_llm__vector_kernels_match_naive(unused);
    test_llm__attention_matches_naive(unused);
    test_llm__attention_decode_matches_heads(unused);
    test_llm__vision_conformance(unused);
    test_llm__prompt_logits_conformance(unused);
    test_llm__greedy_conformance(unused);
    assert_int_equal(llm__ops_set_simd(true), had_simd);
}

static void test_llm__rope_matches_naive(void **unused)
{
    int heads = 3, hd = 8, half = 4;
    float *x = random_floats((size_t)heads * hd, 7), y[24], cs[4], sn[4];
    memcpy(y, x, sizeof(y));
    int pos = 11;
    for (int i = 0; i < half; i++) {
        double angle = pos / pow(10000.0, 2.0 * i / hd);
        cs[i] = (float)cos(angle);
        sn[i] = (float)sin(angle);
    }
    llm__rope(y, heads, hd, cs, sn);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < half; i++) {
            /* rotate_half: out = x cos + cat(-x2, x1) sin */
            float a = x[h * hd + i], b = x[h * hd + i + half];
            assert_float_equal(y[h * hd + i], a * cs[i] - b * sn[i], 1e-6);
            assert_float_equal(y[h * hd + i + half], b * cs[i] + a * sn[i], 1e-6);
        }
    free(x);
}

static void naive_attention(float *out, const float *q, const float *k, const float *v, int n_q,
                            int n_kv, int hd, int causal_start)
{
    for (int i = 0; i < n_q; i++) {
        int visible = causal_start < 0 ? n_kv : causal_start + i + 1;
        double s[64], max = -1e30, z = 0;
        for (int j = 0; j < visible; j++) {
            s[j] = 0;
            for (int d = 0; d < hd; d++)
                s[j] += (double)q[i * hd + d] * k[j * hd + d];
            s[j] /= sqrt(hd);
            max = s[j] > max ? s[j] : max;
        }
        for (int j = 0; j < visible; j++)
            z += (s[j] = exp(s[j] - max));
        for (int d = 0; d < hd; d++) {
            double acc = 0;
            for (int j = 0; j < visible; j++)
                acc += s[j] / z * v[j * hd + d];
            out[i * hd + d] = (float)acc;
        }
    }
}

static void test_llm__attention_matches_naive(void **unused)
{
    int hd = 6, n_kv = 10;
    float *k = random_floats((size_t)n_kv * hd, 8), *v = random_floats((size_t)n_kv * hd, 9);
    float *q = random_floats((size_t)n_kv * hd, 10);
    float out[60], ref[60], att[100];
    struct { int n_q, causal; } cases[] = {{10, -1}, {10, 0}, {4, 6}, {1, 9}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int n_q = cases[c].n_q, cs = cases[c].causal;
        int nk = cs < 0 ? n_kv : cs + n_q;
        llm__attention_head(out, hd, q, hd, k, v, hd, n_q, nk, hd, cs, att);
        naive_attention(ref, q, k, v, n_q, nk, hd, cs);
        assert_true(max_abs_diff(out, ref, (size_t)n_q * hd) < 1e-5f);
    }
    free(k);
    free(v);
    free(q);
}

static void test_llm__half_floats_widen(void **unused)
{
    assert_float_equal(llm__f16_to_f32(0x3c00), 1.0, 0);
    assert_float_equal(llm__f16_to_f32(0xc000), -2.0, 0);
    assert_float_equal(llm__f16_to_f32(0x7bff), 65504.0, 0);
    assert_float_equal(llm__f16_to_f32(0x0001), ldexp(1, -24), 0);
    assert_float_equal(llm__f16_to_f32(0x03ff), ldexp(1023, -24), 0);
    assert_float_equal(llm__f16_to_f32(0x3555), 0.333251953125, 0);
    assert_true(isinf(llm__f16_to_f32(0x7c00)));
    assert_true(isnan(llm__f16_to_f32(0x7e00)));
    assert_true(signbit(llm__f16_to_f32(0x8000)));
    assert_float_equal(llm__bf16_to_f32(0x3f80), 1.0, 0);
    assert_float_equal(llm__bf16_to_f32(0xc0a0), -5.0, 0);
    assert_float_equal(llm__bf16_to_f32(0x3eaa), 0.33203125, 0);
    /* unaligned source */
    uint8_t raw[7] = {0, 0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f};
    float out[3];
    llm__to_f32(out, raw + 1, LLM__F16, 2);
    assert_float_equal(out[0], 1.0, 0);
    assert_float_equal(out[1], -2.0, 0);
    llm__to_f32(out, raw + 5, LLM__BF16, 1);
    assert_float_equal(out[0], 1.0, 0);
}

/* --- safetensors files --------------------------------------------------------------------- */

/* Writes a safetensors file with the given header text (padded to 8) and `data_len` bytes of
 * data (value i at byte i), returns its path. */
static char *write_st(const char *dir, const char *header, size_t data_len)
{
    char *path = q_asprintf("%s/x.safetensors", dir);
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
    size_t total = 8 + padded + data_len;
    uint8_t *buf = malloc(total);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, header, hlen);
    memset(buf + 8 + hlen, ' ', padded - hlen);
    for (size_t i = 0; i < data_len; i++)
        buf[8 + padded + i] = (uint8_t)i;
    write_all(path, buf, total);
    free(buf);
    return path;
}

static void expect_st_error(const char *dir, const char *header, size_t data_len,
                            const char *needle)
{
    char *path = write_st(dir, header, data_len), *msg = NULL;
    struct llm__safetensors st;
    int err = llm__safetensors_open(&st, path, &msg);
    if (err != QUIRE_EMODEL || !msg || !strstr(msg, path) || (needle && !strstr(msg, needle)))
        fprintf(stderr, "header %s: err %d msg %s (want '%s')\n", header, err,
                msg ? msg : "(null)", needle ? needle : "");
    assert_int_equal(err, QUIRE_EMODEL);
    assert_non_null(msg);
    assert_non_null(strstr(msg, path));
    if (needle)
        assert_non_null(strstr(msg, needle));
    free(msg);
    free(path);
}

static void test_llm__safetensors_reads_dtypes(void **unused)
{
    char *dir = make_tmpdir(), *msg = NULL;
    /* data bytes are 0,1,2,...: "a" F16 at 0..4, "b" BF16 at 4..6, "c" U8, "__metadata__" */
    char *path = write_st(dir,
                          "{\"__metadata__\":{\"format\":\"pt\"},"
                          "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[4,6]},"
                          "\"a\":{\"dtype\":\"F16\",\"shape\":[2,1],\"data_offsets\":[0,4]},"
                          "\"c\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[6,7]},"
                          "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[7,7]}}",
                          7);
    struct llm__safetensors st;
    assert_int_equal(llm__safetensors_open(&st, path, &msg), 0);
    assert_int_equal(st.n_tensors, 4);
    const struct llm__tensor *a = llm__safetensors_find(&st, "a");
    assert_non_null(a);
    assert_int_equal(a->dtype, LLM__F16);
    assert_int_equal(a->n_dims, 2);
    assert_int_equal(a->shape[0], 2);
    float v[2];
    llm__to_f32(v, a->data, a->dtype, 2);
    assert_float_equal(v[0], llm__f16_to_f32(0x0100), 0);
    assert_float_equal(v[1], llm__f16_to_f32(0x0302), 0);
    const struct llm__tensor *b = llm__safetensors_find(&st, "b");
    assert_int_equal(b->dtype, LLM__BF16);
    assert_ptr_equal(b->data, a->data + 4);
    assert_int_equal(llm__safetensors_find(&st, "c")->n_elements, 1);
    assert_int_equal(llm__safetensors_find(&st, "e")->n_elements, 0);
    assert_null(llm__safetensors_find(&st, "__metadata__"));
    llm__safetensors_close(&st);
    free(path);
    remove_tmpdir(dir);
}

static void test_llm__safetensors_rejects_bad_headers(void **unused)
{
    char *dir = make_tmpdir();
    const char *ok = "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]";
    char *h;
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8,
                    "not valid JSON");
    expect_st_error(dir, "[1,2]", 0, "not a JSON object");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                    "'t': unknown dtype");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                    "'t'");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}",
                    8, "'t'");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],"
                         "\"data_offsets\":[0,8]}}", 8, "dimensions");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12,
                    "does not match");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7,
                    "'t'");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                    "begin after");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
                    "data_offsets");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets");
    expect_st_error(dir, "{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "shape");
    expect_st_error(dir, "{\"t\":7}", 8, "'t'");
    expect_st_error(dir, "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,"
                         "4294967296],\"data_offsets\":[0,8]}}", 8, "'t'");
    h = q_asprintf("{\"t\":{%s},\"u\":{\"dtype\":\"F32\",\"shape\":[2],"
                   "\"data_offsets\":[4,12]}}", ok);
    expect_st_error(dir, h, 12, "overlap");
    free(h);
    h = q_asprintf("{\"t\":{%s},\"u\":{\"dtype\":\"U8\",\"shape\":[1],"
                   "\"data_offsets\":[8,9]}}", ok);
    expect_st_error(dir, h, 8, "'u'");
    free(h);
    /* header length field larger than the file, and over the format's limit */
    char *path = q_asprintf("%s/x.safetensors", dir), *msg = NULL;
    uint8_t raw[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    struct llm__safetensors st;
    write_all(path, raw, sizeof(raw));
    assert_int_equal(llm__safetensors_open(&st, path, &msg), QUIRE_EMODEL);
    assert_non_null(strstr(msg, "past the end"));
    free(msg);
    msg = NULL;
    raw[7] = 0x80;
    write_all(path, raw, sizeof(raw));
    assert_int_equal(llm__safetensors_open(&st, path, &msg), QUIRE_EMODEL);
    assert_non_null(strstr(msg, "limit"));
    free(msg);
    msg = NULL;
    write_all(path, raw, 3);
    assert_int_equal(llm__safetensors_open(&st, path, &msg), QUIRE_EMODEL);
    assert_non_null(strstr(msg, "too short"));
    free(msg);
    msg = NULL;
    unlink(path);
    assert_int_equal(llm__safetensors_open(&st, path, &msg), QUIRE_ENOENT);
    assert_non_null(strstr(msg, path));
    free(msg);
    free(path);
    remove_tmpdir(dir);
}

/* Loads (and frees) a model, or a line reader, from dir: the loader's error code. */
static int load_model_err(const char *dir, char **msg)
{
    int err = 0;
    llm_model_free(llm_model_load(dir, &err, msg));
    return err;
}

static int load_reader_err(const char *dir, char **msg)
{
    int err = 0;
    llm_reader_free(llm_reader_load(dir, &err, msg));
    return err;
}

/* Changes every step-th byte of the safetensors header in data (written to path, in dir) one at
 * a time: `load` either loads (a harmless change, e.g. inside padding) or fails with
 * QUIRE_EMODEL and a message naming the file. */
static void flip_header_bytes(const char *dir, const char *path, uint8_t *data, size_t len,
                              size_t hlen, size_t step, int (*load)(const char *, char **))
{
    for (size_t off = 8; off < 8 + hlen; off += step) {
        uint8_t keep = data[off];
        data[off] = off % 2 ? ' ' : '9';
        write_all(path, data, len);
        char *msg = NULL;
        int err = load(dir, &msg);
        assert_true(err == 0 || (err == QUIRE_EMODEL && msg && strstr(msg, path)));
        free(msg);
        data[off] = keep;
    }
}

static void test_llm__truncated_model_is_clean_error(void **unused)
{
    char *src = fixture("model.safetensors");
    size_t len;
    uint8_t *data = read_all(src, &len);
    free(src);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | data[i];
    char *dir = copy_model(NULL);
    char *path = q_asprintf("%s/model.safetensors", dir);
    size_t cuts[] = {0, 1, 7, 8, 9, 8 + hlen / 2, 8 + hlen - 1, 8 + hlen, 8 + hlen + 1,
                     8 + hlen + 1000, len / 2, len - 4, len - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        write_all(path, data, cuts[i]);
        int err = 0;
        char *msg = NULL;
        struct llm_model *m = llm_model_load(dir, &err, &msg);
        assert_null(m);
        assert_int_equal(err, QUIRE_EMODEL);
        assert_non_null(msg);
        assert_non_null(strstr(msg, path));
        free(msg);
    }
    /* every byte of the header flipped to a space or a digit: never a crash */
    flip_header_bytes(dir, path, data, len, hlen, 7, load_model_err);
    free(path);
    free(data);
    remove_tmpdir(dir);
}

static void expect_config_error(const char *cfg, const char *needle)
{
    char *dir = copy_model(cfg), *msg = NULL;
    int err = 0;
    struct llm_model *m = llm_model_load(dir, &err, &msg);
    if (m || !msg || !strstr(msg, needle))
        fprintf(stderr, "config error: %s (want '%s')\n", msg ? msg : "(null)", needle);
    assert_null(m);
    assert_int_equal(err, QUIRE_EMODEL);
    assert_non_null(strstr(msg, needle));
    free(msg);
    remove_tmpdir(dir);
}

static void expect_model_error(const char *from, const char *to, const char *needle)
{
    char *cfg = config_with(from, to);
    expect_config_error(cfg, needle);
    free(cfg);
}

static void test_llm__config_and_shape_errors(void **unused)
{
    expect_model_error("\"hidden_size\": 32", "\"hidden_size\": 36",
                       "'model.vision_model.embeddings.patch_embedding.weight' has shape "
                       "(32, 3, 8, 8), config.json implies (36, 3, 8, 8)");
    expect_model_error("\"intermediate_size\": 96", "\"intermediate_size\": 95",
                       "model.text_model.layers.0.mlp.gate_proj.weight");
    expect_model_error("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3",
                       "missing tensor 'model.vision_model.encoder.layers.2.layer_norm1.weight'");
    expect_model_error("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3",
                       "num_key_value_heads");
    expect_model_error("\"patch_size\": 8", "\"patch_size\": \"8\"", "vision_config.patch_size");
    expect_model_error("\"patch_size\": 8", "\"patch_size\": 7", "multiple of patch_size");
    expect_model_error("\"scale_factor\": 2", "\"scale_factor\": 3", "scale_factor");
    expect_model_error("\"rope_theta\": 10000.0", "\"rope_theta\": -1", "rope_theta");
    expect_model_error("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act");
    expect_model_error("\"vocab_size\": 300", "\"vocab_size\": 301", "embed_tokens");
    expect_model_error("\"image_size\": 32", "\"image_size\": 48",
                       "position_embedding.weight");
    expect_config_error("[1]", "not a JSON object");
    expect_config_error("{\"vision_config\": 3}", "vision_config: want an object");
    expect_model_error("\"model_type\"", "\"model_type", "config.json");
    /* transformers 5's rope_parameters: a RoPE type other than the default, and a text model
     * other than Llama (granite's multipliers), are refused rather than run wrong */
    expect_model_error("\"rope_theta\": 10000.0",
                       "\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 1e4}",
                       "rope_parameters.rope_type");
    expect_model_error("\"rope_theta\": 10000.0", "\"model_type\": \"granite\"",
                       "text_config.model_type");

    /* rope_parameters.rope_theta is read (and wins over a rope_theta beside it) */
    char *cfg = config_with("\"rope_theta\": 10000.0",
                            "\"rope_theta\": 10000.0, \"model_type\": \"llama\",\n"
                            "    \"rope_parameters\": {\"rope_type\": \"default\", "
                            "\"rope_theta\": 100000.0}");
    char *dir = copy_model(cfg);
    int rerr = 0;
    char *rmsg = NULL;
    struct llm_model *rm = llm_model_load(dir, &rerr, &rmsg);
    if (!rm)
        fail_msg("%s", rmsg ? rmsg : err_str(rerr));
    assert_true(rm->config.text.rope_theta == 100000.0f);
    llm_model_free(rm);
    remove_tmpdir(dir);
    free(cfg);

    int err = 0;
    char *msg = NULL;
    assert_null(llm_model_load("/nonexistent/model", &err, &msg));
    assert_int_equal(err, QUIRE_ENOENT);
    free(msg);
}

/* --- conformance against the PyTorch reference --------------------------------------------- */

static void test_llm__patch_embedding_equals_conv(void **unused)
{
    struct llm_model *m = load_fixture();
    int err;
    struct llm_state *s = llm_state_new(m, 64, 1, &err);
    assert_non_null(s);
    const struct llm_vision_config *c = &m->config.vision;
    float *pixels = random_floats((size_t)c->n_channels * c->image_size * c->image_size, 11);
    llm__vision_embed(m, s, pixels);
    int side = c->image_size / c->patch_size, p = c->patch_size, S = c->image_size;
    float worst = 0;
    for (int py = 0; py < side; py++)
        for (int px = 0; px < side; px++)
            for (int o = 0; o < c->dim; o++) {
                /* Conv2d(stride = kernel = p) at output pixel (py, px), channel o */
                double acc = m->vision.patch_b[o];
                for (int ch = 0; ch < c->n_channels; ch++)
                    for (int y = 0; y < p; y++)
                        for (int x = 0; x < p; x++)
                            acc += (double)m->vision.patch_w[((o * c->n_channels + ch) * p + y) *
                                                             p + x] *
                                   pixels[(ch * S + py * p + y) * S + px * p + x];
                int t = py * side + px;
                acc += m->vision.position[t * c->dim + o];
                float d = fabsf((float)acc - s->vision.x[t * c->dim + o]);
                worst = d > worst ? d : worst;
            }
    assert_true(worst < 1e-5f);
    free(pixels);
    llm_state_free(s);
    llm_model_free(m);
}

static void test_llm__vision_conformance(void **unused)
{
    struct llm_model *m = load_fixture();
    struct expected e;
    expected_open(&e);
    int err;
    struct llm_state *s = llm_state_new(m, 64, 1, &err);
    assert_non_null(s);
    const struct llm_config *c = &m->config;
    size_t np = (size_t)c->vision.n_patches, dim = (size_t)c->vision.dim;
    const float *pixels = expected_tensor(&e, "pixel_values",
                                          (size_t)3 * c->vision.image_size * c->vision.image_size);
    llm__vision_embed(m, s, pixels);
    float d = max_abs_diff(s->vision.x, expected_tensor(&e, "vision_embeddings", np * dim),
                           np * dim);
    fprintf(stderr, "vision embeddings max abs diff %g\n", d);
    assert_true(d < TOL);
    llm__vision_encode(m, s, pixels);
    d = max_abs_diff(s->vision.x, expected_tensor(&e, "vision_encoder", np * dim), np * dim);
    fprintf(stderr, "vision encoder max abs diff %g\n", d);
    assert_true(d < TOL);
    size_t nf = (size_t)c->image_seq_len * c->text.dim;
    llm__encode_images(m, s, pixels, 1);
    d = max_abs_diff(s->image_features, expected_tensor(&e, "connector", nf), nf);
    fprintf(stderr, "connector max abs diff %g\n", d);
    assert_true(d < TOL);
    llm_state_free(s);
    expected_close(&e);
    llm_model_free(m);
}

/* Prompt logits at every position, with the prompt fed in chunks of `chunk` tokens. */
static void check_prompt_logits(int chunk, bool token_by_token)
{
    struct llm_model *m = load_fixture();
    struct expected e;
    expected_open(&e);
    int err, n;
    struct llm_state *s = llm_state_new(m, 64, 1, &err);
    assert_non_null(s);
    if (chunk)
        s->text.chunk = chunk;
    const struct llm_config *c = &m->config;
    int32_t *ids = expected_ids(&e, "prompt_ids", &n);
    size_t vocab = (size_t)c->text.vocab_size;
    const float *want = expected_tensor(&e, "prompt_logits", (size_t)n * vocab);
    llm__encode_images(m, s, expected_tensor(&e, "pixel_values", 3 * 32 * 32), 1);
    float *logits = malloc(sizeof(float) * n * vocab);
    int row = 0;
    if (token_by_token) {
        for (int i = 0; i < n; i++) {
            llm__decoder_forward(m, s, ids + i, 1, i, s->image_features, &row, NULL);
            memcpy(logits + i * vocab, s->text.logits, sizeof(float) * vocab);
        }
    } else {
        llm__decoder_forward(m, s, ids, n, 0, s->image_features, &row, logits);
    }
    assert_int_equal(row, c->image_seq_len);
    float d = max_abs_diff(logits, want, (size_t)n * vocab);
    fprintf(stderr, "prompt logits (chunk %d%s) max abs diff %g\n", s->text.chunk,
            token_by_token ? ", one token at a time" : "", d);
    assert_true(d < TOL);
    assert_true(max_abs_diff(s->text.logits, want + (n - 1) * vocab, vocab) < TOL);
    free(logits);
    free(ids);
    llm_state_free(s);
    expected_close(&e);
    llm_model_free(m);
}

static void test_llm__prompt_logits_conformance(void **unused)
{
    check_prompt_logits(0, false);
    check_prompt_logits(7, false);
    check_prompt_logits(0, true); /* the KV cache path: decode steps equal the prefill */
}

static void test_llm__greedy_conformance(void **unused)
{
    struct llm_model *m = load_fixture();
    struct expected e;
    expected_open(&e);
    int err, n, n_want;
    struct llm_state *s = llm_state_new(m, 64, 1, &err);
    assert_non_null(s);
    int32_t *ids = expected_ids(&e, "prompt_ids", &n);
    int32_t *want = expected_ids(&e, "greedy_ids", &n_want);
    const float *pixels = expected_tensor(&e, "pixel_values", 3 * 32 * 32);
    int32_t out[32];
    int n_out;
    float mean_lp;
    struct llm_generate_options o = {.max_new_tokens = n_want};
    for (int run = 0; run < 2; run++) { /* a state is reusable */
        q_alloc_fail_after(1); /* generation must not allocate (through the hook) */
        assert_int_equal(llm_generate(m, s, ids, n, pixels, 1, &o, out, &n_out, &mean_lp), 0);
        q_alloc_fail_after(0);
        assert_int_equal(n_out, n_want);
        for (int i = 0; i < n_want; i++)
            assert_int_equal(out[i], want[i]);
        double want_lp = json_object_get_double_member(e.json, "mean_logprob");
        assert_float_equal(mean_lp, want_lp, 1e-4);
    }
    /* stop at the 6th token: it is emitted, nothing after it */
    int32_t stop[2] = {-5, want[5]};
    int first = 0;
    while (want[first] != want[5])
        first++;
    o.stop_ids = stop;
    o.n_stop_ids = 2;
    assert_int_equal(llm_generate(m, s, ids, n, pixels, 1, &o, out, &n_out, &mean_lp), 0);
    assert_int_equal(n_out, first + 1);
    assert_int_equal(out[first], want[5]);
    /* max length */
    o.n_stop_ids = 0;
    o.max_new_tokens = 3;
    assert_int_equal(llm_generate(m, s, ids, n, pixels, 1, &o, out, &n_out, &mean_lp), 0);
    assert_int_equal(n_out, 3);
    assert_memory_equal(out, want, 3 * sizeof(int32_t));
    free(ids);
    free(want);
    llm_state_free(s);
    expected_close(&e);
    llm_model_free(m);
}

/* --- sharded checkpoints -------------------------------------------------------------------- */

/* Writes the fixture's weights into `dir` as shard-1.safetensors (the first half of the
 * tensors by offset) and shard-2.safetensors, plus config.json and an index; the index's
 * entries are written by `entry` (name, shard number) so tests can spoil them. */
static void write_sharded_fixture(const char *dir, void (*entry)(FILE *, const char *, int))
{
    char *path = fixture("model.safetensors"), *msg = NULL;
    struct llm__safetensors st;
    assert_int_equal(llm__safetensors_open(&st, path, &msg), 0);
    free(path);
    size_t half = st.n_tensors / 2;
    char *entries = NULL;
    size_t entries_len = 0;
    FILE *index = open_memstream(&entries, &entries_len);
    assert_non_null(index);
    for (int shard = 1; shard <= 2; shard++) {
        size_t lo = shard == 2 ? half : 0, hi = shard == 2 ? st.n_tensors : half;
        size_t cap = 1 << 16, n = 0, off = 0;
        char *h = malloc(cap);
        n += (size_t)snprintf(h + n, cap - n, "{\"__metadata__\":{\"format\":\"pt\"}");
        for (size_t i = lo; i < hi; i++) {
            const struct llm__tensor *t = &st.tensors[i];
            n += (size_t)snprintf(h + n, cap - n, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                                  t->name);
            for (int d = 0; d < t->n_dims; d++)
                n += (size_t)snprintf(h + n, cap - n, d ? ",%lld" : "%lld",
                                      (long long)t->shape[d]);
            n += (size_t)snprintf(h + n, cap - n, "],\"data_offsets\":[%zu,%zu]}", off,
                                  off + t->n_bytes);
            off += t->n_bytes;
            entry(index, t->name, shard);
        }
        n += (size_t)snprintf(h + n, cap - n, "}");
        while (n % 8)
            h[n++] = ' ';
        char *shard_path = q_asprintf("%s/shard-%d.safetensors", dir, shard);
        FILE *f = fopen(shard_path, "wb");
        assert_non_null(f);
        uint64_t hl = n;
        fwrite(&hl, 8, 1, f);
        fwrite(h, 1, n, f);
        for (size_t i = lo; i < hi; i++)
            fwrite(st.tensors[i].data, 1, st.tensors[i].n_bytes, f);
        assert_int_equal(fclose(f), 0);
        free(shard_path);
        free(h);
    }
    fclose(index);
    if (entries_len >= 2 && entries[entries_len - 2] == ',')
        entries[entries_len - 2] = 0; /* no comma after the last entry */
    char *text = q_asprintf("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {%s}}\n",
                            entries);
    char *index_path = q_asprintf("%s/model.safetensors.index.json", dir);
    write_all(index_path, text, strlen(text));
    free(text);
    free(entries);
    free(index_path);
    llm__safetensors_close(&st);
    char *src = fixture("config.json"), *dst = q_asprintf("%s/config.json", dir);
    size_t len;
    uint8_t *config = read_all(src, &len);
    write_all(dst, config, len);
    free(config);
    free(src);
    free(dst);
}

static void entry_good(FILE *f, const char *name, int shard)
{
    fprintf(f, "\"%s\": \"shard-%d.safetensors\", ", name, shard);
}

static void entry_swapped(FILE *f, const char *name, int shard)
{
    fprintf(f, "\"%s\": \"shard-%d.safetensors\", ", name, 3 - shard);
}

static void entry_escape(FILE *f, const char *name, int shard)
{
    fprintf(f, "\"%s\": \"../shard-%d.safetensors\", ", name, shard);
}

static void entry_missing_shard(FILE *f, const char *name, int shard)
{
    fprintf(f, "\"%s\": \"shard-%d.safetensors\", ", name, shard + 5);
}

static void entry_drop_one(FILE *f, const char *name, int shard)
{
    if (strcmp(name, "model.text_model.norm.weight") != 0)
        entry_good(f, name, shard);
}

/* The greedy continuation of the fixture's prompt. */
static void check_greedy(const struct llm_model *m)
{
    struct expected e;
    expected_open(&e);
    int err, n, n_want, n_out;
    struct llm_state *s = llm_state_new(m, 64, 1, &err);
    assert_non_null(s);
    int32_t *ids = expected_ids(&e, "prompt_ids", &n);
    int32_t *want = expected_ids(&e, "greedy_ids", &n_want);
    int32_t out[32];
    float lp;
    struct llm_generate_options o = {.max_new_tokens = n_want};
    assert_int_equal(llm_generate(m, s, ids, n, expected_tensor(&e, "pixel_values", 3 * 32 * 32),
                                  1, &o, out, &n_out, &lp), 0);
    assert_int_equal(n_out, n_want);
    assert_memory_equal(out, want, sizeof(int32_t) * n_want);
    free(ids);
    free(want);
    llm_state_free(s);
    expected_close(&e);
}

static void expect_load_error(const char *dir, int want_err, const char *want_in_msg)
{
    int err;
    char *msg = NULL;
    struct llm_model *m = llm_model_load(dir, &err, &msg);
    assert_null(m);
    assert_int_equal(err, want_err);
    assert_non_null(msg);
    if (!strstr(msg, want_in_msg))
        fprintf(stderr, "message '%s' lacks '%s'\n", msg, want_in_msg);
    assert_non_null(strstr(msg, want_in_msg));
    free(msg);
}

static void test_llm__sharded_checkpoint(void **unused)
{
    char *dir = make_tmpdir();
    write_sharded_fixture(dir, entry_good);
    int err;
    char *msg = NULL;
    struct llm_model *m = llm_model_load(dir, &err, &msg);
    if (!m)
        fprintf(stderr, "sharded: %s\n", msg);
    assert_non_null(m);
    assert_int_equal(m->checkpoint.n_shards, 2);
    check_greedy(m); /* the same weights give the same continuation */
    llm_model_free(m);

    /* the index must agree with the shards and stay inside the directory */
    write_sharded_fixture(dir, entry_swapped);
    expect_load_error(dir, QUIRE_EMODEL, "where the index puts it");
    write_sharded_fixture(dir, entry_escape);
    expect_load_error(dir, QUIRE_EMODEL, "not a file name in the model directory");
    write_sharded_fixture(dir, entry_missing_shard);
    expect_load_error(dir, QUIRE_ENOENT, "shard-6.safetensors");
    write_sharded_fixture(dir, entry_drop_one); /* a tensor the index does not list */
    expect_load_error(dir, QUIRE_EMODEL, "missing tensor 'model.text_model.norm.weight'");
    char *index = q_asprintf("%s/model.safetensors.index.json", dir);
    const char *bad[] = {"{}", "[1]", "{\"weight_map\": {}}", "{\"weight_map\": {\"a\": 3}}",
                         "{\"weight_map\": {\"a\": \"\"}}", "{\"weight_map\": {\"a\": \".x\"}}",
                         "{\"weight_map\": ", "{\"weight_map\": {\"a\": \"/etc/passwd\"}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_all(index, bad[i], strlen(bad[i]));
        expect_load_error(dir, QUIRE_EMODEL, "model.safetensors.index.json");
    }
    unlink(index);
    expect_load_error(dir, QUIRE_ENOENT, "model.safetensors");
    /* a model.safetensors next to an index wins, as in transformers */
    write_sharded_fixture(dir, entry_swapped);
    char *src = fixture("model.safetensors"), *dst = q_asprintf("%s/model.safetensors", dir);
    size_t len;
    uint8_t *data = read_all(src, &len);
    write_all(dst, data, len);
    m = llm_model_load(dir, &err, &msg);
    assert_non_null(m);
    assert_int_equal(m->checkpoint.n_shards, 1);
    llm_model_free(m);
    free(data);
    free(src);
    free(dst);
    free(index);
    remove_tmpdir(dir);
}

/* Every allocation of a sharded load fails cleanly in turn. */
static void test_llm__sharded_allocation_failures(void **unused)
{
    char *dir = make_tmpdir();
    write_sharded_fixture(dir, entry_good);
    for (int n = 1;; n++) {
        int err;
        char *msg = NULL;
        q_alloc_fail_after(n);
        struct llm_model *m = llm_model_load(dir, &err, &msg);
        q_alloc_fail_after(0);
        free(msg);
        if (m) {
            llm_model_free(m);
            break;
        }
        assert_int_equal(err, QUIRE_ENOMEM);
    }
    remove_tmpdir(dir);
}

/* --- OTSL-constrained decoding ---------------------------------------------------------------- */

static const char *const otsl_tags[] = {"<otsl>", "</otsl>", "<nl>", "<fcel>", "<ecel>",
                                        "<ched>", "<rhed>", "<srow>", "<lcel>", "<ucel>",
                                        "<xcel>"};

/* GPT-2's byte-level symbol for byte b, as UTF-8. */
static void byte_symbol(int b, char out[8])
{
    bool plain = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    int code = b;
    if (!plain) {
        code = 256;
        for (int i = 0; i < b; i++)
            code += !((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) ||
                      (i >= 0xAE && i <= 0xFF));
    }
    out[g_unichar_to_utf8((gunichar)code, out)] = 0;
}

/* A tokenizer for the tiny model's 300 ids: the 256 byte symbols (ids 0-255), merges "ab"
 * (256), "12" (257) and "ä" (258, bytes C3 A4), then added tokens: <|endoftext|> 259,
 * <end_of_utterance> 260, <image> 261, the OTSL tags 262-272. Returns the path of the file. */
static char *write_otsl_tokenizer(const char *dir)
{
    JsonBuilder *b = json_builder_new();
    char sym[16], a[8], c[8], pair[20];
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "model");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "BPE");
    json_builder_set_member_name(b, "vocab");
    json_builder_begin_object(b);
    for (int i = 0; i < 256; i++) {
        byte_symbol(i, sym);
        json_builder_set_member_name(b, sym);
        json_builder_add_int_value(b, i);
    }
    json_builder_set_member_name(b, "ab");
    json_builder_add_int_value(b, 256);
    json_builder_set_member_name(b, "12");
    json_builder_add_int_value(b, 257);
    byte_symbol(0xC3, a);
    byte_symbol(0xA4, c);
    snprintf(sym, sizeof(sym), "%s%s", a, c);
    json_builder_set_member_name(b, sym);
    json_builder_add_int_value(b, 258);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "merges");
    json_builder_begin_array(b);
    json_builder_add_string_value(b, "a b");
    json_builder_add_string_value(b, "1 2");
    snprintf(pair, sizeof(pair), "%s %s", a, c);
    json_builder_add_string_value(b, pair);
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "pre_tokenizer");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "ByteLevel");
    json_builder_end_object(b);
    json_builder_set_member_name(b, "added_tokens");
    json_builder_begin_array(b);
    const char *special[] = {"<|endoftext|>", "<end_of_utterance>", "<image>"};
    for (int i = 0; i < 14; i++) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_int_value(b, 259 + i);
        json_builder_set_member_name(b, "content");
        json_builder_add_string_value(b, i < 3 ? special[i] : otsl_tags[i - 3]);
        json_builder_set_member_name(b, "special");
        json_builder_add_boolean_value(b, true);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    JsonGenerator *g = json_generator_new();
    JsonNode *root = json_builder_get_root(b);
    json_generator_set_root(g, root);
    char *path = q_asprintf("%s/tokenizer.json", dir);
    assert_true(json_generator_to_file(g, path, NULL));
    json_node_unref(root);
    g_object_unref(g);
    g_object_unref(b);
    return path;
}

struct otsl_fixture {
    char *dir;
    struct llm_tokenizer *tok;
    struct llm_otsl *otsl;
    struct llm__otsl_state st;
    int32_t tag[11]; /* ids of otsl_tags[] */
    int32_t eou;
};

static void otsl_fixture_open(struct otsl_fixture *f)
{
    int err;
    char *msg = NULL;
    f->dir = make_tmpdir();
    char *path = write_otsl_tokenizer(f->dir);
    f->tok = llm_tokenizer_load(path, &err, &msg);
    if (!f->tok)
        fprintf(stderr, "%s\n", msg);
    assert_non_null(f->tok);
    free(path);
    f->otsl = llm_otsl_new(f->tok, 300, &err, &msg);
    assert_non_null(f->otsl);
    for (int i = 0; i < 11; i++)
        assert_int_equal(f->tag[i] = llm_tokenizer_token_id(f->tok, otsl_tags[i]), 262 + i);
    f->eou = llm_tokenizer_token_id(f->tok, "<end_of_utterance>");
    f->st.max_cols = 64;
    f->st.prev = calloc(64, sizeof(*f->st.prev));
    f->st.cur = calloc(64, sizeof(*f->st.cur));
    llm__otsl_reset(&f->st);
}

static void otsl_fixture_close(struct otsl_fixture *f)
{
    free(f->st.prev);
    free(f->st.cur);
    llm_otsl_free(f->otsl);
    llm_tokenizer_free(f->tok);
    remove_tmpdir(f->dir);
}

/* Which of the 11 tags (bit i = otsl_tags[i]) the constraint allows now, plenty of budget. */
static int allowed_tags(const struct otsl_fixture *f)
{
    int bits = 0;
    for (int i = 0; i < 11; i++)
        bits |= llm__otsl_allowed(f->otsl, &f->st, f->tag[i], 100, false, true) << i;
    return bits;
}

enum { T_OPEN = 1, T_CLOSE = 2, T_NL = 4, T_FCEL = 8, T_ECEL = 16, T_CHED = 32, T_RHED = 64,
       T_SROW = 128, T_LCEL = 256, T_UCEL = 512, T_XCEL = 1024,
       T_ANCHORS = T_FCEL | T_ECEL | T_CHED | T_RHED | T_SROW };

/* Feeds tokens (tags by index into otsl_tags, or -1 - byte for a byte token), each of which
 * must be allowed. */
static void feed(struct otsl_fixture *f, const int *items, int n)
{
    for (int i = 0; i < n; i++) {
        int32_t id = items[i] >= 0 ? f->tag[items[i]] : -1 - items[i];
        assert_true(llm__otsl_allowed(f->otsl, &f->st, id, 100, false, true));
        llm__otsl_advance(f->otsl, &f->st, id);
    }
}

static bool text_ok(const struct otsl_fixture *f, int32_t id, int budget)
{
    return llm__otsl_allowed(f->otsl, &f->st, id, budget, false, false);
}

/* The mask, position by position, on a table with a 2-D span:
 *   <fcel>a <lcel> <ecel> <nl> / <ucel> <xcel> <fcel>ä <nl> / </otsl> */
static void test_llm__otsl_constraint_mask(void **unused)
{
    struct otsl_fixture f;
    otsl_fixture_open(&f);
    enum { OPEN, CLOSE, NL, FCEL, ECEL, CHED, RHED, SROW, LCEL, UCEL, XCEL };
    /* classes: text, tags, never (other added tokens, '<', unused ids) */
    assert_int_equal(f.otsl->cls['a'], LLM__OTSL_TEXT);
    assert_int_equal(f.otsl->cls[256], LLM__OTSL_TEXT);
    assert_int_equal(f.otsl->cls['<'], LLM__OTSL_NEVER);
    assert_int_equal(f.otsl->cls[0], LLM__OTSL_NEVER); /* NUL */
    assert_int_equal(f.otsl->cls[261], LLM__OTSL_NEVER); /* <image> */
    assert_int_equal(f.otsl->cls[299], LLM__OTSL_NEVER); /* not in the tokenizer */

    assert_int_equal(allowed_tags(&f), T_OPEN);
    assert_false(text_ok(&f, 'a', 100));
    assert_false(llm__otsl_allowed(f.otsl, &f.st, f.eou, 100, true, true));
    feed(&f, (int[]){OPEN}, 1);
    assert_int_equal(allowed_tags(&f), T_ANCHORS);
    assert_false(text_ok(&f, 'a', 100)); /* no text after <otsl> */
    feed(&f, (int[]){FCEL}, 1);
    assert_true(text_ok(&f, 'a', 100));
    assert_false(text_ok(&f, '<', 100));
    assert_false(text_ok(&f, 0xFF, 100)); /* never valid UTF-8 */
    assert_int_equal(allowed_tags(&f), T_ANCHORS | T_LCEL | T_NL); /* no <ucel> in row 1 */
    feed(&f, (int[]){-1 - 'a', LCEL}, 2);
    assert_false(text_ok(&f, 'a', 100)); /* <lcel> takes no text */
    feed(&f, (int[]){ECEL}, 1);
    assert_false(text_ok(&f, 'a', 100));
    assert_int_equal(allowed_tags(&f), T_ANCHORS | T_LCEL | T_NL);
    feed(&f, (int[]){NL}, 1);
    assert_int_equal(f.st.n_cols, 3);
    /* row 2: the 2-wide cell above allows <ucel> at column 0, which forces one <xcel> */
    assert_int_equal(allowed_tags(&f), T_ANCHORS | T_UCEL | T_CLOSE);
    feed(&f, (int[]){UCEL}, 1);
    assert_int_equal(allowed_tags(&f), T_XCEL);
    feed(&f, (int[]){XCEL}, 1);
    assert_int_equal(allowed_tags(&f), T_ANCHORS | T_UCEL); /* full row not reached: no <nl> */
    feed(&f, (int[]){FCEL, -1 - 0xC3}, 2); /* half of "ä" */
    assert_int_equal(allowed_tags(&f), 0); /* no tag inside a character */
    assert_false(text_ok(&f, 'a', 100));
    assert_true(text_ok(&f, 0xA4, 100));
    feed(&f, (int[]){-1 - 0xA4}, 1);
    assert_int_equal(allowed_tags(&f), T_NL); /* the row is full */
    feed(&f, (int[]){NL}, 1);
    /* row 3: <ucel> only under a cell anchored in that column */
    assert_int_equal(allowed_tags(&f), T_ANCHORS | T_UCEL | T_CLOSE);
    feed(&f, (int[]){ECEL}, 1);
    assert_int_equal(allowed_tags(&f), T_ANCHORS | T_LCEL); /* column 1: the span ended */
    llm__otsl_reset(&f.st);
    feed(&f, (int[]){OPEN, FCEL, NL, CLOSE}, 4);
    assert_int_equal(allowed_tags(&f), 0);
    assert_false(text_ok(&f, 'a', 100));
    assert_true(llm__otsl_allowed(f.otsl, &f.st, f.eou, 1, true, true)); /* only the stop */
    assert_true(llm__otsl_done(&f.st, false));
    assert_false(llm__otsl_done(&f.st, true));

    /* the budget: a token must leave room to close the table */
    llm__otsl_reset(&f.st);
    assert_true(text_ok(&f, f.tag[OPEN], 4)); /* <otsl> <ecel> <nl> </otsl> */
    assert_false(text_ok(&f, f.tag[OPEN], 3));
    assert_false(llm__otsl_allowed(f.otsl, &f.st, f.tag[OPEN], 4, false, true)); /* + stop */
    feed(&f, (int[]){OPEN, FCEL}, 2);
    assert_true(text_ok(&f, 'a', 3));  /* a <nl> </otsl> */
    assert_false(text_ok(&f, 'a', 2));
    assert_true(text_ok(&f, f.tag[NL], 2));
    assert_false(text_ok(&f, 0xC3, 3)); /* a half character needs one more token */
    assert_true(text_ok(&f, 0xC3, 4));
    otsl_fixture_close(&f);
}

/* Random walks through the constraint (random logits, random budgets, with and without a stop
 * token) always give text that parses strictly. */
static void test_llm__otsl_random_walks_parse(void **unused)
{
    struct otsl_fixture f;
    otsl_fixture_open(&f);
    unsigned seed = 99;
    float logits[300];
    struct llm_generate_options o = {.otsl = f.otsl, .stop_ids = &f.eou};
    int32_t ids[64];
    for (int walk = 0; walk < 3000; walk++) {
        int budget = 4 + walk % 60;
        o.n_stop_ids = walk & 1;
        bool has_stop = o.n_stop_ids > 0;
        llm__otsl_reset(&f.st);
        int n = 0;
        /* skew towards tags now and then so that spans and long rows happen */
        float tag_bias = (walk % 3) * 1.5f;
        for (int i = 0; i < budget; i++) {
            for (int k = 0; k < 300; k++)
                logits[k] = frand(&seed) + (k >= 262 ? tag_bias : 0.0f);
            int32_t best = -1;
            for (int32_t k = 0; k < 300; k++)
                if ((best < 0 || logits[k] > logits[best]) &&
                    llm__otsl_allowed(f.otsl, &f.st, k, budget - i, k == f.eou && has_stop,
                                      has_stop))
                    best = k;
            if (best < 0)
                break;
            ids[n++] = best;
            if (best == f.eou && has_stop)
                break;
            llm__otsl_advance(f.otsl, &f.st, best);
            if (llm__otsl_done(&f.st, has_stop))
                break;
        }
        assert_int_equal(f.st.phase, LLM__OTSL_CLOSED);
        if (has_stop)
            assert_int_equal(ids[n - 1], f.eou);
        char *text;
        size_t len;
        assert_int_equal(llm_tokenizer_decode(f.tok, ids, (size_t)(n - has_stop), &text, &len), 0);
        struct table *t = NULL;
        char *msg = NULL;
        int err = table_from_otsl(text, false, &t, NULL, &msg);
        if (err)
            fprintf(stderr, "walk %d: %s: %s\n", walk, text, msg);
        assert_int_equal(err, 0);
        assert_int_equal(t->n_cols, f.st.n_cols);
        table_free(t);
        free(text);
    }
    otsl_fixture_close(&f);
}

/* llm_generate with the constraint on the tiny model: output parses for every budget, the
 * token loop does not allocate, and an otsl for another vocabulary size is refused. */
static void test_llm__otsl_generate(void **unused)
{
    struct otsl_fixture f;
    otsl_fixture_open(&f);
    struct llm_model *m = load_fixture();
    struct expected e;
    expected_open(&e);
    int err, n, n_out;
    struct llm_state *s = llm_state_new(m, 128, 1, &err);
    int32_t *prompt = expected_ids(&e, "prompt_ids", &n);
    const float *pixels = expected_tensor(&e, "pixel_values", 3 * 32 * 32);
    int32_t out[128];
    float lp;
    for (int stop = 0; stop < 2; stop++) {
        for (int budget = 3; budget <= 128 - n; budget += 3) {
            struct llm_generate_options o = {.max_new_tokens = budget, .stop_ids = &f.eou,
                                             .n_stop_ids = stop, .otsl = f.otsl};
            q_alloc_fail_after(1);
            assert_int_equal(llm_generate(m, s, prompt, n, pixels, 1, &o, out, &n_out, &lp), 0);
            q_alloc_fail_after(0);
            if (budget < 4 + stop) {
                assert_int_equal(n_out, 0); /* no table fits */
                continue;
            }
            assert_true(n_out >= 4 && n_out <= budget);
            assert_true(lp <= 0.0f);
            if (stop)
                assert_int_equal(out[n_out - 1], f.eou);
            char *text, *msg = NULL;
            size_t len;
            assert_int_equal(llm_tokenizer_decode(f.tok, out, (size_t)(n_out - stop), &text,
                                                  &len), 0);
            struct table *t = NULL;
            err = table_from_otsl(text, false, &t, NULL, &msg);
            if (err || budget + 3 > 128 - n)
                fprintf(stderr, "constrained (%d tokens): %s%s%s\n", budget, text,
                        err ? " -> " : "", err ? msg : "");
            assert_int_equal(err, 0);
            table_free(t);
            free(text);
        }
    }
    char *msg = NULL;
    struct llm_otsl *other = llm_otsl_new(f.tok, 272, &err, &msg); /* <xcel> is id 272 */
    assert_null(other);
    assert_int_equal(err, QUIRE_EMODEL);
    assert_non_null(strstr(msg, "<xcel>"));
    free(msg);
    other = llm_otsl_new(f.tok, 280, &err, NULL);
    assert_non_null(other);
    struct llm_generate_options o = {.max_new_tokens = 8, .otsl = other};
    assert_int_equal(llm_generate(m, s, prompt, n, pixels, 1, &o, out, &n_out, &lp),
                     QUIRE_EINVAL);
    llm_otsl_free(other);
    free(prompt);
    llm_state_free(s);
    expected_close(&e);
    llm_model_free(m);
    otsl_fixture_close(&f);
}

/* Four different images from the fixture's (they give different tokens). */
static void batch_images(const float *pixels, float images[4][3 * 32 * 32])
{
    for (int b = 0; b < 4; b++)
        for (int i = 0; i < 3 * 32 * 32; i++)
            images[b][i] = pixels[i] * (1.0f - 0.3f * b) + 0.2f * (float)((i * (b + 3)) % 7) * b;
}

/* Decodes n_seqs perturbed copies of the fixture's image as one batch (in the order `order`)
 * and each alone; the tokens must be the same, bit for bit. */
static void batch_matches_alone(struct llm_model *m, const int32_t *prompt, int n,
                                const float *pixels, const struct llm_generate_options *o,
                                const int *order, int n_seqs)
{
    enum { MAXB = 4, MAXT = 96 };
    int err, lengths[MAXB];
    static float images[MAXB][3 * 32 * 32];
    batch_images(pixels, images);
    struct llm_state *alone = llm_state_new(m, 128, 1, &err);
    struct llm_state *batch = llm_state_new_batch(m, 128, 1, MAXB, &err);
    assert_non_null(alone);
    assert_non_null(batch);
    assert_int_equal(llm_state_max_batch(batch), MAXB);
    int32_t want[MAXB][MAXT], got[MAXB][MAXT];
    int n_want[MAXB];
    float lp_want[MAXB];
    for (int r = 0; r < n_seqs; r++) {
        int b = order[r];
        assert_int_equal(llm_generate(m, alone, prompt, n, images[b], 1, o, want[b], &n_want[b],
                                      &lp_want[b]), 0);
    }
    struct llm_sequence seqs[MAXB];
    for (int r = 0; r < n_seqs; r++)
        seqs[r] = (struct llm_sequence){.prompt = prompt, .n_prompt = n,
                                        .pixels = images[order[r]], .n_images = 1,
                                        .out = got[order[r]]};
    q_alloc_fail_after(1); /* batched generation must not allocate either */
    assert_int_equal(llm_generate_batch(m, batch, seqs, n_seqs, o), 0);
    q_alloc_fail_after(0);
    for (int r = 0; r < n_seqs; r++) {
        int b = order[r];
        lengths[r] = seqs[r].n_out;
        assert_int_equal(seqs[r].n_out, n_want[b]);
        assert_memory_equal(got[b], want[b], sizeof(int32_t) * (size_t)n_want[b]);
        assert_float_equal(seqs[r].mean_logprob, lp_want[b], 1e-6);
    }
    fprintf(stderr, "batch of %d: lengths", n_seqs);
    for (int r = 0; r < n_seqs; r++)
        fprintf(stderr, " %d", lengths[r]);
    fprintf(stderr, "\n");
    llm_state_free(alone);
    llm_state_free(batch);
}

/* A batch decodes each sequence exactly as it decodes alone: unconstrained and OTSL-constrained,
 * with stop ids (sequences leave the batch at different steps), in any order, with and without
 * the AVX2 kernels. */
static void test_llm__batch_matches_alone(void **unused)
{
    struct otsl_fixture f;
    otsl_fixture_open(&f);
    struct llm_model *m = load_fixture();
    struct expected e;
    expected_open(&e);
    int n;
    int32_t *prompt = expected_ids(&e, "prompt_ids", &n);
    const float *pixels = expected_tensor(&e, "pixel_values", 3 * 32 * 32);
    bool had_simd = llm__ops_set_simd(true);
    static const int orders[][4] = {{0, 1, 2, 3}, {3, 1, 0, 2}};
    /* stop ids that end the sequences at different steps: tokens that images 1 and 2 emit */
    static float images[4][3 * 32 * 32];
    batch_images(pixels, images);
    int err, n_out;
    int32_t out[2][40], stops[3];
    float lp;
    struct llm_state *s = llm_state_new(m, 128, 1, &err);
    struct llm_generate_options free_run = {.max_new_tokens = 40};
    for (int b = 0; b < 2; b++)
        assert_int_equal(llm_generate(m, s, prompt, n, images[b + 1], 1, &free_run, out[b],
                                      &n_out, &lp), 0);
    stops[0] = out[0][7];
    stops[1] = out[1][15];
    stops[2] = f.eou;
    llm_state_free(s);
    for (int simd = 0; simd < 2; simd++) {
        llm__ops_set_simd(simd == 0);
        for (int k = 0; k < 3; k++) {
            struct llm_generate_options o = {.max_new_tokens = 40};
            if (k == 1) {
                o.stop_ids = stops;
                o.n_stop_ids = 2;
            } else if (k == 2) { /* the fixture's "<end_of_utterance>" ends the table */
                o.stop_ids = &stops[2];
                o.n_stop_ids = 1;
                o.otsl = f.otsl;
            }
            batch_matches_alone(m, prompt, n, pixels, &o, orders[simd], 4);
            batch_matches_alone(m, prompt, n, pixels, &o, orders[1], 3);
            batch_matches_alone(m, prompt, n, pixels, &o, orders[0], 1);
        }
    }
    llm__ops_set_simd(had_simd);
    /* each sequence with its own budget (which the OTSL constraint plans with) */
    struct llm_state *alone = llm_state_new(m, 128, 1, &err);
    struct llm_state *batch = llm_state_new_batch(m, 128, 1, 4, &err);
    int32_t got[4][40], want[40];
    struct llm_sequence q[4];
    struct llm_generate_options oo = {.max_new_tokens = 40, .stop_ids = &stops[2],
                                      .n_stop_ids = 1, .otsl = f.otsl};
    for (int b = 0; b < 4; b++)
        q[b] = (struct llm_sequence){.prompt = prompt, .n_prompt = n, .pixels = images[b],
                                     .n_images = 1, .max_new_tokens = 9 + 7 * b, .out = got[b]};
    assert_int_equal(llm_generate_batch(m, batch, q, 4, &oo), 0);
    for (int b = 0; b < 4; b++) {
        struct llm_generate_options ob = oo;
        ob.max_new_tokens = 9 + 7 * b;
        assert_int_equal(llm_generate(m, alone, prompt, n, images[b], 1, &ob, want, &n_out, &lp),
                         0);
        assert_int_equal(q[b].n_out, n_out);
        assert_true(n_out <= 9 + 7 * b);
        assert_memory_equal(got[b], want, sizeof(int32_t) * (size_t)n_out);
    }
    llm_state_free(alone);
    llm_state_free(batch);
    /* bad batches */
    s = llm_state_new_batch(m, 64, 1, 2, &err);
    struct llm_sequence seqs[3] = {{.prompt = prompt, .n_prompt = n, .pixels = pixels,
                                    .n_images = 1}};
    int32_t bad_out[3][8];
    for (int b = 0; b < 3; b++) {
        seqs[b] = seqs[0];
        seqs[b].out = bad_out[b];
    }
    struct llm_generate_options o = {.max_new_tokens = 8};
    assert_int_equal(llm_generate_batch(m, s, seqs, 3, &o), QUIRE_EINVAL); /* over max_batch */
    assert_int_equal(llm_generate_batch(m, s, seqs, 0, &o), QUIRE_EINVAL);
    seqs[1].n_images = 0; /* image tokens without an image */
    assert_int_equal(llm_generate_batch(m, s, seqs, 2, &o), QUIRE_EINVAL);
    assert_int_equal(seqs[0].n_out, 0);
    assert_null(llm_state_new_batch(m, 64, 1, 0, &err));
    assert_int_equal(err, QUIRE_EINVAL);
    assert_null(llm_state_new_batch(m, 64, 1, LLM_MAX_BATCH + 1, &err));
    assert_int_equal(err, QUIRE_EINVAL);
    assert_true(llm_state_bytes(m, 64, 2) == 2 * llm_state_bytes(m, 64, 1));
    llm_state_free(s);
    free(prompt);
    expected_close(&e);
    llm_model_free(m);
    otsl_fixture_close(&f);
}

/* An abort flag already set, or a deadline already passed, stops generation before the next
 * token, with its own error; the flag cleared, the same state decodes normally. */
static void test_llm__generate_interrupted(void **unused)
{
    struct llm_model *m = load_fixture();
    struct expected e;
    expected_open(&e);
    int err, n, n_want, n_out = -1;
    int32_t *ids = expected_ids(&e, "prompt_ids", &n);
    int32_t *want = expected_ids(&e, "greedy_ids", &n_want);
    const float *pixels = expected_tensor(&e, "pixel_values", 3 * 32 * 32);
    struct llm_state *s = llm_state_new_batch(m, 64, 1, 2, &err);
    int32_t out[2][32];
    float lp;
    atomic_int abort_flag = 1;
    struct llm_generate_options o = {.max_new_tokens = n_want, .abort_flag = &abort_flag};
    assert_int_equal(llm_generate(m, s, ids, n, pixels, 1, &o, out[0], &n_out, &lp),
                     QUIRE_ECANCELLED);
    assert_true(n_out <= 1);
    struct llm_sequence seqs[2];
    for (int b = 0; b < 2; b++)
        seqs[b] = (struct llm_sequence){.prompt = ids, .n_prompt = n, .pixels = pixels,
                                        .n_images = 1, .out = out[b]};
    assert_int_equal(llm_generate_batch(m, s, seqs, 2, &o), QUIRE_ECANCELLED);
    assert_true(seqs[0].n_out <= 1 && seqs[1].n_out <= 1);
    abort_flag = 0;
    o.deadline = now_seconds() - 1;
    assert_int_equal(llm_generate_batch(m, s, seqs, 2, &o), QUIRE_ETIMEOUT);
    assert_true(seqs[0].n_out <= 1 && seqs[1].n_out <= 1);
    o.deadline = now_seconds() + 3600;
    assert_int_equal(llm_generate_batch(m, s, seqs, 2, &o), 0);
    for (int b = 0; b < 2; b++) {
        assert_int_equal(seqs[b].n_out, n_want);
        assert_memory_equal(out[b], want, sizeof(int32_t) * (size_t)n_want);
    }
    llm_state_free(s);
    free(ids);
    free(want);
    expected_close(&e);
    llm_model_free(m);
}

struct worker {
    const struct llm_model *m;
    const int32_t *prompt;
    int n_prompt;
    const float *pixels;
    int32_t out[16];
    int n_out, err;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int err;
    struct llm_state *s = llm_state_new(w->m, 64, 1, &err);
    float lp;
    struct llm_generate_options o = {.max_new_tokens = 16};
    w->err = s ? llm_generate(w->m, s, w->prompt, w->n_prompt, w->pixels, 1, &o, w->out,
                              &w->n_out, &lp) : err;
    llm_state_free(s);
    return NULL;
}

/* One model shared read-only by threads, each with its own state. */
static void test_llm__threads_share_one_model(void **unused)
{
    struct llm_model *m = load_fixture();
    struct expected e;
    expected_open(&e);
    int n, n_want;
    int32_t *ids = expected_ids(&e, "prompt_ids", &n);
    int32_t *want = expected_ids(&e, "greedy_ids", &n_want);
    struct worker w[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct worker){.m = m, .prompt = ids, .n_prompt = n,
                               .pixels = expected_tensor(&e, "pixel_values", 3 * 32 * 32)};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].err, 0);
        assert_int_equal(w[i].n_out, n_want);
        assert_memory_equal(w[i].out, want, sizeof(int32_t) * n_want);
    }
    free(ids);
    free(want);
    expected_close(&e);
    llm_model_free(m);
}

static void test_llm__generate_rejects_bad_input(void **unused)
{
    struct llm_model *m = load_fixture();
    int err;
    struct llm_state *s = llm_state_new(m, 40, 1, &err);
    assert_non_null(s);
    struct llm_model_info info;
    llm_model_get_info(m, &info);
    float pixels[3 * 32 * 32] = {0};
    int32_t prompt[8] = {1, 2, info.image_token_id, info.image_token_id, info.image_token_id,
                         info.image_token_id, 3, 4};
    int32_t out[64];
    int n_out;
    float lp;
    struct llm_generate_options o = {.max_new_tokens = 4};
    assert_int_equal(llm_generate(m, s, prompt, 8, pixels, 1, &o, out, &n_out, &lp), 0);
    assert_int_equal(llm_generate(m, s, prompt, 8, NULL, 0, &o, out, &n_out, &lp), QUIRE_EINVAL);
    assert_int_equal(llm_generate(m, s, prompt, 6, pixels, 1, &o, out, &n_out, &lp), 0);
    assert_int_equal(llm_generate(m, s, prompt, 5, pixels, 1, &o, out, &n_out, &lp),
                     QUIRE_EINVAL);
    assert_int_equal(llm_generate(m, s, prompt, 8, pixels, 2, &o, out, &n_out, &lp),
                     QUIRE_EINVAL);
    assert_int_equal(llm_generate(m, s, prompt, 2, NULL, 0, &o, out, &n_out, &lp), 0);
    prompt[0] = info.vocab_size;
    assert_int_equal(llm_generate(m, s, prompt, 2, NULL, 0, &o, out, &n_out, &lp), QUIRE_EINVAL);
    prompt[0] = -1;
    assert_int_equal(llm_generate(m, s, prompt, 2, NULL, 0, &o, out, &n_out, &lp), QUIRE_EINVAL);
    prompt[0] = 1;
    o.max_new_tokens = 40; /* 2 + 40 - 1 > 40 */
    assert_int_equal(llm_generate(m, s, prompt, 2, NULL, 0, &o, out, &n_out, &lp), QUIRE_EINVAL);
    o.max_new_tokens = 39;
    assert_int_equal(llm_generate(m, s, prompt, 2, NULL, 0, &o, out, &n_out, &lp), 0);
    assert_int_equal(n_out, 39);
    assert_int_equal(llm_generate(m, s, prompt, 0, NULL, 0, &o, out, &n_out, &lp), QUIRE_EINVAL);
    assert_null(llm_state_new(m, 0, 0, &err));
    assert_int_equal(err, QUIRE_EINVAL);
    assert_null(llm_state_new(m, info.max_positions + 1, 0, &err));
    assert_null(llm_state_new(m, 8, 3, &err)); /* 3 images need 12 tokens */
    llm_state_free(s);
    llm_model_free(m);
}

static void test_llm__tied_lm_head(void **unused)
{
    char *cfg = config_with("\"tie_word_embeddings\": false,\n    \"max",
                            "\"tie_word_embeddings\": true,\n    \"max");
    char *dir = copy_model(cfg), *msg = NULL;
    int err, n;
    struct llm_model *m = llm_model_load(dir, &err, &msg);
    assert_non_null(m);
    assert_ptr_equal(m->text.lm_head, m->text.embed);
    struct expected e;
    expected_open(&e);
    struct llm_state *s = llm_state_new(m, 64, 1, &err);
    int32_t *ids = expected_ids(&e, "prompt_ids", &n);
    llm__encode_images(m, s, expected_tensor(&e, "pixel_values", 3 * 32 * 32), 1);
    int row = 0;
    llm__decoder_forward(m, s, ids, n, 0, s->image_features, &row, NULL);
    float d = max_abs_diff(s->text.logits, expected_tensor(&e, "tied_last_logits", 300), 300);
    assert_true(d < TOL);
    free(ids);
    llm_state_free(s);
    expected_close(&e);
    llm_model_free(m);
    free(cfg);
    remove_tmpdir(dir);
}

/* float -> half / bfloat16, round to nearest even (as torch's .to() does) */
static uint16_t to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return 0x7fc0;
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static uint16_t to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff, half;
    int exp = (int)((x >> 23) & 0xff) - 127 + 15;
    if (((x >> 23) & 0xff) == 0xff)
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - exp;
        uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        half = mant >> shift;
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    half = sign | (uint32_t)exp << 10 | mant >> 13;
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++;
    return (uint16_t)half;
}

/* Rewrites the fixture's model.safetensors into dir with every tensor as F16 or BF16; an odd
 * __metadata__ length makes the data start on an odd offset (so nothing is aligned). */
static void write_half_model(const char *dir, bool bf16)
{
    char *src = fixture("model.safetensors"), *msg = NULL;
    struct llm__safetensors st;
    assert_int_equal(llm__safetensors_open(&st, src, &msg), 0);
    GString *h = g_string_new("{\"__metadata__\":{\"format\":\"ptx\"}");
    size_t off = 0;
    for (size_t i = 0; i < st.n_tensors; i++) {
        const struct llm__tensor *t = &st.tensors[i];
        g_string_append_printf(h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name,
                               bf16 ? "BF16" : "F16");
        for (int d = 0; d < t->n_dims; d++)
            g_string_append_printf(h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        g_string_append_printf(h, "],\"data_offsets\":[%zu,%zu]}", off, off + 2 * t->n_elements);
        off += 2 * t->n_elements;
    }
    g_string_append(h, "}");
    if (h->len % 2 == 0)
        g_string_append(h, " ");
    char *path = q_asprintf("%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    uint64_t hlen = h->len;
    for (int i = 0; i < 8; i++)
        fputc((int)(hlen >> (8 * i)) & 0xff, f);
    fwrite(h->str, 1, h->len, f);
    for (size_t i = 0; i < st.n_tensors; i++) {
        const struct llm__tensor *t = &st.tensors[i];
        for (size_t k = 0; k < t->n_elements; k++) {
            float v;
            memcpy(&v, t->data + 4 * k, 4);
            uint16_t b = bf16 ? to_bf16(v) : to_f16(v);
            fputc(b & 0xff, f);
            fputc(b >> 8, f);
        }
    }
    fclose(f);
    g_string_free(h, TRUE);
    llm__safetensors_close(&st);
    free(path);
    free(src);
}

static void test_llm__half_precision_models(void **unused)
{
    struct expected e;
    expected_open(&e);
    for (int bf16 = 0; bf16 < 2; bf16++) {
        char *dir = copy_model(NULL), *msg = NULL;
        write_half_model(dir, bf16);
        int err, n;
        struct llm_model *m = llm_model_load(dir, &err, &msg);
        if (!m)
            fprintf(stderr, "%s\n", msg);
        assert_non_null(m);
        assert_int_equal(m->checkpoint.shards[0].tensors[0].dtype, bf16 ? LLM__BF16 : LLM__F16);
        struct llm_state *s = llm_state_new(m, 64, 1, &err);
        int32_t *ids = expected_ids(&e, "prompt_ids", &n);
        llm__encode_images(m, s, expected_tensor(&e, "pixel_values", 3 * 32 * 32), 1);
        int row = 0;
        llm__decoder_forward(m, s, ids, n, 0, s->image_features, &row, NULL);
        float d = max_abs_diff(s->text.logits,
                               expected_tensor(&e, bf16 ? "bf16_last_logits" : "f16_last_logits",
                                               300), 300);
        fprintf(stderr, "%s model: last logits max abs diff %g\n", bf16 ? "BF16" : "F16", d);
        assert_true(d < TOL);
        free(ids);
        llm_state_free(s);
        llm_model_free(m);
        remove_tmpdir(dir);
    }
    expected_close(&e);
}

static void test_llm__allocation_failures(void **unused)
{
    /* Fail the n-th allocation of load + state_new for every n until both succeed. */
    for (long n = 1;; n++) {
        int err = 0;
        char *msg = NULL;
        q_alloc_fail_after(n);
        struct llm_model *m = llm_model_load(fixture_dir(), &err, &msg);
        struct llm_state *s = m ? llm_state_new(m, 16, 1, &err) : NULL;
        q_alloc_fail_after(0);
        free(msg);
        if (m && s) {
            llm_state_free(s);
            llm_model_free(m);
            break;
        }
        assert_int_equal(err, QUIRE_ENOMEM);
        llm_model_free(m);
        assert_true(n < 10000);
    }
}

static struct llm_tokenizer *load_tokenizer(const char *path);

/* --- image preprocessing ------------------------------------------------------------------ */

static void check_preprocess(struct llm_model *m, struct expected *e, const char *name)
{
    char key[64];
    snprintf(key, sizeof(key), "image_%s_rgb", name);
    const struct llm__tensor *rgb = llm__safetensors_find(&e->st, key);
    snprintf(key, sizeof(key), "image_%s_layout", name);
    const struct llm__tensor *layout = llm__safetensors_find(&e->st, key);
    assert_non_null(rgb);
    assert_non_null(layout);
    int height = (int)rgb->shape[0], width = (int)rgb->shape[1];
    struct llm_image_options o;
    llm_image_options_default(m, &o);
    o.longest_edge = layout->data[2];
    o.split = layout->data[3];
    float *pixels;
    int n, rows, cols;
    assert_int_equal(llm_image_preprocess(m, &o, rgb->data, width, height, 3 * (size_t)width, 3,
                                          &pixels, &n, &rows, &cols), 0);
    assert_int_equal(rows, layout->data[0]);
    assert_int_equal(cols, layout->data[1]);
    assert_int_equal(n, rows * cols + 1);
    snprintf(key, sizeof(key), "image_%s_frames", name);
    size_t len = (size_t)n * 3 * 32 * 32;
    float d = max_abs_diff(pixels, expected_tensor(e, key, len), len);
    fprintf(stderr, "preprocess %s (%dx%d -> %d x %d tiles + global) max abs diff %g\n", name,
            width, height, rows, cols, d);
    assert_true(d < 1e-5f); /* one 8-bit level is 0.0078 after normalization */
    free(pixels);
}

static void test_llm__image_preprocess_matches_pil(void **unused)
{
    struct llm_model *m = load_fixture();
    struct expected e;
    expected_open(&e);
    check_preprocess(m, &e, "tall");
    check_preprocess(m, &e, "wide");
    /* bad input */
    struct llm_image_options o;
    llm_image_options_default(m, &o);
    uint8_t px[12] = {0};
    float *pixels;
    int n, rows, cols;
    assert_int_equal(llm_image_preprocess(m, &o, px, 0, 1, 3, 3, &pixels, &n, &rows, &cols),
                     QUIRE_EINVAL);
    assert_int_equal(llm_image_preprocess(m, &o, px, 2, 2, 5, 3, &pixels, &n, &rows, &cols),
                     QUIRE_EINVAL);
    assert_int_equal(llm_image_preprocess(m, &o, px, 2, 2, 8, 4, &pixels, &n, &rows, &cols),
                     QUIRE_EINVAL);
    /* gray = the same values in R, G and B; a crop is a pointer and the full stride */
    int gw = 37, gh = 23;
    uint8_t *gray = malloc((size_t)gw * gh), *as_rgb = malloc(3 * (size_t)gw * gh);
    for (int i = 0; i < gw * gh; i++)
        gray[i] = (uint8_t)(i * 7919 % 251);
    for (int i = 0; i < gw * gh; i++)
        memset(as_rgb + 3 * i, gray[i], 3);
    float *p1, *p2;
    int n2, r2, c2;
    assert_int_equal(llm_image_preprocess(m, &o, gray + gw + 1, gw - 2, gh - 1, (size_t)gw, 1,
                                          &p1, &n, &rows, &cols), 0);
    assert_int_equal(llm_image_preprocess(m, &o, as_rgb + 3 * (gw + 1), gw - 2, gh - 1,
                                          3 * (size_t)gw, 3, &p2, &n2, &r2, &c2), 0);
    assert_int_equal(n, n2);
    assert_memory_equal(p1, p2, sizeof(float) * 3 * 32 * 32 * n);
    free(p1);
    free(p2);
    free(gray);
    free(as_rgb);
    /* extreme aspect ratio: no empty side */
    uint8_t *line = calloc(3 * 4000, 1);
    assert_int_equal(llm_image_preprocess(m, &o, line, 4000, 1, 3 * 4000, 3, &pixels, &n, &rows,
                                          &cols), 0);
    assert_int_equal(rows, 1);
    assert_int_equal(cols, 4);
    free(pixels);
    free(line);
    for (long k = 1;; k++) { /* allocation failures */
        q_alloc_fail_after(k);
        int err = llm_image_preprocess(m, &o, px, 2, 2, 2, 1, &pixels, &n, &rows, &cols);
        q_alloc_fail_after(0);
        if (err == 0) {
            free(pixels);
            break;
        }
        assert_int_equal(err, QUIRE_ENOMEM);
    }
    expected_close(&e);
    llm_model_free(m);
}

static void test_llm__image_options_from_processor_config(void **unused)
{
    struct llm_model *m = load_fixture();
    struct llm_image_options o;
    char *dir = make_tmpdir(), *msg = NULL;
    assert_int_equal(llm_image_options_load(m, dir, &o, &msg), 0); /* no file: defaults */
    assert_int_equal(o.longest_edge, 128);
    assert_true(o.split);
    char *path = q_asprintf("%s/preprocessor_config.json", dir);
    const char *good = "{\"do_image_splitting\": false, \"image_mean\": [0.4, 0.5, 0.6], "
                       "\"image_std\": [0.25, 0.5, 1], \"max_image_size\": {\"longest_edge\": 32}, "
                       "\"resample\": 1, \"size\": {\"longest_edge\": 96}}";
    write_all(path, good, strlen(good));
    assert_int_equal(llm_image_options_load(m, dir, &o, &msg), 0);
    assert_int_equal(o.longest_edge, 96);
    assert_false(o.split);
    assert_float_equal(o.mean[2], 0.6, 1e-6);
    assert_float_equal(o.std[2], 1.0, 1e-6);
    const char *bad[] = {"{\"max_image_size\": {\"longest_edge\": 512}}", "{\"resample\": 3}",
                         "{\"image_mean\": [0.5, 0.5]}", "[1]", "{",
                         "{\"size\": {\"longest_edge\": 0}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_all(path, bad[i], strlen(bad[i]));
        assert_int_equal(llm_image_options_load(m, dir, &o, &msg), QUIRE_EMODEL);
        assert_non_null(strstr(msg, path));
        free(msg);
        msg = NULL;
    }
    unlink(path);
    free(path);
    rmdir(dir);
    free(dir);
    llm_model_free(m);
}

static void test_llm__image_prompt_layout(void **unused)
{
    char *s = llm_image_prompt(0, 0, 2);
    assert_string_equal(s, "<fake_token_around_image><global-img><image><image>"
                           "<fake_token_around_image>");
    free(s);
    s = llm_image_prompt(1, 2, 2);
    assert_string_equal(s, "<fake_token_around_image><row_1_col_1><image><image>"
                           "<fake_token_around_image><row_1_col_2><image><image>\n\n"
                           "<fake_token_around_image><global-img><image><image>"
                           "<fake_token_around_image>");
    free(s);
}

/* Page image -> preprocess -> prompt text -> tokenizer -> generate: the pieces fit together. */
static void test_llm__image_to_tokens_end_to_end(void **unused)
{
    struct llm_model *m = load_fixture();
    struct expected e;
    expected_open(&e);
    char *path = fixture("tokenizer.json");
    struct llm_tokenizer *t = load_tokenizer(path);
    const struct llm__tensor *rgb = llm__safetensors_find(&e.st, "image_wide_rgb");
    struct llm_image_options o;
    llm_image_options_default(m, &o);
    o.split = false; /* the tiny model's 128 positions hold one image and a short prompt */
    float *pixels;
    int n, rows, cols, err;
    assert_int_equal(llm_image_preprocess(m, &o, rgb->data, 20, 12, 60, 3, &pixels, &n, &rows,
                                          &cols), 0);
    char *image = llm_image_prompt(rows, cols, m->config.image_seq_len);
    char *text = q_asprintf("<|im_start|>User:%sConvert this table to OTSL.<end_of_utterance>\n"
                            "Assistant:", image);
    int32_t *ids;
    size_t n_ids;
    assert_int_equal(llm_tokenizer_encode(t, text, strlen(text), &ids, &n_ids), 0);
    struct llm_state *s = llm_state_new(m, 128, n, &err);
    assert_non_null(s);
    int32_t out[8], stop = llm_tokenizer_token_id(t, "<end_of_utterance>");
    int n_out;
    float lp;
    struct llm_generate_options go = {.max_new_tokens = 8, .stop_ids = &stop, .n_stop_ids = 1};
    assert_int_equal(llm_generate(m, s, ids, (int)n_ids, pixels, n, &go, out, &n_out, &lp), 0);
    assert_true(n_out >= 1 && n_out <= 8);
    assert_true(lp <= 0.0f);
    char *decoded;
    size_t len;
    assert_int_equal(llm_tokenizer_decode(t, out, (size_t)n_out, &decoded, &len), 0);

    /* llm_image_to_text does the same in one call (minus a final stop token) */
    char *text2;
    float lp2;
    assert_int_equal(llm_image_to_text(m, t, s, &o, rgb->data, 20, 12, 60, 3,
                                       "Convert this table to OTSL.", 8, &text2, &lp2), 0);
    if (n_out > 0 && out[n_out - 1] == stop)
        decoded[len - strlen("<end_of_utterance>")] = 0;
    assert_string_equal(text2, decoded);
    assert_float_equal(lp2, lp, 1e-6);
    free(text2);
    free(decoded);
    /* limits: more tiles than the state holds, more tokens than it holds */
    o.split = true;
    assert_int_equal(llm_image_to_text(m, t, s, &o, rgb->data, 20, 12, 60, 3, "x", 8, &text2,
                                       &lp2), QUIRE_ELIMIT);
    o.split = false;
    assert_int_equal(llm_image_to_text(m, t, s, &o, rgb->data, 20, 12, 60, 3, "x", 120, &text2,
                                       &lp2), QUIRE_ELIMIT);
    llm_state_free(s);
    free(ids);
    free(text);
    free(image);
    free(pixels);
    llm_tokenizer_free(t);
    free(path);
    expected_close(&e);
    llm_model_free(m);
}

/* --- tokenizer ------------------------------------------------------------------------------ */

static struct llm_tokenizer *load_tokenizer(const char *path)
{
    int err = 0;
    char *msg = NULL;
    struct llm_tokenizer *t = llm_tokenizer_load(path, &err, &msg);
    if (!t)
        fprintf(stderr, "tokenizer: %s: %s\n", err_str(err), msg ? msg : "");
    assert_non_null(t);
    free(msg);
    return t;
}

static void check_tokenizer_cases(const char *dir)
{
    char *path = q_asprintf("%s/tokenizer.json", dir), *json = q_asprintf("%s/expected.json", dir);
    struct llm_tokenizer *t = load_tokenizer(path);
    JsonParser *parser = json_parser_new();
    assert_true(json_parser_load_from_file(parser, json, NULL));
    JsonArray *cases = json_object_get_array_member(
        json_node_get_object(json_parser_get_root(parser)), "tokenizer_cases");
    for (guint i = 0; i < json_array_get_length(cases); i++) {
        JsonObject *c = json_array_get_object_element(cases, i);
        const char *text = json_object_get_string_member(c, "text");
        JsonArray *want = json_object_get_array_member(c, "ids");
        int32_t *ids;
        size_t n, len;
        assert_int_equal(llm_tokenizer_encode(t, text, strlen(text), &ids, &n), 0);
        bool same = n == json_array_get_length(want);
        for (size_t k = 0; same && k < n; k++)
            same = ids[k] == json_array_get_int_element(want, (guint)k);
        if (!same) {
            fprintf(stderr, "%s: encode(\"%s\") differs from bpe_ref.py:\n  got ", dir, text);
            for (size_t k = 0; k < n; k++)
                fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n");
        }
        assert_true(same);
        char *back;
        assert_int_equal(llm_tokenizer_decode(t, ids, n, &back, &len), 0);
        assert_int_equal(len, strlen(text));
        assert_string_equal(back, text);
        free(back);
        free(ids);
    }
    g_object_unref(parser);
    llm_tokenizer_free(t);
    free(path);
    free(json);
}

static void test_llm__tokenizer_matches_reference(void **unused)
{
    check_tokenizer_cases(fixture_dir());
    char *big = q_asprintf("%s/../bpe-1k", fixture_dir());
    check_tokenizer_cases(big);
    free(big);
}

static void test_llm__tokenizer_round_trips_any_bytes(void **unused)
{
    char *path = q_asprintf("%s/../bpe-1k/tokenizer.json", fixture_dir());
    struct llm_tokenizer *t = load_tokenizer(path);
    unsigned seed = 99;
    const char *alphabet[] = {"a", "e", " ", "  ", "\n", "1", "|", "'s", "\xc3\xa9", "\xe6\x9d\xb1",
                              "<image>", "<row_1_col_2>", "<", "\xff", "\xc3", "\x80", "row",
                              "\t", "\xf0\x9f\x98\x80", "'", "\xc2\xa0", "."};
    for (int round = 0; round < 300; round++) {
        char text[256];
        size_t len = 0;
        int parts = (int)(frand(&seed) * 10 + 10);
        for (int k = 0; k < parts; k++) {
            const char *a = alphabet[(seed >> 9) % (sizeof(alphabet) / sizeof(alphabet[0]))];
            frand(&seed);
            memcpy(text + len, a, strlen(a));
            len += strlen(a);
        }
        int32_t *ids;
        size_t n, back_len;
        char *back;
        assert_int_equal(llm_tokenizer_encode(t, text, len, &ids, &n), 0);
        assert_int_equal(llm_tokenizer_decode(t, ids, n, &back, &back_len), 0);
        assert_int_equal(back_len, len);
        assert_memory_equal(back, text, len);
        free(back);
        free(ids);
    }
    int32_t bad = llm_tokenizer_vocab_size(t);
    char *back;
    size_t back_len;
    assert_int_equal(llm_tokenizer_decode(t, &bad, 1, &back, &back_len), QUIRE_EINVAL);
    bad = -1;
    assert_int_equal(llm_tokenizer_decode(t, &bad, 1, &back, &back_len), QUIRE_EINVAL);
    llm_tokenizer_free(t);
    free(path);

    /* the model's special tokens */
    path = fixture("tokenizer.json");
    t = load_tokenizer(path);
    struct llm_model *m = load_fixture();
    struct llm_model_info info;
    llm_model_get_info(m, &info);
    assert_int_equal(llm_tokenizer_token_id(t, "<image>"), info.image_token_id);
    assert_int_equal(llm_tokenizer_vocab_size(t), info.vocab_size);
    assert_int_equal(llm_tokenizer_token_id(t, "<nope>"), -1);
    assert_int_equal(llm_tokenizer_token_id(t, "a"), 'a');
    llm_model_free(m);
    llm_tokenizer_free(t);
    free(path);
}

static void expect_tokenizer_error(const char *json, int want, const char *needle)
{
    char *dir = make_tmpdir(), *path = q_asprintf("%s/tokenizer.json", dir), *msg = NULL;
    int err = 0;
    write_all(path, json, strlen(json));
    struct llm_tokenizer *t = llm_tokenizer_load(path, &err, &msg);
    if (t || err != want || !msg || !strstr(msg, needle))
        fprintf(stderr, "tokenizer error: %d %s (want '%s')\n", err, msg ? msg : "(null)",
                needle);
    assert_null(t);
    assert_int_equal(err, want);
    assert_non_null(strstr(msg, needle));
    assert_non_null(strstr(msg, path));
    free(msg);
    free(path);
    remove_tmpdir(dir);
}

static void test_llm__tokenizer_rejects_bad_files(void **unused)
{
    char *path = fixture("tokenizer.json");
    size_t len;
    char *good = (char *)read_all(path, &len);
    free(path);
    expect_tokenizer_error("{", QUIRE_EMODEL, "tokenizer.json");
    expect_tokenizer_error("[]", QUIRE_EMODEL, "not a JSON object");
    expect_tokenizer_error("{\"model\": {\"type\": \"WordPiece\"}}", QUIRE_EMODEL, "BPE");
    struct { const char *from, *to, *needle; } edits[] = {
        {"\"type\": \"Digits\"", "\"type\": \"Punctuation\"", "pre_tokenizer"},
        {"\"!\": 33", "\"!\": \"x\"", "no integer id"},
        {"\"!\": 33", "\"!!\": 33", "byte 33"},
        {"\"!\": 33", "\"!\": 34", "appears twice"},
        {"\"!\": 33", "\"!\": 99999999", "out of range"},
        {"\"merges\": [\n   \"", "\"merges\": [\n   \"zzz ", "merges[0]"},
        {"\"id\": 290", "\"id\": \"290\"", "added_tokens[1]"},
        {"\"normalizer\": null", "\"normalizer\": {\"type\": \"NFC\"}", "normalizer"},
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        char *at = strstr(good, edits[i].from);
        if (!at)
            fprintf(stderr, "no '%s' in the fixture tokenizer\n", edits[i].from);
        assert_non_null(at);
        char *bad = q_asprintf("%.*s%s%s", (int)(at - good), good, edits[i].to,
                               at + strlen(edits[i].from));
        expect_tokenizer_error(bad, QUIRE_EMODEL, edits[i].needle);
        free(bad);
    }
    /* truncated anywhere: a clean error */
    for (size_t cut = 0; cut < len; cut += len / 37 + 1) {
        char *bad = q_strndup(good, cut);
        expect_tokenizer_error(bad, QUIRE_EMODEL, "tokenizer.json");
        free(bad);
    }
    free(good);
    int err;
    char *msg = NULL;
    assert_null(llm_tokenizer_load("/nonexistent/tokenizer.json", &err, &msg));
    assert_int_equal(err, QUIRE_ENOENT);
    free(msg);
}

static void test_llm__tokenizer_allocation_failures(void **unused)
{
    char *path = fixture("tokenizer.json");
    const char *text = "<image>| alpha | 12.5 | kg |<end_of_utterance> naïve";
    for (long n = 1;; n++) {
        int err = 0;
        char *msg = NULL;
        int32_t *ids = NULL;
        size_t n_ids;
        q_alloc_fail_after(n);
        struct llm_tokenizer *t = llm_tokenizer_load(path, &err, &msg);
        int e2 = t ? llm_tokenizer_encode(t, text, strlen(text), &ids, &n_ids) : err;
        q_alloc_fail_after(0);
        free(msg);
        free(ids);
        llm_tokenizer_free(t);
        if (e2 == 0)
            break;
        assert_int_equal(e2, QUIRE_ENOMEM);
        assert_true(n < 100000);
    }
    free(path);
}

/* --- line reader --------------------------------------------------------------------------- */

/* tests/fixtures/tiny-reader (train/make_fixtures.py): a random-weight reader written by
 * train/export.py's write_reader, with a 64 x 64 tile and what model.ctc_logits and the greedy
 * decoding give on it. The texts must match exactly (every sub-step's top two log-probabilities
 * are at least 0.01 apart), log-probabilities and confidences within TOL. */

static char *reader_dir(void) { return q_asprintf("%s/../tiny-reader", fixture_dir()); }

static struct llm_reader *load_reader(const char *dir)
{
    int err = 0;
    char *msg = NULL;
    struct llm_reader *r = llm_reader_load(dir, &err, &msg);
    if (!r)
        fail_msg("reader load: %s: %s", err_str(err), msg ? msg : "");
    free(msg);
    return r;
}

/* Copies the reader fixture into a new temporary directory, with config.json's text replaced
 * when `config` is not NULL. */
static char *copy_reader(const char *config)
{
    char *src_dir = reader_dir(), *dir = copy_folder(src_dir, config);
    free(src_dir);
    return dir;
}

/* The reader fixture's config.json with the first `from` replaced by `to`. */
static char *reader_config_with(const char *from, const char *to)
{
    char *dir = reader_dir(), *path = q_asprintf("%s/config.json", dir);
    size_t len;
    char *text = (char *)read_all(path, &len);
    char *at = strstr(text, from);
    assert_non_null(at);
    *at = 0;
    char *out = q_asprintf("%s%s%s", text, to, at + strlen(from));
    free(text);
    free(path);
    free(dir);
    return out;
}

static void expect_reader_error(const char *dir, int want_err, const char *needle)
{
    int err = 0;
    char *msg = NULL;
    struct llm_reader *r = llm_reader_load(dir, &err, &msg);
    if (r || err != want_err || !msg || !strstr(msg, dir) || (needle && !strstr(msg, needle)))
        fprintf(stderr, "reader error: %s: %s (want '%s')\n", err_str(err),
                msg ? msg : "(null)", needle ? needle : "");
    assert_null(r);
    assert_int_equal(err, want_err);
    assert_non_null(msg);
    assert_non_null(strstr(msg, dir));
    if (needle)
        assert_non_null(strstr(msg, needle));
    free(msg);
}

static void expect_reader_config_error(const char *from, const char *to, const char *needle)
{
    char *cfg = reader_config_with(from, to), *dir = copy_reader(cfg);
    expect_reader_error(dir, QUIRE_EMODEL, needle);
    remove_tmpdir(dir);
    free(cfg);
}

/* The fixture's tile (64 x 64 bytes, inside the mapped expected.safetensors). */
static const uint8_t *expected_tile(struct expected *e)
{
    const struct llm__tensor *t = llm__safetensors_find(&e->st, "tile");
    assert_non_null(t);
    assert_int_equal(t->n_bytes, 64 * 64);
    return t->data;
}

static void test_llm__reader_conformance(void **unused)
{
    char *dir = reader_dir();
    struct expected e;
    expected_open_in(&e, dir);
    struct llm_reader *r = load_reader(dir);
    struct llm_reader_info info;
    llm_reader_get_info(r, &info);
    assert_int_equal(info.image_size, 64);
    assert_int_equal(info.band_height, 32);
    assert_int_equal(info.n_bands, 2);
    assert_true(info.x_height == 9.0f);
    int err = -1;
    struct llm_reader_state *s = llm_reader_state_new(r, &err);
    assert_non_null(s);
    assert_int_equal(err, 0);

    const uint8_t *tile = expected_tile(&e);
    int classes = r->config.n_classes, steps = 4 * 4; /* 4 columns x ctc_steps 4 */
    assert_int_equal(classes, 21);
    const float *want_lp = expected_tensor(&e, "log_probs", (size_t)2 * steps * classes);
    JsonArray *want_texts = json_object_get_array_member(e.json, "texts");
    JsonArray *want_conf = json_object_get_array_member(e.json, "confidence");
    /* the tile as given, then inside a wider raster (stride 100): the same reading */
    uint8_t *wide = calloc(64 * 100, 1);
    for (int y = 0; y < 64; y++)
        memcpy(wide + y * 100, tile + y * 64, 64);
    for (int pass = 0; pass < 2; pass++) {
        char *texts[2] = {NULL, NULL};
        float conf[2] = {-1, -1};
        assert_int_equal(llm_reader_read(r, s, pass ? wide : tile, pass ? 100 : 64, texts,
                                         conf), 0);
        /* log_softmax of the head's scores, in double, against ctc_logits */
        double max_diff = 0;
        for (int row = 0; row < 2 * steps; row++) {
            const float *x = s->logits + (size_t)row * classes;
            double max = x[0], sum = 0;
            for (int k = 1; k < classes; k++)
                max = x[k] > max ? x[k] : max;
            for (int k = 0; k < classes; k++)
                sum += exp(x[k] - max);
            for (int k = 0; k < classes; k++) {
                double d = fabs(x[k] - max - log(sum) - want_lp[(size_t)row * classes + k]);
                max_diff = d > max_diff || isnan(d) ? d : max_diff;
            }
        }
        if (pass == 0)
            fprintf(stderr, "reader: log-probs max abs diff %g; texts '%s' '%s', confidence "
                    "%g %g\n", max_diff, texts[0], texts[1], conf[0], conf[1]);
        assert_true(max_diff < TOL);
        for (int b = 0; b < 2; b++) {
            assert_string_equal(texts[b], json_array_get_string_element(want_texts, b));
            assert_float_equal(conf[b], json_array_get_double_element(want_conf, b), TOL);
            free(texts[b]);
        }
    }
    /* confidence may be NULL */
    char *texts[2];
    assert_int_equal(llm_reader_read(r, s, tile, 64, texts, NULL), 0);
    assert_string_equal(texts[1], json_array_get_string_element(want_texts, 1));
    free(texts[0]);
    free(texts[1]);
    free(wide);
    llm_reader_state_free(s);
    llm_reader_free(r);
    llm_reader_state_free(NULL);
    llm_reader_free(NULL);
    expected_close(&e);
    free(dir);
}

/* A reader whose head always prefers the blank reads nothing: "" with confidence 1. */
static void test_llm__reader_empty_band(void **unused)
{
    char *dir = copy_reader(NULL), *path = q_asprintf("%s/model.safetensors", dir), *msg = NULL;
    struct llm__safetensors st;
    assert_int_equal(llm__safetensors_open(&st, path, &msg), 0);
    const struct llm__tensor *bias = llm__safetensors_find(&st, "ctc_head.bias");
    assert_non_null(bias);
    assert_int_equal(bias->dtype, LLM__F32);
    size_t offset = (size_t)(bias->data - (const uint8_t *)st.map), len;
    llm__safetensors_close(&st);
    uint8_t *data = read_all(path, &len);
    for (int step = 0; step < 4; step++) { /* class 0 of each sub-step */
        float big = 1000.0f;
        memcpy(data + offset + (size_t)step * 21 * sizeof(float), &big, sizeof(big));
    }
    write_all(path, data, len);
    free(data);
    struct llm_reader *r = load_reader(dir);
    int err;
    struct llm_reader_state *s = llm_reader_state_new(r, &err);
    assert_non_null(s);
    uint8_t white[64 * 64];
    memset(white, 255, sizeof(white));
    char *texts[2];
    float conf[2] = {0, 0};
    assert_int_equal(llm_reader_read(r, s, white, 64, texts, conf), 0);
    for (int b = 0; b < 2; b++) {
        assert_string_equal(texts[b], "");
        assert_true(conf[b] == 1.0f);
        free(texts[b]);
    }
    llm_reader_state_free(s);
    llm_reader_free(r);
    free(path);
    remove_tmpdir(dir);
}

static void test_llm__reader_rejects_bad_files(void **unused)
{
    expect_reader_config_error("\"model_type\": \"quire_reader\"", "\"model_type\": \"idefics3\"",
                               "model_type");
    expect_reader_config_error("\"model_type\": \"quire_reader\"", "\"other\": 1", "model_type");
    expect_reader_config_error("\"ctc_steps\": 4", "\"ctc_steps\": 0", "quire_reader.ctc_steps");
    expect_reader_config_error("\"ctc_steps\": 4", "\"ctc_steps\": 65", "quire_reader.ctc_steps");
    expect_reader_config_error("\"ctc_steps\": 4", "\"ctc_steps\": \"4\"",
                               "quire_reader.ctc_steps");
    expect_reader_config_error("\"ctc_steps\": 4", "\"steps\": 4",
                               "missing key quire_reader.ctc_steps");
    expect_reader_config_error("\"x_height\": 9.0", "\"x_height\": 0", "quire_reader.x_height");
    expect_reader_config_error("\"x_height\": 9.0", "\"x_height\": -9", "quire_reader.x_height");
    expect_reader_config_error("\"x_height\": 9.0", "\"x_height\": \"9\"",
                               "quire_reader.x_height");
    expect_reader_config_error("\"x_height\": 9.0", "\"xh\": 9.0",
                               "missing key quire_reader.x_height");
    expect_reader_config_error("\"quire_reader\": {", "\"reader\": {",
                               "missing key quire_reader");
    expect_reader_config_error("\"quire_reader\": {", "\"quire_reader\": [], \"r\": {",
                               "quire_reader: want an object");
    expect_reader_config_error("\"vision_config\": {", "\"vision\": {",
                               "missing key vision_config");
    expect_reader_config_error("\"num_channels\": 1", "\"num_channels\": 3",
                               "vision_config.num_channels");
    expect_reader_config_error("\"image_size\": 64", "\"image_size\": 48", "bands of two");
    expect_reader_config_error("\"hidden_size\": 32", "\"hidden_size\": 36",
                               "'model.vision_model.embeddings.patch_embedding.weight' has "
                               "shape (32, 1, 16, 16), config.json implies (36, 1, 16, 16)");
    /* the charset: missing, not an array, empty, a bad string, too many strings */
    expect_reader_config_error("\"charset\": [", "\"chars\": [",
                               "missing key quire_reader.charset");
    expect_reader_config_error("\"charset\": [", "\"charset\": \"abc\", \"c\": [",
                               "quire_reader.charset: want an array");
    expect_reader_config_error("\"charset\": [", "\"charset\": [], \"c\": [",
                               "quire_reader.charset: want an array");
    expect_reader_config_error("\"charset\": [", "\"charset\": [\"\", ",
                               "quire_reader.charset[0]");
    expect_reader_config_error("\"charset\": [", "\"charset\": [\"a\", 1, ",
                               "quire_reader.charset[1]");
    expect_reader_config_error("\"charset\": [", "\"charset\": [\"a\", null, ",
                               "quire_reader.charset[1]");
    expect_reader_config_error("\"charset\": [", "\"charset\": [[\"a\"], ",
                               "quire_reader.charset[0]");
    expect_reader_config_error("\"charset\": [", "\"charset\": [\"12345678901234567\", ",
                               "at most 16 bytes");
    for (int n = 4096; n <= 4097; n++) { /* the most strings allowed, and one more */
        char many[4097 * 4 + 64] = "\"charset\": [";
        size_t used = strlen(many);
        for (int i = 0; i < n; i++, used += 4)
            memcpy(many + used, "\"a\",", 4);
        strcpy(many + used - 1, "], \"c\": [");
        expect_reader_config_error("\"charset\": [", many,
                                   n == 4096 ? "config.json implies (16388, 64)"
                                             : "quire_reader.charset: want an array");
    }
    /* a charset or ctc_steps that does not match the head */
    expect_reader_config_error("\"charset\": [", "\"charset\": [\"x\", ",
                               "'ctc_head.weight' has shape (84, 64), config.json implies "
                               "(88, 64)");
    expect_reader_config_error("\"ctc_steps\": 4", "\"ctc_steps\": 3",
                               "'ctc_head.weight' has shape (84, 64), config.json implies "
                               "(63, 64)");
    /* invalid UTF-8 (a lone surrogate) is refused by the parser or by the charset check */
    char *cfg = reader_config_with("\"charset\": [", "\"charset\": [\"\\ud800\", ");
    char *dir = copy_reader(cfg);
    expect_reader_error(dir, QUIRE_EMODEL, NULL);
    remove_tmpdir(dir);
    free(cfg);
    dir = copy_reader("[1]");
    expect_reader_error(dir, QUIRE_EMODEL, "not a JSON object");
    remove_tmpdir(dir);

    /* the Idefics3 fixture is not a reader, and the reader is not an Idefics3 model (no
     * connector): both are clean errors */
    expect_reader_error(fixture_dir(), QUIRE_EMODEL, "model_type");
    char *rdir = reader_dir();
    int err = 0;
    char *msg = NULL;
    assert_null(llm_model_load(rdir, &err, &msg));
    assert_int_equal(err, QUIRE_EMODEL);
    assert_non_null(msg);
    free(msg);
    free(rdir);

    /* weights: absent, truncated at many offsets, one header byte flipped at a time */
    dir = copy_reader(NULL);
    char *path = q_asprintf("%s/model.safetensors", dir);
    size_t len;
    uint8_t *data = read_all(path, &len);
    unlink(path);
    expect_reader_error(dir, QUIRE_ENOENT, NULL);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | data[i];
    size_t cuts[] = {0, 1, 7, 8, 9, 8 + hlen / 2, 8 + hlen - 1, 8 + hlen, 8 + hlen + 1,
                     len / 2, len - 4, len - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        write_all(path, data, cuts[i]);
        expect_reader_error(dir, QUIRE_EMODEL, path);
    }
    flip_header_bytes(dir, path, data, len, hlen, 5, load_reader_err);
    free(data);
    free(path);
    remove_tmpdir(dir);
    err = 0;
    msg = NULL;
    assert_null(llm_reader_load("/nonexistent/reader", &err, &msg));
    assert_int_equal(err, QUIRE_ENOENT);
    free(msg);
}

static void test_llm__reader_allocation_failures(void **unused)
{
    /* Fail the n-th allocation of load, state_new and read for every n until all succeed; a
     * failed read leaves no string allocated (the leak checkers see to that). */
    char *dir = reader_dir();
    uint8_t tile[64 * 64];
    for (int i = 0; i < 64 * 64; i++)
        tile[i] = (uint8_t)(i * 7);
    for (long n = 1;; n++) {
        int err = 0;
        char *msg = NULL, *texts[2] = {NULL, NULL};
        q_alloc_fail_after(n);
        struct llm_reader *r = llm_reader_load(dir, &err, &msg);
        struct llm_reader_state *s = r ? llm_reader_state_new(r, &err) : NULL;
        if (s)
            err = llm_reader_read(r, s, tile, 64, texts, NULL);
        q_alloc_fail_after(0);
        free(msg);
        llm_reader_state_free(s);
        llm_reader_free(r);
        if (s && err == 0) {
            free(texts[0]);
            free(texts[1]);
            break;
        }
        assert_int_equal(err, QUIRE_ENOMEM);
        assert_null(texts[0]);
        assert_true(n < 10000);
    }
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm__linear_matches_naive),
        cmocka_unit_test(test_llm__norms_match_naive),
        cmocka_unit_test(test_llm__activations_match_naive),
        cmocka_unit_test(test_llm__attention_decode_matches_heads),
        cmocka_unit_test(test_llm__vector_kernels_match_naive),
        cmocka_unit_test(test_llm__rope_matches_naive),
        cmocka_unit_test(test_llm__attention_matches_naive),
        cmocka_unit_test(test_llm__half_floats_widen),
        cmocka_unit_test(test_llm__safetensors_reads_dtypes),
        cmocka_unit_test(test_llm__safetensors_rejects_bad_headers),
        cmocka_unit_test(test_llm__truncated_model_is_clean_error),
        cmocka_unit_test(test_llm__config_and_shape_errors),
        cmocka_unit_test(test_llm__patch_embedding_equals_conv),
        cmocka_unit_test(test_llm__vision_conformance),
        cmocka_unit_test(test_llm__prompt_logits_conformance),
        cmocka_unit_test(test_llm__greedy_conformance),
        cmocka_unit_test(test_llm__scalar_kernels),
        cmocka_unit_test(test_llm__sharded_checkpoint),
        cmocka_unit_test(test_llm__sharded_allocation_failures),
        cmocka_unit_test(test_llm__otsl_constraint_mask),
        cmocka_unit_test(test_llm__otsl_random_walks_parse),
        cmocka_unit_test(test_llm__otsl_generate),
        cmocka_unit_test(test_llm__batch_matches_alone),
        cmocka_unit_test(test_llm__generate_interrupted),
        cmocka_unit_test(test_llm__threads_share_one_model),
        cmocka_unit_test(test_llm__generate_rejects_bad_input),
        cmocka_unit_test(test_llm__tied_lm_head),
        cmocka_unit_test(test_llm__half_precision_models),
        cmocka_unit_test(test_llm__allocation_failures),
        cmocka_unit_test(test_llm__tokenizer_matches_reference),
        cmocka_unit_test(test_llm__tokenizer_round_trips_any_bytes),
        cmocka_unit_test(test_llm__tokenizer_rejects_bad_files),
        cmocka_unit_test(test_llm__tokenizer_allocation_failures),
        cmocka_unit_test(test_llm__image_preprocess_matches_pil),
        cmocka_unit_test(test_llm__image_options_from_processor_config),
        cmocka_unit_test(test_llm__image_prompt_layout),
        cmocka_unit_test(test_llm__image_to_tokens_end_to_end),
        cmocka_unit_test(test_llm__reader_conformance),
        cmocka_unit_test(test_llm__reader_empty_band),
        cmocka_unit_test(test_llm__reader_rejects_bad_files),
        cmocka_unit_test(test_llm__reader_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
