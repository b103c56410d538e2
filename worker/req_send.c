/* The response side of the seam (req.h): the handler's status and header fields, its body
 * from memory, a file range or a stream (chunked framing, trailers), and the server's 500 when
 * a handler's header goes past max_response_header. */
#include "worker/req.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/http_lex.h"
#include "worker/ofc.h"
#include "worker/req_internal.h"
#include "worker/resp.h"
#include "worker/route.h"

#define CHUNK_FRAME 20 /* a chunk's size line and CRLFs: 16 hex digits at most, CR LF, CR LF */

int
req_status(struct req *r, int status)
{
    if (req_usable(r) < 0)
        return -1;
    if (r->status_set) {
        errno = EALREADY;
        return -1;
    }
    if (status < 200 || status > 599) {
        errno = EINVAL;
        return -1;
    }
    resp_start(r->out, status);
    r->status_set = true;
    return 0;
}

static bool
value_ok(const char *v)
{
    for (; *v; v++)
        if (*v == '\r' || *v == '\n')
            return false;
    return true;
}

/* Fields the server writes itself: a handler's copy would contradict the framing. */
static bool
reserved(const char *name, size_t len)
{
    /* By length first: at most one comparison per field. */
    switch (len) {
    case 4:
        return strcasecmp(name, "date") == 0;
    case 6:
        return strcasecmp(name, "server") == 0;
    case 10:
        return strcasecmp(name, "connection") == 0;
    case 14:
        return strcasecmp(name, "content-length") == 0;
    case 17:
        return strcasecmp(name, "transfer-encoding") == 0;
    default:
        return false;
    }
}

int
req_header_add(struct req *r, const char *name, const char *value)
{
    if (req_usable(r) < 0)
        return -1;
    size_t nl = strlen(name), vl = strlen(value);
    if (!http_is_token(name, nl) || !value_ok(value) || reserved(name, nl)) {
        errno = EINVAL;
        return -1;
    }
    if (!r->status_set && req_status(r, 200) < 0)
        return -1;
    struct resp *out = r->out;
    if (r->head_full || out->len + nl + vl + 4 > (size_t)req_env()->max_response_header) {
        r->head_full = true;
        errno = ENOSPC;
        return -1;
    }
    resp_body(out, name, nl);
    resp_body(out, ": ", 2);
    resp_body(out, value, vl);
    resp_body(out, "\r\n", 2);
    return 0;
}

/* The rest of the header of a finishing call: the status line if none yet, the framing, and
 * Connection. Returns false when the handler's header was refused (then the answer is a 500,
 * built here). */
static bool
finish_head(struct req *r, long long length)
{
    struct resp *out = r->out;
    if (r->head_full || out->overflow) {
        log_warnx("handler %s: response header over max_response_header (%lld bytes); "
                  "answering 500",
                  r->route->h->name, (long long)req_env()->max_response_header);
        resp_error(out, &r->http, 500, NULL);
        return false;
    }
    if (!r->status_set)
        resp_start(out, 200);
    if (r->http.has_body && !r->http.complete)
        out->close = true; /* answered before the whole body came: the rest is not read */
    if (out->status == 204 || out->status == 304)
        ; /* no body, and no length of one (RFC 9110 8.6) */
    else if (length >= 0)
        resp_content_length(out, length);
    else if (r->http.minor >= 1)
        resp_header(out, "Transfer-Encoding: chunked");
    else
        out->close = true; /* HTTP/1.0: the end of the body is the end of the connection */
    resp_end(out, &r->http);
    return true;
}

/* A finishing call is done: the response is ready, and the handler lets go. */
static int
answered(struct req *r, int ret)
{
    r->phase = REQ_ANSWERED;
    req_kick(r);
    if (!r->stream || r->stream_ended)
        req_unhold(r);
    return ret;
}

static bool
bodiless(const struct req *r)
{
    int s = r->out->status;
    return r->http.verb == VERB_HEAD || s == 204 || s == 304;
}

