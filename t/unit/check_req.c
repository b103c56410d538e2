/* Unit tests for worker/req.c, the request/response seam without a connection: routing on the
 * normalised path and the server's own answers, handlers answering at once and later, cancel,
 * the response header limit, buffered bodies spilling to a temp file, and stream framing.
 * Requests are parsed by http.c from text; the connection's side (req_ops) is a recorder. */
#include "worker/req.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/req_internal.h"
#include "worker/resp.h"
#include "worker/route.h"

#define MAX_HEADERS 16
#define DATA_CAP 4096
#define OUT_CAP 1024

static struct http_limits limits = {.max_request_line = 1024,
                                    .max_header_size = 2048,
                                    .max_headers = MAX_HEADERS,
                                    .max_body_size = 100};
static int kicks, continues;
static char temp_dir[64];

static void
on_kick(void *conn)
{
    (void)conn;
    kicks++;
}

static int
on_continue(void *conn)
{
    (void)conn;
    continues++;
    return 0;
}

static const struct req_ops ops = {.kick = on_kick, .send_continue = on_continue};

static void
setup(void)
{
    snprintf(temp_dir, sizeof(temp_dir), "/tmp/check-req-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(temp_dir));
    struct req_env env = {
        .ops = &ops,
        .block_size = sizeof(struct req) + MAX_HEADERS * sizeof(struct http_header) + DATA_CAP,
        .body_buffer_size = 1024,
        .body_temp_path = temp_dir,
        .max_response_header = 512,
        .max_body_size = 100,
    };
    ck_assert_int_eq(req_setup(&env), 0);
    route_clear();
    kicks = continues = 0;
}

static void
teardown(void)
{
    rmdir(temp_dir); /* fails, and the test with it below, if a body file was left */
}

struct fixture {
    struct req *r;
    struct resp *out;
};

/* Parse `text` into a fresh request up to its header (HTTP_HEADERS) or, with whole, to its
 * end; the connection pointer is a dummy. */
static enum http_feed_result
parse(struct fixture *f, const char *text, bool whole)
{
    f->r = req_get();
    ck_assert_ptr_nonnull(f->r);
    req_start(f->r, f, &limits);
    size_t n = strlen(text);
    ck_assert_uint_lt(n, DATA_CAP);
    memcpy(f->r->data, text, n);
    f->r->len = n;
    f->out = malloc(sizeof(struct resp) + OUT_CAP);
    ck_assert_ptr_nonnull(f->out);
    resp_init(f->out, OUT_CAP, 65536);
    f->out->close = false;
    enum http_feed_result res;
    char rel[512];
    do {
        size_t used = 0;
        res = http_feed(&f->r->http, f->r->data + f->r->pos, f->r->len - f->r->pos, &used);
        f->r->pos += used;
        /* What conn.c does at each step. */
        if (whole && res == HTTP_HEADERS)
            ck_assert_int_eq(req_headers(f->r, f->out, rel, sizeof(rel)), REQ_NEXT_READ);
        if (whole && res == HTTP_BODY)
            ck_assert_int_eq(req_body_piece(f->r), REQ_NEXT_READ);
    } while (whole && (res == HTTP_HEADERS || res == HTTP_BODY));
    return res;
}

static enum req_next
complete(struct fixture *f, const char *text)
{
    char rel[512];
    ck_assert_int_eq(parse(f, text, true), HTTP_COMPLETE);
    return req_complete(f->r, f->out, rel, sizeof(rel));
}

static char *
text_of(const struct resp *out)
{
    static char s[OUT_CAP * 4];
    size_t n = out->len < sizeof(s) - 1 ? out->len : sizeof(s) - 1;
    memcpy(s, out->buf, n);
    s[n] = '\0';
    return s;
}

static int
status_of(const struct resp *out)
{
    int status = 0;
    ck_assert_int_eq(sscanf(text_of(out), "HTTP/1.1 %d ", &status), 1);
    return status;
}

static void
done(struct fixture *f)
{
    req_put(f->r);
    resp_release(f->out);
    free(f->out);
}

/* ---- handlers ---- */

static int calls;
static char seen_rel[256];
static void *seen_data;
static struct req *held;

static enum req_result
h_now(struct req *r)
{
    calls++;
    snprintf(seen_rel, sizeof(seen_rel), "%.*s", (int)r->rel_len, r->rel);
    seen_data = req_route_data(r);
    struct http_span q = req_query(r);
    char v[64];
    snprintf(v, sizeof(v), "%.*s", (int)q.n, q.p);
    req_header_add(r, "X-Query", v);
    req_send_copy(r, "hi", 2);
    return REQ_DONE;
}

static enum req_result
h_later(struct req *r)
{
    calls++;
    held = r;
    return REQ_PENDING;
}

static enum req_result
h_nothing(struct req *r)
{
    (void)r;
    return REQ_DONE;
}

#define VERBS (1u << VERB_GET | 1u << VERB_HEAD | 1u << VERB_POST | 1u << VERB_OPTIONS)
static const struct handler now = {"now", VERBS, "GET, HEAD, POST, OPTIONS", REQ_BODY_DISCARD,
                                   0,     h_now};
static const struct handler later = {"later",         VERBS,   "GET, HEAD, POST, OPTIONS",
                                     REQ_BODY_BUFFER, 1 << 20, h_later};
static const struct handler nothing = {"nothing", 1u << VERB_GET, "GET", REQ_BODY_DISCARD,
                                       0,         h_nothing};

START_TEST(test_routes_and_own_answers)
{
    static int data;
    struct fixture f;
    ck_assert_int_eq(route_add("/app/", &now, &data, false), 0);

    ck_assert_int_eq(complete(&f, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_SEND);
    ck_assert_int_eq(status_of(f.out), 404);
    ck_assert_ptr_null(req_route_name(f.r));
    done(&f);

    /* The decoded, normalised path is what routes see. */
    ck_assert_int_eq(complete(&f, "GET /%61pp/./y/../z?k=v HTTP/1.1\r\nHost: a\r\n\r\n"),
                     REQ_NEXT_SEND);
    ck_assert_int_eq(status_of(f.out), 200);
    ck_assert_str_eq(seen_rel, "app/z");
    ck_assert_ptr_eq(seen_data, &data);
    ck_assert_ptr_nonnull(strstr(text_of(f.out), "\r\nX-Query: k=v\r\n"));
    ck_assert_ptr_nonnull(strstr(text_of(f.out), "\r\nContent-Length: 2\r\n"));
    ck_assert_ptr_nonnull(strstr(text_of(f.out), "\r\n\r\nhi"));
    ck_assert_str_eq(req_route_name(f.r), "now");
    ck_assert_int_eq(kicks, 0); /* answered inside the hook: nothing to kick */
    done(&f);

    ck_assert_int_eq(complete(&f, "DELETE /app/ HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_SEND);
    ck_assert_int_eq(status_of(f.out), 405);
    ck_assert_ptr_nonnull(strstr(text_of(f.out), "\r\nAllow: GET, HEAD, POST, OPTIONS\r\n"));
    done(&f);

    calls = 0;
    ck_assert_int_eq(complete(&f, "OPTIONS /app/ HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_SEND);
    ck_assert_int_eq(status_of(f.out), 200);
    ck_assert_int_eq(calls, 0); /* answered by the server from `allow` */
    done(&f);

    ck_assert_int_eq(complete(&f, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_SEND);
    ck_assert_ptr_nonnull(strstr(text_of(f.out), "\r\nAllow: GET, HEAD, OPTIONS\r\n"));
    done(&f);

    /* Climbing above the root does not normalise: 400 before any route. */
    ck_assert_int_eq(complete(&f, "GET /app/../../x HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_SEND);
    ck_assert_int_eq(status_of(f.out), 400);
    done(&f);
}
END_TEST

/* A hook that returns without answering gets a 500 for it. */
START_TEST(test_hook_without_answer)
{
    struct fixture f;
    ck_assert_int_eq(route_add("/", &nothing, NULL, false), 0);
    ck_assert_int_eq(complete(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_SEND);
    ck_assert_int_eq(status_of(f.out), 500);
    done(&f);
}
END_TEST

static int cancels;

static void
on_cancel(struct req *r, void *arg)
{
    cancels++;
    ck_assert_ptr_eq(arg, &cancels);
    /* Inside the callback every call is already a no-op. */
    ck_assert_int_eq(req_header_add(r, "X-A", "b"), -1);
    ck_assert_int_eq(errno, ECANCELED);
}

START_TEST(test_pending_then_answer)
{
    struct fixture f;
    ck_assert_int_eq(route_add("/", &later, NULL, false), 0);
    ck_assert_int_eq(complete(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_WAIT);
    ck_assert_ptr_eq(held, f.r);
    ck_assert_int_eq(req_status(held, 201), 0);
    ck_assert_int_eq(req_status(held, 202), -1);
    ck_assert_int_eq(errno, EALREADY);
    ck_assert_int_eq(req_send_copy(held, "later", 5), 0);
    ck_assert_int_eq(kicks, 1); /* from outside the hook: the connection is told */
    ck_assert_int_eq(status_of(f.out), 201);
    ck_assert_ptr_nonnull(strstr(text_of(f.out), "\r\n\r\nlater"));
    ck_assert(req_response_done(f.r));
    /* Answered: a second answer is refused. */
    ck_assert_int_eq(req_send_copy(held, "x", 1), -1);
    ck_assert_int_eq(errno, EALREADY);
    done(&f);

    /* 204 has no body and no length of one. */
    ck_assert_int_eq(complete(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_WAIT);
    ck_assert_int_eq(req_status(held, 204), 0);
    ck_assert_int_eq(req_send_copy(held, "", 0), 0);
    ck_assert_int_eq(status_of(f.out), 204);
    ck_assert_ptr_null(strstr(text_of(f.out), "Content-Length"));
    ck_assert_ptr_null(strstr(text_of(f.out), "Transfer-Encoding"));
    done(&f);
}
END_TEST

START_TEST(test_cancel_once_then_noop)
{
    struct fixture f;
    ck_assert_int_eq(route_add("/", &later, NULL, false), 0);
    ck_assert_int_eq(complete(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_WAIT);
    ck_assert_int_eq(req_on_cancel(held, on_cancel, &cancels), 0);
    cancels = 0;
    req_cancel(f.r);
    req_cancel(f.r);
    ck_assert_int_eq(cancels, 1);
    /* The connection lets go; the handler still holds the object, and every call fails. */
    struct resp *out = f.out;
    req_put(f.r);
    ck_assert_int_eq(req_status(held, 200), -1);
    ck_assert_int_eq(errno, ECANCELED);
    ck_assert_int_eq(req_stream_wake(held), -1);
    ck_assert_int_eq(req_send_copy(held, "x", 1), -1); /* finishing: lets go (ASan sees) */
    ck_assert_int_eq(kicks, 0);
    resp_release(out);
    free(out);
}
END_TEST

START_TEST(test_header_limit_and_rules)
{
    struct fixture f;
    ck_assert_int_eq(route_add("/", &later, NULL, false), 0);
    ck_assert_int_eq(complete(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_WAIT);
    ck_assert_int_eq(req_header_add(held, "Content-Length", "5"), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(req_header_add(held, "X-Bad", "a\r\nInjected: 1"), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(req_header_add(held, "Bad Name", "v"), -1);
    ck_assert_int_eq(errno, EINVAL);
    char big[200];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    int ok = 0;
    while (req_header_add(held, "X-Big", big) == 0)
        ok++;
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_int_ge(ok, 1); /* max_response_header is 512 here */
    ck_assert_int_eq(req_send_copy(held, "x", 1), 0);
    ck_assert_int_eq(status_of(f.out), 500);
    ck_assert_ptr_null(strstr(text_of(f.out), "X-Big"));
    done(&f);
}
END_TEST

/* A buffered body: small ones in memory, larger ones in an unlinked temp file. */
START_TEST(test_body_buffered_and_spilled)
{
    struct fixture f;
    static const struct handler big = {"big", VERBS, "POST", REQ_BODY_BUFFER, 1 << 20, h_later};
    ck_assert_int_eq(route_add("/", &big, NULL, false), 0);

    char rel[512];
    ck_assert_int_eq(
        parse(&f, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", false),
        HTTP_HEADERS);
    ck_assert_int_eq(req_headers(f.r, f.out, rel, sizeof(rel)), REQ_NEXT_READ);
    size_t used;
    ck_assert_int_eq(http_feed(&f.r->http, f.r->data + f.r->pos, f.r->len - f.r->pos, &used),
                     HTTP_BODY);
    f.r->pos += used;
    ck_assert_int_eq(req_body_piece(f.r), REQ_NEXT_READ);
    ck_assert_int_eq(http_feed(&f.r->http, f.r->data + f.r->pos, f.r->len - f.r->pos, &used),
                     HTTP_COMPLETE);
    ck_assert_int_eq(req_complete(f.r, f.out, rel, sizeof(rel)), REQ_NEXT_WAIT);
    const char *p;
    size_t n;
    ck_assert_int_eq(req_body_mem(held, &p, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(p, "hello", 5), 0);
    ck_assert_int_eq(req_body_fd(held), -1);
    req_error(held, 400);
    done(&f);

    /* 3000 bytes in pieces of 600: past body_buffer_size (1k) they move to a file. */
    char *text = malloc(4000);
    int k = snprintf(text, 4000, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3000\r\n\r\n");
    for (int i = 0; i < 3000; i++)
        text[k + i] = (char)('a' + i % 26);
    text[k + 3000] = '\0';
    ck_assert_int_eq(complete(&f, text), REQ_NEXT_WAIT);
    free(text);
    ck_assert_int_eq(req_body_length(held), 3000);
    ck_assert_int_eq(req_body_mem(held, &p, &n), -1);
    int fd = req_body_fd(held);
    ck_assert_int_ge(fd, 0);
    char back[3000];
    ck_assert_int_eq(pread(fd, back, sizeof(back), 0), 3000);
    for (int i = 0; i < 3000; i++)
        ck_assert_int_eq(back[i], 'a' + i % 26);
    req_send_copy(held, "ok", 2);
    done(&f);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* closed with the request */
}
END_TEST

static int produced;

static void
produce(struct req *r, void *arg)
{
    (void)arg;
    produced++;
    if (produced == 1)
        ck_assert_int_eq(req_stream_write(r, "hello", 5), 5);
    else
        ck_assert_int_eq(req_stream_end(r, "X-Sum: 5\r\n"), 0);
}

START_TEST(test_stream_framing)
{
    struct fixture f;
    ck_assert_int_eq(route_add("/", &later, NULL, false), 0);
    ck_assert_int_eq(complete(&f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), REQ_NEXT_WAIT);
    ck_assert_int_eq(req_send_stream(held, produce, NULL), 0);
    ck_assert_ptr_nonnull(strstr(text_of(f.out), "\r\nTransfer-Encoding: chunked\r\n"));
    ck_assert(!req_response_done(f.r));
    produced = 0;
    f.out->sent = f.out->len; /* the header went out */
    ck_assert(req_stream_pull(f.r));
    ck_assert_str_eq(text_of(f.out), "5\r\nhello\r\n");
    f.out->sent = f.out->len;
    ck_assert(req_stream_pull(f.r));
    ck_assert_str_eq(text_of(f.out), "0\r\nX-Sum: 5\r\n\r\n");
    f.out->sent = f.out->len;
    ck_assert(req_response_done(f.r));
    /* Bad trailers are refused and left out. */
    done(&f);

    /* HTTP/1.0: no chunks, no trailers; the end of the body is the end of the connection. */
    ck_assert_int_eq(complete(&f, "GET / HTTP/1.0\r\n\r\n"), REQ_NEXT_WAIT);
    ck_assert_int_eq(req_send_stream(held, produce, NULL), 0);
    ck_assert(f.out->close);
    ck_assert_ptr_null(strstr(text_of(f.out), "Transfer-Encoding"));
    produced = 0;
    f.out->sent = f.out->len;
    ck_assert(req_stream_pull(f.r));
    ck_assert_str_eq(text_of(f.out), "hello");
    f.out->sent = f.out->len;
    ck_assert(!req_stream_pull(f.r));
    ck_assert(req_response_done(f.r));
    done(&f);
}
END_TEST

Suite *
req_suite(void)
{
    Suite *s = suite_create("req");
    TCase *tc = tcase_create("seam");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_routes_and_own_answers);
    tcase_add_test(tc, test_hook_without_answer);
    tcase_add_test(tc, test_pending_then_answer);
    tcase_add_test(tc, test_cancel_once_then_noop);
    tcase_add_test(tc, test_header_limit_and_rules);
    tcase_add_test(tc, test_body_buffered_and_spilled);
    tcase_add_test(tc, test_stream_framing);
    suite_add_tcase(s, tc);
    return s;
}
