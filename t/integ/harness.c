/* Integration-test harness: temp dir + config, fork/exec of the real binary, bounded waits on
 * the port file, the guard that cleans up after a dying test, and the error-log scan that fails
 * a test on crit/alert/sanitizer lines. See harness.h for the contracts; files, processes and
 * CLI runs are in proc.c, the HTTP client in client.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_MS 10000
#define STATE_WAIT_MS 10000 /* bound on each process state change the helpers wait for */
#define STOP_TIMEOUT_MS 10000

const char SRV_INDEX_HTML[] = "<!doctype html>\n<title>sluice test</title>\n"
                              "<p>hello from the sluice integration suite</p>\n";

/*
 * Guard. Check runs each test in a forked process and ends a failing one with _exit() (no
 * atexit handlers), or SIGKILLs its process group on a timeout; either way a test that fails
 * half-way never reaches srv_stop. Check's killpg() takes the foreground masters with it, but
 * not a daemonised master (it left the group) nor the temp dirs. So the harness keeps a
 * registry of what it started in MAP_SHARED memory, and the first registration forks a
 * watchdog in its own process group that blocks on a pipe only the test process holds. When
 * the test process ends, however it ends, the watchdog reads EOF, SIGKILLs every registered
 * process still there (all started by this test), prints the tail of each leftover log, and
 * removes the leftover temp dirs (SLUICE_TEST_KEEP=1 keeps them for a post-mortem).
 */
struct child {
    pid_t pid;
    bool ours;   /* our child: waitpid works; else a daemon we only know by pid */
    bool reaped; /* ours and waited for */
    int status;
};

#define GUARD_MAX 32
#define DIRS_MAX 8

struct guard {
    struct child kids[GUARD_MAX];
    struct {
        char dir[SRV_PATH_MAX];
        char log[SRV_PATH_MAX];
    } dirs[DIRS_MAX]; /* instances not yet through srv_finish */
};

static struct guard *guard; /* shared with the watchdog */
static pid_t guard_owner;   /* the process the watchdog watches */

static const char *log_tail(const char *log, char *buf, size_t max);
static void kill_tree(pid_t master);

/* In the watchdog, once the test process is gone. */
static void
guard_cleanup(void)
{
    for (int i = 0; i < GUARD_MAX; i++) {
        struct child *c = &guard->kids[i];
        if (c->pid == 0 || c->reaped)
            continue;
        if (pid_alive(c->pid))
            kill_tree(c->pid);
    }
    bool keep = getenv("SLUICE_TEST_KEEP") != NULL;
    for (int i = 0; i < DIRS_MAX; i++) {
        if (guard->dirs[i].dir[0] == '\0')
            continue;
        char tail[1600];
        fprintf(stderr, "harness: test ended before srv_finish; %s %s; tail of %s:\n%s\n",
                keep ? "kept" : "removed", guard->dirs[i].dir, guard->dirs[i].log,
                log_tail(guard->dirs[i].log, tail, sizeof(tail)));
        if (!keep)
            rm_tree(guard->dirs[i].dir, "/sluice-test-");
    }
}

static void
guard_register(void)
{
    if (guard != NULL && guard_owner == getpid())
        return;
    /* First use in this (test) process: a registry inherited from a parent is not ours. */
    guard = mmap(NULL, sizeof(*guard), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_msg(guard != MAP_FAILED, "mmap: %s", strerror(errno));
    guard_owner = getpid();
    proc_set_reaper(srv_reap_exited);
    int p[2];
    ck_assert_msg(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0); /* out of the test's group: survives Check's killpg */
        signal(SIGINT, SIG_IGN);
        /* Keep only the read end (lifted above 2: without stdin it may have been fd 0), so
         * that EOF means the test process is gone. */
        int rfd = fcntl(p[0], F_DUPFD, 10);
        close(p[0]);
        close(p[1]);
        int devnull = open("/dev/null", O_RDWR);
        if (rfd < 0 || devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
            dup2(rfd, 3) < 0)
            _exit(1);
        close_range(4, ~0U, 0);
        char c;
        while (read(3, &c, 1) != 0 && errno == EINTR)
            ;
        guard_cleanup();
        _exit(0);
    }
    close(p[0]); /* p[1] stays open, close-on-exec, until this process ends */
}

