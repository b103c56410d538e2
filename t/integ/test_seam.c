/* Integration tests of the request/response seam (worker/req.h, worker/route.h) through the
 * test build sluice-t, whose /_t/ handlers (t/app/) answer later from timers, stream, hang,
 * borrow memory, and count what they see (/_t/stats). This suite: answers and streams (also
 * to HEAD and HTTP/1.0), order on a pipelined connection, cancels (client gone, request_timeout,
 * send_timeout, stop), the log phase once per request, the response-header limit, borrowed
 * bodies and files, and routing on the decoded path. Request bodies are in test_seam_body.c. One
 * worker, so every request meets the same counters; every wait is a bounded poll of /_t/stats or of
 * the socket. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "test_seam.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000

/* Send `req` on a new connection and wait until the test app holds it (`gauge` reaches
 * `want`). */
static int
send_held(const struct srv *s, const char *req, const char *gauge, long long want)
{
    int fd = conn_open(s->port);
    conn_sendstr(fd, req);
    stat_expect(s->port, gauge, want, WAIT_MS, req);
    return fd;
}

/* req.h: produce runs "later", when what was written has gone out; never from inside the
 * handler's own req_stream_write, whose return value it has not seen yet. */
static void
expect_not_reentered(const struct srv *s)
{
    long long n = stat_now(s->port, "later_reentered");
    ck_assert_msg(n == 0,
                  "produce was called %lld times from inside req_stream_write (called from a "
                  "timer), before the handler learnt how much that write took",
                  n);
}

/* A response to /_t/later: head 200 with X-Test and chunked framing, then the body. */
static void
read_later(int fd, struct chunked *c, const char *what)
{
    struct http_resp r;
    expect_head(fd, &r, 200, what);
    http_assert_header(&r, "X-Test", "later");
    http_assert_header(&r, "Transfer-Encoding", "chunked");
    ck_assert_msg(http_header(&r, "Content-Length") == NULL, "%s: Content-Length with chunked",
                  what);
    ck_assert_msg(read_chunked(fd, c) == 0, "%s: %s", what, c->err);
}

/* An answer from a timer, as a stream: chunked framing checked byte by byte, the pattern
 * checked byte by byte, the trailer; tick mode (writes from a timer, then a wake); an empty
 * stream; a large one that fills the socket; all on one kept-alive connection. */
