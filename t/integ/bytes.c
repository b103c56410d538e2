/* Byte-exact body helpers (see bytes.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "bytes.h"

#include <check.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

unsigned char *
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

void
assert_same_bytes(const char *what, const void *got, size_t got_len, const void *want,
                  size_t want_len)
{
    ck_assert_msg(got_len == want_len, "%s: %zu bytes, want %zu", what, got_len, want_len);
    char hg[65], hw[65];
    sha256_hex(got, got_len, hg);
    sha256_hex(want, want_len, hw);
    ck_assert_msg(strcmp(hg, hw) == 0, "%s: sha256 %s, want %s", what, hg, hw);
}

int
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

void
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

char *
root_file(const struct srv *s, const char *rel, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", s->root, rel);
    return buf;
}
