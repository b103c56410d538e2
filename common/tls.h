/* TLS contexts of a generation. The master builds them from the configuration before it forks
 * (while privileged: the workers never open a key file) and the workers inherit them. A set
 * holds one SSL_CTX per group of certificates that share their names (an RSA and an ECDSA
 * certificate for the same names go together, and OpenSSL picks by the client's signature
 * algorithms); SNI moves a connection to the first group whose certificate matches the name,
 * else it stays on the first. Every context has the same settings: tls_protocols, tls_ciphers,
 * tls_ciphersuites, tls_prefer_server_ciphers, ALPN http/1.1, no 0-RTT, no renegotiation, no
 * session cache, tickets under the master's keys (tls_keys.h), and the buffer modes the
 * bounded send path needs (worker/tls.c). */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "common/cfg.h"
#include "common/tls_cert.h"

struct tls_set;

/* Build the set `cfg` asks for: NULL with err "" when it has no certificate (nothing to
 * build), NULL with "FILE:LINE: KEY: what is wrong" in err on a problem, else the set. warn
 * (may be NULL) gets warnings (a certificate about to expire). Needs tls_keys_init first. */
struct tls_set *tls_set_build(const struct cfg *cfg, tls_warn_fn *warn, void *arg, char *err,
                              size_t errlen);

void tls_set_free(struct tls_set *set);

/* The context new connections start on (the first certificate's). */
SSL_CTX *tls_set_ctx(const struct tls_set *set);

#endif
