/* Integration tests of health_path and drain_delay (issue 16): health answers 200 while the
 * instance serves and 503 once a graceful stop began; with drain_delay the instance serves on
 * normally (listeners open, keep-alive as usual) for that long before it stops; a second QUIT
 * does not restart the drain, TERM ends it at once, a worker respawned during it answers 503
 * too; TTOU and a binary upgrade keep health at 200; `sluice quit` waits for the drain. Every
 * wait is a bounded poll on the error log, the processes or the answers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000 /* bound on each state change we wait for */
#define HEALTH "health_path = /health\n"

/* GET (or HEAD) /health on a fresh connection; the answer must be exactly what health says
 * for `want` (200 "ok\n" or 503 "draining\n", uncacheable, text/plain). */
static void
assert_health(int port, const char *method, int want, const char *when)
{
    struct http_resp r;
    int status = http_fetch(port, method, "/health", NULL, &r);
    ck_assert_msg(status == want, "%s: %s /health answered %d, want %d", when, method, status,
                  want);
    http_assert_header(&r, "Cache-Control", "no-store");
    http_assert_header(&r, "Content-Type", "text/plain");
    const char *body = want == 200 ? "ok\n" : "draining\n";
    if (strcmp(method, "HEAD") == 0) {
        char len[32];
        snprintf(len, sizeof(len), "%zu", strlen(body));
        http_assert_header(&r, "Content-Length", len);
        ck_assert_uint_eq(r.body_len, 0);
    } else {
        http_assert_body(&r, body, when);
    }
    http_resp_free(&r);
}

/* Poll /health on fresh connections until it answers 503; every answer before must be 200. */
static void
wait_health_503(int port, const char *when)
{
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        struct http_resp r;
        int status = http_fetch(port, "GET", "/health", NULL, &r);
        http_resp_free(&r);
        if (status == 503)
            return;
        ck_assert_msg(status == 200, "%s: /health answered %d", when, status);
        ck_assert_msg(now_ms() < deadline, "%s: /health still 200 after %d ms", when, WAIT_MS);
        sleep_ms(10);
    }
}

/* GET / on a fresh connection: index.html. */
static void
assert_serves(int port, const char *when)
{
    struct http_resp r;
    ck_assert_msg(http_fetch(port, "GET", "/", NULL, &r) == 200, "%s: GET / answered %d", when,
                  r.status);
    http_assert_body(&r, SRV_INDEX_HTML, when);
    http_resp_free(&r);
}

/* One request on a kept-alive connection `fd`: its status, and the server keeps the connection
 * (no Connection: close). */
static int
keepalive_get(int fd, const char *target, const char *when)
{
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", target);
    conn_send(fd, req, (size_t)n);
    struct http_resp r;
    http_read_response(fd, &r, 0);
    ck_assert_msg(!http_says_close(&r), "%s: GET %s on a kept connection says Connection: close",
                  when, target);
    int status = r.status;
    http_resp_free(&r);
    return status;
}

/* Nothing listens on 127.0.0.1:port any more. */
static bool
port_refuses(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_ge(fd, 0);
    int rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
    int err = errno;
    close(fd);
    return rc < 0 && err == ECONNREFUSED;
}

/* Wait for the master to exit 0 after a stop, then check its log and remove its files. */
static void
assert_exits(struct srv *s, const char *after)
{
    int st = srv_wait_exit(s, WAIT_MS);
    ck_assert_msg(st != -1, "master %d still running %d ms after %s", (int)s->pid, WAIT_MS, after);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "master after %s: wait status 0x%x", after,
                  st);
    srv_finish(s);
}

/* ---- tests ---- */

/* While serving: GET and HEAD answer 200 "ok\n"; POST 405 with Allow; the route is exact
 * (/health/x and /healthz are static files, here absent: 404); OPTIONS lists the verbs. */
