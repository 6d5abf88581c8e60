/*
 * llm/tokenizer.c - byte-level BPE from a Hugging Face tokenizer.json (GPT-2 / SmolLM2 style).
 *
 * Encoding: (1) added tokens ("<image>", "<end_of_utterance>", ...) are matched first, longest
 * match, and kept whole; (2) the text between them is pre-tokenized: optionally every numeric
 * character on its own (Digits(individual_digits)), then GPT-2's regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * written out as a scanner over code points (GLib supplies the Unicode categories); (3) each
 * piece's bytes become their byte-level symbols and the merges are applied, lowest rank first,
 * leftmost first. Decoding maps each token back to bytes. train/bpe_ref.py is the reference.
 *
 * NEEDSWORK: added tokens' lstrip/rstrip/single_word flags are ignored and normalizers are not
 * implemented (SmolLM2's tokenizer uses neither; a file with a normalizer is refused rather than
 * tokenized differently from transformers).
 *
 * Lookups are two open-addressing hash tables (strings -> id, id pair -> merge), allocated with
 * the q_ hook at load; the tokenizer is read-only afterwards.
 */
#include "llm_internal.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

struct str_slot {
    const char *key; /* NUL-terminated, owned by the tokenizer's token table */
    int32_t id;
};

struct pair_slot {
    uint64_t key;   /* (a << 32 | b) + 1; 0 = empty */
    int32_t rank;
    int32_t merged;
};

struct piece {
    char *text;  /* the token as written in tokenizer.json (byte-level symbols), owned */
    char *bytes; /* what it decodes to, owned */
    int len;     /* of bytes */
    bool added;
};

struct llm_tokenizer {
    struct piece *pieces; /* (n_ids), indexed by id; text NULL for unused ids */
    int n_ids;
    struct str_slot *vocab; /* cap_vocab slots: vocabulary and added tokens */
    size_t cap_vocab;
    struct pair_slot *merges;
    size_t cap_merges;
    int32_t *added;        /* ids of added tokens, longest content first */
    int n_added;
    uint8_t added_first[32]; /* bitmap of the first bytes of added tokens */
    int32_t byte_id[256];  /* the id of each single byte's symbol */
    bool split_digits;
    bool ignore_merges;
};

/* --- hash tables ------------------------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static size_t table_size(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    return cap;
}

static int32_t str_find(const struct llm_tokenizer *t, const char *s, size_t n)
{
    size_t mask = t->cap_vocab - 1;
    for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        const struct str_slot *e = &t->vocab[i];
        if (!e->key)
            return -1;
        if (strncmp(e->key, s, n) == 0 && e->key[n] == 0)
            return e->id;
    }
}

/* Returns false when the key is already present (a duplicate in the file). */
static bool str_insert(struct llm_tokenizer *t, const char *key, int32_t id)
{
    size_t mask = t->cap_vocab - 1, n = strlen(key);
    for (size_t i = hash_bytes(key, n) & mask;; i = (i + 1) & mask) {
        struct str_slot *e = &t->vocab[i];
        if (!e->key) {
            e->key = key;
            e->id = id;
            return true;
        }
        if (strcmp(e->key, key) == 0) {
            e->id = id; /* an added token may repeat a vocabulary entry: it wins */
            return false;
        }
    }
}

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)a << 32 | (uint32_t)b) + 1; }

static const struct pair_slot *pair_find(const struct llm_tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = pair_key(a, b);
    size_t mask = t->cap_merges - 1;
    for (size_t i = (key * 0x9E3779B97F4A7C15ull >> 20) & mask;; i = (i + 1) & mask) {
        if (t->merges[i].key == 0)
            return NULL;
        if (t->merges[i].key == key)
            return &t->merges[i];
    }
}

static void pair_insert(struct llm_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t m)
{
    uint64_t key = pair_key(a, b);
    size_t mask = t->cap_merges - 1;
    for (size_t i = (key * 0x9E3779B97F4A7C15ull >> 20) & mask;; i = (i + 1) & mask) {
        if (t->merges[i].key == key)
            return; /* a repeated merge keeps its first (lowest) rank */
        if (t->merges[i].key == 0) {
            t->merges[i] = (struct pair_slot){key, rank, m};
            return;
        }
    }
}

/* --- byte-level alphabet ---------------------------------------------------------------------- */

/* GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 upwards. */
static gunichar byte_to_unichar(int b)
{
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return (gunichar)b;
    int n = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)))
            n++;
    return (gunichar)(256 + n);
}

static int unichar_to_byte(gunichar c)
{
    if (c < 256 && byte_to_unichar((int)c) == c)
        return (int)c;
    if (c < 256 || c >= 256 + 68)
        return -1;
    for (int b = 0, n = 0; b < 256; b++)
        if (byte_to_unichar(b) >= 256 && n++ == (int)(c - 256))
            return b;
    return -1;
}

/* --- loading ---------------------------------------------------------------------------------- */

struct loader {
    struct llm_tokenizer *t;
    const char *path;
    char **msg;
    int err;
};

static int load_error(struct loader *l, int err, char *text)
{
    if (!l->err) {
        l->err = text ? err : QUIRE_ENOMEM;
        if (l->msg) {
            free(*l->msg);
            *l->msg = text;
            text = NULL;
        }
    }
    free(text);
    return l->err;
}

/* Turns a byte-level token string into its bytes; false when a symbol is not byte-level. */
static bool token_bytes(const char *text, char *out, int *len)
{
    int n = 0;
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
        int b = unichar_to_byte(g_utf8_get_char(p));
        if (b < 0)
            return false;
        out[n++] = (char)b;
    }
    *len = n;
    return true;
}

static int set_piece(struct loader *l, int32_t id, const char *text, bool added)
{
    struct llm_tokenizer *t = l->t;
    if (id < 0 || id >= t->n_ids)
        return load_error(l, QUIRE_EMODEL, q_asprintf("%s: token id %d out of range", l->path,
                                                      id));
    struct piece *p = &t->pieces[id];
    if (p->text && added && strcmp(p->text, text) == 0) {
        /* an added token that is also in the vocabulary: decodes to its content verbatim */
        p->added = true;
        p->len = (int)strlen(text);
        memcpy(p->bytes, text, (size_t)p->len + 1);
        return 0;
    }
    if (p->text)
        return load_error(l, QUIRE_EMODEL, q_asprintf("%s: token id %d appears twice", l->path,
                                                      id));
    p->text = q_strdup(text);
    p->bytes = q_malloc(strlen(text) + 1);
    if (!p->text || !p->bytes)
        return load_error(l, QUIRE_ENOMEM, NULL);
    p->added = added;
    if (added) {
        p->len = (int)strlen(text);
        memcpy(p->bytes, text, p->len + 1);
    } else if (!g_utf8_validate(text, -1, NULL) || !token_bytes(text, p->bytes, &p->len)) {
        return load_error(l, QUIRE_EMODEL, q_asprintf("%s: token %d is not byte-level BPE",
                                                      l->path, id));
    }
    return 0;
}

static int max_id(JsonObject *vocab, JsonArray *added)
{
    int max = -1;
    GList *names = json_object_get_members(vocab);
    for (GList *n = names; n; n = n->next) {
        JsonNode *v = json_object_get_member(vocab, n->data);
        if (JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_INT64 &&
            json_node_get_int(v) > max && json_node_get_int(v) < (1 << 24))
            max = (int)json_node_get_int(v);
    }
    g_list_free(names);
    for (guint i = 0; added && i < json_array_get_length(added); i++) {
        JsonNode *e = json_array_get_element(added, i);
        if (!JSON_NODE_HOLDS_OBJECT(e))
            continue;
        JsonNode *v = json_object_get_member(json_node_get_object(e), "id");
        if (v && JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_INT64 &&
            json_node_get_int(v) > max && json_node_get_int(v) < (1 << 24))
            max = (int)json_node_get_int(v);
    }
    return max;
}

static int load_vocab(struct loader *l, JsonObject *vocab)
{
    GList *names = json_object_get_members(vocab);
    for (GList *n = names; n && !l->err; n = n->next) {
        JsonNode *v = json_object_get_member(vocab, n->data);
        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_INT64) {
            load_error(l, QUIRE_EMODEL, q_asprintf("%s: vocab entry '%s' has no integer id",
                                                   l->path, (char *)n->data));
            break;
        }
        if (set_piece(l, (int32_t)json_node_get_int(v), n->data, false) == 0)
            str_insert(l->t, l->t->pieces[json_node_get_int(v)].text,
                       (int32_t)json_node_get_int(v));
    }
    g_list_free(names);
    return l->err;
}

