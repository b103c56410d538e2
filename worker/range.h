/* Range requests (RFC 9110 14): parsing a `Range: bytes=...` value against a representation of
 * a known length. Pure function. */
#ifndef SLUICE_RANGE_H
#define SLUICE_RANGE_H

#include <stddef.h>
#include <sys/types.h>

struct range {
    off_t first, last; /* inclusive */
};

enum range_result {
    RANGE_IGNORE,        /* no usable Range (bad syntax, other unit, too many): send it all */
    RANGE_OK,            /* *count ranges in `out`, sorted, overlaps and neighbours merged */
    RANGE_UNSATISFIABLE, /* valid, but no range overlaps the representation: 416 */
};

/* Parse `value` (`n` bytes) for a representation of `size` bytes into at most `max` ranges.
 * More than `max` ranges after merging is RANGE_IGNORE, so a many-range request costs no more
 * than a plain one. */
enum range_result range_parse(const char *value, size_t n, off_t size, struct range *out, int max,
                              int *count);

#endif
