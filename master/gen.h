/* Generations of workers, the types supervise.c keeps them in, and the jobs on them that need
 * none of supervision's decisions: loading a reload's configuration, forking a worker into a
 * slot, the watchdog's look, handing out the error log. The table itself (and
 * every decision: when to spawn, reap, retire) belongs to supervise.c, which hands these functions
 * what they read through struct gen_table. */
#ifndef SLUICE_GEN_H
#define SLUICE_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cfg.h"
#include "common/ev.h"
#include "common/shm.h"
#include "common/tls.h"
#include "master/modcheck.h"

#define GEN_MAX 4 /* active, starting, and up to two being retired */

_Static_assert(GEN_MAX == SHM_GENS, "one shared-memory column per generation slot and worker");

enum gen_state { GEN_FREE, GEN_STARTING, GEN_ACTIVE, GEN_RETIRING };

struct gen;

/* A worker slot of a generation. `io` (its socketpair), `gen` and `slot` are set once at init
 * and survive the process: an event still in the loop's batch for a reaped worker finds a
 * valid callback and sees pid 0. */
struct proc {
    struct ev_io io;          /* fd -1: no socketpair */
    pid_t pid;                /* 0 = no process in this slot */
    int64_t watchdog_kill_at; /* SIGABRT sent: SIGKILL at this time, 0 = none */
    bool ready;
    bool stopped;      /* SIGSTOPped (or traced): alive but not serving */
    bool retiring;     /* told to retire: sent no connections */
    bool retire_asked; /* at max_requests, waits for IPC_RETIRE (supervise.c) */
    int64_t started_ms;
    struct gen *gen;
    int slot;
};

/* Alive, ready and not stopped: it accepts, and may be handed connections. */
static inline bool
proc_serving(const struct proc *p)
{
    return p->pid && p->ready && !p->stopped;
}

struct gen {
    enum gen_state state;
    unsigned id;
    struct cfg *cfg;
    struct tls_set *tls; /* its TLS contexts (NULL without certificates), freed with it */
    struct mod_set mods; /* its application modules' snapshots, closed with it */
    int access_log_fd;   /* its access log (gen_access_log_open), closed with it; -1 = off */
    int lidx[CFG_MAX_LISTEN];
    struct proc procs[CFG_MAX_WORKERS];
    int64_t backoff_ms[CFG_MAX_WORKERS]; /* crash back-off level (common/backoff.h) */
    int64_t respawn_at[CFG_MAX_WORKERS]; /* 0 = none due */
    unsigned respawns[CFG_MAX_WORKERS];  /* workers started again in the slot (status) */
    int64_t kill_at;                     /* retiring: SIGKILL what is left at this time */
    /* Per-slot sockets with no worker of their own (down, stopped, or past `workers` after a
     * TTOU or a smaller reload) are lent to a live worker: adopter[s] is its slot, or -1. */
    int adopter[CFG_MAX_WORKERS];
};

/* What spawning and status read of supervise.c's table. */
struct gen_table {
    struct gen *gens; /* GEN_MAX of them */
    struct shm *shm;
    ev_io_cb *on_ipc; /* the callback of a worker's socketpair */
    /* In the child, before worker_main: close the master's own descriptors (may be NULL). */
    void (*child_setup)(void *ctx);
    void *ctx;
    bool draining; /* a graceful stop is draining: workers forked now answer health 503 */
};

/* The shared-region column of worker `slot` of `g`: its generation slot and worker slot. */
int gen_column(const struct gen_table *t, const struct gen *g, int slot);

/* Live workers of g. */
int gen_live_procs(const struct gen *g);
/* Send `sig` to every live worker of g. */
void gen_signal(struct gen *g, int sig);
/* Back to GEN_FREE, keeping each proc's identity (see struct proc): its socket, once it has
 * one, is watched with `cb`. */
void gen_reset(struct gen *g, ev_io_cb *cb);
/* Free what g owns (configuration, TLS contexts, module snapshots, access log), then
 * gen_reset. Its listen sockets are the caller's to release first (master/listen.h). */
void gen_drop(struct gen *g, ev_io_cb *cb);

/* Fork worker `slot` of `g` with its socketpair, watched for EV_READ with t->on_ipc. The child
 * keeps only its own sockets and runs worker_main. Returns 0, or -1 (logged) when the
 * socketpair or the fork failed. */
int gen_spawn(const struct gen_table *t, struct gen *g, int slot);

/* A reload's new generation: the configuration read from `path` (NULL: as at start) and its
 * TLS contexts in *tls (NULL without certificates), the certificates and keys read here, by the
 * master, still privileged; warnings (a certificate about to expire) are logged. Returns the
 * configuration (malloc'd), or NULL with "FILE:LINE: KEY: ..." in err. */
struct cfg *gen_load(const char *path, struct tls_set **tls, char *err, size_t errlen);

/* The watchdog over g's ready workers (master/watchdog.h): returns its next deadline. */
int64_t gen_watchdog(const struct gen_table *t, struct gen *g, int64_t now);

/* Tell every live worker of every generation that a drain began (IPC_DRAIN). A worker whose
 * socket takes no message (full: it reads none) is logged and left out: it answers its health
 * checks as before, and stops like the others when the drain is over. */
void gen_drain(const struct gen_table *t);

/* Hand the error log's new descriptor `fd` to every live worker of every generation. */
void gen_hand_log(const struct gen_table *t, int fd);

/* Open cfg's access log as the master (O_APPEND, O_NOFOLLOW: a link is refused; "stdout": a
 * copy of the master's stdout) into *fd, -1 when it is off. Returns 0, or -1 with errno and
 * "FILE:LINE: access_log: ..." in err. */
int gen_access_log_open(const struct cfg *cfg, int *fd, char *err, size_t errlen);

/* Reopen (USR1): open g's access log file again by path and hand it to g's live workers
 * (IPC_LOG_FD, IPC_LOG_ACCESS), which write what they buffered to the old one first; the
 * master's copy is then the new one. A failure is logged and the workers keep the old file.
 * Nothing to do for stdout or off. */
void gen_reopen_access_log(struct gen *g);

#endif
