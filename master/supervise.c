/* Generations of workers (see supervise.h): spawning, reaping and respawning with back-off,
 * lending the sockets of a slot without a serving worker, reload, TTIN/TTOU, the watchdog and
 * the kill deadlines. All of it is this file's state: `sv` below; forking a worker and the
 * status lines are in gen.c, which reads the table through sv.table. */
#include "master/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/sdnotify.h"
#include "common/shm.h"
#include "master/exitlog.h"
#include "master/gen.h"
#include "master/lend.h"
#include "master/listen.h"
#include "master/mstatus.h"
#include "master/relay.h"

static struct {
    struct gen gens[GEN_MAX];
    struct gen_table table; /* what gen.c reads of the above */
    unsigned next_gen_id;
    struct shm *shm;
    const char *cfg_path;
    struct supervise_events ev;
    bool stopping;
    int64_t stop_kill_at;
    bool started;             /* the first generation has been ready */
    bool reload_pending;      /* a reload waits for a cut-short generation to exit */
    struct cfg *checking_cfg; /* a reload waiting for its module check (modcheck.h) */
    struct tls_set *checking_tls;
    bool winched;                 /* WINCH: workers stopped for the new master; none respawned */
    char port_path[CFG_PATH_MAX]; /* the port file last written */
} sv;

static void on_ipc(struct ev_io *io, uint32_t events);

/* ---- small helpers ---- */

static struct gen *
gen_in(enum gen_state state)
{
    for (int i = 0; i < GEN_MAX; i++)
        if (sv.gens[i].state == state)
            return &sv.gens[i];
    return NULL;
}

static void
gen_free(struct gen *g)
{
    listen_release(g->cfg, g->lidx);
    gen_drop(g, on_ipc);
}

/* A new generation on `cfg`, `tls` and `mods` (owned from here on) in `g`, which is free. */
static void
gen_begin(struct gen *g, struct cfg *cfg, struct tls_set *tls, const struct mod_set *mods)
{
    g->state = GEN_STARTING;
    g->cfg = cfg;
    g->tls = tls;
    g->mods = mods ? *mods : (struct mod_set){0};
    g->id = ++sv.next_gen_id;
    memset(g->adopter, -1, sizeof(g->adopter));
}

static void
reload_done(bool ok, const char *text)
{
    if (sv.ev.reload_done)
        sv.ev.reload_done(sv.ev.ctx, ok, text);
}

/* ---- spawning ---- */

/* The port file says where the generation listens (the bound ports of `listen = ...:0`). */
static void
port_file_write(const struct gen *g)
{
    if (listen_write_port_file(g->cfg, g->lidx) == 0)
        snprintf(sv.port_path, sizeof(sv.port_path), "%s", g->cfg->port_file);
}

/* ---- lending ---- */

/* Lend the sockets of g's slots without a serving worker (master/lend.h). */
static void
rebalance(struct gen *g)
{
    if (g == NULL || g->state != GEN_ACTIVE || sv.stopping)
        return;
    struct lend_view v = {
        .generation = g->id,
        .workers = g->cfg->workers,
        .lidx = g->lidx,
        .nlisten = g->cfg->nlisten,
    };
    for (int s = 0; s < CFG_MAX_WORKERS; s++) {
        v.alive[s] = g->procs[s].pid != 0;
        v.serving[s] = proc_serving(&g->procs[s]);
        v.ipc_fd[s] = g->procs[s].io.fd;
    }
    lend_rebalance(g->adopter, &v);
}

/* ---- generations ---- */

static void grant_retirements(void);

/* Tell p to retire gracefully, handing its idle connections over to the serving workers
 * (IPC_RETIRE); a worker whose socket takes no message gets SIGQUIT (retire, closing them). */
static void
retire_proc(struct proc *p)
{
    struct ipc_msg msg = {
        .type = IPC_RETIRE, .slot = (uint32_t)p->slot, .generation = p->gen->id, .value = 1};
    p->retiring = true;
    if (p->pid && ipc_send(p->io.fd, &msg, NULL, 0) < 0)
        kill(p->pid, SIGQUIT);
}

