/* Integration-test helpers for files, processes and the CLI: whole-file I/O, /proc probes of
 * the processes a test started, bounded runs of the sluice command line. Declared in proc.h;
 * the layer above (harness.c) adds test instances, their guard and their error logs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "proc.h"

#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static proc_reap_fn *reaper;

void
proc_set_reaper(proc_reap_fn *fn)
{
    reaper = fn;
}

static void
reap(void)
{
    if (reaper != NULL)
        reaper();
}

/* ---- files ---- */

void
write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "write %s: %s", path, strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    ck_assert_msg(close(fd) == 0, "close %s: %s", path, strerror(errno));
}

char *
read_file_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        if (used + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        ssize_t n = read(fd, buf + used, cap - used - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    if (len != NULL)
        *len = used;
    return buf;
}

void
mkdir_parents(const char *path)
{
    char buf[PROC_PATH_MAX * 2];
    ck_assert_msg(strlen(path) < sizeof(buf), "path too long: %s", path);
    strcpy(buf, path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", buf,
                      strerror(errno));
        *p = '/';
    }
}

/* ---- processes ---- */

const char *
sluice_bin(void)
{
    const char *bin = getenv("SLUICE_BIN");
    return bin != NULL && *bin != '\0' ? bin : "./sluice";
}

void
child_setup_fds(int outfd, int errfd)
{
    /* Lift the targets above 2 first: run without stdin (as CI is), one may be fd 0. */
    outfd = fcntl(outfd, F_DUPFD, 10);
    errfd = fcntl(errfd, F_DUPFD, 10);
    int devnull = open("/dev/null", O_RDONLY);
    if (outfd < 0 || errfd < 0 || devnull < 0 || dup2(devnull, 0) < 0 || dup2(outfd, 1) < 0 ||
        dup2(errfd, 2) < 0)
        _exit(126);
    close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
}

bool
pid_alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

bool
pid_wait_gone(pid_t pid, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        reap();
        if (!pid_alive(pid))
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(10);
    }
}

static int
pid_cmp(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

int
worker_pids(pid_t master, pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        /* "pid (comm) S ppid ...": comm may hold spaces and parens, so parse after the last ')'. */
        const char *p = strrchr(buf, ')');
        char state;
        int ppid;
        if (p == NULL || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
            continue;
        if (ppid != master || state == 'Z' || state == 'X')
            continue;
        if (n < max)
            pids[n] = (pid_t)atoi(de->d_name);
        n++;
    }
    closedir(d);
    qsort(pids, (size_t)(n < max ? n : max), sizeof(pid_t), pid_cmp);
    return n;
}

bool
pids_contain(const pid_t *pids, int n, pid_t pid)
{
    for (int i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

bool
worker_pids_wait(pid_t master, int want, pid_t *pids, int max, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (worker_pids(master, pids, max) == want)
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(5);
    }
}

pid_t
read_pid_at(const char *path)
{
    char *text = read_file_all(path, NULL);
    if (text == NULL)
        return -1;
    char *end;
    long v = strtol(text, &end, 10);
    pid_t pid = end != text && (*end == '\n' || *end == '\0') && v > 0 ? (pid_t)v : -1;
    free(text);
    return pid;
}

const char *
proc_cmdline(pid_t pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    char *text = read_file_all(path, NULL);
    snprintf(buf, len, "%s", text != NULL ? text : "");
    free(text);
    return buf;
}

long long
proc_cpu_ticks(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *text = read_file_all(path, NULL);
    ck_assert_msg(text != NULL, "%s: cannot read", path);
    const char *p = strrchr(text, ')');
    unsigned long long ut = 0, st = 0;
    int n = p != NULL
                ? sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st)
                : 0;
    free(text);
    ck_assert_msg(n == 2, "%s: cannot parse utime/stime", path);
    return (long long)(ut + st);
}

/* ---- CLI ---- */

/* An unlinked temp file for a child's output; -1 with errno when none can be made. */
static int
open_tmp(void)
{
    const char *tmp = getenv("TMPDIR");
    char path[PROC_PATH_MAX];
    snprintf(path, sizeof(path), "%s/sluice-cmd-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static int
tmp_file(void)
{
    int fd = open_tmp();
    ck_assert_msg(fd >= 0, "mkstemp under $TMPDIR: %s", strerror(errno));
    return fd;
}

/* Wait for `pid`, reaping exited masters meanwhile; past timeout_ms SIGKILL it. 0 with its
 * wait status in *st, or -1 when it had to be killed. */
static int
wait_bounded(pid_t pid, int timeout_ms, int *st)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t w = waitpid(pid, st, WNOHANG);
        if (w == pid)
            return 0;
        reap();
        if (now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, st, 0);
            return -1;
        }
        sleep_ms(5);
    }
}

