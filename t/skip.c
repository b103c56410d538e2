/* The skip counter (see skip.h): one anonymous MAP_SHARED page, mapped by the runner before
 * Check forks a process per test, so a skip counted in a test process reaches the summary. */
#include "t/skip.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define SKIP_LINES 30
#define SKIP_LINE_MAX 128

struct skips {
    int count;
    char lines[SKIP_LINES][SKIP_LINE_MAX];
};

/* Owned by this file; shared with the test processes through the mapping. */
static struct skips *skips;

int
t_skip_init(void)
{
    void *p = mmap(NULL, sizeof(*skips), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    skips = p;
    return 0;
}

void
t_skip(const char *name, const char *reason)
{
    printf("SKIP %s: %s\n", name, reason);
    fflush(stdout); /* before Check's test process exits, and in order with its own output */
    if (skips == NULL) {
        printf("SKIP %s: not counted (t_skip_init was not called)\n", name);
        fflush(stdout);
        return;
    }
    /* Tests run one at a time; the atomic add only guards against a test that forks. */
    int i = __atomic_fetch_add(&skips->count, 1, __ATOMIC_SEQ_CST);
    if (i < SKIP_LINES)
        snprintf(skips->lines[i], SKIP_LINE_MAX, "%s: %s", name, reason);
}

int
t_skip_count(void)
{
    return skips != NULL ? __atomic_load_n(&skips->count, __ATOMIC_SEQ_CST) : 0;
}

const char *
t_skip_line(int i)
{
    if (skips == NULL || i < 0 || i >= t_skip_count() || i >= SKIP_LINES)
        return NULL;
    return skips->lines[i];
}