static int by_length_desc(const void *a, const void *b, void *arg)
{
    const struct llm_tokenizer *t = arg;
    return t->pieces[*(const int32_t *)b].len - t->pieces[*(const int32_t *)a].len;
}

static int load_added(struct loader *l, JsonArray *added)
{
    struct llm_tokenizer *t = l->t;
    guint n = added ? json_array_get_length(added) : 0;
    if (!(t->added = q_calloc(n ? n : 1, sizeof(int32_t))))
        return load_error(l, QUIRE_ENOMEM, NULL);
    for (guint i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(added, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        JsonNode *id = o ? json_object_get_member(o, "id") : NULL;
        JsonNode *content = o ? json_object_get_member(o, "content") : NULL;
        if (!id || !content || !JSON_NODE_HOLDS_VALUE(id) || !JSON_NODE_HOLDS_VALUE(content) ||
            json_node_get_value_type(id) != G_TYPE_INT64 ||
            json_node_get_value_type(content) != G_TYPE_STRING ||
            !json_node_get_string(content)[0])
            return load_error(l, QUIRE_EMODEL, q_asprintf("%s: added_tokens[%u] needs an "
                                                          "integer id and a non-empty content",
                                                          l->path, i));
        int32_t tid = (int32_t)json_node_get_int(id);
        if (set_piece(l, tid, json_node_get_string(content), true))
            return l->err;
        str_insert(t, t->pieces[tid].text, tid);
        uint8_t first = (uint8_t)t->pieces[tid].text[0];
        t->added_first[first / 8] |= (uint8_t)(1u << (first % 8));
        t->added[t->n_added++] = tid;
    }
    g_qsort_with_data(t->added, t->n_added, sizeof(int32_t), by_length_desc, t);
    return 0;
}

static int load_merges(struct loader *l, JsonArray *merges)
{
    struct llm_tokenizer *t = l->t;
    guint n = json_array_get_length(merges);
    t->cap_merges = table_size(n);
    if (!(t->merges = q_calloc(t->cap_merges, sizeof(*t->merges))))
        return load_error(l, QUIRE_ENOMEM, NULL);
    for (guint i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(merges, i);
        const char *a = NULL, *b = NULL;
        char *joined = NULL;
        if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING) {
            const char *s = json_node_get_string(e), *sp = strchr(s, ' ');
            if (sp && !strchr(sp + 1, ' ')) {
                joined = q_strdup(s);
                if (!joined)
                    return load_error(l, QUIRE_ENOMEM, NULL);
                joined[sp - s] = 0;
                a = joined;
                b = joined + (sp - s) + 1;
            }
        } else if (JSON_NODE_HOLDS_ARRAY(e) && json_array_get_length(json_node_get_array(e)) == 2) {
            JsonArray *pair = json_node_get_array(e);
            JsonNode *x = json_array_get_element(pair, 0), *y = json_array_get_element(pair, 1);
            if (JSON_NODE_HOLDS_VALUE(x) && json_node_get_value_type(x) == G_TYPE_STRING &&
                JSON_NODE_HOLDS_VALUE(y) && json_node_get_value_type(y) == G_TYPE_STRING) {
                a = json_node_get_string(x);
                b = json_node_get_string(y);
            }
        }
        int32_t ia = a ? str_find(t, a, strlen(a)) : -1, ib = b ? str_find(t, b, strlen(b)) : -1;
        int32_t im = -1;
        if (ia >= 0 && ib >= 0) {
            char *ab = q_asprintf("%s%s", a, b);
            if (!ab) {
                free(joined);
                return load_error(l, QUIRE_ENOMEM, NULL);
            }
            im = str_find(t, ab, strlen(ab));
            free(ab);
        }
        free(joined);
        if (im < 0)
            return load_error(l, QUIRE_EMODEL, q_asprintf("%s: merges[%u] is malformed or names "
                                                          "tokens not in the vocabulary",
                                                          l->path, i));
        pair_insert(t, ia, ib, (int32_t)i, im);
    }
    return 0;
}

