/* Unit tests for worker/path.c: percent-decoding and normalisation of request-target paths.
 * Every case passes an explicit length; inputs are copied into exactly-sized heap buffers with
 * no NUL terminator, so a read past `len` shows up under ASan/valgrind. */
#include "worker/path.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy `len` bytes of `in` into a fresh buffer of exactly `len` bytes (no NUL) and normalise it
 * into `out`. */
static int
normalize_exact(const char *in, size_t len, char *out, size_t outlen)
{
    char *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, in, len);
    int n = path_normalize(copy, len, out, outlen);
    free(copy);
    return n;
}

/* `in` must normalise to `want`, returning its length and NUL-terminating it. */
static void
expect_ok(const char *in, const char *want)
{
    char out[4096];
    memset(out, 'X', sizeof(out));
    int n = normalize_exact(in, strlen(in), out, sizeof(out));
    ck_assert_msg(n >= 0, "path_normalize(\"%s\") returned %d, expected \"%s\"", in, n, want);
    ck_assert_msg(memchr(out, '\0', sizeof(out)) != NULL, "path_normalize(\"%s\"): no NUL", in);
    ck_assert_msg(strcmp(out, want) == 0, "path_normalize(\"%s\") = \"%s\", expected \"%s\"", in,
                  out, want);
    ck_assert_msg((size_t)n == strlen(want), "path_normalize(\"%s\") returned %d, expected %zu", in,
                  n, strlen(want));
}

static void
expect_fail_len(const char *in, size_t len, const char *label)
{
    char out[4096];
    int n = normalize_exact(in, len, out, sizeof(out));
    ck_assert_msg(n == -1, "path_normalize(%s) returned %d (\"%.*s\"), expected -1", label, n,
                  n > 0 ? n : 0, out);
}

static void
expect_fail(const char *in)
{
    char label[300];
    snprintf(label, sizeof(label), "\"%s\"", in);
    expect_fail_len(in, strlen(in), label);
}

START_TEST(test_root)
{
    expect_ok("/", "");
    expect_ok("//", "");
    expect_ok("/.", "");
    expect_ok("/./", "");
    expect_ok("///././/", "");
}
END_TEST

START_TEST(test_plain)
{
    expect_ok("/a", "a");
    expect_ok("/a/b", "a/b");
    expect_ok("/index.html", "index.html");
    expect_ok("/a/b/c.txt", "a/b/c.txt");
}
END_TEST

START_TEST(test_trailing_slash)
{
    /* A trailing '/', "/." or "/.." names a directory explicitly and keeps a trailing '/'. */
    expect_ok("/a/", "a/");
    expect_ok("/a/b/", "a/b/");
    expect_ok("/a/.", "a/");
    expect_ok("/a/b/..", "a/");
    expect_ok("/a//b/./../c/", "a/c/"); /* the example in path.h */
}
END_TEST

START_TEST(test_empty_segments)
{
    expect_ok("//a///b", "a/b");
    expect_ok("/a//", "a/");
}
END_TEST

START_TEST(test_dot_segments)
{
    expect_ok("/a/./b", "a/b");
    expect_ok("/./a", "a");
    expect_ok("/a/b/../c", "a/c");
    expect_ok("/a/b/../../c", "c");
    /* Back to the root: "" (the root has no trailing-slash form). */
    expect_ok("/a/..", "");
    expect_ok("/a/../", "");
    expect_ok("/a/b/../..", "");
}
END_TEST

START_TEST(test_dot_like_names)
{
    /* Only segments that are exactly "." or ".." are special. */
    expect_ok("/...", "...");
    expect_ok("/.../a", ".../a");
    expect_ok("/..a", "..a");
    expect_ok("/a..", "a..");
    expect_ok("/.a/.b", ".a/.b");
    expect_ok("/a/.hidden", "a/.hidden");
}
END_TEST

START_TEST(test_climb_above_root)
{
    expect_fail("/..");
    expect_fail("/../");
    expect_fail("/../a");
    expect_fail("/a/../..");
    expect_fail("/a/../../b");
    expect_fail("/./../a");
    expect_fail("//..//a");
}
END_TEST

