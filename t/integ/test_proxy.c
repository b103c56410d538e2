/* Integration tests of `proxy` listeners (worker/proxy.h): the real binary behind a PROXY
 * header, v1 and v2, whole, split across writes and a byte at a time; the client it names is
 * what a module sees (examples/echo answers it as "remote") and what max_connections_per_ip
 * counts; no header, a malformed one or one never completed closes the connection without a
 * byte; a TLS handshake after the header; a unix-socket proxy listener; a plain listener
 * beside a proxy one is unaffected. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "apps.h"
#include "harness.h"
#include "test_tls.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CFG_MAX 8192
#define WAIT_MS 5000

static const struct app_def ECHO_APP[] = {{"echo", "examples/echo.so", "route = /echo\n"}, {NULL}};

static const char GET_ECHO[] = "GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
static const char GET_ECHO_KEEP[] = "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n";

/* A proxy listener (s->port) and a plain one (port line 1), echo on /echo, then `extra`. */
static void
start(struct srv *s, const char *extra)
{
    char server[2048], cfg[CFG_MAX];
    snprintf(server, sizeof(server),
             "listen = 127.0.0.1:0 proxy\nlisten = 127.0.0.1:0\nworkers = 1\n"
             "log_level = info\nhandshake_timeout = 1s\n%s",
             extra ? extra : "");
    srv_init(s);
    srv_write_config(s, apps_config(cfg, sizeof(cfg), server, ECHO_APP));
    srv_spawn(s);
}

/* A v2 PROXY header with the IPv4 client a:port (to 192.0.2.1:80) and `tlv` bytes of TLVs. */
static size_t
v2_inet(uint8_t *buf, const char *a, int port, size_t tlv)
{
    memcpy(buf, "\r\n\r\n\0\r\nQUIT\n", 12);
    buf[12] = 0x21;
    buf[13] = 0x11;
    buf[14] = (uint8_t)((12 + tlv) >> 8);
    buf[15] = (uint8_t)(12 + tlv);
    ck_assert_int_eq(inet_pton(AF_INET, a, buf + 16), 1);
    inet_pton(AF_INET, "192.0.2.1", buf + 20);
    buf[24] = (uint8_t)(port >> 8), buf[25] = (uint8_t)port;
    buf[26] = 0, buf[27] = 80;
    memset(buf + 28, 0, tlv);
    if (tlv >= 3) { /* one PP2_TYPE_NOOP TLV over them all */
        buf[28] = 0x04;
        buf[29] = (uint8_t)((tlv - 3) >> 8);
        buf[30] = (uint8_t)(tlv - 3);
    }
    return 28 + tlv;
}

/* A v2 header with the IPv6 client a (to ::1). */
static size_t
v2_inet6(uint8_t *buf, const char *a)
{
    memcpy(buf, "\r\n\r\n\0\r\nQUIT\n", 12);
    buf[12] = 0x21;
    buf[13] = 0x21;
    buf[14] = 0;
    buf[15] = 36;
    ck_assert_int_eq(inet_pton(AF_INET6, a, buf + 16), 1);
    inet_pton(AF_INET6, "::1", buf + 32);
    buf[48] = 0x30, buf[49] = 0x39, buf[50] = 0, buf[51] = 80;
    return 52;
}

/* The v2 LOCAL header (a balancer's own health check). */
static size_t
v2_local(uint8_t *buf)
{
    memcpy(buf, "\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16);
    return 16;
}

/* Read echo's answer on fd (200) and check its "remote" member. */
static void
expect_remote(int fd, const char *remote, const char *what)
{
    struct http_resp r;
    char want[128];
    http_read_response(fd, &r, 0);
    ck_assert_msg(r.status == 200, "%s: status %d", what, r.status);
    snprintf(want, sizeof(want), "\"remote\":\"%s\"", remote);
    ck_assert_msg(r.body && strstr(r.body, want), "%s: want %s in %s", what, want,
                  r.body ? r.body : "(no body)");
    http_resp_free(&r);
}

/* On a new connection to port: `hdr` (n bytes) then GET_ECHO; echo must name `remote`. */
static void
fetch_as(int port, const void *hdr, size_t n, const char *remote, const char *what)
{
    int fd = conn_open(port);
    conn_send(fd, hdr, n);
    conn_sendstr(fd, GET_ECHO);
    expect_remote(fd, remote, what);
    close(fd);
}

/* Pace pieces of a header apart, so the server reads them one by one (not a synchronisation:
 * nothing waits on it, and pieces that do arrive together are a valid test as well). */
static void
pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
    nanosleep(&ts, NULL);
}

