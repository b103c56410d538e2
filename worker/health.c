/* The health route (see health.h). */
#include "worker/health.h"

#include "common/log.h"
#include "worker/handler.h"
#include "worker/http.h"
#include "worker/req.h"

/* One flag per process: the master's word (IPC_DRAIN, or worker_args.draining for a worker
 * forked during a drain) sets it, the handler reads it. */
static bool draining;

void
health_drain(void)
{
    if (draining)
        return;
    draining = true;
    log_info("draining: health answers 503 from now on");
}

bool
health_draining(void)
{
    return draining;
}

/* A fixed answer, copied (it is a few bytes): no state to keep past the call. A request that
 * carried a body had it discarded first (REQ_BODY_DISCARD). */
static enum req_result
health_request(struct req *r)
{
    static const char ok[] = "ok\n", drain[] = "draining\n";
    if (draining)
        req_status(r, 503);
    req_header_add(r, "Content-Type", "text/plain");
    req_header_add(r, "Cache-Control", "no-store");
    if (draining)
        req_send_copy(r, drain, sizeof(drain) - 1);
    else
        req_send_copy(r, ok, sizeof(ok) - 1);
    return REQ_DONE;
}

const struct handler health_handler = {
    .name = "health",
    .verbs = 1u << VERB_GET | 1u << VERB_HEAD | 1u << VERB_OPTIONS,
    .allow = "GET, HEAD, OPTIONS",
    .body = REQ_BODY_DISCARD,
    .request = health_request,
};
