/* Private to the configuration module (cfg.c, cfg_load.c): the key table both read. */
#ifndef SLUICE_CFG_INTERNAL_H
#define SLUICE_CFG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/cfg.h"

struct key;
typedef int key_set_fn(struct cfg *cfg, const struct key *k, const char *val, const char **why);
typedef int key_check_fn(const struct cfg *cfg, char *err, size_t errlen);

enum key_flag {
    KEY_REPEAT = 1, /* may appear on several lines (at most `max`); the file's lines replace the
                     * default: the loader zeroes the count at `count_off` at the first one */
    KEY_NEEDED = 2, /* the lenient pass (cfg_read_lenient) fails on a bad value */
};

/* One row per key: everything the loader knows about it. `set` parses a value into the field:
 * 0, or -1 with `why` (the field may then hold part of it; the line fails or is skipped anyway).
 * `check`, run first by cfg_check, checks the key against others: 0, or -1 with cfg_load's
 * message in `err`. */
struct key {
    const char *name;
    key_set_fn *set;
    size_t off, size; /* the field in struct cfg */
    int64_t min, max; /* bounds of a number */
    const char *def;  /* default, as text: parsed by the same code as a config value */
    const char *doc;
    const char *expect;       /* why a value is refused, when the row says it (set_int: a format
                               * given min and max) */
    const char *const *words; /* set_choice: the words, the field gets the index; set_path,
                               * set_word: words stored as they are ("off" as "") */
    const char *bad;          /* set_word: the characters refused */
    size_t line_off;          /* the int in struct cfg that records the key's line; 0 = none */
    size_t count_off;         /* KEY_REPEAT: the int in struct cfg counting its lines */
    unsigned flags;           /* enum key_flag */
    key_check_fn *check;
};

/* The table, one row per key (cfg.c). CFG_NKEYS sizes the loader's per-key state; a static
 * assertion in cfg.c holds it to the table's rows, so a new key fails the build until it is
 * raised. */
#define CFG_NKEYS 70
extern const struct key cfg_keys[];

/* The line of the value being set (0 for a default): a repeated key's parser records it in its
 * entry. */
extern int cfg_set_line;

/* [app "name"] sections (cfg_app.c), for the loader. Each returns 0, or -1 with the message
 * after "FILE:LINE: " in msg. */
/* Start a section: a new application called `name` (header at `line`). */
int cfg_app_begin(struct cfg *cfg, const char *name, int line, char *msg, size_t msglen);
/* A key of the current (last) section. */
int cfg_app_key(struct cfg *cfg, const char *name, const char *value, int line, char *msg,
                size_t msglen);
/* After the file: every application has a module and a route, no route is taken twice. On -1,
 * *line is the line to blame. */
int cfg_app_finish(const struct cfg *cfg, int *line, char *msg, size_t msglen);

#endif
