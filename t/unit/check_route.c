/* Unit tests for worker/route.c: exact paths, longest-prefix matching on normalised paths, and
 * the table's bound. */
#include "worker/route.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct handler h_root = {.name = "root"}, h_api = {.name = "api"},
                            h_v2 = {.name = "v2"}, h_x = {.name = "x"};

/* route_match on an exactly-sized, unterminated copy of `path` less its leading '/' (the form
 * path_normalize gives). */
static const struct handler *
match(const char *path)
{
    ck_assert(path[0] == '/');
    size_t n = strlen(path) - 1;
    char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, path + 1, n);
    const struct route *r = route_match(p, n);
    free(p);
    return r ? r->h : NULL;
}

static void
setup(void)
{
    route_clear();
}

START_TEST(test_longest_prefix)
{
    /* Added shortest last, so the answer cannot come from the order of the table. */
    ck_assert_int_eq(route_add("/api/v2/", &h_v2, NULL, false), 0);
    ck_assert_int_eq(route_add("/api/", &h_api, NULL, false), 0);
    ck_assert_int_eq(route_add("/", &h_root, NULL, false), 0);

    ck_assert_ptr_eq(match("/"), &h_root);
    ck_assert_ptr_eq(match("/index.html"), &h_root);
    ck_assert_ptr_eq(match("/api"), &h_root);
    ck_assert_ptr_eq(match("/api/"), &h_api);
    ck_assert_ptr_eq(match("/api/users"), &h_api);
    ck_assert_ptr_eq(match("/api/v2"), &h_api);
    ck_assert_ptr_eq(match("/api/v2/"), &h_v2);
    ck_assert_ptr_eq(match("/api/v2/items/7"), &h_v2);
    ck_assert_ptr_eq(route_match("api/v2/x", 4)->h, &h_api); /* only `len` bytes count */
}
END_TEST

START_TEST(test_no_match)
{
    ck_assert_ptr_null(match("/"));
    ck_assert_ptr_eq(match("/"), NULL);
    ck_assert_int_eq(route_add("/app/", &h_x, NULL, false), 0);
    ck_assert_ptr_null(match("/"));
    ck_assert_ptr_null(match("/ap"));
    ck_assert_ptr_null(match("/other/app/"));
    ck_assert_ptr_null(match("/APP/"));
    ck_assert_ptr_eq(match("/app/"), &h_x);
}
END_TEST

START_TEST(test_table_full)
{
    static char prefixes[ROUTE_MAX + 1][16];
    for (int i = 0; i < ROUTE_MAX; i++) {
        snprintf(prefixes[i], sizeof(prefixes[i]), "/p%d/", i);
        ck_assert_int_eq(route_add(prefixes[i], &h_x, NULL, false), 0);
    }
    snprintf(prefixes[ROUTE_MAX], sizeof(prefixes[ROUTE_MAX]), "/full/");
    ck_assert_int_eq(route_add(prefixes[ROUTE_MAX], &h_api, NULL, false), -1);
    ck_assert_int_eq(route_add("/", &h_root, NULL, false), -1);
    ck_assert_ptr_null(match("/full/x"));
    ck_assert_ptr_eq(match("/p0/a"), &h_x);
    ck_assert_ptr_eq(match("/p31/a"), &h_x);
}
END_TEST

/* Exact paths win over any prefix, whatever the order; they match only themselves. */
START_TEST(test_exact_first)
{
    static int data;
    ck_assert_int_eq(route_add("/", &h_root, NULL, false), 0);
    ck_assert_int_eq(route_add("/status/", &h_api, NULL, false), 0);
    ck_assert_int_eq(route_add("/status", &h_x, &data, true), 0);
    ck_assert_ptr_eq(match("/status"), &h_x);
    ck_assert_ptr_eq(route_match("status", 6)->data, &data);
    ck_assert_ptr_eq(match("/status/"), &h_api);
    ck_assert_ptr_eq(match("/statusx"), &h_root);
    ck_assert_ptr_eq(match("/status/x"), &h_api);
    /* A prefix without a leading '/' is refused. */
    ck_assert_int_eq(route_add("api/", &h_api, NULL, false), -1);
}
END_TEST

/* Indexes (one byte in each connection) map back to routes. */
START_TEST(test_index)
{
    ck_assert_int_eq(route_add("/", &h_root, NULL, false), 0);
    ck_assert_int_eq(route_add("/a/", &h_api, NULL, false), 0);
    const struct route *r = route_match("a/b", 3);
    ck_assert_uint_eq(route_index(r), 1);
    ck_assert_ptr_eq(route_at(1), r);
    ck_assert_uint_eq(route_index(NULL), ROUTE_NONE);
    ck_assert_ptr_null(route_at(ROUTE_NONE));
    ck_assert_ptr_null(route_at(2));
}
END_TEST

START_TEST(test_clear)
{
    ck_assert_int_eq(route_add("/", &h_root, NULL, false), 0);
    ck_assert_ptr_eq(match("/a"), &h_root);
    route_clear();
    ck_assert_ptr_null(match("/a"));
    /* The whole table is free again. */
    for (int i = 0; i < ROUTE_MAX; i++)
        ck_assert_int_eq(route_add("/", &h_api, NULL, false), 0);
    ck_assert_int_eq(route_add("/", &h_api, NULL, false), -1);
    ck_assert_ptr_eq(match("/a"), &h_api);
    route_clear();
    ck_assert_int_eq(route_add("/", &h_root, NULL, false), 0);
    ck_assert_ptr_eq(match("/a"), &h_root);
}
END_TEST

Suite *
route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_longest_prefix);
    tcase_add_test(tc, test_no_match);
    tcase_add_test(tc, test_table_full);
    tcase_add_test(tc, test_clear);
    tcase_add_test(tc, test_exact_first);
    tcase_add_test(tc, test_index);
    suite_add_tcase(s, tc);
    return s;
}
