/* The access log: one line per request (nginx's "combined", or one JSON object), gathered in a
 * per-worker buffer and written to the descriptor the master opened (workers never open a log
 * by path, common/ipc.h). The buffer is written when the next line does not fit, a second after
 * its first line, at a reopen (before the new descriptor is taken) and at exit: no system call
 * per request. The formatting below is pure, for the unit tests. */
#ifndef SLUICE_ACCESSLOG_H
#define SLUICE_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/cfg.h"
#include "worker/http.h"

#define ACCESSLOG_FLUSH_MS 1000 /* the longest a line waits in the buffer */
#define ACCESSLOG_ROUTE_MAX 128 /* bytes of a handler's name written */
#define ACCESSLOG_FIXED 512     /* bytes of a line beside its escaped strings */
#define ACCESSLOG_TIME_ISO 24   /* "2026-12-04T15:20:01.123Z" */
#define ACCESSLOG_TIME_LOCAL 26 /* "04/Dec/2026:15:20:01 +0000" */
#define ACCESSLOG_REMOTE_MAX 64 /* an address's text, NUL included */

/* ---- Worker side ---- */

/* Worker start, after the privilege drop: log to `fd` (from the master, -1 when off; owned
 * from here on) in cfg's format. Allocates the buffer once (access_log_buffer, or the longest
 * line cfg's limits allow when that is more), registers the log-phase observer (req_log_add)
 * and prepares its flush timer. Nothing is done when off. Returns 0, or -1 with errno
 * (ENOMEM, ENOSPC: observers full). */
int accesslog_init(const struct cfg *cfg, int fd, int slot, unsigned generation);

/* IPC_LOG_ACCESS (a reopen): what is buffered goes to the old descriptor, which is then
 * closed, and `fd` (owned from here on) is the log. When the log is off, `fd` is closed. */
void accesslog_adopt(int fd);

/* Write what is buffered now (a graceful stop, an exit). */
void accesslog_flush(void);

/* Tests: flush, close the descriptor, free the buffer; logging is off until accesslog_init. The
 * observer stays registered (req_log_clear forgets it). */
void accesslog_fini(void);

/* ---- Pure formatting ---- */

/* One line's fields. A string with p NULL is unknown ("-"). */
struct accesslog_entry {
    const char *time_iso;   /* ACCESSLOG_TIME_ISO chars (json) */
    const char *time_local; /* ACCESSLOG_TIME_LOCAL chars (combined) */
    const char *remote;     /* NUL-terminated; "-" when unknown */
    struct http_span method, target, referer, user_agent;
    unsigned http_minor; /* HTTP/1.x of the request line (combined) */
    int status;          /* 0: no response was begun */
    int64_t bytes;       /* response bytes sent, header included */
    int64_t body_bytes;  /* of those, the body's */
    int64_t duration_us;
    bool tls;
    int worker;
    unsigned generation;
    const char *route; /* NULL: none */
};

/* The most bytes accesslog_format may write for `e` (newline included). */
size_t accesslog_bound(const struct accesslog_entry *e);

/* The longest line any request within cfg's limits can make (its target and header fields are
 * within max_header_size). */
size_t accesslog_line_max(const struct cfg *cfg);

/* Write e's line, ending in '\n', at `out`, which has room for accesslog_bound(e) bytes, in
 * `format` (enum cfg_access_format). Returns its length. Combined: nginx's, with '"', '\' and
 * bytes below 0x20 or from 0x7f as \xXX. JSON: strings escaped for JSON; control bytes as
 * \u00XX; a byte from 0x80 that is not part of valid UTF-8 as \u00XX of the byte. */
size_t accesslog_format(char *out, int format, const struct accesslog_entry *e);

/* "2026-12-04T15:20:01.123Z" for `ms` since the epoch (UTC), at `out` (ACCESSLOG_TIME_ISO
 * chars, no NUL). */
void accesslog_time_iso(char *out, int64_t ms);
/* "04/Dec/2026:15:20:01 +0100" for the broken-down local time `tm` and its offset east of UTC
 * in seconds, at `out` (ACCESSLOG_TIME_LOCAL chars, no NUL). */
void accesslog_time_local(char *out, const struct tm *tm, long gmtoff);
/* The IPv4 address `a` (4 bytes, network order) as dotted decimal, NUL-terminated, at `out`
 * (16 bytes): inet_ntop's text without its printf. */
void accesslog_ipv4(char *out, const unsigned char *a);

#endif
