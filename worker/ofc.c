/* Open file cache (see ofc.h): a chained hash table of entries and an LRU list; eviction takes
 * the least recently used entry when the table is full. */
#include "worker/ofc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    struct ofc_entry **buckets;
    uint32_t nbuckets;
    int max, count;
    int64_t valid_ms, small_max, memory_max, memory;
    struct ofc_entry lru; /* sentinel: lru.lru_next is the most recently used */
    struct ofc_stats stats;
} ofc;

int
ofc_init(int entries, int64_t valid_ms, int64_t small_max, int64_t memory)
{
    ofc.max = entries;
    ofc.valid_ms = valid_ms;
    ofc.small_max = small_max;
    ofc.memory_max = memory;
    ofc.lru.lru_next = ofc.lru.lru_prev = &ofc.lru;
    if (entries == 0)
        return 0;
    for (ofc.nbuckets = 16; ofc.nbuckets < (uint32_t)entries * 2; ofc.nbuckets *= 2)
        ;
    ofc.buckets = calloc(ofc.nbuckets, sizeof(*ofc.buckets));
    return ofc.buckets ? 0 : -1;
}

static uint32_t
hash_key(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void
lru_unlink(struct ofc_entry *e)
{
    e->lru_prev->lru_next = e->lru_next;
    e->lru_next->lru_prev = e->lru_prev;
}

static void
lru_front(struct ofc_entry *e)
{
    e->lru_next = ofc.lru.lru_next;
    e->lru_prev = &ofc.lru;
    ofc.lru.lru_next->lru_prev = e;
    ofc.lru.lru_next = e;
}

static void
destroy(struct ofc_entry *e)
{
    if (e->fd >= 0)
        close(e->fd);
    if (e->data) {
        ofc.memory -= e->size;
        free(e->data);
    }
    free(e->head);
    free(e->key);
    free(e);
}

void
ofc_ref(struct ofc_entry *e)
{
    e->refs++;
}

void
ofc_release(struct ofc_entry *e)
{
    if (e && --e->refs == 0)
        destroy(e);
}

/* Take `e` out of the table; it lives on while responses hold it. */
static void
evict(struct ofc_entry *e)
{
    struct ofc_entry **pp = &ofc.buckets[e->hash & (ofc.nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    e->in_table = false;
    ofc.count--;
    ofc.stats.evictions++;
    ofc_release(e);
}

void
ofc_invalidate(struct ofc_entry *e)
{
    if (e && e->in_table)
        evict(e);
}

struct ofc_entry *
ofc_get(const char *key, int64_t now_ms)
{
    if (ofc.max == 0)
        return NULL;
    uint32_t h = hash_key(key);
    for (struct ofc_entry *e = ofc.buckets[h & (ofc.nbuckets - 1)]; e; e = e->hnext) {
        if (e->hash != h || strcmp(e->key, key) != 0)
            continue;
        if (now_ms >= e->expires_ms) {
            /* Stale: open again, so a replaced or removed file shows within valid_ms. */
            evict(e);
            break;
        }
        lru_unlink(e);
        lru_front(e);
        e->refs++;
        ofc.stats.hits++;
        return e;
    }
    ofc.stats.misses++;
    return NULL;
}

/* Small files: read them whole, so the response is one writev of headers and body. A file that
 * changes size while read is left on disk (sendfile then sees what is there). */
static void
load_small(struct ofc_entry *e)
{
    if (e->fd < 0 || e->size == 0 || e->size > ofc.small_max ||
        ofc.memory + e->size > ofc.memory_max)
        return;
    char *buf = malloc((size_t)e->size);
    if (buf == NULL)
        return;
    if (pread(e->fd, buf, (size_t)e->size, 0) != e->size) {
        free(buf);
        return;
    }
    e->data = buf;
    ofc.memory += e->size;
}

static struct ofc_entry *
make(const char *key, int status, int fd, const struct stat *st, const char *name)
{
    struct ofc_entry *e = calloc(1, sizeof(*e) + strlen(name) + 1);
    if (e == NULL || (e->key = strdup(key)) == NULL) {
        free(e);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    e->status = status;
    e->fd = fd;
    e->name = strcpy((char *)(e + 1), name);
    e->refs = 1;
    if (fd >= 0) {
        e->size = st->st_size;
        e->mtime = st->st_mtim;
        unsigned long long ns = (unsigned long long)st->st_mtim.tv_sec * 1000000000ULL +
                                (unsigned long long)st->st_mtim.tv_nsec;
        snprintf(e->etag, sizeof(e->etag), "\"%llx-%llx\"", ns, (unsigned long long)st->st_size);
        httpdate_format(st->st_mtim.tv_sec, e->last_modified);
    }
    return e;
}

struct ofc_entry *
ofc_put_private(int status, int fd, const struct stat *st, const char *name)
{
    return make("", status, fd, st, name);
}

struct ofc_entry *
ofc_put(const char *key, int status, int fd, const struct stat *st, const char *name,
        int64_t now_ms)
{
    struct ofc_entry *e = make(key, status, fd, st, name);
    if (e == NULL || ofc.max == 0)
        return e;

    if (ofc.count == ofc.max)
        evict(ofc.lru.lru_prev);
    load_small(e);
    e->hash = hash_key(key);
    e->expires_ms = now_ms + ofc.valid_ms;
    struct ofc_entry **b = &ofc.buckets[e->hash & (ofc.nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    lru_front(e);
    e->in_table = true;
    e->refs++;
    ofc.count++;
    return e;
}

void
ofc_stats(struct ofc_stats *st)
{
    *st = ofc.stats;
    st->entries = ofc.count;
    st->memory = ofc.memory;
}
