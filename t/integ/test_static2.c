/* Integration tests of static-file serving, part 2: byte-exact bodies of a 50 MB file and of its
 * ranges (SHA-256), range requests and multipart/byteranges, content types, and files that
 * change under a transfer (replaced, truncated) or clients that leave mid-download. A
 * real sluice, raw sockets. Part 1 is test_static.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG_LEN (50u << 20)
#define MID_LEN (20u << 20)

/* ---- helpers ---- */

/* Deterministic bytes (xorshift64*), different for each seed. */
static unsigned char *
make_data(size_t len, uint64_t seed)
{
    unsigned char *p = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(p);
    uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < len; i += 8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t v = x * 0x2545F4914F6CDD1DULL;
        memcpy(p + i, &v, len - i < 8 ? len - i : 8);
    }
    return p;
}

static void
sha256_hex(const void *p, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    ck_assert(EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The received bytes must be exactly `want` (compared by SHA-256, sizes first). */
static void
assert_same_bytes(const char *what, const void *got, size_t got_len, const void *want,
                  size_t want_len)
{
    ck_assert_msg(got_len == want_len, "%s: %zu bytes, want %zu", what, got_len, want_len);
    char hg[65], hw[65];
    sha256_hex(got, got_len, hg);
    sha256_hex(want, want_len, hw);
    ck_assert_msg(strcmp(hg, hw) == 0, "%s: sha256 %s, want %s", what, hg, hw);
}

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

static char *
root_file(const struct srv *s, const char *rel, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", s->root, rel);
    return buf;
}

/* Send GET `target` on a connection with a small receive buffer and read only the header, so
 * the server is left in the middle of the body. */
static int
start_download(int port, const char *target, struct http_resp *r, int rcvbuf)
{
    int fd = conn_open_rcvbuf(port, rcvbuf);
    char req[512];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             target);
    conn_sendstr(fd, req);
    ck_assert_msg(http_try_read_head(fd, r) == 0, "GET %s: %s", target, r->err);
    ck_assert_int_eq(r->status, 200);
    return fd;
}

/* Receive exactly `len` bytes (bounded by the socket timeout). */
static void
recv_exact(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "recv after %zu of %zu bytes: %s", got, len,
                      n == 0 ? "closed" : strerror(errno));
        got += (size_t)n;
    }
}

