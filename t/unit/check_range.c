/* Unit tests for worker/range.c: `Range: bytes=...` against a representation of known length
 * (RFC 9110 14.1.2, 14.2). Values are copied into exactly-sized heap buffers with no NUL
 * terminator, so a read past `n` shows up under ASan. */
#include "worker/range.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXR 64

static const char *
result_name(enum range_result r)
{
    switch (r) {
    case RANGE_IGNORE:
        return "IGNORE";
    case RANGE_OK:
        return "OK";
    case RANGE_UNSATISFIABLE:
        return "UNSATISFIABLE";
    }
    return "?";
}

static enum range_result
parse_exact(const char *value, size_t n, off_t size, struct range *out, int max, int *count)
{
    char *copy = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, value, n);
    *count = -1;
    enum range_result r = range_parse(copy, n, size, out, max, count);
    free(copy);
    return r;
}

/* "a-b,c-d" into the list it describes. */
static int
format_ranges(const struct range *rg, int n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld-%lld", i ? "," : "",
                                 (long long)rg[i].first, (long long)rg[i].last);
    return (int)used;
}

/* `value` against `size` with at most `max` ranges must give RANGE_OK and exactly `want`
 * ("first-last,first-last", inclusive, sorted). */
static void
expect_ok_max(const char *value, off_t size, int max, const char *want)
{
    struct range rg[MAXR];
    int count;
    enum range_result r = parse_exact(value, strlen(value), size, rg, max, &count);
    char got[1024] = "";
    if (r == RANGE_OK && count >= 0 && count <= max)
        format_ranges(rg, count, got, sizeof(got));
    ck_assert_msg(r == RANGE_OK, "\"%s\" (size %lld): %s, want OK %s", value, (long long)size,
                  result_name(r), want);
    ck_assert_msg(count >= 1 && count <= max, "\"%s\": count %d (max %d)", value, count, max);
    ck_assert_msg(strcmp(got, want) == 0, "\"%s\" (size %lld): got %s, want %s", value,
                  (long long)size, got, want);
}

static void
expect_ok(const char *value, off_t size, const char *want)
{
    expect_ok_max(value, size, 16, want);
}

static void
expect_result(const char *value, off_t size, int max, enum range_result want)
{
    struct range rg[MAXR];
    int count;
    enum range_result r = parse_exact(value, strlen(value), size, rg, max, &count);
    ck_assert_msg(r == want, "\"%s\" (size %lld, max %d): %s, want %s", value, (long long)size, max,
                  result_name(r), result_name(want));
    ck_assert_msg(count == 0, "\"%s\": %s with count %d, want 0", value, result_name(r), count);
}

static void
expect_ignore(const char *value, off_t size)
{
    expect_result(value, size, 16, RANGE_IGNORE);
}

static void
expect_unsat(const char *value, off_t size)
{
    expect_result(value, size, 16, RANGE_UNSATISFIABLE);
}

START_TEST(test_single)
{
    expect_ok("bytes=0-499", 1000, "0-499");
    expect_ok("bytes=500-999", 1000, "500-999");
    expect_ok("bytes=0-0", 1000, "0-0");
    expect_ok("bytes=999-999", 1000, "999-999");
    expect_ok("bytes=0-999", 1000, "0-999");
    expect_ok("bytes=123-456", 1000, "123-456");
}
END_TEST

START_TEST(test_open_ended)
{
    expect_ok("bytes=500-", 1000, "500-999");
    expect_ok("bytes=0-", 1000, "0-999");
    expect_ok("bytes=999-", 1000, "999-999");
}
END_TEST

START_TEST(test_suffix)
{
    expect_ok("bytes=-500", 1000, "500-999");
    expect_ok("bytes=-1", 1000, "999-999");
    expect_ok("bytes=-1000", 1000, "0-999");
    expect_ok("bytes=-2000", 1000, "0-999"); /* suffix longer than the representation */
    expect_ok("bytes=-99999999999", 1000, "0-999");
}
END_TEST

START_TEST(test_clamp_last)
{
    expect_ok("bytes=0-1000", 1000, "0-999");
    expect_ok("bytes=500-5000", 1000, "500-999");
    expect_ok("bytes=999-1000000000000", 1000, "999-999");
}
END_TEST

