/* A listen address another instance already listens on: `start` and `-t` refuse it, naming the
 * address and the process that holds it (with reuseport the kernel would let a same-uid second
 * instance join the first one's SO_REUSEPORT group and take half its connections). The first
 * instance keeps serving its own root, and its own reload and binary upgrade still work. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "t/skip.h"

/* n distinct ports no one listens on now, from the kernel: bind port 0 n times (all open at
 * once, so they differ), read the ports, close. Tests that need a fixed port take it from here,
 * never from a list. */
static void
free_ports(int *ports, int n)
{
    int fds[4];
    ck_assert_int_le(n, 4);
    for (int i = 0; i < n; i++) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sin);
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_msg(fds[i] >= 0 && bind(fds[i], (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
                          getsockname(fds[i], (struct sockaddr *)&sin, &len) == 0,
                      "a free port from the kernel: %s", strerror(errno));
        ports[i] = ntohs(sin.sin_port);
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* An instance whose root answers /which.txt with `tag`, listening where `listen` says. */
static void
init_tagged(struct srv *s, const char *tag, const char *listen)
{
    char extra[256];
    srv_init(s);
    srv_write_file(s, "which.txt", tag, strlen(tag));
    snprintf(extra, sizeof(extra), "%s", listen);
    srv_write_config(s, extra);
}

/* `times` requests for /which.txt on fresh connections to 127.0.0.1:port: every one must be
 * answered by the root tagged `tag`. */
static void
assert_all_from(int port, const char *tag, int times, const char *when)
{
    for (int i = 0; i < times; i++) {
        struct http_resp r;
        int st = http_simple(port, "GET", "/which.txt", &r);
        ck_assert_msg(st == 200 && r.body != NULL && strcmp(r.body, tag) == 0,
                      "%s: request %d of %d on port %d: status %d, body '%s', want '%s'", when,
                      i + 1, times, port, st, r.body ? r.body : "", tag);
        http_resp_free(&r);
    }
}

/* Run the second instance `b` (start, or `-t` when check is set) and require exit 1 with
 * exactly `want_line` (a whole line) on stderr and nothing on stdout. Its output goes to its
 * error.log, so that srv_finish checks it for sanitizer reports too. */
static void
expect_refused(struct srv *b, bool check, const char *want_line)
{
    char out[4096], err[4096];
    const char *start[] = {"-c", b->cfg, NULL}, *test[] = {"-c", b->cfg, "-t", NULL};
    int rc = run_cmd_io(check ? test : start, out, sizeof(out), err, sizeof(err), 10000);
    write_file(b->log, err, strlen(err));
    char *at = strstr(err, want_line);
    size_t n = strlen(want_line);
    ck_assert_msg(rc == 1 && at != NULL && (at == err || at[-1] == '\n') && at[n] == '\n',
                  "second instance%s: exit %d, want 1 and the line\n%s\nstdout: %s\nstderr: %s",
                  check ? " -t" : "", rc, want_line, out, err);
    ck_assert_msg(out[0] == '\0', "second instance%s: stdout '%s'", check ? " -t" : "", out);
    if (check)
        ck_assert_msg(strstr(err, "test failed") != NULL, "-t: no verdict\n%s", err);
    else
        ck_assert_msg(access(b->pid_file, F_OK) != 0, "the refused instance left %s", b->pid_file);
}

/* "sluice: CFG:7: listen: ADDR is in use by pid PID (TITLE)[, listening on OTHER]": the line
 * the second instance must print. The harness writes 6 default lines before the listen one. */
static void
refusal_line(const struct srv *b, const char *addr, pid_t holder, const char *other, char *buf,
             size_t len)
{
    char title[256];
    proc_cmdline(holder, title, sizeof(title));
    ck_assert_msg(title[0] != '\0', "pid %d has no title", (int)holder);
    snprintf(buf, len, "sluice: %s:7: listen: %s is in use by pid %d (%s)%s%s", b->cfg, addr,
             (int)holder, title, other ? ", listening on " : "", other ? other : "");
}

/* Two configurations (other root, other pid file) on one fixed port: the second is refused by
 * start and by -t with the same line, naming the first's master; an overlapping wildcard
 * address is refused too. The first one alone keeps answering, from its own root. */
START_TEST(second_instance_refused)
{
    struct srv a, b;
    char listen[64], addr[32], any[32], line[1024];
    int port;
    free_ports(&port, 1);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    snprintf(listen, sizeof(listen), "listen = %s\n", addr);
    init_tagged(&a, "root A\n", listen);
    srv_spawn(&a);
    ck_assert_int_eq(a.port, port);
    init_tagged(&b, "root B\n", listen);

    refusal_line(&b, addr, a.pid, NULL, line, sizeof(line));
    expect_refused(&b, false, line);
    expect_refused(&b, true, line);
    assert_all_from(port, "root A\n", 20, "after the refused start");

    /* 0.0.0.0:P takes 127.0.0.1:P's connections too: the same conflict. */
    snprintf(any, sizeof(any), "0.0.0.0:%d", port);
    snprintf(listen, sizeof(listen), "listen = %s\n", any);
    srv_write_config(&b, listen);
    refusal_line(&b, any, a.pid, addr, line, sizeof(line));
    expect_refused(&b, false, line);
    assert_all_from(port, "root A\n", 20, "after the refused wildcard start");

    srv_finish(&b);
    srv_stop(&a);
}
END_TEST

/* The checks leave the first instance's own life alone: a reload that keeps its address and
 * binds a new one, then `sluice upgrade` (the new master inherits every socket). The second
 * instance is still refused, naming whichever master holds the port now. */
START_TEST(first_instance_reloads_and_upgrades)
{
    struct srv a, b;
    char listen[128], addr[32], line[1024], out[2048], err[2048];
    int ports[2];
    free_ports(ports, 2);
    int port = ports[0], port2 = ports[1];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    snprintf(listen, sizeof(listen), "listen = %s\n", addr);
    init_tagged(&a, "root A\n", listen);
    srv_spawn(&a);
    init_tagged(&b, "root B\n", listen);
    refusal_line(&b, addr, a.pid, NULL, line, sizeof(line));
    expect_refused(&b, false, line);

    snprintf(listen, sizeof(listen), "listen = %s\nlisten = 127.0.0.1:%d\n", addr, port2);
    srv_write_config(&a, listen);
    int rc = srv_ctl(&a, "reload", out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "sluice: generation 2 ready (2 workers)") != NULL,
                  "reload: exit %d: %s", rc, out);
    assert_all_from(port, "root A\n", 10, "after the reload");
    assert_all_from(port2, "root A\n", 10, "on the address the reload added");

    const char *args[] = {"-c", a.cfg, "upgrade", NULL};
    int old = 0, new_master = 0;
    rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), 40000);
    const char *at = strstr(out, "upgraded (pid ");
    ck_assert_msg(rc == 0 && at != NULL &&
                      sscanf(at, "upgraded (pid %d -> %d)", &old, &new_master) == 2,
                  "sluice upgrade: exit %d\nstdout: %s\nstderr: %s", rc, out, err);
    srv_guard_pid(new_master);
    ck_assert_int_eq(old, a.pid);
    int st = srv_wait_exit(&a, 10000);
    ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "the old master: wait status %d after the upgrade", st);
    assert_all_from(port, "root A\n", 10, "after the upgrade");
    assert_all_from(port2, "root A\n", 10, "after the upgrade, second address");

    refusal_line(&b, addr, new_master, NULL, line, sizeof(line));
    expect_refused(&b, false, line);
    srv_finish(&b);
    srv_cli_stop(&a, new_master);
    srv_finish(&a);
}
END_TEST

