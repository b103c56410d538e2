/* Integration tests of the command line: -t/-v/-h, and stop/quit/status/reload/-d against a
 * real running master (pid file, flock, daemonising). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX 8192

static void
assert_contains(const char *text, const char *needle, const char *what)
{
    ck_assert_msg(strstr(text, needle) != NULL, "%s: '%s' not in output:\n%s", what, needle, text);
}

/* Exit code, stdout and stderr, each exactly as wanted. */
static void
assert_io(int rc, const char *out, const char *err, int want_rc, const char *want_out,
          const char *want_err, const char *what)
{
    ck_assert_msg(rc == want_rc && strcmp(out, want_out) == 0 && strcmp(err, want_err) == 0,
                  "%s: exit %d (want %d)\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", what, rc,
                  want_rc, out, want_out, err, want_err);
}

/* `sluice -c CFG VERB`: exit code, stdout and stderr apart. */
static int
ctl_io(const struct srv *s, const char *verb, char *out, char *err)
{
    const char *args[] = {"-c", s->cfg, verb, NULL};
    return run_cmd_io(args, out, OUT_MAX, err, OUT_MAX, 20000);
}

/* -t warns when run as root with no `user` (the tests do): drop that one line, after checking
 * it is there exactly when it should be. */
static void
drop_root_warning(char *err)
{
    char *w = strstr(err, ": warning: running as root with no `user` set");
    ck_assert_msg((w != NULL) == (geteuid() == 0), "root warning %s:\n%s",
                  w ? "given, not as root" : "missing", err);
    if (w == NULL)
        return;
    while (w > err && w[-1] != '\n')
        w--;
    char *end = strchr(w, '\n');
    memmove(w, end + 1, strlen(end + 1) + 1);
}

static void
assert_contains_nocase(const char *text, const char *needle, const char *what)
{
    ck_assert_msg(strcasestr(text, needle) != NULL, "%s: '%s' not in output:\n%s", what, needle,
                  text);
}

static unsigned long long
hard_nofile(void)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    return (unsigned long long)rl.rlim_max;
}

static bool
file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void
assert_serving(const struct srv *s)
{
    struct http_resp r;
    int st = http_simple(s->port, "GET", "/", &r);
    ck_assert_msg(st == 200, "GET / on port %d: status %d", s->port, st);
    ck_assert_str_eq(r.body, SRV_INDEX_HTML);
    http_resp_free(&r);
}

/* Write sluice.ini from `lines` verbatim (so line numbers are the test's). */
static void
write_raw_config(const struct srv *s, const char *lines)
{
    write_file(s->cfg, lines, strlen(lines));
}

/* `sluice -c cfg -t`: exit code, stdout and stderr apart. */
static int
config_test(const struct srv *s, char *out, char *err)
{
    const char *args[] = {"-c", s->cfg, "-t", NULL};
    return run_cmd_io(args, out, OUT_MAX, err, OUT_MAX, 20000);
}

/* ---- -t, -v, -h ---- */

START_TEST(t_good_config)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX];
    srv_init(&s);
    srv_write_config(&s, NULL);

    char want[SRV_PATH_MAX + 64];
    int rc = config_test(&s, out, err);
    drop_root_warning(err);
    snprintf(want, sizeof(want), "sluice: configuration file %s test is successful\n", s.cfg);
    assert_io(rc, out, err, 0, "", want, "-t");
    ck_assert_msg(!file_exists(s.pid_file), "-t wrote a pid file");
    ck_assert_msg(!file_exists(s.port_file), "-t wrote a port file");
    srv_finish(&s);
}
END_TEST

START_TEST(t_unknown_key_names_file_and_line)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], text[2048];
    srv_init(&s);
    snprintf(text, sizeof(text),
             "; sluice test config\n"
             "listen = 127.0.0.1:0\n"
             "wrokers = 2\n"
             "root = %s\n",
             s.root);
    write_raw_config(&s, text);

    char want[3 * SRV_PATH_MAX];
    snprintf(want, sizeof(want),
             "sluice: %s:3: unknown key 'wrokers' (did you mean 'workers'?)\n"
             "sluice: configuration file %s test failed\n",
             s.cfg, s.cfg);
    assert_io(config_test(&s, out, err), out, err, 1, "", want, "-t");
    srv_finish(&s);
}
END_TEST

