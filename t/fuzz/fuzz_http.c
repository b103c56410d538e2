/* libFuzzer target over the request path: bytes in, responses out, no sockets. Up to four client
 * connections run through worker/conn.c over a memory transport (client.c) that hands each one
 * its share of the input in fuzzed pieces and collects what it sends. The driver plays the event
 * loop: it delivers level-triggered readiness to one connection at a time, lets connections
 * arrive while others are busy, and moves the clock. Afterwards each client's output must be a
 * well-framed sequence of HTTP/1.1 responses (check.c), nothing from outside the document root
 * may appear in it, and every connection, buffer, timer, file descriptor and spilled request body
 * must be given back.
 * During the run no connection may be woken STALLS_MAX times in a row without progress: that is
 * a busy loop (issue 9, defect 1).
 *
 * Input: three control bytes, then what the clients send.
 * Byte 0 steers the transport and the content:
 *   bits 0-2  recv piece sizes: 0 all at once, 1 one byte at a time, 2-7 pseudo-random pieces
 *             of up to 2, 3, 8, 32, 256, 2048 bytes
 *   bit 3     stall: when its input is used up a client goes silent (recv: EAGAIN) instead of
 *             half-closing; once nothing is ready the clock jumps to the next deadline
 *   bit 4     autoindex and gzip_static on (else the defaults, off)
 *   bit 5     follow_symlinks = inside, dot files hidden (the defaults); clear: symlinks off,
 *             dot files served
 *   bit 6     short writes: send and sendfile take pseudo-random partial counts, or EAGAIN
 *   bit 7     clock: ev_now() moves on after every wake-up, so timeouts and rates fire
 * Byte 1, XORed with '0' (so the digits '0'-'?' keep keep-alive on and the pool ample):
 *   bits 0-1  connections, 1-4. The input is split at "|||": connection i sends part i, the
 *             last one also whatever follows its part. Connection 0 arrives first, the others
 *             at pseudo-random points while earlier ones are busy.
 *   bits 2-3  limits: 0 the defaults (max_header_size 16k, max_request_line 8k), 1 1k and 512
 *             (the busy loop of issue 9), 2 exactly the first header section sent (when it is
 *             1k to 16k, else 1k) and 1k, 3 2k and 256
 *   bit 4     keepalive_timeout = 0: every response closes
 *   bit 5     max_keepalive_requests = 1 (else 8)
 *   bit 6     recv also says EAGAIN now and then although bytes wait (never twice in a row)
 *   bit 7     crowded pool: silent connections hold all but n-1 of the pool's 4 slots (n: the
 *             connections above, when 2 or more), so an arrival can find it full; they come
 *             first and take the first numbers in messages
 * Byte 2, XORed with '0' like byte 1:
 *   bit 0     the contrary transport (client.c) for every client: a handshake first, every
 *             other call EAGAIN wanting the opposite direction, one byte per call, and input
 *             read ahead a piece at a time into the transport, where epoll cannot see it (only
 *             pending() tells). No connection may then wait for the socket while its transport
 *             holds input: that request would be stranded.
 *   bit 1     request_timeout the default (60 s) rather than 3 s
 *   bit 2     expand: "$$" and a byte k stand for (k + 1) * 16 bytes of t/app's pattern, so a
 *             short input carries a body that spills past body_buffer_size (1k) to a file
 *   bit 3     fine clock: with bit 7 of byte 0, steps of 0-15 ms (the handlers' timers and
 *             upload's paced resumes interleave with reads) instead of up to 2 s or 120 s
 *   bit 4     TLS mode (t/fuzz/tls_first.c): the rest of the input is the first bytes a TLS
 *             listener gets, over a socketpair through the real TLS transport and the
 *             server's contexts: plain HTTP must get exactly the plaintext 400, other bytes
 *             that are not a TLS record nothing, a ClientHello (whole, truncated or mangled)
 *             only TLS records; the tls_* seeds (' ' for byte 2, NUL with bit 5) start here
 *   bit 5     with bit 4: the client half-closes after its bytes
 *   bit 6     application-config mode (t/fuzz/app_cfg.c): the rest of the input is an
 *             [app "name"] header line then route values, checked against the route table
 *             (the app_* seeds: 'p' for byte 2)
 *   bit 7     real-address mode (t/fuzz/realaddr.c), byte 0 choosing: bit 0 clear, the rest of
 *             the input is the start of a connection to a proxy listener, checked against the
 *             PROXY parser's prefixes and fed to its transport over a socketpair in pieces
 *             (bits 1-3 the piece size); bit 0 set, the rest is a request's field lines for
 *             the X-Forwarded-For walk, checked against a reference (the realaddr_* seeds:
 *             0xb0 for byte 2)
 * Besides static files, requests reach the test build's handlers (t/app, under /_t/): answers
 * that come later from heap timers (/_t/later, streamed; /_t/hang, never), buffered bodies
 * (/_t/echo, /_t/tiny), streamed uploads paused and resumed (/_t/upload, /_t/tinyup) and early
 * refusals (/_t/refuse). When nothing is ready the clock jumps to the next deadline, so their
 * timers and request_timeout (504) fire; a client that stalls never half-closes, one that does
 * not half-closes once its input is read (EPOLLRDHUP: a pending request is then cancelled).
 * The first two bytes also seed the generators behind piece sizes, write sizes, arrivals, the
 * choice of which ready connection is woken, and clock steps. Most seeds in t/fuzz/corpus start
 * with a digit for byte 0 ('0'-'7': bits 4 and 5 set, the piece mode is the digit; '8', '9': the
 * same with stall) and '0' for bytes 1 and 2 (one connection, a plain transport, everything else
 * as in production); the contrary_* seeds have '1' for byte 2, and the seam_* seeds, which
 * reach the /_t/ handlers, '4' (expand), '8' (fine clock) or '2' (long request_timeout).
 *
 * Which request each response answers is taken from the server itself: the log phase
 * (req_log_add, record.c) reports each finished request with its end, status and bytes sent,
 * under the peer address each client connects from; the requests themselves are split from the
 * bytes the server took by its own parser (record_split), so check.c knows which were HEAD and
 * what bodies the handlers were given.
 */
