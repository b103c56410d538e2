/* Integration tests of byte ranges (RFC 9110 14) and byte-exact bodies of large files: a 50 MB
 * file whole and in ranges (SHA-256), a sparse file over 4 GB, single ranges, merging,
 * multipart/byteranges, 416, ranges ignored, If-Range, and a multipart boundary that cannot be
 * planted in the file. A real sluice, raw sockets. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bytes.h"
#include "harness.h"
#include "t/skip.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define BIG_LEN (50u << 20)

/* ---- helpers ---- */

/* GET with a Range header value. */
static int
get_range(int port, const char *target, const char *range, struct http_resp *r)
{
    char h[2048];
    snprintf(h, sizeof(h), "Range: %s\r\n", range);
    return http_fetch(port, "GET", target, h, r);
}

/* A 206 with one range must say `first-last/size` and carry exactly those bytes of `data`. */
static void
assert_single_range(const struct http_resp *r, const unsigned char *data, off_t size,
                    long long first, long long last)
{
    char cr[128], what[160];
    ck_assert_msg(r->status == 206, "status %d, want 206 for %lld-%lld", r->status, first, last);
    snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", first, last, (long long)size);
    http_assert_header(r, "Content-Range", cr);
    snprintf(what, sizeof(what), "range %lld-%lld", first, last);
    assert_same_bytes(what, r->body, r->body_len, data + first, (size_t)(last - first + 1));
}

struct part {
    char type[64];
    long long first, last, total;
    const char *data;
    size_t len;
};

/* Split a multipart/byteranges body (RFC 9110 14.6) into its parts, each body of exactly the
 * length its Content-Range gives, each followed by the delimiter. Returns the part count. */
static int
parse_multipart(const struct http_resp *r, struct part *parts, int max)
{
    const char *ct = http_header(r, "Content-Type");
    ck_assert_msg(ct && strncmp(ct, "multipart/byteranges", 20) == 0, "Content-Type: %s",
                  ct ? ct : "(none)");
    const char *b = strstr(ct, "boundary=");
    ck_assert_msg(b != NULL, "no boundary in '%s'", ct);
    char delim[128];
    snprintf(delim, sizeof(delim), "--%s", b + 9);
    size_t dl = strlen(delim);

    const char *p = r->body, *end = r->body + r->body_len;
    const char *first = memmem(p, r->body_len, delim, dl); /* after any preamble */
    ck_assert_msg(first != NULL, "no delimiter in the body");
    p = first + dl;
    int n = 0;
    for (;;) {
        ck_assert_msg(end - p >= 2, "body ends after a delimiter");
        if (p[0] == '-' && p[1] == '-')
            break; /* close-delimiter */
        ck_assert_msg(p[0] == '\r' && p[1] == '\n', "delimiter not followed by CRLF");
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        ck_assert_msg(hend != NULL, "part %d: no end of headers", n);
        ck_assert_msg(n < max, "more than %d parts", max);
        struct part *pt = &parts[n];
        pt->first = -1;
        pt->type[0] = '\0';
        for (const char *line = p + 2; line < hend;) {
            const char *eol = memmem(line, (size_t)(hend + 2 - line), "\r\n", 2);
            if (strncasecmp(line, "Content-Range:", 14) == 0)
                ck_assert_msg(sscanf(line + 14, " bytes %lld-%lld/%lld", &pt->first, &pt->last,
                                     &pt->total) == 3,
                              "part %d: bad Content-Range '%.60s'", n, line);
            if (strncasecmp(line, "Content-Type:", 13) == 0)
                snprintf(pt->type, sizeof(pt->type), "%.*s", (int)(eol - line - 14), line + 14);
            line = eol + 2;
        }
        ck_assert_msg(pt->first >= 0 && pt->last >= pt->first, "part %d: no Content-Range", n);
        pt->data = hend + 4;
        pt->len = (size_t)(pt->last - pt->first + 1);
        ck_assert_msg((size_t)(end - pt->data) >= pt->len + 2 + dl, "part %d cut short", n);
        p = pt->data + pt->len;
        ck_assert_msg(memcmp(p, "\r\n", 2) == 0 && memcmp(p + 2, delim, dl) == 0,
                      "part %d: no delimiter right after its %zu bytes", n, pt->len);
        p += 2 + dl;
        n++;
    }
    return n;
}

/* ---- byte-exact bodies ---- */

/* The whole 50 MB file, then single ranges and a multipart of it, each compared by SHA-256.
 * One worker: while one client stalls mid-download, another is still answered. */
