/* A worker process: one epoll loop that accepts, reads, parses and sends (see worker.h). */
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/ev.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/privs.h"
#include "common/proctitle.h"
#include "worker/accesslog.h"
#include "worker/app.h"
#include "worker/bufpool.h"
#include "worker/conn.h"
#include "worker/handover.h"
#include "worker/health.h"
#include "worker/ofc.h"
#include "worker/req.h"
#include "worker/resp.h"
#include "worker/route.h"
#include "worker/static.h"
#include "worker/status.h"
#include "worker/tls.h"
#include "worker/transports.h"

#define ACCEPT_BATCH 64       /* accepts per readiness event, so reading is not starved */
#define ACCEPT_BACKOFF_MS 100 /* pause after EMFILE/ENFILE, instead of spinning on them */
#define FIGURES_MS 1000       /* the heartbeat's figures (shm.h) are refreshed this often */

/* What this worker process runs with, set once by setup. */
static struct {
    const struct cfg *cfg;
    struct shm *shm;          /* instance-wide shared region */
    int shm_column;           /* this process's column in it */
    struct shm_worker *stats; /* this process's figures in it (heartbeat, state, counters) */
    bool quitting;            /* retiring: no new connections */
    uint64_t retire_after;    /* max_requests plus jitter; 0 = never */
    int64_t retire_asked_ms;  /* when this worker asked the master to retire it; 0 = not yet */
} worker;

struct listener {
    struct ev_io io;            /* first: on_accept gets it; io.fd -1: unused entry */
    bool shared;                /* every worker watches it: EPOLLEXCLUSIVE wakes just one */
    int adopted_slot;           /* -1: this worker's own socket; else the slot it stands in for */
    const struct transport *tp; /* chosen from its listen line's flags */
    int line;                   /* index of its listen line */
};

/* Entries never move (epoll holds pointers to them); a released entry is reused. */
#define LISTENERS_MAX (CFG_MAX_LISTEN * CFG_MAX_WORKERS)
static struct listener listeners[LISTENERS_MAX];
static int nlisteners;             /* entries in use or used before: the scan bound */
static bool accepting;             /* listeners are in epoll */
static int64_t accept_resume_ms;   /* EMFILE back-off ends, 0 = none */
static int64_t quit_deadline_ms;   /* graceful stop gives up here */
static int64_t last_emfile_log_ms; /* rate limit for the EMFILE line */
static struct ev_io sig_io, ipc_io, ofc_io;
static bool stop_now;
static uint64_t turn_start_us; /* this loop turn woke up here (0: not yet) */
static uint32_t turn_max_us;   /* the longest turn since the figures were last published */
static int64_t figures_due_ms; /* next refresh of the heartbeat's figures */

static void
watch_listener(struct listener *l, bool on)
{
    /* EPOLLEXCLUSIVE can only be given with EPOLL_CTL_ADD, hence del/add, not mod. */
    uint32_t want = on ? (EPOLLIN | (l->shared ? EPOLLEXCLUSIVE : 0)) : 0;
    if (l->io.fd >= 0 && l->io.events != want)
        ev_set(&l->io, want);
}

static void
set_accepting(bool on)
{
    if (on == accepting)
        return;
    for (int i = 0; i < nlisteners; i++)
        watch_listener(&listeners[i], on);
    accepting = on;
}

static void on_accept(struct ev_io *io, uint32_t events);

static struct listener *
add_listener(int fd, bool shared, int adopted_slot, const struct transport *tp, int line)
{
    struct listener *l = NULL;
    for (int i = 0; i < nlisteners && !l; i++)
        if (listeners[i].io.fd < 0)
            l = &listeners[i];
    if (l == NULL && nlisteners < LISTENERS_MAX)
        l = &listeners[nlisteners++];
    if (l == NULL) {
        close(fd);
        return NULL;
    }
    *l = (struct listener){.io = {.fd = fd, .cb = on_accept},
                           .shared = shared,
                           .adopted_slot = adopted_slot,
                           .tp = tp,
                           .line = line};
    watch_listener(l, accepting);
    return l;
}

/* This worker's own listener on the address of a socket lent by the master (IPC_ADOPT): the
 * lent one takes its transport and listen line (the slots of a listen line share them, and
 * the lender is of this generation). NULL when none matches: the socket is then not served,
 * rather than served with the wrong transport. */
