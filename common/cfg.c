/* Configuration: the key table, value parsers and the INI loader (inih with a line reader of our
 * own, so every error names its line and no line is ever split into phantom keys). */
#include "common/cfg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum key_type {
    K_LISTEN,
    K_DIR,
    K_INDEX,
    K_AUTO_INT, /* "auto" or an integer in range; auto resolved by the loader */
    K_INT,
    K_BOOL,
    K_DURATION,
    K_SIZE,
    K_PATH,
    K_OPT_PATH, /* a path, or empty for unset */
    K_WORD,     /* a short string without spaces; "off" stores "" where allowed */
    K_SYMLINKS,
    K_LOG_PATH,
    K_LEVEL,
    K_USER,
};

struct key {
    const char *name;
    enum key_type type;
    size_t off; /* offset of the field in struct cfg */
    int64_t min, max;
    const char *def; /* default, as text: parsed by the same code as a config value */
    const char *doc;
};

#define F(field) offsetof(struct cfg, field)
#define HOUR_MS (3600 * 1000LL)

static const struct key keys[] = {
    {"listen", K_LISTEN, F(listen), 0, 0, "127.0.0.1:8080",
     "address to accept on: host:port, [v6addr]:port or unix:/path; repeat for more"},
    {"root", K_DIR, F(root), 0, 0, "./www", "document root directory"},
    {"index", K_INDEX, F(index), 0, 0, "index.html",
     "file names tried for a directory, space-separated"},
    {"workers", K_AUTO_INT, F(workers), 1, CFG_MAX_WORKERS, "auto",
     "worker processes; auto = online CPUs"},
    {"reuseport", K_BOOL, F(reuseport), 0, 0, "on",
     "one SO_REUSEPORT socket per worker slot (off: one shared socket)"},
    {"backlog", K_INT, F(backlog), 1, 65535, "4096", "listen(2) backlog of each socket"},
    {"max_connections", K_AUTO_INT, F(max_connections), 1, 1000000, "auto",
     "connections per worker; auto = min(10000, (RLIMIT_NOFILE - 32 - open_file_cache) / 2)"},
    {"keepalive_timeout", K_DURATION, F(keepalive_timeout_ms), 0, HOUR_MS, "75s",
     "idle time allowed between requests; 0 disables keep-alive"},
    {"header_timeout", K_DURATION, F(header_timeout_ms), 1, HOUR_MS, "15s",
     "time allowed for a whole request header section"},
    {"send_timeout", K_DURATION, F(send_timeout_ms), 1, HOUR_MS, "60s",
     "longest time without write progress"},
    {"graceful_timeout", K_DURATION, F(graceful_timeout_ms), 0, HOUR_MS, "30s",
     "how long a graceful stop waits for in-flight requests"},
    {"body_timeout", K_DURATION, F(body_timeout_ms), 1, HOUR_MS, "60s",
     "longest gap between two reads of a request body"},
    {"send_min_rate", K_SIZE, F(send_min_rate), 0, 1LL << 40, "1k",
     "bytes per second a response must average per period once sending that long; 0 = off"},
    {"send_min_rate_period", K_DURATION, F(send_min_rate_period_ms), 1000, HOUR_MS, "60s",
     "the window send_min_rate is measured over"},
    {"body_min_rate", K_SIZE, F(body_min_rate), 0, 1LL << 40, "1k",
     "bytes per second a request body must average per period while it is read; 0 = off"},
    {"body_min_rate_period", K_DURATION, F(body_min_rate_period_ms), 1000, HOUR_MS, "60s",
     "the window body_min_rate is measured over"},
    {"max_request_line", K_SIZE, F(max_request_line), 256, 1 << 20, "8k",
     "longest request line; longer: 414"},
    {"max_header_size", K_SIZE, F(max_header_size), 1024, 1 << 20, "16k",
     "request line and header fields together; larger: 431"},
    {"max_headers", K_INT, F(max_headers), 1, 256, "100", "header fields per request; more: 431"},
    {"max_body_size", K_SIZE, F(max_body_size), 0, 1LL << 40, "1m",
     "largest request body; larger: 413 before it is read"},
    {"max_keepalive_requests", K_INT, F(max_keepalive_requests), 1, 1000000, "1000",
     "requests per connection; the last one is answered with Connection: close"},
    {"max_connections_per_ip", K_INT, F(max_connections_per_ip), 0, 1000000, "0",
     "connections from one client address across all workers; more: 503; 0 = off"},
    {"worker_memory_limit", K_SIZE, F(worker_memory_limit), 0, 1LL << 40, "0",
     "request buffers a worker may hold before it stops accepting; 0 = off"},
    {"worker_watchdog", K_DURATION, F(worker_watchdog_ms), 0, HOUR_MS, "60s",
     "a worker whose loop has not turned for this long is aborted and replaced; 0 = off"},
    {"max_requests", K_INT, F(max_requests), 0, 1000000000, "0",
     "requests after which a worker retires gracefully and is replaced; 0 = off"},
    {"max_requests_jitter", K_INT, F(max_requests_jitter), 0, 1000000000, "0",
     "up to this many requests added at random to max_requests, so workers do not retire together"},
    {"pid_file", K_PATH, F(pid_file), 0, 0, "sluice.pid", "pid file, locked while running"},
    {"control_socket", K_OPT_PATH, F(control_socket), 0, 0, "",
     "unix socket for sluice reload|stop|quit|reopen|status; unset: pid_file with .ctl"},
    {"port_file", K_PATH, F(port_file), 0, 0, "sluice.port",
     "written when ready: the bound address of each listener"},
    {"error_log", K_LOG_PATH, F(error_log), 0, 0, "stderr", "stderr or a file path"},
    {"log_level", K_LEVEL, F(log_level), 0, 0, "notice",
     "debug, info, notice, warn, error, crit or alert"},
    {"user", K_USER, F(user), 0, 0, "", "user the workers run as when started as root"},
    {"group", K_USER, F(group), 0, 0, "", "group the workers run as (default: the user's)"},
    {"worker_rlimit_nofile", K_INT, F(worker_rlimit_nofile), 0, 1048576, "0",
     "RLIMIT_NOFILE of master and workers; 0 = raise the soft limit to the hard limit"},
    {"cpu_affinity", K_SYMLINKS, F(cpu_affinity), 0, 0, "off",
     "auto: pin worker i to CPU i mod N; off: let the scheduler place them"},
    {"follow_symlinks", K_SYMLINKS, F(follow_symlinks), 0, 0, "inside",
     "inside: follow symlinks that stay under root; off: follow none"},
    {"serve_dotfiles", K_BOOL, F(serve_dotfiles), 0, 0, "off",
     "serve names starting with '.' (/.well-known/ is always served)"},
    {"autoindex", K_BOOL, F(autoindex), 0, 0, "off",
     "an HTML listing for a directory without index file (off: 403)"},
    {"mime_types", K_OPT_PATH, F(mime_types), 0, 0, "",
     "a mime.types file (\"type ext ext\" lines) over the built-in table; unset: built-in only"},
    {"default_type", K_WORD, F(default_type), 0, 0, "application/octet-stream",
     "Content-Type for unknown extensions"},
    {"charset", K_WORD, F(charset), 1, 0, "utf-8",
     "charset parameter added to text/* types; off: none"},
    {"gzip_static", K_BOOL, F(gzip_static), 0, 0, "off",
     "serve FILE.br / FILE.gz to clients that accept them"},
    {"sendfile_max_chunk", K_SIZE, F(sendfile_max_chunk), 4096, 1LL << 30, "512k",
     "bytes one sendfile call may send before other connections get a turn"},
    {"max_ranges", K_INT, F(max_ranges), 1, 64, "16",
     "ranges per request after merging; more: the whole file is sent"},
    {"open_file_cache", K_INT, F(open_file_cache), 0, 100000, "1000",
     "files (and misses) each worker keeps open with their stat and validators; 0 = off"},
    {"open_file_cache_valid", K_DURATION, F(open_file_cache_valid_ms), 1, HOUR_MS, "5s",
     "how long a cached lookup is trusted before the file is opened again"},
    {"small_file_max", K_SIZE, F(small_file_max), 0, 1 << 20, "16k",
     "files up to this size are cached in memory and sent with their headers in one write"},
    {"small_file_cache", K_SIZE, F(small_file_cache), 0, 1LL << 32, "4m",
     "memory per worker for cached small files"},
};

