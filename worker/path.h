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
 * escape ("%4", "%zz"), a decoded NUL, a segment over NAME_MAX (255) bytes, a ".." that would climb
 * above the root, or a path that does not fit in `outlen` (with its NUL) before or after its ".."
 * segments are applied. */
int path_normalize(const char *in, size_t len, char *out, size_t outlen);

/* Percent-encode `in` (a normalised path) for a Location header or a link: RFC 3986 unreserved
 * characters, sub-delims, ':', '@' and '/' stay, every other byte becomes %XX. So a '\\' or a
 * '%' can never be read back as anything but a path byte. Writes a NUL-terminated string into
 * `out`; returns its length, or -1 when it does not fit in `outlen` (3 x strlen(in) + 1 always
 * does). */
int path_encode(const char *in, char *out, size_t outlen);

/* The value of hex digit `c` (either case), or -1. */
int path_hexval(char c);

#endif
