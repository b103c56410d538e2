/* Integration tests of static-file serving: confinement (traversal, symlinks, dot-files),
 * directories (redirects, 403, autoindex), validators and conditional requests, methods
 * (HEAD parity, OPTIONS, 405) and gzip_static negotiation. A real sluice, raw sockets. Ranges
 * are in test_ranges.c, content types in test_mime.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECRET "SLUICE-SECRET-7f3a9c: must never be served"
#define MTIME ((time_t)1700000000) /* Tue, 14 Nov 2023 22:13:20 GMT */
#define DAY 86400

/* ---- helpers ---- */

/* GET `target` must be `status`; for 200, the body must be `body`. */
static void
expect_get(int port, const char *target, int status, const char *body)
{
    struct http_resp r;
    int st = http_fetch(port, "GET", target, NULL, &r);
    ck_assert_msg(st == status, "GET %s: status %d, want %d", target, st, status);
    if (body)
        http_assert_body(&r, body, NULL);
    http_resp_free(&r);
}

static void
root_symlink(const struct srv *s, const char *target, const char *rel)
{
    char link[SRV_PATH_MAX * 2];
    snprintf(link, sizeof(link), "%s/%s", s->root, rel);
    ck_assert_msg(symlink(target, link) == 0, "symlink %s -> %s failed", link, target);
}

/* ---- confinement ---- */

/* A secret next to the root, and every way of reaching for it from inside: a `..` that would
 * climb above the root is 400; anything else finds nothing (404). The secret never appears. */
START_TEST(traversal_never_reaches_secret)
{
    struct srv s;
    char path[SRV_PATH_MAX];
    srv_start(&s, NULL);
    write_file(srv_path(&s, "secret.txt", path, sizeof(path)), SECRET, strlen(SECRET));
    srv_write_file(&s, "sub/page.txt", "page\n", 5);
    root_symlink(&s, "../secret.txt", "leak.txt");
    root_symlink(&s, path, "absleak.txt");
    root_symlink(&s, "..", "updir");
    root_symlink(&s, "../../../../../../../..", "farup");

    static const struct {
        const char *target;
        int status; /* exactly: a backslash is no separator, so "..\\x" is a name, never found */
    } cases[] = {
        {"/../secret.txt", 400},
        {"/%2e%2e/secret.txt", 400},
        {"/%2E%2E/secret.txt", 400},
        {"/.%2e/secret.txt", 400},
        {"/%2e%2e%2fsecret.txt", 400},
        {"/sub/..%2f..%2fsecret.txt", 400},
        {"/sub/../../secret.txt", 400},
        {"/./../secret.txt", 400},
        {"//../secret.txt", 400},
        {"/..", 400},
        {"/%252e%252e/secret.txt", 404},
        {"/%252e%252e%252fsecret.txt", 404},
        {"/..%5csecret.txt", 404},
        {"/..\\secret.txt", 404},
        {"/sub\\..\\..\\secret.txt", 404},
        {"/....//secret.txt", 404},
        {"/..;/secret.txt", 404},
        {"/leak.txt", 404},
        {"/absleak.txt", 404},
        {"/updir/secret.txt", 404},
        {"/updir/www/leak.txt", 404},
        {"/farup/etc/passwd", 404},
        {"http://127.0.0.1/../secret.txt", 400},
        {"http://x/%2e%2e/secret.txt", 400},
        {"http://x/leak.txt", 404},
    };
    /* fetch reads the answer by its Content-Length and checks nothing follows it, so the body
     * is all there is to search. */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_resp r;
        int st = http_fetch(s.port, "GET", cases[i].target, NULL, &r);
        ck_assert_msg(r.body == NULL || memmem(r.body, r.body_len, "SLUICE-SECRET", 13) == NULL,
                      "GET %s served the secret (status %d)", cases[i].target, st);
        ck_assert_msg(st == cases[i].status, "GET %s: status %d, want %d", cases[i].target, st,
                      cases[i].status);
        http_resp_free(&r);
    }
    expect_get(s.port, "/sub/page.txt", 200, "page\n"); /* still serving */
    srv_stop(&s);
}
END_TEST

