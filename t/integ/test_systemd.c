/* Integration tests of systemd integration: the notify messages (READY=1 with MAINPID,
 * RELOADING=1 and READY=1 around a reload, STOPPING=1) also across a binary upgrade and its
 * rollback, and socket activation (LISTEN_FDS).
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000 /* bound on each state change we wait for */

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
    srv_assert_serves(&s, 2, "after the rollback");

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
    s.port = port;
    srv_assert_serves(&s, 8, "on the passed (blocking) socket");

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

Suite *
integ_systemd_suite(void)
{
    Suite *s = suite_create("integ_systemd");
    TCase *tc = tcase_create("systemd");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, notify_ready_reloading_stopping);
    tcase_add_test(tc, notify_upgrade_hands_over_mainpid);
    tcase_add_test(tc, notify_rollback_hands_mainpid_back);
    tcase_add_test(tc, socket_activation_adopts_passed_socket);
    suite_add_tcase(s, tc);
    return s;
}
