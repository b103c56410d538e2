/* `sluice -t` beyond syntax: the budgets a configuration needs from this host (descriptors per
 * worker, the kernel's listen backlog cap, a document root the workers' user can read, ports
 * that are free or already ours, no planted links where the master writes, a warning for root
 * with no `user`). */
#ifndef SLUICE_BUDGET_H
#define SLUICE_BUDGET_H

#include "common/cfg.h"

/* Print one line per problem to stderr ("sluice: FILE: ..."), warnings prefixed "warning:".
 * Returns the number of errors (warnings do not count). */
int budget_check(const struct cfg *cfg);

/* The warning for a master started as root with no `user` (given by -t and in the start log). */
extern const char budget_root_warning[];

#endif