static void
symlink_tree(const struct srv *s)
{
    srv_write_file(s, "real.txt", "real\n", 5);
    srv_write_file(s, "sub/x.txt", "x\n", 2);
    root_symlink(s, "real.txt", "inlink.txt");
    root_symlink(s, "../real.txt", "sub/uplink.txt");
    root_symlink(s, "sub", "dirlink");
}

START_TEST(symlinks_inside_followed_by_default)
{
    struct srv s;
    srv_init(&s);
    symlink_tree(&s);
    srv_write_config(&s, NULL);
    srv_spawn(&s);
    expect_get(s.port, "/real.txt", 200, "real\n");
    expect_get(s.port, "/inlink.txt", 200, "real\n");
    expect_get(s.port, "/sub/uplink.txt", 200, "real\n");
    expect_get(s.port, "/dirlink/x.txt", 200, "x\n");
    srv_stop(&s);
}
END_TEST

START_TEST(symlinks_refused_when_off)
{
    struct srv s;
    srv_init(&s);
    symlink_tree(&s);
    srv_write_config(&s, "follow_symlinks = off\n");
    srv_spawn(&s);
    expect_get(s.port, "/real.txt", 200, "real\n");
    expect_get(s.port, "/sub/x.txt", 200, "x\n");
    expect_get(s.port, "/inlink.txt", 404, NULL);
    expect_get(s.port, "/sub/uplink.txt", 404, NULL);
    expect_get(s.port, "/dirlink/x.txt", 404, NULL);
    srv_stop(&s);
}
END_TEST

static void
dotfile_tree(const struct srv *s)
{
    srv_write_file(s, ".env", "SECRET=1\n", 9);
    srv_write_file(s, ".git/config", "[core]\n", 7);
    srv_write_file(s, "a/.hidden", "hidden\n", 7);
    srv_write_file(s, "a/visible.txt", "visible\n", 8);
    srv_write_file(s, ".well-known/x", "wk\n", 3);
}

START_TEST(dotfiles_hidden_by_default)
{
    struct srv s;
    srv_init(&s);
    dotfile_tree(&s);
    srv_write_config(&s, NULL);
    srv_spawn(&s);
    expect_get(s.port, "/.env", 404, NULL);
    expect_get(s.port, "/%2eenv", 404, NULL);
    expect_get(s.port, "/.git/config", 404, NULL);
    expect_get(s.port, "/.git/", 404, NULL);
    expect_get(s.port, "/a/.hidden", 404, NULL);
    expect_get(s.port, "/a/visible.txt", 200, "visible\n");
    expect_get(s.port, "/.well-known/x", 200, "wk\n");
    srv_stop(&s);
}
END_TEST

START_TEST(dotfiles_served_when_on)
{
    struct srv s;
    srv_init(&s);
    dotfile_tree(&s);
    srv_write_config(&s, "serve_dotfiles = on\n");
    srv_spawn(&s);
    expect_get(s.port, "/.env", 200, "SECRET=1\n");
    expect_get(s.port, "/.git/config", 200, "[core]\n");
    expect_get(s.port, "/a/.hidden", 200, "hidden\n");
    expect_get(s.port, "/.well-known/x", 200, "wk\n");
    srv_stop(&s);
}
END_TEST

/* ---- directories ---- */

START_TEST(directory_redirect_keeps_query)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);
    srv_write_file(&s, "dir/index.html", "dir index\n", 10);
    srv_write_file(&s, "my dir/index.html", "spaced\n", 7);

    static const struct {
        const char *target, *location;
    } cases[] = {
        {"/dir", "/dir/"},
        {"/dir?x=1", "/dir/?x=1"},
        {"/dir?a=1&b=%20c", "/dir/?a=1&b=%20c"},
        {"/my%20dir?q", "/my%20dir/?q"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(http_fetch(s.port, "GET", cases[i].target, NULL, &r), 301);
        const char *loc = http_header(&r, "Location");
        ck_assert_msg(loc != NULL, "GET %s: 301 without Location", cases[i].target);
        /* An absolute URI is as good as the path: compare the path part. */
        const char *p = strncmp(loc, "http://", 7) == 0 ? strchr(loc + 7, '/') : loc;
        ck_assert_msg(p != NULL && strcmp(p, cases[i].location) == 0,
                      "GET %s: Location '%s', want '%s'", cases[i].target, loc, cases[i].location);
        http_resp_free(&r);
    }
    expect_get(s.port, "/dir/", 200, "dir index\n");
    expect_get(s.port, "/dir/?x=1", 200, "dir index\n");
    srv_stop(&s);
}
END_TEST

