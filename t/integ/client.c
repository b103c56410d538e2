/* Raw-socket HTTP/1.1 client for the integration tests: connects with bounded retries and
 * receive timeouts, and reads responses exactly as framed, so a pipelined response stays in the
 * socket and a framing error shows up as one; plus the response checks the tests share.
 * Declared in harness.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "load.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define IO_TIMEOUT_S 10
#define BODY_UNTIL_CLOSE_MAX (64 << 20)

/* ---- sockets ---- */

int
conn_open_rcvbuf(int port, int rcvbuf)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    int64_t deadline = now_ms() + 2000;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (rcvbuf > 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
            return fd;
        int e = errno;
        close(fd);
        ck_assert_msg(e == ECONNREFUSED && now_ms() < deadline, "connect 127.0.0.1:%d: %s", port,
                      strerror(e));
        sleep_ms(10);
    }
}

int
conn_open_unix(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    ck_assert_msg(strlen(path) < sizeof(sun.sun_path), "unix socket path too long: %s", path);
    strcpy(sun.sun_path, path);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    int64_t deadline = now_ms() + 2000;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
            return fd;
        int e = errno;
        close(fd);
        ck_assert_msg((e == ECONNREFUSED || e == ENOENT) && now_ms() < deadline, "connect %s: %s",
                      path, strerror(e));
        sleep_ms(10);
    }
}

int
srv_free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_msg(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
                      getsockname(fd, (struct sockaddr *)&sin, &len) == 0,
                  "a free port from the kernel: %s", strerror(errno));
    close(fd);
    return ntohs(sin.sin_port);
}

int
conn_open(int port)
{
    return conn_open_rcvbuf(port, 0);
}

void
conn_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

void
conn_sendstr(int fd, const char *s)
{
    conn_send(fd, s, strlen(s));
}

bool
conn_wait_closed(int fd, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - now_ms());
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
            return true;
        if (n > 0)
            return false; /* more bytes where the stream should have ended */
    }
}

/* ---- HTTP ---- */

static int
resp_fail(struct http_resp *r, const char *what, ssize_t n)
{
    if (n == 0)
        snprintf(r->err, sizeof(r->err), "%s: connection closed by server", what);
    else if (errno == EAGAIN || errno == EWOULDBLOCK)
        snprintf(r->err, sizeof(r->err), "%s: no data for %d s", what, IO_TIMEOUT_S);
    else
        snprintf(r->err, sizeof(r->err), "%s: %s", what, strerror(errno));
    return -1;
}

