/* Scale-out behind a real load balancer (issue 16): haproxy on loopback balances two sluice
 * instances round-robin with an HTTP health check on health_path, and speaks the PROXY protocol
 * (v2) to one of them. Under continuous load, `sluice quit` on that one (drain_delay = 1s: its
 * health answers 503, haproxy takes it out, then it stops) fails no request through haproxy,
 * and the survivor serves everything after. The PROXY instance's access log names the client
 * (127.0.0.1), not haproxy, which connects from 127.0.0.3 (`source`); the plain instance's log
 * names haproxy. Skipped, with one line, where haproxy is not installed.
 *
 * haproxy refuses port 0, so its port is picked here (bound once, read, closed) and a start
 * that loses the port to someone else is retried with another. It runs in the foreground (-db)
 * as our child, guarded (a failing test kills it) and stopped by pid. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "load.h"
#include "t/skip.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000
#define START_TRIES 5 /* haproxy starts, each on a new free port */
#define BODY_PLAIN "served by the plain instance\n"
#define BODY_PROXY "served by the proxy instance\n"
#define HAPROXY_SOURCE "127.0.0.3" /* haproxy's side of its backend connections */

/* The backend lines as the README shows them (ports and paths filled in). */
static const char haproxy_cfg[] =
    "global\n"
    "    maxconn 256\n"
    "defaults\n"
    "    mode http\n"
    "    timeout connect 2s\n"
    "    timeout client 10s\n"
    "    timeout server 10s\n"
    "    timeout check 5s\n"
    "frontend fe\n"
    "    bind 127.0.0.1:%d\n"
    "    default_backend sluice\n"
    "backend sluice\n"
    "    balance roundrobin\n"
    "    option httpchk GET /health\n"
    "    http-check expect status 200\n"
    "    default-server check inter 100ms fall 1 rise 1 source " HAPROXY_SOURCE "\n"
    "    server plain 127.0.0.1:%d\n"
    "    server proxied 127.0.0.1:%d send-proxy-v2\n";

struct haproxy {
    char bin[256];
    char cfg[SRV_PATH_MAX + 32];
    char out[SRV_PATH_MAX + 32]; /* its stdout and stderr */
    pid_t pid;
    int port;
};

/* haproxy's path: $SLUICE_HAPROXY when set (another build; a path that is not executable, such
 * as "none", skips the test), else /usr/sbin (Debian; often not in a user's PATH),
 * /usr/local/sbin, then PATH. False when none is executable. */
