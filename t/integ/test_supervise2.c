/* Integration tests of master supervision (issue 6), part 2: a stopped worker's socket lent to
 * its sibling, TTIN/TTOU, the watchdog, max_requests, dropping privileges to `user`, and the
 * process titles. Part 1 is test_supervise.c. Which worker holds a connection is read from
 * /proc (load_conn_owner), so "every worker serves" is checked, not assumed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "load.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBE_MS 3000 /* bound on each step of one request: a hang fails fast */

/* ---- helpers ---- */

/* Kept connections until every one of `pids` holds one that was answered 200 (at most `tries`
 * connections). */
static void
assert_each_serves(const struct srv *s, const pid_t *pids, int n, int tries)
{
    bool seen[16] = {false};
    int left = n;
    char err[128];
    for (int i = 0; i < tries && left > 0; i++) {
        int fd = load_keepalive_open(s->port, "/", SRV_INDEX_HTML, PROBE_MS, err, sizeof(err));
        ck_assert_msg(fd >= 0, "probe %d: %s", i + 1, err);
        pid_t owner = load_conn_owner(pids, n, s->port, load_local_port(fd));
        for (int k = 0; k < n; k++)
            if (pids[k] == owner && !seen[k]) {
                seen[k] = true;
                left--;
            }
        close(fd);
    }
    for (int k = 0; k < n; k++)
        ck_assert_msg(seen[k], "worker %d answered none of %d connections", (int)pids[k], tries);
}

/* Slot of a worker, from the master's "worker N (pid P) started" line; -1 when not logged. */
static int
slot_of(const struct srv *s, pid_t pid)
{
    char want[64];
    for (int slot = 0; slot < 8; slot++) {
        snprintf(want, sizeof(want), "worker %d (pid %d) started", slot, (int)pid);
        if (log_count(s, want) > 0)
            return slot;
    }
    return -1;
}

static bool
log_wait_fmt_pid(const struct srv *s, const char *fmt, int a, int b, int timeout_ms)
{
    char want[128];
    snprintf(want, sizeof(want), fmt, a, b);
    return log_wait(s, want, 1, timeout_ms);
}

/* /proc/PID/status "Uid:" or "Gid:" line: the four ids must all equal `id`. */
static bool
proc_ids_are(pid_t pid, const char *field, unsigned id, char *line, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    char *text = read_file_all(path, NULL);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    const char *p = strstr(text, field);
    ck_assert_msg(p != NULL, "%s lacks %s", path, field);
    unsigned r, e, saved, fs;
    int n = sscanf(p + strlen(field), " %u %u %u %u", &r, &e, &saved, &fs);
    snprintf(line, len, "%.*s", (int)strcspn(p, "\n"), p);
    free(text);
    return n == 4 && r == id && e == id && saved == id && fs == id;
}

/* ---- a stopped worker's socket is lent ---- */

START_TEST(stopped_worker_socket_is_adopted)
{
    struct srv s;
    pid_t pids[8];
    srv_start(&s, NULL);
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);
    pid_t stopped = pids[1];
    int slot = slot_of(&s, stopped);
    ck_assert_int_ge(slot, 0);

    /* At once, without waiting for the master: connections hashed to the stopped worker's
     * socket meanwhile wait in its queue until the sibling adopts it. */
    ck_assert_int_eq(kill(stopped, SIGSTOP), 0);
    srv_assert_serves(&s, 50, "one worker stopped");
    ck_assert_msg(log_wait_fmt_pid(&s, "slot %d has no serving worker; worker %d accepts on its",
                                   slot, 1 - slot, 2000),
                  "the stopped worker's socket was not lent");
    ck_assert_msg(log_wait_fmt_pid(&s, "worker %d (pid %d) stopped", slot, (int)stopped, 2000),
                  "the master did not log the stopped worker");

    ck_assert_int_eq(kill(stopped, SIGCONT), 0);
    ck_assert_msg(log_wait_fmt_pid(&s, "worker %d (pid %d) continued", slot, (int)stopped, 5000),
                  "the master did not log the worker continuing");
    char back[64];
    snprintf(back, sizeof(back), "slot %d has its worker back", slot);
    ck_assert_msg(log_wait(&s, back, 1, 5000), "the lent socket was not given back");
    srv_assert_serves(&s, 50, "after SIGCONT");
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);
    ck_assert_msg(pids_contain(pids, 2, stopped), "the stopped worker was replaced");
    assert_each_serves(&s, pids, 2, 60);
    srv_stop(&s);
}
END_TEST

