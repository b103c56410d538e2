/* The request/response seam: what a handler sees of a request and how it answers, whether at
 * once or later. Static files and (later) application modules are handlers behind the route
 * table (route.h); conn.c drives the connection and never knows which handler runs.
 *
 * Lifetime. A handler's request hook gets a `struct req *` that stays valid while the handler
 * holds it: during the hook, and after a hook that returned REQ_PENDING or began a stream,
 * until the handler's finishing call (req_send_*, req_error, req_stream_end, req_release).
 * When the client leaves, or request_timeout passes, before that call, the request ends: the
 * cancel callback (req_on_cancel) runs once, every later call on it is a no-op that returns -1
 * with errno ECANCELED, and the object stays valid until the handler's finishing call, which
 * then only lets it go. */
#ifndef SLUICE_REQ_H
#define SLUICE_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "worker/handler.h"
#include "worker/http.h"

struct req;
struct req_peer;

/* ---- The request ---- */

enum http_verb req_verb(const struct req *r);
struct http_span req_method(const struct req *r);
struct http_span req_target(const struct req *r); /* as the client sent it */
struct http_span req_path(const struct req *r);   /* the target's path, still percent-encoded */
struct http_span req_query(const struct req *r);  /* after '?', without it; empty when none */
/* The path as routes see it: percent-decoded and normalised (no "." or ".." segments, no
 * empty ones), with its leading '/'. Writes at most `cap` bytes (NUL included) to `buf`.
 * Returns its length, or -1 (EINVAL: it does not normalise; ENOSPC). */
ssize_t req_path_normalized(const struct req *r, char *buf, size_t cap);
unsigned req_http_minor(const struct req *r); /* 0 or 1 (HTTP/1.x) */

/* The first field called `name` (case-insensitive), NULL when absent. */
const struct http_span *req_header(const struct req *r, const char *name);
/* Field lines in order: start with *i = 0; false after the last. */
bool req_header_next(const struct req *r, int *i, struct http_span *name, struct http_span *value);

/* The client's address (copied into *out, at most *len bytes; *len set to its size); -1 when
 * unknown (a unix socket). */
int req_peer(const struct req *r, struct sockaddr_storage *out, socklen_t *len);
int req_listener(const struct req *r); /* index of the listen line it came in on */
bool req_tls(const struct req *r);
/* The pointer given to route_add for the route that matched. */
void *req_route_data(const struct req *r);

/* ---- The request body ---- */

/* REQ_BODY_BUFFER: the whole body is in. Its length; 0 when there is none. */
int64_t req_body_length(const struct req *r);
/* The body in memory (*p, *n): 0; -1 when it is in a file (use req_body_fd) or there is none
 * (n = 0). */
int req_body_mem(const struct req *r, const char **p, size_t *n);
/* The unlinked temp file holding the body (read it with pread from 0), or -1 when the body is
 * in memory. Owned by the request: closed when the request ends. */
int req_body_fd(const struct req *r);

/* REQ_BODY_STREAM: `cb` gets each piece of the body in order (bytes valid during the call
 * only), then a last call with last = true (n = 0) once the body is complete. Sends 100
 * Continue when the client asked for it. Nothing is read from the client while the handler is
 * paused: back-pressure reaches the client through TCP. Returns 0, or -1 (EINVAL: not a
 * streamed route, or called twice; ECANCELED). */
typedef void req_body_cb(struct req *r, void *arg, const char *p, size_t n, bool last);
int req_body_stream(struct req *r, req_body_cb *cb, void *arg);
int req_body_pause(struct req *r);
int req_body_resume(struct req *r);

/* ---- The response ---- */

/* Begin the response with `status` (100-599, not 1xx). Server, Date and, at the end,
 * Connection and the framing header (Content-Length or Transfer-Encoding) are the server's.
 * Returns 0, or -1 (EINVAL; EALREADY: begun; ECANCELED). */
int req_status(struct req *r, int status);
/* One more field line. Returns 0, or -1: EINVAL (not a token name, CR/LF/NUL in the value,
 * or a framing field the server writes), ENOSPC (past max_response_header: the response
 * becomes a 500 and a line is logged), EALREADY (the header is out), ECANCELED. */
int req_header_add(struct req *r, const char *name, const char *value);

/* Finishing calls: each ends the handler's hold on `r` (see the top of this file), also when
 * it fails. Without req_status first, the status is 200. */
/* The body is copied: `p` may be reused at once. */
int req_send_copy(struct req *r, const void *p, size_t n);
/* The body is borrowed: `done(arg)` runs once the server no longer needs it (sent, or the
 * connection gone), also when this call fails. */
