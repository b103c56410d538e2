/* Validating application modules in a short-lived child (modcheck.h). The child runs module
 * code (constructors at dlopen, the check hook), so the master trusts nothing it sends: one
 * record of a fixed size and kind, the text cut and cleaned, the descriptors checked to be
 * sealed memfds, and a deadline after which the child is killed. */
#include "master/modcheck.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/ev.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/privs.h"
#include "include/sluice.h"

#define MODCHECK_MAX_BYTES (256LL << 20)
#define MODCHECK_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define MODCHECK_CHILD_FD 3

/* The check in flight (reload), and children killed or finished but not reaped yet. */
static struct {
    pid_t pid;
    struct ev_io io;
    struct ev_timer deadline;
    const struct cfg *cfg;
    int app;     /* the module being checked (its last PROGRESS), -1 before the first */
    bool eof;    /* its socket closed without a result: waiting for its exit status */
    bool exited; /* reaped, with `status` */
    int status;
    modcheck_done_fn *done;
    void *arg;
} chk = {.io = {.fd = -1}};
static pid_t unreaped[8];

void
mod_set_close(struct mod_set *set)
{
    if (set == NULL)
        return;
    for (int i = 0; i < set->n; i++)
        if (set->fd[i] >= 0)
            close(set->fd[i]);
    set->n = 0;
}

/* ---- In the child ---- */

static void __attribute__((format(printf, 3, 4)))
child_send(int type, int app, const char *fmt, ...)
{
    struct modcheck_msg m = {.magic = MODCHECK_MAGIC, .type = (uint32_t)type, .app = app};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m.text, sizeof(m.text), fmt, ap);
    va_end(ap);
    (void)ipc_send_record(MODCHECK_CHILD_FD, &m, sizeof(m), NULL, 0);
}

/* Copy the module at `path` into a sealed memfd. Returns it, or -1 with the reason in why. */
static int
snapshot(const struct cfg_app *a, char *why, size_t len)
{
    char buf[65536];
    struct stat st;
    int src = open(a->module, O_RDONLY | O_CLOEXEC);
    if (src < 0 || fstat(src, &st) < 0) {
        snprintf(why, len, "cannot open: %s", strerror(errno));
        goto fail_src;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > MODCHECK_MAX_BYTES) {
        snprintf(why, len, "cannot open: %s",
                 S_ISREG(st.st_mode) ? "larger than 256 MB" : "not a regular file");
        goto fail_src;
    }
    char name[CFG_APP_NAME_MAX + 16];
    snprintf(name, sizeof(name), "sluice-app-%s", a->name);
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        snprintf(why, len, "memfd_create: %s", strerror(errno));
        goto fail_src;
    }
    ssize_t n;
    while ((n = read(src, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)n) != n) {
            snprintf(why, len, "copying into a memfd: %s", strerror(errno));
            goto fail;
        }
    if (n < 0) {
        snprintf(why, len, "cannot read: %s", strerror(errno));
        goto fail;
    }
    if (fcntl(fd, F_ADD_SEALS, MODCHECK_SEALS) < 0) {
        snprintf(why, len, "sealing its memfd: %s", strerror(errno));
        goto fail;
    }
    close(src);
    return fd;
fail:
    close(fd);
fail_src:
    if (src >= 0)
        close(src);
    return -1;
}

/* Load the snapshot `fd` of app `a` as the workers will, and run its check. 0, or -1 with the
 * reason in why. */
