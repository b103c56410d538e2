/* Reading and checking a certificate and its key (see tls_cert.h). */
#include "common/tls_cert.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXPIRY_WARN_DAYS 14
#define MAX_NAMES 64

/* "FILE:LINE: " of certificate or certificate_key i. */
static void
where(const struct cfg *cfg, const struct cfg_pem *pem, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%d", cfg->file, pem->line);
}

const char *
tls_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "unknown error";
}

static int
read_certs(FILE *fp, struct tls_cert *c)
{
    c->leaf = PEM_read_X509(fp, NULL, NULL, NULL);
    if (c->leaf == NULL)
        return -1;
    c->chain = sk_X509_new_null();
    if (c->chain == NULL)
        return -1;
    X509 *x;
    while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(c->chain, x)) {
            X509_free(x);
            return -1;
        }
    ERR_clear_error(); /* the end of the file reads as "no start line" */
    return 0;
}

/* The n-th certificate of the file, 0 being the server's. */
static X509 *
nth(const struct tls_cert *c, int n)
{
    return n == 0 ? c->leaf : sk_X509_value(c->chain, n - 1);
}

/* Certificate n+1 must have issued certificate n. */
static int
check_order(const struct tls_cert *c, const char *at, const char *path, char *err, size_t errlen)
{
    int n = sk_X509_num(c->chain);
    for (int i = 0; i < n; i++)
        if (X509_check_issued(nth(c, i + 1), nth(c, i)) != X509_V_OK) {
            snprintf(err, errlen,
                     "%s: certificate: '%s': certificate %d of the file did not issue "
                     "certificate %d: the chain must go from the server's certificate up, each "
                     "followed by its issuer",
                     at, path, i + 2, i + 1);
            return -1;
        }
    return 0;
}

static void
check_expiry(const struct tls_cert *c, const char *at, const char *path, tls_warn_fn *warn,
             void *arg)
{
    int days = 0, secs = 0;
    char msg[CFG_PATH_MAX + 256], date[64];
    if (warn == NULL || !ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(c->leaf)))
        return;
    tls_cert_not_after(c->leaf, date, sizeof(date));
    if (days < 0 || secs < 0 || (days == 0 && secs == 0))
        snprintf(msg, sizeof(msg), "%s: certificate: '%s' has expired (%s)", at, path, date);
    else if (days < EXPIRY_WARN_DAYS)
        snprintf(msg, sizeof(msg), "%s: certificate: '%s' expires in %d day%s (%s)", at, path, days,
                 days == 1 ? "" : "s", date);
    else
        return;
    warn(arg, msg);
}

static int
cmp_names(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

/* c->names: the DNS names of the subjectAltName, else the CN, sorted and joined by spaces. */
static void
collect_names(struct tls_cert *c)
{
    char *names[MAX_NAMES];
    int n = 0;
    char cn[256];
    GENERAL_NAMES *san = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; san && i < sk_GENERAL_NAME_num(san) && n < MAX_NAMES; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
        if (g->type == GEN_DNS)
            names[n++] = (char *)ASN1_STRING_get0_data(g->d.dNSName);
    }
    if (n == 0 && X509_NAME_get_text_by_NID(X509_get_subject_name(c->leaf), NID_commonName, cn,
                                            sizeof(cn)) > 0)
        names[n++] = cn;
    qsort(names, (size_t)n, sizeof(names[0]), cmp_names);
    size_t off = 0;
    c->names[0] = '\0';
    for (int i = 0; i < n && off < sizeof(c->names); i++)
        off += (size_t)snprintf(c->names + off, sizeof(c->names) - off, "%s%s", i ? " " : "",
                                names[i]);
    GENERAL_NAMES_free(san);
}

/* No passphrase is ever given: a key that needs one is refused, never prompted for. */
static int
no_passphrase(char *buf, int size, int rwflag, void *asked)
{
    (void)buf, (void)size, (void)rwflag;
    *(int *)asked = 1;
    return -1;
}

static int
load_key(const struct cfg *cfg, int i, struct tls_cert *c, char *err, size_t errlen)
{
    const struct cfg_pem *pem = &cfg->certificate_key[i];
    char at[CFG_PATH_MAX + 16];
    int asked = 0;
    where(cfg, pem, at, sizeof(at));
    FILE *fp = fopen(pem->path, "re");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: certificate_key: cannot read '%s': %s", at, pem->path,
                 strerror(errno));
        return -1;
    }
    c->key = PEM_read_PrivateKey(fp, NULL, no_passphrase, &asked);
    fclose(fp);
    if (c->key == NULL && asked)
        snprintf(err, errlen,
                 "%s: certificate_key: '%s' is encrypted: sluice does not ask for passphrases "
                 "(store it decrypted, readable by root only: openssl pkey -in KEY -out NEW)",
                 at, pem->path);
    else if (c->key == NULL)
        snprintf(err, errlen, "%s: certificate_key: no private key in '%s' (%s)", at, pem->path,
                 tls_reason());
    else if (X509_check_private_key(c->leaf, c->key) != 1)
        snprintf(err, errlen, "%s: certificate_key: '%s' does not match certificate '%s' (line %d)",
                 at, pem->path, cfg->certificate[i].path, cfg->certificate[i].line);
    else
        return 0;
    return -1;
}

int
tls_cert_load(const struct cfg *cfg, int i, struct tls_cert *c, tls_warn_fn *warn, void *arg,
              char *err, size_t errlen)
{
    const struct cfg_pem *pem = &cfg->certificate[i];
    char at[CFG_PATH_MAX + 16];
    memset(c, 0, sizeof(*c));
    where(cfg, pem, at, sizeof(at));
    ERR_clear_error();
    FILE *fp = fopen(pem->path, "re");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: certificate: cannot read '%s': %s", at, pem->path,
                 strerror(errno));
        return -1;
    }
    int rc = read_certs(fp, c);
    fclose(fp);
    if (rc < 0)
        snprintf(err, errlen, "%s: certificate: no PEM certificate in '%s' (%s)", at, pem->path,
                 tls_reason());
    if (rc == 0)
        rc = check_order(c, at, pem->path, err, errlen);
    if (rc == 0)
        rc = load_key(cfg, i, c, err, errlen);
    if (rc < 0) {
        tls_cert_free(c);
        ERR_clear_error();
        return -1;
    }
    c->key_type = EVP_PKEY_get_base_id(c->key);
    collect_names(c);
    check_expiry(c, at, pem->path, warn, arg);
    return 0;
}

void
tls_cert_free(struct tls_cert *c)
{
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    memset(c, 0, sizeof(*c));
}

void
tls_cert_not_after(const X509 *x, char *buf, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    buf[0] = '\0';
    if (b == NULL)
        return;
    if (ASN1_TIME_print(b, X509_get0_notAfter(x)) > 0) {
        int n = BIO_read(b, buf, (int)len - 1);
        buf[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}
