/* The fuzzer's memory transport (the client side of each connection): it hands each connection
 * its share of the input in fuzzed pieces and collects what the server sends; and its contrary
 * mode, which behaves as badly as TLS or a PROXY prefix may. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t/fuzz/fuzz.h"

/* ---- the memory transport ---- */

static size_t
next_piece(struct client *cl)
{
    static const uint32_t max[] = {0, 1, 2, 3, 8, 32, 256, 2048};
    if (cl->piece_mode == 0)
        return SIZE_MAX;
    return 1 + fuzz_rnd(&cl->rng) % max[cl->piece_mode];
}

static void
check_call(const struct client *cl, int fd, const char *what)
{
    if (fd != FUZZ_CONN_FD)
        fuzz_fail("%s on connection %d with fd %d, not %d", what, cl->id, fd, FUZZ_CONN_FD);
    if (cl->released)
        fuzz_fail("%s on connection %d after release()", what, cl->id);
    if (fuzz_current != NULL && fuzz_current != cl && !fuzz_in_expiry)
        fuzz_fail("%s on connection %d from the callback of connection %d", what, cl->id,
                  fuzz_current->id);
}

static ssize_t
mem_recv(int fd, void *ctx, void *buf, size_t n, enum transport_want *want)
{
    struct client *cl = ctx;
    (void)want; /* a memory socket waits for what each call does */
    check_call(cl, fd, "recv");
    if (cl->in_pos == cl->in_len) {
        if (!cl->stall) {
            cl->taken++; /* the end of stream, handed over */
            return 0;
        }
        errno = EAGAIN;
        return -1;
    }
    if (cl->spurious_eagain && !cl->last_recv_eagain && fuzz_rnd(&cl->rng) % 4 == 0) {
        cl->last_recv_eagain = true;
        cl->excused++;
        errno = EAGAIN;
        return -1;
    }
    cl->last_recv_eagain = false;
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
    cl->taken += k;
    return (ssize_t)k;
}

/* How many of `n` bytes the "socket" takes now; -1 with errno when none. */
static ssize_t
admit(struct client *cl, int fd, size_t n)
{
    check_call(cl, fd, "send");
    if (cl->shut)
        fuzz_fail("send on connection %d after shutdown()", cl->id);
    if (cl->out_len == FUZZ_OUT_MAX) {
        cl->overflow = true; /* the client stops reading and resets */
        errno = ECONNRESET;
        return -1;
    }
    if (cl->short_writes) {
        uint32_t r = fuzz_rnd(&cl->rng);
        if (!cl->last_send_eagain && r % 4 == 0) {
            cl->last_send_eagain = true;
            cl->excused++;
            errno = EAGAIN;
            return -1;
        }
        cl->last_send_eagain = false;
        size_t cap = (r >> 2) % 2 ? 1 + (r >> 3) % 16 : 1 + (r >> 3) % 4096;
        if (n > cap)
            n = cap;
    }
    size_t room = FUZZ_OUT_MAX - cl->out_len;
    return (ssize_t)(n < room ? n : room);
}

static ssize_t
mem_send(int fd, void *ctx, const void *buf, size_t n, bool more, enum transport_want *want)
{
    struct client *cl = ctx;
    (void)more, (void)want;
    ssize_t k = admit(cl, fd, n);
    if (k > 0) {
        memcpy(cl->out + cl->out_len, buf, (size_t)k);
        cl->out_len += (size_t)k;
        cl->accepted += (uint64_t)k;
    }
    return k;
}

static ssize_t
mem_sendv(int fd, void *ctx, const struct iovec *iov, int cnt, bool more, enum transport_want *want)
{
    struct client *cl = ctx;
    size_t total = 0;
    (void)more, (void)want;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    ssize_t k = admit(cl, fd, total);
    size_t left = k > 0 ? (size_t)k : 0;
    for (int i = 0; i < cnt && left > 0; i++) {
        size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
        memcpy(cl->out + cl->out_len, iov[i].iov_base, n);
        cl->out_len += n;
        left -= n;
    }
    if (k > 0)
        cl->accepted += (uint64_t)k;
    return k;
}

static ssize_t
mem_sendfile(int fd, void *ctx, int file_fd, off_t *off, size_t n, enum transport_want *want)
{
    struct client *cl = ctx;
    (void)want;
    ssize_t k = admit(cl, fd, n);
    if (k <= 0)
        return k;
    ssize_t got = pread(file_fd, cl->out + cl->out_len, (size_t)k, *off);
    if (got > 0) {
        cl->out_len += (size_t)got;
        cl->accepted += (uint64_t)got;
        *off += got;
    }
    return got;
}

static size_t
mem_pending(void *ctx)
{
    (void)ctx;
    return 0; /* unread input stays in the "socket", where epoll sees it */
}

static void
mem_shutdown(int fd, void *ctx)
{
    struct client *cl = ctx;
    check_call(cl, fd, "shutdown");
    cl->shut = true;
}

