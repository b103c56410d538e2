/* kaload: keep-alive load client for t/bench/mem_idle. One epoll loop, one GET in flight per
 * connection (no pipelining), loopback only. The driving script talks to it over stdin/stdout:
 *
 *   idle mode: open -n connections (at most -w still connecting/awaiting their answer at a time),
 *              send one GET on each and read the response; then print
 *                  idle OPEN FAILED
 *              and keep the connections open, watching for the server closing them. Each
 *              stdin line "check" prints "open OPEN closed_by_server N"; stdin EOF or "quit"
 *              closes everything and exits 0.
 *   load mode: keep -n connections busy until -r requests have been answered. At each
 *              checkpoint (-k, comma-separated counts) it stops issuing, lets the answers in
 *              flight arrive, prints
 *                  at DONE ELAPSED_MS RECONNECTS
 *              and waits for a stdin line before going on (so the caller samples a quiet
 *              server). ELAPSED_MS leaves out those pauses. After the last request it prints
 *                  done DONE ELAPSED_MS RECONNECTS ERRORS
 *              then waits for stdin EOF or a line, closes everything and exits 0.
 *
 * A connection the server closes (Connection: close, max_keepalive_requests, EOF) is
 * reopened in load mode and counted. Anything but a 200 counts as an error; more than
 * MAX_ERRORS errors, or the -t deadline, stop the run with exit status 1. Usage errors: 2. */
#define _GNU_SOURCE
#include "common/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 4096       /* response header must fit; the body is counted, not kept */
#define MAX_ERRORS 1000 /* beyond this the run is not measuring what it should */
#define MAX_CHECKPOINTS 16
#define EVENTS 512

enum state { S_FREE, S_CONNECTING, S_SENDING, S_READING, S_IDLE };

struct client {
    int fd;
    enum state state;
    size_t sent;      /* bytes of the request sent */
    size_t got;       /* bytes of the response header in buf */
    long long body;   /* body bytes still to read, -1 while the header is incomplete */
    uint32_t gen;     /* bumped per socket, so a stale event for a closed one is ignored */
    int status;       /* of the response being read */
    bool close_after; /* the response said Connection: close */
    char buf[RBUF];
};

static struct client *clients;
static int nclients;
static int epfd;
static struct sockaddr_in addr;
static char request[512];
static size_t request_len;
static bool load_mode;

static long long issued, answered, errors, reconnects, closed_by_server;
static long long limit_issue; /* load mode: stop issuing at this count (next checkpoint) */
static int open_conns, busy;  /* busy: connecting or awaiting an answer */
static int64_t paused_ms;     /* spent waiting for the caller, left out of ELAPSED_MS */

static void
die(const char *what)
{
    fprintf(stderr, "kaload: %s: %s\n", what, strerror(errno));
    exit(1);
}

#define STDIN_TAG UINT32_MAX

/* Count a failed request or connection; the first few say why on stderr. */
static void
error_seen(const char *why, int err)
{
    if (++errors <= 5)
        fprintf(stderr, "kaload: %s%s%s\n", why, err ? ": " : "", err ? strerror(err) : "");
}

static void
watch(struct client *c, int op, uint32_t events)
{
    struct epoll_event ev = {.events = events,
                             .data.u64 = (uint64_t)c->gen << 32 | (uint32_t)(c - clients)};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0)
        die("epoll_ctl");
}

static void
drop(struct client *c)
{
    if (c->state == S_FREE)
        return;
    if (c->state != S_IDLE)
        busy--;
    close(c->fd); /* also leaves epoll */
    c->fd = -1;
    c->state = S_FREE;
    open_conns--;
}

/* Start a connection and queue its first request. Returns false when connect failed at once. */
static bool
open_one(struct client *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS) {
        error_seen("connect", errno);
        close(fd);
        return false;
    }
    c->fd = fd;
    c->gen++;
    c->state = S_CONNECTING;
    c->sent = c->got = 0;
    c->body = -1;
    c->close_after = false;
    open_conns++;
    busy++;
    issued++;
    watch(c, EPOLL_CTL_ADD, EPOLLOUT);
    return true;
}

/* Issue the next request on an idle keep-alive connection. */
static void
reissue(struct client *c)
{
    c->state = S_SENDING;
    c->sent = c->got = 0;
    c->body = -1;
    c->close_after = false;
    busy++;
    issued++;
    watch(c, EPOLL_CTL_MOD, EPOLLOUT);
}

/* Parse a complete response header in c->buf[0..hlen). Returns the status code, 0 if garbled. */
static int
parse_header(struct client *c, size_t hlen)
{
    int status = 0;
    if (hlen < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0)
        return 0;
    status = atoi(c->buf + 9);
    long long length = 0;
    for (char *p = memchr(c->buf, '\n', hlen); p && p < c->buf + hlen;
         p = memchr(p, '\n', (size_t)(c->buf + hlen - p))) {
        p++;
        if (strncasecmp(p, "content-length:", 15) == 0)
            length = atoll(p + 15);
        else if (strncasecmp(p, "connection:", 11) == 0) {
            const char *v = p + 11;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0)
                c->close_after = true;
        }
    }
    c->body = length;
    return status;
}

