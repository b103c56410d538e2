/* Bounded load client and connection-ownership probes for the supervision tests (see load.h).
 * Threads, not processes: counters stay in one address space and the test joins them before it
 * asserts. Every socket call is bounded by poll() or a socket timeout; over TLS (OpenSSL's
 * libssl on the same blocking sockets) the socket timeouts bound what poll() cannot see. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "load.h"

#include "common/clock.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192

/* ---- one request ---- */

struct rq {
    int status;
    bool got_bytes;  /* any byte of the response arrived */
    bool conn_close; /* the response said Connection: close */
    bool ended;      /* the server ended the connection: EOF, or a reset on send or receive */
    enum load_fail kind;
    char what[112];
};

static int
rq_fail(struct rq *r, enum load_fail kind, const char *fmt, const char *arg)
{
    r->kind = kind;
    snprintf(r->what, sizeof(r->what), fmt, arg);
    return -1;
}

/* Poll fd for input until `deadline` (clock_mono_ms): true when it is readable (or at EOF). */
static bool
readable_by(int fd, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (;;) {
        int left = (int)(deadline - clock_mono_ms());
        int n = poll(&pfd, 1, left > 0 ? left : 0);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0;
    }
}

/* Wait for readability up to timeout_ms, then recv. Returns recv's result; -2 on timeout. */
static ssize_t
recv_wait(int fd, void *buf, size_t len, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        if (!readable_by(fd, deadline))
            return -2;
        ssize_t got = recv(fd, buf, len, MSG_DONTWAIT);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return got;
    }
}

/* ---- one connection: plain or TLS ---- */

/* A client connection: its socket, and its TLS session when the load speaks TLS. */
struct lconn {
    int fd;
    SSL *ssl; /* NULL: plain */
};

/* errno for a failed SSL_read/SSL_write (rc), from `sys` (errno right after it): a socket
 * timeout is EAGAIN, a protocol error EPROTO, the peer's end ECONNRESET. */
static int
tls_errno(SSL *ssl, int rc, int sys)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return EAGAIN;
    case SSL_ERROR_SYSCALL:
        return sys != 0 ? sys : ECONNRESET;
    case SSL_ERROR_SSL:
        return EPROTO;
    default:
        return ECONNRESET;
    }
}

/* send(2), or SSL_write: bytes sent, or -1 with errno. */
static ssize_t
lconn_send(const struct lconn *c, const void *buf, size_t len)
{
    if (c->ssl == NULL)
        return send(c->fd, buf, len, MSG_NOSIGNAL);
    ERR_clear_error();
    int n = SSL_write(c->ssl, buf, (int)len);
    if (n > 0)
        return n;
    errno = tls_errno(c->ssl, n, errno);
    return -1;
}

/* recv_wait over TLS: bytes, 0 on the server's end (close_notify or EOF), -1 with errno, -2
 * when no byte came within timeout_ms. A record that arrives in pieces, or a session ticket
 * alone, blocks SSL_read at most the socket timeout. */
static ssize_t
tls_recv(SSL *ssl, void *buf, size_t len, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        if (SSL_pending(ssl) == 0 && !readable_by(SSL_get_fd(ssl), deadline))
            return -2;
        ERR_clear_error();
        int n = SSL_read(ssl, buf, (int)len);
        if (n > 0)
            return n;
        int sys = errno, e = SSL_get_error(ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (clock_mono_ms() >= deadline)
                return -2;
            continue;
        }
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && sys == 0))
            return 0;
        errno = tls_errno(ssl, n, sys);
        return -1;
    }
}

static ssize_t
lconn_recv(const struct lconn *c, void *buf, size_t len, int timeout_ms)
{
    if (c->ssl == NULL)
        return recv_wait(c->fd, buf, len, timeout_ms);
    return tls_recv(c->ssl, buf, len, timeout_ms);
}

/* Ends a connection we are done with; over TLS with a close_notify first (best effort). */
static void
lconn_close(struct lconn *c)
{
    if (c->ssl != NULL) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
}

