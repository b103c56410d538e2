/* Inside the request/response seam: the request object as conn.c and the handlers' side (req.c,
 * static_resp.c) share it, and the calls conn.c makes into req.c. Handlers outside the worker's
 * core use req.h alone. */
#ifndef SLUICE_REQ_INTERNAL_H
#define SLUICE_REQ_INTERNAL_H

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "worker/http.h"
#include "worker/req.h"

struct resp;
struct route;
struct ofc_entry;

/* Where a request stands between the seam and its handler. */
enum req_phase {
    REQ_PARSING,  /* header or body still coming; no hook has run */
    REQ_IN_HOOK,  /* the request hook (or a body callback) is running */
    REQ_WAITING,  /* the hook returned REQ_PENDING: the handler answers later */
    REQ_ANSWERED, /* the response header is built (and, for a stream, the stream begun) */
    REQ_ENDED,    /* cancelled: every call is a no-op returning ECANCELED */
};

/* The client's address, packed: a sockaddr_in6 less its flow label (req_peer_unpack). */
struct req_peer {
    uint16_t family; /* AF_INET, AF_INET6, 0 when unknown (a unix socket) */
    uint16_t port;   /* network order */
    uint32_t scope;
    uint8_t addr[16];
};

/* `p` as a sockaddr in `sa`; NULL when unknown. */
const struct sockaddr *req_peer_unpack(const struct req_peer *p, struct sockaddr_in6 *sa);
void req_peer_pack(struct req_peer *p, const struct sockaddr *sa);

/* One request: its bytes, parse state, and what its handler did. A pooled block (req.c owns
 * the pool): this struct, the header table (max_headers entries), then the input bytes. It
 * starts with the connection's first byte of a request and goes back when the response is
 * sent (earlier when nothing refers to it any more: a long download holds none), unless the
 * handler still holds it. */
struct req {
    void *free_link; /* used by the pool while free */
    size_t len;      /* bytes in data */
    size_t pos;      /* bytes of data the parser has consumed */
    char *data;
    struct http_req http;
    struct req_peer real; /* the client a trusted peer named (real_ip_from), when `peer` is it */
    /* The access log's figures, set by conn.c (conn_begin, start_send) for the log phase: kept
     * here, not in struct conn, since only a request held until its log phase needs them. */
    uint64_t t_start_us; /* the loop's clock at the request's first byte */
    uint32_t head_len;   /* the response header's bytes (0 before one was begun) */

    /* Reset for every request (req_start): kept small, the static path touches only this. */
    void *conn;       /* the connection's (opaque here), NULL once it let go */
    struct resp *out; /* the response being built: the connection's block */
    const struct route *route;
    const char *rel; /* the normalised path (no leading '/') during the hook, else NULL */
    size_t rel_len;
    struct http_span path, query;
    struct ofc_entry *file;      /* the response's file (a reference), taken by conn.c */
    const struct req_peer *peer; /* the client: the connection's peer, or `real` */
    uint8_t listener;
    uint8_t phase; /* enum req_phase */
    bool tls : 1;
    bool held : 1;         /* the handler holds it: pending, or a stream not ended */
    bool keep : 1;         /* must live until the response is sent (callbacks, body store) */
    bool status_set : 1;   /* req_status ran */
    bool head_full : 1;    /* a handler's field went past max_response_header */
    bool body_started : 1; /* REQ_BODY_STREAM: req_body_stream ran */
    bool body_paused : 1;
    bool body_done : 1;    /* the whole body came in (and, streamed, was handed on) */
    bool stream : 1;       /* the response body is a stream */
    bool stream_ended : 1; /* req_stream_end ran */
    bool stream_want : 1;  /* run `produce` once what is written has gone out */
    bool stream_raw : 1;   /* HTTP/1.0: no chunk framing */
    bool stream_drop : 1;  /* HEAD: written bytes are dropped */
    bool cold_ready : 1;   /* `cold` is initialised */

    /* What only handlers other than static files use: set up on first use (req.c), so the
     * static path never pays for it. */
    struct {
        req_cancel_cb *cancel;
        void *cancel_arg;
        void *word; /* the handler's (req_set_word) */
        void (*mem_done)(void *arg);
        void *mem_arg;
        req_body_cb *body_cb;
        void *body_arg;
        req_produce_cb *produce;
        void *produce_arg;
        /* REQ_BODY_BUFFER: the body in a pooled block, or spilled to an unlinked file */
        char *body_buf;
        size_t body_len;
        int64_t body_total;
        int body_fd;
    } cold;
};

