/* Unit tests for worker/http.c, the http-parser glue: well-formed requests and the pure helpers.
 * Every input is parsed the way conn.c drives http_feed, in one piece, in two pieces at every
 * offset and byte by byte, and every way must give the same outcome. The error cases live in
 * check_http_errors.c (with http_host_valid); both use the driver in http_driver.c. */
#include "http_driver.h"
#include "worker/http.h"
#include "worker/http_lex.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARSE(lit, o) th_parse_all(lit, sizeof(lit) - 1, &th_default_limits, o)

/* The span `s` of the input `in` holds exactly `want` (NULL: the span is empty). */
static void
span_is(const char *in, struct rec_span s, const char *want, const char *what)
{
    size_t n = want ? strlen(want) : 0;
    ck_assert_msg(s.n == n && (n == 0 || memcmp(in + s.off, want, n) == 0),
                  "%s is \"%.*s\", expected \"%s\"", what, (int)s.n, s.n ? in + s.off : "", want);
}

static void
header_is(const char *in, const struct rec_req *r, int i, const char *name, const char *value)
{
    ck_assert_int_lt(i, r->nheaders);
    span_is(in, r->name[i], name, "header name");
    span_is(in, r->value[i], value, "header value");
}

/* One complete request, status 0, that consumed all `len` bytes. */
static const struct rec_req *
only_complete(const struct outcome *o, size_t len)
{
    ck_assert_int_eq(o->nreqs, 1);
    const struct rec_req *r = &o->req[0];
    ck_assert_msg(r->result == HTTP_COMPLETE, "%s, status %d", th_result_name(r->result),
                  r->status);
    ck_assert_int_eq(r->status, 0);
    ck_assert_uint_eq(r->consumed, len);
    return r;
}

/* ---- well-formed requests -------------------------------------------------------------------- */

START_TEST(test_simple_get)
{
    static const char in[] = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
    struct outcome o;
    PARSE(in, &o);
    const struct rec_req *r = only_complete(&o, sizeof(in) - 1);
    ck_assert_int_eq(r->nheaders_results, 1);
    ck_assert_int_eq(r->verb, VERB_GET);
    ck_assert_str_eq(r->method_name, "GET");
    ck_assert_uint_eq(r->major, 1);
    ck_assert_uint_eq(r->minor, 1);
    span_is(in, r->target, "/index.html", "target");
    span_is(in, r->host, "example.com", "host");
    ck_assert(r->keep_alive);
    ck_assert(!r->has_body && !r->chunked && !r->expect_continue);
    ck_assert_int_eq(r->content_length, -1);
    ck_assert_int_eq(r->body_bytes, 0);
    ck_assert_int_eq(r->nheaders, 1);
    header_is(in, r, 0, "Host", "example.com");
    ck_assert_uint_eq(r->header_end, sizeof(in) - 1);
}
END_TEST

START_TEST(test_head)
{
    static const char in[] = "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n";
    struct outcome o;
    PARSE(in, &o);
    const struct rec_req *r = only_complete(&o, sizeof(in) - 1);
    ck_assert_int_eq(r->verb, VERB_HEAD);
    ck_assert_str_eq(r->method_name, "HEAD");
    span_is(in, r->target, "/x", "target");
}
END_TEST

