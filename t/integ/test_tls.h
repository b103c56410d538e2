/* Helpers the TLS integration tests (test_tls_*.c) share: servers with a TLS listener serving
 * certificates of the test PKI (tlsca.h); a TLS client (OpenSSL) whose connection a test reads
 * and writes as a plain socket, so client.c's HTTP helpers work on it unchanged; and runs of
 * `openssl s_client`, curl and `sluice -t`. */
#ifndef SLUICE_T_TEST_TLS_H
#define SLUICE_T_TEST_TLS_H

#include "harness.h"
#include "tlsca.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define TLS_OUT_MAX 16384

/* A request that makes the server close after its answer (so s_client -ign_eof ends). */
#define TLS_GET_CLOSE "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

/* ---- servers ---- */

/* Config lines "certificate = <pki>/<name>.crt" and "certificate_key = <pki>/<name>.key" for
 * each of the blank-separated leaf names of tlsca.c (the first is the default certificate),
 * appended to the string in buf. Returns buf. */
char *tls_cert_lines(char *buf, size_t len, const char *names);

/* srv_start with one TLS listener (s->port) and the certificates `names`, then `extra` (config
 * lines, may be NULL). */
void tls_start(struct srv *s, const char *names, const char *extra);

/* The number of the first line of s->cfg that holds `needle`; fails the test when none does. */
int tls_cfg_line(const struct srv *s, const char *needle);

/* `sluice -c <cfg> -t`: its exit status; stdout and stderr apart (TLS_OUT_MAX bytes each). */
int tls_config_test(const struct srv *s, char *out, char *err);

/* ---- the TLS client ---- */

struct tls_opts {
    const char *sni;          /* server name sent, and checked on the certificate; NULL: none */
    const char *alpn;         /* protocols offered, comma-separated; NULL: no ALPN extension */
    int version;              /* TLS1_2_VERSION or TLS1_3_VERSION: that one only; 0: both */
    const char *sigalgs;      /* signature algorithms offered (OpenSSL list); NULL: default */
    const char *ciphers;      /* TLS 1.2 cipher list; NULL: default */
    const char *ciphersuites; /* TLS 1.3 suites; NULL: default */
};

/* One client connection. After tls_connect, `fd` is the test's end: bytes written to it go to
 * the server encrypted, the server's come out of it decrypted, and EOF on it means the server
 * ended the TLS connection. A thread (the pump) does the relaying. */
struct tls_conn {
    int fd;        /* plain side; 10 s send/receive timeouts; -1 before/after */
    char err[256]; /* why the handshake failed */
    /* What the handshake gave. */
    char version[16];     /* "TLSv1.3" */
    char cipher[64];      /* OpenSSL name */
    char alpn[32];        /* "" when none was negotiated */
    char subject[256];    /* server certificate, "/O=sluice-rsa/CN=localhost" */
    char serial[64];      /* its serial in hex, as tlsca.h gives them */
    char key_type[8];     /* "RSA", "EC" or "?" */
    int chain_len;        /* certificates the server sent, the leaf included */
    bool verified;        /* chain verified up to the test root (and sni, when set, matched) */
    char verify_err[128]; /* else why not */
    /* The pump's. */
    int tcp, pump_fd;
    SSL_CTX *ctx;
    SSL *ssl;
    pthread_t pump;
    bool pumping;
};

/* Connect to 127.0.0.1:port and run the handshake (10 s bound). 0 with c ready; -1 with c->err
 * set and nothing left open. Ignores SIGPIPE in the test process from then on (OpenSSL writes
 * with write(2)). */
int tls_connect(int port, const struct tls_opts *o, struct tls_conn *c);

/* tls_connect, failing the test (with `what`) unless the handshake completes. */
void tls_connect_ok(int port, const struct tls_opts *o, struct tls_conn *c, const char *what);

/* Close the test's end: the pump sends close_notify, closes the TCP socket (unread data makes
 * that a reset: an aborted download) and ends; waits for it. */
void tls_close(struct tls_conn *c);

/* One GET with Connection: close on a new TLS connection (opts: SNI "localhost" when NULL):
 * the response in r (body read), and the server must then close within 5 s. Returns the
 * status. */
int tls_fetch(int port, const struct tls_opts *o, const char *target, const char *headers,
              struct http_resp *r);

/* ---- the CLI tools ---- */

/* `openssl s_client -connect 127.0.0.1:port -ign_eof` plus `args` (NULL-terminated), its stdin a
 * file holding `input` (NULL: empty), so it ends when the server closes or the handshake fails;
 * output (stdout and stderr) into out. Returns its exit status. */
int tls_s_client(const struct srv *s, int port, const char *input, const char *const args[],
                 char *out, size_t outlen);

/* curl -sS --cacert <root> --resolve localhost:port:127.0.0.1 -o out_path URL. Returns the
 * HTTP status curl saw (0 for none); text gets curl's output, for messages. */
int tls_curl(int port, const char *url, const char *out_path, char *text, size_t textlen);

#endif
