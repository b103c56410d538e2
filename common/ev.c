/* The event loop (see ev.h). One per process, so its state is this file's statics.
 *
 * Cost per turn, kept to what the worker paid before it had a module: one epoll_wait, one clock
 * read, one indirect call per event, one per hook, and a look at each queue's head and at the
 * heap's top. Nothing here allocates except the heap growing when a timer is armed. */
#include "common/ev.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

#define EV_BATCH_MAX 256

struct hook {
    ev_hook_cb *cb;
    void *arg;
};

struct queue {
    struct tq *q;
    ev_expire_cb *cb;
    void *arg;
};

int64_t ev_now_ms_;
uint64_t ev_now_us_;
static int epfd = -1;
static bool stop;
static int64_t wake_by; /* ev_wake_by for this turn; INT64_MAX = none */
static struct hook hooks[EV_PHASES][EV_HOOKS_MAX];
static int nhooks[EV_PHASES];
static struct queue queues[EV_QUEUES_MAX];
static int nqueues;
static struct ev_timer **heap; /* heap[0] is the earliest; t->index is its position + 1 */
static uint32_t heap_len, heap_cap;
static uint32_t timer_turn; /* bumped by each timer phase (ev_timer_arm records it) */
/* The batch being dispatched, for ev_take. */
static struct epoll_event *batch;
static int batch_len;

int
ev_init(void)
{
    if (epfd >= 0)
        close(epfd); /* the parent's instance: ours must not share its interest list */
    for (int p = 0; p < EV_PHASES; p++)
        nhooks[p] = 0;
    nqueues = 0;
    for (uint32_t i = 0; i < heap_len; i++)
        heap[i]->index = 0;
    heap_len = 0;
    stop = false;
    ev_now_ms_ = clock_mono_ms();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        log_error("epoll_create1");
        return -1;
    }
    return 0;
}

int
ev_set(struct ev_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epfd < 0) {
        io->events = events;
        return 0;
    }
    int op = events == 0 ? EPOLL_CTL_DEL : io->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(epfd, op, io->fd, &ev) < 0) {
        log_error("epoll_ctl(fd %d)", io->fd);
        return -1;
    }
    io->events = events;
    return 0;
}

int
ev_hook_add(enum ev_phase phase, ev_hook_cb *cb, void *arg)
{
    if (nhooks[phase] == EV_HOOKS_MAX) {
        errno = ENOSPC;
        return -1;
    }
    hooks[phase][nhooks[phase]++] = (struct hook){cb, arg};
    return 0;
}

static inline void
run_hooks(enum ev_phase phase)
{
    for (int i = 0; i < nhooks[phase]; i++)
        hooks[phase][i].cb(hooks[phase][i].arg);
}

uint32_t
ev_take(struct ev_io *io)
{
    for (int i = 0; i < batch_len; i++)
        if (batch[i].data.ptr == io) {
            batch[i].data.ptr = NULL;
            return batch[i].events;
        }
    return 0;
}

void
ev_wake_by(int64_t deadline_ms)
{
    if (deadline_ms < wake_by)
        wake_by = deadline_ms;
}

int
ev_queue_add(struct tq *q, ev_expire_cb *cb, void *arg)
{
    int i = 0;
    while (i < nqueues && queues[i].q != q)
        i++;
    if (i == EV_QUEUES_MAX) {
        errno = ENOSPC;
        return -1;
    }
    queues[i] = (struct queue){q, cb, arg};
    nqueues += i == nqueues;
    return 0;
}

/* The heap: an array of pointers, each timer knowing its own position so that disarm and
 * re-arm find it in O(1) and restore the order in O(log n). */

static void
heap_place(uint32_t i, struct ev_timer *t)
{
    heap[i] = t;
    t->index = i + 1;
}

static void
sift_up(uint32_t i)
{
    struct ev_timer *t = heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (heap[parent]->deadline_ms <= t->deadline_ms)
            break;
        heap_place(i, heap[parent]);
        i = parent;
    }
    heap_place(i, t);
}

