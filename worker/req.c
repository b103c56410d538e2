/* The request/response seam (see req.h and req_internal.h): the request blocks, routing a
 * parsed request to its handler, the handler-facing calls on the request, cancel, and the log
 * phase's observers. Bodies are req_body.c's, answers req_send.c's.
 *
 * conn.c owns the connection and calls in at the header, at each body piece and at the end of
 * the request; a handler that acts later (a timer, an fd) reaches the connection back only
 * through req_ops.kick, so this file never includes conn.h. */
#include "worker/req.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/bufpool.h"
#include "worker/ofc.h"
#include "worker/path.h"
#include "worker/req_internal.h"
#include "worker/resp.h"
#include "worker/route.h"

#define REQ_CACHE 64 /* free request blocks kept */
#define BODY_CACHE 8 /* free body blocks kept */

static struct bufpool req_pool;
static struct {
    req_log_cb *cb;
    void *arg;
} observers[REQ_LOG_MAX];
static int nobservers;

int
req_setup(const struct req_env *e)
{
    req_env_set(e);
    bufpool_init(&req_pool, e->block_size, REQ_CACHE);
    req_body_setup((size_t)e->body_buffer_size);
    return 0;
}

struct req *
req_get(void)
{
    return bufpool_get(&req_pool);
}

void
req_start(struct req *r, void *conn, const struct http_limits *lim)
{
    struct http_header *headers = (struct http_header *)(r + 1);
    r->data = (char *)(headers + lim->max_headers);
    r->pos = 0;
    http_req_init(&r->http, r->data, lim, headers);
    memset(&r->conn, 0, offsetof(struct req, cold) - offsetof(struct req, conn));
    r->conn = conn;
}

void
req_peer_pack(struct req_peer *p, const struct sockaddr *sa)
{
    memset(p, 0, sizeof(*p));
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        p->family = AF_INET;
        p->port = in->sin_port;
        memcpy(p->addr, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        p->family = AF_INET6;
        p->port = in6->sin6_port;
        p->scope = in6->sin6_scope_id;
        memcpy(p->addr, &in6->sin6_addr, 16);
    }
}

const struct sockaddr *
req_peer_unpack(const struct req_peer *p, struct sockaddr_in6 *sa)
{
    if (p == NULL)
        return NULL;
    if (p->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        memset(in, 0, sizeof(*in));
        in->sin_family = AF_INET;
        in->sin_port = p->port;
        memcpy(&in->sin_addr, p->addr, 4);
    } else if (p->family == AF_INET6) {
        memset(sa, 0, sizeof(*sa));
        sa->sin6_family = AF_INET6;
        sa->sin6_port = p->port;
        sa->sin6_scope_id = p->scope;
        memcpy(&sa->sin6_addr, p->addr, 16);
    } else {
        return NULL;
    }
    return (const struct sockaddr *)sa;
}

void
req_trim(void)
{
    bufpool_trim(&req_pool);
    req_body_trim();
}

/* Free what `r` owns and the block itself. */
static void
destroy(struct req *r)
{
    ofc_release(r->file);
    if (r->cold_ready) {
        req_body_free(r);
        if (r->cold.mem_done) {
            void (*done)(void *) = r->cold.mem_done;
            r->cold.mem_done = NULL;
            done(r->cold.mem_arg);
        }
    }
    bufpool_put(&req_pool, r);
}

void
req_put(struct req *r)
{
    if (r == NULL)
        return;
    if (!r->held && !r->cold_ready && r->file == NULL && !req_running(r)) {
        bufpool_put(&req_pool, r); /* the static path: nothing else to let go */
        return;
    }
    r->conn = NULL;
    r->out = NULL;
    if (!r->held && !req_running(r))
        destroy(r);
}

void
req_unhold(struct req *r)
{
    r->held = false;
    if (r->conn == NULL && !req_running(r))
        destroy(r);
}

/* ---- Routing ---- */

static enum req_body_mode
body_mode(const struct req *r)
{
    return r->route ? r->route->h->body : REQ_BODY_DISCARD;
}

static bool
is_star(const struct req *r)
{
    return r->http.target.n == 1 && r->http.target.p[0] == '*';
}

/* Path, query and normalised path of the target; the route for it. Returns 0, or the status
 * of the answer the server gives itself (400, 404, 405). */
static int
resolve(struct req *r, char *rel, size_t cap)
{
    if (http_target_path(&r->http, &r->path, &r->query) < 0)
        return r->http.verb == VERB_OTHER ? 405 : 400;
    int n = path_normalize(r->path.p, r->path.n, rel, cap);
    if (n < 0)
        return 400;
    r->rel = rel;
    r->rel_len = (size_t)n;
    r->route = route_match(rel, (size_t)n);
    if (r->route == NULL)
        return 404;
    /* OPTIONS is the server's to answer, from the handler's `allow`. */
    if (!(r->route->h->verbs & (1u << r->http.verb)) && r->http.verb != VERB_OPTIONS)
        return 405;
    return 0;
}

