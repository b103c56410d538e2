/* The TLS tests' PKI (see tlsca.h), made with the openssl CLI, and the bounded runner of the CLI
 * tools. The PKI is made in the runner process by an unchecked fixture, so the forked test
 * processes inherit its path (and any error) and one run makes it once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "tlsca.h"

#include "proc.h"

#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OPENSSL_TIMEOUT_MS 20000

/* A leaf: <name>.crt and <name>.key, signed by <issuer>.crt, valid `days` from now. Names are
 * those of the default ("rsa"), unless the test is about names. Subjects hold no blanks: a
 * command line is split at blanks (ossl()). */
static const struct leaf {
    const char *name;
    const char *issuer;
    const char *newkey;
    const char *subj;
    const char *san; /* NULL: no subjectAltName, the name is only in the CN */
    const char *days;
    const char *serial;
} leaves[] = {
    {"rsa", "ca", "rsa:2048", "/O=sluice-rsa/CN=localhost", "DNS:localhost,IP:127.0.0.1", "30",
     TLSCA_SERIAL_RSA},
    {"ec", "ca", "ec", "/O=sluice-ec/CN=localhost", "DNS:localhost,IP:127.0.0.1", "30", "1002"},
    {"b", "ca", "ec", "/O=sluice-b/CN=b.test", "DNS:b.test", "30", "1003"},
    {"w", "ca", "ec", "/O=sluice-w/CN=w.test", "DNS:*.w.test", "30", "1004"},
    {"swap", "ca", "ec", "/O=sluice-swap/CN=localhost", "DNS:localhost,IP:127.0.0.1", "30",
     TLSCA_SERIAL_SWAP},
    {"cn", "ca", "ec", "/O=sluice-cn/CN=cn.test", NULL, "30", "1006"},
    {"leaf", "inter", "ec", "/O=sluice-chained/CN=localhost", "DNS:localhost,IP:127.0.0.1", "30",
     "1007"},
    {"soon", "ca", "ec", "/O=sluice-soon/CN=localhost", "DNS:localhost,IP:127.0.0.1", "3", "1008"},
};
/* Besides the leaves: ca.crt/.key (root) and inter.crt/.key (intermediate); chain.crt (leaf,
 * then inter: in order) and chain_bad.crt (leaf, ca, inter: the root did not issue the leaf),
 * both with leaf.key; enc.key (ec.key under a passphrase); expired.crt/.key (January 2020,
 * made with `openssl ca`, the only command that takes an end date in the past). */

static const char OPENSSL_CNF[] = "# t/integ/tlsca.c: the TLS tests' PKI\n"
                                  "[req]\n"
                                  "distinguished_name = dn\n"
                                  "[dn]\n"
                                  "[v3_ca]\n"
                                  "basicConstraints = critical,CA:true\n"
                                  "keyUsage = critical,keyCertSign,cRLSign\n"
                                  "subjectKeyIdentifier = hash\n"
                                  "[v3_leaf]\n"
                                  "basicConstraints = CA:false\n"
                                  "extendedKeyUsage = serverAuth\n"
                                  "subjectKeyIdentifier = hash\n"
                                  "authorityKeyIdentifier = keyid\n"
                                  "[ca]\n"
                                  "default_ca = test_ca\n"
                                  "[test_ca]\n"
                                  "database = cadb/index.txt\n"
                                  "new_certs_dir = cadb\n"
                                  "serial = cadb/serial\n"
                                  "default_md = sha256\n"
                                  "policy = policy_any\n"
                                  "copy_extensions = copy\n"
                                  "unique_subject = no\n"
                                  "x509_extensions = v3_leaf\n"
                                  "[policy_any]\n"
                                  "commonName = supplied\n";

static char pki_dir[512];
static char pki_err[4096]; /* why the PKI could not be made; "" when it was */
static bool pki_tried;
static pid_t pki_owner; /* the process that made it, and removes it at exit */

/* ---- running a tool ---- */

int
tlsca_run(const char *const argv[], const char *in, char *out, size_t outlen, int timeout_ms)
{
    return run_tool(NULL, argv, in, out, outlen, timeout_ms);
}

/* ---- making the PKI ---- */

/* One openssl command line (words split at blanks), run in the PKI dir. 0, or -1 with pki_err
 * set. */
