/* The tests' Prometheus text checker (see promtext.h). */
#include "promtext.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAMILIES_MAX 256

struct family {
    char name[128];
    char type[16];
    bool help, samples_done, has_samples;
};

struct state {
    struct family fam[FAMILIES_MAX];
    int n;
    int current; /* family whose samples are being read, -1 none */
    char **series;
    int nseries, capseries;
};

static bool
name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' ||
           (!first && isdigit((unsigned char)c));
}

/* A metric name at s: its length, 0 when none. */
static size_t
metric_name(const char *s)
{
    size_t n = 0;
    while (s[n] && name_char(s[n], n == 0))
        n++;
    return n;
}

static struct family *
family(struct state *st, const char *name, size_t len, bool create)
{
    for (int i = 0; i < st->n; i++)
        if (strlen(st->fam[i].name) == len && memcmp(st->fam[i].name, name, len) == 0)
            return &st->fam[i];
    if (!create || st->n == FAMILIES_MAX || len >= sizeof(st->fam[0].name))
        return NULL;
    struct family *f = &st->fam[st->n++];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, name, len);
    return f;
}

static bool
comment(struct state *st, const char *line, char *why, size_t wl)
{
    bool help = strncmp(line, "# HELP ", 7) == 0, type = strncmp(line, "# TYPE ", 7) == 0;
    if (!help && !type)
        return true; /* other comments are allowed */
    const char *name = line + 7;
    size_t n = metric_name(name);
    if (n == 0 || name[n] != ' ') {
        snprintf(why, wl, "bad metric name in a comment");
        return false;
    }
    struct family *f = family(st, name, n, true);
    if (f == NULL || f->has_samples) {
        snprintf(why, wl, "HELP or TYPE after the family's samples (or too many families)");
        return false;
    }
    if (help) {
        if (f->help) {
            snprintf(why, wl, "HELP twice");
            return false;
        }
        f->help = true;
        return true;
    }
    const char *t = name + n + 1;
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    bool ok = false;
    for (size_t i = 0; i < 5; i++)
        ok |= strcmp(t, types[i]) == 0;
    if (!ok || f->type[0]) {
        snprintf(why, wl, f->type[0] ? "TYPE twice" : "unknown type");
        return false;
    }
    snprintf(f->type, sizeof(f->type), "%s", t);
    if (strcmp(t, "counter") == 0 && (n < 6 || strncmp(name + n - 6, "_total", 6) != 0)) {
        snprintf(why, wl, "a counter not named ..._total");
        return false;
    }
    return true;
}

/* {name="value",...}: returns the bytes consumed, 0 when malformed. */
static size_t
labels(const char *s, char *why, size_t wl)
{
    size_t i = 1;
    if (s[i] == '}')
        return 2;
    for (;;) {
        size_t start = i;
        while (s[i] && (isalnum((unsigned char)s[i]) || s[i] == '_'))
            i++;
        if (i == start || isdigit((unsigned char)s[start]) || s[i] != '=' || s[i + 1] != '"') {
            snprintf(why, wl, "bad label name");
            return 0;
        }
        i += 2;
        while (s[i] && s[i] != '"') {
            if (s[i] == '\\') {
                if (s[i + 1] != '\\' && s[i + 1] != '"' && s[i + 1] != 'n') {
                    snprintf(why, wl, "bad escape in a label value");
                    return 0;
                }
                i++;
            }
            i++;
        }
        if (s[i] != '"') {
            snprintf(why, wl, "unterminated label value");
            return 0;
        }
        i++;
        if (s[i] == '}')
            return i + 1;
        if (s[i] != ',') {
            snprintf(why, wl, "expected ',' or '}' in labels");
            return 0;
        }
        i++;
    }
}

static bool
number(const char *s)
{
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 || strcmp(s, "NaN") == 0)
        return true;
    char *end;
    if (*s == '\0' || isspace((unsigned char)*s))
        return false;
    strtod(s, &end);
    return *end == '\0';
}

