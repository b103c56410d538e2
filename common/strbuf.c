/* The bounded text writer (see strbuf.h). */
#include "common/strbuf.h"

#include <stdarg.h>
#include <stdio.h>

void
strbuf_put(struct strbuf *b, const char *fmt, ...)
{
    if (b->full || b->cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->full = true;
        b->len = b->cap - 1; /* truncated, NUL-terminated by vsnprintf */
        return;
    }
    b->len += (size_t)n;
}
