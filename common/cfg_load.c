/* Configuration: reading an INI file over the defaults (inih with a line reader of our own, so
 * every error names its line and no line is ever split into phantom keys), and the checks
 * across keys and against the host (cfg_check). The key table is cfg.c's. */
#include "common/cfg.h"
#include "common/cfg_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- loader ---- */

struct load {
    struct cfg *cfg;
    const char *file;
    FILE *fp;
    int lineno;
    char *line;
    size_t cap;
    int first_line[CFG_NKEYS]; /* where each key was first set, 0 = not yet */
    char *err;
    size_t errlen;
    bool failed;
    /* The lenient pass (cfg_read_lenient): a problem outside the keys it needs goes to `warn`
     * and its line is skipped, instead of failing the load. */
    bool lenient;
    bool hard; /* see load_fail */
    cfg_warn_fn *warn;
    void *warn_arg;
    bool in_app; /* past an [app "name"] header: keys are the application's */
};

/* A problem on the current line: fails the load, or in the lenient pass is a warning (unless
 * `hard` is set: the line of a key the lenient pass cannot do without). */
static void __attribute__((format(printf, 2, 3))) load_fail(struct load *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (ld->failed) {
    } else if (ld->lenient && !ld->hard) {
        char what[CFG_ERR_MAX];
        vsnprintf(what, sizeof(what), fmt, ap);
        ld->warn(ld->warn_arg, ld->file, ld->lineno, what);
    } else {
        int n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->file, ld->lineno);
        if (n >= 0 && (size_t)n < ld->errlen)
            vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
        ld->failed = true;
    }
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

/* A section header: the only sections are applications, [app "name"]. The lenient pass skips
 * applications whole (it needs none of their keys). Returns 0 (the line goes on to inih), or
 * -1 once load_fail said why. */
static int
section(struct load *ld, const char *s)
{
    char name[CFG_APP_NAME_MAX], msg[CFG_ERR_MAX];
    const char *why;
    if (strncmp(s, "[app", 4) != 0 || (s[4] != ' ' && s[4] != '\t')) {
        const char *end = strchr(s, ']');
        load_fail(ld, "unknown section [%.*s] (the only sections are [app \"name\"])",
                  end ? (int)(end - s - 1) : (int)strlen(s) - 1, s + 1);
        return -1;
    }
    if (cfg_parse_app_header(s, name, &why) < 0) {
        load_fail(ld, "invalid section %s (%s)", s, why);
        return -1;
    }
    ld->in_app = true;
    if (!ld->lenient && cfg_app_begin(ld->cfg, name, ld->lineno, msg, sizeof(msg)) < 0) {
        load_fail(ld, "%s", msg);
        return -1;
    }
    return 0;
}

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
    if (s[0] == '[' && section(ld, s) < 0)
        return skip_line(ld, str);
    if (ld->lenient && s[0] != '[' && !ini_line_ok(s)) {
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
    for (int j = 0; j < CFG_NKEYS; j++) {
        int d = edit_distance(name, cfg_keys[j].name);
        if (d < bestd) {
            bestd = d;
            best = j;
        }
    }
    if (best >= 0)
        load_fail(ld, "unknown key '%s' (did you mean '%s'?)", name, cfg_keys[best].name);
    else
        load_fail(ld, "unknown key '%s'", name);
}

/* inih's handler. After a problem it returns 0 (inih then stops at the reader's next call), or
 * in the lenient pass 1: the line was reported and is skipped. */
