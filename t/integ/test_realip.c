/* Integration tests of real_ip_from / real_ip_header (worker/realip.h): the real binary with
 * examples/echo, which answers the client address a module sees ("remote"). From a trusted
 * peer the X-Forwarded-For client is taken (with a body too, and per request on a kept-alive
 * connection); from an untrusted one (the client bound to 127.0.0.2) the field is ignored; a
 * malformed field keeps the peer; real_ip_header names another field; behind a PROXY header
 * the trusted peer is the one the header names; max_connections_per_ip still counts the
 * connection's peer; the access log records the real client. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "apps.h"
#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CFG_MAX 8192
#define WAIT_MS 5000

static const struct app_def ECHO_APP[] = {{"echo", "examples/echo.so", "route = /echo\n"}, {NULL}};

static void
start(struct srv *s, const char *extra)
{
    char server[2048], cfg[CFG_MAX];
    snprintf(server, sizeof(server), "workers = 1\n%s", extra ? extra : "");
    srv_init(s);
    srv_write_config(s, apps_config(cfg, sizeof(cfg), server, ECHO_APP));
    srv_spawn(s);
}

/* A connection to 127.0.0.1:port from `from` (127.0.0.2: another loopback address). */
static int
open_from(int port, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    ck_assert_int_eq(inet_pton(AF_INET, from, &a.sin_addr), 1);
    ck_assert_msg(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind %s: %s", from,
                  strerror(errno));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    ck_assert_msg(connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0, "connect: %s",
                  strerror(errno));
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

/* `prefix` (may be ""), then GET /echo with the extra header lines `fields` on fd; echo's
 * answer must name `remote`. */
static void
ask(int fd, const char *prefix, const char *fields, bool close_after, const char *remote,
    const char *what)
{
    char req[1024], want[128];
    snprintf(req, sizeof(req), "%sGET /echo HTTP/1.1\r\nHost: a\r\n%s%s\r\n", prefix, fields,
             close_after ? "Connection: close\r\n" : "");
    conn_sendstr(fd, req);
    struct http_resp r;
    http_read_response(fd, &r, 0);
    ck_assert_msg(r.status == 200, "%s: status %d", what, r.status);
    snprintf(want, sizeof(want), "\"remote\":\"%s\"", remote);
    ck_assert_msg(r.body && strstr(r.body, want), "%s: want %s in %s", what, want,
                  r.body ? r.body : "(no body)");
    http_resp_free(&r);
}

static void
ask_from(int port, const char *from, const char *fields, const char *remote, const char *what)
{
    int fd = open_from(port, from);
    ask(fd, "", fields, true, remote, what);
    close(fd);
}

START_TEST(trusted_peer_names_the_client)
{
    struct srv s;
    start(&s, "real_ip_from = 127.0.0.1/32\n");
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n", "203.0.113.7", "one");
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 198.51.100.1, 203.0.113.7, 127.0.0.1\r\n",
             "203.0.113.7", "right-most untrusted");
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 127.0.0.1\r\n",
             "198.51.100.1", "two field lines");
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 127.0.0.1, 127.0.0.1\r\n", "127.0.0.1",
             "all trusted: the left-most");
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 2001:db8::5\r\n", "2001:db8::5", "IPv6");
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 203.0.113.7:555\r\n", "127.0.0.1",
             "malformed: the peer");
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 203.0.113.7, bad, 127.0.0.1\r\n", "127.0.0.1",
             "malformed in the middle: the last good address");
    ask_from(s.port, "127.0.0.1", "", "127.0.0.1", "no field: the peer");
    ask_from(s.port, "127.0.0.1", "X-Real-IP: 203.0.113.8\r\n", "127.0.0.1",
             "another field: not read");

    /* Per request: a kept-alive connection's second request without the field is the peer's. */
    int fd = open_from(s.port, "127.0.0.1");
    ask(fd, "", "X-Forwarded-For: 203.0.113.9\r\n", false, "203.0.113.9", "first request");
    ask(fd, "", "", true, "127.0.0.1", "second request, no field");
    close(fd);

    /* A request with a body is dispatched at its header: the address is known there too. */
    fd = open_from(s.port, "127.0.0.1");
    conn_sendstr(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.10\r\n"
                     "Content-Length: 3\r\nConnection: close\r\n\r\nabc");
    struct http_resp r;
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"remote\":\"203.0.113.10\""), "POST: %s", r.body);
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(untrusted_peer_is_the_client)
{
    struct srv s;
    start(&s, "real_ip_from = 127.0.0.1/32\n");
    ask_from(s.port, "127.0.0.2", "X-Forwarded-For: 203.0.113.7\r\n", "127.0.0.2",
             "from 127.0.0.2, not trusted");
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n", "203.0.113.7",
             "from 127.0.0.1, trusted");
    srv_stop(&s);
    /* Without real_ip_from the field means nothing. */
    start(&s, NULL);
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n", "127.0.0.1",
             "no real_ip_from");
    srv_stop(&s);
}
END_TEST