static pid_t
only_worker(const struct srv *s)
{
    pid_t w[4];
    ck_assert_int_eq(worker_pids(s->pid, w, 4), 1);
    return w[0];
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
        close(fd);
        srv_stop(&s);
        return; /* the file system cannot hold it: nothing to test */
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

/* ---- content types ---- */

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

/* ---- files and clients that change under a transfer ---- */

START_TEST(client_leaves_mid_download)
{
    struct srv s;
    struct http_resp r;
    unsigned char *data = make_data(MID_LEN, 3);
    char buf[65536];
    srv_init(&s);
    srv_write_file(&s, "mid.bin", data, MID_LEN);
    srv_write_config(&s, "workers = 1\n");
    srv_spawn(&s);
    pid_t worker = only_worker(&s);

    for (int round = 0; round < 4; round++) {
        int fd = start_download(s.port, "/mid.bin", &r, 16384);
        recv_exact(fd, buf, sizeof(buf));
        if (round % 2) { /* abortive close: RST */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(fd);
    }
    ck_assert_int_eq(http_fetch(s.port, "GET", "/index.html", NULL, &r), 200);
    http_resp_free(&r);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/mid.bin", NULL, &r), 200);
    assert_same_bytes("GET /mid.bin after aborted downloads", r.body, r.body_len, data, MID_LEN);
    http_resp_free(&r);
    ck_assert_int_eq(only_worker(&s), worker);
    free(data);
    srv_stop(&s);
}
END_TEST

/* Write `rel` under a temporary name and rename it over the old one. */
static void
replace_file(const struct srv *s, const char *rel, const void *data, size_t len)
{
    char path[SRV_PATH_MAX * 2], tmp[SRV_PATH_MAX * 2 + 8];
    root_file(s, rel, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    write_file(tmp, data, len);
    ck_assert_msg(rename(tmp, path) == 0, "rename %s: %s", tmp, strerror(errno));
}

/* Poll HEAD `target` until its Content-Length is `new_len` (every answer must be the old length
 * or the new one); fails after `bound_ms`. */
static void
wait_new_length(const struct srv *s, const char *target, size_t old_len, size_t new_len,
                int bound_ms)
{
    int64_t t0 = now_ms();
    for (;;) {
        struct http_resp r;
        ck_assert_int_eq(http_fetch(s->port, "HEAD", target, NULL, &r), 200);
        const char *cl = http_header(&r, "Content-Length");
        ck_assert_ptr_nonnull(cl);
        size_t len = (size_t)strtoull(cl, NULL, 10);
        ck_assert_msg(len == old_len || len == new_len, "HEAD %s: length %zu, want %zu or %zu",
                      target, len, old_len, new_len);
        if (len == new_len)
            return;
        ck_assert_msg(now_ms() - t0 < bound_ms, "%s still the old file after %d ms", target,
                      bound_ms);
        sleep_ms(20);
    }
}

/* Replace the small file on a keep-alive connection, and the big one during a download: the
 * download finishes with the old bytes (it holds the old file), later requests get the new file
 * -- at once without the open file cache, within open_file_cache_valid with it. */
static void
replace_while_serving(bool cached)
{
    struct srv s;
    struct http_resp r, dl;
    unsigned char *old_data = make_data(MID_LEN, 4);
    const size_t new_len = MID_LEN / 2 + 7;
    unsigned char *new_data = make_data(new_len, 5);
    const char *second = "second, longer version\n";
    srv_init(&s);
    srv_write_file(&s, "f.bin", old_data, MID_LEN);
    srv_write_file(&s, "small.txt", "first version\n", 14);
    srv_write_config(&s, cached ? "workers = 1\nopen_file_cache_valid = 300ms\n"
                                : "workers = 1\nopen_file_cache = 0\n");
    srv_spawn(&s);

    int fd = conn_open(s.port);
    conn_sendstr(fd, "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    http_read_response(fd, &r, 0);
    http_assert_body(&r, "first version\n", NULL);
    char old_etag[128], req[512];
    snprintf(old_etag, sizeof(old_etag), "%s", http_header(&r, "ETag"));
    http_resp_free(&r);
    replace_file(&s, "small.txt", second, strlen(second));
    if (cached)
        wait_new_length(&s, "/small.txt", 14, strlen(second), 300 + 2000);
    snprintf(req, sizeof(req),
             "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: %s\r\n\r\n", old_etag);
    conn_sendstr(fd, req);
    http_read_response(fd, &r, 0);
    ck_assert_msg(r.status == 200, "GET /small.txt with the old ETag after the rename: %d",
                  r.status);
    http_assert_body(&r, second, NULL);
    http_resp_free(&r);
    close(fd);

    int slow = start_download(s.port, "/f.bin", &dl, 16384);
    unsigned char *got = malloc(MID_LEN);
    ck_assert_ptr_nonnull(got);
    recv_exact(slow, got, 65536);
    replace_file(&s, "f.bin", new_data, new_len);
    if (cached)
        wait_new_length(&s, "/f.bin", MID_LEN, new_len, 300 + 2000);
    ck_assert_int_eq(http_fetch(s.port, "GET", "/f.bin", NULL, &r), 200);
    assert_same_bytes("GET /f.bin after the rename", r.body, r.body_len, new_data, new_len);
    http_resp_free(&r);
    recv_exact(slow, got + 65536, MID_LEN - 65536);
    assert_same_bytes("the download in flight", got, MID_LEN, old_data, MID_LEN);
    ck_assert(conn_wait_closed(slow, 5000));
    close(slow);
    free(got);
    free(old_data);
    free(new_data);
    srv_stop(&s);
}

START_TEST(file_replaced_served_fresh)
{
    replace_while_serving(false);
}
END_TEST

START_TEST(file_replaced_fresh_after_cache_valid)
{
    replace_while_serving(true);
}
END_TEST

/* A file cut short while it is being sent: that connection ends (no busy loop in the worker),
 * and the worker goes on serving. */
START_TEST(file_truncated_while_sending)
{
    struct srv s;
    struct http_resp r;
    char path[SRV_PATH_MAX * 2];
    unsigned char *data = make_data(MID_LEN, 6);
    static char buf[1 << 20];
    srv_init(&s);
    srv_write_file(&s, "t.bin", data, MID_LEN);
    srv_write_config(&s, "workers = 1\n");
    srv_spawn(&s);
    pid_t worker = only_worker(&s);

    int fd = start_download(s.port, "/t.bin", &r, 16384);
    recv_exact(fd, buf, 65536);
    long long cpu0 = proc_cpu_ticks(worker);
    int64_t t0 = now_ms();
    ck_assert_int_eq(truncate(root_file(&s, "t.bin", path, sizeof(path)), 1 << 20), 0);

    /* Read on until the server ends the connection: within 10 s, before the full length. */
    size_t total = 65536;
    bool ended = false;
    while (now_ms() - t0 < 10000) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            ended = true;
            break;
        }
        ck_assert_msg(n > 0, "recv: %s", strerror(errno));
        total += (size_t)n;
    }
    int64_t elapsed = now_ms() - t0;
    long long cpu = proc_cpu_ticks(worker) - cpu0;
    close(fd);
    ck_assert_msg(ended, "connection still open %lld ms after the truncation", (long long)elapsed);
    ck_assert_msg(total < MID_LEN, "got all %zu bytes of a truncated file", total);
    long hz = sysconf(_SC_CLK_TCK);
    ck_assert_msg(cpu * 1000 / hz <= elapsed / 2 + 100,
                  "worker used %lld ms of CPU in the %lld ms the truncated send took",
                  cpu * 1000 / hz, (long long)elapsed);

    ck_assert_int_eq(http_fetch(s.port, "GET", "/t.bin", NULL, &r), 200);
    assert_same_bytes("GET /t.bin after truncation", r.body, r.body_len, data, 1 << 20);
    http_resp_free(&r);
    ck_assert_int_eq(only_worker(&s), worker);
    free(data);
    srv_stop(&s);
}
END_TEST

Suite *
integ_static2_suite(void)
{
    Suite *s = suite_create("integ_static2");
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

    tc = tcase_create("types");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, mime_builtin_and_default);
    tcase_add_test(tc, mime_types_file_charset_off);
    suite_add_tcase(s, tc);

    tc = tcase_create("changing");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, client_leaves_mid_download);
    tcase_add_test(tc, file_replaced_served_fresh);
    tcase_add_test(tc, file_replaced_fresh_after_cache_valid);
    tcase_add_test(tc, file_truncated_while_sending);
    suite_add_tcase(s, tc);
    return s;
}
