/* Integration tests of the HTTP side: a real sluice on a free port, spoken to over raw sockets
 * (no client library normalising paths or hiding framing errors). The basics of a response,
 * 404, percent-encoded names, the header timeout and several listeners; keep-alive, pipelining
 * and connection limits are in test_limits.c, parsing in test_strict.c, static files in
 * test_static.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECRET "TOP SECRET: must never be served\n"

/* Send one keep-alive request (no Connection header) on fd and read its response. */
static void
request_on(int fd, const char *method, const char *target, struct http_resp *r)
{
    char req[1024];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method, target);
    ck_assert(n > 0 && (size_t)n < sizeof(req));
    conn_send(fd, req, (size_t)n);
    http_read_response(fd, r, strcmp(method, "HEAD") == 0 ? HTTP_NO_BODY : 0);
}

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") within a minute of now. */
static void
assert_http_date_now(const char *name, const char *v)
{
    ck_assert_msg(v != NULL, "no %s header", name);
    struct tm tm = {0};
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ck_assert_msg(end != NULL && *end == '\0' && strlen(v) == 29, "%s: '%s' is not an IMF-fixdate",
                  name, v);
    time_t t = timegm(&tm);
    time_t now = time(NULL);
    ck_assert_msg(t > now - 60 && t < now + 60, "%s: '%s' is not about now", name, v);
}

static void
http_date_of(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void
assert_last_modified(const struct srv *s, const struct http_resp *r, const char *rel)
{
    char path[SRV_PATH_MAX * 2], want[64];
    snprintf(path, sizeof(path), "%s/%s", s->root, rel);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    http_date_of(st.st_mtime, want, sizeof(want));
    http_assert_header(r, "Last-Modified", want);
}

/* ---- tests ---- */

START_TEST(get_index_byte_exact)
{
    struct srv s;
    struct http_resp r;
    char want_len[32];
    srv_start(&s, NULL);

    int fd = conn_open(s.port);
    request_on(fd, "GET", "/", &r);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, SRV_INDEX_HTML, NULL);
    snprintf(want_len, sizeof(want_len), "%zu", strlen(SRV_INDEX_HTML));
    http_assert_header(&r, "Content-Length", want_len);
    const char *ct = http_header(&r, "Content-Type");
    ck_assert_msg(ct != NULL && strncmp(ct, "text/html", 9) == 0, "Content-Type: %s",
                  ct ? ct : "(none)");
    http_assert_header(&r, "Server", "sluice");
    assert_http_date_now("Date", http_header(&r, "Date"));
    assert_last_modified(&s, &r, "index.html");
    http_resp_free(&r);

    request_on(fd, "GET", "/index.html", &r);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, SRV_INDEX_HTML, NULL);
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(not_found)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);

    const char *targets[] = {"/nope.txt", "/no/such/dir/file", "/index.html/x"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        int st = http_simple(s.port, "GET", targets[i], &r);
        ck_assert_msg(st == 404, "GET %s: status %d, want 404", targets[i], st);
        ck_assert_msg(http_header(&r, "Content-Length") != NULL, "404 without Content-Length");
        http_assert_header(&r, "Server", "sluice");
        http_resp_free(&r);
    }
    srv_stop(&s);
}
END_TEST

START_TEST(dotdot_never_escapes)
{
    struct srv s;
    struct http_resp r;
    char path[SRV_PATH_MAX];
    srv_start(&s, NULL);
    write_file(srv_path(&s, "secret.txt", path, sizeof(path)), SECRET, strlen(SECRET));
    srv_write_file(&s, "sub/index.html", "sub\n", 4);

    /* Every target climbs above the root: exactly 400 (README, "Paths and confinement"). */
    const char *targets[] = {
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/a/../../secret.txt",
        "/..%2fsecret.txt",
        "/./../secret.txt",
        "/sub/../../secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/..",
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        int st = http_simple(s.port, "GET", targets[i], &r);
        ck_assert_msg(st == 400, "GET %s: status %d, want 400", targets[i], st);
        ck_assert_msg(r.body == NULL || strstr(r.body, "TOP SECRET") == NULL,
                      "GET %s served the secret", targets[i]);
        http_resp_free(&r);
    }
    srv_stop(&s);
}
END_TEST

START_TEST(directory_index)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);
    srv_write_file(&s, "sub/index.html", "<p>sub index</p>\n", 17);

    ck_assert_int_eq(http_simple(s.port, "GET", "/sub/", &r), 200);
    http_assert_body(&r, "<p>sub index</p>\n", NULL);
    const char *ct = http_header(&r, "Content-Type");
    ck_assert_msg(ct != NULL && strncmp(ct, "text/html", 9) == 0, "Content-Type: %s",
                  ct ? ct : "(none)");
    http_assert_header(&r, "Content-Length", "17");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

