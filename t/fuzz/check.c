/* The fuzzer's checks of what a client received: a well-framed sequence of HTTP/1.1 responses,
 * one per log-phase record of the connection and exactly the bytes the record says were sent,
 * one record per request that began, in order; bodies that are root files or slices of them,
 * or what the test handlers (t/app) must answer for the request the client sent; nothing from
 * outside the document root. No answer is a 500 unless a test handler was asked for one:
 * nothing under the fuzzer's root can fail on the server's side, so a 500 means a request it
 * accepted was refused for want of room (issue 9, defect 9). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t/app/pattern.h"
#include "t/fuzz/docroot.h"
#include "t/fuzz/fuzz.h"
#include "worker/http.h"
#include "worker/http_lex.h"

#define MARKER DOCROOT_MARKER
#define CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

struct head {
    int status;
    size_t len;               /* status line through the blank line */
    long long content_length; /* -1 when absent */
    int connection;           /* 0 absent, 1 close, 2 keep-alive */
    bool chunked;             /* Transfer-Encoding: chunked */
    bool x_test_later;        /* X-Test: later (/_t/later's) */
    const char *ctype, *crange;
    size_t ctype_len, crange_len;
};

static bool
span_is(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static long long
parse_count(const char *p, size_t n)
{
    long long v = 0;
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static void
header_field(const char *line, size_t n, struct head *h)
{
    const char *colon = memchr(line, ':', n);
    if (colon == NULL || !http_is_token(line, (size_t)(colon - line)) ||
        (size_t)(colon - line) + 2 > n || colon[1] != ' ')
        fuzz_fail("malformed header line '%.*s'", (int)n, line);
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 2;
    size_t vl = n - nl - 2;
    for (size_t i = 0; i < vl; i++)
        if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
            fuzz_fail("control byte in header line '%.*s'", (int)n, line);
    if (span_is(line, nl, "Content-Length")) {
        if (h->content_length >= 0 || (h->content_length = parse_count(v, vl)) < 0)
            fuzz_fail("duplicate or bad Content-Length '%.*s'", (int)vl, v);
    } else if (span_is(line, nl, "Connection")) {
        if (h->connection)
            fuzz_fail("two Connection fields");
        h->connection = span_is(v, vl, "close") ? 1 : span_is(v, vl, "keep-alive") ? 2 : -1;
        if (h->connection < 0)
            fuzz_fail("Connection: '%.*s'", (int)vl, v);
    } else if (span_is(line, nl, "Transfer-Encoding")) {
        if (h->chunked || !span_is(v, vl, "chunked"))
            fuzz_fail("Transfer-Encoding: '%.*s' (sluice streams only chunked)", (int)vl, v);
        h->chunked = true;
    } else if (span_is(line, nl, "X-Test")) {
        h->x_test_later = span_is(v, vl, "later");
    } else if (span_is(line, nl, "Content-Type")) {
        h->ctype = v;
        h->ctype_len = vl;
    } else if (span_is(line, nl, "Content-Range")) {
        h->crange = v;
        h->crange_len = vl;
    }
}

/* Parse the head of the response at `p`. Returns false when it is not complete in the output;
 * malformed framing fails the run. */
static bool
parse_head(const char *p, size_t avail, struct head *h)
{
    static const char proto[] = "HTTP/1.1 ";
    if (memcmp(p, proto, avail < 9 ? avail : 9) != 0)
        fuzz_fail("a response does not start with 'HTTP/1.1 '");
    const char *end = memmem(p, avail, "\r\n\r\n", 4);
    if (end == NULL)
        return false;
    *h = (struct head){.len = (size_t)(end + 4 - p), .content_length = -1};
    const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
    if (eol - p < 13 || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
        p[11] > '9' || p[12] != ' ')
        fuzz_fail("bad status line '%.*s'", (int)(eol - p), p);
    h->status = atoi(p + 9);
    for (const char *c = p; c < eol; c++)
        if (*c < 0x20 || *c > 0x7e)
            fuzz_fail("control byte in the status line");
    for (const char *line = eol + 2; line < end + 2; line = eol + 2) {
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        if (memchr(line, '\n', (size_t)(eol - line)) || memchr(line, '\r', (size_t)(eol - line)))
            fuzz_fail("bare CR or LF in a response header");
        header_field(line, (size_t)(eol - line), h);
    }
    return true;
}

/* Is p[0..n) bytes first..last of a root file of `size` bytes? */
static bool
is_slice(const char *p, size_t n, long long first, long long last, long long size)
{
    int nfiles;
    const struct docfile *files = docroot_files(&nfiles);
    if (first < 0 || last < first || last >= size || (size_t)(last - first + 1) != n)
        return false;
    for (int i = 0; i < nfiles; i++)
        if ((long long)files[i].len == size && memcmp(files[i].data + first, p, n) == 0)
            return true;
    return false;
}

/* "bytes FIRST-LAST/SIZE" */
static bool
parse_range(const char *v, size_t n, long long *first, long long *last, long long *size)
{
    const char *dash, *slash;
    if (n < 6 || memcmp(v, "bytes ", 6) != 0 || (dash = memchr(v, '-', n)) == NULL ||
        (slash = memchr(v, '/', n)) == NULL || slash < dash)
        return false;
    *first = parse_count(v + 6, (size_t)(dash - v - 6));
    *last = parse_count(dash + 1, (size_t)(slash - dash - 1));
    *size = parse_count(slash + 1, (size_t)(v + n - slash - 1));
    return *first >= 0 && *last >= 0 && *size >= 0;
}

/* multipart/byteranges: every part a slice of the file, then the closing delimiter. */
static void
check_multipart(const char *body, size_t n, const struct head *h)
{
    static const char key[] = "multipart/byteranges; boundary=";
    char delim[128];
    size_t kl = sizeof(key) - 1;
    if (h->ctype == NULL || h->ctype_len <= kl || memcmp(h->ctype, key, kl) != 0 ||
        h->ctype_len - kl > 100)
        fuzz_fail("206 without Content-Range or a multipart/byteranges type");
    int dl = snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)(h->ctype_len - kl), h->ctype + kl);
    const char *p = body, *end = body + n;
    for (int part = 0;; part++) {
        if (end - p < dl || memcmp(p, delim, (size_t)dl) != 0)
            fuzz_fail("multipart part %d does not start with its delimiter", part);
        p += dl;
        if (end - p == 4 && memcmp(p, "--\r\n", 4) == 0 && part > 0)
            return;
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        const char *cr = hend ? memmem(p, (size_t)(hend - p), "\r\nContent-Range: ", 17) : NULL;
        long long first, last, size;
        if (cr == NULL)
            fuzz_fail("multipart part %d without Content-Range", part);
        const char *crv = cr + 17, *crend = memmem(crv, (size_t)(hend + 2 - crv), "\r\n", 2);
        if (!parse_range(crv, (size_t)(crend - crv), &first, &last, &size))
            fuzz_fail("multipart part %d: bad Content-Range", part);
        p = hend + 4;
        size_t len = (size_t)(last - first + 1);
        if ((size_t)(end - p) < len || !is_slice(p, len, first, last, size))
            fuzz_fail("multipart part %d is not bytes %lld-%lld of a root file", part, first, last);
        p += len;
    }
}

