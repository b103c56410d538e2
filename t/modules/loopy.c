/* loopy: the worker's loop and the file path of the API, for test_apps_loop.c.
 *   /loopy/pipe?ms=N   a pipe watched with sl_watch_fd; a timer writes into it after N ms;
 *                      the watch answers "piped N\n", cancels itself and closes the pipe.
 *                      A cancel (client gone) cancels both and releases the request.
 *   /loopy/file?name=F the file F of the `dir` key, sent with sl_resp_send_file (Range works).
 *   /loopy/bad         misuses: a status out of range, a field name that is not a token, a
 *                      framing field; answers the codes it got: "status=C header=C framing=C". */
#define _GNU_SOURCE /* pipe2 */
#include <sluice.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct piped {
    struct sl_req *req;
    struct sl_timer *timer;
    struct sl_watch *watch;
    int fds[2];
    unsigned ms;
};

static void
piped_free(struct piped *p)
{
    if (p->timer)
        sl_timer_cancel(p->timer);
    if (p->watch)
        sl_watch_cancel(p->watch);
    close(p->fds[0]);
    close(p->fds[1]);
    free(p);
}

static void
on_readable(int fd, unsigned events, void *arg)
{
    struct piped *p = arg;
    char buf[16], text[64];
    if (!(events & SL_READ) || read(fd, buf, sizeof(buf)) <= 0)
        return;
    int n = snprintf(text, sizeof(text), "piped %u\n", p->ms);
    sl_resp_send(p->req, text, (size_t)n);
    piped_free(p); /* cancels this watch from its own callback */
}

static void
on_timer(void *arg)
{
    struct piped *p = arg;
    p->timer = NULL;
    if (write(p->fds[1], "x", 1) != 1)
        sl_log(NULL, SL_LOG_ERROR, "pipe write failed");
}

static void
on_cancel(struct sl_req *req, void *arg)
{
    piped_free(arg);
    sl_req_release(req);
}

static int
pipe_request(struct sl_req *req)
{
    struct sl_str q = sl_req_query(req);
    struct piped *p = calloc(1, sizeof(*p));
    if (p == NULL || pipe2(p->fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        free(p);
        sl_resp_error(req, 503);
        return SL_DONE;
    }
    p->req = req;
    p->ms = q.len > 3 && memcmp(q.ptr, "ms=", 3) == 0 ? (unsigned)atoi(q.ptr + 3) : 0;
    p->watch = sl_watch_fd(p->fds[0], SL_READ, on_readable, p);
    p->timer = sl_timer_add(p->ms, on_timer, p);
    if (p->watch == NULL || p->timer == NULL) {
        piped_free(p);
        sl_resp_error(req, 503);
        return SL_DONE;
    }
    sl_req_on_cancel(req, on_cancel, p);
    return SL_PENDING;
}

static int
file_request(struct sl_req *req)
{
    char path[512];
    struct sl_str q = sl_req_query(req);
    const char *dir = sl_app_data(sl_req_app(req)); /* the section outlives the worker */
    if (q.len < 6 || memcmp(q.ptr, "name=", 5) != 0 || memchr(q.ptr, '/', q.len)) {
        sl_resp_error(req, 400);
        return SL_DONE;
    }
    snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(q.len - 5), q.ptr + 5);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sl_resp_error(req, 404);
        return SL_DONE;
    }
    sl_resp_send_file(req, fd, "text/plain");
    return SL_DONE;
}

static int
bad_request(struct sl_req *req)
{
    char text[96];
    int st = sl_resp_status(req, 99);
    int hd = sl_resp_header(req, "Bad Name", "x");
    int fr = sl_resp_header(req, "Content-Length", "5");
    int n = snprintf(text, sizeof(text), "status=%d header=%d framing=%d\n", st, hd, fr);
    sl_resp_send(req, text, (size_t)n);
    return SL_DONE;
}

static int
loopy_request(struct sl_req *req)
{
    struct sl_str path = sl_req_path(req);
    if (path.len == 11 && memcmp(path.ptr, "/loopy/pipe", 11) == 0)
        return pipe_request(req);
    if (path.len == 11 && memcmp(path.ptr, "/loopy/file", 11) == 0)
        return file_request(req);
    if (path.len == 10 && memcmp(path.ptr, "/loopy/bad", 10) == 0)
        return bad_request(req);
    sl_resp_error(req, 404);
    return SL_DONE;
}

static int
loopy_check(const struct sl_section *s, char *err, size_t errlen)
{
    if (sl_config_get(s, "dir") == NULL) {
        snprintf(err, errlen, "dir: missing");
        return -1;
    }
    return 0;
}

static int
loopy_start(struct sl_app *app, const struct sl_section *s)
{
    sl_app_set_data(app, (void *)sl_config_get(s, "dir"));
    return 0;
}

const struct sl_app_hooks sluice_app = {
    .abi = SL_ABI_VERSION,
    .check = loopy_check,
    .worker_start = loopy_start,
    .request = loopy_request,
};
