/* Connections (see conn.h).
 *
 * Memory: an idle connection is one struct conn and owns no buffer. While a request is read it
 * owns one input buffer (max_header_size bytes plus the parsed header table); once the response
 * header is built the input buffer goes back unless pipelined bytes wait in it, and the response
 * header buffer goes back as soon as it is sent. A long download therefore holds only the
 * struct and the file descriptor: sendfile moves the bytes. */
#include "worker/conn.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/bufpool.h"
#include "worker/http.h"
#include "worker/ofc.h"
#include "worker/resp.h"

#define BUF_CACHE 64    /* free buffers of each kind kept per worker */
#define RESP_SLACK 1024 /* response header room beyond the longest target */
/* What one response's buffer may grow to (resp.h): room for 64 ranges' part headers, and for a
 * redirect that repeats the target percent-encoded (3 bytes per byte) however long it is. */
#define RESP_GROW_BASE 65536
/* Input room beyond max_header_size: a header section may fill max_header_size exactly, and the
 * body after it still needs somewhere to be read into (it is parsed and dropped there). */
#define IN_BODY_ROOM 4096

enum conn_state {
    CONN_IDLE,    /* between requests, no buffer */
    CONN_READING, /* reading and parsing a request */
    CONN_SENDING, /* response in flight; reading paused */
    CONN_LINGER,  /* final answer sent, write side shut: draining input, then close */
    CONN_CLOSED,  /* fd closed, waiting for conn_reap */
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

struct conn {
    struct ev_io io;
    struct tq_node timer;      /* on one of the header, body, keep-alive and send queues */
    struct tq_node rate_timer; /* on tq_rate while a response is sending (send_min_rate) */
    const struct transport *tp;
    void *tp_ctx;
    struct ibuf *in;          /* NULL when idle */
    struct resp *out;         /* response header being sent, NULL otherwise */
    struct conn *next;        /* free list or reap list */
    struct ofc_entry *file;   /* what the parts read from (a reference), NULL when nothing */
    off_t file_pos, file_end; /* file bytes of the current part still to send */
    const char *body;         /* the current part's bytes in memory (body[0] is file_off) */
    off_t body_off;
    int part;                 /* index into out->parts; the part whose file bytes are sent */
    bool in_file;             /* sending the file bytes of `part` */
    int64_t rate_window_sent; /* send_min_rate: bytes sent before the current window */
    int64_t sent;             /* bytes of this response sent so far */
    uint32_t nrequests;
    uint8_t state;
    bool close_after; /* close once the current response is sent */
    bool linger;      /* ...and drain input first: the client may still be sending */
    bool peer_counted;
    struct sockaddr_in6 peer; /* large enough for AF_INET too */
#ifdef SLUICE_CHECK_PROGRESS
    unsigned stalls; /* wake-ups in a row that made no progress */
#endif
};

static struct conn *pool;
static struct conn *free_conns;
static struct conn *closed_conns;
static int pool_max, pool_used, nconns; /* pool_used: slots ever handed out */
static struct bufpool in_pool, out_pool;
static size_t in_data_cap;
static size_t resp_max;

static void conn_io(struct ev_io *io, uint32_t events);

int
conn_pool_init(int max)
{
    const struct http_limits *lim = &loop.limits;
    /* calloc of a large array maps fresh zero pages: slots never used cost no memory, so the
     * pool is handed out by a bump index before the free list is built up. */
    pool = calloc((size_t)max, sizeof(*pool));
    if (pool == NULL)
        return -1;
    pool_max = max;
    in_data_cap = lim->max_header_size + IN_BODY_ROOM;
    bufpool_init(&in_pool,
                 sizeof(struct ibuf) + (size_t)lim->max_headers * sizeof(struct http_header) +
                     in_data_cap,
                 BUF_CACHE);
    bufpool_init(&out_pool, sizeof(struct resp) + lim->max_request_line + RESP_SLACK, BUF_CACHE);
    resp_max = RESP_GROW_BASE + 3 * lim->max_request_line;
    return 0;
}

bool
conn_pool_full(void)
{
    return free_conns == NULL && pool_used == pool_max;
}

static struct conn *
take_slot(void)
{
    struct conn *c = free_conns;
    if (c)
        free_conns = c->next;
    else if (pool_used < pool_max)
        c = &pool[pool_used++];
    return c;
}

int
conn_count(void)
{
    return nconns;
}

void
conn_trim_buffers(void)
{
    /* The allocator keeps freed small blocks for reuse; malloc_trim below hands whole free
     * pages back to the kernel so RSS follows. */
    void *b;
    while ((b = in_pool.free) != NULL) {
        in_pool.free = *(void **)b;
        in_pool.nfree--;
        free(b);
        bufpool_bytes -= (int64_t)in_pool.size;
    }
    while ((b = out_pool.free) != NULL) {
        out_pool.free = *(void **)b;
        out_pool.nfree--;
        free(b);
        bufpool_bytes -= (int64_t)out_pool.size;
    }
    malloc_trim(0);
}

static struct conn *
conn_of_io(struct ev_io *io)
{
    return (struct conn *)((char *)io - offsetof(struct conn, io));
}

static struct conn *
conn_of_timer(struct tq_node *n)
{
    return (struct conn *)((char *)n - offsetof(struct conn, timer));
}

static void
watch(struct conn *c, uint32_t events)
{
    if (c->io.events != events)
        ev_set(&c->io, events);
}

static void
release_peer(struct conn *c)
{
    if (c->peer_counted)
        shm_ip_release(loop.shm, loop.shm_column, (struct sockaddr *)&c->peer);
    c->peer_counted = false;
}

struct ev_io *
conn_start(int fd, const struct transport *tp, void *ctx, const struct sockaddr *counted_peer)
{
    struct conn *c = take_slot();
    if (c == NULL) {
        if (counted_peer)
            shm_ip_release(loop.shm, loop.shm_column, counted_peer);
        tp->release(ctx);
        close(fd);
        return NULL;
    }
    memset(c, 0, sizeof(*c));
    c->io.fd = fd;
    c->io.cb = conn_io;
    c->tp = tp;
    c->tp_ctx = ctx;
    c->state = CONN_IDLE;
    loop.stats->connections++;
    if (counted_peer) {
        c->peer_counted = true;
        memcpy(&c->peer, counted_peer,
               counted_peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                   : sizeof(struct sockaddr_in));
    }
    nconns++;

    int one = 1;
    /* Headers go out with MSG_MORE and bodies with sendfile, so Nagle has nothing to add but
     * latency on the last segment. Fails harmlessly on unix sockets. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ev_set(&c->io, EPOLLIN) < 0) {
        release_peer(c);
        tp->release(ctx);
        close(fd);
        c->state = CONN_CLOSED;
        c->next = closed_conns;
        closed_conns = c;
        nconns--;
        return NULL;
    }
    /* A fresh connection gets header_timeout for its first request, like nginx's
     * client_header_timeout; keep-alive idleness applies only between requests. */
    tq_arm(&loop.tq_header, &c->timer, loop.now_ms);
    return &c->io;
}

/* A response buffer back to its pool, with the heap block it may have grown into. */
static void
put_out(struct resp *out)
{
    resp_release(out);
    bufpool_put(&out_pool, out);
}

static void
conn_close(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    log_debug("closing connection fd %d: %s", c->io.fd, why);
    c->tp->release(c->tp_ctx);
    release_peer(c);
    if (c->io.fd >= 0)
        close(c->io.fd); /* also removes it from epoll */
    c->io.events = 0;
    ofc_release(c->file);
    c->file = NULL;
    bufpool_put(&in_pool, c->in);
    put_out(c->out);
    c->in = NULL;
    c->out = NULL;
    tq_disarm(&c->timer);
    tq_disarm(&c->rate_timer);
    c->state = CONN_CLOSED;
    c->next = closed_conns;
    closed_conns = c;
    nconns--;
}

void
conn_reap(void)
{
    while (closed_conns) {
        struct conn *c = closed_conns;
        closed_conns = c->next;
        c->next = free_conns;
        free_conns = c;
    }
}

/* Begin a request in c->in, whose first c->in->len bytes may already hold some of it. */
static void
start_request(struct conn *c)
{
    struct ibuf *in = c->in;
    struct http_header *headers = (struct http_header *)(in + 1);
    in->data = (char *)(headers + loop.limits.max_headers);
    in->pos = 0;
    http_req_init(&in->req, in->data, &loop.limits, headers);
    c->state = CONN_READING;
}

static bool
take_input_buffer(struct conn *c)
{
    if (c->in)
        return true;
    if ((c->in = bufpool_get(&in_pool)) == NULL) {
        log_warnx("out of memory for a request buffer; closing connection");
        conn_close(c, "no buffer");
        return false;
    }
    c->in->len = 0;
    start_request(c);
    /* The first request keeps the deadline armed at accept; a later one starts its
     * header_timeout with its first byte. Either way later bytes never extend it. */
    if (c->nrequests > 0)
        tq_arm(&loop.tq_header, &c->timer, loop.now_ms);
    return true;
}

/* Answer the request in c->in (error_status 0: dispatch it). Reading stays paused until the
 * response is out: pipelined bytes wait in the buffer or in the socket. */
static void
respond(struct conn *c, int error_status)
{
    struct ibuf *in = c->in;
    struct resp_file file = {.entry = NULL};

    if (c->out == NULL && (c->out = bufpool_get(&out_pool)) == NULL) {
        conn_close(c, "no buffer for the response");
        return;
    }
    struct resp *out = c->out;
    resp_init(out, out_pool.size - sizeof(struct resp), resp_max);
    out->close = c->close_after || loop.quitting || loop.cfg->keepalive_timeout_ms == 0 ||
                 c->nrequests + 1 >= (uint32_t)loop.cfg->max_keepalive_requests;
    if (error_status)
        resp_error(out, &in->req, error_status, NULL);
    else
        resp_dispatch(out, &in->req, &file);
    c->close_after = out->close;
    /* Closing while the client may still send (its body unread, or more requests behind this
     * one) would reset the connection and could destroy the answer in flight: linger. */
    c->linger = c->close_after && (!in->req.complete || in->pos < in->len);
    c->nrequests++;
    loop.stats->requests++;
    c->file = file.entry;
    c->part = 0;
    c->in_file = false;
    c->state = CONN_SENDING;
    c->sent = c->rate_window_sent = 0;
    tq_arm(&loop.tq_send, &c->timer, loop.now_ms);
    tq_disarm(&c->rate_timer); /* a body_min_rate window ends with the body */
    if (loop.cfg->send_min_rate)
        tq_arm(&loop.tq_rate, &c->rate_timer, loop.now_ms);
    if (in->pos == in->len && !c->close_after) {
        /* Nothing pipelined: the request buffer is not needed while the response goes out. */
        bufpool_put(&in_pool, in);
        c->in = NULL;
    }
}

/* Interim 100 Continue: a short write on a fresh response stream; if the socket cannot take 25
 * bytes at once the client is not reading, and the connection is given up. */
static bool
send_continue(struct conn *c)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    ssize_t n = c->tp->send(c->io.fd, c->tp_ctx, msg, sizeof(msg) - 1, false);
    if (n == (ssize_t)sizeof(msg) - 1)
        return true;
    conn_close(c, "cannot send 100 Continue");
    return false;
}

