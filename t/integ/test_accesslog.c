/* Integration tests of the access log (issue 16): the lines of both formats against the
 * requests sent (method, target, status, bytes, tls), a malformed and a timed-out request get a
 * line, `sluice reopen` after a rename moves later lines to the new file without losing or
 * repeating one (also under load), a graceful stop writes every buffered line, stdout works,
 * a reload may change the file, and a path that cannot be opened or is a link is refused. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "load.h"
#include "test_tls.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_MAX 8192
#define LINE_MAX_LEN 4096

/* <dir>/access.log, or `rel` under the instance's dir. */
static char *
log_path(const struct srv *s, const char *rel, char *buf, size_t len)
{
    return srv_path(s, rel ? rel : "access.log", buf, len);
}

/* srv_start with access_log = <dir>/access.log, `format`, `buffer`, then `extra`. */
static void
start_logging(struct srv *s, const char *format, const char *buffer, const char *extra)
{
    char cfg[4 * SRV_PATH_MAX], path[SRV_PATH_MAX];
    srv_init(s);
    snprintf(cfg, sizeof(cfg),
             "access_log = %s\naccess_log_format = %s\naccess_log_buffer = %s\n%s",
             log_path(s, NULL, path, sizeof(path)), format, buffer, extra ? extra : "");
    srv_write_config(s, cfg);
    srv_spawn(s);
}

/* Lines of the file at `path` that start with `prefix` (NULL: every line); 0 when absent. */
static int
count_lines(const char *path, const char *prefix)
{
    char *text = read_file_all(path, NULL);
    int n = 0;
    if (text == NULL)
        return 0;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        if (end == NULL)
            break;
        if (prefix == NULL || strncmp(line, prefix, strlen(prefix)) == 0)
            n++;
        line = end + 1;
    }
    free(text);
    return n;
}

/* Poll (10 s bound) until `path` holds at least `want` lines starting with `prefix`. */
static int
wait_lines(const char *path, const char *prefix, int want)
{
    int64_t until = now_ms() + 10000;
    int n;
    while ((n = count_lines(path, prefix)) < want && now_ms() < until)
        sleep_ms(10);
    return n;
}

/* Line `i` (0-based) of the file at `path` into out; false when there is none. */
static bool
nth_line(const char *path, int i, char *out, size_t len)
{
    char *text = read_file_all(path, NULL);
    bool found = false;
    for (char *line = text; text && *line; i--) {
        char *end = strchr(line, '\n');
        if (end == NULL)
            break;
        if (i == 0) {
            snprintf(out, len, "%.*s", (int)(end - line), line);
            found = true;
            break;
        }
        line = end + 1;
    }
    free(text);
    return found;
}

/* The value of JSON field `key` in `line`: a string without its quotes, or the literal. */
static const char *
json_field(const char *line, const char *key, char *out, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(line, pat);
    ck_assert_msg(p != NULL, "no field %s in: %s", key, line);
    p += strlen(pat);
    size_t n;
    if (*p == '"') {
        p++;
        n = strcspn(p, "\"");
    } else {
        n = strcspn(p, ",}");
    }
    snprintf(out, len, "%.*s", (int)n, p);
    return out;
}

static void
assert_field(const char *line, const char *key, const char *want)
{
    char got[LINE_MAX_LEN];
    json_field(line, key, got, sizeof(got));
    ck_assert_msg(strcmp(got, want) == 0, "%s is '%s', want '%s', in: %s", key, got, want, line);
}

/* One request on a new connection; reads until the server closes. Returns its status, the
 * bytes that came (*total) and those of the header section (*head). */
static int
exchange(int port, const char *request, size_t *total, size_t *head)
{
    static char buf[1 << 16];
    int fd = conn_open(port);
    conn_sendstr(fd, request);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) - 1 && (r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) > 0)
        n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    const char *end = strstr(buf, "\r\n\r\n");
    ck_assert_msg(n > 12 && end != NULL, "no response to %s", request);
    *total = n;
    *head = (size_t)(end + 4 - buf);
    return atoi(buf + 9);
}

/* SIGQUIT (a graceful stop) and wait for the master to exit 0. The files stay until
 * srv_finish. */
static void
quit(struct srv *s)
{
    ck_assert_int_eq(kill(s->pid, SIGQUIT), 0);
    int status = srv_wait_exit(s, 15000);
    ck_assert_msg(status == 0, "master after SIGQUIT: status %d", status);
}

/* ---- formats ---- */

