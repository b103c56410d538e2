/* Integration tests of strict HTTP/1.1 parsing (issue 4): request lines, header fields, Host,
 * framing and smuggling probes, versions, methods, targets and request bodies. Every probe goes
 * over a raw socket to the real binary; a rejected request must get exactly one response, and
 * where the stream can no longer be trusted the connection must then end: a valid request
 * smuggled behind the bad one must never be answered. */
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
#include <sys/socket.h>
#include <unistd.h>

/* A valid request appended to every probe that must end the connection: after the error
 * response the next read must be EOF, never a response to this one. */
#define SMUGGLED "GET /smuggled.txt HTTP/1.1\r\nHost: t\r\n\r\n"

struct probe {
    const char *what;
    const char *data;
    size_t len;
};

#define PROBE(what, lit)                                                                           \
    {                                                                                              \
        what, lit, sizeof(lit) - 1                                                                 \
    }

/* Each probe on a fresh connection: `want` + close, nothing after it. */
static void
run_probes(int port, const struct probe *p, size_t n, int want)
{
    for (size_t i = 0; i < n; i++) {
        int fd = conn_open(port);
        conn_send_tolerant(fd, p[i].data, p[i].len);
        http_expect_final(fd, want, 5000, p[i].what);
        close(fd);
    }
}

/* One request on its own connection (the request should carry Connection: close); the status. */
static int
one_request(int port, const char *req, struct http_resp *r, int flags)
{
    int fd = conn_open(port);
    conn_sendstr(fd, req);
    int rc = http_try_read(fd, r, flags);
    close(fd);
    ck_assert_msg(rc == 0, "request '%.60s...': %s", req, r->err);
    return r->status;
}

/* Is `token` one of the comma-separated entries of the Allow header? */
static bool
allow_has(const struct http_resp *r, const char *token)
{
    const char *v = http_header(r, "Allow");
    size_t tl = strlen(token);
    for (const char *p = v; p != NULL && *p != '\0';) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == tl && strncmp(p, token, tl) == 0)
            return true;
        p += n;
    }
    return false;
}

static void
start(struct srv *s, const char *cfg)
{
    srv_start(s, cfg);
    srv_write_file(s, "smuggled.txt", "SMUGGLED\n", 9);
    srv_write_file(s, "b.txt", "bee\n", 4);
}

/* ---- request line ---- */

