/* Configuration: the key table, its value parsers and the defaults. Reading a file and the checks
 * across keys are in cfg_load.c. */
#include "common/cfg.h"
#include "common/cfg_internal.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info", "notice", "warn",
                                          "error", "crit", "alert",  NULL};

const char *
cfg_log_level_name(enum cfg_log_level level)
{
    if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]) - 1)
        return "?";
    return level_names[level];
}

/* max_connections = auto: each connection may hold a socket and an open file; the open file
 * cache keeps its own descriptors, and 32 stay for the worker itself. */
void
cfg_resolve_auto(struct cfg *cfg)
{
    struct rlimit rl;
    if (!cfg->max_connections_auto)
        return;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) {
        cfg->max_connections = 10000;
        return;
    }
    long n = ((long)rl.rlim_cur - 32 - cfg->open_file_cache) / 2;
    cfg->max_connections = n < 1 ? 1 : n > 10000 ? 10000 : (int)n;
}

/* ---- the value parsers of the table ---- */

static char range_why[96]; /* single-threaded: the loader runs in one process at a time */

#define field_of(cfg, k) ((void *)((char *)(cfg) + (k)->off))

_Static_assert(sizeof(enum cfg_log_level) == sizeof(int), "store() writes log_level as an int");

/* A number goes to the row's field, whichever of int64_t, int or bool it is. */
static int
store(struct cfg *cfg, const struct key *k, int64_t v)
{
    if (k->size == sizeof(int64_t))
        *(int64_t *)field_of(cfg, k) = v;
    else if (k->size == sizeof(int))
        *(int *)field_of(cfg, k) = (int)v;
    else
        *(bool *)field_of(cfg, k) = v != 0;
    return 0;
}

int cfg_set_line;

static int
set_listen(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    struct cfg_listen *l = &cfg->listen[cfg->nlisten];
    (void)k;
    if (cfg_parse_listen(val, l, why) < 0)
        return -1;
    l->line = cfg_set_line;
    cfg->nlisten++;
    return 0;
}

/* certificate, certificate_key: one more PEM file, made absolute. The default ("") is none. */
static int
set_pem(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    int *n = (int *)((char *)cfg + k->count_off);
    struct cfg_pem *pem = (struct cfg_pem *)field_of(cfg, k) + *n;
    if (*val == '\0' && cfg_set_line == 0)
        return 0;
    if (*val == '\0' || cfg_absolute_path(val, pem->path, sizeof(pem->path)) < 0) {
        *why = "expected a path";
        return -1;
    }
    pem->line = cfg_set_line;
    (*n)++;
    return 0;
}

static int
set_tls_protocols(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    (void)k;
    return cfg_parse_tls_protocols(val, &cfg->tls_protocols, why);
}

static int
set_index(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    char copy[1024];
    char *save = NULL;
    int n = 0;
    (void)k;
    if (snprintf(copy, sizeof(copy), "%s", val) >= (int)sizeof(copy)) {
        *why = "value too long";
        return -1;
    }
    for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (n == CFG_MAX_INDEX) {
            *why = "at most 8 names";
            return -1;
        }
        if (strchr(tok, '/') || strcmp(tok, ".") == 0 || strcmp(tok, "..") == 0 ||
            strlen(tok) >= sizeof(cfg->index[0])) {
            *why = "expected file names without '/'";
            return -1;
        }
        strcpy(cfg->index[n++], tok);
    }
    if (n == 0) {
        *why = "expected at least one file name";
        return -1;
    }
    cfg->nindex = n;
    return 0;
}

/* v stored when within the row's bounds; else -1, `why` being `fmt` given min and max. */
static int
store_in_range(struct cfg *cfg, const struct key *k, int64_t v, const char *fmt, const char **why)
{
    if (v >= k->min && v <= k->max)
        return store(cfg, k, v);
    snprintf(range_why, sizeof(range_why), fmt, (long long)k->min, (long long)k->max);
    *why = range_why;
    return -1;
}

static int
set_int(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    int64_t v = k->min - 1; /* stays out of range unless val is a number in range */
    cfg_parse_int(val, k->min, k->max, &v, NULL);
    return store_in_range(cfg, k, v, k->expect ? k->expect : "expected an integer %lld..%lld", why);
}