static int
validate(const struct cfg_app *a, int fd, char *why, size_t len)
{
    char path[64], msg[CFG_ERR_MAX - 64] = ""; /* room for "check: " */
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        /* dlerror names the snapshot ("/proc/self/fd/N: ..."): the operator knows the file. */
        const char *e = dlerror();
        size_t pn = strlen(path);
        if (e && strncmp(e, path, pn) == 0 && e[pn] == ':')
            e += pn + 1 + (e[pn + 1] == ' ');
        snprintf(why, len, "cannot load: %s", e ? e : "dlopen failed");
        return -1;
    }
    const struct sl_app_hooks *hooks = dlsym(h, SL_APP_SYMBOL);
    if (hooks == NULL) {
        snprintf(why, len, "no symbol %s (not a sluice application module)", SL_APP_SYMBOL);
        return -1;
    }
    if (hooks->abi != SL_ABI_VERSION) {
        snprintf(why, len,
                 "ABI version %u, this sluice speaks %u (rebuild it against this "
                 "sluice's sluice.h)",
                 hooks->abi, SL_ABI_VERSION);
        return -1;
    }
    if (hooks->request == NULL) {
        snprintf(why, len, "no request hook");
        return -1;
    }
    if (hooks->check && hooks->check((const struct sl_section *)a, msg, sizeof(msg)) != 0) {
        msg[sizeof(msg) - 1] = '\0';
        snprintf(why, len, "check: %s", msg[0] ? msg : "refused (no message)");
        return -1;
    }
    return 0;
}

static void
child_sendfds(const int *fds, int n)
{
    struct modcheck_msg m = {
        .magic = MODCHECK_MAGIC, .type = MODCHECK_RESULT, .app = -1, .nfd = (uint32_t)n};
    (void)ipc_send_record(MODCHECK_CHILD_FD, &m, sizeof(m), fds, n);
}

/* The child: nothing of the master's but its stdio and the socket, default signals, `user`. */
static void __attribute__((noreturn)) child_main(const struct cfg *cfg, int sock)
{
    char why[CFG_ERR_MAX];
    int fds[CFG_MAX_APPS];
    sigset_t none;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    if (sock != MODCHECK_CHILD_FD && dup2(sock, MODCHECK_CHILD_FD) < 0)
        _exit(2);
    close_range(MODCHECK_CHILD_FD + 1, ~0U, 0);
    if (privs_drop(cfg, why, sizeof(why)) < 0) {
        child_send(MODCHECK_RESULT, 0, "%s", why);
        _exit(1);
    }
    for (int i = 0; i < cfg->napps; i++) {
        child_send(MODCHECK_PROGRESS, i, "checking");
        fds[i] = snapshot(&cfg->app[i], why, sizeof(why));
        if (fds[i] < 0 || validate(&cfg->app[i], fds[i], why, sizeof(why)) < 0) {
            child_send(MODCHECK_RESULT, i, "%s", why);
            _exit(1);
        }
    }
    child_sendfds(fds, cfg->napps);
    _exit(0);
}

/* ---- In the master ---- */

static void
forget_child(pid_t pid)
{
    for (size_t i = 0; i < sizeof(unreaped) / sizeof(unreaped[0]); i++)
        if (unreaped[i] == 0) {
            unreaped[i] = pid;
            return;
        }
}

static void finish_without_answer(void);

bool
modcheck_reaped(pid_t pid, int status)
{
    for (size_t i = 0; i < sizeof(unreaped) / sizeof(unreaped[0]); i++)
        if (unreaped[i] == pid && pid > 0) {
            unreaped[i] = 0;
            return true;
        }
    if (pid != chk.pid || pid <= 0)
        return false;
    chk.pid = 0;
    chk.exited = true;
    chk.status = status;
    if (chk.eof)
        finish_without_answer();
    return true;
}

/* Fork the child. Returns its pid with the master's end of the socket in *fd, or -1. */
static pid_t
spawn(const struct cfg *cfg, int *fd, char *err, size_t errlen)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errlen, "%s: checking application modules: socketpair: %s", cfg->file,
                 strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        child_main(cfg, sv[1]);
    }
    close(sv[1]);
    if (pid < 0) {
        snprintf(err, errlen, "%s: checking application modules: fork: %s", cfg->file,
                 strerror(errno));
        close(sv[0]);
        return -1;
    }
    *fd = sv[0];
    return pid;
}

/* Copy the child's text into `out`, printable ASCII only. */
static void
clean_text(const char *in, char *out, size_t outlen)
{
    size_t j = 0;
    for (size_t i = 0; i < CFG_ERR_MAX && in[i] && j + 1 < outlen; i++)
        out[j++] = (in[i] >= ' ' && in[i] < 0x7f) ? in[i] : '?';
    out[j] = '\0';
}

