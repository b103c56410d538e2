/* Range parsing (see range.h). */
#include "worker/range.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/decimal.h"

/* Up to 64 specs are read before merging; beyond that the request is ignored outright. */
#define RANGE_SPECS_MAX 64

static const char *
skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Decimal digits into *out (common/decimal.h); -1 on none or overflow. */
static int
digits(const char **pp, const char *end, off_t *out)
{
    int64_t v;
    const char *p = decimal_parse(*pp, end, &v);
    if (p == NULL)
        return -1;
    *pp = p;
    *out = (off_t)v;
    return 0;
}

static int
by_first(const void *a, const void *b)
{
    off_t x = ((const struct range *)a)->first, y = ((const struct range *)b)->first;
    return x < y ? -1 : x > y;
}

enum range_result
range_parse(const char *value, size_t n, off_t size, struct range *out, int max, int *count)
{
    struct range specs[RANGE_SPECS_MAX];
    int nspecs = 0;
    const char *p = value, *end = value + n;

    *count = 0;
    p = skip_ows(p, end);
    if ((size_t)(end - p) < 6 || strncasecmp(p, "bytes=", 6) != 0)
        return RANGE_IGNORE;
    p += 6;
    bool any_spec = false;
    while (p < end) {
        p = skip_ows(p, end);
        if (p < end && *p == ',') { /* empty list elements are allowed (RFC 9110 5.6.1) */
            p++;
            continue;
        }
        off_t first, last;
        bool suffix = false;
        if (p < end && *p == '-') {
            p++;
            if (digits(&p, end, &last) < 0)
                return RANGE_IGNORE;
            suffix = true;
        } else {
            if (digits(&p, end, &first) < 0 || p == end || *p != '-')
                return RANGE_IGNORE;
            p++;
            if (p < end && *p >= '0' && *p <= '9') {
                if (digits(&p, end, &last) < 0 || last < first)
                    return RANGE_IGNORE;
            } else {
                last = -1; /* open-ended */
            }
        }
        p = skip_ows(p, end);
        if (p < end && *p != ',')
            return RANGE_IGNORE;
        any_spec = true;
        /* Clamp to the representation; a spec that misses it entirely is dropped. */
        if (suffix) {
            if (last == 0 || size == 0)
                continue;
            first = last >= size ? 0 : size - last;
            last = size - 1;
        } else {
            if (first >= size)
                continue;
            if (last < 0 || last >= size)
                last = size - 1;
        }
        if (nspecs == RANGE_SPECS_MAX)
            return RANGE_IGNORE;
        specs[nspecs++] = (struct range){first, last};
    }
    if (!any_spec)
        return RANGE_IGNORE;
    if (nspecs == 0)
        return RANGE_UNSATISFIABLE;

    qsort(specs, (size_t)nspecs, sizeof(specs[0]), by_first);
    int m = 0;
    for (int i = 0; i < nspecs; i++) {
        if (m > 0 && specs[i].first <= out[m - 1].last + 1) {
            if (specs[i].last > out[m - 1].last)
                out[m - 1].last = specs[i].last;
            continue;
        }
        if (m == max)
            return RANGE_IGNORE;
        out[m++] = specs[i];
    }
    *count = m;
    return RANGE_OK;
}
