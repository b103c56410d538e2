/* Unit tests for worker/proxy.c: the PROXY-protocol parser (v1 TCP4/TCP6/UNKNOWN, v2 PROXY and
 * LOCAL with every family, TLVs, malformed headers), fed whole and at every split point; and the
 * transport over a socketpair: the header read a byte at a time, never a byte past it, then
 * the inner transport and the client it named. */
#include "worker/proxy.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/tls.h"

static const uint8_t SIG[12] = "\r\n\r\n\0\r\nQUIT\n";

/* A v2 header in buf: signature, ver_cmd, fam, then `alen` address bytes from `a` and `tlv`
 * bytes of TLVs (filler); the length field says alen + tlv unless `len_field` >= 0. */
static size_t
v2(uint8_t *buf, uint8_t ver_cmd, uint8_t fam, const uint8_t *a, size_t alen, size_t tlv,
   int len_field)
{
    memcpy(buf, SIG, 12);
    buf[12] = ver_cmd;
    buf[13] = fam;
    size_t len = len_field >= 0 ? (size_t)len_field : alen + tlv;
    buf[14] = (uint8_t)(len >> 8);
    buf[15] = (uint8_t)len;
    if (alen > 0)
        memcpy(buf + 16, a, alen);
    for (size_t i = 0; i < tlv; i++)
        buf[16 + alen + i] = (uint8_t)(i == 0 ? 0x04 : i); /* PP2_TYPE_NOOP, then filler */
    return 16 + alen + tlv;
}

static const uint8_t INET_ADDRS[12] = {10, 1, 1, 1, 192, 0, 2, 1, 0x04, 0xd2, 0x00, 0x50};

static uint8_t INET6_ADDRS[36];

static void
setup_inet6(void)
{
    inet_pton(AF_INET6, "2001:db8::1", INET6_ADDRS);
    inet_pton(AF_INET6, "2001:db8::2", INET6_ADDRS + 16);
    INET6_ADDRS[32] = 0xff, INET6_ADDRS[33] = 0xff; /* 65535 */
    INET6_ADDRS[34] = 0x01, INET6_ADDRS[35] = 0xbb; /* 443 */
}

static void
src_is(const struct proxy_result *r, const char *text, int port)
{
    char got[64] = "?";
    int gport = -1;
    if (r->src.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&r->src;
        inet_ntop(AF_INET, &in->sin_addr, got, sizeof(got));
        gport = ntohs(in->sin_port);
    } else if (r->src.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&r->src;
        inet_ntop(AF_INET6, &in6->sin6_addr, got, sizeof(got));
        gport = ntohs(in6->sin6_port);
    }
    ck_assert_str_eq(got, text);
    ck_assert_int_eq(gport, port);
}

/* `buf` (len bytes) parses as a header whose decisive part ends at `done_at`: every shorter
 * prefix asks for more (and never past done_at), every longer one gives the same result as
 * the whole. */
static void
splits(const uint8_t *buf, size_t len, size_t done_at, struct proxy_result *whole)
{
    ck_assert_int_eq(proxy_parse(buf, len, whole), PROXY_DONE);
    for (size_t k = 0; k < len; k++) {
        struct proxy_result r;
        enum proxy_status st = proxy_parse(buf, k, &r);
        if (k < done_at) {
            ck_assert_msg(st == PROXY_MORE, "prefix of %zu bytes: status %d, want MORE", k, st);
            ck_assert_msg(r.need >= 1 && k + r.need <= done_at,
                          "prefix of %zu bytes: need %zu (decided at %zu)", k, r.need, done_at);
        } else {
            ck_assert_msg(st == PROXY_DONE, "prefix of %zu bytes: status %d, want DONE", k, st);
            ck_assert_int_eq(r.len, whole->len);
            ck_assert(memcmp(&r.src, &whole->src, sizeof(r.src)) == 0);
            ck_assert(memcmp(&r.dst, &whole->dst, sizeof(r.dst)) == 0);
        }
    }
}

