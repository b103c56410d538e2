/* A request's passage through a connection (see conn.c for the connection itself): parsing what
 * was read, handing the request to the seam (req_internal.h) at its header, each body piece and
 * its end, acting on what the seam decides (read on, pause, wait for the handler, send), the
 * server's own answers, the next pipelined request, and the log phase. conn.c calls in here
 * from its loop and timers; this file calls conn.c's primitives (close, watch, clocks, the
 * response pool) through conn_internal.h, the module's private header. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>

#include "common/cfg.h"
#include "common/clock.h"
#include "common/ev.h"
#include "common/log.h"
#include "worker/conn_internal.h"
#include "worker/ofc.h"
#include "worker/realip.h"
#include "worker/req_internal.h"
#include "worker/resp.h"
#include "worker/route.h"

static int conn_continue(void *conn);
static const struct req_ops ops = {.kick = conn_kick, .send_continue = conn_continue};

/* What the configuration asks of every request, read once (conn_req_setup): the per-request
 * path then tests a flag, not the configuration. */
bool conn_access_log_on_; /* hold each request to its log phase, timed to the microsecond */
static bool real_ip_on;   /* real_ip_from: look for the client a trusted peer names */

void
conn_req_setup(const struct cfg *cfg)
{
    conn_access_log_on_ = cfg->access_log[0] != '\0';
    real_ip_on = cfg->nreal_ip_from > 0;
}

const struct req_ops *
conn_req_ops(void)
{
    return &ops;
}

/* The log phase of the current request, once: whatever its end. */
void
conn_log(struct conn *c, enum req_end end)
{
    if (!c->live)
        return;
    c->live = false;
    int64_t now = ev_now();
    const struct req *in = c->in;
    struct req_log l;
    l.end = c->timed_out && end == REQ_END_COMPLETE ? REQ_END_TIMEOUT : end;
    l.status = c->status;
    l.bytes_sent = c->state == CONN_SENDING || c->state == CONN_PRODUCING ? c->sent : 0;
    l.body_bytes = in ? in->http.body_bytes : 0;
    l.start_ms = now - (int64_t)(uint32_t)((uint32_t)now - c->t_start);
    l.dispatch_ms = c->t_dispatch ? now - (int64_t)(uint32_t)((uint32_t)now - c->t_dispatch) : 0;
    l.end_ms = now;
    l.route = c->route == ROUTE_NONE ? NULL : route_at(c->route)->h->name;
    l.seq = c->nrequests;
    l.reused = c->nrequests > 1;
    l.fd = c->io.fd;
    l.listener = c->listener;
    l.tls = c->tls;
    l.peer = &c->peer;
    l.req = in;
    l.parsed = false;
    l.header_bytes = 0;
    l.duration_us = (l.end_ms - l.start_ms) * 1000;
    if (in) {
        l.peer = in->peer; /* the real client (real_ip_from) */
        l.parsed = in->http.headers_done;
        /* With the access log on, the request is held to here (start_send) with its
         * figures. */
        if (conn_access_log_on_) {
            l.header_bytes =
                (int64_t)in->head_len < l.bytes_sent ? (int64_t)in->head_len : l.bytes_sent;
            l.duration_us = (int64_t)(clock_mono_us() - in->t_start_us);
        }
    }
    req_log_emit(&l);
    c->status = 0;
    c->t_dispatch = 0;
    c->route = ROUTE_NONE;
    c->timed_out = false;
}

/* Begin a request in c->in, whose first c->in->len bytes may already hold some of it. */
static void
start_request(struct conn *c)
{
    struct req *in = c->in;
    req_start(in, c, conn_limits());
    in->listener = c->listener;
    in->tls = c->tls;
    in->peer = &c->peer;
    c->state = CONN_READING;
    c->paused = false;
    if (in->len > 0)
        conn_begin(c);
}

