/* http-parser glue (see http.h). http-parser calls back with spans of the buffer; because the
 * buffer only grows while a request's header is read, a span that arrives in pieces over several
 * reads is contiguous and is extended in place.
 *
 * Order of the checks for every batch of new bytes:
 *   1. scan_header_bytes: the raw header section (request line shape and length, obs-fold,
 *      bare CR, NUL, total size), before the parser sees the bytes;
 *   2. http-parser, with the callbacks checking field names and counting fields and body bytes;
 *   3. check_headers, once, when the section is complete (version, Host, Transfer-Encoding,
 *      Expect); the body limit depends on the route, so the caller sets it (http_body_limit).
 * Body bytes come out one piece per call (HTTP_BODY), after the chunked framing around them has
 * been checked. */
#include "worker/http.h"
#include "worker/http_lex.h"
#include "worker/path.h"

#include <http_parser.h>
#include <string.h>
#include <strings.h>

_Static_assert(sizeof(http_parser) <= HTTP_PARSER_SPACE, "HTTP_PARSER_SPACE too small");

#define CHUNK_OVERHEAD_BASE 8192 /* trailers and slack */
#define CHUNK_OVERHEAD_EACH 64   /* per chunk: size line with a short extension, CRLFs */

static struct http_req *
req_of(http_parser *p)
{
    return p->data;
}

static http_parser *
parser_of(struct http_req *req)
{
    return (http_parser *)req->parser;
}

/* What http_parser_pause does (it only flips the errno field between HPE_OK and HPE_PAUSED),
 * without a call into the shared library three times per request. */
static void
pause_parser(http_parser *p, bool paused)
{
    p->http_errno = paused ? HPE_PAUSED : HPE_OK;
}

static int
fail(struct http_req *req, int status)
{
    if (req->status == 0)
        req->status = status;
    return -1;
}

/* request-line = method SP request-target SP HTTP-version, single spaces, visible ASCII. */
static bool
request_line_ok(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && http_is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i == n || s[i] != ' ')
        return false;
    size_t t = ++i;
    while (i < n && s[i] > 0x20 && s[i] < 0x7f)
        i++;
    if (i == t || i == n || s[i] != ' ')
        return false;
    i++;
    return n - i == 8 && memcmp(s + i, "HTTP/", 5) == 0 && http_is_digit(s[i + 5]) &&
           s[i + 6] == '.' && http_is_digit(s[i + 7]);
}

/* Where the byte-by-byte rules below have something to say, from `i`: the first NUL, CR or LF
 * before `stop`, else `stop`. Ordinary bytes are passed over with memchr (vectorised in libc),
 * so a header costs a few scans per line instead of a branchy loop per byte. */
static size_t
next_special(const char *base, size_t i, size_t stop)
{
    const char *p = base + i;
    size_t n = stop - i;
    const char *q = memchr(p, '\n', n);
    if (q)
        n = (size_t)(q - p);
    if ((q = memchr(p, '\r', n)) != NULL)
        n = (size_t)(q - p);
    if ((q = memchr(p, '\0', n)) != NULL)
        n = (size_t)(q - p);
    return i + n;
}

/* Step 1: the raw header bytes. Offsets are absolute in the buffer, so bytes already scanned
 * are skipped when the same bytes are offered again. Returns 0 or -1 (req->status set). The
 * rules are those of one byte at a time; next_special only skips the bytes none of them can
 * concern (not NUL, CR or LF, inside both length limits), so the first offending byte, and
 * with it the status, is the same as a plain walk would find. */
static int
scan_header_bytes(struct http_req *req, const char *data, size_t len)
{
    const struct http_limits *lim = req->lim;
    size_t end = (size_t)(data - req->base) + len;

    for (size_t i = req->scanned; !req->scan_done && i < end; i++) {
        size_t stop = end < lim->max_header_size ? end : lim->max_header_size;
        if (!req->seen_request_line && req->line_start + lim->max_request_line < stop)
            stop = req->line_start + lim->max_request_line;
        if (i < stop && (i = next_special(req->base, i, stop)) == end) {
            req->scanned = end;
            break;
        }
        unsigned char c = (unsigned char)req->base[i];
        req->scanned = i + 1;
        if (c == '\0')
            return fail(req, 400);
        if (c == '\r') {
            if (i + 1 == end) {
                req->scanned = i; /* look at this CR again once its next byte is in */
                break;
            }
            if (req->base[i + 1] != '\n')
                return fail(req, 400); /* bare CR */
        }
        if (i >= lim->max_header_size)
            return fail(req, req->seen_request_line ? 431 : 414);
        if (c == '\r')
            continue; /* part of the line ending, not of the line */
        if (c != '\n') {
            if (!req->seen_request_line && i - req->line_start >= lim->max_request_line)
                return fail(req, 414);
            continue;
        }
        const char *line = req->base + req->line_start;
        size_t ll = i - req->line_start;
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        req->line_start = i + 1;
        if (!req->seen_request_line) {
            if (ll == 0)
                continue; /* empty lines before the request line are ignored (RFC 9112 2.2) */
            if (!request_line_ok(line, ll))
                return fail(req, 400);
            req->seen_request_line = true;
        } else if (ll == 0) {
            req->scan_done = true;
        } else if (line[0] == ' ' || line[0] == '\t') {
            return fail(req, 400); /* obs-fold */
        }
    }
    return 0;
}

