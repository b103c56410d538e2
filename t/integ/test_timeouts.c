/* Integration tests of the HTTP/1.1 engine's timeouts (issue 4): header_timeout against a
 * slowloris client, body_timeout, keepalive_timeout, send_timeout against a reader that stops,
 * and send_min_rate against one that crawls. Timeouts are set to about a second; every wait is
 * bounded with a generous margin, and the only sleeps are the clients' own pacing.
 *
 * Whether the server has closed its end while the client is not reading is seen from
 * /proc/net/tcp: the server-side socket of the connection is then gone, no longer ESTABLISHED,
 * or orphaned (inode 0). A FIN queued behind unread data would not reach the client yet. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG_SIZE (8 << 20)

/* Has the server closed its side of the connection `fd` (our client socket to `port`)? */
static bool
server_side_closed(int port, int fd)
{
    struct sockaddr_in me;
    socklen_t ml = sizeof(me);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
    unsigned client_port = ntohs(me.sin_port);
    FILE *f = fopen("/proc/net/tcp", "r");
    ck_assert_msg(f != NULL, "/proc/net/tcp: %s", strerror(errno));
    char line[512];
    bool found = false, closed = true;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long laddr, raddr, inode;
        unsigned lport, rport, state;
        if (sscanf(line, " %*d: %lx:%x %lx:%x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &laddr, &lport,
                   &raddr, &rport, &state, &inode) != 6)
            continue;
        if (lport != (unsigned)port || rport != client_port)
            continue;
        found = true;
        closed = state != 1 /* TCP_ESTABLISHED */ || inode == 0;
        break;
    }
    fclose(f);
    return !found || closed;
}

/* Read everything left until EOF or reset, for at most timeout_ms; returns the byte count. */
static size_t
drain(int fd, int timeout_ms, bool *ended)
{
    static char buf[65536];
    size_t total = 0;
    int64_t deadline = now_ms() + timeout_ms;
    *ended = false;
    for (;;) {
        int left = (int)(deadline - now_ms());
        if (left <= 0)
            return total;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            *ended = true;
            return total;
        }
        total += (size_t)n;
    }
}

static unsigned char *
write_big(const struct srv *s)
{
    unsigned char *big = malloc(BIG_SIZE);
    ck_assert_ptr_nonnull(big);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < BIG_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big[i] = (unsigned char)x;
    }
    srv_write_file(s, "big.bin", big, BIG_SIZE);
    return big;
}

/* GET /big.bin on a connection with a small receive buffer; returns after the response head. */
static int
open_big_download(int port)
{
    struct http_resp r;
    int fd = conn_open_rcvbuf(port, 4096);
    conn_sendstr(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    int rc = http_try_read_head(fd, &r);
    ck_assert_msg(rc == 0, "GET /big.bin: %s", r.err);
    ck_assert_msg(r.status == 200, "GET /big.bin: status %d", r.status);
    const char *cl = http_header(&r, "Content-Length");
    ck_assert_msg(cl != NULL && atol(cl) == BIG_SIZE, "GET /big.bin: Content-Length %s",
                  cl ? cl : "(none)");
    return fd;
}

/* ---- tests ---- */

/* Slowloris: one header byte every 200 ms. header_timeout covers the whole header section, so
 * the dribble does not keep the connection alive past it. */
START_TEST(header_timeout_not_reset_by_bytes)
{
    struct srv s;
    srv_start(&s, "header_timeout = 1s");

    int fd = conn_open(s.port);
    int64_t t0 = now_ms();
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 200) > 0)
            break;
        ck_assert_msg(now_ms() - t0 < 4000,
                      "dribbling client (1 byte / 200 ms) still open after 4 s, "
                      "header_timeout = 1s");
        conn_send_tolerant(fd, "a", 1);
    }
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 500, "answered after %lld ms, before header_timeout = 1s",
                  (long long)took);
    http_expect_final(fd, 408, 2000, "slowloris");
    ck_assert_msg(now_ms() - t0 < 4000, "slowloris: closed only after %lld ms, header_timeout = 1s",
                  (long long)(now_ms() - t0));
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(body_timeout_stalled_body)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, "body_timeout = 1s");

    /* 2 of 10 body bytes, then silence. */
    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab");
    int64_t t0 = now_ms();
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_msg(poll(&pfd, 1, 4000) > 0, "stalled body: nothing within 4 s, body_timeout = 1s");
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 500, "stalled body answered after %lld ms, before body_timeout = 1s",
                  (long long)took);
    http_expect_final(fd, 408, 2000, "stalled body");
    close(fd);

    /* body_timeout is between reads: a body whose bytes keep coming (gaps of 300 ms) may take
     * longer than body_timeout as a whole. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n");
    for (int i = 0; i < 6; i++) {
        sleep_ms(300);
        conn_send(fd, "x", 1);
    }
    int rc = http_try_read(fd, &r, 0);
    ck_assert_msg(rc == 0, "slow but steady body: %s", r.err);
    ck_assert_msg(r.status == 200, "slow but steady body (1.8 s, gaps 300 ms): status %d",
                  r.status);
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(keepalive_timeout_idle)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, "keepalive_timeout = 1s");

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(!http_says_close(&r));
    http_resp_free(&r);
    int64_t t0 = now_ms();
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_msg(poll(&pfd, 1, 300) == 0, "idle keep-alive connection closed (or sent bytes) "
                                           "within 300 ms, keepalive_timeout = 1s");
    ck_assert_msg(conn_wait_closed(fd, 3700),
                  "idle keep-alive connection not closed within 4 s (or bytes were sent)");
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 500, "idle keep-alive closed after %lld ms, keepalive_timeout = 1s",
                  (long long)took);
    close(fd);
    srv_stop(&s);

    /* keepalive_timeout = 0 disables keep-alive: every response says close, and closes. */
    srv_start(&s, "keepalive_timeout = 0");
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Connection", "close");
    http_resp_free(&r);
    ck_assert_msg(conn_wait_closed(fd, 5000), "keepalive_timeout = 0: connection left open");
    close(fd);
    srv_stop(&s);
}
END_TEST