START_TEST(test_other_verbs)
{
    static const struct {
        const char *in;
        enum http_verb verb;
        const char *name;
    } cases[] = {
        {"POST / HTTP/1.1\r\nHost: a\r\n\r\n", VERB_POST, "POST"},
        {"PUT / HTTP/1.1\r\nHost: a\r\n\r\n", VERB_PUT, "PUT"},
        {"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", VERB_DELETE, "DELETE"},
        {"OPTIONS / HTTP/1.1\r\nHost: a\r\n\r\n", VERB_OPTIONS, "OPTIONS"},
        /* a method http-parser knows and no route handles: parsed, answered 405 later */
        {"PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", VERB_OTHER, "PATCH"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct outcome o;
        th_parse_all(cases[i].in, strlen(cases[i].in), &th_default_limits, &o);
        const struct rec_req *r = only_complete(&o, strlen(cases[i].in));
        ck_assert_int_eq(r->verb, cases[i].verb);
        ck_assert_str_eq(r->method_name, cases[i].name);
    }
}
END_TEST

START_TEST(test_ows_trimmed)
{
    static const char in[] = "GET / HTTP/1.1\r\n"
                             "Host:   a.example \t\r\n"
                             "X-A:v1\r\n"
                             "X-B: \t v 2 \t \r\n"
                             "X-C:\r\n"
                             "X-D:    \r\n"
                             "\r\n";
    struct outcome o;
    PARSE(in, &o);
    const struct rec_req *r = only_complete(&o, sizeof(in) - 1);
    ck_assert_int_eq(r->nheaders, 5);
    header_is(in, r, 0, "Host", "a.example");
    header_is(in, r, 1, "X-A", "v1");
    header_is(in, r, 2, "X-B", "v 2");
    header_is(in, r, 3, "X-C", NULL);
    header_is(in, r, 4, "X-D", NULL);
    span_is(in, r->host, "a.example", "host");
}
END_TEST

START_TEST(test_keep_alive)
{
    static const char close11[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    static const char plain[] = "GET / HTTP/1.0\r\n\r\n";
    static const char ka[] = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    struct outcome o;

    PARSE(close11, &o);
    ck_assert(!only_complete(&o, sizeof(close11) - 1)->keep_alive);

    PARSE(plain, &o);
    const struct rec_req *r = only_complete(&o, sizeof(plain) - 1);
    ck_assert_uint_eq(r->major, 1);
    ck_assert_uint_eq(r->minor, 0);
    ck_assert(!r->keep_alive);
    span_is(plain, r->host, NULL, "host"); /* no Host is fine on 1.0 */

    PARSE(ka, &o);
    r = only_complete(&o, sizeof(ka) - 1);
    ck_assert_uint_eq(r->minor, 0);
    ck_assert(r->keep_alive);
}
END_TEST

START_TEST(test_http12_served_as_11)
{
    static const char in[] = "GET / HTTP/1.2\r\nHost: a\r\n\r\n";
    struct outcome o;
    PARSE(in, &o);
    const struct rec_req *r = only_complete(&o, sizeof(in) - 1);
    ck_assert_uint_eq(r->major, 1);
    ck_assert_uint_eq(r->minor, 2);
    ck_assert(r->keep_alive);
}
END_TEST

START_TEST(test_pipelined)
{
    static const char req1[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char req2[] = "HEAD /bb HTTP/1.1\r\nHost: b\r\n\r\n";
    static const char req3[] = "GET /ccc HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n";
    static const char in[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
                             "HEAD /bb HTTP/1.1\r\nHost: b\r\n\r\n"
                             "GET /ccc HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n";
    struct outcome o;
    PARSE(in, &o);
    ck_assert_int_eq(o.nreqs, 3);
    size_t lens[] = {sizeof(req1) - 1, sizeof(req2) - 1, sizeof(req3) - 1};
    const char *targets[] = {"/a", "/bb", "/ccc"}, *hosts[] = {"a", "b", "c"};
    size_t start = 0;
    for (int i = 0; i < 3; i++) {
        const struct rec_req *r = &o.req[i];
        ck_assert_int_eq(r->result, HTTP_COMPLETE);
        ck_assert_int_eq(r->status, 0);
        ck_assert_uint_eq(r->start, start);
        ck_assert_uint_eq(r->consumed, lens[i]);
        ck_assert_uint_eq(r->header_end, lens[i]);
        span_is(in, r->target, targets[i], "target");
        span_is(in, r->host, hosts[i], "host");
        ck_assert_int_eq(r->keep_alive, i < 2);
        start += lens[i];
    }
    ck_assert_int_eq(o.req[1].verb, VERB_HEAD);
}
END_TEST

START_TEST(test_pipelined_after_body)
{
    /* A body, a stray CRLF some clients send after it, and the next request. */
    static const char first[] = "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    static const char in[] = "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                             "\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    struct outcome o;
    PARSE(in, &o);
    ck_assert_int_eq(o.nreqs, 2);
    ck_assert_int_eq(o.req[0].result, HTTP_COMPLETE);
    ck_assert_uint_eq(o.req[0].consumed, sizeof(first) - 1);
    ck_assert_int_eq(o.req[0].body_bytes, 5);
    ck_assert_int_eq(o.req[1].result, HTTP_COMPLETE);
    ck_assert_uint_eq(o.req[1].start, sizeof(first) - 1);
    ck_assert_uint_eq(o.req[1].consumed, sizeof(in) - sizeof(first));
    span_is(in, o.req[1].target, "/next", "target");
}
END_TEST

START_TEST(test_content_length_body)
{
    static const char head[] = "GET /q HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
    static const char in[] = "GET /q HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world";
    struct outcome o;
    PARSE(in, &o);
    const struct rec_req *r = only_complete(&o, sizeof(in) - 1);
    ck_assert_int_eq(r->nheaders_results, 1);
    ck_assert(r->has_body);
    ck_assert(!r->chunked);
    ck_assert_int_eq(r->content_length, 11);
    ck_assert_int_eq(r->body_bytes, 11);
    ck_assert_uint_eq(r->header_end, sizeof(head) - 1);

    /* Only the header section: HTTP_HEADERS, then the request waits for its body. */
    PARSE(head, &o);
    ck_assert_int_eq(o.nreqs, 1);
    ck_assert_int_eq(o.req[0].result, HTTP_NEED_MORE);
    ck_assert_int_eq(o.req[0].nheaders_results, 1);
    ck_assert_int_eq(o.req[0].body_bytes, 0);

    static const char zero[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
    PARSE(zero, &o);
    r = only_complete(&o, sizeof(zero) - 1);
    ck_assert(!r->has_body);
    ck_assert_int_eq(r->content_length, 0);
}
END_TEST

START_TEST(test_chunked_body)
{
    static const char head[] = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    static const char in[] = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "5;name=\"v a l\"\r\nhello\r\n"
                             "6\r\n world\r\n"
                             "A;x\r\n0123456789\r\n"
                             "0\r\n"
                             "X-Trailer: 1\r\n"
                             "X-Other: two\r\n"
                             "\r\n";
    struct outcome o;
    PARSE(in, &o);
    const struct rec_req *r = only_complete(&o, sizeof(in) - 1);
    ck_assert(r->chunked && r->has_body);
    ck_assert_int_eq(r->content_length, -1);
    ck_assert_int_eq(r->body_bytes, 21);
    ck_assert_uint_eq(r->header_end, sizeof(head) - 1);
    header_is(in, r, 1, "Transfer-Encoding", "chunked");
}
END_TEST

/* Trailers are parsed and ignored: they must not show up as header fields (RFC 9110 6.5.1),
 * where a later lookup (Range, If-None-Match, ...) would find them, through spans into body
 * bytes that conn.c moves. */
START_TEST(test_trailers_not_headers)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "1\r\nx\r\n0\r\nRange: bytes=0-0\r\n\r\n";
    struct outcome o;
    PARSE(in, &o);
    ck_assert_int_eq(only_complete(&o, sizeof(in) - 1)->nheaders, 2);
}
END_TEST

START_TEST(test_expect_continue)
{
    static const char body[] =
        "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc";
    static const char nobody[] = "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n";
    static const char chunked[] = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n";
    struct outcome o;

    PARSE(body, &o);
    ck_assert(only_complete(&o, sizeof(body) - 1)->expect_continue);
    PARSE(nobody, &o);
    ck_assert(!only_complete(&o, sizeof(nobody) - 1)->expect_continue);
    PARSE(chunked, &o);
    ck_assert(only_complete(&o, sizeof(chunked) - 1)->expect_continue);
}
END_TEST

START_TEST(test_absolute_form)
{
    static const char in[] =
        "GET http://example.com:8080/p/q?x=1 HTTP/1.1\r\nHost: other.example\r\n\r\n";
    struct outcome o;
    PARSE(in, &o);
    const struct rec_req *r = only_complete(&o, sizeof(in) - 1);
    span_is(in, r->target, "http://example.com:8080/p/q?x=1", "target");
    span_is(in, r->host, "example.com:8080", "host"); /* the target's, not the Host field's */
    header_is(in, r, 0, "Host", "other.example");

    static const char noport[] = "GET http://example.org/ HTTP/1.1\r\nHost: x\r\n\r\n";
    PARSE(noport, &o);
    span_is(noport, only_complete(&o, sizeof(noport) - 1)->host, "example.org", "host");
}
END_TEST

START_TEST(test_options_star)
{
    static const char in[] = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    struct outcome o;
    PARSE(in, &o);
    const struct rec_req *r = only_complete(&o, sizeof(in) - 1);
    ck_assert_int_eq(r->verb, VERB_OPTIONS);
    span_is(in, r->target, "*", "target");
    span_is(in, r->host, "a", "host");
}
END_TEST

START_TEST(test_leading_crlf)
{
    static const char in[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    struct outcome o;
    PARSE(in, &o);
    const struct rec_req *r = only_complete(&o, sizeof(in) - 1);
    ck_assert_int_eq(r->verb, VERB_GET);
    span_is(in, r->target, "/", "target");
    ck_assert_uint_eq(r->header_end, sizeof(in) - 1);
}
END_TEST

/* ---- pure helpers ---------------------------------------------------------------------------- */

/* Exactly `n` bytes on the heap, no terminator, so a read past `n` shows under ASan. */
static char *
exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, s, n);
    return p;
}

static bool
is_token(const char *s, size_t n)
{
    char *p = exact(s, n);
    bool ok = http_is_token(p, n);
    free(p);
    return ok;
}

#define TOKEN(lit) is_token(lit, sizeof(lit) - 1)

START_TEST(test_is_token)
{
    ck_assert(TOKEN("GET"));
    ck_assert(TOKEN("X-Forwarded-For"));
    ck_assert(TOKEN("!#$%&'*+-.^_`|~09azAZ"));
    ck_assert(is_token("GET /", 3));
    ck_assert(!TOKEN(""));
    ck_assert(!TOKEN("a b"));
    ck_assert(!TOKEN("a:b"));
    ck_assert(!TOKEN("a\0b"));
    ck_assert(!TOKEN("\0"));
    ck_assert(!TOKEN("a\"b"));
    ck_assert(!TOKEN("(a)"));
    ck_assert(!TOKEN("a\tb"));
    ck_assert(!TOKEN("a@b"));
    ck_assert(!TOKEN("\x80"));
    ck_assert(!TOKEN("\x7f"));
}
END_TEST

/* A request parsed in one piece whose header spans stay valid: `in` is the buffer. */
static void
parse_static(const char *in, struct http_req *req, struct http_header *headers)
{
    size_t len = strlen(in), pos = 0, used;
    http_req_init(req, in, &th_default_limits, headers);
    enum http_feed_result r;
    while ((r = http_feed(req, in + pos, len - pos, &used)) == HTTP_HEADERS)
        pos += used;
    ck_assert_int_eq(r, HTTP_COMPLETE);
}

START_TEST(test_header_get)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Dup:  one \r\nx-dup: two\r\n"
                             "Content-Type: text/plain\r\n\r\n";
    struct http_header headers[100];
    struct http_req req;
    parse_static(in, &req, headers);

    const struct http_span *v = http_header_get(&req, "host");
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->n, 1);
    ck_assert_int_eq(v->p[0], 'a');
    ck_assert_ptr_eq(http_header_get(&req, "HOST"), v);
    v = http_header_get(&req, "X-DUP"); /* the first of two, trimmed */
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->n, 3);
    ck_assert(memcmp(v->p, "one", 3) == 0);
    v = http_header_get(&req, "content-type");
    ck_assert_ptr_nonnull(v);
    ck_assert(v->n == 10 && memcmp(v->p, "text/plain", 10) == 0);
    ck_assert_ptr_null(http_header_get(&req, "Hos"));
    ck_assert_ptr_null(http_header_get(&req, "Hostx"));
    ck_assert_ptr_null(http_header_get(&req, "Content-Length"));
    ck_assert_ptr_null(http_header_get(&req, ""));
}
END_TEST

