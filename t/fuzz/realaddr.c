/* The fuzzer's real-address mode (realaddr.h). */
#include "t/fuzz/realaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cidr.h"
#include "t/fuzz/fuzz.h"
#include "worker/proxy.h"
#include "worker/realip.h"

#define PREFIXES_MAX 300 /* prefixes checked: every decision falls within the first 232 bytes */
#define SEND_MAX 65536   /* input fed to the transport: what a socketpair takes at once */
#define LINES_MAX 64
#define JOINED_MAX 8192

static const size_t pieces[8] = {1, 2, 3, 5, 8, 13, 64, 4096};

static bool
same_result(const struct proxy_result *a, const struct proxy_result *b)
{
    return a->len == b->len && a->version == b->version &&
           memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
           memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

static void
addr_text(const struct sockaddr_storage *sa, char *buf, size_t len, unsigned *port)
{
    const void *a = sa->ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    *port = ntohs(sa->ss_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                           : ((const struct sockaddr_in6 *)sa)->sin6_port);
    if (inet_ntop(sa->ss_family, a, buf, (socklen_t)len) == NULL)
        fuzz_fail("proxy: inet_ntop of a parsed address failed");
}

/* A v1 header with addresses prints back to one that parses the same (for TCP4, to the very
 * bytes: dotted quads have one spelling, and the parser takes no other). */
static void
check_v1_print(const uint8_t *in, const struct proxy_result *r)
{
    char s[64], d[64], line[160];
    unsigned sp, dp;
    if (r->src.ss_family == AF_UNSPEC)
        return;
    if (r->src.ss_family != r->dst.ss_family ||
        (r->src.ss_family != AF_INET && r->src.ss_family != AF_INET6))
        fuzz_fail("proxy: v1 header with address families %d and %d", r->src.ss_family,
                  r->dst.ss_family);
    addr_text(&r->src, s, sizeof(s), &sp);
    addr_text(&r->dst, d, sizeof(d), &dp);
    int n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n",
                     r->src.ss_family == AF_INET ? '4' : '6', s, d, sp, dp);
    struct proxy_result again;
    if (proxy_parse((const uint8_t *)line, (size_t)n, &again) != PROXY_DONE ||
        again.len != (size_t)n || memcmp(&again.src, &r->src, sizeof(again.src)) != 0 ||
        memcmp(&again.dst, &r->dst, sizeof(again.dst)) != 0)
        fuzz_fail("proxy: v1 header printed back as '%.*s' parses otherwise", n - 2, line);
    if (r->src.ss_family == AF_INET && ((size_t)n != r->len || memcmp(line, in, r->len) != 0))
        fuzz_fail("proxy: TCP4 header '%.*s' printed back as '%.*s'", (int)r->len - 2, in, n - 2,
                  line);
}

static void
check_done(const uint8_t *in, size_t len, const struct proxy_result *r)
{
    if (r->version == 1) {
        if (r->len < 15 || r->len > PROXY_V1_MAX || r->len > len || in[r->len - 2] != '\r' ||
            in[r->len - 1] != '\n' || memchr(in, '\n', r->len - 1) != NULL)
            fuzz_fail("proxy: v1 header of %zu bytes is not one line ended by CRLF", r->len);
        check_v1_print(in, r);
        return;
    }
    if (r->version != 2 || len < PROXY_V2_FIXED ||
        r->len != PROXY_V2_FIXED + ((size_t)in[14] << 8 | in[15]))
        fuzz_fail("proxy: v2 header of %zu bytes disagrees with its length field", r->len);
    int family = in[13] >> 4;
    bool local = (in[12] & 0xf) == 0;
    int want =
        local ? AF_UNSPEC : (int[]){AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX}[family < 4 ? family : 0];
    if (r->src.ss_family != want)
        fuzz_fail("proxy: v2 %s, family %d: client of family %d", local ? "LOCAL" : "PROXY", family,
                  r->src.ss_family);
    if (want == AF_INET && memcmp(&((const struct sockaddr_in *)&r->src)->sin_addr, in + 16, 4))
        fuzz_fail("proxy: v2 INET client is not the header's first address");
    if (want == AF_INET6 &&
        memcmp(&((const struct sockaddr_in6 *)&r->src)->sin6_addr, in + 16, 16) != 0)
        fuzz_fail("proxy: v2 INET6 client is not the header's first address");
}