#define NKEYS ((int)(sizeof(keys) / sizeof(keys[0])))

static const char *const level_names[] = {"debug", "info", "notice", "warn",
                                          "error", "crit", "alert"};

const char *
cfg_log_level_name(enum cfg_log_level level)
{
    if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
        return "?";
    return level_names[level];
}

const char *
cfg_key_name(int i, const char **default_text, const char **doc)
{
    if (i < 0 || i >= NKEYS)
        return NULL;
    if (default_text)
        *default_text = keys[i].def;
    if (doc)
        *doc = keys[i].doc;
    return keys[i].name;
}

static int
parse_index(const char *s, struct cfg *cfg, const char **why)
{
    char copy[1024];
    char *save = NULL;
    int n = 0;
    if (snprintf(copy, sizeof(copy), "%s", s) >= (int)sizeof(copy)) {
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

static int
online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > CFG_MAX_WORKERS ? CFG_MAX_WORKERS : (int)n;
}

/* Each connection may hold a socket and an open file; the open file cache keeps its own
 * descriptors, and 32 stay for the worker itself. */
static int
auto_max_connections(int cached_files)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return 10000;
    long n = ((long)rl.rlim_cur - 32 - cached_files) / 2;
    if (n < 1)
        return 1;
    return n > 10000 ? 10000 : (int)n;
}

