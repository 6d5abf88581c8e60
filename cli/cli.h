/*
 * cli/cli.h - the `quire` command line: one binary, `quire <command> [options]`.
 *
 * Each command is a function `int cmd_<name>(int argc, char **argv)` returning the process exit
 * code: 0 = everything went well, 1 = some documents failed, 2 = usage error (or the database
 * could not be opened). Options are parsed with GLib's GOption, so every command has --help.
 * Only main() calls exit().
 */
#ifndef QUIRE_CLI_H
#define QUIRE_CLI_H

#include <glib.h>

#include "../config/config.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILED = 1, CLI_EXIT_USAGE = 2 };

/* Parses argv for one command: the command's own `entries` (may be NULL) plus the options every
 * command has (--config FILE, --db PATH, --verbose, --quiet), then loads the configuration into
 * cfg (config_load) and applies --db. `params` is the usage string after the command name (e.g.
 * "FILE.pdf..."), `summary` one line shown by --help. On success argv/argc hold the remaining
 * positional arguments (argv[0] is the command) and 0 is returned; otherwise an error has been
 * printed and CLI_EXIT_USAGE is returned (cfg then needs no release). */
int cli_parse(const char *command, const char *params, const char *summary, GOptionEntry *entries,
              int *argc, char ***argv, struct config *cfg);

/* --engine, --model and --reader, taken by the commands that process documents (convert, batch, watch,
 * reprocess):
 * put CLI_ENGINE_ENTRIES(&args) in the command's entries, then call cli_engine_apply() after
 * cli_parse() succeeded. */
struct cli_engine_args {
    char *engine; /* g_free'd by cli_engine_apply */
    char *model;
    char *reader;
};
#define CLI_ENGINE_ENTRIES(args)                                                                 \
    {"engine", 0, 0, G_OPTION_ARG_STRING, &(args)->engine,                                      \
     "Table engine: text (the PDF's text layer), vlm (the model) or auto (the model's "         \
     "structure, the text layer's words; default: [tables] engine)", "ENGINE"},                 \
    {"model", 0, 0, G_OPTION_ARG_FILENAME, &(args)->model,                                      \
     "Model folder (Hugging Face layout) for --engine vlm or auto (default: [model] path, else " \
     "the shipped model)", "DIR"},                                                              \
    {"reader", 0, 0, G_OPTION_ARG_FILENAME, &(args)->reader,                                    \
     "Line reader folder that reads scanned pages no model reads, or none (default: [model] "   \
     "reader, else the shipped reader)", "DIR"}
/* Checks and applies the flags to cfg and frees them. Returns 0, or prints why (naming the
 * command) and returns CLI_EXIT_USAGE; cfg still needs config_release() either way. */
int cli_engine_apply(const char *command, struct cli_engine_args *args, struct config *cfg);
/* Frees the flags' strings (for early exits before cli_engine_apply). */
void cli_engine_args_release(struct cli_engine_args *args);

int cmd_convert(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_retry(int argc, char **argv);
int cmd_reprocess(int argc, char **argv);

#endif
