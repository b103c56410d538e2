/* Request bodies in the test application:
 *   /_t/echo   (REQ_BODY_BUFFER, max_body 64m): the body's length and checksum, and where the
 *              server kept it: "where=mem", or "where=file path=<readlink of the temp fd>";
 *   /_t/tiny   the same with max_body 1000, for the 413 side;
 *   /_t/upload (REQ_BODY_STREAM, max_body 256m): a slow consumer that pauses after each piece
 *              and resumes from a timer `delay` ms later (default 2); with stall=1 it pauses
 *              once and never resumes, so only a cancel ends it;
 *   /_t/tinyup the same with max_body 1000;
 *   /_t/refuse (REQ_BODY_STREAM): 403 at once, the body never taken. */
#include "t/app/testapp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ev.h"
#include "t/app/pattern.h"

#define ANY_BODY_VERBS                                                                             \
    (APP_VERB(VERB_GET) | APP_VERB(VERB_HEAD) | APP_VERB(VERB_POST) | APP_VERB(VERB_PUT) |         \
     APP_VERB(VERB_OPTIONS))
#define ANY_BODY_ALLOW "GET, HEAD, POST, PUT, OPTIONS"

/* ---- /_t/echo, /_t/tiny ---- */

static enum req_result
echo_request(struct req *r)
{
    static char buf[65536];
    char out[1024], path[512] = "-";
    int64_t len = req_body_length(r);
    uint32_t sum = APP_SUM_INIT;
    int fd = req_body_fd(r);
    const char *where = "mem";
    if (fd >= 0) {
        where = "file";
        for (off_t at = 0;;) {
            ssize_t n = pread(fd, buf, sizeof(buf), at);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                req_error(r, 500);
                return REQ_DONE;
            }
            if (n == 0)
                break;
            sum = app_sum(sum, buf, (size_t)n);
            at += n;
        }
        char link[64];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof(path) - 1);
        path[n > 0 ? n : 0] = '\0';
    } else {
        const char *p;
        size_t n;
        if (req_body_mem(r, &p, &n) == 0)
            sum = app_sum(sum, p, n);
        else
            where = len == 0 ? "none" : "lost";
    }
    int n = snprintf(out, sizeof(out), "len=%lld sum=%u where=%s path=%s\n", (long long)len, sum,
                     where, path);
    req_header_add(r, "Content-Type", "text/plain");
    req_send_copy(r, out, (size_t)n);
    return REQ_DONE;
}

const struct handler app_echo_handler = {
    .name = "t_echo",
    .verbs = ANY_BODY_VERBS,
    .allow = ANY_BODY_ALLOW,
    .body = REQ_BODY_BUFFER,
    .max_body = 64LL << 20,
    .request = echo_request,
};

const struct handler app_tiny_handler = {
    .name = "t_tiny",
    .verbs = ANY_BODY_VERBS,
    .allow = ANY_BODY_ALLOW,
    .body = REQ_BODY_BUFFER,
    .max_body = 1000,
    .request = echo_request,
};

/* ---- /_t/upload ---- */

struct upload {
    struct ev_timer timer; /* first: the resume timer's callback casts back */
    struct req *r;
    int64_t bytes;
    long pieces;
    long long delay_ms;
    uint32_t sum;
    bool stall, stalled;
    bool done, cancelled;
    int nested; /* entries running now; freed by the outermost once done or cancelled */
};

static void
upload_put(struct upload *st)
{
    if (st->nested > 0 || !(st->done || st->cancelled))
        return;
    ev_timer_disarm(&st->timer);
    if (st->stalled)
        app_count(APP_UPLOAD_STALLED, -1);
    free(st);
}

static void
upload_resume(struct ev_timer *t)
{
    struct upload *st = (struct upload *)t;
    st->nested++;
    if (!st->cancelled && !st->done)
        req_body_resume(st->r);
    st->nested--;
    upload_put(st);
}

static void
upload_piece(struct req *r, void *arg, const char *p, size_t n, bool last)
{
    struct upload *st = arg;
    st->nested++;
    if (n > 0) {
        st->bytes += (int64_t)n;
        st->sum = app_sum(st->sum, p, n);
        st->pieces++;
        app_count(APP_UPLOAD_PIECES, 1);
    }
    if (last) {
        char out[128];
        int len = snprintf(out, sizeof(out), "bytes=%lld sum=%u pieces=%ld\n", (long long)st->bytes,
                           st->sum, st->pieces);
        st->done = true;
        req_send_copy(r, out, (size_t)len);
    } else if (st->stall) {
        if (!st->stalled) {
            st->stalled = true;
            app_count(APP_UPLOAD_STALLED, 1);
            req_body_pause(r);
        }
        app_set_stall_bytes(st->bytes);
    } else if (st->delay_ms > 0) {
        /* A slow consumer: take nothing more for a while. */
        req_body_pause(r);
        ev_timer_arm(&st->timer, ev_now() + st->delay_ms);
    }
    st->nested--;
    upload_put(st);
}

static void
upload_cancel(struct req *r, void *arg)
{
    struct upload *st = arg;
    app_count(APP_CANCEL_UPLOAD, 1);
    st->nested++;
    st->cancelled = true;
    ev_timer_disarm(&st->timer);
    req_release(r);
    st->nested--;
    upload_put(st);
}

static enum req_result
upload_request(struct req *r)
{
    struct upload *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        req_error(r, 503);
        return REQ_DONE;
    }
    st->r = r;
    st->sum = APP_SUM_INIT;
    st->stall = app_query_num(r, "stall", 0) != 0;
    st->delay_ms = app_query_num(r, "delay", 2);
    st->timer.cb = upload_resume;
    if (req_on_cancel(r, upload_cancel, st) < 0) {
        free(st);
        req_error(r, 500);
        return REQ_DONE;
    }
    if (st->stall)
        app_set_stall_bytes(0);
    st->nested++;
    if (req_body_stream(r, upload_piece, st) < 0 && !st->cancelled && !st->done) {
        st->done = true;
        req_error(r, 500);
    }
    /* The whole body may have been handed over (and answered) inside req_body_stream. */
    enum req_result res = st->done ? REQ_DONE : REQ_PENDING;
    st->nested--;
    upload_put(st);
    return res;
}

const struct handler app_upload_handler = {
    .name = "t_upload",
    .verbs = ANY_BODY_VERBS,
    .allow = ANY_BODY_ALLOW,
    .body = REQ_BODY_STREAM,
    .max_body = 256LL << 20,
    .request = upload_request,
};

const struct handler app_tinyup_handler = {
    .name = "t_tinyup",
    .verbs = ANY_BODY_VERBS,
    .allow = ANY_BODY_ALLOW,
    .body = REQ_BODY_STREAM,
    .max_body = 1000,
    .request = upload_request,
};

/* ---- /_t/refuse ---- */

static enum req_result
refuse_request(struct req *r)
{
    req_status(r, 403);
    req_send_copy(r, "refused\n", 8);
    return REQ_DONE;
}

const struct handler app_refuse_handler = {
    .name = "t_refuse",
    .verbs = APP_VERB(VERB_POST) | APP_VERB(VERB_PUT) | APP_VERB(VERB_OPTIONS),
    .allow = "POST, PUT, OPTIONS",
    .body = REQ_BODY_STREAM,
    .max_body = 256LL << 20,
    .request = refuse_request,
};