/* Chunked framing, checked byte by byte beside http-parser, which (built lenient) takes any
 * two bytes for the CRLF after chunk data, any byte after a CR in a size line, and a bare LF
 * inside an extension. Disagreeing with a front proxy about where a chunk ends is how requests
 * get smuggled, so every framing byte must be exactly what RFC 9112 7.1 says. */
enum chunk_state {
    CH_SIZE,      /* first hex digit of a chunk size */
    CH_SIZE_MORE, /* more digits, BWS, ';' or CR */
    CH_EXT,       /* inside chunk extensions: up to CR */
    CH_SIZE_LF,   /* LF after the size line */
    CH_DATA,      /* chunk_left data bytes */
    CH_DATA_CR,   /* CR after data */
    CH_DATA_LF,   /* LF after data */
    CH_TRAILER,   /* start of a trailer line, or CR of the final empty line */
    CH_TRAILER_LINE,
    CH_TRAILER_LF, /* LF ending a trailer line */
    CH_FINAL_LF,   /* LF of the final empty line */
    CH_DONE,
};

static int
scan_chunked(struct http_req *req, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        switch (req->chunk_state) {
        case CH_SIZE:
        case CH_SIZE_MORE:
            if (path_hexval((char)c) >= 0) {
                if (++req->chunk_digits > 15)
                    return fail(req, 400);
                req->chunk_left = req->chunk_left * 16 + (uint64_t)path_hexval((char)c);
                req->chunk_state = CH_SIZE_MORE;
            } else if (req->chunk_state == CH_SIZE) {
                return fail(req, 400);
            } else if (c == ';' || c == ' ' || c == '\t') {
                req->chunk_state = CH_EXT;
            } else if (c == '\r') {
                req->chunk_state = CH_SIZE_LF;
            } else {
                return fail(req, 400);
            }
            break;
        case CH_EXT:
            if (c == '\r')
                req->chunk_state = CH_SIZE_LF;
            else if (c == '\n' || c == '\0')
                return fail(req, 400);
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                return fail(req, 400);
            req->chunk_state = req->chunk_left ? CH_DATA : CH_TRAILER;
            break;
        case CH_DATA: {
            size_t take = n - i;
            if (take > req->chunk_left)
                take = (size_t)req->chunk_left;
            req->chunk_left -= take;
            i += take - 1;
            if (req->chunk_left == 0)
                req->chunk_state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (c != '\r')
                return fail(req, 400);
            req->chunk_state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                return fail(req, 400);
            req->chunk_state = CH_SIZE;
            req->chunk_digits = 0;
            break;
        case CH_TRAILER:
            if (c == '\r')
                req->chunk_state = CH_FINAL_LF;
            else if (c == '\n' || c == '\0' || c == ' ' || c == '\t')
                return fail(req, 400);
            else
                req->chunk_state = CH_TRAILER_LINE;
            break;
        case CH_TRAILER_LINE:
            if (c == '\r')
                req->chunk_state = CH_TRAILER_LF;
            else if (c == '\n' || c == '\0')
                return fail(req, 400);
            break;
        case CH_TRAILER_LF:
            if (c != '\n')
                return fail(req, 400);
            req->chunk_state = CH_TRAILER;
            break;
        case CH_FINAL_LF:
            if (c != '\n')
                return fail(req, 400);
            req->chunk_state = CH_DONE;
            break;
        default:
            return fail(req, 400); /* bytes past the end belong to the next request */
        }
    }
    return 0;
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
    if (req->headers_done)
        return 0; /* a trailer field: parsed, checked by the chunk scanner, ignored */
    if (req->in_value || req->nheaders == 0) {
        if (req->nheaders == req->lim->max_headers)
            return fail(req, 431);
        req->nheaders++;
        req->headers[req->nheaders - 1] = (struct http_header){{NULL, 0}, {NULL, 0}};
        req->in_value = false;
    }
    /* http-parser takes "Host :" as a field called "Host "; RFC 9112 5.1 makes that a 400.
     * A name split across reads arrives in pieces, the last one possibly empty. */
    for (size_t i = 0; i < n; i++)
        if (!http_is_tchar((unsigned char)at[i]))
            return fail(req, 400);
    span_extend(&req->headers[req->nheaders - 1].name, at, n);
    return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_req *req = req_of(p);
    if (req->headers_done)
        return 0;
    req->in_value = true;
    span_extend(&req->headers[req->nheaders - 1].value, at, n);
    return 0;
}