START_TEST(later_stream_chunked)
{
    struct srv s;
    struct chunked c;
    char want[64];
    seam_start(&s, NULL);
    int fd = conn_open(s.port);

    int64_t t0 = now_ms();
    conn_sendstr(fd,
                 "GET /_t/later?ms=150&chunks=5&size=1000&trailer=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    read_later(fd, &c, "later, 5 chunks");
    ck_assert_msg(now_ms() - t0 >= 140, "answered after %lld ms, before its 150 ms timer",
                  (long long)(now_ms() - t0));
    expect_pattern("later, 5 chunks", c.body, c.len, 0, 5000);
    snprintf(want, sizeof(want), "X-Sum: %u\r\n", app_sum(APP_SUM_INIT, c.body, c.len));
    ck_assert_msg(strcmp(c.trailers, want) == 0, "trailers '%s', want '%s'", c.trailers, want);
    chunked_free(&c);

    conn_sendstr(fd, "GET /_t/later?chunks=4&size=3000&tick=20 HTTP/1.1\r\nHost: a\r\n\r\n");
    read_later(fd, &c, "later, tick mode");
    expect_pattern("later, tick mode", c.body, c.len, 0, 12000);
    ck_assert_msg(c.trailers[0] == '\0', "trailers '%s' without trailer=1", c.trailers);
    chunked_free(&c);

    conn_sendstr(fd, "GET /_t/later?chunks=64&size=16384 HTTP/1.1\r\nHost: a\r\n\r\n");
    read_later(fd, &c, "later, 1 MB");
    expect_pattern("later, 1 MB", c.body, c.len, 0, 64 * 16384);
    chunked_free(&c);

    conn_sendstr(fd, "GET /_t/later?chunks=0 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    read_later(fd, &c, "later, empty");
    ck_assert_msg(c.len == 0 && c.nchunks == 0, "empty stream: %zu bytes in %d chunks", c.len,
                  c.nchunks);
    chunked_free(&c);
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "bytes or no close after the last response");
    close(fd);

    stat_expect(s.port, "later_end", 4, WAIT_MS, "streams ended");
    expect_not_reentered(&s);
    ck_assert_int_eq(stat_now(s.port, "later_fail"), 0);
    ck_assert_int_eq(stat_now(s.port, "cancel_later"), 0);
    srv_stop(&s);
}
END_TEST

/* HTTP/1.0 has no chunked coding: the stream is close-delimited, without Content-Length or
 * Transfer-Encoding, and the trailer is dropped. */
START_TEST(later_http10_close_delimited)
{
    struct srv s;
    struct http_resp r;
    seam_start(&s, NULL);
    static const char *const reqs[] = {
        "GET /_t/later?ms=50&chunks=3&size=700&trailer=1 HTTP/1.0\r\n\r\n",
        "GET /_t/later?chunks=3&size=700&trailer=1&tick=10 HTTP/1.0\r\n"
        "Connection: keep-alive\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        int fd = conn_open(s.port);
        conn_sendstr(fd, reqs[i]);
        /* The client reads until close, and fails on a Transfer-Encoding. */
        int rc = http_try_read(fd, &r, 0);
        ck_assert_msg(rc == 0, "%s: %s", reqs[i], r.err);
        ck_assert_int_eq(r.status, 200);
        http_assert_header(&r, "X-Test", "later");
        ck_assert_msg(http_header(&r, "Content-Length") == NULL, "Content-Length on a stream");
        expect_pattern(reqs[i], r.body, r.body_len, 0, 2100);
        http_resp_free(&r);
        close(fd);
    }
    stat_expect(s.port, "later_end", 2, WAIT_MS, "HTTP/1.0 streams ended");
    expect_not_reentered(&s);
    srv_stop(&s);
}
END_TEST

/* Pipelined requests in one write, the first answered last by its handler: the responses go
 * out in request order. */
START_TEST(pipelined_in_order)
{
    struct srv s;
    struct chunked c;
    struct http_resp r;
    seam_start(&s, NULL);
    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /_t/later?ms=200&chunks=1&size=300 HTTP/1.1\r\nHost: a\r\n\r\n"
                     "GET /_t/later?ms=10&chunks=1&size=100 HTTP/1.1\r\nHost: a\r\n\r\n"
                     "GET /_t/now?body=third HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    read_later(fd, &c, "first (200 ms)");
    expect_pattern("first (200 ms)", c.body, c.len, 0, 300);
    chunked_free(&c);
    read_later(fd, &c, "second (10 ms)");
    expect_pattern("second (10 ms)", c.body, c.len, 0, 100);
    chunked_free(&c);
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "X-Test", "now");
    http_assert_body(&r, "third", "third");
    http_resp_free(&r);
    /* The log phase of the third: its place on the connection, and its times in order. */
    struct seam_stats st;
    stats_read(s.port, &st);
    ck_assert_msg(stats_val(&st, "last_seq") == 3 && stats_val(&st, "last_reused") == 1 &&
                      stats_val(&st, "last_dispatched") == 1 &&
                      stats_val(&st, "last_times_ok") == 1 &&
                      strstr(st.text, "\nlast_route=t_now\n"),
                  "log phase of the third pipelined request; stats:\n%s", st.text);
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "not closed after Connection: close");
    close(fd);
    srv_stop(&s);
}
END_TEST

/* A client that leaves while its request is pending: closed, half-closed, or during the delay
 * of /_t/later. The cancel callback runs once, the log phase says client gone once. */
