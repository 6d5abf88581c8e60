/*
 * common.c - error phrases, the allocation hook, rectangles and logging.
 *
 * The allocation hook exists so tests can fail the n-th allocation (as SQLite's test harness
 * does) and check that no path leaks or crashes on out-of-memory.
 */
#include "common.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *err_str(int err)
{
    switch (err) {
    case QUIRE_OK: return "success";
    case QUIRE_ENOMEM: return "out of memory";
    case QUIRE_EIO: return "input/output error";
    case QUIRE_EINVAL: return "invalid argument";
    case QUIRE_ENOENT: return "no such file";
    case QUIRE_ENOTPDF: return "not a PDF file";
    case QUIRE_ETRUNCATED: return "truncated or damaged PDF";
    case QUIRE_EENCRYPTED: return "encrypted PDF (wrong or missing password)";
    case QUIRE_ELIMIT: return "limit exceeded";
    case QUIRE_EDB: return "database error";
    case QUIRE_EBUSY: return "database is locked";
    case QUIRE_ECONFIG: return "malformed configuration";
    case QUIRE_EMODEL: return "malformed or unsupported model file";
    case QUIRE_EPARSE: return "malformed input";
    case QUIRE_ECANCELLED: return "cancelled";
    case QUIRE_ETIMEOUT: return "timed out";
    case QUIRE_ENOPAGES: return "the PDF has no pages";
    case QUIRE_EREADONLY: return "read-only database or disk";
    case QUIRE_EFULL: return "disk full";
    }
    return "unknown error";
}

/* Countdown to the injected failure: 0 = off, 1 = the next allocation fails. Once it reached
 * the failing allocation it stays at 1 so every later allocation fails as well. */
static atomic_long fail_countdown;

void q_alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }

static bool should_fail(void)
{
    long n = atomic_load(&fail_countdown);
    if (n <= 0)
        return false;
    if (n == 1)
        return true;
    atomic_fetch_sub(&fail_countdown, 1);
    return false;
}

void *q_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *q_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *q_realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(p, size ? size : 1);
}

char *q_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = q_malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *q_strdup(const char *s) { return q_strndup(s, strlen(s)); }

char *q_vasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (len < 0)
        return NULL;
    char *s = q_malloc((size_t)len + 1);
    if (!s)
        return NULL;
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    return s;
}

char *q_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = q_vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void q_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

int q_cmp_double(const void *a, const void *b)
{
    double p = *(const double *)a, q = *(const double *)b;
    return (p > q) - (p < q);
}

int q_grow(void **items, size_t size, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 8;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size)
            return QUIRE_ENOMEM;
        n *= 2;
    }
    void *p = q_realloc(*items, n * size);
    if (!p)
        return QUIRE_ENOMEM;
    *items = p;
    *cap = n;
    return 0;
}

double rect_overlap_area(struct rect a, struct rect b)
{
    double w = (a.x1 < b.x1 ? a.x1 : b.x1) - (a.x0 > b.x0 ? a.x0 : b.x0);
    double h = (a.y1 < b.y1 ? a.y1 : b.y1) - (a.y0 > b.y0 ? a.y0 : b.y0);
    return (w > 0 && h > 0) ? w * h : 0.0;
}

struct rect rect_union(struct rect a, struct rect b)
{
    struct rect r = {
        a.x0 < b.x0 ? a.x0 : b.x0, a.y0 < b.y0 ? a.y0 : b.y0,
        a.x1 > b.x1 ? a.x1 : b.x1, a.y1 > b.y1 ? a.y1 : b.y1,
    };
    return r;
}

bool rect_contains_point(struct rect r, double x, double y)
{
    return x >= r.x0 && x <= r.x1 && y >= r.y0 && y <= r.y1;
}

static atomic_int log_level = LOG_INFO;

void log_set_level(enum log_level level) { atomic_store(&log_level, (int)level); }

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    if ((int)level > atomic_load(&log_level))
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "quire: %s: %s\n", names[level], line);
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