START_TEST(test_merge_and_sort)
{
    expect_ok("bytes=500-599,0-99", 1000, "0-99,500-599");
    expect_ok("bytes=0-499,400-599", 1000, "0-599"); /* overlap */
    expect_ok("bytes=0-9,10-19", 1000, "0-19");      /* adjacent */
    expect_ok("bytes=10-19,0-9", 1000, "0-19");      /* adjacent, out of order */
    expect_ok("bytes=0-9,11-19", 1000, "0-9,11-19"); /* one byte apart: not merged */
    expect_ok("bytes=0-999,100-200", 1000, "0-999"); /* contained */
    expect_ok("bytes=100-200,0-999", 1000, "0-999");
    expect_ok("bytes=0-0,-1", 1000, "0-0,999-999");
    expect_ok("bytes=-100,0-99", 1000, "0-99,900-999");
    expect_ok("bytes=900-,-200", 1000, "800-999");
    expect_ok("bytes=100-199,50-150,300-", 1000, "50-199,300-999");
    expect_ok("bytes=5-5,5-5,5-5", 1000, "5-5");
    expect_ok("bytes=700-799,100-199,400-499", 1000, "100-199,400-499,700-799");
}
END_TEST

/* Specs that miss the representation are dropped; with none left the answer is 416. */
START_TEST(test_unsatisfiable)
{
    expect_unsat("bytes=1000-", 1000);
    expect_unsat("bytes=1000-2000", 1000);
    expect_unsat("bytes=5000-6000,1000-", 1000);
    expect_unsat("bytes=-0", 1000);
    expect_unsat("bytes=-0,-0", 1000);
    expect_unsat("bytes=9223372036854775807-", 1000);
    expect_ok("bytes=2000-,0-1", 1000, "0-1"); /* the one that fits is kept */
    expect_ok("bytes=-0,0-1", 1000, "0-1");
    expect_ok("bytes=999-,1000-", 1000, "999-999");
}
END_TEST

