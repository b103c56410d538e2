/* Dropping root for the processes that run configured code: the workers, and the master's
 * child that validates application modules. */
#ifndef SLUICE_PRIVS_H
#define SLUICE_PRIVS_H

#include <stddef.h>

#include "common/cfg.h"

/* Started as root with `user` set: supplementary groups, group (`group`, else the user's),
 * then user, and a check that root cannot be taken back. Nothing to do otherwise. Returns 0,
 * or -1 with a one-line reason in err. */
int privs_drop(const struct cfg *cfg, char *err, size_t errlen);

#endif