/* The TLS handshake on a connected c->fd, bounded by its socket timeouts. 0, or -1 with err
 * set (c->ssl stays NULL). */
static int
tls_handshake(SSL_CTX *ctx, const struct load_cfg *cfg, struct lconn *c, char *err, size_t errlen)
{
    c->ssl = SSL_new(ctx);
    bool named = cfg->tls_name != NULL;
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
        (named && SSL_set_tlsext_host_name(c->ssl, cfg->tls_name) != 1) ||
        (named && cfg->tls_ca != NULL && SSL_set1_host(c->ssl, cfg->tls_name) != 1)) {
        snprintf(err, errlen, "TLS handshake: cannot set up the session");
        SSL_free(c->ssl);
        c->ssl = NULL;
        return -1;
    }
    ERR_clear_error();
    int rc = SSL_connect(c->ssl);
    if (rc == 1)
        return 0;
    int sys = errno;
    unsigned long e = ERR_peek_error();
    long v = SSL_get_verify_result(c->ssl);
    snprintf(err, errlen, "TLS handshake: %s",
             v != X509_V_OK ? X509_verify_cert_error_string(v)
             : e != 0       ? ERR_reason_error_string(e)
             : sys != 0     ? strerror(sys)
                            : "closed by the server");
    ERR_clear_error();
    SSL_free(c->ssl);
    c->ssl = NULL;
    return -1;
}

/* The context every TLS connection of a load is made from. NULL when tls_ca cannot be read. */
static SSL_CTX *
tls_client_ctx(const struct load_cfg *cfg)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    signal(SIGPIPE, SIG_IGN); /* see load_start in load.h */
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    if (cfg->tls_ca != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

static const char *
find_header(const char *head, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
        p += 2;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            p += nlen + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            return p;
        }
    }
    return NULL;
}

/* Send one GET on fd and read its response as framed by Content-Length. A 200's body must be
 * `expect` (NULL: anything). With close_conn, also wait for the server's EOF after the body. */
