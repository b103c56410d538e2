/* Budget checks for `sluice -t` (see budget.h). */
#include "master/budget.h"

#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master/pidfile.h"

static const char *
where(const struct cfg *cfg)
{
    return cfg->file[0] ? cfg->file : "built-in defaults";
}

/* Each worker may hold max_connections sockets, as many files, the open file cache's
 * descriptors and a few of its own, under the RLIMIT_NOFILE it will have. */
static int
check_nofile(const struct cfg *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    unsigned long long limit = cfg->worker_rlimit_nofile
                                   ? (unsigned long long)cfg->worker_rlimit_nofile
                                   : (unsigned long long)rl.rlim_max;
    unsigned long long need = 2ULL * (unsigned long long)cfg->max_connections +
                              (unsigned long long)cfg->open_file_cache + 32;
    if (cfg->worker_rlimit_nofile && limit > rl.rlim_max && geteuid() != 0) {
        fprintf(stderr,
                "sluice: %s: worker_rlimit_nofile %llu is above the hard limit %llu, which only "
                "root can raise\n",
                where(cfg), limit, (unsigned long long)rl.rlim_max);
        return 1;
    }
    if (need > limit) {
        fprintf(stderr,
                "sluice: %s: max_connections %d x 2 + open_file_cache %d + 32 = %llu descriptors "
                "per worker, but RLIMIT_NOFILE will be %llu (hard limit %llu); lower "
                "max_connections or use auto\n",
                where(cfg), cfg->max_connections, cfg->open_file_cache, need, limit,
                (unsigned long long)rl.rlim_max);
        return 1;
    }
    return 0;
}

static void
check_backlog(const struct cfg *cfg)
{
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
    int somaxconn = 0;
    if (f == NULL)
        return;
    if (fscanf(f, "%d", &somaxconn) == 1 && cfg->backlog > somaxconn)
        fprintf(stderr,
                "sluice: %s: warning: backlog %d is above net.core.somaxconn (%d); the kernel "
                "caps each listen queue at %d\n",
                where(cfg), cfg->backlog, somaxconn, somaxconn);
    fclose(f);
}

/* Started as root with `user`, the workers read root as that user: try it in a child. */
static int
check_root_readable(const struct cfg *cfg)
{
    if (!cfg->user[0] || geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL)
        return 0; /* cfg_check reported it */
    gid_t gid = pw->pw_gid;
    struct group *gr = cfg->group[0] ? getgrnam(cfg->group) : NULL;
    if (gr)
        gid = gr->gr_gid;
    pid_t pid = fork();
    if (pid == 0) {
        if (initgroups(pw->pw_name, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0)
            _exit(2);
        _exit(access(cfg->root, R_OK | X_OK) == 0 ? 0 : 1);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    fprintf(stderr, "sluice: %s: root %s is not readable by user %s\n", where(cfg), cfg->root,
            cfg->user);
    return 1;
}

/* A TCP address must be free, or held by the instance this configuration already runs. */
static int
check_ports(const struct cfg *cfg)
{
    pid_t pid;
    int errors = 0;
    bool ours = pidfile_probe(cfg->pid_file, &pid, NULL) == PIDFILE_RUNNING;
    for (int i = 0; i < cfg->nlisten; i++) {
        const struct cfg_listen *l = &cfg->listen[i];
        int family = l->addr.ss_family;
        if (family == AF_UNIX)
            continue;
        const struct sockaddr_in *in = (const struct sockaddr_in *)&l->addr;
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&l->addr;
        if ((family == AF_INET ? in->sin_port : in6->sin6_port) == 0)
            continue; /* port 0: always free */
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0) {
            if (errno == EADDRINUSE && ours)
                fprintf(stderr,
                        "sluice: %s:%d: listen %s is in use by this configuration's "
                        "running instance (pid %d): fine for a reload\n",
                        where(cfg), l->line, l->text, (int)pid);
            else {
                fprintf(stderr, "sluice: %s:%d: listen %s: %s\n", where(cfg), l->line, l->text,
                        strerror(errno));
                errors++;
            }
        }
        close(fd);
    }
    return errors;
}

int
budget_check(const struct cfg *cfg)
{
    int errors = check_nofile(cfg) + check_root_readable(cfg) + check_ports(cfg);
    check_backlog(cfg);
    return errors;
}
