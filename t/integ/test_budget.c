/* Integration tests of the budgets `sluice -t` checks against this host: descriptors per
 * worker and the master's own against RLIMIT_NOFILE, a backlog above net.core.somaxconn (a
 * warning), a listen address in use by another socket, a root the workers' `user` cannot read, and
 * a body_temp_path that is missing, not a directory or where the workers cannot create files; and
 * the bound between max_response_header and max_request_line, reported at its file and line. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "t/skip.h"

#include <check.h>
#include <dirent.h>
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

/* "FILE:LINE" of the first line of s's config that sets `key`, into buf (the harness writes
 * its own lines before the test's). */
static const char *
key_at(const struct srv *s, const char *key, char *buf, size_t len)
{
    char *text = read_file_all(s->cfg, NULL);
    int line = 1;
    size_t klen = strlen(key);
    ck_assert_ptr_nonnull(text);
    for (const char *p = text; *p; line++) {
        if (strncmp(p, key, klen) == 0 && strncmp(p + klen, " =", 2) == 0)
            break;
        p = strchr(p, '\n');
        ck_assert_msg(p != NULL, "%s: no line sets %s", s->cfg, key);
        p++;
    }
    free(text);
    snprintf(buf, len, "%s:%d", s->cfg, line);
    return buf;
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

/* The master's own descriptors: 2 generations x 1 listen line x 2 workers + GEN_MAX (4) x 2
 * socketpairs + 253 for relaying a hand-over + 32 = 297, above a hard limit of 290 that a
 * worker's 52 (max_connections 10 x 2 + 32) fits under. */
START_TEST(budget_master_over_nofile)
{
    struct rlimit rl, saved;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 297)
        ck_abort_msg("a hard RLIMIT_NOFILE of %llu: below what this test needs",
                     (unsigned long long)saved.rlim_max);
    struct srv s;
    char out[4096];
    srv_init(&s);
    srv_write_config(&s, "max_connections = 10\nopen_file_cache = 0\n");
    /* Exactly what it needs, and -t passes (lowered first: only root may raise it again). */
    rl.rlim_cur = rl.rlim_max = 297;
    ck_assert_msg(setrlimit(RLIMIT_NOFILE, &rl) == 0, "lowering RLIMIT_NOFILE: %s",
                  strerror(errno));
    int rc = run_t(&s, out, sizeof(out));
    ck_assert_msg(rc == 0, "-t under a hard limit of 297: exit %d\n%s", rc, out);
    rl.rlim_cur = rl.rlim_max = 290;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    rc = run_t(&s, out, sizeof(out));
    ck_assert_msg(rc == 1 && strstr(out, "the master needs 297 descriptors") &&
                      strstr(out, "253 for relaying a hand-over") &&
                      strstr(out, "RLIMIT_NOFILE will be 290") && strstr(out, s.cfg) &&
                      strstr(out, "test failed"),
                  "-t under a hard limit of 290: exit %d\n%s", rc, out);
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

/* -t with `extra` must fail (exit 1) with a line holding `want`, and say "test failed". */
static void
expect_refused(struct srv *s, const char *extra, const char *want)
{
    char out[4096];
    srv_write_config(s, extra);
    int rc = run_t(s, out, sizeof(out));
    ck_assert_msg(rc == 1 && strstr(out, want) && strstr(out, "test failed"),
                  "-t with\n%s\nexit %d, want a line holding\n  %s\ngot:\n%s", extra, rc, want,
                  out);
}

/* body_temp_path must be an existing directory: each problem named at the key's file:line. */
START_TEST(budget_body_temp_path_missing_or_not_dir)
{
    struct srv s;
    char path[SRV_PATH_MAX], extra[SRV_PATH_MAX + 64], want[3 * SRV_PATH_MAX],
        at[SRV_PATH_MAX + 16];
    srv_init(&s);

    srv_path(&s, "no-such-dir", path, sizeof(path));
    snprintf(extra, sizeof(extra), "body_temp_path = %s\n", path);
    srv_write_config(&s, extra);
    snprintf(want, sizeof(want), "sluice: %s: body_temp_path: '%s' does not exist\n",
             key_at(&s, "body_temp_path", at, sizeof(at)), path);
    expect_refused(&s, extra, want);

    srv_path(&s, "www/index.html", path, sizeof(path));
    snprintf(extra, sizeof(extra), "body_temp_path = %s\n", path);
    srv_write_config(&s, extra);
    snprintf(want, sizeof(want), "sluice: %s: body_temp_path: '%s' is not a directory\n",
             key_at(&s, "body_temp_path", at, sizeof(at)), path);
    expect_refused(&s, extra, want);

    srv_finish(&s);
}
END_TEST

/* The workers' user must be able to create files in body_temp_path. As root the check runs as
 * `user` (nobody): a 0700 directory of root's fails although root could write there, also as
 * the default from $TMPDIR (the line then names the file and where the default came from), and
 * a 01777 one (as /tmp) passes. As anyone else it runs as this process: a 0500 directory
 * fails. */
START_TEST(budget_body_temp_path_not_writable)
{
    struct srv s;
    char dir[SRV_PATH_MAX], extra[SRV_PATH_MAX + 64], want[3 * SRV_PATH_MAX], at[SRV_PATH_MAX + 16],
        out[4096];
    bool root = geteuid() == 0;
    srv_init(&s);
    srv_path(&s, "spill", dir, sizeof(dir));
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    if (root) {
        ck_assert_msg(getpwnam("nobody") != NULL, "no user nobody");
        ck_assert_int_eq(chmod(s.dir, 0711), 0); /* nobody may pass through to root and spill */
        ck_assert_int_eq(chmod(dir, 0700), 0);   /* root's own, whatever the umask */
        snprintf(extra, sizeof(extra), "user = nobody\nbody_temp_path = %s\n", dir);
    } else {
        ck_assert_int_eq(chmod(dir, 0500), 0);
        snprintf(extra, sizeof(extra), "body_temp_path = %s\n", dir);
    }
    srv_write_config(&s, extra);
    key_at(&s, "body_temp_path", at, sizeof(at));
    if (root)
        snprintf(want, sizeof(want),
                 "sluice: %s: body_temp_path: user nobody cannot create files in '%s': Permission "
                 "denied (request bodies over body_buffer_size go there)\n",
                 at, dir);
    else
        snprintf(want, sizeof(want),
                 "sluice: %s: body_temp_path: uid %d cannot create files in '%s': Permission "
                 "denied (request bodies over body_buffer_size go there)\n",
                 at, (int)geteuid(), dir);
    expect_refused(&s, extra, want);

    /* Unset, body_temp_path is $TMPDIR (which -t inherits from this test process; the test
     * tools put their own temp files there too, so it must stay writable by root here). */
    if (root) {
        const char *saved = getenv("TMPDIR");
        char saved_tmpdir[SRV_PATH_MAX];
        snprintf(saved_tmpdir, sizeof(saved_tmpdir), "%s", saved ? saved : "");
        ck_assert_int_eq(setenv("TMPDIR", dir, 1), 0);
        snprintf(want, sizeof(want),
                 "sluice: %s: body_temp_path: user nobody cannot create files in '%s': Permission "
                 "denied (request bodies over body_buffer_size go there) (the default: $TMPDIR "
                 "when set, else /tmp; set body_temp_path)\n",
                 s.cfg, dir);
        expect_refused(&s, "user = nobody\n", want);
        if (saved)
            setenv("TMPDIR", saved_tmpdir, 1);
        else
            unsetenv("TMPDIR");
    }

    /* Writable by everyone, sticky, as /tmp is: the same configuration passes. */
    ck_assert_int_eq(chmod(dir, 01777), 0);
    srv_write_config(&s, extra);
    int rc = run_t(&s, out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "test is successful") && !strstr(out, "body_temp_path"),
                  "-t with a 01777 body_temp_path: exit %d\n%s", rc, out);
    /* -t left nothing behind in it (O_TMPFILE, or mkstemp + unlink). */
    DIR *d = opendir(dir);
    struct dirent *e;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0, "-t left %s/%s",
                      dir, e->d_name);
    closedir(d);
    srv_finish(&s);
}
END_TEST