/* workers = auto: the online CPUs. */
static int
set_workers(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    if (strcmp(val, "auto") != 0)
        return set_int(cfg, k, val, why);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->workers = n < 1 ? 1 : n > CFG_MAX_WORKERS ? CFG_MAX_WORKERS : (int)n;
    return 0;
}

/* max_connections = auto: resolved by cfg_resolve_auto once open_file_cache is known. */
static int
set_max_connections(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    cfg->max_connections_auto = strcmp(val, "auto") == 0;
    return cfg->max_connections_auto ? 0 : set_int(cfg, k, val, why);
}

static int
set_size(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    int64_t v;
    if (cfg_parse_size(val, &v, why) < 0)
        return -1;
    return store_in_range(cfg, k, v,
                          k->expect ? k->expect : "expected a size from %lld to %lld bytes", why);
}

static int
set_duration(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    int64_t v; /* every duration's upper bound is 1h */
    if (cfg_parse_duration_ms(val, &v, why) < 0)
        return -1;
    return store_in_range(
        cfg, k, v,
        k->min ? "expected a duration from %lldms to 1h" : "expected a duration up to 1h", why);
}

static int
set_bool(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    return cfg_parse_bool(val, field_of(cfg, k), why);
}

/* One of the row's words: the field gets its index. */
static int
set_choice(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    for (int i = 0; k->words[i]; i++)
        if (strcmp(val, k->words[i]) == 0)
            return store(cfg, k, i);
    *why = k->expect;
    return -1;
}

/* One of the row's words, stored as it is ("" for "off"); else false. */
static bool
set_verbatim(struct cfg *cfg, const struct key *k, const char *val)
{
    for (int i = 0; k->words && k->words[i]; i++)
        if (strcmp(val, k->words[i]) == 0) {
            strcpy(field_of(cfg, k), strcmp(val, "off") == 0 ? "" : val);
            return true;
        }
    return false;
}

/* A path, made absolute; or one of the row's words ("" for unset, "stderr"). */
static int
set_path(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    if (set_verbatim(cfg, k, val))
        return 0;
    if (*val == '\0' || cfg_absolute_path(val, field_of(cfg, k), k->size) < 0) {
        *why = k->expect ? k->expect : "expected a path";
        return -1;
    }
    return 0;
}

/* body_temp_path: a directory, made absolute; unset (the default, or an empty value) is
 * $TMPDIR when that is set, absolute and fits, else /tmp, as mkstemp's callers usually do.
 * Whether it exists and the workers can create files there is budget.c's check (-t, start). */
static int
set_temp_dir(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    const char *tmpdir = getenv("TMPDIR");
    if (*val != '\0')
        return set_path(cfg, k, val, why);
    if (tmpdir && tmpdir[0] == '/' && cfg_absolute_path(tmpdir, field_of(cfg, k), k->size) == 0)
        return 0;
    strcpy(field_of(cfg, k), "/tmp");
    return 0;
}

/* A short string without the row's refused characters (default: spaces, quotes, ';' and ','),
 * or one of its words ("off", "" for unset). A user or group is checked by cfg_check. */
static int
set_word(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    if (set_verbatim(cfg, k, val))
        return 0;
    if (*val == '\0' || strlen(val) >= k->size || strpbrk(val, k->bad ? k->bad : " \t\";,")) {
        *why = k->expect;
        return -1;
    }
    strcpy(field_of(cfg, k), val);
    return 0;
}

static int
set_media_type(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    if (strchr(val, '/') != NULL)
        return set_word(cfg, k, val, why);
    *why = k->expect;
    return -1;
}

/* status_allow, real_ip_from: blank-separated blocks, appended (the loader resets the count at
 * the file's first line of the key). The default "" is none. */
static int
set_cidrs(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    int *n = (int *)((char *)cfg + k->count_off);
    struct cidr *set = field_of(cfg, k);
    char copy[1024];
    char *save = NULL;
    int added = 0;
    if (*val == '\0' && cfg_set_line == 0)
        return 0;
    if (snprintf(copy, sizeof(copy), "%s", val) >= (int)sizeof(copy)) {
        *why = "value too long";
        return -1;
    }
    for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (*n == CFG_MAX_CIDRS) {
            *why = "at most 32 address blocks in all";
            return -1;
        }
        if (cidr_parse(tok, &set[*n], why) < 0)
            return -1;
        (*n)++;
        added++;
    }
    if (added == 0) {
        *why = "expected address blocks such as 10.0.0.0/8 ::1/128";
        return -1;
    }
    return 0;
}

