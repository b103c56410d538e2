/* The access log (see accesslog.h): the line formats, and the worker's buffer and descriptor.
 * Formatting writes digits and escapes by hand, into space the caller sized with
 * accesslog_bound: a line costs no snprintf and no bounds check per byte. */
#include "worker/accesslog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/utf8.h"
#include "worker/req.h"

#define WARN_EVERY_MS 60000 /* a failing log says so at most this often */

static const char hex[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF"; /* nginx's \xXX */

/* ---- Appenders: each returns the position after what it wrote ---- */

static char *
put_mem(char *o, const char *p, size_t n)
{
    memcpy(o, p, n);
    return o + n;
}

static char *
put_str(char *o, const char *s)
{
    return put_mem(o, s, strlen(s));
}

static char *
put_u64(char *o, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o++ = tmp[--n];
    return o;
}

static char *
put_i64(char *o, int64_t v)
{
    if (v < 0) {
        *o++ = '-';
        return put_u64(o, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(o, (uint64_t)v);
}

static char *
put_2(char *o, unsigned v)
{
    o[0] = (char)('0' + v / 10 % 10);
    o[1] = (char)('0' + v % 10);
    return o + 2;
}

/* nginx's access log escaping: '"', '\', control bytes and bytes from 0x7f as \xXX. */
static char *
put_combined(char *o, struct http_span s)
{
    if (s.p == NULL || s.n == 0)
        return put_mem(o, "-", 1);
    for (size_t i = 0; i < s.n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex_upper[ch >> 4];
            *o++ = hex_upper[ch & 15];
        } else {
            *o++ = (char)ch;
        }
    }
    return o;
}

static char *
put_u00(char *o, unsigned char ch)
{
    o = put_mem(o, "\\u00", 4);
    *o++ = hex[ch >> 4];
    *o++ = hex[ch & 15];
    return o;
}

/* A JSON string, quotes included: valid UTF-8 as it is, every other byte from 0x80 (and
 * control bytes and DEL) as \u00XX. Unknown: "-". */
static char *
put_json(char *o, struct http_span s)
{
    if (s.p == NULL)
        return put_mem(o, "\"-\"", 3);
    const unsigned char *p = (const unsigned char *)s.p;
    *o++ = '"';
    for (size_t i = 0; i < s.n;) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = (char)ch;
            i++;
        } else if (ch < 0x20 || ch == 0x7f) {
            o = put_u00(o, ch);
            i++;
        } else if (ch < 0x80) {
            *o++ = (char)ch;
            i++;
        } else {
            size_t len = utf8_len(p + i, s.n - i);
            if (len == 0) {
                o = put_u00(o, ch);
                i++;
            } else {
                o = put_mem(o, s.p + i, len);
                i += len;
            }
        }
    }
    *o++ = '"';
    return o;
}

static struct http_span
span_of(const char *s, size_t max)
{
    return (struct http_span){s, s ? strnlen(s, max) : 0};
}

/* ---- The formats ---- */

size_t
accesslog_bound(const struct accesslog_entry *e)
{
    /* 6 bytes per byte at worst (\u00XX), for every string. */
    size_t strings = e->method.n + e->target.n + e->referer.n + e->user_agent.n +
                     strnlen(e->remote, ACCESSLOG_REMOTE_MAX) +
                     (e->route ? strnlen(e->route, ACCESSLOG_ROUTE_MAX) : 0);
    return ACCESSLOG_FIXED + 6 * strings;
}

size_t
accesslog_line_max(const struct cfg *cfg)
{
    /* The request line and every field are within max_header_size; method names are short. */
    return ACCESSLOG_FIXED +
           6 * ((size_t)cfg->max_header_size + 32 + ACCESSLOG_REMOTE_MAX + ACCESSLOG_ROUTE_MAX);
}

