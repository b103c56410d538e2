/* Integration-test helpers below the instance layer (harness.h): whole files, /proc probes of
 * processes, bounded runs of the sluice command line, and the clock. Nothing here knows a test
 * instance (struct srv); harness.c builds on it. */
#ifndef SLUICE_T_PROC_H
#define SLUICE_T_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/clock.h"

#define PROC_PATH_MAX 1024

/* The tests' names for common/clock.h. */
static inline int64_t
now_ms(void)
{
    return clock_mono_ms();
}

static inline void
sleep_ms(int ms)
{
    clock_sleep_ms(ms);
}

/* Called while the helpers below wait on processes (pid_wait_gone, run_cmd_io), so the layer
 * above can reap the children it started: a zombie master would still look alive to the CLI.
 * NULL (the default) reaps nothing. */
typedef void proc_reap_fn(void);
void proc_set_reaper(proc_reap_fn *fn);

/* ---- files ---- */

/* Write a whole file (truncating); fails the test on error. */
void write_file(const char *path, const void *data, size_t len);

/* Read a whole file, NUL-terminated, malloc'd (free it); NULL when it cannot be opened. */
char *read_file_all(const char *path, size_t *len);

/* ---- processes ---- */

/* The binary under test: $SLUICE_BIN, default ./sluice. */
const char *sluice_bin(void);

/* In a freshly forked child: stdin from /dev/null, stdout/stderr to the given fds, nothing else
 * inherited, default signal mask and SIGPIPE. _exit(126) on failure; the caller execs next. */
void child_setup_fds(int outfd, int errfd);

/* Process exists and is not a zombie. */
bool pid_alive(pid_t pid);

/* Wait up to timeout_ms until pid_alive(pid) is false. */
bool pid_wait_gone(pid_t pid, int timeout_ms);

/* Live (non-zombie) children of `master` from /proc/<pid>/stat, sorted; returns the count
 * (may exceed max: only the first max are stored). */
int worker_pids(pid_t master, pid_t *pids, int max);

/* Poll until `master` has exactly `want` live children (they go to pids); false on timeout. */
bool worker_pids_wait(pid_t master, int want, pid_t *pids, int max, int timeout_ms);

/* Is `pid` one of the n `pids`? */
bool pids_contain(const pid_t *pids, int n, pid_t pid);

/* Pid in a pid file ("1234\n", as sluice writes it; also .oldbin), -1 when absent or
 * unparsable. */
pid_t read_pid_at(const char *path);

/* First NUL-terminated string of /proc/PID/cmdline (the process title) into buf ("" when the
 * process is gone); returns buf. */
const char *proc_cmdline(pid_t pid, char *buf, size_t len);

/* utime + stime of pid in clock ticks (/proc/PID/stat); fails the test when unreadable. */
long long proc_cpu_ticks(pid_t pid);

/* Run the sluice binary with `args` (NULL-terminated, binary name not included), output into
 * `out` (NUL-terminated, truncated to outlen). `err` NULL: stderr goes into `out` too; else
 * stderr is captured separately. Killed after timeout_ms (fails the test). Returns the exit
 * code, or 128 + signal. While waiting it calls the reaper (proc_set_reaper). */
int run_cmd_io(const char *const args[], char *out, size_t outlen, char *err, size_t errlen,
               int timeout_ms);

/* run_cmd_io with stdout+stderr together and a 20 s limit. */
int run_cmd(const char *const args[], char *out, size_t outlen);

/* Run any program: argv[0] is looked up in PATH, run in `cwd` (NULL: here) with stdin from the
 * file `in` (NULL: inherited), stdout and stderr together into `out` (NUL-terminated,
 * truncated). Killed after timeout_ms. Returns the exit code or 128 + signal, or -1 (the reason
 * appended to `out`) when it could not be started or had to be killed. Never fails the test
 * itself. */
int run_tool(const char *cwd, const char *const argv[], const char *in, char *out, size_t outlen,
             int timeout_ms);

/* Remove the tree `dir`, but only when its path holds `marker` (never anything but our own temp
 * dirs). */
void rm_tree(const char *dir, const char *marker);

/* mkdir -p for the parents of `path` (not the last component); fails the test on error. */
void mkdir_parents(const char *path);

#endif
