/* Integration tests of application modules, the refusals: configuration errors of the [app]
 * sections and module errors (missing, not an ELF, no symbol, wrong ABI, no request hook, a check
 * that refuses, a constructor that hangs), each named by file:line at `sluice -t`, at start and
 * through `sluice reload` (refused: the old generation keeps serving); and a hanging check
 * during a reload, which must not block the master. The hostile modules are in t/modules/. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "apps.h"
#include "harness.h"
#include "load.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX 8192
#define TEXT_MAX 4096
#define WAIT_MS 10000
#define PROMPT_MS 1000 /* a command the master answers from its loop */

/* ---- modules and configurations ---- */

/* 1-based line of the nth (1 = first) line of the config holding `needle`, 0 when none. */
static int
cfg_line(const struct srv *s, const char *needle, int nth)
{
    char *text = read_file_all(s->cfg, NULL);
    ck_assert_ptr_nonnull(text);
    int line = 1, found = 0;
    for (char *p = text; p != NULL && *p != '\0' && found == 0; line++) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (strstr(p, needle) != NULL && --nth == 0)
            found = line;
        p = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
    return found;
}

/* "t/modules/<name>.so" into buf. */
static const char *
test_module(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "t/modules/%s.so", name);
    return buf;
}

/* Expand a template into out: {dir} the instance's dir, {cfg} its config file, {mod:NAME} the
 * built test module t/modules/NAME.so, {line:TEXT} and {line2:TEXT} the line of the
 * first and second config line holding TEXT (so only once the config is written). */
static const char *
expand(const struct srv *s, const char *tmpl, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = tmpl; *p != '\0';) {
        char piece[PATH_MAX], arg[256], rel[320];
        const char *end = *p == '{' ? strchr(p, '}') : NULL;
        if (end == NULL) {
            size_t n = strcspn(p + 1, "{") + 1;
            snprintf(piece, sizeof(piece), "%.*s", (int)n, p);
            p += n;
        } else {
            const char *colon = memchr(p, ':', (size_t)(end - p));
            snprintf(arg, sizeof(arg), "%.*s", colon ? (int)(end - colon - 1) : 0,
                     colon ? colon + 1 : "");
            size_t klen = (size_t)((colon ? colon : end) - p - 1);
            if (klen == 3 && strncmp(p + 1, "dir", 3) == 0)
                snprintf(piece, sizeof(piece), "%s", s->dir);
            else if (klen == 3 && strncmp(p + 1, "cfg", 3) == 0)
                snprintf(piece, sizeof(piece), "%s", s->cfg);
            else if (klen == 3 && strncmp(p + 1, "mod", 3) == 0)
                apps_module(test_module(arg, rel, sizeof(rel)), piece, sizeof(piece));
            else if (klen == 4 && strncmp(p + 1, "line", 4) == 0)
                snprintf(piece, sizeof(piece), "%d", cfg_line(s, arg, 1));
            else if (klen == 5 && strncmp(p + 1, "line2", 5) == 0)
                snprintf(piece, sizeof(piece), "%d", cfg_line(s, arg, 2));
            else
                ck_abort_msg("template %s: unknown {%.*s}", tmpl, (int)klen, p + 1);
            p = end + 1;
        }
        size_t n = strlen(piece);
        ck_assert_msg(used + n < len, "template %s: expansion too long", tmpl);
        memcpy(out + used, piece, n + 1);
        used += n;
    }
    return out;
}

/* The good application every instance serves: checker answering its greeting on /good/. */
#define GOOD_APP "[app \"good\"]\nmodule = {mod:checker}\nroute = /good/\ngreeting = still here\n"
#define GOOD_BODY "still here"

/* Write the instance's config: the harness's server keys, then `tmpl` expanded. */
static void
write_app_config(struct srv *s, const char *tmpl)
{
    char text[TEXT_MAX];
    srv_write_config(s, expand(s, tmpl, text, sizeof(text)));
}

