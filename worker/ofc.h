/* The open file cache (per worker): what static_open found for a request path, kept for
 * open_file_cache_valid so a hit costs no open(2), fstat(2) or close(2): the descriptor, the stat
 * figures, the validators, and for small files the bytes themselves, so headers and body leave
 * in one writev. Misses (404, 403) are remembered too, so a client asking again and again for a
 * missing file (or a .gz variant that does not exist) costs nothing either.
 *
 * Entries are reference counted: the table holds one reference and every response in flight
 * one more, so an entry evicted (or gone stale) while a download still reads from its
 * descriptor stays open until that download ends. With open_file_cache = 0 every entry is
 * private to its response and closed when it ends.
 *
 * Freshness: a file rewritten in place keeps its inode, so without help a cached entry would
 * serve new bytes under the old ETag and Content-Length for up to open_file_cache_valid (and
 * break If-Range resumption). Each cached file is watched with inotify (one instance per
 * worker, IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF), added through
 * /proc/self/fd/N so the inode watched is the one served; its event drops the entry before
 * any request of the same epoll batch runs (worker.c handles the inotify fd first). A hit costs
 * no system call. Where inotify is unavailable or out of watches, a hit fstat()s the cached
 * descriptor instead (logged once). Writes through a shared mmap and changes made on another
 * host of a network file system raise no event: there open_file_cache_valid still bounds the
 * staleness. */
#ifndef SLUICE_OFC_H
#define SLUICE_OFC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "worker/httpdate.h"

struct ofc_entry {
    int status; /* 200: a regular file in fd; else the HTTP status of the miss (404, 403) */
    int fd;     /* -1 for misses */
    off_t size;
    struct timespec mtime;
    char etag[48];
    char last_modified[HTTPDATE_LEN + 1];
    const char *name; /* the file opened (an index file for a directory), for the type */
    char *data;       /* whole contents for small files, else NULL */
    char *head;       /* the 200 response's header lines, built on first use (static_resp.c) */
    size_t head_len;

    /* owned by ofc.c */
    int wd;                  /* inotify watch of fd, -1 when none (then: fstat on hit) */
    struct ofc_entry *wnext; /* other entries on the same watch (same inode) */
    struct timespec ctime;   /* for the fstat fallback */
    int refs;
    bool in_table;
    uint32_t hash;
    int64_t expires_ms;
    char *key;
    struct ofc_entry *hnext, *lru_prev, *lru_next;
};

/* Size the cache: at most `entries` entries (0: no caching), valid for `valid_ms`, small files
 * up to `small_max` bytes held in memory within `memory` bytes in all. Once per worker; also
 * makes the inotify instance (see above), whose failure is logged, not fatal. */
int ofc_init(int entries, int64_t valid_ms, int64_t small_max, int64_t memory);

/* The inotify descriptor to watch for EPOLLIN, or -1 when there is none. */
int ofc_watch_fd(void);

/* Read and apply every pending inotify event: drop the entries whose file changed, the whole
 * cache when the kernel's event queue overflowed. Call before dispatching any other event of
 * the batch in which the descriptor was readable. */
void ofc_watch_events(void);

/* A live entry for `key` with a new reference, or NULL (absent or expired: the caller opens
 * the file and calls ofc_put). */
struct ofc_entry *ofc_get(const char *key, int64_t now_ms);

/* Record what opening `key` gave: `fd` (ownership passes; -1 for a miss with `status`) with its
 * stat `st` and the file `name`. Returns the entry with one reference for the caller, or NULL
 * when out of memory (the fd is closed then). */
struct ofc_entry *ofc_put(const char *key, int status, int fd, const struct stat *st,
                          const char *name, int64_t now_ms);

/* An entry that never enters the cache (a generated listing): owns `fd`, closed on release. */
struct ofc_entry *ofc_put_private(int status, int fd, const struct stat *st, const char *name);

/* The file behind `e` turned out to differ from what was cached (it shrank under a sendfile):
 * take it out of the table so the next request opens it again. */
void ofc_invalidate(struct ofc_entry *e);

void ofc_ref(struct ofc_entry *e);
void ofc_release(struct ofc_entry *e);

/* Counters for tests and status. */
struct ofc_stats {
    uint64_t hits, misses, evictions;
    uint64_t changed; /* entries dropped because their file changed (inotify or fstat) */
    int watches;      /* inotify watches held */
    int entries;
    int64_t memory;
};
void ofc_stats(struct ofc_stats *st);

#endif
