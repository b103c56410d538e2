/* UTF-8 validation, for the writers of JSON (the access log, `sluice status --json`): valid
 * sequences go out as they are, any other byte escaped. Pure. */
#ifndef SLUICE_UTF8_H
#define SLUICE_UTF8_H

#include <stddef.h>

/* The length of the valid UTF-8 sequence at p (1 .. 4 bytes, p[0] >= 0x80; n bytes readable),
 * 0 when it is not one: overlong forms, surrogates and code points past U+10FFFF are not valid
 * (RFC 3629). */
size_t utf8_len(const unsigned char *p, size_t n);

#endif
