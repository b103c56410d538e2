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
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/bufpool.h"
#include "worker/conn_internal.h"
#include "worker/http.h"
#include "worker/ofc.h"
#include "worker/req_internal.h"
#include "worker/resp.h"
#include "worker/route.h"

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
static struct conn *kicked_conns;       /* a handler acted on them from outside: run before sleep */
static int pool_max, pool_used, nconns; /* pool_used: slots ever handed out */
static struct bufpool out_pool;
static size_t in_data_cap;
static size_t resp_max;
static struct conn_env env;
static struct http_limits limits;
static struct tq tq_handshake, tq_header, tq_body, tq_keepalive, tq_request, tq_send, tq_linger,
    tq_grace;                           /* c->timer's queues */
static struct tq tq_rate, tq_body_rate; /* c->rate_timer's (send_min_rate, body_min_rate) */

static void conn_io(struct ev_io *io, uint32_t events);
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
    bufpool_init(&out_pool, sizeof(struct resp) + lim->max_request_line + RESP_SLACK, BUF_CACHE);
    /* The server's own answers may grow past max_response_header (which bounds what handlers
     * add): a redirect repeating an encoded target, the part headers of 64 ranges. */
    resp_max = RESP_GROW_BASE + 3 * lim->max_request_line;
    if (resp_max < (size_t)env.cfg->max_response_header)
        resp_max = (size_t)env.cfg->max_response_header;
    struct req_env re = {
        .ops = conn_req_ops(),
        .block_size = sizeof(struct req) + (size_t)lim->max_headers * sizeof(struct http_header) +
                      in_data_cap,
        .body_buffer_size = env.cfg->body_buffer_size,
        .body_temp_path = env.cfg->body_temp_path,
        .max_response_header = env.cfg->max_response_header,
        .max_body_size = lim->max_body_size,
    };
    return req_setup(&re);
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
    req_trim();
    bufpool_trim(&out_pool);
    malloc_trim(0);
}

static struct conn *
conn_of_io(struct ev_io *io)
{
    return (struct conn *)((char *)io - offsetof(struct conn, io));
}

void
conn_watch(struct conn *c, uint32_t events)
{
    if (c->io.events != events)
        ev_set(&c->io, events);
}

bool
conn_count_peer(const struct sockaddr *peer)
{
    return env.cfg->max_connections_per_ip > 0 &&
           shm_ip_acquire(env.shm, env.shm_column, peer, INT_MAX) == 0;
}

static void
release_peer(struct conn *c)
{
    struct sockaddr_in6 sa;
    if (c->peer_counted)
        shm_ip_release(env.shm, env.shm_column, req_peer_unpack(&c->peer, &sa));
    c->peer_counted = false;
}

/* A slot for an accepted socket, watched for input; NULL when the pool is full or epoll refused
 * it (then fd is closed, the transport released and the counted peer given back). */
