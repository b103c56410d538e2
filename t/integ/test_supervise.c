/* Integration tests of master supervision (issue 6), part 1: reloads under load (zero failed
 * requests), a refused reload, reloads in a row (at most two generations), kill -9 of a worker
 * under load, crash-loop back-off, the rate limit of crash log lines, and a graceful QUIT with a
 * slow 20 MB download in flight. Socket lending is in test_lending.c; the watchdog and
 * max_requests in test_recycle.c; privileges in test_privileges.c.
 *
 * The load comes from load.c: threads on new connections and on kept-alive ones. A request on
 * a REUSED connection that meets EOF/reset before any response byte is retried once on a new
 * connection (RFC 9112 9.3.1) and counted as a retry, not a failure: a server may close an idle
 * keep-alive connection at any time. Every wait is a bounded poll; the only sleeps are pacing. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"
#include "load.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RELOADS 20
#define BIG_SIZE (20 << 20)
#define KA_THREADS 12 /* kept connections in the kill -9 test */

/* ---- helpers ---- */

static void
wait_gen_ready(const struct srv *s, unsigned gen, int timeout_ms)
{
    char want[64];
    snprintf(want, sizeof(want), "generation %u ready (", gen);
    ck_assert_msg(log_wait(s, want, 1, timeout_ms), "no '%s' in the log within %d ms", want,
                  timeout_ms);
}

/* Generation in a worker's process title ("sluice: worker 1 gen 3"), 0 when none. */
static unsigned
title_gen(pid_t pid)
{
    char buf[256];
    proc_cmdline(pid, buf, sizeof(buf));
    unsigned gen = 0;
    const char *g = strstr(buf, " gen ");
    if (strncmp(buf, "sluice: worker ", 15) == 0 && g != NULL)
        gen = (unsigned)strtoul(g + 5, NULL, 10);
    return gen;
}

static struct load *
start_load(const struct srv *s, int new_threads, int ka_threads)
{
    struct load_cfg cfg = {.port = s->port,
                           .target = "/",
                           .expect_body = SRV_INDEX_HTML,
                           .new_threads = new_threads,
                           .keepalive_threads = ka_threads,
                           .max_ms = 45000,
                           .io_timeout_ms = 5000};
    struct load *l = load_start(&cfg);
    ck_assert_msg(l != NULL, "cannot start the load threads");
    ck_assert_msg(load_wait(l, 200, 5000), "load: only %ld requests answered in 5 s", load_done(l));
    return l;
}

/* Line number of the first line of `path` holding `needle` (1-based), 0 when none. */
static int
line_of(const char *path, const char *needle)
{
    char *text = read_file_all(path, NULL);
    ck_assert_ptr_nonnull(text);
    int line = 1, found = 0;
    const char *hit = strstr(text, needle);
    for (const char *p = text; hit != NULL && p < hit; p++)
        line += *p == '\n';
    if (hit != NULL)
        found = line;
    free(text);
    return found;
}

/* ---- reload under load ---- */

START_TEST(reload_under_load_drops_nothing)
{
    struct srv s;
    pid_t before[8], after[8];
    struct load_stats st;
    char sum[300], ev[1200];
    srv_start(&s, "graceful_timeout = 10s");
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 2);

    struct load *l = start_load(&s, 4, 4);
    for (unsigned gen = 2; gen <= RELOADS + 1; gen++) {
        ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
        wait_gen_ready(&s, gen, 5000);
        /* Traffic must flow in every generation, not only around the reloads. */
        long done = load_done(l);
        ck_assert_msg(load_wait(l, done + 50, 5000), "generation %u: load stalled at %ld", gen,
                      load_done(l));
    }
    load_stop(l, &st);
    fprintf(stderr, "reload_under_load: %d reloads: %s\n", RELOADS,
            load_summary(&st, sum, sizeof(sum)));
    ck_assert_msg(st.failures == 0, "%d reloads: %s%s", RELOADS, sum,
                  load_events_text(&st, ev, sizeof(ev)));
    ck_assert_msg(st.ok_new > 0 && st.ok_keepalive > 0, "no traffic of one kind: %s", sum);
    /* A listener closed by a graceful stop must not be accepted on later in the same turn. */
    ck_assert_msg(log_count(&s, "accept4") == 0, "%d accept4 errors logged during the reloads",
                  log_count(&s, "accept4"));

    ck_assert_msg(worker_pids_wait(s.pid, 2, after, 8, 10000),
                  "old generations still alive 10 s on");
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(!pids_contain(before, 2, after[i]), "worker %d survived %d reloads",
                      (int)after[i], RELOADS);
        ck_assert_msg(title_gen(after[i]) == RELOADS + 1, "worker %d: title shows gen %u, want %d",
                      (int)after[i], title_gen(after[i]), RELOADS + 1);
    }
    srv_assert_serves(&s, 10, "after the reloads");
    srv_stop(&s);
}
END_TEST

