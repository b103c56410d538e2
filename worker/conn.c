/* Connections (see conn.h). Memory: an idle connection is one struct conn (about 80 bytes) and
 * owns no buffer; a connection with a request in progress owns one struct rbuf (input, parsed
 * request, response header) from the free list, returned when the response is done. */
#include "worker/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/http.h"
#include "worker/loop.h"
#include "worker/resp.h"

#define RBUF_IN 16384
#define RBUF_CACHE 64              /* free buffers kept per worker; more are given back */
#define SENDFILE_CHUNK (512 * 1024) /* per turn, so one fast client cannot hog the loop */

enum conn_state {
    CONN_IDLE,    /* between requests, no buffer */
    CONN_READING, /* reading and parsing a request */
    CONN_SENDING, /* response in flight; reading paused */
    CONN_CLOSED,  /* fd closed, waiting for conn_reap */
};

struct rbuf {
    struct rbuf *next_free;
    size_t len; /* bytes in `in` */
    size_t pos; /* bytes of `in` the parser has consumed */
    struct http_req req;
    struct resp out;
    char in[RBUF_IN];
};

struct conn {
    struct ev_io io;
    struct tq_node timer;
    struct rbuf *rb;
    struct conn *next; /* free list or reap list */
    int file_fd;
    off_t file_pos, file_end;
    enum conn_state state;
    bool close_after; /* close once the current response is sent */
    bool sent_any;    /* some response bytes went out on this request */
};

static struct conn *pool;
static struct conn *free_conns;
static struct conn *closed_conns;
static int pool_max, nconns;
static struct rbuf *free_rbufs;
static int nfree_rbufs;

static void conn_io(struct ev_io *io, uint32_t events);
static void conn_run(struct conn *c);

int
conn_pool_init(int max)
{
    pool = calloc((size_t)max, sizeof(*pool));
    if (pool == NULL)
        return -1;
    for (int i = max - 1; i >= 0; i--) {
        pool[i].next = free_conns;
        free_conns = &pool[i];
    }
    pool_max = max;
    return 0;
}

bool
conn_pool_full(void)
{
    return free_conns == NULL;
}

int
conn_count(void)
{
    return nconns;
}

static struct rbuf *
rbuf_get(void)
{
    struct rbuf *rb = free_rbufs;
    if (rb) {
        free_rbufs = rb->next_free;
        nfree_rbufs--;
    } else if ((rb = malloc(sizeof(*rb))) == NULL) {
        return NULL;
    }
    rb->len = rb->pos = 0;
    return rb;
}

static void
rbuf_put(struct rbuf *rb)
{
    if (nfree_rbufs >= RBUF_CACHE) {
        free(rb);
        return;
    }
    rb->next_free = free_rbufs;
    free_rbufs = rb;
    nfree_rbufs++;
}

int
conn_start(int fd)
{
    struct conn *c = free_conns;
    if (c == NULL) {
        close(fd);
        return -1;
    }
    free_conns = c->next;
    memset(c, 0, sizeof(*c));
    c->io.fd = fd;
    c->io.cb = conn_io;
    c->file_fd = -1;
    c->state = CONN_IDLE;
    nconns++;

    int one = 1;
    /* Headers go out with MSG_MORE and bodies with sendfile, so Nagle has nothing to add but
     * latency on the last segment. Fails harmlessly on unix sockets. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ev_set(&c->io, EPOLLIN) < 0) {
        close(fd);
        c->state = CONN_CLOSED;
        c->next = closed_conns;
        closed_conns = c;
        nconns--;
        return -1;
    }
    /* A fresh connection gets header_timeout for its first request, like nginx's
     * client_header_timeout; keep-alive idleness applies only between requests. */
    tq_arm(&loop.tq_header, &c->timer, loop.now_ms);
    return 0;
}

