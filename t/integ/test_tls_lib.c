/* Helpers of the TLS integration tests (see test_tls.h). The client does its handshake on a
 * blocking socket with timeouts, then hands the SSL to a pump thread that relays between it and
 * one end of a socketpair: the test keeps plain-socket semantics (recv timeouts, EOF, partial
 * reads) without a second HTTP client. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "test_tls.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 10
#define PUMP_IDLE_MS 30000 /* a pump nobody talks through for this long gives up */
#define TOOL_TIMEOUT_MS 20000

/* ---- servers ---- */

char *
tls_cert_lines(char *buf, size_t len, const char *names)
{
    char list[256], crt[SRV_PATH_MAX], key[SRV_PATH_MAX], file[64];
    snprintf(list, sizeof(list), "%s", names);
    char *save = NULL;
    for (char *n = strtok_r(list, " ", &save); n != NULL; n = strtok_r(NULL, " ", &save)) {
        snprintf(file, sizeof(file), "%s.crt", n);
        tlsca_path(file, crt, sizeof(crt));
        snprintf(file, sizeof(file), "%s.key", n);
        tlsca_path(file, key, sizeof(key));
        size_t used = strlen(buf);
        int w =
            snprintf(buf + used, len - used, "certificate = %s\ncertificate_key = %s\n", crt, key);
        ck_assert_msg(w > 0 && (size_t)w < len - used, "certificate lines over %zu bytes", len);
    }
    return buf;
}

void
tls_start(struct srv *s, const char *names, const char *extra)
{
    char cfg[4096] = "listen = 127.0.0.1:0 tls\n";
    tls_cert_lines(cfg, sizeof(cfg), names);
    if (extra != NULL) {
        size_t used = strlen(cfg);
        ck_assert_msg(used + strlen(extra) < sizeof(cfg), "config too long");
        strcpy(cfg + used, extra);
    }
    srv_start(s, cfg);
}

int
tls_cfg_line(const struct srv *s, const char *needle)
{
    char *text = read_file_all(s->cfg, NULL);
    ck_assert_ptr_nonnull(text);
    int line = 1, found = 0;
    for (const char *p = text; p != NULL && *p != '\0' && !found; line++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (memmem(p, len, needle, strlen(needle)) != NULL)
            found = line;
        p = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
    ck_assert_msg(found > 0, "no line of %s holds '%s'", s->cfg, needle);
    return found;
}

int
tls_config_test(const struct srv *s, char *out, char *err)
{
    const char *args[] = {"-c", s->cfg, "-t", NULL};
    return run_cmd_io(args, out, TLS_OUT_MAX, err, TLS_OUT_MAX, 20000);
}

/* ---- the client: handshake ---- */

/* "h2,http/1.1" into ALPN wire format (length-prefixed names); returns its length. */
static unsigned
alpn_wire(const char *list, unsigned char *out, size_t outlen)
{
    unsigned used = 0;
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, ",");
        ck_assert_msg(n > 0 && n < 256 && used + 1 + n <= outlen, "bad ALPN list '%s'", list);
        out[used++] = (unsigned char)n;
        memcpy(out + used, p, n);
        used += (unsigned)n;
        p += n + (p[n] == ',');
    }
    return used;
}

static SSL_CTX *
client_ctx(const struct tls_opts *o)
{
    char ca[SRV_PATH_MAX];
    unsigned char alpn[128];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(ctx);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    ck_assert(SSL_CTX_set_min_proto_version(ctx, o->version ? o->version : TLS1_2_VERSION) == 1);
    ck_assert(SSL_CTX_set_max_proto_version(ctx, o->version ? o->version : TLS1_3_VERSION) == 1);
    ck_assert(SSL_CTX_load_verify_locations(ctx, tlsca_path("ca.crt", ca, sizeof(ca)), NULL));
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* verified, recorded, not enforced */
    if (o->alpn != NULL)
        ck_assert(SSL_CTX_set_alpn_protos(ctx, alpn, alpn_wire(o->alpn, alpn, sizeof(alpn))) == 0);
    ck_assert_msg(o->sigalgs == NULL || SSL_CTX_set1_sigalgs_list(ctx, o->sigalgs) == 1,
                  "sigalgs '%s' refused by OpenSSL", o->sigalgs);
    ck_assert_msg(o->ciphers == NULL || SSL_CTX_set_cipher_list(ctx, o->ciphers) == 1,
                  "ciphers '%s' refused by OpenSSL", o->ciphers);
    ck_assert_msg(o->ciphersuites == NULL || SSL_CTX_set_ciphersuites(ctx, o->ciphersuites) == 1,
                  "ciphersuites '%s' refused by OpenSSL", o->ciphersuites);
    return ctx;
}