/* The answer is in: count it and decide what the connection does next. */
static void
answered_one(struct client *c, int status)
{
    busy--;
    if (status == 200)
        answered++;
    else {
        char why[32];
        snprintf(why, sizeof(why), "got status %d", status);
        error_seen(why, 0);
        issued--; /* re-issued later so the total stays R */
    }
    c->state = S_IDLE;
    if (c->close_after) {
        drop(c);
        reconnects++;
        if (load_mode && issued < limit_issue)
            open_one(c);
        return;
    }
    if (load_mode && issued < limit_issue)
        reissue(c);
    else
        watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLRDHUP); /* to notice the server closing it */
}

static void
on_read(struct client *c)
{
    char sink[RBUF];
    for (;;) {
        char *dst = c->body < 0 ? c->buf + c->got : sink;
        size_t room = c->body < 0 ? RBUF - 1 - c->got : sizeof(sink);
        ssize_t n = recv(c->fd, dst, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            /* Closed before the answer was complete: an error unless nothing was in flight. */
            if (c->state == S_IDLE)
                closed_by_server++;
            else {
                error_seen(n == 0 ? "closed before the whole response" : "recv", n ? errno : 0);
                issued--;
            }
            drop(c);
            if (load_mode && issued < limit_issue) {
                reconnects++;
                open_one(c);
            }
            return;
        }
        if (c->state == S_IDLE) {
            error_seen("bytes on an idle connection", 0);
            drop(c);
            return;
        }
        if (c->body < 0) {
            c->got += (size_t)n;
            c->buf[c->got] = '\0';
            char *end = strstr(c->buf, "\r\n\r\n");
            if (end == NULL) {
                if (c->got == RBUF - 1) {
                    fprintf(stderr, "kaload: response header over %d bytes\n", RBUF);
                    exit(1);
                }
                continue;
            }
            size_t hlen = (size_t)(end + 4 - c->buf);
            int status = parse_header(c, hlen);
            c->body -= (long long)(c->got - hlen);
            if (c->body <= 0) {
                answered_one(c, status);
                return;
            }
            c->status = status;
            continue;
        }
        c->body -= n;
        if (c->body <= 0) {
            answered_one(c, c->status);
            return;
        }
    }
}

static void
on_event(struct client *c, uint32_t events)
{
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            error_seen("connect", err);
            issued--;
            drop(c);
            return;
        }
        c->state = S_SENDING;
    }
    if (c->state == S_SENDING) {
        while (c->sent < request_len) {
            ssize_t n = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EAGAIN)
                return;
            if (n < 0) {
                error_seen("send", errno);
                issued--;
                drop(c);
                if (load_mode) {
                    reconnects++;
                    open_one(c);
                }
                return;
            }
            c->sent += (size_t)n;
        }
        c->state = S_READING;
        watch(c, EPOLL_CTL_MOD, EPOLLIN);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_read(c);
}

static void
dispatch(const struct epoll_event *e)
{
    if (e->data.u64 == STDIN_TAG)
        return;
    struct client *c = &clients[(uint32_t)e->data.u64];
    if (c->state != S_FREE && c->gen == (uint32_t)(e->data.u64 >> 32))
        on_event(c, e->events);
}

/* Run the loop until `done()` holds; exits 1 at the deadline or on too many errors. */
static void
run_until(bool (*done)(void), int64_t deadline, int window, int target_open)
{
    struct epoll_event ev[EVENTS];
    int next = 0;
    while (!done()) {
        /* idle mode: top up new connections, a window at a time */
        while (!load_mode && busy < window && next < target_open) {
            open_one(&clients[next]);
            next++;
        }
        /* load mode: reopen connections that failed, until the errors give up */
        for (int i = 0; load_mode && open_conns < nclients && i < nclients && issued < limit_issue;
             i++)
            if (clients[i].state == S_FREE)
                open_one(&clients[i]);
        if (errors > MAX_ERRORS) {
            fprintf(stderr, "kaload: more than %d errors, giving up\n", MAX_ERRORS);
            exit(1);
        }
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            fprintf(stderr, "kaload: deadline reached (%lld answered, %d open)\n", answered,
                    open_conns);
            exit(1);
        }
        int n = epoll_wait(epfd, ev, EVENTS, left > 1000 ? 1000 : (int)left);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++)
            dispatch(&ev[i]);
        if (!load_mode && next >= target_open && busy == 0)
            break; /* all tried; failures were counted */
    }
}

static bool
idle_done(void)
{
    return false; /* run_until stops once every connection was tried and answered */
}

static bool
checkpoint_done(void)
{
    return busy == 0 && answered >= limit_issue;
}

