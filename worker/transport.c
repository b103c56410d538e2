/* The plain-socket transport (see transport.h). */
#include "worker/transport.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

/* A socket waits only in the direction of the call, which the caller presets in *want: the
 * plain calls never touch it. */

static ssize_t
plain_recv(int fd, void *ctx, void *buf, size_t n, enum transport_want *want)
{
    (void)ctx, (void)want;
    return recv(fd, buf, n, 0);
}

static ssize_t
plain_send(int fd, void *ctx, const void *buf, size_t n, bool more, enum transport_want *want)
{
    (void)ctx, (void)want;
    return send(fd, buf, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

static ssize_t
plain_sendv(int fd, void *ctx, const struct iovec *iov, int cnt, bool more,
            enum transport_want *want)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
    (void)ctx, (void)want;
    return sendmsg(fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

static ssize_t
plain_sendfile(int fd, void *ctx, int file_fd, off_t *off, size_t n, enum transport_want *want)
{
    (void)ctx, (void)want;
    return sendfile(fd, file_fd, off, n);
}

/* The kernel holds unread bytes, not the transport: epoll sees them. */
static size_t
plain_pending(void *ctx)
{
    (void)ctx;
    return 0;
}

static void
plain_shutdown(int fd, void *ctx)
{
    (void)ctx;
    shutdown(fd, SHUT_WR);
}

static void
plain_release(void *ctx)
{
    (void)ctx;
}

const struct transport transport_plain = {
    .name = "plain",
    .open = NULL,      /* no per-connection state */
    .handshake = NULL, /* nothing before the request: header_timeout starts at accept */
    .recv = plain_recv,
    .send = plain_send,
    .sendv = plain_sendv,
    .sendfile = plain_sendfile,
    .pending = plain_pending,
    .shutdown = plain_shutdown,
    .release = plain_release,
};
