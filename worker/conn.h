/* Client connections: a fixed per-worker pool of small structs, request and response buffers
 * taken from free lists only while needed, and the read -> parse -> send state machine. */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/socket.h>

#include "worker/loop.h"
#include "worker/transport.h"

/* Lingering close: after a final answer sent while the client may still be sending (its body
 * was not read), the worker half-closes and drains input for at most this long or
 * CONN_LINGER_BYTES, so the client reads the answer instead of a reset. */
#define CONN_LINGER_MS 1000
#define CONN_LINGER_BYTES 65536

/* Allocate the pool for `max` connections and the buffer pools sized from loop.cfg. Returns 0
 * or -1 (ENOMEM). Call once per worker, after loop.cfg and loop.limits are set. */
int conn_pool_init(int max);

/* Take ownership of an accepted, non-blocking socket using transport `tp` (ctx: its state).
 * `counted_peer` (or NULL) is the client address already counted in the shared
 * max_connections_per_ip table: the connection releases it when it closes.
 * Returns the connection's ev_io (its callback drives the connection), or NULL when the pool is
 * full or epoll refused the fd; the fd is closed (and the count released) then. */
struct ev_io *conn_start(int fd, const struct transport *tp, void *ctx,
                         const struct sockaddr *counted_peer);

bool conn_pool_full(void);
int conn_count(void);

/* Run the expiry of the timeout queues against loop.now_ms. */
void conn_expire_timeouts(void);
/* Earliest deadline over the timeout queues, INT64_MAX when none. */
int64_t conn_next_deadline(void);

/* Graceful stop: close idle keep-alive connections (and, with fresh_too, accepted ones that have
 * sent nothing) unless request bytes are waiting in their socket; busy ones close after their
 * response. */
void conn_close_idle(bool fresh_too);
/* Fast stop: close everything. */
void conn_close_all(void);

/* Before sleep: return connections closed during this iteration to the pool. Deferred so that a
 * struct is never reused while an event for its old fd may still be in the current batch. */
void conn_reap(void);

/* Give cached free buffers back to the allocator (worker_memory_limit reached). */
void conn_trim_buffers(void);

#endif
