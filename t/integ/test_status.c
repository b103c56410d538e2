/* Integration tests of the status endpoint and `sluice status` (issue 16): the JSON document
 * parsed strictly and checked against the requests sent (exactly: a request's figures are
 * counted in its log phase, before its connection closes, and the status request is not in its
 * own figures), responses by class, timeouts and limits; the Prometheus text checked line by
 * line; who may see it (status_allow: a client bound to 127.0.0.2, a unix-socket client); the
 * route off; methods and formats; the CLI's table and JSON against the worker pids, and exit 3
 * when nothing runs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "json.h"
#include "promtext.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX 65536
#define RAW_MAX 262144

/* A whole exchange on a fresh connection: `request` sent, every byte read until the server
 * closes. *head_len is the header section's length (through CRLF CRLF). */
struct raw {
    char bytes[RAW_MAX];
    size_t len, head_len;
    int status;
    const char *body;
};

static void
raw_read(int fd, struct raw *r)
{
    r->len = 0;
    for (;;) {
        ck_assert_msg(r->len < sizeof(r->bytes) - 1, "response too long");
        ssize_t n = recv(fd, r->bytes + r->len, sizeof(r->bytes) - 1 - r->len, 0);
        ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
        if (n == 0)
            break;
        r->len += (size_t)n;
    }
    close(fd);
    r->bytes[r->len] = '\0';
    char *end = strstr(r->bytes, "\r\n\r\n");
    ck_assert_msg(end != NULL && sscanf(r->bytes, "HTTP/1.1 %d", &r->status) == 1,
                  "no response: '%s'", r->bytes);
    r->head_len = (size_t)(end + 4 - r->bytes);
    r->body = end + 4;
}

static void
raw_on(int fd, const char *request, struct raw *r)
{
    conn_sendstr(fd, request);
    raw_read(fd, r);
}

/* GET target with Connection: close. */
static void
raw_get(int port, const char *target, struct raw *r)
{
    char req[512];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", target);
    raw_on(conn_open(port), req, r);
}

/* A header value of a raw response ("" when absent). */
static const char *
raw_header(const struct raw *r, const char *name, char *buf, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\r\n%s: ", name);
    const char *p = strcasestr(r->bytes, pat);
    buf[0] = '\0';
    if (p && p < r->bytes + r->head_len) {
        p += strlen(pat);
        snprintf(buf, len, "%.*s", (int)strcspn(p, "\r"), p);
    }
    return buf;
}

/* The JSON document at /status (200 expected), parsed strictly. */
static struct json *
get_json(int port, struct raw *r)
{
    char err[256], ct[64];
    raw_get(port, "/status", r);
    ck_assert_msg(r->status == 200, "status %d: %s", r->status, r->bytes);
    ck_assert_str_eq(raw_header(r, "Content-Type", ct, sizeof(ct)), "application/json");
    struct json *doc = json_parse(r->body, r->len - r->head_len, err, sizeof(err));
    ck_assert_msg(doc != NULL, "bad JSON: %s\n%s", err, r->body);
    return doc;
}

static unsigned long long
uint_at(const struct json *j, const char *path)
{
    const struct json *v = json_path(j, path);
    ck_assert_msg(v && v->type == JSON_NUMBER && v->is_uint, "%s: not an unsigned number", path);
    return v->uint;
}

/* json_path walks objects only: the listen array's first entry by hand. */
static const struct json *
listen0(const struct json *w)
{
    return json_at(json_get(w, "listen"), 0);
}

/* The only worker's object (workers = 1). */
static const struct json *
only_worker(const struct json *doc)
{
    const struct json *ws = json_get(doc, "workers");
    ck_assert_msg(ws && ws->type == JSON_ARRAY && ws->n == 1, "want one worker");
    return json_at(ws, 0);
}

/* ---- the JSON document ---- */

/* N requests (200), M not found (404): the worker's figures say exactly that; the status request
 * shows up in the next document, not its own; bytes out count every byte the client read. */