int
req_send_mem(struct req *r, const void *p, size_t n, void (*done)(void *arg), void *arg)
{
    if (req_usable(r) < 0) {
        if (done)
            done(arg);
        if (r->phase == REQ_ENDED && r->held)
            req_unhold(r);
        return -1;
    }
    req_cold(r)->cold.mem_done = done;
    r->cold.mem_arg = arg;
    r->keep = true;
    if (finish_head(r, (long long)n) && !bodiless(r) && n > 0)
        resp_add_part(r->out, 0, (off_t)n, p);
    return answered(r, 0);
}

static void
free_copy(void *p)
{
    free(p);
}

int
req_send_copy(struct req *r, const void *p, size_t n)
{
    if (req_usable(r) < 0) {
        if (r->phase == REQ_ENDED && r->held)
            req_unhold(r);
        return -1;
    }
    struct resp *out = r->out;
    /* Small bodies go in the response block after the header (no allocation); larger ones are
     * copied once to the heap and sent from there. */
    if (!r->status_set)
        req_status(r, 200);
    if (n + 256 <= out->cap - out->len || bodiless(r)) {
        if (finish_head(r, (long long)n) && !bodiless(r))
            resp_body(out, p, n);
        return answered(r, 0);
    }
    char *copy = malloc(n);
    if (copy == NULL) {
        log_warnx("handler %s: no memory for a %zu-byte body; answering 500", r->route->h->name, n);
        resp_error(out, &r->http, 500, NULL);
        return answered(r, -1);
    }
    memcpy(copy, p, n);
    return req_send_mem(r, copy, n, free_copy, copy);
}

int
req_send_fd(struct req *r, int fd, off_t off, off_t len)
{
    if (req_usable(r) < 0 || fd < 0 || off < 0 || len < 0) {
        if (fd >= 0)
            close(fd);
        if (r->phase == REQ_ENDED && r->held)
            req_unhold(r);
        if (r->phase != REQ_ENDED && r->phase != REQ_ANSWERED)
            errno = EINVAL;
        return -1;
    }
    struct stat st = {.st_size = off + len};
    struct ofc_entry *e = ofc_put_private(200, fd, &st, r->rel ? r->rel : "");
    if (e == NULL) {
        resp_error(r->out, &r->http, 500, NULL);
        return answered(r, -1);
    }
    if (finish_head(r, (long long)len) && !bodiless(r) && len > 0) {
        r->file = e;
        resp_add_part(r->out, off, len, NULL);
    } else {
        ofc_release(e);
    }
    return answered(r, 0);
}

int
req_error(struct req *r, int status)
{
    if (req_usable(r) < 0) {
        if (r->phase == REQ_ENDED && r->held)
            req_unhold(r);
        return -1;
    }
    if (status < 400 || status > 599)
        status = 500;
    resp_error(r->out, &r->http, status, NULL);
    return answered(r, 0);
}

int
req_release(struct req *r)
{
    if (r->phase == REQ_ENDED || r->phase == REQ_ANSWERED) {
        if (r->held)
            req_unhold(r);
        return 0;
    }
    /* Still live: the handler gives up on it, and the server answers 500. */
    log_warnx("handler %s released a request without answering; answering 500",
              r->route ? r->route->h->name : "?");
    return req_error(r, 500);
}

int
req_send_stream(struct req *r, req_produce_cb *produce, void *arg)
{
    if (req_usable(r) < 0)
        return -1;
    if (produce == NULL) {
        errno = EINVAL;
        return -1;
    }
    r->keep = true;
    if (!finish_head(r, -1))
        return answered(r, -1);
    r->held = true;
    req_cold(r)->cold.produce = produce;
    r->cold.produce_arg = arg;
    r->stream = true;
    r->stream_want = true;
    r->stream_raw = r->http.minor == 0;
    r->stream_drop = bodiless(r); /* HEAD: the header is the whole response */
    r->out->stream = true;
    return answered(r, 0);
}

