/* Integration tests of the control commands on a bad day: a configuration file broken since the
 * master started, a master that does not answer (SIGSTOP), no control socket, a daemon that
 * fails to start, a relative -c path. stdout and stderr are checked apart, and exactly. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX 8192

/* The three broken lines appended to a running instance's file, and what the lenient commands
 * say about them (line numbers: srv_write_config writes 7 lines). */
static const char broken_lines[] = "wrokers = 3\n[foo]\njunk\n";

static void
want_broken_warnings(const struct srv *s, char *buf, size_t len)
{
    snprintf(buf, len,
             "sluice: %s:8: warning: unknown key 'wrokers' (did you mean 'workers'?)\n"
             "sluice: %s:9: warning: unknown section [foo] (the only sections are [app \"name\"])\n"
             "sluice: %s:10: warning: syntax error (expected 'key = value', '[section]' or a "
             "comment)\n",
             s->cfg, s->cfg, s->cfg);
}

static void
append_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* `sluice -c CFG VERB`: exit code, stdout and stderr apart. */
static int
ctl_io(const struct srv *s, const char *verb, char *out, char *err)
{
    const char *args[] = {"-c", s->cfg, verb, NULL};
    return run_cmd_io(args, out, OUT_MAX, err, OUT_MAX, 30000);
}

static void
assert_io(int rc, const char *out, const char *err, int want_rc, const char *want_out,
          const char *want_err, const char *what)
{
    ck_assert_msg(rc == want_rc && strcmp(out, want_out) == 0 && strcmp(err, want_err) == 0,
                  "%s: exit %d (want %d)\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", what, rc,
                  want_rc, out, want_out, err, want_err);
}

/* ---- a CLI run in the background, or from another directory ---- */

struct bg {
    pid_t pid;
    char out[SRV_PATH_MAX + 16], err[SRV_PATH_MAX + 16];
};

static int
open_out(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    return fd;
}

/* Start `sluice ARGS` from directory `cwd` (NULL: ours), stdout and stderr into files in the
 * instance's directory. */