START_TEST(directory_without_index_or_not_a_file_forbidden)
{
    struct srv s;
    srv_start(&s, NULL);
    srv_write_file(&s, "noindex/a.txt", "a\n", 2);
    expect_get(s.port, "/noindex/", 403, NULL);
    /* Only regular files and directories: a FIFO is a 403 (and does not block the worker). */
    char fifo[SRV_PATH_MAX * 2];
    snprintf(fifo, sizeof(fifo), "%s/noindex/pipe", s.root);
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    expect_get(s.port, "/noindex/pipe", 403, NULL);
    expect_get(s.port, "/noindex/a.txt", 200, "a\n");
    srv_stop(&s);
}
END_TEST

static const char *
find_or_fail(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    ck_assert_msg(p != NULL, "listing lacks '%s':\n%s", needle, hay);
    return p;
}

START_TEST(autoindex_listing)
{
    struct srv s;
    struct http_resp r;
    char big[12345];
    memset(big, 'z', sizeof(big));
    srv_init(&s);
    srv_write_file(&s, "list/b.txt", "bbb", 3);
    srv_write_file(&s, "list/a.txt", big, sizeof(big));
    srv_write_file(&s, "list/<b>&\"x.txt", "escaped", 7);
    srv_write_file(&s, "list/sp ace.txt", "sp", 2);
    srv_write_file(&s, "list/.hidden", "h", 1);
    srv_write_file(&s, "list/zsub/f.txt", "f", 1);
    srv_write_config(&s, "autoindex = on\n");
    srv_spawn(&s);

    ck_assert_int_eq(http_fetch(s.port, "GET", "/list", NULL, &r), 301);
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/list/", NULL, &r), 200);
    const char *ct = http_header(&r, "Content-Type");
    ck_assert_msg(ct && strncmp(ct, "text/html", 9) == 0, "Content-Type %s", ct ? ct : "-");
    const char *html = r.body;
    ck_assert_ptr_nonnull(html);

    /* Names escaped as text, percent-encoded in hrefs; the raw name never appears. */
    ck_assert_msg(strstr(html, "<b>&\"x.txt") == NULL, "unescaped name in:\n%s", html);
    const char *p_esc = find_or_fail(html, "&lt;b&gt;&amp;&quot;x.txt");
    const char *p_esc_href = find_or_fail(html, "href=\"%3Cb%3E%26%22x.txt\"");
    const char *p_a = find_or_fail(html, "href=\"a.txt\"");
    const char *p_b = find_or_fail(html, "href=\"b.txt\"");
    const char *p_sp = find_or_fail(html, "href=\"sp%20ace.txt\"");
    find_or_fail(html, "sp ace.txt");
    const char *p_dir = find_or_fail(html, "href=\"zsub/\"");
    ck_assert_msg(strstr(html, ".hidden") == NULL, "dot-file listed:\n%s", html);

    /* Sizes. */
    find_or_fail(p_a, "12345");
    find_or_fail(p_b, ">3<");
    /* Sorted by name (bytewise: '<' < 'a' < 'b' < 's'). */
    ck_assert_msg(p_esc_href < p_a && p_a < p_b && p_b < p_sp, "files not sorted:\n%s", html);
    ck_assert_msg(p_dir < p_esc_href, "directories not listed first:\n%s", html);
    ck_assert_msg(p_esc_href < p_esc, "href after its text");
    http_resp_free(&r);

    /* The links work. */
    expect_get(s.port, "/list/%3Cb%3E%26%22x.txt", 200, "escaped");
    expect_get(s.port, "/list/sp%20ace.txt", 200, "sp");
    srv_stop(&s);
}
END_TEST

/* ---- validators and conditional requests ---- */

struct validators {
    char etag[128];
    char imf[64], rfc850[64], asctime[64]; /* the mtime in the three formats */
    char imf_past[64], imf_future[64];     /* a day before / after */
    char rfc850_past[64], asctime_past[64];
};

static void
date_formats(time_t t, char *imf, char *rfc850, char *asc)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(imf, 64, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (rfc850)
        strftime(rfc850, 64, "%A, %d-%b-%y %H:%M:%S GMT", &tm);
    if (asc)
        strftime(asc, 64, "%a %b %e %H:%M:%S %Y", &tm);
}

