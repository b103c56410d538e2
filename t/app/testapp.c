/* The test application of sluice-t: handlers under /_t/ that drive every part of the
 * request/response seam (worker/req.h) from the outside, registered before main with
 * route_builtin, plus a log-phase observer and /_t/stats, which reports what they counted.
 * This file: registration, counters, query parsing, /_t/stats, and the handlers that answer
 * without a body of their own to read (hang, now, mem, fd, headers). */
#include "t/app/testapp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "t/app/pattern.h"
#include "worker/path.h"
#include "worker/route.h"

#define STATS_NAME "t_stats"
#define MEM_MAX (16 << 20)
#define HEADER_VALUE_MAX 65536
#define FD_MAX_LEN (64LL << 20)

/* ---- counters ---- */

static long counters[APP_COUNTERS];
static long long stall_bytes;
static int headers_errno, headers_fail_at = -1;

/* The log phase, as the observer saw it (requests to /_t/stats left out, so that reading the
 * counters does not move them). */
static struct {
    long total;
    long by_end[4];
    long by_status[600];
    enum req_end last_end;
    int last_status;
    char last_route[32];
    long long last_body_bytes;
    long long last_bytes_sent;
    unsigned last_seq;
    bool last_reused;
    bool last_dispatched; /* dispatch_ms != 0 */
    bool last_times_ok;   /* start_ms <= dispatch_ms (when set) <= end_ms */
} seen;

void
app_count(enum app_counter c, long delta)
{
    counters[c] += delta;
}

void
app_set_stall_bytes(long long bytes)
{
    stall_bytes = bytes;
}

void
app_set_headers_result(int err, int fail_at)
{
    headers_errno = err;
    headers_fail_at = fail_at;
}

static void
log_observe(const struct req_log *l, void *arg)
{
    (void)arg;
    if (l->route != NULL && strcmp(l->route, STATS_NAME) == 0)
        return;
    seen.total++;
    if ((unsigned)l->end < 4)
        seen.by_end[l->end]++;
    if (l->status >= 0 && l->status < 600)
        seen.by_status[l->status]++;
    seen.last_end = l->end;
    seen.last_status = l->status;
    snprintf(seen.last_route, sizeof(seen.last_route), "%s", l->route ? l->route : "-");
    seen.last_body_bytes = l->body_bytes;
    seen.last_bytes_sent = l->bytes_sent;
    seen.last_seq = l->seq;
    seen.last_reused = l->reused;
    seen.last_dispatched = l->dispatch_ms != 0;
    seen.last_times_ok =
        l->start_ms <= l->end_ms &&
        (l->dispatch_ms == 0 || (l->start_ms <= l->dispatch_ms && l->dispatch_ms <= l->end_ms));
}

/* ---- query ---- */

/* The raw value of `key` in the query, or false. */
static bool
query_find(const struct req *r, const char *key, struct http_span *value)
{
    struct http_span q = req_query(r);
    size_t klen = strlen(key);
    const char *p = q.p, *end = q.p + q.n;
    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
            value->p = p + klen + 1;
            value->n = (size_t)(stop - value->p);
            return true;
        }
        if ((size_t)(stop - p) == klen && memcmp(p, key, klen) == 0) {
            value->p = stop;
            value->n = 0;
            return true;
        }
        p = amp != NULL ? amp + 1 : NULL;
    }
    return false;
}

