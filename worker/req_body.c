/* Request bodies (req.h): buffered in a pooled block up to body_buffer_size and beyond it in an
 * unlinked temp file in body_temp_path, or streamed to the handler with pause and resume. */
#include "worker/req.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/log.h"
#include "worker/bufpool.h"
#include "worker/req_internal.h"
#include "worker/route.h"

#define BODY_CACHE 8 /* free body blocks kept */

static struct bufpool body_pool; /* blocks of body_buffer_size */

void
req_body_setup(size_t size)
{
    bufpool_trim(&body_pool);
    bufpool_init(&body_pool, size, BODY_CACHE);
}

void
req_body_trim(void)
{
    bufpool_trim(&body_pool);
}

void
req_body_free(struct req *r)
{
    if (r->cold.body_fd >= 0)
        close(r->cold.body_fd);
    r->cold.body_fd = -1;
    bufpool_put(&body_pool, r->cold.body_buf);
    r->cold.body_buf = NULL;
}

/* A buffered body's temp file: O_TMPFILE (no name ever exists), or where the file system
 * refuses it (overlayfs, ZFS, NFS) mkstemp and an unlink at once. */
static int
temp_open(void)
{
    static bool told;
    int fd = open(req_env()->body_temp_path, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) {
        if (fd < 0)
            log_error("opening a temp file in body_temp_path '%s'", req_env()->body_temp_path);
        return fd;
    }
    if (!told) {
        log_info("body_temp_path '%s' refuses O_TMPFILE; using mkstemp and unlink",
                 req_env()->body_temp_path);
        told = true;
    }
    char name[CFG_PATH_MAX];
    if (snprintf(name, sizeof(name), "%s/.sluice-body-XXXXXX", req_env()->body_temp_path) >=
        (int)sizeof(name)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = mkostemp(name, O_CLOEXEC);
    if (fd < 0) {
        log_error("creating a temp file in body_temp_path '%s'", req_env()->body_temp_path);
        return -1;
    }
    unlink(name);
    return fd;
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_error("writing a request body to its temp file");
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* REQ_BODY_BUFFER: keep `n` bytes, in memory up to body_buffer_size, then in the file. */
int
req_body_store(struct req *r, const char *p, size_t n)
{
    req_cold(r);
    r->cold.body_total += (int64_t)n;
    r->keep = true;
    if (r->cold.body_fd < 0 && r->cold.body_len + n <= (size_t)req_env()->body_buffer_size) {
        if (r->cold.body_buf == NULL && (r->cold.body_buf = bufpool_get(&body_pool)) == NULL)
            return -1;
        memcpy(r->cold.body_buf + r->cold.body_len, p, n);
        r->cold.body_len += n;
        return 0;
    }
    if (r->cold.body_fd < 0) {
        if ((r->cold.body_fd = temp_open()) < 0 ||
            write_all(r->cold.body_fd, r->cold.body_buf, r->cold.body_len) < 0)
            return -1;
        bufpool_put(&body_pool, r->cold.body_buf);
        r->cold.body_buf = NULL;
        r->cold.body_len = 0;
    }
    return write_all(r->cold.body_fd, p, n);
}

int64_t
req_body_length(const struct req *r)
{
    return r->cold_ready ? r->cold.body_total : 0;
}

int
req_body_mem(const struct req *r, const char **p, size_t *n)
{
    *p = r->cold_ready ? r->cold.body_buf : NULL;
    *n = r->cold_ready ? r->cold.body_len : 0;
    return *p && r->cold.body_fd < 0 ? 0 : -1;
}

int
req_body_fd(const struct req *r)
{
    return r->cold_ready ? r->cold.body_fd : -1;
}

int
req_body_stream(struct req *r, req_body_cb *cb, void *arg)
{
    if (req_usable(r) < 0)
        return -1;
    if (!r->route || r->route->h->body != REQ_BODY_STREAM || r->body_started || cb == NULL) {
        errno = EINVAL;
        return -1;
    }
    req_cold(r)->cold.body_cb = cb;
    r->cold.body_arg = arg;
    r->body_started = true;
    r->keep = true;
    if (!r->http.has_body || r->body_done) {
        r->body_done = true;
        cb(r, arg, NULL, 0, true); /* the request is already complete: no body */
        return 0;
    }
    if (r->http.expect_continue && req_env()->ops->send_continue(r->conn) < 0) {
        errno = ECANCELED;
        return -1;
    }
    req_kick(r);
    return 0;
}

int
req_body_pause(struct req *r)
{
    if (r->phase == REQ_ENDED) {
        errno = ECANCELED;
        return -1;
    }
    if (!r->body_paused) {
        r->body_paused = true;
        req_kick(r); /* from outside a body callback: stop reading before the next piece */
    }
    return 0;
}

int
req_body_resume(struct req *r)
{
    if (r->phase == REQ_ENDED) {
        errno = ECANCELED;
        return -1;
    }
    if (r->body_paused) {
        r->body_paused = false;
        req_kick(r);
    }
    return 0;
}