static enum http_verb
verb_of(unsigned method)
{
    switch (method) {
    case HTTP_GET:
        return VERB_GET;
    case HTTP_HEAD:
        return VERB_HEAD;
    case HTTP_POST:
        return VERB_POST;
    case HTTP_PUT:
        return VERB_PUT;
    case HTTP_DELETE:
        return VERB_DELETE;
    case HTTP_OPTIONS:
        return VERB_OPTIONS;
    default:
        return VERB_OTHER;
    }
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
    req->verb = verb_of(p->method);
    req->chunked = (p->flags & F_CHUNKED) != 0;
    req->content_length = (p->flags & F_CONTENTLENGTH) ? (int64_t)p->content_length : -1;
    req->has_body = req->chunked || req->content_length > 0;
    if (p->method == HTTP_CONNECT)
        req->keep_alive = false; /* what follows is tunnel data, never a request */
    /* Stop here so the caller can answer 413/417/100 before any body byte is read. */
    pause_parser(p, true);
    return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
    struct http_req *req = req_of(p);
    if (n == 0)
        return 0;
    req->body_bytes += (int64_t)n;
    if (req->body_bytes > req->body_limit)
        return fail(req, 413);
    /* One piece per http_feed: the caller hands it on (or drops it) before the parser goes on,
     * so a handler that pauses stops the parse where it is. */
    req->piece = (struct http_span){at, n};
    pause_parser(p, true);
    return 0;
}

static int
on_chunk_header(http_parser *p)
{
    req_of(p)->nchunks++;
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    req_of(p)->complete = true;
    /* Stop at the message boundary: pipelined bytes after it wait until this one is answered. */
    pause_parser(p, true);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};

void
http_req_init(struct http_req *req, const char *base, const struct http_limits *lim,
              struct http_header *headers)
{
    memset(req, 0, sizeof(*req));
    http_parser *p = parser_of(req);
    http_parser_init(p, HTTP_REQUEST);
    p->data = req;
    req->base = base;
    req->lim = lim;
    req->headers = headers;
    req->content_length = -1;
    req->body_limit = lim->max_body_size;
}

int
http_body_limit(struct http_req *req, int64_t limit)
{
    req->body_limit = limit;
    if (req->content_length > limit)
        return fail(req, 413);
    return 0;
}

static void
trim(struct http_span *s)
{
    while (s->n > 0 && (s->p[0] == ' ' || s->p[0] == '\t')) {
        s->p++;
        s->n--;
    }
    while (s->n > 0 && (s->p[s->n - 1] == ' ' || s->p[s->n - 1] == '\t'))
        s->n--;
}

static bool
span_ieq_n(const struct http_span *s, const char *lit, size_t n)
{
    return s->n == n && strncasecmp(s->p, lit, n) == 0;
}
/* Against a string literal: its length is known at compile time. */
#define span_ieq(s, lit) span_ieq_n((s), (lit), sizeof(lit) - 1)

/* Which known field `name` is, HH_COUNT for none: by length first, so most names cost one
 * comparison or none. */
static enum http_known
known_of(const struct http_span *name)
{
    switch (name->n) {
    case 4:
        return span_ieq(name, "host") ? HH_HOST : HH_COUNT;
    case 5:
        return span_ieq(name, "range") ? HH_RANGE : HH_COUNT;
    case 6:
        return span_ieq(name, "expect") ? HH_EXPECT : HH_COUNT;
    case 8:
        return span_ieq(name, "if-range")   ? HH_IF_RANGE
               : span_ieq(name, "if-match") ? HH_IF_MATCH
                                            : HH_COUNT;
    case 13:
        return span_ieq(name, "if-none-match") ? HH_IF_NONE_MATCH : HH_COUNT;
    case 15:
        return span_ieq(name, "accept-encoding") ? HH_ACCEPT_ENCODING : HH_COUNT;
    case 17:
        return span_ieq(name, "transfer-encoding")   ? HH_TRANSFER_ENCODING
               : span_ieq(name, "if-modified-since") ? HH_IF_MODIFIED_SINCE
                                                     : HH_COUNT;
    case 19:
        return span_ieq(name, "if-unmodified-since") ? HH_IF_UNMODIFIED_SINCE : HH_COUNT;
    default:
        return HH_COUNT;
    }
}

