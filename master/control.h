/* The control socket: a unix stream socket owned by the master (mode 0600) through which
 * `sluice reload|stop|quit|reopen|status` get a real answer instead of a fire-and-forget signal.
 * One command line per connection ("reload\n"); the answer is text lines, the first starting
 * with "ok" or "error", and the master closes the connection when it is complete. A client that
 * closes its end before the master has read its command has withdrawn it: it is not run. */
#ifndef SLUICE_CONTROL_H
#define SLUICE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

struct control_ops {
    void (*reload)(void); /* must end in control_reload_done, now or later */
    void (*stop)(bool graceful);
    void (*reopen)(void);
    void (*status)(char *buf, size_t len); /* status lines, "ok" first */
};

/* Bind `path` (a stale socket file is replaced: the pid file lock says no other master runs),
 * register the listening socket with `epfd`. Returns 0, or -1 with a message in `err`. */
int control_open(const char *path, int epfd, const struct control_ops *ops, char *err,
                 size_t errlen);

/* Close everything and unlink the path (`unlink_path` false after a binary upgrade, when the
 * path belongs to the new master). */
void control_close(bool unlink_path);

/* An epoll event whose data.ptr is `ptr`: handled (true) when it belongs to the control socket
 * or one of its clients. */
bool control_dispatch(void *ptr);

/* The reload asked for finished: answer every client waiting for it. */
void control_reload_done(bool ok, const char *text);

/* The control socket's path for `pid_file` when control_socket is not set: the pid file's name
 * with ".ctl" in place of ".pid" (or added). */
void control_default_path(const char *pid_file, char *out, size_t outlen);

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