/* http_target_path on a target given directly; 0 with path/query, or -1. */
static int
target_path(const char *target, struct http_span *path, struct http_span *query)
{
    struct http_req req;
    memset(&req, 0, sizeof(req));
    req.target = (struct http_span){target, strlen(target)};
    return http_target_path(&req, path, query);
}

static void
expect_path(const char *target, const char *want_path, const char *want_query)
{
    struct http_span path, query;
    ck_assert_msg(target_path(target, &path, &query) == 0, "\"%s\": -1", target);
    ck_assert_msg(path.n == strlen(want_path) && memcmp(path.p, want_path, path.n) == 0,
                  "\"%s\": path \"%.*s\", expected \"%s\"", target, (int)path.n, path.p, want_path);
    if (want_query == NULL) {
        ck_assert_uint_eq(query.n, 0);
        ck_assert_ptr_null(query.p);
    } else {
        ck_assert_msg(query.n == strlen(want_query) && memcmp(query.p, want_query, query.n) == 0,
                      "\"%s\": query \"%.*s\", expected \"%s\"", target, (int)query.n,
                      query.p ? query.p : "", want_query);
    }
}

START_TEST(test_target_path)
{
    expect_path("/", "/", NULL);
    expect_path("/a/b.html", "/a/b.html", NULL);
    expect_path("/a/b?x=1&y", "/a/b", "x=1&y");
    expect_path("/a%20b?q=%41", "/a%20b", "q=%41");
    expect_path("http://example.com/p?q", "/p", "q");
    expect_path("http://example.com:8080/a/b", "/a/b", NULL);

    struct http_span path, query;
    ck_assert_int_eq(target_path("", &path, &query), -1);
    ck_assert_int_eq(target_path("example.com:443", &path, &query), -1);
}
END_TEST