static size_t
format_json(char *out, const struct accesslog_entry *e)
{
    char *o = put_mem(out, "{\"time\":\"", 9);
    o = put_mem(o, e->time_iso, ACCESSLOG_TIME_ISO);
    o = put_mem(o, "\",\"remote\":", 11);
    o = put_json(o, span_of(e->remote, ACCESSLOG_REMOTE_MAX));
    o = put_mem(o, ",\"method\":", 10);
    o = put_json(o, e->method);
    o = put_mem(o, ",\"target\":", 10);
    o = put_json(o, e->target);
    o = put_mem(o, ",\"status\":", 10);
    o = put_i64(o, e->status);
    o = put_mem(o, ",\"bytes\":", 9);
    o = put_i64(o, e->bytes);
    o = put_mem(o, ",\"duration_us\":", 15);
    o = put_i64(o, e->duration_us);
    o = put_str(o, e->tls ? ",\"tls\":true" : ",\"tls\":false");
    o = put_mem(o, ",\"worker\":", 10);
    o = put_i64(o, e->worker);
    o = put_mem(o, ",\"generation\":", 14);
    o = put_u64(o, e->generation);
    o = put_mem(o, ",\"route\":", 9);
    if (e->route)
        o = put_json(o, span_of(e->route, ACCESSLOG_ROUTE_MAX));
    else
        o = put_mem(o, "null", 4);
    o = put_mem(o, "}\n", 2);
    return (size_t)(o - out);
}

/* $remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer"
 * "$http_user_agent" */
static size_t
format_combined(char *out, const struct accesslog_entry *e)
{
    char *o = put_combined(out, span_of(e->remote, ACCESSLOG_REMOTE_MAX));
    o = put_mem(o, " - - [", 6);
    o = put_mem(o, e->time_local, ACCESSLOG_TIME_LOCAL);
    o = put_mem(o, "] \"", 3);
    if (e->method.p == NULL || e->target.p == NULL) {
        *o++ = '-';
    } else {
        o = put_combined(o, e->method);
        *o++ = ' ';
        o = put_combined(o, e->target);
        o = put_mem(o, " HTTP/1.", 8);
        *o++ = (char)('0' + (e->http_minor ? 1 : 0));
    }
    o = put_mem(o, "\" ", 2);
    o = put_i64(o, e->status);
    *o++ = ' ';
    o = put_i64(o, e->body_bytes);
    o = put_mem(o, " \"", 2);
    o = put_combined(o, e->referer);
    o = put_mem(o, "\" \"", 3);
    o = put_combined(o, e->user_agent);
    o = put_mem(o, "\"\n", 2);
    return (size_t)(o - out);
}

size_t
accesslog_format(char *out, int format, const struct accesslog_entry *e)
{
    return format == CFG_ACCESS_JSON ? format_json(out, e) : format_combined(out, e);
}

void
accesslog_time_iso(char *out, int64_t ms)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char *o = put_u64(out, (uint64_t)(tm.tm_year + 1900) % 10000);
    *o++ = '-';
    o = put_2(o, (unsigned)tm.tm_mon + 1);
    *o++ = '-';
    o = put_2(o, (unsigned)tm.tm_mday);
    *o++ = 'T';
    o = put_2(o, (unsigned)tm.tm_hour);
    *o++ = ':';
    o = put_2(o, (unsigned)tm.tm_min);
    *o++ = ':';
    o = put_2(o, (unsigned)tm.tm_sec);
    *o++ = '.';
    unsigned frac = (unsigned)(ms % 1000);
    *o++ = (char)('0' + frac / 100);
    o = put_2(o, frac % 100);
    *o = 'Z';
}

void
accesslog_time_local(char *out, const struct tm *tm, long gmtoff)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char *o = put_2(out, (unsigned)tm->tm_mday);
    *o++ = '/';
    o = put_mem(o, months + 3 * (tm->tm_mon % 12), 3);
    *o++ = '/';
    o = put_u64(o, (uint64_t)(tm->tm_year + 1900) % 10000);
    *o++ = ':';
    o = put_2(o, (unsigned)tm->tm_hour);
    *o++ = ':';
    o = put_2(o, (unsigned)tm->tm_min);
    *o++ = ':';
    o = put_2(o, (unsigned)tm->tm_sec);
    *o++ = ' ';
    *o++ = gmtoff < 0 ? '-' : '+';
    unsigned long off = (unsigned long)(gmtoff < 0 ? -gmtoff : gmtoff) / 60;
    o = put_2(o, (unsigned)(off / 60));
    put_2(o, (unsigned)(off % 60));
}