static const struct listener *
adopted_match(int fd)
{
    struct sockaddr_storage want, have;
    socklen_t wlen = sizeof(want);
    if (getsockname(fd, (struct sockaddr *)&want, &wlen) < 0)
        return NULL;
    for (int i = 0; i < nlisteners; i++) {
        const struct listener *l = &listeners[i];
        socklen_t hlen = sizeof(have);
        if (l->io.fd >= 0 && l->adopted_slot < 0 &&
            getsockname(l->io.fd, (struct sockaddr *)&have, &hlen) == 0 && hlen == wlen &&
            memcmp(&have, &want, wlen) == 0)
            return l;
    }
    return NULL;
}

static void
close_listeners(int adopted_slot, bool all)
{
    for (int i = 0; i < nlisteners; i++) {
        struct listener *l = &listeners[i];
        if (l->io.fd < 0 || (!all && l->adopted_slot != adopted_slot))
            continue;
        watch_listener(l, false);
        close(l->io.fd); /* the master keeps its own copy */
        l->io.fd = -1;
    }
}

/* max_connections_per_ip: counted across the instance in the shared table. Over the limit
 * the client gets a 503 it can read, through the listener's transport like every byte to a
 * client, and the connection is closed. A proxy listener's peer is the balancer: the client
 * its PROXY header names is counted once the header is read (conn.c). */
static void
start_connection(const struct listener *l, int fd, const struct sockaddr *peer)
{
    static const char busy[] = CONN_BUSY_ANSWER;
    int limit = worker.cfg->listen[l->line].flags & CFG_LISTEN_PROXY
                    ? 0
                    : worker.cfg->max_connections_per_ip;
    int counted = limit > 0 ? shm_ip_acquire(worker.shm, worker.shm_column, peer, limit) : 1;
    void *ctx = NULL;
    if (l->tp->open && l->tp->open(fd, &ctx) < 0) {
        if (counted == 0)
            shm_ip_release(worker.shm, worker.shm_column, peer);
        close(fd);
        return;
    }
    if (counted < 0) {
        worker.stats->limits[SHM_LIM_PER_IP]++;
        log_info("max_connections_per_ip (%d) reached for a client; answered 503", limit);
        conn_refuse(fd, l->tp, ctx, busy, sizeof(busy) - 1);
        return;
    }
    conn_start(fd, l->tp, ctx, peer, counted == 0, l->line);
}

static void
on_accept(struct ev_io *io, uint32_t events)
{
    (void)events;
    if (io->fd < 0 || worker.quitting)
        return; /* closed by a graceful stop earlier in this batch of events */
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (conn_pool_full()) {
            /* At max_connections: stop accepting; the kernel backlog holds the rest until a
             * connection closes (resumed in before-sleep). */
            worker.stats->limits[SHM_LIM_MAX_CONNECTIONS]++;
            log_info("max_connections (%d) reached; accepting paused", worker.cfg->max_connections);
            set_accepting(false);
            return;
        }
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            worker.stats->accepted++;
            start_connection((struct listener *)io, fd, (struct sockaddr *)&peer);
            continue;
        }
        switch (errno) {
        case EAGAIN:
            return;
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
            continue;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            /* Level-triggered: the pending connection would wake us again at once. Step back
             * for a moment rather than spin at 100% CPU. */
            if (ev_now() - last_emfile_log_ms >= 5000) {
                log_warn("accept4: pausing accepts for %d ms", ACCEPT_BACKOFF_MS);
                last_emfile_log_ms = ev_now();
            }
            set_accepting(false);
            accept_resume_ms = ev_now() + ACCEPT_BACKOFF_MS;
            return;
        default:
            log_error("accept4");
            return;
        }
    }
}

/* The log phase's first observer: the request counter in the shared region (also what
 * max_requests counts), bytes out, responses by class and the size limits that answered. */