START_TEST(big_file_and_ranges_byte_exact)
{
    struct srv s;
    struct http_resp r, other;
    unsigned char *data = make_data(BIG_LEN, 1);
    srv_init(&s);
    srv_write_file(&s, "big.bin", data, BIG_LEN);
    srv_write_config(&s, "workers = 1\n");
    srv_spawn(&s);

    int stalled = start_download(s.port, "/big.bin", &r, 65536);
    int64_t t0 = now_ms();
    ck_assert_int_eq(http_fetch(s.port, "GET", "/index.html", NULL, &other), 200);
    ck_assert_msg(now_ms() - t0 < 3000, "a stalled download held up another client for %lld ms",
                  (long long)(now_ms() - t0));
    http_resp_free(&other);
    ck_assert_int_eq(http_try_read_body(stalled, &r, 0), 0);
    assert_same_bytes("GET /big.bin", r.body, r.body_len, data, BIG_LEN);
    http_resp_free(&r);
    close(stalled);

    static const struct {
        const char *spec;
        long long first, last;
    } singles[] = {
        {"bytes=0-0", 0, 0},
        {"bytes=524287-1048576", 524287, 1048576}, /* across sendfile_max_chunk boundaries */
        {"bytes=-1", BIG_LEN - 1, BIG_LEN - 1},
        {"bytes=30000000-", 30000000, BIG_LEN - 1},
        {"bytes=0-", 0, BIG_LEN - 1},
        {"bytes=12345678-99999999999", 12345678, BIG_LEN - 1},
    };
    for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
        ck_assert_int_eq(get_range(s.port, "/big.bin", singles[i].spec, &r), 206);
        assert_single_range(&r, data, BIG_LEN, singles[i].first, singles[i].last);
        http_resp_free(&r);
    }

    /* On a kept-alive connection a sendfile body leaves the stream in step: a HEAD and a
     * small file right behind a 20 MB range are answered as themselves. */
    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=20000000-39999999\r\n\r\n"
                     "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    http_read_response(fd, &r, 0);
    assert_single_range(&r, data, BIG_LEN, 20000000, 39999999);
    http_resp_free(&r);
    http_read_response(fd, &r, HTTP_NO_BODY);
    ck_assert_int_eq(r.status, 200);
    http_assert_header(&r, "Content-Length", "52428800");
    http_read_response(fd, &r, 0);
    ck_assert_int_eq(r.status, 200);
    http_assert_body(&r, SRV_INDEX_HTML, "GET after a 20 MB range and a HEAD");
    http_resp_free(&r);
    close(fd);

    ck_assert_int_eq(
        get_range(s.port, "/big.bin", "bytes=10000000-20000000,0-0,-1048577,524287-524288", &r),
        206);
    struct part parts[8];
    int n = parse_multipart(&r, parts, 8);
    static const long long want[4][2] = {
        {0, 0}, {524287, 524288}, {10000000, 20000000}, {BIG_LEN - 1048577, BIG_LEN - 1}};
    ck_assert_int_eq(n, 4);
    for (int i = 0; i < 4; i++) {
        char what[64];
        ck_assert_msg(parts[i].first == want[i][0] && parts[i].last == want[i][1] &&
                          parts[i].total == BIG_LEN,
                      "part %d: %lld-%lld/%lld", i, parts[i].first, parts[i].last, parts[i].total);
        snprintf(what, sizeof(what), "multipart part %d", i);
        assert_same_bytes(what, parts[i].data, parts[i].len, data + parts[i].first,
                          (size_t)(parts[i].last - parts[i].first + 1));
    }
    http_resp_free(&r);
    free(data);
    srv_stop(&s);
}
END_TEST