/* o[key] when it is a string, else NULL. */
static const char *get_str(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

/* a[i] when it is an object, else NULL. */
static JsonObject *get_obj_at(JsonArray *a, guint i)
{
    JsonNode *n = a && i < json_array_get_length(a) ? json_array_get_element(a, i) : NULL;
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static bool get_bool(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
           json_node_get_boolean(n);
}

/* Accepts ByteLevel, or Sequence[Digits(individual_digits), ByteLevel]. */
static int load_pre_tokenizer(struct loader *l, JsonObject *root)
{
    JsonNode *n = json_object_get_member(root, "pre_tokenizer");
    JsonObject *o = n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
    const char *type = get_str(o, "type");
    if (type && strcmp(type, "ByteLevel") == 0)
        return 0;
    if (type && strcmp(type, "Sequence") == 0) {
        JsonNode *pn = json_object_get_member(o, "pretokenizers");
        JsonArray *a = pn && JSON_NODE_HOLDS_ARRAY(pn) ? json_node_get_array(pn) : NULL;
        JsonObject *d = get_obj_at(a, 0), *b = get_obj_at(a, 1);
        if (a && json_array_get_length(a) == 2 && g_strcmp0(get_str(d, "type"), "Digits") == 0 &&
            get_bool(d, "individual_digits") && g_strcmp0(get_str(b, "type"), "ByteLevel") == 0) {
            l->t->split_digits = true;
            return 0;
        }
    }
    return load_error(l, QUIRE_EMODEL, q_asprintf("%s: pre_tokenizer is not supported (want "
                                                  "ByteLevel, optionally after Digits)", l->path));
}

static int load_json(struct loader *l, JsonObject *root)
{
    struct llm_tokenizer *t = l->t;
    JsonNode *mn = json_object_get_member(root, "model");
    JsonObject *model = mn && JSON_NODE_HOLDS_OBJECT(mn) ? json_node_get_object(mn) : NULL;
    JsonNode *vn = model ? json_object_get_member(model, "vocab") : NULL;
    JsonNode *gn = model ? json_object_get_member(model, "merges") : NULL;
    JsonNode *an = json_object_get_member(root, "added_tokens");
    const char *type = get_str(model, "type");
    if (!type || strcmp(type, "BPE") != 0 || !vn || !JSON_NODE_HOLDS_OBJECT(vn) || !gn ||
        !JSON_NODE_HOLDS_ARRAY(gn) || (an && !JSON_NODE_HOLDS_ARRAY(an)))
        return load_error(l, QUIRE_EMODEL, q_asprintf("%s: want a BPE model with vocab, merges "
                                                      "and an added_tokens array", l->path));
    JsonNode *norm = json_object_get_member(root, "normalizer");
    if (norm && !JSON_NODE_HOLDS_NULL(norm))
        return load_error(l, QUIRE_EMODEL, q_asprintf("%s: normalizer is not supported",
                                                      l->path));
    if (load_pre_tokenizer(l, root))
        return l->err;
    t->ignore_merges = get_bool(model, "ignore_merges");
    JsonObject *vocab = json_node_get_object(vn);
    JsonArray *added = an ? json_node_get_array(an) : NULL;
    t->n_ids = max_id(vocab, added) + 1;
    t->cap_vocab = table_size(json_object_get_size(vocab) + (added ? json_array_get_length(added)
                                                                   : 0));
    t->pieces = q_calloc(t->n_ids ? t->n_ids : 1, sizeof(*t->pieces));
    t->vocab = q_calloc(t->cap_vocab, sizeof(*t->vocab));
    if (!t->pieces || !t->vocab)
        return load_error(l, QUIRE_ENOMEM, NULL);
    if (load_vocab(l, vocab))
        return l->err;
    for (int b = 0; b < 256; b++) {
        char sym[8];
        int n = g_unichar_to_utf8(byte_to_unichar(b), sym);
        if ((t->byte_id[b] = str_find(t, sym, (size_t)n)) < 0)
            return load_error(l, QUIRE_EMODEL, q_asprintf("%s: the vocabulary lacks the symbol "
                                                          "of byte %d", l->path, b));
    }
    if (load_merges(l, json_node_get_array(gn)))
        return l->err;
    return load_added(l, added);
}

struct llm_tokenizer *llm_tokenizer_load(const char *path, int *err, char **msg)
{
    struct loader l = {NULL, path, msg, 0};
    GError *gerr = NULL;
    JsonParser *parser = json_parser_new();
    if (!json_parser_load_from_file(parser, path, &gerr)) {
        bool missing = g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT);
        load_error(&l, missing ? QUIRE_ENOENT : QUIRE_EMODEL,
                   q_asprintf("%s: %s", path, gerr->message));
        g_error_free(gerr);
        goto out;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        load_error(&l, QUIRE_EMODEL, q_asprintf("%s: not a JSON object", path));
        goto out;
    }
    if (!(l.t = q_calloc(1, sizeof(*l.t)))) {
        load_error(&l, QUIRE_ENOMEM, NULL);
        goto out;
    }
    load_json(&l, json_node_get_object(root));
out:
    g_object_unref(parser);
    if (l.err) {
        llm_tokenizer_free(l.t);
        l.t = NULL;
    }
    *err = l.err;
    return l.t;
}

void llm_tokenizer_free(struct llm_tokenizer *t)
{
    if (!t)
        return;
    for (int i = 0; t->pieces && i < t->n_ids; i++) {
        free(t->pieces[i].text);
        free(t->pieces[i].bytes);
    }
    free(t->pieces);
    free(t->vocab);
    free(t->merges);
    free(t->added);
    free(t);
}

/* --- encoding --------------------------------------------------------------------------------- */

struct ids {
    int32_t *v;
    size_t n, cap;
};

static int push(struct ids *ids, int32_t id)
{
    if (q_grow((void **)&ids->v, sizeof(int32_t), &ids->cap, ids->n + 1))
        return QUIRE_ENOMEM;
    ids->v[ids->n++] = id;
    return 0;
}

/* Applies the merges to the bytes of one pre-token. */
static int encode_word(const struct llm_tokenizer *t, const char *s, size_t n, struct ids *ids)
{
    if (t->ignore_merges) {
        /* tokenizers looks the whole word (as byte-level symbols) up first */
        char buf[256];
        size_t len = 0;
        for (size_t i = 0; i < n && len + 4 < sizeof(buf); i++)
            len += (size_t)g_unichar_to_utf8(byte_to_unichar((uint8_t)s[i]), buf + len);
        int32_t id = n * 4 < sizeof(buf) ? str_find(t, buf, len) : -1;
        if (id >= 0)
            return push(ids, id);
    }
    size_t start = ids->n;
    for (size_t i = 0; i < n; i++)
        if (push(ids, t->byte_id[(uint8_t)s[i]]))
            return QUIRE_ENOMEM;
    int32_t *sym = ids->v + start;
    size_t count = n;
    for (;;) {
        const struct pair_slot *best = NULL;
        size_t at = 0;
        for (size_t i = 0; i + 1 < count; i++) {
            const struct pair_slot *p = pair_find(t, sym[i], sym[i + 1]);
            if (p && (!best || p->rank < best->rank)) {
                best = p;
                at = i;
            }
        }
        if (!best)
            break;
        sym[at] = best->merged;
        memmove(sym + at + 1, sym + at + 2, sizeof(int32_t) * (count - at - 2));
        count--;
    }
    ids->n = start + count;
    return 0;
}

/* Code point classes of the GPT-2 regex; invalid UTF-8 bytes count as OTHER. */
enum cls { SPACE, LETTER, NUMBER, OTHER };

static bool is_white_space(gunichar c)
{
    return (c >= 0x9 && c <= 0xD) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static bool is_numeric(gunichar c)
{
    GUnicodeType type = g_unichar_type(c);
    return type == G_UNICODE_DECIMAL_NUMBER || type == G_UNICODE_LETTER_NUMBER ||
           type == G_UNICODE_OTHER_NUMBER;
}

/* The code point at s (n bytes left): its class and byte length. */
static enum cls classify(const char *s, size_t n, size_t *len, gunichar *out)
{
    gunichar c = g_utf8_get_char_validated(s, (gssize)n);
    if (c == (gunichar)-1 || c == (gunichar)-2) {
        *len = 1;
        *out = 0xFFFD;
        return OTHER;
    }
    *len = (size_t)(g_utf8_next_char(s) - s);
    *out = c;
    if (is_white_space(c))
        return SPACE;
    if (g_unichar_isalpha(c))
        return LETTER;
    if (is_numeric(c))
        return NUMBER;
    return OTHER;
}

/* Length of the GPT-2 regex match at s (n > 0 bytes). */
static size_t gpt2_match(const char *s, size_t n)
{
    if (s[0] == '\'' && n > 1) {
        static const char *const tails[] = {"s", "t", "re", "ve", "m", "ll", "d"};
        for (int i = 0; i < 7; i++) {
            size_t k = strlen(tails[i]);
            if (n > k && strncmp(s + 1, tails[i], k) == 0)
                return 1 + k;
        }
    }
    size_t len, j = 0;
    gunichar c;
    enum cls first = classify(s, n, &len, &c);
    if (s[0] == ' ' && n > 1) { /* " ?" before a letter, number or other run */
        enum cls next = classify(s + 1, n - 1, &len, &c);
        if (next != SPACE) {
            first = next;
            j = 1;
        } else {
            len = 1;
        }
    }
    if (first != SPACE) {
        size_t k = j;
        while (k < n && classify(s + k, n - k, &len, &c) == first)
            k += len;
        return k;
    }
    /* \s+(?!\S) | \s+ : a whitespace run; when a non-space follows, leave its last code point
     * to prefix the next word (unless the run is only one code point long). */
    size_t k = 0, last = 0;
    while (k < n && classify(s + k, n - k, &len, &c) == SPACE) {
        last = k;
        k += len;
    }
    if (k < n && last > 0)
        return last;
    return k;
}

static int encode_plain(const struct llm_tokenizer *t, const char *s, size_t n, struct ids *ids)
{
    size_t i = 0;
    while (i < n) {
        /* Digits(individual_digits): a numeric code point is a piece of its own */
        size_t end = n, len;
        gunichar c;
        if (t->split_digits) {
            for (size_t k = i; k < n; k += len) {
                enum cls cl = classify(s + k, n - k, &len, &c);
                if (cl == NUMBER) {
                    end = k == i ? k + len : k;
                    break;
                }
            }
        }
        while (i < end) {
            size_t m = gpt2_match(s + i, end - i);
            if (encode_word(t, s + i, m, ids))
                return QUIRE_ENOMEM;
            i += m;
        }
    }
    return 0;
}

/* The added token starting at s, longest first, or -1. */
static int32_t match_added(const struct llm_tokenizer *t, const char *s, size_t n)
{
    uint8_t b = (uint8_t)s[0];
    if (!(t->added_first[b / 8] & (1u << (b % 8))))
        return -1;
    for (int i = 0; i < t->n_added; i++) {
        const struct piece *p = &t->pieces[t->added[i]];
        if ((size_t)p->len <= n && memcmp(p->bytes, s, (size_t)p->len) == 0)
            return t->added[i];
    }
    return -1;
}

int llm_tokenizer_encode(const struct llm_tokenizer *t, const char *text, size_t len,
                         int32_t **out, size_t *n_out)
{
    struct ids ids = {0};
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        int32_t id = i < len ? match_added(t, text + i, len - i) : -1;
        if (id < 0 && i < len)
            continue;
        if (encode_plain(t, text + start, i - start, &ids) || (id >= 0 && push(&ids, id)))
            goto out_nomem;
        if (id >= 0) {
            i += (size_t)t->pieces[id].len - 1;
            start = i + 1;
        }
    }
    if (!ids.v && !(ids.v = q_malloc(sizeof(int32_t))))
        goto out_nomem;
    *out = ids.v;
    *n_out = ids.n;
    return 0;
out_nomem:
    free(ids.v);
    return QUIRE_ENOMEM;
}

int llm_tokenizer_decode(const struct llm_tokenizer *t, const int32_t *ids, size_t n, char **text,
                         size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_ids || !t->pieces[ids[i]].text)
            return QUIRE_EINVAL;
        total += (size_t)t->pieces[ids[i]].len;
    }
    char *s = q_malloc(total + 1);
    if (!s)
        return QUIRE_ENOMEM;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(s + at, t->pieces[ids[i]].bytes, (size_t)t->pieces[ids[i]].len);
        at += (size_t)t->pieces[ids[i]].len;
    }
    s[at] = 0;
    *text = s;
    *len = at;
    return 0;
}

int32_t llm_tokenizer_token_id(const struct llm_tokenizer *t, const char *token)
{
    return str_find(t, token, strlen(token));
}

int llm_tokenizer_vocab_size(const struct llm_tokenizer *t) { return t->n_ids; }

bool llm__tokenizer_piece(const struct llm_tokenizer *t, int32_t id, const char **bytes,
                          int *len, bool *added)
{
    if (id < 0 || id >= t->n_ids || !t->pieces[id].text)
        return false;
    *bytes = t->pieces[id].bytes;
    *len = t->pieces[id].len;
    *added = t->pieces[id].added;
    return true;
}
