/* Detaching from the terminal for `sluice -d`. */
#ifndef SLUICE_DAEMON_H
#define SLUICE_DAEMON_H

/* Fork; the parent waits until the child reports ready on the pipe (exit 0) or closes it without
 * a word (exit 1), so `sluice -d` returns only once the server serves or has failed. The child
 * starts a new session, points stdin/stdout at /dev/null, keeps stderr (where the error log goes
 * when error_log = stderr) and gets the pipe's write end in *notify_fd. Returns 0 in the child,
 * -1 with errno on failure (in the original process). */
int daemonize(int *notify_fd);

#endif
