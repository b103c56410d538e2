/* Integration tests of the HTTP/1.1 engine's limits (issue 4): request line, header section and
 * field count, max_keepalive_requests, keep-alive and pipelining, half-close, and the
 * connection limits (max_connections, max_connections_per_ip, running out of descriptors). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* A valid request behind a rejected one: it must never be answered. */
#define SMUGGLED "GET /smuggled.txt HTTP/1.1\r\nHost: t\r\n\r\n"

static void
send_tolerant_str(int fd, const char *s)
{
    conn_send_tolerant(fd, s, strlen(s));
}

/* Send `req` (len bytes) on a fresh connection and expect `want`; for 200 the index body. */
static void
probe(int port, const char *req, size_t len, int want, const char *what)
{
    int fd = conn_open(port);
    conn_send_tolerant(fd, req, len);
    if (want == 200) {
        struct http_resp r;
        int rc = http_try_read(fd, &r, 0);
        ck_assert_msg(rc == 0, "%s: %s", what, r.err);
        ck_assert_msg(r.status == 200, "%s: status %d, want 200", what, r.status);
        http_assert_body(&r, SRV_INDEX_HTML, what);
        http_resp_free(&r);
    } else {
        http_expect_final(fd, want, 5000, what);
    }
    close(fd);
}

/* "GET /index.html?aaaa... HTTP/1.1" whose request line (without CRLF) is `line_len` bytes,
 * then Host, `extra` and the smuggled request. malloc'd; *len set. */
static char *
long_target_request(size_t line_len, const char *extra, size_t *len)
{
    const char *pre = "GET /index.html?", *post = " HTTP/1.1";
    size_t fixed = strlen(pre) + strlen(post);
    ck_assert(line_len > fixed);
    size_t cap = line_len + strlen(extra) + 256;
    char *req = malloc(cap);
    ck_assert_ptr_nonnull(req);
    size_t used = (size_t)snprintf(req, cap, "%s", pre);
    memset(req + used, 'a', line_len - fixed);
    used += line_len - fixed;
    used +=
        (size_t)snprintf(req + used, cap - used, "%s\r\nHost: t\r\n%s\r\n" SMUGGLED, post, extra);
    *len = used;
    return req;
}

/* A request whose header section (request line through the final CRLF CRLF) is about `size`
 * bytes, made of `n` X-Pad fields after Host. */
static char *
padded_request(int n, size_t size, size_t *len)
{
    const char *line = "GET /index.html HTTP/1.1\r\nHost: t\r\n";
    size_t base = strlen(line) + 2;
    size_t per = n > 0 ? (size > base ? (size - base) / (size_t)n : 0) : 0;
    ck_assert(n == 0 || per > 16);
    size_t cap = size + 512 + sizeof(SMUGGLED);
    char *req = malloc(cap);
    ck_assert_ptr_nonnull(req);
    size_t used = (size_t)snprintf(req, cap, "%s", line);
    for (int i = 0; i < n; i++) {
        int k = snprintf(req + used, cap - used, "X-Pad-%03d: ", i);
        used += (size_t)k;
        memset(req + used, 'p', per - (size_t)k - 2);
        used += per - (size_t)k - 2;
        memcpy(req + used, "\r\n", 2);
        used += 2;
    }
    used += (size_t)snprintf(req + used, cap - used, "\r\n" SMUGGLED);
    *len = used;
    return req;
}

static void
start(struct srv *s, const char *cfg)
{
    srv_start(s, cfg);
    srv_write_file(s, "smuggled.txt", "SMUGGLED\n", 9);
}

/* ---- request line, header section, header count ---- */

START_TEST(request_line_limit)
{
    struct srv s;
    size_t len;
    start(&s, NULL);

    /* A 7.9 KB target is served under the default 8k. */
    char *req = long_target_request(7950, "", &len);
    probe(s.port, req, len, 200, "request line of 7950 bytes (default max_request_line 8k)");
    free(req);
    req = long_target_request(9000, "", &len);
    probe(s.port, req, len, 414, "request line of 9000 bytes (default max_request_line 8k)");
    free(req);
    req = long_target_request(60000, "", &len);
    probe(s.port, req, len, 414, "request line of 60000 bytes");
    free(req);
    srv_stop(&s);

    start(&s, "max_request_line = 1k\nmax_header_size = 2k");
    req = long_target_request(1000, "", &len);
    probe(s.port, req, len, 200, "request line of 1000 bytes (max_request_line 1k)");
    free(req);
    req = long_target_request(1100, "", &len);
    probe(s.port, req, len, 414, "request line of 1100 bytes (max_request_line 1k)");
    free(req);
    srv_stop(&s);
}
END_TEST