START_TEST(t_bad_value_names_file_line_and_key)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], text[2048];
    srv_init(&s);
    snprintf(text, sizeof(text),
             "listen = 127.0.0.1:0\n"
             "root = %s\n"
             "workers = abc\n",
             s.root);
    write_raw_config(&s, text);

    char want[3 * SRV_PATH_MAX];
    snprintf(want, sizeof(want),
             "sluice: %s:3: workers: invalid value 'abc' (expected auto or 1..64)\n"
             "sluice: configuration file %s test failed\n",
             s.cfg, s.cfg);
    assert_io(config_test(&s, out, err), out, err, 1, "", want, "-t");
    srv_finish(&s);
}
END_TEST

/* More errors on line 3: each must name file:line and what is wrong, exit 1. */
START_TEST(t_other_errors)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], text[2048], missing[SRV_PATH_MAX + 32];
    srv_init(&s);
    snprintf(missing, sizeof(missing), "root = %s/no-such-dir", s.dir);
    const struct {
        const char *line3;
        const char *needle;
    } cases[] = {
        {"workers = 0", "workers"},
        {"workers = 65", "workers"},
        {"reuseport = yes", "reuseport"},
        {"keepalive_timeout = 2h", "keepalive_timeout"},
        {"listen = not-an-address", "listen"},
        {"[foo]", "[foo]"},
        {"listen", "syntax error"},
        {"index = a/b.html", "index"},
        {"log_level = loud", "log_level"},
        {missing, "no-such-dir"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool sets_root = strncmp(cases[i].line3, "root", 4) == 0;
        snprintf(text, sizeof(text), "listen = 127.0.0.1:0\n%s%s\n%s\n",
                 sets_root ? "" : "root = ", sets_root ? "; root below" : s.root, cases[i].line3);
        write_raw_config(&s, text);
        int rc = config_test(&s, out, err);
        ck_assert_msg(rc == 1 && out[0] == '\0', "'%s': exit %d, want 1; stderr:\n%s",
                      cases[i].line3, rc, err);
        /* One error line, on line 3, naming what is wrong; then the verdict. */
        char head[SRV_PATH_MAX + 16], tail[SRV_PATH_MAX + 64];
        snprintf(head, sizeof(head), "sluice: %s:3: ", s.cfg);
        snprintf(tail, sizeof(tail), "\nsluice: configuration file %s test failed\n", s.cfg);
        char *nl = strchr(err, '\n');
        ck_assert_msg(strncmp(err, head, strlen(head)) == 0 && nl && strcmp(nl, tail) == 0,
                      "'%s': stderr:\n%s", cases[i].line3, err);
        assert_contains(err, cases[i].needle, cases[i].line3);
    }

    /* A scalar key twice: the error is on the second, naming the first. */
    snprintf(text, sizeof(text), "root = %s\nworkers = 2\nworkers = 3\n", s.root);
    write_raw_config(&s, text);
    ck_assert_int_eq(config_test(&s, out, err), 1);
    assert_contains(err, "sluice.ini:3:", "duplicate");
    assert_contains(err, "duplicate key (first set at line 2)", "duplicate");
    srv_finish(&s);
}
END_TEST

START_TEST(t_missing_file)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX];
    srv_init(&s);
    srv_path(&s, "nope.ini", s.cfg, sizeof(s.cfg));

    char want[3 * SRV_PATH_MAX];
    snprintf(want, sizeof(want),
             "sluice: %s: cannot open: No such file or directory\n"
             "sluice: configuration file %s test failed\n",
             s.cfg, s.cfg);
    assert_io(config_test(&s, out, err), out, err, 1, "", want, "-t");
    srv_finish(&s);
}
END_TEST

/* start runs -t's checks, in its order and with its text: a configuration -t refuses is refused
 * by start with the same lines (without the verdict), nothing left behind. */
