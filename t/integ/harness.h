/* Integration-test harness: starts the real ./sluice on a free port in a temp dir, talks to it
 * over raw sockets, runs the CLI, and fails the test when the error log holds crit/alert or
 * sanitizer lines. Every wait is a bounded poll; the harness only signals pids it started.
 * harness.c: instances, processes, CLI, logs. client.c: the sockets and HTTP part. */
#ifndef SLUICE_T_HARNESS_H
#define SLUICE_T_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SRV_PATH_MAX 512
#define HTTP_MAX_HEADERS 64

/* One test instance: its temp dir and the master we forked. Zero it, then srv_init/srv_start. */
struct srv {
    char dir[SRV_PATH_MAX];       /* $TMPDIR/sluice-test-XXXXXX */
    char cfg[SRV_PATH_MAX];       /* <dir>/sluice.ini */
    char root[SRV_PATH_MAX];      /* <dir>/www */
    char pid_file[SRV_PATH_MAX];  /* <dir>/sluice.pid */
    char port_file[SRV_PATH_MAX]; /* <dir>/sluice.port */
    char log[SRV_PATH_MAX];       /* <dir>/error.log: the master's stdout+stderr */
    pid_t pid;                    /* master we forked (foreground), 0 when none */
    int port;                     /* first listener, from the port file */
    bool reaped;                  /* pid has been waited for; status holds its wait status */
    int status;
};

/* Contents of www/index.html as srv_init writes it. */
extern const char SRV_INDEX_HTML[];

/* ---- instance lifecycle (each fails the test on error) ---- */

/* Make the temp dir and <dir>/www with index.html. */
void srv_init(struct srv *s);

/* (Re)write <dir>/sluice.ini: the harness defaults (listen, workers, root, pid_file, port_file,
 * error_log, log_level), each only when `extra_cfg` does not set that key, then `extra_cfg`
 * (lines "key = value", may be NULL). Safe to call again before a reload. */
void srv_write_config(struct srv *s, const char *extra_cfg);

/* Fork+exec `$SLUICE_BIN -c <cfg>` (default ./sluice) in the foreground, output to <dir>/error.log,
 * and wait (bounded) until the port file is complete; sets s->pid and s->port. */
void srv_spawn(struct srv *s);

/* srv_init + srv_write_config + srv_spawn. */
void srv_start(struct srv *s, const char *extra_cfg);

/* Wait up to timeout_ms for the master to exit. Returns its wait status, or -1 on timeout. */
int srv_wait_exit(struct srv *s, int timeout_ms);

/* SIGTERM the master, wait for it (bounded; SIGKILL and fail past that), then srv_finish. */
void srv_stop(struct srv *s);

/* For a master that is already gone: fail on bad log lines, then remove the temp dir. */
void srv_finish(struct srv *s);

/* Fail the test with the offending line if error.log holds [crit], [alert] or sanitizer output. */
void srv_check_log(const struct srv *s);

/* Write `len` bytes to <root>/<relpath> (parent dirs created). */
void srv_write_file(const struct srv *s, const char *relpath, const void *data, size_t len);

/* <dir>/<rel> into buf; returns buf. */
char *srv_path(const struct srv *s, const char *rel, char *buf, size_t buflen);

/* Parse the first line ("host:port") of the port file; -1 when absent or incomplete. */
int srv_read_port_file(const struct srv *s);

/* Pid in the pid file, or -1 when absent or unparsable. */
pid_t srv_read_pid_file(const struct srv *s);

/* Remember a pid that is not our child (a daemonised master) so a failing test kills it. */
void srv_guard_pid(pid_t pid);
void srv_unguard_pid(pid_t pid);

/* ---- files and processes ---- */

/* Write a whole file (truncating); fails the test on error. */
void write_file(const char *path, const void *data, size_t len);

/* Read a whole file, NUL-terminated, malloc'd (free it); NULL when it cannot be opened. */
char *read_file_all(const char *path, size_t *len);

