/* Integration tests of HTTPS basics: a TLS listener beside a plain one, ALPN, HTTP/1.1 over TLS
 * as over plain TCP (keep-alive, pipelining, ranges), what a TLS port does with plain HTTP,
 * garbage, silence and a cut-off ClientHello, and tls_protocols. A real sluice, a TLS client
 * on OpenSSL (test_tls.h), openssl s_client and curl. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bytes.h"
#include "test_tls.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct tls_opts LOCALHOST = {.sni = "localhost"};

/* ---- helpers ---- */

/* Line n (0 = the first) of the port file into buf. */
static const char *
port_file_line(const struct srv *s, int n, char *buf, size_t len)
{
    char *text = read_file_all(s->port_file, NULL);
    ck_assert_msg(text != NULL, "no port file %s", s->port_file);
    const char *line = text;
    for (int i = 0; i < n && line != NULL; i++) {
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    ck_assert_msg(line != NULL && *line != '\0', "port file has no line %d:\n%s", n + 1, text);
    snprintf(buf, len, "%.*s", (int)strcspn(line, "\n"), line);
    free(text);
    return buf;
}

/* Read what the peer sends until it closes, within max_ms: the milliseconds that took, or -1
 * when it is still open then. Bytes (a TLS alert) are allowed and counted in *bytes. */
static int64_t
wait_close_ms(int fd, int64_t since, int max_ms, size_t *bytes)
{
    char buf[512];
    *bytes = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)(since + max_ms - now_ms());
        int ready = left > 0 ? poll(&pfd, 1, left) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return -1;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
            *bytes += (size_t)n;
        else if (n == 0 || errno == ECONNRESET)
            return now_ms() - since;
        else if (errno != EINTR && errno != EAGAIN)
            return -1;
    }
}

static void
assert_body_eq(const struct http_resp *r, const char *want, const char *what)
{
    ck_assert_msg(r->status == 200, "%s: status %d", what, r->status);
    http_assert_body(r, want, what);
}

/* ---- listeners ---- */

/* The first listener plain, the second TLS: each its own line in the port file (only the TLS
 * one flagged), each serving index.html in its own protocol; the certificate verifies. */
static void
assert_side_by_side(const struct srv *s)
{
    struct http_resp r;
    struct tls_conn c;
    char line[256];
    int tls_port = srv_read_port_line(s, 1);
    ck_assert_msg(tls_port > 0 && tls_port != s->port, "TLS port %d, plain port %d", tls_port,
                  s->port);
    port_file_line(s, 1, line, sizeof(line));
    ck_assert_msg(strstr(line, " tls") != NULL, "port file line 2 '%s' without tls", line);
    port_file_line(s, 0, line, sizeof(line));
    ck_assert_msg(strstr(line, "tls") == NULL, "port file line 1 '%s' says tls", line);

    ck_assert_int_eq(http_fetch(s->port, "GET", "/", NULL, &r), 200);
    assert_body_eq(&r, SRV_INDEX_HTML, "plain GET /");
    http_resp_free(&r);
    tls_fetch(tls_port, NULL, "/", NULL, &r);
    assert_body_eq(&r, SRV_INDEX_HTML, "GET / over TLS");
    http_resp_free(&r);

    tls_connect_ok(tls_port, &LOCALHOST, &c, "handshake");
    ck_assert_msg(c.verified, "certificate does not verify: %s", c.verify_err);
    ck_assert_str_eq(c.subject, "/O=sluice-rsa/CN=localhost");
    ck_assert_str_eq(c.version, "TLSv1.3");
    tls_close(&c);
}

/* A plain listener on a fixed port beside a TLS one on port 0. */
START_TEST(plain_and_tls_side_by_side)
{
    struct srv s;
    char cfg[2048];
    int plain = srv_free_port();
    snprintf(cfg, sizeof(cfg), "listen = 127.0.0.1:%d\nlisten = 127.0.0.1:0 tls\n", plain);
    tls_cert_lines(cfg, sizeof(cfg), "rsa");
    srv_start(&s, cfg);
    ck_assert_int_eq(s.port, plain);
    assert_side_by_side(&s);
    srv_stop(&s);
}
END_TEST

/* Both on port 0 (each line its own free port, as the port file reports them). */
START_TEST(plain_and_tls_both_on_port_0)
{
    struct srv s;
    char cfg[2048] = "listen = 127.0.0.1:0\nlisten = 127.0.0.1:0 tls\n";
    tls_cert_lines(cfg, sizeof(cfg), "rsa");
    srv_start(&s, cfg);
    assert_side_by_side(&s);
    srv_stop(&s);
}
END_TEST

