/*
 * cli.c - option parsing shared by every command (GOption), and configuration loading.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse(const char *command, const char *params, const char *summary, GOptionEntry *entries,
              int *argc, char ***argv, struct config *cfg)
{
    char *config_path = NULL, *db = NULL;
    gboolean verbose = FALSE, quiet = FALSE;
    GOptionEntry common[] = {
        {"config", 0, 0, G_OPTION_ARG_FILENAME, &config_path,
         "Configuration file (default: $QUIRE_CONFIG, ./quire.conf, /etc/quire/quire.conf)", "FILE"},
        {"db", 0, 0, G_OPTION_ARG_FILENAME, &db, "Database file (default: [store] db, quire.db)",
         "PATH"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debugging detail", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Log errors only", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    /* --help then reads "quire convert [OPTION…] FILE.pdf..." */
    char *prgname = g_strdup_printf("quire %s", command);
    g_set_prgname(prgname);
    g_free(prgname);
    GOptionContext *ctx = g_option_context_new(params);
    g_option_context_set_summary(ctx, summary);
    if (entries)
        g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_add_main_entries(ctx, common, NULL);
    g_option_context_set_help_enabled(ctx, TRUE);

    GError *gerr = NULL;
    int rc = 0;
    if (!g_option_context_parse(ctx, argc, argv, &gerr)) {
        fprintf(stderr, "quire %s: %s (see quire %s --help)\n", command, gerr->message, command);
        g_error_free(gerr);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    char *msg = NULL;
    int err = config_load(cfg, config_path, &msg);
    if (err) {
        fprintf(stderr, "quire %s: %s\n", command, msg ? msg : err_str(err));
        free(msg);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (db && config_set_string(&cfg->db_path, db)) {
        config_release(cfg);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    enum log_level level = LOG_INFO;
    if (!strcmp(cfg->log_level, "error"))
        level = LOG_ERROR;
    else if (!strcmp(cfg->log_level, "warning"))
        level = LOG_WARN;
    else if (!strcmp(cfg->log_level, "debug"))
        level = LOG_DEBUG;
    log_set_level(verbose ? LOG_DEBUG : quiet ? LOG_ERROR : level);
out:
    g_option_context_free(ctx);
    g_free(config_path);
    g_free(db);
    return rc;
}

void cli_engine_args_release(struct cli_engine_args *args)
{
    g_free(args->engine);
    g_free(args->model);
    g_free(args->reader);
    args->engine = args->model = args->reader = NULL;
}

int cli_engine_apply(const char *command, struct cli_engine_args *args, struct config *cfg)
{
    int rc = 0;
    if (args->engine && strcmp(args->engine, "text") && strcmp(args->engine, "vlm") &&
        strcmp(args->engine, "auto")) {
        fprintf(stderr, "quire %s: --engine: '%s' is not one of text, vlm, auto\n", command,
                args->engine);
        rc = CLI_EXIT_USAGE;
    } else if ((args->engine && config_set_string(&cfg->engine, args->engine)) ||
               (args->model && config_set_string(&cfg->model_path, args->model)) ||
               (args->reader && config_set_string(&cfg->reader_path, args->reader))) {
        fprintf(stderr, "quire %s: out of memory\n", command);
        rc = CLI_EXIT_USAGE;
    }
    cli_engine_args_release(args);
    return rc;
}
