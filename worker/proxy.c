/* The PROXY protocol: the parser and the transports of `proxy` listeners (see proxy.h; the
 * format is HAProxy's proxy-protocol.txt). */
#include "worker/proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cfg.h"
#include "common/cidr.h"
#include "common/clock.h"
#include "common/log.h"
#include "worker/tls.h"

#define V1_MIN 15           /* "PROXY UNKNOWN\r\n" */
#define FAIL_LOG_PER_SEC 10 /* refused-header lines per second and worker */

static const uint8_t v1_sig[6] = "PROXY ";
static const uint8_t v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";

/* ---- the parser ---- */

static enum proxy_status
bad(struct proxy_result *out, const char *why)
{
    out->why = why;
    return PROXY_BAD;
}

static enum proxy_status
more(struct proxy_result *out, size_t need)
{
    out->need = need;
    return PROXY_MORE;
}

/* A v1 port: 0 to 65535 in decimal, no sign, no leading zero. */
static bool
v1_port(const char *p, size_t n, uint16_t *port)
{
    unsigned v = 0;
    if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *port = htons((uint16_t)v);
    return v <= 65535;
}

static void
set_port(struct sockaddr_storage *sa, uint16_t port)
{
    if (sa->ss_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = port;
    else
        ((struct sockaddr_in6 *)sa)->sin6_port = port;
}

/* "TCP4 src dst sport dport" (p..end: the line after "PROXY ", CRLF excluded): single spaces,
 * addresses of the protocol's family. */
static enum proxy_status
v1_tcp(const char *p, const char *end, int family, struct proxy_result *out)
{
    const char *field[4];
    size_t n[4];
    for (int i = 0; i < 4; i++) {
        const char *sp = i < 3 ? memchr(p, ' ', (size_t)(end - p)) : end;
        if (sp == NULL || sp == p)
            return bad(out, "v1: expected source, destination and two ports");
        field[i] = p;
        n[i] = (size_t)(sp - p);
        p = sp + (i < 3);
    }
    if (memchr(field[3], ' ', n[3]))
        return bad(out, "v1: text after the destination port");
    uint16_t sport, dport;
    if (cidr_addr_parse(field[0], n[0], &out->src) < 0 || out->src.ss_family != family ||
        cidr_addr_parse(field[1], n[1], &out->dst) < 0 || out->dst.ss_family != family)
        return bad(out, family == AF_INET ? "v1: bad TCP4 address" : "v1: bad TCP6 address");
    if (!v1_port(field[2], n[2], &sport) || !v1_port(field[3], n[3], &dport))
        return bad(out, "v1: bad port");
    set_port(&out->src, sport);
    set_port(&out->dst, dport);
    return PROXY_DONE;
}

static enum proxy_status
parse_v1(const uint8_t *buf, size_t len, struct proxy_result *out)
{
    const uint8_t *lf = memchr(buf, '\n', len < PROXY_V1_MAX ? len : PROXY_V1_MAX);
    if (lf == NULL) {
        if (len >= PROXY_V1_MAX)
            return bad(out, "v1: no CRLF within 107 bytes");
        return more(out, len < V1_MIN ? V1_MIN - len : 1);
    }
    if (lf[-1] != '\r')
        return bad(out, "v1: line not ended by CRLF");
    const char *p = (const char *)buf + sizeof(v1_sig), *end = (const char *)lf - 1;
    size_t rest = (size_t)(end - p);
    out->len = (size_t)(lf + 1 - buf);
    out->version = 1;
    /* UNKNOWN: the sender could not tell; what follows it on the line is ignored. */
    if (rest >= 7 && memcmp(p, "UNKNOWN", 7) == 0 && (rest == 7 || p[7] == ' '))
        return PROXY_DONE;
    if (rest > 5 && memcmp(p, "TCP4 ", 5) == 0)
        return v1_tcp(p + 5, end, AF_INET, out);
    if (rest > 5 && memcmp(p, "TCP6 ", 5) == 0)
        return v1_tcp(p + 5, end, AF_INET6, out);
    return bad(out, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
}

/* The address block's size for a v2 family (high nibble), -1 for an unknown one. */
static int
v2_addr_len(int family)
{
    static const int len[] = {0, 12, 36, 216}; /* UNSPEC, INET, INET6, UNIX */
    return family < 4 ? len[family] : -1;
}

static void
v2_addrs(const uint8_t *a, int family, struct proxy_result *out)
{
    if (family == 1) {
        struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
        struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;
        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        memcpy(&d->sin_addr, a + 4, 4);
        memcpy(&s->sin_port, a + 8, 2); /* network order, as sent */
        memcpy(&d->sin_port, a + 10, 2);
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
        struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;
        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a, 16);
        memcpy(&d->sin6_addr, a + 16, 16);
        memcpy(&s->sin6_port, a + 32, 2);
        memcpy(&d->sin6_port, a + 34, 2);
    }
}

static enum proxy_status
parse_v2(const uint8_t *buf, size_t len, struct proxy_result *out)
{
    if (len < PROXY_V2_FIXED)
        return more(out, PROXY_V2_FIXED - len);
    int version = buf[12] >> 4, command = buf[12] & 0xf;
    int family = buf[13] >> 4, protocol = buf[13] & 0xf;
    if (version != 2)
        return bad(out, "v2: version is not 2");
    if (command > 1)
        return bad(out, "v2: command is not LOCAL or PROXY");
    out->len = PROXY_V2_FIXED + ((size_t)buf[14] << 8 | buf[15]);
    out->version = 2;
    if (command == 0)
        return PROXY_DONE; /* LOCAL (the balancer's own check): its addresses are ignored */
    int alen = v2_addr_len(family);
    if (alen < 0 || protocol > 2)
        return bad(out, "v2: unknown address family or protocol");
    if (out->len - PROXY_V2_FIXED < (size_t)alen)
        return bad(out, "v2: length too short for the address family");
    if (family == 0)
        return PROXY_DONE; /* UNSPEC: keep the socket's peer */
    if (family == 3) {
        out->src.ss_family = out->dst.ss_family = AF_UNIX; /* a local client: no IP address */
        return PROXY_DONE;
    }
    if (len < PROXY_V2_FIXED + (size_t)alen)
        return more(out, PROXY_V2_FIXED + (size_t)alen - len);
    v2_addrs(buf + PROXY_V2_FIXED, family, out);
    return PROXY_DONE;
}

enum proxy_status
proxy_parse(const uint8_t *buf, size_t len, struct proxy_result *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return more(out, V1_MIN); /* the shorter of the two headers */
    /* The first bytes tell the version; a prefix of both signatures cannot exist ('P' vs CR). */
    if (buf[0] == v1_sig[0]) {
        size_t k = len < sizeof(v1_sig) ? len : sizeof(v1_sig);
        if (memcmp(buf, v1_sig, k) != 0)
            return bad(out, "not a PROXY header");
        return len < sizeof(v1_sig) ? more(out, V1_MIN - len) : parse_v1(buf, len, out);
    }
    size_t k = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
    if (memcmp(buf, v2_sig, k) != 0)
        return bad(out, "not a PROXY header");
    return parse_v2(buf, len, out);
}

/* ---- the transport ---- */

/* Per connection, until the header is read. */
struct proxy_conn {
    const struct transport *inner; /* the listener's own transport, after the header */
    uint16_t skip;                 /* v2 bytes (TLVs) still to read and drop */
    uint8_t have;                  /* header bytes in buf */
    bool done;                     /* buf holds the header up to its addresses */
    uint8_t buf[PROXY_V1_MAX];
};

/* A refused connection: logged at info, at most FAIL_LOG_PER_SEC a second. */
static void
refused(int fd, const char *why)
{
    static int64_t second;
    static unsigned logged, dropped;
    if (log_threshold > LOG_LVL_INFO)
        return;
    int64_t now = clock_mono_ms() / 1000;
    if (now != second) {
        if (dropped)
            log_info("PROXY protocol: %u more refused connections not logged in the last second",
                     dropped);
        second = now;
        logged = dropped = 0;
    }
    if (logged == FAIL_LOG_PER_SEC) {
        dropped++;
        return;
    }
    logged++;
    char peer[128] = "?";
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    if (getpeername(fd, (struct sockaddr *)&sa, &len) == 0)
        cfg_format_addr((struct sockaddr *)&sa, len, peer, sizeof(peer));
    log_info("PROXY protocol: closing a connection from %s without answer: %s", peer, why);
}

static int
proxy_open(int fd, void **ctx, const struct transport *inner)
{
    struct proxy_conn *p = malloc(sizeof(*p));
    (void)fd;
    if (p == NULL)
        return -1;
    p->inner = inner;
    p->skip = 0;
    p->have = 0;
    p->done = false;
    *ctx = p;
    return 0;
}

static int
open_plain(int fd, void **ctx)
{
    return proxy_open(fd, ctx, &transport_plain);
}

static int
open_tls(int fd, void **ctx)
{
    return proxy_open(fd, ctx, &transport_tls);
}

/* The next bytes of the header: peeked, parsed with those before, and exactly the header's
 * taken. Returns how many were taken (the header is then complete), or -1 with errno. */
static ssize_t
take_header(int fd, struct proxy_conn *p)
{
    ssize_t n = recv(fd, p->buf + p->have, sizeof(p->buf) - p->have, MSG_PEEK);
    if (n <= 0) {
        if (n == 0) {
            if (p->have > 0)
                refused(fd, "closed in the middle of the header");
            errno = ECONNRESET;
        }
        return -1;
    }
    struct proxy_result r;
    size_t total = p->have + (size_t)n, take = (size_t)n;
    switch (proxy_parse(p->buf, total, &r)) {
    case PROXY_BAD:
        refused(fd, r.why);
        errno = EPROTO;
        return -1;
    case PROXY_DONE:
        if (r.len < total)
            take = r.len - p->have; /* the request's bytes stay in the socket */
        p->skip = (uint16_t)(r.len - (p->have + take));
        p->done = true;
        break;
    case PROXY_MORE: /* every byte seen belongs to the header, and the socket had no more */
        break;
    }
    if (recv(fd, p->buf + p->have, take, 0) != (ssize_t)take) {
        errno = EIO; /* the peeked bytes are gone: nobody else reads this socket */
        return -1;
    }
    p->have = (uint8_t)(p->have + take);
    if (!p->done) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)take;
}

