/* Integration tests of the TLS configuration as `sluice -t` checks it: every certificate and
 * key is loaded, and each kind of mistake is refused with "sluice: FILE:LINE: KEY: ..." on
 * stderr and exit status 1; a certificate that expires within 14 days (or has) is a warning
 * only. Certificates come from the test PKI (tlsca.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "test_tls.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- helpers ---- */

/* "certificate = <pki>/<crt>\ncertificate_key = <pki>/<key>\n" appended to buf; crt or key
 * NULL leaves that line out. */
static void
pem_lines(char *buf, size_t len, const char *crt, const char *key)
{
    char path[SRV_PATH_MAX];
    size_t used = strlen(buf);
    if (crt != NULL)
        used += (size_t)snprintf(buf + used, len - used, "certificate = %s\n",
                                 tlsca_path(crt, path, sizeof(path)));
    if (key != NULL)
        snprintf(buf + used, len - used, "certificate_key = %s\n",
                 tlsca_path(key, path, sizeof(path)));
}

/* sluice.ini: the harness defaults, then a TLS listener, then `lines`. */
static void
write_tls_config(struct srv *s, const char *lines)
{
    char cfg[8192];
    int n = snprintf(cfg, sizeof(cfg), "listen = 127.0.0.1:0 tls\n%s", lines);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(cfg), "config over %zu bytes", sizeof(cfg));
    srv_write_config(s, cfg);
}

/* Write sluice.ini (write_tls_config) and run -t: exit 1,
 * and stderr names the file, the line holding `at` and `key`, and holds `word` (may be NULL). */
static void
assert_refused(struct srv *s, const char *lines, const char *at, const char *key, const char *word,
               const char *what)
{
    char out[TLS_OUT_MAX], err[TLS_OUT_MAX], want[SRV_PATH_MAX + 128];
    write_tls_config(s, lines);
    int rc = tls_config_test(s, out, err);
    snprintf(want, sizeof(want), "sluice: %s:%d: %s: ", s->cfg, tls_cfg_line(s, at), key);
    ck_assert_msg(rc == 1 && strstr(err, want) != NULL, "%s: -t exit %d, want 1 and '%s' in:\n%s",
                  what, rc, want, err);
    ck_assert_msg(word == NULL || strcasestr(strstr(err, want), word) != NULL,
                  "%s: '%s' not in the message:\n%s", what, word, err);
}

/* -t on a config serving crt/key: exit 0; returns whether stderr has a line that holds both
 * "warning" and "expire" (the line into line). */
static bool
expiry_warned(struct srv *s, const char *crt, const char *key, char *line, size_t len)
{
    char cfg[4096] = "listen = 127.0.0.1:0 tls\n", out[TLS_OUT_MAX], err[TLS_OUT_MAX];
    pem_lines(cfg, sizeof(cfg), crt, key);
    srv_write_config(s, cfg);
    int rc = tls_config_test(s, out, err);
    ck_assert_msg(rc == 0 && strstr(err, "test is successful") != NULL,
                  "-t serving %s: exit %d, want 0:\n%s", crt, rc, err);
    line[0] = '\0';
    for (char *l = strtok(err, "\n"); l != NULL; l = strtok(NULL, "\n"))
        if (strcasestr(l, "warning") != NULL && strcasestr(l, "expire") != NULL) {
            snprintf(line, len, "%s", l);
            return true;
        }
    return false;
}

/* ---- refused ---- */

/* A certificate file that is missing, one with no certificate in it (a key file), and a chain
 * whose second certificate did not issue the first: each on its `certificate` line. */
START_TEST(t_refuses_bad_certificate_files)
{
    struct srv s;
    char lines[2048] = "", missing[SRV_PATH_MAX + 16];
    srv_init(&s);
    snprintf(missing, sizeof(missing), "%s/missing.crt", s.dir);
    snprintf(lines, sizeof(lines), "certificate = %s\n", missing);
    pem_lines(lines, sizeof(lines), NULL, "rsa.key");
    assert_refused(&s, lines, "missing.crt", "certificate", NULL, "missing file");

    lines[0] = '\0';
    pem_lines(lines, sizeof(lines), "rsa.key", "rsa.key");
    assert_refused(&s, lines, "certificate = ", "certificate", NULL, "file with no certificate");

    lines[0] = '\0';
    pem_lines(lines, sizeof(lines), "chain_bad.crt", "leaf.key");
    assert_refused(&s, lines, "chain_bad.crt", "certificate", "chain", "chain out of order");
    srv_finish(&s);
}
END_TEST

/* A key that belongs to another certificate, and an encrypted key: each on its
 * `certificate_key` line. */
START_TEST(t_refuses_bad_keys)
{
    struct srv s;
    char lines[2048] = "";
    srv_init(&s);
    pem_lines(lines, sizeof(lines), "ec.crt", "b.key");
    assert_refused(&s, lines, "b.key", "certificate_key", "does not match", "mismatched key");

    lines[0] = '\0';
    pem_lines(lines, sizeof(lines), "ec.crt", "enc.key");
    assert_refused(&s, lines, "enc.key", "certificate_key", "encrypted", "encrypted key");
    srv_finish(&s);
}
END_TEST

/* Two certificates and one key; one certificate and two keys; a TLS listener and no
 * certificate at all. */
