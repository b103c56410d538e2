/* Master: binds the sockets, forks and supervises the workers, reloads and stops them. Its loop
 * is epoll over a signalfd and one socketpair per worker; it never blocks on a child. */
#include "master/master.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/proctitle.h"
#include "common/sdnotify.h"
#include "common/shm.h"
#include "master/control.h"
#include "master/listen.h"
#include "worker/worker.h"

#include "master/supervise.h"

struct master m;
static char **saved_argv;

static void ctl_reopen(void);
static int open_control(const struct cfg *cfg, char *err, size_t errlen);

void
master_set_argv(char **argv)
{
    saved_argv = argv;
}

/* USR2, as in nginx: rename our pid file to .oldbin and fork+exec the binary (the new one, if it
 * was replaced) with the same arguments, handing every listening socket over in
 * $SLUICE_INHERIT. Both masters' workers then accept on the same sockets; the operator sends
 * WINCH (our workers finish and leave) and QUIT (we leave) to us, or QUIT to the new master to
 * roll back. */
static void
upgrade(void)
{
    char oldbin[CFG_PATH_MAX], env[8192];
    if (m.upgrade_pid || m.stopping || saved_argv == NULL) {
        log_warnx("USR2 ignored: %s", m.upgrade_pid ? "an upgrade is under way" : "stopping");
        return;
    }
    if (snprintf(oldbin, sizeof(oldbin), "%s.oldbin", m.pid_path) >= (int)sizeof(oldbin)) {
        log_errorx("upgrade: pid file path too long");
        return;
    }
    if (rename(m.pid_path, oldbin) < 0) {
        log_error("upgrade: renaming %s", m.pid_path);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        if (listen_export(env, sizeof(env)) < 0)
            _exit(127);
        setenv("SLUICE_INHERIT", env, 1);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(saved_argv[0], saved_argv);
        log_error("upgrade: exec %s", saved_argv[0]);
        _exit(127);
    }
    if (pid < 0) {
        log_error("upgrade: fork");
        rename(oldbin, m.pid_path);
        return;
    }
    m.upgrade_pid = pid;
    m.upgraded = true;
    snprintf(m.pid_path, sizeof(m.pid_path), "%s", oldbin);
    log_notice("upgrade: new master started (pid %d); this master's pid file is now %s", (int)pid,
               oldbin);
}

/* The new master is gone: take the pid file and the control socket back. */
void
upgrade_child_exited(int status)
{
    char err[CFG_ERR_MAX];
    size_t n = strlen(m.pid_path);
    m.upgrade_pid = 0;
    if (n > 7 && strcmp(m.pid_path + n - 7, ".oldbin") == 0) {
        char orig[CFG_PATH_MAX];
        snprintf(orig, sizeof(orig), "%.*s", (int)(n - 7), m.pid_path);
        if (rename(m.pid_path, orig) == 0)
            snprintf(m.pid_path, sizeof(m.pid_path), "%s", orig);
    }
    m.upgraded = false;
    struct gen *g = gen_in(GEN_ACTIVE);
    if (g == NULL)
        g = gen_in(GEN_RETIRING);
    control_close(false);
    if (g && open_control(g->cfg, err, sizeof(err)) < 0)
        log_errorx("%s", err);
    struct gen *active = gen_in(GEN_ACTIVE);
    if (active)
        write_port_file(active); /* the new master removed it on its way out */
    sd_notifyf("MAINPID=%d\nREADY=1\nSTATUS=upgrade rolled back", (int)getpid());
    log_errorx("upgrade: the new master exited (%s %d); rolled back, this master serves%s",
               WIFSIGNALED(status) ? "signal" : "status",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
               m.winched ? " again after a HUP (its workers were stopped by WINCH)" : "");
}

/* WINCH after USR2: our workers finish their requests and leave; none is respawned. */
static void
winch(void)
{
    if (!m.upgrade_pid) {
        log_warnx("WINCH ignored: no upgrade under way");
        return;
    }
    m.winched = true;
    for (int i = 0; i < MAX_GENS; i++)
        if (m.gens[i].state == GEN_ACTIVE || m.gens[i].state == GEN_STARTING)
            retire(&m.gens[i], SIGQUIT);
    log_notice("WINCH: workers finish their requests and stop; the new master (pid %d) serves",
               (int)m.upgrade_pid);
}