static void
bg_start(struct bg *b, const struct srv *s, const char *cwd, const char *const args[])
{
    const char *argv[16];
    char bin[4096];
    int argc = 0;
    /* Absolute: the child may change directory first. */
    ck_assert_msg(realpath(sluice_bin(), bin) != NULL, "%s: %s", sluice_bin(), strerror(errno));
    argv[argc++] = bin;
    for (int i = 0; args[i] != NULL && argc < 15; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    srv_path(s, "cli.out", b->out, sizeof(b->out));
    srv_path(s, "cli.err", b->err, sizeof(b->err));
    int outfd = open_out(b->out), errfd = open_out(b->err);
    b->pid = fork();
    ck_assert_msg(b->pid >= 0, "fork: %s", strerror(errno));
    if (b->pid == 0) {
        if (cwd != NULL && chdir(cwd) < 0)
            _exit(125);
        child_setup_fds(outfd, errfd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(outfd);
    close(errfd);
}

/* Wait (bounded) for it: its exit code; its stdout and stderr into out and err. */
static int
bg_wait(struct bg *b, int timeout_ms, char *out, char *err)
{
    int st = 0;
    int64_t deadline = now_ms() + timeout_ms;
    while (waitpid(b->pid, &st, WNOHANG) != b->pid) {
        srv_reap_exited();
        if (now_ms() >= deadline) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &st, 0);
            ck_abort_msg("the CLI (pid %d) still ran after %d ms", (int)b->pid, timeout_ms);
        }
        sleep_ms(5);
    }
    char *text = read_file_all(b->out, NULL);
    snprintf(out, OUT_MAX, "%s", text ? text : "");
    free(text);
    text = read_file_all(b->err, NULL);
    snprintf(err, OUT_MAX, "%s", text ? text : "");
    free(text);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int
run_in(const struct srv *s, const char *cwd, const char *const args[], char *out, char *err)
{
    struct bg b;
    bg_start(&b, s, cwd, args);
    return bg_wait(&b, 30000, out, err);
}

/* The pid in the first "[LEVEL] PID master:" line of the error log, -1 when none. */
static pid_t
logged_master_pid(const struct srv *s)
{
    char *text = read_file_all(s->log, NULL);
    const char *p = text ? strstr(text, "] ") : NULL;
    int pid = -1;
    if (p == NULL || sscanf(p + 2, "%d master:", &pid) != 1)
        pid = -1;
    free(text);
    return (pid_t)pid;
}

/* ---- a broken file does not leave the operator powerless ---- */

/* status, reopen, reload, upgrade and stop against a master whose file has since been broken:
 * each reads only what it needs (warning about the rest, once per bad line), except reload,
 * which refuses with the first error, and upgrade, whose new master refuses the file (the old
 * one keeps serving). */
START_TEST(broken_config_commands)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], warn[4 * SRV_PATH_MAX], want[6 * SRV_PATH_MAX];
    srv_start(&s, NULL);
    append_file(s.cfg, broken_lines);
    want_broken_warnings(&s, warn, sizeof(warn));

    int rc = ctl_io(&s, "status", out, err);
    snprintf(want, sizeof(want), "sluice: running (pid %d)\ngeneration 1 active, 2 workers\n",
             (int)s.pid);
    ck_assert_msg(rc == 0 && strncmp(out, want, strlen(want)) == 0 && strcmp(err, warn) == 0,
                  "status: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, err);

    rc = ctl_io(&s, "reopen", out, err);
    assert_io(rc, out, err, 0, "sluice: logs reopened\n", warn, "reopen");

    rc = ctl_io(&s, "reload", out, err);
    snprintf(want, sizeof(want), "sluice: %s:8: unknown key 'wrokers' (did you mean 'workers'?)\n",
             s.cfg);
    assert_io(rc, out, err, 1, "", want, "reload");

    rc = ctl_io(&s, "upgrade", out, err);
    snprintf(want, sizeof(want),
             "%ssluice: upgrade failed: the new master did not start; rolling back to pid %d\n",
             warn, (int)s.pid);
    assert_io(rc, out, err, 1, "", want, "upgrade");
    srv_assert_serves(&s, 2, "after the refused upgrade");

    rc = ctl_io(&s, "stop", out, err);
    snprintf(want, sizeof(want), "sluice: stopped (pid %d)\n", (int)s.pid);
    assert_io(rc, out, err, 0, want, warn, "stop");
    int st = srv_wait_exit(&s, 5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "master wait status 0x%x", st);

    rc = ctl_io(&s, "status", out, err);
    snprintf(want, sizeof(want), "%ssluice: not running (no pid file %s)\n", warn, s.pid_file);
    assert_io(rc, out, err, 3, "", want, "status after stop");
    srv_finish(&s);
}
END_TEST

/* quit, and a broken graceful_timeout: a warning, and quit waits its default. A pid_file line
 * that cannot be used is what a command cannot do without: status exits 4 (cannot tell). */
START_TEST(broken_config_quit)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[4 * SRV_PATH_MAX];
    srv_start(&s, NULL);
    append_file(s.cfg, "graceful_timeout = soon\n");

    int rc = ctl_io(&s, "quit", out, err);
    char stopped[64];
    snprintf(stopped, sizeof(stopped), "sluice: stopped (pid %d)\n", (int)s.pid);
    snprintf(want, sizeof(want),
             "sluice: %s:8: warning: graceful_timeout: invalid value 'soon' (expected a duration "
             "such as 500ms, 15s, 2m or 1h)\n",
             s.cfg);
    assert_io(rc, out, err, 0, stopped, want, "quit");
    int st = srv_wait_exit(&s, 5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "master wait status 0x%x", st);

    srv_write_config(&s, "pid_file =\n"); /* the 7th line */
    rc = ctl_io(&s, "status", out, err);
    snprintf(want, sizeof(want), "sluice: %s:7: pid_file: invalid value '' (expected a path)\n",
             s.cfg);
    assert_io(rc, out, err, 4, "", want, "status, pid_file unusable");
    srv_finish(&s);
}
END_TEST

/* ---- a master that does not answer ---- */

/* `stop` against a stopped master: after the control socket's 5 s it falls back to SIGTERM and
 * waits; the stop request the master finds when it resumes is dropped, not run a second time. */
