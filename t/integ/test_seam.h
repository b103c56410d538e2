/* Helpers of the request/response seam's integration suites (test_seam.c, test_seam_body.c):
 * starting the test build (sluice-t, with the /_t/ handlers of t/app/) on one worker, reading
 * its /_t/stats counters with bounded polls, a strict chunked-body reader, and /proc probes of
 * the worker. Implemented in test_seam_lib.c. */
#ifndef SLUICE_T_TEST_SEAM_H
#define SLUICE_T_TEST_SEAM_H

#include "harness.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "t/app/pattern.h"

/* srv_start_test with `workers = 1` and `graceful_timeout = 2s` in front of `extra` (which may
 * override neither). */
void seam_start(struct srv *s, const char *extra);

/* The one worker of `s` (bounded wait). */
pid_t seam_worker(const struct srv *s);

/* ---- /_t/stats ---- */

struct seam_stats {
    char text[16384];
};

/* GET /_t/stats on a new connection; fails the test unless it is the test app's answer. */
void stats_read(int port, struct seam_stats *st);
/* The value of `key` ("log_complete", "cancel_hang", ...), 0 when absent (a status never seen). */
long long stats_val(const struct seam_stats *st, const char *key);
/* stats_read + stats_val. */
long long stat_now(int port, const char *key);
/* Poll /_t/stats (bounded by timeout_ms) until `key` is at least `want`, then read it once
 * more: it must be exactly `want` (so "once" means once). Fails with the whole stats text. */
void stat_expect(int port, const char *key, long long want, int timeout_ms, const char *what);

/* ---- bodies ---- */

/* `len` bytes of the pattern from offset `off`, malloc'd (free it). */
char *pattern_alloc(uint64_t off, size_t len);
/* Fail unless got[0..len) is the pattern from `off`, `want_len` bytes long; names the first
 * differing offset. */
void expect_pattern(const char *what, const char *got, size_t len, uint64_t off, size_t want_len);

/* A chunked body read byte by byte at the framing and exactly at the data, so that a
 * pipelined response behind it stays in the socket. Strict: each size line is hex digits and
 * CRLF (no extension, no white space), each chunk's data is followed by CRLF, the last chunk
 * is "0" CRLF, then trailer field lines and the empty line. */
struct chunked {
    char *body; /* malloc'd, NUL-terminated */
    size_t len;
    int nchunks;         /* non-empty chunks */
    char trailers[2048]; /* the trailer section's field lines, each with its CRLF */
    char err[256];
};
int read_chunked(int fd, struct chunked *c);
void chunked_free(struct chunked *c);

/* Read one response head and assert it is `want`; the head stays in r (free nothing). */
void expect_head(int fd, struct http_resp *r, int want, const char *what);

/* ---- sockets and processes ---- */

/* Close with SO_LINGER 0: a reset, which the server sees even when it reads nothing. */
void conn_reset(int fd);
/* VmRSS of pid in kB; fails the test when unreadable. */
long proc_rss_kb(pid_t pid);
/* Does any fd of pid link to a path starting with `prefix`? The link goes to buf. */
bool proc_has_fd_under(pid_t pid, const char *prefix, char *buf, size_t len);

#endif
