/* Integration tests of application modules through the example modules (examples/, built
 * into $SLUICE_BUILD/examples/): the real binary with [app] sections, over real sockets. hello
 * (answer, HEAD, keep-alive), echo (what a module sees of the request line, the fields, the body
 * in memory and in a temp file), route precedence between apps and static files, counter
 * (per-worker state), sleep (answers from a timer, cancels, request_timeout), OPTIONS, and a
 * module's check refusing a key at -t. Every wait is bounded: the sockets, or lines in the
 * error log (sleep logs at debug when it starts waiting and when a request ends first). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "apps.h"
#include "harness.h"

#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 5000
#define CFG_MAX 4096
#define OUT_MAX 8192

static const char HELLO[] = "hello, world\n";

/* ---- helpers ---- */

/* JSON string escaping as echo does it (the test's own copy): quote, backslash and control
 * characters escaped, every other byte as it is. Appends to buf (malloc'd, grown). */
struct text {
    char *buf;
    size_t len, cap;
};

static void
text_put(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->buf = realloc(t->buf, t->cap);
        ck_assert_ptr_nonnull(t->buf);
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void
text_str(struct text *t, const char *s)
{
    text_put(t, s, strlen(s));
}

static void
text_json(struct text *t, const char *s, size_t n)
{
    text_str(t, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\')
            text_put(t, e, (size_t)snprintf(e, sizeof(e), "\\%c", c));
        else if (c < 0x20)
            text_put(t, e, (size_t)snprintf(e, sizeof(e), "\\u%04x", c));
        else
            text_put(t, (const char *)&c, 1);
    }
    text_str(t, "\"");
}

/* What echo answers for this request line, these header fields (name, value pairs, NULL-ended)
 * and body, over HTTP/1.1 and plain TCP from 127.0.0.1. */
static void
echo_expect(struct text *t, const char *method, const char *target, const char *path,
            const char *query, const char *const *fields, const char *body, size_t body_len)
{
    const char *const members[] = {"method", method, "target", target,
                                   "path",   path,   "query",  query};
    for (int i = 0; i < 8; i += 2) {
        text_str(t, i == 0 ? "{\"" : ",\"");
        text_str(t, members[i]);
        text_str(t, "\":");
        text_json(t, members[i + 1], strlen(members[i + 1]));
    }
    text_str(t, ",\"http\":\"1.1\",\"remote\":\"127.0.0.1\",\"tls\":false,\"headers\":[");
    for (int i = 0; fields[i] != NULL; i += 2) {
        text_str(t, i > 0 ? ",[" : "[");
        text_json(t, fields[i], strlen(fields[i]));
        text_str(t, ",");
        text_json(t, fields[i + 1], strlen(fields[i + 1]));
        text_str(t, "]");
    }
    text_str(t, "],\"body\":");
    text_json(t, body, body_len);
    text_str(t, "}\n");
}

/* Send method+target with the header fields (name, value pairs, NULL-ended) and the body,
 * on a new connection; read the answer (fails on a framing error). */
static int
send_request(int port, const char *method, const char *target, const char *const *fields,
             const char *body, size_t body_len, struct http_resp *r)
{
    struct text req = {0};
    text_str(&req, method);
    text_str(&req, " ");
    text_str(&req, target);
    text_str(&req, " HTTP/1.1\r\n");
    for (int i = 0; fields[i] != NULL; i += 2) {
        text_str(&req, fields[i]);
        text_str(&req, ": ");
        text_str(&req, fields[i + 1]);
        text_str(&req, "\r\n");
    }
    text_str(&req, "\r\n");
    text_put(&req, body, body_len);
    int fd = conn_open(port);
    conn_send(fd, req.buf, req.len);
    free(req.buf);
    http_read_response(fd, r, strcmp(method, "HEAD") == 0 ? HTTP_NO_BODY : 0);
    close(fd);
    return r->status;
}

/* Compare a response body with the expected text, showing where they part. */
static void
expect_body(const struct http_resp *r, const struct text *want, const char *what)
{
    size_t i = 0;
    while (i < r->body_len && i < want->len && r->body[i] == want->buf[i])
        i++;
    if (i == want->len && i == r->body_len)
        return;
    size_t from = i > 40 ? i - 40 : 0;
    ck_abort_msg("%s: body differs at byte %zu (got %zu bytes, want %zu)\n got: %.*s\nwant: %.*s",
                 what, i, r->body_len, want->len,
                 (int)(r->body_len - from < 120 ? r->body_len - from : 120),
                 r->body ? r->body + from : "",
                 (int)(want->len - from < 120 ? want->len - from : 120), want->buf + from);
}

/* GET target (Connection: close); must be a 200 with exactly `body`: hello's (then also its
 * Content-Type) or the static index.html. */
static void
expect_get(int port, const char *target, const char *body)
{
    struct http_resp r;
    int st = http_fetch(port, "GET", target, NULL, &r);
    ck_assert_msg(st == 200, "GET %s: status %d, want 200 with '%s'", target, st, body);
    http_assert_body(&r, body, target);
    if (body == HELLO)
        http_assert_header(&r, "Content-Type", "text/plain");
    http_resp_free(&r);
}

static void
expect_hello(int port, const char *target)
{
    expect_get(port, target, HELLO);
}

static void
expect_index(int port, const char *target)
{
    expect_get(port, target, SRV_INDEX_HTML);
}

/* GET target; must be echo's answer (its "path" member is `path`). */
static void
expect_echo(int port, const char *target, const char *path)
{
    struct http_resp r;
    char want[512];
    int st = http_fetch(port, "GET", target, NULL, &r);
    ck_assert_msg(st == 200, "GET %s: status %d, want 200 from echo", target, st);
    snprintf(want, sizeof(want), "\"path\":\"%s\"", path);
    ck_assert_msg(r.body != NULL && strstr(r.body, want) != NULL, "GET %s: not echo's %s: %s",
                  target, want, r.body ? r.body : "(no body)");
    http_resp_free(&r);
}

/* ---- hello ---- */

/* The answer, its fields, HEAD, a prefix route by whole segments, HTTP/1.0. */
START_TEST(hello_answers)
{
    struct srv s;
    struct http_resp r;
    apps_start(&s, NULL,
               (struct app_def[]){{"hello", "examples/hello.so", "route = /hello\n"}, {NULL}});

    int st = http_fetch(s.port, "GET", "/hello", NULL, &r);
    ck_assert_int_eq(st, 200);
    http_assert_body(&r, HELLO, "GET /hello");
    ck_assert_uint_eq(r.body_len, 13);
    http_assert_header(&r, "Content-Type", "text/plain");
    http_assert_header(&r, "Content-Length", "13");
    ck_assert_msg(http_header(&r, "Date") != NULL, "no Date field");
    ck_assert_msg(http_header(&r, "Transfer-Encoding") == NULL, "Transfer-Encoding on hello");
    http_resp_free(&r);

    /* HEAD: the same header, no body (http_fetch fails on a byte after the header). */
    st = http_fetch(s.port, "HEAD", "/hello", NULL, &r);
    ck_assert_int_eq(st, 200);
    http_assert_header(&r, "Content-Length", "13");
    http_assert_header(&r, "Content-Type", "text/plain");
    http_resp_free(&r);

    /* A prefix route takes the path below it, by whole segments only. */
    expect_hello(s.port, "/hello/");
    expect_hello(s.port, "/hello/a/b?x=1");
    apps_expect_status(s.port, "GET", "/hellox", 404);
    expect_index(s.port, "/");

    /* HTTP/1.0: answered, then closed. */
    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /hello HTTP/1.0\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, HELLO, "HTTP/1.0");
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "HTTP/1.0 connection not closed");
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