START_TEST(stop_unanswered_master)
{
    struct srv s;
    struct bg cli;
    char out[OUT_MAX], err[OUT_MAX], want_out[64], want_err[128];
    srv_start(&s, NULL);
    ck_assert_int_eq(kill(s.pid, SIGSTOP), 0);
    const char *args[] = {"-c", s.cfg, "stop", NULL};
    bg_start(&cli, &s, NULL, args);

    /* Resume the master once the CLI has given up on the control socket (it says so). */
    int64_t deadline = now_ms() + 10000;
    for (;;) {
        char *text = read_file_all(cli.err, NULL);
        bool said = text != NULL && strstr(text, "no answer") != NULL;
        free(text);
        if (said)
            break;
        if (now_ms() >= deadline) {
            kill(s.pid, SIGCONT);
            ck_abort_msg("no 'no answer' line from the CLI within 10 s");
        }
        sleep_ms(10);
    }
    ck_assert_int_eq(kill(s.pid, SIGCONT), 0);
    int rc = bg_wait(&cli, 15000, out, err);
    snprintf(want_out, sizeof(want_out), "sluice: stopped (pid %d)\n", (int)s.pid);
    snprintf(want_err, sizeof(want_err),
             "sluice: no answer from the master (pid %d) within 5 s; sending SIGTERM\n",
             (int)s.pid);
    assert_io(rc, out, err, 0, want_out, want_err, "stop of a stopped master");
    int st = srv_wait_exit(&s, 5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "master wait status 0x%x", st);
    ck_assert_int_eq(log_count(&s, "master: fast stop"), 1);
    srv_finish(&s);
}
END_TEST

/* The same for reopen, whose effect can be counted: after the fallback to USR1 the master,
 * resumed, reopens once, and drops the request it finds queued from the CLI that gave up. */
START_TEST(reopen_unanswered_master)
{
    struct srv s;
    struct bg cli;
    char out[OUT_MAX], err[OUT_MAX], want_out[64], want_err[128];
    srv_start(&s, NULL);
    ck_assert_int_eq(kill(s.pid, SIGSTOP), 0);
    const char *args[] = {"-c", s.cfg, "reopen", NULL};
    bg_start(&cli, &s, NULL, args);
    int rc = bg_wait(&cli, 15000, out, err);
    ck_assert_int_eq(kill(s.pid, SIGCONT), 0);
    snprintf(want_out, sizeof(want_out), "sluice: reopen signalled (pid %d)\n", (int)s.pid);
    snprintf(want_err, sizeof(want_err),
             "sluice: no answer from the master (pid %d) within 5 s; sending SIGUSR1\n",
             (int)s.pid);
    assert_io(rc, out, err, 0, want_out, want_err, "reopen of a stopped master");
    ck_assert_msg(log_wait(&s, "control: 'reopen' not run: its client left", 1, 5000),
                  "the queued reopen was not dropped");
    srv_assert_serves(&s, 2, "after the reopen");
    ck_assert_int_eq(log_count(&s, "master: reopening logs"), 1);
    srv_stop(&s);
}
END_TEST

/* ---- without a control socket: signals ---- */

/* reopen falls back to USR1 and says so; USR1 itself reopens the log too. */
START_TEST(reopen_signalled_without_control_socket)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[64], extra[SRV_PATH_MAX + 32], logf[SRV_PATH_MAX],
        old[SRV_PATH_MAX + 8], ctl[SRV_PATH_MAX];
    srv_init(&s);
    srv_path(&s, "sluice.log", logf, sizeof(logf));
    snprintf(old, sizeof(old), "%s.1", logf);
    snprintf(extra, sizeof(extra), "error_log = %s\n", logf);
    srv_write_config(&s, extra);
    srv_spawn(&s);
    ck_assert_int_eq(unlink(srv_path(&s, "sluice.ctl", ctl, sizeof(ctl))), 0);

    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(rename(logf, old), 0); /* what logrotate does first */
        if (round == 0) {
            int rc = ctl_io(&s, "reopen", out, err);
            snprintf(want, sizeof(want), "sluice: reopen signalled (pid %d)\n", (int)s.pid);
            assert_io(rc, out, err, 0, want, "", "reopen without a control socket");
        } else {
            ck_assert_int_eq(kill(s.pid, SIGUSR1), 0);
        }
        int64_t deadline = now_ms() + 5000;
        while (access(logf, F_OK) != 0) {
            ck_assert_msg(now_ms() < deadline, "round %d: %s not re-created", round, logf);
            sleep_ms(10);
        }
        strcpy(s.log, old);
        ck_assert_msg(log_count(&s, "master: reopening logs") == 1, "round %d: no reopen in %s",
                      round, old);
        srv_check_log(&s);
        srv_path(&s, "error.log", s.log, sizeof(s.log));
    }
    srv_assert_serves(&s, 2, "after the reopens");
    srv_stop(&s);
}
END_TEST

/* ---- status ---- */

