/* Integration-test harness: starts the real ./sluice on a free port in a temp dir, talks to it
 * over raw sockets, runs the CLI, and fails the test when the error log holds crit/alert or
 * sanitizer lines. Every wait is a bounded poll; the harness only signals pids it started.
 * Layers, each using only the ones below: proc.h (files, processes, CLI runs, clock), then
 * harness.c (instances, their guard, their files, CLI and error log), then client.c (sockets
 * and HTTP). */
#ifndef SLUICE_T_HARNESS_H
#define SLUICE_T_HARNESS_H

#include "proc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

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
    bool test_bin; /* srv_spawn starts the test build (srv_test_bin()) instead of sluice_bin() */
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

/* Fork+exec `$SLUICE_BIN -c <cfg>` (default ./sluice; with s->test_bin, srv_test_bin()) in the
 * foreground, output to <dir>/error.log, and wait (bounded) until the port file is complete;
 * sets s->pid and s->port. */
void srv_spawn(struct srv *s);

/* The test build of the server (./sluice plus the /_t/ handlers of t/app/): $SLUICE_TEST_BIN,
 * default ./build/release/sluice-t. */
const char *srv_test_bin(void);

/* srv_spawn with RLIMIT_NOFILE (soft and hard) set to `nofile` in the child before exec; 0 keeps
 * the inherited limit. */
void srv_spawn_nofile(struct srv *s, unsigned long nofile);

/* srv_init + srv_write_config + srv_spawn. */
void srv_start(struct srv *s, const char *extra_cfg);

/* srv_start for the test build (s->test_bin). */
void srv_start_test(struct srv *s, const char *extra_cfg);

/* Wait up to timeout_ms for the master to exit. Returns its wait status, or -1 on timeout. */
int srv_wait_exit(struct srv *s, int timeout_ms);

/* SIGTERM the master, wait for it (bounded; SIGKILL and fail past that), then srv_finish. */
void srv_stop(struct srv *s);

/* For a master that is already gone: fail on bad log lines, then remove the temp dir. */
void srv_finish(struct srv *s);

/* Fail the test with the offending line if error.log holds [crit], [alert] or sanitizer output. */
void srv_check_log(const struct srv *s);

/* <dir>/<rel> into buf; returns buf. */
char *srv_path(const struct srv *s, const char *rel, char *buf, size_t buflen);

/* Parse the first line ("host:port") of the port file; -1 when absent or incomplete. */
int srv_read_port_file(const struct srv *s);

/* The port of line n (0 = the first) of the port file: one line per listener, in config order;
 * -1 when absent or incomplete. */
int srv_read_port_line(const struct srv *s, int n);

/* read_pid_at(s->pid_file). */
pid_t srv_read_pid_file(const struct srv *s);

/* Remember a pid that is not our child (a daemonised master) so a failing test kills it. */
void srv_guard_pid(pid_t pid);
void srv_unguard_pid(pid_t pid);

/* Reap (without blocking) every foreground master of ours that has exited, so that a wait for
 * a master to go away does not wait on our zombie. */
void srv_reap_exited(void);

/* ---- files, CLI and error log of an instance ---- */

/* Write `len` bytes to <root>/<relpath> (parent dirs created). */
void srv_write_file(const struct srv *s, const char *relpath, const void *data, size_t len);

/* Set atime and mtime of <root>/<relpath>; fails the test on error. */
void srv_set_mtime(const struct srv *s, const char *relpath, time_t sec, long nsec);

/* run_cmd for `-c <cfg> <verb>`. */
int srv_ctl(const struct srv *s, const char *verb, char *out, size_t outlen);

/* `sluice stop` for a master that is not our child (guarded with srv_guard_pid): the CLI must
 * say "stopped (pid PID)" and exit 0, and pid must be gone within 10 s; then it is unguarded. */
void srv_cli_stop(const struct srv *s, pid_t pid);

/* "<pid_file>.oldbin" into buf; returns buf. */
char *srv_oldbin_path(const struct srv *s, char *buf, size_t len);

/* After USR2 to `old`: poll (10 s bound, else fail) until the pid file names a new master and
 * .oldbin names `old`, guard the new master (srv_guard_pid), then wait until it logs
 * "<pid> master: ready: ". Returns the new master's pid. */
pid_t srv_wait_new_master(const struct srv *s, pid_t old);

/* How often `needle` occurs in error.log. */
int log_count(const struct srv *s, const char *needle);

/* Poll until error.log holds `needle` at least `count` times; false on timeout. */
bool log_wait(const struct srv *s, const char *needle, int count, int timeout_ms);

/* True when one line of error.log holds a, b and c (c may be NULL); that line goes to out
 * (may be NULL). */
bool log_line_with(const struct srv *s, const char *a, const char *b, const char *c, char *out,
                   size_t outlen);

/* ---- sockets and HTTP (client.c) ---- */

/* A port free on 127.0.0.1 right now, for what cannot bind port 0 (haproxy, a second
 * listener on a fixed port): the kernel's pick, bound once and closed. Fails the test on
 * error. */
int srv_free_port(void);

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

/* `method target` on a fresh connection with `Connection: close` and the extra header lines
 * `headers` ("Name: value\r\n"..., may be NULL). Reads the response, then fails the test unless
 * the server closes within 5 s without one byte more (so a 304 or a HEAD answer carried no
 * body). Returns the status. */
int http_fetch(int port, const char *method, const char *target, const char *headers,
               struct http_resp *r);

/* Fail unless header `name` is present and exactly `want`. */
void http_assert_header(const struct http_resp *r, const char *name, const char *want);

/* Fail unless the body is exactly `want`; `what` (may be NULL) prefixes the message. */
void http_assert_body(const struct http_resp *r, const char *want, const char *what);

/* The response says `Connection: close`. */
bool http_says_close(const struct http_resp *r);

/* Read one response on fd: it must have status `want` and `Connection: close`, and the server
 * must then close within close_ms with no further byte (no second response). */
void http_expect_final(int fd, int want, int close_ms, const char *what);

/* `times` GET / on new connections (load_get_once), each step bounded by 3 s: every one must
 * be a 200 carrying exactly index.html. `when` names the moment in the message. */
void srv_assert_serves(const struct srv *s, int times, const char *when);

/* Send `request` on new connections until one is answered 200 (a bounded poll, 20 ms apart,
 * for timeout_ms): every other answer must be a 503 (max_connections_per_ip not yet freed). */
void http_wait_served(int port, const char *request, int timeout_ms, const char *what);

#endif
