/* Unit tests for common/tq.c: the FIFO timeout queues (arm, re-arm, disarm, expiry order). */
#include "common/tq.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

/* Pop every node expired at `now` into `out`; returns how many. */
static int
pop_all(struct tq *q, int64_t now, struct tq_node **out, int max)
{
    int n = 0;
    struct tq_node *node;
    while ((node = tq_pop_expired(q, now)) != NULL) {
        ck_assert_int_lt(n, max);
        ck_assert(!tq_armed(node));
        out[n++] = node;
    }
    return n;
}

START_TEST(test_empty)
{
    struct tq q;
    tq_init(&q, 1000);
    ck_assert_int_eq(tq_next_deadline(&q), INT64_MAX);
    ck_assert_ptr_null(tq_pop_expired(&q, INT64_MAX));
}
END_TEST

START_TEST(test_arm_order_and_deadline)
{
    struct tq q;
    struct tq_node a = {0}, b = {0}, c = {0};
    tq_init(&q, 100);
    ck_assert(!tq_armed(&a));
    tq_arm(&q, &a, 10);
    tq_arm(&q, &b, 20);
    tq_arm(&q, &c, 20);
    ck_assert(tq_armed(&a) && tq_armed(&b) && tq_armed(&c));
    ck_assert_int_eq(a.deadline_ms, 110);
    ck_assert_int_eq(b.deadline_ms, 120);
    ck_assert_int_eq(tq_next_deadline(&q), 110);

    /* Boundaries: nothing before the deadline, the node exactly at it. */
    ck_assert_ptr_null(tq_pop_expired(&q, 109));
    ck_assert_ptr_eq(tq_pop_expired(&q, 110), &a);
    ck_assert_ptr_null(tq_pop_expired(&q, 110));
    ck_assert_int_eq(tq_next_deadline(&q), 120);

    /* Equal deadlines come out in arming order. */
    struct tq_node *out[4];
    ck_assert_int_eq(pop_all(&q, 1000, out, 4), 2);
    ck_assert_ptr_eq(out[0], &b);
    ck_assert_ptr_eq(out[1], &c);
    ck_assert_int_eq(tq_next_deadline(&q), INT64_MAX);
}
END_TEST

START_TEST(test_rearm_moves_to_tail)
{
    struct tq q;
    struct tq_node a = {0}, b = {0}, c = {0};
    tq_init(&q, 50);
    tq_arm(&q, &a, 0);
    tq_arm(&q, &b, 1);
    tq_arm(&q, &c, 2);
    tq_arm(&q, &a, 3); /* touched: now last, with a later deadline */
    ck_assert_int_eq(a.deadline_ms, 53);
    ck_assert_int_eq(tq_next_deadline(&q), 51);

    struct tq_node *out[4];
    ck_assert_int_eq(pop_all(&q, 52, out, 4), 2);
    ck_assert_ptr_eq(out[0], &b);
    ck_assert_ptr_eq(out[1], &c);
    ck_assert(tq_armed(&a));
    ck_assert_int_eq(pop_all(&q, 53, out, 4), 1);
    ck_assert_ptr_eq(out[0], &a);

    /* Re-arming the only node, and the last node, keeps the list whole. */
    tq_arm(&q, &a, 100);
    tq_arm(&q, &a, 200);
    ck_assert_int_eq(tq_next_deadline(&q), 250);
    ck_assert_ptr_eq(tq_pop_expired(&q, 250), &a);
    ck_assert_int_eq(tq_next_deadline(&q), INT64_MAX);
}
END_TEST

START_TEST(test_disarm)
{
    struct tq q;
    struct tq_node a = {0}, b = {0}, c = {0}, idle = {0};
    tq_init(&q, 10);
    tq_disarm(&idle); /* never armed: a no-op */
    ck_assert(!tq_armed(&idle));

    tq_arm(&q, &a, 0);
    tq_arm(&q, &b, 1);
    tq_arm(&q, &c, 2);
    tq_disarm(&b); /* from the middle */
    ck_assert(!tq_armed(&b));
    ck_assert_ptr_null(b.next);
    ck_assert_ptr_null(b.prev);
    tq_disarm(&b); /* twice: still a no-op */
    tq_disarm(&a); /* the head */
    ck_assert_int_eq(tq_next_deadline(&q), 12);
    tq_disarm(&c); /* the last one */
    ck_assert_int_eq(tq_next_deadline(&q), INT64_MAX);
    ck_assert_ptr_null(tq_pop_expired(&q, 1000));

    /* Disarmed nodes can be armed again. */
    tq_arm(&q, &b, 5);
    ck_assert_ptr_eq(tq_pop_expired(&q, 15), &b);
}
END_TEST

/* A node moved from one queue to another leaves the first. */
START_TEST(test_arm_moves_between_queues)
{
    struct tq header, send;
    struct tq_node a = {0}, b = {0};
    tq_init(&header, 15000);
    tq_init(&send, 60000);
    tq_arm(&header, &a, 0);
    tq_arm(&header, &b, 0);
    tq_arm(&send, &a, 10);
    ck_assert_int_eq(a.deadline_ms, 60010);
    ck_assert_ptr_eq(tq_pop_expired(&header, 15000), &b);
    ck_assert_ptr_null(tq_pop_expired(&header, INT64_MAX - 1));
    ck_assert_int_eq(tq_next_deadline(&send), 60010);
    ck_assert_ptr_eq(tq_pop_expired(&send, 60010), &a);
}
END_TEST

START_TEST(test_many)
{
    enum { N = 10000 };
    struct tq q;
    struct tq_node *nodes = calloc(N, sizeof(*nodes));
    ck_assert_ptr_nonnull(nodes);
    tq_init(&q, 1000);
    for (int i = 0; i < N; i++)
        tq_arm(&q, &nodes[i], i);
    /* Touch every even node at time N: the odd ones keep their place, the even ones follow. */
    for (int i = 0; i < N; i += 2)
        tq_arm(&q, &nodes[i], N);
    /* Disarm every tenth odd node. */
    for (int i = 1; i < N; i += 20)
        tq_disarm(&nodes[i]);

    int64_t last = INT64_MIN;
    int popped = 0, expect_odd = 3;
    struct tq_node *n;
    while ((n = tq_pop_expired(&q, N + 999)) != NULL) {
        ck_assert_int_ge(n->deadline_ms, last);
        last = n->deadline_ms;
        int i = (int)(n - nodes);
        if (popped < N / 2 - N / 20) {
            /* odd nodes first, in order, skipping the disarmed ones */
            if (expect_odd % 20 == 1)
                expect_odd += 2;
            ck_assert_int_eq(i, expect_odd);
            expect_odd += 2;
        } else {
            ck_assert_int_eq(i % 2, 0);
        }
        popped++;
    }
    ck_assert_int_eq(popped, N / 2 - N / 20);
    ck_assert_int_eq(tq_next_deadline(&q), N + 1000);
    for (int k = 0; k < N / 2; k++) {
        n = tq_pop_expired(&q, N + 1000);
        ck_assert_ptr_eq(n, &nodes[2 * k]);
    }
    ck_assert_ptr_null(tq_pop_expired(&q, INT64_MAX));
    free(nodes);
}
END_TEST

Suite *
tq_suite(void)
{
    Suite *s = suite_create("tq");
    TCase *tc = tcase_create("queue");
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_arm_order_and_deadline);
    tcase_add_test(tc, test_rearm_moves_to_tail);
    tcase_add_test(tc, test_disarm);
    tcase_add_test(tc, test_arm_moves_between_queues);
    tcase_add_test(tc, test_many);
    suite_add_tcase(s, tc);
    return s;
}