/* A client that stops reading: no write progress for send_timeout, and the server closes. */
START_TEST(send_timeout_stalled_reader)
{
    struct srv s;
    srv_start(&s, "send_timeout = 1s");
    free(write_big(&s));

    int fd = open_big_download(s.port);
    int64_t t0 = now_ms();
    ck_assert_msg(!server_side_closed(s.port, fd), "server side of the download not found open");
    while (!server_side_closed(s.port, fd)) {
        ck_assert_msg(now_ms() - t0 < 6000,
                      "stalled reader: server still holds the connection after 6 s, "
                      "send_timeout = 1s");
        sleep_ms(50);
    }
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 500, "stalled reader cut off after %lld ms, send_timeout = 1s",
                  (long long)took);
    bool ended;
    size_t got = drain(fd, 10000, &ended);
    ck_assert_msg(ended, "stalled reader: no EOF/reset after the server closed");
    ck_assert_msg(got < BIG_SIZE, "stalled reader still got the whole %d-byte body", BIG_SIZE);
    close(fd);
    srv_stop(&s);
}
END_TEST

/* send_min_rate: a full-speed reader gets the whole file; one reading 100 bytes every 200 ms
 * (500 B/s, under 1k/s) is cut off once it has been sending for a period. */
START_TEST(send_min_rate_slow_reader)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, "send_min_rate = 1k\nsend_min_rate_period = 1s");
    unsigned char *big = write_big(&s);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(r.body_len == BIG_SIZE && memcmp(r.body, big, BIG_SIZE) == 0,
                  "full-speed reader: got %zu bytes (want %d) or different bytes", r.body_len,
                  BIG_SIZE);
    http_resp_free(&r);
    close(fd);
    free(big);

    fd = open_big_download(s.port);
    int64_t t0 = now_ms();
    ck_assert_msg(!server_side_closed(s.port, fd), "server side of the download not found open");
    size_t got = 0;
    char buf[100];
    for (;;) {
        if (server_side_closed(s.port, fd))
            break;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            break;
        if (n > 0)
            got += (size_t)n;
        ck_assert_msg(now_ms() - t0 < 5000, "slow reader (100 B / 200 ms) still served after 5 s, "
                                            "send_min_rate = 1k over 1s");
        sleep_ms(200);
    }
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 500, "slow reader cut off after %lld ms, send_min_rate_period = 1s",
                  (long long)took);
    bool ended;
    got += drain(fd, 10000, &ended);
    ck_assert_msg(ended, "slow reader: no EOF/reset after the server closed");
    ck_assert_msg(got < BIG_SIZE, "slow reader got the whole %d-byte body", BIG_SIZE);
    close(fd);
    srv_stop(&s);
}
END_TEST

Suite *
integ_timeouts_suite(void)
{
    Suite *s = suite_create("integ_timeouts");
    TCase *tc = tcase_create("timeouts");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, header_timeout_not_reset_by_bytes);
    tcase_add_test(tc, body_timeout_stalled_body);
    tcase_add_test(tc, keepalive_timeout_idle);
    tcase_add_test(tc, send_timeout_stalled_reader);
    tcase_add_test(tc, send_min_rate_slow_reader);
    suite_add_tcase(s, tc);
    return s;
}