/* ---- TTIN / TTOU ---- */

START_TEST(ttin_ttou_change_worker_count)
{
    struct srv s;
    pid_t pids[8], three[8];
    struct load_stats st;
    char sum[300];
    srv_start(&s, NULL);
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);

    ck_assert_int_eq(kill(s.pid, SIGTTIN), 0);
    ck_assert_msg(worker_pids_wait(s.pid, 3, three, 8, 5000), "TTIN: no third worker within 5 s");
    ck_assert_msg(log_wait(&s, "TTIN: 3 workers", 1, 2000), "TTIN not logged");
    ck_assert_msg(log_wait(&s, "worker 2 (pid ", 2, 5000) && log_wait(&s, ") ready", 3, 5000),
                  "the third worker never reported ready");
    assert_each_serves(&s, three, 3, 120);

    /* Two TTOUs under load: the removed slots' sockets go on loan, nothing is refused. */
    struct load_cfg cfg = {.port = s.port,
                           .target = "/",
                           .expect_body = SRV_INDEX_HTML,
                           .new_threads = 4,
                           .max_ms = 20000,
                           .io_timeout_ms = PROBE_MS};
    struct load *l = load_start(&cfg);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(load_wait(l, 100, 5000), "load did not start");
    ck_assert_int_eq(kill(s.pid, SIGTTOU), 0);
    ck_assert_msg(worker_pids_wait(s.pid, 2, pids, 8, 5000), "TTOU: still %d children after 5 s",
                  worker_pids(s.pid, pids, 8));
    ck_assert_msg(load_wait(l, load_done(l) + 100, 5000), "load stalled after the first TTOU");
    ck_assert_int_eq(kill(s.pid, SIGTTOU), 0);
    ck_assert_msg(worker_pids_wait(s.pid, 1, pids, 8, 5000), "TTOU: still %d children after 5 s",
                  worker_pids(s.pid, pids, 8));
    ck_assert_msg(load_wait(l, load_done(l) + 100, 5000), "load stalled after the second TTOU");
    load_stop(l, &st);
    fprintf(stderr, "ttin_ttou: during TTOU: %s\n", load_summary(&st, sum, sizeof(sum)));
    ck_assert_msg(st.failures == 0, "during TTOU: %s; first: %s", sum,
                  st.nevents ? st.events[0].what : "");
    ck_assert_msg(log_count(&s, "TTOU: 1 workers") + log_count(&s, "TTOU: 1 worker") >= 1,
                  "second TTOU not logged");
    ck_assert_msg(log_count(&s, "slot 1 has no serving worker") >= 1 &&
                      log_count(&s, "slot 2 has no serving worker") >= 1,
                  "the removed slots' sockets were not lent");
    srv_assert_serves(&s, 50, "one worker left");

    ck_assert_int_eq(kill(s.pid, SIGTTIN), 0);
    ck_assert_msg(worker_pids_wait(s.pid, 2, pids, 8, 5000), "TTIN: not back to 2 workers in 5 s");
    ck_assert_msg(log_wait(&s, ") ready", 4, 5000), "the re-added worker never reported ready");
    assert_each_serves(&s, pids, 2, 60);
    srv_assert_serves(&s, 20, "back at two workers");
    srv_stop(&s);
}
END_TEST

/* ---- watchdog ---- */

