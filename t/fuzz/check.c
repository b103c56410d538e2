/* The fuzzer's checks of what a client received: a well-framed sequence of HTTP/1.1 responses,
 * each the one conn.c built for it (status, length, close), with bodies that are root files or
 * slices of them, and nothing from outside the document root. No answer is a 500: nothing under
 * the fuzzer's root can fail on the server's side, so a 500 means a request it accepted was
 * refused for want of room (issue 9, defect 9). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t/fuzz/docroot.h"
#include "t/fuzz/fuzz.h"
#include "worker/http.h"

#define MARKER DOCROOT_MARKER

struct head {
    int status;
    size_t len;               /* status line through the blank line */
    long long content_length; /* -1 when absent */
    int connection;           /* 0 absent, 1 close, 2 keep-alive */
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
        fuzz_fail("Transfer-Encoding in a response (sluice frames with Content-Length)");
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

static void
check_body(const char *body, size_t n, const struct head *h)
{
    if (!fuzz_input_has_marker && memmem(body, n, MARKER, sizeof(MARKER) - 1))
        fuzz_fail("a body holds bytes from outside the document root");
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

/* The output stops inside a response, or a built response never got out. */
static void
check_tail(const struct client *cl, size_t pos, int nresp)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t left = cl->out_len - pos;
    if (cl->nbuilt > nresp + 1)
        fuzz_fail("connection %d: %d responses built, only %d sent", cl->id, cl->nbuilt, nresp);
    if (cl->overflow)
        return; /* the client stopped reading */
    if (cl->closed_by_timer) {
        /* send_timeout or a minimum rate cut the response. A 408 built at a timeout goes out
         * best effort, but then the connection half-closes, so the client sees a clean end. */
        if (nresp < cl->nbuilt && cl->built[nresp].status == 408 && !cl->shut)
            fuzz_fail("connection %d: a 408 cut short without a half-close", cl->id);
        return;
    }
    if (cl->short_writes && cl->nbuilt == nresp && left < sizeof(cont) - 1 &&
        memcmp(cl->out + pos, cont, left) == 0)
        return; /* conn.c gives up a connection that cannot take 100 Continue in one write */
    fuzz_fail("connection %d: output ends inside response %d (%zu bytes left, %d built)", cl->id,
              nresp, left, cl->nbuilt);
}

/* One final response against what was built for it; returns its length in the output, 0 when it
 * is cut short. */
static size_t
check_response(const struct client *cl, size_t pos, const struct head *h, int nresp)
{
    if (nresp == cl->nbuilt)
        fuzz_fail("connection %d: response %d in the output was never built (is resp_dispatch "
                  "still wrapped?)",
                  cl->id, nresp);
    const struct built *b = &cl->built[nresp];
    if (h->status != b->status)
        fuzz_fail("connection %d: response %d: status %d sent, %d built", cl->id, nresp, h->status,
                  b->status);
    if (h->status == 500)
        fuzz_fail("connection %d: response %d is a 500: no request may fail on the server's side "
                  "here",
                  cl->id, nresp);
    if ((h->connection == 1) != b->close || h->connection == 0)
        fuzz_fail("connection %d: response %d: Connection field does not match the built close "
                  "flag",
                  cl->id, nresp);
    if (!b->close &&
        (fuzz_cfg.keepalive_timeout_ms == 0 || nresp + 1 >= fuzz_cfg.max_keepalive_requests))
        fuzz_fail("connection %d: response %d keeps the connection open (keepalive_timeout %lld "
                  "ms, max_keepalive_requests %d)",
                  cl->id, nresp, (long long)fuzz_cfg.keepalive_timeout_ms,
                  fuzz_cfg.max_keepalive_requests);
    if (h->content_length < 0 && h->status != 304)
        fuzz_fail("connection %d: response %d (%d) without Content-Length", cl->id, nresp,
                  h->status);
    size_t body = b->head || h->status == 304 ? 0 : (size_t)h->content_length;
    if (cl->out_len - pos - h->len < body)
        return 0;
    if (h->len + body != b->len)
        fuzz_fail("connection %d: response %d: %zu bytes framed, %zu built", cl->id, nresp,
                  h->len + body, b->len);
    check_body(cl->out + pos + h->len, body, h);
    return h->len + body;
}

void
check_client(const struct client *cl)
{
    size_t pos = 0;
    int nresp = 0;
    bool closing = false;

    if (!cl->released)
        fuzz_fail("connection %d still open at the end", cl->id);
    if ((cl->refused || cl->parked) && cl->out_len > 0)
        fuzz_fail("connection %d (%s) received bytes", cl->id, cl->refused ? "refused" : "parked");
    if (!fuzz_input_has_marker && memmem(cl->out, cl->out_len, MARKER, sizeof(MARKER) - 1))
        fuzz_fail("bytes from outside the document root in the output of connection %d", cl->id);
    while (pos < cl->out_len) {
        struct head h;
        if (closing)
            fuzz_fail("connection %d: bytes after a response with Connection: close", cl->id);
        if (!parse_head(cl->out + pos, cl->out_len - pos, &h)) {
            check_tail(cl, pos, nresp);
            return;
        }
        if (h.status < 200) {
            if (!span_is(cl->out + pos, h.len, "HTTP/1.1 100 Continue\r\n\r\n"))
                fuzz_fail("connection %d: unexpected interim response", cl->id);
            pos += h.len;
            continue;
        }
        size_t n = check_response(cl, pos, &h, nresp);
        if (n == 0) {
            check_tail(cl, pos, nresp);
            return;
        }
        closing = cl->built[nresp].close;
        pos += n;
        nresp++;
    }
    if (nresp < cl->nbuilt)
        check_tail(cl, pos, nresp);
    /* Every close after a complete response half-closes first, a 408 at a timeout included. */
    if (closing && !cl->shut)
        fuzz_fail("connection %d: Connection: close without a half-close before the close", cl->id);
}
