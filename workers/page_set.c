/*
 * page_set.c - "1-3,7,10-" page selections for --pages.
 */
#include "workers.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static bool parse_number(const char **s, int *out)
{
    char *end;
    long v = strtol(*s, &end, 10);
    if (end == *s || v < 1 || v > INT_MAX - 1)
        return false;
    *out = (int)v;
    *s = end;
    return true;
}

int page_set_parse(const char *text, struct page_set *out, char **msg)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    const char *s = text;
    while (*s) {
        int first, last;
        if (!parse_number(&s, &first))
            goto bad;
        last = first;
        if (*s == '-') {
            s++;
            if (*s == '\0' || *s == ',')
                last = INT_MAX;
            else if (!parse_number(&s, &last) || last < first)
                goto bad;
        }
        if (q_grow((void **)&out->ranges, 2 * sizeof *out->ranges, &cap, out->n_ranges + 1)) {
            page_set_release(out);
            return QUIRE_ENOMEM;
        }
        out->ranges[2 * out->n_ranges] = first;
        out->ranges[2 * out->n_ranges + 1] = last;
        out->n_ranges++;
        if (*s == ',')
            s++;
        else if (*s)
            goto bad;
    }
    if (out->n_ranges == 0)
        goto bad;
    return 0;
bad:
    page_set_release(out);
    if (msg)
        *msg = q_asprintf("invalid page selection '%s' (expected e.g. 1-3,7,10-)", text);
    return QUIRE_EINVAL;
}

bool page_set_contains(const struct page_set *set, int page)
{
    if (set->n_ranges == 0)
        return true;
    for (size_t i = 0; i < set->n_ranges; i++)
        if (page >= set->ranges[2 * i] && page <= set->ranges[2 * i + 1])
            return true;
    return false;
}

void page_set_release(struct page_set *set)
{
    free(set->ranges);
    set->ranges = NULL;
    set->n_ranges = 0;
}