const struct http_span *
http_header_known(const struct http_req *req, enum http_known h)
{
    return req->known[h] ? &req->headers[req->known[h] - 1].value : NULL;
}

/* Transfer-Encoding over all its field lines: the final coding must be chunked (else 400), and
 * chunked is the only coding sluice decodes (another one: 501). */
static int
check_transfer_encoding(struct http_req *req)
{
    int nchunked = 0, nother = 0;
    bool last_chunked = false, any = false;
    for (int i = req->known[HH_TRANSFER_ENCODING] - 1; i >= 0 && i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!span_ieq(&h->name, "transfer-encoding"))
            continue;
        any = true;
        const char *s = h->value.p, *end = h->value.p + h->value.n;
        while (s <= end) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            struct http_span tok = {s, (size_t)((comma ? comma : end) - s)};
            trim(&tok);
            if (tok.n > 0) {
                last_chunked = span_ieq(&tok, "chunked");
                nchunked += last_chunked;
                nother += !last_chunked;
            }
            s = (comma ? comma : end) + 1;
        }
    }
    if (!any)
        return 0;
    /* RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing; a 1.0
     * front end would take the body by Connection close while we decode chunks, and the rest
     * would be read as a second request (smuggling). Refuse it and close. */
    if (req->minor == 0)
        return fail(req, 400);
    if (!last_chunked || nchunked != 1)
        return fail(req, 400);
    if (nother)
        return fail(req, 501);
    return 0;
}

/* origin-form: the path up to '?' or '#', the query after '?' up to '#'. http-parser walked
 * these bytes with its URL rules while parsing the request line (the same rules
 * http_parser_parse_url applies), so splitting them here gives what that parse would, without
 * walking them again. */
static void
split_origin(struct http_req *req)
{
    const char *p = req->target.p, *end = p + req->target.n;
    const char *hash = memchr(p, '#', req->target.n);
    if (hash)
        end = hash;
    const char *q = memchr(p, '?', (size_t)(end - p));
    req->split = true;
    req->path = (struct http_span){p, (size_t)((q ? q : end) - p)};
    if (q && end - q > 1) /* an empty query is no query, as http_parser_parse_url has it */
        req->query = (struct http_span){q + 1, (size_t)(end - q - 1)};
}

static int
check_host(struct http_req *req)
{
    const struct http_span *host = http_header_known(req, HH_HOST);
    int nhost = req->nhost;
    if (nhost > 1 || (nhost == 0 && req->minor >= 1))
        return fail(req, 400);
    if (host && !http_host_valid(host->p, host->n))
        return fail(req, 400);
    if (host)
        req->host = *host;

    if (req->target.n == 1 && req->target.p[0] == '*')
        return req->verb == VERB_OPTIONS ? 0 : fail(req, 400);
    if (req->target.n > 0 && req->target.p[0] == '/') {
        split_origin(req);
        return 0;
    }
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(req->target.p, req->target.n, 0, &u) != 0)
        return 0; /* authority-form (CONNECT): no route takes it, the answer is 405 */
    /* The same parse splits path and query for the handlers: the target is parsed once. */
    if (u.field_set & (1 << UF_PATH)) {
        req->split = true;
        req->path = (struct http_span){req->target.p + u.field_data[UF_PATH].off,
                                       u.field_data[UF_PATH].len};
        if (u.field_set & (1 << UF_QUERY))
            req->query = (struct http_span){req->target.p + u.field_data[UF_QUERY].off,
                                            u.field_data[UF_QUERY].len};
    }
    if (u.field_set & (1 << UF_HOST)) {
        /* absolute-form: the target's authority wins over the Host field (RFC 9112 3.2.2) */
        req->host.p = req->target.p + u.field_data[UF_HOST].off;
        req->host.n = u.field_data[UF_HOST].len;
        if (u.field_set & (1 << UF_PORT))
            req->host.n = (size_t)(req->target.p + u.field_data[UF_PORT].off +
                                   u.field_data[UF_PORT].len - req->host.p);
    }
    return 0;
}