/* Retire g: with `sig` 0 its workers hand their idle connections to the active generation's
 * (a reload), else they get `sig` (SIGQUIT: finish and close; SIGTERM: at once). */
static void
retire(struct gen *g, int sig)
{
    g->state = GEN_RETIRING;
    g->kill_at = clock_mono_ms() + g->cfg->graceful_timeout_ms + 1000;
    if (sig)
        gen_signal(g, sig);
    else
        for (int i = 0; i < CFG_MAX_WORKERS; i++)
            if (g->procs[i].pid)
                retire_proc(&g->procs[i]);
    if (gen_live_procs(g) == 0)
        gen_free(g);
}

static void
gen_promote(struct gen *g)
{
    struct gen *old = gen_in(GEN_ACTIVE);
    g->state = GEN_ACTIVE;
    port_file_write(g);
    if (old) {
        log_notice("generation %u ready (%d workers); generation %u finishing its requests", g->id,
                   g->cfg->workers, old->id);
        retire(old, 0);
    } else {
        log_notice("ready: %d workers", g->cfg->workers);
    }
    sd_notifyf("READY=1\nMAINPID=%d\nSTATUS=generation %u, %d workers", (int)getpid(), g->id,
               g->cfg->workers);
    char text[96];
    snprintf(text, sizeof(text), "generation %u ready (%d workers)", g->id, g->cfg->workers);
    reload_done(true, text);
    if (!sv.started && sv.ev.started)
        sv.ev.started(sv.ev.ctx);
    sv.started = true;
    rebalance(g);
    grant_retirements();
}

/* Workers of the active generation at max_requests that asked to retire (IPC_RETIRING) are
 * told to (with a hand-over) once another worker of it serves and is not retiring, so that
 * their idle connections have somewhere to go: with two workers that reach max_requests
 * together, the second waits until the first one's successor is ready. A lone worker retires
 * at once (its keep-alive connections then close after their next response). */
static void
grant_retirements(void)
{
    struct gen *g = gen_in(GEN_ACTIVE);
    if (g == NULL || sv.stopping || sv.winched)
        return;
    for (int i = 0; i < g->cfg->workers; i++) {
        struct proc *p = &g->procs[i];
        if (!p->pid || !p->retire_asked || p->retiring)
            continue;
        bool other = g->cfg->workers == 1;
        for (int k = 0; k < g->cfg->workers && !other; k++)
            other = k != i && proc_serving(&g->procs[k]) && !g->procs[k].retiring;
        if (other)
            retire_proc(p);
    }
}

