/* Generations of workers: spawning, reaping and respawning with back-off, lending the sockets
 * of a slot without a serving worker, reload, TTIN/TTOU, and the watchdog. */
#include "master/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/sdnotify.h"
#include "master/control.h"
#include "master/listen.h"
#include "worker/worker.h"

/* A worker process's column in the shared region: its generation slot and worker slot. */
int
shm_column(const struct gen *g, int slot)
{
    return (int)(g - m.gens) * CFG_MAX_WORKERS + slot;
}

int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
live_procs(const struct gen *g)
{
    int n = 0;
    for (int i = 0; i < CFG_MAX_WORKERS; i++)
        n += g->procs[i].pid != 0;
    return n;
}

void
signal_gen(struct gen *g, int sig)
{
    for (int i = 0; i < CFG_MAX_WORKERS; i++)
        if (g->procs[i].pid)
            kill(g->procs[i].pid, sig);
}

struct gen *
gen_in(enum gen_state state)
{
    for (int i = 0; i < MAX_GENS; i++)
        if (m.gens[i].state == state)
            return &m.gens[i];
    return NULL;
}

/* In the child: close every descriptor that belongs to the master or to other workers, so that
 * the pid file lock ends with the master and a socket the master closes really closes. The
 * error log's descriptor stays: it is the master's current file (a reopen dup2's over the same
 * number), so a new worker starts on it; later reopens reach it as IPC_LOG_FD. */
static void
child_close_fds(const struct gen *g, int slot, struct worker_args *args)
{
    control_close(false);
    close(m.epfd);
    close(m.sigfd);
    close(m.pid_fd);
    if (m.notify_fd >= 0)
        close(m.notify_fd);
    for (int i = 0; i < MAX_GENS; i++)
        for (int j = 0; j < CFG_MAX_WORKERS; j++)
            if (m.gens[i].procs[j].pid && m.gens[i].procs[j].ipc_fd >= 0)
                close(m.gens[i].procs[j].ipc_fd);
    args->nlisten = 0;
    for (int k = 0; k < g->cfg->nlisten; k++) {
        bool shared;
        int fd = listen_fd_for(g->lidx[k], slot, &shared);
        args->listen_fds[args->nlisten] = fd;
        args->listen_shared[args->nlisten++] = shared;
    }
    for (int j = 0; j < LISTEN_MAX_GROUPS; j++) {
        const struct listen_group *lg = &listen_groups[j];
        for (int f = 0; lg->used && f < lg->nfds; f++) {
            bool mine = false;
            for (int k = 0; k < args->nlisten; k++)
                mine |= args->listen_fds[k] == lg->fds[f];
            if (!mine)
                close(lg->fds[f]);
        }
    }
}

int
spawn(struct gen *g, int slot)
{
    int sv[2];
    struct proc *p = &g->procs[slot];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("socketpair for worker %d", slot);
        return -1;
    }
    pid_t master_pid = getpid();
    /* The child fills its slot in the shared region itself; the watchdog only looks at workers
     * that reported ready, by then their pid is there. */
    *shm_worker(m.shm, shm_column(g, slot)) = (struct shm_worker){.pid = 0};
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork of worker %d", slot);
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        struct worker_args args = {
            .cfg = g->cfg,
            .slot = slot,
            .generation = g->id,
            .ipc_fd = sv[1],
            .master_pid = master_pid,
            .shm = m.shm,
            .shm_column = shm_column(g, slot),
        };
        close(sv[0]);
        child_close_fds(g, slot, &args);
        worker_main(&args);
    }
    close(sv[1]);
    *p = (struct proc){.pid = pid, .ipc_fd = sv[0], .started_ms = now_ms(), .gen = g, .slot = slot};

    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
    if (epoll_ctl(m.epfd, EPOLL_CTL_ADD, sv[0], &ev) < 0)
        log_error("epoll_ctl for worker %d", slot);
    log_info("worker %d (pid %d) started, generation %u", slot, (int)pid, g->id);
    return 0;
}

/* The port file is written at a fresh mkstemp name in its directory (O_EXCL: a link planted at
 * a predictable temp name is never followed) and renamed into place, which replaces whatever is
 * at the path, a link included, without touching what a link points at. The rename also makes
 * it appear complete or not at all: readers poll for it. */
