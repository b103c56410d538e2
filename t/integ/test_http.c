/* Integration tests of the HTTP side: a real sluice on a free port, spoken to over raw sockets
 * (no client library normalising paths or hiding framing errors). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BIG_SIZE (1 << 20)
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

static void
write_numbered_files(const struct srv *s)
{
    srv_write_file(s, "1.txt", "one\n", 4);
    srv_write_file(s, "2.txt", "two\n", 4);
    srv_write_file(s, "3.txt", "three\n", 6);
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

START_TEST(head_same_headers_no_body)
{
    struct srv s;
    struct http_resp get, head, next;
    srv_start(&s, NULL);
    write_numbered_files(&s);

    ck_assert_int_eq(http_simple(s.port, "GET", "/", &get), 200);
    int fd = conn_open(s.port);
    request_on(fd, "HEAD", "/", &head);
    ck_assert_int_eq(head.status, 200);
    const char *same[] = {"Content-Length", "Content-Type", "Last-Modified", "Server"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        const char *g = http_header(&get, same[i]), *h = http_header(&head, same[i]);
        ck_assert_msg(g != NULL && h != NULL && strcmp(g, h) == 0,
                      "%s differs: GET '%s', HEAD '%s'", same[i], g ? g : "(none)",
                      h ? h : "(none)");
    }
    ck_assert(!http_says_close(&head));
    /* Had HEAD sent a body, its bytes would now be read as the next status line. */
    request_on(fd, "GET", "/1.txt", &next);
    ck_assert_int_eq(next.status, 200);
    http_assert_body(&next, "one\n", NULL);
    http_resp_free(&get);
    http_resp_free(&head);
    http_resp_free(&next);
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(keepalive_reuse)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);
    write_numbered_files(&s);

    int fd = conn_open(s.port);
    for (int i = 0; i < 12; i++) {
        const char *target = i % 3 == 0 ? "/" : i % 3 == 1 ? "/1.txt" : "/3.txt";
        request_on(fd, "GET", target, &r);
        ck_assert_msg(r.status == 200, "request %d (%s): status %d", i, target, r.status);
        http_assert_body(&r, i % 3 == 0 ? SRV_INDEX_HTML : i % 3 == 1 ? "one\n" : "three\n", NULL);
        ck_assert_msg(!http_says_close(&r), "request %d: Connection: close on HTTP/1.1", i);
        http_resp_free(&r);
    }
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(connection_close_header)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, SRV_INDEX_HTML, NULL);
    http_assert_header(&r, "Connection", "close");
    ck_assert_msg(conn_wait_closed(fd, 5000), "server kept a Connection: close connection open");
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(http10_closes_by_default)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.0\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, SRV_INDEX_HTML, NULL);
    ck_assert_msg(conn_wait_closed(fd, 5000), "HTTP/1.0 without keep-alive: connection not closed");
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(http10_keepalive_on_request)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);
    write_numbered_files(&s);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, SRV_INDEX_HTML, NULL);
    ck_assert_msg(!http_says_close(&r), "HTTP/1.0 keep-alive answered with Connection: close");
    http_resp_free(&r);
    conn_sendstr(fd, "GET /2.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "two\n", NULL);
    http_resp_free(&r);
    /* The last one without keep-alive: the server closes after it. */
    conn_sendstr(fd, "GET /3.txt HTTP/1.0\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "three\n", NULL);
    ck_assert(conn_wait_closed(fd, 5000));
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(pipelined_in_order)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);
    write_numbered_files(&s);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /1.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /2.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /3.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    const char *want[] = {"one\n", "two\n", "three\n"};
    for (int i = 0; i < 3; i++) {
        http_read_response(fd, &r, 0);
        ck_assert_msg(r.status == 200, "response %d: status %d", i, r.status);
        http_assert_body(&r, want[i], NULL);
        http_resp_free(&r);
    }

    /* Mixed: a HEAD and a 404 in the middle keep their places and framing. */
    conn_sendstr(fd, "GET /1.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                     "HEAD /2.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /missing.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /3.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "one\n", NULL);
    http_resp_free(&r);
    http_read_response(fd, &r, HTTP_NO_BODY);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Content-Length", "4");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 404);
    http_resp_free(&r);
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "three\n", NULL);
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

