/* Listening sockets (see listen.h). */
#include "master/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"

struct listen_group listen_groups[LISTEN_MAX_GROUPS];

static int
open_one(const struct cfg_listen *l, bool reuseport, int backlog, char *err, size_t errlen)
{
    const struct sockaddr *sa = (const struct sockaddr *)&l->addr;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        goto fail;
    if (sa->sa_family != AF_UNIX) {
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
            goto fail;
        if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
            goto fail;
        if (sa->sa_family == AF_INET6 &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
            goto fail;
    } else {
        /* A socket file left by an earlier run would make bind fail; the pid file lock already
         * tells us no other instance of this config runs. Only sockets are removed. */
        struct stat st;
        const char *path = ((const struct sockaddr_un *)sa)->sun_path;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);
    }
    if (bind(fd, sa, l->addrlen) < 0 || listen(fd, backlog) < 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "cannot listen on %s: %s", l->text, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int
group_grow(struct listen_group *g, int want, int backlog, char *err, size_t errlen)
{
    while (g->nfds < want) {
        int fd = open_one(&g->bound, g->reuseport, backlog, err, errlen);
        if (fd < 0)
            return -1;
        if (g->nfds == 0) {
            /* Port 0: the first socket picks the port, the other slots bind the same one. */
            socklen_t len = sizeof(g->bound.addr);
            getsockname(fd, (struct sockaddr *)&g->bound.addr, &len);
            if (g->bound.addr.ss_family != AF_UNIX)
                g->bound.addrlen = len;
            cfg_format_addr((struct sockaddr *)&g->bound.addr, g->bound.addrlen, g->bound.text,
                            sizeof(g->bound.text));
            log_notice("listening on %s", g->bound.text);
        }
        g->fds[g->nfds++] = fd;
    }
    return 0;
}

static void
group_close_unlink(struct listen_group *g, bool unlink_unix)
{
    for (int i = 0; i < g->nfds; i++)
        close(g->fds[i]);
    if (unlink_unix && g->bound.addr.ss_family == AF_UNIX)
        unlink(((struct sockaddr_un *)&g->bound.addr)->sun_path);
    memset(g, 0, sizeof(*g));
}

static void
group_close(struct listen_group *g)
{
    group_close_unlink(g, true);
}

/* Drop the references of the first n groups in idx. */
static void
release_n(const int *idx, int n)
{
    for (int i = 0; i < n; i++) {
        struct listen_group *g = &listen_groups[idx[i]];
        if (--g->refs == 0)
            group_close(g);
    }
}

void
listen_release(const struct cfg *cfg, const int *idx)
{
    release_n(idx, cfg->nlisten);
}

int
listen_grow(int group, int want, int backlog, char *err, size_t errlen)
{
    struct listen_group *g = &listen_groups[group];
    return g->reuseport ? group_grow(g, want, backlog, err, errlen) : 0;
}

int
listen_slots(int group)
{
    const struct listen_group *g = &listen_groups[group];
    return g->reuseport ? g->nfds : 0;
}

void
listen_close_all(bool unlink_unix)
{
    for (int j = 0; j < LISTEN_MAX_GROUPS; j++)
        if (listen_groups[j].used)
            group_close_unlink(&listen_groups[j], unlink_unix);
}

void
listen_drop_unclaimed(void)
{
    for (int j = 0; j < LISTEN_MAX_GROUPS; j++)
        if (listen_groups[j].used && listen_groups[j].inherited && listen_groups[j].refs == 0) {
            log_notice("inherited socket %s is not in the configuration; closed",
                       listen_groups[j].bound.text);
            group_close(&listen_groups[j]);
        }
}

static struct listen_group *
free_group(void)
{
    for (int j = 0; j < LISTEN_MAX_GROUPS; j++)
        if (!listen_groups[j].used)
            return &listen_groups[j];
    return NULL;
}

/* A group for inherited descriptor(s): the address comes from the socket itself. */
static int
inherit_group(const int *fds, int nfds, bool reuseport, char *err, size_t errlen)
{
    struct listen_group *g = free_group();
    if (g == NULL) {
        snprintf(err, errlen, "too many inherited sockets");
        return -1;
    }
    memset(g, 0, sizeof(*g));
    socklen_t len = sizeof(g->bound.addr);
    if (getsockname(fds[0], (struct sockaddr *)&g->bound.addr, &len) < 0) {
        snprintf(err, errlen, "inherited fd %d is not a socket: %s", fds[0], strerror(errno));
        return -1;
    }
    g->bound.addrlen = len;
    cfg_format_addr((struct sockaddr *)&g->bound.addr, len, g->bound.text, sizeof(g->bound.text));
    g->used = true;
    g->inherited = true;
    g->reuseport = reuseport;
    for (int i = 0; i < nfds && i < CFG_MAX_WORKERS; i++) {
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        /* systemd passes blocking sockets unless NonBlocking=yes; workers need non-blocking. */
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        g->fds[g->nfds++] = fds[i];
    }
    /* The key a config line produces for this address: port 0 was resolved by the old master,
     * so claim by the configured text first (kept in $SLUICE_INHERIT), else by the address. */
    char key[sizeof(g->key)];
    snprintf(key, sizeof(key), "%s %s", g->bound.text, reuseport ? "reuseport" : "shared");
    memcpy(g->key, key, sizeof(key));
    return 0;
}

int
listen_inherit(char *err, size_t errlen)
{
    int adopted = 0;
    const char *spec = getenv("SLUICE_INHERIT");
    if (spec) {
        /* Lines "configured key<TAB>fd,fd,...". */
        char copy[8192];
        char *save = NULL;
        snprintf(copy, sizeof(copy), "%s", spec);
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *tab = strchr(line, '\t');
            int fds[CFG_MAX_WORKERS], n = 0;
            if (tab == NULL)
                continue;
            *tab = '\0';
            for (char *p = tab + 1; *p && n < CFG_MAX_WORKERS;) {
                fds[n++] = (int)strtol(p, &p, 10);
                if (*p == ',')
                    p++;
            }
            if (n == 0)
                continue;
            bool reuse = strstr(line, " reuseport") != NULL;
            if (inherit_group(fds, n, reuse, err, errlen) < 0)
                return -1;
            /* Keep the configured key ("127.0.0.1:0 reuseport"), so the same line claims it. */
            for (int j = LISTEN_MAX_GROUPS - 1; j >= 0; j--)
                if (listen_groups[j].used && listen_groups[j].inherited &&
                    listen_groups[j].fds[0] == fds[0]) {
                    snprintf(listen_groups[j].key, sizeof(listen_groups[j].key), "%s", line);
                    break;
                }
            adopted++;
        }
        unsetenv("SLUICE_INHERIT");
    }
    const char *lpid = getenv("LISTEN_PID"), *lfds = getenv("LISTEN_FDS");
    if (lpid && lfds && atoi(lpid) == (int)getpid()) {
        /* systemd socket activation: fds 3 .. 3+n-1, one socket per address. */
        for (int fd = 3; fd < 3 + atoi(lfds); fd++) {
            int on = 0;
            socklen_t ol = sizeof(on);
            getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &ol);
            if (inherit_group(&fd, 1, on != 0, err, errlen) < 0)
                return -1;
            adopted++;
        }
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
    }
    return adopted;
}