/* Every prefix: once decided, the same decision; MORE asks for at least a byte. */
static void
check_parse(const uint8_t *in, size_t len)
{
    struct proxy_result first, r;
    enum proxy_status decided = PROXY_MORE;
    size_t n = len < PREFIXES_MAX ? len : PREFIXES_MAX;
    for (size_t k = 0; k <= n; k++) {
        enum proxy_status st = proxy_parse(in, k, &r);
        if (st == PROXY_MORE && (r.need == 0 || (k >= PROXY_V1_MAX && in[0] == 'P')))
            fuzz_fail("proxy: %zu bytes: MORE, need %zu", k, r.need);
        if (st == PROXY_BAD && (r.why == NULL || r.why[0] == '\0'))
            fuzz_fail("proxy: %zu bytes refused without a reason", k);
        if (decided != PROXY_MORE && st != decided)
            fuzz_fail("proxy: %zu bytes: status %d after %d for a prefix", k, st, decided);
        if (decided == PROXY_DONE && !same_result(&r, &first))
            fuzz_fail("proxy: %zu bytes: another header than its prefix's", k);
        if (decided == PROXY_MORE && st != PROXY_MORE) {
            decided = st;
            first = r;
            if (st == PROXY_DONE)
                check_done(in, k, &r);
        }
    }
}

/* What is left in the socket must be exactly in[from, to). */
static void
check_left(int fd, const uint8_t *in, size_t from, size_t to)
{
    static uint8_t got[SEND_MAX + 1];
    ssize_t n = recv(fd, got, sizeof(got), MSG_DONTWAIT);
    size_t have = n > 0 ? (size_t)n : 0;
    if (have != to - from || memcmp(got, in + from, have) != 0)
        fuzz_fail("proxy: the transport left %zu bytes after the header, want %zu", have,
                  to - from);
}

/* The header is done: unwrap gives the plain transport and the parser's client. */
static void
check_unwrap(int fd, void *ctx, const struct proxy_result *r)
{
    void *inner_ctx = NULL;
    struct sockaddr_storage peer;
    const struct transport *inner = transport_proxy_plain.unwrap(fd, ctx, &inner_ctx, &peer);
    if (inner != &transport_plain || inner_ctx != NULL)
        fuzz_fail("proxy: unwrap did not give the plain transport");
    if (memcmp(&peer, &r->src, sizeof(peer)) != 0)
        fuzz_fail("proxy: unwrap's client is not the parser's");
}

/* One wake-up after `sent` bytes: the transport must do what the parser says of them.
 * Returns true when the handshake is over (done or failed). */
static bool
step(int sv[2], void *ctx, const uint8_t *in, size_t sent)
{
    enum transport_want want = TRANSPORT_WANT_READ;
    struct proxy_result r;
    errno = 0;
    int rc = transport_proxy_plain.handshake(sv[0], ctx, &want);
    int err = errno;
    enum proxy_status st = proxy_parse(in, sent, &r);
    if (st == PROXY_BAD) {
        if (rc == 0 || err != EPROTO)
            fuzz_fail("proxy: refused header: handshake rc %d errno %d", rc, err);
        transport_proxy_plain.release(ctx);
        return true;
    }
    if (st == PROXY_MORE || r.len > sent) {
        if (rc == 0 || err != EAGAIN)
            fuzz_fail("proxy: %zu bytes of a header: handshake rc %d errno %d", sent, rc, err);
        return false;
    }
    if (rc != 0)
        fuzz_fail("proxy: a whole header: handshake rc %d errno %d", rc, err);
    check_left(sv[0], in, r.len, sent);
    check_unwrap(sv[0], ctx, &r);
    return true;
}