START_TEST(json_lines_match_requests)
{
    struct srv s;
    char path[SRV_PATH_MAX], line[LINE_MAX_LEN], want[64];
    const struct {
        const char *method, *target;
        int status;
    } reqs[] = {{"GET", "/", 200}, {"GET", "/missing?x=1", 404}, {"HEAD", "/index.html", 200}};
    size_t total[3], head[3];
    start_logging(&s, "json", "0", NULL);
    log_path(&s, NULL, path, sizeof(path));
    for (int i = 0; i < 3; i++) {
        char req[256];
        snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 reqs[i].method, reqs[i].target);
        ck_assert_int_eq(exchange(s.port, req, &total[i], &head[i]), reqs[i].status);
        ck_assert_int_eq(wait_lines(path, NULL, i + 1), i + 1); /* buffer 0: written at once */
    }
    for (int i = 0; i < 3; i++) {
        ck_assert(nth_line(path, i, line, sizeof(line)));
        ck_assert_msg(line[0] == '{' && line[strlen(line) - 1] == '}', "not an object: %s", line);
        assert_field(line, "method", reqs[i].method);
        assert_field(line, "target", reqs[i].target);
        snprintf(want, sizeof(want), "%d", reqs[i].status);
        assert_field(line, "status", want);
        snprintf(want, sizeof(want), "%zu", total[i]);
        assert_field(line, "bytes", want);
        assert_field(line, "remote", "127.0.0.1");
        assert_field(line, "tls", "false");
        assert_field(line, "generation", "1");
        assert_field(line, "route", "static");
        json_field(line, "duration_us", want, sizeof(want));
        ck_assert_msg(atoll(want) > 0 && atoll(want) < 10000000, "duration_us: %s", line);
        json_field(line, "time", want, sizeof(want));
        ck_assert_msg(strlen(want) == 24 && want[10] == 'T' && want[23] == 'Z', "time: %s", line);
    }
    ck_assert_int_eq(count_lines(path, NULL), 3);
    srv_stop(&s);
}
END_TEST

START_TEST(combined_lines_match_requests)
{
    struct srv s;
    char path[SRV_PATH_MAX], line[LINE_MAX_LEN], want[LINE_MAX_LEN];
    size_t total, head;
    start_logging(&s, "combined", "0", NULL);
    log_path(&s, NULL, path, sizeof(path));
    ck_assert_int_eq(
        exchange(s.port,
                 "GET /index.html?a=\"b\" HTTP/1.1\r\nHost: x\r\nReferer: http://r/\r\n"
                 "User-Agent: ua-test/1\r\nConnection: close\r\n\r\n",
                 &total, &head),
        200);
    ck_assert_int_eq(exchange(s.port, "GET /nothing HTTP/1.0\r\n\r\n", &total, &head), 404);
    ck_assert_int_eq(wait_lines(path, NULL, 2), 2);
    ck_assert(nth_line(path, 0, line, sizeof(line)));
    ck_assert_msg(strncmp(line, "127.0.0.1 - - [", 15) == 0 && line[15 + 26] == ']', "prefix: %s",
                  line);
    snprintf(want, sizeof(want),
             "] \"GET /index.html?a=\\x22b\\x22 HTTP/1.1\" 200 %zu \"http://r/\" \"ua-test/1\"",
             strlen(SRV_INDEX_HTML));
    ck_assert_msg(strcmp(line + 15 + 26, want) == 0, "got: %s\nwant the end: %s", line, want);
    ck_assert(nth_line(path, 1, line, sizeof(line)));
    snprintf(want, sizeof(want), "] \"GET /nothing HTTP/1.0\" 404 %zu \"-\" \"-\"", total - head);
    ck_assert_msg(strcmp(line + 15 + 26, want) == 0, "got: %s\nwant the end: %s", line, want);
    srv_stop(&s);
}
END_TEST

START_TEST(tls_request_says_so)
{
    struct srv s, logs; /* tls_start makes the instance's dir: the log goes in another */
    struct http_resp r;
    char path[SRV_PATH_MAX], extra[2 * SRV_PATH_MAX], line[LINE_MAX_LEN];
    srv_init(&logs);
    snprintf(extra, sizeof(extra),
             "access_log = %s\naccess_log_format = json\naccess_log_buffer = 0\n",
             log_path(&logs, NULL, path, sizeof(path)));
    tls_start(&s, "rsa", extra);
    ck_assert_int_eq(tls_fetch(s.port, NULL, "/index.html", NULL, &r), 200);
    http_resp_free(&r);
    ck_assert_int_eq(wait_lines(path, NULL, 1), 1);
    ck_assert(nth_line(path, 0, line, sizeof(line)));
    assert_field(line, "tls", "true");
    assert_field(line, "target", "/index.html");
    srv_stop(&s);
    srv_finish(&logs);
}
END_TEST

