/* Passing handed-over connections between workers (see relay.h). */
#include "master/relay.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "master/gen.h"

static int64_t warn_ms; /* rate limit of the failure lines: a storm of them is one a second */
static long lost;       /* connections closed here since the last line */

/* Whether a failure line may be written now. */
static bool
warn_due(void)
{
    int64_t now = clock_mono_ms();
    if (now - warn_ms < 1000)
        return false;
    warn_ms = now;
    return true;
}

static void
warn_lost(int n, const char *why)
{
    lost += n;
    if (!warn_due())
        return;
    log_warnx("hand-over: %ld connections closed in the master: %s", lost, why);
    lost = 0;
}

/* One IPC_HANDOFF dealt with: `from` may send another. */
static void
give_credit(const struct relay_end *from)
{
    struct ipc_msg credit = {
        .type = IPC_CREDIT, .slot = (uint32_t)from->slot, .generation = from->generation};
    if (ipc_send(from->ipc_fd, &credit, NULL, 0) < 0 && warn_due())
        log_warn("hand-over: no credit back to worker %d of generation %u (it restores its own "
                 "after a while)",
                 from->slot, from->generation);
}

int
relay_map_listener(const struct relay_end *from, const struct relay_end *to, unsigned line)
{
    if (line >= (unsigned)from->cfg->nlisten)
        return -1;
    for (int j = 0; j < to->cfg->nlisten; j++)
        if (to->lidx[j] == from->lidx[line] &&
            to->cfg->listen[j].flags == from->cfg->listen[line].flags)
            return j;
    return -1;
}

/* Send `n` connections (conn[] and fds[]) of `type` to `to`, their origin named in the record;
 * false when the socket refused them. */
static bool
send_conns(const struct relay_end *to, uint32_t type, const struct relay_end *origin,
           struct ipc_conns *rec, const int *fds, int n)
{
    rec->msg = (struct ipc_msg){
        .type = type, .slot = (uint32_t)origin->slot, .generation = origin->generation, .value = n};
    return ipc_send_conns(to->ipc_fd, rec, fds) == 0;
}

int
relay_handoff(const struct relay_end *from, const struct relay_end *to, const struct ipc_conns *rec,
              int *fds, int nfds)
{
    static struct ipc_conns take, back; /* 2 KB each: off the stack */
    static int take_fds[IPC_CONNS_MAX], back_fds[IPC_CONNS_MAX];
    static int take_src[IPC_CONNS_MAX]; /* the index in rec of each one taken */
    int ntake = 0, nback = 0, nbad = 0;
    for (int i = 0; i < nfds; i++) {
        unsigned line = rec->conn[i].listener;
        int j = to ? relay_map_listener(from, to, line) : -1;
        if (j >= 0) {
            take.conn[ntake] = rec->conn[i];
            take.conn[ntake].listener = (uint16_t)j;
            take.conn[ntake].flags = 0;
            take_src[ntake] = i;
            take_fds[ntake++] = fds[i];
        } else if (line < (unsigned)from->cfg->nlisten) {
            /* No serving worker now: try again later. No such listener in its generation: it
             * cannot move. */
            back.conn[nback] = rec->conn[i];
            back.conn[nback].flags = to ? 0 : IPC_CONN_RETRY;
            back_fds[nback++] = fds[i];
        } else {
            nbad++; /* no such listen line: a worker that writes nonsense */
        }
    }
    if (nbad)
        warn_lost(nbad, "a listen line the sender does not have");
    if (ntake && !send_conns(to, IPC_TAKE, from, &take, take_fds, ntake)) {
        log_debug("hand-over: worker %d of generation %u takes none now: %s", to->slot,
                  to->generation, strerror(errno));
        for (int i = 0; i < ntake; i++) {
            back.conn[nback] = rec->conn[take_src[i]];
            back.conn[nback].flags = IPC_CONN_RETRY;
            back_fds[nback++] = take_fds[i];
        }
        ntake = 0;
    }
    /* Settled now (nothing went to a receiver): IPC_RETURN or IPC_CREDIT. Else the receiver's
     * answer settles it (relay_taken, relay_handback), and what comes back now is an
     * IPC_HANDBACK. */
    if (nback && !send_conns(from, ntake ? IPC_HANDBACK : IPC_RETURN, from, &back, back_fds, nback))
        warn_lost(nback, "neither placed nor taken back");
    else if (nback == 0 && ntake == 0)
        give_credit(from);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    return ntake;
}

