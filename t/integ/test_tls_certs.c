/* Integration tests of what a TLS listener presents: the certificate SNI picks (exact names,
 * one-label wildcards, CN when there is no subjectAltName, the default otherwise), RSA or ECDSA
 * by what the client can verify, the intermediate sent with the leaf, and the cipher settings
 * (tls_ciphers, tls_ciphersuites, tls_prefer_server_ciphers). A real sluice and a TLS client
 * on OpenSSL (test_tls.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "test_tls.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RSA_SUBJECT "/O=sluice-rsa/CN=localhost"
#define EC_SUBJECT "/O=sluice-ec/CN=localhost"

/* ---- helpers ---- */

/* Handshake with `o` and check the certificate the server chose (and, with `verify`, that it
 * verifies for o->sni). */
static void
assert_served(int port, const struct tls_opts *o, const char *subject, bool verify,
              const char *what)
{
    struct tls_conn c;
    tls_connect_ok(port, o, &c, what);
    ck_assert_msg(strcmp(c.subject, subject) == 0, "%s: certificate %s, want %s", what, c.subject,
                  subject);
    ck_assert_msg(!verify || c.verified, "%s: %s does not verify: %s", what, c.subject,
                  c.verify_err);
    tls_close(&c);
}

/* The cipher a handshake with `o` agrees on; fails the test when it does not complete. */
static const char *
cipher_of(int port, const struct tls_opts *o, char *buf, size_t len, const char *what)
{
    struct tls_conn c;
    tls_connect_ok(port, o, &c, what);
    snprintf(buf, len, "%s", c.cipher);
    tls_close(&c);
    return buf;
}

/* tls_start with a certificate file and a key file of the PKI (not a <name>.crt/.key pair). */
static void
start_with_files(struct srv *s, const char *crt, const char *key)
{
    char cfg[2048], crt_path[SRV_PATH_MAX], key_path[SRV_PATH_MAX];
    snprintf(cfg, sizeof(cfg), "listen = 127.0.0.1:0 tls\ncertificate = %s\ncertificate_key = %s\n",
             tlsca_path(crt, crt_path, sizeof(crt_path)),
             tlsca_path(key, key_path, sizeof(key_path)));
    srv_start(s, cfg);
}

/* ---- SNI ---- */

/* Four certificates, rsa the default: each name gets the certificate that holds it, a name no
 * certificate holds (or none at all) the default. */
START_TEST(sni_selects_certificate)
{
    static const struct {
        const char *sni;
        const char *subject;
        bool verify; /* the chosen certificate holds the name */
    } cases[] = {
        {"localhost", RSA_SUBJECT, true},
        {"b.test", "/O=sluice-b/CN=b.test", true},
        {"B.Test", "/O=sluice-b/CN=b.test", true}, /* DNS names ignore case */
        {"a.w.test", "/O=sluice-w/CN=w.test", true},
        {"x.a.w.test", RSA_SUBJECT, false}, /* a wildcard is one label */
        {"w.test", RSA_SUBJECT, false},
        {"cn.test", "/O=sluice-cn/CN=cn.test", true}, /* no subjectAltName: the CN */
        {"unknown.test", RSA_SUBJECT, false},
        {NULL, RSA_SUBJECT, false},
    };
    struct srv s;
    char what[96];
    tls_start(&s, "rsa b w cn", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tls_opts o = {.sni = cases[i].sni};
        snprintf(what, sizeof(what), "SNI %s", cases[i].sni ? cases[i].sni : "(none)");
        assert_served(s.port, &o, cases[i].subject, cases[i].verify, what);
    }
    srv_stop(&s);
}
END_TEST

/* An RSA and an ECDSA certificate for the same names: the client's signature algorithms (TLS
 * 1.3) or cipher suites (TLS 1.2) decide which one it gets. */
START_TEST(rsa_and_ecdsa_by_client_algorithms)
{
    static const struct {
        int version;
        const char *sigalgs, *ciphers, *subject, *key_type;
    } cases[] = {
        {TLS1_3_VERSION, "ecdsa_secp256r1_sha256", NULL, EC_SUBJECT, "EC"},
        {TLS1_3_VERSION, "rsa_pss_rsae_sha256", NULL, RSA_SUBJECT, "RSA"},
        {TLS1_2_VERSION, NULL, "ECDHE-ECDSA-AES128-GCM-SHA256", EC_SUBJECT, "EC"},
        {TLS1_2_VERSION, NULL, "ECDHE-RSA-AES128-GCM-SHA256", RSA_SUBJECT, "RSA"},
    };
    struct srv s;
    struct tls_conn c;
    char what[128];
    tls_start(&s, "rsa ec", NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tls_opts o = {.sni = "localhost",
                             .version = cases[i].version,
                             .sigalgs = cases[i].sigalgs,
                             .ciphers = cases[i].ciphers};
        snprintf(what, sizeof(what), "%s with %s",
                 cases[i].version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2",
                 cases[i].sigalgs ? cases[i].sigalgs : cases[i].ciphers);
        tls_connect_ok(s.port, &o, &c, what);
        ck_assert_msg(strcmp(c.key_type, cases[i].key_type) == 0 &&
                          strcmp(c.subject, cases[i].subject) == 0 && c.verified,
                      "%s: %s key, %s (%s), want %s %s", what, c.key_type, c.subject,
                      c.verified ? "verified" : c.verify_err, cases[i].key_type, cases[i].subject);
        tls_close(&c);
    }
    srv_stop(&s);
}
END_TEST