/* status_path, health_path: "off" or an exact path as the normalised request path reads it. */
static int
set_exact_path(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    bool exact;
    char *out = field_of(cfg, k);
    if (set_verbatim(cfg, k, val))
        return 0;
    if (val[0] == '=' || cfg_parse_route(val, out, &exact, why) < 0) {
        *why = "expected off or a path such as /status (no //, /./, /../, '?' or '%')";
        return -1;
    }
    size_t n = strlen(out);
    if (n > 1 && out[n - 1] == '/') {
        *why = "a path that ends with '/' would never match (requests are normalised)";
        return -1;
    }
    return 0;
}

/* real_ip_header: a field name (an HTTP token). */
static int
set_field_name(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    size_t n = strlen(val);
    if (n == 0 || n >= k->size ||
        strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789!#$%&'*+-.^_`|~") != n) {
        *why = k->expect;
        return -1;
    }
    strcpy(field_of(cfg, k), val);
    return 0;
}

/* The status and health paths are exact routes of their own: not the same path, and not an
 * application's exact route (a prefix route that covers them is fine: exact paths win). */
static int
check_ops_paths(const struct cfg *cfg, char *err, size_t errlen)
{
    if (cfg->status_path[0] && strcmp(cfg->status_path, cfg->health_path) == 0) {
        snprintf(err, errlen, "%s:%d: health_path: %s is the status_path already", cfg->file,
                 cfg->health_path_line, cfg->health_path);
        return -1;
    }
    for (int i = 0; i < cfg->napps; i++)
        for (int j = 0; j < cfg->app[i].nroute; j++) {
            const char *route = cfg->app[i].route[j];
            bool is_status = cfg->status_path[0] && strcmp(route, cfg->status_path) == 0;
            bool is_health = cfg->health_path[0] && strcmp(route, cfg->health_path) == 0;
            if (!cfg->app[i].route_exact[j] || !(is_status || is_health))
                continue;
            snprintf(err, errlen, "%s:%d: %s: %s is also app \"%s\"'s route (line %d)", cfg->file,
                     is_status ? cfg->status_path_line : cfg->health_path_line,
                     is_status ? "status_path" : "health_path", route, cfg->app[i].name,
                     cfg->app[i].route_line[j]);
            return -1;
        }
    return 0;
}

static int
check_request_line(const struct cfg *cfg, char *err, size_t errlen)
{
    if (cfg->max_request_line <= cfg->max_header_size)
        return 0;
    snprintf(err, errlen,
             "%s%smax_request_line (%lld) is larger than max_header_size (%lld), which includes "
             "it",
             cfg->file, cfg->file[0] ? ": " : "", (long long)cfg->max_request_line,
             (long long)cfg->max_header_size);
    return -1;
}

/* A handler's header fields must leave room for the server's own largest header: a redirect
 * (301 to "path/") repeats the request target percent-encoded, up to 3 bytes per byte of
 * max_request_line, beside Server, Date, Connection and the framing fields (1024 bytes). The
 * bound depends on two keys in either order, so it is checked once the file is read; the
 * error names max_response_header's line, or max_request_line's when only that one was set. */
static int
check_response_header(const struct cfg *cfg, char *err, size_t errlen)
{
    long long need = 3LL * cfg->max_request_line + 1024;
    long long have = cfg->max_response_header;
    if (have >= need)
        return 0;
    if (cfg->max_response_header_line || !cfg->max_request_line_line)
        snprintf(err, errlen,
                 "%s:%d: max_response_header: %lld is too small: at least 3 x max_request_line "
                 "(%lld) + 1024 = %lld, since a redirect repeats the request target "
                 "percent-encoded",
                 cfg->file, cfg->max_response_header_line, have, (long long)cfg->max_request_line,
                 need);
    else
        snprintf(err, errlen,
                 "%s:%d: max_request_line: %lld needs max_response_header of at least 3 x %lld + "
                 "1024 = %lld, since a redirect repeats the request target percent-encoded, but "
                 "it is %lld (the default); raise max_response_header",
                 cfg->file, cfg->max_request_line_line, (long long)cfg->max_request_line,
                 (long long)cfg->max_request_line, need, have);
    return -1;
}