bool
conn_take_input(struct conn *c)
{
    if (c->in)
        return true;
    if ((c->in = req_get()) == NULL) {
        log_warnx("out of memory for a request buffer; closing connection");
        conn_close(c, "no buffer", REQ_END_ERROR);
        return false;
    }
    c->in->len = 0;
    start_request(c);
    /* The first request keeps the deadline armed at accept; a later one starts its
     * header_timeout with its first byte. Either way later bytes never extend it. */
    if (c->nrequests > 0)
        conn_arm(c, CLOCK_HEADER);
    return true;
}

/* The response block for c's request, reset (kept if the handler is building in it already);
 * NULL when there is none to be had (the connection is closed then). */
static struct resp *
take_out(struct conn *c)
{
    if (c->out)
        return c->out;
    if ((c->out = conn_out_new()) == NULL) {
        conn_close(c, "no buffer for the response", REQ_END_ERROR);
        return NULL;
    }
    c->out->close = c->close_after || c->doomed || conn_cfg()->keepalive_timeout_ms == 0 ||
                    c->nrequests + 1 >= (uint32_t)conn_cfg()->max_keepalive_requests;
    return c->out;
}

/* c->out holds the answer to c->in: send it. Reading stays paused until the response is out:
 * pipelined bytes wait in the buffer or in the socket. */
static void
start_send(struct conn *c)
{
    struct req *in = c->in;
    struct resp *out = c->out;
    c->close_after = c->close_after || out->close;
    /* Closing while the client may still send (its body unread, or more requests behind this
     * one) would reset the connection and could destroy the answer in flight: linger. */
    c->linger = c->close_after && (!in->http.complete || in->pos < in->len);
    c->nrequests++;
    c->status = (uint16_t)out->status;
    in->head_len = (uint32_t)out->head;
    c->route = (uint8_t)route_index(in->route);
    c->paused = false;
    c->file = in->file;
    in->file = NULL;
    c->part = 0;
    c->in_file = false;
    c->state = CONN_SENDING;
    c->sent = c->rate_window_sent = 0;
    conn_arm(c, CLOCK_SEND);
    tq_disarm(&c->rate_timer); /* a body_min_rate window ends with the body */
    if (conn_cfg()->send_min_rate)
        conn_arm_rate(c, false);
    if (in->pos == in->len && !c->close_after && !in->keep && !in->held &&
        in->http.body_bytes == 0 && !conn_access_log_on_) {
        /* Nothing pipelined, nothing to call back, no body for the log phase to count, no
         * access log to read the request line and fields from: the request buffer is not
         * needed while the response goes out. (With access_log on it stays until conn_log:
         * at most max_header_size more per connection sending, as nginx keeps its request.) */
        req_put(in);
        c->in = NULL;
    }
}

/* The server's own answer `status` to c's request (408, 413, 431, 504, a malformed one...).
 * A handler still at work on it is cancelled first. */
void
conn_respond(struct conn *c, int status)
{
    req_cancel(c->in);
    struct resp *out = take_out(c);
    if (out == NULL)
        return;
    conn_out_reset(out); /* a handler may have begun its own header in it */
    out->close = true;
    resp_error(out, &c->in->http, status, NULL);
    ofc_release(c->in->file);
    c->in->file = NULL;
    start_send(c);
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
    conn_close(c, "cannot send 100 Continue", REQ_END_CLIENT_GONE);
    return false;
}

static int
conn_continue(void *conn)
{
    return send_continue(conn) ? 0 : -1;
}

/* A body is about to be read: body_timeout bounds each gap, body_min_rate the pace, so a
 * body trickling in a byte per gap cannot hold the connection and its buffer for ever. The
 * window counts body bytes in c->sent (nothing is being sent while a request is read). The
 * server reads a body as fast as it comes, so there is no time of its own to leave out. */
static void
start_body(struct conn *c)
{
    conn_arm(c, CLOCK_BODY);
    c->sent = c->rate_window_sent = 0;
    if (conn_cfg()->body_min_rate)
        conn_arm_rate(c, true);
}

