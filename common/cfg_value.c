/* Configuration values: the parsers behind every key type (booleans, integers, sizes,
 * durations, listen addresses, paths) and the address formatting the logs use. Pure functions
 * apart from the current directory for relative paths. */
#include "common/cfg.h"
#include "common/decimal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define HOUR_MS (3600 * 1000LL)

int
cfg_parse_bool(const char *s, bool *out, const char **why)
{
    if (strcmp(s, "on") == 0)
        *out = true;
    else if (strcmp(s, "off") == 0)
        *out = false;
    else {
        if (why)
            *why = "expected on or off";
        return -1;
    }
    return 0;
}

/* Digits only, no sign, no overflow (common/decimal.h). Sets *end past the digits. */
static int
parse_digits(const char *s, int64_t *out, const char **end)
{
    const char *p = decimal_parse(s, s + strlen(s), out);
    if (p == NULL)
        return -1;
    *end = p;
    return 0;
}

int
cfg_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, const char **why)
{
    int64_t v;
    const char *end;
    if (parse_digits(s, &v, &end) < 0 || *end != '\0' || v < min || v > max) {
        if (why)
            *why = "expected an integer in range";
        return -1;
    }
    *out = v;
    return 0;
}

/* Number with an optional unit; `units` pairs a suffix with its multiplier. */
struct unit {
    const char *suffix;
    int64_t mult;
};

static int
parse_with_unit(const char *s, const struct unit *units, int64_t bare, int64_t *out)
{
    int64_t v, mult = -1;
    const char *end;
    if (parse_digits(s, &v, &end) < 0)
        return -1;
    if (*end == '\0')
        mult = bare;
    for (const struct unit *u = units; mult < 0 && u->suffix; u++)
        if (strcmp(end, u->suffix) == 0)
            mult = u->mult;
    if (mult < 0 || (v != 0 && v > INT64_MAX / mult))
        return -1;
    *out = v * mult;
    return 0;
}

int
cfg_parse_size(const char *s, int64_t *out, const char **why)
{
    /* t as well, so that the documented upper bound of the 0..1t keys can be written. */
    static const struct unit units[] = {
        {"k", 1024},         {"K", 1024},         {"m", 1024 * 1024},
        {"M", 1024 * 1024},  {"g", 1024LL << 20}, {"G", 1024LL << 20},
        {"t", 1024LL << 30}, {"T", 1024LL << 30}, {NULL, 0}};
    if (parse_with_unit(s, units, 1, out) < 0) {
        if (why)
            *why = "expected a size such as 512, 16k, 1m, 2g or 1t";
        return -1;
    }
    return 0;
}

int
cfg_parse_duration_ms(const char *s, int64_t *out, const char **why)
{
    static const struct unit units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", HOUR_MS}, {NULL, 0}};
    if (parse_with_unit(s, units, 1000, out) < 0) {
        if (why)
            *why = "expected a duration such as 500ms, 15s, 2m or 1h";
        return -1;
    }
    return 0;
}

/* Relative paths are taken against the directory sluice started in, so a daemon that changes
 * directory still finds them. Leading "./" is dropped for tidier logs. */
int
cfg_absolute_path(const char *in, char *out, size_t outlen)
{
    char cwd[CFG_PATH_MAX];
    if (in[0] == '/')
        return snprintf(out, outlen, "%s", in) < (int)outlen ? 0 : -1;
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return -1;
    while (in[0] == '.' && in[1] == '/')
        for (in += 2; *in == '/'; in++)
            ;
    if (strcmp(in, ".") == 0 || *in == '\0')
        return snprintf(out, outlen, "%s", cwd) < (int)outlen ? 0 : -1;
    return snprintf(out, outlen, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, in) < (int)outlen ? 0
                                                                                              : -1;
}

void
cfg_format_addr(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(buf, buflen, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(buf, buflen, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path)) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        snprintf(buf, buflen, "unix:%.*s", (int)(len - offsetof(struct sockaddr_un, sun_path)),
                 un->sun_path);
        buf[strnlen(buf, buflen)] = '\0';
    } else {
        snprintf(buf, buflen, "?");
    }
}

static int
parse_port(const char *s, uint16_t *port)
{
    int64_t v;
    if (cfg_parse_int(s, 0, 65535, &v, NULL) < 0)
        return -1;
    *port = htons((uint16_t)v);
    return 0;
}

