/* `sluice -t` beyond syntax: the budgets a configuration needs from this host (descriptors per
 * worker, the kernel's listen backlog cap, a document root the workers' user can read, ports
 * that are free or already ours). */
#ifndef SLUICE_BUDGET_H
#define SLUICE_BUDGET_H

#include "common/cfg.h"

/* Print one line per problem to stderr ("sluice: FILE: ..."), warnings prefixed "warning:".
 * Returns the number of errors (warnings do not count). */
int budget_check(const struct cfg *cfg);

#endif
