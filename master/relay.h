/* Invisible reloads, the master's side: idle keep-alive connections a retiring worker sends
 * (IPC_HANDOFF) are passed to a serving worker (IPC_TAKE), their listen lines mapped into its
 * generation; what cannot be placed goes back to the worker it came from, which tries it again
 * or closes it after its next response. The master holds the descriptors of one record at a
 * time and never blocks on a worker (every send is non-blocking; a full socket means "not
 * placed"). It keeps no state per record: a record names its origin, and the receiver's answer
 * does too. Each IPC_HANDOFF is settled by exactly one IPC_CREDIT or IPC_RETURN (common/ipc.h),
 * before which at most one IPC_HANDBACK goes to its origin: so a worker is owed at most
 * 2 x IPC_CREDITS messages, far below what its socket holds (about 50 full records with the
 * default buffer size); and a worker never exits with a record of its own unsettled. */
#ifndef SLUICE_RELAY_H
#define SLUICE_RELAY_H

#include "common/cfg.h"
#include "common/ipc.h"

/* A worker, as the relay sees it. */
struct relay_end {
    int ipc_fd; /* the master's end of its socketpair */
    int slot;
    unsigned generation;
    const struct cfg *cfg;
    const int *lidx; /* its generation's listen groups (master/listen.h), cfg->nlisten */
};

/* The listen line of `to` that is line `line` of `from`: the same group (address) with the same
 * flags; -1 when there is none (gone, or now `tls`: such a connection cannot move). */
int relay_map_listener(const struct relay_end *from, const struct relay_end *to, unsigned line);

/* An IPC_HANDOFF record from `from`, with its `nfds` descriptors: to `to` (NULL: no serving
 * worker) as IPC_TAKE, or back to `from`. Every descriptor is closed here. When nothing went to
 * `to`, the record is settled at once (IPC_RETURN with what comes back, or IPC_CREDIT); else
 * what comes back goes now as IPC_HANDBACK and `to`'s answer settles it. Returns how many
 * connections went to `to`. */
int relay_handoff(const struct relay_end *from, const struct relay_end *to,
                  const struct ipc_conns *rec, int *fds, int nfds);

/* An IPC_HANDOFF record from `from` that arrived malformed, claiming `n` connections (its
 * descriptors cut short): logged as lost, and settled (IPC_CREDIT). */
void relay_lost(const struct relay_end *from, int n);

/* A receiver's IPC_TAKEN: the record is settled; its origin (NULL: gone) gets IPC_CREDIT. */
void relay_taken(const struct relay_end *origin);

/* A receiver's IPC_HANDBACK (`from`, at max_connections) for the worker that sent those
 * connections, `origin` (NULL: gone; they are closed): settled with IPC_RETURN (or IPC_CREDIT
 * when none can go back). Every descriptor is closed here. */
void relay_handback(const struct relay_end *from, const struct relay_end *origin,
                    const struct ipc_conns *rec, int *fds, int nfds);

struct gen;
struct proc;

/* Worker p as the relay sees it. */
struct relay_end relay_end_of(const struct proc *p);

/* A message about hand-overs from worker p (IPC_HANDOFF, IPC_TAKEN, IPC_HANDBACK) with its
 * `nfds` descriptors, among the generations gens[GEN_MAX]: an IPC_HANDOFF goes to a serving,
 * non-retiring worker of `active` in turn (NULL: none, in a stop or an upgrade); an answer
 * goes to the worker it names. Every descriptor is closed here. */
void relay_message(struct gen *gens, struct gen *active, struct proc *p,
                   const struct ipc_conns *rec, int *fds, int nfds);

#endif