static void
assert_start_refuses_like_t(struct srv *s, const char *want_line)
{
    char out[OUT_MAX], err[OUT_MAX], want[3 * SRV_PATH_MAX + 512];
    int rc = config_test(s, out, err);
    drop_root_warning(err);
    snprintf(want, sizeof(want), "%ssluice: configuration file %s test failed\n", want_line,
             s->cfg);
    assert_io(rc, out, err, 1, "", want, "-t");
    const char *args[] = {"-c", s->cfg, "start", NULL};
    rc = run_cmd_io(args, out, OUT_MAX, err, OUT_MAX, 10000);
    assert_io(rc, out, err, 1, "", want_line, "start");
    ck_assert_msg(!file_exists(s->pid_file), "start left a pid file");
}

START_TEST(start_refuses_what_t_refuses)
{
    struct srv s;
    char extra[2 * SRV_PATH_MAX], want[3 * SRV_PATH_MAX + 256];
    srv_init(&s);
    snprintf(extra, sizeof(extra), "error_log = %s/no-such-dir/error.log\n", s.dir);
    srv_write_config(&s, extra); /* error_log is line 7 */
    snprintf(want, sizeof(want),
             "sluice: %s:7: error_log: cannot open '%s/no-such-dir/error.log': No such file or "
             "directory\n",
             s.cfg, s.dir);
    assert_start_refuses_like_t(&s, want);

    srv_write_config(&s, "max_connections = 600\nworker_rlimit_nofile = 1000\n");
    snprintf(want, sizeof(want),
             "sluice: %s: max_connections 600 x 2 + open_file_cache 1000 + 32 = 2232 descriptors "
             "per worker, but RLIMIT_NOFILE will be 1000 (hard limit %llu); lower "
             "max_connections or use auto\n",
             s.cfg, (unsigned long long)hard_nofile());
    assert_start_refuses_like_t(&s, want);
    srv_finish(&s);
}
END_TEST

START_TEST(version_and_help)
{
    char out[OUT_MAX], err[OUT_MAX];
    const char *v[] = {"-v", NULL};
    ck_assert_int_eq(run_cmd_io(v, out, sizeof(out), err, sizeof(err), 20000), 0);
    ck_assert_str_eq(out, "sluice 0.1.0\n");
    ck_assert_str_eq(err, "");

    const char *h[] = {"-h", NULL};
    ck_assert_int_eq(run_cmd_io(h, out, sizeof(out), err, sizeof(err), 20000), 0);
    assert_contains_nocase(out, "usage", "-h stdout");
    assert_contains(out, "-c", "-h stdout");
    ck_assert_str_eq(err, "");

    const char *bad[] = {"-Z", NULL};
    ck_assert_int_eq(run_cmd_io(bad, out, sizeof(out), err, sizeof(err), 20000), 2);
    assert_contains_nocase(err, "usage", "bad option stderr");
    ck_assert_str_eq(out, "");
}
END_TEST

/* ---- running-instance commands ---- */

START_TEST(stop_via_cli)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[64];
    srv_start(&s, NULL);
    ck_assert_int_eq(srv_read_pid_file(&s), s.pid);

    /* One line, once the master is gone (nothing on its way there, as nginx -s stop). */
    int rc = ctl_io(&s, "stop", out, err);
    snprintf(want, sizeof(want), "sluice: stopped (pid %d)\n", (int)s.pid);
    assert_io(rc, out, err, 0, want, "", "stop");
    /* `stop` returns once the master released its pid-file lock, which it does on its way out:
     * the process itself may take a moment longer to end. */
    int st = srv_wait_exit(&s, 2000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "master wait status 0x%x", st);
    ck_assert_msg(!file_exists(s.pid_file), "pid file left behind");
    ck_assert_msg(!file_exists(s.port_file), "port file left behind");
    ck_assert_msg(log_count(&s, "exiting") >= 1, "no 'exiting' line in the log");
    srv_finish(&s);
}
END_TEST

START_TEST(quit_via_cli)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[64];
    srv_start(&s, NULL);
    assert_serving(&s);

    int rc = ctl_io(&s, "quit", out, err);
    snprintf(want, sizeof(want), "sluice: stopped (pid %d)\n", (int)s.pid);
    assert_io(rc, out, err, 0, want, "", "quit");
    int st = srv_wait_exit(&s, 5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "master wait status 0x%x", st);
    ck_assert_msg(!file_exists(s.pid_file), "pid file left behind");
    srv_finish(&s);
}
END_TEST

