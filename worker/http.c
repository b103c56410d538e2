/* http-parser glue (see http.h). http-parser calls back with spans of the buffer; because the
 * buffer only grows while a request's header is read, a span that arrives in pieces over several
 * reads is contiguous and can be extended in place. */
#include "worker/http.h"

#include <http_parser.h>
#include <string.h>
#include <strings.h>

_Static_assert(sizeof(http_parser) <= HTTP_PARSER_SPACE, "HTTP_PARSER_SPACE too small");

static struct http_req *
req_of(http_parser *p)
{
    return p->data;
}

static void
span_extend(struct http_span *s, const char *at, size_t n)
{
    if (s->p == NULL)
        s->p = at;
    s->n = (size_t)(at + n - s->p);
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
    span_extend(&req_of(p)->target, at, n);
    return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_req *req = req_of(p);
    if (req->in_value || req->nheaders == 0) {
        if (req->nheaders == HTTP_MAX_HEADERS) {
            req->status = 431;
            return -1;
        }
        req->nheaders++;
        req->in_value = false;
    }
    span_extend(&req->headers[req->nheaders - 1].name, at, n);
    return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_req *req = req_of(p);
    req->in_value = true;
    span_extend(&req->headers[req->nheaders - 1].value, at, n);
    return 0;
}

static int
on_headers_complete(http_parser *p)
{
    struct http_req *req = req_of(p);
    req->headers_done = true;
    req->major = p->http_major;
    req->minor = p->http_minor;
    req->keep_alive = http_should_keep_alive(p) != 0;
    req->method_name = http_method_str((enum http_method)p->method);
    switch (p->method) {
    case HTTP_GET:
        req->verb = VERB_GET;
        break;
    case HTTP_HEAD:
        req->verb = VERB_HEAD;
        break;
    default:
        req->verb = VERB_OTHER;
        break;
    }
    return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
    struct http_req *req = req_of(p);
    (void)n;
    if (req->body_start == 0)
        req->body_start = (size_t)(at - req->base);
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    req_of(p)->complete = true;
    /* Stop at the message boundary: pipelined bytes after it wait until this one is answered. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void
http_req_init(struct http_req *req, const char *base)
{
    memset(req, 0, sizeof(*req));
    http_parser *p = (http_parser *)req->parser;
    http_parser_init(p, HTTP_REQUEST);
    p->data = req;
    req->base = base;
}

enum http_feed_result
http_feed(struct http_req *req, const char *data, size_t len, size_t *used)
{
    http_parser *p = (http_parser *)req->parser;
    size_t n = http_parser_execute(p, &settings, data, len);
    *used = n;
    enum http_errno err = HTTP_PARSER_ERRNO(p);
    if (err == HPE_PAUSED && req->complete)
        return HTTP_COMPLETE;
    if (err != HPE_OK) {
        if (req->status == 0)
            req->status = (err == HPE_HEADER_OVERFLOW) ? 431 : 400;
        return HTTP_ERROR;
    }
    if (p->upgrade) {
        /* Upgrade/CONNECT: not supported; the request is answered and the connection closed. */
        req->complete = true;
        req->keep_alive = false;
        return HTTP_COMPLETE;
    }
    return req->complete ? HTTP_COMPLETE : HTTP_NEED_MORE;
}

const struct http_span *
http_header_get(const struct http_req *req, const char *name)
{
    size_t nl = strlen(name);
    for (int i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (h->name.n == nl && strncasecmp(h->name.p, name, nl) == 0)
            return &h->value;
    }
    return NULL;
}

int
http_target_path(const struct http_req *req, struct http_span *path, struct http_span *query)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (req->target.n == 0 || http_parser_parse_url(req->target.p, req->target.n, 0, &u) != 0)
        return -1;
    if (!(u.field_set & (1 << UF_PATH)))
        return -1;
    path->p = req->target.p + u.field_data[UF_PATH].off;
    path->n = u.field_data[UF_PATH].len;
    query->p = NULL;
    query->n = 0;
    if (u.field_set & (1 << UF_QUERY)) {
        query->p = req->target.p + u.field_data[UF_QUERY].off;
        query->n = u.field_data[UF_QUERY].len;
    }
    return 0;
}
