/* The status endpoint (see status.h). Both formats come from one table of metric families, so
 * that the JSON keys and the Prometheus names cannot drift apart. */
#include "worker/status.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cidr.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "worker/http.h"
#include "worker/req.h"

static ssize_t
finish(struct strbuf *o)
{
    return o->full ? -1 : (ssize_t)o->len;
}

/* ---- the figures ---- */

enum unit { U_COUNT, U_MICROS }; /* U_MICROS: reported in seconds */

/* A metric family: a field of struct shm_worker, or nvalues consecutive fields of one width
 * (one per value of `label`). */
struct family {
    const char *name; /* Prometheus; counters end in _total */
    const char *json; /* the key in a worker's JSON object */
    const char *type; /* "counter" or "gauge" */
    const char *help;
    const char *label; /* NULL: a single value */
    const char *const *values;
    int nvalues;
    size_t off;
    int width; /* bytes: 4 or 8 */
    enum unit unit;
};

static const char *const conn_states[] = {"reading", "writing", "idle"};
static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const tls_results[] = {"full", "resumed", "failed"};
static const char *const handovers[] = {"handed_over", "taken_over", "failed"};
static const char *const lookups[] = {"hit", "miss"};
static const char *const timeouts[SHM_TIMEOUTS] = {
    [SHM_TO_HANDSHAKE] = "handshake", [SHM_TO_HEADER] = "header",
    [SHM_TO_BODY] = "body",           [SHM_TO_SEND] = "send",
    [SHM_TO_REQUEST] = "request",     [SHM_TO_SEND_RATE] = "send_rate",
    [SHM_TO_BODY_RATE] = "body_rate",
};
static const char *const limits[SHM_LIMITS] = {
    [SHM_LIM_MAX_CONNECTIONS] = "max_connections",
    [SHM_LIM_PER_IP] = "max_connections_per_ip",
    [SHM_LIM_MEMORY] = "worker_memory_limit",
    [SHM_LIM_413] = "max_body_size",
    [SHM_LIM_414] = "max_request_line",
    [SHM_LIM_431] = "max_header_size",
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define F1(field)                                                                                  \
    NULL, NULL, 1, offsetof(struct shm_worker, field), sizeof(((struct shm_worker *)0)->field)
#define FN(lab, vals, first)                                                                       \
    lab, vals, N(vals), offsetof(struct shm_worker, first), sizeof(((struct shm_worker *)0)->first)

static const struct family families[] = {
    {"sluice_worker_start_time_seconds", "started", "gauge",
     "When the worker process started, Unix seconds.", F1(started), U_COUNT},
    {"sluice_connections", "connections", "gauge",
     "Open connections by state (refreshed once a second).",
     FN("state", conn_states, conns_reading), U_COUNT},
    {"sluice_connections_accepted_total", "accepted", "counter", "Connections accepted.",
     F1(accepted), U_COUNT},
    {"sluice_connections_opened_total", "connections_total", "counter",
     "Connections served: accepted, or handed over from another worker.", F1(connections), U_COUNT},
    {"sluice_requests_total", "requests", "counter", "Requests finished (the log phase).",
     F1(requests), U_COUNT},
    {"sluice_response_bytes_total", "bytes_out", "counter",
     "Response bytes sent, headers included.", F1(bytes_out), U_COUNT},
    {"sluice_responses_total", "responses", "counter", "Responses by status class.",
     FN("class", classes, responses[0]), U_COUNT},
    {"sluice_tls_handshakes_total", "tls_handshakes", "counter",
     "TLS handshakes: full, resumed (a ticket), failed.", FN("result", tls_results, tls_full),
     U_COUNT},
    {"sluice_tls_file_bytes_total", "tls_file_bytes", "counter",
     "File bytes sent over TLS through the worker's buffer.", F1(tls_file_bytes), U_COUNT},
    {"sluice_timeouts_total", "timeouts", "counter",
     "Connections or requests ended by a timeout (keep-alive idleness is not counted).",
     FN("timeout", timeouts, timeouts[0]), U_COUNT},
    {"sluice_limit_hits_total", "limits", "counter",
     "Limits reached: accepting paused (max_connections, worker_memory_limit), connections "
     "refused (max_connections_per_ip), answers 413, 414, 431.",
     FN("limit", limits, limits[0]), U_COUNT},
    {"sluice_open_file_cache_lookups_total", "open_file_cache", "counter",
     "Open file cache lookups (refreshed once a second).", FN("result", lookups, ofc_hits),
     U_COUNT},
    {"sluice_handovers_total", "handovers", "counter",
     "Idle connections handed over at a reload, taken over, or that could not be.",
     FN("result", handovers, handed_over), U_COUNT},
    {"sluice_loop_lag_seconds", "loop_lag_us", "gauge",
     "The longest event-loop turn of the last second (JSON: microseconds).", F1(loop_lag_us),
     U_MICROS},
};

static uint64_t
value_at(const struct shm_worker *w, const struct family *f, int i)
{
    const volatile char *p = (const volatile char *)w + f->off + (size_t)i * (size_t)f->width;
    if (f->width == 4)
        return *(const volatile uint32_t *)p;
    return *(const volatile uint64_t *)p;
}

static void
put_value(struct strbuf *o, const struct family *f, uint64_t v, bool prometheus)
{
    if (f->unit == U_MICROS && prometheus)
        strbuf_put(o, "%llu.%06llu", (unsigned long long)(v / 1000000),
                   (unsigned long long)(v % 1000000));
    else if (f->off == offsetof(struct shm_worker, started))
        strbuf_put(o, "%lld", (long long)(int64_t)v);
    else
        strbuf_put(o, "%llu", (unsigned long long)v);
}

static uint32_t
nqueues(const struct shm_worker *w)
{
    uint32_t n = w->nqueues; /* whatever a worker wrote: bounded here */
    return n > CFG_MAX_LISTEN ? CFG_MAX_LISTEN : n;
}

/* a - b without overflow, whatever a torn or hostile slot holds. */
static long long
diff(int64_t a, int64_t b)
{
    return (long long)((uint64_t)a - (uint64_t)b);
}

/* ---- JSON ---- */

static void
json_worker(struct strbuf *o, const struct status_slot *s, const struct status_instance *in)
{
    const struct shm_worker *w = s->w;
    strbuf_put(
        o, "{\"slot\":%d,\"pid\":%d,\"generation\":%u,\"state\":\"%s\",\"heartbeat_age_ms\":%lld",
        s->slot, (int)w->pid, s->generation, shm_worker_state_name(w->state),
        diff(in->now_ms, w->heartbeat_ms));
    int64_t started = w->started;
    strbuf_put(o, ",\"uptime_seconds\":%lld", started > 0 ? diff(in->now, started) : 0);
    for (int i = 0; i < N(families); i++) {
        const struct family *f = &families[i];
        strbuf_put(o, ",\"%s\":", f->json);
        if (f->label == NULL) {
            put_value(o, f, value_at(w, f, 0), false);
            continue;
        }
        strbuf_put(o, "{");
        for (int v = 0; v < f->nvalues; v++) {
            strbuf_put(o, "%s\"%s\":", v ? "," : "", f->values[v]);
            put_value(o, f, value_at(w, f, v), false);
        }
        strbuf_put(o, "}");
    }
    strbuf_put(o, ",\"listen\":[");
    for (uint32_t i = 0, n = nqueues(w); i < n; i++) {
        int32_t q = w->queues[i].queued, b = w->queues[i].backlog;
        if (q < 0 || b < 0)
            strbuf_put(o, "%s{\"line\":%u,\"queued\":null,\"backlog\":null}", i ? "," : "", i);
        else
            strbuf_put(o, "%s{\"line\":%u,\"queued\":%d,\"backlog\":%d}", i ? "," : "", i, q, b);
    }
    strbuf_put(o, "]}");
}

ssize_t
status_json(char *buf, size_t cap, const struct status_instance *in,
            const struct status_slot *slots, int n)
{
    struct strbuf o = {.p = buf, .cap = cap};
    if (cap == 0)
        return -1;
    buf[0] = '\0';
    strbuf_put(
        &o,
        "{\"instance\":{\"version\":\"%s\",\"master_pid\":%d,\"answered_by\":%d,"
        "\"generation\":%u,\"started\":%lld,\"uptime_seconds\":%lld,\"time\":%lld},\"workers\":[",
        in->version, in->master_pid, in->answered_by, in->generation, (long long)in->started,
        diff(in->now, in->started), (long long)in->now);
    for (int i = 0; i < n; i++) {
        if (i)
            strbuf_put(&o, ",");
        json_worker(&o, &slots[i], in);
    }
    strbuf_put(&o, "]}\n");
    return finish(&o);
}

/* ---- Prometheus ---- */

ssize_t
status_label_escape(char *out, size_t cap, const char *in)
{
    size_t n = 0;
    for (; *in; in++) {
        const char *rep = *in == '\\' ? "\\\\" : *in == '"' ? "\\\"" : *in == '\n' ? "\\n" : NULL;
        size_t k = rep ? 2 : 1;
        if (n + k >= cap)
            return -1;
        if (rep)
            memcpy(out + n, rep, 2);
        else
            out[n] = *in;
        n += k;
    }
    if (n >= cap)
        return -1;
    out[n] = '\0';
    return (ssize_t)n;
}

static void
family_head(struct strbuf *o, const char *name, const char *type, const char *help)
{
    strbuf_put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The labels every per-worker sample carries. A worker's generation is a label so that two
 * generations' workers of one slot (during a reload) are distinct series; each reload thus
 * starts `workers` new series per family, and the old ones go stale. */
static void
sample_start(struct strbuf *o, const char *name, const struct status_slot *s)
{
    strbuf_put(o, "%s{worker=\"%d\",generation=\"%u\"", name, s->slot, s->generation);
}

static void
prom_family(struct strbuf *o, const struct family *f, const struct status_slot *slots, int n)
{
    family_head(o, f->name, f->type, f->help);
    for (int i = 0; i < n; i++)
        for (int v = 0; v < (f->label ? f->nvalues : 1); v++) {
            sample_start(o, f->name, &slots[i]);
            if (f->label)
                strbuf_put(o, ",%s=\"%s\"", f->label, f->values[v]);
            strbuf_put(o, "} ");
            put_value(o, f, value_at(slots[i].w, f, v), true);
            strbuf_put(o, "\n");
        }
}

static void
prom_queues(struct strbuf *o, const struct status_slot *slots, int n, bool backlog)
{
    const char *name = backlog ? "sluice_listen_queue_backlog" : "sluice_listen_queue_length";
    family_head(o, name, "gauge",
                backlog ? "The accept queue's backlog of a listen line's socket."
                        : "Connections waiting in a listen line's accept queue (once a second).");
    for (int i = 0; i < n; i++)
        for (uint32_t l = 0, nq = nqueues(slots[i].w); l < nq; l++) {
            int32_t v = backlog ? slots[i].w->queues[l].backlog : slots[i].w->queues[l].queued;
            if (v < 0)
                continue;
            sample_start(o, name, &slots[i]);
            strbuf_put(o, ",listen=\"%u\"} %d\n", l, v);
        }
}

ssize_t
status_prometheus(char *buf, size_t cap, const struct status_instance *in,
                  const struct status_slot *slots, int n)
{
    struct strbuf o = {.p = buf, .cap = cap};
    char version[64];
    if (cap == 0)
        return -1;
    buf[0] = '\0';
    if (status_label_escape(version, sizeof(version), in->version) < 0)
        snprintf(version, sizeof(version), "?");
    family_head(&o, "sluice_build_info", "gauge", "The server's version, as a label.");
    strbuf_put(&o, "sluice_build_info{version=\"%s\"} 1\n", version);
    family_head(&o, "sluice_start_time_seconds", "gauge", "When the master started, Unix seconds.");
    strbuf_put(&o, "sluice_start_time_seconds %lld\n", (long long)in->started);
    family_head(&o, "sluice_workers", "gauge", "Live worker processes, all generations.");
    strbuf_put(&o, "sluice_workers %d\n", n);
    for (int i = 0; i < N(families); i++)
        prom_family(&o, &families[i], slots, n);
    prom_queues(&o, slots, n, false);
    prom_queues(&o, slots, n, true);
    return finish(&o);
}

size_t
status_bound(int n)
{
    return STATUS_FIXED_MAX + (size_t)(n > 0 ? n : 0) * STATUS_SLOT_MAX;
}

enum status_format
status_format(const char *q, size_t len)
{
    enum status_format f = STATUS_JSON;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && q[end] != '&')
            end++;
        static const char key[] = "format=";
        size_t kl = sizeof(key) - 1;
        if (end - i >= kl && memcmp(q + i, key, kl) == 0) {
            const char *v = q + i + kl;
            size_t vl = end - i - kl;
            if (vl == 4 && memcmp(v, "json", 4) == 0)
                f = STATUS_JSON;
            else if (vl == 10 && memcmp(v, "prometheus", 10) == 0)
                f = STATUS_PROMETHEUS;
            else
                return STATUS_BAD;
        } else if (end - i == kl - 1 && memcmp(q + i, key, kl - 1) == 0) {
            return STATUS_BAD; /* "format" without a value */
        }
        i = end + 1;
    }
    return f;
}