/* The same port in the other family is another address: sluice's IPv6 sockets are v6-only, so
 * [::1]:P shares no connection with 127.0.0.1:P, and both instances start and serve. */
START_TEST(other_family_same_port_starts)
{
    struct srv a, b;
    char listen[64];
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (fd < 0 || bind(fd, (struct sockaddr *)&v6, sizeof(v6)) < 0) {
        if (fd >= 0)
            close(fd);
        t_skip("other_family_same_port_starts", "no IPv6 loopback here");
        return;
    }
    close(fd);
    int port;
    free_ports(&port, 1);
    snprintf(listen, sizeof(listen), "listen = 127.0.0.1:%d\n", port);
    init_tagged(&a, "root A\n", listen);
    srv_spawn(&a);
    snprintf(listen, sizeof(listen), "listen = [::1]:%d\n", port);
    init_tagged(&b, "root B\n", listen);
    srv_spawn(&b); /* fails the test unless it starts */
    ck_assert_int_eq(b.port, port);
    assert_all_from(port, "root A\n", 20, "with [::1] on the same port");
    srv_stop(&b);
    srv_stop(&a);
}
END_TEST

/* A fixed address given on two listen lines is refused by start, naming the second line (flags
 * do not make it another socket); "host:0" twice asks for two free ports, and gets them. */
START_TEST(same_address_twice)
{
    struct srv a, b;
    int port;
    char line[SRV_PATH_MAX + 128], listen[128];
    free_ports(&port, 1);
    snprintf(listen, sizeof(listen), "listen = 127.0.0.1:%d\nlisten = 127.0.0.1:%d\n", port, port);
    init_tagged(&a, "a", listen);
    snprintf(line, sizeof(line), "sluice: %s:8: listen: 127.0.0.1:%d is given twice", a.cfg, port);
    expect_refused(&a, false, line);
    srv_finish(&a);

    init_tagged(&b, "b", "listen = 127.0.0.1:0\nlisten = 127.0.0.1:0\n");
    srv_spawn(&b);
    int first = srv_read_port_line(&b, 0), second = srv_read_port_line(&b, 1);
    ck_assert_msg(first > 0 && second > 0 && first != second, "ports %d and %d", first, second);
    assert_all_from(first, "b", 2, "first :0 line");
    assert_all_from(second, "b", 2, "second :0 line");
    char out[256];
    ck_assert_int_eq(srv_ctl(&b, "reload", out, sizeof(out)), 0);
    ck_assert_int_eq(srv_read_port_line(&b, 0), first); /* each line kept its own socket */
    ck_assert_int_eq(srv_read_port_line(&b, 1), second);
    srv_stop(&b);
}
END_TEST

Suite *
integ_ports_suite(void)
{
    Suite *s = suite_create("integ_ports");
    TCase *tc = tcase_create("ports");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, second_instance_refused);
    tcase_add_test(tc, first_instance_reloads_and_upgrades);
    tcase_add_test(tc, other_family_same_port_starts);
    tcase_add_test(tc, same_address_twice);
    suite_add_tcase(s, tc);
    return s;
}
