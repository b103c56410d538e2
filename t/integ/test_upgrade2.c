/* Integration tests of master supervision (issue 6), upgrade part 2: the control socket (item
 * 7), systemd notify and socket activation (item 11, with the notify messages around a binary
 * upgrade and its rollback), and the budget checks of `sluice -t` (item 8). Part 1 is
 * test_upgrade.c.
 *
 * The notify socket is a unix datagram socket the test binds in the instance's temp dir, with
 * SO_PASSCRED so each message carries its sender's pid, as systemd sees it. Every wait is a
 * bounded poll. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000 /* bound on each state change we wait for */
#define PROBE_MS 3000 /* bound on one response */

/* ---- helpers ---- */

/* `times` GETs on new connections, each answer bounded by PROBE_MS: a hang fails fast. */
static void
assert_get_ok(int port, int times, const char *when)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    struct timeval tv = {.tv_sec = PROBE_MS / 1000};
    for (int i = 0; i < times; i++) {
        struct http_resp r;
        int fd = conn_open(port);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        conn_sendstr(fd, req);
        int64_t t0 = now_ms();
        int rc = http_try_read(fd, &r, 0);
        close(fd);
        ck_assert_msg(rc == 0, "%s: request %d of %d: nothing after %lld ms (%s)", when, i + 1,
                      times, (long long)(now_ms() - t0), r.err);
        ck_assert_msg(r.status == 200 && r.body != NULL && strcmp(r.body, SRV_INDEX_HTML) == 0,
                      "%s: request %d of %d: status %d", when, i + 1, times, r.status);
        http_resp_free(&r);
    }
}

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

/* ---- the systemd notify socket ---- */

struct note {
    pid_t pid; /* sender, from SCM_CREDENTIALS */
    char text[512];
};

static int
notify_open(const struct srv *s, char *path, size_t len)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int one = 1;
    srv_path(s, "notify.sock", path, len);
    ck_assert_msg(strlen(path) < sizeof(sun.sun_path), "notify socket path too long: %s", path);
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    ck_assert_msg(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0, "bind %s: %s", path,
                  strerror(errno));
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
    return fd;
}

/* The next datagram within timeout_ms (0: only one already queued); false when none came. */
static bool
notify_next(int fd, struct note *n, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int rc;
    while ((rc = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (rc <= 0)
        return false;
    char cbuf[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {.iov_base = n->text, .iov_len = sizeof(n->text) - 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    ssize_t got = recvmsg(fd, &mh, MSG_DONTWAIT);
    if (got < 0)
        return false;
    n->text[got] = '\0';
    n->pid = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred uc;
            memcpy(&uc, CMSG_DATA(c), sizeof(uc));
            n->pid = uc.pid;
        }
    return true;
}

/* Append "[pid] text" (newlines shown as '|') to a log of what arrived, for failure messages. */
static void
note_log(char *seen, size_t len, const struct note *n)
{
    size_t used = strlen(seen);
    if (used + 2 >= len)
        return;
    snprintf(seen + used, len - used, "\n  [%d] %s", (int)n->pid, n->text);
    for (char *p = seen + used + 1; *p != '\0'; p++)
        if (*p == '\n')
            *p = '|';
}

/* Datagrams until one from `from` (0: anyone) holds `needle` (it goes to *n); false on timeout. */
static bool
notify_wait(int fd, pid_t from, const char *needle, struct note *n, int timeout_ms, char *seen,
            size_t seenlen)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - now_ms());
        if (!notify_next(fd, n, left > 0 ? left : 0))
            return false;
        note_log(seen, seenlen, n);
        if ((from == 0 || n->pid == from) && strstr(n->text, needle) != NULL)
            return true;
    }
}

/* srv_init + config + a notify socket + srv_spawn with NOTIFY_SOCKET set for the master
 * (srv_spawn passes our environment on); returns the notify socket. The first READY=1 must
 * come from the master and name it as MAINPID. */
static int
start_notified(struct srv *s)
{
    char path[SRV_PATH_MAX], want[64], seen[2048] = "";
    struct note n;
    srv_init(s);
    srv_write_config(s, NULL);
    int fd = notify_open(s, path, sizeof(path));
    ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
    srv_spawn(s);
    unsetenv("NOTIFY_SOCKET");
    ck_assert_msg(notify_wait(fd, 0, "READY=1", &n, WAIT_MS, seen, sizeof(seen)),
                  "no READY=1 within %d ms of the start; got:%s", WAIT_MS, seen);
    snprintf(want, sizeof(want), "MAINPID=%d\n", (int)s->pid);
    ck_assert_msg(n.pid == s->pid && strstr(n.text, want) != NULL,
                  "READY=1 from pid %d without '%.*s': %s", (int)n.pid, (int)strlen(want) - 1, want,
                  n.text);
    return fd;
}