/* A request that never got a complete header still gets its line, with "-" for what is not
 * known: a malformed one (400), and one cut short by header_timeout (408). */
START_TEST(malformed_and_timed_out_requests_logged)
{
    struct srv s;
    struct http_resp r;
    char path[SRV_PATH_MAX], line[LINE_MAX_LEN];
    start_logging(&s, "json", "0", "header_timeout = 300ms\n");
    log_path(&s, NULL, path, sizeof(path));
    int fd = conn_open(s.port);
    conn_sendstr(fd, "NOT A REQUEST\r\n\r\n");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 400);
    http_resp_free(&r);
    close(fd);
    ck_assert_int_eq(wait_lines(path, NULL, 1), 1);
    fd = conn_open(s.port);
    conn_sendstr(fd, "GET / HT");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 408);
    http_resp_free(&r);
    close(fd);
    ck_assert_int_eq(wait_lines(path, NULL, 2), 2);
    for (int i = 0; i < 2; i++) {
        ck_assert(nth_line(path, i, line, sizeof(line)));
        assert_field(line, "status", i == 0 ? "400" : "408");
        assert_field(line, "method", "-");
        assert_field(line, "target", "-");
        assert_field(line, "route", "null");
        assert_field(line, "remote", "127.0.0.1");
    }
    srv_stop(&s);
}
END_TEST

/* ---- buffering, reopen, stop ---- */

static void
get_n(int port, int n, const char *target)
{
    for (int i = 0; i < n; i++) {
        struct http_resp r;
        ck_assert_int_lt(http_simple(port, "GET", target, &r), 500);
        http_resp_free(&r);
    }
}

/* Lines wait in a large buffer; a graceful stop writes every one of them. */
START_TEST(graceful_stop_flushes_every_line)
{
    struct srv s;
    char path[SRV_PATH_MAX];
    start_logging(&s, "combined", "1m", NULL);
    log_path(&s, NULL, path, sizeof(path));
    get_n(s.port, 60, "/");
    quit(&s);
    ck_assert_int_eq(count_lines(path, NULL), 60);
    srv_finish(&s);
}
END_TEST

/* Rename, `sluice reopen`, more requests: the old file has exactly the lines before the reopen
 * (what the worker buffered went there before it took the new file), the new one the rest. */
START_TEST(reopen_after_rename)
{
    struct srv s;
    char path[SRV_PATH_MAX], old[SRV_PATH_MAX], out[OUT_MAX];
    start_logging(&s, "json", "64k", "workers = 1\n");
    log_path(&s, NULL, path, sizeof(path));
    log_path(&s, "access.log.1", old, sizeof(old));
    get_n(s.port, 20, "/before");
    ck_assert_int_eq(rename(path, old), 0);
    int rc = srv_ctl(&s, "reopen", out, sizeof(out));
    ck_assert_msg(rc == 0, "reopen: exit %d\n%s", rc, out);
    get_n(s.port, 15, "/after");
    quit(&s);
    ck_assert_int_eq(count_lines(old, "{\"time\""), 20);
    ck_assert_int_eq(count_lines(path, "{\"time\""), 15);
    char *text = read_file_all(path, NULL);
    ck_assert_msg(text && strstr(text, "/before") == NULL, "a line before the reopen moved");
    free(text);
    srv_finish(&s);
}
END_TEST

/* The same under load from several connections: no line lost or written twice, and the new
 * file gets the later ones. */
START_TEST(reopen_under_load)
{
    struct srv s;
    struct load_stats st;
    char path[SRV_PATH_MAX], old[SRV_PATH_MAX], out[OUT_MAX], text[512];
    start_logging(&s, "combined", "64k", NULL);
    log_path(&s, NULL, path, sizeof(path));
    log_path(&s, "access.log.1", old, sizeof(old));
    struct load_cfg lc = {.port = s.port,
                          .target = "/",
                          .expect_body = SRV_INDEX_HTML,
                          .new_threads = 2,
                          .keepalive_threads = 2,
                          .max_ms = 30000};
    struct load *l = load_start(&lc);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(load_wait(l, 200, 10000), "load: %ld requests in 10 s", load_done(l));
    ck_assert_int_eq(rename(path, old), 0);
    int rc = srv_ctl(&s, "reopen", out, sizeof(out));
    ck_assert_msg(rc == 0, "reopen: exit %d\n%s", rc, out);
    long at_reopen = load_done(l);
    ck_assert_msg(load_wait(l, at_reopen + 300, 10000), "load stalled after the reopen");
    load_stop(l, &st);
    ck_assert_msg(st.failures == 0 && st.retries == 0, "%s", load_summary(&st, text, sizeof(text)));
    quit(&s);
    int before = count_lines(old, NULL), after = count_lines(path, NULL);
    ck_assert_msg(before + after == st.ok_new + st.ok_keepalive, "%d + %d lines for %ld requests",
                  before, after, st.ok_new + st.ok_keepalive);
    ck_assert_msg(after >= 200, "only %d lines in the new file", after);
    srv_finish(&s);
}
END_TEST