START_TEST(other_header)
{
    struct srv s;
    start(&s, "real_ip_from = 127.0.0.0/8\nreal_ip_header = X-Real-IP\n");
    ask_from(s.port, "127.0.0.2", "X-Real-IP: 203.0.113.7\r\nX-Forwarded-For: 1.1.1.1\r\n",
             "203.0.113.7", "X-Real-IP");
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 1.1.1.1\r\n", "127.0.0.1",
             "X-Forwarded-For is not the field");
    srv_stop(&s);
}
END_TEST

/* Behind a PROXY header, the peer that must be trusted is the one the header names. */
START_TEST(after_proxy_header)
{
    struct srv s;
    start(&s, "listen = 127.0.0.1:0 proxy\nreal_ip_from = 10.0.0.0/8\n");
    int fd = conn_open(s.port);
    ask(fd, "PROXY TCP4 10.0.0.5 192.0.2.1 4000 80\r\n", "X-Forwarded-For: 203.0.113.7\r\n", true,
        "203.0.113.7", "PROXY names a trusted balancer");
    close(fd);
    fd = conn_open(s.port);
    ask(fd, "PROXY TCP4 198.51.100.5 192.0.2.1 4000 80\r\n", "X-Forwarded-For: 203.0.113.7\r\n",
        true, "198.51.100.5", "PROXY names an untrusted client");
    close(fd);
    srv_stop(&s);
}
END_TEST

/* max_connections_per_ip counts connections by their peer: a second connection from the
 * trusted balancer is refused whatever client its field names. */
START_TEST(per_ip_ignores_the_field)
{
    struct srv s;
    start(&s, "real_ip_from = 127.0.0.1/32\nmax_connections_per_ip = 1\n");
    int held = open_from(s.port, "127.0.0.1");
    ask(held, "", "X-Forwarded-For: 203.0.113.7\r\n", false, "203.0.113.7", "held connection");
    int fd = open_from(s.port, "127.0.0.1");
    conn_sendstr(fd, "GET /echo HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.8\r\n"
                     "Connection: close\r\n\r\n");
    http_expect_final(fd, 503, WAIT_MS, "second connection from 127.0.0.1 (limit 1)");
    close(fd);
    close(held);
    srv_stop(&s);
}
END_TEST

/* Poll (bounded) until the file at path holds `needle`. */
static bool
file_has(const char *path, const char *needle, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        size_t len = 0;
        char *text = read_file_all(path, &len);
        bool found = text && strstr(text, needle);
        free(text);
        if (found || now_ms() >= deadline)
            return found;
        sleep_ms(20);
    }
}

/* The access log records the real client: the X-Forwarded-For address from a trusted peer,
 * the PROXY header's client, and the peer itself for an untrusted one. */
START_TEST(access_log_has_the_real_client)
{
    struct srv s;
    char extra[1024], path[SRV_PATH_MAX];
    srv_init(&s);
    srv_path(&s, "access.log", path, sizeof(path));
    snprintf(extra, sizeof(extra),
             "listen = 127.0.0.1:0\nlisten = 127.0.0.1:0 proxy\nreal_ip_from = 127.0.0.1/32\n"
             "access_log = %s\naccess_log_format = json\naccess_log_buffer = 0\n",
             path);
    char server[2048], cfg[CFG_MAX];
    snprintf(server, sizeof(server), "workers = 1\n%s", extra);
    srv_write_config(&s, apps_config(cfg, sizeof(cfg), server, ECHO_APP));
    srv_spawn(&s);
    ask_from(s.port, "127.0.0.1", "X-Forwarded-For: 203.0.113.21\r\n", "203.0.113.21", "XFF");
    ask_from(s.port, "127.0.0.2", "X-Forwarded-For: 203.0.113.22\r\n", "127.0.0.2", "untrusted");
    int fd = conn_open(srv_read_port_line(&s, 1));
    ask(fd, "PROXY TCP4 10.7.7.7 192.0.2.1 4000 80\r\n", "", true, "10.7.7.7", "PROXY");
    close(fd);
    ck_assert_msg(file_has(path, "\"remote\":\"203.0.113.21\"", WAIT_MS),
                  "access log without the X-Forwarded-For client");
    ck_assert_msg(file_has(path, "\"remote\":\"127.0.0.2\"", WAIT_MS),
                  "access log without the untrusted peer");
    ck_assert_msg(file_has(path, "\"remote\":\"10.7.7.7\"", WAIT_MS),
                  "access log without the PROXY client");
    size_t len;
    char *text = read_file_all(path, &len);
    ck_assert_msg(text && !strstr(text, "203.0.113.22"), "untrusted field logged: %s", text);
    free(text);
    srv_stop(&s);
}
END_TEST

Suite *
integ_realip_suite(void)
{
    Suite *s = suite_create("integ_realip");
    TCase *tc = tcase_create("realip");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, trusted_peer_names_the_client);
    tcase_add_test(tc, untrusted_peer_is_the_client);
    tcase_add_test(tc, other_header);
    tcase_add_test(tc, after_proxy_header);
    tcase_add_test(tc, per_ip_ignores_the_field);
    tcase_add_test(tc, access_log_has_the_real_client);
    suite_add_tcase(s, tc);
    return s;
}
