/* The master's supervision state, shared by master.c (loop, signals, control, upgrade) and
 * supervise.c (generations of workers: spawn, reap, respawn, lend sockets, reload, scale). */
#ifndef SLUICE_SUPERVISE_H
#define SLUICE_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cfg.h"
#include "common/shm.h"

#define MAX_GENS 4              /* active, starting, and up to two being retired */
#define CUT_SHORT_KILL_MS 1000  /* a generation cut short by a reload gets this long */
#define FAST_STOP_KILL_MS 10000 /* TERM'd workers still alive after this are killed */

enum gen_state { GEN_FREE, GEN_STARTING, GEN_ACTIVE, GEN_RETIRING };

struct gen;

struct proc {
    pid_t pid;                /* 0 = no process in this slot */
    int64_t watchdog_kill_at; /* SIGABRT sent: SIGKILL at this time, 0 = none */
    int ipc_fd;
    bool ready;
    bool stopped; /* SIGSTOPped (or traced): alive but not serving */
    int64_t started_ms;
    struct gen *gen;
    int slot;
};

struct gen {
    enum gen_state state;
    unsigned id;
    struct cfg *cfg;
    int lidx[CFG_MAX_LISTEN];
    struct proc procs[CFG_MAX_WORKERS];
    int64_t backoff_ms[CFG_MAX_WORKERS]; /* crash back-off level (common/backoff.h) */
    int64_t respawn_at[CFG_MAX_WORKERS]; /* 0 = none due */
    int64_t kill_at;                     /* retiring: SIGKILL what is left at this time */
    /* Per-slot sockets with no worker of their own (down, stopped, or past `workers` after a
     * TTOU or a smaller reload) are lent to a live worker: adopter[s] is its slot, or -1. */
    int adopter[CFG_MAX_WORKERS];
};

enum stop_mode { RUNNING, STOP_GRACEFUL, STOP_FAST };

_Static_assert(MAX_GENS == SHM_GENS, "one shared-memory column per generation slot and worker");

struct master {
    int epfd, sigfd, pid_fd, notify_fd;
    const char *cfg_path;
    struct gen gens[MAX_GENS];
    unsigned next_gen_id;
    enum stop_mode stopping;
    int64_t stop_kill_at;
    int exit_status;
    bool started; /* the first generation has been ready */
    struct shm *shm;
    pid_t upgrade_pid;   /* the new master of a binary upgrade, while it lives */
    bool upgraded;       /* paths now belong to that new master */
    bool reload_pending; /* a reload waits for a cut-short generation to exit */
    bool from_upgrade;   /* started by a binary upgrade: the old master is our parent */
    pid_t parent_master;
    bool winched;                 /* WINCH: workers stopped for the new master; none respawned */
    char pid_path[CFG_PATH_MAX];  /* the pid file this master holds (.oldbin after USR2) */
    char port_path[CFG_PATH_MAX]; /* the port file last written */
};

extern struct master m;

int shm_column(const struct gen *g, int slot);
int64_t now_ms(void);
int live_procs(const struct gen *g);
void signal_gen(struct gen *g, int sig);
struct gen *gen_in(enum gen_state state);
int spawn(struct gen *g, int slot);
void rebalance(struct gen *g);
void retire(struct gen *g, int sig);
void on_ipc(struct proc *p);
void start_stop(enum stop_mode mode, int status);
void reap(void);
void reload(void);
void scale(int delta);
int64_t run_timers(int64_t now);
void write_port_file(const struct gen *g);
/* master.c: the new master of a binary upgrade exited with `status`. */
void upgrade_child_exited(int status);

#endif
