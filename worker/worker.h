/* The one entry point from the master into the worker: the function a forked child runs. */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include <stdbool.h>

#include "common/cfg.h"
#include "common/shm.h"
#include "common/tls.h"

#define WORKER_MAX_FDS (CFG_MAX_LISTEN * 2)

struct worker_args {
    const struct cfg *cfg;
    int slot;                           /* 0 .. cfg->workers - 1 */
    int master_pid;                     /* the worker exits when its parent is no longer this */
    unsigned generation;                /* bumped by each reload */
    int ipc_fd;                         /* this worker's end of its socketpair with the master */
    int listen_fds[WORKER_MAX_FDS];     /* sockets this worker accepts on */
    bool listen_shared[WORKER_MAX_FDS]; /* shared by all workers: use EPOLLEXCLUSIVE */
    int nlisten;
    const struct tls_set *tls; /* the generation's TLS contexts, NULL without certificates */
    struct shm *shm;           /* the master's shared region */
    int shm_column;            /* this process's column in it (see shm.h) */
    int app_fd[CFG_MAX_APPS];  /* the snapshot of cfg->app[i]'s module (a sealed memfd) */
    bool draining;             /* forked during a drain: health_path answers 503 (IPC_DRAIN) */
    int access_log_fd;         /* the generation's access log (the master's copy), -1 = off */
};

/* Run worker `args->slot` in the freshly forked child: drop privileges, build the per-worker
 * state, report IPC_READY to the master, serve until told to stop (SIGTERM: at once, SIGQUIT:
 * after in-flight requests, bounded by graceful_timeout) or until the master goes away.
 * Never returns; exits 0 on a clean stop, 1 when start-up failed. */
void worker_main(const struct worker_args *args) __attribute__((noreturn));

#endif
