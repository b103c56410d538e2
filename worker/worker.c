/* A worker process: one epoll loop that accepts, reads, parses and sends (see worker.h). */
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/proctitle.h"
#include "worker/bufpool.h"
#include "worker/conn.h"
#include "worker/loop.h"
#include "worker/ofc.h"
#include "worker/resp.h"
#include "worker/route.h"
#include "worker/static.h"
#include "worker/transport.h"

#define ACCEPT_BATCH 64       /* accepts per readiness event, so reading is not starved */
#define ACCEPT_BACKOFF_MS 100 /* pause after EMFILE/ENFILE, instead of spinning on them */
#define EVENTS_MAX 256

struct loop loop;

struct listener {
    struct ev_io io;  /* io.fd -1: unused entry */
    bool shared;      /* every worker watches it: EPOLLEXCLUSIVE wakes just one */
    int adopted_slot; /* -1: this worker's own socket; else the slot it stands in for */
};

/* Entries never move (epoll holds pointers to them); a released entry is reused. */
#define LISTENERS_MAX (CFG_MAX_LISTEN * CFG_MAX_WORKERS)
static struct listener listeners[LISTENERS_MAX];
static int nlisteners;           /* entries in use or used before: the scan bound */
static bool accepting;           /* listeners are in epoll */
static int64_t accept_resume_ms; /* EMFILE back-off ends, 0 = none */
static int64_t quit_deadline_ms; /* graceful stop gives up here */
static int64_t quit_started_ms;
#define QUIT_FRESH_GRACE_MS 1000   /* a just-accepted silent connection gets this long */
static int64_t last_emfile_log_ms; /* rate limit for the EMFILE line */
static struct ev_io sig_io, ipc_io, ofc_io;
static bool stop_now;

int
ev_set(struct ev_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (loop.epfd < 0) {
        io->events = events;
        return 0;
    }
    int op = events == 0 ? EPOLL_CTL_DEL : io->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(loop.epfd, op, io->fd, &ev) < 0) {
        log_error("epoll_ctl(fd %d)", io->fd);
        return -1;
    }
    io->events = events;
    return 0;
}

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
add_listener(int fd, bool shared, int adopted_slot)
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
    *l = (struct listener){
        .io = {.fd = fd, .cb = on_accept}, .shared = shared, .adopted_slot = adopted_slot};
    watch_listener(l, accepting);
    return l;
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
 * the client gets a 503 it can read and the connection is closed at once. */
static void
start_connection(int fd, const struct sockaddr *peer)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nServer: sluice\r\n"
                               "Content-Type: text/plain\r\nContent-Length: 36\r\n"
                               "Connection: close\r\n\r\n"
                               "Too many connections from your host\n";
    int limit = loop.cfg->max_connections_per_ip;
    int counted = limit > 0 ? shm_ip_acquire(loop.shm, loop.shm_column, peer, limit) : 1;
    if (counted < 0) {
        log_info("max_connections_per_ip (%d) reached for a client; answered 503", limit);
        ssize_t rc = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)rc;
        shutdown(fd, SHUT_WR);
        close(fd);
        return;
    }
    conn_start(fd, &transport_plain, NULL, counted == 0 ? peer : NULL);
}

static void
on_accept(struct ev_io *io, uint32_t events)
{
    (void)events;
    if (io->fd < 0 || loop.quitting)
        return; /* closed by a graceful stop earlier in this batch of events */
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (conn_pool_full()) {
            /* At max_connections: stop accepting; the kernel backlog holds the rest until a
             * connection closes (resumed in before-sleep). */
            log_info("max_connections (%d) reached; accepting paused", loop.cfg->max_connections);
            set_accepting(false);
            return;
        }
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            start_connection(fd, (struct sockaddr *)&peer);
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
            if (loop.now_ms - last_emfile_log_ms >= 5000) {
                log_warn("accept4: pausing accepts for %d ms", ACCEPT_BACKOFF_MS);
                last_emfile_log_ms = loop.now_ms;
            }
            set_accepting(false);
            accept_resume_ms = loop.now_ms + ACCEPT_BACKOFF_MS;
            return;
        default:
            log_error("accept4");
            return;
        }
    }
}

static void
begin_graceful_stop(void)
{
    if (loop.quitting)
        return;
    log_info("graceful stop: %d connections in flight", conn_count());
    loop.quitting = true;
    set_accepting(false);
    accept_resume_ms = 0;
    close_listeners(-1, true); /* the master keeps its own copies for the next worker */
    conn_close_idle(false);
    quit_started_ms = loop.now_ms;
    quit_deadline_ms = loop.now_ms + loop.cfg->graceful_timeout_ms;
}

static void
on_ofc_watch(struct ev_io *io, uint32_t events)
{
    (void)io;
    (void)events;
    ofc_watch_events();
}

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
            begin_graceful_stop();
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
 * reopened log file. A malformed record (EPROTO) was discarded by ipc_recv: read on. */