START_TEST(t_refuses_unpaired_and_missing)
{
    struct srv s;
    char lines[2048] = "";
    srv_init(&s);
    pem_lines(lines, sizeof(lines), "rsa.crt", "rsa.key");
    pem_lines(lines, sizeof(lines), "b.crt", NULL);
    assert_refused(&s, lines, "b.crt", "certificate", NULL, "a certificate without a key");

    lines[0] = '\0';
    pem_lines(lines, sizeof(lines), "rsa.crt", "rsa.key");
    pem_lines(lines, sizeof(lines), NULL, "b.key");
    assert_refused(&s, lines, "b.key", "certificate_key", NULL, "a key without a certificate");

    assert_refused(&s, "", "listen = 127.0.0.1:0 tls", "listen", "certificate",
                   "a tls listener and no certificate");
    srv_finish(&s);
}
END_TEST

/* Cipher lists OpenSSL cannot use (TLS 1.2 and 1.3), and TLSv1.1. */
START_TEST(t_refuses_bad_tls_settings)
{
    struct srv s;
    char lines[2048] = "";
    srv_init(&s);
    pem_lines(lines, sizeof(lines), "rsa.crt", "rsa.key");
    size_t used = strlen(lines);
    snprintf(lines + used, sizeof(lines) - used, "tls_ciphers = NO-SUCH-CIPHER\n");
    assert_refused(&s, lines, "tls_ciphers", "tls_ciphers", NULL, "bad tls_ciphers");
    snprintf(lines + used, sizeof(lines) - used, "tls_ciphersuites = NO_SUCH_SUITE\n");
    assert_refused(&s, lines, "tls_ciphersuites", "tls_ciphersuites", NULL, "bad tls_ciphersuites");
    snprintf(lines + used, sizeof(lines) - used, "tls_protocols = TLSv1.1\n");
    assert_refused(&s, lines, "tls_protocols", "tls_protocols", NULL, "tls_protocols TLSv1.1");
    snprintf(lines + used, sizeof(lines) - used, "tls_protocols = TLSv1.2 TLSv1.1\n");
    assert_refused(&s, lines, "tls_protocols", "tls_protocols", NULL,
                   "tls_protocols TLSv1.2 TLSv1.1");
    srv_finish(&s);
}
END_TEST

/* 16 certificates with their keys load; a 17th is refused on its line. */
START_TEST(t_certificate_limit_16)
{
    static const char sixteen[] = "rsa ec b w swap cn rsa ec b w swap cn rsa ec b w";
    struct srv s;
    char lines[6144] = "", out[TLS_OUT_MAX], err[TLS_OUT_MAX];
    srv_init(&s);
    tls_cert_lines(lines, sizeof(lines), sixteen);
    write_tls_config(&s, lines);
    int rc = tls_config_test(&s, out, err);
    ck_assert_msg(rc == 0, "-t with 16 certificates: exit %d:\n%s", rc, err);
    pem_lines(lines, sizeof(lines), "leaf.crt", "leaf.key");
    assert_refused(&s, lines, "leaf.crt", "certificate", "16", "a 17th certificate");
    srv_finish(&s);
}
END_TEST

/* ---- accepted ---- */

/* Every certificate of a good config loads: several certificates, a chain, both key types;
 * exit 0 and no expiry warning. */
START_TEST(t_accepts_good_tls_config)
{
    struct srv s;
    char cfg[4096] = "listen = 127.0.0.1:0\nlisten = 127.0.0.1:0 tls\n", out[TLS_OUT_MAX],
         err[TLS_OUT_MAX];
    srv_init(&s);
    tls_cert_lines(cfg, sizeof(cfg), "rsa ec b w cn");
    pem_lines(cfg, sizeof(cfg), "chain.crt", "leaf.key");
    size_t used = strlen(cfg);
    snprintf(cfg + used, sizeof(cfg) - used,
             "tls_protocols = TLSv1.2 TLSv1.3\ntls_ciphers = ECDHE+AESGCM\n"
             "tls_ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384\n"
             "tls_prefer_server_ciphers = on\n");
    srv_write_config(&s, cfg);
    int rc = tls_config_test(&s, out, err);
    ck_assert_msg(rc == 0 && strstr(err, "test is successful") != NULL, "-t: exit %d:\n%s", rc,
                  err);
    ck_assert_msg(strcasestr(err, "expire") == NULL,
                  "an expiry warning for valid certificates:\n%s", err);
    srv_finish(&s);
}
END_TEST

/* A certificate that expires in 3 days, and one that expired in 2020: -t warns about each and
 * still succeeds. */
START_TEST(t_warns_on_expiry)
{
    struct srv s;
    char line[1024];
    srv_init(&s);
    ck_assert_msg(expiry_warned(&s, "soon.crt", "soon.key", line, sizeof(line)),
                  "no warning for a certificate that expires in 3 days");
    ck_assert_msg(expiry_warned(&s, "expired.crt", "expired.key", line, sizeof(line)),
                  "no warning for a certificate that expired in 2020");
    ck_assert_msg(!expiry_warned(&s, "rsa.crt", "rsa.key", line, sizeof(line)),
                  "a warning for a certificate valid 30 days: %s", line);
    srv_finish(&s);
}
END_TEST

Suite *
integ_tls_config_suite(void)
{
    Suite *s = suite_create("integ_tls_config");
    TCase *tc = tcase_create("refused");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, t_refuses_bad_certificate_files);
    tcase_add_test(tc, t_refuses_bad_keys);
    tcase_add_test(tc, t_refuses_unpaired_and_missing);
    tcase_add_test(tc, t_refuses_bad_tls_settings);
    tcase_add_test(tc, t_certificate_limit_16);
    suite_add_tcase(s, tc);

    tc = tcase_create("accepted");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, t_accepts_good_tls_config);
    tcase_add_test(tc, t_warns_on_expiry);
    suite_add_tcase(s, tc);
    return s;
}
