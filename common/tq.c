/* Timeout queues (see tq.h). */
#include "common/tq.h"

#include <stddef.h>

void
tq_init(struct tq *q, int64_t timeout_ms)
{
    q->head.prev = q->head.next = &q->head;
    q->timeout_ms = timeout_ms;
}

void
tq_disarm(struct tq_node *n)
{
    if (n->next == NULL)
        return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

void
tq_arm(struct tq *q, struct tq_node *n, int64_t now_ms)
{
    tq_disarm(n);
    n->deadline_ms = now_ms + q->timeout_ms;
    n->prev = q->head.prev;
    n->next = &q->head;
    q->head.prev->next = n;
    q->head.prev = n;
}

int64_t
tq_next_deadline(const struct tq *q)
{
    return q->head.next == &q->head ? INT64_MAX : q->head.next->deadline_ms;
}

struct tq_node *
tq_pop_expired(struct tq *q, int64_t now_ms)
{
    struct tq_node *n = q->head.next;
    if (n == &q->head || n->deadline_ms > now_ms)
        return NULL;
    tq_disarm(n);
    return n;
}
