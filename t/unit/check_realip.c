/* Unit tests for worker/realip.c: the client a trusted peer names in X-Forwarded-For (or the
 * configured field): right-most untrusted address, all trusted, several field lines, blanks,
 * empty elements, malformed elements, other fields, case of the name. */
#include "worker/realip.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#define XFF "X-Forwarded-For"

static struct cidr trusted[3];
static int ntrusted;

static void
setup(void)
{
    const char *blocks[] = {"10.0.0.0/8", "127.0.0.1", "2001:db8::/32"};
    const char *why;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cidr_parse(blocks[i], &trusted[i], &why), 0);
    ntrusted = 3;
}

/* The fields: "Name: value" lines, NULL-ended. Returns the client's text, or "-" for none. */
static const char *
pick(const char *name, const char *const *lines)
{
    static char text[INET6_ADDRSTRLEN];
    struct http_header h[16];
    int nh = 0;
    for (; lines[nh]; nh++) {
        const char *colon = strchr(lines[nh], ':');
        ck_assert_ptr_nonnull(colon);
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        h[nh].name = (struct http_span){lines[nh], (size_t)(colon - lines[nh])};
        h[nh].value = (struct http_span){v, strlen(v)};
    }
    struct sockaddr_storage out;
    memset(&out, 0xaa, sizeof(out));
    if (!realip_pick(trusted, ntrusted, h, nh, name, &out))
        return "-";
    const void *a = out.ss_family == AF_INET
                        ? (const void *)&((struct sockaddr_in *)&out)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)&out)->sin6_addr;
    ck_assert(out.ss_family == AF_INET || out.ss_family == AF_INET6);
    ck_assert_ptr_nonnull(inet_ntop(out.ss_family, a, text, sizeof(text)));
    return text;
}

static void
expect(const char *want, const char *const *lines)
{
    ck_assert_str_eq(pick(XFF, lines), want);
}

#define LINES(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(rightmost_untrusted)
{
    expect("203.0.113.7", LINES("X-Forwarded-For: 203.0.113.7"));
    expect("203.0.113.7", LINES("X-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.0.0.2"));
    expect("203.0.113.7", LINES("X-Forwarded-For: 203.0.113.7, 10.0.0.2, 127.0.0.1"));
    /* A client may write anything on the left: only what trusted proxies appended counts. */
    expect("203.0.113.7", LINES("X-Forwarded-For: 1.1.1.1, 203.0.113.7"));
    expect("2001:db9::5", LINES("X-Forwarded-For: 2001:db9::5, 2001:db8::1"));
    expect("198.51.100.9", LINES("X-Forwarded-For: ::ffff:10.0.0.1, 198.51.100.9"));
}
END_TEST

START_TEST(all_trusted)
{
    expect("10.0.0.1", LINES("X-Forwarded-For: 10.0.0.1, 10.0.0.2, 127.0.0.1"));
    expect("127.0.0.1", LINES("X-Forwarded-For: 127.0.0.1"));
    /* An IPv4-mapped address is its IPv4 address: trusted here. */
    expect("::ffff:10.0.0.1", LINES("X-Forwarded-For: ::ffff:10.0.0.1"));
}
END_TEST

/* Several lines are one list, in order: the last line is the right-most part. */
START_TEST(several_lines)
{
    expect("203.0.113.7", LINES("X-Forwarded-For: 198.51.100.1", "Host: a",
                                "X-Forwarded-For: 203.0.113.7, 10.0.0.2", "Accept: */*",
                                "x-forwarded-for: 10.0.0.3"));
    expect("198.51.100.1",
           LINES("X-Forwarded-For: 198.51.100.1", "X-Forwarded-For: 10.0.0.2, 10.0.0.3"));
    expect("10.0.0.1", LINES("X-Forwarded-For: 10.0.0.1", "X-Forwarded-For: 10.0.0.2"));
}
END_TEST

START_TEST(blanks_and_empty_elements)
{
    expect("203.0.113.7", LINES("X-Forwarded-For: \t203.0.113.7 \t,\t 10.0.0.2\t "));
    expect("203.0.113.7", LINES("X-Forwarded-For: 203.0.113.7,,10.0.0.2,"));
    expect("203.0.113.7", LINES("X-Forwarded-For: , 203.0.113.7 , ,"));
    expect("-", LINES("X-Forwarded-For: "));
    expect("-", LINES("X-Forwarded-For: , ,"));
    expect("203.0.113.7", LINES("X-Forwarded-For: 203.0.113.7", "X-Forwarded-For: "));
}
END_TEST

/* A malformed element stops the walk: the last good address before it (a trusted one), or
 * none. */
START_TEST(malformed)
{
    expect("-", LINES("X-Forwarded-For: 203.0.113.7, unknown"));
    expect("-", LINES("X-Forwarded-For: 203.0.113.7:1234"));
    expect("-", LINES("X-Forwarded-For: [2001:db9::1]"));
    expect("10.0.0.2", LINES("X-Forwarded-For: 203.0.113.7, garbage, 10.0.0.2"));
    expect("10.0.0.2", LINES("X-Forwarded-For: 203.0.113.7 10.0.0.1, 10.0.0.2"));
    expect("10.0.0.2", LINES("X-Forwarded-For: 203.0.113.7", "X-Forwarded-For: _, 10.0.0.2"));
    expect("-", LINES("X-Forwarded-For: 1.2.3.4.5"));
    /* Past the untrusted address nothing is read, malformed or not. */
    expect("203.0.113.7", LINES("X-Forwarded-For: garbage, 203.0.113.7"));
    expect("203.0.113.7", LINES("X-Forwarded-For: garbage", "X-Forwarded-For: 203.0.113.7"));
}
END_TEST

START_TEST(other_fields)
{
    expect("-", LINES("Host: a"));
    expect("-", LINES("X-Forwarded-Fo: 203.0.113.7", "X-Forwarded-For-X: 203.0.113.8"));
    expect("203.0.113.7", LINES("x-FORWARDED-for: 203.0.113.7"));
    ck_assert_str_eq(pick("X-Real-IP", LINES("X-Forwarded-For: 203.0.113.7", "X-Real-IP: 1.2.3.4")),
                     "1.2.3.4");
    ck_assert_str_eq(pick("X-Real-IP", LINES("X-Forwarded-For: 203.0.113.7")), "-");
    /* No trusted block at all: the right-most address is the client. */
    ntrusted = 0;
    expect("10.0.0.2", LINES("X-Forwarded-For: 203.0.113.7, 10.0.0.2"));
    ntrusted = 3;
}
END_TEST

Suite *
realip_suite(void)
{
    Suite *s = suite_create("realip");
    TCase *tc = tcase_create("pick");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, rightmost_untrusted);
    tcase_add_test(tc, all_trusted);
    tcase_add_test(tc, several_lines);
    tcase_add_test(tc, blanks_and_empty_elements);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, other_fields);
    suite_add_tcase(s, tc);
    return s;
}
