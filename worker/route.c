/* Route table (see route.h): a handful of routes, matched by a linear scan. */
#include "worker/route.h"

#include <errno.h>
#include <string.h>

static struct route routes[ROUTE_MAX];
static int nroutes;
static struct route builtins[ROUTE_MAX];
static int nbuiltins;

static int
put(struct route *table, int *n, const char *prefix, const struct handler *h, void *data,
    bool exact)
{
    if (prefix[0] != '/') {
        errno = EINVAL;
        return -1;
    }
    if (*n == ROUTE_MAX) {
        errno = ENOSPC;
        return -1;
    }
    table[(*n)++] = (struct route){prefix, strlen(prefix), exact, h, data};
    return 0;
}

int
route_add(const char *prefix, const struct handler *h, void *data, bool exact)
{
    return put(routes, &nroutes, prefix, h, data, exact);
}

void
route_clear(void)
{
    nroutes = 0;
}

int
route_builtin(const char *prefix, const struct handler *h, void *data, bool exact)
{
    return put(builtins, &nbuiltins, prefix, h, data, exact);
}

int
route_add_builtins(void)
{
    for (int i = 0; i < nbuiltins; i++)
        if (route_add(builtins[i].prefix, builtins[i].h, builtins[i].data, builtins[i].exact) < 0)
            return -1;
    return 0;
}

const struct route *
route_match(const char *rel, size_t len)
{
    const struct route *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < nroutes; i++) {
        const struct route *r = &routes[i];
        /* Compared without the leading '/', which the normalised path does not carry. */
        const char *p = r->prefix + 1;
        size_t pl = r->len - 1;
        if (pl > len || memcmp(p, rel, pl) != 0)
            continue;
        if (r->exact) {
            if (pl == len)
                return r;
            continue;
        }
        if (best != NULL && pl + 1 < best_len)
            continue;
        /* Whole segments: "/api" takes "api" and "api/x", not "apix". */
        if (pl > 0 && p[pl - 1] != '/' && pl < len && rel[pl] != '/')
            continue;
        best = r;
        best_len = pl + 1;
    }
    return best;
}

unsigned
route_index(const struct route *r)
{
    return r ? (unsigned)(r - routes) : ROUTE_NONE;
}

const struct route *
route_at(unsigned index)
{
    return index < (unsigned)nroutes ? &routes[index] : NULL;
}
