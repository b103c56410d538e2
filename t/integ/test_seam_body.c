/* Integration tests of request bodies through the seam (worker/req.h), against the test build
 * sluice-t: buffered bodies in memory and spilled to an unlinked temp file in body_temp_path,
 * chunked and Content-Length uploads to buffering and streaming handlers, per-handler body
 * limits, back-pressure from a handler that stops taking the body (the worker's memory stays
 * flat while the client's send blocks), and Expect: 100-continue. One worker; every wait is
 * bounded. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "test_seam.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MS 5000

/* What /_t/echo answered. */
struct echo {
    long long len;
    unsigned sum;
    char where[16];
    char path[512];
};

static void
parse_echo(const struct http_resp *r, struct echo *e, const char *what)
{
    ck_assert_msg(r->status == 200, "%s: status %d", what, r->status);
    ck_assert_msg(r->body != NULL && sscanf(r->body, "len=%lld sum=%u where=%15s path=%511s",
                                            &e->len, &e->sum, e->where, e->path) == 4,
                  "%s: answer '%s'", what, r->body ? r->body : "");
}

/* `method target` with a Content-Length body on fd (kept open); the response into r. */
static void
send_with_length(int fd, const char *target, const char *body, size_t len, struct http_resp *r)
{
    char head[512];
    snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
             target, len);
    conn_sendstr(fd, head);
    conn_send(fd, body, len);
    http_read_response(fd, r, 0);
}

/* The same body in `parts` chunks of about equal size. */
static void
send_chunked(int fd, const char *target, const char *body, size_t len, int parts,
             struct http_resp *r)
{
    char line[512];
    snprintf(line, sizeof(line),
             "POST %s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", target);
    conn_sendstr(fd, line);
    size_t step = len / (size_t)parts + 1;
    for (size_t at = 0; at < len; at += step) {
        size_t n = len - at < step ? len - at : step;
        snprintf(line, sizeof(line), "%zx\r\n", n);
        conn_sendstr(fd, line);
        conn_send(fd, body + at, n);
        conn_sendstr(fd, "\r\n");
    }
    conn_sendstr(fd, "0\r\n\r\n");
    http_read_response(fd, r, 0);
}

static bool
dir_empty(const char *path)
{
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "%s: %s", path, strerror(errno));
    bool empty = true;
    for (struct dirent *e; empty && (e = readdir(d)) != NULL;)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* After a spilled body's request: the worker lets go of the temp file, and nothing is left in
 * body_temp_path. */
static void
expect_temp_gone(pid_t worker, const char *tmpdir, const char *what)
{
    char link[PATH_MAX], prefix[PATH_MAX];
    snprintf(prefix, sizeof(prefix), "%s/", tmpdir);
    int64_t deadline = now_ms() + WAIT_MS;
    while (proc_has_fd_under(worker, prefix, link, sizeof(link))) {
        ck_assert_msg(now_ms() < deadline, "%s: worker %d still holds %s", what, (int)worker, link);
        sleep_ms(10);
    }
    ck_assert_msg(dir_empty(tmpdir), "%s: %s is not empty", what, tmpdir);
}

/* body_buffer_size = 16k: a body up to it stays in memory, a larger one goes to an unlinked
 * temp file under body_temp_path (read back whole by the handler), which is closed when the
 * request ends; Content-Length and chunked alike. */