START_TEST(json_counts_requests)
{
    struct srv s;
    struct raw *r = malloc(sizeof(*r));
    size_t bytes = 0;
    srv_start(&s, "workers = 1\nstatus_path = /status\n");
    for (int i = 0; i < 5; i++) {
        raw_get(s.port, "/index.html", r);
        ck_assert_int_eq(r->status, 200);
        bytes += r->len;
    }
    for (int i = 0; i < 2; i++) {
        raw_get(s.port, "/missing", r);
        ck_assert_int_eq(r->status, 404);
        bytes += r->len;
    }
    struct json *doc = get_json(s.port, r);
    size_t status_len = r->len;
    const struct json *w = only_worker(doc);
    pid_t pids[4];
    ck_assert_int_eq(worker_pids(s.pid, pids, 4), 1);
    ck_assert_uint_eq(uint_at(doc, "instance.master_pid"), (unsigned long long)s.pid);
    ck_assert_uint_eq(uint_at(doc, "instance.answered_by"), (unsigned long long)pids[0]);
    ck_assert_uint_eq(uint_at(doc, "instance.generation"), 1);
    ck_assert_uint_eq(uint_at(w, "pid"), (unsigned long long)pids[0]);
    ck_assert_uint_eq(uint_at(w, "slot"), 0);
    ck_assert_uint_eq(uint_at(w, "generation"), 1);
    ck_assert_uint_eq(uint_at(w, "requests"), 7);
    ck_assert_uint_eq(uint_at(w, "accepted"), 8); /* the status request's connection too */
    ck_assert_uint_eq(uint_at(w, "responses.2xx"), 5);
    ck_assert_uint_eq(uint_at(w, "responses.4xx"), 2);
    ck_assert_uint_eq(uint_at(w, "responses.5xx"), 0);
    ck_assert_uint_eq(uint_at(w, "bytes_out"), bytes);
    ck_assert_uint_ge(uint_at(w, "open_file_cache.hit"), 4); /* index.html, after the first */
    ck_assert_uint_ge(uint_at(w, "open_file_cache.miss"), 1);
    json_free(doc);

    doc = get_json(s.port, r);
    w = only_worker(doc);
    ck_assert_uint_eq(uint_at(w, "requests"), 8);
    ck_assert_uint_eq(uint_at(w, "responses.2xx"), 6);
    ck_assert_uint_eq(uint_at(w, "bytes_out"), bytes + status_len);
    json_free(doc);
    free(r);
    srv_stop(&s);
}
END_TEST

/* Connections by state, refreshed for the answering worker when it answers: an idle keep-alive
 * connection, and the status request's own (reading or writing). A header timeout and a 431 are
 * counted; the listen line's accept queue is TCP's. */
