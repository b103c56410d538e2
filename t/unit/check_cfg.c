/* Unit tests for common/cfg.c: defaults, log level names and the key table. The value parsers:
 * check_cfg_value.c; loading files and the golden error messages: check_cfg_load.c. */
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

    /* The request/response seam's keys. */
    ck_assert_int_eq(cfg.body_buffer_size, 16384);
    ck_assert_int_eq(cfg.max_response_header, 65536);
    ck_assert_int_eq(cfg.request_timeout_ms, 60000);
    const char *tmpdir = getenv("TMPDIR");
    if (tmpdir && tmpdir[0] == '/')
        ck_assert_str_eq(cfg.body_temp_path, tmpdir);
    else
        ck_assert_str_eq(cfg.body_temp_path, "/tmp");
    ck_assert_int_eq(cfg.body_temp_path_line, 0);
    ck_assert_int_eq(cfg.max_response_header_line, 0);
    /* The default max_response_header leaves room for the default max_request_line. */
    ck_assert_int_ge(cfg.max_response_header, 3 * cfg.max_request_line + 1024);
}
END_TEST

/* body_temp_path unset: $TMPDIR when it is set, absolute and not empty, else /tmp; an empty
 * value in the file means the same. */
START_TEST(test_defaults_body_temp_path)
{
    static struct cfg cfg;
    char path[PATH_MAX], err[CFG_ERR_MAX];
    static const struct {
        const char *tmpdir; /* NULL: unset */
        const char *want;
    } cases[] = {
        {NULL, "/tmp"},
        {"", "/tmp"},
        {"relative/dir", "/tmp"},
        {"/var/spool/sluice", "/var/spool/sluice"},
        {"/", "/"},
    };
    enter_tmp();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].tmpdir)
            ck_assert_int_eq(setenv("TMPDIR", cases[i].tmpdir, 1), 0);
        else
            ck_assert_int_eq(unsetenv("TMPDIR"), 0);
        cfg_defaults(&cfg);
        ck_assert_msg(strcmp(cfg.body_temp_path, cases[i].want) == 0,
                      "TMPDIR=%s: body_temp_path '%s', want '%s'",
                      cases[i].tmpdir ? cases[i].tmpdir : "(unset)", cfg.body_temp_path,
                      cases[i].want);
        write_cfgf(path, "body_temp_path =\n");
        ck_assert_msg(cfg_read(&cfg, path, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(cfg.body_temp_path, cases[i].want);
    }
    /* A TMPDIR longer than the field: /tmp, not a truncated path. */
    static char huge[CFG_PATH_MAX + 16];
    memset(huge, 'd', sizeof(huge) - 1);
    huge[0] = '/';
    ck_assert_int_eq(setenv("TMPDIR", huge, 1), 0);
    cfg_defaults(&cfg);
    ck_assert_str_eq(cfg.body_temp_path, "/tmp");
    unsetenv("TMPDIR");
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
    {"listen", "127.0.0.1:8080"},
    {"root", "./www"},
    {"index", "index.html"},
    {"workers", "auto"},
    {"reuseport", "on"},
    {"backlog", "4096"},
    {"max_connections", "auto"},
    {"keepalive_timeout", "75s"},
    {"handshake_timeout", "10s"},
    {"header_timeout", "15s"},
    {"send_timeout", "60s"},
    {"graceful_timeout", "30s"},
    {"module_check_timeout", "10s"},
    {"idle_close_grace", "1s"},
    {"pid_file", "sluice.pid"},
    {"port_file", "sluice.port"},
    {"error_log", "stderr"},
    {"log_level", "notice"},
    {"user", NULL},
    {"body_timeout", "60s"},
    {"send_min_rate", "1k"},
    {"send_min_rate_period", "60s"},
    {"body_min_rate", "1k"},
    {"body_min_rate_period", "60s"},
    {"max_request_line", "8k"},
    {"max_header_size", "16k"},
    {"max_headers", "100"},
    {"max_body_size", "1m"},
    {"max_keepalive_requests", "1000"},
    {"max_connections_per_ip", "0"},
    {"worker_memory_limit", "0"},
    {"follow_symlinks", "inside"},
    {"serve_dotfiles", "off"},
    {"autoindex", "off"},
    {"mime_types", ""},
    {"default_type", "application/octet-stream"},
    {"charset", "utf-8"},
    {"gzip_static", "off"},
    {"sendfile_max_chunk", "512k"},
    {"max_ranges", "16"},
    {"open_file_cache", "1000"},
    {"open_file_cache_valid", "5s"},
    {"small_file_max", "16k"},
    {"small_file_cache", "4m"},
    {"worker_watchdog", "60s"},
    {"max_requests", "0"},
    {"max_requests_jitter", "0"},
    {"group", NULL},
    {"worker_rlimit_nofile", "0"},
    {"cpu_affinity", "off"},
    {"control_socket", ""},
    {"body_buffer_size", "16k"},
    {"body_temp_path", ""},
    {"max_response_header", "64k"},
    {"request_timeout", "60s"},
    {"certificate", ""},
    {"certificate_key", ""},
    {"tls_protocols", "TLSv1.2 TLSv1.3"},
    {"tls_ciphers", "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aDSS"},
    {"tls_ciphersuites",
     "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"},
    {"tls_prefer_server_ciphers", "off"},
    {"access_log", "off"},
    {"access_log_format", "combined"},
    {"access_log_buffer", "64k"},
    {"status_path", "off"},
    {"status_allow", "127.0.0.1/32 ::1/128"},
    {"health_path", "off"},
    {"drain_delay", "0s"},
    {"real_ip_from", ""},
    {"real_ip_header", "X-Forwarded-For"},
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
    ck_assert_int_eq(got.idle_close_grace_ms, want.idle_close_grace_ms);
    ck_assert_str_eq(got.pid_file, want.pid_file);
    ck_assert_str_eq(got.port_file, want.port_file);
    ck_assert_str_eq(got.error_log, want.error_log);
    ck_assert_int_eq(got.log_level, want.log_level);
    ck_assert_str_eq(got.user, want.user);
    ck_assert_int_eq(got.body_buffer_size, want.body_buffer_size);
    ck_assert_str_eq(got.body_temp_path, want.body_temp_path);
    ck_assert_int_eq(got.max_response_header, want.max_response_header);
    ck_assert_int_eq(got.request_timeout_ms, want.request_timeout_ms);
}
END_TEST

