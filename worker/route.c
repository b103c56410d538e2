/* Route table (see route.h): a handful of prefixes, matched by a linear scan. */
#include "worker/route.h"

#include <string.h>

static struct {
    const char *prefix;
    size_t len;
    const struct handler *h;
} routes[ROUTE_MAX];
static int nroutes;

int
route_add(const char *prefix, const struct handler *h)
{
    if (nroutes == ROUTE_MAX)
        return -1;
    routes[nroutes].prefix = prefix;
    routes[nroutes].len = strlen(prefix);
    routes[nroutes].h = h;
    nroutes++;
    return 0;
}

void
route_clear(void)
{
    nroutes = 0;
}

const struct handler *
route_match(const char *path, size_t len)
{
    const struct handler *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < nroutes; i++) {
        size_t pl = routes[i].len;
        /* A prefix matches whole segments: "/api" takes "/api" and "/api/x", not "/apix". */
        if (pl > len || pl < best_len || memcmp(routes[i].prefix, path, pl) != 0)
            continue;
        if (pl > 0 && routes[i].prefix[pl - 1] != '/' && pl < len && path[pl] != '/')
            continue;
        {
            best = routes[i].h;
            best_len = pl;
        }
    }
    return best;
}
