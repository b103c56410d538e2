/* libFuzzer target over the request path: bytes in, responses out, no sockets. A memory
 * transport (worker/transport.h) hands one connection the input in fuzzed pieces and collects
 * what it sends; afterwards the output must be a well-framed sequence of HTTP/1.1 responses, and
 * nothing from outside the document root may appear in it.
 *
 * Input: the first byte steers the run, the rest is what the client sends.
 *   bits 0-2  recv piece sizes: 0 all at once, 1 one byte at a time, 2-7 pseudo-random pieces
 *             of up to 2, 3, 8, 32, 256, 2048 bytes
 *   bit 3     stall: when the input is used up the client goes silent (recv: EAGAIN) instead of
 *             half-closing, and the clock jumps past every timeout
 *   bit 4     autoindex and gzip_static on (else the defaults, off)
 *   bit 5     follow_symlinks = inside, dot files hidden (the defaults); clear: symlinks off,
 *             dot files served
 *   bit 6     short writes: send and sendfile take pseudo-random partial counts, or EAGAIN
 *   bit 7     clock: loop.now_ms moves on after every turn, so timeouts and send_min_rate fire
 * The whole byte also seeds the generator behind piece sizes, write sizes and clock steps. The
 * seeds in t/fuzz/corpus start with a digit ('0'-'7': bits 4 and 5 set, the piece mode is the
 * digit; '8', '9': the same with stall).
 *
 * Which request each response answers is taken from the server itself: the link wraps
 * resp_dispatch and resp_error (-Wl,--wrap, see the Makefile), so every response conn.c builds
 * is recorded with its status, length and whether it answers HEAD. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/log.h"
#include "t/fuzz/docroot.h"
#include "worker/conn.h"
#include "worker/http.h"
#include "worker/loop.h"
#include "worker/ofc.h"
#include "worker/resp.h"
#include "worker/route.h"
#include "worker/static.h"
#include "worker/transport.h"

#define MARKER DOCROOT_MARKER
#define OUT_MAX (1 << 20) /* the client reads at most this much */
#define MAX_TURNS 200000  /* callback calls per input before calling it a hang */
#define MAX_BUILT 64      /* > max_keepalive_requests below */
#define CONN_FD (-1)      /* conn.c skips close() for it; setsockopt fails harmlessly */
#define T0_MS 1000000000LL
#define FIXED_NOW 1764000000 /* Date header */

#define F_STALL 0x08
#define F_FEATURES 0x10
#define F_DEFAULT_LINKS 0x20
#define F_SHORT_WRITES 0x40
#define F_CLOCK 0x80

/* The client side of the one connection of an input. */
struct client {
    const uint8_t *in;
    size_t in_len, in_pos;
    size_t piece_left;
    unsigned piece_mode;
    bool stall, short_writes, clock;
    uint32_t rng;
    bool last_eagain;
    bool shut, released, overflow;
    bool in_expiry;       /* inside conn_expire_timeouts() */
    bool closed_by_timer; /* released from there: a timeout or send_min_rate */
};

/* A response as conn.c had it built (recorded by the wraps below). */
struct built {
    int status;
    bool head;
    bool close;
    size_t len; /* buffer bytes plus file bytes */
};

static struct cfg cfg;
static struct shm_worker stats; /* loop.stats: the worker's figures, normally in shared memory */
/* The regular files under the root: a 200 body must be one of them, a 206 body slices of one. */
static const struct docfile *files;
static int nfiles;
static char out[OUT_MAX];
static size_t out_len;
static struct built built[MAX_BUILT];
static int nbuilt, build_depth;
static bool input_has_marker;
static bool dump; /* FUZZ_HTTP_DUMP set: write each output to stderr */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_http: invariant violated: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n--- output (%zu bytes, first 2048 shown) ---\n%.*s\n---\n", out_len,
            (int)(out_len < 2048 ? out_len : 2048), out);
    abort();
}

static uint32_t
rnd(struct client *cl)
{
    /* xorshift32: cheap, and the same run for the same control byte. */
    uint32_t x = cl->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return cl->rng = x;
}

/* ---- the memory transport ---- */

static size_t
next_piece(struct client *cl)
{
    static const uint32_t max[] = {0, 1, 2, 3, 8, 32, 256, 2048};
    if (cl->piece_mode == 0)
        return SIZE_MAX;
    return 1 + rnd(cl) % max[cl->piece_mode];
}