/* max_response_header below 3 x max_request_line + 1024: refused at its file:line, also when
 * max_request_line comes after it; with max_response_header unset, at max_request_line's. */
START_TEST(budget_max_response_header_below_bound)
{
    struct srv s;
    char want[SRV_PATH_MAX + 256], at[SRV_PATH_MAX + 16];
    const char *extra = "max_response_header = 4k\n";
    srv_init(&s);
    srv_write_config(&s, extra);
    snprintf(want, sizeof(want),
             "sluice: %s: max_response_header: 4096 is too small: at least 3 x max_request_line "
             "(8192) + 1024 = 25600, since a redirect repeats the request target percent-encoded\n",
             key_at(&s, "max_response_header", at, sizeof(at)));
    expect_refused(&s, extra, want);

    extra = "max_response_header = 16k\nmax_request_line = 6k\n";
    srv_write_config(&s, extra);
    snprintf(want, sizeof(want),
             "sluice: %s: max_response_header: 16384 is too small: at least 3 x max_request_line "
             "(6144) + 1024 = 19456",
             key_at(&s, "max_response_header", at, sizeof(at)));
    expect_refused(&s, extra, want);

    extra = "max_header_size = 64k\nmax_request_line = 32k\n";
    srv_write_config(&s, extra);
    snprintf(want, sizeof(want),
             "sluice: %s: max_request_line: 32768 needs max_response_header of at least 3 x 32768 "
             "+ 1024 = 99328",
             key_at(&s, "max_request_line", at, sizeof(at)));
    expect_refused(&s, extra, want);

    /* At the bound: fine. */
    char out[4096];
    srv_write_config(&s, "max_response_header = 25600\n");
    int rc = run_t(&s, out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "test is successful"),
                  "-t with max_response_header = 25600: exit %d\n%s", rc, out);
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
    tcase_add_test(tc, budget_master_over_nofile);
    tcase_add_test(tc, budget_backlog_over_somaxconn_warns);
    tcase_add_test(tc, budget_listen_address_in_use);
    tcase_add_test(tc, budget_root_not_readable_by_user);
    tcase_add_test(tc, budget_body_temp_path_missing_or_not_dir);
    tcase_add_test(tc, budget_body_temp_path_not_writable);
    tcase_add_test(tc, budget_max_response_header_below_bound);
    suite_add_tcase(s, tc);
    return s;
}
