/* Unit tests for common/cfg.c's loader: good files, and the error messages of bad ones (golden
 * files in t/unit/cfg/, see test_golden). */
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

#include "include/sluice.h"
#include "t/unit/cfg_fixture.h"

#define GOLDEN_DIR "t/unit/cfg"

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

/* The request/response seam's keys: values with their suffixes, the lines they were set on,
 * and max_response_header at the least max_request_line allows, whichever comes first. */
START_TEST(test_load_seam_keys)
{
    static struct cfg cfg;
    char path[PATH_MAX], want[PATH_MAX];
    enter_tmp();
    write_cfgf(path,
               "body_buffer_size = 1m\n"
               "body_temp_path = %s\n"
               "; the least max_request_line 256 allows: 3 x 256 + 1024\n"
               "max_response_header = 1792\n"
               "request_timeout = 1500ms\n"
               "max_request_line = 256\n",
               tmp_dir);
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.body_buffer_size, 1 << 20);
    ck_assert_str_eq(cfg.body_temp_path, tmp_dir);
    ck_assert_int_eq(cfg.body_temp_path_line, 2);
    ck_assert_int_eq(cfg.max_response_header, 1792);
    ck_assert_int_eq(cfg.max_response_header_line, 4);
    ck_assert_int_eq(cfg.request_timeout_ms, 1500);
    ck_assert_int_eq(cfg.max_request_line_line, 6);

    /* The other ends; the largest max_request_line with room for it. */
    write_cfgf(path, "body_buffer_size = 1k\nmax_response_header = 16m\nrequest_timeout = 1h\n"
                     "max_request_line = 1m\nmax_header_size = 1m\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.body_buffer_size, 1024);
    ck_assert_int_eq(cfg.max_response_header, 16 << 20);
    ck_assert_int_eq(cfg.request_timeout_ms, 3600000);
    write_cfgf(path, "max_response_header = 3146752\nmax_request_line = 1m\n"
                     "max_header_size = 1m\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.max_response_header, 3 * (1 << 20) + 1024);

    /* A body_temp_path that does not exist loads: -t and start check it (master/budget.c),
     * against the user the workers will run as. */
    write_cfgf(path, "body_temp_path = no/such/dir\n");
    load_ok(&cfg, path);
    path_in_tmp(want, "no/such/dir");
    ck_assert_str_eq(cfg.body_temp_path, want);
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

/* certificate and certificate_key repeat, pair by rank, record their lines and become absolute;
 * the TLS settings have the documented defaults. */
START_TEST(test_load_tls_keys)
{
    static struct cfg cfg;
    char path[PATH_MAX], want[PATH_MAX];
    enter_tmp();
    write_cfgf(path, "listen = 127.0.0.1:0 tls\n"
                     "certificate = rsa.pem\n"
                     "certificate_key = rsa.key\n"
                     "certificate = /etc/ec.pem\n"
                     "# a comment\n"
                     "certificate_key = /etc/ec.key\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.ncertificate, 2);
    ck_assert_int_eq(cfg.ncertificate_key, 2);
    snprintf(want, sizeof(want), "%s/rsa.pem", tmp_dir);
    ck_assert_str_eq(cfg.certificate[0].path, want);
    ck_assert_int_eq(cfg.certificate[0].line, 2);
    ck_assert_int_eq(cfg.certificate_key[0].line, 3);
    ck_assert_str_eq(cfg.certificate[1].path, "/etc/ec.pem");
    ck_assert_int_eq(cfg.certificate[1].line, 4);
    ck_assert_str_eq(cfg.certificate_key[1].path, "/etc/ec.key");
    ck_assert_int_eq(cfg.certificate_key[1].line, 6);
    ck_assert_uint_eq(cfg.listen[0].flags, CFG_LISTEN_TLS);
    ck_assert_uint_eq(cfg.tls_protocols, CFG_TLS_V12 | CFG_TLS_V13);
    ck_assert_str_eq(cfg.tls_ciphers, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aDSS");
    ck_assert(!cfg.tls_prefer_server_ciphers);

    write_cfgf(path, "tls_protocols = TLSv1.3\n"
                     "tls_ciphers = ECDHE-RSA-AES256-GCM-SHA384\n"
                     "tls_ciphersuites = TLS_AES_128_GCM_SHA256\n"
                     "tls_prefer_server_ciphers = on\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.ncertificate, 0);
    ck_assert_uint_eq(cfg.tls_protocols, CFG_TLS_V13);
    ck_assert_int_eq(cfg.tls_protocols_line, 1);
    ck_assert_str_eq(cfg.tls_ciphers, "ECDHE-RSA-AES256-GCM-SHA384");
    ck_assert_int_eq(cfg.tls_ciphers_line, 2);
    ck_assert_str_eq(cfg.tls_ciphersuites, "TLS_AES_128_GCM_SHA256");
    ck_assert(cfg.tls_prefer_server_ciphers);
}
END_TEST

static void
no_warning(void *arg, const char *file, int line, const char *what)
{
    (void)arg;
    ck_abort_msg("unexpected warning %s:%d: %s", file, line, what);
}

/* [app "name"] sections: the server's keys (module, route), the module's own in file order,
 * and the public calls that read them (sl_config_*). */
START_TEST(test_load_apps)
{
    static struct cfg cfg;
    char path[PATH_MAX], want[PATH_MAX];
    const char *k, *v;
    enter_tmp();
    write_cfgf(path, "workers = 1\n"
                     "module_check_timeout = 2s\n"
                     "[app \"api\"]  ; the API\n"
                     "module = mods/api.so\n"
                     "route = /api/\n"
                     "route = = /status\n"
                     "greeting = hello world\n"
                     "  empty =\n"
                     "\n"
                     "[app \"files.v2\"]\n"
                     "route = /\n"
                     "module = /opt/f.so\n");
    load_ok(&cfg, path);
    ck_assert_int_eq(cfg.workers, 1);
    ck_assert_int_eq(cfg.module_check_timeout_ms, 2000);
    ck_assert_int_eq(cfg.napps, 2);
    const struct cfg_app *a = &cfg.app[0];
    ck_assert_str_eq(a->name, "api");
    ck_assert_int_eq(a->line, 3);
    snprintf(want, sizeof(want), "%s/mods/api.so", tmp_dir);
    ck_assert_str_eq(a->module, want);
    ck_assert_int_eq(a->module_line, 4);
    ck_assert_int_eq(a->nroute, 2);
    ck_assert_str_eq(a->route[0], "/api/");
    ck_assert(!a->route_exact[0]);
    ck_assert_str_eq(a->route[1], "/status");
    ck_assert(a->route_exact[1]);
    ck_assert_int_eq(a->route_line[1], 6);

    const struct sl_section *sec = (const struct sl_section *)a;
    ck_assert_str_eq(sl_config_name(sec), "api");
    ck_assert_str_eq(sl_config_get(sec, "greeting"), "hello world");
    ck_assert_str_eq(sl_config_get(sec, "empty"), "");
    ck_assert_ptr_null(sl_config_get(sec, "module")); /* the server's, not the module's */
    ck_assert_ptr_null(sl_config_get(sec, "nope"));
    ck_assert_int_eq(sl_config_line(sec, "empty"), 8);
    ck_assert_int_eq(sl_config_line(sec, "nope"), 0);
    int i = 0;
    ck_assert_int_eq(sl_config_next(sec, &i, &k, &v), 1);
    ck_assert_str_eq(k, "greeting");
    ck_assert_int_eq(sl_config_next(sec, &i, &k, &v), 1);
    ck_assert_str_eq(k, "empty");
    ck_assert_int_eq(sl_config_next(sec, &i, &k, &v), 0);

    ck_assert_str_eq(cfg.app[1].name, "files.v2");
    ck_assert_str_eq(cfg.app[1].module, "/opt/f.so");
    ck_assert_str_eq(cfg.app[1].route[0], "/");
    ck_assert_int_eq(cfg.app[1].nkeys, 0);

    /* The commands that only find the master skip applications whole, without a warning. */
    char err[CFG_ERR_MAX];
    ck_assert_int_eq(cfg_read_lenient(&cfg, path, no_warning, NULL, err, sizeof(err)), 0);
    ck_assert_int_eq(cfg.napps, 0);
}
END_TEST

/* An application's own keys are bounded: 32 of them, 4096 bytes of names and values. */
START_TEST(test_load_app_limits)
{
    static struct cfg cfg;
    static char body[16384];
    char path[PATH_MAX], err[CFG_ERR_MAX];
    size_t n = (size_t)snprintf(body, sizeof(body), "[app \"x\"]\nmodule = /x.so\nroute = /\n");
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "k%d = v\n", i);
    enter_tmp();
    write_cfgf(path, "%s", body);
    ck_assert_int_eq(load_err(&cfg, path, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, ":36: k32: app \"x\" has too many keys (at most 32, 4096 bytes)"),
                  "%s", err);
    n = (size_t)snprintf(body, sizeof(body), "[app \"x\"]\nmodule = /x.so\nroute = /\n");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "k%d = %0180d\n", i, 0);
    write_cfgf(path, "%s", body);
    ck_assert_int_eq(load_err(&cfg, path, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "has too many keys"), "%s", err);
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
                               "error_log = error.log\n"
                               "body_temp_path = ./spill\n";
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
    path_in_tmp(want, "spill");
    ck_assert_str_eq(cfg.body_temp_path, want);
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
cfg_load_suite(void)
{
    Suite *s = suite_create("cfg_load");

    TCase *load = tcase_create("load");
    tcase_add_checked_fixture(load, tmp_setup, tmp_teardown);
    tcase_add_test(load, test_load_every_key);
    tcase_add_test(load, test_load_range_bounds);
    tcase_add_test(load, test_load_seam_keys);
    tcase_add_test(load, test_load_log_levels);
    tcase_add_test(load, test_load_listen_repeated);
    tcase_add_test(load, test_load_listen_max);
    tcase_add_test(load, test_load_index_max);
    tcase_add_test(load, test_load_tls_keys);
    tcase_add_test(load, test_load_apps);
    tcase_add_test(load, test_load_app_limits);
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