int
http_try_read_head(int fd, struct http_resp *r)
{
    memset(r, 0, offsetof(struct http_resp, head));
    r->head_len = 0;
    r->nhdr = 0;
    r->body = NULL;
    r->body_len = 0;
    r->err[0] = '\0';
    /* One byte at a time: never consume bytes of a following pipelined response. */
    for (;;) {
        if (r->head_len + 1 >= sizeof(r->head)) {
            snprintf(r->err, sizeof(r->err), "header block over %zu bytes", sizeof(r->head));
            return -1;
        }
        ssize_t n = recv(fd, r->head + r->head_len, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            char what[64];
            snprintf(what, sizeof(what), "reading header after %zu bytes", r->head_len);
            return resp_fail(r, what, n);
        }
        r->head_len++;
        if (r->head_len >= 4 && memcmp(r->head + r->head_len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    r->head[r->head_len] = '\0';

    char *line = r->head;
    char *eol = strstr(line, "\r\n");
    *eol = '\0';
    char reason[8];
    if (sscanf(line, "%15s %3d%c", r->version, &r->status, reason) < 2 ||
        strncmp(r->version, "HTTP/1.", 7) != 0 || r->status < 100 || r->status > 599) {
        snprintf(r->err, sizeof(r->err), "bad status line '%.100s'", line);
        return -1;
    }
    for (line = eol + 2; *line != '\0' && *line != '\r'; line = eol + 2) {
        eol = strstr(line, "\r\n");
        *eol = '\0';
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line || r->nhdr == HTTP_MAX_HEADERS) {
            snprintf(r->err, sizeof(r->err), "bad header line '%.100s'", line);
            return -1;
        }
        *colon = '\0';
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        for (char *end = eol; end > value && (end[-1] == ' ' || end[-1] == '\t'); end--)
            end[-1] = '\0';
        r->hdr[r->nhdr].name = line;
        r->hdr[r->nhdr].value = value;
        r->nhdr++;
    }
    return 0;
}

static int
read_exact(int fd, struct http_resp *r, size_t len)
{
    r->body = malloc(len + 1);
    ck_assert_ptr_nonnull(r->body);
    while (r->body_len < len) {
        ssize_t n = recv(fd, r->body + r->body_len, len - r->body_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            char what[96];
            snprintf(what, sizeof(what), "reading body after %zu of %zu bytes", r->body_len, len);
            r->body[r->body_len] = '\0';
            return resp_fail(r, what, n);
        }
        r->body_len += (size_t)n;
    }
    r->body[len] = '\0';
    return 0;
}

static int
read_until_close(int fd, struct http_resp *r)
{
    size_t cap = 4096;
    r->body = malloc(cap);
    ck_assert_ptr_nonnull(r->body);
    for (;;) {
        if (r->body_len + 1 >= cap) {
            if (cap >= BODY_UNTIL_CLOSE_MAX) {
                snprintf(r->err, sizeof(r->err), "body without length over %d bytes",
                         BODY_UNTIL_CLOSE_MAX);
                return -1;
            }
            cap *= 2;
            r->body = realloc(r->body, cap);
            ck_assert_ptr_nonnull(r->body);
        }
        ssize_t n = recv(fd, r->body + r->body_len, cap - r->body_len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            break;
        if (n < 0) {
            r->body[r->body_len] = '\0';
            return resp_fail(r, "reading body until close", n);
        }
        r->body_len += (size_t)n;
    }
    r->body[r->body_len] = '\0';
    return 0;
}

int
http_try_read_body(int fd, struct http_resp *r, int flags)
{
    if ((flags & HTTP_NO_BODY) || r->status / 100 == 1 || r->status == 204 || r->status == 304)
        return 0;
    const char *cl = http_header(r, "Content-Length");
    if (cl != NULL) {
        char *end;
        errno = 0;
        unsigned long long len = strtoull(cl, &end, 10);
        if (errno != 0 || end == cl || *end != '\0' || len > (1ULL << 32)) {
            snprintf(r->err, sizeof(r->err), "bad Content-Length '%s'", cl);
            return -1;
        }
        return read_exact(fd, r, (size_t)len);
    }
    if (http_header(r, "Transfer-Encoding") != NULL) {
        snprintf(r->err, sizeof(r->err), "Transfer-Encoding '%s' on a static response",
                 http_header(r, "Transfer-Encoding"));
        return -1;
    }
    return read_until_close(fd, r);
}

int
http_try_read(int fd, struct http_resp *r, int flags)
{
    if (http_try_read_head(fd, r) != 0)
        return -1;
    return http_try_read_body(fd, r, flags);
}

void
http_read_response(int fd, struct http_resp *r, int flags)
{
    int rc = http_try_read(fd, r, flags);
    ck_assert_msg(rc == 0, "reading HTTP response: %s", r->err);
}

const char *
http_header(const struct http_resp *r, const char *name)
{
    for (int i = 0; i < r->nhdr; i++)
        if (strcasecmp(r->hdr[i].name, name) == 0)
            return r->hdr[i].value;
    return NULL;
}

void
http_resp_free(struct http_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
}

int
http_simple(int port, const char *method, const char *target, struct http_resp *r)
{
    char req[2048];
    int n =
        snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                 method, target);
    ck_assert(n > 0 && (size_t)n < sizeof(req));
    int fd = conn_open(port);
    conn_send(fd, req, (size_t)n);
    http_read_response(fd, r, strcmp(method, "HEAD") == 0 ? HTTP_NO_BODY : 0);
    close(fd);
    return r->status;
}

/* Send what we can and ignore errors: the server may close (and reset) a rejected request
 * while the rest of it is still on its way. */
void
conn_send_tolerant(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* ---- checks shared by the tests ---- */

int
http_fetch(int port, const char *method, const char *target, const char *headers,
           struct http_resp *r)
{
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n", method,
                     target, headers ? headers : "");
    ck_assert(n > 0 && (size_t)n < sizeof(req));
    int fd = conn_open(port);
    conn_send(fd, req, (size_t)n);
    http_read_response(fd, r, strcmp(method, "HEAD") == 0 ? HTTP_NO_BODY : 0);
    ck_assert_msg(conn_wait_closed(fd, 5000), "%s %s: more bytes after the response (status %d)",
                  method, target, r->status);
    close(fd);
    return r->status;
}

void
http_assert_header(const struct http_resp *r, const char *name, const char *want)
{
    const char *v = http_header(r, name);
    ck_assert_msg(v != NULL, "no %s header (status %d)", name, r->status);
    ck_assert_msg(strcmp(v, want) == 0, "%s: got '%s', want '%s'", name, v, want);
}

void
http_assert_body(const struct http_resp *r, const char *want, const char *what)
{
    size_t len = strlen(want);
    ck_assert_msg(r->body_len == len && memcmp(r->body, want, len) == 0,
                  "%s%sbody: got %zu bytes '%.200s', want %zu bytes '%.200s'", what ? what : "",
                  what ? ": " : "", r->body_len, r->body ? r->body : "", len, want);
}

bool
http_says_close(const struct http_resp *r)
{
    const char *c = http_header(r, "Connection");
    return c != NULL && strcasecmp(c, "close") == 0;
}

void
http_expect_final(int fd, int want, int close_ms, const char *what)
{
    struct http_resp r;
    int rc = http_try_read(fd, &r, 0);
    ck_assert_msg(rc == 0, "%s: no response: %s", what, r.err);
    ck_assert_msg(r.status == want, "%s: status %d, want %d", what, r.status, want);
    ck_assert_msg(http_says_close(&r), "%s: %d without Connection: close (Connection: %s)", what,
                  r.status, http_header(&r, "Connection") ? http_header(&r, "Connection") : "none");
    http_resp_free(&r);
    ck_assert_msg(conn_wait_closed(fd, close_ms),
                  "%s: after the %d, the connection was not closed within %d ms or more bytes "
                  "(a second response?) arrived",
                  what, want, close_ms);
}

void
srv_assert_serves(const struct srv *s, int times, const char *when)
{
    char err[128];
    for (int i = 0; i < times; i++) {
        int64_t t0 = now_ms();
        int st = load_get_once(s->port, "/", SRV_INDEX_HTML, 3000, err, sizeof(err));
        ck_assert_msg(st == 200, "%s: connection %d of %d after %lld ms: %s", when, i + 1, times,
                      (long long)(now_ms() - t0), st < 0 ? err : "not 200");
    }
}

void
http_wait_served(int port, const char *request, int timeout_ms, const char *what)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        struct http_resp r;
        int fd = conn_open(port);
        conn_send_tolerant(fd, request, strlen(request));
        int rc = http_try_read(fd, &r, 0);
        close(fd);
        ck_assert_msg(rc == 0, "%s: %s", what, r.err);
        int st = r.status;
        http_resp_free(&r);
        if (st == 200)
            return;
        ck_assert_msg(st == 503, "%s: status %d", what, st);
        ck_assert_msg(now_ms() < deadline, "%s: still 503 after %d ms", what, timeout_ms);
        sleep_ms(20); /* pacing */
    }
}
