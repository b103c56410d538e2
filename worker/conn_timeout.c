/* The connections' timeouts: one FIFO queue per clock (common/tq.h), each expiring into its
 * callback here. What a timeout does is decided here; conn.c owns the queues and the pool. */
#include <stddef.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/shm.h"
#include "common/tq.h"
#include "worker/conn.h"
#include "worker/conn_internal.h"
#include "worker/req_internal.h"

/* What expire gets from its queue: the reason it logs and its counter (shm.h enum shm_timeout;
 * -1: not counted, keep-alive idleness is no error). */
struct expiry {
    const char *why;
    int counter;
};

static const struct expiry exp_handshake = {"handshake timeout", SHM_TO_HANDSHAKE},
                           exp_header = {"header timeout", SHM_TO_HEADER},
                           exp_body = {"body timeout", SHM_TO_BODY},
                           exp_keepalive = {"keep-alive timeout", -1},
                           exp_send = {"send timeout", SHM_TO_SEND},
                           exp_linger = {"lingering close: time limit", -1};

/* The loop's timer phase hands each expired node to its queue's callback (conn_setup). */
static void
expire(struct tq_node *n, void *arg)
{
    const struct expiry *x = arg;
    const char *what = x->why;
    struct conn *c = conn_of_timer(n);
    if (x->counter >= 0)
        conn_stats()->timeouts[x->counter]++;
    if (c->state == CONN_READING && c->in && c->in->len > 0) {
        /* A request was started and nothing answered yet: say why, best effort. */
        c->close_after = true;
        conn_respond(c, 408);
        if (c->state == CONN_SENDING)
            conn_send_more(c);
    }
    if (c->state == CONN_SENDING)
        c->tp->shutdown(c->io.fd, c->tp_ctx); /* the 408 went out: end it cleanly */
    conn_close(c, what, REQ_END_TIMEOUT);
}

/* request_timeout: the handler has not begun its answer. The client gets 504 (and the
 * connection closes after it: the handler may still hold the request's buffer). */
static void
expire_request(struct tq_node *n, void *unused __attribute__((unused)))
{
    struct conn *c = conn_of_timer(n);
    const char *name = req_route_name(c->in);
    log_warnx("request_timeout (%lld ms): handler %s has not answered; answering 504",
              (long long)conn_cfg()->request_timeout_ms, name ? name : "?");
    conn_stats()->timeouts[SHM_TO_REQUEST]++;
    c->close_after = true;
    c->timed_out = true;
    conn_respond(c, 504);
    if (c->state == CONN_SENDING)
        conn_run(c);
}

/* send_min_rate: every send_min_rate_period of a response in flight must have moved rate x
 * period bytes. send_timeout alone only measures gaps, so a client that reads a byte a minute
 * would hold a transfer forever; and a stalled client makes no progress events, so this runs
 * from its own timer queue rather than on writes. */
static void
expire_rate(struct tq_node *n, void *unused __attribute__((unused)))
{
    const struct cfg *cfg = conn_cfg();
    int64_t need = cfg->send_min_rate * cfg->send_min_rate_period_ms / 1000;
    struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, rate_timer));
    int64_t moved = c->sent - c->rate_window_sent;
    if (moved < need) {
        log_info("closing a connection below send_min_rate: %lld bytes in %lld ms",
                 (long long)moved, (long long)cfg->send_min_rate_period_ms);
        conn_stats()->timeouts[SHM_TO_SEND_RATE]++;
        conn_close(c, "send_min_rate", REQ_END_TIMEOUT);
        return;
    }
    c->rate_window_sent = c->sent;
    conn_arm_rate(c, false);
}

/* body_min_rate: every body_min_rate_period of a body being read must bring rate x period
 * bytes, or the request gets 408 and the connection closes. */
static void
expire_body_rate(struct tq_node *n, void *unused __attribute__((unused)))
{
    const struct cfg *cfg = conn_cfg();
    int64_t need = cfg->body_min_rate * cfg->body_min_rate_period_ms / 1000;
    struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, rate_timer));
    int64_t moved = c->sent - c->rate_window_sent;
    if (c->state != CONN_READING || moved >= need) {
        c->rate_window_sent = c->sent;
        if (c->state == CONN_READING)
            conn_arm_rate(c, true);
        return;
    }
    log_info("request body below body_min_rate: %lld bytes in %lld ms; answering 408",
             (long long)moved, (long long)cfg->body_min_rate_period_ms);
    conn_stats()->timeouts[SHM_TO_BODY_RATE]++;
    c->close_after = true;
    conn_respond(c, 408);
    if (c->state == CONN_SENDING)
        conn_send_more(c);
    if (c->state == CONN_SENDING)
        c->tp->shutdown(c->io.fd, c->tp_ctx);
    conn_close(c, "body_min_rate", REQ_END_TIMEOUT);
}

int
conn_timeouts_setup(const struct cfg *cfg)
{
    const struct {
        struct tq *q;
        int64_t ms;
        ev_expire_cb *cb;
        const struct expiry *arg;
    } queues[] = {
        {conn_rate_queue(false), cfg->send_min_rate_period_ms, expire_rate, NULL},
        {conn_rate_queue(true), cfg->body_min_rate_period_ms, expire_body_rate, NULL},
        {conn_queue(CLOCK_HANDSHAKE), cfg->handshake_timeout_ms, expire, &exp_handshake},
        {conn_queue(CLOCK_HEADER), cfg->header_timeout_ms, expire, &exp_header},
        {conn_queue(CLOCK_BODY), cfg->body_timeout_ms, expire, &exp_body},
        {conn_queue(CLOCK_KEEPALIVE), cfg->keepalive_timeout_ms, expire, &exp_keepalive},
        {conn_queue(CLOCK_REQUEST), cfg->request_timeout_ms, expire_request, NULL},
        {conn_queue(CLOCK_SEND), cfg->send_timeout_ms, expire, &exp_send},
        {conn_queue(CLOCK_LINGER), CONN_LINGER_MS, expire, &exp_linger},
        {conn_queue(CLOCK_GRACE), cfg->idle_close_grace_ms, conn_expire_grace, NULL},
    };
    for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++) {
        tq_init(queues[i].q, queues[i].ms);
        if (ev_queue_add(queues[i].q, queues[i].cb, (void *)queues[i].arg) < 0)
            return -1;
    }
    return 0;
}
