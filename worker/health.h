/* The health route (health_path): what a load balancer's health check or a Kubernetes readiness
 * probe asks. It answers 200 while the instance serves and 503 once the master has said that a
 * graceful stop began (IPC_DRAIN), so the balancer takes the instance out while it still
 * serves everything else (drain_delay). Nothing else about the worker changes with a drain. */
#ifndef SLUICE_HEALTH_H
#define SLUICE_HEALTH_H

#include <stdbool.h>

struct handler;

/* GET and HEAD (others get 405 from the server): 200 "ok\n", or 503 "draining\n" once
 * health_drain was called; text/plain, Cache-Control: no-store, and the connection kept alive
 * like any other answer (a checker that keeps its connection sees the 503 on it too). */
extern const struct handler health_handler;

/* From now on health answers 503, for the rest of this process (there is no way back: a drain
 * ends in a stop). Logged once. */
void health_drain(void);

/* True once health_drain was called. */
bool health_draining(void);

#endif
