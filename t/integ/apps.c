/* Shared helpers of the application-module suites: module paths under $SLUICE_BUILD and [app]
 * sections. Declared in apps.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "apps.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
apps_module(const char *rel, char *buf, size_t len)
{
    const char *build = getenv("SLUICE_BUILD");
    if (build == NULL || *build == '\0')
        build = "./build/release";
    char joined[PATH_MAX], abs[PATH_MAX];
    int n = snprintf(joined, sizeof(joined), "%s/%s", build, rel);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(joined), "module path too long: %s/%s", build, rel);
    ck_assert_msg(realpath(joined, abs) != NULL, "%s: %s (build it: make %s)", joined,
                  strerror(errno), joined);
    ck_assert_msg(strlen(abs) < len, "module path too long: %s", abs);
    strcpy(buf, abs);
    return buf;
}

char *
apps_section(char *cfg, size_t cap, const char *name, const char *rel, const char *lines)
{
    char path[PATH_MAX];
    size_t used = strlen(cfg);
    int n = snprintf(cfg + used, cap - used, "[app \"%s\"]\nmodule = %s\n%s", name,
                     apps_module(rel, path, sizeof(path)), lines != NULL ? lines : "");
    ck_assert_msg(n > 0 && (size_t)n < cap - used, "config for app \"%s\" does not fit", name);
    return cfg;
}
