/* Listening sockets (see listen.h). */
#include "master/listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
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
group_close(struct listen_group *g)
{
    for (int i = 0; i < g->nfds; i++)
        close(g->fds[i]);
    if (g->bound.addr.ss_family == AF_UNIX)
        unlink(((struct sockaddr_un *)&g->bound.addr)->sun_path);
    memset(g, 0, sizeof(*g));
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
listen_close_all(void)
{
    for (int j = 0; j < LISTEN_MAX_GROUPS; j++)
        if (listen_groups[j].used)
            group_close(&listen_groups[j]);
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
        bool twice = false;
        for (int k = 0; k < i && g >= 0; k++)
            twice |= idx[k] == g;
        if (twice || (g < 0 && free_slot < 0)) {
            snprintf(why, sizeof(why), twice ? "%s is given twice" : "too many addresses",
                     l->text);
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