/* Act on what the seam decided. Returns true when parsing stops here (an answer to send, a
 * handler to wait for, a paused body, or the connection closed), false to parse on. */
static bool
follow(struct conn *c, enum req_next next)
{
    if (c->state == CONN_CLOSED)
        return true;
    switch (next) {
    case REQ_NEXT_READ:
        return false;
    case REQ_NEXT_PAUSED:
        /* The handler holds the body: nothing is read (TCP pushes back on the client), and no
         * body clock runs against the client meanwhile; request_timeout bounds the handler
         * instead, as when it holds a complete request. A client that closes is noticed. */
        c->paused = true;
        conn_arm(c, CLOCK_REQUEST);
        tq_disarm(&c->rate_timer);
        conn_watch(c, EPOLLRDHUP);
        return true;
    case REQ_NEXT_SEND:
        if (c->in->http.has_body && !c->in->http.complete)
            c->close_after = true; /* answered before its body: the rest is not read */
        start_send(c);
        return true;
    case REQ_NEXT_WAIT:
        /* request_timeout bounds the wait for the header; a client that leaves (even a
         * half-close) ends it. */
        c->state = CONN_WAITING;
        c->paused = false;
        conn_arm(c, CLOCK_REQUEST);
        tq_disarm(&c->rate_timer);
        conn_watch(c, EPOLLRDHUP);
        return true;
    }
    return true;
}

/* The log phase's dispatch time: the request went to its handler, or got the server's answer
 * from its route (0 means never, so a clock reading of 0 becomes 1). */
static void
dispatched(struct conn *c)
{
    c->t_dispatch = (uint32_t)ev_now();
    if (c->t_dispatch == 0)
        c->t_dispatch = 1;
}

/* real_ip_from: a request from a trusted peer has as its client the address the peer names
 * in real_ip_header (realip.h), found once, before the seam routes it: req_peer and the log
 * phase see it. The connection's own peer (and its max_connections_per_ip count) stays. */
static void
find_real_peer(struct conn *c)
{
    const struct cfg *cfg = conn_cfg();
    struct req *in = c->in;
    struct sockaddr_in6 sa;
    struct sockaddr_storage client;
    if (cidr_match(cfg->real_ip_from, cfg->nreal_ip_from, req_peer_unpack(&c->peer, &sa)) &&
        realip_pick(cfg->real_ip_from, cfg->nreal_ip_from, in->http.headers, in->http.nheaders,
                    cfg->real_ip_header, &client)) {
        req_peer_pack(&in->real, (const struct sockaddr *)&client);
        in->peer = &in->real;
    }
}

/* The header section is in: the seam routes it and says whether to read the body. */
static bool
on_headers(struct conn *c)
{
    struct req *in = c->in;
    char rel[CFG_PATH_MAX];
    if (!in->http.has_body)
        return false; /* routed once, at the end of the request */
    if (real_ip_on)
        find_real_peer(c);
    if (take_out(c) == NULL)
        return true;
    enum req_next next = req_headers(in, c->out, rel, sizeof(rel));
    if (in->phase != REQ_PARSING)
        dispatched(c); /* a streaming hook ran, or the answer is known from the header */
    if (next == REQ_NEXT_READ && req_wants_continue(in) && !send_continue(c))
        return true;
    if (c->state == CONN_CLOSED)
        return true;
    if (in->http.has_body && (next == REQ_NEXT_READ || next == REQ_NEXT_PAUSED))
        start_body(c);
    return follow(c, next);
}

static bool
on_complete(struct conn *c)
{
    char rel[CFG_PATH_MAX];
    if (take_out(c) == NULL)
        return true;
    if (real_ip_on && !c->in->http.has_body)
        find_real_peer(c); /* a request with a body found it at its header */
    if (c->t_dispatch == 0)
        dispatched(c);
    enum req_next next = req_complete(c->in, c->out, rel, sizeof(rel));
    return follow(c, next == REQ_NEXT_READ ? REQ_NEXT_WAIT : next);
}