static void
count_request(const struct req_log *l, void *arg)
{
    (void)arg;
    struct shm_worker *w = worker.stats;
    unsigned cls = (unsigned)l->status / 100u - 1u; /* 0 for 1xx .. 4 for 5xx */
    w->requests++;
    w->bytes_out += (uint64_t)l->bytes_sent; /* never negative (conn_log) */
    if (cls < 5)
        w->responses[cls]++;
    if (cls == 3 && l->status >= 413) { /* the size limits: one test on the common path */
        if (l->status == 413 || l->status == 414)
            w->limits[l->status == 413 ? SHM_LIM_413 : SHM_LIM_414]++;
        else if (l->status == 431)
            w->limits[SHM_LIM_431]++;
    }
}

/* The accept queues of this worker's own listeners, by listen line (TCP_INFO on a listening
 * socket: tcpi_unacked is the queue's length, tcpi_sacked its backlog). */
static void
publish_queues(struct shm_worker *w)
{
    int n = worker.cfg->nlisten < CFG_MAX_LISTEN ? worker.cfg->nlisten : CFG_MAX_LISTEN;
    for (int i = 0; i < n; i++)
        w->queues[i].queued = w->queues[i].backlog = -1;
    for (int i = 0; i < nlisteners; i++) {
        const struct listener *l = &listeners[i];
        struct tcp_info ti;
        socklen_t len = sizeof(ti);
        if (l->io.fd < 0 || l->adopted_slot >= 0 || l->line >= n ||
            getsockopt(l->io.fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
            ti.tcpi_state != TCP_LISTEN)
            continue; /* a unix socket fails getsockopt */
        w->queues[l->line].queued = (int32_t)ti.tcpi_unacked;
        w->queues[l->line].backlog = (int32_t)ti.tcpi_sacked;
    }
    w->nqueues = (uint32_t)n;
}

/* The heartbeat's figures (shm.h): connections by state, the open file cache, the longest loop
 * turn of the period, the accept queues. Also called by the status endpoint for its own slot. */
static void
publish_figures(void)
{
    struct shm_worker *w = worker.stats;
    uint32_t reading, writing, idle;
    conn_count_states(&reading, &writing, &idle);
    w->conns_reading = reading;
    w->conns_writing = writing;
    w->conns_idle = idle;
    struct ofc_stats os;
    ofc_stats(&os);
    w->ofc_hits = os.hits;
    w->ofc_misses = os.misses;
    publish_queues(w);
    if (ev_now() >= figures_due_ms) {
        w->loop_lag_us = turn_max_us;
        turn_max_us = 0;
        figures_due_ms = ev_now() + FIGURES_MS;
    }
}

/* Retire: accept nothing more, finish what is in flight, leave by graceful_timeout. With
 * hand_over (a reload, max_requests, TTOU) idle plain-HTTP connections move to a serving
 * worker (handover.c); without (a stop, an upgrade, the master gone) each is closed after its
 * next response or idle_close_grace (conn.h). A second call may turn the first into the
 * second, never back. */
static void
begin_graceful_stop(bool hand_over)
{
    if (worker.quitting) {
        if (!hand_over)
            conn_retire(false);
        return;
    }
    log_info("graceful stop%s: %d connections in flight",
             hand_over ? ", handing idle connections over" : "", conn_count());
    worker.quitting = true;
    set_accepting(false);
    accept_resume_ms = 0;
    close_listeners(-1, true); /* the master keeps its own copies for the next worker */
    conn_retire(hand_over);
    if (hand_over)
        handover_begin();
    quit_deadline_ms = ev_now() + worker.cfg->graceful_timeout_ms;
}

/* Only a fallback: ofc_first takes the inotify fd's events out of each batch before dispatch. */
static void
on_ofc_watch(struct ev_io *io, uint32_t events)
{
    (void)io;
    (void)events;
    ofc_watch_events();
}

static void on_ipc(struct ev_io *io, uint32_t events);

static void
on_signal(struct ev_io *io, uint32_t events)
{
    struct signalfd_siginfo si;
    (void)events;
    while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGTERM:
            stop_now = true;
            break;
        case SIGQUIT:
            /* A graceful stop sends IPC_DRAIN before this signal: read it first, so that no
             * request answered from here on says the instance is healthy. */
            if (ipc_io.events)
                on_ipc(&ipc_io, EPOLLIN);
            begin_graceful_stop(false);
            break;
        case SIGUSR1:
            /* Nothing to do: the master reopens the logs (it keeps the rights to) and hands
             * each worker the new descriptor (IPC_LOG_FD, on_ipc). Still read here so that a
             * USR1 sent to a worker by hand neither kills it nor reopens as `user`. */
            break;
        }
    }
}

