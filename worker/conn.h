/* Client connections: a fixed per-worker pool of small structs, request and response buffers
 * taken from free lists only while needed, and the read -> parse -> send state machine. */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "common/cfg.h"
#include "common/ev.h"
#include "common/shm.h"
#include "worker/http.h"
#include "worker/transport.h"

/* Lingering close: after a final answer sent while the client may still be sending (its body
 * was not read), the worker half-closes and drains input for at most this long or
 * CONN_LINGER_BYTES, so the client reads the answer instead of a reset. */
#define CONN_LINGER_MS 1000
#define CONN_LINGER_BYTES 65536

/* What connections need from the worker; conn_setup keeps a copy. */
struct conn_env {
    const struct cfg *cfg;    /* the worker's, for its life */
    struct shm *shm;          /* max_connections_per_ip is counted in this shared region */
    int shm_column;           /* this process's column in it */
    struct shm_worker *stats; /* this process's figures in it (counters) */
};

/* Take `env` and set up the timeout queues (durations from env->cfg), added to the loop
 * (ev_queue_add). Returns 0, or -1 with errno (ENOSPC). Once per worker, before conn_pool_init;
 * again only while no connection is open (the fuzzer, to change durations between inputs). */
int conn_setup(const struct conn_env *env);

/* Allocate the pool for `max` connections and the buffer pools sized from `limits` (copied:
 * requests are parsed with them). Returns 0 or -1 (ENOMEM). Once per worker, after conn_setup. */
int conn_pool_init(int max, const struct http_limits *limits);

/* Take ownership of an accepted, non-blocking socket using transport `tp` (ctx: its state,
 * released with tp->release when the connection ends), from listen line `listener`. The transport's
 * handshake, if it has one, runs first under handshake_timeout; header_timeout starts when it ends
 * (at once for a transport without one). conn.c drives any transport through its table alone.
 * `peer` (or NULL) is the client's address; with `counted` it is already counted in the shared
 * max_connections_per_ip table, and the connection releases it when it closes.
 * Returns the connection's ev_io (its callback drives the connection), or NULL when the pool is
 * full or epoll refused the fd; the fd is closed (and the count released) then. */
struct ev_io *conn_start(int fd, const struct transport *tp, void *ctx, const struct sockaddr *peer,
                         bool counted, int listener);

/* Like conn_start, for a client that is refused: after the handshake it is sent `answer` (a
 * complete HTTP response of `len` bytes, in static storage) through the transport, and the
 * connection closes. Nothing is counted. */
void conn_refuse(int fd, const struct transport *tp, void *ctx, const char *answer, size_t len);

/* The answer to a client over max_connections_per_ip: at accept (worker.c), or once a PROXY
 * header named it (conn.c). */
#define CONN_BUSY_ANSWER                                                                           \
    "HTTP/1.1 503 Service Unavailable\r\nServer: sluice\r\n"                                       \
    "Content-Type: text/plain\r\nContent-Length: 36\r\n"                                           \
    "Connection: close\r\n\r\n"                                                                    \
    "Too many connections from your host\n"

bool conn_pool_full(void);
int conn_count(void);

/* Open connections by what they do, from a scan of the pool (for the heartbeat, at most once a
 * second): reading (a handshake or a request's header and body), writing (the handler has the
 * request, or its response is being sent, or a lingering close), idle (keep-alive between
 * requests). */
void conn_count_states(uint32_t *reading, uint32_t *writing, uint32_t *idle);

/* Retiring (conn_retire.c). A worker that retires stops taking connections; each one it has
 * either moves to a serving worker (hand-over: plain HTTP, between requests, nothing buffered
 * in user space) or is doomed: its next response carries Connection: close, and while idle it
 * is closed after idle_close_grace (never the instant it goes idle: its client may be sending
 * the next request already). With hand_over false (a stop, an upgrade, the master gone) every
 * connection is doomed; with true only those that cannot move (TLS, any transport with state
 * of its own). May be called again to go from hand-over to close; never back. */
void conn_retire(bool hand_over);

/* Hand-over: take up to `max` idle connections that may move out of the pool. Their sockets go
 * to fds[] (the caller's from now on, still open and connected: bytes the client sends wait in
 * the socket), what travels with them to meta[]; the per-client count is released. Returns how
 * many. */
struct ipc_conn;
int conn_detach_idle(int *fds, struct ipc_conn *meta, int max);

/* A connection handed over from another worker (or handed back to this one): idle, with
 * `nrequests` requests answered so far, from listen line `listener` (whose transport is `tp`,
 * without a handshake). Doomed as conn_retire says. Returns 0, or -1 when the pool is full
 * (fd untouched: the caller's) or the socket is not a connected TCP one (closed). */
int conn_adopt(int fd, const struct transport *tp, int listener, uint32_t nrequests, bool doomed);

/* Fast stop: close everything. */
void conn_close_all(void);

/* Before sleep: return connections closed during this iteration to the pool. Deferred so that a
 * struct is never reused while an event for its old fd may still be in the current batch. */
void conn_reap(void);

/* Give cached free buffers back to the allocator (worker_memory_limit reached). */
void conn_trim_buffers(void);

#endif