/* The address part of a listen line (no blanks in it). */
static int
parse_address(const char *s, struct cfg_listen *out, const char **why)
{
    const char *expect = "expected host:port, [v6addr]:port or unix:/path";

    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->addr;
        char path[CFG_PATH_MAX];
        if (s[5] == '\0' || cfg_absolute_path(s + 5, path, sizeof(path)) < 0) {
            *why = "expected unix:/path";
            return -1;
        }
        if (strlen(path) >= sizeof(un->sun_path)) {
            *why = "unix socket path too long (at most 107 bytes)";
            return -1;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        out->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    } else if (s[0] == '[') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->addr;
        char host[INET6_ADDRSTRLEN];
        const char *close = strchr(s, ']');
        size_t hl = close ? (size_t)(close - s - 1) : 0;
        if (!close || close[1] != ':' || hl == 0 || hl >= sizeof(host)) {
            *why = expect;
            return -1;
        }
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1 ||
            parse_port(close + 2, &in6->sin6_port) < 0) {
            *why = expect;
            return -1;
        }
        in6->sin6_family = AF_INET6;
        out->addrlen = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&out->addr;
        char host[INET_ADDRSTRLEN];
        const char *colon = strrchr(s, ':');
        size_t hl = colon ? (size_t)(colon - s) : 0;
        if (!colon || hl == 0 || hl >= sizeof(host) || parse_port(colon + 1, &in->sin_port) < 0) {
            *why = expect;
            return -1;
        }
        memcpy(host, s, hl);
        host[hl] = '\0';
        if (strcmp(host, "*") == 0)
            in->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (strcmp(host, "localhost") == 0)
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
            *why = expect;
            return -1;
        }
        in->sin_family = AF_INET;
        out->addrlen = sizeof(*in);
    }
    cfg_format_addr((struct sockaddr *)&out->addr, out->addrlen, out->text, sizeof(out->text));
    return 0;
}

/* Listen flags, in the order they are written back (port file, logs). */
static const struct {
    const char *word;
    unsigned flag;
} listen_flags[] = {
    {"proxy", CFG_LISTEN_PROXY},
    {"tls", CFG_LISTEN_TLS},
    {"redirect", CFG_LISTEN_REDIRECT},
};
#define NFLAGS (sizeof(listen_flags) / sizeof(listen_flags[0]))

/* The words after the address. `why` points into a static buffer when it names a word. */
static int
parse_flags(const char *p, bool unix_path, unsigned *flags, const char **why)
{
    static char msg[160];
    while (*p) {
        size_t len = strcspn(p, " \t");
        size_t i = 0;
        while (i < NFLAGS &&
               !(strlen(listen_flags[i].word) == len && strncmp(p, listen_flags[i].word, len) == 0))
            i++;
        if (i == NFLAGS) {
            snprintf(msg, sizeof(msg),
                     "unknown listen flag '%.*s': expected tls, proxy or redirect%s",
                     (int)(len > 32 ? 32 : len), p,
                     unix_path ? "; a unix socket path cannot contain whitespace" : "");
            *why = msg;
            return -1;
        }
        if (*flags & listen_flags[i].flag) {
            snprintf(msg, sizeof(msg), "listen flag '%s' given twice", listen_flags[i].word);
            *why = msg;
            return -1;
        }
        *flags |= listen_flags[i].flag;
        p += len;
        p += strspn(p, " \t");
    }
    if ((*flags & CFG_LISTEN_TLS) && (*flags & CFG_LISTEN_REDIRECT)) {
        *why = "listen flags tls and redirect cannot be combined: redirect answers plain HTTP";
        return -1;
    }
    for (size_t i = 0; i < NFLAGS; i++)
        if (*flags & listen_flags[i].flag & ~(unsigned)CFG_LISTEN_IMPLEMENTED) {
            snprintf(msg, sizeof(msg), "listen flag '%s' is not implemented yet",
                     listen_flags[i].word);
            *why = msg;
            return -1;
        }
    return 0;
}

int
cfg_parse_listen(const char *s, struct cfg_listen *out, const char **why)
{
    const char *ignored;
    char addr[CFG_PATH_MAX + 8];
    if (why == NULL)
        why = &ignored;
    memset(out, 0, sizeof(*out));
    s += strspn(s, " \t");
    size_t len = strcspn(s, " \t");
    if (len >= sizeof(addr)) {
        *why = "listen address too long";
        return -1;
    }
    memcpy(addr, s, len);
    addr[len] = '\0';
    if (parse_address(addr, out, why) < 0)
        return -1;
    return parse_flags(s + len + strspn(s + len, " \t"), out->addr.ss_family == AF_UNIX,
                       &out->flags, why);
}

void
cfg_format_listen_flags(unsigned flags, char *buf, size_t buflen)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NFLAGS; i++)
        if ((flags & listen_flags[i].flag) && n < buflen)
            n += (size_t)snprintf(buf + n, buflen - n, "%s%s", n ? " " : "", listen_flags[i].word);
}

int
cfg_parse_tls_protocols(const char *s, unsigned *out, const char **why)
{
    unsigned v = 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, " \t");
        if (n == 7 && strncmp(p, "TLSv1.2", 7) == 0)
            v |= CFG_TLS_V12;
        else if (n == 7 && strncmp(p, "TLSv1.3", 7) == 0)
            v |= CFG_TLS_V13;
        else if (n > 0) {
            v = 0;
            break;
        }
        p += n;
        p += strspn(p, " \t");
    }
    if (v == 0) {
        if (why)
            *why = "expected TLSv1.2, TLSv1.3 or both; older versions are not supported";
        return -1;
    }
    *out = v;
    return 0;
}
