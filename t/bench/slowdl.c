/* slowdl: many slow downloads at once, for t/bench/slow_downloads. Loopback only.
 *
 * Phases, each announced by a line on stdout (key=value words after the first):
 *   ramp   open -n connections (at most -w in the handshake at a time: TCP's, and TLS's with
 *          -e), each with SO_RCVBUF -b set before connect, and send one GET for -u on each:
 *              ramp connected=C failed=F ms=T
 *          With -e, the first TLS handshake to complete also prints
 *              tls version=V cipher=C group=G
 *   hold   for -H seconds, every -i ms read at most -r bytes from each connection (decrypted
 *          bytes with -e), so every transfer is in flight but slow. Once a second
 *              hold t=S headers=H inflight=I done=D failed=F bytes=B
 *          and at the end
 *              held inflight=I noheader=H done=D failed=F stalled=S max_gap_ms=G
 *                   max_ttfb_ms=T min_body=A max_body=B bytes=B client_rss_kib=K rounds=R
 *                   max_round_ms=M
 *          A transfer is stalled when it has not completed and no byte came for -S seconds
 *          (or its header never came). The slow reads go on until a stdin line (or EOF)
 *          arrives, so the caller can take its readings of the loaded server; EOF on stdin
 *          before the hold ends stops the client (exit 1).
 *   drain  read every transfer to its end at full speed (MSG_TRUNC: the kernel discards the
 *          bytes; the count is checked against Content-Length and -l), -D at a time (256)
 *          with SO_RCVBUF and TCP_WINDOW_CLAMP raised to -B (1 MiB), at most -T seconds:
 *              drain t=S done=D left=L            (every 5 s)
 *              drained ms=T complete=C short=S failed=F bytes=B
 *          With -e the bytes are decrypted into a buffer instead (SSL_read; no MSG_TRUNC).
 *          -x skips this phase: the connections are closed after the hold.
 * TLS (-e 1.3 or -e 1.2, OpenSSL): that version only, non-blocking handshakes in the same
 * epoll loop, no session resumption, no SNI, TCP_NODELAY, read-ahead (one read(2) per record,
 * not two), SSL_MODE_RELEASE_BUFFERS (a client holds a read buffer, 17 KB, only while it holds
 * unread bytes: 64 KB in the drain); the server's certificate is verified against -A CAFILE
 * when given, not at all otherwise.
 * Meanwhile a second thread fetches -s on a fresh connection every second (5 s limit each)
 * (over TLS with -e, handshake included) and at the end prints, per phase,
 *              probe phase=P n=N failed=F max_ms=M median_ms=M
 * and the client prints "failures REASON=COUNT ..." when any transfer failed, then "done" and
 * exits 0. The -t deadline or stdin closing early: exit 1. Usage errors: 2. */
#define _GNU_SOURCE
#include "common/clock.h"
#include "t/bench/slowdl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
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

#define HDR_MAX 1024 /* a response header must fit */
#define EVENTS 1024
#define DRAIN_READ (1 << 20)
#define DRAIN_TLS_BUF (64 << 10) /* OpenSSL's read buffer in the drain: four records a read */

enum dl_state { D_IDLE, D_CONNECTING, D_HANDSHAKE, D_HEADER, D_BODY, D_DONE, D_FAILED };
const char *const phase_names[NPHASES] = {"ramp", "hold", "drain", "end"};

/* Why a transfer failed; counted and printed at the end. */
enum why {
    W_CONNECT,
    W_SEND,
    W_RESET,
    W_EOF,
    W_STATUS,
    W_HEADER,
    W_LENGTH,
    W_EXTRA,
    W_TIMEOUT,
    W_TLS,
    NWHY
};
static const char *const why_names[NWHY] = {"connect",       "send",   "reset",  "eof",
                                            "status",        "header", "length", "extra_bytes",
                                            "drain_timeout", "tls"};

struct dl {
    int fd;
    enum dl_state state;
    uint16_t hlen;    /* header bytes held in hdr[] while state is D_HEADER */
    long long got;    /* body bytes */
    long long len;    /* Content-Length */
    int64_t start_ms; /* connect started */
    int64_t last_ms;  /* last time bytes arrived (or the request went out) */
    bool draining;    /* one of the drain_active transfers being read at full speed */
    SSL *ssl;         /* with -e, from the TCP connect on; NULL otherwise */
};