START_TEST(cancel_when_client_leaves)
{
    struct srv s;
    struct seam_stats b;
    seam_start(&s, NULL);
    stats_read(s.port, &b);
    long long gone = stats_val(&b, "log_client_gone"), total = stats_val(&b, "log_total");

    int fd = send_held(&s, "GET /_t/hang HTTP/1.1\r\nHost: a\r\n\r\n", "hang_pending", 1);
    close(fd);
    stat_expect(s.port, "cancel_hang", 1, WAIT_MS, "close during /_t/hang");
    stat_expect(s.port, "log_client_gone", gone + 1, WAIT_MS, "close during /_t/hang");
    ck_assert_int_eq(stat_now(s.port, "hang_pending"), 0);

    fd = send_held(&s, "GET /_t/hang HTTP/1.1\r\nHost: a\r\n\r\n", "hang_pending", 1);
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    stat_expect(s.port, "cancel_hang", 2, WAIT_MS, "half-close during /_t/hang");
    stat_expect(s.port, "log_client_gone", gone + 2, WAIT_MS, "half-close during /_t/hang");
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "half-closed: not closed, or bytes sent");
    close(fd);

    fd = send_held(&s, "GET /_t/later?ms=60000 HTTP/1.1\r\nHost: a\r\n\r\n", "later_waiting", 1);
    close(fd);
    stat_expect(s.port, "cancel_later", 1, WAIT_MS, "close during /_t/later's delay");
    stat_expect(s.port, "log_client_gone", gone + 3, WAIT_MS, "close during /_t/later's delay");
    ck_assert_int_eq(stat_now(s.port, "later_waiting"), 0);

    /* A stream whose handler has nothing to write for a while: the server waits for it, and
     * still sees the client go. */
    struct http_resp r;
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET /_t/later?chunks=100&size=10&tick=1000 HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_head(fd, &r, 200, "slow stream");
    close(fd);
    stat_expect(s.port, "cancel_later", 2, WAIT_MS, "close during an idle stream");
    stat_expect(s.port, "log_client_gone", gone + 4, WAIT_MS, "close during an idle stream");

    ck_assert_int_eq(stat_now(s.port, "log_total"), total + 4);
    ck_assert_int_eq(stat_now(s.port, "cancels"), 4);
    srv_stop(&s);
}
END_TEST

/* request_timeout ends a request its handler holds too long: 504, a line in the error log,
 * the cancel callback once, the log phase once as a timeout. */
