/* Rate limit for worker exit lines (see exitlog.h). */
#include "master/exitlog.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

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

/* " in app "NAME" (module PATH)" when the worker died in module code, as its slot in the
 * shared region says (a worker may scribble there: the index is checked), else "". */
static void
exit_app(const struct proc *p, pid_t pid, const struct shm_worker *w, char *buf, size_t len)
{
    int i = w->in_app - 1;
    buf[0] = '\0';
    if (w->pid == pid && i >= 0 && i < p->gen->cfg->napps)
        snprintf(buf, len, " in app \"%s\" (module %s)", p->gen->cfg->app[i].name,
                 p->gen->cfg->app[i].module);
}

void
exitlog_line(const struct proc *p, pid_t pid, int status, bool expected, const struct shm_worker *w)
{
    unsigned id = p->gen->id;
    if (WIFSIGNALED(status)) {
        char app[CFG_APP_NAME_MAX + CFG_PATH_MAX + 32];
        const char *abbrev = sigabbrev_np(WTERMSIG(status));
        exit_app(p, pid, w, app, sizeof(app));
        LOG_AT(expected ? LOG_LVL_NOTICE : LOG_LVL_ERROR, 0,
               "worker %d (pid %d, generation %u) killed by signal %d (SIG%s)%s%s", p->slot,
               (int)pid, id, WTERMSIG(status), abbrev ? abbrev : "?", app,
               WCOREDUMP(status) ? " (core dumped)" : "");
        return;
    } else
        LOG_AT(WEXITSTATUS(status) != 0 ? LOG_LVL_ERROR
               : expected               ? LOG_LVL_INFO
                                        : LOG_LVL_NOTICE,
               0, "worker %d (pid %d, generation %u) exited with status %d", p->slot, (int)pid, id,
               WEXITSTATUS(status));
}