/* ---- The worker's log ---- */

static struct {
    int fd; /* -1: off */
    int format;
    char *buf;
    size_t cap;       /* bytes allocated: at least the longest line */
    size_t buffer;    /* access_log_buffer */
    size_t threshold; /* more than this is written: buffer, at most `atomic` */
    size_t atomic;    /* the most one write may carry (PIPE_BUF on a pipe), SIZE_MAX */
    size_t len;
    int slot;
    unsigned generation;
    struct ev_timer timer; /* armed while the buffer holds lines */
    int64_t warned_ms;     /* last failure logged (rate limit), 0 = never */
    int64_t clock_ms;      /* ev_now() of the cached times below, -1 = none */
    int64_t sec;           /* wall-clock second of time_local */
    char time_iso[ACCESSLOG_TIME_ISO];
    char time_local[ACCESSLOG_TIME_LOCAL];
} alog = {.fd = -1, .clock_ms = -1, .sec = -1};

/* One write, and one more for the rest when it was short or interrupted (EINTR, EAGAIN on a
 * non-blocking stdout). Whatever did not go out is dropped, with a rate-limited warning: a
 * full disk must not fill the worker's memory or stop it serving. */
static void
write_out(const char *p, size_t n)
{
    size_t done = 0;
    for (int attempt = 0; attempt < 2 && done < n; attempt++) {
        ssize_t w = write(alog.fd, p + done, n - done);
        if (w > 0)
            done += (size_t)w;
        else if (w < 0 && errno != EINTR && errno != EAGAIN)
            break;
    }
    if (done == n)
        return;
    int64_t now = ev_now();
    if (alog.warned_ms == 0 || now - alog.warned_ms >= WARN_EVERY_MS) {
        log_warn("access_log: %zu bytes of lines dropped (wrote %zu of %zu)", n - done, done, n);
        alog.warned_ms = now;
    }
}

void
accesslog_flush(void)
{
    if (alog.len && alog.fd >= 0)
        write_out(alog.buf, alog.len);
    alog.len = 0;
    ev_timer_disarm(&alog.timer);
}

void
accesslog_fini(void)
{
    accesslog_flush();
    if (alog.fd >= 0)
        close(alog.fd);
    free(alog.buf);
    alog.buf = NULL;
    alog.fd = -1;
}

static void
on_flush_timer(struct ev_timer *t)
{
    (void)t;
    accesslog_flush();
}

/* Writes to `fd` from here on. A pipe (stdout read by a collector) takes a write of up to
 * PIPE_BUF bytes whole; a longer one may interleave with another worker's, cutting lines. */
static void
set_fd(int fd, size_t buffer)
{
    struct stat st;
    bool pipe = fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
    alog.fd = fd;
    alog.atomic = pipe ? PIPE_BUF : SIZE_MAX;
    alog.threshold = buffer < alog.atomic ? buffer : alog.atomic;
}

void
accesslog_adopt(int fd)
{
    if (alog.fd < 0) {
        close(fd); /* not logging: a descriptor this worker has no use for */
        return;
    }
    accesslog_flush();
    close(alog.fd);
    set_fd(fd, alog.buffer);
}

/* The wall-clock times of lines ended in this turn of the loop: read once per turn (a vDSO
 * call, no system call), formatted again only when they change. */
static void
refresh_times(void)
{
    if (alog.clock_ms == ev_now())
        return;
    alog.clock_ms = ev_now();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    accesslog_time_iso(alog.time_iso, ms);
    if (ts.tv_sec != alog.sec) {
        struct tm tm;
        alog.sec = ts.tv_sec;
        localtime_r(&ts.tv_sec, &tm);
        accesslog_time_local(alog.time_local, &tm, tm.tm_gmtoff);
    }
}

void
accesslog_ipv4(char *out, const unsigned char *a)
{
    for (int i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100)
            *out++ = (char)('0' + v / 100);
        if (v >= 10)
            *out++ = (char)('0' + v / 10 % 10);
        *out++ = (char)('0' + v % 10);
        *out++ = i < 3 ? '.' : '\0';
    }
}

