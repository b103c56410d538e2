/* Buffer free lists (see bufpool.h). */
#include "worker/bufpool.h"

#include <stdlib.h>

int64_t bufpool_bytes;

void
bufpool_init(struct bufpool *p, size_t size, int keep)
{
    p->size = size < sizeof(void *) ? sizeof(void *) : size;
    p->keep = keep;
    p->free = NULL;
    p->nfree = p->nused = 0;
}

void *
bufpool_get(struct bufpool *p)
{
    void *buf = p->free;
    if (buf) {
        p->free = *(void **)buf;
        p->nfree--;
    } else {
        if ((buf = malloc(p->size)) == NULL)
            return NULL;
        bufpool_bytes += (int64_t)p->size;
    }
    p->nused++;
    return buf;
}

void
bufpool_put(struct bufpool *p, void *buf)
{
    if (buf == NULL)
        return;
    p->nused--;
    if (p->nfree >= p->keep) {
        free(buf);
        bufpool_bytes -= (int64_t)p->size;
        return;
    }
    *(void **)buf = p->free;
    p->free = buf;
    p->nfree++;
}

void
bufpool_trim(struct bufpool *p)
{
    void *b;
    while ((b = p->free) != NULL) {
        p->free = *(void **)b;
        p->nfree--;
        free(b);
        bufpool_bytes -= (int64_t)p->size;
    }
}
