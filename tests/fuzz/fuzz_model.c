/*
 * tests/fuzz/fuzz_model.c - libFuzzer harness for the model loader: safetensors, config.json
 * and model.safetensors.index.json (llm/safetensors.c, config.c, model.c).
 *
 * The first input byte picks what the rest is (mod 4):
 *   0  a .safetensors file on its own: llm__safetensors_open(), then every tensor widened
 *      (reads every byte the header claims)
 *   1  model.safetensors next to the tiny fixture's config.json: llm_model_load(), and when it
 *      loads, two greedy tokens (weights may be NaN or huge: no crash, ids in range)
 *   2  config.json next to the fixture's model.safetensors: the same
 *   3  model.safetensors.index.json next to the fixture's config.json and the fixture's weights
 *      split in two shards (shard-1.safetensors, shard-2.safetensors): the same
 * Files go to a private temporary directory. The fixture is read from tests/fixtures/tiny-idefics3
 * ($QUIRE_LLM_FIXTURES): run from the repository root (tests/fuzz/run.sh does).
 * Invariant checked beyond "no crash, no leak, no UB": a failed load sets an error message
 * that names a file, and a successful generate returns ids inside the vocabulary.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../llm/llm.h"
#include "fuzz_files.h"
#include "../../llm/llm_internal.h"

static uint8_t *fixture_config, *fixture_weights;
static size_t fixture_config_len, fixture_weights_len;

static void drop(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

/* The fixture's weights as two shards: header entries re-based; the first shard holds the
 * tensors whose data lies in the first half of the file. Written once at start-up. */
static void write_shards(void)
{
    char *msg = NULL;
    struct llm__safetensors st;
    char path[128];
    snprintf(path, sizeof(path), "%s/whole.safetensors", dir);
    put("whole.safetensors", fixture_weights, fixture_weights_len);
    if (llm__safetensors_open(&st, path, &msg) != 0)
        abort();
    size_t half = st.n_tensors / 2;
    for (int shard = 0; shard < 2; shard++) {
        size_t lo = shard ? half : 0, hi = shard ? st.n_tensors : half;
        size_t cap = 1 << 16, n = 0, off = 0;
        char *h = malloc(cap);
        n += (size_t)snprintf(h + n, cap - n, "{");
        for (size_t i = lo; i < hi; i++) {
            const struct llm__tensor *t = &st.tensors[i];
            n += (size_t)snprintf(h + n, cap - n, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                                  i > lo ? "," : "", t->name);
            for (int d = 0; d < t->n_dims; d++)
                n += (size_t)snprintf(h + n, cap - n, d ? ",%lld" : "%lld", (long long)t->shape[d]);
            n += (size_t)snprintf(h + n, cap - n, "],\"data_offsets\":[%zu,%zu]}", off,
                                  off + t->n_bytes);
            off += t->n_bytes;
        }
        n += (size_t)snprintf(h + n, cap - n, "}");
        while (n % 8)
            h[n++] = ' ';
        size_t total = 8 + n + off;
        uint8_t *file = malloc(total);
        uint64_t hl = n;
        memcpy(file, &hl, 8);
        memcpy(file + 8, h, n);
        for (size_t i = lo, o = 8 + n; i < hi; o += st.tensors[i].n_bytes, i++)
            memcpy(file + o, st.tensors[i].data, st.tensors[i].n_bytes);
        put(shard ? "shard-2.safetensors" : "shard-1.safetensors", file, total);
        free(file);
        free(h);
    }
    llm__safetensors_close(&st);
    drop("whole.safetensors");
}

static void remove_dir(void)
{
    const char *names[] = {"config.json", "model.safetensors", "model.safetensors.index.json",
                           "x.safetensors", "shard-1.safetensors", "shard-2.safetensors"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        drop(names[i]);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *fx = getenv("QUIRE_LLM_FIXTURES");
    char path[512];
    snprintf(path, sizeof(path), "%s/config.json", fx ? fx : "tests/fixtures/tiny-idefics3");
    fixture_config = slurp(path, &fixture_config_len);
    snprintf(path, sizeof(path), "%s/model.safetensors", fx ? fx : "tests/fixtures/tiny-idefics3");
    fixture_weights = slurp(path, &fixture_weights_len);
    snprintf(dir, sizeof(dir), "/tmp/fuzz_model.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    atexit(remove_dir);
    write_shards();
    return 0;
}

static void try_model(void)
{
    int err;
    char *msg = NULL;
    struct llm_model *m = llm_model_load(dir, &err, &msg);
    if (!m) {
        if (err == QUIRE_EMODEL && (!msg || !strstr(msg, dir)))
            abort(); /* an error message must name the file */
        free(msg);
        return;
    }
    struct llm_model_info info;
    llm_model_get_info(m, &info);
    struct llm_state *s = llm_state_new(m, 8, 0, &err);
    if (s) {
        int32_t prompt[2] = {0, info.vocab_size - 1}, out[2];
        int n_out;
        float lp;
        struct llm_generate_options o = {.max_new_tokens = 2};
        if (llm_generate(m, s, prompt, 2, NULL, 0, &o, out, &n_out, &lp) != 0)
            abort();
        for (int i = 0; i < n_out; i++)
            if (out[i] < 0 || out[i] >= info.vocab_size)
                abort();
        llm_state_free(s);
    }
    llm_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 4;
    data++, size--;
    char path[128];
    char *msg = NULL;
    switch (mode) {
    case 0: {
        put("x.safetensors", data, size);
        snprintf(path, sizeof(path), "%s/x.safetensors", dir);
        struct llm__safetensors st;
        if (llm__safetensors_open(&st, path, &msg) == 0) {
            float buf[256];
            for (size_t i = 0; i < st.n_tensors; i++) {
                const struct llm__tensor *t = &st.tensors[i];
                if (t->dtype == LLM__OTHER)
                    continue;
                size_t esize = t->dtype == LLM__F32 ? 4 : 2;
                for (size_t done = 0; done < t->n_elements; done += 256) {
                    size_t k = t->n_elements - done < 256 ? t->n_elements - done : 256;
                    llm__to_f32(buf, t->data + done * esize, t->dtype, k);
                }
            }
            llm__safetensors_close(&st);
        }
        free(msg);
        drop("x.safetensors");
        break;
    }
    case 1:
        put("config.json", fixture_config, fixture_config_len);
        put("model.safetensors", data, size);
        try_model();
        break;
    case 2:
        put("config.json", data, size);
        put("model.safetensors", fixture_weights, fixture_weights_len);
        try_model();
        break;
    case 3:
        put("config.json", fixture_config, fixture_config_len);
        drop("model.safetensors");
        put("model.safetensors.index.json", data, size);
        try_model();
        drop("model.safetensors.index.json");
        break;
    }
    return 0;
}
