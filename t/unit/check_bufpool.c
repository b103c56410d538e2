/* Unit tests for worker/bufpool.c: free-list reuse, the keep cap, and the byte count that
 * worker_memory_limit is checked against. */
#include "worker/bufpool.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

/* Free every cached buffer of `p` (there is no pool destructor: pools live as long as the
 * worker), so LeakSanitizer stays quiet and the byte count can be checked to go back down. */
static void
drain(struct bufpool *p)
{
    p->keep = 0;
    while (p->nfree > 0)
        bufpool_put(p, bufpool_get(p));
    ck_assert_ptr_null(p->free);
}

START_TEST(test_reuse_lifo)
{
    struct bufpool p;
    int64_t before = bufpool_bytes;
    bufpool_init(&p, 4096, 4);
    char *a = bufpool_get(&p), *b = bufpool_get(&p);
    ck_assert(a && b && a != b);
    ck_assert_int_eq(p.nused, 2);
    ck_assert_int_eq(p.nfree, 0);
    ck_assert_int_eq(bufpool_bytes - before, 2 * 4096);
    memset(a, 'a', 4096); /* the whole size is usable */
    memset(b, 'b', 4096);

    bufpool_put(&p, a);
    bufpool_put(&p, b);
    ck_assert_int_eq(p.nused, 0);
    ck_assert_int_eq(p.nfree, 2);
    ck_assert_int_eq(bufpool_bytes - before, 2 * 4096); /* cached, still counted */

    ck_assert_ptr_eq(bufpool_get(&p), b); /* last in, first out */
    ck_assert_ptr_eq(bufpool_get(&p), a);
    ck_assert_int_eq(p.nfree, 0);
    ck_assert_int_eq(p.nused, 2);
    ck_assert_int_eq(bufpool_bytes - before, 2 * 4096); /* no new allocation */
    bufpool_put(&p, a);
    bufpool_put(&p, b);
    drain(&p);
    ck_assert_int_eq(bufpool_bytes, before);
}
END_TEST

START_TEST(test_keep_cap)
{
    struct bufpool p;
    int64_t before = bufpool_bytes;
    void *bufs[5];
    bufpool_init(&p, 1000, 2);
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_nonnull(bufs[i] = bufpool_get(&p));
    ck_assert_int_eq(bufpool_bytes - before, 5000);
    for (int i = 0; i < 5; i++) {
        bufpool_put(&p, bufs[i]);
        ck_assert_int_eq(p.nused, 4 - i);
        ck_assert_int_eq(p.nfree, i < 2 ? i + 1 : 2);
        ck_assert_int_eq(bufpool_bytes - before, i < 2 ? 5000 : 5000 - 1000 * (i - 1));
    }
    ck_assert_int_eq(bufpool_bytes - before, 2000);

    /* keep = 0: nothing is cached, every put frees. */
    struct bufpool none;
    bufpool_init(&none, 512, 0);
    void *x = bufpool_get(&none);
    ck_assert_int_eq(bufpool_bytes - before, 2512);
    bufpool_put(&none, x);
    ck_assert_int_eq(none.nfree, 0);
    ck_assert_int_eq(none.nused, 0);
    ck_assert_int_eq(bufpool_bytes - before, 2000);
    drain(&p);
    ck_assert_int_eq(bufpool_bytes, before);
}
END_TEST

/* bufpool_trim frees every cached buffer and leaves the ones in use alone. */
START_TEST(test_trim)
{
    struct bufpool p;
    int64_t before = bufpool_bytes;
    void *bufs[3];
    bufpool_init(&p, 2048, 4);
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(bufs[i] = bufpool_get(&p));
    bufpool_put(&p, bufs[0]);
    bufpool_put(&p, bufs[1]);
    ck_assert_int_eq(p.nfree, 2);
    bufpool_trim(&p);
    ck_assert_int_eq(p.nfree, 0);
    ck_assert_ptr_null(p.free);
    ck_assert_int_eq(p.nused, 1);
    ck_assert_int_eq(bufpool_bytes - before, 2048);
    memset(bufs[2], 'x', 2048); /* still ours */
    bufpool_put(&p, bufs[2]);
    bufpool_trim(&p);
    ck_assert_int_eq(bufpool_bytes, before);
}
END_TEST