START_TEST(health_serving)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, HEALTH);
    assert_health(s.port, "GET", 200, "serving");
    assert_health(s.port, "HEAD", 200, "serving");
    ck_assert_int_eq(http_fetch(s.port, "POST", "/health", "Content-Length: 0\r\n", &r), 405);
    http_assert_header(&r, "Allow", "GET, HEAD, OPTIONS");
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "OPTIONS", "/health", NULL, &r), 200);
    http_assert_header(&r, "Allow", "GET, HEAD, OPTIONS");
    ck_assert_uint_eq(r.body_len, 0);
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/health/x", NULL, &r), 404);
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/healthz", NULL, &r), 404);
    http_resp_free(&r);
    /* The normalised path meets the route, as for every route. */
    ck_assert_int_eq(http_fetch(s.port, "GET", "/x/../%68ealth?probe=1", NULL, &r), 200);
    http_assert_body(&r, "ok\n", "normalised /health");
    http_resp_free(&r);
    assert_serves(s.port, "serving");
    srv_stop(&s);
}
END_TEST

/* health_path off (the default): /health is just a path under root. */
START_TEST(health_off_is_404)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, "drain_delay = 1s\n");
    ck_assert_int_eq(http_fetch(s.port, "GET", "/health", NULL, &r), 404);
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

/* drain_delay = 3s, SIGQUIT: the master logs the drain; health turns 503 on fresh connections
 * and on a connection kept from before; everything else is served as before (fresh and kept
 * connections, keep-alive kept); only after the delay does the graceful stop begin, then the
 * master exits and the port refuses. */
START_TEST(drain_serves_then_stops)
{
    struct srv s;
    char line[512];
    srv_start(&s, HEALTH "drain_delay = 3s\n");
    int kept = conn_open(s.port);
    ck_assert_int_eq(keepalive_get(kept, "/", "before the drain"), 200);
    assert_health(s.port, "GET", 200, "before the drain");

    int64_t t0 = now_ms();
    ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);
    ck_assert_msg(log_wait(&s, "master: draining for 3000 ms before stopping", 1, WAIT_MS),
                  "no drain line in %s", s.log);
    wait_health_503(s.port, "draining");
    assert_health(s.port, "GET", 503, "draining");
    assert_health(s.port, "HEAD", 503, "draining");
    assert_serves(s.port, "draining");
    ck_assert_int_eq(keepalive_get(kept, "/", "draining"), 200);
    ck_assert_int_eq(keepalive_get(kept, "/health", "draining"), 503);
    int64_t checked = now_ms() - t0;
    ck_assert_msg(log_count(&s, "master: graceful stop") == 0,
                  "the graceful stop began %lld ms into a 3000 ms drain", (long long)checked);
    ck_assert_msg(checked < 3000, "the checks took %lld ms: the drain is over, nothing proven",
                  (long long)checked);

    ck_assert_msg(log_wait(&s, "master: graceful stop", 1, WAIT_MS), "no graceful stop in %s",
                  s.log);
    int64_t stopped = now_ms() - t0;
    ck_assert_msg(stopped >= 2900, "the graceful stop began %lld ms after QUIT, want 3000",
                  (long long)stopped);
    ck_assert_msg(log_line_with(&s, "[notice]", "draining for 3000 ms", NULL, line, sizeof(line)),
                  "the drain line is not a notice");
    /* The kept connection is closed by the stop (idle), and the port with the master. */
    ck_assert_msg(conn_wait_closed(kept, WAIT_MS), "kept connection still open after the stop");
    close(kept);
    int port = s.port;
    assert_exits(&s, "QUIT with drain_delay");
    ck_assert_msg(port_refuses(port), "port %d still accepts after the master exited", port);
}
END_TEST

/* drain_delay = 0: `sluice quit` returns promptly; the workers were still told to drain before
 * they retired (their log line), and no drain wait is logged. */
START_TEST(quit_without_delay_is_prompt)
{
    struct srv s;
    char out[1024];
    srv_start(&s, HEALTH);
    assert_health(s.port, "GET", 200, "serving");
    int64_t t0 = now_ms();
    int rc = srv_ctl(&s, "quit", out, sizeof(out));
    int64_t took = now_ms() - t0;
    ck_assert_msg(rc == 0 && strstr(out, "stopped (pid "), "sluice quit: exit %d: %s", rc, out);
    /* Loose: the CLI alone takes seconds under the sanitizers; a drain would be the 30 s
     * graceful_timeout's order, and is ruled out by the log below. */
    ck_assert_msg(took < WAIT_MS, "sluice quit took %lld ms with drain_delay 0", (long long)took);
    ck_assert_int_eq(log_count(&s, "draining for"), 0);
    ck_assert_int_eq(log_count(&s, "draining: health answers 503"), 2);
    assert_exits(&s, "sluice quit");
}
END_TEST