/* v2 TLVs (SSL, unique id, ...): read and dropped, never past the header. Returns the bytes
 * read, or -1 with errno (EAGAIN once the socket has no more). */
static ssize_t
drop_tlvs(int fd, struct proxy_conn *p)
{
    static uint8_t sink[4096];
    size_t want = p->skip < sizeof(sink) ? p->skip : sizeof(sink);
    ssize_t n = recv(fd, sink, want, 0);
    if (n <= 0) {
        if (n == 0) {
            refused(fd, "closed in the middle of the header");
            errno = ECONNRESET;
        }
        return -1;
    }
    p->skip = (uint16_t)(p->skip - n);
    if ((size_t)n < want && p->skip > 0) {
        errno = EAGAIN; /* the socket is empty: wait rather than ask again */
        return -1;
    }
    return n;
}

/* Every call takes the bytes that came or fails: a level-triggered epoll never wakes it for
 * nothing. Only reads, so *want stays READ. */
static int
proxy_handshake(int fd, void *ctx, enum transport_want *want)
{
    struct proxy_conn *p = ctx;
    (void)want;
    while (!p->done || p->skip > 0)
        if ((p->done ? drop_tlvs(fd, p) : take_header(fd, p)) < 0)
            return -1;
    return 0;
}

static const struct transport *
proxy_unwrap(int fd, void *ctx, void **inner_ctx, struct sockaddr_storage *peer)
{
    struct proxy_conn *p = ctx;
    const struct transport *inner = p->inner;
    struct proxy_result r;
    memset(peer, 0, sizeof(*peer));
    if (proxy_parse(p->buf, p->have, &r) == PROXY_DONE) /* always: the handshake checked it */
        *peer = r.src;
    free(p);
    *inner_ctx = NULL;
    if (inner->open && inner->open(fd, inner_ctx) < 0)
        return NULL;
    return inner;
}

