/* Unit tests for common/cfg.c: value parsers, address formatting, the key table, loading good
 * files, and the error messages of bad ones (golden files in t/unit/cfg/, see test_golden). */
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define GOLDEN_DIR "t/unit/cfg"

/* ---- fixture: a private temp dir holding `www/`, and the cwd to come back to ---------------- */

static char tmp_dir[256];
static int saved_cwd = -1;

static void
tmp_setup(void)
{
    char tmpl[] = "/tmp/check_cfg.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    /* Canonical form, so it compares equal to what realpath()/getcwd() give the loader. */
    char real[PATH_MAX];
    ck_assert_ptr_nonnull(realpath(tmpl, real));
    ck_assert_uint_lt(strlen(real), sizeof(tmp_dir));
    strcpy(tmp_dir, real);
    char www[sizeof(tmp_dir) + 8];
    ck_assert_int_lt(snprintf(www, sizeof(www), "%s/www", tmp_dir), (int)sizeof(www));
    ck_assert_int_eq(mkdir(www, 0755), 0);
    saved_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(saved_cwd, 0);
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void
tmp_teardown(void)
{
    if (saved_cwd >= 0) {
        if (fchdir(saved_cwd) != 0)
            perror("check_cfg: fchdir");
        close(saved_cwd);
        saved_cwd = -1;
    }
    if (tmp_dir[0])
        nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmp_dir[0] = '\0';
}

static void
enter_tmp(void)
{
    ck_assert_int_eq(chdir(tmp_dir), 0);
}

/* Write `len` bytes to a new mkstemp file in `dir` (the temp dir when NULL); its path goes to
 * `path` (PATH_MAX bytes). */
static void
write_file_in(const char *dir, const char *data, size_t len, char *path)
{
    int n = snprintf(path, PATH_MAX, "%s/cfgXXXXXX.ini", dir ? dir : tmp_dir);
    ck_assert(n > 0 && n < PATH_MAX);
    int fd = mkstemps(path, 4);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void __attribute__((format(printf, 2, 3))) write_cfgf(char *path, const char *fmt, ...)
{
    static char buf[65536];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ck_assert(n >= 0 && (size_t)n < sizeof(buf));
    write_file_in(NULL, buf, (size_t)n, path);
}

static void
load_ok(struct cfg *cfg, const char *path)
{
    char err[CFG_ERR_MAX] = "";
    cfg_defaults(cfg);
    int rc = cfg_load(cfg, path, err, sizeof(err));
    ck_assert_msg(rc == 0, "cfg_load(%s) = %d: %s", path ? path : "NULL", rc, err);
}

static int
load_err(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
    err[0] = '\0';
    cfg_defaults(cfg);
    return cfg_load(cfg, path, err, errlen);
}

static void
path_in_tmp(char *out, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", tmp_dir, name);
    ck_assert(n > 0 && n < PATH_MAX);
}

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

static void
check_in4(const struct cfg_listen *l, const char *ip, int port)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr;
    struct in_addr want;
    ck_assert_int_eq(inet_pton(AF_INET, ip, &want), 1);
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_uint_eq(l->addrlen, sizeof(struct sockaddr_in));
    ck_assert_int_eq(ntohs(sin->sin_port), port);
    ck_assert_uint_eq(sin->sin_addr.s_addr, want.s_addr);
}

static void
check_in6(const struct cfg_listen *l, const char *ip, int port)
{
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr;
    struct in6_addr want;
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &want), 1);
    ck_assert_int_eq(sin6->sin6_family, AF_INET6);
    ck_assert_uint_eq(l->addrlen, sizeof(struct sockaddr_in6));
    ck_assert_int_eq(ntohs(sin6->sin6_port), port);
    ck_assert_mem_eq(&sin6->sin6_addr, &want, sizeof(want));
}

static void
check_unix(const struct cfg_listen *l, const char *path)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&l->addr;
    size_t base = offsetof(struct sockaddr_un, sun_path);
    ck_assert_int_eq(sun->sun_family, AF_UNIX);
    ck_assert_str_eq(sun->sun_path, path);
    /* Either the exact length (with or without the NUL) or the whole struct. */
    ck_assert_uint_ge(l->addrlen, base + strlen(path));
    ck_assert_uint_le(l->addrlen, sizeof(struct sockaddr_un));
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

/* ---- defaults and the key table ------------------------------------------------------------ */

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