static void
guard_add(pid_t pid, bool ours)
{
    guard_register();
    for (int i = 0; i < GUARD_MAX; i++) {
        if (guard->kids[i].pid == 0) {
            guard->kids[i] = (struct child){.pid = pid, .ours = ours};
            return;
        }
    }
    ck_abort_msg("harness: more than %d live processes", GUARD_MAX);
}

static struct child *
guard_find(pid_t pid)
{
    for (int i = 0; guard != NULL && i < GUARD_MAX; i++)
        if (guard->kids[i].pid == pid)
            return &guard->kids[i];
    return NULL;
}

static void
guard_remove(pid_t pid)
{
    struct child *c = guard_find(pid);
    if (c != NULL)
        memset(c, 0, sizeof(*c));
}

void
srv_reap_exited(void)
{
    for (int i = 0; guard != NULL && i < GUARD_MAX; i++) {
        struct child *c = &guard->kids[i];
        int st;
        if (c->pid == 0 || !c->ours || c->reaped)
            continue;
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            c->reaped = true;
            c->status = st;
        }
    }
}

/* SIGKILL a master we started and the workers it forked (collected first: once the master is
 * gone they are re-parented and no longer identifiable). */
static void
kill_tree(pid_t master)
{
    pid_t kids[256];
    int n = worker_pids(master, kids, 256);
    if (n > 256)
        n = 256;
    kill(master, SIGKILL);
    for (int i = 0; i < n; i++)
        kill(kids[i], SIGKILL);
}

static void
guard_add_dir(const struct srv *s)
{
    guard_register();
    for (int i = 0; i < DIRS_MAX; i++) {
        if (guard->dirs[i].dir[0] == '\0') {
            snprintf(guard->dirs[i].dir, SRV_PATH_MAX, "%s", s->dir);
            snprintf(guard->dirs[i].log, SRV_PATH_MAX, "%s", s->log);
            return;
        }
    }
    ck_abort_msg("harness: more than %d instances in one test", DIRS_MAX);
}

static void
guard_remove_dir(const char *dir)
{
    for (int i = 0; guard != NULL && i < DIRS_MAX; i++)
        if (strcmp(guard->dirs[i].dir, dir) == 0)
            guard->dirs[i].dir[0] = '\0';
}

void
srv_guard_pid(pid_t pid)
{
    guard_add(pid, false);
}

void
srv_unguard_pid(pid_t pid)
{
    guard_remove(pid);
}

/* The last `max` bytes of the error log, for failure messages. */
static const char *
log_tail(const char *log, char *buf, size_t max)
{
    size_t len;
    char *all = read_file_all(log, &len);
    if (all == NULL) {
        snprintf(buf, max, "(no log at %s)", log);
        return buf;
    }
    const char *start = len + 1 > max ? all + len - (max - 1) : all;
    snprintf(buf, max, "%s", start);
    free(all);
    return buf;
}

/* ---- instance lifecycle ---- */

/* "exited with status 1" / "killed by signal 6 (Aborted)" into buf (64 bytes). */
static const char *
wait_status_text(int st, char *buf)
{
    if (WIFEXITED(st))
        snprintf(buf, 64, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, 64, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, 64, "wait status 0x%x", st);
    return buf;
}

char *
srv_path(const struct srv *s, const char *rel, char *buf, size_t buflen)
{
    int n = snprintf(buf, buflen, "%s/%s", s->dir, rel);
    ck_assert_msg(n > 0 && (size_t)n < buflen, "path too long: %s/%s", s->dir, rel);
    return buf;
}

