/* Integration tests of application modules that keep something: counter (per-worker state built
 * in worker_start, freed in worker_stop) and sleep (answers from a timer, many pending at once,
 * clients that leave first with and without a cancel callback, request_timeout's 504). The
 * examples in $SLUICE_BUILD/examples/, the real binary, real sockets; every wait is bounded
 * (sleep logs at debug when it starts waiting and when a request ends first). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "apps.h"
#include "harness.h"

#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 5000

/* counter's answer. */
struct count {
    int worker;
    long pid;
    unsigned generation;
    long long count;
};

static struct count
parse_count(const struct http_resp *r, const char *what)
{
    struct count c;
    ck_assert_msg(r->status == 200, "%s: status %d", what, r->status);
    http_assert_header(r, "Content-Type", "application/json");
    ck_assert_msg(r->body != NULL &&
                      sscanf(r->body,
                             "{\"worker\":%d,\"pid\":%ld,\"generation\":%u,\"count\":%lld}",
                             &c.worker, &c.pid, &c.generation, &c.count) == 4,
                  "%s: not counter's JSON: %s", what, r->body ? r->body : "(no body)");
    return c;
}

static struct count
get_count(int port, const char *target)
{
    struct http_resp r;
    http_fetch(port, "GET", target, NULL, &r);
    struct count c = parse_count(&r, target);
    http_resp_free(&r);
    return c;
}

/* ---- counter ---- */

/* One worker: each app's instance counts its own requests, from its `start`. OPTIONS is the
 * server's: the module never sees it. The stop runs each instance's worker_stop (counter logs
 * its next count there, at debug). */