/* v.txt with a known mtime; its ETag and the dates around it. */
static void
validators_setup(struct srv *s, struct validators *v)
{
    struct http_resp r;
    srv_start(s, NULL);
    srv_write_file(s, "v.txt", "validated body\n", 15);
    srv_set_mtime(s, "v.txt", MTIME, 123456789);
    date_formats(MTIME, v->imf, v->rfc850, v->asctime);
    date_formats(MTIME - DAY, v->imf_past, v->rfc850_past, v->asctime_past);
    date_formats(MTIME + DAY, v->imf_future, NULL, NULL);

    ck_assert_int_eq(http_fetch(s->port, "GET", "/v.txt", NULL, &r), 200);
    const char *etag = http_header(&r, "ETag");
    ck_assert_msg(etag != NULL && strlen(etag) >= 2 && etag[0] == '"' &&
                      etag[strlen(etag) - 1] == '"',
                  "ETag '%s' is not a strong quoted tag", etag ? etag : "(none)");
    snprintf(v->etag, sizeof(v->etag), "%s", etag);
    http_assert_header(&r, "Last-Modified", v->imf);
    http_resp_free(&r);
}

/* GET (or HEAD) /v.txt with `headers`; the status must be `want`. A 304 carries the ETag and no
 * body (fetch checks that nothing follows the header block). */
static void
expect_cond(const struct srv *s, const struct validators *v, const char *method,
            const char *headers, int want)
{
    struct http_resp r;
    int st = http_fetch(s->port, method, "/v.txt", headers, &r);
    ck_assert_msg(st == want, "%s /v.txt with [%s]: status %d, want %d", method, headers, st, want);
    if (st == 304) {
        http_assert_header(&r, "ETag", v->etag);
        http_assert_header(&r, "Last-Modified", v->imf);
        ck_assert_msg(r.body_len == 0, "304 with a body");
    }
    if (st == 200 && strcmp(method, "GET") == 0)
        http_assert_body(&r, "validated body\n", NULL);
    http_resp_free(&r);
}

START_TEST(if_none_match)
{
    struct srv s;
    struct validators v;
    char h[512];
    validators_setup(&s, &v);

    snprintf(h, sizeof(h), "If-None-Match: %s\r\n", v.etag);
    expect_cond(&s, &v, "GET", h, 304);
    expect_cond(&s, &v, "HEAD", h, 304);
    snprintf(h, sizeof(h), "If-None-Match: \"nope\", \"other\", %s\r\n", v.etag);
    expect_cond(&s, &v, "GET", h, 304);
    snprintf(h, sizeof(h), "If-None-Match: \"nope\",%s\r\n", v.etag);
    expect_cond(&s, &v, "GET", h, 304);
    snprintf(h, sizeof(h), "If-None-Match: W/%s\r\n", v.etag);
    expect_cond(&s, &v, "GET", h, 304);
    expect_cond(&s, &v, "GET", "If-None-Match: *\r\n", 304);
    expect_cond(&s, &v, "GET", "If-None-Match: \"nope\"\r\n", 200);
    expect_cond(&s, &v, "GET", "If-None-Match: \"nope\", W/\"other\"\r\n", 200);
    srv_stop(&s);
}
END_TEST

START_TEST(if_modified_since_three_formats)
{
    struct srv s;
    struct validators v;
    char h[512];
    validators_setup(&s, &v);

    const char *same[] = {v.imf, v.rfc850, v.asctime};
    for (int i = 0; i < 3; i++) {
        snprintf(h, sizeof(h), "If-Modified-Since: %s\r\n", same[i]);
        expect_cond(&s, &v, "GET", h, 304);
    }
    snprintf(h, sizeof(h), "If-Modified-Since: %s\r\n", v.imf_future);
    expect_cond(&s, &v, "GET", h, 304);
    expect_cond(&s, &v, "HEAD", h, 304);
    /* Modified after the date: the full body. */
    const char *past[] = {v.imf_past, v.rfc850_past, v.asctime_past};
    for (int i = 0; i < 3; i++) {
        snprintf(h, sizeof(h), "If-Modified-Since: %s\r\n", past[i]);
        expect_cond(&s, &v, "GET", h, 200);
    }
    /* An invalid date makes the field ignored. */
    expect_cond(&s, &v, "GET", "If-Modified-Since: yesterday\r\n", 200);
    expect_cond(&s, &v, "GET", "If-Modified-Since: Tue, 14 Nov 2023 22:13:20\r\n", 200);
    srv_stop(&s);
}
END_TEST