static struct dl *dls;
static char (*hdrs)[HDR_MAX];
static int n_dl;
static int epfd;
static struct sockaddr_in addr;
static char request[512];
static size_t request_len;
static long long want_len = -1; /* -l: expected body length */
static int rcvbuf = 4096;
static int drain_rcvbuf = 1 << 20; /* -B: SO_RCVBUF and window clamp in the drain; 0: as is */
static int drain_max = 256;        /* -D: transfers drained at once */
static long long why_count[NWHY];
static int n_failed, n_done;
static int drain_active; /* transfers being drained now, at most drain_max */
static int64_t max_gap_ms, max_ttfb_ms;
static int64_t deadline_ms;
static SSL_CTX *tls_ctx;              /* -e: the client context; NULL for plain TCP */

static bool stdin_eof;
static atomic_int phase = P_RAMP;

static void
check_deadline(void)
{
    if (clock_mono_ms() > deadline_ms) {
        fprintf(stderr, "slowdl: deadline passed in phase %s\n", phase_names[phase]);
        exit(1);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* transfers */

static void
dl_close(struct dl *d)
{
    SSL_free(d->ssl); /* NULL is fine; the socket is ours to close (SSL_set_fd: BIO_NOCLOSE) */
    d->ssl = NULL;
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
}

/* Mark a transfer failed; the first few say why on stderr (OpenSSL's reason for EPROTO). */
static void
fail(struct dl *d, enum why why, int err)
{
    static int shown;
    const char *what = err == EPROTO && tls_ctx ? tls_reason : err ? strerror(err) : "";
    if (shown++ < 10)
        fprintf(stderr, "slowdl: transfer %ld failed (%s) after %lld body bytes%s%s\n",
                (long)(d - dls), why_names[why], d->got, err ? ": " : "", what);
    why_count[why]++;
    n_failed++;
    if (d->draining)
        drain_active--;
    d->draining = false;
    dl_close(d);
    d->state = D_FAILED;
}

static void
finish(struct dl *d)
{
    dl_close(d);
    d->state = D_DONE;
    n_done++;
    if (d->draining)
        drain_active--;
    d->draining = false;
}

/* Start connection i. */
static void
dl_connect(int i)
{
    struct dl *d = &dls[i];
    d->start_ms = clock_mono_ms();
    d->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->fd < 0) {
        fail(d, W_CONNECT, errno);
        return;
    }
    /* before connect, so the window advertised in the handshake is already small */
    if (rcvbuf > 0)
        setsockopt(d->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    /* TLS writes its Finished and then the request: Nagle would hold the second write for
     * the server's delayed ACK (40 ms). Browsers set this too. */
    if (tls_ctx)
        setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    d->state = D_CONNECTING;
    if (connect(d->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS) {
        fail(d, W_CONNECT, errno);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, d->fd, &ev) < 0) {
        perror("slowdl: epoll_ctl");
        exit(1);
    }
}

/* The request goes out, all of it in one write on the fresh connection (over TLS too: one
 * small record; a write that would block is counted as a failed send). No events are wanted
 * until the drain (errors and hangups still arrive and are handled by a read). */
static void
dl_send_request(struct dl *d)
{
    ssize_t n = io_send(d->fd, d->ssl, request, request_len);
    if (n != (ssize_t)request_len) {
        fail(d, n < 0 && errno == EPROTO ? W_TLS : W_SEND, n < 0 ? errno : 0);
        return;
    }
    struct epoll_event ev = {.events = 0, .data.u32 = (uint32_t)(d - dls)};
    epoll_ctl(epfd, EPOLL_CTL_MOD, d->fd, &ev);
    d->state = D_HEADER;
    d->last_ms = clock_mono_ms();
}

/* One step of the TLS handshake; waits for the direction OpenSSL asks for, then sends the
 * request once the handshake is done. */
static void
dl_handshake(struct dl *d)
{
    static bool shown;
    errno = 0;
    int r = SSL_do_handshake(d->ssl);
    if (r != 1) {
        int err = tls_errno(d->ssl, r);
        if (err != EAGAIN) {
            fail(d, err == 0 ? W_EOF : err == EPROTO ? W_TLS : W_RESET, err);
            return;
        }
        uint32_t want = SSL_want_write(d->ssl) ? EPOLLOUT : EPOLLIN;
        struct epoll_event ev = {.events = want, .data.u32 = (uint32_t)(d - dls)};
        epoll_ctl(epfd, EPOLL_CTL_MOD, d->fd, &ev);
        return;
    }
    if (!shown) {
        shown = true;
        int group = SSL_get_negotiated_group(d->ssl);
        printf("tls version=%s cipher=%s group=%s\n", SSL_get_version(d->ssl),
               SSL_get_cipher_name(d->ssl), group > 0 ? OBJ_nid2sn(group) : "none");
    }
    dl_send_request(d);
}

/* The TCP connection is up: start the TLS handshake, or send the request. */
static void
dl_connected(struct dl *d)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        fail(d, W_CONNECT, err);
        return;
    }
    if (tls_ctx == NULL) {
        dl_send_request(d);
        return;
    }
    d->ssl = SSL_new(tls_ctx);
    if (d->ssl == NULL || SSL_set_fd(d->ssl, d->fd) != 1) {
        ERR_error_string_n(ERR_peek_last_error(), tls_reason, sizeof(tls_reason));
        ERR_clear_error();
        fail(d, W_TLS, EPROTO);
        return;
    }
    SSL_set_connect_state(d->ssl);
    d->state = D_HANDSHAKE;
    dl_handshake(d);
}

