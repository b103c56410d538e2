/* The master's reading of the module-checking child's report (master/modcheck.c), played by a
 * hostile child: every record the child can write must get a clear answer, and no descriptor
 * it sends may stay open unless it is a sealed snapshot the master keeps. */
#include "master/modcheck.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ipc.h"
#include "t/unit/fds.h"

static struct cfg cfg;
static int sv[2];

static void
setup(void)
{
    cfg_defaults(&cfg);
    snprintf(cfg.file, sizeof(cfg.file), "/etc/s.ini");
    cfg.napps = 2;
    snprintf(cfg.app[0].name, sizeof(cfg.app[0].name), "api");
    snprintf(cfg.app[0].module, sizeof(cfg.app[0].module), "/m/api.so");
    cfg.app[0].line = 7;
    snprintf(cfg.app[1].name, sizeof(cfg.app[1].name), "web");
    snprintf(cfg.app[1].module, sizeof(cfg.app[1].module), "/m/web.so");
    cfg.app[1].line = 12;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void
teardown(void)
{
    close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
}

/* Send `len` bytes of `m` with `nfd` descriptors attached, as the child does. */
static void
send_rec(const void *m, size_t len, const int *fds, int nfd)
{
    ck_assert_int_eq(ipc_send_record(sv[1], m, len, fds, nfd), 0);
}

static struct modcheck_msg
rec(uint32_t type, int app, uint32_t nfd, const char *text)
{
    struct modcheck_msg m = {.magic = MODCHECK_MAGIC, .type = type, .app = app, .nfd = nfd};
    snprintf(m.text, sizeof(m.text), "%s", text);
    return m;
}

/* A memfd holding a few bytes, sealed (or not). */
static int
snapshot(bool sealed)
{
    int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "\177ELF", 4), 4);
    if (sealed)
        ck_assert_int_eq(
            fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), 0);
    return fd;
}

static int
receive(struct mod_set *set, int *app, char *err)
{
    return modcheck_receive(sv[0], &cfg, app, set, err, CFG_ERR_MAX);
}