START_TEST(v1_and_v2_name_the_client)
{
    struct srv s;
    start(&s, NULL);
    const char *v1 = "PROXY TCP4 10.1.1.1 192.0.2.1 4000 80\r\n";
    fetch_as(s.port, v1, strlen(v1), "10.1.1.1", "v1 TCP4");
    v1 = "PROXY TCP6 2001:db8::7 ::1 4000 80\r\n";
    fetch_as(s.port, v1, strlen(v1), "2001:db8::7", "v1 TCP6");
    v1 = "PROXY UNKNOWN\r\n";
    fetch_as(s.port, v1, strlen(v1), "127.0.0.1", "v1 UNKNOWN (the socket's peer)");
    uint8_t buf[2048];
    fetch_as(s.port, buf, v2_inet(buf, "10.2.2.2", 5000, 0), "10.2.2.2", "v2 INET");
    fetch_as(s.port, buf, v2_inet(buf, "10.2.2.3", 5000, 600), "10.2.2.3", "v2 INET with TLVs");
    fetch_as(s.port, buf, v2_inet6(buf, "2001:db8::9"), "2001:db8::9", "v2 INET6");
    fetch_as(s.port, buf, v2_local(buf), "127.0.0.1", "v2 LOCAL (the socket's peer)");

    /* Keep-alive: the header comes once, every request of the connection is its client's. */
    int fd = conn_open(s.port);
    v1 = "PROXY TCP4 10.1.1.9 192.0.2.1 4000 80\r\n";
    conn_sendstr(fd, v1);
    conn_sendstr(fd, GET_ECHO_KEEP);
    expect_remote(fd, "10.1.1.9", "first request of a kept-alive connection");
    conn_sendstr(fd, GET_ECHO);
    expect_remote(fd, "10.1.1.9", "second request of a kept-alive connection");
    close(fd);

    /* The plain listener beside it: no header, the socket's peer. */
    fetch_as(srv_read_port_line(&s, 1), "", 0, "127.0.0.1", "plain listener");
    srv_stop(&s);
}
END_TEST

/* The header and the request in pieces: v1 a byte at a time, v2 in four writes cutting the
 * signature, the addresses and the TLVs; and a header whose last byte comes with the request. */
START_TEST(header_split_across_writes)
{
    struct srv s;
    start(&s, NULL);
    int one = 1;
    const char *v1 = "PROXY TCP4 10.3.3.3 192.0.2.1 4000 80\r\n";
    int fd = conn_open(s.port);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (size_t i = 0; i < strlen(v1); i++) {
        conn_send(fd, v1 + i, 1);
        pause_ms(2);
    }
    conn_sendstr(fd, GET_ECHO);
    expect_remote(fd, "10.3.3.3", "v1 a byte at a time");
    close(fd);

    uint8_t buf[2048];
    size_t n = v2_inet(buf, "10.4.4.4", 6000, 300);
    size_t cuts[] = {0, 7, 22, 100, n};
    fd = conn_open(s.port);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    for (int i = 0; i < 4; i++) {
        conn_send(fd, buf + cuts[i], cuts[i + 1] - cuts[i]);
        pause_ms(20);
    }
    conn_sendstr(fd, GET_ECHO);
    expect_remote(fd, "10.4.4.4", "v2 in four writes");
    close(fd);

    char whole[256];
    snprintf(whole, sizeof(whole), "PROXY TCP4 10.5.5.5 192.0.2.1 4000 80\r\n%s", GET_ECHO);
    fd = conn_open(s.port);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conn_send(fd, whole, 20);
    pause_ms(20);
    conn_sendstr(fd, whole + 20);
    expect_remote(fd, "10.5.5.5", "the header's end with the request");
    close(fd);
    srv_stop(&s);
}
END_TEST

/* max_connections_per_ip counts the client the header names, not the balancer: two
 * connections "from" 10.1.1.1 with a limit of 1 get the 503 on the second, while one from
 * 10.1.1.2, and one on the plain listener from 127.0.0.1, are served. */
