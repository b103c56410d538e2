/* Server configuration: the key table, its defaults and the INI loader.
 * Every key has a type, a default and a range; the table in cfg.c is the single source of truth
 * that the loader, `sluice -t`, the unit tests and etc/sluice.ini all follow. */
#ifndef SLUICE_CFG_H
#define SLUICE_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/cidr.h"

#define SLUICE_VERSION "0.1.0"

#define CFG_MAX_LISTEN 16
#define CFG_MAX_INDEX 8
#define CFG_MAX_WORKERS 64
#define CFG_ERR_MAX 512
#define CFG_PATH_MAX 4096
#define CFG_MAX_CERTS 16
#define CFG_MAX_APPS 8      /* [app "name"] sections */
#define CFG_APP_ROUTES 8    /* route lines per application */
#define CFG_APP_KEYS 32     /* an application's own keys */
#define CFG_APP_POOL 4096   /* bytes for their names and values */
#define CFG_APP_NAME_MAX 64 /* a name, NUL included */
#define CFG_ROUTE_MAX 256   /* a route's path, NUL included */
#define CFG_MAX_CIDRS 32    /* blocks of status_allow, of real_ip_from */

enum cfg_log_level {
    LOG_LVL_DEBUG,
    LOG_LVL_INFO,
    LOG_LVL_NOTICE,
    LOG_LVL_WARN,
    LOG_LVL_ERROR,
    LOG_LVL_CRIT,
    LOG_LVL_ALERT,
};

/* Listen flags: the words after the address on a `listen` line ("listen = ADDRESS [FLAG ...]").
 * They choose the listener's transport and are not part of a socket's identity: a reload that
 * keeps the address keeps the socket, and the new generation uses the new flags. */
#define CFG_LISTEN_TLS 0x1      /* tls: TLS on this listener */
#define CFG_LISTEN_PROXY 0x2    /* proxy: a PROXY-protocol header comes first */
#define CFG_LISTEN_REDIRECT 0x4 /* redirect: every request is redirected to https */
/* The flags whose transport exists; cfg_parse_listen refuses the others. */
#define CFG_LISTEN_IMPLEMENTED (CFG_LISTEN_TLS | CFG_LISTEN_PROXY)

/* access_log_format */
enum cfg_access_format {
    CFG_ACCESS_COMBINED, /* nginx's and Apache's "combined" */
    CFG_ACCESS_JSON,     /* one JSON object per line */
};

/* tls_protocols: the TLS versions a TLS listener accepts. */
#define CFG_TLS_V12 0x1
#define CFG_TLS_V13 0x2

/* One `certificate` or `certificate_key` line: a PEM file, absolute. */
struct cfg_pem {
    char path[CFG_PATH_MAX];
    int line;
};

/* One [app "name"] section: an application module, its routes and its own keys (handed to the
 * module as strings through sluice.h's sl_config_*; a `struct sl_section` is one of these). */
struct cfg_app {
    char name[CFG_APP_NAME_MAX];
    int line;                  /* the section header's */
    char module[CFG_PATH_MAX]; /* absolute */
    int module_line;
    char route[CFG_APP_ROUTES][CFG_ROUTE_MAX]; /* with the leading '/' */
    bool route_exact[CFG_APP_ROUTES];          /* "route = = /path": that path only */
    int route_line[CFG_APP_ROUTES];
    int nroute;
    /* Own keys: "name\0value\0" at pool + key_off[i], in file order. */
    uint16_t key_off[CFG_APP_KEYS];
    int key_line[CFG_APP_KEYS];
    int nkeys;
    size_t pool_used;
    char pool[CFG_APP_POOL];
};

/* One `listen` line, parsed but not yet bound. */
struct cfg_listen {
    struct sockaddr_storage addr; /* AF_INET, AF_INET6 or AF_UNIX */
    socklen_t addrlen;
    char text[128]; /* the address normalised for logs: "0.0.0.0:80", "[::1]:443", "unix:/p" */
    unsigned flags; /* CFG_LISTEN_* */
    int line;       /* config line, 0 for the built-in default */
};

struct cfg {
    char file[CFG_PATH_MAX]; /* the file this came from, "" for built-in defaults */

