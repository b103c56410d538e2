/* Unit tests for worker/accesslog.c: both line formats with every field known and with the
 * unknowns of a request that never got a complete header, escaping (nginx's \xXX for combined;
 * JSON strings with valid UTF-8 kept and every other high byte as \u00XX), the time stamps, and
 * the worker buffer: a line waits for the threshold or the timer, a line longer than the buffer
 * goes out directly with what preceded it, a reopen flushes into the old descriptor first. */
#include "worker/accesslog.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ev.h"
#include "worker/req.h"
#include "worker/req_internal.h"

#define SPAN(s) ((struct http_span){(s), sizeof(s) - 1})

static const struct accesslog_entry full = {
    .time_iso = "2026-12-04T15:20:01.123Z",
    .time_local = "04/Dec/2026:15:20:01 +0000",
    .remote = "192.0.2.7",
    .method = SPAN("GET"),
    .target = SPAN("/a/b?c=d"),
    .referer = SPAN("http://example.com/"),
    .user_agent = SPAN("curl/8.5.0"),
    .http_minor = 1,
    .status = 200,
    .bytes = 1234,
    .body_bytes = 1000,
    .duration_us = 2000,
    .tls = true,
    .worker = 3,
    .generation = 2,
    .route = "static",
};

/* Format e into a heap block of exactly accesslog_bound(e) bytes (ASan sees an overrun) and
 * return it NUL-terminated. */
static char *
format(int fmt, const struct accesslog_entry *e)
{
    size_t bound = accesslog_bound(e);
    char *buf = malloc(bound + 1);
    ck_assert_ptr_nonnull(buf);
    size_t n = accesslog_format(buf, fmt, e);
    ck_assert_msg(n <= bound, "line of %zu bytes past its bound %zu", n, bound);
    buf[n] = '\0';
    return buf;
}

static void
assert_line(int fmt, const struct accesslog_entry *e, const char *want)
{
    char *got = format(fmt, e);
    ck_assert_msg(strcmp(got, want) == 0, "got:\n%s\nwant:\n%s", got, want);
    free(got);
}

START_TEST(test_combined_full)
{
    assert_line(CFG_ACCESS_COMBINED, &full,
                "192.0.2.7 - - [04/Dec/2026:15:20:01 +0000] \"GET /a/b?c=d HTTP/1.1\" 200 1000 "
                "\"http://example.com/\" \"curl/8.5.0\"\n");
}
END_TEST

START_TEST(test_json_full)
{
    assert_line(
        CFG_ACCESS_JSON, &full,
        "{\"time\":\"2026-12-04T15:20:01.123Z\",\"remote\":\"192.0.2.7\",\"method\":\"GET\","
        "\"target\":\"/a/b?c=d\",\"status\":200,\"bytes\":1234,\"duration_us\":2000,"
        "\"tls\":true,\"worker\":3,\"generation\":2,\"route\":\"static\"}\n");
}
END_TEST

/* A malformed request: no method, target or fields; no route; a unix-socket client. */
static struct accesslog_entry
unknown_entry(void)
{
    struct accesslog_entry e = full;
    e.remote = "-";
    e.method = e.target = e.referer = e.user_agent = (struct http_span){NULL, 0};
    e.http_minor = 0;
    e.status = 400;
    e.bytes = 271;
    e.body_bytes = 150;
    e.tls = false;
    e.route = NULL;
    return e;
}

START_TEST(test_unknown_fields)
{
    struct accesslog_entry e = unknown_entry();
    assert_line(CFG_ACCESS_COMBINED, &e,
                "- - - [04/Dec/2026:15:20:01 +0000] \"-\" 400 150 \"-\" \"-\"\n");
    assert_line(CFG_ACCESS_JSON, &e,
                "{\"time\":\"2026-12-04T15:20:01.123Z\",\"remote\":\"-\",\"method\":\"-\","
                "\"target\":\"-\",\"status\":400,\"bytes\":271,\"duration_us\":2000,"
                "\"tls\":false,\"worker\":3,\"generation\":2,\"route\":null}\n");
}
END_TEST