/* A reopen that cannot open the file again (its directory was moved away) is a warning, and
 * the workers keep writing to the file they have. */
START_TEST(reopen_failure_keeps_old_file)
{
    struct srv s;
    char dir[SRV_PATH_MAX], moved[SRV_PATH_MAX], extra[2 * SRV_PATH_MAX], out[OUT_MAX];
    char path[SRV_PATH_MAX + 16], kept[SRV_PATH_MAX + 16];
    srv_init(&s);
    srv_path(&s, "logs", dir, sizeof(dir));
    srv_path(&s, "logs.old", moved, sizeof(moved));
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/access.log", dir);
    snprintf(kept, sizeof(kept), "%s/access.log", moved);
    snprintf(extra, sizeof(extra),
             "access_log = %s\naccess_log_format = json\naccess_log_buffer = 0\n", path);
    srv_write_config(&s, extra);
    srv_spawn(&s);
    get_n(s.port, 2, "/first");
    ck_assert_int_eq(wait_lines(path, NULL, 2), 2);
    ck_assert_int_eq(rename(dir, moved), 0);
    int rc = srv_ctl(&s, "reopen", out, sizeof(out));
    ck_assert_msg(rc == 0, "reopen: exit %d\n%s", rc, out);
    ck_assert_msg(log_wait(&s, "workers keep the old file", 1, 5000),
                  "no warning about the failed reopen");
    ck_assert_msg(log_line_with(&s, "[warn]", "access_log: cannot open", path, NULL, 0),
                  "the warning does not name the file");
    get_n(s.port, 3, "/second");
    ck_assert_int_eq(wait_lines(kept, NULL, 5), 5);
    srv_stop(&s);
}
END_TEST

/* access_log = stdout: the lines come out of the master's stdout (the harness's error.log). */
START_TEST(stdout_log)
{
    struct srv s;
    srv_start(&s, "access_log = stdout\naccess_log_format = json\naccess_log_buffer = 0\n");
    get_n(s.port, 5, "/stdout-test");
    ck_assert_int_eq(wait_lines(s.log, "{\"time\"", 5), 5);
    ck_assert_int_eq(log_count(&s, "\"target\":\"/stdout-test\""), 5);
    srv_stop(&s);
}
END_TEST

/* A reload that names another file: the new generation writes there, the old one's lines (its
 * last ones written when it retires) stay in the first; a reload naming a file that cannot be
 * opened fails, and the serving generation goes on logging where it did. */
START_TEST(reload_changes_file)
{
    struct srv s;
    char path[SRV_PATH_MAX], second[SRV_PATH_MAX], cfg[3 * SRV_PATH_MAX], out[OUT_MAX];
    start_logging(&s, "json", "0", NULL);
    log_path(&s, NULL, path, sizeof(path));
    log_path(&s, "second.log", second, sizeof(second));
    get_n(s.port, 4, "/one");
    ck_assert_int_eq(wait_lines(path, NULL, 4), 4);

    snprintf(cfg, sizeof(cfg), "access_log = %s/nodir/x.log\naccess_log_format = json\n", s.dir);
    srv_write_config(&s, cfg);
    int rc = srv_ctl(&s, "reload", out, sizeof(out));
    ck_assert_msg(rc == 1 && strstr(out, "access_log: cannot open") &&
                      strstr(out, "No such file or directory"),
                  "reload to a missing dir: exit %d\n%s", rc, out);
    get_n(s.port, 1, "/still-one");
    ck_assert_int_eq(wait_lines(path, NULL, 5), 5);

    snprintf(cfg, sizeof(cfg), "access_log = %s\naccess_log_format = json\naccess_log_buffer = 0\n",
             second);
    srv_write_config(&s, cfg);
    rc = srv_ctl(&s, "reload", out, sizeof(out));
    ck_assert_msg(rc == 0, "reload: exit %d\n%s", rc, out);
    get_n(s.port, 3, "/two");
    ck_assert_int_eq(wait_lines(second, NULL, 3), 3);
    ck_assert_int_eq(count_lines(second, NULL), 3);
    ck_assert_int_eq(count_lines(path, NULL), 5);
    char line[LINE_MAX_LEN];
    ck_assert(nth_line(second, 0, line, sizeof(line)));
    assert_field(line, "generation", "2"); /* a refused reload makes none */
    srv_stop(&s);
}
END_TEST