START_TEST(test_defaults)
{
    static struct cfg cfg;
    memset(&cfg, 0x5a, sizeof(cfg));
    cfg_defaults(&cfg);

    ck_assert_str_eq(cfg.file, "");
    ck_assert_int_eq(cfg.nlisten, 1);
    check_in4(&cfg.listen[0], "127.0.0.1", 8080);
    ck_assert_str_eq(cfg.listen[0].text, "127.0.0.1:8080");
    ck_assert_int_eq(cfg.listen[0].line, 0);

    ck_assert_msg(cfg.root[0] == '/', "root not absolute: '%s'", cfg.root);
    ck_assert_msg(ends_with(cfg.root, "/www"), "root: '%s'", cfg.root);
    ck_assert_int_eq(cfg.nindex, 1);
    ck_assert_str_eq(cfg.index[0], "index.html");
    ck_assert(cfg.reuseport);
    ck_assert_int_eq(cfg.backlog, 4096);
    ck_assert_int_eq(cfg.keepalive_timeout_ms, 75000);
    ck_assert_int_eq(cfg.header_timeout_ms, 15000);
    ck_assert_int_eq(cfg.send_timeout_ms, 60000);
    ck_assert_int_eq(cfg.graceful_timeout_ms, 30000);
    ck_assert_msg(cfg.pid_file[0] == '/' && ends_with(cfg.pid_file, "/sluice.pid"),
                  "pid_file: '%s'", cfg.pid_file);
    ck_assert_msg(cfg.port_file[0] == '/' && ends_with(cfg.port_file, "/sluice.port"),
                  "port_file: '%s'", cfg.port_file);
    ck_assert_str_eq(cfg.error_log, "stderr");
    ck_assert_int_eq(cfg.log_level, LOG_LVL_NOTICE);
    ck_assert_str_eq(cfg.user, "");
}
END_TEST

START_TEST(test_defaults_relative_to_cwd)
{
    static struct cfg cfg;
    char want[PATH_MAX];
    enter_tmp();
    cfg_defaults(&cfg);
    path_in_tmp(want, "www");
    ck_assert_str_eq(cfg.root, want);
    path_in_tmp(want, "sluice.pid");
    ck_assert_str_eq(cfg.pid_file, want);
    path_in_tmp(want, "sluice.port");
    ck_assert_str_eq(cfg.port_file, want);
}
END_TEST

START_TEST(test_log_level_names)
{
    ck_assert_str_eq(cfg_log_level_name(LOG_LVL_DEBUG), "debug");
    ck_assert_str_eq(cfg_log_level_name(LOG_LVL_INFO), "info");
    ck_assert_str_eq(cfg_log_level_name(LOG_LVL_NOTICE), "notice");
    ck_assert_str_eq(cfg_log_level_name(LOG_LVL_WARN), "warn");
    ck_assert_str_eq(cfg_log_level_name(LOG_LVL_ERROR), "error");
    ck_assert_str_eq(cfg_log_level_name(LOG_LVL_CRIT), "crit");
    ck_assert_str_eq(cfg_log_level_name(LOG_LVL_ALERT), "alert");
}
END_TEST

/* The keys and default texts of the spec's table. user has no default ("(unset)"). */
static const struct {
    const char *name;
    const char *default_text;
} spec_keys[] = {
    {"listen", "127.0.0.1:8080"}, {"root", "./www"},
    {"index", "index.html"},      {"workers", "auto"},
    {"reuseport", "on"},          {"backlog", "4096"},
    {"max_connections", "auto"},  {"keepalive_timeout", "75s"},
    {"header_timeout", "15s"},    {"send_timeout", "60s"},
    {"graceful_timeout", "30s"},  {"pid_file", "sluice.pid"},
    {"port_file", "sluice.port"}, {"error_log", "stderr"},
    {"log_level", "notice"},      {"user", NULL},
    {"body_timeout", "60s"},      {"send_min_rate", "1k"},
    {"send_min_rate_period", "60s"}, {"max_request_line", "8k"},
    {"max_header_size", "16k"},   {"max_headers", "100"},
    {"max_body_size", "1m"},      {"max_keepalive_requests", "1000"},
    {"max_connections_per_ip", "0"}, {"worker_memory_limit", "0"},
    {"follow_symlinks", "inside"}, {"serve_dotfiles", "off"},
    {"autoindex", "off"},         {"mime_types", ""},
    {"default_type", "application/octet-stream"}, {"charset", "utf-8"},
    {"gzip_static", "off"},       {"sendfile_max_chunk", "512k"},
    {"max_ranges", "16"},         {"open_file_cache", "1000"},
    {"open_file_cache_valid", "5s"}, {"small_file_max", "16k"},
    {"small_file_cache", "4m"},   {"worker_watchdog", "60s"},
    {"max_requests", "0"},        {"max_requests_jitter", "0"},
    {"group", NULL},              {"worker_rlimit_nofile", "0"},
    {"cpu_affinity", "off"},      {"control_socket", ""},
};
#define N_SPEC_KEYS ((int)(sizeof(spec_keys) / sizeof(spec_keys[0])))

