/* The transport seam: how a connection moves bytes. HTTP code (conn.c) calls only these, so TLS
 * can slot in beside plain sockets without touching it. Every call is non-blocking and keeps the
 * read(2)/write(2) contract: a count, 0 for end of stream (recv only), or -1 with errno (EAGAIN
 * when the call would block; a TLS transport maps its want-read/want-write onto EAGAIN and says
 * which readiness it waits for through `want`). `ctx` is the transport's per-connection state
 * (NULL for plain sockets). */
#ifndef SLUICE_TRANSPORT_H
#define SLUICE_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct transport {
    const char *name;
    ssize_t (*recv)(int fd, void *ctx, void *buf, size_t n);
    /* `more`: further bytes follow at once (MSG_MORE), so the kernel may hold a partial frame. */
    ssize_t (*send)(int fd, void *ctx, const void *buf, size_t n, bool more);
    /* Gathered send of `cnt` buffers (headers and a small body in one system call). */
    ssize_t (*sendv)(int fd, void *ctx, const struct iovec *iov, int cnt, bool more);
    /* Up to n bytes of file_fd from *off (advanced). Plain: sendfile(2), zero-copy. */
    ssize_t (*sendfile)(int fd, void *ctx, int file_fd, off_t *off, size_t n);
    /* Stop sending after what was sent (half-close); the peer then sees the end. */
    void (*shutdown)(int fd, void *ctx);
    /* Release ctx; the caller closes fd. */
    void (*release)(void *ctx);
};

extern const struct transport transport_plain;

#endif
