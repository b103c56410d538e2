/* Connections (see conn.h).
 *
 * Memory: an idle connection is one struct conn and owns no buffer. While a request is read it
 * owns one input buffer (max_header_size bytes plus the parsed header table); once the response
 * header is built the input buffer goes back unless pipelined bytes wait in it, and the response
 * header buffer goes back as soon as it is sent. A long download therefore holds only the
 * struct and the file descriptor: sendfile moves the bytes.
 *
 * Bytes move only through the connection's transport (transport.h), whichever it is: the state
 * machine here waits for the readiness each call reports, drains what the transport holds
 * before it waits, and runs its handshake first. Sending a response is worker/send.c; the
 * struct they share is in conn_internal.h. */
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
#include "worker/conn_internal.h"
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

static struct conn *pool;
static struct conn *free_conns;
static struct conn *closed_conns;
static int pool_max, pool_used, nconns; /* pool_used: slots ever handed out */
static struct bufpool in_pool, out_pool;
static size_t in_data_cap;
static size_t resp_max;
static struct conn_env env;
static struct http_limits limits;
static bool quitting; /* graceful stop: no new requests on idle connections */
static struct tq tq_handshake, tq_header, tq_body, tq_keepalive, tq_send,
    tq_linger;                          /* c->timer's queues */
static struct tq tq_rate, tq_body_rate; /* c->rate_timer's (send_min_rate, body_min_rate) */

static void conn_io(struct ev_io *io, uint32_t events);
static enum send_result send_more(struct conn *c);
static void send_canned(struct conn *c);

int
conn_pool_init(int max, const struct http_limits *lim)
{
    limits = *lim;
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
    bufpool_trim(&in_pool);
    bufpool_trim(&out_pool);
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
        shm_ip_release(env.shm, env.shm_column, (struct sockaddr *)&c->peer);
    c->peer_counted = false;
}

/* A slot for an accepted socket, watched for input; NULL when the pool is full or epoll refused
 * it (then fd is closed, the transport released and the counted peer given back). */