static int ossl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
ossl(const char *fmt, ...)
{
    char line[1024], words[1024], out[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    snprintf(words, sizeof(words), "%s", line);
    const char *argv[48] = {"openssl"};
    int argc = 1;
    char *save = NULL;
    for (char *w = strtok_r(words, " ", &save); w != NULL && argc < 47;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    int rc = run_tool(pki_dir, argv, NULL, out, sizeof(out), OPENSSL_TIMEOUT_MS);
    if (rc != 0)
        snprintf(pki_err, sizeof(pki_err), "openssl %s: exit %d:\n%s", line, rc, out);
    return rc == 0 ? 0 : -1;
}

/* Write <pki dir>/<file> with `text`. 0, or -1 with pki_err set. */
static int
pki_write(const char *file, const char *text)
{
    char path[PROC_PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", pki_dir, file);
    FILE *f = fopen(path, "we");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        snprintf(pki_err, sizeof(pki_err), "write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* <pki dir>/<file> = the PEM files in `parts` (NULL-terminated), one after the other. 0, or -1
 * with pki_err set. */
static int
pki_concat(const char *file, const char *const parts[])
{
    char text[16384], path[PROC_PATH_MAX];
    size_t used = 0;
    for (int i = 0; parts[i] != NULL; i++) {
        snprintf(path, sizeof(path), "%s/%s", pki_dir, parts[i]);
        FILE *f = fopen(path, "re");
        size_t n = f != NULL ? fread(text + used, 1, sizeof(text) - 1 - used, f) : 0;
        if (f == NULL || ferror(f) || !feof(f)) {
            snprintf(pki_err, sizeof(pki_err), "read %s for %s", path, file);
            if (f != NULL)
                fclose(f);
            return -1;
        }
        fclose(f);
        used += n;
    }
    text[used] = '\0';
    return pki_write(file, text);
}

static int
make_leaf(const struct leaf *l)
{
    char addext[128] = "";
    if (l->san != NULL)
        snprintf(addext, sizeof(addext), " -addext subjectAltName=%s", l->san);
    const char *ec = strcmp(l->newkey, "ec") == 0 ? " -pkeyopt ec_paramgen_curve:P-256" : "";
    return ossl("req -x509 -config openssl.cnf -extensions v3_leaf -newkey %s%s -nodes -keyout "
                "%s.key -out %s.crt -subj %s%s -CA %s.crt -CAkey %s.key -days %s -set_serial 0x%s",
                l->newkey, ec, l->name, l->name, l->subj, addext, l->issuer, l->issuer, l->days,
                l->serial);
}

/* The certificate that expired in 2020: `openssl ca` with its database in cadb/. */
static int
make_expired(void)
{
    char path[PROC_PATH_MAX];
    snprintf(path, sizeof(path), "%s/cadb", pki_dir);
    if (mkdir(path, 0700) != 0) {
        snprintf(pki_err, sizeof(pki_err), "mkdir %s: %s", path, strerror(errno));
        return -1;
    }
    if (pki_write("cadb/index.txt", "") < 0 || pki_write("cadb/serial", "1009\n") < 0)
        return -1;
    if (ossl("req -new -config openssl.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout expired.key -out expired.csr -subj /O=sluice-expired/CN=localhost "
             "-addext subjectAltName=DNS:localhost,IP:127.0.0.1") < 0)
        return -1;
    return ossl("ca -batch -config openssl.cnf -cert ca.crt -keyfile ca.key -in expired.csr -out "
                "expired.crt -startdate 20200101000000Z -enddate 20200201000000Z -notext");
}

static int
make_pki(void)
{
    if (pki_write("openssl.cnf", OPENSSL_CNF) < 0)
        return -1;
    if (ossl("req -x509 -config openssl.cnf -extensions v3_ca -newkey ec -pkeyopt "
             "ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -subj "
             "/O=sluice-test/CN=sluice-test-root -days 30 -set_serial 1") < 0)
        return -1;
    if (ossl("req -x509 -config openssl.cnf -extensions v3_ca -newkey ec -pkeyopt "
             "ec_paramgen_curve:P-256 -nodes -keyout inter.key -out inter.crt -subj "
             "/O=sluice-test/CN=sluice-test-intermediate -CA ca.crt -CAkey ca.key -days 30 "
             "-set_serial 2") < 0)
        return -1;
    for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
        if (make_leaf(&leaves[i]) < 0)
            return -1;
    static const char *const chain[] = {"leaf.crt", "inter.crt", NULL};
    static const char *const chain_bad[] = {"leaf.crt", "ca.crt", "inter.crt", NULL};
    if (pki_concat("chain.crt", chain) < 0 || pki_concat("chain_bad.crt", chain_bad) < 0)
        return -1;
    if (ossl("pkey -in ec.key -aes256 -passout pass:x -out enc.key") < 0)
        return -1;
    return make_expired();
}

/* At the runner's exit; a forked test process inherits the handler but not the ownership. */
static void
remove_pki(void)
{
    if (getpid() != pki_owner || pki_dir[0] == '\0' || getenv("SLUICE_TEST_KEEP") != NULL)
        return;
    rm_tree(pki_dir, "/sluice-tlsca-");
}

void
tlsca_setup(void)
{
    if (pki_tried)
        return;
    pki_tried = true;
    const char *tmp = getenv("TMPDIR");
    snprintf(pki_dir, sizeof(pki_dir), "%s/sluice-tlsca-XXXXXX",
             tmp != NULL && *tmp ? tmp : "/tmp");
    errno = 0;
    if (strchr(pki_dir, ' ') != NULL || mkdtemp(pki_dir) == NULL) {
        snprintf(pki_err, sizeof(pki_err), "PKI dir %s: %s", pki_dir,
                 errno ? strerror(errno) : "blanks in TMPDIR");
        pki_dir[0] = '\0';
        return;
    }
    pki_owner = getpid();
    atexit(remove_pki);
    int64_t t0 = now_ms();
    if (make_pki() < 0)
        fprintf(stderr, "tlsca: cannot make the test PKI in %s: %s\n", pki_dir, pki_err);
    else if (getenv("SLUICE_TEST_VERBOSE") != NULL)
        fprintf(stderr, "tlsca: PKI in %s made in %lld ms\n", pki_dir, (long long)(now_ms() - t0));
}

char *
tlsca_path(const char *file, char *buf, size_t len)
{
    tlsca_setup(); /* a test case without the fixture makes its own */
    ck_assert_msg(pki_err[0] == '\0', "test PKI: %s", pki_err);
    int n = snprintf(buf, len, "%s/%s", pki_dir, file);
    ck_assert_msg(n > 0 && (size_t)n < len, "path too long: %s/%s", pki_dir, file);
    return buf;
}
