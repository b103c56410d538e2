/* Unit tests for worker/status.c's pure writers: the JSON document parses strictly and carries
 * the slots' figures; the Prometheus text passes the format checker; both fit status_bound even
 * for every column filled with the largest values a hostile or torn slot can hold, and a buffer
 * too small fails cleanly; the query's format parameter; label escaping. */
#include "worker/status.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t/integ/json.h"
#include "t/integ/promtext.h"

static const struct status_instance inst = {.version = "0.1.0",
                                            .master_pid = 100,
                                            .answered_by = 101,
                                            .generation = 3,
                                            .started = 1700000000,
                                            .now = 1700000100,
                                            .now_ms = 5000};

/* Two workers with distinct figures; the second has a unix listener (queue unknown). */
static void
two_workers(struct shm_worker w[2], struct status_slot s[2])
{
    memset(w, 0, 2 * sizeof(*w));
    for (int i = 0; i < 2; i++) {
        w[i].pid = 200 + i;
        w[i].generation = 3;
        w[i].heartbeat_ms = 4990;
        w[i].started = 1700000050;
        w[i].requests = 10 + (uint64_t)i;
        w[i].responses[1] = 8;
        w[i].responses[3] = 2 + (uint64_t)i;
        w[i].conns_idle = 4;
        w[i].timeouts[SHM_TO_HEADER] = 7;
        w[i].limits[SHM_LIM_431] = 1;
        w[i].ofc_hits = 5;
        w[i].loop_lag_us = 1500;
        w[i].bytes_out = UINT64_MAX;
        w[i].nqueues = 2;
        w[i].queues[0] = (struct shm_queue){.queued = 3, .backlog = 511};
        w[i].queues[1] = (struct shm_queue){.queued = -1, .backlog = -1};
        s[i] = (struct status_slot){.slot = i, .generation = 3, .w = &w[i]};
    }
}

static unsigned long long
uint_at(const struct json *j, const char *path)
{
    const struct json *v = json_path(j, path);
    ck_assert_msg(v && v->type == JSON_NUMBER && v->is_uint, "%s: not an unsigned number", path);
    return v->uint;
}

