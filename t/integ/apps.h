/* Shared helpers of the application-module suites (test_apps_*.c): where the built modules are
 * and the [app] sections that name them. Two functions; everything else is harness.h. */
#ifndef SLUICE_T_APPS_H
#define SLUICE_T_APPS_H

#include <stddef.h>

/* Absolute path of $SLUICE_BUILD/<rel> (default build dir ./build/release), e.g. rel
 * "examples/hello.so" or "t/modules/crash.so", into buf; fails the test, naming the make target
 * that builds it, when the file is not there. Returns buf. */
const char *apps_module(const char *rel, char *buf, size_t len);

/* Append to the NUL-terminated config text in `cfg` (a buffer of `cap` bytes) the lines
 *     [app "NAME"]
 *     module = <apps_module(rel)>
 * then `lines` verbatim (may be NULL; e.g. "route = /x\nstart = 5\n"). Server keys must come
 * before the first section, so build the server's lines first. Fails the test when it does not
 * fit. Returns cfg. */
char *apps_section(char *cfg, size_t cap, const char *name, const char *rel, const char *lines);

#endif
