/* Invisible reloads, the worker's side (see handover.h). */
#include "worker/handover.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/shm.h"
#include "worker/conn.h"
#include "worker/transports.h"

#define RETRY_MS 100        /* a connection handed back for now is sent again this much later */
#define CREDIT_LOST_MS 2000 /* no answer from the master this long: its credit message was lost */

static struct {
    int ipc_fd;
    int slot;
    unsigned generation;
    const struct cfg *cfg;
    struct shm_worker *stats;
    int credit;          /* IPC_HANDOFF records this worker may still send */
    int64_t answer_ms;   /* the last answer from the master, or the first record it owes one */
    int64_t retry_at;    /* no record before this: connections came back for now */
    int64_t retry_until; /* connections handed back after this are doomed */
    int64_t warn_ms;     /* rate limit of the failure line */
} ho = {.ipc_fd = -1, .credit = IPC_CREDITS};

void
handover_init(int ipc_fd, int slot, unsigned generation, const struct cfg *cfg,
              struct shm_worker *stats)
{
    ho.ipc_fd = ipc_fd;
    ho.slot = slot;
    ho.generation = generation;
    ho.cfg = cfg;
    ho.stats = stats;
}

bool
handover_ask_to_retire(void)
{
    struct ipc_msg ask = {
        .type = IPC_RETIRING, .slot = (uint32_t)ho.slot, .generation = ho.generation};
    return ipc_send(ho.ipc_fd, &ask, NULL, 0) == 0;
}

void
handover_begin(void)
{
    ho.retry_until = ev_now() + ho.cfg->idle_close_grace_ms;
}

/* Credit the master owes for too long comes back: its IPC_CREDIT was lost (its socket to this
 * worker was full), and the records themselves were dealt with long ago. */
static void
restore_lost_credit(void)
{
    if (ho.credit >= IPC_CREDITS || ev_now() - ho.answer_ms < CREDIT_LOST_MS)
        return;
    log_warnx("hand-over: no answer from the master for %d records in %d ms; sending again",
              IPC_CREDITS - ho.credit, CREDIT_LOST_MS);
    ho.credit = IPC_CREDITS;
}

bool
handover_waiting(void)
{
    restore_lost_credit();
    return ho.ipc_fd >= 0 && ho.credit < IPC_CREDITS;
}

void
handover_abandon(void)
{
    ho.credit = 0; /* nothing more is sent... */
    ho.ipc_fd = -1;
}

/* Count n failed hand-overs; true when a line about them may be written now (one a second). */
static bool
count_failed(int n)
{
    ho.stats->handover_failed += (uint64_t)n;
    if (ev_now() - ho.warn_ms < 1000)
        return false;
    ho.warn_ms = ev_now();
    return true;
}

static void
warn_failed(int n, const char *what)
{
    if (count_failed(n))
        log_warn("hand-over: %s (%d connections); they close after their next response", what, n);
}

void
handover_lost(int n)
{
    if (n < 1 || n > IPC_CONNS_MAX)
        n = 1; /* what the header claims is not to be trusted; one record at least */
    if (!count_failed(n))
        return;
    log_warnx("hand-over: a record of %d connections arrived without all its descriptors "
              "(RLIMIT_NOFILE?); they are lost",
              n);
}

/* Connection i of rec, adopted here (doomed or not); false when the pool is full (the
 * descriptor is still the caller's). A bad listen line closes it. */
static bool
adopt(const struct ipc_conns *rec, int i, int fd, bool doomed)
{
    const struct ipc_conn *m = &rec->conn[i];
    if (m->listener >= ho.cfg->nlisten) {
        log_warnx("hand-over: a connection for listen line %u of %d; closed", m->listener,
                  ho.cfg->nlisten);
        close(fd);
        return true;
    }
    const struct transport *tp = transport_for(&ho.cfg->listen[m->listener]);
    if (tp != &transport_plain) { /* the master maps only unchanged plain listeners */
        close(fd);
        return true;
    }
    return conn_adopt(fd, tp, m->listener, m->nrequests, doomed) >= 0;
}

/* Connections back in this worker (that it could not send, or that the master handed back):
 * served here again, and tried again after RETRY_MS while the retirement is young enough
 * (IPC_CONN_RETRY and before retry_until), else doomed (conn.h) and counted as failed
 * hand-overs. */