START_TEST(status_running_then_stopped)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[SRV_PATH_MAX + 64];
    srv_start(&s, NULL);

    int rc = ctl_io(&s, "status", out, err);
    snprintf(want, sizeof(want), "sluice: running (pid %d)\n", (int)s.pid);
    ck_assert_msg(rc == 0 && strncmp(out, want, strlen(want)) == 0 && err[0] == '\0',
                  "status while running: exit %d:\n%s\nstderr:\n%s", rc, out, err);

    ck_assert_int_eq(ctl_io(&s, "stop", out, err), 0);
    rc = ctl_io(&s, "status", out, err);
    snprintf(want, sizeof(want), "sluice: not running (no pid file %s)\n", s.pid_file);
    assert_io(rc, out, err, 3, "", want, "status after stop");
    int st = srv_wait_exit(&s, 5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x", st);
    srv_finish(&s);
}
END_TEST

START_TEST(stop_without_pid_file)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[SRV_PATH_MAX + 64];
    srv_init(&s);
    srv_write_config(&s, NULL);

    snprintf(want, sizeof(want), "sluice: not running (no pid file %s)\n", s.pid_file);
    assert_io(ctl_io(&s, "stop", out, err), out, err, 1, "", want, "stop, nothing running");
    assert_io(ctl_io(&s, "status", out, err), out, err, 3, "", want, "status, nothing running");
    srv_finish(&s);
}
END_TEST

START_TEST(stale_pid_file)
{
    struct srv s;
    char out[OUT_MAX], text[32];
    srv_init(&s);
    srv_write_config(&s, NULL);

    /* A pid that surely names no sluice: a child of ours, already reaped. */
    pid_t dead = fork();
    ck_assert_int_ge(dead, 0);
    if (dead == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
    snprintf(text, sizeof(text), "%d\n", (int)dead);
    write_file(s.pid_file, text, strlen(text));

    char err[OUT_MAX], stale[SRV_PATH_MAX + 64];
    snprintf(stale, sizeof(stale), "sluice: not running (stale pid file %s names pid %d)\n",
             s.pid_file, (int)dead);
    assert_io(ctl_io(&s, "stop", out, err), out, err, 1, "", stale, "stop, stale pid file");
    assert_io(ctl_io(&s, "status", out, err), out, err, 3, "", stale, "status, stale pid file");

    srv_spawn(&s); /* start over the stale file */
    ck_assert_int_eq(srv_read_pid_file(&s), s.pid);
    assert_serving(&s);
    srv_stop(&s);
}
END_TEST

START_TEST(second_instance_refused)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[SRV_PATH_MAX + 64];
    srv_start(&s, NULL);

    int rc = ctl_io(&s, "start", out, err);
    snprintf(want, sizeof(want), "sluice: already running (pid %d, pid file %s)\n", (int)s.pid,
             s.pid_file);
    assert_io(rc, out, err, 1, "", want, "second start");
    ck_assert_int_eq(srv_read_pid_file(&s), s.pid);
    ck_assert_int_eq(srv_read_port_file(&s), s.port);
    ck_assert(pid_alive(s.pid));
    assert_serving(&s);
    srv_stop(&s);
}
END_TEST

START_TEST(daemonize)
{
    struct srv s;
    char out[OUT_MAX], extra[SRV_PATH_MAX + 32];
    srv_init(&s);
    /* A daemon has no useful stderr: log to the file the harness scans. */
    snprintf(extra, sizeof(extra), "error_log = %s\n", s.log);
    srv_write_config(&s, extra);

    const char *args[] = {"-c", s.cfg, "-d", NULL};
    char err[OUT_MAX], want[64];
    int rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), 15000);
    pid_t pid = srv_read_pid_file(&s);
    if (pid > 0)
        srv_guard_pid(pid);
    assert_io(rc, out, err, 0, "", "", "sluice -d"); /* the log goes to the file */
    ck_assert_msg(pid > 0, "no pid file after sluice -d returned");
    ck_assert_msg(pid_alive(pid), "daemon %d not running", (int)pid);
    ck_assert_msg(getsid(pid) != getsid(0), "daemon did not leave our session");
    /* The parent returns only once the daemon serves: the port file is already complete. */
    s.port = srv_read_port_file(&s);
    ck_assert_msg(s.port > 0, "no complete port file when sluice -d returned");
    assert_serving(&s);
    ck_assert_msg(log_wait(&s, "ready: 2 workers", 1, 2000), "no 'ready: 2 workers' logged");

    rc = ctl_io(&s, "stop", out, err);
    snprintf(want, sizeof(want), "sluice: stopped (pid %d)\n", (int)pid);
    assert_io(rc, out, err, 0, want, "", "stop");
    ck_assert_msg(pid_wait_gone(pid, 5000), "daemon %d still running after stop", (int)pid);
    srv_unguard_pid(pid);
    ck_assert_msg(!file_exists(s.pid_file), "pid file left behind");
    srv_finish(&s);
}
END_TEST