/* Bytes move only through the inner transport: these are never called before unwrap, and
 * fail if they were. */
static ssize_t
no_recv(int fd, void *ctx, void *buf, size_t n, enum transport_want *want)
{
    (void)fd, (void)ctx, (void)buf, (void)n, (void)want;
    errno = ENOTCONN;
    return -1;
}

static ssize_t
no_send(int fd, void *ctx, const void *buf, size_t n, bool more, enum transport_want *want)
{
    (void)fd, (void)ctx, (void)buf, (void)n, (void)more, (void)want;
    errno = ENOTCONN;
    return -1;
}

static ssize_t
no_sendv(int fd, void *ctx, const struct iovec *iov, int cnt, bool more, enum transport_want *want)
{
    (void)fd, (void)ctx, (void)iov, (void)cnt, (void)more, (void)want;
    errno = ENOTCONN;
    return -1;
}

static ssize_t
no_sendfile(int fd, void *ctx, int file_fd, off_t *off, size_t n, enum transport_want *want)
{
    (void)fd, (void)ctx, (void)file_fd, (void)off, (void)n, (void)want;
    errno = ENOTCONN;
    return -1;
}

/* What the handshake took is the header's: nothing is held for the request. */
static size_t
proxy_pending(void *ctx)
{
    (void)ctx;
    return 0;
}

static void
proxy_shutdown(int fd, void *ctx)
{
    (void)ctx;
    shutdown(fd, SHUT_WR);
}

/* NULL is fine: an unwrap that failed released it already. */
static void
proxy_release(void *ctx)
{
    free(ctx);
}

#define PROXY_TRANSPORT(label, opener)                                                             \
    {                                                                                              \
        .name = label, .open = opener, .handshake = proxy_handshake, .recv = no_recv,              \
        .send = no_send, .sendv = no_sendv, .sendfile = no_sendfile, .pending = proxy_pending,     \
        .shutdown = proxy_shutdown, .release = proxy_release, .unwrap = proxy_unwrap,              \
    }

const struct transport transport_proxy_plain = PROXY_TRANSPORT("proxy", open_plain);
const struct transport transport_proxy_tls = PROXY_TRANSPORT("proxy tls", open_tls);