/* `sluice quit` with drain_delay = 1s and graceful_timeout = 1s: the command waits through the
 * drain (it returns once the master is gone, at least 1 s later) and reports the stop. The
 * CLI's wait is drain_delay + graceful_timeout + 5 s: a drain longer than graceful_timeout + 5
 * s would make it give up early if it ignored drain_delay. */
START_TEST(cli_quit_waits_for_drain)
{
    struct srv s;
    char out[1024];
    srv_start(&s, HEALTH "drain_delay = 7s\ngraceful_timeout = 1s\n");
    int64_t t0 = now_ms();
    int rc = srv_ctl(&s, "quit", out, sizeof(out));
    int64_t took = now_ms() - t0;
    ck_assert_msg(rc == 0 && strstr(out, "stopped (pid "), "sluice quit after %lld ms: exit %d: %s",
                  (long long)took, rc, out);
    ck_assert_msg(took >= 6900, "sluice quit returned after %lld ms, within a 7 s drain",
                  (long long)took);
    ck_assert_int_eq(log_count(&s, "master: draining for 7000 ms before stopping"), 1);
    assert_exits(&s, "sluice quit");
}
END_TEST

/* A second QUIT during the drain does not restart it: one drain line, and the stop comes when
 * the first drain ends (about 2 s after the second QUIT), not drain_delay (4 s) after it. */
START_TEST(second_quit_does_not_restart)
{
    struct srv s;
    srv_start(&s, HEALTH "drain_delay = 4s\n");
    int64_t t0 = now_ms();
    ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);
    ck_assert(log_wait(&s, "master: draining for 4000 ms", 1, WAIT_MS));
    wait_health_503(s.port, "draining");
    /* Halfway into the drain (health stays 503 meanwhile), the second QUIT. */
    while (now_ms() - t0 < 2000)
        assert_health(s.port, "GET", 503, "draining, before the second QUIT");
    int64_t t1 = now_ms();
    ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);
    ck_assert(log_wait(&s, "master: graceful stop", 1, WAIT_MS));
    int64_t stopped = now_ms();
    ck_assert_msg(stopped - t1 < 3500,
                  "the stop began %lld ms after the second QUIT (%lld after the first): the "
                  "drain restarted",
                  (long long)(stopped - t1), (long long)(stopped - t0));
    ck_assert_int_eq(log_count(&s, "draining for"), 1);
    assert_exits(&s, "two QUITs");
}
END_TEST

/* TERM during a long drain stops at once (fast stop), and so does `sluice stop`. */
START_TEST(term_during_drain_is_fast)
{
    struct srv s;
    srv_start(&s, HEALTH "drain_delay = 30s\n");
    ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);
    ck_assert(log_wait(&s, "master: draining for 30000 ms", 1, WAIT_MS));
    wait_health_503(s.port, "draining");
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    int st = srv_wait_exit(&s, WAIT_MS);
    ck_assert_msg(st != -1, "master still running %d ms after TERM during a 30 s drain", WAIT_MS);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x", st);
    ck_assert_int_eq(log_count(&s, "master: fast stop"), 1);
    ck_assert_int_eq(log_count(&s, "master: graceful stop"), 0);
    srv_finish(&s);
}
END_TEST

/* A worker that dies during the drain is respawned as usual, and its successor answers 503
 * too (it is forked knowing of the drain). One worker, so every answer is the new one's. */
START_TEST(respawn_during_drain_answers_503)
{
    struct srv s;
    pid_t before[4], after[4];
    srv_start(&s, HEALTH "workers = 1\ndrain_delay = 30s\n");
    ck_assert(worker_pids_wait(s.pid, 1, before, 4, WAIT_MS));
    ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);
    ck_assert(log_wait(&s, "master: draining for 30000 ms", 1, WAIT_MS));
    wait_health_503(s.port, "draining");
    ck_assert_int_eq(kill(before[0], SIGKILL), 0);
    int64_t deadline = now_ms() + WAIT_MS;
    while (!(worker_pids(s.pid, after, 4) == 1 && after[0] != before[0])) {
        ck_assert_msg(now_ms() < deadline, "no new worker %d ms after the kill", WAIT_MS);
        sleep_ms(10);
    }
    ck_assert(log_wait(&s, "worker 0: draining: health answers 503", 2, WAIT_MS));
    assert_health(s.port, "GET", 503, "respawned during the drain");
    assert_serves(s.port, "respawned during the drain");
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    assert_exits(&s, "TERM");
}
END_TEST

