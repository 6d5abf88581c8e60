/*
 * config.c - defaults, then the GKeyFile, then (in cli/) the flags.
 *
 * The table of options below is the single source of truth for names, types and defaults;
 * configs/quire.conf documents the same options for people, and tests/test_config.c checks the
 * two agree.
 */
#include "config.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum opt_type { OPT_STRING, OPT_INT, OPT_INT64, OPT_DOUBLE, OPT_BOOL };

struct option_def {
    const char *group, *key;
    enum opt_type type;
    size_t offset;
    const char *default_value;
    double min, max;          /* for numbers */
};

#define OPT(g, k, t, field, def, lo, hi) {g, k, t, offsetof(struct config, field), def, lo, hi}
static const struct option_def options[] = {
    OPT("store", "db", OPT_STRING, db_path, "quire.db", 0, 0),
    OPT("store", "busy_timeout_ms", OPT_INT, busy_timeout_ms, "10000", 0, 3600000),
    OPT("pipeline", "workers", OPT_INT, workers, "0", 0, 256),
    OPT("pipeline", "queue_size", OPT_INT, queue_size, "64", 1, 100000),
    OPT("pipeline", "dpi", OPT_DOUBLE, dpi, "150", 36, 600),
    OPT("pipeline", "max_pages", OPT_INT, max_pages, "2000", 1, 1000000),
    OPT("pipeline", "max_pixels", OPT_INT64, max_pixels, "40000000", 10000, 4e9),
    OPT("pipeline", "max_seconds", OPT_DOUBLE, max_seconds, "0", 0, 864000),
    OPT("watch", "settle_seconds", OPT_DOUBLE, settle_seconds, "2", 0, 3600),
    OPT("watch", "rescan_seconds", OPT_DOUBLE, rescan_seconds, "60", 0.1, 86400),
    OPT("watch", "incomplete_seconds", OPT_DOUBLE, incomplete_seconds, "30", 0, 86400),
    OPT("tables", "engine", OPT_STRING, engine, "text", 0, 0),
    OPT("tables", "min_confidence", OPT_DOUBLE, min_confidence, "0.5", 0, 1),
    OPT("tables", "markdown_repeat_spans", OPT_BOOL, markdown_repeat_spans, "false", 0, 0),
    OPT("tables", "latex_booktabs", OPT_BOOL, latex_booktabs, "true", 0, 0),
    OPT("model", "path", OPT_STRING, model_path, "", 0, 0),
    OPT("model", "threads", OPT_INT, threads, "1", 1, 256),
    OPT("model", "reader", OPT_STRING, reader_path, "", 0, 0),
    OPT("log", "level", OPT_STRING, log_level, "info", 0, 0),
};
#define N_OPTIONS (sizeof options / sizeof options[0])

/* Parses text into the field described by d. Returns false when the text is not a valid value. */
static bool set_value(struct config *c, const struct option_def *d, const char *text)
{
    char *field = (char *)c + d->offset;
    char *end = NULL;
    switch (d->type) {
    case OPT_STRING: {
        char *copy = q_strdup(text);
        if (!copy)
            return false;
        free(*(char **)field);
        *(char **)field = copy;
        return true;
    }
    case OPT_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "1"))
            *(bool *)field = true;
        else if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "0"))
            *(bool *)field = false;
        else
            return false;
        return true;
    default: {
        double v = g_ascii_strtod(text, &end);
        if (end == text || *end != '\0' || v < d->min || v > d->max)
            return false;
        if (d->type == OPT_INT) {
            if (v != (double)(int)v)
                return false;
            *(int *)field = (int)v;
        } else if (d->type == OPT_INT64) {
            if (v != (double)(int64_t)v)
                return false;
            *(int64_t *)field = (int64_t)v;
        } else {
            *(double *)field = v;
        }
        return true;
    }
    }
}

int config_init(struct config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (!set_value(c, &options[i], options[i].default_value)) {
            config_release(c);
            return QUIRE_ENOMEM;
        }
    return 0;
}

void config_release(struct config *c)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].type == OPT_STRING) {
            char **field = (char **)((char *)c + options[i].offset);
            free(*field);
            *field = NULL;
        }
    free(c->source);
    c->source = NULL;
}

