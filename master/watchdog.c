/* The worker watchdog (see watchdog.h). */
#include "master/watchdog.h"

#include <signal.h>

#include "common/log.h"

int64_t
watchdog_check(int slot, pid_t pid, const struct shm_worker *w, int64_t *kill_at, int64_t now,
               int64_t limit_ms)
{
    if (*kill_at) {
        if (now >= *kill_at) {
            kill(pid, SIGKILL);
            *kill_at = INT64_MAX; /* nothing more until it is reaped */
        }
        return *kill_at;
    }
    int64_t silent = now - w->heartbeat_ms;
    if (w->pid != pid || silent <= limit_ms)
        return INT64_MAX;
    log_errorx("worker %d (pid %d) has not turned its loop for %lld ms (last: %s); aborting it",
               slot, (int)pid, (long long)silent, shm_worker_state_name(w->state));
    kill(pid, SIGABRT);
    *kill_at = now + WATCHDOG_KILL_AFTER_MS;
    return *kill_at;
}

int64_t
watchdog_next_look(int64_t now, int64_t limit_ms)
{
    return now + (limit_ms / 4 > 250 ? limit_ms / 4 : 250);
}