static void
check_call(const struct client *cl, int fd)
{
    if (fd != CONN_FD)
        fail("transport called with fd %d, not the connection's %d", fd, CONN_FD);
    if (cl->released)
        fail("transport used after release()");
}

static ssize_t
mem_recv(int fd, void *ctx, void *buf, size_t n)
{
    struct client *cl = ctx;
    check_call(cl, fd);
    if (cl->in_pos == cl->in_len) {
        if (!cl->stall)
            return 0;
        errno = EAGAIN;
        return -1;
    }
    if (cl->piece_left == 0)
        cl->piece_left = next_piece(cl);
    size_t k = cl->in_len - cl->in_pos;
    if (k > cl->piece_left)
        k = cl->piece_left;
    if (k > n)
        k = n;
    memcpy(buf, cl->in + cl->in_pos, k);
    cl->in_pos += k;
    cl->piece_left -= k;
    return (ssize_t)k;
}

/* How many of `n` bytes the "socket" takes now; -1 with errno when none. */
static ssize_t
admit(struct client *cl, int fd, size_t n)
{
    check_call(cl, fd);
    if (cl->shut)
        fail("send after shutdown()");
    if (out_len == OUT_MAX) {
        cl->overflow = true; /* the client stops reading and resets */
        errno = ECONNRESET;
        return -1;
    }
    if (cl->short_writes) {
        uint32_t r = rnd(cl);
        if (!cl->last_eagain && r % 4 == 0) {
            cl->last_eagain = true;
            errno = EAGAIN;
            return -1;
        }
        cl->last_eagain = false;
        size_t cap = (r >> 2) % 2 ? 1 + (r >> 3) % 16 : 1 + (r >> 3) % 4096;
        if (n > cap)
            n = cap;
    }
    return (ssize_t)(n < OUT_MAX - out_len ? n : OUT_MAX - out_len);
}

static ssize_t
mem_send(int fd, void *ctx, const void *buf, size_t n, bool more)
{
    (void)more;
    ssize_t k = admit(ctx, fd, n);
    if (k > 0) {
        memcpy(out + out_len, buf, (size_t)k);
        out_len += (size_t)k;
    }
    return k;
}

static ssize_t
mem_sendv(int fd, void *ctx, const struct iovec *iov, int cnt, bool more)
{
    size_t total = 0;
    (void)more;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    ssize_t k = admit(ctx, fd, total);
    size_t left = k > 0 ? (size_t)k : 0;
    for (int i = 0; i < cnt && left > 0; i++) {
        size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
        memcpy(out + out_len, iov[i].iov_base, n);
        out_len += n;
        left -= n;
    }
    return k;
}

static ssize_t
mem_sendfile(int fd, void *ctx, int file_fd, off_t *off, size_t n)
{
    ssize_t k = admit(ctx, fd, n);
    if (k <= 0)
        return k;
    ssize_t got = pread(file_fd, out + out_len, (size_t)k, *off);
    if (got > 0) {
        out_len += (size_t)got;
        *off += got;
    }
    return got;
}

static void
mem_shutdown(int fd, void *ctx)
{
    struct client *cl = ctx;
    check_call(cl, fd);
    cl->shut = true;
}

static void
mem_release(void *ctx)
{
    struct client *cl = ctx;
    if (cl->released)
        fail("release() called twice");
    cl->released = true;
    cl->closed_by_timer = cl->in_expiry;
}

static const struct transport mem_transport = {
    .name = "fuzz-memory",
    .recv = mem_recv,
    .send = mem_send,
    .sendv = mem_sendv,
    .sendfile = mem_sendfile,
    .shutdown = mem_shutdown,
    .release = mem_release,
};

/* ---- what conn.c builds, recorded through the link-time wraps ---- */

void __real_resp_dispatch(struct resp *o, const struct http_req *req, struct resp_file *file);
void __real_resp_error(struct resp *o, const struct http_req *req, int status, const char *extra);
void __wrap_resp_dispatch(struct resp *o, const struct http_req *req, struct resp_file *file);
void __wrap_resp_error(struct resp *o, const struct http_req *req, int status, const char *extra);

