/* The seam's per-worker context, below req.c, req_body.c and req_send.c: its configuration with
 * the connection's callbacks (req_env), and which request's handler code is running, so that
 * a call made from inside it needs no kick. */
#include <stddef.h>

#include "worker/req_internal.h"

static struct req_env env;
static struct req *running; /* the request whose hook or callback runs now, else NULL */

void
req_env_set(const struct req_env *e)
{
    env = *e;
}

const struct req_env *
req_env(void)
{
    return &env;
}

void
req_enter(struct req *r)
{
    running = r;
}

void
req_leave(void)
{
    running = NULL;
}

bool
req_running(const struct req *r)
{
    return r == running;
}

void
req_kick(struct req *r)
{
    if (r != running && r->conn)
        env.ops->kick(r->conn);
}
