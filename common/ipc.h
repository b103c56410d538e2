/* Messages between the master and a worker over their SOCK_SEQPACKET socketpair: one fixed-size
 * record per message (a read never sees half of one), with descriptors attached as SCM_RIGHTS
 * where the message hands sockets or log files over. The master never trusts what a worker
 * writes: ipc_recv discards a record of the wrong size, an unknown type, or descriptors the type
 * does not carry, and closes every descriptor that came with it. */
#ifndef SLUICE_IPC_H
#define SLUICE_IPC_H

#include <stdint.h>

#define IPC_MAX_FDS 16 /* CFG_MAX_LISTEN */

enum ipc_type {
    IPC_READY = 1, /* worker -> master: started (worker_start done), accepting */
    IPC_ADOPT,     /* master -> worker: accept on these sockets of slot `slot` too (1+ fds) */
    IPC_RELEASE,   /* master -> worker: slot `slot` has its own worker again: give them back */
    IPC_LOG_FD,    /* master -> worker: log `value` (enum ipc_log) now goes to this fd (1 fd) */
    IPC_TYPE_END,  /* not a message: one past the last type */
};

/* Which log an IPC_LOG_FD replaces. The master opens every log file (it keeps root, so it can
 * after `user` is set, and it refuses symlinks) and hands the descriptor to each worker, at
 * reopen; a worker never opens a log by path. */
enum ipc_log {
    IPC_LOG_ERROR = 1, /* the error log (common/log.c) */
    IPC_LOG_END,       /* one past the last id: the access log will take the next one */
};

struct ipc_msg {
    uint32_t type;
    uint32_t slot;
    uint32_t generation;
    int32_t value;
};

/* Send `msg` with `nfds` descriptors (0 for none) without blocking: a worker that does not read
 * must not stall the master. Returns 0, or -1 with errno (EAGAIN: its socket is full). */
int ipc_send(int sock, const struct ipc_msg *msg, const int *fds, int nfds);

/* Receive one message without blocking; descriptors it carries land in `fds` (room for
 * IPC_MAX_FDS, close-on-exec, owned by the caller), their count in *nfds. Returns 1 for a
 * message, 0 at end of stream, -1 with errno: EAGAIN when nothing is waiting, EPROTO when a
 * malformed record was read and discarded (its descriptors closed: *nfds is 0), so the caller
 * may read on. A valid message has a known type and exactly the descriptors that type carries;
 * checking slot, generation and value against its own state is the caller's job. */
int ipc_recv(int sock, struct ipc_msg *msg, int *fds, int *nfds);

#endif
