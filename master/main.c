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
#include "common/tls.h"
#include "common/tls_keys.h"
#include "master/budget.h"
#include "master/control.h"
#include "master/daemon.h"
#include "master/master.h"
#include "master/pidfile.h"

#define STOP_WAIT_MS 10000   /* stop: how long the master may take to be gone */
#define CONTROL_WAIT_MS 5000 /* stop, quit, reopen, status: the master's answer */
#define RELOAD_WAIT_MS 60000 /* reload: the new generation ready, or the error */

static const char usage[] =
    "usage: sluice [-c FILE] [start|stop|quit|reload|reopen|status [--json]|upgrade] [-d] [-t]\n"
    "              [-v] [-h]\n"
    "  start    run the server (default); in the foreground unless -d\n"
    "  stop     fast stop (SIGTERM) and wait until the master has exited\n"
    "  quit     graceful stop (SIGQUIT): in-flight requests finish; wait for the exit\n"
    "  reload   check the configuration, then SIGHUP: new workers, old ones drain\n"
    "  reopen   reopen log files (SIGUSR1)\n"
    "  status   exit 0 when running, 3 when not; lists generations and a table of the workers\n"
    "           (--json: the same as JSON)\n"
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
    bool json;      /* status --json */
    char *json_arg; /* its argv string (proctitle's copy), kept reachable */
};

/* `--json` (status only) is taken out of argv before getopt, which knows no long options. */
static void
take_json_flag(int *argc, char **argv, struct options *o)
{
    int j = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            o->json = true;
            o->json_arg = argv[i];
        } else {
            argv[j++] = argv[i];
        }
    }
    argv[j] = NULL;
    *argc = j;
}

static void
parse_args(int argc, char **argv, struct options *o)
{
    int c;
    take_json_flag(&argc, argv, o);
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
    if (o->json && commands[o->cmd].cmd != CMD_STATUS) {
        fprintf(stderr, "sluice: --json goes with status only\n");
        fputs(usage, stderr);
        exit(2);
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
            char at[CFG_PATH_MAX + 16];
            snprintf(err, errlen,
                     "%s: worker_rlimit_nofile: cannot raise RLIMIT_NOFILE to %llu (hard limit "
                     "%llu): %s",
                     budget_where(cfg, 0, at, sizeof(at)), (unsigned long long)want,
                     (unsigned long long)rl.rlim_max, strerror(errno));
            return -1;
        }
    }
    cfg_resolve_auto(cfg);
    return 0;
}

static void
warn_stderr(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, "sluice: warning: %s\n", msg);
}

/* Read every certificate and key and build the TLS contexts, as the master does before it
 * forks: 0 with the set in *out (when out is not NULL; NULL without certificates), or -1 with
 * the message in err. Warnings (a certificate about to expire) go to stderr. */
static int
check_tls(const struct cfg *cfg, struct tls_set **out, char *err, size_t errlen)
{
    if (tls_keys_init() < 0) {
        snprintf(err, errlen, "cannot make the session ticket keys: %s", strerror(errno));
        return -1;
    }
    struct tls_set *set = tls_set_build(cfg, warn_stderr, NULL, err, errlen);
    if (set == NULL && err[0])
        return -1;
    if (out)
        *out = set;
    else
        tls_set_free(set);
    return 0;
}

