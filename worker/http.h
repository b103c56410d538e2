/* HTTP/1.1 request parsing: the glue around http-parser. Only http.c includes http_parser.h, so
 * the parser (unmaintained upstream) can be swapped without touching the rest of the worker. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_PARSER_SPACE 40 /* >= sizeof(http_parser); checked in http.c */
#define HTTP_MAX_HEADERS 64

enum http_verb {
    VERB_OTHER,
    VERB_GET,
    VERB_HEAD,
};

struct http_span {
    const char *p;
    size_t n;
};

struct http_header {
    struct http_span name, value;
};

/* One request being parsed. Spans point into the caller's buffer, which must keep the header
 * bytes in place (bytes are only ever appended) until the request is answered. */
struct http_req {
    unsigned char parser[HTTP_PARSER_SPACE] __attribute__((aligned(8)));
    enum http_verb verb;
    const char *method_name; /* static string, for logs */
    unsigned short major, minor;
    bool keep_alive;     /* the client allows another request on this connection */
    bool headers_done;
    bool complete;       /* whole message, body included, parsed */
    struct http_span target;
    struct http_header headers[HTTP_MAX_HEADERS];
    int nheaders;
    int status;           /* 0, or the error status the request must get (400, 431, ...) */
    size_t body_start;    /* offset of the first body byte in the buffer, 0 = none yet */
    const char *base;     /* start of the caller's buffer, for body_start */
    bool in_value;        /* the last header callback was a value */
};

enum http_feed_result {
    HTTP_NEED_MORE, /* all bytes consumed, request not complete */
    HTTP_COMPLETE,  /* one request complete; *used tells how far; later bytes are the next one */
    HTTP_ERROR,     /* malformed: req->status holds the status to answer, then close */
};

/* Start parsing a new request whose bytes will live in a buffer starting at `base`. */
void http_req_init(struct http_req *req, const char *base);

/* Feed `len` new bytes at `data` (inside the buffer). On HTTP_COMPLETE *used is the number of
 * bytes that belonged to this request; the rest are pipelined and need a new http_req_init. */
enum http_feed_result http_feed(struct http_req *req, const char *data, size_t len, size_t *used);

/* Case-insensitive header lookup; NULL when absent. */
const struct http_span *http_header_get(const struct http_req *req, const char *name);

/* Split req->target into path and query (origin-form or absolute-form). Returns 0, or -1 when
 * the target has no usable path (e.g. "*" or junk). */
int http_target_path(const struct http_req *req, struct http_span *path, struct http_span *query);

#endif
