/* Unit tests for common/cidr.c: parsing blocks (good, bad, bits past the prefix, /0, a bare
 * address), matching (IPv4, IPv6, IPv4-mapped IPv6, non-IP addresses), formatting, and
 * parsing a bare address as text. */
#include "common/cidr.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

static struct cidr
parse_ok(const char *s)
{
    struct cidr c;
    const char *why = NULL;
    ck_assert_msg(cidr_parse(s, &c, &why) == 0, "%s: refused: %s", s, why ? why : "?");
    return c;
}

static void
parse_bad(const char *s, const char *why_part)
{
    struct cidr c;
    const char *why = NULL;
    ck_assert_msg(cidr_parse(s, &c, &why) < 0, "%s: accepted", s);
    ck_assert_msg(why != NULL && strstr(why, why_part) != NULL, "%s: reason \"%s\", want \"%s\"", s,
                  why ? why : "(null)", why_part);
}

static struct sockaddr_storage
addr(const char *text)
{
    struct sockaddr_storage sa;
    ck_assert_msg(cidr_addr_parse(text, strlen(text), &sa) == 0, "%s: not an address", text);
    return sa;
}

static bool
in_set(const struct cidr *set, int n, const char *text)
{
    struct sockaddr_storage sa = addr(text);
    return cidr_match(set, n, (const struct sockaddr *)&sa);
}

static void
format_is(const char *in, const char *want)
{
    char buf[64];
    struct cidr c = parse_ok(in);
    cidr_format(&c, buf, sizeof(buf));
    ck_assert_str_eq(buf, want);
}

START_TEST(parse_good)
{
    struct cidr c = parse_ok("10.0.0.0/8");
    ck_assert_int_eq(c.family, AF_INET);
    ck_assert_int_eq(c.bits, 8);
    ck_assert_int_eq(c.addr[0], 10);
    c = parse_ok("2001:db8::/32");
    ck_assert_int_eq(c.family, AF_INET6);
    ck_assert_int_eq(c.bits, 32);
    c = parse_ok("192.168.1.128/25");
    ck_assert_int_eq(c.bits, 25);
    c = parse_ok("0.0.0.0/0");
    ck_assert_int_eq(c.bits, 0);
    c = parse_ok("::/0");
    ck_assert_int_eq(c.family, AF_INET6);
    ck_assert_int_eq(c.bits, 0);
    c = parse_ok("255.255.255.255/32");
    ck_assert_int_eq(c.bits, 32);
}
END_TEST

START_TEST(parse_bare_address)
{
    struct cidr c = parse_ok("127.0.0.1");
    ck_assert_int_eq(c.family, AF_INET);
    ck_assert_int_eq(c.bits, 32);
    c = parse_ok("::1");
    ck_assert_int_eq(c.family, AF_INET6);
    ck_assert_int_eq(c.bits, 128);
}
END_TEST

START_TEST(parse_bad_ones)
{
    parse_bad("", "expected an address");
    parse_bad("/8", "expected an address");
    parse_bad("10.0.0", "IPv4 or IPv6");
    parse_bad("example.com/8", "IPv4 or IPv6");
    parse_bad("10.0.0.0/", "/0 to /32");
    parse_bad("10.0.0.0/33", "/0 to /32");
    parse_bad("10.0.0.0/-1", "/0 to /32");
    parse_bad("10.0.0.0/8x", "/0 to /32");
    parse_bad("10.0.0.0/ 8", "/0 to /32");
    parse_bad("::/129", "/0 to /128");
    parse_bad("10.0.0.0/99999999999999999999999", "/0 to /32");
    parse_bad("123456789012345678901234567890123456789012345678901234567890/8",
              "expected an address");
}
END_TEST

START_TEST(parse_host_bits)
{
    parse_bad("10.1.0.0/8", "bits set past the prefix");
    parse_bad("192.168.1.1/24", "bits set past the prefix");
    parse_bad("192.168.1.129/25", "bits set past the prefix");
    parse_bad("2001:db8::1/64", "bits set past the prefix");
    parse_bad("1.0.0.0/0", "bits set past the prefix");
    parse_ok("192.168.1.128/25");
    parse_ok("2001:db8:8000::/33");
    parse_bad("2001:db8:8000::/32", "bits set past the prefix");
}
END_TEST

