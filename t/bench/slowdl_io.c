/* slowdl's reads and writes over plain TCP or TLS, its TLS context, and the probe thread (see
 * slowdl.h). */
#define _GNU_SOURCE
#include "t/bench/slowdl.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

#define PROBE_LIMIT_MS 5000
#define MAX_PROBES 4096

__thread char tls_reason[256];

/* ------------------------------------------------------------------------------------------ */
/* TLS: the same reads and writes over OpenSSL, errors as errno values */

/* The result of an SSL call that returned r <= 0, as an errno value: EAGAIN when it wants the
 * socket again (SSL_want_write() says which way), 0 at the end of the stream (a close_notify, or
 * a plain EOF: SSL_OP_IGNORE_UNEXPECTED_EOF), the socket's errno, or EPROTO for a TLS error with
 * OpenSSL's reason in tls_reason. Leaves the thread's OpenSSL error queue empty. */
int
tls_errno(SSL *ssl, int r)
{
    int err = errno;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return err ? err : EIO;
    default:
        ERR_error_string_n(ERR_peek_last_error(), tls_reason, sizeof(tls_reason));
        ERR_clear_error();
        return EPROTO;
    }
}

/* recv(2), or SSL_read when ssl is set: bytes read, 0 at the end of the stream, or -1 with
 * errno (EAGAIN: nothing now; EPROTO: a TLS error, see tls_errno). */
ssize_t
io_recv(int fd, SSL *ssl, void *buf, size_t len, int flags)
{
    if (ssl == NULL)
        return recv(fd, buf, len, flags);
    errno = 0;
    int n = SSL_read(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0)
        return n;
    int err = tls_errno(ssl, n);
    if (err == 0)
        return 0;
    errno = err;
    return -1;
}

/* send(2), or SSL_write when ssl is set (all of buf or nothing: no partial-write mode). */
ssize_t
io_send(int fd, SSL *ssl, const void *buf, size_t len)
{
    if (ssl == NULL)
        return send(fd, buf, len, MSG_NOSIGNAL);
    errno = 0;
    int n = SSL_write(ssl, buf, (int)len);
    if (n > 0)
        return n;
    errno = tls_errno(ssl, n);
    if (errno == 0)
        errno = EPIPE;
    return -1;
}

/* The client's TLS context for -e VERSION (1.3 or 1.2): that version only, no resumption
 * (every connection a full handshake, as from 10,000 different clients), buffers released
 * between reads; the server's certificate checked against cafile when given. */
SSL_CTX *
tls_setup(const char *version, const char *cafile)
{
    int v = strcmp(version, "1.3") == 0   ? TLS1_3_VERSION
            : strcmp(version, "1.2") == 0 ? TLS1_2_VERSION
                                          : 0;
    if (v == 0)
        return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, v) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, v) != 1)
        goto fail;
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* without read-ahead every record costs a read of its 5-byte header and one of the rest:
     * 10,000 connections read every 100 ms make that the client's bottleneck */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (cafile) {
        if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
            goto fail;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
fail:
    fprintf(stderr, "slowdl: TLS setup (%s%s): ", version, cafile ? ", -A" : "");
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* ------------------------------------------------------------------------------------------ */
/* probe thread: a small file on a fresh connection every second */

struct probe_stats {
    int n, failed;
    double ms[MAX_PROBES];
};
static struct probe_stats probes[NPHASES];
static struct sockaddr_in probe_addr;
static char probe_request[512];
static SSL_CTX *probe_ctx;
static const atomic_int *probe_phase;
static atomic_bool probe_stop;
static pthread_t probe_thread;

/* One fetch (over TLS with -e, its handshake included); returns its latency in ms, or -1. */
static double
probe_once(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t until = clock_mono_ms() + PROBE_LIMIT_MS;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    SSL *ssl = NULL;
    char buf[4096];
    size_t got = 0;
    bool connected = false, sent = false;
    short want = POLLOUT;
    if (connect(fd, (struct sockaddr *)&probe_addr, sizeof(probe_addr)) < 0 && errno != EINPROGRESS)
        goto fail;
    for (;;) {
        int left = (int)(until - clock_mono_ms());
        if (left <= 0)
            goto fail;
        /* a record OpenSSL already holds needs no wait on the socket */
        struct pollfd p = {.fd = fd, .events = want};
        if (!(ssl && SSL_has_pending(ssl)) && poll(&p, 1, left) <= 0)
            continue;
        if (!connected) {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
                goto fail;
            connected = true;
            if (probe_ctx) {
                ssl = SSL_new(probe_ctx);
                if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
                    goto fail;
                SSL_set_connect_state(ssl);
            }
        }
        if (ssl && !SSL_is_init_finished(ssl)) {
            int r = SSL_do_handshake(ssl);
            if (r != 1) {
                if (tls_errno(ssl, r) != EAGAIN)
                    goto fail;
                want = SSL_want_write(ssl) ? POLLOUT : POLLIN;
                continue;
            }
        }
        if (!sent) {
            size_t len = strlen(probe_request);
            if (io_send(fd, ssl, probe_request, len) != (ssize_t)len)
                goto fail;
            sent = true;
            want = POLLIN;
            continue;
        }
        ssize_t n = io_recv(fd, ssl, buf + got, sizeof(buf) - 1 - got, 0);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n < 0)
            goto fail;
        got += (size_t)n;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end && strncmp(buf, "HTTP/1.1 200", 12) == 0) {
            char *cl = strcasestr(buf, "\r\ncontent-length:");
            if (cl && cl < end && (size_t)(end + 4 - buf) + (size_t)atoll(cl + 17) <= got)
                break; /* the whole answer is in */
        }
        if (n == 0 || got == sizeof(buf) - 1)
            goto fail;
    }
    SSL_free(ssl);
    close(fd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
fail:
    SSL_free(ssl);
    close(fd);
    return -1;
}

static void *
probe_main(void *arg)
{
    (void)arg;
    int64_t next = clock_mono_ms();
    while (!probe_stop) {
        int64_t now = clock_mono_ms();
        if (now < next) {
            usleep((useconds_t)((next - now) * 1000 > 50000 ? 50000 : (next - now) * 1000));
            continue;
        }
        next += 1000;
        int ph = *probe_phase;
        double ms = probe_once();
        struct probe_stats *s = &probes[ph];
        if (ms < 0)
            s->failed++;
        else if (s->n < MAX_PROBES)
            s->ms[s->n++] = ms;
    }
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int
probe_start(const struct sockaddr_in *addr, const char *request, SSL_CTX *ctx,
            const atomic_int *phase)
{
    probe_addr = *addr;
    snprintf(probe_request, sizeof(probe_request), "%s", request);
    probe_ctx = ctx;
    probe_phase = phase;
    return pthread_create(&probe_thread, NULL, probe_main, NULL) == 0 ? 0 : -1;
}

void
probe_finish(void)
{
    probe_stop = true;
    pthread_join(probe_thread, NULL);
    for (int ph = 0; ph < NPHASES; ph++) {
        struct probe_stats *s = &probes[ph];
        if (s->n + s->failed == 0)
            continue;
        qsort(s->ms, (size_t)s->n, sizeof(double), cmp_double);
        printf("probe phase=%s n=%d failed=%d max_ms=%.2f median_ms=%.2f\n", phase_names[ph], s->n,
               s->failed, s->n ? s->ms[s->n - 1] : 0.0, s->n ? s->ms[s->n / 2] : 0.0);
    }
}

