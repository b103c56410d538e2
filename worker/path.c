/* Request path decoding and normalisation (see path.h). */
#include "worker/path.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

int
path_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Segments are decoded one at a time and appended to `out`; `..` pops back to the previous
 * '/'. A decoded "%2f" therefore acts as a separator, the same way the file system would read
 * it, so "%2e%2e%2f" cannot smuggle a ".." past the check. */
int
path_normalize(const char *in, size_t len, char *out, size_t outlen)
{
    size_t o = 0; /* bytes in out; out[0..o) is "" or "seg/seg/.../" */
    size_t i = 0;
    char seg[NAME_MAX]; /* a longer segment could name no file: 400 */
    size_t sl = 0;
    int name_last = 0; /* the last segment seen was a plain name */

    if (len == 0 || in[0] != '/' || outlen == 0)
        return -1;
    /* i == len stands for a virtual '/' that ends the last segment. */
    while (i <= len) {
        char c = '/';
        if (i < len && in[i] == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = path_hexval(in[i + 1]), lo = path_hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (i < len) {
            c = in[i];
        }
        i++;
        if (c == '\0')
            return -1;
        if (c != '/') {
            if (sl == sizeof(seg))
                return -1;
            seg[sl++] = c;
            continue;
        }
        name_last = 0;
        if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
            if (o == 0)
                return -1;
            o--; /* the '/' that ended the previous segment */
            while (o > 0 && out[o - 1] != '/')
                o--;
        } else if (sl > 0 && !(sl == 1 && seg[0] == '.')) {
            /* "seg/" must fit; the NUL takes the place of that '/' when this is the last
             * segment, and is checked for at the end otherwise. */
            if (o + sl + 1 > outlen)
                return -1;
            memcpy(out + o, seg, sl);
            o += sl;
            out[o++] = '/';
            name_last = 1;
        }
        sl = 0;
    }
    /* A path ending in a plain name names no directory: drop the '/' the virtual end added. */
    if (name_last)
        o--;
    else if (o == outlen)
        return -1;
    out[o] = '\0';
    return (int)o;
}

int
path_encode(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    (c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL);
        if (o + (keep ? 1 : 3) >= outlen)
            return -1;
        if (keep) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= outlen)
        return -1;
    out[o] = '\0';
    return (int)o;
}
