/* Free lists of fixed-size buffers, one pool per buffer kind and worker. A buffer is taken when
 * a connection needs it and given back as soon as it does not, so idle connections own none.
 * Up to `keep` free buffers stay cached (no malloc on the steady-state fast path); more are
 * returned to the allocator. All pools of a worker add up their bytes for worker_memory_limit. */
#ifndef SLUICE_BUFPOOL_H
#define SLUICE_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

struct bufpool {
    size_t size; /* bytes per buffer */
    int keep;    /* free buffers cached at most */
    void *free;  /* singly linked through the first word of each free buffer */
    int nfree;
    int nused;
};

/* Bytes held by every pool of this process: buffers in use plus cached free ones. */
extern int64_t bufpool_bytes;

void bufpool_init(struct bufpool *p, size_t size, int keep);
/* A buffer of p->size bytes (contents undefined), or NULL when malloc fails. */
void *bufpool_get(struct bufpool *p);
/* Give `buf` (from this pool) back. NULL is ignored. */
void bufpool_put(struct bufpool *p, void *buf);
/* Free every cached free buffer (buffers in use are untouched). */
void bufpool_trim(struct bufpool *p);

#endif
