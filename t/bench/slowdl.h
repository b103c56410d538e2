/* slowdl (see slowdl.c): what its two files share. slowdl_io.c holds the reads and writes over
 * plain TCP or TLS, the client's TLS context, and the probe thread that fetches the small file
 * every second; slowdl.c the transfers, their phases and main(). */
#ifndef SLUICE_BENCH_SLOWDL_H
#define SLUICE_BENCH_SLOWDL_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <sys/types.h>

enum phase { P_RAMP, P_HOLD, P_DRAIN, P_END, NPHASES };
extern const char *const phase_names[NPHASES];

/* Why the last TLS call of this thread failed (tls_errno's EPROTO). */
extern __thread char tls_reason[256];

/* The client's TLS context for -e VERSION ("1.3" or "1.2"), the server's certificate checked
 * against cafile when given; NULL for another version. Exits on an OpenSSL failure. */
SSL_CTX *tls_setup(const char *version, const char *cafile);

int tls_errno(SSL *ssl, int r);
ssize_t io_recv(int fd, SSL *ssl, void *buf, size_t len, int flags);
ssize_t io_send(int fd, SSL *ssl, const void *buf, size_t len);

/* Start the probe thread: `request` (copied) on a fresh connection to `addr` every second, over
 * TLS when ctx is set, each fetch counted under the phase *phase says. Returns 0, or -1. */
int probe_start(const struct sockaddr_in *addr, const char *request, SSL_CTX *ctx,
                const atomic_int *phase);

/* Stop the probe thread, wait for it, and print its figures per phase. */
void probe_finish(void);

#endif
