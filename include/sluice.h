/* sluice.h: the public API for sluice application modules (C shared objects that sluice loads
 * into every worker and keeps resident). Everything here carries the sl_ prefix; the ABI is
 * SL_ABI_VERSION, checked when the module is loaded.
 *
 * A module exports one symbol, `sluice_app`, a const struct sl_app_hooks:
 *
 *     #include <sluice.h>
 *     static int hello(struct sl_req *req) {
 *         sl_resp_header(req, "Content-Type", "text/plain");
 *         sl_resp_send(req, "hello\n", 6);
 *         return SL_DONE;
 *     }
 *     const struct sl_app_hooks sluice_app = {.abi = SL_ABI_VERSION, .request = hello};
 *
 * built with `cc -shared -fPIC -I/path/to/sluice/include hello.c -o hello.so` (or
 * `pkg-config --cflags sluice` once installed). Its functions are resolved against the running
 * sluice binary: a module links no library of sluice's.
 *
 * Where hooks run. `check` runs in a short-lived child of the master (at `sluice -t`, start and
 * reload), as the configured `user`; `worker_start`, `request`, callbacks and `worker_stop` run
 * in each worker, on its one event-loop thread. Nothing may block that thread: no sleep, no
 * blocking read or connect. Wait with sl_timer_add and sl_watch_fd instead.
 *
 * Return codes. Calls that can fail return SL_OK (0) or one of the negative SL_E* codes below;
 * each function says which. */
#ifndef SLUICE_H
#define SLUICE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to this file. A module built against another version is
 * refused at load with a message naming both. */
#define SL_ABI_VERSION 1

/* The symbol a module exports. */
#define SL_APP_SYMBOL "sluice_app"

/* ---- Codes ---- */

enum sl_code {
    SL_OK = 0,
    SL_EINVAL = -1,    /* a bad argument (a status out of range, a field name that is not a
                        * token, CR/LF/NUL in a value, a NULL pointer) */
    SL_ECANCELED = -2, /* the request has ended (client gone, request_timeout, server stop):
                        * the call did nothing */
    SL_EALREADY = -3,  /* too late: the response has begun, or been sent */
    SL_ENOSPC = -4,    /* past a limit (max_response_header, the response becomes a 500) */
    SL_ENOMEM = -5,    /* out of memory */
    SL_ENOENT = -6,    /* not there (no body in memory, no such key) */
    SL_EIO = -7,       /* a system call failed (errno tells which) */
};

/* What the request hook returns. */
enum sl_result {
    SL_DONE = 0,    /* answered (or the hook gives up: with no answer the client gets 500) */
    SL_PENDING = 1, /* the answer comes later, from a timer, a watched fd or a cancel */
};

/* ---- Types ---- */

struct sl_req;     /* one request; see "Lifetime" below */
struct sl_app;     /* one application in one worker */
struct sl_section; /* the application's [app "name"] section of the config */
struct sl_timer;
struct sl_watch;

/* Bytes that are not NUL-terminated. ptr is NULL for "absent" (len 0). */
struct sl_str {
    const char *ptr;
    size_t len;
};

/* ---- The hooks: the one symbol a module exports ---- */

struct sl_app_hooks {
    uint32_t abi; /* SL_ABI_VERSION */
    /* Validate the section's keys (sl_config_*). Return 0, or -1 with a one-line message in
     * err (at most errlen bytes, NUL-terminated): the start or reload fails and names the
     * module, the section's file:line and this message. Optional. */
    int (*check)(const struct sl_section *section, char *err, size_t errlen);
    /* Each worker, after fork and the privilege drop, before it serves: build the per-worker
     * state (sl_app_set_data). Return 0, or -1 to fail the worker's start: at start the
     * instance stops, at reload the reload fails and the old generation keeps serving.
     * Optional. */
    int (*worker_start)(struct sl_app *app, const struct sl_section *section);
    /* One request on one of the application's routes: answer it (an sl_resp_send* or
     * sl_resp_error call) and return SL_DONE, or return SL_PENDING and answer later.
     * Required. */
    int (*request)(struct sl_req *req);
    /* The worker's end, after its last request (graceful stop, reload, retirement) or at a
     * fast stop: free the per-worker state. Optional. */
    void (*worker_stop)(struct sl_app *app);
};

