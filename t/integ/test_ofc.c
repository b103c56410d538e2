/* Integration tests of the open file cache's small-file bytes: files up to small_file_max are
 * held in memory within small_file_cache per worker, and a held file is answered from memory.
 * That is seen from outside through a write the cache cannot hear of (a shared mmap raises no
 * inotify event): a file held in memory keeps its old bytes until open_file_cache_valid runs
 * out, while one only held as a descriptor is sent from the page cache, new bytes at once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define VALID_MS 3000 /* open_file_cache_valid of these tests */

/* A file of `len` bytes, all `c`. */
static void
write_filled(const struct srv *s, const char *rel, char c, size_t len)
{
    char *buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    memset(buf, c, len);
    srv_write_file(s, rel, buf, len);
    free(buf);
}

/* Overwrite every byte of <root>/<rel> with `c` through a shared mapping: same size, new bytes,
 * and no inotify event (a write(2) would raise IN_MODIFY and drop the entry). */
static void
mmap_fill(const struct srv *s, const char *rel, char c, size_t len)
{
    char path[SRV_PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s", s->root, rel);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_msg(p != MAP_FAILED, "mmap %s: %s", path, strerror(errno));
    memset(p, c, len);
    ck_assert_int_eq(munmap(p, len), 0);
    close(fd);
}

/* GET `target`: a 200 of `len` bytes, all equal; returns that byte. */
static char
get_fill(const struct srv *s, const char *target, size_t len)
{
    struct http_resp r;
    ck_assert_int_eq(http_fetch(s->port, "GET", target, NULL, &r), 200);
    ck_assert_msg(r.body_len == len, "GET %s: %zu bytes, want %zu", target, r.body_len, len);
    char c = r.body[0];
    for (size_t i = 1; i < len; i++)
        ck_assert_msg(r.body[i] == c, "GET %s: byte %zu is '%c', byte 0 '%c'", target, i, r.body[i],
                      c);
    http_resp_free(&r);
    return c;
}

/* small.txt fits both bounds and is held; second.txt would pass small_file_cache; big.txt is
 * over small_file_max. Only small.txt answers from memory after the mmap write, until
 * open_file_cache_valid has passed. */
START_TEST(small_files_held_within_bounds)
{
    struct srv s;
    srv_init(&s);
    write_filled(&s, "small.txt", 'a', 1000);
    write_filled(&s, "second.txt", 'b', 1000);
    write_filled(&s, "big.txt", 'c', 2000);
    srv_write_config(&s, "workers = 1\nsmall_file_max = 1k\nsmall_file_cache = 1500\n"
                         "open_file_cache_valid = 3s\n");
    srv_spawn(&s);

    int64_t t0 = now_ms();
    ck_assert_int_eq(get_fill(&s, "/small.txt", 1000), 'a');
    ck_assert_int_eq(get_fill(&s, "/second.txt", 1000), 'b');
    ck_assert_int_eq(get_fill(&s, "/big.txt", 2000), 'c');
    mmap_fill(&s, "small.txt", 'A', 1000);
    mmap_fill(&s, "second.txt", 'B', 1000);
    mmap_fill(&s, "big.txt", 'C', 2000);

    ck_assert_msg(get_fill(&s, "/small.txt", 1000) == 'a',
                  "a 1000-byte file (small_file_max 1k) was not answered from memory");
    ck_assert_msg(get_fill(&s, "/second.txt", 1000) == 'B',
                  "a second 1000-byte file was held beyond small_file_cache = 1500");
    ck_assert_msg(get_fill(&s, "/big.txt", 2000) == 'C',
                  "a 2000-byte file was held in memory over small_file_max = 1k");
    ck_assert_msg(now_ms() - t0 < VALID_MS, "the checks took longer than open_file_cache_valid");

    /* Trusted for open_file_cache_valid, then opened (and read) again. */
    while (get_fill(&s, "/small.txt", 1000) == 'a') {
        ck_assert_msg(now_ms() - t0 < VALID_MS + 3000,
                      "old bytes still served %lld ms after they were cached (valid 3 s)",
                      (long long)(now_ms() - t0));
        sleep_ms(50);
    }
    srv_stop(&s);
}
END_TEST

/* small_file_max = 0: nothing is held in memory, every file is sent from its descriptor. */
START_TEST(small_file_max_zero_holds_nothing)
{
    struct srv s;
    srv_init(&s);
    write_filled(&s, "small.txt", 'a', 100);
    srv_write_config(&s, "workers = 1\nsmall_file_max = 0\nopen_file_cache_valid = 1h\n");
    srv_spawn(&s);
    ck_assert_int_eq(get_fill(&s, "/small.txt", 100), 'a');
    mmap_fill(&s, "small.txt", 'A', 100);
    ck_assert_msg(get_fill(&s, "/small.txt", 100) == 'A',
                  "a 100-byte file was held in memory with small_file_max = 0");
    srv_stop(&s);
}
END_TEST

Suite *
integ_ofc_suite(void)
{
    Suite *s = suite_create("integ_ofc");
    TCase *tc = tcase_create("small_files");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, small_files_held_within_bounds);
    tcase_add_test(tc, small_file_max_zero_holds_nothing);
    suite_add_tcase(s, tc);
    return s;
}
