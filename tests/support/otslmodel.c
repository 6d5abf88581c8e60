/*
 * tests/support/otslmodel.c - the tiny random fixture model with OTSL tags in its tokenizer, for
 * the tests that drive the model engine through the pipeline.
 */
#include "otslmodel.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <string.h>

static void copy_file(const char *from, const char *to)
{
    char *contents;
    gsize len;
    assert_true(g_file_get_contents(from, &contents, &len, NULL));
    assert_true(g_file_set_contents(to, contents, (gssize)len, NULL));
    g_free(contents);
}

void otsl_model_write(const char *fixture, const char *out)
{
    static const char *tags[] = {"<otsl>", "</otsl>", "<nl>", "<fcel>", "<ecel>", "<ched>",
                                 "<rhed>", "<srow>", "<lcel>", "<ucel>", "<xcel>"};
    enum { N_TAGS = 11 };
    g_mkdir_with_parents(out, 0755);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *a = g_build_filename(fixture, files[i], NULL);
        char *b = g_build_filename(out, files[i], NULL);
        copy_file(a, b);
        g_free(a);
        g_free(b);
    }
    char *src = g_build_filename(fixture, "tokenizer.json", NULL);
    JsonParser *p = json_parser_new();
    assert_true(json_parser_load_from_file(p, src, NULL));
    JsonObject *root = json_node_get_object(json_parser_get_root(p));
    JsonObject *model = json_object_get_object_member(root, "model");
    JsonObject *vocab = json_object_get_object_member(model, "vocab");
    /* the N_TAGS highest ids of the vocabulary */
    GList *keys = json_object_get_members(vocab);
    const char *removed[N_TAGS];
    gint64 ids[N_TAGS];
    int n = 0;
    for (gint64 id = json_object_get_size(vocab) - 1; n < N_TAGS; id--)
        for (GList *k = keys; k; k = k->next)
            if (json_object_get_int_member(vocab, k->data) == id) {
                removed[n] = k->data;
                ids[n++] = id;
            }
    JsonArray *merges = json_object_get_array_member(model, "merges");
    JsonArray *kept = json_array_new();
    for (guint i = 0; i < json_array_get_length(merges); i++) {
        const char *m = json_array_get_string_element(merges, i);
        char **ab = g_strsplit(m, " ", 2);
        char *joined = g_strconcat(ab[0], ab[1], NULL);
        bool drop = false;
        for (int t = 0; t < N_TAGS; t++)
            drop |= !strcmp(joined, removed[t]) || !strcmp(ab[0], removed[t]) ||
                    !strcmp(ab[1], removed[t]);
        if (!drop)
            json_array_add_string_element(kept, m);
        g_free(joined);
        g_strfreev(ab);
    }
    JsonArray *added = json_object_get_array_member(root, "added_tokens");
    for (int t = 0; t < N_TAGS; t++) {
        JsonObject *o = json_object_new();
        json_object_set_int_member(o, "id", ids[t]);
        json_object_set_string_member(o, "content", tags[t]);
        json_object_set_boolean_member(o, "special", TRUE);
        json_array_add_object_element(added, o);
    }
    for (int t = 0; t < N_TAGS; t++)
        json_object_remove_member(vocab, removed[t]); /* frees the key: `removed` dies here */
    g_list_free(keys);
    json_object_set_array_member(model, "merges", kept);
    JsonGenerator *g = json_generator_new();
    json_generator_set_root(g, json_parser_get_root(p));
    char *dst = g_build_filename(out, "tokenizer.json", NULL);
    assert_true(json_generator_to_file(g, dst, NULL));
    g_object_unref(g);
    g_object_unref(p);
    g_free(dst);
    g_free(src);
}