/* HTTP/1.0 and an empty header value ("-", as nginx logs it). */
START_TEST(test_combined_http10_empty_field)
{
    struct accesslog_entry e = full;
    e.http_minor = 0;
    e.referer = (struct http_span){"", 0};
    e.status = 0;
    e.body_bytes = 0;
    assert_line(CFG_ACCESS_COMBINED, &e,
                "192.0.2.7 - - [04/Dec/2026:15:20:01 +0000] \"GET /a/b?c=d HTTP/1.0\" 0 0 \"-\" "
                "\"curl/8.5.0\"\n");
}
END_TEST

START_TEST(test_combined_escaping)
{
    struct accesslog_entry e = full;
    e.target = SPAN("/q\"x\\y\x01\x7f\xc3\xa9\xff");
    e.user_agent = SPAN("a\tb");
    e.referer = SPAN("\"");
    assert_line(CFG_ACCESS_COMBINED, &e,
                "192.0.2.7 - - [04/Dec/2026:15:20:01 +0000] "
                "\"GET /q\\x22x\\x5Cy\\x01\\x7F\\xC3\\xA9\\xFF HTTP/1.1\" 200 1000 \"\\x22\" "
                "\"a\\x09b\"\n");
}
END_TEST

/* Strings: JSON escapes; valid UTF-8 (2, 3, 4 bytes) as it is; each byte of an invalid
 * sequence (a stray continuation, an overlong form, a surrogate, past U+10FFFF, cut short at
 * the end) as \u00XX. */
START_TEST(test_json_escaping)
{
    struct accesslog_entry e = full;
    e.target = SPAN("/\"\\\n\x01\x7f"
                    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                    "\x80\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82");
    e.method = SPAN("G\"T");
    char *got = format(CFG_ACCESS_JSON, &e);
    const char *want_target =
        "\"target\":\"/\\\"\\\\\\u000a\\u0001\\u007f"
        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
        "\\u0080\\u00c0\\u0080\\u00ed\\u00a0\\u0080\\u00f4\\u0090\\u0080\\u0080\\u00e2\\u0082\"";
    ck_assert_msg(strstr(got, want_target) != NULL, "got:\n%s\nwant in it:\n%s", got, want_target);
    ck_assert_msg(strstr(got, "\"method\":\"G\\\"T\"") != NULL, "method not escaped:\n%s", got);
    free(got);
}
END_TEST

/* The worst case, every byte 6 bytes out, stays within the bound (format() checks it, and the
 * block is exactly that big). */
START_TEST(test_bound_worst_case)
{
    static char ctl[4096];
    memset(ctl, 0x01, sizeof(ctl));
    struct accesslog_entry e = full;
    e.target = (struct http_span){ctl, sizeof(ctl)};
    e.user_agent = e.referer = e.method = e.target;
    e.bytes = e.body_bytes = e.duration_us = INT64_MIN;
    e.status = -1;
    free(format(CFG_ACCESS_JSON, &e));
    free(format(CFG_ACCESS_COMBINED, &e));
}
END_TEST

START_TEST(test_time_iso)
{
    char out[ACCESSLOG_TIME_ISO + 1] = {0};
    accesslog_time_iso(out, 1796397601123LL); /* 2026-12-04T15:20:01.123Z */
    ck_assert_str_eq(out, "2026-12-04T15:20:01.123Z");
    accesslog_time_iso(out, 0);
    ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    accesslog_time_iso(out, 951782400007LL);
    ck_assert_str_eq(out, "2000-02-29T00:00:00.007Z");
}
END_TEST

/* Dotted decimal as inet_ntop writes it: no leading zeros, every width of each byte. */
START_TEST(test_ipv4)
{
    static const unsigned char addrs[][4] = {
        {0, 0, 0, 0}, {255, 255, 255, 255}, {10, 0, 100, 9}, {127, 0, 0, 1}, {1, 22, 203, 99}};
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        char got[16], want[16];
        memset(got, 'x', sizeof(got));
        accesslog_ipv4(got, addrs[i]);
        ck_assert_ptr_nonnull(inet_ntop(AF_INET, addrs[i], want, sizeof(want)));
        ck_assert_str_eq(got, want);
    }
}
END_TEST

