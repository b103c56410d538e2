/* Crash back-off arithmetic (see backoff.h). */
#include "common/backoff.h"

struct backoff_step
backoff_next(int64_t level_ms, int64_t lived_ms)
{
    if (lived_ms >= BACKOFF_RESET_MS || level_ms < 0)
        level_ms = 0;
    if (level_ms > BACKOFF_MAX_MS)
        level_ms = BACKOFF_MAX_MS;
    if (lived_ms >= BACKOFF_QUICK_DEATH_MS)
        return (struct backoff_step){.level_ms = level_ms, .delay_ms = 0};
    /* level_ms <= BACKOFF_MAX_MS here, so doubling cannot overflow. */
    level_ms = level_ms == 0 ? BACKOFF_MIN_MS : level_ms * 2;
    if (level_ms > BACKOFF_MAX_MS)
        level_ms = BACKOFF_MAX_MS;
    return (struct backoff_step){.level_ms = level_ms, .delay_ms = level_ms};
}
