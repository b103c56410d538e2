/* Integration tests of application modules at run time: a crash in module code kills only its
 * worker (respawned; the other one serves on), a worker_start that fails stops the start or
 * fails the reload, the module runs as `user` (check child and workers), workers serve from
 * their snapshot whatever happens to the file, and a module rebuilt and reloaded under load
 * drops no request while a pending request finishes on the old generation. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "apps.h"
#include "harness.h"
#include "load.h"
#include "slots.h"
#include "t/skip.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_MAX 8192
#define CFG_MAX 4096
#define WAIT_MS 10000
#define PROBE_MS 3000

/* ---- helpers ---- */

/* srv_write_config with `server` (server keys, may be NULL) and one [app "name"] section for
 * the module at `module` (an absolute path) with `lines`. */
static void
write_app(struct srv *s, const char *server, const char *name, const char *module,
          const char *lines)
{
    char cfg[CFG_MAX];
    int n = snprintf(cfg, sizeof(cfg), "%s[app \"%s\"]\nmodule = %s\n%s", server ? server : "",
                     name, module, lines);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(cfg), "config too long");
    srv_write_config(s, cfg);
}

/* GET target on a new connection, `times` times: each a 200 with exactly `want`. */
static void
assert_app_serves(const struct srv *s, const char *target, const char *want, int times,
                  const char *when)
{
    char err[256];
    for (int i = 0; i < times; i++) {
        int st = load_get_once(s->port, target, want, PROBE_MS, err, sizeof(err));
        ck_assert_msg(st == 200, "%s: GET %s %d of %d: status %d (want 200 '%s'): %s", when, target,
                      i + 1, times, st, want, st == -1 ? err : "");
    }
}

/* Build examples/hello.c answering `text` (the inside of a C string literal: "one\\n") into
 * <dir>/<file>, as a user would: $CC (default cc) with the module flags, against include/
 * alone. */
static void
build_hello(const struct srv *s, const char *text, const char *file)
{
    char inc[PATH_MAX], src[PATH_MAX], out[SRV_PATH_MAX], def[128], log[OUT_MAX];
    ck_assert_msg(realpath("include", inc) != NULL && realpath("examples/hello.c", src) != NULL,
                  "include/ or examples/hello.c not found from %s (run the tests from the tree)",
                  getcwd(log, sizeof(log)));
    const char *cc = getenv("CC") != NULL && *getenv("CC") != '\0' ? getenv("CC") : "cc";
    snprintf(def, sizeof(def), "-DHELLO_TEXT=\"%s\"", text);
    srv_path(s, file, out, sizeof(out));
    const char *argv[] = {cc,   "-std=gnu11", "-Wall",   "-Wextra", "-Werror", "-O2",
                          "-g", "-fPIC",      "-shared", "-I",      inc,       def,
                          src,  "-o",         out,       NULL};
    int rc = run_tool(NULL, argv, NULL, log, sizeof(log), 60000);
    ck_assert_msg(rc == 0, "%s examples/hello.c -o %s: exit %d\n%s", cc, out, rc, log);
}

/* `cp <dir>/<from> <dir>/<to>`: cp writes into the existing file, in place. */
static void
install(const struct srv *s, const char *from, const char *to)
{
    char src[SRV_PATH_MAX], dst[SRV_PATH_MAX], log[1024];
    const char *argv[] = {"cp", srv_path(s, from, src, sizeof(src)),
                          srv_path(s, to, dst, sizeof(dst)), NULL};
    int rc = run_tool(NULL, argv, NULL, log, sizeof(log), 10000);
    ck_assert_msg(rc == 0, "cp %s %s: exit %d\n%s", src, dst, rc, log);
}

