/* Unit tests for common/cfg_value.c: the value parsers behind every key type (booleans,
 * integers, sizes, durations, listen addresses and their flags) and address formatting. The key
 * table and defaults: check_cfg.c; loading files: check_cfg_load.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, mkstemps */
#endif
#include "common/cfg.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "t/unit/cfg_fixture.h"

/* ---- cfg_parse_bool ------------------------------------------------------------------------ */

START_TEST(test_parse_bool)
{
    bool b = false;
    const char *why = NULL;
    ck_assert_int_eq(cfg_parse_bool("on", &b, &why), 0);
    ck_assert(b);
    ck_assert_int_eq(cfg_parse_bool("off", &b, &why), 0);
    ck_assert(!b);

    static const char *const bad[] = {"yes", "no", "true", "false", "1",    "0",
                                      "",    "o",  "of",   "onn",   "offf", "enabled"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        ck_assert_msg(cfg_parse_bool(bad[i], &b, &why) == -1, "'%s' accepted as bool", bad[i]);
        ck_assert_msg(why && *why, "no reason for bool '%s'", bad[i]);
        ck_assert_int_eq(cfg_parse_bool(bad[i], &b, NULL), -1); /* why may be NULL */
    }
}
END_TEST

START_TEST(test_parse_tls_protocols)
{
    static const struct {
        const char *s;
        unsigned want;
    } good[] = {
        {"TLSv1.2 TLSv1.3", CFG_TLS_V12 | CFG_TLS_V13},
        {"TLSv1.3", CFG_TLS_V13},
        {"TLSv1.2", CFG_TLS_V12},
        {"  TLSv1.3\tTLSv1.2 ", CFG_TLS_V12 | CFG_TLS_V13},
        {"TLSv1.3 TLSv1.3", CFG_TLS_V13},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        unsigned v = 0;
        ck_assert_msg(cfg_parse_tls_protocols(good[i].s, &v, NULL) == 0, "'%s' refused", good[i].s);
        ck_assert_uint_eq(v, good[i].want);
    }
    static const char *const bad[] = {"",        " ",       "TLSv1.1",         "TLSv1",
                                      "SSLv3",   "tlsv1.3", "TLSv1.2,TLSv1.3", "TLSv1.3 x",
                                      "TLSv1.4", "TLSv1.23"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned v = 77;
        const char *why = NULL;
        ck_assert_msg(cfg_parse_tls_protocols(bad[i], &v, &why) == -1, "'%s' accepted", bad[i]);
        ck_assert_uint_eq(v, 77);
        ck_assert_msg(why && strstr(why, "TLSv1.2, TLSv1.3 or both"), "'%s': %s", bad[i], why);
    }
}
END_TEST

/* ---- cfg_parse_int ------------------------------------------------------------------------- */

static void
int_ok(const char *s, int64_t min, int64_t max, int64_t want)
{
    int64_t v = -12345;
    const char *why = NULL;
    int rc = cfg_parse_int(s, min, max, &v, &why);
    ck_assert_msg(rc == 0, "cfg_parse_int('%s', %lld, %lld) failed: %s", s, (long long)min,
                  (long long)max, why ? why : "(no reason)");
    ck_assert_msg(v == want, "cfg_parse_int('%s') = %lld, expected %lld", s, (long long)v,
                  (long long)want);
}

static void
int_bad(const char *s, int64_t min, int64_t max)
{
    int64_t v = 0;
    const char *why = NULL;
    ck_assert_msg(cfg_parse_int(s, min, max, &v, &why) == -1,
                  "cfg_parse_int('%s', %lld, %lld) accepted: %lld", s, (long long)min,
                  (long long)max, (long long)v);
    ck_assert_msg(why && *why, "cfg_parse_int('%s'): no reason", s);
    ck_assert_int_eq(cfg_parse_int(s, min, max, &v, NULL), -1);
}

