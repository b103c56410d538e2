/* Unit tests for worker/httpdate.c: IMF-fixdate formatting and the three date formats a
 * recipient must accept (RFC 9110 5.6.7). Inputs are copied into exactly-sized heap buffers with
 * no NUL terminator, so a read past `n` shows up under ASan. */
#include "worker/httpdate.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOV_6_1994 ((time_t)784111777) /* Sun, 06 Nov 1994 08:49:37 GMT */

static int
parse_exact(const char *s, size_t n, time_t *out)
{
    char *copy = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, s, n);
    int rc = httpdate_parse(copy, n, out);
    free(copy);
    return rc;
}

static void
expect_time(const char *s, time_t want)
{
    time_t t = (time_t)-12345;
    int rc = parse_exact(s, strlen(s), &t);
    ck_assert_msg(rc == 0, "httpdate_parse(\"%s\") = %d, want 0", s, rc);
    ck_assert_msg(t == want, "httpdate_parse(\"%s\") -> %lld, want %lld", s, (long long)t,
                  (long long)want);
}

static void
expect_invalid(const char *s)
{
    time_t t = (time_t)-12345;
    int rc = parse_exact(s, strlen(s), &t);
    ck_assert_msg(rc == -1, "httpdate_parse(\"%s\") = %d (t=%lld), want -1", s, rc, (long long)t);
}

START_TEST(test_three_formats_agree)
{
    expect_time("Sun, 06 Nov 1994 08:49:37 GMT", NOV_6_1994);
    expect_time("Sunday, 06-Nov-94 08:49:37 GMT", NOV_6_1994);
    expect_time("Sun Nov  6 08:49:37 1994", NOV_6_1994);
    /* asctime with a two-digit day is still date3 = month SP 2DIGIT */
    expect_time("Wed Nov 16 08:49:37 1994", NOV_6_1994 + 10 * 86400);
    expect_time("Sun Nov 06 08:49:37 1994", NOV_6_1994);
}
END_TEST

START_TEST(test_known_dates)
{
    expect_time("Thu, 01 Jan 1970 00:00:00 GMT", 0);
    expect_time("Fri, 31 Dec 1999 23:59:59 GMT", 946684799);
    expect_time("Sat, 01 Jan 2000 00:00:00 GMT", 946684800);
    expect_time("Thu, 29 Feb 2024 12:00:00 GMT", 1709208000); /* leap day */
    expect_time("Tue, 19 Jan 2038 03:14:08 GMT", (time_t)INT32_MAX + 1);
    expect_time("Thu Jan  1 00:00:00 1970", 0);
    expect_time("Thu Feb 29 12:00:00 2024", 1709208000);
}
END_TEST

/* Two-digit years whose reading does not change before 2044 (see the fifty-year rule below). */
START_TEST(test_rfc850_two_digit_years)
{
    expect_time("Friday, 31-Dec-99 23:59:59 GMT", 946684799);
    expect_time("Saturday, 01-Jan-00 00:00:00 GMT", 946684800);
    expect_time("Thursday, 29-Feb-24 12:00:00 GMT", 1709208000);
    expect_time("Monday, 14-Jan-30 00:00:00 GMT", 1894579200); /* 2030 */
}
END_TEST

/* RFC 9110 5.6.7: a two-digit year that appears more than 50 years in the future is the most
 * recent past year with those digits; one at most 50 years ahead stays in the future. */
START_TEST(test_rfc850_fifty_year_rule)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int year = tm.tm_year + 1900;
    const int ahead[] = {1, 10, 30, 45, 49};
    for (size_t i = 0; i < sizeof(ahead) / sizeof(ahead[0]); i++) {
        for (int sign = 1; sign >= -1; sign -= 2) {
            /* +k years: stays in the future; +(100 - k) years appears 100-k > 50 ahead, i.e.
             * k years in the past. */
            int want_year = sign > 0 ? year + ahead[i] : year - ahead[i];
            struct tm want = {.tm_year = want_year - 1900, .tm_mon = 0, .tm_mday = 2};
            time_t want_t = timegm(&want);
            static const char *const wd[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                             "Thursday", "Friday", "Saturday"};
            char s[64];
            snprintf(s, sizeof(s), "%s, 02-Jan-%02d 00:00:00 GMT", wd[want.tm_wday],
                     want_year % 100);
            time_t t = 0;
            ck_assert_msg(parse_exact(s, strlen(s), &t) == 0, "\"%s\" rejected", s);
            struct tm got;
            gmtime_r(&t, &got);
            ck_assert_msg(t == want_t, "\"%s\" in %d -> year %d, want %d", s, year,
                          got.tm_year + 1900, want_year);
        }
    }
}
END_TEST