/* A row of the worker table (SLOT PID GEN STATE CONNS REQUESTS BYTES RSS UPTIME HEARTBEAT
 * RESPAWNS): serving, a recent heartbeat; returns its requests. */
static unsigned long long
assert_worker_line(const char *line, int slot)
{
    int got_slot, pid;
    unsigned gen, respawns;
    unsigned long long conns, reqs;
    long long age;
    char state[16], bytes[32], rss[32], up[32];
    int n = sscanf(line, "%d %d %u %15s %llu %llu %31s %31s %31s %lldms %u", &got_slot, &pid, &gen,
                   state, &conns, &reqs, bytes, rss, up, &age, &respawns);
    ck_assert_msg(n == 11 && got_slot == slot && pid > 0 && gen == 1 &&
                      strcmp(state, "serving") == 0 && age >= 0 && age < 60000 && respawns == 0,
                  "status worker line: '%s'", line);
    return reqs;
}

/* The detail lines: each generation, its workers with state, counts and heartbeat age, and a
 * slot backing off after crashes marked degraded. */
START_TEST(status_detail_lines)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[128];
    srv_start(&s, "workers = 1\n");
    srv_assert_serves(&s, 3, "before status");
    int rc = ctl_io(&s, "status", out, err);
    snprintf(want, sizeof(want), "sluice: running (pid %d)\ngeneration 1 active, 1 workers\n",
             (int)s.pid);
    ck_assert_msg(rc == 0 && strncmp(out, want, strlen(want)) == 0 && err[0] == '\0',
                  "status: exit %d\n%s\nstderr:\n%s", rc, out, err);
    /* The master line, the table's header, one row. */
    const char *line = strstr(out, " SLOT ");
    ck_assert_msg(strncmp(out + strlen(want), "master pid ", 11) == 0 && line != NULL,
                  "no master line or table header:\n%s", out);
    line = strchr(line, '\n') + 1;
    ck_assert_msg(strchr(line, '\n') == line + strlen(line) - 1, "more than one worker line:\n%s",
                  out);
    ck_assert_msg(assert_worker_line(line, 0) == 3, "3 requests not counted: %s", line);

    /* Kill each new worker at once: the slot backs off 100, 200, 400 ms... until status, asked
     * between two deaths, shows it degraded. */
    int64_t deadline = now_ms() + 20000;
    for (;;) {
        pid_t w[4];
        rc = ctl_io(&s, "status", out, err);
        if (strstr(out, "(degraded)"))
            break;
        ck_assert_msg(now_ms() < deadline, "no degraded slot in status:\n%s", out);
        if (worker_pids(s.pid, w, 4) == 1)
            kill(w[0], SIGKILL);
        sleep_ms(20);
    }
    ck_assert_msg(rc == 0, "status: exit %d", rc);
    char *deg = strstr(out, "  worker 0 backing off, respawn in ");
    long long ms = -1;
    ck_assert_msg(deg != NULL &&
                      sscanf(deg, "  worker 0 backing off, respawn in %lld ms", &ms) == 1 &&
                      ms >= 0 && strstr(deg, " ms (degraded)\n") != NULL,
                  "degraded line:\n%s", out);
    srv_stop(&s);
}
END_TEST

/* ---- -d ---- */

/* A daemon that fails after it detached (its unix listen socket cannot be made): the parent
 * exits 1 and says so; the daemon leaves no pid file and no process. */
START_TEST(daemon_start_failure_exits_1)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], extra[3 * SRV_PATH_MAX];
    srv_init(&s);
    snprintf(extra, sizeof(extra), "listen = unix:%s/missing/s.sock\nerror_log = %s\n", s.dir,
             s.log);
    srv_write_config(&s, extra);
    const char *args[] = {"-c", s.cfg, "-d", NULL};
    int rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), 15000);
    pid_t daemon = logged_master_pid(&s);
    ck_assert_msg(rc == 1 && out[0] == '\0', "sluice -d: exit %d\n%s\nstderr:\n%s", rc, out, err);
    const char *last = "sluice: the daemon failed to start; see the error log\n";
    size_t len = strlen(err), llen = strlen(last);
    ck_assert_msg(len >= llen && strcmp(err + len - llen, last) == 0, "stderr:\n%s", err);
    ck_assert_msg(daemon > 0, "no master line in the log");
    ck_assert_msg(pid_wait_gone(daemon, 5000), "the failed daemon %d is still there", (int)daemon);
    ck_assert_msg(access(s.pid_file, F_OK) != 0, "pid file left behind");
    srv_finish(&s);
}
END_TEST