START_TEST(per_ip_counts_the_named_client)
{
    struct srv s;
    start(&s, "max_connections_per_ip = 1\n");
    const char *a = "PROXY TCP4 10.1.1.1 192.0.2.1 4000 80\r\n";
    int first = conn_open(s.port);
    conn_sendstr(first, a);
    conn_sendstr(first, GET_ECHO_KEEP);
    expect_remote(first, "10.1.1.1", "first connection from 10.1.1.1");

    int second = conn_open(s.port);
    conn_sendstr(second, a);
    conn_sendstr(second, GET_ECHO);
    struct http_resp r;
    http_read_response(second, &r, 0);
    ck_assert_msg(r.status == 503, "second connection from 10.1.1.1: %d, want 503", r.status);
    http_assert_body(&r, "Too many connections from your host\n", "second from 10.1.1.1");
    http_resp_free(&r);
    ck_assert(conn_wait_closed(second, WAIT_MS));
    close(second);

    const char *b = "PROXY TCP4 10.1.1.2 192.0.2.1 4000 80\r\n";
    fetch_as(s.port, b, strlen(b), "10.1.1.2", "a connection from 10.1.1.2");
    fetch_as(srv_read_port_line(&s, 1), "", 0, "127.0.0.1", "the plain listener from 127.0.0.1");

    /* Released when the first goes: 10.1.1.1 is served again (bounded poll). */
    close(first);
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        int fd = conn_open(s.port);
        conn_sendstr(fd, a);
        conn_sendstr(fd, GET_ECHO);
        http_read_response(fd, &r, 0);
        close(fd);
        int st = r.status;
        http_resp_free(&r);
        if (st == 200)
            break;
        ck_assert_msg(st == 503 && now_ms() < deadline, "10.1.1.1 after the first closed: %d", st);
        pause_ms(20);
    }
    ck_assert(
        log_wait(&s, "max_connections_per_ip (1) reached for a client; answered 503", 1, WAIT_MS));
    srv_stop(&s);
}
END_TEST

/* Not a PROXY header (a plain request), a malformed one: closed without a byte, logged. */
START_TEST(no_or_bad_header_closes)
{
    struct srv s;
    start(&s, NULL);
    const char *cases[] = {
        GET_ECHO,
        "PROXY TCP4 10.1.1.1 192.0.2.1 4000 99999\r\nGET / HTTP/1.1\r\n\r\n",
        "PROXY TCP4 10.1.1.1 192.0.2.1 4000 80\nGET / HTTP/1.1\r\n\r\n",
        "PROXY TCP9 x\r\n",
        "\r\n\r\n\0\r\nQUIT\n\x11\x11\x00\x0c",
    };
    size_t lens[] = {strlen(cases[0]), strlen(cases[1]), strlen(cases[2]), strlen(cases[3]), 16};
    for (int i = 0; i < 5; i++) {
        int fd = conn_open(s.port);
        conn_send_tolerant(fd, cases[i], lens[i]);
        ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "case %d: not closed, or bytes came", i);
        close(fd);
    }
    /* A line with no CRLF within 107 bytes: closed at the 107th. */
    char longer[300];
    memset(longer, 'x', sizeof(longer));
    memcpy(longer, "PROXY TCP4 ", 11);
    int fd = conn_open(s.port);
    conn_send_tolerant(fd, longer, 107);
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "107 bytes without CRLF: not closed");
    close(fd);
    ck_assert(log_wait(&s, "PROXY protocol: closing a connection from 127.0.0.1", 6, WAIT_MS));
    ck_assert_int_ge(log_count(&s, "not a PROXY header"), 1);
    ck_assert_int_ge(log_count(&s, "v1: bad port"), 1);
    ck_assert_int_ge(log_count(&s, "v2: version is not 2"), 1);
    ck_assert_int_ge(log_count(&s, "no CRLF within 107 bytes"), 1);
    const char *v1 = "PROXY TCP4 10.1.1.1 192.0.2.1 4000 80\r\n";
    fetch_as(s.port, v1, strlen(v1), "10.1.1.1", "a good header after the bad ones");
    srv_stop(&s);
}
END_TEST

/* A header never completed is closed at handshake_timeout (1 s here), not before. */
START_TEST(incomplete_header_times_out)
{
    struct srv s;
    start(&s, NULL);
    int fd = conn_open(s.port);
    int64_t t0 = now_ms();
    conn_sendstr(fd, "PROXY TCP4 10.1.1.1 192.0");
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "incomplete header: not closed");
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 900, "closed after %lld ms, before handshake_timeout (1 s)",
                  (long long)took);
    close(fd);
    srv_stop(&s);
}
END_TEST

