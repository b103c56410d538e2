/* Integration tests of TLS across workers and reloads: session resumption by tickets every
 * worker can open (TLS 1.3 and 1.2), tickets that survive `sluice reload`, a certificate
 * swapped by a reload under TLS load with no failed request, and a reload refused for a key
 * that does not match. A real sluice, openssl s_client, the load client over TLS (load.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "load.h"
#include "test_tls.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RECONNECTS 12 /* with 2 workers, all on one worker has odds 1 in 2048 */
#define OUT_MAX 4096

static const struct tls_opts LOCALHOST = {.sni = "localhost"};

/* ---- helpers ---- */

/* A full handshake with s_client (`proto`: -tls1_2 or -tls1_3) that saves its session, the
 * ticket included, into <dir>/<file>. The request keeps it connected until the server's answer
 * and close, so a TLS 1.3 ticket (sent after the handshake) has arrived. */
static void
save_session(const struct srv *s, const char *proto, const char *file)
{
    char out[TLS_OUT_MAX], path[SRV_PATH_MAX];
    struct stat st;
    srv_path(s, file, path, sizeof(path));
    const char *args[] = {"-servername", "localhost", proto, "-sess_out", path, NULL};
    int rc = tls_s_client(s, s->port, TLS_GET_CLOSE, args, out, sizeof(out));
    ck_assert_msg(rc == 0 && strstr(out, "New, TLSv1.") && strstr(out, "HTTP/1.1 200"),
                  "s_client %s -sess_out: exit %d\n%s", proto, rc, out);
    ck_assert_msg(stat(path, &st) == 0 && st.st_size > 0, "s_client %s saved no session in %s",
                  proto, path);
}

/* RECONNECTS connections with s_client -sess_in <dir>/<file>: each must resume ("Reused") and
 * be answered. */
static void
assert_resumed(const struct srv *s, const char *proto, const char *file, const char *when)
{
    char out[TLS_OUT_MAX], path[SRV_PATH_MAX];
    srv_path(s, file, path, sizeof(path));
    const char *args[] = {"-servername", "localhost", proto, "-sess_in", path, NULL};
    for (int i = 0; i < RECONNECTS; i++) {
        int rc = tls_s_client(s, s->port, TLS_GET_CLOSE, args, out, sizeof(out));
        ck_assert_msg(rc == 0 && strstr(out, "Reused, TLSv1.") && strstr(out, "HTTP/1.1 200"),
                      "%s: s_client %s -sess_in, connection %d of %d: exit %d, not resumed\n%s",
                      when, proto, i + 1, RECONNECTS, rc, out);
    }
}

/* `sluice reload`: exit 0 and generation `gen` ready; then wait until the one before has
 * exited, so that every new connection meets the new generation. */
static void
reload_ok(const struct srv *s, unsigned gen)
{
    char out[OUT_MAX], want[64];
    int rc = srv_ctl(s, "reload", out, sizeof(out));
    snprintf(want, sizeof(want), "generation %u ready", gen);
    ck_assert_msg(rc == 0 && strstr(out, want) != NULL, "reload: exit %d\n%s", rc, out);
    snprintf(want, sizeof(want), "generation %u has exited", gen - 1);
    ck_assert_msg(log_wait(s, want, 1, 10000), "no '%s' in the log within 10 s", want);
}

/* The serial of the certificate a new connection gets. */
static const char *
served_serial(const struct srv *s, char *buf, size_t len, const char *what)
{
    struct tls_conn c;
    tls_connect_ok(s->port, &LOCALHOST, &c, what);
    ck_assert_msg(c.verified, "%s: %s does not verify: %s", what, c.subject, c.verify_err);
    snprintf(buf, len, "%s", c.serial);
    tls_close(&c);
    return buf;
}

/* ---- resumption ---- */

/* Two workers, TLS 1.3: a saved session resumes on every one of 12 new connections. */
START_TEST(resumption_tls13_across_workers)
{
    struct srv s;
    tls_start(&s, "rsa", "workers = 2\n");
    save_session(&s, "-tls1_3", "s13.pem");
    assert_resumed(&s, "-tls1_3", "s13.pem", "TLS 1.3");
    srv_stop(&s);
}
END_TEST

/* The same with TLS 1.2 (a ticket, no server-side cache). */
START_TEST(resumption_tls12_across_workers)
{
    struct srv s;
    tls_start(&s, "rsa", "workers = 2\n");
    save_session(&s, "-tls1_2", "s12.pem");
    assert_resumed(&s, "-tls1_2", "s12.pem", "TLS 1.2");
    srv_stop(&s);
}
END_TEST

/* Sessions saved before `sluice reload` resume with the new generation's workers. */
START_TEST(tickets_survive_reload)
{
    struct srv s;
    tls_start(&s, "rsa", "workers = 2\n");
    save_session(&s, "-tls1_3", "s13.pem");
    save_session(&s, "-tls1_2", "s12.pem");
    reload_ok(&s, 2);
    assert_resumed(&s, "-tls1_3", "s13.pem", "TLS 1.3 after the reload");
    assert_resumed(&s, "-tls1_2", "s12.pem", "TLS 1.2 after the reload");
    srv_stop(&s);
}
END_TEST

