/* The log line of a worker's exit, and the rate limit for the lines of unexpected exits: at most
 * EXITLOG_BURST per EXITLOG_WINDOW_MS; the rest are counted and summed up in one line when the
 * window ends, so a crash loop cannot fill the disk. */
#ifndef SLUICE_EXITLOG_H
#define SLUICE_EXITLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/shm.h"
#include "master/gen.h"

#define EXITLOG_BURST 10
#define EXITLOG_WINDOW_MS 10000

/* May an unexpected exit at `now` be logged? False: it was counted for the summary. */
bool exitlog_allowed(int64_t now);

/* Write the summary line once the window of `now` is over. Returns when to call again:
 * the window's end, or INT64_MAX when nothing is counted. */
int64_t exitlog_flush(int64_t now);

/* Log the exit of worker `p` (pid, wait status): a signal by name, and the application whose code
 * was running (from its shared-region slot `w`, checked, since a worker can write there). At
 * notice when `expected` (a stop, a retirement), else at error. */
void exitlog_line(const struct proc *p, pid_t pid, int status, bool expected,
                  const struct shm_worker *w);

#endif