START_TEST(method_not_allowed)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);

    const char *methods[] = {"POST", "PUT", "DELETE"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        char req[256];
        snprintf(req, sizeof(req),
                 "%s / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                 methods[i]);
        int fd = conn_open(s.port);
        conn_sendstr(fd, req);
        http_read_response(fd, &r, 0);
        ck_assert_msg(r.status == 405, "%s /: status %d, want 405", methods[i], r.status);
        http_assert_header(&r, "Allow", "GET, HEAD, OPTIONS");
        http_resp_free(&r);
        close(fd);
    }
    srv_stop(&s);
}
END_TEST

START_TEST(bad_request_closes)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);

    static const char tls_hello[] = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03";
    const struct {
        const char *what;
        const char *data;
        size_t len;
    } cases[] = {
        {"garbage request line", "hello world\r\n\r\n", 0},
        {"TLS ClientHello", tls_hello, sizeof(tls_hello) - 1},
        {"header line without colon", "GET / HTTP/1.1\r\nHost: t\r\nbad header line\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = conn_open(s.port);
        conn_send(fd, cases[i].data, cases[i].len ? cases[i].len : strlen(cases[i].data));
        int rc = http_try_read(fd, &r, 0);
        ck_assert_msg(rc == 0, "%s: %s", cases[i].what, r.err);
        ck_assert_msg(r.status == 400, "%s: status %d, want 400", cases[i].what, r.status);
        const char *c = http_header(&r, "Connection");
        ck_assert_msg(c != NULL && strcasecmp(c, "close") == 0, "%s: Connection: %s", cases[i].what,
                      c ? c : "(none)");
        ck_assert_msg(conn_wait_closed(fd, 5000), "%s: connection left open after 400",
                      cases[i].what);
        http_resp_free(&r);
        close(fd);
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
        ck_assert_msg(st == 400 || st == 404, "GET %s: status %d, want 400 or 404", targets[i], st);
        ck_assert_msg(r.body == NULL || strstr(r.body, "TOP SECRET") == NULL,
                      "GET %s served the secret", targets[i]);
        http_resp_free(&r);
    }
    srv_stop(&s);
}
END_TEST

START_TEST(symlink_out_of_root_refused)
{
    struct srv s;
    struct http_resp r;
    char path[SRV_PATH_MAX], link[SRV_PATH_MAX * 2];
    srv_start(&s, NULL);
    write_file(srv_path(&s, "secret.txt", path, sizeof(path)), SECRET, strlen(SECRET));

    snprintf(link, sizeof(link), "%s/rel-escape.txt", s.root);
    ck_assert_int_eq(symlink("../secret.txt", link), 0);
    snprintf(link, sizeof(link), "%s/abs-escape.txt", s.root);
    ck_assert_int_eq(symlink(path, link), 0);
    snprintf(link, sizeof(link), "%s/updir", s.root);
    ck_assert_int_eq(symlink("..", link), 0);

    const char *targets[] = {"/rel-escape.txt", "/abs-escape.txt", "/updir/secret.txt"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        int st = http_simple(s.port, "GET", targets[i], &r);
        ck_assert_msg(st == 404, "GET %s (symlink out of root): status %d, want 404", targets[i],
                      st);
        ck_assert_msg(r.body == NULL || strstr(r.body, "TOP SECRET") == NULL,
                      "GET %s served the secret", targets[i]);
        http_resp_free(&r);
    }
    srv_stop(&s);
}
END_TEST

