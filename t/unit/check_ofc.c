/* Unit tests for worker/ofc.c, the open file cache: references keep a descriptor open while a
 * response uses it, eviction when full (least recently used first), remembered misses, expiry
 * after open_file_cache_valid, invalidation under a held reference, small files held in
 * memory within their budget. Real files in a temp dir; the cache is per process, and Check
 * forks a process per test, so each test sizes its own cache. */
#include "worker/ofc.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "deny.h"

#define VALID_MS 1000
#define T0 5000 /* "now" of the tests, in ms */

static char dir[256];

static void
setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/sluice-ofc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int
remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void
teardown(void)
{
    ck_assert_int_eq(nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* Write `data` to <dir>/<name>, open it read-only and stat it, as static_open would. */
static int
open_file(const char *name, const char *data, struct stat *st)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, strlen(data), f), strlen(data));
    ck_assert_int_eq(fclose(f), 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, st), 0);
    return fd;
}

/* Put a freshly opened file under `key` at time `now`; the caller gets one reference. */
static struct ofc_entry *
put_file(const char *key, const char *data, int64_t now)
{
    struct stat st;
    int fd = open_file(key, data, &st);
    struct ofc_entry *e = ofc_put(key, 200, fd, &st, key, now);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->status, 200);
    ck_assert_int_eq(e->fd, fd);
    ck_assert_int_eq(e->size, (off_t)strlen(data));
    return e;
}

static bool
fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* The descriptor reads `want` from offset 0. */
static void
assert_reads(int fd, const char *want)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    ck_assert_int_eq(n, (ssize_t)strlen(want));
    ck_assert(memcmp(buf, want, (size_t)n) == 0);
}

static struct ofc_stats
stats(void)
{
    struct ofc_stats st;
    ofc_stats(&st);
    return st;
}

START_TEST(test_get_put_release)
{
    ck_assert_int_eq(ofc_init(8, VALID_MS, 0, 0), 0);
    ck_assert_ptr_null(ofc_get("a.txt", T0));
    ck_assert_uint_eq(stats().misses, 1);

    struct ofc_entry *e = put_file("a.txt", "alpha", T0);
    int fd = e->fd;
    ck_assert_int_eq(stats().entries, 1);
    ck_assert_ptr_eq(ofc_get("a.txt", T0 + 1), e);
    ck_assert_ptr_eq(ofc_get("a.txt", T0 + 2), e);
    ck_assert_uint_eq(stats().hits, 2);
    ck_assert_ptr_null(ofc_get("b.txt", T0)); /* another key misses */
    ck_assert_uint_eq(stats().misses, 2);

    /* Every response releases its reference; the table's keeps the file open for the next. */
    ofc_release(e);
    ofc_release(e);
    ofc_release(e);
    ck_assert(fd_open(fd));
    struct ofc_entry *again = ofc_get("a.txt", T0 + 3);
    ck_assert_ptr_eq(again, e);
    assert_reads(again->fd, "alpha");
    ofc_ref(again); /* a second holder, e.g. a copy of the response */
    ofc_release(again);
    ofc_release(again);
    ck_assert(fd_open(fd));

    /* Once out of the table and released by all, the descriptor is closed. */
    ofc_invalidate(e);
    ck_assert(!fd_open(fd));
    ck_assert_int_eq(stats().entries, 0);
    ck_assert_ptr_null(ofc_get("a.txt", T0 + 4));
    ofc_release(NULL); /* harmless */
}
END_TEST

