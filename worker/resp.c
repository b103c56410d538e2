/* Response building (see resp.h). The lines every response has (status line, Server, Date,
 * Connection) are copied, not formatted: no printf on the path of a cached file. */
#include "worker/resp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char date[40]; /* the Date header's value, refreshed when the second changes */
static size_t date_len;

void
resp_update_date(time_t now)
{
    static time_t last;
    struct tm tm;
    if (now == last)
        return;
    last = now;
    gmtime_r(&now, &tm);
    date_len = strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

const char *
resp_date(void)
{
    return date;
}

const char *
resp_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 206:
        return "Partial Content";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

void
resp_init(struct resp *out, size_t cap, size_t max)
{
    out->len = out->sent = 0;
    out->cap = cap;
    out->max = max > cap ? max : cap;
    out->overflow = out->grown = out->stream = false;
    out->nparts = 0;
    out->status = 0;
    out->head = 0;
    out->buf = out->inline_buf;
}

void
resp_release(struct resp *out)
{
    if (out && out->grown) {
        free(out->buf);
        out->buf = out->inline_buf;
        out->grown = false;
        out->cap = 0; /* the owner sets it again with resp_init */
    }
}

/* Room for `need` more bytes: grow into one heap block (doubling, at most out->max). Returns
 * false, with out->overflow set, when that is not possible. */
static bool
reserve(struct resp *out, size_t need)
{
    if (out->overflow)
        return false;
    if (need <= out->cap - out->len)
        return true;
    size_t want = out->len + need;
    if (want > out->max || want < out->len) {
        out->overflow = true;
        return false;
    }
    size_t cap = out->cap * 2 > want ? out->cap * 2 : want;
    if (cap > out->max)
        cap = out->max;
    char *p = malloc(cap);
    if (p == NULL) {
        out->overflow = true;
        return false;
    }
    memcpy(p, out->buf, out->len);
    if (out->grown)
        free(out->buf);
    out->buf = p;
    out->cap = cap;
    out->grown = true;
    return true;
}

static void
vput(struct resp *out, const char *fmt, va_list ap)
{
    if (out->overflow)
        return;
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(out->buf + out->len, out->cap - out->len, fmt, ap);
    if (n >= 0 && (size_t)n >= out->cap - out->len && reserve(out, (size_t)n + 1))
        n = vsnprintf(out->buf + out->len, out->cap - out->len, fmt, again);
    va_end(again);
    if (n < 0 || (size_t)n >= out->cap - out->len) {
        out->overflow = true;
        return;
    }
    out->len += (size_t)n;
}

static void put(struct resp *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct resp *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vput(out, fmt, ap);
    va_end(ap);
}

int
resp_add_part(struct resp *out, off_t off, off_t len, const char *body)
{
    if (out->nparts == RESP_MAX_PARTS) {
        out->overflow = true;
        return -1;
    }
    out->parts[out->nparts++] = (struct resp_part){out->len, off, len, body ? body + off : NULL};
    return 0;
}

void
resp_start(struct resp *out, int status)
{
    out->len = out->sent = 0;
    out->nparts = 0;
    out->overflow = false;
    out->status = status;
    out->head = 0;
    if (status < 100 || status > 999) { /* not a status any caller makes */
        put(out, "HTTP/1.1 %d %s\r\nServer: sluice\r\nDate: %s\r\n", status, resp_reason(status),
            date);
        return;
    }
    static const char server[] = "\r\nServer: sluice\r\nDate: ";
    const char *reason = resp_reason(status);
    char line[16] = "HTTP/1.1 ";
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    line[12] = ' ';
    resp_body(out, line, 13);
    resp_body(out, reason, strlen(reason));
    resp_body(out, server, sizeof(server) - 1);
    resp_body(out, date, date_len);
    resp_body(out, "\r\n", 2);
}

void
resp_header(struct resp *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vput(out, fmt, ap);
    va_end(ap);
    resp_body(out, "\r\n", 2);
}

void
resp_content_length(struct resp *out, long long n)
{
    char line[48] = "Content-Length: ", digits[24];
    size_t len = 16;
    int k = 0;
    unsigned long long v = n < 0 ? 0 : (unsigned long long)n;
    do {
        digits[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        line[len++] = digits[--k];
    line[len++] = '\r';
    line[len++] = '\n';
    resp_body(out, line, len);
}

void
resp_end(struct resp *out, const struct http_req *req)
{
    static const char closing[] = "Connection: close\r\n\r\n";
    static const char staying[] = "Connection: keep-alive\r\n\r\n";
    if (!req->keep_alive)
        out->close = true;
    const char *end = out->close ? closing : staying;
    size_t n = out->close ? sizeof(closing) - 1 : sizeof(staying) - 1;
    out->head = out->len + n; /* set first: the append is the last call (an overflow makes the
                               * response an error, whose header is measured again) */
    resp_body(out, end, n);
}

void
resp_body_slow(struct resp *out, const char *p, size_t n)
{
    if (!reserve(out, n))
        return;
    memcpy(out->buf + out->len, p, n);
    out->len += n;
}

void
resp_error(struct resp *out, const struct http_req *req, int status, const char *extra)
{
    char body[256];
    int blen = snprintf(body, sizeof(body),
                        "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
                        "<body><h1>%d %s</h1></body></html>\n",
                        status, resp_reason(status), status, resp_reason(status));
    /* After these the stream cannot be trusted, or the client is too slow, too big, or asks
     * for what this server does not do: close rather than read on. */
    switch (status) {
    case 400:
    case 408:
    case 413:
    case 414:
    case 417:
    case 431:
    case 500:
    case 501:
    case 503:
    case 504:
    case 505:
        out->close = true;
        break;
    }
    resp_start(out, status);
    resp_header(out, "Content-Type: text/html; charset=utf-8");
    resp_header(out, "Content-Length: %d", blen);
    if (extra)
        resp_header(out, "%s", extra);
    resp_end(out, req);
    if (req->verb != VERB_HEAD)
        resp_body(out, body, (size_t)blen);
    if (out->overflow && extra) /* only a huge extra line can overflow */
        resp_error(out, req, 500, NULL);
}
