/* The fuzzer's TLS mode (see tls_first.h). The first bytes of a TLS connection are read from a
 * real socket (the transport peeks at them), so this mode uses a socketpair rather than the
 * memory transport of client.c. */
#include "t/fuzz/tls_first.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/shm.h"
#include "common/tls.h"
#include "common/tls_keys.h"
#include "t/fuzz/fuzz.h"
#include "worker/tls.h"

#define TLS_IN_MAX 65536 /* fits the socketpair's buffer: written at once */
#define STEPS_MAX 64

static struct shm_worker tls_stats;
static struct tls_set *set;

/* A self-signed ECDSA certificate for `name`, and its key, as PEM files dir/name.pem, .key. */
static void
write_cert(const char *dir, const char *name, struct cfg_pem *cert, struct cfg_pem *key)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    if (pk == NULL || x == NULL)
        fuzz_fail("tls: cannot make a key");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_set_pubkey(x, pk);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, nm);
    if (X509_sign(x, pk, EVP_sha256()) <= 0)
        fuzz_fail("tls: cannot sign");
    snprintf(cert->path, sizeof(cert->path), "%s/%s.pem", dir, name);
    snprintf(key->path, sizeof(key->path), "%s/%s.key", dir, name);
    FILE *fc = fopen(cert->path, "w"), *fk = fopen(key->path, "w");
    if (fc == NULL || fk == NULL || PEM_write_X509(fc, x) != 1 ||
        PEM_write_PrivateKey(fk, pk, NULL, NULL, 0, NULL, NULL) != 1)
        fuzz_fail("tls: cannot write %s", cert->path);
    fclose(fc);
    fclose(fk);
    X509_free(x);
    EVP_PKEY_free(pk);
}

void
tls_first_setup(void)
{
    static struct cfg cfg;
    char err[CFG_ERR_MAX], dir[CFG_PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/fuzz-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        fuzz_fail("tls: mkdtemp %s: %s", dir, strerror(errno));
    cfg_defaults(&cfg);
    write_cert(dir, "localhost", &cfg.certificate[0], &cfg.certificate_key[0]);
    write_cert(dir, "b.test", &cfg.certificate[1], &cfg.certificate_key[1]);
    cfg.ncertificate = cfg.ncertificate_key = 2;
    if (tls_keys_init() < 0 || (set = tls_set_build(&cfg, NULL, NULL, err, sizeof(err))) == NULL)
        fuzz_fail("tls: building the contexts: %s", err);
    for (int i = 0; i < 2; i++) {
        unlink(cfg.certificate[i].path);
        unlink(cfg.certificate_key[i].path);
    }
    rmdir(dir);
}

/* What the client side received, up to `cap` bytes. */
static size_t
drain(int fd, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        uint8_t sink[4096];
        ssize_t k = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
        if (k <= 0)
            return n;
        size_t take = (size_t)k < cap - n ? (size_t)k : cap - n;
        memcpy(out + n, sink, take);
        n += take;
    }
}

static bool
starts_like_http(const uint8_t *in, size_t len)
{
    size_t i = 0;
    while (i < len && i < 8 && in[i] >= 'A' && in[i] <= 'Z')
        i++;
    return i > 0 && (i == len || i == 8 || in[i] == ' ');
}

/* Run the handshake until it is done, fails, or waits for bytes that will not come; *err gets
 * the errno of its last step. */
static int
drive(int fd, void *ctx, int peer, uint8_t *out, size_t cap, size_t *got, int *err)
{
    int rc = -1;
    for (int i = 0; i < STEPS_MAX; i++) {
        enum transport_want want = TRANSPORT_WANT_READ;
        rc = transport_tls.handshake(fd, ctx, &want);
        *err = rc == 0 ? 0 : errno;
        if (rc == 0 || *err != EAGAIN || want == TRANSPORT_WANT_READ)
            break;
        *got += drain(peer, out + *got, cap - *got); /* it waits to write: make room */
    }
    *got += drain(peer, out + *got, cap - *got);
    return rc;
}

static void
check(const uint8_t *in, size_t len, int rc, int err, const uint8_t *out, size_t n)
{
    static const char answer[] = "HTTP/1.1 400 Bad Request\r\n";
    if (len == 0)
        return;
    if (in[0] != 0x16) {
        if (rc == 0 || err == EAGAIN)
            fuzz_fail("tls: a connection starting with %#x was kept", in[0]);
        if (starts_like_http(in, len) ? n < sizeof(answer) - 1 || memcmp(out, answer, 26) != 0
                                      : n != 0)
            fuzz_fail("tls: %zu bytes of plaintext back for input starting %#x", n, in[0]);
        return;
    }
    /* A handshake record: only TLS records (handshake or alert) may come back. */
    if (n > 0 && out[0] != 0x16 && out[0] != 0x15)
        fuzz_fail("tls: a reply to a ClientHello starts with %#x", out[0]);
}

void
tls_first_run(const uint8_t *in, size_t len, bool eof)
{
    static uint8_t out[1 << 16];
    int sv[2];
    void *ctx = NULL;
    size_t got = 0;
    if (len > TLS_IN_MAX)
        len = TLS_IN_MAX;
    tls_transport_init(tls_set_ctx(set), &tls_stats);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        fuzz_fail("tls: socketpair: %s", strerror(errno));
    if (len > 0 && send(sv[1], in, len, MSG_NOSIGNAL) != (ssize_t)len)
        fuzz_fail("tls: the socketpair took less than %zu bytes", len);
    if (eof)
        shutdown(sv[1], SHUT_WR);
    if (transport_tls.open(sv[0], &ctx) < 0)
        fuzz_fail("tls: open failed");
    int err;
    int rc = drive(sv[0], ctx, sv[1], out, sizeof(out), &got, &err);
    check(in, len, rc, err, out, got);
    if (rc == 0) { /* a whole handshake: what the transport holds must be readable */
        uint8_t buf[256];
        enum transport_want want = TRANSPORT_WANT_READ;
        while (transport_tls.pending(ctx) > 0 &&
               transport_tls.recv(sv[0], ctx, buf, sizeof(buf), &want) > 0)
            ;
    }
    transport_tls.shutdown(sv[0], ctx);
    transport_tls.release(ctx);
    close(sv[0]);
    close(sv[1]);
}