START_TEST(reload_invalid_keeps_serving)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[SRV_PATH_MAX + 96];
    pid_t before[8], after[8];
    srv_start(&s, NULL);
    int n = worker_pids(s.pid, before, 8);
    ck_assert_int_eq(n, 2);

    srv_write_config(&s, "workers = abc"); /* replaces line 2 */
    int rc = ctl_io(&s, "reload", out, err);
    snprintf(want, sizeof(want),
             "sluice: %s:7: workers: invalid value 'abc' (expected auto or 1..64)\n", s.cfg);
    assert_io(rc, out, err, 1, "", want, "reload with a bad config");
    ck_assert(pid_alive(s.pid));
    assert_serving(&s);
    /* No signal was sent: the same workers serve. */
    ck_assert_int_eq(worker_pids(s.pid, after, 8), 2);
    ck_assert_msg(after[0] == before[0] && after[1] == before[1],
                  "workers changed after a refused reload");
    srv_stop(&s);
}
END_TEST

START_TEST(reopen_via_cli)
{
    struct srv s;
    char out[OUT_MAX], extra[SRV_PATH_MAX + 64], logf[SRV_PATH_MAX], old[SRV_PATH_MAX];
    srv_init(&s);
    srv_path(&s, "sluice.log", logf, sizeof(logf));
    srv_path(&s, "sluice.log.1", old, sizeof(old));
    snprintf(extra, sizeof(extra), "error_log = %s\nlog_level = debug\nworkers = 1\n", logf);
    srv_write_config(&s, extra);
    srv_spawn(&s);
    ck_assert_msg(file_exists(logf), "error_log file %s not created", logf);

    ck_assert_int_eq(rename(logf, old), 0); /* what logrotate does before `reopen` */
    char err[OUT_MAX];
    int rc = ctl_io(&s, "reopen", out, err);
    /* Answered through the control socket. */
    assert_io(rc, out, err, 0, "sluice: logs reopened\n", "", "reopen");
    int64_t deadline = now_ms() + 5000;
    while (!file_exists(logf)) {
        ck_assert_msg(now_ms() < deadline, "%s not re-created 5 s after reopen", logf);
        sleep_ms(10);
    }
    assert_serving(&s);
    /* A worker, not only the master, writes to the new file: its debug line about the
     * connection it just served lands there. */
    char stdio_log0[SRV_PATH_MAX];
    strcpy(stdio_log0, s.log);
    strcpy(s.log, logf);
    ck_assert_msg(log_wait(&s, " worker 0: ", 1, 5000), "no worker line in the reopened log");
    strcpy(s.log, stdio_log0);

    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    int st = srv_wait_exit(&s, 10000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x", st);
    char stdio_log[SRV_PATH_MAX];
    strcpy(stdio_log, s.log);
    const char *logs[] = {old, logf};
    for (size_t i = 0; i < 2; i++) { /* scan every log this instance wrote */
        strcpy(s.log, logs[i]);
        srv_check_log(&s);
    }
    strcpy(s.log, logf);
    ck_assert_msg(log_count(&s, "exiting") >= 1, "no 'exiting' line in the reopened log");
    strcpy(s.log, stdio_log);
    srv_finish(&s);
}
END_TEST

static bool
disjoint(const pid_t *a, int na, const pid_t *b, int nb)
{
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            if (a[i] == b[j])
                return false;
    return true;
}

/* Without a control socket (removed here) the commands fall back to signals: reload checks
 * the configuration itself and sends HUP; status reads the pid file. */
START_TEST(control_socket_gone_falls_back_to_signals)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[SRV_PATH_MAX + 96], ctl[SRV_PATH_MAX + 16];
    srv_start(&s, NULL);
    ck_assert_int_eq(unlink(srv_path(&s, "sluice.ctl", ctl, sizeof(ctl))), 0);

    int rc = ctl_io(&s, "status", out, err);
    snprintf(want, sizeof(want), "sluice: running (pid %d)\n", (int)s.pid);
    assert_io(rc, out, err, 0, want, "", "status");

    rc = ctl_io(&s, "reload", out, err);
    snprintf(want, sizeof(want), "sluice: reload signalled (pid %d)\n", (int)s.pid);
    assert_io(rc, out, err, 0, want, "", "reload");
    ck_assert_msg(log_wait(&s, "generation 2 ready", 1, 10000), "no new generation after HUP");

    srv_write_config(&s, "wrokers = 2");
    rc = ctl_io(&s, "reload", out, err);
    snprintf(want, sizeof(want), "sluice: %s:8: unknown key 'wrokers' (did you mean 'workers'?)\n",
             s.cfg);
    assert_io(rc, out, err, 1, "", want, "reload of a bad config");
    srv_stop(&s);
}
END_TEST

