/* Static file resolution. Confinement is the kernel's job: openat2 with RESOLVE_BENEATH refuses
 * any path, ".." or symlink that would leave the root, and RESOLVE_NO_MAGICLINKS refuses
 * /proc-style links. Without openat2 each component is opened with O_NOFOLLOW instead, so no
 * symlink is followed at all. */
#include "worker/static.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/loop.h"
#include "worker/path.h"
#include "worker/route.h"

static bool have_openat2 = true;

/* O_NONBLOCK so that a FIFO planted under the root cannot block the worker in open(2). */
#define OPEN_FLAGS (O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)

static int
open_walk(int root_fd, const char *rel)
{
    char buf[CFG_PATH_MAX];
    char *save = NULL;
    int dir = root_fd;
    if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    char *comp = strtok_r(buf, "/", &save);
    if (comp == NULL)
        return openat(root_fd, ".", OPEN_FLAGS | O_DIRECTORY);
    while (comp) {
        char *next = strtok_r(NULL, "/", &save);
        int fd = openat(dir, comp, OPEN_FLAGS | O_NOFOLLOW | (next ? O_DIRECTORY : 0));
        int saved = errno;
        if (dir != root_fd)
            close(dir);
        if (fd < 0) {
            errno = saved == ELOOP ? ENOENT : saved;
            return -1;
        }
        dir = fd;
        comp = next;
    }
    return dir;
}

static int
open_beneath(int root_fd, const char *rel)
{
    if (have_openat2) {
        struct open_how how = {
            .flags = OPEN_FLAGS,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        return (int)syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof(how));
    }
    return open_walk(root_fd, rel);
}

void
static_init(int root_fd)
{
    int fd = -1;
    have_openat2 = true;
    fd = open_beneath(root_fd, "");
    if (fd < 0 && errno == ENOSYS) {
        have_openat2 = false;
        log_warnx("openat2(2) unavailable (Linux < 5.6): confining paths by opening each "
                  "component with O_NOFOLLOW; symlinks under root are not followed");
    }
    if (fd >= 0)
        close(fd);
}

static int
errno_status(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV: /* the path or a symlink left the root */
    case ELOOP:
    case ENAMETOOLONG:
        return 404;
    case EACCES:
    case EPERM:
        return 403;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
        return 503;
    default:
        return 500;
    }
}

static int
fill(int fd, const char *name, struct static_file *f)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return 500;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return 403;
    }
    f->fd = fd;
    f->size = st.st_size;
    f->mtime = st.st_mtim;
    f->type = mime_type(name);
    return 200;
}

int
static_open(int root_fd, const struct cfg *cfg, const char *rel, struct static_file *f)
{
    struct stat st;
    size_t rl = strlen(rel);

    f->fd = -1;
    int fd = open_beneath(root_fd, rel);
    if (fd < 0)
        return errno_status(errno);
    if (fstat(fd, &st) < 0) {
        close(fd);
        return 500;
    }
    if (!S_ISDIR(st.st_mode))
        return fill(fd, rel, f);
    close(fd);
    if (rl > 0 && rel[rl - 1] != '/')
        return 301;

    for (int i = 0; i < cfg->nindex; i++) {
        char path[CFG_PATH_MAX];
        if (snprintf(path, sizeof(path), "%s%s", rel, cfg->index[i]) >= (int)sizeof(path))
            return 404;
        fd = open_beneath(root_fd, path);
        if (fd >= 0)
            return fill(fd, path, f);
        if (errno != ENOENT)
            return errno_status(errno);
    }
    return 403;
}

/* A directory named without its trailing '/': send the client to the slash form, query kept.
 * The Location reuses the path as the client wrote it (still percent-encoded). */
static void
redirect_slash(const struct http_req *req, struct http_span path, struct http_span query,
               struct resp *out)
{
    resp_start(out, 301);
    resp_header(out, "Location: %.*s/%s%.*s", (int)path.n, path.p, query.n ? "?" : "",
                (int)query.n, query.p ? query.p : "");
    resp_header(out, "Content-Length: 0");
    resp_end(out, req);
}

static void
static_respond(const struct http_req *req, struct http_span path, struct http_span query,
               struct resp *out, struct resp_file *file)
{
    char rel[CFG_PATH_MAX];
    struct static_file f;

    if (path_normalize(path.p, path.n, rel, sizeof(rel)) < 0) {
        resp_error(out, req, 400, NULL);
        return;
    }
    int status = static_open(loop.root_fd, loop.cfg, rel, &f);
    if (status == 301) {
        redirect_slash(req, path, query, out);
        return;
    }
    if (status != 200) {
        resp_error(out, req, status, NULL);
        return;
    }
    char lm[40];
    struct tm tm;
    gmtime_r(&f.mtime.tv_sec, &tm);
    strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    resp_start(out, 200);
    resp_header(out, "Content-Type: %s", f.type);
    resp_header(out, "Content-Length: %lld", (long long)f.size);
    resp_header(out, "Last-Modified: %s", lm);
    resp_end(out, req);
    if (req->verb == VERB_HEAD || f.size == 0) {
        close(f.fd);
        return;
    }
    file->fd = f.fd;
    file->offset = 0;
    file->length = f.size;
}

const struct handler static_handler = {
    .name = "static",
    .verbs = 1u << VERB_GET | 1u << VERB_HEAD | 1u << VERB_OPTIONS,
    .allow = "GET, HEAD, OPTIONS",
    .respond = static_respond,
};