int
listen_export(char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int j = 0; j < LISTEN_MAX_GROUPS; j++) {
        const struct listen_group *g = &listen_groups[j];
        if (!g->used)
            continue;
        int w = snprintf(buf + n, len - n, "%s%s\t", n ? "\n" : "", g->key);
        if (w < 0 || (size_t)w >= len - n)
            return -1;
        n += (size_t)w;
        for (int i = 0; i < g->nfds; i++) {
            fcntl(g->fds[i], F_SETFD, 0); /* inherited across exec */
            w = snprintf(buf + n, len - n, "%s%d", i ? "," : "", g->fds[i]);
            if (w < 0 || (size_t)w >= len - n)
                return -1;
            n += (size_t)w;
        }
    }
    return 0;
}

int
listen_fd_for(int g, int slot, bool *shared)
{
    struct listen_group *grp = &listen_groups[g];
    *shared = !grp->reuseport;
    return grp->reuseport ? grp->fds[slot] : grp->fds[0];
}

int
listen_acquire(const struct cfg *cfg, int *idx, char *err, size_t errlen)
{
    char why[CFG_ERR_MAX];
    for (int i = 0; i < cfg->nlisten; i++) {
        const struct cfg_listen *l = &cfg->listen[i];
        bool reuse = cfg->reuseport && l->addr.ss_family != AF_UNIX;
        char key[160];
        snprintf(key, sizeof(key), "%s %s", l->text, reuse ? "reuseport" : "shared");

        int g = -1, free_slot = -1;
        for (int j = 0; j < LISTEN_MAX_GROUPS; j++) {
            if (listen_groups[j].used && strcmp(listen_groups[j].key, key) == 0)
                g = j;
            else if (!listen_groups[j].used && free_slot < 0)
                free_slot = j;
        }
        for (int j = 0; j < LISTEN_MAX_GROUPS && g < 0; j++) {
            /* A socket systemd passed without SO_REUSEPORT cannot get siblings bound beside
             * it: the workers share it (EPOLLEXCLUSIVE) whatever reuseport says. */
            struct listen_group *lg = &listen_groups[j];
            if (lg->used && lg->inherited && strcmp(lg->bound.text, l->text) == 0) {
                if (reuse && !lg->reuseport)
                    log_notice("listen %s: the inherited socket has no SO_REUSEPORT; workers "
                               "share it",
                               l->text);
                g = j;
            }
        }
        if (g >= 0) {
            listen_groups[g].inherited = false;
            reuse = listen_groups[g].reuseport;
        }
        bool twice = false;
        for (int k = 0; k < i && g >= 0; k++)
            twice |= idx[k] == g;
        if (twice || (g < 0 && free_slot < 0)) {
            snprintf(why, sizeof(why), twice ? "%s is given twice" : "too many addresses", l->text);
            goto fail;
        }
        if (g < 0) {
            g = free_slot;
            struct listen_group *grp = &listen_groups[g];
            memset(grp, 0, sizeof(*grp));
            grp->used = true;
            grp->reuseport = reuse;
            grp->bound = *l;
            snprintf(grp->key, sizeof(grp->key), "%s", key);
        }
        struct listen_group *grp = &listen_groups[g];
        if (group_grow(grp, reuse ? cfg->workers : 1, cfg->backlog, why, sizeof(why)) < 0) {
            if (grp->refs == 0)
                group_close(grp);
            goto fail;
        }
        grp->refs++;
        idx[i] = g;
        continue;
    fail:
        if (l->line)
            snprintf(err, errlen, "%s:%d: listen: %s", cfg->file, l->line, why);
        else
            snprintf(err, errlen, "listen: %s", why);
        release_n(idx, i);
        return -1;
    }
    return 0;
}