/* GET target on a new connection must be a 200 with exactly `want`. */
static void
assert_app_serves(const struct srv *s, const char *target, const char *want, const char *when)
{
    char err[256];
    int st = load_get_once(s->port, target, want, 3000, err, sizeof(err));
    ck_assert_msg(st == 200, "%s: GET %s: status %d (want 200 '%s'): %s", when, target, st, want,
                  st == -1 ? err : "");
}

/* ---- the refusals ---- */

/* One broken configuration and the line it must be refused with (after "sluice: "). The
 * config templates are appended to the harness's server keys. */
struct bad_case {
    const char *name;
    const char *config;
    const char *want;
};

#define APP_N(n) "[app \"a" #n "\"]\nmodule = {mod:checker}\nroute = /a" #n "/\ngreeting = hi\n"

static const struct bad_case CONFIG_CASES[] = {
    {"unknown section", "[foo]\ngreeting = hi\n",
     "{cfg}:{line:[foo]}: unknown section [foo] (the only sections are [app \"name\"])"},
    {"bad section name", "[app \"no good\"]\nmodule = {mod:checker}\nroute = /a/\ngreeting = hi\n",
     "{cfg}:{line:[app \"no good\"]}: invalid section [app \"no good\"] (an application's name is "
     "1 to 63 of A-Z a-z 0-9 _ . -)"},
    {"duplicate application",
     "[app \"a\"]\nmodule = {mod:checker}\nroute = /a/\ngreeting = hi\n"
     "[app \"a\"]\nmodule = {mod:checker}\nroute = /b/\ngreeting = hi\n",
     "{cfg}:{line2:[app \"a\"]}: app \"a\": duplicate application (first at line "
     "{line:[app \"a\"]})"},
    {"missing module", "[app \"a\"]\nroute = /a/\ngreeting = hi\n",
     "{cfg}:{line:[app \"a\"]}: app \"a\": module: missing"},
    {"missing route", "[app \"a\"]\nmodule = {mod:checker}\ngreeting = hi\n",
     "{cfg}:{line:[app \"a\"]}: app \"a\": route: missing (an application needs at least one "
     "route)"},
    {"bad route", "[app \"a\"]\nmodule = {mod:checker}\nroute = a/b\ngreeting = hi\n",
     "{cfg}:{line:route = a/b}: route: invalid value 'a/b' (expected /PATH or = /PATH)"},
    {"route of two apps",
     "[app \"a\"]\nmodule = {mod:checker}\nroute = /a/\ngreeting = hi\n"
     "[app \"b\"]\nmodule = {mod:checker}\nroute = /a/\ngreeting = hi\n",
     "{cfg}:{line2:route = /a/}: route: '/a/' is already a route of app \"a\" (line "
     "{line:route = /a/})"},
    {"duplicate key",
     "[app \"a\"]\nmodule = {mod:checker}\nroute = /a/\ngreeting = hi\ngreeting = ho\n",
     "{cfg}:{line:greeting = ho}: greeting: duplicate key (first set at line {line:greeting = "
     "hi})"},
    {"nine apps", APP_N(1) APP_N(2) APP_N(3) APP_N(4) APP_N(5) APP_N(6) APP_N(7) APP_N(8) APP_N(9),
     "{cfg}:{line:[app \"a9\"]}: app \"a9\": too many applications (at most 8)"},
};

#define MOD_APP(module, extra) "[app \"a\"]\nmodule = " module "\nroute = /a/\n" extra
#define MOD_WANT "{cfg}:{line:[app \"a\"]}: app \"a\": module "
#define HANG_WANT                                                                                  \
    MOD_WANT "{mod:hang}: the check did not finish within 1000 ms (module_check_timeout; a "       \
             "constructor or check hook that hangs?)"

