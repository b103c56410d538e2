/* Inside a connection: the structs that conn.c shares with conn_req.c (a request's passage),
 * send.c (the response sender) and conn_check.c (the busy-loop assertion), and their entry
 * points. Only those include it; everything else goes through conn.h. */
#ifndef SLUICE_CONN_INTERNAL_H
#define SLUICE_CONN_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/ev.h"
#include "worker/http.h"
#include "worker/req_internal.h"
#include "worker/transport.h"

enum conn_state {
    CONN_IDLE,      /* between requests, no buffer */
    CONN_HANDSHAKE, /* the transport's handshake (PROXY header, TLS): before any request */
    CONN_READING,   /* reading and parsing a request (or paused: the handler holds its body) */
    CONN_WAITING,   /* request in, the handler answers later (request_timeout); not reading */
    CONN_SENDING,   /* response in flight; reading paused */
    CONN_PRODUCING, /* a streamed response sent so far: waiting for its handler to write */
    CONN_LINGER,    /* final answer sent, write side shut: draining input, then close */
    CONN_CLOSED,    /* fd closed, waiting for conn_reap */
};

struct req;
struct resp;
struct ofc_entry;

struct conn {
    struct ev_io io;
    struct tq_node timer;      /* on one of the handshake, header, body, keep-alive, request,
                                * send queues */
    struct tq_node rate_timer; /* on tq_rate while a response is sending (send_min_rate) */
    const struct transport *tp;
    void *tp_ctx;
    struct req *in;           /* the request being read or answered (req_internal.h); NULL
                               * when idle, or once a response no longer needs it */
    struct resp *out;         /* response header being sent, NULL otherwise */
    struct conn *next;        /* free list, reap list or kick list */
    struct ofc_entry *file;   /* what the parts read from (a reference), NULL when nothing */
    off_t file_pos, file_end; /* file bytes of the current part still to send */
    /* The current part's bytes in memory (body[0] is file_off); before a first response,
     * conn_refuse's answer and its length. */
    const char *body;
    off_t body_off;
    int64_t rate_window_sent; /* send_min_rate: bytes sent before the current window */
    int64_t sent;             /* bytes of this response sent so far (of the body being read,
                               * while reading: body_min_rate) */
    uint32_t nrequests;
    /* The log phase's figures of the current request (the loop's clock, ms, mod 2^32). */
    uint32_t t_start, t_dispatch;
    uint16_t status; /* of the response being sent */
    uint8_t part;    /* index into out->parts; the part whose file bytes are sent */
    uint8_t state;
    /* What the last transport call that returned EAGAIN waits for (EPOLLIN or EPOLLOUT),
     * whatever its own direction: a TLS write may need to read first. */
    uint8_t read_wait, send_wait;
    uint8_t route;         /* route_index of the handler answering, ROUTE_NONE */
    uint8_t listener;      /* the listen line it came in on */
    bool tls : 1;          /* ...which is a TLS listener */
    bool read_blocked : 1; /* the last recv returned EAGAIN (else: it brought bytes) */
    bool close_after : 1;  /* close once the current response is sent */
    bool linger : 1;       /* ...and drain input first: the client may still be sending */
    bool peer_counted : 1;
    bool out_spent : 1; /* send.c is done with every byte and part of c->out: conn.c frees it */
    bool in_file : 1;   /* sending the file bytes of `part` */
    bool live : 1;      /* a request has begun and is not logged yet */
    bool paused : 1;    /* READING, but the handler holds the body: not reading */
    bool timed_out : 1; /* the answer being sent is the server's for a timeout */
    bool kicked : 1;    /* on the kick list (conn.c), through `next` */
    bool doomed : 1;    /* its worker retires and cannot hand it over: Connection: close on
                         * its next response, closed after idle_close_grace when idle */
    bool proxied : 1;   /* its peer came from a PROXY header: it cannot move to another worker,
                         * which would see only the balancer's address */
    struct req_peer peer;
#ifdef SLUICE_CHECK_PROGRESS
    unsigned stalls; /* wake-ups in a row that made no progress */
#endif
};

/* The epoll events for what a blocked transport call waits for. */
static inline uint8_t
conn_wait_events(enum transport_want want)
{
    return want == TRANSPORT_WANT_WRITE ? EPOLLOUT : EPOLLIN;
}

#ifdef SLUICE_CHECK_PROGRESS
/* conn_check.c: the loop's rule, asserted in the sanitizer and fuzzer builds. conn_io takes a
 * snapshot before it handles an event and checks after it that something moved. */
struct conn_snap {
    uint8_t state;
    uint32_t events, nrequests;
    size_t in_len, in_pos, out_sent;
    int64_t sent;
    off_t file_pos;
    const void *in, *out;
};
void conn_snap_take(const struct conn *c, struct conn_snap *s);
/* Aborts (log_crit) after CONN_STALLS_MAX wake-ups in a row without progress. */
void conn_check_progress(struct conn *c, const struct conn_snap *before);
#endif

