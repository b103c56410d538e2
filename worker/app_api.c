/* The public API of application modules (include/sluice.h) over the request/response seam
 * (req.h) and the worker's loop (ev.h). A struct sl_req is a struct req, a struct sl_app a
 * struct app: no copy, no lookup. Every callback into a module goes through a trampoline that
 * marks which application runs (app_enter). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/log.h"
#include "include/sluice.h"
#include "worker/app.h"
#include "worker/range.h"
#include "worker/req.h"

#define R(req) ((struct req *)(req))
#define CR(req) ((const struct req *)(req))

/* A seam call's -1 and errno as an sl_code. */
static int
code(int rc)
{
    if (rc >= 0)
        return SL_OK;
    switch (errno) {
    case EINVAL:
        return SL_EINVAL;
    case ECANCELED:
        return SL_ECANCELED;
    case EALREADY:
        return SL_EALREADY;
    case ENOSPC:
        return SL_ENOSPC;
    case ENOMEM:
        return SL_ENOMEM;
    default:
        return SL_EIO;
    }
}

static struct sl_str
str(struct http_span s)
{
    return (struct sl_str){s.n ? s.p : (s.p ? s.p : ""), s.n};
}

/* ---- The application ---- */

void
sl_app_set_data(struct sl_app *app, void *data)
{
    if (app)
        ((struct app *)app)->data = data;
}

void *
sl_app_data(const struct sl_app *app)
{
    return app ? ((const struct app *)app)->data : NULL;
}

const char *
sl_app_name(const struct sl_app *app)
{
    return app ? ((const struct app *)app)->sec->name : NULL;
}

int
sl_worker_slot(void)
{
    return app_slot();
}

unsigned
sl_worker_generation(void)
{
    return app_generation();
}

