/*
 * llm/checkpoint.c - the weight files of a model directory: one model.safetensors, or the
 * shards that model.safetensors.index.json names (what save_pretrained writes for large
 * models: {"metadata": {...}, "weight_map": {tensor name: shard file name}}).
 *
 * As transformers does, a model.safetensors present wins over an index. Shard names come from
 * the file, so they are checked to be plain file names in the same directory (no '/', no
 * leading '.'), each shard is opened and validated once, and every tensor the index lists must
 * be in the shard it names: a missing or inconsistent shard is an error at load, not a
 * surprise at bind time. Tensors a shard holds that the index does not list are ignored.
 */
#include "llm_internal.h"

#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SHARDS 4096

static int fail(char **msg, int err, char *text)
{
    if (msg) {
        free(*msg);
        *msg = text;
    } else {
        free(text);
    }
    return text ? err : QUIRE_ENOMEM;
}

static bool plain_file_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 255 && s[0] != '.' && !strchr(s, '/');
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct llm__weight_ref *)a)->name,
                  ((const struct llm__weight_ref *)b)->name);
}

/* The shard index of `file`, opening it when it is new. */
static int shard_of(struct llm__checkpoint *ck, const char *dir, const char *file,
                    uint32_t *index, char **msg)
{
    for (size_t i = 0; i < ck->n_shards; i++) {
        const char *name = strrchr(ck->shards[i].path, '/') + 1;
        if (strcmp(name, file) == 0) {
            *index = (uint32_t)i;
            return 0;
        }
    }
    if (ck->n_shards == MAX_SHARDS)
        return fail(msg, QUIRE_EMODEL, q_asprintf("%s: more than %d shards", ck->index_path,
                                                  MAX_SHARDS));
    if (q_grow((void **)&ck->shards, sizeof(*ck->shards), &ck->cap_shards, ck->n_shards + 1))
        return QUIRE_ENOMEM;
    char *path = q_asprintf("%s/%s", dir, file);
    if (!path)
        return QUIRE_ENOMEM;
    int err = llm__safetensors_open(&ck->shards[ck->n_shards], path, msg);
    free(path);
    if (err)
        return err;
    *index = (uint32_t)ck->n_shards++;
    return 0;
}

static int read_index(struct llm__checkpoint *ck, const char *dir, char **msg)
{
    const char *path = ck->index_path;
    GError *gerr = NULL;
    JsonParser *parser = json_parser_new();
    int err = 0;
    if (!json_parser_load_from_file(parser, path, &gerr)) {
        err = fail(msg, QUIRE_EMODEL, q_asprintf("%s: %s", path, gerr->message));
        g_error_free(gerr);
        goto out;
    }
    JsonNode *root = json_parser_get_root(parser);
    JsonNode *map_node = root && JSON_NODE_HOLDS_OBJECT(root)
                             ? json_object_get_member(json_node_get_object(root), "weight_map")
                             : NULL;
    if (!map_node || !JSON_NODE_HOLDS_OBJECT(map_node)) {
        err = fail(msg, QUIRE_EMODEL, q_asprintf("%s: no \"weight_map\" object", path));
        goto out;
    }
    JsonObject *map = json_node_get_object(map_node);
    GList *names = json_object_get_members(map);
    size_t n = g_list_length(names);
    if (n == 0 || !(ck->map = q_calloc(n, sizeof(*ck->map)))) {
        err = n == 0 ? fail(msg, QUIRE_EMODEL, q_asprintf("%s: empty \"weight_map\"", path))
                     : QUIRE_ENOMEM;
        goto out_names;
    }
    for (GList *l = names; l; l = l->next) {
        const char *name = l->data;
        JsonNode *v = json_object_get_member(map, name);
        const char *file = v && JSON_NODE_HOLDS_VALUE(v) &&
                                   json_node_get_value_type(v) == G_TYPE_STRING
                               ? json_node_get_string(v) : NULL;
        if (!file || !plain_file_name(file)) {
            err = fail(msg, QUIRE_EMODEL,
                       q_asprintf("%s: tensor '%s': shard is not a file name in the model "
                                  "directory", path, name));
            goto out_names;
        }
        struct llm__weight_ref *ref = &ck->map[ck->n_map];
        if ((err = shard_of(ck, dir, file, &ref->shard, msg)))
            goto out_names;
        if (!llm__safetensors_find(&ck->shards[ref->shard], name)) {
            err = fail(msg, QUIRE_EMODEL, q_asprintf("%s: tensor '%s' is not in %s, where the "
                                                     "index puts it", path, name, file));
            goto out_names;
        }
        if (!(ref->name = q_strdup(name))) {
            err = QUIRE_ENOMEM;
            goto out_names;
        }
        ck->n_map++;
    }
    qsort(ck->map, ck->n_map, sizeof(*ck->map), by_name);
out_names:
    g_list_free(names);
out:
    g_object_unref(parser);
    return err;
}

int llm__checkpoint_open(struct llm__checkpoint *ck, const char *dir, char **msg)
{
    memset(ck, 0, sizeof(*ck));
    char *single = q_asprintf("%s/model.safetensors", dir);
    if (!single)
        return QUIRE_ENOMEM;
    int err;
    bool sharded = access(single, F_OK) != 0;
    if (sharded) {
        if (!(ck->index_path = q_asprintf("%s/model.safetensors.index.json", dir))) {
            err = QUIRE_ENOMEM;
            goto out;
        }
        if (access(ck->index_path, F_OK) != 0) {
            err = fail(msg, QUIRE_ENOENT, q_asprintf("%s: no such file (nor %s)", single,
                                                     ck->index_path));
            goto out;
        }
        err = read_index(ck, dir, msg);
    } else {
        if (!(ck->shards = q_calloc(1, sizeof(*ck->shards)))) {
            err = QUIRE_ENOMEM;
            goto out;
        }
        ck->cap_shards = 1;
        err = llm__safetensors_open(&ck->shards[0], single, msg);
        if (!err)
            ck->n_shards = 1;
    }
out:
    free(single);
    if (err)
        llm__checkpoint_close(ck);
    return err;
}

void llm__checkpoint_close(struct llm__checkpoint *ck)
{
    for (size_t i = 0; i < ck->n_shards; i++)
        llm__safetensors_close(&ck->shards[i]);
    for (size_t i = 0; i < ck->n_map; i++)
        free(ck->map[i].name);
    free(ck->map);
    free(ck->shards);
    free(ck->index_path);
    memset(ck, 0, sizeof(*ck));
}

const struct llm__tensor *llm__checkpoint_find(const struct llm__checkpoint *ck,
                                               const char *name, const char **path)
{
    if (!ck->index_path) {
        *path = ck->shards[0].path;
        return llm__safetensors_find(&ck->shards[0], name);
    }
    struct llm__weight_ref key = {(char *)name, 0};
    const struct llm__weight_ref *ref = bsearch(&key, ck->map, ck->n_map, sizeof(*ck->map),
                                                by_name);
    if (!ref) {
        *path = ck->index_path;
        return NULL;
    }
    *path = ck->shards[ref->shard].path;
    return llm__safetensors_find(&ck->shards[ref->shard], name);
}

const char *llm__checkpoint_path(const struct llm__checkpoint *ck)
{
    return ck->index_path ? ck->index_path : ck->shards[0].path;
}
