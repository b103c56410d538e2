/* The TLS transport (see tls.h). */
#include "worker/tls.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/tls_cert.h"

#define TLS_RECORD 16384          /* the largest TLS record's plaintext */
#define TLS_TURN_BYTES TLS_RECORD /* file bytes written per turn of the loop */
#define TLS_NOTSENT_LOWAT (4 * TLS_RECORD)
#define FAIL_LOG_PER_SEC 10 /* failed-handshake lines per second and worker */
#define TRIM_MIN_DROP 256   /* connections gone since the peak before memory is given back */

struct tls_conn {
    SSL *ssl;
    uint32_t retry; /* a blocked write of this many file bytes waits inside OpenSSL */
};

static SSL_CTX *start_ctx;
static struct shm_worker *stats;
static int live, peak; /* TLS connections open now, and the most since memory was trimmed */
static unsigned char chunk[TLS_RECORD]; /* file bytes on their way into SSL_write */

void
tls_transport_init(SSL_CTX *ctx, struct shm_worker *s)
{
    start_ctx = ctx;
    stats = s;
}

/* ---- failed handshakes: counted, and logged at info at most FAIL_LOG_PER_SEC a second ---- */

static void
handshake_failed(int fd, const char *why)
{
    static int64_t second;
    static unsigned logged, dropped;
    char peer[128] = "?";
    stats->tls_failed++;
    if (log_threshold > LOG_LVL_INFO)
        return;
    int64_t now = clock_mono_ms() / 1000;
    if (now != second) {
        if (dropped)
            log_info("TLS handshake: %u more failures not logged in the last second", dropped);
        second = now;
        logged = dropped = 0;
    }
    if (logged == FAIL_LOG_PER_SEC) {
        dropped++;
        return;
    }
    logged++;
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    if (getpeername(fd, (struct sockaddr *)&sa, &len) == 0)
        cfg_format_addr((struct sockaddr *)&sa, len, peer, sizeof(peer));
    log_info("TLS handshake failed from %s: %s", peer, why);
}

/* Why the last call failed: OpenSSL's reason, else what the socket said. */
static const char *
ssl_why(int err)
{
    if (ERR_reason_error_string(ERR_peek_last_error()) != NULL)
        return tls_reason();
    if (err == SSL_ERROR_SYSCALL)
        return errno ? strerror(errno) : "connection closed";
    return "protocol error";
}

/* A call that returned rc <= 0: EAGAIN with *want, 0 for the end of the stream (recv), or -1
 * with errno. The error queue is left empty for the next call. */
