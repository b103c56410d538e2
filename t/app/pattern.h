/* What the test application (t/app, built into sluice-t) and the seam tests
 * (t/integ/test_seam*.c) agree on: the byte at each offset of a generated body, and the
 * checksum both sides compute over request and response bodies. */
#ifndef SLUICE_T_APP_PATTERN_H
#define SLUICE_T_APP_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* The byte at offset `i` of every generated body (/_t/later, /_t/mem, /_t/fd): printable, so a
 * failure message shows it, and not periodic in any power of two. */
static inline char
app_pattern(uint64_t i)
{
    return (char)('!' + (i * 7 + i / 89) % 90);
}

static inline void
app_pattern_fill(char *buf, uint64_t off, size_t n)
{
    for (size_t k = 0; k < n; k++)
        buf[k] = app_pattern(off + k);
}

/* FNV-1a, 32 bits: start from APP_SUM_INIT and feed the bytes in order, in any pieces. */
#define APP_SUM_INIT 2166136261u

static inline uint32_t
app_sum(uint32_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t k = 0; k < n; k++) {
        h ^= b[k];
        h *= 16777619u;
    }
    return h;
}

#endif
