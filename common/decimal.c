/* The decimal parser (see decimal.h). */
#include "common/decimal.h"

#include <stddef.h>

const char *
decimal_parse(const char *p, const char *end, int64_t *out)
{
    int64_t v = 0;
    if (p == end || *p < '0' || *p > '9')
        return NULL;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return NULL;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return p;
}