/* `sluice reload`: exit 0 with generation `gen` ready, then the one before it has exited. */
static void
reload_ok(const struct srv *s, unsigned gen)
{
    char out[OUT_MAX], want[64];
    int rc = srv_ctl(s, "reload", out, sizeof(out));
    snprintf(want, sizeof(want), "generation %u ready", gen);
    ck_assert_msg(rc == 0 && strstr(out, want) != NULL, "reload: exit %d\n%s", rc, out);
    snprintf(want, sizeof(want), "generation %u has exited", gen - 1);
    ck_assert_msg(log_wait(s, want, 1, WAIT_MS), "no '%s' in the log within %d ms", want, WAIT_MS);
}

/* ---- a crash in module code ---- */

/* Under ASan, let a SIGSEGV kill the worker as it does in production (ASan would catch it and
 * exit with its report instead). Harmless without ASan; the test process is Check's fork. */
static void
plain_sigsegv(void)
{
    const char *old = getenv("ASAN_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof(opts), "%s%shandle_segv=0", old ? old : "", old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
}

/* Two workers serving the crash module; one request with ?do=<what> on a connection kept with
 * one of them: that request gets no answer, the master logs the worker killed by `sig` in the
 * app, the other worker answers at once on its own kept connection, the slot is respawned and
 * every request succeeds afterwards. */
static void
crash_kills_one_worker(const char *what, int sig, const char *signame)
{
    struct srv s;
    pid_t pids[8], after[8];
    int fds[2] = {-1, -1};
    char module[PATH_MAX], err[256], req[128], want[PATH_MAX + 160];
    plain_sigsegv();
    srv_init(&s);
    write_app(&s, "workers = 2\n", "crash",
              apps_module("t/modules/crash.so", module, sizeof(module)), "route = /c/\n");
    srv_spawn(&s);
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);

    /* One kept connection on each worker. */
    for (int i = 0; i < 60 && (fds[0] < 0 || fds[1] < 0); i++) {
        int fd = load_keepalive_open(s.port, "/c/", "ok", PROBE_MS, err, sizeof(err));
        ck_assert_msg(fd >= 0, "probe %d: %s", i + 1, err);
        pid_t owner = load_conn_owner(pids, 2, s.port, load_local_port(fd));
        int k = owner == pids[0] ? 0 : owner == pids[1] ? 1 : -1;
        if (k >= 0 && fds[k] < 0)
            fds[k] = fd;
        else
            close(fd);
    }
    ck_assert_msg(fds[0] >= 0 && fds[1] >= 0, "60 connections did not reach both workers");
    int slot = slot_of(&s, pids[0]);
    ck_assert_int_ge(slot, 0);

    snprintf(req, sizeof(req), "GET /c/?do=%s HTTP/1.1\r\nHost: t\r\n\r\n", what);
    conn_send(fds[0], req, strlen(req));
    struct http_resp r;
    int rc = http_try_read(fds[0], &r, 0);
    ck_assert_msg(rc == -1, "?do=%s was answered %d", what, r.status);
    http_resp_free(&r);
    close(fds[0]);
    snprintf(want, sizeof(want),
             "worker %d (pid %d, generation 1) killed by signal %d (%s) in app \"crash\" (module "
             "%s)",
             slot, (int)pids[0], sig, signame, module);
    ck_assert_msg(log_wait(&s, want, 1, WAIT_MS), "no '%s' in the log", want);

    int st = load_keepalive_get(fds[1], "/c/", "ok", err, sizeof(err));
    ck_assert_msg(st == 200, "the other worker, after the crash: status %d %s", st, err);
    close(fds[1]);
    ck_assert_msg(pid_alive(pids[1]), "the other worker %d is gone", (int)pids[1]);

    ck_assert_msg(log_wait(&s, "started, generation 1", 3, WAIT_MS),
                  "slot %d not respawned within %d ms", slot, WAIT_MS);
    ck_assert_msg(worker_pids_wait(s.pid, 2, after, 8, WAIT_MS), "not two workers again");
    ck_assert_msg(!pids_contain(after, 2, pids[0]) && pids_contain(after, 2, pids[1]),
                  "workers after the respawn: %d %d (crashed %d, other %d)", (int)after[0],
                  (int)after[1], (int)pids[0], (int)pids[1]);
    assert_app_serves(&s, "/c/", "ok", 20, "after the respawn");
    srv_stop(&s);
}

