/* Integration tests of the binary upgrade (issue 6, item 3): `sluice upgrade` under load with
 * zero failed requests, the manual USR2 / WINCH / QUIT sequence, rollback by QUIT to the new
 * master, and an `upgrade` whose new master cannot start or whose new workers never become
 * ready. The systemd side of an upgrade is in test_systemd.c.
 *
 * After USR2 the new master is a child of the old one, not of the test: the old master is
 * reaped with srv_wait_exit, the new one is registered with srv_guard_pid (so a failing test
 * kills it) and ended through the CLI. Both masters write to the same error.log; log lines
 * carry the writer's pid ("1234 master: ..."), which is how each master's lines are told apart.
 * Every wait is a bounded poll. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "load.h"
#include "t/skip.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000     /* bound on each state change we wait for */
#define LOAD_THREADS 4    /* client threads of the load loop */
#define LOAD_MAX_MS 40000 /* hard bound on a load run */
#define LOAD_IO_S 5       /* bound on each connect / send / receive of one request */

/* ---- a bounded load loop: threads doing one GET per new connection ---- */

struct loader {
    int port;
    int64_t deadline;
    atomic_bool stop;
    atomic_long ok, failed;
    atomic_flag noted; /* the first failure's text is in `first` */
    char first[256];
    pthread_t threads[LOAD_THREADS];
    int nthreads;
};

/* One GET / with Connection: close on a new loopback connection, each step bounded by socket
 * timeouts. 0 when the answer is a 200 carrying exactly index.html; else -1 with err set. */
static int
get_once(int port, char *err, size_t errlen)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char buf[8192];
    size_t got = 0;
    int fd = load_connect(port, LOAD_IO_S * 1000, err, errlen);
    if (fd < 0)
        return -1;
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
        snprintf(err, errlen, "send: %s", strerror(errno));
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "recv after %zu bytes: %s", got,
                     errno == EAGAIN ? "timed out" : strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0 || got + (size_t)n == sizeof(buf) - 1)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    const char *body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || body == NULL ||
        strcmp(body + 4, SRV_INDEX_HTML) != 0) {
        snprintf(err, errlen, "%zu bytes, not a 200 with index.html: %.80s", got, buf);
        return -1;
    }
    return 0;
}

static void *
loader_thread(void *arg)
{
    struct loader *l = arg;
    char err[200];
    while (!atomic_load(&l->stop) && now_ms() < l->deadline) {
        if (get_once(l->port, err, sizeof(err)) == 0) {
            atomic_fetch_add(&l->ok, 1);
            continue;
        }
        atomic_fetch_add(&l->failed, 1);
        if (!atomic_flag_test_and_set(&l->noted))
            snprintf(l->first, sizeof(l->first), "%s", err);
    }
    return NULL;
}

static void
loader_start(struct loader *l, int port)
{
    memset(l, 0, sizeof(*l));
    l->port = port;
    l->deadline = now_ms() + LOAD_MAX_MS;
    atomic_flag_clear(&l->noted);
    for (int i = 0; i < LOAD_THREADS; i++) {
        int rc = pthread_create(&l->threads[i], NULL, loader_thread, l);
        ck_assert_msg(rc == 0, "pthread_create: %s", strerror(rc));
        l->nthreads++;
    }
}

/* Wait until `more` requests beyond `from` are answered (ok or not); false on timeout. */
static bool
loader_wait(struct loader *l, long from, long more, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (atomic_load(&l->ok) + atomic_load(&l->failed) < from + more) {
        if (now_ms() >= deadline)
            return false;
        sleep_ms(5);
    }
    return true;
}

static void
loader_stop(struct loader *l)
{
    atomic_store(&l->stop, true);
    for (int i = 0; i < l->nthreads; i++)
        pthread_join(l->threads[i], NULL);
    l->nthreads = 0;
}

/* ---- helpers ---- */

/* Poll until the old master has taken the pid file back and .oldbin is gone. */
static void
wait_rolled_back(const struct srv *s, pid_t old)
{
    char oldbin[SRV_PATH_MAX + 8];
    srv_oldbin_path(s, oldbin, sizeof(oldbin));
    int64_t deadline = now_ms() + WAIT_MS;
    while (srv_read_pid_file(s) != old || access(oldbin, F_OK) == 0) {
        ck_assert_msg(now_ms() < deadline,
                      "%d ms after the new master went: pid file names %d, %s %s (want %d)",
                      WAIT_MS, (int)srv_read_pid_file(s), oldbin,
                      access(oldbin, F_OK) == 0 ? "still there" : "gone", (int)old);
        sleep_ms(5);
    }
}

