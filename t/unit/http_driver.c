/* The http-parser driver (see http_driver.h): delivers an input to http_feed in pieces as
 * conn.c does, one buffer that only grows, and records each request's outcome as offsets into
 * the input so that runs with different cuts compare. */
#include "http_driver.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POISON 0xA5 /* fills the buffer past the bytes delivered so far */

const struct http_limits th_default_limits = {8192, 16384, 100, 1 << 20};
const struct http_limits th_small_limits = {256, 1024, 8, 100};

static struct rec_span
rec(const char *buf, struct http_span s)
{
    if (s.n == 0)
        return (struct rec_span){-1, 0};
    return (struct rec_span){(long)(s.p - buf), s.n};
}

static void
snapshot(struct outcome *o, const char *buf, const struct http_req *req, size_t start, size_t pos,
         enum http_feed_result result, int nheaders_results)
{
    ck_assert_int_lt(o->nreqs, TH_MAX_REQS);
    struct rec_req *r = &o->req[o->nreqs++];
    memset(r, 0, sizeof(*r));
    r->result = result;
    r->status = req->status;
    r->nheaders_results = nheaders_results;
    r->headers_done = req->headers_done;
    r->start = start;
    r->consumed = pos - start;
    r->header_end = req->headers_done ? req->header_end : 0;
    if (!req->headers_done)
        return;
    r->verb = req->verb;
    snprintf(r->method_name, sizeof(r->method_name), "%s",
             req->method_name ? req->method_name : "(null)");
    r->major = req->major;
    r->minor = req->minor;
    r->keep_alive = req->keep_alive;
    r->expect_continue = req->expect_continue;
    r->has_body = req->has_body;
    r->chunked = req->chunked;
    r->content_length = req->content_length;
    r->body_bytes = req->body_bytes;
    r->target = rec(buf, req->target);
    r->host = rec(buf, req->host);
    r->nheaders = req->nheaders;
    for (int i = 0; i < req->nheaders && i < TH_MAX_HDRS; i++) {
        r->name[i] = rec(buf, req->headers[i].name);
        r->value[i] = rec(buf, req->headers[i].value);
    }
}

/* Parse `in` delivered in pieces ending at cuts[0] < cuts[1] < ... = len, as conn.c does: one
 * buffer that only grows, http_feed over the unparsed tail after every delivery, a new request
 * (based at the first unparsed byte) after HTTP_COMPLETE, and a stop at HTTP_ERROR. */
static void
drive(const char *in, size_t len, const struct http_limits *lim, const size_t *cuts, int ncuts,
      struct outcome *o)
{
    char *buf = malloc(len ? len : 1);
    struct http_header *headers = malloc(sizeof(*headers) * (size_t)lim->max_headers);
    ck_assert(buf && headers);
    memset(buf, POISON, len);
    memset(o, 0, sizeof(*o));

    struct http_req req;
    size_t avail = 0, pos = 0, start = 0;
    int nheaders_results = 0;
    int64_t pieces = 0; /* body bytes handed out by HTTP_BODY */
    bool stopped = false;
    http_req_init(&req, buf, lim, headers);

    for (int k = 0; k < ncuts && !stopped; k++) {
        memcpy(buf + avail, in + avail, cuts[k] - avail);
        avail = cuts[k];
        while (pos < avail) {
            size_t used = 12345;
            enum http_feed_result r = http_feed(&req, buf + pos, avail - pos, &used);
            ck_assert_msg(used <= avail - pos, "used %zu of %zu bytes", used, avail - pos);
            pos += used;
            if (r == HTTP_NEED_MORE) {
                ck_assert_int_eq(req.status, 0);
                break;
            }
            if (r == HTTP_HEADERS) {
                ck_assert(req.headers_done);
                ck_assert_int_eq(req.status, 0);
                ck_assert_int_eq(++nheaders_results, 1);
                /* conn.c sets the route's limit here; the server's is the default. */
                if (http_body_limit(&req, lim->max_body_size) == 0)
                    continue;
                r = HTTP_ERROR;
            }
            if (r == HTTP_BODY) {
                /* One piece per call, inside the bytes fed so far, never empty. */
                ck_assert_uint_gt(req.piece.n, 0);
                ck_assert(req.piece.p >= buf && req.piece.p + req.piece.n <= buf + avail);
                pieces += (int64_t)req.piece.n;
                continue;
            }
            snapshot(o, buf, &req, start, pos, r, nheaders_results);
            if (r == HTTP_ERROR) {
                ck_assert_int_ne(req.status, 0);
                stopped = true;
                break;
            }
            ck_assert_int_eq(r, HTTP_COMPLETE);
            ck_assert(req.complete);
            ck_assert_int_eq(pieces, req.body_bytes);
            pieces = 0;
            start = pos;
            nheaders_results = 0;
            http_req_init(&req, buf + pos, lim, headers);
        }
    }
    if (!stopped && avail > start)
        snapshot(o, buf, &req, start, pos, HTTP_NEED_MORE, nheaders_results);
    free(headers);
    free(buf);
}

static bool
span_eq(struct rec_span a, struct rec_span b)
{
    return a.n == b.n && (a.n == 0 || a.off == b.off);
}