static void
on_ipc(struct ev_io *io, uint32_t events)
{
    struct ipc_msg msg;
    int fds[IPC_MAX_FDS], nfds;
    int rc;
    (void)events;
    while ((rc = ipc_recv(io->fd, &msg, fds, &nfds)) > 0 || (rc < 0 && errno == EPROTO)) {
        if (rc < 0)
            continue;
        if (msg.type == IPC_LOG_FD && msg.value == IPC_LOG_ERROR) {
            if (log_adopt(fds[0]) < 0)
                log_error("taking over the reopened error log");
            continue;
        }
        if (msg.type == IPC_ADOPT && !loop.quitting) {
            for (int i = 0; i < nfds; i++)
                add_listener(fds[i], false, (int)msg.slot);
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
        begin_graceful_stop();
    }
}

/* Started as root with `user` set: supplementary groups, group, then user, and a check that
 * root cannot be taken back. The master keeps root (to bind and reopen logs); workers never
 * serve as root. */
static void
drop_privileges(const struct cfg *cfg)
{
    if (cfg->user[0] == '\0' || geteuid() != 0)
        return;
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL)
        fatalx("user '%s' does not exist", cfg->user);
    gid_t gid = pw->pw_gid;
    if (cfg->group[0]) {
        struct group *gr = getgrnam(cfg->group);
        if (gr == NULL)
            fatalx("group '%s' does not exist", cfg->group);
        gid = gr->gr_gid;
    }
    if (initgroups(pw->pw_name, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0)
        fatal("dropping privileges to user '%s'", cfg->user);
    if (setuid(0) == 0 || seteuid(0) == 0)
        fatalx("still able to become root after dropping to '%s'", cfg->user);
    log_info("running as %s (uid %d, gid %d)", cfg->user, (int)pw->pw_uid, (int)gid);
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

    loop.cfg = args->cfg;
    loop.shm = args->shm;
    loop.shm_column = args->shm_column;
    loop.stats = shm_worker(args->shm, args->shm_column);
    *loop.stats = (struct shm_worker){.pid = getpid(),
                                      .generation = args->generation,
                                      .heartbeat_ms = mono_ms(),
                                      .state = SHM_W_STARTING};
    loop.slot = args->slot;
    loop.now_ms = mono_ms();
    resp_update_date(time(NULL));
    tq_init(&loop.tq_header, args->cfg->header_timeout_ms);
    tq_init(&loop.tq_body, args->cfg->body_timeout_ms);
    loop.limits = (struct http_limits){
        .max_request_line = (size_t)args->cfg->max_request_line,
        .max_header_size = (size_t)args->cfg->max_header_size,
        .max_headers = args->cfg->max_headers,
        .max_body_size = args->cfg->max_body_size,
    };
    tq_init(&loop.tq_keepalive, args->cfg->keepalive_timeout_ms);
    tq_init(&loop.tq_send, args->cfg->send_timeout_ms);
    tq_init(&loop.tq_rate, args->cfg->send_min_rate_period_ms);
    tq_init(&loop.tq_body_rate, args->cfg->body_min_rate_period_ms);
    tq_init(&loop.tq_linger, CONN_LINGER_MS);

    int sfd = setup_signals();
    if (sfd < 0)
        fatal("signalfd");
    loop.root_fd = open(args->cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (loop.root_fd < 0)
        fatal("opening root '%s'", args->cfg->root);
    drop_privileges(args->cfg);
    if (args->cfg->cpu_affinity)
        pin_cpu(args->slot);
    static_init(loop.root_fd);
    if (args->cfg->mime_types[0] && mime_load(args->cfg->mime_types) < 0)
        fatal("loading mime_types '%s'", args->cfg->mime_types);
    if (route_add("/", &static_handler) < 0)
        fatalx("route table full");
    if (ofc_init(args->cfg->open_file_cache, args->cfg->open_file_cache_valid_ms,
                 args->cfg->small_file_max, args->cfg->small_file_cache) < 0)
        fatal("allocating the open file cache");
    if (conn_pool_init(args->cfg->max_connections) < 0)
        fatal("allocating %d connections", args->cfg->max_connections);

    loop.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop.epfd < 0)
        fatal("epoll_create1");
    sig_io = (struct ev_io){.fd = sfd, .cb = on_signal};
    ipc_io = (struct ev_io){.fd = args->ipc_fd, .cb = on_ipc};
    if (ev_set(&sig_io, EPOLLIN) < 0 || ev_set(&ipc_io, EPOLLIN) < 0)
        exit(1);
    ofc_io = (struct ev_io){.fd = ofc_watch_fd(), .cb = on_ofc_watch};
    if (ofc_io.fd >= 0 && ev_set(&ofc_io, EPOLLIN) < 0)
        exit(1);
    accepting = true;
    for (int i = 0; i < args->nlisten; i++)
        add_listener(args->listen_fds[i], args->listen_shared[i], -1);
}

static int
next_timeout_ms(void)
{
    int64_t d = conn_next_deadline();
    if (accept_resume_ms && accept_resume_ms < d)
        d = accept_resume_ms;
    if (loop.quitting && quit_deadline_ms < d)
        d = quit_deadline_ms;
    /* Wake often enough that the heartbeat the master's watchdog reads moves on while idle:
     * at least four times per worker_watchdog, and once a second anyway. */
    int64_t cap = 1000;
    if (loop.cfg->worker_watchdog_ms && loop.cfg->worker_watchdog_ms / 4 < cap)
        cap = loop.cfg->worker_watchdog_ms / 4 > 10 ? loop.cfg->worker_watchdog_ms / 4 : 10;
    d -= loop.now_ms;
    return d < 0 ? 0 : d > cap ? (int)cap : (int)d;
}

void
worker_main(const struct worker_args *args)
{
    struct epoll_event events[EVENTS_MAX];

    setup(args);
    struct ipc_msg ready = {
        .type = IPC_READY, .slot = (uint32_t)args->slot, .generation = args->generation};
    if (ipc_send(args->ipc_fd, &ready, NULL, 0) < 0)
        fatal("reporting ready to the master");
    log_debug("serving (generation %u)", args->generation);

    /* The loop, in the order its phases run:
     *  1. epoll_wait, for at most the nearest deadline (timeout queues, accept back-off,
     *     graceful-stop limit). Level-triggered: a handler may stop early (one read per event,
     *     512 KiB of sendfile per turn, 64 accepts) and is simply woken again, which keeps the
     *     loop fair without bookkeeping of what is left to drain.
     *  2. refresh the clock and the cached Date header, then apply the open file cache's
     *     inotify events, if any are in the batch, before anything else is dispatched;
     *  3. dispatch events: listeners accept, connections read/parse/send, signals, the master;
     *  4. expire timeouts, each queue from its head;
     *  5. before sleep: return closed connections to the pool, resume accepting below the
     *     limit or after the EMFILE back-off, and leave once stopping is done. */
    uint64_t retire_after = 0;
    if (loop.cfg->max_requests) {
        uint64_t jitter = 0;
        if (loop.cfg->max_requests_jitter)
            jitter =
                (uint64_t)(getpid() * 2654435761u) % (uint64_t)(loop.cfg->max_requests_jitter + 1);
        retire_after = (uint64_t)loop.cfg->max_requests + jitter;
    }

    for (;;) {
        loop.stats->heartbeat_ms = loop.now_ms;
        loop.stats->state = SHM_W_WAITING;
        int n = epoll_wait(loop.epfd, events, EVENTS_MAX, next_timeout_ms());
        if (n < 0 && errno != EINTR)
            fatal("epoll_wait");
        loop.now_ms = mono_ms();
        loop.stats->heartbeat_ms = loop.now_ms;
        loop.stats->state = SHM_W_EVENTS;
        resp_update_date(time(NULL));
        /* Before the batch: news of changed files first, so no request of this batch is
         * answered from a cache entry whose file has changed. */
        for (int i = 0; ofc_io.events && i < n; i++)
            if (events[i].data.ptr == &ofc_io) {
                ofc_watch_events();
                events[i].data.ptr = NULL;
            }
        for (int i = 0; i < n; i++) {
            struct ev_io *io = events[i].data.ptr;
            if (io)
                io->cb(io, events[i].events);
        }
        loop.stats->state = SHM_W_TIMERS;
        conn_expire_timeouts();
        if (retire_after && loop.stats->requests >= retire_after && !loop.quitting) {
            log_notice("max_requests: retiring after %llu requests",
                       (unsigned long long)loop.stats->requests);
            begin_graceful_stop();
        }

        if (stop_now) {
            conn_close_all();
            log_debug("stopped");
            exit(0);
        }
        conn_reap();
        if (loop.quitting) {
            /* Idle connections that got their request in since, and fresh ones still silent
             * after a moment, go now; the rest finish their response first. */
            conn_close_idle(loop.now_ms - quit_started_ms >= QUIT_FRESH_GRACE_MS);
            conn_reap();
            if (conn_count() == 0)
                exit(0);
            if (loop.now_ms >= quit_deadline_ms) {
                log_warnx("graceful_timeout: closing %d connections still in flight", conn_count());
                exit(0);
            }
            continue;
        }
        if (accept_resume_ms && loop.now_ms >= accept_resume_ms)
            accept_resume_ms = 0;
        bool over_budget = false;
        if (loop.cfg->worker_memory_limit && bufpool_bytes >= loop.cfg->worker_memory_limit) {
            conn_trim_buffers();
            over_budget = bufpool_bytes >= loop.cfg->worker_memory_limit;
            if (over_budget && accepting) {
                log_warnx("worker_memory_limit (%lld bytes) reached; accepting paused",
                          (long long)loop.cfg->worker_memory_limit);
                set_accepting(false);
            }
        }
        if (!accepting && accept_resume_ms == 0 && !conn_pool_full() && !over_budget)
            set_accepting(true);
    }
}