/* Put <dir>/<name> holding `data`, its mtime set to `sec`.`nsec`, under the key `name`. */
static struct ofc_entry *
put_dated(const char *name, const char *data, time_t sec, long nsec)
{
    struct stat st;
    int fd = open_file(name, data, &st);
    struct timespec times[2] = {{sec, nsec}, {sec, nsec}};
    ck_assert_int_eq(futimens(fd, times), 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    struct ofc_entry *e = ofc_put(name, 200, fd, &st, name, T0);
    ck_assert_ptr_nonnull(e);
    return e;
}

START_TEST(test_validators)
{
    ck_assert_int_eq(ofc_init(8, VALID_MS, 0, 0), 0);
    struct ofc_entry *a = put_dated("v1", "12345", 1700000000, 5);
    ck_assert_str_eq(a->last_modified, "Tue, 14 Nov 2023 22:13:20 GMT");
    ck_assert_str_eq(a->name, "v1");
    ck_assert_int_eq(a->etag[0], '"');
    ck_assert_int_eq(a->etag[strlen(a->etag) - 1], '"');

    /* Same size, mtime 1 ns later; then same mtime, another size: a new ETag each time. */
    struct ofc_entry *b = put_dated("v2", "12345", 1700000000, 6);
    struct ofc_entry *c = put_dated("v3", "123456", 1700000000, 5);
    struct ofc_entry *same = put_dated("v4", "54321", 1700000000, 5);
    ck_assert_str_ne(a->etag, b->etag);
    ck_assert_str_ne(a->etag, c->etag);
    ck_assert_str_ne(b->etag, c->etag);
    ck_assert_str_eq(a->etag, same->etag); /* validators see size and time, not bytes */
    ofc_release(a);
    ofc_release(b);
    ofc_release(c);
    ofc_release(same);
}
END_TEST

/* Full: the least recently used entry leaves; a response still reading it keeps its file. */
START_TEST(test_evicts_lru_when_full)
{
    ck_assert_int_eq(ofc_init(2, VALID_MS, 0, 0), 0);
    struct ofc_entry *a = put_file("a", "aaa", T0);
    struct ofc_entry *b = put_file("b", "bbb", T0);
    ofc_release(a);
    ck_assert_ptr_eq(ofc_get("a", T0 + 1), a); /* a is now the most recently used */
    ofc_release(a);
    int bfd = b->fd; /* b: still held by its response */

    struct ofc_entry *c = put_file("c", "ccc", T0 + 2);
    ck_assert_int_eq(stats().entries, 2);
    ck_assert_uint_eq(stats().evictions, 1);
    ck_assert_ptr_null(ofc_get("b", T0 + 3));
    ck_assert_ptr_eq(ofc_get("a", T0 + 3), a);
    ck_assert_ptr_eq(ofc_get("c", T0 + 3), c);
    ofc_release(a);
    ofc_release(c);

    ck_assert(fd_open(bfd));
    assert_reads(bfd, "bbb");
    ofc_release(b);
    ck_assert(!fd_open(bfd));

    /* An unreferenced entry evicted is closed at once. c is now the least recently used. */
    ck_assert_ptr_eq(ofc_get("a", T0 + 4), a);
    ofc_release(a);
    int cfd = c->fd;
    ofc_release(c);
    struct ofc_entry *d = put_file("d", "ddd", T0 + 5);
    ck_assert(!fd_open(cfd));
    ck_assert_ptr_null(ofc_get("c", T0 + 6));
    ck_assert_uint_eq(stats().evictions, 2);
    ofc_release(d);
}
END_TEST

/* A miss (404, 403) is remembered: no descriptor, the status, and no open(2) next time. */
START_TEST(test_negative_entries)
{
    ck_assert_int_eq(ofc_init(4, VALID_MS, 0, 0), 0);
    struct stat none = {0};
    struct ofc_entry *e = ofc_put("missing.txt", 404, -1, &none, "missing.txt", T0);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->status, 404);
    ck_assert_int_eq(e->fd, -1);
    ck_assert_ptr_null(e->data);
    ofc_release(e);
    struct ofc_entry *hit = ofc_get("missing.txt", T0 + 10);
    ck_assert_ptr_eq(hit, e);
    ck_assert_int_eq(hit->status, 404);
    ofc_release(hit);

    struct ofc_entry *f = ofc_put("secret/", 403, -1, &none, "secret/", T0);
    ck_assert_ptr_nonnull(f);
    ofc_release(f);
    ck_assert_int_eq(ofc_get("secret/", T0 + 1)->status, 403);
    ofc_release(f);
    ck_assert_int_eq(stats().entries, 2);

    /* A miss expires like a hit, so a file created later shows within valid_ms. */
    ck_assert_ptr_null(ofc_get("missing.txt", T0 + VALID_MS));
    ck_assert_int_eq(stats().entries, 1);
}
END_TEST

START_TEST(test_expiry)
{
    ck_assert_int_eq(ofc_init(4, VALID_MS, 0, 0), 0);
    struct ofc_entry *e = put_file("x", "old", T0);
    ofc_release(e);
    struct ofc_entry *hit = ofc_get("x", T0 + VALID_MS - 1);
    ck_assert_ptr_eq(hit, e);
    int fd = e->fd;

    /* At valid_ms the entry is stale: a miss, and it leaves the table; the response holding
     * it keeps reading the file it started with. */
    ck_assert_ptr_null(ofc_get("x", T0 + VALID_MS));
    ck_assert_int_eq(stats().entries, 0);
    ck_assert(fd_open(fd));
    assert_reads(fd, "old");

    struct ofc_entry *fresh = put_file("x", "new!", T0 + VALID_MS);
    ck_assert_ptr_ne(fresh, e);
    ofc_release(fresh);
    struct ofc_entry *now = ofc_get("x", T0 + VALID_MS + 1);
    ck_assert_ptr_eq(now, fresh);
    ck_assert_int_eq(now->size, 4);
    ofc_release(now);

    ofc_release(hit);
    ck_assert(!fd_open(fd));
}
END_TEST