/* ALPN: http/1.1 is chosen from "h2,http/1.1"; a client offering only h2 gets no protocol but
 * completes the handshake and is answered in HTTP/1.1 (our client and s_client). */
START_TEST(alpn_http11_and_h2_only)
{
    struct srv s;
    struct tls_conn c;
    struct http_resp r;
    char out[TLS_OUT_MAX];
    tls_start(&s, "rsa", NULL);
    struct tls_opts o = {.sni = "localhost", .alpn = "h2,http/1.1"};
    tls_connect_ok(s.port, &o, &c, "ALPN h2,http/1.1");
    ck_assert_msg(strcmp(c.alpn, "http/1.1") == 0, "ALPN '%s', want http/1.1", c.alpn);
    tls_close(&c);

    o.alpn = "h2";
    tls_connect_ok(s.port, &o, &c, "ALPN h2 only");
    ck_assert_msg(c.alpn[0] == '\0', "ALPN '%s' negotiated for a client offering only h2", c.alpn);
    tls_close(&c);
    tls_fetch(s.port, &o, "/", NULL, &r);
    assert_body_eq(&r, SRV_INDEX_HTML, "GET / after offering only h2");
    http_resp_free(&r);

    const char *h2[] = {"-servername", "localhost", "-alpn", "h2", NULL};
    int rc = tls_s_client(&s, s.port, TLS_GET_CLOSE, h2, out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "No ALPN negotiated") && strstr(out, "HTTP/1.1 200") &&
                      strstr(out, "hello from the sluice integration suite"),
                  "s_client -alpn h2: exit %d\n%s", rc, out);
    const char *h11[] = {"-servername", "localhost", "-alpn", "http/1.1", NULL};
    rc = tls_s_client(&s, s.port, TLS_GET_CLOSE, h11, out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "ALPN protocol: http/1.1") && strstr(out, "HTTP/1.1 200"),
                  "s_client -alpn http/1.1: exit %d\n%s", rc, out);
    srv_stop(&s);
}
END_TEST

/* ---- HTTP/1.1 over TLS ---- */

/* Three requests one after the other on one TLS connection, then three in one write: answered
 * in order, the last (Connection: close) closing it. */
START_TEST(keepalive_and_pipelining)
{
    static const char a[] = "alpha\n", b[] = "bravo bravo\n";
    struct srv s;
    struct tls_conn c;
    struct http_resp r;
    char what[64];
    tls_start(&s, "rsa", NULL);
    srv_write_file(&s, "a.txt", a, strlen(a));
    srv_write_file(&s, "b.txt", b, strlen(b));
    tls_connect_ok(s.port, &LOCALHOST, &c, "keep-alive");
    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof(what), "request %d on the kept connection", i + 1);
        conn_sendstr(c.fd, "GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
        http_read_response(c.fd, &r, 0);
        assert_body_eq(&r, a, what);
        ck_assert_msg(!http_says_close(&r), "%s says Connection: close", what);
        http_resp_free(&r);
    }
    conn_sendstr(c.fd, "GET /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
                       "GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
                       "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    const char *want[] = {b, a, SRV_INDEX_HTML};
    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof(what), "pipelined response %d", i + 1);
        http_read_response(c.fd, &r, 0);
        assert_body_eq(&r, want[i], what);
        ck_assert_msg(http_says_close(&r) == (i == 2), "%s: Connection: %s", what,
                      http_header(&r, "Connection") ? http_header(&r, "Connection") : "(none)");
        http_resp_free(&r);
    }
    ck_assert_msg(conn_wait_closed(c.fd, 5000), "not closed after Connection: close");
    tls_close(&c);
    srv_stop(&s);
}
END_TEST

