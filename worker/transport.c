/* Plain-socket transport (see transport.h). */
#include "worker/transport.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t
plain_recv(int fd, void *ctx, void *buf, size_t n)
{
    (void)ctx;
    return recv(fd, buf, n, 0);
}

static ssize_t
plain_send(int fd, void *ctx, const void *buf, size_t n, bool more)
{
    (void)ctx;
    return send(fd, buf, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

static ssize_t
plain_sendv(int fd, void *ctx, const struct iovec *iov, int cnt, bool more)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
    (void)ctx;
    return sendmsg(fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

static ssize_t
plain_sendfile(int fd, void *ctx, int file_fd, off_t *off, size_t n)
{
    (void)ctx;
    return sendfile(fd, file_fd, off, n);
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
    .recv = plain_recv,
    .send = plain_send,
    .sendv = plain_sendv,
    .sendfile = plain_sendfile,
    .shutdown = plain_shutdown,
    .release = plain_release,
};