START_TEST(test_progress_then_result)
{
    struct mod_set set = {0};
    char err[CFG_ERR_MAX];
    int app = -1;
    int fds[2] = {snapshot(true), snapshot(true)};
    struct modcheck_msg m = rec(MODCHECK_PROGRESS, 1, 0, "checking");
    send_rec(&m, sizeof(m), NULL, 0);
    ck_assert_int_eq(receive(&set, &app, err), 1);
    ck_assert_int_eq(app, 1);
    ck_assert_int_eq(receive(&set, &app, err), 1); /* nothing to read yet */
    m = rec(MODCHECK_RESULT, -1, 2, "");
    send_rec(&m, sizeof(m), fds, 2);
    close(fds[0]);
    close(fds[1]);
    int before = fds_open();
    ck_assert_int_eq(receive(&set, &app, err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(set.n, 2);
    ck_assert_int_eq(fds_open(), before + 2);
    ck_assert_int_ge(fcntl(set.fd[0], F_GET_SEALS), 0);
    mod_set_close(&set);
    ck_assert_int_eq(fds_open(), before);
    close(sv[1]);
    sv[1] = -1;
    ck_assert_int_eq(receive(&set, &app, err), -1);
    ck_assert_str_eq(err, "EOF");
}
END_TEST

/* A refusal names the section's file and line from the master's own configuration, and the
 * child's text is cut to its record and cleaned of control characters. */
START_TEST(test_refusal_text)
{
    struct mod_set set = {0};
    char err[CFG_ERR_MAX];
    int app = -1;
    struct modcheck_msg m = rec(MODCHECK_RESULT, 1, 0, "check: bad\x1b[31m key\nx");
    send_rec(&m, sizeof(m), NULL, 0);
    ck_assert_int_eq(receive(&set, &app, err), 0);
    ck_assert_str_eq(err, "/etc/s.ini:12: app \"web\": module /m/web.so: check: bad?[31m key?x");
    ck_assert_int_eq(set.n, 0);

    memset(m.text, 'A', sizeof(m.text)); /* no NUL at all */
    send_rec(&m, sizeof(m), NULL, 0);
    ck_assert_int_eq(receive(&set, &app, err), 0);
    ck_assert_uint_lt(strlen(err), CFG_ERR_MAX);
}
END_TEST

/* Records of the wrong size, kind or range: malformed, whatever they carry. */
START_TEST(test_malformed)
{
    struct mod_set set = {0};
    char err[CFG_ERR_MAX];
    int app = -1;
    struct modcheck_msg m = rec(MODCHECK_RESULT, -1, 2, "");
    const struct modcheck_msg bad[] = {
        rec(0x1234, 0, 0, ""),             /* unknown type */
        rec(MODCHECK_PROGRESS, 2, 0, ""),  /* app out of range */
        rec(MODCHECK_PROGRESS, -7, 0, ""), /* negative */
        rec(MODCHECK_RESULT, 9, 0, "x"),   /* failing app out of range */
        rec(MODCHECK_RESULT, -1, 1, ""),   /* one snapshot for two apps */
        rec(MODCHECK_RESULT, -2, 0, "x"),  /* neither ok nor an app */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        send_rec(&bad[i], sizeof(bad[i]), NULL, 0);
        ck_assert_int_eq(receive(&set, &app, err), -1);
        ck_assert_msg(strstr(err, "malformed report"), "record %zu: %s", i, err);
    }
    m.magic ^= 1;
    send_rec(&m, sizeof(m), NULL, 0);
    ck_assert_int_eq(receive(&set, &app, err), -1);
    m = rec(MODCHECK_RESULT, -1, 0, "");
    send_rec(&m, sizeof(m) - 1, NULL, 0); /* short */
    ck_assert_int_eq(receive(&set, &app, err), -1);
    ck_assert_int_eq(set.n, 0);
    ck_assert_int_eq(app, -1);
}
END_TEST

/* Descriptors: in the wrong record, too many, not memfds, not sealed. None stays open. */
START_TEST(test_descriptors)
{
    struct mod_set set = {0};
    char err[CFG_ERR_MAX];
    int app = -1, p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    int sealed = snapshot(true), unsealed = snapshot(false);
    int before = fds_open();

    struct modcheck_msg m = rec(MODCHECK_PROGRESS, 0, 0, "");
    int two[2] = {sealed, sealed};
    send_rec(&m, sizeof(m), two, 2); /* a PROGRESS carries none */
    ck_assert_int_eq(receive(&set, &app, err), -1);
    ck_assert_int_eq(fds_open(), before);

    m = rec(MODCHECK_RESULT, 0, 0, "refused");
    send_rec(&m, sizeof(m), two, 1); /* nor does a refusal */
    ck_assert_int_eq(receive(&set, &app, err), -1);
    ck_assert_int_eq(fds_open(), before);

    int three[3] = {sealed, sealed, sealed};
    m = rec(MODCHECK_RESULT, -1, 2, "");
    send_rec(&m, sizeof(m), three, 3);
    ck_assert_int_eq(receive(&set, &app, err), -1);
    ck_assert_int_eq(fds_open(), before);

    int pipe_fd[2] = {sealed, p[0]};
    send_rec(&m, sizeof(m), pipe_fd, 2);
    ck_assert_int_eq(receive(&set, &app, err), -1);
    ck_assert_str_eq(err, "/etc/s.ini:12: app \"web\": module /m/web.so: the check sent back "
                          "something else than a sealed snapshot");
    ck_assert_int_eq(fds_open(), before);

    int open_fd[2] = {unsealed, sealed};
    send_rec(&m, sizeof(m), open_fd, 2);
    ck_assert_int_eq(receive(&set, &app, err), -1);
    ck_assert(strstr(err, "app \"api\""));
    ck_assert_int_eq(fds_open(), before);
    ck_assert_int_eq(set.n, 0);
    close(p[0]);
    close(p[1]);
    close(sealed);
    close(unsealed);
}
END_TEST

/* -t, start: no application, no child. */
START_TEST(test_no_apps)
{
    struct mod_set set = {.n = 3};
    char err[CFG_ERR_MAX] = "";
    cfg.napps = 0;
    ck_assert_int_eq(modcheck_run(&cfg, &set, err, sizeof(err)), 0);
    ck_assert_int_eq(set.n, 0);
}
END_TEST

Suite *
modcheck_suite(void)
{
    Suite *s = suite_create("modcheck");
    TCase *tc = tcase_create("receive");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_progress_then_result);
    tcase_add_test(tc, test_refusal_text);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_descriptors);
    tcase_add_test(tc, test_no_apps);
    suite_add_tcase(s, tc);
    return s;
}