START_TEST(segv_kills_only_its_worker)
{
    crash_kills_one_worker("segv", SIGSEGV, "SIGSEGV");
}
END_TEST

START_TEST(abort_kills_only_its_worker)
{
    crash_kills_one_worker("abort", SIGABRT, "SIGABRT");
}
END_TEST

/* ---- worker_start fails ---- */

/* At start: the instance stops with exit 1 and the worker's line. */
START_TEST(failstart_stops_the_start)
{
    struct srv s;
    char module[PATH_MAX], out[OUT_MAX], err[OUT_MAX];
    srv_init(&s);
    write_app(&s, NULL, "fs", apps_module("t/modules/failstart.so", module, sizeof(module)),
              "route = /fs/\n");
    const char *args[] = {"-c", s.cfg, NULL};
    int rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), WAIT_MS);
    ck_assert_msg(rc == 1 && (strstr(err, "app \"fs\": worker_start failed") != NULL ||
                              strstr(out, "app \"fs\": worker_start failed") != NULL),
                  "start: exit %d (want 1 and 'app \"fs\": worker_start failed')\nstderr:\n%s\n"
                  "stdout:\n%s",
                  rc, err, out);
    ck_assert_msg(access(s.pid_file, F_OK) != 0, "a failed start left a pid file");
    srv_finish(&s);
}
END_TEST

/* At reload: refused naming the worker and the generation that keeps serving; the same workers
 * answer the application. */
START_TEST(failstart_fails_the_reload)
{
    struct srv s;
    pid_t before[8], after[8];
    char good[PATH_MAX], bad[PATH_MAX], cfg[CFG_MAX], out[OUT_MAX];
    apps_module("t/modules/checker.so", good, sizeof(good));
    apps_module("t/modules/failstart.so", bad, sizeof(bad));
    srv_init(&s);
    write_app(&s, NULL, "good", good, "route = /good/\ngreeting = on duty\n");
    srv_spawn(&s);
    assert_app_serves(&s, "/good/", "on duty", 2, "at start");
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 2);

    int n = snprintf(
        cfg, sizeof(cfg),
        "route = /good/\ngreeting = on duty\n[app \"fs\"]\nmodule = %s\nroute = /fs/\n", bad);
    ck_assert(n > 0 && (size_t)n < sizeof(cfg));
    write_app(&s, NULL, "good", good, cfg);
    int rc = srv_ctl(&s, "reload", out, sizeof(out));
    ck_assert_msg(rc != 0 && strstr(out, "reload failed: worker ") != NULL &&
                      strstr(out, " of generation 2 exited before it was ready; generation 1 "
                                  "keeps serving") != NULL,
                  "reload to failstart: exit %d\n%s", rc, out);
    ck_assert_msg(log_count(&s, "app \"fs\": worker_start failed") >= 1,
                  "no 'app \"fs\": worker_start failed' in the log");
    ck_assert_msg(worker_pids_wait(s.pid, 2, after, 8, WAIT_MS), "generation 2 lingers");
    ck_assert_msg(memcmp(before, after, sizeof(pid_t) * 2) == 0, "the workers changed");
    assert_app_serves(&s, "/good/", "on duty", 10, "after the failed reload");
    srv_stop(&s);
}
END_TEST

/* ---- privileges ---- */

/* Lines "EUID PID" of the whoami file: how many; each uid must be `uid`, no pid `master`.
 * The pids go to pids (up to max). */
