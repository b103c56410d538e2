/* The fuzzer's TLS mode: the first bytes a TLS listener gets (worker/tls.c). */
#ifndef SLUICE_FUZZ_TLS_FIRST_H
#define SLUICE_FUZZ_TLS_FIRST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Build the server's TLS contexts (common/tls.h) from two throwaway certificates ("localhost"
 * and "b.test", for SNI), written to a temporary directory under $TMPDIR and removed once
 * read. Fails the run on error. */
void tls_first_setup(void);

/* Feed `in` to a new connection of the TLS transport over a socketpair: it goes through the
 * first-bytes check and as far into the handshake as the bytes allow; `eof` half-closes the
 * client side after them. Fails the run (fuzz_fail) when plain HTTP does not get exactly the
 * plaintext 400, when anything else gets plaintext back, when a connection that is not TLS is
 * kept, or when the transport leaks. */
void tls_first_run(const uint8_t *in, size_t len, bool eof);

#endif