int config_set_string(char **field, const char *value)
{
    char *copy = q_strdup(value);
    if (!copy)
        return QUIRE_ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

static const char *choose_file(const char *path)
{
    if (path)
        return path;
    const char *env = getenv("QUIRE_CONFIG");
    if (env && *env)
        return env;
    if (access("quire.conf", R_OK) == 0)
        return "quire.conf";
    if (access("/etc/quire/quire.conf", R_OK) == 0)
        return "/etc/quire/quire.conf";
    return NULL;
}

static const struct option_def *find_option(const char *group, const char *key)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (!strcmp(options[i].group, group) && !strcmp(options[i].key, key))
            return &options[i];
    return NULL;
}

/* Applies every key of the file; the first bad value is an error. */
static int apply_file(struct config *c, GKeyFile *kf, const char *file, char **msg)
{
    gsize n_groups = 0;
    char **groups = g_key_file_get_groups(kf, &n_groups);
    int err = 0;
    for (gsize g = 0; g < n_groups && !err; g++) {
        gsize n_keys = 0;
        char **keys = g_key_file_get_keys(kf, groups[g], &n_keys, NULL);
        for (gsize k = 0; keys && k < n_keys && !err; k++) {
            const struct option_def *d = find_option(groups[g], keys[k]);
            if (!d) {
                log_msg(LOG_WARN, "%s: unknown option [%s] %s (ignored)", file, groups[g], keys[k]);
                continue;
            }
            char *value = g_key_file_get_value(kf, groups[g], keys[k], NULL);
            char *v = value ? g_strstrip(value) : NULL;
            if (!v || !set_value(c, d, v)) {
                if (msg)
                    *msg = d->type == OPT_STRING || d->type == OPT_BOOL
                        ? q_asprintf("%s: [%s] %s: invalid value '%s'", file, groups[g], keys[k],
                                     v ? v : "")
                        : q_asprintf("%s: [%s] %s: invalid value '%s' (a number from %g to %g)",
                                     file, groups[g], keys[k], v ? v : "", d->min, d->max);
                err = QUIRE_ECONFIG;
            }
            g_free(value);
        }
        g_strfreev(keys);
    }
    g_strfreev(groups);
    return err;
}

/* Checks values that depend on more than one option or on a fixed set of words. */
static int check_values(const struct config *c, const char *file, char **msg)
{
    static const char *engines[] = {"text", "vlm", "auto"};
    static const char *levels[] = {"error", "warning", "info", "debug"};
    bool engine_ok = false, level_ok = false;
    for (size_t i = 0; i < 3; i++)
        engine_ok |= !strcmp(c->engine, engines[i]);
    for (size_t i = 0; i < 4; i++)
        level_ok |= !strcmp(c->log_level, levels[i]);
    if (!engine_ok || !level_ok) {
        if (msg)
            *msg = !engine_ok
                ? q_asprintf("%s: [tables] engine: '%s' is not one of text, vlm, auto", file,
                             c->engine)
                : q_asprintf("%s: [log] level: '%s' is not one of error, warning, info, debug",
                             file, c->log_level);
        return QUIRE_ECONFIG;
    }
    if (!*c->db_path) {
        if (msg)
            *msg = q_asprintf("%s: [store] db: must not be empty", file);
        return QUIRE_ECONFIG;
    }
    return 0;
}

int config_load(struct config *c, const char *path, char **msg)
{
    int err = config_init(c);
    if (err)
        return err;
    const char *file = choose_file(path);
    if (!file)
        return 0;
    GKeyFile *kf = g_key_file_new();
    GError *gerr = NULL;
    if (!g_key_file_load_from_file(kf, file, G_KEY_FILE_NONE, &gerr)) {
        bool missing = g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT);
        if (msg)
            *msg = q_asprintf("%s: %s", file, gerr->message);
        g_error_free(gerr);
        g_key_file_free(kf);
        config_release(c);
        return missing ? QUIRE_ENOENT : QUIRE_ECONFIG;
    }
    c->source = q_strdup(file);
    err = c->source ? apply_file(c, kf, file, msg) : QUIRE_ENOMEM;
    if (!err)
        err = check_values(c, file, msg);
    g_key_file_free(kf);
    if (err)
        config_release(c);
    return err;
}

const char *config_default_value(const char *group, const char *key)
{
    const struct option_def *d = find_option(group, key);
    return d ? d->default_value : NULL;
}