/* ---- a refused reload ---- */

START_TEST(reload_with_bad_config_keeps_generation)
{
    struct srv s;
    pid_t before[8], after[8];
    char want[64], line[1024], out[2048], err[2048];
    srv_start(&s, NULL);
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 2);

    srv_write_config(&s, "keepalive_timeout = 5s\nthis line is not a setting\nbacklog = 128");
    int bad = line_of(s.cfg, "this line is not");
    ck_assert_int_gt(bad, 0);
    snprintf(want, sizeof(want), "sluice.ini:%d:", bad);

    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    ck_assert_msg(log_wait(&s, want, 1, 5000), "no '%s' in the log after HUP", want);
    ck_assert_msg(log_line_with(&s, want, "[error]", "reload", line, sizeof(line)),
                  "the refused reload is not logged at [error] level with '%s'", want);

    const char *args[] = {"-c", s.cfg, "reload", NULL};
    int rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), 10000);
    ck_assert_msg(rc == 1, "sluice reload with a bad config: exit %d (want 1); stderr: %s", rc,
                  err);
    ck_assert_msg(strstr(err, want) != NULL, "sluice reload's stderr lacks '%s': %s", want, err);
    ck_assert_msg(strstr(out, "signalled") == NULL, "sluice reload signalled anyway: %s", out);

    srv_assert_serves(&s, 20, "after the refused reload");
    ck_assert_int_eq(worker_pids(s.pid, after, 8), 2);
    ck_assert_msg(after[0] == before[0] && after[1] == before[1],
                  "workers replaced although the new config was refused");
    ck_assert_msg(log_count(&s, "reload: starting generation") == 0,
                  "a generation was started from a refused config");

    /* Fixed, the next reload goes through. */
    srv_write_config(&s, NULL);
    rc = run_cmd_io(args, out, sizeof(out), err, sizeof(err), 10000);
    ck_assert_msg(rc == 0, "sluice reload with the fixed config: exit %d; %s %s", rc, out, err);
    wait_gen_ready(&s, 2, 5000);
    ck_assert_msg(worker_pids_wait(s.pid, 2, after, 8, 10000), "generation 1 did not exit");
    ck_assert_msg(!pids_contain(before, 2, after[0]) && !pids_contain(before, 2, after[1]),
                  "workers not replaced by the good reload");
    srv_assert_serves(&s, 5, "after the good reload");
    srv_stop(&s);
}
END_TEST

/* ---- reloads in a row: at most two generations ---- */

struct sampler {
    pid_t master;
    atomic_bool stop;
    pthread_t tid;
    atomic_int samples;
    int max_children, max_gens;
    char worst[160];
};

static void *
sampler_main(void *arg)
{
    struct sampler *sm = arg;
    while (!atomic_load(&sm->stop)) {
        pid_t pids[32];
        unsigned gens[32];
        int n = worker_pids(sm->master, pids, 32), ngens = 0, untitled = 0;
        for (int i = 0; i < n && i < 32; i++) {
            unsigned g = title_gen(pids[i]); /* 0: forked, title not set yet */
            untitled += g == 0;
            bool seen = g == 0;
            for (int j = 0; j < ngens && !seen; j++)
                seen = gens[j] == g;
            if (!seen)
                gens[ngens++] = g;
        }
        atomic_fetch_add(&sm->samples, 1);
        if (n > sm->max_children || ngens > sm->max_gens) {
            int used = snprintf(sm->worst, sizeof(sm->worst), "%d children (%d untitled), gens", n,
                                untitled);
            for (int j = 0; j < ngens && used < (int)sizeof(sm->worst); j++)
                used +=
                    snprintf(sm->worst + used, sizeof(sm->worst) - (size_t)used, " %u", gens[j]);
        }
        if (n > sm->max_children)
            sm->max_children = n;
        if (ngens > sm->max_gens)
            sm->max_gens = ngens;
        sleep_ms(1);
    }
    return NULL;
}