/* Wait for a line on stdin while watching the connections; returns false on EOF. */
static bool
wait_stdin_(char *line, size_t len, int64_t deadline)
{
    /* stdin is watched only here, so the request loop never sees it */
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e) < 0) {
        if (errno != EPERM)
            die("epoll_ctl(stdin)");
        /* a regular file such as /dev/null: it never blocks, so just read it */
        ssize_t r = read(0, line, len - 1);
        if (r <= 0)
            return false;
        line[r] = '\0';
        return true;
    }
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            fprintf(stderr, "kaload: deadline reached while waiting for the caller\n");
            exit(1);
        }
        struct epoll_event ev[EVENTS];
        int n = epoll_wait(epfd, ev, EVENTS, left > 1000 ? 1000 : (int)left);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u64 != STDIN_TAG) {
                dispatch(&ev[i]);
                continue;
            }
            ssize_t r = read(0, line, len - 1);
            epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
            if (r <= 0)
                return false;
            line[r] = '\0';
            return true;
        }
    }
}

static bool
wait_stdin(char *line, size_t len, int64_t deadline)
{
    int64_t start = clock_mono_ms();
    bool got = wait_stdin_(line, len, deadline);
    paused_ms += clock_mono_ms() - start;
    return got;
}

static void
usage(void)
{
    fprintf(stderr, "usage: kaload -p PORT -m idle|load -n CONNS [-r REQUESTS] [-k N,N,...] "
                    "[-w WINDOW] [-u PATH] [-t SECONDS]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    int port = 0, conns = 0, window = 256, timeout_s = 600;
    long long requests = 0, checkpoints[MAX_CHECKPOINTS];
    int ncheck = 0;
    const char *path = "/small.txt", *mode = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "p:m:n:r:k:w:u:t:")) != -1) {
        switch (opt) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'm':
            mode = optarg;
            break;
        case 'n':
            conns = atoi(optarg);
            break;
        case 'r':
            requests = atoll(optarg);
            break;
        case 'w':
            window = atoi(optarg);
            break;
        case 'u':
            path = optarg;
            break;
        case 't':
            timeout_s = atoi(optarg);
            break;
        case 'k':
            for (char *s = strtok(optarg, ","); s && ncheck < MAX_CHECKPOINTS;
                 s = strtok(NULL, ","))
                checkpoints[ncheck++] = atoll(s);
            break;
        default:
            usage();
        }
    }
    if (port <= 0 || port > 65535 || conns <= 0 || mode == NULL || window <= 0)
        usage();
    load_mode = strcmp(mode, "load") == 0;
    if (!load_mode && strcmp(mode, "idle") != 0)
        usage();
    if (load_mode && requests <= 0)
        usage();
    if (load_mode && (ncheck == 0 || checkpoints[ncheck - 1] != requests)) {
        if (ncheck == MAX_CHECKPOINTS)
            usage();
        checkpoints[ncheck++] = requests;
    }

    /* One descriptor per connection, plus stdio and epoll. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)conns + 16 > rl.rlim_cur) {
        fprintf(stderr, "kaload: %d connections need more descriptors than RLIMIT_NOFILE %llu\n",
                conns, (unsigned long long)rl.rlim_cur);
        return 2;
    }

    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    request_len = (size_t)snprintf(request, sizeof(request),
                                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                   "User-Agent: kaload\r\nAccept: */*\r\n\r\n",
                                   path, port);
    nclients = conns;
    clients = calloc((size_t)conns, sizeof(*clients));
    if (clients == NULL)
        die("calloc");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");

    int64_t start = clock_mono_ms(), deadline = start + (int64_t)timeout_s * 1000;
    char line[256];
    if (!load_mode) {
        run_until(idle_done, deadline, window, conns);
        printf("idle %d %lld\n", open_conns, errors);
        fflush(stdout);
        while (wait_stdin(line, sizeof(line), deadline) && strncmp(line, "quit", 4) != 0) {
            printf("open %d closed_by_server %lld\n", open_conns, closed_by_server);
            fflush(stdout);
        }
        return 0;
    }

    for (int k = 0; k < ncheck; k++) {
        limit_issue = checkpoints[k];
        /* Wake every connection that is not busy: idle ones get a request, free ones open. */
        for (int i = 0; i < nclients && issued < limit_issue; i++) {
            struct client *c = &clients[i];
            if (c->state == S_FREE)
                open_one(c);
            else if (c->state == S_IDLE)
                reissue(c);
        }
        run_until(checkpoint_done, deadline, window, 0);
        int64_t elapsed = clock_mono_ms() - start - paused_ms;
        if (k == ncheck - 1) {
            printf("done %lld %lld %lld %lld\n", answered, (long long)elapsed, reconnects, errors);
            fflush(stdout);
            wait_stdin(line, sizeof(line), deadline);
            break;
        }
        printf("at %lld %lld %lld\n", answered, (long long)elapsed, reconnects);
        fflush(stdout);
        if (!wait_stdin(line, sizeof(line), deadline))
            return 0;
    }
    return 0;
}