/* ---- control socket ---- */

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
                      strstr(out, "worker 0 pid ") && strstr(out, "worker 1 pid "),
                  "status: exit %d\n%s", rc, out);

    rc = srv_ctl(&s, "reload", out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "sluice: generation 2 ready (2 workers)"),
                  "reload: exit %d\n%s", rc, out);
    rc = srv_ctl(&s, "status", out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "generation 2 active"), "status after reload: exit %d\n%s",
                  rc, out);
    assert_get_ok(s.port, 4, "after the reload");
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
    assert_get_ok(s.port, 4, "after the refused reloads");
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
    assert_get_ok(s.port, 2, "after the control clients");
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
    ck_assert_msg(rc == 0 && strstr(out, "worker 0 pid "), "status: exit %d\n%s", rc, out);
    ctl_raw(custom, "status\n", out, sizeof(out));
    ck_assert_msg(strncmp(out, "ok: running", 11) == 0, "raw status on %s: '%s'", custom, out);
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    int st = srv_wait_exit(&s, WAIT_MS);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
    ck_assert_msg(access(custom, F_OK) != 0, "%s left behind after the stop", custom);
    srv_finish(&s);
}
END_TEST

/* ---- systemd ---- */

/* READY=1 with MAINPID after the start, RELOADING=1 (with MONOTONIC_USEC) and then READY=1
 * around a reload, STOPPING=1 on the way out. */
START_TEST(notify_ready_reloading_stopping)
{
    struct srv s;
    struct note n;
    char out[1024], seen[4096] = "";
    int fd = start_notified(&s);

    int rc = srv_ctl(&s, "reload", out, sizeof(out));
    ck_assert_msg(rc == 0, "reload: exit %d\n%s", rc, out);
    ck_assert_msg(notify_wait(fd, s.pid, "RELOADING=1", &n, WAIT_MS, seen, sizeof(seen)),
                  "no RELOADING=1 after the reload; got:%s", seen);
    ck_assert_msg(strstr(seen, "READY=1") == NULL, "READY=1 before RELOADING=1:%s", seen);
    ck_assert_msg(strstr(n.text, "MONOTONIC_USEC=") != NULL,
                  "RELOADING=1 without MONOTONIC_USEC: %s", n.text);
    ck_assert_msg(notify_wait(fd, s.pid, "READY=1", &n, WAIT_MS, seen, sizeof(seen)),
                  "no READY=1 after RELOADING=1; got:%s", seen);

    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    int st = srv_wait_exit(&s, WAIT_MS);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
    /* Sent before the master exited: already queued. */
    ck_assert_msg(notify_wait(fd, s.pid, "STOPPING=1", &n, 1000, seen, sizeof(seen)),
                  "no STOPPING=1 from the master; got:%s", seen);
    close(fd);
    srv_finish(&s);
}
END_TEST

/* `sluice upgrade` under Type=notify, NotifyAccess=all: the new master announces itself
 * (READY=1, MAINPID=NEW); the old master, leaving after the handover, must not send STOPPING=1,
 * which systemd would take as the whole service stopping. Asserted after a clean stop. */
