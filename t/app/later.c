/* /_t/later?ms=N&chunks=K&size=S[&trailer=1][&tick=M]: the answer comes from a heap timer N ms
 * after the request, as a streamed body of K chunks of S pattern bytes (pattern.h). Without
 * tick, each produce call writes one chunk; with tick, a timer releases one chunk every M ms,
 * writes it with req_stream_write from the timer and wakes the stream, and produce writes only
 * what a full buffer left over. With trailer=1 the stream ends with "X-Sum: <checksum>".
 *
 * Every entry (timer, produce, cancel) may be re-entered from inside a req_* call it makes (a
 * server may call produce from req_send_stream, or cancel from a failed write), so the state is
 * freed only by the outermost entry, once the stream ended or the request was cancelled. */
#include "t/app/testapp.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/ev.h"
#include "t/app/pattern.h"

#define LATER_SIZE_MAX (1 << 20)
#define LATER_CHUNKS_MAX 1000000

struct later {
    struct ev_timer timer; /* first: the timer callbacks cast back to the struct */
    struct req *r;
    int64_t size, total; /* chunk size, body size */
    int64_t released;    /* bytes the stream may carry so far */
    int64_t written;     /* bytes req_stream_write took */
    int64_t tick_ms;     /* 0: every chunk at once */
    uint32_t sum;
    bool trailer;
    bool waiting; /* in the delay before the response begins */
    bool writing; /* inside req_stream_write */
    bool ended, cancelled;
    int nested; /* entries running now */
};

static void
later_put(struct later *st)
{
    if (st->nested > 0 || !(st->ended || st->cancelled))
        return;
    ev_timer_disarm(&st->timer);
    free(st);
}

/* Write released bytes up to `stop` (a chunk's end, or all that is released). */
static void
later_write(struct later *st, int64_t stop)
{
    static char buf[65536];
    if (stop > st->released)
        stop = st->released;
    while (!st->cancelled && !st->ended && st->written < stop) {
        size_t n =
            stop - st->written < (int64_t)sizeof(buf) ? (size_t)(stop - st->written) : sizeof(buf);
        app_pattern_fill(buf, (uint64_t)st->written, n);
        st->writing = true;
        ssize_t w = req_stream_write(st->r, buf, n);
        st->writing = false;
        if (w <= 0) {
            if (w < 0 && !st->cancelled)
                app_count(APP_LATER_FAIL, 1);
            return;
        }
        st->sum = app_sum(st->sum, buf, (size_t)w);
        st->written += w;
    }
}

static void
later_end(struct later *st)
{
    char trailer[64];
    if (st->ended || st->cancelled || st->written < st->total)
        return;
    snprintf(trailer, sizeof(trailer), "X-Sum: %u\r\n", st->sum);
    st->ended = true;
    if (req_stream_end(st->r, st->trailer ? trailer : NULL) < 0)
        app_count(APP_LATER_FAIL, 1);
    else
        app_count(APP_LATER_END, 1);
}

static void
later_produce(struct req *r, void *arg)
{
    struct later *st = arg;
    (void)r;
    if (st->writing) {
        /* From inside our own req_stream_write (from a timer): `written` does not count the
         * bytes that call is taking yet, so writing now would repeat them. Counted, since
         * req.h promises a later call; the tick's req_stream_wake brings produce back. */
        app_count(APP_LATER_REENTERED, 1);
        return;
    }
    st->nested++;
    if (st->tick_ms > 0) {
        later_write(st, st->released);
    } else {
        /* One chunk per call: up to the end of the chunk that `written` is in. */
        int64_t chunk_end = (st->written / st->size + 1) * st->size;
        later_write(st, chunk_end < st->total ? chunk_end : st->total);
    }
    later_end(st);
    st->nested--;
    later_put(st);
}

static void
later_tick(struct ev_timer *t)
{
    struct later *st = (struct later *)t;
    st->nested++;
    st->released = st->released + st->size < st->total ? st->released + st->size : st->total;
    later_write(st, st->released);
    if (!st->cancelled && !st->ended && req_stream_wake(st->r) < 0 && !st->cancelled)
        app_count(APP_LATER_FAIL, 1);
    if (!st->cancelled && !st->ended && st->released < st->total)
        ev_timer_arm(&st->timer, ev_now() + st->tick_ms);
    st->nested--;
    later_put(st);
}

/* The delay is over: begin the response. */
static void
later_start(struct ev_timer *t)
{
    struct later *st = (struct later *)t;
    st->nested++;
    st->waiting = false;
    app_count(APP_LATER_WAITING, -1);
    st->released = st->tick_ms > 0 ? 0 : st->total;
    if (req_status(st->r, 200) < 0 || req_header_add(st->r, "X-Test", "later") < 0 ||
        req_send_stream(st->r, later_produce, st) < 0) {
        if (!st->cancelled) {
            app_count(APP_LATER_FAIL, 1);
            st->ended = true;
            req_release(st->r);
        }
    } else if (st->tick_ms > 0 && !st->cancelled && !st->ended) {
        st->timer.cb = later_tick;
        ev_timer_arm(&st->timer, ev_now() + st->tick_ms);
    }
    st->nested--;
    later_put(st);
}

static void
later_cancel(struct req *r, void *arg)
{
    struct later *st = arg;
    app_count(APP_CANCEL_LATER, 1);
    st->nested++;
    st->cancelled = true;
    if (st->waiting) {
        st->waiting = false;
        app_count(APP_LATER_WAITING, -1);
    }
    ev_timer_disarm(&st->timer);
    req_release(r);
    st->nested--;
    later_put(st);
}

static enum req_result
later_request(struct req *r)
{
    long long ms = app_query_num(r, "ms", 0), chunks = app_query_num(r, "chunks", 1);
    long long size = app_query_num(r, "size", 16), tick = app_query_num(r, "tick", 0);
    if (ms < 0 || chunks < 0 || chunks > LATER_CHUNKS_MAX || size < 1 || size > LATER_SIZE_MAX ||
        tick < 0) {
        req_error(r, 400);
        return REQ_DONE;
    }
    struct later *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        req_error(r, 503);
        return REQ_DONE;
    }
    st->r = r;
    st->size = size;
    st->total = chunks * size;
    st->tick_ms = tick;
    st->trailer = app_query_num(r, "trailer", 0) != 0;
    st->sum = APP_SUM_INIT;
    st->timer.cb = later_start;
    if (req_on_cancel(r, later_cancel, st) < 0 || ev_timer_arm(&st->timer, ev_now() + ms) < 0) {
        free(st);
        req_error(r, 500);
        return REQ_DONE;
    }
    st->waiting = true;
    app_count(APP_LATER_WAITING, 1);
    return REQ_PENDING;
}

const struct handler app_later_handler = {
    .name = "t_later",
    .verbs = APP_VERB(VERB_GET) | APP_VERB(VERB_HEAD) | APP_VERB(VERB_OPTIONS),
    .allow = "GET, HEAD, OPTIONS",
    .request = later_request,
};
