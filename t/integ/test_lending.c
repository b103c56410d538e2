/* Integration tests of socket lending: the sockets of a slot whose worker does not serve
 * (stopped with SIGSTOP, or removed by TTOU) are lent to a sibling, so nothing queued on them is
 * lost, and given back when the slot serves again; TTIN and TTOU change the worker count. Which
 * worker holds a connection is read from /proc (load_conn_owner), so "every worker serves" is
 * checked, not assumed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "load.h"
#include "slots.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define PROBE_MS 3000 /* bound on each step of one request: a hang fails fast */

/* ---- a stopped worker's socket is lent ---- */

START_TEST(stopped_worker_socket_is_adopted)
{
    struct srv s;
    pid_t pids[8];
    srv_start(&s, NULL);
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);
    pid_t stopped = pids[1];
    int slot = slot_of(&s, stopped);
    ck_assert_int_ge(slot, 0);

    /* At once, without waiting for the master: connections hashed to the stopped worker's
     * socket meanwhile wait in its queue until the sibling adopts it. */
    ck_assert_int_eq(kill(stopped, SIGSTOP), 0);
    srv_assert_serves(&s, 50, "one worker stopped");
    ck_assert_msg(log_wait_fmt_pid(&s, "slot %d has no serving worker; worker %d accepts on its",
                                   slot, 1 - slot, 2000),
                  "the stopped worker's socket was not lent");
    ck_assert_msg(log_wait_fmt_pid(&s, "worker %d (pid %d) stopped", slot, (int)stopped, 2000),
                  "the master did not log the stopped worker");

    ck_assert_int_eq(kill(stopped, SIGCONT), 0);
    ck_assert_msg(log_wait_fmt_pid(&s, "worker %d (pid %d) continued", slot, (int)stopped, 5000),
                  "the master did not log the worker continuing");
    char back[64];
    snprintf(back, sizeof(back), "slot %d has its worker back", slot);
    ck_assert_msg(log_wait(&s, back, 1, 5000), "the lent socket was not given back");
    srv_assert_serves(&s, 50, "after SIGCONT");
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);
    ck_assert_msg(pids_contain(pids, 2, stopped), "the stopped worker was replaced");
    assert_each_serves(&s, pids, 2, 60);
    srv_stop(&s);
}
END_TEST

/* ---- TTIN / TTOU ---- */

START_TEST(ttin_ttou_change_worker_count)
{
    struct srv s;
    pid_t pids[8], three[8];
    struct load_stats st;
    char sum[300];
    srv_start(&s, NULL);
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);

    ck_assert_int_eq(kill(s.pid, SIGTTIN), 0);
    ck_assert_msg(worker_pids_wait(s.pid, 3, three, 8, 5000), "TTIN: no third worker within 5 s");
    ck_assert_msg(log_wait(&s, "TTIN: 3 workers", 1, 2000), "TTIN not logged");
    ck_assert_msg(log_wait(&s, "worker 2 (pid ", 2, 5000) && log_wait(&s, ") ready", 3, 5000),
                  "the third worker never reported ready");
    assert_each_serves(&s, three, 3, 120);

    /* Two TTOUs under load: the removed slots' sockets go on loan, nothing is refused. */
    struct load_cfg cfg = {.port = s.port,
                           .target = "/",
                           .expect_body = SRV_INDEX_HTML,
                           .new_threads = 4,
                           .max_ms = 20000,
                           .io_timeout_ms = PROBE_MS};
    struct load *l = load_start(&cfg);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(load_wait(l, 100, 5000), "load did not start");
    ck_assert_int_eq(kill(s.pid, SIGTTOU), 0);
    ck_assert_msg(worker_pids_wait(s.pid, 2, pids, 8, 5000), "TTOU: still %d children after 5 s",
                  worker_pids(s.pid, pids, 8));
    ck_assert_msg(load_wait(l, load_done(l) + 100, 5000), "load stalled after the first TTOU");
    ck_assert_int_eq(kill(s.pid, SIGTTOU), 0);
    ck_assert_msg(worker_pids_wait(s.pid, 1, pids, 8, 5000), "TTOU: still %d children after 5 s",
                  worker_pids(s.pid, pids, 8));
    ck_assert_msg(load_wait(l, load_done(l) + 100, 5000), "load stalled after the second TTOU");
    load_stop(l, &st);
    fprintf(stderr, "ttin_ttou: during TTOU: %s\n", load_summary(&st, sum, sizeof(sum)));
    ck_assert_msg(st.failures == 0, "during TTOU: %s; first: %s", sum,
                  st.nevents ? st.events[0].what : "");
    ck_assert_msg(log_count(&s, "TTOU: 1 workers") + log_count(&s, "TTOU: 1 worker") >= 1,
                  "second TTOU not logged");
    ck_assert_msg(log_count(&s, "slot 1 has no serving worker") >= 1 &&
                      log_count(&s, "slot 2 has no serving worker") >= 1,
                  "the removed slots' sockets were not lent");
    srv_assert_serves(&s, 50, "one worker left");

    ck_assert_int_eq(kill(s.pid, SIGTTIN), 0);
    ck_assert_msg(worker_pids_wait(s.pid, 2, pids, 8, 5000), "TTIN: not back to 2 workers in 5 s");
    ck_assert_msg(log_wait(&s, ") ready", 4, 5000), "the re-added worker never reported ready");
    assert_each_serves(&s, pids, 2, 60);
    srv_assert_serves(&s, 20, "back at two workers");
    srv_stop(&s);
}
END_TEST

Suite *
integ_lending_suite(void)
{
    Suite *s = suite_create("integ_lending");
    TCase *tc = tcase_create("lending");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stopped_worker_socket_is_adopted);
    tcase_add_test(tc, ttin_ttou_change_worker_count);
    suite_add_tcase(s, tc);
    return s;
}