static const struct bad_case MODULE_CASES[] = {
    {"missing file", MOD_APP("{dir}/absent.so", ""),
     MOD_WANT "{dir}/absent.so: cannot open: No such file or directory"},
    {"not an ELF", MOD_APP("{dir}/text.so", ""), MOD_WANT "{dir}/text.so: cannot load: "},
    {"no symbol", MOD_APP("{mod:nosym}", ""),
     MOD_WANT "{mod:nosym}: no symbol sluice_app (not a sluice application module)"},
    {"ABI 999", MOD_APP("{mod:badabi}", ""),
     MOD_WANT "{mod:badabi}: ABI version 999, this sluice speaks 1 (rebuild it against this "
              "sluice's sluice.h)"},
    {"no request hook", MOD_APP("{mod:noreq}", ""), MOD_WANT "{mod:noreq}: no request hook"},
    {"check refuses a key", MOD_APP("{mod:checker}", "greeting = hi\ncolour = red\n"),
     MOD_WANT "{mod:checker}: check: unknown key 'colour' (line {line:colour = red}); the only "
              "key is greeting"},
    {"check misses a key", MOD_APP("{mod:checker}", ""),
     MOD_WANT "{mod:checker}: check: greeting: missing (say what to answer)"},
    {"hanging constructor", "module_check_timeout = 1s\n" MOD_APP("{mod:hang}", ""), HANG_WANT},
    {"check kills its process", MOD_APP("{mod:suicide}", ""),
     MOD_WANT "{mod:suicide}: the check ended without an answer (the module killed its process? "
              "signal 9)"},
};

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* The instance's files the module cases name: a text file posing as a module. */
static void
write_case_files(const struct srv *s)
{
    char path[SRV_PATH_MAX];
    const char text[] = "this is not an ELF file\n";
    write_file(srv_path(s, "text.so", path, sizeof(path)), text, sizeof(text) - 1);
}

enum how { HOW_TEST, HOW_START };

/* Every case of `cases` through `sluice -t` or a foreground start: exit 1, the line on stderr,
 * within WAIT_MS (the hanging module's included: its check has a 1 s deadline). */
static void
assert_refused(const struct bad_case *cases, size_t n, enum how how)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[TEXT_MAX], line[TEXT_MAX + 16];
    srv_init(&s);
    write_case_files(&s);
    for (size_t i = 0; i < n; i++) {
        write_app_config(&s, cases[i].config);
        expand(&s, cases[i].want, want, sizeof(want));
        snprintf(line, sizeof(line), "sluice: %s", want);
        const char *test_args[] = {"-c", s.cfg, "-t", NULL};
        const char *start_args[] = {"-c", s.cfg, NULL};
        int64_t t0 = now_ms();
        int rc = run_cmd_io(how == HOW_TEST ? test_args : start_args, out, sizeof(out), err,
                            sizeof(err), WAIT_MS);
        int64_t took = now_ms() - t0;
        ck_assert_msg(
            rc == 1 && strstr(err, line) != NULL,
            "%s, %s: exit %d (want 1) after %lld ms; want '%s' on stderr:\n%s\nstdout:\n%s",
            cases[i].name, how == HOW_TEST ? "-t" : "start", rc, (long long)took, line, err, out);
        ck_assert_msg(how == HOW_TEST || access(s.pid_file, F_OK) != 0,
                      "%s: a refused start left a pid file", cases[i].name);
    }
    srv_finish(&s);
}

START_TEST(config_errors_at_t)
{
    assert_refused(CONFIG_CASES, NCASES(CONFIG_CASES), HOW_TEST);
}
END_TEST

START_TEST(config_errors_at_start)
{
    assert_refused(CONFIG_CASES, NCASES(CONFIG_CASES), HOW_START);
}
END_TEST

START_TEST(module_errors_at_t)
{
    assert_refused(MODULE_CASES, NCASES(MODULE_CASES), HOW_TEST);
}
END_TEST

START_TEST(module_errors_at_start)
{
    assert_refused(MODULE_CASES, NCASES(MODULE_CASES), HOW_START);
}
END_TEST

/* The hanging constructor with module_check_timeout = 1s: -t and a start give up after about
 * a second, not sooner and not much later. */
