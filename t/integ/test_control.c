/* Integration tests of the control socket: it sits next to the pid file (or at
 * control_socket) with mode 0600; `status` lists generations and workers, `reload` answers with
 * the new generation or with file:line, and a raw client gets an error for an unknown command.
 * The master removes the socket on exit. */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000 /* bound on each state change we wait for */

/* ---- helpers ---- */

/* 1-based number of the first config line that starts with `key`; fails when there is none. */
static int
cfg_line_of(const struct srv *s, const char *key)
{
    char *text = read_file_all(s->cfg, NULL);
    ck_assert_ptr_nonnull(text);
    int line = 1, found = 0;
    for (const char *p = text; *p != '\0' && !found; line++) {
        if (strncmp(p, key, strlen(key)) == 0)
            found = line;
        p = strchr(p, '\n');
        if (p == NULL)
            break;
        p++;
    }
    free(text);
    ck_assert_msg(found > 0, "no '%s' line in %s", key, s->cfg);
    return found;
}

/* Read everything a unix stream peer sends until it closes (bounded by the socket timeout). */
static void
read_all(int fd, char *buf, size_t len)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, len - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || got + (size_t)n == len - 1) {
            got += n > 0 ? (size_t)n : 0;
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
}

/* One command over the control socket by hand; the answer into buf. */
static void
ctl_raw(const char *path, const char *line, char *buf, size_t len)
{
    int fd = conn_open_unix(path);
    conn_sendstr(fd, line);
    read_all(fd, buf, len);
    close(fd);
}

static void
assert_socket_0600(const char *path)
{
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0, "control socket %s: %s", path, strerror(errno));
    ck_assert_msg(S_ISSOCK(st.st_mode), "%s is not a socket (mode 0%o)", path,
                  (unsigned)st.st_mode);
    ck_assert_msg((st.st_mode & 07777) == 0600, "%s has mode 0%o, want 0600", path,
                  (unsigned)(st.st_mode & 07777));
}

/* ---- control socket ---- */

/* `sluice status` has a row for worker `slot` in its table (after the SLOT header line). */
static bool
status_row(const char *out, int slot)
{
    const char *p = strstr(out, " SLOT ");
    while (p && (p = strchr(p, '\n')) != NULL) {
        int got, pid;
        p++;
        if (sscanf(p, "%d %d", &got, &pid) == 2 && got == slot && pid > 0)
            return true;
    }
    return false;
}

/* The socket sits next to the pid file with mode 0600; status lists the generation and its
 * workers; reload answers with the new generation. */
START_TEST(control_socket_status_and_reload)
{
    struct srv s;
    char ctl[SRV_PATH_MAX], out[4096], want[64];
    srv_start(&s, NULL);
    assert_socket_0600(srv_path(&s, "sluice.ctl", ctl, sizeof(ctl)));

    int rc = srv_ctl(&s, "status", out, sizeof(out));
    snprintf(want, sizeof(want), "sluice: running (pid %d)\n", (int)s.pid);
    ck_assert_msg(rc == 0 && strstr(out, want) && strstr(out, "generation 1 active, 2 workers") &&
                      status_row(out, 0) && status_row(out, 1),
                  "status: exit %d\n%s", rc, out);

    rc = srv_ctl(&s, "reload", out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "sluice: generation 2 ready (2 workers)"),
                  "reload: exit %d\n%s", rc, out);
    rc = srv_ctl(&s, "status", out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "generation 2 active"), "status after reload: exit %d\n%s",
                  rc, out);
    srv_assert_serves(&s, 4, "after the reload");
    srv_stop(&s);
}
END_TEST

/* reload with a bad file: an unknown key is caught by the CLI's own read (the master never
 * hears of it); a root that does not exist passes that read, and the master's check answers
 * with file:line and `root`. Either way exit 1, and the same workers keep serving. */