static int
hups_handled(const struct srv *s)
{
    return log_count(s, "reload: starting generation") +
           log_count(s, "reload: a reload is already in progress") +
           log_count(s, "reload: too many generations");
}

/* The master's five HUPs are each handled (started or refused) before the next is sent, but
 * nothing waits for a generation to be ready. */
static void
five_hups(const struct srv *s)
{
    for (int i = 0; i < 5; i++) {
        int handled = hups_handled(s);
        ck_assert_int_eq(kill(s->pid, SIGHUP), 0);
        int64_t deadline = now_ms() + 5000;
        while (hups_handled(s) <= handled) {
            ck_assert_msg(now_ms() < deadline, "HUP %d not handled within 5 s", i + 1);
            sleep_ms(1);
        }
    }
}

/* After the reloads: exactly `workers` children, all of the newest generation, serving. */
static void
assert_settled(const struct srv *s, int workers)
{
    pid_t pids[16];
    int started = log_count(s, "reload: starting generation");
    unsigned last = (unsigned)started + 1;
    wait_gen_ready(s, last, 5000);
    ck_assert_msg(worker_pids_wait(s->pid, workers, pids, 16, 10000),
                  "not back to %d children 10 s after the reloads", workers);
    for (int i = 0; i < workers; i++)
        ck_assert_msg(title_gen(pids[i]) == last, "worker %d is of gen %u, want %u", (int)pids[i],
                      title_gen(pids[i]), last);
    srv_assert_serves(s, 10, "after the reloads");
}

START_TEST(five_reloads_in_a_row)
{
    struct srv s;
    srv_start(&s, NULL);
    struct sampler sm = {.master = s.pid};
    ck_assert_int_eq(pthread_create(&sm.tid, NULL, sampler_main, &sm), 0);

    five_hups(&s);
    assert_settled(&s, 2);
    atomic_store(&sm.stop, true);
    pthread_join(sm.tid, NULL);
    ck_assert_msg(sm.max_children <= 4 && sm.max_gens <= 2,
                  "at most two generations (4 workers) may be alive; saw %s (%d samples)", sm.worst,
                  atomic_load(&sm.samples));
    srv_stop(&s);
}
END_TEST

/* A stalled download (a 4 MB file, a 4 KiB receive buffer, nothing read): the worker that
 * serves it keeps draining after a reload. Returns the fd; *owner gets the worker. */
