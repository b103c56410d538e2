/* real_ip_from / real_ip_header: the client that a trusted peer (a load balancer speaking HTTP)
 * names in a request's field, X-Forwarded-For by default. Pure. */
#ifndef SLUICE_REALIP_H
#define SLUICE_REALIP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/cidr.h"
#include "worker/http.h"

/* The client named in the fields called `name` (case-insensitive) among the `nh` header fields
 * at h, all their lines read as one comma-separated list of addresses (blanks around each
 * trimmed, empty elements skipped). Walking from the right, each proxy appends the address it
 * got the request from: the client is the right-most address not in the `n` blocks of
 * `trusted`; when every one is trusted, the left-most. An element that is not an IPv4 or IPv6
 * address (a port, brackets, "unknown", garbage) stops the walk: the client is then the last
 * address read before it, a trusted one. Returns true with *out set (port 0), or false when
 * there is none (no such field, no element, or the right-most one malformed): the caller keeps
 * the peer. The caller checks that the peer itself is trusted. */
bool realip_pick(const struct cidr *trusted, int n, const struct http_header *h, int nh,
                 const char *name, struct sockaddr_storage *out);

#endif