/* A body is about to be read: body_timeout bounds each gap, body_min_rate the pace, so a
 * body trickling in a byte per gap cannot hold the connection and its buffer for ever. The
 * window counts body bytes in c->sent (nothing is being sent while a request is read). The
 * server reads a body as fast as it comes, so there is no time of its own to leave out. */
static void
start_body(struct conn *c)
{
    tq_arm(&loop.tq_body, &c->timer, loop.now_ms);
    c->sent = c->rate_window_sent = 0;
    if (loop.cfg->body_min_rate)
        tq_arm(&loop.tq_body_rate, &c->rate_timer, loop.now_ms);
}

/* Parse what is buffered. Returns true when a response is ready to send (or the connection was
 * closed), false when more bytes are needed. */
static bool
parse_buffered(struct conn *c)
{
    struct ibuf *in = c->in;
    struct http_req *req = &in->req;

    while (in->pos < in->len) {
        size_t used = 0;
        enum http_feed_result r = http_feed(req, in->data + in->pos, in->len - in->pos, &used);
        in->pos += used;
        switch (r) {
        case HTTP_COMPLETE:
            respond(c, 0);
            return true;
        case HTTP_ERROR:
            c->close_after = true; /* the stream can no longer be trusted */
            respond(c, req->status);
            return true;
        case HTTP_HEADERS:
            if (req->has_body && !resp_reads_body(req)) {
                /* The answer (405, 404) does not depend on the body: send it now instead of
                 * reading, and waiting for, a body nobody wants; then close, draining what
                 * the client still sends so that it reads the answer, not a reset. */
                c->close_after = true;
                respond(c, 0);
                return true;
            }
            if (req->expect_continue && !send_continue(c))
                return true;
            if (req->has_body)
                start_body(c);
            continue;
        case HTTP_NEED_MORE:
            break;
        }
        break;
    }
    if (req->headers_done && in->pos > req->header_end) {
        /* Body bytes already parsed are not kept: the request line and headers stay where
         * they are, and the unparsed tail moves down over the consumed body. */
        size_t tail = in->len - in->pos;
        memmove(in->data + req->header_end, in->data + in->pos, tail);
        in->pos = req->header_end;
        in->len = in->pos + tail;
    }
    if (in->len == in_data_cap) {
        /* Cannot happen: the scanner stops a header section at max_header_size, and body bytes
         * are consumed and compacted away. Kept as the last line of defence, because a full
         * buffer cannot take another byte and a level-triggered EPOLLIN would fire forever. */
        c->close_after = true;
        respond(c, req->headers_done ? 413 : 431);
        return true;
    }
    return false;
}