/* The header is complete in hdr[0..end): check it. Returns false when the transfer failed. */
static bool
parse_header(struct dl *d, const char *hdr, size_t end)
{
    int status = 0;
    if (end < 12 || strncmp(hdr, "HTTP/1.", 7) != 0 || sscanf(hdr + 9, "%3d", &status) != 1 ||
        status != 200) {
        fail(d, W_STATUS, 0);
        return false;
    }
    d->len = -1;
    for (const char *p = hdr; p && p < hdr + end; p = memchr(p, '\n', (size_t)(hdr + end - p))) {
        if (*p == '\n')
            p++;
        if (strncasecmp(p, "content-length:", 15) == 0)
            d->len = atoll(p + 15);
    }
    if (d->len < 0 || (want_len >= 0 && d->len != want_len)) {
        fail(d, W_LENGTH, 0);
        return false;
    }
    return true;
}

/* Account n bytes just read (buf holds them, or NULL when they were discarded: body only). */
static void
dl_feed(struct dl *d, const char *buf, size_t n, int64_t now)
{
    if (d->state == D_HEADER) {
        char *hdr = hdrs[d - dls];
        size_t room = HDR_MAX - 1 - d->hlen;
        size_t take = n < room ? n : room;
        memcpy(hdr + d->hlen, buf, take);
        size_t old = d->hlen;
        d->hlen += (uint16_t)take;
        hdr[d->hlen] = '\0';
        char *end = strstr(hdr, "\r\n\r\n");
        if (end == NULL) {
            if (d->hlen == HDR_MAX - 1)
                fail(d, W_HEADER, 0);
            return;
        }
        size_t hend = (size_t)(end - hdr) + 4;
        if (!parse_header(d, hdr, hend))
            return;
        int64_t ttfb = now - d->start_ms;
        if (ttfb > max_ttfb_ms)
            max_ttfb_ms = ttfb;
        d->state = D_BODY;
        d->got = (long long)(old + n - hend); /* what followed the header in this read */
    } else {
        d->got += (long long)n;
    }
    if (phase == P_HOLD && now - d->last_ms > max_gap_ms)
        max_gap_ms = now - d->last_ms;
    d->last_ms = now;
    if (d->got > d->len)
        fail(d, W_EXTRA, 0);
    else if (d->got == d->len)
        finish(d);
}

/* One read of at most `max` bytes. Returns the bytes read while the transfer goes on, 0 when
 * nothing more is to be had now (nothing arrived, or the transfer ended). */
static size_t
dl_read(struct dl *d, size_t max, char *scratch)
{
    ssize_t n;
    int flags = MSG_DONTWAIT;
    if (d->state == D_BODY && phase == P_DRAIN) {
        long long left = d->len - d->got;
        if ((long long)max > left)
            max = (size_t)left;
        /* TCP discards instead of copying; the count is still returned. TLS must decrypt. */
        flags |= MSG_TRUNC;
    }
    n = io_recv(d->fd, d->ssl, scratch, max, flags);
    if (n > 0) {
        dl_feed(d, scratch, (size_t)n, clock_mono_ms());
        return d->state == D_HEADER || d->state == D_BODY ? (size_t)n : 0;
    }
    if (n == 0)
        fail(d, W_EOF, 0);
    else if (errno != EAGAIN && errno != EINTR)
        fail(d, errno == EPROTO ? W_TLS : W_RESET, errno);
    return 0;
}

