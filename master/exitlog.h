/* Rate limit for the log lines of unexpected worker exits: at most EXITLOG_BURST per
 * EXITLOG_WINDOW_MS; the rest are counted and summed up in one line when the window ends, so a
 * crash loop cannot fill the disk. */
#ifndef SLUICE_EXITLOG_H
#define SLUICE_EXITLOG_H

#include <stdbool.h>
#include <stdint.h>

#define EXITLOG_BURST 10
#define EXITLOG_WINDOW_MS 10000

/* May an unexpected exit at `now` be logged? False: it was counted for the summary. */
bool exitlog_allowed(int64_t now);

/* Write the summary line once the window of `now` is over. Returns when to call again:
 * the window's end, or INT64_MAX when nothing is counted. */
int64_t exitlog_flush(int64_t now);

#endif