/* One read per readiness event: the loop is level-triggered, so more data means another event,
 * and other connections get their turn in between. Returns false when closed. */
static bool
read_some(struct conn *c)
{
    if (!take_input_buffer(c))
        return false;
    struct ibuf *in = c->in;
    if (in->len == in_data_cap)
        return true; /* parse_buffered answers such a request; it never stays full */
    ssize_t n = c->tp->recv(c->io.fd, c->tp_ctx, in->data + in->len, in_data_cap - in->len);
    if (n > 0) {
        in->len += (size_t)n;
        if (in->req.headers_done) {
            tq_arm(&loop.tq_body, &c->timer, loop.now_ms);
            c->sent += n; /* body_min_rate */
        }
        return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    conn_close(c, n == 0 ? "client closed" : "read error");
    return false;
}

enum send_result { SEND_DONE, SEND_BLOCKED, SEND_YIELD, SEND_CLOSED };

static enum send_result
progress(struct conn *c, ssize_t n)
{
    c->sent += n;
    tq_arm(&loop.tq_send, &c->timer, loop.now_ms);
    return SEND_DONE;
}

/* Buffer bytes up to `end`; SEND_DONE once they are all out. */
static enum send_result
send_buffer(struct conn *c, size_t end, bool more)
{
    struct resp *out = c->out;
    while (out->sent < end) {
        ssize_t n = c->tp->send(c->io.fd, c->tp_ctx, out->buf + out->sent, end - out->sent, more);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return SEND_BLOCKED;
            conn_close(c, "send error");
            return SEND_CLOSED;
        }
        out->sent += (size_t)n;
        if (progress(c, n) == SEND_CLOSED)
            return SEND_CLOSED;
    }
    return SEND_DONE;
}