/* One slow round: at most `budget` bytes. TCP gives what is there in one read; a TLS read
 * stops at the end of a record, so the next waiting record is read too until the budget is
 * spent. */
static void
dl_read_round(struct dl *d, size_t budget, char *scratch)
{
    while (budget > 0 && (d->state == D_HEADER || d->state == D_BODY)) {
        size_t n = dl_read(d, budget, scratch);
        if (n == 0 || d->ssl == NULL)
            return;
        budget -= n;
    }
}

static int
count_state(enum dl_state s)
{
    int k = 0;
    for (int i = 0; i < n_dl; i++)
        k += dls[i].state == s;
    return k;
}

static long long
total_bytes(void)
{
    long long b = 0;
    for (int i = 0; i < n_dl; i++)
        b += dls[i].got;
    return b;
}

/* ------------------------------------------------------------------------------------------ */

static void
usage(void)
{
    fprintf(stderr, "usage: slowdl -p PORT -n N -u PATH -l LEN -s SMALL_PATH [-H hold_s] "
                    "[-r bytes] [-i ms] [-b rcvbuf] [-B drain_rcvbuf] [-D draining] "
                    "[-w connecting] [-S stall_s] "
                    "[-T drain_s] [-x] [-t deadline_s] [-e 1.3|1.2 [-A cafile]]\n");
    exit(2);
}

/* This process's resident memory, KiB (statm's second field). */
static long
self_rss_kib(void)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%*d %ld", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Handle epoll events while connecting or draining; returns false on stdin activity. */
static bool
handle_events(int timeout_ms, int *connecting, char *scratch, bool *stdin_line)
{
    struct epoll_event evs[EVENTS];
    int k = epoll_wait(epfd, evs, EVENTS, timeout_ms);
    for (int e = 0; e < k; e++) {
        if (evs[e].data.u32 == UINT32_MAX) { /* stdin */
            char line[256];
            ssize_t n = read(0, line, sizeof(line));
            if (n <= 0) { /* the caller is gone, or has nothing more to say: see the loops */
                epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
                stdin_eof = true;
            }
            *stdin_line = true;
            continue;
        }
        struct dl *d = &dls[evs[e].data.u32];
        if (d->fd < 0)
            continue;
        if (d->state == D_CONNECTING || d->state == D_HANDSHAKE) {
            if (d->state == D_CONNECTING)
                dl_connected(d);
            else
                dl_handshake(d);
            if (d->state != D_CONNECTING && d->state != D_HANDSHAKE)
                (*connecting)--; /* the request went out, or the transfer failed */
        } else if (phase == P_DRAIN) {
            /* level-triggered: read until the socket is empty, and with TLS no decrypted
             * byte is left in OpenSSL's buffer either */
            while (dl_read(d, DRAIN_READ, scratch) > 0)
                ;
        } else {
            /* an error or hangup before the drain: let a read say what it is */
            dl_read(d, 1024, scratch);
            if (d->fd >= 0 && (evs[e].events & (EPOLLERR | EPOLLHUP)))
                fail(d, W_RESET, 0);
        }
    }
    return true;
}