static void
v1_ok(const char *line, struct proxy_result *r)
{
    size_t n = strlen(line);
    splits((const uint8_t *)line, n, n, r);
    ck_assert_int_eq(r->len, n);
    ck_assert_int_eq(r->version, 1);
    /* Bytes after the header change nothing. */
    char more[256];
    snprintf(more, sizeof(more), "%sGET / HTTP/1.1\r\n\r\n", line);
    struct proxy_result again;
    ck_assert_int_eq(proxy_parse((const uint8_t *)more, strlen(more), &again), PROXY_DONE);
    ck_assert_int_eq(again.len, n);
}

static void
bad(const uint8_t *buf, size_t len, const char *why_part)
{
    struct proxy_result r;
    ck_assert_msg(proxy_parse(buf, len, &r) == PROXY_BAD, "%.*s: not refused", (int)len, buf);
    ck_assert_msg(strstr(r.why, why_part) != NULL, "reason \"%s\", want \"%s\"", r.why, why_part);
}

static void
v1_bad(const char *line, const char *why_part)
{
    bad((const uint8_t *)line, strlen(line), why_part);
}

START_TEST(v1_tcp4)
{
    struct proxy_result r;
    v1_ok("PROXY TCP4 10.1.1.1 192.0.2.1 1234 80\r\n", &r);
    src_is(&r, "10.1.1.1", 1234);
    ck_assert_int_eq(r.dst.ss_family, AF_INET);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&r.dst)->sin_port), 80);
    v1_ok("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", &r);
    src_is(&r, "0.0.0.0", 0);
}
END_TEST

START_TEST(v1_tcp6)
{
    struct proxy_result r;
    v1_ok("PROXY TCP6 2001:db8::1 ::1 65535 443\r\n", &r);
    src_is(&r, "2001:db8::1", 65535);
    /* The longest v1 line there is: 104 bytes. */
    v1_ok("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
          "ffff 65535 65535\r\n",
          &r);
    ck_assert_int_eq(r.len, 104);
}
END_TEST

START_TEST(v1_unknown)
{
    struct proxy_result r;
    v1_ok("PROXY UNKNOWN\r\n", &r);
    ck_assert_int_eq(r.src.ss_family, AF_UNSPEC);
    v1_ok("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", &r);
    ck_assert_int_eq(r.src.ss_family, AF_UNSPEC);
}
END_TEST

START_TEST(v1_malformed)
{
    v1_bad("GET / HTTP/1.1\r\n", "not a PROXY header");
    v1_bad("PROXX", "not a PROXY header");
    v1_bad("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY header");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "CRLF");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "bad port");
    v1_bad("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "not TCP4, TCP6 or UNKNOWN");
    v1_bad("PROXY UNKNOWNX\r\n", "not TCP4, TCP6 or UNKNOWN");
    v1_bad("PROXY \r\n", "not TCP4, TCP6 or UNKNOWN");
    v1_bad("PROXY TCP4\r\n", "not TCP4, TCP6 or UNKNOWN");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "expected source");
    v1_bad("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "expected source");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "text after");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "text after");
    v1_bad("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "bad TCP4 address");
    v1_bad("PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "bad TCP4 address");
    v1_bad("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "bad TCP6 address");
    v1_bad("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "bad TCP4 address");
    v1_bad("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", "bad TCP4 address");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "bad port");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", "bad port");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "bad port");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "bad port");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n", "bad port");
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n", "bad port");
    const uint8_t nul[] = "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n";
    bad(nul, sizeof(nul) - 1, "bad TCP4 address");
}
END_TEST

/* No CRLF within 107 bytes: refused at the 107th, never later; a shorter prefix waits. */
START_TEST(v1_too_long)
{
    char line[200];
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY TCP4 ", 11);
    struct proxy_result r;
    ck_assert_int_eq(proxy_parse((const uint8_t *)line, PROXY_V1_MAX - 1, &r), PROXY_MORE);
    ck_assert_int_eq(r.need, 1);
    bad((const uint8_t *)line, PROXY_V1_MAX, "107");
    bad((const uint8_t *)line, sizeof(line), "107");
    /* A CRLF just past the limit does not rescue it. */
    memcpy(line + PROXY_V1_MAX - 1, "\r\n", 2);
    bad((const uint8_t *)line, PROXY_V1_MAX + 1, "107");
}
END_TEST

START_TEST(v2_proxy_inet)
{
    uint8_t buf[128];
    struct proxy_result r;
    size_t n = v2(buf, 0x21, 0x11, INET_ADDRS, 12, 0, -1);
    splits(buf, n, 28, &r);
    ck_assert_int_eq(r.version, 2);
    ck_assert_int_eq(r.len, 28);
    src_is(&r, "10.1.1.1", 1234);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&r.dst)->sin_port), 80);
    /* UDP and an unspecified protocol carry addresses the same way. */
    n = v2(buf, 0x21, 0x12, INET_ADDRS, 12, 0, -1);
    splits(buf, n, 28, &r);
    src_is(&r, "10.1.1.1", 1234);
}
END_TEST