START_TEST(if_match_and_unmodified_since)
{
    struct srv s;
    struct validators v;
    char h[512];
    validators_setup(&s, &v);

    expect_cond(&s, &v, "GET", "If-Match: \"nope\"\r\n", 412);
    expect_cond(&s, &v, "HEAD", "If-Match: \"nope\"\r\n", 412);
    snprintf(h, sizeof(h), "If-Match: %s\r\n", v.etag);
    expect_cond(&s, &v, "GET", h, 200);
    snprintf(h, sizeof(h), "If-Match: \"nope\", %s\r\n", v.etag);
    expect_cond(&s, &v, "GET", h, 200);
    expect_cond(&s, &v, "GET", "If-Match: *\r\n", 200);
    snprintf(h, sizeof(h), "If-Match: W/%s\r\n", v.etag); /* strong comparison */
    expect_cond(&s, &v, "GET", h, 412);

    snprintf(h, sizeof(h), "If-Unmodified-Since: %s\r\n", v.imf_past);
    expect_cond(&s, &v, "GET", h, 412);
    snprintf(h, sizeof(h), "If-Unmodified-Since: %s\r\n", v.rfc850_past);
    expect_cond(&s, &v, "GET", h, 412);
    snprintf(h, sizeof(h), "If-Unmodified-Since: %s\r\n", v.imf);
    expect_cond(&s, &v, "GET", h, 200);
    snprintf(h, sizeof(h), "If-Unmodified-Since: %s\r\n", v.imf_future);
    expect_cond(&s, &v, "GET", h, 200);
    /* If-Match present: If-Unmodified-Since is not evaluated (RFC 9110 13.2.2). */
    snprintf(h, sizeof(h), "If-Match: %s\r\nIf-Unmodified-Since: %s\r\n", v.etag, v.imf_past);
    expect_cond(&s, &v, "GET", h, 200);
    srv_stop(&s);
}
END_TEST

START_TEST(precondition_precedence)
{
    struct srv s;
    struct validators v;
    char h[512];
    validators_setup(&s, &v);

    /* If-None-Match present: If-Modified-Since is ignored, both ways. */
    snprintf(h, sizeof(h), "If-None-Match: \"nope\"\r\nIf-Modified-Since: %s\r\n", v.imf_future);
    expect_cond(&s, &v, "GET", h, 200);
    snprintf(h, sizeof(h), "If-Modified-Since: %s\r\nIf-None-Match: %s\r\n", v.imf_past, v.etag);
    expect_cond(&s, &v, "GET", h, 304);
    /* If-Match is evaluated before If-None-Match. */
    snprintf(h, sizeof(h), "If-Match: \"nope\"\r\nIf-None-Match: %s\r\n", v.etag);
    expect_cond(&s, &v, "GET", h, 412);
    /* If-Unmodified-Since fails before If-None-Match could give 304. */
    snprintf(h, sizeof(h), "If-Unmodified-Since: %s\r\nIf-None-Match: %s\r\n", v.imf_past, v.etag);
    expect_cond(&s, &v, "GET", h, 412);
    srv_stop(&s);
}
END_TEST

/* ---- methods ---- */

/* GET then HEAD of `target` on one keep-alive connection: same status, the same header fields
 * in the same order with the same values (Date aside), and no body after the HEAD answer (the
 * next response on the connection parses). */
