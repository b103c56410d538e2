/* Integration tests of the master: its children, crash respawn, and the signals that end it
 * (TERM fast, QUIT graceful with a transfer in flight) or reload it (HUP with a bad config). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define QUIT_FILE_SIZE (4 << 20)

static void
assert_exited_zero(int st, const char *after)
{
    ck_assert_msg(st != -1, "master still running 10 s after %s", after);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "master after %s: wait status 0x%x", after,
                  st);
}

static void
assert_get_ok(int port, int times)
{
    struct http_resp r;
    for (int i = 0; i < times; i++) {
        int st = http_simple(port, "GET", "/", &r);
        ck_assert_msg(st == 200, "connection %d of %d: status %d", i + 1, times, st);
        ck_assert_str_eq(r.body, SRV_INDEX_HTML);
        http_resp_free(&r);
    }
}

static unsigned char *
pattern(size_t len)
{
    unsigned char *p = malloc(len);
    ck_assert_ptr_nonnull(p);
    uint32_t x = 88172645u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)(x >> 7);
    }
    return p;
}

START_TEST(children_are_the_workers)
{
    struct srv s;
    pid_t pids[16];
    char want[64];
    const int counts[] = {2, 3};
    for (int k = 0; k < 2; k++) {
        char extra[32];
        snprintf(extra, sizeof(extra), "workers = %d", counts[k]);
        srv_start(&s, extra);
        int n = worker_pids(s.pid, pids, 16);
        ck_assert_msg(n == counts[k], "workers = %d: master has %d children", counts[k], n);
        snprintf(want, sizeof(want), "ready: %d workers", counts[k]);
        /* Logged around the time the port file appears, not necessarily before. */
        ck_assert_msg(log_wait(&s, want, 1, 2000), "log lacks '%s'", want);
        ck_assert_msg(log_count(&s, want) == 1, "'%s' logged more than once", want);
        snprintf(want, sizeof(want), "listening on 127.0.0.1:%d", s.port);
        ck_assert_msg(log_count(&s, want) >= 1, "log lacks '%s'", want);
        for (int i = 0; i < n; i++) {
            snprintf(want, sizeof(want), "(pid %d) ready", (int)pids[i]);
            ck_assert_msg(log_count(&s, want) == 1, "log lacks '%s'", want);
        }
        assert_get_ok(s.port, 4);
        srv_stop(&s);
    }
}
END_TEST

START_TEST(killed_worker_is_respawned)
{
    struct srv s;
    pid_t before[8], after[8];
    char want[96];
    srv_start(&s, NULL);
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 2);
    pid_t victim = before[0];

    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    snprintf(want, sizeof(want), "(pid %d, generation 1) killed by signal 9", (int)victim);
    ck_assert_msg(log_wait(&s, want, 1, 5000), "no '%s' in the log within 5 s", want);

    int n = 0;
    int64_t deadline = now_ms() + 5000;
    for (;;) {
        n = worker_pids(s.pid, after, 8);
        if (n == 2 && !pids_contain(after, n, victim))
            break;
        ck_assert_msg(now_ms() < deadline, "5 s after kill -9: %d workers, victim %s", n,
                      pids_contain(after, n, victim) ? "still listed" : "gone");
        sleep_ms(10);
    }
    ck_assert_msg(pids_contain(after, n, before[1]), "the other worker %d was replaced too",
                  (int)before[1]);
    pid_t fresh = after[0] == before[1] ? after[1] : after[0];
    snprintf(want, sizeof(want), "(pid %d) ready", (int)fresh);
    ck_assert_msg(log_wait(&s, want, 1, 5000), "replacement never logged '%s'", want);

    /* Every slot serves again: connections hashed to the respawned slot's socket too. */
    assert_get_ok(s.port, 20);
    ck_assert(pid_alive(s.pid));
    srv_stop(&s);
}
END_TEST

START_TEST(term_exits_zero)
{
    struct srv s;
    pid_t pids[8];
    srv_start(&s, NULL);
    int n = worker_pids(s.pid, pids, 8);
    ck_assert_int_eq(n, 2);
    assert_get_ok(s.port, 1);

    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    assert_exited_zero(srv_wait_exit(&s, 10000), "SIGTERM");
    for (int i = 0; i < n; i++)
        ck_assert_msg(pid_wait_gone(pids[i], 5000), "worker %d outlived the master", (int)pids[i]);
    ck_assert_msg(access(s.pid_file, F_OK) != 0, "pid file left behind");
    ck_assert_msg(access(s.port_file, F_OK) != 0, "port file left behind");
    ck_assert_msg(log_count(&s, "exiting") >= 1, "no 'exiting' line in the log");
    srv_finish(&s);
}
END_TEST