bool
app_query_str(const struct req *r, const char *key, char *buf, size_t cap)
{
    struct http_span v;
    size_t n = 0;
    buf[0] = '\0';
    if (!query_find(r, key, &v))
        return false;
    for (size_t i = 0; i < v.n && n + 1 < cap; i++) {
        int hi, lo;
        if (v.p[i] == '%' && i + 2 < v.n && (hi = path_hexval(v.p[i + 1])) >= 0 &&
            (lo = path_hexval(v.p[i + 2])) >= 0) {
            buf[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            buf[n++] = v.p[i] == '+' ? ' ' : v.p[i];
        }
    }
    buf[n] = '\0';
    return true;
}

long long
app_query_num(const struct req *r, const char *key, long long def)
{
    char buf[32];
    if (!app_query_str(r, key, buf, sizeof(buf)) || buf[0] == '\0')
        return def;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    return errno == 0 && *end == '\0' ? v : def;
}

/* ---- /_t/stats ---- */

static const char *const end_names[] = {"complete", "client_gone", "timeout", "error"};

static enum req_result
stats_request(struct req *r)
{
    static char out[16384];
    static const char *const names[APP_COUNTERS] = {
        [APP_CANCEL_LATER] = "cancel_later",   [APP_CANCEL_HANG] = "cancel_hang",
        [APP_CANCEL_UPLOAD] = "cancel_upload", [APP_HANG_PENDING] = "hang_pending",
        [APP_LATER_WAITING] = "later_waiting", [APP_LATER_END] = "later_end",
        [APP_LATER_FAIL] = "later_fail",       [APP_LATER_REENTERED] = "later_reentered",
        [APP_MEM_DONE] = "mem_done",           [APP_UPLOAD_STALLED] = "upload_stalled",
        [APP_UPLOAD_PIECES] = "upload_pieces",
    };
    size_t n = 0;
#define OUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(out + n, sizeof(out) - n, __VA_ARGS__);                                  \
        if (w_ > 0 && (size_t)w_ < sizeof(out) - n)                                                \
            n += (size_t)w_;                                                                       \
    } while (0)
    OUT("sluice-t stats pid=%d\n", (int)getpid());
    OUT("cancels=%ld\n",
        counters[APP_CANCEL_LATER] + counters[APP_CANCEL_HANG] + counters[APP_CANCEL_UPLOAD]);
    for (int i = 0; i < APP_COUNTERS; i++)
        OUT("%s=%ld\n", names[i], counters[i]);
    OUT("upload_stall_bytes=%lld\n", stall_bytes);
    OUT("headers_errno=%d\nheaders_fail_at=%d\n", headers_errno, headers_fail_at);
    OUT("log_total=%ld\n", seen.total);
    for (int i = 0; i < 4; i++)
        OUT("log_%s=%ld\n", end_names[i], seen.by_end[i]);
    for (int i = 0; i < 600; i++)
        if (seen.by_status[i] != 0)
            OUT("log_status_%d=%ld\n", i, seen.by_status[i]);
    OUT("last_end=%s\nlast_status=%d\nlast_route=%s\nlast_body_bytes=%lld\n"
        "last_bytes_sent=%lld\n",
        (unsigned)seen.last_end < 4 ? end_names[seen.last_end] : "?", seen.last_status,
        seen.last_route[0] ? seen.last_route : "-", seen.last_body_bytes, seen.last_bytes_sent);
    OUT("last_seq=%u\nlast_reused=%d\nlast_dispatched=%d\nlast_times_ok=%d\n", seen.last_seq,
        seen.last_reused, seen.last_dispatched, seen.last_times_ok);
#undef OUT
    req_header_add(r, "Content-Type", "text/plain");
    req_header_add(r, "Cache-Control", "no-store");
    req_send_copy(r, out, n);
    return REQ_DONE;
}

/* ---- /_t/hang: pending until the request ends without us ---- */

static void
hang_cancel(struct req *r, void *arg)
{
    (void)arg;
    app_count(APP_CANCEL_HANG, 1);
    app_count(APP_HANG_PENDING, -1);
    req_release(r);
}

static enum req_result
hang_request(struct req *r)
{
    if (req_on_cancel(r, hang_cancel, NULL) < 0) {
        req_error(r, 500);
        return REQ_DONE;
    }
    app_count(APP_HANG_PENDING, 1);
    return REQ_PENDING;
}

/* ---- /_t/now?status=N&body=TEXT ---- */

static enum req_result
now_request(struct req *r)
{
    static char body[4096];
    long long status = app_query_num(r, "status", 200);
    if (!app_query_str(r, "body", body, sizeof(body)))
        snprintf(body, sizeof(body), "now\n");
    if (req_status(r, (int)status) < 0) {
        req_error(r, 500);
        return REQ_DONE;
    }
    req_header_add(r, "X-Test", "now");
    req_send_copy(r, body, strlen(body));
    return REQ_DONE;
}

/* ---- /_t/mem?size=N: a borrowed body, whose done callback is counted ---- */

static char mem_body[MEM_MAX];
static bool mem_filled;

static void
mem_done(void *arg)
{
    (void)arg;
    app_count(APP_MEM_DONE, 1);
}

static enum req_result
mem_request(struct req *r)
{
    long long size = app_query_num(r, "size", 4096);
    if (size < 0 || size > MEM_MAX) {
        req_error(r, 400);
        return REQ_DONE;
    }
    if (!mem_filled) {
        app_pattern_fill(mem_body, 0, sizeof(mem_body));
        mem_filled = true;
    }
    req_send_mem(r, mem_body, (size_t)size, mem_done, NULL);
    return REQ_DONE;
}

/* ---- /_t/fd?off=A&len=B[&short=C]: a range of a memfd holding the pattern; with short, the
 * file ends C bytes before the range does (a file that shrank) ---- */

