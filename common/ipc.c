/* Master/worker messages (see ipc.h). */
#include "common/ipc.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
ipc_send_record(int sock, const void *rec, size_t len, const int *fds, int nfds)
{
    if (nfds < 0 || nfds > IPC_CONNS_MAX) {
        errno = EINVAL;
        return -1;
    }
    struct iovec iov = {(void *)rec, len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * IPC_CONNS_MAX)];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&ctl, 0, CMSG_SPACE(sizeof(int) * (size_t)nfds));
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
    return n == (ssize_t)len ? 0 : -1;
}

static bool
is_conns_type(uint32_t type)
{
    return type == IPC_HANDOFF || type == IPC_TAKE || type == IPC_HANDBACK || type == IPC_RETURN;
}

int
ipc_send(int sock, const struct ipc_msg *msg, const int *fds, int nfds)
{
    if (nfds < 0 || nfds > IPC_MAX_FDS || is_conns_type(msg->type)) {
        errno = EINVAL;
        return -1;
    }
    return ipc_send_record(sock, msg, sizeof(*msg), fds, nfds);
}

static size_t
conns_size(int n)
{
    return offsetof(struct ipc_conns, conn) + (size_t)n * sizeof(struct ipc_conn);
}

int
ipc_send_conns(int sock, const struct ipc_conns *rec, const int *fds)
{
    int n = rec->msg.value;
    if (!is_conns_type(rec->msg.type) || n < 1 || n > IPC_CONNS_MAX) {
        errno = EINVAL;
        return -1;
    }
    return ipc_send_record(sock, rec, conns_size(n), fds, n);
}

/* How many descriptors a message of `type` carries: [min, max]. False for an unknown type. */
static bool
fds_allowed(uint32_t type, int *min, int *max)
{
    switch (type) {
    case IPC_READY:
    case IPC_RELEASE:
    case IPC_RETIRE:
    case IPC_RETIRING:
    case IPC_CREDIT:
    case IPC_TAKEN:
    case IPC_DRAIN:
        *min = *max = 0;
        return true;
    case IPC_ADOPT:
        *min = 1;
        *max = IPC_MAX_FDS;
        return true;
    case IPC_LOG_FD:
        *min = *max = 1;
        return true;
    case IPC_HANDOFF:
    case IPC_TAKE:
    case IPC_HANDBACK:
    case IPC_RETURN:
        *min = 1;
        *max = IPC_CONNS_MAX;
        return true;
    default:
        return false;
    }
}

/* Every descriptor the kernel installed, whatever else is wrong with the record: none may leak
 * into the receiver. The first `max` go to `fds`, any more are closed at once. Returns how many
 * arrived in all. */
static int
collect_fds(struct msghdr *mh, int *fds, int max, int *nfds)
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
            if (*nfds < max)
                fds[(*nfds)++] = fd;
            else
                close(fd);
        }
    }
    return total;
}

ssize_t
ipc_recv_record(int sock, void *rec, size_t len, int *fds, int max, int *nfds, int *total,
                bool *cut)
{
    /* One byte more than the record, and room for one descriptor more than `max`, so an
     * oversized record shows up as MSG_TRUNC or as a size mismatch, and an extra descriptor as
     * such (and is closed) rather than as MSG_CTRUNC alone. */
    char spare;
    struct iovec iov[2] = {{rec, len}, {&spare, 1}};
    union {
        char buf[CMSG_SPACE(sizeof(int) * (IPC_CONNS_MAX + 1))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = iov,
                        .msg_iovlen = 2,
                        .msg_control = ctl.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)(max + 1))};
    *nfds = *total = 0;
    *cut = false;
    if (max < 0 || max > IPC_CONNS_MAX) {
        errno = EINVAL;
        return -1;
    }
    ssize_t n;
    while ((n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n <= 0)
        return n;
    *total = collect_fds(&mh, fds, max, nfds);
    /* MSG_TRUNC: the record was longer than ours; MSG_CTRUNC: more descriptors than there is
     * room for (the kernel closed those itself), or none could be installed. */
    *cut = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    return n;
}

/* The record's size and contents fit its type: `n` bytes arrived, `nfds` descriptors. */
static bool
record_valid(const struct ipc_conns *rec, ssize_t n, int nfds)
{
    int min = 0, max = 0;
    if (n < (ssize_t)sizeof(rec->msg) || !fds_allowed(rec->msg.type, &min, &max) || nfds < min ||
        nfds > max)
        return false;
    if (!is_conns_type(rec->msg.type))
        return n == (ssize_t)sizeof(rec->msg);
    int count = rec->msg.value;
    if (count < 1 || count > IPC_CONNS_MAX || n != (ssize_t)conns_size(count) || nfds != count)
        return false;
    for (int i = 0; i < count; i++)
        if (rec->conn[i].flags & ~IPC_CONN_RETRY)
            return false;
    return true;
}

int
ipc_recv(int sock, struct ipc_conns *rec, int *fds, int *nfds)
{
    int got, total;
    bool cut;
    ssize_t n = ipc_recv_record(sock, rec, sizeof(*rec), fds, IPC_CONNS_MAX, &got, &total, &cut);
    *nfds = 0;
    if (n <= 0)
        return n == 0 ? 0 : -1;
    if (cut || !record_valid(rec, n, total)) {
        for (int i = 0; i < got; i++)
            close(fds[i]);
        if (n < (ssize_t)sizeof(rec->msg))
            memset(&rec->msg, 0, sizeof(rec->msg)); /* no header: not a stale one either */
        errno = EPROTO;
        return -1;
    }
    *nfds = got;
    return 1;
}
