/* sleep: answers later. GET /sleep?ms=N (0 .. 60000) is answered "slept N ms\n" N ms after it
 * arrived, from a timer of the worker's loop: the worker goes on serving other requests
 * meanwhile, as many sleeping ones as clients send. A model of the SL_PENDING pattern:
 *
 *   - the request hook starts the work (here a timer), records what it needs to finish or to
 *     abandon it, and returns SL_PENDING;
 *   - the work's callback answers (a finishing call) and frees the record;
 *   - a cancel callback, run when the request ends first (the client left, request_timeout,
 *     the server stops), stops the work, lets the request go and frees the record.
 *
 * `?ms=N&nocancel=1` registers no cancel callback, to show the other way: the timer runs
 * anyway, and its late sl_resp_send returns SL_ECANCELED and releases the request. Simpler,
 * but the work goes on for nothing until then. */
#include <sluice.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLEEP_MAX_MS 60000

/* One sleeping request: owned by the module from the hook until the timer or the cancel. */
struct nap {
    struct sl_req *req;
    struct sl_app *app;
    struct sl_timer *timer;
    unsigned ms;
};

/* The value of `name` in the query string "a=1&b=2" into *value; false when absent. */
static bool
query_param(struct sl_str query, const char *name, struct sl_str *value)
{
    size_t nlen = strlen(name);
    const char *p = query.ptr, *end = query.ptr + query.len;
    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            *value = (struct sl_str){p + nlen + 1, (size_t)(stop - p - nlen - 1)};
            return true;
        }
        p = amp != NULL ? amp + 1 : NULL;
    }
    return false;
}

/* "0" .. "60000" as a number, else -1. */
static long
parse_ms(struct sl_str text)
{
    long v = 0;
    if (text.len == 0 || text.len > 5)
        return -1;
    for (size_t i = 0; i < text.len; i++) {
        if (text.ptr[i] < '0' || text.ptr[i] > '9')
            return -1;
        v = v * 10 + (text.ptr[i] - '0');
    }
    return v <= SLEEP_MAX_MS ? v : -1;
}

/* The timer: answer. The timer is freed by the loop once this returns. */
static void
nap_over(void *arg)
{
    struct nap *nap = arg;
    char body[64];
    int n = snprintf(body, sizeof(body), "slept %u ms\n", nap->ms);
    sl_resp_header(nap->req, "Content-Type", "text/plain");
    /* With a cancel callback this cannot meet an ended request (the cancel disarmed us). Without
     * one it can: the call then does nothing but let the request go. */
    if (sl_resp_send(nap->req, body, (size_t)n) == SL_ECANCELED)
        sl_log(nap->app, SL_LOG_DEBUG,
               "the request for %u ms ended before the timer (no cancel callback): SL_ECANCELED",
               nap->ms);
    free(nap);
}

/* The request ended before the timer: disarm it, let the request go, forget it. */
static void
nap_cancel(struct sl_req *req, void *arg)
{
    struct nap *nap = arg;
    sl_log(nap->app, SL_LOG_DEBUG, "the request for %u ms ended before the timer: cancelled",
           nap->ms);
    sl_timer_cancel(nap->timer);
    sl_req_release(req);
    free(nap);
}

static int
sleep_request(struct sl_req *req)
{
    struct sl_str value;
    struct sl_str query = sl_req_query(req);
    long ms = query_param(query, "ms", &value) ? parse_ms(value) : -1;
    if (ms < 0) {
        sl_resp_error(req, 400);
        return SL_DONE;
    }
    bool cancellable =
        !(query_param(query, "nocancel", &value) && value.len == 1 && value.ptr[0] == '1');

    struct nap *nap = malloc(sizeof(*nap));
    if (nap == NULL) {
        sl_resp_error(req, 500);
        return SL_DONE;
    }
    *nap = (struct nap){.req = req, .app = sl_req_app(req), .ms = (unsigned)ms};
    nap->timer = sl_timer_add((uint64_t)ms, nap_over, nap);
    if (nap->timer == NULL) {
        free(nap);
        sl_resp_error(req, 500);
        return SL_DONE;
    }
    if (cancellable && sl_req_on_cancel(req, nap_cancel, nap) == SL_ECANCELED) {
        /* Ended already: nothing will answer it, so let it go now. */
        sl_timer_cancel(nap->timer);
        sl_req_release(req);
        free(nap);
        return SL_DONE;
    }
    sl_log(nap->app, SL_LOG_DEBUG, "sleeping %ld ms (%s)", ms,
           cancellable ? "with a cancel callback" : "no cancel callback");
    return SL_PENDING;
}

/* sleep takes no keys. */
static int
sleep_check(const struct sl_section *section, char *err, size_t errlen)
{
    int i = 0;
    const char *key, *value;
    if (sl_config_next(section, &i, &key, &value)) {
        snprintf(err, errlen, "unknown key '%s' at line %d (sleep takes no keys)", key,
                 sl_config_line(section, key));
        return -1;
    }
    return 0;
}

const struct sl_app_hooks sluice_app = {
    .abi = SL_ABI_VERSION,
    .check = sleep_check,
    .request = sleep_request,
};