START_TEST(symlink_inside_root_served)
{
    struct srv s;
    struct http_resp r;
    char link[SRV_PATH_MAX * 2];
    srv_start(&s, NULL);
    write_numbered_files(&s);
    snprintf(link, sizeof(link), "%s/one-link.txt", s.root);
    ck_assert_int_eq(symlink("1.txt", link), 0);

    ck_assert_int_eq(http_simple(s.port, "GET", "/one-link.txt", &r), 200);
    http_assert_body(&r, "one\n", NULL);
    http_resp_free(&r);
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

static void
assert_location_suffix(const struct http_resp *r, const char *suffix)
{
    const char *loc = http_header(r, "Location");
    ck_assert_msg(loc != NULL, "301 without Location");
    size_t ll = strlen(loc), sl = strlen(suffix);
    ck_assert_msg(ll >= sl && strcmp(loc + ll - sl, suffix) == 0,
                  "Location '%s' does not end in '%s'", loc, suffix);
}

START_TEST(directory_redirect)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);
    srv_write_file(&s, "sub/index.html", "sub\n", 4);

    ck_assert_int_eq(http_simple(s.port, "GET", "/sub", &r), 301);
    assert_location_suffix(&r, "/sub/");
    http_resp_free(&r);
    ck_assert_int_eq(http_simple(s.port, "GET", "/sub?x=1&y=2", &r), 301);
    assert_location_suffix(&r, "/sub/?x=1&y=2");
    http_resp_free(&r);
    ck_assert_int_eq(http_simple(s.port, "HEAD", "/sub", &r), 301);
    assert_location_suffix(&r, "/sub/");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

START_TEST(big_file_byte_exact)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);
    write_numbered_files(&s);

    unsigned char *big = malloc(BIG_SIZE);
    ck_assert_ptr_nonnull(big);
    uint32_t x = 2463534242u; /* xorshift32: incompressible, no repeating period to hide offsets */
    for (size_t i = 0; i < BIG_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big[i] = (unsigned char)x;
    }
    srv_write_file(&s, "big.bin", big, BIG_SIZE);

    int fd = conn_open(s.port);
    request_on(fd, "GET", "/big.bin", &r);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Content-Length", "1048576");
    ck_assert_uint_eq(r.body_len, BIG_SIZE);
    if (memcmp(r.body, big, BIG_SIZE) != 0) {
        size_t i = 0;
        while (r.body[i] == (char)big[i])
            i++;
        ck_abort_msg("1 MiB body differs from the file at offset %zu", i);
    }
    http_resp_free(&r);
    /* The connection is still in step after a sendfile transfer. */
    request_on(fd, "HEAD", "/big.bin", &r);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Content-Length", "1048576");
    request_on(fd, "GET", "/2.txt", &r);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, "two\n", NULL);
    http_resp_free(&r);
    close(fd);
    free(big);
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

/* Framing a proxy in front could read differently is refused outright (DESIGN.md: 400 + close). */
START_TEST(ambiguous_framing_rejected)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);

    const struct {
        const char *what;
        const char *req;
    } cases[] = {
        {"Content-Length with Transfer-Encoding",
         "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        {"two different Content-Lengths",
         "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
        {"obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n"},
        /* GET: a body the static handler reads (and drops), so its framing is parsed. A POST
         * is answered 405 from its header alone and its body is never parsed. */
        {"bad chunk size",
         "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = conn_open(s.port);
        conn_sendstr(fd, cases[i].req);
        int rc = http_try_read(fd, &r, 0);
        ck_assert_msg(rc == 0, "%s: %s", cases[i].what, r.err);
        ck_assert_msg(r.status == 400, "%s: status %d, want 400", cases[i].what, r.status);
        ck_assert_msg(conn_wait_closed(fd, 5000), "%s: connection left open after 400",
                      cases[i].what);
        http_resp_free(&r);
        close(fd);
    }
    srv_stop(&s);
}
END_TEST

/* A body sent with GET is read and dropped, and the connection stays in step; a body the
 * route refuses (POST to static files) gets 405 from the header alone, then a close. */
START_TEST(refused_body_skipped_on_keepalive)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                     "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n0\r\n\r\n"
                     "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                     "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 2; i++) {
        http_read_response(fd, &r, 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert(!http_says_close(&r));
        http_assert_body(&r, SRV_INDEX_HTML, NULL);
        http_resp_free(&r);
    }
    http_expect_final(fd, 405, 5000, "POST after two GETs with bodies");
    close(fd);
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
    struct http_resp r;
    srv_start(&s, "header_timeout = 400ms");

    /* Half a header section: answered 408 (or just closed) once header_timeout passes. */
    int fd = conn_open(s.port);
    int64_t t0 = now_ms();
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\n");
    if (http_try_read(fd, &r, 0) == 0) {
        ck_assert_msg(r.status == 408, "partial header: status %d, want 408", r.status);
        http_resp_free(&r);
    }
    assert_closed_after(fd, t0, 400, "partial header");
    close(fd);

    /* A connection that never sends a byte. */
    fd = conn_open(s.port);
    assert_closed_after(fd, now_ms(), 400, "silent connection");
    close(fd);
    srv_stop(&s);
}
END_TEST

