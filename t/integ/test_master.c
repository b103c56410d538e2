/* Integration tests of the master: its children (their titles and CPU pinning), crash respawn,
 * and the signals that end it (TERM fast, QUIT graceful with a transfer in flight) or reload it
 * (HUP with a bad config). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "slots.h"
#include "t/skip.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
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

/* The inodes of the sockets listening on 127.0.0.1:port, from /proc/net/tcp (state 0A is
 * LISTEN; the address is printed as the native-endian number, the port in host order). */
static int
listen_inodes(int port, unsigned long *inodes, int max)
{
    char line[512], want[32];
    int n = 0;
    FILE *f = fopen("/proc/net/tcp", "re");
    ck_assert_msg(f != NULL, "/proc/net/tcp: %s", strerror(errno));
    snprintf(want, sizeof(want), "0100007F:%04X", (unsigned)port);
    while (fgets(line, sizeof(line), f)) {
        char local[32];
        unsigned state;
        unsigned long inode;
        if (sscanf(line, " %*u: %31s %*s %x %*s %*s %*s %*u %*u %lu", local, &state, &inode) == 3 &&
            state == 0x0A && strcmp(local, want) == 0 && n < max)
            inodes[n++] = inode;
    }
    fclose(f);
    return n;
}

/* Does `pid` hold socket `inode` (a /proc/PID/fd link "socket:[inode]")? */
static bool
holds_socket(pid_t pid, unsigned long inode)
{
    char path[64], link[64], want[40];
    bool held = false;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "%s: %s", path, strerror(errno));
    for (struct dirent *e; !held && (e = readdir(d)) != NULL;) {
        ssize_t k = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
        if (k > 0) {
            link[k] = '\0';
            held = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return held;
}

/* Exactly one socket listens on the port, and the master and each of the n workers hold it. */
static void
assert_one_shared_socket(const struct srv *s, const pid_t *workers, int n, const char *when)
{
    unsigned long inodes[8];
    int count = listen_inodes(s->port, inodes, 8);
    ck_assert_msg(count == 1, "%s: %d sockets listen on port %d, want 1", when, count, s->port);
    ck_assert_msg(holds_socket(s->pid, inodes[0]), "%s: the master lacks socket %lu", when,
                  inodes[0]);
    for (int i = 0; i < n; i++)
        ck_assert_msg(holds_socket(workers[i], inodes[0]), "%s: worker %d lacks socket %lu", when,
                      (int)workers[i], inodes[0]);
}

/* reuseport = off: one socket, shared by all workers (with reuseport there would be one per
 * slot); a crash there loses nothing either, and the replacement shares the same socket. */
START_TEST(shared_socket_mode)
{
    struct srv s;
    pid_t before[8], after[8];
    srv_start(&s, "reuseport = off\nworkers = 3");
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 3);
    assert_one_shared_socket(&s, before, 3, "at start");
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
    assert_one_shared_socket(&s, after, 3, "after the respawn");
    srv_stop(&s);
}
END_TEST

/* ps shows each process's role: the master, and each worker's slot and generation. */
START_TEST(process_titles_show_role_and_generation)
{
    struct srv s;
    pid_t pids[8];
    char title[256], want[64];
    srv_start(&s, NULL);
    ck_assert_msg(strncmp(proc_cmdline(s.pid, title, sizeof(title)), "sluice: master", 14) == 0,
                  "master title '%s'", title);
    for (unsigned gen = 1; gen <= 2; gen++) {
        ck_assert_msg(worker_pids_wait(s.pid, 2, pids, 8, 5000), "not 2 workers");
        for (int i = 0; i < 2; i++) {
            proc_cmdline(pids[i], title, sizeof(title));
            snprintf(want, sizeof(want), "sluice: worker %d gen %u", slot_of(&s, pids[i]), gen);
            ck_assert_msg(strncmp(title, "sluice: worker ", 15) == 0 && strstr(title, "gen"),
                          "worker %d title '%s'", (int)pids[i], title);
            ck_assert_msg(strcmp(title, want) == 0, "worker %d title '%s', want '%s'", (int)pids[i],
                          title, want);
        }
        if (gen == 1) {
            pid_t old[2] = {pids[0], pids[1]};
            ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
            ck_assert_msg(log_wait(&s, "generation 2 ready (", 1, 5000), "reload not ready");
            ck_assert_msg(pid_wait_gone(old[0], 5000) && pid_wait_gone(old[1], 5000),
                          "generation 1 still there 5 s after the reload");
        }
    }
    srv_stop(&s);
}
END_TEST