START_TEST(test_parse_int)
{
    int_ok("42", 1, 64, 42);
    int_ok("1", 1, 64, 1); /* bounds are inclusive */
    int_ok("64", 1, 64, 64);
    int_ok("0", 0, 10, 0);
    int_ok("65535", 1, 65535, 65535);
    int_ok("1000000", 1, 1000000, 1000000);
    int_ok("9223372036854775807", INT64_MIN, INT64_MAX, INT64_MAX);

    int_bad("0", 1, 64);
    int_bad("65", 1, 64);
    int_bad("-1", 1, 64);
    int_bad("65536", 1, 65535);
    int_bad("12x", 1, 100);
    int_bad("x12", 1, 100);
    int_bad("", 1, 100);
    int_bad("-", INT64_MIN, INT64_MAX);
    int_bad("+", INT64_MIN, INT64_MAX);
    int_bad("1.5", 0, 100);
    int_bad("1 2", 0, 100);
    int_bad("auto", 1, 64);
    /* Overflow must be an error, not a clamp to INT64_MAX/MIN. */
    int_bad("9223372036854775808", INT64_MIN, INT64_MAX);
    int_bad("-9223372036854775809", INT64_MIN, INT64_MAX);
    int_bad("99999999999999999999999", INT64_MIN, INT64_MAX);
    int_bad("99999999999999999999999", 1, 64);
}
END_TEST

/* ---- cfg_parse_size ------------------------------------------------------------------------ */

static void
size_ok(const char *s, int64_t want)
{
    int64_t v = -12345;
    const char *why = NULL;
    ck_assert_msg(cfg_parse_size(s, &v, &why) == 0, "cfg_parse_size('%s') failed: %s", s,
                  why ? why : "(no reason)");
    ck_assert_msg(v == want, "cfg_parse_size('%s') = %lld, expected %lld", s, (long long)v,
                  (long long)want);
}

static void
size_bad(const char *s)
{
    int64_t v = 0;
    const char *why = NULL;
    ck_assert_msg(cfg_parse_size(s, &v, &why) == -1, "cfg_parse_size('%s') accepted: %lld", s,
                  (long long)v);
    ck_assert_msg(why && *why, "cfg_parse_size('%s'): no reason", s);
    ck_assert_int_eq(cfg_parse_size(s, &v, NULL), -1);
}

START_TEST(test_parse_size)
{
    size_ok("0", 0);
    size_ok("123", 123);
    size_ok("4k", 4096);
    size_ok("1m", 1048576);
    size_ok("2g", 2147483648LL);
    size_ok("0k", 0);
    /* The largest multiple of 1g that fits in int64_t, and one more. */
    size_ok("8589934591g", 8589934591LL * 1073741824LL);
    size_bad("8589934592g");
    /* t is 1024g: the bound of the 0..1t keys can be written as documented. */
    size_ok("1t", 1LL << 40);
    size_ok("1T", 1LL << 40);
    size_ok("8388607t", 8388607LL << 40);
    size_bad("8388608t");
    size_bad("1tb");
    size_bad("1p");
    size_bad("9223372036854775807k");
    size_bad("99999999999999999999");
    size_bad("");
    size_bad("k");
    size_bad("4x");
    size_bad("4kk");
    size_bad("4kb");
    size_bad("4 k");
    size_bad("1.5m");
}
END_TEST

/* ---- cfg_parse_duration_ms ----------------------------------------------------------------- */

static void
dur_ok(const char *s, int64_t want)
{
    int64_t v = -12345;
    const char *why = NULL;
    ck_assert_msg(cfg_parse_duration_ms(s, &v, &why) == 0, "cfg_parse_duration_ms('%s') failed: %s",
                  s, why ? why : "(no reason)");
    ck_assert_msg(v == want, "cfg_parse_duration_ms('%s') = %lld, expected %lld", s, (long long)v,
                  (long long)want);
}

static void
dur_bad(const char *s)
{
    int64_t v = 0;
    const char *why = NULL;
    ck_assert_msg(cfg_parse_duration_ms(s, &v, &why) == -1,
                  "cfg_parse_duration_ms('%s') accepted: %lld", s, (long long)v);
    ck_assert_msg(why && *why, "cfg_parse_duration_ms('%s'): no reason", s);
    ck_assert_int_eq(cfg_parse_duration_ms(s, &v, NULL), -1);
}

START_TEST(test_parse_duration)
{
    dur_ok("500ms", 500);
    dur_ok("1ms", 1);
    dur_ok("0ms", 0);
    dur_ok("15s", 15000);
    dur_ok("0s", 0);
    dur_ok("2m", 120000); /* m is minutes, not milliseconds */
    dur_ok("90m", 5400000);
    dur_ok("1h", 3600000);
    dur_ok("2h", 7200000); /* no range in the parser itself */
    dur_ok("75", 75000);   /* bare number = seconds */
    dur_ok("0", 0);

    dur_bad("");
    dur_bad("5x");
    dur_bad("s");
    dur_bad("ms");
    dur_bad("h");
    dur_bad("5sm");
    dur_bad("5mss");
    dur_bad("5hh");
    dur_bad("5 s");
    dur_bad("1.5s");
    dur_bad("-");
    dur_bad("5d");
    /* Overflow after scaling, and in the number itself. */
    dur_bad("9223372036854775807");
    dur_bad("9223372036854775807s");
    dur_bad("9223372036854775807h");
    dur_bad("99999999999999999999ms");
}
END_TEST