START_TEST(json_states_timeouts_limits)
{
    struct srv s;
    struct raw *r = malloc(sizeof(*r));
    struct http_resp hr;
    srv_start(&s, "workers = 1\nstatus_path = /status\nheader_timeout = 300ms\n"
                  "max_header_size = 8k\nmax_request_line = 4k\n");
    int idle = conn_open(s.port);
    conn_sendstr(idle, "GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(idle, &hr, 0);
    ck_assert_int_eq(hr.status, 200);
    http_resp_free(&hr);

    raw_on(conn_open(s.port), "GET / HTTP/1.1\r\n", r); /* then header_timeout: 408, closed */
    ck_assert_int_eq(r->status, 408);

    char big[10000];
    memset(big, 'a', sizeof(big));
    int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: ");
    big[n] = 'a';
    memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
    raw_on(conn_open(s.port), big, r);
    ck_assert_int_eq(r->status, 431);

    struct json *doc = get_json(s.port, r);
    const struct json *w = only_worker(doc);
    ck_assert_uint_eq(uint_at(w, "connections.idle"), 1);
    ck_assert_uint_eq(uint_at(w, "connections.reading") + uint_at(w, "connections.writing"), 1);
    ck_assert_uint_eq(uint_at(w, "timeouts.header"), 1);
    ck_assert_uint_eq(uint_at(w, "timeouts.handshake") + uint_at(w, "timeouts.body") +
                          uint_at(w, "timeouts.send") + uint_at(w, "timeouts.request"),
                      0);
    ck_assert_uint_eq(uint_at(w, "limits.max_header_size"), 1);
    ck_assert_uint_eq(uint_at(w, "limits.max_connections"), 0);
    ck_assert_uint_eq(uint_at(w, "responses.4xx"), 2); /* the 408 and the 431 */
    ck_assert(json_get(w, "loop_lag_us") && json_get(w, "loop_lag_us")->is_uint);
    const struct json *q = listen0(w);
    ck_assert_msg(q && json_get(q, "backlog")->is_uint && json_get(q, "queued")->is_uint,
                  "listen line 0 has no queue figures");
    ck_assert_uint_eq(uint_at(q, "queued"), 0);
    ck_assert_uint_ge(uint_at(q, "backlog"), 1);
    json_free(doc);
    close(idle);
    free(r);
    srv_stop(&s);
}
END_TEST

/* ---- Prometheus ---- */

START_TEST(prometheus_text)
{
    struct srv s;
    struct raw *r = malloc(sizeof(*r));
    char err[512], ct[64];
    int samples = 0;
    srv_start(&s, "workers = 2\nstatus_path = /status\n");
    for (int i = 0; i < 6; i++) {
        raw_get(s.port, i < 4 ? "/index.html" : "/missing", r);
        ck_assert_int_eq(r->status, i < 4 ? 200 : 404);
    }
    raw_get(s.port, "/status?format=prometheus", r);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(raw_header(r, "Content-Type", ct, sizeof(ct)), "text/plain; version=0.0.4");
    ck_assert_msg(prom_check(r->body, err, sizeof(err), &samples), "%s\n%s", err, r->body);
    ck_assert_int_gt(samples, 50);
    /* Two workers, each a series of every family; the counts are exact across them. */
    ck_assert(prom_sum(r->body, "sluice_workers", "") == 2);
    ck_assert(prom_sum(r->body, "sluice_requests_total", "") == 6);
    ck_assert(prom_sum(r->body, "sluice_responses_total", "class=\"2xx\"") == 4);
    ck_assert(prom_sum(r->body, "sluice_responses_total", "class=\"4xx\"") == 2);
    ck_assert(prom_sum(r->body, "sluice_connections_accepted_total", "") == 7);
    pid_t pids[4];
    ck_assert_int_eq(worker_pids(s.pid, pids, 4), 2);
    for (int i = 0; i < 2; i++) {
        char series[128];
        double v;
        snprintf(series, sizeof(series), "sluice_requests_total{worker=\"%d\",generation=\"1\"}",
                 i);
        ck_assert_msg(prom_value(r->body, series, &v), "no %s", series);
    }
    ck_assert_msg(strstr(r->body, "# TYPE sluice_loop_lag_seconds gauge\n") &&
                      strstr(r->body, "# TYPE sluice_connections gauge\n"),
                  "gauges typed as gauges");

    raw_get(s.port, "/status?format=xml", r);
    ck_assert_int_eq(r->status, 400);
    raw_get(s.port, "/status?format=json", r);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(raw_header(r, "Content-Type", ct, sizeof(ct)), "application/json");
    free(r);
    srv_stop(&s);
}
END_TEST

/* ---- methods, the route off ---- */

START_TEST(methods_and_route_off)
{
    struct srv s;
    struct raw *r = malloc(sizeof(*r));
    char allow[64];
    srv_start(&s, "workers = 1\nstatus_path = /status\n");
    raw_on(conn_open(s.port),
           "POST /status HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
           r);
    ck_assert_int_eq(r->status, 405);
    ck_assert_str_eq(raw_header(r, "Allow", allow, sizeof(allow)), "GET, HEAD, OPTIONS");
    raw_on(conn_open(s.port), "HEAD /status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", r);
    ck_assert_int_eq(r->status, 200);
    ck_assert_msg(r->len == r->head_len, "HEAD answered with a body");
    raw_get(s.port, "/status/", r); /* an exact route */
    ck_assert_int_eq(r->status, 404);
    srv_stop(&s);

    srv_start(&s, "workers = 1\n");
    raw_get(s.port, "/status", r);
    ck_assert_int_eq(r->status, 404);
    raw_get(s.port, "/status?format=prometheus", r);
    ck_assert_int_eq(r->status, 404);
    free(r);
    srv_stop(&s);
}
END_TEST

/* ---- who may see it ---- */

/* A connection from 127.0.0.2 (bound before connect) to the listener on 127.0.0.1. */
static int
open_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET}, b = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &b.sin_addr);
    b.sin_port = htons((uint16_t)port);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_msg(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                      connect(fd, (struct sockaddr *)&b, sizeof(b)) == 0,
                  "connecting from %s: %s", src, strerror(errno));
    return fd;
}

static const char get_status[] = "GET /status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

START_TEST(status_allow)
{
    struct srv s;
    struct raw *r = malloc(sizeof(*r));
    char extra[SRV_PATH_MAX + 256], sock[SRV_PATH_MAX];
    srv_init(&s);
    srv_path(&s, "s.sock", sock, sizeof(sock));
    snprintf(extra, sizeof(extra),
             "workers = 1\nstatus_path = /status\nstatus_allow = 127.0.0.1/32\n"
             "listen = 127.0.0.1:0\nlisten = unix:%s\n",
             sock);
    srv_write_config(&s, extra);
    srv_spawn(&s);
    raw_on(open_from("127.0.0.2", s.port), get_status, r);
    ck_assert_msg(r->status == 403 && strstr(r->body, "\"instance\"") == NULL,
                  "127.0.0.2 got status %d", r->status);
    raw_on(open_from("127.0.0.1", s.port), get_status, r);
    ck_assert_int_eq(r->status, 200);
    /* A unix-socket client: its address is unknown, so it is in no block. */
    raw_on(conn_open_unix(sock), get_status, r);
    ck_assert_int_eq(r->status, 403);
    /* The refusal comes before the format is looked at. */
    raw_on(open_from("127.0.0.2", s.port),
           "GET /status?format=bad HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", r);
    ck_assert_int_eq(r->status, 403);
    srv_stop(&s);

    srv_start(&s, "workers = 1\nstatus_path = /status\nstatus_allow = 127.0.0.2/32 ::1/128\n");
    raw_on(open_from("127.0.0.2", s.port), get_status, r);
    ck_assert_int_eq(r->status, 200);
    raw_on(open_from("127.0.0.1", s.port), get_status, r);
    ck_assert_int_eq(r->status, 403);
    free(r);
    srv_stop(&s);
}
END_TEST