/* ofc_invalidate while a download holds the entry: the next request misses and opens the file
 * again, the download keeps a valid descriptor until it releases. */
START_TEST(test_invalidate_while_held)
{
    ck_assert_int_eq(ofc_init(4, VALID_MS, 0, 0), 0);
    struct ofc_entry *e = put_file("f", "content", T0);
    int fd = e->fd;
    ofc_invalidate(e);
    ck_assert_ptr_null(ofc_get("f", T0 + 1));
    ck_assert_int_eq(stats().entries, 0);
    ck_assert(fd_open(fd));
    assert_reads(fd, "content");
    ofc_invalidate(e); /* a second time: nothing more to drop */
    ck_assert(fd_open(fd));

    /* The same key can be cached again while the old entry lives on. */
    struct ofc_entry *n = put_file("f", "content2", T0 + 2);
    ck_assert_ptr_ne(n, e);
    ofc_release(n);
    ck_assert_ptr_eq(ofc_get("f", T0 + 3), n);
    ofc_release(n);

    ofc_release(e);
    ck_assert(!fd_open(fd));
    ck_assert(fd_open(n->fd));
    ofc_invalidate(NULL); /* harmless */
}
END_TEST

/* Files up to small_file_max are held in memory, within small_file_cache bytes in all; the
 * bytes go back when the entry goes. */
START_TEST(test_small_file_data)
{
    ck_assert_int_eq(ofc_init(8, VALID_MS, 16, 40), 0);
    struct ofc_entry *s = put_file("small", "hello", T0);
    ck_assert_ptr_nonnull(s->data);
    ck_assert(memcmp(s->data, "hello", 5) == 0);
    ck_assert_int_eq(stats().memory, 5);

    struct ofc_entry *big = put_file("big", "0123456789abcdefg", T0); /* 17 > 16 */
    ck_assert_ptr_null(big->data);
    struct ofc_entry *empty = put_file("empty", "", T0);
    ck_assert_ptr_null(empty->data);
    ck_assert_int_eq(stats().memory, 5);

    struct ofc_entry *m1 = put_file("m1", "0123456789abcdef", T0); /* 16: at the limit */
    ck_assert_ptr_nonnull(m1->data);
    ck_assert_int_eq(stats().memory, 21);
    struct ofc_entry *m2 = put_file("m2", "fedcba9876543210", T0);
    ck_assert_ptr_nonnull(m2->data);
    ck_assert_int_eq(stats().memory, 37);
    struct ofc_entry *m3 = put_file("m3", "zzzz", T0); /* 41 > 40: from disk */
    ck_assert_ptr_null(m3->data);
    ck_assert_int_eq(stats().memory, 37);

    /* Memory comes back when the last reference goes, not at eviction. */
    ofc_invalidate(m1);
    ck_assert_int_eq(stats().memory, 37);
    ck_assert(memcmp(m1->data, "0123456789abcdef", 16) == 0);
    ofc_release(m1);
    ck_assert_int_eq(stats().memory, 21);
    struct ofc_entry *m4 = put_file("m4", "yyyy", T0);
    ck_assert_ptr_nonnull(m4->data);
    ck_assert_int_eq(stats().memory, 25);

    struct ofc_entry *list[] = {s, big, empty, m2, m3, m4};
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
        ofc_release(list[i]);
}
END_TEST

/* A generated listing: the entry owns its memfd and never enters the table. */
START_TEST(test_private_entry)
{
    ck_assert_int_eq(ofc_init(4, VALID_MS, 1024, 4096), 0);
    int fd = memfd_create("ofc-test", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "list", 4), 4);
    struct stat st = {.st_size = 4};
    struct ofc_entry *e = ofc_put_private(200, fd, &st, "dir/");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->fd, fd);
    ck_assert_int_eq(stats().entries, 0);
    ck_assert_int_eq(stats().memory, 0);
    ck_assert_ptr_null(ofc_get("", T0));
    ck_assert_ptr_null(ofc_get("dir/", T0));
    ofc_invalidate(e); /* not in the table: nothing happens */
    ck_assert(fd_open(fd));
    ofc_release(e);
    ck_assert(!fd_open(fd));
}
END_TEST

/* open_file_cache = 0: every entry is private to its response and closed when it ends. */
START_TEST(test_disabled)
{
    ck_assert_int_eq(ofc_init(0, VALID_MS, 1024, 4096), 0);
    ck_assert_ptr_null(ofc_get("a", T0));
    struct ofc_entry *e = put_file("a", "aaa", T0);
    int fd = e->fd;
    ck_assert_ptr_null(ofc_get("a", T0));
    ck_assert_int_eq(stats().entries, 0);
    ofc_release(e);
    ck_assert(!fd_open(fd));
    ck_assert_uint_eq(stats().hits, 0);
}
END_TEST