/* A static file's (or the server's own) body. */
static void
check_static_body(const char *body, size_t n, const struct head *h)
{
    if (h->status == 206) {
        long long first, last, size;
        if (h->crange == NULL)
            check_multipart(body, n, h);
        else if (!parse_range(h->crange, h->crange_len, &first, &last, &size) ||
                 !is_slice(body, n, first, last, size))
            fuzz_fail("206 body is not the bytes its Content-Range names");
        return;
    }
    if (h->status != 200 || n == 0)
        return;
    int nfiles;
    const struct docfile *files = docroot_files(&nfiles);
    for (int i = 0; i < nfiles; i++)
        if (files[i].len == n && memcmp(files[i].data, body, n) == 0)
            return;
    /* Not a file: only a directory listing may be sent as a 200 body. */
    if (!fuzz_cfg.autoindex || n < 15 || memcmp(body, "<!DOCTYPE html>", 15) != 0)
        fuzz_fail("200 body of %zu bytes is neither a root file nor a listing", n);
}
/* ---- framing ---- */

/* A chunked body as sluice writes it (hex size, CRLF, data, CRLF; "0" CRLF, trailer lines,
 * CRLF) from p, at most n bytes: decoded into dec (*dec_n bytes), trailer lines at *tr. Returns
 * its framed length, 0 when the bytes end first. Anything else malformed fails the run. */
