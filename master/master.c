/* Master: owns its loop (common/ev.h: the signalfd, the control socket, and through
 * supervise.c the workers' socketpairs), the signals, binary upgrades and the order of start-up
 * and shutdown. The generations of workers are supervise.c's. It never blocks on a child. */
#include "master/master.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/ev.h"
#include "common/log.h"
#include "common/proctitle.h"
#include "common/sdnotify.h"
#include "master/control.h"
#include "master/gen.h"
#include "master/listen.h"
#include "master/supervise.h"

/* DRAINING: a graceful stop waits drain_delay, serving, before it stops the workers. */
enum stop_mode { RUNNING, DRAINING, STOP_GRACEFUL, STOP_FAST };

/* The master's own state; the workers' is supervise.c's. */
static struct {
    struct ev_io sig_io;      /* the signalfd */
    struct ev_timer deadline; /* supervise_tick's next deadline */
    struct ev_timer drain;    /* DRAINING: drain_delay ends, the graceful stop proper begins */
    int pid_fd, notify_fd;
    enum stop_mode stopping;
    int exit_status;
    pid_t upgrade_pid; /* the new master of a binary upgrade, while it lives */
    bool upgraded;     /* paths now belong to that new master */
    bool from_upgrade; /* started by a binary upgrade: the old master is our parent */
    pid_t parent_master;
    char pid_path[CFG_PATH_MAX]; /* the pid file this master holds (.oldbin after USR2) */
    char **argv;                 /* to exec again for a binary upgrade */
} m = {.sig_io.fd = -1, .pid_fd = -1, .notify_fd = -1};

static void ctl_reopen(void);
static int open_control(const struct cfg *cfg, char *err, size_t errlen);

void
master_set_argv(char **argv)
{
    m.argv = argv;
}

/* After an upgrade the service goes on in the new master; a new master stopping while the
 * old one still runs is a rollback: neither ends the service. */
static bool
service_goes_on(void)
{
    return m.upgraded || (m.from_upgrade && getppid() == m.parent_master);
}

/* The stop proper: the workers get SIGQUIT (finish in flight, close idle connections) or
 * SIGTERM, and none is respawned. */
static void
stop_workers(enum stop_mode mode)
{
    m.stopping = mode;
    ev_timer_disarm(&m.drain);
    supervise_stop(mode == STOP_GRACEFUL);
    log_notice("%s stop", mode == STOP_FAST ? "fast" : "graceful");
    if (!service_goes_on())
        sd_notifyf("STOPPING=1\nSTATUS=%s stop", mode == STOP_FAST ? "fast" : "graceful");
}

/* drain_delay is over: the graceful stop proper. */
static void
on_drain_end(struct ev_timer *t)
{
    (void)t;
    if (m.stopping == DRAINING)
        stop_workers(STOP_GRACEFUL);
}

/* A graceful stop that ends the service first drains: every worker (and any forked from now
 * on) answers 503 on health_path, and for drain_delay the instance serves on as before, so a
 * load balancer takes it out before its listeners close. Not when the service goes on in
 * another master (the end of an upgrade, a rollback): that one serves the same sockets and
 * answers the health checks, so a drain would only delay. A second QUIT does not restart the
 * drain; TERM/INT during it stops at once. */
static void
start_stop(enum stop_mode mode, int status)
{
    if (m.stopping == STOP_FAST || m.stopping == mode ||
        (m.stopping == DRAINING && mode == STOP_GRACEFUL))
        return;
    m.exit_status = status;
    const struct cfg *cfg = supervise_cfg();
    if (mode == STOP_GRACEFUL && m.stopping == RUNNING && !service_goes_on()) {
        supervise_drain();
        if (cfg && cfg->drain_delay_ms > 0) {
            m.stopping = DRAINING;
            log_notice("draining for %lld ms before stopping", (long long)cfg->drain_delay_ms);
            sd_notifyf("STOPPING=1\nSTATUS=draining for %lld ms", (long long)cfg->drain_delay_ms);
            if (ev_timer_arm(&m.drain, ev_now() + cfg->drain_delay_ms) == 0)
                return;
            log_error("arming the drain timer; stopping now");
        }
    }
    stop_workers(mode);
}