static void
answer_options(struct resp *out, const struct http_req *req, const char *allow)
{
    resp_start(out, 200);
    resp_header(out, "Allow: %s", allow);
    resp_header(out, "Content-Length: 0");
    resp_end(out, req);
}

/* The server's own answer for a request that reached no hook. */
static enum req_next
answer(struct req *r, int status)
{
    char allow[96];
    if (r->http.has_body && !r->http.complete)
        r->out->close = true; /* the body will not be read */
    if (status == 405 && r->route) {
        snprintf(allow, sizeof(allow), "Allow: %s", r->route->h->allow);
        resp_error(r->out, &r->http, 405, allow);
    } else {
        resp_error(r->out, &r->http, status, NULL);
    }
    r->route = NULL;
    r->phase = REQ_ANSWERED;
    return REQ_NEXT_SEND;
}

/* After a hook or a body callback: what the connection does next. */
static enum req_next
after_handler(struct req *r)
{
    switch (r->phase) {
    case REQ_ANSWERED:
        return REQ_NEXT_SEND;
    case REQ_ENDED:
        return REQ_NEXT_WAIT; /* the connection went away under the handler */
    default:
        break;
    }
    if (!r->body_done && r->body_started)
        return r->body_paused ? REQ_NEXT_PAUSED : REQ_NEXT_READ;
    if (!r->body_done && r->http.has_body)
        return REQ_NEXT_PAUSED; /* the handler may still ask for the body (req_body_stream) */
    return REQ_NEXT_WAIT;
}

static enum req_next
run_hook(struct req *r)
{
    const struct handler *h = r->route->h;
    r->phase = REQ_IN_HOOK;
    req_enter(r);
    enum req_result res = h->request(r);
    req_leave();
    r->rel = NULL;
    if (res == REQ_PENDING && r->phase != REQ_ANSWERED)
        r->held = r->keep = true; /* ended under the hook too: it lets go with its release */
    if (r->phase == REQ_IN_HOOK) {
        if (res == REQ_PENDING) {
            r->phase = REQ_WAITING;
        } else {
            log_warnx("handler %s returned without an answer; answering 500", h->name);
            resp_error(r->out, &r->http, 500, NULL);
            r->phase = REQ_ANSWERED;
        }
    }
    if (r->conn == NULL) { /* the connection went away under the hook (a failed 100) */
        if (!r->held)
            destroy(r);
        return REQ_NEXT_WAIT;
    }
    if (r->phase == REQ_ANSWERED && r->out->overflow) {
        /* Only a handler's own header can overflow (req_header_add refuses it first). */
        ofc_release(r->file);
        r->file = NULL;
        log_warnx("handler %s: response header too large; answering 500", h->name);
        resp_error(r->out, &r->http, 500, NULL);
    }
    return after_handler(r);
}

enum req_next
req_headers(struct req *r, struct resp *out, char *rel, size_t cap)
{
    if (!r->http.has_body)
        return REQ_NEXT_READ; /* routed once, at the end of the request */
    r->out = out;
    if (is_star(r))
        return REQ_NEXT_READ; /* OPTIONS *: answered after its body, like any OPTIONS */
    int status = resolve(r, rel, cap);
    if (status)
        return answer(r, status);
    int64_t limit = r->route->h->max_body ? r->route->h->max_body : req_env()->max_body_size;
    if (http_body_limit(&r->http, limit) < 0)
        return answer(r, 413);
    switch (body_mode(r)) {
    case REQ_BODY_DISCARD:
        /* The handler does not want the body: a client waiting for 100 Continue gets the
         * answer instead (and the connection closes after it, the body unread). */
        if (r->http.expect_continue && r->http.verb != VERB_OPTIONS) {
            out->close = true;
            return run_hook(r);
        }
        break;
    case REQ_BODY_BUFFER:
        break;
    case REQ_BODY_STREAM:
        if (r->http.verb == VERB_OPTIONS)
            break;
        return run_hook(r);
    }
    r->rel = NULL;
    return REQ_NEXT_READ;
}

bool
req_wants_continue(const struct req *r)
{
    if (!r->http.expect_continue || r->phase != REQ_PARSING)
        return false;
    return is_star(r) || body_mode(r) == REQ_BODY_BUFFER || r->http.verb == VERB_OPTIONS;
}

enum req_next
req_body_piece(struct req *r)
{
    const struct http_span *p = &r->http.piece;
    if (r->phase == REQ_PARSING) {
        /* Before the hook: kept for a buffering handler, else dropped (static files, OPTIONS,
         * OPTIONS *). */
        if (r->route && body_mode(r) == REQ_BODY_BUFFER && r->http.verb != VERB_OPTIONS &&
            req_body_store(r, p->p, p->n) < 0)
            return answer(r, 500);
        return REQ_NEXT_READ;
    }
    if (r->phase == REQ_ANSWERED || r->phase == REQ_ENDED)
        return REQ_NEXT_READ; /* dropped: the connection closes after the answer */
    if (!r->body_started)
        return REQ_NEXT_PAUSED;
    req_enter(r);
    r->cold.body_cb(r, r->cold.body_arg, p->p, p->n, false);
    req_leave();
    return after_handler(r);
}

