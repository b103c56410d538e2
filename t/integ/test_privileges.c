/* Integration tests of privileges: started as root with `user` (and `group`), the workers run
 * as that user and group, with that user's supplementary groups, while the master keeps root;
 * started as anyone else, naming another user is refused. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "slots.h"
#include "t/skip.h"

#include <check.h>
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
        t_skip("workers_run_as_user_when_started_as_root", "not started as root");
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
        srv_finish(&s);
        t_skip("user_refused_when_not_root", "the tests run as nobody: no other user to name");
        return;
    }
    /* Started as root, the test runs sluice as 'daemon' instead: a non-root start all the same. */
    struct passwd runas_copy, *runas = NULL;
    if (geteuid() == 0) {
        struct passwd *d = getpwnam("daemon");
        if (d == NULL) {
            srv_finish(&s);
            t_skip("user_refused_when_not_root", "root, and no user 'daemon' to start sluice as");
            return;
        }
        runas_copy = *d;
        runas = &runas_copy;
    }
    int rc = run_start_as(&s, runas, out, sizeof(out));
    if (rc == -1) {
        srv_finish(&s);
        t_skip("user_refused_when_not_root", "cannot run the binary as a plain user here");
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

/* A group that is not `nobody`'s own: daemon when it exists, else the first other one. */
static bool
other_group(gid_t not_this, char *name, size_t len, gid_t *gid)
{
    struct group *gr = getgrnam("daemon");
    if (gr == NULL || gr->gr_gid == not_this || gr->gr_gid == 0) {
        setgrent();
        while ((gr = getgrent()) != NULL && (gr->gr_gid == not_this || gr->gr_gid == 0))
            ;
        endgrent();
    }
    if (gr == NULL)
        return false;
    snprintf(name, len, "%s", gr->gr_name);
    *gid = gr->gr_gid;
    return true;
}

/* group = G: every id of the workers' Gid line is G's (not the user's own group), no
 * supplementary group is root's, and the master still runs as root. */
START_TEST(workers_run_with_group)
{
    if (geteuid() != 0) {
        t_skip("workers_run_with_group", "not started as root: no group to switch to");
        return;
    }
    struct passwd *pw = getpwnam("nobody");
    ck_assert_msg(pw != NULL, "no user 'nobody' on this system");
    unsigned uid = pw->pw_uid;
    char group[64], extra[160], line[128], groups[256], want[96];
    gid_t gid;
    ck_assert_msg(other_group(pw->pw_gid, group, sizeof(group), &gid),
                  "no group other than nobody's own and root's");
    struct srv s;
    pid_t pids[8];
    srv_init(&s);
    open_up(&s);
    snprintf(extra, sizeof(extra), "user = nobody\ngroup = %s\n", group);
    srv_write_config(&s, extra);
    ck_assert_int_eq(chmod(s.cfg, 0644), 0);
    srv_spawn(&s);

    srv_assert_serves(&s, 10, "group set");
    int n = worker_pids(s.pid, pids, 8);
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(proc_ids_are(pids[i], "Uid:", uid, line, sizeof(line)),
                      "worker %d: %s (want nobody, %u)", (int)pids[i], line, uid);
        ck_assert_msg(proc_ids_are(pids[i], "Gid:", (unsigned)gid, line, sizeof(line)),
                      "worker %d: %s (want group %s, %u)", (int)pids[i], line, group,
                      (unsigned)gid);
        proc_status(pids[i], "Groups", groups, sizeof(groups));
        for (char *tok = strtok(groups, " "); tok != NULL; tok = strtok(NULL, " "))
            ck_assert_msg(atoi(tok) != 0, "worker %d keeps root's group among its groups",
                          (int)pids[i]);
    }
    ck_assert_msg(proc_ids_are(s.pid, "Gid:", 0, line, sizeof(line)),
                  "the master left root's group: %s", line);
    snprintf(want, sizeof(want), "running as nobody (uid %u, gid %u)", uid, (unsigned)gid);
    ck_assert_msg(log_count(&s, want) == 2, "workers did not log '%s'", want);
    srv_stop(&s);
}
END_TEST

Suite *
integ_privileges_suite(void)
{
    Suite *s = suite_create("integ_privileges");
    TCase *tc = tcase_create("privileges");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, workers_run_as_user_when_started_as_root);
    tcase_add_test(tc, workers_run_with_group);
    tcase_add_test(tc, user_refused_when_not_root);
    suite_add_tcase(s, tc);
    return s;
}