static void
record(const struct resp *o, const struct http_req *req)
{
    if (build_depth > 0)
        return; /* a handler's own resp_error inside resp_dispatch */
    if (nbuilt == MAX_BUILT)
        fail("more than %d responses on one connection (max_keepalive_requests is %d)", MAX_BUILT,
             cfg.max_keepalive_requests);
    if (o->overflow)
        fail("a response whose buffer overflowed is about to be sent");
    struct built *b = &built[nbuilt++];
    b->status = o->len >= 12 ? atoi(o->buf + 9) : -1;
    b->head = req->verb == VERB_HEAD;
    b->close = o->close;
    b->len = o->len;
    for (int i = 0; i < o->nparts; i++)
        b->len += (size_t)o->parts[i].file_len;
}

void
__wrap_resp_dispatch(struct resp *o, const struct http_req *req, struct resp_file *file)
{
    build_depth++;
    __real_resp_dispatch(o, req, file);
    build_depth--;
    record(o, req);
}

void
__wrap_resp_error(struct resp *o, const struct http_req *req, int status, const char *extra)
{
    build_depth++;
    __real_resp_error(o, req, status, extra);
    build_depth--;
    record(o, req);
}

/* ---- checking the output ---- */

struct head {
    int status;
    size_t len;               /* status line through the blank line */
    long long content_length; /* -1 when absent */
    int connection;           /* 0 absent, 1 close, 2 keep-alive */
    const char *ctype, *crange;
    size_t ctype_len, crange_len;
};

static bool
span_is(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static long long
parse_count(const char *p, size_t n)
{
    long long v = 0;
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static void
header_field(const char *line, size_t n, struct head *h)
{
    const char *colon = memchr(line, ':', n);
    if (colon == NULL || !http_is_token(line, (size_t)(colon - line)) ||
        (size_t)(colon - line) + 2 > n || colon[1] != ' ')
        fail("malformed header line '%.*s'", (int)n, line);
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 2;
    size_t vl = n - nl - 2;
    for (size_t i = 0; i < vl; i++)
        if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
            fail("control byte in header line '%.*s'", (int)n, line);
    if (span_is(line, nl, "Content-Length")) {
        if (h->content_length >= 0 || (h->content_length = parse_count(v, vl)) < 0)
            fail("duplicate or bad Content-Length '%.*s'", (int)vl, v);
    } else if (span_is(line, nl, "Connection")) {
        if (h->connection)
            fail("two Connection fields");
        h->connection = span_is(v, vl, "close") ? 1 : span_is(v, vl, "keep-alive") ? 2 : -1;
        if (h->connection < 0)
            fail("Connection: '%.*s'", (int)vl, v);
    } else if (span_is(line, nl, "Transfer-Encoding")) {
        fail("Transfer-Encoding in a response (sluice frames with Content-Length)");
    } else if (span_is(line, nl, "Content-Type")) {
        h->ctype = v;
        h->ctype_len = vl;
    } else if (span_is(line, nl, "Content-Range")) {
        h->crange = v;
        h->crange_len = vl;
    }
}

/* Parse the head of the response at `p`. Returns false when it is not complete in the output;
 * malformed framing fails the run. */
static bool
parse_head(const char *p, size_t avail, struct head *h)
{
    static const char proto[] = "HTTP/1.1 ";
    if (memcmp(p, proto, avail < 9 ? avail : 9) != 0)
        fail("a response does not start with 'HTTP/1.1 ' at output offset %zu", (size_t)(p - out));
    const char *end = memmem(p, avail, "\r\n\r\n", 4);
    if (end == NULL)
        return false;
    *h = (struct head){.len = (size_t)(end + 4 - p), .content_length = -1};
    const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
    if (eol - p < 13 || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
        p[11] > '9' || p[12] != ' ')
        fail("bad status line '%.*s'", (int)(eol - p), p);
    h->status = atoi(p + 9);
    for (const char *c = p; c < eol; c++)
        if (*c < 0x20 || *c > 0x7e)
            fail("control byte in the status line");
    for (const char *line = eol + 2; line < end + 2; line = eol + 2) {
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        if (memchr(line, '\n', (size_t)(eol - line)) || memchr(line, '\r', (size_t)(eol - line)))
            fail("bare CR or LF in a response header");
        header_field(line, (size_t)(eol - line), h);
    }
    return true;
}

/* Is p[0..n) bytes first..last of a root file of `size` bytes? */
static bool
is_slice(const char *p, size_t n, long long first, long long last, long long size)
{
    if (first < 0 || last < first || last >= size || (size_t)(last - first + 1) != n)
        return false;
    for (int i = 0; i < nfiles; i++)
        if ((long long)files[i].len == size && memcmp(files[i].data + first, p, n) == 0)
            return true;
    return false;
}

/* "bytes FIRST-LAST/SIZE" */
static bool
parse_range(const char *v, size_t n, long long *first, long long *last, long long *size)
{
    const char *dash, *slash;
    if (n < 6 || memcmp(v, "bytes ", 6) != 0 || (dash = memchr(v, '-', n)) == NULL ||
        (slash = memchr(v, '/', n)) == NULL || slash < dash)
        return false;
    *first = parse_count(v + 6, (size_t)(dash - v - 6));
    *last = parse_count(dash + 1, (size_t)(slash - dash - 1));
    *size = parse_count(slash + 1, (size_t)(v + n - slash - 1));
    return *first >= 0 && *last >= 0 && *size >= 0;
}

/* multipart/byteranges: every part a slice of the file, then the closing delimiter. */
static void
check_multipart(const char *body, size_t n, const struct head *h)
{
    static const char key[] = "multipart/byteranges; boundary=";
    char delim[128];
    size_t kl = sizeof(key) - 1;
    if (h->ctype == NULL || h->ctype_len <= kl || memcmp(h->ctype, key, kl) != 0 ||
        h->ctype_len - kl > 100)
        fail("206 without Content-Range or a multipart/byteranges type");
    int dl = snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)(h->ctype_len - kl), h->ctype + kl);
    const char *p = body, *end = body + n;
    for (int part = 0;; part++) {
        if (end - p < dl || memcmp(p, delim, (size_t)dl) != 0)
            fail("multipart part %d does not start with its delimiter", part);
        p += dl;
        if (end - p == 4 && memcmp(p, "--\r\n", 4) == 0 && part > 0)
            return;
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        const char *cr = hend ? memmem(p, (size_t)(hend - p), "\r\nContent-Range: ", 17) : NULL;
        long long first, last, size;
        if (cr == NULL)
            fail("multipart part %d without Content-Range", part);
        const char *crv = cr + 17, *crend = memmem(crv, (size_t)(hend + 2 - crv), "\r\n", 2);
        if (!parse_range(crv, (size_t)(crend - crv), &first, &last, &size))
            fail("multipart part %d: bad Content-Range", part);
        p = hend + 4;
        size_t len = (size_t)(last - first + 1);
        if ((size_t)(end - p) < len || !is_slice(p, len, first, last, size))
            fail("multipart part %d is not bytes %lld-%lld of a root file", part, first, last);
        p += len;
    }
}

