/* Request-target path handling: percent-decoding and normalisation into a path relative to the
 * document root. Pure functions, no I/O; the kernel (openat2 RESOLVE_BENEATH) enforces
 * confinement again when the file is opened. */
#ifndef SLUICE_PATH_H
#define SLUICE_PATH_H

#include <stddef.h>

/* Decode percent escapes in the path part of an origin-form target (`in`, `len` bytes, starting
 * with '/', no query) and normalise it: empty and "." segments are dropped, ".." removes the
 * previous segment. Writes into `out` a NUL-terminated path relative to the root: no leading
 * '/', "" for the root itself, and a trailing '/' when the input named a directory explicitly
 * (ends in '/', "/." or "/.."), e.g. "/a//b/./../c/" -> "a/c/".
 * Returns the length written, or -1 when the path is invalid: not starting with '/', a bad
 * escape ("%4", "%zz"), a decoded NUL, a ".." that would climb above the root, or a path that
 * does not fit in `outlen` (with its NUL) before or after its ".." segments are applied. */
int path_normalize(const char *in, size_t len, char *out, size_t outlen);

/* The value of hex digit `c` (either case), or -1. */
int path_hexval(char c);

#endif
