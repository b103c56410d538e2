/* Address ranges: parsing, matching and formatting (see cidr.h). */
#include "common/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/decimal.h"

int
cidr_parse(const char *s, struct cidr *out, const char **why)
{
    char text[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    memset(out, 0, sizeof(*out));
    if (alen == 0 || alen >= sizeof(text)) {
        *why = "expected an address or address/bits";
        return -1;
    }
    memcpy(text, s, alen);
    text[alen] = '\0';
    int max;
    if (inet_pton(AF_INET, text, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, text, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        *why = "expected an IPv4 or IPv6 address, then /bits";
        return -1;
    }
    int64_t bits = max;
    if (slash) {
        const char *end = decimal_parse(slash + 1, slash + 1 + strlen(slash + 1), &bits);
        if (end == NULL || end == slash + 1 || *end != '\0' || bits > max) {
            *why = out->family == AF_INET ? "expected /0 to /32 after an IPv4 address"
                                          : "expected /0 to /128 after an IPv6 address";
            return -1;
        }
    }
    out->bits = (uint8_t)bits;
    for (int i = 0; i < max / 8; i++) {
        int keep = out->bits - i * 8; /* bits of byte i inside the prefix */
        uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
        if (out->addr[i] & ~mask) {
            *why = "bits set past the prefix length (write the network address, such as "
                   "10.0.0.0/8)";
            return -1;
        }
    }
    return 0;
}

static bool
in_block(const struct cidr *c, const uint8_t *addr)
{
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, (size_t)full) != 0)
        return false;
    return rest == 0 || ((c->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool
cidr_match(const struct cidr *set, int n, const struct sockaddr *sa)
{
    const uint8_t *addr;
    int family;
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        family = IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6;
        addr = family == AF_INET ? a6->s6_addr + 12 : a6->s6_addr;
    } else {
        return false;
    }
    for (int i = 0; i < n; i++)
        if (set[i].family == family && in_block(&set[i], addr))
            return true;
    return false;
}

void
cidr_format(const struct cidr *c, char *buf, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(c->family, c->addr, text, sizeof(text)) == NULL)
        snprintf(text, sizeof(text), "?");
    snprintf(buf, len, "%s/%u", text, c->bits);
}

int
cidr_addr_parse(const char *s, size_t len, struct sockaddr_storage *out)
{
    char text[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(text) || memchr(s, '\0', len))
        return -1;
    memcpy(text, s, len);
    text[len] = '\0';
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *in4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}