START_TEST(test_syntax_errors_ignored)
{
    static const char *const bad[] = {
        "",
        "bytes",
        "bytes=",
        "bytes=,",
        "bytes= , ,",
        "bytes=abc",
        "bytes=1",
        "bytes=-",
        "bytes=--1",
        "bytes=1--2",
        "bytes=1-2-3",
        "bytes=0-1;",
        "bytes=0 -1",
        "bytes=0- 1",
        "bytes=+1-2",
        "bytes=0x10-20",
        "bytes=1.5-2",
        "bytes=0-1,x",
        "bytes=0-1,2",
        "bytes=0-1 2-3",
        "bytes:0-1",
        "bytes =0-1",
        "byte=0-1",
        "0-1",
        "=0-1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_ignore(bad[i], 1000);
}
END_TEST

START_TEST(test_other_units_ignored)
{
    expect_ignore("items=0-1", 1000);
    expect_ignore("lines=0-10", 1000);
    expect_ignore("none", 1000);
    expect_ignore("bytesx=0-1", 1000);
    /* The unit is case-insensitive (RFC 9110 14.1). */
    expect_ok("BYTES=0-1", 1000, "0-1");
    expect_ok("Bytes=0-1", 1000, "0-1");
}
END_TEST

/* last < first makes the whole field invalid (RFC 9110 14.1.1), not just that spec. */
START_TEST(test_last_before_first)
{
    expect_ignore("bytes=5-4", 1000);
    expect_ignore("bytes=999-0", 1000);
    expect_ignore("bytes=0-1,5-4", 1000);
    expect_ignore("bytes=5-4,0-1", 1000);
    expect_ignore("bytes=2000-1500", 1000); /* even when it would be past the end */
}
END_TEST

START_TEST(test_overflow_not_ok)
{
    struct range rg[MAXR];
    int count;
    const char *v = "bytes=99999999999999999999999-";
    ck_assert(parse_exact(v, strlen(v), 1000, rg, 16, &count) != RANGE_OK);
    v = "bytes=0-99999999999999999999999";
    enum range_result r = parse_exact(v, strlen(v), 1000, rg, 16, &count);
    ck_assert_msg(r != RANGE_OK || (count == 1 && rg[0].first == 0 && rg[0].last == 999),
                  "\"%s\": %s", v, result_name(r));
}
END_TEST

START_TEST(test_too_many_after_merging)
{
    expect_ok_max("bytes=0-0,2-2", 1000, 2, "0-0,2-2");
    expect_result("bytes=0-0,2-2,4-4", 1000, 2, RANGE_IGNORE);
    /* Four specs that merge into one are one range. */
    expect_ok_max("bytes=0-0,1-1,2-2,3-3", 1000, 2, "0-3");
    expect_ok_max("bytes=0-0,2-2,1-1,4-4,3-3", 1000, 1, "0-4");
    expect_result("bytes=0-0,2-2", 1000, 1, RANGE_IGNORE);
    /* Unsatisfiable specs are dropped before the count. */
    expect_ok_max("bytes=0-0,5000-,6000-,7000-", 1000, 1, "0-0");
}
END_TEST

/* Up to 64 specs are read; beyond that the field is ignored even when they would merge. */
START_TEST(test_many_specs)
{
    char v[2048];
    size_t used = (size_t)snprintf(v, sizeof(v), "bytes=");
    for (int i = 0; i < 64; i++)
        used += (size_t)snprintf(v + used, sizeof(v) - used, "%s%d-%d", i ? "," : "", i, i);
    expect_ok_max(v, 1000, 16, "0-63");
    snprintf(v + used, sizeof(v) - used, ",64-64");
    expect_ignore(v, 1000);

    used = (size_t)snprintf(v, sizeof(v), "bytes=");
    for (int i = 0; i < 16; i++)
        used +=
            (size_t)snprintf(v + used, sizeof(v) - used, "%s%d-%d", i ? "," : "", 10 * i, 10 * i);
    struct range rg[MAXR];
    int count;
    ck_assert_int_eq(parse_exact(v, strlen(v), 1000, rg, 16, &count), RANGE_OK);
    ck_assert_int_eq(count, 16);
    for (int i = 0; i < 16; i++)
        ck_assert(rg[i].first == 10 * i && rg[i].last == 10 * i);
    ck_assert_int_eq(parse_exact(v, strlen(v), 1000, rg, 15, &count), RANGE_IGNORE);
}
END_TEST

START_TEST(test_whitespace_and_empty_elements)
{
    expect_ok("bytes=0-1, 5-6", 1000, "0-1,5-6");
    expect_ok("bytes=0-1 ,\t5-6 ", 1000, "0-1,5-6");
    expect_ok("bytes= 0-1", 1000, "0-1");
    expect_ok("bytes=0-1,,5-6", 1000, "0-1,5-6");
    expect_ok("bytes=,0-1", 1000, "0-1");
    expect_ok("bytes=0-1,", 1000, "0-1");
    expect_ok("bytes=, ,0-1, ,", 1000, "0-1");
}
END_TEST

START_TEST(test_empty_representation)
{
    expect_unsat("bytes=0-", 0);
    expect_unsat("bytes=0-0", 0);
    expect_unsat("bytes=-1", 0);
    expect_unsat("bytes=-0", 0);
    expect_ignore("bytes=abc", 0);
    expect_ignore("bytes=1-0", 0);
    expect_ok("bytes=0-", 1, "0-0");
    expect_ok("bytes=-5", 1, "0-0");
}
END_TEST

START_TEST(test_large_offsets)
{
    off_t five_g = (off_t)5 << 30;
    expect_ok("bytes=4294967296-", five_g, "4294967296-5368709119");
    expect_ok("bytes=-1", five_g, "5368709119-5368709119");
    expect_ok("bytes=4294967295-4294967296", five_g, "4294967295-4294967296");
    expect_unsat("bytes=5368709120-", five_g);
}
END_TEST

/* `n` bounds the value: bytes after it are not part of the field. */
START_TEST(test_length_bounds_value)
{
    struct range rg[MAXR];
    int count;
    const char *v = "bytes=0-19";
    ck_assert_int_eq(parse_exact(v, 9, 1000, rg, 16, &count), RANGE_OK);
    ck_assert_int_eq(count, 1);
    ck_assert(rg[0].first == 0 && rg[0].last == 1);
    ck_assert_int_eq(parse_exact(v, 8, 1000, rg, 16, &count), RANGE_OK); /* "bytes=0-" */
    ck_assert(count == 1 && rg[0].first == 0 && rg[0].last == 999);
    ck_assert_int_eq(parse_exact(v, 7, 1000, rg, 16, &count), RANGE_IGNORE);
    ck_assert_int_eq(parse_exact(v, 0, 1000, rg, 16, &count), RANGE_IGNORE);
}
END_TEST

Suite *
range_suite(void)
{
    Suite *s = suite_create("range");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_single);
    tcase_add_test(tc, test_open_ended);
    tcase_add_test(tc, test_suffix);
    tcase_add_test(tc, test_clamp_last);
    tcase_add_test(tc, test_merge_and_sort);
    tcase_add_test(tc, test_unsatisfiable);
    tcase_add_test(tc, test_syntax_errors_ignored);
    tcase_add_test(tc, test_other_units_ignored);
    tcase_add_test(tc, test_last_before_first);
    tcase_add_test(tc, test_overflow_not_ok);
    tcase_add_test(tc, test_too_many_after_merging);
    tcase_add_test(tc, test_many_specs);
    tcase_add_test(tc, test_whitespace_and_empty_elements);
    tcase_add_test(tc, test_empty_representation);
    tcase_add_test(tc, test_large_offsets);
    tcase_add_test(tc, test_length_bounds_value);
    suite_add_tcase(s, tc);
    return s;
}
