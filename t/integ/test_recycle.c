/* Integration tests of workers the master replaces on purpose: one whose loop hangs (the
 * watchdog kills it) and one that retires after max_requests (plus max_requests_jitter). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "slots.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- watchdog ---- */

START_TEST(watchdog_replaces_hung_worker)
{
    struct srv s;
    pid_t pids[8];
    srv_start(&s, "worker_watchdog = 1s");
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);
    pid_t hung = pids[0], other = pids[1];
    int slot = slot_of(&s, hung);

    int64_t t0 = now_ms();
    ck_assert_int_eq(kill(hung, SIGSTOP), 0);
    ck_assert_msg(
        log_wait_fmt_pid(&s, "worker %d (pid %d) has not turned its loop", slot, (int)hung, 5000),
        "no watchdog line within 5 s of SIGSTOP");
    int64_t noticed = now_ms() - t0;
    ck_assert_msg(noticed >= 900, "watchdog fired after %lld ms, before worker_watchdog = 1s",
                  (long long)noticed);
    ck_assert_msg(pid_wait_gone(hung, 5000), "the hung worker %d was not killed", (int)hung);

    int64_t deadline = now_ms() + 5000;
    while (worker_pids(s.pid, pids, 8) != 2 || pids_contain(pids, 2, hung)) {
        ck_assert_msg(now_ms() < deadline, "slot %d not respawned within 5 s", slot);
        sleep_ms(5);
    }
    ck_assert_msg(pids_contain(pids, 2, other), "the healthy worker was replaced too");
    pid_t fresh = pids[0] == other ? pids[1] : pids[0];
    ck_assert_msg(log_wait_fmt_pid(&s, "worker %d (pid %d) ready", slot, (int)fresh, 5000),
                  "the replacement never reported ready");
    char needle[64];
    snprintf(needle, sizeof(needle), "(pid %d", (int)hung);
    ck_assert_msg(log_line_with(&s, needle, "killed by signal", NULL, NULL, 0),
                  "the hung worker's death was not logged");
    assert_each_serves(&s, pids, 2, 60);
    ck_assert_msg(log_count(&s, "has not turned its loop") == 1,
                  "the watchdog fired %d times (healthy workers too?)",
                  log_count(&s, "has not turned its loop"));
    srv_stop(&s);
}
END_TEST

/* ---- max_requests ---- */

START_TEST(max_requests_retires_worker)
{
    struct srv s;
    pid_t pids[8];
    srv_start(&s, "workers = 1\nmax_requests = 20");
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 1);
    pid_t first = pids[0];

    srv_assert_serves(&s, 60, "max_requests = 20");
    ck_assert_msg(log_wait(&s, "max_requests: retiring", 2, 5000),
                  "'max_requests: retiring' logged %d times for 60 requests",
                  log_count(&s, "max_requests: retiring"));
    /* One request at a time: each worker retires after exactly max_requests of them. */
    ck_assert_msg(log_count(&s, "max_requests: retiring after 20 requests") ==
                      log_count(&s, "max_requests: retiring"),
                  "a worker retired after another count than max_requests = 20");
    ck_assert_msg(worker_pids_wait(s.pid, 1, pids, 8, 5000), "not back to one worker");
    ck_assert_msg(pids[0] != first, "worker %d still serving after 60 requests", (int)first);
    /* A retirement is not a crash: no back-off. */
    ck_assert_msg(log_count(&s, "respawning in") == 0, "a retired worker was backed off");
    srv_assert_serves(&s, 5, "after the retirements");
    srv_stop(&s);
}
END_TEST

/* The "max_requests: retiring after K requests" lines of error.log, in order: their K and
 * the pid that wrote each. Returns how many (up to max). */
static int
retirements(const struct srv *s, long *counts, pid_t *pids, int max)
{
    char *text = read_file_all(s->log, NULL);
    ck_assert_ptr_nonnull(text);
    int n = 0;
    for (char *line = text; line != NULL && *line != '\0' && n < max;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        const char *at = strstr(line, "max_requests: retiring after ");
        const char *lvl = strstr(line, "] ");
        int pid;
        if (at != NULL && lvl != NULL && sscanf(lvl + 2, "%d worker", &pid) == 1) {
            counts[n] = strtol(at + 29, NULL, 10);
            pids[n] = pid;
            n++;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
    return n;
}

/* max_requests_jitter: each worker retires after max_requests plus up to jitter more, drawn per
 * worker. One worker, one request at a time, until five have retired: every count lies in
 * [max_requests, max_requests + jitter], they are not all the same, and no worker retired
 * before it could have served its count. */
START_TEST(max_requests_jitter_varies_per_worker)
{
    enum { MAX = 3, JITTER = 40, RETIRED = 5 };
    struct srv s;
    long counts[RETIRED + 1];
    pid_t by[RETIRED + 1];
    srv_start(&s, "workers = 1\nmax_requests = 3\nmax_requests_jitter = 40");

    long sent = 0, sum = 0;
    int seen = 0;
    while (seen < RETIRED) {
        ck_assert_msg(sent < RETIRED * (MAX + JITTER) + 50,
                      "%ld requests sent, only %d retirements logged", sent, seen);
        srv_assert_serves(&s, 1, "max_requests_jitter");
        sent++;
        int n = retirements(&s, counts, by, RETIRED);
        for (; seen < n; seen++) {
            sum += counts[seen];
            ck_assert_msg(sum <= sent,
                          "retirement %d: %ld requests served in all by then, but "
                          "only %ld were sent",
                          seen + 1, sum, sent);
        }
    }
    bool varied = false;
    for (int i = 0; i < RETIRED; i++) {
        ck_assert_msg(counts[i] >= MAX && counts[i] <= MAX + JITTER,
                      "worker %d retired after %ld requests, outside [%d, %d]", (int)by[i],
                      counts[i], MAX, MAX + JITTER);
        for (int j = 0; j < i; j++)
            ck_assert_msg(by[j] != by[i], "worker %d retired twice", (int)by[i]);
        varied |= counts[i] != counts[0];
    }
    ck_assert_msg(varied, "%d workers all retired after %ld requests: no jitter", RETIRED,
                  counts[0]);
    ck_assert_msg(log_count(&s, "respawning in") == 0, "a retired worker was backed off");
    srv_stop(&s);
}
END_TEST

Suite *
integ_recycle_suite(void)
{
    Suite *s = suite_create("integ_recycle");
    TCase *tc = tcase_create("recycle");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, watchdog_replaces_hung_worker);
    tcase_add_test(tc, max_requests_retires_worker);
    tcase_add_test(tc, max_requests_jitter_varies_per_worker);
    suite_add_tcase(s, tc);
    return s;
}
