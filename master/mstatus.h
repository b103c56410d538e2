/* What `sluice status` shows, made by the master from its generation table, the shared region
 * (read with plain loads: a worker may be writing, a torn figure is acceptable) and /proc (each
 * worker's resident memory: procfs never waits on the worker). A table for people, or JSON for
 * scripts (`sluice status --json`), both bounded: CONTROL_ANSWER_MAX holds every live worker
 * of two generations (a reload), each row well under 512 bytes, and the file's path escaped. */
#ifndef SLUICE_MSTATUS_H
#define SLUICE_MSTATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/control.h"
#include "master/gen.h"

/* What the master adds about itself. */
struct mstatus_master {
    int pid;
    bool stopping;
};

/* The generation lines, the master line (its pid, uptime, the serving generation and its
 * configuration file) and one table row per worker (or a line for a slot backing off) into buf
 * (NUL-terminated, truncated to len). `now` is CLOCK_MONOTONIC ms. */
void mstatus_text(const struct gen_table *t, const struct mstatus_master *m, char *buf, size_t len,
                  int64_t now);

/* The same as one JSON object (and a newline). Returns 0, or -1 when it did not fit in len (buf
 * then holds "" : never with len >= CONTROL_ANSWER_MAX). */
int mstatus_json(const struct gen_table *t, const struct mstatus_master *m, char *buf, size_t len,
                 int64_t now);

#endif