START_TEST(empty_file)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);
    srv_write_file(&s, "empty.txt", "", 0);

    int fd = conn_open(s.port);
    request_on(fd, "GET", "/empty.txt", &r);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Content-Length", "0");
    ck_assert_uint_eq(r.body_len, 0);
    http_resp_free(&r);
    request_on(fd, "GET", "/", &r);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, SRV_INDEX_HTML, NULL);
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(percent_encoded_names)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);
    srv_write_file(&s, "a b.txt", "space\n", 6);
    srv_write_file(&s, "sub dir/x+y.txt", "plus\n", 5);

    const struct {
        const char *target;
        const char *body;
    } cases[] = {
        {"/a%20b.txt", "space\n"},
        {"/%61%20%62%2E%74%78%74", "space\n"},
        {"/sub%20dir/x+y.txt", "plus\n"},
        {"/sub%20dir/x%2By.txt", "plus\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int st = http_simple(s.port, "GET", cases[i].target, &r);
        ck_assert_msg(st == 200, "GET %s: status %d", cases[i].target, st);
        http_assert_body(&r, cases[i].body, NULL);
        http_resp_free(&r);
    }
    ck_assert_int_eq(http_simple(s.port, "GET", "/a%2", &r), 400);
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

/* Bounds for "closed after about T": never before half of T, always within T + 2 s. */
static void
assert_closed_after(int fd, int64_t t0, int timeout_ms, const char *what)
{
    ck_assert_msg(conn_wait_closed(fd, timeout_ms + 2000), "%s: not closed within %d ms", what,
                  timeout_ms + 2000);
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= timeout_ms / 2, "%s: closed after %lld ms, timeout is %d ms", what,
                  (long long)took, timeout_ms);
}

START_TEST(header_timeout_closes)
{
    struct srv s;
    srv_start(&s, "header_timeout = 400ms");

    /* Half a header section: once header_timeout passes, exactly a 408 with Connection: close,
     * then the close (the README's limits table). */
    int fd = conn_open(s.port);
    int64_t t0 = now_ms();
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\n");
    http_expect_final(fd, 408, 2000, "partial header");
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 200 && took <= 2400, "partial header: 408 after %lld ms, timeout 400 ms",
                  (long long)took);
    close(fd);

    /* A connection that never sends a byte: closed at header_timeout without a response (as
     * nginx does); conn_wait_closed fails on any byte before the end of the stream. */
    fd = conn_open(s.port);
    assert_closed_after(fd, now_ms(), 400, "silent connection (closed without a response)");
    close(fd);
    srv_stop(&s);
}
END_TEST

/* listen repeats: every listener is in the port file, in order, and serves. */
START_TEST(several_listeners)
{
    struct srv s;
    struct http_resp r;
    char sock[SRV_PATH_MAX], extra[SRV_PATH_MAX + 64], want[SRV_PATH_MAX + 32];
    srv_init(&s);
    srv_path(&s, "sluice.sock", sock, sizeof(sock));
    snprintf(extra, sizeof(extra), "listen = 127.0.0.1:0\nlisten = unix:%s\n", sock);
    srv_write_config(&s, extra);
    srv_spawn(&s);

    char *ports = read_file_all(s.port_file, NULL);
    ck_assert_ptr_nonnull(ports);
    snprintf(want, sizeof(want), "127.0.0.1:%d\nunix:%s\n", s.port, sock);
    ck_assert_msg(strcmp(ports, want) == 0, "port file:\n%s\nwant:\n%s", ports, want);
    free(ports);

    int fds[2] = {conn_open(s.port), conn_open_unix(sock)};
    for (int i = 0; i < 2; i++) {
        request_on(fds[i], "GET", "/", &r);
        ck_assert_msg(r.status == 200, "%s listener: status %d", i ? "unix" : "tcp", r.status);
        http_assert_body(&r, SRV_INDEX_HTML, NULL);
        http_resp_free(&r);
        close(fds[i]);
    }
    srv_stop(&s);
}
END_TEST

Suite *
integ_http_suite(void)
{
    Suite *s = suite_create("integ_http");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, get_index_byte_exact);
    tcase_add_test(tc, not_found);
    tcase_add_test(tc, dotdot_never_escapes);
    tcase_add_test(tc, directory_index);
    tcase_add_test(tc, empty_file);
    tcase_add_test(tc, percent_encoded_names);
    tcase_add_test(tc, header_timeout_closes);
    tcase_add_test(tc, several_listeners);
    suite_add_tcase(s, tc);
    return s;
}
