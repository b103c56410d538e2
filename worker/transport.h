/* The transport seam: how a connection moves bytes. conn.c calls only these, through the table a
 * listener carries, and knows no concrete transport: TLS or a PROXY-protocol prefix slot in
 * beside plain sockets without touching it. A transport implements the table below; the worker
 * picks one per listener from its listen line (transports.h).
 *
 * Every call is non-blocking and keeps the read(2)/write(2) contract: a count, 0 for end of
 * stream (recv only), or -1 with errno (EAGAIN when the call would block). Every call that can
 * block reports the readiness it waits for in *want, whatever its own direction (a TLS write may
 * need to read first): the caller presets *want to the call's own direction, so a transport that
 * only ever waits that way (plain sockets) leaves it alone, and one that needs the other
 * direction sets it before returning EAGAIN. `ctx` is the transport's per-connection state
 * (NULL for plain sockets). */
#ifndef SLUICE_TRANSPORT_H
#define SLUICE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/cfg.h"

/* The readiness a call that returned EAGAIN waits for. */
enum transport_want {
    TRANSPORT_WANT_READ,
    TRANSPORT_WANT_WRITE,
};

struct transport {
    const char *name;
    /* Per-connection state for the accepted socket `fd`: 0 with *ctx set, or -1 (the caller
     * closes fd). NULL: the transport keeps no state (ctx NULL). */
    int (*open)(int fd, void **ctx);
    /* Runs before the first recv until it returns 0 (done), or -1 with errno: EAGAIN, *want
     * preset to READ, when it must wait; anything else ends the connection. Its time is
     * bounded by handshake_timeout. NULL: there is no handshake (header_timeout starts at
     * accept). */
    int (*handshake)(int fd, void *ctx, enum transport_want *want);
    ssize_t (*recv)(int fd, void *ctx, void *buf, size_t n, enum transport_want *want);
    /* `more`: further bytes follow at once (MSG_MORE), so the kernel may hold a partial frame. */
    ssize_t (*send)(int fd, void *ctx, const void *buf, size_t n, bool more,
                    enum transport_want *want);
    /* Gathered send of `cnt` buffers (headers and a small body in one system call). */
    ssize_t (*sendv)(int fd, void *ctx, const struct iovec *iov, int cnt, bool more,
                     enum transport_want *want);
    /* Up to n bytes of file_fd from *off (advanced). Plain: sendfile(2), zero-copy. */
    ssize_t (*sendfile)(int fd, void *ctx, int file_fd, off_t *off, size_t n,
                        enum transport_want *want);
    /* Bytes already received and held inside the transport (decrypted TLS records, the rest of
     * a read-ahead): recv hands them over without the socket becoming readable, so a
     * level-triggered epoll never reports them and the caller must drain them first. Must not
     * make a system call. */
    size_t (*pending)(void *ctx);
    /* Stop sending after what was sent (half-close); the peer then sees the end. */
    void (*shutdown)(int fd, void *ctx);
    /* Release ctx; the caller closes fd. */
    void (*release)(void *ctx);
    /* A transport that is only a prefix of the connection (a PROXY header): once its handshake
     * returned 0, the connection goes on with the transport this returns, whose own handshake
     * then runs under the same handshake_timeout. It releases ctx whatever the outcome, sets
     * *inner_ctx to the inner transport's state (its open has run) and *peer to the client the
     * prefix named (ss_family AF_UNSPEC: keep the socket's peer; AF_UNIX: no IP address).
     * Returns NULL when the inner state cannot be made: the caller then closes fd, and calls
     * its release(NULL) at most. NULL op: the transport carries the connection itself. */
    const struct transport *(*unwrap)(int fd, void *ctx, void **inner_ctx,
                                      struct sockaddr_storage *peer);
};

extern const struct transport transport_plain;

#endif