void
write_port_file(const struct gen *g)
{
    char tmp[CFG_PATH_MAX + 16], text[CFG_MAX_LISTEN * 136];
    size_t len = 0;
    for (int i = 0; i < g->cfg->nlisten; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n",
                                listen_groups[g->lidx[i]].bound.text);
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", g->cfg->port_file);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        log_error("writing port file '%s': creating a temp file beside it", g->cfg->port_file);
        return;
    }
    bool ok = fchmod(fd, 0644) == 0 && write(fd, text, len) == (ssize_t)len;
    if (close(fd) != 0 || !ok || rename(tmp, g->cfg->port_file) < 0) {
        log_error("writing port file '%s'", g->cfg->port_file);
        unlink(tmp);
        return;
    }
    snprintf(m.port_path, sizeof(m.port_path), "%s", g->cfg->port_file);
}

static void
gen_free(struct gen *g)
{
    listen_release(g->cfg, g->lidx);
    free(g->cfg);
    memset(g, 0, sizeof(*g));
}

static bool
serving(const struct proc *p)
{
    return p->pid && p->ready && !p->stopped;
}

/* Lend every per-slot socket without a serving worker of its own to a serving sibling, and take
 * back those whose worker is serving again. The kernel keeps hashing new connections to every
 * socket of a SO_REUSEPORT group; a socket nobody accepts on would strand them (and closing it
 * would reset its queue, as net.ipv4.tcp_migrate_req is off on many hosts). */
void
rebalance(struct gen *g)
{
    int nsock = 0;
    if (g == NULL || g->state != GEN_ACTIVE || m.stopping)
        return;
    for (int k = 0; k < g->cfg->nlisten; k++)
        if (listen_slots(g->lidx[k]) > nsock)
            nsock = listen_slots(g->lidx[k]);
    for (int s = 0; s < nsock && s < CFG_MAX_WORKERS; s++) {
        int a = g->adopter[s];
        if (s < g->cfg->workers && serving(&g->procs[s])) {
            if (a >= 0 && g->procs[a].pid) {
                struct ipc_msg msg = {
                    .type = IPC_RELEASE, .slot = (uint32_t)s, .generation = g->id};
                ipc_send(g->procs[a].ipc_fd, &msg, NULL, 0);
            }
            g->adopter[s] = -1;
            continue;
        }
        if (a >= 0 && serving(&g->procs[a]))
            continue;
        /* The serving worker with the fewest sockets on loan takes it. */
        int best = -1, best_load = 0;
        for (int j = 0; j < g->cfg->workers; j++) {
            if (!serving(&g->procs[j]))
                continue;
            int load = 0;
            for (int t = 0; t < nsock && t < CFG_MAX_WORKERS; t++)
                load += g->adopter[t] == j;
            if (best < 0 || load < best_load) {
                best = j;
                best_load = load;
            }
        }
        g->adopter[s] = -1;
        if (best < 0)
            continue;
        int fds[IPC_MAX_FDS], nfds = 0;
        for (int k = 0; k < g->cfg->nlisten; k++)
            if (listen_slots(g->lidx[k]) > s) {
                bool shared;
                fds[nfds++] = listen_fd_for(g->lidx[k], s, &shared);
            }
        struct ipc_msg msg = {.type = IPC_ADOPT, .slot = (uint32_t)s, .generation = g->id};
        if (nfds && ipc_send(g->procs[best].ipc_fd, &msg, fds, nfds) == 0) {
            g->adopter[s] = best;
            log_info("slot %d has no serving worker; worker %d accepts on its sockets", s, best);
        }
    }
}

void
retire(struct gen *g, int sig)
{
    g->state = GEN_RETIRING;
    g->kill_at = now_ms() + g->cfg->graceful_timeout_ms + 1000;
    signal_gen(g, sig);
    if (live_procs(g) == 0)
        gen_free(g);
}

