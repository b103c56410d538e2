/* The one overflow-checked decimal parser: configuration values, Range headers and anything
 * else that reads a non-negative count from untrusted text. */
#ifndef SLUICE_DECIMAL_H
#define SLUICE_DECIMAL_H

#include <stdint.h>

/* Parse the decimal digits at the start of [p, end): no sign, no spaces, at least one digit,
 * stopping at the first byte that is not a digit (or at end). Returns a pointer past the last
 * digit and sets *out; NULL, *out untouched, when p has no digit or the value exceeds
 * INT64_MAX. */
const char *decimal_parse(const char *p, const char *end, int64_t *out);

#endif