/* Every size key's range as the README's table gives it, written the way it is written there:
 * both ends load to the right number of bytes, one byte past either end is refused. */
START_TEST(test_size_ranges_writable)
{
#define SIZE_KEY(name) #name, offsetof(struct cfg, name)
    static const struct {
        const char *key;
        size_t off; /* the int64_t field */
        const char *min, *max;
        long long min_bytes, max_bytes;
        const char *also; /* a line the key needs beside it (or "") */
    } ranges[] = {
        {SIZE_KEY(send_min_rate), "0", "1t", 0, 1LL << 40, ""},
        {SIZE_KEY(body_min_rate), "0", "1t", 0, 1LL << 40, ""},
        {SIZE_KEY(max_request_line), "256", "1m", 256, 1 << 20,
         "max_header_size = 1m\nmax_response_header = 16m\n"},
        {SIZE_KEY(max_header_size), "1k", "1m", 1024, 1 << 20, "max_request_line = 256\n"},
        {SIZE_KEY(max_body_size), "0", "1t", 0, 1LL << 40, ""},
        {SIZE_KEY(body_buffer_size), "1k", "64m", 1024, 64 << 20, ""},
        /* 3 x max_request_line + 1024 at its least max_request_line (256). */
        {SIZE_KEY(max_response_header), "1792", "16m", 1792, 16 << 20, "max_request_line = 256\n"},
        {SIZE_KEY(worker_memory_limit), "0", "1t", 0, 1LL << 40, ""},
        {SIZE_KEY(sendfile_max_chunk), "4k", "1g", 4096, 1LL << 30, ""},
        {SIZE_KEY(small_file_max), "0", "1m", 0, 1 << 20, ""},
        {SIZE_KEY(small_file_cache), "0", "4g", 0, 4LL << 30, ""},
    };
#undef SIZE_KEY
    static struct cfg cfg;
    char path[PATH_MAX], err[CFG_ERR_MAX];
    enter_tmp();
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        const char *ends[2] = {ranges[i].min, ranges[i].max};
        long long bytes[2] = {ranges[i].min_bytes, ranges[i].max_bytes};
        for (int e = 0; e < 2; e++) {
            write_cfgf(path, "%s%s = %s\n", ranges[i].also, ranges[i].key, ends[e]);
            load_ok(&cfg, path);
            int64_t got;
            memcpy(&got, (const char *)&cfg + ranges[i].off, sizeof(got));
            ck_assert_msg(got == bytes[e], "%s = %s loaded as %lld, want %lld", ranges[i].key,
                          ends[e], (long long)got, bytes[e]);
        }
        if (bytes[0] > 0) {
            write_cfgf(path, "%s%s = %lld\n", ranges[i].also, ranges[i].key, bytes[0] - 1);
            ck_assert_msg(load_err(&cfg, path, err, sizeof(err)) != 0, "%s = %lld accepted",
                          ranges[i].key, bytes[0] - 1);
        }
        write_cfgf(path, "%s%s = %lld\n", ranges[i].also, ranges[i].key, bytes[1] + 1);
        ck_assert_msg(load_err(&cfg, path, err, sizeof(err)) != 0, "%s = %lld accepted",
                      ranges[i].key, bytes[1] + 1);
    }
}
END_TEST

Suite *
cfg_suite(void)
{
    Suite *s = suite_create("cfg");

    TCase *parse = tcase_create("parse");
    tcase_add_test(parse, test_log_level_names);
    suite_add_tcase(s, parse);

    TCase *table = tcase_create("table");
    tcase_add_checked_fixture(table, tmp_setup, tmp_teardown);
    tcase_add_test(table, test_defaults);
    tcase_add_test(table, test_defaults_body_temp_path);
    tcase_add_test(table, test_defaults_relative_to_cwd);
    tcase_add_test(table, test_key_table);
    tcase_add_test(table, test_key_table_defaults_load);
    tcase_add_test(table, test_size_ranges_writable);
    suite_add_tcase(s, table);

    return s;
}
