/* Integration tests of invisible reloads: a worker that retires gracefully (reload, max_requests,
 * TTOU) hands its kept-alive plain-HTTP connections over to a serving worker, so a client never
 * sees one end without `Connection: close`; the keep-alive and per-IP counts move with them.
 * Where no hand-over is possible (a graceful stop), a connection is told `Connection: close`,
 * and an idle one closes only after idle_close_grace.
 *
 * The load runs in strict mode (load.h): no retry, and a kept connection the server ends
 * without having said `Connection: close` is a failure. Which worker holds a connection is
 * read from /proc (load_conn_owner). Every wait is a bounded poll on a log line, a pid or a
 * socket; there is no sleep a result depends on. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "load.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RELOADS 20
#define TT_CYCLES 5
#define IDLE_CONNS 50
#define OUT_MAX 8192
/* Kept connections live through whole tests: no response says Connection: close because of
 * max_keepalive_requests, so any close the client sees comes from a retirement. */
#define LONG_KEEPALIVE "max_keepalive_requests = 1000000\nkeepalive_timeout = 60s\n"

static const char GET[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/* ---- helpers ---- */

static void
wait_log(const struct srv *s, const char *want, int count, int timeout_ms)
{
    ck_assert_msg(log_wait(s, want, count, timeout_ms), "'%s' seen %d times in the log, want %d",
                  want, log_count(s, want), count);
}

static void
wait_gen_ready(const struct srv *s, unsigned gen, int timeout_ms)
{
    char want[64];
    snprintf(want, sizeof(want), "generation %u ready (", gen);
    wait_log(s, want, 1, timeout_ms);
}

static void
wait_gen_exited(const struct srv *s, unsigned gen, int timeout_ms)
{
    char want[64];
    snprintf(want, sizeof(want), "generation %u has exited", gen);
    wait_log(s, want, 1, timeout_ms);
}

/* Strict load: 2 threads on new connections, 8 on kept ones, index.html each time; at most
 * 40 s, and 1,000,000 requests a thread (a kept connection does ~10,000 a second here: the time
 * bound comes first, and a thread never ends while a test still counts on its connection). */
static struct load *
start_strict_load(const struct srv *s)
{
    struct load_cfg cfg = {.port = s->port,
                           .target = "/",
                           .expect_body = SRV_INDEX_HTML,
                           .new_threads = 2,
                           .keepalive_threads = 8,
                           .max_requests = 1000000,
                           .max_ms = 40000,
                           .io_timeout_ms = 5000,
                           .strict = true};
    struct load *l = load_start(&cfg);
    ck_assert_msg(l != NULL, "cannot start the load threads");
    ck_assert_msg(load_wait(l, 200, 5000), "load: only %ld requests answered in 5 s", load_done(l));
    return l;
}

static void
wait_progress(struct load *l, long more, const char *when)
{
    long done = load_done(l);
    ck_assert_msg(load_wait(l, done + more, 5000), "%s: load stalled at %ld requests", when,
                  load_done(l));
}

/* The first [warn]/[error] lines of error.log to stderr: the harness shows only its tail, and
 * what went wrong under load is usually earlier. */
static void
print_log_warnings(const struct srv *s, const char *what)
{
    char *text = read_file_all(s->log, NULL);
    int shown = 0;
    for (char *line = text; line != NULL && *line != '\0' && shown < 20;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (strstr(line, "[warn]") != NULL || strstr(line, "[error]") != NULL) {
            fprintf(stderr, "%s: log: %s\n", what, line);
            shown++;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
}

/* Milliseconds since midnight UTC of an error.log line ("2026-01-02T03:04:05.678Z ..."), -1
 * when it has no time stamp. */
static int64_t
line_day_ms(const char *line)
{
    int h, m, sec, ms;
    if (sscanf(line, "%*d-%*d-%*dT%d:%d:%d.%dZ", &h, &m, &sec, &ms) != 4)
        return -1;
    return ((int64_t)(h * 60 + m) * 60 + sec) * 1000 + ms;
}

/* The error.log lines from 200 ms before to 50 ms after a load event (its at_ms is on the
 * monotonic clock), the last 40 of them, to stderr: what the server did as a request failed. */
static void
print_log_around(const struct srv *s, int64_t at_mono_ms, const char *what)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t wall_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    int64_t at = (wall_ms - now_ms() + at_mono_ms) % 86400000;
    char *text = read_file_all(s->log, NULL);
    fprintf(stderr, "%s: log lines around the first failure (%02d:%02d:%02d.%03d UTC):\n", what,
            (int)(at / 3600000), (int)(at / 60000 % 60), (int)(at / 1000 % 60), (int)(at % 1000));
    /* Two passes over the text: count the lines in the window, then print the last 40. */
    for (int pass = 0, in_window = 0, skip = 0; pass < 2 && text != NULL; pass++) {
        skip = in_window > 40 ? in_window - 40 : 0;
        in_window = 0;
        for (const char *line = text; *line != '\0';) {
            size_t len = strcspn(line, "\n");
            int64_t t = line_day_ms(line);
            if (t >= at - 200 && t <= at + 50 && in_window++ >= skip && pass == 1)
                fprintf(stderr, "  %.*s\n", (int)len, line);
            line += len + (line[len] == '\n');
        }
    }
    free(text);
}

/* Stop the load; no failure of any kind, traffic of both kinds, and no kept connection ended
 * (with or without Connection: close): the retirements were invisible. */
static void
stop_load_clean(const struct srv *s, struct load *l, const char *what)
{
    struct load_stats st;
    char sum[400], ev[1200];
    load_stop(l, &st);
    fprintf(stderr, "%s: %s\n", what, load_summary(&st, sum, sizeof(sum)));
    if (st.failures != 0 || st.reconnects != 0)
        print_log_warnings(s, what);
    for (int i = 0; i < st.nevents; i++)
        if (!st.events[i].retry) {
            print_log_around(s, st.events[i].at_ms, what);
            break;
        }
    ck_assert_msg(st.failures == 0, "%s: %s%s", what, sum, load_events_text(&st, ev, sizeof(ev)));
    ck_assert_msg(st.ok_new > 0 && st.ok_keepalive > 0, "%s: no traffic of one kind: %s", what,
                  sum);
    ck_assert_msg(st.reconnects == 0, "%s: kept connections were ended with Connection: close: %s",
                  what, sum);
}

/* Whether every kept connection of the load is held by one of the n `pids` (bounded poll: one
 * may be on its way through the master). Asked while the load runs, asserted after load_stop,
 * so that a failed request is reported first. */
static bool
load_held_by(const struct srv *s, struct load *l, const pid_t *pids, int n, char *why, size_t len)
{
    int ports[LOAD_MAX_THREADS];
    int nka = load_keepalive_ports(l, ports, LOAD_MAX_THREADS);
    int64_t deadline = now_ms() + 2000;
    for (int i = 0; i < nka; i++) {
        while (ports[i] == 0 || load_conn_owner(pids, n, s->port, ports[i]) == 0) {
            if (now_ms() >= deadline) {
                bool master = load_conn_owner(&s->pid, 1, s->port, ports[i]) == s->pid;
                snprintf(why, len,
                         "kept connection %d (port %d) is held by none of the %d workers%s", i,
                         ports[i], n, master ? " (the master holds it)" : "");
                return false;
            }
            sleep_ms(5);
            load_keepalive_ports(l, ports, LOAD_MAX_THREADS);
        }
    }
    return true;
}

/* One GET on a kept connection: fails the test unless it is a 200 with index.html. Returns
 * whether the response said Connection: close. */
static bool
kept_get(int fd, const char *what, int n)
{
    struct http_resp r;
    conn_sendstr(fd, GET);
    int rc = http_try_read(fd, &r, 0);
    ck_assert_msg(rc == 0, "%s, request %d: %s", what, n, r.err);
    ck_assert_msg(r.status == 200, "%s, request %d: status %d", what, n, r.status);
    http_assert_body(&r, SRV_INDEX_HTML, what);
    bool close_said = http_says_close(&r);
    http_resp_free(&r);
    return close_said;
}

/* kept_get, and the response must not say Connection: close. */
static void
kept_get_open(int fd, const char *what, int n)
{
    ck_assert_msg(!kept_get(fd, what, n), "%s, request %d: Connection: close", what, n);
}

/* A new kept-alive connection that got one 200. */
static int
open_served(int port)
{
    int fd = conn_open(port);
    kept_get_open(fd, "first request", 1);
    return fd;
}

/* Poll (bounded) until one of the n `pids` holds the server side of fd; returns it. */
static pid_t
owner_wait(const struct srv *s, const pid_t *pids, int n, int fd, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    pid_t owner;
    while ((owner = load_conn_owner(pids, n, s->port, load_local_port(fd))) == 0 &&
           now_ms() < deadline)
        sleep_ms(5);
    return owner;
}

/* ---- retirements under strict load ---- */

START_TEST(reloads_under_strict_load)
{
    struct srv s;
    pid_t pids[8];
    srv_start(&s, LONG_KEEPALIVE "graceful_timeout = 10s");
    struct load *l = start_strict_load(&s);
    for (unsigned gen = 2; gen <= RELOADS + 1; gen++) {
        ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
        wait_gen_ready(&s, gen, 5000);
        wait_progress(l, 50, "after a reload");
    }
    wait_gen_exited(&s, RELOADS, 10000);
    ck_assert_msg(worker_pids_wait(s.pid, 2, pids, 8, 5000), "old workers still alive");
    /* The load's kept connections are the ones it opened first (stop_load_clean checks that
     * none ended): now the last generation holds them all. */
    char why[160];
    bool held = load_held_by(&s, l, pids, 2, why, sizeof(why));
    wait_progress(l, 50, "after the last reload");
    stop_load_clean(&s, l, "reloads_under_strict_load");
    ck_assert_msg(held, "after %d reloads: %s", RELOADS, why);
    srv_assert_serves(&s, 5, "after the reloads");
    srv_stop(&s);
}
END_TEST

START_TEST(max_requests_storm_under_strict_load)
{
    struct srv s;
    srv_start(&s, LONG_KEEPALIVE "max_requests = 200\nmax_requests_jitter = 100\n"
                                 "graceful_timeout = 10s");
    struct load *l = start_strict_load(&s);
    /* Eight workers retired and replaced, one after the other (the master lets one retire only
     * while another serves); how many requests that takes depends on how fast the successors
     * get ready, so the wait is for the retirements themselves. */
    wait_log(&s, "generation 1) exited with status 0", 8, 30000);
    wait_progress(l, 200, "after the retirements");
    int retired = log_count(&s, "generation 1) exited with status 0");
    stop_load_clean(&s, l, "max_requests_storm");
    fprintf(stderr, "max_requests_storm: %d retirements\n", retired);
    srv_assert_serves(&s, 5, "after the storm");
    srv_stop(&s);
}
END_TEST

/* Open kept connections until `want` of them are held by `pid` (each one is held by one of the
 * n `pids`; at most 60 tries); the others are closed. */
static int
conns_on(const struct srv *s, const pid_t *pids, int n, pid_t pid, int *fds, int want)
{
    int got = 0;
    for (int i = 0; i < 60 && got < want; i++) {
        int fd = open_served(s->port);
        if (owner_wait(s, pids, n, fd, 2000) == pid)
            fds[got++] = fd;
        else
            close(fd);
    }
    return got;
}

/* Each cycle: TTIN, two idle kept connections parked on the new worker (slot 2), TTOU (which
 * removes that slot): the two are answered again, by a worker that stays. */
START_TEST(ttin_ttou_cycles_under_strict_load)
{
    struct srv s;
    pid_t two[8], three[8];
    char want[96];
    srv_start(&s, LONG_KEEPALIVE "graceful_timeout = 10s");
    ck_assert_int_eq(worker_pids(s.pid, two, 8), 2);
    struct load *l = start_strict_load(&s);
    for (int cycle = 1; cycle <= TT_CYCLES; cycle++) {
        ck_assert_int_eq(kill(s.pid, SIGTTIN), 0);
        wait_log(&s, "TTIN: 3 workers", cycle, 5000);
        ck_assert_msg(worker_pids_wait(s.pid, 3, three, 8, 5000), "cycle %d: no third worker",
                      cycle);
        pid_t added = 0;
        for (int i = 0; i < 3; i++)
            if (!pids_contain(two, 2, three[i]))
                added = three[i];
        ck_assert_int_ne(added, 0);
        snprintf(want, sizeof(want), "(pid %d) ready", (int)added);
        wait_log(&s, want, 1, 5000);
        wait_progress(l, 100, "at three workers");
        int parked[2];
        ck_assert_msg(conns_on(&s, three, 3, added, parked, 2) == 2,
                      "cycle %d: 60 connections, fewer than 2 on the added worker %d", cycle,
                      (int)added);

        ck_assert_int_eq(kill(s.pid, SIGTTOU), 0);
        wait_log(&s, "TTOU: 2 workers", cycle, 5000);
        /* Gone and reaped by the master (a TTIN before that would find the slot draining). */
        snprintf(want, sizeof(want), "(pid %d, generation 1) exited", (int)added);
        wait_log(&s, want, 1, 10000);
        for (int k = 0; k < 2; k++) {
            kept_get_open(parked[k], "connection parked on the removed worker", 2);
            pid_t owner = owner_wait(&s, two, 2, parked[k], 2000);
            ck_assert_msg(owner != 0, "cycle %d: no remaining worker holds a parked connection",
                          cycle);
            close(parked[k]);
        }
        wait_progress(l, 100, "back at two workers");
    }
    ck_assert_msg(worker_pids_wait(s.pid, 2, three, 8, 5000), "not back at two workers");
    ck_assert_msg(pids_contain(three, 2, two[0]) && pids_contain(three, 2, two[1]),
                  "the first two workers were replaced");
    char why[160];
    bool held = load_held_by(&s, l, two, 2, why, sizeof(why));
    stop_load_clean(&s, l, "ttin_ttou_cycles");
    ck_assert_msg(held, "after %d TTIN/TTOU cycles: %s", TT_CYCLES, why);
    srv_stop(&s);
}
END_TEST

/* ---- what moves with a connection ---- */

START_TEST(handed_over_connection_keeps_its_count)
{
    struct srv s;
    pid_t old[8], cur[8];
    char what[128];
    srv_start(&s, "max_keepalive_requests = 10\ngraceful_timeout = 10s");
    ck_assert_int_eq(worker_pids(s.pid, old, 8), 2);
    int fd = conn_open(s.port);
    for (int i = 1; i <= 5; i++)
        kept_get_open(fd, "before the reload", i);
    pid_t before = owner_wait(&s, old, 2, fd, 2000);
    ck_assert_msg(before != 0, "no worker of generation 1 holds the connection");

    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    wait_gen_ready(&s, 2, 5000);
    wait_gen_exited(&s, 1, 10000);
    ck_assert_msg(worker_pids_wait(s.pid, 2, cur, 8, 5000), "not two workers after the reload");
    pid_t after = owner_wait(&s, cur, 2, fd, 2000);
    ck_assert_msg(after != 0 && !pids_contain(old, 2, after),
                  "the connection (held by %d before) is held by no worker of generation 2",
                  (int)before);

    for (int i = 6; i <= 10; i++) {
        snprintf(what, sizeof(what), "after the hand-over (from %d to %d)", (int)before,
                 (int)after);
        bool said_close = kept_get(fd, what, i);
        ck_assert_msg(said_close == (i == 10),
                      "request %d of max_keepalive_requests = 10: Connection: close %s", i,
                      said_close ? "too early" : "missing");
    }
    ck_assert_msg(conn_wait_closed(fd, 5000), "not closed after the 10th response");
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(handed_over_connections_keep_per_ip_count)
{
    struct srv s;
    int held[3];
    srv_start(&s, "max_connections_per_ip = 3\ngraceful_timeout = 10s");
    for (int i = 0; i < 3; i++)
        held[i] = open_served(s.port);

    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    wait_gen_ready(&s, 2, 5000);
    wait_gen_exited(&s, 1, 10000);
    for (int i = 0; i < 3; i++)
        kept_get_open(held[i], "a counted connection after the hand-over", 2);

    /* Still three from 127.0.0.1: a fourth is refused. */
    int fd = conn_open(s.port);
    conn_send_tolerant(fd, GET, strlen(GET));
    http_expect_final(fd, 503, 5000,
                      "4th connection after the hand-over (max_connections_per_ip 3)");
    close(fd);

    /* One of the three closed: a new one is served once the server has seen the close. */
    close(held[0]);
    http_wait_served(s.port, GET, 5000, "a new connection after one of the three closed");
    close(held[1]);
    close(held[2]);
    srv_stop(&s);
}
END_TEST

/* In request_during_handover_is_answered, every fifth connection pipelines two requests in one
 * write: the second is already read (or in the socket) when the first is answered. */
static int
requests_on(int conn)
{
    return conn % 5 == 0 ? 2 : 1;
}

static void
send_requests(int fd, int conn)
{
    char both[2 * sizeof(GET)];
    snprintf(both, sizeof(both), "%s%s", GET, requests_on(conn) == 2 ? GET : "");
    conn_sendstr(fd, both);
}

/* Requests sent at once after the HUP, and at once after the old generation was told to go
 * (some pipelined two at a time): each is answered on its connection, without
 * Connection: close, and so is one more on each once the old generation has exited. */
START_TEST(request_during_handover_is_answered)
{
    struct srv s;
    struct http_resp r;
    int fds[IDLE_CONNS];
    char what[128];
    srv_start(&s, LONG_KEEPALIVE "graceful_timeout = 10s");
    for (int i = 0; i < IDLE_CONNS; i++)
        fds[i] = open_served(s.port);

    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    for (int i = 0; i < IDLE_CONNS / 2; i++)
        send_requests(fds[i], i);
    wait_gen_ready(&s, 2, 5000); /* the master has just told generation 1 to go */
    for (int i = IDLE_CONNS / 2; i < IDLE_CONNS; i++)
        send_requests(fds[i], i);
    for (int i = 0; i < IDLE_CONNS; i++) {
        for (int k = 0; k < requests_on(i); k++) {
            snprintf(what, sizeof(what), "connection %d, request %d of %d sent %s", i, k + 1,
                     requests_on(i),
                     i < IDLE_CONNS / 2 ? "after the HUP" : "as generation 2 got ready");
            int rc = http_try_read(fds[i], &r, 0);
            ck_assert_msg(rc == 0, "%s: %s", what, r.err);
            ck_assert_msg(r.status == 200, "%s: status %d", what, r.status);
            ck_assert_msg(!http_says_close(&r), "%s: Connection: close", what);
            http_assert_body(&r, SRV_INDEX_HTML, what);
            http_resp_free(&r);
        }
    }
    wait_gen_exited(&s, 1, 10000);
    for (int i = 0; i < IDLE_CONNS; i++) {
        snprintf(what, sizeof(what), "connection %d, after generation 1 exited", i);
        kept_get_open(fds[i], what, 3);
        close(fds[i]);
    }
    srv_stop(&s);
}
END_TEST

/* A download in flight when its worker retires (16 MB, a 4 KiB receive buffer, read only after
 * the reload): it completes, and the next requests on that connection are answered without
 * Connection: close, in the end by a worker of the new generation. */
START_TEST(busy_connection_handed_over_after_its_response)
{
    enum { BIG = 16 << 20 };
    struct srv s;
    struct http_resp r;
    pid_t old[8], cur[8];
    srv_start(&s, LONG_KEEPALIVE "graceful_timeout = 10s");
    char *data = malloc(BIG);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', BIG);
    srv_write_file(&s, "big.bin", data, BIG);
    ck_assert_int_eq(worker_pids(s.pid, old, 8), 2);

    int fd = conn_open_rcvbuf(s.port, 4096);
    conn_sendstr(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_msg(http_try_read_head(fd, &r) == 0, "download: %s", r.err);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(!http_says_close(&r), "the download says Connection: close before any reload");
    ck_assert_msg(owner_wait(&s, old, 2, fd, 2000) != 0, "no worker holds the download");

    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    wait_gen_ready(&s, 2, 5000); /* generation 1 is retiring, the download still in flight */
    ck_assert_msg(http_try_read_body(fd, &r, 0) == 0, "download after the reload: %s", r.err);
    ck_assert_msg(r.body_len == BIG && memcmp(r.body, data, BIG) == 0,
                  "the download differs from the file (%zu bytes)", r.body_len);
    http_resp_free(&r);
    free(data);
    kept_get_open(fd, "the download's connection, as its worker retires", 2);

    wait_gen_exited(&s, 1, 10000);
    ck_assert_msg(worker_pids_wait(s.pid, 2, cur, 8, 5000), "not two workers after the reload");
    pid_t owner = owner_wait(&s, cur, 2, fd, 2000);
    ck_assert_msg(owner != 0 && !pids_contain(old, 2, owner),
                  "the download's connection is held by no worker of generation 2");
    kept_get_open(fd, "the download's connection, after generation 1 exited", 3);
    close(fd);
    srv_stop(&s);
}
END_TEST

/* ---- no hand-over: a graceful stop ---- */

START_TEST(graceful_stop_closes_idle_after_grace)
{
    struct srv s;
    pid_t pids[8];
    srv_start(&s, "idle_close_grace = 1s\ngraceful_timeout = 30s");
    int n = worker_pids(s.pid, pids, 8);
    int asks = open_served(s.port), silent = open_served(s.port);

    int64_t quit_ms = now_ms();
    ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);
    /* Both workers are stopping (each logs it as it begins). */
    wait_log(&s, "connections in flight", n, 5000);
    int64_t asked_ms = now_ms();
    ck_assert_msg(asked_ms - quit_ms < 900, "the workers took %lld ms to begin the stop",
                  (long long)(asked_ms - quit_ms));
    conn_sendstr(asks, GET);
    http_expect_final(asks, 200, 5000, "a request on an idle connection just after QUIT");
    close(asks);

    ck_assert_msg(conn_wait_closed(silent, 10000),
                  "a silent connection still open 10 s after QUIT (idle_close_grace = 1s)");
    int64_t closed_after = now_ms() - quit_ms;
    ck_assert_msg(closed_after >= 900,
                  "a silent connection closed %lld ms after QUIT, inside idle_close_grace = 1s",
                  (long long)closed_after);
    fprintf(stderr, "graceful_stop: silent connection closed %lld ms after QUIT\n",
            (long long)closed_after);
    close(silent);

    int st = srv_wait_exit(&s, 10000);
    ck_assert_msg(st != -1, "master still running 10 s after its connections closed");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "master after QUIT: status 0x%x", st);
    for (int i = 0; i < n; i++)
        ck_assert_msg(pid_wait_gone(pids[i], 5000), "worker %d outlived the master", (int)pids[i]);
    srv_finish(&s);
}
END_TEST

/* `sluice -t`: line 3 of the file is what is checked. */
static int
config_test_line3(const struct srv *s, const char *line3, char *out, char *err)
{
    char text[2048];
    snprintf(text, sizeof(text), "listen = 127.0.0.1:0\nroot = %s\n%s\n", s->root, line3);
    write_file(s->cfg, text, strlen(text));
    const char *args[] = {"-c", s->cfg, "-t", NULL};
    return run_cmd_io(args, out, OUT_MAX, err, OUT_MAX, 20000);
}

START_TEST(bad_idle_close_grace_is_refused)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], head[SRV_PATH_MAX + 16], tail[SRV_PATH_MAX + 64];
    srv_init(&s);
    int rc = config_test_line3(&s, "idle_close_grace = 1s", out, err);
    ck_assert_msg(rc == 0, "idle_close_grace = 1s: -t exit %d; stderr:\n%s", rc, err);

    rc = config_test_line3(&s, "idle_close_grace = banana", out, err);
    snprintf(head, sizeof(head), "sluice: %s:3: ", s.cfg);
    snprintf(tail, sizeof(tail), "\nsluice: configuration file %s test failed\n", s.cfg);
    char *nl = strchr(err, '\n');
    ck_assert_msg(rc == 1 && out[0] == '\0',
                  "idle_close_grace = banana: exit %d, want 1; stderr:\n%s", rc, err);
    ck_assert_msg(strncmp(err, head, strlen(head)) == 0 && nl != NULL && strcmp(nl, tail) == 0,
                  "idle_close_grace = banana: want one error line at %s:3, then the verdict; "
                  "stderr:\n%s",
                  s.cfg, err);
    ck_assert_msg(strstr(err, "idle_close_grace") != NULL && strstr(err, "banana") != NULL &&
                      strstr(err, "unknown key") == NULL,
                  "idle_close_grace = banana: the error does not name the key and value: %s", err);
    srv_finish(&s);
}
END_TEST

