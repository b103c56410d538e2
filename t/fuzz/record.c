/* What the fuzzer knows of each request besides the bytes its client received: the log phase's
 * record of it (req_log_add), filed under the client whose peer address the record names, and
 * the request itself, as the server's own parser splits the bytes the server took (the oracle
 * check.c holds each response against). Also the count of spilled request bodies still open. */
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "t/app/pattern.h"
#include "t/fuzz/fuzz.h"
#include "worker/http.h"

#define NO_LIMIT (INT64_MAX / 4) /* the server's body limits end the connection: none here */

static struct client *
client_of(const struct req_log *l)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (req_log_peer(l, &ss, &len) < 0 || ss.ss_family != AF_INET)
        fuzz_fail("a log record without the connection's peer address (a probe connection?)");
    int id = ntohs(((struct sockaddr_in *)&ss)->sin_port) - FUZZ_PEER_PORT;
    if (id < 0 || id >= fuzz_nclients)
        fuzz_fail("a log record for peer port %d, which no client of this input has",
                  id + FUZZ_PEER_PORT);
    return &fuzz_clients[id];
}

/* The observer: once per finished request, whatever its end. */
static void
observe(const struct req_log *l, void *arg)
{
    (void)arg;
    struct client *cl = client_of(l);
    if (cl->parked || cl->refused)
        fuzz_fail("a log record for connection %d, which never sent a byte (%s)", cl->id,
                  cl->parked ? "parked" : "refused");
    if (cl->nrec == FUZZ_MAX_REQS)
        fuzz_fail("more than %d log records for connection %d (max_keepalive_requests is %d)",
                  FUZZ_MAX_REQS, cl->id, fuzz_cfg.max_keepalive_requests);
    if (client_given(cl) == 0)
        fuzz_fail("a log record for connection %d before it sent a byte", cl->id);
    cl->rec[cl->nrec++] = (struct record){
        .end = l->end,
        .status = l->status,
        .bytes_sent = l->bytes_sent,
        .body_bytes = l->body_bytes,
        .start_ms = l->start_ms,
        .dispatch_ms = l->dispatch_ms,
        .end_ms = l->end_ms,
        .route = l->route,
        .seq = l->seq,
        .reused = l->reused,
        .fd = l->fd,
    };
}

int
record_setup(void)
{
    return req_log_add(observe, NULL);
}

/* One request from `base` (at most `len` bytes), parsed as conn.c does with the same limits,
 * except the body limit: a body over it ends the connection, so no request follows anyway.
 * Returns the bytes it took. */
static size_t
split_one(const char *base, size_t len, struct sent *s)
{
    static struct http_header headers[HTTP_MAX_HEADERS];
    struct http_limits lim = {
        .max_request_line = (size_t)fuzz_cfg.max_request_line,
        .max_header_size = (size_t)fuzz_cfg.max_header_size,
        .max_headers = fuzz_cfg.max_headers,
        .max_body_size = NO_LIMIT,
    };
    struct http_req req;
    size_t fed = 0;
    http_req_init(&req, base, &lim, headers);
    for (;;) {
        size_t used = 0;
        if (fed == len) { /* conn.c never feeds 0 bytes: http-parser takes that for the end */
            s->complete = false;
            break;
        }
        enum http_feed_result r = http_feed(&req, base + fed, len - fed, &used);
        fed += used;
        if (r == HTTP_HEADERS) {
            http_body_limit(&req, NO_LIMIT);
            continue;
        }
        if (r == HTTP_BODY) {
            s->body_len += (int64_t)req.piece.n;
            s->body_sum = app_sum(s->body_sum, req.piece.p, req.piece.n);
            continue;
        }
        s->complete = r == HTTP_COMPLETE;
        break;
    }
    s->head = req.verb == VERB_HEAD; /* set with the header section: as the server saw it */
    s->options = req.verb == VERB_OPTIONS;
    s->http10 = req.headers_done && req.minor == 0;
    return fed;
}

void
record_split(struct client *cl)
{
    const char *in = (const char *)cl->in;
    size_t given = client_given(cl), pos = 0;
    cl->nsent = 0;
    while (pos < given && cl->nsent < FUZZ_MAX_REQS) {
        struct sent *s = &cl->sent[cl->nsent++];
        *s = (struct sent){.start = pos, .body_sum = APP_SUM_INIT};
        pos += split_one(in + pos, given - pos, s);
        if (!s->complete)
            break;
    }
}

int
record_temp_fds(void)
{
    char link[64], target[4096];
    size_t plen = strlen(fuzz_cfg.body_temp_path);
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        fuzz_fail("opendir /proc/self/fd");
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (strncmp(target, fuzz_cfg.body_temp_path, plen) == 0 && target[plen] == '/')
            n++;
    }
    closedir(d);
    return n;
}