/* conn.c's primitives, for conn_req.c. */
enum conn_clock {
    CLOCK_HANDSHAKE,
    CLOCK_HEADER,
    CLOCK_BODY,
    CLOCK_KEEPALIVE,
    CLOCK_REQUEST,
    CLOCK_SEND,
    CLOCK_LINGER,
    CLOCK_GRACE, /* idle_close_grace: a doomed connection between requests (conn_retire.c) */
};
struct cfg;
struct http_limits;
/* Arm c->timer on the queue of clock `k` (from now), or c->rate_timer on send_min_rate's
 * (body false) or body_min_rate's. */
void conn_arm(struct conn *c, enum conn_clock k);
void conn_arm_rate(struct conn *c, bool body);
void conn_watch(struct conn *c, uint32_t events);
/* Close `c` (the log phase runs for a request in progress, a handler at work is cancelled). */
void conn_close(struct conn *c, const char *why, enum req_end end);
/* Drive `c` as far as it goes without blocking. */
void conn_run(struct conn *c);
/* A handler acted on `c` from outside: conn_run_kick runs it before the loop sleeps. */
void conn_kick(void *conn);
/* A response block from the pool, reset; NULL when out of memory. */
struct resp *conn_out_new(void);
void conn_out_reset(struct resp *out);
const struct cfg *conn_cfg(void);
const struct http_limits *conn_limits(void);
size_t conn_in_cap(void); /* bytes of input a request block holds */
/* The queue of clock `k` (conn_retire.c walks the idle ones), and send_min_rate's (body
 * false) or body_min_rate's. */
struct tq *conn_queue(enum conn_clock k);
struct tq *conn_rate_queue(bool body);
/* This worker's figures in the shared region (its counters). */
struct shm_worker *conn_stats(void);
/* Slot i of the pool, NULL past the slots ever handed out (its state may be CONN_CLOSED). */
struct conn *conn_slot(int i);
/* A slot for an accepted (or handed-over) socket, watched for input, on header_timeout (or
 * handshake_timeout); NULL when the pool is full or epoll refused it: then fd is closed, the
 * transport released and the counted peer given back (conn.h, conn_start). */
struct conn *conn_new(int fd, const struct transport *tp, void *ctx, const struct sockaddr *peer,
                      bool counted, int listener);

/* Count a handed-over client in the max_connections_per_ip table whatever its count (it was
 * admitted where it connected); true when counted (to be released at close). */
bool conn_count_peer(const struct sockaddr *peer);

/* conn_timeout.c, for conn_setup: every queue initialised with its duration and added to the
 * loop with its callback. Returns 0, or -1 (ENOSPC). */
int conn_timeouts_setup(const struct cfg *cfg);

/* The connection whose c->timer is `n`. */
static inline struct conn *
conn_of_timer(struct tq_node *n)
{
    return (struct conn *)((char *)n - offsetof(struct conn, timer));
}

/* conn_retire.c, for conn.c: idle_close_grace ran out for a doomed idle connection. */
void conn_expire_grace(struct tq_node *n, void *arg);

/* conn_req.c, for conn.c. */
const struct req_ops *conn_req_ops(void);
/* What of `cfg` the request path keeps (conn_setup). */
void conn_req_setup(const struct cfg *cfg);
/* The log phase of c's request in progress, once. */
void conn_log(struct conn *c, enum req_end end);
/* c's request has begun (its first byte, in c->in): live, and its start time for the log
 * phase; with the access log on, to the microsecond from the loop's wake-up (its clock read,
 * no other: conn_log reads the clock once more for the end). Inline: it runs per request. */
extern bool conn_access_log_on_; /* conn_req.c's (conn_req_setup): read it through here */
static inline void
conn_begin(struct conn *c)
{
    c->live = true;
    c->t_start = (uint32_t)ev_now();
    if (conn_access_log_on_) {
        c->in->t_start_us = ev_now_us();
        c->in->head_len = 0;
    }
}
/* c->in for a request (taken from the pool when idle); false when closed for want of one. */
bool conn_take_input(struct conn *c);
/* Parse what is buffered; true when parsing stops (an answer to send, a handler at work, a
 * paused body, or closed), false when more bytes are needed. */
bool conn_parse(struct conn *c);
/* The server's own answer `status` (a handler at work is cancelled first). */
void conn_respond(struct conn *c, int status);
/* The pipelined bytes begin the next request; false when closed. */
bool conn_next_request(struct conn *c);
/* A stream's written bytes are out: more now (true), or wait for its handler. */
bool conn_stream_more(struct conn *c);
void conn_run_kick(struct conn *c);

/* send.c */
enum send_result {
    SEND_DONE,    /* the whole response is out */
    SEND_BLOCKED, /* the transport would block: wait for c->send_wait */
    SEND_YIELD,   /* one sendfile chunk is out: come back when the socket has room */
    SEND_FAILED,  /* the connection cannot go on: *why says why; the caller closes it */
};

/* Send as much of c's response (c->out, then c->file part by part) as the transport takes now,
 * file bytes at most `max_chunk` per call, adding what went out to c->sent. Once no byte or
 * part of c->out is needed any more it sets c->out_spent (the caller gives the buffer back:
 * a long download holds none). */
enum send_result send_some(struct conn *c, off_t max_chunk, const char **why);
/* conn.c: send what the transport takes now: bytes that went out restart send_timeout, a spent
 * response buffer goes back to its pool, a failure closes the connection. */
enum send_result conn_send_more(struct conn *c);

#endif
