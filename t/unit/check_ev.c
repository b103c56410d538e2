/* Unit tests for common/ev.c: the heap under random arm/disarm, the timeout queues, the order of
 * the phases and hooks, fd callbacks over a pipe, and stop. */
#include "common/ev.h"

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the heap ---- */

#define NTIMERS 200

static struct ev_timer timers[NTIMERS];
static int fired[NTIMERS * 4];
static int nfired;

static void
on_timer(struct ev_timer *t)
{
    ck_assert(!ev_timer_armed(t));
    fired[nfired++] = (int)(t - timers);
}

START_TEST(test_heap_random)
{
    ck_assert_int_eq(ev_init(), 0);
    ev_set_now(0);
    unsigned seed = 12345;
    int64_t want[NTIMERS];
    memset(timers, 0, sizeof(timers));
    for (int i = 0; i < NTIMERS; i++) {
        timers[i].cb = on_timer;
        want[i] = -1;
    }
    /* Random arms, re-arms and disarms; `want` mirrors what should be armed. */
    for (int step = 0; step < 5000; step++) {
        int i = (int)(rand_r(&seed) % NTIMERS);
        if (rand_r(&seed) % 3 == 0) {
            ev_timer_disarm(&timers[i]);
            want[i] = -1;
        } else {
            int64_t d = 1 + rand_r(&seed) % 1000;
            ck_assert_int_eq(ev_timer_arm(&timers[i], d), 0);
            want[i] = d;
        }
    }
    int64_t min = INT64_MAX;
    int narmed = 0;
    for (int i = 0; i < NTIMERS; i++) {
        ck_assert_int_eq(ev_timer_armed(&timers[i]), want[i] >= 0);
        if (want[i] >= 0) {
            narmed++;
            if (want[i] < min)
                min = want[i];
        }
    }
    ck_assert_int_eq(ev_next_deadline(), min);
    /* Expire in steps: each step fires exactly the timers due, in deadline order. */
    nfired = 0;
    for (int64_t now = 0; now <= 1000; now += 37) {
        int before = nfired;
        ev_set_now(now);
        ev_expire();
        for (int k = before; k < nfired; k++) {
            ck_assert_int_le(want[fired[k]], now);
            if (k > 0)
                ck_assert_int_le(want[fired[k - 1]], want[fired[k]]);
        }
        ck_assert(ev_next_deadline() > now);
    }
    ev_set_now(1000);
    ev_expire();
    ck_assert_int_eq(nfired, narmed);
    ck_assert_int_eq(ev_next_deadline(), INT64_MAX);
}
END_TEST

static struct ev_timer rearming;
static int rearm_runs;

static void
on_rearm(struct ev_timer *t)
{
    rearm_runs++;
    ev_timer_arm(t, ev_now()); /* due again at once: must wait for the next phase */
}

START_TEST(test_heap_rearm_from_callback)
{
    ck_assert_int_eq(ev_init(), 0);
    ev_set_now(100);
    rearming = (struct ev_timer){.cb = on_rearm};
    ck_assert_int_eq(ev_timer_arm(&rearming, 50), 0);
    ev_expire();
    ck_assert_int_eq(rearm_runs, 1);
    ck_assert(ev_timer_armed(&rearming));
    ev_expire();
    ck_assert_int_eq(rearm_runs, 2);
    ev_timer_disarm(&rearming);
    ck_assert_int_eq(ev_next_deadline(), INT64_MAX);
}
END_TEST

/* ---- the queues ---- */

static struct tq_node *expired[8];
static int nexpired;
static const char *expired_arg;

static void
on_expire(struct tq_node *n, void *arg)
{
    expired[nexpired++] = n;
    expired_arg = arg;
}

