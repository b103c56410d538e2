/* The event loop: one per process (the master's and each worker's), epoll underneath, in the
 * shape of Redis's ae.c. Its one idiom: an fd with a callback, and deadlines (FIFO timeout
 * queues for fixed durations, a min-heap for any other), with hooks around each turn. */
#ifndef SLUICE_EV_H
#define SLUICE_EV_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/epoll.h>

#include "common/tq.h"

/* Events are epoll(7) flags: EPOLLIN, EPOLLOUT, EPOLLEXCLUSIVE (given when added), and
 * EPOLLERR/EPOLLHUP as reported. Level-triggered unless the caller adds EPOLLET. */
#define EV_READ EPOLLIN
#define EV_WRITE EPOLLOUT

#define EV_HOOKS_MAX 4   /* per phase */
#define EV_QUEUES_MAX 16 /* timeout queues */

struct ev_io;
/* Called with the events epoll reported for io->fd. It may ev_set any io (this one too), close
 * fds, arm and disarm timers, and call ev_stop. */
typedef void ev_io_cb(struct ev_io *io, uint32_t events);

/* Owned by the caller, and must stay at its address while registered (epoll holds a pointer
 * to it). Embed it in the struct it drives and find that with offsetof. */
struct ev_io {
    int fd;
    uint32_t events; /* what epoll watches now; 0 = not registered. Written by ev_set only. */
    ev_io_cb *cb;
};

struct ev_timer;
typedef void ev_timer_cb(struct ev_timer *t);

/* A deadline of any length on the heap. Owned by the caller, who sets `cb` and zeroes the rest
 * before the first ev_timer_arm; it must stay at its address while armed. */
struct ev_timer {
    int64_t deadline_ms; /* on the ev_now() clock */
    ev_timer_cb *cb;     /* runs once, disarmed, when the deadline has passed */
    uint32_t index;      /* private: position in the heap + 1, 0 = not armed */
    uint32_t turn;       /* private: the timer phase it was armed in */
};

/* Called once per turn in its phase, in the order added. */
typedef void ev_hook_cb(void *arg);
/* Called for each node whose deadline has passed, already dequeued (tq_armed is false), with
 * the queue's `arg`. It may re-arm the node on its queue; a queue's timeout must then be > 0,
 * or the phase never ends. */
typedef void ev_expire_cb(struct tq_node *n, void *arg);

/* The phases of one turn of ev_run, in the order they run:
 *   1. EV_BEFORE_SLEEP hooks: deferred work (return closed objects to their pools, resume
 *      what was paused), ev_wake_by for deadlines of their own, ev_stop;
 *   2. epoll_wait, for at most the nearest deadline: the head of each timeout queue, the top
 *      of the heap, and what the hooks asked for with ev_wake_by (none: forever);
 *   3. the clock (ev_now) is read, once;
 *   4. EV_BEFORE_BATCH hooks: they see the batch before anything in it runs (ev_take);
 *   5. dispatch: each io's callback, once per event, in the order epoll returned them;
 *   6. EV_AFTER_DISPATCH hooks;
 *   7. timers: each timeout queue from its head, in the order the queues were added, then the
 *      heap. Against the clock of step 3.
 * ev_stop is checked before 1 and between 1 and 2. */
enum ev_phase { EV_BEFORE_SLEEP, EV_BEFORE_BATCH, EV_AFTER_DISPATCH, EV_PHASES };

/* (Re)initialise the process's loop: a new epoll instance, the clock read, no hooks, queues
 * or timers. A process forked from one running a loop calls it to start its own: the parent's
 * registrations are forgotten (their fds are the caller's to close) and the inherited epoll fd
 * closed. Returns 0, or -1 with errno (logged). Without ev_init (unit tests, the fuzzer),
 * ev_set only records events in the ev_io, and queues, timers and hooks work as usual. */
int ev_init(void);

/* Register, change or remove `io` (events 0 removes; io->fd and io->cb must be set). Returns 0,
 * or -1 with errno (logged, io->events unchanged). A closed fd leaves epoll by itself when no
 * other descriptor refers to its file: then set io->events = 0 instead of ev_set(io, 0), which
 * saves a syscall. An event already in the current batch for an io removed in this batch is
 * still dispatched: keep the io's memory valid until the before-sleep phase. */
int ev_set(struct ev_io *io, uint32_t events);

/* Phase hooks (see enum ev_phase). Returns 0, or -1 with errno ENOSPC (EV_HOOKS_MAX). */
int ev_hook_add(enum ev_phase phase, ev_hook_cb *cb, void *arg);

/* From an EV_BEFORE_BATCH hook: if `io` has an event in the batch, remove it from the batch
 * (its callback will not run for it) and return its events; else return 0. O(batch size). */
uint32_t ev_take(struct ev_io *io);

/* From an EV_BEFORE_SLEEP hook: wake by `deadline_ms` at the latest, this turn only. */
void ev_wake_by(int64_t deadline_ms);

/* Expire `q` in phase 7 with `cb` (given `arg`), and let its head bound the wait. `q` is owned
 * by the caller and stays valid for the life of the loop. Adding a queue again only replaces
 * its callback and arg. Returns 0, or -1 with errno ENOSPC (EV_QUEUES_MAX). */
int ev_queue_add(struct tq *q, ev_expire_cb *cb, void *arg);

/* Arm `t` for `deadline_ms` (re-arming moves it): O(log n). A deadline already passed runs in
 * the next timer phase; a timer armed from a timer callback runs in the next turn at the
 * earliest. Returns 0, or -1 with errno ENOMEM (the heap grows on demand; never on the request
 * path). */
int ev_timer_arm(struct ev_timer *t, int64_t deadline_ms);
/* Disarm `t` if armed: O(log n). */
void ev_timer_disarm(struct ev_timer *t);
static inline bool
ev_timer_armed(const struct ev_timer *t)
{
    return t->index != 0;
}

/* The loop's clock: CLOCK_MONOTONIC in ms, read once per turn (step 3) and by ev_init. */
extern int64_t ev_now_ms_; /* private: read it through ev_now() */
static inline int64_t
ev_now(void)
{
    return ev_now_ms_;
}

extern uint64_t ev_now_us_; /* private: read it through ev_now_us() */
/* The same reading in microseconds (0 before the loop's first turn), for the loop's lag. */
static inline uint64_t
ev_now_us(void)
{
    return ev_now_us_;
}

/* Tests and the fuzzer drive the clock by hand. */
void ev_set_now(int64_t now_ms);

/* The nearest deadline over the queues and the heap, INT64_MAX when none. */
int64_t ev_next_deadline(void);
/* Phase 7 alone, against ev_now(): for tests and the fuzzer, which drive the loop by hand. */
void ev_expire(void);

/* Run turns until ev_stop. Returns 0 once stopped (the stop request is then cleared), or -1
 * with errno when epoll_wait failed (logged). Call after ev_init. */
int ev_run(void);
/* Make ev_run return before its next sleep. Safe from any callback or hook. */
void ev_stop(void);

#endif