static int
whoami_lines(const char *path, unsigned uid, pid_t master, pid_t *pids, int max)
{
    char *text = read_file_all(path, NULL);
    ck_assert_msg(text != NULL, "%s: %s", path, strerror(errno));
    int n = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        unsigned euid;
        int pid;
        ck_assert_msg(sscanf(line, "%u %d", &euid, &pid) == 2, "%s: bad line '%s'", path, line);
        ck_assert_msg(euid == uid, "the module was loaded with euid %u by pid %d (want %u)", euid,
                      pid, uid);
        ck_assert_msg(pid != master, "the master %d loaded the module itself", (int)master);
        if (n < max)
            pids[n] = pid;
        n++;
    }
    free(text);
    return n;
}

/* Poll until the whoami file has at least `want` lines (each checked as whoami_lines does). */
static int
whoami_wait(const char *path, int want, unsigned uid, pid_t master, pid_t *pids, int max)
{
    int64_t deadline = now_ms() + WAIT_MS;
    int n;
    while ((n = whoami_lines(path, uid, master, pids, max)) < want && now_ms() < deadline)
        sleep_ms(10);
    return n;
}

/* Started as root with user = nobody: the check child and both workers load the module as
 * nobody (its constructor says so), never the master; a request answers nobody's uid; the
 * same after a reload, and for `sluice -t`. */
START_TEST(module_runs_as_user)
{
    if (geteuid() != 0) {
        t_skip("module_runs_as_user", "not started as root");
        return;
    }
    struct passwd *pw = getpwnam("nobody");
    ck_assert_msg(pw != NULL, "no user 'nobody' on this system");
    unsigned uid = pw->pw_uid;
    struct srv s;
    pid_t loaders[16], workers[8];
    char module[PATH_MAX], who[SRV_PATH_MAX], body[32], built[PATH_MAX], out[OUT_MAX];
    srv_init(&s);
    /* The workers and the check child run as nobody: everything they open must be theirs to
     * read, the whoami file theirs to write. */
    ck_assert_int_eq(chmod(s.dir, 0755), 0);
    ck_assert_int_eq(chmod(s.root, 0755), 0);
    srv_path(&s, "www/index.html", who, sizeof(who));
    ck_assert_int_eq(chmod(who, 0644), 0);
    apps_module("t/modules/whoami.so", built, sizeof(built));
    srv_path(&s, "whoami.so", module, sizeof(module));
    size_t len;
    char *bytes = read_file_all(built, &len);
    ck_assert_ptr_nonnull(bytes);
    write_file(module, bytes, len);
    free(bytes);
    ck_assert_int_eq(chmod(module, 0644), 0);
    srv_path(&s, "whoami.txt", who, sizeof(who));
    write_file(who, "", 0);
    ck_assert_int_eq(chmod(who, 0666), 0);
    ck_assert_int_eq(setenv("SLUICE_T_WHOAMI", who, 1), 0);

    write_app(&s, "user = nobody\n", "who", module, "route = /who/\n");
    ck_assert_int_eq(chmod(s.cfg, 0644), 0);
    srv_spawn(&s);
    snprintf(body, sizeof(body), "%u\n", uid);
    assert_app_serves(&s, "/who/", body, 10, "user = nobody");
    ck_assert_int_eq(worker_pids(s.pid, workers, 8), 2);
    /* The check child, then each worker. */
    int n = whoami_wait(who, 3, uid, s.pid, loaders, 16);
    ck_assert_msg(n == 3, "%d loads of the module at start (want 3: the check, two workers)", n);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(pids_contain(loaders, 3, workers[i]), "worker %d did not load the module",
                      (int)workers[i]);

    reload_ok(&s, 2);
    n = whoami_wait(who, 6, uid, s.pid, loaders, 16);
    ck_assert_msg(n == 6, "%d loads after a reload (want 6)", n);
    assert_app_serves(&s, "/who/", body, 4, "after the reload");

    const char *args[] = {"-c", s.cfg, "-t", NULL};
    int rc = run_cmd(args, out, sizeof(out));
    ck_assert_msg(rc == 0, "-t: exit %d\n%s", rc, out);
    n = whoami_wait(who, 7, uid, s.pid, loaders, 16);
    ck_assert_msg(n == 7, "%d loads after -t (want 7: its check child)", n);
    srv_stop(&s);
}
END_TEST

