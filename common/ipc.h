/* Messages between the master and a worker over their SOCK_SEQPACKET socketpair: one fixed-size
 * record per message, so a read never sees half a message. */
#ifndef SLUICE_IPC_H
#define SLUICE_IPC_H

#include <stdint.h>

enum ipc_type {
    IPC_READY = 1, /* worker -> master: started (worker_start done), accepting */
};

struct ipc_msg {
    uint32_t type;
    uint32_t slot;
    uint32_t generation;
    int32_t value;
};

#endif