static size_t
dechunk(const char *p, size_t n, char *dec, size_t *dec_n, const char **tr, size_t *tr_n)
{
    size_t pos = 0;
    *dec_n = 0;
    for (;;) {
        const char *eol = memmem(p + pos, n - pos, "\r\n", 2);
        if (eol == NULL)
            return 0;
        size_t size = 0, digits = (size_t)(eol - (p + pos));
        if (digits == 0 || digits > 15 || (digits > 1 && p[pos] == '0'))
            fuzz_fail("bad chunk size line '%.*s'", (int)digits, p + pos);
        for (size_t i = 0; i < digits; i++) {
            char c = p[pos + i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                fuzz_fail("bad chunk size line '%.*s'", (int)digits, p + pos);
            size = size * 16 + (size_t)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        pos += digits + 2;
        if (size == 0)
            break;
        if (n - pos < size + 2)
            return 0;
        if (memcmp(p + pos + size, "\r\n", 2) != 0)
            fuzz_fail("a chunk of %zu bytes is not followed by CRLF", size);
        memcpy(dec + *dec_n, p + pos, size);
        *dec_n += size;
        pos += size + 2;
    }
    *tr = p + pos;
    for (;;) { /* trailer lines, then the empty line */
        const char *eol = memmem(p + pos, n - pos, "\r\n", 2);
        if (eol == NULL)
            return 0;
        size_t len = (size_t)(eol - (p + pos));
        if (len == 0) {
            *tr_n = (size_t)(p + pos - *tr);
            return pos + 2;
        }
        const char *colon = memchr(p + pos, ':', len);
        if (colon == NULL || !http_is_token(p + pos, (size_t)(colon - (p + pos))))
            fuzz_fail("malformed trailer line '%.*s'", (int)len, p + pos);
        pos += len + 2;
    }
}

/* ---- what the test handlers answer (t/app) ---- */

static bool
route_is(const struct record *r, const char *name)
{
    return r->route != NULL && strcmp(r->route, name) == 0;
}

/* Handlers asked by their query for a status (t_now), or able to fail on purpose (a header
 * table past max_response_header, a file that shrank, a body larger than asked): a 500 from
 * them is an answer, not a failure. */
static bool
may_fail(const struct record *r)
{
    static const char *const names[] = {"t_now", "t_headers", "t_fd", "t_mem", "t_stats"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (route_is(r, names[i]))
            return true;
    return false;
}

/* /_t/echo: the body's length and checksum, and where the server kept it. */
static void
check_echo(const struct client *cl, const char *body, size_t n, const struct sent *s,
           const struct record *r)
{
    char text[1024], where[16], path[512];
    long long len;
    unsigned sum;
    snprintf(text, sizeof(text), "%.*s", (int)(n < sizeof(text) - 1 ? n : sizeof(text) - 1), body);
    if (sscanf(text, "len=%lld sum=%u where=%15s path=%511[^\n]", &len, &sum, where, path) != 4)
        fuzz_fail("connection %d: /_t/echo answered '%s'", cl->id, text);
    if (len != s->body_len || sum != s->body_sum || r->body_bytes != len)
        fuzz_fail("connection %d: /_t/echo got %lld bytes (sum %u), the client sent %lld (sum "
                  "%u), the log counts %lld",
                  cl->id, len, sum, (long long)s->body_len, s->body_sum, (long long)r->body_bytes);
    const char *want = len == 0 ? "none" : len <= fuzz_cfg.body_buffer_size ? "mem" : "file";
    size_t plen = strlen(fuzz_cfg.body_temp_path);
    if (strcmp(where, want) != 0)
        fuzz_fail("connection %d: a %lld-byte body kept in '%s', not '%s' (body_buffer_size %lld)",
                  cl->id, len, where, want, (long long)fuzz_cfg.body_buffer_size);
    if (strcmp(where, "file") == 0 &&
        (strncmp(path, fuzz_cfg.body_temp_path, plen) != 0 || path[plen] != '/'))
        fuzz_fail("connection %d: a body spilled to '%s', outside body_temp_path '%s'", cl->id,
                  path, fuzz_cfg.body_temp_path);
}

/* /_t/upload: the streamed body as the handler counted it. */
static void
check_upload(const struct client *cl, const char *body, size_t n, const struct sent *s)
{
    char text[256];
    long long bytes;
    unsigned sum;
    snprintf(text, sizeof(text), "%.*s", (int)(n < sizeof(text) - 1 ? n : sizeof(text) - 1), body);
    if (sscanf(text, "bytes=%lld sum=%u", &bytes, &sum) != 2 || bytes != s->body_len ||
        sum != s->body_sum)
        fuzz_fail("connection %d: /_t/upload answered '%s' for a body of %lld bytes (sum %u)",
                  cl->id, text, (long long)s->body_len, s->body_sum);
}

/* /_t/later: the pattern from offset 0, and its checksum in the trailer when asked. */
static void
check_later(const struct client *cl, const char *body, size_t n, const char *tr, size_t tr_n,
            const struct head *h)
{
    if (!h->x_test_later)
        fuzz_fail("connection %d: a /_t/later answer without its X-Test field", cl->id);
    for (size_t i = 0; i < n; i++)
        if (body[i] != app_pattern(i))
            fuzz_fail("connection %d: /_t/later's body differs from the pattern at byte %zu of "
                      "%zu",
                      cl->id, i, n);
    char want[64];
    int wl = snprintf(want, sizeof(want), "X-Sum: %u\r\n", app_sum(APP_SUM_INIT, body, n));
    if (tr != NULL && tr_n > 0 && !span_is(tr, tr_n, want))
        fuzz_fail("connection %d: /_t/later's trailer '%.*s' is not '%.*s'", cl->id, (int)tr_n, tr,
                  wl - 2, want);
}

static void
check_body(const struct client *cl, const char *body, size_t n, const char *tr, size_t tr_n,
           const struct head *h, const struct record *r, const struct sent *s)
{
    if (!fuzz_input_has_marker && memmem(body, n, MARKER, sizeof(MARKER) - 1))
        fuzz_fail("a body holds bytes from outside the document root");
    if (h->status >= 300 || s->options || s->head)
        return;
    if (r->route == NULL || route_is(r, "static"))
        check_static_body(body, n, h);
    else if (route_is(r, "t_echo") || route_is(r, "t_tiny"))
        check_echo(cl, body, n, s, r);
    else if (route_is(r, "t_upload") || route_is(r, "t_tinyup"))
        check_upload(cl, body, n, s);
    else if (route_is(r, "t_later"))
        check_later(cl, body, n, tr, tr_n, h);
    else if (route_is(r, "t_hang") || route_is(r, "t_refuse"))
        fuzz_fail("connection %d: %s answered %d", cl->id, r->route, h->status);
}

/* ---- one response against its record ---- */

/* The record's own fields, and the rules of its end. */
static void
check_record(const struct client *cl, int k)
{
    const struct record *r = &cl->rec[k];
    if (r->seq != (uint32_t)k + 1 || r->reused != (r->seq > 1) || r->fd != FUZZ_CONN_FD)
        fuzz_fail("connection %d: record %d has seq %u (reused %d, fd %d)", cl->id, k, r->seq,
                  r->reused, r->fd);
    if (k >= cl->nsent)
        fuzz_fail("connection %d: record %d (status %d) for a request that never began: the "
                  "server took %zu bytes, %d requests",
                  cl->id, k, r->status, client_given(cl), cl->nsent);
    if (r->start_ms > r->end_ms ||
        (r->dispatch_ms != 0 && (r->dispatch_ms < r->start_ms || r->dispatch_ms > r->end_ms)))
        fuzz_fail("connection %d: record %d: times start %lld, dispatch %lld, end %lld", cl->id, k,
                  (long long)r->start_ms, (long long)r->dispatch_ms, (long long)r->end_ms);
    if (r->end == REQ_END_COMPLETE && r->bytes_sent == 0)
        fuzz_fail("connection %d: record %d complete with no byte sent", cl->id, k);
    if (r->end == REQ_END_CLIENT_GONE && r->bytes_sent == 0 && !cl->overflow && r->status != 0)
        fuzz_fail("connection %d: record %d: the client left before any answer began, yet the "
                  "record has status %d",
                  cl->id, k, r->status);
    if (r->status == 500 && !may_fail(r))
        fuzz_fail("connection %d: record %d is a 500 (route %s): no request may fail on the "
                  "server's side here",
                  cl->id, k, r->route ? r->route : "-");
    if (r->status == 504 && !route_is(r, "t_now") &&
        (r->end != REQ_END_TIMEOUT || r->end_ms - r->start_ms < fuzz_cfg.request_timeout_ms))
        fuzz_fail("connection %d: record %d: a 504 ending %d after %lld ms (request_timeout %lld)",
                  cl->id, k, r->end, (long long)(r->end_ms - r->start_ms),
                  (long long)fuzz_cfg.request_timeout_ms);
    if (route_is(r, "t_hang") && r->status != 0 && r->status < 300 && !cl->sent[k].options)
        fuzz_fail("connection %d: /_t/hang answered %d", cl->id, r->status);
}

/* The response of record k at out[pos], of its bytes_sent bytes. Returns true when the
 * connection is to close after it. */
static bool
check_response(const struct client *cl, size_t pos, int k)
{
    static char dec[FUZZ_OUT_MAX];
    const struct record *r = &cl->rec[k];
    const struct sent *s = &cl->sent[k];
    const char *p = cl->out + pos;
    size_t n = (size_t)r->bytes_sent, frame, body_n;
    const char *body = dec, *tr = NULL;
    size_t tr_n = 0;
    bool complete = r->end == REQ_END_COMPLETE;
    struct head h;

    if (!parse_head(p, n, &h)) {
        if (complete)
            fuzz_fail("connection %d: record %d: %zu bytes sent hold no whole header", cl->id, k,
                      n);
        return true;
    }
    if (h.status != r->status)
        fuzz_fail("connection %d: response %d: status %d sent, %d logged", cl->id, k, h.status,
                  r->status);
    if (h.connection == 0)
        fuzz_fail("connection %d: response %d without a Connection field", cl->id, k);
    bool close = h.connection == 1;
    if (!close &&
        (fuzz_cfg.keepalive_timeout_ms == 0 || r->seq >= (uint32_t)fuzz_cfg.max_keepalive_requests))
        fuzz_fail("connection %d: response %d keeps the connection open (keepalive_timeout %lld "
                  "ms, max_keepalive_requests %d)",
                  cl->id, k, (long long)fuzz_cfg.keepalive_timeout_ms,
                  fuzz_cfg.max_keepalive_requests);
    if (h.chunked && (h.content_length >= 0 || !route_is(r, "t_later")))
        fuzz_fail("connection %d: response %d chunked (route %s, Content-Length %lld)", cl->id, k,
                  r->route ? r->route : "-", h.content_length);
    if (s->head || h.status == 304 || h.status == 204) {
        frame = h.len;
        body_n = 0;
    } else if (h.chunked) {
        size_t used = dechunk(p + h.len, n - h.len, dec, &body_n, &tr, &tr_n);
        if (used == 0 && complete)
            fuzz_fail("connection %d: response %d: a complete record ends inside its chunks",
                      cl->id, k);
        frame = used ? h.len + used : SIZE_MAX;
    } else if (h.content_length >= 0) {
        frame = h.len + (size_t)h.content_length;
        body = p + h.len;
        body_n = (size_t)h.content_length;
    } else {
        /* A stream on HTTP/1.0: no framing, the close ends it. */
        if (!s->http10 || !close || !route_is(r, "t_later"))
            fuzz_fail("connection %d: response %d (%d) without Content-Length", cl->id, k,
                      h.status);
        frame = n;
        body = p + h.len;
        body_n = n - h.len;
    }
    if (complete ? frame != n : frame < n)
        fuzz_fail("connection %d: response %d: %zu bytes framed, %zu sent (end %d)", cl->id, k,
                  frame, n, r->end);
    if (complete)
        check_body(cl, body, body_n, tr, tr_n, &h, r, s);
    if (complete && close && !cl->shut)
        fuzz_fail("connection %d: Connection: close without a half-close before the close", cl->id);
    /* A 408 at a timeout goes out best effort, but then the connection half-closes, so the
     * client sees a clean end. */
    if (r->end == REQ_END_TIMEOUT && h.status == 408 && !cl->shut)
        fuzz_fail("connection %d: a 408 cut short without a half-close", cl->id);
    return close;
}

/* Skip complete interim responses at out[pos]. */
static size_t
skip_continue(const struct client *cl, size_t pos)
{
    const size_t cl_len = sizeof(CONTINUE) - 1;
    while (cl->out_len - pos >= cl_len && memcmp(cl->out + pos, CONTINUE, cl_len) == 0)
        pos += cl_len;
    return pos;
}

void
check_client(const struct client *cl)
{
    size_t pos = 0;
    bool final = false;
    int k = 0;

    if (!cl->released)
        fuzz_fail("connection %d still open at the end", cl->id);
    if ((cl->refused || cl->parked) && (cl->out_len > 0 || cl->nrec > 0))
        fuzz_fail("connection %d (%s) received bytes or has records", cl->id,
                  cl->refused ? "refused" : "parked");
    if (!fuzz_input_has_marker && memmem(cl->out, cl->out_len, MARKER, sizeof(MARKER) - 1))
        fuzz_fail("bytes from outside the document root in the output of connection %d", cl->id);
    for (; k < cl->nrec && !final; k++) {
        const struct record *r = &cl->rec[k];
        check_record(cl, k);
        pos = skip_continue(cl, pos);
        if (cl->out_len - pos < (size_t)r->bytes_sent)
            fuzz_fail("connection %d: record %d says %lld bytes sent, the client has %zu more",
                      cl->id, k, (long long)r->bytes_sent, cl->out_len - pos);
        final = r->end != REQ_END_COMPLETE;
        if (r->bytes_sent > 0 && check_response(cl, pos, k))
            final = true;
        pos += (size_t)r->bytes_sent;
    }
    if (final && k < cl->nrec)
        fuzz_fail("connection %d: record %d after the connection's last response", cl->id, k);
    if (!final && cl->nrec != cl->nsent)
        fuzz_fail("connection %d: %d requests began (%zu bytes taken), %d records", cl->id,
                  cl->nsent, client_given(cl), cl->nrec);
    pos = skip_continue(cl, pos);
    size_t left = cl->out_len - pos;
    if (left == 0)
        return;
    /* conn.c gives up a connection that cannot take 100 Continue in one write. */
    if ((cl->short_writes || cl->contrary) && left < sizeof(CONTINUE) - 1 &&
        memcmp(cl->out + pos, CONTINUE, left) == 0)
        return;
    fuzz_fail("connection %d: %zu bytes of output after response %d that no record accounts for",
              cl->id, left, k);
}
