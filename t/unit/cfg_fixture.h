/* Test fixture for the cfg suites (cfg_fixture.c). */
#ifndef SLUICE_T_CFG_FIXTURE_H
#define SLUICE_T_CFG_FIXTURE_H

#include <stddef.h>

#include "common/cfg.h"

extern char tmp_dir[256];
extern int saved_cwd;

/* Checked fixture: make the temp dir with www/; remove it and return to the old cwd. */
void tmp_setup(void);
void tmp_teardown(void);
/* chdir into the temp dir (relative paths then resolve there). */
void enter_tmp(void);
/* Write `len` bytes to a new file in `dir`; its path into `path` (PATH_MAX). */
void write_file_in(const char *dir, const char *data, size_t len, char *path);
/* Write a config file from a format into the temp dir; its path into `path`. */
void write_cfgf(char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* cfg_load that must succeed (fails the test with the message otherwise). */
void load_ok(struct cfg *cfg, const char *path);
/* cfg_load that must fail; returns its result with the message in err. */
int load_err(struct cfg *cfg, const char *path, char *err, size_t errlen);
/* tmp_dir/name into out (PATH_MAX). */
void path_in_tmp(char *out, const char *name);
/* Assert a parsed listen entry is that IPv4 / IPv6 address and port, or that unix path. */
void check_in4(const struct cfg_listen *l, const char *ip, int port);
void check_in6(const struct cfg_listen *l, const char *ip, int port);
void check_unix(const struct cfg_listen *l, const char *path);

#endif
