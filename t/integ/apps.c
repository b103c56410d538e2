/* Shared helpers of the application-module suites: module paths under $SLUICE_BUILD and [app]
 * sections. Declared in apps.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "apps.h"
#include "harness.h"

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

char *
apps_config(char *cfg, size_t cap, const char *server, const struct app_def *apps)
{
    snprintf(cfg, cap, "%s", server != NULL ? server : "");
    for (; apps->name != NULL; apps++)
        apps_section(cfg, cap, apps->name, apps->rel, apps->lines);
    return cfg;
}

void
apps_start(struct srv *s, const char *server, const struct app_def *apps)
{
    char cfg[4096];
    srv_start(s, apps_config(cfg, sizeof(cfg), server, apps));
}

void
apps_expect_status(int port, const char *method, const char *target, int want)
{
    struct http_resp r;
    int st = http_fetch(port, method, target, NULL, &r);
    ck_assert_msg(st == want, "%s %s: status %d, want %d (body: %s)", method, target, st, want,
                  r.body ? r.body : "");
    http_resp_free(&r);
}