static void
check_body(const char *body, size_t n, const struct head *h)
{
    if (!input_has_marker && memmem(body, n, MARKER, sizeof(MARKER) - 1))
        fail("a body holds bytes from outside the document root");
    if (h->status == 206) {
        long long first, last, size;
        if (h->crange == NULL)
            check_multipart(body, n, h);
        else if (!parse_range(h->crange, h->crange_len, &first, &last, &size) ||
                 !is_slice(body, n, first, last, size))
            fail("206 body is not the bytes its Content-Range names");
        return;
    }
    if (h->status != 200 || n == 0)
        return;
    for (int i = 0; i < nfiles; i++)
        if (files[i].len == n && memcmp(files[i].data, body, n) == 0)
            return;
    /* Not a file: only a directory listing may be sent as a 200 body. */
    if (!cfg.autoindex || n < 15 || memcmp(body, "<!DOCTYPE html>", 15) != 0)
        fail("200 body of %zu bytes is neither a root file nor a listing", n);
}

/* The output stops inside a response, or a built response never got out. */
static void
check_tail(const struct client *cl, size_t pos, int nresp)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t left = out_len - pos;
    if (nbuilt > nresp + 1)
        fail("%d responses built, only %d sent", nbuilt, nresp);
    if (cl->overflow || cl->closed_by_timer)
        return; /* the client stopped reading, or a timeout cut the response (a 408 is sent
                 * best effort) */
    if (cl->short_writes && nbuilt == nresp && left < sizeof(cont) - 1 &&
        memcmp(out + pos, cont, left) == 0)
        return; /* conn.c gives up a connection that cannot take 100 Continue in one write */
    fail("output ends inside response %d (%zu bytes left, %d built)", nresp, left, nbuilt);
}

/* One final response against what was built for it; returns its length in the output, 0 when it
 * is cut short. */