START_TEST(json_carries_the_figures)
{
    struct shm_worker w[2];
    struct status_slot s[2];
    two_workers(w, s);
    size_t cap = status_bound(2);
    char *buf = malloc(cap), err[256];
    ssize_t n = status_json(buf, cap, &inst, s, 2);
    ck_assert(n > 0 && (size_t)n == strlen(buf));
    struct json *doc = json_parse(buf, (size_t)n, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s\n%s", err, buf);
    ck_assert_uint_eq(uint_at(doc, "instance.master_pid"), 100);
    ck_assert_uint_eq(uint_at(doc, "instance.uptime_seconds"), 100);
    ck_assert_uint_eq(uint_at(doc, "instance.generation"), 3);
    const struct json *ws = json_get(doc, "workers");
    ck_assert(ws && ws->type == JSON_ARRAY && ws->n == 2);
    const struct json *w1 = json_at(ws, 1);
    ck_assert_uint_eq(uint_at(w1, "pid"), 201);
    ck_assert_uint_eq(uint_at(w1, "slot"), 1);
    ck_assert_uint_eq(uint_at(w1, "requests"), 11);
    ck_assert_uint_eq(uint_at(w1, "responses.4xx"), 3);
    ck_assert_uint_eq(uint_at(w1, "responses.2xx"), 8);
    ck_assert_uint_eq(uint_at(w1, "bytes_out"), UINT64_MAX);
    ck_assert_uint_eq(uint_at(w1, "connections.idle"), 4);
    ck_assert_uint_eq(uint_at(w1, "timeouts.header"), 7);
    ck_assert_uint_eq(uint_at(w1, "limits.max_header_size"), 1);
    ck_assert_uint_eq(uint_at(w1, "open_file_cache.hit"), 5);
    ck_assert_uint_eq(uint_at(w1, "loop_lag_us"), 1500);
    ck_assert_uint_eq(uint_at(w1, "heartbeat_age_ms"), 10);
    ck_assert_uint_eq(uint_at(w1, "uptime_seconds"), 50);
    const struct json *q = json_get(w1, "listen");
    ck_assert(q && q->n == 2);
    ck_assert_uint_eq(uint_at(json_at(q, 0), "backlog"), 511);
    ck_assert_int_eq(json_get(json_at(q, 1), "queued")->type, JSON_NULL);
    json_free(doc);
    free(buf);
}
END_TEST

START_TEST(prometheus_is_well_formed)
{
    struct shm_worker w[2];
    struct status_slot s[2];
    two_workers(w, s);
    size_t cap = status_bound(2);
    char *buf = malloc(cap), err[512];
    ssize_t n = status_prometheus(buf, cap, &inst, s, 2);
    int samples = 0;
    ck_assert(n > 0 && (size_t)n == strlen(buf));
    ck_assert_msg(prom_check(buf, err, sizeof(err), &samples), "%s", err);
    ck_assert_int_gt(samples, 40);
    double v;
    ck_assert(prom_value(buf, "sluice_requests_total{worker=\"1\",generation=\"3\"}", &v));
    ck_assert(v == 11);
    ck_assert(prom_sum(buf, "sluice_responses_total", "class=\"4xx\"") == 5);
    ck_assert(prom_value(buf, "sluice_loop_lag_seconds{worker=\"0\",generation=\"3\"}", &v));
    ck_assert(v == 0.0015);
    ck_assert(prom_value(
        buf, "sluice_listen_queue_backlog{worker=\"0\",generation=\"3\",listen=\"0\"}", &v));
    ck_assert(v == 511);
    /* A queue that is unknown has no sample. */
    ck_assert(!prom_value(
        buf, "sluice_listen_queue_length{worker=\"0\",generation=\"3\",listen=\"1\"}", &v));
    ck_assert(strstr(buf, "sluice_response_bytes_total{worker=\"0\",generation=\"3\"} "
                          "18446744073709551615\n"));
    /* The checker itself refuses what it must. */
    ck_assert(!prom_check("# TYPE a counter\n", err, sizeof(err), NULL));
    ck_assert(!prom_check("# HELP a x\n# TYPE a gauge\na{b=\"c} 1\n", err, sizeof(err), NULL));
    ck_assert(!prom_check("# HELP a x\n# TYPE a gauge\na 1 x\n", err, sizeof(err), NULL));
    ck_assert(!prom_check("b 1\n", err, sizeof(err), NULL));
    ck_assert(!prom_check("# HELP a x\n# TYPE a gauge\na 1\na 2\n", err, sizeof(err), NULL));
    free(buf);
}
END_TEST

/* Every column, every field at its worst (a hostile worker can write anything into its slot):
 * both documents fit the bound, and still parse. */
START_TEST(worst_case_fits_the_bound)
{
    static struct shm_worker w[SHM_COLUMNS];
    static struct status_slot s[SHM_COLUMNS];
    memset(w, 0xff, sizeof(w));
    for (int i = 0; i < SHM_COLUMNS; i++) {
        w[i].pid = INT32_MIN;
        w[i].started = INT64_MIN;
        w[i].heartbeat_ms = INT64_MIN;
        w[i].nqueues = UINT32_MAX;
        for (int q = 0; q < CFG_MAX_LISTEN; q++)
            w[i].queues[q] = (struct shm_queue){.queued = INT32_MAX, .backlog = INT32_MAX};
        /* Distinct (slot, generation) pairs, as the handler makes them; the largest numbers. */
        s[i] = (struct status_slot){
            .slot = INT32_MIN + i, .generation = UINT32_MAX - (unsigned)i, .w = &w[i]};
    }
    struct status_instance in = inst;
    in.started = INT64_MIN;
    in.master_pid = INT32_MIN;
    size_t cap = status_bound(SHM_COLUMNS);
    char *buf = malloc(cap), err[512];
    ssize_t n = status_json(buf, cap, &in, s, SHM_COLUMNS);
    ck_assert_msg(n > 0, "JSON outgrew status_bound");
    struct json *doc = json_parse(buf, (size_t)n, err, sizeof(err));
    ck_assert_msg(doc != NULL, "%s", err);
    json_free(doc);
    n = status_prometheus(buf, cap, &in, s, SHM_COLUMNS);
    ck_assert_msg(n > 0, "Prometheus text outgrew status_bound");
    ck_assert_msg(prom_check(buf, err, sizeof(err), NULL), "%s", err);
    /* Too small: -1 and a NUL-terminated prefix, nothing written past cap. */
    memset(buf, 'x', 200);
    ck_assert_int_eq(status_json(buf, 100, &in, s, 1), -1);
    ck_assert(memchr(buf, '\0', 100) != NULL && buf[100] == 'x');
    ck_assert_int_eq(status_prometheus(buf, 100, &in, s, 1), -1);
    ck_assert(memchr(buf, '\0', 100) != NULL && buf[100] == 'x');
    ck_assert_int_eq(status_json(buf, 0, &in, s, 1), -1);
    free(buf);
}
END_TEST

START_TEST(format_parameter)
{
    static const struct {
        const char *q;
        enum status_format want;
    } cases[] = {
        {"", STATUS_JSON},
        {"format=json", STATUS_JSON},
        {"format=prometheus", STATUS_PROMETHEUS},
        {"a=1&format=prometheus&b", STATUS_PROMETHEUS},
        {"format=json&format=prometheus", STATUS_PROMETHEUS},
        {"format=prometheus&format=json", STATUS_JSON},
        {"formats=x&xformat=y", STATUS_JSON},
        {"format=xml", STATUS_BAD},
        {"format=", STATUS_BAD},
        {"format", STATUS_BAD},
        {"format=Prometheus", STATUS_BAD},
        {"format=prometheus2", STATUS_BAD},
        {"format=%70rometheus", STATUS_BAD},
        {"format=prometheus&format=bad", STATUS_BAD},
        {"&&", STATUS_JSON},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(status_format(cases[i].q, strlen(cases[i].q)) == cases[i].want, "'%s'",
                      cases[i].q);
    /* Only len bytes count. */
    ck_assert(status_format("format=prometheusX", 17) == STATUS_PROMETHEUS);
}
END_TEST

START_TEST(label_escape)
{
    char out[32];
    ck_assert_int_eq(status_label_escape(out, sizeof(out), "a\"b\\c\nd"), 10);
    ck_assert_str_eq(out, "a\\\"b\\\\c\\nd");
    ck_assert_int_eq(status_label_escape(out, sizeof(out), ""), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(status_label_escape(out, 4, "abcd"), -1);
    ck_assert_int_eq(status_label_escape(out, 4, "a\"b"), -1);
    ck_assert_int_eq(status_label_escape(out, 4, "abc"), 3);
}
END_TEST

Suite *
status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("writers");
    tcase_add_test(tc, json_carries_the_figures);
    tcase_add_test(tc, prometheus_is_well_formed);
    tcase_add_test(tc, worst_case_fits_the_bound);
    tcase_add_test(tc, format_parameter);
    tcase_add_test(tc, label_escape);
    suite_add_tcase(s, tc);
    return s;
}
