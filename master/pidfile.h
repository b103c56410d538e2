/* The pid file: created and flock()ed by the master for its whole life, so two masters can never
 * share one, and a file nobody holds locked is known to be stale. */
#ifndef SLUICE_PIDFILE_H
#define SLUICE_PIDFILE_H

#include <sys/types.h>

enum pidfile_state {
    PIDFILE_NONE,    /* no file */
    PIDFILE_STALE,   /* file, but no process holds its lock */
    PIDFILE_RUNNING, /* a master holds it */
    PIDFILE_ERROR,   /* cannot be read (errno) */
};

/* Look at `path` without taking it. *pid gets the pid written in it (0 when unreadable).
 * With `keep_fd` non-NULL and state RUNNING, the open fd is returned there so the caller can
 * wait for the lock to be released (pidfile_wait_released). */
enum pidfile_state pidfile_probe(const char *path, pid_t *pid, int *keep_fd);

/* Wait up to `timeout_ms` until the lock on the probed fd is released. Returns 0, or -1 on
 * timeout. Closes fd. */
int pidfile_wait_released(int fd, int timeout_ms);

/* Create or take over `path`, lock it. Returns the fd, or -1: errno EWOULDBLOCK means another
 * master holds it (*other_pid set). *stale_pid is set when a stale file was taken over. */
int pidfile_acquire(const char *path, pid_t *other_pid, pid_t *stale_pid);

/* Write the current pid into the locked file. Returns 0 or -1 with errno. */
int pidfile_write(int fd);

#endif
