/*
 * tests/fuzz/fuzz_tokenizer.c - libFuzzer harness for the tokenizer.json loader and the BPE
 * (llm/tokenizer.c).
 *
 * The input is a tokenizer.json. When it loads, a fixed set of texts (special tokens, digits,
 * spaces, invalid UTF-8) and the input's own first bytes are encoded and every id decoded;
 * checked beyond "no crash, no leak, no UB": encoded ids lie inside the vocabulary (decoding an
 * id the file leaves unused may fail, but cleanly).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../llm/llm.h"

static char path[64];

static void remove_file(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(path, sizeof(path), "/tmp/fuzz_tokenizer.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    atexit(remove_file);
    return 0;
}

static void check_encode(const struct llm_tokenizer *tok, const char *text, size_t len)
{
    int32_t *ids = NULL;
    size_t n = 0;
    if (llm_tokenizer_encode(tok, text, len, &ids, &n) != 0)
        return;
    int vocab = llm_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            abort();
    char *out = NULL;
    size_t out_len;
    if (llm_tokenizer_decode(tok, ids, n, &out, &out_len) == 0)
        free(out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    int err;
    char *msg = NULL;
    struct llm_tokenizer *tok = llm_tokenizer_load(path, &err, &msg);
    free(msg);
    if (!tok)
        return 0;
    static const char *texts[] = {
        "<|im_start|>User:<image><image>Convert table to OTSL.<end_of_utterance>\nAssistant:",
        "<otsl><fcel>12,345.67<ecel><lcel><nl></otsl>", "  \t\n  x  ", "don't we'll 2024",
        "\xff\xfe\xc3(\xe2\x82", "日本語 ÄÖÜ ß", "",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        check_encode(tok, texts[i], strlen(texts[i]));
    check_encode(tok, (const char *)data, size < 256 ? size : 256);
    int vocab = llm_tokenizer_vocab_size(tok);
    for (int32_t id = 0; id < vocab && id < 4096; id++) {
        char *out = NULL;
        size_t len;
        if (llm_tokenizer_decode(tok, &id, 1, &out, &len) == 0)
            free(out);
    }
    llm_tokenizer_free(tok);
    return 0;
}
