/* Client connections: a fixed per-worker pool of small structs, request buffers taken from a
 * free list only while a request is in progress, and the read -> parse -> send state machine. */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include <stdbool.h>
#include <stdint.h>

/* Allocate the pool for `max` connections. Returns 0 or -1 (ENOMEM). Call once per worker. */
int conn_pool_init(int max);

/* Take ownership of an accepted, non-blocking socket. Returns 0, or -1 when the pool is full
 * (the caller checks conn_pool_full() first; the fd is closed either way on failure). */
int conn_start(int fd);

bool conn_pool_full(void);
int conn_count(void);

/* Run the expiry of all three timeout queues against loop.now_ms. */
void conn_expire_timeouts(void);
/* Earliest deadline over the timeout queues, INT64_MAX when none. */
int64_t conn_next_deadline(void);

/* Graceful stop: close idle keep-alive connections now; busy ones close after their response. */
void conn_close_idle(void);
/* Fast stop: close everything. */
void conn_close_all(void);

/* Before sleep: return connections closed during this iteration to the pool. Deferred so that a
 * struct is never reused while an event for its old fd may still be in the current batch. */
void conn_reap(void);

#endif