/* The client's address as text into remote (ACCESSLOG_REMOTE_MAX); "-" when unknown. */
static void
remote_text(const struct req_log *l, char *remote)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    const void *addr = NULL;
    if (req_log_peer(l, &ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            accesslog_ipv4(remote, (const unsigned char *)&((struct sockaddr_in *)&ss)->sin_addr);
            return;
        }
        if (ss.ss_family == AF_INET6)
            addr = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
    }
    if (addr == NULL || inet_ntop(ss.ss_family, addr, remote, ACCESSLOG_REMOTE_MAX) == NULL)
        strcpy(remote, "-");
}

static struct http_span
field(const struct req *r, const char *name)
{
    const struct http_span *v = req_header(r, name);
    return v ? *v : (struct http_span){NULL, 0};
}

/* The buffer takes e's line. When that takes it past access_log_buffer, everything in it (the
 * line included) is written at once, in one write: a line longer than the buffer goes out
 * directly. On a pipe the lines waiting go first, so no write is longer than PIPE_BUF unless
 * one line is. */
static void
append(const struct accesslog_entry *e)
{
    if (alog.len + accesslog_bound(e) > alog.cap)
        accesslog_flush(); /* cannot happen with the line's room above the threshold; kept */
    if (accesslog_bound(e) > alog.cap)
        return; /* past every limit the config allows: cannot be */
    size_t before = alog.len;
    size_t n = accesslog_format(alog.buf + before, alog.format, e);
    alog.len += n;
    if (alog.len > alog.threshold && alog.len > alog.atomic && before > 0) {
        write_out(alog.buf, before);
        memmove(alog.buf, alog.buf + before, n);
        alog.len = n;
    }
    if (alog.len > alog.threshold) {
        accesslog_flush();
        return;
    }
    if (!ev_timer_armed(&alog.timer))
        ev_timer_arm(&alog.timer, ev_now() + ACCESSLOG_FLUSH_MS);
}

static void
on_request(const struct req_log *l, void *arg)
{
    (void)arg;
    if (alog.fd < 0)
        return;
    char remote[ACCESSLOG_REMOTE_MAX];
    refresh_times();
    remote_text(l, remote);
    struct accesslog_entry e = {
        .time_iso = alog.time_iso,
        .time_local = alog.time_local,
        .remote = remote,
        .status = l->status,
        .bytes = l->bytes_sent,
        .body_bytes = l->bytes_sent - l->header_bytes,
        .duration_us = l->duration_us,
        .tls = l->tls,
        .worker = alog.slot,
        .generation = alog.generation,
        .route = l->route,
    };
    if (l->parsed && l->req) {
        e.method = req_method(l->req);
        e.target = req_target(l->req);
        e.http_minor = req_http_minor(l->req);
        e.referer = field(l->req, "Referer");
        e.user_agent = field(l->req, "User-Agent");
    }
    append(&e);
}

int
accesslog_init(const struct cfg *cfg, int fd, int slot, unsigned generation)
{
    if (fd < 0)
        return 0;
    size_t line_max = accesslog_line_max(cfg);
    alog.buffer = (size_t)cfg->access_log_buffer;
    /* The room for one more line above the threshold: a line is formatted in place, then
     * written with what precedes it when the two are past the threshold. */
    alog.cap = alog.buffer + line_max;
    if ((alog.buf = malloc(alog.cap)) == NULL)
        return -1;
    if (req_log_add(on_request, NULL) < 0) {
        free(alog.buf);
        alog.buf = NULL;
        return -1;
    }
    set_fd(fd, alog.buffer);
    alog.format = cfg->access_log_format;
    alog.slot = slot;
    alog.generation = generation;
    alog.timer = (struct ev_timer){.cb = on_flush_timer};
    /* The timer heap grows on the first arm: here, never on the request path. */
    if (ev_timer_arm(&alog.timer, ev_now() + ACCESSLOG_FLUSH_MS) < 0)
        return -1;
    ev_timer_disarm(&alog.timer);
    refresh_times(); /* localtime_r reads the time zone once, now */
    return 0;
}