static void
assert_get_ok(int port, int times, const char *when)
{
    char err[200];
    for (int i = 0; i < times; i++) {
        int rc = get_once(port, err, sizeof(err));
        ck_assert_msg(rc == 0, "%s: request %d of %d: %s", when, i + 1, times, err);
    }
}

/* Live children of `master` other than `except` (after USR2 the new master is a child of the
 * old one): their count, the first `max` in pids. */
static int
workers_except(pid_t master, pid_t except, pid_t *pids, int max)
{
    pid_t all[64];
    int n = worker_pids(master, all, 64), kept = 0;
    for (int i = 0; i < n && i < 64; i++)
        if (all[i] != except) {
            if (kept < max)
                pids[kept] = all[i];
            kept++;
        }
    return kept;
}

/* Poll until `master` has `want` workers (children but `except`); returns the count seen last. */
static int
wait_workers(pid_t master, pid_t except, int want, pid_t *pids, int max)
{
    int64_t deadline = now_ms() + WAIT_MS;
    int n;
    while ((n = workers_except(master, except, pids, max)) != want && now_ms() < deadline)
        sleep_ms(5);
    return n;
}

static int
wait_children(pid_t master, int want, pid_t *pids, int max)
{
    return wait_workers(master, 0, want, pids, max);
}

/* State letter from /proc/<pid>/stat ('T' when stopped), 0 when gone. */
static char
proc_state(pid_t pid)
{
    char path[64], state = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *text = read_file_all(path, NULL);
    if (text == NULL)
        return 0;
    const char *p = strrchr(text, ')');
    if (p == NULL || sscanf(p + 1, " %c", &state) != 1)
        state = 0;
    free(text);
    return state;
}

/* SIGSTOP (or SIGCONT) every pid and poll until each is (or no longer is) stopped. */
static void
stop_all(const pid_t *pids, int n, bool stop)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(kill(pids[i], stop ? SIGSTOP : SIGCONT), 0);
    int64_t deadline = now_ms() + WAIT_MS;
    for (int i = 0; i < n; i++)
        while ((proc_state(pids[i]) == 'T') != stop) {
            ck_assert_msg(now_ms() < deadline, "worker %d: state '%c' after SIG%s", (int)pids[i],
                          proc_state(pids[i]), stop ? "STOP" : "CONT");
            sleep_ms(2);
        }
}

static void
assert_log_has(const struct srv *s, pid_t pid, const char *what)
{
    char needle[256];
    snprintf(needle, sizeof(needle), "%d master: %s", (int)pid, what);
    ck_assert_msg(log_wait(s, needle, 1, WAIT_MS), "no '%s' in %s", needle, s->log);
}

static void
assert_exit_zero(struct srv *s, const char *after)
{
    int st = srv_wait_exit(s, WAIT_MS);
    ck_assert_msg(st != -1, "old master %d still running %d ms after %s", (int)s->pid, WAIT_MS,
                  after);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "old master after %s: wait status 0x%x",
                  after, st);
}

/* The failed workers' [crit] line is by design (fatal during worker start). Once every process
 * is gone, drop exactly the lines holding `needle` so that srv_finish checks all the rest. */
static void
drop_expected_crit(const struct srv *s, const char *needle)
{
    size_t len, used = 0;
    char *text = read_file_all(s->log, &len);
    ck_assert_ptr_nonnull(text);
    char *kept = malloc(len + 1);
    ck_assert_ptr_nonnull(kept);
    for (char *line = text; *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t n = nl != NULL ? (size_t)(nl - line) + 1 : strlen(line);
        char saved = line[n];
        line[n] = '\0';
        if (strstr(line, "[crit]") == NULL || strstr(line, needle) == NULL) {
            memcpy(kept + used, line, n);
            used += n;
        }
        line[n] = saved;
        line += n;
    }
    write_file(s->log, kept, used);
    free(kept);
    free(text);
}

/* ---- tests ---- */

/* `sluice upgrade` while four client threads open new connections: the command reports the
 * swap, no request fails, the new master owns the pid file and serves, and `stop` ends it. */
