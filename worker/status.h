/* The status endpoint (status_path): the live figures of every worker of the instance, read from
 * the shared region (common/shm.h), as JSON (the default) or, with ?format=prometheus, in the
 * Prometheus text exposition format 0.0.4. Only clients in status_allow get it (403 otherwise;
 * a unix-socket client, whose address is unknown, is in no block and is refused, as nginx's
 * allow/deny would); GET and HEAD only.
 *
 * The writers below are pure: they read the slots they are given (plain loads: a worker may be
 * writing, a torn value is acceptable) and write into a buffer of a bound fixed by the number
 * of slots, never more. */
#ifndef SLUICE_STATUS_H
#define SLUICE_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cfg.h"
#include "common/shm.h"
#include "worker/handler.h"

/* What the instance reports beside its workers. */
struct status_instance {
    const char *version;
    int master_pid;      /* 0: unknown */
    int answered_by;     /* the pid of the worker that answers */
    unsigned generation; /* its generation */
    int64_t started;     /* the master's start, Unix seconds */
    int64_t now;         /* Unix seconds */
    int64_t now_ms;      /* CLOCK_MONOTONIC, ms: heartbeat ages */
};

/* One live slot of the region: its worker slot number, its generation (read once: the pair
 * must be unique among the slots written together, or a series would repeat) and its figures. */
struct status_slot {
    int slot;
    unsigned generation;
    const struct shm_worker *w;
};

enum status_format { STATUS_JSON, STATUS_PROMETHEUS, STATUS_BAD };

#define STATUS_FIXED_MAX 16384 /* the instance's part, and every HELP and TYPE line */
#define STATUS_SLOT_MAX 8192   /* one slot's part, whatever its figures */

/* Bytes (NUL included) a document for n slots needs at most, in either format. */
size_t status_bound(int n);

/* The document for `slots` into buf (cap bytes, NUL-terminated); returns its length, or -1 when
 * cap was too small (never with cap >= status_bound(n)). */
ssize_t status_json(char *buf, size_t cap, const struct status_instance *in,
                    const struct status_slot *slots, int n);
ssize_t status_prometheus(char *buf, size_t cap, const struct status_instance *in,
                          const struct status_slot *slots, int n);

/* The format a query string (after '?', len bytes) asks for: no `format` parameter is JSON;
 * `format=json` or `format=prometheus` (exact, the last one counts); any other value of it is
 * STATUS_BAD. Other parameters are ignored. */
enum status_format status_format(const char *query, size_t len);

/* A Prometheus label value with '\\', '"' and newline escaped into out (cap bytes, NUL
 * included); returns its length, or -1 when it did not fit. */
ssize_t status_label_escape(char *out, size_t cap, const char *in);

/* Once per worker, before the route is added: the region, this worker's generation, and a
 * function that refreshes this worker's own heartbeat figures before they are read. */
void status_init(const struct cfg *cfg, struct shm *shm, unsigned generation,
                 void (*refresh)(void));

extern const struct handler status_handler;

#endif
