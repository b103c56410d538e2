/* Pid file handling (see pidfile.h). flock(2) rather than fcntl locks: a flock belongs to the
 * open file description, and the master closes the fd in every worker right after fork so the
 * lock ends with the master itself.
 *
 * The file is never written in place through its path: a new file is made at a temp name in the
 * same directory (mkstemp: O_EXCL, so no planted link is followed), locked, and then linked or
 * renamed over the path. That also means a stale file that another user holds a shared flock on
 * (any user can, on a 0644 file) cannot block a start: the new inode is not covered by it. */
#include "master/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define ACQUIRE_TRIES 8 /* rounds lost to a concurrent start before giving up */

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

/* Opening an existing pid file: never through a link, never blocking on a FIFO put there. */
static int
open_existing(const char *path)
{
    return open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

enum pidfile_state
pidfile_probe(const char *path, pid_t *pid, int *keep_fd)
{
    *pid = 0;
    int fd = open_existing(path);
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

/* Does `path` (not followed) still name the file open as `fd`? */
static bool
same_file(const char *path, int fd)
{
    struct stat a, b;
    return lstat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* A new, locked, 0644 file at a temp name beside `path`. Returns its fd (name in `tmp`), or -1
 * with errno. */
static int
make_locked(const char *path, char *tmp, size_t tmplen)
{
    if (snprintf(tmp, tmplen, "%s.XXXXXX", path) >= (int)tmplen) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fchmod(fd, 0644) < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int saved = errno;
        unlink(tmp);
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Put a new locked file at `path`: over `old_fd`'s file when it is given (the caller checked it
 * is stale), else only where no file is (link(2) fails with EEXIST rather than replace one
 * that a concurrent start made). Returns the new fd, -1 with errno, or -2 when `path` changed
 * under us (the caller looks again). */
static int
install(const char *path, int old_fd)
{
    char tmp[4096 + 8];
    int fd = make_locked(path, tmp, sizeof(tmp));
    if (fd < 0)
        return -1;
    int rc;
    if (old_fd >= 0)
        rc = same_file(path, old_fd) ? rename(tmp, path) : (errno = EAGAIN, -1);
    else
        rc = link(tmp, path);
    int saved = errno;
    if (old_fd < 0 || rc < 0)
        unlink(tmp);
    if (rc == 0)
        return fd;
    close(fd);
    errno = saved;
    return saved == EEXIST || saved == EAGAIN ? -2 : -1;
}

/* The reasons a pid file found at `path` is not ours to use or replace. */
static int
refuse(const char *path, int fd, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "pid file %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "pid file %s is not a regular file; refusing to use it", path);
        errno = EINVAL;
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen,
                 "pid file %s is owned by uid %d, not by the user sluice runs as (uid %d); "
                 "refusing to use it (remove it if it is a leftover)",
                 path, (int)st.st_uid, (int)geteuid());
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* One round of pidfile_acquire: 1 = retry (a concurrent start changed the path), else the fd
 * or -1. */
static int
acquire_once(const char *path, pid_t *other_pid, pid_t *stale_pid, int *out, char *err,
             size_t errlen)
{
    int old = open_existing(path);
    if (old < 0 && errno != ENOENT) {
        if (errno == ELOOP)
            snprintf(err, errlen,
                     "pid file %s is a symbolic link; sluice does not write through links", path);
        else
            snprintf(err, errlen, "cannot open pid file %s: %s", path, strerror(errno));
        return -1;
    }
    if (old >= 0) {
        if (refuse(path, old, err, errlen) < 0)
            goto fail;
        /* An exclusive lock on the stale file serialises two starts racing for it. Failing
         * that, a shared one tells a master (it holds LOCK_EX) from a stranger's LOCK_SH; then
         * nothing serialises two starts of the same config in the same instant (the loser's
         * rename wins the path): accepted, as it needs a stranger's lock and a double start. */
        if (flock(old, LOCK_EX | LOCK_NB) < 0 && flock(old, LOCK_SH | LOCK_NB) < 0) {
            if (errno != EWOULDBLOCK) {
                snprintf(err, errlen, "pid file %s: flock: %s", path, strerror(errno));
                goto fail;
            }
            if (!same_file(path, old)) {
                close(old);
                return 1; /* a concurrent start just replaced it: look at the new one */
            }
            *other_pid = read_pid(old);
            snprintf(err, errlen, "already running (pid %d, pid file %s)", (int)*other_pid, path);
            close(old);
            errno = EWOULDBLOCK;
            return -1;
        }
        *stale_pid = read_pid(old);
    }
    int fd = install(path, old);
    int saved = errno;
    if (old >= 0)
        close(old);
    if (fd == -2)
        return 1;
    if (fd < 0) {
        snprintf(err, errlen, "cannot create pid file %s: %s", path, strerror(saved));
        errno = saved;
        return -1;
    }
    *out = fd;
    return 0;
fail:
    saved = errno;
    close(old);
    errno = saved;
    return -1;
}

int
pidfile_acquire(const char *path, pid_t *other_pid, pid_t *stale_pid, char *err, size_t errlen)
{
    *other_pid = *stale_pid = 0;
    for (int i = 0; i < ACQUIRE_TRIES; i++) {
        int fd = -1;
        int rc = acquire_once(path, other_pid, stale_pid, &fd, err, errlen);
        if (rc == 0)
            return fd;
        if (rc < 0)
            return -1;
    }
    snprintf(err, errlen, "pid file %s keeps changing under a concurrent start", path);
    errno = EAGAIN;
    return -1;
}

int
pidfile_renew(const char *path, int *fd)
{
    int new_fd = install(path, *fd);
    if (new_fd < 0) {
        if (new_fd == -2)
            errno = ESTALE;
        return -1;
    }
    close(*fd);
    *fd = new_fd;
    return 0;
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

void
pidfile_remove(const char *path, int fd)
{
    if (same_file(path, fd))
        unlink(path);
    close(fd);
}

/* The pid holding a FLOCK write lock on (dev, ino), from /proc/locks:
 *   "1: FLOCK  ADVISORY  WRITE 1234 fe:00:10952913 0 EOF"
 * Lines of waiters ("1: -> FLOCK ...") hold nothing and are skipped. */
static pid_t
flock_holder(dev_t dev, ino_t ino)
{
    FILE *f = fopen("/proc/locks", "re");
    if (f == NULL)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    pid_t holder = 0;
    while (holder == 0 && getline(&line, &cap, f) > 0) {
        char kind[16], mode[16];
        int pid;
        unsigned maj, min;
        unsigned long long inode;
        if (sscanf(line, "%*d: %15s %*s %15s %d %x:%x:%llu", kind, mode, &pid, &maj, &min,
                   &inode) != 6)
            continue;
        if (strcmp(kind, "FLOCK") == 0 && strcmp(mode, "WRITE") == 0 && pid > 0 &&
            maj == major(dev) && min == minor(dev) && inode == (unsigned long long)ino)
            holder = (pid_t)pid;
    }
    free(line);
    fclose(f);
    return holder;
}

/* The effective uid of `pid` (/proc/PID/status "Uid: real effective saved fs"), or -1. */
static long
effective_uid(pid_t pid)
{
    char path[64], line[256];
    long euid = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    while (euid < 0 && fgets(line, sizeof(line), f))
        if (sscanf(line, "Uid: %*u %ld", &euid) != 1)
            euid = -1;
    fclose(f);
    return euid;
}

int
pidfile_verify(const char *path, int fd, pid_t pid, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "pid file %s: %s", path, strerror(errno));
        return -1;
    }
    pid_t holder = flock_holder(st.st_dev, st.st_ino);
    if (holder < 0) {
        snprintf(err, errlen,
                 "cannot read /proc/locks (%s) to check that pid %d holds pid file %s; "
                 "refusing to signal it",
                 strerror(errno), (int)pid, path);
        return -1;
    }
    if (holder != pid) {
        char who[64] = "no process visible here";
        if (holder)
            snprintf(who, sizeof(who), "pid %d", (int)holder);
        snprintf(err, errlen,
                 "pid file %s names pid %d, but its lock is held by %s; refusing to signal a "
                 "process that is not the master holding it",
                 path, (int)pid, who);
        return -1;
    }
    long euid = effective_uid(pid);
    if (euid < 0 || (uid_t)euid != st.st_uid) {
        snprintf(err, errlen,
                 "pid file %s is owned by uid %d, but its master (pid %d) runs as uid %ld; "
                 "refusing to signal it",
                 path, (int)st.st_uid, (int)pid, euid);
        return -1;
    }
    return 0;
}