/* Keep-alive: several answers on one connection, also pipelined, mixed with a static file. */
START_TEST(hello_keep_alive)
{
    struct srv s;
    struct http_resp r;
    apps_start(&s, NULL,
               (struct app_def[]){{"hello", "examples/hello.so", "route = /hello\n"}, {NULL}});
    int fd = conn_open(s.port);
    for (int i = 0; i < 5; i++) {
        conn_sendstr(fd, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
        http_read_response(fd, &r, 0);
        ck_assert_msg(r.status == 200, "request %d on one connection: %d", i, r.status);
        http_assert_body(&r, HELLO, "keep-alive");
        ck_assert_msg(!http_says_close(&r), "request %d: Connection: close", i);
        http_resp_free(&r);
    }
    /* Pipelined: three in one write, the middle one a static file, the last one HEAD. */
    conn_sendstr(fd, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                     "HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n"
                     "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    http_read_response(fd, &r, 0);
    http_assert_body(&r, HELLO, "pipelined 1");
    http_resp_free(&r);
    http_read_response(fd, &r, 0);
    http_assert_body(&r, SRV_INDEX_HTML, "pipelined 2 (static)");
    http_resp_free(&r);
    http_read_response(fd, &r, HTTP_NO_BODY);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Content-Length", "13");
    http_resp_free(&r);
    http_read_response(fd, &r, 0);
    http_assert_body(&r, HELLO, "pipelined 4");
    ck_assert_msg(http_says_close(&r), "last pipelined: no Connection: close");
    http_resp_free(&r);
    ck_assert_msg(conn_wait_closed(fd, WAIT_MS), "bytes or no close after the last response");
    close(fd);
    srv_stop(&s);
}
END_TEST

/* ---- echo ---- */

static const struct app_def ECHO_APP[] = {{"echo", "examples/echo.so", "route = /echo\n"}, {NULL}};

/* The request line and the header fields as the module sees them: target and path still
 * percent-encoded, the query apart, fields in order with their case, JSON escaping. */
START_TEST(echo_request_line_and_fields)
{
    struct srv s;
    struct http_resp r;
    struct text want = {0};
    apps_start(&s, NULL, ECHO_APP);

    static const char *const fields[] = {
        "Host",       "example.test", "X-Quote", "say \"hi\" \\ back",
        "X-Tab",      "a\tb",         "x-lower", "v",
        "Connection", "close",        NULL,
    };
    send_request(s.port, "GET", "/echo/a%20b/%C3%A9?x=1&y=%22q%22", fields, "", 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Content-Type", "application/json");
    echo_expect(&want, "GET", "/echo/a%20b/%C3%A9?x=1&y=%22q%22", "/echo/a%20b/%C3%A9",
                "x=1&y=%22q%22", fields, "", 0);
    expect_body(&r, &want, "GET with fields");
    http_resp_free(&r);
    free(want.buf);

    /* No query; DELETE and PUT reach the module too. */
    static const char *const host[] = {"Host", "a", "Connection", "close", NULL};
    const char *methods[] = {"GET", "DELETE", "PUT"};
    for (size_t i = 0; i < 3; i++) {
        want = (struct text){0};
        send_request(s.port, methods[i], "/echo", host, "", 0, &r);
        ck_assert_msg(r.status == 200, "%s /echo: %d", methods[i], r.status);
        echo_expect(&want, methods[i], "/echo", "/echo", "", host, "", 0);
        expect_body(&r, &want, methods[i]);
        http_resp_free(&r);
        free(want.buf);
    }

    /* HTTP/1.0 with no field at all. */
    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /echo?v=0 HTTP/1.0\r\n\r\n");
    http_read_response(fd, &r, 0);
    close(fd);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(r.body != NULL && strstr(r.body, "\"query\":\"v=0\",\"http\":\"1.0\",") &&
                      strstr(r.body, "\"headers\":[],\"body\":\"\"}\n"),
                  "HTTP/1.0 without fields: %s", r.body ? r.body : "(no body)");
    http_resp_free(&r);

    /* HEAD: the header only. */
    send_request(s.port, "HEAD", "/echo", host, "", 0, &r);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Content-Type", "application/json");
    ck_assert_msg(r.body_len == 0, "HEAD answered with a body");
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

/* A POST body in memory, with every kind of byte JSON cares about; a chunked one. */
START_TEST(echo_post_body)
{
    struct srv s;
    struct http_resp r;
    struct text want = {0};
    apps_start(&s, NULL, ECHO_APP);
    static const char body[] = "\x00\x01\x1f \"quoted\" back\\slash \x7f\x80\xff caf\xc3\xa9"
                               " line\r\n\ttab";
    size_t len = sizeof(body) - 1;
    char clen[32];
    snprintf(clen, sizeof(clen), "%zu", len);
    const char *fields[] = {"Host",
                            "a",
                            "Content-Type",
                            "application/octet-stream",
                            "Content-Length",
                            clen,
                            "Connection",
                            "close",
                            NULL};
    send_request(s.port, "POST", "/echo?form=1", fields, body, len, &r);
    ck_assert_int_eq(r.status, 200);
    echo_expect(&want, "POST", "/echo?form=1", "/echo", "form=1", fields, body, len);
    expect_body(&r, &want, "POST body");
    http_resp_free(&r);
    free(want.buf);

    /* Chunked: the module sees the decoded body, whole. */
    static const char chunked[] = "5\r\nhello\r\n3;ext=1\r\n\n\x01\"\r\n0\r\n\r\n";
    const char *te[] = {"Host", "a", "Transfer-Encoding", "chunked", "Connection", "close", NULL};
    want = (struct text){0};
    send_request(s.port, "PATCH", "/echo", te, chunked, sizeof(chunked) - 1, &r);
    ck_assert_int_eq(r.status, 200);
    echo_expect(&want, "PATCH", "/echo", "/echo", "", te, "hello\n\x01\"", 8);
    expect_body(&r, &want, "chunked PATCH body");
    http_resp_free(&r);
    free(want.buf);
    srv_stop(&s);
}
END_TEST

/* A body larger than body_buffer_size goes to a temp file, which echo reads with pread: the
 * same bytes come back, across its 16 KB reads. A body exactly body_buffer_size long stays in
 * memory: the same too. Past max_body_size: 413. */
START_TEST(echo_large_body)
{
    struct srv s;
    struct http_resp r;
    apps_start(&s, "body_buffer_size = 1k\nmax_body_size = 600k\n", ECHO_APP);
    size_t sizes[] = {1024, 1025, 300000, 600 * 1024};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t len = sizes[k];
        char *body = malloc(len);
        ck_assert_ptr_nonnull(body);
        for (size_t i = 0; i < len; i++)
            body[i] = (char)((i * 7 + i / 251) & 0xff);
        char clen[32], what[64];
        snprintf(clen, sizeof(clen), "%zu", len);
        snprintf(what, sizeof(what), "POST of %zu bytes", len);
        const char *fields[] = {"Host", "a", "Content-Length", clen, "Connection", "close", NULL};
        struct text want = {0};
        send_request(s.port, "POST", "/echo", fields, body, len, &r);
        ck_assert_msg(r.status == 200, "%s: status %d", what, r.status);
        echo_expect(&want, "POST", "/echo", "/echo", "", fields, body, len);
        expect_body(&r, &want, what);
        http_resp_free(&r);
        free(want.buf);
        free(body);
    }

    /* One byte past max_body_size: refused before it is read. */
    int fd = conn_open(s.port);
    char head[256];
    snprintf(head, sizeof(head),
             "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
             600 * 1024 + 1);
    conn_sendstr(fd, head);
    ck_assert_msg(http_try_read(fd, &r, 0) == 0, "past max_body_size: %s", r.err);
    ck_assert_int_eq(r.status, 413);
    http_resp_free(&r);
    close(fd);
    srv_stop(&s);
}
END_TEST

/* ---- routes ---- */

/* Exact before longest prefix before static files; routing on the decoded path while the
 * module sees the path as sent. */
START_TEST(routes_precedence)
{
    struct srv s;
    apps_start(&s, NULL,
               (struct app_def[]){
                   {"greet", "examples/hello.so", "route = /api/\n"},
                   {"echo", "examples/echo.so", "route = = /api/echo\nroute = /api/deep/\n"},
                   {"count", "examples/counter.so", "route = = /api\n"},
                   {NULL},
               });
    expect_hello(s.port, "/api/x");
    expect_hello(s.port, "/api/");
    expect_echo(s.port, "/api/echo", "/api/echo");     /* exact beats the prefix /api/ */
    expect_hello(s.port, "/api/echo/more");            /* exact is that path only */
    expect_echo(s.port, "/api/deep/x", "/api/deep/x"); /* the longer prefix */
    expect_echo(s.port, "/api/deep/", "/api/deep/");
    expect_hello(s.port, "/api/deeper");               /* whole segments */
    expect_echo(s.port, "/api/%65cho", "/api/%65cho"); /* routed decoded, seen as sent */
    expect_echo(s.port, "/%61pi/deep/%7e", "/%61pi/deep/%7e");
    struct http_resp r;
    ck_assert_int_eq(http_fetch(s.port, "GET", "/api", NULL, &r), 200); /* counter's */
    ck_assert_msg(r.body && strstr(r.body, "\"count\":1}"), "/api: %s", r.body ? r.body : "");
    http_resp_free(&r);
    /* Elsewhere, static files as before. */
    expect_index(s.port, "/");
    expect_index(s.port, "/index.html");
    apps_expect_status(s.port, "GET", "/apix", 404);
    apps_expect_status(s.port, "GET", "/nothing", 404);
    srv_stop(&s);
}
END_TEST

/* `route = /` takes everything no longer route takes: static files are not served. */
START_TEST(routes_root)
{
    struct srv s;
    apps_start(&s, NULL,
               (struct app_def[]){
                   {"greet", "examples/hello.so", "route = /\n"},
                   {"echo", "examples/echo.so", "route = = /echo\nroute = /e/\n"},
                   {NULL},
               });
    expect_hello(s.port, "/");
    expect_hello(s.port, "/index.html");
    expect_hello(s.port, "/no/such/file");
    expect_hello(s.port, "/echo/x");
    expect_echo(s.port, "/echo", "/echo");
    expect_echo(s.port, "/e/1", "/e/1");
    srv_stop(&s);
}
END_TEST

/* ---- OPTIONS ---- */

/* OPTIONS on an app's route is the server's answer (Allow, empty body) for every app. */
START_TEST(options_answered_by_server)
{
    struct srv s;
    struct http_resp r;
    apps_start(&s, "workers = 1\n",
               (struct app_def[]){
                   {"echo", "examples/echo.so", "route = /echo\n"},
                   {"sleep", "examples/sleep.so", "route = /sleep\n"},
                   {NULL},
               });
    const char *targets[] = {"/echo", "/echo/x?y=1", "/sleep"};
    for (size_t i = 0; i < 3; i++) {
        int st = http_fetch(s.port, "OPTIONS", targets[i], NULL, &r);
        ck_assert_msg(st == 200, "OPTIONS %s: %d", targets[i], st);
        const char *allow = http_header(&r, "Allow");
        ck_assert_msg(allow != NULL && strstr(allow, "GET") && strstr(allow, "POST"),
                      "OPTIONS %s: Allow '%s'", targets[i], allow ? allow : "(none)");
        ck_assert_msg(r.body_len == 0, "OPTIONS %s: a body of %zu bytes (%.60s)", targets[i],
                      r.body_len, r.body);
        http_resp_free(&r);
    }
    /* sleep without ms would have answered 400: the module never saw the OPTIONS. */
    srv_stop(&s);
}
END_TEST

/* ---- check: keys refused at -t ---- */

/* Line number of the first line of the config starting with `prefix`. */
static int
cfg_line_of(const struct srv *s, const char *prefix)
{
    char *text = read_file_all(s->cfg, NULL);
    ck_assert_ptr_nonnull(text);
    int line = 1, found = 0;
    for (const char *p = text; *p != '\0' && !found; line++) {
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            found = line;
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    free(text);
    ck_assert_msg(found > 0, "no line '%s' in the config", prefix);
    return found;
}

/* `sluice -t` on the config of s: exit code, stderr into err. */
static int
config_test(const struct srv *s, char *err)
{
    char out[OUT_MAX];
    const char *args[] = {"-c", s->cfg, "-t", NULL};
    return run_cmd_io(args, out, sizeof(out), err, OUT_MAX, 20000);
}

/* One [app "x"] section of module `rel` with `lines`: -t must refuse it, naming the config's
 * file and the section's line, the module, and `reason` (check's message, or its start). */
static void
expect_refused(const char *rel, const char *lines, const char *reason)
{
    struct srv s;
    char cfg[CFG_MAX], err[OUT_MAX], want[1024], path[PATH_MAX];
    srv_init(&s);
    apps_config(cfg, sizeof(cfg), NULL, (struct app_def[]){{"x", rel, lines}, {NULL}});
    srv_write_config(&s, cfg);
    int rc = config_test(&s, err);
    snprintf(want, sizeof(want), "sluice: %s:%d: app \"x\": module %s: check: %s", s.cfg,
             cfg_line_of(&s, "[app \"x\"]"), apps_module(rel, path, sizeof(path)), reason);
    ck_assert_msg(rc == 1 && strstr(err, want) != NULL,
                  "-t on %s with '%s': exit %d, stderr:\n%s\nwant: %s", rel, lines, rc, err, want);
    srv_finish(&s);
}

static void
expect_accepted(const char *rel, const char *lines)
{
    struct srv s;
    char cfg[CFG_MAX], err[OUT_MAX];
    srv_init(&s);
    apps_config(cfg, sizeof(cfg), NULL, (struct app_def[]){{"x", rel, lines}, {NULL}});
    srv_write_config(&s, cfg);
    int rc = config_test(&s, err);
    ck_assert_msg(rc == 0 && strstr(err, "test is successful") != NULL,
                  "-t on %s with '%s': exit %d, stderr:\n%s", rel, lines, rc, err);
    srv_finish(&s);
}

START_TEST(check_refuses_unknown_keys)
{
    expect_refused("examples/hello.so", "route = /x\ngreeting = hi\n",
                   "unknown key 'greeting' at line");
    expect_refused("examples/echo.so", "route = /x\npretty = yes\n",
                   "unknown key 'pretty' at line");
    expect_refused("examples/sleep.so", "route = /x\nmax_ms = 5\n", "unknown key 'max_ms' at line");
    expect_refused("examples/counter.so", "route = /x\nstart = 1\nstep = 2\n",
                   "unknown key 'step' at line");
    expect_refused("examples/counter.so", "route = /x\nstart = abc\n",
                   "start: invalid value 'abc'");
    expect_refused("examples/counter.so", "route = /x\nstart = 1000000001\n",
                   "start: invalid value '1000000001'");
    expect_refused("examples/counter.so", "route = /x\nstart = -1\n", "start: invalid value '-1'");
    expect_accepted("examples/counter.so", "route = /x\nstart = 1000000000\n");
    expect_accepted("examples/counter.so", "route = /x\nstart = 0\n");
    expect_accepted("examples/hello.so", "route = /x\n");
}
END_TEST

/* A refused check at start: the master exits 1 with the same line, and serves nothing. */
START_TEST(check_refuses_at_start)
{
    struct srv s;
    char cfg[CFG_MAX];
    srv_init(&s);
    apps_config(cfg, sizeof(cfg), NULL,
                (struct app_def[]){{"x", "examples/sleep.so", "route = /x\nnap = 1\n"}, {NULL}});
    srv_write_config(&s, cfg);
    const char *args[] = {"-c", s.cfg, NULL};
    char out[OUT_MAX];
    int rc = run_cmd(args, out, sizeof(out));
    ck_assert_msg(rc == 1 && strstr(out, "check: unknown key 'nap' at line") != NULL,
                  "start with an unknown key: exit %d, output:\n%s", rc, out);
    ck_assert_msg(srv_read_port_file(&s) < 0, "a port file was written");
    srv_finish(&s);
}
END_TEST

Suite *
integ_apps_api_suite(void)
{
    Suite *s = suite_create("integ_apps_api");
    TCase *tc = tcase_create("apps_api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hello_answers);
    tcase_add_test(tc, hello_keep_alive);
    tcase_add_test(tc, echo_request_line_and_fields);
    tcase_add_test(tc, echo_post_body);
    tcase_add_test(tc, echo_large_body);
    tcase_add_test(tc, routes_precedence);
    tcase_add_test(tc, routes_root);
    tcase_add_test(tc, options_answered_by_server);
    tcase_add_test(tc, check_refuses_unknown_keys);
    tcase_add_test(tc, check_refuses_at_start);
    suite_add_tcase(s, tc);
    return s;
}