START_TEST(keepalive_timeout_closes)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, "keepalive_timeout = 500ms");

    int fd = conn_open(s.port);
    request_on(fd, "GET", "/", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(!http_says_close(&r));
    http_resp_free(&r);
    assert_closed_after(fd, now_ms(), 500, "idle keep-alive");
    close(fd);

    /* keepalive_timeout = 0 disables keep-alive: every response closes. */
    srv_stop(&s);
    srv_start(&s, "keepalive_timeout = 0");
    fd = conn_open(s.port);
    request_on(fd, "GET", "/", &r);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Connection", "close");
    ck_assert(conn_wait_closed(fd, 5000));
    http_resp_free(&r);
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

/* At max_connections a worker stops accepting; the kernel backlog holds the next connection
 * until a slot frees up, and then it is served. */
START_TEST(max_connections_holds_the_rest)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, "workers = 1\nmax_connections = 2");

    int held[2];
    for (int i = 0; i < 2; i++) { /* two keep-alive connections, surely accepted */
        held[i] = conn_open(s.port);
        request_on(held[i], "GET", "/", &r);
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
    }
    int fd = conn_open(s.port); /* completes in the kernel backlog */
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_msg(poll(&pfd, 1, 300) == 0, "third connection answered over max_connections = 2");

    close(held[0]);
    http_read_response(fd, &r, 0); /* served once a slot is free */
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, SRV_INDEX_HTML, NULL);
    http_resp_free(&r);
    close(fd);
    close(held[1]);
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
    tcase_add_test(tc, head_same_headers_no_body);
    tcase_add_test(tc, keepalive_reuse);
    tcase_add_test(tc, connection_close_header);
    tcase_add_test(tc, http10_closes_by_default);
    tcase_add_test(tc, http10_keepalive_on_request);
    tcase_add_test(tc, pipelined_in_order);
    tcase_add_test(tc, not_found);
    tcase_add_test(tc, method_not_allowed);
    tcase_add_test(tc, bad_request_closes);
    tcase_add_test(tc, dotdot_never_escapes);
    tcase_add_test(tc, symlink_out_of_root_refused);
    tcase_add_test(tc, symlink_inside_root_served);
    tcase_add_test(tc, directory_index);
    tcase_add_test(tc, directory_redirect);
    tcase_add_test(tc, big_file_byte_exact);
    tcase_add_test(tc, empty_file);
    tcase_add_test(tc, percent_encoded_names);
    tcase_add_test(tc, ambiguous_framing_rejected);
    tcase_add_test(tc, refused_body_skipped_on_keepalive);
    tcase_add_test(tc, header_timeout_closes);
    tcase_add_test(tc, keepalive_timeout_closes);
    tcase_add_test(tc, several_listeners);
    tcase_add_test(tc, max_connections_holds_the_rest);
    suite_add_tcase(s, tc);
    return s;
}