static void __attribute__((noinline)) /* the message may be cut: gcc need not prove it fits */
app_error(const struct cfg *cfg, int app, const char *why, char *err, size_t errlen)
{
    const struct cfg_app *a = &cfg->app[app];
    snprintf(err, errlen, "%s:%d: app \"%s\": module %s: %s", cfg->file, a->line, a->name,
             a->module, why);
}

/* A sealed memfd, or why not. */
static bool
sealed_memfd(int fd)
{
    struct stat st;
    int seals = fcntl(fd, F_GET_SEALS);
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && seals >= 0 &&
           (seals & MODCHECK_SEALS) == MODCHECK_SEALS;
}

int
modcheck_receive(int fd, const struct cfg *cfg, int *app, struct mod_set *set, char *err,
                 size_t errlen)
{
    struct modcheck_msg m;
    int fds[CFG_MAX_APPS], nfds, total;
    bool cut;
    ssize_t n = ipc_recv_record(fd, &m, sizeof(m), fds, CFG_MAX_APPS, &nfds, &total, &cut);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 1;
    bool ok_shape = n == (ssize_t)sizeof(m) && !cut && m.magic == MODCHECK_MAGIC;
    char text[CFG_ERR_MAX];
    if (ok_shape)
        clean_text(m.text, text, sizeof(text));
    if (ok_shape && m.type == MODCHECK_PROGRESS && m.app >= 0 && m.app < cfg->napps && total == 0) {
        *app = m.app;
        return 1;
    }
    int rc = -1;
    if (n == 0) {
        snprintf(err, errlen, "EOF");
    } else if (!ok_shape || m.type != MODCHECK_RESULT) {
        snprintf(err, errlen, "%s: the module check sent a malformed report", cfg->file);
    } else if (m.app >= 0 && m.app < cfg->napps && total == 0) {
        app_error(cfg, m.app, text, err, errlen);
        rc = 0;
    } else if (m.app == -1 && m.nfd == (uint32_t)cfg->napps && total == cfg->napps) {
        rc = 0;
        for (int i = 0; i < nfds && rc == 0; i++)
            if (!sealed_memfd(fds[i])) {
                app_error(cfg, i, "the check sent back something else than a sealed snapshot", err,
                          errlen);
                rc = -1;
            }
        if (rc == 0) {
            set->n = nfds;
            memcpy(set->fd, fds, sizeof(int) * (size_t)nfds);
            err[0] = '\0';
            return 0;
        }
    } else {
        snprintf(err, errlen, "%s: the module check sent a malformed report", cfg->file);
    }
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    return rc;
}

/* The child ended without a result: why, from its status if it is known. */
static void
no_answer(const struct cfg *cfg, int app, int status, bool known, char *err, size_t errlen)
{
    char why[96];
    if (known && WIFSIGNALED(status))
        snprintf(why, sizeof(why),
                 "the check ended without an answer (the module killed its process? signal %d)",
                 WTERMSIG(status));
    else if (known)
        snprintf(why, sizeof(why), "the check ended without an answer (exit status %d)",
                 WEXITSTATUS(status));
    else
        snprintf(why, sizeof(why), "the check ended without an answer");
    app_error(cfg, app < 0 ? 0 : app, why, err, errlen);
}

static void
timed_out(const struct cfg *cfg, int app, char *err, size_t errlen)
{
    char why[160];
    snprintf(why, sizeof(why),
             "the check did not finish within %lld ms (module_check_timeout; a constructor or "
             "check hook that hangs?)",
             (long long)cfg->module_check_timeout_ms);
    app_error(cfg, app < 0 ? 0 : app, why, err, errlen);
}