static void
check_transport(uint8_t ctl, const uint8_t *in, size_t len)
{
    int sv[2];
    void *ctx = NULL;
    size_t piece = pieces[(ctl >> 1) & 7], sent = 0;
    if (len > SEND_MAX)
        len = SEND_MAX;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        fuzz_fail("proxy: socketpair: %s", strerror(errno));
    int size = 4 * SEND_MAX;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (transport_proxy_plain.open(sv[0], &ctx) < 0)
        fuzz_fail("proxy: open failed");
    bool over = false;
    while (sent < len && !over) {
        size_t k = len - sent < piece ? len - sent : piece;
        ssize_t n = send(sv[1], in + sent, k, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the socket is full: the rest is not fed */
        sent += (size_t)n;
        over = step(sv, ctx, in, sent);
    }
    if (!over) { /* the client leaves before the header is complete */
        shutdown(sv[1], SHUT_WR);
        enum transport_want want = TRANSPORT_WANT_READ;
        if (transport_proxy_plain.handshake(sv[0], ctx, &want) == 0 || errno != ECONNRESET)
            fuzz_fail("proxy: a header cut by the end of the stream was not refused");
        transport_proxy_plain.release(ctx);
    }
    close(sv[0]);
    close(sv[1]);
}

/* ---- real_ip_header ---- */

static struct cidr trusted[3];

/* The reference: the field's lines joined into one list, walked from its right end. */
static bool
reference(const char *joined, size_t len, struct sockaddr_storage *out)
{
    bool have = false;
    size_t end = len;
    for (;;) {
        size_t start = end;
        while (start > 0 && joined[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (joined[a] == ' ' || joined[a] == '\t'))
            a++;
        while (b > a && (joined[b - 1] == ' ' || joined[b - 1] == '\t'))
            b--;
        if (b > a) {
            struct sockaddr_storage sa;
            if (cidr_addr_parse(joined + a, b - a, &sa) < 0)
                return have;
            *out = sa;
            have = true;
            if (!cidr_match(trusted, 3, (const struct sockaddr *)&sa))
                return true;
        }
        if (start == 0)
            return have;
        end = start - 1;
    }
}

static void
check_realip(const uint8_t *in, size_t len)
{
    static char joined[JOINED_MAX];
    struct http_header h[LINES_MAX];
    int nh = 0;
    size_t jlen = 0;
    const char *why;
    if (trusted[0].family == 0 && (cidr_parse("10.0.0.0/8", &trusted[0], &why) < 0 ||
                                   cidr_parse("127.0.0.1", &trusted[1], &why) < 0 ||
                                   cidr_parse("2001:db8::/32", &trusted[2], &why) < 0))
        fuzz_fail("realip: the trusted blocks do not parse");
    const char *p = (const char *)in, *end = p + len;
    while (p <= end && nh < LINES_MAX) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        bool other = stop > p && *p == '!';
        const char *v = p + other;
        h[nh].name =
            other ? (struct http_span){"X-Other", 7} : (struct http_span){"x-forwarded-FOR", 15};
        h[nh].value = (struct http_span){v, (size_t)(stop - v)};
        if (!other) {
            if (jlen + (size_t)(stop - v) + 1 > sizeof(joined))
                break;
            if (jlen > 0)
                joined[jlen++] = ',';
            memcpy(joined + jlen, v, (size_t)(stop - v));
            jlen += (size_t)(stop - v);
        }
        nh++;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    struct sockaddr_storage got, want;
    memset(&got, 0, sizeof(got));
    memset(&want, 0, sizeof(want));
    bool g = realip_pick(trusted, 3, h, nh, "X-Forwarded-For", &got);
    bool w = reference(joined, jlen, &want);
    if (g != w || (g && memcmp(&got, &want, sizeof(got)) != 0))
        fuzz_fail("realip: realip_pick says %s, the joined list %s", g ? "an address" : "none",
                  w ? "an address (another)" : "none");
}

void
realaddr_run(uint8_t ctl, const uint8_t *in, size_t len)
{
    if (ctl & 1) {
        check_realip(in, len);
        return;
    }
    check_parse(in, len);
    check_transport(ctl, in, len);
}
