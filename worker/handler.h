/* A handler: what a route names to answer requests (static files, the test build's handlers,
 * later application modules). Its calls on the request are in req.h; route.h registers it. */
#ifndef SLUICE_HANDLER_H
#define SLUICE_HANDLER_H

#include <stdint.h>

struct req;

/* What the request hook returns. */
enum req_result {
    REQ_DONE,    /* answered (a req_send_* or req_error call), or a stream begun */
    REQ_PENDING, /* the answer comes later, from any loop callback */
};

/* How a handler takes request bodies. */
enum req_body_mode {
    REQ_BODY_DISCARD, /* read and dropped before the hook runs; with Expect: 100-continue the
                       * hook runs at once, no 100 is sent and the connection closes after */
    REQ_BODY_BUFFER,  /* read whole before the hook runs: in memory up to body_buffer_size,
                       * beyond that in an unlinked temp file in body_temp_path */
    REQ_BODY_STREAM,  /* the hook runs as soon as the header is in; it takes the body piece by
                       * piece with req_body_stream, or answers without it */
};

struct handler {
    const char *name;  /* for logs and the log phase's route */
    unsigned verbs;    /* bitmask of 1u << VERB_x the hook handles; others get 405, except
                        * OPTIONS, which the server answers for every route */
    const char *allow; /* the same, as an Allow header value, OPTIONS included:
                        * "GET, HEAD, OPTIONS" */
    enum req_body_mode body;
    int64_t max_body; /* body limit for this handler's routes (may exceed max_body_size);
                       * 0: the server's max_body_size */
    /* Answer `r`; must not block. OPTIONS is answered by the server from `allow`. */
    enum req_result (*request)(struct req *r);
};

#endif