START_TEST(request_timeout_answers_504)
{
    struct srv s;
    struct http_resp r;
    seam_start(&s, "request_timeout = 1s\n");
    int fd = conn_open(s.port);
    int64_t t0 = now_ms();
    conn_sendstr(fd, "GET /_t/hang HTTP/1.1\r\nHost: a\r\n\r\n");
    int rc = http_try_read(fd, &r, 0);
    int64_t took = now_ms() - t0;
    ck_assert_msg(rc == 0, "/_t/hang with request_timeout = 1s: %s", r.err);
    ck_assert_int_eq(r.status, 504);
    ck_assert_msg(took >= 900 && took < 5000, "504 after %lld ms, request_timeout 1 s",
                  (long long)took);
    http_resp_free(&r);
    close(fd);

    stat_expect(s.port, "cancel_hang", 1, WAIT_MS, "request_timeout");
    stat_expect(s.port, "log_timeout", 1, WAIT_MS, "request_timeout");
    ck_assert_int_eq(stat_now(s.port, "log_status_504"), 1);
    ck_assert_int_eq(stat_now(s.port, "hang_pending"), 0);
    ck_assert_msg(log_wait(&s, "request_timeout", 1, WAIT_MS) &&
                      log_line_with(&s, "worker", "request_timeout", NULL, NULL, 0),
                  "no worker line about request_timeout in the error log");

    /* An answer begun in time is not touched by it, nor a stream that lasts longer. */
    struct chunked c;
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET /_t/later?ms=300&chunks=6&size=10&tick=300 HTTP/1.1\r\nHost: a\r\n\r\n");
    read_later(fd, &c, "later, 300 ms then 1.8 s of stream");
    expect_pattern("later within request_timeout", c.body, c.len, 0, 60);
    chunked_free(&c);
    close(fd);
    ck_assert_int_eq(stat_now(s.port, "cancel_later"), 0);
    expect_not_reentered(&s);

    /* A handler whose own timer is later than request_timeout: 504 first, and the cancel
     * disarms the timer, so the handler never answers a request that is gone. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET /_t/later?ms=2500 HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_head(fd, &r, 504, "/_t/later?ms=2500 with request_timeout = 1s");
    close(fd);
    stat_expect(s.port, "cancel_later", 1, WAIT_MS, "/_t/later past request_timeout");
    ck_assert_int_eq(stat_now(s.port, "later_waiting"), 0);
    ck_assert_int_eq(stat_now(s.port, "later_fail"), 0);
    ck_assert_int_eq(stat_now(s.port, "log_status_504"), 2);
    srv_stop(&s);
}
END_TEST

/* send_timeout ends a stream whose client stopped reading: the handler's cancel runs and the
 * log phase says timeout. */
START_TEST(send_timeout_ends_stream)
{
    struct srv s;
    struct http_resp r;
    seam_start(&s, "send_timeout = 1s\n");
    int fd = conn_open_rcvbuf(s.port, 4096);
    conn_sendstr(fd, "GET /_t/later?chunks=100000&size=16384 HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_head(fd, &r, 200, "stream to a reader that stops");
    stat_expect(s.port, "cancel_later", 1, 10000, "stream past send_timeout");
    stat_expect(s.port, "log_timeout", 1, WAIT_MS, "stream past send_timeout");
    ck_assert_int_eq(stat_now(s.port, "log_total"), 1);
    ck_assert_int_eq(stat_now(s.port, "later_end"), 0);
    close(fd);
    srv_stop(&s);
}
END_TEST

/* Many held requests whose clients all leave: one cancel and one log entry each. */
START_TEST(many_cancels)
{
    enum { N = 100 };
    struct srv s;
    seam_start(&s, NULL);
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = conn_open(s.port);
        conn_sendstr(fds[i], i % 2 ? "GET /_t/hang HTTP/1.1\r\nHost: a\r\n\r\n"
                                   : "GET /_t/later?ms=60000 HTTP/1.1\r\nHost: a\r\n\r\n");
    }
    stat_expect(s.port, "hang_pending", N / 2, WAIT_MS, "held /_t/hang");
    stat_expect(s.port, "later_waiting", N / 2, WAIT_MS, "held /_t/later");
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            conn_reset(fds[i]);
        else
            close(fds[i]);
    }
    stat_expect(s.port, "cancels", N, WAIT_MS, "all clients gone");
    stat_expect(s.port, "log_client_gone", N, WAIT_MS, "all clients gone");
    ck_assert_int_eq(stat_now(s.port, "log_total"), N);
    ck_assert_int_eq(stat_now(s.port, "hang_pending"), 0);
    ck_assert_int_eq(stat_now(s.port, "later_waiting"), 0);
    srv_stop(&s);
}
END_TEST

/* req.h: a request ends when request_timeout passes before the handler's finishing call. A
 * streaming handler that paused the body and never answers is such a handler: 504, its
 * cancel runs, and the connection closes (the rest of the body is never read). */
START_TEST(request_timeout_paused_upload)
{
    struct srv s;
    seam_start(&s, "request_timeout = 1s\n");
    int fd = conn_open(s.port);
    conn_sendstr(fd,
                 "POST /_t/upload?stall=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n");
    char part[4096];
    memset(part, 'u', sizeof(part));
    conn_send(fd, part, sizeof(part));
    http_expect_final(fd, 504, WAIT_MS, "stalled upload past request_timeout");
    close(fd);
    stat_expect(s.port, "cancel_upload", 1, WAIT_MS, "stalled upload past request_timeout");
    ck_assert_int_eq(stat_now(s.port, "upload_stalled"), 0);
    srv_stop(&s);
}
END_TEST

/* The log phase runs exactly once per request, whatever its end: complete, client gone while
 * pending and while a stream is going out, timeout (504 from request_timeout, 408 from
 * header_timeout for a partial request), and a malformed request (400). */