static int
spec_key_index(const char *name)
{
    for (int i = 0; i < N_SPEC_KEYS; i++)
        if (strcmp(spec_keys[i].name, name) == 0)
            return i;
    return -1;
}

START_TEST(test_key_table)
{
    bool seen[N_SPEC_KEYS] = {false};
    int i;
    for (i = 0; i < 1000; i++) {
        const char *def = NULL, *doc = NULL;
        const char *name = cfg_key_name(i, &def, &doc);
        if (!name)
            break;
        int k = spec_key_index(name);
        ck_assert_msg(k >= 0, "key %d '%s' is not in the spec", i, name);
        ck_assert_msg(!seen[k], "key '%s' listed twice", name);
        seen[k] = true;
        ck_assert_msg(def != NULL, "key '%s': no default text", name);
        ck_assert_msg(doc != NULL && doc[0] != '\0', "key '%s': no doc", name);
        if (spec_keys[k].default_text)
            ck_assert_msg(strcmp(def, spec_keys[k].default_text) == 0,
                          "key '%s': default text '%s', spec says '%s'", name, def,
                          spec_keys[k].default_text);
    }
    ck_assert_int_eq(i, N_SPEC_KEYS);
    for (int k = 0; k < N_SPEC_KEYS; k++)
        ck_assert_msg(seen[k], "spec key '%s' missing from the table", spec_keys[k].name);
    /* Past the end stays NULL, and the out-parameters may be NULL. */
    ck_assert_ptr_null(cfg_key_name(i + 1, NULL, NULL));
    ck_assert_ptr_nonnull(cfg_key_name(0, NULL, NULL));
}
END_TEST

/* The table's default texts are the defaults: each one loads, and a file that spells them all
 * out gives the same config as cfg_defaults. */
START_TEST(test_key_table_defaults_load)
{
    static struct cfg want, got;
    static char all[8192];
    size_t alen = 0;
    char path[PATH_MAX];

    enter_tmp();
    for (int i = 0;; i++) {
        const char *def = NULL;
        const char *name = cfg_key_name(i, &def, NULL);
        if (!name)
            break;
        if (!def || !def[0] || def[0] == '(') /* no default ("(unset)") */
            continue;
        write_cfgf(path, "%s = %s\n", name, def);
        load_ok(&got, path);
        alen += (size_t)snprintf(all + alen, sizeof(all) - alen, "%s = %s\n", name, def);
        ck_assert_uint_lt(alen, sizeof(all));
    }
    write_cfgf(path, "%s", all);
    load_ok(&got, path);
    cfg_defaults(&want);

    ck_assert_int_eq(got.nlisten, want.nlisten);
    ck_assert_str_eq(got.listen[0].text, want.listen[0].text);
    check_in4(&got.listen[0], "127.0.0.1", 8080);
    check_in4(&want.listen[0], "127.0.0.1", 8080);
    ck_assert_str_eq(got.root, want.root);
    ck_assert_int_eq(got.nindex, want.nindex);
    ck_assert_str_eq(got.index[0], want.index[0]);
    ck_assert_int_eq(got.reuseport, want.reuseport);
    ck_assert_int_eq(got.backlog, want.backlog);
    ck_assert_int_eq(got.keepalive_timeout_ms, want.keepalive_timeout_ms);
    ck_assert_int_eq(got.header_timeout_ms, want.header_timeout_ms);
    ck_assert_int_eq(got.send_timeout_ms, want.send_timeout_ms);
    ck_assert_int_eq(got.graceful_timeout_ms, want.graceful_timeout_ms);
    ck_assert_str_eq(got.pid_file, want.pid_file);
    ck_assert_str_eq(got.port_file, want.port_file);
    ck_assert_str_eq(got.error_log, want.error_log);
    ck_assert_int_eq(got.log_level, want.log_level);
    ck_assert_str_eq(got.user, want.user);
}
END_TEST