static int
do_request(const struct lconn *c, const char *target, bool close_conn, const char *expect,
           int timeout_ms, struct rq *r)
{
    char req[512], head[HEAD_MAX + 1];
    memset(r, 0, sizeof(*r));
    int rlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", target,
                        close_conn ? "Connection: close\r\n" : "");
    for (int off = 0; off < rlen;) {
        ssize_t n = lconn_send(c, req + off, (size_t)(rlen - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r->ended = errno != EAGAIN;
            return rq_fail(r, errno == EAGAIN ? LOAD_F_TIMEOUT : LOAD_F_RESET, "send: %s",
                           strerror(errno));
        }
        off += (int)n;
    }

    size_t used = 0;
    char *end = NULL;
    while (end == NULL) {
        if (used == HEAD_MAX)
            return rq_fail(r, LOAD_F_TRUNCATED, "%s", "header block too large");
        ssize_t n = lconn_recv(c, head + used, HEAD_MAX - used, timeout_ms);
        if (n == -2)
            return rq_fail(r, LOAD_F_TIMEOUT, "%s", r->got_bytes ? "header stalled" : "no answer");
        if (n <= 0) {
            r->ended = true;
            return rq_fail(r, r->got_bytes ? LOAD_F_TRUNCATED : LOAD_F_RESET, "%s",
                           n == 0 ? (r->got_bytes ? "EOF inside the header" : "EOF, no answer")
                                  : strerror(errno));
        }
        r->got_bytes = true;
        used += (size_t)n;
        head[used] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    end[2] = '\0'; /* header lines only; body bytes start at end + 4 */
    if (sscanf(head, "HTTP/1.%*d %d", &r->status) != 1)
        return rq_fail(r, LOAD_F_TRUNCATED, "bad status line '%.60s'", head);
    const char *cl = find_header(head, "Content-Length");
    const char *conn = find_header(head, "Connection");
    r->conn_close = conn != NULL && strncasecmp(conn, "close", 5) == 0;
    if (cl == NULL)
        return rq_fail(r, LOAD_F_TRUNCATED, "%s", "no Content-Length");
    size_t want = strtoul(cl, NULL, 10);
    bool check = r->status == 200 && expect != NULL;
    if (check && want != strlen(expect))
        return rq_fail(r, LOAD_F_TRUNCATED, "Content-Length %s differs from the file", cl);

    size_t have = used - (size_t)(end + 4 - head);
    if (have > want)
        return rq_fail(r, LOAD_F_TRUNCATED, "%s", "bytes after the body");
    if (check && memcmp(end + 4, expect, have) != 0)
        return rq_fail(r, LOAD_F_TRUNCATED, "%s", "body differs");
    char chunk[4096];
    while (have < want) {
        size_t ask = want - have < sizeof(chunk) ? want - have : sizeof(chunk);
        ssize_t n = lconn_recv(c, chunk, ask, timeout_ms);
        if (n == -2)
            return rq_fail(r, LOAD_F_TIMEOUT, "%s", "body stalled");
        if (n <= 0) {
            r->ended = true;
            return rq_fail(r, LOAD_F_TRUNCATED, "body cut short: %s",
                           n == 0 ? "EOF" : strerror(errno));
        }
        if (check && memcmp(chunk, expect + have, (size_t)n) != 0)
            return rq_fail(r, LOAD_F_TRUNCATED, "%s", "body differs");
        have += (size_t)n;
    }
    if (close_conn) {
        /* The server closes after a Connection: close response: it, not we, holds TIME_WAIT. */
        ssize_t n = lconn_recv(c, chunk, sizeof(chunk), timeout_ms);
        if (n > 0)
            return rq_fail(r, LOAD_F_TRUNCATED, "%s", "bytes after the body");
        if (n == -2)
            return rq_fail(r, LOAD_F_TIMEOUT, "%s", "no close after Connection: close");
    }
    return 0;
}

int
load_connect(int port, int timeout_ms, char *err, size_t errlen)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() too */
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int
load_local_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0 || sin.sin_family != AF_INET)
        return 0;
    return ntohs(sin.sin_port);
}

/* ---- the load threads ---- */

struct lthread {
    struct load *l;
    int idx;
    bool keepalive;
    pthread_t tid;
    atomic_int port;  /* local port of the kept connection, 0 when none */
    atomic_long done; /* requests answered */
    struct load_stats st;
    int64_t conn_start;
};

struct load {
    struct load_cfg cfg;
    SSL_CTX *tls; /* cfg.tls: every connection's TLS context */
    atomic_bool stop;
    int64_t deadline;
    int n;
    struct lthread t[LOAD_MAX_THREADS];
};

static void
note(struct lthread *t, bool retry, enum load_fail kind, int port, const char *what)
{
    struct load_stats *st = &t->st;
    if (retry) {
        st->retries++;
    } else {
        st->fail[kind]++;
        st->failures++;
    }
    if (st->nevents == LOAD_MAX_EVENTS)
        return;
    struct load_event *e = &st->events[st->nevents++];
    *e = (struct load_event){.keepalive = t->keepalive,
                             .retry = retry,
                             .kind = kind,
                             .thread = t->idx,
                             .local_port = port,
                             .conn_start_ms = t->conn_start,
                             .at_ms = clock_mono_ms()};
    snprintf(e->what, sizeof(e->what), "%s", what);
}

static bool
running(struct lthread *t)
{
    const struct load *l = t->l;
    return !atomic_load(&t->l->stop) && clock_mono_ms() < l->deadline &&
           (l->cfg.max_requests == 0 || atomic_load(&t->done) < l->cfg.max_requests);
}

/* A new connection into *c (with its TLS handshake when the load speaks TLS): 0, or -1 counted
 * as a LOAD_F_CONNECT failure. */
