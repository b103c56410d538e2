/* sluice: command line, then either the master (start) or a control command talking to a
 * running master through its pid file. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/proctitle.h"
#include "master/budget.h"
#include "master/control.h"
#include "master/daemon.h"
#include "master/master.h"
#include "master/pidfile.h"

#define STOP_WAIT_MS 10000

static const char usage[] =
    "usage: sluice [-c FILE] [start|stop|quit|reload|reopen|status|upgrade] [-d] [-t] [-v] [-h]\n"
    "  start    run the server (default); in the foreground unless -d\n"
    "  stop     fast stop (SIGTERM) and wait until the master has exited\n"
    "  quit     graceful stop (SIGQUIT): in-flight requests finish; wait for the exit\n"
    "  reload   check the configuration, then SIGHUP: new workers, old ones drain\n"
    "  reopen   reopen log files (SIGUSR1)\n"
    "  status   exit 0 when running, 3 when not; lists generations and workers\n"
    "  upgrade  run the (new) binary as a new master on the same sockets, then retire the old\n"
    "           one (USR2, WINCH, QUIT); rolls back if the new master does not come up\n"
    "  -c FILE  configuration file (default: ./sluice.ini if present, else built-in defaults)\n"
    "  -d       daemonise (start only)\n"
    "  -t       check the configuration and exit\n"
    "  -v       print the version\n"
    "  -h       this help\n";

enum command { CMD_START, CMD_STOP, CMD_QUIT, CMD_RELOAD, CMD_REOPEN, CMD_STATUS, CMD_UPGRADE };

static const struct {
    const char *name;
    enum command cmd;
    int sig;
} commands[] = {
    {"start", CMD_START, 0},           {"stop", CMD_STOP, SIGTERM},     {"quit", CMD_QUIT, SIGQUIT},
    {"reload", CMD_RELOAD, SIGHUP},    {"reopen", CMD_REOPEN, SIGUSR1}, {"status", CMD_STATUS, 0},
    {"upgrade", CMD_UPGRADE, SIGUSR2},
};

struct options {
    char **argv; /* for a binary upgrade to run again */
    const char *cfg_path;
    int cmd; /* index into commands */
    bool daemon, test;
};

static void
parse_args(int argc, char **argv, struct options *o)
{
    int c;
    while ((c = getopt(argc, argv, "c:dtvh")) != -1) {
        switch (c) {
        case 'c':
            o->cfg_path = optarg;
            break;
        case 'd':
            o->daemon = true;
            break;
        case 't':
            o->test = true;
            break;
        case 'v':
            printf("sluice %s\n", SLUICE_VERSION);
            exit(0);
        case 'h':
            fputs(usage, stdout);
            exit(0);
        default:
            fputs(usage, stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        size_t i;
        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            if (strcmp(argv[optind], commands[i].name) == 0)
                break;
        if (i == sizeof(commands) / sizeof(commands[0]) || optind + 1 < argc) {
            fprintf(stderr, "sluice: unknown command '%s'\n", argv[optind]);
            fputs(usage, stderr);
            exit(2);
        }
        o->cmd = (int)i;
    }
}

/* RLIMIT_NOFILE for the master and (inherited) its workers: worker_rlimit_nofile when set,
 * else the whole allowance the hard limit grants. max_connections = auto is derived from the
 * result, never the other way round. Returns 0, or -1 with a message in `err`. */
static int
apply_nofile(struct cfg *cfg, char *err, size_t errlen)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    rlim_t want = cfg->worker_rlimit_nofile ? (rlim_t)cfg->worker_rlimit_nofile : rl.rlim_max;
    if (want != rl.rlim_cur) {
        struct rlimit set = {want, want > rl.rlim_max ? want : rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &set) < 0) {
            snprintf(err, errlen,
                     "worker_rlimit_nofile: cannot raise RLIMIT_NOFILE to %llu (hard limit %llu): "
                     "%s",
                     (unsigned long long)want, (unsigned long long)rl.rlim_max, strerror(errno));
            return -1;
        }
    }
    cfg_resolve_auto(cfg);
    return 0;
}

