/* Unit tests for common/backoff.c: the crash back-off of a worker slot (doubling, cap, reset
 * after a long life, quick death from zero, overflow safety). */
#include "common/backoff.h"

#include <check.h>
#include <stdint.h>

START_TEST(quick_death_from_zero)
{
    struct backoff_step st = backoff_next(0, 0);
    ck_assert_int_eq(st.level_ms, BACKOFF_MIN_MS);
    ck_assert_int_eq(st.delay_ms, BACKOFF_MIN_MS);
    st = backoff_next(0, BACKOFF_QUICK_DEATH_MS - 1);
    ck_assert_int_eq(st.delay_ms, BACKOFF_MIN_MS);
}
END_TEST

START_TEST(doubling_up_to_the_cap)
{
    int64_t level = 0, want = BACKOFF_MIN_MS;
    for (int i = 0; i < 20; i++) {
        struct backoff_step st = backoff_next(level, 10);
        ck_assert_int_eq(st.level_ms, want);
        ck_assert_int_eq(st.delay_ms, want);
        level = st.level_ms;
        want = want * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : want * 2;
    }
    ck_assert_int_eq(level, BACKOFF_MAX_MS);
    /* 100, 200, ... 25600, then the cap rather than 51200 */
    ck_assert_int_eq(backoff_next(25600, 0).delay_ms, BACKOFF_MAX_MS);
    ck_assert_int_eq(backoff_next(BACKOFF_MAX_MS, 0).delay_ms, BACKOFF_MAX_MS);
}
END_TEST

START_TEST(slow_death_respawns_at_once_and_keeps_the_level)
{
    struct backoff_step st = backoff_next(400, BACKOFF_QUICK_DEATH_MS);
    ck_assert_int_eq(st.delay_ms, 0);
    ck_assert_int_eq(st.level_ms, 400);
    st = backoff_next(400, BACKOFF_RESET_MS - 1);
    ck_assert_int_eq(st.delay_ms, 0);
    ck_assert_int_eq(st.level_ms, 400);
    /* the next quick death goes on doubling from there */
    ck_assert_int_eq(backoff_next(st.level_ms, 0).delay_ms, 800);
}
END_TEST

START_TEST(reset_after_a_long_life)
{
    struct backoff_step st = backoff_next(BACKOFF_MAX_MS, BACKOFF_RESET_MS);
    ck_assert_int_eq(st.level_ms, 0);
    ck_assert_int_eq(st.delay_ms, 0);
    ck_assert_int_eq(backoff_next(st.level_ms, 0).delay_ms, BACKOFF_MIN_MS);
    ck_assert_int_eq(backoff_next(12345, INT64_MAX).level_ms, 0);
}
END_TEST

START_TEST(overflow_safety)
{
    static const int64_t levels[] = {
        INT64_MAX, INT64_MAX / 2 + 1, INT64_MAX / 2, BACKOFF_MAX_MS + 1, -1, INT64_MIN};
    static const int64_t lives[] = {INT64_MIN, -1, 0, BACKOFF_QUICK_DEATH_MS, INT64_MAX};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        for (size_t j = 0; j < sizeof(lives) / sizeof(lives[0]); j++) {
            struct backoff_step st = backoff_next(levels[i], lives[j]);
            ck_assert_int_ge(st.level_ms, 0);
            ck_assert_int_le(st.level_ms, BACKOFF_MAX_MS);
            ck_assert_int_ge(st.delay_ms, 0);
            ck_assert_int_le(st.delay_ms, BACKOFF_MAX_MS);
        }
    ck_assert_int_eq(backoff_next(INT64_MAX, 0).delay_ms, BACKOFF_MAX_MS);
    ck_assert_int_eq(backoff_next(-5, 0).delay_ms, BACKOFF_MIN_MS);
    /* a clock step backwards (negative life) is a quick death, not a reset */
    ck_assert_int_eq(backoff_next(200, -1000).delay_ms, 400);
}
END_TEST

Suite *
backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, quick_death_from_zero);
    tcase_add_test(tc, doubling_up_to_the_cap);
    tcase_add_test(tc, slow_death_respawns_at_once_and_keeps_the_level);
    tcase_add_test(tc, reset_after_a_long_life);
    tcase_add_test(tc, overflow_safety);
    suite_add_tcase(s, tc);
    return s;
}