/* "*" has no path (http.h: -1), though http-parser's URL parser calls it one. */
START_TEST(test_target_path_star)
{
    struct http_span path, query;
    ck_assert_int_eq(target_path("*", &path, &query), -1);

    static const char in[] = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    struct http_header headers[100];
    struct http_req req;
    parse_static(in, &req, headers);
    ck_assert_int_eq(http_target_path(&req, &path, &query), -1);
}
END_TEST

START_TEST(test_target_path_parsed)
{
    static const char in[] = "GET http://h.example:81/x/y?z HTTP/1.1\r\nHost: h\r\n\r\n";
    struct http_header headers[100];
    struct http_req req;
    parse_static(in, &req, headers);
    struct http_span path, query;
    ck_assert_int_eq(http_target_path(&req, &path, &query), 0);
    ck_assert(path.n == 4 && memcmp(path.p, "/x/y", 4) == 0);
    ck_assert(query.n == 1 && query.p[0] == 'z');
    ck_assert(path.p > in && path.p < in + sizeof(in)); /* points into the buffer */
}
END_TEST

/* An origin-form target is split without http_parser_parse_url once the request is parsed:
 * the split must be the one that parse gives, '#' and repeated '?' included. */
START_TEST(test_target_split_matches_parse_url)
{
    static const char *const targets[] = {
        "/",        "/a",      "/a?b", "/a?b?c", "/a#f",         "/a?b#f",
        "/a#f?b",   "/?",      "/#",   "/a?#",   "/%41?%42#%43", "/a/b/../c?x=1&y=2",
        "/a;p?q;r", "//x//y?",
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", targets[i]);
        struct http_header headers[100];
        struct http_req req;
        parse_static(in, &req, headers);
        struct http_span p1, q1, p2, q2;
        ck_assert_int_eq(http_target_path(&req, &p1, &q1), 0);
        ck_assert_int_eq(target_path(targets[i], &p2, &q2), 0);
        ck_assert_msg(p1.n == p2.n && memcmp(p1.p, p2.p, p1.n) == 0,
                      "%s: path \"%.*s\" vs \"%.*s\"", targets[i], (int)p1.n, p1.p, (int)p2.n,
                      p2.p);
        ck_assert_msg(q1.n == q2.n && (q1.p == NULL) == (q2.p == NULL) &&
                          (q1.n == 0 || memcmp(q1.p, q2.p, q1.n) == 0),
                      "%s: query \"%.*s\" vs \"%.*s\"", targets[i], (int)q1.n, q1.p ? q1.p : "",
                      (int)q2.n, q2.p ? q2.p : "");
    }
}
END_TEST

Suite *
http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("requests");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_simple_get);
    tcase_add_test(tc, test_head);
    tcase_add_test(tc, test_other_verbs);
    tcase_add_test(tc, test_ows_trimmed);
    tcase_add_test(tc, test_keep_alive);
    tcase_add_test(tc, test_http12_served_as_11);
    tcase_add_test(tc, test_pipelined);
    tcase_add_test(tc, test_pipelined_after_body);
    tcase_add_test(tc, test_content_length_body);
    tcase_add_test(tc, test_chunked_body);
    tcase_add_test(tc, test_trailers_not_headers);
    tcase_add_test(tc, test_expect_continue);
    tcase_add_test(tc, test_absolute_form);
    tcase_add_test(tc, test_options_star);
    tcase_add_test(tc, test_leading_crlf);
    suite_add_tcase(s, tc);

    tc = tcase_create("helpers");
    tcase_add_test(tc, test_is_token);
    tcase_add_test(tc, test_header_get);
    tcase_add_test(tc, test_target_path);
    tcase_add_test(tc, test_target_path_parsed);
    tcase_add_test(tc, test_target_split_matches_parse_url);
    tcase_add_test(tc, test_target_path_star);
    suite_add_tcase(s, tc);
    return s;
}