static size_t
check_response(size_t pos, const struct head *h, int nresp)
{
    if (nresp == nbuilt)
        fail("response %d in the output was never built (is resp_dispatch still wrapped?)", nresp);
    const struct built *b = &built[nresp];
    if (h->status != b->status)
        fail("response %d: status %d sent, %d built", nresp, h->status, b->status);
    if ((h->connection == 1) != b->close || h->connection == 0)
        fail("response %d: Connection field does not match the built close flag", nresp);
    if (h->content_length < 0 && h->status != 304)
        fail("response %d (%d) without Content-Length", nresp, h->status);
    size_t body = b->head || h->status == 304 ? 0 : (size_t)h->content_length;
    if (out_len - pos - h->len < body)
        return 0;
    if (h->len + body != b->len)
        fail("response %d: %zu bytes framed, %zu built", nresp, h->len + body, b->len);
    check_body(out + pos + h->len, body, h);
    return h->len + body;
}

static void
check_output(const struct client *cl)
{
    size_t pos = 0;
    int nresp = 0;
    bool closing = false;

    if (!input_has_marker && memmem(out, out_len, MARKER, sizeof(MARKER) - 1))
        fail("bytes from outside the document root in the output");
    while (pos < out_len) {
        struct head h;
        if (closing)
            fail("bytes after a response with Connection: close");
        if (!parse_head(out + pos, out_len - pos, &h)) {
            check_tail(cl, pos, nresp);
            return;
        }
        if (h.status < 200) {
            if (!span_is(out + pos, h.len, "HTTP/1.1 100 Continue\r\n\r\n"))
                fail("unexpected interim response");
            pos += h.len;
            continue;
        }
        size_t n = check_response(pos, &h, nresp);
        if (n == 0) {
            check_tail(cl, pos, nresp);
            return;
        }
        closing = built[nresp].close;
        pos += n;
        nresp++;
    }
    if (nresp < nbuilt)
        check_tail(cl, pos, nresp);
    /* Timer closes skip the half-close (conn.c's expire()); only the normal path is held to it. */
    if (closing && !cl->shut && !cl->closed_by_timer)
        fail("Connection: close without a half-close before the close");
    if (nbuilt == cfg.max_keepalive_requests && !built[nbuilt - 1].close)
        fail("response %d of max_keepalive_requests does not close", nbuilt);
}

/* Push every entry out of the open file cache with as many harmless misses (no descriptor, no
 * bytes), so that each input starts cold (a crash replays alone) and descriptors and cached
 * bytes can be counted exactly: an entry whose last reference was dropped is closed now. The
 * keys start with \x01, which a request path could only name to get the 404 it would get anyway. */
static void
flush_file_cache(void)
{
    for (int i = 0; i < cfg.open_file_cache; i++) {
        char key[32];
        snprintf(key, sizeof(key), "\x01flush-%d", i);
        ofc_release(ofc_put(key, 404, -1, NULL, key, loop.now_ms));
    }
}

static int
lowest_free_fd(void)
{
    int fd = fcntl(loop.root_fd, F_DUPFD_CLOEXEC, 0);
    close(fd);
    return fd;
}

static void
check_state(int lowest_fd)
{
    struct ofc_stats st;
    const struct tq *queues[] = {&loop.tq_header, &loop.tq_body, &loop.tq_keepalive, &loop.tq_send,
                                 &loop.tq_rate};
    for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++)
        if (queues[i]->head.next != &queues[i]->head)
            fail("timeout queue %zu not empty after the connection closed", i);
    if (conn_count() != 0)
        fail("conn_count() is %d after the connection closed", conn_count());
    flush_file_cache();
    ofc_stats(&st);
    if (st.memory != 0)
        fail("open file cache still counts %lld bytes with no file in it", (long long)st.memory);
    int fd = lowest_free_fd();
    if (fd != lowest_fd)
        fail("a descriptor leaked, or a file reference was never released (lowest free fd "
             "%d, was %d)",
             fd, lowest_fd);
}

/* ---- driving one connection ---- */

static void
expire(struct client *cl, int64_t step_ms)
{
    loop.now_ms += step_ms;
    cl->in_expiry = true;
    conn_expire_timeouts();
    cl->in_expiry = false;
}