static struct conn *
conn_open(int fd, const struct transport *tp, void *ctx, const struct sockaddr *counted_peer)
{
    struct conn *c = take_slot();
    if (c == NULL) {
        if (counted_peer)
            shm_ip_release(env.shm, env.shm_column, counted_peer);
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
    env.stats->connections++;
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
    /* The clocks, in order. From accept, handshake_timeout covers the transport's handshake
     * (a PROXY header, TLS); then the first request gets header_timeout, like nginx's
     * client_header_timeout; keep-alive idleness applies only between requests. A transport
     * without a handshake (plain) starts header_timeout at accept. */
    if (tp->handshake) {
        c->state = CONN_HANDSHAKE;
        tq_arm(&tq_handshake, &c->timer, ev_now());
    } else {
        tq_arm(&tq_header, &c->timer, ev_now());
    }
    return c;
}

struct ev_io *
conn_start(int fd, const struct transport *tp, void *ctx, const struct sockaddr *counted_peer)
{
    struct conn *c = conn_open(fd, tp, ctx, counted_peer);
    return c ? &c->io : NULL;
}

void
conn_refuse(int fd, const struct transport *tp, void *ctx, const char *answer, size_t len)
{
    struct conn *c = conn_open(fd, tp, ctx, NULL);
    if (c == NULL)
        return;
    /* Until the answer goes out, the part fields (unused before a first response) hold it:
     * a refusal costs no field of its own in every connection. */
    c->body = answer;
    c->body_off = (off_t)len;
    if (c->state != CONN_HANDSHAKE)
        send_canned(c);
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
    in->data = (char *)(headers + limits.max_headers);
    in->pos = 0;
    http_req_init(&in->req, in->data, &limits, headers);
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
        tq_arm(&tq_header, &c->timer, ev_now());
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
    out->close = c->close_after || quitting || env.cfg->keepalive_timeout_ms == 0 ||
                 c->nrequests + 1 >= (uint32_t)env.cfg->max_keepalive_requests;
    if (error_status)
        resp_error(out, &in->req, error_status, NULL);
    else
        resp_dispatch(out, &in->req, &file);
    c->close_after = out->close;
    /* Closing while the client may still send (its body unread, or more requests behind this
     * one) would reset the connection and could destroy the answer in flight: linger. */
    c->linger = c->close_after && (!in->req.complete || in->pos < in->len);
    c->nrequests++;
    env.stats->requests++;
    c->file = file.entry;
    c->part = 0;
    c->in_file = false;
    c->state = CONN_SENDING;
    c->sent = c->rate_window_sent = 0;
    tq_arm(&tq_send, &c->timer, ev_now());
    tq_disarm(&c->rate_timer); /* a body_min_rate window ends with the body */
    if (env.cfg->send_min_rate)
        tq_arm(&tq_rate, &c->rate_timer, ev_now());
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
    enum transport_want want = TRANSPORT_WANT_WRITE;
    ssize_t n = c->tp->send(c->io.fd, c->tp_ctx, msg, sizeof(msg) - 1, false, &want);
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
    tq_arm(&tq_body, &c->timer, ev_now());
    c->sent = c->rate_window_sent = 0;
    if (env.cfg->body_min_rate)
        tq_arm(&tq_body_rate, &c->rate_timer, ev_now());
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
 * and other connections get their turn in between. Bytes held inside the transport are the
 * exception: epoll cannot see them, so conn_run reads them before it waits again. Returns false
 * when closed. */
static bool
read_some(struct conn *c)
{
    if (!take_input_buffer(c))
        return false;
    struct ibuf *in = c->in;
    if (in->len == in_data_cap)
        return true; /* parse_buffered answers such a request; it never stays full */
    enum transport_want want = TRANSPORT_WANT_READ;
    ssize_t n = c->tp->recv(c->io.fd, c->tp_ctx, in->data + in->len, in_data_cap - in->len, &want);
    c->read_blocked = n < 0 && (errno == EAGAIN || errno == EINTR);
    if (n > 0) {
        in->len += (size_t)n;
        if (in->req.headers_done) {
            tq_arm(&tq_body, &c->timer, ev_now());
            c->sent += n; /* body_min_rate */
        }
        return true;
    }
    if (c->read_blocked) {
        c->read_wait = conn_wait_events(want);
        return true;
    }
    conn_close(c, n == 0 ? "client closed" : "read error");
    return false;
}

static void
linger_drain(struct conn *c)
{
    char sink[4096];
    for (;;) {
        enum transport_want want = TRANSPORT_WANT_READ;
        ssize_t n = c->tp->recv(c->io.fd, c->tp_ctx, sink, sizeof(sink), &want);
        if (n > 0) {
            c->sent += n;
            if (c->sent >= CONN_LINGER_BYTES) {
                conn_close(c, "lingering close: byte limit");
                return;
            }
            if (c->tp->pending(c->tp_ctx) > 0)
                continue; /* held in the transport: epoll would not say so */
            watch(c, EPOLLIN);
            return;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            watch(c, conn_wait_events(want));
            return;
        }
        conn_close(c, n == 0 ? "lingering close: client done" : "lingering close: read error");
        return;
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
    tq_arm(&tq_linger, &c->timer, ev_now());
    if (c->tp->pending(c->tp_ctx) > 0)
        linger_drain(c); /* epoll would not report what the transport holds */
    else
        watch(c, EPOLLIN);
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
    if (c->close_after || quitting) {
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
        tq_arm(&tq_header, &c->timer, ev_now());
        return;
    }
    bufpool_put(&in_pool, in);
    c->in = NULL;
    c->state = CONN_IDLE;
    tq_arm(&tq_keepalive, &c->timer, ev_now());
}

/* Send what the transport takes now (send.c). Bytes that went out restart send_timeout, a
 * spent response buffer goes back to its pool, and a failure closes the connection. */
static enum send_result
send_more(struct conn *c)
{
    const char *why;
    int64_t before = c->sent;
    enum send_result r = send_some(c, env.cfg->sendfile_max_chunk, &why);
    if (c->sent != before)
        tq_arm(&tq_send, &c->timer, ev_now());
    if (c->out_spent) {
        put_out(c->out);
        c->out = NULL;
        c->out_spent = false;
    }
    if (r == SEND_FAILED)
        conn_close(c, why);
    return r;
}

/* More request bytes are needed. Those the transport already holds (after a recv that brought
 * bytes) are read now: a level-triggered epoll never reports them, and waiting would strand a
 * request that sits entirely in the transport. Returns true when reading went on, false when
 * the connection now waits (or was closed). */
static bool
read_more(struct conn *c)
{
    if (!c->read_blocked && c->tp->pending(c->tp_ctx) > 0)
        return read_some(c);
    watch(c, c->read_blocked ? c->read_wait : EPOLLIN);
    return false;
}

/* Drive one connection as far as it can go without blocking. */
static void
conn_run(struct conn *c)
{
    for (;;) {
        if (c->state == CONN_READING && !parse_buffered(c)) {
            if (!read_more(c))
                return;
            continue;
        }
        if (c->state != CONN_SENDING)
            return;
        switch (send_more(c)) {
        case SEND_FAILED:
            return;
        case SEND_BLOCKED:
            watch(c, c->send_wait);
            return;
        case SEND_YIELD: /* level-triggered EPOLLOUT fires again at once if there is room */
            watch(c, EPOLLOUT);
            return;
        case SEND_DONE:
            finish_response(c);
            c->read_blocked = false; /* a new request: what the transport holds comes first */
            if (c->state == CONN_IDLE && !read_more(c))
                return;
            if (c->state != CONN_READING)
                return;
            break; /* a pipelined request is in the buffer, or the transport held one */
        }
    }
}

/* conn_refuse: the canned answer, then close. */
static void
send_canned(struct conn *c)
{
    if ((c->out = bufpool_get(&out_pool)) == NULL) {
        conn_close(c, "no buffer for the response");
        return;
    }
    resp_init(c->out, out_pool.size - sizeof(struct resp), resp_max);
    resp_body(c->out, c->body, (size_t)c->body_off);
    c->body = NULL;
    c->body_off = 0;
    c->close_after = true;
    c->state = CONN_SENDING;
    tq_arm(&tq_send, &c->timer, ev_now());
    conn_run(c);
}

/* The transport's handshake, bounded by handshake_timeout from accept. When it is done,
 * header_timeout starts, and what the transport already holds is read at once. */
static void
handshake_step(struct conn *c)
{
    enum transport_want want = TRANSPORT_WANT_READ;
    if (c->tp->handshake(c->io.fd, c->tp_ctx, &want) < 0) {
        if (errno == EAGAIN || errno == EINTR)
            watch(c, conn_wait_events(want));
        else
            conn_close(c, "handshake failed");
        return;
    }
    if (c->body) { /* conn_refuse's answer waited for the handshake */
        send_canned(c);
        return;
    }
    c->state = CONN_IDLE;
    tq_arm(&tq_header, &c->timer, ev_now());
    if (read_more(c))
        conn_run(c);
}

static void
conn_io(struct ev_io *io, uint32_t events)
{
    struct conn *c = conn_of_io(io);
    if (c->state == CONN_CLOSED)
        return;
#ifdef SLUICE_CHECK_PROGRESS
    struct conn_snap before;
    conn_snap_take(c, &before);
#endif
    if ((events & EPOLLERR) && c->state != CONN_READING) {
        conn_close(c, "socket error");
        return;
    }
    if (c->state == CONN_LINGER)
        linger_drain(c);
    else if (c->state == CONN_HANDSHAKE)
        handshake_step(c);
    else if (c->state == CONN_SENDING || read_some(c))
        conn_run(c);
#ifdef SLUICE_CHECK_PROGRESS
    conn_check_progress(c, &before);
#endif
}

/* The loop's timer phase hands each expired node to its queue's callback (conn_setup). */
static void
expire(struct tq_node *n, void *what)
{
    struct conn *c = conn_of_timer(n);
    if (c->state == CONN_READING && c->in && c->in->len > 0) {
        /* A request was started and nothing answered yet: say why, best effort. */
        c->close_after = true;
        respond(c, 408);
        if (c->state == CONN_SENDING)
            send_more(c);
    }
    if (c->state == CONN_SENDING)
        c->tp->shutdown(c->io.fd, c->tp_ctx); /* the 408 went out: end it cleanly */
    conn_close(c, what);
}

/* send_min_rate: every send_min_rate_period of a response in flight must have moved rate x
 * period bytes. send_timeout alone only measures gaps, so a client that reads a byte a minute
 * would hold a transfer forever; and a stalled client makes no progress events, so this runs
 * from its own timer queue rather than on writes. */
static void
expire_rate(struct tq_node *n, void *unused __attribute__((unused)))
{
    const struct cfg *cfg = env.cfg;
    int64_t need = cfg->send_min_rate * cfg->send_min_rate_period_ms / 1000;
    struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, rate_timer));
    int64_t moved = c->sent - c->rate_window_sent;
    if (moved < need) {
        log_info("closing a connection below send_min_rate: %lld bytes in %lld ms",
                 (long long)moved, (long long)cfg->send_min_rate_period_ms);
        conn_close(c, "send_min_rate");
        return;
    }
    c->rate_window_sent = c->sent;
    tq_arm(&tq_rate, &c->rate_timer, ev_now());
}

/* body_min_rate: every body_min_rate_period of a body being read must bring rate x period
 * bytes, or the request gets 408 and the connection closes. */
static void
expire_body_rate(struct tq_node *n, void *unused __attribute__((unused)))
{
    const struct cfg *cfg = env.cfg;
    int64_t need = cfg->body_min_rate * cfg->body_min_rate_period_ms / 1000;
    struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, rate_timer));
    int64_t moved = c->sent - c->rate_window_sent;
    if (c->state != CONN_READING || moved >= need) {
        c->rate_window_sent = c->sent;
        if (c->state == CONN_READING)
            tq_arm(&tq_body_rate, &c->rate_timer, ev_now());
        return;
    }
    log_info("request body below body_min_rate: %lld bytes in %lld ms; answering 408",
             (long long)moved, (long long)cfg->body_min_rate_period_ms);
    c->close_after = true;
    respond(c, 408);
    if (c->state == CONN_SENDING)
        send_more(c);
    if (c->state == CONN_SENDING)
        c->tp->shutdown(c->io.fd, c->tp_ctx);
    conn_close(c, "body_min_rate");
}

