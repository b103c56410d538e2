/* Listening sockets (see listen.h). */
#include "master/listen.h"

#include <dirent.h>
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

struct listen_group {
    bool used;
    char key[160];           /* configured address + mode, never the flags: what a reload matches */
    struct cfg_listen bound; /* the address actually bound (port 0 resolved) */
    bool reuseport;
    int fds[CFG_MAX_WORKERS];
    int nfds;
    int refs;       /* generations using this group */
    bool inherited; /* from a binary upgrade or systemd; not yet claimed */
};

static struct listen_group listen_groups[LISTEN_MAX_GROUPS];

/* The master that handed us its sockets in a binary upgrade (0: none). Its sockets are ours
 * too while it lives: both masters' workers accept on them until it leaves. */
static pid_t upgrade_parent;

/* A listening socket seen in /proc/net/tcp{,6}: its address and inode. */
struct listener {
    struct sockaddr_storage addr;
    unsigned long inode;
};

/* Does "sa" (an entry of /proc/net/tcp{,6}, v4-mapped entries already made AF_INET) overlap
 * `want`: the same family and port, and the same address or either one the wildcard? v4 and
 * v6 never overlap: sluice's v6 sockets are IPV6_V6ONLY, and /proc does not show whether
 * another program's [::] socket is (if it is not and it has SO_REUSEPORT, this misses it). */
static bool
overlaps(const struct sockaddr_storage *sa, const struct sockaddr_storage *want)
{
    if (sa->ss_family != want->ss_family)
        return false;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)sa, *b = (const void *)want;
        return a->sin_port == b->sin_port &&
               (a->sin_addr.s_addr == b->sin_addr.s_addr || a->sin_addr.s_addr == INADDR_ANY ||
                b->sin_addr.s_addr == INADDR_ANY);
    }
    const struct sockaddr_in6 *a = (const void *)sa, *b = (const void *)want;
    return a->sin6_port == b->sin6_port &&
           (IN6_ARE_ADDR_EQUAL(&a->sin6_addr, &b->sin6_addr) ||
            IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&b->sin6_addr));
}

/* One line of /proc/net/tcp or tcp6 into `out` when it is a LISTEN socket. The kernel prints
 * each 32-bit word of the address as the number it holds in memory (network order bytes read
 * natively) and the port in host order. */
static bool
parse_proc_tcp(const char *line, bool v6, struct listener *out)
{
    char hex[33];
    unsigned port, state;
    if (sscanf(line, " %*u: %32[0-9A-Fa-f]:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", hex,
               &port, &state, &out->inode) != 4 ||
        state != 0x0A || strlen(hex) != (v6 ? 32u : 8u))
        return false;
    uint32_t words[4];
    for (int w = 0; w < (v6 ? 4 : 1); w++) {
        char word[9];
        memcpy(word, hex + 8 * w, 8);
        word[8] = '\0';
        words[w] = (uint32_t)strtoul(word, NULL, 16);
    }
    memset(&out->addr, 0, sizeof(out->addr));
    struct in6_addr a6;
    memcpy(&a6, words, sizeof(a6));
    if (!v6 || IN6_IS_ADDR_V4MAPPED(&a6)) {
        struct sockaddr_in *in = (struct sockaddr_in *)&out->addr;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        in->sin_addr.s_addr = v6 ? words[3] : words[0];
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->addr;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        in6->sin6_addr = a6;
    }
    return true;
}

/* Does process `pid` hold socket `inode` (one of its /proc/PID/fd links is "socket:[inode]")? */
static bool
pid_holds(pid_t pid, unsigned long inode)
{
    char path[64], link[64], want[40];
    bool held = false;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir(path);
    if (d == NULL)
        return false;
    for (struct dirent *e; !held && (e = readdir(d)) != NULL;) {
        ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = '\0';
            held = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return held;
}

static pid_t
parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
    int ppid = 0;
    if (p == NULL || sscanf(p, ") %*c %d", &ppid) != 1)
        return 0;
    return (pid_t)ppid;
}

