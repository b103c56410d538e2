/* Responses: building the header block (and small bodies) of an answer, and error pages. Which
 * handler builds it is the seam's business (req.h). */
#ifndef SLUICE_RESP_H
#define SLUICE_RESP_H

#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "worker/http.h"

#define RESP_MAX_PARTS 65 /* max_ranges (64) parts of a multipart body, plus one */

/* A response is buffer bytes interleaved with file bytes: for each part, the buffer up to
 * `mem_end`, then `file_len` bytes of the file from `file_off`; after the last part, the rest
 * of the buffer (a multipart closing boundary). A plain file is one part; a multipart/byteranges
 * body one part per range. */
struct resp_part {
    size_t mem_end;
    off_t file_off, file_len;
    const char *body; /* the file's bytes in memory (open file cache), or NULL: sendfile */
};

/* The bytes of a response that are not file bytes. They start in the `inline_buf` of a pooled
 * block, taken when a response is built and given back once its last buffer byte is sent. A
 * response that needs more (many ranges, a long redirect target) grows into one heap block, at
 * most `max` bytes, freed by resp_release: the common answer costs no allocation, and no answer
 * the server accepted becomes a 500 for want of header room. */
struct resp {
    size_t len, sent, cap, max;
    bool close;    /* in: the connection must close after this response; handlers may set it */
    bool overflow; /* a put did not fit within `max`: the block is unusable */
    bool grown;    /* buf is a heap block (not inline_buf) */
    bool stream;   /* the body is a stream written into buf (req.c): the block stays */
    int status;    /* of the status line (resp_start) */
    size_t head;   /* bytes of the header section, once resp_end wrote its end (log phase) */
    int nparts;
    struct resp_part parts[RESP_MAX_PARTS];
    char *buf;
    char inline_buf[];
};

/* Make `out` empty with `cap` bytes of inline_buf, growing up to `max` bytes. */
void resp_init(struct resp *out, size_t cap, size_t max);

/* Free a grown buffer (back to inline_buf). Call before the block goes back to its pool. */
void resp_release(struct resp *out);

/* Add a part: the buffer so far, then `len` file bytes from `off` (taken from `body` + off when
 * body is not NULL). Returns 0 or -1 when full. */
int resp_add_part(struct resp *out, off_t off, off_t len, const char *body);

/* Refresh the cached Date value when `now` is a new second. */
void resp_update_date(time_t now);
/* The cached Date value ("Wed, 15 Nov 2023 23:14:21 GMT"), owned by resp.c. */
const char *resp_date(void);
const char *resp_reason(int status);

/* Builders. resp_start resets `out` and writes the status line, Server and Date; resp_header
 * adds one field line; resp_end adds Connection and the blank line (close when out->close or
 * the request does not allow keep-alive); resp_body appends body bytes. */
void resp_start(struct resp *out, int status);
void resp_header(struct resp *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "Content-Length: N\r\n" without printf (handlers' answers write it on every response). */
void resp_content_length(struct resp *out, long long n);
void resp_end(struct resp *out, const struct http_req *req);
void resp_body_slow(struct resp *out, const char *p, size_t n);
/* Inline for the common case, a few bytes that fit: the header lines of every response. */
static inline void
resp_body(struct resp *out, const char *p, size_t n)
{
    if (n <= out->cap - out->len && !out->overflow) {
        memcpy(out->buf + out->len, p, n);
        out->len += n;
        return;
    }
    resp_body_slow(out, p, n);
}

/* A complete error answer with a small HTML body (none for HEAD); `extra` is one more header
 * line ("Allow: GET, HEAD") or NULL. 400, 408, 413 and up also set out->close. */
void resp_error(struct resp *out, const struct http_req *req, int status, const char *extra);

#endif
