/*
 * config/config.h - quire's settings: defaults, configs/quire.conf (GKeyFile), then flags.
 *
 * The file is chosen by --config, else $QUIRE_CONFIG, else ./quire.conf if it exists, else
 * /etc/quire/quire.conf if it exists, else the built-in defaults (which equal the values written
 * in configs/quire.conf). Command-line flags override the file. Unknown keys are warnings (a typo
 * should not stop a service), malformed values are errors that name the file, group and key.
 *
 * Ownership: config_load fills a caller-allocated struct; config_release frees its strings.
 * Threads: load on the main thread before starting work; afterwards the struct is read-only and
 * may be read from any thread.
 */
#ifndef QUIRE_CONFIG_H
#define QUIRE_CONFIG_H

#include "../common/common.h"

struct config {
    char *source;              /* the file read, or NULL when only defaults are in use */
    /* [store] */
    char *db_path;             /* database file (default "quire.db") */
    int busy_timeout_ms;       /* SQLite busy timeout (default 10000) */
    /* [pipeline] */
    int workers;               /* worker threads; 0 = number of cores (default 0) */
    int queue_size;            /* documents held in memory at once (default 64) */
    double dpi;                /* page raster resolution (default 150) */
    int max_pages;             /* per document (default 2000) */
    int64_t max_pixels;        /* per rendered page (default 40000000) */
    double max_seconds;        /* per document; 0 = 60 s per page read (default 0) */
    /* [watch] */
    double settle_seconds;     /* size and mtime stable this long before a file is taken (default 2) */
    double rescan_seconds;     /* full rescan period, in case inotify dropped events (default 60) */
    double incomplete_seconds; /* a stable file without %%EOF is taken anyway after this (default 30) */
    /* [tables] */
    char *engine;              /* "text", "vlm" or "auto" (default "text" until a model ships) */
    double min_confidence;     /* regions below are not reported; with engine auto, model tables
                                  below fall back to the text layer (default 0.5) */
    bool markdown_repeat_spans;/* Markdown: repeat a span's text in covered cells (default false) */
    bool latex_booktabs;       /* LaTeX: booktabs rules (default true) */
    /* [model] */
    char *model_path;          /* model directory for vlm/auto (default "" = the shipped model,
                                  models/quire-table, if any) */
    int threads;               /* OpenBLAS threads per decoding worker (default 1); with the
                                  model, workers = 0 means cores / threads workers */
    char *reader_path;         /* line reader for scanned pages the model does not read
                                  (default "" = the shipped one, models/quire-reader, if any;
                                  "none" = no reader: scanned tables are found, not read) */
    /* [log] */
    char *log_level;           /* error, warning, info or debug (default "info") */
};

/* Sets the built-in defaults. Returns 0 or QUIRE_ENOMEM. */
int config_init(struct config *c);
/* config_init, then reads `path` (or the file chosen as described above when path is NULL).
 * Returns 0, QUIRE_ENOENT (an explicitly named file is missing), QUIRE_ECONFIG with *msg
 * (caller frees) naming the file, group and key, or QUIRE_ENOMEM. */
int config_load(struct config *c, const char *path, char **msg);
void config_release(struct config *c);
/* Replaces a string setting (frees the old value). Returns 0 or QUIRE_ENOMEM. */
int config_set_string(char **field, const char *value);
/* The built-in default of option `key` in `group` as text, or NULL when there is no such option
 * (lets tests check configs/quire.conf against the code). */
const char *config_default_value(const char *group, const char *key);

#endif
