/* Logging: one line per event, written with a single write(2) so lines from the master and the
 * workers sharing one file never interleave. Format:
 *   2026-11-24T10:47:11.123Z [notice] 1234 worker 0: message */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include "common/cfg.h"

extern enum cfg_log_level log_threshold;

/* Send lines to `path` ("stderr" or a file opened O_APPEND). Returns 0, or -1 with errno and
 * a message in `err`. The previous destination is closed. */
int log_open(const char *path, char *err, size_t errlen);

/* Reopen the current file (after rotation). Returns 0 or -1 with errno; keeps the old fd on
 * failure. */
int log_reopen(void);

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
