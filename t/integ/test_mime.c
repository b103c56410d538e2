/* Integration tests of content types: the built-in table, default_type, a mime_types file that
 * wins over the table, and charset on text types (or off). A real sluice, raw sockets. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

static void
expect_type(const struct srv *s, const char *target, const char *type)
{
    struct http_resp r;
    ck_assert_int_eq(http_fetch(s->port, "HEAD", target, NULL, &r), 200);
    const char *ct = http_header(&r, "Content-Type");
    ck_assert_msg(ct && strcmp(ct, type) == 0, "%s: Content-Type '%s', want '%s'", target,
                  ct ? ct : "(none)", type);
    http_resp_free(&r);
}

static void
type_tree(struct srv *s)
{
    static const char *const names[] = {"s.css", "i.png",  "j.js",         "d.json", "u.CSS",
                                        "x.xyz", "README", "t.sluicetest", "o.two",  "a.tar.gz"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        srv_write_file(s, names[i], "x", 1);
}

START_TEST(mime_builtin_and_default)
{
    struct srv s;
    srv_init(&s);
    type_tree(&s);
    srv_write_config(&s, NULL);
    srv_spawn(&s);
    expect_type(&s, "/s.css", "text/css; charset=utf-8");
    expect_type(&s, "/i.png", "image/png");
    expect_type(&s, "/j.js", "text/javascript; charset=utf-8");
    expect_type(&s, "/d.json", "application/json");
    expect_type(&s, "/u.CSS", "text/css; charset=utf-8");
    expect_type(&s, "/a.tar.gz", "application/gzip");
    expect_type(&s, "/x.xyz", "application/octet-stream");
    expect_type(&s, "/README", "application/octet-stream");
    expect_type(&s, "/t.sluicetest", "application/octet-stream");
    expect_type(&s, "/index.html", "text/html; charset=utf-8");
    srv_stop(&s);
}
END_TEST

START_TEST(mime_types_file_charset_off)
{
    struct srv s;
    char types[SRV_PATH_MAX], cfg[SRV_PATH_MAX + 128];
    const char *text = "# sluice test types\n"
                       "application/x-sluice-test\tsluicetest\n"
                       "text/x-custom-css css\n"
                       "image/x-two  one two   # trailing comment\n"
                       "\n"
                       "nonsense\n";
    srv_init(&s);
    type_tree(&s);
    write_file(srv_path(&s, "test.types", types, sizeof(types)), text, strlen(text));
    snprintf(cfg, sizeof(cfg), "mime_types = %s\ncharset = off\ndefault_type = text/plain\n",
             types);
    srv_write_config(&s, cfg);
    srv_spawn(&s);
    expect_type(&s, "/t.sluicetest", "application/x-sluice-test");
    expect_type(&s, "/s.css", "text/x-custom-css"); /* the file wins over the built-in table */
    expect_type(&s, "/o.two", "image/x-two");
    expect_type(&s, "/i.png", "image/png");      /* built-ins still apply */
    expect_type(&s, "/j.js", "text/javascript"); /* charset = off: no parameter */
    expect_type(&s, "/index.html", "text/html");
    expect_type(&s, "/x.xyz", "text/plain"); /* default_type */
    expect_type(&s, "/README", "text/plain");
    srv_stop(&s);
}
END_TEST

Suite *
integ_mime_suite(void)
{
    Suite *s = suite_create("integ_mime");
    TCase *tc = tcase_create("types");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, mime_builtin_and_default);
    tcase_add_test(tc, mime_types_file_charset_off);
    suite_add_tcase(s, tc);
    return s;
}