/* A sparse file over 4 GB: lengths and offsets past 32 bits. */
START_TEST(file_over_4g)
{
    struct srv s;
    struct http_resp r;
    char path[SRV_PATH_MAX * 2];
    const off_t size = ((off_t)5 << 30) + 100;
    srv_start(&s, NULL);
    int fd = open(root_file(&s, "huge.bin", path, sizeof(path)), O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    if (ftruncate(fd, size) != 0) {
        char why[SRV_PATH_MAX + 128];
        snprintf(why, sizeof(why), "the file system of %s cannot hold a 5 GB sparse file (%s)",
                 s.root, strerror(errno));
        close(fd);
        srv_stop(&s);
        t_skip("file_over_4g", why);
        return;
    }
    const off_t across = ((off_t)4 << 30) - 4;
    ck_assert_int_eq(pwrite(fd, "ACROSS4G", 8, across), 8);
    ck_assert_int_eq(pwrite(fd, "THE-END", 7, size - 7), 7);
    close(fd);

    ck_assert_int_eq(http_fetch(s.port, "HEAD", "/huge.bin", NULL, &r), 200);
    http_assert_header(&r, "Content-Length", "5368709220");
    ck_assert_int_eq(get_range(s.port, "/huge.bin", "bytes=4294967292-4294967299", &r), 206);
    http_assert_header(&r, "Content-Range", "bytes 4294967292-4294967299/5368709220");
    http_assert_body(&r, "ACROSS4G", NULL);
    http_resp_free(&r);
    ck_assert_int_eq(get_range(s.port, "/huge.bin", "bytes=-7", &r), 206);
    http_assert_body(&r, "THE-END", NULL);
    http_resp_free(&r);
    ck_assert_int_eq(get_range(s.port, "/huge.bin", "bytes=0-1,4294967296-4294967299", &r), 206);
    struct part parts[4];
    ck_assert_int_eq(parse_multipart(&r, parts, 4), 2);
    ck_assert(parts[1].first == 4294967296LL && memcmp(parts[1].data, "SS4G", 4) == 0);
    http_resp_free(&r);
    unlink(path);
    srv_stop(&s);
}
END_TEST

/* ---- ranges ---- */

START_TEST(range_requests)
{
    struct srv s;
    struct http_resp r;
    char h[512];
    const size_t len = 10000;
    unsigned char *data = make_data(len, 2);
    srv_start(&s, NULL);
    srv_write_file(&s, "r.bin", data, len);

    ck_assert_int_eq(http_fetch(s.port, "GET", "/r.bin", NULL, &r), 200);
    http_assert_header(&r, "Accept-Ranges", "bytes");
    char etag[128], lm[64];
    snprintf(etag, sizeof(etag), "%s", http_header(&r, "ETag"));
    snprintf(lm, sizeof(lm), "%s", http_header(&r, "Last-Modified"));
    http_resp_free(&r);

    ck_assert_int_eq(get_range(s.port, "/r.bin", "bytes=0-99", &r), 206);
    assert_single_range(&r, data, len, 0, 99);
    http_assert_header(&r, "Content-Length", "100");
    http_assert_header(&r, "ETag", etag);
    http_resp_free(&r);
    ck_assert_int_eq(get_range(s.port, "/r.bin", "bytes=-100", &r), 206);
    assert_single_range(&r, data, len, 9900, 9999);
    http_resp_free(&r);
    ck_assert_int_eq(get_range(s.port, "/r.bin", "bytes=9000-20000", &r), 206);
    assert_single_range(&r, data, len, 9000, 9999);
    http_resp_free(&r);

    /* Overlapping and adjacent ranges are coalesced into one. */
    ck_assert_int_eq(get_range(s.port, "/r.bin", "bytes=0-99,50-149,150-199", &r), 206);
    assert_single_range(&r, data, len, 0, 199);
    http_resp_free(&r);

    /* Several: multipart/byteranges, sorted, each part with the file's type and its range. */
    ck_assert_int_eq(get_range(s.port, "/r.bin", "bytes=9990-,100-109,0-9", &r), 206);
    ck_assert(http_header(&r, "Content-Range") == NULL);
    struct part parts[8];
    ck_assert_int_eq(parse_multipart(&r, parts, 8), 3);
    static const long long want[3][2] = {{0, 9}, {100, 109}, {9990, 9999}};
    for (int i = 0; i < 3; i++) {
        ck_assert(parts[i].first == want[i][0] && parts[i].last == want[i][1] &&
                  parts[i].total == (long long)len);
        ck_assert_str_eq(parts[i].type, "application/octet-stream");
        assert_same_bytes("part", parts[i].data, parts[i].len, data + want[i][0], 10);
    }
    http_resp_free(&r);

    /* Unsatisfiable: 416 with the length. */
    const char *unsat[] = {"bytes=10000-", "bytes=-0", "bytes=20000-30000,10000-"};
    for (size_t i = 0; i < sizeof(unsat) / sizeof(unsat[0]); i++) {
        ck_assert_msg(get_range(s.port, "/r.bin", unsat[i], &r) == 416, "%s: %d", unsat[i],
                      r.status);
        http_assert_header(&r, "Content-Range", "bytes */10000");
        http_resp_free(&r);
    }

    /* Invalid, other units, more than max_ranges (16) after merging: the whole file. */
    char many[512];
    size_t used = (size_t)snprintf(many, sizeof(many), "bytes=");
    for (int i = 0; i < 17; i++)
        used += (size_t)snprintf(many + used, sizeof(many) - used, "%s%d-%d", i ? "," : "", i * 100,
                                 i * 100 + 1);
    const char *whole[] = {"bytes=abc", "bytes=5-4", "items=0-1", "bytes=0-1;x", many};
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
        ck_assert_msg(get_range(s.port, "/r.bin", whole[i], &r) == 200, "Range %s: %d", whole[i],
                      r.status);
        assert_same_bytes(whole[i], r.body, r.body_len, data, len);
        http_resp_free(&r);
    }

    /* If-Range: the range only while the validator matches. */
    snprintf(h, sizeof(h), "Range: bytes=0-9\r\nIf-Range: %s\r\n", etag);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/r.bin", h, &r), 206);
    assert_single_range(&r, data, len, 0, 9);
    http_resp_free(&r);
    snprintf(h, sizeof(h), "Range: bytes=0-9\r\nIf-Range: %s\r\n", lm);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/r.bin", h, &r), 206);
    http_resp_free(&r);
    ck_assert_int_eq(
        http_fetch(s.port, "GET", "/r.bin", "Range: bytes=0-9\r\nIf-Range: \"stale\"\r\n", &r),
        200);
    assert_same_bytes("If-Range stale", r.body, r.body_len, data, len);
    http_resp_free(&r);
    snprintf(h, sizeof(h), "Range: bytes=0-9\r\nIf-Range: W/%s\r\n", etag); /* weak: no match */
    ck_assert_int_eq(http_fetch(s.port, "GET", "/r.bin", h, &r), 200);
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/r.bin",
                                "Range: bytes=0-9\r\nIf-Range: Sat, 01 Jan 2000 00:00:00 GMT\r\n",
                                &r),
                     200);
    http_resp_free(&r);
    free(data);
    srv_stop(&s);
}
END_TEST