#include <errno.h>
#include <fcntl.h>
#include <sanitizer/lsan_interface.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <netinet/in.h>

#include "common/log.h"
#include "t/app/pattern.h"
#include "t/fuzz/app_cfg.h"
#include "t/fuzz/docroot.h"
#include "t/fuzz/fuzz.h"
#include "t/fuzz/realaddr.h"
#include "t/fuzz/tls_first.h"
#include "worker/conn.h"
#include "worker/ofc.h"
#include "worker/resp.h"
#include "worker/route.h"
#include "worker/static.h"

#define MARKER DOCROOT_MARKER
#define SEPARATOR "|||"
#define MAX_TALKERS 4
#define POOL_SLOTS 4     /* conn.c's pool: max_connections of this worker */
#define STALLS_MAX 64    /* wake-ups in a row without progress: a busy loop */
#define MAX_STEPS 800000 /* wake-ups and clock jumps per input before calling it a hang */
#define T0_MS 1000000000LL
#define FIXED_NOW 1764000000 /* Date header */
#define REQUEST_TIMEOUT_MS 3000
#define EXPAND_TOKEN "$$"
#define EXPAND_MAX (1 << 18) /* an input's bytes once expanded */

#define F_STALL 0x08
#define F_FEATURES 0x10
#define F_DEFAULT_LINKS 0x20
#define F_SHORT_WRITES 0x40
#define F_CLOCK 0x80

#define G_CONNS 0x03
#define G_LIMITS 0x0c
#define G_NO_KEEPALIVE 0x10
#define G_ONE_REQUEST 0x20
#define G_RECV_EAGAIN 0x40
#define G_CROWDED 0x80

#define H_CONTRARY 0x01
#define H_LONG_REQUEST_TIMEOUT 0x02
#define H_EXPAND 0x04
#define H_FINE_CLOCK 0x08
#define H_TLS 0x10
#define H_TLS_EOF 0x20
#define H_APP_CFG 0x40
#define H_REALADDR 0x80

struct limits {
    int64_t header, line;
};

static const struct limits limit_sets[4] = {
    {16384, 8192}, /* the defaults: out of reach of a short input, as in production */
    {1024, 512},   /* the smallest section the config allows: issue 9's busy loop */
    {0, 1024},     /* max_header_size: the first header section, so that it fits exactly */
    {2048, 256},   /* the shortest request line */
};

struct cfg fuzz_cfg;
struct client fuzz_clients[FUZZ_MAX_CLIENTS];
int fuzz_nclients;
bool fuzz_input_has_marker;
bool fuzz_in_expiry;
struct client *fuzz_current;