/* File bytes of the current part: from memory when the open file cache holds them, else one
 * sendfile call of at most sendfile_max_chunk bytes. */
static enum send_result
send_file(struct conn *c)
{
    off_t left = c->file_end - c->file_pos;
    off_t chunk = loop.cfg->sendfile_max_chunk;
    ssize_t n;
    if (left <= 0)
        return SEND_DONE;
    if (left > chunk)
        left = chunk;
    if (c->body)
        n = c->tp->send(c->io.fd, c->tp_ctx, c->body + (c->file_pos - c->body_off), (size_t)left,
                        false);
    else
        n = c->tp->sendfile(c->io.fd, c->tp_ctx, c->file->fd, &c->file_pos, (size_t)left);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return SEND_BLOCKED;
        conn_close(c, "sendfile error");
        return SEND_CLOSED;
    }
    if (n == 0) {
        /* The file shrank under us: the promised length can no longer be met. */
        log_warnx("file truncated while being sent; closing connection");
        ofc_invalidate(c->file);
        conn_close(c, "file truncated");
        return SEND_CLOSED;
    }
    if (c->body)
        c->file_pos += n;
    if (progress(c, n) == SEND_CLOSED)
        return SEND_CLOSED;
    return c->file_pos < c->file_end ? SEND_YIELD : SEND_DONE;
}

/* The common small-file case in one system call: the rest of the header block and the whole
 * in-memory body of the last part. Returns SEND_DONE when both are out, else what happened; a
 * partial write is simply continued by the generic path. */
