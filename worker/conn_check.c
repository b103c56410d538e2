/* The busy-loop assertion of the sanitizer and fuzzer builds (SLUICE_CHECK_PROGRESS; see
 * conn_internal.h). Empty in production builds. */
#include "worker/conn_internal.h"

#ifdef SLUICE_CHECK_PROGRESS
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "worker/resp.h"

/* The loop's rule, asserted in the sanitizer and fuzzer builds: every wake-up consumes bytes,
 * changes state or disarms its event. A connection woken again and again without any of those
 * is a busy loop waiting for its input (a level-triggered event nobody can satisfy). */
#define STALLS_MAX 64

void
conn_snap_take(const struct conn *c, struct conn_snap *s)
{
    memset(s, 0, sizeof(*s));
    s->state = c->state;
    s->events = c->io.events;
    s->nrequests = c->nrequests;
    s->in = c->in;
    s->out = c->out;
    s->in_len = c->in ? c->in->len : 0;
    s->in_pos = c->in ? c->in->pos : 0;
    s->out_sent = c->out ? c->out->sent : 0;
    s->sent = c->sent;
    s->file_pos = c->file_pos;
}

void
conn_check_progress(struct conn *c, const struct conn_snap *before)
{
    struct conn_snap after;
    if (c->state == CONN_CLOSED)
        return;
    conn_snap_take(c, &after);
    if (memcmp(before, &after, sizeof(after)) != 0) {
        c->stalls = 0;
        return;
    }
    if (++c->stalls >= STALLS_MAX) {
        log_critx("busy loop: connection fd %d woken %u times in a row without progress "
                  "(state %d, events %#x)",
                  c->io.fd, c->stalls, c->state, c->io.events);
        abort();
    }
}
#endif
