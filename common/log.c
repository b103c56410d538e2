/* Logging to stderr or an append-only file, with a level threshold and a process role. */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum cfg_log_level log_threshold = LOG_LVL_NOTICE;

static int log_dest = STDERR_FILENO;
static bool log_owned; /* log_dest is a file we opened (not stderr/stdout): ours to replace */
static char log_path[CFG_PATH_MAX] = "stderr";
static char log_role[32] = "master";

/* The names that mean the process's own stdout/stderr (containers). /dev/stderr is a symlink to
 * /proc/self/fd/2, which O_NOFOLLOW would refuse: it gets the descriptor itself instead. */
static int
std_dest(const char *path)
{
    if (strcmp(path, "stderr") == 0 || strcmp(path, "/dev/stderr") == 0)
        return STDERR_FILENO;
    if (strcmp(path, "/dev/stdout") == 0)
        return STDOUT_FILENO;
    return -1;
}

/* O_NOFOLLOW: a link planted where the log goes (a writable log directory) must not make a
 * root master append to, or create, the file it points at. */
static int
open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644);
}

static void
describe_error(const char *path, int errnum, char *err, size_t errlen)
{
    if (errnum == ELOOP)
        snprintf(err, errlen,
                 "error_log: '%s' is a symbolic link; sluice does not write through links "
                 "(name the file itself, or stderr)",
                 path);
    else
        snprintf(err, errlen, "error_log: cannot open '%s': %s", path, strerror(errnum));
}

int
log_check_path(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (std_dest(path) >= 0 || lstat(path, &st) < 0 || !S_ISLNK(st.st_mode))
        return 0;
    describe_error(path, ELOOP, err, errlen);
    errno = ELOOP;
    return -1;
}

int
log_open(const char *path, char *err, size_t errlen)
{
    int fd = std_dest(path);
    bool owned = fd < 0;
    if (owned && (fd = open_file(path)) < 0) {
        int saved = errno;
        describe_error(path, saved, err, errlen);
        errno = saved;
        return -1;
    }
    if (log_owned && log_dest != fd)
        close(log_dest);
    log_dest = fd;
    log_owned = owned;
    snprintf(log_path, sizeof(log_path), "%s", path);
    return 0;
}

int
log_reopen(void)
{
    if (!log_owned)
        return 0;
    int fd = open_file(log_path);
    if (fd < 0) {
        int saved = errno;
        char err[CFG_PATH_MAX + 128];
        describe_error(log_path, saved, err, sizeof(err));
        log_errorx("%s; logging goes on to the old file", err);
        errno = saved;
        return -1;
    }
    /* dup2 keeps the descriptor number, so anything pointed at it (a daemon's stderr, a worker
     * forked later) follows. */
    if (dup2(fd, log_dest) < 0) {
        int saved = errno;
        log_error("error_log: reopening '%s'", log_path);
        close(fd);
        errno = saved;
        return -1;
    }
    close(fd);
    return 0;
}

int
log_file_fd(void)
{
    return log_owned ? log_dest : -1;
}

int
log_adopt(int fd)
{
    if (!log_owned) {
        log_dest = fd;
        log_owned = true;
        return 0;
    }
    int rc = dup2(fd, log_dest) < 0 ? -1 : 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

void
log_set_level(enum cfg_log_level level)
{
    log_threshold = level;
}

void
log_set_role(const char *role)
{
    snprintf(log_role, sizeof(log_role), "%s", role);
}

int
log_fd(void)
{
    return log_dest;
}

static void
log_vwrite(enum cfg_log_level level, int errnum, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ [%s] %d %s: ", ts.tv_nsec / 1000000,
                          cfg_log_level_name(level), (int)getpid(), log_role);
    int w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    n = (w < 0) ? n : (n + (size_t)w < sizeof(line) ? n + (size_t)w : sizeof(line) - 1);
    if (errnum != 0 && n < sizeof(line) - 1)
        n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line; a short write to a full disk loses the tail of one line, no more. */
    ssize_t rc = write(log_dest, line, n);
    (void)rc;
}

void
log_write(enum cfg_log_level level, int errnum, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, errnum, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
fatal(const char *fmt, ...)
{
    int errnum = errno;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(LOG_LVL_CRIT, errnum, fmt, ap);
    va_end(ap);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(LOG_LVL_CRIT, 0, fmt, ap);
    va_end(ap);
    exit(1);
}