START_TEST(match_v4_v6)
{
    struct cidr set[3] = {parse_ok("10.0.0.0/8"), parse_ok("192.168.1.128/25"),
                          parse_ok("2001:db8::/32")};
    ck_assert(in_set(set, 3, "10.0.0.0"));
    ck_assert(in_set(set, 3, "10.255.255.255"));
    ck_assert(!in_set(set, 3, "11.0.0.0"));
    ck_assert(!in_set(set, 3, "9.255.255.255"));
    ck_assert(in_set(set, 3, "192.168.1.128"));
    ck_assert(in_set(set, 3, "192.168.1.255"));
    ck_assert(!in_set(set, 3, "192.168.1.127"));
    ck_assert(in_set(set, 3, "2001:db8::1"));
    ck_assert(in_set(set, 3, "2001:db8:ffff:ffff::"));
    ck_assert(!in_set(set, 3, "2001:db9::"));
    /* n limits the set: only the first block counts here. */
    ck_assert(!in_set(set, 1, "192.168.1.200"));
    ck_assert(!in_set(set, 0, "10.0.0.1"));
}
END_TEST

/* An IPv4-mapped IPv6 address (a dual-stack socket's IPv4 client) is its IPv4 address: it
 * matches IPv4 blocks and no IPv6 block (not even ::ffff:0:0/96). */
START_TEST(match_v4_mapped)
{
    struct cidr v4 = parse_ok("127.0.0.0/8");
    struct cidr v6 = parse_ok("::ffff:0:0/96");
    ck_assert(in_set(&v4, 1, "::ffff:127.0.0.1"));
    ck_assert(!in_set(&v4, 1, "::ffff:128.0.0.1"));
    ck_assert(!in_set(&v6, 1, "::ffff:127.0.0.1"));
    /* And an IPv4 address is never in an IPv6 block. */
    struct cidr all6 = parse_ok("::/0");
    ck_assert(!in_set(&all6, 1, "127.0.0.1"));
    ck_assert(in_set(&all6, 1, "::1"));
}
END_TEST

START_TEST(match_zero_prefix)
{
    struct cidr all4 = parse_ok("0.0.0.0/0");
    ck_assert(in_set(&all4, 1, "0.0.0.0"));
    ck_assert(in_set(&all4, 1, "255.255.255.255"));
    ck_assert(in_set(&all4, 1, "::ffff:1.2.3.4"));
    ck_assert(!in_set(&all4, 1, "::1"));
}
END_TEST

START_TEST(match_not_ip)
{
    struct cidr all4 = parse_ok("0.0.0.0/0");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    ck_assert(!cidr_match(&all4, 1, NULL));
    ck_assert(!cidr_match(&all4, 1, (const struct sockaddr *)&un));
}
END_TEST

START_TEST(format)
{
    format_is("10.0.0.0/8", "10.0.0.0/8");
    format_is("127.0.0.1", "127.0.0.1/32");
    format_is("2001:0db8:0000::/32", "2001:db8::/32");
    format_is("::1", "::1/128");
    format_is("0.0.0.0/0", "0.0.0.0/0");
}
END_TEST

START_TEST(addr_parse)
{
    struct sockaddr_storage sa;
    sa = addr("1.2.3.4");
    ck_assert_int_eq(sa.ss_family, AF_INET);
    ck_assert_int_eq(((struct sockaddr_in *)&sa)->sin_port, 0);
    sa = addr("fe80::1");
    ck_assert_int_eq(sa.ss_family, AF_INET6);
    /* Only the `len` bytes count. */
    ck_assert_int_eq(cidr_addr_parse("1.2.3.4xyz", 7, &sa), 0);
    ck_assert_int_eq(sa.ss_family, AF_INET);
    const char *bad[] = {"",        " 1.2.3.4", "1.2.3.4 ", "1.2.3.4:80", "[::1]",     "::1%lo",
                         "unknown", "1.2.3",    "01.2.3.4", "1.2.3.256",  "1.2.3.4/8", "::1::2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cidr_addr_parse(bad[i], strlen(bad[i]), &sa) < 0, "\"%s\" parsed", bad[i]);
    /* An embedded NUL is never an address, nor is text too long for one. */
    ck_assert_int_lt(cidr_addr_parse("1.2.3.4\0", 8, &sa), 0);
    char longer[80];
    memset(longer, '1', sizeof(longer));
    ck_assert_int_lt(cidr_addr_parse(longer, sizeof(longer), &sa), 0);
}
END_TEST

Suite *
cidr_suite(void)
{
    Suite *s = suite_create("cidr");
    TCase *tc = tcase_create("cidr");
    tcase_add_test(tc, parse_good);
    tcase_add_test(tc, parse_bare_address);
    tcase_add_test(tc, parse_bad_ones);
    tcase_add_test(tc, parse_host_bits);
    tcase_add_test(tc, match_v4_v6);
    tcase_add_test(tc, match_v4_mapped);
    tcase_add_test(tc, match_zero_prefix);
    tcase_add_test(tc, match_not_ip);
    tcase_add_test(tc, format);
    tcase_add_test(tc, addr_parse);
    suite_add_tcase(s, tc);
    return s;
}
