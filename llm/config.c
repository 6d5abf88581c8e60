/*
 * llm/config.c - reads an Idefics3 config.json, and a line reader's (the same vision_config
 * plus a quire_reader section).
 *
 * transformers writes only the keys that differ from a config class's defaults, so an absent key
 * takes the default of Idefics3VisionConfig / LlamaConfig / Idefics3Config. Every value that
 * sizes a buffer is range-checked here; the tensor shapes are then checked against these values
 * when the weights are bound (model.c), so a wrong default shows up as a clear shape error.
 */
#include "llm_internal.h"

#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM (1 << 16) /* bounds every size so products cannot overflow an int */

struct reader {
    const char *path;
    char **msg;
    int err;
};

static void set_error(struct reader *r, char *text)
{
    if (r->err == 0) {
        r->err = text ? QUIRE_EMODEL : QUIRE_ENOMEM;
        if (r->msg) {
            free(*r->msg);
            *r->msg = text;
            return;
        }
    }
    free(text);
}

static int get_int(struct reader *r, JsonObject *o, const char *section, const char *key,
                   int def, int min, int max)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    if (!n)
        return def;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < min || json_node_get_int(n) > max) {
        set_error(r, q_asprintf("%s: %s%s: want an integer in [%d, %d]", r->path, section, key,
                                min, max));
        return def;
    }
    return (int)json_node_get_int(n);
}

static float get_float(struct reader *r, JsonObject *o, const char *section, const char *key,
                       double def, double min, double max)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    if (!n)
        return (float)def;
    GType t = JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_INVALID;
    double v = t == G_TYPE_DOUBLE ? json_node_get_double(n)
               : t == G_TYPE_INT64 ? (double)json_node_get_int(n) : min - 1;
    if (!(v >= min && v <= max)) {
        set_error(r, q_asprintf("%s: %s%s: want a number in [%g, %g]", r->path, section, key, min,
                                max));
        return (float)def;
    }
    return (float)v;
}

static bool get_bool(struct reader *r, JsonObject *o, const char *section, const char *key,
                     bool def)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    if (!n)
        return def;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
        set_error(r, q_asprintf("%s: %s%s: want true or false", r->path, section, key));
        return def;
    }
    return json_node_get_boolean(n);
}

/* A string key that, when present, must equal `want` (what the engine implements). */
static void expect_string(struct reader *r, JsonObject *o, const char *section, const char *key,
                          const char *want)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING ||
        strcmp(json_node_get_string(n), want) != 0)
        set_error(r, q_asprintf("%s: %s%s: only \"%s\" is supported", r->path, section, key,
                                want));
}

static JsonObject *get_object(struct reader *r, JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n)
        return NULL;
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        set_error(r, q_asprintf("%s: %s: want an object", r->path, key));
        return NULL;
    }
    return json_node_get_object(n);
}

static void read_vision(struct reader *r, JsonObject *v, struct llm_vision_config *c)
{
    const char *s = "vision_config.";
    c->dim = get_int(r, v, s, "hidden_size", 1152, 1, MAX_DIM);
    c->hidden_dim = get_int(r, v, s, "intermediate_size", 3072, 1, MAX_DIM);
    c->n_layers = get_int(r, v, s, "num_hidden_layers", 12, 1, 1024);
    c->n_heads = get_int(r, v, s, "num_attention_heads", 16, 1, MAX_DIM);
    c->image_size = get_int(r, v, s, "image_size", 224, 1, 8192);
    c->patch_size = get_int(r, v, s, "patch_size", 32, 1, 1024);
    c->n_channels = get_int(r, v, s, "num_channels", 3, 1, 16);
    c->eps = get_float(r, v, s, "layer_norm_eps", 1e-6, 0.0, 1.0);
    expect_string(r, v, s, "hidden_act", "gelu_pytorch_tanh");
    if (r->err)
        return;
    if (c->dim % c->n_heads)
        set_error(r, q_asprintf("%s: vision_config: hidden_size %d is not a multiple of "
                                "num_attention_heads %d", r->path, c->dim, c->n_heads));
    else if (c->image_size % c->patch_size)
        set_error(r, q_asprintf("%s: vision_config: image_size %d is not a multiple of "
                                "patch_size %d", r->path, c->image_size, c->patch_size));
    int side = c->image_size / c->patch_size;
    c->n_patches = side * side;
    c->patch_dim = c->n_channels * c->patch_size * c->patch_size;
}

