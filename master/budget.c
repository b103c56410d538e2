/* Budget checks for `sluice -t` and start (see budget.h). */
#include "master/budget.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "master/control.h"
#include "master/gen.h"
#include "master/listen.h"
#include "master/pidfile.h"

const char budget_root_warning[] =
    "running as root with no `user` set: the workers serve requests as root, so any file root "
    "can read under the document root (even mode 0600) can be served and a compromised worker "
    "owns the host; set user (e.g. user = nobody) to run them unprivileged";

static const char *
where(const struct cfg *cfg)
{
    return cfg->file[0] ? cfg->file : "built-in defaults";
}

/* "FILE:LINE" of a key, or just FILE when the key was not set there (its default). */
static const char *
where_key(const struct cfg *cfg, int line, char *buf, size_t len)
{
    if (line > 0 && cfg->file[0])
        snprintf(buf, len, "%s:%d", cfg->file, line);
    else
        snprintf(buf, len, "%s", where(cfg));
    return buf;
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
    /* The master holds every listen socket (one per line and worker slot, for two generations
     * at once in a reload that changes every address), its end of each worker's socketpair,
     * the connections of the one hand-over record it relays at a time, and a few of its own.
     * Retiring every worker at once does not add to it: records are relayed one by one. */
    unsigned long long workers = (unsigned long long)cfg->workers;
    unsigned long long master =
        2ULL * (unsigned long long)cfg->nlisten * workers + GEN_MAX * workers + IPC_CONNS_MAX + 32;
    if (master > limit) {
        fprintf(stderr,
                "sluice: %s: the master needs %llu descriptors (2 generations x %d listen lines "
                "x %llu workers, %d x %llu worker socketpairs, 253 for relaying a hand-over of "
                "idle connections, 32 of its own), but RLIMIT_NOFILE will be %llu (hard limit "
                "%llu)\n",
                where(cfg), master, cfg->nlisten, workers, GEN_MAX, workers, limit,
                (unsigned long long)rl.rlim_max);
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

static long long
read_proc_number(const char *path)
{
    FILE *f = fopen(path, "re");
    long long v = -1;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%lld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

/* The open file cache watches its files with inotify: one instance per worker, and during a
 * reload two generations at once; one watch per cached file. Past the per-user limits a worker
 * falls back to an fstat per cache hit (and logs it): a warning, not an error. */
static void
check_inotify(const struct cfg *cfg)
{
    if (cfg->open_file_cache == 0)
        return;
    long long instances = read_proc_number("/proc/sys/fs/inotify/max_user_instances");
    long long watches = read_proc_number("/proc/sys/fs/inotify/max_user_watches");
    long long need_instances = 2LL * cfg->workers;
    long long need_watches = 2LL * cfg->workers * cfg->open_file_cache;
    if (instances >= 0 && need_instances >= instances)
        fprintf(stderr,
                "sluice: %s: warning: %d workers x 2 generations = %lld inotify instances during "
                "a reload, above fs.inotify.max_user_instances (%lld), shared by every process "
                "of the user; workers without one check cached files with fstat on each hit\n",
                where(cfg), cfg->workers, need_instances, instances);
    if (watches >= 0 && need_watches > watches)
        fprintf(stderr,
                "sluice: %s: warning: %d workers x 2 generations x open_file_cache %d = %lld "
                "inotify watches, above fs.inotify.max_user_watches (%lld); files cached past "
                "the limit are checked with fstat on each hit\n",
                where(cfg), cfg->workers, cfg->open_file_cache, need_watches, watches);
}

/* The workers' user when they run as someone else than this process (started as root with
 * `user` set): its passwd entry and the group it takes (`group`, else its primary group).
 * NULL when they keep this process's identity, or the user is unknown (cfg_check said so). */
static struct passwd *
workers_user(const struct cfg *cfg, gid_t *gid)
{
    if (!cfg->user[0] || geteuid() != 0)
        return NULL;
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL)
        return NULL;
    struct group *gr = cfg->group[0] ? getgrnam(cfg->group) : NULL;
    *gid = gr ? gr->gr_gid : pw->pw_gid;
    return pw;
}

#define AS_USER_NO_SWITCH 255 /* the child could not become the user */

/* `try(arg)` in a child that has become the workers' user as a worker does (supplementary
 * groups, group, user), since only that answers for ACLs, read-only mounts and security
 * modules too. `try` returns 0 or an errno (1..254). Returns its result, AS_USER_NO_SWITCH, or
 * -1 when the child could not be run (then nothing is reported: the check is skipped). */
static int
as_workers_user(struct passwd *pw, gid_t gid, int (*try)(const void *arg), const void *arg)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (initgroups(pw->pw_name, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0)
            _exit(AS_USER_NO_SWITCH);
        int rc = try(arg);
        _exit(rc > 0 && rc < AS_USER_NO_SWITCH ? rc : rc == 0 ? 0 : EIO);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
}

/* A worker opens root before dropping privileges, so only the directory's own mode counts,
 * not those of the directories above it: the child gets it open. */
static int
try_read_root(const void *arg)
{
    int fd = *(const int *)arg;
    return fd >= 0 && faccessat(fd, ".", R_OK | X_OK, 0) == 0 ? 0 : EACCES;
}

/* Started as root with `user`, the workers read root as that user: try it in a child. */
static int
check_root_readable(const struct cfg *cfg)
{
    gid_t gid;
    struct passwd *pw = workers_user(cfg, &gid);
    if (pw == NULL)
        return 0;
    int fd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = as_workers_user(pw, gid, try_read_root, &fd);
    if (fd >= 0)
        close(fd);
    if (rc <= 0)
        return 0;
    fprintf(stderr, "sluice: %s: root %s is not readable by user %s\n", where(cfg), cfg->root,
            cfg->user);
    return 1;
}

/* Make a file in the directory `arg` the way a worker makes a request body's: O_TMPFILE (it
 * never has a name), else, where the file system refuses O_TMPFILE, mkstemp and unlink at
 * once. Returns 0 or an errno. */
static int
try_temp_file(const void *arg)
{
    const char *dir = arg;
    char path[CFG_PATH_MAX + 32];
    int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return errno;
    if (fd < 0) {
        if (snprintf(path, sizeof(path), "%s/.sluice-t-XXXXXX", dir) >= (int)sizeof(path))
            return ENAMETOOLONG;
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
            return errno;
        unlink(path);
    }
    close(fd);
    return 0;
}

/* body_temp_path: request bodies over body_buffer_size go to unlinked files there, made by the
 * workers as their user; a directory they cannot use would fail the first large upload, long
 * after start. So the check makes one, as a worker would: here, or started as root with
 * `user`, in a child that has become that user. O_TMPFILE leaves no name behind, and the
 * mkstemp fallback removes its file at once. */
static int
check_temp_dir(const struct cfg *cfg)
{
    const char *dir = cfg->body_temp_path;
    const char *hint = cfg->body_temp_path_line
                           ? ""
                           : " (the default: $TMPDIR when set, else /tmp; set body_temp_path)";
    char at[CFG_PATH_MAX + 16], who[96] = "";
    struct stat st;
    gid_t gid;
    where_key(cfg, cfg->body_temp_path_line, at, sizeof(at));
    if (stat(dir, &st) < 0) {
        if (errno == ENOENT)
            fprintf(stderr, "sluice: %s: body_temp_path: '%s' does not exist%s\n", at, dir, hint);
        else
            fprintf(stderr, "sluice: %s: body_temp_path: cannot use '%s': %s%s\n", at, dir,
                    strerror(errno), hint);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "sluice: %s: body_temp_path: '%s' is not a directory%s\n", at, dir, hint);
        return 1;
    }
    struct passwd *pw = workers_user(cfg, &gid);
    int rc = pw ? as_workers_user(pw, gid, try_temp_file, dir) : try_temp_file(dir);
    if (rc <= 0)
        return 0;
    if (pw)
        snprintf(who, sizeof(who), "user %s", cfg->user);
    else
        snprintf(who, sizeof(who), "uid %d", (int)geteuid());
    fprintf(stderr,
            "sluice: %s: body_temp_path: %s cannot create files in '%s': %s (request bodies over "
            "body_buffer_size go there)%s\n",
            at, who, dir, rc == AS_USER_NO_SWITCH ? "cannot switch to that user" : strerror(rc),
            hint);
    return 1;
}

/* Started as root with no `user`: the workers would serve as root. A warning (root is allowed,
 * as in the tests and `make run`), at the same place the start log gives it. */
static void
check_root_user(const struct cfg *cfg)
{
    if (geteuid() == 0 && cfg->user[0] == '\0')
        fprintf(stderr, "sluice: %s: warning: %s\n", where(cfg), budget_root_warning);
}

/* access_log names a file (not off, not stdout). */
static bool
access_log_file(const struct cfg *cfg)
{
    return cfg->access_log[0] && strcmp(cfg->access_log, "stdout") != 0;
}

/* Files the master writes must not be links someone planted: start refuses them, so -t does.
 * (The port file is replaced by rename, which replaces a link itself, never its target.) */
static int
check_links(const struct cfg *cfg)
{
    char err[CFG_PATH_MAX + 128], at[CFG_PATH_MAX + 16];
    struct stat st;
    int errors = 0;
    if (log_check_path(cfg->error_log, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s: %s\n", where_key(cfg, cfg->error_log_line, at, sizeof(at)),
                err);
        errors++;
    }
    if (access_log_file(cfg) && lstat(cfg->access_log, &st) == 0 && S_ISLNK(st.st_mode)) {
        fprintf(stderr,
                "sluice: %s: access_log: '%s' is a symbolic link; sluice does not write through "
                "links (name the file itself)\n",
                where_key(cfg, cfg->access_log_line, at, sizeof(at)), cfg->access_log);
        errors++;
    }
    if (lstat(cfg->pid_file, &st) == 0 && S_ISLNK(st.st_mode)) {
        fprintf(stderr,
                "sluice: %s: pid_file: '%s' is a symbolic link; sluice does not write through "
                "links\n",
                where_key(cfg, cfg->pid_file_line, at, sizeof(at)), cfg->pid_file);
        errors++;
    }
    return errors;
}

/* Can the master create or append to `path`? The file itself when it exists, else its
 * directory. Returns 0, or -1 with errno. Never creates anything. */
static int
writable(const char *path)
{
    char dir[CFG_PATH_MAX];
    struct stat st;
    if (lstat(path, &st) == 0)
        return access(path, W_OK);
    if (errno != ENOENT)
        return -1;
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return access(".", W_OK | X_OK);
    snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return access(dir, W_OK | X_OK);
}

/* The files the master makes at start, where it can make them; each error is the text start
 * itself gives (log_open, pidfile_acquire, control_open), so it reads the same from -t. */
static int
check_paths(const struct cfg *cfg)
{
    char at[CFG_PATH_MAX + 16], ctl[CFG_PATH_MAX];
    int errors = 0;
    if (strcmp(cfg->error_log, "stderr") != 0 && strncmp(cfg->error_log, "/dev/std", 8) != 0 &&
        writable(cfg->error_log) < 0) {
        fprintf(stderr, "sluice: %s: error_log: cannot open '%s': %s\n",
                where_key(cfg, cfg->error_log_line, at, sizeof(at)), cfg->error_log,
                strerror(errno));
        errors++;
    }
    if (access_log_file(cfg) && writable(cfg->access_log) < 0) {
        fprintf(stderr, "sluice: %s: access_log: cannot open '%s': %s\n",
                where_key(cfg, cfg->access_log_line, at, sizeof(at)), cfg->access_log,
                strerror(errno));
        errors++;
    }
    if (writable(cfg->pid_file) < 0) {
        fprintf(stderr, "sluice: %s: cannot create pid file %s: %s\n",
                where_key(cfg, cfg->pid_file_line, at, sizeof(at)), cfg->pid_file, strerror(errno));
        errors++;
    }
    control_path(cfg, ctl, sizeof(ctl));
    if (strlen(ctl) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "sluice: %s: control_socket: path too long (at most 107 bytes): %s\n",
                where(cfg), ctl);
        errors++;
    } else if (cfg->control_socket[0] && writable(ctl) < 0) {
        fprintf(stderr, "sluice: %s: control_socket: cannot listen on %s: %s\n", where(cfg), ctl,
                strerror(errno));
        errors++;
    }
    return errors;
}

