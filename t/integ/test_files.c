/* Integration tests of the files the master writes and the processes the CLI signals (issue 9,
 * defects 5-7): no pid, port or log file is written through a planted link, the CLI signals only
 * the master that holds the pid file's lock, a stale pid file someone else flock'ed does not
 * block a start, log rotation reaches workers running as `user`, and root with no `user` is
 * warned about. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX 8192
#define PRECIOUS "precious bytes that no server may touch\n"

static void
assert_contains(const char *text, const char *needle, const char *what)
{
    ck_assert_msg(strstr(text, needle) != NULL, "%s: '%s' not in output:\n%s", what, needle, text);
}

/* The file at `path` still holds exactly PRECIOUS. */
static void
assert_untouched(const char *path)
{
    char *text = read_file_all(path, NULL);
    ck_assert_msg(text != NULL, "%s: gone", path);
    ck_assert_msg(strcmp(text, PRECIOUS) == 0, "%s was written through a link; it holds:\n%s", path,
                  text);
    free(text);
}

/* A file with PRECIOUS in it, and a link at `link` pointing to it. */
static void
plant_link(const char *target, const char *link)
{
    write_file(target, PRECIOUS, strlen(PRECIOUS));
    ck_assert_msg(symlink(target, link) == 0, "symlink %s: %s", link, strerror(errno));
}

/* `sluice -c cfg ARG` with stdout and stderr together. */
static int
run_verb(const struct srv *s, const char *verb, char *out)
{
    const char *args[] = {"-c", s->cfg, verb, NULL};
    return run_cmd_io(args, out, OUT_MAX, NULL, 0, 20000);
}

/* A start that must fail: exit 1 within the bound, output in `out`. */
static void
start_refused(const struct srv *s, char *out)
{
    int rc = run_verb(s, "start", out);
    ck_assert_msg(rc == 1, "start: exit %d, want 1:\n%s", rc, out);
}

/* A child of ours that pauses until killed, after taking flock `op` on `path` (op 0: none).
 * Returns once the lock is held (bounded wait). */
