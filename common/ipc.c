/* Master/worker messages (see ipc.h). */
#include "common/ipc.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
ipc_send(int sock, const struct ipc_msg *msg, const int *fds, int nfds)
{
    struct iovec iov = {(void *)msg, sizeof(*msg)};
    union {
        char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds < 0 || nfds > IPC_MAX_FDS) {
        errno = EINVAL;
        return -1;
    }
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    while ((n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR)
        ;
    return n == (ssize_t)sizeof(*msg) ? 0 : -1;
}

/* How many descriptors a message of `type` carries: [min, max]. False for an unknown type. */
static bool
fds_allowed(uint32_t type, int *min, int *max)
{
    switch (type) {
    case IPC_READY:
    case IPC_RELEASE:
        *min = *max = 0;
        return true;
    case IPC_ADOPT:
        *min = 1;
        *max = IPC_MAX_FDS;
        return true;
    case IPC_LOG_FD:
        *min = *max = 1;
        return true;
    default:
        return false;
    }
}

/* Every descriptor the kernel installed, whatever else is wrong with the record: none may leak
 * into the receiver. The first IPC_MAX_FDS go to `fds`, any more are closed at once. Returns how
 * many arrived in all. */
static int
collect_fds(struct msghdr *mh, int *fds, int *nfds)
{
    int total = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
            continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            total++;
            if (*nfds < IPC_MAX_FDS)
                fds[(*nfds)++] = fd;
            else
                close(fd);
        }
    }
    return total;
}

int
ipc_recv(int sock, struct ipc_msg *msg, int *fds, int *nfds)
{
    struct iovec iov = {msg, sizeof(*msg)};
    /* Room for one descriptor more than any message carries, so an extra one shows up as such
     * (and is closed) rather than as MSG_CTRUNC alone. */
    union {
        char buf[CMSG_SPACE(sizeof(int) * (IPC_MAX_FDS + 1))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    *nfds = 0;
    ssize_t n;
    while ((n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n <= 0)
        return n == 0 ? 0 : -1;
    int got = 0, min = 0, max = 0;
    int total = collect_fds(&mh, fds, &got);
    /* MSG_TRUNC: the record was longer than ours; MSG_CTRUNC: more descriptors than we have
     * room for (the kernel closed those itself). */
    bool ok = n == (ssize_t)sizeof(*msg) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
              fds_allowed(msg->type, &min, &max) && total >= min && total <= max;
    if (!ok) {
        for (int i = 0; i < got; i++)
            close(fds[i]);
        errno = EPROTO;
        return -1;
    }
    *nfds = got;
    return 1;
}