static void
expect_head_parity(int port, const char *target, const char *headers)
{
    struct http_resp get, head, next;
    char req[2048];
    int fd = conn_open(port);
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", target,
             headers ? headers : "");
    conn_sendstr(fd, req);
    http_read_response(fd, &get, 0);
    snprintf(req, sizeof(req), "HEAD %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", target,
             headers ? headers : "");
    conn_sendstr(fd, req);
    http_read_response(fd, &head, HTTP_NO_BODY);

    ck_assert_msg(get.status == head.status, "%s: GET %d, HEAD %d", target, get.status,
                  head.status);
    int gi = 0, hi = 0;
    for (;;) {
        while (gi < get.nhdr && strcasecmp(get.hdr[gi].name, "Date") == 0)
            gi++;
        while (hi < head.nhdr && strcasecmp(head.hdr[hi].name, "Date") == 0)
            hi++;
        if (gi == get.nhdr || hi == head.nhdr)
            break;
        ck_assert_msg(strcasecmp(get.hdr[gi].name, head.hdr[hi].name) == 0 &&
                          strcmp(get.hdr[gi].value, head.hdr[hi].value) == 0,
                      "%s: GET has '%s: %s' where HEAD has '%s: %s'", target, get.hdr[gi].name,
                      get.hdr[gi].value, head.hdr[hi].name, head.hdr[hi].value);
        gi++;
        hi++;
    }
    ck_assert_msg(gi == get.nhdr && hi == head.nhdr, "%s: GET has %d fields, HEAD %d", target,
                  get.nhdr, head.nhdr);
    ck_assert(http_header(&head, "Date") != NULL);

    /* Still in step: a HEAD body would be read here as the next status line. */
    conn_sendstr(fd, "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    http_read_response(fd, &next, 0);
    ck_assert_msg(next.status == 200, "%s: request after HEAD got %d", target, next.status);
    http_resp_free(&get);
    http_resp_free(&head);
    http_resp_free(&next);
    close(fd);
}

START_TEST(head_same_headers_as_get)
{
    struct srv s;
    char h[256];
    srv_init(&s);
    srv_write_file(&s, "h.txt", "head parity body\n", 17);
    srv_write_file(&s, "h.css", "body{}\n", 7);
    srv_write_file(&s, "dir/index.html", "idx\n", 4);
    srv_write_file(&s, "list/f.txt", "f\n", 2);
    srv_write_config(&s, "autoindex = on\n");
    srv_spawn(&s);

    expect_head_parity(s.port, "/h.txt", NULL);
    expect_head_parity(s.port, "/h.css", NULL);
    expect_head_parity(s.port, "/dir/", NULL);
    expect_head_parity(s.port, "/dir?x=1", NULL);                   /* 301 */
    expect_head_parity(s.port, "/missing", NULL);                   /* 404 */
    expect_head_parity(s.port, "/list/", NULL);                     /* autoindex */
    expect_head_parity(s.port, "/h.txt", "If-Match: \"nope\"\r\n"); /* 412 */

    struct http_resp r;
    ck_assert_int_eq(http_fetch(s.port, "GET", "/h.txt", NULL, &r), 200);
    snprintf(h, sizeof(h), "If-None-Match: %s\r\n", http_header(&r, "ETag"));
    http_resp_free(&r);
    expect_head_parity(s.port, "/h.txt", h); /* 304 */
    srv_stop(&s);
}
END_TEST

/* Exactly the Allow the README documents for the static handler. */
static void
assert_allow_get_head(const struct http_resp *r, const char *what)
{
    const char *allow = http_header(r, "Allow");
    ck_assert_msg(allow != NULL && strcmp(allow, "GET, HEAD, OPTIONS") == 0,
                  "%s: Allow '%s', want 'GET, HEAD, OPTIONS'", what, allow ? allow : "(none)");
}

START_TEST(options_and_other_methods)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL);
    srv_write_file(&s, "m.txt", "methods\n", 8);

    ck_assert_int_eq(http_fetch(s.port, "OPTIONS", "/m.txt", NULL, &r), 200);
    assert_allow_get_head(&r, "OPTIONS /m.txt");
    ck_assert_uint_eq(r.body_len, 0);
    http_resp_free(&r);

    ck_assert_int_eq(http_fetch(s.port, "POST", "/m.txt", "Content-Length: 0\r\n", &r), 405);
    assert_allow_get_head(&r, "POST /m.txt");
    http_resp_free(&r);

    /* A refused POST is answered from its header: 405 and close, the body never read and
     * the request behind it never answered. */
    int fd = conn_open(s.port);
    conn_sendstr(fd, "POST /m.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello"
                     "GET /m.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    http_expect_final(fd, 405, 5000, "POST /m.txt with a body");
    close(fd);

    static const char *const others[] = {"PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        ck_assert_msg(http_fetch(s.port, others[i], "/m.txt", "Content-Length: 0\r\n", &r) == 405,
                      "%s /m.txt: %d, want 405", others[i], r.status);
        assert_allow_get_head(&r, others[i]);
        http_resp_free(&r);
    }
    srv_stop(&s);
}
END_TEST

