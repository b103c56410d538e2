/* Test helpers about the worker processes of an instance: which slot a worker fills, whether
 * each worker serves, and what /proc/PID/status says of it. Shared by the supervision tests. */
#ifndef SLUICE_T_SLOTS_H
#define SLUICE_T_SLOTS_H

#include "harness.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Slot of a worker, from the master's "worker N (pid P) started" line; -1 when not logged. */
int slot_of(const struct srv *s, pid_t pid);

/* log_wait(s, fmt formatted with a and b, 1, timeout_ms). */
bool log_wait_fmt_pid(const struct srv *s, const char *fmt, int a, int b, int timeout_ms);

/* Kept-alive connections (each step bounded by 3 s) until every one of the n `pids` holds one
 * that was answered 200 with index.html, at most `tries` connections; fails the test when a
 * worker answered none. n <= 16. */
void assert_each_serves(const struct srv *s, const pid_t *pids, int n, int tries);

/* The value of field `name` ("Cpus_allowed_list", "Groups", ...) of /proc/PID/status, without
 * the name, the colon and the leading whitespace, into buf; fails the test when unreadable. */
char *proc_status(pid_t pid, const char *name, char *buf, size_t len);

/* /proc/PID/status "Uid" or "Gid": true when all four ids equal `id`; the line goes to `line`. */
bool proc_ids_are(pid_t pid, const char *field, unsigned id, char *line, size_t len);

#endif
