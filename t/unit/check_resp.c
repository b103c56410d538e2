/* Unit tests for worker/resp.c: the status line, Server, Date and Connection of every answer,
 * when an answer closes the connection, error pages (and HEAD without their body), reason
 * phrases, growth up to the block's bound and overflow past it, and part bookkeeping (routing
 * and handlers: check_req.c). Pure code: requests are filled in by hand. */
#include "worker/resp.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "worker/ofc.h"
#include "worker/route.h"

#define DATE "Tue, 14 Nov 2023 22:13:20 GMT"
#define DATE_T ((time_t)1700000000)

static struct resp *
resp_new(size_t cap, size_t max)
{
    struct resp *out = malloc(sizeof(*out) + cap);
    ck_assert_ptr_nonnull(out);
    memset(out, 0, sizeof(*out));
    resp_init(out, cap, max);
    return out;
}

static void
resp_free(struct resp *out)
{
    resp_release(out);
    free(out);
}

/* The response so far as a string (the buffer is not NUL-terminated). */
static char *
text(const struct resp *out)
{
    static char s[8192];
    ck_assert_uint_lt(out->len, sizeof(s));
    memcpy(s, out->buf, out->len);
    s[out->len] = '\0';
    return s;
}

static struct http_req
request(enum http_verb verb, bool keep_alive, const char *target)
{
    struct http_req req;
    memset(&req, 0, sizeof(req));
    req.verb = verb;
    req.keep_alive = keep_alive;
    req.major = req.minor = 1;
    req.target.p = target;
    req.target.n = target ? strlen(target) : 0;
    req.content_length = -1;
    return req;
}

static void
setup(void)
{
    resp_update_date(DATE_T);
    route_clear();
}

START_TEST(test_date)
{
    ck_assert_str_eq(resp_date(), DATE);
    resp_update_date(DATE_T + 86400 + 3600 + 61);
    ck_assert_str_eq(resp_date(), "Wed, 15 Nov 2023 23:14:21 GMT");
}
END_TEST

START_TEST(test_status_line_keep_alive)
{
    struct resp *out = resp_new(512, 512);
    struct http_req req = request(VERB_GET, true, "/");
    resp_start(out, 200);
    resp_header(out, "Content-Length: %d", 0);
    resp_end(out, &req);
    ck_assert_str_eq(text(out), "HTTP/1.1 200 OK\r\nServer: sluice\r\nDate: " DATE "\r\n"
                                "Content-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    ck_assert(!out->close);
    ck_assert(!out->overflow);
    ck_assert_int_eq(out->nparts, 0);
    resp_free(out);
}
END_TEST

/* Handlers' framing, written without printf: every width, and the extremes. */
START_TEST(test_content_length)
{
    static const long long values[] = {0, 7, 13, 10, 99, 100, 1234567890123LL, INT64_MAX};
    char want[64];
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct resp *out = resp_new(512, 512);
        resp_content_length(out, values[i]);
        snprintf(want, sizeof(want), "Content-Length: %lld\r\n", values[i]);
        ck_assert_str_eq(text(out), want);
        resp_free(out);
    }
}
END_TEST

/* The request does not allow another one (HTTP/1.0, Connection: close), or the handler says
 * the connection must close: Connection: close, and out->close tells conn.c. */
START_TEST(test_close_rules)
{
    struct resp *out = resp_new(512, 512);
    struct http_req once = request(VERB_GET, false, "/");
    resp_start(out, 204);
    resp_end(out, &once);
    ck_assert_str_eq(text(out), "HTTP/1.1 204 No Content\r\nServer: sluice\r\nDate: " DATE
                                "\r\nConnection: close\r\n\r\n");
    ck_assert(out->close);

    struct http_req again = request(VERB_GET, true, "/");
    out->close = true; /* set by a handler */
    resp_start(out, 200);
    resp_end(out, &again);
    ck_assert_ptr_nonnull(strstr(text(out), "\r\nConnection: close\r\n\r\n"));
    ck_assert(out->close);
    ck_assert_uint_eq(out->sent, 0);
    resp_free(out);
}
END_TEST

