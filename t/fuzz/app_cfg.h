/* The fuzzer's application-config mode: the [app "name"] header and route parsers
 * (common/cfg_app.c) against the route table that uses what they accept. */
#ifndef SLUICE_FUZZ_APP_CFG_H
#define SLUICE_FUZZ_APP_CFG_H

#include <stddef.h>
#include <stdint.h>

/* The input's first line as a section header, each later line as a route value. Fails the run
 * (fuzz_fail) when an accepted name holds a character outside the documented set, or when an
 * accepted route is not in the form the matcher sees (path_normalize of it is itself) or is
 * not matched by the table once added. */
void app_cfg_run(const uint8_t *in, size_t len);

#endif
