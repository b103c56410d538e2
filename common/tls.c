/* Building a generation's TLS contexts (see tls.h). */
#include "common/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tls_keys.h"

#define GROUP_CERTS 4 /* key types for the same names: RSA, ECDSA, Ed25519, Ed448 */

struct tls_group {
    SSL_CTX *ctx;
    X509 *leaf; /* its first certificate: SNI matches names against it */
    int types[GROUP_CERTS];
    int ntypes;
    char names[sizeof(((struct tls_cert *)0)->names)];
};

struct tls_set {
    struct tls_group group[CFG_MAX_CERTS];
    int ngroups;
};

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* ALPN: http/1.1 when the client offers it; else no ALPN at all (a client offering only h2
 * gets a handshake without it, and may then speak HTTP/1.1 or leave). */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned inlen, void *arg)
{
    (void)ssl, (void)arg;
    for (unsigned i = 0; i < inlen; i += 1u + in[i])
        if (in[i] == 8 && i + 9 <= inlen && memcmp(in + i, alpn_http11, 9) == 0) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_NOACK;
}

/* SNI: the first group whose certificate names match; none, or no name: the first group. */
static int
servername(SSL *ssl, int *alert, void *arg)
{
    const struct tls_set *set = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    (void)alert;
    if (name == NULL)
        return SSL_TLSEXT_ERR_OK;
    for (int g = 0; g < set->ngroups; g++)
        if (X509_check_host(set->group[g].leaf, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                            NULL) == 1) {
            if (g > 0 && SSL_set_SSL_CTX(ssl, set->group[g].ctx) == NULL)
                return SSL_TLSEXT_ERR_ALERT_FATAL;
            break;
        }
    return SSL_TLSEXT_ERR_OK;
}

/* "FILE:LINE: KEY" of a key with a recorded line, "FILE: KEY" for its default. */
static void
key_at(const struct cfg *cfg, int line, const char *key, char *buf, size_t len)
{
    if (line)
        snprintf(buf, len, "%s:%d: %s", cfg->file, line, key);
    else
        snprintf(buf, len, "%s%s%s", cfg->file, cfg->file[0] ? ": " : "", key);
}

static int
set_versions(SSL_CTX *ctx, const struct cfg *cfg)
{
    int min = cfg->tls_protocols & CFG_TLS_V12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    int max = cfg->tls_protocols & CFG_TLS_V13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    return SSL_CTX_set_min_proto_version(ctx, min) == 1 &&
                   SSL_CTX_set_max_proto_version(ctx, max) == 1
               ? 0
               : -1;
}

/* The settings every context of the set shares. */
static SSL_CTX *
new_ctx(const struct cfg *cfg, struct tls_set *set, char *err, size_t errlen)
{
    static const unsigned char sid_ctx[] = "sluice";
    char at[CFG_PATH_MAX + 32];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "%s: TLS: cannot create a context (%s)",
                 cfg->file[0] ? cfg->file : "built-in defaults", tls_reason());
        return NULL;
    }
    /* A client that closes without close_notify ends its stream like any other: HTTP frames
     * its messages itself. */
    uint64_t opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF;
    if (cfg->tls_prefer_server_ciphers)
        opts |= SSL_OP_CIPHER_SERVER_PREFERENCE;
    SSL_CTX_set_options(ctx, opts);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_read_ahead(ctx, 1); /* a record in one recv; the transport's pending() sees it */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_max_early_data(ctx, 0);
    SSL_CTX_set_recv_max_early_data(ctx, 0);
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, set);
    tls_keys_use(ctx);
    const char *bad = NULL;
    if (set_versions(ctx, cfg) < 0)
        key_at(cfg, cfg->tls_protocols_line, "tls_protocols", at, sizeof(at)), bad = "versions";
    else if (SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1)
        key_at(cfg, cfg->tls_ciphers_line, "tls_ciphers", at, sizeof(at)), bad = cfg->tls_ciphers;
    else if (SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1)
        key_at(cfg, cfg->tls_ciphersuites_line, "tls_ciphersuites", at, sizeof(at)),
            bad = cfg->tls_ciphersuites;
    if (bad == NULL)
        return ctx;
    snprintf(err, errlen, "%s: OpenSSL accepts none of '%s' (%s)", at, bad, tls_reason());
    SSL_CTX_free(ctx);
    return NULL;
}

/* The group certificate c joins: one with its names that lacks its key type, else a new one. */
static struct tls_group *
group_for(struct tls_set *set, const struct tls_cert *c, const struct cfg *cfg, char *err,
          size_t errlen)
{
    for (int g = 0; g < set->ngroups; g++) {
        struct tls_group *gr = &set->group[g];
        bool has_type = false;
        for (int t = 0; t < gr->ntypes; t++)
            has_type |= gr->types[t] == c->key_type;
        if (strcmp(gr->names, c->names) == 0 && !has_type && gr->ntypes < GROUP_CERTS)
            return gr;
    }
    struct tls_group *gr = &set->group[set->ngroups];
    if ((gr->ctx = new_ctx(cfg, set, err, errlen)) == NULL)
        return NULL;
    set->ngroups++;
    gr->leaf = c->leaf;
    X509_up_ref(gr->leaf);
    snprintf(gr->names, sizeof(gr->names), "%s", c->names);
    return gr;
}

static int
add_cert(struct tls_set *set, const struct cfg *cfg, int i, const struct tls_cert *c, char *err,
         size_t errlen)
{
    struct tls_group *gr = group_for(set, c, cfg, err, errlen);
    if (gr == NULL)
        return -1;
    gr->types[gr->ntypes++] = c->key_type;
    int ok = SSL_CTX_use_certificate(gr->ctx, c->leaf) == 1 &&
             SSL_CTX_use_PrivateKey(gr->ctx, c->key) == 1;
    for (int k = 0; ok && k < sk_X509_num(c->chain); k++)
        ok = SSL_CTX_add1_chain_cert(gr->ctx, sk_X509_value(c->chain, k)) == 1;
    if (ok)
        return 0;
    snprintf(err, errlen, "%s:%d: certificate: '%s': OpenSSL refuses it (%s)", cfg->file,
             cfg->certificate[i].line, cfg->certificate[i].path, tls_reason());
    return -1;
}

struct tls_set *
tls_set_build(const struct cfg *cfg, tls_warn_fn *warn, void *arg, char *err, size_t errlen)
{
    err[0] = '\0';
    if (cfg->ncertificate == 0)
        return NULL;
    struct tls_set *set = calloc(1, sizeof(*set));
    if (set == NULL) {
        snprintf(err, errlen, "%s: TLS: out of memory", cfg->file);
        return NULL;
    }
    for (int i = 0; i < cfg->ncertificate; i++) {
        struct tls_cert c;
        if (tls_cert_load(cfg, i, &c, warn, arg, err, errlen) < 0) {
            tls_set_free(set);
            return NULL;
        }
        int rc = add_cert(set, cfg, i, &c, err, errlen);
        tls_cert_free(&c); /* the contexts hold their own references */
        if (rc < 0) {
            tls_set_free(set);
            return NULL;
        }
    }
    ERR_clear_error();
    return set;
}

void
tls_set_free(struct tls_set *set)
{
    if (set == NULL)
        return;
    for (int g = 0; g < set->ngroups; g++) {
        SSL_CTX_free(set->group[g].ctx);
        X509_free(set->group[g].leaf);
    }
    free(set);
}

SSL_CTX *
tls_set_ctx(const struct tls_set *set)
{
    return set ? set->group[0].ctx : NULL;
}