static int
thread_connect(struct lthread *t, struct lconn *c)
{
    char err[112];
    const struct load *l = t->l;
    t->conn_start = clock_mono_ms();
    c->ssl = NULL;
    c->fd = load_connect(l->cfg.port, l->cfg.io_timeout_ms, err, sizeof(err));
    if (c->fd >= 0 && l->tls != NULL && tls_handshake(l->tls, &l->cfg, c, err, sizeof(err)) < 0) {
        int port = load_local_port(c->fd);
        close(c->fd);
        c->fd = -1;
        note(t, false, LOAD_F_CONNECT, port, err);
        return -1;
    }
    if (c->fd < 0)
        note(t, false, LOAD_F_CONNECT, 0, err);
    return c->fd < 0 ? -1 : 0;
}

static void
count_answer(struct lthread *t, const struct rq *r, int port)
{
    char what[112];
    atomic_fetch_add(&t->done, 1);
    if (r->status == 200) {
        if (t->keepalive)
            t->st.ok_keepalive++;
        else
            t->st.ok_new++;
        return;
    }
    snprintf(what, sizeof(what), "status %d", r->status);
    note(t, false, LOAD_F_STATUS, port, what);
}

static void
run_new(struct lthread *t)
{
    const struct load_cfg *c = &t->l->cfg;
    while (running(t)) {
        struct lconn conn;
        if (thread_connect(t, &conn) < 0)
            continue;
        int port = load_local_port(conn.fd);
        struct rq r;
        if (do_request(&conn, c->target, true, c->expect_body, c->io_timeout_ms, &r) < 0) {
            atomic_fetch_add(&t->done, 1);
            note(t, false, r.kind, port, r.what);
        } else {
            count_answer(t, &r, port);
        }
        lconn_close(&conn);
    }
}

/* Strict mode: the server ended a REUSED connection, whose last response therefore did not say
 * Connection: close, before or inside this response. A client that does not retry (wrk, a
 * proxy with a non-idempotent request) sees that as a failed request. */
static void
mark_dropped(struct rq *r)
{
    static const char prefix[] = "closed without Connection: close: ";
    char what[sizeof(r->what)];
    snprintf(what, sizeof(what), "%s", r->what);
    r->kind = LOAD_F_DROPPED;
    snprintf(r->what, sizeof(r->what), "%s%.*s", prefix, (int)(sizeof(r->what) - sizeof(prefix)),
             what);
}

static void
run_keepalive(struct lthread *t)
{
    const struct load_cfg *c = &t->l->cfg;
    struct lconn conn = {.fd = -1};
    int port = 0;
    bool reused = false;
    while (running(t)) {
        if (conn.fd < 0) {
            if (thread_connect(t, &conn) < 0)
                continue;
            port = load_local_port(conn.fd);
            atomic_store(&t->port, port);
            reused = false;
        }
        struct rq r;
        int rc = do_request(&conn, c->target, false, c->expect_body, c->io_timeout_ms, &r);
        if (rc < 0 && c->strict && reused && r.ended)
            mark_dropped(&r);
        if (rc < 0 && !c->strict && reused && !r.got_bytes && r.kind == LOAD_F_RESET) {
            /* The server closed an idle kept connection as the request went out: retry once
             * on a new connection (RFC 9112 9.3.1; browsers and curl do the same). */
            note(t, true, r.kind, port, r.what);
            lconn_close(&conn);
            atomic_store(&t->port, 0);
            if (thread_connect(t, &conn) < 0)
                continue;
            port = load_local_port(conn.fd);
            atomic_store(&t->port, port);
            reused = false;
            rc = do_request(&conn, c->target, false, c->expect_body, c->io_timeout_ms, &r);
        }
        if (rc < 0) {
            atomic_fetch_add(&t->done, 1);
            note(t, false, r.kind, port, r.what);
        } else {
            count_answer(t, &r, port);
        }
        if (rc < 0 || r.conn_close) {
            t->st.reconnects += rc == 0;
            lconn_close(&conn);
            atomic_store(&t->port, 0);
            continue;
        }
        reused = true;
    }
    if (conn.fd >= 0)
        lconn_close(&conn);
    atomic_store(&t->port, 0); /* no stale port for load_keepalive_ports once the thread ends */
}