/* ---- the handler ---- */

static struct {
    const struct cfg *cfg;
    struct shm *shm;
    unsigned generation;
    void (*refresh)(void);
} st;

void
status_init(const struct cfg *cfg, struct shm *shm, unsigned generation, void (*refresh)(void))
{
    st.cfg = cfg;
    st.shm = shm;
    st.generation = generation;
    st.refresh = refresh;
}

static bool
allowed(const struct req *r)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (req_peer(r, &ss, &len) < 0)
        return false; /* a unix-socket client: its address is in no block */
    return cidr_match(st.cfg->status_allow, st.cfg->nstatus_allow, (struct sockaddr *)&ss);
}

static void
release_buf(void *p)
{
    free(p);
}

/* Every live column (pid 0: none, or its worker has gone). A (slot, generation) pair seen
 * already is left out: only a torn or hostile slot repeats one, and a repeated series would make
 * the whole exposition invalid. */
static int
collect(struct status_slot *slots)
{
    int n = 0;
    for (int c = 0; c < SHM_COLUMNS; c++) {
        const struct shm_worker *w = shm_worker(st.shm, c);
        struct status_slot s = {.slot = c % CFG_MAX_WORKERS, .generation = w->generation, .w = w};
        bool seen = false;
        for (int i = 0; i < n && !seen; i++)
            seen = slots[i].slot == s.slot && slots[i].generation == s.generation;
        if (w->pid != 0 && !seen)
            slots[n++] = s;
    }
    return n;
}