/* ---- loading good files -------------------------------------------------------------------- */

START_TEST(test_load_every_key)
{
    static struct cfg cfg;
    char path[PATH_MAX];
    struct passwd *pw = getpwuid(getuid());
    ck_assert_ptr_nonnull(pw);

    write_cfgf(path,
               "listen = 127.0.0.1:0\n"
               "root = %s/www\n"
               "index = index.html index.htm default.html\n"
               "workers = 3\n"
               "reuseport = off\n"
               "backlog = 128\n"
               "max_connections = 500\n"
               "keepalive_timeout = 5s\n"
               "header_timeout = 250ms\n"
               "send_timeout = 2m\n"
               "graceful_timeout = 1h\n"
               "pid_file = %s/s.pid\n"
               "port_file = %s/s.port\n"
               "error_log = %s/error.log\n"
               "log_level = debug\n"
               "user = %s\n",
               tmp_dir, tmp_dir, tmp_dir, tmp_dir, pw->pw_name);
    load_ok(&cfg, path);

    char want[PATH_MAX];
    ck_assert_str_eq(cfg.file, path);
    ck_assert_int_eq(cfg.nlisten, 1); /* replaces the default listener */
    check_in4(&cfg.listen[0], "127.0.0.1", 0);
    ck_assert_str_eq(cfg.listen[0].text, "127.0.0.1:0");
    ck_assert_int_eq(cfg.listen[0].line, 1);
    path_in_tmp(want, "www");
    ck_assert_str_eq(cfg.root, want);
    ck_assert_int_eq(cfg.nindex, 3);
    ck_assert_str_eq(cfg.index[0], "index.html");
    ck_assert_str_eq(cfg.index[1], "index.htm");
    ck_assert_str_eq(cfg.index[2], "default.html");
    ck_assert_int_eq(cfg.workers, 3);
    ck_assert(!cfg.reuseport);
    ck_assert_int_eq(cfg.backlog, 128);
    ck_assert_int_eq(cfg.max_connections, 500);
    ck_assert_int_eq(cfg.keepalive_timeout_ms, 5000);
    ck_assert_int_eq(cfg.header_timeout_ms, 250);
    ck_assert_int_eq(cfg.send_timeout_ms, 120000);
    ck_assert_int_eq(cfg.graceful_timeout_ms, 3600000);
    path_in_tmp(want, "s.pid");
    ck_assert_str_eq(cfg.pid_file, want);
    path_in_tmp(want, "s.port");
    ck_assert_str_eq(cfg.port_file, want);
    path_in_tmp(want, "error.log");
    ck_assert_str_eq(cfg.error_log, want);
    ck_assert_int_eq(cfg.log_level, LOG_LVL_DEBUG);
    ck_assert_str_eq(cfg.user, pw->pw_name);
}
END_TEST

