/* Unit tests for worker/http.c: requests sluice must refuse, each with its status, however the
 * bytes arrive (the driver in http_driver.c feeds every input whole, split in two at every
 * offset, and byte by byte); and http_host_valid. */
#include "http_driver.h"
#include "worker/http.h"
#include "worker/http_lex.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR(lit, status) th_expect_error(lit, sizeof(lit) - 1, &th_default_limits, status, -1)
#define OK(lit) th_expect_ok(lit, sizeof(lit) - 1, &th_default_limits, 1)
#define ERR_SMALL(lit, status) th_expect_error(lit, sizeof(lit) - 1, &th_small_limits, status, -1)
#define OK_SMALL(lit) th_expect_ok(lit, sizeof(lit) - 1, &th_small_limits, 1)

/* A growing request text for the limit cases. */
struct text {
    char *p;
    size_t n, cap;
};

static void
put(struct text *t, const char *s, size_t n)
{
    if (t->n + n > t->cap) {
        t->cap = (t->n + n) * 2;
        t->p = realloc(t->p, t->cap);
        ck_assert_ptr_nonnull(t->p);
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
}

static void
puts_(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void
repeat(struct text *t, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(t, &c, 1);
}

/* ---- header section shape -------------------------------------------------------------------- */

START_TEST(test_obs_fold)
{
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400); /* white space before the first field */
}
END_TEST

START_TEST(test_space_before_colon)
{
    ERR("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400);
}
END_TEST

START_TEST(test_bare_cr)
{
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
    ERR("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n", 400);
    /* Whatever follows a lone CR must not end the header section and start another request. */
    ERR("GET / HTTP/1.1\r\nHost: a\r\n\rXGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}
END_TEST

START_TEST(test_nul)
{
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX\0Y: a\r\n\r\n", 400);
    ERR("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\0\r\n\r\n", 400);
}
END_TEST

START_TEST(test_bad_header_name)
{
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX@Y: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX(Y): a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nX\x80Y: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", 400);     /* empty name */
    ERR("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400); /* no colon at all */
}
END_TEST

/* ---- Host ------------------------------------------------------------------------------------ */

START_TEST(test_host_missing_or_twice)
{
    ERR("GET / HTTP/1.1\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nX: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    ERR("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}
END_TEST

START_TEST(test_host_invalid)
{
    static const char *const hosts[] = {
        "a b", "a/b", "a@b", "a:b", "a:80:80", "[::1", "[]", "[::1]x", "%zz", "a\"b", "a,b:x",
    };
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        char in[128];
        int n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", hosts[i]);
        th_expect_error(in, (size_t)n, &th_default_limits, 400, 1);
    }
}
END_TEST

START_TEST(test_host_valid_accepted)
{
    static const char *const hosts[] = {
        "a",         "a:80", "[::1]:80", "[::1]", "xn--d.example", "127.0.0.1:8080",
        "a-b.c_d~e", "%41b", "",         " ",
    };
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        char in[128];
        int n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost:%s\r\n\r\n", hosts[i]);
        th_expect_ok(in, (size_t)n, &th_default_limits, 1);
        n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", hosts[i]);
        th_expect_ok(in, (size_t)n, &th_default_limits, 1);
    }
}
END_TEST

/* http_host_valid on exactly `n` heap bytes, no terminator, so a read past `n` shows in ASan. */
static bool
host_valid(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, s, n);
    bool ok = http_host_valid(p, n);
    free(p);
    return ok;
}

#define HOST(lit) host_valid(lit, sizeof(lit) - 1)

START_TEST(test_host_valid)
{
    ck_assert(HOST("a"));
    ck_assert(HOST("a:80"));
    ck_assert(HOST("[::1]:80"));
    ck_assert(HOST("[::1]"));
    ck_assert(HOST("[fe80::1:2]:443"));
    ck_assert(HOST("xn--d.example"));
    ck_assert(HOST(""));
    ck_assert(HOST("127.0.0.1"));
    ck_assert(HOST("a:")); /* port = *DIGIT (RFC 3986) */
    ck_assert(HOST("%41b"));
    ck_assert(HOST("a-b.c_d~e!$&'()*+,;="));

    ck_assert(!HOST("a b"));
    ck_assert(!HOST("a/b"));
    ck_assert(!HOST("a@b"));
    ck_assert(!HOST("a:b"));
    ck_assert(!HOST("a:80:80"));
    ck_assert(!HOST("a:8x"));
    ck_assert(!HOST("[::1"));
    ck_assert(!HOST("[]"));
    ck_assert(!HOST("[::1]x"));
    ck_assert(!HOST("[::1]:x"));
    ck_assert(!HOST("[::g]"));
    ck_assert(!HOST("%4"));
    ck_assert(!HOST("a%4"));
    ck_assert(!HOST("%zz"));
    ck_assert(!HOST("a\tb"));
    ck_assert(!HOST("a\"b"));
}
END_TEST

/* NUL is no host character anywhere. (Not reachable through http_feed, whose scanner refuses
 * NUL first, but http_host_valid is exported with its own contract.) */
START_TEST(test_host_valid_nul)
{
    ck_assert(!HOST("a\0b"));
    ck_assert(!HOST("\0"));
    ck_assert(!HOST("[::1\0]"));
    ck_assert(!HOST("%4\0"));
}
END_TEST

/* ---- framing: Content-Length, Transfer-Encoding, chunks ---------------------------------------
 */

START_TEST(test_cl_and_te)
{
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\n",
        400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
        "0\r\n\r\n",
        400);
}
END_TEST

START_TEST(test_te_final_not_chunked)
{
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip"
        "\r\n\r\n",
        400);
}
END_TEST

START_TEST(test_te_unknown_coding)
{
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n", 501);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\nTransfer-Encoding: chunked"
        "\r\n\r\n0\r\n\r\n",
        501);
}
END_TEST