static void
on_signal(void)
{
    struct signalfd_siginfo si;
    while (read(m.sigfd, &si, sizeof(si)) == sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
            start_stop(STOP_FAST, 0);
            break;
        case SIGQUIT:
            start_stop(STOP_GRACEFUL, 0);
            break;
        case SIGHUP:
            if (!m.stopping)
                reload();
            break;
        case SIGUSR1:
            ctl_reopen();
            break;
        case SIGCHLD:
            reap();
            break;
        case SIGTTIN:
        case SIGTTOU:
            if (!m.stopping && !m.winched)
                scale(si.ssi_signo == SIGTTIN ? 1 : -1);
            break;
        case SIGUSR2:
            upgrade();
            break;
        case SIGWINCH:
            winch();
            break;
        }
    }
}

static void
ctl_reload(void)
{
    if (m.stopping) {
        control_reload_done(false, "stopping");
        return;
    }
    reload();
}

static void
ctl_stop(bool graceful)
{
    start_stop(graceful ? STOP_GRACEFUL : STOP_FAST, 0);
}

/* Reopen (USR1, `sluice reopen`): the master reopens the error log by path, as root when it
 * started as root, and hands the new descriptor to every live worker over its socketpair. A
 * worker cannot reopen by path itself once it runs as `user` (EACCES on a root-owned log or
 * directory), and must not: it would keep writing into the rotated file. A worker forked later
 * inherits the master's descriptor, whose number the reopen keeps. */
static void
ctl_reopen(void)
{
    log_notice("reopening logs");
    int fd = log_reopen() == 0 ? log_file_fd() : -1;
    if (fd < 0)
        return; /* stderr, or the reopen failed and was logged: workers keep what they have */
    struct ipc_msg msg = {.type = IPC_LOG_FD, .value = IPC_LOG_ERROR};
    for (int i = 0; i < MAX_GENS; i++)
        for (int s = 0; s < CFG_MAX_WORKERS; s++) {
            struct proc *p = &m.gens[i].procs[s];
            if (p->pid == 0 || p->ipc_fd < 0)
                continue;
            msg.slot = (uint32_t)s;
            msg.generation = m.gens[i].id;
            if (ipc_send(p->ipc_fd, &msg, &fd, 1) < 0)
                log_warn("reopen: cannot hand the error log to worker %d (pid %d)", s, (int)p->pid);
        }
}

static void
ctl_status(char *buf, size_t len)
{
    static const char *const states[] = {"free", "starting", "active", "retiring"};
    int64_t now = now_ms();
    size_t n = (size_t)snprintf(buf, len, "ok: running (pid %d)%s\n", (int)getpid(),
                                m.stopping ? ", stopping" : "");
    for (int i = 0; i < MAX_GENS && n < len; i++) {
        struct gen *g = &m.gens[i];
        if (g->state == GEN_FREE)
            continue;
        n += (size_t)snprintf(buf + n, len - n, "generation %u %s, %d workers\n", g->id,
                              states[g->state], g->cfg->workers);
        for (int s = 0; s < CFG_MAX_WORKERS && n < len; s++) {
            const struct proc *p = &g->procs[s];
            const struct shm_worker *w = shm_worker(m.shm, shm_column(g, s));
            if (p->pid)
                n += (size_t)snprintf(
                    buf + n, len - n,
                    "  worker %d pid %d %s, %llu connections, %llu requests, heartbeat %lld ms "
                    "ago\n",
                    s, (int)p->pid,
                    p->stopped ? "stopped"
                    : p->ready ? "serving"
                               : "starting",
                    (unsigned long long)w->connections, (unsigned long long)w->requests,
                    (long long)(w->pid == p->pid ? now - w->heartbeat_ms : -1));
            else if (g->respawn_at[s] && s < g->cfg->workers)
                n += (size_t)snprintf(buf + n, len - n,
                                      "  worker %d backing off, respawn in %lld ms (degraded)\n", s,
                                      (long long)(g->respawn_at[s] - now));
        }
    }
}

static const struct control_ops ctl_ops = {
    .reload = ctl_reload,
    .stop = ctl_stop,
    .reopen = ctl_reopen,
    .status = ctl_status,
};