START_TEST(test_time_local)
{
    char out[ACCESSLOG_TIME_LOCAL + 1] = {0};
    struct tm tm = {
        .tm_year = 126, .tm_mon = 11, .tm_mday = 4, .tm_hour = 16, .tm_min = 20, .tm_sec = 1};
    accesslog_time_local(out, &tm, 3600);
    ck_assert_str_eq(out, "04/Dec/2026:16:20:01 +0100");
    tm = (struct tm){.tm_year = 99, .tm_mon = 0, .tm_mday = 9, .tm_hour = 3, .tm_min = 4};
    accesslog_time_local(out, &tm, -(5 * 3600 + 30 * 60));
    ck_assert_str_eq(out, "09/Jan/1999:03:04:00 -0530");
}
END_TEST

/* ---- the worker buffer, on a pipe ---- */

static struct cfg cfg;

/* Logging to a fresh pipe (non-blocking read end in *rd) with `buffer` bytes. */
static void
start_log(int buffer, int *rd)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    req_log_clear();
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_header_size = 1024;
    cfg.access_log_buffer = buffer;
    cfg.access_log_format = CFG_ACCESS_JSON;
    ev_set_now(1000000);
    ck_assert_int_eq(accesslog_init(&cfg, p[1], 1, 7), 0);
    *rd = p[0];
}

/* Bytes waiting in the pipe: their number, the text in buf. */
static size_t
drain(int rd, char *buf, size_t cap)
{
    ssize_t n = read(rd, buf, cap - 1);
    if (n < 0) {
        ck_assert_int_eq(errno, EAGAIN);
        n = 0;
    }
    buf[n] = '\0';
    return (size_t)n;
}

static int
lines(const char *text)
{
    int n = 0;
    for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        n++;
    return n;
}

/* One finished request, as conn_log gives it: nothing parsed, no peer (a unix socket). */
static void
emit(int status, const char *route)
{
    struct req_log l = {.status = status,
                        .bytes_sent = 10,
                        .start_ms = 5,
                        .end_ms = 8,
                        .duration_us = 3000,
                        .route = route};
    req_log_emit(&l);
}

START_TEST(test_buffer_threshold_and_timer)
{
    int rd;
    char out[8192];
    start_log(1000, &rd);
    emit(200, NULL);
    emit(201, NULL);
    ck_assert_uint_eq(drain(rd, out, sizeof(out)), 0); /* buffered: no write yet */
    ck_assert_msg(ev_next_deadline() <= ev_now() + ACCESSLOG_FLUSH_MS, "no flush timer armed");
    ev_set_now(ev_now() + ACCESSLOG_FLUSH_MS);
    ev_expire();
    drain(rd, out, sizeof(out));
    ck_assert_int_eq(lines(out), 2);
    ck_assert_msg(strstr(out, "\"status\":200") < strstr(out, "\"status\":201"), "%s", out);
    ck_assert_msg(strstr(out, "\"remote\":\"-\"") && strstr(out, "\"worker\":1") &&
                      strstr(out, "\"generation\":7") && strstr(out, "\"duration_us\":3000"),
                  "%s", out);
    ck_assert_int_eq(ev_next_deadline(), INT64_MAX); /* empty: the timer is off */
    accesslog_fini();
    close(rd);
}
END_TEST

/* A line that takes the buffer past its size goes out at once with the lines before it, in
 * order, in one write; a line longer than the whole buffer too. */
START_TEST(test_line_longer_than_buffer)
{
    int rd;
    char out[8192], route[ACCESSLOG_ROUTE_MAX + 1];
    memset(route, 'r', ACCESSLOG_ROUTE_MAX);
    route[ACCESSLOG_ROUTE_MAX] = '\0';
    start_log(250, &rd);
    emit(200, NULL); /* ~190 bytes: waits */
    ck_assert_uint_eq(drain(rd, out, sizeof(out)), 0);
    emit(201, route); /* ~320 bytes: longer than the buffer */
    drain(rd, out, sizeof(out));
    ck_assert_int_eq(lines(out), 2);
    ck_assert_msg(strstr(out, "\"status\":200") < strstr(out, "\"status\":201"), "%s", out);
    ck_assert_int_eq(ev_next_deadline(), INT64_MAX);
    accesslog_fini();
    close(rd);

    start_log(0, &rd); /* 0: every line at once */
    emit(204, "static");
    drain(rd, out, sizeof(out));
    ck_assert_int_eq(lines(out), 1);
    ck_assert_msg(strstr(out, "\"route\":\"static\"}\n"), "%s", out);
    accesslog_fini();
    close(rd);
}
END_TEST