START_TEST(test_reasons)
{
    static const struct {
        int status;
        const char *reason;
    } cases[] = {
        {100, "Continue"},
        {200, "OK"},
        {204, "No Content"},
        {206, "Partial Content"},
        {301, "Moved Permanently"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {412, "Precondition Failed"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {416, "Range Not Satisfiable"},
        {417, "Expectation Failed"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
        {299, "Unknown"},
        {0, "Unknown"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(strcmp(resp_reason(cases[i].status), cases[i].reason) == 0, "%d: %s",
                      cases[i].status, resp_reason(cases[i].status));
}
END_TEST

/* Error pages: status line, an HTML body whose length Content-Length gives, and a close after
 * the statuses that leave the stream untrustworthy or the client unwelcome. */
START_TEST(test_error_pages)
{
    static const struct {
        int status;
        bool close;
    } cases[] = {
        {400, true},  {403, false}, {404, false}, {405, false}, {408, true},
        {412, false}, {413, true},  {414, true},  {416, false}, {417, true},
        {431, true},  {500, true},  {501, true},  {503, true},  {505, true},
    };
    struct resp *out = resp_new(1024, 1024);
    struct http_req req = request(VERB_GET, true, "/");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status = cases[i].status;
        char line[64], title[64];
        out->close = false;
        resp_error(out, &req, status, NULL);
        const char *s = text(out);
        snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, resp_reason(status));
        snprintf(title, sizeof(title), "<h1>%d %s</h1>", status, resp_reason(status));
        ck_assert_msg(strncmp(s, line, strlen(line)) == 0, "%d: %s", status, s);
        ck_assert_msg(out->close == cases[i].close, "%d: close %d", status, out->close);
        ck_assert_ptr_nonnull(strstr(s, cases[i].close ? "\r\nConnection: close\r\n"
                                                       : "\r\nConnection: keep-alive\r\n"));
        ck_assert_ptr_nonnull(strstr(s, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
        const char *body = strstr(s, "\r\n\r\n");
        ck_assert_ptr_nonnull(body);
        body += 4;
        const char *cl = strstr(s, "\r\nContent-Length: ");
        ck_assert_ptr_nonnull(cl);
        ck_assert_int_eq(atoi(cl + 18), (int)strlen(body));
        ck_assert_ptr_nonnull(strstr(body, title));
        ck_assert(!out->overflow);
    }
    resp_free(out);
}
END_TEST

/* HEAD: the same header block as GET, Content-Length included, and not one body byte. */
START_TEST(test_error_head_has_no_body)
{
    struct resp *get = resp_new(1024, 1024), *head = resp_new(1024, 1024);
    struct http_req rget = request(VERB_GET, true, "/"), rhead = request(VERB_HEAD, true, "/");
    resp_error(get, &rget, 405, "Allow: GET, HEAD");
    resp_error(head, &rhead, 405, "Allow: GET, HEAD");
    const char *s = text(get), *end = strstr(s, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    size_t head_len = (size_t)(end - s) + 4;
    ck_assert_uint_gt(get->len, head_len);
    ck_assert_uint_eq(head->len, head_len);
    ck_assert(memcmp(get->buf, head->buf, head_len) == 0);
    ck_assert_ptr_nonnull(strstr(text(head), "\r\nAllow: GET, HEAD\r\n"));
    resp_free(get);
    resp_free(head);
}
END_TEST

/* Past the inline bytes the block grows, up to `max`; past max it overflows and stays so until
 * the next resp_start, never writing beyond what it holds (ASan watches). */
START_TEST(test_growth_and_overflow)
{
    struct resp *out = resp_new(64, 256);
    struct http_req req = request(VERB_GET, true, "/");
    char big[300];
    memset(big, 'x', sizeof(big));

    resp_start(out, 200); /* longer than 64 bytes: grows */
    resp_end(out, &req);
    ck_assert(!out->overflow);
    ck_assert_ptr_nonnull(strstr(text(out), "Date: " DATE "\r\nConnection: keep-alive\r\n\r\n"));
    size_t len = out->len;
    resp_body(out, big, 256 - len); /* exactly to max */
    ck_assert(!out->overflow);
    ck_assert_uint_eq(out->len, 256);
    ck_assert_uint_le(out->len, out->cap);
    resp_body(out, big, 1);
    ck_assert(out->overflow);
    ck_assert_uint_eq(out->len, 256);
    resp_header(out, "X: y");
    ck_assert_uint_eq(out->len, 256);

    resp_start(out, 404); /* a new start clears it */
    ck_assert(!out->overflow);
    resp_header(out, "X-Big: %.*s", 250, big); /* one header line beyond max */
    ck_assert(out->overflow);
    ck_assert_uint_le(out->len, 256);
    resp_free(out);

    /* Without room to grow (max == cap), the inline bytes are the bound. */
    struct resp *tight = resp_new(40, 40);
    resp_start(tight, 200);
    ck_assert(tight->overflow);
    ck_assert_uint_le(tight->len, 40);
    resp_free(tight);
}
END_TEST

/* An extra header line too long for the block: the error becomes a plain 500 that closes. */
START_TEST(test_error_extra_too_long)
{
    struct resp *out = resp_new(512, 512);
    struct http_req req = request(VERB_GET, true, "/");
    char extra[1024];
    memset(extra, 'a', sizeof(extra) - 1);
    memcpy(extra, "X-Long: ", 8);
    extra[sizeof(extra) - 1] = '\0';
    resp_error(out, &req, 405, extra);
    ck_assert(!out->overflow);
    ck_assert(out->close);
    ck_assert_ptr_nonnull(strstr(text(out), "HTTP/1.1 500 Internal Server Error\r\n"));
    ck_assert_ptr_null(strstr(text(out), "X-Long"));
    resp_free(out);
}
END_TEST

START_TEST(test_parts)
{
    struct resp *out = resp_new(1024, 1024);
    struct http_req req = request(VERB_GET, true, "/");
    static const char file[] = "0123456789";
    resp_start(out, 206);
    resp_end(out, &req);
    size_t head = out->len;
    ck_assert_int_eq(resp_add_part(out, 2, 3, NULL), 0);
    resp_body(out, "--b\r\n", 5);
    ck_assert_int_eq(resp_add_part(out, 5, 4, file), 0);
    resp_body(out, "--b--\r\n", 7);
    ck_assert_int_eq(out->nparts, 2);
    ck_assert_uint_eq(out->parts[0].mem_end, head);
    ck_assert_int_eq(out->parts[0].file_off, 2);
    ck_assert_int_eq(out->parts[0].file_len, 3);
    ck_assert_ptr_null(out->parts[0].body);
    ck_assert_uint_eq(out->parts[1].mem_end, head + 5);
    ck_assert_int_eq(out->parts[1].file_off, 5);
    ck_assert_int_eq(out->parts[1].file_len, 4);
    ck_assert_ptr_eq(out->parts[1].body, file + 5); /* the part's own bytes */
    ck_assert_uint_eq(out->len, head + 12);

    /* The table is bounded: one part too many overflows the response. */
    resp_start(out, 206);
    ck_assert_int_eq(out->nparts, 0);
    for (int i = 0; i < RESP_MAX_PARTS; i++)
        ck_assert_int_eq(resp_add_part(out, i, 1, NULL), 0);
    ck_assert(!out->overflow);
    ck_assert_int_eq(resp_add_part(out, 0, 1, NULL), -1);
    ck_assert(out->overflow);
    ck_assert_int_eq(out->nparts, RESP_MAX_PARTS);
    resp_free(out);
}
END_TEST

Suite *
resp_suite(void)
{
    Suite *s = suite_create("resp");
    TCase *tc = tcase_create("build");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_date);
    tcase_add_test(tc, test_status_line_keep_alive);
    tcase_add_test(tc, test_content_length);
    tcase_add_test(tc, test_close_rules);
    tcase_add_test(tc, test_reasons);
    tcase_add_test(tc, test_error_pages);
    tcase_add_test(tc, test_error_head_has_no_body);
    tcase_add_test(tc, test_growth_and_overflow);
    tcase_add_test(tc, test_error_extra_too_long);
    tcase_add_test(tc, test_parts);
    suite_add_tcase(s, tc);
    return s;
}