static int
io_result(const struct tls_conn *t, int rc, enum transport_want *want)
{
    int err = SSL_get_error(t->ssl, rc);
    int saved = errno;
    ERR_clear_error();
    switch (err) {
    case SSL_ERROR_WANT_READ:
        *want = TRANSPORT_WANT_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want = TRANSPORT_WANT_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        errno = saved ? saved : ECONNRESET;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

/* ---- the first bytes: TLS, plain HTTP, or neither ---- */

static bool
looks_like_http(const unsigned char *b, ssize_t n)
{
    ssize_t i = 0;
    while (i < n && b[i] >= 'A' && b[i] <= 'Z')
        i++;
    return i > 0 && (i == n || b[i] == ' ');
}

/* Plain HTTP on a TLS port: a plaintext 400 the client can read, then the end. What it sent
 * is read first, so that the close sends no reset that could destroy the answer. */
static void
answer_plain(int fd)
{
    static const char answer[] = "HTTP/1.1 400 Bad Request\r\nServer: sluice\r\n"
                                 "Content-Type: text/plain\r\nContent-Length: 45\r\n"
                                 "Connection: close\r\n\r\n"
                                 "This port speaks HTTPS: use an https:// URL.\n";
    char sink[4096];
    for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
        ;
    (void)!send(fd, answer, sizeof(answer) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
}

/* 1 when the connection starts with a TLS handshake record; else -1 with errno (EAGAIN: no
 * byte yet). */
static int
first_bytes(int fd)
{
    unsigned char b[8];
    ssize_t n = recv(fd, b, sizeof(b), MSG_PEEK);
    if (n < 0)
        return -1;
    if (n > 0 && b[0] == 0x16) /* handshake record */
        return 1;
    if (n == 0) {
        errno = ECONNRESET; /* connected and left: nothing was attempted */
        return -1;
    }
    if (looks_like_http(b, n)) {
        handshake_failed(fd, "plain HTTP on a TLS port (answered 400)");
        answer_plain(fd);
    } else
        handshake_failed(fd, "not a TLS handshake");
    errno = EPROTO;
    return -1;
}

/* ---- the transport table ---- */

static int
tls_open(int fd, void **ctx)
{
    static const int lowat = TLS_NOTSENT_LOWAT;
    struct tls_conn *t = start_ctx ? malloc(sizeof(*t)) : NULL;
    if (t == NULL)
        return -1;
    t->retry = 0;
    t->ssl = SSL_new(start_ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return -1;
    }
    SSL_set_accept_state(t->ssl);
    if (++live > peak)
        peak = live;
    /* Not on a unix socket: there, writes simply block at the buffer's end. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    *ctx = t;
    return 0;
}

static int
tls_handshake(int fd, void *ctx, enum transport_want *want)
{
    struct tls_conn *t = ctx;
    if (SSL_in_before(t->ssl) && first_bytes(fd) < 0)
        return -1;
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        if (SSL_session_reused(t->ssl))
            stats->tls_resumed++;
        else
            stats->tls_full++;
        return 0;
    }
    int err = SSL_get_error(t->ssl, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        handshake_failed(fd, ssl_why(err));
    return io_result(t, rc, want);
}

static int
clamp(size_t n)
{
    return n > INT_MAX ? INT_MAX : (int)n;
}

static ssize_t
tls_recv(int fd, void *ctx, void *buf, size_t n, enum transport_want *want)
{
    struct tls_conn *t = ctx;
    (void)fd;
    int rc = SSL_read(t->ssl, buf, clamp(n));
    return rc > 0 ? rc : io_result(t, rc, want);
}

/* Bytes in memory (a response buffer, a cached file) stay where they are until written, so a
 * retry offers the same ones. */
static ssize_t
tls_send(int fd, void *ctx, const void *buf, size_t n, bool more, enum transport_want *want)
{
    struct tls_conn *t = ctx;
    (void)fd, (void)more;
    int rc = SSL_write(t->ssl, buf, clamp(n));
    return rc > 0 ? rc : io_result(t, rc, want);
}

/* Gathered buffers become one record: copied into the worker's buffer, as far as it holds.
 * A retry gathers the same buffers, so it offers the same bytes again. */
static ssize_t
tls_sendv(int fd, void *ctx, const struct iovec *iov, int cnt, bool more, enum transport_want *want)
{
    size_t len = 0;
    for (int i = 0; i < cnt && len < sizeof(chunk); i++) {
        size_t k = iov[i].iov_len < sizeof(chunk) - len ? iov[i].iov_len : sizeof(chunk) - len;
        memcpy(chunk + len, iov[i].iov_base, k);
        len += k;
    }
    return tls_send(fd, ctx, chunk, len, more, want);
}

/* One record of the file from *off: read into the worker's buffer, then written. */
static ssize_t
write_record(struct tls_conn *t, int file_fd, off_t *off, size_t n, enum transport_want *want)
{
    size_t len = t->retry ? t->retry : n < sizeof(chunk) ? n : sizeof(chunk);
    ssize_t got = pread(file_fd, chunk, len, *off);
    if (got <= 0 || (t->retry && (size_t)got < t->retry)) {
        if (got >= 0 && t->retry) {
            errno = ESTALE; /* it shrank under the record that waits: nothing can be sent */
            return -1;
        }
        return got; /* 0: the file ended early (send.c reports it) */
    }
    int rc = SSL_write(t->ssl, chunk, (int)got);
    if (rc <= 0) {
        t->retry = (uint32_t)got;
        return io_result(t, rc, want);
    }
    t->retry = 0;
    *off += rc;
    stats->tls_file_bytes += (uint64_t)rc;
    return rc;
}

/* File bytes, at most TLS_TURN_BYTES a turn: the caller waits for the socket to be writable
 * again (TCP_NOTSENT_LOWAT) before the next turn. */
static ssize_t
tls_sendfile(int fd, void *ctx, int file_fd, off_t *off, size_t n, enum transport_want *want)
{
    struct tls_conn *t = ctx;
    size_t done = 0;
    (void)fd;
    if (n > TLS_TURN_BYTES)
        n = TLS_TURN_BYTES;
    while (done < n) {
        ssize_t k = write_record(t, file_fd, off, n - done, want);
        if (k <= 0)
            return done > 0 && (k == 0 || errno == EAGAIN) ? (ssize_t)done : k;
        done += (size_t)k;
    }
    return (ssize_t)done;
}

/* Decrypted bytes, or a record not yet decrypted, wait inside OpenSSL. */
static size_t
tls_pending(void *ctx)
{
    struct tls_conn *t = ctx;
    int n = SSL_pending(t->ssl);
    return n > 0 ? (size_t)n : (size_t)SSL_has_pending(t->ssl);
}

static void
tls_shutdown(int fd, void *ctx)
{
    struct tls_conn *t = ctx;
    if (SSL_is_init_finished(t->ssl))
        (void)SSL_shutdown(t->ssl); /* close_notify, if the socket takes it */
    ERR_clear_error();
    shutdown(fd, SHUT_WR);
}

/* Each SSL object lives on the heap (about 7 KB idle, much more during its handshake), and
 * malloc keeps what is freed: once half the connections of a peak are gone, the free pages go
 * back to the kernel, so a burst of 10,000 clients does not stay in the worker's RSS. */
static void
tls_release(void *ctx)
{
    struct tls_conn *t = ctx;
    SSL_free(t->ssl);
    free(t);
    if (--live * 2 < peak && peak - live >= TRIM_MIN_DROP) {
        malloc_trim(0);
        peak = live;
    }
}

const struct transport transport_tls = {
    .name = "tls",
    .open = tls_open,
    .handshake = tls_handshake,
    .recv = tls_recv,
    .send = tls_send,
    .sendv = tls_sendv,
    .sendfile = tls_sendfile,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .release = tls_release,
};