/* The process holding socket `inode`: the first one /proc shows, then up its parents while they
 * hold it too, so a master is named rather than one of its workers. 0 when none is visible
 * (another user's, with /proc mounted hidepid). */
static pid_t
find_holder(unsigned long inode)
{
    pid_t pid = 0;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    for (struct dirent *e; pid == 0 && (e = readdir(d)) != NULL;) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (*end == '\0' && v > 0 && pid_holds((pid_t)v, inode))
            pid = (pid_t)v;
    }
    closedir(d);
    for (pid_t up; pid > 0 && (up = parent_of(pid)) > 1 && pid_holds(up, inode);)
        pid = up;
    return pid;
}

/* /proc/PID/cmdline with spaces between the arguments (a master shows its title, "sluice:
 * master -c FILE"), or "?" when it cannot be read. */
static void
command_of(pid_t pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    if (f)
        fclose(f);
    while (n > 0 && (buf[n - 1] == '\0' || buf[n - 1] == ' '))
        n--;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    if (n == 0)
        snprintf(buf, len, "?");
}

/* Is socket `inode` this instance's: held by `owner`, or by the master we took over from? When
 * `-t` may not look into the running master's descriptors (another user's), it cannot tell and
 * gives the master the benefit of the doubt. */
static bool
is_ours(unsigned long inode, pid_t owner)
{
    char fds[64];
    snprintf(fds, sizeof(fds), "/proc/%d/fd", (int)owner);
    if (owner > 0 && (pid_holds(owner, inode) || access(fds, R_OK | X_OK) < 0))
        return true;
    return owner == getpid() && upgrade_parent > 0 && getppid() == upgrade_parent &&
           pid_holds(upgrade_parent, inode);
}

/* Can a plain bind (no SO_REUSEPORT) take the address now? It finds what /proc cannot show: an
 * address not on this host, a port below 1024 without the privilege, a socket bound but not
 * listening. */
static int
probe_bind(const struct cfg_listen *l, char *why, size_t len)
{
    int family = l->addr.ss_family, one = 1;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0; /* no such family here: the real bind will say so */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int rc = bind(fd, (const struct sockaddr *)&l->addr, l->addrlen);
    if (rc < 0)
        snprintf(why, len, "cannot listen on %s: %s", l->text, strerror(errno));
    close(fd);
    return rc < 0 ? -1 : 0;
}

/* Why `l` cannot be bound: the socket `other` on an overlapping address, and who holds it. */
static void
describe_conflict(const struct cfg_listen *l, const struct listener *other, char *why, size_t len)
{
    char addr[128], cmd[96];
    pid_t pid = find_holder(other->inode);
    int w;
    if (pid > 0) {
        command_of(pid, cmd, sizeof(cmd));
        w = snprintf(why, len, "%s is in use by pid %d (%s)", l->text, (int)pid, cmd);
    } else {
        w = snprintf(why, len, "%s is in use by another process", l->text);
    }
    cfg_format_addr((const struct sockaddr *)&other->addr, sizeof(other->addr), addr, sizeof(addr));
    if (strcmp(addr, l->text) != 0 && w >= 0 && (size_t)w < len)
        snprintf(why + w, len - (size_t)w, ", listening on %s", addr);
}