/* The n-th certificate_key belongs to the n-th certificate, and a tls listener needs one. */
static int
check_tls(const struct cfg *cfg, char *err, size_t errlen)
{
    int nc = cfg->ncertificate, nk = cfg->ncertificate_key;
    if (nc > nk) {
        snprintf(err, errlen,
                 "%s:%d: certificate: no certificate_key for this certificate (the n-th "
                 "certificate_key belongs to the n-th certificate)",
                 cfg->file, cfg->certificate[nk].line);
        return -1;
    }
    if (nk > nc) {
        snprintf(err, errlen,
                 "%s:%d: certificate_key: no certificate for this key (the n-th certificate_key "
                 "belongs to the n-th certificate)",
                 cfg->file, cfg->certificate_key[nc].line);
        return -1;
    }
    for (int i = 0; i < cfg->nlisten && nc == 0; i++)
        if (cfg->listen[i].flags & CFG_LISTEN_TLS) {
            snprintf(err, errlen,
                     "%s:%d: listen: the tls flag needs a certificate and its "
                     "certificate_key",
                     cfg->file, cfg->listen[i].line);
            return -1;
        }
    return 0;
}

/* ---- the key table ---- */

static const char *const unset[] = {"", NULL};
static const char *const stderr_word[] = {"stderr", NULL};
static const char *const off_word[] = {"off", NULL};
static const char *const inside_off[] = {"off", "inside", NULL};
static const char *const auto_off[] = {"off", "auto", NULL};
static const char *const off_stdout[] = {"off", "stdout", NULL};
static const char *const access_formats[] = {"combined", "json", NULL};

/* A row: name, parser, field, min, max, default, doc, then what only some rows need. */
#define KEY(n, fn, field, min, max, def, doc, ...)                                                 \
    {                                                                                              \
        .name = (n), .set = (fn), offsetof(struct cfg, field), sizeof(((struct cfg *)0)->field),   \
        (min), (max), (def), (doc), __VA_ARGS__                                                    \
    }
#define LINE(field) .line_off = offsetof(struct cfg, field)
#define HOUR_MS (3600 * 1000LL)