START_TEST(test_two_pools)
{
    struct bufpool in, out;
    int64_t before = bufpool_bytes;
    bufpool_init(&in, 16384, 8);
    bufpool_init(&out, 4096, 8);
    void *i1 = bufpool_get(&in), *i2 = bufpool_get(&in), *o1 = bufpool_get(&out);
    ck_assert(i1 && i2 && o1);
    ck_assert_int_eq(bufpool_bytes - before, 2 * 16384 + 4096);
    ck_assert_int_eq(in.nused, 2);
    ck_assert_int_eq(out.nused, 1);
    bufpool_put(&in, i1);
    bufpool_put(&out, o1);
    ck_assert_int_eq(in.nfree, 1);
    ck_assert_int_eq(out.nfree, 1);
    ck_assert_int_eq(bufpool_bytes - before, 2 * 16384 + 4096);
    /* A pool hands back its own buffers only. */
    ck_assert_ptr_eq(bufpool_get(&out), o1);
    ck_assert_ptr_eq(bufpool_get(&in), i1);
    bufpool_put(&in, i1);
    bufpool_put(&in, i2);
    bufpool_put(&out, o1);
    drain(&out);
    ck_assert_int_eq(bufpool_bytes - before, 2 * 16384);
    drain(&in);
    ck_assert_int_eq(bufpool_bytes, before);
}
END_TEST

START_TEST(test_put_null)
{
    struct bufpool p;
    int64_t before = bufpool_bytes;
    bufpool_init(&p, 64, 1);
    bufpool_put(&p, NULL);
    ck_assert_int_eq(p.nused, 0);
    ck_assert_int_eq(p.nfree, 0);
    ck_assert_ptr_null(p.free);
    void *b = bufpool_get(&p);
    bufpool_put(&p, b);
    bufpool_put(&p, NULL);
    ck_assert_int_eq(p.nfree, 1);
    ck_assert_int_eq(p.nused, 0);
    ck_assert_int_eq(bufpool_bytes - before, 64);
    drain(&p);
    ck_assert_int_eq(bufpool_bytes, before);
}
END_TEST

/* A free buffer holds the list link, so a pool never has buffers smaller than a pointer. */
START_TEST(test_minimum_size)
{
    struct bufpool p;
    int64_t before = bufpool_bytes;
    bufpool_init(&p, 1, 4);
    ck_assert_uint_eq(p.size, sizeof(void *));
    void *a = bufpool_get(&p), *b = bufpool_get(&p);
    ck_assert_int_eq(bufpool_bytes - before, 2 * (int64_t)sizeof(void *));
    bufpool_put(&p, a); /* links through the first word: fits (ASan would say otherwise) */
    bufpool_put(&p, b);
    ck_assert_ptr_eq(bufpool_get(&p), b);
    ck_assert_ptr_eq(bufpool_get(&p), a);
    bufpool_put(&p, a);
    bufpool_put(&p, b);
    drain(&p);
    ck_assert_int_eq(bufpool_bytes, before);

    struct bufpool z;
    bufpool_init(&z, 0, 1);
    ck_assert_uint_eq(z.size, sizeof(void *));
    bufpool_init(&z, 100, 1);
    ck_assert_uint_eq(z.size, 100);
}
END_TEST

Suite *
bufpool_suite(void)
{
    Suite *s = suite_create("bufpool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, test_reuse_lifo);
    tcase_add_test(tc, test_keep_cap);
    tcase_add_test(tc, test_two_pools);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_put_null);
    tcase_add_test(tc, test_minimum_size);
    suite_add_tcase(s, tc);
    return s;
}