static void
gen_promote(struct gen *g)
{
    struct gen *old = gen_in(GEN_ACTIVE);
    g->state = GEN_ACTIVE;
    write_port_file(g);
    if (old) {
        log_notice("generation %u ready (%d workers); generation %u finishing its requests", g->id,
                   g->cfg->workers, old->id);
        retire(old, SIGQUIT);
    } else {
        log_notice("ready: %d workers", g->cfg->workers);
    }
    sd_notifyf("READY=1\nMAINPID=%d\nSTATUS=generation %u, %d workers", (int)getpid(), g->id,
               g->cfg->workers);
    char text[96];
    snprintf(text, sizeof(text), "generation %u ready (%d workers)", g->id, g->cfg->workers);
    control_reload_done(true, text);
    if (!m.started && m.notify_fd >= 0) {
        ssize_t rc = write(m.notify_fd, "R", 1);
        (void)rc;
        close(m.notify_fd);
        m.notify_fd = -1;
    }
    m.started = true;
    rebalance(g);
}

void
on_ipc(struct proc *p)
{
    struct ipc_msg msg;
    int fds[IPC_MAX_FDS], nfds;
    int rc = ipc_recv(p->ipc_fd, &msg, fds, &nfds);
    for (int i = 0; i < nfds; i++)
        close(fds[i]); /* workers send none */
    if (rc <= 0) {
        if (rc == 0 || (errno != EAGAIN && errno != EINTR)) {
            /* The worker is exiting; SIGCHLD does the bookkeeping. */
            epoll_ctl(m.epfd, EPOLL_CTL_DEL, p->ipc_fd, NULL);
        }
        return;
    }
    if (msg.type != IPC_READY || p->ready)
        return;
    p->ready = true;
    log_info("worker %d (pid %d) ready", p->slot, (int)p->pid);
    struct gen *g = p->gen;
    if (g->state == GEN_ACTIVE) {
        rebalance(g);
        return;
    }
    if (g->state != GEN_STARTING)
        return;
    for (int i = 0; i < g->cfg->workers; i++)
        if (!g->procs[i].ready)
            return;
    gen_promote(g);
}

void
start_stop(enum stop_mode mode, int status)
{
    if (m.stopping == STOP_FAST || m.stopping == mode)
        return;
    m.stopping = mode;
    m.exit_status = status;
    int64_t grace = 0;
    for (int i = 0; i < MAX_GENS; i++)
        if (m.gens[i].state != GEN_FREE) {
            signal_gen(&m.gens[i], mode == STOP_FAST ? SIGTERM : SIGQUIT);
            if (m.gens[i].cfg->graceful_timeout_ms > grace)
                grace = m.gens[i].cfg->graceful_timeout_ms;
        }
    m.stop_kill_at = now_ms() + (mode == STOP_FAST ? FAST_STOP_KILL_MS : grace + 1000);
    log_notice("%s stop", mode == STOP_FAST ? "fast" : "graceful");
    /* After an upgrade the service goes on in the new master; a new master stopping while the
     * old one still runs is a rollback: neither ends the service. */
    bool service_goes_on = m.upgraded || (m.from_upgrade && getppid() == m.parent_master);
    if (!service_goes_on)
        sd_notifyf("STOPPING=1\nSTATUS=%s stop", mode == STOP_FAST ? "fast" : "graceful");
}

/* A worker of `g` exited before it ever reported ready. */
static void
start_failed(struct gen *g, struct proc *p)
{
    struct gen *active = gen_in(GEN_ACTIVE);
    if (active == NULL) {
        log_errorx("worker %d failed to start; stopping", p->slot);
        start_stop(STOP_FAST, 1);
        return;
    }
    log_errorx("reload failed: worker %d of generation %u exited before it was ready; "
               "generation %u keeps serving",
               p->slot, g->id, active->id);
    retire(g, SIGTERM);
    sd_notifyf("READY=1\nSTATUS=reload failed; generation %u serving", active->id);
    char text[160];
    snprintf(text, sizeof(text),
             "reload failed: worker %d of generation %u exited before it was ready; generation "
             "%u keeps serving",
             p->slot, g->id, active->id);
    control_reload_done(false, text);
}