void
srv_init(struct srv *s)
{
    memset(s, 0, sizeof(*s));
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    int n = snprintf(s->dir, sizeof(s->dir), "%s/sluice-test-XXXXXX", tmp);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(s->dir) - 32, "TMPDIR too long");
    ck_assert_msg(mkdtemp(s->dir) != NULL, "mkdtemp %s: %s", s->dir, strerror(errno));
    srv_path(s, "sluice.ini", s->cfg, sizeof(s->cfg));
    srv_path(s, "www", s->root, sizeof(s->root));
    srv_path(s, "sluice.pid", s->pid_file, sizeof(s->pid_file));
    srv_path(s, "sluice.port", s->port_file, sizeof(s->port_file));
    srv_path(s, "error.log", s->log, sizeof(s->log));
    ck_assert_msg(mkdir(s->root, 0755) == 0, "mkdir %s: %s", s->root, strerror(errno));
    guard_add_dir(s);
    srv_write_file(s, "index.html", SRV_INDEX_HTML, strlen(SRV_INDEX_HTML));
}

/* Does `extra` set `key` (on a line of its own, "key = ..." or "key=...")? */
static bool
cfg_sets_key(const char *extra, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = extra; line != NULL && *line != '\0';) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (strncmp(line, key, klen) == 0) {
            const char *p = line + klen;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '=')
                return true;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return false;
}

void
srv_write_config(struct srv *s, const char *extra_cfg)
{
    const struct {
        const char *key;
        const char *value;
    } defaults[] = {
        {"listen", "127.0.0.1:0"},   {"workers", "2"},
        {"root", s->root},           {"pid_file", s->pid_file},
        {"port_file", s->port_file}, {"error_log", "stderr"},
        {"log_level", "info"},
    };
    char text[8192];
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        if (extra_cfg != NULL && cfg_sets_key(extra_cfg, defaults[i].key))
            continue;
        int n = snprintf(text + used, sizeof(text) - used, "%s = %s\n", defaults[i].key,
                         defaults[i].value);
        ck_assert_msg(n > 0 && n < 196, "config line too long for sluice: %s = %s", defaults[i].key,
                      defaults[i].value);
        used += (size_t)n;
    }
    if (extra_cfg != NULL) {
        size_t elen = strlen(extra_cfg);
        ck_assert_msg(used + elen + 2 < sizeof(text), "extra config too long");
        memcpy(text + used, extra_cfg, elen);
        used += elen;
        if (elen > 0 && extra_cfg[elen - 1] != '\n')
            text[used++] = '\n';
    }
    write_file(s->cfg, text, used);
}

int
srv_read_port_file(const struct srv *s)
{
    return srv_read_port_line(s, 0);
}

