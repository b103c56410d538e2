/* The route table: which handler answers a request. Precedence: an exact path first, then the
 * longest prefix (whole segments: "/api" takes "/api" and "/api/x", not "/apix"), then static
 * files at "/". Matching uses the normalised, percent-decoded path, so "/%61pi/x" and
 * "/x/../api/" meet the "/api/" route like "/api/x" does. */
#ifndef SLUICE_ROUTE_H
#define SLUICE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "worker/handler.h"

#define ROUTE_MAX 32
#define ROUTE_NONE 0xff /* no route: an index that fits a uint8_t */

struct route {
    const char *prefix; /* with its leading '/' */
    size_t len;
    bool exact;
    const struct handler *h;
    void *data; /* the handler's own, given back by req_route_data */
};

/* Add a prefix route (or, with exact, one path) at worker start. `prefix` must outlive the
 * table. Returns 0, or -1 (ENOSPC: the table is full; EINVAL: no leading '/'). */
int route_add(const char *prefix, const struct handler *h, void *data, bool exact);
/* Forget every route (tests, and a worker re-initialising). */
void route_clear(void);
/* The route for a normalised path given without its leading '/' (path_normalize's form:
 * "" for the root, "a/b/" for a directory), NULL when none matches. */
const struct route *route_match(const char *rel, size_t len);
/* A route's index in the table (for a uint8_t in each connection), and back. */
unsigned route_index(const struct route *r);
const struct route *route_at(unsigned index); /* NULL for ROUTE_NONE */

/* Handlers compiled into the binary besides static files (the test build's): recorded before
 * main by constructors, added by each worker with route_add_builtins before "/". Returns 0 or
 * -1 when ROUTE_MAX are recorded. */
int route_builtin(const char *prefix, const struct handler *h, void *data, bool exact);
int route_add_builtins(void);

#endif
