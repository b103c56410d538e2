/* Open file cache (see ofc.h): a chained hash table of entries and an LRU list; eviction takes
 * the least recently used entry when the table is full. */
#include "worker/ofc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/log.h"

#define WATCH_MASK (IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)

/* One inotify watch and the cached entries on it: several when one inode is cached under
 * several names (hard links, a file named directly and as a directory's index). */
struct watch {
    int wd;
    struct ofc_entry *entries; /* linked by wnext */
    struct watch *next;        /* hash chain */
};

static struct {
    struct ofc_entry **buckets;
    uint32_t nbuckets;
    int max, count;
    int64_t valid_ms, small_max, memory_max, memory;
    struct ofc_entry lru; /* sentinel: lru.lru_next is the most recently used */
    struct ofc_stats stats;
    int ifd;                 /* inotify instance, -1 when none */
    struct watch **wbuckets; /* nbuckets chains of watches, by wd */
    bool fallback_logged;    /* "checking with fstat" said once */
} ofc = {.ifd = -1};

static void
say_fallback(const char *why)
{
    if (ofc.fallback_logged)
        return;
    ofc.fallback_logged = true;
    log_warn("open file cache: %s; cached files are checked with fstat on each hit instead "
             "(see fs.inotify.max_user_instances and max_user_watches)",
             why);
}

int
ofc_init(int entries, int64_t valid_ms, int64_t small_max, int64_t memory)
{
    ofc.max = entries;
    ofc.valid_ms = valid_ms;
    ofc.small_max = small_max;
    ofc.memory_max = memory;
    ofc.lru.lru_next = ofc.lru.lru_prev = &ofc.lru;
    if (ofc.ifd >= 0)
        close(ofc.ifd);
    ofc.ifd = -1;
    if (entries == 0)
        return 0;
    for (ofc.nbuckets = 16; ofc.nbuckets < (uint32_t)entries * 2; ofc.nbuckets *= 2)
        ;
    ofc.buckets = calloc(ofc.nbuckets, sizeof(*ofc.buckets));
    ofc.wbuckets = calloc(ofc.nbuckets, sizeof(*ofc.wbuckets));
    if (ofc.buckets == NULL || ofc.wbuckets == NULL)
        return -1;
    ofc.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ofc.ifd < 0)
        say_fallback("inotify_init1 failed");
    return 0;
}

int
ofc_watch_fd(void)
{
    return ofc.ifd;
}

static struct watch **
watch_slot(int wd)
{
    struct watch **pp = &ofc.wbuckets[(uint32_t)wd & (ofc.nbuckets - 1)];
    while (*pp && (*pp)->wd != wd)
        pp = &(*pp)->next;
    return pp;
}

/* Watch the inode behind e->fd. On failure the entry is checked with fstat on every hit. */
static void
watch_add(struct ofc_entry *e)
{
    char path[32];
    e->wd = -1;
    if (ofc.ifd < 0)
        return;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", e->fd);
    int wd = inotify_add_watch(ofc.ifd, path, WATCH_MASK);
    if (wd < 0) {
        say_fallback(errno == ENOSPC ? "out of inotify watches" : "inotify_add_watch failed");
        return;
    }
    struct watch **pp = watch_slot(wd);
    if (*pp == NULL) {
        struct watch *w = malloc(sizeof(*w));
        if (w == NULL) {
            inotify_rm_watch(ofc.ifd, wd);
            return;
        }
        *w = (struct watch){.wd = wd, .entries = NULL, .next = NULL};
        *pp = w;
        ofc.stats.watches++;
    }
    e->wd = wd;
    e->wnext = (*pp)->entries;
    (*pp)->entries = e;
}

/* `e` leaves the table: off its watch, and the watch goes with its last entry. */
static void
watch_drop(struct ofc_entry *e)
{
    if (e->wd < 0)
        return;
    struct watch **pp = watch_slot(e->wd);
    struct watch *w = *pp;
    e->wd = -1;
    if (w == NULL)
        return;
    struct ofc_entry **ep = &w->entries;
    while (*ep && *ep != e)
        ep = &(*ep)->wnext;
    if (*ep)
        *ep = e->wnext;
    e->wnext = NULL;
    if (w->entries)
        return;
    inotify_rm_watch(ofc.ifd, w->wd);
    *pp = w->next;
    free(w);
    ofc.stats.watches--;
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
    watch_drop(e);
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

/* Every entry on watch `wd` saw its file change. */
static void
changed(int wd)
{
    struct watch *w;
    while ((w = *watch_slot(wd)) != NULL) {
        ofc.stats.changed++;
        evict(w->entries); /* frees w with its last entry */
    }
}

void
ofc_watch_events(void)
{
    /* Aligned for struct inotify_event; room for at least one event with the longest name. */
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(ofc.ifd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                /* Events were lost: nothing cached can be trusted. */
                log_notice("open file cache: inotify queue overflowed; dropping %d entries",
                           ofc.count);
                while (ofc.lru.lru_prev != &ofc.lru) {
                    ofc.stats.changed++;
                    evict(ofc.lru.lru_prev);
                }
            } else if (ev->wd >= 0 && !(ev->mask & IN_IGNORED)) {
                changed(ev->wd);
            }
        }
    }
}

/* The fstat fallback: does the file behind a hit still look as it did when cached? */
static bool
unchanged(const struct ofc_entry *e)
{
    struct stat st;
    if (e->wd >= 0 || e->fd < 0)
        return true;
    return fstat(e->fd, &st) == 0 && st.st_nlink > 0 && st.st_size == e->size &&
           st.st_mtim.tv_sec == e->mtime.tv_sec && st.st_mtim.tv_nsec == e->mtime.tv_nsec &&
           st.st_ctim.tv_sec == e->ctime.tv_sec && st.st_ctim.tv_nsec == e->ctime.tv_nsec;
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
        if (!unchanged(e)) {
            ofc.stats.changed++;
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

static void
fill_stat(struct ofc_entry *e, const struct stat *st)
{
    e->size = st->st_size;
    e->mtime = st->st_mtim;
    e->ctime = st->st_ctim;
    unsigned long long ns = (unsigned long long)st->st_mtim.tv_sec * 1000000000ULL +
                            (unsigned long long)st->st_mtim.tv_nsec;
    snprintf(e->etag, sizeof(e->etag), "\"%llx-%llx\"", ns, (unsigned long long)st->st_size);
    httpdate_format(st->st_mtim.tv_sec, e->last_modified);
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
    e->wd = -1;
    if (fd >= 0)
        fill_stat(e, st);
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
    if (fd >= 0) {
        watch_add(e);
        /* A change between the caller's fstat and the watch raised no event: look once
         * more, now that every later change will. */
        struct stat now;
        if (e->wd >= 0 && fstat(fd, &now) == 0)
            fill_stat(e, &now);
    }
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
