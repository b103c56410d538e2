/* Bounded load client for the supervision tests: threads that keep GET requests going on new
 * connections and on kept-alive ones against 127.0.0.1, and count every failure by kind, while
 * the test reloads, kills or scales the server. Also small probes that map a client connection
 * to the worker process holding its server side (/proc/net/tcp and /proc/PID/fd).
 * Nothing here calls ck_assert: the threads report, the test decides. */
#ifndef SLUICE_T_LOAD_H
#define SLUICE_T_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOAD_MAX_THREADS 32
#define LOAD_MAX_EVENTS 64 /* failures and retries kept in detail; all are counted */

struct load_cfg {
    int port;
    const char *target;      /* request target, e.g. "/" */
    const char *expect_body; /* every 200 must carry exactly this string (NULL: any body) */
    int new_threads;         /* each: one request per connection (Connection: close) */
    int keepalive_threads; /* each: requests on one connection, reopened when the server ends it */
    long max_requests;     /* per thread; 0 = until load_stop */
    int max_ms;            /* hard bound on the whole run */
    int io_timeout_ms;     /* per connect/send/receive; 0 = 5000 */
    bool strict; /* wrk-like: no retry; a kept connection the server ends without having said
                  * Connection: close is a failure (LOAD_F_DROPPED) */
    bool tls;    /* HTTPS: a TLS handshake (OpenSSL, TLS 1.2 or 1.3) on every new connection, within
                  * io_timeout_ms; one that fails counts as LOAD_F_CONNECT */
    const char *tls_name; /* tls: server name sent (SNI) and checked; NULL: none */
    const char *tls_ca;   /* tls: verify the server's chain against this PEM file (and tls_name
                           * when set); NULL: no verification */
};

enum load_fail {
    LOAD_F_CONNECT,   /* connect refused or failed */
    LOAD_F_RESET,     /* EOF/reset before any response byte (new connection, or a retry) */
    LOAD_F_STATUS,    /* a complete response that is not 200 */
    LOAD_F_TRUNCATED, /* the response started but ended early, or its body differs */
    LOAD_F_TIMEOUT,   /* no progress for io_timeout_ms */
    LOAD_F_DROPPED,   /* strict: a REUSED keep-alive connection (its last response had no
                       * Connection: close) ended by the server (EOF or reset) before or inside
                       * the response */
    LOAD_F_KINDS
};

/* One failure or one retry, as it happened. */
struct load_event {
    bool keepalive; /* on a keep-alive thread */
    bool retry;     /* a retry (not a failure) */
    enum load_fail kind;
    int thread;
    int local_port;        /* client side of the connection it happened on, 0 when unknown */
    int64_t conn_start_ms; /* now_ms() when that connection was opened */
    int64_t at_ms;
    char what[112];
};

struct load_stats {
    long ok_new, ok_keepalive; /* 200s with the exact body */
    long fail[LOAD_F_KINDS];
    long failures;   /* sum of fail[] */
    long retries;    /* keep-alive requests retried once on a new connection after an
                      * EOF/reset before any response byte on a REUSED connection
                      * (RFC 9112 9.3.1): not failures; never in strict mode */
    long reconnects; /* keep-alive connections the server ended with Connection: close */
    int nevents;     /* detail kept for the first LOAD_MAX_EVENTS */
    struct load_event events[LOAD_MAX_EVENTS];
};

struct load;

/* Start the threads; NULL when a thread cannot be created, or with tls, when the OpenSSL context
 * cannot be made (tls_ca unreadable). With tls, SIGPIPE is ignored from then on in the test
 * process: OpenSSL writes with write(2), and a reset peer must fail a request, not the test. */
struct load *load_start(const struct load_cfg *cfg);

/* Wait until the threads together have at least `requests` answered (200 or not), or they have
 * all ended, or timeout_ms passed. True on the first. */
bool load_wait(struct load *l, long requests, int timeout_ms);

/* Requests answered so far (any status). */
long load_done(struct load *l);

/* Current local ports of the keep-alive threads' connections (0 while one is reconnecting, and
 * once its thread has ended), in thread order; returns how many were written. */
int load_keepalive_ports(struct load *l, int *ports, int max);

/* Stop, join and free; the totals go to *out. */
void load_stop(struct load *l, struct load_stats *out);

/* "new 123 ok, keep-alive 456 ok, 0 failures (connect 0, ..., dropped 0), 3 keep-alive retries,
 * 2 reconnects" */
const char *load_summary(const struct load_stats *st, char *buf, size_t len);

/* The first few events of st (retries and failures), one per line, for a failure message. */
const char *load_events_text(const struct load_stats *st, char *buf, size_t len);

/* ---- single probes (also used outside a load run) ---- */

/* One GET with Connection: close on a new connection, each step bounded by timeout_ms. Returns
 * the status, or -1 with a reason in err (may be NULL). A 200 must carry expect_body
 * (NULL: any body). */
int load_get_once(int port, const char *target, const char *expect_body, int timeout_ms, char *err,
                  size_t errlen);

/* Open a connection (timeout_ms bound on its I/O) and run one GET on it, keeping it open.
 * Returns the fd with the 200 read, or -1 with err set. */
int load_keepalive_open(int port, const char *target, const char *expect_body, int timeout_ms,
                        char *err, size_t errlen);

/* One more GET on a kept connection: the status, or -1 with err set. */
int load_keepalive_get(int fd, const char *target, const char *expect_body, char *err,
                       size_t errlen);

/* A new connection to 127.0.0.1:port whose connect, send and receive are each bounded by
 * timeout_ms (socket timeouts): the fd, or -1 with err set. */
int load_connect(int port, int timeout_ms, char *err, size_t errlen);

/* Local (client) port of a connected socket, 0 on error. */
int load_local_port(int fd);

/* Which of `pids` holds the server side of the loopback connection whose client side is
 * 127.0.0.1:client_port and whose server side is 127.0.0.1:server_port: the pid, or 0. */
pid_t load_conn_owner(const pid_t *pids, int npids, int server_port, int client_port);

#endif