START_TEST(body_spill_to_temp_file)
{
    struct srv s;
    struct http_resp r;
    struct echo e;
    char tmpdir[SRV_PATH_MAX], real[PATH_MAX], cfg[1024];
    srv_init(&s);
    s.test_bin = true;
    srv_path(&s, "tmp", tmpdir, sizeof(tmpdir));
    ck_assert_int_eq(mkdir(tmpdir, 0700), 0);
    ck_assert_ptr_nonnull(realpath(tmpdir, real));
    snprintf(cfg, sizeof(cfg),
             "workers = 1\ngraceful_timeout = 2s\nbody_buffer_size = 16k\nbody_temp_path = %s\n",
             tmpdir);
    srv_write_config(&s, cfg);
    srv_spawn(&s);
    pid_t worker = seam_worker(&s);

    char *body = pattern_alloc(0, 100000);
    int fd = conn_open(s.port);
    send_with_length(fd, "/_t/echo", body, 100000, &r);
    parse_echo(&r, &e, "100 KB");
    http_resp_free(&r);
    ck_assert_int_eq(e.len, 100000);
    ck_assert_uint_eq(e.sum, app_sum(APP_SUM_INIT, body, 100000));
    ck_assert_msg(strcmp(e.where, "file") == 0, "100 KB with body_buffer_size 16k: in %s", e.where);
    ck_assert_msg(strncmp(e.path, real, strlen(real)) == 0 && e.path[strlen(real)] == '/',
                  "temp file %s is not under %s", e.path, real);
    expect_temp_gone(worker, real, "100 KB, Content-Length");

    /* The boundary: 16 KB in memory, one byte more in a file. */
    send_with_length(fd, "/_t/echo", body, 16384, &r);
    parse_echo(&r, &e, "16 KB");
    http_resp_free(&r);
    ck_assert_msg(e.len == 16384 && strcmp(e.where, "mem") == 0, "16384 bytes: %lld in %s", e.len,
                  e.where);
    send_with_length(fd, "/_t/echo", body, 16385, &r);
    parse_echo(&r, &e, "16 KB + 1");
    http_resp_free(&r);
    ck_assert_msg(e.len == 16385 && strcmp(e.where, "file") == 0, "16385 bytes: %lld in %s", e.len,
                  e.where);
    ck_assert_uint_eq(e.sum, app_sum(APP_SUM_INIT, body, 16385));
    expect_temp_gone(worker, real, "16 KB + 1");

    send_with_length(fd, "/_t/echo", body, 100, &r);
    parse_echo(&r, &e, "100 bytes");
    http_resp_free(&r);
    ck_assert_msg(e.len == 100 && strcmp(e.where, "mem") == 0, "100 bytes: %lld in %s", e.len,
                  e.where);

    send_chunked(fd, "/_t/echo", body, 100000, 7, &r);
    parse_echo(&r, &e, "100 KB chunked");
    http_resp_free(&r);
    ck_assert_int_eq(e.len, 100000);
    ck_assert_uint_eq(e.sum, app_sum(APP_SUM_INIT, body, 100000));
    ck_assert_str_eq(e.where, "file");
    expect_temp_gone(worker, real, "100 KB, chunked");
    close(fd);
    free(body);
    srv_stop(&s);
}
END_TEST

/* Read one response on fd and require `want` (the body is read by its framing). */
static void
expect_status(int fd, int want, const char *what)
{
    struct http_resp r;
    int rc = http_try_read(fd, &r, 0);
    ck_assert_msg(rc == 0, "%s: %s", what, r.err);
    ck_assert_msg(r.status == want, "%s: status %d, want %d", what, r.status, want);
    http_resp_free(&r);
}

/* Uploads to a buffering handler (/_t/echo) and a streaming one (/_t/upload, which pauses
 * after each piece and resumes from a timer), chunked and with Content-Length; a handler's
 * max_body above the server's max_body_size lets a larger body in, one below it keeps a
 * smaller one out (413, from the header when the length is known, mid-body when chunked). */
