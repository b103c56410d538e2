/* The fuzzer's application-config mode (app_cfg.h). */
#include "t/fuzz/app_cfg.h"

#include <string.h>

#include "common/cfg.h"
#include "t/fuzz/fuzz.h"
#include "worker/path.h"
#include "worker/route.h"

static enum req_result
never(struct req *r)
{
    (void)r;
    return REQ_DONE;
}

static const struct handler dummy = {.name = "fuzz", .verbs = 1, .allow = "GET", .request = never};

static void
header(const char *line)
{
    char name[CFG_APP_NAME_MAX];
    const char *why = NULL;
    if (cfg_parse_app_header(line, name, &why) < 0) {
        if (why == NULL || why[0] == '\0')
            fuzz_fail("app header '%s' refused without a reason", line);
        return;
    }
    size_t n = strlen(name);
    if (n == 0 || n >= CFG_APP_NAME_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_.-") != n)
        fuzz_fail("app header '%s' accepted with the name '%s'", line, name);
}

static void
route(const char *value)
{
    char path[CFG_ROUTE_MAX], norm[CFG_ROUTE_MAX + 8];
    bool exact;
    const char *why = NULL;
    if (cfg_parse_route(value, path, &exact, &why) < 0)
        return;
    size_t n = strlen(path);
    if (path[0] != '/' || n >= CFG_ROUTE_MAX)
        fuzz_fail("route '%s' accepted as '%s'", value, path);
    /* What the matcher sees of a request for exactly this path. */
    int k = path_normalize(path, n, norm, sizeof(norm));
    if (k < 0 || (size_t)k != n - 1 || memcmp(norm, path + 1, n - 1) != 0)
        fuzz_fail("route '%s' accepted but a request for it normalises to '%.*s'", value,
                  k < 0 ? 0 : k, norm);
    route_clear();
    if (route_add(path, &dummy, NULL, exact) < 0)
        fuzz_fail("route '%s' accepted but refused by the table", value);
    const struct route *r = route_match(norm, (size_t)k);
    if (r == NULL || r->h != &dummy)
        fuzz_fail("route '%s' accepted but a request for it does not reach it", value);
    route_clear();
}

void
app_cfg_run(const uint8_t *in, size_t len)
{
    char line[1024];
    bool first = true;
    while (len > 0) {
        const uint8_t *nl = memchr(in, '\n', len);
        size_t n = nl ? (size_t)(nl - in) : len;
        if (n < sizeof(line) && memchr(in, '\0', n) == NULL) {
            memcpy(line, in, n);
            line[n] = '\0';
            if (first)
                header(line);
            else
                route(line);
        }
        first = false;
        in += n + (nl != NULL);
        len -= n + (nl != NULL);
    }
}