static void
schedule_respawn(struct gen *g, struct proc *p, int64_t now, bool retired)
{
    int s = p->slot;
    int64_t lived = now - p->started_ms;
    if (retired) {
        /* Exit status 0 from a serving worker: it retired (max_requests), no crash. */
        g->respawn_at[s] = now;
        return;
    }
    struct backoff_step step = backoff_next(g->backoff_ms[s], lived);
    g->backoff_ms[s] = step.level_ms;
    g->respawn_at[s] = now + step.delay_ms;
    if (step.delay_ms > 0) {
        log_warnx("worker %d died %lld ms after it started; respawning in %lld ms "
                  "(degraded: its sockets are lent to a sibling meanwhile)",
                  s, (long long)lived, (long long)step.delay_ms);
        sd_notifyf("STATUS=degraded: worker %d backing off for %lld ms", s,
                   (long long)step.delay_ms);
    }
}

/* Unexpected worker exits are logged at most EXIT_LOG_BURST times per EXIT_LOG_WINDOW_MS; the
 * rest are counted and summed up in one line when the window ends (from run_timers), so a crash
 * loop cannot fill the disk. */
#define EXIT_LOG_BURST 10
#define EXIT_LOG_WINDOW_MS 10000

static struct {
    int64_t window_start;
    int logged, suppressed;
} exit_log;

/* The window is over: say how many exits went unlogged in it. Returns when to look again. */
static int64_t
exit_log_flush(int64_t now)
{
    int64_t end = exit_log.window_start + EXIT_LOG_WINDOW_MS;
    if (exit_log.suppressed == 0)
        return INT64_MAX;
    if (now < end)
        return end;
    log_errorx("%d more worker exits in the last %d s were not logged", exit_log.suppressed,
               EXIT_LOG_WINDOW_MS / 1000);
    exit_log.suppressed = 0;
    return INT64_MAX;
}

static bool
exit_log_allowed(int64_t now)
{
    if (now - exit_log.window_start >= EXIT_LOG_WINDOW_MS) {
        exit_log_flush(now);
        exit_log.window_start = now;
        exit_log.logged = 0;
    }
    if (exit_log.logged < EXIT_LOG_BURST) {
        exit_log.logged++;
        return true;
    }
    exit_log.suppressed++;
    return false;
}

