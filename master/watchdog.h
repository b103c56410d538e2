/* worker_watchdog: a worker whose loop has not turned (its heartbeat in the shared region) for
 * longer than the limit is hung: log what it was doing, SIGABRT it for a core or a backtrace,
 * SIGKILL it a second later. supervise.c then respawns it like any crashed worker. */
#ifndef SLUICE_WATCHDOG_H
#define SLUICE_WATCHDOG_H

#include <stdint.h>
#include <sys/types.h>

#include "common/shm.h"

#define WATCHDOG_KILL_AFTER_MS 1000 /* from SIGABRT to SIGKILL */

/* Look at ready worker `slot` (process `pid`, shared-region slot `w`) at `now` against
 * `limit_ms`. *kill_at is its state (0: not aborted yet; INT64_MAX: killed, nothing more until
 * it is reaped). Only `w->pid` and `w->heartbeat_ms` are trusted, and only to decide whether to
 * act: a worker can write anything there. Returns the next deadline for this worker, INT64_MAX
 * when none. */
int64_t watchdog_check(int slot, pid_t pid, const struct shm_worker *w, int64_t *kill_at,
                       int64_t now, int64_t limit_ms);

/* When to look at the generation again: within a quarter of the limit, at least 250 ms. */
int64_t watchdog_next_look(int64_t now, int64_t limit_ms);

#endif