START_TEST(quit_finishes_transfer_in_flight)
{
    struct srv s;
    struct http_resp r;
    pid_t pids[8];
    srv_start(&s, "graceful_timeout = 20s");
    unsigned char *data = pattern(QUIT_FILE_SIZE);
    srv_write_file(&s, "big.bin", data, QUIT_FILE_SIZE);
    int n = worker_pids(s.pid, pids, 8);

    /* A tiny receive window keeps the worker mid-sendfile while we send QUIT. */
    int fd = conn_open_rcvbuf(s.port, 4096);
    conn_sendstr(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_msg(http_try_read_head(fd, &r) == 0, "%s", r.err);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);

    ck_assert_msg(http_try_read_body(fd, &r, 0) == 0, "body after QUIT: %s", r.err);
    ck_assert_uint_eq(r.body_len, QUIT_FILE_SIZE);
    ck_assert_msg(memcmp(r.body, data, QUIT_FILE_SIZE) == 0, "body differs from the file");
    http_resp_free(&r);
    /* The request done, the now idle keep-alive connection is closed by the draining worker. */
    ck_assert_msg(conn_wait_closed(fd, 5000), "idle connection kept open during graceful stop");
    close(fd);

    assert_exited_zero(srv_wait_exit(&s, 10000), "SIGQUIT");
    for (int i = 0; i < n; i++)
        ck_assert_msg(pid_wait_gone(pids[i], 5000), "worker %d outlived the master", (int)pids[i]);
    ck_assert_msg(access(s.pid_file, F_OK) != 0, "pid file left behind");
    ck_assert_msg(log_count(&s, "exiting") >= 1, "no 'exiting' line in the log");
    free(data);
    srv_finish(&s);
}
END_TEST

START_TEST(quit_idle_exits_promptly)
{
    struct srv s;
    struct http_resp r;
    srv_start(&s, NULL); /* default graceful_timeout 30 s: idle connections must not wait for it */

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);

    int64_t t0 = now_ms();
    ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);
    ck_assert_msg(conn_wait_closed(fd, 5000), "idle keep-alive connection not closed on QUIT");
    assert_exited_zero(srv_wait_exit(&s, 10000), "SIGQUIT");
    ck_assert_msg(now_ms() - t0 < 5000, "QUIT with only idle connections took %lld ms",
                  (long long)(now_ms() - t0));
    close(fd);
    srv_finish(&s);
}
END_TEST

/* Lines in a file (the line number of its last line when it ends in '\n'). */
static int
line_count(const char *path)
{
    char *text = read_file_all(path, NULL);
    ck_assert_ptr_nonnull(text);
    int n = 0;
    for (const char *p = text; *p != '\0'; p++)
        n += *p == '\n';
    free(text);
    return n;
}

START_TEST(hup_with_bad_config_keeps_serving)
{
    struct srv s;
    pid_t before[8], after[8];
    char want[64];
    srv_start(&s, NULL);
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 2);

    srv_write_config(&s, "workers = abc"); /* extra lines go last */
    snprintf(want, sizeof(want), "sluice.ini:%d:", line_count(s.cfg));
    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    ck_assert_msg(log_wait(&s, want, 1, 5000), "no '%s' error in the log after HUP", want);

    ck_assert(pid_alive(s.pid));
    assert_get_ok(s.port, 4);
    ck_assert_int_eq(worker_pids(s.pid, after, 8), 2);
    ck_assert_msg(after[0] == before[0] && after[1] == before[1],
                  "workers replaced although the new config was refused");
    srv_stop(&s);
}
END_TEST

/* reuseport = off: one shared socket for all workers; a crash there loses nothing either. */
START_TEST(shared_socket_mode)
{
    struct srv s;
    pid_t before[8], after[8];
    srv_start(&s, "reuseport = off\nworkers = 3");
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 3);
    assert_get_ok(s.port, 20);

    ck_assert_int_eq(kill(before[1], SIGKILL), 0);
    int n = 0;
    int64_t deadline = now_ms() + 5000;
    do {
        ck_assert_msg(now_ms() < deadline, "no replacement for worker %d within 5 s",
                      (int)before[1]);
        sleep_ms(10);
        n = worker_pids(s.pid, after, 8);
    } while (n != 3 || pids_contain(after, n, before[1]));
    assert_get_ok(s.port, 20);
    srv_stop(&s);
}
END_TEST

Suite *
integ_master_suite(void)
{
    Suite *s = suite_create("integ_master");
    TCase *tc = tcase_create("master");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, children_are_the_workers);
    tcase_add_test(tc, killed_worker_is_respawned);
    tcase_add_test(tc, term_exits_zero);
    tcase_add_test(tc, quit_finishes_transfer_in_flight);
    tcase_add_test(tc, quit_idle_exits_promptly);
    tcase_add_test(tc, hup_with_bad_config_keeps_serving);
    tcase_add_test(tc, shared_socket_mode);
    suite_add_tcase(s, tc);
    return s;
}
