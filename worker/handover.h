/* Invisible reloads, the worker's side: a retiring worker sends its idle keep-alive connections
 * to the master (IPC_HANDOFF, at most IPC_CREDITS records unsettled), which passes them to a
 * serving worker (IPC_TAKE) or back (IPC_HANDBACK, IPC_RETURN). Those handed back for now are
 * served here again and sent again a moment later, while the retirement is younger than
 * idle_close_grace; those that cannot move are doomed (conn.h: Connection: close on the next
 * response, idle_close_grace when idle), and counted as failed hand-overs. */
#ifndef SLUICE_HANDOVER_H
#define SLUICE_HANDOVER_H

#include <stdbool.h>

#include "common/cfg.h"
#include "common/ipc.h"

struct shm_worker;

/* This worker's identity in the records it sends, its configuration (listen lines) and its
 * counters (handed_over, taken_over, handover_failed). */
void handover_init(int ipc_fd, int slot, unsigned generation, const struct cfg *cfg,
                   struct shm_worker *stats);

/* max_requests reached: ask the master to let this worker retire (IPC_RETIRING; it answers
 * IPC_RETIRE once another worker serves). False when the message could not go out now. */
bool handover_ask_to_retire(void);

/* The retirement begins: connections handed back until idle_close_grace from now are tried
 * again (IPC_CONN_RETRY), later ones are doomed. */
void handover_begin(void);

/* Before sleep, while retiring with a hand-over: send what is idle, as credit allows. */
void handover_flush(void);

/* Records sent and not answered yet: the worker stays until they are (their connections may
 * come back). */
bool handover_waiting(void);

/* A hand-over record from the master that arrived malformed (its descriptors cut short:
 * MSG_CTRUNC), claiming `n` connections: they are lost; counted and logged. */
void handover_lost(int n);

/* The master is gone: no answer will come to what was sent. */
void handover_abandon(void);

/* A message about hand-overs from the master (IPC_CREDIT, IPC_TAKE, IPC_HANDBACK, IPC_RETURN),
 * with the `nfds` descriptors it carried: each is adopted, handed back or closed here. */
void handover_message(const struct ipc_conns *rec, int *fds, int nfds);

#endif