START_TEST(upgrade_under_load_drops_nothing)
{
    struct srv s;
    struct loader l;
    char out[2048], err[2048], oldbin[SRV_PATH_MAX + 8], want[96];
    srv_start(&s, NULL);
    pid_t old = s.pid;

    loader_start(&l, s.port);
    ck_assert_msg(loader_wait(&l, 0, 100, WAIT_MS), "load: %ld answered in %d ms",
                  atomic_load(&l.ok) + atomic_load(&l.failed), WAIT_MS);
    const char *args[] = {"-c", s.cfg, "upgrade", NULL};
    long before = atomic_load(&l.ok) + atomic_load(&l.failed);
    int rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), 40000);
    long during = atomic_load(&l.ok) + atomic_load(&l.failed) - before;
    int o = 0, n = 0;
    const char *at = strstr(out, "upgraded (pid ");
    ck_assert_msg(rc == 0 && at != NULL && sscanf(at, "upgraded (pid %d -> %d)", &o, &n) == 2,
                  "sluice upgrade: exit %d\nstdout: %s\nstderr: %s", rc, out, err);
    pid_t new_master = n;
    srv_guard_pid(new_master);
    ck_assert_int_eq(o, old);
    ck_assert_int_ne(new_master, old);
    /* Keep the load going a little after the swap: the new master alone answers now. */
    long done = atomic_load(&l.ok) + atomic_load(&l.failed);
    ck_assert_msg(loader_wait(&l, done, 100, WAIT_MS), "load stalled after the upgrade");
    loader_stop(&l);
    fprintf(stderr,
            "upgrade_under_load: %ld requests ok (%ld while sluice upgrade ran), %ld failed\n",
            atomic_load(&l.ok), during, atomic_load(&l.failed));
    ck_assert_msg(atomic_load(&l.failed) == 0, "%ld of %ld requests failed; first: %s",
                  atomic_load(&l.failed), atomic_load(&l.ok) + atomic_load(&l.failed), l.first);
    ck_assert_msg(during >= 20, "only %ld requests ran while sluice upgrade did", during);

    assert_exit_zero(&s, "sluice upgrade");
    ck_assert_int_eq(srv_read_pid_file(&s), new_master);
    ck_assert_msg(access(srv_oldbin_path(&s, oldbin, sizeof(oldbin)), F_OK) != 0, "%s still there",
                  oldbin);
    pid_t kids[8];
    ck_assert_int_eq(wait_children(new_master, 2, kids, 8), 2);
    assert_get_ok(s.port, 10, "after the upgrade");

    snprintf(want, sizeof(want), "upgrade: new master started (pid %d)", (int)new_master);
    assert_log_has(&s, old, want);
    assert_log_has(&s, new_master, "took over 1 listening socket groups");
    assert_log_has(&s, new_master, "ready: 2 workers");
    assert_log_has(&s, old, "WINCH: workers finish their requests");
    assert_log_has(&s, old, "exiting");
    srv_cli_stop(&s, new_master);
    srv_finish(&s);
}
END_TEST

/* The manual sequence: USR2 (both masters' workers serve: each set alone answers while the
 * other is stopped), WINCH to the old master (its workers leave), QUIT to it (it exits). */
START_TEST(usr2_winch_quit_by_hand)
{
    struct srv s;
    pid_t old_kids[8], new_kids[8], kids[8];
    char oldbin[SRV_PATH_MAX + 8];
    srv_start(&s, NULL);
    pid_t old = s.pid;
    ck_assert_int_eq(wait_children(old, 2, old_kids, 8), 2);

    ck_assert_int_eq(kill(old, SIGUSR2), 0);
    pid_t new_master = srv_wait_new_master(&s, old);
    ck_assert_int_eq(wait_children(new_master, 2, new_kids, 8), 2);
    ck_assert_int_eq(workers_except(old, new_master, kids, 8), 2);
    ck_assert_msg(memcmp(kids, old_kids, sizeof(pid_t) * 2) == 0,
                  "the old master's workers changed on USR2");

    /* The sockets are shared: with one master's workers stopped, the other's accept. */
    stop_all(old_kids, 2, true);
    assert_get_ok(s.port, 8, "USR2, old workers stopped");
    stop_all(old_kids, 2, false);
    stop_all(new_kids, 2, true);
    assert_get_ok(s.port, 8, "USR2, new workers stopped");
    stop_all(new_kids, 2, false);

    ck_assert_int_eq(kill(old, SIGWINCH), 0);
    int left = wait_workers(old, new_master, 0, kids, 8);
    ck_assert_msg(left == 0, "old master %d still has %d workers after WINCH", (int)old, left);
    assert_log_has(&s, old, "WINCH: workers finish their requests");
    assert_get_ok(s.port, 8, "after WINCH");
    ck_assert_int_eq(worker_pids(new_master, kids, 8), 2);

    ck_assert_int_eq(kill(old, SIGQUIT), 0);
    assert_exit_zero(&s, "QUIT to the old master");
    ck_assert_int_eq(srv_read_pid_file(&s), new_master);
    ck_assert_msg(access(srv_oldbin_path(&s, oldbin, sizeof(oldbin)), F_OK) != 0, "%s still there",
                  oldbin);
    assert_get_ok(s.port, 8, "after QUIT to the old master");
    ck_assert_int_eq(worker_pids(new_master, kids, 8), 2);
    ck_assert_msg(memcmp(kids, new_kids, sizeof(pid_t) * 2) == 0,
                  "the new master's workers changed");
    srv_cli_stop(&s, new_master);
    srv_finish(&s);
}
END_TEST