static bool
haproxy_find(char *buf, size_t len)
{
    static const char *const fixed[] = {"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"};
    const char *env = getenv("SLUICE_HAPROXY");
    if (env != NULL) {
        snprintf(buf, len, "%s", env);
        return access(buf, X_OK) == 0;
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (access(fixed[i], X_OK) == 0) {
            snprintf(buf, len, "%s", fixed[i]);
            return true;
        }
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && (size_t)snprintf(buf, len, "%.*s/haproxy", (int)n, path) < len &&
            access(buf, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

static void
haproxy_spawn(struct haproxy *h)
{
    int out = open(h->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(out >= 0, "%s: %s", h->out, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        child_setup_fds(out, out);
        execl(h->bin, "haproxy", "-f", h->cfg, "-db", (char *)NULL);
        _exit(127);
    }
    close(out);
    h->pid = pid;
    srv_guard_pid(pid);
}

/* Stop haproxy by its pid and reap it (bounded; SIGKILL past that). */
static void
haproxy_stop(struct haproxy *h)
{
    if (h->pid <= 0)
        return;
    kill(h->pid, SIGTERM);
    int64_t deadline = now_ms() + WAIT_MS;
    while (waitpid(h->pid, NULL, WNOHANG) == 0) {
        if (now_ms() >= deadline) {
            kill(h->pid, SIGKILL);
            waitpid(h->pid, NULL, 0);
            break;
        }
        sleep_ms(10);
    }
    srv_unguard_pid(h->pid);
    h->pid = 0;
}

/* Fresh GETs through haproxy until both instances have answered (both servers are up and
 * balanced). False when haproxy exited meanwhile (its output says why); fails on a timeout. */
static bool
haproxy_wait_ready(struct haproxy *h)
{
    bool plain = false, proxied = false;
    char body[128], err[200] = "no answer yet";
    int64_t deadline = now_ms() + WAIT_MS;
    while (!(plain && proxied)) {
        if (waitpid(h->pid, NULL, WNOHANG) == h->pid) {
            srv_unguard_pid(h->pid);
            h->pid = 0;
            return false;
        }
        ck_assert_msg(now_ms() < deadline, "haproxy on port %d: not balancing after %d ms (%s)",
                      h->port, WAIT_MS, err);
        snprintf(err, sizeof(err), "no answer yet");
        int status = load_get_once(h->port, "/", NULL, 1000, err, sizeof(err));
        if (status == 200) {
            /* load_get_once checks no body without expect_body: ask once more for each. */
            plain =
                plain || load_get_once(h->port, "/", BODY_PLAIN, 1000, body, sizeof(body)) == 200;
            proxied =
                proxied || load_get_once(h->port, "/", BODY_PROXY, 1000, body, sizeof(body)) == 200;
        }
        sleep_ms(20);
    }
    return true;
}

/* Start haproxy in front of the two instances, on a port of its own: a start that lost its
 * port (bind failed) is retried with another. */
static void
haproxy_start(struct haproxy *h, const char *dir, int plain_port, int proxy_port)
{
    char text[2048];
    snprintf(h->cfg, sizeof(h->cfg), "%s/haproxy.cfg", dir);
    snprintf(h->out, sizeof(h->out), "%s/haproxy.out", dir);
    for (int i = 0; i < START_TRIES; i++) {
        h->port = srv_free_port();
        int n = snprintf(text, sizeof(text), haproxy_cfg, h->port, plain_port, proxy_port);
        write_file(h->cfg, text, (size_t)n);
        haproxy_spawn(h);
        if (haproxy_wait_ready(h))
            return;
        char *out = read_file_all(h->out, NULL);
        bool lost_port = out && strstr(out, "annot bind");
        if (!lost_port)
            ck_abort_msg("haproxy exited at start:\n%s", out ? out : "(no output)");
        free(out);
    }
    ck_abort_msg("haproxy could not bind a free port in %d tries", START_TRIES);
}

/* A sluice instance behind haproxy, serving `body` at / and logging requests (unbuffered). */
static void
instance_start(struct srv *s, const char *listen, const char *body)
{
    char extra[SRV_PATH_MAX * 2];
    srv_init(s);
    srv_write_file(s, "index.html", body, strlen(body));
    snprintf(extra, sizeof(extra),
             "listen = %s\nhealth_path = /health\ndrain_delay = 1s\ngraceful_timeout = 5s\n"
             "access_log = %s/access.log\naccess_log_buffer = 0\n",
             listen, s->dir);
    srv_write_config(s, extra);
    srv_spawn(s);
}

/* Every access-log line of a "GET / " request starts with `addr` (the client's address as the
 * instance saw it); returns how many there are. */
static int
assert_log_clients(const struct srv *s, const char *addr, const char *which)
{
    char path[SRV_PATH_MAX + 16], want[64];
    snprintf(path, sizeof(path), "%s/access.log", s->dir);
    snprintf(want, sizeof(want), "%s ", addr);
    char *text = read_file_all(path, NULL);
    ck_assert_msg(text != NULL, "%s: no access log %s", which, path);
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "\"GET / HTTP/1.1\"") == NULL)
            continue;
        ck_assert_msg(strncmp(line, want, strlen(want)) == 0,
                      "%s: a request logged from another address than %s:\n%s", which, addr, line);
        n++;
    }
    free(text);
    return n;
}

START_TEST(quit_behind_haproxy_drops_nothing)
{
    struct haproxy h = {0};
    if (!haproxy_find(h.bin, sizeof(h.bin))) {
        t_skip("quit_behind_haproxy_drops_nothing",
               "haproxy not found ($SLUICE_HAPROXY, /usr/sbin, /usr/local/sbin, PATH)");
        return;
    }
    struct srv plain, proxied;
    char out[1024], buf[4096];
    instance_start(&plain, "127.0.0.1:0", BODY_PLAIN);
    instance_start(&proxied, "127.0.0.1:0 proxy", BODY_PROXY);
    haproxy_start(&h, plain.dir, plain.port, proxied.port);

    struct load_cfg lc = {.port = h.port,
                          .target = "/",
                          .new_threads = 2,
                          .keepalive_threads = 2,
                          .max_ms = 40000,
                          .io_timeout_ms = 5000,
                          .strict = true};
    struct load *l = load_start(&lc);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(load_wait(l, 200, WAIT_MS), "load through haproxy: %ld answered in %d ms",
                  load_done(l), WAIT_MS);

    /* The PROXY instance leaves: it drains (health 503: haproxy takes it out), then stops. */
    long before = load_done(l);
    int rc = srv_ctl(&proxied, "quit", out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "stopped (pid "), "sluice quit: exit %d: %s", rc, out);
    long during = load_done(l) - before;
    int st = srv_wait_exit(&proxied, WAIT_MS);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "proxy instance: 0x%x", st);
    ck_assert_int_eq(log_count(&proxied, "master: draining for 1000 ms before stopping"), 1);

    /* The survivor carries the load on. */
    ck_assert_msg(load_wait(l, load_done(l) + 200, WAIT_MS), "load stalled after the quit");
    struct load_stats ls;
    load_stop(l, &ls);
    fprintf(stderr, "scaleout: %s; %ld answered during sluice quit\n",
            load_summary(&ls, buf, sizeof(buf)), during);
    char *hout = read_file_all(h.out, NULL);
    ck_assert_msg(ls.failures == 0, "%ld requests failed through haproxy:\n%s\nhaproxy said:\n%s",
                  ls.failures, load_events_text(&ls, buf, sizeof(buf)), hout ? hout : "");
    ck_assert_msg(during >= 20, "only %ld requests ran during sluice quit", during);
    char err[200];
    for (int i = 0; i < 20; i++) {
        int status = load_get_once(h.port, "/", BODY_PLAIN, 3000, err, sizeof(err));
        ck_assert_msg(status == 200, "after the quit, request %d: %d %s", i, status, err);
    }

    /* haproxy saw the health check fail (503), not only the connection refused later. */
    ck_assert_msg(hout && strstr(hout, "sluice/proxied is DOWN") && strstr(hout, "503"),
                  "haproxy's output shows no DOWN on a 503:\n%s", hout ? hout : "");
    free(hout);
    haproxy_stop(&h);

    /* Each instance logged the client as it knows it: the PROXY one the real client, the plain
     * one haproxy's connection. */
    int n_proxied = assert_log_clients(&proxied, "127.0.0.1", "proxy instance");
    int n_plain = assert_log_clients(&plain, HAPROXY_SOURCE, "plain instance");
    srv_finish(&proxied);
    srv_stop(&plain);
    ck_assert_msg(n_proxied > 0 && n_plain > 0,
                  "requests logged: %d by the proxy instance, %d by "
                  "the plain one",
                  n_proxied, n_plain);
}
END_TEST

Suite *
integ_scaleout_suite(void)
{
    Suite *s = suite_create("integ_scaleout");
    TCase *tc = tcase_create("scaleout");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, quit_behind_haproxy_drops_nothing);
    suite_add_tcase(s, tc);
    return s;
}
