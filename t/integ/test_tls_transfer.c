/* Integration tests of downloads over TLS: a small and a 50 MB file through curl, byte for
 * byte, and clients that abort a 50 MB download mid-way while the server carries on. A real
 * sluice, curl, and a TLS client on OpenSSL (test_tls.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bytes.h"
#include "test_tls.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG_LEN (50u << 20)
#define SMALL_LEN 1234u

/* curl https://localhost:PORT/<rel> into <dir>/<rel>.curl: status 200 and exactly `data`. */
static void
assert_curl_same(const struct srv *s, const char *rel, const void *data, size_t len)
{
    char url[128], out[SRV_PATH_MAX], name[64], text[TLS_OUT_MAX];
    snprintf(url, sizeof(url), "https://localhost:%d/%s", s->port, rel);
    snprintf(name, sizeof(name), "%s.curl", rel);
    srv_path(s, name, out, sizeof(out));
    int st = tls_curl(s->port, url, out, text, sizeof(text));
    ck_assert_msg(st == 200, "curl %s: status %d\n%s", url, st, text);
    size_t got_len;
    char *got = read_file_all(out, &got_len);
    ck_assert_msg(got != NULL, "curl %s left no %s", url, out);
    assert_same_bytes(url, got, got_len, data, len);
    free(got);
}

/* curl, verifying the chain against the test root and the name localhost: a small file and a
 * 50 MB one arrive byte for byte. */
START_TEST(curl_downloads_small_and_big)
{
    struct srv s;
    unsigned char *small = make_data(SMALL_LEN, 2), *big = make_data(BIG_LEN, 3);
    srv_init(&s);
    srv_write_file(&s, "small.bin", small, SMALL_LEN);
    srv_write_file(&s, "big.bin", big, BIG_LEN);
    char cfg[2048] = "listen = 127.0.0.1:0 tls\n";
    srv_write_config(&s, tls_cert_lines(cfg, sizeof(cfg), "rsa"));
    srv_spawn(&s);
    assert_curl_same(&s, "small.bin", small, SMALL_LEN);
    assert_curl_same(&s, "big.bin", big, BIG_LEN);
    free(small);
    free(big);
    srv_stop(&s);
}
END_TEST

/* One worker; three times a client reads the header and 1 MB of a 50 MB download, then closes
 * its socket. The same worker then serves the whole file byte for byte, and the log holds no
 * crit (srv_stop). */
START_TEST(aborted_downloads_then_complete)
{
    static const char get[] =
        "GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    static const struct tls_opts localhost = {.sni = "localhost"};
    struct srv s;
    struct tls_conn c;
    struct http_resp r;
    pid_t before[4], after[4] = {0};
    char what[64];
    unsigned char *big = make_data(BIG_LEN, 4), *part = malloc(1 << 20);
    ck_assert_ptr_nonnull(part);
    srv_init(&s);
    srv_write_file(&s, "big.bin", big, BIG_LEN);
    char cfg[2048] = "listen = 127.0.0.1:0 tls\nworkers = 1\n";
    srv_write_config(&s, tls_cert_lines(cfg, sizeof(cfg), "rsa"));
    srv_spawn(&s);
    ck_assert_int_eq(worker_pids(s.pid, before, 4), 1);

    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof(what), "aborted download %d", i + 1);
        tls_connect_ok(s.port, &localhost, &c, what);
        conn_sendstr(c.fd, get);
        ck_assert_msg(http_try_read_head(c.fd, &r) == 0 && r.status == 200, "%s: %s status %d",
                      what, r.err, r.status);
        recv_exact(c.fd, part, 1 << 20);
        ck_assert_msg(memcmp(part, big, 1 << 20) == 0, "%s: the first MB differs", what);
        tls_close(&c);
    }
    ck_assert_int_eq(tls_fetch(s.port, NULL, "/big.bin", NULL, &r), 200);
    assert_same_bytes("the download after three aborted ones", r.body, r.body_len, big, BIG_LEN);
    http_resp_free(&r);
    ck_assert_msg(worker_pids(s.pid, after, 4) == 1 && after[0] == before[0],
                  "worker %d replaced (now %d)", (int)before[0], (int)after[0]);
    free(part);
    free(big);
    srv_stop(&s);
}
END_TEST

Suite *
integ_tls_transfer_suite(void)
{
    Suite *s = suite_create("integ_tls_transfer");
    TCase *tc = tcase_create("downloads");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, curl_downloads_small_and_big);
    tcase_add_test(tc, aborted_downloads_then_complete);
    suite_add_tcase(s, tc);
    return s;
}