static int
tcp_connect(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_msg(fd >= 0, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    ck_assert_msg(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
                  "connect 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}

/* What the handshake gave, from the session and the server's certificate. */
static void
record_session(struct tls_conn *c)
{
    const unsigned char *proto;
    unsigned plen;
    snprintf(c->version, sizeof(c->version), "%s", SSL_get_version(c->ssl));
    snprintf(c->cipher, sizeof(c->cipher), "%s", SSL_get_cipher_name(c->ssl));
    SSL_get0_alpn_selected(c->ssl, &proto, &plen);
    snprintf(c->alpn, sizeof(c->alpn), "%.*s", (int)plen, plen ? (const char *)proto : "");
    long v = SSL_get_verify_result(c->ssl);
    c->verified = v == X509_V_OK;
    snprintf(c->verify_err, sizeof(c->verify_err), "%s", X509_verify_cert_error_string(v));
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
    c->chain_len = chain != NULL ? sk_X509_num(chain) : 0;

    X509 *x = SSL_get1_peer_certificate(c->ssl);
    ck_assert_msg(x != NULL, "the server sent no certificate");
    X509_NAME_oneline(X509_get_subject_name(x), c->subject, sizeof(c->subject));
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    snprintf(c->serial, sizeof(c->serial), "%s", hex != NULL ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
    int type = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
    snprintf(c->key_type, sizeof(c->key_type), "%s",
             type == EVP_PKEY_RSA  ? "RSA"
             : type == EVP_PKEY_EC ? "EC"
                                   : "?");
    X509_free(x);
}

static void *pump_main(void *arg);

/* The socketpair and the pump, once the handshake is done. */
static void
start_pump(struct tls_conn *c)
{
    int sv[2];
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    ck_assert_msg(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
                  strerror(errno));
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    c->fd = sv[0];
    c->pump_fd = sv[1];
    ck_assert(fcntl(c->pump_fd, F_SETFL, O_NONBLOCK) == 0);
    ck_assert(fcntl(c->tcp, F_SETFL, O_NONBLOCK) == 0);
    ck_assert_msg(pthread_create(&c->pump, NULL, pump_main, c) == 0, "pthread_create failed");
    c->pumping = true;
}

int
tls_connect(int port, const struct tls_opts *o, struct tls_conn *c)
{
    static const struct tls_opts none;
    o = o != NULL ? o : &none;
    memset(c, 0, sizeof(*c));
    c->fd = c->pump_fd = -1;
    signal(SIGPIPE, SIG_IGN);
    c->ctx = client_ctx(o);
    c->tcp = tcp_connect(port);
    c->ssl = SSL_new(c->ctx);
    ck_assert(c->ssl != NULL && SSL_set_fd(c->ssl, c->tcp) == 1);
    if (o->sni != NULL)
        ck_assert(SSL_set_tlsext_host_name(c->ssl, o->sni) == 1 && SSL_set1_host(c->ssl, o->sni));
    ERR_clear_error();
    int rc = SSL_connect(c->ssl);
    if (rc != 1) {
        int sys = errno;
        unsigned long e = ERR_peek_error();
        snprintf(c->err, sizeof(c->err), "TLS handshake: %s",
                 e != 0     ? ERR_error_string(e, NULL)
                 : sys != 0 ? strerror(sys)
                            : "closed by the server");
        ERR_clear_error();
        SSL_free(c->ssl);
        SSL_CTX_free(c->ctx);
        close(c->tcp);
        c->ssl = NULL;
        c->ctx = NULL;
        c->tcp = -1;
        return -1;
    }
    record_session(c);
    start_pump(c);
    return 0;
}

void
tls_connect_ok(int port, const struct tls_opts *o, struct tls_conn *c, const char *what)
{
    ck_assert_msg(tls_connect(port, o, c) == 0, "%s: %s", what, c->err);
}

void
tls_close(struct tls_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->pumping)
        pthread_join(c->pump, NULL);
    c->pumping = false;
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    c->ssl = NULL;
    c->ctx = NULL;
}

int
tls_fetch(int port, const struct tls_opts *o, const char *target, const char *headers,
          struct http_resp *r)
{
    static const struct tls_opts localhost = {.sni = "localhost"};
    struct tls_conn c;
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n", target,
                     headers != NULL ? headers : "");
    ck_assert(n > 0 && (size_t)n < sizeof(req));
    tls_connect_ok(port, o != NULL ? o : &localhost, &c, target);
    conn_send(c.fd, req, (size_t)n);
    http_read_response(c.fd, r, 0);
    ck_assert_msg(conn_wait_closed(c.fd, 5000), "GET %s: more bytes after the response (status %d)",
                  target, r->status);
    tls_close(&c);
    return r->status;
}

/* ---- the client: the pump ---- */

/* Bytes on their way in one direction. */
struct pbuf {
    char b[16384];
    size_t off, len;
};

/* The poll events an SSL call that did not complete waits for. 0: the TLS connection is over. */
static short
ssl_wants(SSL *ssl, int rc)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return POLLIN;
    case SSL_ERROR_WANT_WRITE:
        return POLLOUT;
    default:
        return 0;
    }
}

struct pump {
    struct tls_conn *c;
    struct pbuf up, down; /* up: test to server; down: server to test */
    bool test_gone;       /* the test closed its end */
    bool tls_gone;        /* the server ended the TLS connection (or it failed) */
    short tcp_ev, pair_ev;
};

