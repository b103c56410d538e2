/* Crash back-off for a worker slot: how long the master waits before respawning a worker that
 * died, so a slot that keeps crashing is respawned with exponential back-off, not a fork storm.
 * Pure arithmetic, kept out of master/ so the unit suite can link it. */
#ifndef SLUICE_BACKOFF_H
#define SLUICE_BACKOFF_H

#include <stdint.h>

#define BACKOFF_MIN_MS 100          /* the first back-off of a slot */
#define BACKOFF_MAX_MS 30000        /* the back-off doubles up to this */
#define BACKOFF_QUICK_DEATH_MS 1000 /* a worker dying sooner than this backs its slot off */
#define BACKOFF_RESET_MS 60000      /* a worker living this long resets its slot's back-off */

/* One step of a slot's back-off. level_ms is the slot's state (0 = none yet) and is kept
 * between deaths; delay_ms is how long to wait before the respawn. */
struct backoff_step {
    int64_t level_ms;
    int64_t delay_ms;
};

/* A worker of the slot whose back-off is `level_ms` died `lived_ms` after it started. A long
 * life (>= BACKOFF_RESET_MS) forgets the level; a quick death (< BACKOFF_QUICK_DEATH_MS,
 * negative included) doubles it, from BACKOFF_MIN_MS up to BACKOFF_MAX_MS, and waits that long;
 * any other death respawns at once and keeps the level. Any level_ms is accepted (a negative or
 * huge one is clamped): the result never overflows and the delay is within 0..BACKOFF_MAX_MS. */
struct backoff_step backoff_next(int64_t level_ms, int64_t lived_ms);

#endif
