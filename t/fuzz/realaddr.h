/* The fuzzer's real-address mode: the PROXY-protocol parser and transport (worker/proxy.h) and
 * the real_ip_header walk (worker/realip.h). */
#ifndef SLUICE_FUZZ_REALADDR_H
#define SLUICE_FUZZ_REALADDR_H

#include <stddef.h>
#include <stdint.h>

/* `ctl` bit 0 clear: `in` is the start of a connection to a proxy listener. Its prefixes must
 * parse consistently (a decision, once made, never changes as bytes are added; a header
 * parsed as v1 TCP4/TCP6 prints back to itself), and the transport, fed `in` over a socketpair
 * in pieces of a size from ctl bits 1-3, must wait while the parser wants more, fail when it
 * refuses, and on a header take exactly its bytes and give its client.
 * Bit 0 set: `in` is a request's field lines, one per line ('!' first: a field of another
 * name); realip_pick must agree with a reference walk over the lines joined into one list.
 * Fails the run (fuzz_fail) otherwise. */
void realaddr_run(uint8_t ctl, const uint8_t *in, size_t len);

#endif