/* A unix-socket proxy listener: its peer has no address; the header gives one. */
START_TEST(unix_listener)
{
    struct srv s;
    char server[1024], cfg[CFG_MAX], path[SRV_PATH_MAX];
    srv_init(&s);
    srv_path(&s, "p.sock", path, sizeof(path));
    snprintf(server, sizeof(server),
             "listen = 127.0.0.1:0\nlisten = unix:%s proxy\nworkers = 1\nlog_level = info\n", path);
    srv_write_config(&s, apps_config(cfg, sizeof(cfg), server, ECHO_APP));
    srv_spawn(&s);
    int fd = conn_open_unix(path);
    conn_sendstr(fd, "PROXY TCP4 10.9.9.9 192.0.2.1 4000 80\r\n");
    conn_sendstr(fd, GET_ECHO);
    expect_remote(fd, "10.9.9.9", "unix proxy listener");
    close(fd);
    fd = conn_open_unix(path);
    conn_sendstr(fd, GET_ECHO);
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "no header on the unix listener: not closed");
    close(fd);
    srv_stop(&s);
}
END_TEST

/* `proxy tls`: the v2 header in clear, then the TLS handshake on the same connection. */
static int
tls_after_header(int port, const void *hdr, size_t n, const char *request, char *out, size_t cap)
{
    char root[SRV_PATH_MAX];
    tlsca_path("ca.crt", root, sizeof(root));
    int fd = conn_open(port);
    conn_send(fd, hdr, n);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(ctx);
    SSL_CTX_load_verify_locations(ctx, root, NULL);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    int rc = SSL_connect(ssl);
    ck_assert_msg(rc == 1, "TLS handshake after the PROXY header failed (%d)", rc);
    ck_assert_int_eq(SSL_get_verify_result(ssl), X509_V_OK);
    ck_assert_int_eq(SSL_write(ssl, request, (int)strlen(request)), (int)strlen(request));
    size_t got = 0;
    int k;
    while (got + 1 < cap && (k = SSL_read(ssl, out + got, (int)(cap - 1 - got))) > 0)
        got += (size_t)k;
    out[got] = '\0';
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    close(fd);
    return (int)got;
}

START_TEST(tls_after_the_header)
{
    struct srv s;
    char server[4096] = "listen = 127.0.0.1:0 proxy tls\nworkers = 1\nlog_level = info\n";
    char cfg[CFG_MAX];
    tls_cert_lines(server, sizeof(server), "rsa");
    srv_init(&s);
    srv_write_config(&s, apps_config(cfg, sizeof(cfg), server, ECHO_APP));
    srv_spawn(&s);
    uint8_t buf[2048];
    char out[8192];
    tls_after_header(s.port, buf, v2_inet(buf, "10.6.6.6", 7000, 40), GET_ECHO, out, sizeof(out));
    ck_assert_msg(strstr(out, "HTTP/1.1 200") == out, "answer: %s", out);
    ck_assert_msg(strstr(out, "\"remote\":\"10.6.6.6\"") && strstr(out, "\"tls\":true"),
                  "echo over TLS after a PROXY header: %s", out);
    const char *v1 = "PROXY TCP4 10.6.6.7 192.0.2.1 4000 80\r\n";
    tls_after_header(s.port, v1, strlen(v1), GET_ECHO, out, sizeof(out));
    ck_assert_msg(strstr(out, "\"remote\":\"10.6.6.7\""), "v1 then TLS: %s", out);
    /* Without the header, the TLS ClientHello is not one: closed. */
    int fd = conn_open(s.port);
    conn_send_tolerant(fd, "\x16\x03\x01\x00\x05hello", 10);
    ck_assert(conn_wait_closed(fd, WAIT_MS));
    close(fd);
    srv_stop(&s);
}
END_TEST

Suite *
integ_proxy_suite(void)
{
    Suite *s = suite_create("integ_proxy");
    TCase *tc = tcase_create("proxy");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, v1_and_v2_name_the_client);
    tcase_add_test(tc, header_split_across_writes);
    tcase_add_test(tc, per_ip_counts_the_named_client);
    tcase_add_test(tc, no_or_bad_header_closes);
    tcase_add_test(tc, incomplete_header_times_out);
    tcase_add_test(tc, unix_listener);
    tcase_add_test(tc, tls_after_the_header);
    suite_add_tcase(s, tc);
    return s;
}
