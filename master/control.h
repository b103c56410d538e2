/* The control socket: a unix stream socket owned by the master (mode 0600) through which
 * `sluice reload|stop|quit|reopen|status` get a real answer instead of a fire-and-forget signal.
 * One command line per connection ("reload\n"); the answer is text lines, the first starting
 * with "ok" or "error", and the master closes the connection when it is complete. A client that
 * closes its end before the master has read its command has withdrawn it: it is not run. */
#ifndef SLUICE_CONTROL_H
#define SLUICE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/cfg.h"

/* The longest answer (status of two generations of CFG_MAX_WORKERS; master/mstatus.h). */
#define CONTROL_ANSWER_MAX (2 * CFG_MAX_WORKERS * 512 + 6 * CFG_PATH_MAX + 4096)

struct control_ops {
    void (*reload)(void); /* must end in control_reload_done, now or later */
    void (*stop)(bool graceful);
    void (*reopen)(void);
    /* "status": text lines, "ok: running (pid N)" first; "status json": "ok" and a line of
     * JSON. Into buf, at most len (CONTROL_ANSWER_MAX) bytes. */
    void (*status)(char *buf, size_t len, bool json);
};

/* Bind `path` (a stale socket file is replaced: the pid file lock says no other master runs)
 * and watch it on the process's loop (common/ev.h). Returns 0, or -1 with a message in `err`. */
int control_open(const char *path, const struct control_ops *ops, char *err, size_t errlen);

/* Close everything and unlink the path (`unlink_path` false after a binary upgrade, when the
 * path belongs to the new master). */
void control_close(bool unlink_path);

/* In a forked worker: close the socket and the clients' connections with close(2) only, the
 * loop left alone (until the worker makes its own, it shares the master's epoll set). */
void control_forget(void);

/* The reload asked for finished: answer every client waiting for it. */
void control_reload_done(bool ok, const char *text);

/* The control socket's path for `cfg`: control_socket when set, else the pid file's name with
 * ".ctl" in place of ".pid" (or added). The one place that computes it: master and CLI. */
void control_path(const struct cfg *cfg, char *out, size_t outlen);

enum {
    CONTROL_NONE = -1,      /* no master listens at the path (errno) */
    CONTROL_NO_ANSWER = -2, /* connected, but no answer within the timeout */
};

/* Client side: send `cmd` to the socket at `path`; the answer (NUL-terminated) lands in `buf`.
 * Returns 0 for "ok", 1 for "error", CONTROL_NONE or CONTROL_NO_ANSWER. A command that got no
 * answer (a master stopped or wedged) is never run later: the connection is closed on return,
 * and the master drops a command whose client has gone by the time it reads it. */
int control_query(const char *path, const char *cmd, char *buf, size_t len, int timeout_ms);

/* control_query, then the answer printed: stdout for ok, stderr for an error. Nothing is printed
 * for CONTROL_NONE or CONTROL_NO_ANSWER. */
int control_request(const char *path, const char *cmd, int timeout_ms);

#endif
