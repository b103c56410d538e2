/* `sluice status` (see mstatus.h). */
#include "master/mstatus.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/strbuf.h"
#include "common/utf8.h"

/* What the table and the JSON say of one worker slot. */
struct row {
    const struct gen *g;
    int slot;
    int pid;             /* 0: none (backing off) */
    const char *state;   /* serving, starting, stopped, retiring, backing off */
    bool figures;        /* the region's slot is this process's */
    uint64_t conns_open; /* reading + writing + idle, from the last heartbeat */
    uint64_t connections, requests, bytes_out;
    int64_t rss;          /* bytes; -1: unknown */
    int64_t uptime_ms;    /* since the master forked it */
    int64_t heartbeat_ms; /* age; -1: unknown */
    int64_t backoff_ms, respawn_in_ms;
    unsigned respawns;
};

/* Resident memory of pid from /proc/PID/statm (pages), -1 when unreadable. */
static int64_t
rss_of(int pid)
{
    char path[64], text[128];
    snprintf(path, sizeof(path), "/proc/%d/statm", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    long long size, resident;
    if (n <= 0)
        return -1;
    text[n] = '\0';
    if (sscanf(text, "%lld %lld", &size, &resident) != 2)
        return -1;
    return resident * (int64_t)sysconf(_SC_PAGESIZE);
}

/* Slot s of g: false when there is nothing to show (no process, no respawn due). */
static bool
row_of(const struct gen_table *t, const struct gen *g, int s, int64_t now, struct row *r)
{
    const struct proc *p = &g->procs[s];
    *r = (struct row){.g = g,
                      .slot = s,
                      .rss = -1,
                      .heartbeat_ms = -1,
                      .respawns = g->respawns[s],
                      .backoff_ms = g->backoff_ms[s]};
    if (p->pid == 0) {
        if (g->respawn_at[s] == 0 || s >= g->cfg->workers)
            return false;
        r->state = "backing off";
        r->respawn_in_ms = g->respawn_at[s] - now;
        return true;
    }
    r->pid = (int)p->pid;
    r->state = p->stopped    ? "stopped"
               : p->retiring ? "retiring"
               : p->ready    ? "serving"
                             : "starting";
    r->uptime_ms = now - p->started_ms;
    r->rss = rss_of(r->pid);
    const struct shm_worker *w = shm_worker(t->shm, gen_column(t, g, s));
    r->figures = w->pid == p->pid;
    if (r->figures) {
        r->conns_open = (uint64_t)w->conns_reading + w->conns_writing + w->conns_idle;
        r->connections = w->connections;
        r->requests = w->requests;
        r->bytes_out = w->bytes_out;
        r->heartbeat_ms = now - w->heartbeat_ms;
    }
    return true;
}

static const char *
gen_state_name(enum gen_state s)
{
    static const char *const states[] = {"free", "starting", "active", "retiring"};
    return (unsigned)s < 4 ? states[s] : "?";
}

/* The generation that serves (else the newest): the master line's generation and file. */
static const struct gen *
main_gen(const struct gen_table *t)
{
    const struct gen *best = NULL;
    for (int i = 0; i < GEN_MAX; i++) {
        const struct gen *g = &t->gens[i];
        if (g->state == GEN_FREE)
            continue;
        if (best == NULL || (g->state == GEN_ACTIVE && best->state != GEN_ACTIVE) ||
            (g->state == best->state && g->id > best->id))
            best = g;
    }
    return best;
}

/* ---- the table ---- */

static void
human_bytes(char *buf, size_t len, int64_t v)
{
    static const char units[] = "KMGTPE";
    if (v < 0) {
        snprintf(buf, len, "-");
        return;
    }
    if (v < 10000) {
        snprintf(buf, len, "%lld", (long long)v);
        return;
    }
    double x = (double)v / 1024;
    int u = 0;
    while (x >= 1000 && u < 5) {
        x /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f%c", x, units[u]);
}

static void
human_time(char *buf, size_t len, int64_t ms)
{
    long long s = ms < 0 ? 0 : (long long)(ms / 1000);
    if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%02lldm", s / 3600, s / 60 % 60);
    else
        snprintf(buf, len, "%lldd%02lldh", s / 86400, s / 3600 % 24);
}

static void
text_row(struct strbuf *o, const struct row *r)
{
    char bytes[24], rss[24], up[24], hb[24];
    if (r->pid == 0) {
        strbuf_put(o, "  worker %d backing off, respawn in %lld ms (degraded)\n", r->slot,
                   (long long)r->respawn_in_ms);
        return;
    }
    human_bytes(bytes, sizeof(bytes), r->figures ? (int64_t)r->bytes_out : -1);
    human_bytes(rss, sizeof(rss), r->rss);
    human_time(up, sizeof(up), r->uptime_ms);
    if (r->heartbeat_ms < 0)
        snprintf(hb, sizeof(hb), "-");
    else
        snprintf(hb, sizeof(hb), "%lldms", (long long)r->heartbeat_ms);
    strbuf_put(o, "%6d %8d %5u %-9s %7llu %10llu %9s %9s %8s %10s %8u\n", r->slot, r->pid, r->g->id,
               r->state, (unsigned long long)r->conns_open, (unsigned long long)r->requests, bytes,
               rss, up, hb, r->respawns);
}

void
mstatus_text(const struct gen_table *t, const struct mstatus_master *m, char *buf, size_t len,
             int64_t now)
{
    struct strbuf o = {.p = buf, .cap = len};
    struct row r;
    char up[24];
    if (len)
        buf[0] = '\0';
    for (int i = 0; i < GEN_MAX; i++)
        if (t->gens[i].state != GEN_FREE)
            strbuf_put(&o, "generation %u %s, %d workers\n", t->gens[i].id,
                       gen_state_name(t->gens[i].state), t->gens[i].cfg->workers);
    const struct gen *cur = main_gen(t);
    human_time(up, sizeof(up), ((int64_t)time(NULL) - shm_created(t->shm)) * 1000);
    strbuf_put(&o, "master pid %d, up %s, generation %u, config %s\n", m->pid, up,
               cur ? cur->id : 0,
               cur && cur->cfg->file[0] ? cur->cfg->file : "(built-in defaults)");
    strbuf_put(&o, "%6s %8s %5s %-9s %7s %10s %9s %9s %8s %10s %8s\n", "SLOT", "PID", "GEN",
               "STATE", "CONNS", "REQUESTS", "BYTES", "RSS", "UPTIME", "HEARTBEAT", "RESPAWNS");
    for (int i = 0; i < GEN_MAX; i++)
        for (int s = 0; s < CFG_MAX_WORKERS && t->gens[i].state != GEN_FREE; s++)
            if (row_of(t, &t->gens[i], s, now, &r))
                text_row(&o, &r);
}

/* ---- JSON ---- */

/* A JSON string: '"', '\\' and control bytes escaped, valid UTF-8 as it is, any other byte
 * from 0x80 as \u00XX of the byte (a path need not be UTF-8; the document must be). */
static void
json_str(struct strbuf *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    strbuf_put(o, "\"");
    for (size_t i = 0; i < n && !o->full; i++) {
        unsigned char c = p[i];
        size_t len = c >= 0x80 ? utf8_len(p + i, n - i) : 0;
        if (c == '"' || c == '\\')
            strbuf_put(o, "\\%c", c);
        else if (c < 0x20 || c == 0x7f || (c >= 0x80 && len == 0))
            strbuf_put(o, "\\u%04x", c);
        else if (len > 1) {
            strbuf_put(o, "%.*s", (int)len, (const char *)p + i);
            i += len - 1;
        } else
            strbuf_put(o, "%c", c);
    }
    strbuf_put(o, "\"");
}

static void
json_row(struct strbuf *o, const struct row *r)
{
    strbuf_put(o, "{\"slot\":%d,\"pid\":%d,\"generation\":%u,\"state\":\"%s\",", r->slot, r->pid,
               r->g->id, r->state);
    if (r->figures)
        strbuf_put(o,
                   "\"connections\":%llu,\"connections_total\":%llu,\"requests\":%llu,"
                   "\"bytes_out\":%llu,\"heartbeat_age_ms\":%lld,",
                   (unsigned long long)r->conns_open, (unsigned long long)r->connections,
                   (unsigned long long)r->requests, (unsigned long long)r->bytes_out,
                   (long long)r->heartbeat_ms);
    else
        strbuf_put(o, "\"connections\":null,\"connections_total\":null,\"requests\":null,"
                      "\"bytes_out\":null,\"heartbeat_age_ms\":null,");
    if (r->rss >= 0)
        strbuf_put(o, "\"rss_bytes\":%lld,", (long long)r->rss);
    else
        strbuf_put(o, "\"rss_bytes\":null,");
    if (r->pid)
        strbuf_put(o, "\"uptime_seconds\":%lld,", (long long)(r->uptime_ms / 1000));
    else
        strbuf_put(o, "\"uptime_seconds\":null,");
    strbuf_put(o, "\"respawns\":%u,\"backoff_ms\":%lld,", r->respawns, (long long)r->backoff_ms);
    if (r->pid == 0)
        strbuf_put(o, "\"respawn_in_ms\":%lld}", (long long)r->respawn_in_ms);
    else
        strbuf_put(o, "\"respawn_in_ms\":null}");
}

int
mstatus_json(const struct gen_table *t, const struct mstatus_master *m, char *buf, size_t len,
             int64_t now)
{
    struct strbuf o = {.p = buf, .cap = len};
    struct row r;
    const struct gen *cur = main_gen(t);
    int64_t started = shm_created(t->shm);
    strbuf_put(
        &o,
        "{\"master\":{\"pid\":%d,\"version\":\"%s\",\"started\":%lld,\"uptime_seconds\":%lld,"
        "\"generation\":%u,\"stopping\":%s,\"config\":",
        m->pid, SLUICE_VERSION, (long long)started, (long long)((int64_t)time(NULL) - started),
        cur ? cur->id : 0, m->stopping ? "true" : "false");
    json_str(&o, cur ? cur->cfg->file : "");
    strbuf_put(&o, "},\"generations\":[");
    bool first = true;
    for (int i = 0; i < GEN_MAX; i++)
        if (t->gens[i].state != GEN_FREE) {
            strbuf_put(&o, "%s{\"id\":%u,\"state\":\"%s\",\"workers\":%d}", first ? "" : ",",
                       t->gens[i].id, gen_state_name(t->gens[i].state), t->gens[i].cfg->workers);
            first = false;
        }
    strbuf_put(&o, "],\"workers\":[");
    first = true;
    for (int i = 0; i < GEN_MAX; i++)
        for (int s = 0; s < CFG_MAX_WORKERS && t->gens[i].state != GEN_FREE; s++)
            if (row_of(t, &t->gens[i], s, now, &r)) {
                strbuf_put(&o, "%s", first ? "" : ",");
                json_row(&o, &r);
                first = false;
            }
    strbuf_put(&o, "]}\n");
    if (o.full) {
        if (len)
            buf[0] = '\0';
        return -1;
    }
    return 0;
}