START_TEST(test_bad_month)
{
    expect_invalid("Sun, 06 Nox 1994 08:49:37 GMT");
    expect_invalid("Sunday, 06-Foo-94 08:49:37 GMT");
    expect_invalid("Sun Nox  6 08:49:37 1994");
    expect_invalid("Sun, 06 November 1994 08:49:37 GMT");
    expect_invalid("Sun, 06 11 1994 08:49:37 GMT");
}
END_TEST

START_TEST(test_bad_day)
{
    expect_invalid("Thu, 32 Dec 1994 08:49:37 GMT");
    expect_invalid("Thu, 00 Dec 1994 08:49:37 GMT");
    expect_invalid("Wed, 31 Nov 1994 08:49:37 GMT"); /* November has 30 */
    expect_invalid("Thu, 30 Feb 1994 08:49:37 GMT");
    expect_invalid("Thursday, 32-Dec-94 08:49:37 GMT");
    expect_invalid("Thursday, 30-Feb-94 08:49:37 GMT");
    expect_invalid("Thu Dec 32 08:49:37 1994");
    expect_invalid("Thu Feb 30 08:49:37 1994");
    expect_invalid("Thu Feb  0 08:49:37 1994");
    expect_invalid("Sun, 6 Nov 1994 08:49:37 GMT"); /* IMF day is 2DIGIT */
    expect_invalid("Sun Nov 6 08:49:37 1994");      /* asctime: SP DIGIT or 2DIGIT */
}
END_TEST

/* 29 February exists only in leap years: timegm would quietly turn it into 1 March. */
START_TEST(test_feb_29_non_leap_year)
{
    expect_invalid("Wed, 29 Feb 1995 00:00:00 GMT");
    expect_invalid("Thu, 29 Feb 2100 00:00:00 GMT"); /* divisible by 100, not by 400 */
    expect_time("Tue, 29 Feb 2000 00:00:00 GMT", 951782400);
}
END_TEST

START_TEST(test_bad_time)
{
    expect_invalid("Sun, 06 Nov 1994 24:00:00 GMT");
    expect_invalid("Sun, 06 Nov 1994 08:60:37 GMT");
    expect_invalid("Sun, 06 Nov 1994 08:49:61 GMT");
    expect_invalid("Sun, 06 Nov 1994 8:49:37 GMT");
    expect_invalid("Sun, 06 Nov 1994 08.49.37 GMT");
    expect_invalid("Sunday, 06-Nov-94 24:49:37 GMT");
    expect_invalid("Sun Nov  6 24:49:37 1994");
}
END_TEST

START_TEST(test_zone_and_junk)
{
    expect_invalid("Sun, 06 Nov 1994 08:49:37");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 UTC");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 +0000");
    expect_invalid("Sunday, 06-Nov-94 08:49:37");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 GMTx");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 GMT ");
    expect_invalid(" Sun, 06 Nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 GMT; length=123");
    expect_invalid("Sunday, 06-Nov-94 08:49:37 GMT!");
    expect_invalid("Sun Nov  6 08:49:37 1994 GMT");
    expect_invalid("Sun Nov  6 08:49:37 19945");
    expect_invalid("Sun,  06 Nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06  Nov 1994 08:49:37 GMT");
}
END_TEST

START_TEST(test_wrong_forms)
{
    expect_invalid("");
    expect_invalid("GMT");
    expect_invalid("784111777");
    expect_invalid("1994-11-06T08:49:37Z");
    expect_invalid("Sunday, 06 Nov 1994 08:49:37 GMT"); /* long day name in IMF */
    expect_invalid("Sun, 06-Nov-94 08:49:37 GMT");      /* short day name in RFC 850 */
    expect_invalid("Sunday, 06-Nov-1994 08:49:37 GMT"); /* four-digit year in RFC 850 */
    expect_invalid("Sun, 06 Nov 94 08:49:37 GMT");      /* two-digit year in IMF */
    expect_invalid("Sun Nov  6 08:49:37 94");           /* two-digit year in asctime */
}
END_TEST