START_TEST(test_queues)
{
    static struct tq short_q, long_q;
    struct tq_node a = {0}, b = {0}, c = {0};
    ck_assert_int_eq(ev_init(), 0);
    ev_set_now(1000);
    tq_init(&short_q, 10);
    tq_init(&long_q, 500);
    ck_assert_int_eq(ev_queue_add(&long_q, on_expire, "long"), 0);
    ck_assert_int_eq(ev_queue_add(&short_q, on_expire, "short"), 0);
    ck_assert_int_eq(ev_queue_add(&short_q, on_expire, "short!"), 0); /* again: replaced */
    ck_assert_int_eq(ev_next_deadline(), INT64_MAX);
    tq_arm(&long_q, &a, ev_now());
    tq_arm(&short_q, &b, ev_now());
    ev_set_now(1005);
    tq_arm(&short_q, &c, ev_now());
    ck_assert_int_eq(ev_next_deadline(), 1010);
    nexpired = 0;
    ev_set_now(1012);
    ev_expire();
    ck_assert_int_eq(nexpired, 1);
    ck_assert_ptr_eq(expired[0], &b);
    ck_assert_str_eq(expired_arg, "short!");
    ck_assert_int_eq(ev_next_deadline(), 1015);
    ev_set_now(2000);
    ev_expire();
    ck_assert_int_eq(nexpired, 3);
    ck_assert_ptr_eq(expired[1], &a); /* long_q was added first */
    ck_assert_ptr_eq(expired[2], &c);
    ck_assert_str_eq(expired_arg, "short!");
    ck_assert_int_eq(ev_next_deadline(), INT64_MAX);
}
END_TEST

/* ---- a running loop: phases, fd callbacks, stop ---- */

static char trace[256];
static int turns;
static int pipe_fds[2];
static struct ev_io pipe_io;
static struct ev_timer stop_timer;

static void
note(const char *what)
{
    strncat(trace, what, sizeof(trace) - strlen(trace) - 1);
}

static void
hook(void *arg)
{
    note(arg);
}

static void
first_hook(void *arg)
{
    (void)arg;
    note("B");
    /* The pipe's event is taken out of the batch: its callback does not run for it. */
    if (turns == 2 && ev_take(&pipe_io))
        note("t");
}

static void
sleep_hook(void *arg)
{
    (void)arg;
    note("S");
    turns++;
    if (turns == 1 || turns == 2)
        ck_assert_int_eq(write(pipe_fds[1], "x", 1), 1);
    if (turns == 4)
        ck_assert_int_eq(ev_timer_arm(&stop_timer, ev_now() + 20), 0);
    ev_wake_by(ev_now() + 5000); /* the pipe or the timer comes first */
}

static void
on_pipe(struct ev_io *io, uint32_t events)
{
    char c;
    ck_assert(events & EPOLLIN);
    ck_assert_int_eq(read(io->fd, &c, 1), 1);
    note("R");
}

static void
on_stop_timer(struct ev_timer *t)
{
    (void)t;
    note("T");
    ev_stop();
}

START_TEST(test_run)
{
    ck_assert_int_eq(ev_init(), 0);
    trace[0] = '\0';
    turns = 0;
    ck_assert_int_eq(pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
    pipe_io = (struct ev_io){.fd = pipe_fds[0], .cb = on_pipe};
    ck_assert_int_eq(ev_set(&pipe_io, EV_READ), 0);
    ck_assert_int_eq(pipe_io.events, EV_READ);
    ck_assert_int_eq(ev_hook_add(EV_BEFORE_SLEEP, sleep_hook, NULL), 0);
    ck_assert_int_eq(ev_hook_add(EV_BEFORE_BATCH, first_hook, NULL), 0);
    ck_assert_int_eq(ev_hook_add(EV_BEFORE_BATCH, hook, "b"), 0);
    ck_assert_int_eq(ev_hook_add(EV_AFTER_DISPATCH, hook, "A"), 0);
    for (int i = 0; i < EV_HOOKS_MAX - 1; i++)
        ck_assert_int_eq(ev_hook_add(EV_AFTER_DISPATCH, hook, ""), 0);
    ck_assert_int_eq(ev_hook_add(EV_AFTER_DISPATCH, hook, ""), -1);
    /* Turn 1: the pipe is read by its callback. Turn 2: the before-batch hook takes the event.
     * Turn 3: the byte is still there (level-triggered): read. Turn 4: nothing is ready, the
     * heap's timer ends the wait and stops the loop. */
    stop_timer = (struct ev_timer){.cb = on_stop_timer};
    int64_t t0 = ev_now();
    ck_assert_int_eq(ev_run(), 0);
    ck_assert_str_eq(trace, "SBbRA"
                            "SBtbA"
                            "SBbRA"
                            "SBbAT");
    ck_assert_int_eq(turns, 4);
    ck_assert_int_ge(ev_now() - t0, 20);
    ck_assert_int_lt(ev_now() - t0, 5000);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}
END_TEST

Suite *ev_suite(void);

Suite *
ev_suite(void)
{
    Suite *s = suite_create("ev");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_heap_random);
    tcase_add_test(tc, test_heap_rearm_from_callback);
    tcase_add_test(tc, test_queues);
    tcase_add_test(tc, test_run);
    suite_add_tcase(s, tc);
    return s;
}
