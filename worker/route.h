/* The route table: which handler answers a request, by longest matching path prefix. Static
 * files serve "/" now; application modules will register their own prefixes, and a handler
 * that answers later (async) will get its own entry point here. */
#ifndef SLUICE_ROUTE_H
#define SLUICE_ROUTE_H

#include "worker/http.h"

struct resp;
struct resp_file;

#define ROUTE_MAX 32

struct handler {
    const char *name;
    unsigned verbs;    /* bitmask of 1u << VERB_x that respond() handles */
    const char *allow; /* the same, as an Allow header value: "GET, HEAD, OPTIONS" */
    /* Build the answer to `req` (its origin path and query split out) into `out`; a file body
     * goes in *file. Must not block. */
    void (*respond)(const struct http_req *req, struct http_span path, struct http_span query,
                    struct resp *out, struct resp_file *file);
};

/* Add a route (at worker start). Returns 0, or -1 when the table is full. */
int route_add(const char *prefix, const struct handler *h);
/* Forget every route (tests, and a worker re-initialising). */
void route_clear(void);
/* The handler for the raw request path, NULL when no route matches. */
const struct handler *route_match(const char *path, size_t len);

#endif