START_TEST(watchdog_replaces_hung_worker)
{
    struct srv s;
    pid_t pids[8];
    srv_start(&s, "worker_watchdog = 1s");
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);
    pid_t hung = pids[0], other = pids[1];
    int slot = slot_of(&s, hung);

    int64_t t0 = now_ms();
    ck_assert_int_eq(kill(hung, SIGSTOP), 0);
    ck_assert_msg(
        log_wait_fmt_pid(&s, "worker %d (pid %d) has not turned its loop", slot, (int)hung, 5000),
        "no watchdog line within 5 s of SIGSTOP");
    int64_t noticed = now_ms() - t0;
    ck_assert_msg(noticed >= 900, "watchdog fired after %lld ms, before worker_watchdog = 1s",
                  (long long)noticed);
    ck_assert_msg(pid_wait_gone(hung, 5000), "the hung worker %d was not killed", (int)hung);

    int64_t deadline = now_ms() + 5000;
    while (worker_pids(s.pid, pids, 8) != 2 || pids_contain(pids, 2, hung)) {
        ck_assert_msg(now_ms() < deadline, "slot %d not respawned within 5 s", slot);
        sleep_ms(5);
    }
    ck_assert_msg(pids_contain(pids, 2, other), "the healthy worker was replaced too");
    pid_t fresh = pids[0] == other ? pids[1] : pids[0];
    ck_assert_msg(log_wait_fmt_pid(&s, "worker %d (pid %d) ready", slot, (int)fresh, 5000),
                  "the replacement never reported ready");
    char needle[64];
    snprintf(needle, sizeof(needle), "(pid %d", (int)hung);
    ck_assert_msg(log_line_with(&s, needle, "killed by signal", NULL, NULL, 0),
                  "the hung worker's death was not logged");
    assert_each_serves(&s, pids, 2, 60);
    ck_assert_msg(log_count(&s, "has not turned its loop") == 1,
                  "the watchdog fired %d times (healthy workers too?)",
                  log_count(&s, "has not turned its loop"));
    srv_stop(&s);
}
END_TEST

/* ---- max_requests ---- */

START_TEST(max_requests_retires_worker)
{
    struct srv s;
    pid_t pids[8];
    srv_start(&s, "workers = 1\nmax_requests = 20");
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 1);
    pid_t first = pids[0];

    srv_assert_serves(&s, 60, "max_requests = 20");
    ck_assert_msg(log_wait(&s, "max_requests: retiring", 2, 5000),
                  "'max_requests: retiring' logged %d times for 60 requests",
                  log_count(&s, "max_requests: retiring"));
    ck_assert_msg(worker_pids_wait(s.pid, 1, pids, 8, 5000), "not back to one worker");
    ck_assert_msg(pids[0] != first, "worker %d still serving after 60 requests", (int)first);
    /* A retirement is not a crash: no back-off. */
    ck_assert_msg(log_count(&s, "respawning in") == 0, "a retired worker was backed off");
    srv_assert_serves(&s, 5, "after the retirements");
    srv_stop(&s);
}
END_TEST

/* ---- privileges ---- */

/* Everything under the temp dir readable by anyone: the workers run as another user. */
static void
open_up(const struct srv *s)
{
    char path[SRV_PATH_MAX + 16];
    ck_assert_int_eq(chmod(s->dir, 0755), 0);
    ck_assert_int_eq(chmod(s->root, 0755), 0);
    snprintf(path, sizeof(path), "%s/index.html", s->root);
    ck_assert_int_eq(chmod(path, 0644), 0);
}

START_TEST(workers_run_as_user_when_started_as_root)
{
    if (geteuid() != 0) {
        fprintf(stderr, "workers_run_as_user_when_started_as_root: skipped (not root)\n");
        ck_assert_msg(true, "skipped: not started as root");
        return;
    }
    struct passwd *pw = getpwnam("nobody");
    ck_assert_msg(pw != NULL, "no user 'nobody' on this system");
    unsigned uid = pw->pw_uid, gid = pw->pw_gid;
    struct srv s;
    pid_t pids[8];
    char line[128];
    srv_init(&s);
    open_up(&s);
    srv_write_config(&s, "user = nobody");
    ck_assert_int_eq(chmod(s.cfg, 0644), 0);
    srv_spawn(&s);

    srv_assert_serves(&s, 10, "user = nobody");
    int n = worker_pids(s.pid, pids, 8);
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(proc_ids_are(pids[i], "Uid:", uid, line, sizeof(line)),
                      "worker %d: %s (want nobody, %u)", (int)pids[i], line, uid);
        ck_assert_msg(proc_ids_are(pids[i], "Gid:", gid, line, sizeof(line)),
                      "worker %d: %s (want nobody's group, %u)", (int)pids[i], line, gid);
    }
    ck_assert_msg(proc_ids_are(s.pid, "Uid:", 0, line, sizeof(line)), "the master dropped root: %s",
                  line);
    ck_assert_msg(log_count(&s, "running as nobody") == 2, "workers did not log the switch");
    assert_each_serves(&s, pids, 2, 60);
    srv_stop(&s);
}
END_TEST

/* As root, run the binary as `runas` (a plain user) with the given config; as anyone else, run
 * it as we are. Returns the exit code (or 128 + signal), -1 when it cannot be run that way. */