void
cfg_resolve_auto(struct cfg *cfg)
{
    if (cfg->max_connections_auto)
        cfg->max_connections = auto_max_connections(cfg->open_file_cache);
}

/* Apply one value of key `k`. Returns 0 or -1 with `why`. */
static int
key_set(struct cfg *cfg, const struct key *k, const char *val, const char **why)
{
    static char range_why[96]; /* single-threaded: the loader runs in one process at a time */
    void *field = (char *)cfg + k->off;
    int64_t v;

    switch (k->type) {
    case K_LISTEN:
        if (cfg->nlisten == CFG_MAX_LISTEN) {
            *why = "too many listen lines (at most 16)";
            return -1;
        }
        if (cfg_parse_listen(val, &cfg->listen[cfg->nlisten], why) < 0)
            return -1;
        cfg->nlisten++;
        return 0;
    case K_INDEX:
        return parse_index(val, cfg, why);
    case K_AUTO_INT:
        if (strcmp(val, "auto") == 0) {
            if (k->off == F(workers))
                cfg->workers = online_cpus();
            else
                cfg->max_connections_auto = true; /* resolved once every key is read */
            return 0;
        }
        if (k->off == F(max_connections))
            cfg->max_connections_auto = false;
        if (cfg_parse_int(val, k->min, k->max, &v, NULL) < 0) {
            *why = k->off == F(workers) ? "expected auto or 1..64" : "expected auto or 1..1000000";
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    case K_INT:
        if (cfg_parse_int(val, k->min, k->max, &v, NULL) < 0) {
            snprintf(range_why, sizeof(range_why), "expected an integer %lld..%lld",
                     (long long)k->min, (long long)k->max);
            *why = range_why;
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    case K_SIZE:
        if (cfg_parse_size(val, &v, why) < 0)
            return -1;
        if (v < k->min || v > k->max) {
            snprintf(range_why, sizeof(range_why), "expected a size from %lld to %lld bytes",
                     (long long)k->min, (long long)k->max);
            *why = range_why;
            return -1;
        }
        *(int64_t *)field = v;
        return 0;
    case K_BOOL:
        return cfg_parse_bool(val, (bool *)field, why);
    case K_DURATION:
        if (cfg_parse_duration_ms(val, &v, why) < 0)
            return -1;
        if (v < k->min || v > k->max) {
            snprintf(range_why, sizeof(range_why), "expected a duration from %lldms to 1h",
                     (long long)k->min);
            *why = k->min ? range_why : "expected a duration up to 1h";
            return -1;
        }
        *(int64_t *)field = v;
        return 0;
    case K_DIR:
    case K_PATH:
        if (*val == '\0' || cfg_absolute_path(val, field, CFG_PATH_MAX) < 0) {
            *why = "expected a path";
            return -1;
        }
        return 0;
    case K_OPT_PATH:
        if (*val == '\0') {
            *(char *)field = '\0';
            return 0;
        }
        if (cfg_absolute_path(val, field, CFG_PATH_MAX) < 0) {
            *why = "expected a path";
            return -1;
        }
        return 0;
    case K_WORD: {
        size_t cap = k->off == F(default_type) ? sizeof(cfg->default_type) : sizeof(cfg->charset);
        if (k->min && strcmp(val, "off") == 0) {
            *(char *)field = '\0';
            return 0;
        }
        if (*val == '\0' || strlen(val) >= cap || strpbrk(val, " \t\";,")) {
            *why = k->off == F(default_type) ? "expected a media type such as text/plain"
                                             : "expected a charset name such as utf-8, or off";
            return -1;
        }
        if (k->off == F(default_type) && strchr(val, '/') == NULL) {
            *why = "expected a media type such as text/plain";
            return -1;
        }
        strcpy(field, val);
        return 0;
    }
    case K_SYMLINKS: { /* a two-word choice: follow_symlinks inside|off, cpu_affinity auto|off */
        const char *on = k->off == F(cpu_affinity) ? "auto" : "inside";
        if (strcmp(val, on) != 0 && strcmp(val, "off") != 0) {
            *why = k->off == F(cpu_affinity) ? "expected auto or off" : "expected inside or off";
            return -1;
        }
        *(bool *)field = strcmp(val, on) == 0;
        return 0;
    }
    case K_LOG_PATH:
        if (strcmp(val, "stderr") == 0) {
            strcpy(field, "stderr");
            return 0;
        }
        if (*val == '\0' || cfg_absolute_path(val, field, CFG_PATH_MAX) < 0) {
            *why = "expected stderr or a path";
            return -1;
        }
        return 0;
    case K_LEVEL:
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
            if (strcmp(val, level_names[i]) == 0) {
                *(enum cfg_log_level *)field = (enum cfg_log_level)i;
                return 0;
            }
        *why = "expected debug, info, notice, warn, error, crit or alert";
        return -1;
    case K_USER:
        if (strlen(val) >= sizeof(cfg->user) || strchr(val, ' ')) {
            *why = k->off == F(user) ? "expected a user name" : "expected a group name";
            return -1;
        }
        strcpy(field, val);
        return 0;
    }
    return -1;
}

void
cfg_defaults(struct cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < NKEYS; i++) {
        const char *why = NULL;
        if (key_set(cfg, &keys[i], keys[i].def, &why) < 0) {
            /* The table is ours: a default that does not parse is a build bug. */
            fprintf(stderr, "sluice: bad built-in default for %s: %s\n", keys[i].name, why);
            abort();
        }
    }
    cfg_resolve_auto(cfg);
}

/* ---- loader ---- */

struct load {
    struct cfg *cfg;
    const char *file;
    FILE *fp;
    int lineno;
    char *line;
    size_t cap;
    int first_line[NKEYS]; /* where each key was first set, 0 = not yet */
    char *err;
    size_t errlen;
    bool failed;
    /* The lenient pass (cfg_read_lenient): a problem outside the keys it needs goes to `warn`
     * and its line is skipped, instead of failing the load. */
    bool lenient;
    cfg_warn_fn *warn;
    void *warn_arg;
};

static void load_report(struct load *ld, bool hard, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
load_report(struct load *ld, bool hard, const char *fmt, va_list ap)
{
    if (ld->failed)
        return;
    if (ld->lenient && !hard) {
        char what[CFG_ERR_MAX];
        vsnprintf(what, sizeof(what), fmt, ap);
        ld->warn(ld->warn_arg, ld->file, ld->lineno, what);
        return;
    }
    int n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->file, ld->lineno);
    if (n >= 0 && (size_t)n < ld->errlen)
        vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
    ld->failed = true;
}

static void load_fail(struct load *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void load_fail_hard(struct load *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A problem on the current line: fails the load, or in the lenient pass is a warning. */
static void
load_fail(struct load *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    load_report(ld, false, fmt, ap);
    va_end(ap);
}

/* A problem that fails even the lenient pass (the line of a key it cannot do without). */
static void
load_fail_hard(struct load *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    load_report(ld, true, fmt, ap);
    va_end(ap);
}

/* After load_fail in the reader: stop (NULL), or in the lenient pass give inih an empty line in
 * place of the bad one, so the line count stays right and reading goes on. */
static char *
skip_line(struct load *ld, char *str)
{
    if (ld->failed)
        return NULL;
    str[0] = '\n';
    str[1] = '\0';
    return str;
}

/* Would inih take this line (leading white space already gone)? Its rule, repeated so that
 * the lenient pass can report every bad line, not only the first: a comment, an empty line,
 * or a name up to '=' or ':' that no inline comment (" ;") cuts short. */
static bool
ini_line_ok(const char *s)
{
    bool was_space = false;
    if (*s == '\0' || *s == ';' || *s == '#')
        return true;
    while (*s && *s != '=' && *s != ':' && !(was_space && *s == ';')) {
        was_space = *s == ' ' || *s == '\t' || *s == '\r' || *s == '\v' || *s == '\f';
        s++;
    }
    return *s == '=' || *s == ':';
}

#define SYNTAX_ERROR "syntax error (expected 'key = value', '[section]' or a comment)"

/* inih's reader hook. One call = one whole line of the file, so inih's line count stays ours.
 * Leading white space is dropped here: inih would otherwise take an indented line as a
 * continuation of the previous key, which no sluice key wants; in sluice an indented line is
 * an ordinary line. A line longer than inih's buffer is an error rather than being split. */
static char *
load_read_line(char *str, int num, void *stream)
{
    struct load *ld = stream;
    if (ld->failed)
        return NULL;
    ssize_t n = getline(&ld->line, &ld->cap, ld->fp);
    if (n < 0)
        return NULL;
    ld->lineno++;
    char *s = ld->line;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    if (ld->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    while (*s == ' ' || *s == '\t') {
        s++;
        n--;
    }
    if (memchr(s, '\0', (size_t)n)) {
        load_fail(ld, "NUL byte in line");
        return skip_line(ld, str);
    }
    if (n > num - 4) {
        load_fail(ld, "line too long (%zd bytes, at most %d)", n, num - 4);
        return skip_line(ld, str);
    }
    if (s[0] == '[') {
        /* No section exists yet; later issues add them (certificates, applications). */
        const char *end = strchr(s, ']');
        load_fail(ld, "unknown section [%.*s]", end ? (int)(end - s - 1) : (int)n - 1, s + 1);
        return skip_line(ld, str);
    }
    if (ld->lenient && !ini_line_ok(s)) {
        load_fail(ld, SYNTAX_ERROR);
        return skip_line(ld, str);
    }
    memcpy(str, s, (size_t)n);
    str[n] = '\n';
    str[n + 1] = '\0';
    return str;
}

static int
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void
unknown_key(struct load *ld, const char *name)
{
    int best = -1, bestd = 3;
    for (int j = 0; j < NKEYS; j++) {
        int d = edit_distance(name, keys[j].name);
        if (d < bestd) {
            bestd = d;
            best = j;
        }
    }
    if (best >= 0)
        load_fail(ld, "unknown key '%s' (did you mean '%s'?)", name, keys[best].name);
    else
        load_fail(ld, "unknown key '%s'", name);
}

/* inih's handler. After a problem it returns 0 (inih then stops at the reader's next call), or
 * in the lenient pass 1: the line was reported and is skipped. */
static int
load_handle(void *user, const char *section, const char *name, const char *value)
{
    struct load *ld = user;
    (void)section; /* the reader rejects every section header */
    if (ld->failed)
        return 0;

    int i;
    for (i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            break;
    if (i == NKEYS) {
        unknown_key(ld, name);
        return !ld->failed;
    }

    const struct key *k = &keys[i];
    if (ld->first_line[i] && k->type != K_LISTEN) {
        load_fail(ld, "%s: duplicate key (first set at line %d)", name, ld->first_line[i]);
        return !ld->failed; /* lenient: the first value stays */
    }
    if (!ld->first_line[i]) {
        ld->first_line[i] = ld->lineno;
        if (k->type == K_LISTEN)
            ld->cfg->nlisten = 0; /* the file's listen lines replace the default */
    }
    const char *why = "invalid";
    if (key_set(ld->cfg, k, value, &why) < 0) {
        /* Even the lenient pass cannot do without the keys that find the master. */
        bool needed = k->off == F(pid_file) || k->off == F(control_socket);
        if (k->type == K_LISTEN && ld->cfg->nlisten == CFG_MAX_LISTEN)
            load_fail(ld, "%s: %s", name, why);
        else if (needed)
            load_fail_hard(ld, "%s: invalid value '%s' (%s)", name, value, why);
        else
            load_fail(ld, "%s: invalid value '%s' (%s)", name, value, why);
        return !ld->failed;
    }
    if (k->type == K_LISTEN)
        ld->cfg->listen[ld->cfg->nlisten - 1].line = ld->lineno;
    else if (k->off == F(root))
        ld->cfg->root_line = ld->lineno;
    else if (k->off == F(user))
        ld->cfg->user_line = ld->lineno;
    else if (k->off == F(group))
        ld->cfg->group_line = ld->lineno;
    else if (k->off == F(mime_types))
        ld->cfg->mime_types_line = ld->lineno;
    else if (k->off == F(error_log))
        ld->cfg->error_log_line = ld->lineno;
    else if (k->off == F(pid_file))
        ld->cfg->pid_file_line = ld->lineno;
    return 1;
}

/* user/group: they must exist; started as root the workers switch to them, started as
 * anyone else they may only name who sluice already runs as. */
static int
check_identity(const struct cfg *cfg, char *err, size_t errlen)
{
    struct passwd *pw = NULL;
    struct group *gr = NULL;
    if (cfg->group[0] && !cfg->user[0]) {
        snprintf(err, errlen, "%s:%d: group: needs user to be set too", cfg->file, cfg->group_line);
        return -1;
    }
    if (cfg->user[0] && (pw = getpwnam(cfg->user)) == NULL) {
        snprintf(err, errlen, "%s:%d: user: unknown user '%s'", cfg->file, cfg->user_line,
                 cfg->user);
        return -1;
    }
    if (cfg->group[0] && (gr = getgrnam(cfg->group)) == NULL) {
        snprintf(err, errlen, "%s:%d: group: unknown group '%s'", cfg->file, cfg->group_line,
                 cfg->group);
        return -1;
    }
    if (pw && geteuid() != 0 && pw->pw_uid != geteuid()) {
        snprintf(err, errlen,
                 "%s:%d: user: switching to '%s' needs sluice to start as root (it runs as "
                 "uid %d)",
                 cfg->file, cfg->user_line, cfg->user, (int)geteuid());
        return -1;
    }
    if (gr && geteuid() != 0 && gr->gr_gid != getegid()) {
        snprintf(err, errlen,
                 "%s:%d: group: switching to '%s' needs sluice to start as root (it runs as "
                 "gid %d)",
                 cfg->file, cfg->group_line, cfg->group, (int)getegid());
        return -1;
    }
    return 0;
}

int
cfg_check(const struct cfg *cfg, char *err, size_t errlen)
{
    char where[CFG_PATH_MAX + 16];

    if (cfg->max_request_line > cfg->max_header_size) {
        snprintf(err, errlen,
                 "%s%smax_request_line (%lld) is larger than max_header_size (%lld), which "
                 "includes it",
                 cfg->file, cfg->file[0] ? ": " : "", (long long)cfg->max_request_line,
                 (long long)cfg->max_header_size);
        return -1;
    }

    if (cfg->root_line)
        snprintf(where, sizeof(where), "%s:%d: ", cfg->file, cfg->root_line);
    else if (cfg->file[0])
        snprintf(where, sizeof(where), "%s: ", cfg->file);
    else
        where[0] = '\0';
    int fd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%sroot: cannot open directory '%s': %s%s", where, cfg->root,
                 strerror(errno), cfg->root_line ? "" : " (the default; set root)");
        return -1;
    }
    close(fd);

    if (cfg->mime_types[0] && access(cfg->mime_types, R_OK) < 0) {
        snprintf(err, errlen, "%s:%d: mime_types: cannot read '%s': %s", cfg->file,
                 cfg->mime_types_line, cfg->mime_types, strerror(errno));
        return -1;
    }
    return check_identity(cfg, err, errlen);
}

static int read_file(struct cfg *cfg, const char *path, struct load *ldp);

/* The defaults, then `path` (NULL: ./sluice.ini when it exists) read with `ld`'s mode. */
static int
read_over_defaults(struct cfg *cfg, const char *path, struct load *ld)
{
    cfg_defaults(cfg);
    if (path == NULL) {
        if (access("sluice.ini", F_OK) != 0)
            return 0;
        path = "sluice.ini";
    }
    int rc = read_file(cfg, path, ld);
    cfg_resolve_auto(cfg);
    return rc;
}

int
cfg_read(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
    struct load ld = {.cfg = cfg, .err = err, .errlen = errlen};
    return read_over_defaults(cfg, path, &ld);
}

int
cfg_read_lenient(struct cfg *cfg, const char *path, cfg_warn_fn *warn, void *arg, char *err,
                 size_t errlen)
{
    struct load ld = {
        .cfg = cfg, .err = err, .errlen = errlen, .lenient = true, .warn = warn, .warn_arg = arg};
    return read_over_defaults(cfg, path, &ld);
}

static int
read_file(struct cfg *cfg, const char *path, struct load *ldp)
{
    struct load ld = *ldp;
    snprintf(cfg->file, sizeof(cfg->file), "%s", path);
    ld.file = cfg->file;
    ld.fp = fopen(path, "re");
    if (ld.fp == NULL) {
        snprintf(ld.err, ld.errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = ini_parse_stream(load_read_line, &ld, load_handle, &ld);
    int read_error = ferror(ld.fp);
    fclose(ld.fp);
    free(ld.line);
    if (ld.failed)
        return -1;
    if (read_error) {
        snprintf(ld.err, ld.errlen, "%s: read error", path);
        return -1;
    }
    if (rc > 0 && ld.lenient) {
        /* A line inih refused that ini_line_ok let through: reported, not fatal. */
        ld.warn(ld.warn_arg, path, rc, SYNTAX_ERROR);
    } else if (rc != 0) {
        if (rc > 0)
            snprintf(ld.err, ld.errlen, "%s:%d: " SYNTAX_ERROR, path, rc);
        else
            snprintf(ld.err, ld.errlen, "%s: cannot parse (out of memory)", path);
        return -1;
    }
    return 0;
}

int
cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
    if (cfg_read(cfg, path, err, errlen) < 0)
        return -1;
    return cfg_check(cfg, err, errlen);
}