START_TEST(test_decoded_dots)
{
    /* Decoding happens before normalisation, so encoded dots are dots. */
    expect_fail("/%2e%2e/x");
    expect_fail("/%2E%2E/x");
    expect_fail("/.%2e");
    expect_fail("/%2e.");
    expect_ok("/a/%2e%2e", "");
    expect_ok("/a/%2e", "a/");
    expect_ok("/a/%2e/b", "a/b");
}
END_TEST

START_TEST(test_decoded_slash)
{
    /* Expectation (from "decode, then normalise"): a decoded %2f is an ordinary path separator,
     * not a byte inside a segment name. The kernel resolves the result again under
     * RESOLVE_BENEATH, so this cannot be used to escape the root; the ".." checks below show
     * that an encoded slash cannot hide a climb either. */
    expect_ok("/a%2fb", "a/b");
    expect_ok("/a%2Fb", "a/b");
    expect_ok("/a%2f%2fb", "a/b");
    expect_ok("/a%2f", "a/");
    expect_fail("/a%2f..%2f..%2fb");
    expect_fail("/%2f..");
}
END_TEST

START_TEST(test_decode)
{
    expect_ok("/a%20b", "a b");
    expect_ok("/%41", "A");
    expect_ok("/%4a", "J"); /* lower-case hex */
    expect_ok("/%4A", "J"); /* upper-case hex */
    expect_ok("/%4a%4A%6b", "JJk");
    expect_ok("/100%25", "100%");
    /* Decoded once only: "%252e" is the three bytes "%2e", a plain name. */
    expect_ok("/%252e%252e", "%2e%2e");
    expect_ok("/%c3%a9", "\xc3\xa9");
    expect_ok("/%ff", "\xff");
}
END_TEST

START_TEST(test_bad_escapes)
{
    expect_fail("/%");
    expect_fail("/%4");
    expect_fail("/%zz");
    expect_fail("/%g0");
    expect_fail("/%0g");
    expect_fail("/a%");
    expect_fail("/a%2");
    expect_fail("/a%%41");
    expect_fail("/%-1");
    expect_fail("/% 1");
}
END_TEST

START_TEST(test_escape_cut_by_len)
{
    /* The escape is complete in memory but not within `len`. */
    expect_fail_len("/a%41", 4, "\"/a%4\" (len 4 of \"/a%41\")");
    expect_fail_len("/a%41", 3, "\"/a%\" (len 3 of \"/a%41\")");
}
END_TEST

START_TEST(test_nul)
{
    expect_fail("/a%00b");
    expect_fail("/%00");
    expect_fail_len("/a\0b", 4, "\"/a\\0b\" (raw NUL, len 4)");
    expect_fail_len("/\0", 2, "\"/\\0\" (raw NUL, len 2)");
}
END_TEST

START_TEST(test_must_start_with_slash)
{
    expect_fail("a/b");
    expect_fail("a");
    expect_fail(".");
    expect_fail("%2fa"); /* the leading '/' must be literal */
    expect_fail_len("", 0, "\"\" (len 0)");
    expect_fail_len("/a", 0, "\"/a\" with len 0");
}
END_TEST

START_TEST(test_not_nul_terminated)
{
    /* `len` bounds the input: the bytes after it are not part of the path. */
    char out[64];
    const char buf[] = "/a/bXXXX/../..";
    int n = path_normalize(buf, 4, out, sizeof(out));
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(out, "a/b");

    /* A stack array with no NUL anywhere. */
    char raw[4] = {'/', 'a', '/', 'b'};
    n = path_normalize(raw, sizeof(raw), out, sizeof(out));
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(out, "a/b");

    ck_assert_int_eq(normalize_exact("/x/y/", 5, out, sizeof(out)), 4);
    ck_assert_str_eq(out, "x/y/");
}
END_TEST