static void
keep(const struct ipc_conns *rec, int *fds, int n, const char *why)
{
    int expired = 0, final = 0;
    for (int i = 0; i < n; i++) {
        bool retry = rec->conn[i].flags & IPC_CONN_RETRY;
        bool again = retry && ev_now() < ho.retry_until;
        expired += retry && !again;
        final += !retry;
        if (!adopt(rec, i, fds[i], !again))
            close(fds[i]); /* the pool just gave these slots up: cannot happen */
    }
    if (expired + final < n) {
        ho.retry_at = ev_now() + RETRY_MS;
        log_debug("hand-over: %d connections back for now (%s); again in %d ms",
                  n - expired - final, why, RETRY_MS);
    }
    if (expired)
        warn_failed(expired, why);
    if (final)
        warn_failed(final, "the serving generation has no listen line like theirs");
}

void
handover_flush(void)
{
    static struct ipc_conns rec; /* 2 KB: off the stack */
    static int fds[IPC_CONNS_MAX];
    restore_lost_credit();
    if (ev_now() < ho.retry_at) {
        ev_wake_by(ho.retry_at);
        return;
    }
    while (ho.credit > 0) {
        int n = conn_detach_idle(fds, rec.conn, IPC_CONNS_MAX);
        if (n == 0)
            return;
        rec.msg = (struct ipc_msg){.type = IPC_HANDOFF,
                                   .slot = (uint32_t)ho.slot,
                                   .generation = ho.generation,
                                   .value = n};
        if (ipc_send_conns(ho.ipc_fd, &rec, fds) < 0) {
            /* EAGAIN (the master is behind), ETOOMANYREFS (too many descriptors in flight for
             * an unprivileged user): these stay, and try again in a moment. */
            int err = errno;
            conn_reap(); /* the slots they left, free again */
            for (int i = 0; i < n; i++)
                rec.conn[i].flags = IPC_CONN_RETRY;
            keep(&rec, fds, n, strerror(err));
            ev_wake_by(ho.retry_at);
            return;
        }
        for (int i = 0; i < n; i++)
            close(fds[i]); /* the record in flight holds them now */
        if (ho.credit-- == IPC_CREDITS)
            ho.answer_ms = ev_now();
        ho.stats->handed_over += (uint64_t)n;
        log_debug("hand-over: %d idle connections sent to the master", n);
    }
}

/* IPC_TAKE: serve these from now on; what does not fit goes back through the master to the
 * worker it came from. */
static void
take(const struct ipc_conns *rec, int *fds, int nfds)
{
    static struct ipc_conns back;
    static int back_fds[IPC_CONNS_MAX];
    int nback = 0;
    for (int i = 0; i < nfds; i++) {
        if (adopt(rec, i, fds[i], false)) {
            ho.stats->taken_over++;
            continue;
        }
        back.conn[nback] = rec->conn[i];
        back_fds[nback++] = fds[i];
    }
    if (nback == 0) {
        /* The answer that settles the record for its origin (via the master). Should it not
         * go out, the origin restores the credit itself after a while. */
        struct ipc_msg taken = {.type = IPC_TAKEN,
                                .slot = rec->msg.slot,
                                .generation = rec->msg.generation,
                                .value = nfds};
        ipc_send(ho.ipc_fd, &taken, NULL, 0);
        return;
    }
    back.msg = (struct ipc_msg){.type = IPC_HANDBACK,
                                .slot = rec->msg.slot,
                                .generation = rec->msg.generation,
                                .value = nback};
    if (ipc_send_conns(ho.ipc_fd, &back, back_fds) < 0) {
        ho.stats->handover_failed += (uint64_t)nback;
        log_warn("hand-over: cannot hand %d connections back at max_connections; closed", nback);
    } else {
        log_debug("hand-over: at max_connections; %d connections handed back", nback);
    }
    for (int i = 0; i < nback; i++)
        close(back_fds[i]);
}

void
handover_message(const struct ipc_conns *rec, int *fds, int nfds)
{
    switch (rec->msg.type) {
    case IPC_CREDIT:
        if (ho.credit < IPC_CREDITS)
            ho.credit++;
        ho.answer_ms = ev_now();
        break;
    case IPC_TAKE:
        take(rec, fds, nfds);
        break;
    case IPC_RETURN:
        /* This worker's own connections, which no serving worker could take; the record they
         * came back from is settled. */
        if (ho.credit < IPC_CREDITS)
            ho.credit++;
        ho.answer_ms = ev_now();
        keep(rec, fds, nfds, "no serving worker could take them");
        break;
    case IPC_HANDBACK:
        /* The same, of a record that is settled later (the rest of it went on). */
        ho.answer_ms = ev_now();
        keep(rec, fds, nfds, "no serving worker could take them");
        break;
    default:
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        break;
    }
}