/* ---- the snapshot ---- */

/* The workers serve the module as it was at start (a sealed copy): `cp` of another build over
 * the file, then garbage written into it, change nothing and crash nothing; a reload of the
 * garbage is refused; a reload once the new build is in place serves the new text. */
START_TEST(workers_serve_their_snapshot)
{
    struct srv s;
    pid_t before[8], after[8];
    char module[SRV_PATH_MAX], out[OUT_MAX];
    srv_init(&s);
    build_hello(&s, "snap one\\n", "one.so");
    build_hello(&s, "snap two\\n", "two.so");
    install(&s, "one.so", "app.so");
    write_app(&s, NULL, "snap", srv_path(&s, "app.so", module, sizeof(module)), "route = /s/\n");
    srv_spawn(&s);
    assert_app_serves(&s, "/s/", "snap one\n", 10, "at start");
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 2);

    install(&s, "two.so", "app.so");
    assert_app_serves(&s, "/s/", "snap one\n", 20, "after cp of another build over the file");
    write_file(module, "garbage, not a module\n", 22);
    assert_app_serves(&s, "/s/", "snap one\n", 20, "after garbage over the file");
    ck_assert_msg(log_count(&s, "killed by signal") == 0, "a worker crashed");
    ck_assert_int_eq(worker_pids(s.pid, after, 8), 2);
    ck_assert_msg(memcmp(before, after, sizeof(pid_t) * 2) == 0, "the workers changed");

    int rc = srv_ctl(&s, "reload", out, sizeof(out));
    ck_assert_msg(rc != 0 && strstr(out, ": cannot load: ") != NULL,
                  "reload of a garbage module: exit %d\n%s", rc, out);
    assert_app_serves(&s, "/s/", "snap one\n", 4, "after the refused reload");

    install(&s, "two.so", "app.so");
    reload_ok(&s, 2);
    assert_app_serves(&s, "/s/", "snap two\n", 20, "after the reload");
    srv_stop(&s);
}
END_TEST

/* ---- hot reload ---- */

/* The acceptance test: hello built with "one", two workers under load (new and kept
 * connections); "two" built and installed with cp, `sluice reload`; once the new generation is
 * ready and the old one has exited, no request has failed, and 50 requests (25 on new
 * connections, 25 on one kept connection) all say "two". */
START_TEST(hot_reload_under_load)
{
    struct srv s;
    struct load_stats st;
    char module[SRV_PATH_MAX], err[256], sum[512], events[1600];
    srv_init(&s);
    build_hello(&s, "one\\n", "app.so");
    write_app(&s, "workers = 2\ngraceful_timeout = 10s\n", "hello",
              srv_path(&s, "app.so", module, sizeof(module)), "route = /hello/\n");
    srv_spawn(&s);
    assert_app_serves(&s, "/hello/", "one\n", 4, "at start");

    struct load_cfg cfg = {.port = s.port,
                           .target = "/hello/",
                           .expect_body = NULL, /* "one\n" then "two\n" */
                           .new_threads = 2,
                           .keepalive_threads = 4,
                           .max_ms = 45000,
                           .io_timeout_ms = 5000};
    struct load *l = load_start(&cfg);
    ck_assert_msg(l != NULL, "cannot start the load threads");
    ck_assert_msg(load_wait(l, 200, 5000), "load: only %ld requests answered in 5 s", load_done(l));

    build_hello(&s, "two\\n", "two.so");
    install(&s, "two.so", "app.so");
    reload_ok(&s, 2);
    long done = load_done(l);
    ck_assert_msg(load_wait(l, done + 200, 5000), "load stalled after the reload at %ld",
                  load_done(l));
    load_stop(l, &st);
    fprintf(stderr, "hot_reload_under_load: %s\n", load_summary(&st, sum, sizeof(sum)));
    ck_assert_msg(st.failures == 0 && st.ok_new > 0 && st.ok_keepalive > 0, "%s\n%s", sum,
                  load_events_text(&st, events, sizeof(events)));

    assert_app_serves(&s, "/hello/", "two\n", 25, "after the reload");
    int fd = load_keepalive_open(s.port, "/hello/", "two\n", PROBE_MS, err, sizeof(err));
    ck_assert_msg(fd >= 0, "kept connection after the reload: %s", err);
    for (int i = 1; i < 25; i++) {
        int status = load_keepalive_get(fd, "/hello/", "two\n", err, sizeof(err));
        ck_assert_msg(status == 200, "kept request %d after the reload: status %d %s", i + 1,
                      status, err);
    }
    close(fd);
    srv_stop(&s);
}
END_TEST