static void read_text(struct reader *r, JsonObject *t, JsonObject *root, struct llm_text_config *c)
{
    const char *s = "text_config.";
    c->dim = get_int(r, t, s, "hidden_size", 4096, 2, MAX_DIM);
    c->hidden_dim = get_int(r, t, s, "intermediate_size", 11008, 1, MAX_DIM);
    c->n_layers = get_int(r, t, s, "num_hidden_layers", 32, 1, 1024);
    c->n_heads = get_int(r, t, s, "num_attention_heads", 32, 1, MAX_DIM);
    c->n_kv_heads = get_int(r, t, s, "num_key_value_heads", c->n_heads, 1, MAX_DIM);
    c->vocab_size = get_int(r, t, s, "vocab_size", 32000, 1, 1 << 24);
    c->max_positions = get_int(r, t, s, "max_position_embeddings", 2048, 1, 1 << 20);
    c->eps = get_float(r, t, s, "rms_norm_eps", 1e-6, 0.0, 1.0);
    c->rope_theta = get_float(r, t, s, "rope_theta", 10000.0, 1.0, 1e12);
    /* transformers 5 writes the RoPE settings as text_config.rope_parameters */
    JsonObject *rope = t ? get_object(r, t, "rope_parameters") : NULL;
    if (rope) {
        c->rope_theta = get_float(r, rope, "text_config.rope_parameters.", "rope_theta",
                                  c->rope_theta, 1.0, 1e12);
        expect_string(r, rope, "text_config.rope_parameters.", "rope_type", "default");
    }
    /* the text model is Llama; another (granite: embedding, residual and logit multipliers)
     * would run with wrong numbers */
    expect_string(r, t, s, "model_type", "llama");
    bool top = get_bool(r, root, "", "tie_word_embeddings", false);
    c->tie_embeddings = get_bool(r, t, s, "tie_word_embeddings", top);
    expect_string(r, t, s, "hidden_act", "silu");
    JsonNode *scaling = t ? json_object_get_member(t, "rope_scaling") : NULL;
    if (scaling && !JSON_NODE_HOLDS_NULL(scaling))
        set_error(r, q_asprintf("%s: text_config.rope_scaling is not supported", r->path));
    if (get_bool(r, t, s, "attention_bias", false) || get_bool(r, t, s, "mlp_bias", false))
        set_error(r, q_asprintf("%s: text_config: attention_bias / mlp_bias are not supported",
                                r->path));
    int head_dim = get_int(r, t, s, "head_dim", c->dim / c->n_heads, 1, MAX_DIM);
    if (r->err)
        return;
    if (c->dim % c->n_heads || (c->dim / c->n_heads) % 2)
        set_error(r, q_asprintf("%s: text_config: hidden_size %d does not split into %d heads "
                                "of even size", r->path, c->dim, c->n_heads));
    else if (head_dim != c->dim / c->n_heads)
        set_error(r, q_asprintf("%s: text_config.head_dim %d != hidden_size / "
                                "num_attention_heads is not supported", r->path, head_dim));
    else if (c->n_heads % c->n_kv_heads)
        set_error(r, q_asprintf("%s: text_config: num_attention_heads %d is not a multiple of "
                                "num_key_value_heads %d", r->path, c->n_heads, c->n_kv_heads));
    c->head_dim = c->dim / c->n_heads;
}

/* Parses r->path into `parser`; its top-level object, or NULL with the error recorded. */
static JsonObject *parse_file(struct reader *r, JsonParser *parser)
{
    GError *gerr = NULL;
    if (!json_parser_load_from_file(parser, r->path, &gerr)) {
        bool missing = g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT);
        set_error(r, q_asprintf("%s: %s", r->path, gerr->message));
        if (missing)
            r->err = QUIRE_ENOENT;
        g_error_free(gerr);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        set_error(r, q_asprintf("%s: not a JSON object", r->path));
        return NULL;
    }
    return json_node_get_object(root);
}

int llm__config_load(struct llm_config *c, const char *path, char **msg)
{
    struct reader r = {path, msg, 0};
    memset(c, 0, sizeof(*c));
    JsonParser *parser = json_parser_new();
    JsonObject *o = parse_file(&r, parser);
    if (!o)
        goto out;
    JsonObject *v = get_object(&r, o, "vision_config");
    JsonObject *t = get_object(&r, o, "text_config");
    if (r.err)
        goto out;
    read_vision(&r, v, &c->vision);
    read_text(&r, t, o, &c->text);
    c->scale_factor = get_int(&r, o, "", "scale_factor", 2, 1, 64);
    c->image_token_id = get_int(&r, o, "", "image_token_id", 128257, 0, (1 << 24) - 1);
    if (r.err)
        goto out;
    int side = c->vision.image_size / c->vision.patch_size;
    if (side % c->scale_factor)
        set_error(&r, q_asprintf("%s: scale_factor %d does not divide the %d patches per side",
                                 path, c->scale_factor, side));
    else if (c->image_token_id >= c->text.vocab_size)
        set_error(&r, q_asprintf("%s: image_token_id %d is outside the vocabulary (%d)", path,
                                 c->image_token_id, c->text.vocab_size));
    c->image_seq_len = c->vision.n_patches / (c->scale_factor * c->scale_factor);
out:
    g_object_unref(parser);
    return r.err;
}