/* ---- chains ---- */

/* A leaf signed by the intermediate, its file holding leaf then intermediate: both are sent,
 * and a client that trusts only the root verifies them; curl downloads. Without the
 * intermediate in the file the same client cannot verify (the check can fail). */
START_TEST(intermediate_sent_with_leaf)
{
    struct srv s;
    struct tls_conn c;
    char text[TLS_OUT_MAX], url[64], out[SRV_PATH_MAX];
    start_with_files(&s, "chain.crt", "leaf.key");
    struct tls_opts o = {.sni = "localhost"};
    tls_connect_ok(s.port, &o, &c, "leaf + intermediate");
    ck_assert_msg(c.verified && c.chain_len == 2, "chain of %d certificates, %s; want 2, verified",
                  c.chain_len, c.verified ? "verified" : c.verify_err);
    ck_assert_str_eq(c.subject, "/O=sluice-chained/CN=localhost");
    tls_close(&c);
    snprintf(url, sizeof(url), "https://localhost:%d/", s.port);
    int st = tls_curl(s.port, url, srv_path(&s, "curl.out", out, sizeof(out)), text, sizeof(text));
    ck_assert_msg(st == 200, "curl %s: status %d\n%s", url, st, text);
    srv_stop(&s);

    start_with_files(&s, "leaf.crt", "leaf.key");
    tls_connect_ok(s.port, &o, &c, "leaf alone");
    ck_assert_msg(!c.verified && c.chain_len == 1,
                  "leaf alone: chain of %d, %s (want 1, not verifiable)", c.chain_len,
                  c.verified ? "verified" : c.verify_err);
    tls_close(&c);
    srv_stop(&s);
}
END_TEST

/* ---- ciphers ---- */

#define AES128 "ECDHE-RSA-AES128-GCM-SHA256"
#define AES256 "ECDHE-RSA-AES256-GCM-SHA384"

/* tls_ciphers limits TLS 1.2 to its list; by default the client's order decides,
 * tls_prefer_server_ciphers = on makes it the server's. */
START_TEST(tls_ciphers_and_server_preference)
{
    struct srv s;
    struct tls_conn c;
    char got[64];
    struct tls_opts o = {.sni = "localhost", .version = TLS1_2_VERSION};
    tls_start(&s, "rsa", "tls_ciphers = " AES128 ":" AES256 "\n");
    o.ciphers = AES256 ":" AES128;
    ck_assert_str_eq(cipher_of(s.port, &o, got, sizeof(got), "client prefers AES256"), AES256);
    o.ciphers = "ECDHE-RSA-CHACHA20-POLY1305";
    ck_assert_msg(tls_connect(s.port, &o, &c) < 0, "a cipher outside tls_ciphers was agreed on: %s",
                  c.cipher);
    srv_stop(&s);

    tls_start(&s, "rsa", "tls_ciphers = " AES128 ":" AES256 "\ntls_prefer_server_ciphers = on\n");
    o.ciphers = AES256 ":" AES128;
    ck_assert_str_eq(cipher_of(s.port, &o, got, sizeof(got), "server prefers AES128"), AES128);
    srv_stop(&s);
}
END_TEST

/* tls_ciphersuites limits TLS 1.3 to its suites. */
START_TEST(tls_ciphersuites_limit_tls13)
{
    struct srv s;
    struct tls_conn c;
    char got[64];
    tls_start(&s, "rsa", "tls_ciphersuites = TLS_CHACHA20_POLY1305_SHA256\n");
    struct tls_opts o = {.sni = "localhost", .version = TLS1_3_VERSION};
    ck_assert_str_eq(cipher_of(s.port, &o, got, sizeof(got), "default TLS 1.3 client"),
                     "TLS_CHACHA20_POLY1305_SHA256");
    o.ciphersuites = "TLS_AES_128_GCM_SHA256";
    ck_assert_msg(tls_connect(s.port, &o, &c) < 0,
                  "a suite outside tls_ciphersuites was agreed on: %s", c.cipher);
    srv_stop(&s);
}
END_TEST

Suite *
integ_tls_certs_suite(void)
{
    Suite *s = suite_create("integ_tls_certs");
    TCase *tc = tcase_create("select");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, sni_selects_certificate);
    tcase_add_test(tc, rsa_and_ecdsa_by_client_algorithms);
    tcase_add_test(tc, intermediate_sent_with_leaf);
    suite_add_tcase(s, tc);

    tc = tcase_create("ciphers");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, tls_ciphers_and_server_preference);
    tcase_add_test(tc, tls_ciphersuites_limit_tls13);
    suite_add_tcase(s, tc);
    return s;
}
