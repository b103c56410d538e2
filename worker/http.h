/* HTTP/1.1 request parsing: the glue around http-parser. Only http.c includes http_parser.h, so
 * the parser (unmaintained upstream) can be swapped without touching the rest of the worker.
 *
 * http-parser is lenient in places (obs-fold, spaces before the colon, doubled spaces in the
 * request line, any Transfer-Encoding ending in chunked, any HTTP major version), so sluice's
 * own rules run beside it: a scanner over the raw header bytes, checks in the callbacks, and
 * checks once the header section is complete. Every rule answers with a status and, where the
 * stream can no longer be trusted, the caller closes the connection after that answer. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_PARSER_SPACE 40 /* >= sizeof(http_parser); checked in http.c */
#define HTTP_MAX_HEADERS 256 /* hard ceiling of the max_headers key */

enum http_verb {
    VERB_OTHER, /* a known method no route handles: 405 */
    VERB_GET,
    VERB_HEAD,
    VERB_POST,
    VERB_PUT,
    VERB_DELETE,
    VERB_OPTIONS,
};

/* Header fields the server itself looks at, found once while the header section is checked
 * (http_header_known): no search per lookup. */
enum http_known {
    HH_HOST,
    HH_TRANSFER_ENCODING,
    HH_EXPECT,
    HH_RANGE,
    HH_IF_RANGE,
    HH_IF_MATCH,
    HH_IF_NONE_MATCH,
    HH_IF_MODIFIED_SINCE,
    HH_IF_UNMODIFIED_SINCE,
    HH_ACCEPT_ENCODING,
    HH_COUNT
};

struct http_span {
    const char *p;
    size_t n;
};

struct http_header {
    struct http_span name, value; /* value without surrounding white space */
};

/* Limits, from the configuration; shared by every request of a worker. */
struct http_limits {
    size_t max_request_line; /* longer: 414 */
    size_t max_header_size;  /* request line + header fields; larger: 431 */
    int max_headers;         /* more fields: 431 */
    int64_t max_body_size;   /* default body limit (http_body_limit sets another) */
};

/* One request being parsed. Spans point into the caller's buffer, which must keep the header
 * bytes in place (bytes are only ever appended) until the request is answered. */
struct http_req {
    unsigned char parser[HTTP_PARSER_SPACE] __attribute__((aligned(8)));
    const struct http_limits *lim;
    const char *base; /* start of the caller's buffer */

    /* Filled in by the time http_feed returns HTTP_HEADERS. */
    enum http_verb verb;
    const char *method_name; /* static string, for logs and Allow checks */
    unsigned short major, minor;
    bool keep_alive; /* the client allows another request on this connection */
    bool expect_continue;
    bool has_body; /* Content-Length > 0 or chunked */
    bool chunked;
    int64_t content_length; /* -1 when absent */
    struct http_span target;
    struct http_span host; /* from an absolute-form target, else the Host header; may be empty */
    struct http_span path, query; /* the target's, split once (http_target_path) */
    uint16_t known[HH_COUNT];     /* 1 + index of the first such field, 0 when absent */
    uint16_t nhost;               /* Host fields seen */
    bool split;                   /* path and query are set: the target has a path */
    struct http_header *headers;
    int nheaders;
    size_t header_end; /* offset just past the header section */

    int status; /* 0, or the error status the request must get (400, 431, ...) */
    bool headers_done;
    bool complete; /* whole message, body included, parsed */
    int64_t body_bytes;
    int64_t body_limit;     /* larger body: 413 */
    struct http_span piece; /* after HTTP_BODY: the body bytes (decoded) that came in */

    /* parser bookkeeping */
    bool in_value;
    int nchunks;
    int64_t body_parsed; /* bytes fed since the header section ended */
    /* raw-byte scanner state, see scan_header_bytes() */
    size_t scanned;
    size_t line_start;
    bool seen_request_line;
    bool scan_done;
    bool bad_method; /* http-parser refused the method: waiting to tell 501 from 400 */
    /* chunked framing scanner state, see scan_chunked() */
    uint8_t chunk_state;
    uint8_t chunk_digits;
    uint64_t chunk_left;
};

enum http_feed_result {
    HTTP_NEED_MORE, /* all bytes consumed, request not complete */
    HTTP_HEADERS,   /* the header section is complete and checked; call http_feed again (with
                     * the bytes after *used) to go on with the body */
    HTTP_BODY,      /* req->piece holds body bytes (chunk framing removed), valid until the
                     * buffer changes; call http_feed again for the rest */
    HTTP_COMPLETE,  /* one request complete; later bytes belong to the next one */
    HTTP_ERROR,     /* malformed: req->status holds the status to answer; then close */
};

/* Start parsing a new request whose bytes live in a buffer starting at `base`. `headers` has
 * room for lim->max_headers entries. */
void http_req_init(struct http_req *req, const char *base, const struct http_limits *lim,
                   struct http_header *headers);

/* Feed `len` new bytes at `data` (inside the buffer, right after the bytes fed before). On
 * return *used is the number of bytes consumed; on HTTP_COMPLETE the rest are pipelined and
 * need a new http_req_init. */
enum http_feed_result http_feed(struct http_req *req, const char *data, size_t len, size_t *used);

/* The body limit of this request, set once its route is known (after HTTP_HEADERS). Returns 0,
 * or -1 with req->status 413 when a Content-Length already says the body is larger. A chunked
 * body is held to it as it comes: HTTP_ERROR with 413. */
int http_body_limit(struct http_req *req, int64_t limit);

/* The first field of a known name, NULL when absent; valid once the header section is checked
 * (HTTP_HEADERS). */
const struct http_span *http_header_known(const struct http_req *req, enum http_known h);

/* Case-insensitive header lookup of the first field called `name`; NULL when absent. */
const struct http_span *http_header_get(const struct http_req *req, const char *name);

/* Split req->target into path and query (origin-form or absolute-form). Returns 0, or -1 when
 * the target has no path ("*", authority-form). */
int http_target_path(const struct http_req *req, struct http_span *path, struct http_span *query);

#endif