/* Step 3: rules that need the whole header section. */
static int
check_headers(struct http_req *req)
{
    for (int i = 0; i < req->nheaders; i++) {
        trim(&req->headers[i].value);
        enum http_known k = known_of(&req->headers[i].name);
        if (k == HH_COUNT)
            continue;
        if (req->known[k] == 0)
            req->known[k] = (uint16_t)(i + 1);
        if (k == HH_HOST)
            req->nhost++;
    }
    if (req->major != 1)
        return fail(req, 505);
    if (check_host(req) < 0 || check_transfer_encoding(req) < 0)
        return -1;
    const struct http_span *expect = http_header_known(req, HH_EXPECT);
    if (expect && req->minor >= 1) {
        if (!span_ieq(expect, "100-continue"))
            return fail(req, 417);
        req->expect_continue = req->has_body;
    }
    return 0;
}

/* http-parser stops a request whose method it does not know with HPE_INVALID_METHOD at the
 * first byte that fits no method it knows. A method-shaped token (tchar+ then SP) is a method
 * sluice does not implement: 501; anything else is junk: 400. The verdict looks at the request
 * line from its start in the buffer, so it is the same however the bytes were split; until the
 * token is complete the bytes are taken and more are awaited (the scanner bounds the line). */
static enum http_feed_result
unknown_method(struct http_req *req, const char *data, size_t len, size_t *used)
{
    const char *p = req->base, *end = data + len;
    req->bad_method = true;
    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    const char *start = p;
    while (p < end && http_is_tchar((unsigned char)*p))
        p++;
    if (p == end) {
        *used = len;
        return HTTP_NEED_MORE;
    }
    req->status = (p > start && *p == ' ') ? 501 : 400;
    return HTTP_ERROR;
}

static int
status_of(enum http_errno err)
{
    switch (err) {
    case HPE_HEADER_OVERFLOW:
        return 431;
    case HPE_INVALID_TRANSFER_ENCODING:
    default:
        return 400;
    }
}

enum http_feed_result
http_feed(struct http_req *req, const char *data, size_t len, size_t *used)
{
    http_parser *p = parser_of(req);

    *used = 0;
    req->piece.n = 0;
    if (!req->scan_done && scan_header_bytes(req, data, len) < 0)
        return HTTP_ERROR;
    if (req->bad_method)
        return unknown_method(req, data, len, used);
    if (HTTP_PARSER_ERRNO(p) == HPE_PAUSED)
        pause_parser(p, false);

    bool in_body = req->headers_done;
    size_t n = http_parser_execute(p, &settings, data, len);
    *used = n;
    enum http_errno err = HTTP_PARSER_ERRNO(p);

    if (in_body) {
        /* The first feed after HTTP_HEADERS starts with the header's final LF. */
        const char *body = data < req->base + req->header_end ? req->base + req->header_end : data;
        if (req->chunked && body < data + n &&
            scan_chunked(req, (const unsigned char *)body, (size_t)(data + n - body)) < 0)
            return HTTP_ERROR;
        /* Chunk extensions and trailers are parsed and dropped; bound how much of that a
         * client may send per byte of body so it cannot keep a worker busy on framing. */
        req->body_parsed += (int64_t)n;
        if (req->chunked && req->body_parsed - req->body_bytes >
                                CHUNK_OVERHEAD_BASE + (int64_t)req->nchunks * CHUNK_OVERHEAD_EACH) {
            fail(req, 400);
            return HTTP_ERROR;
        }
    }
    if (err == HPE_PAUSED && req->complete)
        return HTTP_COMPLETE;
    if (err == HPE_PAUSED && req->piece.n > 0)
        return HTTP_BODY;
    if (err == HPE_PAUSED && req->headers_done && !in_body) {
        /* Paused in on_headers_complete: the header's final LF is not consumed yet. */
        req->header_end = (size_t)(data - req->base) + n + 1;
        return check_headers(req) < 0 ? HTTP_ERROR : HTTP_HEADERS;
    }
    if (err == HPE_INVALID_METHOD)
        return unknown_method(req, data, len, used);
    if (err != HPE_OK) {
        if (req->status == 0)
            req->status = status_of(err);
        return HTTP_ERROR;
    }
    if (p->upgrade && req->complete)
        return HTTP_COMPLETE;
    return req->complete ? HTTP_COMPLETE : HTTP_NEED_MORE;
}

const struct http_span *
http_header_get(const struct http_req *req, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < req->nheaders; i++)
        if (span_ieq_n(&req->headers[i].name, name, n))
            return &req->headers[i].value;
    return NULL;
}

int
http_target_path(const struct http_req *req, struct http_span *path, struct http_span *query)
{
    if (req->headers_done) { /* check_host split it already */
        *path = req->path;
        *query = req->query;
        return req->split ? 0 : -1;
    }
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (req->target.n == 0 || req->target.p[0] == '*' ||
        http_parser_parse_url(req->target.p, req->target.n, 0, &u) != 0)
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