/* ---- Configuration (in check and worker_start; the section stays valid for the worker's
 * life) ---- */

/* The application's name: the "name" of [app "name"]. */
const char *sl_config_name(const struct sl_section *s);
/* The value of `key` in the section, NULL when absent. `module` and the `route` lines are the
 * server's and are not returned here. */
const char *sl_config_get(const struct sl_section *s, const char *key);
/* The section's own keys in file order: start with *i = 0; returns 1 with *key and *value set,
 * 0 after the last. */
int sl_config_next(const struct sl_section *s, int *i, const char **key, const char **value);
/* The config line of `key` (0 when absent): for messages. */
int sl_config_line(const struct sl_section *s, const char *key);

/* ---- The application in this worker ---- */

/* Per-worker state: whatever worker_start sets, NULL until then. */
void sl_app_set_data(struct sl_app *app, void *data);
void *sl_app_data(const struct sl_app *app);
const char *sl_app_name(const struct sl_app *app);
/* The worker's slot (0 .. workers - 1) and generation (bumped by each reload). */
int sl_worker_slot(void);
unsigned sl_worker_generation(void);

enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_NOTICE, SL_LOG_WARN, SL_LOG_ERROR };
/* One line in the server's error log, prefixed with "app NAME: " (app may be NULL). */
void sl_log(const struct sl_app *app, enum sl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- The request ----
 *
 * Lifetime. `req` is valid from the request hook until the module's finishing call
 * (sl_resp_send, sl_resp_send_borrowed, sl_resp_send_file, sl_resp_error, sl_req_release),
 * also when that call fails; never after it. When the request ends first (the client left,
 * request_timeout passed, the server is stopping), the cancel callback runs once and every
 * later call on `req` does nothing and returns SL_ECANCELED (or an empty value), until the
 * module's finishing call lets it go. A module that answers from a timer therefore needs no
 * cancel callback: its late sl_resp_send returns SL_ECANCELED and releases the request. */

struct sl_app *sl_req_app(const struct sl_req *req);
struct sl_str sl_req_method(const struct sl_req *req); /* "GET" */
struct sl_str sl_req_target(const struct sl_req *req); /* as sent: "/a%20b?x=1" */
struct sl_str sl_req_path(const struct sl_req *req);   /* "/a%20b", still percent-encoded */
struct sl_str sl_req_query(const struct sl_req *req);  /* "x=1"; len 0 when none */
/* HTTP/1.x: 0 or 1. */
int sl_req_http_minor(const struct sl_req *req);
/* The first field called `name` (case-insensitive); ptr NULL when absent. */
struct sl_str sl_req_header(const struct sl_req *req, const char *name);
/* Field lines in order: start with *i = 0; returns 1 with name and value set, 0 after the
 * last. */
int sl_req_header_next(const struct sl_req *req, int *i, struct sl_str *name, struct sl_str *value);
/* The client's address into *addr (at most *len bytes; *len set to its size). SL_OK, or
 * SL_ENOENT on a unix-socket listener. */
int sl_req_remote(const struct sl_req *req, struct sockaddr_storage *addr, socklen_t *len);
/* The client's address as text ("127.0.0.1", "::1") into buf. SL_OK, SL_ENOENT (unix
 * socket), SL_EINVAL (buf too small: 46 bytes always do). */
int sl_req_remote_text(const struct sl_req *req, char *buf, size_t len);
/* 1 when the request came over TLS, else 0. */
int sl_req_tls(const struct sl_req *req);

/* The request body, read whole before the hook runs (up to max_body_size). */
/* Its length in bytes; 0 when there is none. */
int64_t sl_req_body_length(const struct sl_req *req);
/* The body in memory: SL_OK with *out set (valid until the finishing call); SL_ENOENT when
 * there is none (len 0) or it is larger than body_buffer_size and lives in a file
 * (sl_req_body_fd). */
int sl_req_body(const struct sl_req *req, struct sl_str *out);
/* The unlinked temp file holding a large body (read it with pread from offset 0; the server
 * closes it), or -1 when the body is in memory or absent. */
int sl_req_body_fd(const struct sl_req *req);

/* ---- The response ---- */

/* The status (200 when never set). SL_OK, SL_EINVAL (not 200..599), SL_EALREADY,
 * SL_ECANCELED. */
int sl_resp_status(struct sl_req *req, int status);
/* One more header field. Date, Server, Connection, Content-Length and Transfer-Encoding are the
 * server's. SL_OK, SL_EINVAL, SL_ENOSPC (past max_response_header: the response becomes a
 * 500), SL_EALREADY, SL_ECANCELED. */
int sl_resp_header(struct sl_req *req, const char *name, const char *value);
/* Finishing calls. Each ends the module's hold on `req`, also when it fails; one that fails
 * on a bad argument (SL_EINVAL) answers 500 in its place. */
/* The body, copied: `body` may be reused at once. SL_OK, SL_ECANCELED, SL_EALREADY, SL_ENOMEM. */
int sl_resp_send(struct sl_req *req, const void *body, size_t len);
/* The body, borrowed: the server reads it in place until `done(arg)` runs, once, when it no
 * longer needs it (sent, the client gone, or this call failed). done may be NULL. Same codes. */
int sl_resp_send_borrowed(struct sl_req *req, const void *body, size_t len, void (*done)(void *arg),
                          void *arg);
/* The file open at `fd` (a regular file; the descriptor passes to the server, which closes
 * it), sent with sendfile like a static file: a Range header gets 206 or 416 (one range; several
 * get the whole file), HEAD gets the header only. Ranges need the status line, so they apply
 * only when this is the module's first response call: after sl_resp_status or sl_resp_header
 * the whole file goes out under the response begun. content_type may be NULL
 * (application/octet-stream). SL_OK, SL_EINVAL (not a regular file: 500), SL_ECANCELED,
 * SL_EALREADY. */
int sl_resp_send_file(struct sl_req *req, int fd, const char *content_type);
/* The server's own page for `status` (400..599; another status answers 500 and returns
 * SL_EINVAL). SL_OK, SL_EINVAL, SL_ECANCELED, SL_EALREADY. */
int sl_resp_error(struct sl_req *req, int status);
/* After a cancel, when the module will not answer: let the request go. SL_OK. */
int sl_req_release(struct sl_req *req);

/* `cb` runs once if the request ends before the module's finishing call (client gone,
 * request_timeout, server stop). Every call on `req` from then on returns SL_ECANCELED; the
 * callback should cancel the module's timers and watches for this request and end with
 * sl_req_release (or any finishing call). SL_OK, SL_ECANCELED (already ended: cb not set). */
typedef void sl_cancel_cb(struct sl_req *req, void *arg);
int sl_req_on_cancel(struct sl_req *req, sl_cancel_cb *cb, void *arg);

/* ---- The worker's loop: timers and descriptors ---- */

/* Run cb(arg) once, `ms` milliseconds from now (0: in the next turn of the loop). Returns the
 * timer, valid until it has run or been cancelled, or NULL (out of memory). */
typedef void sl_timer_cb(void *arg);
struct sl_timer *sl_timer_add(uint64_t ms, sl_timer_cb *cb, void *arg);
/* Cancel a timer that has not run yet: it never runs and its memory is freed. SL_OK,
 * SL_EINVAL (NULL). */
int sl_timer_cancel(struct sl_timer *t);

/* Watch `fd` (owned by the module; non-blocking) for SL_READ and/or SL_WRITE, level-triggered:
 * cb(fd, events, arg) runs whenever one is ready (events also carries SL_ERROR on an error or
 * hang-up). Returns the watch, valid until sl_watch_cancel, or NULL (errno set). Cancel the
 * watch before closing the fd. */
#define SL_READ 0x1u
#define SL_WRITE 0x4u
#define SL_ERROR 0x8u
typedef void sl_watch_cb(int fd, unsigned events, void *arg);
struct sl_watch *sl_watch_fd(int fd, unsigned events, sl_watch_cb *cb, void *arg);
/* Change what a watch waits for. SL_OK, SL_EINVAL, SL_EIO. */
int sl_watch_change(struct sl_watch *w, unsigned events);
/* Stop watching and free the watch (from its own callback too). SL_OK, SL_EINVAL (NULL). */
int sl_watch_cancel(struct sl_watch *w);

#ifdef __cplusplus
}
#endif

#endif