/* ---- refusals ---- */

/* The line of s->cfg holding `needle` (1-based). */
static int
cfg_line(const struct srv *s, const char *needle)
{
    char *text = read_file_all(s->cfg, NULL);
    ck_assert_ptr_nonnull(text);
    const char *at = strstr(text, needle);
    ck_assert_ptr_nonnull(at);
    int line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    free(text);
    return line;
}

/* `sluice -c cfg [-t]` must fail with `want` in its output (stdout and stderr). */
static void
assert_refused(const struct srv *s, const char *want)
{
    char out[OUT_MAX];
    const char *t_args[] = {"-c", s->cfg, "-t", NULL};
    int rc = run_cmd_io(t_args, out, sizeof(out), NULL, 0, 20000);
    ck_assert_msg(rc == 1 && strstr(out, want), "-t: exit %d, want '%s' in:\n%s", rc, want, out);
    const char *args[] = {"-c", s->cfg, NULL};
    rc = run_cmd_io(args, out, sizeof(out), NULL, 0, 20000);
    ck_assert_msg(rc == 1 && strstr(out, want), "start: exit %d, want '%s' in:\n%s", rc, want, out);
}

START_TEST(missing_directory_refused)
{
    struct srv s;
    char extra[2 * SRV_PATH_MAX], want[3 * SRV_PATH_MAX];
    srv_init(&s);
    snprintf(extra, sizeof(extra), "access_log = %s/no-such-dir/access.log\n", s.dir);
    srv_write_config(&s, extra);
    snprintf(want, sizeof(want),
             "sluice: %s:%d: access_log: cannot open '%s/no-such-dir/access.log': No such file or "
             "directory",
             s.cfg, cfg_line(&s, "access_log"), s.dir);
    assert_refused(&s, want);
    srv_finish(&s);
}
END_TEST

/* A link planted where the log goes is refused (O_NOFOLLOW), and its target is not touched. */
START_TEST(symlink_refused)
{
    struct srv s;
    char extra[2 * SRV_PATH_MAX], want[3 * SRV_PATH_MAX], path[SRV_PATH_MAX], target[SRV_PATH_MAX];
    srv_init(&s);
    log_path(&s, NULL, path, sizeof(path));
    log_path(&s, "precious", target, sizeof(target));
    write_file(target, "precious\n", 9);
    ck_assert_int_eq(symlink(target, path), 0);
    snprintf(extra, sizeof(extra), "access_log = %s\n", path);
    srv_write_config(&s, extra);
    snprintf(want, sizeof(want),
             "sluice: %s:%d: access_log: '%s' is a symbolic link; sluice does not write through "
             "links",
             s.cfg, cfg_line(&s, "access_log"), path);
    assert_refused(&s, want);
    char *text = read_file_all(target, NULL);
    ck_assert_str_eq(text, "precious\n");
    free(text);
    srv_finish(&s);
}
END_TEST

Suite *
integ_accesslog_suite(void)
{
    Suite *s = suite_create("integ_accesslog");
    TCase *tc = tcase_create("formats");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, json_lines_match_requests);
    tcase_add_test(tc, combined_lines_match_requests);
    tcase_add_test(tc, tls_request_says_so);
    tcase_add_test(tc, malformed_and_timed_out_requests_logged);
    suite_add_tcase(s, tc);
    TCase *files = tcase_create("files");
    tcase_set_timeout(files, 90);
    tcase_add_test(files, graceful_stop_flushes_every_line);
    tcase_add_test(files, reopen_after_rename);
    tcase_add_test(files, reopen_under_load);
    tcase_add_test(files, reopen_failure_keeps_old_file);
    tcase_add_test(files, stdout_log);
    tcase_add_test(files, reload_changes_file);
    tcase_add_test(files, missing_directory_refused);
    tcase_add_test(files, symlink_refused);
    suite_add_tcase(s, files);
    return s;
}