START_TEST(notify_upgrade_hands_over_mainpid)
{
    struct srv s;
    struct note n;
    char out[2048], err[2048], seen[4096] = "", want[64], old_stop[600] = "";
    int fd = start_notified(&s);
    pid_t old = s.pid;

    const char *args[] = {"-c", s.cfg, "upgrade", NULL};
    int rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), 40000);
    int o = 0, nw = 0;
    const char *at = strstr(out, "upgraded (pid ");
    ck_assert_msg(rc == 0 && at != NULL && sscanf(at, "upgraded (pid %d -> %d)", &o, &nw) == 2,
                  "sluice upgrade: exit %d\nstdout: %s\nstderr: %s", rc, out, err);
    pid_t new_master = nw;
    srv_guard_pid(new_master);
    ck_assert_int_eq(o, old);
    int st = srv_wait_exit(&s, WAIT_MS);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "old master: 0x%x", st);

    /* The new master said READY before the CLI saw it serve; the old one said all it had to
     * say before it exited: everything is queued. */
    snprintf(want, sizeof(want), "MAINPID=%d\n", (int)new_master);
    bool handed = false;
    while (notify_next(fd, &n, 0)) {
        note_log(seen, sizeof(seen), &n);
        if (n.pid == new_master && strstr(n.text, "READY=1") && strstr(n.text, want))
            handed = true;
        else if (handed && n.pid == old && strstr(n.text, "STOPPING=1") && !old_stop[0])
            snprintf(old_stop, sizeof(old_stop), "%s", n.text);
    }
    srv_cli_stop(&s, new_master);
    bool new_stopping = notify_wait(fd, new_master, "STOPPING=1", &n, 1000, seen, sizeof(seen));
    close(fd);
    srv_finish(&s);
    ck_assert_msg(handed, "no READY=1 with %.*s from the new master %d; got:%s",
                  (int)strlen(want) - 1, want, (int)new_master, seen);
    ck_assert_msg(new_stopping, "no STOPPING=1 from the new master %d on stop; got:%s",
                  (int)new_master, seen);
    ck_assert_msg(old_stop[0] == '\0',
                  "after the new master %d took over as MAINPID, the old master %d sent "
                  "STOPPING=1 on its way out; systemd (NotifyAccess=all) would stop the service. "
                  "Messages:%s",
                  (int)new_master, (int)old, seen);
}
END_TEST

/* USR2, then QUIT to the new master (rollback): the service carries on in the old master, so
 * the last MAINPID= systemd got must name it again, and the leaving new master must not have
 * said STOPPING=1. Asserted after a clean stop. */
START_TEST(notify_rollback_hands_mainpid_back)
{
    struct srv s;
    struct note n;
    char seen[4096] = "", want[64];
    int fd = start_notified(&s);
    pid_t old = s.pid;

    ck_assert_int_eq(kill(old, SIGUSR2), 0);
    pid_t new_master = srv_wait_new_master(&s, old);
    snprintf(want, sizeof(want), "MAINPID=%d\n", (int)new_master);
    ck_assert_msg(notify_wait(fd, new_master, want, &n, WAIT_MS, seen, sizeof(seen)),
                  "no %.*s from the new master; got:%s", (int)strlen(want) - 1, want, seen);
    ck_assert_int_eq(kill(new_master, SIGQUIT), 0);
    ck_assert_msg(pid_wait_gone(new_master, WAIT_MS), "new master %d still there after QUIT",
                  (int)new_master);
    srv_unguard_pid(new_master);
    ck_assert_msg(log_wait(&s, "rolled back", 1, WAIT_MS), "no rollback in the log");
    assert_get_ok(s.port, 2, "after the rollback");

    /* What is queued now, then (when the old master has not taken MAINPID back yet) whatever
     * comes within a short bound. */
    pid_t last_main = new_master;
    bool new_stopping = false;
    int64_t deadline = now_ms() + 2000;
    for (;;) {
        int left = last_main == old ? 0 : (int)(deadline - now_ms());
        if (!notify_next(fd, &n, left > 0 ? left : 0))
            break;
        note_log(seen, sizeof(seen), &n);
        const char *mp = strstr(n.text, "MAINPID=");
        if (mp != NULL)
            last_main = (pid_t)atoi(mp + 8);
        new_stopping |= n.pid == new_master && strstr(n.text, "STOPPING=1") != NULL;
    }
    srv_stop(&s);
    close(fd);
    ck_assert_msg(last_main == old && !new_stopping,
                  "after the rollback the old master %d serves, but the last MAINPID= names %d "
                  "and the new master %s STOPPING=1. Messages:%s",
                  (int)old, (int)last_main, new_stopping ? "sent" : "did not send", seen);
}
END_TEST

/* Socket activation: the test binds 127.0.0.1:0 itself and starts sluice with it as fd 3,
 * LISTEN_PID / LISTEN_FDS set in the child; sluice adopts it (the config names that address) and
 * serves on it. The master is our child but waited for here, not by the harness. */
