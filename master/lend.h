/* Lending: the per-slot sockets of a reuseport group that have no serving worker of their own
 * (down, backing off, stopped, or past `workers` after a TTOU or a smaller reload) are lent to
 * a serving sibling over its socketpair (IPC_ADOPT), and taken back (IPC_RELEASE) once their
 * own worker serves again. The kernel keeps hashing new connections to every socket of a
 * SO_REUSEPORT group; a socket nobody accepts on would strand them (and closing it would reset
 * its queue, as net.ipv4.tcp_migrate_req is off on many hosts). */
#ifndef SLUICE_LEND_H
#define SLUICE_LEND_H

#include <stdbool.h>

#include "common/cfg.h"

/* One generation's workers, as lending sees them. */
struct lend_view {
    unsigned generation;
    int workers;     /* configured slots: 0 .. workers - 1 */
    const int *lidx; /* its listen groups (master/listen.h) */
    int nlisten;
    bool alive[CFG_MAX_WORKERS];   /* a process in the slot */
    bool serving[CFG_MAX_WORKERS]; /* alive, ready and not stopped */
    int ipc_fd[CFG_MAX_WORKERS];   /* the master's end of its socketpair */
};

/* Bring `adopter` (per slot: the worker accepting on its sockets, or -1) in line with `v`: a
 * slot whose worker serves takes its sockets back, an orphaned slot goes to the serving worker
 * with the fewest on loan. A send that fails leaves the slot orphaned, for the next call. */
void lend_rebalance(int adopter[CFG_MAX_WORKERS], const struct lend_view *v);

#endif
