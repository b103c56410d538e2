/* Integration tests of a transfer in flight when its client or its file changes: a client that
 * leaves mid-download (FIN or RST), a file replaced by rename (with and without the open file
 * cache), and a file truncated while it is being sent. A real sluice, raw sockets. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bytes.h"
#include "harness.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MID_LEN (20u << 20)

static pid_t
only_worker(const struct srv *s)
{
    pid_t w[4];
    ck_assert_int_eq(worker_pids(s->pid, w, 4), 1);
    return w[0];
}

START_TEST(client_leaves_mid_download)
{
    struct srv s;
    struct http_resp r;
    unsigned char *data = make_data(MID_LEN, 3);
    char buf[65536];
    srv_init(&s);
    srv_write_file(&s, "mid.bin", data, MID_LEN);
    srv_write_config(&s, "workers = 1\n");
    srv_spawn(&s);
    pid_t worker = only_worker(&s);

    for (int round = 0; round < 4; round++) {
        int fd = start_download(s.port, "/mid.bin", &r, 16384);
        recv_exact(fd, buf, sizeof(buf));
        if (round % 2) { /* abortive close: RST */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(fd);
    }
    ck_assert_int_eq(http_fetch(s.port, "GET", "/index.html", NULL, &r), 200);
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/mid.bin", NULL, &r), 200);
    assert_same_bytes("GET /mid.bin after aborted downloads", r.body, r.body_len, data, MID_LEN);
    http_resp_free(&r);
    ck_assert_int_eq(only_worker(&s), worker);
    free(data);
    srv_stop(&s);
}
END_TEST