/* ---- certificates and reloads ---- */

static struct load *
start_tls_load(const struct srv *s, const char *ca)
{
    struct load_cfg cfg = {.port = s->port,
                           .target = "/",
                           .expect_body = SRV_INDEX_HTML,
                           .new_threads = 2,
                           .keepalive_threads = 4,
                           .max_ms = 30000,
                           .io_timeout_ms = 5000,
                           .tls = true,
                           .tls_name = "localhost",
                           .tls_ca = ca};
    struct load *l = load_start(&cfg);
    ck_assert_msg(l != NULL, "cannot start the TLS load");
    ck_assert_msg(load_wait(l, 100, 5000), "TLS load: only %ld requests answered in 5 s",
                  load_done(l));
    return l;
}

/* TLS load (new and kept connections, verifying the chain and the name) while a reload swaps
 * the certificate for another with the same names: no request fails, and new connections then
 * get the new certificate. */
START_TEST(certificate_swap_under_load)
{
    struct srv s;
    struct load_stats st;
    char ca[SRV_PATH_MAX], serial[64], cfg[2048] = "listen = 127.0.0.1:0 tls\n";
    char sum[512], events[1024];
    tls_start(&s, "rsa", NULL);
    ck_assert_str_eq(served_serial(&s, serial, sizeof(serial), "before"), TLSCA_SERIAL_RSA);
    struct load *l = start_tls_load(&s, tlsca_path("ca.crt", ca, sizeof(ca)));

    srv_write_config(&s, tls_cert_lines(cfg, sizeof(cfg), "swap"));
    reload_ok(&s, 2);
    long done = load_done(l);
    ck_assert_msg(load_wait(l, done + 100, 5000), "TLS load stalled after the reload at %ld",
                  load_done(l));
    load_stop(l, &st);
    ck_assert_msg(st.failures == 0 && st.ok_new > 0 && st.ok_keepalive > 0, "%s%s",
                  load_summary(&st, sum, sizeof(sum)),
                  load_events_text(&st, events, sizeof(events)));
    ck_assert_str_eq(served_serial(&s, serial, sizeof(serial), "after"), TLSCA_SERIAL_SWAP);
    srv_stop(&s);
}
END_TEST

/* A reload whose new key belongs to another certificate is refused, naming file, line and
 * certificate_key; the same workers go on serving the old certificate. */
START_TEST(reload_with_mismatched_key_refused)
{
    struct srv s;
    pid_t before[8], after[8];
    char crt[SRV_PATH_MAX], key[SRV_PATH_MAX], serial[64], cfg[2048], out[OUT_MAX];
    char want[SRV_PATH_MAX + 64];
    tls_start(&s, "rsa", NULL);
    ck_assert_int_eq(worker_pids(s.pid, before, 8), 2);
    snprintf(cfg, sizeof(cfg), "listen = 127.0.0.1:0 tls\ncertificate = %s\ncertificate_key = %s\n",
             tlsca_path("swap.crt", crt, sizeof(crt)), tlsca_path("b.key", key, sizeof(key)));
    srv_write_config(&s, cfg);
    int rc = srv_ctl(&s, "reload", out, sizeof(out));
    snprintf(want, sizeof(want), "%s:%d: certificate_key", s.cfg, tls_cfg_line(&s, "b.key"));
    ck_assert_msg(rc != 0 && strstr(out, want) != NULL, "reload: exit %d, want '%s' in:\n%s", rc,
                  want, out);
    ck_assert_msg(log_count(&s, "generation 2 ready") == 0, "generation 2 started anyway");
    ck_assert_int_eq(worker_pids(s.pid, after, 8), 2);
    ck_assert_msg(memcmp(before, after, 2 * sizeof(pid_t)) == 0, "the workers changed");
    ck_assert_str_eq(served_serial(&s, serial, sizeof(serial), "after the refused reload"),
                     TLSCA_SERIAL_RSA);
    srv_stop(&s);
}
END_TEST

Suite *
integ_tls_reload_suite(void)
{
    Suite *s = suite_create("integ_tls_reload");
    TCase *tc = tcase_create("resumption");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, resumption_tls13_across_workers);
    tcase_add_test(tc, resumption_tls12_across_workers);
    tcase_add_test(tc, tickets_survive_reload);
    suite_add_tcase(s, tc);

    tc = tcase_create("certificates");
    tcase_set_timeout(tc, 40);
    tcase_add_unchecked_fixture(tc, tlsca_setup, NULL);
    tcase_add_test(tc, certificate_swap_under_load);
    tcase_add_test(tc, reload_with_mismatched_key_refused);
    suite_add_tcase(s, tc);
    return s;
}
