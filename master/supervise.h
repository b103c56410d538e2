/* Supervision: the generations of workers and their slots, owned here and reached only through
 * these functions. It spawns, reaps and respawns workers (with back-off), lends the sockets of a
 * slot without a serving worker, reloads, scales (TTIN/TTOU), runs the watchdog and the kill
 * deadlines. master.c drives it from its loop and hears back through struct supervise_events;
 * nothing here calls up into master.c. */
#ifndef SLUICE_SUPERVISE_H
#define SLUICE_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cfg.h"
#include "common/ev.h"
#include "common/tls.h"
#include "master/modcheck.h"

#define SUPERVISE_CUT_SHORT_KILL_MS 1000  /* a generation cut short by a reload gets this long */
#define SUPERVISE_FAST_STOP_KILL_MS 10000 /* TERM'd workers still alive after this are killed */

/* What supervision tells the master. Every callback is optional (NULL: nothing to do); each gets
 * `ctx`. They run from inside the supervise_* call that caused them. */
struct supervise_events {
    void *ctx;
    /* In a freshly forked worker, before worker_main: close the master's own descriptors (its
     * loop, signalfd, control socket, pid file). Supervision closes the workers' socketpairs
     * and the sockets of other slots itself. */
    void (*child_setup)(void *ctx);
    /* A reload ended, well or not (also when a new generation became active): the text for a
     * control client that asked for it. */
    void (*reload_done)(void *ctx, bool ok, const char *text);
    /* The first generation is serving (once per master). */
    void (*started)(void *ctx);
    /* The first generation cannot start: the instance must stop (fast, exit status 1). */
    void (*start_failed)(void *ctx);
    /* A child that is no worker (the new master of a binary upgrade) exited with `status`. */
    void (*other_exit)(void *ctx, pid_t pid, int status);
};

/* Create the shared region and remember where things go: reloads re-read `cfg_path` (NULL:
 * built-in defaults / ./sluice.ini, as at start), `events` (copied) hears back. Worker
 * socketpairs are watched on the process's loop (common/ev.h, ev_init done). Returns 0, or -1
 * (logged). */
int supervise_init(const char *cfg_path, const struct supervise_events *events);

/* Start the first generation on `cfg`, its TLS contexts `tls` (may be NULL) and its modules'
 * snapshots `mods` (may be NULL; ownership of all three passes here) with its listen groups `lidx`
 * (cfg->nlisten entries, from listen_acquire), and its access log `access_log_fd` (-1: off;
 * owned from here on, gen_access_log_open). Returns 0, or -1 when a worker could not be
 * forked (logged): the caller stops. */
int supervise_start(struct cfg *cfg, struct tls_set *tls, const struct mod_set *mods,
                    const int *lidx, int access_log_fd);

/* SIGHUP / `sluice reload`: read the config again and start a new generation; the old one
 * retires once every new worker is ready. The outcome goes to events.reload_done, now or
 * later. */
void supervise_reload(void);

/* TTIN (+1) / TTOU (-1): one worker more or fewer in the active generation. */
void supervise_scale(int delta);

/* WINCH during a binary upgrade: every worker finishes its requests and leaves; none is
 * respawned until the next reload. Returns the number of generations retired. */
int supervise_winch(void);

/* True from a WINCH until the next reload. */
bool supervise_winched(void);

/* SIGCHLD: reap every child that changed state. */
void supervise_reap(void);

/* Stop every worker (SIGQUIT when `graceful`, else SIGTERM) and respawn none from now on;
 * whatever is left at the deadline (graceful_timeout + 1 s, or 10 s for a fast stop) is
 * killed. May be called again to turn a graceful stop into a fast one. */
void supervise_stop(bool graceful);

/* A graceful stop begins with a drain: every live worker is told (IPC_DRAIN) that health_path
 * answers 503 from now on, and so is every worker forked later (a respawn, a reload's). Nothing
 * else changes: supervision goes on as before until supervise_stop. */
void supervise_drain(void);

/* Run every deadline due at `now` (respawns, watchdog, kills, the exit-log summary). Returns
 * the next deadline, INT64_MAX when none. */
int64_t supervise_tick(int64_t now);

/* Worker processes alive, in every generation. */
int supervise_live(void);

/* Hand the error log's new descriptor `fd` to every live worker (USR1 / `sluice reopen`). */
void supervise_hand_log(int fd);

/* USR1 / `sluice reopen`: each generation's access log file is opened again by path and handed
 * to its workers (gen_reopen_access_log); a failure is logged, the workers keep the old one. */
void supervise_reopen_access_logs(void);

/* `sluice status`: the generations, the master and a table of the workers (master/mstatus.h),
 * or with `json` the same as JSON, into buf (NUL-terminated, at most len bytes). */
void supervise_status(char *buf, size_t len, bool json, bool stopping);

/* The configuration in force: the active generation's, else a retiring one's; NULL if none. */
const struct cfg *supervise_cfg(void);

/* Write the active generation's port file again (after a binary upgrade rolled back). */
void supervise_write_port_file(void);

/* At exit: remove the port file last written (unless `keep_files`, after a binary upgrade: it
 * is the new master's), and free every generation. The listen groups are left to
 * listen_close_all. */
void supervise_fini(bool keep_files);

#endif