START_TEST(hang_check_deadline_is_kept)
{
    struct srv s;
    char out[OUT_MAX], err[OUT_MAX], want[TEXT_MAX];
    srv_init(&s);
    write_app_config(&s, "module_check_timeout = 1s\n" MOD_APP("{mod:hang}", ""));
    expand(&s, HANG_WANT, want, sizeof(want));
    const char *test_args[] = {"-c", s.cfg, "-t", NULL};
    const char *start_args[] = {"-c", s.cfg, NULL};
    const char *const *runs[] = {test_args, start_args};
    for (int i = 0; i < 2; i++) {
        int64_t t0 = now_ms();
        int rc = run_cmd_io(runs[i], out, sizeof(out), err, sizeof(err), WAIT_MS);
        int64_t took = now_ms() - t0;
        const char *what = i == 0 ? "-t" : "start";
        ck_assert_msg(rc == 1 && strstr(err, want) != NULL, "%s: exit %d; want '%s':\n%s", what, rc,
                      want, err);
        ck_assert_msg(took >= 900 && took < 4000,
                      "%s with a hanging module and a 1 s deadline took %lld ms", what,
                      (long long)took);
    }
    srv_finish(&s);
}
END_TEST

/* Every broken configuration and module through `sluice reload` on a running instance: each is
 * refused with its line and a non-zero exit, no new generation starts, the same workers go on
 * answering the application; then a good reload still works. */
START_TEST(errors_refused_by_reload)
{
    struct srv s;
    pid_t before[8], after[8];
    char out[OUT_MAX], want[TEXT_MAX], line[TEXT_MAX + 16];
    srv_init(&s);
    write_case_files(&s);
    write_app_config(&s, GOOD_APP);
    srv_spawn(&s);
    assert_app_serves(&s, "/good/", GOOD_BODY, "at start");
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 2);

    const struct bad_case *sets[] = {CONFIG_CASES, MODULE_CASES};
    size_t sizes[] = {NCASES(CONFIG_CASES), NCASES(MODULE_CASES)};
    for (int set = 0; set < 2; set++) {
        for (size_t i = 0; i < sizes[set]; i++) {
            const struct bad_case *c = &sets[set][i];
            write_app_config(&s, c->config);
            expand(&s, c->want, want, sizeof(want));
            snprintf(line, sizeof(line), "sluice: %s", want);
            int rc = srv_ctl(&s, "reload", out, sizeof(out));
            ck_assert_msg(rc != 0 && strstr(out, line) != NULL,
                          "reload, %s: exit %d (want non-zero); want '%s' in:\n%s", c->name, rc,
                          line, out);
            assert_app_serves(&s, "/good/", GOOD_BODY, c->name);
        }
    }
    ck_assert_msg(log_count(&s, "generation 2 ready") == 0,
                  "a refused reload started generation 2");
    ck_assert_int_eq(worker_pids(s.pid, after, 8), 2);
    ck_assert_msg(memcmp(before, after, sizeof(pid_t) * 2) == 0, "the workers changed");

    write_app_config(&s, GOOD_APP);
    int rc = srv_ctl(&s, "reload", out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "generation 2 ready"), "good reload: exit %d\n%s", rc,
                  out);
    assert_app_serves(&s, "/good/", GOOD_BODY, "after the good reload");
    srv_stop(&s);
}
END_TEST

/* ---- a hanging check does not block the master ---- */

/* `sluice -c CFG VERB` in the background, its output into <dir>/<file>: the pid. */
static pid_t
cli_spawn(const struct srv *s, const char *verb, const char *file)
{
    char path[SRV_PATH_MAX];
    int fd =
        open(srv_path(s, file, path, sizeof(path)), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup_fds(fd, fd);
        execl(sluice_bin(), sluice_bin(), "-c", s->cfg, verb, (char *)NULL);
        _exit(127);
    }
    close(fd);
    return pid;
}

/* Wait (bounded) for a CLI of cli_spawn: its exit code, or -1 when it ran past timeout_ms
 * (then it is killed: our own child). */