int
srv_read_port_line(const struct srv *s, int n)
{
    char *text = read_file_all(s->port_file, NULL);
    if (text == NULL)
        return -1;
    char *line = text;
    for (int i = 0; i < n && line != NULL; i++) {
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    int port = -1;
    char *nl = line != NULL ? strchr(line, '\n') : NULL;
    if (nl != NULL) {
        /* A line is the address, then a space and its listen flags when it has any. */
        *nl = '\0';
        line[strcspn(line, " ")] = '\0';
        char *colon = strrchr(line, ':');
        char *end;
        long v = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
        if (colon != NULL && end != colon + 1 && *end == '\0' && v > 0 && v < 65536)
            port = (int)v;
    }
    free(text);
    return port;
}

pid_t
srv_read_pid_file(const struct srv *s)
{
    return read_pid_at(s->pid_file);
}

const char *
srv_test_bin(void)
{
    const char *bin = getenv("SLUICE_TEST_BIN");
    return bin != NULL && *bin != '\0' ? bin : "./build/release/sluice-t";
}

void
srv_spawn_nofile(struct srv *s, unsigned long nofile)
{
    const char *bin = s->test_bin ? srv_test_bin() : sluice_bin();
    if (s->test_bin)
        ck_assert_msg(access(bin, X_OK) == 0,
                      "test binary %s: %s (set SLUICE_TEST_BIN, or build it: make "
                      "build/release/sluice-t)",
                      bin, strerror(errno));
    else
        ck_assert_msg(access(bin, X_OK) == 0, "sluice binary %s: %s (set SLUICE_BIN)", bin,
                      strerror(errno));
    unlink(s->port_file); /* never mistake an old port file for this start */
    int logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_msg(logfd >= 0, "open %s: %s", s->log, strerror(errno));

    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup_fds(logfd, logfd);
        struct rlimit rl = {.rlim_cur = nofile, .rlim_max = nofile};
        if (nofile > 0 && setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            dprintf(2, "harness: setrlimit RLIMIT_NOFILE %lu: %s\n", nofile, strerror(errno));
            _exit(126);
        }
        execl(bin, bin, "-c", s->cfg, (char *)NULL);
        dprintf(2, "harness: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(logfd);
    guard_add(pid, true);
    s->pid = pid;
    s->reaped = false;
    s->port = -1;

    char tail[2048];
    int64_t deadline = now_ms() + START_TIMEOUT_MS;
    for (;;) {
        srv_reap_exited();
        struct child *c = guard_find(pid);
        if (c != NULL && c->reaped) {
            s->reaped = true;
            s->status = c->status;
            guard_remove(pid);
            char how[64];
            ck_abort_msg("sluice %s during start; log:\n%s", wait_status_text(s->status, how),
                         log_tail(s->log, tail, sizeof(tail)));
        }
        s->port = srv_read_port_file(s);
        if (s->port > 0)
            return;
        if (now_ms() >= deadline)
            ck_abort_msg("no complete port file %s after %d ms; log:\n%s", s->port_file,
                         START_TIMEOUT_MS, log_tail(s->log, tail, sizeof(tail)));
        sleep_ms(10);
    }
}

void
srv_spawn(struct srv *s)
{
    srv_spawn_nofile(s, 0);
}

void
srv_start(struct srv *s, const char *extra_cfg)
{
    srv_init(s);
    srv_write_config(s, extra_cfg);
    srv_spawn(s);
}

void
srv_start_test(struct srv *s, const char *extra_cfg)
{
    srv_init(s);
    s->test_bin = true;
    srv_write_config(s, extra_cfg);
    srv_spawn(s);
}

int
srv_wait_exit(struct srv *s, int timeout_ms)
{
    if (s->reaped)
        return s->status;
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        srv_reap_exited();
        struct child *c = guard_find(s->pid);
        ck_assert_msg(c != NULL, "harness: pid %d is not a master we started", (int)s->pid);
        if (c->reaped) {
            s->reaped = true;
            s->status = c->status;
            guard_remove(s->pid);
            return s->status;
        }
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(10);
    }
}

void
srv_stop(struct srv *s)
{
    if (s->pid > 0 && !s->reaped) {
        ck_assert_msg(kill(s->pid, SIGTERM) == 0, "kill TERM %d: %s", (int)s->pid, strerror(errno));
        int st = srv_wait_exit(s, STOP_TIMEOUT_MS);
        if (st == -1) {
            kill_tree(s->pid);
            srv_wait_exit(s, STOP_TIMEOUT_MS);
            ck_abort_msg("master %d still running %d ms after SIGTERM (killed)", (int)s->pid,
                         STOP_TIMEOUT_MS);
        }
        srv_check_log(s);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "master %d after SIGTERM: %s (want exit 0)", (int)s->pid,
                      wait_status_text(st, (char[64]){0}));
    }
    srv_finish(s);
}

void
srv_check_log(const struct srv *s)
{
    static const char *const bad[] = {"[crit]", "[alert]", "AddressSanitizer", "LeakSanitizer",
                                      "runtime error:"};
    char *text = read_file_all(s->log, NULL);
    if (text == NULL)
        return;
    for (char *line = text; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            if (strstr(line, bad[i]) != NULL) {
                char msg[1024];
                snprintf(msg, sizeof(msg), "%s", line);
                free(text);
                ck_abort_msg("%s holds '%s': %s", s->log, bad[i], msg);
            }
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
}

void
srv_finish(struct srv *s)
{
    srv_check_log(s);
    guard_remove_dir(s->dir);
    if (getenv("SLUICE_TEST_KEEP") == NULL)
        rm_tree(s->dir, "/sluice-test-");
    s->dir[0] = '\0';
}

/* ---- files, CLI and error log of an instance ---- */

void
srv_write_file(const struct srv *s, const char *relpath, const void *data, size_t len)
{
    char path[SRV_PATH_MAX * 2];
    int n = snprintf(path, sizeof(path), "%s/%s", s->root, relpath);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(path), "path too long: %s", relpath);
    mkdir_parents(path);
    write_file(path, data, len);
}