START_TEST(reload_valid_new_generation)
{
    struct srv s;
    struct http_resp r;
    char out[OUT_MAX];
    pid_t before[8], after[8];
    srv_start(&s, NULL);
    srv_write_file(&s, "other/home.html", "<p>home</p>\n", 12);
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 2);
    int st = http_simple(s.port, "GET", "/other/", &r);
    ck_assert_msg(st != 200, "GET /other/ served before index changed");
    http_resp_free(&r);

    srv_write_config(&s, "index = home.html index.html");
    char err[OUT_MAX];
    int rc = ctl_io(&s, "reload", out, err);
    /* Answered through the control socket once the new generation serves. */
    assert_io(rc, out, err, 0, "sluice: generation 2 ready (2 workers)\n", "", "reload");

    /* The old generation retires once the new one is ready. */
    int n = 0;
    int64_t deadline = now_ms() + 10000;
    for (;;) {
        n = worker_pids(s.pid, after, 8);
        if (n == 2 && disjoint(before, 2, after, 2))
            break;
        ck_assert_msg(now_ms() < deadline, "10 s after reload: %d workers (%d %d), old were %d %d",
                      n, n > 0 ? (int)after[0] : 0, n > 1 ? (int)after[1] : 0, (int)before[0],
                      (int)before[1]);
        sleep_ms(10);
    }
    ck_assert(pid_alive(s.pid));
    ck_assert_msg(srv_read_port_file(&s) == s.port, "listen port changed across reload");
    assert_serving(&s);
    ck_assert_int_eq(http_simple(s.port, "GET", "/other/", &r), 200);
    ck_assert_str_eq(r.body, "<p>home</p>\n");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

Suite *
integ_cli_suite(void)
{
    Suite *s = suite_create("integ_cli");
    TCase *tc = tcase_create("config_test");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, t_good_config);
    tcase_add_test(tc, t_unknown_key_names_file_and_line);
    tcase_add_test(tc, t_bad_value_names_file_line_and_key);
    tcase_add_test(tc, t_other_errors);
    tcase_add_test(tc, t_missing_file);
    tcase_add_test(tc, version_and_help);
    tcase_add_test(tc, start_refuses_what_t_refuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("control");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stop_via_cli);
    tcase_add_test(tc, quit_via_cli);
    tcase_add_test(tc, status_running_then_stopped);
    tcase_add_test(tc, stop_without_pid_file);
    tcase_add_test(tc, stale_pid_file);
    tcase_add_test(tc, second_instance_refused);
    tcase_add_test(tc, daemonize);
    tcase_add_test(tc, reload_invalid_keeps_serving);
    tcase_add_test(tc, reload_valid_new_generation);
    tcase_add_test(tc, reopen_via_cli);
    tcase_add_test(tc, control_socket_gone_falls_back_to_signals);
    suite_add_tcase(s, tc);
    return s;
}