static int
load_handle(void *user, const char *section, const char *name, const char *value)
{
    struct load *ld = user;
    (void)section; /* the reader keeps track of sections (ld->in_app) */
    if (ld->failed)
        return 0;
    if (ld->in_app) {
        char msg[CFG_ERR_MAX];
        if (ld->lenient)
            return 1;
        if (cfg_app_key(ld->cfg, name, value, ld->lineno, msg, sizeof(msg)) < 0)
            load_fail(ld, "%s", msg);
        return !ld->failed;
    }

    int i;
    for (i = 0; i < CFG_NKEYS; i++)
        if (strcmp(cfg_keys[i].name, name) == 0)
            break;
    if (i == CFG_NKEYS) {
        unknown_key(ld, name);
        return !ld->failed;
    }

    const struct key *k = &cfg_keys[i];
    if (ld->first_line[i] && !(k->flags & KEY_REPEAT)) {
        load_fail(ld, "%s: duplicate key (first set at line %d)", name, ld->first_line[i]);
        return !ld->failed; /* lenient: the first value stays */
    }
    int *count = (k->flags & KEY_REPEAT) ? (int *)((char *)ld->cfg + k->count_off) : NULL;
    if (!ld->first_line[i]) {
        ld->first_line[i] = ld->lineno;
        if (count)
            *count = 0; /* the file's lines replace the default */
    }
    if (count && *count == k->max) {
        load_fail(ld, "%s: too many %s lines (at most %lld)", name, name, (long long)k->max);
        return !ld->failed;
    }
    const char *why = "invalid";
    cfg_set_line = ld->lineno;
    int rc = k->set(ld->cfg, k, value, &why);
    cfg_set_line = 0;
    if (rc < 0) {
        ld->hard = k->flags & KEY_NEEDED;
        load_fail(ld, "%s: invalid value '%s' (%s)", name, value, why);
        return !ld->failed;
    }
    if (k->line_off)
        *(int *)((char *)ld->cfg + k->line_off) = ld->lineno;
    return 1;
}

/* user/group: they must exist; started as root the workers switch to them, started as
 * anyone else they may only name who sluice already runs as. */
static int
check_identity(const struct cfg *cfg, char *err, size_t errlen)
{
    struct passwd *pw = cfg->user[0] ? getpwnam(cfg->user) : NULL;
    struct group *gr = cfg->group[0] ? getgrnam(cfg->group) : NULL;
    const char *file = cfg->file;
    if (cfg->group[0] && !cfg->user[0])
        snprintf(err, errlen, "%s:%d: group: needs user to be set too", file, cfg->group_line);
    else if (cfg->user[0] && pw == NULL)
        snprintf(err, errlen, "%s:%d: user: unknown user '%s'", file, cfg->user_line, cfg->user);
    else if (cfg->group[0] && gr == NULL)
        snprintf(err, errlen, "%s:%d: group: unknown group '%s'", file, cfg->group_line,
                 cfg->group);
    else if (pw && geteuid() != 0 && pw->pw_uid != geteuid())
        snprintf(err, errlen,
                 "%s:%d: user: switching to '%s' needs sluice to start as root (it runs as "
                 "uid %d)",
                 file, cfg->user_line, cfg->user, (int)geteuid());
    else if (gr && geteuid() != 0 && gr->gr_gid != getegid())
        snprintf(err, errlen,
                 "%s:%d: group: switching to '%s' needs sluice to start as root (it runs as "
                 "gid %d)",
                 file, cfg->group_line, cfg->group, (int)getegid());
    else
        return 0;
    return -1;
}

int
cfg_check(const struct cfg *cfg, char *err, size_t errlen)
{
    char where[CFG_PATH_MAX + 16];

    for (int i = 0; i < CFG_NKEYS; i++)
        if (cfg_keys[i].check && cfg_keys[i].check(cfg, err, errlen) < 0)
            return -1;

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

static int
finish_apps(const struct cfg *cfg, const char *path, char *err, size_t errlen)
{
    char msg[CFG_ERR_MAX];
    int line = 0;
    if (cfg_app_finish(cfg, &line, msg, sizeof(msg)) == 0)
        return 0;
    snprintf(err, errlen, "%s:%d: %s", path, line, msg);
    return -1;
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
    if (rc == 0 && !ld.lenient && finish_apps(cfg, path, ld.err, ld.errlen) < 0)
        return -1;
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

int
cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
    if (cfg_read(cfg, path, err, errlen) < 0)
        return -1;
    return cfg_check(cfg, err, errlen);
}
