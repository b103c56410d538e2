/* The lexical rules of HTTP (http_lex.h): the character table, tokens and hosts. */
#include "worker/http_lex.h"

#include <string.h>

const unsigned char http_char_class[256] = {
#define T HTTP_CH_TCHAR
#define R HTTP_CH_REGNAME
    ['0' ... '9'] = T | R,
    ['a' ... 'z'] = T | R,
    ['A' ... 'Z'] = T | R,
    ['!'] = T | R,
    ['#'] = T,
    ['$'] = T | R,
    ['%'] = T,
    ['&'] = T | R,
    ['\''] = T | R,
    ['*'] = T | R,
    ['+'] = T | R,
    ['-'] = T | R,
    ['.'] = T | R,
    ['^'] = T,
    ['_'] = T | R,
    ['`'] = T,
    ['|'] = T,
    ['~'] = T | R,
    ['('] = R,
    [')'] = R,
    [','] = R,
    [';'] = R,
    ['='] = R,
#undef T
#undef R
};

bool
http_is_token(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!http_is_tchar((unsigned char)p[i]))
            return false;
    return true;
}

static bool
is_hex(char c)
{
    return http_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* uri-host [ ":" port ]: IP-literal in brackets, or reg-name / IPv4 (unreserved, pct-encoded,
 * sub-delims). Empty is allowed (RFC 9112 3.2: a target without authority). */
bool
http_host_valid(const char *p, size_t n)
{
    size_t i = 0;
    if (n > 0 && p[0] == '[') {
        for (i = 1; i < n && p[i] != ']'; i++)
            if (!(http_is_digit(p[i]) || (p[i] != '\0' && strchr("abcdefABCDEF:.vV", p[i]))))
                return false;
        if (i == n || i == 1)
            return false;
        i++;
    } else {
        for (; i < n && p[i] != ':'; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c == '%') {
                if (i + 2 >= n || !is_hex(p[i + 1]) || !is_hex(p[i + 2]))
                    return false;
                i += 2;
            } else if (!(http_char_class[c] & HTTP_CH_REGNAME)) {
                return false;
            }
        }
    }
    if (i == n)
        return true;
    if (p[i] != ':')
        return false;
    for (i++; i < n; i++)
        if (!http_is_digit(p[i]))
            return false;
    return true;
}
