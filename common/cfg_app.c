/* Configuration: the [app "name"] sections (application modules), their values and the checks
 * across them, and the sl_config_* calls of the public API (include/sluice.h), which read a
 * section in the validating child and in the workers alike. */
#include "common/cfg.h"
#include "common/cfg_internal.h"

#include <stdio.h>
#include <string.h>

#include "include/sluice.h"

static bool
name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

int
cfg_parse_app_header(const char *s, char *name, const char **why)
{
    size_t n = 0;
    if (strncmp(s, "[app", 4) != 0 || (s[4] != ' ' && s[4] != '\t')) {
        *why = "the only sections are [app \"name\"]";
        return -1;
    }
    s += 4;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s++ != '"') {
        *why = "expected [app \"name\"]: the name in double quotes";
        return -1;
    }
    while (name_char(s[n]) && n < CFG_APP_NAME_MAX - 1)
        n++;
    if (n == 0 || s[n] != '"') {
        *why = "an application's name is 1 to 63 of A-Z a-z 0-9 _ . -";
        return -1;
    }
    memcpy(name, s, n);
    name[n] = '\0';
    s += n + 1;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s++ != ']') {
        *why = "expected ']' after the name";
        return -1;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '\0' && *s != ';' && *s != '#') {
        *why = "text after ']'";
        return -1;
    }
    return 0;
}

/* A route must be a path the normaliser can produce, or it would never match. */
int
cfg_parse_route(const char *s, char *path, bool *exact, const char **why)
{
    *exact = s[0] == '=';
    if (*exact) {
        s++;
        while (*s == ' ' || *s == '\t')
            s++;
    }
    size_t n = strlen(s);
    if (s[0] != '/') {
        *why = "expected /PATH or = /PATH";
        return -1;
    }
    if (n >= CFG_ROUTE_MAX) {
        *why = "longer than 255 bytes";
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '?' || c == '#' || c == '%' || c == '\\') {
            *why = "a route holds no blank, control character, '?', '#', '%' or '\\'";
            return -1;
        }
        if (c == '/' &&
            (s[i + 1] == '/' || (s[i + 1] == '.' && (s[i + 2] == '/' || s[i + 2] == '\0')) ||
             (s[i + 1] == '.' && s[i + 2] == '.' && (s[i + 3] == '/' || s[i + 3] == '\0')))) {
            *why = "not a normalised path (no //, /./ or /../): it would never match";
            return -1;
        }
    }
    memcpy(path, s, n + 1);
    return 0;
}

static int
key_index(const struct cfg_app *a, const char *key)
{
    for (int i = 0; i < a->nkeys; i++)
        if (strcmp(a->pool + a->key_off[i], key) == 0)
            return i;
    return -1;
}

const char *
cfg_app_get(const struct cfg_app *a, const char *key)
{
    int i = key_index(a, key);
    if (i < 0)
        return NULL;
    const char *k = a->pool + a->key_off[i];
    return k + strlen(k) + 1;
}

int
cfg_app_begin(struct cfg *cfg, const char *name, int line, char *msg, size_t msglen)
{
    for (int i = 0; i < cfg->napps; i++)
        if (strcmp(cfg->app[i].name, name) == 0) {
            snprintf(msg, msglen, "app \"%s\": duplicate application (first at line %d)", name,
                     cfg->app[i].line);
            return -1;
        }
    if (cfg->napps == CFG_MAX_APPS) {
        snprintf(msg, msglen, "app \"%s\": too many applications (at most %d)", name, CFG_MAX_APPS);
        return -1;
    }
    struct cfg_app *a = &cfg->app[cfg->napps++];
    memset(a, 0, sizeof(*a));
    snprintf(a->name, sizeof(a->name), "%s", name);
    a->line = line;
    return 0;
}

/* module and route: the server's keys of a section. */
static int
server_key(struct cfg_app *a, const char *name, const char *value, int line, char *msg,
           size_t msglen)
{
    const char *why = NULL;
    if (strcmp(name, "module") == 0) {
        if (a->module_line) {
            snprintf(msg, msglen, "module: duplicate key (first set at line %d)", a->module_line);
            return -1;
        }
        if (value[0] == '\0')
            why = "expected the path of a shared object";
        else if (cfg_absolute_path(value, a->module, sizeof(a->module)) < 0)
            why = "path too long";
        if (why == NULL) {
            a->module_line = line;
            return 0;
        }
    } else {
        if (a->nroute == CFG_APP_ROUTES) {
            snprintf(msg, msglen, "route: too many route lines (at most %d)", CFG_APP_ROUTES);
            return -1;
        }
        int i = a->nroute;
        if (cfg_parse_route(value, a->route[i], &a->route_exact[i], &why) == 0) {
            a->route_line[a->nroute++] = line;
            return 0;
        }
    }
    snprintf(msg, msglen, "%s: invalid value '%s' (%s)", name, value, why);
    return -1;
}