START_TEST(log_phase_once_per_ending)
{
    struct srv s;
    struct seam_stats b, a;
    struct http_resp r;
    seam_start(&s, "request_timeout = 1s\nheader_timeout = 1s\n");
    stats_read(s.port, &b);
#define BEFORE(key) stats_val(&b, key)

    ck_assert_int_eq(http_fetch(s.port, "GET", "/_t/now", NULL, &r), 200);
    http_resp_free(&r);
    stat_expect(s.port, "log_complete", BEFORE("log_complete") + 1, WAIT_MS, "complete");

    int fd = send_held(&s, "GET /_t/hang HTTP/1.1\r\nHost: a\r\n\r\n", "hang_pending", 1);
    close(fd);
    stat_expect(s.port, "log_client_gone", BEFORE("log_client_gone") + 1, WAIT_MS,
                "client gone while pending");

    fd = conn_open_rcvbuf(s.port, 4096);
    conn_sendstr(fd, "GET /_t/later?chunks=100000&size=16384 HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_head(fd, &r, 200, "long stream");
    char some[1000];
    ck_assert_int_gt(recv(fd, some, sizeof(some), 0), 0);
    conn_reset(fd);
    stat_expect(s.port, "log_client_gone", BEFORE("log_client_gone") + 2, WAIT_MS,
                "client gone mid-stream");
    stat_expect(s.port, "cancel_later", 1, WAIT_MS, "client gone mid-stream");

    fd = conn_open(s.port);
    conn_sendstr(fd, "GET /_t/hang HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_head(fd, &r, 504, "request_timeout");
    close(fd);
    stat_expect(s.port, "log_timeout", BEFORE("log_timeout") + 1, WAIT_MS, "504");

    fd = conn_open(s.port);
    conn_sendstr(fd, "GET /_t/now HTTP/1.1\r\nHost: a\r\n");
    expect_head(fd, &r, 408, "header_timeout");
    close(fd);
    stat_expect(s.port, "log_timeout", BEFORE("log_timeout") + 2, WAIT_MS, "408");

    fd = conn_open(s.port);
    conn_sendstr(fd, "GET /_t/now HTTP/1.1\r\nHost a\r\n\r\n");
    expect_head(fd, &r, 400, "malformed request");
    close(fd);
    stat_expect(s.port, "log_status_400", BEFORE("log_status_400") + 1, WAIT_MS, "400");

    stats_read(s.port, &a);
    const char *const keys[] = {"log_total",      "log_complete",   "log_client_gone",
                                "log_timeout",    "log_error",      "log_status_200",
                                "log_status_504", "log_status_408", "log_status_400"};
    /* The 400's response went out whole: complete by req.h's words; ERROR is accepted too. */
    long long err400 = stats_val(&a, "log_error") - BEFORE("log_error");
    const long long want[] = {6, 2 - err400, 2, 2, err400, 2, 1, 1, 1};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        ck_assert_msg(stats_val(&a, keys[i]) - BEFORE(keys[i]) == want[i],
                      "%s went from %lld to %lld, want +%lld; stats:\n%s", keys[i], BEFORE(keys[i]),
                      stats_val(&a, keys[i]), want[i], a.text);
    ck_assert_msg(err400 == 0 || err400 == 1, "log_error +%lld", err400);
#undef BEFORE
    srv_stop(&s);
}
END_TEST

/* max_response_header: a handler's fields within it go out; past it req_header_add says
 * ENOSPC, the response becomes a 500 and the error log says why. */
START_TEST(response_header_limit)
{
    struct srv s;
    struct http_resp r;
    char want[128];
    seam_start(&s, "max_request_line = 1k\nmax_response_header = 4k\n");

    ck_assert_int_eq(http_fetch(s.port, "GET", "/_t/headers?n=4&size=100", NULL, &r), 200);
    memset(want, 'v', 100);
    want[100] = '\0';
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof(name), "X-H%d", i);
        http_assert_header(&r, name, want);
    }
    http_assert_body(&r, "added=4 errno=0 fail_at=-1\n", "under the limit");
    http_resp_free(&r);
    ck_assert_int_eq(log_count(&s, "max_response_header"), 0);

    ck_assert_int_eq(http_fetch(s.port, "GET", "/_t/headers?n=20&size=1000", NULL, &r), 500);
    ck_assert_msg(http_header(&r, "X-H0") == NULL, "the 500 carries the handler's fields");
    http_resp_free(&r);
    ck_assert_int_eq(stat_now(s.port, "headers_errno"), ENOSPC);
    long long at = stat_now(s.port, "headers_fail_at");
    ck_assert_msg(at >= 2 && at <= 4, "first failure at field %lld of 1000 bytes, limit 4k", at);
    ck_assert_msg(log_wait(&s, "max_response_header", 1, WAIT_MS),
                  "no error-log line naming max_response_header");
    ck_assert_int_eq(stat_now(s.port, "log_status_500"), 1);

    /* The worker goes on answering, under the limit again. */
    ck_assert_int_eq(http_fetch(s.port, "GET", "/_t/headers?n=1&size=10", NULL, &r), 200);
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

/* req_send_mem: the done callback runs exactly once, when the body went out, for HEAD, and
 * when the client leaves in the middle of it. */
START_TEST(mem_done_once)
{
    struct srv s;
    struct http_resp r;
    seam_start(&s, NULL);

    ck_assert_int_eq(http_fetch(s.port, "GET", "/_t/mem?size=100000", NULL, &r), 200);
    expect_pattern("/_t/mem", r.body, r.body_len, 0, 100000);
    http_resp_free(&r);
    stat_expect(s.port, "mem_done", 1, WAIT_MS, "sent whole");

    ck_assert_int_eq(http_fetch(s.port, "HEAD", "/_t/mem?size=5000", NULL, &r), 200);
    http_assert_header(&r, "Content-Length", "5000");
    http_resp_free(&r);
    stat_expect(s.port, "mem_done", 2, WAIT_MS, "HEAD");

    long long gone = stat_now(s.port, "log_client_gone");
    int fd = conn_open_rcvbuf(s.port, 4096);
    conn_sendstr(fd, "GET /_t/mem?size=16777216 HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_head(fd, &r, 200, "16 MB from memory");
    char some[1000];
    ck_assert_int_gt(recv(fd, some, sizeof(some), 0), 0);
    conn_reset(fd);
    stat_expect(s.port, "mem_done", 3, WAIT_MS, "client gone mid-body");
    stat_expect(s.port, "log_client_gone", gone + 1, WAIT_MS, "client gone mid-body");
    srv_stop(&s);
}
END_TEST

/* Routes match the percent-decoded, normalised path; methods outside a handler's verbs get
 * 405 with its Allow, OPTIONS is answered from it, HEAD has no body; req_send_fd sends the
 * asked range. */
START_TEST(routes_on_decoded_path)
{
    struct srv s;
    struct http_resp r;
    seam_start(&s, NULL);
    static const struct {
        const char *target, *body;
    } hits[] = {
        {"/_t/%6eow?body=decoded", "decoded"},
        {"/x/../_t/now?body=dots", "dots"},
        {"/_t/./now?body=dot", "dot"},
        {"//_t//now?body=empty%20segments", "empty segments"},
    };
    for (size_t i = 0; i < sizeof(hits) / sizeof(hits[0]); i++) {
        ck_assert_msg(http_fetch(s.port, "GET", hits[i].target, NULL, &r) == 200, "%s: %d",
                      hits[i].target, r.status);
        http_assert_header(&r, "X-Test", "now");
        http_assert_body(&r, hits[i].body, hits[i].target);
        http_resp_free(&r);
    }
    /* Exact routes: a longer path is not theirs. */
    ck_assert_int_eq(http_fetch(s.port, "GET", "/_t/now/more", NULL, &r), 404);
    http_resp_free(&r);

    ck_assert_int_eq(http_fetch(s.port, "GET", "/_t/now?status=404&body=nf", NULL, &r), 404);
    http_assert_body(&r, "nf", "status from the handler");
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "HEAD", "/_t/now?body=abc", NULL, &r), 200);
    http_assert_header(&r, "Content-Length", "3");
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "POST", "/_t/now", NULL, &r), 405);
    http_assert_header(&r, "Allow", "GET, HEAD, OPTIONS");
    http_resp_free(&r);
    int st = http_fetch(s.port, "OPTIONS", "/_t/refuse", NULL, &r);
    ck_assert_msg(st == 200 || st == 204, "OPTIONS: %d", st);
    http_assert_header(&r, "Allow", "POST, PUT, OPTIONS");
    http_resp_free(&r);

    ck_assert_int_eq(http_fetch(s.port, "GET", "/_t/fd?off=1000&len=70000", NULL, &r), 200);
    expect_pattern("/_t/fd", r.body, r.body_len, 1000, 70000);
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/_t/fd?off=5&len=0", NULL, &r), 200);
    ck_assert_uint_eq(r.body_len, 0);
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

