/* The TLS tests' PKI, made once per test run with the openssl CLI in a temp dir: an ECDSA root,
 * an intermediate, and the leaf certificates and keys the tests serve (the table in tlsca.c
 * names each file). Also the bounded runner of the CLI tools (openssl, curl) the TLS tests
 * drive. */
#ifndef SLUICE_T_TLSCA_H
#define SLUICE_T_TLSCA_H

#include <stddef.h>

/* Serial numbers of the leaves a test tells apart by serial (as openssl prints them). */
#define TLSCA_SERIAL_RSA "1001"
#define TLSCA_SERIAL_SWAP "1005"

/* Unchecked fixture (tcase_add_unchecked_fixture: it runs in the runner process): make the PKI
 * the first time, do nothing later, so every TLS test case of a run shares one. The runner
 * removes it when it exits (SLUICE_TEST_KEEP=1 keeps it). Never fails by itself: what went
 * wrong is kept, and tlsca_path fails the test that needs the PKI with it. */
void tlsca_setup(void);

/* <pki dir>/<file> into buf (see the table in tlsca.c for the files); fails the test when the
 * PKI could not be made. Returns buf. */
char *tlsca_path(const char *file, char *buf, size_t len);

/* Run argv (argv[0] looked up in PATH) with stdin from the file `in` (NULL: /dev/null), its
 * stdout and stderr together into out (NUL-terminated, truncated to outlen). Killed after
 * timeout_ms. Returns the exit status, 128 + signal, or -1 when it could not run or timed out
 * (out says which). Calls no ck_assert, so the fixture can use it. */
int tlsca_run(const char *const argv[], const char *in, char *out, size_t outlen, int timeout_ms);

#endif
