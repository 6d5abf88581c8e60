/*
 * tests/fuzz/fuzz_reader.c - libFuzzer harness for the line reader's loader (llm/reader.c and
 * the reader half of llm/config.c): a reader folder is config.json + model.safetensors.
 *
 * The first input byte picks what the rest is (mod 2):
 *   0  config.json next to the tiny reader fixture's model.safetensors
 *   1  model.safetensors next to the fixture's config.json
 * then llm_reader_load(), and when it loads, a white tile and a tile of the input's bytes are
 * read (weights may be NaN or huge: no crash, every band's text valid UTF-8 of charset strings).
 * Files go to a private temporary directory; the fixture is read from tests/fixtures/tiny-reader:
 * run from the repository root (tests/fuzz/run.sh does).
 * Invariant checked beyond "no crash, no leak, no UB": a failed load sets an error message
 * (or reports QUIRE_ENOMEM), and a successful read returns confidences in [0, 1] or NaN.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../llm/llm.h"
#include "fuzz_files.h"

static uint8_t *fixture_config, *fixture_weights;
static size_t fixture_config_len, fixture_weights_len;

static void remove_dir(void)
{
    const char *names[] = {"config.json", "model.safetensors"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fixture_config = slurp("tests/fixtures/tiny-reader/config.json", &fixture_config_len);
    fixture_weights = slurp("tests/fixtures/tiny-reader/model.safetensors", &fixture_weights_len);
    snprintf(dir, sizeof(dir), "/tmp/fuzz_reader.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    atexit(remove_dir);
    return 0;
}

static void read_tile(struct llm_reader *r, const struct llm_reader_info *in, const uint8_t *fill,
                      size_t fill_len)
{
    int err = 0;
    struct llm_reader_state *st = llm_reader_state_new(r, &err);
    if (!st)
        return;
    size_t n = (size_t)in->image_size * (size_t)in->image_size;
    uint8_t *tile = malloc(n);
    for (size_t i = 0; i < n; i++)
        tile[i] = fill_len ? fill[i % fill_len] : 255;
    char **texts = calloc((size_t)in->n_bands, sizeof *texts);
    float *conf = calloc((size_t)in->n_bands, sizeof *conf);
    if (llm_reader_read(r, st, tile, (size_t)in->image_size, texts, conf) == 0) {
        for (int b = 0; b < in->n_bands; b++) {
            if (!texts[b] || !g_utf8_validate(texts[b], -1, NULL))
                abort();
            if (conf[b] == conf[b] && (conf[b] < 0 || conf[b] > 1.0001f))
                abort();
            free(texts[b]);
        }
    }
    free(texts);
    free(conf);
    free(tile);
    llm_reader_state_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 2;
    put("config.json", which == 0 ? data + 1 : fixture_config,
        which == 0 ? size - 1 : fixture_config_len);
    put("model.safetensors", which == 1 ? data + 1 : fixture_weights,
        which == 1 ? size - 1 : fixture_weights_len);
    int err = 0;
    char *msg = NULL;
    struct llm_reader *r = llm_reader_load(dir, &err, &msg);
    if (!r) {
        if (err != QUIRE_ENOMEM && !msg)
            abort();
        free(msg);
        return 0;
    }
    struct llm_reader_info in;
    llm_reader_get_info(r, &in);
    if (in.n_bands < 1 || in.image_size < 1 || in.image_size > 8192)
        abort();
    if (in.image_size <= 512) {
        read_tile(r, &in, NULL, 0);
        read_tile(r, &in, data + 1, size - 1);
    }
    llm_reader_free(r);
    return 0;
}