static int
stalled_download(const struct srv *s, pid_t *owner)
{
    struct http_resp r;
    pid_t pids[8];
    int n = worker_pids(s->pid, pids, 8);
    int fd = conn_open_rcvbuf(s->port, 4096);
    conn_sendstr(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_msg(http_try_read_head(fd, &r) == 0, "%s", r.err);
    ck_assert_int_eq(r.status, 200);
    *owner = load_conn_owner(pids, n < 8 ? n : 8, s->port, load_local_port(fd));
    ck_assert_msg(*owner != 0, "no worker holds the download");
    return fd;
}

/* A reload while an older generation still drains must cut that one short before a third
 * generation exists. Generations 1 and 2 are each held draining by a stalled download, and the
 * generation 1 worker is stopped: like a worker busy in a long computation, it does not exit
 * the moment it is told to. Generation 3 may only start once it is gone. */
START_TEST(reload_never_makes_a_third_generation)
{
    struct srv s;
    pid_t draining, draining2;
    srv_start(&s, "graceful_timeout = 30s");
    unsigned char *data = malloc(4 << 20);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', 4 << 20);
    srv_write_file(&s, "big.bin", data, 4 << 20);
    free(data);

    int fd = stalled_download(&s, &draining);
    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    wait_gen_ready(&s, 2, 5000);
    ck_assert_msg(pid_alive(draining), "generation 1 did not keep draining its download");
    ck_assert_int_eq(kill(draining, SIGSTOP), 0);
    int fd2 = stalled_download(&s, &draining2);
    ck_assert_msg(title_gen(draining2) == 2, "the second download is not on generation 2");

    struct sampler sm = {.master = s.pid};
    ck_assert_int_eq(pthread_create(&sm.tid, NULL, sampler_main, &sm), 0);
    ck_assert_int_eq(kill(s.pid, SIGHUP), 0);
    /* Generation 3 ready, or the reload refused: either is handled. 15 s: room for a master
     * that first kills the stuck generation after its 10 s limit. */
    int64_t deadline = now_ms() + 15000;
    while (log_count(&s, "generation 3 ready (") == 0 &&
           log_count(&s, "reload: too many generations") == 0) {
        ck_assert_msg(now_ms() < deadline, "second reload neither done nor refused in 15 s");
        sleep_ms(5);
    }
    /* Let the sampler look at least twice at what the reload left before anything moves on. */
    int seen = atomic_load(&sm.samples);
    while (atomic_load(&sm.samples) < seen + 2) {
        ck_assert_msg(now_ms() < deadline + 5000, "sampler stuck");
        sleep_ms(1);
    }
    kill(draining, SIGCONT); /* if it is still there, let it take its SIGTERM */
    ck_assert_msg(pid_wait_gone(draining, 5000), "the cut-short worker %d is still alive",
                  (int)draining);
    close(fd);
    close(fd2);
    assert_settled(&s, 2);
    atomic_store(&sm.stop, true);
    pthread_join(sm.tid, NULL);
    ck_assert_msg(sm.max_gens <= 2 && sm.max_children <= 4,
                  "at most two generations (4 workers) may be alive; saw %s (%d samples)", sm.worst,
                  atomic_load(&sm.samples));
    ck_assert_msg(log_count(&s, "cutting generation 1 short") == 1,
                  "generation 1 was not cut short (logged)");
    srv_stop(&s);
}
END_TEST

/* ---- kill -9 under load ---- */

START_TEST(kill9_under_load_only_its_connections_fail)
{
    struct srv s;
    pid_t pids[8], after[8];
    int ports[16];
    pid_t owner[16];
    struct load_stats st;
    char sum[300], ev[1200], err[128];
    srv_start(&s, "max_keepalive_requests = 1000000\nkeepalive_timeout = 60s");
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);
    pid_t victim = pids[0], other = pids[1];

    struct load *l = start_load(&s, 4, KA_THREADS);
    /* Which worker holds each kept connection (all connected and accepted: bounded poll). */
    int nka = 0, on_victim = 0, owned = 0;
    int64_t until = now_ms() + 5000;
    while (owned < KA_THREADS) {
        ck_assert_msg(now_ms() < until, "only %d of %d kept connections found in /proc", owned,
                      KA_THREADS);
        nka = load_keepalive_ports(l, ports, 16);
        owned = on_victim = 0;
        for (int i = 0; i < nka; i++) {
            owner[i] = ports[i] ? load_conn_owner(pids, 2, s.port, ports[i]) : 0;
            owned += owner[i] != 0;
            on_victim += owner[i] == victim;
        }
        if (owned < KA_THREADS)
            sleep_ms(5);
    }
    ck_assert_msg(on_victim > 0 && on_victim < nka, "%d of %d kept connections on one worker",
                  on_victim, nka);

    int64_t kill_ms = now_ms();
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    ck_assert_msg(pid_wait_gone(victim, 5000), "worker %d survived SIGKILL", (int)victim);
    int64_t gone_ms = now_ms();
    int64_t deadline = now_ms() + 5000;
    while (worker_pids(s.pid, after, 8) != 2 || pids_contain(after, 2, victim)) {
        ck_assert_msg(now_ms() < deadline, "slot not respawned within 5 s");
        sleep_ms(5);
    }
    pid_t fresh = after[0] == other ? after[1] : after[0];
    char want[64];
    snprintf(want, sizeof(want), "(pid %d) ready", (int)fresh);
    ck_assert_msg(log_wait(&s, want, 1, 5000), "replacement never logged '%s'", want);
    long done = load_done(l);
    ck_assert_msg(load_wait(l, done + 300, 10000), "load stalled after the kill");
    load_stop(l, &st);
    fprintf(stderr, "kill9_under_load: %s\n", load_summary(&st, sum, sizeof(sum)));

    /* Failures and retries: only on connections the victim held. */
    int per_thread[LOAD_MAX_THREADS] = {0};
    for (int i = 0; i < st.nevents; i++) {
        const struct load_event *e = &st.events[i];
        if (e->keepalive) {
            bool victims = false;
            for (int k = 0; k < nka; k++)
                victims |= ports[k] == e->local_port && owner[k] == victim;
            ck_assert_msg(victims, "keep-alive %s on a connection the victim did not hold:%s",
                          e->retry ? "retry" : "failure", load_events_text(&st, ev, sizeof(ev)));
            continue;
        }
        ck_assert_msg(
            e->conn_start_ms <= gone_ms, "a new connection opened %lld ms after the kill failed:%s",
            (long long)(e->conn_start_ms - kill_ms), load_events_text(&st, ev, sizeof(ev)));
        ck_assert_msg(++per_thread[e->thread] <= 1, "thread %d failed twice:%s", e->thread,
                      load_events_text(&st, ev, sizeof(ev)));
    }

    /* The respawned worker serves: find a connection it holds. */
    bool served = false;
    for (int i = 0; i < 60 && !served; i++) {
        int fd = load_keepalive_open(s.port, "/", SRV_INDEX_HTML, 3000, err, sizeof(err));
        ck_assert_msg(fd >= 0, "probe %d: %s", i, err);
        served = load_conn_owner(&fresh, 1, s.port, load_local_port(fd)) == fresh;
        close(fd);
    }
    ck_assert_msg(served, "no connection of 60 landed on the respawned worker %d", (int)fresh);
    srv_stop(&s);
}
END_TEST

