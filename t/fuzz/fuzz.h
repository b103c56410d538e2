/* Shared by the files of the request-path fuzzer: the client side of each connection and the
 * memory transport (client.c), the log-phase records and the request splitter (record.c), the
 * checks of what each client received (check.c) and the driver that schedules wake-ups and
 * timers (fuzz_http.c). */
#ifndef SLUICE_FUZZ_H
#define SLUICE_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cfg.h"
#include "common/ev.h"
#include "worker/req.h"
#include "worker/transport.h"

#define FUZZ_OUT_MAX (1 << 20) /* a client reads at most this much */
#define FUZZ_MAX_REQS 64       /* requests per connection; > max_keepalive_requests */
#define FUZZ_CONN_FD (-1)      /* conn.c skips close() for it; setsockopt fails harmlessly */
#define FUZZ_MAX_CLIENTS 8     /* up to 4 that talk, up to 4 parked ones that fill the pool */
#define FUZZ_PEER_PORT 40000   /* client i connects from 127.0.0.1:FUZZ_PEER_PORT + i */

/* One finished request of a connection, as the log phase reported it (req_log). */
struct record {
    enum req_end end;
    int status;
    int64_t bytes_sent, body_bytes;
    int64_t start_ms, dispatch_ms, end_ms;
    const char *route; /* the handler's name (static storage), NULL for the server's own */
    uint32_t seq;
    bool reused;
    int fd;
};

/* One request the client sent, as the server's own parser (worker/http.c) splits the bytes
 * the server took: the oracle for what each response must be. */
struct sent {
    size_t start;     /* offset of its first byte in the client's input */
    bool head;        /* HEAD: the response carries no body */
    bool options;     /* OPTIONS: the server answers it, whatever the route */
    bool complete;    /* parsed to its end (else the rest was never taken, or it is bad) */
    bool http10;      /* HTTP/1.0: a stream is ended by closing */
    int64_t body_len; /* decoded body bytes, and their app_sum (t/app/pattern.h) */
    uint32_t body_sum;
};

/* The client side of one connection: what it sends, how its socket behaves, what it got. */
struct client {
    int id;
    const uint8_t *in;
    size_t in_len, in_pos;
    size_t piece_left;
    unsigned piece_mode;  /* recv piece sizes, see fuzz_http.c */
    bool stall;           /* input used up: silent (EAGAIN) rather than end of stream */
    bool short_writes;    /* send and sendfile take partial counts, or EAGAIN */
    bool spurious_eagain; /* recv says EAGAIN now and then although bytes wait */
    bool parked;          /* sends nothing, ever: it only holds a pool slot */
    uint32_t rng;
    bool last_send_eagain, last_recv_eagain;
    /* The contrary transport (client.c): every call moves at most one byte, says EAGAIN
     * wanting the other direction every other time, has a handshake, and reads ahead: input
     * from in[held_pos] to in[in_pos] has left the "socket" (epoll no longer sees it) and waits
     * in the transport, reported by pending(). */
    bool contrary;
    bool handshaken;
    bool turn;        /* the next call says EAGAIN wanting the other direction */
    bool peer_writes; /* a send asked to read: the peer answers, so the socket turns readable */
    size_t held_pos;

    struct ev_io *io; /* from conn_start; NULL before it, or when refused */
    bool refused;     /* conn_start failed: the pool was full */
    bool shut, released, overflow;
    bool closed_by_timer; /* released from ev_expire(): a timeout or a rate */

    /* Progress, for the busy-loop check in fuzz_http.c. */
    uint64_t taken;    /* bytes recv handed over, plus one for each end of stream */
    uint64_t accepted; /* bytes send, sendv and sendfile took */
    unsigned excused;  /* EAGAINs the transport made up: a wake-up that met one is excused */
    unsigned stalls;   /* wake-ups in a row without progress */

    char out[FUZZ_OUT_MAX];
    size_t out_len;
    struct record rec[FUZZ_MAX_REQS]; /* the log phase's records, in the order they came */
    int nrec;
    struct sent sent[FUZZ_MAX_REQS]; /* filled by record_split() after the run */
    int nsent;
};

/* The run of the current input (fuzz_http.c). */
extern struct cfg fuzz_cfg;
extern struct client fuzz_clients[FUZZ_MAX_CLIENTS];
extern int fuzz_nclients;
extern bool fuzz_input_has_marker; /* the marker is in the input: it may be echoed */
extern bool fuzz_in_expiry;        /* inside ev_expire() */
/* Whose callback runs now; NULL outside callbacks (expiry, conn_start). */
extern struct client *fuzz_current;

void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
uint32_t fuzz_rnd(uint32_t *state);

/* client.c: the memory transport of the client connections, and its contrary mode. */
extern const struct transport fuzz_transport;
extern const struct transport fuzz_contrary_transport;
/* Bytes held inside cl's transport (read from the socket, not yet handed to conn.c). */
size_t client_held(const struct client *cl);
/* Bytes of cl's input handed to conn.c. */
size_t client_given(const struct client *cl);

/* record.c: the log-phase observer (added once, at set-up) files each record under the client
 * whose peer address it names; record_split fills cl->sent from what conn.c took. */
int record_setup(void);
void record_split(struct client *cl);
/* Descriptors open on files in body_temp_path (the spilled request bodies). */
int record_temp_fds(void);

/* check.c: what `cl` received must be a well-framed sequence of the responses its records
 * describe, one record per request that began. */
void check_client(const struct client *cl);

#endif
