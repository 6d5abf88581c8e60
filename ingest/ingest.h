/*
 * ingest/ingest.h - from a file on disk to pages quire can look at.
 *
 * Opening: a file is checked before Poppler sees it (it exists, is readable, starts with %PDF-,
 * and - for the watch folder - is complete: ends with %%EOF), hashed (SHA-256 via GChecksum, the
 * identity of a document in the store), then opened with poppler-glib. Encrypted files without
 * the right password, damaged files and files with zero pages become clear errors.
 *
 * Pages: document_load_page() turns one Poppler page into a `struct page`: its size in points,
 * the words of its text layer (text, box, font size, bold) and an 8-bit grayscale raster rendered
 * with cairo at the configured DPI (bounded by max_pixels). Everything downstream (vision/,
 * textlayer/, llm/) works on `struct page` and never touches Poppler, so they can be tested on
 * synthetic pages.
 *
 * Coordinates: PDF points, origin at the top-left of the page as displayed (after /Rotate),
 * y downwards. The raster's pixel (x, y) covers points [x, x+1) * 72 / dpi.
 *
 * Threads: a `struct document` wraps one PopplerDocument and must be used by one thread at a time
 * (Poppler documents are not thread-safe); distinct documents may be used concurrently. Pages are
 * plain values owned by the caller. All functions may be called from any thread.
 */
#ifndef QUIRE_INGEST_H
#define QUIRE_INGEST_H

#include "../common/common.h"

/* --- files ---------------------------------------------------------------------------------- */
/* Hashes the file's content: writes the lowercase hex SHA-256 into hex[65] and the byte size into
 * *size. Returns 0, QUIRE_ENOENT or QUIRE_EIO. */
int file_sha256(const char *path, char hex[65], int64_t *size);
/* True when the file starts with "%PDF-" and its last 2 KiB hold "%%EOF": a complete PDF (as far as
 * a watcher can tell without parsing). */
bool file_is_complete_pdf(const char *path);

/* --- documents ------------------------------------------------------------------------------ */
struct document;

/* Prepares Poppler for several threads and for many documents; call ingest_global_init() on one
 * thread before worker threads open documents, and ingest_global_release() after they stopped.
 * - Poppler builds process-wide LittleCMS state (the sRGB and XYZ profiles) lazily in the first
 *   render, guarded by nothing: two threads rendering their first pages at once race on it
 *   (ThreadSanitizer shows it; reported upstream as heap corruption). Rendering one tiny page
 *   here builds it before any worker runs.
 * - Poppler tears its global state (font configuration, caches) down when the last document
 *   closes, so a service opening one document at a time would rebuild it for every file: the
 *   tiny document stays open until ingest_global_release().
 * Returns 0 or QUIRE_ENOMEM. Calling init twice is harmless. */
int ingest_global_init(void);
void ingest_global_release(void);

/* Opens a PDF. password may be NULL. On success *out owns the document (document_close()).
 * Errors: QUIRE_ENOENT, QUIRE_EIO (unreadable), QUIRE_ENOTPDF, QUIRE_ETRUNCATED, QUIRE_EENCRYPTED,
 * QUIRE_ENOPAGES, QUIRE_ENOMEM; *msg (caller frees; may be NULL) then says what was wrong. */
int document_open(const char *path, const char *password, struct document **out, char **msg);
void document_close(struct document *doc);  /* NULL is a no-op */
int document_page_count(const struct document *doc);
/* Page size in points (as displayed, after /Rotate) without loading the page's content. */
int document_page_size(struct document *doc, int index, double *width, double *height);

struct word {
    char *text;          /* UTF-8, no spaces inside */
    struct rect bbox;    /* points, top-left origin */
    double font_size;    /* points */
    bool bold;
    int line;            /* index of the text line Poppler put it on (reading order) */
    int rotation;        /* direction of the text: 0, 90, 180 or 270 degrees (clockwise) */
};

struct raster {
    int width, height;   /* pixels */
    double dpi;          /* pixels per inch: scale = dpi / 72 pixels per point */
    uint8_t *gray;       /* width * height, row-major, 0 = black, 255 = white; NULL if not rendered */
};

struct page {
    int index;                 /* 0-based page number */
    double width, height;      /* points */
    struct word *words;        /* in Poppler's reading order */
    size_t n_words;
    bool has_text_layer;       /* at least one word with visible text */
    struct raster raster;
};

struct page_options {
    double dpi;                /* raster resolution; 0 = do not render */
    int64_t max_pixels;        /* a page whose raster would exceed this fails with QUIRE_ELIMIT */
    bool words;                /* extract the text layer */
};

/* Loads page `index` (0-based). On success *out is a new page (page_free()). Errors:
 * QUIRE_EINVAL (index out of range), QUIRE_ELIMIT (raster over max_pixels, *msg says the size),
 * QUIRE_ENOMEM. */
int document_load_page(struct document *doc, int index, const struct page_options *opts,
                       struct page **out, char **msg);
void page_free(struct page *page);  /* NULL is a no-op */

/* Writes the part of the page's raster under `area` (points) as an 8-bit grayscale PNG. Returns 0
 * or QUIRE_EIO/QUIRE_EINVAL/QUIRE_ENOMEM. */
int raster_write_png(const struct raster *r, struct rect area, const char *path);

#endif