static void
sift_down(uint32_t i)
{
    struct ev_timer *t = heap[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= heap_len)
            break;
        if (child + 1 < heap_len && heap[child + 1]->deadline_ms < heap[child]->deadline_ms)
            child++;
        if (t->deadline_ms <= heap[child]->deadline_ms)
            break;
        heap_place(i, heap[child]);
        i = child;
    }
    heap_place(i, t);
}

int
ev_timer_arm(struct ev_timer *t, int64_t deadline_ms)
{
    t->turn = timer_turn;
    if (t->index) {
        int64_t old = t->deadline_ms;
        t->deadline_ms = deadline_ms;
        if (deadline_ms < old)
            sift_up(t->index - 1);
        else
            sift_down(t->index - 1);
        return 0;
    }
    if (heap_len == heap_cap) {
        uint32_t cap = heap_cap ? heap_cap * 2 : 16;
        struct ev_timer **grown = realloc(heap, cap * sizeof(*heap));
        if (grown == NULL)
            return -1;
        heap = grown;
        heap_cap = cap;
    }
    t->deadline_ms = deadline_ms;
    heap[heap_len++] = t;
    sift_up(heap_len - 1);
    return 0;
}

void
ev_timer_disarm(struct ev_timer *t)
{
    if (t->index == 0)
        return;
    uint32_t i = t->index - 1;
    t->index = 0;
    struct ev_timer *last = heap[--heap_len];
    if (i == heap_len)
        return;
    /* The last timer fills the hole, then moves whichever way its deadline says. */
    heap_place(i, last);
    if (i > 0 && heap[(i - 1) / 2]->deadline_ms > last->deadline_ms)
        sift_up(i);
    else
        sift_down(i);
}

void
ev_set_now(int64_t now_ms)
{
    ev_now_ms_ = now_ms;
}

int64_t
ev_next_deadline(void)
{
    int64_t d = heap_len ? heap[0]->deadline_ms : INT64_MAX;
    for (int i = 0; i < nqueues; i++) {
        int64_t e = tq_next_deadline(queues[i].q);
        if (e < d)
            d = e;
    }
    return d;
}

void
ev_expire(void)
{
    int64_t now = ev_now_ms_;
    for (int i = 0; i < nqueues; i++) {
        struct tq_node *n;
        while ((n = tq_pop_expired(queues[i].q, now)) != NULL)
            queues[i].cb(n, queues[i].arg);
    }
    /* A timer armed by a callback of this phase (turn == timer_turn) waits for the next one,
     * so a callback that re-arms for "now" cannot keep this loop going. */
    timer_turn++;
    while (heap_len && heap[0]->deadline_ms <= now && heap[0]->turn != timer_turn) {
        struct ev_timer *t = heap[0];
        ev_timer_disarm(t);
        t->cb(t);
    }
}

static int
wait_ms(void)
{
    int64_t d = ev_next_deadline();
    if (wake_by < d)
        d = wake_by;
    if (d == INT64_MAX)
        return -1;
    d -= ev_now_ms_;
    return d < 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
}

int
ev_run(void)
{
    struct epoll_event events[EV_BATCH_MAX];
    while (!stop) {
        wake_by = INT64_MAX;
        run_hooks(EV_BEFORE_SLEEP);
        if (stop)
            break;
        int n = epoll_wait(epfd, events, EV_BATCH_MAX, wait_ms());
        if (n < 0) {
            if (errno != EINTR) {
                log_error("epoll_wait");
                return -1;
            }
            n = 0;
        }
        ev_now_us_ = clock_mono_us();
        ev_now_ms_ = (int64_t)(ev_now_us_ / 1000);
        batch = events;
        batch_len = n;
        run_hooks(EV_BEFORE_BATCH);
        for (int i = 0; i < n; i++) {
            struct ev_io *io = events[i].data.ptr;
            if (io)
                io->cb(io, events[i].events);
        }
        batch_len = 0;
        run_hooks(EV_AFTER_DISPATCH);
        ev_expire();
    }
    stop = false;
    return 0;
}

void
ev_stop(void)
{
    stop = true;
}