static void
read_back(int fd, char *buf, size_t buflen)
{
    size_t used = 0;
    lseek(fd, 0, SEEK_SET);
    while (buflen > 0 && used + 1 < buflen) {
        ssize_t n = read(fd, buf + used, buflen - used - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    if (buflen > 0)
        buf[used] = '\0';
    close(fd);
}

static void
check_no_sanitizer(const char *text)
{
    static const char *const bad[] = {"AddressSanitizer", "LeakSanitizer", "runtime error:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(strstr(text, bad[i]) == NULL, "sluice CLI output holds '%s':\n%s", bad[i],
                      text);
}

int
run_cmd_io(const char *const args[], char *out, size_t outlen, char *err, size_t errlen,
           int timeout_ms)
{
    const char *bin = sluice_bin();
    ck_assert_msg(access(bin, X_OK) == 0, "sluice binary %s: %s (set SLUICE_BIN)", bin,
                  strerror(errno));
    const char *argv[32];
    int argc = 0;
    argv[argc++] = bin;
    for (int i = 0; args[i] != NULL; i++) {
        ck_assert_int_lt(argc, 31);
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;

    /* Files, not pipes: a daemonised master may keep the descriptors open for its whole life,
     * and we must not wait for it to close them. */
    int outfd = tmp_file();
    int errfd = err != NULL ? tmp_file() : outfd;
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup_fds(outfd, errfd);
        execv(bin, (char *const *)argv);
        dprintf(2, "harness: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }

    int st = 0;
    if (wait_bounded(pid, timeout_ms, &st) < 0) {
        char text[2048], cmd[1024];
        size_t used = 0;
        for (int i = 0; argv[i] != NULL && used < sizeof(cmd); i++)
            used += (size_t)snprintf(cmd + used, sizeof(cmd) - used, "%s%s", i ? " " : "", argv[i]);
        read_back(outfd, text, sizeof(text));
        ck_abort_msg("'%s' still running after %d ms (killed); output:\n%s", cmd, timeout_ms, text);
    }
    reap();
    read_back(outfd, out, outlen);
    check_no_sanitizer(out);
    if (err != NULL) {
        read_back(errfd, err, errlen);
        check_no_sanitizer(err);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int
run_cmd(const char *const args[], char *out, size_t outlen)
{
    return run_cmd_io(args, out, outlen, NULL, 0, 20000);
}

int
run_tool(const char *cwd, const char *const argv[], const char *in, char *out, size_t outlen,
         int timeout_ms)
{
    int outfd = open_tmp();
    if (outfd < 0) {
        snprintf(out, outlen, "%s: temp file: %s", argv[0], strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(out, outlen, "%s: fork: %s", argv[0], strerror(errno));
        close(outfd);
        return -1;
    }
    if (pid == 0) {
        child_setup_fds(outfd, outfd);
        int infd = in != NULL ? open(in, O_RDONLY) : 0;
        if (infd < 0 || dup2(infd, 0) < 0 || (cwd != NULL && chdir(cwd) != 0)) {
            dprintf(2, "harness: stdin %s / cwd %s: %s\n", in ? in : "-", cwd ? cwd : "-",
                    strerror(errno));
            _exit(126);
        }
        if (infd != 0)
            close(infd);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st = 0;
    int rc = wait_bounded(pid, timeout_ms, &st);
    read_back(outfd, out, outlen);
    if (rc < 0) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "\nharness: %s killed after %d ms", argv[0],
                 timeout_ms);
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void
rm_tree(const char *dir, const char *marker)
{
    if (strstr(dir, marker) != NULL)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