int
listen_check_free(const struct cfg_listen *l, pid_t owner, char *why, size_t len)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    const struct sockaddr_in *in = (const struct sockaddr_in *)&l->addr;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&l->addr;
    int family = l->addr.ss_family, owned = 0, rc = 0;
    if (family == AF_UNIX || (family == AF_INET ? in->sin_port : in6->sin6_port) == 0)
        return 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        char line[512];
        struct listener found;
        FILE *f = fopen(files[i], "re");
        if (f == NULL)
            continue;
        while (rc == 0 && fgets(line, sizeof(line), f))
            if (parse_proc_tcp(line, i == 1, &found) && overlaps(&found.addr, &l->addr)) {
                if (is_ours(found.inode, owner))
                    owned++;
                else {
                    describe_conflict(l, &found, why, len);
                    rc = -1;
                }
            }
        fclose(f);
    }
    if (rc < 0)
        return -1;
    return owned > 0 ? 1 : probe_bind(l, why, len);
}

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
        /* A new address (slots of a group already bound share its port by design): refuse one
         * that another instance listens on, which SO_REUSEPORT would let us share silently. */
        if (g->nfds == 0 && listen_check_free(&g->bound, getpid(), err, errlen) < 0)
            return -1;
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
        upgrade_parent = getppid();
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

/* Port 0 asks for any free port, so two lines with the same "host:0" are two sockets: the
 * number of earlier lines with the same address as line i when its port is 0, else 0. */
static int
port_zero_rank(const struct cfg *cfg, int i)
{
    const struct cfg_listen *l = &cfg->listen[i];
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)&l->addr;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&l->addr;
    if (!(l->addr.ss_family == AF_INET && in4->sin_port == 0) &&
        !(l->addr.ss_family == AF_INET6 && in6->sin6_port == 0))
        return 0;
    int n = 0;
    for (int k = 0; k < i; k++)
        n += strcmp(cfg->listen[k].text, l->text) == 0;
    return n;
}

int
listen_acquire(const struct cfg *cfg, int *idx, char *err, size_t errlen)
{
    char why[CFG_ERR_MAX];
    for (int i = 0; i < cfg->nlisten; i++) {
        const struct cfg_listen *l = &cfg->listen[i];
        bool reuse = cfg->reuseport && l->addr.ss_family != AF_UNIX;
        char key[160];
        int nth = port_zero_rank(cfg, i);
        snprintf(key, sizeof(key), "%s %s", l->text, reuse ? "reuseport" : "shared");
        if (nth > 0) /* the n-th "host:0" line: its own socket, matched by rank on reload */
            snprintf(key + strlen(key), sizeof(key) - strlen(key), " #%d", nth);

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
            grp->bound.flags = 0; /* a line's flags are not the socket's: see cfg.h */
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

const struct cfg_listen *
listen_bound(int g)
{
    return &listen_groups[g].bound;
}

void
listen_close_except(const int *keep, int nkeep)
{
    for (int j = 0; j < LISTEN_MAX_GROUPS; j++) {
        const struct listen_group *lg = &listen_groups[j];
        for (int f = 0; lg->used && f < lg->nfds; f++) {
            bool mine = false;
            for (int k = 0; k < nkeep; k++)
                mine |= keep[k] == lg->fds[f];
            if (!mine)
                close(lg->fds[f]);
        }
    }
}

/* mkostemp opens with O_EXCL: a link planted at a predictable temp name is never followed. */
int
listen_write_port_file(const struct cfg *cfg, const int *idx)
{
    const char *path = cfg->port_file;
    char tmp[CFG_PATH_MAX + 16], text[CFG_MAX_LISTEN * 160], flags[32];
    size_t len = 0;
    for (int i = 0; i < cfg->nlisten; i++) {
        /* The flags come from the line, not the group: they are not part of its identity. */
        cfg_format_listen_flags(cfg->listen[i].flags, flags, sizeof(flags));
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s%s\n",
                                listen_groups[idx[i]].bound.text, flags[0] ? " " : "", flags);
    }
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        log_error("writing port file '%s': creating a temp file beside it", path);
        return -1;
    }
    bool ok = fchmod(fd, 0644) == 0 && write(fd, text, len) == (ssize_t)len;
    if (close(fd) != 0 || !ok || rename(tmp, path) < 0) {
        log_error("writing port file '%s'", path);
        unlink(tmp);
        return -1;
    }
    return 0;
}
