/* Shared helpers of the application-module suites (test_apps_*.c): where the built modules are
 * and the [app] sections that name them. Everything else is harness.h. */
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

/* One [app] section of a config: {name, module path under $SLUICE_BUILD, lines}. A list of
 * them ends with a NULL name. */
struct app_def {
    const char *name, *rel, *lines;
};

/* The server keys `server` (may be NULL), then one section per entry of `apps`, into cfg. */
char *apps_config(char *cfg, size_t cap, const char *server, const struct app_def *apps);

/* srv_start with apps_config's text. */
struct srv;
void apps_start(struct srv *s, const char *server, const struct app_def *apps);

/* `method target` (http_fetch) must answer `want`. */
void apps_expect_status(int port, const char *method, const char *target, int want);

#endif