/* TTOU retires a worker (a hand-over, like a reload's): the instance keeps serving, and health
 * stays 200 throughout. */
START_TEST(ttou_keeps_health)
{
    struct srv s;
    pid_t kids[4];
    srv_start(&s, HEALTH "drain_delay = 5s\n");
    ck_assert(worker_pids_wait(s.pid, 2, kids, 4, WAIT_MS));
    ck_assert_int_eq(kill(s.pid, SIGTTOU), 0);
    ck_assert(log_wait(&s, "master: TTOU: 1 workers", 1, WAIT_MS));
    int64_t deadline = now_ms() + WAIT_MS;
    while (worker_pids(s.pid, kids, 4) != 1) {
        assert_health(s.port, "GET", 200, "TTOU");
        ck_assert_msg(now_ms() < deadline, "still 2 workers %d ms after TTOU", WAIT_MS);
    }
    for (int i = 0; i < 5; i++)
        assert_health(s.port, "GET", 200, "after TTOU");
    ck_assert_int_eq(log_count(&s, "draining"), 0);
    srv_stop(&s);
}
END_TEST

/* A binary upgrade by hand (USR2, WINCH and QUIT to the old master) with drain_delay set: the
 * service goes on in the new master, so the old one does not drain at its QUIT (no drain
 * line, no 503 from either master's workers) and health answers 200 throughout. */
START_TEST(upgrade_keeps_health)
{
    struct srv s;
    pid_t kids[8];
    char needle[96];
    srv_start(&s, HEALTH "drain_delay = 10s\n");
    pid_t old = s.pid;
    ck_assert_int_eq(kill(old, SIGUSR2), 0);
    pid_t new_master = srv_wait_new_master(&s, old);
    for (int i = 0; i < 10; i++)
        assert_health(s.port, "GET", 200, "USR2");
    ck_assert_int_eq(kill(old, SIGWINCH), 0);
    snprintf(needle, sizeof(needle), "%d master: WINCH", (int)old);
    ck_assert(log_wait(&s, needle, 1, WAIT_MS));
    int64_t deadline = now_ms() + WAIT_MS;
    while (worker_pids(old, kids, 8) > 1) { /* the new master is a child of the old */
        assert_health(s.port, "GET", 200, "WINCH");
        ck_assert_msg(now_ms() < deadline, "old workers still there %d ms after WINCH", WAIT_MS);
    }
    int64_t t0 = now_ms();
    ck_assert_int_eq(kill(old, SIGQUIT), 0);
    deadline = now_ms() + WAIT_MS;
    while (pid_alive(old)) {
        assert_health(s.port, "GET", 200, "QUIT to the old master");
        ck_assert_msg(now_ms() < deadline, "old master still there %d ms after QUIT", WAIT_MS);
    }
    ck_assert_msg(now_ms() - t0 < 8000, "the old master took %lld ms to leave: did it drain?",
                  (long long)(now_ms() - t0));
    int st = srv_wait_exit(&s, WAIT_MS);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "old master: 0x%x", st);
    ck_assert_int_eq(log_count(&s, "draining"), 0);
    for (int i = 0; i < 5; i++)
        assert_health(s.port, "GET", 200, "after the upgrade");
    srv_cli_stop(&s, new_master);
    srv_finish(&s);
}
END_TEST

Suite *
integ_health_suite(void)
{
    Suite *s = suite_create("integ_health");
    TCase *tc = tcase_create("health");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, health_serving);
    tcase_add_test(tc, health_off_is_404);
    tcase_add_test(tc, drain_serves_then_stops);
    tcase_add_test(tc, quit_without_delay_is_prompt);
    tcase_add_test(tc, cli_quit_waits_for_drain);
    tcase_add_test(tc, second_quit_does_not_restart);
    tcase_add_test(tc, term_during_drain_is_fast);
    tcase_add_test(tc, respawn_during_drain_answers_503);
    tcase_add_test(tc, ttou_keeps_health);
    tcase_add_test(tc, upgrade_keeps_health);
    suite_add_tcase(s, tc);
    return s;
}