START_TEST(test_load_range_bounds)
{
    /* The ends of each range in the spec are accepted. */
    static struct cfg cfg;
    char path[PATH_MAX];
    enter_tmp();

    write_cfgf(path, "workers = 1\nbacklog = 1\nmax_connections = 1\nkeepalive_timeout = 0\n"
                     "header_timeout = 1ms\nsend_timeout = 1ms\ngraceful_timeout = 0\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.workers, 1);
    ck_assert_int_eq(cfg.backlog, 1);
    ck_assert_int_eq(cfg.max_connections, 1);
    ck_assert_int_eq(cfg.keepalive_timeout_ms, 0);
    ck_assert_int_eq(cfg.header_timeout_ms, 1);
    ck_assert_int_eq(cfg.send_timeout_ms, 1);
    ck_assert_int_eq(cfg.graceful_timeout_ms, 0);

    write_cfgf(path, "workers = 64\nbacklog = 65535\nmax_connections = 1000000\n"
                     "keepalive_timeout = 1h\nheader_timeout = 60m\nsend_timeout = 3600s\n"
                     "graceful_timeout = 3600000ms\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.workers, 64);
    ck_assert_int_eq(cfg.backlog, 65535);
    ck_assert_int_eq(cfg.max_connections, 1000000);
    ck_assert_int_eq(cfg.keepalive_timeout_ms, 3600000);
    ck_assert_int_eq(cfg.header_timeout_ms, 3600000);
    ck_assert_int_eq(cfg.send_timeout_ms, 3600000);
    ck_assert_int_eq(cfg.graceful_timeout_ms, 3600000);
}
END_TEST

START_TEST(test_load_log_levels)
{
    static struct cfg cfg;
    char path[PATH_MAX];
    static const char *const names[] = {"debug", "info", "notice", "warn",
                                        "error", "crit", "alert"};
    enter_tmp();
    for (int i = 0; i < 7; i++) {
        write_cfgf(path, "log_level = %s\n", names[i]);
        load_ok(&cfg, path);
        ck_assert_int_eq(cfg.log_level, (enum cfg_log_level)i);
    }
}
END_TEST

START_TEST(test_load_listen_repeated)
{
    static struct cfg cfg;
    char path[PATH_MAX], sock[PATH_MAX];
    enter_tmp();
    path_in_tmp(sock, "s.sock");
    write_cfgf(path,
               "listen = 127.0.0.1:0\n"
               "; the same port on IPv6\n"
               "listen = [::1]:0\n"
               "listen = unix:%s\n",
               sock);
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.nlisten, 3);
    check_in4(&cfg.listen[0], "127.0.0.1", 0);
    check_in6(&cfg.listen[1], "::1", 0);
    check_unix(&cfg.listen[2], sock);
    ck_assert_str_eq(cfg.listen[0].text, "127.0.0.1:0");
    ck_assert_str_eq(cfg.listen[1].text, "[::1]:0");
    char text[PATH_MAX + 8];
    snprintf(text, sizeof(text), "unix:%s", sock);
    ck_assert_str_eq(cfg.listen[2].text, text);
    ck_assert_int_eq(cfg.listen[0].line, 1);
    ck_assert_int_eq(cfg.listen[1].line, 3);
    ck_assert_int_eq(cfg.listen[2].line, 4);
}
END_TEST

START_TEST(test_load_listen_max)
{
    static struct cfg cfg;
    static char buf[4096];
    char path[PATH_MAX];
    size_t n = 0;
    enter_tmp();
    for (int i = 0; i < CFG_MAX_LISTEN; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "listen = 127.0.0.1:%d\n", 10001 + i);
    write_cfgf(path, "%s", buf);
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.nlisten, CFG_MAX_LISTEN);
    for (int i = 0; i < CFG_MAX_LISTEN; i++) {
        check_in4(&cfg.listen[i], "127.0.0.1", 10001 + i);
        ck_assert_int_eq(cfg.listen[i].line, i + 1);
    }
}
END_TEST