/* A TCP address must be free, or held by the instance this configuration already runs: the
 * check start makes (listen_check_free), so -t and start agree. */
static int
check_ports(const struct cfg *cfg)
{
    pid_t pid;
    int errors = 0;
    bool ours = pidfile_probe(cfg->pid_file, &pid, NULL) == PIDFILE_RUNNING;
    for (int i = 0; i < cfg->nlisten; i++) {
        const struct cfg_listen *l = &cfg->listen[i];
        char why[CFG_ERR_MAX], at[CFG_PATH_MAX + 16];
        int rc = listen_check_free(l, ours ? pid : 0, why, sizeof(why));
        if (rc > 0)
            fprintf(stderr,
                    "sluice: %s: listen %s is in use by this configuration's running instance "
                    "(pid %d): fine for a reload\n",
                    where_key(cfg, l->line, at, sizeof(at)), l->text, (int)pid);
        else if (rc < 0) {
            fprintf(stderr, "sluice: %s: listen: %s\n", where_key(cfg, l->line, at, sizeof(at)),
                    why);
            errors++;
        }
    }
    return errors;
}

const char *
budget_where(const struct cfg *cfg, int line, char *buf, size_t len)
{
    return where_key(cfg, line, buf, len);
}

int
budget_check(const struct cfg *cfg, enum budget_mode mode)
{
    int errors = check_nofile(cfg) + check_root_readable(cfg) + check_temp_dir(cfg);
    /* At start the master makes this check itself when it binds, as the running master: the
     * sockets it took over in an upgrade or from systemd are its own there. */
    if (mode == BUDGET_TEST)
        errors += check_ports(cfg);
    errors += check_links(cfg) + check_paths(cfg);
    check_backlog(cfg);
    check_inotify(cfg);
    if (mode == BUDGET_TEST)
        check_root_user(cfg); /* start logs it, where the log goes */
    return errors;
}