enum req_next
req_complete(struct req *r, struct resp *out, char *rel, size_t cap)
{
    r->out = out;
    if (r->phase != REQ_PARSING) {
        /* A streamed body's hook ran at the header: tell it the body is complete. */
        r->body_done = true;
        if (r->phase == REQ_ANSWERED || r->phase == REQ_ENDED || !r->body_started)
            return after_handler(r);
        req_enter(r);
        r->cold.body_cb(r, r->cold.body_arg, NULL, 0, true);
        req_leave();
        return after_handler(r);
    }
    r->body_done = true;
    if (is_star(r)) {
        answer_options(out, &r->http, "GET, HEAD, OPTIONS");
        r->phase = REQ_ANSWERED;
        return REQ_NEXT_SEND;
    }
    int status = resolve(r, rel, cap);
    if (status)
        return answer(r, status);
    if (r->http.verb == VERB_OPTIONS) {
        answer_options(out, &r->http, r->route->h->allow);
        r->phase = REQ_ANSWERED;
        return REQ_NEXT_SEND;
    }
    return run_hook(r);
}

void
req_cancel(struct req *r)
{
    if (r == NULL || r->phase == REQ_ENDED)
        return;
    r->phase = REQ_ENDED;
    if (r->held && r->cold_ready && r->cold.cancel) {
        req_cancel_cb *cb = r->cold.cancel;
        r->cold.cancel = NULL;
        cb(r, r->cold.cancel_arg);
    }
}

const char *
req_route_name(const struct req *r)
{
    return r && r->route ? r->route->h->name : NULL;
}

/* ---- Handler calls: the request ---- */

enum http_verb
req_verb(const struct req *r)
{
    return r->http.verb;
}

struct http_span
req_method(const struct req *r)
{
    const char *m = r->http.method_name ? r->http.method_name : "";
    return (struct http_span){m, strlen(m)};
}

struct http_span
req_target(const struct req *r)
{
    return r->http.target;
}

struct http_span
req_path(const struct req *r)
{
    return r->path;
}

struct http_span
req_query(const struct req *r)
{
    return r->query.p ? r->query : (struct http_span){"", 0};
}

ssize_t
req_path_normalized(const struct req *r, char *buf, size_t cap)
{
    if (cap < 2) {
        errno = ENOSPC;
        return -1;
    }
    buf[0] = '/';
    int n = path_normalize(r->path.p, r->path.n, buf + 1, cap - 1);
    if (n < 0) {
        errno = EINVAL;
        return -1;
    }
    return n + 1;
}

unsigned
req_http_minor(const struct req *r)
{
    return r->http.minor;
}

const struct http_span *
req_header(const struct req *r, const char *name)
{
    return http_header_get(&r->http, name);
}

bool
req_header_next(const struct req *r, int *i, struct http_span *name, struct http_span *value)
{
    if (*i < 0 || *i >= r->http.nheaders)
        return false;
    *name = r->http.headers[*i].name;
    *value = r->http.headers[*i].value;
    (*i)++;
    return true;
}

static int
peer_copy(const struct req_peer *packed, struct sockaddr_storage *out, socklen_t *len)
{
    struct sockaddr_in6 sa;
    const struct sockaddr *p = req_peer_unpack(packed, &sa);
    if (p == NULL)
        return -1;
    socklen_t n =
        p->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(out, p, n < *len ? n : *len);
    *len = n;
    return 0;
}

int
req_peer(const struct req *r, struct sockaddr_storage *out, socklen_t *len)
{
    return r->phase == REQ_ENDED ? -1 : peer_copy(r->peer, out, len);
}

int
req_log_peer(const struct req_log *l, struct sockaddr_storage *out, socklen_t *len)
{
    return peer_copy(l->peer, out, len);
}

int
req_listener(const struct req *r)
{
    return r->listener;
}

bool
req_tls(const struct req *r)
{
    return r->tls;
}

void *
req_route_data(const struct req *r)
{
    return r->route ? r->route->data : NULL;
}

int
req_on_cancel(struct req *r, req_cancel_cb *cb, void *arg)
{
    if (r->phase == REQ_ENDED) {
        errno = ECANCELED;
        return -1;
    }
    req_cold(r)->cold.cancel = cb;
    r->cold.cancel_arg = arg;
    return 0;
}

void
req_set_word(struct req *r, void *word)
{
    req_cold(r)->cold.word = word;
}

void *
req_word(const struct req *r)
{
    return r->cold_ready ? r->cold.word : NULL;
}

/* ---- The log phase ---- */

int
req_log_add(req_log_cb *cb, void *arg)
{
    if (nobservers == REQ_LOG_MAX) {
        errno = ENOSPC;
        return -1;
    }
    observers[nobservers].cb = cb;
    observers[nobservers].arg = arg;
    nobservers++;
    return 0;
}

void
req_log_clear(void)
{
    nobservers = 0;
}

void
req_log_emit(const struct req_log *l)
{
    for (int i = 0; i < nobservers; i++)
        observers[i].cb(l, observers[i].arg);
}