/* Ranges over TLS: a single range, a suffix, and two ranges (multipart), byte for byte. */
START_TEST(ranges_over_tls)
{
    enum { LEN = 200000 };
    struct srv s;
    struct http_resp r;
    unsigned char *data = make_data(LEN, 7);
    tls_start(&s, "rsa", NULL);
    srv_write_file(&s, "r.bin", data, LEN);

    ck_assert_int_eq(tls_fetch(s.port, NULL, "/r.bin", "Range: bytes=1000-1999\r\n", &r), 206);
    http_assert_header(&r, "Content-Range", "bytes 1000-1999/200000");
    assert_same_bytes("bytes=1000-1999", r.body, r.body_len, data + 1000, 1000);
    http_resp_free(&r);
    ck_assert_int_eq(tls_fetch(s.port, NULL, "/r.bin", "Range: bytes=-500\r\n", &r), 206);
    http_assert_header(&r, "Content-Range", "bytes 199500-199999/200000");
    assert_same_bytes("bytes=-500", r.body, r.body_len, data + LEN - 500, 500);
    http_resp_free(&r);
    ck_assert_int_eq(tls_fetch(s.port, NULL, "/r.bin", "Range: bytes=0-9,100-109\r\n", &r), 206);
    const char *ct = http_header(&r, "Content-Type");
    ck_assert_msg(ct != NULL && strncmp(ct, "multipart/byteranges", 20) == 0, "Content-Type %s",
                  ct ? ct : "(none)");
    ck_assert_msg(memmem(r.body, r.body_len, data, 10) &&
                      memmem(r.body, r.body_len, data + 100, 10),
                  "the multipart body lacks the ranges' bytes");
    http_resp_free(&r);
    ck_assert_int_eq(tls_fetch(s.port, NULL, "/r.bin", NULL, &r), 200);
    assert_same_bytes("GET /r.bin", r.body, r.body_len, data, LEN);
    http_resp_free(&r);
    free(data);
    srv_stop(&s);
}
END_TEST

/* ---- what is not TLS ---- */

/* Plain HTTP to a TLS port: a plaintext 400, then the close; curl http:// sees the 400 too; TLS
 * on the same port is still served. */