/* Test to server: read the pair when `up` is empty, write `up` to the SSL. True on progress. */
static bool
pump_up(struct pump *p)
{
    bool moved = false;
    if (p->up.len == 0) {
        ssize_t n = recv(p->c->pump_fd, p->up.b, sizeof(p->up.b), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            p->test_gone = true;
            return true;
        }
        if (n < 0)
            p->pair_ev |= POLLIN;
        p->up.off = 0;
        p->up.len = n > 0 ? (size_t)n : 0;
        moved = n > 0;
    }
    if (p->up.len > 0 && p->tls_gone)
        p->up.len = 0; /* nobody to send it to */
    if (p->up.len > p->up.off) {
        ERR_clear_error();
        int n = SSL_write(p->c->ssl, p->up.b + p->up.off, (int)(p->up.len - p->up.off));
        if (n > 0) {
            p->up.off += (size_t)n;
            if (p->up.off == p->up.len)
                p->up.off = p->up.len = 0;
            return true;
        }
        short ev = ssl_wants(p->c->ssl, n);
        p->tcp_ev |= ev;
        p->tls_gone = p->tls_gone || ev == 0;
        moved = moved || ev == 0;
    }
    return moved;
}

/* Server to test: read the SSL when `down` is empty, write `down` to the pair. True on
 * progress. */
static bool
pump_down(struct pump *p)
{
    bool moved = false;
    if (p->down.len == 0 && !p->tls_gone) {
        ERR_clear_error();
        int n = SSL_read(p->c->ssl, p->down.b, sizeof(p->down.b));
        if (n > 0) {
            p->down.off = 0;
            p->down.len = (size_t)n;
            moved = true;
        } else {
            short ev = ssl_wants(p->c->ssl, n);
            p->tcp_ev |= ev;
            if (ev == 0) {
                p->tls_gone = true;
                shutdown(p->c->pump_fd, SHUT_WR); /* the test reads EOF */
                return true;
            }
        }
    }
    if (p->down.len > p->down.off) {
        ssize_t n = send(p->c->pump_fd, p->down.b + p->down.off, p->down.len - p->down.off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            p->down.off += (size_t)n;
            if (p->down.off == p->down.len)
                p->down.off = p->down.len = 0;
            return true;
        }
        if (errno != EAGAIN && errno != EINTR)
            p->test_gone = true;
        else
            p->pair_ev |= POLLOUT;
    }
    return moved;
}

static void *
pump_main(void *arg)
{
    struct pump p = {.c = arg};
    while (!p.test_gone) {
        p.tcp_ev = p.pair_ev = 0;
        bool moved = pump_up(&p);
        if (!p.test_gone)
            moved = pump_down(&p) || moved;
        if (moved || p.test_gone)
            continue;
        struct pollfd pfd[2] = {{.fd = p.c->tcp, .events = p.tls_gone ? 0 : p.tcp_ev},
                                {.fd = p.c->pump_fd, .events = p.pair_ev}};
        int n = poll(pfd, 2, PUMP_IDLE_MS);
        if (n == 0)
            break;
    }
    if (!p.tls_gone) {
        ERR_clear_error();
        SSL_shutdown(p.c->ssl); /* one close_notify, not waiting for the server's */
    }
    close(p.c->tcp);
    close(p.c->pump_fd);
    ERR_clear_error();
    return NULL;
}

/* ---- the CLI tools ---- */

int
tls_s_client(const struct srv *s, int port, const char *input, const char *const args[], char *out,
             size_t outlen)
{
    char in[SRV_PATH_MAX], connect[64];
    srv_path(s, "s_client.in", in, sizeof(in));
    write_file(in, input != NULL ? input : "", input != NULL ? strlen(input) : 0);
    snprintf(connect, sizeof(connect), "127.0.0.1:%d", port);
    const char *argv[40] = {"openssl", "s_client", "-connect", connect, "-ign_eof"};
    int argc = 5;
    for (int i = 0; args != NULL && args[i] != NULL; i++) {
        ck_assert_int_lt(argc, 39);
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    int rc = tlsca_run(argv, in, out, outlen, TOOL_TIMEOUT_MS);
    ck_assert_msg(rc >= 0, "openssl s_client did not end:\n%s", out);
    return rc;
}

int
tls_curl(int port, const char *url, const char *out_path, char *text, size_t textlen)
{
    char ca[SRV_PATH_MAX], resolve[64];
    tlsca_path("ca.crt", ca, sizeof(ca));
    snprintf(resolve, sizeof(resolve), "localhost:%d:127.0.0.1", port);
    const char *argv[] = {"curl",       "-sS", "--cacert", ca,   "--resolve",
                          resolve,      "-o",  out_path,   "-w", "\n%{http_code}",
                          "--max-time", "20",  url,        NULL};
    int rc = tlsca_run(argv, NULL, text, textlen, TOOL_TIMEOUT_MS + 2000);
    ck_assert_msg(rc >= 0, "curl %s did not end:\n%s", url, text);
    const char *last = strrchr(text, '\n');
    return last != NULL ? atoi(last + 1) : 0;
}