/* ---- cfg_parse_listen / cfg_format_addr ---------------------------------------------------- */

static void
listen_ok(const char *s, struct cfg_listen *l)
{
    const char *why = NULL;
    memset(l, 0, sizeof(*l));
    ck_assert_msg(cfg_parse_listen(s, l, &why) == 0, "cfg_parse_listen('%s') failed: %s", s,
                  why ? why : "(no reason)");
}

static void
listen_bad(const char *s)
{
    struct cfg_listen l;
    const char *why = NULL;
    memset(&l, 0, sizeof(l));
    ck_assert_msg(cfg_parse_listen(s, &l, &why) == -1, "cfg_parse_listen('%s') accepted", s);
    ck_assert_msg(why && *why, "cfg_parse_listen('%s'): no reason", s);
}

START_TEST(test_parse_listen_good)
{
    struct cfg_listen l;

    listen_ok("127.0.0.1:80", &l);
    check_in4(&l, "127.0.0.1", 80);

    listen_ok("*:8080", &l);
    check_in4(&l, "0.0.0.0", 8080);
    ck_assert_uint_eq(((struct sockaddr_in *)&l.addr)->sin_addr.s_addr, htonl(INADDR_ANY));

    listen_ok("0.0.0.0:1", &l);
    check_in4(&l, "0.0.0.0", 1);

    listen_ok("10.20.30.40:65535", &l);
    check_in4(&l, "10.20.30.40", 65535);

    listen_ok("127.0.0.1:0", &l); /* port 0: pick a free port */
    check_in4(&l, "127.0.0.1", 0);

    listen_ok("[::1]:443", &l);
    check_in6(&l, "::1", 443);

    listen_ok("[::]:0", &l);
    check_in6(&l, "::", 0);

    listen_ok("[2001:db8::42]:8080", &l);
    check_in6(&l, "2001:db8::42", 8080);

    listen_ok("unix:/tmp/x.sock", &l);
    check_unix(&l, "/tmp/x.sock");

    /* The longest path that fits sun_path with its NUL. */
    char longest[sizeof(((struct sockaddr_un *)0)->sun_path)];
    memset(longest, 'p', sizeof(longest) - 1);
    longest[0] = '/';
    longest[sizeof(longest) - 1] = '\0';
    char spec[sizeof(longest) + 8];
    snprintf(spec, sizeof(spec), "unix:%s", longest);
    listen_ok(spec, &l);
    check_unix(&l, longest);
}
END_TEST

/* listen = ADDRESS [FLAG ...]: flags are parsed, checked for combinations and carried in
 * struct cfg_listen; the one whose transport is not implemented yet (redirect) is then
 * refused. */
static void
listen_flags(const char *s, unsigned want_flags, const char *want_why)
{
    struct cfg_listen l;
    const char *why = NULL;
    int rc = cfg_parse_listen(s, &l, &why);
    if (want_why == NULL) {
        ck_assert_msg(rc == 0, "'%s' refused: %s", s, why ? why : "(no reason)");
    } else {
        ck_assert_msg(rc == -1, "'%s' accepted", s);
        ck_assert_msg(why && strstr(why, want_why), "'%s': reason '%s', want '%s'", s,
                      why ? why : "(none)", want_why);
    }
    if (want_flags != ~0u)
        ck_assert_msg(l.flags == want_flags, "'%s': flags %#x, want %#x", s, l.flags, want_flags);
}