static enum send_result
send_head_and_body(struct conn *c, const struct resp_part *p)
{
    struct resp *out = c->out;
    struct iovec iov[2] = {
        {out->buf + out->sent, p->mem_end - out->sent},
        {(void *)p->body, (size_t)p->file_len},
    };
    ssize_t n = c->tp->sendv(c->io.fd, c->tp_ctx, iov, 2, false);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return SEND_BLOCKED;
        conn_close(c, "send error");
        return SEND_CLOSED;
    }
    if (progress(c, n) == SEND_CLOSED)
        return SEND_CLOSED;
    size_t head = iov[0].iov_len;
    if ((size_t)n < head) {
        out->sent += (size_t)n; /* the caller comes back for the rest */
        return SEND_YIELD;
    }
    out->sent += head;
    c->file_pos = p->file_off;
    c->file_end = p->file_off + p->file_len;
    c->body = p->body;
    c->body_off = p->file_off;
    c->in_file = true;
    if ((size_t)n > head)
        c->file_pos += (off_t)((size_t)n - head);
    return c->file_pos == c->file_end ? SEND_DONE : SEND_YIELD;
}

/* Walk the parts of the response: buffer bytes, then file bytes, part after part. The response
 * buffer goes back to its pool as soon as no buffer byte is left to send, so a long download
 * holds only the connection struct and its file reference. */
static enum send_result
send_some(struct conn *c)
{
    for (;;) {
        struct resp *out = c->out;
        if (c->in_file) {
            enum send_result r = send_file(c);
            if (r != SEND_DONE)
                return r;
            c->in_file = false;
            c->body = NULL;
            c->part++;
            if (out == NULL)
                return SEND_DONE;
            continue;
        }
        if (out == NULL)
            return SEND_DONE;
        bool parts_left = c->part < out->nparts;
        if (parts_left && c->part == out->nparts - 1 && out->parts[c->part].body &&
            out->parts[c->part].mem_end == out->len && out->sent < out->len) {
            enum send_result r = send_head_and_body(c, &out->parts[c->part]);
            if (r == SEND_CLOSED || r == SEND_BLOCKED)
                return r;
            if (out->sent == out->len) {
                put_out(out);
                c->out = NULL;
            }
            continue;
        }
        size_t end = parts_left ? out->parts[c->part].mem_end : out->len;
        bool more = parts_left || end < out->len;
        enum send_result r = send_buffer(c, end, more && c->file != NULL);
        if (r != SEND_DONE)
            return r;
        if (!parts_left) {
            put_out(out);
            c->out = NULL;
            return SEND_DONE;
        }
        const struct resp_part *p = &out->parts[c->part];
        c->file_pos = p->file_off;
        c->file_end = p->file_off + p->file_len;
        c->body = p->body;
        c->body_off = p->file_off;
        c->in_file = true;
        if (c->part == out->nparts - 1 && out->sent == out->len) {
            put_out(out);
            c->out = NULL;
        }
    }
}

/* Lingering close: shut the write side (the client sees the end of the answer), give back
 * every buffer, and read and drop what the client still sends, for at most CONN_LINGER_MS or
 * CONN_LINGER_BYTES. Closing with unread input would make the kernel send a reset, which can
 * destroy the answer before the client has read it. */
static void
start_linger(struct conn *c)
{
    c->tp->shutdown(c->io.fd, c->tp_ctx);
    bufpool_put(&in_pool, c->in);
    c->in = NULL;
    c->state = CONN_LINGER;
    c->sent = 0;
    tq_arm(&loop.tq_linger, &c->timer, loop.now_ms);
    watch(c, EPOLLIN);
}