/* ---- gzip_static ---- */

static void
gzip_tree(struct srv *s, const char *cfg)
{
    srv_init(s);
    srv_write_file(s, "g.txt", "plain text of g\n", 16);
    srv_write_file(s, "g.txt.gz", "GZ-VARIANT-OF-G-0123456789\n", 27);
    srv_write_file(s, "g.txt.br", "BR-VARIANT\n", 11);
    srv_write_file(s, "h.css", "body { color: red }\n", 20);
    srv_write_file(s, "h.css.gz", "GZ-OF-H\n", 8);
    srv_write_file(s, "n.txt", "no variants\n", 12);
    srv_write_file(s, "d.txt", "dir variant\n", 12);
    srv_write_file(s, "d.txt.gz/x", "x", 1); /* a directory is no variant */
    srv_write_file(s, "leak.txt", "leak plain\n", 11);
    char secret[SRV_PATH_MAX];
    write_file(srv_path(s, "secret.txt", secret, sizeof(secret)), SECRET, strlen(SECRET));
    root_symlink(s, "../secret.txt", "leak.txt.gz"); /* a variant leading out of the root */
    srv_write_config(s, cfg);
    srv_spawn(s);
}

/* GET `target` with `Accept-Encoding: ae` (NULL: none): the body and Content-Encoding. */
static void
expect_coding(const struct srv *s, const char *target, const char *ae, const char *body,
              const char *coding, bool vary)
{
    struct http_resp r;
    char h[256] = "";
    if (ae)
        snprintf(h, sizeof(h), "Accept-Encoding: %s\r\n", ae);
    ck_assert_int_eq(http_fetch(s->port, "GET", target, h, &r), 200);
    const char *ce = http_header(&r, "Content-Encoding");
    ck_assert_msg(coding ? ce && strcmp(ce, coding) == 0 : ce == NULL,
                  "GET %s, Accept-Encoding %s: Content-Encoding %s, want %s", target,
                  ae ? ae : "(none)", ce ? ce : "(none)", coding ? coding : "(none)");
    http_assert_body(&r, body, NULL);
    const char *v = http_header(&r, "Vary");
    if (vary)
        ck_assert_msg(v && strcasestr(v, "Accept-Encoding"), "GET %s (%s): Vary %s", target,
                      ae ? ae : "-", v ? v : "(none)");
    else
        ck_assert_msg(v == NULL, "GET %s: Vary %s with gzip_static off", target, v);
    http_resp_free(&r);
}

