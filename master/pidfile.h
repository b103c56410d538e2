/* The pid file: created and flock()ed by the master for its whole life, so two masters can never
 * share one, and a file nobody holds locked is known to be stale. It is only ever replaced
 * through a temp name and rename/link, never opened for writing through its path, and a file
 * that is a link, not a regular file, or owned by another user is refused. */
#ifndef SLUICE_PIDFILE_H
#define SLUICE_PIDFILE_H

#include <stddef.h>
#include <sys/types.h>

enum pidfile_state {
    PIDFILE_NONE,    /* no file */
    PIDFILE_STALE,   /* file, but no process holds its lock */
    PIDFILE_RUNNING, /* a master holds it */
    PIDFILE_ERROR,   /* cannot be read (errno; ELOOP: it is a symbolic link) */
};

/* Look at `path` without taking it (a link is not followed). *pid gets the pid written in it (0
 * when unreadable). With `keep_fd` non-NULL and state RUNNING, the open fd is returned there so
 * the caller can verify it (pidfile_verify) and wait for the lock to be released
 * (pidfile_wait_released). */
enum pidfile_state pidfile_probe(const char *path, pid_t *pid, int *keep_fd);

/* Wait up to `timeout_ms` until the lock on the probed fd is released. Returns 0, or -1 on
 * timeout. Closes fd. */
int pidfile_wait_released(int fd, int timeout_ms);

/* Take `path` for this process: a new file, locked, put in place through a temp name (over a
 * stale file, which may be flock'ed LOCK_SH by anyone, or where none is). Returns the fd, or -1
 * with errno and a one-line message in `err`: EWOULDBLOCK when a master holds it (*other_pid
 * set), ELOOP for a symbolic link, EPERM for a file owned by another user. *stale_pid is set
 * when a stale file was replaced. */
int pidfile_acquire(const char *path, pid_t *other_pid, pid_t *stale_pid, char *err, size_t errlen);

/* After a fork (daemonising), put a new file locked by this process in place of the one `*fd`
 * holds, so that /proc/locks names this process as the holder (pidfile_verify). *fd is
 * replaced; the old one is closed. Returns 0 or -1 with errno (*fd unchanged). */
int pidfile_renew(const char *path, int *fd);

/* Write the current pid into the locked file. Returns 0 or -1 with errno. */
int pidfile_write(int fd);

/* Unlink `path` when it still names the file open as `fd`, then close fd. */
void pidfile_remove(const char *path, int fd);

/* Before the CLI signals `pid`: is it the process that holds the FLOCK on the pid file open as
 * `fd` (by device and inode, from /proc/locks: this works for a master that does not answer,
 * and after an upgrade to a rebuilt binary), and does it run as the file's owner? Returns 0, or
 * -1 with a one-line message in `err`. */
int pidfile_verify(const char *path, int fd, pid_t pid, char *err, size_t errlen);

#endif
