/* A small strict JSON reader for the tests (RFC 8259: no trailing commas, no comments, no
 * leading zeros, no bare control bytes in strings, nothing after the value but whitespace).
 * It builds a tree in one malloc'd block: numbers keep their text and an unsigned integer view
 * (counters go up to 2^64 - 1, past a double's exactness). Strings keep their raw (still
 * escaped) bytes: the tests compare plain keys and values. */
#ifndef SLUICE_T_JSON_H
#define SLUICE_T_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
    enum json_type type;
    const char *key; /* in an object: its member name (raw, NUL-terminated); else NULL */
    const char *str; /* JSON_STRING: raw bytes (NUL-terminated); JSON_NUMBER: its text */
    bool boolean;
    bool is_uint;            /* JSON_NUMBER: a non-negative integer that fits */
    unsigned long long uint; /* its value */
    double num;
    struct json *child; /* first element or member */
    struct json *next;  /* next sibling */
    int n;              /* elements or members */
};

/* Parse `len` bytes of `text`. Returns the root (free with json_free), or NULL with a message
 * in err. */
struct json *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json *root);

/* The member `key` of an object (NULL when absent or not an object); element i of an array. */
const struct json *json_get(const struct json *obj, const char *key);
const struct json *json_at(const struct json *arr, int i);

/* A path of member names, "a.b.c": NULL when any step is missing. */
const struct json *json_path(const struct json *obj, const char *path);

#endif