/* USR2, then QUIT to the NEW master: the old one renames .oldbin back, logs the rollback and
 * keeps serving with its own workers; the control socket answers for it again. */
START_TEST(rollback_by_quit_to_new_master)
{
    struct srv s;
    pid_t before[8], after[8];
    char out[2048], want[64];
    srv_start(&s, NULL);
    pid_t old = s.pid;
    ck_assert_int_eq(wait_children(old, 2, before, 8), 2);

    ck_assert_int_eq(kill(old, SIGUSR2), 0);
    pid_t new_master = srv_wait_new_master(&s, old);
    ck_assert_int_eq(kill(new_master, SIGQUIT), 0);
    ck_assert_msg(pid_wait_gone(new_master, WAIT_MS), "new master %d still there after QUIT",
                  (int)new_master);
    srv_unguard_pid(new_master);
    wait_rolled_back(&s, old);
    assert_log_has(&s, old, "upgrade: the new master exited (status 0); rolled back");

    assert_get_ok(s.port, 10, "after the rollback");
    ck_assert_int_eq(worker_pids(old, after, 8), 2);
    ck_assert_msg(memcmp(before, after, sizeof(pid_t) * 2) == 0,
                  "the old master's workers changed across the rollback");
    int rc = srv_ctl(&s, "status", out, sizeof(out));
    snprintf(want, sizeof(want), "running (pid %d)", (int)old);
    char row[32]; /* the old worker's pid in the table */
    snprintf(row, sizeof(row), " %d ", (int)before[0]);
    ck_assert_msg(rc == 0 && strstr(out, want) && strstr(out, " SLOT ") && strstr(out, row),
                  "status after the rollback: exit %d\n%s", rc, out);
    srv_stop(&s);
}
END_TEST

/* After a rollback the old master serves on, so the port file (which the new master removed
 * when it exited) must name its address again. Asserted after a clean stop. */
START_TEST(rollback_restores_port_file)
{
    struct srv s;
    srv_start(&s, NULL);
    pid_t old = s.pid;
    int port = s.port;
    ck_assert_int_eq(kill(old, SIGUSR2), 0);
    pid_t new_master = srv_wait_new_master(&s, old);
    ck_assert_int_eq(kill(new_master, SIGQUIT), 0);
    ck_assert(pid_wait_gone(new_master, WAIT_MS));
    srv_unguard_pid(new_master);
    wait_rolled_back(&s, old);
    assert_log_has(&s, old, "upgrade: the new master exited (status 0); rolled back");
    assert_get_ok(port, 2, "after the rollback");
    int64_t deadline = now_ms() + 2000;
    int seen;
    while ((seen = srv_read_port_file(&s)) != port && now_ms() < deadline)
        sleep_ms(10);
    char port_file[SRV_PATH_MAX];
    snprintf(port_file, sizeof(port_file), "%s", s.port_file);
    srv_stop(&s);
    ck_assert_msg(seen == port,
                  "after the rollback the old master serves port %d, but the port file %s %s", port,
                  port_file,
                  seen < 0 ? "is gone (the new master removed it on exit)" : "names another port");
}
END_TEST

/* `sluice upgrade` when the new master cannot start (its configuration check fails: root is
 * gone; the CLI's own read of the file passes): exit 1 with "upgrade failed", and the old
 * master takes its pid file back and serves on with the same workers. */