/* Parse what is buffered. Returns true when parsing stops (a response is ready to send, the
 * handler has the request or its body, or the connection was closed), false when more bytes
 * are needed. */
bool
conn_parse(struct conn *c)
{
    struct req *in = c->in;
    struct http_req *req = &in->http;

    while (in->pos < in->len) {
        size_t used = 0;
        enum http_feed_result r = http_feed(req, in->data + in->pos, in->len - in->pos, &used);
        in->pos += used;
        switch (r) {
        case HTTP_COMPLETE:
            return on_complete(c);
        case HTTP_ERROR:
            c->close_after = true; /* the stream can no longer be trusted */
            conn_respond(c, req->status);
            return true;
        case HTTP_HEADERS:
            if (on_headers(c))
                return true;
            continue;
        case HTTP_BODY:
            if (follow(c, req_body_piece(in)))
                return true;
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
    if (in->len == conn_in_cap()) {
        /* Cannot happen: the scanner stops a header section at max_header_size, and body bytes
         * are consumed and compacted away. Kept as the last line of defence, because a full
         * buffer cannot take another byte and a level-triggered EPOLLIN would fire forever. */
        c->close_after = true;
        conn_respond(c, req->headers_done ? 413 : 431);
        return true;
    }
    return false;
}

/* The pipelined bytes after c->in's request begin the next one: in place, or in a fresh
 * block when the old one must stay (its handler holds it, or it owns a body store). Returns
 * false when the connection was closed. */
bool
conn_next_request(struct conn *c)
{
    struct req *in = c->in;
    size_t tail = in->len - in->pos;
    if (in->keep || in->held) {
        struct req *fresh = req_get();
        if (fresh == NULL) {
            conn_close(c, "no buffer", REQ_END_ERROR);
            return false;
        }
        /* req_start lays out the block; the bytes go where it puts data. */
        req_start(fresh, c, conn_limits());
        memcpy(fresh->data, in->data + in->pos, tail);
        req_put(in);
        c->in = fresh;
    } else {
        memmove(in->data, in->data + in->pos, tail);
    }
    c->in->len = tail;
    start_request(c);
    conn_arm(c, CLOCK_HEADER);
    return true;
}

/* Everything a streamed response has written so far is out: ask its handler for more.
 * Returns true when there is more to send now; else the connection waits for the handler
 * (CONN_PRODUCING), or the stream is complete (stream_done). */
bool
conn_stream_more(struct conn *c)
{
    if (req_stream_pull(c->in))
        return true;
    if (c->state == CONN_CLOSED || req_response_done(c->in))
        return false;
    /* send_timeout and send_min_rate keep running: a stream that stops producing is ended
     * by them, never by request_timeout. */
    c->state = CONN_PRODUCING;
    conn_watch(c, EPOLLRDHUP);
    return false;
}

void
conn_run_kick(struct conn *c)
{
    struct req *in = c->in;
    switch (c->state) {
    case CONN_READING:
        if (in->phase == REQ_ANSWERED)
            follow(c, REQ_NEXT_SEND);
        else if (c->paused && !in->body_paused && in->body_started) {
            c->paused = false;
            start_body(c);
            conn_watch(c, EPOLLIN);
        } else if (!c->paused && in->body_paused) {
            follow(c, REQ_NEXT_PAUSED); /* paused from outside its body callback */
            return;
        } else {
            return;
        }
        break;
    case CONN_WAITING:
        if (in->phase != REQ_ANSWERED)
            return;
        start_send(c);
        break;
    case CONN_PRODUCING:
        c->state = CONN_SENDING;
        break;
    default:
        return; /* sending: the stream's bytes go when the socket has room */
    }
    conn_run(c);
}
