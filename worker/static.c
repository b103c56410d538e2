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
        if (strcmp(comp, "..") == 0) {
            /* path_normalize leaves none, but this walk confines on its own, as openat2's
             * RESOLVE_BENEATH does: ".." could climb out of the root. */
            if (dir != root_fd)
                close(dir);
            errno = ENOENT;
            return -1;
        }
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
open_beneath(int root_fd, const char *rel, bool follow)
{
    if (have_openat2) {
        struct open_how how = {
            .flags = OPEN_FLAGS,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (follow ? 0 : RESOLVE_NO_SYMLINKS),
        };
        return (int)syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof(how));
    }
    return open_walk(root_fd, rel);
}

bool
static_is_dotpath(const char *rel)
{
    if (strncmp(rel, ".well-known/", 12) == 0)
        rel += 12;
    for (const char *p = rel; *p; p++)
        if (*p == '.' && (p == rel || p[-1] == '/'))
            return true;
    return false;
}

void
static_init(int root_fd)
{
    int fd = -1;
    have_openat2 = true;
    fd = open_beneath(root_fd, "", true);
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
fill(int fd, const struct stat *st, const char *name, struct static_file *f)
{
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return 403;
    }
    f->fd = fd;
    f->is_dir = false;
    f->st = *st;
    snprintf(f->name, sizeof(f->name), "%s", name);
    return 200;
}

static int
open_stat(int root_fd, const struct cfg *cfg, const char *rel, struct stat *st)
{
    int fd = open_beneath(root_fd, rel, cfg->follow_symlinks);
    if (fd >= 0 && fstat(fd, st) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int
static_open_variant(int root_fd, const struct cfg *cfg, const char *rel, const char *suffix,
                    struct static_file *f)
{
    char path[CFG_PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof(path), "%s%s", rel, suffix) >= (int)sizeof(path))
        return -1;
    int fd = open_stat(root_fd, cfg, path, &st);
    if (fd < 0)
        return -1;
    return fill(fd, &st, rel, f) == 200 ? 0 : -1;
}

int
static_open(int root_fd, const struct cfg *cfg, const char *rel, struct static_file *f)
{
    struct stat st;
    size_t rl = strlen(rel);

    f->fd = -1;
    f->is_dir = false;
    if (!cfg->serve_dotfiles && static_is_dotpath(rel))
        return 404;
    int fd = open_stat(root_fd, cfg, rel, &st);
    if (fd < 0)
        return errno_status(errno);
    if (!S_ISDIR(st.st_mode))
        return fill(fd, &st, rel, f);
    if (rl > 0 && rel[rl - 1] != '/') {
        close(fd);
        return 301;
    }
    for (int i = 0; i < cfg->nindex; i++) {
        char path[CFG_PATH_MAX];
        struct stat ist;
        if (snprintf(path, sizeof(path), "%s%s", rel, cfg->index[i]) >= (int)sizeof(path))
            break;
        int ifd = open_stat(root_fd, cfg, path, &ist);
        if (ifd >= 0) {
            close(fd);
            return fill(ifd, &ist, path, f);
        }
        if (errno != ENOENT) {
            close(fd);
            return errno_status(errno);
        }
    }
    if (!cfg->autoindex) {
        close(fd);
        return 403;
    }
    f->fd = fd;
    f->is_dir = true;
    f->st = st;
    snprintf(f->name, sizeof(f->name), "%s", rel);
    return 200;
}
