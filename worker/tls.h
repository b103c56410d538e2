/* The TLS transport (transport.h), on the contexts the master built (common/tls.h).
 *
 * Memory per connection is what bounds a server with 10,000 slow HTTPS downloads, so:
 *  - OpenSSL's record buffers are released whenever they are empty (SSL_MODE_RELEASE_BUFFERS):
 *    an idle or drained connection keeps only the SSL object;
 *  - file bytes are pread into one buffer per worker, not per connection, and SSL_written from
 *    there. A write that blocks leaves its record inside OpenSSL; the retry reads the same
 *    bytes again from the same offset (a shorter read: the file shrank, the connection ends);
 *  - a connection writes only when its socket can take whole records: TCP_NOTSENT_LOWAT makes
 *    epoll report it writable only when little is left unsent, and each turn writes at most
 *    one full record of a file (TLS_TURN_BYTES), so a slow client's records wait in its
 *    socket, not in OpenSSL's buffers.
 * The first bytes of a connection decide: a TLS record goes on to the handshake, bytes that
 * look like an HTTP request get a plaintext 400 and the connection closes, anything else
 * closes. Failed handshakes are counted and logged at info, rate-limited. */
#ifndef SLUICE_WORKER_TLS_H
#define SLUICE_WORKER_TLS_H

#include <openssl/ssl.h>

#include "common/shm.h"
#include "worker/transport.h"

extern const struct transport transport_tls;

/* New connections start on `ctx` (tls_set_ctx of the generation); `stats` gets the counters. */
void tls_transport_init(SSL_CTX *ctx, struct shm_worker *stats);

#endif
