/*
 * llm/safetensors.c - maps a .safetensors file and validates every byte of its header before
 * anything points into it.
 *
 * Why a hand-written reader: the format is tiny (u64 header length, JSON header, raw data), and
 * a model file is input like any other: a truncated download or a hostile file must give an
 * error naming the file and the tensor, never a read past the map. json-glib parses the header.
 */
#include "llm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int dtype_from_name(const char *s, enum llm__dtype *dtype, size_t *size)
{
    static const struct { const char *name; enum llm__dtype dtype; size_t size; } table[] = {
        {"F32", LLM__F32, 4},   {"F16", LLM__F16, 2},     {"BF16", LLM__BF16, 2},
        {"F64", LLM__OTHER, 8}, {"I64", LLM__OTHER, 8},   {"U64", LLM__OTHER, 8},
        {"I32", LLM__OTHER, 4}, {"U32", LLM__OTHER, 4},   {"I16", LLM__OTHER, 2},
        {"U16", LLM__OTHER, 2}, {"I8", LLM__OTHER, 1},    {"U8", LLM__OTHER, 1},
        {"BOOL", LLM__OTHER, 1}, {"F8_E4M3", LLM__OTHER, 1}, {"F8_E5M2", LLM__OTHER, 1},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(s, table[i].name) == 0) {
            *dtype = table[i].dtype;
            *size = table[i].size;
            return 0;
        }
    }
    return -1;
}

/* A JSON integer (not a float, not a string) that is >= 0. */
static bool get_uint(JsonNode *node, uint64_t *out)
{
    if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
        return false;
    gint64 v = json_node_get_int(node);
    if (v < 0)
        return false;
    *out = (uint64_t)v;
    return true;
}

/* Fills t from the header entry; data_start/data_size locate the data block in the map.
 * Returns NULL or an error text (static) for the caller to prefix with file and tensor. */
static const char *parse_entry(struct llm__tensor *t, JsonNode *node, const uint8_t *data_start,
                               uint64_t data_size, uint64_t *begin_out)
{
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return "entry is not a JSON object";
    JsonObject *o = json_node_get_object(node);
    JsonNode *dn = json_object_get_member(o, "dtype");
    if (!dn || !JSON_NODE_HOLDS_VALUE(dn) || json_node_get_value_type(dn) != G_TYPE_STRING)
        return "missing or non-string \"dtype\"";
    size_t esize;
    if (dtype_from_name(json_node_get_string(dn), &t->dtype, &esize) != 0)
        return "unknown dtype";
    JsonNode *sn = json_object_get_member(o, "shape");
    if (!sn || !JSON_NODE_HOLDS_ARRAY(sn))
        return "missing or non-array \"shape\"";
    JsonArray *shape = json_node_get_array(sn);
    guint nd = json_array_get_length(shape);
    if (nd > LLM__MAX_DIMS)
        return "more than 4 dimensions";
    t->n_dims = (int)nd;
    uint64_t n = 1;
    for (guint i = 0; i < nd; i++) {
        uint64_t d;
        if (!get_uint(json_array_get_element(shape, i), &d))
            return "shape entry is not a non-negative integer";
        if (d != 0 && n > UINT64_MAX / d)
            return "shape overflows";
        n *= d;
        t->shape[i] = (int64_t)d;
    }
    if (n > SIZE_MAX / esize || n * esize > data_size)
        return "shape is larger than the file's data";
    JsonNode *on = json_object_get_member(o, "data_offsets");
    if (!on || !JSON_NODE_HOLDS_ARRAY(on) || json_array_get_length(json_node_get_array(on)) != 2)
        return "missing or malformed \"data_offsets\" (want [begin, end])";
    uint64_t begin, end;
    JsonArray *offs = json_node_get_array(on);
    if (!get_uint(json_array_get_element(offs, 0), &begin) ||
        !get_uint(json_array_get_element(offs, 1), &end))
        return "data_offsets are not non-negative integers";
    if (begin > end)
        return "data_offsets begin after they end";
    if (end > data_size)
        return "data_offsets run past the end of the file";
    if (end - begin != n * esize)
        return "data_offsets length does not match dtype and shape";
    t->n_elements = (size_t)n;
    t->n_bytes = (size_t)(end - begin);
    t->data = data_start + begin;
    *begin_out = begin;
    return NULL;
}

static int by_offset(const void *a, const void *b)
{
    const struct llm__tensor *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data ? 1 : 0;
}

static int fail(char **msg, int err, char *text)
{
    if (msg) {
        free(*msg);
        *msg = text;
    } else {
        free(text);
    }
    return err;
}

static int map_file(struct llm__safetensors *st, const char *path, char **msg)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return fail(msg, e == ENOENT ? QUIRE_ENOENT : QUIRE_EIO,
                    q_asprintf("%s: cannot open: %s", path, strerror(e)));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fail(msg, QUIRE_EIO, q_asprintf("%s: not a regular file", path));
    }
    if (sb.st_size < 8) {
        close(fd);
        return fail(msg, QUIRE_EMODEL,
                    q_asprintf("%s: %lld bytes is too short for a safetensors file", path,
                               (long long)sb.st_size));
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return fail(msg, QUIRE_EIO, q_asprintf("%s: mmap failed: %s", path, strerror(errno)));
    st->map = map;
    st->map_size = (size_t)sb.st_size;
    return 0;
}