START_TEST(test_parse_listen_flags)
{
    const char *later = "is not implemented yet";
    struct cfg_listen l;
    listen_ok("127.0.0.1:80", &l);
    ck_assert_uint_eq(l.flags, 0);
    listen_ok("  127.0.0.1:80  ", &l); /* blanks around the address */
    ck_assert_str_eq(l.text, "127.0.0.1:80");

    /* Known flags and the legal combinations: parsed and carried; tls and proxy are served,
     * redirect refused for now. */
    listen_flags("127.0.0.1:443 tls", CFG_LISTEN_TLS, NULL);
    listen_flags("[::1]:443\ttls", CFG_LISTEN_TLS, NULL);
    listen_flags("unix:/run/s.sock tls", CFG_LISTEN_TLS, NULL);
    listen_flags("127.0.0.1:80 proxy", CFG_LISTEN_PROXY, NULL);
    listen_flags("127.0.0.1:80 redirect", CFG_LISTEN_REDIRECT, "'redirect' is not implemented yet");
    listen_flags("127.0.0.1:443 proxy tls", CFG_LISTEN_PROXY | CFG_LISTEN_TLS, NULL);
    listen_flags("127.0.0.1:443 tls\tproxy", CFG_LISTEN_PROXY | CFG_LISTEN_TLS, NULL);
    listen_flags("[::1]:80 proxy redirect", CFG_LISTEN_PROXY | CFG_LISTEN_REDIRECT, later);
    listen_flags("unix:/run/s.sock proxy", CFG_LISTEN_PROXY, NULL);

    /* Errors in the grammar. */
    listen_flags("127.0.0.1:443 tls redirect", ~0u, "tls and redirect cannot be combined");
    listen_flags("127.0.0.1:443 redirect proxy tls", ~0u, "tls and redirect cannot be combined");
    listen_flags("127.0.0.1:443 tls tls", ~0u, "listen flag 'tls' given twice");
    listen_flags("127.0.0.1:443 ssl", ~0u, "unknown listen flag 'ssl'");
    listen_flags("127.0.0.1:443 TLS", ~0u, "unknown listen flag 'TLS'");
    listen_flags("127.0.0.1:443 tls,proxy", ~0u, "unknown listen flag 'tls,proxy'");
    listen_flags("127.0.0.1 :80", ~0u, "expected host:port");

    /* A unix path holds no whitespace: what follows a blank is a flag. */
    listen_flags("unix:/tmp/my socket", ~0u, "a unix socket path cannot contain whitespace");
    listen_flags("unix:/tmp/a\tb", ~0u, "unknown listen flag 'b'");
    listen_flags("unix: /tmp/x", ~0u, "expected unix:/path");

    /* The port file's form of the flags: canonical order, blank-separated. */
    char buf[32];
    cfg_format_listen_flags(0, buf, sizeof(buf));
    ck_assert_str_eq(buf, "");
    cfg_format_listen_flags(CFG_LISTEN_TLS | CFG_LISTEN_PROXY, buf, sizeof(buf));
    ck_assert_str_eq(buf, "proxy tls");
    cfg_format_listen_flags(CFG_LISTEN_REDIRECT | CFG_LISTEN_PROXY, buf, sizeof(buf));
    ck_assert_str_eq(buf, "proxy redirect");
}
END_TEST