void
srv_set_mtime(const struct srv *s, const char *rel, time_t sec, long nsec)
{
    char path[SRV_PATH_MAX * 2];
    int n = snprintf(path, sizeof(path), "%s/%s", s->root, rel);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(path), "path too long: %s", rel);
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    ck_assert_msg(utimensat(AT_FDCWD, path, ts, 0) == 0, "utimensat %s: %s", path, strerror(errno));
}

int
srv_ctl(const struct srv *s, const char *verb, char *out, size_t outlen)
{
    const char *args[] = {"-c", s->cfg, verb, NULL};
    return run_cmd(args, out, outlen);
}

void
srv_cli_stop(const struct srv *s, pid_t pid)
{
    char out[1024], want[64];
    int rc = srv_ctl(s, "stop", out, sizeof(out));
    snprintf(want, sizeof(want), "stopped (pid %d)", (int)pid);
    ck_assert_msg(rc == 0 && strstr(out, want) != NULL, "sluice stop: exit %d, output:\n%s", rc,
                  out);
    ck_assert_msg(pid_wait_gone(pid, STATE_WAIT_MS), "master %d still there after sluice stop",
                  (int)pid);
    srv_unguard_pid(pid);
}

char *
srv_oldbin_path(const struct srv *s, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s.oldbin", s->pid_file);
    ck_assert(n > 0 && (size_t)n < len);
    return buf;
}

pid_t
srv_wait_new_master(const struct srv *s, pid_t old)
{
    char oldbin[SRV_PATH_MAX + 8], want[64];
    srv_oldbin_path(s, oldbin, sizeof(oldbin));
    int64_t deadline = now_ms() + STATE_WAIT_MS;
    pid_t new_master = -1;
    for (;;) {
        new_master = srv_read_pid_file(s);
        if (new_master > 0 && new_master != old && read_pid_at(oldbin) == old)
            break;
        ck_assert_msg(now_ms() < deadline,
                      "%d ms after USR2: pid file names %d, %s names %d (old master %d)",
                      STATE_WAIT_MS, (int)new_master, oldbin, (int)read_pid_at(oldbin), (int)old);
        sleep_ms(5);
    }
    srv_guard_pid(new_master);
    snprintf(want, sizeof(want), "%d master: ready: ", (int)new_master);
    ck_assert_msg(log_wait(s, want, 1, STATE_WAIT_MS), "new master %d: no '%s' in the log",
                  (int)new_master, want);
    return new_master;
}

int
log_count(const struct srv *s, const char *needle)
{
    char *text = read_file_all(s->log, NULL);
    if (text == NULL)
        return 0;
    int n = 0;
    size_t nlen = strlen(needle);
    for (const char *p = text; nlen > 0 && (p = strstr(p, needle)) != NULL; p += nlen)
        n++;
    free(text);
    return n;
}

bool
log_wait(const struct srv *s, const char *needle, int count, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (log_count(s, needle) >= count)
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(10);
    }
}

bool
log_line_with(const struct srv *s, const char *a, const char *b, const char *c, char *out,
              size_t outlen)
{
    char *text = read_file_all(s->log, NULL);
    bool found = false;
    for (char *line = text; line != NULL && *line != '\0' && !found;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (strstr(line, a) && strstr(line, b) && (c == NULL || strstr(line, c))) {
            if (out != NULL)
                snprintf(out, outlen, "%s", line);
            found = true;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
    return found;
}