static int parse_header(struct llm__safetensors *st, const char *path, char **msg)
{
    const uint8_t *base = st->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | base[i];
    if (hlen > LLM__MAX_HEADER)
        return fail(msg, QUIRE_EMODEL,
                    q_asprintf("%s: header length %llu is over the 100 MiB limit", path,
                               (unsigned long long)hlen));
    if (hlen > st->map_size - 8)
        return fail(msg, QUIRE_EMODEL,
                    q_asprintf("%s: header length %llu runs past the end of the file (%zu "
                               "bytes): truncated?", path, (unsigned long long)hlen,
                               st->map_size));
    const uint8_t *data = base + 8 + hlen;
    uint64_t data_size = st->map_size - 8 - hlen;

    int err = 0;
    GError *gerr = NULL;
    JsonParser *parser = json_parser_new();
    if (!json_parser_load_from_data(parser, (const char *)base + 8, (gssize)hlen, &gerr)) {
        err = fail(msg, QUIRE_EMODEL, q_asprintf("%s: header is not valid JSON: %s", path,
                                                 gerr ? gerr->message : "?"));
        goto out_parser;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        err = fail(msg, QUIRE_EMODEL, q_asprintf("%s: header is not a JSON object", path));
        goto out_parser;
    }
    JsonObject *obj = json_node_get_object(root);
    GList *names = json_object_get_members(obj);
    size_t n = g_list_length(names);
    st->tensors = q_calloc(n, sizeof(*st->tensors));
    if (!st->tensors) {
        err = QUIRE_ENOMEM;
        goto out_names;
    }
    for (GList *l = names; l; l = l->next) {
        const char *name = l->data;
        if (strcmp(name, "__metadata__") == 0)
            continue;
        struct llm__tensor *t = &st->tensors[st->n_tensors];
        uint64_t begin;
        const char *why = parse_entry(t, json_object_get_member(obj, name), data, data_size,
                                      &begin);
        if (why) {
            err = fail(msg, QUIRE_EMODEL, q_asprintf("%s: tensor '%s': %s", path, name, why));
            goto out_names;
        }
        if (!(t->name = q_strdup(name))) {
            err = QUIRE_ENOMEM;
            goto out_names;
        }
        st->n_tensors++;
    }
    qsort(st->tensors, st->n_tensors, sizeof(*st->tensors), by_offset);
    for (size_t i = 1; i < st->n_tensors; i++) {
        const struct llm__tensor *a = &st->tensors[i - 1], *b = &st->tensors[i];
        if (a->data + a->n_bytes > b->data) {
            err = fail(msg, QUIRE_EMODEL, q_asprintf("%s: tensors '%s' and '%s' overlap", path,
                                                     a->name, b->name));
            goto out_names;
        }
    }
out_names:
    g_list_free(names);
out_parser:
    if (gerr)
        g_error_free(gerr);
    g_object_unref(parser);
    return err;
}

int llm__safetensors_open(struct llm__safetensors *st, const char *path, char **msg)
{
    memset(st, 0, sizeof(*st));
    int err = map_file(st, path, msg);
    if (err)
        return err;
    if (!(st->path = q_strdup(path))) {
        err = QUIRE_ENOMEM;
        goto out_close;
    }
    if ((err = parse_header(st, path, msg)))
        goto out_close;
    return 0;
out_close:
    llm__safetensors_close(st);
    return err;
}

void llm__safetensors_close(struct llm__safetensors *st)
{
    for (size_t i = 0; i < st->n_tensors; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    free(st->path);
    if (st->map)
        munmap(st->map, st->map_size);
    memset(st, 0, sizeof(*st));
}

const struct llm__tensor *llm__safetensors_find(const struct llm__safetensors *st,
                                                const char *name)
{
    /* Linear: a model has a few hundred tensors and this runs once per tensor at load. */
    for (size_t i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

float llm__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalize */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | exp << 23 | (mant & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float llm__bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void llm__to_f32(float *out, const uint8_t *data, enum llm__dtype dtype, size_t n)
{
    /* safetensors data is little-endian; so is every machine we build for. */
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        switch (dtype) {
        case LLM__F32:
            memcpy(&out[i], data + 4 * i, 4);
            break;
        case LLM__F16:
            memcpy(&h, data + 2 * i, 2);
            out[i] = llm__f16_to_f32(h);
            break;
        case LLM__BF16:
            memcpy(&h, data + 2 * i, 2);
            out[i] = llm__bf16_to_f32(h);
            break;
        case LLM__OTHER:
            out[i] = 0.0f; /* callers check the dtype first */
            break;
        }
    }
}