static int
test_config(const struct options *o)
{
    struct cfg *cfg = malloc(sizeof(*cfg));
    char err[CFG_ERR_MAX];
    const char *name = o->cfg_path ? o->cfg_path : "sluice.ini";
    if (cfg == NULL)
        return 1;
    int rc = cfg_load(cfg, o->cfg_path, err, sizeof(err));
    if (rc == 0 && budget_check(cfg) > 0)
        rc = -2; /* each problem was printed on its own line */
    if (rc == 0 && cfg->file[0] == '\0') {
        fprintf(stderr, "sluice: built-in default configuration test is successful\n");
    } else if (rc == 0) {
        fprintf(stderr, "sluice: configuration file %s test is successful\n", cfg->file);
    } else {
        if (rc == -1)
            fprintf(stderr, "sluice: %s\n", err);
        fprintf(stderr, "sluice: configuration file %s test failed\n", name);
    }
    free(cfg);
    return rc == 0 ? 0 : 1;
}

/* stop and quit: wait (bounded) until the master is gone, which its pid file lock shows. */
static int
wait_gone(int fd, pid_t pid, int wait_ms)
{
    if (pidfile_wait_released(fd, wait_ms) == 0) {
        printf("sluice: stopped (pid %d)\n", (int)pid);
        return 0;
    }
    fprintf(stderr, "sluice: pid %d still running after %d s\n", (int)pid, wait_ms / 1000);
    return 1;
}

static bool
alive(pid_t pid)
{
    char path[64], state = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    int rc = fscanf(f, "%*d %*s %c", &state);
    fclose(f);
    return rc == 1 && state != 'Z';
}

/* Children of `parent` other than `except`, from /proc. */
static int
children(pid_t parent, pid_t except)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        char path[300], buf[512];
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || atoi(de->d_name) == (int)except)
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        char st = 0;
        if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == (int)parent && st != 'Z')
            n++;
    }
    closedir(d);
    return n;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* `sluice upgrade`: USR2 to the running master, wait until a new master holds the pid file and
 * its control socket reports an active generation, then WINCH the old master (its workers
 * finish), and QUIT it. If the new master does not come up in time, QUIT it: the old master
 * takes its pid file back and keeps serving (rollback). */
static int
upgrade(const struct cfg *cfg, pid_t old, const char *ctl_path)
{
    const int step = 20, start_ms = 30000;
    int wait_ms = (int)cfg->graceful_timeout_ms + 5000;
    pid_t new = 0;
    char oldbin[CFG_PATH_MAX + 8];
    snprintf(oldbin, sizeof(oldbin), "%s.oldbin", cfg->pid_file);
    if (kill(old, SIGUSR2) < 0) {
        fprintf(stderr, "sluice: cannot signal pid %d: %s\n", (int)old, strerror(errno));
        return 1;
    }
    for (int t = 0; t < start_ms; t += step, sleep_ms(step)) {
        pid_t pid;
        int fd = -1;
        char why[CFG_ERR_MAX];
        /* The new master is the one holding the new pid file: signalled on rollback. */
        if (pidfile_probe(cfg->pid_file, &pid, &fd) == PIDFILE_RUNNING && pid > 0 && pid != old &&
            pidfile_verify(cfg->pid_file, fd, pid, why, sizeof(why)) == 0)
            new = pid;
        if (fd >= 0)
            close(fd);
        if (new && !alive(new))
            break;
        char answer[4096];
        /* The new master answers "status" once it listens; "active" once a generation serves. */
        char self[48];
        snprintf(self, sizeof(self), "running (pid %d)", (int)new);
        /* The answer must come from the new master (until it binds the control socket the old
         * one answers there) and show a generation that serves. */
        if (new &&control_query(ctl_path, "status", answer, sizeof(answer), 2000) == 0 &&
            strstr(answer, self) && strstr(answer, " active,"))
            goto ready;
        /* The old master renames its .oldbin back once the new master has exited. */
        if ((t > 500 && access(oldbin, F_OK) != 0 && !new) || !alive(old))
            break;
    }
    fprintf(stderr, "sluice: upgrade failed: the new master %s; rolling back to pid %d\n",
            new &&alive(new) ? "did not become ready in time" : "did not start", (int)old);
    if (new &&alive(new))
        kill(new, SIGQUIT);
    return 1;
ready:
    kill(old, SIGWINCH);
    for (int t = 0; t < wait_ms && children(old, new) > 0; t += step)
        sleep_ms(step);
    kill(old, SIGQUIT);
    for (int t = 0; t < wait_ms && alive(old); t += step)
        sleep_ms(step);
    if (alive(old)) {
        fprintf(stderr, "sluice: upgraded to pid %d, but the old master %d is still running\n",
                (int)new, (int)old);
        return 1;
    }
    printf("sluice: upgraded (pid %d -> %d)\n", (int)old, (int)new);
    return 0;
}