/* A reopen: what was buffered goes to the old descriptor, later lines to the new one. */
START_TEST(test_adopt_flushes_old)
{
    int rd, p[2];
    char out[8192];
    start_log(4096, &rd);
    emit(200, NULL);
    emit(200, NULL);
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    accesslog_adopt(p[1]);
    drain(rd, out, sizeof(out));
    ck_assert_int_eq(lines(out), 2);
    emit(404, NULL);
    accesslog_flush();
    ck_assert_uint_eq(drain(rd, out, sizeof(out)), 0);
    drain(p[0], out, sizeof(out));
    ck_assert_int_eq(lines(out), 1);
    ck_assert_msg(strstr(out, "\"status\":404"), "%s", out);
    accesslog_fini();
    close(rd);
    close(p[0]);
}
END_TEST

/* On a pipe or socket (stdout read by a collector) no write is longer than PIPE_BUF, which the
 * kernel keeps whole: lines of several workers never interleave. A SOCK_SEQPACKET pair shows
 * each write as one record. */
START_TEST(test_pipe_writes_atomic)
{
    int sv[2];
    char rec[8192];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    req_log_clear();
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_header_size = 1024;
    cfg.access_log_buffer = 65536;
    cfg.access_log_format = CFG_ACCESS_JSON;
    ck_assert_int_eq(accesslog_init(&cfg, sv[1], 0, 1), 0);
    for (int i = 0; i < 50; i++)
        emit(200, NULL);
    accesslog_flush();
    int total = 0, records = 0;
    ssize_t n;
    while ((n = recv(sv[0], rec, sizeof(rec), MSG_DONTWAIT)) > 0) {
        ck_assert_msg(n <= PIPE_BUF, "a write of %zd bytes", n);
        ck_assert_msg(rec[n - 1] == '\n', "a write that cuts a line");
        rec[n] = '\0';
        total += lines(rec);
        records++;
    }
    ck_assert_int_eq(total, 50);
    ck_assert_int_gt(records, 1); /* ~9 KB of lines: more than one write, and not 50 */
    ck_assert_int_lt(records, 10);
    accesslog_fini();
    close(sv[0]);
}
END_TEST

/* A write that fails drops the buffer (logged), and logging goes on. */
START_TEST(test_write_error_drops)
{
    int rd, p[2];
    char out[8192];
    start_log(4096, &rd);
    close(rd);
    accesslog_adopt(open("/dev/null", O_RDONLY | O_CLOEXEC)); /* writes fail: EBADF */
    emit(200, NULL);
    accesslog_flush();
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    accesslog_adopt(p[1]);
    ck_assert_uint_eq(drain(p[0], out, sizeof(out)), 0); /* the lost line is not written again */
    emit(200, NULL);
    accesslog_flush();
    drain(p[0], out, sizeof(out));
    ck_assert_int_eq(lines(out), 1);
    accesslog_fini();
    close(p[0]);
}
END_TEST

Suite *
accesslog_suite(void)
{
    Suite *s = suite_create("accesslog");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_combined_full);
    tcase_add_test(tc, test_json_full);
    tcase_add_test(tc, test_unknown_fields);
    tcase_add_test(tc, test_combined_http10_empty_field);
    tcase_add_test(tc, test_combined_escaping);
    tcase_add_test(tc, test_json_escaping);
    tcase_add_test(tc, test_bound_worst_case);
    tcase_add_test(tc, test_time_iso);
    tcase_add_test(tc, test_time_local);
    tcase_add_test(tc, test_ipv4);
    suite_add_tcase(s, tc);
    TCase *buf = tcase_create("buffer");
    tcase_add_test(buf, test_buffer_threshold_and_timer);
    tcase_add_test(buf, test_line_longer_than_buffer);
    tcase_add_test(buf, test_adopt_flushes_old);
    tcase_add_test(buf, test_write_error_drops);
    tcase_add_test(buf, test_pipe_writes_atomic);
    suite_add_tcase(s, buf);
    return s;
}
