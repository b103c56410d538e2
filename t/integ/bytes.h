/* Test helpers for byte-exact bodies: deterministic file contents, SHA-256 comparison, and a
 * download left in the middle of its body. Shared by test_ranges.c and test_transfers.c. */
#ifndef SLUICE_T_BYTES_H
#define SLUICE_T_BYTES_H

#include "harness.h"

#include <stddef.h>
#include <stdint.h>

/* `len` deterministic bytes (xorshift64*), different for each seed; malloc'd (free it). */
unsigned char *make_data(size_t len, uint64_t seed);

/* Fail unless the received bytes are exactly `want` (sizes first, then SHA-256). */
void assert_same_bytes(const char *what, const void *got, size_t got_len, const void *want,
                       size_t want_len);

/* GET `target` with Connection: close on a connection whose receive buffer is `rcvbuf`, and
 * read only the response head (status 200 required): the server is left mid-body. Returns the
 * socket. */
int start_download(int port, const char *target, struct http_resp *r, int rcvbuf);

/* Receive exactly `len` bytes (each recv bounded by the socket timeout); fails the test on EOF
 * or error. */
void recv_exact(int fd, void *buf, size_t len);

/* <root>/<rel> into buf; returns buf. */
char *root_file(const struct srv *s, const char *rel, char *buf, size_t len);

#endif