START_TEST(test_parse_listen_why_null)
{
    /* cfg.h: `why` may be NULL, for every parser. */
    static const char *const bad[] = {
        "", "127.0.0.1", "127.0.0.1:65536", "[::1]", "[::zz]:80", "1.2.3:80", "unix:"};
    struct cfg_listen l;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cfg_parse_listen(bad[i], &l, NULL) == -1, "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_parse_listen_bad)
{
    listen_bad("");
    listen_bad("127.0.0.1");  /* no port */
    listen_bad("127.0.0.1:"); /* empty port */
    listen_bad("127.0.0.1:65536");
    listen_bad("127.0.0.1:99999999999999999999");
    listen_bad("127.0.0.1:-1");
    listen_bad("127.0.0.1:80x");
    listen_bad("127.0.0.1:http");
    listen_bad("[::1]"); /* no port */
    listen_bad("[::1]:");
    listen_bad("[::1]:65536");
    listen_bad("[::1:80");
    listen_bad("[1.2.3.4]:80");
    listen_bad("[::zz]:80");
    listen_bad("1.2.3:80");
    listen_bad("256.1.1.1:80");
    listen_bad("*");
    listen_bad("*:");
    listen_bad("unix:"); /* empty path */

    /* One byte too long for sun_path (no room for the NUL). */
    char toolong[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    memset(toolong, 'p', sizeof(toolong) - 1);
    toolong[0] = '/';
    toolong[sizeof(toolong) - 1] = '\0';
    char spec[sizeof(toolong) + 8];
    snprintf(spec, sizeof(spec), "unix:%s", toolong);
    listen_bad(spec);

    char huge[600];
    memset(huge, 'p', sizeof(huge) - 1);
    huge[0] = '/';
    huge[sizeof(huge) - 1] = '\0';
    char hspec[sizeof(huge) + 8];
    snprintf(hspec, sizeof(hspec), "unix:%s", huge);
    listen_bad(hspec);
}
END_TEST

static void
round_trip(const char *s)
{
    struct cfg_listen l;
    char buf[256];
    listen_ok(s, &l);
    memset(buf, 'X', sizeof(buf));
    cfg_format_addr((const struct sockaddr *)&l.addr, l.addrlen, buf, sizeof(buf));
    ck_assert_msg(memchr(buf, '\0', sizeof(buf)) != NULL, "format '%s': not NUL-terminated", s);
    ck_assert_msg(strcmp(buf, s) == 0, "format(parse('%s')) = '%s'", s, buf);
}

START_TEST(test_format_addr_round_trip)
{
    round_trip("127.0.0.1:80");
    round_trip("0.0.0.0:8080");
    round_trip("10.20.30.40:65535");
    round_trip("127.0.0.1:0");
    round_trip("[::1]:443");
    round_trip("[::]:80");
    round_trip("[2001:db8::42]:8080");
    round_trip("unix:/tmp/x.sock");
}
END_TEST

START_TEST(test_format_addr_raw)
{
    char buf[256];

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(43567)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    cfg_format_addr((struct sockaddr *)&sin, sizeof(sin), buf, sizeof(buf));
    ck_assert_str_eq(buf, "127.0.0.1:43567");

    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(8080)};
    inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
    cfg_format_addr((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf));
    ck_assert_str_eq(buf, "[::1]:8080");

    inet_pton(AF_INET6, "::ffff:1.2.3.4", &sin6.sin6_addr);
    cfg_format_addr((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf));
    ck_assert_str_eq(buf, "[::ffff:1.2.3.4]:8080");

    /* A unix address as getsockname() returns it (length includes the NUL), and as a whole
     * struct. */
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, "/tmp/s.sock");
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sun.sun_path) + 1);
    cfg_format_addr((struct sockaddr *)&sun, len, buf, sizeof(buf));
    ck_assert_str_eq(buf, "unix:/tmp/s.sock");
    cfg_format_addr((struct sockaddr *)&sun, sizeof(sun), buf, sizeof(buf));
    ck_assert_str_eq(buf, "unix:/tmp/s.sock");
}
END_TEST

START_TEST(test_format_addr_small_buffer)
{
    /* A short buffer is truncated and still NUL-terminated; nothing past buflen is written. */
    char buf[32];
    struct cfg_listen l;
    static const char *const addrs[] = {"127.0.0.1:8080", "[2001:db8::42]:8080",
                                        "unix:/tmp/a-rather-long-socket-name.sock"};
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        listen_ok(addrs[i], &l);
        memset(buf, 'X', sizeof(buf));
        cfg_format_addr((const struct sockaddr *)&l.addr, l.addrlen, buf, 6);
        ck_assert_msg(memchr(buf, '\0', 6) != NULL, "'%s' in 6 bytes: not NUL-terminated",
                      addrs[i]);
        for (size_t j = 6; j < sizeof(buf); j++)
            ck_assert_msg(buf[j] == 'X', "'%s' in 6 bytes: wrote byte %zu", addrs[i], j);
        ck_assert_msg(strncmp(buf, addrs[i], strlen(buf)) == 0, "'%s' truncated to '%s'", addrs[i],
                      buf);
    }
}
END_TEST

Suite *
cfg_value_suite(void)
{
    Suite *s = suite_create("cfg_value");
    TCase *parse = tcase_create("parse");
    tcase_add_test(parse, test_parse_bool);
    tcase_add_test(parse, test_parse_int);
    tcase_add_test(parse, test_parse_size);
    tcase_add_test(parse, test_parse_duration);
    tcase_add_test(parse, test_parse_listen_good);
    tcase_add_test(parse, test_parse_listen_bad);
    tcase_add_test(parse, test_parse_listen_why_null);
    tcase_add_test(parse, test_parse_listen_flags);
    tcase_add_test(parse, test_format_addr_round_trip);
    tcase_add_test(parse, test_format_addr_raw);
    tcase_add_test(parse, test_format_addr_small_buffer);
    tcase_add_test(parse, test_parse_tls_protocols);
    suite_add_tcase(s, parse);
    return s;
}
