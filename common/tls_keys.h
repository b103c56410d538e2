/* Session-ticket keys: made by the master, shared with every worker, kept across reloads.
 * Resumption then works on whichever worker a client lands, and after a reload, with no
 * session cache anywhere. The keys are random, live only in the master's memory (a private
 * mapping excluded from core dumps and locked when the limit allows, never written to a file)
 * and reach the workers by fork. A key set holds a current key, which seals new tickets, and
 * room for a previous one, which still opens tickets it sealed (rotation fills it). */
#ifndef SLUICE_TLS_KEYS_H
#define SLUICE_TLS_KEYS_H

#include <openssl/ssl.h>

/* Make the key set once per master; later calls keep it. Returns 0, or -1 with errno. */
int tls_keys_init(void);

/* Seal and open this process's tickets with the key set (tls_keys_init first). */
void tls_keys_use(SSL_CTX *ctx);

#endif