START_TEST(plain_http_to_tls_port_gets_400)
{
    struct srv s;
    struct http_resp r;
    char text[TLS_OUT_MAX], url[64], out[SRV_PATH_MAX];
    tls_start(&s, "rsa", NULL);
    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_msg(http_try_read(fd, &r, 0) == 0, "no plaintext answer: %s", r.err);
    ck_assert_msg(strncmp(r.head, "HTTP/1.1 400", 12) == 0, "answer starts '%.40s'", r.head);
    http_resp_free(&r);
    ck_assert_msg(conn_wait_closed(fd, 5000), "the connection stays open after the 400");
    close(fd);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    int st = tls_curl(s.port, url, srv_path(&s, "curl.out", out, sizeof(out)), text, sizeof(text));
    ck_assert_msg(st == 400, "curl %s: status %d\n%s", url, st, text);
    tls_fetch(s.port, NULL, "/", NULL, &r);
    assert_body_eq(&r, SRV_INDEX_HTML, "GET / over TLS after the plain requests");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

/* Bytes that are neither a TLS record nor HTTP: closed without a byte of answer, and the
 * failed handshake logged at info with the peer's address. */
START_TEST(garbage_closed_silently_and_logged)
{
    static const char junk[] = "\x00\x01\x02\x03\xff\xfe\x80\x7f garbage \x05\x06\r\n\r\n";
    struct srv s;
    char line[1024];
    tls_start(&s, "rsa", NULL);
    int fd = conn_open(s.port);
    conn_send_tolerant(fd, junk, sizeof(junk) - 1);
    ck_assert_msg(conn_wait_closed(fd, 5000),
                  "garbage: not closed within 5 s, or answered with bytes");
    close(fd);
    int64_t deadline = now_ms() + 5000;
    while (!log_line_with(&s, "TLS handshake", "127.0.0.1", NULL, line, sizeof(line)) &&
           now_ms() < deadline)
        sleep_ms(10);
    ck_assert_msg(log_line_with(&s, "TLS handshake", "127.0.0.1", NULL, line, sizeof(line)),
                  "no log line with 'TLS handshake' and the peer address");
    ck_assert_msg(strstr(line, "[info]") != NULL, "logged at another level: %s", line);
    srv_stop(&s);
}
END_TEST

/* handshake_timeout = 1s: a client that sends nothing, and one that stops inside its
 * ClientHello, are both closed after about a second (not before, not much later); a full
 * handshake then still works. */
START_TEST(handshake_timeout_closes_silent_and_cut_hello)
{
    /* A TLS record header announcing 512 bytes of handshake, and the first bytes of them. */
    static const unsigned char cut[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01,
                                        0xfc, 0x03, 0x03, 0x11, 0x22, 0x33, 0x44};
    struct srv s;
    struct http_resp r;
    size_t bytes;
    tls_start(&s, "rsa", "handshake_timeout = 1s\n");
    int64_t t0 = now_ms();
    int silent = conn_open(s.port);
    int hello = conn_open(s.port);
    conn_send(hello, cut, sizeof(cut));
    int64_t ms = wait_close_ms(silent, t0, 4000, &bytes);
    ck_assert_msg(ms >= 0, "silent client still open after 4 s (handshake_timeout 1s)");
    ck_assert_msg(ms >= 900, "silent client closed after %lld ms, before handshake_timeout",
                  (long long)ms);
    ck_assert_msg(bytes == 0, "silent client was sent %zu bytes", bytes);
    ms = wait_close_ms(hello, t0, 4000, &bytes);
    ck_assert_msg(ms >= 900, "cut ClientHello: closed after %lld ms (-1: open), want 1 s to 4 s",
                  (long long)ms);
    close(silent);
    close(hello);
    tls_fetch(s.port, NULL, "/", NULL, &r);
    assert_body_eq(&r, SRV_INDEX_HTML, "GET / after the timeouts");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

/* ---- protocol versions ---- */

/* Default tls_protocols: TLS 1.2 is served (our client and s_client -tls1_2). */
START_TEST(default_protocols_serve_tls12)
{
    struct srv s;
    struct tls_conn c;
    struct http_resp r;
    char out[TLS_OUT_MAX];
    tls_start(&s, "rsa", NULL);
    struct tls_opts o = {.sni = "localhost", .version = TLS1_2_VERSION};
    tls_connect_ok(s.port, &o, &c, "TLS 1.2");
    ck_assert_str_eq(c.version, "TLSv1.2");
    tls_close(&c);
    tls_fetch(s.port, &o, "/", NULL, &r);
    assert_body_eq(&r, SRV_INDEX_HTML, "GET / over TLS 1.2");
    http_resp_free(&r);
    const char *args[] = {"-servername", "localhost", "-tls1_2", NULL};
    int rc = tls_s_client(&s, s.port, TLS_GET_CLOSE, args, out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "TLSv1.2, Cipher is") && strstr(out, "HTTP/1.1 200"),
                  "s_client -tls1_2: exit %d\n%s", rc, out);
    srv_stop(&s);
}
END_TEST

/* tls_protocols = TLSv1.3: a TLS 1.2 client fails the handshake; TLS 1.3 is served. */
START_TEST(tls13_only_refuses_tls12)
{
    struct srv s;
    struct tls_conn c;
    char out[TLS_OUT_MAX];
    tls_start(&s, "rsa", "tls_protocols = TLSv1.3\n");
    struct tls_opts o = {.sni = "localhost", .version = TLS1_2_VERSION};
    ck_assert_msg(tls_connect(s.port, &o, &c) < 0, "TLS 1.2 handshake completed (%s, %s)",
                  c.version, c.cipher);
    const char *args[] = {"-servername", "localhost", "-tls1_2", NULL};
    int rc = tls_s_client(&s, s.port, TLS_GET_CLOSE, args, out, sizeof(out));
    ck_assert_msg(rc != 0 && strstr(out, "HTTP/1.1") == NULL,
                  "s_client -tls1_2 against TLSv1.3 only: exit %d\n%s", rc, out);
    o.version = TLS1_3_VERSION;
    tls_connect_ok(s.port, &o, &c, "TLS 1.3");
    ck_assert_str_eq(c.version, "TLSv1.3");
    tls_close(&c);
    srv_stop(&s);
}
END_TEST

Suite *
integ_tls_basic_suite(void)
{
    Suite *s = suite_create("integ_tls_basic");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, plain_and_tls_side_by_side);
    tcase_add_test(tc, plain_and_tls_both_on_port_0);
    tcase_add_test(tc, alpn_http11_and_h2_only);
    tcase_add_test(tc, keepalive_and_pipelining);
    tcase_add_test(tc, ranges_over_tls);
    suite_add_tcase(s, tc);

    tc = tcase_create("not_tls");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, plain_http_to_tls_port_gets_400);
    tcase_add_test(tc, garbage_closed_silently_and_logged);
    tcase_add_test(tc, handshake_timeout_closes_silent_and_cut_hello);
    suite_add_tcase(s, tc);

    tc = tcase_create("protocols");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, default_protocols_serve_tls12);
    tcase_add_test(tc, tls13_only_refuses_tls12);
    suite_add_tcase(s, tc);
    return s;
}
