/*
 * common/common.h - what every quire module shares: error codes, the allocation hook,
 * page geometry and logging.
 *
 * Design: acting functions return 0 or a negative QUIRE_E* code; err_str() turns a code into
 * a short English phrase. Where a caller needs more than the phrase (which file, which byte),
 * the function also fills a caller-provided `char **msg` that the caller frees with free().
 *
 * All heap memory that crosses a module boundary goes through q_malloc/q_calloc/q_realloc/
 * q_strdup and is released with free(). Tests call q_alloc_fail_after(n) to make the n-th
 * following allocation fail and check that every path handles it.
 *
 * Thread-safety: everything here may be called from any thread. q_alloc_fail_after() is meant
 * for single-threaded tests.
 */
#ifndef QUIRE_COMMON_H
#define QUIRE_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum quire_err {
    QUIRE_OK = 0,
    QUIRE_ENOMEM = -1,     /* out of memory */
    QUIRE_EIO = -2,        /* read or write failed */
    QUIRE_EINVAL = -3,     /* invalid argument (a programmer or usage error) */
    QUIRE_ENOENT = -4,     /* no such file */
    QUIRE_ENOTPDF = -5,    /* the file is not a PDF */
    QUIRE_ETRUNCATED = -6, /* the PDF is truncated or damaged */
    QUIRE_EENCRYPTED = -7, /* the PDF is encrypted and no (right) password was given */
    QUIRE_ELIMIT = -8,     /* a configured limit was exceeded (pages, pixels, seconds) */
    QUIRE_EDB = -9,        /* the database failed */
    QUIRE_EBUSY = -10,     /* the database stayed locked past the busy timeout */
    QUIRE_ECONFIG = -11,   /* malformed configuration */
    QUIRE_EMODEL = -12,    /* malformed or unsupported model file */
    QUIRE_EPARSE = -13,    /* malformed text input (OTSL, JSON, ...) */
    QUIRE_ECANCELLED = -14,/* the work was cancelled (shutdown) */
    QUIRE_ETIMEOUT = -15,  /* took longer than allowed */
    QUIRE_ENOPAGES = -16,  /* the PDF has no pages */
    QUIRE_EREADONLY = -17, /* the database or its disk is read-only */
    QUIRE_EFULL = -18,     /* the disk is full */
};

/* Returns a static, human-readable phrase for a QUIRE_E* code (never NULL). */
const char *err_str(int err);

/* The struct of type `type` whose member `member` is at `ptr` (libuv handles live inside the
 * structs that own them). */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* --- allocation hook ------------------------------------------------------------------- */
/* Same contracts as malloc/calloc/realloc/strdup; free the result with free(). They return NULL
 * on failure (or when a failure was injected). */
void *q_malloc(size_t size);
void *q_calloc(size_t n, size_t size);
void *q_realloc(void *p, size_t size);
char *q_strdup(const char *s);
char *q_strndup(const char *s, size_t n);
/* printf into a new string; NULL on failure. */
char *q_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *q_vasprintf(const char *fmt, va_list ap);
/* Tests only: the n-th allocation from now (1 = the next one) fails, and every later one too
 * until q_alloc_fail_after(0) switches injection off. */
void q_alloc_fail_after(long n);

/* qsort() that accepts base == NULL when n < 2 (glibc declares base nonnull, so an empty array's
 * NULL pointer is undefined behaviour for qsort itself). */
void q_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
/* The q_sort() comparator of doubles, ascending. */
int q_cmp_double(const void *a, const void *b);

/* Grows *items (element size `size`) so it holds at least `need` elements; *cap is updated.
 * Returns 0 or QUIRE_ENOMEM (then *items is unchanged). */
int q_grow(void **items, size_t size, size_t *cap, size_t need);

/* --- geometry -------------------------------------------------------------------------- */
/* A rectangle in PDF points with the origin at the page's top-left, y growing downwards. */
struct rect {
    double x0, y0, x1, y1;
};
static inline double rect_width(struct rect r) { return r.x1 - r.x0; }
static inline double rect_height(struct rect r) { return r.y1 - r.y0; }
/* Area of the intersection of a and b (0 when they do not overlap). */
double rect_overlap_area(struct rect a, struct rect b);
/* The smallest rectangle holding both. */
struct rect rect_union(struct rect a, struct rect b);
bool rect_contains_point(struct rect r, double x, double y);

/* --- logging --------------------------------------------------------------------------- */
enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
/* Messages above this level are dropped; default LOG_INFO. Set once at start-up. */
void log_set_level(enum log_level level);
/* Writes one line "quire: <level>: message" to stderr; thread-safe (one fprintf per line). */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic seconds since an arbitrary start. */
double now_seconds(void);

#endif