START_TEST(uploads_chunked_and_length)
{
    struct srv s;
    struct http_resp r;
    struct echo e;
    char want[128];
    seam_start(&s, "max_body_size = 64k\n");
    size_t big = 1 << 20;
    char *body = pattern_alloc(0, big);

    int fd = conn_open(s.port);
    send_chunked(fd, "/_t/echo", body, 31005, 3, &r);
    parse_echo(&r, &e, "chunked to /_t/echo");
    http_resp_free(&r);
    ck_assert_int_eq(e.len, 31005);
    ck_assert_uint_eq(e.sum, app_sum(APP_SUM_INIT, body, 31005));

    send_with_length(fd, "/_t/echo", body, 200000, &r);
    parse_echo(&r, &e, "200 KB to /_t/echo, max_body_size 64k");
    http_resp_free(&r);
    ck_assert_int_eq(e.len, 200000);
    ck_assert_uint_eq(e.sum, app_sum(APP_SUM_INIT, body, 200000));

    send_chunked(fd, "/_t/upload", body, 31005, 3, &r);
    ck_assert_int_eq(r.status, 200);
    snprintf(want, sizeof(want), "bytes=31005 sum=%u", app_sum(APP_SUM_INIT, body, 31005));
    ck_assert_msg(strncmp(r.body, want, strlen(want)) == 0, "chunked upload: '%s', want '%s'",
                  r.body, want);
    http_resp_free(&r);

    send_with_length(fd, "/_t/upload?delay=1", body, big, &r);
    ck_assert_int_eq(r.status, 200);
    snprintf(want, sizeof(want), "bytes=%zu sum=%u", big, app_sum(APP_SUM_INIT, body, big));
    ck_assert_msg(strncmp(r.body, want, strlen(want)) == 0, "1 MB upload: '%s', want '%s'", r.body,
                  want);
    http_resp_free(&r);

    send_with_length(fd, "/_t/tiny", body, 1000, &r);
    parse_echo(&r, &e, "1000 bytes to /_t/tiny");
    http_resp_free(&r);
    close(fd);
    ck_assert_int_gt(stat_now(s.port, "upload_pieces"), 2);

    /* Too large: announced, chunked, and past the handler's own 64m. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "POST /_t/tiny HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n");
    conn_send_tolerant(fd, body, 1001);
    expect_status(fd, 413, "1001 bytes to /_t/tiny");
    close(fd);
    fd = conn_open(s.port);
    conn_sendstr(fd, "POST /_t/tiny HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "7d0\r\n");
    conn_send_tolerant(fd, body, 2000);
    conn_send_tolerant(fd, "\r\n0\r\n\r\n", 7);
    expect_status(fd, 413, "2000 bytes chunked to /_t/tiny");
    close(fd);
    /* A streaming handler learns of it after the pieces it took: its request is cancelled. */
    long long gone = stat_now(s.port, "cancel_upload");
    fd = conn_open(s.port);
    conn_sendstr(fd, "POST /_t/tinyup?delay=0 HTTP/1.1\r\nHost: a\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n3e8\r\n");
    conn_send_tolerant(fd, body, 1000);
    conn_send_tolerant(fd, "\r\n3e8\r\n", 7);
    conn_send_tolerant(fd, body, 1000);
    conn_send_tolerant(fd, "\r\n0\r\n\r\n", 7);
    expect_status(fd, 413, "2000 bytes chunked to /_t/tinyup");
    close(fd);
    stat_expect(s.port, "cancel_upload", gone + 1, WAIT_MS, "over the limit mid-stream");
    ck_assert_int_eq(stat_now(s.port, "last_status"), 413);

    fd = conn_open(s.port);
    conn_sendstr(fd, "POST /_t/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 67108865\r\n\r\n");
    expect_status(fd, 413, "64 MB + 1 announced to /_t/echo");
    close(fd);
    /* Static files keep the server's max_body_size. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n");
    expect_status(fd, 413, "100 KB body to a static file, max_body_size 64k");
    close(fd);
    free(body);
    srv_stop(&s);
}
END_TEST

/* Send as much of `total` bytes as the socket takes, non-blocking, until it has taken nothing
 * for stall_ms or deadline_ms passed. Returns the bytes sent; *blocked says it stopped on a
 * full socket. */
static size_t
send_until_blocked(int fd, size_t total, int stall_ms, int deadline_ms, bool *blocked)
{
    static char chunk[65536];
    app_pattern_fill(chunk, 0, sizeof(chunk));
    int flags = fcntl(fd, F_GETFL);
    ck_assert_int_eq(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
    size_t sent = 0;
    int64_t deadline = now_ms() + deadline_ms;
    *blocked = false;
    while (sent < total && now_ms() < deadline) {
        size_t n = total - sent < sizeof(chunk) ? total - sent : sizeof(chunk);
        ssize_t w = send(fd, chunk, n, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        ck_assert_msg(w < 0 && (errno == EAGAIN || errno == EINTR), "send after %zu bytes: %s",
                      sent, strerror(errno));
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, stall_ms) == 0) {
            *blocked = true;
            break;
        }
    }
    fcntl(fd, F_SETFL, flags);
    return sent;
}

/* A streaming handler that stops taking the body: the worker stops reading, TCP pushes back,
 * the client's send blocks long before 20 MB, and the worker's memory stays where it was.
 * When the client then leaves, the cancel callback runs. */
START_TEST(upload_backpressure_flat_memory)
{
    struct srv s;
    struct http_resp r;
    seam_start(&s, NULL);
    pid_t worker = seam_worker(&s);

    /* Warm up the paths the stalled request takes, so first-use allocations are not counted. */
    char *body = pattern_alloc(0, 1 << 20);
    int fd = conn_open(s.port);
    for (int i = 0; i < 3; i++) {
        send_with_length(fd, "/_t/upload?delay=0", body, 1 << 20, &r);
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
    }
    close(fd);
    free(body);
    long long gone = stat_now(s.port, "log_client_gone");
    long rss0 = proc_rss_kb(worker);

    size_t total = 20u << 20;
    fd = conn_open(s.port);
    char head[256];
    snprintf(head, sizeof(head),
             "POST /_t/upload?stall=1 HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", total);
    conn_sendstr(fd, head);
    bool blocked;
    size_t sent = send_until_blocked(fd, total, 500, 20000, &blocked);
    ck_assert_msg(blocked && sent < total, "sent %zu of %zu bytes without blocking", sent, total);
    stat_expect(s.port, "upload_stalled", 1, WAIT_MS, "stalled upload");
    long long taken = stat_now(s.port, "upload_stall_bytes");
    long rss1 = proc_rss_kb(worker);
    ck_assert_msg(rss1 - rss0 <= 2048,
                  "worker RSS grew from %ld kB to %ld kB while %zu bytes were sent to a paused "
                  "handler (it took %lld)",
                  rss0, rss1, sent, taken);
    ck_assert_msg(taken < (1 << 20), "the paused handler was given %lld bytes", taken);

    conn_reset(fd);
    stat_expect(s.port, "cancel_upload", 1, WAIT_MS, "client gone from a stalled upload");
    stat_expect(s.port, "log_client_gone", gone + 1, WAIT_MS, "client gone from a stalled upload");
    ck_assert_int_eq(stat_now(s.port, "upload_stalled"), 0);
    srv_stop(&s);
}
END_TEST

/* Expect: 100-continue: a handler that takes the body (streamed or buffered) gets the client
 * a 100 before the final answer; one that answers without it (403), a body over the limit
 * (413) and a static file (which discards bodies) get the final answer with no 100 first. */
START_TEST(expect_100_continue)
{
    struct srv s;
    struct http_resp r;
    struct echo e;
    char want[128];
    seam_start(&s, NULL);
    char *body = pattern_alloc(0, 5000);
    static const char expect_hdr[] = "Expect: 100-continue\r\n\r\n";

    int fd = conn_open(s.port);
    conn_sendstr(fd, "POST /_t/upload?delay=0 HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n");
    conn_sendstr(fd, expect_hdr);
    expect_head(fd, &r, 100, "streamed upload with Expect");
    ck_assert_str_eq(r.version, "HTTP/1.1");
    conn_send(fd, body, 1000);
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    snprintf(want, sizeof(want), "bytes=1000 sum=%u", app_sum(APP_SUM_INIT, body, 1000));
    ck_assert_msg(strncmp(r.body, want, strlen(want)) == 0, "'%s', want '%s'", r.body, want);
    http_resp_free(&r);

    conn_sendstr(fd, "POST /_t/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n");
    conn_sendstr(fd, expect_hdr);
    expect_head(fd, &r, 100, "buffered upload with Expect");
    conn_send(fd, body, 5000);
    http_read_response(fd, &r, 0);
    parse_echo(&r, &e, "buffered upload with Expect");
    http_resp_free(&r);
    ck_assert_int_eq(e.len, 5000);
    close(fd);

    /* HTTP/1.0 knows no 100 (RFC 9110 10.1.1): the expectation is ignored, so the body sent
     * right behind the header gets the final answer alone. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "POST /_t/upload?delay=0 HTTP/1.0\r\nContent-Length: 1000\r\n");
    conn_sendstr(fd, expect_hdr);
    conn_send(fd, body, 1000);
    expect_head(fd, &r, 200, "HTTP/1.0 upload with Expect");
    close(fd);

    fd = conn_open(s.port);
    conn_sendstr(fd, "POST /_t/refuse HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n");
    conn_sendstr(fd, expect_hdr);
    expect_head(fd, &r, 403, "refused upload with Expect");
    ck_assert_int_eq(http_try_read_body(fd, &r, 0), 0);
    http_assert_body(&r, "refused\n", "refused upload with Expect");
    http_resp_free(&r);
    close(fd);

    fd = conn_open(s.port);
    conn_sendstr(fd, "POST /_t/tiny HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n");
    conn_sendstr(fd, expect_hdr);
    expect_head(fd, &r, 413, "too large with Expect");
    close(fd);

    fd = conn_open(s.port);
    conn_sendstr(fd, "GET /index.html HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n");
    conn_sendstr(fd, expect_hdr);
    expect_head(fd, &r, 200, "static file with Expect");
    ck_assert_int_eq(http_try_read_body(fd, &r, 0), 0);
    http_assert_body(&r, SRV_INDEX_HTML, "static file with Expect");
    ck_assert_msg(http_says_close(&r), "static file with Expect: no Connection: close");
    http_resp_free(&r);
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "static file with Expect: not closed");
    close(fd);
    free(body);
    srv_stop(&s);
}
END_TEST

/* Bodies on a pipelined connection: each request's body ends where its framing says, for a
 * streaming handler, a buffering one and one that refuses the body (whose bytes must never be
 * read as the next request). */
START_TEST(pipelined_bodies)
{
    struct srv s;
    struct http_resp r;
    char want[64];
    seam_start(&s, NULL);
    int fd = conn_open(s.port);
    conn_sendstr(fd, "POST /_t/upload?delay=0 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                     "POST /_t/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\n\r\n"
                     "GET /_t/now?body=end HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    http_read_response(fd, &r, 0);
    snprintf(want, sizeof(want), "bytes=5 sum=%u pieces=1\n", app_sum(APP_SUM_INIT, "hello", 5));
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, want, "first: streamed upload");
    http_resp_free(&r);
    http_read_response(fd, &r, 0);
    snprintf(want, sizeof(want), "len=3 sum=%u where=mem path=-\n",
             app_sum(APP_SUM_INIT, "abc", 3));
    http_assert_body(&r, want, "second: buffered chunked");
    http_resp_free(&r);
    http_read_response(fd, &r, 0);
    http_assert_body(&r, "end", "third");
    http_resp_free(&r);
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "not closed after Connection: close");
    close(fd);

    /* The refused body looks like nothing: were it parsed as a request, it would get a 400. */
    fd = conn_open(s.port);
    conn_sendstr(fd, "POST /_t/refuse HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"
                     "GET /_t/now?body=next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 403);
    bool closes = http_says_close(&r);
    http_resp_free(&r);
    if (closes) {
        ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "403 with Connection: close, then more");
    } else {
        int rc = http_try_read(fd, &r, 0);
        ck_assert_msg(rc == 0, "after the refused body: %s", r.err);
        ck_assert_msg(r.status == 200, "after the refused body: %d (its bytes read as a request?)",
                      r.status);
        http_assert_body(&r, "next", "after the refused body");
        http_resp_free(&r);
    }
    close(fd);
    srv_stop(&s);
}
END_TEST

/* The log phase counts the request body bytes received: buffered in memory, spilled to a
 * file, streamed to a handler, chunked. */
START_TEST(log_counts_body_bytes)
{
    struct srv s;
    struct http_resp r;
    seam_start(&s, NULL);
    char *body = pattern_alloc(0, 300000);
    static const struct {
        const char *target;
        size_t len;
        bool chunked;
    } cases[] = {
        {"/_t/echo", 1000, false},          {"/_t/echo", 300000, false},
        {"/_t/echo", 70000, true},          {"/_t/upload?delay=0", 300000, false},
        {"/_t/upload?delay=0", 5000, true},
    };
    int fd = conn_open(s.port);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].chunked)
            send_chunked(fd, cases[i].target, body, cases[i].len, 3, &r);
        else
            send_with_length(fd, cases[i].target, body, cases[i].len, &r);
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
        struct seam_stats st;
        stats_read(s.port, &st);
        ck_assert_msg(stats_val(&st, "last_body_bytes") == (long long)cases[i].len,
                      "log phase of %zu bytes%s to %s: body_bytes %lld; stats:\n%s", cases[i].len,
                      cases[i].chunked ? " chunked" : "", cases[i].target,
                      stats_val(&st, "last_body_bytes"), st.text);
    }
    close(fd);
    free(body);
    srv_stop(&s);
}
END_TEST

Suite *
integ_seam_body_suite(void)
{
    Suite *s = suite_create("integ_seam_body");
    TCase *tc = tcase_create("seam_body");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, body_spill_to_temp_file);
    tcase_add_test(tc, uploads_chunked_and_length);
    tcase_add_test(tc, upload_backpressure_flat_memory);
    tcase_add_test(tc, expect_100_continue);
    tcase_add_test(tc, pipelined_bodies);
    tcase_add_test(tc, log_counts_body_bytes);
    suite_add_tcase(s, tc);
    return s;
}