static int
setup_signals(void)
{
    static const int handled[] = {SIGTERM, SIGINT,  SIGQUIT, SIGHUP,  SIGUSR1,
                                  SIGCHLD, SIGTTIN, SIGTTOU, SIGUSR2, SIGWINCH};
    static const int ignored[] = {SIGPIPE};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        sigaddset(&set, handled[i]);
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        signal(ignored[i], SIG_IGN);
    /* Handlers would only set flags; a signalfd in the loop does the same without races. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* After a binary upgrade the paths (control socket, port file, unix sockets) are the new
 * master's: only our own (.oldbin) pid file goes. */
static void
cleanup(void)
{
    control_close(!m.upgraded);
    listen_close_all(!m.upgraded);
    if (!m.upgraded && m.port_path[0])
        unlink(m.port_path);
    unlink(m.pid_path);
    close(m.pid_fd);
}

static int
open_control(const struct cfg *cfg, char *err, size_t errlen)
{
    char path[CFG_PATH_MAX];
    if (cfg->control_socket[0])
        snprintf(path, sizeof(path), "%s", cfg->control_socket);
    else
        control_default_path(cfg->pid_file, path, sizeof(path));
    return control_open(path, m.epfd, &ctl_ops, err, errlen);
}

int
master_run(struct cfg *cfg, const char *cfg_path, int pid_fd, int notify_fd)
{
    char err[CFG_ERR_MAX];
    struct gen *g = &m.gens[0];

    m.pid_fd = pid_fd;
    m.notify_fd = notify_fd;
    m.cfg_path = cfg_path;
    snprintf(m.pid_path, sizeof(m.pid_path), "%s", cfg->pid_file);
    m.from_upgrade = getenv("SLUICE_INHERIT") != NULL;
    m.parent_master = getppid();
    int inherited = listen_inherit(err, sizeof(err));
    if (inherited < 0 || listen_acquire(cfg, g->lidx, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        if (strcmp(cfg->error_log, "stderr") != 0)
            log_errorx("%s", err);
        unlink(cfg->pid_file);
        close(pid_fd);
        free(cfg);
        return 1;
    }
    if (inherited > 0)
        log_notice("took over %d listening socket groups from the previous master or systemd",
                   inherited);
    listen_drop_unclaimed();
    if ((m.shm = shm_create()) == NULL) {
        log_error("creating the shared memory region");
        unlink(cfg->pid_file);
        close(pid_fd);
        free(cfg);
        return 1;
    }
    m.sigfd = setup_signals();
    m.epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (m.sigfd < 0 || m.epfd < 0 || epoll_ctl(m.epfd, EPOLL_CTL_ADD, m.sigfd, &ev) < 0) {
        log_error("setting up the master loop");
        return 1;
    }
    if (open_control(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s: %s\n", cfg->file[0] ? cfg->file : "built-in defaults", err);
        if (strcmp(cfg->error_log, "stderr") != 0)
            log_errorx("%s", err);
        listen_close_all(true);
        unlink(cfg->pid_file);
        close(pid_fd);
        free(cfg);
        return 1;
    }
    g->state = GEN_STARTING;
    g->cfg = cfg;
    g->id = ++m.next_gen_id;
    memset(g->adopter, -1, sizeof(g->adopter));
    proctitle_set("sluice: master%s%s", cfg->file[0] ? " -c " : "", cfg->file);
    log_notice("sluice %s starting %d workers (root %s)", SLUICE_VERSION, cfg->workers, cfg->root);
    for (int s = 0; s < cfg->workers; s++)
        if (spawn(g, s) < 0) {
            start_stop(STOP_FAST, 1);
            break;
        }

    for (;;) {
        int64_t now = now_ms();
        int64_t next = run_timers(now);
        if (m.stopping) {
            int left = 0;
            for (int i = 0; i < MAX_GENS; i++)
                left += live_procs(&m.gens[i]);
            if (left == 0)
                break;
        }
        int timeout = next == INT64_MAX ? -1 : (int)(next - now < 0 ? 0 : next - now);
        struct epoll_event events[32];
        int n = epoll_wait(m.epfd, events, 32, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait");
            start_stop(STOP_FAST, 1);
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL)
                on_signal();
            else if (!control_dispatch(events[i].data.ptr))
                on_ipc(events[i].data.ptr);
        }
    }

    log_notice("exiting");
    cleanup(); /* releases the pid file lock: `sluice stop` returns once it is gone */
    return m.exit_status;
}
