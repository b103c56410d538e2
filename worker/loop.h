/* The worker's event loop state, shared by the files of worker/ (one worker per process, so one
 * instance: `loop`). A tiny ae-style API over epoll: an ev_io is an fd and a callback. */
#ifndef SLUICE_LOOP_H
#define SLUICE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cfg.h"
#include "common/shm.h"
#include "worker/http.h"
#include "worker/tq.h"

struct ev_io;
typedef void ev_cb(struct ev_io *io, uint32_t events);

struct ev_io {
    int fd;
    uint32_t events; /* what epoll watches now; 0 = not registered */
    ev_cb *cb;
};

struct loop {
    const struct cfg *cfg;
    int epfd;
    int root_fd;
    int slot;
    int64_t now_ms;         /* CLOCK_MONOTONIC, refreshed once per loop iteration */
    char date[40];          /* cached "Date:" value, refreshed when the second changes */
    struct tq tq_header;    /* request started, header section not in yet */
    struct tq tq_body;      /* between two reads of a request body */
    struct tq tq_keepalive; /* idle between requests */
    struct tq tq_send;      /* response in flight, waiting for the client */
    struct tq tq_rate;      /* send_min_rate windows of responses in flight */
    struct tq tq_body_rate; /* body_min_rate windows of request bodies being read */
    struct tq tq_linger;    /* lingering close: input drained after a final answer */
    bool quitting;          /* graceful stop: no new requests on idle connections */
    struct http_limits limits;
    struct shm *shm;          /* instance-wide shared region */
    int shm_column;           /* this process's column in it */
    struct shm_worker *stats; /* this process's figures in it (heartbeat, counters) */
};

extern struct loop loop;

/* Register, change or remove `io`. Return 0 or -1 with errno (logged). ev_set with 0 removes.
 * With loop.epfd < 0 (tests and the fuzzer drive connections by hand) it only records events. */
int ev_set(struct ev_io *io, uint32_t events);

#endif