/* Append `n` bytes of a chunk-size line in hex. */
static void
put_hex(struct resp *out, size_t n)
{
    char hex[20];
    int i = (int)sizeof(hex);
    hex[--i] = '\n';
    hex[--i] = '\r';
    do {
        hex[--i] = "0123456789abcdef"[n & 15];
        n >>= 4;
    } while (n);
    resp_body(out, hex + i, sizeof(hex) - (size_t)i);
}

static int
stream_ok(const struct req *r)
{
    if (r->phase == REQ_ENDED) {
        errno = ECANCELED;
        return -1;
    }
    if (!r->stream || r->stream_ended) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

ssize_t
req_stream_write(struct req *r, const void *p, size_t n)
{
    if (stream_ok(r) < 0)
        return -1;
    if (r->stream_drop || n == 0) {
        r->stream_want = true;
        return (ssize_t)n;
    }
    struct resp *out = r->out;
    size_t frame = r->stream_raw ? 0 : CHUNK_FRAME;
    if (out->cap - out->len <= frame)
        return 0;
    size_t take = out->cap - out->len - frame;
    if (take > n)
        take = n;
    if (!r->stream_raw)
        put_hex(out, take);
    resp_body(out, p, take);
    if (!r->stream_raw)
        resp_body(out, "\r\n", 2);
    r->stream_want = true;
    req_kick(r);
    return (ssize_t)take;
}

/* Trailer lines: "Name: value\r\n" each, nothing else. */
static bool
trailers_ok(const char *t)
{
    while (*t) {
        const char *colon = strchr(t, ':');
        const char *eol = strstr(t, "\r\n");
        if (colon == NULL || eol == NULL || colon > eol || !http_is_token(t, (size_t)(colon - t)))
            return false;
        for (const char *c = colon; c < eol; c++)
            if (*c == '\r' || *c == '\n')
                return false;
        t = eol + 2;
    }
    return true;
}

int
req_stream_end(struct req *r, const char *trailers)
{
    if (stream_ok(r) < 0) {
        if (r->phase == REQ_ENDED && r->held)
            req_unhold(r);
        return -1;
    }
    int ret = 0;
    if (trailers && !trailers_ok(trailers)) {
        errno = EINVAL;
        ret = -1;
        trailers = NULL;
    }
    r->stream_ended = true;
    r->stream_want = false;
    if (!r->stream_raw && !r->stream_drop) {
        resp_body(r->out, "0\r\n", 3);
        if (trailers)
            resp_body(r->out, trailers, strlen(trailers));
        resp_body(r->out, "\r\n", 2);
    }
    req_kick(r);
    req_unhold(r);
    return ret;
}

int
req_stream_wake(struct req *r)
{
    if (stream_ok(r) < 0)
        return -1;
    r->stream_want = true;
    req_kick(r);
    return 0;
}

bool
req_stream_pull(struct req *r)
{
    struct resp *out = r->out;
    if (r->stream_ended)
        return out->sent < out->len;
    out->len = out->sent = 0;
    out->nparts = 0;
    /* A HEAD stream's writes are dropped, so nothing goes out to bring the next call: call
     * again while it writes, a bounded number of times per turn. */
    for (int i = 0; i < 16; i++) {
        if (!r->stream_want || r->phase == REQ_ENDED)
            return false;
        r->stream_want = false;
        req_enter(r);
        r->cold.produce(r, r->cold.produce_arg);
        req_leave();
        if (out->len > out->sent || r->stream_ended || !r->stream_drop)
            return out->len > out->sent;
    }
    if (r->stream_want && r->conn)
        req_env()->ops->kick(r->conn); /* more after the other connections' turn */
    return false;
}

bool
req_response_done(const struct req *r)
{
    return r == NULL || !r->stream || (r->stream_ended && r->out->sent == r->out->len);
}
