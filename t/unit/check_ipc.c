/* Unit tests for common/ipc.c over a real SOCK_SEQPACKET socketpair: round trips with and without
 * descriptors, and every malformed record a compromised worker could write (short, long,
 * unknown type, descriptors the type does not carry, more than fit) discarded with its
 * descriptors closed, none leaked; ipc_send never blocks on a peer that does not read. The
 * hand-over records likewise: SCM_MAX_FD connections in one, every lie about the count, size,
 * flags or descriptors, and descriptors cut short (MSG_CTRUNC). */
#include "common/ipc.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t/unit/fds.h"

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

/* ipc_recv for a small message: its header into *msg, its descriptors (at most IPC_MAX_FDS
 * are expected; any more fail the test) into fds. */
static int
recv_msg(int sock, struct ipc_msg *msg, int *fds, int *nfds)
{
    static struct ipc_conns rec;
    static int all[IPC_CONNS_MAX];
    int rc = ipc_recv(sock, &rec, all, nfds);
    ck_assert_int_le(*nfds, IPC_MAX_FDS);
    memcpy(fds, all, sizeof(int) * (size_t)*nfds);
    *msg = rec.msg;
    return rc;
}

/* The next ipc_recv must discard a malformed record: -1, EPROTO, no descriptors. */
static void
expect_discarded(const char *what)
{
    struct ipc_msg msg;
    int fds[IPC_MAX_FDS], nfds = -1;
    errno = 0;
    int rc = recv_msg(sv[1], &msg, fds, &nfds);
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
    ck_assert_int_eq(recv_msg(sv[1], &msg, fds, &nfds), 1);
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
    ck_assert_int_eq(recv_msg(sv[1], &out, fds, &nfds), 1);
    ck_assert_int_eq(memcmp(&in, &out, sizeof(in)), 0);
    ck_assert_int_eq(nfds, 0);
}
END_TEST

START_TEST(test_empty_and_eof)
{
    struct ipc_msg msg;
    int fds[IPC_MAX_FDS], nfds;
    errno = 0;
    ck_assert_int_eq(recv_msg(sv[1], &msg, fds, &nfds), -1);
    ck_assert_int_eq(errno, EAGAIN);
    close(sv[0]);
    sv[0] = -1;
    ck_assert_int_eq(recv_msg(sv[1], &msg, fds, &nfds), 0);
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
    ck_assert_int_eq(recv_msg(sv[1], &out, fds, &nfds), 1);
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
    ck_assert_int_eq(recv_msg(sv[1], &out, fds, &nfds), 1);
    ck_assert_uint_eq(out.type, IPC_LOG_FD);
    ck_assert_int_eq(out.value, IPC_LOG_ERROR);
    ck_assert_int_eq(nfds, 1);
    close(fds[0]);
    close(fd);
}
END_TEST

START_TEST(test_truncated)
{
    int base = fds_open();
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
    ck_assert_int_eq(fds_open(), base);
}
END_TEST

START_TEST(test_oversized)
{
    int base = fds_open();
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
    ck_assert_int_eq(fds_open(), base);
}
END_TEST

START_TEST(test_unknown_type)
{
    int base = fds_open();
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
    ck_assert_int_eq(fds_open(), base);
}
END_TEST

