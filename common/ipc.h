/* Messages between the master and a worker over their SOCK_SEQPACKET socketpair: one fixed-size
 * record per message (a read never sees half of one), with descriptors attached as SCM_RIGHTS
 * where the message hands sockets or log files over. The master never trusts what a worker
 * writes: ipc_recv discards a record of the wrong size, an unknown type, or descriptors the type
 * does not carry, and closes every descriptor that came with it. */
#ifndef SLUICE_IPC_H
#define SLUICE_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IPC_MAX_FDS 16    /* descriptors of a small message: CFG_MAX_LISTEN */
#define IPC_CONNS_MAX 253 /* connections of one hand-over record: SCM_MAX_FD */
#define IPC_CREDITS 4     /* hand-over records a worker may have unsettled */

enum ipc_type {
    IPC_READY = 1, /* worker -> master: started (worker_start done), accepting */
    IPC_ADOPT,     /* master -> worker: accept on these sockets of slot `slot` too (1+ fds) */
    IPC_RELEASE,   /* master -> worker: slot `slot` has its own worker again: give them back */
    IPC_LOG_FD,    /* master -> worker: log `value` (enum ipc_log) now goes to this fd (1 fd) */
    /* Invisible reloads: idle keep-alive connections of a retiring worker move to a serving
     * one through the master. The records below carry `value` connections (struct
     * ipc_conns), one descriptor each; slot and generation name the worker they came from
     * (their origin). Each IPC_HANDOFF costs its origin one credit, which comes back with
     * the one message that settles it (IPC_CREDIT or IPC_RETURN), once the receiver has
     * answered: so every message the master owes a worker is bounded by its credit. */
    IPC_RETIRE,   /* master -> worker: retire gracefully; `value` 1: hand idle connections over,
                   * 0: close them (a stop, an upgrade); SIGQUIT means the latter */
    IPC_RETIRING, /* worker -> master: at max_requests, asks to retire; the master answers
                   * IPC_RETIRE once another worker serves, so there is one to hand over to */
    IPC_HANDOFF,  /* worker -> master: place these connections (costs one credit) */
    IPC_CREDIT,   /* master -> worker: one IPC_HANDOFF settled; it may send another */
    IPC_TAKE,     /* master -> worker: serve these connections from now on; answer with
                   * IPC_TAKEN, or IPC_HANDBACK with those it cannot take */
    IPC_TAKEN,    /* worker -> master: all of an IPC_TAKE taken (no descriptors) */
    IPC_HANDBACK, /* worker -> master: these of an IPC_TAKE could not be taken (at
                   * max_connections); master -> worker: these of an IPC_HANDOFF come back
                   * now (flags as for IPC_RETURN), its credit later */
    IPC_RETURN,   /* master -> worker: these come back, and the IPC_HANDOFF is settled (its
                   * credit returns). IPC_CONN_RETRY on one: try it again later, else it can
                   * never move (it closes after its next response) */
    IPC_DRAIN,    /* master -> worker: a graceful stop began (drain_delay): health_path
                   * answers 503 from now on; nothing else changes (no descriptors) */
    IPC_TYPE_END, /* not a message: one past the last type */
};

/* Which log an IPC_LOG_FD replaces. The master opens every log file (it keeps root, so it can
 * after `user` is set, and it refuses symlinks) and hands the descriptor to each worker, at
 * reopen; a worker never opens a log by path. */
enum ipc_log {
    IPC_LOG_ERROR = 1, /* the error log (common/log.c) */
    IPC_LOG_ACCESS,    /* the access log of the worker's generation (worker/accesslog.c) */
    IPC_LOG_END,       /* one past the last id */
};

struct ipc_msg {
    uint32_t type;
    uint32_t slot;
    uint32_t generation;
    int32_t value;
};

/* One connection of a hand-over record. */
struct ipc_conn {
    uint32_t nrequests; /* requests already answered on it (max_keepalive_requests) */
    uint16_t listener;  /* its listen line, in the generation of the record's receiver */
    uint16_t flags;     /* IPC_CONN_RETRY or 0 */
};

#define IPC_CONN_RETRY 1 /* handed back for now (no serving worker, or one that is full) */

/* What ipc_recv reads into: a small message, or a hand-over record (msg.value connections,
 * conn[0 .. value - 1], one descriptor each, in order). */
struct ipc_conns {
    struct ipc_msg msg;
    struct ipc_conn conn[IPC_CONNS_MAX];
};

/* The framing under every message here, for other records of fixed size (the master's module
 * check, master/modcheck.c). Send one record of `len` bytes with `nfds` descriptors (0 ..
 * IPC_CONNS_MAX) without blocking. Returns 0, or -1 with errno. */
int ipc_send_record(int sock, const void *rec, size_t len, const int *fds, int nfds);
/* Receive one record of at most `len` bytes without blocking. Descriptors that came with it:
 * the first `max` (0 .. IPC_CONNS_MAX) land in `fds` (close-on-exec, the caller's, their count
 * in *nfds), any more are closed; *total is how many arrived in all. *cut is set when the
 * record was longer than `len` or not all its descriptors could be received. Returns the bytes
 * read, 0 at end of stream, or -1 with errno (EAGAIN: nothing waiting). */
ssize_t ipc_recv_record(int sock, void *rec, size_t len, int *fds, int max, int *nfds, int *total,
                        bool *cut);

/* Send `msg` with `nfds` descriptors (0 for none) without blocking: a worker that does not read
 * must not stall the master. Returns 0, or -1 with errno (EAGAIN: its socket is full). */
int ipc_send(int sock, const struct ipc_msg *msg, const int *fds, int nfds);

/* Send a hand-over record of rec->msg.value (1 .. IPC_CONNS_MAX) connections with their
 * descriptors `fds`, without blocking. Returns 0, or -1 with errno: EAGAIN (the socket is
 * full), ETOOMANYREFS (an unprivileged sender has too many descriptors in flight), EINVAL (a
 * bad count or type). The descriptors stay the caller's either way. */
int ipc_send_conns(int sock, const struct ipc_conns *rec, const int *fds);

/* Receive one message without blocking into rec (rec->msg for a small one); descriptors it
 * carries land in `fds` (room for IPC_CONNS_MAX, close-on-exec, owned by the caller), their
 * count in *nfds. Returns 1 for a message, 0 at end of stream, -1 with errno: EAGAIN when
 * nothing is waiting, EPROTO when a malformed record was read and discarded (its descriptors
 * closed: *nfds is 0), so the caller may read on. A valid message has a known type, the size
 * of its type (a hand-over record: exactly msg.value connections, 1 .. IPC_CONNS_MAX, with
 * flags only of those defined) and exactly the descriptors that type carries; a record whose
 * descriptors did not all arrive (MSG_CTRUNC) is malformed. Checking slot, generation, value and
 * listener indexes against its own state is the caller's job. After EPROTO, rec->msg
 * is the header that arrived (zeroed when none did), for the caller to count what it lost, never
 * to act on. */
int ipc_recv(int sock, struct ipc_conns *rec, int *fds, int *nfds);

#endif
