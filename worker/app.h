/* Application modules in a worker (the module host): the generation's snapshots dlopened, one
 * route handler per [app "name"] section, the lifecycle hooks, and which module's code runs
 * now (for the master's line when a worker dies by a signal). The sl_* calls of the public API
 * are app_api.c's. */
#ifndef SLUICE_APP_H
#define SLUICE_APP_H

#include <stdbool.h>

#include "common/cfg.h"
#include "common/shm.h"
#include "include/sluice.h"
#include "worker/handler.h"

/* One application in this worker. */
struct app {
    struct handler h; /* its routes' handler; h.name is the application's name */
    const struct sl_app_hooks *hooks;
    const struct cfg_app *sec;
    void *data;   /* sl_app_set_data */
    int index;    /* in cfg->app */
    bool started; /* worker_start succeeded (or there is none): worker_stop will run */
};

/* After the privilege drop, before the static route: dlopen the snapshot fds[i] of each of
 * cfg's applications (through /proc/self/fd), add their routes, run their worker_start hooks.
 * `stats` is the worker's shared-region slot (in_app), `slot` and `generation` what modules
 * see. Returns 0, or -1 (logged): the worker must exit before it reports ready. */
int app_init(const struct cfg *cfg, const int *fds, struct shm_worker *stats, int slot,
             unsigned generation);

/* True when an application has the route "/": static files then have none. */
bool app_has_root(void);

/* The worker's end: worker_stop of each started application, in reverse order. */
void app_fini(void);

/* Module code of `a` runs from now (NULL: none): returns the previous mark for app_leave. */
struct app *app_enter(struct app *a);
void app_leave(struct app *prev);
/* The application whose code runs now, NULL outside module code. */
struct app *app_current(void);

int app_slot(void);
unsigned app_generation(void);

#endif