START_TEST(socket_activation_adopts_passed_socket)
{
    struct srv s;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t slen = sizeof(sin);
    char extra[128], want[64];
    srv_init(&s);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_msg(lfd >= 0 && bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
                      listen(lfd, 128) == 0 &&
                      getsockname(lfd, (struct sockaddr *)&sin, &slen) == 0,
                  "listening socket: %s", strerror(errno));
    int port = ntohs(sin.sin_port);
    snprintf(extra, sizeof(extra), "listen = 127.0.0.1:%d\n", port);
    srv_write_config(&s, extra);

    const char *bin = sluice_bin();
    int logfd = open(s.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_msg(logfd >= 0, "open %s: %s", s.log, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        char num[16];
        /* Lift both above 3 first; dup2 then clears close-on-exec on the copies. */
        int out = fcntl(logfd, F_DUPFD, 10), sock = fcntl(lfd, F_DUPFD, 10);
        int devnull = open("/dev/null", O_RDONLY);
        if (out < 0 || sock < 0 || devnull < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(out, 2) < 0 || dup2(sock, 3) < 0)
            _exit(126);
        close_range(4, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        snprintf(num, sizeof(num), "%d", (int)getpid());
        setenv("LISTEN_PID", num, 1);
        setenv("LISTEN_FDS", "1", 1);
        execl(bin, bin, "-c", s.cfg, (char *)NULL);
        dprintf(2, "test: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(logfd);
    close(lfd); /* from now on only sluice holds the socket */
    srv_guard_pid(pid);
    int st = 0;
    int64_t deadline = now_ms() + WAIT_MS;
    while (srv_read_port_file(&s) <= 0) {
        ck_assert_msg(waitpid(pid, &st, WNOHANG) != pid, "sluice exited during start (0x%x)", st);
        ck_assert_msg(now_ms() < deadline, "no port file %d ms after start", WAIT_MS);
        sleep_ms(10);
    }
    ck_assert_int_eq(srv_read_port_file(&s), port);
    snprintf(want, sizeof(want), "%d master: took over 1 listening socket groups", (int)pid);
    ck_assert_msg(log_count(&s, want) == 1, "no '%s' in the log", want);
    ck_assert_msg(log_count(&s, "the inherited socket has no SO_REUSEPORT; workers share it") == 1,
                  "the shared use of the passed socket is not logged");
    pid_t kids[8];
    ck_assert_int_eq(worker_pids(pid, kids, 8), 2);
    /* Passed as systemd passes it by default (NonBlocking=no): a blocking socket. */
    assert_get_ok(port, 8, "on the passed (blocking) socket");

    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    deadline = now_ms() + WAIT_MS;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        ck_assert_msg(now_ms() < deadline, "sluice %d still running after SIGTERM", (int)pid);
        sleep_ms(10);
    }
    srv_unguard_pid(pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
    srv_finish(&s);
}
END_TEST

/* ---- sluice -t budgets ---- */

static int
run_t(const struct srv *s, char *out, size_t len)
{
    const char *args[] = {"-t", "-c", s->cfg, NULL};
    return run_cmd(args, out, len);
}

/* max_connections x 2 + open_file_cache (1000) + 32 above the hard RLIMIT_NOFILE. */
START_TEST(budget_max_connections_over_nofile)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    long long need = rl.rlim_max == RLIM_INFINITY ? -1 : ((long long)rl.rlim_max - 1032) / 2 + 1;
    if (need < 0 || need > 1000000) {
        ck_assert_msg(1, "hard RLIMIT_NOFILE too large for max_connections to exceed; skipped");
        return;
    }
    long long mc = need > 15000 ? need : 15000;
    struct srv s;
    char extra[64], out[4096], want[64];
    srv_init(&s);
    snprintf(extra, sizeof(extra), "max_connections = %lld\n", mc);
    srv_write_config(&s, extra);
    int rc = run_t(&s, out, sizeof(out));
    snprintf(want, sizeof(want), "max_connections %lld x 2", mc);
    ck_assert_msg(rc == 1 && strstr(out, want) && strstr(out, "RLIMIT_NOFILE") &&
                      strstr(out, "test failed"),
                  "-t with max_connections %lld (hard limit %llu): exit %d\n%s", mc,
                  (unsigned long long)rl.rlim_max, rc, out);
    srv_finish(&s);
}
END_TEST

/* A backlog above net.core.somaxconn is a warning: the kernel caps it; the test passes. */
START_TEST(budget_backlog_over_somaxconn_warns)
{
    char *text = read_file_all("/proc/sys/net/core/somaxconn", NULL);
    int somaxconn = text != NULL ? atoi(text) : 0;
    free(text);
    if (somaxconn <= 0 || somaxconn >= 65535) {
        ck_assert_msg(1, "somaxconn %d: no backlog can exceed it; skipped", somaxconn);
        return;
    }
    struct srv s;
    char out[4096], want[96];
    srv_init(&s);
    srv_write_config(&s, "backlog = 65535\n");
    int rc = run_t(&s, out, sizeof(out));
    snprintf(want, sizeof(want), "warning: backlog 65535 is above net.core.somaxconn (%d)",
             somaxconn);
    ck_assert_msg(rc == 0 && strstr(out, want) && strstr(out, "test is successful"),
                  "-t with backlog 65535: exit %d\n%s", rc, out);
    srv_finish(&s);
}
END_TEST

/* A listen address some other socket holds fails the test, naming it; the same address held by
 * this configuration's own running instance is fine (a reload keeps it). */
START_TEST(budget_listen_address_in_use)
{
    struct srv s;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t slen = sizeof(sin);
    char extra[SRV_PATH_MAX], out[4096], want[96];
    srv_init(&s);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* no SO_REUSEADDR */
    ck_assert_msg(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
                      listen(fd, 16) == 0 && getsockname(fd, (struct sockaddr *)&sin, &slen) == 0,
                  "test socket: %s", strerror(errno));
    snprintf(extra, sizeof(extra), "listen = 127.0.0.1:%d\n", ntohs(sin.sin_port));
    srv_write_config(&s, extra);
    int rc = run_t(&s, out, sizeof(out));
    snprintf(want, sizeof(want), "listen 127.0.0.1:%d: ", ntohs(sin.sin_port));
    ck_assert_msg(
        rc == 1 && strstr(out, want) && strstr(out, "in use") && strstr(out, "test failed"),
        "-t with 127.0.0.1:%d held by the test: exit %d\n%s", ntohs(sin.sin_port), rc, out);
    close(fd);
    srv_finish(&s);

    srv_start(&s, NULL);
    snprintf(extra, sizeof(extra), "listen = 127.0.0.1:%d\n", s.port);
    srv_write_config(&s, extra);
    rc = run_t(&s, out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "in use by this configuration's running instance") &&
                      strstr(out, "test is successful"),
                  "-t with the running instance's own address: exit %d\n%s", rc, out);
    srv_stop(&s);
}
END_TEST

/* Started as root with user = nobody: a root directory nobody cannot enter fails the test; a
 * 0755 one passes (the temp dir is opened up to 0711 so that only the root's mode decides). */
START_TEST(budget_root_not_readable_by_user)
{
    if (geteuid() != 0 || getpwnam("nobody") == NULL) {
        ck_assert_msg(1, "not root, or no user nobody: skipped");
        return;
    }
    struct srv s;
    char priv[SRV_PATH_MAX], extra[SRV_PATH_MAX + 64], out[4096], want[SRV_PATH_MAX + 64];
    srv_init(&s);
    ck_assert_int_eq(chmod(s.dir, 0711), 0);
    srv_write_config(&s, "user = nobody\n");
    int rc = run_t(&s, out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "test is successful"),
                  "-t with user nobody and a 0755 root: exit %d\n%s", rc, out);

    srv_path(&s, "private", priv, sizeof(priv));
    ck_assert_int_eq(mkdir(priv, 0700), 0);
    ck_assert_int_eq(chmod(priv, 0700), 0); /* whatever the umask */
    snprintf(extra, sizeof(extra), "user = nobody\nroot = %s\n", priv);
    srv_write_config(&s, extra);
    rc = run_t(&s, out, sizeof(out));
    snprintf(want, sizeof(want), "root %s is not readable by user nobody", priv);
    ck_assert_msg(rc == 1 && strstr(out, want) && strstr(out, "test failed"),
                  "-t with user nobody and a 0700 root: exit %d\n%s", rc, out);
    srv_finish(&s);
}
END_TEST

Suite *
integ_upgrade2_suite(void)
{
    Suite *s = suite_create("integ_upgrade2");
    TCase *tc = tcase_create("control");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, control_socket_status_and_reload);
    tcase_add_test(tc, control_reload_errors);
    tcase_add_test(tc, control_raw_client);
    tcase_add_test(tc, control_socket_custom_path);
    suite_add_tcase(s, tc);

    tc = tcase_create("systemd");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, notify_ready_reloading_stopping);
    tcase_add_test(tc, notify_upgrade_hands_over_mainpid);
    tcase_add_test(tc, notify_rollback_hands_mainpid_back);
    tcase_add_test(tc, socket_activation_adopts_passed_socket);
    suite_add_tcase(s, tc);

    tc = tcase_create("budget");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, budget_max_connections_over_nofile);
    tcase_add_test(tc, budget_backlog_over_somaxconn_warns);
    tcase_add_test(tc, budget_listen_address_in_use);
    tcase_add_test(tc, budget_root_not_readable_by_user);
    suite_add_tcase(s, tc);
    return s;
}