/* Messages from the master: sockets of a slot that has no worker right now, to accept on as
 * well (so the connections the kernel hashes to it are not stranded), and their return; a
 * reopened log file; retirement; connections handed over. A malformed record (EPROTO) was
 * discarded by ipc_recv: read on. */
static void
on_ipc(struct ev_io *io, uint32_t events)
{
    static struct ipc_conns rec; /* a hand-over record is 2 KB: off the stack */
    static int fds[IPC_CONNS_MAX];
    int nfds;
    int rc;
    (void)events;
    while ((rc = ipc_recv(io->fd, &rec, fds, &nfds)) > 0 || (rc < 0 && errno == EPROTO)) {
        if (rc < 0) {
            /* A hand-over record whose descriptors did not all arrive (MSG_CTRUNC: this
             * worker is at RLIMIT_NOFILE) lost its connections: counted as failed. */
            if (rec.msg.type == IPC_TAKE || rec.msg.type == IPC_HANDBACK ||
                rec.msg.type == IPC_RETURN)
                handover_lost(rec.msg.value);
            else
                log_warnx("a malformed message from the master; discarded");
            continue;
        }
        const struct ipc_msg msg = rec.msg;
        if (msg.type == IPC_CREDIT || msg.type == IPC_TAKE || msg.type == IPC_HANDBACK ||
            msg.type == IPC_RETURN) {
            handover_message(&rec, fds, nfds);
            continue;
        }
        if (msg.type == IPC_RETIRE) {
            begin_graceful_stop(msg.value == 1);
            continue;
        }
        if (msg.type == IPC_DRAIN) {
            health_drain();
            continue;
        }
        if (msg.type == IPC_LOG_FD && msg.value == IPC_LOG_ERROR) {
            if (log_adopt(fds[0]) < 0)
                log_error("taking over the reopened error log");
            continue;
        }
        if (msg.type == IPC_LOG_FD && msg.value == IPC_LOG_ACCESS) {
            accesslog_adopt(fds[0]); /* the buffer goes to the old file first */
            continue;
        }
        if (msg.type == IPC_ADOPT && !worker.quitting) {
            for (int i = 0; i < nfds; i++) {
                const struct listener *own = adopted_match(fds[i]);
                if (own == NULL) {
                    log_warnx("a socket lent for slot %u matches none of mine; not served",
                              msg.slot);
                    close(fds[i]);
                } else {
                    add_listener(fds[i], false, (int)msg.slot, own->tp, own->line);
                }
            }
            log_info("accepting for slot %u as well (%d sockets)", msg.slot, nfds);
            continue;
        }
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        if (msg.type == IPC_RELEASE) {
            close_listeners((int)msg.slot, false);
            log_info("slot %u has its worker back", msg.slot);
        }
    }
    if (rc == 0 || (rc < 0 && errno != EAGAIN && errno != EINTR)) {
        /* The master is gone: finish what is in flight and leave. */
        log_notice("master went away; stopping");
        ev_set(io, 0);
        handover_abandon();
        begin_graceful_stop(false);
    }
}

/* The master keeps root (to bind and reopen logs); workers never serve as root. */
static void
drop_privileges(const struct cfg *cfg)
{
    char err[CFG_ERR_MAX];
    bool was_root = geteuid() == 0;
    if (privs_drop(cfg, err, sizeof(err)) < 0)
        fatalx("%s", err);
    if (cfg->user[0] && was_root)
        log_info("running as %s (uid %d, gid %d)", cfg->user, (int)getuid(), (int)getgid());
}

/* cpu_affinity = auto: worker i on the i-th online CPU (mod their count). */
static void
pin_cpu(int slot)
{
    cpu_set_t online, one;
    if (sched_getaffinity(0, sizeof(online), &online) < 0)
        return;
    int n = CPU_COUNT(&online);
    if (n == 0)
        return;
    for (int cpu = 0, k = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &online))
            continue;
        if (k++ == slot % n) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            if (sched_setaffinity(0, sizeof(one), &one) < 0)
                log_warn("cpu_affinity: cannot pin to CPU %d", cpu);
            return;
        }
    }
}