/* ---- crash loop back-off ---- */

static int64_t
line_ms(const char *line)
{
    int h, m, sec, ms;
    if (sscanf(line, "%*d-%*d-%*dT%d:%d:%d.%dZ", &h, &m, &sec, &ms) != 4)
        return -1;
    return ((int64_t)(h * 60 + m) * 60 + sec) * 1000 + ms;
}

/* Each "worker SLOT died ...; respawning in X ms" line against the next "worker SLOT (pid P)
 * started": the respawn waited at least X ms (and not much more). Returns the X seen, in order. */
static int
check_backoff_log(const struct srv *s, int slot, long *delays, int max)
{
    char died[32], started[32];
    snprintf(died, sizeof(died), "worker %d died ", slot);
    snprintf(started, sizeof(started), "worker %d (pid ", slot);
    char *text = read_file_all(s->log, NULL);
    ck_assert_ptr_nonnull(text);
    int n = 0;
    int64_t due = -1, at = 0;
    long pending = 0;
    for (char *line = text; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        const char *x = strstr(line, "respawning in ");
        if (strstr(line, died) && x) {
            pending = strtol(x + 14, NULL, 10);
            at = line_ms(line);
            due = at + pending;
            if (n < max)
                delays[n] = pending;
            n++;
        } else if (due >= 0 && strstr(line, started) && strstr(line, ") started")) {
            int64_t waited = line_ms(line) - at;
            if (waited < 0)
                waited += 86400000; /* past midnight UTC */
            /* The back-off counts from the reap, a little before the line is written: allow
             * 10 ms of that (and of millisecond rounding). */
            ck_assert_msg(waited >= pending - 10 && waited <= pending + 1000,
                          "back-off of %ld ms, respawned after %lld ms: %s", pending,
                          (long long)waited, line);
            due = -1;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
    return n;
}

START_TEST(crash_loop_backs_off)
{
    struct srv s;
    pid_t pids[8];
    char want[64];
    long delays[16];
    srv_start(&s, NULL);
    ck_assert_int_eq(worker_pids(s.pid, pids, 8), 2);
    pid_t current = pids[0], sibling = pids[1];
    snprintf(want, sizeof(want), "worker 0 (pid %d) ", (int)current);
    int slot = log_count(&s, want) > 0 ? 0 : 1;

    const int kills = 5;
    for (int k = 0; k < kills; k++) {
        ck_assert_int_eq(kill(current, SIGKILL), 0);
        ck_assert_msg(pid_wait_gone(current, 5000), "worker %d survived SIGKILL", (int)current);
        if (k == kills - 1)
            break;
        /* The next worker of the slot: kill it as soon as it has reported ready. */
        pid_t next = 0;
        int64_t deadline = now_ms() + 5000;
        while (next == 0) {
            int n = worker_pids(s.pid, pids, 8);
            for (int i = 0; i < n && i < 8; i++)
                if (pids[i] != sibling && pids[i] != current)
                    next = pids[i];
            ck_assert_msg(now_ms() < deadline, "slot %d not respawned within 5 s (kill %d)", slot,
                          k + 1);
            sleep_ms(1);
        }
        snprintf(want, sizeof(want), "(pid %d) ready", (int)next);
        ck_assert_msg(log_wait(&s, want, 1, 5000), "worker %d never ready", (int)next);
        current = next;
    }
    /* The slot is backing off now (800 ms or more after four or five quick deaths): its
     * socket is on loan to the sibling. */
    snprintf(want, sizeof(want), "worker %d died ", slot);
    ck_assert_msg(log_wait(&s, want, kills - 1, 5000), "fewer than %d quick deaths logged",
                  kills - 1);
    srv_assert_serves(&s, 20, "while the slot backs off");
    ck_assert_msg(log_count(&s, "accepts on its sockets") >= 1, "the slot's socket was not lent");

    /* Respawned at last, and its back-off timestamps hold. */
    int64_t deadline = now_ms() + 5000;
    while (worker_pids(s.pid, pids, 8) != 2 || !log_wait(&s, ") ready", kills + 2, 0)) {
        ck_assert_msg(now_ms() < deadline, "slot %d not back 5 s after the last kill", slot);
        sleep_ms(5);
    }
    int n = check_backoff_log(&s, slot, delays, 16);
    ck_assert_msg(n >= 3, "only %d back-off lines for %d quick deaths", n, kills);
    for (int i = 0; i < n && i < 16; i++)
        ck_assert_msg(delays[i] == 100L << i, "back-off %d is %ld ms, want %ld", i + 1, delays[i],
                      100L << i);
    srv_assert_serves(&s, 10, "after the crash loop");
    srv_stop(&s);
}
END_TEST

/* ---- crash log rate limit ---- */

/* Unexpected worker deaths are logged at most 10 times per 10 s; the others are counted, and
 * the count is logged in one line after the 10 s (the master writes it when it handles the
 * next death). 13 workers killed at once: 10 lines. After the window one more death: the line
 * with the 3 left out, and that death logged in full again. */
START_TEST(crash_log_rate_limited)
{
    enum { WORKERS = 14, KILLED = 13 };
    struct srv s;
    pid_t pids[WORKERS + 2], now[WORKERS + 2];
    char want[96];
    srv_start(&s, "workers = 14");
    ck_assert_int_eq(worker_pids(s.pid, pids, WORKERS + 2), WORKERS);

    int64_t t0 = now_ms();
    for (int i = 0; i < KILLED; i++)
        ck_assert_int_eq(kill(pids[i], SIGKILL), 0);
    /* Every death handled: each slot respawned (after 100 ms of back-off: they died young). */
    int64_t deadline = now_ms() + 5000;
    for (;;) {
        int n = worker_pids(s.pid, now, WORKERS + 2), old = 0;
        for (int i = 0; i < KILLED; i++)
            old += pids_contain(now, n < WORKERS + 2 ? n : WORKERS + 2, pids[i]);
        if (n == WORKERS && old == 0)
            break;
        ck_assert_msg(now_ms() < deadline, "5 s after %d kills: %d workers, %d killed ones listed",
                      KILLED, n, old);
        sleep_ms(5);
    }
    ck_assert_msg(log_count(&s, "killed by signal 9") == 10,
                  "%d workers killed within a second: %d crash lines, want 10", KILLED,
                  log_count(&s, "killed by signal 9"));
    ck_assert_msg(log_count(&s, "were not logged") == 0, "a summary line inside the window");

    /* The window runs 10 s from the first death the master handled, just after t0: its end
     * brings the summary by itself, with no further death to trigger it. */
    ck_assert_msg(log_wait(&s, "3 more worker exits in the last 10 s were not logged", 1, 15000),
                  "no summary line for the 3 deaths left out");
    int64_t took = now_ms() - t0;
    ck_assert_msg(took >= 9500, "summary after %lld ms, inside the 10 s window", (long long)took);
    pid_t last = pids[KILLED];
    ck_assert_int_eq(kill(last, SIGKILL), 0);
    snprintf(want, sizeof(want), "(pid %d, generation 1) killed by signal 9", (int)last);
    ck_assert_msg(log_wait(&s, want, 1, 5000), "the first death of a new window is not logged");
    ck_assert_int_eq(log_count(&s, "killed by signal 9"), 11);
    ck_assert_int_eq(log_count(&s, "were not logged"), 1);
    ck_assert_msg(worker_pids_wait(s.pid, WORKERS, now, WORKERS + 2, 5000),
                  "not back to %d workers", WORKERS);
    srv_assert_serves(&s, 10, "after the crashes");
    srv_stop(&s);
}
END_TEST

/* ---- graceful QUIT with a slow 20 MB download ---- */

START_TEST(quit_completes_slow_20mb_download)
{
    struct srv s;
    struct http_resp r;
    pid_t pids[8];
    srv_start(&s, "graceful_timeout = 20s");
    unsigned char *data = malloc(BIG_SIZE);
    ck_assert_ptr_nonnull(data);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < BIG_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    srv_write_file(&s, "big.bin", data, BIG_SIZE);
    int n = worker_pids(s.pid, pids, 8);

    int fd = conn_open_rcvbuf(s.port, 4096);
    conn_sendstr(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_msg(http_try_read_head(fd, &r) == 0, "%s", r.err);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(http_header(&r, "Content-Length"), "20971520");

    unsigned char *got = malloc(BIG_SIZE);
    ck_assert_ptr_nonnull(got);
    size_t have = 0;
    int64_t slow_until = now_ms() + 600;
    bool quit_sent = false;
    while (have < BIG_SIZE) {
        bool slow = now_ms() < slow_until;
        /* Slow phase: 2 KiB every 10 ms (pacing, not synchronisation). */
        ssize_t k = recv(fd, got + have, slow ? 2048 : BIG_SIZE - have, 0);
        ck_assert_msg(k > 0, "download cut at %zu of %d bytes (%s)", have, BIG_SIZE,
                      k == 0 ? "EOF" : strerror(errno));
        have += (size_t)k;
        if (!quit_sent) {
            ck_assert_int_eq(kill(s.pid, SIGQUIT), 0);
            quit_sent = true;
        }
        if (slow)
            sleep_ms(10);
    }
    ck_assert_msg(memcmp(got, data, BIG_SIZE) == 0, "the download differs from the file");
    ck_assert_msg(log_count(&s, "graceful stop") >= 1, "no graceful stop logged");
    ck_assert_msg(conn_wait_closed(fd, 5000), "connection kept open after the download");
    close(fd);
    free(got);
    free(data);

    int st = srv_wait_exit(&s, 10000);
    ck_assert_msg(st != -1, "master still running 10 s after the download");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "master after QUIT: status 0x%x", st);
    for (int i = 0; i < n; i++)
        ck_assert_msg(pid_wait_gone(pids[i], 5000), "worker %d outlived the master", (int)pids[i]);
    ck_assert_msg(log_count(&s, "still busy") == 0 && log_count(&s, "did not stop") == 0,
                  "workers were killed instead of finishing");
    srv_finish(&s);
}
END_TEST

Suite *
integ_supervise_suite(void)
{
    Suite *s = suite_create("integ_supervise");
    TCase *tc = tcase_create("reload");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reload_under_load_drops_nothing);
    tcase_add_test(tc, reload_with_bad_config_keeps_generation);
    tcase_add_test(tc, five_reloads_in_a_row);
    tcase_add_test(tc, reload_never_makes_a_third_generation);
    suite_add_tcase(s, tc);

    tc = tcase_create("crash");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, kill9_under_load_only_its_connections_fail);
    tcase_add_test(tc, crash_loop_backs_off);
    tcase_add_test(tc, crash_log_rate_limited);
    tcase_add_test(tc, quit_completes_slow_20mb_download);
    suite_add_tcase(s, tc);
    return s;
}