START_TEST(test_output_size)
{
    char out[16];

    /* "abc" needs 4 bytes with its NUL. */
    memset(out, 'X', sizeof(out));
    ck_assert_int_eq(normalize_exact("/abc", 4, out, 4), 3);
    ck_assert_str_eq(out, "abc");
    ck_assert_int_eq(normalize_exact("/abc", 4, out, 3), -1);
    ck_assert_int_eq(normalize_exact("/abc", 4, out, 1), -1);
    ck_assert_int_eq(normalize_exact("/abc", 4, out, 0), -1);

    /* With a trailing slash: "abc/" needs 5. */
    ck_assert_int_eq(normalize_exact("/abc/", 5, out, 5), 4);
    ck_assert_str_eq(out, "abc/");
    ck_assert_int_eq(normalize_exact("/abc/", 5, out, 4), -1);

    /* The root needs just the NUL. */
    ck_assert_int_eq(normalize_exact("/", 1, out, 1), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(normalize_exact("/", 1, out, 0), -1);

    /* Decoding shrinks the input: "/%41%42" (7 bytes) is "AB", which fits in 3. */
    ck_assert_int_eq(normalize_exact("/%41%42", 7, out, 3), 2);
    ck_assert_str_eq(out, "AB");
}
END_TEST

START_TEST(test_output_size_result_not_intermediate)
{
    /* path.h: -1 when the path does not fit before or after its ".." segments are applied:
     * the output buffer is the working space, so an intermediate form must fit too. */
    char out[16];
    ck_assert_int_eq(normalize_exact("/aaaaaaaa/..", 12, out, 1), -1);
    ck_assert_int_eq(normalize_exact("/aaaaaaaa/../b", 14, out, 2), -1);
    ck_assert_int_eq(normalize_exact("/aaaaaaaa/../b", 14, out, 10), 1);
    ck_assert_str_eq(out, "b");
}
END_TEST

/* A segment is a file name: at most NAME_MAX (255) bytes once decoded. */
START_TEST(test_segment_length)
{
    char in[1024], out[1024];
    in[0] = '/';
    memset(in + 1, 'a', 255);
    ck_assert_int_eq(path_normalize(in, 256, out, sizeof(out)), 255);
    memset(in + 1, 'a', 256);
    ck_assert_int_eq(path_normalize(in, 257, out, sizeof(out)), -1);
    for (int i = 0; i < 256; i++)
        memcpy(in + 1 + 3 * i, "%61", 3);
    ck_assert_int_eq(path_normalize(in, 1 + 3 * 256, out, sizeof(out)), -1);
    ck_assert_int_eq(path_normalize(in, 1 + 3 * 255, out, sizeof(out)), 255);
}
END_TEST

START_TEST(test_long_path)
{
    /* 500 segments, every other one undone by "..", plus noise ("." and empty segments). */
    enum { NSEG = 500 };
    static char in[NSEG * 32];
    static char want[NSEG * 16];
    size_t ilen = 0, wlen = 0;
    for (int i = 0; i < NSEG; i++) {
        ilen += (size_t)snprintf(in + ilen, sizeof(in) - ilen, "/s%03d", i);
        if (i % 2) {
            ilen += (size_t)snprintf(in + ilen, sizeof(in) - ilen, "/..");
        } else {
            ilen += (size_t)snprintf(in + ilen, sizeof(in) - ilen, "/.//");
            wlen +=
                (size_t)snprintf(want + wlen, sizeof(want) - wlen, "%ss%03d", wlen ? "/" : "", i);
        }
    }
    ilen += (size_t)snprintf(in + ilen, sizeof(in) - ilen, "/end.txt");
    wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen, "/end.txt");

    static char out[NSEG * 16];
    int n = normalize_exact(in, ilen, out, sizeof(out));
    ck_assert_int_eq(n, (int)wlen);
    ck_assert_str_eq(out, want);

    /* Exactly fitting, and one byte short. */
    ck_assert_int_eq(normalize_exact(in, ilen, out, wlen + 1), (int)wlen);
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(normalize_exact(in, ilen, out, wlen), -1);

    /* Deep climb: 300 segments down, 300 up is the root, 301 up is an error. */
    static char deep[300 * 8];
    size_t dlen = 0;
    for (int i = 0; i < 300; i++)
        dlen += (size_t)snprintf(deep + dlen, sizeof(deep) - dlen, "/d");
    for (int i = 0; i < 300; i++)
        dlen += (size_t)snprintf(deep + dlen, sizeof(deep) - dlen, "/..");
    ck_assert_int_eq(normalize_exact(deep, dlen, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
    dlen += (size_t)snprintf(deep + dlen, sizeof(deep) - dlen, "/..");
    ck_assert_int_eq(normalize_exact(deep, dlen, out, sizeof(out)), -1);
}
END_TEST

/* path_encode: what a Location or a link may carry back. Every byte outside unreserved,
 * sub-delims, ':', '@' and '/' is escaped, '%' and '\\' included, so the result decodes to the
 * same path and can never start a scheme-relative or backslash URL. */
START_TEST(test_encode)
{
    char out[64];
    ck_assert_int_eq(path_encode("sub", out, sizeof(out)), 3);
    ck_assert_str_eq(out, "sub");
    ck_assert_int_eq(path_encode("a b/%\\x?#", out, sizeof(out)), 19);
    ck_assert_str_eq(out, "a%20b/%25%5Cx%3F%23");
    ck_assert_int_eq(path_encode("\xff\x01~-._!$&'()*+,;=:@", out, sizeof(out)), 23);
    ck_assert_str_eq(out, "%FF%01~-._!$&'()*+,;=:@");
    ck_assert_int_eq(path_encode("", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");

    /* Round trip through path_normalize: encoding a normalised path gives it back. */
    char back[64], in[80];
    static const char *const names[] = {"a b/c", "%41", "x\\y/z", "\xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        ck_assert_int_ge(path_encode(names[i], out, sizeof(out)), 0);
        snprintf(in, sizeof(in), "/%s", out);
        ck_assert_int_ge(path_normalize(in, strlen(in), back, sizeof(back)), 0);
        ck_assert_str_eq(back, names[i]);
    }
}
END_TEST

/* The output bound: 3 bytes per input byte plus the NUL fits, one byte less does not. */
START_TEST(test_encode_bound)
{
    char out[10];
    ck_assert_int_eq(path_encode("%%%", out, 10), 9);
    ck_assert_int_eq(path_encode("%%%", out, 9), -1);
    ck_assert_int_eq(path_encode("abc", out, 3), -1);
    ck_assert_int_eq(path_encode("abc", out, 4), 3);
    ck_assert_int_eq(path_encode("", out, 0), -1);
}
END_TEST

Suite *
path_suite(void)
{
    Suite *s = suite_create("path");
    TCase *tc = tcase_create("normalize");
    tcase_add_test(tc, test_root);
    tcase_add_test(tc, test_plain);
    tcase_add_test(tc, test_trailing_slash);
    tcase_add_test(tc, test_empty_segments);
    tcase_add_test(tc, test_dot_segments);
    tcase_add_test(tc, test_dot_like_names);
    tcase_add_test(tc, test_climb_above_root);
    tcase_add_test(tc, test_decoded_dots);
    tcase_add_test(tc, test_decoded_slash);
    tcase_add_test(tc, test_decode);
    tcase_add_test(tc, test_bad_escapes);
    tcase_add_test(tc, test_escape_cut_by_len);
    tcase_add_test(tc, test_nul);
    tcase_add_test(tc, test_must_start_with_slash);
    tcase_add_test(tc, test_not_nul_terminated);
    tcase_add_test(tc, test_output_size);
    tcase_add_test(tc, test_output_size_result_not_intermediate);
    tcase_add_test(tc, test_long_path);
    tcase_add_test(tc, test_segment_length);
    tcase_add_test(tc, test_encode);
    tcase_add_test(tc, test_encode_bound);
    suite_add_tcase(s, tc);
    return s;
}
