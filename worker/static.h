/* Static files: resolving a normalised request path to an open file under the document root,
 * the route handler that answers GET/HEAD/OPTIONS with it, and content types. */
#ifndef SLUICE_STATIC_H
#define SLUICE_STATIC_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "common/cfg.h"

struct handler;
/* The route handler for static files (static_resp.c). */
extern const struct handler static_handler;

struct static_file {
    int fd;      /* owned by the caller; -1 unless the result is 200 */
    bool is_dir; /* fd is a directory without index file (autoindex = on) */
    struct stat st;
    char name[CFG_PATH_MAX]; /* the path opened, relative to root (for the content type) */
};

/* Probe the kernel once per worker: openat2(2) with RESOLVE_BENEATH (Linux 5.6) or the
 * component-by-component fallback. Logs which one is used when it is the fallback. */
void static_init(int root_fd);
/* Set up the handler (static_resp.c): it serves from `root_fd` (kept open by the caller for the
 * life of the process) with `cfg` (likewise), and calls static_init. Once per worker. */
void static_resp_init(int root_fd, const struct cfg *cfg);

/* Is `rel` (normalised) hidden by the dot-file rule? Any segment starting with '.', except a
 * leading ".well-known/". */
bool static_is_dotpath(const char *rel);

/* Open `rel` (from path_normalize: relative, "" for the root, trailing '/' for a directory) under
 * `root_fd`. A directory is answered with its first `index` file, or itself (is_dir) when it has
 * none and autoindex is on. Returns the HTTP status: 200 with `f` filled; 301 when a directory
 * was named without its trailing '/'; 403 (not readable, not a regular file, a directory without
 * index); 404 (missing, hidden, or outside the root); 503 (out of descriptors); 500 otherwise. */
int static_open(int root_fd, const struct cfg *cfg, const char *rel, struct static_file *f);

/* Open a precompressed sibling `rel` + `suffix` (".gz", ".br") when it is a regular file.
 * Returns 0 with `f` filled, -1 otherwise. */
int static_open_variant(int root_fd, const struct cfg *cfg, const char *rel, const char *suffix,
                        struct static_file *f);

/* Write an HTML listing of directory `dir_fd` (shown as `shown_path`, already percent-encoded
 * as the client sent it) into a new memfd. Returns the memfd (size in *size), or -1. */
int autoindex_build(int dir_fd, const char *shown_path, size_t shown_len, bool dotfiles,
                    off_t *size);

/* Load a mime.types file ("type ext ext ..." lines, '#' comments) to be consulted before the
 * built-in table. Once per worker. Returns 0, or -1 with errno. */
int mime_load(const char *path);

/* The media type for a file name, from its extension; `default_type` when unknown. No charset
 * parameter: the response adds the configured one to text types. */
const char *mime_type(const char *name, const char *default_type);

#endif