static void *
thread_main(void *arg)
{
    struct lthread *t = arg;
    if (t->keepalive)
        run_keepalive(t);
    else
        run_new(t);
    return NULL;
}

struct load *
load_start(const struct load_cfg *cfg)
{
    if (cfg->new_threads + cfg->keepalive_threads > LOAD_MAX_THREADS)
        return NULL;
    struct load *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->cfg = *cfg;
    if (cfg->tls && (l->tls = tls_client_ctx(cfg)) == NULL) {
        free(l);
        return NULL;
    }
    if (l->cfg.io_timeout_ms <= 0)
        l->cfg.io_timeout_ms = 5000;
    if (l->cfg.target == NULL)
        l->cfg.target = "/";
    l->deadline = clock_mono_ms() + cfg->max_ms;
    for (int i = 0; i < cfg->new_threads + cfg->keepalive_threads; i++) {
        struct lthread *t = &l->t[i];
        t->l = l;
        t->idx = i;
        t->keepalive = i >= cfg->new_threads;
        if (pthread_create(&t->tid, NULL, thread_main, t) != 0) {
            atomic_store(&l->stop, true);
            for (int j = 0; j < i; j++)
                pthread_join(l->t[j].tid, NULL);
            SSL_CTX_free(l->tls);
            free(l);
            return NULL;
        }
        l->n++;
    }
    return l;
}

long
load_done(struct load *l)
{
    long n = 0;
    for (int i = 0; i < l->n; i++)
        n += atomic_load(&l->t[i].done);
    return n;
}

bool
load_wait(struct load *l, long requests, int timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (load_done(l) < requests) {
        if (clock_mono_ms() >= deadline || clock_mono_ms() >= l->deadline)
            return false;
        poll(NULL, 0, 2);
    }
    return true;
}

int
load_keepalive_ports(struct load *l, int *ports, int max)
{
    int n = 0;
    for (int i = 0; i < l->n && n < max; i++)
        if (l->t[i].keepalive)
            ports[n++] = atomic_load(&l->t[i].port);
    return n;
}

static int
event_cmp(const void *a, const void *b)
{
    const struct load_event *x = a, *y = b;
    return (x->at_ms > y->at_ms) - (x->at_ms < y->at_ms);
}

void
load_stop(struct load *l, struct load_stats *out)
{
    memset(out, 0, sizeof(*out));
    atomic_store(&l->stop, true);
    for (int i = 0; i < l->n; i++) {
        pthread_join(l->t[i].tid, NULL);
        const struct load_stats *st = &l->t[i].st;
        out->ok_new += st->ok_new;
        out->ok_keepalive += st->ok_keepalive;
        for (int k = 0; k < LOAD_F_KINDS; k++)
            out->fail[k] += st->fail[k];
        out->failures += st->failures;
        out->retries += st->retries;
        out->reconnects += st->reconnects;
        for (int e = 0; e < st->nevents && out->nevents < LOAD_MAX_EVENTS; e++)
            out->events[out->nevents++] = st->events[e];
    }
    qsort(out->events, (size_t)out->nevents, sizeof(out->events[0]), event_cmp);
    SSL_CTX_free(l->tls);
    free(l);
}

const char *
load_summary(const struct load_stats *st, char *buf, size_t len)
{
    snprintf(buf, len,
             "new %ld ok, keep-alive %ld ok, %ld failures (connect %ld, reset %ld, status %ld, "
             "truncated %ld, timeout %ld, dropped %ld), %ld keep-alive retries, %ld reconnects",
             st->ok_new, st->ok_keepalive, st->failures, st->fail[LOAD_F_CONNECT],
             st->fail[LOAD_F_RESET], st->fail[LOAD_F_STATUS], st->fail[LOAD_F_TRUNCATED],
             st->fail[LOAD_F_TIMEOUT], st->fail[LOAD_F_DROPPED], st->retries, st->reconnects);
    return buf;
}