/* ---- sluice status ---- */

struct row {
    int slot, pid;
    unsigned gen;
    char state[16];
    unsigned long long conns, requests;
};

/* The table's rows (after the SLOT header line); returns how many. */
static int
table_rows(const char *out, struct row *rows, int max)
{
    const char *p = strstr(out, "SLOT ");
    int n = 0;
    ck_assert_msg(p != NULL, "no table header:\n%s", out);
    p = strchr(p, '\n');
    while (p && p[1] && n < max) {
        p++;
        struct row *r = &rows[n];
        if (sscanf(p, "%d %d %u %15s %llu %llu", &r->slot, &r->pid, &r->gen, r->state, &r->conns,
                   &r->requests) == 6)
            n++;
        p = strchr(p, '\n');
    }
    return n;
}

static int
cli(const struct srv *s, bool json, char *out, char *err)
{
    const char *args[] = {"-c", s->cfg, "status", json ? "--json" : NULL, NULL};
    return run_cmd_io(args, out, OUT_MAX, err, OUT_MAX, 30000);
}

/* A configuration file whose name is not UTF-8 (and holds a quote): `status --json` stays
 * valid JSON (the reader checks UTF-8), and the name comes back byte for byte. */
START_TEST(cli_json_hostile_config_name)
{
    struct srv s;
    char *out = malloc(OUT_MAX), *err = malloc(OUT_MAX), perr[256], old[SRV_PATH_MAX];
    srv_init(&s);
    srv_write_config(&s, "workers = 1\n");
    snprintf(old, sizeof(old), "%s", s.cfg);
    ck_assert_int_lt(snprintf(s.cfg, sizeof(s.cfg), "%.400s/s\xff\"\xc3\xa9\x01.ini", s.dir),
                     (int)sizeof(s.cfg));
    ck_assert_int_eq(rename(old, s.cfg), 0);
    srv_spawn(&s);
    int rc = cli(&s, true, out, err);
    ck_assert_msg(rc == 0 && err[0] == '\0', "status --json: exit %d\n%s", rc, err);
    struct json *doc = json_parse(out, strlen(out), perr, sizeof(perr));
    ck_assert_msg(doc != NULL, "bad JSON: %s\n%s", perr, out);
    char want[SRV_PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s/s\\u00ff\\\"\xc3\xa9\\u0001.ini", s.dir);
    ck_assert_str_eq(json_path(doc, "master.config")->str, want); /* raw: escapes kept */
    json_free(doc);
    srv_stop(&s);
    free(out);
    free(err);
}
END_TEST