/* The CPUs in a Cpus_allowed_list value ("0-3,6,8-9"), in order; returns the count. */
static int
parse_cpu_list(const char *list, int *cpus, int max)
{
    int n = 0;
    for (const char *p = list; *p != '\0';) {
        char *end;
        long first = strtol(p, &end, 10), last = first;
        ck_assert_msg(end != p, "bad CPU list '%s'", list);
        if (*end == '-')
            last = strtol(end + 1, &end, 10);
        for (long c = first; c <= last && n < max; c++)
            cpus[n++] = (int)c;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0')
            ck_abort_msg("bad CPU list '%s'", list);
    }
    return n;
}

/* The worker now in `slot` must run on exactly the slot-th CPU of the master's own list (the
 * CPUs it may use, which its workers inherit). */
static void
assert_pinned(const struct srv *s, pid_t pid, const int *cpus)
{
    char list[256], want[16];
    int slot = slot_of(s, pid);
    ck_assert_msg(slot >= 0, "no 'started' line for worker %d", (int)pid);
    snprintf(want, sizeof(want), "%d", cpus[slot]);
    proc_status(pid, "Cpus_allowed_list", list, sizeof(list));
    ck_assert_msg(strcmp(list, want) == 0, "worker %d (slot %d) may run on CPUs %s, want %s",
                  (int)pid, slot, list, want);
}

/* cpu_affinity = auto pins worker i to the i-th CPU, and a respawned worker to its slot's. */
START_TEST(cpu_affinity_pins_worker_i_to_cpu_i)
{
    int cpus[64];
    char list[256], extra[64];
    cpu_set_t mine;
    ck_assert_int_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
    int ncpu = CPU_COUNT(&mine);
    if (ncpu < 2) {
        t_skip("cpu_affinity_pins_worker_i_to_cpu_i",
               "one CPU only: a pinned worker looks like an unpinned one");
        return;
    }
    int workers = ncpu < 8 ? ncpu : 8;
    struct srv s;
    pid_t pids[8], after[8];
    snprintf(extra, sizeof(extra), "cpu_affinity = auto\nworkers = %d", workers);
    srv_start(&s, extra);
    int n = parse_cpu_list(proc_status(s.pid, "Cpus_allowed_list", list, sizeof(list)), cpus, 64);
    ck_assert_msg(n == ncpu, "the master may use CPUs %s, the test %d CPUs", list, ncpu);
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), workers);
    for (int i = 0; i < workers; i++)
        assert_pinned(&s, pids[i], cpus);

    ck_assert_int_eq(kill(pids[workers - 1], SIGKILL), 0);
    int64_t deadline = now_ms() + 5000;
    while (worker_pids(s.pid, after, 8) != workers ||
           pids_contain(after, workers, pids[workers - 1])) {
        ck_assert_msg(now_ms() < deadline, "no replacement for worker %d within 5 s",
                      (int)pids[workers - 1]);
        sleep_ms(5);
    }
    for (int i = 0; i < workers; i++)
        if (!pids_contain(pids, workers, after[i])) {
            /* The pid shows in /proc before the master has logged its "started" line: wait for
             * "ready", which comes after both it and the pinning. */
            char ready[64];
            snprintf(ready, sizeof(ready), "(pid %d) ready", (int)after[i]);
            ck_assert_msg(log_wait(&s, ready, 1, 5000), "the replacement %d never reported ready",
                          (int)after[i]);
            assert_pinned(&s, after[i], cpus);
        }
    srv_assert_serves(&s, 10, "pinned workers");
    srv_stop(&s);
}
END_TEST

/* cpu_affinity = off (the default): the workers may run wherever the master may. */
START_TEST(cpu_affinity_off_leaves_workers_unpinned)
{
    struct srv s;
    pid_t pids[8];
    char master[256], worker[256];
    srv_start(&s, NULL);
    proc_status(s.pid, "Cpus_allowed_list", master, sizeof(master));
    int n = worker_pids(s.pid, pids, 8);
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < n; i++)
        ck_assert_msg(
            strcmp(proc_status(pids[i], "Cpus_allowed_list", worker, sizeof(worker)), master) == 0,
            "worker %d may run on CPUs %s, the master on %s", (int)pids[i], worker, master);
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

    tc = tcase_create("processes");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, process_titles_show_role_and_generation);
    tcase_add_test(tc, cpu_affinity_pins_worker_i_to_cpu_i);
    tcase_add_test(tc, cpu_affinity_off_leaves_workers_unpinned);
    suite_add_tcase(s, tc);
    return s;
}