void
relay_lost(const struct relay_end *from, int n)
{
    warn_lost(n >= 1 && n <= IPC_CONNS_MAX ? n : 1,
              "a record from a worker arrived without all its descriptors (RLIMIT_NOFILE?)");
    give_credit(from);
}

void
relay_taken(const struct relay_end *origin)
{
    if (origin)
        give_credit(origin);
}

void
relay_handback(const struct relay_end *from, const struct relay_end *origin,
               const struct ipc_conns *rec, int *fds, int nfds)
{
    static struct ipc_conns back;
    static int back_fds[IPC_CONNS_MAX];
    int nback = 0;
    for (int i = 0; i < nfds && origin; i++) {
        int j = relay_map_listener(from, origin, rec->conn[i].listener);
        if (j < 0)
            continue;
        back.conn[nback] = rec->conn[i];
        back.conn[nback].listener = (uint16_t)j;
        back.conn[nback].flags = IPC_CONN_RETRY; /* the next try may find room */
        back_fds[nback++] = fds[i];
    }
    if (nback < nfds)
        warn_lost(nfds - nback, origin ? "handed back to a generation without their listener"
                                       : "handed back, but their worker is gone");
    if (nback && !send_conns(origin, IPC_RETURN, origin, &back, back_fds, nback))
        warn_lost(nback, "handed back, but their worker takes none now");
    else if (nback == 0 && origin)
        give_credit(origin);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
}

/* ---- between generations (supervise.c's workers) ---- */

struct relay_end
relay_end_of(const struct proc *p)
{
    return (struct relay_end){.ipc_fd = p->io.fd,
                              .slot = p->slot,
                              .generation = p->gen->id,
                              .cfg = p->gen->cfg,
                              .lidx = p->gen->lidx};
}

/* Where connections handed over by `from` go: a serving, non-retiring worker of `active`
 * other than `from`, in turn; NULL when there is none. */
static struct proc *
target(struct gen *active, const struct proc *from)
{
    static int next;
    for (int k = 0; active && k < active->cfg->workers; k++) {
        struct proc *p = &active->procs[(next + k) % active->cfg->workers];
        if (p != from && proc_serving(p) && !p->retiring) {
            next = (p->slot + 1) % active->cfg->workers;
            return p;
        }
    }
    return NULL;
}

/* The live worker `slot` of generation `id` among gens[GEN_MAX], NULL if none. */
static struct proc *
proc_in(struct gen *gens, unsigned id, uint32_t slot)
{
    for (int i = 0; i < GEN_MAX; i++)
        if (gens[i].state != GEN_FREE && gens[i].id == id && slot < CFG_MAX_WORKERS &&
            gens[i].procs[slot].pid)
            return &gens[i].procs[slot];
    return NULL;
}

void
relay_message(struct gen *gens, struct gen *active, struct proc *p, const struct ipc_conns *rec,
              int *fds, int nfds)
{
    struct relay_end from = relay_end_of(p);
    if (rec->msg.type == IPC_HANDOFF) {
        struct proc *t = target(active, p);
        struct relay_end to = t ? relay_end_of(t) : (struct relay_end){0};
        int n = relay_handoff(&from, t ? &to : NULL, rec, fds, nfds);
        log_debug("hand-over: %d of %d connections from worker %d (generation %u) to worker %d", n,
                  nfds, p->slot, p->gen->id, t ? t->slot : -1);
        return;
    }
    /* A receiver's answer to an IPC_TAKE, naming the worker the connections came from. */
    struct proc *o = proc_in(gens, rec->msg.generation, rec->msg.slot);
    struct relay_end origin = o ? relay_end_of(o) : (struct relay_end){0};
    if (rec->msg.type == IPC_TAKEN)
        relay_taken(o ? &origin : NULL);
    else
        relay_handback(&from, o ? &origin : NULL, rec, fds, nfds);
}