static void
boundary_of(const struct http_resp *r, char *out, size_t len)
{
    const char *ct = http_header(r, "Content-Type");
    const char *b = ct ? strstr(ct, "boundary=") : NULL;
    ck_assert_msg(b != NULL, "no boundary in Content-Type %s", ct ? ct : "(none)");
    snprintf(out, len, "%s", b + 9);
}

/* RFC 2046 5.1.1: the boundary must not occur in any part. One that can be predicted (from the
 * file's size and mtime, or the same every time) can be planted in a file: learn the boundary
 * sluice picks, write it into the file (same size, same mtime), and ask again. */
START_TEST(multipart_boundary_not_in_body)
{
    struct srv s;
    struct http_resp r;
    char text[4096], boundary[128], planted[160];
    srv_init(&s);
    memset(text, 'a', sizeof(text));
    srv_write_file(&s, "b.txt", text, sizeof(text));
    srv_set_mtime(&s, "b.txt", 1700000000, 123456789);
    srv_write_config(&s, "open_file_cache = 0\n");
    srv_spawn(&s);

    ck_assert_int_eq(get_range(s.port, "/b.txt", "bytes=0-199,1000-1099", &r), 206);
    boundary_of(&r, boundary, sizeof(boundary));
    http_resp_free(&r);
    int pl = snprintf(planted, sizeof(planted), "\r\n--%s\r\n", boundary);
    memcpy(text + 100, planted, (size_t)pl);
    srv_write_file(&s, "b.txt", text, sizeof(text));
    srv_set_mtime(&s, "b.txt", 1700000000, 123456789);

    ck_assert_int_eq(get_range(s.port, "/b.txt", "bytes=0-199,1000-1099", &r), 206);
    boundary_of(&r, boundary, sizeof(boundary));
    struct part parts[4];
    ck_assert_int_eq(parse_multipart(&r, parts, 4), 2);
    ck_assert_msg(memmem(parts[0].data, parts[0].len, planted + 2, (size_t)pl - 4) != NULL,
                  "the planted text is not in the first part");
    for (int i = 0; i < 2; i++)
        ck_assert_msg(memmem(parts[i].data, parts[i].len, boundary, strlen(boundary)) == NULL,
                      "part %d contains the boundary '%s'", i, boundary);
    http_resp_free(&r);
    srv_stop(&s);
}
END_TEST

Suite *
integ_ranges_suite(void)
{
    Suite *s = suite_create("integ_ranges");
    TCase *tc = tcase_create("bytes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, big_file_and_ranges_byte_exact);
    tcase_add_test(tc, file_over_4g);
    suite_add_tcase(s, tc);

    tc = tcase_create("ranges");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, range_requests);
    tcase_add_test(tc, multipart_boundary_not_in_body);
    suite_add_tcase(s, tc);
    return s;
}
