/* Forking a worker into a slot (see gen.h). */
#include "master/gen.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/ipc.h"
#include "common/log.h"
#include "master/listen.h"
#include "master/watchdog.h"
#include "worker/worker.h"

int
gen_column(const struct gen_table *t, const struct gen *g, int slot)
{
    return (int)(g - t->gens) * CFG_MAX_WORKERS + slot;
}

/* In the child: close every descriptor that belongs to the master or to other workers, so that
 * the pid file lock ends with the master and a socket the master closes really closes. Only
 * close(2): an epoll_ctl here would change the master's own epoll set, which the child shares
 * until it makes its own. The error log's descriptor stays: it is the master's current file (a
 * reopen dup2's over the same number), so a new worker starts on it; later reopens reach it as
 * IPC_LOG_FD. */
static void
child_close_fds(const struct gen_table *t, const struct gen *g, int slot, struct worker_args *args)
{
    if (t->child_setup)
        t->child_setup(t->ctx);
    for (int i = 0; i < GEN_MAX; i++)
        for (int j = 0; j < CFG_MAX_WORKERS; j++)
            if (t->gens[i].procs[j].pid && t->gens[i].procs[j].io.fd >= 0)
                close(t->gens[i].procs[j].io.fd);
    /* Only its own generation's module snapshots: an older one's would pin stale code. */
    for (int i = 0; i < GEN_MAX; i++)
        if (&t->gens[i] != g)
            for (int k = 0; k < t->gens[i].mods.n; k++)
                if (t->gens[i].mods.fd[k] >= 0)
                    close(t->gens[i].mods.fd[k]);
    for (int k = 0; k < CFG_MAX_APPS; k++)
        args->app_fd[k] = k < g->mods.n ? g->mods.fd[k] : -1;
    /* Only its own generation's access log: an older one's may be a file a reload left. */
    for (int i = 0; i < GEN_MAX; i++)
        if (&t->gens[i] != g && t->gens[i].access_log_fd >= 0 &&
            t->gens[i].access_log_fd != g->access_log_fd)
            close(t->gens[i].access_log_fd);
    args->nlisten = 0;
    for (int k = 0; k < g->cfg->nlisten; k++) {
        bool shared;
        int fd = listen_fd_for(g->lidx[k], slot, &shared);
        args->listen_fds[args->nlisten] = fd;
        args->listen_shared[args->nlisten++] = shared;
    }
    listen_close_except(args->listen_fds, args->nlisten);
}

int
gen_live_procs(const struct gen *g)
{
    int n = 0;
    for (int i = 0; i < CFG_MAX_WORKERS; i++)
        n += g->procs[i].pid != 0;
    return n;
}

void
gen_signal(struct gen *g, int sig)
{
    for (int i = 0; i < CFG_MAX_WORKERS; i++)
        if (g->procs[i].pid)
            kill(g->procs[i].pid, sig);
}

void
gen_reset(struct gen *g, ev_io_cb *cb)
{
    memset(g, 0, offsetof(struct gen, procs));
    memset(&g->backoff_ms, 0, sizeof(*g) - offsetof(struct gen, backoff_ms));
    g->access_log_fd = -1;
    for (int s = 0; s < CFG_MAX_WORKERS; s++)
        g->procs[s] = (struct proc){
            .io = {.fd = -1, .cb = cb},
            .gen = g,
            .slot = s,
        };
}

void
gen_drop(struct gen *g, ev_io_cb *cb)
{
    free(g->cfg);
    tls_set_free(g->tls);
    mod_set_close(&g->mods);
    if (g->access_log_fd >= 0)
        close(g->access_log_fd);
    gen_reset(g, cb);
}

int
gen_spawn(const struct gen_table *t, struct gen *g, int slot)
{
    int sv_fds[2];
    struct proc *p = &g->procs[slot];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv_fds) < 0) {
        log_error("socketpair for worker %d", slot);
        return -1;
    }
    pid_t master_pid = getpid();
    /* The child fills its slot in the shared region itself; the watchdog only looks at workers
     * that reported ready, by then their pid is there. */
    *shm_worker(t->shm, gen_column(t, g, slot)) = (struct shm_worker){.pid = 0};
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork of worker %d", slot);
        close(sv_fds[0]);
        close(sv_fds[1]);
        return -1;
    }
    if (pid == 0) {
        struct worker_args args = {
            .cfg = g->cfg,
            .tls = g->tls,
            .slot = slot,
            .generation = g->id,
            .ipc_fd = sv_fds[1],
            .master_pid = master_pid,
            .shm = t->shm,
            .shm_column = gen_column(t, g, slot),
            .draining = t->draining,
            .access_log_fd = g->access_log_fd,
        };
        close(sv_fds[0]);
        child_close_fds(t, g, slot, &args);
        worker_main(&args);
    }
    close(sv_fds[1]);
    *p = (struct proc){.io = {.fd = sv_fds[0], .cb = t->on_ipc},
                       .pid = pid,
                       .started_ms = clock_mono_ms(),
                       .gen = g,
                       .slot = slot};
    if (ev_set(&p->io, EV_READ) < 0)
        log_error("watching worker %d", slot);
    log_info("worker %d (pid %d) started, generation %u", slot, (int)pid, g->id);
    return 0;
}

