/* Unit tests for master/relay.c over real SOCK_SEQPACKET socketpairs: which listen line a
 * handed-over connection maps to in another generation (same address group, same flags, or
 * none), what reaches the receiving worker (IPC_TAKE) and what goes back to the sender
 * (IPC_HANDBACK, IPC_RETURN, with or without IPC_CONN_RETRY), exactly one settling message
 * (IPC_CREDIT or IPC_RETURN) per record, a receiver whose socket is full, a sender that names a
 * listen line it does not have, a handback whose origin is gone; and that the relay keeps no
 * descriptor in any case. */
#include "master/relay.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cfg.h"
#include "t/unit/fds.h"

/* Two generations: A with lines {0: group 0, 1: group 1, 2: group 2 proxy}, B with lines
 * {0: group 1, 1: group 0, 2: group 2 (now without proxy)}. */
static struct cfg cfg_a, cfg_b;
static const int lidx_a[] = {0, 1, 2}, lidx_b[] = {1, 0, 2};
static int from_sv[2], to_sv[2]; /* [0]: the master's end, [1]: the worker's */
static struct relay_end from, to;

static void
setup(void)
{
    memset(&cfg_a, 0, sizeof(cfg_a));
    memset(&cfg_b, 0, sizeof(cfg_b));
    cfg_a.nlisten = cfg_b.nlisten = 3;
    cfg_a.listen[2].flags = CFG_LISTEN_PROXY;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, from_sv),
                     0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, to_sv),
                     0);
    from = (struct relay_end){
        .ipc_fd = from_sv[0], .slot = 1, .generation = 4, .cfg = &cfg_a, .lidx = lidx_a};
    to = (struct relay_end){
        .ipc_fd = to_sv[0], .slot = 0, .generation = 5, .cfg = &cfg_b, .lidx = lidx_b};
}

static void
teardown(void)
{
    close(from_sv[0]);
    close(from_sv[1]);
    close(to_sv[0]);
    close(to_sv[1]);
}

/* n connections on the given listen lines of A, as a worker of A sends them: fds are pipe
 * read ends (the relay never looks at what they are). */
static void
make_record(struct ipc_conns *rec, int *fds, const int *lines, int n)
{
    memset(rec, 0, sizeof(*rec));
    rec->msg = (struct ipc_msg){.type = IPC_HANDOFF, .slot = 1, .generation = 4, .value = n};
    for (int i = 0; i < n; i++) {
        int p[2];
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        close(p[1]);
        fds[i] = p[0];
        rec->conn[i] =
            (struct ipc_conn){.nrequests = 100 + (uint32_t)i, .listener = (uint16_t)lines[i]};
    }
}

/* The next message on a worker's end; its descriptors are closed. Returns the record, its
 * descriptor count in *nfds; type 0 when nothing is waiting. */
static const struct ipc_conns *
next_msg(int sock, int *nfds)
{
    static struct ipc_conns rec;
    static int fds[IPC_CONNS_MAX];
    memset(&rec, 0, sizeof(rec));
    *nfds = 0;
    int rc = ipc_recv(sock, &rec, fds, nfds);
    if (rc != 1) {
        ck_assert_int_eq(errno, EAGAIN);
        rec.msg.type = 0;
    }
    for (int i = 0; i < *nfds; i++)
        close(fds[i]);
    return &rec;
}

START_TEST(test_map_listener)
{
    ck_assert_int_eq(relay_map_listener(&from, &to, 0), 1);  /* group 0: B's line 1 */
    ck_assert_int_eq(relay_map_listener(&from, &to, 1), 0);  /* group 1: B's line 0 */
    ck_assert_int_eq(relay_map_listener(&from, &to, 2), -1); /* proxy flag dropped */
    ck_assert_int_eq(relay_map_listener(&from, &to, 3), -1); /* no such line */
    ck_assert_int_eq(relay_map_listener(&from, &to, 65535), -1);
    ck_assert_int_eq(relay_map_listener(&to, &from, 0), 1);
    ck_assert_int_eq(relay_map_listener(&to, &from, 2), -1);
    cfg_b.nlisten = 1; /* B without group 0: a removed address */
    ck_assert_int_eq(relay_map_listener(&from, &to, 0), -1);
    ck_assert_int_eq(relay_map_listener(&from, &to, 1), 0);
}
END_TEST

/* Lines 0 and 1 move (renumbered for B), line 2 cannot (its flags changed) and goes back for
 * good, line 7 does not exist and is closed; then one credit. */
START_TEST(test_handoff_mixed)
{
    static struct ipc_conns rec;
    int fds[4], nfds, base = fds_open();
    const int lines[] = {0, 2, 1, 7};
    make_record(&rec, fds, lines, 4);
    ck_assert_int_eq(relay_handoff(&from, &to, &rec, fds, 4), 2);
    ck_assert_int_eq(fds_open(), base); /* every descriptor closed in the relay */

    const struct ipc_conns *m = next_msg(to_sv[1], &nfds);
    ck_assert_uint_eq(m->msg.type, IPC_TAKE);
    ck_assert_uint_eq(m->msg.slot, 1); /* the origin */
    ck_assert_uint_eq(m->msg.generation, 4);
    ck_assert_int_eq(nfds, 2);
    ck_assert_uint_eq(m->conn[0].listener, 1);
    ck_assert_uint_eq(m->conn[0].nrequests, 100);
    ck_assert_uint_eq(m->conn[1].listener, 0);
    ck_assert_uint_eq(m->conn[1].nrequests, 102);
    ck_assert_uint_eq(m->conn[0].flags | m->conn[1].flags, 0);
    ck_assert_uint_eq(next_msg(to_sv[1], &nfds)->msg.type, 0);

    m = next_msg(from_sv[1], &nfds);
    ck_assert_uint_eq(m->msg.type, IPC_HANDBACK); /* not settled: the receiver has not answered */
    ck_assert_int_eq(nfds, 1);
    ck_assert_uint_eq(m->conn[0].listener, 2);
    ck_assert_uint_eq(m->conn[0].nrequests, 101);
    ck_assert_uint_eq(m->conn[0].flags, 0); /* final: it will never move */
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, 0);
    /* The receiver took both: now the record is settled. */
    relay_taken(&from);
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, IPC_CREDIT);
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, 0);
    relay_taken(NULL); /* an origin that is gone: nothing to send, nothing to crash on */
}
END_TEST