static void
linger_drain(struct conn *c)
{
    char sink[4096];
    ssize_t n = c->tp->recv(c->io.fd, c->tp_ctx, sink, sizeof(sink));
    if (n > 0) {
        c->sent += n;
        if (c->sent >= CONN_LINGER_BYTES)
            conn_close(c, "lingering close: byte limit");
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    conn_close(c, n == 0 ? "lingering close: client done" : "lingering close: read error");
}

/* The response is out: close, start on pipelined bytes, or go idle without a buffer. */
static void
finish_response(struct conn *c)
{
    tq_disarm(&c->rate_timer);
    ofc_release(c->file);
    c->file = NULL;
    if (c->linger && c->close_after) {
        start_linger(c);
        return;
    }
    if (c->close_after || loop.quitting) {
        /* Half-close first so the client reads the whole response before it sees the end. */
        c->tp->shutdown(c->io.fd, c->tp_ctx);
        conn_close(c, "response with Connection: close sent");
        return;
    }
    struct ibuf *in = c->in;
    if (in && in->pos < in->len) {
        size_t tail = in->len - in->pos;
        memmove(in->data, in->data + in->pos, tail);
        in->len = tail;
        start_request(c);
        tq_arm(&loop.tq_header, &c->timer, loop.now_ms);
        return;
    }
    bufpool_put(&in_pool, in);
    c->in = NULL;
    c->state = CONN_IDLE;
    tq_arm(&loop.tq_keepalive, &c->timer, loop.now_ms);
}

/* Drive one connection as far as it can go without blocking. */
static void
conn_run(struct conn *c)
{
    for (;;) {
        if (c->state == CONN_READING && !parse_buffered(c)) {
            watch(c, EPOLLIN);
            return;
        }
        if (c->state != CONN_SENDING)
            return;
        switch (send_some(c)) {
        case SEND_CLOSED:
            return;
        case SEND_BLOCKED:
        case SEND_YIELD: /* level-triggered EPOLLOUT fires again at once if there is room */
            watch(c, EPOLLOUT);
            return;
        case SEND_DONE:
            finish_response(c);
            if (c->state == CONN_IDLE)
                watch(c, EPOLLIN);
            if (c->state != CONN_READING)
                return;
            break; /* a pipelined request is in the buffer */
        }
    }
}

#ifdef SLUICE_CHECK_PROGRESS
/* The loop's rule, asserted in the sanitizer and fuzzer builds: every wake-up consumes bytes,
 * changes state or disarms its event. A connection woken again and again without any of those
 * is a busy loop waiting for its input (a level-triggered event nobody can satisfy). */
#define STALLS_MAX 64

struct snap {
    uint8_t state;
    uint32_t events, nrequests;
    size_t in_len, in_pos, out_sent;
    int64_t sent;
    off_t file_pos;
    const void *in, *out;
};

static void
snap_take(const struct conn *c, struct snap *s)
{
    memset(s, 0, sizeof(*s));
    s->state = c->state;
    s->events = c->io.events;
    s->nrequests = c->nrequests;
    s->in = c->in;
    s->out = c->out;
    s->in_len = c->in ? c->in->len : 0;
    s->in_pos = c->in ? c->in->pos : 0;
    s->out_sent = c->out ? c->out->sent : 0;
    s->sent = c->sent;
    s->file_pos = c->file_pos;
}

static void
check_progress(struct conn *c, const struct snap *before)
{
    struct snap after;
    if (c->state == CONN_CLOSED)
        return;
    snap_take(c, &after);
    if (memcmp(before, &after, sizeof(after)) != 0) {
        c->stalls = 0;
        return;
    }
    if (++c->stalls >= STALLS_MAX) {
        log_critx("busy loop: connection fd %d woken %u times in a row without progress "
                  "(state %d, events %#x)",
                  c->io.fd, c->stalls, c->state, c->io.events);
        abort();
    }
}
#endif

static void
conn_io(struct ev_io *io, uint32_t events)
{
    struct conn *c = conn_of_io(io);
    if (c->state == CONN_CLOSED)
        return;
#ifdef SLUICE_CHECK_PROGRESS
    struct snap before;
    snap_take(c, &before);
#endif
    if ((events & EPOLLERR) && c->state != CONN_READING) {
        conn_close(c, "socket error");
        return;
    }
    if (c->state == CONN_LINGER)
        linger_drain(c);
    else if (c->state == CONN_SENDING || read_some(c))
        conn_run(c);
#ifdef SLUICE_CHECK_PROGRESS
    check_progress(c, &before);
#endif
}

static void
expire(struct tq *q, const char *what)
{
    struct tq_node *n;
    while ((n = tq_pop_expired(q, loop.now_ms)) != NULL) {
        struct conn *c = conn_of_timer(n);
        if (c->state == CONN_READING && c->in && c->in->len > 0) {
            /* A request was started and nothing answered yet: say why, best effort. */
            c->close_after = true;
            respond(c, 408);
            if (c->state == CONN_SENDING)
                send_some(c);
        }
        if (c->state == CONN_SENDING)
            c->tp->shutdown(c->io.fd, c->tp_ctx); /* the 408 went out: end it cleanly */
        conn_close(c, what);
    }
}

/* send_min_rate: every send_min_rate_period of a response in flight must have moved rate x
 * period bytes. send_timeout alone only measures gaps, so a client that reads a byte a minute
 * would hold a transfer forever; and a stalled client makes no progress events, so this runs
 * from its own timer queue rather than on writes. */
static void
expire_rate(void)
{
    const struct cfg *cfg = loop.cfg;
    int64_t need = cfg->send_min_rate * cfg->send_min_rate_period_ms / 1000;
    struct tq_node *n;
    while ((n = tq_pop_expired(&loop.tq_rate, loop.now_ms)) != NULL) {
        struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, rate_timer));
        int64_t moved = c->sent - c->rate_window_sent;
        if (moved < need) {
            log_info("closing a connection below send_min_rate: %lld bytes in %lld ms",
                     (long long)moved, (long long)cfg->send_min_rate_period_ms);
            conn_close(c, "send_min_rate");
            continue;
        }
        c->rate_window_sent = c->sent;
        tq_arm(&loop.tq_rate, &c->rate_timer, loop.now_ms);
    }
}