struct conn *
conn_new(int fd, const struct transport *tp, void *ctx, const struct sockaddr *peer, bool counted,
         int listener)
{
    struct conn *c = take_slot();
    if (c == NULL) {
        if (counted)
            shm_ip_release(env.shm, env.shm_column, peer);
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
    c->route = ROUTE_NONE;
    c->listener = (uint8_t)listener;
    c->tls = (env.cfg->listen[listener].flags & CFG_LISTEN_TLS) != 0;
    env.stats->connections++;
    req_peer_pack(&c->peer, peer);
    c->peer_counted = counted;
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
conn_start(int fd, const struct transport *tp, void *ctx, const struct sockaddr *peer, bool counted,
           int listener)
{
    struct conn *c = conn_new(fd, tp, ctx, peer, counted, listener);
    return c ? &c->io : NULL;
}

void
conn_refuse(int fd, const struct transport *tp, void *ctx, const char *answer, size_t len)
{
    struct conn *c = conn_new(fd, tp, ctx, NULL, false, 0);
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

struct resp *
conn_out_new(void)
{
    struct resp *out = bufpool_get(&out_pool);
    if (out)
        resp_init(out, out_pool.size - sizeof(struct resp), resp_max);
    return out;
}

void
conn_out_reset(struct resp *out)
{
    resp_release(out);
    resp_init(out, out_pool.size - sizeof(struct resp), resp_max);
}

const struct cfg *
conn_cfg(void)
{
    return env.cfg;
}

const struct http_limits *
conn_limits(void)
{
    return &limits;
}

size_t
conn_in_cap(void)
{
    return in_data_cap;
}

struct shm_worker *
conn_stats(void)
{
    return env.stats;
}

struct tq *
conn_rate_queue(bool body)
{
    return body ? &tq_body_rate : &tq_rate;
}

struct tq *
conn_queue(enum conn_clock k)
{
    static struct tq *const queues[] = {
        [CLOCK_HANDSHAKE] = &tq_handshake, [CLOCK_HEADER] = &tq_header,   [CLOCK_BODY] = &tq_body,
        [CLOCK_KEEPALIVE] = &tq_keepalive, [CLOCK_REQUEST] = &tq_request, [CLOCK_SEND] = &tq_send,
        [CLOCK_LINGER] = &tq_linger,       [CLOCK_GRACE] = &tq_grace,
    };
    return queues[k];
}

void
conn_arm(struct conn *c, enum conn_clock k)
{
    tq_arm(conn_queue(k), &c->timer, ev_now());
}

struct conn *
conn_slot(int i)
{
    return i < pool_used ? &pool[i] : NULL;
}

void
conn_arm_rate(struct conn *c, bool body)
{
    tq_arm(body ? &tq_body_rate : &tq_rate, &c->rate_timer, ev_now());
}

void
conn_close(struct conn *c, const char *why, enum req_end end)
{
    if (c->state == CONN_CLOSED)
        return;
    log_debug("closing connection fd %d: %s", c->io.fd, why);
    if (c->live && c->state != CONN_SENDING && c->state != CONN_PRODUCING)
        c->nrequests++; /* a request that got no answer still counts in the log's seq */
    conn_log(c, end);
    req_cancel(c->in); /* a handler still at work learns it first */
    c->tp->release(c->tp_ctx);
    release_peer(c);
    if (c->io.fd >= 0)
        close(c->io.fd); /* also removes it from epoll */
    c->io.events = 0;
    ofc_release(c->file);
    c->file = NULL;
    req_put(c->in);
    put_out(c->out);
    c->in = NULL;
    c->out = NULL;
    tq_disarm(&c->timer);
    tq_disarm(&c->rate_timer);
    c->state = CONN_CLOSED;
    if (!c->kicked) { /* else conn_reap puts it there, after the kick list */
        c->next = closed_conns;
        closed_conns = c;
    }
    nconns--;
}

void
conn_reap(void)
{
    /* Kicks first: running one may close a connection, which is then reaped below. */
    while (kicked_conns) {
        struct conn *c = kicked_conns;
        kicked_conns = c->next;
        c->kicked = false;
        if (c->state == CONN_CLOSED) {
            c->next = closed_conns;
            closed_conns = c;
        } else {
            conn_run_kick(c);
        }
    }
    while (closed_conns) {
        struct conn *c = closed_conns;
        closed_conns = c->next;
        c->next = free_conns;
        free_conns = c;
    }
}

/* One read per readiness event: the loop is level-triggered, so more data means another event,
 * and other connections get their turn in between. Bytes held inside the transport are the
 * exception: epoll cannot see them, so conn_run reads them before it waits again. Returns false
 * when closed. */
static bool
read_some(struct conn *c)
{
    if (!conn_take_input(c))
        return false;
    struct req *in = c->in;
    if (in->len == in_data_cap)
        return true; /* parse_buffered answers such a request; it never stays full */
    enum transport_want want = TRANSPORT_WANT_READ;
    ssize_t n = c->tp->recv(c->io.fd, c->tp_ctx, in->data + in->len, in_data_cap - in->len, &want);
    c->read_blocked = n < 0 && (errno == EAGAIN || errno == EINTR);
    if (n > 0) {
        if (!c->live)
            conn_begin(c);
        in->len += (size_t)n;
        if (in->http.headers_done) {
            tq_arm(&tq_body, &c->timer, ev_now());
            c->sent += n; /* body_min_rate */
        }
        return true;
    }
    if (c->read_blocked) {
        c->read_wait = conn_wait_events(want);
        return true;
    }
    conn_close(c, n == 0 ? "client closed" : "read error", REQ_END_CLIENT_GONE);
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
                conn_close(c, "lingering close: byte limit", REQ_END_COMPLETE);
                return;
            }
            if (c->tp->pending(c->tp_ctx) > 0)
                continue; /* held in the transport: epoll would not say so */
            conn_watch(c, EPOLLIN);
            return;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            conn_watch(c, conn_wait_events(want));
            return;
        }
        conn_close(c, n == 0 ? "lingering close: client done" : "lingering close: read error",
                   REQ_END_COMPLETE);
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
    req_put(c->in);
    c->in = NULL;
    c->state = CONN_LINGER;
    c->sent = 0;
    tq_arm(&tq_linger, &c->timer, ev_now());
    if (c->tp->pending(c->tp_ctx) > 0)
        linger_drain(c); /* epoll would not report what the transport holds */
    else
        conn_watch(c, EPOLLIN);
}

/* The response is out: log it, then close, start on pipelined bytes, or go idle without a
 * buffer. */
static void
finish_response(struct conn *c)
{
    conn_log(c, REQ_END_COMPLETE);
    tq_disarm(&c->rate_timer);
    ofc_release(c->file);
    c->file = NULL;
    if (c->out) { /* a stream's block, kept to the end */
        put_out(c->out);
        c->out = NULL;
    }
    if (c->linger && c->close_after) {
        start_linger(c);
        return;
    }
    if (c->close_after) {
        /* Half-close first so the client reads the whole response before it sees the end. */
        c->tp->shutdown(c->io.fd, c->tp_ctx);
        conn_close(c, "response with Connection: close sent", REQ_END_COMPLETE);
        return;
    }
    struct req *in = c->in;
    if (in && in->pos < in->len) {
        conn_next_request(c);
        return;
    }
    req_put(in);
    c->in = NULL;
    c->state = CONN_IDLE;
    /* A doomed connection whose response still promised keep-alive (it began before the
     * retirement) is not closed the instant it goes idle: its client is most likely sending
     * the next request already. It gets idle_close_grace (conn_retire.c). */
    tq_arm(c->doomed ? &tq_grace : &tq_keepalive, &c->timer, ev_now());
}

/* Send what the transport takes now (send.c). Bytes that went out restart send_timeout, a
 * spent response buffer goes back to its pool, and a failure closes the connection. */
enum send_result
conn_send_more(struct conn *c)
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
        conn_close(c, why,
                   strcmp(why, "file truncated") == 0 ? REQ_END_ERROR : REQ_END_CLIENT_GONE);
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
    conn_watch(c, c->read_blocked ? c->read_wait : EPOLLIN);
    return false;
}

