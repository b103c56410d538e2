/* Shared by the cfg suites: a private temp dir holding `www/`, the cwd to come back to, and
 * small helpers to write and load configuration files there. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, mkstemps */
#endif
#include "common/cfg.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "t/unit/cfg_fixture.h"
/* ---- fixture: a private temp dir holding `www/`, and the cwd to come back to ---------------- */

char tmp_dir[256];
int saved_cwd = -1;

void
tmp_setup(void)
{
    char tmpl[] = "/tmp/check_cfg.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    /* Canonical form, so it compares equal to what realpath()/getcwd() give the loader. */
    char real[PATH_MAX];
    ck_assert_ptr_nonnull(realpath(tmpl, real));
    ck_assert_uint_lt(strlen(real), sizeof(tmp_dir));
    strcpy(tmp_dir, real);
    char www[sizeof(tmp_dir) + 8];
    ck_assert_int_lt(snprintf(www, sizeof(www), "%s/www", tmp_dir), (int)sizeof(www));
    ck_assert_int_eq(mkdir(www, 0755), 0);
    saved_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(saved_cwd, 0);
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

void
tmp_teardown(void)
{
    if (saved_cwd >= 0) {
        if (fchdir(saved_cwd) != 0)
            perror("check_cfg: fchdir");
        close(saved_cwd);
        saved_cwd = -1;
    }
    if (tmp_dir[0])
        nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmp_dir[0] = '\0';
}

void
enter_tmp(void)
{
    ck_assert_int_eq(chdir(tmp_dir), 0);
}

/* Write `len` bytes to a new mkstemp file in `dir` (the temp dir when NULL); its path goes to
 * `path` (PATH_MAX bytes). */
void
write_file_in(const char *dir, const char *data, size_t len, char *path)
{
    int n = snprintf(path, PATH_MAX, "%s/cfgXXXXXX.ini", dir ? dir : tmp_dir);
    ck_assert(n > 0 && n < PATH_MAX);
    int fd = mkstemps(path, 4);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

void
write_cfgf(char *path, const char *fmt, ...)
{
    static char buf[65536];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ck_assert(n >= 0 && (size_t)n < sizeof(buf));
    write_file_in(NULL, buf, (size_t)n, path);
}

void
load_ok(struct cfg *cfg, const char *path)
{
    char err[CFG_ERR_MAX] = "";
    cfg_defaults(cfg);
    int rc = cfg_load(cfg, path, err, sizeof(err));
    ck_assert_msg(rc == 0, "cfg_load(%s) = %d: %s", path ? path : "NULL", rc, err);
}

int
load_err(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
    err[0] = '\0';
    cfg_defaults(cfg);
    return cfg_load(cfg, path, err, errlen);
}

void
path_in_tmp(char *out, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", tmp_dir, name);
    ck_assert(n > 0 && n < PATH_MAX);
}

void
check_in4(const struct cfg_listen *l, const char *ip, int port)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr;
    struct in_addr want;
    ck_assert_int_eq(inet_pton(AF_INET, ip, &want), 1);
    ck_assert_int_eq(sin->sin_family, AF_INET);
    ck_assert_uint_eq(l->addrlen, sizeof(struct sockaddr_in));
    ck_assert_int_eq(ntohs(sin->sin_port), port);
    ck_assert_uint_eq(sin->sin_addr.s_addr, want.s_addr);
}

void
check_in6(const struct cfg_listen *l, const char *ip, int port)
{
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr;
    struct in6_addr want;
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &want), 1);
    ck_assert_int_eq(sin6->sin6_family, AF_INET6);
    ck_assert_uint_eq(l->addrlen, sizeof(struct sockaddr_in6));
    ck_assert_int_eq(ntohs(sin6->sin6_port), port);
    ck_assert_mem_eq(&sin6->sin6_addr, &want, sizeof(want));
}

void
check_unix(const struct cfg_listen *l, const char *path)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&l->addr;
    size_t base = offsetof(struct sockaddr_un, sun_path);
    ck_assert_int_eq(sun->sun_family, AF_UNIX);
    ck_assert_str_eq(sun->sun_path, path);
    /* Either the exact length (with or without the NUL) or the whole struct. */
    ck_assert_uint_ge(l->addrlen, base + strlen(path));
    ck_assert_uint_le(l->addrlen, sizeof(struct sockaddr_un));
}
