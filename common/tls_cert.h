/* One certificate line and its key, read and checked the way `sluice -t`, start and reload
 * do: the file holds the server's certificate then its chain in order, the key matches it and
 * is not encrypted (OpenSSL would ask for a passphrase on the master's terminal). Every error
 * names the file and line of the key to blame. */
#ifndef SLUICE_TLS_CERT_H
#define SLUICE_TLS_CERT_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "common/cfg.h"

/* A problem that does not stop the server (a certificate about to expire): the whole line,
 * "FILE:LINE: certificate: ...". */
typedef void tls_warn_fn(void *arg, const char *msg);

struct tls_cert {
    X509 *leaf;
    STACK_OF(X509) * chain; /* the rest of the file, issuer after issuer */
    EVP_PKEY *key;
    int key_type;    /* EVP_PKEY_RSA, EVP_PKEY_EC, ... */
    char names[512]; /* its DNS names sorted (or its CN without any), to group RSA and ECDSA */
};

/* Read certificate i of `cfg` and certificate_key i, and check them. Returns 0, or -1 with
 * "FILE:LINE: KEY: what is wrong" in err (c is then empty). warn gets expiry warnings. */
int tls_cert_load(const struct cfg *cfg, int i, struct tls_cert *c, tls_warn_fn *warn, void *arg,
                  char *err, size_t errlen);

void tls_cert_free(struct tls_cert *c);

/* The reason of OpenSSL's last error in this thread, for messages; "unknown error" when it kept
 * none. */
const char *tls_reason(void);

/* Its notAfter as "Jan  2 03:04:05 2027 GMT" into buf. */
void tls_cert_not_after(const X509 *x, char *buf, size_t len);

#endif
