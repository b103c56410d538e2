/* The PROXY protocol (HAProxy's, v1 and v2): a load balancer that accepts the client's TCP
 * connection opens one to us and sends, before anything else, a header naming the client's
 * address. A `proxy` listener requires it: a pure parser, and a transport that reads the
 * header, then hands the connection to the listener's own transport (plain or TLS).
 *
 * Nothing past the header is ever read by this transport: v1's end is found with MSG_PEEK and
 * exactly that many bytes are taken; v2's fixed part gives its length. Each wake-up takes the
 * bytes that came (all of them part of the header) or fails, so a header that arrives a byte
 * at a time works and a level-triggered epoll never spins. A connection without a header, or
 * with a malformed one, is closed without an answer (the peer is not an HTTP client), logged
 * at info, rate-limited. The state (about 130 bytes) lives only until the header is read. */
#ifndef SLUICE_PROXY_H
#define SLUICE_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "worker/transport.h"

#define PROXY_V1_MAX 107  /* the longest v1 line, CRLF included */
#define PROXY_V2_FIXED 16 /* signature, version/command, family, length */

enum proxy_status {
    PROXY_MORE, /* a prefix of a header: need at least out->need more bytes */
    PROXY_DONE, /* a header: out->len bytes long, out->src the client */
    PROXY_BAD,  /* not a header: out->why */
};

struct proxy_result {
    size_t need; /* PROXY_MORE */
    /* PROXY_DONE: the whole header's length. For v2 this counts its TLVs, which the parser
     * does not need and may not have been given: the caller skips len - (bytes given). */
    size_t len;
    uint8_t version; /* 1 or 2 (PROXY_DONE) */
    /* PROXY_DONE: the client and the address it connected to. src.ss_family: AF_INET or
     * AF_INET6 with the port; AF_UNSPEC when the header names none (v1 UNKNOWN, v2 LOCAL or an
     * UNSPEC family): keep the socket's own peer; AF_UNIX (v2 UNIX family): the client has no
     * IP address (as a client of a unix listener). */
    struct sockaddr_storage src, dst;
    const char *why; /* PROXY_BAD: a short reason */
};

/* Parse the `len` bytes at buf, the start of a connection. Pure. With PROXY_MORE every byte
 * given belongs to the header (none can be the request's), so the caller may consume them. */
enum proxy_status proxy_parse(const uint8_t *buf, size_t len, struct proxy_result *out);

/* A `proxy` listener's transports: the header, then plain or TLS. Their handshake reads the
 * header; their unwrap (transport.h) gives the inner transport, opened, and the client. */
extern const struct transport transport_proxy_plain;
extern const struct transport transport_proxy_tls;

#endif