/* Signals: the master blocked them all before fork. A worker reads TERM, QUIT and USR1 from a
 * signalfd and ignores what only the master acts on (INT from a terminal's Ctrl-C goes to the
 * whole process group; the master turns it into TERM for its workers). */
static int
setup_signals(void)
{
    static const int ignored[] = {SIGINT, SIGHUP, SIGUSR2, SIGWINCH, SIGTTIN, SIGTTOU, SIGPIPE};
    sigset_t mine;
    sigemptyset(&mine);
    sigaddset(&mine, SIGTERM);
    sigaddset(&mine, SIGQUIT);
    sigaddset(&mine, SIGUSR1);
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        signal(ignored[i], SIG_IGN);
    sigprocmask(SIG_SETMASK, &mine, NULL);
    return signalfd(-1, &mine, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Accepting was paused at max_connections, after EMFILE and the like, or over
 * worker_memory_limit: resume once none of those holds any more. */
static void
resume_accepting(void)
{
    if (accept_resume_ms && ev_now() >= accept_resume_ms)
        accept_resume_ms = 0;
    bool over_budget = false;
    const int64_t budget = worker.cfg->worker_memory_limit;
    if (budget && bufpool_bytes >= budget) {
        conn_trim_buffers();
        over_budget = bufpool_bytes >= budget;
        if (over_budget && accepting) {
            worker.stats->limits[SHM_LIM_MEMORY]++;
            log_warnx("worker_memory_limit (%lld bytes) reached; accepting paused",
                      (long long)budget);
            set_accepting(false);
        }
    }
    if (!accepting && accept_resume_ms == 0 && !conn_pool_full() && !over_budget)
        set_accepting(true);
    if (accept_resume_ms)
        ev_wake_by(accept_resume_ms);
}

/* Wake often enough that the heartbeat the master's watchdog reads moves on while idle: at
 * least four times per worker_watchdog, and once a second anyway. */
static int64_t
heartbeat_period_ms(void)
{
    int64_t cap = 1000;
    if (worker.cfg->worker_watchdog_ms && worker.cfg->worker_watchdog_ms / 4 < cap)
        cap = worker.cfg->worker_watchdog_ms / 4 > 10 ? worker.cfg->worker_watchdog_ms / 4 : 10;
    return cap;
}

/* max_requests reached: ask the master, which answers IPC_RETIRE once another worker serves
 * (so that the idle connections have somewhere to go); meanwhile this one serves on. Should the
 * answer not come within graceful_timeout (no other worker ever got ready), retire anyway. */
static void
ask_to_retire(void)
{
    if (worker.retire_asked_ms == 0) {
        if (!handover_ask_to_retire())
            return; /* the master is behind: ask again on the next turn */
        log_notice("max_requests: retiring after %llu requests",
                   (unsigned long long)worker.stats->requests);
        worker.retire_asked_ms = ev_now();
    } else if (ev_now() - worker.retire_asked_ms >= worker.cfg->graceful_timeout_ms) {
        log_warnx("max_requests: no word from the master in graceful_timeout; retiring");
        begin_graceful_stop(true);
    }
}

/* Phase 1 of the loop (see worker_main). */
static void
before_sleep(void *unused __attribute__((unused)))
{
    if (worker.retire_after && worker.stats->requests >= worker.retire_after && !worker.quitting)
        ask_to_retire();
    if (stop_now) {
        conn_close_all();
        log_debug("stopped");
        ev_stop();
        return;
    }
    conn_reap();
    if (worker.quitting) {
        /* Idle connections leave for a serving worker (as credit allows); the rest finish
         * their response first, or close after idle_close_grace. */
        handover_flush();
        conn_reap();
        if (conn_count() == 0 && !handover_waiting()) {
            ev_stop();
            return;
        }
        if (ev_now() >= quit_deadline_ms) {
            log_warnx("graceful_timeout: closing %d connections still in flight", conn_count());
            ev_stop();
            return;
        }
        ev_wake_by(quit_deadline_ms);
    } else {
        resume_accepting();
    }
    ev_wake_by(ev_now() + heartbeat_period_ms());
    worker.stats->heartbeat_ms = ev_now();
    worker.stats->state = SHM_W_WAITING;
    if (turn_start_us) {
        uint64_t took = clock_mono_us() - turn_start_us;
        if (took > turn_max_us)
            turn_max_us = took > UINT32_MAX ? UINT32_MAX : (uint32_t)took;
        turn_start_us = 0; /* measured once: an idle wake-up is a turn of its own */
    }
    if (ev_now() >= figures_due_ms)
        publish_figures();
    ev_wake_by(figures_due_ms);
}

/* Phase 4: the clock has just been read. */
static void
before_batch(void *unused __attribute__((unused)))
{
    turn_start_us = ev_now_us(); /* the loop's own clock read: no second one */
    worker.stats->heartbeat_ms = ev_now();
    worker.stats->state = SHM_W_EVENTS;
    resp_update_date(time(NULL));
}

/* Phase 4, after before_batch: news of changed files first, so no request of this batch is
 * answered from a cache entry whose file has changed. */
static void
ofc_first(void *unused __attribute__((unused)))
{
    if (ev_take(&ofc_io))
        ofc_watch_events();
}

/* Phase 6. */
static void
after_dispatch(void *unused __attribute__((unused)))
{
    worker.stats->state = SHM_W_TIMERS;
}

static void
setup(const struct worker_args *args)
{
    char role[32];
    snprintf(role, sizeof(role), "worker %d", args->slot);
    log_set_role(role);
    proctitle_set("sluice: worker %d gen %u", args->slot, args->generation);
    /* Die with the master rather than linger as an orphan holding the port. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != args->master_pid)
        exit(0);

    /* The master's loop, inherited through fork, is forgotten: this process runs its own. */
    if (ev_init() < 0)
        fatal("starting the event loop");
    worker.cfg = args->cfg;
    worker.shm = args->shm;
    worker.shm_column = args->shm_column;
    worker.stats = shm_worker(args->shm, args->shm_column);
    *worker.stats = (struct shm_worker){.pid = getpid(),
                                        .generation = args->generation,
                                        .heartbeat_ms = ev_now(),
                                        .state = SHM_W_STARTING,
                                        .started = (int64_t)time(NULL)};
    resp_update_date(time(NULL));
    struct conn_env env = {
        .cfg = args->cfg, .shm = args->shm, .shm_column = args->shm_column, .stats = worker.stats};
    if (conn_setup(&env) < 0)
        fatal("setting up the timeout queues");
    if (accesslog_init(args->cfg, args->access_log_fd, args->slot, args->generation) < 0)
        fatal("setting up the access log");

    int sfd = setup_signals();
    if (sfd < 0)
        fatal("signalfd");
    int root_fd = open(args->cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        fatal("opening root '%s'", args->cfg->root);
    drop_privileges(args->cfg);
    if (args->cfg->cpu_affinity)
        pin_cpu(args->slot);
    static_resp_init(root_fd, args->cfg);
    if (args->cfg->mime_types[0] && mime_load(args->cfg->mime_types) < 0)
        fatal("loading mime_types '%s'", args->cfg->mime_types);
    /* Precedence is the table's (route.h): exact paths, the longest prefix, then "/" (static
     * files, unless an application took it). Modules start after the privilege drop. */
    if (route_add_builtins() < 0)
        fatalx("route table full");
    status_init(args->cfg, args->shm, args->generation, publish_figures);
    if (args->cfg->status_path[0] &&
        route_add(args->cfg->status_path, &status_handler, NULL, true) < 0)
        fatalx("route table full");
    if (args->cfg->health_path[0] &&
        route_add(args->cfg->health_path, &health_handler, NULL, true) < 0)
        fatalx("route table full");
    if (args->draining)
        health_drain();
    if (app_init(args->cfg, args->app_fd, worker.stats, args->slot, args->generation) < 0)
        exit(1);
    if (!app_has_root() && route_add("/", &static_handler, NULL, false) < 0)
        fatalx("route table full");
    if (req_log_add(count_request, NULL) < 0)
        fatalx("log phase observers full");
    if (ofc_init(args->cfg->open_file_cache, args->cfg->open_file_cache_valid_ms,
                 args->cfg->small_file_max, args->cfg->small_file_cache) < 0)
        fatal("allocating the open file cache");
    struct http_limits limits = {
        .max_request_line = (size_t)args->cfg->max_request_line,
        .max_header_size = (size_t)args->cfg->max_header_size,
        .max_headers = args->cfg->max_headers,
        .max_body_size = args->cfg->max_body_size,
    };
    if (conn_pool_init(args->cfg->max_connections, &limits) < 0)
        fatal("allocating %d connections", args->cfg->max_connections);
    if (args->cfg->max_requests) {
        uint64_t jitter = 0;
        if (args->cfg->max_requests_jitter)
            jitter =
                (uint64_t)(getpid() * 2654435761u) % (uint64_t)(args->cfg->max_requests_jitter + 1);
        worker.retire_after = (uint64_t)args->cfg->max_requests + jitter;
    }

    sig_io = (struct ev_io){.fd = sfd, .cb = on_signal};
    ipc_io = (struct ev_io){.fd = args->ipc_fd, .cb = on_ipc};
    handover_init(args->ipc_fd, args->slot, args->generation, args->cfg, worker.stats);
    tls_transport_init(tls_set_ctx(args->tls), worker.stats);
    if (ev_set(&sig_io, EPOLLIN) < 0 || ev_set(&ipc_io, EPOLLIN) < 0)
        exit(1);
    if (ev_hook_add(EV_BEFORE_SLEEP, before_sleep, NULL) < 0 ||
        ev_hook_add(EV_BEFORE_BATCH, before_batch, NULL) < 0 ||
        ev_hook_add(EV_AFTER_DISPATCH, after_dispatch, NULL) < 0)
        fatal("adding the loop's hooks");
    ofc_io = (struct ev_io){.fd = ofc_watch_fd(), .cb = on_ofc_watch};
    if (ofc_io.fd >= 0 &&
        (ev_set(&ofc_io, EPOLLIN) < 0 || ev_hook_add(EV_BEFORE_BATCH, ofc_first, NULL) < 0))
        exit(1);
    accepting = true;
    /* listen_fds[i] is the socket of listen line i (see supervise.c): its flags choose the
     * transport. */
    if (args->nlisten != args->cfg->nlisten)
        fatalx("%d listen sockets for %d listen lines", args->nlisten, args->cfg->nlisten);
    for (int i = 0; i < args->nlisten; i++)
        add_listener(args->listen_fds[i], args->listen_shared[i], -1,
                     transport_for(&args->cfg->listen[i]), i);
}

void
worker_main(const struct worker_args *args)
{
    setup(args);
    struct ipc_msg ready = {
        .type = IPC_READY, .slot = (uint32_t)args->slot, .generation = args->generation};
    if (ipc_send(args->ipc_fd, &ready, NULL, 0) < 0)
        fatal("reporting ready to the master");
    log_debug("serving (generation %u)", args->generation);

    /* The loop (common/ev.h runs it), in the order its phases run:
     *  1. before sleep (before_sleep): retire after max_requests; return closed connections to
     *     the pool; when stopping, leave once that is done (SIGTERM: at once; graceful: when
     *     the last connection is done, or at graceful_timeout); else resume accepting below the
     *     limit or after the EMFILE back-off; publish the heartbeat;
     *  2. epoll_wait, for at most the nearest deadline: timeout queues, accept back-off,
     *     graceful-stop limit, and the heartbeat's cadence. Level-triggered: a handler may stop
     *     early (one read per event, 512 KiB of sendfile per turn, 64 accepts) and is simply
     *     woken again, which keeps the loop fair without bookkeeping of what is left to drain;
     *  3. the clock is read;
     *  4. before the batch: the heartbeat and the cached Date header, then the open file
     *     cache's inotify events, if any are in the batch, before anything else is dispatched;
     *  5. dispatch events: listeners accept, connections read/parse/send, signals, the master;
     *  6. after dispatch: the state the watchdog reads says "timers";
     *  7. timeouts expire, each queue from its head (conn.c's callbacks). */
    int rc = ev_run();
    accesslog_flush(); /* every line logged so far, also on a stop at once (SIGTERM) */
    app_fini();
    exit(rc < 0 ? 1 : 0);
}