/* -d with error_log = stderr: said before detaching, as a warning. */
START_TEST(daemon_stderr_log_warned)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[SRV_PATH_MAX + 256];
    srv_init(&s);
    srv_write_config(&s, NULL);
    const char *args[] = {"-c", s.cfg, "-d", NULL};
    int rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), 15000);
    pid_t pid = srv_read_pid_file(&s);
    if (pid > 0)
        srv_guard_pid(pid);
    snprintf(want, sizeof(want),
             "sluice: %s:6: warning: error_log = stderr: the daemon goes on writing its log to "
             "the stderr it was started with; set error_log to a file\n",
             s.cfg);
    ck_assert_msg(rc == 0 && out[0] == '\0' && strncmp(err, want, strlen(want)) == 0,
                  "sluice -d: exit %d\n%s\nstderr:\n%s", rc, out, err);
    srv_cli_stop(&s, pid);
    srv_finish(&s);
}
END_TEST

/* ---- the file's name ---- */

/* Started with a relative -c, a reload error names the file as given, whether the master
 * reports it (control socket) or the command itself (without one). */
START_TEST(reload_error_names_file_as_given)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[3 * SRV_PATH_MAX], extra[2 * SRV_PATH_MAX + 64],
        ctl[SRV_PATH_MAX];
    srv_init(&s);
    snprintf(extra, sizeof(extra), "error_log = %s\n", s.log);
    srv_write_config(&s, extra);
    const char *start[] = {"-c", "sluice.ini", "-d", NULL};
    int rc = run_in(&s, s.dir, start, out, err);
    pid_t pid = srv_read_pid_file(&s);
    if (pid > 0)
        srv_guard_pid(pid);
    ck_assert_msg(rc == 0 && pid > 0, "sluice -d: exit %d\n%s", rc, err);

    snprintf(extra, sizeof(extra), "error_log = %s\nroot = %s/missing\n", s.log, s.dir);
    srv_write_config(&s, extra);
    snprintf(want, sizeof(want),
             "sluice: sluice.ini:7: root: cannot open directory '%s/missing': No such file or "
             "directory\n",
             s.dir);
    const char *reload[] = {"-c", "sluice.ini", "reload", NULL};
    rc = run_in(&s, s.dir, reload, out, err);
    assert_io(rc, out, err, 1, "", want, "reload, master's answer");
    ck_assert_int_eq(unlink(srv_path(&s, "sluice.ctl", ctl, sizeof(ctl))), 0);
    rc = run_in(&s, s.dir, reload, out, err);
    assert_io(rc, out, err, 1, "", want, "reload, checked by the command");
    srv_cli_stop(&s, pid);
    srv_finish(&s);
}
END_TEST

/* -t with no file at all names the built-in defaults, not a sluice.ini that does not exist. */
START_TEST(t_without_file_names_defaults)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], empty[SRV_PATH_MAX], want[2 * SRV_PATH_MAX + 128];
    srv_init(&s);
    srv_path(&s, "empty", empty, sizeof(empty));
    ck_assert_int_eq(mkdir(empty, 0755), 0);
    const char *args[] = {"-t", NULL};
    int rc = run_in(&s, empty, args, out, err);
    snprintf(want, sizeof(want),
             "sluice: root: cannot open directory '%s/www': No such file or directory (the "
             "default; set root)\n"
             "sluice: built-in default configuration test failed\n",
             empty);
    assert_io(rc, out, err, 1, "", want, "-t without a file");
    srv_finish(&s);
}
END_TEST

Suite *
integ_commands_suite(void)
{
    Suite *s = suite_create("integ_commands");
    TCase *tc = tcase_create("commands");
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, broken_config_commands);
    tcase_add_test(tc, broken_config_quit);
    tcase_add_test(tc, stop_unanswered_master);
    tcase_add_test(tc, reopen_unanswered_master);
    tcase_add_test(tc, reopen_signalled_without_control_socket);
    tcase_add_test(tc, status_detail_lines);
    tcase_add_test(tc, daemon_start_failure_exits_1);
    tcase_add_test(tc, daemon_stderr_log_warned);
    tcase_add_test(tc, reload_error_names_file_as_given);
    tcase_add_test(tc, t_without_file_names_defaults);
    suite_add_tcase(s, tc);
    return s;
}