int
cfg_app_key(struct cfg *cfg, const char *name, const char *value, int line, char *msg,
            size_t msglen)
{
    struct cfg_app *a = &cfg->app[cfg->napps - 1];
    if (strcmp(name, "module") == 0 || strcmp(name, "route") == 0)
        return server_key(a, name, value, line, msg, msglen);
    int dup = key_index(a, name);
    if (dup >= 0) {
        snprintf(msg, msglen, "%s: duplicate key (first set at line %d)", name, a->key_line[dup]);
        return -1;
    }
    size_t kn = strlen(name) + 1, vn = strlen(value) + 1;
    if (a->nkeys == CFG_APP_KEYS || a->pool_used + kn + vn > sizeof(a->pool)) {
        snprintf(msg, msglen, "%s: app \"%s\" has too many keys (at most %d, %d bytes)", name,
                 a->name, CFG_APP_KEYS, CFG_APP_POOL);
        return -1;
    }
    a->key_off[a->nkeys] = (uint16_t)a->pool_used;
    a->key_line[a->nkeys++] = line;
    memcpy(a->pool + a->pool_used, name, kn);
    memcpy(a->pool + a->pool_used + kn, value, vn);
    a->pool_used += kn + vn;
    return 0;
}

/* A route already taken by an earlier one: its app and line, else NULL. */
static const struct cfg_app *
route_taken(const struct cfg *cfg, int app, int r, int *line)
{
    const struct cfg_app *a = &cfg->app[app];
    for (int i = 0; i <= app; i++)
        for (int j = 0; j < (i == app ? r : cfg->app[i].nroute); j++)
            if (cfg->app[i].route_exact[j] == a->route_exact[r] &&
                strcmp(cfg->app[i].route[j], a->route[r]) == 0) {
                *line = cfg->app[i].route_line[j];
                return &cfg->app[i];
            }
    return NULL;
}

int
cfg_app_finish(const struct cfg *cfg, int *line, char *msg, size_t msglen)
{
    for (int i = 0; i < cfg->napps; i++) {
        const struct cfg_app *a = &cfg->app[i];
        *line = a->line;
        if (a->module_line == 0) {
            snprintf(msg, msglen, "app \"%s\": module: missing", a->name);
            return -1;
        }
        if (a->nroute == 0) {
            snprintf(msg, msglen,
                     "app \"%s\": route: missing (an application needs at least one route)",
                     a->name);
            return -1;
        }
        for (int r = 0; r < a->nroute; r++) {
            int first;
            const struct cfg_app *other = route_taken(cfg, i, r, &first);
            if (other) {
                *line = a->route_line[r];
                snprintf(msg, msglen, "route: '%s%s' is already a route of app \"%s\" (line %d)",
                         a->route_exact[r] ? "= " : "", a->route[r], other->name, first);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- The public API: a struct sl_section is a struct cfg_app ---- */

static const struct cfg_app *
app_of(const struct sl_section *s)
{
    return (const struct cfg_app *)s;
}

const char *
sl_config_name(const struct sl_section *s)
{
    return s ? app_of(s)->name : NULL;
}

const char *
sl_config_get(const struct sl_section *s, const char *key)
{
    return s && key ? cfg_app_get(app_of(s), key) : NULL;
}

int
sl_config_next(const struct sl_section *s, int *i, const char **key, const char **value)
{
    if (s == NULL || i == NULL || *i < 0 || *i >= app_of(s)->nkeys)
        return 0;
    const char *k = app_of(s)->pool + app_of(s)->key_off[*i];
    (*i)++;
    if (key)
        *key = k;
    if (value)
        *value = k + strlen(k) + 1;
    return 1;
}

int
sl_config_line(const struct sl_section *s, const char *key)
{
    if (s == NULL || key == NULL)
        return 0;
    int i = key_index(app_of(s), key);
    return i < 0 ? 0 : app_of(s)->key_line[i];
}
