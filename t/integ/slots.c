/* Worker-process helpers of the integration tests (see slots.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "slots.h"

#include "load.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBE_MS 3000
#define SLOTS_MAX 64 /* workers = 1..64 */

int
slot_of(const struct srv *s, pid_t pid)
{
    char want[64];
    for (int slot = 0; slot < SLOTS_MAX; slot++) {
        snprintf(want, sizeof(want), "worker %d (pid %d) started", slot, (int)pid);
        if (log_count(s, want) > 0)
            return slot;
    }
    return -1;
}

bool
log_wait_fmt_pid(const struct srv *s, const char *fmt, int a, int b, int timeout_ms)
{
    char want[128];
    snprintf(want, sizeof(want), fmt, a, b);
    return log_wait(s, want, 1, timeout_ms);
}

void
assert_each_serves(const struct srv *s, const pid_t *pids, int n, int tries)
{
    bool seen[16] = {false};
    int left = n;
    char err[128];
    ck_assert_int_le(n, 16);
    for (int i = 0; i < tries && left > 0; i++) {
        int fd = load_keepalive_open(s->port, "/", SRV_INDEX_HTML, PROBE_MS, err, sizeof(err));
        ck_assert_msg(fd >= 0, "probe %d: %s", i + 1, err);
        pid_t owner = load_conn_owner(pids, n, s->port, load_local_port(fd));
        for (int k = 0; k < n; k++)
            if (pids[k] == owner && !seen[k]) {
                seen[k] = true;
                left--;
            }
        close(fd);
    }
    for (int k = 0; k < n; k++)
        ck_assert_msg(seen[k], "worker %d answered none of %d connections", (int)pids[k], tries);
}

char *
proc_status(pid_t pid, const char *name, char *buf, size_t len)
{
    char path[64], field[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    snprintf(field, sizeof(field), "\n%s:", name);
    char *text = read_file_all(path, NULL);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    const char *p = strstr(text, field);
    ck_assert_msg(p != NULL, "%s lacks %s", path, name);
    p += strlen(field);
    p += strspn(p, " \t");
    snprintf(buf, len, "%.*s", (int)strcspn(p, "\n"), p);
    free(text);
    return buf;
}

bool
proc_ids_are(pid_t pid, const char *field, unsigned id, char *line, size_t len)
{
    char value[128];
    const char *name = strncmp(field, "Uid", 3) == 0 ? "Uid" : "Gid";
    proc_status(pid, name, value, sizeof(value));
    unsigned r, e, saved, fs;
    int n = sscanf(value, "%u %u %u %u", &r, &e, &saved, &fs);
    snprintf(line, len, "%s: %s", name, value);
    return n == 4 && r == id && e == id && saved == id && fs == id;
}
