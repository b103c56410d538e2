/* The tests' strict JSON reader (see json.h). */
#include "json.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

#define DEPTH_MAX 64

struct arena {
    const char *p, *end, *start;
    char *err;
    size_t errlen;
    bool failed;
    char *str; /* copies of strings and numbers */
    size_t sused;
    int nused, nmax;
    struct json nodes[];
};

static void
fail(struct arena *a, const char *what)
{
    if (!a->failed)
        snprintf(a->err, a->errlen, "%s at byte %ld", what, (long)(a->p - a->start));
    a->failed = true;
}

static void
ws(struct arena *a)
{
    while (a->p < a->end && (*a->p == ' ' || *a->p == '\t' || *a->p == '\n' || *a->p == '\r'))
        a->p++;
}

static struct json *
node(struct arena *a, enum json_type t)
{
    if (a->nused == a->nmax) {
        fail(a, "too many values");
        return NULL;
    }
    struct json *j = &a->nodes[a->nused++];
    memset(j, 0, sizeof(*j));
    j->type = t;
    return j;
}

static const char *
copy(struct arena *a, const char *from, size_t n)
{
    char *s = a->str + a->sused;
    memcpy(s, from, n);
    s[n] = '\0';
    a->sused += n + 1;
    return s;
}

static bool
literal(struct arena *a, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(a->end - a->p) < n || memcmp(a->p, word, n) != 0)
        return false;
    a->p += n;
    return true;
}

/* A string's raw bytes, escapes checked but kept. */
static const char *
string(struct arena *a)
{
    const char *from = ++a->p; /* past '"' */
    while (a->p < a->end && *a->p != '"') {
        unsigned char c = (unsigned char)*a->p;
        if (c < 0x20) {
            fail(a, "control byte in a string");
            return NULL;
        }
        if (c >= 0x80) { /* RFC 8259: a JSON text is UTF-8 */
            size_t len = utf8_len((const unsigned char *)a->p, (size_t)(a->end - a->p));
            if (len == 0) {
                fail(a, "a byte that is not UTF-8 in a string");
                return NULL;
            }
            a->p += len;
            continue;
        }
        if (c == '\\') {
            a->p++;
            if (a->p >= a->end || !strchr("\"\\/bfnrtu", *a->p)) {
                fail(a, "bad escape");
                return NULL;
            }
            if (*a->p == 'u')
                for (int i = 0; i < 4; i++)
                    if (++a->p >= a->end || !isxdigit((unsigned char)*a->p)) {
                        fail(a, "bad \\u escape");
                        return NULL;
                    }
        }
        a->p++;
    }
    if (a->p >= a->end) {
        fail(a, "unterminated string");
        return NULL;
    }
    const char *s = copy(a, from, (size_t)(a->p - from));
    a->p++;
    return s;
}

static bool
digits(struct arena *a)
{
    const char *from = a->p;
    while (a->p < a->end && isdigit((unsigned char)*a->p))
        a->p++;
    return a->p > from;
}

static void
number(struct arena *a, struct json *j)
{
    const char *from = a->p;
    bool neg = a->p < a->end && *a->p == '-';
    if (neg)
        a->p++;
    if (a->p < a->end && *a->p == '0' && a->p + 1 < a->end && isdigit((unsigned char)a->p[1])) {
        fail(a, "leading zero");
        return;
    }
    if (!digits(a)) {
        fail(a, "bad number");
        return;
    }
    bool integer = true;
    if (a->p < a->end && *a->p == '.') {
        a->p++;
        integer = false;
        if (!digits(a)) {
            fail(a, "bad fraction");
            return;
        }
    }
    if (a->p < a->end && (*a->p == 'e' || *a->p == 'E')) {
        a->p++;
        integer = false;
        if (a->p < a->end && (*a->p == '+' || *a->p == '-'))
            a->p++;
        if (!digits(a)) {
            fail(a, "bad exponent");
            return;
        }
    }
    j->str = copy(a, from, (size_t)(a->p - from));
    j->num = strtod(j->str, NULL);
    if (integer && !neg && strlen(j->str) <= 20) {
        char *end;
        j->uint = strtoull(j->str, &end, 10);
        j->is_uint =
            *end == '\0' && (strlen(j->str) < 20 || strcmp(j->str, "18446744073709551615") <= 0);
    }
}