static int
run_start_as(const struct srv *s, const struct passwd *runas, char *out, size_t outlen)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    const char *bin =
        getenv("SLUICE_BIN") && *getenv("SLUICE_BIN") ? getenv("SLUICE_BIN") : "./sluice";
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
            _exit(126);
        if (runas != NULL &&
            (setgroups(0, NULL) < 0 || setgid(runas->pw_gid) < 0 || setuid(runas->pw_uid) < 0))
            _exit(125);
        execl(bin, bin, "-c", s->cfg, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t used = 0;
    int64_t deadline = now_ms() + 10000;
    for (;;) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        int left = (int)(deadline - now_ms());
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            break;
        ssize_t k = read(p[0], out + used, outlen - used - 1);
        if (k <= 0)
            break;
        used += (size_t)k;
    }
    out[used] = '\0';
    close(p[0]);
    int st;
    bool reaped = false;
    /* EOF on the pipe comes as the child exits; its wait status a moment later. */
    while (!(reaped = waitpid(pid, &st, WNOHANG) == pid) && now_ms() < deadline)
        sleep_ms(2);
    if (!reaped) {
        kill(pid, SIGKILL); /* it started after all: our own child, never anyone else */
        waitpid(pid, &st, 0);
        ck_abort_msg("sluice started as uid %d with user = nobody: %s",
                     runas ? (int)runas->pw_uid : (int)geteuid(), out);
    }
    if (WIFEXITED(st) && (WEXITSTATUS(st) == 125 || WEXITSTATUS(st) == 127))
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(user_refused_when_not_root)
{
    struct srv s;
    char out[2048], want[160];
    srv_init(&s);
    open_up(&s);
    srv_write_config(&s, "user = nobody");
    ck_assert_int_eq(chmod(s.cfg, 0644), 0);
    const struct passwd *pw = getpwnam("nobody");
    ck_assert_ptr_nonnull(pw);
    if (geteuid() == pw->pw_uid) {
        fprintf(stderr, "user_refused_when_not_root: skipped (running as nobody)\n");
        srv_finish(&s);
        return;
    }
    /* Started as root, the test runs sluice as 'daemon' instead: a non-root start all the same. */
    struct passwd runas_copy, *runas = NULL;
    if (geteuid() == 0) {
        struct passwd *d = getpwnam("daemon");
        if (d == NULL) {
            fprintf(stderr, "user_refused_when_not_root: skipped (root, and no user 'daemon')\n");
            srv_finish(&s);
            return;
        }
        runas_copy = *d;
        runas = &runas_copy;
    }
    int rc = run_start_as(&s, runas, out, sizeof(out));
    if (rc == -1) {
        fprintf(stderr, "user_refused_when_not_root: skipped (cannot run the binary as a plain "
                        "user here)\n");
        srv_finish(&s);
        return;
    }
    int line = 1;
    char *text = read_file_all(s.cfg, NULL);
    ck_assert_ptr_nonnull(text);
    const char *key = strstr(text, "user = nobody");
    for (const char *p = text; key != NULL && p < key; p++)
        line += *p == '\n';
    free(text);
    snprintf(want, sizeof(want),
             "sluice.ini:%d: user: switching to 'nobody' needs sluice to start as root", line);
    ck_assert_msg(rc == 1, "user = nobody as uid %d: exit %d (want 1); output: %s",
                  runas ? (int)runas->pw_uid : (int)geteuid(), rc, out);
    ck_assert_msg(strstr(out, want) != NULL, "output lacks '%s': %s", want, out);
    ck_assert_msg(access(s.pid_file, F_OK) != 0, "a refused start left a pid file");
    srv_finish(&s);
}
END_TEST

/* ---- process titles ---- */

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

Suite *
integ_supervise2_suite(void)
{
    Suite *s = suite_create("integ_supervise2");
    TCase *tc = tcase_create("lending");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stopped_worker_socket_is_adopted);
    tcase_add_test(tc, ttin_ttou_change_worker_count);
    suite_add_tcase(s, tc);

    tc = tcase_create("recycle");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, watchdog_replaces_hung_worker);
    tcase_add_test(tc, max_requests_retires_worker);
    tcase_add_test(tc, process_titles_show_role_and_generation);
    suite_add_tcase(s, tc);

    tc = tcase_create("privileges");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, workers_run_as_user_when_started_as_root);
    tcase_add_test(tc, user_refused_when_not_root);
    suite_add_tcase(s, tc);
    return s;
}
