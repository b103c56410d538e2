/* `sluice -t` beyond syntax, and start before it takes anything: the budgets a configuration
 * needs from this host (descriptors per worker, the kernel's listen backlog cap, a document root
 * the workers' user can read, a body_temp_path that user can create files in, ports that are
 * free or already ours, no planted links where the master writes, directories it can create its
 * files in, a warning for root with no `user`). Started as root with `user`, what the workers'
 * user can do is tried in a short-lived child that has become that user. */
#ifndef SLUICE_BUDGET_H
#define SLUICE_BUDGET_H

#include "common/cfg.h"

enum budget_mode {
    BUDGET_TEST,  /* sluice -t: every check */
    BUDGET_START, /* start: the same checks, in the same order and with the same text, except
                     the listen addresses (the master checks them as it binds) and the root
                     warning (start logs it) */
};

/* Print one line per problem to stderr ("sluice: FILE[:LINE]: ..."), warnings with "warning: "
 * after the place. Returns the number of errors (warnings do not count). */
int budget_check(const struct cfg *cfg, enum budget_mode mode);

/* "FILE:LINE" of a key set at `line`, else "FILE", or "built-in defaults" with no file: the
 * place every start and -t error line names. Returns buf. */
const char *budget_where(const struct cfg *cfg, int line, char *buf, size_t len);

/* The warning for a master started as root with no `user` (given by -t and in the start log). */
extern const char budget_root_warning[];

#endif