/* Drive one connection as far as it can go without blocking. */
void
conn_run(struct conn *c)
{
    for (;;) {
        if (c->state == CONN_READING && !c->paused && !conn_parse(c)) {
            if (!read_more(c))
                return;
            continue;
        }
        if (c->state != CONN_SENDING)
            return;
        switch (conn_send_more(c)) {
        case SEND_FAILED:
            return;
        case SEND_BLOCKED:
            conn_watch(c, c->send_wait);
            return;
        case SEND_YIELD: /* level-triggered EPOLLOUT fires again at once if there is room */
            conn_watch(c, EPOLLOUT);
            return;
        case SEND_DONE:
            if (c->out && c->out->stream && !req_response_done(c->in)) {
                if (conn_stream_more(c))
                    continue;
                if (c->state != CONN_SENDING || !req_response_done(c->in))
                    return;
            }
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

/* The handler acted from outside conn.c's own calls (a timer, an fd of its own): it answered,
 * resumed its body, or has more of its stream. The connection is run before the loop sleeps,
 * never from inside the handler's call: a handler writing to its stream from a timer must not
 * find its own produce callback running under it. */
void
conn_kick(void *conn)
{
    struct conn *c = conn;
    if (c->kicked || c->state == CONN_CLOSED)
        return;
    c->kicked = true;
    c->next = kicked_conns;
    kicked_conns = c;
}

/* conn_refuse: the canned answer, then close. */
static void
send_canned(struct conn *c)
{
    if ((c->out = bufpool_get(&out_pool)) == NULL) {
        conn_close(c, "no buffer for the response", REQ_END_ERROR);
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

/* max_connections_per_ip for the client a prefix transport (PROXY) named: a proxy listener
 * counts nothing at accept, where it would count the balancer. Over the limit the client gets
 * the same 503 as at accept, once the inner transport's handshake is done. */
static void
count_named_peer(struct conn *c)
{
    struct sockaddr_in6 sa;
    const struct sockaddr *peer = req_peer_unpack(&c->peer, &sa);
    int limit = env.cfg->max_connections_per_ip;
    if (limit <= 0 || peer == NULL || c->peer_counted || c->body)
        return;
    int rc = shm_ip_acquire(env.shm, env.shm_column, peer, limit);
    if (rc == 0) {
        c->peer_counted = true;
    } else if (rc < 0) {
        env.stats->limits[SHM_LIM_PER_IP]++;
        log_info("max_connections_per_ip (%d) reached for a client; answered 503", limit);
        c->body = CONN_BUSY_ANSWER;
        c->body_off = (off_t)sizeof(CONN_BUSY_ANSWER) - 1;
    }
}

/* A prefix transport's handshake is done: the connection goes on with the transport inside
 * it (whose handshake, if any, runs next under the same clock) and the client it named.
 * Returns false when closed. */
static bool
unwrap_transport(struct conn *c)
{
    struct sockaddr_storage peer;
    void *inner_ctx = NULL;
    const struct transport *inner = c->tp->unwrap(c->io.fd, c->tp_ctx, &inner_ctx, &peer);
    c->tp_ctx = NULL; /* released by unwrap */
    if (inner == NULL) {
        conn_close(c, "no memory for the transport", REQ_END_ERROR);
        return false;
    }
    c->tp = inner;
    c->tp_ctx = inner_ctx;
    c->proxied = true;
    if (peer.ss_family != AF_UNSPEC)
        req_peer_pack(&c->peer, (const struct sockaddr *)&peer);
    count_named_peer(c);
    return true;
}

/* The transport's handshake, bounded by handshake_timeout from accept (a prefix transport's,
 * then the one inside it). When it is done, header_timeout starts, and what the transport
 * already holds is read at once. */
static void __attribute__((noinline)) /* once per connection: kept out of conn_io */
handshake_step(struct conn *c)
{
    for (;;) {
        enum transport_want want = TRANSPORT_WANT_READ;
        if (c->tp->handshake(c->io.fd, c->tp_ctx, &want) < 0) {
            if (errno == EAGAIN || errno == EINTR)
                conn_watch(c, conn_wait_events(want));
            else
                conn_close(c, "handshake failed", REQ_END_ERROR);
            return;
        }
        if (c->tp->unwrap == NULL)
            break;
        if (!unwrap_transport(c))
            return;
        if (c->tp->handshake == NULL)
            break;
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
    if (c->state == CONN_WAITING || c->state == CONN_PRODUCING ||
        (c->state == CONN_READING && c->paused)) {
        /* Only EPOLLRDHUP is watched while a handler has the request: the client left (or
         * half-closed, which for a request still unanswered nginx also takes as gone). */
        conn_close(c, "client gone while its handler works", REQ_END_CLIENT_GONE);
        return;
    }
    if ((events & EPOLLERR) && c->state != CONN_READING) {
        conn_close(c, "socket error", REQ_END_CLIENT_GONE);
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

int
conn_setup(const struct conn_env *e)
{
    env = *e;
    conn_req_setup(e->cfg);
    return conn_timeouts_setup(e->cfg);
}

void
conn_count_states(uint32_t *reading, uint32_t *writing, uint32_t *idle)
{
    uint32_t n[3] = {0, 0, 0}; /* reading, writing, idle */
    for (int i = 0; i < pool_used; i++) {
        uint8_t st = pool[i].state;
        if (pool[i].io.cb == NULL || st == CONN_CLOSED)
            continue;
        n[st == CONN_IDLE ? 2 : st == CONN_HANDSHAKE || st == CONN_READING ? 0 : 1]++;
    }
    *reading = n[0];
    *writing = n[1];
    *idle = n[2];
}

void
conn_close_all(void)
{
    for (int i = 0; i < pool_used; i++)
        if (pool[i].io.cb && pool[i].state != CONN_CLOSED)
            conn_close(&pool[i], "stop", REQ_END_ERROR);
}