START_TEST(test_te_chunked_twice)
{
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
        "\r\n\r\n0\r\n\r\n",
        400);
}
END_TEST

/* RFC 9112 6.1: HTTP/1.0 with Transfer-Encoding is faulty framing (a 1.0 front end would read
 * the body differently): 400 and close, never a second request out of the same bytes. */
START_TEST(test_te_in_http10)
{
    ERR("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        "0\r\n\r\nGET /smuggled HTTP/1.0\r\n\r\n",
        400);
    ERR("GET / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    ERR("GET / HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400);
}
END_TEST

START_TEST(test_bad_content_length)
{
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400);
    ERR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
}
END_TEST

#define CHUNKED_HEAD "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

START_TEST(test_bad_chunk_size)
{
    ERR(CHUNKED_HEAD "zz\r\nhello\r\n0\r\n\r\n", 400);
    ERR(CHUNKED_HEAD "-5\r\nhello\r\n0\r\n\r\n", 400);
    ERR(CHUNKED_HEAD "0x5\r\nhello\r\n0\r\n\r\n", 400);
    ERR(CHUNKED_HEAD "\r\nhello\r\n0\r\n\r\n", 400);
    ERR(CHUNKED_HEAD "fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400);
}
END_TEST

/* Chunk framing lines end in CRLF. http-parser (a non-strict build) takes any byte after a CR
 * as its LF and keeps a bare LF as part of a chunk extension: a peer that splits lines
 * differently frames the body differently (request smuggling). */
START_TEST(test_chunk_line_endings)
{
    ERR(CHUNKED_HEAD "5\r\nhelloXX0\r\n\r\n", 400);  /* no CRLF after the data */
    ERR(CHUNKED_HEAD "5\rXhello\r\n0\r\n\r\n", 400); /* CR without LF after the size */
    ERR(CHUNKED_HEAD "5;e\rXhello\r\n0\r\n\r\n", 400);
    ERR(CHUNKED_HEAD "5;a\nhello\r\n0\r\n\r\n", 400); /* bare LF inside an extension */
}
END_TEST

static void
chunk_extension(size_t ext_len, int status)
{
    struct text t = {0};
    puts_(&t, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=");
    repeat(&t, 'a', ext_len);
    puts_(&t, "\r\nhello\r\n0\r\n\r\n");
    if (status)
        th_expect_error(t.p, t.n, &th_default_limits, status, 1);
    else
        th_expect_ok(t.p, t.n, &th_default_limits, 1);
    free(t.p);
}

START_TEST(test_chunk_extension_abuse)
{
    chunk_extension(1000, 0);
    chunk_extension(20 * 1024, 400);
}
END_TEST

/* ---- request line ---------------------------------------------------------------------------- */

START_TEST(test_version)
{
    ERR("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    ERR("GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505);
    ERR("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    ERR("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400);
    ERR("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET /\r\nHost: a\r\n\r\n", 400);
}
END_TEST

START_TEST(test_unknown_method)
{
    ERR("get / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
    ERR("FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
    ERR("\r\nFOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
    ERR("GETX / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
    ERR("POSTAL / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
    ERR("X-MY_METHOD! / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
}
END_TEST

/* A method that begins like a known one: the verdict must not depend on where the bytes were
 * cut (the parser has consumed the known prefix by the time it stops). */
START_TEST(test_unknown_method_known_prefix)
{
    ERR("GE / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
    ERR("PUTGET / HTTP/1.1\r\nHost: a\r\n\r\n", 501);
}
END_TEST

START_TEST(test_junk_method)
{
    ERR("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("[GET] / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("\x01GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}
END_TEST

START_TEST(test_request_line_spaces)
{
    ERR("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    ERR("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}
END_TEST

START_TEST(test_star_not_options)
{
    ERR("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    ERR("HEAD * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}
END_TEST

/* ---- limits (max_request_line 256, max_header_size 1024, max_headers 8, max_body_size 100) -- */

/* "GET /aaa... HTTP/1.1" of exactly `line_len` bytes (CRLF not counted), then a Host field;
 * with `finish` false the input stops inside the request line. */
static void
long_request_line(size_t line_len, bool finish, int status)
{
    struct text t = {0};
    puts_(&t, "GET /");
    repeat(&t, 'a', line_len - strlen("GET / HTTP/1.1"));
    if (finish)
        puts_(&t, " HTTP/1.1\r\nHost: a\r\n\r\n");
    if (status)
        th_expect_error(t.p, t.n, &th_small_limits, status, 0);
    else
        th_expect_ok(t.p, t.n, &th_small_limits, 1);
    free(t.p);
}

START_TEST(test_request_line_too_long)
{
    long_request_line(255, true, 0);
    long_request_line(257, true, 414);
    long_request_line(300, false, 414); /* refused before the line ends */
    long_request_line(1000, true, 414);
}
END_TEST

START_TEST(test_request_line_at_limit)
{
    long_request_line(256, true, 0); /* "longer than max_request_line" is refused, not equal */
}
END_TEST

/* A request whose header section (final CRLF included) is `size` bytes. */
static void
header_section(struct text *t, size_t size)
{
    static const char fixed[] = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n";
    ck_assert_uint_ge(size, sizeof(fixed) - 1);
    puts_(t, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    repeat(t, 'v', size - (sizeof(fixed) - 1));
    puts_(t, "\r\n\r\n");
}

START_TEST(test_header_section_too_large)
{
    struct text t = {0};
    header_section(&t, 1024);
    th_expect_ok(t.p, t.n, &th_small_limits, 1);
    t.n = 0;
    header_section(&t, 1026);
    th_expect_error(t.p, t.n, &th_small_limits, 431, 0);
    t.n = 0;
    header_section(&t, 4000);
    th_expect_error(t.p, t.n, &th_small_limits, 431, 0);
    free(t.p);
}
END_TEST

/* The header limit counts from each request's own start, not from the connection's. */
START_TEST(test_header_limit_per_pipelined_request)
{
    struct text t = {0};
    header_section(&t, 1000);
    header_section(&t, 1000);
    header_section(&t, 1000);
    th_expect_ok(t.p, t.n, &th_small_limits, 3);
    free(t.p);
}
END_TEST

START_TEST(test_too_many_headers)
{
    OK_SMALL("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7"
             "\r\n\r\n");
    ERR_SMALL("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7"
              "\r\nH: 8\r\n\r\n",
              431);
}
END_TEST

START_TEST(test_body_too_large_content_length)
{
    /* 413 as soon as the header section is in: no body byte has been sent. */
    th_expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n",
                    strlen("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n"),
                    &th_small_limits, 413, 1);
    /* With Expect: 100-continue too: 413, and no 100 promised. */
    ERR_SMALL("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n",
              413);
    struct text t = {0};
    puts_(&t, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
    repeat(&t, 'b', 100);
    th_expect_ok(t.p, t.n, &th_small_limits, 1);
    free(t.p);
}
END_TEST

START_TEST(test_body_too_large_chunked)
{
    struct text t = {0};
    puts_(&t, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n");
    repeat(&t, 'b', 50);
    puts_(&t, "\r\n32\r\n");
    repeat(&t, 'c', 50);
    puts_(&t, "\r\n0\r\n\r\n");
    th_expect_ok(t.p, t.n, &th_small_limits, 1); /* exactly 100 */

    t.n = 0;
    puts_(&t, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n");
    repeat(&t, 'b', 50);
    puts_(&t, "\r\n33\r\n");
    repeat(&t, 'c', 51);
    puts_(&t, "\r\n0\r\n\r\n");
    th_expect_error(t.p, t.n, &th_small_limits, 413, 1);
    free(t.p);
}
END_TEST

START_TEST(test_expect_other)
{
    ERR("PUT / HTTP/1.1\r\nHost: a\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx", 417);
    ERR("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n", 417);
}
END_TEST

Suite *
http_errors_suite(void)
{
    Suite *s = suite_create("http_errors");
    TCase *tc = tcase_create("header");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_obs_fold);
    tcase_add_test(tc, test_space_before_colon);
    tcase_add_test(tc, test_bare_cr);
    tcase_add_test(tc, test_nul);
    tcase_add_test(tc, test_bad_header_name);
    tcase_add_test(tc, test_host_missing_or_twice);
    tcase_add_test(tc, test_host_invalid);
    tcase_add_test(tc, test_host_valid_accepted);
    tcase_add_test(tc, test_host_valid);
    tcase_add_test(tc, test_host_valid_nul);
    tcase_add_test(tc, test_expect_other);
    suite_add_tcase(s, tc);

    tc = tcase_create("framing");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cl_and_te);
    tcase_add_test(tc, test_te_final_not_chunked);
    tcase_add_test(tc, test_te_unknown_coding);
    tcase_add_test(tc, test_te_chunked_twice);
    tcase_add_test(tc, test_te_in_http10);
    tcase_add_test(tc, test_bad_content_length);
    tcase_add_test(tc, test_bad_chunk_size);
    tcase_add_test(tc, test_chunk_line_endings);
    tcase_add_test(tc, test_chunk_extension_abuse);
    suite_add_tcase(s, tc);

    tc = tcase_create("request_line");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_unknown_method);
    tcase_add_test(tc, test_unknown_method_known_prefix);
    tcase_add_test(tc, test_junk_method);
    tcase_add_test(tc, test_request_line_spaces);
    tcase_add_test(tc, test_star_not_options);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_request_line_too_long);
    tcase_add_test(tc, test_request_line_at_limit);
    tcase_add_test(tc, test_header_section_too_large);
    tcase_add_test(tc, test_header_limit_per_pipelined_request);
    tcase_add_test(tc, test_too_many_headers);
    tcase_add_test(tc, test_body_too_large_content_length);
    tcase_add_test(tc, test_body_too_large_chunked);
    suite_add_tcase(s, tc);
    return s;
}