/* The document in `fmt` of every live column, this worker's own figures refreshed first, into
 * one allocation bounded by the live columns' count (status is not the fast path; nothing grows
 * past status_bound). Returns its length, or -1 with the status
 * to answer instead in *fail. */
static ssize_t
build(enum status_format fmt, char **out, int *fail)
{
    static struct status_slot slots[SHM_COLUMNS];
    if (st.refresh)
        st.refresh();
    int n = collect(slots);
    struct status_instance in = {.version = SLUICE_VERSION,
                                 .master_pid = (int)getppid(),
                                 .answered_by = (int)getpid(),
                                 .generation = st.generation,
                                 .started = shm_created(st.shm),
                                 .now = (int64_t)time(NULL),
                                 .now_ms = clock_mono_ms()};
    size_t cap = status_bound(n);
    char *buf = malloc(cap);
    *fail = 503;
    if (buf == NULL)
        return -1;
    ssize_t len = fmt == STATUS_JSON ? status_json(buf, cap, &in, slots, n)
                                     : status_prometheus(buf, cap, &in, slots, n);
    if (len < 0) {
        free(buf);
        log_warnx("status: the document outgrew its bound");
        *fail = 500;
        return -1;
    }
    *out = buf;
    return len;
}

/* Refused before anything else is looked at; then the format; then the document. */
static enum req_result
status_request(struct req *r)
{
    struct http_span q = req_query(r);
    enum status_format fmt = status_format(q.p, q.n);
    char *buf = NULL;
    int fail = 0;
    ssize_t len = -1;
    if (!allowed(r))
        fail = 403;
    else if (fmt == STATUS_BAD)
        fail = 400;
    else
        len = build(fmt, &buf, &fail);
    if (len < 0) {
        req_error(r, fail);
        return REQ_DONE;
    }
    req_header_add(r, "Content-Type",
                   fmt == STATUS_JSON ? "application/json" : "text/plain; version=0.0.4");
    req_header_add(r, "Cache-Control", "no-store");
    req_send_mem(r, buf, (size_t)len, release_buf, buf);
    return REQ_DONE;
}

const struct handler status_handler = {
    .name = "status",
    .verbs = 1u << VERB_GET | 1u << VERB_HEAD | 1u << VERB_OPTIONS,
    .allow = "GET, HEAD, OPTIONS",
    .body = REQ_BODY_DISCARD,
    .request = status_request,
};