const struct key cfg_keys[] = {
    KEY("listen", set_listen, listen, 0, CFG_MAX_LISTEN, "127.0.0.1:8080",
        "address to accept on: host:port, [v6addr]:port or unix:/path, then flags (tls, proxy); "
        "repeat for more",
        .flags = KEY_REPEAT, .count_off = offsetof(struct cfg, nlisten)),
    KEY("root", set_path, root, 0, 0, "./www", "document root directory", LINE(root_line)),
    KEY("index", set_index, index, 0, 0, "index.html",
        "file names tried for a directory, space-separated"),
    KEY("workers", set_workers, workers, 1, CFG_MAX_WORKERS, "auto",
        "worker processes; auto = online CPUs", .expect = "expected auto or %lld..%lld"),
    KEY("reuseport", set_bool, reuseport, 0, 0, "on",
        "one SO_REUSEPORT socket per worker slot (off: one shared socket)"),
    KEY("backlog", set_int, backlog, 1, 65535, "4096", "listen(2) backlog of each socket"),
    KEY("max_connections", set_max_connections, max_connections, 1, 1000000, "auto",
        "connections per worker; auto = min(10000, (RLIMIT_NOFILE - 32 - open_file_cache) / 2)",
        .expect = "expected auto or %lld..%lld"),
    KEY("keepalive_timeout", set_duration, keepalive_timeout_ms, 0, HOUR_MS, "75s",
        "idle time allowed between requests; 0 disables keep-alive"),
    KEY("handshake_timeout", set_duration, handshake_timeout_ms, 1, HOUR_MS, "10s",
        "from accept: time allowed for a PROXY header and the TLS handshake"),
    KEY("header_timeout", set_duration, header_timeout_ms, 1, HOUR_MS, "15s",
        "time allowed for a whole request header section"),
    KEY("send_timeout", set_duration, send_timeout_ms, 1, HOUR_MS, "60s",
        "longest time without write progress"),
    KEY("graceful_timeout", set_duration, graceful_timeout_ms, 0, HOUR_MS, "30s",
        "how long a graceful stop waits for in-flight requests"),
    KEY("module_check_timeout", set_duration, module_check_timeout_ms, 100, HOUR_MS, "10s",
        "how long the master lets the child that validates the application modules run"),
    KEY("idle_close_grace", set_duration, idle_close_grace_ms, 0, HOUR_MS, "1s",
        "a retiring worker that cannot hand a connection over closes it once idle this long"),
    KEY("body_timeout", set_duration, body_timeout_ms, 1, HOUR_MS, "60s",
        "longest gap between two reads of a request body"),
    KEY("request_timeout", set_duration, request_timeout_ms, 1, HOUR_MS, "60s",
        "how long a handler may keep a request pending before its response header starts "
        "(then 504)"),
    KEY("send_min_rate", set_size, send_min_rate, 0, 1LL << 40, "1k",
        "bytes per second a response must average per period once sending that long; 0 = off"),
    KEY("send_min_rate_period", set_duration, send_min_rate_period_ms, 1000, HOUR_MS, "60s",
        "the window send_min_rate is measured over"),
    KEY("body_min_rate", set_size, body_min_rate, 0, 1LL << 40, "1k",
        "bytes per second a request body must average per period while it is read; 0 = off"),
    KEY("body_min_rate_period", set_duration, body_min_rate_period_ms, 1000, HOUR_MS, "60s",
        "the window body_min_rate is measured over"),
    KEY("max_request_line", set_size, max_request_line, 256, 1 << 20, "8k",
        "longest request line; longer: 414", .check = check_request_line,
        LINE(max_request_line_line)),
    KEY("max_header_size", set_size, max_header_size, 1024, 1 << 20, "16k",
        "request line and header fields together; larger: 431"),
    KEY("max_headers", set_int, max_headers, 1, 256, "100", "header fields per request; more: 431"),
    KEY("max_response_header", set_size, max_response_header, 0, 16 << 20, "64k",
        "a response's header section; a handler adding fields past it gets an error and the "
        "response becomes a 500",
        .expect = "expected a size up to 16m, and at least 3 x max_request_line + 1024",
        .check = check_response_header, LINE(max_response_header_line)),
    KEY("max_body_size", set_size, max_body_size, 0, 1LL << 40, "1m",
        "largest request body; larger: 413 before it is read"),
    KEY("body_buffer_size", set_size, body_buffer_size, 1024, 64 << 20, "16k",
        "a request body a handler buffers is kept in memory up to this size, beyond it in a "
        "temp file"),
    KEY("body_temp_path", set_temp_dir, body_temp_path, 0, 0, "",
        "directory of the (unlinked) temp files of large request bodies; unset: $TMPDIR, else "
        "/tmp",
        LINE(body_temp_path_line)),
    KEY("max_keepalive_requests", set_int, max_keepalive_requests, 1, 1000000, "1000",
        "requests per connection; the last one is answered with Connection: close"),
    KEY("max_connections_per_ip", set_int, max_connections_per_ip, 0, 1000000, "0",
        "connections from one client address across all workers; more: 503; 0 = off"),
    KEY("worker_memory_limit", set_size, worker_memory_limit, 0, 1LL << 40, "0",
        "request buffers a worker may hold before it stops accepting; 0 = off"),
    KEY("worker_watchdog", set_duration, worker_watchdog_ms, 0, HOUR_MS, "60s",
        "a worker whose loop has not turned for this long is aborted and replaced; 0 = off"),
    KEY("max_requests", set_int, max_requests, 0, 1000000000, "0",
        "requests after which a worker retires gracefully and is replaced; 0 = off"),
    KEY("max_requests_jitter", set_int, max_requests_jitter, 0, 1000000000, "0",
        "up to this many requests added at random to max_requests, so workers do not retire "
        "together"),
    KEY("pid_file", set_path, pid_file, 0, 0, "sluice.pid", "pid file, locked while running",
        LINE(pid_file_line), .flags = KEY_NEEDED),
    KEY("control_socket", set_path, control_socket, 0, 0, "",
        "unix socket for sluice reload|stop|quit|reopen|status; unset: pid_file with .ctl",
        .flags = KEY_NEEDED, .words = unset),
    KEY("port_file", set_path, port_file, 0, 0, "sluice.port",
        "written when ready: the bound address of each listener"),
    KEY("error_log", set_path, error_log, 0, 0, "stderr", "stderr or a file path",
        .expect = "expected stderr or a path", .words = stderr_word, LINE(error_log_line)),
    KEY("log_level", set_choice, log_level, 0, 0, "notice",
        "debug, info, notice, warn, error, crit or alert",
        .expect = "expected debug, info, notice, warn, error, crit or alert", .words = level_names),
    KEY("user", set_word, user, 0, 0, "", "user the workers run as when started as root",
        .expect = "expected a user name", LINE(user_line), .bad = " ", .words = unset),
    KEY("group", set_word, group, 0, 0, "", "group the workers run as (default: the user's)",
        .expect = "expected a group name", LINE(group_line), .bad = " ", .words = unset),
    KEY("worker_rlimit_nofile", set_int, worker_rlimit_nofile, 0, 1048576, "0",
        "RLIMIT_NOFILE of master and workers; 0 = raise the soft limit to the hard limit"),
    KEY("cpu_affinity", set_choice, cpu_affinity, 0, 0, "off",
        "auto: pin worker i to CPU i mod N; off: let the scheduler place them",
        .expect = "expected auto or off", .words = auto_off),
    KEY("access_log", set_path, access_log, 0, 0, "off",
        "off, stdout, or a file path: one line per request, written from a per-worker buffer",
        .expect = "expected off, stdout or a path", .words = off_stdout, LINE(access_log_line)),
    KEY("access_log_format", set_choice, access_log_format, 0, 0, "combined",
        "combined (nginx's and Apache's) or json (one object per line)",
        .expect = "expected combined or json", .words = access_formats),
    KEY("access_log_buffer", set_size, access_log_buffer, 0, 16 << 20, "64k",
        "access log lines a worker gathers before it writes them (also every second and at "
        "exit); 0 = write each line"),
    KEY("status_path", set_exact_path, status_path, 0, 0, "off",
        "path of the status page (JSON; ?format=prometheus for metrics); off = none",
        .words = off_word, LINE(status_path_line), .check = check_ops_paths),
    KEY("status_allow", set_cidrs, status_allow, 0, CFG_MAX_CIDRS, "127.0.0.1/32 ::1/128",
        "client address blocks allowed the status page, blank-separated; others get 403",
        .flags = KEY_REPEAT, .count_off = offsetof(struct cfg, nstatus_allow)),
    KEY("health_path", set_exact_path, health_path, 0, 0, "off",
        "path answering 200 while serving and 503 once a graceful stop began; off = none",
        .words = off_word, LINE(health_path_line)),
    KEY("drain_delay", set_duration, drain_delay_ms, 0, HOUR_MS, "0s",
        "a graceful stop (quit) first serves on this long with 503 on health_path, so a load "
        "balancer takes the instance out before its listeners close"),
    KEY("real_ip_from", set_cidrs, real_ip_from, 0, CFG_MAX_CIDRS, "",
        "peers (load balancers) trusted to name the client in real_ip_header; blank-separated "
        "address blocks, repeatable",
        .flags = KEY_REPEAT, .count_off = offsetof(struct cfg, nreal_ip_from)),
    KEY("real_ip_header", set_field_name, real_ip_header, 0, 0, "X-Forwarded-For",
        "the field a trusted peer names the client in: its right-most address not itself "
        "trusted",
        .expect = "expected a header field name such as X-Forwarded-For or X-Real-IP"),
    KEY("follow_symlinks", set_choice, follow_symlinks, 0, 0, "inside",
        "inside: follow symlinks that stay under root; off: follow none",
        .expect = "expected inside or off", .words = inside_off),
    KEY("serve_dotfiles", set_bool, serve_dotfiles, 0, 0, "off",
        "serve names starting with '.' (/.well-known/ is always served)"),
    KEY("autoindex", set_bool, autoindex, 0, 0, "off",
        "an HTML listing for a directory without index file (off: 403)"),
    KEY("mime_types", set_path, mime_types, 0, 0, "",
        "a mime.types file (\"type ext ext\" lines) over the built-in table; unset: built-in only",
        LINE(mime_types_line), .words = unset),
    KEY("default_type", set_media_type, default_type, 0, 0, "application/octet-stream",
        "Content-Type for unknown extensions",
        .expect = "expected a media type such as text/plain"),
    KEY("charset", set_word, charset, 0, 0, "utf-8",
        "charset parameter added to text/* types; off: none",
        .expect = "expected a charset name such as utf-8, or off", .words = off_word),
    KEY("gzip_static", set_bool, gzip_static, 0, 0, "off",
        "serve FILE.br / FILE.gz to clients that accept them"),
    KEY("sendfile_max_chunk", set_size, sendfile_max_chunk, 4096, 1LL << 30, "512k",
        "bytes one sendfile call may send before other connections get a turn"),
    KEY("max_ranges", set_int, max_ranges, 1, 64, "16",
        "ranges per request after merging; more: the whole file is sent"),
    KEY("open_file_cache", set_int, open_file_cache, 0, 100000, "1000",
        "files (and misses) each worker keeps open with their stat and validators; 0 = off"),
    KEY("open_file_cache_valid", set_duration, open_file_cache_valid_ms, 1, HOUR_MS, "5s",
        "how long a cached lookup is trusted before the file is opened again"),
    KEY("small_file_max", set_size, small_file_max, 0, 1 << 20, "16k",
        "files up to this size are cached in memory and sent with their headers in one write"),
    KEY("small_file_cache", set_size, small_file_cache, 0, 1LL << 32, "4m",
        "memory per worker for cached small files"),
    KEY("certificate", set_pem, certificate, 0, CFG_MAX_CERTS, "",
        "PEM file: a certificate for the tls listeners, then its chain in order; repeat for more "
        "(SNI picks by name, the first is the default)",
        .flags = KEY_REPEAT, .count_off = offsetof(struct cfg, ncertificate), .check = check_tls),
    KEY("certificate_key", set_pem, certificate_key, 0, CFG_MAX_CERTS, "",
        "PEM file: the private key (not encrypted) of the certificate of the same rank",
        .flags = KEY_REPEAT, .count_off = offsetof(struct cfg, ncertificate_key)),
    KEY("tls_protocols", set_tls_protocols, tls_protocols, 0, 0, "TLSv1.2 TLSv1.3",
        "TLS versions accepted: TLSv1.2, TLSv1.3 or both", LINE(tls_protocols_line)),
    KEY("tls_ciphers", set_word, tls_ciphers, 0, 0,
        "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aDSS",
        "TLS 1.2 ciphers, OpenSSL syntax (the default is the nine of Mozilla's \"intermediate\" "
        "list)",
        .expect = "expected an OpenSSL cipher list", .bad = "\"'", LINE(tls_ciphers_line)),
    KEY("tls_ciphersuites", set_word, tls_ciphersuites, 0, 0,
        "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
        "TLS 1.3 cipher suites, OpenSSL syntax (default: OpenSSL's)",
        .expect = "expected an OpenSSL cipher suite list", .bad = "\"' ",
        LINE(tls_ciphersuites_line)),
    KEY("tls_prefer_server_ciphers", set_bool, tls_prefer_server_ciphers, 0, 0, "off",
        "TLS 1.2: the server's cipher order wins over the client's"),
};

_Static_assert(sizeof(cfg_keys) / sizeof(cfg_keys[0]) == CFG_NKEYS,
               "CFG_NKEYS (cfg_internal.h) is the number of rows of cfg_keys");
const char *
cfg_key_name(int i, const char **default_text, const char **doc)
{
    if (i < 0 || i >= CFG_NKEYS)
        return NULL;
    if (default_text)
        *default_text = cfg_keys[i].def;
    if (doc)
        *doc = cfg_keys[i].doc;
    return cfg_keys[i].name;
}

void
cfg_defaults(struct cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < CFG_NKEYS; i++) {
        const char *why = NULL;
        if (cfg_keys[i].set(cfg, &cfg_keys[i], cfg_keys[i].def, &why) < 0) {
            /* The table is ours: a default that does not parse is a build bug. */
            fprintf(stderr, "sluice: bad built-in default for %s: %s\n", cfg_keys[i].name, why);
            abort();
        }
    }
    cfg_resolve_auto(cfg);
}
