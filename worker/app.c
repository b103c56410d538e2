/* The module host (app.h): loading each application's snapshot, its routes, its lifecycle. A
 * module's code runs only from here and from app_api.c's trampolines, each of which marks the
 * shared-region slot with the application first, so the master can name the module that was
 * running when the worker died. */
#include "worker/app.h"

#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/req.h"
#include "worker/route.h"

static struct {
    struct app apps[CFG_MAX_APPS];
    int n;
    struct shm_worker *stats;
    struct app *current;
    int slot;
    unsigned generation;
    bool root; /* an application has route "/" */
} host;

struct app *
app_enter(struct app *a)
{
    struct app *prev = host.current;
    host.current = a;
    if (host.stats)
        host.stats->in_app = a ? a->index + 1 : 0;
    return prev;
}

void
app_leave(struct app *prev)
{
    app_enter(prev);
}

struct app *
app_current(void)
{
    return host.current;
}

int
app_slot(void)
{
    return host.slot;
}

unsigned
app_generation(void)
{
    return host.generation;
}

bool
app_has_root(void)
{
    return host.root;
}

/* The route handler of every application: the request goes to the module's hook. */
static enum req_result
app_request(struct req *r)
{
    struct app *a = req_route_data(r);
    struct app *prev = app_enter(a);
    int rc = a->hooks->request((struct sl_req *)r);
    app_leave(prev);
    return rc == SL_PENDING ? REQ_PENDING : REQ_DONE;
}

/* dlopen the snapshot; the master's child validated exactly these bytes, so a failure here is
 * the host's (memory, /proc), not the module's. */
static int
load(struct app *a, const struct cfg_app *sec, int fd)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        log_errorx("app \"%s\": cannot load module %s: %s", sec->name, sec->module, dlerror());
        return -1;
    }
    a->hooks = dlsym(h, SL_APP_SYMBOL);
    if (a->hooks == NULL || a->hooks->abi != SL_ABI_VERSION || a->hooks->request == NULL) {
        log_errorx("app \"%s\": module %s is not the one that was checked", sec->name, sec->module);
        return -1;
    }
    a->sec = sec;
    a->h = (struct handler){
        .name = sec->name,
        .verbs = 1u << VERB_GET | 1u << VERB_HEAD | 1u << VERB_POST | 1u << VERB_PUT |
                 1u << VERB_DELETE | 1u << VERB_OPTIONS | 1u << VERB_OTHER,
        .allow = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS",
        .body = REQ_BODY_BUFFER,
        .request = app_request,
    };
    for (int i = 0; i < sec->nroute; i++) {
        if (route_add(sec->route[i], &a->h, a, sec->route_exact[i]) < 0) {
            log_errorx("app \"%s\": route %s: the route table is full", sec->name, sec->route[i]);
            return -1;
        }
        if (!sec->route_exact[i] && sec->route[i][1] == '\0')
            host.root = true;
    }
    return 0;
}

int
app_init(const struct cfg *cfg, const int *fds, struct shm_worker *stats, int slot,
         unsigned generation)
{
    host.stats = stats;
    host.slot = slot;
    host.generation = generation;
    for (int i = 0; i < cfg->napps; i++) {
        struct app *a = &host.apps[i];
        a->index = i;
        if (fds[i] < 0 || load(a, &cfg->app[i], fds[i]) < 0)
            return -1;
        host.n = i + 1;
        close(fds[i]); /* the mapping stays */
    }
    for (int i = 0; i < host.n; i++) {
        struct app *a = &host.apps[i];
        if (a->hooks->worker_start) {
            struct app *prev = app_enter(a);
            int rc = a->hooks->worker_start((struct sl_app *)a, (const struct sl_section *)a->sec);
            app_leave(prev);
            if (rc != 0) {
                log_errorx("app \"%s\": worker_start failed", a->sec->name);
                app_fini();
                return -1;
            }
        }
        a->started = true;
    }
    return 0;
}

void
app_fini(void)
{
    for (int i = host.n - 1; i >= 0; i--) {
        struct app *a = &host.apps[i];
        if (!a->started)
            continue;
        a->started = false;
        if (a->hooks->worker_stop) {
            struct app *prev = app_enter(a);
            a->hooks->worker_stop((struct sl_app *)a);
            app_leave(prev);
        }
    }
}