/* HEAD of a stream: the header alone, the connection still usable, and the handler's stream
 * still runs to its req_stream_end (else the handler's hold on the request never ends). */
START_TEST(head_of_stream)
{
    struct srv s;
    struct http_resp r;
    seam_start(&s, NULL);
    int fd = conn_open(s.port);
    conn_sendstr(fd, "HEAD /_t/later?chunks=3&size=100 HTTP/1.1\r\nHost: a\r\n\r\n"
                     "GET /_t/now?body=after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    expect_head(fd, &r, 200, "HEAD of a stream");
    http_assert_header(&r, "X-Test", "later");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "after", "the request after HEAD of a stream");
    http_resp_free(&r);
    close(fd);
    stat_expect(s.port, "later_end", 1, WAIT_MS, "HEAD of a stream: produce ran to its end");
    srv_stop(&s);
}
END_TEST

/* A file shorter than the range the handler promised: the connection is cut after what the
 * file had, and the log phase says error. */
START_TEST(short_file_ends_in_error)
{
    struct srv s;
    struct http_resp r;
    seam_start(&s, NULL);
    long long errors = stat_now(s.port, "log_error");
    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /_t/fd?len=100000&short=50000 HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_head(fd, &r, 200, "file shorter than its range");
    http_assert_header(&r, "Content-Length", "100000");
    int rc = http_try_read_body(fd, &r, 0);
    ck_assert_msg(rc < 0 && r.body_len <= 50000, "short file: read %zu bytes of 100000 (%s)",
                  r.body_len, rc < 0 ? r.err : "complete");
    expect_pattern("short file", r.body, r.body_len, 0, r.body_len);
    http_resp_free(&r);
    close(fd);
    stat_expect(s.port, "log_error", errors + 1, WAIT_MS, "file shorter than its range");
    ck_assert_int_eq(stat_now(s.port, "last_status"), 200);
    srv_stop(&s);
}
END_TEST