START_TEST(test_lowercase_names)
{
    expect_invalid("sun, 06 Nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06 nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 gmt");
    expect_invalid("SUN, 06 NOV 1994 08:49:37 GMT");
    expect_invalid("sunday, 06-Nov-94 08:49:37 GMT");
    expect_invalid("Sunday, 06-nov-94 08:49:37 GMT");
    expect_invalid("sun Nov  6 08:49:37 1994");
    expect_invalid("Sun nov  6 08:49:37 1994");
}
END_TEST

/* Every proper prefix of a valid date is invalid, and the parser reads no byte past `n`. */
START_TEST(test_truncated)
{
    static const char *const valid[] = {
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Wed Nov 16 08:49:37 1994",
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        size_t len = strlen(valid[i]);
        for (size_t n = 0; n < len; n++) {
            time_t t;
            ck_assert_msg(parse_exact(valid[i], n, &t) == -1, "prefix %zu of \"%s\" accepted", n,
                          valid[i]);
        }
        time_t t;
        ck_assert_int_eq(parse_exact(valid[i], len, &t), 0);
    }
}
END_TEST

/* `n` bounds the input: bytes after it do not matter. */
START_TEST(test_length_bounds_input)
{
    const char *s = "Sun, 06 Nov 1994 08:49:37 GMTjunk";
    time_t t = 0;
    ck_assert_int_eq(httpdate_parse(s, HTTPDATE_LEN, &t), 0);
    ck_assert_int_eq(t, NOV_6_1994);
    ck_assert_int_eq(httpdate_parse(s, strlen(s), &t), -1);
}
END_TEST

START_TEST(test_format)
{
    char buf[HTTPDATE_LEN + 1];
    memset(buf, 'X', sizeof(buf));
    httpdate_format(NOV_6_1994, buf);
    ck_assert_str_eq(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    httpdate_format(0, buf);
    ck_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
    httpdate_format(951782400, buf);
    ck_assert_str_eq(buf, "Tue, 29 Feb 2000 00:00:00 GMT");
    ck_assert_uint_eq(strlen(buf), HTTPDATE_LEN);
}
END_TEST

START_TEST(test_round_trip)
{
    /* ..., 2038 (past 32 bits), 2100-01-01, 9999-12-31 23:59:59 */
    const time_t samples[] = {0,          1,          59,         NOV_6_1994,
                              946684799,  946684800,  951782400,  1709208000,
                              2147483647, 2147483648, 4102444800, 253402300799};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char buf[HTTPDATE_LEN + 1];
        httpdate_format(samples[i], buf);
        ck_assert_msg(strlen(buf) == HTTPDATE_LEN, "format(%lld) = \"%s\"", (long long)samples[i],
                      buf);
        time_t t = -1;
        ck_assert_msg(parse_exact(buf, strlen(buf), &t) == 0, "\"%s\" does not parse back", buf);
        ck_assert_msg(t == samples[i], "\"%s\" -> %lld, want %lld", buf, (long long)t,
                      (long long)samples[i]);
    }
    /* Times 25669 s (7 h 7 min 49 s) apart, so every field varies, across three years. */
    for (time_t t0 = 1600000000; t0 < 1600000000 + 3 * 366 * 86400; t0 += 3667 * 7) {
        char buf[HTTPDATE_LEN + 1];
        httpdate_format(t0, buf);
        time_t t = -1;
        ck_assert_msg(parse_exact(buf, strlen(buf), &t) == 0 && t == t0,
                      "\"%s\" -> %lld, want %lld", buf, (long long)t, (long long)t0);
    }
}
END_TEST

Suite *
httpdate_suite(void)
{
    Suite *s = suite_create("httpdate");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_three_formats_agree);
    tcase_add_test(tc, test_known_dates);
    tcase_add_test(tc, test_rfc850_two_digit_years);
    tcase_add_test(tc, test_rfc850_fifty_year_rule);
    tcase_add_test(tc, test_bad_month);
    tcase_add_test(tc, test_bad_day);
    tcase_add_test(tc, test_feb_29_non_leap_year);
    tcase_add_test(tc, test_bad_time);
    tcase_add_test(tc, test_zone_and_junk);
    tcase_add_test(tc, test_wrong_forms);
    tcase_add_test(tc, test_lowercase_names);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_length_bounds_input);
    suite_add_tcase(s, tc);
    TCase *fmt = tcase_create("format");
    tcase_add_test(fmt, test_format);
    tcase_add_test(fmt, test_round_trip);
    suite_add_tcase(s, fmt);
    return s;
}