START_TEST(upgrade_fails_old_master_keeps_serving)
{
    struct srv s;
    pid_t before[8], after[8];
    char out[2048], err[2048], extra[SRV_PATH_MAX + 32], want[96];
    srv_start(&s, NULL);
    pid_t old = s.pid;
    ck_assert_int_eq(wait_children(old, 2, before, 8), 2);

    snprintf(extra, sizeof(extra), "root = %s/missing\n", s.dir);
    srv_write_config(&s, extra);
    const char *args[] = {"-c", s.cfg, "upgrade", NULL};
    int rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), 40000);
    srv_write_config(&s, NULL);
    snprintf(want, sizeof(want), "rolling back to pid %d", (int)old);
    ck_assert_msg(rc == 1 && strstr(err, "sluice: upgrade failed") && strstr(err, want),
                  "sluice upgrade with a broken root: exit %d\nstdout: %s\nstderr: %s", rc, out,
                  err);

    wait_rolled_back(&s, old);
    assert_log_has(&s, old, "upgrade: new master started");
    assert_log_has(&s, old, "upgrade: the new master exited (status 1); rolled back");
    ck_assert_msg(log_count(&s, "root: cannot open directory") >= 1,
                  "the new master's configuration error is not in the log");
    assert_get_ok(s.port, 10, "after the failed upgrade");
    ck_assert_int_eq(worker_pids(old, after, 8), 2);
    ck_assert_msg(memcmp(before, after, sizeof(pid_t) * 2) == 0,
                  "the old master's workers changed across the failed upgrade");
    rc = srv_ctl(&s, "status", out, sizeof(out));
    snprintf(want, sizeof(want), " %d ", (int)before[0]); /* the old worker's pid in the table */
    ck_assert_msg(rc == 0 && strstr(out, " SLOT ") && strstr(out, want), "status: exit %d\n%s", rc,
                  out);
    srv_stop(&s);
}
END_TEST

/* `sluice upgrade` when the new master starts but its workers never report ready (as root: they
 * drop to `nobody` and cannot read mime_types, which root could): exit 1, and the old master,
 * never told WINCH or QUIT, takes its pid file back and serves on with the same workers. */
START_TEST(upgrade_new_workers_fail_old_master_keeps_serving)
{
    if (geteuid() != 0) {
        t_skip("upgrade_new_workers_fail_old_master_keeps_serving",
               "not started as root: workers cannot be made to fail this way");
        return;
    }
    struct srv s;
    pid_t before[8], after[8];
    char out[2048], err[2048], mime[SRV_PATH_MAX], extra[SRV_PATH_MAX + 64];
    srv_start(&s, NULL);
    pid_t old = s.pid;
    ck_assert_int_eq(wait_children(old, 2, before, 8), 2);
    ck_assert_int_eq(chmod(s.dir, 0711), 0);
    srv_path(&s, "mime.types", mime, sizeof(mime));
    write_file(mime, "text/x-test tst\n", 16);
    ck_assert_int_eq(chmod(mime, 0600), 0);

    snprintf(extra, sizeof(extra), "user = nobody\nmime_types = %s\n", mime);
    srv_write_config(&s, extra);
    const char *args[] = {"-c", s.cfg, "upgrade", NULL};
    int rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), 40000);
    srv_write_config(&s, NULL);
    ck_assert_msg(rc == 1 && strstr(err, "sluice: upgrade failed"),
                  "sluice upgrade with workers that cannot start: exit %d\nstdout: %s\nstderr: %s",
                  rc, out, err);
    ck_assert_msg(pid_alive(old), "the old master %d is gone after a failed upgrade", (int)old);
    wait_rolled_back(&s, old);
    assert_log_has(&s, old, "upgrade: the new master exited (status 1); rolled back");
    assert_get_ok(s.port, 10, "after the failed upgrade");
    ck_assert_int_eq(worker_pids(old, after, 8), 2);
    ck_assert_msg(memcmp(before, after, sizeof(pid_t) * 2) == 0,
                  "the old master's workers changed across the failed upgrade");
    ck_assert_msg(log_count(&s, "loading mime_types") >= 1, "no new worker failed as planned");
    ck_assert_int_eq(kill(old, SIGTERM), 0);
    assert_exit_zero(&s, "SIGTERM");
    drop_expected_crit(&s, "loading mime_types");
    srv_finish(&s);
}
END_TEST

Suite *
integ_upgrade_suite(void)
{
    Suite *s = suite_create("integ_upgrade");
    TCase *tc = tcase_create("upgrade");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, upgrade_under_load_drops_nothing);
    tcase_add_test(tc, usr2_winch_quit_by_hand);
    tcase_add_test(tc, rollback_by_quit_to_new_master);
    tcase_add_test(tc, rollback_restores_port_file);
    tcase_add_test(tc, upgrade_fails_old_master_keeps_serving);
    tcase_add_test(tc, upgrade_new_workers_fail_old_master_keeps_serving);
    suite_add_tcase(s, tc);
    return s;
}