/* Write `rel` under a temporary name and rename it over the old one. */
static void
replace_file(const struct srv *s, const char *rel, const void *data, size_t len)
{
    char path[SRV_PATH_MAX * 2], tmp[SRV_PATH_MAX * 2 + 8];
    root_file(s, rel, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    write_file(tmp, data, len);
    ck_assert_msg(rename(tmp, path) == 0, "rename %s: %s", tmp, strerror(errno));
}

/* Poll HEAD `target` until its Content-Length is `new_len` (every answer must be the old length
 * or the new one); fails after `bound_ms`. */
static void
wait_new_length(const struct srv *s, const char *target, size_t old_len, size_t new_len,
                int bound_ms)
{
    int64_t t0 = now_ms();
    for (;;) {
        struct http_resp r;
        ck_assert_int_eq(http_fetch(s->port, "HEAD", target, NULL, &r), 200);
        const char *cl = http_header(&r, "Content-Length");
        ck_assert_ptr_nonnull(cl);
        size_t len = (size_t)strtoull(cl, NULL, 10);
        ck_assert_msg(len == old_len || len == new_len, "HEAD %s: length %zu, want %zu or %zu",
                      target, len, old_len, new_len);
        if (len == new_len)
            return;
        ck_assert_msg(now_ms() - t0 < bound_ms, "%s still the old file after %d ms", target,
                      bound_ms);
        sleep_ms(20);
    }
}

/* Replace the small file on a keep-alive connection, and the big one during a download: the
 * download finishes with the old bytes (it holds the old file), later requests get the new file
 * -- at once without the open file cache, within open_file_cache_valid with it. */
static void
replace_while_serving(bool cached)
{
    struct srv s;
    struct http_resp r, dl;
    unsigned char *old_data = make_data(MID_LEN, 4);
    const size_t new_len = MID_LEN / 2 + 7;
    unsigned char *new_data = make_data(new_len, 5);
    const char *second = "second, longer version\n";
    srv_init(&s);
    srv_write_file(&s, "f.bin", old_data, MID_LEN);
    srv_write_file(&s, "small.txt", "first version\n", 14);
    srv_write_config(&s, cached ? "workers = 1\nopen_file_cache_valid = 300ms\n"
                                : "workers = 1\nopen_file_cache = 0\n");
    srv_spawn(&s);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    http_read_response(fd, &r, 0);
    http_assert_body(&r, "first version\n", NULL);
    char old_etag[128], req[512];
    snprintf(old_etag, sizeof(old_etag), "%s", http_header(&r, "ETag"));
    http_resp_free(&r);
    replace_file(&s, "small.txt", second, strlen(second));
    if (cached)
        wait_new_length(&s, "/small.txt", 14, strlen(second), 300 + 2000);
    snprintf(req, sizeof(req),
             "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: %s\r\n\r\n", old_etag);
    conn_sendstr(fd, req);
    http_read_response(fd, &r, 0);
    ck_assert_msg(r.status == 200, "GET /small.txt with the old ETag after the rename: %d",
                  r.status);
    http_assert_body(&r, second, NULL);
    http_resp_free(&r);
    close(fd);

    int slow = start_download(s.port, "/f.bin", &dl, 16384);
    unsigned char *got = malloc(MID_LEN);
    ck_assert_ptr_nonnull(got);
    recv_exact(slow, got, 65536);
    replace_file(&s, "f.bin", new_data, new_len);
    if (cached)
        wait_new_length(&s, "/f.bin", MID_LEN, new_len, 300 + 2000);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/f.bin", NULL, &r), 200);
    assert_same_bytes("GET /f.bin after the rename", r.body, r.body_len, new_data, new_len);
    http_resp_free(&r);
    recv_exact(slow, got + 65536, MID_LEN - 65536);
    assert_same_bytes("the download in flight", got, MID_LEN, old_data, MID_LEN);
    ck_assert(conn_wait_closed(slow, 5000));
    close(slow);
    free(got);
    free(old_data);
    free(new_data);
    srv_stop(&s);
}

START_TEST(file_replaced_served_fresh)
{
    replace_while_serving(false);
}
END_TEST

START_TEST(file_replaced_fresh_after_cache_valid)
{
    replace_while_serving(true);
}
END_TEST

/* A file cut short while it is being sent: that connection ends (no busy loop in the worker),
 * and the worker goes on serving. */
START_TEST(file_truncated_while_sending)
{
    struct srv s;
    struct http_resp r;
    char path[SRV_PATH_MAX * 2];
    unsigned char *data = make_data(MID_LEN, 6);
    static char buf[1 << 20];
    srv_init(&s);
    srv_write_file(&s, "t.bin", data, MID_LEN);
    srv_write_config(&s, "workers = 1\n");
    srv_spawn(&s);
    pid_t worker = only_worker(&s);

    int fd = start_download(s.port, "/t.bin", &r, 16384);
    recv_exact(fd, buf, 65536);
    long long cpu0 = proc_cpu_ticks(worker);
    int64_t t0 = now_ms();
    ck_assert_int_eq(truncate(root_file(&s, "t.bin", path, sizeof(path)), 1 << 20), 0);

    /* Read on until the server ends the connection: within 10 s, before the full length. */
    size_t total = 65536;
    bool ended = false;
    while (now_ms() - t0 < 10000) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            ended = true;
            break;
        }
        ck_assert_msg(n > 0, "recv: %s", strerror(errno));
        total += (size_t)n;
    }
    int64_t elapsed = now_ms() - t0;
    long long cpu = proc_cpu_ticks(worker) - cpu0;
    close(fd);
    ck_assert_msg(ended, "connection still open %lld ms after the truncation", (long long)elapsed);
    ck_assert_msg(total < MID_LEN, "got all %zu bytes of a truncated file", total);
    long hz = sysconf(_SC_CLK_TCK);
    ck_assert_msg(cpu * 1000 / hz <= elapsed / 2 + 100,
                  "worker used %lld ms of CPU in the %lld ms the truncated send took",
                  cpu * 1000 / hz, (long long)elapsed);

    ck_assert_int_eq(http_fetch(s.port, "GET", "/t.bin", NULL, &r), 200);
    assert_same_bytes("GET /t.bin after truncation", r.body, r.body_len, data, 1 << 20);
    http_resp_free(&r);
    ck_assert_int_eq(only_worker(&s), worker);
    free(data);
    srv_stop(&s);
}
END_TEST

Suite *
integ_transfers_suite(void)
{
    Suite *s = suite_create("integ_transfers");
    TCase *tc = tcase_create("changing");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, client_leaves_mid_download);
    tcase_add_test(tc, file_replaced_served_fresh);
    tcase_add_test(tc, file_replaced_fresh_after_cache_valid);
    tcase_add_test(tc, file_truncated_while_sending);
    suite_add_tcase(s, tc);
    return s;
}