static void
drive(struct client *cl)
{
    struct ev_io *io = conn_start(CONN_FD, &mem_transport, cl, NULL);
    if (io == NULL)
        fail("conn_start refused a connection with the pool empty");
    for (int turn = 0; !cl->released; turn++) {
        if (turn == MAX_TURNS)
            fail("connection still open after %d turns", MAX_TURNS);
        uint32_t ev = io->events & (EPOLLIN | EPOLLOUT);
        if (ev == 0)
            fail("an open connection waits for no event, so nothing would wake it");
        if (ev == EPOLLIN && cl->stall && cl->in_pos == cl->in_len) {
            /* The client is silent: past every timeout, the connection must be gone. */
            expire(cl, 2 * 3600 * 1000);
            if (!cl->released)
                fail("a silent connection outlived every timeout");
            break;
        }
        io->cb(io, ev);
        if (cl->clock && !cl->released) {
            uint32_t r = rnd(cl);
            expire(cl, (r & 7) == 0 ? (r >> 3) % 120001 : (r >> 3) % 2001);
        }
    }
    conn_reap();
}

/* setup() in worker/worker.c, without epoll, signals or privileges. Limits are the defaults,
 * except those an input of a few KB could otherwise never reach. */
static void
setup(void)
{
    char err[CFG_ERR_MAX];

    cfg_defaults(&cfg);
    snprintf(cfg.root, sizeof(cfg.root), "%s", docroot_make());
    files = docroot_files(&nfiles);
    cfg.max_body_size = 4096;
    cfg.max_keepalive_requests = 8;
    cfg.sendfile_max_chunk = 4096; /* the 100 KB file takes many turns */
    cfg.open_file_cache = 16;      /* a few pipelined requests already evict */

    if (getenv("FUZZ_HTTP_LOG") == NULL && log_open("/dev/null", err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    log_set_level(getenv("FUZZ_HTTP_LOG") ? LOG_LVL_DEBUG : LOG_LVL_CRIT);
    dump = getenv("FUZZ_HTTP_DUMP") != NULL;
    log_set_role("worker 0");

    loop.cfg = &cfg;
    loop.epfd = -1; /* ev_set only records what a connection waits for */
    loop.stats = &stats;
    loop.now_ms = T0_MS;
    resp_update_date(FIXED_NOW);
    tq_init(&loop.tq_header, cfg.header_timeout_ms);
    tq_init(&loop.tq_body, cfg.body_timeout_ms);
    tq_init(&loop.tq_keepalive, cfg.keepalive_timeout_ms);
    tq_init(&loop.tq_send, cfg.send_timeout_ms);
    tq_init(&loop.tq_rate, cfg.send_min_rate_period_ms);
    loop.limits = (struct http_limits){
        .max_request_line = (size_t)cfg.max_request_line,
        .max_header_size = (size_t)cfg.max_header_size,
        .max_headers = cfg.max_headers,
        .max_body_size = cfg.max_body_size,
    };
    loop.root_fd = open(cfg.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (loop.root_fd < 0) {
        perror(cfg.root);
        exit(1);
    }
    static_init(loop.root_fd);
    if (route_add("/", &static_handler) < 0 ||
        ofc_init(cfg.open_file_cache, cfg.open_file_cache_valid_ms, cfg.small_file_max,
                 cfg.small_file_cache) < 0 ||
        conn_pool_init(4) < 0) {
        fprintf(stderr, "fuzz_http: worker set-up failed\n");
        exit(1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setup();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t ctl = data[0];
    struct client cl = {
        .in = data + 1,
        .in_len = size - 1,
        .piece_mode = ctl & 7,
        .stall = ctl & F_STALL,
        .short_writes = ctl & F_SHORT_WRITES,
        .clock = ctl & F_CLOCK,
        .rng = 0x9e3779b9u ^ ((uint32_t)ctl * 0x01000193u),
    };
    cfg.autoindex = cfg.gzip_static = ctl & F_FEATURES;
    cfg.follow_symlinks = ctl & F_DEFAULT_LINKS;
    cfg.serve_dotfiles = !(ctl & F_DEFAULT_LINKS);
    input_has_marker = memmem(data, size, MARKER, sizeof(MARKER) - 1) != NULL;
    out_len = 0;
    nbuilt = 0;
    loop.now_ms = T0_MS;

    flush_file_cache();
    int lowest_fd = lowest_free_fd();
    drive(&cl);
    if (dump)
        fprintf(stderr, "--- output, %zu bytes ---\n%.*s\n---\n", out_len, (int)out_len, out);
    check_output(&cl);
    check_state(lowest_fd);
    return 0;
}
