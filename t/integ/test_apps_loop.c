/* Application modules on the worker's loop and the file path of the API (t/modules/loopy.c):
 * a pending request answered from a watched descriptor, many at once, a client that leaves
 * while its pipe and timer are armed; a file sent with sendfile, ranges and HEAD; the codes of
 * calls that misuse the API. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t/integ/apps.h"
#include "t/integ/harness.h"

#define CFG_MAX 4096

static const char FILE_TEXT[] = "0123456789abcdefghijklmnopqrstuvwxyz\n"; /* 37 bytes */

static void
start_loopy(struct srv *s, const char *server_lines)
{
    char cfg[CFG_MAX], lines[SRV_PATH_MAX + 64], dir[SRV_PATH_MAX];
    srv_init(s);
    srv_write_file(s, "data/f.txt", FILE_TEXT, sizeof(FILE_TEXT) - 1);
    snprintf(cfg, sizeof(cfg), "%s", server_lines ? server_lines : "workers = 1\n");
    snprintf(lines, sizeof(lines), "route = /loopy/\ndir = %s\n",
             srv_path(s, "www/data", dir, sizeof(dir)));
    apps_section(cfg, sizeof(cfg), "loopy", "t/modules/loopy.so", lines);
    srv_write_config(s, cfg);
    srv_spawn(s);
}

START_TEST(watch_answers)
{
    struct srv s;
    struct http_resp r;
    start_loopy(&s, NULL);
    ck_assert_int_eq(http_simple(s.port, "GET", "/loopy/pipe?ms=0", &r), 200);
    http_assert_body(&r, "piped 0\n", "pipe, at once");
    http_resp_free(&r);
    ck_assert_int_eq(http_simple(s.port, "GET", "/loopy/pipe?ms=150", &r), 200);
    http_assert_body(&r, "piped 150\n", "pipe, later");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

/* 50 requests pending at once on one worker, each with its own pipe, watch and timer. */
START_TEST(many_watches)
{
    struct srv s;
    int fds[50];
    char req[128], want[32];
    start_loopy(&s, NULL);
    for (int i = 0; i < 50; i++) {
        fds[i] = conn_open(s.port);
        snprintf(req, sizeof(req), "GET /loopy/pipe?ms=%d HTTP/1.1\r\nHost: t\r\n\r\n", 50 + i);
        conn_sendstr(fds[i], req);
    }
    for (int i = 0; i < 50; i++) {
        struct http_resp r;
        http_read_response(fds[i], &r, 0);
        ck_assert_int_eq(r.status, 200);
        snprintf(want, sizeof(want), "piped %d\n", 50 + i);
        http_assert_body(&r, want, "one of many");
        http_resp_free(&r);
        close(fds[i]);
    }
    srv_stop(&s);
}
END_TEST

/* Clients that leave while their pipe is watched and their timer armed: the cancel callback
 * frees both; the worker serves on (under ASan, a use after the cancel would be reported and
 * fail srv_stop's log check). */
START_TEST(client_leaves)
{
    struct srv s;
    struct http_resp r;
    start_loopy(&s, "workers = 1\nlog_level = debug\n");
    for (int i = 0; i < 20; i++) {
        int fd = conn_open(s.port);
        conn_sendstr(fd, "GET /loopy/pipe?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n");
        close(fd);
    }
    ck_assert_int_eq(http_simple(s.port, "GET", "/loopy/pipe?ms=400", &r), 200);
    http_assert_body(&r, "piped 400\n", "after the cancels");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

START_TEST(send_file)
{
    struct srv s;
    struct http_resp r;
    start_loopy(&s, NULL);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/loopy/file?name=f.txt", NULL, &r), 200);
    http_assert_body(&r, FILE_TEXT, "whole file");
    http_assert_header(&r, "Content-Type", "text/plain");
    http_assert_header(&r, "Accept-Ranges", "bytes");
    http_resp_free(&r);

    ck_assert_int_eq(
        http_fetch(s.port, "GET", "/loopy/file?name=f.txt", "Range: bytes=10-15\r\n", &r), 206);
    http_assert_body(&r, "abcdef", "a range");
    http_assert_header(&r, "Content-Range", "bytes 10-15/37");
    http_resp_free(&r);

    ck_assert_int_eq(http_fetch(s.port, "GET", "/loopy/file?name=f.txt", "Range: bytes=-3\r\n", &r),
                     206);
    http_assert_body(&r, "yz\n", "a suffix range");
    http_resp_free(&r);

    ck_assert_int_eq(
        http_fetch(s.port, "GET", "/loopy/file?name=f.txt", "Range: bytes=99-\r\n", &r), 416);
    http_assert_header(&r, "Content-Range", "bytes */37");
    http_resp_free(&r);

    /* http_fetch fails the test if a body follows a HEAD answer. */
    ck_assert_int_eq(http_fetch(s.port, "HEAD", "/loopy/file?name=f.txt", NULL, &r), 200);
    http_assert_header(&r, "Content-Length", "37");
    http_resp_free(&r);

    ck_assert_int_eq(http_fetch(s.port, "GET", "/loopy/file?name=nope", NULL, &r), 404);
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

/* Misuse gets its documented code, and the request is still answered. */
START_TEST(misuse_codes)
{
    struct srv s;
    struct http_resp r;
    char want[64];
    start_loopy(&s, NULL);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/loopy/bad", NULL, &r), 200);
    snprintf(want, sizeof(want), "status=%d header=%d framing=%d\n", -1, -1, -1);
    http_assert_body(&r, want, "SL_EINVAL for each misuse");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

Suite *
integ_apps_loop_suite(void)
{
    Suite *s = suite_create("integ_apps_loop");
    TCase *tc = tcase_create("loop");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, watch_answers);
    tcase_add_test(tc, many_watches);
    tcase_add_test(tc, client_leaves);
    tcase_add_test(tc, send_file);
    tcase_add_test(tc, misuse_codes);
    suite_add_tcase(s, tc);
    return s;
}
