/*
 * tests/fuzz/fuzz_files.h - what the loader harnesses share: reading a fixture file whole and
 * writing an input into the harness's private directory `dir` (each harness defines it).
 */
#ifndef QUIRE_FUZZ_FILES_H
#define QUIRE_FUZZ_FILES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static char dir[64];

/* The whole file at `path` (malloc'd, kept for the run); exits when it cannot be read. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz: cannot read %s (run from the repository root)\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Writes `len` bytes to dir/name. */
static void put(const char *name, const void *data, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        abort();
}

#endif