static void
conn_close(struct conn *c, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    log_debug("closing connection fd %d: %s", c->io.fd, why);
    close(c->io.fd); /* also removes it from epoll */
    c->io.events = 0;
    if (c->file_fd >= 0)
        close(c->file_fd);
    c->file_fd = -1;
    if (c->rb)
        rbuf_put(c->rb);
    c->rb = NULL;
    tq_disarm(&c->timer);
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

static void
start_request(struct conn *c)
{
    http_req_init(&c->rb->req, c->rb->in);
    resp_reset(&c->rb->out);
    c->sent_any = false;
    c->state = CONN_READING;
    tq_arm(&loop.tq_header, &c->timer, loop.now_ms);
}

/* Answer the parsed request: build the response header and, for a file, remember what to
 * sendfile. Reading stays paused until the response is out (pipelined bytes wait in rb->in or
 * in the socket buffer, so one connection cannot make the worker buffer without bound). */
static void
respond(struct conn *c, int error_status)
{
    struct rbuf *rb = c->rb;
    struct resp_file file = {.fd = -1};

    if (loop.quitting || loop.cfg->keepalive_timeout_ms == 0)
        c->close_after = true;
    if (error_status)
        resp_error(&rb->out, &rb->req, error_status, &c->close_after);
    else
        resp_handle(&rb->out, &rb->req, &file, &c->close_after);
    c->file_fd = file.fd;
    c->file_pos = file.offset;
    c->file_end = file.offset + file.length;
    c->state = CONN_SENDING;
    tq_arm(&loop.tq_send, &c->timer, loop.now_ms);
}

/* Parse what is buffered. Returns true when a response is ready to send. */
static bool
parse_buffered(struct conn *c)
{
    struct rbuf *rb = c->rb;
    size_t used = 0;
    if (rb->pos == rb->len)
        return false;
    enum http_feed_result r = http_feed(&rb->req, rb->in + rb->pos, rb->len - rb->pos, &used);
    rb->pos += used;
    switch (r) {
    case HTTP_COMPLETE:
        respond(c, 0);
        return true;
    case HTTP_ERROR:
        c->close_after = true; /* the stream can no longer be trusted */
        respond(c, rb->req.status);
        return true;
    case HTTP_NEED_MORE:
        break;
    }
    if (rb->req.headers_done && rb->req.body_start && rb->pos > rb->req.body_start) {
        /* Body bytes already parsed are not kept: the request line and headers stay where they
         * are, and the unparsed tail moves down over the consumed body. */
        size_t tail = rb->len - rb->pos;
        memmove(rb->in + rb->req.body_start, rb->in + rb->pos, tail);
        rb->pos = rb->req.body_start;
        rb->len = rb->pos + tail;
    }
    if (rb->len == RBUF_IN) {
        /* The buffer is full and the header is not complete: too large to serve. */
        c->close_after = true;
        respond(c, rb->req.nheaders == 0 ? 414 : 431);
        return true;
    }
    return false;
}

/* One read(2) per readiness event: the loop is level-triggered, so more data means another
 * event, and other connections get their turn in between. Returns false when closed. */
static bool
read_some(struct conn *c)
{
    if (c->rb == NULL) {
        if ((c->rb = rbuf_get()) == NULL) {
            log_warnx("out of memory for a request buffer; closing connection");
            conn_close(c, "no buffer");
            return false;
        }
        start_request(c);
    }
    struct rbuf *rb = c->rb;
    if (rb->len == RBUF_IN) /* parse_buffered answers a full buffer before we get here */
        return true;
    ssize_t n = read(c->io.fd, rb->in + rb->len, RBUF_IN - rb->len);
    if (n > 0) {
        rb->len += (size_t)n;
        if (rb->req.headers_done) /* body bytes: the header timer now measures body gaps */
            tq_arm(&loop.tq_header, &c->timer, loop.now_ms);
        return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    conn_close(c, n == 0 ? "client closed" : "read error");
    return false;
}

enum send_result { SEND_DONE, SEND_BLOCKED, SEND_YIELD, SEND_CLOSED };

static enum send_result
send_some(struct conn *c)
{
    struct resp *out = &c->rb->out;
    bool more_body = c->file_fd >= 0 && c->file_pos < c->file_end;

    while (out->sent < out->len) {
        ssize_t n = send(c->io.fd, out->buf + out->sent, out->len - out->sent,
                         MSG_NOSIGNAL | (more_body ? MSG_MORE : 0));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return SEND_BLOCKED;
            conn_close(c, "send error");
            return SEND_CLOSED;
        }
        out->sent += (size_t)n;
        c->sent_any = true;
        tq_arm(&loop.tq_send, &c->timer, loop.now_ms);
    }
    if (!more_body)
        return SEND_DONE;

    off_t left = c->file_end - c->file_pos;
    ssize_t n = sendfile(c->io.fd, c->file_fd, &c->file_pos,
                         (size_t)(left < SENDFILE_CHUNK ? left : SENDFILE_CHUNK));
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return SEND_BLOCKED;
        conn_close(c, "sendfile error");
        return SEND_CLOSED;
    }
    if (n == 0) {
        /* The file shrank under us: the promised length can no longer be met. */
        log_warnx("file truncated while being sent; closing connection");
        conn_close(c, "file truncated");
        return SEND_CLOSED;
    }
    c->sent_any = true;
    tq_arm(&loop.tq_send, &c->timer, loop.now_ms);
    return c->file_pos < c->file_end ? SEND_YIELD : SEND_DONE;
}