static enum req_result
fd_request(struct req *r)
{
    static char buf[65536];
    long long off = app_query_num(r, "off", 0), len = app_query_num(r, "len", 4096);
    long long size = off + len - app_query_num(r, "short", 0);
    if (off < 0 || len < 0 || off + len > FD_MAX_LEN || size < 0 || size > off + len) {
        req_error(r, 400);
        return REQ_DONE;
    }
    int fd = memfd_create("sluice-t-fd", MFD_CLOEXEC);
    if (fd < 0) {
        req_error(r, 500);
        return REQ_DONE;
    }
    for (long long at = 0; at < size;) {
        size_t n = size - at < (long long)sizeof(buf) ? (size_t)(size - at) : sizeof(buf);
        app_pattern_fill(buf, (uint64_t)at, n);
        ssize_t w = pwrite(fd, buf, n, at);
        if (w <= 0) {
            close(fd);
            req_error(r, 500);
            return REQ_DONE;
        }
        at += w;
    }
    req_send_fd(r, fd, (off_t)off, (off_t)len);
    return REQ_DONE;
}

/* ---- /_t/headers?n=N&size=S: N header fields of S bytes; the first failure is kept ---- */

static enum req_result
headers_request(struct req *r)
{
    static char value[HEADER_VALUE_MAX + 1];
    long long count = app_query_num(r, "n", 1), size = app_query_num(r, "size", 10);
    if (count < 0 || count > 10000 || size < 1 || size > HEADER_VALUE_MAX) {
        req_error(r, 400);
        return REQ_DONE;
    }
    memset(value, 'v', (size_t)size);
    value[size] = '\0';
    int err = 0, fail_at = -1, added = 0;
    for (int i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof(name), "X-H%d", i);
        if (req_header_add(r, name, value) == 0) {
            added++;
        } else if (fail_at < 0) {
            err = errno;
            fail_at = i;
        }
    }
    app_set_headers_result(err, fail_at);
    char body[128];
    int n = snprintf(body, sizeof(body), "added=%d errno=%d fail_at=%d\n", added, err, fail_at);
    req_send_copy(r, body, (size_t)n);
    return REQ_DONE;
}

/* ---- registration ---- */

#define GET_HEAD (APP_VERB(VERB_GET) | APP_VERB(VERB_HEAD) | APP_VERB(VERB_OPTIONS))

static const struct handler stats_handler = {
    .name = STATS_NAME,
    .verbs = GET_HEAD,
    .allow = "GET, HEAD, OPTIONS",
    .request = stats_request,
};
static const struct handler hang_handler = {
    .name = "t_hang",
    .verbs = GET_HEAD | APP_VERB(VERB_POST),
    .allow = "GET, HEAD, POST, OPTIONS",
    .request = hang_request,
};
static const struct handler now_handler = {
    .name = "t_now",
    .verbs = GET_HEAD,
    .allow = "GET, HEAD, OPTIONS",
    .request = now_request,
};
static const struct handler mem_handler = {
    .name = "t_mem",
    .verbs = GET_HEAD,
    .allow = "GET, HEAD, OPTIONS",
    .request = mem_request,
};
static const struct handler fd_handler = {
    .name = "t_fd",
    .verbs = GET_HEAD,
    .allow = "GET, HEAD, OPTIONS",
    .request = fd_request,
};
static const struct handler headers_handler = {
    .name = "t_headers",
    .verbs = GET_HEAD,
    .allow = "GET, HEAD, OPTIONS",
    .request = headers_request,
};

__attribute__((constructor)) static void
testapp_register(void)
{
    static const struct {
        const char *path;
        const struct handler *h;
    } table[] = {
        {"/_t/stats", &stats_handler},
        {"/_t/hang", &hang_handler},
        {"/_t/now", &now_handler},
        {"/_t/mem", &mem_handler},
        {"/_t/fd", &fd_handler},
        {"/_t/headers", &headers_handler},
        {"/_t/later", &app_later_handler},
        {"/_t/echo", &app_echo_handler},
        {"/_t/tiny", &app_tiny_handler},
        {"/_t/upload", &app_upload_handler},
        {"/_t/tinyup", &app_tinyup_handler},
        {"/_t/refuse", &app_refuse_handler},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (route_builtin(table[i].path, table[i].h, NULL, true) < 0) {
            dprintf(2, "sluice-t: route_builtin %s: %s\n", table[i].path, strerror(errno));
            _exit(70);
        }
    }
    if (req_log_add(log_observe, NULL) < 0) {
        dprintf(2, "sluice-t: req_log_add: %s\n", strerror(errno));
        _exit(70);
    }
}