    struct cfg_listen listen[CFG_MAX_LISTEN];
    int nlisten;
    char root[CFG_PATH_MAX]; /* absolute */
    char index[CFG_MAX_INDEX][256];
    int nindex;
    int workers; /* resolved: "auto" becomes the online CPU count */
    bool reuseport;
    int backlog;
    int max_connections; /* resolved per worker */
    int64_t keepalive_timeout_ms;
    int64_t handshake_timeout_ms; /* from accept: PROXY header and TLS handshake */
    int64_t header_timeout_ms;
    int64_t send_timeout_ms;
    int64_t graceful_timeout_ms;
    int64_t idle_close_grace_ms; /* retiring without a hand-over: an idle connection closes */
    int64_t body_timeout_ms;
    int64_t send_min_rate; /* bytes per second, 0 = off */
    int64_t send_min_rate_period_ms;
    int64_t body_min_rate; /* bytes per second, 0 = off */
    int64_t body_min_rate_period_ms;
    int64_t max_request_line;
    int64_t max_header_size;
    int max_headers;
    int64_t max_body_size;
    int64_t body_buffer_size;          /* a request body kept in memory up to this */
    char body_temp_path[CFG_PATH_MAX]; /* absolute: where larger bodies spill (unlinked) */
    int64_t max_response_header;       /* a handler's header fields stop here (then 500) */
    int64_t request_timeout_ms;        /* a pending request until its header starts (504) */
    int max_keepalive_requests;
    int max_connections_per_ip;        /* 0 = off */
    int64_t worker_memory_limit;       /* bytes, 0 = off */
    char pid_file[CFG_PATH_MAX];       /* absolute */
    char control_socket[CFG_PATH_MAX]; /* absolute; "" = next to pid_file */
    char port_file[CFG_PATH_MAX];      /* absolute */
    char error_log[CFG_PATH_MAX];      /* "stderr" or absolute */
    enum cfg_log_level log_level;
    char user[64];            /* "" = unset */
    char group[64];           /* "" = the user's primary group */
    int worker_rlimit_nofile; /* 0 = raise the soft limit to the hard one */
    bool cpu_affinity;

    /* TLS (common/tls.h builds the contexts): the n-th key belongs to the n-th certificate. */
    struct cfg_pem certificate[CFG_MAX_CERTS];
    int ncertificate;
    struct cfg_pem certificate_key[CFG_MAX_CERTS];
    int ncertificate_key;
    unsigned tls_protocols;     /* CFG_TLS_* */
    char tls_ciphers[1024];     /* TLS 1.2 cipher list, OpenSSL syntax */
    char tls_ciphersuites[512]; /* TLS 1.3 suites, OpenSSL syntax */
    bool tls_prefer_server_ciphers;

    /* Application modules: the [app "name"] sections, in file order. */
    struct cfg_app app[CFG_MAX_APPS];
    int napps;
    int64_t module_check_timeout_ms; /* the validating child's deadline */

    /* Operations. */
    char access_log[CFG_PATH_MAX];   /* "" = off, "stdout", or absolute */
    int access_log_format;           /* enum cfg_access_format */
    int64_t access_log_buffer;       /* bytes a worker gathers before it writes; 0 = every line */
    char status_path[CFG_ROUTE_MAX]; /* "" = off */
    struct cidr status_allow[CFG_MAX_CIDRS];
    int nstatus_allow;
    char health_path[CFG_ROUTE_MAX];         /* "" = off */
    int64_t drain_delay_ms;                  /* a graceful stop serves on this long, health 503 */
    struct cidr real_ip_from[CFG_MAX_CIDRS]; /* peers trusted to name the client */
    int nreal_ip_from;
    char real_ip_header[64]; /* the field they name it in */

    bool follow_symlinks; /* follow_symlinks = inside (true) | off */
    bool serve_dotfiles;
    bool autoindex;
    bool gzip_static;
    char mime_types[CFG_PATH_MAX]; /* "" = built-in table only */
    char default_type[128];
    char charset[64]; /* "" = none (charset = off) */
    int64_t sendfile_max_chunk;
    int max_ranges;
    int open_file_cache;
    int64_t open_file_cache_valid_ms;
    int64_t small_file_max;
    int64_t small_file_cache;
    bool max_connections_auto;
    int64_t worker_watchdog_ms; /* 0 = off */
    int max_requests;           /* 0 = off */
    int max_requests_jitter;

    int root_line; /* config line of root, 0 when it is the default */
    int user_line;
    int group_line;
    int mime_types_line;
    int error_log_line; /* 0 when it is the default */
    int pid_file_line;
    int max_request_line_line;
    int max_response_header_line;
    int body_temp_path_line; /* 0 when it is the default ($TMPDIR, else /tmp) */
    int tls_protocols_line;
    int tls_ciphers_line;
    int tls_ciphersuites_line;
    int access_log_line;
    int status_path_line;
    int health_path_line;
};

/* Fill `cfg` with the built-in defaults (the same strings the key table documents), resolving
 * relative paths against the current directory. Does not check that root exists. */
void cfg_defaults(struct cfg *cfg);