START_TEST(v2_proxy_inet6)
{
    uint8_t buf[128];
    struct proxy_result r;
    size_t n = v2(buf, 0x21, 0x21, INET6_ADDRS, 36, 0, -1);
    splits(buf, n, 52, &r);
    ck_assert_int_eq(r.len, 52);
    src_is(&r, "2001:db8::1", 65535);
}
END_TEST

/* TLVs are counted in the length and not read: the result comes with the addresses. */
START_TEST(v2_tlvs)
{
    uint8_t buf[1200];
    struct proxy_result r;
    size_t n = v2(buf, 0x21, 0x11, INET_ADDRS, 12, 1000, -1);
    splits(buf, n, 28, &r);
    ck_assert_int_eq(r.len, 1028);
    src_is(&r, "10.1.1.1", 1234);
    /* The largest length there is. */
    n = v2(buf, 0x21, 0x11, INET_ADDRS, 12, 0, 65535);
    ck_assert_int_eq(proxy_parse(buf, n, &r), PROXY_DONE);
    ck_assert_int_eq(r.len, 16 + 65535);
}
END_TEST

START_TEST(v2_local)
{
    uint8_t buf[300];
    struct proxy_result r;
    size_t n = v2(buf, 0x20, 0x00, NULL, 0, 0, -1);
    splits(buf, n, 16, &r);
    ck_assert_int_eq(r.len, 16);
    ck_assert_int_eq(r.src.ss_family, AF_UNSPEC);
    /* LOCAL ignores whatever family and addresses follow, even a short or unknown one. */
    n = v2(buf, 0x20, 0x11, INET_ADDRS, 12, 5, -1);
    splits(buf, n, 16, &r);
    ck_assert_int_eq(r.len, 33);
    ck_assert_int_eq(r.src.ss_family, AF_UNSPEC);
    n = v2(buf, 0x20, 0x21, INET_ADDRS, 4, 0, -1);
    ck_assert_int_eq(proxy_parse(buf, n, &r), PROXY_DONE);
    ck_assert_int_eq(r.src.ss_family, AF_UNSPEC);
}
END_TEST

START_TEST(v2_unspec_and_unix)
{
    uint8_t buf[300], paths[216] = {0};
    struct proxy_result r;
    size_t n = v2(buf, 0x21, 0x00, NULL, 0, 3, -1);
    splits(buf, n, 16, &r);
    ck_assert_int_eq(r.len, 19);
    ck_assert_int_eq(r.src.ss_family, AF_UNSPEC);
    memcpy(paths, "/run/lb.sock", 12);
    n = v2(buf, 0x21, 0x31, paths, 216, 0, -1);
    splits(buf, n, 16, &r);
    ck_assert_int_eq(r.len, 232);
    ck_assert_int_eq(r.src.ss_family, AF_UNIX);
}
END_TEST