START_TEST(control_reload_errors)
{
    struct srv s;
    pid_t before[8], after[8];
    char out[4096], want[3 * SRV_PATH_MAX], extra[SRV_PATH_MAX + 32];
    srv_start(&s, NULL);
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 2);

    srv_write_config(&s, "wrokers = 3\n");
    int rc = srv_ctl(&s, "reload", out, sizeof(out));
    snprintf(want, sizeof(want), "sluice: %s:%d: unknown key 'wrokers'", s.cfg,
             cfg_line_of(&s, "wrokers"));
    ck_assert_msg(rc == 1 && strstr(out, want), "reload, unknown key: exit %d, want '%s'\n%s", rc,
                  want, out);
    ck_assert_msg(log_count(&s, "reload") == 0, "the master saw the reload the CLI refused");

    snprintf(extra, sizeof(extra), "root = %s/missing\n", s.dir);
    srv_write_config(&s, extra);
    rc = srv_ctl(&s, "reload", out, sizeof(out));
    snprintf(want, sizeof(want), "sluice: %s:%d: root: cannot open directory '%s/missing'", s.cfg,
             cfg_line_of(&s, "root"), s.dir);
    ck_assert_msg(rc == 1 && strstr(out, want), "reload, missing root: exit %d, want '%s'\n%s", rc,
                  want, out);
    snprintf(want, sizeof(want), "[error] %d master: reload: %s:%d: root:", (int)s.pid, s.cfg,
             cfg_line_of(&s, "root"));
    ck_assert_msg(log_count(&s, want) == 1, "no '%s' in the log", want);

    ck_assert_int_eq(worker_pids(s.pid, after, 8), 2);
    ck_assert_msg(memcmp(before, after, sizeof(pid_t) * 2) == 0, "the workers changed");
    srv_assert_serves(&s, 4, "after the refused reloads");
    srv_write_config(&s, NULL);
    rc = srv_ctl(&s, "reload", out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "generation 2 ready"), "reload: exit %d\n%s", rc, out);
    srv_stop(&s);
}
END_TEST

/* A client speaking the protocol by hand: unknown commands are refused, status answers. */
START_TEST(control_raw_client)
{
    struct srv s;
    char ctl[SRV_PATH_MAX], buf[4096], want[64];
    srv_start(&s, NULL);
    srv_path(&s, "sluice.ctl", ctl, sizeof(ctl));
    ctl_raw(ctl, "bogus\n", buf, sizeof(buf));
    ck_assert_msg(strncmp(buf, "error: unknown command", 22) == 0, "answer to 'bogus': '%s'", buf);
    ctl_raw(ctl, "status\n", buf, sizeof(buf));
    snprintf(want, sizeof(want), "ok: running (pid %d)", (int)s.pid);
    ck_assert_msg(strncmp(buf, want, strlen(want)) == 0, "answer to 'status': '%s'", buf);
    srv_assert_serves(&s, 2, "after the control clients");
    srv_stop(&s);
}
END_TEST

/* control_socket = PATH: the socket is there (0600) and not at the default place; the CLI finds
 * it through the configuration (status lists workers, which the signal fallback cannot); the
 * master removes it on exit. */
START_TEST(control_socket_custom_path)
{
    struct srv s;
    char custom[SRV_PATH_MAX], dflt[SRV_PATH_MAX], extra[SRV_PATH_MAX + 32], out[4096];
    srv_init(&s);
    srv_path(&s, "custom.sock", custom, sizeof(custom));
    snprintf(extra, sizeof(extra), "control_socket = %s\n", custom);
    srv_write_config(&s, extra);
    srv_spawn(&s);
    assert_socket_0600(custom);
    ck_assert_msg(access(srv_path(&s, "sluice.ctl", dflt, sizeof(dflt)), F_OK) != 0,
                  "%s exists although control_socket is set", dflt);
    int rc = srv_ctl(&s, "status", out, sizeof(out));
    ck_assert_msg(rc == 0 && status_row(out, 0), "status: exit %d\n%s", rc, out);
    ctl_raw(custom, "status\n", out, sizeof(out));
    ck_assert_msg(strncmp(out, "ok: running", 11) == 0, "raw status on %s: '%s'", custom, out);
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    int st = srv_wait_exit(&s, WAIT_MS);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
    ck_assert_msg(access(custom, F_OK) != 0, "%s left behind after the stop", custom);
    srv_finish(&s);
}
END_TEST

Suite *
integ_control_suite(void)
{
    Suite *s = suite_create("integ_control");
    TCase *tc = tcase_create("control");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, control_socket_status_and_reload);
    tcase_add_test(tc, control_reload_errors);
    tcase_add_test(tc, control_raw_client);
    tcase_add_test(tc, control_socket_custom_path);
    suite_add_tcase(s, tc);
    return s;
}
