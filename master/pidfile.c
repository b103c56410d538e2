/* Pid file handling (see pidfile.h). flock(2) rather than fcntl locks: a flock belongs to the
 * open file description, so it survives the fork of -d, and the master closes the fd in every
 * worker right after fork so the lock ends with the master itself. */
#include "master/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static pid_t
read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long v = strtol(buf, NULL, 10);
    return v > 0 ? (pid_t)v : 0;
}

enum pidfile_state
pidfile_probe(const char *path, pid_t *pid, int *keep_fd)
{
    *pid = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? PIDFILE_NONE : PIDFILE_ERROR;
    *pid = read_pid(fd);
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        close(fd);
        return PIDFILE_STALE;
    }
    if (errno != EWOULDBLOCK) {
        int saved = errno;
        close(fd);
        errno = saved;
        return PIDFILE_ERROR;
    }
    if (keep_fd)
        *keep_fd = fd;
    else
        close(fd);
    return PIDFILE_RUNNING;
}

int
pidfile_wait_released(int fd, int timeout_ms)
{
    struct timespec step = {0, 20 * 1000 * 1000};
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
            close(fd);
            return 0;
        }
        nanosleep(&step, NULL);
    }
    close(fd);
    return -1;
}

int
pidfile_acquire(const char *path, pid_t *other_pid, pid_t *stale_pid)
{
    *other_pid = *stale_pid = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int saved = errno;
        *other_pid = read_pid(fd);
        close(fd);
        errno = saved;
        return -1;
    }
    *stale_pid = read_pid(fd);
    return fd;
}

int
pidfile_write(int fd)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        return -1;
    return 0;
}
