/* Control socket (see control.h). Clients are read without blocking the master: each is an
 * fd with a callback on the master's loop and a small line buffer; a client that sends more
 * than a line is dropped. */
#include "master/control.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/log.h"

#define CONTROL_CLIENTS 16

/* A client's io.cb stays set once it was used: an event still in the loop's batch for a
 * client closed earlier in it finds fd -1. */
struct client {
    struct ev_io io; /* io.fd -1: free */
    size_t len;
    bool waiting_reload;
    char line[128];
};

static struct {
    struct ev_io io; /* the listening socket; fd -1: closed */
    char path[108];
    const struct control_ops *ops;
    struct client clients[CONTROL_CLIENTS];
} ctl = {.io.fd = -1};

static void on_accept(struct ev_io *io, uint32_t events);

void
control_path(const struct cfg *cfg, char *out, size_t outlen)
{
    size_t n = strlen(cfg->pid_file);
    if (cfg->control_socket[0])
        snprintf(out, outlen, "%s", cfg->control_socket);
    else if (n > 4 && strcmp(cfg->pid_file + n - 4, ".pid") == 0)
        snprintf(out, outlen, "%.*s.ctl", (int)(n - 4), cfg->pid_file);
    else
        snprintf(out, outlen, "%s.ctl", cfg->pid_file);
}