START_TEST(counter_one_worker)
{
    struct srv s;
    struct http_resp r;
    apps_start(&s, "workers = 1\nlog_level = debug\n",
               (struct app_def[]){
                   {"a", "examples/counter.so", "route = /a\n"},
                   {"b", "examples/counter.so", "route = /b\nstart = 100\n"},
                   {NULL},
               });
    pid_t pids[4];
    ck_assert_msg(worker_pids_wait(s.pid, 1, pids, 4, WAIT_MS), "not one worker");
    struct count c = get_count(s.port, "/a");
    ck_assert_msg(c.count == 1 && c.worker == 0 && c.pid == (long)pids[0],
                  "first /a: count %lld worker %d pid %ld (worker pid %d)", c.count, c.worker,
                  c.pid, (int)pids[0]);
    unsigned gen = c.generation;
    ck_assert_int_eq(get_count(s.port, "/a").count, 2);
    ck_assert_int_eq(get_count(s.port, "/b").count, 100);
    ck_assert_int_eq(get_count(s.port, "/b/x").count, 101);

    int st = http_fetch(s.port, "OPTIONS", "/a", NULL, &r);
    ck_assert_int_eq(st, 200);
    const char *allow = http_header(&r, "Allow");
    ck_assert_msg(allow != NULL && strstr(allow, "GET") && strstr(allow, "HEAD") &&
                      strstr(allow, "POST") && strstr(allow, "OPTIONS"),
                  "OPTIONS /a: Allow '%s'", allow ? allow : "(none)");
    http_assert_header(&r, "Content-Length", "0");
    http_resp_free(&r);

    /* Keep-alive: the same instance. */
    int fd = conn_open(s.port);
    for (int want = 3; want <= 5; want++) {
        conn_sendstr(fd, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
        http_read_response(fd, &r, 0);
        c = parse_count(&r, "/a on one connection");
        ck_assert_msg(c.count == want, "count %lld, want %d (after OPTIONS)", c.count, want);
        ck_assert_uint_eq(c.generation, gen);
        http_resp_free(&r);
    }
    close(fd);
    /* Stopped by hand: srv_stop would remove the log with the temp dir. */
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    st = srv_wait_exit(&s, 10000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "master after SIGTERM: wait status %d (want exit 0 within 10 s)", st);
    ck_assert_msg(log_line_with(&s, "app \"a\"", "worker 0 stops; next count 6", NULL, NULL, 0),
                  "app a: no worker_stop line with the next count 6");
    ck_assert_msg(log_line_with(&s, "app \"b\"", "worker 0 stops; next count 102", NULL, NULL, 0),
                  "app b: no worker_stop line with the next count 102");
    srv_stop(&s);
}
END_TEST

/* Two workers: each has its own instance, counting 1, 2, 3 ... by itself. */
START_TEST(counter_two_workers)
{
    struct srv s;
    apps_start(&s, "workers = 2\n",
               (struct app_def[]){{"a", "examples/counter.so", "route = /a\n"}, {NULL}});
    pid_t pids[4];
    ck_assert_msg(worker_pids_wait(s.pid, 2, pids, 4, WAIT_MS), "not two workers");
    long seen_pid[2] = {0, 0};
    long long last[2] = {0, 0};
    int total = 0;
    int64_t deadline = now_ms() + 20000;
    while ((last[0] < 3 || last[1] < 3) && now_ms() < deadline) {
        struct count c = get_count(s.port, "/a");
        ck_assert_msg(c.worker == 0 || c.worker == 1, "worker slot %d", c.worker);
        ck_assert_msg(pids_contain(pids, 2, (pid_t)c.pid), "pid %ld is not a worker", c.pid);
        int w = c.worker;
        if (seen_pid[w] == 0)
            seen_pid[w] = c.pid;
        ck_assert_msg(seen_pid[w] == c.pid, "slot %d answered from pid %ld, earlier %ld", w, c.pid,
                      seen_pid[w]);
        ck_assert_msg(c.count == last[w] + 1, "worker %d (pid %ld): count %lld after %lld", w,
                      c.pid, c.count, last[w]);
        last[w] = c.count;
        total++;
    }
    ck_assert_msg(last[0] >= 3 && last[1] >= 3,
                  "after %d requests on new connections: worker 0 answered %lld, worker 1 %lld",
                  total, last[0], last[1]);
    ck_assert_msg(seen_pid[0] != seen_pid[1], "both slots are pid %ld", seen_pid[0]);
    srv_stop(&s);
}
END_TEST

/* ---- sleep ---- */

static const struct app_def SLEEP_APP[] = {{"sleep", "examples/sleep.so", "route = /sleep\n"},
                                           {NULL}};

/* The answer comes from the timer, not before; bad values of ms are 400. */
START_TEST(sleep_answers_later)
{
    struct srv s;
    struct http_resp r;
    apps_start(&s, NULL, SLEEP_APP);
    int64_t t0 = now_ms();
    int st = http_fetch(s.port, "GET", "/sleep?ms=300", NULL, &r);
    int64_t took = now_ms() - t0;
    ck_assert_int_eq(st, 200);
    http_assert_body(&r, "slept 300 ms\n", "?ms=300");
    http_assert_header(&r, "Content-Type", "text/plain");
    ck_assert_msg(took >= 290 && took < 3000, "answered after %lld ms", (long long)took);
    http_resp_free(&r);

    st = http_fetch(s.port, "GET", "/sleep?x=1&ms=0", NULL, &r);
    ck_assert_int_eq(st, 200);
    http_assert_body(&r, "slept 0 ms\n", "?ms=0");
    http_resp_free(&r);

    const char *bad[] = {"/sleep",       "/sleep?ms=",   "/sleep?ms=60001",
                         "/sleep?ms=-1", "/sleep?ms=1x", "/sleep?ms=999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        apps_expect_status(s.port, "GET", bad[i], 400);
    srv_stop(&s);
}
END_TEST

/* Many requests pending at once on one worker: all answered, together rather than in turn. */
START_TEST(sleep_many_pending)
{
    enum { N = 100 };
    struct srv s;
    struct http_resp r;
    apps_start(&s, "workers = 1\n", SLEEP_APP);
    int fds[N];
    int64_t t0 = now_ms();
    for (int i = 0; i < N; i++) {
        fds[i] = conn_open(s.port);
        conn_sendstr(fds[i], i % 2 ? "GET /sleep?ms=500 HTTP/1.1\r\nHost: a\r\n\r\n"
                                   : "GET /sleep?ms=400&nocancel=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    }
    for (int i = 0; i < N; i++) {
        http_read_response(fds[i], &r, 0);
        ck_assert_msg(r.status == 200, "request %d: %d", i, r.status);
        http_assert_body(&r, i % 2 ? "slept 500 ms\n" : "slept 400 ms\n", "many pending");
        http_resp_free(&r);
        close(fds[i]);
    }
    int64_t took = now_ms() - t0;
    ck_assert_msg(took < 5000, "%d requests of 400-500 ms took %lld ms: not concurrent", N,
                  (long long)took);
    srv_stop(&s);
}
END_TEST

/* A client that leaves while its request sleeps: with the cancel callback the timer is
 * disarmed at once; without one the timer's late sl_resp_send returns SL_ECANCELED. Either
 * way the worker serves on, and the stop is clean. */
START_TEST(sleep_client_gone)
{
    struct srv s;
    struct http_resp r;
    apps_start(&s, "workers = 1\nlog_level = debug\n", SLEEP_APP);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /sleep?ms=60000 HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_msg(log_wait(&s, "sleeping 60000 ms (with a cancel callback)", 1, WAIT_MS),
                  "sleep never logged that it waits");
    int64_t t0 = now_ms();
    close(fd);
    ck_assert_msg(
        log_wait(&s, "the request for 60000 ms ended before the timer: cancelled", 1, WAIT_MS),
        "no cancel within %d ms of the client's close", WAIT_MS);
    ck_assert_msg(now_ms() - t0 < 3000, "cancel %lld ms after the close",
                  (long long)(now_ms() - t0));
    int st = http_fetch(s.port, "GET", "/sleep?ms=10", NULL, &r);
    ck_assert_int_eq(st, 200);
    http_assert_body(&r, "slept 10 ms\n", "after a cancel");
    http_resp_free(&r);

    /* No cancel callback: the timer runs on, and its answer finds the request ended. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET /sleep?ms=700&nocancel=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_msg(log_wait(&s, "sleeping 700 ms (no cancel callback)", 1, WAIT_MS),
                  "sleep never logged that it waits");
    close(fd);
    ck_assert_msg(log_wait(&s,
                           "the request for 700 ms ended before the timer (no cancel "
                           "callback): SL_ECANCELED",
                           1, WAIT_MS),
                  "the late sl_resp_send did not return SL_ECANCELED (the server did not end the "
                  "request when its client left?)");
    ck_assert_int_eq(log_count(&s, "ended before the timer: cancelled"), 1);
    st = http_fetch(s.port, "GET", "/sleep?ms=10&nocancel=1", NULL, &r);
    ck_assert_int_eq(st, 200);
    http_assert_body(&r, "slept 10 ms\n", "after a late answer");
    http_resp_free(&r);
    apps_expect_status(s.port, "GET", "/", 200);
    srv_stop(&s);
}
END_TEST

/* request_timeout shorter than the sleep: 504 and the server's line; the cancel callback runs,
 * or without one the late answer gets SL_ECANCELED. */
START_TEST(sleep_request_timeout)
{
    struct srv s;
    struct http_resp r;
    apps_start(&s, "workers = 1\nlog_level = debug\nrequest_timeout = 1s\n", SLEEP_APP);

    int64_t t0 = now_ms();
    int st = http_fetch(s.port, "GET", "/sleep?ms=5000", NULL, &r);
    int64_t took = now_ms() - t0;
    ck_assert_int_eq(st, 504);
    ck_assert_msg(took >= 900 && took < 4000, "504 after %lld ms, request_timeout 1 s",
                  (long long)took);
    http_resp_free(&r);
    char line[1024];
    ck_assert_msg(log_wait(&s, "request_timeout (1000 ms)", 1, WAIT_MS) &&
                      log_line_with(&s, "request_timeout (1000 ms): handler", "sleep",
                                    "has not answered; answering 504", line, sizeof(line)),
                  "no line 'request_timeout (1000 ms): handler sleep has not answered; "
                  "answering 504' in the error log");
    ck_assert_msg(
        log_wait(&s, "the request for 5000 ms ended before the timer: cancelled", 1, WAIT_MS),
        "request_timeout did not run the cancel callback");

    st = http_fetch(s.port, "GET", "/sleep?ms=1500&nocancel=1", NULL, &r);
    ck_assert_int_eq(st, 504);
    http_resp_free(&r);
    ck_assert_msg(log_wait(&s,
                           "the request for 1500 ms ended before the timer (no cancel "
                           "callback): SL_ECANCELED",
                           1, WAIT_MS),
                  "the late sl_resp_send after a 504 did not return SL_ECANCELED");
    ck_assert_int_eq(log_count(&s, "request_timeout (1000 ms)"), 2);

    /* Within request_timeout: answered as usual. */
    st = http_fetch(s.port, "GET", "/sleep?ms=300", NULL, &r);
    ck_assert_int_eq(st, 200);
    http_assert_body(&r, "slept 300 ms\n", "within request_timeout");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

Suite *
integ_apps_state_suite(void)
{
    Suite *s = suite_create("integ_apps_state");
    TCase *tc = tcase_create("apps_state");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, counter_one_worker);
    tcase_add_test(tc, counter_two_workers);
    tcase_add_test(tc, sleep_answers_later);
    tcase_add_test(tc, sleep_many_pending);
    tcase_add_test(tc, sleep_client_gone);
    tcase_add_test(tc, sleep_request_timeout);
    suite_add_tcase(s, tc);
    return s;
}