static void
warn_reload(void *arg, const char *msg)
{
    (void)arg;
    log_warnx("reload: %s", msg);
}

struct cfg *
gen_load(const char *path, struct tls_set **tls, char *err, size_t errlen)
{
    struct cfg *cfg = malloc(sizeof(*cfg));
    *tls = NULL;
    if (cfg == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (cfg_load(cfg, path, err, errlen) == 0 &&
        ((*tls = tls_set_build(cfg, warn_reload, NULL, err, errlen)) != NULL || err[0] == '\0'))
        return cfg;
    free(cfg);
    return NULL;
}

/* `msg` (slot and generation filled in per worker) with `fd` (-1: none) to every live worker
 * of g; a worker whose socket takes no message is logged as "WHAT worker N (pid P)" and left
 * out. */
static void
send_each(const struct gen *g, struct ipc_msg msg, int fd, const char *what)
{
    msg.generation = g->id;
    for (int s = 0; s < CFG_MAX_WORKERS; s++) {
        const struct proc *p = &g->procs[s];
        if (p->pid == 0 || p->io.fd < 0)
            continue;
        msg.slot = (uint32_t)s;
        if (ipc_send(p->io.fd, &msg, fd >= 0 ? &fd : NULL, fd >= 0) < 0)
            log_warn("%s worker %d (pid %d)", what, s, (int)p->pid);
    }
}

void
gen_drain(const struct gen_table *t)
{
    for (int i = 0; i < GEN_MAX; i++)
        send_each(&t->gens[i], (struct ipc_msg){.type = IPC_DRAIN}, -1, "drain: cannot tell");
}

/* A worker cannot reopen the log by path itself once it runs as `user`, and must not: it would
 * keep writing into the rotated file. */
void
gen_hand_log(const struct gen_table *t, int fd)
{
    for (int i = 0; i < GEN_MAX; i++)
        send_each(&t->gens[i], (struct ipc_msg){.type = IPC_LOG_FD, .value = IPC_LOG_ERROR}, fd,
                  "reopen: cannot hand the error log to");
}

/* The watchdog over g's ready workers (master/watchdog.h). */
int64_t
gen_watchdog(const struct gen_table *t, struct gen *g, int64_t now)
{
    int64_t limit = g->cfg->worker_watchdog_ms;
    if (limit == 0)
        return INT64_MAX;
    int64_t next = watchdog_next_look(now, limit);
    for (int s = 0; s < CFG_MAX_WORKERS; s++) {
        struct proc *p = &g->procs[s];
        if (!p->pid || !p->ready)
            continue;
        int64_t at = watchdog_check(s, p->pid, shm_worker(t->shm, gen_column(t, g, s)),
                                    &p->watchdog_kill_at, now, limit);
        if (at < next)
            next = at;
    }
    return next;
}

/* ---- The access log ---- */

/* As the error log's (common/log.c): O_NOFOLLOW, so a link planted in a writable log directory
 * cannot make a root master append to the file it points at. */
static int
access_log_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644);
}

static void
access_log_error(const struct cfg *cfg, int errnum, char *err, size_t errlen)
{
    char at[CFG_PATH_MAX + 16]; /* "FILE:LINE", as every config error names it */
    if (cfg->access_log_line > 0 && cfg->file[0])
        snprintf(at, sizeof(at), "%s:%d", cfg->file, cfg->access_log_line);
    else
        snprintf(at, sizeof(at), "%s", cfg->file[0] ? cfg->file : "built-in defaults");
    if (errnum == ELOOP)
        snprintf(err, errlen,
                 "%s: access_log: '%s' is a symbolic link; sluice does not write through links "
                 "(name the file itself)",
                 at, cfg->access_log);
    else
        snprintf(err, errlen, "%s: access_log: cannot open '%s': %s", at, cfg->access_log,
                 strerror(errnum));
}

int
gen_access_log_open(const struct cfg *cfg, int *fd, char *err, size_t errlen)
{
    *fd = -1;
    if (cfg->access_log[0] == '\0')
        return 0;
    if (strcmp(cfg->access_log, "stdout") == 0)
        *fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    else
        *fd = access_log_file(cfg->access_log);
    if (*fd >= 0)
        return 0;
    int saved = errno;
    access_log_error(cfg, saved, err, errlen);
    errno = saved;
    return -1;
}

void
gen_reopen_access_log(struct gen *g)
{
    char err[CFG_PATH_MAX * 2 + 128];
    if (g->access_log_fd < 0 || strcmp(g->cfg->access_log, "stdout") == 0)
        return;
    int fd = access_log_file(g->cfg->access_log);
    if (fd < 0) {
        access_log_error(g->cfg, errno, err, sizeof(err));
        log_warnx("reopen: %s; generation %u's workers keep the old file", err, g->id);
        return;
    }
    send_each(g, (struct ipc_msg){.type = IPC_LOG_FD, .value = IPC_LOG_ACCESS}, fd,
              "reopen: cannot hand the new access log (it keeps the old file) to");
    close(g->access_log_fd);
    g->access_log_fd = fd; /* a worker forked from now on starts on the new file */
}