static bool
sample(struct state *st, const char *line, char *why, size_t wl)
{
    size_t n = metric_name(line);
    if (n == 0) {
        snprintf(why, wl, "bad metric name");
        return false;
    }
    struct family *f = family(st, line, n, false);
    if (f == NULL || !f->help || !f->type[0]) {
        snprintf(why, wl, "a sample without HELP and TYPE before it");
        return false;
    }
    int idx = (int)(f - st->fam);
    if (f->samples_done || (st->current != idx && f->has_samples)) {
        snprintf(why, wl, "the family's samples are not together");
        return false;
    }
    if (st->current >= 0 && st->current != idx)
        st->fam[st->current].samples_done = true;
    st->current = idx;
    f->has_samples = true;
    size_t i = n;
    if (line[i] == '{') {
        size_t k = labels(line + i, why, wl);
        if (k == 0)
            return false;
        i += k;
    }
    if (line[i] != ' ') {
        snprintf(why, wl, "expected a space before the value");
        return false;
    }
    char value[64];
    const char *v = line + i + 1, *sp = strchr(v, ' ');
    size_t vl = sp ? (size_t)(sp - v) : strlen(v);
    if (vl == 0 || vl >= sizeof(value)) {
        snprintf(why, wl, "bad value");
        return false;
    }
    memcpy(value, v, vl);
    value[vl] = '\0';
    if (!number(value) || (sp && !number(sp + 1))) {
        snprintf(why, wl, "value (or timestamp) is not a number");
        return false;
    }
    if (st->nseries == st->capseries) {
        st->capseries = st->capseries ? 2 * st->capseries : 256;
        st->series = realloc(st->series, (size_t)st->capseries * sizeof(char *));
    }
    st->series[st->nseries++] = strndup(line, i);
    return true;
}

static int
cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool
prom_check(const char *text, char *err, size_t errlen, int *nsamples)
{
    static struct state st;
    char why[128] = "";
    bool ok = true;
    memset(&st, 0, sizeof(st));
    st.current = -1;
    const char *p = text;
    int lineno = 0;
    while (ok && *p) {
        const char *nl = strchr(p, '\n');
        lineno++;
        if (nl == NULL) {
            snprintf(why, sizeof(why), "the last line has no newline");
            ok = false;
            break;
        }
        char *line = strndup(p, (size_t)(nl - p));
        if (line[0] == '#')
            ok = comment(&st, line, why, sizeof(why));
        else if (line[0] == '\0')
            ok = true; /* empty lines are allowed */
        else
            ok = sample(&st, line, why, sizeof(why));
        if (!ok)
            snprintf(err, errlen, "line %d: %s: '%s'", lineno, why, line);
        free(line);
        p = nl + 1;
    }
    if (ok && !*text) {
        snprintf(err, errlen, "empty document");
        ok = false;
    } else if (!ok && why[0] && strncmp(why, "the last", 8) == 0) {
        snprintf(err, errlen, "line %d: %s", lineno, why);
    }
    if (ok) {
        qsort(st.series, (size_t)st.nseries, sizeof(char *), cmp);
        for (int i = 1; i < st.nseries && ok; i++)
            if (strcmp(st.series[i - 1], st.series[i]) == 0) {
                snprintf(err, errlen, "series twice: %s", st.series[i]);
                ok = false;
            }
    }
    if (nsamples)
        *nsamples = st.nseries;
    for (int i = 0; i < st.nseries; i++)
        free(st.series[i]);
    free(st.series);
    return ok;
}

bool
prom_value(const char *text, const char *series, double *value)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            *value = strtod(p + n + 1, NULL);
            return true;
        }
    return false;
}

double
prom_sum(const char *text, const char *name, const char *match)
{
    double sum = 0;
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) != 0 || (p[n] != '{' && p[n] != ' '))
            continue;
        const char *nl = strchr(p, '\n');
        char line[512];
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= sizeof(line))
            continue;
        memcpy(line, p, len);
        line[len] = '\0';
        char *sp = strrchr(line, ' ');
        *sp = '\0';
        if (strstr(line, match))
            sum += strtod(sp + 1, NULL);
    }
    return sum;
}