/* --- line reader ------------------------------------------------------------------------- */

/* The member `key` of `o`, recording "missing key" when it is absent. */
static JsonNode *require(struct reader *r, JsonObject *o, const char *section, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    if (!n)
        set_error(r, q_asprintf("%s: missing key %s%s", r->path, section, key));
    return n;
}

/* quire_reader.charset: 1..LLM__READER_MAX_CHARSET non-empty UTF-8 strings of at most
 * LLM__READER_MAX_CHAR bytes, copied into c->charset. */
static void read_charset(struct reader *r, JsonObject *q, struct llm_reader_config *c)
{
    JsonNode *n = require(r, q, "quire_reader.", "charset");
    if (!n)
        return;
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
    guint len = a ? json_array_get_length(a) : 0;
    if (len < 1 || len > LLM__READER_MAX_CHARSET) {
        set_error(r, q_asprintf("%s: quire_reader.charset: want an array of 1 to %d strings",
                                r->path, LLM__READER_MAX_CHARSET));
        return;
    }
    for (guint i = 0; i < len; i++) {
        JsonNode *e = json_array_get_element(a, i);
        const char *s = JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING
                            ? json_node_get_string(e) : NULL;
        size_t bytes = s ? strlen(s) : 0;
        if (bytes < 1 || bytes > LLM__READER_MAX_CHAR || !g_utf8_validate(s, -1, NULL)) {
            set_error(r, q_asprintf("%s: quire_reader.charset[%u]: want a non-empty UTF-8 string "
                                    "of at most %d bytes", r->path, i, LLM__READER_MAX_CHAR));
            return;
        }
    }
    if (!(c->charset = q_calloc(len, sizeof(*c->charset)))) {
        set_error(r, NULL);
        return;
    }
    for (guint i = 0; i < len; i++)
        strcpy(c->charset[i], json_array_get_string_element(a, i));
    c->n_classes = (int)len + 1;
}

int llm__reader_config_load(struct llm_reader_config *c, struct llm_vision_config *vision,
                            const char *path, char **msg)
{
    struct reader r = {path, msg, 0};
    memset(c, 0, sizeof(*c));
    memset(vision, 0, sizeof(*vision));
    JsonParser *parser = json_parser_new();
    JsonObject *o = parse_file(&r, parser);
    if (!o)
        goto out;
    JsonNode *type = json_object_get_member(o, "model_type");
    if (!type || !JSON_NODE_HOLDS_VALUE(type) ||
        json_node_get_value_type(type) != G_TYPE_STRING ||
        strcmp(json_node_get_string(type), "quire_reader") != 0)
        set_error(&r, q_asprintf("%s: model_type: want \"quire_reader\" (a line reader)", path));
    JsonObject *v = require(&r, o, "", "vision_config") ? get_object(&r, o, "vision_config") : NULL;
    JsonObject *q = require(&r, o, "", "quire_reader") ? get_object(&r, o, "quire_reader") : NULL;
    if (r.err)
        goto out;
    read_vision(&r, v, vision);
    if (r.err)
        goto out;
    if (vision->n_channels != 1) {
        set_error(&r, q_asprintf("%s: vision_config.num_channels: a reader takes gray tiles (1), "
                                 "not %d", path, vision->n_channels));
        goto out;
    }
    if ((vision->image_size / vision->patch_size) % 2) {
        set_error(&r, q_asprintf("%s: vision_config: %d patch rows do not make bands of two",
                                 path, vision->image_size / vision->patch_size));
        goto out;
    }
    if (require(&r, q, "quire_reader.", "ctc_steps"))
        c->ctc_steps = get_int(&r, q, "quire_reader.", "ctc_steps", 0, 1, LLM__READER_MAX_STEPS);
    if (require(&r, q, "quire_reader.", "x_height"))
        c->x_height = get_float(&r, q, "quire_reader.", "x_height", 0.0, 1e-3, 1e4);
    if (!r.err)
        read_charset(&r, q, c);
out:
    g_object_unref(parser);
    if (r.err)
        llm__reader_config_release(c);
    return r.err;
}

void llm__reader_config_release(struct llm_reader_config *c)
{
    free(c->charset);
    c->charset = NULL;
    c->n_classes = 0;
}
