/* Rate limit for worker exit lines (see exitlog.h). */
#include "master/exitlog.h"

#include "common/log.h"

static struct {
    int64_t window_start;
    int logged, suppressed;
} exitlog;

int64_t
exitlog_flush(int64_t now)
{
    int64_t end = exitlog.window_start + EXITLOG_WINDOW_MS;
    if (exitlog.suppressed == 0)
        return INT64_MAX;
    if (now < end)
        return end;
    log_errorx("%d more worker exits in the last %d s were not logged", exitlog.suppressed,
               EXITLOG_WINDOW_MS / 1000);
    exitlog.suppressed = 0;
    return INT64_MAX;
}

bool
exitlog_allowed(int64_t now)
{
    if (now - exitlog.window_start >= EXITLOG_WINDOW_MS) {
        exitlog_flush(now);
        exitlog.window_start = now;
        exitlog.logged = 0;
    }
    if (exitlog.logged < EXITLOG_BURST) {
        exitlog.logged++;
        return true;
    }
    exitlog.suppressed++;
    return false;
}