static int
cli_wait(pid_t pid, int timeout_ms)
{
    int st;
    int64_t deadline = now_ms() + timeout_ms;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_ms(10);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A child of the master that is none of `workers`: the check child; 0 when none. */
static pid_t
other_child(pid_t master, const pid_t *workers, int n)
{
    pid_t kids[16];
    int k = worker_pids(master, kids, 16);
    for (int i = 0; i < k && i < 16; i++)
        if (!pids_contain(workers, n, kids[i]))
            return kids[i];
    return 0;
}

/* `sluice reload` to a module whose constructor hangs, module_check_timeout = 3s: while the
 * check child hangs, `sluice status` answers at once and the application serves; at the deadline
 * the reload is refused naming the timeout, the child is gone and the workers are the same. */
START_TEST(hanging_check_does_not_block_master)
{
    struct srv s;
    pid_t workers[8], after[8];
    char out[OUT_MAX], want[TEXT_MAX], path[SRV_PATH_MAX];
    srv_init(&s);
    write_app_config(&s, "module_check_timeout = 3s\n" GOOD_APP);
    srv_spawn(&s);
    ck_assert_int_eq(worker_pids(s.pid, workers, 8), 2);

    write_app_config(&s, "module_check_timeout = 3s\n" GOOD_APP
                         "[app \"h\"]\nmodule = {mod:hang}\nroute = /h/\n");
    int64_t t0 = now_ms();
    pid_t cli = cli_spawn(&s, "reload", "reload.out");
    pid_t checker = 0;
    while ((checker = other_child(s.pid, workers, 2)) == 0 && now_ms() - t0 < 2500)
        sleep_ms(5);
    ck_assert_msg(checker > 0, "no check child of the master %lld ms after `sluice reload`",
                  (long long)(now_ms() - t0));

    int64_t t1 = now_ms();
    int rc = srv_ctl(&s, "status", out, sizeof(out));
    int64_t took = now_ms() - t1;
    ck_assert_msg(rc == 0 && strstr(out, "running") != NULL && took < PROMPT_MS,
                  "status during the check: exit %d after %lld ms (want 0 within %d ms)\n%s", rc,
                  (long long)took, PROMPT_MS, out);
    assert_app_serves(&s, "/good/", GOOD_BODY, "during the hanging check");
    ck_assert_msg(pid_alive(checker) && now_ms() - t0 < 3000,
                  "the check child %d was gone (or the deadline passed) before status and a "
                  "request were answered: nothing shows the master was free during the check",
                  (int)checker);

    rc = cli_wait(cli, WAIT_MS);
    int64_t total = now_ms() - t0;
    char *text = read_file_all(srv_path(&s, "reload.out", path, sizeof(path)), NULL);
    expand(&s,
           "{cfg}:{line:[app \"h\"]}: app \"h\": module {mod:hang}: the check did not finish "
           "within 3000 ms (module_check_timeout",
           want, sizeof(want));
    ck_assert_msg(rc != 0 && rc != -1 && text != NULL && strstr(text, want) != NULL,
                  "reload: exit %d after %lld ms; want '%s' in:\n%s", rc, (long long)total, want,
                  text ? text : "(no output)");
    free(text);
    ck_assert_msg(total >= 2900 && total < 8000, "the 3 s check deadline ended after %lld ms",
                  (long long)total);
    ck_assert_msg(pid_wait_gone(checker, 2000), "check child %d still there after the deadline",
                  (int)checker);
    ck_assert_int_eq(worker_pids(s.pid, after, 8), 2);
    ck_assert_msg(memcmp(workers, after, sizeof(pid_t) * 2) == 0, "the workers changed");
    assert_app_serves(&s, "/good/", GOOD_BODY, "after the refused reload");
    srv_stop(&s);
}
END_TEST

Suite *
integ_apps_ops_suite(void)
{
    Suite *s = suite_create("integ_apps_ops");
    TCase *tc = tcase_create("refusals");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, config_errors_at_t);
    tcase_add_test(tc, config_errors_at_start);
    tcase_add_test(tc, module_errors_at_t);
    tcase_add_test(tc, module_errors_at_start);
    tcase_add_test(tc, hang_check_deadline_is_kept);
    tcase_add_test(tc, errors_refused_by_reload);
    suite_add_tcase(s, tc);

    tc = tcase_create("hanging_check");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, hanging_check_does_not_block_master);
    suite_add_tcase(s, tc);
    return s;
}
