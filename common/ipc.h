/* Messages between the master and a worker over their SOCK_SEQPACKET socketpair: one fixed-size
 * record per message (a read never sees half of one), with descriptors attached as SCM_RIGHTS
 * where the message hands sockets over. */
#ifndef SLUICE_IPC_H
#define SLUICE_IPC_H

#include <stdint.h>

#define IPC_MAX_FDS 16 /* CFG_MAX_LISTEN */

enum ipc_type {
    IPC_READY = 1, /* worker -> master: started (worker_start done), accepting */
    IPC_ADOPT,     /* master -> worker: accept on these sockets of slot `slot` too (fds) */
    IPC_RELEASE,   /* master -> worker: slot `slot` has its own worker again: give them back */
};

struct ipc_msg {
    uint32_t type;
    uint32_t slot;
    uint32_t generation;
    int32_t value;
};

/* Send `msg` with `nfds` descriptors (0 for none). Returns 0 or -1 with errno. */
int ipc_send(int sock, const struct ipc_msg *msg, const int *fds, int nfds);

/* Receive one message; descriptors it carries land in `fds` (room for IPC_MAX_FDS), their
 * count in *nfds. Returns 1 for a message, 0 at end of stream, -1 with errno (EAGAIN). */
int ipc_recv(int sock, struct ipc_msg *msg, int *fds, int *nfds);

#endif
