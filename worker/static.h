/* Static files: resolving a normalised request path to an open file under the document root. */
#ifndef SLUICE_STATIC_H
#define SLUICE_STATIC_H

#include <sys/types.h>
#include <time.h>

#include "common/cfg.h"

struct handler;
/* The route handler for static files: GET, HEAD and OPTIONS under root. */
extern const struct handler static_handler;

struct static_file {
    int fd;           /* open for reading, owned by the caller; -1 unless the result is 200 */
    off_t size;
    struct timespec mtime;
    const char *type; /* static string */
};

/* Probe the kernel once per worker: openat2(2) with RESOLVE_BENEATH (Linux 5.6) or the
 * component-by-component fallback. Logs which one is used when it is the fallback. */
void static_init(int root_fd);

/* Open `rel` (from path_normalize: relative, "" for the root, trailing '/' for a directory) under
 * `root_fd`. Directories are answered with the first `index` file that exists.
 * Returns the HTTP status: 200 with `f` filled; 301 when a directory was named without its
 * trailing '/'; 403 (not readable, not a regular file, directory without index); 404 (missing,
 * or outside the root); 503 (out of descriptors); 500 otherwise. */
int static_open(int root_fd, const struct cfg *cfg, const char *rel, struct static_file *f);

/* Content-Type for a file name, from its extension. */
const char *mime_type(const char *name);

#endif
