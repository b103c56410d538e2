/* Logging: one line per event, written with a single write(2) so lines from the master and the
 * workers sharing one file never interleave. Format:
 *   2026-11-24T10:47:11.123Z [notice] 1234 worker 0: message */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include "common/cfg.h"

extern enum cfg_log_level log_threshold;

/* Send lines to `path`: "stderr", "/dev/stderr" or "/dev/stdout" (the descriptor itself), or a
 * file opened O_APPEND|O_NOFOLLOW (a symbolic link is refused: ELOOP). Returns 0, or -1 with
 * errno and a message in `err` ("error_log: ..."). The previous file is closed. */
int log_open(const char *path, char *err, size_t errlen);

/* Would log_open refuse `path` because it is a symbolic link? For `sluice -t`. Returns 0 (fine,
 * or not there yet), or -1 with errno ELOOP and a message in `err`. */
int log_check_path(const char *path, char *err, size_t errlen);

/* Master: reopen the current file (after rotation) by path and dup2 it over the old descriptor,
 * whose number stays. Logs a failure itself and keeps the old file. Returns 0 (also when logging
 * to stderr: nothing to do) or -1 with errno. */
int log_reopen(void);

/* The descriptor of the log file this process opened, to hand to workers (IPC_LOG_FD); -1 when
 * logging to stderr/stdout. */
int log_file_fd(void);

/* Worker: `fd` (from the master, IPC_LOG_FD) is the log from now on. It is dup2'd over the
 * current descriptor (number kept) and closed. Returns 0 or -1 with errno. Workers never reopen
 * by path: after dropping privileges they could not (see ipc.h). */
int log_adopt(int fd);

void log_set_level(enum cfg_log_level level);
/* "master" or "worker 3": copied. */
void log_set_role(const char *role);

/* The fd lines go to, so a daemon can point stderr at it. */
int log_fd(void);

void log_write(enum cfg_log_level level, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The level is checked before any formatting happens. The plain forms append strerror(errno),
 * the x forms do not (OpenBSD style). */
#define LOG_AT(lvl, errnum, ...)                                                                   \
    do {                                                                                           \
        if ((lvl) >= log_threshold)                                                                \
            log_write((lvl), (errnum), __VA_ARGS__);                                               \
    } while (0)
#define log_debug(...) LOG_AT(LOG_LVL_DEBUG, 0, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_LVL_INFO, 0, __VA_ARGS__)
#define log_notice(...) LOG_AT(LOG_LVL_NOTICE, 0, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_LVL_WARN, errno, __VA_ARGS__)
#define log_warnx(...) LOG_AT(LOG_LVL_WARN, 0, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_LVL_ERROR, errno, __VA_ARGS__)
#define log_errorx(...) LOG_AT(LOG_LVL_ERROR, 0, __VA_ARGS__)
#define log_crit(...) LOG_AT(LOG_LVL_CRIT, errno, __VA_ARGS__)
#define log_critx(...) LOG_AT(LOG_LVL_CRIT, 0, __VA_ARGS__)

/* Log at crit and exit(1). Only before fork or during worker start (STYLE.md). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