/* ---- binary upgrade ---- */

/* In the forked child of USR2: exec the binary again with every listening socket handed over
 * in $SLUICE_INHERIT. */
static void __attribute__((noreturn)) upgrade_exec(void)
{
    char env[8192];
    sigset_t none;
    if (listen_export(env, sizeof(env)) < 0)
        _exit(127);
    setenv("SLUICE_INHERIT", env, 1);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(m.argv[0], m.argv);
    log_error("upgrade: exec %s", m.argv[0]);
    _exit(127);
}

/* USR2, as in nginx: rename our pid file to .oldbin and fork+exec the binary (the new one, if it
 * was replaced) with the same arguments. Both masters' workers then accept on the same sockets;
 * the operator sends WINCH (our workers finish and leave) and QUIT (we leave) to us, or QUIT to
 * the new master to roll back. */
static void
upgrade(void)
{
    char oldbin[CFG_PATH_MAX];
    if (m.upgrade_pid || m.stopping || m.argv == NULL) {
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
    if (pid == 0)
        upgrade_exec();
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

/* A child that is no worker exited: when it is the new master, take the pid file, the control
 * socket and the port file back. */
static void
other_exit(void *ctx, pid_t pid, int status)
{
    char err[CFG_ERR_MAX];
    size_t n = strlen(m.pid_path);
    (void)ctx;
    if (modcheck_reaped(pid, status) || pid != m.upgrade_pid || pid == 0)
        return;
    m.upgrade_pid = 0;
    if (n > 7 && strcmp(m.pid_path + n - 7, ".oldbin") == 0) {
        char orig[CFG_PATH_MAX];
        snprintf(orig, sizeof(orig), "%.*s", (int)(n - 7), m.pid_path);
        if (rename(m.pid_path, orig) == 0)
            snprintf(m.pid_path, sizeof(m.pid_path), "%s", orig);
    }
    m.upgraded = false;
    const struct cfg *cfg = supervise_cfg();
    control_close(false);
    if (cfg && open_control(cfg, err, sizeof(err)) < 0)
        log_errorx("%s", err);
    supervise_write_port_file(); /* the new master removed it on its way out */
    sd_notifyf("MAINPID=%d\nREADY=1\nSTATUS=upgrade rolled back", (int)getpid());
    log_errorx("upgrade: the new master exited (%s %d); rolled back, this master serves%s",
               WIFSIGNALED(status) ? "signal" : "status",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
               supervise_winched() ? " again after a HUP (its workers were stopped by WINCH)" : "");
}

/* WINCH after USR2: our workers finish their requests and leave; none is respawned. */
static void
winch(void)
{
    if (!m.upgrade_pid) {
        log_warnx("WINCH ignored: no upgrade under way");
        return;
    }
    supervise_winch();
    log_notice("WINCH: workers finish their requests and stop; the new master (pid %d) serves",
               (int)m.upgrade_pid);
}

/* ---- signals ---- */

static void
on_signo(uint32_t signo)
{
    switch (signo) {
    case SIGTERM:
    case SIGINT:
        start_stop(STOP_FAST, 0);
        break;
    case SIGQUIT:
        start_stop(STOP_GRACEFUL, 0);
        break;
    case SIGHUP:
        if (!m.stopping)
            supervise_reload();
        break;
    case SIGUSR1:
        ctl_reopen();
        break;
    case SIGCHLD:
        supervise_reap();
        break;
    case SIGTTIN:
    case SIGTTOU:
        if (!m.stopping && !supervise_winched())
            supervise_scale(signo == SIGTTIN ? 1 : -1);
        break;
    case SIGUSR2:
        upgrade();
        break;
    case SIGWINCH:
        winch();
        break;
    }
}

static void
on_signal(struct ev_io *io, uint32_t events)
{
    struct signalfd_siginfo si;
    (void)events;
    while (read(io->fd, &si, sizeof(si)) == sizeof(si))
        on_signo(si.ssi_signo);
}

/* Handlers would only set flags; a signalfd in the loop does the same without races. Returns
 * the signalfd, or -1. */
static int
setup_signals(void)
{
    static const int handled[] = {SIGTERM, SIGINT,  SIGQUIT, SIGHUP,  SIGUSR1,
                                  SIGCHLD, SIGTTIN, SIGTTOU, SIGUSR2, SIGWINCH};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        sigaddset(&set, handled[i]);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* ---- control socket ---- */

static void
ctl_reload(void)
{
    if (m.stopping) {
        control_reload_done(false, "stopping");
        return;
    }
    supervise_reload();
}

static void
ctl_stop(bool graceful)
{
    start_stop(graceful ? STOP_GRACEFUL : STOP_FAST, 0);
}

/* Reopen (USR1, `sluice reopen`): the master reopens the error log by path, as root when it
 * started as root, and hands the new descriptor to every live worker over its socketpair. A
 * worker forked later inherits the master's descriptor, whose number the reopen keeps. Each
 * generation's access log file goes the same way (a worker flushes into the old one first). */
static void
ctl_reopen(void)
{
    log_notice("reopening logs");
    int fd = log_reopen() == 0 ? log_file_fd() : -1;
    if (fd >= 0) /* else stderr, or the reopen failed and was logged: workers keep theirs */
        supervise_hand_log(fd);
    supervise_reopen_access_logs();
}

static void
ctl_status(char *buf, size_t len, bool json)
{
    size_t n = json ? (size_t)snprintf(buf, len, "ok\n")
                    : (size_t)snprintf(buf, len, "ok: running (pid %d)%s\n", (int)getpid(),
                                       m.stopping ? ", stopping" : "");
    if (n < len)
        supervise_status(buf + n, len - n, json, m.stopping);
}

static const struct control_ops ctl_ops = {
    .reload = ctl_reload,
    .stop = ctl_stop,
    .reopen = ctl_reopen,
    .status = ctl_status,
};

static int
open_control(const struct cfg *cfg, char *err, size_t errlen)
{
    char path[CFG_PATH_MAX];
    control_path(cfg, path, sizeof(path));
    return control_open(path, &ctl_ops, err, errlen);
}

/* ---- what supervision tells the master ---- */

/* In a new worker: the master's descriptors are not its business. The loop's epoll fd is
 * closed by the worker's own ev_init. */
static void
child_setup(void *ctx)
{
    (void)ctx;
    control_forget();
    modcheck_forget();
    close(m.sig_io.fd);
    close(m.pid_fd);
    if (m.notify_fd >= 0)
        close(m.notify_fd);
}

static void
reload_done(void *ctx, bool ok, const char *text)
{
    (void)ctx;
    control_reload_done(ok, text);
}

/* The first generation serves: tell the parent waiting in `sluice -d`. */
static void
started(void *ctx)
{
    (void)ctx;
    if (m.notify_fd >= 0) {
        ssize_t rc = write(m.notify_fd, "R", 1);
        (void)rc;
        close(m.notify_fd);
        m.notify_fd = -1;
    }
}

static void
start_failed(void *ctx)
{
    (void)ctx;
    start_stop(STOP_FAST, 1);
}

static const struct supervise_events events = {
    .child_setup = child_setup,
    .reload_done = reload_done,
    .started = started,
    .start_failed = start_failed,
    .other_exit = other_exit,
};

/* ---- the loop ---- */

/* Supervision's deadlines, all behind one heap timer: it wakes the loop, and before each sleep
 * the next deadline is computed again (every event may have moved it). */
static void
on_deadline(struct ev_timer *t)
{
    (void)t;
    supervise_tick(ev_now());
}

static void
before_sleep(void *arg)
{
    (void)arg;
    int64_t next = supervise_tick(clock_mono_ms());
    if (m.stopping >= STOP_GRACEFUL && supervise_live() == 0) {
        ev_stop();
        return;
    }
    if (next == INT64_MAX)
        ev_timer_disarm(&m.deadline);
    else if (!ev_timer_armed(&m.deadline) || m.deadline.deadline_ms != next)
        ev_timer_arm(&m.deadline, next);
}

static int
setup_loop(void)
{
    if (ev_init() < 0)
        return -1;
    m.sig_io = (struct ev_io){.fd = setup_signals(), .cb = on_signal};
    m.deadline = (struct ev_timer){.cb = on_deadline};
    m.drain = (struct ev_timer){.cb = on_drain_end};
    if (m.sig_io.fd < 0 || ev_set(&m.sig_io, EV_READ) < 0 ||
        ev_hook_add(EV_BEFORE_SLEEP, before_sleep, NULL) < 0) {
        log_error("setting up the master loop");
        return -1;
    }
    return 0;
}

/* A start-up error: on stderr (the operator is waiting for the command to return) and in the
 * error log when that is a file. */
static void
start_error(const struct cfg *cfg, const char *where, const char *err)
{
    if (where)
        fprintf(stderr, "sluice: %s: %s\n", where, err);
    else
        fprintf(stderr, "sluice: %s\n", err);
    if (strcmp(cfg->error_log, "stderr") != 0)
        log_errorx("%s", err);
}

static int
acquire_sockets(struct cfg *cfg, int *lidx)
{
    char err[CFG_ERR_MAX];
    int inherited = listen_inherit(err, sizeof(err));
    if (inherited < 0 || listen_acquire(cfg, lidx, err, sizeof(err)) < 0) {
        start_error(cfg, NULL, err);
        return -1;
    }
    if (inherited > 0)
        log_notice("took over %d listening socket groups from the previous master or systemd",
                   inherited);
    listen_drop_unclaimed();
    return 0;
}

/* Runs until every worker is gone after a stop; the ownership of `cfg` passes to
 * supervision. */
static int
serve(struct cfg *cfg, struct tls_set *tls, struct mod_set *mods, const int *lidx,
      int access_log_fd)
{
    proctitle_set("sluice: master%s%s", cfg->file[0] ? " -c " : "", cfg->file);
    log_notice("sluice %s starting %d workers (root %s)", SLUICE_VERSION, cfg->workers, cfg->root);
    if (supervise_start(cfg, tls, mods, lidx, access_log_fd) < 0)
        start_stop(STOP_FAST, 1);
    while (ev_run() < 0) /* epoll_wait failed (logged): stop, and keep reaping */
        start_stop(STOP_FAST, 1);
    log_notice("exiting");
    return m.exit_status;
}

int
master_run(struct cfg *cfg, struct tls_set *tls, struct mod_set *mods, const char *cfg_path,
           int pid_fd, int notify_fd)
{
    char err[CFG_ERR_MAX];
    int lidx[CFG_MAX_LISTEN];
    int status = 1;
    bool listening = false, supervising = false, controlling = false;

    m.pid_fd = pid_fd;
    m.notify_fd = notify_fd;
    snprintf(m.pid_path, sizeof(m.pid_path), "%s", cfg->pid_file);
    m.from_upgrade = getenv("SLUICE_INHERIT") != NULL;
    m.parent_master = getppid();
    if (acquire_sockets(cfg, lidx) < 0)
        goto fail;
    listening = true;
    if (supervise_init(cfg_path, &events) < 0)
        goto fail;
    supervising = true;
    if (setup_loop() < 0)
        goto fail;
    if (open_control(cfg, err, sizeof(err)) < 0) {
        start_error(cfg, cfg->file[0] ? cfg->file : "built-in defaults", err);
        goto fail;
    }
    controlling = true;
    int access_log_fd; /* opened as the master, like every log (common/ipc.h) */
    if (gen_access_log_open(cfg, &access_log_fd, err, sizeof(err)) < 0) {
        start_error(cfg, NULL, err);
        goto fail;
    }
    status = serve(cfg, tls, mods, lidx, access_log_fd);
    cfg = NULL; /* supervision's now */
    tls = NULL;
    mods = NULL;

fail:
    /* After a binary upgrade the paths (control socket, port file, unix sockets) are the new
     * master's: only our own (.oldbin) pid file goes. */
    if (controlling)
        control_close(!m.upgraded);
    if (m.sig_io.fd >= 0)
        close(m.sig_io.fd);
    if (supervising)
        supervise_fini(m.upgraded);
    if (listening)
        listen_close_all(!m.upgraded);
    free(cfg);
    tls_set_free(tls);
    mod_set_close(mods);
    if (m.notify_fd >= 0)
        close(m.notify_fd); /* without the byte: start-up failed */
    unlink(m.pid_path);
    close(m.pid_fd); /* releases the pid file lock: `sluice stop` returns once it is gone */
    return status;
}
