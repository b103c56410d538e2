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
    for (int i = 0; i < nroutes; i++)
        if (routes[i].len <= len && routes[i].len >= best_len &&
            memcmp(routes[i].prefix, path, routes[i].len) == 0) {
            best = routes[i].h;
            best_len = routes[i].len;
        }
    return best;
}
