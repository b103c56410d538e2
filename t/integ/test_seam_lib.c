/* Helpers of the request/response seam's integration suites; see test_seam.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "test_seam.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STATS_MAGIC "sluice-t stats"

void
seam_start(struct srv *s, const char *extra)
{
    char cfg[4096];
    int n =
        snprintf(cfg, sizeof(cfg), "workers = 1\ngraceful_timeout = 2s\n%s", extra ? extra : "");
    ck_assert(n > 0 && (size_t)n < sizeof(cfg));
    srv_start_test(s, cfg);
}

pid_t
seam_worker(const struct srv *s)
{
    pid_t w[2];
    ck_assert_msg(worker_pids_wait(s->pid, 1, w, 2, 5000), "master %d: not one worker",
                  (int)s->pid);
    return w[0];
}

/* ---- /_t/stats ---- */

void
stats_read(int port, struct seam_stats *st)
{
    struct http_resp r;
    int status = http_simple(port, "GET", "/_t/stats", &r);
    ck_assert_msg(status == 200 && r.body != NULL && strncmp(r.body, STATS_MAGIC, 14) == 0,
                  "/_t/stats: status %d, body '%.200s' (is SLUICE_TEST_BIN the test build?)",
                  status, r.body ? r.body : "");
    snprintf(st->text, sizeof(st->text), "%s", r.body);
    http_resp_free(&r);
}

long long
stats_val(const struct seam_stats *st, const char *key)
{
    char needle[96];
    snprintf(needle, sizeof(needle), "\n%s=", key);
    const char *p = strstr(st->text, needle);
    return p != NULL ? strtoll(p + strlen(needle), NULL, 10) : 0;
}

long long
stat_now(int port, const char *key)
{
    struct seam_stats st;
    stats_read(port, &st);
    return stats_val(&st, key);
}

void
stat_expect(int port, const char *key, long long want, int timeout_ms, const char *what)
{
    struct seam_stats st;
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        stats_read(port, &st);
        long long v = stats_val(&st, key);
        if (v >= want)
            break;
        ck_assert_msg(now_ms() < deadline, "%s: %s is %lld after %d ms, want %lld; stats:\n%s",
                      what, key, v, timeout_ms, want, st.text);
        sleep_ms(10);
    }
    stats_read(port, &st);
    ck_assert_msg(stats_val(&st, key) == want, "%s: %s is %lld, want exactly %lld; stats:\n%s",
                  what, key, stats_val(&st, key), want, st.text);
}

/* ---- bodies ---- */

char *
pattern_alloc(uint64_t off, size_t len)
{
    char *p = malloc(len + 1);
    ck_assert_ptr_nonnull(p);
    app_pattern_fill(p, off, len);
    p[len] = '\0';
    return p;
}

void
expect_pattern(const char *what, const char *got, size_t len, uint64_t off, size_t want_len)
{
    ck_assert_msg(len == want_len, "%s: %zu bytes, want %zu", what, len, want_len);
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(got[i] == app_pattern(off + i),
                      "%s: byte %zu is 0x%02x, want 0x%02x (pattern offset %llu)", what, i,
                      (unsigned char)got[i], (unsigned char)app_pattern(off + i),
                      (unsigned long long)(off + i));
}

static int
chunked_fail(struct chunked *c, const char *fmt, const char *detail)
{
    snprintf(c->err, sizeof(c->err), fmt, detail);
    return -1;
}

/* One CRLF-terminated line, byte by byte, without its CRLF; a bare LF is an error. */
static int
read_line(int fd, char *buf, size_t cap, struct chunked *c, const char *what)
{
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t got = recv(fd, &ch, 1, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return chunked_fail(c, "%s: connection ended or timed out", what);
        if (ch == '\n') {
            if (n == 0 || buf[n - 1] != '\r')
                return chunked_fail(c, "%s: LF without CR", what);
            buf[n - 1] = '\0';
            return (int)(n - 1);
        }
        if (n + 1 >= cap)
            return chunked_fail(c, "%s: line too long", what);
        buf[n++] = ch;
    }
}

static int
read_data(int fd, char *p, size_t len, struct chunked *c)
{
    for (size_t got = 0; got < len;) {
        ssize_t n = recv(fd, p + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return chunked_fail(c, "%s: connection ended inside chunk data", "body");
        got += (size_t)n;
    }
    return 0;
}

int
read_chunked(int fd, struct chunked *c)
{
    memset(c, 0, sizeof(*c));
    size_t cap = 4096;
    c->body = malloc(cap);
    ck_assert_ptr_nonnull(c->body);
    char line[256];
    for (;;) {
        int n = read_line(fd, line, sizeof(line), c, "chunk size line");
        if (n < 0)
            return -1;
        if (n == 0 || strspn(line, "0123456789abcdefABCDEF") != (size_t)n || n > 12)
            return chunked_fail(c, "bad chunk size line '%.100s'", line);
        size_t size = (size_t)strtoull(line, NULL, 16);
        if (size == 0)
            break;
        if (c->len + size + 1 > cap) {
            while (c->len + size + 1 > cap)
                cap *= 2;
            c->body = realloc(c->body, cap);
            ck_assert_ptr_nonnull(c->body);
        }
        if (read_data(fd, c->body + c->len, size, c) < 0)
            return -1;
        c->len += size;
        c->nchunks++;
        n = read_line(fd, line, sizeof(line), c, "CRLF after chunk data");
        if (n != 0)
            return n < 0 ? -1 : chunked_fail(c, "chunk data followed by '%.100s', not CRLF", line);
    }
    c->body[c->len] = '\0';
    size_t tl = 0;
    for (;;) {
        int n = read_line(fd, line, sizeof(line), c, "trailer section");
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (tl + (size_t)n + 3 > sizeof(c->trailers))
            return chunked_fail(c, "trailer section too long at '%.100s'", line);
        memcpy(c->trailers + tl, line, (size_t)n);
        memcpy(c->trailers + tl + (size_t)n, "\r\n", 3);
        tl += (size_t)n + 2;
    }
}

void
chunked_free(struct chunked *c)
{
    free(c->body);
    c->body = NULL;
}

void
expect_head(int fd, struct http_resp *r, int want, const char *what)
{
    int rc = http_try_read_head(fd, r);
    ck_assert_msg(rc == 0, "%s: no response head: %s", what, r->err);
    ck_assert_msg(r->status == want, "%s: status %d, want %d", what, r->status, want);
}

/* ---- sockets and processes ---- */

void
conn_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

long
proc_rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    char *text = read_file_all(path, NULL);
    ck_assert_msg(text != NULL, "%s: %s", path, strerror(errno));
    const char *p = strstr(text, "\nVmRSS:");
    long kb = p != NULL ? strtol(p + 7, NULL, 10) : -1;
    free(text);
    ck_assert_msg(kb > 0, "%s: no VmRSS", path);
    return kb;
}

bool
proc_has_fd_under(pid_t pid, const char *prefix, char *buf, size_t len)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char link[320];
        snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, buf, len - 1);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        found = strncmp(buf, prefix, strlen(prefix)) == 0;
    }
    closedir(d);
    return found;
}