int
modcheck_run(const struct cfg *cfg, struct mod_set *out, char *err, size_t errlen)
{
    struct mod_set set = {0};
    int fd, app = -1, rc = 1, status = 0;
    if (out)
        out->n = 0;
    if (cfg->napps == 0)
        return 0;
    pid_t pid = spawn(cfg, &fd, err, errlen);
    if (pid < 0)
        return -1;
    int64_t deadline = clock_mono_ms() + cfg->module_check_timeout_ms;
    while (rc == 1) {
        int64_t left = deadline - clock_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR)) {
            timed_out(cfg, app, err, errlen);
            kill(pid, SIGKILL);
            rc = -1;
            break;
        }
        rc = modcheck_receive(fd, cfg, &app, &set, err, errlen);
    }
    close(fd);
    if (rc < 0 && strcmp(err, "EOF") != 0)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc < 0 && strcmp(err, "EOF") == 0)
        no_answer(cfg, app, status, true, err, errlen);
    if (rc < 0 || err[0]) {
        mod_set_close(&set);
        return -1;
    }
    if (out)
        *out = set;
    else
        mod_set_close(&set);
    return 0;
}

/* ---- On the loop ---- */

static void
finish(struct mod_set *set, const char *err)
{
    modcheck_done_fn *done = chk.done;
    ev_timer_disarm(&chk.deadline);
    if (chk.io.fd >= 0) {
        if (chk.io.events)
            ev_set(&chk.io, 0);
        close(chk.io.fd);
        chk.io.fd = -1;
    }
    if (chk.pid > 0) {
        kill(chk.pid, SIGKILL); /* done with it, or it overstayed: reaped on SIGCHLD */
        forget_child(chk.pid);
    }
    chk.pid = 0;
    chk.done = NULL;
    if (done)
        done(chk.arg, set, err);
}

/* The child closed its socket without a result: say how it ended, once it is reaped. */
static void
finish_without_answer(void)
{
    char err[CFG_ERR_MAX];
    no_answer(chk.cfg, chk.app, chk.status, chk.exited, err, sizeof(err));
    finish(NULL, err);
}

static void
on_child(struct ev_io *io, uint32_t events)
{
    char err[CFG_ERR_MAX];
    struct mod_set set = {0};
    (void)events;
    int rc = modcheck_receive(io->fd, chk.cfg, &chk.app, &set, err, sizeof(err));
    if (rc == 1)
        return;
    if (rc < 0 && strcmp(err, "EOF") == 0) {
        int status;
        ev_set(&chk.io, 0); /* an EOF stays readable: stop watching it */
        chk.eof = true;
        if (!chk.exited && chk.pid > 0 && waitpid(chk.pid, &status, WNOHANG) == chk.pid)
            modcheck_reaped(chk.pid, status);
        else if (chk.exited)
            finish_without_answer();
        return; /* else on SIGCHLD (modcheck_reaped), or at the deadline */
    }
    finish(err[0] ? NULL : &set, err[0] ? err : NULL);
}

static void
on_deadline(struct ev_timer *t)
{
    char err[CFG_ERR_MAX];
    (void)t;
    timed_out(chk.cfg, chk.app, err, sizeof(err));
    finish(NULL, err);
}

int
modcheck_start(const struct cfg *cfg, modcheck_done_fn *done, void *arg, char *err, size_t errlen)
{
    int fd;
    if (chk.done) {
        snprintf(err, errlen, "a module check is already running");
        return -1;
    }
    pid_t pid = spawn(cfg, &fd, err, errlen);
    if (pid < 0)
        return -1;
    chk.pid = pid;
    chk.cfg = cfg;
    chk.app = -1;
    chk.eof = chk.exited = false;
    chk.done = done;
    chk.arg = arg;
    chk.io = (struct ev_io){.fd = fd, .cb = on_child};
    chk.deadline = (struct ev_timer){.cb = on_deadline};
    if (ev_set(&chk.io, EV_READ) < 0 ||
        ev_timer_arm(&chk.deadline, ev_now() + cfg->module_check_timeout_ms) < 0) {
        snprintf(err, errlen, "%s: checking application modules: %s", cfg->file, strerror(errno));
        chk.done = NULL;
        finish(NULL, NULL);
        return -1;
    }
    return 0;
}

bool
modcheck_busy(void)
{
    return chk.done != NULL;
}

void
modcheck_cancel(void)
{
    if (chk.done)
        finish(NULL, "stopping");
}

void
modcheck_forget(void)
{
    if (chk.io.fd >= 0)
        close(chk.io.fd);
}
