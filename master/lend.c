/* Lending sockets of slots without a serving worker (see lend.h). */
#include "master/lend.h"

#include <stdint.h>

#include "common/ipc.h"
#include "common/log.h"
#include "master/listen.h"

/* The serving worker with the fewest sockets on loan, or -1. */
static int
least_loaded(const int *adopter, const struct lend_view *v, int nsock)
{
    int best = -1, best_load = 0;
    for (int j = 0; j < v->workers; j++) {
        if (!v->serving[j])
            continue;
        int load = 0;
        for (int t = 0; t < nsock && t < CFG_MAX_WORKERS; t++)
            load += adopter[t] == j;
        if (best < 0 || load < best_load) {
            best = j;
            best_load = load;
        }
    }
    return best;
}

/* Lend slot s's sockets to worker `to`; true when sent. */
static bool
lend(const struct lend_view *v, int s, int to)
{
    int fds[IPC_MAX_FDS], nfds = 0;
    for (int k = 0; k < v->nlisten; k++)
        if (listen_slots(v->lidx[k]) > s) {
            bool shared;
            fds[nfds++] = listen_fd_for(v->lidx[k], s, &shared);
        }
    struct ipc_msg msg = {.type = IPC_ADOPT, .slot = (uint32_t)s, .generation = v->generation};
    if (nfds == 0 || ipc_send(v->ipc_fd[to], &msg, fds, nfds) < 0)
        return false;
    log_info("slot %d has no serving worker; worker %d accepts on its sockets", s, to);
    return true;
}

void
lend_rebalance(int adopter[CFG_MAX_WORKERS], const struct lend_view *v)
{
    int nsock = 0;
    for (int k = 0; k < v->nlisten; k++)
        if (listen_slots(v->lidx[k]) > nsock)
            nsock = listen_slots(v->lidx[k]);
    for (int s = 0; s < nsock && s < CFG_MAX_WORKERS; s++) {
        int a = adopter[s];
        if (s < v->workers && v->serving[s]) {
            if (a >= 0 && v->alive[a]) {
                struct ipc_msg msg = {
                    .type = IPC_RELEASE, .slot = (uint32_t)s, .generation = v->generation};
                ipc_send(v->ipc_fd[a], &msg, NULL, 0);
            }
            adopter[s] = -1;
            continue;
        }
        if (a >= 0 && v->serving[a])
            continue;
        adopter[s] = -1;
        int best = least_loaded(adopter, v, nsock);
        if (best >= 0 && lend(v, s, best))
            adopter[s] = best;
    }
}