/* Receivers at max_connections: after a reload to max_connections = 10 the two new workers
 * can take 20 of 30 idle connections. The other 10 stay with their worker, are tried again for
 * idle_close_grace, then fall back: each is answered once more, with Connection: close, and
 * closes; none is dropped, and the failed hand-overs are logged. */
#define FULL_CFG LONG_KEEPALIVE "idle_close_grace = 2s\ngraceful_timeout = 10s\n"
START_TEST(full_receivers_fall_back_to_close)
{
    struct srv s;
    int fds[30], closed = 0;
    srv_start(&s, FULL_CFG);
    for (int i = 0; i < 30; i++)
        fds[i] = open_served(s.port);
    srv_write_config(&s, FULL_CFG "max_connections = 10\n");
    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    wait_gen_ready(&s, 2, 5000);
    wait_log(&s, "no serving worker could take them", 1, 5000);
    for (int i = 0; i < 30; i++) {
        if (!kept_get(fds[i], "after the fall-back", 2))
            continue;
        closed++;
        ck_assert_msg(conn_wait_closed(fds[i], 2000),
                      "connection %d said Connection: close but stayed open", i);
    }
    ck_assert_msg(closed == 10, "%d connections fell back to Connection: close, want 10", closed);
    for (int i = 0; i < 30; i++)
        close(fds[i]);
    wait_gen_exited(&s, 1, 10000);
    srv_assert_serves(&s, 3, "after the fall-back");
    srv_stop(&s);
}
END_TEST

Suite *
integ_handover_suite(void)
{
    Suite *s = suite_create("integ_handover");
    TCase *tc = tcase_create("load");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reloads_under_strict_load);
    tcase_add_test(tc, max_requests_storm_under_strict_load);
    tcase_add_test(tc, ttin_ttou_cycles_under_strict_load);
    suite_add_tcase(s, tc);

    tc = tcase_create("connections");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, handed_over_connection_keeps_its_count);
    tcase_add_test(tc, handed_over_connections_keep_per_ip_count);
    tcase_add_test(tc, request_during_handover_is_answered);
    tcase_add_test(tc, busy_connection_handed_over_after_its_response);
    tcase_add_test(tc, full_receivers_fall_back_to_close);
    suite_add_tcase(s, tc);

    tc = tcase_create("no_handover");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, graceful_stop_closes_idle_after_grace);
    tcase_add_test(tc, bad_idle_close_grace_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