/* A request pending in the module (sleep, 1500 ms) when the reload comes is answered by the
 * old generation's worker, which exits only after it. */
START_TEST(pending_request_finishes_across_reload)
{
    struct srv s;
    pid_t pids[8], owner = 0;
    char module[PATH_MAX], out[OUT_MAX];
    const char req[] = "GET /sleep?ms=1500 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    srv_init(&s);
    write_app(&s, "workers = 1\ngraceful_timeout = 10s\n", "sleep",
              apps_module("examples/sleep.so", module, sizeof(module)), "route = /sleep\n");
    srv_spawn(&s);
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 1);

    int fd = conn_open(s.port);
    int64_t t0 = now_ms();
    conn_send(fd, req, sizeof(req) - 1);
    while ((owner = load_conn_owner(pids, 1, s.port, load_local_port(fd))) == 0 &&
           now_ms() - t0 < 1000)
        sleep_ms(2);
    ck_assert_msg(owner == pids[0], "the worker %d has not accepted the connection", (int)pids[0]);

    int rc = srv_ctl(&s, "reload", out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "generation 2 ready"), "reload: exit %d\n%s", rc, out);
    int64_t reloaded = now_ms() - t0;
    ck_assert_msg(reloaded < 1400, "the reload took %lld ms: the request was no longer pending",
                  (long long)reloaded);
    ck_assert_msg(pid_alive(owner), "the old worker %d left with a request pending", (int)owner);

    struct http_resp r;
    http_read_response(fd, &r, 0);
    int64_t took = now_ms() - t0;
    ck_assert_msg(r.status == 200, "the pending request: status %d", r.status);
    http_assert_body(&r, "slept 1500 ms\n", "the pending request");
    ck_assert_msg(took >= 1450, "answered after %lld ms, before the 1500 ms sleep",
                  (long long)took);
    http_resp_free(&r);
    close(fd);
    ck_assert_msg(log_wait(&s, "generation 1 has exited", 1, WAIT_MS),
                  "generation 1 did not exit after its last request");
    ck_assert_msg(pid_wait_gone(owner, WAIT_MS), "the old worker %d is still there", (int)owner);
    srv_stop(&s);
}
END_TEST

Suite *
integ_apps_reload_suite(void)
{
    Suite *s = suite_create("integ_apps_reload");
    TCase *tc = tcase_create("isolation");
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, segv_kills_only_its_worker);
    tcase_add_test(tc, abort_kills_only_its_worker);
    tcase_add_test(tc, failstart_stops_the_start);
    tcase_add_test(tc, failstart_fails_the_reload);
    tcase_add_test(tc, module_runs_as_user);
    suite_add_tcase(s, tc);

    tc = tcase_create("reload");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, workers_serve_their_snapshot);
    tcase_add_test(tc, hot_reload_under_load);
    tcase_add_test(tc, pending_request_finishes_across_reload);
    suite_add_tcase(s, tc);
    return s;
}