/* What req.c needs from the connection that owns a request. */
struct req_ops {
    /* The handler answered, woke its stream or resumed its body outside conn.c's own calls:
     * drive the connection (it may close it). */
    void (*kick)(void *conn);
    /* Send 100 Continue now. Returns 0, or -1 when the connection was closed. */
    int (*send_continue)(void *conn);
};

struct req_env {
    const struct req_ops *ops;
    size_t block_size; /* the pooled request block (header table and input bytes included) */
    int64_t body_buffer_size;
    const char *body_temp_path;
    int64_t max_response_header;
    int64_t max_body_size;
};

/* Once per worker (the fuzzer: again while no request is live). Returns 0, or -1. */
int req_setup(const struct req_env *env);

/* A request block, or NULL (ENOMEM); its header table and data are laid out, nothing else. */
struct req *req_get(void);
/* Ready `r` for a new request whose first `r->len` bytes may already be in data. */
void req_start(struct req *r, void *conn, const struct http_limits *lim);
/* The connection lets go of `r` (response sent, or the connection gone): the body store is
 * closed and the block goes back to the pool, unless the handler still holds it (then when it
 * lets go). NULL is fine. */
void req_put(struct req *r);
/* Give cached free blocks back to the allocator. */
void req_trim(void);

/* What the connection does after a call below. */
enum req_next {
    REQ_NEXT_READ,   /* go on reading the body (pieces to req_body_piece) */
    REQ_NEXT_PAUSED, /* stop reading until the handler resumes (kick) */
    REQ_NEXT_SEND,   /* r->out holds a response: send it (r->file its file, if any) */
    REQ_NEXT_WAIT,   /* the handler answers later (kick) */
};

/* The header section is in (HTTP_HEADERS). Routes it, sets the body limit, and either decides
 * the answer now (an error, OPTIONS, a body nobody wants, or a streaming hook that answered)
 * or says to read on. `out` is the response block, already reset; `rel` a scratch buffer of
 * `cap` bytes for the normalised path. */
enum req_next req_headers(struct req *r, struct resp *out, char *rel, size_t cap);
/* Body bytes (http.piece) came in. */
enum req_next req_body_piece(struct req *r);
/* The whole request is in (HTTP_COMPLETE): the hook runs now (or the streamed body ends). */
enum req_next req_complete(struct req *r, struct resp *out, char *rel, size_t cap);

/* Does the request want 100 Continue (sent by the connection before the body is read)? */
bool req_wants_continue(const struct req *r);

/* The request ends before the handler's finishing call (client gone, timeout, stop): its
 * cancel callback runs once. */
void req_cancel(struct req *r);
/* Is the response finished from the handler's side (no stream still to produce)? */
bool req_response_done(const struct req *r);
/* Everything written to a stream has gone out: out is emptied and `produce` runs if wanted.
 * Returns true when out has bytes to send (or the stream ended with its last chunk). */
bool req_stream_pull(struct req *r);
/* The route's name for the log phase, NULL when the server answered itself. */
const char *req_route_name(const struct req *r);

/* The log phase (conn.c calls it once per finished request). */
void req_log_emit(const struct req_log *l);

/* ---- Between req.c, req_body.c and req_send.c ---- */

/* req_env.c, below the three: the configuration and what runs now. */
void req_env_set(const struct req_env *e);
const struct req_env *req_env(void);
/* Handler code for `r` runs between these (its calls then need no kick). */
void req_enter(struct req *r);
void req_leave(void);
bool req_running(const struct req *r);
/* The handler acted outside conn.c's own call: tell the connection (req_ops.kick). */
void req_kick(struct req *r);

/* `r` with its cold state set up (zeroed on first use). */
static inline struct req *
req_cold(struct req *r)
{
    if (!r->cold_ready) {
        memset(&r->cold, 0, sizeof(r->cold));
        r->cold.body_fd = -1;
        r->cold_ready = true;
    }
    return r;
}

/* 0 when a call on `r` may go on, or -1 with errno ECANCELED (ended) or EALREADY (answered). */
static inline int
req_usable(const struct req *r)
{
    if (r->phase == REQ_ENDED) {
        errno = ECANCELED;
        return -1;
    }
    if (r->phase == REQ_ANSWERED) {
        errno = EALREADY;
        return -1;
    }
    return 0;
}

/* req.c: the handler lets go (a finishing call); if the connection already did, the block goes. */
void req_unhold(struct req *r);

/* req_body.c: the pool of body blocks, and a request's stored body. */
void req_body_setup(size_t size);
void req_body_trim(void);
void req_body_free(struct req *r);
/* Keep `n` more bytes of a buffered body. Returns 0, or -1 (logged). */
int req_body_store(struct req *r, const char *p, size_t n);

#endif
