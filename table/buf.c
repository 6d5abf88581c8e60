/*
 * table/buf.c - the append-only output buffer every renderer writes into, and UTF-8 repair.
 *
 * Renderers append unconditionally and look at the result once (table__buf_finish), which keeps
 * their code straight-line while still returning NULL on any allocation failure.
 */
#include "table_internal.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct table__buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra > SIZE_MAX - b->len - 1) {
        b->failed = true;
        return false;
    }
    if (q_grow((void **)&b->data, 1, &b->cap, b->len + extra + 1) != 0) {
        b->failed = true;
        return false;
    }
    return true;
}

void table__buf_putn(struct table__buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void table__buf_puts(struct table__buf *b, const char *s) { table__buf_putn(b, s, strlen(s)); }

void table__buf_putc(struct table__buf *b, char c) { table__buf_putn(b, &c, 1); }

void table__buf_printf(struct table__buf *b, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        table__buf_putn(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *table__buf_finish(struct table__buf *b)
{
    if (!b->failed && !b->data)
        reserve(b, 0);
    if (b->failed) {
        table__buf_release(b);
        return NULL;
    }
    char *s = b->data;
    s[b->len] = '\0';
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void table__buf_release(struct table__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *table__utf8_sanitize(const char *s)
{
    static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */
    struct table__buf b = {0};
    const char *p = s, *end = s + strlen(s);
    while (p < end) {
        const gchar *bad;
        if (g_utf8_validate(p, end - p, &bad)) {
            table__buf_putn(&b, p, (size_t)(end - p));
            break;
        }
        table__buf_putn(&b, p, (size_t)(bad - p));
        table__buf_puts(&b, replacement);
        p = bad + 1;
    }
    return table__buf_finish(&b);
}