/* Load `path` over the defaults. Returns 0, or -1 with a one-line message in `err`
 * ("FILE:LINE: KEY: what is wrong", no trailing newline, no "sluice: " prefix).
 * `path` NULL means: ./sluice.ini when it exists, else the defaults alone. */
int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen);

/* Like cfg_load, without cfg_check (the file system): syntax and values only. */
int cfg_read(struct cfg *cfg, const char *path, char *err, size_t errlen);

/* Gets each problem the lenient pass skips: where, and what is wrong (cfg_load's message
 * without "FILE:LINE: "). */
typedef void cfg_warn_fn(void *arg, const char *file, int line, const char *what);

/* For the commands that only need to find the running master (stop, quit, reopen, status,
 * upgrade), so that a file broken since the master started does not leave them powerless: the
 * defaults, then every key of `path` (NULL: ./sluice.ini when it exists) whose value is good,
 * set and resolved exactly as cfg_load does: what they use is pid_file, control_socket, and for
 * quit graceful_timeout and drain_delay. Every problem (syntax, unknown or duplicate keys, bad
 * values, whose default then stays) goes to `warn` and its line is skipped, except a bad
 * pid_file or control_socket; a duplicated key keeps its first value; sections are skipped;
 * nothing is checked on the file system. Returns 0, or -1 with a message in `err` (cfg_load's form)
 * when the file cannot be read or the value of pid_file or control_socket is unusable. */
int cfg_read_lenient(struct cfg *cfg, const char *path, cfg_warn_fn *warn, void *arg, char *err,
                     size_t errlen);

/* Work out the `auto` values that depend on the process (max_connections from RLIMIT_NOFILE);
 * cfg_read does it, call again after changing the limit. */
void cfg_resolve_auto(struct cfg *cfg);

/* Checks that need the file system (root is an openable directory, user exists) or several
 * keys at once (max_request_line against max_header_size and max_response_header).
 * cfg_load already calls it; exposed for reload. Same error contract. Whether body_temp_path
 * is usable is a budget check (master/budget.h): it depends on who the workers run as. */
int cfg_check(const struct cfg *cfg, char *err, size_t errlen);

/* Value parsers, exposed for the unit tests. Each returns 0 or -1; on -1 `why` (may be NULL)
 * gets a short reason such as "expected on or off". */
int cfg_parse_bool(const char *s, bool *out, const char **why);
int cfg_parse_int(const char *s, int64_t min, int64_t max, int64_t *out,
                  const char **why); /* decimal digits only: no sign, so never negative */
int cfg_parse_size(const char *s, int64_t *out, const char **why);        /* 4k, 1m, 2g, bytes */
int cfg_parse_duration_ms(const char *s, int64_t *out, const char **why); /* 15s, 500ms, 2m, 1h */
/* "ADDRESS [FLAG ...]": the address, then flags separated by blanks (tls, proxy, redirect, in
 * any order, each at most once; tls and redirect exclude each other). A unix path holds no
 * whitespace. A flag whose transport is not implemented yet is refused ("... is not
 * implemented yet") after *out is filled in. */
int cfg_parse_listen(const char *s, struct cfg_listen *out, const char **why);
/* tls_protocols: "TLSv1.2", "TLSv1.3" or both, blank-separated, into CFG_TLS_* bits. */
int cfg_parse_tls_protocols(const char *s, unsigned *out, const char **why);
/* The flags as listen-line words ("proxy tls"; "" for none) into buf. */
void cfg_format_listen_flags(unsigned flags, char *buf, size_t buflen);

/* `in` made absolute against the current directory (leading "./" dropped). Returns 0, or -1
 * when it does not fit in `outlen` or the directory is unknown. */
int cfg_absolute_path(const char *in, char *out, size_t outlen);

/* Format a socket address as listen syntax: "127.0.0.1:80", "[::1]:80", "unix:/p". */
void cfg_format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen);

/* The [app "name"] section header `s` (the whole line, '[' first): 0 with the name in `name`
 * (CFG_APP_NAME_MAX), or -1 with `why`. */
int cfg_parse_app_header(const char *s, char *name, const char **why);
/* A route value: "/prefix" or "= /path". 0, or -1 with `why`. */
int cfg_parse_route(const char *s, char *path, bool *exact, const char **why);
/* The value of an application's own key, NULL when absent. */
const char *cfg_app_get(const struct cfg_app *a, const char *key);

/* Table access for docs and tests: the name, default text and one-line description of key i;
 * returns NULL past the last key. */
const char *cfg_key_name(int i, const char **default_text, const char **doc);

const char *cfg_log_level_name(enum cfg_log_level level);

#endif
