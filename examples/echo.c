/* echo: answers each request with what the server parsed of it, as one line of JSON:
 *
 *     {"method":"POST","target":"/echo/a%20b?x=1","path":"/echo/a%20b","query":"x=1",
 *      "http":"1.1","remote":"127.0.0.1","tls":false,"headers":[["Host","a"],...],"body":"..."}
 *
 * A model of reading a request: the request line, the header fields in order, the peer and the
 * body, whether the server kept it in memory or, past body_buffer_size, in a temp file. Strings
 * are JSON-escaped (quote, backslash and control characters); other bytes, UTF-8 or not, are
 * copied as they are. The response is built in one buffer sized from the request, then lent to
 * the server, which frees it when sent. */
#include <sluice.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Room the response needs: at most 6 bytes per input byte (a control character becomes
 * \u00XX), 8 per header field around its two strings (["",""],), and the fixed text around
 * the strings (keys, quotes, the address, true/false). */
#define ESCAPED_MAX 6
#define PER_HEADER 8
#define FIXED 256

/* The response being written. `cap` was computed from the request before writing; a write that
 * would pass it sets `overflow` (a bug in the sizing, answered 500) instead of overrunning. */
struct out {
    char *buf;
    size_t len, cap;
    bool overflow;
};

static void
put(struct out *o, const char *text, size_t n)
{
    if (o->overflow || o->cap - o->len < n) {
        o->overflow = true;
        return;
    }
    memcpy(o->buf + o->len, text, n);
    o->len += n;
}

static void
put_text(struct out *o, const char *text)
{
    put(o, text, strlen(text));
}

/* The bytes of a JSON string, without its quotes. */
static void
put_escaped(struct out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (o->overflow || (o->cap - o->len) / ESCAPED_MAX < n) {
        o->overflow = true;
        return;
    }
    char *w = o->buf + o->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *w++ = '\\';
            *w++ = (char)c;
        } else if (c < 0x20) {
            memcpy(w, "\\u00", 4);
            w[4] = hex[c >> 4];
            w[5] = hex[c & 15];
            w += 6;
        } else {
            *w++ = (char)c;
        }
    }
    o->len = (size_t)(w - o->buf);
}

/* `"key":"value"` plus a comma unless it is the last member. */
static void
put_member(struct out *o, const char *key, struct sl_str value)
{
    put_text(o, "\"");
    put_text(o, key);
    put_text(o, "\":\"");
    put_escaped(o, value.ptr, value.len);
    put_text(o, "\",");
}

/* The body, from memory or from the server's temp file. pread at explicit offsets: the
 * descriptor is the server's, and its file offset is none of our business. Returns 0, or -1
 * after logging. */
static int
put_body(struct out *o, struct sl_req *req)
{
    struct sl_str body;
    if (sl_req_body(req, &body) == SL_OK) {
        put_escaped(o, body.ptr, body.len);
        return 0;
    }
    int fd = sl_req_body_fd(req);
    if (fd < 0)
        return 0; /* no body */
    int64_t length = sl_req_body_length(req);
    char chunk[16384];
    for (int64_t off = 0; off < length;) {
        size_t want =
            length - off < (int64_t)sizeof(chunk) ? (size_t)(length - off) : sizeof(chunk);
        ssize_t n = pread(fd, chunk, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            sl_log(sl_req_app(req), SL_LOG_ERROR, "reading the body file at offset %lld: %s",
                   (long long)off, n < 0 ? strerror(errno) : "unexpected end of file");
            return -1;
        }
        put_escaped(o, chunk, (size_t)n);
        off += n;
    }
    return 0;
}

/* An upper bound of the response's size, or 0 when it would not fit in memory. The request
 * line and the header fields are bounded by the server's header limits; only the body
 * (max_body_size) can be large. */
static size_t
response_size(struct sl_req *req)
{
    size_t strings = sl_req_method(req).len + sl_req_target(req).len + sl_req_path(req).len +
                     sl_req_query(req).len;
    size_t headers = 0;
    struct sl_str name, value;
    for (int i = 0; sl_req_header_next(req, &i, &name, &value);)
        headers += PER_HEADER + ESCAPED_MAX * (name.len + value.len);
    int64_t body = sl_req_body_length(req);
    if (body < 0 || (uint64_t)body > SIZE_MAX / 2 / ESCAPED_MAX)
        return 0;
    return FIXED + ESCAPED_MAX * (strings + (size_t)body) + headers;
}

static int
echo_request(struct sl_req *req)
{
    struct out o = {.cap = response_size(req)};
    if (o.cap == 0 || (o.buf = malloc(o.cap)) == NULL) {
        sl_resp_error(req, 500);
        return SL_DONE;
    }

    put_text(&o, "{");
    put_member(&o, "method", sl_req_method(req));
    put_member(&o, "target", sl_req_target(req));
    put_member(&o, "path", sl_req_path(req));
    put_member(&o, "query", sl_req_query(req));
    put_text(&o, sl_req_http_minor(req) == 0 ? "\"http\":\"1.0\"," : "\"http\":\"1.1\",");

    /* 46 bytes hold any IPv6 address as text; a unix-socket listener has no address. */
    char remote[64];
    if (sl_req_remote_text(req, remote, sizeof(remote)) == SL_OK)
        put_member(&o, "remote", (struct sl_str){remote, strlen(remote)});
    else
        put_text(&o, "\"remote\":null,");
    put_text(&o, sl_req_tls(req) ? "\"tls\":true," : "\"tls\":false,");

    put_text(&o, "\"headers\":[");
    struct sl_str name, value;
    for (int i = 0, first = 1; sl_req_header_next(req, &i, &name, &value); first = 0) {
        put_text(&o, first ? "[\"" : ",[\"");
        put_escaped(&o, name.ptr, name.len);
        put_text(&o, "\",\"");
        put_escaped(&o, value.ptr, value.len);
        put_text(&o, "\"]");
    }
    put_text(&o, "],\"body\":\"");
    int rc = put_body(&o, req);
    put_text(&o, "\"}\n");

    if (rc < 0 || o.overflow) {
        if (o.overflow)
            sl_log(sl_req_app(req), SL_LOG_ERROR, "response larger than its %zu bytes", o.cap);
        free(o.buf);
        sl_resp_error(req, 500);
        return SL_DONE;
    }
    sl_resp_header(req, "Content-Type", "application/json");
    /* Lent, not copied: the server calls free(o.buf) once it has sent it, or at once if the
     * request has ended already. */
    sl_resp_send_borrowed(req, o.buf, o.len, free, o.buf);
    return SL_DONE;
}

/* echo takes no keys: anything in its section is a mistake worth stopping for. */
static int
echo_check(const struct sl_section *section, char *err, size_t errlen)
{
    int i = 0;
    const char *key, *value;
    if (sl_config_next(section, &i, &key, &value)) {
        snprintf(err, errlen, "unknown key '%s' at line %d (echo takes no keys)", key,
                 sl_config_line(section, key));
        return -1;
    }
    return 0;
}

const struct sl_app_hooks sluice_app = {
    .abi = SL_ABI_VERSION,
    .check = echo_check,
    .request = echo_request,
};
