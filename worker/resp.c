/* Response building and the static-file handler (see resp.h). */
#include "worker/resp.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "worker/loop.h"
#include "worker/path.h"
#include "worker/static.h"

void
resp_reset(struct resp *out)
{
    out->len = out->sent = 0;
}

void
resp_update_date(time_t now)
{
    static time_t last;
    struct tm tm;
    if (now == last)
        return;
    last = now;
    gmtime_r(&now, &tm);
    strftime(loop.date, sizeof(loop.date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

const char *
resp_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* Append to the header block; returns -1 (and leaves len past the limit) when it does not fit. */
static int
put(struct resp *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
put(struct resp *out, const char *fmt, ...)
{
    va_list ap;
    if (out->len >= sizeof(out->buf))
        return -1;
    va_start(ap, fmt);
    int n = vsnprintf(out->buf + out->len, sizeof(out->buf) - out->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(out->buf) - out->len) {
        out->len = sizeof(out->buf);
        return -1;
    }
    out->len += (size_t)n;
    return 0;
}

static void
put_status(struct resp *out, int status)
{
    put(out, "HTTP/1.1 %d %s\r\nServer: sluice\r\nDate: %s\r\n", status, resp_reason(status),
        loop.date);
}

static void
put_connection(struct resp *out, const struct http_req *req, bool *close_after)
{
    if (!req->keep_alive)
        *close_after = true;
    put(out, "Connection: %s\r\n\r\n", *close_after ? "close" : "keep-alive");
}

static void
error_with(struct resp *out, const struct http_req *req, int status, bool *close_after,
           const char *extra_name, const char *extra_value, size_t extra_len)
{
    char body[256];
    int blen = snprintf(body, sizeof(body),
                        "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
                        "<body><h1>%d %s</h1></body></html>\n",
                        status, resp_reason(status), status, resp_reason(status));
    resp_reset(out);
    put_status(out, status);
    put(out, "Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n", blen);
    if (extra_name)
        put(out, "%s: %.*s\r\n", extra_name, (int)extra_len, extra_value);
    if (status == 400 || status == 408 || status >= 413)
        *close_after = true;
    put_connection(out, req, close_after);
    if (req->verb != VERB_HEAD)
        put(out, "%s", body);
    if (out->len >= sizeof(out->buf)) {
        /* Only a huge Location can overflow; answer 414 instead of a cut header. */
        error_with(out, req, 414, close_after, NULL, NULL, 0);
    }
}

void
resp_error(struct resp *out, const struct http_req *req, int status, bool *close_after)
{
    error_with(out, req, status, close_after, NULL, NULL, 0);
}

static void
redirect_slash(struct resp *out, const struct http_req *req, struct http_span path,
               struct http_span query, bool *close_after)
{
    char loc[RESP_HEAD_MAX];
    int n = snprintf(loc, sizeof(loc), "%.*s/%s%.*s", (int)path.n, path.p, query.n ? "?" : "",
                     (int)query.n, query.p ? query.p : "");
    if (n < 0 || (size_t)n >= sizeof(loc)) {
        resp_error(out, req, 414, close_after);
        return;
    }
    error_with(out, req, 301, close_after, "Location", loc, (size_t)n);
}

void
resp_handle(struct resp *out, const struct http_req *req, struct resp_file *file,
            bool *close_after)
{
    struct http_span path, query;
    char rel[CFG_PATH_MAX];
    struct static_file f;

    file->fd = -1;
    if (req->verb == VERB_OTHER) {
        error_with(out, req, 405, close_after, "Allow", "GET, HEAD", 9);
        return;
    }
    if (http_target_path(req, &path, &query) < 0 ||
        path_normalize(path.p, path.n, rel, sizeof(rel)) < 0) {
        resp_error(out, req, 400, close_after);
        return;
    }
    int status = static_open(loop.root_fd, loop.cfg, rel, &f);
    if (status == 301) {
        redirect_slash(out, req, path, query, close_after);
        return;
    }
    if (status != 200) {
        resp_error(out, req, status, close_after);
        return;
    }

    char lm[40];
    struct tm tm;
    gmtime_r(&f.mtime.tv_sec, &tm);
    strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    resp_reset(out);
    put_status(out, 200);
    put(out, "Content-Type: %s\r\nContent-Length: %lld\r\nLast-Modified: %s\r\n", f.type,
        (long long)f.size, lm);
    put_connection(out, req, close_after);
    if (req->verb == VERB_HEAD || f.size == 0) {
        close(f.fd);
        return;
    }
    file->fd = f.fd;
    file->offset = 0;
    file->length = f.size;
}
