/* The master process: supervision of the worker generations, signals, reload. */
#ifndef SLUICE_MASTER_H
#define SLUICE_MASTER_H

#include "common/cfg.h"
#include "common/tls.h"
#include "master/modcheck.h"

/* Serve `cfg` (loaded and checked) with its TLS contexts `tls` (built by tls_set_build, or NULL)
 * and its modules' snapshots `mods` (modcheck_run, or NULL; ownership of all three passes to
 * the master) until stopped. `cfg_path` is
 * the file to re-read on reload (NULL: built-in defaults / ./sluice.ini, as at start). `pid_fd`
 * is the locked pid file; `notify_fd` (or -1) gets one byte once every worker is ready, and is
 * closed without it when start-up fails. Returns the process exit status. */
int master_run(struct cfg *cfg, struct tls_set *tls, struct mod_set *mods, const char *cfg_path,
               int pid_fd, int notify_fd);

/* The command line to run again for a binary upgrade (USR2): argv as main() got it (kept; the
 * strings must stay valid). */
void master_set_argv(char **argv);

#endif
