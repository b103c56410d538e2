/* The shared memory region: one MAP_SHARED anonymous mapping made by the master before it forks,
 * so every worker of every generation sees the same pages. Today it holds the per-client-address
 * connection counts behind max_connections_per_ip; the status figures will live here too.
 *
 * Counts are kept per column: a column belongs to one worker process at a time (the master
 * numbers them by generation slot and worker slot), and the master zeroes a column when its
 * process exits, so a crashed worker never leaves phantom connections behind. */
#ifndef SLUICE_SHM_H
#define SLUICE_SHM_H

#include <stdint.h>
#include <sys/socket.h>

#include "common/cfg.h"

#define SHM_GENS 4 /* generation slots the master keeps at once */
#define SHM_COLUMNS (SHM_GENS * CFG_MAX_WORKERS)
#define SHM_IP_ENTRIES 4096
#define SHM_IP_PROBES 64

struct shm;

/* What a worker is doing, for the watchdog's log line. */
enum shm_worker_state {
    SHM_W_STARTING,
    SHM_W_WAITING, /* in epoll_wait */
    SHM_W_EVENTS,  /* dispatching events */
    SHM_W_TIMERS,  /* expiring timeouts */
    SHM_W_STOPPING,
};

/* One per column, written only by the process that owns the column (plain stores of aligned
 * words; readers tolerate a torn view of the counters). */
struct shm_worker {
    volatile int32_t pid;
    volatile uint32_t generation;
    volatile int64_t heartbeat_ms; /* CLOCK_MONOTONIC at the last loop turn */
    volatile uint32_t state;
    volatile uint64_t connections, requests;
};

/* Map and initialise the region. Returns NULL with errno on failure. */
struct shm *shm_create(void);

/* Count one more connection from `sa` (AF_INET or AF_INET6; others are not counted) in
 * `column`. Returns 0 when counted, 1 when it was not counted and need not be released
 * (another family, or the table is full: fail open rather than refuse), -1 when the address
 * already has `limit` connections across all columns (nothing counted). */
int shm_ip_acquire(struct shm *shm, int column, const struct sockaddr *sa, int limit);

/* Undo one shm_ip_acquire that returned 0. */
void shm_ip_release(struct shm *shm, int column, const struct sockaddr *sa);

/* The process owning `column` is gone: forget its counts. */
void shm_ip_clear_column(struct shm *shm, int column);

/* The worker slot of `column`. */
struct shm_worker *shm_worker(struct shm *shm, int column);
const char *shm_worker_state_name(uint32_t state);

/* Total connections counted for `sa`, for tests and status. */
int shm_ip_count(struct shm *shm, const struct sockaddr *sa);

#endif