/* The response is out: close, start on pipelined bytes, or go idle without a buffer. */
static void
finish_response(struct conn *c)
{
    struct rbuf *rb = c->rb;
    if (c->file_fd >= 0)
        close(c->file_fd);
    c->file_fd = -1;
    if (c->close_after || loop.quitting) {
        /* Half-close first so the client reads the whole response before it sees the end. */
        shutdown(c->io.fd, SHUT_WR);
        conn_close(c, "response with Connection: close sent");
        return;
    }
    size_t tail = rb->len - rb->pos;
    if (tail > 0) {
        memmove(rb->in, rb->in + rb->pos, tail);
        rb->len = tail;
        rb->pos = 0;
        start_request(c);
        return;
    }
    rbuf_put(rb);
    c->rb = NULL;
    c->state = CONN_IDLE;
    tq_arm(&loop.tq_keepalive, &c->timer, loop.now_ms);
}

/* Drive one connection as far as it can go without blocking. */
static void
conn_run(struct conn *c)
{
    for (;;) {
        if (c->state == CONN_READING) {
            if (!parse_buffered(c)) {
                if (c->io.events != EPOLLIN)
                    ev_set(&c->io, EPOLLIN);
                return;
            }
        }
        if (c->state != CONN_SENDING)
            return;
        switch (send_some(c)) {
        case SEND_CLOSED:
            return;
        case SEND_BLOCKED:
        case SEND_YIELD: /* level-triggered EPOLLOUT fires again at once if there is room */
            if (c->io.events != EPOLLOUT)
                ev_set(&c->io, EPOLLOUT);
            return;
        case SEND_DONE:
            finish_response(c);
            if (c->state == CONN_CLOSED)
                return;
            if (c->state == CONN_IDLE) {
                if (c->io.events != EPOLLIN)
                    ev_set(&c->io, EPOLLIN);
                return;
            }
            break; /* pipelined request in the buffer */
        }
    }
}

static void
conn_io(struct ev_io *io, uint32_t events)
{
    struct conn *c = (struct conn *)((char *)io - offsetof(struct conn, io));
    if (c->state == CONN_CLOSED)
        return;
    if ((events & EPOLLERR) && c->state != CONN_READING) {
        conn_close(c, "socket error");
        return;
    }
    if (c->state != CONN_SENDING && !read_some(c))
        return;
    conn_run(c);
}

static void
expire(struct tq *q, const char *what)
{
    struct tq_node *n;
    while ((n = tq_pop_expired(q, loop.now_ms)) != NULL) {
        struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, timer));
        if (c->state == CONN_READING && c->rb && c->rb->len > 0 && !c->sent_any) {
            /* A request was started and nothing answered yet: say why, best effort. */
            c->close_after = true;
            respond(c, 408);
            send_some(c);
        }
        conn_close(c, what);
    }
}

void
conn_expire_timeouts(void)
{
    expire(&loop.tq_header, "header timeout");
    expire(&loop.tq_keepalive, "keep-alive timeout");
    expire(&loop.tq_send, "send timeout");
}

int64_t
conn_next_deadline(void)
{
    int64_t d = tq_next_deadline(&loop.tq_header);
    int64_t k = tq_next_deadline(&loop.tq_keepalive);
    int64_t s = tq_next_deadline(&loop.tq_send);
    if (k < d)
        d = k;
    return s < d ? s : d;
}

void
conn_close_idle(void)
{
    struct tq_node *n, *next;
    /* Every connection idle between requests is on the keep-alive queue... */
    while ((n = loop.tq_keepalive.head.next) != &loop.tq_keepalive.head) {
        struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, timer));
        conn_close(c, "graceful stop");
    }
    /* ...and one accepted but silent so far waits on the header queue without a buffer. */
    for (n = loop.tq_header.head.next; n != &loop.tq_header.head; n = next) {
        next = n->next;
        struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, timer));
        if (c->state == CONN_IDLE)
            conn_close(c, "graceful stop");
    }
}

void
conn_close_all(void)
{
    for (int i = 0; i < pool_max; i++)
        if (pool[i].io.fd > 0 && pool[i].state != CONN_CLOSED && pool[i].io.cb)
            conn_close(&pool[i], "stop");
}