/* Process exists and is not a zombie. */
bool pid_alive(pid_t pid);

/* Wait up to timeout_ms until pid_alive(pid) is false. */
bool pid_wait_gone(pid_t pid, int timeout_ms);

/* Live (non-zombie) children of `master` from /proc/<pid>/stat, sorted; returns the count
 * (may exceed max: only the first max are stored). */
int worker_pids(pid_t master, pid_t *pids, int max);

/* Run the sluice binary with `args` (NULL-terminated, binary name not included), output into
 * `out` (NUL-terminated, truncated to outlen). `err` NULL: stderr goes into `out` too; else
 * stderr is captured separately. Killed after timeout_ms (fails the test). Returns the exit
 * code, or 128 + signal. While waiting it reaps any foreground master that exits. */
int run_cmd_io(const char *const args[], char *out, size_t outlen, char *err, size_t errlen,
               int timeout_ms);

/* run_cmd_io with stdout+stderr together and a 20 s limit. */
int run_cmd(const char *const args[], char *out, size_t outlen);

/* run_cmd for `-c <cfg> <verb>`. */
int srv_ctl(const struct srv *s, const char *verb, char *out, size_t outlen);

/* How often `needle` occurs in error.log. */
int log_count(const struct srv *s, const char *needle);

/* Poll until error.log holds `needle` at least `count` times; false on timeout. */
bool log_wait(const struct srv *s, const char *needle, int count, int timeout_ms);

int64_t now_ms(void);
void sleep_ms(int ms);

/* ---- sockets and HTTP ---- */

/* Connect to 127.0.0.1:port (retrying ECONNREFUSED for up to 2 s) with 10 s send/receive
 * timeouts. rcvbuf > 0 sets SO_RCVBUF before connecting. Fails the test on error. */
int conn_open(int port);
int conn_open_rcvbuf(int port, int rcvbuf);

/* Connect to a unix stream socket, same timeouts and retry. */
int conn_open_unix(const char *path);

/* Send what the peer takes, ignoring errors (it may reset a rejected request mid-way). */
void conn_send_tolerant(int fd, const void *buf, size_t len);

/* Send all bytes (MSG_NOSIGNAL); fails the test on error. */
void conn_send(int fd, const void *buf, size_t len);
void conn_sendstr(int fd, const char *s);

/* True when the peer closes (EOF or reset) within timeout_ms without sending more bytes. */
bool conn_wait_closed(int fd, int timeout_ms);

enum { HTTP_NO_BODY = 1 }; /* response to HEAD: headers only */

struct http_header {
    const char *name;
    const char *value;
};

struct http_resp {
    int status;
    char version[16];
    char head[16384]; /* raw header block, then split in place */
    size_t head_len;
    struct http_header hdr[HTTP_MAX_HEADERS];
    int nhdr;
    char *body; /* malloc'd, NUL-terminated; NULL when none */
    size_t body_len;
    char err[256]; /* why a read failed */
};

/* Read one response: status line and headers (byte by byte, so pipelined responses stay in the
 * socket), then the body by Content-Length, or until close when there is none. No body for
 * HTTP_NO_BODY, 1xx, 204 and 304. Returns 0, or -1 with r->err set. */
int http_try_read(int fd, struct http_resp *r, int flags);
int http_try_read_head(int fd, struct http_resp *r);
int http_try_read_body(int fd, struct http_resp *r, int flags);

/* Same, failing the test on error. */
void http_read_response(int fd, struct http_resp *r, int flags);

/* Header value (case-insensitive name, first match), NULL when absent. */
const char *http_header(const struct http_resp *r, const char *name);

void http_resp_free(struct http_resp *r);

/* One request on a fresh connection with `Connection: close`; returns the status. */
int http_simple(int port, const char *method, const char *target, struct http_resp *r);

#endif