static struct json *value(struct arena *a, int depth);

static struct json *
container(struct arena *a, int depth, bool object)
{
    struct json *j = node(a, object ? JSON_OBJECT : JSON_ARRAY), **tail;
    if (j == NULL)
        return NULL;
    tail = &j->child;
    a->p++;
    ws(a);
    if (a->p < a->end && *a->p == (object ? '}' : ']')) {
        a->p++;
        return j;
    }
    for (;;) {
        const char *key = NULL;
        ws(a);
        if (object) {
            if (a->p >= a->end || *a->p != '"' || (key = string(a)) == NULL) {
                fail(a, "expected a member name");
                return NULL;
            }
            ws(a);
            if (a->p >= a->end || *a->p++ != ':') {
                fail(a, "expected ':'");
                return NULL;
            }
        }
        struct json *v = value(a, depth + 1);
        if (v == NULL)
            return NULL;
        v->key = key;
        *tail = v;
        tail = &v->next;
        j->n++;
        ws(a);
        if (a->p < a->end && *a->p == ',') {
            a->p++;
            continue;
        }
        if (a->p < a->end && *a->p == (object ? '}' : ']')) {
            a->p++;
            return j;
        }
        fail(a, object ? "expected ',' or '}'" : "expected ',' or ']'");
        return NULL;
    }
}

static struct json *
value(struct arena *a, int depth)
{
    struct json *j;
    ws(a);
    if (depth > DEPTH_MAX) {
        fail(a, "nested too deep");
        return NULL;
    }
    if (a->p >= a->end) {
        fail(a, "expected a value");
        return NULL;
    }
    switch (*a->p) {
    case '{':
    case '[':
        return container(a, depth, *a->p == '{');
    case '"':
        if ((j = node(a, JSON_STRING)) != NULL && (j->str = string(a)) == NULL)
            return NULL;
        return j;
    case 't':
    case 'f':
        if ((j = node(a, JSON_BOOL)) == NULL)
            return NULL;
        j->boolean = *a->p == 't';
        if (!literal(a, j->boolean ? "true" : "false")) {
            fail(a, "bad literal");
            return NULL;
        }
        return j;
    case 'n':
        if ((j = node(a, JSON_NULL)) == NULL)
            return NULL;
        if (!literal(a, "null")) {
            fail(a, "bad literal");
            return NULL;
        }
        return j;
    default:
        if ((j = node(a, JSON_NUMBER)) == NULL)
            return NULL;
        number(a, j);
        return a->failed ? NULL : j;
    }
}

struct json *
json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    int nmax = (int)len + 1;
    struct arena *a = malloc(sizeof(*a) + (size_t)nmax * sizeof(struct json) + 2 * len + 2);
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *a = (struct arena){
        .p = text, .end = text + len, .start = text, .err = err, .errlen = errlen, .nmax = nmax};
    a->str = (char *)&a->nodes[nmax];
    struct json *root = value(a, 0);
    ws(a);
    if (root && a->p != a->end)
        fail(a, "bytes after the value");
    if (a->failed || root == NULL) {
        free(a);
        return NULL;
    }
    return root; /* nodes[0] */
}

void
json_free(struct json *root)
{
    if (root)
        free((char *)root - offsetof(struct arena, nodes));
}

const struct json *
json_get(const struct json *obj, const char *key)
{
    if (obj == NULL || obj->type != JSON_OBJECT)
        return NULL;
    for (const struct json *m = obj->child; m; m = m->next)
        if (strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

const struct json *
json_at(const struct json *arr, int i)
{
    if (arr == NULL || arr->type != JSON_ARRAY)
        return NULL;
    const struct json *e = arr->child;
    while (e && i-- > 0)
        e = e->next;
    return e;
}

const struct json *
json_path(const struct json *obj, const char *path)
{
    char step[128];
    while (obj && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(step))
            return NULL;
        memcpy(step, path, n);
        step[n] = '\0';
        obj = json_get(obj, step);
        path += n + (path[n] == '.');
    }
    return obj;
}