/* ---- freshness: a file rewritten in place (same inode) ---- */

/* Rewrite <dir>/<name> in place: same inode, new bytes, new size. */
static void
rewrite(const char *name, const char *data)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    close(fd);
}

/* The worker reads inotify events before the requests of each batch (ofc_watch_events when
 * there is a watch descriptor, nothing otherwise); then the next request misses, so the ETag
 * and length it gets are the new file's. Holds whichever mechanism the cache uses. */
static void
expect_fresh_after_rewrite(void)
{
    struct ofc_entry *e = put_file("f", "old!", T0);
    struct ofc_entry *u = put_file("u", "untouched", T0);
    ofc_release(e);
    ofc_release(u);
    if (ofc_watch_fd() >= 0)
        ofc_watch_events(); /* nothing pending: nothing dropped */
    ck_assert_ptr_eq(ofc_get("f", T0 + 1), e);
    ofc_release(e);
    int fd = e->fd;

    rewrite("f", "newer");
    if (ofc_watch_fd() >= 0)
        ofc_watch_events();
    ck_assert_ptr_null(ofc_get("f", T0 + 2));
    ck_assert(!fd_open(fd));
    ck_assert_uint_ge(stats().changed, 1);
    ck_assert_ptr_eq(ofc_get("u", T0 + 2), u); /* the other file stays cached */
    ofc_release(u);

    struct ofc_entry *n = put_file("f", "newest", T0 + 3); /* put_file rewrites it too */
    ck_assert_int_eq(n->size, 6);
    ofc_release(n);
}

START_TEST(test_rewritten_in_place)
{
    ck_assert_int_eq(ofc_init(8, VALID_MS, 0, 0), 0);
    expect_fresh_after_rewrite();
}
END_TEST

/* One inode cached under two names (a hard link): a change drops both. */
START_TEST(test_rewritten_under_two_names)
{
    char a[512], b[512];
    ck_assert_int_eq(ofc_init(8, VALID_MS, 0, 0), 0);
    struct ofc_entry *e1 = put_file("one", "same inode", T0);
    snprintf(a, sizeof(a), "%s/one", dir);
    snprintf(b, sizeof(b), "%s/two", dir);
    ck_assert_int_eq(link(a, b), 0);
    struct stat st;
    int fd2 = open(b, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd2, 0);
    ck_assert_int_eq(fstat(fd2, &st), 0);
    struct ofc_entry *e2 = ofc_put("two", 200, fd2, &st, "two", T0);
    ck_assert_ptr_nonnull(e2);
    ofc_release(e1);
    ofc_release(e2);

    rewrite("one", "changed");
    if (ofc_watch_fd() >= 0)
        ofc_watch_events();
    ck_assert_ptr_null(ofc_get("one", T0 + 1));
    ck_assert_ptr_null(ofc_get("two", T0 + 1));
    ck_assert_int_eq(stats().entries, 0);
}
END_TEST

/* Without inotify (the instance limit reached, or an old kernel) a hit checks the descriptor
 * with fstat: the same answer. inotify is refused here with a seccomp filter, which lasts for
 * the test's own process only (Check forks one per test). */
START_TEST(test_rewritten_in_place_without_inotify)
{
    if (!deny_syscall(SYS_inotify_init1, EMFILE, "test_rewritten_in_place_without_inotify"))
        return;
    log_set_level(LOG_LVL_ERROR); /* the fallback is logged at warn */

    ck_assert_int_eq(ofc_init(8, VALID_MS, 0, 0), 0);
    ck_assert_int_eq(ofc_watch_fd(), -1);
    expect_fresh_after_rewrite();
}
END_TEST

Suite *
ofc_suite(void)
{
    Suite *s = suite_create("ofc");
    TCase *tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_get_put_release);
    tcase_add_test(tc, test_validators);
    tcase_add_test(tc, test_evicts_lru_when_full);
    tcase_add_test(tc, test_negative_entries);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_invalidate_while_held);
    tcase_add_test(tc, test_small_file_data);
    tcase_add_test(tc, test_private_entry);
    tcase_add_test(tc, test_disabled);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("freshness");
    tcase_add_checked_fixture(tf, setup, teardown);
    tcase_add_test(tf, test_rewritten_in_place);
    tcase_add_test(tf, test_rewritten_under_two_names);
    tcase_add_test(tf, test_rewritten_in_place_without_inotify);
    suite_add_tcase(s, tf);
    return s;
}
