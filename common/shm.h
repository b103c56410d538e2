/* The shared memory region: one MAP_SHARED anonymous mapping made by the master before it forks,
 * so every worker of every generation sees the same pages. It holds the per-client connection
 * counts behind max_connections_per_ip and a status slot per worker.
 *
 * Counts are kept per column: a column belongs to one worker process at a time (the master
 * numbers them by generation slot and worker slot), and the master zeroes a column when its
 * process exits, so a crashed worker never leaves phantom connections behind.
 *
 * Every worker can write the whole region, and a worker may be wedged or compromised, so nothing
 * here takes a lock: the master's part (shm_ip_clear_column) is a bounded pass of plain atomic
 * stores, and no function loops for longer than a fixed bound whatever bytes it finds. */
#ifndef SLUICE_SHM_H
#define SLUICE_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/cfg.h"

#define SHM_GENS 4 /* generation slots the master keeps at once */
#define SHM_COLUMNS (SHM_GENS * CFG_MAX_WORKERS)
#define SHM_IP_ENTRIES 4096 /* clients tracked at once (a power of two) */
#define SHM_IP_PROBES 64    /* entries a client's key may live in, from its hash on */

struct shm;

/* What a worker is doing, for the watchdog's log line. */
enum shm_worker_state {
    SHM_W_STARTING,
    SHM_W_WAITING, /* in epoll_wait */
    SHM_W_EVENTS,  /* dispatching events */
    SHM_W_TIMERS,  /* expiring timeouts */
};

/* Timeouts that end a connection or a request, by clock (keep-alive idleness is no error and
 * is not counted). */
enum shm_timeout {
    SHM_TO_HANDSHAKE, /* handshake_timeout */
    SHM_TO_HEADER,    /* header_timeout */
    SHM_TO_BODY,      /* body_timeout */
    SHM_TO_SEND,      /* send_timeout */
    SHM_TO_REQUEST,   /* request_timeout: the handler did not answer (504) */
    SHM_TO_SEND_RATE, /* send_min_rate */
    SHM_TO_BODY_RATE, /* body_min_rate (408) */
    SHM_TIMEOUTS
};

/* Limits that turned something away. */
enum shm_limit {
    SHM_LIM_MAX_CONNECTIONS, /* max_connections reached: accepting paused */
    SHM_LIM_PER_IP,          /* max_connections_per_ip: a connection refused (503) */
    SHM_LIM_MEMORY,          /* worker_memory_limit reached: accepting paused */
    SHM_LIM_413,             /* body too large */
    SHM_LIM_414,             /* request line too long */
    SHM_LIM_431,             /* header section too large */
    SHM_LIMITS
};

/* The accept queue of one listening socket (TCP_INFO on a LISTEN socket: tcpi_unacked is the
 * queue's length, tcpi_sacked its backlog); -1 when unknown (a unix socket, no such line). */
struct shm_queue {
    volatile int32_t queued, backlog;
};

/* One per column, written only by the process that owns the column (plain stores of aligned
 * words; readers tolerate a torn view of the counters). The counters start at zero with each
 * process (a respawned worker starts over, like any per-process counter); the figures marked
 * "heartbeat" are refreshed at most once a second, the others as they change. */
struct shm_worker {
    volatile int32_t pid;
    volatile uint32_t generation;
    volatile int64_t heartbeat_ms; /* CLOCK_MONOTONIC at the last loop turn */
    volatile uint32_t state;
    volatile uint64_t connections, requests;
    /* Invisible reloads: connections this worker sent to the master to hand over (one that
     * came back and was sent again counts again), took over from another worker, and could
     * not hand over (doomed instead, or lost with a record cut short). */
    volatile uint64_t handed_over, taken_over, handover_failed;
    /* TLS: handshakes done in full, resumed (a ticket), and failed (worker/tls.c); file bytes
     * sent through the worker's buffer (no kTLS here, so no sendfile). */
    volatile uint64_t tls_full, tls_resumed, tls_failed, tls_file_bytes;
    /* Application modules: 1 + the index (cfg->app) of the application whose code runs now,
     * 0 outside module code; the master names it when the worker dies by a signal. */
    volatile int32_t in_app;
    /* Live figures (the status endpoint, `sluice status`). */
    volatile int64_t started;                                   /* wall clock, Unix seconds */
    volatile uint32_t conns_reading, conns_writing, conns_idle; /* heartbeat */
    volatile uint64_t accepted;     /* connections accepted by this worker */
    volatile uint64_t bytes_out;    /* response bytes sent, headers included */
    volatile uint64_t responses[5]; /* by class: [0] 1xx ... [4] 5xx */
    volatile uint64_t timeouts[SHM_TIMEOUTS];
    volatile uint64_t limits[SHM_LIMITS];
    volatile uint64_t ofc_hits, ofc_misses;  /* heartbeat: the open file cache's lookups */
    volatile uint32_t loop_lag_us;           /* heartbeat: longest loop turn of the last period */
    volatile uint32_t nqueues;               /* entries of queues[] in use (listen lines) */
    struct shm_queue queues[CFG_MAX_LISTEN]; /* heartbeat: listen line i's accept queue */
};

/* Map and initialise the region (before fork). Returns NULL with errno on failure. */
struct shm *shm_create(void);

/* Unmap a region from shm_create (tests; the server keeps its region for its lifetime). */
void shm_destroy(struct shm *shm);

/* Count one more connection from the client of `sa` in `column`; callable at any time after
 * accept, from the one thread that owns `column`. A client is an IPv4 address, or an IPv6 /64
 * (IPv4-mapped IPv6 addresses count as their IPv4 address). Returns 0 when counted (release it
 * with shm_ip_release), 1 when not counted and nothing is to be released (another family, a
 * bad column, the table full or busy: fail open rather than refuse), -1 when the client already
 * has `limit` connections across all columns (nothing counted). Concurrent acquires never
 * admit more than `limit` together; near the limit they may refuse one that a serial order
 * would have admitted. */
int shm_ip_acquire(struct shm *shm, int column, const struct sockaddr *sa, int limit);

/* Undo one shm_ip_acquire of `sa` in `column` that returned 0; a no-op when the column holds no
 * count for that client (it was cleared). */
void shm_ip_release(struct shm *shm, int column, const struct sockaddr *sa);

/* The process owning `column` is gone: forget its counts. Called by the master: no lock, no
 * wait, at most SHM_IP_ENTRIES iterations whatever the region holds; a bad column is ignored. */
void shm_ip_clear_column(struct shm *shm, int column);

/* When the region was made (wall clock, Unix seconds): the master's start. */
int64_t shm_created(const struct shm *shm);

/* The worker slot of `column`. */
struct shm_worker *shm_worker(struct shm *shm, int column);
const char *shm_worker_state_name(uint32_t state);

/* Total connections counted for the client of `sa`, for tests and status. Bounded, lock-free. */
int shm_ip_count(struct shm *shm, const struct sockaddr *sa);

/* The bytes of the per-client table, which any worker can overwrite: for tests that play a
 * hostile worker. Sets *len to their size. */
void *shm_ip_table(struct shm *shm, size_t *len);

#endif