int
control_open(const char *path, const struct control_ops *ops, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "control_socket: path too long (at most 107 bytes): %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* 0600 from the start: no window in which another user could connect. */
    mode_t old = umask(0177);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || listen(fd, 16) < 0) {
        snprintf(err, errlen, "control_socket: cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ctl.io = (struct ev_io){.fd = fd, .cb = on_accept};
    if (ev_set(&ctl.io, EV_READ) < 0) {
        snprintf(err, errlen, "control_socket: watching it: %s", strerror(errno));
        close(fd);
        ctl.io.fd = -1;
        unlink(path);
        return -1;
    }
    for (int i = 0; i < CONTROL_CLIENTS; i++)
        ctl.clients[i].io.fd = -1;
    ctl.ops = ops;
    snprintf(ctl.path, sizeof(ctl.path), "%s", path);
    return 0;
}

static void
client_close(struct client *c)
{
    if (c->io.events)
        ev_set(&c->io, 0);
    if (c->io.fd >= 0)
        close(c->io.fd);
    c->io.fd = -1;
}

/* Answers are a few lines: a blocking-free best effort send, then close. */
static void
answer(struct client *c, const char *text)
{
    ssize_t rc = send(c->io.fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)rc;
    client_close(c);
}

void
control_close(bool unlink_path)
{
    for (int i = 0; i < CONTROL_CLIENTS; i++)
        client_close(&ctl.clients[i]);
    if (ctl.io.events)
        ev_set(&ctl.io, 0);
    if (ctl.io.fd >= 0) {
        close(ctl.io.fd);
        if (unlink_path)
            unlink(ctl.path);
    }
    ctl.io.fd = -1;
}

void
control_forget(void)
{
    for (int i = 0; i < CONTROL_CLIENTS; i++)
        if (ctl.clients[i].io.fd >= 0)
            close(ctl.clients[i].io.fd);
    if (ctl.io.fd >= 0)
        close(ctl.io.fd);
}

void
control_reload_done(bool ok, const char *text)
{
    char buf[CFG_ERR_MAX + 32];
    snprintf(buf, sizeof(buf), "%s: %s\n", ok ? "ok" : "error", text);
    for (int i = 0; i < CONTROL_CLIENTS; i++)
        if (ctl.clients[i].io.fd >= 0 && ctl.clients[i].waiting_reload)
            answer(&ctl.clients[i], buf);
}

static void
command(struct client *c)
{
    static char buf[CONTROL_ANSWER_MAX]; /* off the stack: status may be long */
    if (strcmp(c->line, "status") == 0 || strcmp(c->line, "status json") == 0) {
        ctl.ops->status(buf, sizeof(buf), c->line[6] != '\0');
        answer(c, buf);
    } else if (strcmp(c->line, "reload") == 0) {
        c->waiting_reload = true;
        ctl.ops->reload();
    } else if (strcmp(c->line, "stop") == 0 || strcmp(c->line, "quit") == 0) {
        answer(c, "ok: stopping\n");
        ctl.ops->stop(c->line[0] == 'q');
    } else if (strcmp(c->line, "reopen") == 0) {
        ctl.ops->reopen();
        answer(c, "ok: logs reopened\n");
    } else {
        answer(c, "error: unknown command (reload, stop, quit, reopen, status)\n");
    }
}

/* Has the client closed its end entirely (POLLHUP; a half-close, shutdown(SHUT_WR), is not
 * that)? The CLI does so only when it gave up waiting: its command may have sat in the queue
 * while this master was stopped or busy, and it has already fallen back to a signal. Running the
 * command now would act twice, or long after anyone asked. */
static bool
client_gone(const struct client *c)
{
    struct pollfd pfd = {.fd = c->io.fd, .events = 0};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
}

static void
on_client(struct ev_io *io, uint32_t events)
{
    struct client *c = (struct client *)((char *)io - offsetof(struct client, io));
    (void)events;
    if (io->fd < 0)
        return; /* closed earlier in this batch */
    ssize_t n = recv(io->fd, c->line + c->len, sizeof(c->line) - 1 - c->len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    c->len += (size_t)n;
    c->line[c->len] = '\0';
    char *nl = strchr(c->line, '\n');
    if (nl == NULL) {
        if (c->len == sizeof(c->line) - 1)
            answer(c, "error: command too long\n");
        return;
    }
    *nl = '\0';
    /* The command is in; no more reading (a waiting reload answers later). */
    ev_set(io, 0);
    if (client_gone(c)) {
        log_notice("control: '%s' not run: its client left before it was read (a command that "
                   "timed out falls back to a signal)",
                   c->line);
        client_close(c);
        return;
    }
    command(c);
}

static void
on_accept(struct ev_io *io, uint32_t events)
{
    int fd;
    (void)events;
    while (io->fd >= 0 && (fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct client *c = NULL;
        for (int i = 0; i < CONTROL_CLIENTS && !c; i++)
            if (ctl.clients[i].io.fd < 0)
                c = &ctl.clients[i];
        if (c == NULL) {
            ssize_t rc = send(fd, "error: busy\n", 12, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)rc;
            close(fd);
            continue;
        }
        *c = (struct client){.io = {.fd = fd, .cb = on_client}};
        if (ev_set(&c->io, EV_READ) < 0)
            client_close(c);
    }
}

int
control_query(const char *path, const char *cmd, char *buf, size_t len, int timeout_ms)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t got = 0;
    buf[0] = '\0';
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return CONTROL_NONE;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* A full accept queue (a master stopped for long) blocks connect: bound it too. */
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        errno = saved;
        return saved == EAGAIN ? CONTROL_NO_ANSWER : CONTROL_NONE;
    }
    char line[64];
    snprintf(line, sizeof(line), "%s\n", cmd);
    if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0) {
        close(fd);
        return CONTROL_NONE;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (got < len - 1 && poll(&pfd, 1, timeout_ms) > 0) {
        ssize_t n = recv(fd, buf + got, len - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    /* Closed before the master read the command, it is never run (on_client). */
    close(fd);
    buf[got] = '\0';
    if (got == 0)
        return CONTROL_NO_ANSWER;
    return strncmp(buf, "ok", 2) == 0 ? 0 : 1;
}

int
control_request(const char *path, const char *cmd, int timeout_ms)
{
    char buf[4096];
    int rc = control_query(path, cmd, buf, sizeof(buf), timeout_ms);
    if (rc < 0)
        return rc;
    size_t len = strlen(buf);
    /* "ok: text" -> "sluice: text" */
    const char *text = strchr(buf, ':') ? strchr(buf, ':') + 2 : buf;
    fprintf(rc == 0 ? stdout : stderr, "sluice: %s%s", text, buf[len - 1] != '\n' ? "\n" : "");
    return rc;
}