/* `n` bytes of `p` as a C string literal's body, cut to fit `out`. */
static const char *
esc(const char *p, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < size; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r' || c == '\n')
            o += (size_t)snprintf(out + o, size - o, "\\%c", c == '\r' ? 'r' : 'n');
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

const char *
th_result_name(enum http_feed_result r)
{
    return r == HTTP_COMPLETE ? "HTTP_COMPLETE" : r == HTTP_ERROR ? "HTTP_ERROR" : "incomplete";
}

/* `got` must equal `want`; the body and consumed counts only where the request succeeded. */
static void
same_outcome(const struct outcome *want, const struct outcome *got, const char *how)
{
    for (int i = 0; i < want->nreqs && i < got->nreqs; i++)
        ck_assert_msg(got->req[i].result == want->req[i].result &&
                          got->req[i].status == want->req[i].status,
                      "%s: request %d: %s (status %d), in one piece %s (status %d)", how, i,
                      th_result_name(got->req[i].result), got->req[i].status,
                      th_result_name(want->req[i].result), want->req[i].status);
    ck_assert_msg(got->nreqs == want->nreqs, "%s: %d requests, in one piece %d", how, got->nreqs,
                  want->nreqs);
    for (int i = 0; i < want->nreqs; i++) {
        const struct rec_req *w = &want->req[i], *g = &got->req[i];
#define SAME(field)                                                                                \
    ck_assert_msg(g->field == w->field, "%s, request %d: " #field " %lld, in one piece %lld", how, \
                  i, (long long)g->field, (long long)w->field)
        SAME(result);
        SAME(status);
        SAME(headers_done);
        SAME(start);
        if (w->result != HTTP_ERROR) {
            SAME(nheaders_results);
            SAME(consumed);
            SAME(body_bytes);
        }
        if (!w->headers_done || !g->headers_done)
            continue;
        SAME(header_end);
        SAME(verb);
        SAME(major);
        SAME(minor);
        SAME(keep_alive);
        SAME(expect_continue);
        SAME(has_body);
        SAME(chunked);
        SAME(content_length);
        SAME(nheaders);
#undef SAME
        ck_assert_msg(strcmp(g->method_name, w->method_name) == 0, "%s: method %s, in one piece %s",
                      how, g->method_name, w->method_name);
        ck_assert_msg(span_eq(g->target, w->target), "%s, request %d: target differs", how, i);
        ck_assert_msg(span_eq(g->host, w->host), "%s, request %d: host differs", how, i);
        for (int h = 0; h < w->nheaders && h < TH_MAX_HDRS; h++)
            ck_assert_msg(span_eq(g->name[h], w->name[h]) && span_eq(g->value[h], w->value[h]),
                          "%s, request %d: header %d differs", how, i, h);
    }
}

void
th_parse_all(const char *in, size_t len, const struct http_limits *lim, struct outcome *o)
{
    size_t one = len;
    drive(in, len, lim, &one, 1, o);

    struct outcome *got = malloc(sizeof(*got));
    size_t *cuts = malloc(sizeof(*cuts) * (len + 1));
    ck_assert(got && cuts);
    char how[200], before[64], after[64];
    for (size_t k = 1; k < len; k++) {
        cuts[0] = k;
        cuts[1] = len;
        drive(in, len, lim, cuts, 2, got);
        size_t b = k < 16 ? 0 : k - 16, a = len - k < 16 ? len - k : 16;
        snprintf(how, sizeof(how), "split at %zu (\"...%s\" | \"%s...\")", k,
                 esc(in + b, k - b, before, sizeof(before)), esc(in + k, a, after, sizeof(after)));
        same_outcome(o, got, how);
    }
    for (size_t k = 0; k < len; k++)
        cuts[k] = k + 1;
    drive(in, len, lim, cuts, (int)len, got);
    same_outcome(o, got, "byte by byte");
    free(cuts);
    free(got);
}

void
th_expect_error(const char *in, size_t len, const struct http_limits *lim, int status,
                int headers_done)
{
    struct outcome o;
    th_parse_all(in, len, lim, &o);
    const struct rec_req *r = &o.req[0];
    char shown[160];
    ck_assert_msg(o.nreqs == 1 && r->result == HTTP_ERROR && r->status == status,
                  "\"%s\": %d request(s), the first %s (status %d), expected HTTP_ERROR with %d",
                  esc(in, len, shown, sizeof(shown)), o.nreqs, th_result_name(r->result), r->status,
                  status);
    if (headers_done >= 0)
        ck_assert_int_eq(r->headers_done, headers_done);
}

void
th_expect_ok(const char *in, size_t len, const struct http_limits *lim, int nreqs)
{
    struct outcome o;
    th_parse_all(in, len, lim, &o);
    char shown[160];
    esc(in, len, shown, sizeof(shown));
    for (int i = 0; i < nreqs && i < o.nreqs; i++)
        ck_assert_msg(o.req[i].result == HTTP_COMPLETE && o.req[i].status == 0,
                      "\"%s\": request %d: %s (status %d), expected HTTP_COMPLETE", shown, i,
                      th_result_name(o.req[i].result), o.req[i].status);
    ck_assert_msg(o.nreqs == nreqs, "\"%s\": %d requests, expected %d", shown, o.nreqs, nreqs);
    ck_assert_uint_eq(o.req[nreqs - 1].start + o.req[nreqs - 1].consumed, len);
}
