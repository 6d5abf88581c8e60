/*
 * main.c - `quire <command>`: dispatch to the commands. The only place that calls exit().
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"convert", cmd_convert, "extract the tables of PDFs now, store them and print them"},
    {"watch", cmd_watch, "the service: process PDFs as they appear in folders"},
    {"batch", cmd_batch, "process a folder tree or a file list (resumable)"},
    {"query", cmd_query, "search stored tables by cell text and filters"},
    {"show", cmd_show, "print one stored table"},
    {"export", cmd_export, "write stored tables to files"},
    {"status", cmd_status, "counts, queue and failures"},
    {"retry", cmd_retry, "queue failed documents again"},
    {"reprocess", cmd_reprocess, "run stored documents again with the current engine/model"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: quire <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`quire <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    setlocale(LC_CTYPE, ""); /* UTF-8 file names; numbers stay in the C locale */
    if (argc < 2) {
        usage(stderr);
        exit(CLI_EXIT_USAGE);
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        exit(CLI_EXIT_OK);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            exit(commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "quire: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    exit(CLI_EXIT_USAGE);
}