START_TEST(request_line_malformed)
{
    struct srv s;
    start(&s, NULL);
    static const struct probe p[] = {
        PROBE("two spaces after the method", "GET  / HTTP/1.1\r\nHost: t\r\n\r\n" SMUGGLED),
        PROBE("no version", "GET /\r\nHost: t\r\n\r\n" SMUGGLED),
        PROBE("junk bytes", "\x01\x02\x7f\xfe\xff junk\r\n\r\n" SMUGGLED),
        PROBE("four words", "GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n" SMUGGLED),
        PROBE("bad protocol name", "GET / HTTX/1.1\r\nHost: t\r\n\r\n" SMUGGLED),
        PROBE("NUL in the target", "GET /a\0b HTTP/1.1\r\nHost: t\r\n\r\n" SMUGGLED),
        PROBE("TLS ClientHello", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" SMUGGLED),
    };
    run_probes(s.port, p, sizeof(p) / sizeof(p[0]), 400);
    srv_stop(&s);
}
END_TEST

/* ---- header fields ---- */

START_TEST(header_fields_malformed)
{
    struct srv s;
    start(&s, NULL);
    static const struct probe p[] = {
        PROBE("header without colon", "GET / HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n" SMUGGLED),
        PROBE("space before colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n" SMUGGLED),
        PROBE("space before colon (other field)",
              "GET / HTTP/1.1\r\nHost: t\r\nX-A : 1\r\n\r\n" SMUGGLED),
        PROBE("obs-fold (SP)", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n" SMUGGLED),
        PROBE("obs-fold (HTAB)", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\n\r\n" SMUGGLED),
        PROBE("bare CR in a value", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n" SMUGGLED),
        PROBE("bare CR ending a line", "GET / HTTP/1.1\r\nHost: t\rX-A: b\r\n\r\n" SMUGGLED),
        PROBE("NUL in a value", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n" SMUGGLED),
        PROBE("NUL in a name", "GET / HTTP/1.1\r\nHost: t\r\nX\0A: b\r\n\r\n" SMUGGLED),
        PROBE("'(' in a name", "GET / HTTP/1.1\r\nHo(st: t\r\nHost: t\r\n\r\n" SMUGGLED),
        PROBE("space inside a name", "GET / HTTP/1.1\r\nHost: t\r\nX Y: z\r\n\r\n" SMUGGLED),
        PROBE("empty name", "GET / HTTP/1.1\r\nHost: t\r\n: z\r\n\r\n" SMUGGLED),
    };
    run_probes(s.port, p, sizeof(p) / sizeof(p[0]), 400);
    srv_stop(&s);
}
END_TEST

/* ---- Host ---- */

START_TEST(host_rules)
{
    struct srv s;
    struct http_resp r;
    start(&s, NULL);
    static const struct probe p[] = {
        PROBE("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n" SMUGGLED),
        PROBE("two Host fields (same value)",
              "GET / HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n" SMUGGLED),
        PROBE("two Host fields (different)",
              "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n" SMUGGLED),
        PROBE("Host 'a b'", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n" SMUGGLED),
        PROBE("Host 'a:b:c'", "GET / HTTP/1.1\r\nHost: a:b:c\r\n\r\n" SMUGGLED),
        PROBE("Host '[::1'", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n" SMUGGLED),
        PROBE("Host 'a:80x'", "GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n" SMUGGLED),
        PROBE("Host with userinfo 'u@a'", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n" SMUGGLED),
    };
    run_probes(s.port, p, sizeof(p) / sizeof(p[0]), 400);

    /* Valid forms are served. */
    static const char *const good[] = {
        "GET / HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: example.test:8080\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n", /* HTTP/1.0 needs no Host */
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int st = one_request(s.port, good[i], &r, 0);
        ck_assert_msg(st == 200, "'%.50s': status %d, want 200", good[i], st);
        http_assert_body(&r, SRV_INDEX_HTML, good[i]);
        http_resp_free(&r);
    }
    srv_stop(&s);
}
END_TEST

/* ---- framing: Content-Length / Transfer-Encoding / chunks ---- */

START_TEST(framing_rejected)
{
    struct srv s;
    start(&s, NULL);
    static const struct probe bad[] = {
        PROBE("Content-Length and Transfer-Encoding",
              "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
              "\r\n0\r\n\r\n" SMUGGLED),
        PROBE("Transfer-Encoding and Content-Length (GET)",
              "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"
              "\r\n0\r\n\r\n" SMUGGLED),
        PROBE("Transfer-Encoding: gzip (final coding not chunked)",
              "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n" SMUGGLED),
        PROBE("Transfer-Encoding: chunked, gzip",
              "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" SMUGGLED),
        PROBE("differing Content-Length fields",
              "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        PROBE("differing Content-Length list",
              "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1, 2\r\n\r\nab"),
        PROBE("non-numeric Content-Length",
              "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n" SMUGGLED),
        PROBE("bad chunk size",
              "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"
              "0\r\n\r\n" SMUGGLED),
        PROBE("negative chunk size",
              "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n"
              "0\r\n\r\n" SMUGGLED),
        PROBE("chunk data longer than its size",
              "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n"
              "0\r\n\r\n" SMUGGLED),
    };
    run_probes(s.port, bad, sizeof(bad) / sizeof(bad[0]), 400);

    static const struct probe unknown[] = {
        PROBE("Transfer-Encoding: foo, chunked",
              "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n"
              "0\r\n\r\n" SMUGGLED),
    };
    run_probes(s.port, unknown, 1, 501);
    srv_stop(&s);
}
END_TEST

/* One chunk whose extension is ~20 KB: 400, not a buffer that grows with the extension. */
START_TEST(chunk_extension_abuse)
{
    struct srv s;
    start(&s, NULL);
    const size_t ext = 20000;
    const char *head = "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=";
    const char *tail = "\r\nhello\r\n0\r\n\r\n" SMUGGLED;
    size_t hl = strlen(head), tl = strlen(tail);
    char *req = malloc(hl + ext + tl);
    ck_assert_ptr_nonnull(req);
    memcpy(req, head, hl);
    memset(req + hl, 'a', ext);
    memcpy(req + hl + ext, tail, tl);
    struct probe p = {"20 KB chunk extension", req, hl + ext + tl};
    run_probes(s.port, &p, 1, 400);
    free(req);
    srv_stop(&s);
}
END_TEST

/* ---- versions ---- */

START_TEST(versions)
{
    struct srv s;
    struct http_resp r;
    start(&s, NULL);

    static const struct probe v2[] = {
        PROBE("HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n"),
    };
    for (size_t i = 0; i < sizeof(v2) / sizeof(v2[0]); i++) {
        int fd = conn_open(s.port);
        conn_send_tolerant(fd, v2[i].data, v2[i].len);
        int rc = http_try_read(fd, &r, 0);
        ck_assert_msg(rc == 0, "%s: %s", v2[i].what, r.err);
        ck_assert_msg(r.status == 505, "%s: status %d, want 505", v2[i].what, r.status);
        http_resp_free(&r);
        close(fd);
    }

    /* HTTP/1.2 is served as 1.1: answered HTTP/1.1, persistent by default. */
    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.2\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_msg(r.status == 200, "HTTP/1.2: status %d, want 200", r.status);
    ck_assert_str_eq(r.version, "HTTP/1.1");
    http_assert_body(&r, SRV_INDEX_HTML, "HTTP/1.2");
    ck_assert_msg(!http_says_close(&r), "HTTP/1.2 not persistent by default");
    http_resp_free(&r);
    conn_sendstr(fd, "GET /b.txt HTTP/1.2\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "bee\n", "second HTTP/1.2 request");
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

/* ---- methods ---- */

START_TEST(methods_unknown)
{
    struct srv s;
    start(&s, NULL);
    static const struct probe p[] = {
        PROBE("lower-case 'get'", "get / HTTP/1.1\r\nHost: t\r\n\r\n" SMUGGLED),
        PROBE("unknown method FOO", "FOO / HTTP/1.1\r\nHost: t\r\n\r\n" SMUGGLED),
        PROBE("mixed-case 'Get'", "Get / HTTP/1.1\r\nHost: t\r\n\r\n" SMUGGLED),
    };
    run_probes(s.port, p, sizeof(p) / sizeof(p[0]), 501);
    srv_stop(&s);
}
END_TEST

START_TEST(options_and_asterisk)
{
    struct srv s;
    struct http_resp r;
    start(&s, NULL);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "OPTIONS /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_msg(r.status == 200, "OPTIONS /index.html: status %d", r.status);
    ck_assert_msg(allow_has(&r, "GET") && allow_has(&r, "HEAD") && allow_has(&r, "OPTIONS"),
                  "OPTIONS /index.html: Allow '%s'",
                  http_header(&r, "Allow") ? http_header(&r, "Allow") : "(none)");
    const char *cl = http_header(&r, "Content-Length");
    ck_assert_msg(cl != NULL && strcmp(cl, "0") == 0, "OPTIONS: Content-Length %s, want 0",
                  cl ? cl : "(none)");
    http_resp_free(&r);
    /* Still in step: no stray body bytes. */
    conn_sendstr(fd, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_msg(r.status == 200, "OPTIONS *: status %d", r.status);
    ck_assert_msg(http_header(&r, "Allow") != NULL, "OPTIONS *: no Allow header");
    http_resp_free(&r);
    conn_sendstr(fd, "GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "bee\n", "GET after OPTIONS");
    http_resp_free(&r);
    close(fd);

    static const struct probe p[] = {
        PROBE("GET *", "GET * HTTP/1.1\r\nHost: t\r\n\r\n" SMUGGLED),
    };
    run_probes(s.port, p, 1, 400);
    srv_stop(&s);
}
END_TEST

/* ---- targets ---- */

START_TEST(targets)
{
    struct srv s;
    struct http_resp r;
    start(&s, NULL);

    int st = one_request(s.port,
                         "GET http://example.test/index.html HTTP/1.1\r\nHost: other\r\n"
                         "Connection: close\r\n\r\n",
                         &r, 0);
    ck_assert_msg(st == 200, "absolute-form: status %d, want 200", st);
    http_assert_body(&r, SRV_INDEX_HTML, "absolute-form");
    http_resp_free(&r);

    st = one_request(s.port, "GET /%69ndex.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                     &r, 0);
    ck_assert_msg(st == 200, "/%%69ndex.html: status %d, want 200", st);
    http_assert_body(&r, SRV_INDEX_HTML, "/%69ndex.html");
    http_resp_free(&r);

    const char *bad[] = {"/%zz", "/a%00b", "/%0", "/%g1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char req[256];
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                 bad[i]);
        st = one_request(s.port, req, &r, 0);
        ck_assert_msg(st == 400, "GET %s: status %d, want 400", bad[i], st);
        http_resp_free(&r);
    }
    srv_stop(&s);
}
END_TEST

/* A path segment longer than 255 bytes once decoded (a file name has at most 255) is a 400
 * and the connection closes, spelled out or percent-encoded; 255 bytes is an ordinary name. */
START_TEST(target_segment_too_long)
{
    struct srv s;
    struct http_resp r;
    char req[2048], seg[800];
    start(&s, NULL);

    memset(seg, 'a', 256);
    seg[256] = '\0';
    snprintf(req, sizeof(req), "GET /d/%s/x HTTP/1.1\r\nHost: t\r\n\r\n" SMUGGLED, seg);
    int fd = conn_open(s.port);
    conn_sendstr(fd, req);
    http_expect_final(fd, 400, 5000, "a 256-byte segment");
    close(fd);

    for (int i = 0; i < 256; i++)
        memcpy(seg + 3 * i, "%61", 3);
    seg[3 * 256] = '\0';
    snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n" SMUGGLED, seg);
    fd = conn_open(s.port);
    conn_sendstr(fd, req);
    http_expect_final(fd, 400, 5000, "a 256-byte segment, percent-encoded");
    close(fd);

    memset(seg, 'a', 255);
    seg[255] = '\0';
    snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", seg);
    int st = one_request(s.port, req, &r, 0);
    ck_assert_msg(st == 404, "a 255-byte segment: status %d, want 404", st);
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

/* ---- bodies ---- */

/* A body on GET is read and discarded; the next pipelined request is answered in step. */
START_TEST(body_discarded_keeps_sync)
{
    struct srv s;
    struct http_resp r;
    start(&s, NULL);

    const char *reqs[] = {
        "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        "GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: v\r\n\r\n"
        "GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    };
    const char *what[] = {"Content-Length body", "chunked body with a trailer"};
    for (int i = 0; i < 2; i++) {
        int fd = conn_open(s.port);
        conn_sendstr(fd, reqs[i]);
        int rc = http_try_read(fd, &r, 0);
        ck_assert_msg(rc == 0, "%s: first response: %s", what[i], r.err);
        ck_assert_msg(r.status == 200, "%s: first status %d, want 200", what[i], r.status);
        http_assert_body(&r, SRV_INDEX_HTML, what[i]);
        http_resp_free(&r);
        rc = http_try_read(fd, &r, 0);
        ck_assert_msg(rc == 0, "%s: second response: %s", what[i], r.err);
        ck_assert_msg(r.status == 200, "%s: second status %d, want 200", what[i], r.status);
        http_assert_body(&r, "bee\n", what[i]);
        http_resp_free(&r);
        close(fd);
    }
    srv_stop(&s);
}
END_TEST

START_TEST(body_too_large)
{
    struct srv s;
    struct http_resp r;
    start(&s, "max_body_size = 1k");

    /* Exactly the limit is fine. */
    char req[2048];
    int n =
        snprintf(req, sizeof(req),
                 "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n");
    memset(req + n, 'x', 1024);
    int fd = conn_open(s.port);
    conn_send(fd, req, (size_t)n + 1024);
    http_read_response(fd, &r, 0);
    ck_assert_msg(r.status == 200, "Content-Length 1024 (= max_body_size): status %d", r.status);
    http_resp_free(&r);
    close(fd);

    /* Over it: 413 right after the headers, before any body byte is sent. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n");
    http_expect_final(fd, 413, 5000, "Content-Length 2000 over max_body_size 1k (body not sent)");
    close(fd);

    /* Chunked, going over the limit in the second chunk. */
    const char *head = "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    size_t hl = strlen(head);
    char big[4096];
    memcpy(big, head, hl);
    size_t used = hl;
    for (int c = 0; c < 2; c++) {
        used += (size_t)snprintf(big + used, sizeof(big) - used, "300\r\n");
        memset(big + used, 'y', 0x300);
        used += 0x300;
        used += (size_t)snprintf(big + used, sizeof(big) - used, "\r\n");
    }
    used += (size_t)snprintf(big + used, sizeof(big) - used, "0\r\n\r\n" SMUGGLED);
    fd = conn_open(s.port);
    conn_send_tolerant(fd, big, used);
    http_expect_final(fd, 413, 5000, "chunked body of 1536 bytes over max_body_size 1k");
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(expect_continue)
{
    struct srv s;
    struct http_resp r;
    start(&s, "max_body_size = 1k");

    /* Static files do not want a body: a client that waits for 100 Continue gets the answer
     * at once instead (no 100), with Connection: close, since its body stays unread. Sending
     * the body anyway is drained, not answered with a reset. */
    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10\r\n"
                     "\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_msg(r.status == 200, "Expect: 100-continue to a static file: status %d (a 100?)",
                  r.status);
    ck_assert_msg(http_says_close(&r), "answered before its body, without Connection: close");
    http_assert_body(&r, SRV_INDEX_HTML, "answer instead of 100 Continue");
    http_resp_free(&r);
    conn_send_tolerant(fd, "0123456789", 10);
    ck_assert(conn_wait_closed(fd, 5000));
    close(fd);

    /* A body that will not be read: 413 and no 100. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n"
                     "\r\n");
    http_expect_final(fd, 413, 5000, "Expect: 100-continue over max_body_size (first response)");
    close(fd);

    /* Any other expectation: 417. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\nExpect: something-else\r\nConnection: close\r\n"
                     "\r\n");
    int rc = http_try_read(fd, &r, 0);
    ck_assert_msg(rc == 0, "Expect: something-else: %s", r.err);
    ck_assert_msg(r.status == 417, "Expect: something-else: status %d, want 417", r.status);
    http_resp_free(&r);
    close(fd);

    /* HTTP/1.0 has no 100: the expectation is ignored. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc");
    rc = http_try_read(fd, &r, 0);
    ck_assert_msg(rc == 0, "HTTP/1.0 with Expect: %s", r.err);
    ck_assert_msg(r.status == 200, "HTTP/1.0 with Expect: first status %d, want 200", r.status);
    http_assert_body(&r, SRV_INDEX_HTML, "HTTP/1.0 with Expect");
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

Suite *
integ_strict_suite(void)
{
    Suite *s = suite_create("integ_strict");
    TCase *tc = tcase_create("strict");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, request_line_malformed);
    tcase_add_test(tc, header_fields_malformed);
    tcase_add_test(tc, host_rules);
    tcase_add_test(tc, framing_rejected);
    tcase_add_test(tc, chunk_extension_abuse);
    tcase_add_test(tc, versions);
    tcase_add_test(tc, methods_unknown);
    tcase_add_test(tc, options_and_asterisk);
    tcase_add_test(tc, targets);
    tcase_add_test(tc, target_segment_too_long);
    tcase_add_test(tc, body_discarded_keeps_sync);
    tcase_add_test(tc, body_too_large);
    tcase_add_test(tc, expect_continue);
    suite_add_tcase(s, tc);
    return s;
}