int req_send_mem(struct req *r, const void *p, size_t n, void (*done)(void *arg), void *arg);
/* `len` bytes of `fd` from `off`, sent with sendfile. The descriptor passes to the server,
 * which closes it when the response ends. */
int req_send_fd(struct req *r, int fd, off_t off, off_t len);
/* The server's own answer for `status` (a small HTML page, Connection: close for 4xx/5xx that
 * leave the stream unsafe). */
int req_error(struct req *r, int status);
/* After a cancel: nothing more to do with `r`. */
int req_release(struct req *r);

/* A streamed body: the header goes out now (chunked on HTTP/1.1; on HTTP/1.0 without
 * framing, ended by closing the connection). `produce` is called whenever everything written
 * so far has gone out: it writes with req_stream_write and ends with req_stream_end. When it
 * has nothing yet it simply returns, and req_stream_wake (or a write) later brings it back.
 * The stream holds the request until req_stream_end. */
typedef void req_produce_cb(struct req *r, void *arg);
int req_send_stream(struct req *r, req_produce_cb *produce, void *arg);
/* Copy up to `n` bytes into the stream's buffer; returns how many it took (0 when full: wait
 * for the next produce call), or -1 (ECANCELED, EINVAL before req_send_stream). */
ssize_t req_stream_write(struct req *r, const void *p, size_t n);
/* The end of the body, with trailer field lines ("Name: value\r\n"...) or NULL; trailers are
 * dropped on HTTP/1.0. A finishing call. */
int req_stream_end(struct req *r, const char *trailers);
/* There is something to write again: `produce` runs once the connection can take it. */
int req_stream_wake(struct req *r);

/* `cb` runs once if the request ends before the handler's finishing call (client gone,
 * request_timeout, server stop). Calls on `r` from it return ECANCELED; it should drop the
 * handler's timers and watches and end with req_release. */
typedef void req_cancel_cb(struct req *r, void *arg);
int req_on_cancel(struct req *r, req_cancel_cb *cb, void *arg);

/* One pointer of the handler's own bookkeeping on `r` (application modules keep the module's
 * cancel callback there), NULL until set; it lives as long as `r`. */
void req_set_word(struct req *r, void *word);
void *req_word(const struct req *r);

/* ---- The log phase ---- */

enum req_end {
    REQ_END_COMPLETE,    /* the whole response went out */
    REQ_END_CLIENT_GONE, /* the client closed, or a send failed */
    REQ_END_TIMEOUT,     /* a timeout ended it (408, 504, send_timeout, ...) */
    REQ_END_ERROR,       /* the server gave up (no memory, a file shrank, stop) */
};

/* One finished request, whatever its end. Times are the loop's clock, in ms. */
struct req_log {
    enum req_end end;
    int status;          /* of the response begun, else of the one chosen; 0 when none */
    int64_t bytes_sent;  /* response bytes that went out, header included */
    int64_t body_bytes;  /* request body bytes received */
    int64_t start_ms;    /* the request's first byte */
    int64_t dispatch_ms; /* handed to its handler, or answered by the server from its route
                          * (0: never, e.g. a malformed request or a header timeout) */
    int64_t end_ms;
    const char *route; /* the handler's name; NULL for an answer the server gave itself */
    uint32_t seq;      /* 1 for a connection's first request, then 2, 3, ... */
    bool reused;       /* seq > 1 */
    int fd;            /* the connection */
    int listener;
    bool tls;
    const struct req_peer *peer; /* packed: req_log_peer gives the sockaddr */
    /* The request while its bytes are still held (NULL when none was read, or it is gone: with
     * access_log on the connection keeps it until here), and whether its header section was
     * complete (then req_method, req_target, req_header are valid on it). */
    const struct req *req;
    bool parsed;
    int64_t header_bytes; /* of bytes_sent, the response header's (0 when unknown) */
    int64_t duration_us;  /* from the first byte: to the microsecond with access_log on, else
                           * (end_ms - start_ms) x 1000 */
};

/* The client's address of a log record (into *out, at most *len bytes; *len set to its size);
 * -1 when unknown (a unix socket). */
int req_log_peer(const struct req_log *l, struct sockaddr_storage *out, socklen_t *len);

typedef void req_log_cb(const struct req_log *l, void *arg);
#define REQ_LOG_MAX 4
/* Add an observer of the log phase (counters, access log, the fuzzer). Returns 0 or -1
 * (ENOSPC). */
int req_log_add(req_log_cb *cb, void *arg);
/* Forget every observer (tests). */
void req_log_clear(void);

#endif
