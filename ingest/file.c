/*
 * file.c - what quire can tell about a file before Poppler opens it: its SHA-256 (the identity
 * of a document) and whether it looks like a complete PDF (the watch folder's test for "the
 * copy has finished").
 */
#include "ingest.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

int file_sha256(const char *path, char hex[65], int64_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? QUIRE_ENOENT : QUIRE_EIO;
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    unsigned char buf[65536];
    int64_t total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        g_checksum_update(sum, buf, n);
        total += (int64_t)n;
    }
    int err = ferror(f) ? QUIRE_EIO : 0;
    fclose(f);
    if (!err) {
        g_strlcpy(hex, g_checksum_get_string(sum), 65);
        if (size)
            *size = total;
    }
    g_checksum_free(sum);
    return err;
}

/* True when the first bytes of the file are a PDF header. */
static bool has_pdf_header(FILE *f)
{
    char head[1024];
    size_t n = fread(head, 1, sizeof head, f);
    /* Readers accept the header anywhere in the first 1024 bytes (some writers prepend junk);
     * it must still start a line, so a text file that mentions "%PDF-" is not taken for one. */
    for (size_t i = 0; i + 5 <= n; i++)
        if ((i == 0 || head[i - 1] == '\n' || head[i - 1] == '\r') &&
            memcmp(head + i, "%PDF-", 5) == 0)
            return true;
    return false;
}

bool file_is_complete_pdf(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool ok = has_pdf_header(f);
    if (ok) {
        char tail[2048];
        long back = (long)sizeof tail;
        if (fseek(f, -back, SEEK_END) != 0)
            fseek(f, 0, SEEK_SET);
        size_t n = fread(tail, 1, sizeof tail, f);
        ok = memmem(tail, n, "%%EOF", 5) != NULL; /* the tail may hold NUL bytes */
    }
    fclose(f);
    return ok;
}

/* Used by document_open: the file exists, is readable and starts like a PDF. */
int ingest__check_pdf_header(const char *path, char **msg)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (msg)
            *msg = q_asprintf("%s: %s", path, strerror(e));
        return e == ENOENT ? QUIRE_ENOENT : QUIRE_EIO;
    }
    bool ok = has_pdf_header(f);
    fclose(f);
    if (!ok) {
        if (msg)
            *msg = q_asprintf("%s: not a PDF file (no %%PDF- header)", path);
        return QUIRE_ENOTPDF;
    }
    return 0;
}