START_TEST(header_section_limit)
{
    struct srv s;
    size_t len;
    start(&s, NULL);

    char *req = padded_request(12, 12000, &len);
    probe(s.port, req, len, 200, "12 KB header section (default max_header_size 16k)");
    free(req);
    req = padded_request(20, 20000, &len);
    probe(s.port, req, len, 431, "20 KB header section (default max_header_size 16k)");
    free(req);
    req = padded_request(60, 100000, &len); /* past http-parser's own 80 KB cap */
    probe(s.port, req, len, 431, "100 KB header section");
    free(req);
    srv_stop(&s);

    start(&s, "max_header_size = 2k\nmax_request_line = 1k");
    req = padded_request(3, 1500, &len);
    probe(s.port, req, len, 200, "1.5 KB header section (max_header_size 2k)");
    free(req);
    req = padded_request(3, 2500, &len);
    probe(s.port, req, len, 431, "2.5 KB header section (max_header_size 2k)");
    free(req);
    srv_stop(&s);
}
END_TEST

START_TEST(header_count_limit)
{
    struct srv s;
    size_t len;
    start(&s, "max_headers = 10");

    char *req = padded_request(9, 9 * 40 + 40, &len); /* Host + 9 = 10 fields */
    probe(s.port, req, len, 200, "10 header fields (max_headers 10)");
    free(req);
    req = padded_request(10, 10 * 40 + 40, &len); /* Host + 10 = 11 fields */
    probe(s.port, req, len, 431, "11 header fields (max_headers 10)");
    free(req);
    srv_stop(&s);
}
END_TEST

START_TEST(keepalive_requests_limit)
{
    struct srv s;
    struct http_resp r;
    start(&s, "max_keepalive_requests = 3");

    int fd = conn_open(s.port);
    for (int i = 1; i <= 3; i++) {
        conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        int rc = http_try_read(fd, &r, 0);
        ck_assert_msg(rc == 0, "request %d: %s", i, r.err);
        ck_assert_msg(r.status == 200, "request %d: status %d", i, r.status);
        if (i < 3)
            ck_assert_msg(!http_says_close(&r), "request %d of 3: Connection: close too early", i);
        else
            ck_assert_msg(http_says_close(&r), "request 3 of max_keepalive_requests 3: no "
                                               "Connection: close");
        http_resp_free(&r);
    }
    ck_assert_msg(conn_wait_closed(fd, 5000), "not closed after max_keepalive_requests");
    close(fd);
    srv_stop(&s);
}
END_TEST

/* ---- keep-alive and pipelining ---- */

