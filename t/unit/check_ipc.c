/* Unit tests for common/ipc.c over a real SOCK_SEQPACKET socketpair: round trips with and without
 * descriptors, and every malformed record a compromised worker could write (short, long,
 * unknown type, descriptors the type does not carry, more than fit) discarded with its
 * descriptors closed, none leaked; ipc_send never blocks on a peer that does not read. */
#include "common/ipc.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int sv[2]; /* sv[0]: the sender (a worker, say), sv[1]: the receiver */

static void
setup(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void
teardown(void)
{
    close(sv[0]);
    close(sv[1]);
}

/* Descriptors open in this process (each test runs in its own). */
static int
open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the DIR's own */
}

/* A raw record: `len` bytes of `data` with `nfds` descriptors, bypassing ipc_send's checks. */
static void
send_raw(const void *data, size_t len, const int *fds, int nfds)
{
    struct iovec iov = {(void *)data, len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 64)];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ck_assert_int_le(nfds, 64);
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ck_assert_int_eq(sendmsg(sv[0], &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* `n` descriptors to pass: the read ends of pipes (write ends closed). */
static void
make_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        int p[2];
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        close(p[1]);
        fds[i] = p[0];
    }
}

static void
close_fds(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* The next ipc_recv must discard a malformed record: -1, EPROTO, no descriptors. */
static void
expect_discarded(const char *what)
{
    struct ipc_msg msg;
    int fds[IPC_MAX_FDS], nfds = -1;
    errno = 0;
    int rc = ipc_recv(sv[1], &msg, fds, &nfds);
    ck_assert_msg(rc == -1 && errno == EPROTO, "%s: ipc_recv %d, errno %d (want -1, EPROTO)", what,
                  rc, errno);
    ck_assert_int_eq(nfds, 0);
}

/* The next ipc_recv must be a valid READY record from slot 7: the stream goes on after a bad
 * one. */
static void
expect_ready_next(void)
{
    struct ipc_msg msg;
    int fds[IPC_MAX_FDS], nfds;
    ck_assert_int_eq(ipc_recv(sv[1], &msg, fds, &nfds), 1);
    ck_assert_uint_eq(msg.type, IPC_READY);
    ck_assert_uint_eq(msg.slot, 7);
    ck_assert_int_eq(nfds, 0);
}

static void
send_ready(void)
{
    struct ipc_msg msg = {.type = IPC_READY, .slot = 7};
    ck_assert_int_eq(ipc_send(sv[0], &msg, NULL, 0), 0);
}

START_TEST(test_round_trip)
{
    struct ipc_msg in = {.type = IPC_RELEASE, .slot = 3, .generation = 42, .value = -5}, out;
    int fds[IPC_MAX_FDS], nfds = -1;
    ck_assert_int_eq(ipc_send(sv[0], &in, NULL, 0), 0);
    ck_assert_int_eq(ipc_recv(sv[1], &out, fds, &nfds), 1);
    ck_assert_int_eq(memcmp(&in, &out, sizeof(in)), 0);
    ck_assert_int_eq(nfds, 0);
}
END_TEST

START_TEST(test_empty_and_eof)
{
    struct ipc_msg msg;
    int fds[IPC_MAX_FDS], nfds;
    errno = 0;
    ck_assert_int_eq(ipc_recv(sv[1], &msg, fds, &nfds), -1);
    ck_assert_int_eq(errno, EAGAIN);
    close(sv[0]);
    sv[0] = -1;
    ck_assert_int_eq(ipc_recv(sv[1], &msg, fds, &nfds), 0);
}
END_TEST

/* Descriptors arrive as new, close-on-exec descriptors for the same open files. */
START_TEST(test_fd_passing)
{
    int p[2], q[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
    int send_fds[2] = {p[1], q[1]};
    struct ipc_msg in = {.type = IPC_ADOPT, .slot = 2}, out;
    ck_assert_int_eq(ipc_send(sv[0], &in, send_fds, 2), 0);
    int fds[IPC_MAX_FDS], nfds;
    ck_assert_int_eq(ipc_recv(sv[1], &out, fds, &nfds), 1);
    ck_assert_int_eq(nfds, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_ne(fds[i], send_fds[i]);
        ck_assert_int_eq(fcntl(fds[i], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    }
    char c = 0;
    ck_assert_int_eq(write(fds[0], "a", 1), 1);
    ck_assert_int_eq(write(fds[1], "b", 1), 1);
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    ck_assert_int_eq(c, 'a');
    ck_assert_int_eq(read(q[0], &c, 1), 1);
    ck_assert_int_eq(c, 'b');
    close_fds(fds, 2);
    close_fds(p, 2);
    close_fds(q, 2);
}
END_TEST

START_TEST(test_log_fd)
{
    int fd;
    make_fds(&fd, 1);
    struct ipc_msg in = {.type = IPC_LOG_FD, .value = IPC_LOG_ERROR}, out;
    ck_assert_int_eq(ipc_send(sv[0], &in, &fd, 1), 0);
    int fds[IPC_MAX_FDS], nfds;
    ck_assert_int_eq(ipc_recv(sv[1], &out, fds, &nfds), 1);
    ck_assert_uint_eq(out.type, IPC_LOG_FD);
    ck_assert_int_eq(out.value, IPC_LOG_ERROR);
    ck_assert_int_eq(nfds, 1);
    close(fds[0]);
    close(fd);
}
END_TEST

START_TEST(test_truncated)
{
    int base = open_fds();
    int fds[2];
    make_fds(fds, 2);
    struct ipc_msg msg = {.type = IPC_ADOPT};
    send_raw(&msg, sizeof(msg) - 1, fds, 2);
    send_raw(&msg, 1, NULL, 0);
    send_ready();
    close_fds(fds, 2);
    expect_discarded("short record with descriptors");
    expect_discarded("one-byte record");
    expect_ready_next();
    ck_assert_int_eq(open_fds(), base);
}
END_TEST

START_TEST(test_oversized)
{
    int base = open_fds();
    int fd;
    make_fds(&fd, 1);
    struct ipc_msg big[2] = {{.type = IPC_LOG_FD, .value = IPC_LOG_ERROR}};
    send_raw(big, sizeof(big), &fd, 1);
    char huge[4096];
    memset(huge, 0xff, sizeof(huge));
    send_raw(huge, sizeof(huge), NULL, 0);
    send_ready();
    close(fd);
    expect_discarded("record longer than a message");
    expect_discarded("4 KiB of garbage");
    expect_ready_next();
    ck_assert_int_eq(open_fds(), base);
}
END_TEST

START_TEST(test_unknown_type)
{
    int base = open_fds();
    int fd;
    make_fds(&fd, 1);
    const uint32_t types[] = {0, IPC_TYPE_END, 0xffffffffu};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct ipc_msg msg = {.type = types[i]};
        send_raw(&msg, sizeof(msg), &fd, 1);
    }
    send_ready();
    close(fd);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        expect_discarded("unknown type");
    expect_ready_next();
    ck_assert_int_eq(open_fds(), base);
}
END_TEST

/* Descriptors a type does not carry (extra ones, or missing ones) make the record invalid. */
START_TEST(test_wrong_fd_count)
{
    int base = open_fds();
    int fds[3];
    make_fds(fds, 3);
    const struct {
        uint32_t type;
        int nfds;
    } cases[] = {
        {IPC_READY, 1}, {IPC_RELEASE, 3}, {IPC_LOG_FD, 0}, {IPC_LOG_FD, 2}, {IPC_ADOPT, 0},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        struct ipc_msg msg = {.type = cases[i].type, .value = IPC_LOG_ERROR};
        send_raw(&msg, sizeof(msg), fds, cases[i].nfds);
    }
    send_ready();
    close_fds(fds, 3);
    for (size_t i = 0; i < n; i++)
        expect_discarded("wrong number of descriptors");
    expect_ready_next();
    ck_assert_int_eq(open_fds(), base);
}
END_TEST

/* More descriptors than any message carries: none stays open in the receiver. */
START_TEST(test_too_many_fds)
{
    int base = open_fds();
    int fds[40];
    make_fds(fds, 40);
    struct ipc_msg msg = {.type = IPC_ADOPT};
    send_raw(&msg, sizeof(msg), fds, IPC_MAX_FDS + 1);
    send_raw(&msg, sizeof(msg), fds, 40);
    send_ready();
    close_fds(fds, 40);
    expect_discarded("IPC_MAX_FDS + 1 descriptors");
    expect_discarded("40 descriptors");
    expect_ready_next();
    ck_assert_int_eq(open_fds(), base);
}
END_TEST

START_TEST(test_send_rejects_bad_counts)
{
    int fds[IPC_MAX_FDS + 1] = {0};
    struct ipc_msg msg = {.type = IPC_ADOPT};
    errno = 0;
    ck_assert_int_eq(ipc_send(sv[0], &msg, fds, IPC_MAX_FDS + 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(ipc_send(sv[0], &msg, fds, -1), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* A peer that never reads fills its socket; the sender gets EAGAIN instead of blocking (the
 * master must never block on a worker). Bounded: a socket buffer holds far fewer records. */
START_TEST(test_send_never_blocks)
{
    struct ipc_msg msg = {.type = IPC_RELEASE};
    int i, rc = 0;
    for (i = 0; i < 1000000 && (rc = ipc_send(sv[0], &msg, NULL, 0)) == 0; i++)
        ;
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_gt(i, 0);
}
END_TEST

Suite *
ipc_suite(void)
{
    Suite *s = suite_create("ipc");
    TCase *tc = tcase_create("ipc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_empty_and_eof);
    tcase_add_test(tc, test_fd_passing);
    tcase_add_test(tc, test_log_fd);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_oversized);
    tcase_add_test(tc, test_unknown_type);
    tcase_add_test(tc, test_wrong_fd_count);
    tcase_add_test(tc, test_too_many_fds);
    tcase_add_test(tc, test_send_rejects_bad_counts);
    tcase_add_test(tc, test_send_never_blocks);
    suite_add_tcase(s, tc);
    return s;
}