static void
on_ipc(struct ev_io *io, uint32_t events)
{
    struct proc *p = (struct proc *)((char *)io - offsetof(struct proc, io));
    static struct ipc_conns rec; /* 2 KB: off the stack */
    static int fds[IPC_CONNS_MAX];
    int nfds;
    (void)events;
    if (p->pid == 0 || io->fd < 0)
        return; /* reaped earlier in this batch */
    int rc = ipc_recv(io->fd, &rec, fds, &nfds);
    if (rc < 0 && errno == EPROTO && rec.msg.type == IPC_HANDOFF) {
        /* Its descriptors did not all arrive (MSG_CTRUNC: the master at RLIMIT_NOFILE): those
         * connections are lost; the credit goes back all the same. */
        struct relay_end from = relay_end_of(p);
        relay_lost(&from, rec.msg.value);
        return;
    }
    if (rc <= 0) {
        /* The worker is exiting; SIGCHLD does the bookkeeping. */
        if (rc == 0 || (errno != EAGAIN && errno != EINTR && errno != EPROTO))
            ev_set(io, 0);
        return;
    }
    const struct ipc_msg msg = rec.msg;
    if (msg.type == IPC_HANDOFF || msg.type == IPC_HANDBACK || msg.type == IPC_TAKEN) {
        relay_message(sv.gens, sv.stopping || sv.winched ? NULL : gen_in(GEN_ACTIVE), p, &rec, fds,
                      nfds);
        return;
    }
    for (int i = 0; i < nfds; i++)
        close(fds[i]); /* no other message from a worker carries any */
    if (msg.type == IPC_RETIRING) {
        p->retire_asked = true;
        grant_retirements();
        return;
    }
    if (msg.type != IPC_READY || p->ready)
        return;
    p->ready = true;
    log_info("worker %d (pid %d) ready", p->slot, (int)p->pid);
    struct gen *g = p->gen;
    if (g->state == GEN_ACTIVE) {
        rebalance(g);
        grant_retirements();
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
supervise_stop(bool graceful)
{
    sv.stopping = true;
    modcheck_cancel();
    int64_t grace = 0;
    for (int i = 0; i < GEN_MAX; i++)
        if (sv.gens[i].state != GEN_FREE) {
            gen_signal(&sv.gens[i], graceful ? SIGQUIT : SIGTERM);
            if (sv.gens[i].cfg->graceful_timeout_ms > grace)
                grace = sv.gens[i].cfg->graceful_timeout_ms;
        }
    sv.stop_kill_at = clock_mono_ms() + (graceful ? grace + 1000 : SUPERVISE_FAST_STOP_KILL_MS);
}

void
supervise_drain(void)
{
    sv.table.draining = true;
    gen_drain(&sv.table);
}

/* A worker of `g` exited before it ever reported ready. */
static void
start_failed(struct gen *g, struct proc *p)
{
    struct gen *active = gen_in(GEN_ACTIVE);
    if (active == NULL) {
        log_errorx("worker %d failed to start; stopping", p->slot);
        if (sv.ev.start_failed)
            sv.ev.start_failed(sv.ev.ctx);
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
    reload_done(false, text);
}

static void
schedule_respawn(struct gen *g, struct proc *p, int64_t now, bool retired)
{
    int s = p->slot;
    int64_t lived = now - p->started_ms;
    g->respawns[s]++;
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

/* ---- reaping ---- */

static struct proc *
proc_of(pid_t pid)
{
    for (int i = 0; i < GEN_MAX; i++)
        for (int j = 0; j < CFG_MAX_WORKERS; j++)
            if (sv.gens[i].procs[j].pid == pid)
                return &sv.gens[i].procs[j];
    return NULL;
}

/* What a worker's exit means for its generation: a retiring one may be gone now (and a reload
 * waiting for it may start), a live slot is respawned, a worker that never got ready fails its
 * generation's start. */
static void
after_exit(struct gen *g, struct proc *p, int status, int64_t now)
{
    if (g->state == GEN_RETIRING) {
        if (gen_live_procs(g) == 0) {
            log_info("generation %u has exited", g->id);
            gen_free(g);
            if (sv.reload_pending && !gen_in(GEN_RETIRING)) {
                sv.reload_pending = false;
                supervise_reload();
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
}

void
supervise_reap(void)
{
    int status;
    pid_t pid;
    int64_t now = clock_mono_ms();

    while ((pid = waitpid(-1, &status, WNOHANG | WUNTRACED | WCONTINUED)) > 0) {
        struct proc *p = proc_of(pid);
        if (p == NULL) {
            if (sv.ev.other_exit && !WIFSTOPPED(status) && !WIFCONTINUED(status))
                sv.ev.other_exit(sv.ev.ctx, pid, status);
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
        bool expected = sv.stopping || g->state == GEN_RETIRING || p->slot >= g->cfg->workers;
        if (expected || exitlog_allowed(now))
            exitlog_line(p, pid, status, expected,
                         shm_worker(sv.shm, gen_column(&sv.table, g, p->slot)));
        if (p->io.events)
            ev_set(&p->io, 0);
        close(p->io.fd);
        p->io.fd = -1;
        p->pid = 0;
        p->stopped = false;
        p->retiring = false;
        p->retire_asked = false;
        shm_ip_clear_column(sv.shm, gen_column(&sv.table, g, p->slot));
        shm_worker(sv.shm, gen_column(&sv.table, g, p->slot))->pid = 0; /* status: gone */
        if (sv.stopping)
            continue;
        after_exit(g, p, status, now);
        rebalance(g);
    }
}

/* ---- reload and scale ---- */

/* At most two generations exist at once: an older one still draining is cut short (TERM, then
 * KILL a second later) and the new generation starts once it is gone, so repeated reloads
 * cannot pile up workers. True when one is draining. */
static bool
cut_draining_short(void)
{
    bool draining = false;
    int64_t now = clock_mono_ms();
    for (int i = 0; i < GEN_MAX; i++)
        if (sv.gens[i].state == GEN_RETIRING) {
            draining = true;
            if (sv.gens[i].kill_at > now + SUPERVISE_CUT_SHORT_KILL_MS) {
                log_notice("reload: cutting generation %u short", sv.gens[i].id);
                gen_signal(&sv.gens[i], SIGTERM);
                sv.gens[i].kill_at = now + SUPERVISE_CUT_SHORT_KILL_MS;
            }
        }
    return draining;
}

/* A reload that will not happen: the serving generation stays. */
static void
reload_refused(const char *why)
{
    const struct gen *active = gen_in(GEN_ACTIVE);
    log_errorx("reload: %s; keeping generation %u", why, active ? active->id : 0);
    reload_done(false, why);
}

/* The new configuration for a reload and its TLS contexts (*tls, NULL without certificates),
 * or NULL (logged, reload_done told): a bad certificate or key refuses the reload and the
 * serving generation stays. */
static struct cfg *
reload_cfg(struct tls_set **tls)
{
    char err[CFG_ERR_MAX];
    struct cfg *cfg = NULL;
    const char *why = NULL;
    if (gen_in(GEN_FREE) == NULL)
        why = "too many generations still draining";
    else if ((cfg = gen_load(sv.cfg_path, tls, err, sizeof(err))) == NULL)
        why = err;
    if (why == NULL)
        return cfg;
    reload_refused(why);
    return NULL;
}

/* What a reload built for a generation that will not start. */
static void
drop_build(struct cfg *cfg, struct tls_set *tls, struct mod_set *mods)
{
    free(cfg);
    tls_set_free(tls);
    mod_set_close(mods);
}

/* Start generation `g` on `cfg`, `tls` and `mods` (owned from here on): its sockets, its
 * logging, its workers. */
static void
reload_start(struct gen *g, struct cfg *cfg, struct tls_set *tls, struct mod_set *mods,
             const struct gen *active)
{
    char err[CFG_ERR_MAX];
    int access_log_fd;
    /* The new generation logs to the access log of its own configuration. */
    if (gen_access_log_open(cfg, &access_log_fd, err, sizeof(err)) < 0) {
        reload_refused(err);
        drop_build(cfg, tls, mods);
        return;
    }
    if (listen_acquire(cfg, g->lidx, err, sizeof(err)) < 0) {
        if (access_log_fd >= 0)
            close(access_log_fd);
        reload_refused(err);
        drop_build(cfg, tls, mods);
        return;
    }
    if (strcmp(cfg->error_log, active ? active->cfg->error_log : "") != 0 &&
        log_open(cfg->error_log, err, sizeof(err)) < 0)
        log_errorx("reload: %s; logging stays where it was", err);
    log_set_level(cfg->log_level);
    gen_begin(g, cfg, tls, mods);
    g->access_log_fd = access_log_fd;
    log_notice("reload: starting generation %u", g->id);
    sv.winched = false;
    sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading to generation %u",
               (unsigned long long)clock_mono_us(), g->id);
    for (int s = 0; s < cfg->workers; s++)
        if (gen_spawn(&sv.table, g, s) < 0) {
            log_errorx("reload failed: cannot start worker %d", s);
            reload_done(false, "cannot start a worker (see the error log)");
            retire(g, SIGTERM);
            return;
        }
}

/* The configuration is read and its modules checked: start the new generation now, or once
 * the draining one has exited. */
static void
reload_go(struct cfg *cfg, struct tls_set *tls, struct mod_set *mods)
{
    if (cut_draining_short()) {
        log_notice("reload: the new generation starts once the draining one has exited");
        sv.reload_pending = true;
        drop_build(cfg, tls, mods);
        return;
    }
    reload_start(gen_in(GEN_FREE), cfg, tls, mods, gen_in(GEN_ACTIVE));
}

/* The reload's module check is over (modcheck_start). */
static void
reload_checked(void *arg, struct mod_set *mods, const char *err)
{
    struct cfg *cfg = sv.checking_cfg;
    struct tls_set *tls = sv.checking_tls;
    (void)arg;
    sv.checking_cfg = NULL;
    sv.checking_tls = NULL;
    if (mods && !sv.stopping) {
        reload_go(cfg, tls, mods);
        return;
    }
    reload_refused(err ? err : "stopping");
    drop_build(cfg, tls, mods);
}

void
supervise_reload(void)
{
    struct tls_set *tls;
    char err[CFG_ERR_MAX];
    if (gen_in(GEN_STARTING) || modcheck_busy()) {
        log_warnx("reload: a reload is already in progress; ignored");
        reload_done(false, "a reload is already in progress");
        return;
    }
    struct cfg *cfg = reload_cfg(&tls);
    if (cfg == NULL)
        return;
    if (cfg->napps == 0) {
        reload_go(cfg, tls, NULL);
        return;
    }
    /* The modules are checked by a child, on the loop: the master goes on serving meanwhile. */
    sv.checking_cfg = cfg;
    sv.checking_tls = tls;
    if (modcheck_start(cfg, reload_checked, NULL, err, sizeof(err)) < 0)
        reload_checked(NULL, NULL, err);
}

static void
scale_up(struct gen *g)
{
    char err[CFG_ERR_MAX];
    int n = g->cfg->workers;
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
    gen_spawn(&sv.table, g, n);
}

/* A removed slot's sockets stay open and go on loan to a sibling, so what the kernel queued on
 * them is still served. */
void
supervise_scale(int delta)
{
    struct gen *g = gen_in(GEN_ACTIVE);
    if (g == NULL || gen_in(GEN_STARTING) || sv.stopping) {
        log_warnx("%s ignored: no settled generation", delta > 0 ? "TTIN" : "TTOU");
        return;
    }
    if (delta > 0) {
        scale_up(g);
        return;
    }
    int n = g->cfg->workers;
    if (n == 1) {
        log_warnx("TTOU ignored: at 1 worker");
        return;
    }
    g->cfg->workers = n - 1;
    g->respawn_at[n - 1] = 0;
    log_notice("TTOU: %d workers", n - 1);
    if (g->procs[n - 1].pid)
        retire_proc(&g->procs[n - 1]);
    g->procs[n - 1].ready = false;
    rebalance(g);
}

int
supervise_winch(void)
{
    int n = 0;
    sv.winched = true;
    for (int i = 0; i < GEN_MAX; i++)
        if (sv.gens[i].state == GEN_ACTIVE || sv.gens[i].state == GEN_STARTING) {
            retire(&sv.gens[i], SIGQUIT);
            n++;
        }
    return n;
}

bool
supervise_winched(void)
{
    return sv.winched;
}

/* ---- deadlines ---- */

/* A live generation's deadlines: due respawns and the watchdog. */
static int64_t
tick_live(struct gen *g, int64_t now)
{
    if (sv.stopping)
        return INT64_MAX;
    int64_t next = gen_watchdog(&sv.table, g, now);
    for (int s = 0; s < g->cfg->workers && !sv.stopping; s++) {
        if (g->respawn_at[s] == 0)
            continue;
        if (now >= g->respawn_at[s]) {
            g->respawn_at[s] = 0;
            gen_spawn(&sv.table, g, s);
        } else if (g->respawn_at[s] < next) {
            next = g->respawn_at[s];
        }
    }
    return next;
}

/* A retiring generation past its grace: kill what is left. */
static int64_t
tick_retiring(struct gen *g, int64_t now)
{
    if (now >= g->kill_at) {
        log_warnx("generation %u: %d workers still busy after graceful_timeout; killed", g->id,
                  gen_live_procs(g));
        gen_signal(g, SIGKILL);
        g->kill_at = INT64_MAX;
    }
    return g->kill_at;
}

/* A stop past its limit: kill every worker left. */
static int64_t
tick_stop(int64_t now)
{
    if (!sv.stopping)
        return INT64_MAX;
    if (now >= sv.stop_kill_at) {
        log_warnx("%d workers did not stop in time; killed", supervise_live());
        for (int i = 0; i < GEN_MAX; i++)
            gen_signal(&sv.gens[i], SIGKILL);
        sv.stop_kill_at = INT64_MAX;
    }
    return sv.stop_kill_at;
}

int64_t
supervise_tick(int64_t now)
{
    /* A burst of exits followed by silence still gets its summary line when its window ends. */
    int64_t next = exitlog_flush(now);
    for (int i = 0; i < GEN_MAX; i++) {
        struct gen *g = &sv.gens[i];
        int64_t at = INT64_MAX;
        if (g->state == GEN_RETIRING)
            at = tick_retiring(g, now);
        else if (g->state == GEN_ACTIVE || g->state == GEN_STARTING)
            at = tick_live(g, now);
        if (at < next)
            next = at;
    }
    int64_t at = tick_stop(now);
    return at < next ? at : next;
}

/* ---- the rest of the API ---- */

int
supervise_init(const char *cfg_path, const struct supervise_events *events)
{
    for (int i = 0; i < GEN_MAX; i++)
        gen_reset(&sv.gens[i], on_ipc);
    sv.cfg_path = cfg_path;
    sv.ev = *events;
    if ((sv.shm = shm_create()) == NULL) {
        log_error("creating the shared memory region");
        return -1;
    }
    sv.table = (struct gen_table){.gens = sv.gens,
                                  .shm = sv.shm,
                                  .on_ipc = on_ipc,
                                  .child_setup = sv.ev.child_setup,
                                  .ctx = sv.ev.ctx};
    return 0;
}

int
supervise_start(struct cfg *cfg, struct tls_set *tls, const struct mod_set *mods, const int *lidx,
                int access_log_fd)
{
    struct gen *g = &sv.gens[0];
    gen_begin(g, cfg, tls, mods);
    g->access_log_fd = access_log_fd;
    memcpy(g->lidx, lidx, sizeof(int) * (size_t)cfg->nlisten);
    for (int s = 0; s < cfg->workers; s++)
        if (gen_spawn(&sv.table, g, s) < 0)
            return -1;
    return 0;
}

int
supervise_live(void)
{
    int n = 0;
    for (int i = 0; i < GEN_MAX; i++)
        n += gen_live_procs(&sv.gens[i]);
    return n;
}

void
supervise_hand_log(int fd)
{
    gen_hand_log(&sv.table, fd);
}

void
supervise_reopen_access_logs(void)
{
    for (int i = 0; i < GEN_MAX; i++)
        if (sv.gens[i].state != GEN_FREE)
            gen_reopen_access_log(&sv.gens[i]);
}

void
supervise_status(char *buf, size_t len, bool json, bool stopping)
{
    struct mstatus_master m = {.pid = (int)getpid(), .stopping = stopping};
    if (json)
        mstatus_json(&sv.table, &m, buf, len, clock_mono_ms());
    else
        mstatus_text(&sv.table, &m, buf, len, clock_mono_ms());
}

const struct cfg *
supervise_cfg(void)
{
    const struct gen *g = gen_in(GEN_ACTIVE);
    if (g == NULL)
        g = gen_in(GEN_RETIRING);
    return g ? g->cfg : NULL;
}

void
supervise_write_port_file(void)
{
    const struct gen *g = gen_in(GEN_ACTIVE);
    if (g)
        port_file_write(g);
}

void
supervise_fini(bool keep_files)
{
    if (!keep_files && sv.port_path[0])
        unlink(sv.port_path);
    for (int i = 0; i < GEN_MAX; i++)
        gen_drop(&sv.gens[i], on_ipc);
}