START_TEST(persistence_rules)
{
    struct srv s;
    struct http_resp r;
    start(&s, NULL);

    srv_write_file(&s, "1.txt", "one\n", 4);
    /* HTTP/1.1: persistent without asking, each answer the file asked for. */
    int fd = conn_open(s.port);
    for (int i = 0; i < 6; i++) {
        conn_sendstr(fd, i % 2 ? "GET /1.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                               : "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        http_read_response(fd, &r, 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_msg(!http_says_close(&r), "HTTP/1.1 request %d: Connection: close", i);
        http_assert_body(&r, i % 2 ? "one\n" : SRV_INDEX_HTML, "HTTP/1.1 keep-alive");
        http_resp_free(&r);
    }
    close(fd);

    /* HTTP/1.1 with Connection: close: said so, and closed. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, SRV_INDEX_HTML, "Connection: close");
    http_assert_header(&r, "Connection", "close");
    http_resp_free(&r);
    ck_assert_msg(conn_wait_closed(fd, 5000), "Connection: close left open");
    close(fd);

    /* HTTP/1.0: closed after the response. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.0\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, SRV_INDEX_HTML, "HTTP/1.0");
    http_resp_free(&r);
    ck_assert_msg(conn_wait_closed(fd, 5000), "HTTP/1.0 without keep-alive left open");
    close(fd);

    /* HTTP/1.0 with Connection: keep-alive: said so in the response, and kept open. */
    fd = conn_open(s.port);
    for (int i = 0; i < 2; i++) {
        conn_sendstr(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        http_read_response(fd, &r, 0);
        ck_assert_int_eq(r.status, 200);
        const char *c = http_header(&r, "Connection");
        ck_assert_msg(c != NULL && strcasecmp(c, "keep-alive") == 0,
                      "HTTP/1.0 keep-alive request %d: Connection: %s", i, c ? c : "(none)");
        http_assert_body(&r, SRV_INDEX_HTML, "HTTP/1.0 keep-alive");
        http_resp_free(&r);
    }
    /* The next one without keep-alive: answered, then closed. */
    conn_sendstr(fd, "GET /1.txt HTTP/1.0\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "one\n", "HTTP/1.0 after keep-alive ones");
    http_resp_free(&r);
    ck_assert_msg(conn_wait_closed(fd, 5000), "HTTP/1.0 without keep-alive left open");
    close(fd);
    srv_stop(&s);
}
END_TEST

static void
write_numbered(const struct srv *s, int n)
{
    for (int i = 0; i < n; i++) {
        char name[32], body[32];
        snprintf(name, sizeof(name), "f%d.txt", i);
        int len = snprintf(body, sizeof(body), "file %d\n", i);
        srv_write_file(s, name, body, (size_t)len);
    }
}

/* `count` pipelined requests for f0..f9 in turn, padded to make each ~`pad` bytes longer,
 * sent in one write; then every response checked in order. */
static void
pipeline(int port, int count, int pad)
{
    size_t cap = (size_t)count * (size_t)(pad + 96);
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        used += (size_t)snprintf(buf + used, cap - used, "GET /f%d.txt HTTP/1.1\r\nHost: t\r\n",
                                 i % 10);
        if (pad > 0) {
            used += (size_t)snprintf(buf + used, cap - used, "X-Pad: ");
            memset(buf + used, 'q', (size_t)pad);
            used += (size_t)pad;
            used += (size_t)snprintf(buf + used, cap - used, "\r\n");
        }
        used += (size_t)snprintf(buf + used, cap - used, "\r\n");
    }
    int fd = conn_open(port);
    conn_send(fd, buf, used);
    free(buf);
    for (int i = 0; i < count; i++) {
        struct http_resp r;
        char want[32], what[64];
        snprintf(want, sizeof(want), "file %d\n", i % 10);
        snprintf(what, sizeof(what), "pipelined response %d of %d", i + 1, count);
        int rc = http_try_read(fd, &r, 0);
        ck_assert_msg(rc == 0, "%s: %s", what, r.err);
        ck_assert_msg(r.status == 200, "%s: status %d", what, r.status);
        http_assert_body(&r, want, what);
        http_resp_free(&r);
    }
    close(fd);
}

START_TEST(pipelining_in_order)
{
    struct srv s;
    start(&s, NULL);
    write_numbered(&s, 10);
    pipeline(s.port, 10, 0);
    /* 300 requests of ~100 bytes: far more than the 16 KB buffer; none rejected. */
    pipeline(s.port, 300, 60);

    /* Mixed: a HEAD and a 404 in the middle keep their places and framing. */
    struct http_resp r;
    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /f1.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                     "HEAD /f2.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /missing.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /f3.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "file 1\n", "pipelined GET before a HEAD");
    http_resp_free(&r);
    http_read_response(fd, &r, HTTP_NO_BODY);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Content-Length", "7");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 404);
    http_resp_free(&r);
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "file 3\n", "pipelined GET after a HEAD and a 404");
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

/* A client that half-closes after its request still gets the whole response. */
START_TEST(half_close_gets_whole_body)
{
    struct srv s;
    struct http_resp r;
    start(&s, NULL);
    const size_t size = 2 << 20;
    unsigned char *big = malloc(size);
    ck_assert_ptr_nonnull(big);
    uint32_t x = 88172645u;
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big[i] = (unsigned char)x;
    }
    srv_write_file(&s, "big.bin", big, size);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(r.body_len == size && memcmp(r.body, big, size) == 0,
                  "half-closed client: got %zu bytes (want %zu) or different bytes", r.body_len,
                  size);
    http_resp_free(&r);
    close(fd);
    free(big);
    srv_stop(&s);
}
END_TEST

/* ---- connection limits ---- */

static int
open_served(int port)
{
    struct http_resp r;
    int fd = conn_open(port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    int rc = http_try_read(fd, &r, 0);
    ck_assert_msg(rc == 0, "keep-alive connection: %s", r.err);
    ck_assert_msg(r.status == 200, "keep-alive connection: status %d", r.status);
    http_resp_free(&r);
    return fd;
}

START_TEST(max_connections_per_worker)
{
    struct srv s;
    struct http_resp r;
    start(&s, "workers = 1\nmax_connections = 3");

    int held[3];
    for (int i = 0; i < 3; i++)
        held[i] = open_served(s.port);
    int fd = conn_open(s.port); /* waits in the kernel backlog */
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_msg(poll(&pfd, 1, 500) == 0,
                  "4th connection got bytes within 500 ms over max_connections = 3");
    close(held[1]);
    int rc = http_try_read(fd, &r, 0);
    ck_assert_msg(rc == 0, "4th connection after one closed: %s", r.err);
    ck_assert_msg(r.status == 200, "4th connection: status %d", r.status);
    http_assert_body(&r, SRV_INDEX_HTML, "4th connection");
    http_resp_free(&r);
    close(fd);
    close(held[0]);
    close(held[2]);
    srv_stop(&s);
}
END_TEST

START_TEST(max_connections_per_ip)
{
    struct srv s;
    start(&s, "workers = 2\nmax_connections_per_ip = 2");

    int a = open_served(s.port), b = open_served(s.port);
    int fd = conn_open(s.port);
    send_tolerant_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    http_expect_final(fd, 503, 5000, "3rd connection from 127.0.0.1 (max_connections_per_ip 2)");
    close(fd);

    /* Once one of the two is gone a new connection is served (the count drops as soon as the
     * server sees the close: poll for it, bounded). */
    close(a);
    http_wait_served(s.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 5000,
                     "a new connection after one of the two closed");
    close(b);
    srv_stop(&s);
}
END_TEST

/* worker_memory_limit: once the worker's buffers reach it, the worker stops accepting (the
 * kernel backlog holds new connections) instead of growing; below it again, it accepts. */
START_TEST(worker_memory_limit_pauses_accept)
{
    struct srv s;
    struct http_resp r;
    start(&s, "workers = 1\nworker_memory_limit = 8k");

    int d = open_served(s.port);
    /* A holds a read buffer with half a header section, more than 8k of buffers by itself. */
    int a = conn_open(s.port);
    conn_sendstr(a, "GET / HTTP/1.1\r\n");
    /* Two round trips on D: by the time the second answer is back the worker has read A's
     * bytes (they were queued first) and checked its budget. */
    for (int i = 0; i < 2; i++) {
        conn_sendstr(d, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        http_read_response(d, &r, 0);
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
    }
    int b = conn_open(s.port); /* waits in the backlog */
    conn_sendstr(b, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    struct pollfd pfd = {.fd = b, .events = POLLIN};
    ck_assert_msg(poll(&pfd, 1, 500) == 0,
                  "new connection answered while a partial request holds buffers over "
                  "worker_memory_limit = 8k");

    conn_sendstr(a, "Host: t\r\n\r\n"); /* A completes and gives its buffer back */
    http_read_response(a, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    int rc = http_try_read(b, &r, 0);
    ck_assert_msg(rc == 0, "held connection after the buffers were released: %s", r.err);
    ck_assert_msg(r.status == 200, "held connection: status %d", r.status);
    http_resp_free(&r);
    close(a);
    close(b);
    close(d);
    srv_stop(&s);
}
END_TEST

/* ---- running out of descriptors ---- */

#define EMFILE_CONNS 100

START_TEST(emfile_does_not_spin)
{
    struct srv s;
    struct http_resp r;
    srv_init(&s);
    srv_write_config(&s, "workers = 1\nmax_connections = 1000");
    srv_spawn(&s);
    pid_t w[4];
    ck_assert_int_eq(worker_pids(s.pid, w, 4), 1);
    pid_t worker = w[0];
    /* Start refuses a budget that cannot hold max_connections (as -t does), so the worker's
     * descriptors are cut afterwards: it runs out part way, as under a real descriptor leak or
     * a lowered limit. */
    struct rlimit low = {64, 64};
    ck_assert_msg(prlimit(worker, RLIMIT_NOFILE, &low, NULL) == 0, "prlimit: %s", strerror(errno));

    /* 100 connections, each with a request: the worker runs out of descriptors part way. */
    int fds[EMFILE_CONNS];
    for (int i = 0; i < EMFILE_CONNS; i++) {
        fds[i] = conn_open(s.port);
        send_tolerant_str(fds[i], "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    /* Wait (bounded) until the worker has answered what it could: the answered set has stopped
     * growing for 300 ms, or 1 s has passed since the first answer. */
    int answered = 0;
    int64_t first = 0, changed = now_ms();
    int64_t deadline = now_ms() + 5000;
    while (now_ms() < deadline) {
        struct pollfd pfd[EMFILE_CONNS];
        for (int i = 0; i < EMFILE_CONNS; i++)
            pfd[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        poll(pfd, EMFILE_CONNS, 50);
        int n = 0;
        for (int i = 0; i < EMFILE_CONNS; i++)
            n += (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
        if (n != answered) {
            answered = n;
            changed = now_ms();
            if (first == 0)
                first = changed;
        }
        if (answered > 0 && (now_ms() - changed >= 300 || now_ms() - first >= 1000))
            break;
    }
    ck_assert_msg(answered > 0, "none of %d connections answered within 5 s", EMFILE_CONNS);

    /* While the descriptors stay exhausted the worker must not spin on accept. */
    long long t0 = proc_cpu_ticks(worker);
    int64_t w0 = now_ms();
    sleep_ms(2000); /* the measurement window */
    long long t1 = proc_cpu_ticks(worker);
    int64_t wall = now_ms() - w0;
    double cpu = (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK);
    ck_assert_msg(cpu < 0.5, "worker used %.2f s of CPU in %lld ms with descriptors exhausted", cpu,
                  (long long)wall);
    ck_assert_msg(pid_alive(worker), "worker died while out of descriptors");

    /* The test is only meaningful if descriptors did run out: 64 cannot hold 100 connections,
     * so not all got a 200 (unanswered, or refused), or the worker logged EMFILE. */
    int ok200 = 0;
    for (int i = 0; i < EMFILE_CONNS; i++) {
        char peek[13] = {0};
        if (recv(fds[i], peek, 12, MSG_PEEK | MSG_DONTWAIT) == 12 &&
            strcmp(peek, "HTTP/1.1 200") == 0)
            ok200++;
    }
    ck_assert_msg(ok200 < EMFILE_CONNS || log_count(&s, "Too many open files") > 0,
                  "all %d connections got 200 under RLIMIT_NOFILE 64: descriptors never ran out",
                  EMFILE_CONNS);

    for (int i = 0; i < EMFILE_CONNS; i++)
        close(fds[i]);
    /* Descriptors free again: a new request is served (accepting resumes after a short pause). */
    deadline = now_ms() + 8000;
    for (;;) {
        int fd = conn_open(s.port);
        send_tolerant_str(fd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        int rc = http_try_read(fd, &r, 0);
        close(fd);
        int st = rc == 0 ? r.status : -1;
        http_resp_free(&r);
        if (st == 200)
            break;
        ck_assert_msg(now_ms() < deadline, "no 200 within 8 s after freeing descriptors (%s)",
                      rc == 0 ? "non-200 status" : r.err);
        sleep_ms(100);
    }
    srv_stop(&s);
}
END_TEST

/* Every new key with an explicit value loads and the server serves. */
START_TEST(new_keys_accepted)
{
    struct srv s;
    struct http_resp r;
    start(&s, "max_request_line = 4k\nmax_header_size = 8k\nmax_headers = 50\n"
              "max_body_size = 2m\nmax_keepalive_requests = 100\nbody_timeout = 30s\n"
              "send_min_rate = 0\nsend_min_rate_period = 30s\nmax_connections_per_ip = 100\n"
              "worker_memory_limit = 64m\n");
    ck_assert_int_eq(http_simple(s.port, "GET", "/", &r), 200);
    http_assert_body(&r, SRV_INDEX_HTML, "GET / with every new key set");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

Suite *
integ_limits_suite(void)
{
    Suite *s = suite_create("integ_limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, request_line_limit);
    tcase_add_test(tc, header_section_limit);
    tcase_add_test(tc, header_count_limit);
    tcase_add_test(tc, keepalive_requests_limit);
    tcase_add_test(tc, persistence_rules);
    tcase_add_test(tc, pipelining_in_order);
    tcase_add_test(tc, half_close_gets_whole_body);
    tcase_add_test(tc, max_connections_per_worker);
    tcase_add_test(tc, max_connections_per_ip);
    tcase_add_test(tc, worker_memory_limit_pauses_accept);
    tcase_add_test(tc, emfile_does_not_spin);
    tcase_add_test(tc, new_keys_accepted);
    suite_add_tcase(s, tc);
    return s;
}
