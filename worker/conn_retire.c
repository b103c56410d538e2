/* Connections of a retiring worker (see conn.h): which ones move to a serving worker and which
 * are doomed, taking idle ones out of the pool for a hand-over, adopting handed-over ones, and
 * the idle_close_grace of the doomed. Part of the connection module (conn_internal.h). */
#include "worker/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "worker/conn_internal.h"

static bool retiring, handing_over;

/* Whether c can leave this process: plain transport (no state of its own in user space; a
 * TLS session cannot be moved), not doomed, and its peer the socket's (the receiver would
 * lose a PROXY header's client). Its idleness is checked when it is taken. */
static bool
movable(const struct conn *c)
{
    return c->tp == &transport_plain && !c->doomed && !c->proxied;
}

/* Between requests, with no byte of the client's in user space and nothing of ours to send:
 * the socket alone is the connection. */
static bool
idle(const struct conn *c)
{
    return c->state == CONN_IDLE && c->in == NULL && c->out == NULL && !c->kicked && !c->live &&
           c->tp->pending(c->tp_ctx) == 0;
}

/* Bytes the client has sent that nobody has read yet: held in the transport, or in the
 * socket. */
static bool
has_pending_bytes(const struct conn *c)
{
    int n = 0;
    return c->tp->pending(c->tp_ctx) > 0 || (ioctl(c->io.fd, FIONREAD, &n) == 0 && n > 0);
}

/* c will not move: Connection: close on its next response, and if it waits for one now (idle,
 * or a fresh connection not yet heard from), idle_close_grace from now. A handshake keeps its
 * own clock. */
static void
doom(struct conn *c)
{
    c->doomed = true;
    if (c->state == CONN_IDLE)
        conn_arm(c, CLOCK_GRACE);
}

void
conn_retire(bool hand_over)
{
    if (retiring && (!handing_over || hand_over))
        return;
    retiring = true;
    handing_over = hand_over;
    for (int i = 0; conn_slot(i); i++) {
        struct conn *c = conn_slot(i);
        if (c->state != CONN_CLOSED && !c->doomed && (!hand_over || !movable(c)))
            doom(c);
    }
}

void
conn_expire_grace(struct tq_node *n, void *arg)
{
    struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, timer));
    (void)arg;
    /* A request that arrived in the socket since is served (with Connection: close): epoll
     * reports it on the next turn. Closing with unread bytes would reset the connection, and
     * the client could not tell whether its request was seen. */
    if (c->state == CONN_IDLE && has_pending_bytes(c)) {
        conn_arm(c, CLOCK_GRACE);
        return;
    }
    conn_close(c, "retiring: idle_close_grace", REQ_END_ERROR);
}

/* Take the movable idle connections waiting on `q` (keep-alive, or fresh ones not heard from
 * yet on the header clock) into fds/meta, up to max; returns how many. */
static int
detach_from(struct tq *q, int *fds, struct ipc_conn *meta, int max)
{
    int n = 0;
    struct tq_node *node, *next;
    for (node = q->head.next; node != &q->head && n < max; node = next) {
        next = node->next;
        struct conn *c = (struct conn *)((char *)node - offsetof(struct conn, timer));
        if (!movable(c) || !idle(c))
            continue;
        /* Out of epoll explicitly: the description stays open (the caller holds it, then the
         * message in flight), and epoll forgets an fd only when its last descriptor closes. */
        if (c->io.events)
            ev_set(&c->io, 0);
        fds[n] = c->io.fd;
        meta[n] = (struct ipc_conn){.nrequests = c->nrequests, .listener = c->listener};
        c->io.fd = -1; /* conn_close leaves the socket alone */
        conn_close(c, "handed over", REQ_END_ERROR);
        n++;
    }
    return n;
}

int
conn_detach_idle(int *fds, struct ipc_conn *meta, int max)
{
    if (!handing_over)
        return 0;
    int n = detach_from(conn_queue(CLOCK_KEEPALIVE), fds, meta, max);
    return n + detach_from(conn_queue(CLOCK_HEADER), fds + n, meta + n, max - n);
}

int
conn_adopt(int fd, const struct transport *tp, int listener, uint32_t nrequests, bool doomed)
{
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    int type = 0;
    socklen_t tlen = sizeof(type);
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0 ||
        (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_STREAM) {
        log_warnx("a handed-over descriptor is not a connected TCP socket; closed");
        close(fd);
        return 1;
    }
    if (conn_pool_full())
        return -1;
    /* The client was admitted under max_connections_per_ip where it connected; its count moves
     * with it (released by the sender as it let go), never refused here. */
    bool counted = conn_count_peer((struct sockaddr *)&peer);
    struct conn *c = conn_new(fd, tp, NULL, (struct sockaddr *)&peer, counted, listener);
    if (c == NULL)
        return 1; /* epoll refused it: closed, logged */
    c->nrequests = nrequests;
    if (doomed || (retiring && (!handing_over || !movable(c))))
        doom(c);
    else
        conn_arm(c, CLOCK_KEEPALIVE);
    return 0;
}