START_TEST(v2_malformed)
{
    uint8_t buf[300];
    size_t n = v2(buf, 0x21, 0x11, INET_ADDRS, 12, 0, -1);
    buf[11] = 'X'; /* signature */
    bad(buf, n, "not a PROXY header");
    bad(buf, 12, "not a PROXY header");
    n = v2(buf, 0x11, 0x11, INET_ADDRS, 12, 0, -1);
    bad(buf, n, "version is not 2");
    n = v2(buf, 0x31, 0x11, INET_ADDRS, 12, 0, -1);
    bad(buf, 16, "version is not 2");
    n = v2(buf, 0x22, 0x11, INET_ADDRS, 12, 0, -1);
    bad(buf, n, "command");
    n = v2(buf, 0x2f, 0x11, INET_ADDRS, 12, 0, -1);
    bad(buf, n, "command");
    n = v2(buf, 0x21, 0x41, INET_ADDRS, 12, 0, -1);
    bad(buf, n, "unknown address family");
    n = v2(buf, 0x21, 0x13, INET_ADDRS, 12, 0, -1);
    bad(buf, n, "unknown address family or protocol");
    /* Lengths too short for the family: told from the fixed part alone. */
    n = v2(buf, 0x21, 0x11, INET_ADDRS, 12, 0, 11);
    bad(buf, 16, "too short");
    n = v2(buf, 0x21, 0x21, INET6_ADDRS, 36, 0, 35);
    bad(buf, 16, "too short");
    n = v2(buf, 0x21, 0x21, INET6_ADDRS, 36, 0, 12);
    bad(buf, 16, "too short");
    n = v2(buf, 0x21, 0x31, INET6_ADDRS, 36, 0, 215);
    bad(buf, 16, "too short");
    /* A prefix that could still be a signature waits; one that cannot is refused at once. */
    struct proxy_result r;
    ck_assert_int_eq(proxy_parse(SIG, 5, &r), PROXY_MORE);
    ck_assert_int_eq(r.need, 11);
    bad((const uint8_t *)"\r\n\r\nX", 5, "not a PROXY header");
    bad((const uint8_t *)"\x16\x03\x01", 3, "not a PROXY header");
    ck_assert_int_eq(proxy_parse(SIG, 0, &r), PROXY_MORE);
}
END_TEST

/* ---- the transport, over a socketpair ---- */

static void
pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

/* Handshake once: 0, or -1 with errno. */
static int
step(const struct transport *tp, int fd, void *ctx)
{
    enum transport_want want = TRANSPORT_WANT_READ;
    errno = 0;
    int rc = tp->handshake(fd, ctx, &want);
    ck_assert_int_eq(want, TRANSPORT_WANT_READ);
    return rc;
}

/* What is left in the socket after the handshake: exactly `rest`. */
static void
left_is(int fd, const char *rest)
{
    char got[256];
    ssize_t n = recv(fd, got, sizeof(got), 0);
    if (*rest == '\0') {
        ck_assert_int_lt(n, 0);
        ck_assert_int_eq(errno, EAGAIN);
        return;
    }
    ck_assert_int_eq(n, (ssize_t)strlen(rest));
    ck_assert(memcmp(got, rest, (size_t)n) == 0);
}

/* `hdr` (n bytes) then `after`: written a byte at a time, a handshake after each, which waits
 * (EAGAIN) until the header's last byte and is done then; `after` stays in the socket. Returns
 * the peer unwrap gives; *inner the transport. */