static struct shm_worker stats; /* the worker's figures, normally in shared memory */
static struct conn_env env = {.cfg = &fuzz_cfg, .stats = &stats};
static struct http_limits limits; /* what the pool was last sized for */
static int root_fd;
static int64_t default_keepalive_ms, default_request_timeout_ms;
static bool dump; /* FUZZ_HTTP_DUMP set: write each output to stderr */

void
fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_http: invariant violated: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    for (int i = 0; i < fuzz_nclients; i++) {
        const struct client *cl = &fuzz_clients[i];
        if (cl->parked)
            continue;
        fprintf(stderr, "\n--- connection %d: output (%zu bytes, first 2048 shown) ---\n%.*s", i,
                cl->out_len, (int)(cl->out_len < 2048 ? cl->out_len : 2048), cl->out);
    }
    fputs("\n---\n", stderr);
    abort();
}

uint32_t
fuzz_rnd(uint32_t *state)
{
    /* xorshift32: cheap, and the same run for the same control bytes. */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* ---- the pool, sized for each input's limits ---- */

/* conn_pool_init sizes the buffers from the limits, so new limits need it again. It is meant
 * to run once: it has no counterpart that frees the pool, and it keeps the free list of slots
 * (and the count of slots handed out) from before. So the harness calls it with as many new
 * slots as the probe below does not find, that is none while the old slots stay on the free
 * list, and tells LeakSanitizer that a superseded slot array is not a leak. Probing starts
 * connections until conn_start refuses one, then closes them through their header timeout. */
static ssize_t
probe_io(void)
{
    fuzz_fail("the pool probe's connections are never woken");
}

static ssize_t
probe_recv(int fd, void *ctx, void *buf, size_t n, enum transport_want *want)
{
    (void)fd, (void)ctx, (void)buf, (void)n, (void)want;
    return probe_io();
}

static size_t
probe_pending(void *ctx)
{
    (void)ctx;
    return 0;
}

static void
probe_release(void *ctx)
{
    (void)ctx;
}

static const struct transport probe_transport = {
    .name = "fuzz-probe",
    .recv = probe_recv,
    .pending = probe_pending,
    .release = probe_release,
};

static int
probe_capacity(void)
{
    int n = 0;
    while (n < 64 && conn_start(FUZZ_CONN_FD, &probe_transport, NULL, NULL, false, 0) != NULL)
        n++;
    int64_t now = ev_now();
    ev_set_now(now + 24 * 3600 * 1000LL);
    ev_expire();
    ev_set_now(now);
    conn_reap();
    if (conn_count() != 0)
        fuzz_fail("the pool probe's %d idle connections did not time out", conn_count());
    return n;
}

static void
size_pool(int slots)
{
    __lsan_disable();
    int rc = conn_pool_init(slots, &limits);
    __lsan_enable();
    if (rc < 0)
        fuzz_fail("conn_pool_init(%d) failed", slots);
}

static void
use_limits(const struct limits *l)
{
    if (limits.max_header_size == (size_t)l->header && limits.max_request_line == (size_t)l->line)
        return;
    fuzz_cfg.max_header_size = l->header;
    fuzz_cfg.max_request_line = l->line;
    limits.max_header_size = (size_t)l->header;
    limits.max_request_line = (size_t)l->line;
    conn_trim_buffers(); /* every buffer is free between inputs: none of the old size survives */
    size_pool(0);
    int have = probe_capacity();
    if (have < POOL_SLOTS) {
        size_pool(POOL_SLOTS - have);
        have = probe_capacity();
    }
    if (have != POOL_SLOTS)
        fuzz_fail("the pool has %d slots after resizing, not %d", have, POOL_SLOTS);
}

/* ---- state that must be back to empty after every input ---- */

/* Push every entry out of the open file cache with as many harmless misses (no descriptor, no
 * bytes), so that each input starts cold (a crash replays alone) and descriptors and cached
 * bytes can be counted exactly: an entry whose last reference was dropped is closed now. The
 * keys start with \x01, which a request path could only name to get the 404 it would get anyway. */
static void
flush_file_cache(void)
{
    for (int i = 0; i < fuzz_cfg.open_file_cache; i++) {
        char key[32];
        snprintf(key, sizeof(key), "\x01flush-%d", i);
        ofc_release(ofc_put(key, 404, -1, NULL, key, ev_now()));
    }
}

static int
lowest_free_fd(void)
{
    int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    close(fd);
    return fd;
}

static void
check_state(int lowest_fd)
{
    struct ofc_stats st;
    if (ev_next_deadline() != INT64_MAX)
        fuzz_fail("a timeout queue is not empty after every connection closed");
    if (conn_count() != 0)
        fuzz_fail("conn_count() is %d after every connection closed", conn_count());
    flush_file_cache();
    ofc_stats(&st);
    if (st.memory != 0)
        fuzz_fail("open file cache still counts %lld bytes with no file in it",
                  (long long)st.memory);
    int temp = record_temp_fds();
    if (temp != 0)
        fuzz_fail("%d spilled request bodies still open after every connection closed", temp);
    int fd = lowest_free_fd();
    if (fd != lowest_fd)
        fuzz_fail("a descriptor leaked, or a file reference was never released (lowest free fd "
                  "%d, was %d)",
                  fd, lowest_fd);
}

/* ---- the event loop, played by hand ---- */

struct sched {
    uint32_t rng;
    bool clock, fine;
    int next; /* the next client to arrive */
};

static void
expire_now(void)
{
    fuzz_in_expiry = true;
    ev_expire();
    fuzz_in_expiry = false;
    conn_reap();
}

static bool
is_open(const struct client *cl)
{
    return cl->io != NULL && !cl->released;
}

/* What a level-triggered epoll would report now: EPOLLIN while bytes or the end of stream wait,
 * EPOLLOUT always (the memory socket has room, or resets when the client stopped reading),
 * EPOLLRDHUP once the client's half-close is all that is left unread (a client that stalls
 * never half-closes). */
static uint32_t
ready_events(const struct client *cl)
{
    if (!is_open(cl))
        return 0;
    uint32_t ev = cl->io->events & EPOLLOUT;
    if ((cl->io->events & EPOLLRDHUP) && cl->in_pos == cl->in_len && !cl->stall)
        ev |= EPOLLRDHUP;
    /* Input held inside the contrary transport is not in the socket: it makes nothing ready. */
    if ((cl->io->events & EPOLLIN) && (cl->in_pos < cl->in_len || !cl->stall || cl->peer_writes))
        ev |= EPOLLIN;
    return ev;
}

/* Each client has its own peer address: the log phase's records name it (record.c). */
static void
arrive(struct client *cl)
{
    struct sockaddr_in peer = {
        .sin_family = AF_INET,
        .sin_port = htons((uint16_t)(FUZZ_PEER_PORT + cl->id)),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    cl->io = conn_start(FUZZ_CONN_FD, cl->contrary ? &fuzz_contrary_transport : &fuzz_transport, cl,
                        (const struct sockaddr *)&peer, false, 0);
    if (cl->io != NULL)
        return;
    cl->refused = true;
    if (!cl->released)
        fuzz_fail("conn_start refused connection %d without releasing its transport", cl->id);
    /* Not conn_pool_full(): its bump index means nothing after use_limits() sized again. */
    if (conn_count() != POOL_SLOTS)
        fuzz_fail("conn_start refused connection %d with %d of %d slots in use", cl->id,
                  conn_count(), POOL_SLOTS);
}

struct mark {
    uint64_t taken, accepted;
    uint32_t events;
    bool released, shut;
    int nrec;
    unsigned excused;
};

static struct mark
mark_of(const struct client *cl)
{
    return (struct mark){
        .taken = cl->taken,
        .accepted = cl->accepted,
        .events = cl->released ? 0 : cl->io->events,
        .released = cl->released,
        .shut = cl->shut,
        .nrec = cl->nrec,
        .excused = cl->excused,
    };
}

/* One event to one connection. Progress is bytes moved either way, a change of the events it
 * waits for, a request logged, a half-close or a close. A wake-up on which the transport made
 * up an EAGAIN is excused: it neither counts nor resets the count. */
static void
wake(struct client *cl, uint32_t ev)
{
    struct mark before = mark_of(cl);
    fuzz_current = cl;
    cl->io->cb(cl->io, ev);
    fuzz_current = NULL;
    if (is_open(cl) && client_held(cl) > 0 && !cl->peer_writes &&
        (cl->io->events & (EPOLLIN | EPOLLOUT)) == EPOLLIN)
        fuzz_fail("connection %d waits for the socket while its transport holds %zu bytes of "
                  "input that epoll cannot report (pending() not drained)",
                  cl->id, client_held(cl));
    struct mark after = mark_of(cl);
    if (after.taken != before.taken || after.accepted != before.accepted ||
        after.events != before.events || after.released != before.released ||
        after.shut != before.shut || after.nrec != before.nrec) {
        cl->stalls = 0;
        return;
    }
    if (after.excused != before.excused)
        return;
    if (++cl->stalls < STALLS_MAX)
        return;
    fuzz_fail("busy loop: connection %d woken %u times in a row with %s%s ready (events %#x, "
              "%zu of %zu input bytes taken%s, %zu bytes sent) and nothing moved, no event "
              "changed, nothing was logged or closed",
              cl->id, cl->stalls, ev & EPOLLIN ? "EPOLLIN" : "", ev & EPOLLOUT ? "EPOLLOUT" : "",
              cl->io->events, cl->in_pos, cl->in_len,
              cl->in_pos == cl->in_len && !cl->stall ? ", then the end of stream" : "",
              cl->out_len);
}

static void
tick(struct sched *s)
{
    uint32_t r = fuzz_rnd(&s->rng);
    if (s->fine)
        ev_set_now(ev_now() + r % 16);
    else
        ev_set_now(ev_now() + ((r & 7) == 0 ? (r >> 3) % 120001 : (r >> 3) % 2001));
    expire_now();
}

/* Nothing is ready: every open connection waits for its client or a timer. Jump to the next
 * deadline; a connection that waits for neither would never be woken again. */
static void
jump(void)
{
    int64_t d = ev_next_deadline();
    if (d == INT64_MAX) {
        for (int i = 0; i < fuzz_nclients; i++)
            if (is_open(&fuzz_clients[i]))
                fuzz_fail("connection %d waits for events %#x that cannot come, and for no timer",
                          i, fuzz_clients[i].io->events);
        fuzz_fail("conn_count() is %d with every client's connection closed", conn_count());
    }
    if (d > ev_now())
        ev_set_now(d);
    expire_now();
}

static int
released_count(void)
{
    int n = 0;
    for (int i = 0; i < fuzz_nclients; i++)
        n += fuzz_clients[i].released;
    return n;
}

/* After a step that closed a connection: a spilled body belongs to a request of an open
 * connection (one at most each), so no more are open than connections. */
static void
check_temp_files(int *released)
{
    int now = released_count();
    if (now == *released)
        return;
    *released = now;
    int temp = record_temp_fds();
    if (temp > conn_count())
        fuzz_fail("%d spilled request bodies open, %d connections", temp, conn_count());
}

static void
run(struct sched *s)
{
    int released = released_count();
    for (int step = 0;; step++) {
        check_temp_files(&released);
        struct client *ready[FUZZ_MAX_CLIENTS];
        uint32_t events[FUZZ_MAX_CLIENTS];
        int nready = 0;
        if (step == MAX_STEPS)
            fuzz_fail("connections still open after %d wake-ups and clock jumps", MAX_STEPS);
        for (int i = 0; i < s->next; i++)
            if ((events[nready] = ready_events(&fuzz_clients[i])) != 0)
                ready[nready++] = &fuzz_clients[i];
        if (s->next < fuzz_nclients && (nready == 0 || fuzz_rnd(&s->rng) % 4 == 0)) {
            arrive(&fuzz_clients[s->next++]);
            continue;
        }
        if (nready > 0) {
            int k = (int)(fuzz_rnd(&s->rng) % (uint32_t)nready);
            wake(ready[k], events[k]);
            conn_reap(); /* the loop's before-sleep, after a batch of one event */
            if (s->clock)
                tick(s);
            continue;
        }
        if (conn_count() == 0)
            return;
        jump();
    }
}

/* ---- one input ---- */

/* setup() in worker/worker.c, without epoll, signals or privileges. Limits are the defaults,
 * except those an input of a few KB could otherwise never reach. */
static void
setup(void)
{
    char err[CFG_ERR_MAX];

    cfg_defaults(&fuzz_cfg);
    snprintf(fuzz_cfg.root, sizeof(fuzz_cfg.root), "%s", docroot_make());
    fuzz_cfg.max_body_size = 4096;
    fuzz_cfg.max_keepalive_requests = 8;
    fuzz_cfg.sendfile_max_chunk = 4096; /* the 100 KB file takes many turns */
    fuzz_cfg.open_file_cache = 16;      /* a few pipelined requests already evict */
    fuzz_cfg.body_buffer_size = 1024;   /* the smallest: a body of a few KB spills */
    snprintf(fuzz_cfg.body_temp_path, sizeof(fuzz_cfg.body_temp_path), "%s", docroot_body_dir());
    default_keepalive_ms = fuzz_cfg.keepalive_timeout_ms;
    default_request_timeout_ms = fuzz_cfg.request_timeout_ms;

    if (getenv("FUZZ_HTTP_LOG") == NULL && log_open("/dev/null", err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    log_set_level(getenv("FUZZ_HTTP_LOG") ? LOG_LVL_DEBUG : LOG_LVL_CRIT);
    dump = getenv("FUZZ_HTTP_DUMP") != NULL;
    log_set_role("worker 0");

    /* No ev_init: without an epoll instance ev_set only records what a connection waits for,
     * and the driver below plays the loop's phases. */
    ev_set_now(T0_MS);
    resp_update_date(FIXED_NOW);
    if (conn_setup(&env) < 0) {
        fprintf(stderr, "fuzz_http: conn_setup failed\n");
        exit(1);
    }
    limits = (struct http_limits){
        .max_request_line = (size_t)fuzz_cfg.max_request_line,
        .max_header_size = (size_t)fuzz_cfg.max_header_size,
        .max_headers = fuzz_cfg.max_headers,
        .max_body_size = fuzz_cfg.max_body_size,
    };
    root_fd = open(fuzz_cfg.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        perror(fuzz_cfg.root);
        exit(1);
    }
    static_resp_init(root_fd, &fuzz_cfg);
    /* The test handlers (t/app, under /_t/) first, as worker.c does, then static files. */
    if (route_add_builtins() < 0 || route_add("/", &static_handler, NULL, false) < 0 ||
        record_setup() < 0 ||
        ofc_init(fuzz_cfg.open_file_cache, fuzz_cfg.open_file_cache_valid_ms,
                 fuzz_cfg.small_file_max, fuzz_cfg.small_file_cache) < 0) {
        fprintf(stderr, "fuzz_http: worker set-up failed\n");
        exit(1);
    }
    tls_first_setup();
    size_pool(POOL_SLOTS);
    if (probe_capacity() != POOL_SLOTS)
        fuzz_fail("a fresh pool does not have %d slots", POOL_SLOTS);
}

/* Limit set 2 makes max_header_size the length of the first header section the first talking
 * connection sends, when that is within what the config allows (else 1k), so that the shape
 * where a section ends exactly at the limit is common rather than a one-byte accident. */
static int64_t
exact_header_size(const uint8_t *in, size_t len)
{
    const uint8_t *sep = memmem(in, len, SEPARATOR, sizeof(SEPARATOR) - 1);
    const uint8_t *end = memmem(in, sep ? (size_t)(sep - in) : len, "\r\n\r\n", 4);
    int64_t n = end ? end + 4 - in : 0;
    return n >= 1024 && n <= 16384 ? n : 1024;
}

static void
configure(uint8_t ctl, uint8_t ctl2, uint8_t ctl3, const uint8_t *in, size_t len)
{
    struct limits l = limit_sets[(ctl2 & G_LIMITS) >> 2];
    fuzz_cfg.request_timeout_ms =
        ctl3 & H_LONG_REQUEST_TIMEOUT ? default_request_timeout_ms : REQUEST_TIMEOUT_MS;
    fuzz_cfg.autoindex = fuzz_cfg.gzip_static = ctl & F_FEATURES;
    fuzz_cfg.follow_symlinks = ctl & F_DEFAULT_LINKS;
    fuzz_cfg.serve_dotfiles = !(ctl & F_DEFAULT_LINKS);
    fuzz_cfg.keepalive_timeout_ms = ctl2 & G_NO_KEEPALIVE ? 0 : default_keepalive_ms;
    conn_setup(&env); /* the queues are empty between inputs: takes the new keep-alive */
    fuzz_cfg.max_keepalive_requests = ctl2 & G_ONE_REQUEST ? 1 : 8;
    if (l.header == 0)
        l.header = exact_header_size(in, len);
    use_limits(&l);
}

/* The clients of one input: parked ones first (they only hold slots), then the talkers, each
 * with its part of `in`. */
static void
make_clients(uint8_t ctl, uint8_t ctl2, uint8_t ctl3, const uint8_t *in, size_t len)
{
    int ntalk = 1 + (ctl2 & G_CONNS);
    int nparked = ctl2 & G_CROWDED && ntalk > 1 ? POOL_SLOTS - (ntalk - 1) : 0;
    const size_t sep_len = sizeof(SEPARATOR) - 1;
    const uint8_t *end_all = in + len;

    fuzz_nclients = nparked + ntalk;
    for (int i = 0; i < fuzz_nclients; i++) {
        struct client *cl = &fuzz_clients[i];
        memset(cl, 0, offsetof(struct client, out));
        cl->out_len = 0;
        cl->nrec = cl->nsent = 0;
        cl->id = i;
        cl->rng = 0x9e3779b9u ^ ((uint32_t)ctl * 0x01000193u) ^ ((uint32_t)ctl2 << 16) ^
                  ((uint32_t)i * 0x85ebca6bu);
        cl->stall = true;
        if (i < nparked) {
            cl->parked = true;
            continue;
        }
        const uint8_t *end = end_all;
        if (i < fuzz_nclients - 1) {
            const uint8_t *sep = memmem(in, (size_t)(end_all - in), SEPARATOR, sep_len);
            if (sep != NULL)
                end = sep;
        }
        cl->in = in;
        cl->in_len = (size_t)(end - in);
        cl->piece_mode = ctl & 7;
        cl->stall = ctl & F_STALL;
        cl->short_writes = ctl & F_SHORT_WRITES;
        cl->spurious_eagain = ctl2 & G_RECV_EAGAIN;
        cl->contrary = ctl3 & H_CONTRARY;
        in = end == end_all ? end_all : end + sep_len;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setup();
    return 0;
}

/* With H_EXPAND, EXPAND_TOKEN and a byte k stand for (k + 1) * 16 bytes of app_pattern (never
 * '|', so no separator): a short input reaches a body that spills past body_buffer_size. */
static size_t
expand(const uint8_t *in, size_t len, uint8_t *out)
{
    const size_t tl = sizeof(EXPAND_TOKEN) - 1;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (i + tl < len && memcmp(in + i, EXPAND_TOKEN, tl) == 0) {
            size_t k = ((size_t)in[i + tl] + 1) * 16;
            if (n + k > EXPAND_MAX)
                break;
            app_pattern_fill((char *)out + n, n, k);
            n += k;
            i += tl + 1;
            continue;
        }
        if (n == EXPAND_MAX)
            break;
        out[n++] = in[i++];
    }
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t expanded[EXPAND_MAX];
    if (size < 3)
        return 0;
    uint8_t ctl = data[0], ctl2 = data[1] ^ '0', ctl3 = data[2] ^ '0';
    struct sched s = {
        .rng = 0x2545f491u ^ ((uint32_t)ctl << 8) ^ ctl2,
        .clock = ctl & F_CLOCK,
        .fine = ctl3 & H_FINE_CLOCK,
    };
    const uint8_t *in = data + 3;
    size_t len = size - 3;
    if (ctl3 & H_TLS) {
        tls_first_run(in, len, ctl3 & H_TLS_EOF);
        return 0;
    }
    if (ctl3 & H_APP_CFG) {
        app_cfg_run(in, len);
        return 0;
    }
    if (ctl3 & H_REALADDR) {
        realaddr_run(ctl, in, len);
        return 0;
    }
    if (ctl3 & H_EXPAND) {
        len = expand(in, len, expanded);
        in = expanded;
    }

    fuzz_input_has_marker = memmem(in, len, MARKER, sizeof(MARKER) - 1) != NULL;
    ev_set_now(T0_MS);
    configure(ctl, ctl2, ctl3, in, len);
    make_clients(ctl, ctl2, ctl3, in, len);
    flush_file_cache();
    int lowest_fd = lowest_free_fd();
    run(&s);
    conn_reap();
    for (int i = 0; i < fuzz_nclients; i++) {
        struct client *cl = &fuzz_clients[i];
        if (dump && !cl->parked)
            fprintf(stderr, "--- connection %d: output, %zu bytes ---\n%.*s\n---\n", i, cl->out_len,
                    (int)cl->out_len, cl->out);
        record_split(cl);
        check_client(cl);
    }
    check_state(lowest_fd);
    return 0;
}
