/* A bounded text writer over a caller's buffer, for the status documents (the master's `sluice
 * status`, the workers' status page): printf-style appends that stop at the bound, once. */
#ifndef SLUICE_STRBUF_H
#define SLUICE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *p;    /* the caller's */
    size_t len; /* bytes written, NUL not counted */
    size_t cap; /* bytes of p */
    bool full;  /* an append did not fit: nothing more is written */
};

/* Append. One that does not fit leaves the text cut at cap - 1 bytes (NUL-terminated), sets
 * `full`, and makes every later append a no-op. */
void strbuf_put(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
