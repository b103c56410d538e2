/* Integration tests of the budgets `sluice -t` checks against this host: descriptors per
 * worker against RLIMIT_NOFILE, a backlog above net.core.somaxconn (a warning), a listen address
 * in use by another socket, and a root the workers' `user` cannot read. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "t/skip.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int
run_t(const struct srv *s, char *out, size_t len)
{
    const char *args[] = {"-t", "-c", s->cfg, NULL};
    return run_cmd(args, out, len);
}

/* max_connections x 2 + open_file_cache (1000) + 32 above the hard RLIMIT_NOFILE. */
START_TEST(budget_max_connections_over_nofile)
{
    struct rlimit rl, saved;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rl = saved;
    long long need = rl.rlim_max == RLIM_INFINITY ? -1 : ((long long)rl.rlim_max - 1032) / 2 + 1;
    if (need < 0 || need > 1000000) {
        /* A hard limit no max_connections (at most 1000000) can exceed: lower it for `-t`,
         * which inherits it from this test process. */
        rl.rlim_cur = rl.rlim_max = 65536;
        ck_assert_msg(setrlimit(RLIMIT_NOFILE, &rl) == 0, "lowering RLIMIT_NOFILE: %s",
                      strerror(errno));
        need = ((long long)rl.rlim_max - 1032) / 2 + 1;
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
    setrlimit(RLIMIT_NOFILE, &saved); /* as root; else this test process ends with it lower */
    srv_finish(&s);
}
END_TEST

/* A backlog above net.core.somaxconn is a warning: the kernel caps it; the test passes. */
START_TEST(budget_backlog_over_somaxconn_warns)
{
    char *text = read_file_all("/proc/sys/net/core/somaxconn", NULL);
    int somaxconn = text != NULL ? atoi(text) : 0;
    free(text);
    ck_assert_msg(somaxconn > 0, "cannot read net.core.somaxconn");
    if (somaxconn >= 65535) {
        t_skip("budget_backlog_over_somaxconn_warns",
               "net.core.somaxconn is 65535 or more: no backlog can exceed it");
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
    /* The line start gives too (listen_check_free), naming this test process as the holder. */
    snprintf(want, sizeof(want), "sluice.ini:7: listen: 127.0.0.1:%d is in use by pid %d (",
             ntohs(sin.sin_port), (int)getpid());
    ck_assert_msg(rc == 1 && strstr(out, want) && strstr(out, "test failed"),
                  "-t with 127.0.0.1:%d held by the test: exit %d\n%s", ntohs(sin.sin_port), rc,
                  out);
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
    if (geteuid() != 0) {
        t_skip("budget_root_not_readable_by_user", "not started as root: `user` cannot be set");
        return;
    }
    ck_assert_msg(getpwnam("nobody") != NULL, "no user nobody");
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
integ_budget_suite(void)
{
    Suite *s = suite_create("integ_budget");
    TCase *tc = tcase_create("budget");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, budget_max_connections_over_nofile);
    tcase_add_test(tc, budget_backlog_over_somaxconn_warns);
    tcase_add_test(tc, budget_listen_address_in_use);
    tcase_add_test(tc, budget_root_not_readable_by_user);
    suite_add_tcase(s, tc);
    return s;
}