static int
test_config(const struct options *o)
{
    struct cfg *cfg = malloc(sizeof(*cfg));
    char err[CFG_ERR_MAX];
    if (cfg == NULL)
        return 1;
    int rc = cfg_load(cfg, o->cfg_path, err, sizeof(err));
    if (rc == 0 && budget_check(cfg, BUDGET_TEST) > 0)
        rc = -2; /* each problem was printed on its own line */
    if (rc == 0)
        rc = check_tls(cfg, NULL, err, sizeof(err));
    if (rc == 0)
        rc = modcheck_run(cfg, NULL, err, sizeof(err));
    if (rc == -1)
        fprintf(stderr, "sluice: %s\n", err);
    /* cfg->file is set once a file is chosen (even one that cannot be opened): with none, the
     * built-in defaults were tested, not a sluice.ini that does not exist. */
    if (cfg->file[0] == '\0')
        fprintf(stderr, "sluice: built-in default configuration test %s\n",
                rc == 0 ? "is successful" : "failed");
    else
        fprintf(stderr, "sluice: configuration file %s test %s\n", cfg->file,
                rc == 0 ? "is successful" : "failed");
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

/* The lenient pass's warnings: the file is broken, but this command does not need those lines. */
static void
warn_line(void *arg, const char *file, int line, const char *what)
{
    (void)arg;
    fprintf(stderr, "sluice: %s:%d: warning: %s\n", file, line, what);
}

/* The master the pid file names, verified to hold its lock. Returns 0 with *pid and *fd (the pid
 * file, open: its lock shows when the master is gone), or the exit code once it printed why:
 * not running (1, status 3) or cannot tell (1, status 4). */
static int
find_master(const struct cfg *cfg, enum command cmd, pid_t *pid, int *fd)
{
    char err[CFG_PATH_MAX + 128];
    int not_running = cmd == CMD_STATUS ? 3 : 1, unknown = cmd == CMD_STATUS ? 4 : 1;
    *fd = -1;
    switch (pidfile_probe(cfg->pid_file, pid, fd)) {
    case PIDFILE_NONE:
        fprintf(stderr, "sluice: not running (no pid file %s)\n", cfg->pid_file);
        return not_running;
    case PIDFILE_STALE:
        fprintf(stderr, "sluice: not running (stale pid file %s names pid %d)\n", cfg->pid_file,
                (int)*pid);
        return not_running;
    case PIDFILE_ERROR:
        if (errno == ELOOP)
            fprintf(stderr, "sluice: pid file %s is a symbolic link; refusing to use it\n",
                    cfg->pid_file);
        else
            fprintf(stderr, "sluice: cannot read pid file %s: %s\n", cfg->pid_file,
                    strerror(errno));
        return unknown;
    case PIDFILE_RUNNING:
        break;
    }
    if (*pid <= 0)
        snprintf(err, sizeof(err), "pid file %s is locked but holds no pid yet", cfg->pid_file);
    /* Whatever the command, only the master that holds the pid file is talked to or signalled:
     * not a pid someone else wrote into a file they locked. */
    if (*pid <= 0 || pidfile_verify(cfg->pid_file, *fd, *pid, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        close(*fd);
        *fd = -1;
        return unknown;
    }
    return 0;
}

/* stop and quit. The master's "ok: stopping" is not printed: the one event to report is that it
 * has gone. A master that does not answer (stopped, wedged) gets the signal instead; the
 * request it did not read is dropped when it resumes (control.h), so it never stops twice. */
static int
stop_master(const struct cfg *cfg, enum command cmd, pid_t pid, int fd, const char *ctl_path)
{
    char answer[4096];
    int sig = cmd == CMD_QUIT ? SIGQUIT : SIGTERM;
    /* quit: the drain, then the in-flight requests' grace, then a margin for the exit. */
    int wait_ms = cmd == CMD_QUIT ? (int)(cfg->drain_delay_ms + cfg->graceful_timeout_ms) + 5000
                                  : STOP_WAIT_MS;
    int rc = control_query(ctl_path, cmd == CMD_QUIT ? "quit" : "stop", answer, sizeof(answer),
                           CONTROL_WAIT_MS);
    if (rc == 1) {
        fprintf(stderr, "sluice: %s", strchr(answer, ':') ? strchr(answer, ':') + 2 : answer);
        close(fd);
        return 1;
    }
    if (rc == CONTROL_NO_ANSWER)
        fprintf(stderr, "sluice: no answer from the master (pid %d) within %d s; sending %s\n",
                (int)pid, CONTROL_WAIT_MS / 1000, sig == SIGQUIT ? "SIGQUIT" : "SIGTERM");
    if (rc != 0 && kill(pid, sig) < 0) {
        fprintf(stderr, "sluice: cannot signal pid %d: %s\n", (int)pid, strerror(errno));
        close(fd);
        return 1;
    }
    return wait_gone(fd, pid, wait_ms);
}

/* status: the master's table ("ok: running (pid N)" printed as "sluice: running (pid N)"), or
 * with --json its JSON (the "ok" line dropped). Without an answer, only that it runs. */
static int
show_status(const struct options *o, pid_t pid, const char *ctl_path)
{
    char *buf = malloc(CONTROL_ANSWER_MAX);
    int rc = CONTROL_NONE;
    if (buf)
        rc = control_query(ctl_path, o->json ? "status json" : "status", buf, CONTROL_ANSWER_MAX,
                           CONTROL_WAIT_MS);
    if (rc == 0) {
        const char *text = o->json ? strchr(buf, '\n') : buf + 2;
        text = text == NULL ? "" : o->json ? text + 1 : *text == ':' ? text + 2 : text;
        printf("%s%s", o->json ? "" : "sluice: ", text);
    } else if (rc == 1) {
        fprintf(stderr, "sluice: %s", strchr(buf, ':') ? strchr(buf, ':') + 2 : buf);
    } else {
        if (rc == CONTROL_NO_ANSWER)
            fprintf(stderr, "sluice: no answer from the master (pid %d) within %d s\n", (int)pid,
                    CONTROL_WAIT_MS / 1000);
        if (o->json)
            printf("{\"master\":{\"pid\":%d,\"answered\":false}}\n", (int)pid);
        else
            printf("sluice: running (pid %d)\n", (int)pid);
        rc = 0;
    }
    free(buf);
    return rc;
}

/* reload, reopen, status: the master's answer, or without one the signal. */
static int
ask_master(const struct options *o, struct cfg *cfg, pid_t pid, const char *ctl_path)
{
    char err[CFG_ERR_MAX];
    enum command cmd = commands[o->cmd].cmd;
    const char *name = commands[o->cmd].name;
    int timeout_ms = cmd == CMD_RELOAD ? RELOAD_WAIT_MS : CONTROL_WAIT_MS;
    if (cmd == CMD_STATUS)
        return show_status(o, pid, ctl_path);
    int answer = control_request(ctl_path, name, timeout_ms);
    if (answer >= 0)
        return answer;
    if (answer == CONTROL_NO_ANSWER) {
        /* A reload may take long and must not run twice: no signal, the operator decides. */
        fprintf(stderr, "sluice: no answer from the master (pid %d) within %d s%s\n", (int)pid,
                timeout_ms / 1000, cmd == CMD_REOPEN ? "; sending SIGUSR1" : "");
        if (cmd == CMD_RELOAD)
            return 1;
    }
    if (cmd == CMD_STATUS) {
        printf("sluice: running (pid %d)\n", (int)pid);
        return 0;
    }
    /* No control socket: the file is checked here, as the master would. */
    if (cmd == CMD_RELOAD && cfg_load(cfg, o->cfg_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        return 1;
    }
    if (kill(pid, commands[o->cmd].sig) < 0) {
        fprintf(stderr, "sluice: cannot signal pid %d: %s\n", (int)pid, strerror(errno));
        return 1;
    }
    printf("sluice: %s signalled (pid %d)\n", name, (int)pid);
    return 0;
}

/* The control commands find the master through pid_file and control_socket. All but reload
 * read only those (and graceful_timeout, drain_delay: how long quit waits) from the file,
 * warning about anything else wrong in it, so that a file broken since the master started
 * cannot leave the operator unable to stop it; reload refuses a broken file, as the master
 * would. */
static int
control(const struct options *o)
{
    struct cfg *cfg = malloc(sizeof(*cfg));
    char err[CFG_ERR_MAX], ctl_path[CFG_PATH_MAX];
    enum command cmd = commands[o->cmd].cmd;
    pid_t pid;
    int fd = -1;

    if (cfg == NULL)
        return 1;
    int rc = cmd == CMD_RELOAD
                 ? cfg_read(cfg, o->cfg_path, err, sizeof(err))
                 : cfg_read_lenient(cfg, o->cfg_path, warn_line, NULL, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        free(cfg);
        return cmd == CMD_STATUS ? 4 : 1;
    }
    control_path(cfg, ctl_path, sizeof(ctl_path));
    rc = find_master(cfg, cmd, &pid, &fd);
    if (rc != 0) {
        /* nothing to talk to */
    } else if (cmd == CMD_UPGRADE) {
        rc = upgrade(cfg, pid, ctl_path);
    } else if (cmd == CMD_STOP || cmd == CMD_QUIT) {
        rc = stop_master(cfg, cmd, pid, fd, ctl_path);
        fd = -1; /* closed */
    } else {
        rc = ask_master(o, cfg, pid, ctl_path);
    }
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

/* -d with the log on a standard stream: the daemon keeps the stderr it was started with (a
 * terminal, say), and its stdout is /dev/null. Said before it detaches, not silently. */
static void
warn_daemon_log(const struct cfg *cfg)
{
    char at[CFG_PATH_MAX + 16];
    const char *to = cfg->error_log;
    if (strcmp(to, "stderr") == 0 || strcmp(to, "/dev/stderr") == 0)
        fprintf(stderr,
                "sluice: %s: warning: error_log = %s: the daemon goes on writing its log to the "
                "stderr it was started with; set error_log to a file\n",
                budget_where(cfg, cfg->error_log_line, at, sizeof(at)), to);
    else if (strcmp(to, "/dev/stdout") == 0)
        fprintf(stderr,
                "sluice: %s: warning: error_log = %s: a daemon's stdout is /dev/null, so its log "
                "is lost; set error_log to a file\n",
                budget_where(cfg, cfg->error_log_line, at, sizeof(at)), to);
    if (strcmp(cfg->access_log, "stdout") == 0)
        fprintf(stderr,
                "sluice: %s: warning: access_log = stdout: a daemon's stdout is /dev/null, so "
                "its access log is lost; set access_log to a file\n",
                budget_where(cfg, cfg->access_log_line, at, sizeof(at)));
}

/* Everything `-t` checks, in its order and with its text, then what only start can do; every
 * error line names the file (and line) to blame. The pid file is taken before anything that
 * could disturb a running instance. Returns the locked pid file's fd, or -1 once it said why. */
static int
start_checks(const struct options *o, struct cfg *cfg, struct tls_set **tls, struct mod_set *mods)
{
    char err[CFG_ERR_MAX], at[CFG_PATH_MAX + 16];
    pid_t other, stale;
    if (cfg_load(cfg, o->cfg_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        return -1;
    }
    if (budget_check(cfg, BUDGET_START) > 0)
        return -1;
    if (check_tls(cfg, tls, err, sizeof(err)) < 0 ||
        modcheck_run(cfg, mods, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        return -1;
    }
    /* After the budget, which judges the limit the workers will get, not the one we have. */
    if (apply_nofile(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        return -1;
    }
    int pid_fd = pidfile_acquire(cfg->pid_file, &other, &stale, err, sizeof(err));
    if (pid_fd < 0) {
        /* "already running (pid N, pid file F)" is the documented answer as it is. */
        if (errno == EWOULDBLOCK)
            fprintf(stderr, "sluice: %s\n", err);
        else
            fprintf(stderr, "sluice: %s: %s\n",
                    budget_where(cfg, cfg->pid_file_line, at, sizeof(at)), err);
        return -1;
    }
    if (log_open(cfg->error_log, err, sizeof(err)) < 0) {
        fprintf(stderr, "sluice: %s: %s\n", budget_where(cfg, cfg->error_log_line, at, sizeof(at)),
                err);
        pidfile_remove(cfg->pid_file, pid_fd);
        return -1;
    }
    log_set_level(cfg->log_level);
    if (stale)
        log_notice("pid file %s named pid %d, which is not running; replaced", cfg->pid_file,
                   (int)stale);
    return pid_fd;
}

static int
start(const struct options *o)
{
    /* Reload re-reads the file by the name it was given (the master never changes directory),
     * so its errors name it as -t and start do; it outlives every generation's cfg. */
    static char reload_path[CFG_PATH_MAX];
    struct cfg *cfg = malloc(sizeof(*cfg));
    struct tls_set *tls = NULL;
    struct mod_set mods = {0};
    char at[CFG_PATH_MAX + 16];
    int notify_fd = -1;

    if (cfg == NULL) {
        fprintf(stderr, "sluice: out of memory\n");
        return 1;
    }
    int pid_fd = start_checks(o, cfg, &tls, &mods);
    if (pid_fd < 0)
        goto fail;
    snprintf(reload_path, sizeof(reload_path), "%s", cfg->file);
    bool detach = o->daemon && getenv("SLUICE_INHERIT") == NULL;
    if (detach)
        warn_daemon_log(cfg);
    warn_root(cfg);
    /* A new master started by a binary upgrade is already detached: it is the old one's child. */
    if (detach) {
        if (daemonize(&notify_fd) < 0) {
            fprintf(stderr, "sluice: %s: cannot daemonise: %s\n",
                    budget_where(cfg, 0, at, sizeof(at)), strerror(errno));
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
        fprintf(stderr, "sluice: %s: cannot write pid file %s: %s\n",
                budget_where(cfg, cfg->pid_file_line, at, sizeof(at)), cfg->pid_file,
                strerror(errno));
        goto fail;
    }
    master_set_argv(o->argv);
    return master_run(cfg, tls, &mods, reload_path[0] ? reload_path : NULL, pid_fd, notify_fd);

fail:
    /* Taken but not written: leave no empty pid file behind. */
    if (pid_fd >= 0)
        pidfile_remove(cfg->pid_file, pid_fd);
    free(cfg);
    tls_set_free(tls);
    mod_set_close(&mods);
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
