/* Timeout queues: one FIFO list per timeout class. Every entry of a class has the same duration,
 * so appending at the tail keeps the list sorted by deadline: arm, re-arm, disarm and expiry
 * are all O(1) (lwan's idea). */
#ifndef SLUICE_TQ_H
#define SLUICE_TQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tq_node {
    struct tq_node *prev, *next; /* NULL when not queued */
    int64_t deadline_ms;
};

struct tq {
    struct tq_node head; /* sentinel of a circular list */
    int64_t timeout_ms;
};

void tq_init(struct tq *q, int64_t timeout_ms);
/* Queue `n` (taking it off any queue it was on) with deadline now + q->timeout_ms. */
void tq_arm(struct tq *q, struct tq_node *n, int64_t now_ms);
void tq_disarm(struct tq_node *n);
static inline bool
tq_armed(const struct tq_node *n)
{
    return n->next != NULL;
}
/* The earliest deadline in `q`, or INT64_MAX when empty. */
int64_t tq_next_deadline(const struct tq *q);
/* The first node whose deadline has passed, dequeued; NULL when none. */
struct tq_node *tq_pop_expired(struct tq *q, int64_t now_ms);

#endif