int
main(int argc, char **argv)
{
    int port = 0, hold_s = 30, per_round = 1024, interval_ms = 100, max_connecting = 256;
    int stall_s = 5, drain_s = 300, deadline_s = 900;
    bool drain = true;
    const char *path = NULL, *small = NULL, *tls_version = NULL, *cafile = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "p:n:u:l:s:H:r:i:b:B:D:w:S:T:xt:e:A:")) != -1) {
        switch (opt) {
        case 'e':
            tls_version = optarg;
            break;
        case 'A':
            cafile = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'n':
            n_dl = atoi(optarg);
            break;
        case 'u':
            path = optarg;
            break;
        case 'l':
            want_len = atoll(optarg);
            break;
        case 's':
            small = optarg;
            break;
        case 'H':
            hold_s = atoi(optarg);
            break;
        case 'r':
            per_round = atoi(optarg);
            break;
        case 'i':
            interval_ms = atoi(optarg);
            break;
        case 'b':
            rcvbuf = atoi(optarg);
            break;
        case 'B':
            drain_rcvbuf = atoi(optarg);
            break;
        case 'D':
            drain_max = atoi(optarg);
            break;
        case 'w':
            max_connecting = atoi(optarg);
            break;
        case 'S':
            stall_s = atoi(optarg);
            break;
        case 'T':
            drain_s = atoi(optarg);
            break;
        case 'x':
            drain = false;
            break;
        case 't':
            deadline_s = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (port <= 0 || port > 65535 || n_dl <= 0 || !path || !small || hold_s < 0 || per_round <= 0 ||
        per_round > 65536 || interval_ms <= 0 || max_connecting <= 0 || stall_s <= 0 ||
        drain_max <= 0 || drain_rcvbuf < 0 || drain_s <= 0 || deadline_s <= 0 ||
        strlen(path) > 256 || strlen(small) > 256 || (cafile && !tls_version))
        usage();
    if (tls_version && (tls_ctx = tls_setup(tls_version, cafile)) == NULL)
        usage();
    deadline_ms = clock_mono_ms() + (int64_t)deadline_s * 1000;

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)n_dl + 32 > rl.rlim_cur) {
        fprintf(stderr, "slowdl: RLIMIT_NOFILE %llu is too small for %d connections\n",
                (unsigned long long)rl.rlim_cur, n_dl);
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    request_len =
        (size_t)snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path);
    char probe_request[512];
    snprintf(probe_request, sizeof(probe_request),
             "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", small);

    dls = calloc((size_t)n_dl, sizeof(*dls));
    hdrs = malloc((size_t)n_dl * HDR_MAX);
    char *scratch = malloc(DRAIN_READ);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!dls || !hdrs || !scratch || epfd < 0) {
        perror("slowdl: setup");
        return 1;
    }
    for (int i = 0; i < n_dl; i++)
        dls[i].fd = -1;
    struct epoll_event sev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (probe_start(&addr, probe_request, tls_ctx, &phase) < 0) {
        fprintf(stderr, "slowdl: pthread_create failed\n");
        return 1;
    }

    /* ramp: connections start while fewer than max_connecting are in the handshake; the
     * slow reads already run, so early transfers are not left unread while later ones start */
    int64_t t0 = clock_mono_ms(), next_round = t0;
    int started = 0, connecting = 0;
    bool line = false;
    while (started < n_dl || connecting > 0) {
        check_deadline();
        while (started < n_dl && connecting < max_connecting) {
            dl_connect(started++);
            if (dls[started - 1].state == D_CONNECTING)
                connecting++;
        }
        handle_events(10, &connecting, scratch, &line);
        int64_t now = clock_mono_ms();
        if (now >= next_round) {
            next_round += interval_ms;
            if (next_round < now) /* behind: no back-to-back rounds that starve the handshakes */
                next_round = now + interval_ms;
            for (int i = 0; i < started; i++)
                if (dls[i].state == D_HEADER || dls[i].state == D_BODY)
                    dl_read_round(&dls[i], (size_t)per_round, scratch);
        }
    }
    printf("ramp connected=%d failed=%d ms=%lld\n", n_dl - n_failed, n_failed,
           (long long)(clock_mono_ms() - t0));

    /* hold */
    phase = P_HOLD;
    int64_t hold_start = clock_mono_ms(), hold_end = hold_start + (int64_t)hold_s * 1000;
    int64_t next_report = hold_start + 1000;
    bool reported = false;
    int rounds = 0;           /* rounds in the hold, against hold_s * 1000 / interval_ms */
    int64_t max_round_ms = 0; /* the slowest: a client that cannot keep up shows here */
    line = false;
    next_round = hold_start;
    while (!line) {
        check_deadline();
        int64_t now = clock_mono_ms();
        if (now >= next_round) {
            next_round += interval_ms;
            if (next_round < now) /* the client itself fell behind: do not try to catch up */
                next_round = now + interval_ms;
            for (int i = 0; i < n_dl; i++)
                if (dls[i].state == D_HEADER || dls[i].state == D_BODY)
                    dl_read_round(&dls[i], (size_t)per_round, scratch);
            if (now < hold_end) {
                rounds++;
                if (clock_mono_ms() - now > max_round_ms)
                    max_round_ms = clock_mono_ms() - now;
            }
        }
        now = clock_mono_ms();
        if (!reported && now >= next_report && now < hold_end) {
            next_report += 1000;
            printf("hold t=%lld headers=%d inflight=%d done=%d failed=%d bytes=%lld\n",
                   (long long)((now - hold_start) / 1000), count_state(D_BODY) + n_done,
                   count_state(D_BODY), n_done, n_failed, total_bytes());
        }
        if (!reported && now >= hold_end) {
            int stalled = 0, noheader = 0;
            long long min_body = -1, max_body = 0;
            for (int i = 0; i < n_dl; i++) {
                struct dl *d = &dls[i];
                if (d->state == D_HEADER) {
                    noheader++;
                    stalled++;
                } else if (d->state == D_BODY && now - d->last_ms > (int64_t)stall_s * 1000) {
                    stalled++;
                }
                if (d->state == D_BODY) {
                    if (min_body < 0 || d->got < min_body)
                        min_body = d->got;
                    if (d->got > max_body)
                        max_body = d->got;
                }
            }
            printf("held inflight=%d noheader=%d done=%d failed=%d stalled=%d max_gap_ms=%lld "
                   "max_ttfb_ms=%lld min_body=%lld max_body=%lld bytes=%lld client_rss_kib=%ld "
                   "rounds=%d max_round_ms=%lld\n",
                   count_state(D_BODY), noheader, n_done, n_failed, stalled, (long long)max_gap_ms,
                   (long long)max_ttfb_ms, min_body < 0 ? 0 : min_body, max_body, total_bytes(),
                   self_rss_kib(), rounds, (long long)max_round_ms);
            reported = true;
        }
        int wait = (int)(next_round - clock_mono_ms());
        handle_events(wait < 0 ? 0 : wait, &connecting, scratch, &line);
        if (stdin_eof && !reported) {
            fprintf(stderr, "slowdl: stdin closed before the hold ended\n");
            return 1;
        }
        if (line && !reported)
            line = false; /* a line before the hold ended: too early, ignore */
    }

    /* drain */
    phase = P_DRAIN;
    int64_t drain_start = clock_mono_ms(), drain_end = drain_start + (int64_t)drain_s * 1000;
    if (drain) {
        /* At most drain_max transfers at full speed at a time, each with a receive buffer
         * of drain_rcvbuf; the others wait, unread, like clients that paused. All at once
         * with big windows would let every send queue of the server grow at the same time. */
        int next_drain = 0;
        next_report = drain_start + 5000;
        while (n_done + n_failed < n_dl && clock_mono_ms() < drain_end) {
            check_deadline();
            for (; next_drain < n_dl && drain_active < drain_max; next_drain++) {
                struct dl *d = &dls[next_drain];
                if (d->state != D_HEADER && d->state != D_BODY)
                    continue;
                if (drain_rcvbuf > 0) {
                    setsockopt(d->fd, SOL_SOCKET, SO_RCVBUF, &drain_rcvbuf, sizeof(drain_rcvbuf));
                    setsockopt(d->fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, &drain_rcvbuf,
                               sizeof(drain_rcvbuf));
                }
                /* the next read buffer OpenSSL allocates (the current one is released once
                 * empty) takes four records at a time */
                if (d->ssl)
                    SSL_set_default_read_buffer_len(d->ssl, DRAIN_TLS_BUF);
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)next_drain};
                epoll_ctl(epfd, EPOLL_CTL_MOD, d->fd, &ev);
                d->draining = true;
                drain_active++;
                /* TLS: OpenSSL may hold the rest of a record already; no event would say so */
                while (dl_read(d, DRAIN_READ, scratch) > 0)
                    ;
            }
            handle_events(100, &connecting, scratch, &line);
            if (clock_mono_ms() >= next_report) {
                next_report += 5000;
                printf("drain t=%lld done=%d left=%d\n",
                       (long long)((clock_mono_ms() - drain_start) / 1000), n_done,
                       n_dl - n_done - n_failed);
            }
        }
        int shortn = 0;
        for (int i = 0; i < n_dl; i++)
            if (dls[i].state == D_HEADER || dls[i].state == D_BODY) {
                shortn++;
                fail(&dls[i], W_TIMEOUT, 0);
                n_failed--; /* counted as short, not failed */
            }
        printf("drained ms=%lld complete=%d short=%d failed=%d bytes=%lld\n",
               (long long)(clock_mono_ms() - drain_start), n_done, shortn, n_failed, total_bytes());
    } else {
        for (int i = 0; i < n_dl; i++)
            dl_close(&dls[i]);
        printf("drained skipped\n");
    }
    phase = P_END;
    probe_finish();
    bool any = false;
    for (int w = 0; w < NWHY; w++)
        if (why_count[w]) {
            printf("%s%s=%lld", any ? " " : "failures ", why_names[w], why_count[w]);
            any = true;
        }
    if (any)
        printf("\n");
    printf("done\n");
    return 0;
}