START_TEST(cli_table_and_json)
{
    struct srv s;
    struct raw *r = malloc(sizeof(*r));
    char *out = malloc(OUT_MAX), *err = malloc(OUT_MAX), want[SRV_PATH_MAX + 128], perr[256];
    struct row rows[8];
    pid_t pids[4];
    srv_start(&s, "workers = 2\n");
    for (int i = 0; i < 5; i++)
        raw_get(s.port, "/index.html", r);
    ck_assert_int_eq(worker_pids(s.pid, pids, 4), 2);

    int rc = cli(&s, false, out, err);
    snprintf(want, sizeof(want), "sluice: running (pid %d)\ngeneration 1 active, 2 workers\n",
             (int)s.pid);
    ck_assert_msg(rc == 0 && strncmp(out, want, strlen(want)) == 0 && err[0] == '\0',
                  "status: exit %d\n%s\nstderr:\n%s", rc, out, err);
    snprintf(want, sizeof(want), "master pid %d, up ", (int)s.pid);
    ck_assert_msg(strstr(out, want), "no master line:\n%s", out);
    snprintf(want, sizeof(want), ", generation 1, config %s\n", s.cfg);
    ck_assert_msg(strstr(out, want), "no generation or config on the master line:\n%s", out);
    int n = table_rows(out, rows, 8);
    ck_assert_msg(n == 2, "want 2 rows:\n%s", out);
    unsigned long long sum = 0;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(rows[i].slot, i);
        ck_assert_msg(pids_contain(pids, 2, rows[i].pid), "row pid %d is no worker", rows[i].pid);
        ck_assert_uint_eq(rows[i].gen, 1);
        ck_assert_str_eq(rows[i].state, "serving");
        sum += rows[i].requests;
    }
    ck_assert_uint_eq(sum, 5);

    rc = cli(&s, true, out, err);
    ck_assert_msg(rc == 0 && err[0] == '\0', "status --json: exit %d\n%s", rc, err);
    struct json *doc = json_parse(out, strlen(out), perr, sizeof(perr));
    ck_assert_msg(doc != NULL, "bad JSON: %s\n%s", perr, out);
    ck_assert_uint_eq(uint_at(doc, "master.pid"), (unsigned long long)s.pid);
    ck_assert_uint_eq(uint_at(doc, "master.generation"), 1);
    ck_assert_str_eq(json_path(doc, "master.config")->str, s.cfg);
    const struct json *ws = json_get(doc, "workers");
    ck_assert_msg(ws && ws->n == 2, "want 2 workers");
    for (int i = 0; i < 2; i++) {
        const struct json *w = json_at(ws, i);
        ck_assert_uint_eq(uint_at(w, "pid"), (unsigned long long)rows[i].pid);
        ck_assert_uint_eq(uint_at(w, "slot"), (unsigned long long)rows[i].slot);
        ck_assert_uint_eq(uint_at(w, "requests"), rows[i].requests);
        ck_assert_str_eq(json_get(w, "state")->str, "serving");
        ck_assert_uint_gt(uint_at(w, "rss_bytes"), 0);
        ck_assert_uint_eq(uint_at(w, "respawns"), 0);
    }
    json_free(doc);

    /* A crash: the slot's respawn is counted, the new pid shown. */
    kill(rows[0].pid, SIGKILL);
    ck_assert(pid_wait_gone(rows[0].pid, 5000));
    int64_t deadline = now_ms() + 10000;
    for (;;) {
        rc = cli(&s, true, out, err);
        doc = json_parse(out, strlen(out), perr, sizeof(perr));
        ck_assert_msg(rc == 0 && doc != NULL, "status --json: exit %d: %s\n%s", rc, perr, out);
        const struct json *w0 = json_at(json_get(doc, "workers"), 0);
        const struct json *st = json_get(w0, "state");
        if (uint_at(w0, "respawns") == 1 && json_get(w0, "pid")->uint != (unsigned)rows[0].pid &&
            strcmp(st->str, "serving") == 0) {
            json_free(doc);
            break;
        }
        json_free(doc);
        ck_assert_msg(now_ms() < deadline, "no respawn in status:\n%s", out);
        sleep_ms(20);
    }

    const char *bad[] = {"-c", s.cfg, "reload", "--json", NULL};
    ck_assert_int_eq(run_cmd_io(bad, out, OUT_MAX, err, OUT_MAX, 30000), 2);
    ck_assert_msg(strstr(err, "--json goes with status only"), "stderr:\n%s", err);

    const char *stop[] = {"-c", s.cfg, "stop", NULL};
    ck_assert_int_eq(run_cmd_io(stop, out, OUT_MAX, err, OUT_MAX, 30000), 0);
    int st = srv_wait_exit(&s, 5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x", st);
    for (int i = 0; i < 2; i++) {
        rc = cli(&s, i == 1, out, err);
        snprintf(want, sizeof(want), "sluice: not running (no pid file %s)\n", s.pid_file);
        ck_assert_msg(rc == 3 && out[0] == '\0' && strcmp(err, want) == 0,
                      "status%s, not running: exit %d\n%s\nstderr:\n%s", i ? " --json" : "", rc,
                      out, err);
    }
    srv_finish(&s);
    free(out);
    free(err);
    free(r);
}
END_TEST

Suite *
integ_status_suite(void)
{
    Suite *s = suite_create("integ_status");
    TCase *tc = tcase_create("status");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, json_counts_requests);
    tcase_add_test(tc, json_states_timeouts_limits);
    tcase_add_test(tc, prometheus_text);
    tcase_add_test(tc, methods_and_route_off);
    tcase_add_test(tc, status_allow);
    tcase_add_test(tc, cli_table_and_json);
    tcase_add_test(tc, cli_json_hostile_config_name);
    suite_add_tcase(s, tc);
    return s;
}