START_TEST(test_load_index_max)
{
    static struct cfg cfg;
    char path[PATH_MAX];
    enter_tmp();
    write_cfgf(path, "index = a b c d e f g h\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.nindex, CFG_MAX_INDEX);
    ck_assert_str_eq(cfg.index[0], "a");
    ck_assert_str_eq(cfg.index[7], "h");

    write_cfgf(path, "index =   one.html    two.html  \n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.nindex, 2);
    ck_assert_str_eq(cfg.index[0], "one.html");
    ck_assert_str_eq(cfg.index[1], "two.html");
}
END_TEST

START_TEST(test_load_indented)
{
    /* Leading whitespace is stripped: an indented line is an ordinary line, not a continuation
     * of the previous value. */
    static struct cfg cfg;
    char path[PATH_MAX];
    enter_tmp();
    write_cfgf(path, "workers = 2\n"
                     "    backlog = 100\n"
                     "\treuseport = off\n"
                     "  ; an indented comment\n"
                     "   # another\n"
                     " \t log_level = warn\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.workers, 2);
    ck_assert_int_eq(cfg.backlog, 100);
    ck_assert(!cfg.reuseport);
    ck_assert_int_eq(cfg.log_level, LOG_LVL_WARN);
}
END_TEST

START_TEST(test_load_comments)
{
    static struct cfg cfg;
    char path[PATH_MAX];
    enter_tmp();
    write_cfgf(path, "; a comment\n"
                     "# a hash comment\n"
                     "\n"
                     "   \n"
                     "workers = 3 ; inline comment\n"
                     "index = a.html b.html ;c\n"
                     "backlog=100\n"
                     "log_level = error\n"
                     ";workers = 9\n"
                     "#backlog = 9\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.workers, 3);
    ck_assert_int_eq(cfg.nindex, 2);
    ck_assert_str_eq(cfg.index[0], "a.html");
    ck_assert_str_eq(cfg.index[1], "b.html");
    ck_assert_int_eq(cfg.backlog, 100);
    ck_assert_int_eq(cfg.log_level, LOG_LVL_ERROR);
}
END_TEST

START_TEST(test_load_crlf)
{
    static struct cfg cfg;
    char path[PATH_MAX], want[PATH_MAX];
    enter_tmp();
    write_cfgf(path,
               "; windows\r\n"
               "workers = 4\r\n"
               "\r\n"
               "root = %s/www\r\n"
               "index = a.html\r\n"
               "reuseport = off\r\n"
               "listen = [::1]:8081\r\n"
               "keepalive_timeout = 10s\r\n",
               tmp_dir);
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.workers, 4);
    path_in_tmp(want, "www");
    ck_assert_str_eq(cfg.root, want);
    ck_assert_int_eq(cfg.nindex, 1);
    ck_assert_str_eq(cfg.index[0], "a.html");
    ck_assert(!cfg.reuseport);
    check_in6(&cfg.listen[0], "::1", 8081);
    ck_assert_str_eq(cfg.listen[0].text, "[::1]:8081");
    ck_assert_int_eq(cfg.listen[0].line, 7);
    ck_assert_int_eq(cfg.keepalive_timeout_ms, 10000);
}
END_TEST

START_TEST(test_load_bom)
{
    static struct cfg cfg;
    char path[PATH_MAX];
    enter_tmp();
    write_cfgf(path, "\xEF\xBB\xBFworkers = 5\nbacklog = 7\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.workers, 5);
    ck_assert_int_eq(cfg.backlog, 7);

    write_cfgf(path, "\xEF\xBB\xBF; comment first\r\nworkers = 6\r\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.workers, 6);
}
END_TEST

START_TEST(test_load_longest_line)
{
    /* A line of exactly 196 bytes (the limit, not counting its newline) is accepted. */
    static struct cfg cfg;
    char path[PATH_MAX], name[256];
    enter_tmp();
    memset(name, 'n', 196 - 8);
    name[196 - 8] = '\0';
    write_cfgf(path, "index = %s\n", name); /* "index = " is 8 bytes */
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.nindex, 1);
    ck_assert_str_eq(cfg.index[0], name);

    /* Also as the last line without a newline. */
    write_cfgf(path, "workers = 2\nindex = %s", name);
    load_ok(&cfg, path);
    ck_assert_str_eq(cfg.index[0], name);
    ck_assert_int_eq(cfg.workers, 2);
}
END_TEST

START_TEST(test_load_empty)
{
    static struct cfg cfg, want;
    char path[PATH_MAX];
    enter_tmp();
    cfg_defaults(&want);

    write_file_in(NULL, "", 0, path);
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.nlisten, 1);
    ck_assert_str_eq(cfg.listen[0].text, "127.0.0.1:8080");
    ck_assert_str_eq(cfg.root, want.root);
    ck_assert_int_eq(cfg.backlog, 4096);

    write_cfgf(path, "; nothing but comments\n\n# here\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.nlisten, 1);
    ck_assert_int_eq(cfg.keepalive_timeout_ms, 75000);
}
END_TEST

START_TEST(test_load_auto)
{
    static struct cfg cfg;
    char path[PATH_MAX];
    enter_tmp();
    write_cfgf(path, "workers = auto\nmax_connections = auto\n");
    load_ok(&cfg, path);
    ck_assert_int_ge(cfg.workers, 1);
    ck_assert_int_ge(cfg.max_connections, 1);
    ck_assert_int_le(cfg.max_connections, 10000);

    /* Not given at all: the same resolution. */
    write_cfgf(path, "backlog = 10\n");
    load_ok(&cfg, path);
    ck_assert_int_ge(cfg.workers, 1);
    ck_assert_int_ge(cfg.max_connections, 1);
    ck_assert_int_le(cfg.max_connections, 10000);
}
END_TEST

START_TEST(test_load_relative_paths)
{
    /* Relative paths are relative to the cwd, not to the config file's directory: the file
     * lives in conf/, which has no www/. */
    static struct cfg cfg;
    char conf[PATH_MAX], path[PATH_MAX], want[PATH_MAX];
    enter_tmp();
    path_in_tmp(conf, "conf");
    ck_assert_int_eq(mkdir(conf, 0755), 0);
    static const char text[] = "root = www\n"
                               "pid_file = run.pid\n"
                               "port_file = run.port\n"
                               "error_log = error.log\n";
    write_file_in(conf, text, sizeof(text) - 1, path);
    load_ok(&cfg, path);
    path_in_tmp(want, "www");
    ck_assert_str_eq(cfg.root, want);
    path_in_tmp(want, "run.pid");
    ck_assert_str_eq(cfg.pid_file, want);
    path_in_tmp(want, "run.port");
    ck_assert_str_eq(cfg.port_file, want);
    path_in_tmp(want, "error.log");
    ck_assert_str_eq(cfg.error_log, want);
}
END_TEST

START_TEST(test_load_null_path)
{
    static struct cfg cfg;
    char want[PATH_MAX];
    enter_tmp();

    /* No ./sluice.ini: the defaults alone. */
    load_ok(&cfg, NULL);
    ck_assert_str_eq(cfg.file, "");
    ck_assert_int_eq(cfg.nlisten, 1);
    ck_assert_int_eq(cfg.backlog, 4096);
    path_in_tmp(want, "www");
    ck_assert_str_eq(cfg.root, want);

    /* With one: it is read. */
    path_in_tmp(want, "sluice.ini");
    FILE *f = fopen(want, "w");
    ck_assert_ptr_nonnull(f);
    fputs("backlog = 77\n", f);
    fclose(f);
    load_ok(&cfg, NULL);
    ck_assert_int_eq(cfg.backlog, 77);
    ck_assert_str_ne(cfg.file, "");
}
END_TEST

START_TEST(test_load_missing_file)
{
    static struct cfg cfg;
    char path[PATH_MAX], err[CFG_ERR_MAX], want[PATH_MAX + 64];
    path_in_tmp(path, "missing.ini");
    ck_assert_int_eq(load_err(&cfg, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_load_small_err_buffer)
{
    /* The message is truncated to errlen, NUL-terminated, nothing written past it. */
    static struct cfg cfg;
    char path[PATH_MAX], err[64];
    enter_tmp();
    write_cfgf(path, "wrokers = 2\n");
    memset(err, 'X', sizeof(err));
    cfg_defaults(&cfg);
    ck_assert_int_eq(cfg_load(&cfg, path, err, 16), -1);
    ck_assert_msg(memchr(err, '\0', 16) != NULL, "err not NUL-terminated within errlen");
    for (size_t i = 16; i < sizeof(err); i++)
        ck_assert_msg(err[i] == 'X', "byte %zu past errlen written", i);
}
END_TEST

/* ---- golden error files -------------------------------------------------------------------- */

/* t/unit/cfg/NAME.ini must fail to load with the message in NAME.err (first line, trailing
 * newline stripped). In NAME.err:
 *   FILE    stands for the path passed to cfg_load ("t/unit/cfg/NAME.ini");
 *   CWD     stands for getcwd();
 *   a line ending in " (...)" matches its prefix followed by " (reason)" with any non-empty
 *           reason: the wording of "(expected ...)" in value errors is not fixed by the spec;
 *   a line ending in "..." (any other way) matches its prefix alone.
 * Tests run from the repository root. */

static void
replace_all(char *s, size_t size, const char *token, const char *with)
{
    size_t tlen = strlen(token), wlen = strlen(with);
    char *p = s;
    while ((p = strstr(p, token)) != NULL) {
        size_t rest = strlen(p + tlen);
        ck_assert_msg((size_t)(p - s) + wlen + rest < size, "golden line too long");
        memmove(p + wlen, p + tlen, rest + 1);
        memcpy(p, with, wlen);
        p += wlen;
    }
}

/* Returns NULL when `got` matches the expectation `want`, else a short description. */
static const char *
golden_mismatch(const char *want, const char *got)
{
    size_t wlen = strlen(want);
    static const char paren[] = " (...)";
    size_t plen = sizeof(paren) - 1;

    if (wlen >= plen && strcmp(want + wlen - plen, paren) == 0) {
        size_t prefix = wlen - plen;
        if (strncmp(got, want, prefix) != 0)
            return "prefix differs";
        const char *rest = got + prefix;
        size_t rlen = strlen(rest);
        if (rlen < 4 || strncmp(rest, " (", 2) != 0 || rest[rlen - 1] != ')')
            return "no ' (reason)' after the prefix";
        return NULL;
    }
    if (wlen >= 3 && strcmp(want + wlen - 3, "...") == 0)
        return strncmp(got, want, wlen - 3) == 0 ? NULL : "prefix differs";
    return strcmp(got, want) == 0 ? NULL : "differs";
}

static int
is_ini(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 && strcmp(d->d_name + n - 4, ".ini") == 0;
}

START_TEST(test_golden)
{
    static struct cfg cfg;
    static char report[16384];
    size_t rlen = 0;
    int nfail = 0;
    char cwd[PATH_MAX];
    struct dirent **names = NULL;

    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    int n = scandir(GOLDEN_DIR, &names, is_ini, alphasort);
    ck_assert_msg(n >= 0, "%s: %s (tests must run from the repository root)", GOLDEN_DIR,
                  strerror(errno));
    ck_assert_msg(n >= 20, "only %d golden files in %s", n, GOLDEN_DIR);

    for (int i = 0; i < n; i++) {
        char ini[PATH_MAX], errf[PATH_MAX], want[CFG_ERR_MAX + PATH_MAX], got[CFG_ERR_MAX];
        snprintf(ini, sizeof(ini), "%s/%s", GOLDEN_DIR, names[i]->d_name);
        snprintf(errf, sizeof(errf), "%.*s.err", (int)strlen(ini) - 4, ini);
        free(names[i]);

        FILE *f = fopen(errf, "r");
        if (!f || !fgets(want, sizeof(want), f)) {
            rlen += (size_t)snprintf(report + rlen, sizeof(report) - rlen, "\n%s: %s", errf,
                                     f ? "empty" : strerror(errno));
            nfail++;
            if (f)
                fclose(f);
            continue;
        }
        fclose(f);
        want[strcspn(want, "\r\n")] = '\0';
        replace_all(want, sizeof(want), "FILE", ini);
        replace_all(want, sizeof(want), "CWD", cwd);

        int rc = load_err(&cfg, ini, got, sizeof(got));
        const char *why = rc != -1 ? "cfg_load did not return -1" : golden_mismatch(want, got);
        if (why) {
            nfail++;
            fprintf(stderr, "golden %s: %s\n  expected: %s\n  got (%d): %s\n", ini, why, want, rc,
                    got);
            if (rlen < sizeof(report))
                rlen += (size_t)snprintf(report + rlen, sizeof(report) - rlen,
                                         "\n%s: %s\n  expected: %s\n  got (%d): %s", ini, why, want,
                                         rc, got);
        }
    }
    free(names);
    ck_assert_msg(nfail == 0, "%d of %d golden files failed:%s", nfail, n, report);
}
END_TEST

Suite *
cfg_suite(void)
{
    Suite *s = suite_create("cfg");

    TCase *parse = tcase_create("parse");
    tcase_add_test(parse, test_parse_bool);
    tcase_add_test(parse, test_parse_int);
    tcase_add_test(parse, test_parse_size);
    tcase_add_test(parse, test_parse_duration);
    tcase_add_test(parse, test_parse_listen_good);
    tcase_add_test(parse, test_parse_listen_bad);
    tcase_add_test(parse, test_parse_listen_why_null);
    tcase_add_test(parse, test_format_addr_round_trip);
    tcase_add_test(parse, test_format_addr_raw);
    tcase_add_test(parse, test_format_addr_small_buffer);
    tcase_add_test(parse, test_log_level_names);
    suite_add_tcase(s, parse);

    TCase *table = tcase_create("table");
    tcase_add_checked_fixture(table, tmp_setup, tmp_teardown);
    tcase_add_test(table, test_defaults);
    tcase_add_test(table, test_defaults_relative_to_cwd);
    tcase_add_test(table, test_key_table);
    tcase_add_test(table, test_key_table_defaults_load);
    suite_add_tcase(s, table);

    TCase *load = tcase_create("load");
    tcase_add_checked_fixture(load, tmp_setup, tmp_teardown);
    tcase_add_test(load, test_load_every_key);
    tcase_add_test(load, test_load_range_bounds);
    tcase_add_test(load, test_load_log_levels);
    tcase_add_test(load, test_load_listen_repeated);
    tcase_add_test(load, test_load_listen_max);
    tcase_add_test(load, test_load_index_max);
    tcase_add_test(load, test_load_indented);
    tcase_add_test(load, test_load_comments);
    tcase_add_test(load, test_load_crlf);
    tcase_add_test(load, test_load_bom);
    tcase_add_test(load, test_load_longest_line);
    tcase_add_test(load, test_load_empty);
    tcase_add_test(load, test_load_auto);
    tcase_add_test(load, test_load_relative_paths);
    tcase_add_test(load, test_load_null_path);
    tcase_add_test(load, test_load_missing_file);
    tcase_add_test(load, test_load_small_err_buffer);
    suite_add_tcase(s, load);

    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, test_golden);
    suite_add_tcase(s, golden);

    return s;
}