/* A stop while a handler holds a request: the cancel ends it within graceful_timeout, the
 * client's connection closes, and the master exits 0 with a clean log. */
START_TEST(stop_with_request_held)
{
    struct srv s;
    seam_start(&s, NULL);
    int fd = send_held(&s, "GET /_t/hang HTTP/1.1\r\nHost: a\r\n\r\n", "hang_pending", 1);
    int64_t t0 = now_ms();
    srv_stop(&s);
    ck_assert_msg(now_ms() - t0 < 4000, "stop took %lld ms, graceful_timeout 2 s",
                  (long long)(now_ms() - t0));
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "held connection not closed by the stop");
    close(fd);
}
END_TEST

Suite *
integ_seam_suite(void)
{
    Suite *s = suite_create("integ_seam");
    TCase *tc = tcase_create("seam");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, later_stream_chunked);
    tcase_add_test(tc, later_http10_close_delimited);
    tcase_add_test(tc, pipelined_in_order);
    tcase_add_test(tc, cancel_when_client_leaves);
    tcase_add_test(tc, request_timeout_answers_504);
    tcase_add_test(tc, request_timeout_paused_upload);
    tcase_add_test(tc, send_timeout_ends_stream);
    tcase_add_test(tc, many_cancels);
    tcase_add_test(tc, log_phase_once_per_ending);
    tcase_add_test(tc, response_header_limit);
    tcase_add_test(tc, mem_done_once);
    tcase_add_test(tc, routes_on_decoded_path);
    tcase_add_test(tc, head_of_stream);
    tcase_add_test(tc, short_file_ends_in_error);
    tcase_add_test(tc, stop_with_request_held);
    suite_add_tcase(s, tc);
    return s;
}
