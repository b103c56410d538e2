/* common/utf8.c: which byte sequences are UTF-8 (RFC 3629). */
#include <check.h>
#include <string.h>

#include "common/utf8.h"

static size_t
len_of(const char *s, size_t n)
{
    return utf8_len((const unsigned char *)s, n);
}

START_TEST(test_valid)
{
    ck_assert_uint_eq(len_of("\xc3\xa9", 2), 2);         /* U+00E9 */
    ck_assert_uint_eq(len_of("\xc2\x80", 2), 2);         /* the first two-byte form */
    ck_assert_uint_eq(len_of("\xe2\x82\xac", 3), 3);     /* U+20AC */
    ck_assert_uint_eq(len_of("\xed\x9f\xbf", 3), 3);     /* U+D7FF, below the surrogates */
    ck_assert_uint_eq(len_of("\xef\xbf\xbf", 3), 3);     /* U+FFFF */
    ck_assert_uint_eq(len_of("\xf0\x90\x80\x80", 4), 4); /* U+10000 */
    ck_assert_uint_eq(len_of("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF, the last */
    ck_assert_uint_eq(len_of("\xc3\xa9zz", 4), 2);       /* only the sequence's own bytes */
}
END_TEST

START_TEST(test_invalid)
{
    ck_assert_uint_eq(len_of("\x80", 1), 0);             /* a continuation byte first */
    ck_assert_uint_eq(len_of("\xc0\xaf", 2), 0);         /* overlong '/' */
    ck_assert_uint_eq(len_of("\xc1\xbf", 2), 0);         /* overlong */
    ck_assert_uint_eq(len_of("\xe0\x9f\xbf", 3), 0);     /* overlong three-byte form */
    ck_assert_uint_eq(len_of("\xed\xa0\x80", 3), 0);     /* U+D800, a surrogate */
    ck_assert_uint_eq(len_of("\xf0\x8f\xbf\xbf", 4), 0); /* overlong four-byte form */
    ck_assert_uint_eq(len_of("\xf4\x90\x80\x80", 4), 0); /* past U+10FFFF */
    ck_assert_uint_eq(len_of("\xf5\x80\x80\x80", 4), 0);
    ck_assert_uint_eq(len_of("\xff", 1), 0);
    ck_assert_uint_eq(len_of("\xc3", 1), 0); /* cut short by the end */
    ck_assert_uint_eq(len_of("\xe2\x82", 2), 0);
    ck_assert_uint_eq(len_of("\xe2\x82z", 3), 0); /* not a continuation byte */
    ck_assert_uint_eq(len_of("\xc3\xc3", 2), 0);
}
END_TEST

Suite *
utf8_suite(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("utf8_len");
    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_invalid);
    suite_add_tcase(s, tc);
    return s;
}
