/* The http-parser driver shared by check_http.c and check_http_errors.c (http_driver.c): feeds
 * an input to worker/http.c the way conn.c does, whole, split in two at every offset and byte by
 * byte, checks that every way gives the same outcome, and records that outcome. */
#ifndef SLUICE_T_HTTP_DRIVER_H
#define SLUICE_T_HTTP_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/http.h"

#define TH_MAX_REQS 8  /* requests recorded per input (pipelining) */
#define TH_MAX_HDRS 16 /* header fields recorded per request */

/* The limits most cases run with, and small ones for the limit cases. */
extern const struct http_limits th_default_limits;
extern const struct http_limits th_small_limits;

/* A span recorded as an offset into the input, so outcomes of different runs compare. */
struct rec_span {
    long off; /* -1 when empty */
    size_t n;
};

/* What one request came to. */
struct rec_req {
    enum http_feed_result result; /* HTTP_COMPLETE, HTTP_ERROR, or HTTP_NEED_MORE: input ended */
    int status;
    int nheaders_results; /* how often HTTP_HEADERS was returned */
    bool headers_done;
    size_t start, consumed, header_end; /* consumed and header_end relative to start */
    enum http_verb verb;
    char method_name[32];
    unsigned major, minor;
    bool keep_alive, expect_continue, has_body, chunked;
    int64_t content_length, body_bytes;
    struct rec_span target, host;
    int nheaders;
    struct rec_span name[TH_MAX_HDRS], value[TH_MAX_HDRS];
};

struct outcome {
    int nreqs;
    struct rec_req req[TH_MAX_REQS];
};

/* Parse `in` in one piece, in two pieces at every offset, and byte by byte; all must agree (the
 * test fails otherwise). The one-piece outcome is left in *o. */
void th_parse_all(const char *in, size_t len, const struct http_limits *lim, struct outcome *o);

/* "HTTP_COMPLETE", "HTTP_ERROR" or "incomplete", for messages. */
const char *th_result_name(enum http_feed_result r);

/* The input (one request) must fail with `status` however it arrives; headers_done 0 or 1 says
 * whether the header section must (not) have been complete at the error, -1 don't care. */
void th_expect_error(const char *in, size_t len, const struct http_limits *lim, int status,
                     int headers_done);

/* The input must be `nreqs` complete, acceptable requests, using all bytes, however it arrives. */
void th_expect_ok(const char *in, size_t len, const struct http_limits *lim, int nreqs);

#endif