int
conn_setup(const struct conn_env *e)
{
    const struct cfg *cfg = e->cfg;
    const struct {
        struct tq *q;
        int64_t ms;
        ev_expire_cb *cb;
        const char *why;
    } queues[] = {
        {&tq_rate, cfg->send_min_rate_period_ms, expire_rate, NULL},
        {&tq_body_rate, cfg->body_min_rate_period_ms, expire_body_rate, NULL},
        {&tq_handshake, cfg->handshake_timeout_ms, expire, "handshake timeout"},
        {&tq_header, cfg->header_timeout_ms, expire, "header timeout"},
        {&tq_body, cfg->body_timeout_ms, expire, "body timeout"},
        {&tq_keepalive, cfg->keepalive_timeout_ms, expire, "keep-alive timeout"},
        {&tq_send, cfg->send_timeout_ms, expire, "send timeout"},
        {&tq_linger, CONN_LINGER_MS, expire, "lingering close: time limit"},
    };
    env = *e;
    for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++) {
        tq_init(queues[i].q, queues[i].ms);
        if (ev_queue_add(queues[i].q, queues[i].cb, (void *)queues[i].why) < 0)
            return -1;
    }
    return 0;
}

/* Bytes the client has sent that nobody has read yet: held in the transport, or in the
 * socket. */
