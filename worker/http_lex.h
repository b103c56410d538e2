/* The lexical rules of HTTP the parser's glue and the handlers share: character classes (one
 * table lookup per byte on the hot path, no strchr), tokens and hosts. Pure code. */
#ifndef SLUICE_HTTP_LEX_H
#define SLUICE_HTTP_LEX_H

#include <stdbool.h>
#include <stddef.h>

enum {
    HTTP_CH_TCHAR = 1,   /* RFC 9110 tchar */
    HTTP_CH_REGNAME = 2, /* uri-host reg-name / IPv4 byte: unreserved or sub-delims (not '%') */
};

extern const unsigned char http_char_class[256];

static inline bool
http_is_tchar(unsigned char c)
{
    return http_char_class[c] & HTTP_CH_TCHAR;
}

static inline bool
http_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A non-empty run of tchar (a field name, a method). */
bool http_is_token(const char *p, size_t n);
/* uri-host [ ":" port ]; empty is allowed. */
bool http_host_valid(const char *p, size_t n);

#endif
