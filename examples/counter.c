/* counter: per-worker state. Each worker builds its own instance of the application in
 * worker_start and frees it in worker_stop; requests then answer from it with no locking, since
 * a worker runs one thread. Each request is answered
 *
 *     {"worker":0,"pid":1234,"generation":1,"count":3}
 *
 * where count is how many requests this worker's instance has answered, this one included. Two
 * workers count apart, and a reload starts new workers that count from the start again.
 *
 * Configuration: `start = N` (0 .. 1000000000, default 1), the first count. */
#include <sluice.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define START_MAX 1000000000

/* One worker's instance. */
struct counter {
    uint64_t next; /* the count the next request gets */
    pid_t pid;     /* the worker's, read once */
};

/* `start` as a number: 0 (with *out set, 1 when absent) or -1 with a message in err. Shared by
 * check (in the master's validating child) and worker_start (in each worker): they run in
 * different processes, so the worker parses again what check accepted. */
static int
parse_start(const struct sl_section *section, uint64_t *out, char *err, size_t errlen)
{
    const char *text = sl_config_get(section, "start");
    *out = 1;
    if (text == NULL)
        return 0;
    uint64_t v = 0;
    size_t i = 0;
    for (; text[i] >= '0' && text[i] <= '9' && v <= START_MAX; i++)
        v = v * 10 + (uint64_t)(text[i] - '0');
    if (i == 0 || text[i] != '\0' || v > START_MAX) {
        snprintf(err, errlen, "start: invalid value '%s' at line %d (a decimal number, 0 to %d)",
                 text, sl_config_line(section, "start"), START_MAX);
        return -1;
    }
    *out = v;
    return 0;
}

static int
counter_check(const struct sl_section *section, char *err, size_t errlen)
{
    int i = 0;
    const char *key, *value;
    while (sl_config_next(section, &i, &key, &value)) {
        if (strcmp(key, "start") != 0) {
            snprintf(err, errlen, "unknown key '%s' at line %d (counter takes only 'start')", key,
                     sl_config_line(section, key));
            return -1;
        }
    }
    uint64_t start;
    return parse_start(section, &start, err, errlen);
}

/* After the fork and the privilege drop, before the worker serves. */
static int
counter_worker_start(struct sl_app *app, const struct sl_section *section)
{
    char err[256];
    uint64_t start;
    if (parse_start(section, &start, err, sizeof(err)) < 0) {
        sl_log(app, SL_LOG_ERROR, "%s", err); /* check refuses this first: not reached */
        return -1;
    }
    struct counter *c = malloc(sizeof(*c));
    if (c == NULL) {
        sl_log(app, SL_LOG_ERROR, "out of memory");
        return -1;
    }
    c->next = start;
    c->pid = getpid();
    sl_app_set_data(app, c);
    return 0;
}

static int
counter_request(struct sl_req *req)
{
    struct counter *c = sl_app_data(sl_req_app(req));
    char body[128];
    int n = snprintf(
        body, sizeof(body), "{\"worker\":%d,\"pid\":%ld,\"generation\":%u,\"count\":%llu}\n",
        sl_worker_slot(), (long)c->pid, sl_worker_generation(), (unsigned long long)c->next++);
    sl_resp_header(req, "Content-Type", "application/json");
    sl_resp_header(req, "Cache-Control", "no-store");
    sl_resp_send(req, body, (size_t)n); /* copied: `body` is on the stack */
    return SL_DONE;
}

/* The worker's end, after its last request. */
static void
counter_worker_stop(struct sl_app *app)
{
    struct counter *c = sl_app_data(app);
    sl_log(app, SL_LOG_DEBUG, "worker %d stops; next count %llu", sl_worker_slot(),
           (unsigned long long)c->next);
    free(c);
    sl_app_set_data(app, NULL);
}

const struct sl_app_hooks sluice_app = {
    .abi = SL_ABI_VERSION,
    .check = counter_check,
    .worker_start = counter_worker_start,
    .request = counter_request,
    .worker_stop = counter_worker_stop,
};