static bool
has_pending_bytes(const struct conn *c)
{
    int n = 0;
    return c->tp->pending(c->tp_ctx) > 0 || (ioctl(c->io.fd, FIONREAD, &n) == 0 && n > 0);
}

void
conn_close_idle(bool fresh_too)
{
    struct tq_node *n, *next;
    quitting = true;
    /* A connection whose request is already in the socket buffer is served (with
     * Connection: close) rather than closed: closing with unread data would reset it, and the
     * client could not tell whether its request was seen. Idle keep-alive connections wait on
     * the keep-alive queue... */
    for (n = tq_keepalive.head.next; n != &tq_keepalive.head; n = next) {
        next = n->next;
        if (!has_pending_bytes(conn_of_timer(n)))
            conn_close(conn_of_timer(n), "graceful stop");
    }
    /* ...and freshly accepted ones on the header queue without a buffer. Those are given a
     * moment first (fresh_too false): their request is normally on its way. */
    for (n = tq_header.head.next; fresh_too && n != &tq_header.head; n = next) {
        next = n->next;
        struct conn *c = conn_of_timer(n);
        if (c->state == CONN_IDLE && !has_pending_bytes(c))
            conn_close(c, "graceful stop");
    }
    /* ...and, likewise, those still in the transport's handshake. */
    for (n = tq_handshake.head.next; fresh_too && n != &tq_handshake.head; n = next) {
        next = n->next;
        conn_close(conn_of_timer(n), "graceful stop");
    }
}

void
conn_close_all(void)
{
    for (int i = 0; i < pool_used; i++)
        if (pool[i].io.cb && pool[i].state != CONN_CLOSED)
            conn_close(&pool[i], "stop");
}