/* The control commands. The control socket gives real answers (reload reports the new
 * generation or the error); without it (an older master, a socket path not reachable) they fall
 * back to signals, checking a reload's configuration here first. */
static int
control(const struct options *o)
{
    struct cfg *cfg = malloc(sizeof(*cfg));
    char err[CFG_ERR_MAX], ctl_path[CFG_PATH_MAX];
    enum command cmd = commands[o->cmd].cmd;
    const char *name = commands[o->cmd].name;
    int not_running = cmd == CMD_STATUS ? 3 : 1;
    pid_t pid;
    int fd = -1;

    if (cfg == NULL)
        return 1;
    int rc = cfg_read(cfg, o->cfg_path, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        free(cfg);
        return 1;
    }
    if (cfg->control_socket[0])
        snprintf(ctl_path, sizeof(ctl_path), "%s", cfg->control_socket);
    else
        control_default_path(cfg->pid_file, ctl_path, sizeof(ctl_path));
    rc = 1;
    switch (pidfile_probe(cfg->pid_file, &pid, &fd)) {
    case PIDFILE_NONE:
        fprintf(stderr, "sluice: not running (no pid file %s)\n", cfg->pid_file);
        rc = not_running;
        goto out;
    case PIDFILE_STALE:
        fprintf(stderr, "sluice: not running (stale pid file %s names pid %d)\n", cfg->pid_file,
                (int)pid);
        rc = not_running;
        goto out;
    case PIDFILE_ERROR:
        if (errno == ELOOP)
            fprintf(stderr, "sluice: pid file %s is a symbolic link; refusing to use it\n",
                    cfg->pid_file);
        else
            fprintf(stderr, "sluice: cannot read pid file %s: %s\n", cfg->pid_file,
                    strerror(errno));
        goto out;
    case PIDFILE_RUNNING:
        break;
    }
    if (pid <= 0) {
        fprintf(stderr, "sluice: pid file %s is locked but holds no pid yet\n", cfg->pid_file);
        goto out;
    }
    /* Whatever the command, only the master that holds the pid file is talked to or signalled:
     * not a pid someone else wrote into a file they locked. */
    if (pidfile_verify(cfg->pid_file, fd, pid, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        goto out;
    }
    int wait_ms = cmd == CMD_QUIT ? (int)cfg->graceful_timeout_ms + 5000 : STOP_WAIT_MS;
    if (cmd == CMD_UPGRADE) {
        rc = upgrade(cfg, pid, ctl_path);
        goto out;
    }
    int answer = control_request(ctl_path, name, cmd == CMD_RELOAD ? 60000 : 5000);
    if (answer >= 0) {
        rc = answer;
        if (answer == 0 && (cmd == CMD_STOP || cmd == CMD_QUIT)) {
            rc = wait_gone(fd, pid, wait_ms);
            fd = -1;
        }
        goto out;
    }

    /* No control socket: signals. */
    if (cmd == CMD_STATUS) {
        printf("sluice: running (pid %d)\n", (int)pid);
        rc = 0;
        goto out;
    }
    if (cmd == CMD_RELOAD && cfg_load(cfg, o->cfg_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        goto out;
    }
    if (kill(pid, commands[o->cmd].sig) < 0) {
        fprintf(stderr, "sluice: cannot signal pid %d: %s\n", (int)pid, strerror(errno));
        goto out;
    }
    if (cmd == CMD_RELOAD || cmd == CMD_REOPEN) {
        printf("sluice: %s signalled (pid %d)\n", name, (int)pid);
        rc = 0;
        goto out;
    }
    rc = wait_gone(fd, pid, wait_ms);
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    free(cfg);
    return rc;
}

/* Started as root with no `user`, the workers serve as root: every file root can read is one
 * request away (a 0600 root file under root answers 200). Allowed, since tests and `make run`
 * run as root from directories only root can enter, but never silently. */
static void
warn_root(const struct cfg *cfg)
{
    if (geteuid() == 0 && cfg->user[0] == '\0')
        log_warnx("%s", budget_root_warning);
}

static int
start(const struct options *o)
{
    struct cfg *cfg = malloc(sizeof(*cfg));
    char err[CFG_ERR_MAX];
    char abs_path[PATH_MAX];
    pid_t other, stale;
    int pid_fd = -1;

    if (cfg == NULL) {
        fprintf(stderr, "sluice: out of memory\n");
        return 1;
    }
    if (cfg_load(cfg, o->cfg_path, err, sizeof(err)) < 0 ||
        apply_nofile(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        goto fail;
    }
    /* Reload re-reads the same file even if it was named relative to where we started. */
    const char *reload_path = NULL;
    if (cfg->file[0])
        reload_path = realpath(cfg->file, abs_path) ? abs_path : cfg->file;

    pid_fd = pidfile_acquire(cfg->pid_file, &other, &stale, err, sizeof(err));
    if (pid_fd < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        goto fail;
    }
    if (log_open(cfg->error_log, err, sizeof(err)) < 0) {
        if (cfg->file[0] && cfg->error_log_line)
            fprintf(stderr, "sluice: %s:%d: %s\n", cfg->file, cfg->error_log_line, err);
        else
            fprintf(stderr, "sluice: %s%s%s\n", cfg->file, cfg->file[0] ? ": " : "", err);
        goto fail;
    }
    log_set_level(cfg->log_level);
    if (stale)
        log_notice("pid file %s named pid %d, which is not running; replaced", cfg->pid_file,
                   (int)stale);
    warn_root(cfg);
    int notify_fd = -1;
    /* A new master started by a binary upgrade is already detached: it is the old one's child. */
    if (o->daemon && getenv("SLUICE_INHERIT") == NULL) {
        if (daemonize(&notify_fd) < 0) {
            fprintf(stderr, "sluice: cannot daemonise: %s\n", strerror(errno));
            goto fail;
        }
        /* The lock was taken before the fork, so /proc/locks names the parent, which is gone:
         * `sluice stop` would refuse to signal us. Take a new file in this process. */
        if (pidfile_renew(cfg->pid_file, &pid_fd) < 0) {
            log_error("pid file %s: taking it over after daemonising", cfg->pid_file);
            goto fail;
        }
    }
    if (pidfile_write(pid_fd) < 0) {
        fprintf(stderr, "sluice: cannot write pid file %s: %s\n", cfg->pid_file, strerror(errno));
        goto fail;
    }
    master_set_argv(o->argv);
    return master_run(cfg, reload_path, pid_fd, notify_fd);

fail:
    /* Taken but not written: leave no empty pid file behind. */
    if (pid_fd >= 0)
        pidfile_remove(cfg->pid_file, pid_fd);
    free(cfg);
    return 1;
}

int
main(int argc, char **argv)
{
    struct options o = {.argv = argv};
    proctitle_init(argc, argv);
    parse_args(argc, argv, &o);
    if (o.test)
        return test_config(&o);
    if (commands[o.cmd].cmd != CMD_START)
        return control(&o);
    return start(&o);
}
