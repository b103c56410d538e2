/* Inside a connection: the structs that conn.c shares with worker/send.c (the response sender)
 * and conn_check.c (the busy-loop assertion), and their entry points. conn.c calls them, never
 * the reverse. Only those three include it; everything else goes through conn.h. */
#ifndef SLUICE_CONN_INTERNAL_H
#define SLUICE_CONN_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/ev.h"
#include "worker/http.h"
#include "worker/transport.h"

enum conn_state {
    CONN_IDLE,      /* between requests, no buffer */
    CONN_HANDSHAKE, /* the transport's handshake (PROXY header, TLS): before any request */
    CONN_READING,   /* reading and parsing a request */
    CONN_SENDING,   /* response in flight; reading paused */
    CONN_LINGER,    /* final answer sent, write side shut: draining input, then close */
    CONN_CLOSED,    /* fd closed, waiting for conn_reap */
};

/* A request's bytes and parse state. Layout in one pooled block: this struct, then the header
 * table (max_headers entries), then max_header_size bytes of input. */
struct ibuf {
    void *free_link; /* used by the pool while free */
    size_t len;      /* bytes in data */
    size_t pos;      /* bytes of data the parser has consumed */
    char *data;
    struct http_req req;
};

struct resp;
struct ofc_entry;

struct conn {
    struct ev_io io;
    struct tq_node timer;      /* on one of the handshake, header, body, keep-alive, send queues */
    struct tq_node rate_timer; /* on tq_rate while a response is sending (send_min_rate) */
    const struct transport *tp;
    void *tp_ctx;
    struct ibuf *in;          /* NULL when idle */
    struct resp *out;         /* response header being sent, NULL otherwise */
    struct conn *next;        /* free list or reap list */
    struct ofc_entry *file;   /* what the parts read from (a reference), NULL when nothing */
    off_t file_pos, file_end; /* file bytes of the current part still to send */
    /* The current part's bytes in memory (body[0] is file_off); before a first response,
     * conn_refuse's answer and its length. */
    const char *body;
    off_t body_off;
    int part;                 /* index into out->parts; the part whose file bytes are sent */
    bool in_file;             /* sending the file bytes of `part` */
    int64_t rate_window_sent; /* send_min_rate: bytes sent before the current window */
    int64_t sent;             /* bytes of this response sent so far */
    uint32_t nrequests;
    uint8_t state;
    /* What the last transport call that returned EAGAIN waits for (EPOLLIN or EPOLLOUT),
     * whatever its own direction: a TLS write may need to read first. */
    uint8_t read_wait, send_wait;
    bool read_blocked; /* the last recv returned EAGAIN (else: it brought bytes) */
    bool close_after;  /* close once the current response is sent */
    bool linger;       /* ...and drain input first: the client may still be sending */
    bool peer_counted;
    bool out_spent; /* send.c is done with every byte and part of c->out: conn.c frees it */
    struct sockaddr_in6 peer; /* large enough for AF_INET too */
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

#endif