static struct sockaddr_storage
one_by_one(const struct transport *tp, const uint8_t *hdr, size_t n, const char *after)
{
    int sv[2];
    void *ctx = NULL;
    pair(sv);
    ck_assert_int_eq(tp->open(sv[0], &ctx), 0);
    ck_assert_int_lt(step(tp, sv[0], ctx), 0);
    ck_assert_int_eq(errno, EAGAIN);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(send(sv[1], hdr + i, 1, 0), 1);
        if (i == n - 1)
            ck_assert_int_eq(send(sv[1], after, strlen(after), 0), (ssize_t)strlen(after));
        int rc = step(tp, sv[0], ctx);
        if (i < n - 1) {
            ck_assert_msg(rc < 0 && errno == EAGAIN, "byte %zu: rc %d errno %d", i, rc, errno);
        } else {
            ck_assert_msg(rc == 0, "last byte: rc %d errno %d", rc, errno);
        }
    }
    void *inner_ctx = (void *)1;
    struct sockaddr_storage peer;
    const struct transport *inner = tp->unwrap(sv[0], ctx, &inner_ctx, &peer);
    ck_assert_ptr_eq(inner, &transport_plain);
    ck_assert_ptr_null(inner_ctx);
    left_is(sv[0], after);
    close(sv[0]);
    close(sv[1]);
    return peer;
}

START_TEST(transport_v1_byte_by_byte)
{
    const char *h = "PROXY TCP4 10.1.1.1 192.0.2.1 1234 80\r\n";
    struct sockaddr_storage p =
        one_by_one(&transport_proxy_plain, (const uint8_t *)h, strlen(h), "GET / HTTP/1.1\r\n");
    struct proxy_result r = {.src = p};
    src_is(&r, "10.1.1.1", 1234);
    h = "PROXY UNKNOWN\r\n";
    p = one_by_one(&transport_proxy_plain, (const uint8_t *)h, strlen(h), "\r\n\r\nPROXY");
    ck_assert_int_eq(p.ss_family, AF_UNSPEC);
}
END_TEST

START_TEST(transport_v2_byte_by_byte)
{
    uint8_t buf[300];
    size_t n = v2(buf, 0x21, 0x21, INET6_ADDRS, 36, 40, -1);
    struct sockaddr_storage p = one_by_one(&transport_proxy_plain, buf, n, "\x16\x03\x01");
    struct proxy_result r = {.src = p};
    src_is(&r, "2001:db8::1", 65535);
    n = v2(buf, 0x20, 0x00, NULL, 0, 0, -1);
    p = one_by_one(&transport_proxy_plain, buf, n, "GET");
    ck_assert_int_eq(p.ss_family, AF_UNSPEC);
}
END_TEST

/* The whole header and the request in one write: one handshake takes exactly the header,
 * also when TLVs longer than the read-ahead follow it. */