/* ---- probes ---- */

int
load_get_once(int port, const char *target, const char *expect_body, int timeout_ms, char *err,
              size_t errlen)
{
    char dummy[8];
    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    struct lconn conn = {.fd = load_connect(port, timeout_ms, err, errlen)};
    if (conn.fd < 0)
        return -1;
    struct rq r;
    int rc = do_request(&conn, target, true, expect_body, timeout_ms, &r);
    close(conn.fd);
    if (rc < 0) {
        snprintf(err, errlen, "%s", r.what);
        return -1;
    }
    return r.status;
}

/* Receive timeouts on a kept fd stand in for the bound do_request needs. */
static int
fd_timeout_ms(int fd)
{
    struct timeval tv;
    socklen_t len = sizeof(tv);
    if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) < 0 || (tv.tv_sec == 0 && !tv.tv_usec))
        return 5000;
    return (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000);
}

int
load_keepalive_get(int fd, const char *target, const char *expect_body, char *err, size_t errlen)
{
    struct rq r;
    struct lconn conn = {.fd = fd};
    if (do_request(&conn, target, false, expect_body, fd_timeout_ms(fd), &r) < 0) {
        snprintf(err, errlen, "%s", r.what);
        return -1;
    }
    return r.status;
}

int
load_keepalive_open(int port, const char *target, const char *expect_body, int timeout_ms,
                    char *err, size_t errlen)
{
    int fd = load_connect(port, timeout_ms, err, errlen);
    if (fd < 0)
        return -1;
    int st = load_keepalive_get(fd, target, expect_body, err, errlen);
    if (st != 200) {
        if (st > 0)
            snprintf(err, errlen, "status %d", st);
        close(fd);
        return -1;
    }
    return fd;
}

/* Inode of the server side of a loopback connection, from /proc/net/tcp; 0 when not found (or
 * still in the accept queue: such a socket has no inode yet). */
static unsigned long
server_side_inode(int server_port, int client_port)
{
    FILE *f = fopen("/proc/net/tcp", "re");
    if (f == NULL)
        return 0;
    char line[512];
    unsigned long found = 0;
    const unsigned lo = 0x0100007f; /* 127.0.0.1 as the kernel prints it on little-endian */
    while (found == 0 && fgets(line, sizeof(line), f) != NULL) {
        unsigned la, lp, ra, rp, st;
        unsigned long inode;
        if (sscanf(line, " %*d: %8x:%4x %8x:%4x %2x %*x:%*x %*x:%*x %*x %*u %*d %lu", &la, &lp, &ra,
                   &rp, &st, &inode) != 6)
            continue;
        if (la == lo && ra == lo && (int)lp == server_port && (int)rp == client_port)
            found = inode;
    }
    fclose(f);
    return found;
}

static bool
pid_has_socket(pid_t pid, unsigned long inode)
{
    char path[64], want[64], link[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir(path);
    if (d == NULL)
        return false;
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        char fdpath[64 + sizeof(de->d_name)];
        snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
        ssize_t n = readlink(fdpath, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = '\0';
            found = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return found;
}

pid_t
load_conn_owner(const pid_t *pids, int npids, int server_port, int client_port)
{
    unsigned long inode = server_side_inode(server_port, client_port);
    if (inode == 0)
        return 0;
    for (int i = 0; i < npids; i++)
        if (pid_has_socket(pids[i], inode))
            return pids[i];
    return 0;
}

const char *
load_events_text(const struct load_stats *st, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < st->nevents && i < 6 && used < len; i++) {
        const struct load_event *e = &st->events[i];
        used += (size_t)snprintf(buf + used, len - used, "\n  %s %s thread %d port %d: %s",
                                 e->retry ? "retry" : "FAIL", e->keepalive ? "keep-alive" : "new",
                                 e->thread, e->local_port, e->what);
    }
    return buf;
}