START_TEST(gzip_static_negotiation)
{
    struct srv s;
    const char *G = "plain text of g\n", *GZ = "GZ-VARIANT-OF-G-0123456789\n", *BR = "BR-VARIANT\n";
    gzip_tree(&s, "gzip_static = on\n");

    expect_coding(&s, "/h.css", "gzip", "GZ-OF-H\n", "gzip", true);
    expect_coding(&s, "/h.css", "gzip, deflate", "GZ-OF-H\n", "gzip", true);
    expect_coding(&s, "/h.css", "GZIP;q=0.5", "GZ-OF-H\n", "gzip", true);
    expect_coding(&s, "/h.css", "gzip;q=0", "body { color: red }\n", NULL, true);
    expect_coding(&s, "/h.css", "gzip; q=0.000", "body { color: red }\n", NULL, true);
    expect_coding(&s, "/h.css", NULL, "body { color: red }\n", NULL, true);
    expect_coding(&s, "/h.css", "identity", "body { color: red }\n", NULL, true);
    expect_coding(&s, "/h.css", "br", "body { color: red }\n", NULL, true); /* no .br */
    expect_coding(&s, "/g.txt", "gzip, br", BR, "br", true);
    expect_coding(&s, "/g.txt", "br;q=0, gzip", GZ, "gzip", true);
    expect_coding(&s, "/g.txt", "gzip", GZ, "gzip", true);
    expect_coding(&s, "/g.txt", "*", BR, "br", true);
    expect_coding(&s, "/g.txt", "deflate", G, NULL, true);
    expect_coding(&s, "/n.txt", "gzip, br", "no variants\n", NULL, true);
    expect_coding(&s, "/d.txt", "gzip", "dir variant\n", NULL, true);
    expect_coding(&s, "/leak.txt", "gzip", "leak plain\n", NULL, true);
    expect_head_parity(s.port, "/g.txt", "Accept-Encoding: gzip\r\n");

    /* The type is the original's, not application/gzip. */
    struct http_resp r, plain;
    ck_assert_int_eq(http_fetch(s.port, "GET", "/h.css", "Accept-Encoding: gzip\r\n", &r), 200);
    http_assert_header(&r, "Content-Type", "text/css; charset=utf-8");
    http_assert_header(&r, "Content-Length", "8");
    http_resp_free(&r);

    /* Validators and ranges apply to the variant. */
    ck_assert_int_eq(http_fetch(s.port, "GET", "/g.txt", "Accept-Encoding: gzip\r\n", &r), 200);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/g.txt", NULL, &plain), 200);
    char gz_etag[128], h[512];
    snprintf(gz_etag, sizeof(gz_etag), "%s", http_header(&r, "ETag"));
    ck_assert_msg(strcmp(gz_etag, http_header(&plain, "ETag")) != 0,
                  "variant and plain file share ETag %s", gz_etag);
    http_resp_free(&r);
    http_resp_free(&plain);

    snprintf(h, sizeof(h), "Accept-Encoding: gzip\r\nIf-None-Match: %s\r\n", gz_etag);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/g.txt", h, &r), 304);
    http_assert_header(&r, "ETag", gz_etag);
    http_resp_free(&r);
    snprintf(h, sizeof(h), "If-None-Match: %s\r\n", gz_etag);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/g.txt", h, &r), 200);
    http_assert_body(&r, G, NULL);
    http_resp_free(&r);

    ck_assert_int_eq(
        http_fetch(s.port, "GET", "/g.txt", "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n", &r),
        206);
    http_assert_header(&r, "Content-Range", "bytes 0-9/27");
    http_assert_header(&r, "Content-Encoding", "gzip");
    http_assert_body(&r, "GZ-VARIANT", NULL);
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "HEAD", "/g.txt", "Accept-Encoding: gzip\r\n", &r), 200);
    http_assert_header(&r, "Content-Encoding", "gzip");
    http_assert_header(&r, "Content-Length", "27");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

START_TEST(gzip_static_off)
{
    struct srv s;
    struct http_resp r;
    gzip_tree(&s, NULL);
    expect_coding(&s, "/h.css", "gzip", "body { color: red }\n", NULL, false);
    expect_coding(&s, "/g.txt", "br, gzip", "plain text of g\n", NULL, false);
    /* The .gz file itself is an ordinary file. */
    ck_assert_int_eq(http_fetch(s.port, "GET", "/h.css.gz", NULL, &r), 200);
    http_assert_header(&r, "Content-Type", "application/gzip");
    ck_assert(http_header(&r, "Content-Encoding") == NULL);
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

Suite *
integ_static_suite(void)
{
    Suite *s = suite_create("integ_static");
    TCase *tc = tcase_create("confinement");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, traversal_never_reaches_secret);
    tcase_add_test(tc, symlinks_inside_followed_by_default);
    tcase_add_test(tc, symlinks_refused_when_off);
    tcase_add_test(tc, dotfiles_hidden_by_default);
    tcase_add_test(tc, dotfiles_served_when_on);
    suite_add_tcase(s, tc);

    tc = tcase_create("directories");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, directory_redirect_keeps_query);
    tcase_add_test(tc, directory_without_index_or_not_a_file_forbidden);
    tcase_add_test(tc, autoindex_listing);
    suite_add_tcase(s, tc);

    tc = tcase_create("conditional");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, if_none_match);
    tcase_add_test(tc, if_modified_since_three_formats);
    tcase_add_test(tc, if_match_and_unmodified_since);
    tcase_add_test(tc, precondition_precedence);
    suite_add_tcase(s, tc);

    tc = tcase_create("methods");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, head_same_headers_as_get);
    tcase_add_test(tc, options_and_other_methods);
    suite_add_tcase(s, tc);

    tc = tcase_create("gzip_static");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, gzip_static_negotiation);
    tcase_add_test(tc, gzip_static_off);
    suite_add_tcase(s, tc);
    return s;
}