static void
mem_release(void *ctx)
{
    struct client *cl = ctx;
    if (cl->released)
        fuzz_fail("release() called twice on connection %d", cl->id);
    cl->released = true;
    cl->closed_by_timer = fuzz_in_expiry;
}

const struct transport fuzz_transport = {
    .name = "fuzz-memory",
    .recv = mem_recv,
    .send = mem_send,
    .sendv = mem_sendv,
    .sendfile = mem_sendfile,
    .pending = mem_pending,
    .shutdown = mem_shutdown,
    .release = mem_release,
};

/* ---- the contrary transport ----
 * The memory socket behind a transport that does everything conn.c must cope with from TLS
 * and the PROXY prefix, and more often: a handshake first; every other call says EAGAIN
 * wanting the *opposite* direction of the call; every call moves at most one byte; and recv
 * reads ahead a whole piece from the socket, handing it out byte by byte while epoll (the
 * socket) no longer reports it: only pending() says it is there. */

/* Every other call: EAGAIN, excused in the busy-loop count (the transport made it up). */
static bool
contrary_turn(struct client *cl)
{
    cl->turn = !cl->turn;
    if (!cl->turn)
        return false;
    cl->excused++;
    errno = EAGAIN;
    return true;
}

size_t
client_held(const struct client *cl)
{
    return cl->contrary ? cl->in_pos - cl->held_pos : 0; /* the plain one holds nothing */
}

size_t
client_given(const struct client *cl)
{
    return cl->contrary ? cl->held_pos : cl->in_pos;
}

static int
contrary_handshake(int fd, void *ctx, enum transport_want *want)
{
    struct client *cl = ctx;
    check_call(cl, fd, "handshake");
    if (cl->handshaken)
        fuzz_fail("handshake on connection %d after it was done", cl->id);
    if (contrary_turn(cl)) {
        *want = TRANSPORT_WANT_WRITE;
        return -1;
    }
    cl->handshaken = true;
    return 0;
}

static ssize_t
contrary_recv(int fd, void *ctx, void *buf, size_t n, enum transport_want *want)
{
    struct client *cl = ctx;
    check_call(cl, fd, "recv");
    if (!cl->handshaken)
        fuzz_fail("recv on connection %d before its handshake", cl->id);
    cl->peer_writes = false;
    if (n == 0)
        fuzz_fail("recv of 0 bytes on connection %d", cl->id);
    if (contrary_turn(cl)) {
        *want = TRANSPORT_WANT_WRITE;
        return -1;
    }
    if (cl->held_pos == cl->in_pos) {
        if (cl->in_pos == cl->in_len) {
            if (!cl->stall) {
                cl->taken++; /* the end of stream, handed over */
                return 0;
            }
            errno = EAGAIN; /* waits for the socket: *want stays READ */
            return -1;
        }
        size_t k = next_piece(cl); /* read ahead: a piece leaves the socket */
        if (k > cl->in_len - cl->in_pos)
            k = cl->in_len - cl->in_pos;
        cl->in_pos += k;
    }
    *(uint8_t *)buf = cl->in[cl->held_pos++];
    cl->taken++;
    return 1;
}

static size_t
contrary_pending(void *ctx)
{
    return client_held(ctx);
}

/* A send that says it must read first: the peer then has something to say, so the socket
 * turns readable (fuzz_http.c's ready_events) until the next call. */
static bool
contrary_send_turn(struct client *cl, int fd, enum transport_want *want)
{
    check_call(cl, fd, "send");
    if (!cl->handshaken)
        fuzz_fail("send on connection %d before its handshake", cl->id);
    cl->peer_writes = false;
    if (!contrary_turn(cl))
        return false;
    *want = TRANSPORT_WANT_READ;
    cl->peer_writes = true;
    return true;
}

static ssize_t
contrary_send(int fd, void *ctx, const void *buf, size_t n, bool more, enum transport_want *want)
{
    if (contrary_send_turn(ctx, fd, want))
        return -1;
    return mem_send(fd, ctx, buf, n > 1 ? 1 : n, more, want);
}

static ssize_t
contrary_sendv(int fd, void *ctx, const struct iovec *iov, int cnt, bool more,
               enum transport_want *want)
{
    if (contrary_send_turn(ctx, fd, want))
        return -1;
    for (int i = 0; i < cnt; i++)
        if (iov[i].iov_len > 0) {
            struct iovec one = {iov[i].iov_base, 1};
            return mem_sendv(fd, ctx, &one, 1, more, want);
        }
    return 0;
}

static ssize_t
contrary_sendfile(int fd, void *ctx, int file_fd, off_t *off, size_t n, enum transport_want *want)
{
    if (contrary_send_turn(ctx, fd, want))
        return -1;
    return mem_sendfile(fd, ctx, file_fd, off, n > 1 ? 1 : n, want);
}

const struct transport fuzz_contrary_transport = {
    .name = "fuzz-contrary",
    .handshake = contrary_handshake,
    .recv = contrary_recv,
    .send = contrary_send,
    .sendv = contrary_sendv,
    .sendfile = contrary_sendfile,
    .pending = contrary_pending,
    .shutdown = mem_shutdown,
    .release = mem_release,
};