static pid_t
spawn_holder(const char *path, int op)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Check's handlers are inherited: its SIGTERM one would take the whole test down. */
        const int sigs[] = {SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGINT, SIGALRM};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            signal(sigs[i], SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int fd = op ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (op && (fd < 0 || flock(fd, op | LOCK_NB) < 0))
            _exit(1);
        if (write(p[1], "x", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    char c;
    ck_assert_msg(poll(&pfd, 1, 5000) == 1 && read(p[0], &c, 1) == 1,
                  "helper %d did not take its lock on %s", (int)pid, path);
    close(p[0]);
    srv_guard_pid(pid);
    return pid;
}

static void
kill_holder(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    srv_unguard_pid(pid);
}

/* ---- defect 5: pid file ---- */

/* A pid_file that is a link: -t, start and the CLI refuse it; its target keeps its bytes. */
START_TEST(pid_file_symlink_refused)
{
    struct srv s;
    char out[OUT_MAX], target[SRV_PATH_MAX];
    srv_init(&s);
    srv_write_config(&s, NULL);
    plant_link(srv_path(&s, "victim", target, sizeof(target)), s.pid_file);

    int rc = run_verb(&s, "-t", out);
    ck_assert_msg(rc == 1, "-t: exit %d, want 1:\n%s", rc, out);
    assert_contains(out, "pid_file", "-t");
    assert_contains(out, "symbolic link", "-t");
    start_refused(&s, out);
    assert_contains(out, "symbolic link", "start");
    assert_untouched(target);
    rc = run_verb(&s, "stop", out);
    ck_assert_msg(rc == 1, "stop: exit %d, want 1:\n%s", rc, out);
    assert_contains(out, "symbolic link", "stop");
    assert_untouched(target);
    srv_finish(&s);
}
END_TEST

/* A stale pid file another user owns is not taken over: it could be theirs to watch. */
START_TEST(pid_file_foreign_owner_refused)
{
    struct srv s;
    char out[OUT_MAX];
    srv_init(&s);
    srv_write_config(&s, NULL);
    write_file(s.pid_file, PRECIOUS, strlen(PRECIOUS));
    ck_assert_int_eq(chown(s.pid_file, 65534, 65534), 0);

    start_refused(&s, out);
    assert_contains(out, "owned by uid 65534", "start");
    assert_untouched(s.pid_file);
    srv_finish(&s);
}
END_TEST

/* Minor item: anyone can take LOCK_SH on a stale 0644 pid file. That must not block a start:
 * the start puts a new file (a new inode) in its place. */
START_TEST(stale_pid_file_shared_lock_does_not_block_start)
{
    struct srv s;
    srv_init(&s);
    srv_write_config(&s, NULL);
    write_file(s.pid_file, "1\n", 2);
    pid_t stranger = spawn_holder(s.pid_file, LOCK_SH);

    srv_spawn(&s);
    ck_assert_int_eq(srv_read_pid_file(&s), s.pid);
    srv_assert_serves(&s, 1, "after replacing a stale pid file");
    char out[OUT_MAX], want[64];
    int rc = srv_ctl(&s, "status", out, sizeof(out));
    snprintf(want, sizeof(want), "running (pid %d)", (int)s.pid);
    ck_assert_msg(rc == 0 && strstr(out, want), "status: exit %d:\n%s", rc, out);
    kill_holder(stranger);
    srv_stop(&s);
}
END_TEST

/* The pid file names a pid, but another process holds its lock: the CLI signals nobody. The
 * named process (a child that a signal would kill) must live through every verb. */
START_TEST(cli_signals_only_the_lock_holder)
{
    struct srv s;
    char out[OUT_MAX], text[32];
    srv_init(&s);
    srv_write_config(&s, NULL);
    pid_t victim = spawn_holder(NULL, 0);
    snprintf(text, sizeof(text), "%d\n", (int)victim);
    write_file(s.pid_file, text, strlen(text));
    pid_t locker = spawn_holder(s.pid_file, LOCK_EX);

    const char *verbs[] = {"stop", "quit", "reload", "reopen", "upgrade"};
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        int rc = run_verb(&s, verbs[i], out);
        ck_assert_msg(rc != 0, "%s: exit 0 though pid %d does not hold the lock:\n%s", verbs[i],
                      (int)victim, out);
        assert_contains(out, "refusing", verbs[i]);
        ck_assert_msg(pid_alive(victim), "%s signalled pid %d, which only the file named", verbs[i],
                      (int)victim);
    }
    kill_holder(locker);
    kill_holder(victim);
    srv_finish(&s);
}
END_TEST

/* ---- defect 5: port file ---- */

/* Links at the old predictable temp name and at the port file itself: the port file is a new
 * regular file with the port, and neither target is written (at start or at a reload). */
START_TEST(port_file_links_not_followed)
{
    struct srv s;
    char tmp_link[SRV_PATH_MAX + 8], t1[SRV_PATH_MAX], t2[SRV_PATH_MAX], out[OUT_MAX];
    srv_init(&s);
    srv_write_config(&s, NULL);
    snprintf(tmp_link, sizeof(tmp_link), "%s.tmp", s.port_file);
    plant_link(srv_path(&s, "victim1", t1, sizeof(t1)), tmp_link);
    plant_link(srv_path(&s, "victim2", t2, sizeof(t2)), s.port_file);

    srv_spawn(&s);
    assert_untouched(t1);
    int port = s.port;
    /* srv_spawn unlinks the port file before it starts sluice: plant that link again, then
     * make the master write the file once more. */
    ck_assert_int_eq(unlink(s.port_file), 0);
    ck_assert_int_eq(symlink(t2, s.port_file), 0);
    ck_assert_int_eq(srv_ctl(&s, "reload", out, sizeof(out)), 0);
    struct stat st;
    int64_t deadline = now_ms() + 10000;
    while (lstat(s.port_file, &st) != 0 || S_ISLNK(st.st_mode)) {
        ck_assert_msg(now_ms() < deadline, "port file still a link 10 s after a reload");
        sleep_ms(10);
    }
    ck_assert_int_eq(srv_read_port_file(&s), port);
    assert_untouched(t1);
    assert_untouched(t2);
    srv_stop(&s);
}
END_TEST

/* ---- defect 5: error log ---- */

/* error_log naming a link: -t and start refuse it with the file and the key; the target is
 * untouched. */
START_TEST(error_log_symlink_refused)
{
    struct srv s;
    char out[OUT_MAX], extra[SRV_PATH_MAX + 32], logf[SRV_PATH_MAX], target[SRV_PATH_MAX];
    srv_init(&s);
    srv_path(&s, "error.log.link", logf, sizeof(logf));
    plant_link(srv_path(&s, "victim", target, sizeof(target)), logf);
    snprintf(extra, sizeof(extra), "error_log = %s\n", logf);
    srv_write_config(&s, extra);

    /* The error names FILE:LINE of the error_log line, then the key. */
    char *text = read_file_all(s.cfg, NULL), at[SRV_PATH_MAX + 48];
    ck_assert_ptr_nonnull(text);
    int line = 1;
    for (const char *p = text; p < strstr(text, "error_log = "); p++)
        line += *p == '\n';
    free(text);
    snprintf(at, sizeof(at), "%s:%d: error_log: ", s.cfg, line);

    int rc = run_verb(&s, "-t", out);
    ck_assert_msg(rc == 1, "-t: exit %d, want 1:\n%s", rc, out);
    assert_contains(out, at, "-t");
    assert_contains(out, "symbolic link", "-t");
    start_refused(&s, out);
    assert_contains(out, at, "start");
    assert_contains(out, "symbolic link", "start");
    assert_untouched(target);
    ck_assert_msg(access(s.pid_file, F_OK) != 0, "refused start left a pid file");
    srv_finish(&s);
}
END_TEST

/* A link planted where the log was rotated away: reopen keeps the old file, writes nothing
 * through the link, and says why. */
START_TEST(reopen_refuses_planted_link)
{
    struct srv s;
    char out[OUT_MAX], extra[SRV_PATH_MAX + 32], logf[SRV_PATH_MAX], old[SRV_PATH_MAX],
        target[SRV_PATH_MAX];
    srv_init(&s);
    srv_path(&s, "sluice.log", logf, sizeof(logf));
    srv_path(&s, "sluice.log.1", old, sizeof(old));
    snprintf(extra, sizeof(extra), "error_log = %s\n", logf);
    srv_write_config(&s, extra);
    srv_spawn(&s);

    ck_assert_int_eq(rename(logf, old), 0);
    plant_link(srv_path(&s, "victim", target, sizeof(target)), logf);
    ck_assert_int_eq(srv_ctl(&s, "reopen", out, sizeof(out)), 0);
    char stdio_log[SRV_PATH_MAX];
    strcpy(stdio_log, s.log);
    strcpy(s.log, old);
    ck_assert_msg(log_wait(&s, "symbolic link", 1, 5000), "no refusal in the old log");
    srv_assert_serves(&s, 2, "after a refused reopen");
    assert_untouched(target);
    strcpy(s.log, stdio_log);
    srv_stop(&s);
}
END_TEST

/* The names that mean the process's own stdout/stderr keep working: /dev/stderr is itself a
 * link (to /proc/self/fd/2), which must not trip the O_NOFOLLOW rule. */
START_TEST(error_log_std_streams_work)
{
    const char *names[] = {"/dev/stderr", "/dev/stdout"};
    for (size_t i = 0; i < 2; i++) {
        struct srv s;
        char extra[64], out[OUT_MAX];
        snprintf(extra, sizeof(extra), "error_log = %s\n", names[i]);
        srv_init(&s);
        srv_write_config(&s, extra);
        int rc = run_verb(&s, "-t", out);
        ck_assert_msg(rc == 0, "-t with %s: exit %d:\n%s", names[i], rc, out);
        srv_spawn(&s);
        ck_assert_msg(log_wait(&s, "master: ready: ", 1, 5000), "%s: no ready line", names[i]);
        srv_stop(&s);
    }
}
END_TEST

/* ---- defect 6: rotation with `user` ---- */

/* Workers run as nobody; the log lives in a directory only root may write. After mv + reopen a
 * worker's lines land in the new file (handed over by the master), never "Permission denied",
 * and the rotated file stops growing. */
START_TEST(reopen_reaches_workers_running_as_user)
{
    struct srv s;
    char out[OUT_MAX], extra[SRV_PATH_MAX * 2], dir[SRV_PATH_MAX], logf[SRV_PATH_MAX],
        old[SRV_PATH_MAX];
    ck_assert_msg(getpwnam("nobody") != NULL, "no user nobody");
    ck_assert_msg(geteuid() == 0, "this test runs as root");
    srv_init(&s);
    srv_path(&s, "logs", dir, sizeof(dir));
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    srv_path(&s, "logs/error.log", logf, sizeof(logf));
    srv_path(&s, "logs/error.log.1", old, sizeof(old));
    snprintf(extra, sizeof(extra),
             "user = nobody\nworkers = 1\nlog_level = debug\nerror_log = %s\n", logf);
    srv_write_config(&s, extra);
    srv_spawn(&s);
    char stdio_log[SRV_PATH_MAX];
    strcpy(stdio_log, s.log);
    strcpy(s.log, logf);
    ck_assert_msg(log_wait(&s, "worker 0: running as nobody", 1, 5000), "workers not as nobody");

    ck_assert_int_eq(rename(logf, old), 0);
    int rc = srv_ctl(&s, "reopen", out, sizeof(out));
    ck_assert_msg(rc == 0, "reopen: exit %d:\n%s", rc, out);
    /* The worker takes the new fd on its next turn; a request in the same turn may still be
     * logged to the old file, so ask until one line reaches the new file (bounded). */
    const char *needle = "worker 0: closing connection";
    int64_t deadline = now_ms() + 5000;
    while (log_count(&s, needle) == 0) {
        ck_assert_msg(now_ms() < deadline, "no worker line in the reopened log after 5 s");
        srv_assert_serves(&s, 1, "after reopen");
    }
    struct stat before, after;
    ck_assert_int_eq(stat(old, &before), 0);
    srv_assert_serves(&s, 3, "after the worker switched");
    ck_assert_msg(log_wait(&s, needle, 4, 5000), "later worker lines missing from the new log");
    ck_assert_int_eq(stat(old, &after), 0);
    ck_assert_msg(after.st_size == before.st_size, "the rotated log grew from %lld to %lld bytes",
                  (long long)before.st_size, (long long)after.st_size);

    rc = srv_ctl(&s, "stop", out, sizeof(out));
    ck_assert_msg(rc == 0, "stop: exit %d:\n%s", rc, out);
    ck_assert_msg(srv_wait_exit(&s, 10000) != -1, "master still running after stop");
    const char *logs[] = {old, logf, stdio_log};
    for (size_t i = 0; i < 3; i++) {
        strcpy(s.log, logs[i]);
        srv_check_log(&s);
        ck_assert_msg(log_count(&s, "Permission denied") == 0, "%s: Permission denied", logs[i]);
    }
    strcpy(s.log, stdio_log);
    srv_finish(&s);
}
END_TEST

/* ---- defect 7: root with no user ---- */

START_TEST(root_without_user_warns)
{
    struct srv s;
    char out[OUT_MAX], line[1024];
    ck_assert_msg(geteuid() == 0, "this test runs as root");
    srv_init(&s);
    srv_write_config(&s, NULL);
    int rc = run_verb(&s, "-t", out);
    ck_assert_msg(rc == 0, "-t: exit %d:\n%s", rc, out);
    assert_contains(out, "warning: running as root with no `user`", "-t");
    srv_spawn(&s);
    ck_assert_msg(
        log_line_with(&s, "[warn]", "master: running as root", "`user`", line, sizeof(line)),
        "no [warn] line about root and `user` in the start log");
    srv_stop(&s);

    srv_init(&s);
    srv_write_config(&s, "user = nobody\n");
    ck_assert_int_eq(chmod(s.dir, 0711), 0); /* -t checks that nobody can read root */
    rc = run_verb(&s, "-t", out);
    ck_assert_msg(rc == 0, "-t with user: exit %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "running as root") == NULL, "-t warns with user set:\n%s", out);
    srv_spawn(&s);
    ck_assert_msg(log_count(&s, "running as root with no") == 0, "start warns with user set");
    srv_stop(&s);
}
END_TEST

Suite *
integ_files_suite(void)
{
    Suite *s = suite_create("integ_files");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pid_file_symlink_refused);
    tcase_add_test(tc, pid_file_foreign_owner_refused);
    tcase_add_test(tc, stale_pid_file_shared_lock_does_not_block_start);
    tcase_add_test(tc, cli_signals_only_the_lock_holder);
    tcase_add_test(tc, port_file_links_not_followed);
    tcase_add_test(tc, error_log_symlink_refused);
    tcase_add_test(tc, reopen_refuses_planted_link);
    tcase_add_test(tc, error_log_std_streams_work);
    tcase_add_test(tc, reopen_reaches_workers_running_as_user);
    tcase_add_test(tc, root_without_user_warns);
    suite_add_tcase(s, tc);
    return s;
}
