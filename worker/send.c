/* Sending a response through the connection's transport: the header buffer, then the parts'
 * file bytes (from memory when the open file cache holds them, else sendfile), part after part.
 * Every blocked call records the readiness the transport waits for in c->send_wait. */
#include <errno.h>
#include <sys/epoll.h>

#include "common/log.h"
#include "worker/conn_internal.h"
#include "worker/ofc.h"
#include "worker/resp.h"

/* Why the last SEND_FAILED came: one connection at a time, so one slot does. */
static const char *failure;

/* A send call returned -1: wait (want) or fail. */
static enum send_result
send_failed(struct conn *c, enum transport_want want, const char *why)
{
    if (errno == EAGAIN || errno == EINTR) {
        c->send_wait = conn_wait_events(want);
        return SEND_BLOCKED;
    }
    failure = why;
    return SEND_FAILED;
}

/* The response buffer, or NULL once it is spent. */
static struct resp *
live_out(const struct conn *c)
{
    return c->out_spent ? NULL : c->out;
}

/* A stream's block stays: its handler writes the next bytes into it (req.c). */
static void
spend_out(struct conn *c)
{
    if (!c->out->stream)
        c->out_spent = true;
}

/* Buffer bytes up to `end`; SEND_DONE once they are all out. */
static enum send_result
send_buffer(struct conn *c, size_t end, bool more)
{
    struct resp *out = c->out;
    while (out->sent < end) {
        enum transport_want want = TRANSPORT_WANT_WRITE;
        ssize_t n =
            c->tp->send(c->io.fd, c->tp_ctx, out->buf + out->sent, end - out->sent, more, &want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return send_failed(c, want, "send error");
        }
        out->sent += (size_t)n;
        c->sent += n;
    }
    return SEND_DONE;
}

/* File bytes of the current part: from memory when the open file cache holds them, else one
 * sendfile call of at most max_chunk bytes. */
static enum send_result
send_file(struct conn *c, off_t max_chunk)
{
    off_t left = c->file_end - c->file_pos;
    enum transport_want want = TRANSPORT_WANT_WRITE;
    ssize_t n;
    if (left <= 0)
        return SEND_DONE;
    if (left > max_chunk)
        left = max_chunk;
    if (c->body)
        n = c->tp->send(c->io.fd, c->tp_ctx, c->body + (c->file_pos - c->body_off), (size_t)left,
                        false, &want);
    else
        n = c->tp->sendfile(c->io.fd, c->tp_ctx, c->file->fd, &c->file_pos, (size_t)left, &want);
    if (n < 0)
        return send_failed(c, want, "sendfile error");
    if (n == 0) {
        /* The file shrank under us: the promised length can no longer be met. */
        log_warnx("file truncated while being sent; closing connection");
        ofc_invalidate(c->file);
        failure = "file truncated";
        return SEND_FAILED;
    }
    if (c->body)
        c->file_pos += n;
    c->sent += n;
    return c->file_pos < c->file_end ? SEND_YIELD : SEND_DONE;
}

/* The buffer bytes of part `p` are out: its file bytes come next. */
static void
start_part_file(struct conn *c, const struct resp_part *p)
{
    c->file_pos = p->file_off;
    c->file_end = p->file_off + p->file_len;
    c->body = p->body;
    c->body_off = p->file_off;
    c->in_file = true;
}

/* The common small-file case in one system call: the rest of the header block and the whole
 * in-memory body of the last part. Returns SEND_DONE when both are out, else what happened; a
 * partial write is simply continued by the generic path. */
static enum send_result
send_head_and_body(struct conn *c, const struct resp_part *p)
{
    struct resp *out = c->out;
    struct iovec iov[2] = {
        {out->buf + out->sent, p->mem_end - out->sent},
        {(void *)p->body, (size_t)p->file_len},
    };
    enum transport_want want = TRANSPORT_WANT_WRITE;
    ssize_t n = c->tp->sendv(c->io.fd, c->tp_ctx, iov, 2, false, &want);
    if (n < 0)
        return send_failed(c, want, "send error");
    c->sent += n;
    size_t head = iov[0].iov_len;
    if ((size_t)n < head) {
        out->sent += (size_t)n; /* the caller comes back for the rest */
        return SEND_YIELD;
    }
    out->sent += head;
    start_part_file(c, p);
    if ((size_t)n > head)
        c->file_pos += (off_t)((size_t)n - head);
    return c->file_pos == c->file_end ? SEND_DONE : SEND_YIELD;
}

/* Walk the parts of the response: buffer bytes, then file bytes, part after part. The response
 * buffer is spent as soon as no buffer byte is left to send, so a long download holds only the
 * connection struct and its file reference. */
static enum send_result
walk(struct conn *c, off_t max_chunk)
{
    for (;;) {
        struct resp *out = live_out(c);
        if (c->in_file) {
            enum send_result r = send_file(c, max_chunk);
            if (r != SEND_DONE)
                return r;
            c->in_file = false;
            c->body = NULL;
            c->part++;
            if (out == NULL)
                return SEND_DONE;
            continue;
        }
        if (out == NULL)
            return SEND_DONE;
        bool parts_left = c->part < out->nparts;
        if (parts_left && c->part == out->nparts - 1 && out->parts[c->part].body &&
            out->parts[c->part].mem_end == out->len && out->sent < out->len) {
            enum send_result r = send_head_and_body(c, &out->parts[c->part]);
            if (r == SEND_FAILED || r == SEND_BLOCKED)
                return r;
            if (out->sent == out->len)
                spend_out(c);
            continue;
        }
        size_t end = parts_left ? out->parts[c->part].mem_end : out->len;
        bool more = parts_left || end < out->len;
        enum send_result r = send_buffer(c, end, more && c->file != NULL);
        if (r != SEND_DONE)
            return r;
        if (!parts_left) {
            spend_out(c);
            return SEND_DONE;
        }
        start_part_file(c, &out->parts[c->part]);
        if (c->part == out->nparts - 1 && out->sent == out->len)
            spend_out(c);
    }
}

enum send_result
send_some(struct conn *c, off_t max_chunk, const char **why)
{
    enum send_result r = walk(c, max_chunk);
    *why = r == SEND_FAILED ? failure : NULL;
    return r;
}