void
sl_log(const struct sl_app *app, enum sl_log_level level, const char *fmt, ...)
{
    static const enum cfg_log_level map[] = {LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_NOTICE,
                                             LOG_LVL_WARN, LOG_LVL_ERROR};
    char line[1024];
    enum cfg_log_level lvl = (unsigned)level < 5 ? map[level] : LOG_LVL_ERROR;
    va_list ap;
    if (fmt == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    const struct app *a = app ? (const struct app *)app : app_current();
    if (a)
        LOG_AT(lvl, 0, "app \"%s\": %s", a->sec->name, line);
    else
        LOG_AT(lvl, 0, "app: %s", line);
}

/* ---- The request ---- */

struct sl_app *
sl_req_app(const struct sl_req *req)
{
    return (struct sl_app *)req_route_data(CR(req));
}

struct sl_str
sl_req_method(const struct sl_req *req)
{
    return str(req_method(CR(req)));
}

struct sl_str
sl_req_target(const struct sl_req *req)
{
    return str(req_target(CR(req)));
}

struct sl_str
sl_req_path(const struct sl_req *req)
{
    return str(req_path(CR(req)));
}

struct sl_str
sl_req_query(const struct sl_req *req)
{
    return str(req_query(CR(req)));
}

int
sl_req_http_minor(const struct sl_req *req)
{
    return (int)req_http_minor(CR(req));
}

struct sl_str
sl_req_header(const struct sl_req *req, const char *name)
{
    const struct http_span *v = name ? req_header(CR(req), name) : NULL;
    return v ? str(*v) : (struct sl_str){NULL, 0};
}

int
sl_req_header_next(const struct sl_req *req, int *i, struct sl_str *name, struct sl_str *value)
{
    struct http_span n, v;
    if (i == NULL || !req_header_next(CR(req), i, &n, &v))
        return 0;
    if (name)
        *name = str(n);
    if (value)
        *value = str(v);
    return 1;
}

int
sl_req_remote(const struct sl_req *req, struct sockaddr_storage *addr, socklen_t *len)
{
    if (addr == NULL || len == NULL)
        return SL_EINVAL;
    return req_peer(CR(req), addr, len) < 0 ? SL_ENOENT : SL_OK;
}

int
sl_req_remote_text(const struct sl_req *req, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (buf == NULL || len == 0)
        return SL_EINVAL;
    if (req_peer(CR(req), &ss, &sl) < 0)
        return SL_ENOENT;
    const void *a = ss.ss_family == AF_INET
                        ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    return inet_ntop(ss.ss_family, a, buf, (socklen_t)len) ? SL_OK : SL_EINVAL;
}

int
sl_req_tls(const struct sl_req *req)
{
    return req_tls(CR(req)) ? 1 : 0;
}

int64_t
sl_req_body_length(const struct sl_req *req)
{
    return req_body_length(CR(req));
}

int
sl_req_body(const struct sl_req *req, struct sl_str *out)
{
    const char *p;
    size_t n;
    if (out == NULL)
        return SL_EINVAL;
    *out = (struct sl_str){NULL, 0};
    if (req_body_mem(CR(req), &p, &n) < 0)
        return SL_ENOENT;
    *out = (struct sl_str){p, n};
    return SL_OK;
}

int
sl_req_body_fd(const struct sl_req *req)
{
    return req_body_fd(CR(req));
}

/* ---- The response ---- */

int
sl_resp_status(struct sl_req *req, int status)
{
    if (status < 200 || status > 599) {
        errno = EINVAL;
        return SL_EINVAL;
    }
    return code(req_status(R(req), status));
}

int
sl_resp_header(struct sl_req *req, const char *name, const char *value)
{
    if (name == NULL || value == NULL)
        return SL_EINVAL;
    return code(req_header_add(R(req), name, value));
}

int
sl_resp_send(struct sl_req *req, const void *body, size_t len)
{
    if (body == NULL && len > 0) {
        req_error(R(req), 500);
        return SL_EINVAL;
    }
    return code(req_send_copy(R(req), body ? body : "", len));
}

/* A borrowed body's done callback, run as the module's code. */
struct borrowed {
    void (*done)(void *arg);
    void *arg;
    struct app *app;
};

static void
borrowed_done(void *arg)
{
    struct borrowed b = *(struct borrowed *)arg;
    free(arg);
    struct app *prev = app_enter(b.app);
    b.done(b.arg);
    app_leave(prev);
}

int
sl_resp_send_borrowed(struct sl_req *req, const void *body, size_t len, void (*done)(void *arg),
                      void *arg)
{
    if (body == NULL && len > 0) {
        if (done)
            done(arg);
        req_error(R(req), 500);
        return SL_EINVAL;
    }
    struct borrowed *b = done ? malloc(sizeof(*b)) : NULL;
    if (done && b == NULL) /* no mark, but no leak: the module's callback as it is */
        return code(req_send_mem(R(req), body ? body : "", len, done, arg));
    if (b)
        *b = (struct borrowed){done, arg, req_route_data(R(req))};
    return code(req_send_mem(R(req), body ? body : "", len, b ? borrowed_done : NULL, b));
}

/* The Range header against a file of `size` bytes: 0 with the one range to send, 1 for the
 * whole file, or 416. Several ranges are answered with the whole file (a multipart body is the
 * static handler's). */
static int
file_range(struct sl_req *req, off_t size, off_t *off, off_t *len)
{
    struct sl_str v = sl_req_header(req, "Range");
    struct range rg[1];
    int n = 0;
    *off = 0;
    *len = size;
    if (v.ptr == NULL || sl_req_header(req, "If-Range").ptr)
        return 1;
    switch (range_parse(v.ptr, v.len, size, rg, 1, &n)) {
    case RANGE_OK:
        *off = rg[0].first;
        *len = rg[0].last - rg[0].first + 1;
        return 0;
    case RANGE_UNSATISFIABLE:
        return 416;
    default:
        return 1;
    }
}

int
sl_resp_send_file(struct sl_req *req, int fd, const char *content_type)
{
    struct stat st;
    off_t off, len;
    char value[96];
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        sl_resp_error(req, 500);
        return SL_EINVAL;
    }
    /* The status line is written first (req.h): a module that began the response itself
     * (a status or a field) gets the whole file under its own status. */
    int r = file_range(req, st.st_size, &off, &len);
    if (r != 1 && req_status(R(req), r == 416 ? 416 : 206) < 0) {
        r = 1;
        off = 0;
        len = st.st_size;
    }
    /* A failed step leaves the rest to the finishing call: after a cancel it lets go, past
     * max_response_header it answers 500. */
    int rc = req_header_add(R(req), "Accept-Ranges", "bytes");
    if (rc == 0)
        rc = req_header_add(R(req), "Content-Type",
                            content_type ? content_type : "application/octet-stream");
    if (rc == 0 && r != 1) {
        if (r == 416)
            snprintf(value, sizeof(value), "bytes */%lld", (long long)st.st_size);
        else
            snprintf(value, sizeof(value), "bytes %lld-%lld/%lld", (long long)off,
                     (long long)(off + len - 1), (long long)st.st_size);
        rc = req_header_add(R(req), "Content-Range", value);
    }
    int first = rc < 0 ? code(rc) : SL_OK;
    int sent;
    if (r == 416) {
        close(fd);
        sent = code(req_send_copy(R(req), "", 0));
    } else {
        sent = code(req_send_fd(R(req), fd, off, len));
    }
    return first ? first : sent;
}