/* No serving worker: everything goes back, to be tried again, then the credit. */
START_TEST(test_handoff_no_target)
{
    static struct ipc_conns rec;
    int fds[2], nfds, base = fds_open();
    const int lines[] = {0, 2};
    make_record(&rec, fds, lines, 2);
    ck_assert_int_eq(relay_handoff(&from, NULL, &rec, fds, 2), 0);
    ck_assert_int_eq(fds_open(), base);
    const struct ipc_conns *m = next_msg(from_sv[1], &nfds);
    ck_assert_uint_eq(m->msg.type, IPC_RETURN); /* back, and settled */
    ck_assert_int_eq(nfds, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(m->conn[i].listener, (unsigned)lines[i]);
        ck_assert_uint_eq(m->conn[i].flags, IPC_CONN_RETRY);
    }
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, 0);
}
END_TEST

/* A receiver whose socket is full: what was for it goes back to be tried again, in the
 * sender's numbering; the master did not block. */
START_TEST(test_handoff_receiver_full)
{
    static struct ipc_conns rec;
    int fds[2], nfds;
    struct ipc_msg filler = {.type = IPC_RELEASE};
    int sent = 0;
    while (ipc_send(to_sv[0], &filler, NULL, 0) == 0)
        ck_assert_int_lt(++sent, 100000);
    ck_assert_int_eq(errno, EAGAIN);
    int base = fds_open();
    const int lines[] = {0, 1};
    make_record(&rec, fds, lines, 2);
    ck_assert_int_eq(relay_handoff(&from, &to, &rec, fds, 2), 0);
    ck_assert_int_eq(fds_open(), base);
    const struct ipc_conns *m = next_msg(from_sv[1], &nfds);
    ck_assert_uint_eq(m->msg.type, IPC_RETURN);
    ck_assert_int_eq(nfds, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(m->conn[i].listener, (unsigned)lines[i]);
        ck_assert_uint_eq(m->conn[i].nrequests, 100 + (unsigned)i);
        ck_assert_uint_eq(m->conn[i].flags, IPC_CONN_RETRY);
    }
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, 0);
}
END_TEST

/* A receiver at max_connections hands connections back: they reach their origin in its own
 * numbering, to be tried again; with the origin gone they are closed. */
START_TEST(test_handback)
{
    static struct ipc_conns rec;
    int fds[2], nfds, base = fds_open();
    const int b_lines[] = {1, 2}; /* B's line 1 is A's line 0; B's line 2 has no twin in A */
    make_record(&rec, fds, b_lines, 2);
    rec.msg.type = IPC_HANDBACK;
    relay_handback(&to, &from, &rec, fds, 2);
    ck_assert_int_eq(fds_open(), base);
    const struct ipc_conns *m = next_msg(from_sv[1], &nfds);
    ck_assert_uint_eq(m->msg.type, IPC_RETURN); /* back, and the record settled */
    ck_assert_int_eq(nfds, 1);
    ck_assert_uint_eq(m->conn[0].listener, 0);
    ck_assert_uint_eq(m->conn[0].flags, IPC_CONN_RETRY);
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, 0);

    /* None that can go back: settled all the same. */
    const int b_only[] = {2, 2};
    make_record(&rec, fds, b_only, 2);
    relay_handback(&to, &from, &rec, fds, 2);
    ck_assert_int_eq(fds_open(), base);
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, IPC_CREDIT);

    make_record(&rec, fds, b_lines, 2);
    relay_handback(&to, NULL, &rec, fds, 2);
    ck_assert_int_eq(fds_open(), base);
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, 0);
}
END_TEST

/* A record that arrived without its descriptors: nothing to pass on, but the credit goes
 * back, or the worker would wait for it. */
START_TEST(test_lost_record_credit)
{
    int nfds;
    relay_lost(&from, 5);
    relay_lost(&from, -7); /* a count nobody should trust */
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, IPC_CREDIT);
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, IPC_CREDIT);
    ck_assert_uint_eq(next_msg(from_sv[1], &nfds)->msg.type, 0);
    ck_assert_uint_eq(next_msg(to_sv[1], &nfds)->msg.type, 0);
}
END_TEST

Suite *
relay_suite(void)
{
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("relay");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_map_listener);
    tcase_add_test(tc, test_handoff_mixed);
    tcase_add_test(tc, test_handoff_no_target);
    tcase_add_test(tc, test_handoff_receiver_full);
    tcase_add_test(tc, test_handback);
    tcase_add_test(tc, test_lost_record_credit);
    suite_add_tcase(s, tc);
    return s;
}
