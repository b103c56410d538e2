/* The fuzzer's document root: a temporary tree with files of every kind static.c tells apart,
 * and three ways out of the root (two symlinks to a file, one to a directory) that must fail. */
#ifndef SLUICE_FUZZ_DOCROOT_H
#define SLUICE_FUZZ_DOCROOT_H

#include <stddef.h>

/* In the names and the contents of everything outside the root, and nowhere inside it. */
#define DOCROOT_MARKER "SLUICE-FUZZ-OUTSIDE-7f3a9c"

/* A regular file under the root and its contents. */
struct docfile {
    char *data;
    size_t len;
};

/* Build the tree in a new directory under $TMPDIR (default /tmp), removed again at exit (not
 * after a crash). Returns the absolute path of the root directory; exits on failure. */
const char *docroot_make(void);

/* A directory beside the root (removed with it) for the spilled request bodies:
 * body_temp_path. */
const char *docroot_body_dir(void);

/* The regular files under the root; *count gets their number. */
const struct docfile *docroot_files(int *count);

#endif