void
reap(void)
{
    int status;
    pid_t pid;
    int64_t now = now_ms();

    while ((pid = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED)) > 0) {
        struct proc *p = NULL;
        for (int i = 0; i < MAX_GENS && !p; i++)
            for (int j = 0; j < CFG_MAX_WORKERS && !p; j++)
                if (m.gens[i].procs[j].pid == pid)
                    p = &m.gens[i].procs[j];
        if (p == NULL) {
            if (pid == m.upgrade_pid)
                upgrade_child_exited(status);
            continue;
        }
        struct gen *g = p->gen;
        if (WIFSTOPPED(status) || WIFCONTINUED(status)) {
            /* A stopped worker accepts nothing: its sockets go on loan until it runs again. */
            p->stopped = WIFSTOPPED(status);
            log_warnx("worker %d (pid %d) %s", p->slot, (int)pid,
                      p->stopped ? "stopped; its sockets are lent to a sibling" : "continued");
            rebalance(g);
            continue;
        }
        bool expected = m.stopping || g->state == GEN_RETIRING || p->slot >= g->cfg->workers;
        if (!expected && !exit_log_allowed(now))
            ; /* counted, summarised later */
        else if (WIFSIGNALED(status))
            LOG_AT(expected ? LOG_LVL_NOTICE : LOG_LVL_ERROR, 0,
                   "worker %d (pid %d, generation %u) killed by signal %d%s", p->slot, (int)pid,
                   g->id, WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
        else
            LOG_AT(WEXITSTATUS(status) != 0 ? LOG_LVL_ERROR
                   : expected               ? LOG_LVL_INFO
                                            : LOG_LVL_NOTICE,
                   0, "worker %d (pid %d, generation %u) exited with status %d", p->slot, (int)pid,
                   g->id, WEXITSTATUS(status));
        close(p->ipc_fd);
        p->pid = 0;
        p->ipc_fd = -1;
        p->stopped = false;
        shm_ip_clear_column(m.shm, shm_column(g, p->slot));
        if (m.stopping)
            continue;
        if (g->state == GEN_RETIRING) {
            if (live_procs(g) == 0) {
                log_info("generation %u has exited", g->id);
                gen_free(g);
                if (m.reload_pending && !gen_in(GEN_RETIRING)) {
                    m.reload_pending = false;
                    reload();
                }
            }
        } else if (p->slot >= g->cfg->workers) {
            p->ready = false; /* a slot removed by TTOU (or a smaller reload) */
        } else if (!p->ready) {
            start_failed(g, p);
        } else {
            p->ready = false;
            schedule_respawn(g, p, now, WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        rebalance(g);
    }
}

void
reload(void)
{
    char err[CFG_ERR_MAX];
    struct gen *active = gen_in(GEN_ACTIVE);

    if (gen_in(GEN_STARTING)) {
        log_warnx("reload: a reload is already in progress; ignored");
        control_reload_done(false, "a reload is already in progress");
        return;
    }
    struct gen *g = gen_in(GEN_FREE);
    struct cfg *cfg = malloc(sizeof(*cfg));
    if (cfg == NULL || g == NULL) {
        log_errorx("reload: %s; keeping generation %u",
                   cfg ? "too many generations still draining" : "out of memory",
                   active ? active->id : 0);
        control_reload_done(false, cfg ? "too many generations still draining" : "out of memory");
        free(cfg);
        return;
    }
    if (cfg_load(cfg, m.cfg_path, err, sizeof(err)) < 0) {
        log_errorx("reload: %s; keeping generation %u", err, active ? active->id : 0);
        control_reload_done(false, err);
        free(cfg);
        return;
    }
    /* At most two generations exist at once: an older one still draining is cut short (TERM,
     * then KILL a second later) and the new generation starts once it is gone, so repeated
     * reloads cannot pile up workers. */
    bool draining = false;
    for (int i = 0; i < MAX_GENS; i++)
        if (m.gens[i].state == GEN_RETIRING) {
            draining = true;
            if (m.gens[i].kill_at > now_ms() + CUT_SHORT_KILL_MS) {
                log_notice("reload: cutting generation %u short", m.gens[i].id);
                signal_gen(&m.gens[i], SIGTERM);
                m.gens[i].kill_at = now_ms() + CUT_SHORT_KILL_MS;
            }
        }
    if (draining) {
        log_notice("reload: the new generation starts once the draining one has exited");
        m.reload_pending = true;
        free(cfg);
        return;
    }
    memset(g, 0, sizeof(*g));
    if (listen_acquire(cfg, g->lidx, err, sizeof(err)) < 0) {
        log_errorx("reload: %s; keeping generation %u", err, active ? active->id : 0);
        control_reload_done(false, err);
        free(cfg);
        return;
    }
    if (strcmp(cfg->error_log, active ? active->cfg->error_log : "") != 0 &&
        log_open(cfg->error_log, err, sizeof(err)) < 0)
        log_errorx("reload: %s; logging stays where it was", err);
    log_set_level(cfg->log_level);
    g->state = GEN_STARTING;
    g->cfg = cfg;
    g->id = ++m.next_gen_id;
    memset(g->adopter, -1, sizeof(g->adopter));
    log_notice("reload: starting generation %u", g->id);
    m.winched = false;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading to generation %u",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000,
               g->id);
    for (int s = 0; s < cfg->workers; s++)
        if (spawn(g, s) < 0) {
            log_errorx("reload failed: cannot start worker %d", s);
            control_reload_done(false, "cannot start a worker (see the error log)");
            retire(g, SIGTERM);
            return;
        }
}

/* TTIN/TTOU: one worker more or fewer in the active generation. A removed slot's sockets stay
 * open and go on loan to a sibling, so what the kernel queued on them is still served. */
void
scale(int delta)
{
    char err[CFG_ERR_MAX];
    struct gen *g = gen_in(GEN_ACTIVE);
    if (g == NULL || gen_in(GEN_STARTING) || m.stopping) {
        log_warnx("%s ignored: no settled generation", delta > 0 ? "TTIN" : "TTOU");
        return;
    }
    int n = g->cfg->workers;
    if (delta > 0) {
        if (n == CFG_MAX_WORKERS || g->procs[n].pid) {
            log_warnx("TTIN ignored: %s",
                      n == CFG_MAX_WORKERS ? "at 64 workers" : "that slot is still draining");
            return;
        }
        for (int k = 0; k < g->cfg->nlisten; k++)
            if (listen_grow(g->lidx[k], n + 1, g->cfg->backlog, err, sizeof(err)) < 0) {
                log_errorx("TTIN failed: %s", err);
                return;
            }
        g->cfg->workers = n + 1;
        g->backoff_ms[n] = g->respawn_at[n] = 0;
        log_notice("TTIN: %d workers", n + 1);
        spawn(g, n);
        return;
    }
    if (n == 1) {
        log_warnx("TTOU ignored: at 1 worker");
        return;
    }
    g->cfg->workers = n - 1;
    g->respawn_at[n - 1] = 0;
    log_notice("TTOU: %d workers", n - 1);
    if (g->procs[n - 1].pid)
        kill(g->procs[n - 1].pid, SIGQUIT);
    g->procs[n - 1].ready = false;
    rebalance(g);
}

/* worker_watchdog: a worker whose loop has not turned (its heartbeat in the shared region) for
 * that long is hung: log what it was doing, SIGABRT it for a core or a backtrace, SIGKILL it a
 * second later. It is then respawned like any crashed worker. */
static int64_t
watchdog(struct gen *g, int64_t now)
{
    int64_t limit = g->cfg->worker_watchdog_ms;
    int64_t next = INT64_MAX;
    if (limit == 0)
        return next;
    for (int s = 0; s < CFG_MAX_WORKERS; s++) {
        struct proc *p = &g->procs[s];
        if (!p->pid || !p->ready)
            continue;
        if (p->watchdog_kill_at) {
            if (now >= p->watchdog_kill_at) {
                kill(p->pid, SIGKILL);
                p->watchdog_kill_at = INT64_MAX; /* nothing more until it is reaped */
            } else if (p->watchdog_kill_at < next) {
                next = p->watchdog_kill_at;
            }
            continue;
        }
        const struct shm_worker *w = shm_worker(m.shm, shm_column(g, s));
        int64_t silent = now - w->heartbeat_ms;
        if (w->pid == p->pid && silent > limit) {
            log_errorx("worker %d (pid %d) has not turned its loop for %lld ms (last: %s); "
                       "aborting it",
                       s, (int)p->pid, (long long)silent, shm_worker_state_name(w->state));
            kill(p->pid, SIGABRT);
            p->watchdog_kill_at = now + 1000;
            if (p->watchdog_kill_at < next)
                next = p->watchdog_kill_at;
        }
    }
    /* Look again within a quarter of the limit. */
    int64_t again = now + (limit / 4 > 250 ? limit / 4 : 250);
    return again < next ? again : next;
}

/* Deadlines: due respawns, retiring generations past their grace, a stop past its limit, the
 * watchdog's next look. */
int64_t
run_timers(int64_t now)
{
    /* A burst of exits followed by silence still gets its summary line when its window ends. */
    int64_t next = exit_log_flush(now);
    for (int i = 0; i < MAX_GENS; i++) {
        struct gen *g = &m.gens[i];
        if (g->state == GEN_RETIRING) {
            if (now >= g->kill_at) {
                log_warnx("generation %u: %d workers still busy after graceful_timeout; killed",
                          g->id, live_procs(g));
                signal_gen(g, SIGKILL);
                g->kill_at = INT64_MAX;
            }
            if (g->kill_at < next)
                next = g->kill_at;
            continue;
        }
        if (g->state != GEN_ACTIVE && g->state != GEN_STARTING)
            continue;
        if (!m.stopping) {
            int64_t w = watchdog(g, now);
            if (w < next)
                next = w;
        }
        for (int s = 0; s < g->cfg->workers && !m.stopping; s++) {
            if (g->respawn_at[s] == 0)
                continue;
            if (now >= g->respawn_at[s]) {
                g->respawn_at[s] = 0;
                spawn(g, s);
            } else if (g->respawn_at[s] < next) {
                next = g->respawn_at[s];
            }
        }
    }
    if (m.stopping) {
        if (now >= m.stop_kill_at) {
            int left = 0;
            for (int i = 0; i < MAX_GENS; i++)
                left += live_procs(&m.gens[i]);
            log_warnx("%d workers did not stop in time; killed", left);
            for (int i = 0; i < MAX_GENS; i++)
                signal_gen(&m.gens[i], SIGKILL);
            m.stop_kill_at = INT64_MAX;
        }
        if (m.stop_kill_at < next)
            next = m.stop_kill_at;
    }
    return next;
}