/* Descriptors a type does not carry (extra ones, or missing ones) make the record invalid. */
START_TEST(test_wrong_fd_count)
{
    int base = fds_open();
    int fds[3];
    make_fds(fds, 3);
    const struct {
        uint32_t type;
        int nfds;
    } cases[] = {
        {IPC_READY, 1},  {IPC_RELEASE, 3}, {IPC_LOG_FD, 0},
        {IPC_LOG_FD, 2}, {IPC_ADOPT, 0},   {IPC_DRAIN, 1},
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
    ck_assert_int_eq(fds_open(), base);
}
END_TEST

/* More descriptors than any message carries: none stays open in the receiver. */
START_TEST(test_too_many_fds)
{
    int base = fds_open();
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
    ck_assert_int_eq(fds_open(), base);
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

/* ---- hand-over records (struct ipc_conns) ---- */

/* A record of `n` connections of `type`: connection i has nrequests 1000 + i, listener i % 16,
 * flags `flags`. */
static void
fill_conns(struct ipc_conns *rec, uint32_t type, int n, uint16_t flags)
{
    memset(rec, 0, sizeof(*rec));
    rec->msg = (struct ipc_msg){.type = type, .slot = 1, .generation = 9, .value = n};
    for (int i = 0; i < n && i < IPC_CONNS_MAX; i++)
        rec->conn[i] = (struct ipc_conn){
            .nrequests = 1000 + (uint32_t)i, .listener = (uint16_t)(i % 16), .flags = flags};
}

/* The size of a record of n connections on the wire. */
static size_t
conns_len(int n)
{
    return sizeof(struct ipc_msg) + sizeof(struct ipc_conn) * (size_t)n;
}

/* SCM_MAX_FD connections in one record, each descriptor the same open file as the one sent,
 * in order, with its count, listener and flags. */
START_TEST(test_conns_round_trip)
{
    static struct ipc_conns in, out;
    static int send_fds[IPC_CONNS_MAX], fds[IPC_CONNS_MAX];
    int base = fds_open();
    make_fds(send_fds, IPC_CONNS_MAX);
    fill_conns(&in, IPC_TAKE, IPC_CONNS_MAX, IPC_CONN_RETRY);
    ck_assert_int_eq(ipc_send_conns(sv[0], &in, send_fds), 0);
    int nfds = -1;
    ck_assert_int_eq(ipc_recv(sv[1], &out, fds, &nfds), 1);
    ck_assert_int_eq(nfds, IPC_CONNS_MAX);
    ck_assert_int_eq(memcmp(&in, &out, conns_len(IPC_CONNS_MAX)), 0);
    for (int i = 0; i < IPC_CONNS_MAX; i++) {
        struct stat a, b;
        ck_assert_int_eq(fstat(send_fds[i], &a), 0);
        ck_assert_int_eq(fstat(fds[i], &b), 0);
        ck_assert_msg(a.st_ino == b.st_ino && a.st_dev == b.st_dev,
                      "descriptor %d is not the one sent at %d", fds[i], i);
        ck_assert_int_eq(fcntl(fds[i], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    }
    close_fds(fds, IPC_CONNS_MAX);
    close_fds(send_fds, IPC_CONNS_MAX);
    ck_assert_int_eq(fds_open(), base);
}
END_TEST

/* Every way a hand-over record can lie about itself is discarded with its descriptors. */
START_TEST(test_conns_malformed)
{
    static struct ipc_conns rec;
    int base = fds_open();
    int fds[8];
    make_fds(fds, 8);
    /* a count of none, and more than SCM_MAX_FD */
    fill_conns(&rec, IPC_HANDOFF, 3, 0);
    rec.msg.value = 0;
    send_raw(&rec, conns_len(0), fds, 1);
    rec.msg.value = IPC_CONNS_MAX + 1;
    send_raw(&rec, conns_len(3), fds, 3);
    rec.msg.value = -1;
    send_raw(&rec, conns_len(3), fds, 3);
    /* the count says 3: two entries, or four; two descriptors, or four; none */
    fill_conns(&rec, IPC_HANDBACK, 3, 0);
    send_raw(&rec, conns_len(2), fds, 3);
    send_raw(&rec, conns_len(4), fds, 3);
    send_raw(&rec, conns_len(3), fds, 2);
    send_raw(&rec, conns_len(3), fds, 4);
    send_raw(&rec, conns_len(3), NULL, 0);
    /* a flag nobody defined */
    fill_conns(&rec, IPC_TAKE, 3, 0);
    rec.conn[2].flags = 2;
    send_raw(&rec, conns_len(3), fds, 3);
    /* a small message's size for a record type */
    fill_conns(&rec, IPC_TAKE, 1, 0);
    send_raw(&rec, sizeof(rec.msg), fds, 1);
    /* a record's size for a small message type */
    fill_conns(&rec, IPC_CREDIT, 1, 0);
    send_raw(&rec, conns_len(1), NULL, 0);
    send_ready();
    close_fds(fds, 8);
    const char *what[] = {"count 0",
                          "count 254",
                          "count -1",
                          "2 entries of 3",
                          "4 entries of 3",
                          "2 descriptors of 3",
                          "4 descriptors of 3",
                          "no descriptors",
                          "unknown flag",
                          "record type, message size",
                          "message type, record size"};
    for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++)
        expect_discarded(what[i]);
    expect_ready_next();
    ck_assert_int_eq(fds_open(), base);
}
END_TEST

/* Descriptors that do not all arrive (here the receiver is at its RLIMIT_NOFILE: the kernel
 * installs what fits and sets MSG_CTRUNC): the record is discarded, what arrived is closed. */
START_TEST(test_conns_ctrunc)
{
    static struct ipc_conns rec;
    int fds[6], got[IPC_CONNS_MAX], nfds = -1;
    make_fds(fds, 6);
    fill_conns(&rec, IPC_TAKE, 6, 0);
    ck_assert_int_eq(ipc_send_conns(sv[0], &rec, fds), 0);
    send_ready();
    close_fds(fds, 6);
    /* Every descriptor below the limit taken but two: the kernel installs two of the six. */
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = 256;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int fill[256], nfill = 0, fd;
    while (nfill < 256 && (fd = dup(0)) >= 0)
        fill[nfill++] = fd;
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_ge(nfill, 2);
    close(fill[--nfill]);
    close(fill[--nfill]);
    int base = fds_open();
    errno = 0;
    int rc = ipc_recv(sv[1], &rec, got, &nfds);
    ck_assert_msg(rc == -1 && errno == EPROTO, "ipc_recv %d, errno %d (want -1, EPROTO)", rc,
                  errno);
    ck_assert_int_eq(nfds, 0);
    ck_assert_int_eq(fds_open(), base);
    /* The header that arrived, for the receiver to count what it lost. */
    ck_assert_uint_eq(rec.msg.type, IPC_TAKE);
    ck_assert_int_eq(rec.msg.value, 6);
    expect_ready_next();
    /* A record too short for a header leaves none, not the last one's. */
    fill_conns(&rec, IPC_TAKE, 6, 0);
    send_raw(&rec, 3, NULL, 0);
    ck_assert_int_eq(ipc_recv(sv[1], &rec, got, &nfds), -1);
    ck_assert_uint_eq(rec.msg.type, 0);
    ck_assert_int_eq(rec.msg.value, 0);
    close_fds(fill, nfill);
}
END_TEST

/* ipc_send carries no hand-over record, ipc_send_conns nothing else, and no bad count. */
START_TEST(test_send_conns_rejects)
{
    static struct ipc_conns rec;
    int fds[IPC_MAX_FDS] = {0};
    struct ipc_msg msg = {.type = IPC_TAKE, .value = 1};
    errno = 0;
    ck_assert_int_eq(ipc_send(sv[0], &msg, fds, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    const struct {
        uint32_t type;
        int value;
    } bad[] = {{IPC_READY, 1},
               {IPC_LOG_FD, 1},
               {IPC_TAKE, 0},
               {IPC_TAKE, IPC_CONNS_MAX + 1},
               {IPC_HANDOFF, -3}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fill_conns(&rec, bad[i].type, 1, 0);
        rec.msg.value = bad[i].value;
        errno = 0;
        ck_assert_int_eq(ipc_send_conns(sv[0], &rec, fds), -1);
        ck_assert_int_eq(errno, EINVAL);
    }
    errno = 0;
    struct ipc_msg none;
    int nfds;
    ck_assert_int_eq(recv_msg(sv[1], &none, fds, &nfds), -1);
    ck_assert_int_eq(errno, EAGAIN);
}
END_TEST

/* Random records (seeded, so a failure repeats): whatever the type, count, size and number of
 * descriptors, ipc_recv either returns a record whose size, count and descriptors agree, or
 * discards it with EPROTO; no descriptor is left open either way. */
START_TEST(test_conns_random)
{
    static struct ipc_conns rec, got;
    static int fds[8], recvd[IPC_CONNS_MAX];
    int base = fds_open();
    make_fds(fds, 8);
    unsigned seed = 12345;
    int valid = 0;
    for (int round = 0; round < 3000; round++) {
        int count = rand_r(&seed) % 12 - 1;
        fill_conns(&rec, (uint32_t)(rand_r(&seed) % (IPC_TYPE_END + 1)), count > 0 ? count : 0,
                   (uint16_t)(rand_r(&seed) % 7 == 0 ? rand_r(&seed) % 4 : 0));
        rec.msg.value = rand_r(&seed) % 5 == 0 ? rand_r(&seed) % 300 - 20 : count;
        size_t len = rand_r(&seed) % 3 == 0 ? (size_t)(rand_r(&seed) % 200)
                                            : conns_len(count > 0 ? count : 0);
        int nfds = rand_r(&seed) % 3 == 0 ? rand_r(&seed) % 9 : (count > 0 ? count % 9 : 0);
        if (len == 0)
            len = 1; /* a zero-length record reads as the end of the stream */
        send_raw(&rec, len, fds, nfds);
        int n = -1;
        errno = 0;
        int rc = ipc_recv(sv[1], &got, recvd, &n);
        if (rc == 1) {
            valid++;
            ck_assert_msg(n == 0 || n == got.msg.value || got.msg.type == IPC_ADOPT ||
                              got.msg.type == IPC_LOG_FD,
                          "round %d: type %u, value %d, %d descriptors", round, got.msg.type,
                          got.msg.value, n);
            close_fds(recvd, n);
        } else {
            ck_assert_msg(rc == -1 && errno == EPROTO && n == 0,
                          "round %d: ipc_recv %d, errno %d, %d descriptors", round, rc, errno, n);
        }
    }
    close_fds(fds, 8);
    ck_assert_int_gt(valid, 0);
    ck_assert_int_eq(fds_open(), base);
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
    tcase_add_test(tc, test_conns_round_trip);
    tcase_add_test(tc, test_conns_malformed);
    tcase_add_test(tc, test_conns_ctrunc);
    tcase_add_test(tc, test_send_conns_rejects);
    tcase_add_test(tc, test_conns_random);
    suite_add_tcase(s, tc);
    return s;
}