/* body_min_rate: every body_min_rate_period of a body being read must bring rate x period
 * bytes, or the request gets 408 and the connection closes. */
static void
expire_body_rate(void)
{
    const struct cfg *cfg = loop.cfg;
    int64_t need = cfg->body_min_rate * cfg->body_min_rate_period_ms / 1000;
    struct tq_node *n;
    while ((n = tq_pop_expired(&loop.tq_body_rate, loop.now_ms)) != NULL) {
        struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, rate_timer));
        int64_t moved = c->sent - c->rate_window_sent;
        if (c->state != CONN_READING || moved >= need) {
            c->rate_window_sent = c->sent;
            if (c->state == CONN_READING)
                tq_arm(&loop.tq_body_rate, &c->rate_timer, loop.now_ms);
            continue;
        }
        log_info("request body below body_min_rate: %lld bytes in %lld ms; answering 408",
                 (long long)moved, (long long)cfg->body_min_rate_period_ms);
        c->close_after = true;
        respond(c, 408);
        if (c->state == CONN_SENDING)
            send_some(c);
        if (c->state == CONN_SENDING)
            c->tp->shutdown(c->io.fd, c->tp_ctx);
        conn_close(c, "body_min_rate");
    }
}

void
conn_expire_timeouts(void)
{
    expire_rate();
    expire_body_rate();
    expire(&loop.tq_header, "header timeout");
    expire(&loop.tq_body, "body timeout");
    expire(&loop.tq_keepalive, "keep-alive timeout");
    expire(&loop.tq_send, "send timeout");
    expire(&loop.tq_linger, "lingering close: time limit");
}

int64_t
conn_next_deadline(void)
{
    int64_t d = tq_next_deadline(&loop.tq_header);
    struct tq *others[] = {&loop.tq_body, &loop.tq_keepalive, &loop.tq_send,
                           &loop.tq_rate, &loop.tq_body_rate, &loop.tq_linger};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        int64_t e = tq_next_deadline(others[i]);
        if (e < d)
            d = e;
    }
    return d;
}

/* Bytes the client has sent that nobody has read yet. */
static bool
has_pending_bytes(const struct conn *c)
{
    int n = 0;
    return ioctl(c->io.fd, FIONREAD, &n) == 0 && n > 0;
}

void
conn_close_idle(bool fresh_too)
{
    struct tq_node *n, *next;
    /* A connection whose request is already in the socket buffer is served (with
     * Connection: close) rather than closed: closing with unread data would reset it, and the
     * client could not tell whether its request was seen. Idle keep-alive connections wait on
     * the keep-alive queue... */
    for (n = loop.tq_keepalive.head.next; n != &loop.tq_keepalive.head; n = next) {
        next = n->next;
        if (!has_pending_bytes(conn_of_timer(n)))
            conn_close(conn_of_timer(n), "graceful stop");
    }
    /* ...and freshly accepted ones on the header queue without a buffer. Those are given a
     * moment first (fresh_too false): their request is normally on its way. */
    for (n = loop.tq_header.head.next; fresh_too && n != &loop.tq_header.head; n = next) {
        next = n->next;
        struct conn *c = conn_of_timer(n);
        if (c->state == CONN_IDLE && !has_pending_bytes(c))
            conn_close(c, "graceful stop");
    }
}

void
conn_close_all(void)
{
    for (int i = 0; i < pool_used; i++)
        if (pool[i].io.cb && pool[i].state != CONN_CLOSED)
            conn_close(&pool[i], "stop");
}