int
sl_resp_error(struct sl_req *req, int status)
{
    if (status < 400 || status > 599) {
        req_error(R(req), 500);
        return SL_EINVAL;
    }
    return code(req_error(R(req), status));
}

int
sl_req_release(struct sl_req *req)
{
    req_release(R(req));
    return SL_OK;
}

/* The module's cancel callback, kept in the request's handler word, run as its code. */
static void
cancel_tramp(struct req *r, void *arg)
{
    sl_cancel_cb *cb = (sl_cancel_cb *)req_word(r);
    struct app *prev = app_enter(req_route_data(r));
    if (cb)
        cb((struct sl_req *)r, arg);
    app_leave(prev);
}

int
sl_req_on_cancel(struct sl_req *req, sl_cancel_cb *cb, void *arg)
{
    if (req_on_cancel(R(req), cb ? cancel_tramp : NULL, arg) < 0)
        return code(-1);
    req_set_word(R(req), (void *)cb);
    return SL_OK;
}

/* ---- Timers ---- */

struct sl_timer {
    struct ev_timer t; /* first: the loop hands this back */
    sl_timer_cb *cb;
    void *arg;
    struct app *app;
};

static void
timer_fired(struct ev_timer *t)
{
    struct sl_timer st = *(struct sl_timer *)t;
    free(t);
    struct app *prev = app_enter(st.app);
    st.cb(st.arg);
    app_leave(prev);
}

struct sl_timer *
sl_timer_add(uint64_t ms, sl_timer_cb *cb, void *arg)
{
    if (cb == NULL || ms > (uint64_t)INT64_MAX / 2) {
        errno = EINVAL;
        return NULL;
    }
    struct sl_timer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->t.cb = timer_fired;
    t->cb = cb;
    t->arg = arg;
    t->app = app_current();
    if (ev_timer_arm(&t->t, ev_now() + (int64_t)ms) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

int
sl_timer_cancel(struct sl_timer *t)
{
    if (t == NULL)
        return SL_EINVAL;
    ev_timer_disarm(&t->t);
    free(t);
    return SL_OK;
}

/* ---- Watched descriptors ---- */

struct sl_watch {
    struct ev_io io; /* first: the loop hands this back */
    sl_watch_cb *cb;
    void *arg;
    struct app *app;
    struct sl_watch *next_dead;
    bool dead;
};

/* Cancelled watches wait for the next before-sleep phase: an event for one may still be in the
 * batch being dispatched (ev.h). */
static struct sl_watch *dead_watches;
static bool reaper_added;

static void
reap_watches(void *unused)
{
    (void)unused;
    while (dead_watches) {
        struct sl_watch *w = dead_watches;
        dead_watches = w->next_dead;
        free(w);
    }
}

static void
watch_ready(struct ev_io *io, uint32_t events)
{
    struct sl_watch *w = (struct sl_watch *)io;
    if (w->dead)
        return;
    unsigned ev = events & (SL_READ | SL_WRITE);
    if (events & (EPOLLERR | EPOLLHUP))
        ev |= SL_ERROR;
    struct app *prev = app_enter(w->app);
    w->cb(w->io.fd, ev, w->arg);
    app_leave(prev);
}

struct sl_watch *
sl_watch_fd(int fd, unsigned events, sl_watch_cb *cb, void *arg)
{
    if (fd < 0 || cb == NULL || (events & ~(SL_READ | SL_WRITE)) || events == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (!reaper_added) {
        if (ev_hook_add(EV_BEFORE_SLEEP, reap_watches, NULL) < 0)
            return NULL;
        reaper_added = true;
    }
    struct sl_watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    *w = (struct sl_watch){
        .io = {.fd = fd, .cb = watch_ready}, .cb = cb, .arg = arg, .app = app_current()};
    if (ev_set(&w->io, events) < 0) {
        free(w);
        return NULL;
    }
    return w;
}

int
sl_watch_change(struct sl_watch *w, unsigned events)
{
    if (w == NULL || w->dead || (events & ~(SL_READ | SL_WRITE)) || events == 0)
        return SL_EINVAL;
    return ev_set(&w->io, events) < 0 ? SL_EIO : SL_OK;
}

int
sl_watch_cancel(struct sl_watch *w)
{
    if (w == NULL || w->dead)
        return SL_EINVAL;
    if (w->io.events)
        ev_set(&w->io, 0);
    w->dead = true;
    w->next_dead = dead_watches;
    dead_watches = w;
    return SL_OK;
}
