/* Process titles (see proctitle.h). */
#include "common/proctitle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

extern char **environ;

static char *area; /* start of argv[0] */
/* Not static: globals the compiler must keep, so LeakSanitizer sees the copies as reachable. */
char **proctitle_env;
char **proctitle_env_strings;
static size_t area_len;

void
proctitle_init(int argc, char **argv)
{
    if (argc == 0 || argv[0] == NULL)
        return;
    /* The kernel lays argv and then environ out back to back; the title may use all of it once
     * the environment lives elsewhere. */
    char *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = malloc((n + 1) * sizeof(*env));
    if (env == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (environ[i] == end)
            end = environ[i] + strlen(environ[i]) + 1;
        env[i] = strdup(environ[i]);
    }
    env[n] = NULL;
    environ = env;
    /* Kept so the copies (and the array) stay reachable when setenv()/unsetenv() drop them
     * from environ. */
    proctitle_env = env;
    proctitle_env_strings = malloc((n + 1) * sizeof(*proctitle_env_strings));
    if (proctitle_env_strings)
        memcpy(proctitle_env_strings, env, (n + 1) * sizeof(*proctitle_env_strings));
    /* Everything else reads argv through these copies, which the title never overwrites. */
    area = argv[0];
    for (int i = 0; i < argc; i++)
        argv[i] = strdup(argv[i]);
    area_len = (size_t)(end - area);
}

void
proctitle_set(const char *fmt, ...)
{
    char title[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(title, sizeof(title), fmt, ap);
    va_end(ap);
    prctl(PR_SET_NAME, title + (strncmp(title, "sluice: ", 8) == 0 ? 8 : 0));
    if (area == NULL || area_len < 2)
        return;
    memset(area, 0, area_len);
    snprintf(area, area_len, "%s", title);
}