START_TEST(transport_whole)
{
    static uint8_t buf[20000];
    const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t n = v2(buf, 0x21, 0x11, INET_ADDRS, 12, 9000, -1);
    memcpy(buf + n, req, strlen(req));
    int sv[2];
    void *ctx = NULL;
    pair(sv);
    int sz = 65536;
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    ck_assert_int_eq(send(sv[1], buf, n + strlen(req), 0), (ssize_t)(n + strlen(req)));
    ck_assert_int_eq(transport_proxy_plain.open(sv[0], &ctx), 0);
    ck_assert_int_eq(step(&transport_proxy_plain, sv[0], ctx), 0);
    void *inner_ctx;
    struct sockaddr_storage peer;
    ck_assert_ptr_eq(transport_proxy_plain.unwrap(sv[0], ctx, &inner_ctx, &peer), &transport_plain);
    struct proxy_result r = {.src = peer};
    src_is(&r, "10.1.1.1", 1234);
    left_is(sv[0], req);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* No header, a malformed one, or the end of the stream in the middle: the handshake fails (not
 * EAGAIN), and nothing past what was refused is needed. */
START_TEST(transport_refuses)
{
    const char *cases[] = {"GET / HTTP/1.1\r\n\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
                           "\r\n\r\n\0\r\nQUIT\n\x11\x11\x00\x0c"};
    size_t lens[] = {18, 36, 16};
    for (int i = 0; i < 3; i++) {
        int sv[2];
        void *ctx = NULL;
        pair(sv);
        ck_assert_int_eq(send(sv[1], cases[i], lens[i], 0), (ssize_t)lens[i]);
        ck_assert_int_eq(transport_proxy_plain.open(sv[0], &ctx), 0);
        ck_assert_int_lt(step(&transport_proxy_plain, sv[0], ctx), 0);
        ck_assert_int_eq(errno, EPROTO);
        transport_proxy_plain.release(ctx);
        close(sv[0]);
        close(sv[1]);
    }
    /* The peer leaves in the middle of the header, or before it. */
    for (int i = 0; i < 2; i++) {
        int sv[2];
        void *ctx = NULL;
        pair(sv);
        if (i == 0)
            ck_assert_int_eq(send(sv[1], "PROXY TCP4 1.2", 14, 0), 14);
        close(sv[1]);
        ck_assert_int_eq(transport_proxy_plain.open(sv[0], &ctx), 0);
        int rc = step(&transport_proxy_plain, sv[0], ctx);
        if (rc < 0 && errno == EAGAIN) /* the bytes came first */
            rc = step(&transport_proxy_plain, sv[0], ctx);
        ck_assert_int_lt(rc, 0);
        ck_assert_int_eq(errno, ECONNRESET);
        transport_proxy_plain.release(ctx);
        close(sv[0]);
    }
    transport_proxy_plain.release(NULL); /* after a failed unwrap */
}
END_TEST

START_TEST(transport_tls_inner)
{
    ck_assert_ptr_eq(transport_proxy_tls.unwrap, transport_proxy_plain.unwrap);
    ck_assert_ptr_nonnull(transport_proxy_tls.handshake);
    /* Without a TLS context (none in a unit test) the inner state cannot be made: unwrap says
     * so, having released its own. */
    uint8_t buf[64];
    size_t n = v2(buf, 0x20, 0x00, NULL, 0, 0, -1);
    int sv[2];
    void *ctx = NULL, *inner_ctx;
    pair(sv);
    ck_assert_int_eq(send(sv[1], buf, n, 0), (ssize_t)n);
    ck_assert_int_eq(transport_proxy_tls.open(sv[0], &ctx), 0);
    ck_assert_int_eq(step(&transport_proxy_tls, sv[0], ctx), 0);
    struct sockaddr_storage peer;
    ck_assert_ptr_null(transport_proxy_tls.unwrap(sv[0], ctx, &inner_ctx, &peer));
    close(sv[0]);
    close(sv[1]);
}
END_TEST

Suite *
proxy_suite(void)
{
    Suite *s = suite_create("proxy");
    TCase *tc = tcase_create("parse");
    tcase_add_unchecked_fixture(tc, setup_inet6, NULL);
    tcase_add_test(tc, v1_tcp4);
    tcase_add_test(tc, v1_tcp6);
    tcase_add_test(tc, v1_unknown);
    tcase_add_test(tc, v1_malformed);
    tcase_add_test(tc, v1_too_long);
    tcase_add_test(tc, v2_proxy_inet);
    tcase_add_test(tc, v2_proxy_inet6);
    tcase_add_test(tc, v2_tlvs);
    tcase_add_test(tc, v2_local);
    tcase_add_test(tc, v2_unspec_and_unix);
    tcase_add_test(tc, v2_malformed);
    suite_add_tcase(s, tc);
    tc = tcase_create("transport");
    tcase_add_unchecked_fixture(tc, setup_inet6, NULL);
    tcase_add_test(tc, transport_v1_byte_by_byte);
    tcase_add_test(tc, transport_v2_byte_by_byte);
    tcase_add_test(tc, transport_whole);
    tcase_add_test(tc, transport_refuses);
    tcase_add_test(tc, transport_tls_inner);
    suite_add_tcase(s, tc);
    return s;
}
