/* Address ranges (CIDR blocks) for the keys that trust or allow clients by address
 * (status_allow, real_ip_from), and the address parsing of X-Forwarded-For. Pure functions. */
#ifndef SLUICE_CIDR_H
#define SLUICE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One block: `bits` leading bits of `addr` (4 bytes for AF_INET, 16 for AF_INET6). */
struct cidr {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t bits;
    uint8_t addr[16];
};

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (the /32 or /128 of it). Bits set past the
 * prefix are refused (a typo like 10.1.0.0/8 would allow more than it says). Returns 0, or -1
 * with a short reason in *why. */
int cidr_parse(const char *s, struct cidr *out, const char **why);

/* Whether `sa` (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as its IPv4 address)
 * lies in one of the n blocks. Anything else (a unix socket, NULL) is in none. */
bool cidr_match(const struct cidr *set, int n, const struct sockaddr *sa);

/* "10.0.0.0/8" into buf. */
void cidr_format(const struct cidr *c, char *buf, size_t len);

/* An IPv4 or IPv6 address written as text (the `len` bytes at s, no port, no brackets, no
 * blanks) into *out as a sockaddr with port 0. Returns 0, or -1 when it is not one. */
int cidr_addr_parse(const char *s, size_t len, struct sockaddr_storage *out);

#endif
